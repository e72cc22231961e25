// SPDX-License-Identifier: LGPL-2.1-or-later
//! The host's cgroup2 hierarchy flags survive a hidden-cgroup2 run. In a file (so a test
//! binary) of its own: it changes the host's flags for its duration, and any other run that
//! reached the hidden hierarchy meanwhile would repeat them after the test put them back.
//! Runs as root (real cgroup2, a veth in a throwaway network namespace) and fails, never skips.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{cgroup2, require_privileges, NetNs, TestCgroup, VETH_A};

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");

/// The superblock flags of the cgroup2 mount at `mount` (`nsdelegate`, …), as this process sees
/// them in its mountinfo.
fn hierarchy_flags(mount: &Path) -> Vec<String> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mi
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mount.to_str().unwrap()) && l.contains(" - cgroup2 "))
        .expect("the cgroup2 mount in mountinfo");
    line.rsplit(' ')
        .next()
        .unwrap()
        .split(',')
        .filter(|o| *o != "rw")
        .map(str::to_string)
        .collect()
}

/// Sets the hierarchy's flags to exactly `flags` (a remount with that data: the legacy mount
/// call, which, unlike mount(8)'s, passes an empty list as empty).
fn set_hierarchy_flags(mount: &Path, flags: &[String]) {
    let st = Command::new("python3")
        .args([
            "-c",
            "import ctypes,os,sys\n\
             libc=ctypes.CDLL(None,use_errno=True)\n\
             r=libc.mount(b'cgroup2',sys.argv[1].encode(),b'cgroup2',ctypes.c_ulong(32),sys.argv[2].encode())\n\
             sys.exit(0 if r==0 else os.strerror(ctypes.get_errno()))",
            mount.to_str().unwrap(),
            &flags.join(","),
        ])
        .status()
        .unwrap();
    assert!(
        st.success(),
        "remounting {} with {flags:?} failed",
        mount.display()
    );
}

/// Puts the host's hierarchy flags back however the test ends.
struct RestoreFlags<'a>(&'a Path, Vec<String>);

impl Drop for RestoreFlags<'_> {
    fn drop(&mut self) {
        set_hierarchy_flags(self.0, &self.1);
    }
}

/// A cgroup2 superblock configuration made from the initial cgroup namespace (a mount, an
/// fsopen) sets the one hierarchy's flags to exactly its own. Behind `ip netns exec` the
/// launcher makes one to reach the hidden hierarchy: it must repeat the host's flags, or it
/// clears `nsdelegate` (and systemd's memory flags) for the whole host.
#[test]
fn a_hidden_cgroup2_run_keeps_the_hosts_hierarchy_flags() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let mount = cgroup2();
    let original = hierarchy_flags(mount);
    let _restore = RestoreFlags(mount, original.clone());
    let mut wanted = original.clone();
    if !wanted.iter().any(|f| f == "nsdelegate") {
        wanted.push("nsdelegate".into());
    }
    set_hierarchy_flags(mount, &wanted);
    assert_eq!(hierarchy_flags(mount), wanted, "could not set up the flags");
    let script = format!(
        "echo $$ > '{}/cgroup.procs' && exec ip netns exec {} {BIN} --interface {VETH_A} -- /bin/true",
        cg.path.display(),
        ns.name
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "the hidden-cgroup2 run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        hierarchy_flags(mount),
        wanted,
        "the run changed the host's cgroup2 hierarchy flags"
    );
}
