// SPDX-License-Identifier: LGPL-2.1-or-later
//! Units whose cgroup name systemd escapes (`cpu.service` runs in `_cpu.service`: the kernel's
//! `cpu.*` files live there too) are bound, in unit mode and in attach mode. Before the launcher
//! knew systemd's escaping they found no cgroup named after the unit and ran unbound, exit 0.
//! Real BPF, real cgroup2, a veth pair in a throwaway network namespace; needs root.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{report, require_privileges, run_in, unique, NetNs, TestCgroup, VETH_A};

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");

fn probe() -> String {
    format!("{}/tests/probe/probe.py", env!("CARGO_MANIFEST_DIR"))
}

/// A unit tree below a temporary root for `--root`: `NAME` with `BindNetworkInterface=`.
struct UnitRoot {
    dir: PathBuf,
}

impl UnitRoot {
    fn new(unit: &str, interface: &str) -> UnitRoot {
        let dir = std::env::temp_dir().join(unique("bindif-escape-root"));
        let units = dir.join("etc/systemd/system");
        fs::create_dir_all(&units).unwrap();
        fs::write(
            units.join(unit),
            format!(
                "[Service]\nBindNetworkInterface={interface}\nExecStart=/usr/lib/bindif-launch %n\n"
            ),
        )
        .unwrap();
        UnitRoot { dir }
    }

    fn arg(&self) -> String {
        format!("--root={}", self.dir.display())
    }
}

impl Drop for UnitRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn programs_on(cg: &Path) -> usize {
    let fd = fs::File::open(cg).unwrap();
    bindif::sys::bpf::query(fd.as_fd()).unwrap().len()
}

/// `PARENT/_UNIT`, the cgroup systemd gives a unit whose name it escapes.
fn escaped_unit_cgroup(parent: &TestCgroup, unit: &str) -> PathBuf {
    let path = parent.path.join(format!("_{unit}"));
    fs::create_dir(&path).unwrap();
    path
}

fn assert_bound(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "launcher failed: {stderr}");
    assert!(
        !stderr.contains("Failed to find the cgroup"),
        "the unit's cgroup was not recognised: {stderr}"
    );
    let r = report(out);
    for key in ["tcp4", "udp6"] {
        assert_eq!(
            r.get(key).map(String::as_str),
            Some(VETH_A),
            "{key} should be bound; report {r:?}; stderr {stderr}"
        );
    }
}

#[test]
fn unit_mode_binds_a_unit_in_its_escaped_cgroup() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let cg = escaped_unit_cgroup(&parent, "cpu.service");
    let root = UnitRoot::new("cpu.service", VETH_A);
    let out = run_in(
        &ns,
        &cg,
        "",
        &[BIN, &root.arg(), "cpu.service", "--", "python3", &probe()],
    );
    assert_bound(&out);
    assert_eq!(programs_on(&cg), 1, "the program sits on _cpu.service");
}

#[test]
fn attach_mode_binds_a_unit_in_its_escaped_cgroup() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let cg = escaped_unit_cgroup(&parent, "memory.service");
    let root = UnitRoot::new("memory.service", VETH_A);
    let out = run_in(
        &ns,
        &cg,
        "",
        &[BIN, &root.arg(), "--attach", "memory.service"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(programs_on(&cg), 1, "attached to _memory.service: {stderr}");
    // A later process of the unit, not started by the launcher, is bound.
    assert_bound(&run_in(&ns, &cg, "", &["python3", &probe()]));
}
