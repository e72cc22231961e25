// SPDX-License-Identifier: LGPL-2.1-or-later
//! The concurrency tier for ad hoc runs (issue 13 #2): many `bindif-launch --interface … --`
//! started at once from one cgroup must all succeed (no run's clean-up may remove a sibling's
//! fresh child cgroup between its `mkdir` and its move) and leave no stray cgroup: every child
//! cgroup is either a running command's or an exited run's marked leftover, which the next run
//! removes.
//!
//! Runs as root (real BPF, cgroup2, a network namespace) and fails, never skips, when it cannot.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cgroup2, require_privileges, NetNs, TestCgroup, VETH_A};

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");
const PARALLEL: usize = 50;
const ROUNDS: usize = 3;

fn child_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn ours_attached(dir: &Path) -> usize {
    let f = fs::File::open(dir).unwrap();
    bindif::sys::bpf::attached_programs(f.as_fd())
        .unwrap_or_default()
        .iter()
        .filter(|p| p.is_ours())
        .count()
}

/// How a run enters the network namespace.
#[derive(Clone, Copy)]
enum Via {
    /// `nsenter --net=`: the cgroup2 mount stays visible.
    Nsenter,
    /// `ip netns exec`: remounts /sys, so the launcher must reach the hidden cgroup2 itself.
    IpNetnsExec,
}

/// Starts `n` ad hoc runs at once from `cg` (a shell moved there first forks them all, so
/// they share the parent cgroup) and returns each run's exit status and stderr.
fn parallel_adhoc(ns: &NetNs, cg: &Path, n: usize, via: Via) -> Vec<(i32, String)> {
    let enter = match via {
        Via::Nsenter => format!("nsenter --net=/run/netns/{}", ns.name),
        Via::IpNetnsExec => format!("ip netns exec {}", ns.name),
    };
    let dir = common::tempdir("concurrency");
    let script = format!(
        "echo $$ > '{cg}/cgroup.procs' || exit 99\n\
         i=0; while [ $i -lt {n} ]; do\n\
           ( {enter} {BIN} --interface {VETH_A} -- /bin/true 2>'{d}/err.'$i; echo $? > '{d}/rc.'$i ) &\n\
           i=$((i+1))\n\
         done\n\
         wait",
        cg = cg.display(),
        d = dir.display(),
    );
    let st = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "the driving shell failed: {st}");
    let results = (0..n)
        .map(|i| {
            let rc = fs::read_to_string(dir.join(format!("rc.{i}"))).unwrap_or_default();
            let err = fs::read_to_string(dir.join(format!("err.{i}"))).unwrap_or_default();
            (rc.trim().parse().unwrap_or(-1), err)
        })
        .collect();
    let _ = fs::remove_dir_all(&dir);
    results
}

#[test]
fn parallel_adhoc_runs_all_succeed_and_leave_no_stray_cgroup() {
    rounds_of_parallel_adhoc_runs(Via::Nsenter);
}

/// The same through `ip netns exec`, where every run opens the hidden cgroup2 on its own.
#[test]
fn parallel_adhoc_runs_behind_a_hidden_cgroup2() {
    rounds_of_parallel_adhoc_runs(Via::IpNetnsExec);
}

fn rounds_of_parallel_adhoc_runs(via: Via) {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // Another program's empty cgroup beside the runs' own: never touched.
    let foreign = cg.path.join("foreign");
    fs::create_dir(&foreign).unwrap();
    let ours_at_top = || -> Vec<String> {
        child_dirs(cgroup2())
            .into_iter()
            .filter(|d| d.starts_with("bindif-launch-"))
            .collect()
    };
    let top_before = ours_at_top();
    let t = Instant::now();
    for round in 0..ROUNDS {
        let failed: Vec<_> = parallel_adhoc(&ns, &cg.path, PARALLEL, via)
            .into_iter()
            .enumerate()
            .filter(|(_, (rc, _))| *rc != 0)
            .collect();
        assert!(
            failed.is_empty(),
            "round {round}: {} of {PARALLEL} runs failed: {failed:?}",
            failed.len()
        );
        assert!(foreign.is_dir(), "round {round} removed a foreign cgroup");
        // Every child cgroup left is an exited run's: empty, carrying its program.
        for d in child_dirs(&cg.path) {
            if d == "foreign" {
                continue;
            }
            assert!(d.starts_with("bindif-launch-"), "stray cgroup {d}");
            let p = cg.path.join(&d);
            assert_eq!(
                fs::read_to_string(p.join("cgroup.procs")).unwrap(),
                "",
                "{d}"
            );
            assert_eq!(ours_attached(&p), 1, "{d}");
        }
    }
    assert_eq!(
        ours_attached(&cg.path),
        0,
        "the caller's cgroup is never bound"
    );
    // One more run removes every leftover of the exited runs (those that moved themselves in)
    // and, as the parent of its command, its own once the command has exited.
    let last = parallel_adhoc(&ns, &cg.path, 1, via);
    assert_eq!(last[0].0, 0, "{}", last[0].1);
    let left: Vec<_> = child_dirs(&cg.path)
        .into_iter()
        .filter(|d| d != "foreign")
        .collect();
    assert!(left.is_empty(), "stray cgroups after the rounds: {left:?}");
    let elapsed = t.elapsed();
    eprintln!("{ROUNDS} rounds of {PARALLEL} parallel ad hoc runs: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert!(cg.path.starts_with(cgroup2()));
    assert_eq!(ours_at_top(), top_before, "no run may leave its own cgroup");
    assert!(
        !Path::new("/run/bindif-launch").exists(),
        "nothing is created in /run"
    );
}
