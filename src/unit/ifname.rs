// SPDX-License-Identifier: LGPL-2.1-or-later
//! Network interface name validation: systemd's `ifname_valid_full(name, IFNAME_VALID_ALTERNATIVE)`
//! (src/basic/socket-util.c), the check v260 applies to `BindNetworkInterface=`.

/// `ALTIFNAMSIZ` in the kernel: an alternative name has at most 127 bytes plus the NUL.
pub const ALTIFNAMSIZ: usize = 128;
/// `IFNAMSIZ`: a primary name has at most 15 bytes.
pub const IFNAMSIZ: usize = 16;

/// `ifname_valid_char()`: no byte ≤ 0x20 (controls, space), none ≥ 0x7F, and not `:` (legacy
/// alias syntax), `/` (sysfs paths) or `%` (the kernel's `foo%d` templates).
pub fn valid_char(c: u8) -> bool {
    c > 32 && c < 127 && !matches!(c, b':' | b'/' | b'%')
}

/// strtol() with base 0 after systemd's `mangle_base()` (src/basic/parse-util.c): optional
/// leading whitespace, optional sign, then `0x`/`0X` hex, `0b`/`0B` binary, `0o`/`0O` octal,
/// a leading `0` octal, or decimal; the whole rest must be consumed and fit an `int`.
fn safe_atoi(s: &str) -> Option<i64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r']);
    // mangle_base() looks at the prefix before strtol() sees the sign.
    let (s, forced) = if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (r, Some(2))
    } else if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (r, Some(8))
    } else {
        (s, None)
    };
    // strtol(): whitespace, sign, then (base 0/16) an optional 0x prefix.
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match forced {
        Some(r) => (r, s),
        None => {
            if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                if r.bytes().next().is_some_and(|c| c.is_ascii_hexdigit()) {
                    (16, r)
                } else {
                    // strtol parses just the "0" and stops at "x": trailing garbage.
                    return None;
                }
            } else if s.starts_with('0') && s.len() > 1 {
                (8, &s[1..])
            } else {
                (10, s)
            }
        }
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)? as i64;
        v = v.checked_mul(radix as i64)?.checked_add(d)?;
        if v > i64::from(u32::MAX) * 2 {
            return None; // far beyond int; ERANGE either way
        }
    }
    let v = if neg { -v } else { v };
    if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) {
        return None;
    }
    Some(v)
}

/// `parse_ifindex()`: a positive `int`.
pub fn parse_ifindex(s: &str) -> Option<i32> {
    safe_atoi(s).filter(|&v| v > 0).map(|v| v as i32)
}

/// `ifname_valid_full(p, IFNAME_VALID_ALTERNATIVE)`: whether `p` is accepted as an interface
/// name (primary or alternative) by `BindNetworkInterface=` in v260.
pub fn valid_alternative(p: &str) -> bool {
    valid_full(p, true)
}

/// `ifname_valid_full()` with or without `IFNAME_VALID_ALTERNATIVE`; never accepts numeric
/// ifindexes nor the special names `all`/`default`.
pub fn valid_full(p: &str, alternative: bool) -> bool {
    if p.is_empty() {
        return false;
    }
    // "A valid ifindex? If so, it's valid iff IFNAME_VALID_NUMERIC is set" — and it is not set
    // here, so "7", "0x7", "0b111", "+7" and "010" are all rejected.
    if parse_ifindex(p).is_some() {
        return false;
    }
    let max = if alternative { ALTIFNAMSIZ } else { IFNAMSIZ };
    if p.len() >= max {
        return false;
    }
    if p == "." || p == ".." {
        return false;
    }
    // Collide with /proc/sys/net/ipv{4,6}/conf/{all,default}.
    if p == "all" || p == "default" {
        return false;
    }
    let b = p.as_bytes();
    if !b.iter().all(|&c| valid_char(c)) {
        return false;
    }
    // Fully numeric but not a valid ifindex (zero, or too large): still refused.
    !b.iter().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_test_cases() {
        // src/test/test-socket-util.c TEST(ifname_valid)
        assert!(valid_full("foo", false));
        assert!(valid_full("eth0", false));
        assert!(!valid_full("0", false));
        assert!(!valid_full("99", false));
        assert!(valid_full("a99", false));
        assert!(valid_full("99a", false));
        assert!(!valid_full("", false));
        assert!(!valid_full(" ", false));
        assert!(!valid_full(" foo", false));
        assert!(!valid_full("bar\n", false));
        assert!(!valid_full(".", false));
        assert!(!valid_full("..", false));
        assert!(valid_full("foo.bar", false));
        assert!(!valid_full("x:y", false));
        assert!(valid_full("xxxxxxxxxxxxxxx", false));
        assert!(!valid_full("xxxxxxxxxxxxxxxx", false));
        assert!(valid_full("xxxxxxxxxxxxxxxx", true));
        assert!(!valid_full("999", true));
    }

    #[test]
    fn lengths() {
        assert!(valid_alternative("a"));
        assert!(valid_alternative(&"a".repeat(127)));
        assert!(!valid_alternative(&"a".repeat(128)));
        assert!(valid_alternative(&"a".repeat(16)));
    }

    #[test]
    fn every_byte() {
        for c in 0u8..=255 {
            let s = [b'a', c, b'b'];
            let Ok(s) = std::str::from_utf8(&s) else {
                continue;
            };
            let expect = c > 0x20 && c < 0x7f && c != b':' && c != b'/' && c != b'%';
            assert_eq!(valid_alternative(s), expect, "byte {c:#x}");
        }
        assert!(!valid_alternative("vrf-é"));
        assert!(!valid_alternative("a\u{7f}"));
        assert!(!valid_alternative("tab\there"));
    }

    #[test]
    fn special_names() {
        assert!(!valid_alternative("all"));
        assert!(!valid_alternative("default"));
        assert!(valid_alternative("ALL"));
        assert!(valid_alternative("all0"));
        assert!(valid_alternative("..."));
        assert!(valid_alternative(".a"));
        assert!(valid_alternative("-"));
        assert!(valid_alternative("vrf-mgmt"));
        assert!(valid_alternative("enp0s31f6"));
        assert!(!valid_alternative("vrf/mgmt"));
        assert!(!valid_alternative("eth%d"));
    }

    #[test]
    fn numeric_forms() {
        // parse_ifindex() goes through safe_atoi(): strtol base 0 plus mangle_base(), so every
        // spelling of a positive int is an ifindex and refused (src/basic/parse-util.c).
        for s in [
            "1",
            "42",
            "0x2a",
            "0X2A",
            "052",
            "0b101",
            "0o17",
            "+5",
            "2147483647",
        ] {
            assert!(!valid_alternative(s), "{s}");
        }
        // Zero or out of range: not an ifindex; all-digit ones are still refused...
        for s in ["0", "00", "2147483648", "99999999999999999999"] {
            assert!(!valid_alternative(s), "{s}");
        }
        // ...but other spellings are ordinary names.
        for s in ["0x0", "-5", "+0", "0x", "1e3", "0xffffffff", "08x"] {
            assert!(valid_alternative(s), "{s}");
        }
    }

    #[test]
    fn ifindex_parser() {
        assert_eq!(parse_ifindex("7"), Some(7));
        assert_eq!(parse_ifindex(" 7"), Some(7));
        assert_eq!(parse_ifindex("7 "), None);
        assert_eq!(parse_ifindex("0"), None);
        assert_eq!(parse_ifindex("-1"), None);
        assert_eq!(parse_ifindex("08"), None);
        assert_eq!(parse_ifindex("0x"), None);
        assert_eq!(parse_ifindex(""), None);
    }
}
