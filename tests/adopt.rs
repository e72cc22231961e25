// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch adopt` against fixture trees (`tests/fixtures/adopt/CASE/{root,expected}`):
//! `expected` is the text output for systemd 252 (`BLESS=1` rewrites it). `--write` is run on
//! temporary copies of the roots: the new drop-in is created, the old overrides are moved
//! aside byte for byte, the units then load with the packaged command, the right `User=` and
//! `BindNetworkInterface=`, and a second run refuses to overwrite anything.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bindif::cmd::adopt::plan::{Plan, ASIDE_SUFFIX};
use bindif::cmd::adopt::{gather, render, write};
use bindif::unit::load::load;
use bindif::unit::paths::under_root;
use bindif::unit::LoadedUnit;

fn fixtures() -> PathBuf {
    common::fixtures("adopt")
}

fn cases() -> Vec<PathBuf> {
    common::fixture_cases("adopt")
}

fn case(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// A temporary copy of a case's root.
fn copy_root(name: &str) -> PathBuf {
    let tmp = common::tempdir(&format!("adopt-{name}"));
    common::copy_tree(&case(name).join("root"), &tmp);
    tmp
}

#[test]
fn fixtures_match_expected_output() {
    let cases = cases();
    assert!(cases.len() >= 8, "fixture cases missing: {cases:?}");
    let mut mismatches = Vec::new();
    for c in cases {
        let plans = gather(&c.join("root"), &[]);
        let text = render::render_text(&plans, Some(252), false);
        let expected_path = c.join("expected");
        if std::env::var_os("BLESS").is_some() {
            fs::write(&expected_path, &text).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        if text != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{text}",
                c.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn plans_of(root: &Path) -> Vec<Plan> {
    gather(root, &[])
}

fn exec_start(u: &LoadedUnit) -> Vec<String> {
    let mut v = Vec::new();
    for a in u.values("Service", "ExecStart") {
        if a.value.is_empty() {
            v.clear();
        } else {
            v.push(a.value.clone());
        }
    }
    v
}

fn last(u: &LoadedUnit, key: &str) -> Option<String> {
    u.values("Service", key).last().map(|a| a.value.clone())
}

/// Writes every adoptable plan of a copy of `name`'s root; checks the files; returns the root.
fn write_case(name: &str) -> (PathBuf, Vec<Plan>) {
    let root = copy_root(name);
    let plans: Vec<Plan> = plans_of(&root)
        .into_iter()
        .filter(|p| p.refused.is_none())
        .collect();
    assert!(!plans.is_empty(), "{name}: nothing adoptable");
    for p in &plans {
        let originals: Vec<(PathBuf, Vec<u8>)> = p
            .move_aside
            .iter()
            .map(|f| (f.clone(), fs::read(under_root(&root, f)).unwrap()))
            .collect();
        let done = write::apply(&root, p).unwrap_or_else(|e| panic!("{name}: {e}"));
        let created = under_root(&root, &done.created);
        assert_eq!(fs::read_to_string(&created).unwrap(), p.content);
        assert!(done
            .created
            .ends_with(format!("{}.d/bindif-adopt.conf", p.owner)));
        assert!(done.created.starts_with("/etc/systemd/system"));
        for (f, bytes) in originals {
            assert!(
                !under_root(&root, &f).exists(),
                "{} still there",
                f.display()
            );
            let mut aside = f.into_os_string();
            aside.push(ASIDE_SUFFIX);
            assert_eq!(
                fs::read(under_root(&root, Path::new(&aside))).unwrap(),
                bytes
            );
        }
    }
    (root, plans)
}

#[test]
fn write_restores_packaged_command_and_user() {
    let (root, _) = write_case("user-switch");
    for unit in [
        "app-runuser.service",
        "app-sudo.service",
        "app-setpriv.service",
    ] {
        let u = load(&root, unit).unwrap();
        assert_eq!(
            exec_start(&u),
            vec!["/usr/bin/app serve --config \"/etc/app/app.conf\"".to_string()],
            "{unit}"
        );
        assert_eq!(last(&u, "User").as_deref(), Some("app"), "{unit}");
        assert_eq!(
            last(&u, "BindNetworkInterface").as_deref(),
            Some("mgmt"),
            "{unit}"
        );
    }
    let u = load(&root, "app-sudo.service").unwrap();
    assert_eq!(last(&u, "Environment").as_deref(), Some("APP_MODE=vrf"));
    // Adopted units are not found again.
    assert!(plans_of(&root).is_empty());
}

#[test]
fn write_handles_every_adoptable_case() {
    for (name, unit, iface) in [
        ("plain-wrapper", "webd.service", "mgmt"),
        ("netns", "collector.service", "blue"),
        ("pyvrf-pin", "webd.service", "mgmt"),
        ("cumulus", "snmpd@mgmt.service", "%i"),
        ("hardening", "exporter.service", "mgmt"),
        ("mix", "ntp.service", "mgmt"),
    ] {
        let (root, _) = write_case(name);
        let u = load(&root, unit).unwrap();
        assert_eq!(
            last(&u, "BindNetworkInterface").as_deref(),
            Some(iface),
            "{name}"
        );
        assert!(
            u.assignments
                .iter()
                .all(|a| !a.value.contains("vrf exec") && a.key != "BPFProgram"),
            "{name}: {:?}",
            u.assignments
        );
        let packaged = load(&case(name).join("root"), unit).unwrap();
        let fragment_only: Vec<String> = packaged
            .assignments
            .iter()
            .filter(|a| packaged.fragment.as_deref() == Some(&*a.source.file))
            .filter(|a| a.key == "ExecStart")
            .map(|a| a.value.clone())
            .collect();
        assert_eq!(exec_start(&u), fragment_only, "{name}");
        assert!(
            plans_of(&root).iter().all(|p| p.refused.is_some()),
            "{name}"
        );
    }
    // The hardening switches the wrapper needed are gone with its file; the one in a file
    // adopt does not own stays (and is reported as a note).
    let (root, plans) = write_case("hardening");
    assert!(plans[0].notes[0].contains("50-local.conf"));
    let u = load(&root, "exporter.service").unwrap();
    assert_eq!(last(&u, "ProcSubset").as_deref(), Some("pid"));
    // mix: a changed command is kept, unwrapped, as are the override's other lines.
    let (root, _) = write_case("mix");
    let u = load(&root, "dns.service").unwrap();
    assert_eq!(
        exec_start(&u),
        vec!["-/usr/sbin/dnsd -f --listen 127.0.0.1".to_string()]
    );
    assert_eq!(last(&u, "LimitNOFILE").as_deref(), Some("65536"));
    assert_eq!(
        last(&u, "ExecStartPost").as_deref(),
        Some("/usr/bin/dns-check")
    );
}

#[test]
fn write_refuses_when_a_target_exists() {
    let root = copy_root("plain-wrapper");
    let plans = plans_of(&root);
    let p = &plans[0];
    write::apply(&root, p).unwrap();
    // Adopted already: the drop-in exists.
    let e = write::apply(&root, p).unwrap_err();
    assert!(e.contains("exists already"), "{e}");

    // The moved-aside name exists: nothing is written, nothing moved.
    let root = copy_root("plain-wrapper");
    let f = &p.move_aside[0];
    let mut aside = f.clone().into_os_string();
    aside.push(ASIDE_SUFFIX);
    fs::write(under_root(&root, Path::new(&aside)), "keep me\n").unwrap();
    let e = write::apply(&root, p).unwrap_err();
    assert!(e.contains("Refusing to move"), "{e}");
    assert!(under_root(&root, f).exists());
    assert!(!under_root(&root, p.dropin.as_ref().unwrap()).exists());
    assert_eq!(
        fs::read_to_string(under_root(&root, Path::new(&aside))).unwrap(),
        "keep me\n"
    );

    // A refused plan is never written.
    let root = copy_root("unsafe");
    for p in plans_of(&root) {
        assert!(p.refused.is_some(), "{}", p.owner);
        assert!(write::apply(&root, &p).is_err());
    }
    assert!(!root
        .join("etc/systemd/system/shellwrap.service.d/bindif-adopt.conf")
        .exists());
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
}

#[test]
fn command_line_write_json_and_bad_input() {
    let root = copy_root("cumulus");
    let out = bin()
        .args(["adopt", "--write", "--systemd-version=252", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("Now run: systemctl daemon-reload && systemctl restart snmpd@mgmt.service")
    );
    assert!(root
        .join("run/systemd/system/snmpd@.service.d/vrf.conf.bindif-adopt-disabled")
        .exists());
    // Again: the override is gone, so there is nothing left to adopt.
    let out = bin()
        .args(["adopt", "--write", "--json", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "already adopted: nothing to do");

    let root = copy_root("plain-wrapper");
    fs::create_dir_all(root.join("etc/systemd/system/webd.service.d")).unwrap();
    fs::write(
        root.join("etc/systemd/system/webd.service.d/bindif-adopt.conf"),
        "# mine\n",
    )
    .unwrap();
    let out = bin()
        .args(["adopt", "--write", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Refusing to write"));
    assert!(root
        .join("etc/systemd/system/webd.service.d/override.conf")
        .exists());

    let out = bin()
        .args(["adopt", "--json", "--systemd-version=257", "--root"])
        .arg(case("pyvrf-pin").join("root"))
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.starts_with("{\"systemd_version\":257,\"units\":[{\"unit\":\"webd.service\""));
    assert!(
        json.contains("every daemon-reload silently unbinds"),
        "{json}"
    );
    assert!(!json.contains("every restart"), "{json}");
    assert!(json.contains("\"helpers\":[\"vrf-pin@mgmt.service\"]"));

    for bad in [
        &["adopt", "--systemd-version=soon"][..],
        &["adopt", "--frobnicate"],
        &["adopt", "not a unit"],
    ] {
        let out = bin().args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("bindif-launch: "));
    }
}

/// Lists every entry below `dir`, for "nothing changed there" assertions.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.file_type().unwrap().is_dir() {
            out.extend(tree(&e.path()));
        }
    }
    out.sort();
    out
}

#[test]
fn write_refuses_to_follow_a_symlinked_dropin_directory() {
    // A plan made while the drop-in directory was real, applied after it became an absolute
    // symlink to a directory outside the root: nothing may be written there.
    let root = copy_root("plain-wrapper");
    let plans = plans_of(&root);
    let p = &plans[0];
    assert_eq!(p.owner, "webd.service");
    let outside = common::tempdir("adopt-outside");
    fs::create_dir(outside.join("webd.service.d")).unwrap();
    let dir = root.join("etc/systemd/system/webd.service.d");
    fs::rename(&dir, root.join("etc/systemd/system/moved.d")).unwrap();
    std::os::unix::fs::symlink(outside.join("webd.service.d"), &dir).unwrap();
    let before = tree(&root);

    let e = write::apply(&root, p).unwrap_err();
    assert!(e.contains("is a symlink"), "{e}");
    assert!(e.contains("webd.service.d"), "{e}");
    assert!(tree(&outside.join("webd.service.d")).is_empty());
    assert_eq!(tree(&root), before, "nothing moved or created in the root");

    // A symlink higher up (the whole /etc/systemd/system) is refused the same way.
    let root = copy_root("plain-wrapper");
    let real = root.join("etc/systemd/real");
    fs::rename(root.join("etc/systemd/system"), &real).unwrap();
    std::os::unix::fs::symlink(&real, root.join("etc/systemd/system")).unwrap();
    let e = write::apply(&root, p).unwrap_err();
    assert!(e.contains("/etc/systemd/system: it is a symlink"), "{e}");
    assert!(real.join("webd.service.d/override.conf").exists());
    assert!(!real.join("webd.service.d/bindif-adopt.conf").exists());

    // A directory missing on the way is made for real, and the write still succeeds.
    let root = copy_root("plain-wrapper");
    let mut q = p.clone();
    q.owner = "fresh.service".into();
    q.dropin = Some(PathBuf::from(
        "/etc/systemd/system/fresh.service.d/bindif-adopt.conf",
    ));
    q.move_aside.clear();
    write::apply(&root, &q).unwrap();
    let made = root.join("etc/systemd/system/fresh.service.d");
    assert!(fs::symlink_metadata(&made).unwrap().is_dir());
    assert_eq!(
        fs::read_to_string(made.join("bindif-adopt.conf")).unwrap(),
        q.content
    );
}

/// Runs `adopt --write webd.service` on `root`; returns (status, stdout, stderr).
fn adopt_write_webd(root: &Path) -> (Option<i32>, String, String) {
    let out = bin()
        .args(["adopt", "--systemd-version=252", "--write", "--root"])
        .arg(root)
        .arg("webd.service")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_symlinked_dropin_directory_belongs_to_its_listed_name_and_is_left_alone() {
    // webd.service.d -> ../../common/other.service.d: the override is webd's (systemd applies
    // it to webd), not other.service's, and adopt must not write through the symlink.
    let root = copy_root("plain-wrapper");
    let sys = root.join("etc/systemd/system");
    fs::create_dir(root.join("etc/common")).unwrap();
    fs::rename(
        sys.join("webd.service.d"),
        root.join("etc/common/other.service.d"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../common/other.service.d", sys.join("webd.service.d")).unwrap();
    let before = tree(&root);

    let plans = plans_of(&root);
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].owner, "webd.service");
    let why = plans[0].refused.as_deref().unwrap_or_default();
    assert_eq!(
        why,
        "the drop-in directory /etc/systemd/system/webd.service.d is a symlink; adopt writes only real directories"
    );
    let dry = render::render_text(&plans, Some(252), false);
    assert!(dry.contains(why), "{dry}");

    let (code, stdout, stderr) = adopt_write_webd(&root);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(why), "{stdout}");
    // The lines are shown where their file really is; no plan is other.service's.
    assert!(stdout.contains("/etc/common/other.service.d/override.conf"));
    assert!(
        !stdout.contains("Created") && !stdout.contains("restart"),
        "{stdout}"
    );
    assert!(!stdout.contains("other.service (") && !stdout.contains("\nother.service"));
    assert!(!stderr.contains("no ip vrf exec wrapper"), "{stderr}");
    assert_eq!(tree(&root), before, "nothing created or moved");
}

#[test]
fn an_absolute_dropin_symlink_is_left_alone_and_nothing_is_written_outside() {
    // webd.service.d -> OUTSIDE/webd.service.d (absolute). Inside the root that path holds the
    // override systemd would read; on the host it is a directory outside the root, which
    // path-based writes would have landed in.
    let root = copy_root("plain-wrapper");
    let outside = common::tempdir("adopt-outside");
    let target = outside.join("webd.service.d");
    fs::create_dir(&target).unwrap();
    let sys = root.join("etc/systemd/system");
    let in_root = under_root(&root, &target);
    fs::create_dir_all(in_root.parent().unwrap()).unwrap();
    fs::rename(sys.join("webd.service.d"), &in_root).unwrap();
    std::os::unix::fs::symlink(&target, sys.join("webd.service.d")).unwrap();
    let before = tree(&root);

    let plans = plans_of(&root);
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert_eq!(plans[0].owner, "webd.service");
    assert_eq!(
        plans[0].refused.as_deref(),
        Some("the drop-in directory /etc/systemd/system/webd.service.d is a symlink; adopt writes only real directories")
    );
    let (code, stdout, stderr) = adopt_write_webd(&root);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("Created"), "{stdout}");
    assert!(tree(&target).is_empty(), "written outside the root");
    assert_eq!(tree(&root), before, "nothing created or moved");
    assert!(in_root.join("override.conf").exists());
}

#[test]
fn a_symlinked_override_file_or_target_directory_is_left_alone() {
    // The override file itself a symlink (to a file in the same tree).
    let root = copy_root("plain-wrapper");
    let d = root.join("etc/systemd/system/webd.service.d");
    fs::rename(d.join("override.conf"), root.join("etc/override.real")).unwrap();
    std::os::unix::fs::symlink("../../../override.real", d.join("override.conf")).unwrap();
    let plans = plans_of(&root);
    assert_eq!(
        plans[0].refused.as_deref(),
        Some("the override file /etc/systemd/system/webd.service.d/override.conf is a symlink; adopt moves only real files")
    );

    // A generated override under /run whose /etc drop-in directory (where adopt would write)
    // is a symlink.
    let root = copy_root("cumulus");
    let outside = common::tempdir("adopt-outside");
    let etc = root.join("etc/systemd/system");
    fs::create_dir_all(&etc).unwrap();
    std::os::unix::fs::symlink(&outside, etc.join("snmpd@.service.d")).unwrap();
    let plans = plans_of(&root);
    let p = plans.iter().find(|p| p.owner == "snmpd@.service").unwrap();
    assert_eq!(
        p.refused.as_deref(),
        Some("the drop-in directory /etc/systemd/system/snmpd@.service.d is a symlink; adopt writes only real directories")
    );
    assert!(write::apply(&root, p).is_err());
    assert!(tree(&outside).is_empty());
}
