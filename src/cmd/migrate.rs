// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch migrate`: what to change in the unit files for systemd ≥ 260, which binds
//! natively. Reads the host (systemd version, every service and socket unit), edits nothing.
//!
//! Units that only say `BindNetworkInterface=` (the generator form) need nothing. Lines that run
//! bindif-launch do: the attach step and the launcher's own `ExecStart=` (with the reset before
//! it) are removed, an explicit `bindif-launch %n -- CMD` becomes `CMD`, an ad hoc
//! `--interface IFACE -- CMD` becomes `BindNetworkInterface=IFACE` plus `CMD`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::cmd::generator;
use crate::json::Value;
use crate::unit::catalog::Catalog;
use crate::unit::eval::{is_bindif_launch, KEY_BIND};
use crate::unit::paths::SearchPath;
use crate::unit::words::split_command_line;
use crate::unit::{Assignment, LoadedUnit, Source};

/// One line to change, with the units it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub source: Source,
    pub assignment: String,
    pub advice: String,
    pub units: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub systemd_version: Option<u32>,
    pub findings: Vec<Finding>,
    /// Units that set `BindNetworkInterface=` and need no change.
    pub plain_units: Vec<String>,
    /// Units with `X-BindNetworkInterface-*=` policy keys, which v260 does not know.
    pub policy_units: Vec<String>,
}

impl Report {
    pub fn native(&self) -> bool {
        self.systemd_version.is_some_and(|v| v >= 260)
    }
}

/// What a command line running bindif-launch becomes under v260.
fn advise(a: &Assignment, reset_before: Option<&Assignment>) -> Option<String> {
    let raw = a.value.trim_start_matches(['-', '@', ':', '+', '!', '|']);
    let words = split_command_line(raw).ok()?;
    if !is_bindif_launch(words.first()?) {
        return None;
    }
    // The package's own bindif-launch-enter.service: it goes with the package (and on v260).
    if words.iter().any(|w| w == "--enter-service") {
        return None;
    }
    let after_dashes = raw.split_once(" -- ").map(|(_, cmd)| cmd.trim());
    let interface = words
        .iter()
        .position(|w| w == "--interface" || w == "-i")
        .and_then(|i| words.get(i + 1))
        .cloned()
        .or_else(|| {
            words
                .iter()
                .find_map(|w| w.strip_prefix("--interface=").map(str::to_string))
        });
    Some(if words.iter().any(|w| w == "--attach") {
        "remove this line: PID 1 attaches the binding itself".to_string()
    } else if let (Some(iface), Some(cmd)) = (&interface, after_dashes) {
        format!("replace with {}={cmd} and add {KEY_BIND}={iface}", a.key)
    } else if let Some(cmd) = after_dashes {
        format!("replace with {}={cmd}", a.key)
    } else if let Some(reset) = reset_before {
        format!(
            "remove this line and the empty {}= on line {}: the packaged command applies again",
            reset.key, reset.source.line
        )
    } else {
        "remove this line: the packaged command applies again".to_string()
    })
}

/// The closest earlier assignment of the same key in the same file, if it is a reset.
fn reset_before(u: &LoadedUnit, i: usize) -> Option<&Assignment> {
    let a = &u.assignments[i];
    u.assignments
        .iter()
        .take(i)
        .rev()
        .find(|b| b.source.file == a.source.file && b.key == a.key && b.section == a.section)
        .filter(|b| b.value.is_empty())
}

fn is_exec_key(key: &str) -> bool {
    key.starts_with("Exec")
}

/// The pure core: findings over loaded units (`(name as found, unit)`).
pub fn report(units: &[(String, LoadedUnit)], systemd_version: Option<u32>) -> Report {
    let mut by_line: BTreeMap<(Arc<Path>, usize), Finding> = BTreeMap::new();
    let mut plain_units = Vec::new();
    let mut policy_units = Vec::new();
    for (name, u) in units {
        let mut uses_launcher = false;
        for (i, a) in u.assignments.iter().enumerate() {
            if !is_exec_key(&a.key) {
                continue;
            }
            let Some(advice) = advise(a, reset_before(u, i)) else {
                continue;
            };
            uses_launcher = true;
            let key = (a.source.file.clone(), a.source.line);
            let f = by_line.entry(key).or_insert_with(|| Finding {
                source: a.source.clone(),
                assignment: format!("{}={}", a.key, a.value),
                advice,
                units: Vec::new(),
            });
            if !f.units.contains(name) {
                f.units.push(name.clone());
            }
        }
        let has_key = u
            .assignments
            .iter()
            .any(|a| a.key == KEY_BIND && !a.value.is_empty());
        if has_key && !uses_launcher {
            plain_units.push(name.clone());
        }
        if u.assignments
            .iter()
            .any(|a| a.key.starts_with("X-BindNetworkInterface-"))
        {
            policy_units.push(name.clone());
        }
    }
    Report {
        systemd_version,
        findings: by_line.into_values().collect(),
        plain_units,
        policy_units,
    }
}

/// Reads every service and socket unit below `root` (generator output left out: those files
/// are ours and vanish by themselves on v260).
pub fn gather(root: &Path, systemd_version: Option<u32>) -> Report {
    let search = generator::search_path_without_generators(&SearchPath::system(root));
    let catalog = Catalog::new(search);
    let names = generator::enumerate(&catalog);
    let units: Vec<(String, LoadedUnit)> = generator::load_all(&catalog, &names)
        .into_iter()
        .filter_map(|i| i.unit.ok().map(|u| (i.name, u)))
        .collect();
    report(&units, systemd_version)
}

pub fn render_text(r: &Report) -> String {
    let version = r
        .systemd_version
        .map_or("an unknown systemd".to_string(), |v| format!("systemd {v}"));
    let mut out = String::new();
    if r.findings.is_empty() {
        out += &format!(
            "Nothing needs changing for systemd ≥ 260 ({version} runs here): {} unit(s) use plain {KEY_BIND}=.\n",
            r.plain_units.len()
        );
    } else {
        out += &if r.native() {
            format!("{version} binds natively: change these lines now.\n")
        } else {
            format!(
                "{version} runs here: when the host reaches systemd ≥ 260, change these lines.\n"
            )
        };
        let mut by_file: BTreeMap<&Path, Vec<&Finding>> = BTreeMap::new();
        for f in &r.findings {
            by_file.entry(&f.source.file).or_default().push(f);
        }
        for (file, findings) in by_file {
            let mut units: Vec<&str> = findings
                .iter()
                .flat_map(|f| f.units.iter().map(String::as_str))
                .collect();
            units.dedup();
            out += &format!("\n{} ({})\n", file.display(), units.join(", "));
            for f in findings {
                out += &format!(
                    "  line {}: {}\n    → {}\n",
                    f.source.line, f.assignment, f.advice
                );
            }
        }
        out += &format!(
            "\n{} unit(s) use plain {KEY_BIND}= and need nothing.\n",
            r.plain_units.len()
        );
    }
    if !r.policy_units.is_empty() {
        out += &format!(
            "Note: {} set X-BindNetworkInterface-* keys; systemd ignores them, and v260 always fails open.\n",
            r.policy_units.join(", ")
        );
    }
    out
}

pub fn to_json(r: &Report) -> Value {
    let strs = |v: &[String]| Value::Arr(v.iter().map(|s| Value::str(s.as_str())).collect());
    Value::obj(vec![
        (
            "systemd_version",
            r.systemd_version
                .map_or(Value::Null, |v| Value::Num(v.into())),
        ),
        ("native", Value::Bool(r.native())),
        ("nothing_to_change", Value::Bool(r.findings.is_empty())),
        (
            "changes",
            Value::Arr(
                r.findings
                    .iter()
                    .map(|f| {
                        Value::obj(vec![
                            ("file", Value::str(f.source.file.to_string_lossy())),
                            ("line", Value::Num(f.source.line as i64)),
                            ("assignment", Value::str(f.assignment.as_str())),
                            ("advice", Value::str(f.advice.as_str())),
                            ("units", strs(&f.units)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("plain_units", strs(&r.plain_units)),
        ("policy_units", strs(&r.policy_units)),
    ])
}

pub fn run(root: &Path, json: bool, systemd_version: Option<u32>) -> i32 {
    let r = gather(root, systemd_version);
    if json {
        println!("{}", to_json(&r).render());
    } else {
        print!("{}", render_text(&r));
    }
    crate::exit::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(file: &str, line: usize, key: &str, value: &str) -> Assignment {
        Assignment {
            section: "Service".into(),
            key: key.into(),
            value: value.into(),
            source: Source {
                file: std::path::PathBuf::from(file).into(),
                line,
            },
        }
    }

    fn unit(name: &str, assignments: Vec<Assignment>) -> (String, LoadedUnit) {
        (
            name.to_string(),
            LoadedUnit {
                name: name.into(),
                assignments: assignments.into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_packages_own_enter_service_needs_nothing() {
        let units = vec![unit(
            "bindif-launch-enter.service",
            vec![a(
                "/lib/systemd/system/bindif-launch-enter.service",
                18,
                "ExecStart",
                "/usr/lib/bindif-launch --enter-service",
            )],
        )];
        let r = report(&units, Some(252));
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    /// Only the generator's own links count as the launcher: a program in a directory of the
    /// user's that shares their name is the user's daemon, nothing to migrate.
    #[test]
    fn a_users_bindif_launch_exec_directory_is_not_the_launcher() {
        let units = vec![unit(
            "daemon.service",
            vec![a(
                "/etc/systemd/system/daemon.service",
                2,
                "ExecStart",
                "/opt/x/bindif-launch-exec/daemon --flag",
            )],
        )];
        let r = report(&units, Some(252));
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let generated = vec![unit(
            "daemon.service",
            vec![a(
                "/run/systemd/generator/daemon.service.d/zzzz-bindif-launch.conf",
                9,
                "ExecStart",
                "/run/systemd/generator/bindif-launch-exec/daemon --unit=%n -- /opt/x/bindif-launch-exec/daemon",
            )],
        )];
        assert_eq!(report(&generated, Some(252)).findings.len(), 1);
    }

    #[test]
    fn every_form_gets_its_advice() {
        let d = "/etc/systemd/system/x.service.d/bind.conf";
        let units = vec![
            unit(
                "x.service",
                vec![
                    a(
                        "/usr/lib/systemd/system/x.service",
                        5,
                        "ExecStart",
                        "/usr/sbin/x -d",
                    ),
                    a(d, 2, "BindNetworkInterface", "mgmt"),
                    a(d, 3, "ExecStart", ""),
                    a(d, 4, "ExecStart", "/usr/lib/bindif-launch %n"),
                ],
            ),
            unit(
                "y.service",
                vec![
                    a(
                        "/etc/y.service",
                        3,
                        "ExecStartPre",
                        "+/usr/lib/bindif-launch --attach %n",
                    ),
                    a(
                        "/etc/y.service",
                        4,
                        "ExecStart",
                        "/usr/lib/bindif-launch %n -- /usr/bin/y --flag",
                    ),
                    a(
                        "/etc/y.service",
                        5,
                        "ExecStartPost",
                        "/usr/lib/bindif-launch -i mgmt -- /bin/ping -c1 h",
                    ),
                    a(
                        "/etc/y.service",
                        6,
                        "X-BindNetworkInterface-FailClosed",
                        "yes",
                    ),
                ],
            ),
            unit(
                "z.service",
                vec![a("/etc/z.service", 2, "BindNetworkInterface", "mgmt")],
            ),
        ];
        let r = report(&units, Some(252));
        let advice: Vec<(usize, &str)> = r
            .findings
            .iter()
            .map(|f| (f.source.line, f.advice.as_str()))
            .collect();
        assert_eq!(
            advice,
            vec![
                (4, "remove this line and the empty ExecStart= on line 3: the packaged command applies again"),
                (3, "remove this line: PID 1 attaches the binding itself"),
                (4, "replace with ExecStart=/usr/bin/y --flag"),
                (5, "replace with ExecStartPost=/bin/ping -c1 h and add BindNetworkInterface=mgmt"),
            ]
        );
        assert_eq!(r.plain_units, vec!["z.service"]);
        assert_eq!(r.policy_units, vec!["y.service"]);
        let text = render_text(&r);
        assert!(
            text.starts_with("systemd 252 runs here: when the host reaches systemd ≥ 260"),
            "{text}"
        );
        assert!(text.contains("/etc/y.service (y.service)\n  line 3: ExecStartPre=+/usr/lib/bindif-launch --attach %n\n"), "{text}");
    }

    /// The forms that name the unit with `--unit=` (what the generator writes, as names may start
    /// with `-`)
    /// get the advice of the forms that name it as a word.
    #[test]
    fn unit_option_forms_get_the_same_advice() {
        let f = "/etc/w.service";
        let units = vec![unit(
            "-w.service",
            vec![
                a(
                    f,
                    2,
                    "ExecStartPre",
                    "+/usr/lib/bindif-launch --attach --unit=%n",
                ),
                a(
                    f,
                    3,
                    "ExecStart",
                    "/usr/lib/bindif-launch --unit=%n -- /usr/bin/w -x",
                ),
            ],
        )];
        let advice: Vec<String> = report(&units, Some(252))
            .findings
            .into_iter()
            .map(|f| f.advice)
            .collect();
        assert_eq!(
            advice,
            [
                "remove this line: PID 1 attaches the binding itself",
                "replace with ExecStart=/usr/bin/w -x"
            ]
        );
    }

    #[test]
    fn plain_units_need_nothing_and_shared_lines_are_reported_once() {
        let tpl = a(
            "/etc/systemd/system/s@.service",
            4,
            "ExecStartPre",
            "+/usr/lib/bindif-launch --attach %n",
        );
        let units = vec![
            unit("s@.service", vec![tpl.clone()]),
            unit("s@mgmt.service", vec![tpl]),
        ];
        let r = report(&units, Some(262));
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].units, vec!["s@.service", "s@mgmt.service"]);
        assert!(render_text(&r).starts_with("systemd 262 binds natively: change these lines now."));

        let r = report(
            &[unit(
                "z.service",
                vec![a("/etc/z.service", 2, "BindNetworkInterface", "mgmt")],
            )],
            Some(262),
        );
        assert_eq!(
            render_text(&r),
            "Nothing needs changing for systemd ≥ 260 (systemd 262 runs here): 1 unit(s) use plain BindNetworkInterface=.\n"
        );
        assert!(to_json(&r).render().contains("\"nothing_to_change\":true"));
    }
}
