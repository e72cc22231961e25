// SPDX-License-Identifier: LGPL-2.1-or-later
//! `Exec*=` command lines as systemd parses them at load time (`config_parse_exec()` in
//! src/core/load-fragment.c): commands separated by a lone `;`, the prefixes of the first word,
//! specifier expansion and the executable's checks. Words come from [`super::words`]; `$VAR` is
//! left alone here and expanded at exec time ([`super::env`]).
//!
//! Order of operations, pinned by tests: each word is first unquoted and C-unescaped, *then* the
//! prefixes are taken off the first word, *then* specifiers are expanded. So `"-/bin/x"` still
//! has the `-` prefix, `'%n'` is expanded inside single quotes, and `\x25n` becomes `%n` and is
//! expanded too.

use super::specifier::{self, SpecifierContext};
use super::words::{
    extract_first_word_and_warn, is_ws, lossy, lossy_noted, ExtractError, ExtractWarning,
    EXEC_FLAGS,
};

/// The `Exec*=` settings of a unit type's section, in the order they run (`[Service]`'s, or the
/// other types' with commands: `[Socket]`, `[Mount]`, `[Swap]`).
pub fn keys(section: &str) -> &'static [&'static str] {
    match section {
        "Service" => &[
            "ExecCondition",
            "ExecStartPre",
            "ExecStart",
            "ExecStartPost",
            "ExecReload",
            "ExecStop",
            "ExecStopPost",
        ],
        _ => &[
            "ExecStartPre",
            "ExecStartPost",
            "ExecStopPre",
            "ExecStopPost",
        ],
    }
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

/// `config_parse_exec()` for one non-empty value: splits it into commands at lone `;`, takes the
/// prefixes off, expands specifiers and validates the executable.
pub fn parse_exec(value: &str, ctx: &SpecifierContext<'_>, opts: ExecParseOptions) -> ExecParse {
    let mut line = Line {
        s: value.as_bytes(),
        pos: Some(0),
        command_start: 0,
        ctx,
        opts,
        res: ExecParse {
            commands: Vec::new(),
            messages: Vec::new(),
            outcome: ExecOutcome::Ok,
        },
    };
    while line.command() {}
    line.res
}

/// `config_parse_exec()`'s state while it walks one value.
struct Line<'a, 'c> {
    s: &'a [u8],
    /// `extract_first_word()`'s cursor (`None`: nothing left).
    pos: Option<usize>,
    /// Where the current command starts: messages quote the value from there on.
    command_start: usize,
    ctx: &'a SpecifierContext<'c>,
    opts: ExecParseOptions,
    res: ExecParse,
}

impl Line<'_, '_> {
    /// Parses one command and records it (or why the line stops); true when a `;` separator
    /// ended it and another command may follow.
    fn command(&mut self) -> bool {
        let first = match self.word() {
            Ok(Some(f)) => f,
            Ok(None) => return false,
            Err(_) => {
                // The first word's errors are logged and return 0: the line is ignored, even
                // without "-" (load-fragment.c: "if (r <= 0) return 0;").
                let text = format!("Unbalanced quoting, ignoring: \"{}\"", self.rvalue());
                self.res.messages.push(ExecMessage { error: true, text });
                self.res.outcome = ExecOutcome::Ignored;
                return false;
            }
        };
        // A lone ";" is a separator, not an executable.
        if first == b";" {
            self.command_start = self.pos.unwrap_or(self.s.len());
            return true;
        }
        let (flags, prefix_len) = take_prefixes(&first, self.opts.systemd_version);
        let mut not_utf8 = false;
        let rest = lossy_noted(&first[prefix_len..], &mut not_utf8);
        let head = if flags.via_shell {
            self.shell_head(&rest, flags)
        } else {
            self.executable(&rest, flags)
        };
        let (path, mut argv) = match head {
            Ok(h) => h,
            Err(text) => return self.fail(flags, text),
        };
        let Some(semicolon) = self.arguments(flags, &mut argv, &mut not_utf8) else {
            return false;
        };
        if argv.is_empty() {
            let text = format!(
                "Empty executable name or zeroeth argument{}: {}",
                suffix(flags),
                self.rvalue()
            );
            return self.fail(flags, text);
        }
        self.res.commands.push(ExecCommand {
            path,
            argv,
            flags,
            not_utf8,
        });
        self.command_start = self.pos.unwrap_or(self.s.len());
        semicolon
    }

    /// The next word, its unknown-escape warnings recorded.
    fn word(&mut self) -> Result<Option<Vec<u8>>, ExtractError> {
        let mut warnings = Vec::new();
        let word = extract_first_word_and_warn(self.s, &mut self.pos, EXEC_FLAGS, &mut warnings);
        for ExtractWarning::UnknownEscapes(word) in warnings {
            self.res.messages.push(ExecMessage {
                error: false,
                text: format!("Ignoring unknown escape sequences: \"{word}\""),
            });
        }
        word
    }

    /// The value from the current command on, as systemd quotes it in messages (only built
    /// when a message needs it).
    fn rvalue(&self) -> String {
        lossy(&self.s[self.command_start.min(self.s.len())..])
    }

    /// Records a bad command: with `-` the rest of the line is ignored (a warning), without it
    /// the unit fails to load. Returns false: no further command is parsed.
    fn fail(&mut self, flags: ExecFlags, text: String) -> bool {
        self.give_up(flags, !flags.ignore_failure, text)
    }

    /// [`Line::fail`] with the message's level chosen by the caller.
    fn give_up(&mut self, flags: ExecFlags, error: bool, text: String) -> bool {
        self.res.messages.push(ExecMessage { error, text });
        self.res.outcome = if flags.ignore_failure {
            ExecOutcome::Ignored
        } else {
            ExecOutcome::BadSetting
        };
        false
    }

    /// The `|` prefix (systemd ≥ 258): the shell is looked up at exec time and PID 1 records
    /// /bin/sh. The words, the first included, become the shell's arguments; "@" makes it a
    /// login shell ("-sh").
    fn shell_head(&self, rest: &str, flags: ExecFlags) -> Result<(String, Vec<String>), String> {
        let mut argv = vec![if flags.argv0 { "-sh" } else { "sh" }.to_string()];
        if !rest.is_empty() {
            let v = specifier::expand(rest, self.ctx).map_err(|e| {
                format!(
                    "Failed to resolve unit specifiers in {rest}{}: {e}",
                    suffix(flags)
                )
            })?;
            argv.push(v);
        }
        Ok(("/bin/sh".to_string(), argv))
    }

    /// The executable (the first word without its prefixes), specifiers expanded and checked:
    /// its simplified path and the argv it starts (empty with `@`: the next word is argv[0]).
    fn executable(&self, rest: &str, flags: ExecFlags) -> Result<(String, Vec<String>), String> {
        let sfx = suffix(flags);
        let p = specifier::expand_max(rest, self.ctx, specifier::PATH_MAX_EXPANDED)
            .map_err(|e| format!("Failed to resolve unit specifiers in '{rest}'{sfx}: {e}"))?;
        if p.is_empty() {
            return Err(format!(
                "Empty path in command line{sfx}: '{}'",
                self.rvalue()
            ));
        }
        if let Some(problem) = executable_problem(&p) {
            return Err(format!("{problem}{sfx}: {p}"));
        }
        let argv = if flags.argv0 {
            Vec::new()
        } else {
            vec![p.clone()]
        };
        Ok((path_simplify(&p), argv))
    }

    /// The arguments after the executable, specifiers expanded, appended to `argv` up to a `;`
    /// separator (`Some(true)`) or the end of the value (`Some(false)`). `None` when the line
    /// was given up (recorded).
    fn arguments(
        &mut self,
        flags: ExecFlags,
        argv: &mut Vec<String>,
        not_utf8: &mut bool,
    ) -> Option<bool> {
        while let Some(i) = self.pos.filter(|&i| i < self.s.len()) {
            if let Some(next) = separator_end(self.s, i) {
                self.pos = Some(next);
                return Some(true);
            }
            if let Some(next) = escaped_semicolon_end(self.s, i) {
                self.pos = Some(next);
                argv.push(";".to_string());
                continue;
            }
            let word = match self.word() {
                Ok(Some(w)) => lossy_noted(&w, not_utf8),
                Ok(None) => break,
                Err(_) => {
                    // Logged as an error even with "-"; "-" only keeps the unit loadable.
                    let text = format!("Unbalanced quoting, ignoring: \"{}\"", self.rvalue());
                    self.give_up(flags, true, text);
                    return None;
                }
            };
            match specifier::expand(&word, self.ctx) {
                Ok(v) => argv.push(v),
                Err(e) => {
                    let text = format!(
                        "Failed to resolve unit specifiers in {word}{}: {e}",
                        suffix(flags)
                    );
                    self.fail(flags, text);
                    return None;
                }
            }
        }
        Some(false)
    }
}

/// Takes the prefix characters off the first word: the flags they set and how many bytes they
/// use. A repeated or conflicting prefix ends them (it is then part of the executable name).
fn take_prefixes(first: &[u8], systemd_version: u32) -> (ExecFlags, usize) {
    let mut flags = ExecFlags::default();
    let mut n = 0usize;
    for &c in first {
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
        } else if c == b'|' && !flags.via_shell && systemd_version >= VIA_SHELL_SINCE {
            flags.via_shell = true;
        } else {
            break;
        }
        n += 1;
    }
    (flags, n)
}

/// The message suffix of a command whose failure is ignored (`-`).
fn suffix(flags: ExecFlags) -> &'static str {
    if flags.ignore_failure {
        ", ignoring"
    } else {
        ""
    }
}

/// What is wrong with the executable `p` (specifiers expanded, not empty), if anything.
fn executable_problem(p: &str) -> Option<&'static str> {
    let valid = if p.starts_with('/') {
        path_is_valid(p.as_bytes())
    } else {
        filename_is_valid(p.as_bytes())
    };
    if !string_is_safe(p.as_bytes()) {
        Some("Executable name contains special characters")
    } else if p.ends_with('/') {
        Some("Executable path specifies a directory")
    } else if !valid {
        Some("Neither a valid executable name nor an absolute path")
    } else {
        None
    }
}

/// An unquoted `;` followed by whitespace or the end separates commands: where the next command
/// starts, when there is one at `i`.
fn separator_end(s: &[u8], i: usize) -> Option<usize> {
    (s[i] == b';' && s.get(i + 1).map_or(true, |&c| is_ws(c))).then(|| skip_ws(s, i + 1))
}

/// `\;` alone is a literal `;` argument (and nothing else is: `\;x` keeps its backslash through
/// the relaxed unescape): where the next word starts, when there is one at `i`.
fn escaped_semicolon_end(s: &[u8], i: usize) -> Option<usize> {
    (s[i] == b'\\' && s.get(i + 1) == Some(&b';') && s.get(i + 2).map_or(true, |&c| is_ws(c)))
        .then(|| skip_ws(s, i + 2))
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::specifier::HostFacts;

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

    #[test]
    fn prefixes() {
        let (f, n) = take_prefixes(b"-@:+/bin/x", 260);
        assert_eq!(n, 4);
        assert_eq!(f.prefix_string(), "-@:+");
        // "!!" is the ambient fallback; "+" after "!" ends the prefixes.
        let (f, n) = take_prefixes(b"!!+/bin/x", 260);
        assert_eq!((f.ambient, f.no_setuid, n), (true, false, 2));
        // "|" is a prefix only from 258 on; a repeated prefix ends them.
        assert_eq!(take_prefixes(b"|x", 257).1, 0);
        assert_eq!(take_prefixes(b"|x", 258).1, 1);
        assert_eq!(take_prefixes(b"--x", 260).1, 1);
    }
}
