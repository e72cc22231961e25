// SPDX-License-Identifier: LGPL-2.1-or-later
//! Gathering, the impure part: walks the cgroup2 hierarchies, queries each cgroup's programs,
//! reads the units' `BindNetworkInterface=`, resolves interfaces over rtnetlink and, with
//! `--sockets`, lists the processes' sockets through sock_diag; then hands the facts to
//! [`super::judge`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::args::UnitPattern;
use super::error::Error;
use super::facts::{last_component, CgroupFacts, Links, ProgKind, Program, Want};
use super::judge::{assess, unbound_sockets, CgroupReport};
use crate::cgroup_path::{self, PRIVATE_CGROUP2_MOUNT};
use crate::log_at;
use crate::sys;
use crate::sys::bpf;
use crate::sys::diag::{self, InetSocket, SockDiag};
use crate::sys::netlink;
use crate::unit::eval::{self, EvalContext};
use crate::unit::load::{self, Catalog};
use crate::unit::name::{self, Kind};
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
}

impl Options {
    pub fn new(units: &[String], sockets: bool, json: bool) -> Options {
        Options {
            root: PathBuf::from("/"),
            hierarchies: None,
            units: units.to_vec(),
            sockets,
            json,
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

/// One cgroup directory met on the walk.
struct Seen {
    hierarchy: usize,
    rel: String,
    programs: Vec<Program>,
}

fn query_failure(path: &Path, e: io::Error) -> Error {
    Error::Cgroup {
        op: "query BPF programs of",
        path: path.to_path_buf(),
        source: e,
    }
}

/// Walks one hierarchy depth-first, querying every cgroup. Cgroups that vanish while we look
/// are skipped.
fn walk(hier_idx: usize, dir: &Path, rel: &str, out: &mut Vec<Seen>) -> Result<(), Error> {
    let fd = match sys::cgroup::open_cgroup_dir(dir) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(query_failure(dir, e)),
    };
    let ids = match bpf::query(fd.as_fd()) {
        Ok(ids) => ids,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(query_failure(dir, e)),
    };
    let mut programs = Vec::with_capacity(ids.len());
    for id in ids {
        match bpf::prog_info(id) {
            Ok(info) => programs.push(Program::from_info(&info)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(query_failure(dir, e)),
        }
    }
    out.push(Seen {
        hierarchy: hier_idx,
        rel: rel.to_string(),
        programs,
    });
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(query_failure(dir, e)),
    };
    let mut children: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    children.sort();
    for (name, path) in children {
        let child_rel = if rel == "/" {
            format!("/{name}")
        } else {
            format!("{rel}/{name}")
        };
        walk(hier_idx, &path, &child_rel, out)?;
    }
    Ok(())
}

/// The directory of cgroup `rel` in hierarchy `h`.
fn cgroup_dir(h: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        h.to_path_buf()
    } else {
        h.join(rel)
    }
}

/// Reads units' `BindNetworkInterface=`, sharing one catalog across units.
struct UnitReader {
    catalog: Catalog,
    facts: HostFacts,
    version: u32,
}

impl UnitReader {
    fn new(root: &Path) -> UnitReader {
        let version = crate::sys::process::pid1_systemd_version().unwrap_or(260);
        UnitReader {
            catalog: Catalog::system(root),
            facts: HostFacts::gather(root),
            version,
        }
    }

    fn want(&self, unit: &str) -> Want {
        let loaded = match load::load_with(&self.catalog, unit) {
            Ok(l) => l,
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

/// The pids in `dir` and every cgroup below it, each with the programs of the cgroups between
/// `dir` (exclusive) and its own cgroup (inclusive).
fn procs_below(dir: &Path, out: &mut Vec<(u32, PathBuf)>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(
            text.lines()
                .filter_map(|l| l.trim().parse().ok())
                .map(|pid| (pid, dir.to_path_buf())),
        );
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                procs_below(&e.path(), out);
            }
        }
    }
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
        walk(i, h, "/", &mut seen)?;
    }
    // Select: named units' cgroups, or every cgroup with a program.
    let selected: Vec<&Seen> = seen
        .iter()
        .filter(|s| {
            if patterns.is_empty() {
                !s.programs.is_empty()
            } else {
                let last = last_component(&s.rel);
                patterns.iter().any(|p| p.matches(last))
            }
        })
        .collect();
    let reader = UnitReader::new(&opts.root);
    let mut facts: Vec<CgroupFacts> = selected
        .iter()
        .map(|s| {
            let last = last_component(&s.rel);
            let unit = matches!(name::kind(last), Some(Kind::Plain) | Some(Kind::Instance))
                .then(|| last.to_string());
            let want = match &unit {
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
            }
        })
        .collect();
    // Named units with no cgroup at all.
    for p in patterns.iter().filter(|p| !p.template) {
        if !selected.iter().any(|s| p.matches(last_component(&s.rel))) {
            facts.push(CgroupFacts {
                hierarchy: None,
                path: String::new(),
                unit: Some(p.name.clone()),
                programs: Vec::new(),
                want: reader.want(&p.name),
                named: true,
                other_netns_pids: Vec::new(),
            });
        }
    }
    // Processes in another network namespace than ours.
    let own_ns = fs::metadata("/proc/thread-self/ns/net")
        .or_else(|_| fs::metadata("/proc/self/ns/net"))
        .map(|m| (m.dev(), m.ino()))
        .ok();
    if let Some(own_ns) = own_ns {
        for f in facts.iter_mut() {
            let Some(h) = &f.hierarchy else { continue };
            let mut pids = Vec::new();
            procs_below(&cgroup_dir(h, &f.path), &mut pids);
            f.other_netns_pids = pids
                .into_iter()
                .map(|(pid, _)| pid)
                .filter(|pid| {
                    fs::metadata(format!("/proc/{pid}/ns/net"))
                        .is_ok_and(|m| (m.dev(), m.ino()) != own_ns)
                })
                .collect();
        }
    }
    // Interfaces: each distinct ifindex and wanted name once.
    let mut links = Links::default();
    for f in &facts {
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
    let mut reports: Vec<CgroupReport> = facts.into_iter().map(|f| assess(f, &links)).collect();
    if opts.sockets {
        add_sockets(&mut reports, &seen, &hierarchies, &mut links);
    }
    Ok((reports, hierarchies))
}

fn lookup_index(links: &mut Links, i: u32) {
    links.by_index.entry(i).or_insert_with(|| {
        netlink::link_by_index(i).unwrap_or_else(|e| {
            log_at!(Warning, "Failed to look up ifindex {i}: {e}, ignoring");
            None
        })
    });
}

fn add_sockets(
    reports: &mut [CgroupReport],
    seen: &[Seen],
    hierarchies: &[PathBuf],
    links: &mut Links,
) {
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
    let programs_at: BTreeMap<PathBuf, &[Program]> = seen
        .iter()
        .map(|s| {
            (
                cgroup_dir(&hierarchies[s.hierarchy], &s.rel),
                s.programs.as_slice(),
            )
        })
        .collect();
    for r in reports.iter_mut() {
        let Some(h) = &r.facts.hierarchy else {
            continue;
        };
        let dir = cgroup_dir(h, &r.facts.path);
        let mut pids = Vec::new();
        procs_below(&dir, &mut pids);
        let mut held = Vec::new();
        let mut inodes_seen = BTreeSet::new();
        for (pid, cgdir) in pids {
            // Programs of sub-cgroups between the reported one and the process's own bind too.
            let mut expected = r.expected();
            let mut d = cgdir.as_path();
            while d != dir && d.starts_with(&dir) {
                if let Some(p) = programs_at.get(d) {
                    expected.add(p);
                }
                d = match d.parent() {
                    Some(p) => p,
                    None => break,
                };
            }
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
        r.sockets = Some(held);
    }
}
