// SPDX-License-Identifier: LGPL-2.1-or-later
//! `ExecStart=` command lines as systemd parses them at load time (`config_parse_exec()` in
//! src/core/load-fragment.c, `extract_first_word()` in src/basic/extract-word.c, `cunescape_one()`
//! in src/basic/escape.c) and as it expands `$VAR`/`${VAR}` at exec time (`replace_env_argv()` in
//! src/basic/env-util.c, called from src/core/exec-invoke.c).
//!
//! Order of operations, pinned by tests: each word is first unquoted and C-unescaped, *then* the
//! prefixes are taken off the first word, *then* specifiers are expanded. So `"-/bin/x"` still
//! has the `-` prefix, `'%n'` is expanded inside single quotes, and `\x25n` becomes `%n` and is
//! expanded too. `$VAR` is left alone at load time.

use std::collections::HashMap;

use super::specifier::{self, SpecifierContext, SpecifierError};

/// systemd's `WHITESPACE`.
fn is_ws(c: u8) -> bool {
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
    // A C string ends at the first NUL.
    let s = match s.iter().position(|&c| c == 0) {
        Some(n) => &s[..n],
        None => s,
    };
    let Some(mut i) = *pos else {
        return Ok(None);
    };
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    if i >= s.len() {
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
                    while i < s.len() && is_ws(s[i]) {
                        i += 1;
                    }
                    *pos = if i >= s.len() { None } else { Some(i) };
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

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Like [`lossy`], noting in `flag` when bytes had to be replaced.
fn lossy_noted(b: &[u8], flag: &mut bool) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => {
            *flag = true;
            lossy(b)
        }
    }
}

const EXEC_FLAGS: ExtractFlags = ExtractFlags {
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

/// The prefixes of an `Exec*=` command (`ExecCommandFlags` plus `@`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecFlags {
    /// `-`: a failing exit status (or a missing executable) is not a failure.
    pub ignore_failure: bool,
    /// `@`: the second word is argv[0].
    pub argv0: bool,
    /// `:`: no `$VAR` expansion.
    pub no_env_expand: bool,
    /// `+`: full privileges, no sandboxing.
    pub privileged: bool,
    /// `!`: sandboxing but no user/group change.
    pub no_setuid: bool,
    /// `!!`: ambient-capability fallback (systemd ≥ 258 accepts and ignores it).
    pub ambient: bool,
    /// `|` (systemd ≥ 258): run through the user's shell; `path` is the `/bin/sh` placeholder.
    pub via_shell: bool,
}

impl ExecFlags {
    /// The prefix characters, in the order systemd prints them.
    pub fn prefix_string(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.ignore_failure, "-"),
            (self.argv0, "@"),
            (self.no_env_expand, ":"),
            (self.privileged, "+"),
            (self.no_setuid, "!"),
            (self.ambient, "!!"),
            (self.via_shell, "|"),
        ] {
            if on {
                s.push_str(c);
            }
        }
        s
    }
}

/// One command of an `Exec*=` setting after load-time parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    /// The executable: an absolute, simplified path or a plain name (looked up in systemd's
    /// fixed PATH at exec time).
    pub path: String,
    /// The full argv, argv[0] included; specifiers expanded, `$VAR` not yet.
    pub argv: Vec<String>,
    pub flags: ExecFlags,
    /// A C escape (`\xff`, `\ud800`, …) produced bytes that are not UTF-8; they were replaced
    /// by U+FFFD in `path`/`argv`, so this command differs from what systemd would run and the
    /// caller should refuse it.
    pub not_utf8: bool,
}

/// The systemd version that introduced the `|` prefix (systemd/systemd#37071).
pub const VIA_SHELL_SINCE: u32 = 258;

/// Options of [`parse_exec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecParseOptions {
    /// The version of the systemd that will run the unit; `|` is a prefix only from 258 on.
    pub systemd_version: u32,
}

impl Default for ExecParseOptions {
    fn default() -> Self {
        ExecParseOptions {
            systemd_version: 260,
        }
    }
}

/// How systemd ends up treating the assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Every command was appended.
    Ok,
    /// A problem was logged and the rest of the line ignored (commands before it stay).
    Ignored,
    /// `-ENOEXEC`: the unit fails to load ("bad-setting"); commands before the bad one were
    /// appended already.
    BadSetting,
}

/// A message `config_parse_exec()` logs; `error` for LOG_ERR, else LOG_WARNING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMessage {
    pub error: bool,
    pub text: String,
}

/// The result of parsing one non-empty `ExecStart=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecParse {
    pub commands: Vec<ExecCommand>,
    pub messages: Vec<ExecMessage>,
    pub outcome: ExecOutcome,
}

/// `string_is_safe()`: no control characters, quotes or backslashes.
fn string_is_safe(s: &[u8]) -> bool {
    !s.iter()
        .any(|&c| c < b' ' || matches!(c, b'"' | b'\'' | b'\\' | 0x7f))
}

const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

fn path_is_valid(p: &[u8]) -> bool {
    !p.is_empty() && p.len() < PATH_MAX && p.split(|&c| c == b'/').all(|c| c.len() <= NAME_MAX)
}

fn filename_is_valid(p: &[u8]) -> bool {
    !p.is_empty() && p != b"." && p != b".." && !p.contains(&b'/') && p.len() <= NAME_MAX
}

/// `path_simplify()`: drops duplicate slashes and `.` components (keeps `..`).
fn path_simplify(p: &str) -> String {
    if !p.starts_with('/') {
        return p.to_string();
    }
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn spec_err_text(e: &SpecifierError) -> String {
    e.to_string()
}

/// `config_parse_exec()` for one non-empty value: splits it into commands at lone `;`, takes the
/// prefixes off, expands specifiers and validates the executable.
pub fn parse_exec(value: &str, ctx: &SpecifierContext<'_>, opts: ExecParseOptions) -> ExecParse {
    let s = value.as_bytes();
    let mut res = ExecParse {
        commands: Vec::new(),
        messages: Vec::new(),
        outcome: ExecOutcome::Ok,
    };
    let mut pos = Some(0usize);
    let mut rvalue_start = 0usize;
    let warn = |res: &mut ExecParse, w: Vec<ExtractWarning>| {
        for ExtractWarning::UnknownEscapes(word) in w {
            res.messages.push(ExecMessage {
                error: false,
                text: format!("Ignoring unknown escape sequences: \"{word}\""),
            });
        }
    };
    loop {
        let mut semicolon = false;
        let rvalue = lossy(&s[rvalue_start.min(s.len())..]);
        let mut w = Vec::new();
        let first = extract_first_word_and_warn(s, &mut pos, EXEC_FLAGS, &mut w);
        warn(&mut res, w);
        let first = match first {
            Ok(Some(f)) => f,
            Ok(None) => return res,
            Err(_) => {
                // The first word's errors are logged and return 0: the line is ignored, even
                // without "-" (load-fragment.c: "if (r <= 0) return 0;").
                res.messages.push(ExecMessage {
                    error: true,
                    text: format!("Unbalanced quoting, ignoring: \"{rvalue}\""),
                });
                res.outcome = ExecOutcome::Ignored;
                return res;
            }
        };
        // A lone ";" is a separator, not an executable.
        if first == b";" {
            rvalue_start = pos.unwrap_or(s.len());
            continue;
        }
        let mut flags = ExecFlags::default();
        let mut f = 0usize;
        while f < first.len() {
            let c = first[f];
            let any_priv = flags.privileged || flags.no_setuid || flags.ambient;
            if c == b'-' && !flags.ignore_failure {
                flags.ignore_failure = true;
            } else if c == b'@' && !flags.argv0 {
                flags.argv0 = true;
            } else if c == b':' && !flags.no_env_expand {
                flags.no_env_expand = true;
            } else if c == b'+' && !any_priv {
                flags.privileged = true;
            } else if c == b'!' && !any_priv {
                flags.no_setuid = true;
            } else if c == b'!' && !(flags.privileged || flags.ambient) {
                flags.no_setuid = false;
                flags.ambient = true;
            } else if c == b'|' && !flags.via_shell && opts.systemd_version >= VIA_SHELL_SINCE {
                flags.via_shell = true;
            } else {
                break;
            }
            f += 1;
        }
        let ignore = flags.ignore_failure;
        let sfx = if ignore { ", ignoring" } else { "" };
        let fail = |res: &mut ExecParse, text: String| {
            res.messages.push(ExecMessage {
                error: !ignore,
                text,
            });
            res.outcome = if ignore {
                ExecOutcome::Ignored
            } else {
                ExecOutcome::BadSetting
            };
        };
        let mut not_utf8 = false;
        let rest = lossy_noted(&first[f..], &mut not_utf8);
        let mut argv: Vec<String> = Vec::new();
        let path: String;
        if flags.via_shell {
            // systemd ≥ 258: the shell is looked up at exec time; PID 1 records /bin/sh. The
            // words, the first included, become the shell's arguments; "@" makes it a login
            // shell ("-sh").
            path = "/bin/sh".to_string();
            argv.push(if flags.argv0 { "-sh" } else { "sh" }.to_string());
            if !rest.is_empty() {
                match specifier::expand(&rest, ctx) {
                    Ok(v) => argv.push(v),
                    Err(e) => {
                        fail(
                            &mut res,
                            format!(
                                "Failed to resolve unit specifiers in {rest}{sfx}: {}",
                                spec_err_text(&e)
                            ),
                        );
                        return res;
                    }
                }
            }
        } else {
            let p = match specifier::expand_max(&rest, ctx, specifier::PATH_MAX_EXPANDED) {
                Ok(p) => p,
                Err(e) => {
                    fail(
                        &mut res,
                        format!(
                            "Failed to resolve unit specifiers in '{rest}'{sfx}: {}",
                            spec_err_text(&e)
                        ),
                    );
                    return res;
                }
            };
            if p.is_empty() {
                fail(
                    &mut res,
                    format!("Empty path in command line{sfx}: '{rvalue}'"),
                );
                return res;
            }
            if !string_is_safe(p.as_bytes()) {
                fail(
                    &mut res,
                    format!("Executable name contains special characters{sfx}: {p}"),
                );
                return res;
            }
            if p.ends_with('/') {
                fail(
                    &mut res,
                    format!("Executable path specifies a directory{sfx}: {p}"),
                );
                return res;
            }
            let ok = if p.starts_with('/') {
                path_is_valid(p.as_bytes())
            } else {
                filename_is_valid(p.as_bytes())
            };
            if !ok {
                fail(
                    &mut res,
                    format!("Neither a valid executable name nor an absolute path{sfx}: {p}"),
                );
                return res;
            }
            if !flags.argv0 {
                argv.push(p.clone());
            }
            path = path_simplify(&p);
        }
        // The arguments.
        while let Some(i) = pos.filter(|&i| i < s.len()) {
            let rest = &s[i..];
            // An unquoted ";" followed by whitespace or the end separates commands.
            if rest[0] == b';' && rest.get(1).map_or(true, |&c| is_ws(c)) {
                let mut j = i + 1;
                while j < s.len() && is_ws(s[j]) {
                    j += 1;
                }
                pos = Some(j);
                semicolon = true;
                break;
            }
            // "\;" alone is a literal ";" argument (and nothing else is: "\;x" keeps its
            // backslash through the relaxed unescape).
            if rest[0] == b'\\'
                && rest.get(1) == Some(&b';')
                && rest.get(2).map_or(true, |&c| is_ws(c))
            {
                let mut j = i + 2;
                while j < s.len() && is_ws(s[j]) {
                    j += 1;
                }
                pos = Some(j);
                argv.push(";".to_string());
                continue;
            }
            let mut w = Vec::new();
            let word = extract_first_word_and_warn(s, &mut pos, EXEC_FLAGS, &mut w);
            warn(&mut res, w);
            let word = match word {
                Ok(Some(w)) => lossy_noted(&w, &mut not_utf8),
                Ok(None) => break,
                Err(_) => {
                    res.messages.push(ExecMessage {
                        error: true,
                        text: format!("Unbalanced quoting, ignoring: \"{rvalue}\""),
                    });
                    res.outcome = if ignore {
                        ExecOutcome::Ignored
                    } else {
                        ExecOutcome::BadSetting
                    };
                    return res;
                }
            };
            match specifier::expand(&word, ctx) {
                Ok(v) => argv.push(v),
                Err(e) => {
                    fail(
                        &mut res,
                        format!(
                            "Failed to resolve unit specifiers in {word}{sfx}: {}",
                            spec_err_text(&e)
                        ),
                    );
                    return res;
                }
            }
        }
        if argv.is_empty() {
            fail(
                &mut res,
                format!("Empty executable name or zeroeth argument{sfx}: {rvalue}"),
            );
            return res;
        }
        res.commands.push(ExecCommand {
            path,
            argv,
            flags,
            not_utf8,
        });
        rvalue_start = pos.unwrap_or(s.len());
        if !semicolon {
            return res;
        }
    }
}

/// An environment to expand `$VAR` from.
pub trait EnvLookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl EnvLookup for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// A list of assignments: the last one for a name wins, as in an environment block.
impl EnvLookup for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl EnvLookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// `env_name_is_valid()`: non-empty, `[A-Za-z0-9_]`, not starting with a digit.
pub fn env_name_is_valid(n: &str) -> bool {
    !n.is_empty()
        && !n.as_bytes()[0].is_ascii_digit()
        && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The result of [`expand_env_full`]: the new argv and the names systemd warns about
/// ("Referenced but unset environment variable evaluates to an empty string: …",
/// "Invalid environment variable name evaluates to an empty string: …").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvExpansion {
    pub argv: Vec<String>,
    pub unset: Vec<String>,
    pub invalid: Vec<String>,
}

/// `replace_env_full()` with no flags: `${NAME}` → value (empty when unset), `$$` → `$`, anything
/// else (`$NAME` inside a word, `${NAME:-x}`, an unterminated `${`) stays literal.
fn replace_env_word<E: EnvLookup + ?Sized>(
    word: &str,
    env: &E,
    unset: &mut Vec<String>,
    invalid: &mut Vec<String>,
) -> String {
    let b = word.as_bytes();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    let mut lit = 0; // start of the pending literal text
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.push_str(&word[lit..=i]);
                i += 2;
                lit = i;
            }
            Some(b'{') => {
                // Find the closing brace; a ':' first means unsupported syntax: keep literally.
                let mut j = i + 2;
                while j < b.len() && b[j] != b'}' && b[j] != b':' {
                    j += 1;
                }
                if j < b.len() && b[j] == b'}' {
                    out.push_str(&word[lit..i]);
                    let name = &word[i + 2..j];
                    if env_name_is_valid(name) {
                        match env.lookup(name) {
                            Some(v) => out.push_str(v),
                            None => push_uniq(unset, name),
                        }
                    } else {
                        push_uniq(invalid, name);
                    }
                    i = j + 1;
                    lit = i;
                } else {
                    // Unsupported or unterminated: the scanner goes on after the "${".
                    i += 2;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&word[lit..]);
    out
}

fn push_uniq(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Splits an environment variable's value for a lone `$NAME` word: whitespace-separated,
/// quotes removed, backslash escapes the next character, unbalanced quotes tolerated
/// (`EXTRACT_RELAX|EXTRACT_UNQUOTE`).
pub fn split_env_value(v: &str) -> Vec<String> {
    let flags = ExtractFlags {
        relax: true,
        unquote: true,
        cunescape: false,
        unescape_relax: false,
    };
    let mut pos = Some(0);
    let mut out = Vec::new();
    while let Ok(Some(w)) = extract_first_word(v.as_bytes(), &mut pos, flags) {
        out.push(lossy(&w));
    }
    out
}

/// `replace_env_argv()`: what systemd does to argv right before `execve()` unless the command has
/// the `:` prefix. A word that is exactly `$NAME` becomes the variable's value split into words
/// (no word at all when unset or when NAME is not a valid name — even a lone `$`); `${NAME}`
/// anywhere becomes the value as one piece; `$$` becomes `$`.
pub fn expand_env_full<E: EnvLookup + ?Sized>(argv: &[String], env: &E) -> EnvExpansion {
    let mut r = EnvExpansion::default();
    for word in argv {
        let b = word.as_bytes();
        if b.first() == Some(&b'$') && !matches!(b.get(1), Some(b'{') | Some(b'$')) {
            let name = &word[1..];
            if env_name_is_valid(name) {
                match env.lookup(name) {
                    Some(v) => r.argv.extend(split_env_value(v)),
                    None => push_uniq(&mut r.unset, name),
                }
            } else {
                push_uniq(&mut r.invalid, name);
            }
            continue;
        }
        let w = replace_env_word(word, env, &mut r.unset, &mut r.invalid);
        r.argv.push(w);
    }
    r.unset.sort();
    r.invalid.sort();
    r
}

/// [`expand_env_full`] without the warnings.
pub fn expand_env<E: EnvLookup + ?Sized>(argv: &[String], env: &E) -> Vec<String> {
    expand_env_full(argv, env).argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::specifier::HostFacts;

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

    #[test]
    fn env_expansion() {
        let env: Vec<(String, String)> = vec![
            ("A".into(), "one two  'three four'".into()),
            ("B".into(), "x y".into()),
            ("E".into(), "".into()),
        ];
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_env(&v(&["/bin/x", "$A", "${B}", "p${B}q", "$$A", "a$B"]), &env),
            v(&[
                "/bin/x",
                "one",
                "two",
                "three four",
                "x y",
                "px yq",
                "$A",
                "a$B"
            ])
        );
        let r = expand_env_full(&v(&["$NOPE", "${NOPE}", "$", "$A-x", "${1X}", "$E"]), &env);
        assert_eq!(r.argv, v(&["", ""]));
        assert_eq!(r.unset, v(&["NOPE"]));
        assert_eq!(r.invalid, v(&["", "1X", "A-x"]));
        assert_eq!(
            expand_env(&v(&["${B:-z}", "${B", "$${B}"]), &env),
            v(&["${B:-z}", "${B", "${B}"])
        );
    }

    #[test]
    fn parse_basic() {
        let h = HostFacts::default();
        let ctx = SpecifierContext::new("a@b.service", &h);
        let p = parse_exec(
            "-@/usr/bin//x argv0 %i ; /bin/y",
            &ctx,
            ExecParseOptions::default(),
        );
        assert_eq!(p.outcome, ExecOutcome::Ok);
        assert_eq!(p.commands.len(), 2);
        assert_eq!(p.commands[0].path, "/usr/bin/x");
        assert_eq!(p.commands[0].argv, ["argv0", "b"]);
        assert!(p.commands[0].flags.ignore_failure && p.commands[0].flags.argv0);
        assert_eq!(p.commands[1].argv, ["/bin/y"]);
    }
}
