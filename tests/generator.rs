// SPDX-License-Identifier: LGPL-2.1-or-later
//! The generator against fixture trees (`tests/fixtures/generator/CASE/{root,expected,options,
//! messages}`), cross-checked with systemd's own view (`systemd-analyze verify`), its two
//! command-line forms, and a timing on a synthetic 5,000-unit tree.
//!
//! `options` holds `version=N layout=unified|hybrid|legacy`; `messages` lines that must occur
//! in the log; a missing `expected/` means no output. `BLESS=1` rewrites `expected/`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bindif::cgroup_path::Layout;
use bindif::cmd::generator::{self, Options, Outcome};
use bindif::unit::catalog::Catalog;
use bindif::unit::paths::SearchPath;

fn fixtures() -> PathBuf {
    common::fixtures("generator")
}

fn cases() -> Vec<PathBuf> {
    common::fixture_cases("generator")
}

fn tempdir(tag: &str) -> PathBuf {
    common::tempdir(&format!("generator-{tag}"))
}

/// One entry of an output tree: a file's content, or where a symlink points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File(String),
    Link(PathBuf),
}

/// Every file and symlink below `dir` (symlinks not followed), relative path → entry.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ty = e.file_type().unwrap();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            if ty.is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&p).unwrap()));
            } else if ty.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(rel, Entry::File(std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

struct CaseOpts {
    version: u32,
    layout: Layout,
}

fn case_opts(case: &Path) -> CaseOpts {
    let text = std::fs::read_to_string(case.join("options")).unwrap();
    let mut o = CaseOpts {
        version: 252,
        layout: Layout::Hybrid {
            mount: "/sys/fs/cgroup/unified".into(),
        },
    };
    for w in text.split_whitespace() {
        match w.split_once('=') {
            Some(("version", v)) => o.version = v.parse().unwrap(),
            Some(("layout", "unified")) => {
                o.layout = Layout::Unified {
                    mount: "/sys/fs/cgroup".into(),
                }
            }
            Some(("layout", "hybrid")) => {}
            Some(("layout", "legacy")) => o.layout = Layout::Legacy,
            _ => panic!("{}: bad option {w}", case.display()),
        }
    }
    o
}

const NORMAL: &str = "run/systemd/generator";

/// Copies the case's root into a temporary directory and runs the generator on it, writing to
/// `ROOT/run/systemd/generator` (emptied first, as systemd does).
fn run_case(case: &Path) -> (PathBuf, Outcome) {
    let o = case_opts(case);
    let tmp = tempdir(case.file_name().unwrap().to_str().unwrap());
    common::copy_tree(&case.join("root"), &tmp);
    let normal = tmp.join(NORMAL);
    let _ = std::fs::remove_dir_all(&normal);
    std::fs::create_dir_all(&normal).unwrap();
    let out = generator::run(&Options {
        root: tmp.clone(),
        normal,
        systemd_version: Some(o.version),
        layout: Some(o.layout),
        kmsg: false,
        debug: false,
        reconcile: false,
    })
    .unwrap();
    (tmp, out)
}

fn all_messages(out: &Outcome) -> Vec<String> {
    out.plan
        .messages
        .iter()
        .map(|m| m.text.clone())
        .chain(out.verify_failures.iter().cloned())
        .collect()
}

#[test]
fn fixtures_match_expected_trees() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    let mut n = 0;
    for case in cases() {
        n += 1;
        let (tmp, out) = run_case(&case);
        let got = tree(&tmp.join(NORMAL));
        let exp_dir = case.join("expected");
        if bless {
            let _ = std::fs::remove_dir_all(&exp_dir);
            for (p, c) in &got {
                let f = exp_dir.join(p);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                match c {
                    Entry::File(c) => std::fs::write(f, c).unwrap(),
                    Entry::Link(t) => std::os::unix::fs::symlink(t, f).unwrap(),
                }
            }
        }
        let want = tree(&exp_dir);
        if got != want {
            failures.push(format!(
                "{}: output differs\n got: {got:#?}\n want: {want:#?}",
                case.display()
            ));
        }
        let msgs = all_messages(&out);
        let expected_msgs = std::fs::read_to_string(case.join("messages")).unwrap_or_default();
        for l in expected_msgs.lines().filter(|l| !l.is_empty()) {
            if !msgs.iter().any(|m| m.contains(l)) {
                failures.push(format!(
                    "{}: no message containing {l:?} in {msgs:#?}",
                    case.display()
                ));
            }
        }
        if !expected_msgs.contains("cannot guarantee that the binding comes first")
            && !out.verify_failures.is_empty()
        {
            failures.push(format!(
                "{}: verification failed: {:?}",
                case.display(),
                out.verify_failures
            ));
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(n >= 9, "only {n} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same generator run twice gives the same output (the output directory is not an input).
#[test]
fn rerun_is_stable() {
    let case = fixtures().join("template");
    let (tmp, first) = run_case(&case);
    let again = generator::run(&Options {
        root: tmp.clone(),
        normal: tmp.join(NORMAL),
        systemd_version: Some(252),
        layout: Some(Layout::Hybrid {
            mount: "/sys/fs/cgroup/unified".into(),
        }),
        kmsg: false,
        debug: false,
        reconcile: false,
    })
    .unwrap();
    assert_eq!(first.plan, again.plan);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The names come from the catalog's listing: unit files, symlinks and `NAME.d/` directories
/// of the handled types, once each however many directories hold them, sorted; hidden entries,
/// other types and invalid names are left out.
#[test]
fn enumeration_lists_each_name_once_sorted() {
    let root = tempdir("enumerate");
    for (dir, entries) in [
        (
            "etc/systemd/system",
            &[
                "web.service",
                "b.socket",
                ".hidden.service",
                "x.timer",
                "in valid.service",
            ][..],
        ),
        (
            "usr/lib/systemd/system",
            &["web.service", "a.slice", "z@.service"][..],
        ),
    ] {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for e in entries {
            std::fs::write(d.join(e), "[Unit]\n").unwrap();
        }
    }
    for d in [
        "etc/systemd/system/only.service.d",
        "etc/systemd/system/.h.service.d",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let catalog = Catalog::new(generator::search_path_without_generators(
        &SearchPath::system_with_env(&root, None),
    ));
    assert_eq!(
        generator::enumerate(&catalog),
        [
            "a.slice",
            "b.socket",
            "only.service",
            "web.service",
            "z@.service"
        ]
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// An alias of another template's instance names a unit no file is named after: the
/// enumeration lists it (`yup@3.service` for `bar-alias@3.service -> yup@3.service`), and
/// the instance a template alias no longer reaches (`bar@3.service`: `bar-alias@3` leads
/// elsewhere); `status` finds the units whose key sits in an alias's drop-ins.
#[test]
fn enumeration_reaches_alias_instances() {
    let root = fixtures().join("template-alias/root");
    let catalog = Catalog::new(generator::search_path_without_generators(
        &SearchPath::system_with_env(&root, None),
    ));
    let names = generator::enumerate(&catalog);
    assert_eq!(
        names,
        [
            "bar-alias@.service",
            "bar-alias@2.service",
            "bar-alias@3.service",
            "bar-alias@5.service",
            "bar@.service",
            "bar@2.service",
            "bar@3.service",
            "bar@5.service",
            "lst-alias@1.socket",
            "lst@.service",
            "lst@.socket",
            "lst@1.socket",
            "yup@.service",
            "yup@2.service",
            "yup@3.service",
        ]
    );
    assert_eq!(
        generator::mentioning(&catalog, &names, "BindNetworkInterface"),
        [
            "bar-alias@.service",
            "bar-alias@2.service",
            "bar-alias@3.service",
            "bar-alias@5.service",
            "bar@.service",
            "bar@5.service",
            "lst-alias@1.socket",
            "lst@1.socket",
            "yup@2.service",
            "yup@3.service",
        ]
    );
}

/// The attach step runs `--attach --unit=%n`, and `%n` is the unit's real name, `yup@3.service` for
/// the alias `bar-alias@3.service -> yup@3.service`: reading the unit by that name finds the
/// alias's drop-ins and expands `%p`/`%i` from it; `show bar-alias@3.service` reads the same.
#[test]
fn launcher_reads_an_alias_instance_by_its_real_name() {
    use bindif::cmd::launch::config;
    let root = fixtures().join("template-alias/root");
    for name in ["yup@3.service", "bar-alias@3.service"] {
        let cfg = config::read(&root, name, 252).unwrap();
        assert_eq!(cfg.loaded.name, "yup@3.service", "{name}");
        // bar-alias@3.service.d/bind.conf: BindNetworkInterface=%p-%i
        assert_eq!(cfg.interface(), Some("yup-3"), "{name}");
    }
    // bar-alias@2.service -> yup@.service: bar-alias@.service.d/ is yup@2's.
    let cfg = config::read(&root, "yup@2.service", 252).unwrap();
    assert_eq!(cfg.interface(), Some("mgmt"));
    // bar-alias@.service -> bar@.service reaches bar@7, not bar@3 (bar-alias@3 is yup@3).
    let cfg = config::read(&root, "bar@7.service", 252).unwrap();
    assert_eq!(cfg.interface(), Some("mgmt"));
    let cfg = config::read(&root, "bar@3.service", 252).unwrap();
    assert_eq!(cfg.interface(), None);
}

#[test]
fn wrap_lines() {
    use generator::wrap_line;
    // Absolute paths only: nothing to look up.
    let wrap_line = |v: &str| wrap_line(v, &|name: &str| panic!("looked up {name}"));
    assert_eq!(
        wrap_line("-/usr/bin/mkdir -p \"/run/l dir\"").unwrap(),
        "-/usr/lib/bindif-launch --unit=%n -- /usr/bin/mkdir -p \"/run/l dir\""
    );
    assert_eq!(
        wrap_line("\"-/usr/bin/ld ctl\" stop").unwrap(),
        "-/usr/lib/bindif-launch --unit=%n -- \"/usr/bin/ld ctl\" stop"
    );
    assert_eq!(
        wrap_line("!!/a x ; :/b $Y").unwrap(),
        "!!/usr/lib/bindif-launch --unit=%n -- /a x ; :/usr/lib/bindif-launch --unit=%n -- /b $Y"
    );
    assert_eq!(
        wrap_line("+/usr/lib/bindif-launch --attach %n").unwrap(),
        "+/usr/lib/bindif-launch --attach %n"
    );
    assert!(wrap_line("@/usr/bin/busybox httpd").is_err());
    assert!(wrap_line("/bin/x \"unbalanced").is_err());
}

// ---- systemd's own view ------------------------------------------------------------------

fn have_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The command lines of `key` in systemd's dump of `unit`, loaded under `root` with
/// `/run/systemd/generator` in the search path (`systemd-analyze verify` replaces the generator
/// directories with temporary ones, so the path is given through `$SYSTEMD_UNIT_PATH`).
fn systemd_commands(root: &Path, unit: &str, key: &str) -> Vec<String> {
    let sp = SearchPath::system_with_env(root, None);
    let dirs: Vec<String> = sp.dirs().iter().map(|d| d.display().to_string()).collect();
    let out = Command::new("systemd-analyze")
        .env("SYSTEMD_LOG_LEVEL", "debug")
        .env("SYSTEMD_UNIT_PATH", dirs.join(":"))
        .arg("verify")
        .arg("--man=no")
        .arg(format!("--root={}", root.display()))
        .arg("--")
        .arg(unit)
        .output()
        .expect("systemd-analyze");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut in_unit = false;
    let mut in_key = false;
    let mut v = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(u) = t.strip_prefix("-> Unit ") {
            if in_unit {
                break;
            }
            in_unit = u.trim_end_matches(':') == unit;
            continue;
        }
        if !in_unit {
            continue;
        }
        if let Some(k) = t.strip_prefix("-> ") {
            in_key = k.trim_end_matches(':') == key;
            continue;
        }
        if in_key {
            if let Some(c) = t.strip_prefix("Command Line: ") {
                v.push(c.to_string());
            }
        }
    }
    if text.contains(&format!("Unit {unit} is masked.")) {
        return vec!["(masked)".to_string()];
    }
    assert!(in_unit, "no dump of {unit}: {text}");
    v
}

#[test]
fn systemd_runs_the_attach_step_first() {
    if !have_systemd_analyze() {
        eprintln!("systemd-analyze not installed: skipping the cross-check");
        return;
    }
    // The attach step with the value the generator resolved, as systemd expands it for the
    // unit: `%i` left in a template's line is the instance's (`sshd@any` binds to `any`).
    let attach =
        |u: &str, v: &str| format!("/usr/lib/bindif-launch --attach --unit={u} --resolved={v}");
    // (case, unit, key, expected command lines as systemd prints them; "*" = any)
    let table: &[(&str, &str, &str, Vec<String>)] = &[
        (
            "basic",
            "plain.service",
            "ExecStartPre",
            vec![
                attach("plain.service", "mgmt"),
                "/usr/bin/echo \"first pre\" plain.service".into(),
                "/usr/bin/true from-override".into(),
            ],
        ),
        (
            "basic",
            "nopre.service",
            "ExecStartPre",
            vec![attach("nopre.service", "vrf-blue")],
        ),
        (
            "basic",
            "later.service",
            "ExecStartPre",
            vec![
                attach("later.service", "mgmt"),
                "/usr/bin/true a".into(),
                "/usr/bin/true appended-after-ours".into(),
            ],
        ),
        ("basic", "resetkey.service", "ExecStartPre", vec![]),
        (
            "reset",
            "r.service",
            "ExecStartPre",
            vec![
                attach("r.service", "mgmt"),
                "/usr/bin/true replaced".into(),
                "/usr/bin/true \"two words\"".into(),
            ],
        ),
        // The case the generator warns about: a later drop-in resets the list.
        (
            "reset",
            "late-reset.service",
            "ExecStartPre",
            vec!["/usr/bin/true runs-before-attach".into()],
        ),
        (
            "condition",
            "c.service",
            "ExecCondition",
            vec![
                attach("c.service", "mgmt"),
                "/usr/bin/test -e /etc/c.conf".into(),
                "/usr/bin/true second-condition".into(),
            ],
        ),
        (
            "condition",
            "c.service",
            "ExecStartPre",
            vec!["/usr/bin/true pre".into()],
        ),
        (
            "template",
            "sshd@any.service",
            "ExecStartPre",
            vec![
                attach("sshd@any.service", "any"),
                "/usr/sbin/sshd -t".into(),
            ],
        ),
        (
            "template",
            "sshd@plain.service",
            "ExecStartPre",
            vec![
                attach("sshd@plain.service", "plain"),
                "/usr/sbin/sshd -t".into(),
            ],
        ),
        (
            "template",
            "sshd@mgmt.service",
            "ExecStartPre",
            vec![
                attach("sshd@mgmt.service", "mgmt"),
                "/usr/sbin/sshd -t".into(),
                "/usr/bin/logger \"mgmt instance mgmt\"".into(),
            ],
        ),
        (
            "template",
            "sshd@off.service",
            "ExecStartPre",
            vec!["/usr/sbin/sshd -t".into()],
        ),
        (
            "template",
            "web@blue.service",
            "ExecStartPre",
            vec![attach("web@blue.service", "blue")],
        ),
        ("template", "web@red.service", "ExecStartPre", vec![]),
        (
            "template",
            "web-api@green.service",
            "ExecStartPre",
            vec![
                attach("web-api@green.service", "vrf-green"),
                "/usr/bin/true green-only".into(),
            ],
        ),
        (
            "template",
            "web-api@blue.service",
            "ExecStartPre",
            vec![attach("web-api@blue.service", "vrf-blue")],
        ),
        (
            "socket",
            "s.socket",
            "ExecStartPre",
            vec![
                attach("s.socket", "mgmt"),
                "/usr/bin/true socket-pre".into(),
            ],
        ),
        (
            "dropin-dirs",
            "foo-a.service",
            "ExecStartPre",
            vec![
                attach("foo-a.service", "mgmt"),
                "/usr/bin/true every-service".into(),
            ],
        ),
        (
            "dropin-dirs",
            "foo-b.service",
            "ExecStartPre",
            vec![
                attach("foo-b.service", "mgmt"),
                "/usr/bin/true b".into(),
                "/usr/bin/true every-service".into(),
                "/usr/bin/true runtime".into(),
            ],
        ),
        (
            "dropin-dirs",
            "other.service",
            "ExecStartPre",
            vec!["/usr/bin/true every-service".into()],
        ),
        (
            "dropin-dirs",
            "clash.service",
            "ExecStartPre",
            vec![
                "/usr/bin/true every-service".into(),
                "/usr/bin/true hand-made".into(),
            ],
        ),
        // An alias of another template's instance (TEST-15-DROPIN.sh's bar-alias@3 ->
        // yup@3): the unit is yup@3.service, %n in the attach step expands to that name, and
        // the key set only in bar-alias@3.service.d/ or bar-alias@.service.d/ binds it.
        (
            "template-alias",
            "yup@3.service",
            "ExecStartPre",
            vec![
                attach("yup@3.service", "yup-3"),
                "/usr/bin/true yup@3.service".into(),
                "/usr/bin/true three".into(),
            ],
        ),
        (
            "template-alias",
            "yup@2.service",
            "ExecStartPre",
            vec![
                attach("yup@2.service", "mgmt"),
                "/usr/bin/true yup@2.service".into(),
            ],
        ),
        (
            "template-alias",
            "yup@7.service",
            "ExecStartPre",
            vec!["/usr/bin/true yup@7.service".into()],
        ),
        // bar-alias@.service -> bar@.service: its drop-ins reach every bar@X but the ones
        // whose bar-alias@X leads elsewhere.
        (
            "template-alias",
            "bar@7.service",
            "ExecStartPre",
            vec![attach("bar@7.service", "mgmt")],
        ),
        // bar-alias@5.service.d/ alone: bar@5 (what bar-alias@5 loads as) has its own
        // ExecStartPre=, which the template's generated drop-in would reset.
        (
            "template-alias",
            "bar@5.service",
            "ExecStartPre",
            vec![attach("bar@5.service", "mgmt"), "/usr/bin/true five".into()],
        ),
        ("template-alias", "bar@2.service", "ExecStartPre", vec![]),
        ("template-alias", "bar@3.service", "ExecStartPre", vec![]),
        (
            "template-alias",
            "lst@1.socket",
            "ExecStartPre",
            vec![attach("lst@1.socket", "mgmt")],
        ),
        // A name that starts with "-", as systemd-escape makes them; the launcher's
        // view of these lines is checked below.
        (
            "legacy",
            "-dash.service",
            "ExecStartPre",
            vec![attach("-dash.service", "mgmt")],
        ),
        (
            "legacy",
            "-dash.service",
            "ExecStart",
            vec![
                "/run/systemd/generator/bindif-launch-exec/sleep --unit=-dash.service -- /usr/bin/sleep infinity"
                    .into(),
            ],
        ),
        (
            "masked",
            "empty.service",
            "ExecStartPre",
            vec!["(masked)".into()],
        ),
        (
            "masked",
            "m.service",
            "ExecStartPre",
            vec!["(masked)".into()],
        ),
    ];
    let mut roots: BTreeMap<&str, PathBuf> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, unit, key, want) in table {
        let root = roots
            .entry(case)
            .or_insert_with(|| run_case(&fixtures().join(case)).0);
        let got = systemd_commands(root, unit, key);
        if &got != want {
            failures.push(format!(
                "{case}: {unit} {key}=\n systemd: {got:#?}\n expected: {want:#?}"
            ));
        }
    }
    // What the launcher makes of the lines systemd runs for a unit named "-dash.service": the
    // unit's name, never an option.
    let legacy_root = roots["legacy"].clone();
    for (key, attach_mode) in [("ExecStartPre", true), ("ExecStart", false)] {
        for line in systemd_commands(&legacy_root, "-dash.service", key) {
            let words: Vec<std::ffi::OsString> =
                line.split_whitespace().skip(1).map(Into::into).collect();
            let unit = match bindif::cli::parse(words).map(|a| a.mode) {
                Ok(bindif::cli::Mode::Attach { unit, .. }) if attach_mode => unit,
                Ok(bindif::cli::Mode::Unit { unit, .. }) if !attach_mode => unit,
                other => panic!("{key}={line}: {other:?}"),
            };
            assert_eq!(unit, "-dash.service", "{key}={line}");
        }
    }
    // Legacy: every command line systemd would run is the original one behind the launcher.
    let legacy = fixtures().join("legacy");
    let orig = tempdir("legacy-orig");
    common::copy_tree(&legacy.join("root"), &orig);
    let wrapped = roots
        .entry("legacy")
        .or_insert_with(|| run_case(&legacy).0)
        .clone();
    let mut compared = 0;
    for key in [
        "ExecStartPre",
        "ExecStart",
        "ExecStartPost",
        "ExecReload",
        "ExecStop",
    ] {
        let before = systemd_commands(&orig, "l.service", key);
        let after = systemd_commands(&wrapped, "l.service", key);
        // The attach step first, then each original command behind the launcher.
        let attach = (key == "ExecStartPre").then(|| {
            "/usr/lib/bindif-launch --attach --unit=l.service --resolved=mgmt".to_string()
        });
        // Behind a link named after the command's executable where one can be: systemd names
        // the command's output after the file name of the path it executes, which is then the
        // original command's.
        let want: Vec<String> = attach
            .into_iter()
            .chain(before.iter().map(|c| {
                let launcher = generator::link_name(executable(c))
                    .map_or("/usr/lib/bindif-launch".to_string(), |n| {
                        format!("/run/systemd/generator/bindif-launch-exec/{n}")
                    });
                format!("{launcher} --unit=l.service -- {c}")
            }))
            .collect();
        let skip = usize::from(key == "ExecStartPre");
        for (b, a) in before.iter().zip(after.iter().skip(skip)) {
            let name = |c: &str| executable(c).rsplit('/').next().unwrap().to_string();
            if generator::link_name(executable(b)).is_some() {
                assert_eq!(name(a), name(b), "{key}: {a} for {b}");
            }
        }
        compared += before.len();
        if after != want {
            failures.push(format!(
                "legacy: l.service {key}=\n systemd: {after:#?}\n expected: {want:#?}"
            ));
        }
    }
    assert_eq!(compared, 6);
    let _ = std::fs::remove_dir_all(&orig);
    for r in roots.values() {
        let _ = std::fs::remove_dir_all(r);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The executable's path in a command line as [`systemd_commands`] gives it: the first word,
/// or the quoted first word.
fn executable(c: &str) -> &str {
    match c.strip_prefix('"') {
        Some(q) => q.split('"').next().unwrap(),
        None => c.split(' ').next().unwrap(),
    }
}

/// The dependency lines (`Before: mgmt.slice (origin-file)` → `Before: mgmt.slice`) and
/// command lines of `unit` in systemd's dump, loaded as [`systemd_commands`] loads it.
fn systemd_dump(root: &Path, unit: &str) -> Vec<String> {
    let sp = SearchPath::system_with_env(root, None);
    let dirs: Vec<String> = sp.dirs().iter().map(|d| d.display().to_string()).collect();
    let out = Command::new("systemd-analyze")
        .env("SYSTEMD_LOG_LEVEL", "debug")
        .env("SYSTEMD_UNIT_PATH", dirs.join(":"))
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .args(["--", unit])
        .output()
        .expect("systemd-analyze");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut in_unit = false;
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(u) = line.strip_prefix("-> Unit ") {
            if in_unit {
                break;
            }
            in_unit = u.trim_end_matches(':') == unit;
        } else if in_unit {
            let line = line.split(" (").next().unwrap_or(line);
            lines.push(line.to_string());
        }
    }
    assert!(in_unit, "no dump of {unit}: {text}");
    lines
}

/// Issue 14 #2: systemd itself reads the generated slice drop-ins and helper as intended: the
/// slice wants its helper, which runs before it, stops with it and lives in the root slice.
#[test]
fn systemd_wires_each_bound_slice_to_its_helper() {
    if !have_systemd_analyze() {
        eprintln!("systemd-analyze not installed: skipping the cross-check");
        return;
    }
    let (root, _) = run_case(&fixtures().join("slice"));
    let mut failures = Vec::new();
    // An escaped name reaches the launcher as it is: `%i` is the raw instance, and systemd
    // expands specifiers after it unescaped the words (the dump quotes the backslash).
    for (slice, arg) in [
        ("mgmt.slice", "mgmt.slice"),
        ("mgmt-inner.slice", "mgmt-inner.slice"),
        ("system.slice", "system.slice"),
        ("vrf\\x2dmgmt.slice", "\"vrf\\\\x2dmgmt.slice\""),
    ] {
        let helper = format!("bindif-launch-slice@{slice}.service");
        let got = systemd_dump(&root, &helper);
        for want in [
            format!("Before: {slice}"),
            format!("PartOf: {slice}"),
            format!("WantedBy: {slice}"),
            "Slice: -.slice".to_string(),
            format!("Command Line: /usr/lib/bindif-launch --attach-slice {arg}"),
        ] {
            if !got.contains(&want) {
                failures.push(format!("{helper}: no {want:?} in {got:#?}"));
            }
        }
        if !systemd_dump(&root, slice).contains(&format!("Wants: {helper}")) {
            failures.push(format!("{slice} does not want {helper}"));
        }
        // The root slice, never the one it binds: no cycle, even for system.slice.
        if got.contains(&format!("After: {slice}")) {
            failures.push(format!("{helper} is ordered after {slice}"));
        }
    }
    for unbound in ["reset.slice", "plain.slice"] {
        let got = systemd_dump(&root, unbound);
        if got
            .iter()
            .any(|l| l.starts_with("Wants: bindif-launch-slice@"))
        {
            failures.push(format!("{unbound} wants a helper: {got:#?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- writing the output ----------------------------------------------------------------

/// A root whose units each carry `BindNetworkInterface=`, and an empty output directory in it.
fn bound_units_root(tag: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let tmp = tempdir(tag);
    let lib = tmp.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&lib).unwrap();
    for n in names {
        std::fs::write(
            lib.join(n),
            "[Service]\nExecStart=/usr/bin/sleep infinity\nBindNetworkInterface=mgmt\n",
        )
        .unwrap();
    }
    let normal = tmp.join(NORMAL);
    std::fs::create_dir_all(&normal).unwrap();
    (tmp, normal)
}

fn run_hybrid(root: &Path, normal: &Path) -> Outcome {
    generator::run(&Options {
        root: root.to_path_buf(),
        normal: normal.to_path_buf(),
        systemd_version: Some(252),
        layout: Some(Layout::Hybrid {
            mount: "/sys/fs/cgroup/unified".into(),
        }),
        kmsg: false,
        debug: false,
        reconcile: false,
    })
    .unwrap()
}

fn dropin(normal: &Path, unit: &str) -> PathBuf {
    normal
        .join(format!("{unit}.d"))
        .join(generator::DROPIN_NAME)
}

/// A template whose name cannot take the generator's placeholder instance (a prefix of 215 and
/// more characters: the name would pass 255) cannot be evaluated, though instances with short
/// instance strings have valid names: it is named in a warning, not skipped at debug level as a
/// unit without a fragment, so nobody finds its instances unbound without a word. A template
/// just short enough is evaluated as any other.
#[test]
fn a_template_too_long_for_the_placeholder_is_named_in_a_warning() {
    let long = format!("{}@.service", "a".repeat(220));
    let fits = format!("{}@.service", "b".repeat(200));
    let (root, normal) = bound_units_root("long-template", &[&long, &fits]);
    let out = run_hybrid(&root, &normal);
    let warned: Vec<&str> = out
        .plan
        .messages
        .iter()
        .filter(|m| m.level == bindif::log::Level::Warning)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with(&format!("Skipping {long}: with the instance ")),
        "{warned:?}"
    );
    assert!(warned[0].contains("start unbound"), "{warned:?}");
    assert!(
        dropin(&normal, &fits).exists(),
        "the template that fits is planned"
    );
    assert!(!dropin(&normal, &long).exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// Issue 13 #6: a 255-byte unit name makes `NAME.d` longer than NAME_MAX. That unit's drop-in
/// fails with a message naming the path and the errno; every other unit, also those sorting
/// after it, still gets its drop-in; the generator exits 1 at the end.
#[test]
fn unwritable_dropin_does_not_stop_the_others() {
    let long = format!("{}.service", "x".repeat(255 - ".service".len()));
    let (tmp, normal) = bound_units_root("long-name", &["a.service", &long, "z.service"]);
    let out = run_hybrid(&tmp, &normal);
    let msgs: Vec<String> = out.write_failures.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        [format!(
            "Failed to create directory {}: File name too long",
            normal.join(format!("{long}.d")).display()
        )]
    );
    assert!(dropin(&normal, "a.service").is_file());
    assert!(dropin(&normal, "z.service").is_file());
    assert!(out.verify_failures.is_empty(), "{:?}", out.verify_failures);

    // The command: the same message at error level on stderr, status 1 after writing the rest.
    let out2 = tmp.join("out2");
    let st = Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
        .arg("generate")
        .arg(format!("--root={}", tmp.display()))
        .arg("--systemd-version=252")
        .arg("--layout=hybrid")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1), "{st:?}");
    let stderr = String::from_utf8_lossy(&st.stderr);
    assert!(
        stderr.contains(&format!(
            "bindif-launch-generator: Failed to create directory {}: File name too long\n",
            out2.join(format!("{long}.d")).display()
        )),
        "{stderr}"
    );
    assert!(dropin(&out2, "z.service").is_file());
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Issue 13 #6: symlinks already in the output directory are never written through. A symlink
/// where our file goes is replaced; a symlink where `NAME.d/` goes is refused (ELOOP).
#[test]
fn symlinks_in_the_output_are_not_followed() {
    let (tmp, normal) = bound_units_root("symlinks", &["a.service", "z.service"]);
    let victim = tmp.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let victim_dir = tmp.join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    std::fs::create_dir(normal.join("a.service.d")).unwrap();
    std::os::unix::fs::symlink(&victim, dropin(&normal, "a.service")).unwrap();
    std::os::unix::fs::symlink(&victim_dir, normal.join("z.service.d")).unwrap();

    let out = run_hybrid(&tmp, &normal);

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let ours = std::fs::symlink_metadata(dropin(&normal, "a.service")).unwrap();
    assert!(ours.file_type().is_file(), "{ours:?}");
    assert!(std::fs::read_to_string(dropin(&normal, "a.service"))
        .unwrap()
        .contains("ExecStartPre=+/usr/lib/bindif-launch --attach --unit=%n --resolved="));
    assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0);
    assert!(std::fs::symlink_metadata(normal.join("z.service.d"))
        .unwrap()
        .file_type()
        .is_symlink());
    let msgs: Vec<String> = out.write_failures.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        [format!(
            "Failed to create directory {}: Too many levels of symbolic links",
            normal.join("z.service.d").display()
        )]
    );
    // No temporary file is left next to ours.
    let names: Vec<_> = std::fs::read_dir(normal.join("a.service.d"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, [generator::DROPIN_NAME]);
    let _ = std::fs::remove_dir_all(&tmp);
}

fn run_legacy(root: &Path, normal: &Path) -> Outcome {
    generator::run(&Options {
        root: root.to_path_buf(),
        normal: normal.to_path_buf(),
        systemd_version: Some(252),
        layout: Some(Layout::Legacy),
        kmsg: false,
        debug: false,
        reconcile: false,
    })
    .unwrap()
}

/// Issue 20 #4: the links to the launcher are written as the drop-ins are, never through what
/// is already there: a symlink where a link goes is replaced (its target untouched), and a
/// `bindif-launch-exec` that is not a directory of its own is refused, its commands then
/// running the launcher under its own name (logged), never a link that is not there.
#[test]
fn exec_links_never_write_through_what_is_there() {
    let (tmp, normal) = bound_units_root("exec-links", &["a.service"]);
    let links = normal.join("bindif-launch-exec");
    std::fs::create_dir(&links).unwrap();
    let victim = tmp.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, links.join("sleep")).unwrap();
    let out = run_legacy(&tmp, &normal);
    assert!(out.write_failures.is_empty(), "{:?}", out.write_failures);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(
        std::fs::read_link(links.join("sleep")).unwrap(),
        Path::new("/usr/lib/bindif-launch")
    );
    let names: Vec<_> = std::fs::read_dir(&links)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["sleep"], "no temporary link is left");
    assert!(std::fs::read_to_string(dropin(&normal, "a.service"))
        .unwrap()
        .contains("\nExecStart=/run/systemd/generator/bindif-launch-exec/sleep --unit=%n -- /usr/bin/sleep infinity\n"));
    assert!(out.verify_failures.is_empty(), "{:?}", out.verify_failures);

    // The directory a symlink to another one: refused, nothing written there.
    std::fs::remove_dir_all(&normal).unwrap();
    std::fs::create_dir_all(&normal).unwrap();
    let victim_dir = tmp.join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    std::os::unix::fs::symlink(&victim_dir, &links).unwrap();
    let out = run_legacy(&tmp, &normal);
    assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0);
    let text = std::fs::read_to_string(dropin(&normal, "a.service")).unwrap();
    assert!(
        text.contains("\nExecStart=/usr/lib/bindif-launch --unit=%n -- /usr/bin/sleep infinity\n"),
        "{text}"
    );
    assert!(out.verify_failures.is_empty(), "{:?}", out.verify_failures);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Issue 13 #18: on a legacy host a plain command name is wrapped as the path systemd's fixed
/// search path gives (below the root), not left to the launcher's `$PATH` lookup, which the
/// unit's `Environment=PATH=` controls. A name the search path does not hold is refused.
#[test]
fn legacy_wrapper_uses_systemds_search_path() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir("legacy-path");
    let lib = tmp.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&lib).unwrap();
    for (dir, mode) in [
        ("usr/bin", 0o755),
        ("usr/local/bin", 0o644),
        ("evil", 0o755),
    ] {
        std::fs::create_dir_all(tmp.join(dir)).unwrap();
        let tool = tmp.join(dir).join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::write(
        lib.join("p.service"),
        "[Service]\nEnvironment=PATH=/evil\nExecStart=tool --flag\nBindNetworkInterface=mgmt\n",
    )
    .unwrap();
    std::fs::write(
        lib.join("q.service"),
        "[Service]\nExecStart=/usr/bin/tool\nExecStopPost=-no-such-tool\nBindNetworkInterface=mgmt\n",
    )
    .unwrap();
    let normal = tmp.join(NORMAL);
    std::fs::create_dir_all(&normal).unwrap();
    let out = generator::run(&Options {
        root: tmp.clone(),
        normal: normal.clone(),
        systemd_version: Some(252),
        layout: Some(Layout::Legacy),
        kmsg: false,
        debug: false,
        reconcile: false,
    })
    .unwrap();
    // /usr/local/bin/tool comes first in the path but is not executable: /usr/bin/tool.
    let text = std::fs::read_to_string(dropin(&normal, "p.service")).unwrap();
    assert!(
        text.ends_with(
            "ExecStart=\nExecStart=/run/systemd/generator/bindif-launch-exec/tool --unit=%n -- /usr/bin/tool --flag\n"
        ),
        "{text}"
    );
    assert!(!dropin(&normal, "q.service").exists());
    let msgs = all_messages(&out);
    assert!(
        msgs.iter().any(|m| m.starts_with("Skipping q.service: ")
            && m.ends_with("ExecStopPost=-no-such-tool cannot be wrapped with the launcher: no-such-tool is not an executable in systemd's search path (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)")),
        "{msgs:#?}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

// ---- the two command-line forms --------------------------------------------------------

#[test]
fn cli_generate_subcommand() {
    let case = fixtures().join("basic");
    let tmp = tempdir("cli");
    common::copy_tree(&case.join("root"), &tmp);
    let out = tmp.join("out");
    let st = Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
        .arg("generate")
        .arg(format!("--root={}", tmp.display()))
        .arg("--systemd-version=252")
        .arg("--layout=unified")
        .arg(&out)
        .arg(tmp.join("early"))
        .arg(tmp.join("late"))
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    assert!(out
        .join("plain.service.d")
        .join(generator::DROPIN_NAME)
        .is_file());
    // ≥ 260: nothing written.
    let out2 = tmp.join("out2");
    let st = Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
        .arg("generate")
        .arg(format!("--root={}", tmp.display()))
        .arg("--systemd-version=261")
        .arg(&out2)
        .arg(tmp.join("early"))
        .arg(tmp.join("late"))
        .output()
        .unwrap();
    assert!(st.status.success());
    assert!(tree(&out2).is_empty());
    // An unwritable output directory is the one failure.
    let st = Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
        .arg("generate")
        .arg(format!("--root={}", tmp.display()))
        .arg("--systemd-version=252")
        .arg("--layout=hybrid")
        .arg("/proc/version/x")
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1), "{st:?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The installed form: argv[0] is `bindif-launch-generator`, three directories, the host's
/// own units, version and layout. On this machine's units nothing carries the key; it must
/// exit 0 and finish quickly.
#[test]
fn cli_generator_argv0_on_this_host() {
    let tmp = tempdir("argv0");
    let link = tmp.join("bindif-launch-generator");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bindif-launch"), &link).unwrap();
    let t = Instant::now();
    let st = Command::new(&link)
        .env("SYSTEMD_LOG_TARGET", "console")
        .arg(tmp.join("normal"))
        .arg(tmp.join("early"))
        .arg(tmp.join("late"))
        .output()
        .unwrap();
    eprintln!(
        "generator on this host: {:?}, stderr: {}",
        t.elapsed(),
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(st.status.success(), "{st:?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

// ---- timing ----------------------------------------------------------------------------

/// A synthetic tree of 5,000 units: plain services, bound services with drop-ins, templates with
/// instance directories. Prints the wall time (no timed assertion).
#[test]
fn timing_5000_units() {
    // Pessimistic: every tenth unit a bound template with an instance directory, a fifth of the
    // rest bound (2,000 drop-ins). Typical: ten bound units among 5,000.
    timing(10, "pessimistic");
    timing(500, "typical");
}

fn timing(every: usize, label: &str) {
    // On tmpfs when there is one, as /run (the output directory) is at boot.
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        let d = shm.join(format!("bindif-generator-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    } else {
        tempdir("bench")
    };
    let lib = tmp.join("usr/lib/systemd/system");
    let etc = tmp.join("etc/systemd/system");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    let mut bound = 0;
    for i in 0..5000 {
        let (name, key) = match i % every {
            0 => (format!("tpl{i}@.service"), true),
            1 | 2 => (format!("bound{i}.service"), true),
            _ => (format!("plain{i}.service"), false),
        };
        let mut text = format!(
            "[Unit]\nDescription=unit {i}\nAfter=network.target\n\n[Service]\nExecStartPre=/usr/bin/true {i}\nExecStart=/usr/bin/sleep infinity\nUser=nobody\nProtectSystem=strict\n"
        );
        if key {
            text.push_str("BindNetworkInterface=%i\n");
            bound += 1;
        }
        text.push_str("\n[Install]\nWantedBy=multi-user.target\n");
        std::fs::write(lib.join(&name), text).unwrap();
        if i % 5 == 0 {
            let d = if name.contains('@') {
                etc.join(name.replace("@.", "@x.") + ".d")
            } else {
                etc.join(format!("{name}.d"))
            };
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("override.conf"),
                "[Service]\nExecStartPre=/usr/bin/true override\nEnvironment=A=b\n",
            )
            .unwrap();
        }
    }
    let normal = tmp.join(NORMAL);
    std::fs::create_dir_all(&normal).unwrap();
    let t = Instant::now();
    let out = generator::run(&Options {
        root: tmp.clone(),
        normal,
        systemd_version: Some(252),
        layout: Some(Layout::Hybrid {
            mount: "/sys/fs/cgroup/unified".into(),
        }),
        kmsg: false,
        debug: false,
        reconcile: false,
    })
    .unwrap();
    let wall = t.elapsed();
    // Straight to fd 2, past libtest's capture, so the timing shows in every test run.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "TIMING generator ({label}): {} units examined, {} drop-ins written, {:?} wall ({:?} inside run)\n",
            out.units_seen,
            out.plan.files.len(),
            wall,
            out.elapsed
        )
        .as_bytes(),
    );
    // Every bound unit gets a drop-in, plus one per template instance directory.
    // Templates with an instance directory (i % 5 == 0) get one more file each.
    let templates = (0..5000).filter(|i| i % every == 0 && i % 5 == 0).count();
    assert_eq!(out.units_seen, 5000 + templates);
    assert_eq!(out.plan.files.len(), bound + templates);
    assert!(out.verify_failures.is_empty(), "{:?}", out.verify_failures);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The pure core on its own: the same inputs give drop-ins before v260 and nothing from v260 on.
#[test]
fn pure_plan_depends_on_version() {
    let root = fixtures().join("template/root");
    let sp = generator::search_path_without_generators(&SearchPath::system_with_env(&root, None));
    let cat = bindif::unit::catalog::Catalog::new(sp);
    let names = generator::enumerate(&cat);
    assert!(names.contains(&"sshd@.service".to_string()));
    assert!(names.contains(&"sshd@mgmt.service".to_string()));
    let inputs = generator::load_all(&cat, &names);
    let find = |name: &str| generator::find_in_systemd_path(&root, name);
    // Pure: the host facts are given (none of the fixture's values uses one).
    let facts = bindif::unit::specifier::HostFacts::default();
    let host = bindif::unit::specifier::HostSource::Given(&facts);
    let plan = |inputs: &[generator::Input], layout: &Layout, version: Option<u32>| {
        let launchers = generator::Launchers::in_output(Path::new("/run/systemd/generator"));
        generator::plan(inputs, layout, version, &find, &launchers, host)
    };
    let hybrid = Layout::Hybrid {
        mount: "/sys/fs/cgroup/unified".into(),
    };
    let before = plan(&inputs, &hybrid, Some(259));
    assert_eq!(before.files.len(), 6, "{:#?}", before.files);
    assert!(plan(&inputs, &hybrid, None).files.len() == 6);
    for v in [260, 262] {
        let p = plan(&inputs, &hybrid, Some(v));
        assert!(p.files.is_empty() && p.checks.is_empty());
    }
    let legacy = plan(&inputs, &Layout::Legacy, Some(252));
    // Legacy: the attach step (a `+` command) prepares the mirror, the wrapped commands enter it.
    // (An instance's empty file that cancels its template's drop-in has no commands.)
    let with_commands: Vec<_> = legacy
        .files
        .iter()
        .filter(|f| f.content.contains("\nExec"))
        .collect();
    assert!(!with_commands.is_empty());
    // Each wrapped command runs a link to the launcher named after its executable.
    for f in with_commands {
        assert!(
            f.content
                .contains("=+/usr/lib/bindif-launch --attach --unit=%n --resolved=")
                && f.content
                    .contains("=/run/systemd/generator/bindif-launch-exec/")
                && !f.content.contains("=/usr/lib/bindif-launch --unit=%n -- "),
            "{f:#?}"
        );
    }
    assert!(legacy.links.contains("sshd"), "{:?}", legacy.links);
}

/// The parallel map keeps the input's order and loses nothing, whatever the size and chunking.
#[test]
fn map_ordered_is_an_ordered_map() {
    for n in [0usize, 1, 255, 256, 513, 1000, 5001] {
        let items: Vec<usize> = (0..n).collect();
        let seq: Vec<String> = items.iter().map(|i| format!("u{i}")).collect();
        assert_eq!(
            generator::map_ordered(&items, |i| format!("u{i}")),
            seq,
            "n = {n}"
        );
    }
}

/// Issue 20 #3: on a legacy host the generator names each unit it cannot bind and why, once
/// per unit, as a warning (the kernel log, where the journal picks it up). Issue 15: units
/// whose commands may not move themselves (User=, DynamicUser=, ProtectSystem=strict) ask the
/// enter service and are bound; only units that hide its FIFO from their commands are named
/// (a path beside it, /run/bindif-launch-other, hides nothing; /var/run is /run, and
/// TemporaryFileSystem=%t/systemd hides the links but not the FIFO).
#[test]
fn legacy_names_each_unit_it_cannot_bind_once() {
    let (root, out) = run_case(&fixtures().join("legacy"));
    let _ = std::fs::remove_dir_all(&root);
    let warnings: Vec<&str> = out
        .plan
        .messages
        .iter()
        .filter(|m| m.level == bindif::log::Level::Warning)
        .map(|m| m.text.as_str())
        .filter(|t| t.contains("cannot be bound on this legacy cgroup host"))
        .collect();
    let units: Vec<&str> = warnings
        .iter()
        .map(|t| t.split(':').next().unwrap())
        .collect();
    assert_eq!(
        units,
        ["hidden.service", "tmpfs.service", "varrun.service"],
        "{warnings:#?}"
    );
}

/// Issue 15: on a legacy host, systemd itself reads the generated `BindToDevice=` of a socket
/// unit (its listeners are PID 1's there) and adds the device dependency the man pages
/// describe; a unit's own `BindToDevice=` is kept, `lo` gets no device, and a later reset wins.
#[test]
fn systemd_binds_legacy_listeners_to_the_device() {
    if !have_systemd_analyze() {
        eprintln!("systemd-analyze not installed: skipping the cross-check");
        return;
    }
    let (root, _) = run_case(&fixtures().join("socket-legacy"));
    let mut failures = Vec::new();
    let device = |i: &str| format!("sys-subsystem-net-devices-{i}.device");
    // (unit, lines the dump must hold, lines it must not)
    let table: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "plain.socket",
            vec![
                "BindToDevice: mgmt".into(),
                format!("BindsTo: {}", device("mgmt")),
                format!("After: {}", device("mgmt")),
            ],
            vec![],
        ),
        (
            "vrf@blue.socket",
            vec!["BindToDevice: vrf-blue".into()],
            vec![],
        ),
        (
            "hookvrf@red.socket",
            vec!["BindToDevice: vrf-red".into()],
            vec![],
        ),
        (
            "own.socket",
            vec!["BindToDevice: eth1".into()],
            vec!["BindToDevice: mgmt".into()],
        ),
        (
            "loop.socket",
            vec!["BindToDevice: lo".into()],
            vec![format!("BindsTo: {}", device("lo"))],
        ),
        // Reset after the drop-in; the ifindex after that is ignored, as the generator assumes.
        (
            "undone.socket",
            vec![],
            vec!["BindToDevice: mgmt".into(), "BindToDevice: 7".into()],
        ),
        ("reset.socket", vec![], vec!["BindToDevice: mgmt".into()]),
    ];
    for (unit, want, not) in table {
        let got = systemd_dump(&root, unit);
        for w in want.iter().filter(|w| !got.contains(w)) {
            failures.push(format!("{unit}: no {w:?} in {got:#?}"));
        }
        for n in not.iter().filter(|n| got.contains(n)) {
            failures.push(format!("{unit}: {n:?} in {got:#?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 15: each socket unit whose listeners cannot be bound on a legacy host is named once,
/// its instances that can be bound not at all.
#[test]
fn legacy_names_each_socket_it_cannot_bind_once() {
    let (root, out) = run_case(&fixtures().join("socket-legacy"));
    let _ = std::fs::remove_dir_all(&root);
    let mut units: Vec<&str> = out
        .plan
        .messages
        .iter()
        .filter(|m| m.level == bindif::log::Level::Warning)
        .map(|m| m.text.as_str())
        .filter(|t| t.contains("listeners cannot be bound"))
        .map(|t| {
            let t = t.strip_prefix("Skipping ").unwrap_or(t);
            t.split(':').next().unwrap()
        })
        .collect();
    units.sort_unstable();
    assert_eq!(
        units,
        [
            "altname.socket",
            "h@.socket",
            "hookvrf@.socket",
            "t@.socket",
            "vrf@.socket"
        ],
        "{:#?}",
        out.plan.messages
    );
}
