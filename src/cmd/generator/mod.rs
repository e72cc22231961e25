// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch-generator`: on systemd < 260, turns every `BindNetworkInterface=` of a service or
//! socket unit into a generated drop-in that runs the attach step before any other process of the
//! unit (or, on legacy cgroup hosts, wraps every `Exec*=` line with the launcher); a slice's into
//! a drop-in that wants a generated helper unit binding the slice's cgroup (`slice.rs`).
//!
//! Shape (one module per step; this one runs them and parses the command line):
//! - [`enumerate`] (`units.rs`) lists every service/socket name the search path knows: unit files, templates,
//!   instance files, names that only exist as `NAME.d/` drop-in directories, the instances
//!   a dash-prefix instance directory (`foo-@x.service.d/`) reaches (`foo-bar@x.service`), and
//!   the instances an alias reaches (`bar-alias@3.service → yup@3.service`). The generator
//!   output directories are left out, both for listing and for loading, because other
//!   generators write into them while we run.
//! - [`load_all`] (`units.rs`, spread over threads by `parallel.rs`) loads each name with one cached [`Catalog`]. A template `foo@.service` cannot be
//!   loaded by itself, so it is loaded through the placeholder instance
//!   `foo@`[`TEMPLATE_PLACEHOLDER`]`.service`: the loader then uses the template's fragment and
//!   finds exactly the drop-ins every instance shares (`foo@.service.d/`, the dash prefixes, the
//!   type-wide `service.d/`); the placeholder's own instance directories do not exist.
//! - [`plan`] (`plan.rs`) is pure: loaded units, cgroup layout and systemd version in, files
//!   (relative to the output directory) and log messages out. The fixture tests compare it with
//!   expected trees. On legacy hosts it rewrites `Exec*=` lines with [`wrap_line`] (`quote.rs`).
//! - [`run`] writes the plan (`write.rs`: each file on its own, never through a symlink) and
//!   then **verifies** it (`verify.rs`) by loading each unit again with the output directory in
//!   the search path: the effective first command must be ours.
//! - At a daemon-reload, [`reconcile`] re-resolves the running units, last; their walk and
//!   cgroup queries run on a thread of their own from the start ([`reconcile::Prefetch`]),
//!   alongside the loading, since they need no configuration.
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

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cgroup_path::Layout;
use crate::log::{Level, Logger, Sink};
use crate::unit::catalog::Catalog;
use crate::unit::eval::{self, cgroup_section, EvalContext};
use crate::unit::fxhash::FxMap;
use crate::unit::load::load_with;
use crate::unit::name;
use crate::unit::paths::SearchPath;
use crate::unit::specifier::{HostSource, LazyHostFacts, SpecifierContext};
use crate::unit::LoadedUnit;

mod attach;
pub mod follow;
mod parallel;
mod plan;
mod quote;
pub mod reconcile;
mod slice;
mod socket;
mod units;
mod verify;
mod write;

pub use parallel::map_ordered;
pub use plan::{
    attach_line, dropin_path, plan, Check, FindExecutable, GenFile, Input, Message, Plan, Strategy,
};
pub use quote::{link_name, wrap_line, wrap_line_with, Launchers, Wrapped};
pub use units::{
    enumerate, find_in_systemd_path, load_all, load_name, mentioning, search_path_with_output,
    search_path_without_generators,
};
pub use verify::verify;
pub use write::WriteError;

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

/// The generator directories systemd passes as `NORMAL EARLY LATE` (the first is where the
/// generator writes, see [`dropin_path`]).
pub(crate) use crate::unit::paths::GENERATOR_DIRS;

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
    /// Re-resolve the bindings of running units (daemon-reload): only the installed generator
    /// run by PID 1 on the host itself (output in `/run/systemd/generator`), never a run on a
    /// tree below another root or one by `systemd-analyze`.
    pub reconcile: bool,
}

/// The result of [`run`].
#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    pub verify_failures: Vec<String>,
    /// Drop-ins that could not be written (each logged); every other one was written.
    pub write_failures: Vec<WriteError>,
    pub units_seen: usize,
    pub elapsed: std::time::Duration,
    /// The units the run loaded (none on systemd with native support); dropping the outcome
    /// frees them.
    pub loaded: Option<Loaded>,
}

/// Logs `text` one line per record: a kmsg record is one line, and a path quoted in a message
/// may hold a newline.
fn log_lines(log: &Logger, level: Level, text: &str) {
    for line in text.lines() {
        log.log(level, line);
    }
}

/// Everything the generator decides before writing: the catalog of `full` without the
/// generator directories, every name in it loaded, the plan. Also returns how many names were
/// examined, and what was loaded, for the caller to free or not (see [`Loaded`]).
pub fn resolve(full: &SearchPath, layout: &Layout, version: Option<u32>) -> (Plan, usize, Loaded) {
    let launchers = Launchers::in_output(Path::new(GENERATOR_DIRS[0]));
    let r = resolve_units(full, layout, version, &launchers);
    let n = r.inputs.len();
    (
        r.plan,
        n,
        Loaded {
            catalog: r.catalog,
            inputs: r.inputs,
        },
    )
}

/// What a run loaded: the catalog and every unit in it. Thousands of parsed units take
/// milliseconds to free, a tenth of a run's work, and a process that exits next need not free
/// them at all: the generator binary leaves them to the kernel (`main`). Everyone else calls
/// [`Loaded::free`], or lets them drop.
pub struct Loaded {
    catalog: Catalog,
    inputs: Vec<Input>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loaded({} units)", self.inputs.len())
    }
}

impl Loaded {
    /// Frees it all, the units on the loading threads; the catalog beside them, since its memo
    /// holds the parsed files the units share (whichever side lets go last frees them).
    pub fn free(self) {
        let Loaded { catalog, inputs } = self;
        std::thread::scope(|scope| {
            // Without a thread, the catalog is dropped here, unrun closure and all.
            parallel::spawn_or_not(scope, move || drop(catalog));
            parallel::drop_spread(inputs);
        });
    }
}

/// What [`resolve`] computes, with the catalog and the loaded units kept for the re-resolution
/// of running units.
pub struct Resolved {
    pub catalog: Catalog,
    pub inputs: Vec<Input>,
    pub plan: Plan,
}

fn resolve_units(
    full: &SearchPath,
    layout: &Layout,
    version: Option<u32>,
    launchers: &Launchers,
) -> Resolved {
    let catalog = Catalog::new(search_path_without_generators(full));
    let names = enumerate(&catalog);
    let inputs = load_all(&catalog, &names);
    let find = |name: &str| find_in_systemd_path(full.root(), name);
    // Host facts (%H, %m, …) are read only if some value uses one.
    let facts = LazyHostFacts::new(full.root());
    let plan = plan(
        &inputs,
        layout,
        version,
        &find,
        launchers,
        HostSource::Lazy(&facts),
    );
    Resolved {
        catalog,
        inputs,
        plan,
    }
}

/// The interface a loaded unit follows (`X-BindNetworkInterface-Follow=`, else the package
/// default), evaluated as the attach step evaluates it at start: `None` when it sets no valid
/// value or does not follow it.
fn followed_interface(
    u: &crate::unit::LoadedUnit,
    facts: &LazyHostFacts,
    version: u32,
    defaults: &crate::config::Defaults,
) -> Option<String> {
    let section = cgroup_section(&u.name)?;
    // Following is off by default, and only the key itself turns it on (as `evaluate_bind`
    // reads it): without one, nothing to evaluate. Thousands of units at every reload; asked
    // first, as it allocates nothing.
    if !defaults.follow && u.values(section, eval::KEY_FOLLOW).next().is_none() {
        return None;
    }
    if !plan::carries_key(u, section) {
        return None;
    }
    let fragment = u
        .fragment
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    let mut spec = SpecifierContext::lazy(&u.name, facts);
    spec.fragment_path = fragment.as_deref();
    let bind = eval::evaluate_bind(u, &EvalContext::new(spec, version));
    let follows = bind.follow.value.unwrap_or(defaults.follow);
    bind.interface.value.filter(|_| follows)
}

/// What the generator follows: the units it loaded, and, at a daemon-reload, the running
/// instances of templates whose interface depends on the instance (`%i`), which no file names.
struct FollowPlan {
    followed: Vec<follow::Followed>,
    /// Templates whose followed interface names the instance.
    per_instance: BTreeSet<String>,
}

fn follow_plan(
    r: &Resolved,
    facts: &LazyHostFacts,
    version: u32,
    defaults: &crate::config::Defaults,
) -> FollowPlan {
    let mut fp = FollowPlan {
        followed: Vec::new(),
        per_instance: BTreeSet::new(),
    };
    for i in &r.inputs {
        let Ok(u) = &i.unit else { continue };
        let Some(interface) = followed_interface(u, facts, version, defaults) else {
            continue;
        };
        // A template is loaded through the placeholder instance: a value that contains it
        // depends on the instance.
        if interface.contains(TEMPLATE_PLACEHOLDER) {
            fp.per_instance.insert(i.name.clone());
            continue;
        }
        fp.followed.push(follow::Followed {
            interface,
            unit: i.name.clone(),
        });
    }
    fp
}

/// Adds the running instances of `fp.per_instance` templates to what is followed.
fn follow_running_instances(
    fp: &mut FollowPlan,
    r: &Resolved,
    found: &[reconcile::Running],
    facts: &LazyHostFacts,
    version: u32,
    defaults: &crate::config::Defaults,
) {
    for f in found {
        let template = name::template_of(&f.unit);
        if !template.is_some_and(|t| fp.per_instance.contains(&t)) {
            continue;
        }
        let Ok(u) = load_with(&r.catalog, &f.unit) else {
            continue;
        };
        if let Some(interface) = followed_interface(&u, facts, version, defaults) {
            fp.followed.push(follow::Followed {
                interface,
                unit: f.unit.clone(),
            });
        }
    }
}

/// What a running unit's configuration asks for now, from the units the generator loaded.
/// Evaluated as the attach step evaluates it at start: specifiers, validation, the last valid
/// value, the fail policy. A running template instance with no name of its own in the search
/// path is configured by its template alone (see [`from_template`]).
fn wanted_now<'a>(
    r: &'a Resolved,
    facts: &'a LazyHostFacts,
    version: u32,
) -> impl Fn(&str) -> reconcile::Wanted + Sync + 'a {
    // Thousands of lookups at every reload: FxHash, not SipHash (the names are the host's unit
    // names, not input an attacker chooses to collide).
    let by_name: FxMap<&str, &Input> = r.inputs.iter().map(|i| (i.name.as_str(), i)).collect();
    move |unit: &str| {
        let Some(section) = cgroup_section(unit) else {
            return reconcile::Wanted::Unset;
        };
        let loaded_here;
        let (loaded, id) = match by_name.get(unit) {
            Some(Input { unit: Ok(u), .. }) => (u, Cow::Borrowed(u.name.as_str())),
            Some(Input { unit: Err(_), .. }) => return reconcile::Wanted::Unset,
            None => match from_template(&by_name, unit, section) {
                FromTemplate::Taken(u, id) => (u, Cow::Owned(id)),
                FromTemplate::Load => match load_with(&r.catalog, unit) {
                    Ok(u) => {
                        loaded_here = u;
                        (&loaded_here, Cow::Borrowed(loaded_here.name.as_str()))
                    }
                    Err(_) => return reconcile::Wanted::Unset,
                },
                FromTemplate::Unset => return reconcile::Wanted::Unset,
            },
        };
        if !plan::carries_key(loaded, section) {
            return reconcile::Wanted::Unset;
        }
        let fragment = loaded
            .fragment
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned());
        // `%n`, `%i`, … from the unit's own id: for an instance taken from its template, the
        // instance's, not the placeholder's. The evaluation reads nothing else of the name.
        let mut spec = SpecifierContext::lazy(&id, facts);
        spec.fragment_path = fragment.as_deref();
        let ctx = EvalContext::new(spec, version);
        let bind = eval::evaluate_bind(loaded, &ctx);
        match bind.interface.value {
            Some(name) => reconcile::Wanted::Interface {
                name,
                fail_closed: bind.fail_closed.value,
            },
            None => reconcile::Wanted::Unset,
        }
    }
}

/// How a running unit the search path does not list is evaluated (see [`from_template`]).
enum FromTemplate<'u> {
    /// Its template's unit, with the id the instance loads as.
    Taken(&'u LoadedUnit, String),
    /// Loaded by its own name.
    Load,
    /// It sets nothing: no instance, or a template that does not load or carry the key.
    Unset,
}

/// For `unit`, an instance the search path does not list: the unit loading it gives, which is
/// its template's unit as loaded through the placeholder instance (the same fragment, drop-ins
/// and assignments) under the instance's id, whose key the caller checks as for any unit.
///
/// Exact because [`enumerate`] lists every instance whose files differ from its template's: an
/// instance drop-in directory (its own or a dash prefix's), a symlink named after it, an alias's
/// drop-ins that reach it or no longer do (`alias_reached_instances`). The plan rests on the
/// same fact: such an instance gets its template's drop-in. Loading each one again was half the
/// wishes' time at a reload with thousands of running instances.
///
/// Not for a template that is an alias (`alias@.service -> sshd@.service`): `alias@off.service`
/// loads as `sshd@off.service`, whose own drop-ins the alias's placeholder instance lacks. PID 1
/// names no cgroup that way (it uses the id), so such a unit is simply loaded by its name.
fn from_template<'u>(
    by_name: &FxMap<&str, &'u Input>,
    unit: &str,
    section: &str,
) -> FromTemplate<'u> {
    let (Some(template), Some(instance)) = (name::template_of(unit), name::instance(unit)) else {
        return FromTemplate::Unset;
    };
    let Some(Input {
        unit: Ok(loaded), ..
    }) = by_name.get(template.as_str())
    else {
        return FromTemplate::Unset;
    };
    // Taken: the caller checks the key, as for a listed unit. Loaded by name only when the
    // template carries the key: without it, neither does the instance.
    let load = || {
        if plan::carries_key(loaded, section) {
            FromTemplate::Load
        } else {
            FromTemplate::Unset
        }
    };
    if name::template_of(&loaded.name).as_deref() != Some(template.as_str()) {
        return load();
    }
    match name::instantiate(&template, instance) {
        Ok(id) => FromTemplate::Taken(loaded, id),
        Err(_) => load(),
    }
}

/// daemon-reload re-resolution (see [`reconcile`]): every running unit's binding follows its
/// configuration and its interface now, from the cgroup queries `queried` took of every unit
/// walked (see [`reconcile::Prefetch`]), with the time the prefetch thread took to walk and
/// query. Logs; never fails. Returns what it did, summed over the hierarchies.
fn reconcile_running(
    r: &Resolved,
    walked: &[reconcile::Walked],
    (queried, prefetched): (reconcile::QueryResults, std::time::Duration),
    facts: &LazyHostFacts,
    version: Option<u32>,
    log: &Logger,
) -> reconcile::Tally {
    let started = Instant::now();
    let say = |level: Level, text: String| log_lines(log, level, &text);
    let wanted = wanted_now(r, facts, version.unwrap_or(NATIVE_SINCE - 1));
    let mut resolver = reconcile::Resolver::default();
    let mut total = reconcile::Tally::default();
    let mut queried = queried.into_iter();
    for (h, found) in walked {
        // Each unit's wish on its own (evaluated from what was loaded; the instances without
        // a name of their own from their template's unit, see `from_template`): thousands of
        // them, spread over the loading threads.
        let wants = map_ordered(found, |f| wanted(&f.unit));
        let t = reconcile::apply_queried(
            found,
            wants,
            // One list per hierarchy walked; none (cannot happen) queries them now.
            queried.next(),
            &mut resolver,
            reconcile::Occasion::Reload,
            &say,
        );
        total.add(&t);
        // Since the first hierarchy's wishes: the last line covers them all.
        let rest = started.elapsed();
        log_lines(
            log,
            Level::Debug,
            &format!(
                "Re-resolved running units below {}: {} running, {} with the key, {} bound, {} missing an interface, {} kept fail-closed, {} in another network namespace, {} failed; the walk and queries of every hierarchy took {:?} on the prefetch thread, the rest {:?} ({:?}).",
                h.display(),
                found.len(),
                t.examined,
                t.bound,
                t.missing,
                t.kept_fail_closed,
                t.skipped_netns,
                t.failed,
                prefetched,
                rest,
                // Its whole cost: what overlapped the loading counts too.
                prefetched + rest
            ),
        );
    }
    total
}

/// Adds the files of followed interfaces (`follow.rs`) to the plan, with the package-wide
/// defaults of `/etc/bindif-launch.conf`.
fn plan_follow(
    r: &mut Resolved,
    walked: &[reconcile::Walked],
    facts: &LazyHostFacts,
    version: Option<u32>,
    root: &Path,
    log: &Logger,
) {
    let config = crate::config::load(root);
    for w in &config.warnings {
        log_lines(log, Level::Warning, w);
    }
    let version = version.unwrap_or(NATIVE_SINCE - 1);
    let mut fp = follow_plan(r, facts, version, &config.defaults);
    // Only the instances of `per_instance` templates are looked for among the running units.
    if !fp.per_instance.is_empty() {
        for (_, found) in walked {
            follow_running_instances(&mut fp, r, found, facts, version, &config.defaults);
        }
    }
    let (files, messages) = follow::plan(&fp.followed);
    r.plan.files.extend(files);
    r.plan.messages.extend(messages);
}

/// What a run decided before writing: the plan (the followed interfaces' files included), the
/// search path it came from, and, at a daemon-reload, the running units walked and their cgroup
/// queries still under way.
struct Prepared {
    resolved: Resolved,
    full: SearchPath,
    launchers: Launchers,
    facts: LazyHostFacts,
    walked: std::sync::Arc<Vec<reconcile::Walked>>,
    queries: Option<reconcile::Queries>,
    units_seen: usize,
}

/// The logger of a run: `/dev/kmsg` for the real generator, else stderr.
fn logger(opts: &Options) -> Logger {
    if opts.kmsg {
        Logger::kmsg_or_stderr(PROGRAM, opts.debug)
    } else {
        Logger::new(PROGRAM, Sink::Stderr, opts.debug)
    }
}

/// systemd's version, from the options or `/proc/1/maps` (logged when it cannot be told).
fn systemd_version(opts: &Options, log: &Logger) -> Option<u32> {
    let version = opts
        .systemd_version
        .or_else(crate::sys::process::pid1_systemd_version);
    if version.is_none() {
        log_lines(
            log,
            Level::Notice,
            "Cannot tell the systemd version from /proc/1/maps, assuming it predates v260.",
        );
    }
    version
}

/// Everything before writing: the units resolved and planned, and with `prefetch` (a
/// daemon-reload) the running units walked, their templates' followed interfaces planned, the
/// walk's and the plan's messages logged.
fn prepare(
    opts: &Options,
    version: Option<u32>,
    prefetch: Option<reconcile::Prefetch>,
    log: &Logger,
) -> Prepared {
    let layout = match &opts.layout {
        Some(l) => l.clone(),
        None => crate::sys::cgroup::detect(&opts.root),
    };
    let full = SearchPath::system(&opts.root);
    // The output directory as PID 1 sees it, which the wrapped commands' links are named by.
    let output_on_host = match opts.normal.strip_prefix(&opts.root) {
        Ok(rel) => Path::new("/").join(rel),
        Err(_) => opts.normal.clone(),
    };
    let launchers = Launchers::in_output(&output_on_host);
    let mut resolved = resolve_units(&full, &layout, version, &launchers);
    let facts = LazyHostFacts::new(&opts.root);
    // The running units, walked once (on the prefetch's thread, while the units loaded): their
    // templates' followed interfaces are planned now, and they are re-resolved after the
    // drop-ins are written. The walk's lines come where a walk here would have logged them.
    let (walked, queries) = match prefetch {
        Some(p) => {
            let (walked, lines, queries) = p.walked();
            for (level, text) in lines {
                log_lines(log, level, &text);
            }
            (walked, Some(queries))
        }
        None => Default::default(),
    };
    plan_follow(&mut resolved, &walked, &facts, version, &opts.root, log);
    let units_seen = resolved.inputs.len();
    for m in &resolved.plan.messages {
        log_lines(log, m.level, &m.text);
    }
    Prepared {
        resolved,
        full,
        launchers,
        facts,
        walked,
        queries,
        units_seen,
    }
}

/// The walk and the cgroup queries of a daemon-reload, started at once on their own thread
/// (see [`reconcile::Prefetch`]): `None` when the run re-resolves nothing.
fn start_prefetch(
    opts: &Options,
    roots: impl FnOnce() -> Vec<PathBuf> + Send + 'static,
) -> Option<reconcile::Prefetch> {
    opts.reconcile.then(|| reconcile::Prefetch::start(roots))
}

/// Runs the generator: plan, write, verify, log. `Err` only when the output directory cannot be
/// created; a drop-in that cannot be written is logged and listed in
/// [`Outcome::write_failures`], and the others are still written.
pub fn run(opts: &Options) -> Result<Outcome, WriteError> {
    let started = Instant::now();
    let log = logger(opts);
    let version = systemd_version(opts, &log);
    if let Some(v) = version.filter(|v| *v >= NATIVE_SINCE) {
        log_lines(
            &log,
            Level::Debug,
            &format!("systemd {v} supports BindNetworkInterface= natively, nothing to generate."),
        );
        return Ok(Outcome {
            plan: Plan::default(),
            verify_failures: Vec::new(),
            write_failures: Vec::new(),
            units_seen: 0,
            elapsed: started.elapsed(),
            loaded: None,
        });
    }
    // Started before the unit files are listed: the walk and the queries need none of them.
    let prefetch = start_prefetch(opts, reconcile::walk_roots);
    let Prepared {
        mut resolved,
        full,
        launchers,
        facts,
        walked,
        queries,
        units_seen,
    } = prepare(opts, version, prefetch, &log);
    if let Err(e) = write::create_output_dir(&opts.normal) {
        log_lines(&log, Level::Err, &e.to_string());
        return Err(e);
    }
    // The links first: a command must never run a link that is not there.
    let link_failures = write::write_links(
        &opts.normal.join(eval::EXEC_LINK_DIR),
        &resolved.plan.links,
        Path::new(LAUNCHER),
    );
    for (name, e) in link_failures {
        log_lines(
            &log,
            Level::Err,
            &format!(
                "{e}, ignoring: the commands whose executable is named {name} run {LAUNCHER} instead, and are logged under its name."
            ),
        );
        without_link(&mut resolved.plan, &launchers, &name);
    }
    let plan = &resolved.plan;
    // One unit's unwritable drop-in must not cost the units after it theirs: log and go on.
    let mut write_failures = Vec::new();
    let mut unwritten = BTreeSet::new();
    for f in &plan.files {
        if let Err(e) = write::write_file(&opts.normal, f) {
            log_lines(&log, Level::Err, &e.to_string());
            unwritten.insert(f.path.clone());
            write_failures.push(e);
        }
    }
    // Verify by loading again with the output directory in the search path; a unit whose
    // drop-in failed to write is reported already.
    let checks: Vec<Check> = plan
        .checks
        .iter()
        .filter(|c| !unwritten.contains(&plan::dropin_path(&c.unit)))
        .cloned()
        .collect();
    let mut verify_failures = Vec::new();
    if !checks.is_empty() {
        match opts.normal.strip_prefix(&opts.root) {
            Ok(rel) => {
                let host = Path::new("/").join(rel);
                let c2 = Catalog::new(search_path_with_output(&full, &host));
                verify_failures = verify(&c2, &checks);
            }
            Err(_) => log_lines(
                &log,
                Level::Debug,
                "The output directory is outside the root, not verifying.",
            ),
        }
    }
    for v in &verify_failures {
        log_lines(&log, Level::Warning, v);
    }
    let elapsed = started.elapsed();
    log_lines(
        &log,
        if plan.files.is_empty() {
            Level::Debug
        } else {
            Level::Info
        },
        &format!(
            "Generated {} drop-in(s) for BindNetworkInterface= ({} units examined, {:?}).",
            plan.files.len() - write_failures.len(),
            units_seen,
            elapsed
        ),
    );
    // Last: whatever happens while re-resolving running units, every drop-in is written.
    if let Some(q) = queries {
        reconcile_running(&resolved, &walked, q.wait_timed(), &facts, version, &log);
    }
    Ok(Outcome {
        plan: resolved.plan,
        verify_failures,
        write_failures,
        units_seen,
        elapsed,
        loaded: Some(Loaded {
            catalog: resolved.catalog,
            inputs: resolved.inputs,
        }),
    })
}

/// What a daemon-reload's run does but for the files: [`run`] with `opts.reconcile`, walking
/// the hierarchies `roots` instead of the host's, without writing or verifying the drop-ins
/// (the same functions, in the same order and on the same threads). For the benchmark, which
/// times it as one. Returns the plan, what the re-resolution did, and what was loaded.
pub fn reload_without_files(
    opts: &Options,
    roots: Vec<PathBuf>,
) -> (Plan, reconcile::Tally, Loaded) {
    let log = logger(opts);
    let version = systemd_version(opts, &log);
    let opts = Options {
        reconcile: true,
        ..opts.clone()
    };
    let prefetch = start_prefetch(&opts, move || roots);
    let p = prepare(&opts, version, prefetch, &log);
    let tally = match p.queries {
        Some(q) => {
            let queried = q.wait_timed();
            reconcile_running(&p.resolved, &p.walked, queried, &p.facts, version, &log)
        }
        None => reconcile::Tally::default(),
    };
    let Resolved {
        catalog,
        inputs,
        plan,
    } = p.resolved;
    (plan, tally, Loaded { catalog, inputs })
}

/// Makes the commands of `plan` that run the link `name` (which could not be written) run the
/// launcher, in the drop-ins and in the checks made after writing them.
fn without_link(plan: &mut Plan, launchers: &Launchers, name: &str) {
    for f in &mut plan.files {
        f.content = launchers.without_link(&f.content, name);
    }
    for c in &mut plan.checks {
        c.first = launchers.without_link(&c.first, name);
    }
    plan.links.remove(name);
}

/// Whether `argv` asks for the generator: `argv[0]` is `bindif-launch-generator`, or the first
/// argument is the hidden subcommand `generate`.
pub fn wanted(argv: &[OsString]) -> bool {
    let a0 = argv
        .first()
        .map(|a| Path::new(a).file_name().unwrap_or_default() == PROGRAM)
        .unwrap_or(false);
    a0 || argv.get(1).is_some_and(|a| a == "generate")
}

/// The run's options from the parsed command line (`cli::parse_generator`, the launcher's rules)
/// and the environment systemd gives generators: `$SYSTEMD_LOG_LEVEL=debug|7` turns on debug
/// output, `$SYSTEMD_LOG_TARGET=console` keeps the installed generator off `/dev/kmsg`.
fn options(args: crate::cli::GeneratorArgs) -> Options {
    let env_debug = std::env::var("SYSTEMD_LOG_LEVEL").is_ok_and(|l| l == "debug" || l == "7");
    let console = std::env::var("SYSTEMD_LOG_TARGET").is_ok_and(|t| t == "console");
    // PID 1 passes exactly this directory; `systemd-analyze verify --generators=yes` runs the
    // installed generators with temporary ones, and must not change live bindings.
    let by_pid1 = args.root == Path::new("/") && args.normal_dir == Path::new(GENERATOR_DIRS[0]);
    Options {
        root: args.root,
        normal: args.normal_dir,
        systemd_version: args.systemd_version,
        layout: args.layout,
        kmsg: args.as_generator && !console,
        debug: args.debug || env_debug,
        reconcile: args.as_generator && by_pid1,
    }
}

/// Entry point for both forms; the exit status. A bad unit is logged and skipped (status 0). A
/// drop-in that cannot be written gives status 1 once all the others are written, as systemd's
/// own generators do: PID 1 logs the generator as failed and the boot goes on. Bad arguments
/// give 2 (INVALIDARGUMENT).
pub fn main(argv: Vec<OsString>) -> i32 {
    let opts = match crate::cli::parse_generator(argv) {
        Ok(a) => options(a),
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            return crate::exit::INVALIDARGUMENT;
        }
    };
    match run(&opts) {
        Ok(out) => {
            let status = if out.write_failures.is_empty() {
                crate::exit::SUCCESS
            } else {
                crate::exit::FAILURE
            };
            // The process exits next, and its memory goes with it: freeing every loaded unit
            // first would only make PID 1 wait longer for the generator (see `Loaded`).
            std::mem::forget(out.loaded);
            status
        }
        Err(_) => crate::exit::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a running unit asks for when it is loaded by its own name, as the reload did before
    /// [`from_template`]: the reference the wishes must match.
    fn loaded_by_name(r: &Resolved, facts: &LazyHostFacts, unit: &str) -> reconcile::Wanted {
        let Some(section) = cgroup_section(unit) else {
            return reconcile::Wanted::Unset;
        };
        let Ok(u) = load_with(&r.catalog, unit) else {
            return reconcile::Wanted::Unset;
        };
        if !plan::carries_key(&u, section) {
            return reconcile::Wanted::Unset;
        }
        let fragment = u
            .fragment
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned());
        let mut spec = SpecifierContext::lazy(&u.name, facts);
        spec.fragment_path = fragment.as_deref();
        let bind = eval::evaluate_bind(&u, &EvalContext::new(spec, NATIVE_SINCE - 1));
        match bind.interface.value {
            Some(name) => reconcile::Wanted::Interface {
                name,
                fail_closed: bind.fail_closed.value,
            },
            None => reconcile::Wanted::Unset,
        }
    }

    /// Every running name a reload can meet in each generator fixture (the names listed, and
    /// instances of every listed template, by every instance string the fixture uses and two
    /// it does not) asks for what loading it by its own name gives: the instances the search
    /// path does not list, taken from their template, included. Among them the fixtures'
    /// dash-prefix instance directories, alias instances leading elsewhere, template aliases
    /// and values naming `%i`/`%p`.
    #[test]
    fn a_running_instance_taken_from_its_template_asks_what_loading_it_gives() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/generator");
        let layout = Layout::Unified {
            mount: "/sys/fs/cgroup".into(),
        };
        let launchers = Launchers::in_output(Path::new(GENERATOR_DIRS[0]));
        let (mut from_template, mut bound_from_template) = (0, 0);
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&fixtures)
            .unwrap()
            .map(|e| e.unwrap().path().join("root"))
            .filter(|p| p.is_dir())
            .collect();
        cases.sort();
        assert!(cases.len() >= 10, "{cases:?}");
        for root in cases {
            let full = SearchPath::system_with_env(&root, None);
            let r = resolve_units(&full, &layout, Some(NATIVE_SINCE - 1), &launchers);
            let facts = LazyHostFacts::new(&root);
            let wanted = wanted_now(&r, &facts, NATIVE_SINCE - 1);
            let listed: BTreeSet<&str> = r.inputs.iter().map(|i| i.name.as_str()).collect();
            let mut instances: BTreeSet<&str> = ["x", "mgmt"].into();
            instances.extend(listed.iter().filter_map(|n| name::instance(n)));
            let mut running: Vec<String> = listed
                .iter()
                .filter(|n| name::kind(n) != Some(name::Kind::Template))
                .map(|n| n.to_string())
                .collect();
            for t in listed
                .iter()
                .filter(|n| name::kind(n) == Some(name::Kind::Template))
            {
                running.extend(
                    instances
                        .iter()
                        .filter_map(|i| name::instantiate(t, i).ok()),
                );
            }
            for unit in &running {
                let want = loaded_by_name(&r, &facts, unit);
                assert_eq!(wanted(unit), want, "{}: {unit}", root.display());
                if !listed.contains(unit.as_str()) {
                    from_template += 1;
                    bound_from_template +=
                        matches!(want, reconcile::Wanted::Interface { .. }) as usize;
                }
            }
        }
        // The comparison reached the instances taken from their template, bound ones among them.
        assert!(from_template > 50, "{from_template}");
        assert!(bound_from_template > 20, "{bound_from_template}");
    }

    /// `(path below the root, content)` into a fresh root; content `-> TARGET` makes a symlink.
    fn tree(tag: &str, entries: &[(&str, &str)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("bindif-wishes-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (p, content) in entries {
            let host = root.join(p);
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            match content.strip_prefix("-> ") {
                Some(t) => std::os::unix::fs::symlink(t, &host).unwrap(),
                None => std::fs::write(&host, content).unwrap(),
            }
        }
        root
    }

    /// The wishes of instances the search path does not list, on trees built to make an
    /// instance's files differ from its template's in every way `enumerate` must catch: a
    /// dash-prefix instance directory, template aliases (in another directory, relative, a
    /// chain, a dash prefix of one) with instance directories of their own, an instance alias
    /// to another template's instance, an instance alias leading elsewhere, masked and empty
    /// instances, an instance fragment, a symlinked instance directory, linked templates,
    /// escaped instances and instance specifiers, the type-wide directory, a template of drop-ins
    /// alone (a service's does not load, a slice's does), sockets. Each asks for what loading it
    /// by its own name gives. (The fixtures' dash-prefix directory sets no key: without these
    /// trees, dropping the dash-prefix instances from `enumerate` went unnoticed.)
    #[test]
    fn unlisted_instances_on_adversarial_trees_ask_what_loading_them_gives() {
        const T: &str = "[Service]\nExecStart=/bin/true\nBindNetworkInterface=tpl\n";
        const TI: &str = "[Service]\nExecStart=/bin/true\nBindNetworkInterface=i%i\n";
        const ALIAS: &str = "[Service]\nBindNetworkInterface=al%i\n";
        const OWN: &str = "[Service]\nBindNetworkInterface=own\n";
        const E: &str = "etc/systemd/system";
        const L: &str = "usr/lib/systemd/system";
        const R: &str = "run/systemd/system";
        let layout = Layout::Unified {
            mount: "/sys/fs/cgroup".into(),
        };
        let launchers = Launchers::in_output(Path::new(GENERATOR_DIRS[0]));
        let (mut bad, mut unlisted, mut bound) = (Vec::new(), 0, 0);
        let mut check = |tag: &str, entries: &[(String, &str)], running: &[&str]| {
            let entries: Vec<(&str, &str)> =
                entries.iter().map(|(p, c)| (p.as_str(), *c)).collect();
            let root = tree(tag, &entries);
            let full = SearchPath::system_with_env(&root, None);
            let r = resolve_units(&full, &layout, Some(NATIVE_SINCE - 1), &launchers);
            let facts = LazyHostFacts::new(&root);
            let wanted = wanted_now(&r, &facts, NATIVE_SINCE - 1);
            for unit in running {
                let want = loaded_by_name(&r, &facts, unit);
                let got = wanted(unit);
                if !r.inputs.iter().any(|i| i.name == *unit) {
                    unlisted += 1;
                }
                bound += matches!(want, reconcile::Wanted::Interface { .. }) as usize;
                if got != want {
                    bad.push(format!("{tag}: {unit}: {got:?}, loading it gives {want:?}"));
                }
            }
            let _ = std::fs::remove_dir_all(&root);
        };
        let at = |d: &str, n: &str| format!("{d}/{n}");
        check(
            "dash",
            &[
                (at(L, "a-b@.service"), T),
                (at(E, "a-@x.service.d/o.conf"), OWN),
                (at(E, "a-@.service.d/o.conf"), ALIAS),
            ],
            &["a-b@x.service", "a-b@y.service", "a-b@x\\x2dy.service"],
        );
        check(
            "template-alias",
            &[
                (at(L, "T@.service"), TI),
                (at(E, "A@.service"), "-> /usr/lib/systemd/system/T@.service"),
                (at(E, "A@.service.d/o.conf"), ALIAS),
                (at(E, "A@x.service.d/o.conf"), OWN),
            ],
            &["T@x.service", "T@y.service", "A@x.service", "A@z.service"],
        );
        check(
            "template-alias-relative",
            &[
                (at(R, "T@.service"), TI),
                (at(R, "A@.service"), "-> T@.service"),
                (at(E, "A@.service.d/o.conf"), ALIAS),
            ],
            &["T@x.service", "A@x.service"],
        );
        check(
            "template-alias-chain",
            &[
                (at(L, "T@.service"), TI),
                (at(E, "T@.service"), "-> /usr/lib/systemd/system/T@.service"),
                (at(E, "B@.service"), "-> C@.service"),
                (at(E, "C@.service"), "-> /usr/lib/systemd/system/T@.service"),
                (at(E, "B@x.service.d/o.conf"), OWN),
                (at(E, "C-@y.service.d/o.conf"), ALIAS),
            ],
            &[
                "T@x.service",
                "T@y.service",
                "T@z.service",
                "B@x.service",
                "C@x.service",
            ],
        );
        check(
            "template-alias-dash",
            &[
                (at(L, "T@.service"), TI),
                (
                    at(E, "A-b@.service"),
                    "-> /usr/lib/systemd/system/T@.service",
                ),
                (at(E, "A-@x.service.d/o.conf"), OWN),
            ],
            &["T@x.service", "T@y.service", "A-b@x.service"],
        );
        check(
            "instance-alias",
            &[
                (at(L, "T@.service"), TI),
                (
                    at(E, "B@x.service"),
                    "-> /usr/lib/systemd/system/T@x.service",
                ),
                (at(E, "B@.service.d/o.conf"), OWN),
            ],
            &["T@x.service", "T@y.service", "B@x.service", "B@y.service"],
        );
        check(
            "instance-alias-elsewhere",
            &[
                (at(L, "T@.service"), TI),
                (at(L, "V@.service"), T),
                (at(E, "A@.service"), "-> /usr/lib/systemd/system/T@.service"),
                (
                    at(E, "A@x.service"),
                    "-> /usr/lib/systemd/system/V@x.service",
                ),
                (at(E, "A@.service.d/o.conf"), ALIAS),
            ],
            &["T@x.service", "T@y.service", "V@x.service", "V@y.service"],
        );
        check(
            "instances",
            &[
                (at(L, "T@.service"), TI),
                (at(E, "T@m.service"), "-> /dev/null"),
                (at(E, "T@e.service"), ""),
                (at(E, "T@own.service"), T),
                ("opt/dd/o.conf".into(), OWN),
                (at(E, "T@s.service.d"), "-> /opt/dd"),
                (at(E, "A@.service"), "-> /dev/null"),
                (at(E, "A@.service.d/o.conf"), ALIAS),
            ],
            &[
                "T@m.service",
                "T@e.service",
                "T@own.service",
                "T@s.service",
                "T@q.service",
            ],
        );
        check(
            "linked",
            &[
                ("opt/x/L@.service".into(), TI),
                (at(E, "L@.service"), "-> /opt/x/L@.service"),
                ("opt/x/M@.service".into(), TI),
                (at(E, "K@.service"), "-> /opt/x/M@.service"),
                (at(E, "K@.service.d/o.conf"), OWN),
            ],
            &["L@x.service", "K@x.service"],
        );
        check(
            "specifiers",
            &[
                (
                    at(L, "T@.service"),
                    "[Service]\nExecStart=/bin/true\nBindNetworkInterface=%i\n",
                ),
                (
                    at(L, "U@.service"),
                    "[Service]\nExecStart=/bin/true\nBindNetworkInterface=%I\n",
                ),
                (
                    at(L, "W-x@.service"),
                    "[Service]\nExecStart=/bin/true\nBindNetworkInterface=%p%j\n",
                ),
                (
                    at(L, "Y@.service"),
                    "[Service]\nExecStart=/bin/true\nBindNetworkInterface=%N\n",
                ),
            ],
            &[
                "T@a\\x2db.service",
                "T@a-b.service",
                "U@a\\x2db.service",
                "W-x@q.service",
                "Y@q.service",
                "T@x@y.service",
            ],
        );
        check(
            "type-wide",
            &[
                (at(L, "T@.service"), "[Service]\nExecStart=/bin/true\n"),
                (at(E, "service.d/o.conf"), ALIAS),
            ],
            &["T@x.service", "T@y.service"],
        );
        check(
            "drop-ins-alone",
            &[
                (at(E, "N@.service.d/o.conf"), ALIAS),
                (
                    at(E, "Z@.slice.d/o.conf"),
                    "[Slice]\nBindNetworkInterface=z%i\n",
                ),
            ],
            &["N@x.service", "Z@x.slice"],
        );
        check(
            "socket",
            &[
                (
                    at(L, "S@.socket"),
                    "[Socket]\nListenStream=1\nAccept=yes\nBindNetworkInterface=s%i\n",
                ),
                (
                    at(E, "S@1.socket.d/o.conf"),
                    "[Socket]\nBindNetworkInterface=one\n",
                ),
            ],
            &["S@1.socket", "S@2.socket"],
        );
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(unlisted >= 20, "{unlisted}");
        assert!(bound >= 30, "{bound}");
    }

    /// [`unlisted_instances_on_adversarial_trees_ask_what_loading_them_gives`] on random trees
    /// (a fixed seed): templates with and without dashes, their fragments with and without the
    /// key, template aliases (absolute, relative, leaving the search path), instance aliases,
    /// masked and own instance fragments, instance, template, dash-prefix and type-wide drop-in
    /// directories (some symlinked, some resetting the key). Every instance named after its
    /// own id (the name PID 1 gives its cgroup), listed or not, asks for what loading it by its
    /// name gives. (An alias template's instance is loaded as its target's id: PID 1 names no
    /// cgroup after it.)
    #[test]
    fn random_trees_give_unlisted_instances_what_loading_them_gives() {
        const TREES: usize = 300;
        let mut seed: u64 = 1;
        let mut rnd = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let layout = Layout::Unified {
            mount: "/sys/fs/cgroup".into(),
        };
        let launchers = Launchers::in_output(Path::new(GENERATOR_DIRS[0]));
        let dirs = [
            "etc/systemd/system",
            "run/systemd/system",
            "usr/lib/systemd/system",
        ];
        let templates = ["a@", "a-b@", "a-b-c@", "c@", "a-@", "a-b-@"];
        let (mut bad, mut compared, mut unlisted, mut bound) = (Vec::new(), 0, 0, 0);
        for tree_no in 0..TREES {
            let mut entries: Vec<(String, String)> = Vec::new();
            for k in 0..2 + rnd(8) {
                let d = dirs[rnd(dirs.len())];
                let t = templates[rnd(templates.len())];
                let other = templates[rnd(templates.len())];
                let other_dir = dirs[rnd(dirs.len())];
                let i = ["x", "y"][rnd(2)];
                let set = |v: &str| format!("[Service]\nBindNetworkInterface={v}{k}\n");
                let fragment = |v: &str| format!("[Service]\nExecStart=/bin/true\n{}", set(v));
                let mut add = |p: String, c: String| entries.push((p, c));
                match rnd(12) {
                    0 | 1 => add(format!("{d}/{t}.service"), fragment("t%i")),
                    2 => add(
                        format!("{d}/{t}.service"),
                        "[Service]\nExecStart=/bin/true\n".into(),
                    ),
                    3 if rnd(2) == 0 => add(
                        format!("{d}/{t}.service"),
                        format!("-> /{other_dir}/{other}.service"),
                    ),
                    3 => add(format!("{d}/{t}.service"), format!("-> {other}.service")),
                    4 => add(
                        format!("{d}/{t}{i}.service"),
                        format!("-> /{other_dir}/{other}{i}.service"),
                    ),
                    5 if rnd(2) == 0 => add(format!("{d}/{t}{i}.service"), "-> /dev/null".into()),
                    5 => add(format!("{d}/{t}{i}.service"), fragment("own")),
                    6 => {
                        let stem = match rnd(5) {
                            0 => format!("{t}{i}.service"),
                            1 => format!("{t}.service"),
                            2 => "a-.service".into(),
                            3 => "service".into(),
                            _ => format!("a-@{i}.service"),
                        };
                        add(format!("{d}/{stem}.d/o{k}.conf"), set("d"));
                    }
                    7 => add(
                        format!("{d}/{t}{i}.service.d/o{k}.conf"),
                        "[Service]\nBindNetworkInterface=\n".into(),
                    ),
                    8 => add(format!("{d}/a-b-@{i}.service.d/o{k}.conf"), set("e")),
                    9 => {
                        add(format!("opt/l{k}/{t}.service"), fragment("l%i"));
                        add(
                            format!("{d}/{other}.service"),
                            format!("-> /opt/l{k}/{t}.service"),
                        );
                    }
                    10 => {
                        add(format!("opt/dd{k}/o{k}.conf"), set("s"));
                        let stem =
                            [format!("{t}{i}.service"), format!("{t}.service")][rnd(2)].clone();
                        add(format!("{d}/{stem}.d"), format!("-> /opt/dd{k}"));
                    }
                    _ => add(
                        format!("{d}/{t}.service"),
                        format!("-> ../../../{other_dir}/{other}.service"),
                    ),
                }
            }
            // One entry per path, and none where another needs a directory.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            let paths: Vec<String> = entries.iter().map(|e| format!("{}/", e.0)).collect();
            entries.retain(|(p, _)| {
                let dir = format!("{p}/");
                !paths.iter().any(|q| q.starts_with(&dir) && *q != dir)
            });
            let refs: Vec<(&str, &str)> = entries
                .iter()
                .map(|(p, c)| (p.as_str(), c.as_str()))
                .collect();
            let root = tree(&format!("random-{tree_no}"), &refs);
            let full = SearchPath::system_with_env(&root, None);
            let r = resolve_units(&full, &layout, Some(NATIVE_SINCE - 1), &launchers);
            let facts = LazyHostFacts::new(&root);
            let wanted = wanted_now(&r, &facts, NATIVE_SINCE - 1);
            for t in templates {
                for i in ["x", "y", "z"] {
                    let unit = format!("{t}{i}.service");
                    if load_with(&r.catalog, &unit).is_ok_and(|u| u.name != unit) {
                        continue;
                    }
                    let want = loaded_by_name(&r, &facts, &unit);
                    compared += 1;
                    unlisted += !r.inputs.iter().any(|i| i.name == unit) as usize;
                    bound += matches!(want, reconcile::Wanted::Interface { .. }) as usize;
                    let got = wanted(&unit);
                    if got != want {
                        bad.push(format!("tree {tree_no}: {unit}: {got:?}, loading it gives {want:?}: {entries:?}"));
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&root);
        }
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(
            compared > 5000 && unlisted > 4000 && bound > 1000,
            "{compared} compared, {unlisted} unlisted, {bound} bound"
        );
    }
}
