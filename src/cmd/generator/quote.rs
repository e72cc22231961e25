// SPDX-License-Identifier: LGPL-2.1-or-later
//! Rewriting one raw `Exec*=` value so that each of its commands runs through the launcher
//! (the legacy-host strategy), keeping what systemd would run unchanged behind the `--`.

use std::fmt;

use super::LAUNCHER;
use crate::unit::eval::is_bindif_launch;
use crate::unit::exec::{extract_first_word, ExtractFlags};

/// Why an `Exec*=` value cannot be rewritten to run through the launcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapError {
    /// systemd's parser would reject the line too.
    BadQuoting,
    ExecutableNotUtf8,
    /// `@`: a custom argv[0], which `--` cannot carry.
    CustomArgv0,
    /// `|` (systemd 258 and 259): run through the shell.
    ViaShell,
    NoExecutable,
    NoCommand,
}

impl fmt::Display for WrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WrapError::BadQuoting => "unbalanced quoting or a bad escape",
            WrapError::ExecutableNotUtf8 => "the executable's name is not UTF-8",
            WrapError::CustomArgv0 => {
                "the \"@\" prefix sets a custom argv[0], which cannot be passed through \"--\""
            }
            WrapError::ViaShell => "the \"|\" prefix (run through the shell) cannot be wrapped",
            WrapError::NoExecutable => "no executable",
            WrapError::NoCommand => "no command",
        })
    }
}

impl std::error::Error for WrapError {}

const WS: &[u8] = b" \t\n\r";

/// Splits a raw command line into words, each as (decoded word, raw text).
fn raw_words(s: &str) -> Result<Vec<(Vec<u8>, String)>, WrapError> {
    let flags = ExtractFlags {
        relax: false,
        unquote: true,
        cunescape: true,
        unescape_relax: true,
    };
    let b = s.as_bytes();
    let mut pos = Some(0usize);
    let mut out = Vec::new();
    loop {
        let mut start = pos.unwrap_or(b.len());
        while start < b.len() && WS.contains(&b[start]) {
            start += 1;
        }
        match extract_first_word(b, &mut pos, flags) {
            Ok(Some(w)) => {
                let end = pos.unwrap_or(b.len()).min(b.len());
                let raw = s
                    .get(start..end)
                    .unwrap_or("")
                    .trim_end_matches([' ', '\t', '\n', '\r']);
                out.push((w, raw.to_string()));
            }
            Ok(None) => return Ok(out),
            Err(_) => return Err(WrapError::BadQuoting),
        }
    }
}

/// Quotes a decoded word so that systemd's `Exec*=` parser gives it back unchanged.
fn quote_word(w: &str) -> String {
    let safe = !w.is_empty()
        && w.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"/._-+,:=@%$^~{}[]".contains(&c) || c >= 0x80);
    if safe {
        return w.to_string();
    }
    let mut q = String::from("\"");
    for ch in w.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                q.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Rewrites one raw `Exec*=` value as the launcher running each of its commands:
/// `PREFIXES/usr/lib/bindif-launch %n -- PATH ARGS` with the prefixes `-`, `:`, `+`, `!`, `!!`
/// kept on the wrapper; the arguments are kept verbatim (quoting, specifiers, `$VAR`).
pub fn wrap_line(value: &str) -> Result<String, WrapError> {
    let words = raw_words(value)?;
    let mut commands: Vec<Vec<(Vec<u8>, String)>> = vec![Vec::new()];
    for w in words {
        if w.0 == b";" {
            commands.push(Vec::new());
        } else {
            commands.last_mut().unwrap().push(w);
        }
    }
    let mut out = Vec::new();
    for c in commands.into_iter().filter(|c| !c.is_empty()) {
        let first = String::from_utf8(c[0].0.clone()).map_err(|_| WrapError::ExecutableNotUtf8)?;
        let mut prefix = String::new();
        let mut rest = first.as_str();
        loop {
            match rest.as_bytes().first() {
                Some(b'-' | b':' | b'+' | b'!') => {
                    prefix.push_str(&rest[..1]);
                    rest = &rest[1..];
                }
                Some(b'@') => return Err(WrapError::CustomArgv0),
                Some(b'|') => return Err(WrapError::ViaShell),
                _ => break,
            }
        }
        if rest.is_empty() {
            return Err(WrapError::NoExecutable);
        }
        let args: Vec<&str> = c[1..].iter().map(|(_, raw)| raw.as_str()).collect();
        if is_bindif_launch(rest) {
            // Already the launcher: keep as it is.
            let mut line = vec![c[0].1.as_str()];
            line.extend(args);
            out.push(line.join(" "));
            continue;
        }
        let mut line = format!("{prefix}{LAUNCHER} %n -- {}", quote_word(rest));
        for a in args {
            line.push(' ');
            line.push_str(a);
        }
        out.push(line);
    }
    if out.is_empty() {
        return Err(WrapError::NoCommand);
    }
    Ok(out.join(" ; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            wrap_line("@/usr/bin/busybox httpd"),
            Err(WrapError::CustomArgv0)
        );
        assert_eq!(wrap_line("|echo hi"), Err(WrapError::ViaShell));
        assert_eq!(wrap_line("/bin/x \"open"), Err(WrapError::BadQuoting));
        assert_eq!(wrap_line("-"), Err(WrapError::NoExecutable));
        assert_eq!(wrap_line(" ; "), Err(WrapError::NoCommand));
        assert_eq!(
            WrapError::CustomArgv0.to_string(),
            "the \"@\" prefix sets a custom argv[0], which cannot be passed through \"--\""
        );
    }
}
