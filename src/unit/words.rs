// SPDX-License-Identifier: LGPL-2.1-or-later
//! Splitting a line into words the way systemd does: `extract_first_word()` in
//! src/basic/extract-word.c with `cunescape_one()` from src/basic/escape.c, and
//! `extract_first_word_and_warn()`'s relaxed retry. Used for `Exec*=` command lines, for the
//! value of a lone `$VAR` word, and by the generator when it re-reads command lines.

/// systemd's `WHITESPACE`.
pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The `ExtractFlags` this module needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractFlags {
    /// Accept unbalanced quotes and a trailing backslash (`EXTRACT_RELAX`).
    pub relax: bool,
    /// Remove quotes (`EXTRACT_UNQUOTE`).
    pub unquote: bool,
    /// Decode C escapes (`EXTRACT_CUNESCAPE`).
    pub cunescape: bool,
    /// Keep unknown escapes verbatim (`EXTRACT_UNESCAPE_RELAX`).
    pub unescape_relax: bool,
}

/// Why a word could not be extracted: systemd's `-EINVAL` from `extract_first_word()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractError {
    /// An unknown escape sequence or a trailing backslash.
    BadEscape,
    /// A quote that is never closed.
    UnbalancedQuote,
}

/// `cunescape_one()` with `accept_nul = false`: the decoded bytes and how many input bytes (after
/// the backslash) they used, or `None` for an invalid sequence.
fn cunescape_one(p: &[u8]) -> Option<(Vec<u8>, usize)> {
    let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
    let oct = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(8));
    let simple = |c: u8| Some((vec![c], 1));
    match *p.first()? {
        b'a' => simple(7),
        b'b' => simple(8),
        b'f' => simple(12),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(11),
        b'\\' => simple(b'\\'),
        b'"' => simple(b'"'),
        b'\'' => simple(b'\''),
        b's' => simple(b' '),
        b'x' => {
            let v = hex(p.get(1))? << 4 | hex(p.get(2))?;
            // "Don't allow NUL bytes"
            (v != 0).then(|| (vec![v as u8], 3))
        }
        b'u' | b'U' => {
            let n = if p[0] == b'u' { 4 } else { 8 };
            let mut v: u32 = 0;
            for i in 1..=n {
                v = v << 4 | hex(p.get(i))?;
            }
            if v == 0 {
                return None;
            }
            if p[0] == b'U' && !unichar_is_valid(v) {
                return None;
            }
            Some((utf8_encode(v), n + 1))
        }
        b'0'..=b'7' => {
            let v = oct(p.first())? << 6 | oct(p.get(1))? << 3 | oct(p.get(2))?;
            (v != 0 && v <= 255).then(|| (vec![v as u8], 3))
        }
        _ => None,
    }
}

fn unichar_is_valid(c: u32) -> bool {
    c < 0x110000
        && (c & 0xFFFF_F800) != 0xD800
        && !(0xFDD0..=0xFDEF).contains(&c)
        && (c & 0xFFFE) != 0xFFFE
}

/// `utf8_encode_unichar()`: encodes any value below 2^21, surrogates included (as systemd does).
fn utf8_encode(c: u32) -> Vec<u8> {
    if c < 0x80 {
        vec![c as u8]
    } else if c < 0x800 {
        vec![0xC0 | (c >> 6) as u8, 0x80 | (c & 0x3F) as u8]
    } else if c < 0x10000 {
        vec![
            0xE0 | (c >> 12) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]
    } else {
        vec![
            0xF0 | ((c >> 18) & 0x07) as u8,
            0x80 | ((c >> 12) & 0x3F) as u8,
            0x80 | ((c >> 6) & 0x3F) as u8,
            0x80 | (c & 0x3F) as u8,
        ]
    }
}

/// `extract_first_word(p, &word, WHITESPACE, flags)` on bytes. `pos` is the cursor (`None` is
/// systemd's `*p == NULL`, "nothing left"). Returns `Ok(None)` when no word is left.
pub fn extract_first_word(
    s: &[u8],
    pos: &mut Option<usize>,
    flags: ExtractFlags,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let Some(mut i) = *pos else {
        return Ok(None);
    };
    // A C string ends at the first NUL: `at()` reads a NUL and the end of `s` alike as the end,
    // so no call looks beyond its own word (finding the NUL first, on every call, made
    // splitting a line quadratic: issue 13 #10). `cunescape_one()` reads a few bytes past the
    // backslash, but a NUL is no digit, so it stops at one just as at the end.
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    while is_ws(at(i)) {
        i += 1;
    }
    if at(i) == 0 {
        *pos = None;
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut quote = 0u8;
    let mut backslash = false;
    loop {
        let c = at(i);
        if backslash {
            if c == 0 {
                if flags.unescape_relax && (quote == 0 || flags.relax) {
                    out.push(b'\\');
                    *pos = None;
                    return Ok(Some(out));
                }
                if flags.relax {
                    *pos = None;
                    return Ok(Some(out));
                }
                return Err(ExtractError::BadEscape);
            }
            if flags.cunescape {
                match cunescape_one(&s[i..]) {
                    Some((bytes, used)) => {
                        out.extend_from_slice(&bytes);
                        i += used - 1;
                    }
                    None if flags.unescape_relax => {
                        out.push(b'\\');
                        out.push(c);
                    }
                    None => return Err(ExtractError::BadEscape),
                }
            } else {
                out.push(c);
            }
            backslash = false;
            i += 1;
        } else if quote != 0 {
            loop {
                let c = at(i);
                if c == 0 {
                    if flags.relax {
                        *pos = None;
                        return Ok(Some(out));
                    }
                    return Err(ExtractError::UnbalancedQuote);
                } else if c == quote {
                    quote = 0;
                    break;
                } else if c == b'\\' {
                    backslash = true;
                    break;
                }
                out.push(c);
                i += 1;
            }
            i += 1;
        } else {
            loop {
                let c = at(i);
                if c == 0 {
                    *pos = None;
                    return Ok(Some(out));
                } else if (c == b'\'' || c == b'"') && flags.unquote {
                    quote = c;
                    break;
                } else if c == b'\\' {
                    backslash = true;
                    break;
                } else if is_ws(c) {
                    while is_ws(at(i)) {
                        i += 1;
                    }
                    *pos = if at(i) == 0 { None } else { Some(i) };
                    return Ok(Some(out));
                }
                out.push(c);
                i += 1;
            }
            i += 1;
        }
    }
}

/// What `extract_first_word_and_warn()` logged besides returning the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractWarning {
    /// "Ignoring unknown escape sequences: \"WORD\"" (the word, with the escapes kept).
    UnknownEscapes(String),
}

/// `extract_first_word_and_warn()`: on an invalid escape, retries keeping unknown escapes
/// verbatim and warns; unbalanced quoting stays an error.
pub fn extract_first_word_and_warn(
    s: &[u8],
    pos: &mut Option<usize>,
    flags: ExtractFlags,
    warnings: &mut Vec<ExtractWarning>,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let save = *pos;
    match extract_first_word(s, pos, flags) {
        Ok(w) => Ok(w),
        Err(_) if !flags.unescape_relax => {
            *pos = save;
            let relaxed = ExtractFlags {
                unescape_relax: true,
                ..flags
            };
            let w =
                extract_first_word(s, pos, relaxed).map_err(|_| ExtractError::UnbalancedQuote)?;
            if let Some(w) = &w {
                warnings.push(ExtractWarning::UnknownEscapes(lossy(w)));
            }
            Ok(w)
        }
        Err(e) => Err(e),
    }
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Like [`lossy`], noting in `flag` when bytes had to be replaced.
pub(crate) fn lossy_noted(b: &[u8], flag: &mut bool) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => {
            *flag = true;
            lossy(b)
        }
    }
}

/// The flags `config_parse_exec()` extracts words with.
pub(crate) const EXEC_FLAGS: ExtractFlags = ExtractFlags {
    relax: false,
    unquote: true,
    cunescape: true,
    unescape_relax: false,
};

/// Splits a command line into words the way `ExecStart=` does (unquote + C unescapes, unknown
/// escapes kept verbatim), without prefixes, `;` handling or specifiers. Never panics.
pub fn split_command_line(s: &str) -> Result<Vec<String>, ExtractError> {
    let mut pos = Some(0);
    let mut out = Vec::new();
    let mut w = Vec::new();
    while let Some(word) = extract_first_word_and_warn(s.as_bytes(), &mut pos, EXEC_FLAGS, &mut w)?
    {
        out.push(lossy(&word));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_command_line(s).unwrap()
    }

    #[test]
    fn splitting() {
        assert_eq!(words("  a  b\tc\n"), ["a", "b", "c"]);
        assert_eq!(words("a\"b c\"d"), ["ab cd"]);
        assert_eq!(words("'a \"b' \"c 'd\""), ["a \"b", "c 'd"]);
        assert_eq!(words("\"\" ''"), ["", ""]);
        assert_eq!(words("a\\sb \\x41\\101\\u00e9"), ["a b", "AAé"]);
        assert_eq!(words("'\\n'"), ["\n"]);
        // Unknown escapes are kept verbatim (extract_first_word_and_warn() retries relaxed).
        assert_eq!(words("\\w+\\K"), ["\\w+\\K"]);
        assert_eq!(words("a\\"), ["a\\"]);
        assert_eq!(
            split_command_line("'abc"),
            Err(ExtractError::UnbalancedQuote)
        );
        assert_eq!(
            split_command_line("\"a\\"),
            Err(ExtractError::UnbalancedQuote)
        );
        // \x00 and \000 are refused, and so kept verbatim.
        assert_eq!(words("\\x00 \\000"), ["\\x00", "\\000"]);
        assert_eq!(words("\\400"), ["\\400"]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn c_escapes() {
        // src/basic/escape.c cunescape_one(): NUL is refused in every form, octal must fit a
        // byte, \U must be a valid code point; refused escapes stay verbatim (relaxed retry).
        assert_eq!(
            words("\\u0000 \\U00000000 \\x00 \\000"),
            ["\\u0000", "\\U00000000", "\\x00", "\\000"]
        );
        assert_eq!(
            words("\\U0001F600 \\U00110000"),
            ["\u{1F600}", "\\U00110000"]
        );
        assert_eq!(words("\\x4 \\q"), ["\\x4", "\\q"]);
        assert_eq!(words("\\a\\b\\f\\v\\r"), ["\u{7}\u{8}\u{c}\u{b}\r"]);
        // An octal escape above 0x7f is a raw byte, here not UTF-8.
        let mut pos = Some(0);
        let w = extract_first_word(b"\\377", &mut pos, EXEC_FLAGS)
            .unwrap()
            .unwrap();
        assert_eq!(w, [0xff]);
    }
}
