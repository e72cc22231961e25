// SPDX-License-Identifier: LGPL-2.1-or-later
//! The pure core of the generator: loaded units, the cgroup layout and the systemd version in;
//! the drop-ins to write (relative to the output directory), the messages to log and the checks
//! to run after writing out. No file system access: the fixture tests compare it with expected
//! trees.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::attach::{attach_step, reading_line};
use super::parallel::map_ordered;
use super::quote::{journal_identity, wrap_line_with, Launchers, WrapError};
use super::socket::{self, legacy_listeners, Listeners};
use super::units::load_name;
use super::{DROPIN_NAME, NATIVE_SINCE, PROGRAM, TEMPLATE_PLACEHOLDER};
use crate::cgroup_path::Layout;
use crate::log::Level;
use crate::unit::eval::format_diagnostic;
use crate::unit::eval::{cgroup_section, KEY_BIND};
use crate::unit::exec::keys as exec_keys;
use crate::unit::load::UnitLoadError;
use crate::unit::name::{self, Kind};
use crate::unit::specifier::{HostSource, SpecifierContext};
use crate::unit::{effective_list, Assignment, LoadedUnit};

/// The attach step in the form that reads the unit at start (hand-written units, and what the
/// generator writes when it cannot pass the values on exactly; see `attach.rs`).
pub fn attach_line() -> String {
    reading_line()
}

/// How the binding reaches the unit's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Unified and hybrid hosts: one attach step on the unit's cgroup covers every later process.
    Attach,
    /// Legacy hosts: systemd puts no unit into cgroup2, so each command runs through the launcher.
    Wrap,
}

impl Strategy {
    pub fn for_layout(layout: &Layout) -> Strategy {
        match layout {
            Layout::Legacy => Strategy::Wrap,
            _ => Strategy::Attach,
        }
    }
}

/// A name found in the search path and what loading it gave.
#[derive(Debug, Clone)]
pub struct Input {
    /// The name as found (`foo@.service` for a template).
    pub name: String,
    pub unit: Result<LoadedUnit, UnitLoadError>,
}

/// One generated file, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    pub path: PathBuf,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub level: Level,
    pub text: String,
}

/// What the verification after writing checks: loading `load_name`, the effective `key` list of
/// `section` must start with `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub unit: String,
    pub load_name: String,
    pub section: String,
    pub key: String,
    pub first: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub files: Vec<GenFile>,
    pub messages: Vec<Message>,
    pub checks: Vec<Check>,
    /// The links to the launcher the wrapped commands run, by file name (see `quote.rs`).
    pub links: BTreeSet<String>,
}

impl Plan {
    fn msg(&mut self, level: Level, text: String) {
        self.messages.push(Message { level, text });
    }
}

/// Whether the unit's effective configuration carries a non-reset `BindNetworkInterface=`: the
/// raw values are enough (the attach step validates and expands them at start, per instance).
pub(crate) fn carries_key(u: &LoadedUnit, section: &str) -> bool {
    !effective_list(u.values(section, KEY_BIND)).is_empty()
}

fn file_name_of(p: &Path) -> &str {
    p.file_name().and_then(|s| s.to_str()).unwrap_or("")
}

/// Where an assignment's file sorts relative to our drop-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Before,
    Same,
    After,
}

fn position(u: &LoadedUnit, a: &Assignment) -> Pos {
    if u.fragment.as_deref() == Some(&*a.source.file) {
        return Pos::Before;
    }
    match file_name_of(&a.source.file)
        .as_bytes()
        .cmp(DROPIN_NAME.as_bytes())
    {
        std::cmp::Ordering::Less => Pos::Before,
        std::cmp::Ordering::Equal => Pos::Same,
        std::cmp::Ordering::Greater => Pos::After,
    }
}

/// The generated drop-in of one unit before its header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UnitPlan {
    body: String,
    notes: Vec<String>,
    /// Warnings about the unit's values, in systemd's words (`FILE:LINE: …`).
    warnings: Vec<String>,
    checks: Vec<(String, String)>,
    /// Legacy host, a socket unit without commands: the drop-in only binds its listeners.
    listeners_only: bool,
    links: BTreeSet<String>,
}

/// Why a unit that needs a drop-in gets none (it is logged as skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Someone else's drop-in of the unit has our file name.
    OwnFileNameTaken(PathBuf),
    /// One of the unit's commands cannot run through the launcher.
    NotWrappable {
        file: PathBuf,
        line: usize,
        key: &'static str,
        value: String,
        why: WrapError,
    },
    /// Legacy host, and nothing to run through the launcher.
    NothingToWrap,
    /// Legacy host, a socket unit without commands whose listeners cannot be bound (why).
    ListenersUnbindable(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::OwnFileNameTaken(d) => write!(
                f,
                "{} is a drop-in of the unit under our own file name; remove it (a higher-priority copy would replace the generated one)",
                d.display()
            ),
            Skip::NotWrappable {
                file,
                line,
                key,
                value,
                why,
            } => write!(
                f,
                "{}:{line}: {key}={value} cannot be wrapped with the launcher: {why}",
                file.display()
            ),
            Skip::NothingToWrap => f.write_str("the unit has no Exec*= command to wrap"),
            Skip::ListenersUnbindable(why) => write!(
                f,
                "its listeners cannot be bound on this legacy cgroup host: {why}"
            ),
        }
    }
}

/// Decides the drop-in of one loaded unit: `Ok(None)` when it needs none, `Err` when it needs
/// one that cannot be written (the reason).
fn unit_plan(
    u: &LoadedUnit,
    strategy: Strategy,
    find_executable: FindExecutable,
    launchers: &Launchers,
    host: HostSource<'_>,
) -> Result<Option<UnitPlan>, Skip> {
    let Some(section) = cgroup_section(&u.name) else {
        return Ok(None);
    };
    if !carries_key(u, section) {
        return Ok(None);
    }
    if let Some(d) = u.dropins.iter().find(|d| file_name_of(d) == DROPIN_NAME) {
        return Err(Skip::OwnFileNameTaken(d.clone()));
    }
    let mut notes = Vec::new();
    // Room for the section, the attach step and a few commands: growing a small string line
    // by line reallocated it several times per unit.
    let mut body = String::with_capacity(512);
    body.push('[');
    body.push_str(section);
    body.push_str("]\n");
    let mut checks = Vec::new();
    let mut links = BTreeSet::new();
    let fragment = u
        .fragment
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    let ctx = SpecifierContext {
        unit: &u.name,
        fragment_path: fragment.as_deref(),
        slice_cgroup: None,
        host,
    };
    let step = attach_step(u, section, &ctx);
    let warnings = step.diagnostics.iter().map(format_diagnostic).collect();
    let attach = step.line;
    // The attach step runs first, before any other command of the unit: in `ExecCondition=`
    // when the unit uses it (it runs before `ExecStartPre=`).
    let cond_in_use =
        section == "Service" && !effective_list(u.values(section, "ExecCondition")).is_empty();
    let attach_key = if cond_in_use {
        "ExecCondition"
    } else {
        "ExecStartPre"
    };
    match strategy {
        Strategy::Attach => {
            let key = attach_key;
            let before = effective_list(
                u.values(section, key)
                    .filter(|a| position(u, a) == Pos::Before),
            );
            for a in u
                .values(section, key)
                .filter(|a| position(u, a) == Pos::After)
            {
                if a.value.is_empty() {
                    notes.push(format!(
                        "cannot guarantee that the attach step runs first: {} (line {}) resets {key}= after this drop-in",
                        a.source.file.display(),
                        a.source.line
                    ));
                }
            }
            push_line(&mut body, key, "");
            push_line(&mut body, key, &attach);
            for a in before {
                push_line(&mut body, key, &a.value);
            }
            checks.push((key.to_string(), attach.clone()));
        }
        Strategy::Wrap => {
            body.insert_str(0, ENTER_SOCKET_DEPS);
            // Every command the unit runs, wrapped here or not, and its own SyslogIdentifier=.
            let own = u.values(section, "SyslogIdentifier").last();
            let own = own.map(|a| a.value.as_str());
            let commands: Vec<&str> = exec_keys(section)
                .iter()
                .flat_map(|k| effective_list(u.values(section, k)))
                .map(|a| a.value.as_str())
                .collect();
            let launchers = launchers_for(u, section, launchers);
            // Each command linked under its own name is logged as without the launcher.
            if !launchers.cover(&commands) {
                body.push_str(&journal_identity(own, &commands).dropin_lines());
            }
            // The privileged part (mount, mirror cgroup, program) is a `+` step outside the
            // unit's sandbox, syscall filter and capability set; the wrapped commands only
            // enter the mirror it prepared.
            let mut wrapped = 0;
            for key in exec_keys(section) {
                let attach_first = *key == attach_key;
                let before = effective_list(
                    u.values(section, key)
                        .filter(|a| position(u, a) == Pos::Before),
                );
                for a in u
                    .values(section, key)
                    .filter(|a| position(u, a) == Pos::After)
                {
                    notes.push(format!(
                        "cannot guarantee that every command is bound: {} (line {}) sets {key}= after this drop-in and its commands are not wrapped",
                        a.source.file.display(),
                        a.source.line
                    ));
                }
                if before.is_empty() && !attach_first {
                    continue;
                }
                let mut lines = Vec::new();
                if attach_first {
                    lines.push(attach.clone());
                }
                for a in before {
                    let w =
                        wrap_line_with(&a.value, find_executable, &launchers).map_err(|why| {
                            Skip::NotWrappable {
                                file: a.source.file.to_path_buf(),
                                line: a.source.line,
                                key,
                                value: a.value.clone(),
                                why,
                            }
                        })?;
                    links.extend(w.links);
                    lines.push(w.line);
                    wrapped += 1;
                }
                push_line(&mut body, key, "");
                for l in &lines {
                    push_line(&mut body, key, l);
                }
                checks.push((key.to_string(), lines[0].clone()));
            }
            let listeners = if section == "Socket" {
                legacy_listeners(u, &ctx)
            } else {
                Listeners::Nothing
            };
            if wrapped == 0 {
                // A socket unit without commands of its own: only its listeners to bind.
                return match listeners {
                    Listeners::Device(_) | Listeners::Own(_) => Ok(Some(UnitPlan {
                        body: format!("[{section}]\n{}", socket::dropin_lines(&listeners)),
                        notes: later_device_resets(u, &listeners),
                        warnings,
                        checks: Vec::new(),
                        listeners_only: true,
                        links: BTreeSet::new(),
                    })),
                    Listeners::Unbindable(why) => Err(Skip::ListenersUnbindable(why)),
                    Listeners::Nothing => Err(Skip::NothingToWrap),
                };
            }
            if let Some(why) = unbindable_on_legacy(u, section) {
                notes.push(format!("cannot be bound on this legacy cgroup host: {why}"));
            }
            if let Listeners::Unbindable(why) = &listeners {
                notes.push(format!(
                    "its listeners cannot be bound on this legacy cgroup host: {why}"
                ));
            }
            notes.extend(later_device_resets(u, &listeners));
            body.push_str(&socket::dropin_lines(&listeners));
        }
    }
    Ok(Some(UnitPlan {
        body,
        notes,
        warnings,
        checks,
        listeners_only: false,
        links,
    }))
}

/// A unit's drop-in as decided, with the file and the checks it gives if it is written: built
/// beside the decision on the planning threads, so that the ordered pass that compares
/// instances with their templates only moves them.
struct Ready {
    plan: UnitPlan,
    file: GenFile,
    checks: Vec<Check>,
}

impl Ready {
    fn new(n: &str, strategy: Strategy, x: UnitPlan) -> Ready {
        let file = GenFile {
            path: dropin_path(n),
            content: with_header(n, strategy, x.listeners_only, &x.notes, &x.body),
        };
        let checks = x
            .checks
            .iter()
            .map(|(key, first)| Check {
                unit: n.to_string(),
                load_name: load_name(n),
                section: cgroup_section(n).unwrap_or("Service").to_string(),
                key: key.clone(),
                first: first.clone(),
            })
            .collect();
        Ready {
            plan: x,
            file,
            checks,
        }
    }
}

/// Appends the line `KEY=VALUE`.
fn push_line(body: &mut String, key: &str, value: &str) {
    body.push_str(key);
    body.push('=');
    body.push_str(value);
    body.push('\n');
}

/// Notes about files sorting after the generated drop-in that reset the `BindToDevice=` it sets
/// (a valid value there would be the unit's own, which is kept; an invalid one is ignored).
fn later_device_resets(u: &LoadedUnit, listeners: &Listeners) -> Vec<String> {
    if !matches!(listeners, Listeners::Device(_)) {
        return Vec::new();
    }
    u.values("Socket", socket::KEY_DEVICE)
        .filter(|a| position(u, a) == Pos::After && socket::resets(&a.value))
        .map(|a| {
            format!(
                "cannot guarantee that the listeners are bound: {} (line {}) sets {}={} after this drop-in",
                a.source.file.display(),
                a.source.line,
                socket::KEY_DEVICE,
                a.value
            )
        })
        .collect()
}

/// Why the wrapped commands of a unit cannot be moved into the mirror cgroup its attach step
/// prepares on a legacy host, if they cannot. A command that may not move itself (another user,
/// `ProtectSystem=strict`) asks the enter service through `/run/bindif-launch/enter`; a unit
/// that hides that FIFO from its commands cannot ask. Only the cheap, certain cases are named:
/// `InaccessiblePaths=` or `TemporaryFileSystem=` on the FIFO or a directory above it.
fn unbindable_on_legacy(u: &LoadedUnit, section: &str) -> Option<String> {
    if section != "Service" && section != "Socket" {
        return None;
    }
    for key in ["InaccessiblePaths", "TemporaryFileSystem"] {
        let hidden = effective_list(u.values(section, key))
            .iter()
            .flat_map(|a| {
                a.value
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .find(|entry| hides_enter_fifo(key, entry));
        if let Some(entry) = hidden {
            return Some(format!(
                "it sets {key}={entry}, which hides {ENTER_FIFO} from its commands, so those that may not move themselves cannot ask to be bound"
            ));
        }
    }
    None
}

/// The links `u`'s commands may run: none when the unit's sandbox may hide them from its
/// commands (the command would fail to execute where it ran before), as far as cheaply known:
/// another root, or a path setting over the links' directory.
fn launchers_for(u: &LoadedUnit, section: &str, launchers: &Launchers) -> Launchers {
    let Some(dir) = launchers.dir() else {
        return Launchers::plain();
    };
    let set = |key: &str| !effective_list(u.values(section, key)).is_empty();
    let hidden = set("RootDirectory")
        || set("RootImage")
        || [
            "InaccessiblePaths",
            "TemporaryFileSystem",
            "BindPaths",
            "BindReadOnlyPaths",
        ]
        .iter()
        .any(|key| {
            effective_list(u.values(section, key))
                .iter()
                .flat_map(|a| a.value.split_whitespace())
                .any(|entry| hides(key, entry, dir))
        });
    if hidden {
        Launchers::plain()
    } else {
        launchers.clone()
    }
}

/// The FIFO through which wrapped commands ask the enter service (see `launch::enter`).
const ENTER_FIFO: &str = crate::cmd::launch::enter::ENTER_FIFO;

/// Whether one entry of `InaccessiblePaths=` (`-`/`+` prefixes) or `TemporaryFileSystem=`
/// (`PATH[:OPTIONS]`) covers [`ENTER_FIFO`]: names it or a directory above it.
fn hides_enter_fifo(key: &str, entry: &str) -> bool {
    hides(key, entry, ENTER_FIFO)
}

/// Whether one entry of `key` (as [`hides_enter_fifo`] reads them; `BindPaths=` and
/// `BindReadOnlyPaths=` as `[-]SRC[:DEST[:OPTIONS]]`, mounted on DEST) covers `target`, an
/// absolute normalised path below `/run`. Conservative: an entry is taken to cover it unless
/// its path is plainly known, since a command whose link is hidden fails to execute at all. So
/// an entry with a specifier other than `%t` (`/run`), an escaped `:`, or a path that is not absolute
/// and normalised covers it; quotes are dropped, and `/var/run` (a symlink to `/run`) is read
/// as `/run`.
fn hides(key: &str, entry: &str, target: &str) -> bool {
    let unquoted = |s: &str| s.trim_matches(['"', '\'']).to_string();
    // `%t` is `/run` for the system manager; any other specifier is not worked out.
    let path = unquoted(unquoted(entry).trim_start_matches(['-', '+'])).replace("%t", "/run");
    if path.contains('%') {
        return true;
    }
    let path = match key {
        "TemporaryFileSystem" => path.split(':').next().unwrap_or(&path),
        "BindPaths" | "BindReadOnlyPaths" if path.contains('\\') => return true,
        "BindPaths" | "BindReadOnlyPaths" => path.split(':').nth(1).unwrap_or(&path),
        _ => &path,
    };
    // `/` trims to "", which covers everything.
    let path = path.trim_end_matches('/');
    let path = match path.strip_prefix("/var/run") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/run{rest}"),
        _ => path.to_string(),
    };
    if !path.is_empty() && !absolute_normalised(&path) {
        return true;
    }
    target == path
        || target
            .strip_prefix(path.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `path` is absolute with no empty, `.` or `..` component (no trailing `/` either).
fn absolute_normalised(path: &str) -> bool {
    path.strip_prefix('/')
        .is_some_and(|rest| rest.split('/').all(|c| !matches!(c, "" | "." | "..")))
}

/// Lines that make a wrapped unit on a legacy host pull in the enter service's socket and start
/// after it, so a command that may not move itself finds someone to ask. The socket has no
/// default dependencies: an early-boot unit ordered before `sysinit.target` gets no cycle.
const ENTER_SOCKET_DEPS: &str =
    "[Unit]\nWants=bindif-launch-enter.socket\nAfter=bindif-launch-enter.socket\n\n";

/// The drop-in's header, then `body`. Built by appending: `format!` was a measurable part of
/// planning thousands of drop-ins.
fn with_header(
    unit: &str,
    strategy: Strategy,
    listeners_only: bool,
    notes: &[String],
    body: &str,
) -> String {
    let mut h = String::with_capacity(512 + body.len());
    h.push_str("# Generated by ");
    h.push_str(PROGRAM);
    h.push_str(" because ");
    h.push_str(unit);
    h.push_str(" sets\n# BindNetworkInterface=, which systemd before v260 does not know.\n");
    match strategy {
        Strategy::Wrap if listeners_only => h.push_str(
            "# Legacy cgroup host, and the unit runs no command: only its listeners to bind.\n",
        ),
        Strategy::Attach => h.push_str(
            "# The attach step binds the unit's cgroup before any other process of the unit runs.\n",
        ),
        Strategy::Wrap => h.push_str(
            "# Legacy cgroup host: the attach step prepares and binds a cgroup2 mirror of the\n# unit's cgroup; every command of the unit runs through the launcher, which enters it\n# (or, when it may not, asks bindif-launch-enter.socket to move it there).\n",
        ),
    }
    for n in notes {
        h.push_str("# WARNING: ");
        h.push_str(n);
        h.push('\n');
    }
    h.push_str(body);
    h
}

/// Whether [`plan`] calls [`unit_plan`] for the unit loaded as `n`: not an alias (its target is
/// planned under its own name), not a slice (`slice.rs` plans those).
fn plans_unit(n: &str, u: &LoadedUnit) -> bool {
    loads_as(n, &u.name) && name::unit_type(n) != Some("slice")
}

/// Whether `id` is [`load_name`]`(found)`: building the name is needed for templates only.
fn loads_as(found: &str, id: &str) -> bool {
    if name::kind(found) == Some(Kind::Template) {
        id == load_name(found)
    } else {
        id == found
    }
}

/// Whether `p` has no empty, `.` or `..` component. For such paths (what the plan's files are
/// named), `Path`'s `Ord`, which compares components, is [`plain_order`]: the bytes, with `/`
/// below every other byte. Thousands of generated files were sorted by parsing their paths
/// into components at every comparison.
fn plain_path(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let p = p.as_os_str().as_bytes();
    !p.is_empty()
        && !p.ends_with(b"/")
        && p.split(|&c| c == b'/')
            .skip(usize::from(p.starts_with(b"/")))
            .all(|c| !matches!(c, b"" | b"." | b".."))
}

/// How `Path`'s `Ord` orders two [`plain_path`]s: at the first byte that differs, the end
/// sorts first, then `/`.
fn plain_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    use std::os::unix::ffi::OsStrExt;
    let (x, y) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
    let same = x.iter().zip(y).take_while(|(c, d)| c == d).count();
    let key = |c: Option<&u8>| match c {
        None => 0,
        Some(b'/') => 1,
        Some(&c) => u16::from(c) + 2,
    };
    key(x.get(same)).cmp(&key(y.get(same)))
}

/// Where the drop-in of `unit` goes, relative to the output directory.
pub fn dropin_path(unit: &str) -> PathBuf {
    let mut p = String::with_capacity(unit.len() + 3 + DROPIN_NAME.len());
    p.push_str(unit);
    p.push_str(".d/");
    p.push_str(DROPIN_NAME);
    PathBuf::from(p)
}

/// Where a plain command name is found when it is wrapped: the absolute path systemd would
/// execute, or `None` (see [`super::find_in_systemd_path`]).
pub type FindExecutable<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The pure core: what to write for `inputs`, given the cgroup layout, the running systemd's
/// version (`None`: unknown, treated as older than 260) and, for legacy hosts, where plain
/// command names are found.
pub fn plan(
    inputs: &[Input],
    layout: &Layout,
    version: Option<u32>,
    find_executable: FindExecutable,
    launchers: &Launchers,
    host: HostSource<'_>,
) -> Plan {
    let mut p = Plan::default();
    if let Some(v) = version.filter(|v| *v >= NATIVE_SINCE) {
        p.msg(
            Level::Info,
            format!("systemd {v} supports BindNetworkInterface= natively, nothing to generate."),
        );
        return p;
    }
    let strategy = Strategy::for_layout(layout);
    // Templates first: instances compare with them.
    // By name (the generator's names come sorted already), then the templates taken out in
    // front, each part keeping that order: what sorting by (not a template, name) gives,
    // without classifying and comparing at every step of a sort of thousands of units.
    let mut order: Vec<&Input> = inputs.iter().collect();
    if !order.windows(2).all(|w| w[0].name <= w[1].name) {
        order.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let (mut order, rest): (Vec<&Input>, Vec<&Input>) = order
        .into_iter()
        .partition(|i| name::kind(&i.name) == Some(Kind::Template));
    order.extend(rest);
    // Each unit's drop-in on its own (pure, the bulk of the work: spread over threads), for
    // the units the loop below plans; the loop then compares instances with their templates
    // and logs, in order.
    let planned_units = map_ordered(&order, |input| match &input.unit {
        Ok(u) if plans_unit(&input.name, u) => Some(
            unit_plan(u, strategy, find_executable, launchers, host)
                .map(|x| x.map(|x| Ready::new(&input.name, strategy, x))),
        ),
        _ => None,
    });
    let mut templates: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (input, planned) in order.into_iter().zip(planned_units) {
        let n = &input.name;
        let u = match &input.unit {
            Ok(u) => u,
            Err(UnitLoadError::Masked { .. }) => {
                p.msg(Level::Debug, format!("{n} is masked, skipping."));
                continue;
            }
            // A template is loaded through the placeholder instance (`load_name`); a name that
            // cannot carry it is left as it is, which does not load. Its instances can have
            // valid names, and would start unbound without a word: say so.
            Err(UnitLoadError::BadName { .. }) if name::kind(n) == Some(Kind::Template) => {
                p.msg(
                    Level::Warning,
                    format!(
                        "Skipping {n}: with the instance {TEMPLATE_PLACEHOLDER} its name is longer than the {} characters of a unit name, so the generator cannot evaluate it; instances of it that set BindNetworkInterface= start unbound.",
                        name::UNIT_NAME_MAX
                    ),
                );
                continue;
            }
            Err(UnitLoadError::NotFound { .. }) | Err(UnitLoadError::BadName { .. }) => {
                p.msg(Level::Debug, format!("{n} has no fragment, skipping."));
                continue;
            }
            Err(e) => {
                p.msg(
                    Level::Warning,
                    format!("Skipping {n}: {}", e.to_string().replace('\n', ": ")),
                );
                continue;
            }
        };
        let kind = name::kind(n);
        if !loads_as(n, &u.name) {
            p.msg(
                Level::Debug,
                format!("{n} is an alias of {}, skipping.", u.name),
            );
            continue;
        }
        if super::slice::plan(&mut p, n, u, strategy) {
            continue;
        }
        // Computed above for every unit that gets here (`plans_unit`); on this thread otherwise.
        let planned = planned.unwrap_or_else(|| {
            unit_plan(u, strategy, find_executable, launchers, host)
                .map(|x| x.map(|x| Ready::new(n, strategy, x)))
        });
        let planned = match planned {
            Ok(x) => x,
            Err(why) => {
                p.msg(Level::Warning, format!("Skipping {n}: {why}"));
                if kind == Some(Kind::Template) {
                    templates.insert(n.clone(), None);
                }
                continue;
            }
        };
        let body = planned.as_ref().map(|r| r.plan.body.as_str());
        match kind {
            Some(Kind::Template) => {
                templates.insert(n.clone(), body.map(str::to_string));
            }
            Some(Kind::Instance) => {
                let t = name::template_of(n).unwrap_or_default();
                let tb = templates.get(&t).and_then(|b| b.as_deref());
                if let Some(Ready { plan: x, .. }) = &planned {
                    for note in &x.notes {
                        p.msg(Level::Warning, format!("{n}: {note}"));
                    }
                    for w in &x.warnings {
                        p.msg(Level::Warning, format!("{n}: {w}"));
                    }
                }
                if tb == body {
                    continue;
                }
                if body.is_none() {
                    // The template's drop-in would apply: cancel it for this instance.
                    p.files.push(GenFile {
                        path: dropin_path(n),
                        content: format!(
                            "# Generated by {PROGRAM}: {n} does not carry BindNetworkInterface=,\n# so this empty file cancels {t}'s generated drop-in of the same name.\n"
                        ),
                    });
                    continue;
                }
            }
            _ => {}
        }
        let Some(Ready {
            plan: x,
            file,
            checks,
        }) = planned
        else {
            continue;
        };
        p.links.extend(x.links);
        if kind != Some(Kind::Instance) {
            for note in &x.notes {
                p.msg(Level::Warning, format!("{n}: {note}"));
            }
            for w in &x.warnings {
                p.msg(Level::Warning, format!("{n}: {w}"));
            }
        }
        p.files.push(file);
        p.checks.extend(checks);
    }
    super::slice::finish(&mut p);
    if p.files.iter().all(|f| plain_path(&f.path)) {
        p.files.sort_by(|a, b| plain_order(&a.path, &b.path));
    } else {
        p.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
        if plain_path(a) && plain_path(b) {
            plain_order(a, b)
        } else {
            a.cmp(b)
        }
    }

    #[test]
    fn files_sort_as_paths_do() {
        let paths = [
            "a.service.d/zzzz-bindif-launch.conf",
            "a.service.d-x.service.d/zzzz-bindif-launch.conf",
            "a-b.service.d/zzzz-bindif-launch.conf",
            "a.service",
            "a.service.d",
            "a/b",
            "a-b",
            "ab/x",
            "a/yy",
            "/a/b",
            "/a-b",
            "a//b",
            "a/./b",
            "./a",
            "../a",
            "-x",
            "a/",
            "a/../b",
            "",
            "/",
        ];
        for a in paths {
            for b in paths {
                let (a, b) = (Path::new(a), Path::new(b));
                assert_eq!(path_order(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_found_name_loads_as_its_load_name() {
        for (found, id) in [
            ("web.service", "web.service"),
            (
                "web@.service",
                "web@bindif-launch-generator-template.service",
            ),
            ("web@x.service", "web@x.service"),
            ("alias.service", "web.service"),
            ("web@.service", "web@.service"),
        ] {
            assert_eq!(loads_as(found, id), load_name(found) == id, "{found} {id}");
        }
    }

    /// Issue 20 #4: a unit whose sandbox may hide the links runs the launcher itself.
    #[test]
    fn links_are_not_used_where_the_sandbox_may_hide_them() {
        let links = Launchers::in_output(Path::new("/run/systemd/generator"));
        let unit = |k: &str, v: &str| {
            let mut u = LoadedUnit {
                name: "u.service".into(),
                ..LoadedUnit::default()
            };
            u.assignments.push(crate::unit::Assignment {
                section: "Service".into(),
                key: k.into(),
                value: v.into(),
                source: crate::unit::Source {
                    file: PathBuf::from("/etc/systemd/system/u.service").into(),
                    line: 2,
                },
            });
            u
        };
        for (k, v, hidden) in [
            ("RootDirectory", "/srv/jail", true),
            ("RootImage", "/srv/jail.raw", true),
            ("InaccessiblePaths", "-/run/systemd", true),
            ("TemporaryFileSystem", "/run:ro", true),
            ("BindReadOnlyPaths", "/srv/run:/run", true),
            ("BindPaths", "-/srv/a\\:b:/x", true),
            ("BindPaths", "/run/x:/srv/x", false),
            ("BindReadOnlyPaths", "/run/systemd/generator", true),
            ("InaccessiblePaths", "/run/bindif-launch", false),
            ("ProtectSystem", "strict", false),
            // Specifiers, the /var/run symlink, quotes, odd paths: taken to hide them.
            ("InaccessiblePaths", "/var/run", true),
            ("InaccessiblePaths", "-/var/run/systemd/", true),
            ("TemporaryFileSystem", "%t/systemd", true),
            ("TemporaryFileSystem", "%t/systemd:ro", true),
            ("BindPaths", "/srv/x:%t", true),
            ("InaccessiblePaths", "\"/run/systemd\"", true),
            ("InaccessiblePaths", "-\"/run\"", true),
            ("InaccessiblePaths", "\"-/run\"", true),
            ("InaccessiblePaths", "/run/./systemd", true),
            ("InaccessiblePaths", "/run//systemd", true),
            ("InaccessiblePaths", "/srv/../run", true),
            ("InaccessiblePaths", "run/systemd", true),
            ("InaccessiblePaths", "/var/runx", false),
            ("InaccessiblePaths", "\"/srv/data\"", false),
            ("TemporaryFileSystem", "/var/run/user:ro", false),
        ] {
            let got = launchers_for(&unit(k, v), "Service", &links);
            assert_eq!(got.dir().is_none(), hidden, "{k}={v}");
        }
    }

    #[test]
    fn only_paths_over_the_enter_fifo_hide_it() {
        let inaccessible = |e: &str| hides_enter_fifo("InaccessiblePaths", e);
        let tmpfs = |e: &str| hides_enter_fifo("TemporaryFileSystem", e);
        for e in [
            "/",
            "/run",
            "-/run/",
            "+/run/bindif-launch",
            "/run/bindif-launch/enter",
        ] {
            assert!(inaccessible(e), "{e}");
        }
        for e in [
            "/run/bindif-launch-other",
            "/home",
            "/run/bindif",
            "/var/runx",
            "%t/systemd",
        ] {
            assert!(!inaccessible(e), "{e}");
        }
        // The same reading as for the links: specifiers, /var/run, quotes, odd paths.
        for e in [
            "/var/run",
            "-/var/run/bindif-launch",
            "%t",
            "%t/bindif-launch",
            "%T",
            "\"/run/bindif-launch\"",
            "/run/./bindif-launch",
            "run",
        ] {
            assert!(inaccessible(e), "{e}");
        }
        assert!(tmpfs("%t:ro"));
        assert!(tmpfs("/var/run:ro"));
        assert!(tmpfs("/run:ro"));
        assert!(tmpfs("/run/bindif-launch:mode=0755"));
        assert!(!tmpfs("/var:ro"));
        assert!(!tmpfs("/run/bindif-launch-x:ro"));
    }
}
