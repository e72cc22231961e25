// SPDX-License-Identifier: LGPL-2.1-or-later
//! The unit-file line parser (systemd.syntax(7)): `parse` with every section accepted and
//! `parse_with_sections` with a service's sections. Input: the file's bytes.
#![no_main]

use std::path::Path;

use bindif::unit::syntax::{parse, parse_with_sections, sections_for, Parsed};
use libfuzzer_sys::fuzz_target;

const WS: [char; 4] = [' ', '\t', '\n', '\r'];

fn check(p: &Parsed, data: &[u8], file: &Path) {
    // Line numbers cite real lines: 1-based, and a line ends at \n, \r or NUL (read_line_full()).
    let lines = data
        .iter()
        .filter(|&&c| matches!(c, b'\n' | b'\r' | 0))
        .count()
        + 1;
    for a in &p.assignments {
        assert!(
            a.source.line >= 1 && a.source.line <= lines,
            "line {} of {lines}",
            a.source.line
        );
        assert_eq!(&*a.source.file, file);
        // Keys are non-empty, hold no '=' and no surrounding whitespace; values are stripped.
        assert!(!a.key.is_empty(), "empty key: {a:?}");
        assert!(!a.key.contains('='), "key with '=': {a:?}");
        assert_eq!(a.key.trim_matches(WS), a.key);
        assert_eq!(a.value.trim_matches(WS), a.value);
        // Only a continuation joins lines; the value is never longer than the file.
        assert!(a.key.len() + a.value.len() < data.len());
    }
    for d in &p.diagnostics {
        if let Some(s) = &d.source {
            assert!(
                s.line >= 1 && s.line <= lines,
                "diagnostic line {} of {lines}",
                s.line
            );
        }
    }
    if let Some(f) = &p.fatal {
        assert!(f.source.line >= 1 && f.source.line <= lines);
    }
}

fuzz_target!(|data: &[u8]| {
    let file = Path::new("/etc/systemd/system/fuzz.service");
    let all = parse(data, file);
    check(&all, data, file);
    let some = parse_with_sections(data, file, sections_for("service"));
    check(&some, data, file);
    // Restricting the sections only drops assignments; it never adds any nor changes whether
    // (and where) parsing stops.
    assert!(some.assignments.len() <= all.assignments.len());
    assert_eq!(some.fatal, all.fatal);
    for a in &some.assignments {
        assert!(matches!(&*a.section, "Unit" | "Service" | "Install"));
    }
});
