// SPDX-License-Identifier: LGPL-2.1-or-later
//! The pure core of `adopt`: loaded units in, one [`Plan`] per override directory out.
//!
//! A plan replaces whole override files: every file that holds a wrapper or pin line is moved
//! aside, and one new drop-in takes its place with `BindNetworkInterface=`, the `User=` the
//! wrapper switched to, and every other line of the old files carried over verbatim. Lines that
//! only existed for the wrapper (the `ExecStart=` reset, `User=root`, `ProtectControlGroups=no`,
//! `ProcSubset=all`, the pin and its helper dependencies) are not carried over. Whole files,
//! because a file half-edited by a tool is a file nobody can diff against what they wrote.
//!
//! Refused (left alone, with the reason): wrappers in a unit file itself or in a package's
//! directory, shapes [`wrapper::classify`] does not understand, VRF names from variables, pins
//! whose VRF cannot be told, wrappers that disagree, and overrides `gather` found behind a
//! symlink (handed in as an [`Origin`] refusal: this module reads no files).

use std::path::{Path, PathBuf};

use super::wrapper::{self, ExecLine, Wrapper};
use crate::unit::eval::parse_boolean;
use crate::unit::{effective_list, ifname, name, Assignment, LoadedUnit, Source};

/// The file name of the drop-in `adopt` writes.
pub const DROPIN_NAME: &str = "bindif-adopt.conf";
/// Appended to the name of an override file moved aside (drop-in directories read `*.conf` only).
pub const ASIDE_SUFFIX: &str = ".bindif-adopt-disabled";
/// Where the new drop-ins go.
pub const ETC_DIR: &str = "/etc/systemd/system";

/// The kinds of setup found in one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `ip vrf exec VRF CMD`.
    VrfExec,
    /// `ip -n NS vrf exec VRF CMD`.
    VrfExecNetns,
    /// A user switch inside the wrapper.
    UserSwitch,
    /// `BPFProgram=sock_create:PIN`.
    Pin,
    /// An override under /run, written at every boot by some generator (Cumulus, VyOS).
    Generated,
}

impl Kind {
    pub fn id(self) -> &'static str {
        match self {
            Kind::VrfExec => "ip-vrf-exec",
            Kind::VrfExecNetns => "ip-netns-vrf-exec",
            Kind::UserSwitch => "user-switch",
            Kind::Pin => "bpfprogram-pin",
            Kind::Generated => "generated-override",
        }
    }
}

/// One line of the current setup and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChange {
    pub source: Source,
    pub assignment: String,
    pub becomes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The unit (or template) whose drop-in directory holds the override.
    pub owner: String,
    /// The names found that share it (a template and its instances).
    pub units: Vec<String>,
    pub kinds: Vec<Kind>,
    pub interface: Option<String>,
    pub netns: Option<String>,
    /// The tool of the user switch (`runuser`, `sudo`, `setpriv`).
    pub switch_tool: Option<String>,
    /// The pins referenced and the units that pin them.
    pub pins: Vec<String>,
    pub helpers: Vec<String>,
    pub lines: Vec<LineChange>,
    /// Override files (host paths) to move aside.
    pub move_aside: Vec<PathBuf>,
    /// The new drop-in (host path) and its content.
    pub dropin: Option<PathBuf>,
    pub content: String,
    /// Why the unit is left alone.
    pub refused: Option<String>,
    pub notes: Vec<String>,
}

/// Where an override file was found on the search path, told by `gather` from the filesystem:
/// the unit model reports drop-ins by their symlink-resolved paths, which name the wrong unit
/// (and the wrong place to write) when a drop-in directory is a symlink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file as listed: the search directory, the drop-in directory's name there, the file.
    pub listed: PathBuf,
    /// Why adopt may not write there (a symlink on the way), if so.
    pub refusal: Option<String>,
}

/// The [`Origin`] of an override file (a symlink-resolved host path); `None`: as reported.
pub type Origins<'a> = &'a dyn Fn(&Path) -> Option<Origin>;

/// Loads a unit by name (for the pinning helpers a unit depends on).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<LoadedUnit>;

const DEP_KEYS: [&str; 6] = [
    "After",
    "Requires",
    "Wants",
    "BindsTo",
    "Requisite",
    "PartOf",
];

fn is_exec_key(key: &str) -> bool {
    key.starts_with("Exec")
}

fn pin_of(a: &Assignment) -> Option<&str> {
    (a.key == "BPFProgram")
        .then(|| a.value.strip_prefix("sock_create:"))
        .flatten()
}

fn line(a: &Assignment) -> String {
    format!("{}={}", a.key, a.value)
}

fn change(a: &Assignment, becomes: impl Into<String>) -> LineChange {
    LineChange {
        source: a.source.clone(),
        assignment: line(a),
        becomes: becomes.into(),
    }
}

/// Plans every unit; units sharing one override directory share one plan. Sorted by owner.
pub fn plan_all(
    units: &[(String, LoadedUnit)],
    lookup: Lookup<'_>,
    origins: Origins<'_>,
) -> Vec<Plan> {
    let mut plans: Vec<Plan> = Vec::new();
    for (name, u) in units {
        let Some(p) = plan_unit_found(name, u, lookup, origins) else {
            continue;
        };
        match plans.iter_mut().find(|q| q.owner == p.owner) {
            Some(q) => {
                if !q.units.contains(name) {
                    q.units.push(name.clone())
                }
            }
            None => plans.push(p),
        }
    }
    plans.sort_by(|a, b| a.owner.cmp(&b.owner));
    plans
}

/// The unit whose drop-in directory holds `file`, when `file` is a drop-in an administrator or
/// a generator wrote (under /etc or /run); otherwise why it cannot be moved aside.
fn owner_of(file: &Path, fragment: Option<&Path>) -> Result<String, String> {
    let shown = file.display();
    if Some(file) == fragment {
        return Err(format!(
            "the wrapper is in the unit file {shown} itself; adopt only replaces override files"
        ));
    }
    if !(file.starts_with("/etc") || file.starts_with("/run")) {
        return Err(format!(
            "{shown} belongs to a package; adopt only moves files under /etc and /run"
        ));
    }
    dir_owner(file).map(str::to_string).ok_or_else(|| {
        format!("{shown} is not in a unit's own drop-in directory; adopt only replaces those")
    })
}

/// The unit named by the drop-in directory `file` is in (`NAME.d`), if it names one.
fn dir_owner(file: &Path) -> Option<&str> {
    file.parent()
        .and_then(Path::file_name)
        .and_then(|d| d.to_str())
        .and_then(|d| d.strip_suffix(".d"))
        .filter(|d| name::is_valid(d))
}

/// Whether an interface value can be written as `BindNetworkInterface=`.
fn check_interface(vrf: &str, unit: &str) -> Result<(), String> {
    if vrf.contains('$') {
        return Err(format!(
            "the VRF comes from an environment variable ({vrf}); BindNetworkInterface= takes no variables"
        ));
    }
    if vrf == "%i" || vrf == "%I" {
        return match name::kind(unit) {
            Some(name::Kind::Plain) | None => Err(format!("{vrf} in a unit that is no template")),
            _ => Ok(()),
        };
    }
    if ifname::valid_full(vrf, true) {
        Ok(())
    } else {
        Err(format!("{vrf} is not a valid interface name"))
    }
}

/// The pinning helpers among the units `u` depends on: their `Exec*=` words mention `pin`
/// once `%i` is their instance. The VRF is the helper's instance.
fn find_helpers(u: &LoadedUnit, pin: &str, lookup: Lookup<'_>) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let deps = u
        .assignments
        .iter()
        .filter(|a| &*a.section == "Unit" && DEP_KEYS.contains(&a.key.as_str()))
        .flat_map(|a| a.value.split_whitespace().map(str::to_string));
    for dep in deps {
        if out.iter().any(|(d, _)| *d == dep) {
            continue;
        }
        let Some(h) = lookup(&dep) else {
            continue;
        };
        let instance = name::instance(&dep).filter(|i| !i.is_empty());
        let pins_it = h.assignments.iter().any(|a| {
            is_exec_key(&a.key)
                && a.value
                    .replace("%i", instance.unwrap_or("%i"))
                    .contains(pin)
        });
        if pins_it {
            out.push((dep.clone(), instance.map(str::to_string)));
        }
    }
    out
}

/// A command value for comparison: its words and the prefixes that change how it runs.
fn comparable(value: &str) -> Option<(String, Vec<String>)> {
    let n = value
        .find(|c: char| !matches!(c, '-' | '@' | ':' | '+' | '!' | '|'))
        .unwrap_or(value.len());
    let words = crate::unit::words::split_command_line(&value[n..]).ok()?;
    Some((value[..n].to_string(), words))
}

/// The wrapped command as an `Exec*=` value: the wrapper's prefixes kept, except the privilege
/// ones (`+`, `!`) when the wrapper switched users: `User=` now does that.
fn unwrapped_value(original: &str, w: &Wrapper) -> String {
    let n = original
        .find(|c: char| !matches!(c, '-' | '@' | ':' | '+' | '!' | '|'))
        .unwrap_or(original.len());
    let prefixes: String = original[..n]
        .chars()
        .filter(|c| w.switch.is_none() || !matches!(c, '+' | '!'))
        .collect();
    format!("{prefixes}{}", wrapper::join_words(&w.command))
}

/// The last value of `key` in the service section outside `moved`, with where it is.
fn remaining_value<'a>(u: &'a LoadedUnit, key: &str, moved: &[PathBuf]) -> Option<&'a Assignment> {
    u.assignments.iter().rev().find(|a| {
        &*a.section == "Service" && a.key == key && !moved.iter().any(|m| **m == *a.source.file)
    })
}

fn wrapper_only_hardening(a: &Assignment) -> bool {
    &*a.section == "Service"
        && ((a.key == "ProtectControlGroups" && parse_boolean(&a.value) == Some(false))
            || (a.key == "ProcSubset" && a.value == "all"))
}

fn refused(owner: &str, name: &str, kinds: Vec<Kind>, lines: Vec<LineChange>, why: String) -> Plan {
    Plan {
        owner: owner.to_string(),
        units: vec![name.to_string()],
        kinds,
        lines,
        refused: Some(why),
        ..Default::default()
    }
}

/// The plan for one unit, `None` when it has no wrapper or pin; its drop-ins taken to be where
/// the unit model says.
pub fn plan_unit(name: &str, u: &LoadedUnit, lookup: Lookup<'_>) -> Option<Plan> {
    plan_unit_found(name, u, lookup, &|_| None)
}

/// [`plan_unit`] with where each override file was found on the search path.
pub fn plan_unit_found(
    name: &str,
    u: &LoadedUnit,
    lookup: Lookup<'_>,
    origins: Origins<'_>,
) -> Option<Plan> {
    let mut wrappers: Vec<(&Assignment, Wrapper)> = Vec::new();
    let mut pins: Vec<&Assignment> = Vec::new();
    let mut unsafe_lines: Vec<(&Assignment, String)> = Vec::new();
    for a in &u.assignments {
        if is_exec_key(&a.key) {
            match wrapper::classify(&a.value) {
                ExecLine::Wrapper(w) => wrappers.push((a, w)),
                ExecLine::Unsafe(r) => unsafe_lines.push((a, r)),
                ExecLine::Other => {}
            }
        } else if pin_of(a).is_some() {
            pins.push(a);
        }
    }
    if wrappers.is_empty() && pins.is_empty() && unsafe_lines.is_empty() {
        return None;
    }
    let mut kinds = Vec::new();
    for (_, w) in &wrappers {
        kinds.push(if w.netns.is_some() {
            Kind::VrfExecNetns
        } else {
            Kind::VrfExec
        });
        if w.switch.is_some() {
            kinds.push(Kind::UserSwitch);
        }
    }
    if !pins.is_empty() {
        kinds.push(Kind::Pin);
    }
    if !unsafe_lines.is_empty() && wrappers.is_empty() {
        kinds.push(Kind::VrfExec);
    }

    let mut files: Vec<PathBuf> = Vec::new();
    for a in wrappers
        .iter()
        .map(|(a, _)| *a)
        .chain(pins.iter().copied())
        .chain(unsafe_lines.iter().map(|(a, _)| *a))
    {
        if !files.iter().any(|f| **f == *a.source.file) {
            files.push(a.source.file.to_path_buf());
        }
    }
    if files.iter().any(|f| f.starts_with("/run")) {
        kinds.push(Kind::Generated);
    }
    kinds.sort();
    kinds.dedup();

    // Every line found, as it is shown when the unit is left alone.
    let mut found: Vec<LineChange> = wrappers
        .iter()
        .map(|(a, _)| change(a, "left alone"))
        .chain(pins.iter().map(|a| change(a, "left alone")))
        .chain(
            unsafe_lines
                .iter()
                .map(|(a, why)| change(a, format!("left alone: {why}"))),
        )
        .collect();
    found.sort_by(|a, b| (&a.source.file, a.source.line).cmp(&(&b.source.file, b.source.line)));
    let leave = |owner: &str, kinds: Vec<Kind>, why: String| {
        refused(owner, name, kinds, found.clone(), why)
    };
    if let Some((_, why)) = unsafe_lines.first() {
        return Some(leave(name, kinds, why.clone()));
    }
    let mut owner = None;
    for f in &files {
        // The owner is the unit whose drop-in directory, as listed, holds the file.
        let origin = origins(f);
        let listed = origin.as_ref().map_or(f.as_path(), |o| o.listed.as_path());
        if let Some(why) = origin.as_ref().and_then(|o| o.refusal.clone()) {
            return Some(leave(dir_owner(listed).unwrap_or(name), kinds, why));
        }
        match owner_of(listed, u.fragment.as_deref()) {
            Ok(o) if owner.as_ref().map_or(true, |p| *p == o) => owner = Some(o),
            Ok(_) => {
                let why = "the wrapper and pin lines are spread over several drop-in directories"
                    .to_string();
                return Some(leave(name, kinds, why));
            }
            Err(why) => return Some(leave(name, kinds, why)),
        }
    }
    let owner = owner.unwrap_or_else(|| name.to_string());

    // The interface: every wrapper and pin must agree on it.
    let first = wrappers.first().map(|(_, w)| w);
    for (a, w) in &wrappers {
        if w.vrf != first.unwrap().vrf
            || w.netns != first.unwrap().netns
            || w.switch != first.unwrap().switch
        {
            let why = format!(
                "the wrappers disagree (line {} differs from line {}): one unit binds to one interface as one user",
                a.source.line,
                wrappers[0].0.source.line
            );
            return Some(leave(&owner, kinds, why));
        }
    }
    let mut interface = first.map(|w| w.vrf.clone());
    let mut plan = Plan {
        owner: owner.clone(),
        units: vec![name.to_string()],
        kinds,
        netns: first.and_then(|w| w.netns.clone()),
        switch_tool: first.and_then(|w| w.switch.as_ref().map(|s| s.tool.clone())),
        move_aside: files.clone(),
        ..Default::default()
    };
    for p in &pins {
        let pin = pin_of(p).unwrap_or_default().to_string();
        let helpers = find_helpers(u, &pin, lookup);
        let vrf = helpers.iter().find_map(|(_, i)| i.clone());
        let Some(vrf) = vrf else {
            let why = format!(
                "cannot tell which VRF the pin {pin} binds: no unit this one depends on pins it under an instance name"
            );
            return Some(leave(&owner, plan.kinds, why));
        };
        if interface.as_ref().is_some_and(|i| *i != vrf) {
            let why = format!(
                "the pin {pin} binds {vrf} but the wrapper runs in {}",
                interface.unwrap()
            );
            return Some(leave(&owner, plan.kinds, why));
        }
        interface = Some(vrf);
        plan.pins.push(pin);
        for (h, _) in helpers {
            if !plan.helpers.contains(&h) {
                plan.helpers.push(h);
            }
        }
    }
    let interface = interface.unwrap_or_default();
    if let Err(why) = check_interface(&interface, &owner) {
        return Some(leave(&owner, plan.kinds, why));
    }
    plan.interface = Some(interface.clone());

    build_dropin(&mut plan, u, &wrappers, &files, &interface);
    Some(plan)
}

/// Decides line by line what the moved files become, and writes the new drop-in's content.
fn build_dropin(
    plan: &mut Plan,
    u: &LoadedUnit,
    wrappers: &[(&Assignment, Wrapper)],
    moved: &[PathBuf],
    interface: &str,
) {
    let switch = wrappers.first().and_then(|(_, w)| w.switch.clone());
    let in_moved = |a: &&Assignment| moved.iter().any(|m| **m == *a.source.file);
    let wrapper_of = |a: &Assignment| {
        wrappers
            .iter()
            .find(|(w, _)| std::ptr::eq(*w, a))
            .map(|(_, w)| w)
    };
    let mut carried: Vec<(String, String)> = Vec::new();
    let mut lines: Vec<LineChange> = Vec::new();
    let bind_line = format!("BindNetworkInterface={interface}");

    // Exec keys the moved files touch: either the packaged list applies again, or the list is
    // kept with the wrapper taken off.
    let mut exec_keys: Vec<&str> = Vec::new();
    for a in u.assignments.iter().filter(in_moved) {
        if is_exec_key(&a.key) && !exec_keys.contains(&a.key.as_str()) {
            exec_keys.push(&a.key);
        }
    }
    for key in exec_keys {
        let of_key = |a: &&Assignment| &*a.section == "Service" && a.key == key;
        let packaged: Vec<_> =
            effective_list(u.assignments.iter().filter(of_key).filter(|a| !in_moved(a)))
                .into_iter()
                .map(|a| comparable(&a.value))
                .collect();
        let rewritten: Vec<String> = u
            .assignments
            .iter()
            .filter(of_key)
            .map(|a| match (in_moved(&a), wrapper_of(a)) {
                (true, Some(w)) => unwrapped_value(&a.value, w),
                _ => a.value.clone(),
            })
            .collect();
        let unwrapped_effective: Vec<_> = {
            let mut v = Vec::new();
            for r in &rewritten {
                if r.is_empty() {
                    v.clear()
                } else {
                    v.push(comparable(r))
                }
            }
            v
        };
        let moved_resets = u
            .assignments
            .iter()
            .filter(of_key)
            .filter(in_moved)
            .any(|a| a.value.is_empty());
        let same = unwrapped_effective == packaged && packaged.iter().all(Option::is_some);
        for a in u.assignments.iter().filter(of_key).filter(in_moved) {
            let w = wrapper_of(a);
            if same {
                let what = if a.value.is_empty() {
                    "removed (the reset existed for the wrapper)".to_string()
                } else {
                    format!("removed: the packaged {key}= applies again")
                };
                lines.push(change(a, what));
                continue;
            }
            let value = w.map_or_else(|| a.value.clone(), |w| unwrapped_value(&a.value, w));
            if w.is_some() {
                let why = if moved_resets {
                    "it differs from the packaged command"
                } else {
                    "the override adds it"
                };
                lines.push(change(
                    a,
                    format!("{key}={value} (kept without the wrapper: {why})"),
                ));
            }
            carried.push((a.section.to_string(), format!("{key}={value}")));
        }
    }

    for a in u.assignments.iter().filter(in_moved) {
        if is_exec_key(&a.key) {
            continue;
        }
        if pin_of(a).is_some() {
            lines.push(change(a, format!("removed: {bind_line} replaces the pin")));
        } else if wrapper_only_hardening(a) {
            let back = remaining_value(u, &a.key, moved).map_or("the default".to_string(), |r| {
                format!("{} from {}", line(r), r.source.file.display())
            });
            lines.push(change(
                a,
                format!("removed (only the wrapper needed it): back to {back}"),
            ));
        } else if &*a.section == "Service"
            && (a.key == "User" || a.key == "Group")
            && switch.is_some()
        {
            lines.push(change(
                a,
                "removed: the service runs as the user the wrapper switched to",
            ));
        } else if &*a.section == "Unit"
            && DEP_KEYS.contains(&a.key.as_str())
            && !plan.helpers.is_empty()
        {
            let kept: Vec<&str> = a
                .value
                .split_whitespace()
                .filter(|w| !plan.helpers.iter().any(|h| h == w))
                .collect();
            if kept.len() == a.value.split_whitespace().count() {
                carried.push((a.section.to_string(), line(a)));
            } else if kept.is_empty() {
                lines.push(change(a, "removed: the pinning helper is no longer needed"));
            } else {
                let v = format!("{}={}", a.key, kept.join(" "));
                lines.push(change(
                    a,
                    format!("{v} (the pinning helper is no longer needed)"),
                ));
                carried.push((a.section.to_string(), v));
            }
        } else {
            carried.push((a.section.to_string(), line(a)));
        }
    }

    // The unit's identity: User= from the switch, unless the remaining files already say so.
    let mut service: Vec<String> = vec![bind_line.clone()];
    if let Some(ns) = &plan.netns {
        service.push(format!("NetworkNamespacePath=/run/netns/{ns}"));
    }
    if let Some(s) = &switch {
        let current = remaining_value(u, "User", moved);
        if current.map(|a| a.value.as_str()) != Some(s.user.as_str()) {
            service.push(format!("User={}", s.user));
        }
        if let Some(g) = &s.group {
            if remaining_value(u, "Group", moved).map(|a| a.value.as_str()) != Some(g.as_str()) {
                service.push(format!("Group={g}"));
            }
        }
    }
    for (a, w) in wrappers {
        let mut becomes = vec![bind_line.clone()];
        if let Some(ns) = &w.netns {
            becomes.push(format!("NetworkNamespacePath=/run/netns/{ns}"));
        }
        if let Some(s) = &w.switch {
            becomes.push(match remaining_value(u, "User", moved) {
                Some(r) if r.value == s.user => {
                    format!("User={} (from {})", s.user, r.source.file.display())
                }
                _ => format!("User={}", s.user),
            });
        }
        let prefix = format!("{}: ", becomes.join(", "));
        match lines.iter_mut().find(|l| l.source == a.source) {
            Some(l) => l.becomes = format!("{prefix}{}", l.becomes),
            None => lines.push(change(a, prefix.trim_end_matches([':', ' ']).to_string())),
        }
    }
    for a in u.assignments.iter().filter(|a| !in_moved(a)) {
        if wrapper_only_hardening(a) {
            plan.notes.push(format!(
                "{} in {} line {} stays: adopt does not edit that file; bindif-launch does not need it",
                line(a),
                a.source.file.display(),
                a.source.line
            ));
        }
    }
    for h in &plan.helpers {
        plan.notes.push(format!(
            "{h} pins {}: once no other unit uses the pin, `systemctl disable --now {h}`",
            plan.pins.join(", ")
        ));
    }
    if plan.kinds.contains(&Kind::Generated) {
        plan.notes.push(
            "the override is under /run: the generator that wrote it (Cumulus's systemd-vrf-generator reads /etc/vrf/systemd.conf) writes it again at boot; remove the service from its list"
                .to_string(),
        );
    }
    // On systemd ≥ 260 the launcher defers to native binding, so keeping bindif-launch does
    // not keep the namespace-local lookup: the interface has to exist where PID 1 looks.
    if let Some(ns) = &plan.netns {
        plan.notes.push(format!(
            "bindif-launch resolves the interface in the unit's network namespace, but systemd ≥ 260 resolves BindNetworkInterface= in PID 1's network namespace: after upgrading, this unit needs {interface} to exist there too (or must keep its `ip -n {ns} vrf exec` wrapper)"
        ));
    }
    lines.sort_by(|a, b| (&a.source.file, a.source.line).cmp(&(&b.source.file, b.source.line)));
    plan.lines = lines;

    let mut sections: Vec<(String, Vec<String>)> = vec![("Service".into(), service)];
    for (section, l) in carried {
        match sections.iter_mut().find(|(s, _)| *s == section) {
            Some((_, v)) => v.push(l),
            None => sections.push((section, vec![l])),
        }
    }
    sections.sort_by_key(|(s, _)| s != "Unit");
    let mut content = String::from("# Written by `bindif-launch adopt`; it replaces:\n");
    for f in moved {
        content += &format!("#   {} (now {}{ASIDE_SUFFIX})\n", f.display(), f.display());
    }
    for (s, l) in sections {
        content += &format!("\n[{s}]\n");
        for x in l {
            content += &x;
            content.push('\n');
        }
    }
    plan.content = content;
    plan.dropin = Some(
        Path::new(ETC_DIR)
            .join(format!("{}.d", plan.owner))
            .join(DROPIN_NAME),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(file: &str, line: usize, section: &str, key: &str, value: &str) -> Assignment {
        Assignment {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            source: Source {
                file: PathBuf::from(file).into(),
                line,
            },
        }
    }

    fn unit(name: &str, fragment: &str, assignments: Vec<Assignment>) -> LoadedUnit {
        LoadedUnit {
            name: name.into(),
            fragment: Some(fragment.into()),
            assignments: assignments.into(),
            ..Default::default()
        }
    }

    const PKG: &str = "/usr/lib/systemd/system/x.service";
    const D: &str = "/etc/systemd/system/x.service.d/vrf.conf";

    #[test]
    fn runuser_wrapper_restores_packaged_command_and_user() {
        let u = unit(
            "x.service",
            PKG,
            vec![
                a(PKG, 3, "Service", "ExecStart", "/usr/bin/x -d"),
                a(PKG, 4, "Service", "ProtectControlGroups", "yes"),
                a(D, 2, "Service", "User", "root"),
                a(D, 3, "Service", "ExecStart", ""),
                a(
                    D,
                    4,
                    "Service",
                    "ExecStart",
                    "ip vrf exec mgmt runuser -u svc -- /usr/bin/x -d",
                ),
                a(D, 5, "Service", "ProtectControlGroups", "no"),
                a(D, 6, "Service", "Environment", "A=1"),
            ],
        );
        let p = plan_unit("x.service", &u, &|_| None).unwrap();
        assert_eq!(p.refused, None);
        assert_eq!(p.kinds, vec![Kind::VrfExec, Kind::UserSwitch]);
        assert_eq!(p.move_aside, vec![PathBuf::from(D)]);
        assert!(
            p.content
                .ends_with("[Service]\nBindNetworkInterface=mgmt\nUser=svc\nEnvironment=A=1\n"),
            "{}",
            p.content
        );
        let becomes: Vec<&str> = p.lines.iter().map(|l| l.becomes.as_str()).collect();
        assert_eq!(
            becomes,
            vec![
                "removed: the service runs as the user the wrapper switched to",
                "removed (the reset existed for the wrapper)",
                "BindNetworkInterface=mgmt, User=svc: removed: the packaged ExecStart= applies again",
                "removed (only the wrapper needed it): back to ProtectControlGroups=yes from /usr/lib/systemd/system/x.service",
            ]
        );
    }

    #[test]
    fn a_changed_command_is_kept_unwrapped() {
        let u = unit(
            "x.service",
            PKG,
            vec![
                a(PKG, 3, "Service", "ExecStart", "/usr/bin/x -d"),
                a(D, 3, "Service", "ExecStart", ""),
                a(
                    D,
                    4,
                    "Service",
                    "ExecStart",
                    "-/bin/ip vrf exec mgmt /usr/bin/x -d --extra",
                ),
            ],
        );
        let p = plan_unit("x.service", &u, &|_| None).unwrap();
        assert!(
            p.content.ends_with(
                "BindNetworkInterface=mgmt\nExecStart=\nExecStart=-/usr/bin/x -d --extra\n"
            ),
            "{}",
            p.content
        );
    }

    #[test]
    fn refusals_say_why() {
        let in_fragment = unit(
            "x.service",
            "/etc/systemd/system/x.service",
            vec![a(
                "/etc/systemd/system/x.service",
                3,
                "Service",
                "ExecStart",
                "ip vrf exec mgmt x",
            )],
        );
        let p = plan_unit("x.service", &in_fragment, &|_| None).unwrap();
        assert!(p.refused.unwrap().contains("in the unit file"));
        let variable = unit(
            "x.service",
            PKG,
            vec![a(D, 3, "Service", "ExecStart", "ip vrf exec $VRF x")],
        );
        let p = plan_unit("x.service", &variable, &|_| None).unwrap();
        assert!(p.refused.unwrap().contains("environment variable"));
        let packaged = unit(
            "x.service",
            PKG,
            vec![a(
                "/usr/lib/systemd/system/x.service.d/v.conf",
                3,
                "Service",
                "ExecStart",
                "ip vrf exec m x",
            )],
        );
        assert!(plan_unit("x.service", &packaged, &|_| None)
            .unwrap()
            .refused
            .unwrap()
            .contains("package"));
        let pin = unit(
            "x.service",
            PKG,
            vec![a(
                D,
                3,
                "Service",
                "BPFProgram",
                "sock_create:/sys/fs/bpf/p",
            )],
        );
        assert!(plan_unit("x.service", &pin, &|_| None)
            .unwrap()
            .refused
            .unwrap()
            .contains("cannot tell which VRF"));
        let none = unit(
            "x.service",
            PKG,
            vec![a(PKG, 3, "Service", "ExecStart", "/usr/bin/x")],
        );
        assert_eq!(plan_unit("x.service", &none, &|_| None), None);
    }

    #[test]
    fn the_owner_is_the_directory_as_listed_and_a_refusal_is_carried() {
        const RESOLVED: &str = "/etc/common/other.service.d/vrf.conf";
        let u = unit(
            "x.service",
            PKG,
            vec![a(
                RESOLVED,
                2,
                "Service",
                "ExecStart",
                "ip vrf exec m /usr/bin/x",
            )],
        );
        fn listed(refusal: Option<&'static str>) -> impl Fn(&Path) -> Option<Origin> {
            move |f: &Path| {
                (f == Path::new(RESOLVED)).then(|| Origin {
                    listed: PathBuf::from(D),
                    refusal: refusal.map(str::to_string),
                })
            }
        }
        // Without where it was listed, the resolved directory names another unit.
        assert_eq!(
            plan_unit("x.service", &u, &|_| None).unwrap().owner,
            "other.service"
        );
        let p = plan_unit_found("x.service", &u, &|_| None, &listed(None)).unwrap();
        assert_eq!((p.owner.as_str(), p.refused), ("x.service", None));
        let p = plan_unit_found("x.service", &u, &|_| None, &listed(Some("a symlink"))).unwrap();
        assert_eq!(p.owner, "x.service");
        assert_eq!(p.refused.as_deref(), Some("a symlink"));
        assert_eq!((p.dropin, p.move_aside.len()), (None, 0));
    }

    #[test]
    fn pin_takes_its_vrf_from_the_helper_instance() {
        let u = unit(
            "x.service",
            PKG,
            vec![
                a(D, 2, "Unit", "Requires", "pin@blue.service other.service"),
                a(D, 3, "Unit", "After", "pin@blue.service"),
                a(
                    D,
                    5,
                    "Service",
                    "BPFProgram",
                    "sock_create:/sys/fs/bpf/vrf-blue",
                ),
            ],
        );
        let helper = unit(
            "pin@blue.service",
            "/etc/systemd/system/pin@.service",
            vec![a(
                "/etc/systemd/system/pin@.service",
                4,
                "Service",
                "ExecStart",
                "/usr/bin/pyvrf pin %i /sys/fs/bpf/vrf-%i",
            )],
        );
        let lookup = |n: &str| (n == "pin@blue.service").then(|| helper.clone());
        let p = plan_unit("x.service", &u, &lookup).unwrap();
        assert_eq!(p.refused, None);
        assert_eq!(p.interface.as_deref(), Some("blue"));
        assert_eq!(p.helpers, vec!["pin@blue.service"]);
        assert!(
            p.content.contains(
                "[Unit]\nRequires=other.service\n\n[Service]\nBindNetworkInterface=blue\n"
            ),
            "{}",
            p.content
        );
    }
}
