// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch status [--sockets] [--json] [UNIT…]`: which cgroups carry a binding, for which
//! interface, whether that binding went stale, and (with `--sockets`) which inet sockets of their
//! processes are not bound.
//!
//! Split in two: [`gather`] reads the host (cgroup2 walk, `BPF_PROG_QUERY`, rtnetlink, unit
//! files, `/proc`, sock_diag) into plain facts; everything after that — judging staleness
//! ([`assess`]), the unbound-socket filter, the table, the JSON and the exit status — is pure
//! and tested on hand-written facts.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::cgroup_path::{self, PRIVATE_CGROUP2_MOUNT};
use crate::json::Value;
use crate::log_at;
use crate::sys;
use crate::sys::bpf::{self, ProgInfo};
use crate::sys::diag::{self, InetSocket, SockDiag};
use crate::sys::netlink::{self, LinkInfo};
use crate::unit::catalog::Catalog;
use crate::unit::eval::{self, EvalContext};
use crate::unit::load;
use crate::unit::name::{self, Kind};
use crate::unit::specifier::{HostFacts, SpecifierContext};

// ---------------------------------------------------------------------------------------------
// Facts

/// What a program attached to a cgroup's `sock_create` hook is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgKind {
    /// Ours (`bindif_sock` with our four instructions), binding to this ifindex.
    Ours(u32),
    /// systemd v260's native `sd_bind_interface`: its ifindex lives in `.rodata`, unreadable.
    Native,
    /// Anything else.
    Foreign,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub id: u32,
    pub name: String,
    pub kind: ProgKind,
}

impl Program {
    pub fn from_info(info: &ProgInfo) -> Program {
        let kind = match info.ours_ifindex {
            Some(i) => ProgKind::Ours(i),
            None if info.is_v260_native => ProgKind::Native,
            None => ProgKind::Foreign,
        };
        Program {
            id: info.id,
            name: info.name.clone(),
            kind,
        }
    }

    fn kind_str(&self) -> &'static str {
        match self.kind {
            ProgKind::Ours(_) => "ours",
            ProgKind::Native => "native",
            ProgKind::Foreign => "foreign",
        }
    }

    fn ifindex(&self) -> Option<u32> {
        match self.kind {
            ProgKind::Ours(i) => Some(i),
            _ => None,
        }
    }

    fn binds(&self) -> bool {
        !matches!(self.kind, ProgKind::Foreign)
    }
}

/// The unit's effective `BindNetworkInterface=`, as far as we could read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// Not a unit's cgroup, or its unit file could not be read (with the reason).
    Unknown(Option<String>),
    /// The unit sets no interface.
    Unset,
    Iface(String),
}

impl Want {
    fn iface(&self) -> Option<&str> {
        match self {
            Want::Iface(s) => Some(s),
            _ => None,
        }
    }
}

/// One cgroup as read from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupFacts {
    /// The cgroup2 mount the cgroup was found under (`None`: a named unit with no cgroup).
    pub hierarchy: Option<PathBuf>,
    /// Path inside the hierarchy, `/system.slice/x.service`.
    pub path: String,
    /// The unit name, when the last component is one.
    pub unit: Option<String>,
    /// Programs attached directly to the cgroup, in run order.
    pub programs: Vec<Program>,
    pub want: Want,
    /// Requested by name on the command line.
    pub named: bool,
    /// Processes of the cgroup (or below) in another network namespace than `status`: their
    /// interfaces may differ from ours and sock_diag cannot see their sockets.
    pub other_netns_pids: Vec<u32>,
}

/// What the caller's network namespace says about the interfaces the facts mention.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// ifindex → the link now holding it (`None`: no such ifindex).
    pub by_index: BTreeMap<u32, Option<LinkInfo>>,
    /// Interface name (primary or alternative) → its ifindex now (`None`: no such interface).
    pub by_name: BTreeMap<String, Option<u32>>,
}

impl Links {
    fn link(&self, ifindex: u32) -> Option<&LinkInfo> {
        self.by_index.get(&ifindex).and_then(Option::as_ref)
    }

    fn index_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied().flatten()
    }

    fn name_of(&self, ifindex: u32) -> Option<&str> {
        self.link(ifindex).and_then(|l| l.name.as_deref())
    }
}

// ---------------------------------------------------------------------------------------------
// Judgement

/// A verdict, per program and per cgroup. Ordered from harmless to worst, so a cgroup's state is
/// the maximum of its programs' and its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Our binding points at the interface the unit asks for (or the unit cannot be read and the
    /// ifindex exists).
    Ok,
    /// A foreign program: reported, not judged.
    Foreign,
    /// systemd v260's own binding: fine, but its ifindex cannot be checked.
    Native,
    /// A named unit whose cgroup does not exist (not running).
    Inactive,
    /// No binding program on the cgroup (a problem when the unit wants one).
    Unbound,
    /// More than one binding program on one cgroup.
    Stacked,
    /// The ifindex now has another name and the unit's interface no longer exists.
    Renamed,
    /// The ifindex now has another name and the unit's interface is another ifindex.
    Mismatch,
    /// No interface has the ifindex any more (deleted, or deleted and re-created).
    Gone,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Foreign => "foreign",
            State::Native => "native",
            State::Inactive => "inactive",
            State::Unbound => "unbound",
            State::Stacked => "stacked",
            State::Renamed => "renamed",
            State::Mismatch => "mismatch",
            State::Gone => "gone",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramReport {
    pub program: Program,
    /// The name the ifindex has now in our network namespace.
    pub interface: Option<String>,
    pub state: State,
}

/// A socket of the cgroup's processes that does not carry the binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketReport {
    pub pid: u32,
    pub comm: String,
    pub socket: InetSocket,
    /// Name of the device it is bound to now (`None`: unbound, or the ifindex is gone).
    pub bound_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupReport {
    pub facts: CgroupFacts,
    pub programs: Vec<ProgramReport>,
    pub state: State,
    /// Whether this makes `status` exit non-zero.
    pub problem: bool,
    /// Explanations for the reader, one sentence each.
    pub notes: Vec<String>,
    /// With `--sockets`: the unbound ones (empty: all bound).
    pub sockets: Option<Vec<SocketReport>>,
}

impl CgroupReport {
    /// The label for messages: the unit name, else the path.
    pub fn label(&self) -> &str {
        self.facts.unit.as_deref().unwrap_or(&self.facts.path)
    }

    /// Which device indexes a correctly bound socket of this cgroup may carry.
    pub fn expected(&self) -> Expected {
        Expected::of(&self.facts.programs)
    }
}

/// The bound devices acceptable for a cgroup's sockets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub ifindexes: BTreeSet<u32>,
    /// A native program binds to an ifindex we cannot read: any bound device is accepted.
    pub any_bound: bool,
}

impl Expected {
    pub fn of(programs: &[Program]) -> Expected {
        let mut e = Expected::default();
        e.add(programs);
        e
    }

    /// Adds a sub-cgroup's own programs (its processes may be bound by those instead).
    pub fn add(&mut self, programs: &[Program]) {
        for p in programs {
            match p.kind {
                ProgKind::Ours(i) => {
                    self.ifindexes.insert(i);
                }
                ProgKind::Native => self.any_bound = true,
                ProgKind::Foreign => {}
            }
        }
    }

    pub fn accepts(&self, bound_ifindex: u32) -> bool {
        if bound_ifindex == 0 {
            return false;
        }
        self.any_bound || self.ifindexes.contains(&bound_ifindex)
    }
}

/// Judges one cgroup. Pure.
pub fn assess(facts: CgroupFacts, links: &Links) -> CgroupReport {
    let mut notes = Vec::new();
    let want = facts.want.iface().map(str::to_owned);
    let binding = facts.programs.iter().filter(|p| p.binds()).count();
    let ours = facts
        .programs
        .iter()
        .filter(|p| matches!(p.kind, ProgKind::Ours(_)))
        .count();
    let mut programs = Vec::new();
    for p in &facts.programs {
        let (interface, state) = match p.kind {
            ProgKind::Ours(ifindex) => {
                let now = links.link(ifindex);
                let name = now.and_then(|l| l.name.clone());
                let state = match (now, want.as_deref()) {
                    (None, w) => {
                        let again = w.and_then(|w| links.index_of(w).map(|i| (w, i)));
                        notes.push(match again {
                            Some((w, i)) => format!(
                                "ifindex {ifindex} no longer exists; {w} is now ifindex {i}: \
                                 the interface was re-created, restart the unit to bind it again"
                            ),
                            None => format!(
                                "ifindex {ifindex} no longer exists: sockets created now are \
                                 bound to a missing device and cannot send"
                            ),
                        });
                        State::Gone
                    }
                    (Some(_), None) => State::Ok,
                    (Some(l), Some(w)) => {
                        if l.name.as_deref() == Some(w) || l.altnames.iter().any(|a| a == w) {
                            State::Ok
                        } else {
                            let has = l.name.as_deref().unwrap_or("?");
                            match links.index_of(w) {
                                Some(i) => {
                                    notes.push(format!(
                                        "ifindex {ifindex} is now {has}, but \
                                         BindNetworkInterface={w} is ifindex {i}: restart the \
                                         unit to bind it to {w}"
                                    ));
                                    State::Mismatch
                                }
                                None => {
                                    notes.push(format!(
                                        "ifindex {ifindex} is now named {has}; \
                                         BindNetworkInterface={w} names no interface: the \
                                         interface was renamed"
                                    ));
                                    State::Renamed
                                }
                            }
                        }
                    }
                };
                (name, state)
            }
            ProgKind::Native => (None, State::Native),
            ProgKind::Foreign => (None, State::Foreign),
        };
        let state = if binding > 1 && p.binds() && state < State::Stacked {
            State::Stacked
        } else {
            state
        };
        programs.push(ProgramReport {
            program: p.clone(),
            interface,
            state,
        });
    }
    // Foreign programs are listed, not judged: the cgroup's state is that of its bindings.
    let mut state = programs
        .iter()
        .filter(|p| p.program.binds())
        .map(|p| p.state)
        .max()
        .unwrap_or(State::Ok);
    if binding > 1 {
        notes.push(if ours > 1 {
            format!(
                "{binding} binding programs on one cgroup ({ours} of ours): the last one to run \
                 wins; restarting the unit with bindif-launch removes the older copies"
            )
        } else {
            format!(
                "{binding} binding programs on one cgroup (systemd's native one and ours): \
                 drop bindif-launch from the unit on systemd v260 and later"
            )
        });
    }
    if binding == 0 {
        state = state.max(if facts.hierarchy.is_none() {
            State::Inactive
        } else {
            State::Unbound
        });
    }
    if let Some(first) = facts.other_netns_pids.first() {
        notes.push(format!(
            "{} process(es) (PID {first}{}) use another network namespace: interface names \
             above are those of this namespace, and their sockets cannot be listed; run \
             'nsenter --net=/proc/{first}/ns/net bindif-launch status' to look from theirs",
            facts.other_netns_pids.len(),
            if facts.other_netns_pids.len() > 1 {
                ", …"
            } else {
                ""
            }
        ));
    }
    if let Want::Unknown(Some(why)) = &facts.want {
        if facts.named {
            notes.push(format!("unit file not read: {why}"));
        }
    }
    let problem = match state {
        State::Gone | State::Mismatch | State::Renamed | State::Stacked => true,
        State::Unbound => facts.named && want.is_some(),
        _ => false,
    };
    if state == State::Unbound && problem {
        notes.push(format!(
            "BindNetworkInterface={} is set but no binding is attached: sockets of the unit \
             are not bound",
            want.as_deref().unwrap_or_default()
        ));
    }
    if state == State::Inactive && want.is_some() {
        notes.push("the unit has no cgroup (not running)".to_string());
    }
    CgroupReport {
        facts,
        programs,
        state,
        problem,
        notes,
        sockets: None,
    }
}

/// The sockets of `held` (pid, comm, socket) that do not carry a device `expected` accepts.
pub fn unbound_sockets(
    held: &[(u32, String, InetSocket)],
    expected: &Expected,
    links: &Links,
) -> Vec<SocketReport> {
    held.iter()
        .filter(|(_, _, s)| !expected.accepts(s.bound_ifindex))
        .map(|(pid, comm, s)| SocketReport {
            pid: *pid,
            comm: comm.clone(),
            socket: s.clone(),
            bound_name: (s.bound_ifindex != 0)
                .then(|| links.name_of(s.bound_ifindex).map(str::to_owned))
                .flatten(),
        })
        .collect()
}

/// 0 when nothing is wrong, 1 when anything is stale, stacked, unbound (for a unit that wants a
/// binding) or, with `--sockets`, holds unbound sockets.
pub fn exit_status(reports: &[CgroupReport]) -> i32 {
    let bad = reports
        .iter()
        .any(|r| r.problem || r.sockets.as_ref().is_some_and(|s| !s.is_empty()));
    i32::from(bad)
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Where a cgroup lives, as the reader should see it: the path inside the hierarchy, or the full
/// path for the private cgroup2 of legacy hosts.
fn display_path(f: &CgroupFacts, main: Option<&Path>) -> String {
    match &f.hierarchy {
        None => "-".to_string(),
        Some(h) if Some(h.as_path()) == main => f.path.clone(),
        Some(h) => {
            let rel = f.path.trim_start_matches('/');
            if rel.is_empty() {
                h.display().to_string()
            } else {
                h.join(rel).display().to_string()
            }
        }
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn program_label(p: &Program) -> String {
    match p.kind {
        ProgKind::Ours(_) => format!("bindif_sock#{}", p.id),
        ProgKind::Native => format!("{}#{}", p.name, p.id),
        ProgKind::Foreign if p.name.is_empty() => format!("foreign#{}", p.id),
        ProgKind::Foreign => format!("foreign {}#{}", p.name, p.id),
    }
}

/// The human table. `main` is the systemd cgroup2 mount (paths below it are shown relative).
pub fn render_text(reports: &[CgroupReport], main: Option<&Path>) -> String {
    if reports.is_empty() {
        return "No cgroup carries a socket binding program.\n".to_string();
    }
    let mut rows = vec![[
        "CGROUP",
        "UNIT",
        "PROGRAM",
        "IFINDEX",
        "INTERFACE",
        "WANTED",
        "STATE",
    ]
    .map(String::from)
    .to_vec()];
    for r in reports {
        let f = &r.facts;
        let path = display_path(f, main);
        let unit = f.unit.clone().unwrap_or_else(|| "-".into());
        let wanted = match &f.want {
            Want::Iface(w) => w.clone(),
            Want::Unset => "(none)".into(),
            Want::Unknown(_) => "-".into(),
        };
        if r.programs.is_empty() {
            // A named unit without any program: one line saying so.
            rows.push(vec![
                path.clone(),
                unit.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                wanted.clone(),
                r.state.as_str().into(),
            ]);
        }
        for p in &r.programs {
            rows.push(vec![
                path.clone(),
                unit.clone(),
                program_label(&p.program),
                p.program
                    .ifindex()
                    .map_or("-".into(), |i: u32| i.to_string()),
                match (&p.program.kind, &p.interface) {
                    (ProgKind::Ours(_), Some(n)) => n.clone(),
                    (ProgKind::Ours(_), None) => "(gone)".into(),
                    // v260 keeps the ifindex in .rodata, which the kernel does not show.
                    (ProgKind::Native, _) => "native (v260)".into(),
                    (ProgKind::Foreign, _) => "-".into(),
                },
                wanted.clone(),
                p.state.as_str().into(),
            ]);
        }
    }
    let mut out = table(&rows);
    let noted: Vec<&CgroupReport> = reports.iter().filter(|r| !r.notes.is_empty()).collect();
    if !noted.is_empty() {
        out.push('\n');
        for r in noted {
            for n in &r.notes {
                out.push_str(&format!("{}: {n}\n", r.label()));
            }
        }
    }
    let with_sockets: Vec<&CgroupReport> = reports.iter().filter(|r| r.sockets.is_some()).collect();
    if !with_sockets.is_empty() {
        let mut srows = vec![[
            "CGROUP", "PID", "COMMAND", "PROTO", "LOCAL", "STATE", "BOUND TO",
        ]
        .map(String::from)
        .to_vec()];
        for r in &with_sockets {
            for s in r.sockets.iter().flatten() {
                srows.push(vec![
                    display_path(&r.facts, main),
                    s.pid.to_string(),
                    s.comm.clone(),
                    s.socket.proto_name().into(),
                    s.socket.local_string(),
                    s.socket.state_name().into(),
                    bound_text(s),
                ]);
            }
        }
        out.push('\n');
        if srows.len() == 1 {
            out.push_str("Unbound sockets: none.\n");
        } else {
            out.push_str("Unbound sockets:\n");
            out.push_str(&table(&srows));
        }
    }
    out
}

fn bound_text(s: &SocketReport) -> String {
    match (s.socket.bound_ifindex, &s.bound_name) {
        (0, _) => "(none)".into(),
        (i, Some(n)) => format!("{n} ({i})"),
        (i, None) => format!("ifindex {i} (gone)"),
    }
}

/// The `--json` document.
pub fn to_json(reports: &[CgroupReport], hierarchies: &[PathBuf]) -> Value {
    let cgroups = reports
        .iter()
        .map(|r| {
            let f = &r.facts;
            let mut fields = vec![
                (
                    "hierarchy",
                    Value::opt_str(f.hierarchy.as_ref().map(|h| h.display().to_string())),
                ),
                (
                    "path",
                    if f.hierarchy.is_some() {
                        Value::str(f.path.as_str())
                    } else {
                        Value::Null
                    },
                ),
                ("unit", Value::opt_str(f.unit.clone())),
                ("wanted_interface", Value::opt_str(f.want.iface())),
                ("state", Value::str(r.state.as_str())),
                ("problem", Value::Bool(r.problem)),
                (
                    "programs",
                    Value::Arr(
                        r.programs
                            .iter()
                            .map(|p| {
                                Value::obj(vec![
                                    ("id", Value::Num(i64::from(p.program.id))),
                                    ("name", Value::str(p.program.name.as_str())),
                                    ("kind", Value::str(p.program.kind_str())),
                                    (
                                        "ifindex",
                                        p.program
                                            .ifindex()
                                            .map_or(Value::Null, |i| Value::Num(i64::from(i))),
                                    ),
                                    ("interface", Value::opt_str(p.interface.clone())),
                                    ("state", Value::str(p.state.as_str())),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "notes",
                    Value::Arr(r.notes.iter().map(|n| Value::str(n.as_str())).collect()),
                ),
            ];
            if let Some(socks) = &r.sockets {
                fields.push((
                    "unbound_sockets",
                    Value::Arr(
                        socks
                            .iter()
                            .map(|s| {
                                Value::obj(vec![
                                    ("pid", Value::Num(i64::from(s.pid))),
                                    ("command", Value::str(s.comm.as_str())),
                                    ("protocol", Value::str(s.socket.proto_name())),
                                    ("local", Value::str(s.socket.local_string())),
                                    ("state", Value::str(s.socket.state_name())),
                                    ("inode", Value::Num(s.socket.inode as i64)),
                                    (
                                        "bound_ifindex",
                                        match s.socket.bound_ifindex {
                                            0 => Value::Null,
                                            i => Value::Num(i64::from(i)),
                                        },
                                    ),
                                    ("bound_interface", Value::opt_str(s.bound_name.clone())),
                                ])
                            })
                            .collect(),
                    ),
                ));
            }
            Value::obj(fields)
        })
        .collect();
    Value::obj(vec![
        (
            "hierarchies",
            Value::Arr(
                hierarchies
                    .iter()
                    .map(|h| Value::str(h.display().to_string()))
                    .collect(),
            ),
        ),
        ("ok", Value::Bool(exit_status(reports) == 0)),
        ("cgroups", Value::Arr(cgroups)),
    ])
}

// ---------------------------------------------------------------------------------------------
// Arguments

/// A `UNIT` argument: a unit name (a bare name means `.service`, as systemctl does) or a
/// template, which matches all of its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitPattern {
    pub name: String,
    pub template: bool,
}

impl UnitPattern {
    pub fn parse(arg: &str) -> Result<UnitPattern, String> {
        let name = if name::kind(arg).is_some() {
            arg.to_string()
        } else {
            format!("{arg}.service")
        };
        match name::kind(&name) {
            Some(Kind::Template) => Ok(UnitPattern {
                name,
                template: true,
            }),
            Some(_) => Ok(UnitPattern {
                name,
                template: false,
            }),
            None => Err(format!("Invalid unit name \"{arg}\"")),
        }
    }

    /// Whether the cgroup directory called `last` belongs to this unit.
    pub fn matches(&self, last: &str) -> bool {
        if self.template {
            name::template_of(last).as_deref() == Some(self.name.as_str())
        } else {
            last == self.name
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Gathering (the impure part)

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

/// A failure that stops `status` (the walk or a query failed).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit: i32,
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

fn query_failure(path: &Path, e: io::Error) -> Failure {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) => {
            " (listing cgroup programs needs CAP_NET_ADMIN, and reading them CAP_SYS_ADMIN: \
             run status as root)"
        }
        _ => "",
    };
    Failure {
        message: format!(
            "Failed to query BPF programs of {}: {}{hint}",
            path.display(),
            crate::sys::strerror(&e)
        ),
        exit: 1,
    }
}

/// Walks one hierarchy depth-first, querying every cgroup. Cgroups that vanish while we look
/// are skipped.
fn walk(hier_idx: usize, dir: &Path, rel: &str, out: &mut Vec<Seen>) -> Result<(), Failure> {
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

fn last_component(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or("")
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
pub fn gather(opts: &Options) -> Result<(Vec<CgroupReport>, Vec<PathBuf>), Failure> {
    let patterns = opts
        .units
        .iter()
        .map(|u| UnitPattern::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| Failure { message, exit: 2 })?;
    let hierarchies = opts.hierarchies.clone().unwrap_or_else(default_hierarchies);
    if hierarchies.is_empty() {
        return Err(Failure {
            message: "No cgroup2 hierarchy found: neither systemd's nor bindif-launch's own \
                      (legacy hosts) is mounted, so nothing can carry a binding"
                .into(),
            exit: 1,
        });
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

/// Runs `status` with `opts`, writing to `out`; returns the exit status.
pub fn run_with(opts: &Options, out: &mut dyn Write) -> i32 {
    let (reports, hierarchies) = match gather(opts) {
        Ok(r) => r,
        Err(f) => {
            log_at!(Err, "{}", f.message);
            return f.exit;
        }
    };
    let text = if opts.json {
        let mut s = to_json(&reports, &hierarchies).render();
        s.push('\n');
        s
    } else {
        let main = sys::cgroup::detect(Path::new("/"))
            .cgroup2_mount()
            .map(Path::to_path_buf)
            .filter(|m| hierarchies.contains(m))
            .or_else(|| hierarchies.first().cloned());
        render_text(&reports, main.as_deref())
    };
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            log_at!(Err, "Failed to write output: {e}");
        }
        return 1;
    }
    exit_status(&reports)
}

/// `bindif-launch status [--sockets] [--json] [UNIT…]`: prints to stdout, returns the exit
/// status (0 all ok, 1 something stale, stacked or unbound, 2 bad arguments).
pub fn run(units: &[String], sockets: bool, json: bool) -> i32 {
    let opts = Options::new(units, sockets, json);
    run_with(&opts, &mut io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    const MAIN: &str = "/sys/fs/cgroup/unified";

    fn ours(id: u32, ifindex: u32) -> Program {
        Program {
            id,
            name: "bindif_sock".into(),
            kind: ProgKind::Ours(ifindex),
        }
    }

    fn native(id: u32) -> Program {
        Program {
            id,
            name: "sd_bind_interfa".into(),
            kind: ProgKind::Native,
        }
    }

    fn foreign(id: u32, name: &str) -> Program {
        Program {
            id,
            name: name.into(),
            kind: ProgKind::Foreign,
        }
    }

    fn facts(path: &str, programs: Vec<Program>, want: Want) -> CgroupFacts {
        CgroupFacts {
            hierarchy: Some(PathBuf::from(MAIN)),
            path: path.into(),
            unit: Some(last_component(path).to_string()).filter(|u| name::kind(u).is_some()),
            programs,
            want,
            named: false,
            other_netns_pids: Vec::new(),
        }
    }

    fn iface(s: &str) -> Want {
        Want::Iface(s.into())
    }

    /// lo=1, mgmt=4 (altname management-vrf), dmz=7; 5 is gone; mgmt2 renamed from "old".
    fn links() -> Links {
        let mut l = Links::default();
        let mut add = |i: u32, n: &str, alts: &[&str]| {
            l.by_index.insert(
                i,
                Some(LinkInfo {
                    index: i,
                    name: Some(n.into()),
                    altnames: alts.iter().map(|a| a.to_string()).collect(),
                }),
            );
            l.by_name.insert(n.into(), Some(i));
        };
        add(1, "lo", &[]);
        add(4, "mgmt", &["management-vrf"]);
        add(7, "dmz", &[]);
        add(8, "mgmt2", &[]);
        l.by_index.insert(5, None);
        l.by_name.insert("management-vrf".into(), Some(4));
        l.by_name.insert("old".into(), None);
        l
    }

    fn states(r: &CgroupReport) -> (State, Vec<State>, bool) {
        (
            r.state,
            r.programs.iter().map(|p| p.state).collect(),
            r.problem,
        )
    }

    #[test]
    fn ok_by_name_altname_and_without_unit() {
        let l = links();
        let r = assess(facts("/s/a.service", vec![ours(1, 4)], iface("mgmt")), &l);
        assert_eq!(states(&r), (State::Ok, vec![State::Ok], false));
        assert_eq!(r.programs[0].interface.as_deref(), Some("mgmt"));
        assert!(r.notes.is_empty());
        let r = assess(
            facts("/s/a.service", vec![ours(1, 4)], iface("management-vrf")),
            &l,
        );
        assert_eq!(r.state, State::Ok);
        let r = assess(facts("/s/a.service", vec![ours(1, 4)], Want::Unset), &l);
        assert_eq!(r.state, State::Ok);
        let r = assess(facts("/s/x", vec![ours(1, 7)], Want::Unknown(None)), &l);
        assert_eq!((r.state, r.facts.unit.clone()), (State::Ok, None));
    }

    #[test]
    fn gone_recreated_renamed_mismatch() {
        let l = links();
        let r = assess(facts("/a.service", vec![ours(1, 5)], Want::Unset), &l);
        assert_eq!(states(&r), (State::Gone, vec![State::Gone], true));
        assert_eq!(r.programs[0].interface, None);
        assert!(r.notes[0].starts_with("ifindex 5 no longer exists: "));
        // Re-created: the name exists again, with another index.
        let r = assess(facts("/a.service", vec![ours(1, 5)], iface("mgmt")), &l);
        assert_eq!(r.state, State::Gone);
        assert!(
            r.notes[0].contains("mgmt is now ifindex 4"),
            "{:?}",
            r.notes
        );
        // Renamed: the ifindex lives on under another name, the wanted name is nowhere.
        let r = assess(facts("/a.service", vec![ours(1, 8)], iface("old")), &l);
        assert_eq!(states(&r), (State::Renamed, vec![State::Renamed], true));
        assert_eq!(r.programs[0].interface.as_deref(), Some("mgmt2"));
        // Mismatch: the wanted name is another ifindex.
        let r = assess(facts("/a.service", vec![ours(1, 7)], iface("mgmt")), &l);
        assert_eq!(states(&r), (State::Mismatch, vec![State::Mismatch], true));
        assert!(r.notes[0].contains("BindNetworkInterface=mgmt is ifindex 4"));
    }

    #[test]
    fn stacked_native_and_foreign() {
        let l = links();
        let r = assess(
            facts("/a.service", vec![ours(1, 4), ours(2, 4)], iface("mgmt")),
            &l,
        );
        assert_eq!(
            states(&r),
            (State::Stacked, vec![State::Stacked, State::Stacked], true)
        );
        // A stale copy under a fresh one: the worst state wins.
        let r = assess(
            facts("/a.service", vec![ours(1, 5), ours(2, 4)], Want::Unset),
            &l,
        );
        assert_eq!(
            states(&r),
            (State::Gone, vec![State::Gone, State::Stacked], true)
        );
        let r = assess(
            facts("/a.service", vec![native(3), ours(4, 4)], Want::Unset),
            &l,
        );
        assert_eq!(r.state, State::Stacked);
        assert!(r.notes[0].contains("systemd's native one and ours"));
        let r = assess(facts("/a.service", vec![native(3)], iface("mgmt")), &l);
        assert_eq!(states(&r), (State::Native, vec![State::Native], false));
        // Foreign programs do not bind and do not count towards stacking.
        let r = assess(
            facts(
                "/a.service",
                vec![foreign(9, "fw"), ours(4, 4)],
                Want::Unset,
            ),
            &l,
        );
        assert_eq!(
            states(&r),
            (State::Ok, vec![State::Foreign, State::Ok], false)
        );
        let r = assess(facts("/a.service", vec![foreign(9, "fw")], Want::Unset), &l);
        assert_eq!(states(&r), (State::Unbound, vec![State::Foreign], false));
    }

    #[test]
    fn named_unbound_and_inactive() {
        let l = links();
        let mut f = facts("/a.service", vec![], iface("mgmt"));
        f.named = true;
        let r = assess(f.clone(), &l);
        assert_eq!(states(&r), (State::Unbound, vec![], true));
        f.want = Want::Unset;
        assert!(!assess(f.clone(), &l).problem);
        f.want = Want::Unknown(Some("Unit a.service not found.".into()));
        let r = assess(f.clone(), &l);
        assert!(!r.problem);
        assert_eq!(
            r.notes,
            vec!["unit file not read: Unit a.service not found."]
        );
        f.hierarchy = None;
        f.want = iface("mgmt");
        let r = assess(f, &l);
        assert_eq!(states(&r), (State::Inactive, vec![], false));
        // Processes in another network namespace are pointed out.
        let mut f = facts("/a.service", vec![ours(1, 4)], iface("mgmt"));
        f.other_netns_pids = vec![42, 43];
        let r = assess(f, &l);
        assert_eq!((r.state, r.problem), (State::Ok, false));
        assert!(r.notes[0].starts_with("2 process(es) (PID 42, …) use another network"));
        assert!(r.notes[0].contains("nsenter --net=/proc/42/ns/net"));
        // Unnamed (whole-hierarchy) reports never count an unbound cgroup as a problem.
        let r = assess(facts("/a.service", vec![], iface("mgmt")), &l);
        assert!(!r.problem);
    }

    fn sock(proto: diag::Proto, v6: bool, port: u16, ifindex: u32, inode: u64) -> InetSocket {
        InetSocket {
            family: if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8,
            proto,
            state: if proto == diag::Proto::Tcp { 10 } else { 7 },
            local: if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            local_port: port,
            remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            remote_port: 0,
            bound_ifindex: ifindex,
            inode,
            uid: 0,
        }
    }

    #[test]
    fn unbound_socket_filter() {
        let l = links();
        let held = vec![
            (
                10,
                "sshd".to_string(),
                sock(diag::Proto::Tcp, true, 22, 0, 1),
            ),
            (
                10,
                "sshd".to_string(),
                sock(diag::Proto::Tcp, false, 22, 4, 2),
            ),
            (
                11,
                "sshd".to_string(),
                sock(diag::Proto::Udp, false, 53, 7, 3),
            ),
            (
                11,
                "sshd".to_string(),
                sock(diag::Proto::Udp, false, 54, 5, 4),
            ),
        ];
        let e = Expected::of(&[ours(1, 4)]);
        let out = unbound_sockets(&held, &e, &l);
        let got: Vec<(u32, u64, Option<&str>)> = out
            .iter()
            .map(|s| (s.pid, s.socket.inode, s.bound_name.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![(10, 1, None), (11, 3, Some("dmz")), (11, 4, None)]
        );
        assert_eq!(bound_text(&out[0]), "(none)");
        assert_eq!(bound_text(&out[1]), "dmz (7)");
        assert_eq!(bound_text(&out[2]), "ifindex 5 (gone)");
        // A sub-cgroup's own program accepts its device; a native one accepts any device.
        let mut e2 = e.clone();
        e2.add(&[ours(2, 7)]);
        assert_eq!(unbound_sockets(&held, &e2, &l).len(), 2);
        let n = Expected::of(&[native(3)]);
        assert_eq!(unbound_sockets(&held, &n, &l).len(), 1);
        assert!(!Expected::default().accepts(0));
    }

    #[test]
    fn unit_arguments() {
        let p = UnitPattern::parse("sshd").unwrap();
        assert_eq!((p.name.as_str(), p.template), ("sshd.service", false));
        assert!(p.matches("sshd.service") && !p.matches("sshd@x.service"));
        let p = UnitPattern::parse("sshd@.service").unwrap();
        assert!(p.template);
        assert!(p.matches("sshd@mgmt.service"));
        assert!(!p.matches("sshd.service") && !p.matches("other@mgmt.service"));
        let p = UnitPattern::parse("sshd@mgmt.service").unwrap();
        assert!(p.matches("sshd@mgmt.service") && !p.matches("sshd@dmz.service"));
        assert!(UnitPattern::parse("chrony.socket").is_ok());
        for bad in ["a/b", "", "x.service/y"] {
            assert!(UnitPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A host with one of everything, for the rendering fixtures.
    fn sample() -> Vec<CgroupReport> {
        let l = links();
        let mut out = vec![
            assess(
                facts(
                    "/system.slice/sshd@mgmt.service",
                    vec![ours(41, 4)],
                    iface("mgmt"),
                ),
                &l,
            ),
            assess(
                facts(
                    "/system.slice/chronyd.service",
                    vec![native(12)],
                    iface("mgmt"),
                ),
                &l,
            ),
            assess(
                facts("/system.slice/dns.service", vec![ours(43, 5)], iface("dmz")),
                &l,
            ),
            assess(
                facts(
                    "/system.slice/web.service",
                    vec![ours(44, 7), ours(45, 7)],
                    Want::Unset,
                ),
                &l,
            ),
            assess(
                facts(
                    "/system.slice/fw.service",
                    vec![foreign(50, "fw_egress")],
                    Want::Unset,
                ),
                &l,
            ),
        ];
        let mut mirror = facts(
            "/system.slice/legacy.service",
            vec![ours(46, 1)],
            Want::Unknown(None),
        );
        mirror.hierarchy = Some(PathBuf::from(PRIVATE_CGROUP2_MOUNT));
        out.push(assess(mirror, &l));
        let mut inactive = facts("", vec![], iface("mgmt"));
        inactive.hierarchy = None;
        inactive.unit = Some("ntp@mgmt.service".into());
        inactive.named = true;
        out.push(assess(inactive, &l));
        let held = vec![
            (
                812,
                "sshd".to_string(),
                sock(diag::Proto::Tcp, true, 22, 0, 9),
            ),
            (
                812,
                "sshd".to_string(),
                sock(diag::Proto::Tcp, false, 22, 4, 10),
            ),
        ];
        out[0].sockets = Some(unbound_sockets(&held, &out[0].expected(), &l));
        out[1].sockets = Some(vec![]);
        out
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/status/expected")
            .join(name)
    }

    /// Compares with the fixture; `BINDIF_UPDATE_FIXTURES=1` rewrites it instead.
    fn check_fixture(name: &str, got: &str) {
        let path = fixture(name);
        if std::env::var_os("BINDIF_UPDATE_FIXTURES").is_some() {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, got).unwrap();
        }
        let want = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, want, "{} differs", path.display());
    }

    #[test]
    fn renders_table() {
        let reports = sample();
        check_fixture("table.txt", &render_text(&reports, Some(Path::new(MAIN))));
        assert_eq!(
            render_text(&[], Some(Path::new(MAIN))),
            "No cgroup carries a socket binding program.\n"
        );
        assert_eq!(exit_status(&reports), 1);
        assert_eq!(exit_status(&reports[1..2]), 0);
        // Unbound sockets alone make it fail.
        assert_eq!(exit_status(&reports[..1]), 1);
        assert_eq!(reports[0].state, State::Ok);
    }

    #[test]
    fn renders_json() {
        let reports = sample();
        let hier = [PathBuf::from(MAIN), PathBuf::from(PRIVATE_CGROUP2_MOUNT)];
        let mut json = to_json(&reports, &hier).render();
        json.push('\n');
        check_fixture("status.json", &json);
    }
}
