// SPDX-License-Identifier: LGPL-2.1-or-later
//! Rewriting one raw `Exec*=` value so that each of its commands runs through the launcher
//! (the legacy-host strategy), keeping what systemd would run unchanged behind the `--`.
//!
//! The launcher runs under the name of the command's own executable: a link to it in the
//! generator's output directory, `OUTPUT/bindif-launch-exec/NAME` ([`Launchers`]). systemd
//! names a command's output stream in the journal after the file name of the path it executes
//! (`basename(command->path)` passed to `setup_output()` in src/core/execute.c; exec-invoke.c
//! since v255), so each command keeps the identifier it has without the launcher, whatever the
//! unit's other commands are called, and a unit's own `SyslogIdentifier=` still wins.

use std::fmt;
use std::path::Path;

use super::{LAUNCHER, PROGRAM as GENERATOR};
use crate::cmd::launch::config::SYSTEMD_EXEC_PATH;
use crate::log::PROGRAM;
use crate::unit::eval::{is_bindif_launch, EXEC_LINK_DIR};
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

/// One word of a command line: decoded, and its raw text.
type Word = (Vec<u8>, String);

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
pub(super) fn quote_word(w: &str) -> String {
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

/// Bytes a link's file name, and the output directory's path, may hold: what an `Exec` word
/// carries unquoted and unexpanded (no `%`, `$`, quotes, backslash or whitespace), in ASCII.
fn plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._+-,:@~^".contains(&b)
}

/// The longest file name the kernel accepts (NAME_MAX).
const NAME_MAX: usize = 255;

/// The link that stands for the executable `path` of a wrapped command: its file name, which
/// is the identifier systemd gives the command's output, when a link can carry it exactly.
/// `None` (the command runs the launcher under its own name) for a name that is not a plain
/// file name (empty, `.`, `..`, longer than NAME_MAX), holds a byte outside [`plain_byte`] (a
/// specifier, a `$`, a control character, non-ASCII), or is one the launcher reads as another
/// program: `bindif-launch-generator` selects the generator by argv[0] (`generator::wanted`),
/// and a daemon of that name must still run through the launcher.
pub fn link_name(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let plain =
        !matches!(name, "" | "." | "..") && name.len() <= NAME_MAX && name.bytes().all(plain_byte);
    (plain && name != GENERATOR).then_some(name)
}

/// What each wrapped command executes: the launcher itself, or a link to it named after the
/// command's executable in the generator's output directory (see the module's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launchers {
    /// `OUTPUT/bindif-launch-exec`, as PID 1 sees it; `None`: every command runs the launcher.
    dir: Option<String>,
}

/// One wrapped `Exec*=` value and the links its commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub line: String,
    /// File names in [`Launchers::dir`] the line executes (each must exist as a link).
    pub links: Vec<String>,
}

impl Launchers {
    /// Every command runs the launcher under its own name.
    pub fn plain() -> Launchers {
        Launchers { dir: None }
    }

    /// Links in `output`, the generator's output directory as PID 1 sees it. Plain when that
    /// path cannot be an `Exec` word as it is: not absolute and normalized, or a byte outside
    /// [`plain_byte`].
    pub fn in_output(output: &Path) -> Launchers {
        let dir = output.to_str().filter(|d| {
            d.starts_with('/')
                && d[1..]
                    .split('/')
                    .all(|c| !matches!(c, "" | "." | "..") && c.bytes().all(plain_byte))
        });
        Launchers {
            dir: dir.map(|d| format!("{d}/{EXEC_LINK_DIR}")),
        }
    }

    /// Where the links go, when there are any.
    pub fn dir(&self) -> Option<&str> {
        self.dir.as_deref()
    }

    /// The executable word for a command whose executable is `path`, and the link it needs.
    fn executable_for(&self, path: &str) -> (String, Option<String>) {
        match (&self.dir, link_name(path)) {
            (Some(dir), Some(name)) => (format!("{dir}/{name}"), Some(name.to_string())),
            _ => (LAUNCHER.to_string(), None),
        }
    }

    /// Whether every command of `values` (raw `Exec*=` values) runs under its own executable's
    /// name once wrapped: it gets a link, or it runs the launcher already. Then systemd names
    /// each command's output as it would without the launcher.
    pub fn cover(&self, values: &[&str]) -> bool {
        self.dir.is_some()
            && values.iter().all(|v| {
                commands(v).is_ok_and(|cmds| {
                    cmds.iter().all(|c| {
                        let Ok(first) = std::str::from_utf8(&c[0].0) else {
                            return false;
                        };
                        let (prefix, rest) = split_prefixes(first);
                        !prefix.contains(['@', '|'])
                            && (is_bindif_launch(rest) || link_name(rest).is_some())
                    })
                })
            })
    }

    /// `text` (a generated drop-in or a line of it) with the commands that run the link `name`
    /// running the launcher instead: for a link that could not be written.
    pub fn without_link(&self, text: &str, name: &str) -> String {
        match &self.dir {
            Some(dir) => text.replace(
                &format!("{dir}/{name} --unit=%n -- "),
                &format!("{LAUNCHER} --unit=%n -- "),
            ),
            None => text.to_string(),
        }
    }
}

/// Rewrites one raw `Exec*=` value as the launcher running each of its commands:
/// `PREFIXES/usr/lib/bindif-launch --unit=%n -- PATH ARGS` with the prefixes `-`, `:`, `+`, `!`, `!!`
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
    wrap_line_with(value, find_executable, &Launchers::plain()).map(|w| w.line)
}

/// [`wrap_line`], each command running what `launchers` gives for its executable.
pub fn wrap_line_with(
    value: &str,
    find_executable: &dyn Fn(&str) -> Option<String>,
    launchers: &Launchers,
) -> Result<Wrapped, WrapError> {
    let mut out = Vec::new();
    let mut links = Vec::new();
    for c in commands(value)? {
        let first = String::from_utf8(c[0].0.clone()).map_err(|_| WrapError::ExecutableNotUtf8)?;
        let (prefix, rest) = split_prefixes(&first);
        match prefix.bytes().find(|b| matches!(b, b'@' | b'|')) {
            Some(b'@') => return Err(WrapError::CustomArgv0),
            Some(_) => return Err(WrapError::ViaShell),
            None => {}
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
        let (launcher, link) = launchers.executable_for(&path);
        links.extend(link.filter(|l| !links.contains(l)));
        // `--unit=`: a unit name may start with `-`, which `%n -- …` would read as options.
        let mut line = format!("{prefix}{launcher} --unit=%n -- {}", quote_word(&path));
        for a in args {
            line.push(' ');
            line.push_str(a);
        }
        out.push(line);
    }
    if out.is_empty() {
        return Err(WrapError::NoCommand);
    }
    Ok(Wrapped {
        line: out.join(" ; "),
        links,
    })
}

/// The commands of one raw `Exec*=` value (a lone `;` separates them), each as its words.
fn commands(value: &str) -> Result<Vec<Vec<Word>>, WrapError> {
    let mut commands: Vec<Vec<Word>> = vec![Vec::new()];
    for w in raw_words(value)? {
        if w.0 == b";" {
            commands.push(Vec::new());
        } else {
            commands.last_mut().unwrap().push(w);
        }
    }
    commands.retain(|c| !c.is_empty());
    Ok(commands)
}

/// Splits the prefixes systemd reads in front of the executable (`-`, `:`, `+`, `!`, `!!`, `@`,
/// `|`) off a command's first word.
fn split_prefixes(first: &str) -> (&str, &str) {
    let n = first
        .bytes()
        .take_while(|b| matches!(b, b'-' | b':' | b'+' | b'!' | b'@' | b'|'))
        .count();
    first.split_at(n)
}

/// The journal identifier systemd gives one command's standard output and error when the unit
/// sets no `SyslogIdentifier=`: the file name of the executable's path (`command->path` in
/// src/core/execute.c, exec-invoke.c since v255; the same in 247, 252 and 257), not argv[0], so
/// the `@` prefix does not change it. A plain name's file name is the name itself, wherever
/// systemd finds it. `None` when it cannot be derived here or written back verbatim into
/// `SyslogIdentifier=`: a specifier in the file name (`%I` may expand to a path), a control
/// character, surrounding whitespace or a trailing backslash (a line continuation).
fn command_identifier(words: &[Word]) -> Option<String> {
    let first = std::str::from_utf8(&words.first()?.0).ok()?;
    let (prefix, path) = split_prefixes(first);
    if prefix.contains('|') {
        // Run through the shell (systemd 258 and 259): the executable is not the word.
        return None;
    }
    let name = path.rsplit('/').next()?;
    if matches!(name, "" | "." | "..") || name.trim() != name || name.ends_with('\\') {
        return None;
    }
    if name.chars().any(|c| c.is_control()) || name.replace("%%", "").contains('%') {
        return None;
    }
    Some(name.to_string())
}

/// Which journal identifier the commands of a wrapped unit keep, as the generated drop-in can
/// say it. systemd names each command's output stream after that command's executable, and the
/// wrapper makes the launcher that executable; `SyslogIdentifier=` is the one way to name the
/// stream otherwise, and it is unit-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The unit sets `SyslogIdentifier=`: it names every command's output, wrapped or not.
    Own,
    /// Every command would get this identifier: a unit-wide `SyslogIdentifier=` restores it
    /// exactly.
    Shared(String),
    /// The commands' identifiers differ (in order of first use): a unit-wide setting would give
    /// some commands another's, so none is written.
    Differs(Vec<String>),
    /// Some command's identifier cannot be derived (see [`command_identifier`]).
    Unknown,
}

/// The identity of a unit's commands: `own` is the effective `SyslogIdentifier=` (empty or
/// `None`: unset), `values` the raw values of every `Exec*=` command systemd runs for the unit.
pub fn journal_identity(own: Option<&str>, values: &[&str]) -> Identity {
    if own.is_some_and(|v| !v.is_empty()) {
        return Identity::Own;
    }
    let mut names: Vec<String> = Vec::new();
    for v in values {
        let Ok(cmds) = commands(v) else {
            return Identity::Unknown;
        };
        for c in cmds {
            let Some(n) = command_identifier(&c) else {
                return Identity::Unknown;
            };
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    match names.len() {
        0 => Identity::Unknown,
        1 => Identity::Shared(names.remove(0)),
        _ => Identity::Differs(names),
    }
}

impl Identity {
    /// The lines for the generated drop-in's section.
    pub fn dropin_lines(&self) -> String {
        match self {
            Identity::Own => String::new(),
            Identity::Shared(name) => format!(
                "# The identifier systemd gives the commands' output in the journal, which the\n# launcher in front of them would otherwise replace.\nSyslogIdentifier={name}\n"
            ),
            Identity::Differs(names) => format!(
                "# The commands' journal identifiers differ and SyslogIdentifier= is unit-wide, so\n# the wrapped ones that run the launcher under its own name are logged as\n# {PROGRAM}; set SyslogIdentifier= in the unit to choose one. Their own: {}\n",
                names.join(", ")
            ),
            Identity::Unknown => format!(
                "# A command's journal identifier cannot be derived here, so the wrapped commands\n# that run the launcher under its own name are logged as {PROGRAM}; set\n# SyslogIdentifier= in the unit to choose one.\n"
            ),
        }
    }
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
        let mut want = String::from("-/usr/lib/bindif-launch --unit=%n -- /usr/bin/echo");
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
            "-/usr/lib/bindif-launch --unit=%n -- /usr/bin/logger \"a b\" ; /usr/lib/bindif-launch --unit=%n -- /bin/x $Y"
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

    /// systemd expands `%n` in the wrapped line and the launcher reads the unit's name
    /// and the command from it, whatever the name starts with.
    #[test]
    fn wrapped_lines_carry_any_unit_name() {
        use crate::unit::exec::{parse_exec, ExecParseOptions};
        use crate::unit::specifier::{HostFacts, SpecifierContext};
        let host = HostFacts::default();
        let line = wrap_line("-/usr/sbin/d --opt ; /bin/x -y", &no_plain_names).unwrap();
        for n in ["-foo.service", "--x.service", "-.service", "d.service"] {
            let ctx = SpecifierContext::new(n, &host);
            let parsed = parse_exec(&line, &ctx, ExecParseOptions::default());
            assert_eq!(parsed.commands.len(), 2, "{line}: {:?}", parsed.messages);
            for (c, want) in parsed
                .commands
                .iter()
                .zip([&["/usr/sbin/d", "--opt"][..], &["/bin/x", "-y"][..]])
            {
                let args = crate::cli::parse(c.argv[1..].iter().map(Into::into).collect());
                let want = crate::cli::Mode::Unit {
                    unit: n.to_string(),
                    command: Some(want.iter().map(Into::into).collect()),
                };
                assert_eq!(args.map(|a| a.mode), Ok(want), "{n}: {line}");
            }
        }
    }

    /// Issue 20 #4: a link is named after the executable's file name when that name is the
    /// identifier systemd derives and is plain; anything else runs the launcher itself.
    #[test]
    fn link_names_are_plain_file_names_only() {
        for (path, want) in [
            ("/usr/sbin/chronyd", Some("chronyd")),
            ("/usr/lib/foo/check-config", Some("check-config")),
            ("prometheus-node-exporter", Some("prometheus-node-exporter")),
            ("/opt/x/a.b_c+d,e:f@g~h^i-", Some("a.b_c+d,e:f@g~h^i-")),
            ("/opt/-dash", Some("-dash")),
            ("/usr/bin/", None),
            ("/usr/bin/.", None),
            ("/usr/bin/..", None),
            ("/usr/bin/%I", None),
            ("/usr/bin/a%%b", None),
            ("/usr/bin/a$b", None),
            ("/usr/bin/ld ctl", None),
            ("/usr/bin/x\ty", None),
            ("/usr/bin/x\ny", None),
            ("/usr/bin/dämon", None),
            ("/usr/bin/q\"x", None),
            ("/usr/bin/b\\s", None),
            // The launcher would run as the generator.
            ("/usr/lib/x/bindif-launch-generator", None),
        ] {
            assert_eq!(link_name(path), want, "{path:?}");
        }
        assert_eq!(link_name(&"x".repeat(255)).map(str::len), Some(255));
        assert_eq!(link_name(&"x".repeat(256)), None);
    }

    /// No name a link may carry makes the launcher anything but the launcher: its argv[0]
    /// chooses the generator only for the generator's own name.
    #[test]
    fn no_link_selects_the_generator() {
        let l = Launchers::in_output(Path::new("/run/systemd/generator"));
        for exe in ["/usr/sbin/d", "/x/bindif-launch-generator", "/x/generate"] {
            let (word, _) = l.executable_for(exe);
            let argv: Vec<std::ffi::OsString> =
                vec![word.clone().into(), "--unit=a.service".into()];
            assert!(!super::super::wanted(&argv), "{exe}: {word}");
        }
        assert_eq!(
            l.executable_for("/x/bindif-launch-generator"),
            (LAUNCHER.to_string(), None)
        );
    }

    #[test]
    fn links_live_in_a_plain_absolute_output_directory() {
        let dir = |p: &str| Launchers::in_output(Path::new(p)).dir().map(str::to_string);
        assert_eq!(
            dir("/run/systemd/generator"),
            Some("/run/systemd/generator/bindif-launch-exec".into())
        );
        assert_eq!(
            dir("/tmp/x-1/out"),
            Some("/tmp/x-1/out/bindif-launch-exec".into())
        );
        for odd in [
            "run/out",
            "/tmp/a b",
            "/tmp/%t",
            "/tmp/../x",
            "/tmp//x",
            "/tmp/x/",
            "/",
        ] {
            assert_eq!(dir(odd), None, "{odd}");
        }
        assert_eq!(Launchers::plain().dir(), None);
    }

    /// Each command runs the link named after its own executable; the names are listed once.
    #[test]
    fn each_command_runs_its_own_link() {
        let l = Launchers::in_output(Path::new("/run/systemd/generator"));
        let find = |n: &str| (n == "logger").then(|| "/usr/bin/logger".to_string());
        let w = wrap_line_with(
            "-/usr/lib/foo/check-config -q ; logger x ; /usr/lib/foo/check-config ; /usr/bin/%I ; +/usr/lib/bindif-launch --attach %n",
            &find,
            &l,
        )
        .unwrap();
        let d = "/run/systemd/generator/bindif-launch-exec";
        assert_eq!(
            w.line,
            format!(
                "-{d}/check-config --unit=%n -- /usr/lib/foo/check-config -q ; {d}/logger --unit=%n -- /usr/bin/logger x ; {d}/check-config --unit=%n -- /usr/lib/foo/check-config ; /usr/lib/bindif-launch --unit=%n -- /usr/bin/%I ; +/usr/lib/bindif-launch --attach %n"
            )
        );
        assert_eq!(w.links, ["check-config", "logger"]);
        // A link that could not be written: its commands run the launcher instead.
        let back = l.without_link(&w.line, "check-config");
        assert_eq!(
            back,
            format!(
                "-/usr/lib/bindif-launch --unit=%n -- /usr/lib/foo/check-config -q ; {d}/logger --unit=%n -- /usr/bin/logger x ; /usr/lib/bindif-launch --unit=%n -- /usr/lib/foo/check-config ; /usr/lib/bindif-launch --unit=%n -- /usr/bin/%I ; +/usr/lib/bindif-launch --attach %n"
            )
        );
        // Without an output directory every command runs the launcher.
        let plain = wrap_line_with("/usr/sbin/d", &find, &Launchers::plain()).unwrap();
        assert_eq!(
            plain.line,
            "/usr/lib/bindif-launch --unit=%n -- /usr/sbin/d"
        );
        assert!(plain.links.is_empty());
    }

    /// Links cover a unit when every command gets one (or runs the launcher already): then no
    /// `SyslogIdentifier=` is needed, and the unit's own stays the only one.
    #[test]
    fn links_cover_units_whose_every_command_has_a_plain_name() {
        let l = Launchers::in_output(Path::new("/run/systemd/generator"));
        assert!(l.cover(&["/usr/lib/foo/check-config", "/usr/sbin/foo ; /bin/kill x"]));
        assert!(l.cover(&["+/usr/lib/bindif-launch --attach %n", "-foo"]));
        assert!(!l.cover(&["/usr/sbin/foo", "/usr/bin/%I"]));
        assert!(!l.cover(&["/usr/sbin/foo", "@/usr/bin/busybox httpd"]));
        assert!(!l.cover(&["/usr/sbin/foo", "/bin/x \"open"]));
        assert!(!Launchers::plain().cover(&["/usr/sbin/foo"]));
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

    fn identity(values: &[&str]) -> Identity {
        journal_identity(None, values)
    }

    /// systemd names a command's stream after its executable's file name, per command: a
    /// unit whose commands share it gets it back, in whatever form the command is written.
    #[test]
    fn identity_is_the_executables_file_name() {
        assert_eq!(
            identity(&[
                "/usr/sbin/web -t -q",
                "-/usr/sbin/web",
                "+/usr/sbin/web -s reload ; !!/opt/web/web -s quit",
            ]),
            Identity::Shared("web".into())
        );
        // `@` sets argv[0], which systemd does not use for the identifier.
        assert_eq!(
            identity(&["@/usr/bin/busybox httpd -f"]),
            Identity::Shared("busybox".into())
        );
        // A plain name's file name is the name, wherever systemd finds it.
        assert_eq!(identity(&["logger x"]), Identity::Shared("logger".into()));
        assert_eq!(
            identity(&["\"/usr/bin/ld ctl\" stop"]),
            Identity::Shared("ld ctl".into())
        );
        // `%%` is a literal percent sign both in the path and in SyslogIdentifier=.
        assert_eq!(
            identity(&["/usr/bin/a%%b"]),
            Identity::Shared("a%%b".into())
        );
    }

    #[test]
    fn differing_identifiers_are_listed_in_order_of_first_use() {
        assert_eq!(
            identity(&[
                "-/usr/bin/mkdir -p /run/d",
                "/usr/sbin/d",
                "/bin/kill -HUP $MAINPID ; /usr/sbin/d",
            ]),
            Identity::Differs(vec!["mkdir".into(), "d".into(), "kill".into()])
        );
        // The launcher already in the unit keeps its own name, which differs.
        assert_eq!(
            identity(&["+/usr/lib/bindif-launch --attach %n", "/usr/sbin/d"]),
            Identity::Differs(vec!["bindif-launch".into(), "d".into()])
        );
    }

    #[test]
    fn a_units_own_syslog_identifier_wins() {
        assert_eq!(
            journal_identity(Some("mine"), &["/usr/sbin/d"]),
            Identity::Own
        );
        // An empty value resets it: systemd derives the identifier again.
        assert_eq!(
            journal_identity(Some(""), &["/usr/sbin/d"]),
            Identity::Shared("d".into())
        );
    }

    /// Whatever cannot be derived exactly, or written back verbatim, is not guessed.
    #[test]
    fn underivable_identifiers_are_not_guessed() {
        for v in [
            "/usr/bin/%I",             // a specifier may expand to a path
            "/usr/bin/x\\x01",         // a control character
            "\"/usr/bin/x \"",         // trailing whitespace would be trimmed
            "/usr/bin/x\\\\",          // a trailing backslash continues the line
            "/usr/bin/",               // no file name
            "/usr/bin/..",             // no file name either
            "|echo hi",                // run through the shell
            "/usr/bin/x \"unbalanced", // systemd rejects it
        ] {
            assert_eq!(identity(&["/usr/sbin/d", v]), Identity::Unknown, "{v:?}");
        }
        assert_eq!(identity(&[]), Identity::Unknown);
    }

    /// Only a shared identifier becomes a setting; everything else is a comment.
    #[test]
    fn dropin_lines_set_only_a_shared_identifier() {
        let assignments = |i: &Identity| -> Vec<String> {
            i.dropin_lines()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            assignments(&Identity::Shared("web".into())),
            ["SyslogIdentifier=web"]
        );
        assert_eq!(Identity::Own.dropin_lines(), "");
        let differs = Identity::Differs(vec!["mkdir".into(), "d".into()]);
        assert!(assignments(&differs).is_empty());
        assert!(differs.dropin_lines().contains("Their own: mkdir, d\n"));
        assert!(assignments(&Identity::Unknown).is_empty());
    }
}
