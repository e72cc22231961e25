// SPDX-License-Identifier: LGPL-2.1-or-later
//! Printing `adopt`'s plans: text, file by file, and `--json`; and the risk of each current
//! setup, stated as measured (docs: `v260-semantics.md`, "`BPFProgram=` pins … measured in
//! 247/252/257/262 guests").

use super::plan::{Kind, Plan, ASIDE_SUFFIX};
use crate::json::Value;

/// The measured facts about a `BPFProgram=sock_create:` pin that apply to systemd `v`; every
/// measured fact when the version is unknown (`--root` without `--systemd-version`).
pub fn pin_risks(v: Option<u32>) -> Vec<String> {
    let mut r = Vec::new();
    let all = v.is_none();
    let v = v.unwrap_or(0);
    if all || v < 249 {
        r.push(
            "systemd < 249 (measured: 247) does not know BPFProgram=: the unit runs unbound".into(),
        );
    }
    if all || (249..256).contains(&v) {
        r.push("systemd 249–255 (measured: 252): every restart of the unit while it stays loaded (restart, Restart=always, stop+start of an enabled unit) ends unbound (\"Foreign BPF program already exists, ignoring\", systemd#26845); on a hybrid cgroup layout the pin is silently ignored".into());
    }
    if all || (256..260).contains(&v) {
        r.push("systemd 256–259 (measured: 257): every daemon-reload silently unbinds the running unit".into());
    }
    if all || v >= 249 {
        r.push("systemd 252, 257 and 262 (measured): about 75% of the sockets created during a daemon-reload come out unbound".into());
    }
    r.push("a missing pin only logs \"does not exist, skipping\" and the unit runs unbound; a VRF re-created with a new ifindex leaves the pin stale, and re-pinning does not rebind running units".into());
    r
}

/// What is wrong with the setups of `p`, for systemd `v`.
pub fn risks(p: &Plan, v: Option<u32>) -> Vec<String> {
    let mut r = Vec::new();
    let wrapped = p.kinds.contains(&Kind::VrfExec) || p.kinds.contains(&Kind::VrfExecNetns);
    if wrapped {
        r.push("ip vrf exec: the Exec*= lines are overridden, so upstream changes to the packaged command are silently lost; only the wrapped lines are bound (ExecStartPre=/ExecStop= are not); it needs root, a writable cgroupfs (ProtectControlGroups=no) and /proc/mounts (ProcSubset=all), and it creates cgroups inside systemd's, breaking systemd's single-writer rule".into());
    }
    if p.kinds.contains(&Kind::UserSwitch) {
        r.push(format!(
            "the service starts as root and drops to its user with {} inside the wrapper: User=, DynamicUser= and the sandboxing tied to them do not apply as written",
            p.switch_tool.as_deref().unwrap_or("a user switch")
        ));
    }
    if p.kinds.contains(&Kind::Pin) {
        r.extend(pin_risks(v));
    }
    if p.kinds.contains(&Kind::Generated) {
        r.push("generated override: only the services in the generator's fixed list get it, and it inherits every limit of ip vrf exec".into());
    }
    r
}

fn version_text(v: Option<u32>) -> String {
    v.map_or("systemd version unknown (give --systemd-version=N); the facts for every measured version follow".into(), |v| format!("Risks stated for systemd {v}"))
}

pub fn render_text(plans: &[Plan], v: Option<u32>, write: bool) -> String {
    let mut out = String::new();
    if plans.is_empty() {
        return "No ip vrf exec wrapper or BPFProgram=sock_create: pin found.\n".into();
    }
    out += &format!("{}.\n", version_text(v));
    for p in plans {
        out += &format!("\n{} ({})\n", p.owner, p.units.join(", "));
        match &p.refused {
            Some(why) => out += &format!("  left alone: {why}\n"),
            None => {
                out += &format!(
                    "  becomes: BindNetworkInterface={}\n",
                    p.interface.as_deref().unwrap_or_default()
                )
            }
        }
        let mut file = None;
        for l in &p.lines {
            if file != Some(&l.source.file) {
                out += &format!("  {}\n", l.source.file.display());
                file = Some(&l.source.file);
            }
            out += &format!(
                "    line {}: {}\n      → {}\n",
                l.source.line, l.assignment, l.becomes
            );
        }
        out += "  risk of the current setup:\n";
        for r in risks(p, v) {
            out += &format!("    - {r}\n");
        }
        for n in &p.notes {
            out += &format!("  note: {n}\n");
        }
        if p.refused.is_some() {
            continue;
        }
        if let Some(d) = &p.dropin {
            let verb = if write { "writing" } else { "would write" };
            out += &format!("  {verb} {}:\n", d.display());
            for l in p.content.lines() {
                out += &format!("    |{}{l}\n", if l.is_empty() { "" } else { " " });
            }
        }
        for f in &p.move_aside {
            let verb = if write {
                "moving aside"
            } else {
                "would move aside"
            };
            out += &format!("  {verb} {} → {}{ASIDE_SUFFIX}\n", f.display(), f.display());
        }
    }
    if !write && plans.iter().any(|p| p.refused.is_none()) {
        out += "\nNothing was changed; run again with --write to do it.\n";
    }
    out
}

pub fn to_json(plans: &[Plan], v: Option<u32>) -> Value {
    let strs = |v: &[String]| Value::Arr(v.iter().map(|s| Value::str(s.as_str())).collect());
    let items = plans
        .iter()
        .map(|p| {
            Value::obj(vec![
                ("unit", Value::str(p.owner.as_str())),
                ("units", strs(&p.units)),
                (
                    "setups",
                    Value::Arr(p.kinds.iter().map(|k| Value::str(k.id())).collect()),
                ),
                ("adoptable", Value::Bool(p.refused.is_none())),
                ("reason", Value::opt_str(p.refused.clone())),
                ("interface", Value::opt_str(p.interface.clone())),
                ("netns", Value::opt_str(p.netns.clone())),
                ("pins", strs(&p.pins)),
                ("helpers", strs(&p.helpers)),
                (
                    "lines",
                    Value::Arr(
                        p.lines
                            .iter()
                            .map(|l| {
                                Value::obj(vec![
                                    ("file", Value::str(l.source.file.to_string_lossy())),
                                    ("line", Value::Num(l.source.line as i64)),
                                    ("assignment", Value::str(l.assignment.as_str())),
                                    ("becomes", Value::str(l.becomes.as_str())),
                                ])
                            })
                            .collect(),
                    ),
                ),
                ("risks", strs(&risks(p, v))),
                ("notes", strs(&p.notes)),
                (
                    "dropin",
                    match (&p.dropin, &p.refused) {
                        (Some(d), None) => Value::obj(vec![
                            ("path", Value::str(d.to_string_lossy())),
                            ("content", Value::str(p.content.as_str())),
                        ]),
                        _ => Value::Null,
                    },
                ),
                (
                    "move_aside",
                    Value::Arr(
                        p.move_aside
                            .iter()
                            .filter(|_| p.refused.is_none())
                            .map(|f| {
                                Value::obj(vec![
                                    ("from", Value::str(f.to_string_lossy())),
                                    ("to", Value::str(format!("{}{ASIDE_SUFFIX}", f.display()))),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    Value::obj(vec![
        (
            "systemd_version",
            v.map_or(Value::Null, |v| Value::Num(v.into())),
        ),
        ("units", Value::Arr(items)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_risks_follow_the_version() {
        let r252 = pin_risks(Some(252)).join("\n");
        assert!(r252.contains("every restart") && !r252.contains("every daemon-reload silently"));
        let r257 = pin_risks(Some(257)).join("\n");
        assert!(!r257.contains("every restart") && r257.contains("every daemon-reload silently"));
        let r247 = pin_risks(Some(247)).join("\n");
        assert!(r247.contains("does not know BPFProgram=") && !r247.contains("75%"));
        let all = pin_risks(None).join("\n");
        assert!(all.contains("every restart") && all.contains("every daemon-reload silently"));
    }
}
