// SPDX-License-Identifier: LGPL-2.1-or-later
//! Specifier expansion (`%i`, `%I`, `%f`, …) for arbitrary unit names against fixed host facts,
//! plus the unit-name helpers it rests on (`kind`, `escape`, `unescape`, `escape_path`,
//! `unescape_path`) and the interface-name check (`valid_alternative`).
//!
//! Input: the unit name, a NUL, the text to expand (the whole input is also used as both).
#![no_main]

use bindif::unit::ifname::{valid_alternative, valid_char, ALTIFNAMSIZ};
use bindif::unit::name::{
    escape, escape_path, instance, kind, prefix, unescape, unescape_path, Kind, UNIT_NAME_MAX,
};
use bindif::unit::specifier::{expand, expand_max, HostFacts, SpecifierContext, SpecifierError};
use libfuzzer_sys::fuzz_target;

fn host() -> HostFacts {
    HostFacts {
        machine_id: Some("0123456789abcdef0123456789abcdef".into()),
        boot_id: None, // %b fails with ENOENT
        hostname: Some("fuzz.example.org".into()),
        pretty_hostname: Some("Fuzz host".into()),
        kernel_release: Some("6.1.0-fuzz-amd64".into()),
        architecture: Some("x86-64".into()),
        os_release: Some(vec![
            ("ID".into(), "debian".into()),
            ("VERSION_ID".into(), "12".into()),
        ]),
        root_shell: Some("/bin/bash".into()),
    }
}

fn names(s: &str) {
    // A valid unit name is at most UNIT_NAME_MAX bytes and its parts are consistent.
    if let Some(k) = kind(s) {
        assert!(s.len() <= UNIT_NAME_MAX, "valid name of {} bytes", s.len());
        let p = prefix(s).expect("prefix of a valid name");
        assert!(!p.is_empty());
        match k {
            Kind::Plain => assert_eq!(instance(s), None),
            Kind::Template => assert_eq!(instance(s), Some("")),
            Kind::Instance => assert!(!instance(s).unwrap().is_empty()),
        }
    }
    // escape → unescape is the identity (up to a NUL: the C string ends there).
    let e = escape(s);
    let want = s.split('\0').next().unwrap();
    assert_eq!(unescape(&e).as_deref(), Ok(want), "escape {s:?} -> {e:?}");
    // An escaped string is made of unit-name characters only.
    if !s.is_empty() && e.len() + ".service".len() <= UNIT_NAME_MAX {
        assert_eq!(
            kind(&format!("{e}.service")),
            Some(Kind::Plain),
            "escaped {e:?}"
        );
    }
    // escape_path → unescape_path gives the normalized absolute path back.
    if let Ok(ep) = escape_path(s) {
        if !s.contains('\0') {
            let norm: Vec<&str> = s
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            let norm = format!("/{}", norm.join("/"));
            // (A relative path just under PATH_MAX escapes, but its absolute form is too long.)
            if norm.len() < 4096 {
                assert_eq!(
                    unescape_path(&ep).as_deref(),
                    Ok(norm.as_str()),
                    "{s:?} -> {ep:?}"
                );
            }
        }
    }
    // What unescape_path accepts is a normalized absolute path that escapes and comes back.
    if let Ok(p) = unescape_path(s) {
        assert!(p.starts_with('/'));
        let ep = escape_path(&p).expect("a normalized path escapes");
        assert_eq!(unescape_path(&ep).as_deref(), Ok(p.as_str()));
    }
    // An accepted interface name is short and of allowed bytes only.
    if valid_alternative(s) {
        assert!(s.len() < ALTIFNAMSIZ);
        assert!(s.bytes().all(valid_char));
        assert!(s != "." && s != ".." && s != "all" && s != "default");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(all) = std::str::from_utf8(data) else {
        return;
    };
    let (unit, text) = all.split_once('\0').unwrap_or((all, all));
    names(unit);
    names(text);

    let hf = host();
    let mut ctx = SpecifierContext::new(unit, &hf);
    let r = expand(text, &ctx);
    if !text.contains('%') {
        assert_eq!(r.as_deref(), Ok(text));
    }
    if let Ok(out) = &r {
        // A cap at least as large as the result changes nothing; a smaller one fails.
        assert_eq!(expand_max(text, &ctx, out.len()).as_ref(), Ok(out));
        if !out.is_empty() {
            assert_eq!(
                expand_max(text, &ctx, out.len() - 1),
                Err(SpecifierError::TooLong)
            );
        }
    }
    // With a fragment path and a slice, %y/%Y/%r/%c resolve too; a different cap is the only
    // way the result can differ from an error.
    ctx.fragment_path = Some("/etc/systemd/system/fuzz@.service");
    ctx.slice_cgroup = Some("/system.slice/system-fuzz.slice");
    let _ = expand(text, &ctx);
    if let Ok(i) = expand("%i", &ctx) {
        assert_eq!(Some(i.as_str()), instance(unit).or(Some("")));
    }
});
