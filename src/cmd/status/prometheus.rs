// SPDX-License-Identifier: LGPL-2.1-or-later
//! `status --prometheus`: the reports as node_exporter's textfile collector reads them (the
//! Prometheus text exposition format, version 0.0.4). Pure.
//!
//! Every series carries the `cgroup` label next to `unit`: one unit may have a cgroup in two
//! hierarchies (systemd's and the private one of legacy hosts), and the collector rejects a
//! whole file that repeats a series.

use std::collections::BTreeSet;
use std::path::Path;

use super::judge::{exit_status, CgroupReport};
use super::preflight::Finding;
use super::render::display_path;

/// A label value as the exposition format wants it: backslash, double quote and line feed
/// escaped (`\\`, `\"`, `\n`); everything else as is (the format is UTF-8).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family: its HELP and TYPE lines, then its samples, each label set once.
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, i64)>,
    seen: BTreeSet<String>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            samples: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    fn add(&mut self, labels: &[(&str, &str)], value: i64) {
        let set: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
            .collect();
        let set = if set.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", set.join(","))
        };
        if self.seen.insert(set.clone()) {
            self.samples.push((set, value));
        }
    }

    fn render(&self, out: &mut String) {
        out.push_str(&format!("# HELP {} {}\n", self.name, self.help));
        out.push_str(&format!("# TYPE {} gauge\n", self.name));
        for (labels, value) in &self.samples {
            out.push_str(&format!("{}{labels} {value}\n", self.name));
        }
    }
}

/// The interface a report is about: the one the unit wants, else the one its binding names.
fn interface(r: &CgroupReport) -> String {
    r.facts
        .want
        .iface()
        .map(str::to_owned)
        .or_else(|| r.programs.iter().find_map(|p| p.interface.clone()))
        .unwrap_or_default()
}

/// Whether a binding is attached: one of ours or systemd's own, whatever its verdict.
fn bound(r: &CgroupReport) -> bool {
    r.programs.iter().any(|p| p.program.binds())
}

/// The metrics document. `main`: the systemd cgroup2 mount (paths below it are shown relative,
/// as in the table).
pub fn render_prometheus(
    reports: &[CgroupReport],
    host: &[Finding],
    main: Option<&Path>,
) -> String {
    let mut success = Family::new(
        "bindif_status_success",
        "Whether bindif-launch status could read the host (0: see its log).",
    );
    success.add(&[], 1);
    let mut ok = Family::new(
        "bindif_status_ok",
        "Whether bindif-launch status found nothing wrong (its exit status was 0).",
    );
    ok.add(&[], i64::from(exit_status(reports) == 0));
    let mut cgroups = Family::new(
        "bindif_cgroups_total",
        "Cgroups reported: those carrying a binding and running units that want one.",
    );
    cgroups.add(&[], reports.len() as i64);
    let mut units = Family::new("bindif_units_total", "Reported cgroups that are a unit's.");
    units.add(
        &[],
        reports.iter().filter(|r| r.facts.unit.is_some()).count() as i64,
    );
    let mut bound_f = Family::new(
        "bindif_unit_bound",
        "Whether a binding program (ours or systemd's) is attached to the cgroup.",
    );
    let mut state_f = Family::new(
        "bindif_unit_state",
        "The cgroup's state as bindif-launch status names it (1 for the current one).",
    );
    let mut problem_f = Family::new(
        "bindif_unit_problem",
        "Whether the cgroup makes bindif-launch status exit 1.",
    );
    let mut sockets_f = Family::new(
        "bindif_unit_unbound_sockets",
        "Inet sockets of the cgroup's processes that are not bound (with --sockets).",
    );
    let mut preflight_f = Family::new(
        "bindif_preflight_problem",
        "A preflight finding: set-up that keeps a binding from working (see the check).",
    );
    for r in reports {
        let cgroup = display_path(&r.facts, main);
        let unit = r.facts.unit.clone().unwrap_or_default();
        let iface = interface(r);
        let labels = [
            ("cgroup", cgroup.as_str()),
            ("unit", unit.as_str()),
            ("interface", iface.as_str()),
        ];
        bound_f.add(&labels, i64::from(bound(r)));
        let state = r.state.as_str();
        state_f.add(&[labels[0], labels[1], labels[2], ("state", state)], 1);
        let sockets_bad = r.sockets.as_ref().is_some_and(|s| !s.is_empty());
        problem_f.add(&labels, i64::from(r.problem || sockets_bad));
        if let Some(s) = &r.sockets {
            sockets_f.add(&labels, s.len() as i64);
        }
        for f in &r.findings {
            let fi = f.interface.clone().unwrap_or_else(|| iface.clone());
            preflight_f.add(
                &[
                    labels[0],
                    labels[1],
                    ("interface", fi.as_str()),
                    ("check", f.check),
                ],
                1,
            );
        }
    }
    for f in host {
        let fi = f.interface.clone().unwrap_or_default();
        preflight_f.add(
            &[
                ("cgroup", ""),
                ("unit", ""),
                ("interface", fi.as_str()),
                ("check", f.check),
            ],
            1,
        );
    }
    let mut findings = Family::new(
        "bindif_preflight_problems_total",
        "Preflight findings, host-wide ones included (0: none).",
    );
    findings.add(&[], preflight_f.samples.len() as i64);
    let mut out = String::new();
    for f in [
        &success,
        &ok,
        &cgroups,
        &units,
        &bound_f,
        &state_f,
        &problem_f,
        &sockets_f,
        &findings,
        &preflight_f,
    ] {
        if f.name == "bindif_unit_unbound_sockets" && f.samples.is_empty() {
            continue;
        }
        f.render(&mut out);
    }
    out
}

/// The metrics of a run that could not read the host: only `bindif_status_success 0`, so that
/// an alert fires instead of the old file's values going stale silently.
pub fn render_prometheus_failure() -> String {
    let mut success = Family::new(
        "bindif_status_success",
        "Whether bindif-launch status could read the host (0: see its log).",
    );
    success.add(&[], 0);
    let mut out = String::new();
    success.render(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::facts::Want;
    use super::super::judge::State;
    use super::super::judge::{assess, unbound_sockets};
    use super::super::preflight;
    use super::super::testdata::*;
    use super::*;
    use crate::sys::diag;
    use std::fs;

    /// Every state `bindif_unit_state` may carry, for the documentation test.
    const STATES: [State; 12] = [
        State::Ok,
        State::Foreign,
        State::Native,
        State::OtherNetns,
        State::Inactive,
        State::Unbound,
        State::GeneratorNotRun,
        State::ResetPending,
        State::Stacked,
        State::Renamed,
        State::Mismatch,
        State::Gone,
    ];

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_label("\u{e4}\t"), "\u{e4}\t");
        // An interface name may hold quotes and backslashes (not '/', ':' or whitespace).
        let mut r = assess(
            facts("/s/a.service", vec![ours(1, 4)], iface("we\"ird\\")),
            &links(),
        );
        r.facts.unit = Some("a\nb.service".into());
        let text = render_prometheus(&[r], &[], Some(Path::new(MAIN)));
        assert!(
            text.contains(
                "bindif_unit_bound{cgroup=\"/s/a.service\",unit=\"a\\nb.service\",\
                 interface=\"we\\\"ird\\\\\"} 1\n"
            ),
            "{text}"
        );
        // No line but the samples' own breaks.
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("bindif_")));
    }

    /// The document for a host with one of everything, against the fixture; the format is
    /// checked line by line too.
    #[test]
    fn renders_golden_metrics() {
        let mut l = links_with_vrf();
        // dmz (ifindex 7) is down.
        if let Some(Some(link)) = l.by_index.get_mut(&7) {
            link.flags = 0x1002;
        }
        let mut reports = vec![
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
                    "/system.slice/dns.service",
                    vec![ours_unit(43, 7)],
                    Want::Unset,
                ),
                &l,
            ),
            assess(
                facts("/system.slice/web.service", vec![ours(44, 5)], iface("dmz")),
                &l,
            ),
        ];
        let mut running = facts("/system.slice/ntp.service", vec![], iface("mgmt"));
        running.unit_running = true;
        reports.push(assess(running, &l));
        let held = vec![(
            812,
            "sshd".to_string(),
            sock(diag::Proto::Tcp, true, 22, 0, 9),
        )];
        reports[0].sockets = Some(unbound_sockets(&held, &reports[0].expected(), &l));
        let host = preflight::netcls_findings(&preflight::NetClsFacts {
            kernel: "4.19.0-27-amd64".into(),
            controllers: preflight::parse_proc_cgroups("net_prio 9 4 1\n"),
            ..Default::default()
        });
        let got = render_prometheus(&reports, &host, Some(Path::new(MAIN)));
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/status/expected/metrics.prom");
        if std::env::var_os("BINDIF_UPDATE_FIXTURES").is_some() {
            fs::write(&path, &got).unwrap();
        }
        let want = fs::read_to_string(&path).unwrap();
        assert_eq!(got, want, "{} differs", path.display());
        // Every family: HELP, then TYPE gauge, then its samples; no series twice.
        let mut names = Vec::new();
        let mut series = BTreeSet::new();
        let lines: Vec<&str> = got.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert_eq!(lines[i + 1], format!("# TYPE {name} gauge"));
                names.push(name);
            } else if !line.starts_with('#') {
                assert!(names.iter().any(|n| line.starts_with(n)), "{line}");
                let (key, value) = line.rsplit_once(' ').unwrap();
                value.parse::<i64>().unwrap();
                assert!(series.insert(key.to_string()), "{key} twice");
            }
        }
        assert_eq!(names.len(), names.iter().collect::<BTreeSet<_>>().len());
        // Each state a series can carry is a documented one.
        // (roff spells a hyphen `\-`.)
        let man =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/bindif-launch.8"))
                .unwrap()
                .replace("\\-", "-");
        for s in STATES {
            assert!(man.contains(s.as_str()), "{} undocumented", s.as_str());
        }
        for name in names {
            assert!(man.contains(name), "{name} undocumented");
        }
    }

    #[test]
    fn failure_says_only_that() {
        assert_eq!(
            render_prometheus_failure(),
            "# HELP bindif_status_success Whether bindif-launch status could read the host (0: \
             see its log).\n# TYPE bindif_status_success gauge\nbindif_status_success 0\n"
        );
    }
}
