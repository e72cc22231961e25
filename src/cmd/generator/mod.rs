// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch-generator`: on systemd < 260, turns every `BindNetworkInterface=` of a service or
//! socket unit into a generated drop-in that runs the attach step before any other process of the
//! unit (or, on legacy cgroup hosts, wraps every `Exec*=` line with the launcher).
//!
//! Shape:
//! - [`enumerate`] lists every service/socket name the search path knows: unit files, templates,
//!   instance files, names that only exist as `NAME.d/` drop-in directories, and the instances
//!   a dash-prefix instance directory (`foo-@x.service.d/`) reaches (`foo-bar@x.service`). The generator
//!   output directories are left out, both for listing and for loading, because other
//!   generators write into them while we run.
//! - [`load_all`] loads each name with one cached [`Catalog`]. A template `foo@.service` cannot be
//!   loaded by itself, so it is loaded through the placeholder instance
//!   `foo@`[`TEMPLATE_PLACEHOLDER`]`.service`: the loader then uses the template's fragment and
//!   finds exactly the drop-ins every instance shares (`foo@.service.d/`, the dash prefixes, the
//!   type-wide `service.d/`); the placeholder's own instance directories do not exist.
//! - [`plan`] is pure: loaded units, cgroup layout and systemd version in, files (relative to the
//!   output directory) and log messages out. The fixture tests compare it with expected trees.
//! - [`main`] writes the plan and then **verifies** it by loading each unit again with the output
//!   directory in the search path: the effective first command must be ours.
//!
//! Ordering: drop-ins are applied in file-name order across all directories, so our drop-in is
//! named [`DROPIN_NAME`], which sorts after the usual `override.conf`, `10-…`, `50-…`, `zz-…`. Our
//! file resets the list and re-lists the attach step followed by the commands that the fragment
//! and the drop-ins sorting *before* ours set (raw values, verbatim, in order); drop-ins sorting
//! after ours keep appending after it. Only a later drop-in that resets the list again can put
//! a command before the attach step: that is reported ("cannot guarantee …").
//!
//! Instances: an instance `foo@bar.service` reads `foo@bar.service.d/` before `foo@.service.d/`
//! in the same directory, and for equal file names the first directory wins (`dropins.rs`).
//! So an instance whose configuration differs from its template's gets its own file of the same
//! name in `foo@bar.service.d/`, which replaces the template's for that instance alone; an
//! instance that resets the key gets a comment-only file of that name, which cancels the
//! template's drop-in.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cgroup_path::Layout;
use crate::log::Level;
use crate::unit::catalog::Catalog;
use crate::unit::eval::{cgroup_section, is_bindif_launch, KEY_BIND};
use crate::unit::load::{load_with, UnitLoadError};
use crate::unit::name::{self, Kind};
use crate::unit::paths::{under_root, SearchPath};
use crate::unit::words::{extract_first_word, ExtractFlags};
use crate::unit::{Assignment, LoadedUnit};

/// The file name of every generated drop-in.
pub const DROPIN_NAME: &str = "zzzz-bindif-launch.conf";
/// Where the launcher is installed.
pub const LAUNCHER: &str = "/usr/lib/bindif-launch";
/// The first systemd version with native `BindNetworkInterface=`.
pub const NATIVE_SINCE: u32 = 260;
/// The instance through which templates are loaded.
pub const TEMPLATE_PLACEHOLDER: &str = "bindif-launch-generator-template";
/// The program name in log lines.
pub const PROGRAM: &str = "bindif-launch-generator";

/// The generator directories systemd passes as `NORMAL EARLY LATE`, as the search path names them.
const GENERATOR_DIRS: [&str; 3] = [
    "/run/systemd/generator",
    "/run/systemd/generator.early",
    "/run/systemd/generator.late",
];

/// The attach step, as it appears in the generated drop-ins.
pub fn attach_line() -> String {
    format!("+{LAUNCHER} --attach %n")
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
}

impl Plan {
    fn msg(&mut self, level: Level, text: String) {
        self.messages.push(Message { level, text });
    }
}

/// The name to load for a found name: templates through the placeholder instance.
pub fn load_name(found: &str) -> String {
    if name::kind(found) == Some(Kind::Template) {
        if let Ok(n) = name::instantiate(found, TEMPLATE_PLACEHOLDER) {
            return n;
        }
    }
    found.to_string()
}

fn handled_type(n: &str) -> bool {
    matches!(name::unit_type(n), Some("service" | "socket"))
}

/// The search path with the generator output directories left out.
pub fn search_path_without_generators(sp: &SearchPath) -> SearchPath {
    let dirs = sp
        .dirs()
        .iter()
        .filter(|d| !GENERATOR_DIRS.iter().any(|g| Path::new(g) == d.as_path()))
        .cloned()
        .collect();
    SearchPath::from_dirs(sp.root(), dirs)
}

/// Every service and socket name the catalog's directories hold: unit files and symlinks, and
/// names that only exist as `NAME.d/` directories. Sorted.
pub fn enumerate(catalog: &Catalog) -> Vec<String> {
    let root = catalog.root();
    let mut names = BTreeSet::new();
    for dir in catalog.search_path().dirs() {
        let Ok(rd) = std::fs::read_dir(under_root(root, dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(n) = e.file_name().into_string() else {
                continue;
            };
            if n.starts_with('.') {
                continue;
            }
            let n = n.strip_suffix(".d").map(str::to_string).unwrap_or(n);
            if handled_type(&n) && name::is_valid(&n) {
                names.insert(n);
            }
        }
    }
    // A dash-prefix instance directory `foo-@x.service.d/` applies to instance x of every
    // template `foo-…@.service`: those instances need their own evaluation too.
    let dash_instances: Vec<(String, String, String)> = names
        .iter()
        .filter(|n| name::kind(n) == Some(Kind::Instance))
        .filter_map(|n| {
            let p = name::prefix(n)?;
            let t = name::unit_type(n)?;
            let i = name::instance(n)?;
            p.ends_with('-')
                .then(|| (p.to_string(), i.to_string(), t.to_string()))
        })
        .collect();
    if !dash_instances.is_empty() {
        let templates: Vec<String> = names
            .iter()
            .filter(|n| name::kind(n) == Some(Kind::Template))
            .cloned()
            .collect();
        for (p, i, t) in dash_instances {
            for tpl in &templates {
                if name::unit_type(tpl) == Some(t.as_str())
                    && name::prefix(tpl).is_some_and(|tp| tp.starts_with(&p) && tp != p)
                {
                    if let Ok(n) = name::instantiate(tpl, &i) {
                        names.insert(n);
                    }
                }
            }
        }
    }
    names.into_iter().collect()
}

/// Loads every name with one catalog (in parallel, see [`map_ordered`]).
pub fn load_all(catalog: &Catalog, names: &[String]) -> Vec<Input> {
    map_ordered(names, |n| Input {
        name: n.clone(),
        unit: load_with(catalog, &load_name(n)),
    })
}

/// `items.iter().map(f).collect()`, spread over up to four threads in contiguous chunks, so the
/// result keeps the input's order. Loading units is independent per unit and CPU-bound (parsing,
/// allocation); a generator runs on the boot path with a deadline, so it uses the cores it has.
/// Small inputs (a typical host: a few hundred units) stay on this thread.
pub fn map_ordered<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = (items.len() + threads - 1) / threads; // div_ceil needs Rust 1.73
    let f = &f;
    std::thread::scope(|scope| {
        let mut rest = items.chunks(chunk);
        let first = rest.next().unwrap_or(&[]);
        let handles: Vec<_> = rest
            .map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for h in handles {
            // A panic in a worker is a bug; re-raise it here rather than lose units.
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}

/// The effective list of `key` from `assignments`, raw values (an empty one resets).
fn fold<'a>(assignments: impl Iterator<Item = &'a Assignment>) -> Vec<&'a Assignment> {
    let mut v = Vec::new();
    for a in assignments {
        if a.value.is_empty() {
            v.clear();
        } else {
            v.push(a);
        }
    }
    v
}

/// Whether the unit's effective configuration carries a non-reset `BindNetworkInterface=`: the
/// raw values are enough (the attach step validates and expands them at start, per instance).
fn carries_key(u: &LoadedUnit, section: &str) -> bool {
    !fold(u.values(section, KEY_BIND)).is_empty()
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
    if Some(&a.source.file) == u.fragment.as_ref() {
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

/// The `Exec*=` settings of each type, in the order they run.
fn exec_keys(section: &str) -> &'static [&'static str] {
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

/// The generated drop-in of one unit before its header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UnitPlan {
    body: String,
    notes: Vec<String>,
    checks: Vec<(String, String)>,
}

/// Decides the drop-in of one loaded unit: `Ok(None)` when it needs none, `Err` when it needs
/// one that cannot be written (the reason).
fn unit_plan(u: &LoadedUnit, strategy: Strategy) -> Result<Option<UnitPlan>, String> {
    let Some(section) = cgroup_section(&u.name) else {
        return Ok(None);
    };
    if !carries_key(u, section) {
        return Ok(None);
    }
    if let Some(d) = u.dropins.iter().find(|d| file_name_of(d) == DROPIN_NAME) {
        return Err(format!(
            "{} is a drop-in of the unit under our own file name; remove it (a higher-priority copy would replace the generated one)",
            d.display()
        ));
    }
    let mut notes = Vec::new();
    let mut body = format!("[{section}]\n");
    let mut checks = Vec::new();
    match strategy {
        Strategy::Attach => {
            let cond_in_use =
                section == "Service" && !fold(u.values(section, "ExecCondition")).is_empty();
            let key = if cond_in_use {
                "ExecCondition"
            } else {
                "ExecStartPre"
            };
            let before = fold(
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
            body.push_str(&format!("{key}=\n{key}={}\n", attach_line()));
            for a in before {
                body.push_str(&format!("{key}={}\n", a.value));
            }
            checks.push((key.to_string(), attach_line()));
        }
        Strategy::Wrap => {
            for key in exec_keys(section) {
                let before = fold(
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
                if before.is_empty() {
                    continue;
                }
                let mut lines = Vec::new();
                for a in before {
                    let w = wrap_line(&a.value).map_err(|why| {
                        format!(
                            "{}:{}: {key}={} cannot be wrapped with the launcher: {why}",
                            a.source.file.display(),
                            a.source.line,
                            a.value
                        )
                    })?;
                    lines.push(w);
                }
                body.push_str(&format!("{key}=\n"));
                for l in &lines {
                    body.push_str(&format!("{key}={l}\n"));
                }
                checks.push((key.to_string(), lines[0].clone()));
            }
            if checks.is_empty() {
                return Err("the unit has no Exec*= command to wrap".to_string());
            }
        }
    }
    Ok(Some(UnitPlan {
        body,
        notes,
        checks,
    }))
}

const WS: &[u8] = b" \t\n\r";

/// Splits a raw command line into words, each as (decoded word, raw text).
fn raw_words(s: &str) -> Result<Vec<(Vec<u8>, String)>, String> {
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
            Err(_) => return Err("unbalanced quoting or a bad escape".to_string()),
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
pub fn wrap_line(value: &str) -> Result<String, String> {
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
        let first = String::from_utf8(c[0].0.clone())
            .map_err(|_| "the executable's name is not UTF-8".to_string())?;
        let mut prefix = String::new();
        let mut rest = first.as_str();
        loop {
            match rest.as_bytes().first() {
                Some(b'-' | b':' | b'+' | b'!') => {
                    prefix.push_str(&rest[..1]);
                    rest = &rest[1..];
                }
                Some(b'@') => return Err(
                    "the \"@\" prefix sets a custom argv[0], which cannot be passed through \"--\""
                        .to_string(),
                ),
                Some(b'|') => {
                    return Err(
                        "the \"|\" prefix (run through the shell) cannot be wrapped".to_string()
                    )
                }
                _ => break,
            }
        }
        if rest.is_empty() {
            return Err("no executable".to_string());
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
        return Err("no command".to_string());
    }
    Ok(out.join(" ; "))
}

fn header(unit: &str, strategy: Strategy, notes: &[String]) -> String {
    let mut h = format!(
        "# Generated by {PROGRAM} because {unit} sets\n# BindNetworkInterface=, which systemd before v260 does not know.\n"
    );
    match strategy {
        Strategy::Attach => h.push_str(
            "# The attach step binds the unit's cgroup before any other process of the unit runs.\n",
        ),
        Strategy::Wrap => h.push_str(
            "# Legacy cgroup host: every command of the unit runs through the launcher.\n",
        ),
    }
    for n in notes {
        h.push_str(&format!("# WARNING: {n}\n"));
    }
    h
}

fn dropin_path(unit: &str) -> PathBuf {
    PathBuf::from(format!("{unit}.d")).join(DROPIN_NAME)
}

/// The pure core: what to write for `inputs`, given the cgroup layout and the running systemd's
/// version (`None`: unknown, treated as older than 260).
pub fn plan(inputs: &[Input], layout: &Layout, version: Option<u32>) -> Plan {
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
    let mut order: Vec<&Input> = inputs.iter().collect();
    order.sort_by_key(|i| (name::kind(&i.name) != Some(Kind::Template), i.name.clone()));
    let mut templates: BTreeMap<String, Option<String>> = BTreeMap::new();
    for input in order {
        let n = &input.name;
        let u = match &input.unit {
            Ok(u) => u,
            Err(UnitLoadError::Masked { .. }) => {
                p.msg(Level::Debug, format!("{n} is masked, skipping."));
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
        if u.name != load_name(n) {
            p.msg(
                Level::Debug,
                format!("{n} is an alias of {}, skipping.", u.name),
            );
            continue;
        }
        let planned = match unit_plan(u, strategy) {
            Ok(x) => x,
            Err(why) => {
                p.msg(Level::Warning, format!("Skipping {n}: {why}"));
                if kind == Some(Kind::Template) {
                    templates.insert(n.clone(), None);
                }
                continue;
            }
        };
        let body = planned.as_ref().map(|x| x.body.clone());
        match kind {
            Some(Kind::Template) => {
                templates.insert(n.clone(), body.clone());
            }
            Some(Kind::Instance) => {
                let t = name::template_of(n).unwrap_or_default();
                let tb = templates.get(&t).cloned().flatten();
                if let Some(x) = &planned {
                    for note in &x.notes {
                        p.msg(Level::Warning, format!("{n}: {note}"));
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
        let Some(x) = planned else { continue };
        if kind != Some(Kind::Instance) {
            for note in &x.notes {
                p.msg(Level::Warning, format!("{n}: {note}"));
            }
        }
        p.files.push(GenFile {
            path: dropin_path(n),
            content: header(n, strategy, &x.notes) + &x.body,
        });
        for (key, first) in x.checks {
            p.checks.push(Check {
                unit: n.clone(),
                load_name: load_name(n),
                section: cgroup_section(n).unwrap_or("Service").to_string(),
                key,
                first,
            });
        }
    }
    p.files.sort_by(|a, b| a.path.cmp(&b.path));
    p
}

/// The search path for verification: the one we loaded from, with `normal` (a host path under
/// the root) where systemd has `/run/systemd/generator`.
pub fn search_path_with_output(full: &SearchPath, normal_host: &Path) -> SearchPath {
    let mut dirs = Vec::new();
    for d in full.dirs() {
        if d == Path::new(GENERATOR_DIRS[0]) {
            dirs.push(normal_host.to_path_buf());
        } else if !GENERATOR_DIRS.iter().any(|g| Path::new(g) == d.as_path()) {
            dirs.push(d.clone());
        }
    }
    if !dirs.iter().any(|d| d == normal_host) {
        dirs.insert(0, normal_host.to_path_buf());
    }
    SearchPath::from_dirs(full.root(), dirs)
}

/// Loads each checked unit again through `catalog` (which sees the written output) and returns a
/// message for every check that fails.
pub fn verify(catalog: &Catalog, checks: &[Check]) -> Vec<String> {
    map_ordered(checks, |c| match load_with(catalog, &c.load_name) {
        Ok(u) => {
            let list = fold(u.values(&c.section, &c.key));
            let first = list.first().map(|a| a.value.as_str());
            (first != Some(c.first.as_str())).then(|| {
                format!(
                    "{}: cannot guarantee that the binding comes first: after generation the first {}= is {}",
                    c.unit,
                    c.key,
                    first.map_or("(none)".to_string(), |f| format!("\"{f}\""))
                )
            })
        }
        Err(e) => Some(format!(
            "{}: cannot verify the generated drop-in: {}",
            c.unit,
            e.to_string().replace('\n', ": ")
        )),
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub normal: PathBuf,
    /// `None`: read from `/proc/1/maps`.
    pub systemd_version: Option<u32>,
    /// `None`: detect.
    pub layout: Option<Layout>,
    /// Log to `/dev/kmsg` (the real generator) instead of stderr.
    pub kmsg: bool,
    pub debug: bool,
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Plan,
    pub verify_failures: Vec<String>,
    pub units_seen: usize,
    pub elapsed: std::time::Duration,
}

struct Logger {
    kmsg: Option<std::fs::File>,
    debug: bool,
}

impl Logger {
    fn new(kmsg: bool, debug: bool) -> Logger {
        let kmsg = kmsg
            .then(|| {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
                    .open("/dev/kmsg")
                    .ok()
            })
            .flatten();
        Logger { kmsg, debug }
    }

    fn log(&mut self, level: Level, text: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        for line in text.lines() {
            let ok = match &mut self.kmsg {
                // One write(2) per record; a full ring or rate limit drops the line, never blocks.
                Some(f) => f
                    .write_all(format!("<{}>{PROGRAM}: {line}\n", level as u8).as_bytes())
                    .is_ok(),
                None => false,
            };
            if !ok {
                // eprint!: a failed stderr has nowhere to be reported either.
                eprintln!("{PROGRAM}: {line}");
            }
        }
    }
}

/// Everything the generator decides before writing: the catalog of `full` without the
/// generator directories, every name in it loaded, the plan. Also returns how many names were
/// examined.
pub fn resolve(full: &SearchPath, layout: &Layout, version: Option<u32>) -> (Plan, usize) {
    let catalog = Catalog::new(search_path_without_generators(full));
    let names = enumerate(&catalog);
    let inputs = load_all(&catalog, &names);
    (plan(&inputs, layout, version), names.len())
}

/// Runs the generator: plan, write, verify, log. `Err` only when the output cannot be written.
pub fn run(opts: &Options) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut log = Logger::new(opts.kmsg, opts.debug);
    let version = opts
        .systemd_version
        .or_else(crate::sys::process::pid1_systemd_version);
    if version.is_none() {
        log.log(
            Level::Notice,
            "Cannot tell the systemd version from /proc/1/maps, assuming it predates v260.",
        );
    }
    if let Some(v) = version.filter(|v| *v >= NATIVE_SINCE) {
        log.log(
            Level::Debug,
            &format!("systemd {v} supports BindNetworkInterface= natively, nothing to generate."),
        );
        return Ok(Outcome {
            plan: Plan::default(),
            verify_failures: Vec::new(),
            units_seen: 0,
            elapsed: started.elapsed(),
        });
    }
    let layout = match &opts.layout {
        Some(l) => l.clone(),
        None => crate::sys::cgroup::detect(&opts.root),
    };
    let full = SearchPath::system(&opts.root);
    let (plan, units_seen) = resolve(&full, &layout, version);
    for m in &plan.messages {
        log.log(m.level, &m.text);
    }
    for f in &plan.files {
        let path = opts.normal.join(&f.path);
        let write = || -> std::io::Result<()> {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&path, &f.content)
        };
        if let Err(e) = write() {
            let m = format!(
                "Failed to write {}: {}",
                path.display(),
                crate::sys::strerror(&e)
            );
            log.log(Level::Err, &m);
            return Err(m);
        }
    }
    // Verify by loading again with the output directory in the search path.
    let mut verify_failures = Vec::new();
    if !plan.checks.is_empty() {
        match opts.normal.strip_prefix(&opts.root) {
            Ok(rel) => {
                let host = Path::new("/").join(rel);
                let c2 = Catalog::new(search_path_with_output(&full, &host));
                verify_failures = verify(&c2, &plan.checks);
            }
            Err(_) => log.log(
                Level::Debug,
                "The output directory is outside the root, not verifying.",
            ),
        }
    }
    for v in &verify_failures {
        log.log(Level::Warning, v);
    }
    let elapsed = started.elapsed();
    log.log(
        if plan.files.is_empty() {
            Level::Debug
        } else {
            Level::Info
        },
        &format!(
            "Generated {} drop-in(s) for BindNetworkInterface= ({} units examined, {:?}).",
            plan.files.len(),
            units_seen,
            elapsed
        ),
    );
    Ok(Outcome {
        plan,
        verify_failures,
        units_seen,
        elapsed,
    })
}

/// Whether `argv` asks for the generator: argv[0] is `bindif-launch-generator`, or the first
/// argument is the hidden subcommand `generate`.
pub fn wanted(argv: &[OsString]) -> bool {
    let a0 = argv
        .first()
        .map(|a| Path::new(a).file_name().unwrap_or_default() == PROGRAM)
        .unwrap_or(false);
    a0 || argv.get(1).is_some_and(|a| a == "generate")
}

fn parse_layout(s: &str) -> Option<Layout> {
    Some(match s {
        "unified" => Layout::Unified {
            mount: PathBuf::from("/sys/fs/cgroup"),
        },
        "hybrid" => Layout::Hybrid {
            mount: PathBuf::from("/sys/fs/cgroup/unified"),
        },
        "legacy" => Layout::Legacy,
        _ => return None,
    })
}

fn parse_args(argv: &[OsString]) -> Result<Options, String> {
    let as_generator = !argv.get(1).is_some_and(|a| a == "generate");
    let rest = if as_generator { &argv[1..] } else { &argv[2..] };
    let mut opts = Options {
        root: PathBuf::from("/"),
        normal: PathBuf::new(),
        systemd_version: None,
        layout: None,
        kmsg: as_generator,
        debug: false,
    };
    if let Ok(l) = std::env::var("SYSTEMD_LOG_LEVEL") {
        opts.debug = l == "debug" || l == "7";
    }
    if std::env::var("SYSTEMD_LOG_TARGET").is_ok_and(|t| t == "console") {
        opts.kmsg = false;
    }
    let mut dirs = Vec::new();
    for a in rest {
        let s = a.to_str().ok_or("arguments must be UTF-8")?;
        if as_generator {
            dirs.push(PathBuf::from(s));
            continue;
        }
        if let Some(v) = s.strip_prefix("--root=") {
            opts.root = PathBuf::from(v);
        } else if let Some(v) = s.strip_prefix("--systemd-version=") {
            opts.systemd_version = Some(v.parse().map_err(|_| format!("bad version: {v}"))?);
        } else if let Some(v) = s.strip_prefix("--layout=") {
            opts.layout = Some(parse_layout(v).ok_or(format!("bad layout: {v}"))?);
        } else if s == "--debug" {
            opts.debug = true;
        } else if s.starts_with("--") {
            return Err(format!("unknown option {s}"));
        } else {
            dirs.push(PathBuf::from(s));
        }
    }
    // systemd passes NORMAL EARLY LATE; we only write to NORMAL.
    if dirs.is_empty() || dirs.len() > 3 {
        return Err("expected NORMAL_DIR [EARLY_DIR LATE_DIR]".to_string());
    }
    opts.normal = dirs.swap_remove(0);
    Ok(opts)
}

/// Entry point for both forms; the exit status. Never fails the boot for a bad unit: only an
/// unwritable output directory (or bad arguments) gives a non-zero status.
pub fn main(argv: Vec<OsString>) -> i32 {
    let opts = match parse_args(&argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            return crate::exit::INVALIDARGUMENT;
        }
    };
    match run(&opts) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}
