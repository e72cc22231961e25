// SPDX-License-Identifier: LGPL-2.1-or-later
//! The concurrency tier: many launcher starts racing on one unit cgroup, as parallel restarts
//! or a template's instances sharing a slice-level cgroup would. Runs as root (real BPF,
//! cgroup2, a veth in a throwaway network namespace) and fails, never skips.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bindif::sys::{self, bpf};
use common::{require_privileges, unique, NetNs, TestCgroup, VETH_A};

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");

/// Parallel starts per round, and rounds.
const PARALLEL: usize = 50;
const ROUNDS: usize = 4;

/// A unit tree below a temporary root with one unit that binds to [`VETH_A`].
struct UnitRoot {
    dir: PathBuf,
}

impl UnitRoot {
    fn new(unit: &str) -> UnitRoot {
        let dir = std::env::temp_dir().join(unique("bindif-conc-root"));
        let units = dir.join("etc/systemd/system");
        fs::create_dir_all(&units).unwrap();
        fs::write(
            units.join(unit),
            format!(
                "[Service]\nBindNetworkInterface={VETH_A}\nExecStart=/usr/lib/bindif-launch %n\n"
            ),
        )
        .unwrap();
        UnitRoot { dir }
    }
}

impl Drop for UnitRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Starts the launcher in unit mode inside `cg` and `ns`, running `/bin/true`.
fn start(ns: &NetNs, cg: &Path, root: &UnitRoot, unit: &str) -> Child {
    let script = format!(
        "echo $$ > '{}/cgroup.procs' || exit 99\nexec nsenter --net=/run/netns/{} \"$@\"",
        cg.display(),
        ns.name
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args([
            BIN,
            &format!("--root={}", root.dir.display()),
            unit,
            "--",
            "/bin/true",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh")
}

fn ours(cg: &Path) -> Vec<bpf::ProgInfo> {
    let dir = sys::cgroup::open_cgroup_dir(cg).unwrap();
    bpf::attached_programs(dir.as_fd())
        .unwrap()
        .into_iter()
        .filter(bpf::ProgInfo::is_ours)
        .collect()
}

/// Issue 13 #11: 50 parallel unit starts in one cgroup used to leave up to 3 programs (each
/// start removed only copies with smaller ids, but ids follow load order, not attach order).
/// Now every round ends with exactly one, and every start succeeds.
#[test]
fn parallel_unit_starts_leave_exactly_one_program() {
    require_privileges();
    let ns = NetNs::new();
    let ifindex = ns.ifindex_by_ip(VETH_A);
    let parent = TestCgroup::new();
    let unit = format!("{}.service", unique("conc"));
    let cg = parent.path.join(&unit);
    fs::create_dir(&cg).unwrap();
    let root = UnitRoot::new(&unit);
    for round in 0..ROUNDS {
        let children: Vec<Child> = (0..PARALLEL)
            .map(|_| start(&ns, &cg, &root, &unit))
            .collect();
        let mut failed = Vec::new();
        for c in children {
            let out = c.wait_with_output().expect("wait");
            if !out.status.success() {
                failed.push(format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        assert!(failed.is_empty(), "round {round}: failed runs: {failed:#?}");
        let left = ours(&cg);
        assert_eq!(left.len(), 1, "round {round}: {left:?}");
        assert_eq!(left[0].ours_ifindex, Some(ifindex), "round {round}");
    }
}
