// SPDX-License-Identifier: LGPL-2.1-or-later
//! The generator binary under the kernel's limits: what needs root and a cgroup controller
//! (the unprivileged generator tests are in `generator.rs`). Runs as root and fails, never
//! skips what the host can run.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A generator that cannot start its loading threads (the pids controller's limit; the kernel's
/// `threads-max`) does the work on its own thread and writes the same drop-ins; before, it
/// panicked having written none, so every bound unit would have started unbound.
#[test]
fn without_threads_the_generator_writes_the_same_drop_ins() {
    common::require_privileges();
    // The loading spreads over threads only where there are CPUs for them.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("skipped: one CPU, so the generator starts no thread to be refused");
        return;
    }
    let tmp = common::tempdir("generator-no-threads");
    let lib = tmp.join("usr/lib/systemd/system");
    fs::create_dir_all(&lib).unwrap();
    // 600 units: enough that the loading spreads over threads where it can.
    for i in 0..600 {
        fs::write(
            lib.join(format!("u{i}.service")),
            "[Service]\nExecStart=/usr/bin/sleep infinity\nBindNetworkInterface=mgmt\n",
        )
        .unwrap();
    }
    let pids = pids_cgroup(&common::unique("bindif-nothreads"));
    // Only the generator's own task fits: any thread it starts fails with EAGAIN.
    fs::write(pids.join("pids.max"), "1").unwrap();
    let (free, limited) = (tmp.join("free"), tmp.join("limited"));
    let a = generate(&tmp, &free, None);
    let b = generate(&tmp, &limited, Some(&pids));
    // The first refusal is remembered: the later maps of the run (loading, planning,
    // verifying) do not ask for threads again. `max` counts the forks the limit refused.
    let events = fs::read_to_string(pids.join("pids.events")).unwrap();
    let _ = fs::remove_dir(&pids);
    assert_eq!(events.trim(), "max 1", "threads asked for after a refusal");
    assert!(a.status.success(), "{a:?}");
    assert!(b.status.success(), "{b:?}");
    let (ta, tb) = (files(&free), files(&limited));
    assert_eq!(ta.len(), 600, "a drop-in per unit");
    // The same files; their contents differ only in the output directory's own path.
    let shown = |t: BTreeMap<PathBuf, String>, dir: &Path| -> BTreeMap<PathBuf, String> {
        t.into_iter()
            .map(|(p, c)| (p, c.replace(&dir.display().to_string(), "OUT")))
            .collect()
    };
    assert_eq!(shown(ta, &free), shown(tb, &limited));
    let _ = fs::remove_dir_all(&tmp);
}

/// `bindif-launch generate` over the root `root` into `out`, in the cgroup `pids` when given.
fn generate(root: &Path, out: &Path, pids: Option<&Path>) -> Output {
    let enter = pids.map_or(String::new(), |p| {
        format!("echo $$ > '{}/cgroup.procs' && ", p.display())
    });
    Command::new("sh")
        .arg("-c")
        .arg(format!("{enter}exec \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_bindif-launch"))
        .arg("generate")
        .arg(format!("--root={}", root.display()))
        .arg("--systemd-version=252")
        .arg("--layout=hybrid")
        .arg(out)
        .output()
        .unwrap()
}

/// Every regular file below `dir`, relative path → content (symlinks are left out: the links'
/// directory is the same in both runs).
fn files(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    out
}

/// A cgroup of the pids controller, for a limit on tasks: cgroup v1's where the host has one
/// (hybrid and legacy layouts), else cgroup2's, at the top of its hierarchy when it hands the
/// controller down there.
fn pids_cgroup(name: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    let dir = if v1.join("cgroup.procs").exists() {
        v1.join(name)
    } else {
        let handed = fs::read_to_string(common::cgroup2().join("cgroup.subtree_control")).unwrap();
        assert!(
            handed.split_whitespace().any(|c| c == "pids"),
            "no pids controller in cgroup v1 or handed down in cgroup2: {handed}"
        );
        common::cgroup2().join(name)
    };
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}
