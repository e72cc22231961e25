// SPDX-License-Identifier: LGPL-2.1-or-later
//! Unit names: validation, template/instance arithmetic, and the escaping rules of
//! `systemd-escape` (src/basic/unit-name.c). Pure functions on strings.

use std::fmt;

/// UNIT_NAME_MAX in systemd counts the terminating NUL, so a name has at most 255 bytes.
pub const UNIT_NAME_MAX: usize = 255;

/// Unit types systemd knows, as they appear in the suffix.
pub const UNIT_TYPES: &[&str] = &[
    "service",
    "mount",
    "swap",
    "socket",
    "target",
    "device",
    "automount",
    "timer",
    "path",
    "slice",
    "scope",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Invalid(String),
    BadEscape(String),
    BadPath(String),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Invalid(n) => write!(f, "Invalid unit name \"{n}\""),
            NameError::BadEscape(s) => write!(f, "Invalid escape sequence in \"{s}\""),
            NameError::BadPath(s) => write!(f, "\"{s}\" does not unescape to a normalized path"),
        }
    }
}

impl std::error::Error for NameError {}

/// What kind of name a valid unit name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `foo.service`
    Plain,
    /// `foo@.service`
    Template,
    /// `foo@bar.service`
    Instance,
}

fn is_valid_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'-' | b'_' | b'.' | b'\\')
}

/// [`is_valid_char`] for every byte, looked up: [`kind`] runs for every directory entry and
/// many times for each unit a generator run loads.
static VALID_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.' | b'\\');
        c += 1;
    }
    t
};

/// Whether `suffix` is one of [`UNIT_TYPES`]; a `match` compiles to a test of the length and
/// one comparison, where a search of the list compares with each in turn.
fn is_unit_type(suffix: &str) -> bool {
    matches!(
        suffix,
        "service"
            | "mount"
            | "swap"
            | "socket"
            | "target"
            | "device"
            | "automount"
            | "timer"
            | "path"
            | "slice"
            | "scope"
    )
}

/// Classifies `name`, or `None` when systemd would reject it as a unit name.
pub fn kind(name: &str) -> Option<Kind> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > UNIT_NAME_MAX {
        return None;
    }
    // Byte scans: this runs for every directory entry and several times per unit loaded.
    let dot = b.iter().rposition(|&c| c == b'.')?;
    if dot == 0 || !is_unit_type(&name[dot + 1..]) {
        return None;
    }
    let stem = &b[..dot];
    let mut at = None;
    for (i, &c) in stem.iter().enumerate() {
        if c == b'@' {
            at = at.or(Some(i));
        } else if !VALID_CHAR[c as usize] {
            return None;
        }
    }
    match at {
        None => Some(Kind::Plain),
        Some(0) => None,
        Some(at) if at + 1 == stem.len() => Some(Kind::Template),
        Some(_) => Some(Kind::Instance),
    }
}

pub fn is_valid(name: &str) -> bool {
    kind(name).is_some()
}

/// The type suffix without the dot (`service`), for a valid name.
pub fn unit_type(name: &str) -> Option<&str> {
    kind(name)?;
    name.rfind('.').map(|d| &name[d + 1..])
}

/// Everything before the `@` (or before the type suffix when there is none): `%p`.
pub fn prefix(name: &str) -> Option<&str> {
    kind(name)?;
    let dot = name.rfind('.')?;
    Some(match name[..dot].find('@') {
        Some(at) => &name[..at],
        None => &name[..dot],
    })
}

/// The instance string, raw (`%i`): `Some("")` for a template, `None` for a plain name.
pub fn instance(name: &str) -> Option<&str> {
    kind(name)?;
    let dot = name.rfind('.')?;
    let at = name[..dot].find('@')?;
    Some(&name[at + 1..dot])
}

/// `prefix@instance` without the suffix (`%N` before unescaping).
pub fn without_suffix(name: &str) -> Option<&str> {
    kind(name)?;
    name.rfind('.').map(|d| &name[..d])
}

/// The template a name instantiates: `sshd@mgmt.service` → `sshd@.service`.
pub fn template_of(name: &str) -> Option<String> {
    if kind(name)? != Kind::Instance {
        return None;
    }
    let dot = name.rfind('.')?;
    let at = name.find('@')?;
    Some(format!("{}{}", &name[..=at], &name[dot..]))
}

/// Builds `template` (`foo@.service`) with `instance` filled in.
pub fn instantiate(template: &str, instance: &str) -> Result<String, NameError> {
    if kind(template) != Some(Kind::Template) {
        return Err(NameError::Invalid(template.to_string()));
    }
    let dot = template.rfind('.').unwrap_or(template.len());
    let out = format!("{}{}{}", &template[..dot], instance, &template[dot..]);
    if kind(&out) == Some(Kind::Instance) {
        Ok(out)
    } else {
        Err(NameError::Invalid(out))
    }
}

fn push_hex_escape(out: &mut String, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push('x');
    out.push(HEX[(c >> 4) as usize] as char);
    out.push(HEX[(c & 15) as usize] as char);
}

/// `systemd-escape STRING`: `/` becomes `-`; `-`, `\`, a leading `.` and every byte outside
/// `[A-Za-z0-9:_.]` become `\xNN`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if c == b'/' {
            out.push('-');
        } else if (i == 0 && c == b'.') || c == b'-' || c == b'\\' || !is_valid_char(c) {
            push_hex_escape(&mut out, c);
        } else {
            out.push(c as char);
        }
    }
    out
}

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `systemd-escape --unescape`: `-` becomes `/`, `\xNN` becomes the byte; any other backslash
/// sequence is an error. Bytes that are not UTF-8 are replaced by U+FFFD, and a `\x00` ends the
/// string, because systemd's result is a C string.
pub fn unescape(s: &str) -> Result<String, NameError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => out.push(b'/'),
            b'\\' => {
                let byte = (b.get(i + 1) == Some(&b'x'))
                    .then(|| Some(unhex(*b.get(i + 2)?)? << 4 | unhex(*b.get(i + 3)?)?))
                    .flatten()
                    .ok_or_else(|| NameError::BadEscape(s.to_string()))?;
                out.push(byte);
                i += 3;
            }
            c => out.push(c),
        }
        i += 1;
    }
    if let Some(nul) = out.iter().position(|&c| c == 0) {
        out.truncate(nul);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `path_is_absolute() && path_is_normalized()`, with path_is_valid()'s limits: no component
/// over NAME_MAX bytes, the path with its NUL within PATH_MAX.
fn is_normalized_abs(p: &str) -> bool {
    const NAME_MAX: usize = 255;
    const PATH_MAX: usize = 4096;
    p.starts_with('/')
        && p.len() < PATH_MAX
        && !p[1..]
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.len() > NAME_MAX)
}

/// `systemd-escape --path`: simplifies the path, `/` alone (or empty) becomes `-`.
pub fn escape_path(path: &str) -> Result<String, NameError> {
    const NAME_MAX: usize = 255;
    const PATH_MAX: usize = 4096;
    let comps: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.is_empty() {
        // path_simplify() leaves a relative path of dots and slashes as ".", which
        // path_is_normalized() refuses; "" and "/" are the root.
        if !path.is_empty() && !path.starts_with('/') {
            return Err(NameError::BadPath(path.to_string()));
        }
        return Ok("-".to_string());
    }
    // path_is_normalized() → path_is_valid(): no "..", no component over NAME_MAX bytes, and the
    // simplified path with its NUL within PATH_MAX.
    let joined = comps.join("/");
    let len = joined.len() + usize::from(path.starts_with('/'));
    if comps.iter().any(|c| *c == ".." || c.len() > NAME_MAX) || len >= PATH_MAX {
        return Err(NameError::BadPath(path.to_string()));
    }
    Ok(escape(&joined))
}

/// `systemd-escape --unescape --path`, and `%f`: `-` is `/`, otherwise the unescaped string must
/// not start or end with `/` and becomes an absolute, normalized path.
pub fn unescape_path(s: &str) -> Result<String, NameError> {
    if s.is_empty() {
        return Err(NameError::BadPath(s.to_string()));
    }
    if s == "-" {
        return Ok("/".to_string());
    }
    let w = unescape(s)?;
    if w.starts_with('/') || w.ends_with('/') {
        return Err(NameError::BadPath(s.to_string()));
    }
    let p = format!("/{w}");
    if is_normalized_abs(&p) {
        Ok(p)
    } else {
        Err(NameError::BadPath(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookups_agree_with_the_rules() {
        for c in 0..=255u8 {
            assert_eq!(VALID_CHAR[c as usize], is_valid_char(c), "{c}");
        }
        for t in UNIT_TYPES {
            assert!(is_unit_type(t), "{t}");
            assert!(
                !is_unit_type(&t[1..]) && !is_unit_type(&format!("{t}s")),
                "{t}"
            );
        }
        for t in ["", "Service", "services", "d", "conf"] {
            assert!(!is_unit_type(t), "{t}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("sshd.service"), Some(Kind::Plain));
        assert_eq!(kind("sshd@.service"), Some(Kind::Template));
        assert_eq!(kind("sshd@mgmt.service"), Some(Kind::Instance));
        assert_eq!(kind("a@b@c.service"), Some(Kind::Instance));
        assert_eq!(kind("@x.service"), None);
        assert_eq!(kind(".service"), None);
        assert_eq!(kind("foo.nope"), None);
        assert_eq!(kind("foo"), None);
        assert_eq!(kind("fo o.service"), None);
        assert_eq!(
            kind(&format!("{}.service", "a".repeat(247))),
            Some(Kind::Plain)
        );
        assert_eq!(kind(&format!("{}.service", "a".repeat(248))), None);
    }

    #[test]
    fn parts() {
        let n = "sshd@vrf\\x2dmgmt.service";
        assert_eq!(prefix(n), Some("sshd"));
        assert_eq!(instance(n), Some("vrf\\x2dmgmt"));
        assert_eq!(instance("sshd.service"), None);
        assert_eq!(instance("sshd@.service"), Some(""));
        assert_eq!(without_suffix(n), Some("sshd@vrf\\x2dmgmt"));
        assert_eq!(template_of(n).as_deref(), Some("sshd@.service"));
        assert_eq!(template_of("sshd.service"), None);
        assert_eq!(unit_type("a.socket"), Some("socket"));
        assert_eq!(
            instantiate("getty@.service", "tty1").as_deref(),
            Ok("getty@tty1.service")
        );
        assert!(instantiate("getty.service", "tty1").is_err());
    }

    #[test]
    fn escaping_matches_systemd_escape() {
        // Expected values produced by systemd-escape 252 on this machine.
        assert_eq!(escape("vrf-mgmt"), "vrf\\x2dmgmt");
        assert_eq!(escape("/dev/sda"), "-dev-sda");
        assert_eq!(escape(".hidden"), "\\x2ehidden");
        assert_eq!(escape("a b\\c"), "a\\x20b\\x5cc");
        assert_eq!(escape("ü"), "\\xc3\\xbc");
        assert_eq!(escape_path("/").unwrap(), "-");
        assert_eq!(escape_path("//dev//sda/").unwrap(), "dev-sda");
        assert!(escape_path("/a/../b").is_err());
    }

    /// Found by tests/escape_props.rs; outcomes of systemd-escape 252 `--path`.
    #[test]
    fn escaping_path_limits() {
        assert_eq!(escape_path("").unwrap(), "-");
        assert_eq!(escape_path("/.").unwrap(), "-");
        assert!(escape_path(".").is_err());
        assert!(escape_path(".//./").is_err());
        assert_eq!(escape_path("./a").unwrap(), "a");
        let a = |n: usize| "a".repeat(n);
        assert_eq!(escape_path(&a(255)).unwrap(), a(255));
        assert!(escape_path(&format!("/b/{}", a(256))).is_err());
        // "/" + 15 × (255 + "/") + n: 4095 bytes is the longest valid path.
        let long = format!("/{}/", vec![a(255); 15].join("/"));
        assert!(escape_path(&format!("{long}{}", a(254))).is_ok());
        assert!(escape_path(&format!("{long}{}", a(255))).is_err());
        assert!(escape_path(&format!("/a{}", "/".repeat(5000))).is_ok());
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape("vrf\\x2dmgmt").unwrap(), "vrf-mgmt");
        assert_eq!(unescape("vrf-mgmt").unwrap(), "vrf/mgmt");
        assert_eq!(
            unescape("\\X41").unwrap_err(),
            NameError::BadEscape("\\X41".into())
        );
        assert!(unescape("a\\x4").is_err());
        assert_eq!(unescape("\\x4A").unwrap(), "J");
        assert_eq!(unescape("a\\x00b").unwrap(), "a");
        assert_eq!(unescape_path("-").unwrap(), "/");
        assert_eq!(unescape_path("dev-sda").unwrap(), "/dev/sda");
        assert!(unescape_path("-dev").is_err());
        assert!(unescape_path("a--b").is_err());
        assert!(unescape_path("..").is_err());
    }

    /// Found by tests/escape_props.rs; outcomes of systemd-escape 252 `--unescape --path`.
    #[test]
    fn unescaping_path_limits() {
        let a = |n: usize| "a".repeat(n);
        assert_eq!(unescape_path(&a(255)).unwrap(), format!("/{}", a(255)));
        assert!(unescape_path(&a(256)).is_err());
        assert!(unescape_path(&format!("b-{}", a(256))).is_err());
        // "/" + 15 × (255 + "/") + n: 4095 bytes is the longest valid path.
        let long = format!("{}-", vec![a(255); 15].join("-"));
        assert!(unescape_path(&format!("{long}{}", a(254))).is_ok());
        assert!(unescape_path(&format!("{long}{}", a(255))).is_err());
    }
}
