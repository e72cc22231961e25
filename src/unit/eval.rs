// SPDX-License-Identifier: LGPL-2.1-or-later
//! Evaluation of the settings bindif-launch acts on, over a [`LoadedUnit`]'s assignments in the
//! order systemd applies them:
//!
//! - `BindNetworkInterface=` as v260's `config_parse_bind_network_interface()` does it
//!   (src/core/load-fragment.c), plus our opt-in policy keys `X-BindNetworkInterface-FailClosed=`,
//!   `-WaitSec=`, `-Verify=` and `-Follow=` (systemd ignores every `X-` key);
//! - `ExecStart=` as `config_parse_exec()` does it, and the launcher's **discovery** of the
//!   command it must run in its place.

use std::fmt;
use std::time::Duration;

use super::env::env_name_is_valid;
use super::exec::{self, ExecCommand, ExecOutcome, ExecParseOptions};
use super::ifname;
use super::name;
use super::paths::GENERATOR_DIRS;
use super::specifier::{self, SpecifierContext};
use super::words::{extract_first_word, ExtractFlags};
use super::{Diagnostic, LoadedUnit, Source};

/// What evaluation needs besides the unit: the specifier context and the version of the systemd
/// that runs the unit (some syntax, such as the `|` prefix, depends on it).
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    pub spec: SpecifierContext<'a>,
    pub systemd_version: u32,
}

impl<'a> EvalContext<'a> {
    pub fn new(spec: SpecifierContext<'a>, systemd_version: u32) -> Self {
        EvalContext {
            spec,
            systemd_version,
        }
    }
}

/// `FILE:LINE: message`, the form systemd's `log_syntax()` gives a message.
pub fn format_diagnostic(d: &Diagnostic) -> String {
    match &d.source {
        Some(s) => format!("{}:{}: {}", s.file.display(), s.line, d.message),
        None => d.message.clone(),
    }
}

fn diag(source: &Source, message: String) -> Diagnostic {
    Diagnostic {
        source: Some(source.clone()),
        message,
    }
}

/// The section that carries a unit type's cgroup settings (`CGROUP_CONTEXT_CONFIG_ITEMS`), or
/// `None` for types without a cgroup (target, timer, path, device, automount).
pub fn cgroup_section(unit: &str) -> Option<&'static str> {
    Some(match name::unit_type(unit)? {
        "service" => "Service",
        "socket" => "Socket",
        "mount" => "Mount",
        "swap" => "Swap",
        "slice" => "Slice",
        "scope" => "Scope",
        _ => return None,
    })
}

/// A setting's effective value and the assignment that set it (`None`: the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Option<Source>,
}

impl<T> Setting<T> {
    /// A setting no assignment made: its default.
    pub fn default_with(value: T) -> Self {
        Setting {
            value,
            source: None,
        }
    }
}

/// A time span as systemd's `parse_sec()` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpan {
    Finite(Duration),
    Infinity,
}

/// The evaluated `BindNetworkInterface=` and our policy keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindEval {
    /// The effective interface name (`None`: unset or reset).
    pub interface: Setting<Option<String>>,
    /// `X-BindNetworkInterface-FailClosed=` (default `false`: v260's fail-open).
    pub fail_closed: Setting<bool>,
    /// `X-BindNetworkInterface-WaitSec=` (default 0: do not wait).
    pub wait: Setting<TimeSpan>,
    /// `X-BindNetworkInterface-Verify=` (default `false`).
    pub verify: Setting<bool>,
    /// `X-BindNetworkInterface-Follow=` (`None`: not set, the package-wide default of
    /// `/etc/bindif-launch.conf` applies; see [`crate::config`]).
    pub follow: Setting<Option<bool>>,
    /// Warnings in systemd's words, in the order systemd would log them.
    pub diagnostics: Vec<Diagnostic>,
    /// The last `BindNetworkInterface=` that was ignored (invalid name, bad specifier) since
    /// the last reset. With no valid value left, the unit asked for a binding it cannot have:
    /// v260 starts it unbound, `X-BindNetworkInterface-FailClosed=yes` refuses.
    pub rejected: Option<Source>,
}

impl BindEval {
    /// No key set: every setting at its default.
    pub fn unset() -> BindEval {
        BindEval {
            interface: Setting::default_with(None),
            fail_closed: Setting::default_with(false),
            wait: Setting::default_with(TimeSpan::Finite(Duration::ZERO)),
            verify: Setting::default_with(false),
            follow: Setting::default_with(None),
            diagnostics: Vec::new(),
            rejected: None,
        }
    }
}

pub const KEY_BIND: &str = "BindNetworkInterface";
pub const KEY_FAIL_CLOSED: &str = "X-BindNetworkInterface-FailClosed";
pub const KEY_WAIT: &str = "X-BindNetworkInterface-WaitSec";
pub const KEY_VERIFY: &str = "X-BindNetworkInterface-Verify";
pub const KEY_FOLLOW: &str = "X-BindNetworkInterface-Follow";

/// `parse_boolean()` (src/basic/parse-util.c): case-insensitive `1 yes y true t on` /
/// `0 no n false f off`.
pub fn parse_boolean(v: &str) -> Option<bool> {
    let l = v.to_ascii_lowercase();
    match l.as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

const USEC_PER_SEC: f64 = 1e6;

/// Suffixes of `parse_time()` (src/basic/time-util.c), longest first where they share a start,
/// with their length in seconds.
const TIME_UNITS: &[(&str, f64)] = &[
    ("seconds", 1.0),
    ("second", 1.0),
    ("sec", 1.0),
    ("s", 1.0),
    ("minutes", 60.0),
    ("minute", 60.0),
    ("min", 60.0),
    ("months", 2_629_800.0),
    ("month", 2_629_800.0),
    ("M", 2_629_800.0),
    ("msec", 1e-3),
    ("ms", 1e-3),
    ("m", 60.0),
    ("hours", 3600.0),
    ("hour", 3600.0),
    ("hr", 3600.0),
    ("h", 3600.0),
    ("days", 86400.0),
    ("day", 86400.0),
    ("d", 86400.0),
    ("weeks", 604_800.0),
    ("week", 604_800.0),
    ("w", 604_800.0),
    ("years", 31_557_600.0),
    ("year", 31_557_600.0),
    ("y", 31_557_600.0),
    ("usec", 1e-6),
    ("us", 1e-6),
    ("μs", 1e-6),
    ("µs", 1e-6),
];

/// `parse_sec()`: `infinity`, or one or more `NUMBER[UNIT]` parts (seconds by default), e.g.
/// `10`, `10s`, `1min 30s`, `1.5h`, `2min30s`.
pub fn parse_timespan(v: &str) -> Option<TimeSpan> {
    let s = v.trim_matches([' ', '\t', '\n', '\r']);
    if s == "infinity" {
        return Some(TimeSpan::Infinity);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total_usec: f64 = 0.0;
    let mut something = false;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('-') {
            return None;
        }
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..n_end];
        // parse_time(): an integer part, then optionally "." and at least one digit.
        let (int, frac) = num.split_once('.').unwrap_or((num, "1"));
        if num.is_empty()
            || frac.is_empty()
            || frac.contains('.')
            || (int.is_empty() && frac.is_empty())
        {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = rest[n_end..].trim_start_matches([' ', '\t', '\n', '\r']);
        let mut mult = 1.0;
        for (suffix, secs) in TIME_UNITS {
            if let Some(r) = rest.strip_prefix(suffix) {
                mult = *secs;
                rest = r;
                break;
            }
        }
        total_usec += value * mult * USEC_PER_SEC;
        something = true;
        if !total_usec.is_finite() || total_usec >= u64::MAX as f64 {
            return None;
        }
    }
    if !something {
        return None;
    }
    Some(TimeSpan::Finite(Duration::from_micros(
        total_usec.round() as u64
    )))
}

/// v262's warning for a value whose specifiers do not expand: the raw value as written, unquoted
/// (`log_syntax(…, "Failed to resolve unit specifiers in %s, ignoring: %m", rvalue)`).
fn unresolvable_message(value: &str, e: &specifier::SpecifierError) -> String {
    format!("Failed to resolve unit specifiers in {value}, ignoring: {e}")
}

/// v262's warning for an expanded value that is no valid interface name: the value as it is,
/// so one that expanded to nothing leaves the line ending in "ignoring: ", trailing space
/// included. Only control characters are written as `\xNN`: PID 1 logs over the journal's
/// native protocol, where a newline stays inside the record, but our line goes through the
/// stdout stream, where it would start a second, forged record.
fn invalid_name_message(expanded: &str) -> String {
    format!(
        "Invalid interface name, ignoring: {}",
        crate::log::escape_control(expanded)
    )
}

/// One non-empty `BindNetworkInterface=` value: expanded and valid (`Ok`), or the warning v262
/// gives when it ignores it. A value that expands to "" (e.g. %i in a non-template unit) is not
/// a reset: it fails validation like any other bad name, and the previous value stays.
pub fn evaluate_bind_value(v: &str, spec: &SpecifierContext<'_>) -> Result<String, String> {
    let k = specifier::expand(v, spec).map_err(|e| unresolvable_message(v, &e))?;
    if !ifname::valid_alternative(&k) {
        return Err(invalid_name_message(&k));
    }
    Ok(k)
}

/// Evaluates `BindNetworkInterface=` and the policy keys in the unit's own cgroup section.
pub fn evaluate_bind(unit: &LoadedUnit, ctx: &EvalContext<'_>) -> BindEval {
    let mut r = BindEval::unset();
    let Some(section) = cgroup_section(&unit.name) else {
        return r;
    };
    for a in unit.assignments.iter().filter(|a| &*a.section == section) {
        let v = a.value.as_str();
        match a.key.as_str() {
            KEY_BIND => {
                if v.is_empty() {
                    // An empty assignment resets.
                    r.interface = Setting::default_with(None);
                    r.rejected = None;
                    continue;
                }
                let k = match evaluate_bind_value(v, &ctx.spec) {
                    Ok(k) => k,
                    Err(message) => {
                        r.diagnostics.push(diag(&a.source, message));
                        r.rejected = Some(a.source.clone());
                        continue;
                    }
                };
                r.interface = Setting {
                    value: Some(k),
                    source: Some(a.source.clone()),
                };
            }
            KEY_FAIL_CLOSED | KEY_VERIFY => {
                let target = if a.key == KEY_FAIL_CLOSED {
                    &mut r.fail_closed
                } else {
                    &mut r.verify
                };
                if v.is_empty() {
                    *target = Setting::default_with(false);
                } else if let Some(b) = parse_boolean(v) {
                    *target = Setting {
                        value: b,
                        source: Some(a.source.clone()),
                    };
                } else {
                    r.diagnostics.push(diag(
                        &a.source,
                        format!("Failed to parse boolean value, ignoring: {v}"),
                    ));
                }
            }
            KEY_FOLLOW => {
                if v.is_empty() {
                    r.follow = Setting::default_with(None);
                } else if let Some(b) = parse_boolean(v) {
                    r.follow = Setting {
                        value: Some(b),
                        source: Some(a.source.clone()),
                    };
                } else {
                    r.diagnostics.push(diag(
                        &a.source,
                        format!("Failed to parse boolean value, ignoring: {v}"),
                    ));
                }
            }
            KEY_WAIT => {
                if v.is_empty() {
                    r.wait = Setting::default_with(TimeSpan::Finite(Duration::ZERO));
                } else if let Some(t) = parse_timespan(v) {
                    r.wait = Setting {
                        value: t,
                        source: Some(a.source.clone()),
                    };
                } else {
                    r.diagnostics.push(diag(
                        &a.source,
                        format!("Failed to parse sec value, ignoring: {v}"),
                    ));
                }
            }
            _ => {}
        }
    }
    r
}

/// One command of the effective `ExecStart=`, with the assignment it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedCommand {
    pub command: ExecCommand,
    pub source: Source,
}

/// The effective `ExecStart=` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStartEval {
    pub commands: Vec<SourcedCommand>,
    pub diagnostics: Vec<Diagnostic>,
    /// systemd would refuse to load the unit (`-ENOEXEC` from `config_parse_exec()`).
    pub bad_setting: bool,
}

fn exec_start_assignments(unit: &LoadedUnit) -> Vec<&super::Assignment> {
    unit.values("Service", "ExecStart").collect()
}

fn fold_exec<'u>(
    assignments: impl Iterator<Item = &'u super::Assignment>,
    ctx: &EvalContext<'_>,
) -> ExecStartEval {
    let opts = ExecParseOptions {
        systemd_version: ctx.systemd_version,
    };
    let mut r = ExecStartEval {
        commands: Vec::new(),
        diagnostics: Vec::new(),
        bad_setting: false,
    };
    for a in assignments {
        if a.value.is_empty() {
            // "An empty assignment resets the list"
            r.commands.clear();
            continue;
        }
        let p = exec::parse_exec(&a.value, &ctx.spec, opts);
        for m in p.messages {
            r.diagnostics.push(diag(&a.source, m.text));
        }
        r.commands
            .extend(p.commands.into_iter().map(|command| SourcedCommand {
                command,
                source: a.source.clone(),
            }));
        if p.outcome == ExecOutcome::BadSetting {
            r.bad_setting = true;
        }
    }
    r
}

/// The unit's effective `ExecStart=` exactly as systemd computes it (launcher lines included).
pub fn evaluate_exec_start(unit: &LoadedUnit, ctx: &EvalContext<'_>) -> ExecStartEval {
    fold_exec(exec_start_assignments(unit).into_iter(), ctx)
}

/// Why the launcher cannot determine or run the unit's real command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Only services have `ExecStart=`.
    NotAService(String),
    /// systemd would not load the unit: an `ExecStart=` line is invalid.
    BadSetting(Vec<Diagnostic>),
    /// Nothing is left once the launcher's own lines are taken out.
    NoCommand,
    /// More than one command (allowed by systemd only for `Type=oneshot`).
    SeveralCommands(usize),
    /// A prefix the launcher cannot honour from inside the unit (`+`, `!`, `!!`, `|`).
    UnsupportedPrefix {
        prefix: String,
        source: Option<Source>,
    },
    /// The command line decodes to bytes that are not UTF-8 (from `\x` escapes).
    NotUtf8,
    /// The command expands an environment variable whose value is not UTF-8 (a PAM
    /// environment can carry such bytes); bindif-launch cannot reproduce systemd's byte-exact
    /// expansion of it.
    EnvNotUtf8(String),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::NotAService(u) => {
                write!(f, "{u} is not a service unit, it has no ExecStart=")
            }
            DiscoveryError::BadSetting(d) => {
                write!(f, "the unit's ExecStart= is invalid, systemd refuses to load it")?;
                for d in d {
                    write!(f, "\n{}", format_diagnostic(d))?;
                }
                Ok(())
            }
            DiscoveryError::NoCommand => write!(
                f,
                "no ExecStart= command is left besides bindif-launch's own line; give the command after \"--\""
            ),
            DiscoveryError::SeveralCommands(n) => write!(
                f,
                "the unit has {n} ExecStart= commands (Type=oneshot); bindif-launch can stand in for exactly one, give it after \"--\""
            ),
            DiscoveryError::NotUtf8 => write!(
                f,
                "the unit's command line contains escaped bytes that are not UTF-8, which bindif-launch cannot pass on; give the command after \"--\""
            ),
            DiscoveryError::EnvNotUtf8(name) => write!(
                f,
                "the command expands ${name}, whose value is not valid UTF-8, which bindif-launch cannot pass on as systemd would; give the command after \"--\""
            ),
            DiscoveryError::UnsupportedPrefix { prefix, source } => {
                if let Some(s) = source {
                    write!(f, "{}:{}: ", s.file.display(), s.line)?;
                }
                write!(
                    f,
                    "the \"{prefix}\" prefix of ExecStart= cannot be honoured: bindif-launch runs inside the unit with its credentials and sandbox already applied; use the attach-only form (ExecStartPre=+bindif-launch --attach) instead"
                )
            }
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// The result of [`discover_exec_start_full`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub commands: Vec<SourcedCommand>,
    /// The assignments left out: the launcher's lines and the resets before them.
    pub skipped: Vec<Source>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Discovery with the sources and warnings kept: the effective `ExecStart=` computed as systemd
/// does, but with every assignment that runs the launcher (a command whose executable
/// `is_launcher` recognizes) left out, together with the reset (`ExecStart=` with an empty
/// value) that is the closest earlier `ExecStart=` in the same file.
pub fn discover_exec_start_full(
    unit: &LoadedUnit,
    ctx: &EvalContext<'_>,
    is_launcher: &dyn Fn(&str) -> bool,
) -> Result<Discovery, DiscoveryError> {
    if name::unit_type(&unit.name) != Some("service") {
        return Err(DiscoveryError::NotAService(unit.name.clone()));
    }
    let all = exec_start_assignments(unit);
    let opts = ExecParseOptions {
        systemd_version: ctx.systemd_version,
    };
    let mut skip = vec![false; all.len()];
    for (i, a) in all.iter().enumerate() {
        if a.value.is_empty() {
            continue;
        }
        let p = exec::parse_exec(&a.value, &ctx.spec, opts);
        let launcher = p
            .commands
            .iter()
            .any(|c| is_launcher(&c.path) || c.argv.first().is_some_and(|a0| is_launcher(a0)));
        if !launcher {
            continue;
        }
        skip[i] = true;
        if let Some(j) = (0..i).rev().find(|&j| all[j].source.file == a.source.file) {
            if all[j].value.is_empty() {
                skip[j] = true;
            }
        }
    }
    let kept = all.iter().zip(&skip).filter(|(_, s)| !**s).map(|(a, _)| *a);
    let r = fold_exec(kept, ctx);
    if r.bad_setting {
        return Err(DiscoveryError::BadSetting(r.diagnostics));
    }
    Ok(Discovery {
        commands: r.commands,
        skipped: all
            .iter()
            .zip(&skip)
            .filter(|(_, s)| **s)
            .map(|(a, _)| a.source.clone())
            .collect(),
        diagnostics: r.diagnostics,
    })
}

/// The commands the launcher must run in its place, prefixes parsed, specifiers expanded,
/// `$VAR` not yet expanded (see [`super::env::expand_env`]). May be empty or hold several commands: the
/// caller decides, e.g. with [`single_command`].
pub fn discover_exec_start(
    unit: &LoadedUnit,
    ctx: &EvalContext<'_>,
    is_launcher: &dyn Fn(&str) -> bool,
) -> Result<Vec<ExecCommand>, DiscoveryError> {
    Ok(discover_exec_start_full(unit, ctx, is_launcher)?
        .commands
        .into_iter()
        .map(|c| c.command)
        .collect())
}

/// The one command the launcher can exec, refusing none, several, prefixes it cannot honour
/// from inside the unit (`+`, `!`, `!!`, `|`; `@`, `-` and `:` are fine) and non-UTF-8 argv.
pub fn single_command(commands: &[ExecCommand]) -> Result<&ExecCommand, DiscoveryError> {
    match commands {
        [] => Err(DiscoveryError::NoCommand),
        [c] => {
            check_prefixes(c, None)?;
            Ok(c)
        }
        _ => Err(DiscoveryError::SeveralCommands(commands.len())),
    }
}

/// Refuses the prefixes the launcher cannot honour.
pub fn check_prefixes(c: &ExecCommand, source: Option<&Source>) -> Result<(), DiscoveryError> {
    if c.not_utf8 {
        return Err(DiscoveryError::NotUtf8);
    }
    let bad = [
        (c.flags.privileged, "+"),
        (c.flags.no_setuid, "!"),
        (c.flags.ambient, "!!"),
        (c.flags.via_shell, "|"),
    ];
    if let Some((_, p)) = bad.iter().find(|(on, _)| *on) {
        return Err(DiscoveryError::UnsupportedPrefix {
            prefix: p.to_string(),
            source: source.cloned(),
        });
    }
    Ok(())
}

/// The directory, inside the generator's output directory, of the links to the launcher named
/// after the executables of the commands it wraps (see `cmd::generator::quote`).
pub const EXEC_LINK_DIR: &str = "bindif-launch-exec";

/// The usual `is_launcher` test: the executable's file name is `bindif-launch`, or the path is
/// one of the generator's links to it (`GENERATOR_DIR/bindif-launch-exec/NAME`, in one of the
/// directories systemd runs generators with). A `bindif-launch-exec` directory anywhere else is
/// the user's own: its programs are no launcher, and must be wrapped like any other.
pub fn is_bindif_launch(path: &str) -> bool {
    path.rsplit('/').next() == Some("bindif-launch") || is_exec_link(path)
}

/// Whether `path` is `GENERATOR_DIR/bindif-launch-exec/NAME` for one of [`GENERATOR_DIRS`].
fn is_exec_link(path: &str) -> bool {
    GENERATOR_DIRS.iter().any(|dir| {
        path.strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_prefix(EXEC_LINK_DIR))
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
    })
}

/// The variables a service's `Environment=` lines set (`config_parse_environ()` in
/// src/core/load-fragment.c), in the order systemd's environment block gets them: each value is
/// split into words (quotes removed, C escapes decoded), specifiers expanded per word, and each
/// word that is a valid `NAME=value` assignment replaces an earlier one of that name; an empty
/// value resets the list. Words systemd ignores (bad syntax, unknown specifiers, no valid name)
/// are ignored here too. What `EnvironmentFile=`, `PassEnvironment=` and the manager add at run
/// time is not known here.
pub fn evaluate_environment(unit: &LoadedUnit, ctx: &EvalContext<'_>) -> Vec<(String, String)> {
    let Some(section) = cgroup_section(&unit.name) else {
        return Vec::new();
    };
    let flags = ExtractFlags {
        unquote: true,
        cunescape: true,
        ..ExtractFlags::default()
    };
    let mut env: Vec<(String, String)> = Vec::new();
    for a in unit.values(section, "Environment") {
        if a.value.is_empty() {
            env.clear();
            continue;
        }
        let mut pos = Some(0);
        // A syntax error ends the line; the words before it stay (systemd returns 0 there).
        while let Ok(Some(word)) = extract_first_word(a.value.as_bytes(), &mut pos, flags) {
            let Ok(word) = String::from_utf8(word) else {
                continue;
            };
            let Ok(word) = specifier::expand(&word, &ctx.spec) else {
                continue;
            };
            let Some((k, v)) = word.split_once('=') else {
                continue;
            };
            if !env_name_is_valid(k) {
                continue;
            }
            env.retain(|(n, _)| n != k);
            env.push((k.to_string(), v.to_string()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["1", "yes", "Y", "TRUE", "t", "On"] {
            assert_eq!(parse_boolean(t), Some(true), "{t}");
        }
        for f in ["0", "no", "N", "false", "F", "OFF"] {
            assert_eq!(parse_boolean(f), Some(false), "{f}");
        }
        for x in ["", "2", "yess", "enable", " yes"] {
            assert_eq!(parse_boolean(x), None, "{x}");
        }
    }

    #[test]
    fn timespans() {
        let s = |n: u64| Some(TimeSpan::Finite(Duration::from_secs(n)));
        assert_eq!(parse_timespan("10"), s(10));
        assert_eq!(parse_timespan("10s"), s(10));
        assert_eq!(parse_timespan("1min 30s"), s(90));
        assert_eq!(parse_timespan("1min30s"), s(90));
        assert_eq!(parse_timespan("2h"), s(7200));
        assert_eq!(parse_timespan("1 week"), s(604_800));
        assert_eq!(
            parse_timespan("1.5s"),
            Some(TimeSpan::Finite(Duration::from_millis(1500)))
        );
        assert_eq!(
            parse_timespan("500ms"),
            Some(TimeSpan::Finite(Duration::from_millis(500)))
        );
        assert_eq!(parse_timespan("infinity"), Some(TimeSpan::Infinity));
        for bad in ["", "-1", "abc", "5 parsecs", "1..2s", "s"] {
            assert_eq!(parse_timespan(bad), None, "{bad}");
        }
    }

    /// The warnings evaluating one `BindNetworkInterface=VALUE` line of `x.service` logs, in
    /// the launcher's `FILE:LINE: message` form.
    fn bind_warnings(value: &str) -> Vec<String> {
        let unit = LoadedUnit {
            name: "x.service".into(),
            assignments: vec![super::super::Assignment {
                section: "Service".into(),
                key: KEY_BIND.into(),
                value: value.into(),
                source: Source {
                    file: std::path::Path::new("/etc/systemd/system/x.service").into(),
                    line: 2,
                },
            }]
            .into(),
            ..LoadedUnit::default()
        };
        let host = specifier::HostFacts::default();
        let ctx = EvalContext::new(SpecifierContext::new("x.service", &host), 262);
        let r = evaluate_bind(&unit, &ctx);
        r.diagnostics.iter().map(format_diagnostic).collect()
    }

    #[test]
    fn unknown_specifier_warning_names_the_value_unquoted() {
        assert_eq!(
            bind_warnings("mg%zmt"),
            ["/etc/systemd/system/x.service:2: Failed to resolve unit specifiers in mg%zmt, ignoring: Invalid slot"]
        );
    }

    #[test]
    fn invalid_name_warning_prints_the_value_as_it_is() {
        // Quotes, spaces and a would-be comment are part of the value (v262 keeps them).
        assert_eq!(
            bind_warnings("\"mg mt\" # x"),
            ["/etc/systemd/system/x.service:2: Invalid interface name, ignoring: \"mg mt\" # x"]
        );
        // The expanded value, not the raw one.
        assert_eq!(
            bind_warnings("a%%b"),
            ["/etc/systemd/system/x.service:2: Invalid interface name, ignoring: a%b"]
        );
    }

    #[test]
    fn invalid_name_warning_keeps_its_trailing_space_when_the_value_expanded_to_nothing() {
        // %i of a non-template unit is "".
        let w = bind_warnings("%i");
        assert_eq!(
            w,
            ["/etc/systemd/system/x.service:2: Invalid interface name, ignoring: "]
        );
        assert!(w[0].ends_with("ignoring: "));
    }

    #[test]
    fn invalid_name_warning_escapes_only_control_characters() {
        // `%I` of `tmpl@a\x0ab.service` expands to a newline: written as `\x0a`, never raw.
        assert_eq!(
            invalid_name_message("a\nb"),
            "Invalid interface name, ignoring: a\\x0ab"
        );
        assert_eq!(
            invalid_name_message("vrf/mgmt-ä"),
            "Invalid interface name, ignoring: vrf/mgmt-ä"
        );
    }

    #[test]
    fn launcher_names() {
        assert!(is_bindif_launch("/usr/lib/bindif-launch"));
        assert!(is_bindif_launch("bindif-launch"));
        assert!(!is_bindif_launch("/usr/lib/bindif-launcher"));
        assert!(is_bindif_launch(
            "/run/systemd/generator/bindif-launch-exec/chronyd"
        ));
        assert!(!is_bindif_launch("bindif-launch-exec/chronyd"));
        assert!(!is_bindif_launch(
            "/run/systemd/generator/bindif-launch-exec/"
        ));
        assert!(!is_bindif_launch("/run/bindif-launch-exec-x/chronyd"));
        for dir in GENERATOR_DIRS {
            assert!(
                is_bindif_launch(&format!("{dir}/bindif-launch-exec/d")),
                "{dir}"
            );
        }
        // A directory of that name anywhere else is the user's own.
        for other in [
            "/opt/x/bindif-launch-exec/daemon",
            "/run/bindif-launch-exec/daemon",
            "/run/systemd/generator.x/bindif-launch-exec/daemon",
            "/run/systemd/generator/x/bindif-launch-exec/daemon",
            "/run/systemd/generator/bindif-launch-exec/sub/daemon",
            "/x/run/systemd/generator/bindif-launch-exec/daemon",
        ] {
            assert!(!is_bindif_launch(other), "{other}");
        }
    }
}
