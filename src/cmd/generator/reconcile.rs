// SPDX-License-Identifier: LGPL-2.1-or-later
//! daemon-reload re-resolution: what systemd 262 does when PID 1 re-realizes the cgroups of
//! running units at every `systemctl daemon-reload`.
//!
//! systemd runs the generators at every daemon-reload, as root, before PID 1 reloads the units;
//! so the generator is where the tool can do what 262's PID 1 does then, without a daemon of its
//! own. For every running unit (a cgroup below the slices of the hierarchy PID 1 uses, or of our
//! private mirror on legacy hosts) the current configuration is evaluated and its interface
//! resolved in PID 1's network namespace (ours: PID 1 runs the generator), then:
//!
//! | configuration | interface | programs of the key on the cgroup | action |
//! |---|---|---|---|
//! | key set | exists, ifindex N | exactly one, for N | none |
//! | key set | exists, ifindex N | none, stale, several | attach for N, remove the older copies |
//! | key set | missing | any | remove them; log `Couldn't find index …, ignoring` |
//! | key set, fail-closed | missing | some | keep them (new sockets fail with ENODEV); log it |
//! | key unset or reset | — | any | none: the binding stays until the unit restarts |
//!
//! The last row is what systemd 262 does, measured (tests/vm/scenarios/reload.sh on sid): after a
//! drop-in resets the key and a reload, `systemctl show` says the property is empty and the
//! program stays, binding every new socket, until the unit stops. A user moving to 262 must see
//! no difference, so the reload leaves it too; `bindif-launch status` reports such a unit as
//! `reset-pending`.
//!
//! Only programs named for the key ([`Origin::Key`]) are removed; a new binding replaces every
//! copy of ours on the cgroup, as a start does (an explicit ad hoc program there included). A
//! unit without the key is never touched, so the explicit form's binding of a unit that does not
//! set it is left alone. Nothing here can fail the
//! reload: every error is logged, named, and ignored (the next reload or restart tries again).
//! A unit whose processes live in another network namespace than PID 1 was resolved there at
//! start (see `bindif-launch(8)`); it is left as it is.
//!
//! [`decide`] is the pure rule; [`running`] walks the hierarchy, [`apply`] acts.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::log::Level;
use crate::program::Origin;
use crate::sys::{self, bpf};

/// One of our programs on a running unit's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    pub id: u32,
    pub ifindex: u32,
    pub origin: Origin,
}

/// What the unit's configuration asks for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// No `BindNetworkInterface=`, reset, or no valid value.
    Unset,
    Interface {
        name: String,
        /// `X-BindNetworkInterface-FailClosed=yes`: never trade a binding for none.
        fail_closed: bool,
    },
}

impl Wanted {
    /// The default policy's wish (fail-open, as v262).
    pub fn interface(name: &str) -> Wanted {
        Wanted::Interface {
            name: name.to_string(),
            fail_closed: false,
        }
    }
}

/// What a reload does to one cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Keep,
    /// Attach a program for `ifindex`, then remove the older copies of ours.
    Bind {
        ifindex: u32,
    },
    /// The interface does not exist: remove the key's programs `ids` (maybe none) and say so.
    Missing {
        ids: Vec<u32>,
    },
    /// The interface does not exist and the unit is fail-closed: keep the stale binding (its
    /// new sockets fail with ENODEV rather than go out unbound) and say so.
    MissingKept,
}

/// The rule of the table above: configuration, the ifindex its interface has now (`None`:
/// missing) and our programs on the cgroup in, the action out.
pub fn decide(wanted: &Wanted, resolved: Option<u32>, attached: &[Attached]) -> Action {
    let key_ids = || -> Vec<u32> {
        attached
            .iter()
            .filter(|a| a.origin == Origin::Key)
            .map(|a| a.id)
            .collect()
    };
    match (wanted, resolved) {
        // The key is gone or reset: 262 keeps the binding until the unit restarts.
        (Wanted::Unset, _) => Action::Keep,
        (Wanted::Interface { fail_closed, .. }, None)
            if *fail_closed && attached.iter().any(|a| a.origin == Origin::Key) =>
        {
            Action::MissingKept
        }
        (Wanted::Interface { .. }, None) => Action::Missing { ids: key_ids() },
        (Wanted::Interface { .. }, Some(ifindex)) => {
            // Exactly one program of ours, for this ifindex: a start or the last reload made it.
            // An explicit program next to it, several copies or a stale ifindex: one new copy
            // replaces them all, as a start would.
            match attached {
                [only] if only.origin == Origin::Key && only.ifindex == ifindex => Action::Keep,
                _ => Action::Bind { ifindex },
            }
        }
    }
}

/// Why [`apply`] runs: the words of its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occasion {
    /// `systemctl daemon-reload` (the generator).
    Reload,
    /// The interface appeared (`--follow`, see `cmd::follow`).
    Follow,
}

impl Occasion {
    fn words(self) -> &'static str {
        match self {
            Occasion::Reload => "at daemon-reload",
            Occasion::Follow => "as it appeared",
        }
    }
}

/// A running unit's cgroup, found by [`running`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The unit, as its cgroup names it (systemd's escaping undone).
    pub unit: String,
    /// The cgroup's directory (under the walked mount).
    pub path: PathBuf,
}

/// Unit types whose cgroups we look at: those whose `BindNetworkInterface=` the generator also
/// binds at start (services, sockets, slices). Mount and swap units are not bound at start
/// (their commands are systemd's own), so a reload must not start binding them either. Scopes
/// are transient: their settings come over D-Bus, which the generator cannot see.
fn followed_type(unit: &str) -> bool {
    matches!(
        crate::unit::name::unit_type(unit),
        Some("service" | "socket" | "slice")
    )
}

/// systemd's `cg_unescape()`: a cgroup named `_foo.service` is the unit `foo.service`.
pub fn unit_of_cgroup_name(name: &str) -> &str {
    name.strip_prefix('_').unwrap_or(name)
}

/// The cgroup PID 1's units live below, from PID 1's own cgroup path (`/init.scope` on a host,
/// `/docker/ID/init.scope` for a systemd in a container that shares the host's cgroup
/// namespace): the path without its `init.scope`. `None` when PID 1 is not in `init.scope`.
pub fn manager_root(pid1_cgroup: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::OsStr::from_bytes(pid1_cgroup);
    let path = Path::new(path);
    (path.file_name()? == "init.scope").then(|| path.parent().map(Path::to_path_buf))?
}

/// Walks `top` (PID 1's part of a cgroup2 hierarchy) the way PID 1 lays units out: into slices
/// only, never into a unit's own cgroup (a delegated service manages its subtree itself). Only
/// names and paths: nothing is opened below a unit. Holds one directory open at a time, so a
/// host with thousands of slices cannot exhaust the generator's descriptors. Cgroups that vanish
/// while we look are skipped; an error below one slice does not stop the others (it is logged).
pub fn running(top: &Path, log: &dyn Fn(Level, String)) -> Vec<Running> {
    let mut out = Vec::new();
    let mut slices: Vec<PathBuf> = vec![top.to_path_buf()];
    while let Some(path) = slices.pop() {
        let children = sys::cgroup::open_cgroup_dir(&path)
            .and_then(|dir| sys::cgroup::subdirectories(dir.as_fd()));
        let children = match children {
            Ok(c) => c,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => {
                log(
                    Level::Warning,
                    format!(
                        "bind-interface: Failed to list the cgroups below {}, not re-resolving the units there: {}",
                        path.display(),
                        sys::strerror(&e)
                    ),
                );
                continue;
            }
        };
        for child in children {
            let Some(unit) = child
                .to_str()
                .map(unit_of_cgroup_name)
                .filter(|u| crate::unit::name::is_valid(u) && followed_type(u))
            else {
                continue;
            };
            let child_path = path.join(&child);
            if unit.ends_with(".slice") {
                slices.push(child_path.clone());
            }
            out.push(Running {
                unit: unit.to_string(),
                path: child_path,
            });
        }
    }
    out
}

/// Our programs on the cgroup open at `dir`, in attach order. Programs that vanish while we look
/// are skipped.
pub fn ours(dir: BorrowedFd<'_>) -> io::Result<Vec<Attached>> {
    let mut out = Vec::new();
    for id in bpf::query(dir)? {
        match ours_of_info(bpf::prog_info(id)) {
            Ok(Some(ours)) => out.push(ours.at(id)),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// What a program is to [`decide`]: its ifindex and name when it is ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ours {
    ifindex: u32,
    origin: Origin,
}

impl Ours {
    fn at(self, id: u32) -> Attached {
        Attached {
            id,
            ifindex: self.ifindex,
            origin: self.origin,
        }
    }
}

/// A program's `prog_info` reduced to [`Ours`]: `Ok(None)` when it is not ours or vanished
/// while we looked (`ENOENT`).
fn ours_of_info(info: io::Result<bpf::ProgInfo>) -> io::Result<Option<Ours>> {
    match info {
        Ok(info) => Ok(match (info.ours_ifindex, info.origin) {
            (Some(ifindex), Some(origin)) => Some(Ours { ifindex, origin }),
            _ => None,
        }),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How many running units a thread of [`apply`] queries at a time: each block opens its first
/// unit's parent again (a walk of its full path), so blocks are larger than the loading
/// threads' (a few hundred units of one slice cost about a millisecond).
const QUERY_BLOCK: usize = 256;

/// The ids of the programs attached to each cgroup of `units` (in order), each opened below
/// its parent's directory when the unit before it had the same parent (units of one slice
/// come together from [`running`]): one `openat(2)` of one name instead of a walk of the full
/// path, and an `O_PATH` one (see [`query_at`]). Where the parent cannot be opened, the full
/// path is, so errors are those of the cgroup itself.
fn query_all(units: &[&Running]) -> Vec<io::Result<Vec<u32>>> {
    let mut parent: Option<(&Path, Option<std::os::fd::OwnedFd>)> = None;
    let mut by_path = true;
    let mut out = Vec::with_capacity(units.len());
    for r in units {
        let (Some(up), Some(name)) = (r.path.parent(), r.path.file_name()) else {
            out.push(sys::cgroup::open_cgroup_dir(&r.path).and_then(|d| bpf::query(d.as_fd())));
            continue;
        };
        if parent.as_ref().map(|(p, _)| *p) != Some(up) {
            parent = Some((up, sys::cgroup::open_cgroup_dir(up).ok()));
        }
        out.push(match parent.as_ref().and_then(|(_, fd)| fd.as_ref()) {
            Some(pfd) => query_at(pfd.as_fd(), name, &mut by_path),
            None => sys::cgroup::open_cgroup_dir(&r.path).and_then(|d| bpf::query(d.as_fd())),
        });
    }
    out
}

/// The ids of the programs attached to the cgroup `name` below the directory `parent`, through
/// an `O_PATH` descriptor while `by_path` holds (see [`either_query`]).
fn query_at(
    parent: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    by_path: &mut bool,
) -> io::Result<Vec<u32>> {
    either_query(
        by_path,
        || sys::cgroup::open_cgroup_path_at(parent, name).and_then(|d| bpf::query(d.as_fd())),
        || sys::cgroup::open_cgroup_dir_at(parent, name).and_then(|d| bpf::query(d.as_fd())),
    )
}

/// `by_path()` (the query through an `O_PATH` descriptor: it needs no more, and such an open
/// costs less) while `by_path` holds, else `readable()`. A kernel whose query refuses such a
/// descriptor (`EBADF`) is asked again with a readable one, for this cgroup and every later
/// one (`by_path` is cleared), so no unit goes unqueried.
fn either_query(
    by_path: &mut bool,
    path: impl FnOnce() -> io::Result<Vec<u32>>,
    readable: impl FnOnce() -> io::Result<Vec<u32>>,
) -> io::Result<Vec<u32>> {
    if *by_path {
        match path() {
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => *by_path = false,
            r => return r,
        }
    }
    readable()
}

/// Whether a process of the cgroup at `path`, or of any cgroup below it (a delegated unit's
/// processes may all live in sub-cgroups), runs in another network namespace than `own`.
/// Unreadable entries are skipped: they can only make a namespace check pass that a start would
/// have made in PID 1's namespace anyway.
fn other_netns_below(path: &Path, own: (u64, u64)) -> bool {
    let mut dirs = vec![path.to_path_buf()];
    while let Some(d) = dirs.pop() {
        if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
            let pids = text.lines().filter_map(|l| l.trim().parse::<u32>().ok());
            for pid in pids {
                if sys::process::net_ns(Some(pid)).is_ok_and(|ns| ns != own) {
                    return true;
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    false
}

/// What one run looks up once: the interfaces' ifindexes, and what each program id attached
/// to a running unit's cgroup is.
#[derive(Default)]
pub struct Resolver {
    cache: HashMap<String, io::Result<Option<u32>>>,
    /// Program id → what it is (`None`: not ours). A program's name, type and instructions
    /// never change, and the kernel hands out ids cyclically (the next id after the last one,
    /// wrapping only after 2^31), so within one run an id means one program. Errors are not
    /// kept beyond one [`apply`].
    programs: HashMap<u32, Option<Ours>>,
}

impl Resolver {
    /// The interface's ifindex now (`None`: it does not exist), looked up once per run.
    pub fn resolve(&mut self, interface: &str) -> &io::Result<Option<u32>> {
        // Looked up before inserting: `entry()` would take an owned key, a copy of the name
        // for every running unit.
        if !self.cache.contains_key(interface) {
            let r = sys::netlink::resolve_ifindex(interface);
            self.cache.insert(interface.to_string(), r);
        }
        &self.cache[interface]
    }

    /// Looks up every id of `queried` not seen yet this run (spread over threads: without a
    /// shared program, each bound unit has its own), keeping what worked; returns the errors
    /// other than `ENOENT` (a program that vanished is skipped) by id, for this call only.
    fn learn_programs(&mut self, queried: &[io::Result<Vec<u32>>]) -> HashMap<u32, i32> {
        let mut new: Vec<u32> = queried
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|id| !self.programs.contains_key(id))
            .collect();
        new.sort_unstable();
        new.dedup();
        let infos = super::parallel::map_ordered(&new, |&id| ours_of_info(bpf::prog_info(id)));
        let mut errors = HashMap::new();
        for (id, info) in new.into_iter().zip(infos) {
            match info {
                Ok(o) => {
                    self.programs.insert(id, o);
                }
                // Raw errnos from bpf(2): rebuilt as the same error for each unit's message.
                Err(e) => {
                    errors.insert(id, e.raw_os_error().unwrap_or(libc::EIO));
                }
            }
        }
        errors
    }

    /// Our programs among `ids` (in attach order), from what [`Resolver::learn_programs`]
    /// found; the first id that could not be looked up fails the unit, as [`ours`] does.
    fn attached(&self, ids: &[u32], errors: &HashMap<u32, i32>) -> io::Result<Vec<Attached>> {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(&errno) = errors.get(&id) {
                return Err(io::Error::from_raw_os_error(errno));
            }
            if let Some(Some(o)) = self.programs.get(&id) {
                out.push(o.at(id));
            }
        }
        Ok(out)
    }
}

/// What [`apply`] did, for the summary line and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Running units whose configuration sets the key (the only ones looked at closely).
    pub examined: usize,
    pub bound: usize,
    pub missing: usize,
    pub kept_fail_closed: usize,
    pub skipped_netns: usize,
    pub failed: usize,
}

impl Tally {
    /// Adds another walk's counts.
    pub fn add(&mut self, o: &Tally) {
        self.examined += o.examined;
        self.bound += o.bound;
        self.missing += o.missing;
        self.kept_fail_closed += o.kept_fail_closed;
        self.skipped_netns += o.skipped_netns;
        self.failed += o.failed;
    }
}

/// A running unit whose configuration sets the key, before its cgroup is looked at.
struct Wish<'a> {
    running: &'a Running,
    /// Its place in the units walked.
    index: usize,
    want: Wanted,
    /// Its interface's ifindex now; `Err`: the lookup failed (the resolver keeps the error).
    ifindex: Result<Option<u32>, ()>,
}

/// Re-resolves every running unit of `found`: `wanted` gives each unit's configuration now.
/// Units without the key need nothing (a reset keeps its binding, as on 262), so only units that
/// set it cost a cgroup open and a `BPF_PROG_QUERY`.
///
/// Three passes: what each unit wants and its interface's ifindex (in order: `wanted` and the
/// netlink lookups are sequential); the cgroup queries and the programs not seen yet this run
/// (read-only, spread over threads: thousands of units cost one syscall round each); then, in
/// `found`'s order, the decision, the action and every log line, as one pass would log them.
pub fn apply(
    found: &[Running],
    wanted: &mut dyn FnMut(&str) -> Wanted,
    resolver: &mut Resolver,
    occasion: Occasion,
    log: &dyn Fn(Level, String),
) -> Tally {
    let wants = found.iter().map(|r| wanted(&r.unit)).collect();
    apply_queried(found, wants, None, resolver, occasion, log)
}

/// [`apply`], with what each unit of `found` wants evaluated already (`wants`, in `found`'s
/// order: the generator spreads that over threads), and, when `queried` is given, the cgroup
/// queries of every unit of `found` taken already (in `found`'s order: see [`Prefetch`])
/// instead of those of the units that set the key, now. Only the results of the units
/// [`apply`] would query are used, in the same way.
pub fn apply_queried(
    found: &[Running],
    wants: Vec<Wanted>,
    queried: Option<Vec<io::Result<Vec<u32>>>>,
    resolver: &mut Resolver,
    occasion: Occasion,
    log: &dyn Fn(Level, String),
) -> Tally {
    let mut tally = Tally::default();
    let own_netns = sys::process::net_ns(None).ok();
    let wishes: Vec<Wish> = found
        .iter()
        .zip(wants)
        .enumerate()
        .filter_map(|(index, (r, want))| {
            let Wanted::Interface { name, .. } = &want else {
                return None;
            };
            let ifindex = resolver.resolve(name).as_ref().map(|x| *x).map_err(drop);
            Some(Wish {
                running: r,
                index,
                want,
                ifindex,
            })
        })
        .collect();
    let to_query = wishes.iter().filter(|w| w.ifindex.is_ok());
    let queried: Vec<io::Result<Vec<u32>>> = match queried {
        Some(all) => pick(all, to_query.map(|w| w.index)),
        None => {
            let to_query: Vec<&Running> = to_query.map(|w| w.running).collect();
            super::parallel::map_chunks_ordered(&to_query, QUERY_BLOCK, query_all)
        }
    };
    let info_errors = resolver.learn_programs(&queried);
    let mut queried = queried.into_iter();
    for Wish {
        running: r,
        want,
        ifindex,
        ..
    } in &wishes
    {
        let Wanted::Interface {
            name: interface, ..
        } = want
        else {
            continue;
        };
        tally.examined += 1;
        let resolved = match ifindex {
            Ok(x) => *x,
            Err(()) => {
                if let Err(e) = resolver.resolve(interface) {
                    log(
                        Level::Warning,
                        format!(
                            "{}: bind-interface: Failed to resolve interface '{interface}', ignoring: {}",
                            r.unit,
                            sys::strerror(e)
                        ),
                    );
                }
                tally.failed += 1;
                continue;
            }
        };
        let attached = match queried.next() {
            Some(ids) => ids.and_then(|ids| resolver.attached(&ids, &info_errors)),
            // One result per unit queried: cannot happen.
            None => Err(io::Error::from_raw_os_error(libc::EIO)),
        };
        let attached = match attached {
            Ok(a) => a,
            // The unit stopped while we looked.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => {
                tally.failed += 1;
                log(
                    Level::Warning,
                    format!(
                        "{}: bind-interface: Failed to query BPF programs of {}, ignoring: {}",
                        r.unit,
                        r.path.display(),
                        sys::strerror(&e)
                    ),
                );
                continue;
            }
        };
        let action = decide(want, resolved, &attached);
        if action == Action::Keep {
            continue;
        }
        // Resolved at start in the unit's own network namespace: its ifindex means nothing
        // here, and re-resolving in ours would bind it to another namespace's interface.
        if own_netns.is_some_and(|own| other_netns_below(&r.path, own)) {
            log(
                Level::Debug,
                format!(
                    "{}: bind-interface: Runs in another network namespace, not re-resolving its binding {}.",
                    r.unit,
                    occasion.words()
                ),
            );
            tally.skipped_netns += 1;
            continue;
        }
        match act(&r.path, interface, &action) {
            Ok(Acted::Done) => report(&r.unit, interface, &action, occasion, &mut tally, log),
            Ok(Acted::Gone) => {}
            Err(e) => {
                tally.failed += 1;
                log(
                    Level::Err,
                    format!(
                        "{}: bind-interface: Failed to re-resolve the binding {}, ignoring: {e}",
                        r.unit,
                        occasion.words()
                    ),
                );
            }
        }
    }
    tally
}

/// The results at `indices` (ascending, each once) of `all`, in that order. An index beyond
/// `all` (cannot happen: `all` has one result per unit walked) gives `EIO`, which the unit's
/// message names.
fn pick<T>(all: Vec<io::Result<T>>, indices: impl Iterator<Item = usize>) -> Vec<io::Result<T>> {
    let mut all: Vec<Option<io::Result<T>>> = all.into_iter().map(Some).collect();
    indices
        .map(|i| {
            all.get_mut(i)
                .and_then(Option::take)
                .unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EIO)))
        })
        .collect()
}

/// The running units of one hierarchy: where the walk started, and what it found.
pub type Walked = (PathBuf, Vec<Running>);

/// A log line kept to be logged later, on the thread and at the place of the sequential order.
pub type Line = (Level, String);

/// The walk of the running units and their cgroup queries, done on a thread of their own while
/// the generator lists and loads the unit files: neither depends on the configuration.
///
/// Why this is as good as walking and querying after the drop-ins are written: nothing the
/// generator does before [`apply`] changes a cgroup or a program on it, and PID 1 waits for the
/// generators during a reload, so it starts and stops no unit meanwhile. What can still
/// change (a unit's processes exit, or an attach step that was running when the reload began
/// attaches its program) can change between the queries and the actions of the sequential
/// order too, whose queries were all taken before the first action; only the window is
/// longer: a cgroup gone is `ENOENT` (skipped, at the query as when the action opens it; one
/// removed in the microseconds after that open fails the action, logged), a program
/// attached after the query of a unit that gets `Bind` is replaced with the rest (a new copy
/// removes every older one of ours), and whatever else such a race leaves, the next reload or
/// start settles, as it did before. The one race the longer window makes likelier: a cgroup
/// removed and made again between the query and the action (a unit restarted) is judged by
/// what the old one had; its new start binds it with its own attach step, and a start that
/// could not bind stays unbound until the next reload. PID 1 starts nothing during a reload, so
/// that needs the generator run by hand with PID 1's arguments while units start, or, on a
/// legacy host, an attach step that was already running rebuilding its mirror cgroup (which it
/// then binds itself). Every running unit of a followed
/// type is queried, before it is known which set the key (a few hundred cheap queries on a
/// real host); [`apply_queried`] uses the results of exactly the units [`apply`] would query.
///
/// The thread logs nothing itself: the walk's lines are handed over with its result and logged
/// where the sequential run logged them.
pub struct Prefetch {
    walked: std::sync::mpsc::Receiver<(Arc<Vec<Walked>>, Vec<Line>)>,
    queried: Queries,
}

/// The cgroup queries of a [`Prefetch`]: under way on its thread, or, when no thread could be
/// started, done already on the caller's.
pub struct Queries(QueriesState);

/// One result per unit found, per hierarchy walked.
pub type QueryResults = Vec<Vec<io::Result<Vec<u32>>>>;

/// The queries' results, and how long the job (the walk and the queries) took.
type Timed = (QueryResults, std::time::Duration);

enum QueriesState {
    /// `None`: the thread found no work (cannot happen: it takes the job it was started for).
    Thread(std::thread::JoinHandle<Option<Timed>>),
    Done(Timed),
}

impl Prefetch {
    /// Starts walking the hierarchies `roots` gives (called on the thread), then querying
    /// every unit found, hierarchy by hierarchy. Where no thread can be started (a limit on
    /// tasks), both are done here and now, in the same order: a reload must not fail for it.
    pub fn start(roots: impl FnOnce() -> Vec<PathBuf> + Send + 'static) -> Prefetch {
        Prefetch::start_with(roots, true)
    }

    /// [`Prefetch::start`]; `threaded` false does it all here, as when no thread can start.
    fn start_with(
        roots: impl FnOnce() -> Vec<PathBuf> + Send + 'static,
        threaded: bool,
    ) -> Prefetch {
        let (tx, rx) = std::sync::mpsc::channel();
        let job = move || -> Timed {
            let started = std::time::Instant::now();
            let lines = std::cell::RefCell::new(Vec::new());
            let say = |level: Level, text: String| lines.borrow_mut().push((level, text));
            let walked: Arc<Vec<Walked>> = Arc::new(
                roots()
                    .into_iter()
                    .map(|h| {
                        let found = running(&h, &say);
                        (h, found)
                    })
                    .collect(),
            );
            // Handed over before querying: the plan needs the walk before the drop-ins are
            // written, the queries are needed only after. The receiver may be gone (a run
            // that ended early): the queries are then unused.
            let _ = tx.send((walked.clone(), lines.into_inner()));
            // One thread: each query takes the kernel's global cgroup mutex, so a second one
            // would gain nothing and take a core from the loading threads.
            let queried = walked
                .iter()
                .map(|(_, found)| query_all(&found.iter().collect::<Vec<_>>()))
                .collect();
            (queried, started.elapsed())
        };
        // Shared with the thread so that it is still here when the thread cannot start
        // (`spawn` drops what it was given then).
        let job = Arc::new(std::sync::Mutex::new(Some(job)));
        let for_thread = job.clone();
        let take =
            |j: &std::sync::Mutex<Option<_>>| j.lock().unwrap_or_else(|e| e.into_inner()).take();
        let spawned = threaded
            .then(|| {
                super::parallel::spawn_named_or_not("bindif-prefetch", move || {
                    take(&for_thread).map(|j| j())
                })
            })
            .flatten();
        let queried = match spawned {
            Some(h) => QueriesState::Thread(h),
            None => QueriesState::Done(take(&job).map_or_else(Default::default, |j| j())),
        };
        Prefetch {
            walked: rx,
            queried: Queries(queried),
        }
    }

    /// Waits for the walk: every hierarchy with its running units, and the lines the walk
    /// would have logged (in order); then the queries, maybe still under way.
    pub fn walked(self) -> (Arc<Vec<Walked>>, Vec<Line>, Queries) {
        match self.walked.recv() {
            Ok((walked, lines)) => (walked, lines, self.queried),
            // The job ended without a result: it panicked on its thread, a bug to raise here.
            Err(_) => {
                let _ = self.queried.wait();
                unreachable!("the walk is sent before the queries are returned")
            }
        }
    }
}

impl Queries {
    /// Waits for the queries: for each hierarchy of [`Prefetch::walked`], one result per unit
    /// found, in order (what [`apply_queried`] takes).
    pub fn wait(self) -> QueryResults {
        self.wait_timed().0
    }

    /// [`Queries::wait`], with how long the walk and the queries took on their thread: the
    /// re-resolution's share of the work that overlaps the loading.
    pub fn wait_timed(self) -> (QueryResults, std::time::Duration) {
        match self.0 {
            QueriesState::Done(q) => q,
            QueriesState::Thread(h) => h
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
                .unwrap_or_default(),
        }
    }
}

/// Logs what an action did, counts it.
fn report(
    unit: &str,
    interface: &str,
    action: &Action,
    occasion: Occasion,
    tally: &mut Tally,
    log: &dyn Fn(Level, String),
) {
    // systemd 262's words, at every re-realization that misses the interface.
    let missing = format!(
        "{unit}: bind-interface: Couldn't find index of network interface '{interface}', ignoring: No such device"
    );
    match action {
        Action::Keep => {}
        Action::Bind { ifindex } => {
            tally.bound += 1;
            log(
                Level::Info,
                format!(
                    "{unit}: bind-interface: Bound to interface '{interface}' (ifindex {ifindex}) {}.",
                    occasion.words()
                ),
            );
        }
        Action::Missing { .. } => {
            tally.missing += 1;
            log(Level::Warning, missing);
        }
        Action::MissingKept => {
            tally.kept_fail_closed += 1;
            log(
                Level::Warning,
                format!(
                    "{unit}: bind-interface: Couldn't find index of network interface '{interface}', keeping the stale binding: X-BindNetworkInterface-FailClosed=yes, its new sockets fail with ENODEV until a reload or restart finds the interface"
                ),
            );
        }
    }
}

/// Carries out one action on the cgroup at `path`, bound to `interface`.
fn act(path: &Path, interface: &str, action: &Action) -> Result<Acted, sys::Error> {
    let shown = path.display().to_string();
    let dir = match sys::cgroup::open_cgroup_dir(path) {
        Ok(dir) => dir,
        // The unit stopped since its cgroup was queried: as when it is gone at the query.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Acted::Gone),
        Err(e) => {
            return Err(sys::Error::new(
                sys::Category::Cgroup,
                "open cgroup",
                shown,
                e,
            ))
        }
    };
    acted_on(dir.as_fd(), shown, interface, action).map(|()| Acted::Done)
}

/// What [`act`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acted {
    Done,
    /// The cgroup was gone: nothing to do, nothing to say.
    Gone,
}

/// [`act`] on the cgroup open as `dir` (`shown` in messages).
fn acted_on(
    dir: BorrowedFd<'_>,
    shown: String,
    interface: &str,
    action: &Action,
) -> Result<(), sys::Error> {
    match action {
        Action::Keep | Action::MissingKept => Ok(()),
        Action::Bind { ifindex } => {
            // The copy every start for this ifindex shares (a cache only: pinning may fail).
            let pins = std::path::Path::new(sys::pinned::PIN_DIR);
            let (prog, _) = sys::pinned::bind_program(pins, interface, *ifindex, Origin::Key)?;
            bpf::check_attachable(dir.as_fd()).map_err(|e| e.with_object(shown.clone()))?;
            let out = bpf::attach_replacing(dir.as_fd(), &prog)
                .map_err(|e| e.with_object(shown.clone()))?;
            match out.cleanup_error {
                Some(e) => Err(e.with_object(shown)),
                None => Ok(()),
            }
        }
        Action::Missing { ids } => bpf::detach_ids(dir.as_fd(), ids)
            .map(drop)
            .map_err(|e| sys::Error::new(sys::Category::Bpf, "detach BPF programs from", shown, e)),
    }
}

/// The cgroup2 hierarchies whose units a reload re-resolves, each with the cgroup to start the
/// walk at: PID 1's part of the hierarchy PID 1 uses ([`manager_root`]), or on legacy hosts our
/// private mirror (when it is mounted), whose paths are the units' own.
pub fn walk_roots() -> Vec<PathBuf> {
    let pid1 = crate::sys::process::read_proc(Path::new("/proc/1/cgroup"))
        .and_then(|t| crate::cgroup_path::parse_proc_cgroup(t.as_bytes()).ok())
        .and_then(|pc| pc.unified)
        .and_then(|p| manager_root(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())));
    crate::cmd::status::default_hierarchies()
        .into_iter()
        .map(|h| {
            if h == Path::new(crate::cgroup_path::PRIVATE_CGROUP2_MOUNT) {
                return h;
            }
            match pid1.as_deref().and_then(|p| p.strip_prefix("/").ok()) {
                Some(rel) if !rel.as_os_str().is_empty() => h.join(rel),
                _ => h,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, ifindex: u32) -> Attached {
        Attached {
            id,
            ifindex,
            origin: Origin::Key,
        }
    }

    fn explicit(id: u32, ifindex: u32) -> Attached {
        Attached {
            id,
            ifindex,
            origin: Origin::Explicit,
        }
    }

    fn iface(s: &str) -> Wanted {
        Wanted::interface(s)
    }

    #[test]
    fn a_late_interface_is_bound() {
        assert_eq!(
            decide(&iface("mgmt"), Some(4), &[]),
            Action::Bind { ifindex: 4 }
        );
    }

    #[test]
    fn the_current_binding_is_kept() {
        assert_eq!(decide(&iface("mgmt"), Some(4), &[key(9, 4)]), Action::Keep);
    }

    #[test]
    fn a_recreated_interface_is_followed() {
        assert_eq!(
            decide(&iface("mgmt"), Some(7), &[key(9, 4)]),
            Action::Bind { ifindex: 7 }
        );
    }

    #[test]
    fn a_changed_value_rebinds() {
        // mgmt was ifindex 4; the drop-in now says dmz, ifindex 5.
        assert_eq!(
            decide(&iface("dmz"), Some(5), &[key(9, 4)]),
            Action::Bind { ifindex: 5 }
        );
    }

    #[test]
    fn stacked_copies_become_one() {
        assert_eq!(
            decide(&iface("mgmt"), Some(4), &[key(8, 4), key(9, 4)]),
            Action::Bind { ifindex: 4 }
        );
    }

    #[test]
    fn a_reset_keeps_the_binding_until_the_unit_restarts_as_262_does() {
        assert_eq!(decide(&Wanted::Unset, None, &[key(9, 4)]), Action::Keep);
        assert_eq!(
            decide(&Wanted::Unset, None, &[explicit(3, 2), key(9, 4)]),
            Action::Keep
        );
    }

    #[test]
    fn the_explicit_form_is_left_alone() {
        assert_eq!(
            decide(&Wanted::Unset, None, &[explicit(3, 2)]),
            Action::Keep
        );
        assert_eq!(decide(&Wanted::Unset, None, &[]), Action::Keep);
    }

    #[test]
    fn a_missing_interface_removes_the_binding_and_is_reported() {
        assert_eq!(
            decide(&iface("mgmt"), None, &[key(9, 4)]),
            Action::Missing { ids: vec![9] }
        );
        // Reported at every reload, as 262 does, even with nothing to remove.
        assert_eq!(
            decide(&iface("mgmt"), None, &[]),
            Action::Missing { ids: vec![] }
        );
    }

    #[test]
    fn a_fail_closed_unit_keeps_its_stale_binding_when_the_interface_is_missing() {
        let closed = Wanted::Interface {
            name: "mgmt".into(),
            fail_closed: true,
        };
        assert_eq!(decide(&closed, None, &[key(9, 4)]), Action::MissingKept);
        // Nothing to keep: reported as missing, as for any unit.
        assert_eq!(decide(&closed, None, &[]), Action::Missing { ids: vec![] });
    }

    #[test]
    fn programs_looked_up_once_give_each_cgroup_its_own_in_attach_order() {
        let mut r = Resolver::default();
        let ours = |ifindex, origin| Some(Ours { ifindex, origin });
        r.programs.insert(7, ours(4, Origin::Key));
        r.programs.insert(8, None); // foreign, or vanished while we looked
        r.programs.insert(9, ours(4, Origin::Explicit));
        let none = HashMap::new();
        assert_eq!(
            r.attached(&[9, 8, 7], &none).unwrap(),
            [explicit(9, 4), key(7, 4)]
        );
        // The same program on many cgroups: one lookup serves them all.
        assert_eq!(r.attached(&[7], &none).unwrap(), [key(7, 4)]);
        // A lookup that failed fails the unit with its errno, as `ours` does.
        let failed = HashMap::from([(8, libc::EPERM)]);
        let e = r.attached(&[7, 8, 9], &failed).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_query_refused_through_o_path_is_asked_again_readable_from_then_on() {
        let errno = |e| Err(io::Error::from_raw_os_error(e));
        let mut by_path = true;
        // Through O_PATH, whatever it gives that is not EBADF (a vanished cgroup included).
        let r = either_query(&mut by_path, || Ok(vec![7]), || unreachable!());
        assert_eq!((r.unwrap(), by_path), (vec![7], true));
        let r = either_query(&mut by_path, || errno(libc::ENOENT), || unreachable!());
        assert_eq!(
            (r.unwrap_err().raw_os_error(), by_path),
            (Some(libc::ENOENT), true)
        );
        // EBADF: the same cgroup again with a readable descriptor, and every later one too.
        let r = either_query(&mut by_path, || errno(libc::EBADF), || Ok(vec![8]));
        assert_eq!((r.unwrap(), by_path), (vec![8], false));
        let r = either_query(&mut by_path, || unreachable!(), || errno(libc::EPERM));
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn prefetched_results_are_picked_for_the_units_that_would_be_queried() {
        let r = |x: u32| -> io::Result<Vec<u32>> { Ok(vec![x]) };
        let all = vec![
            r(0),
            r(1),
            Err(io::Error::from_raw_os_error(libc::ENOENT)),
            r(3),
        ];
        let picked = pick(all, [1, 2, 3].into_iter());
        assert_eq!(picked.len(), 3);
        assert_eq!(picked[0].as_ref().unwrap(), &[1]);
        assert_eq!(
            picked[1].as_ref().unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(picked[2].as_ref().unwrap(), &[3]);
        // Nothing was queried for an index beyond the walk, nor twice: EIO, never a panic.
        let picked = pick(vec![r(0)], [0, 0, 5].into_iter());
        assert_eq!(picked[0].as_ref().unwrap(), &[0]);
        for p in &picked[1..] {
            assert_eq!(p.as_ref().unwrap_err().raw_os_error(), Some(libc::EIO));
        }
    }

    /// On its thread or, when none can start, on the caller's: the same walk, lines and one
    /// query result per unit found (here of plain directories, which no query accepts).
    #[test]
    fn a_prefetch_without_its_thread_gives_the_same() {
        let top = std::env::temp_dir().join(format!("bindif-prefetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        for d in [
            "a.service",
            "s.slice/b.socket",
            "s.slice/x.scope",
            "n.target",
        ] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        let run = |threaded: bool| {
            let (t, missing) = (top.clone(), top.join("gone"));
            let p = Prefetch::start_with(move || vec![t, missing], threaded);
            let (walked, lines, queries) = p.walked();
            let queried = queries.wait();
            let shape: Vec<Vec<bool>> = queried
                .iter()
                .map(|q| q.iter().map(Result::is_ok).collect())
                .collect();
            ((*walked).clone(), lines, shape)
        };
        let (walked, lines, shape) = run(true);
        assert_eq!(run(false), (walked.clone(), lines.clone(), shape.clone()));
        let units: Vec<Vec<&str>> = walked
            .iter()
            .map(|(_, f)| {
                let mut u: Vec<&str> = f.iter().map(|r| r.unit.as_str()).collect();
                u.sort();
                u
            })
            .collect();
        assert_eq!(units, [vec!["a.service", "b.socket", "s.slice"], vec![]]);
        assert_eq!(shape.iter().map(Vec::len).collect::<Vec<_>>(), [3, 0]);
        assert!(lines.is_empty(), "{lines:?}");
        let _ = std::fs::remove_dir_all(&top);
    }

    #[test]
    fn the_manager_root_is_pid1s_cgroup_without_init_scope() {
        assert_eq!(manager_root(b"/init.scope"), Some(PathBuf::from("/")));
        assert_eq!(
            manager_root(b"/docker/0123/init.scope"),
            Some(PathBuf::from("/docker/0123"))
        );
        assert_eq!(manager_root(b"/"), None);
        assert_eq!(manager_root(b"/system.slice/x.service"), None);
    }

    #[test]
    fn an_explicit_program_next_to_the_key_is_replaced_by_one_copy() {
        assert_eq!(
            decide(&iface("mgmt"), Some(4), &[explicit(3, 4), key(9, 4)]),
            Action::Bind { ifindex: 4 }
        );
    }

    #[test]
    fn cgroup_names_are_unescaped_as_systemd_does() {
        assert_eq!(unit_of_cgroup_name("_cpu.service"), "cpu.service");
        assert_eq!(unit_of_cgroup_name("sshd.service"), "sshd.service");
        assert!(followed_type("a.slice") && followed_type("b.socket"));
        assert!(!followed_type("session-1.scope") && !followed_type("x.target"));
        assert!(!followed_type("mnt-x.mount") && !followed_type("dev-sda2.swap"));
    }
}
