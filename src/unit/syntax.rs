// SPDX-License-Identifier: LGPL-2.1-or-later
//! The unit file line parser: systemd's `config_parse()` (src/shared/conf-parser.c) on top of
//! `read_line_full()` (src/basic/fileio.c), reproduced outcome for outcome.
//!
//! Every rule below was checked against systemd 252 (`systemd-analyze verify --root=DIR`, see
//! `tests/unit_load.rs`):
//! - Lines end at `\n`, `\r`, `\r\n`, `\n\r` or a NUL byte (an EOL run holds each kind at most once;
//!   a NUL always ends the line), so a NUL inside a value cuts the line there.
//! - A line whose content is 1 MiB (`LONG_LINE_MAX`) or longer makes the file fail to load with
//!   ENOBUFS ("No buffer space available"); nothing is logged for unit files.
//! - A line whose first non-blank byte is `#` or `;` is a comment, also in the middle of a
//!   continuation (the continuation goes on after it). An empty line ends a continuation.
//! - A line ending in an unescaped `\` continues on the next line; the `\` becomes a space and the
//!   next line is appended as is (its leading blanks kept).
//! - A UTF-8 byte order mark is stripped from the first line that carries one.
//! - Invalid UTF-8 anywhere in a (joined) line: "String is not UTF-8 clean, ignoring assignment",
//!   and parsing of the whole file stops with EINVAL: a fragment does not load; a drop-in keeps the
//!   assignments before that line and the unit loads.
//! - `[Name` without `]` ("Invalid section header") and a section name holding quotes, `\`, DEL or
//!   control characters ("Bad characters in section header") stop the file with EBADMSG.
//! - Unknown sections are warned about ("Unknown section 'X'. Ignoring."), except `X-` ones which
//!   are silently ignored; either way the assignments in them are dropped without further
//!   warnings. Repeated sections simply continue the section.
//! - Assignments before any section: "Assignment outside of section. Ignoring." (but silently
//!   ignored after an unknown section).
//! - No `=`: "Missing '=', ignoring line."; `=` first: "Missing key name before '=', ignoring line."
//!   Both are warnings only.
//! - Key and value are stripped of `" \t\n\r"`; the value is otherwise raw.

use std::path::Path;
use std::sync::Arc;

use super::{Assignment, Diagnostic, Source};

/// `LONG_LINE_MAX` in src/basic/fileio.h.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

const WHITESPACE: &[u8] = b" \t\n\r";

/// Why systemd stops parsing a file. In a fragment this makes the unit fail to load; in a drop-in
/// the assignments before it stay and the unit loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalKind {
    /// A line of `LONG_LINE_MAX` bytes or more (ENOBUFS).
    LineTooLong,
    /// Invalid UTF-8 in a line (EINVAL).
    NotUtf8,
    /// `[Name` without the closing `]` (EBADMSG).
    InvalidSectionHeader,
    /// Quotes, backslash or control characters in a section name (EBADMSG).
    BadSectionHeader,
    /// The file could not be read (the errno text, e.g. from EISDIR).
    Io,
}

impl FatalKind {
    /// The errno text systemd prints in "Failed to load configuration: …".
    pub fn errno_text(self) -> &'static str {
        match self {
            FatalKind::LineTooLong => "No buffer space available",
            FatalKind::NotUtf8 => "Invalid argument",
            FatalKind::InvalidSectionHeader | FatalKind::BadSectionHeader => "Bad message",
            FatalKind::Io => "Input/output error",
        }
    }
}

/// The error that stopped parsing, with the line it happened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub kind: FatalKind,
    pub source: Source,
    pub message: String,
}

/// The outcome of parsing one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Assignments systemd hands to the settings, in file order.
    pub assignments: Vec<Assignment>,
    /// Warnings systemd logs (loading goes on).
    pub diagnostics: Vec<Diagnostic>,
    /// Set when systemd stops parsing the file (see [`FatalKind`]).
    pub fatal: Option<Fatal>,
}

/// The sections systemd accepts in a unit of type `unit_type` (the vtables' `.sections` in
/// src/core/*.c). `None` for an unknown type.
pub fn sections_for(unit_type: &str) -> Option<&'static [&'static str]> {
    Some(match unit_type {
        "service" => &["Unit", "Service", "Install"],
        "socket" => &["Unit", "Socket", "Install"],
        "mount" => &["Unit", "Mount", "Install"],
        "automount" => &["Unit", "Automount", "Install"],
        "swap" => &["Unit", "Swap", "Install"],
        "timer" => &["Unit", "Timer", "Install"],
        "path" => &["Unit", "Path", "Install"],
        "slice" => &["Unit", "Slice", "Install"],
        "scope" => &["Unit", "Scope", "Install"],
        "target" => &["Unit", "Install"],
        "device" => &["Unit", "Install"],
        _ => return None,
    })
}

/// Parses a file's bytes with every section name accepted (no "Unknown section" warnings; an
/// assignment before any section is still warned about and ignored). Pure and total: never
/// panics on any input (the fuzz entry point).
pub fn parse(bytes: &[u8], file: &Path) -> Parsed {
    parse_with_sections(bytes, file, None)
}

/// Parses a file the way systemd parses it for a unit whose type allows `sections` (`None`: any
/// section is accepted).
pub fn parse_with_sections(bytes: &[u8], file: &Path, sections: Option<&[&str]>) -> Parsed {
    Parser {
        file: file.into(),
        sections,
        out: Parsed::default(),
        section: None,
        section_ignored: false,
    }
    .run(bytes)
}

/// Splits `bytes` the way `read_line_full()` does: returns the line content and the rest, or an
/// empty rest at the end of input. `None` when nothing is left.
fn next_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    if bytes.is_empty() {
        return None;
    }
    const NL: u8 = 1;
    const CR: u8 = 2;
    const NUL: u8 = 4;
    let class = |c: u8| match c {
        b'\n' => NL,
        b'\r' => CR,
        0 => NUL,
        _ => 0,
    };
    let mut i = 0;
    while i < bytes.len() && class(bytes[i]) == 0 {
        i += 1;
    }
    let content = &bytes[..i];
    let mut seen = 0u8;
    while i < bytes.len() {
        let e = class(bytes[i]);
        if seen & NUL != 0 || e == 0 || seen & e != 0 {
            break;
        }
        seen |= e;
        i += 1;
    }
    Some((content, &bytes[i..]))
}

fn strip(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !WHITESPACE.contains(c))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !WHITESPACE.contains(c))
        .map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

/// Whether `l` ends in a `\` that is not itself escaped: the line continues.
fn ends_in_unescaped_backslash(l: &[u8]) -> bool {
    let mut escaped = false;
    for &c in l {
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            escaped = true;
        }
    }
    escaped
}

/// `string_is_safe()`: no control characters, no quotes, no backslash, no DEL.
fn string_is_safe(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| !(1..b' ').contains(&c) && !matches!(c, b'"' | b'\'' | b'\\' | 0x7f))
}

struct Parser<'s> {
    file: Arc<Path>,
    sections: Option<&'s [&'s str]>,
    out: Parsed,
    section: Option<Arc<str>>,
    section_ignored: bool,
}

impl Parser<'_> {
    fn source(&self, line: usize) -> Source {
        Source {
            file: self.file.clone(),
            line,
        }
    }

    fn warn(&mut self, line: usize, message: String) {
        let source = Some(self.source(line));
        self.out.diagnostics.push(Diagnostic { source, message });
    }

    fn fatal(&mut self, line: usize, kind: FatalKind, message: String) {
        if !message.is_empty() {
            self.warn(line, message.clone());
        }
        self.out.fatal = Some(Fatal {
            kind,
            source: self.source(line),
            message,
        });
    }

    fn run(mut self, mut bytes: &[u8]) -> Parsed {
        let mut line = 0usize;
        let mut continuation: Option<Vec<u8>> = None;
        let mut bom_seen = false;
        while let Some((buf, rest)) = next_line(bytes) {
            bytes = rest;
            if buf.len() >= LONG_LINE_MAX {
                // read_line() fails with ENOBUFS before counting the line; config_parse() logs
                // "Line too long" only with CONFIG_PARSE_WARN, which unit loading does not pass.
                self.fatal(line + 1, FatalKind::LineTooLong, String::new());
                return self.out;
            }
            line += 1;
            // The comment test looks at the raw line, before the BOM is stripped.
            let lead = buf.iter().position(|c| !WHITESPACE.contains(c));
            if let Some(p) = lead {
                if matches!(buf[p], b'#' | b';') {
                    continue;
                }
            }
            let mut l = buf;
            if !bom_seen {
                if let Some(q) = l.strip_prefix(b"\xef\xbb\xbf") {
                    l = q;
                    bom_seen = true;
                }
            }
            // Only the new line is scanned and the joined line is extended in place: systemd
            // rescans and copies the whole joined line for every continuation line, which is
            // quadratic in a long continuation (issue 13 #10). Same result: the joined line so
            // far ends in a space that replaced an unescaped `\`, so no escape is pending.
            let joined = match continuation.take() {
                Some(mut c) => {
                    if c.len() + l.len() > LONG_LINE_MAX {
                        self.fatal(
                            line,
                            FatalKind::LineTooLong,
                            "Continuation line too long".into(),
                        );
                        return self.out;
                    }
                    c.extend_from_slice(l);
                    Some(c)
                }
                None => None,
            };
            if ends_in_unescaped_backslash(l) {
                let mut c = joined.unwrap_or_else(|| l.to_vec());
                if let Some(last) = c.last_mut() {
                    *last = b' ';
                }
                continuation = Some(c);
                continue;
            }
            let p = joined.as_deref().unwrap_or(l);
            if !self.parse_line(line, p) {
                return self.out;
            }
        }
        if let Some(c) = continuation {
            self.parse_line(line, &c);
        }
        self.out
    }

    /// `parse_line()`; false when parsing must stop.
    fn parse_line(&mut self, line: usize, l: &[u8]) -> bool {
        let l = strip(l);
        if l.is_empty() {
            return true;
        }
        let Ok(text) = std::str::from_utf8(l) else {
            let shown = String::from_utf8_lossy(l).into_owned();
            self.fatal(
                line,
                FatalKind::NotUtf8,
                format!("String is not UTF-8 clean, ignoring assignment: {shown}"),
            );
            return false;
        };
        if let Some(rest) = text.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                self.fatal(
                    line,
                    FatalKind::InvalidSectionHeader,
                    format!("Invalid section header '{text}'"),
                );
                return false;
            };
            if !string_is_safe(name.as_bytes()) {
                self.fatal(
                    line,
                    FatalKind::BadSectionHeader,
                    format!("Bad characters in section header '{text}'"),
                );
                return false;
            }
            let known = self.sections.map_or(true, |s| s.contains(&name));
            if known {
                self.section = Some(name.into());
                self.section_ignored = false;
            } else {
                if !name.starts_with("X-") {
                    self.warn(line, format!("Unknown section '{name}'. Ignoring."));
                }
                self.section = None;
                self.section_ignored = true;
            }
            return true;
        }
        let Some(section) = self.section.clone() else {
            if !self.section_ignored {
                self.warn(line, "Assignment outside of section. Ignoring.".into());
            }
            return true;
        };
        let Some(eq) = text.find('=') else {
            self.warn(line, "Missing '=', ignoring line.".into());
            return true;
        };
        if eq == 0 {
            self.warn(line, "Missing key name before '=', ignoring line.".into());
            return true;
        }
        let key = strip_str(&text[..eq]);
        let value = strip_str(&text[eq + 1..]);
        self.out.assignments.push(Assignment {
            section,
            key: key.to_string(),
            value: value.to_string(),
            source: self.source(line),
        });
        true
    }
}

fn strip_str(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> Parsed {
        parse_with_sections(s, Path::new("/x.service"), sections_for("service"))
    }

    fn kv(p: &Parsed) -> Vec<(String, String, usize)> {
        p.assignments
            .iter()
            .map(|a| (a.key.clone(), a.value.clone(), a.source.line))
            .collect()
    }

    #[test]
    fn line_endings() {
        assert_eq!(next_line(b"a\r\nb"), Some((&b"a"[..], &b"b"[..])));
        assert_eq!(next_line(b"a\n\rb"), Some((&b"a"[..], &b"b"[..])));
        assert_eq!(next_line(b"a\n\nb"), Some((&b"a"[..], &b"\nb"[..])));
        assert_eq!(next_line(b"a\0\nb"), Some((&b"a"[..], &b"\nb"[..])));
        assert_eq!(next_line(b"a\r\n\0b"), Some((&b"a"[..], &b"b"[..])));
        assert_eq!(next_line(b""), None);
    }

    #[test]
    fn continuation_and_comments() {
        let r = p(b"[Service]\nA=x \\\n# c\n  y\\\n\nB= 2 \\");
        assert_eq!(
            kv(&r),
            vec![
                ("A".into(), "x    y".into(), 5),
                ("B".into(), "2".into(), 6)
            ]
        );
        assert!(r.diagnostics.is_empty());
    }

    #[test]
    fn escaped_backslash_is_not_continuation() {
        let r = p(b"[Service]\nA=x\\\\\nB=y\n");
        assert_eq!(kv(&r)[0].1, "x\\\\");
        assert_eq!(kv(&r).len(), 2);
    }

    #[test]
    fn warnings() {
        let r = p(b"K=v\n[Service]\nnoeq\n=v\n[X-Foo]\nA=b\n[Bogus]\nC=d\n[Service]\nD=e\n");
        let msgs: Vec<_> = r
            .diagnostics
            .iter()
            .map(|d| (d.source.as_ref().unwrap().line, d.message.as_str()))
            .collect();
        assert_eq!(
            msgs,
            vec![
                (1, "Assignment outside of section. Ignoring."),
                (3, "Missing '=', ignoring line."),
                (4, "Missing key name before '=', ignoring line."),
                (7, "Unknown section 'Bogus'. Ignoring."),
            ]
        );
        assert_eq!(kv(&r), vec![("D".into(), "e".into(), 10)]);
        assert!(r.fatal.is_none());
    }

    #[test]
    fn fatal_cases() {
        assert_eq!(
            p(b"[Service]\nA=\xff\nB=c").fatal.unwrap().kind,
            FatalKind::NotUtf8
        );
        assert_eq!(
            p(b"[Service\n").fatal.unwrap().kind,
            FatalKind::InvalidSectionHeader
        );
        assert_eq!(
            p(b"[Se\"rvice]\n").fatal.unwrap().kind,
            FatalKind::BadSectionHeader
        );
        let mut long = b"[Service]\nA=".to_vec();
        long.resize(10 + LONG_LINE_MAX - 1, b'a');
        assert!(p(&long).fatal.is_none());
        long.push(b'a');
        assert_eq!(p(&long).fatal.unwrap().kind, FatalKind::LineTooLong);
    }

    #[test]
    fn bom_and_nul() {
        let r = p(b"\xef\xbb\xbf[Service]\rA=1\0B=2");
        assert_eq!(
            kv(&r),
            vec![("A".into(), "1".into(), 2), ("B".into(), "2".into(), 3)]
        );
    }
}
