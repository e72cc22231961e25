// SPDX-License-Identifier: LGPL-2.1-or-later
//! `ExecStart=` command lines: the word splitter (`split_command_line`), the full load-time parse
//! (`parse_exec`: `;` separators, prefixes, specifiers, executable checks) and the exec-time
//! `$VAR`/`${VAR}`/`$$` expansion (`expand_env`).
//!
//! Input: one byte choosing the systemd version (low bit: 257 or 260, i.e. with or without the
//! `|` prefix), then the command line, then optionally a NUL and an environment block of
//! `NAME=value` lines.
#![no_main]

use bindif::unit::env::{expand_env, expand_env_full};
use bindif::unit::exec::{parse_exec, ExecOutcome, ExecParseOptions};
use bindif::unit::words::split_command_line;
use bindif::unit::specifier::{HostFacts, SpecifierContext};
use libfuzzer_sys::fuzz_target;

fn host() -> HostFacts {
    HostFacts {
        machine_id: Some("0123456789abcdef0123456789abcdef".into()),
        boot_id: Some("fedcba9876543210fedcba9876543210".into()),
        hostname: Some("fuzz.example.org".into()),
        pretty_hostname: None,
        kernel_release: Some("6.1.0-fuzz-amd64".into()),
        architecture: Some("x86-64".into()),
        os_release: Some(vec![
            ("ID".into(), "debian".into()),
            ("VERSION_ID".into(), "12".into()),
        ]),
        root_shell: Some("/bin/bash".into()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&v, rest)) = data.split_first() else {
        return;
    };
    let (line, env_block) = match rest.iter().position(|&c| c == 0) {
        Some(n) => (&rest[..n], &rest[n + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env_block)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    let words = split_command_line(line);
    if let Ok(w) = &words {
        // Splitting drops separators; it never yields more words than there are bytes.
        assert!(w.len() <= line.len());
        // A line without quotes, backslashes or NULs splits exactly at whitespace.
        if !line.bytes().any(|c| matches!(c, b'"' | b'\'' | b'\\' | 0)) {
            let plain: Vec<&str> = line
                .split([' ', '\t', '\n', '\r'])
                .filter(|s| !s.is_empty())
                .collect();
            assert_eq!(w, &plain, "line {line:?}");
        }
        // Without `$` anywhere, env expansion is the identity.
        if !w.iter().any(|s| s.contains('$')) {
            assert_eq!(&expand_env(w, &env), w);
        }
        let full = expand_env_full(w, &env);
        assert!(
            full.unset.windows(2).all(|p| p[0] < p[1]),
            "unset names sorted and unique"
        );
    }

    let hf = host();
    let ctx = SpecifierContext::new("fuzz@inst\\x2dance.service", &hf);
    let opts = ExecParseOptions {
        systemd_version: if v & 1 == 0 { 257 } else { 260 },
    };
    let parsed = parse_exec(line, &ctx, opts);
    for c in &parsed.commands {
        assert!(!c.path.is_empty(), "empty executable path: {c:?}");
        assert!(!c.argv.is_empty() || c.flags.via_shell, "no argv: {c:?}");
        let expanded = expand_env(&c.argv, &env);
        // `${X}` and `$$` keep one word per word; only lone `$X` words split or vanish.
        if !c.argv.iter().any(|a| a.starts_with('$')) {
            assert_eq!(expanded.len(), c.argv.len());
        }
    }
    // Every outcome but Ok is explained by a message; a load failure by an error (with `-`
    // the same problem is only a warning and the line is ignored).
    match parsed.outcome {
        ExecOutcome::Ok => {}
        ExecOutcome::Ignored => assert!(!parsed.messages.is_empty(), "silent: {parsed:?}"),
        ExecOutcome::BadSetting => {
            assert!(
                parsed.messages.iter().any(|m| m.error),
                "silent failure: {parsed:?}"
            )
        }
    }
    if words.is_err() {
        assert_ne!(
            parsed.outcome,
            ExecOutcome::Ok,
            "splitter failed but parse_exec succeeded"
        );
    }
});
