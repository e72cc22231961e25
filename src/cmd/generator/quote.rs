// SPDX-License-Identifier: LGPL-2.1-or-later
//! Rewriting one raw `Exec*=` value so that each of its commands runs through the launcher
//! (the legacy-host strategy), keeping what systemd would run unchanged behind the `--`.

use std::fmt;

use super::LAUNCHER;
use crate::cmd::launch::config::SYSTEMD_EXEC_PATH;
use crate::unit::eval::is_bindif_launch;
use crate::unit::words::{extract_first_word, ExtractFlags};

/// Why an `Exec*=` value cannot be rewritten to run through the launcher.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A plain command name that systemd's fixed search path does not hold.
    NotInSearchPath(String),
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
            WrapError::NotInSearchPath(name) => {
                return write!(
                    f,
                    "{name} is not an executable in systemd's search path ({SYSTEMD_EXEC_PATH})"
                )
            }
        })
    }
}

impl std::error::Error for WrapError {}

const WS: &[u8] = b" \t\n\r";

/// Splits a raw command line into words, each as (decoded word, raw text).
///
/// Linear in the line: the end of each word is found here in one pass, and only that word's
/// bytes go to the unit model's decoder. (`extract_first_word()` looks for the C string's NUL
/// from the start of what it is given, so handing it the rest of the line for every word made
/// a 40,000-word line quadratic.)
fn raw_words(s: &str) -> Result<Vec<(Vec<u8>, String)>, WrapError> {
    raw_words_with(s, decode_word)
}

/// [`raw_words`] with the decoder as a parameter, so a test can see what it is handed.
fn raw_words_with(
    s: &str,
    mut decode: impl FnMut(&[u8]) -> Result<Vec<u8>, WrapError>,
) -> Result<Vec<(Vec<u8>, String)>, WrapError> {
    // A C string ends at the first NUL: systemd never sees what follows.
    let s = s.split('\0').next().unwrap_or("");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && WS.contains(&b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let end = word_end(b, i);
        // `i` and `end` sit next to ASCII whitespace or at the ends, so both are char boundaries.
        let raw = &s[i..end];
        out.push((decode(raw.as_bytes())?, raw.to_string()));
        i = end;
    }
}

/// Where the word starting at `start` ends: at the first whitespace that is neither quoted nor
/// escaped, as `extract_first_word()` with `EXTRACT_UNQUOTE` decides it. A backslash escapes
/// the next byte inside quotes too; the rest of a longer escape (`\x20`) is never whitespace.
fn word_end(b: &[u8], start: usize) -> usize {
    let mut quote = 0u8;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
        } else if c == b'\'' || c == b'"' {
            quote = c;
        } else if WS.contains(&c) {
            break;
        }
        i += 1;
    }
    i.min(b.len())
}

/// Decodes one raw word (unquote, C unescape) as systemd's `Exec*=` parser does.
fn decode_word(raw: &[u8]) -> Result<Vec<u8>, WrapError> {
    let flags = ExtractFlags {
        relax: false,
        unquote: true,
        cunescape: true,
        unescape_relax: true,
    };
    let mut pos = Some(0);
    match extract_first_word(raw, &mut pos, flags) {
        // The whole slice is one word: a decoder that still sees a boundary inside it would
        // mean `word_end` disagrees with systemd, and a wrong split must not be written.
        Ok(Some(w)) if pos.is_none() => Ok(w),
        _ => Err(WrapError::BadQuoting),
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
///
/// A plain command name becomes the path `find_executable` gives for it (systemd's fixed
/// search path, see `units::find_in_systemd_path`): after `--` the launcher would look it up in
/// the unit's `$PATH`, which `Environment=` or a writable `EnvironmentFile=` can point
/// anywhere, while systemd itself never uses `$PATH` for it.
pub fn wrap_line(
    value: &str,
    find_executable: &dyn Fn(&str) -> Option<String>,
) -> Result<String, WrapError> {
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
        let path = if rest.contains('/') {
            rest.to_string()
        } else {
            find_executable(rest).ok_or_else(|| WrapError::NotInSearchPath(rest.to_string()))?
        };
        let mut line = format!("{prefix}{LAUNCHER} %n -- {}", quote_word(&path));
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

    fn no_plain_names(name: &str) -> Option<String> {
        panic!("looked up {name}")
    }

    /// The old split, one `extract_first_word()` per word over the rest of the line: the new
    /// one must give the same words with their raw text.
    fn reference_words(s: &str) -> Option<Vec<(Vec<u8>, String)>> {
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
                    let raw = s.get(start..end)?.trim_end_matches([' ', '\t', '\n', '\r']);
                    out.push((w, raw.to_string()));
                }
                Ok(None) => return Some(out),
                Err(_) => return None,
            }
        }
    }

    #[test]
    fn split_agrees_with_extract_first_word() {
        for line in [
            "/bin/x a b",
            "  /bin/x\ta  ",
            "-/usr/bin/mkdir -p \"/run/l dir\"",
            "\"-/usr/bin/ld ctl\" stop",
            "/bin/x 'single \"q\"' \"dbl 'q'\" mid\"dle quo\"ted",
            "/bin/x a\\ b c\\x20d \"e\\\" f\" 'g\\' h' \\",
            "/bin/x \\; ; /bin/y ';' \";\"",
            "/bin/x ä\\ö ü",
            "/bin/x $VAR ${V} %n %%",
        ] {
            assert_eq!(raw_words(line).ok(), reference_words(line), "{line:?}");
        }
        assert_eq!(raw_words("/bin/x \"open"), Err(WrapError::BadQuoting));
        assert_eq!(raw_words("/bin/x 'open"), Err(WrapError::BadQuoting));
    }

    /// Issue 13 #10: each byte of the line reaches the decoder once, whatever the number of
    /// words; the quadratic split handed it the rest of the line for every word.
    #[test]
    fn split_hands_each_byte_to_the_decoder_once() {
        let mut line = String::from("/usr/bin/echo");
        for i in 0..40_000 {
            line.push_str(if i % 2 == 0 { " w" } else { " \"q w\"" });
        }
        let mut handed = 0usize;
        let words = raw_words_with(&line, |raw| {
            handed += raw.len();
            decode_word(raw)
        })
        .unwrap();
        assert_eq!(words.len(), 40_001);
        let word_bytes = line.len() - 40_000; // all but the separating spaces
        assert_eq!(handed, word_bytes);
    }

    /// The 40,000-word line wrapped in full: quick when linear (the quadratic version took
    /// minutes in a debug build).
    #[test]
    fn wraps_a_40000_word_line() {
        let mut line = String::from("-/usr/bin/echo");
        let mut want = String::from("-/usr/lib/bindif-launch %n -- /usr/bin/echo");
        for i in 0..40_000 {
            let w = format!(" w{i}");
            line.push_str(&w);
            want.push_str(&w);
        }
        assert_eq!(wrap_line(&line, &no_plain_names).unwrap(), want);
    }

    /// Issue 13 #18: a plain name is looked up once, in systemd's path (here a fake one), and
    /// written as the path found; the launcher's name is left to systemd as before.
    #[test]
    fn plain_names_are_resolved_in_systemds_path() {
        let find = |n: &str| (n == "logger").then(|| "/usr/bin/logger".to_string());
        assert_eq!(
            wrap_line("-logger \"a b\" ; /bin/x $Y", &find).unwrap(),
            "-/usr/lib/bindif-launch %n -- /usr/bin/logger \"a b\" ; /usr/lib/bindif-launch %n -- /bin/x $Y"
        );
        assert_eq!(
            wrap_line("logger ; nosuchtool x", &find),
            Err(WrapError::NotInSearchPath("nosuchtool".into()))
        );
        assert_eq!(
            wrap_line("+bindif-launch --attach %n", &find).unwrap(),
            "+bindif-launch --attach %n"
        );
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            wrap_line("@/usr/bin/busybox httpd", &no_plain_names),
            Err(WrapError::CustomArgv0)
        );
        assert_eq!(
            wrap_line("|echo hi", &no_plain_names),
            Err(WrapError::ViaShell)
        );
        assert_eq!(
            wrap_line("/bin/x \"open", &no_plain_names),
            Err(WrapError::BadQuoting)
        );
        assert_eq!(
            wrap_line("-", &no_plain_names),
            Err(WrapError::NoExecutable)
        );
        assert_eq!(wrap_line(" ; ", &no_plain_names), Err(WrapError::NoCommand));
        assert_eq!(
            WrapError::NotInSearchPath("tool".into()).to_string(),
            "tool is not an executable in systemd's search path (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)"
        );
        assert_eq!(
            WrapError::CustomArgv0.to_string(),
            "the \"@\" prefix sets a custom argv[0], which cannot be passed through \"--\""
        );
    }
}
