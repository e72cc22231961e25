// SPDX-License-Identifier: LGPL-2.1-or-later
//! Rendering: the human table and the `--json` document, from judged reports. Pure.

use std::path::{Path, PathBuf};

use super::error::Error;
use super::facts::{escape_path, hierarchy_path, CgroupFacts, ProgKind, Program, Want};
use super::judge::{exit_status, CgroupReport, SocketReport};
use super::preflight::Finding;
use crate::json::Value;

/// Where a cgroup lives, as the reader should see it: the path inside the hierarchy, or the full
/// path for the private cgroup2 of legacy hosts.
pub(super) fn display_path(f: &CgroupFacts, main: Option<&Path>) -> String {
    match &f.hierarchy {
        None => "-".to_string(),
        Some(h) if Some(h.as_path()) == main => escape_path(&f.path),
        Some(h) => escape_path(&hierarchy_path(h, &f.path)),
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
        ProgKind::Ours(_) | ProgKind::Native => format!("{}#{}", p.name, p.id),
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
            Want::Unknown(_) | Want::NotFound(_) => "-".into(),
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
                    // Not looked up: the ifindex is one of another namespace (see the note).
                    (ProgKind::Ours(_), None) if !f.other_netns.is_empty() => {
                        "(other netns)".into()
                    }
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
    // An interface's warnings once, however many units it binds (the JSON has them per
    // cgroup).
    let warnings = distinct_warnings(reports);
    if !noted.is_empty() || !warnings.is_empty() {
        out.push('\n');
        for r in noted {
            for n in &r.notes {
                out.push_str(&format!("{}: {n}\n", r.label()));
            }
        }
        for w in warnings {
            out.push_str(&format!("warning: {w}\n"));
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

pub(super) fn bound_text(s: &SocketReport) -> String {
    match (s.socket.bound_ifindex, &s.bound_name) {
        (0, _) => "(none)".into(),
        (i, Some(n)) => format!("{n} ({i})"),
        (i, None) => format!("ifindex {i} (gone)"),
    }
}

/// The findings' lines of all reports, each once, in order.
pub fn distinct_warnings(reports: &[CgroupReport]) -> Vec<String> {
    let mut warnings: Vec<String> = Vec::new();
    for w in reports.iter().flat_map(CgroupReport::warnings) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    warnings
}

/// The host-wide findings as text lines, after the table (nothing when there are none).
pub fn render_host_text(host: &[Finding]) -> String {
    host.iter()
        .map(|f| format!("warning: {}\n", f.line()))
        .collect()
}

/// A finding as a JSON object: `check`, `interface` (`null`: host-wide), `message`, `fix`.
pub fn finding_json(f: &Finding) -> Value {
    Value::obj(vec![
        ("check", Value::str(f.check)),
        ("interface", Value::opt_str(f.interface.clone())),
        ("message", Value::str(f.message.as_str())),
        ("fix", Value::str(f.fix.as_str())),
    ])
}

/// [`to_json`] with the host-wide findings as a top-level `preflight` member (only when there
/// are any, so that the common document stays as it was).
pub fn to_json_with_host(
    reports: &[CgroupReport],
    hierarchies: &[PathBuf],
    host: &[Finding],
) -> Value {
    let mut doc = to_json(reports, hierarchies);
    if let (Value::Obj(fields), false) = (&mut doc, host.is_empty()) {
        fields.push((
            "preflight".into(),
            Value::Arr(host.iter().map(finding_json).collect()),
        ));
    }
    doc
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
                        Value::str(escape_path(&f.path))
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
            // Only when there are any, so that the common document stays as it was.
            if !f.other_netns.is_empty() {
                fields.push((
                    "other_network_namespaces",
                    Value::Arr(
                        f.other_netns
                            .iter()
                            .map(|i| Value::Num(*i as i64))
                            .collect(),
                    ),
                ));
            }
            if !r.findings.is_empty() {
                fields.push((
                    "warnings",
                    Value::Arr(r.warnings().into_iter().map(Value::str).collect()),
                ));
                fields.push((
                    "preflight",
                    Value::Arr(r.findings.iter().map(finding_json).collect()),
                ));
            }
            if let Some(d) = &f.generator_dropin {
                fields.push(("missing_generated_dropin", Value::str(escape_path(d))));
            }
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

/// The `--json` document of a failed run: no cgroups, `"ok": false`, and an `error` member
/// naming the operation, what it was done on and the errno (`null`: not a kernel refusal).
pub fn error_json(e: &Error) -> Value {
    let object = match e {
        Error::InvalidUnit(arg) => Some(arg.clone()),
        Error::NoHierarchy => None,
        Error::Cgroup { path, .. } => Some(escape_path(path)),
    };
    Value::obj(vec![
        ("hierarchies", Value::Arr(Vec::new())),
        ("ok", Value::Bool(false)),
        ("cgroups", Value::Arr(Vec::new())),
        (
            "error",
            Value::obj(vec![
                ("operation", Value::str(e.operation())),
                ("object", Value::opt_str(object)),
                (
                    "errno",
                    e.errno().map_or(Value::Null, |n| Value::Num(i64::from(n))),
                ),
                ("message", Value::str(e.to_string())),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::judge::{assess, unbound_sockets, State};
    use super::super::testdata::*;
    use super::*;
    use crate::cgroup_path::PRIVATE_CGROUP2_MOUNT;
    use crate::sys::diag;
    use std::fs;

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
                facts(
                    "/system.slice/dns.service",
                    vec![ours_unit(43, 5)],
                    iface("dmz"),
                ),
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

    /// A VRF's warnings: once in the text however many units it binds, per cgroup in the JSON.
    #[test]
    fn renders_vrf_warnings_once() {
        let l = links_with_vrf();
        let reports: Vec<CgroupReport> = ["/a.service", "/b.service"]
            .iter()
            .map(|p| assess(facts(p, vec![ours(1, 4)], iface("mgmt")), &l))
            .collect();
        let text = render_text(&reports, Some(Path::new(MAIN)));
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .collect();
        assert_eq!(
            warnings,
            ["warning: VRF mgmt (table 10): no unreachable default route in its table: a lookup \
              that misses there falls through to the main table and leaves outside the VRF; run \
              'ip route add vrf mgmt unreachable default metric 8192'"]
        );
        let json = to_json(&reports, &[PathBuf::from(MAIN)]).render();
        assert_eq!(
            json.matches("\"warnings\":[\"VRF mgmt (table 10): ")
                .count(),
            2
        );
        assert!(json.contains("\"ok\":true"), "{json}");
        // Without warnings the document is as before: no member.
        let plain = assess(
            facts("/a.service", vec![ours(1, 4)], iface("mgmt")),
            &links(),
        );
        assert!(!to_json(&[plain], &[]).render().contains("warnings"));
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

    /// Issue 13 #16: a binding whose processes live in another network namespace is shown as
    /// such, with no interface name of ours.
    #[test]
    fn renders_other_netns() {
        let mut f = facts("/s/vpn.service", vec![ours(41, 4)], iface("wg0"));
        f.other_netns_pids = vec![77];
        f.other_netns = vec![4026532000];
        let r = [assess(f, &links())];
        let text = render_text(&r, Some(Path::new(MAIN)));
        let row = text.lines().nth(1).unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "/s/vpn.service",
                "vpn.service",
                "bindif_sock#41",
                "4",
                "(other",
                "netns)",
                "wg0",
                "other-netns"
            ],
            "{text}"
        );
        assert!(
            text.contains("vpn.service: 1 process(es) (PID 77) use another network namespace (net:[4026532000])"),
            "{text}"
        );
        assert_eq!(exit_status(&r), 0);
        let json = to_json(&r, &[PathBuf::from(MAIN)]).render();
        assert!(
            json.contains("\"interface\":null,\"state\":\"other-netns\""),
            "{json}"
        );
        assert!(
            json.contains("\"other_network_namespaces\":[4026532000]"),
            "{json}"
        );
    }
}
