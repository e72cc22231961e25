// SPDX-License-Identifier: LGPL-2.1-or-later
//! Gathering, the impure part: walks the cgroup2 hierarchies, queries each cgroup's programs,
//! reads the units' `BindNetworkInterface=`, resolves interfaces over rtnetlink and, with
//! `--sockets`, lists the processes' sockets through sock_diag; then hands the facts to
//! [`super::judge`].

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::args::UnitPattern;
use super::error::Error;
use super::facts::{hierarchy_path, last_component, CgroupFacts, Links, ProgKind, Program, Want};
use super::judge::{
    assess, binds_itself, bound_ifindexes, generator_expected, unbound_sockets, CgroupReport,
};
use super::preflight::{self, Finding, NetClsFacts};
use super::vrf::{FamilySetup, VrfFacts};
use crate::cgroup_path::{self, PRIVATE_CGROUP2_MOUNT};
use crate::cmd::generator::{
    dropin_path, enumerate, load_name, mentioning, search_path_without_generators, GENERATOR_DIRS,
    NATIVE_SINCE,
};
use crate::log_at;
use crate::sys;
use crate::sys::bpf;
use crate::sys::diag::{self, InetSocket, SockDiag};
use crate::sys::netlink;
use crate::unit::catalog::Catalog;
use crate::unit::eval::{self, EvalContext};
use crate::unit::load;
use crate::unit::name::{self, Kind};
use crate::unit::paths::{under_root, SearchPath};
use crate::unit::specifier::{HostFacts, SpecifierContext};

/// What to look at.
#[derive(Clone, Debug)]
pub struct Options {
    /// Root for unit files (`/`).
    pub root: PathBuf,
    /// cgroup2 trees to walk; `None`: systemd's (from the layout) and, when mounted, the
    /// private one of legacy hosts.
    pub hierarchies: Option<Vec<PathBuf>>,
    pub units: Vec<String>,
    pub sockets: bool,
    pub json: bool,
    /// The running systemd's version; `None`: read PID 1's (see
    /// [`crate::sys::process::pid1_systemd_version`]). Tests set it.
    pub systemd_version: Option<u32>,
    /// `--prometheus`: the node_exporter textfile format (wins over `json`).
    pub prometheus: bool,
    /// The kernel the net_cls/net_prio preflight judges (`/proc/version`'s text); `None`: the
    /// running one. Tests set it.
    pub kernel: Option<String>,
}

impl Options {
    pub fn new(units: &[String], sockets: bool, json: bool) -> Options {
        Options {
            root: PathBuf::from("/"),
            hierarchies: None,
            units: units.to_vec(),
            sockets,
            json,
            systemd_version: None,
            prometheus: false,
            kernel: None,
        }
    }
}

/// The cgroup2 trees to walk: systemd's, plus `/run/bindif-launch/cgroup2` when it is a
/// separate cgroup2 mount (legacy hosts; on other hosts it would be the same tree twice).
pub fn default_hierarchies() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut devs = Vec::new();
    let layout = sys::cgroup::detect(Path::new("/"));
    let candidates = layout
        .cgroup2_mount()
        .map(Path::to_path_buf)
        .into_iter()
        .chain(std::iter::once(PathBuf::from(PRIVATE_CGROUP2_MOUNT)));
    for c in candidates {
        if sys::cgroup::statfs_magic(&c).ok() != Some(cgroup_path::CGROUP2_SUPER_MAGIC) {
            continue;
        }
        let dev = fs::metadata(&c).map(|m| m.dev()).ok();
        if dev.is_some() && devs.contains(&dev) {
            continue;
        }
        devs.push(dev);
        out.push(c);
    }
    out
}

/// One cgroup directory met on the walk. The walk is depth-first, so the cgroups below one
/// directly follow it.
struct Seen {
    hierarchy: usize,
    /// Path inside the hierarchy (`/` for its root), as bytes: a cgroup may be named anything.
    rel: PathBuf,
    programs: Vec<Program>,
    /// The processes directly in it (empty when `cgroup.procs` could not be read).
    pids: Vec<u32>,
}

impl Seen {
    /// Whether `other` is this cgroup or below it.
    fn contains(&self, other: &Seen) -> bool {
        self.hierarchy == other.hierarchy && other.rel.starts_with(&self.rel)
    }
}

/// The indexes of `seen[i]` and of every cgroup below it.
fn subtree(seen: &[Seen], i: usize) -> Range<usize> {
    let below = seen[i + 1..]
        .iter()
        .take_while(|s| seen[i].contains(s))
        .count();
    i..i + 1 + below
}

fn cgroup_error(op: &'static str, h: &Path, rel: &Path, source: io::Error) -> Error {
    Error::Cgroup {
        op,
        path: hierarchy_path(h, rel),
        source,
    }
}

/// A directory on the walk's current branch: its fd, to open its children relative to it
/// (their full paths may exceed PATH_MAX), and the children still to visit.
struct Frame {
    fd: OwnedFd,
    rel: PathBuf,
    children: std::vec::IntoIter<OsString>,
}

/// Walks one hierarchy depth-first by directory fds, querying every cgroup. Cgroups that
/// vanish while we look are skipped. Holds one fd per level of the current branch: a branch
/// deeper than the open-file limit allows is skipped below that depth with a warning.
fn walk(hier_idx: usize, h: &Path, out: &mut Vec<Seen>) -> Result<(), Error> {
    let root = Path::new("/");
    let fd = match sys::cgroup::open_cgroup_dir(h) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(cgroup_error("open cgroup", h, root, e)),
    };
    let mut branch: Vec<Frame> = visit(hier_idx, h, fd, root.to_path_buf(), out)?
        .into_iter()
        .collect();
    while let Some(top) = branch.last_mut() {
        let Some(name) = top.children.next() else {
            branch.pop();
            continue;
        };
        let rel = top.rel.join(&name);
        let visited = match sys::cgroup::open_cgroup_dir_at(top.fd.as_fd(), &name) {
            Ok(fd) => visit(hier_idx, h, fd, rel, out),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => Err(cgroup_error("open cgroup", h, &rel, e)),
        };
        match visited {
            Ok(Some(frame)) => branch.push(frame),
            Ok(None) => {}
            // A branch deeper than our fd limit: one hostile subtree must not hide the rest.
            Err(e) if matches!(e.errno(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                log_at!(Warning, "{e}, ignoring it and the cgroups below it");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Queries the cgroup open at `fd` (cgroup `rel` of hierarchy `h`), records it, and returns it
/// with its children to visit; `None` when it vanished while we looked.
fn visit(
    hier_idx: usize,
    h: &Path,
    fd: OwnedFd,
    rel: PathBuf,
    out: &mut Vec<Seen>,
) -> Result<Option<Frame>, Error> {
    let query = "query BPF programs of";
    let ids = match bpf::query(fd.as_fd()) {
        Ok(ids) => ids,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(cgroup_error(query, h, &rel, e)),
    };
    let mut programs = Vec::with_capacity(ids.len());
    for id in ids {
        match bpf::prog_info(id) {
            Ok(info) => programs.push(Program::from_info(&info)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(cgroup_error(query, h, &rel, e)),
        }
    }
    let pids = sys::cgroup::procs_at(fd.as_fd());
    let mut children = match sys::cgroup::subdirectories(fd.as_fd()) {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(cgroup_error("list the cgroups below", h, &rel, e)),
    };
    children.sort();
    out.push(Seen {
        hierarchy: hier_idx,
        rel: rel.clone(),
        programs,
        pids,
    });
    Ok(Some(Frame {
        fd,
        rel,
        children: children.into_iter(),
    }))
}

/// Reads units' `BindNetworkInterface=`, sharing one catalog across units.
struct UnitReader {
    catalog: Catalog,
    facts: HostFacts,
    version: u32,
}

impl UnitReader {
    fn new(root: &Path, version: u32) -> UnitReader {
        UnitReader {
            catalog: Catalog::system(root),
            facts: HostFacts::gather(root),
            version,
        }
    }

    fn want(&self, unit: &str) -> Want {
        let loaded = match load::load_with(&self.catalog, unit) {
            Ok(l) => l,
            Err(e @ load::UnitLoadError::NotFound { .. }) => return Want::NotFound(e.to_string()),
            Err(e) => return Want::Unknown(Some(e.to_string())),
        };
        let fragment = loaded
            .fragment
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned());
        let mut spec = SpecifierContext::new(&loaded.name, &self.facts);
        spec.fragment_path = fragment.as_deref();
        let ctx = EvalContext::new(spec, self.version);
        match eval::evaluate_bind(&loaded, &ctx).interface.value {
            Some(i) => Want::Iface(i),
            None => Want::Unset,
        }
    }
}

/// A unit the generator did not reach: its name, its `BindNetworkInterface=` (as written, for a
/// template) and the drop-in that is missing, as systemd sees the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorMiss {
    pub unit: String,
    pub interface: String,
    pub dropin: PathBuf,
}

/// On systemd < 260 (or an unknown version, see [`generator_expected`]): the units among
/// `units` (`None`: every unit of the search path whose files mention the key; only those are
/// loaded) that set `BindNetworkInterface=`, do not bind themselves (see [`binds_itself`]) and
/// have no generated drop-in below `root`: the generator did not run for them. Units are read
/// without the generator directories, as the generator reads them.
pub fn generator_misses(
    root: &Path,
    units: Option<&[String]>,
    systemd_version: Option<u32>,
) -> Vec<GeneratorMiss> {
    if !generator_expected(systemd_version) {
        return Vec::new();
    }
    let catalog = Catalog::new(search_path_without_generators(&SearchPath::system(root)));
    let names = match units {
        Some(u) => u.to_vec(),
        None => mentioning(&catalog, &enumerate(&catalog), eval::KEY_BIND),
    };
    let facts = HostFacts::gather(root);
    let version = systemd_version.unwrap_or(NATIVE_SINCE);
    names
        .iter()
        .filter_map(|n| generator_miss(root, &catalog, &facts, version, n, units.is_some()))
        .collect()
}

/// [`generator_misses`] for one name; `named`: given by the caller (an alias is then checked
/// under the name it leads to; found by the enumeration, it is skipped, as its target is
/// listed too).
fn generator_miss(
    root: &Path,
    catalog: &Catalog,
    facts: &HostFacts,
    version: u32,
    n: &str,
    named: bool,
) -> Option<GeneratorMiss> {
    let template = name::kind(n) == Some(Kind::Template);
    let loaded = load::load_with(catalog, &load_name(n)).ok()?;
    if !named && loaded.name != load_name(n) {
        return None;
    }
    // The unit's id: for a template, the template (loaded through the placeholder instance).
    let id = if template {
        name::template_of(&loaded.name)?
    } else {
        loaded.name.clone()
    };
    let fragment = loaded
        .fragment
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    let mut spec = SpecifierContext::new(&loaded.name, facts);
    spec.fragment_path = fragment.as_deref();
    let ctx = EvalContext::new(spec, version);
    let interface = eval::evaluate_bind(&loaded, &ctx).interface.value?;
    if binds_itself(&loaded, &ctx) {
        return None;
    }
    // A template's value as written: the placeholder instance is no interface of anyone's.
    let interface = if template {
        let section = eval::cgroup_section(&id)?;
        loaded
            .values(section, eval::KEY_BIND)
            .last()
            .map(|a| a.value.clone())?
    } else {
        interface
    };
    let generated = Path::new(GENERATOR_DIRS[0]);
    let own = generated.join(dropin_path(&id));
    // An instance is covered by its template's drop-in, or by its own when it differs.
    let of_template = name::template_of(&id).map(|t| generated.join(dropin_path(&t)));
    let present = std::iter::once(&own)
        .chain(of_template.as_ref())
        .any(|p| fs::symlink_metadata(under_root(root, p)).is_ok());
    if present {
        return None;
    }
    Some(GeneratorMiss {
        unit: n.to_string(),
        interface,
        dropin: of_template.unwrap_or(own),
    })
}

/// Attaches a miss to the unit's facts: to its report when it has one, else to its cgroup
/// (found in the walk) or, not running, to a report without a cgroup.
fn add_generator_miss(
    facts: &mut Vec<CgroupFacts>,
    seen: &[Seen],
    hierarchies: &[PathBuf],
    miss: GeneratorMiss,
) {
    let mut found = false;
    for f in facts
        .iter_mut()
        .filter(|f| f.unit.as_deref() == Some(miss.unit.as_str()))
    {
        f.generator_dropin = Some(miss.dropin.clone());
        found = true;
    }
    if found {
        return;
    }
    let cgroup = seen
        .iter()
        .find(|s| last_component(&s.rel) == Some(miss.unit.as_str()));
    facts.push(CgroupFacts {
        hierarchy: cgroup.map(|s| hierarchies[s.hierarchy].clone()),
        path: cgroup.map(|s| s.rel.clone()).unwrap_or_default(),
        unit: Some(miss.unit),
        programs: cgroup.map(|s| s.programs.clone()).unwrap_or_default(),
        want: Want::Iface(miss.interface),
        named: false,
        other_netns_pids: Vec::new(),
        other_netns: Vec::new(),
        generator_dropin: Some(miss.dropin),
        unit_running: false,
    });
}

/// The unit whose cgroup `rel` is, when the system manager put it there: the last component is
/// a unit name and every cgroup above it a slice. A unit of a user manager, of a container's
/// systemd or below a delegated unit has a service or scope above it, and another manager.
fn manager_unit(rel: &Path) -> Option<&str> {
    let unit = last_component(rel)
        .filter(|l| matches!(name::kind(l), Some(Kind::Plain) | Some(Kind::Instance)))?;
    let slices_above = rel
        .parent()?
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .all(|n| n.to_str().and_then(name::unit_type) == Some("slice"));
    slices_above.then_some(unit)
}

/// Socket inodes held by `pid` (from `/proc/PID/fd/*` links `socket:[INODE]`).
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|t| diag::socket_inode(&t.to_string_lossy()))
        .collect()
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// Reads the host and judges it: the reports, in walk order, and the hierarchies walked.
pub fn gather(opts: &Options) -> Result<(Vec<CgroupReport>, Vec<PathBuf>), Error> {
    let patterns = opts
        .units
        .iter()
        .map(|u| UnitPattern::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    let hierarchies = opts.hierarchies.clone().unwrap_or_else(default_hierarchies);
    if hierarchies.is_empty() {
        return Err(Error::NoHierarchy);
    }
    let mut seen = Vec::new();
    for (i, h) in hierarchies.iter().enumerate() {
        walk(i, h, &mut seen)?;
    }
    let running = opts
        .systemd_version
        .or_else(crate::sys::process::pid1_systemd_version);
    // Evaluation follows the newest rules when the version is unknown, as the launcher does.
    let reader = UnitReader::new(&opts.root, running.unwrap_or(NATIVE_SINCE));
    let unit_running: Vec<bool> = (0..seen.len())
        .map(|i| {
            manager_unit(&seen[i].rel).is_some()
                && seen[subtree(&seen, i)].iter().any(|s| !s.pids.is_empty())
        })
        .collect();
    // Running units without a program whose files mention the key: they may want a binding
    // they lack (only these few are loaded).
    let unbound_candidates: BTreeSet<String> = if patterns.is_empty() {
        let names: Vec<String> = (0..seen.len())
            .filter(|&i| unit_running[i] && seen[i].programs.is_empty())
            .filter_map(|i| manager_unit(&seen[i].rel).map(str::to_owned))
            .collect();
        mentioning(&reader.catalog, &names, eval::KEY_BIND)
            .into_iter()
            .collect()
    } else {
        BTreeSet::new()
    };
    // Select: named units' cgroups, or every cgroup with a program and every running unit that
    // may want one. A name that is not UTF-8 is no unit's, but its cgroup is walked and
    // reported like any other.
    let selected: Vec<usize> = (0..seen.len())
        .filter(|&i| {
            let s = &seen[i];
            let last = last_component(&s.rel);
            if patterns.is_empty() {
                !s.programs.is_empty()
                    || (unit_running[i] && last.is_some_and(|l| unbound_candidates.contains(l)))
            } else {
                patterns.iter().any(|p| last.is_some_and(|l| p.matches(l)))
            }
        })
        .collect();
    let mut facts: Vec<CgroupFacts> = selected
        .iter()
        .map(|&i| {
            let s = &seen[i];
            let unit = last_component(&s.rel)
                .filter(|l| matches!(name::kind(l), Some(Kind::Plain) | Some(Kind::Instance)))
                .map(str::to_owned);
            let want = match &unit {
                // A user manager's or a container's unit is no file of ours to find.
                Some(u) if manager_unit(&s.rel).is_none() => match reader.want(u) {
                    Want::NotFound(why) => Want::Unknown(Some(why)),
                    w => w,
                },
                Some(u) => reader.want(u),
                None => Want::Unknown(None),
            };
            CgroupFacts {
                hierarchy: Some(hierarchies[s.hierarchy].clone()),
                path: s.rel.clone(),
                unit,
                programs: s.programs.clone(),
                want,
                named: !patterns.is_empty(),
                other_netns_pids: Vec::new(),
                other_netns: Vec::new(),
                generator_dropin: None,
                unit_running: unit_running[i],
            }
        })
        .collect();
    // A candidate whose key turned out not to set an interface (a reset, a comment) is no
    // report of ours.
    let keep: Vec<bool> = facts
        .iter()
        .map(|f| !f.programs.is_empty() || !patterns.is_empty() || f.want.iface().is_some())
        .collect();
    let mut kept = keep.iter();
    facts.retain(|_| *kept.next().unwrap_or(&true));
    let mut kept = keep.iter();
    let selected: Vec<usize> = selected
        .into_iter()
        .filter(|_| *kept.next().unwrap_or(&true))
        .collect();
    // Named units with no cgroup at all.
    for p in patterns.iter().filter(|p| !p.template) {
        let found = selected
            .iter()
            .any(|&i| last_component(&seen[i].rel).is_some_and(|l| p.matches(l)));
        if !found {
            facts.push(CgroupFacts {
                hierarchy: None,
                path: PathBuf::new(),
                unit: Some(p.name.clone()),
                programs: Vec::new(),
                want: reader.want(&p.name),
                named: true,
                other_netns_pids: Vec::new(),
                other_netns: Vec::new(),
                generator_dropin: None,
                unit_running: false,
            });
        }
    }
    let named: Option<Vec<String>> =
        (!patterns.is_empty()).then(|| patterns.iter().map(|p| p.name.clone()).collect());
    for miss in generator_misses(&opts.root, named.as_deref(), running) {
        add_generator_miss(&mut facts, &seen, &hierarchies, miss);
    }
    // Processes in another network namespace than ours: their cgroup's ifindex names an
    // interface of that namespace. The facts of cgroups that exist come first, in the order of
    // `selected`.
    let own_ns = fs::metadata("/proc/thread-self/ns/net")
        .or_else(|_| fs::metadata("/proc/self/ns/net"))
        .map(|m| (m.dev(), m.ino()))
        .ok();
    if let Some(own_ns) = own_ns {
        for (f, &i) in facts.iter_mut().zip(&selected) {
            for s in &seen[subtree(&seen, i)] {
                for &pid in &s.pids {
                    let Ok(m) = fs::metadata(format!("/proc/{pid}/ns/net")) else {
                        continue;
                    };
                    if (m.dev(), m.ino()) != own_ns {
                        f.other_netns_pids.push(pid);
                        f.other_netns.push(m.ino());
                    }
                }
            }
            f.other_netns.sort_unstable();
            f.other_netns.dedup();
        }
    }
    // Interfaces: each distinct ifindex and wanted name once.
    let mut links = Links::default();
    // Not for cgroups whose processes live in another namespace: our names are not theirs.
    for f in facts.iter().filter(|f| f.other_netns_pids.is_empty()) {
        for p in &f.programs {
            if let ProgKind::Ours(i) = p.kind {
                lookup_index(&mut links, i);
            }
        }
        if let Want::Iface(w) = &f.want {
            if !links.by_name.contains_key(w) {
                let idx = netlink::resolve_ifindex(w).unwrap_or_else(|e| {
                    log_at!(Warning, "Failed to resolve interface {w}: {e}, ignoring");
                    None
                });
                links.by_name.insert(w.clone(), idx);
            }
        }
    }
    let bound: BTreeSet<u32> = facts
        .iter()
        .flat_map(|f| bound_ifindexes(f, &links))
        .collect();
    links.vrfs = read_vrfs(&bound, &links);
    let mut reports: Vec<CgroupReport> = facts.into_iter().map(|f| assess(f, &links)).collect();
    if opts.sockets {
        add_sockets(&mut reports, &seen, &selected, &mut links);
    }
    Ok((reports, hierarchies))
}

/// The host-wide preflight: whether net_cls/net_prio on cgroup v1 may have turned cgroup2
/// socket matching off (see [`preflight::netcls_findings`]). Reads `/proc/cgroups` and
/// `/proc/version`; only on a kernel that may lack the fix the kernel's log (`/dev/kmsg`) and,
/// when either controller has a v1 hierarchy, `/proc/self/mountinfo` and the `net_cls.classid`
/// and `net_prio.ifpriomap` of at most [`preflight::V1_WALK_LIMIT`] cgroups of each; what
/// cannot be read is left out: the preflight must never fail `status`.
pub fn host_preflight(opts: &Options) -> Vec<Finding> {
    let Ok(text) = fs::read_to_string("/proc/cgroups") else {
        return Vec::new();
    };
    let controllers = preflight::parse_proc_cgroups(&text);
    let kernel = opts.kernel.clone().unwrap_or_else(|| {
        fs::read_to_string("/proc/version")
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    });
    let mut facts = NetClsFacts {
        kernel,
        controllers,
        ..NetClsFacts::default()
    };
    // A kernel with the fix (by its number) neither logs nor stops matching.
    if preflight::kernel_has_fix(&facts.kernel) {
        return Vec::new();
    }
    // The running kernel's log, not the one a test names.
    facts.logged = opts.kernel.is_none() && kmsg_has(preflight::kmsg_says_disabled);
    if facts.controllers.iter().all(|c| c.hierarchy == 0) {
        return preflight::netcls_findings(&facts);
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .map(|m| preflight::v1_net_mounts(&m))
        .unwrap_or_default();
    for m in mounts {
        read_v1_net(&m, &mut facts);
    }
    preflight::netcls_findings(&facts)
}

/// Whether a record of the kernel's log (`/dev/kmsg`, from the oldest record kept) satisfies
/// `wanted`. Unreadable (no CAP_SYSLOG under `dmesg_restrict`) is "no": the log only ever adds
/// proof, and what it lost to rotation proves nothing either way.
pub fn kmsg_has(wanted: impl Fn(&str) -> bool) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return false;
    };
    // One record per read; a record is at most about 8 KiB (the kernel's own limit).
    let mut buf = vec![0u8; 16384];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                if wanted(&String::from_utf8_lossy(&buf[..n])) {
                    return true;
                }
            }
            // Overwritten while we read: go on with the next one kept.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EAGAIN: the end of the log.
            Err(_) => return false,
        }
    }
}

/// Walks the v1 hierarchy mounted at `mount` breadth-first for the first non-zero
/// `net_cls.classid` and the first `net_prio.ifpriomap` that sets a priority.
fn read_v1_net(mount: &Path, facts: &mut NetClsFacts) {
    let mut queue = std::collections::VecDeque::from([mount.to_path_buf()]);
    let mut seen = 0;
    while let Some(dir) = queue.pop_front() {
        if seen == preflight::V1_WALK_LIMIT || (facts.classid.is_some() && facts.priomap.is_some())
        {
            return;
        }
        seen += 1;
        if facts.classid.is_none() {
            let id = fs::read_to_string(dir.join("net_cls.classid"))
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .filter(|&id| id != 0);
            facts.classid = id.map(|id| (dir.clone(), id));
        }
        if facts.priomap.is_none() {
            facts.priomap = fs::read_to_string(dir.join("net_prio.ifpriomap"))
                .ok()
                .and_then(|t| preflight::priomap_entry(&t))
                .map(|e| (dir.clone(), e));
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        children.sort();
        queue.extend(children);
    }
}

/// The VRF set-up of those interfaces among `bound` that are VRFs. What cannot be read is left
/// unknown (and warned about on stderr): the preflight must never fail `status`.
fn read_vrfs(bound: &BTreeSet<u32>, links: &Links) -> BTreeMap<u32, VrfFacts> {
    let mut out = BTreeMap::new();
    // The rules are the namespace's, read once for every VRF.
    let mut rules: Option<[Option<Vec<netlink::RuleInfo>>; 2]> = None;
    for &i in bound {
        let name = links.name_of(i).unwrap_or("?").to_string();
        let table = match netlink::vrf_table(i) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                log_at!(
                    Warning,
                    "Failed to read the link kind of {name}: {e}, ignoring"
                );
                continue;
            }
        };
        let rules = rules.get_or_insert_with(|| {
            FAMILIES.map(|(family, ip)| {
                warn_unread(netlink::dump_rules(family), &format!("{ip} rules"))
            })
        });
        let [v4, v6] = [0, 1].map(|k| {
            let (family, ip) = FAMILIES[k];
            FamilySetup {
                rules: rules[k].clone(),
                routes: warn_unread(
                    netlink::dump_routes(family, table),
                    &format!("{ip} routes of table {table} (VRF {name})"),
                ),
                addrs: warn_unread(
                    netlink::dump_addrs(family, i),
                    &format!("{ip} addresses of {name}"),
                ),
            }
        });
        out.insert(
            i,
            VrfFacts {
                name,
                table,
                v4,
                v6,
            },
        );
    }
    out
}

/// The address families the VRF preflight checks, with their names for messages.
const FAMILIES: [(u8, &str); 2] = [
    (libc::AF_INET as u8, "IPv4"),
    (libc::AF_INET6 as u8, "IPv6"),
];

/// `r`'s value; a failure is logged and leaves it unknown. Without IPv6 (EAFNOSUPPORT) there
/// is nothing to check and nothing to say.
fn warn_unread<T>(r: std::io::Result<T>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => None,
        Err(e) => {
            log_at!(Warning, "Failed to read the {what}: {e}, ignoring");
            None
        }
    }
}

fn lookup_index(links: &mut Links, i: u32) {
    links.by_index.entry(i).or_insert_with(|| {
        netlink::link_by_index(i).unwrap_or_else(|e| {
            log_at!(Warning, "Failed to look up ifindex {i}: {e}, ignoring");
            None
        })
    });
}

fn add_sockets(reports: &mut [CgroupReport], seen: &[Seen], selected: &[usize], links: &mut Links) {
    // One sock_diag socket, four dumps, one inode map for every cgroup.
    let mut by_inode: BTreeMap<u64, InetSocket> = BTreeMap::new();
    match SockDiag::open() {
        Ok(mut sd) => {
            for d in sd.dump_inet() {
                match d.result {
                    Ok(socks) => by_inode.extend(socks.into_iter().map(|s| (s.inode, s))),
                    Err(e) => log_at!(
                        Warning,
                        "Failed to list {} sockets: {e}, ignoring",
                        match (d.proto, i32::from(d.family)) {
                            (diag::Proto::Tcp, libc::AF_INET) => "tcp",
                            (diag::Proto::Tcp, _) => "tcp6",
                            (diag::Proto::Udp, libc::AF_INET) => "udp",
                            (diag::Proto::Udp, _) => "udp6",
                        }
                    ),
                }
            }
        }
        Err(e) => log_at!(Warning, "Failed to open a sock_diag socket: {e}, ignoring"),
    }
    for (r, &i) in reports.iter_mut().zip(selected) {
        let mut held = Vec::new();
        let mut inodes_seen = BTreeSet::new();
        // The sub-cgroups from the reported one (exclusive) down to the current one: their
        // programs bind the processes below them too.
        let mut between: Vec<usize> = Vec::new();
        for j in subtree(seen, i) {
            if j != i {
                while between.last().is_some_and(|&k| !seen[k].contains(&seen[j])) {
                    between.pop();
                }
                between.push(j);
            }
            let mut expected = r.expected();
            for &k in &between {
                expected.add(&seen[k].programs);
            }
            for &pid in &seen[j].pids {
                let name = comm(pid);
                let mine: Vec<(u32, String, InetSocket)> = socket_inodes(pid)
                    .into_iter()
                    .filter(|i| inodes_seen.insert(*i))
                    .filter_map(|i| by_inode.get(&i).cloned())
                    .map(|s| (pid, name.clone(), s))
                    .collect();
                for (_, _, s) in &mine {
                    if s.bound_ifindex != 0 {
                        lookup_index(links, s.bound_ifindex);
                    }
                }
                held.extend(unbound_sockets(&mine, &expected, links));
            }
        }
        r.sockets = Some(held);
    }
}

#[cfg(test)]
mod tests {
    use super::super::judge::{assess, exit_status, State};
    use super::*;

    /// A throwaway root, removed on drop.
    struct Root(PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let p =
                std::env::temp_dir().join(format!("bindif-genrun-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(p.join("etc/systemd/system")).unwrap();
            Root(p)
        }

        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn units(misses: &[GeneratorMiss]) -> Vec<(&str, &str, &Path)> {
        misses
            .iter()
            .map(|m| (m.unit.as_str(), m.interface.as_str(), m.dropin.as_path()))
            .collect()
    }

    /// Only a unit the system manager placed (slices above it, nothing else) is taken as
    /// running for the unbound check: not a user manager's, a container's or a delegated
    /// sub-cgroup's namesake.
    #[test]
    fn units_of_the_system_manager() {
        fn m(p: &str) -> Option<&str> {
            manager_unit(Path::new(p))
        }
        assert_eq!(m("/system.slice/web.service"), Some("web.service"));
        assert_eq!(m("/web.service"), Some("web.service"));
        assert_eq!(
            m("/a.slice/a-b.slice/vpn@wg0.service"),
            Some("vpn@wg0.service")
        );
        assert_eq!(m("/system.slice"), Some("system.slice"));
        assert_eq!(
            m("/user.slice/user-1000.slice/user@1000.service/app.slice/web.service"),
            None
        );
        assert_eq!(
            m("/machine.slice/machine-c.scope/payload/system.slice/web.service"),
            None
        );
        assert_eq!(m("/system.slice/web.service/worker.service"), None);
        assert_eq!(m("/system.slice/vpn@.service"), None);
        assert_eq!(m("/system.slice/notaunit"), None);
        assert_eq!(m("/"), None);
    }

    /// Issue 16: on systemd < 260, a unit with the key and no generated drop-in is found by the
    /// enumeration (and by name), judged `generator-not-run` and makes status exit 1; with the
    /// drop-in in place, or a unit that binds itself, or systemd 260, nothing is said.
    #[test]
    fn generator_not_run_in_a_temp_root() {
        let r = Root::new("check");
        let etc = "etc/systemd/system";
        r.write(
            &format!("{etc}/web.service"),
            "[Service]\nBindNetworkInterface=mgmt\nExecStart=/usr/bin/web\n",
        );
        r.write(
            &format!("{etc}/vpn@.service"),
            "[Service]\nBindNetworkInterface=%i\nExecStart=/usr/bin/vpn\n",
        );
        r.write(
            &format!("{etc}/own.service"),
            "[Service]\nBindNetworkInterface=mgmt\nExecStartPre=+/usr/lib/bindif-launch --attach %n\nExecStart=/usr/bin/own\n",
        );
        // The key only in a drop-in; and a unit without it, which is not even loaded.
        r.write(
            &format!("{etc}/dns.service"),
            "[Service]\nExecStart=/usr/bin/dns\n",
        );
        r.write(
            &format!("{etc}/dns.service.d/bind.conf"),
            "[Service]\nBindNetworkInterface=dmz\n",
        );
        r.write(
            &format!("{etc}/plain.service"),
            "[Service]\nExecStart=/usr/bin/plain\n",
        );
        let gen = Path::new("/run/systemd/generator");
        let dropin = |u: &str| gen.join(format!("{u}.d/zzzz-bindif-launch.conf"));

        // Only the units whose files mention the key are loaded.
        let catalog = Catalog::new(search_path_without_generators(&SearchPath::system(&r.0)));
        assert_eq!(
            mentioning(&catalog, &enumerate(&catalog), eval::KEY_BIND),
            ["dns.service", "own.service", "vpn@.service", "web.service"]
        );
        let misses = generator_misses(&r.0, None, Some(252));
        assert_eq!(
            units(&misses),
            [
                ("dns.service", "dmz", dropin("dns.service").as_path()),
                ("vpn@.service", "%i", dropin("vpn@.service").as_path()),
                ("web.service", "mgmt", dropin("web.service").as_path()),
            ]
        );
        // Judged: generator-not-run, exit 1.
        let mut facts = Vec::new();
        add_generator_miss(&mut facts, &[], &[], misses[2].clone());
        let reports: Vec<_> = facts
            .into_iter()
            .map(|f| assess(f, &Links::default()))
            .collect();
        assert_eq!(reports[0].state, State::GeneratorNotRun);
        assert_eq!(exit_status(&reports), 1);
        // An instance is covered by its template's drop-in; named units are checked by name;
        // an unknown systemd version is taken to predate v260.
        let named = ["vpn@wg0.service".to_string(), "plain.service".to_string()];
        assert_eq!(
            units(&generator_misses(&r.0, Some(&named), None)),
            [("vpn@wg0.service", "wg0", dropin("vpn@.service").as_path())]
        );
        // The drop-ins written: nothing to say.
        for u in ["web.service", "vpn@.service", "dns.service"] {
            r.write(
                &format!("run/systemd/generator/{u}.d/zzzz-bindif-launch.conf"),
                "[Service]\n",
            );
        }
        assert_eq!(generator_misses(&r.0, None, Some(252)), []);
        assert_eq!(generator_misses(&r.0, Some(&named), Some(252)), []);
        // systemd 260 binds natively: nothing is checked.
        let r2 = Root::new("native");
        r2.write(
            &format!("{etc}/web.service"),
            "[Service]\nBindNetworkInterface=mgmt\n",
        );
        assert_eq!(generator_misses(&r2.0, None, Some(260)), []);
        assert_eq!(units(&generator_misses(&r2.0, None, Some(259))).len(), 1);
    }
}
