// SPDX-License-Identifier: LGPL-2.1-or-later
//! Judgement: from facts to verdicts (per program and per cgroup), the unbound-socket filter and
//! the exit status. Pure, and tested on hand-written facts.

use std::collections::BTreeSet;
use std::path::Path;

use super::facts::{escape_path, CgroupFacts, Links, ProgKind, Program, Want};
use super::preflight::{self, Finding};
use super::vrf;
use crate::cmd::generator::{NATIVE_SINCE, PROGRAM};
use crate::program::Origin;
use crate::sys::diag::InetSocket;
use crate::unit::eval::{cgroup_section, is_bindif_launch, EvalContext};
use crate::unit::exec::{parse_exec, ExecParseOptions};
use crate::unit::LoadedUnit;

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
    /// Ours, on a cgroup whose processes live in another network namespace: the ifindex names
    /// an interface of theirs, which this namespace cannot check.
    OtherNetns,
    /// A named unit whose cgroup does not exist (not running).
    Inactive,
    /// No binding program on the cgroup (a problem when the unit wants one).
    Unbound,
    /// systemd < 260, the unit sets `BindNetworkInterface=` and binds itself no other way, but
    /// the generator wrote no drop-in for it: it starts unbound, silently.
    GeneratorNotRun,
    /// Ours, made by the unit's `BindNetworkInterface=`, which the unit no longer sets: the
    /// binding stays until the unit restarts (a daemon-reload keeps it, as v262's does).
    ResetPending,
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
            State::OtherNetns => "other-netns",
            State::Inactive => "inactive",
            State::Unbound => "unbound",
            State::GeneratorNotRun => "generator-not-run",
            State::ResetPending => "reset-pending",
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
    /// The preflight's findings on the binding: set-up the bound interface lacks (down, a VRF
    /// without what localhost inside it needs), a binding the unit no longer asks for. Said,
    /// not a problem of their own, as the binding itself is right (`key-removed` is a problem
    /// through its state, `reset-pending`).
    pub findings: Vec<Finding>,
    /// With `--sockets`: the unbound ones (empty: all bound).
    pub sockets: Option<Vec<SocketReport>>,
}

impl CgroupReport {
    /// The label for messages: the unit name, else the path.
    pub fn label(&self) -> String {
        match &self.facts.unit {
            Some(u) => u.clone(),
            None => escape_path(&self.facts.path),
        }
    }

    /// The findings as lines of text (message and fix).
    pub fn warnings(&self) -> Vec<String> {
        self.findings.iter().map(Finding::line).collect()
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
            // The ifindex names an interface of the processes' namespace, not ours.
            ProgKind::Ours(_) if !facts.other_netns.is_empty() => (None, State::OtherNetns),
            ProgKind::Ours(ifindex) => {
                let name = links.link(ifindex).and_then(|l| l.name.clone());
                (name, judge_ours(p, ifindex, &facts.want, links, &mut notes))
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
        let more = |n: usize| if n > 1 { ", …" } else { "" };
        let namespaces = facts
            .other_netns
            .first()
            .map(|ino| format!(" (net:[{ino}]{})", more(facts.other_netns.len())))
            .unwrap_or_default();
        notes.push(format!(
            "{} process(es) (PID {first}{}) use another network namespace{namespaces}: the \
             ifindex names an interface there, so it is not checked, and their sockets cannot \
             be listed; run 'nsenter --net=/proc/{first}/ns/net bindif-launch status' to check \
             from theirs",
            facts.other_netns_pids.len(),
            more(facts.other_netns_pids.len()),
        ));
    }
    if let Some(note) = generator_not_run_note(&facts) {
        state = state.max(State::GeneratorNotRun);
        notes.push(note);
    }
    if let Want::Unknown(Some(why)) | Want::NotFound(why) = &facts.want {
        if facts.named {
            notes.push(format!("unit file not read: {why}"));
        }
    }
    let problem = match state {
        State::Gone
        | State::Mismatch
        | State::Renamed
        | State::Stacked
        | State::ResetPending
        | State::GeneratorNotRun => true,
        State::Unbound => (facts.named || facts.unit_running) && want.is_some(),
        _ => false,
    };
    if let (State::Unbound, true, Some(w)) = (state, problem, want.as_deref()) {
        // Our names say nothing about another namespace's interfaces.
        let index = facts.other_netns.is_empty().then(|| links.index_of(w));
        notes.push(unbound_note(w, index, facts.hierarchy.is_some()));
    }
    if state == State::Inactive && want.is_some() {
        notes.push(no_cgroup_note(facts.unit.as_deref()));
    }
    let findings = findings(&facts, &programs, links);
    CgroupReport {
        facts,
        programs,
        state,
        problem,
        notes,
        findings,
        sockets: None,
    }
}

/// The preflight's findings on a judged cgroup: a binding the unit no longer asks for, then per
/// bound interface whether it is up and, for a VRF, set up for localhost.
fn findings(facts: &CgroupFacts, programs: &[ProgramReport], links: &Links) -> Vec<Finding> {
    let mut out = Vec::new();
    let unit = facts.unit.as_deref().unwrap_or("the unit");
    for p in programs.iter().filter(|p| p.state == State::ResetPending) {
        out.push(preflight::key_removed(unit, p.interface.as_deref()));
    }
    // The unit's file is gone: no configuration asks for the binding its configuration made.
    // Said, not judged: a unit file can live where this catalog does not look.
    if let Want::NotFound(_) = facts.want {
        let made = programs
            .iter()
            .filter(|p| p.program.origin() == Some(Origin::Key) && p.state == State::Ok);
        for p in made {
            out.push(preflight::unit_removed(unit, p.interface.as_deref()));
        }
    }
    for i in bound_ifindexes(facts, links) {
        if let Some(link) = links.link(i) {
            out.extend(preflight::link_findings(link));
        }
        if let Some(v) = links.vrfs.get(&i) {
            out.extend(vrf::findings(v));
        }
    }
    out
}

/// What fixes a binding that no longer matches its configuration or its interface. A binding
/// the unit's configuration made is re-resolved at every daemon-reload (by the generator on
/// systemd < 260, natively on v262); an ad hoc one (`--interface` on the command line) only by
/// starting the command again.
fn fix(origin: Option<Origin>) -> &'static str {
    match origin {
        Some(Origin::Key) => "run 'systemctl daemon-reload' (or restart the unit)",
        _ => "restart the unit",
    }
}

/// Judges one of our programs, binding to `ifindex`, against the unit's configuration `want`
/// and the interfaces now; explains every state but ok in `notes`.
fn judge_ours(
    p: &Program,
    ifindex: u32,
    want: &Want,
    links: &Links,
    notes: &mut Vec<String>,
) -> State {
    let fix = fix(p.origin());
    let Some(now) = links.link(ifindex) else {
        let again = want.iface().and_then(|w| links.index_of(w).map(|i| (w, i)));
        notes.push(match again {
            Some((w, i)) => format!(
                "ifindex {ifindex} no longer exists; {w} is now ifindex {i}: the interface was \
                 re-created and new sockets fail with ENODEV; {fix} to bind it to ifindex {i}"
            ),
            None => format!(
                "ifindex {ifindex} no longer exists: sockets created now are bound to a missing \
                 device and cannot send; once the interface exists again, {fix}"
            ),
        });
        return State::Gone;
    };
    let has = now.name.as_deref().unwrap_or("?");
    let w = match want {
        Want::Iface(w) => w.as_str(),
        // The key is gone from the configuration, the binding it made is not: a daemon-reload
        // keeps it (systemd 262 does too, measured), a restart removes it. An ad hoc binding
        // never had the key.
        Want::Unset if p.origin() == Some(Origin::Key) => {
            notes.push(format!(
                "BindNetworkInterface= is no longer set for the unit, but the binding it made \
                 ({has}, ifindex {ifindex}) is still attached (a daemon-reload keeps it, as on \
                 systemd 262): restart the unit to remove it"
            ));
            return State::ResetPending;
        }
        Want::Unset | Want::Unknown(_) | Want::NotFound(_) => return State::Ok,
    };
    if now.name.as_deref() == Some(w) || now.altnames.iter().any(|a| a == w) {
        return State::Ok;
    }
    match links.index_of(w) {
        Some(i) => {
            notes.push(format!(
                "ifindex {ifindex} is now {has}, but BindNetworkInterface={w} is ifindex {i}: \
                 the configuration changed or the interface was renamed; {fix} to bind it to {w}"
            ));
            State::Mismatch
        }
        None => {
            notes.push(format!(
                "ifindex {ifindex} is now named {has}; BindNetworkInterface={w} names no \
                 interface: the interface was renamed, or the configuration now names one that \
                 does not exist (a daemon-reload or restart then leaves the unit unbound until \
                 {w} exists)"
            ));
            State::Renamed
        }
    }
}

/// Why a named unit has no cgroup. A socket unit's listeners are PID 1's, not the unit's: on a
/// legacy host a socket unit that runs no command has no cgroup of ours while it listens, and its
/// listeners carry the generated `BindToDevice=`, which no cgroup shows.
fn no_cgroup_note(unit: Option<&str>) -> String {
    match unit.filter(|u| u.ends_with(".socket")) {
        Some(u) => format!(
            "the unit has no cgroup: it is not running, or it runs no command of its own; its \
             listeners are PID 1's, bound on a legacy host by the generated BindToDevice= \
             ('systemctl show -p BindToDevice {u}'), which status does not check"
        ),
        None => "the unit has no cgroup (not running)".to_string(),
    }
}

/// Why a unit that sets `BindNetworkInterface=w` has no binding, and what binds it: `index`,
/// the interface's ifindex now (`None`: unknown, the unit lives in another network namespace);
/// `running`, whether the unit has a cgroup.
fn unbound_note(w: &str, index: Option<Option<u32>>, running: bool) -> String {
    let head = format!(
        "BindNetworkInterface={w} is set but no binding is attached: sockets of the unit are \
         not bound"
    );
    match (running, index) {
        (false, _) => head,
        (true, None) => format!(
            "{head}; once {w} exists in the unit's network namespace, run 'systemctl \
             daemon-reload' (or restart the unit)"
        ),
        (true, Some(Some(i))) => format!(
            "{head}; {w} (ifindex {i}) was missing when the unit started or at the last \
             daemon-reload, or the key was added since: run 'systemctl daemon-reload' (or \
             restart the unit) to bind it"
        ),
        (true, Some(None)) => format!(
            "{head}; no interface {w} exists: create it, then run 'systemctl daemon-reload' (or \
             restart the unit)"
        ),
    }
}

/// The interfaces (in our network namespace) that the cgroup's bindings bind to: our programs'
/// ifindexes that exist, and for systemd's native program (whose ifindex is unreadable) the
/// wanted interface. None for processes in another network namespace.
pub fn bound_ifindexes(facts: &CgroupFacts, links: &Links) -> BTreeSet<u32> {
    if !facts.other_netns.is_empty() {
        return BTreeSet::new();
    }
    facts
        .programs
        .iter()
        .filter_map(|p| match p.kind {
            ProgKind::Ours(i) => links.link(i).map(|_| i),
            ProgKind::Native => facts.want.iface().and_then(|w| links.index_of(w)),
            ProgKind::Foreign => None,
        })
        .collect()
}

/// Whether a missing generated drop-in means anything on this host: systemd before v260 needs
/// the generator; an unknown version is taken to predate v260, as the generator itself does.
pub fn generator_expected(systemd_version: Option<u32>) -> bool {
    !matches!(systemd_version, Some(v) if v >= NATIVE_SINCE)
}

/// Whether the unit's own files already run bindif-launch before its processes: the attach step
/// (`ExecStartPre=+…bindif-launch --attach %n`, or in `ExecCondition=`) or the launcher as
/// `ExecStart=`. Such a unit is bound without the generator. Effective lists only: a later
/// empty assignment resets the lines before it.
pub fn binds_itself(unit: &LoadedUnit, ctx: &EvalContext<'_>) -> bool {
    let Some(section) = cgroup_section(&unit.name) else {
        return false;
    };
    let opts = ExecParseOptions {
        systemd_version: ctx.systemd_version,
    };
    ["ExecCondition", "ExecStartPre", "ExecStart"]
        .iter()
        .any(|key| {
            let mut effective = Vec::new();
            for a in unit.values(section, key) {
                if a.value.is_empty() {
                    effective.clear();
                } else {
                    effective.push(a);
                }
            }
            effective.iter().any(|a| {
                parse_exec(&a.value, &ctx.spec, opts)
                    .commands
                    .iter()
                    .any(|c| {
                        is_bindif_launch(&c.path)
                            || c.argv.first().is_some_and(|a0| is_bindif_launch(a0))
                    })
            })
        })
}

/// The explanation for a unit the generator did not reach, without the unit's name (the
/// reader sees `UNIT: ` before it).
pub fn generator_not_run_note(facts: &CgroupFacts) -> Option<String> {
    let dropin = facts.generator_dropin.as_ref()?;
    Some(generator_not_run_text(
        facts.want.iface().unwrap_or_default(),
        dropin,
    ))
}

/// The words for a unit that sets `BindNetworkInterface=interface` and lacks the generated
/// `dropin` (shared by `status` and `show`).
pub fn generator_not_run_text(interface: &str, dropin: &Path) -> String {
    format!(
        "BindNetworkInterface={interface} is set, but {PROGRAM} did not run for it (no {}): is \
         the generator installed in a directory this systemd searches (systemd-path \
         systemd-search-system-generator)? The unit starts unbound.",
        escape_path(dropin)
    )
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
/// binding), not reached by the generator or, with `--sockets`, holds unbound sockets.
pub fn exit_status(reports: &[CgroupReport]) -> i32 {
    let bad = reports
        .iter()
        .any(|r| r.problem || r.sockets.as_ref().is_some_and(|s| !s.is_empty()));
    i32::from(bad)
}

#[cfg(test)]
mod tests {
    use super::super::render::bound_text;
    use super::super::testdata::*;
    use super::*;
    use crate::sys::diag;
    use std::path::PathBuf;

    /// Issue 15: a named socket unit without a cgroup is not called "not running" outright: on
    /// a legacy host PID 1 holds its listeners, bound by BindToDevice=, which status cannot see.
    #[test]
    fn socket_without_cgroup_is_not_said_to_be_stopped() {
        let l = links();
        for (unit, socket) in [("web.socket", true), ("web.service", false)] {
            let mut f = facts("", vec![], iface("mgmt"));
            f.hierarchy = None;
            f.named = true;
            f.unit = Some(unit.into());
            let r = assess(f, &l);
            assert_eq!(states(&r), (State::Inactive, vec![], false), "{unit}");
            assert_eq!(r.notes.len(), 1, "{unit}: {:?}", r.notes);
            assert_eq!(
                r.notes[0].contains("systemctl show -p BindToDevice web.socket"),
                socket,
                "{unit}: {}",
                r.notes[0]
            );
            assert_eq!(
                r.notes[0] == "the unit has no cgroup (not running)",
                !socket
            );
        }
    }

    /// Issue 16: a unit the generator did not reach is a problem of its own, whatever its cgroup
    /// shows, and the note names the missing drop-in.
    #[test]
    fn generator_not_run() {
        let l = links();
        let dropin = PathBuf::from("/run/systemd/generator/web.service.d/zzzz-bindif-launch.conf");
        // Not running: no cgroup.
        let mut f = facts("", vec![], iface("mgmt"));
        f.hierarchy = None;
        f.unit = Some("web.service".into());
        f.generator_dropin = Some(dropin.clone());
        let r = assess(f.clone(), &l);
        assert_eq!(states(&r), (State::GeneratorNotRun, vec![], true));
        assert_eq!(
            r.notes,
            [
                "BindNetworkInterface=mgmt is set, but bindif-launch-generator did not run for it \
              (no /run/systemd/generator/web.service.d/zzzz-bindif-launch.conf): is the \
              generator installed in a directory this systemd searches (systemd-path \
              systemd-search-system-generator)? The unit starts unbound."
            ]
        );
        assert_eq!(exit_status(&[r]), 1);
        // Running unbound: the generator is the cause, said once.
        let mut running = facts("/s/web.service", vec![], iface("mgmt"));
        running.named = true;
        let r = assess(running.clone(), &l);
        assert_eq!((r.state, r.notes.len()), (State::Unbound, 1));
        running.generator_dropin = Some(dropin.clone());
        let r = assess(running, &l);
        assert_eq!(
            (r.state, r.problem, r.notes.len()),
            (State::GeneratorNotRun, true, 1)
        );
        // Without the fact nothing is said: the same unit, its drop-in present.
        f.generator_dropin = None;
        let r = assess(f, &l);
        assert_eq!(states(&r), (State::Inactive, vec![], false));
        assert_eq!(exit_status(&[r]), 0);
        assert_eq!(State::GeneratorNotRun.as_str(), "generator-not-run");
    }

    #[test]
    fn generator_expected_before_v260_and_when_unknown() {
        assert!(generator_expected(Some(247)));
        assert!(generator_expected(Some(259)));
        assert!(generator_expected(None));
        assert!(!generator_expected(Some(260)));
        assert!(!generator_expected(Some(262)));
    }

    #[test]
    fn units_that_bind_themselves() {
        use crate::unit::specifier::{HostFacts, SpecifierContext};
        use crate::unit::{Assignment, LoadedUnit, Source};
        let host = HostFacts::default();
        let unit = |lines: &[(&str, &str)]| LoadedUnit {
            name: "web.service".into(),
            assignments: lines
                .iter()
                .enumerate()
                .map(|(i, (k, v))| Assignment {
                    section: "Service".into(),
                    key: (*k).into(),
                    value: (*v).into(),
                    source: Source {
                        file: PathBuf::from("/etc/systemd/system/web.service").into(),
                        line: i + 1,
                    },
                })
                .collect(),
            ..LoadedUnit::default()
        };
        let binds = |lines: &[(&str, &str)]| {
            let u = unit(lines);
            let ctx = EvalContext::new(SpecifierContext::new(&u.name, &host), 252);
            binds_itself(&u, &ctx)
        };
        let key = ("BindNetworkInterface", "mgmt");
        assert!(!binds(&[key, ("ExecStart", "/usr/bin/web")]));
        assert!(binds(&[
            key,
            ("ExecStartPre", "+/usr/lib/bindif-launch --attach %n"),
            ("ExecStart", "/usr/bin/web"),
        ]));
        assert!(binds(&[
            key,
            ("ExecCondition", "+/usr/lib/bindif-launch --attach %n")
        ]));
        assert!(binds(&[key, ("ExecStart", "/usr/lib/bindif-launch %n")]));
        assert!(binds(&[
            key,
            ("ExecStart", "@/usr/lib/bindif-launch bindif-launch %n")
        ]));
        // Reset after it: the attach step no longer runs.
        assert!(!binds(&[
            ("ExecStartPre", "+/usr/lib/bindif-launch --attach %n"),
            ("ExecStartPre", ""),
            ("ExecStart", "/usr/bin/web"),
        ]));
        // Elsewhere than before the unit's processes, or only mentioned: no binding.
        assert!(!binds(&[(
            "ExecStartPost",
            "/usr/lib/bindif-launch --attach %n"
        )]));
        assert!(!binds(&[("ExecStart", "/usr/bin/echo bindif-launch")]));
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

    /// Issue 14: each way a running unit's binding drifts from its configuration or its
    /// interface has a state, makes status exit 1 and says what fixes it.
    #[test]
    fn drift_after_start() {
        let l = links();
        let reload = "run 'systemctl daemon-reload' (or restart the unit)";
        // (a) Deleted and re-created: a binding the unit made is followed at the next reload;
        // an ad hoc one only by a restart.
        let r = assess(
            facts("/a.service", vec![ours_unit(1, 5)], iface("mgmt")),
            &l,
        );
        assert_eq!(states(&r), (State::Gone, vec![State::Gone], true));
        assert!(
            r.notes[0].ends_with(&format!("; {reload} to bind it to ifindex 4")),
            "{:?}",
            r.notes
        );
        let r = assess(facts("/a.service", vec![ours(1, 5)], iface("mgmt")), &l);
        assert!(r.notes[0].ends_with("; restart the unit to bind it to ifindex 4"));
        // (b) A drop-in names another interface than the one bound, reload pending.
        let r = assess(
            facts("/a.service", vec![ours_unit(1, 7)], iface("mgmt")),
            &l,
        );
        assert_eq!(states(&r), (State::Mismatch, vec![State::Mismatch], true));
        assert_eq!(
            r.notes,
            [format!(
                "ifindex 7 is now dmz, but BindNetworkInterface=mgmt is ifindex 4: the \
                 configuration changed or the interface was renamed; {reload} to bind it to mgmt"
            )]
        );
        // (c) The key reset, the unit's binding still there: reset pending.
        let r = assess(facts("/a.service", vec![ours_unit(1, 4)], Want::Unset), &l);
        assert_eq!(
            states(&r),
            (State::ResetPending, vec![State::ResetPending], true)
        );
        assert_eq!(r.programs[0].interface.as_deref(), Some("mgmt"));
        assert_eq!(
            r.notes,
            [
                "BindNetworkInterface= is no longer set for the unit, but the binding it made \
              (mgmt, ifindex 4) is still attached (a daemon-reload keeps it, as on systemd 262): \
              restart the unit to remove it"
                    .to_string()
            ]
        );
        assert_eq!(exit_status(&[r]), 1);
        assert_eq!(State::ResetPending.as_str(), "reset-pending");
        // ... but an ad hoc binding never had the key: fine. An unreadable unit says nothing.
        let r = assess(facts("/a.service", vec![ours(1, 4)], Want::Unset), &l);
        assert_eq!(states(&r), (State::Ok, vec![State::Ok], false));
        let r = assess(
            facts("/a.service", vec![ours_unit(1, 4)], Want::Unknown(None)),
            &l,
        );
        assert_eq!(r.state, State::Ok);
        // Stale and reset at once: the worse state wins.
        let r = assess(facts("/a.service", vec![ours_unit(1, 5)], Want::Unset), &l);
        assert_eq!(r.state, State::Gone);
        // (d) The key set, the unit running, nothing attached: unbound, a problem even when
        // not named; the note says whether the interface exists now.
        let mut f = facts("/system.slice/a.service", vec![], iface("mgmt"));
        f.unit_running = true;
        let r = assess(f.clone(), &l);
        assert_eq!(states(&r), (State::Unbound, vec![], true));
        assert_eq!(
            r.notes,
            [format!(
                "BindNetworkInterface=mgmt is set but no binding is attached: sockets of the \
                 unit are not bound; mgmt (ifindex 4) was missing when the unit started or at \
                 the last daemon-reload, or the key was added since: {reload} to bind it"
            )]
        );
        f.want = iface("old");
        let r = assess(f.clone(), &l);
        assert!(
            r.notes[0].ends_with(
                "; no interface old exists: create it, then run 'systemctl daemon-reload' (or \
                 restart the unit)"
            ),
            "{:?}",
            r.notes
        );
        // A running unit that wants nothing is not reported as a problem.
        f.want = Want::Unset;
        assert!(!assess(f.clone(), &l).problem);
        // In another network namespace: whether the interface exists there is not known.
        let mut theirs = f.clone();
        theirs.want = iface("mgmt");
        theirs.other_netns_pids = vec![42];
        theirs.other_netns = vec![4026532000];
        let r = assess(theirs, &l);
        assert!(
            r.notes[1].ends_with(
                "; once mgmt exists in the unit's network namespace, run 'systemctl \
                 daemon-reload' (or restart the unit)"
            ),
            "{:?}",
            r.notes
        );
        // Distinct from the generator not having run for it.
        f.want = iface("mgmt");
        f.generator_dropin = Some(PathBuf::from("/run/systemd/generator/a.service.d/x.conf"));
        let r = assess(f, &l);
        assert_eq!((r.state, r.notes.len()), (State::GeneratorNotRun, 1));
    }

    /// Issue 18: the preflight on a judged cgroup: a binding the unit no longer asks for (key
    /// reset: also reset-pending; unit file gone: said only), a bound link that is down.
    #[test]
    fn preflight_findings_on_bindings() {
        let mut l = links();
        let checks = |r: &CgroupReport| -> Vec<(&str, Option<String>)> {
            r.findings
                .iter()
                .map(|f| (f.check, f.interface.clone()))
                .collect()
        };
        let r = assess(facts("/a.service", vec![ours_unit(1, 4)], Want::Unset), &l);
        assert_eq!(checks(&r), [("key-removed", Some("mgmt".into()))]);
        assert_eq!((r.state, r.problem), (State::ResetPending, true));
        // The unit file removed while the unit runs: the binding its configuration made is
        // pointed out, not judged (an ad hoc one never had a unit file to lose).
        let gone = Want::NotFound("Unit a.service not found.".into());
        let r = assess(facts("/a.service", vec![ours_unit(1, 4)], gone.clone()), &l);
        assert_eq!(checks(&r), [("unit-removed", Some("mgmt".into()))]);
        assert_eq!((r.state, r.problem), (State::Ok, false));
        assert_eq!(exit_status(&[r]), 0);
        let r = assess(facts("/a.service", vec![ours(1, 4)], gone), &l);
        assert_eq!(checks(&r), []);
        // dmz (ifindex 7) down: every binding to it says so, whoever made it.
        if let Some(Some(link)) = l.by_index.get_mut(&7) {
            link.flags = 0x1002;
        }
        for p in [ours(1, 7), ours_unit(1, 7)] {
            let r = assess(facts("/a.service", vec![p], iface("dmz")), &l);
            assert_eq!(checks(&r), [("link-down", Some("dmz".into()))]);
            assert_eq!((r.state, r.problem), (State::Ok, false));
        }
        let r = assess(facts("/a.service", vec![native(3)], iface("dmz")), &l);
        assert_eq!(checks(&r), [("link-down", Some("dmz".into()))]);
        // Not bound to it, or in another namespace (its ifindex is not ours): nothing.
        let r = assess(facts("/a.service", vec![ours(1, 4)], iface("mgmt")), &l);
        assert_eq!(checks(&r), []);
        let mut f = facts("/a.service", vec![ours(1, 7)], iface("dmz"));
        f.other_netns_pids = vec![42];
        f.other_netns = vec![4026532000];
        assert_eq!(checks(&assess(f, &l)), []);
    }

    /// Issue 20: a bound VRF lacking the localhost set-up is a warning on the cgroups it binds,
    /// whoever's binding it is, and no problem.
    #[test]
    fn vrf_warnings_on_bound_cgroups() {
        let l = links_with_vrf();
        let warning = "VRF mgmt (table 10): no unreachable default route in its table: a lookup \
                       that misses there falls through to the main table and leaves outside the \
                       VRF; run 'ip route add vrf mgmt unreachable default metric 8192'";
        let r = assess(facts("/a.service", vec![ours(1, 4)], iface("mgmt")), &l);
        assert_eq!(states(&r), (State::Ok, vec![State::Ok], false));
        assert_eq!(r.warnings(), [warning]);
        assert_eq!(exit_status(&[r]), 0);
        // systemd's own binding: the wanted interface is the bound one.
        let r = assess(facts("/a.service", vec![native(2)], iface("mgmt")), &l);
        assert_eq!(r.warnings(), [warning]);
        // Not bound to the VRF, not bound at all, or bound in another namespace: nothing.
        let r = assess(facts("/a.service", vec![ours(1, 7)], iface("mgmt")), &l);
        assert!(r.warnings().is_empty());
        let mut f = facts("/a.service", vec![], iface("mgmt"));
        f.unit_running = true;
        assert!(assess(f, &l).warnings().is_empty());
        let mut f = facts("/a.service", vec![ours(1, 4)], iface("mgmt"));
        f.other_netns_pids = vec![42];
        f.other_netns = vec![4026532000];
        assert!(assess(f, &l).warnings().is_empty());
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
        f.other_netns = vec![4026532000];
        let r = assess(f, &l);
        assert!(r.notes[0].starts_with("2 process(es) (PID 42, …) use another network"));
        assert!(r.notes[0].contains("nsenter --net=/proc/42/ns/net"));
        // Issue 13 #16: their ifindex is not judged by our names (here ifindex 4 would be
        // "mgmt", ok; ifindex 5 would be gone): a state of its own, not a problem.
        assert_eq!(
            states(&r),
            (State::OtherNetns, vec![State::OtherNetns], false)
        );
        assert_eq!(r.programs[0].interface, None);
        assert!(
            r.notes[0].contains("another network namespace (net:[4026532000]): the ifindex"),
            "{:?}",
            r.notes
        );
        let mut f = facts("/a.service", vec![ours(1, 5), ours(2, 8)], iface("old"));
        f.other_netns_pids = vec![42];
        f.other_netns = vec![4026532000, 4026532001];
        let r = assess(f, &l);
        // Two copies still stack, whatever the namespace.
        assert_eq!(
            states(&r),
            (State::Stacked, vec![State::Stacked, State::Stacked], true)
        );
        assert!(
            r.notes[1].starts_with(
                "1 process(es) (PID 42) use another network namespace (net:[4026532000], …)"
            ),
            "{:?}",
            r.notes
        );
        // Unnamed (whole-hierarchy) reports never count an unbound cgroup as a problem.
        let r = assess(facts("/a.service", vec![], iface("mgmt")), &l);
        assert!(!r.problem);
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
}
