// SPDX-License-Identifier: LGPL-2.1-or-later
//! Privileged tests of `sys::clone` on the host kernel: a child born inside a cgroup
//! (`clone3` with `CLONE_INTO_CGROUP`), made both ways — sharing this process's memory until
//! its `execve` (x86_64) and as a copy (every other architecture) — so that the way a
//! architecture does not ship here is tested too. They run as root in CI and fail, never skip.
//!
//! `spawn_into` waits for SIGCHLD, blocked in the calling thread: in the test harness's
//! multithreaded process another thread could take it, so each check runs in a forked child
//! that has one thread.

mod common;

use std::ffi::CString;
use std::os::fd::AsFd;

use bindif::sys::clone::{self, End, How};
use common::*;

/// Runs `f` in a forked, single-threaded child and returns its exit status (101 for a panic).
fn in_single_threaded_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `f` and exits; the parent waits for it.
    match unsafe { libc::fork() } {
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: ends the forked child without running the harness's exit handlers.
            unsafe { libc::_exit(code) }
        }
        pid if pid > 0 => {
            let mut status = 0;
            // SAFETY: waits for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFEXITED(status), "child status {status:#x}");
            libc::WEXITSTATUS(status)
        }
        _ => panic!("fork: {}", std::io::Error::last_os_error()),
    }
}

fn cstrings(args: &[&str]) -> Vec<CString> {
    args.iter().map(|a| CString::new(*a).unwrap()).collect()
}

/// Starts `argv` in `cg` made as `how`, waits, and returns how it ended (in the forked child).
fn start(how: How, cg: &TestCgroup, argv: &[&str]) -> End {
    let dir = bindif::sys::cgroup::open_cgroup_dir(&cg.path).expect("open cgroup");
    let args = cstrings(argv);
    let child = clone::spawn_into_as(how, dir.as_fd(), &args[0], &args).expect("spawn");
    child.wait().expect("wait")
}

/// Code for an [`End`], for the forked child's exit status.
fn code(end: End) -> i32 {
    match end {
        End::Exited(n) => n,
        End::Signaled(s) => 64 + s,
        End::ExecFailed(e) => 128 + e,
    }
}

#[test]
fn a_child_is_born_in_the_cgroup_and_its_end_is_passed_on_both_ways() {
    require_privileges();
    for how in [How::Sharing, How::Copying] {
        if how == How::Sharing && clone::HOW != How::Sharing {
            eprintln!("{how:?}: not on this architecture, where every start copies");
            continue;
        }
        let cg = TestCgroup::new();
        // In the cgroup from its first instruction: its own /proc/self/cgroup says so.
        let line = format!("0::{}", cg.rel());
        let check = format!("grep -qx '{line}' /proc/self/cgroup");
        let got = in_single_threaded_child(|| code(start(how, &cg, &["/bin/sh", "-c", &check])));
        assert_eq!(got, 0, "{how:?}: not born in {line}");
        // The arguments reach it, and its exit status comes back.
        let got =
            in_single_threaded_child(|| code(start(how, &cg, &["/bin/sh", "-c", "exit $0", "7"])));
        assert_eq!(got, 7, "{how:?}");
        // So does its death by a signal.
        let got =
            in_single_threaded_child(|| code(start(how, &cg, &["/bin/sh", "-c", "kill -TERM $$"])));
        assert_eq!(got, 64 + libc::SIGTERM, "{how:?}");
        // A failed execve is told apart from a command that exits 127.
        let got = in_single_threaded_child(|| code(start(how, &cg, &["/nonexistent/cmd"])));
        assert_eq!(got, 128 + libc::ENOENT, "{how:?}");
        let got =
            in_single_threaded_child(|| code(start(how, &cg, &["/bin/sh", "-c", "exit 127"])));
        assert_eq!(got, 127, "{how:?}");
        // Two starts in one process (the sharing child's stack is used again).
        let got = in_single_threaded_child(|| {
            code(start(how, &cg, &["/bin/true"])) * 10 + code(start(how, &cg, &["/bin/false"]))
        });
        assert_eq!(got, 1, "{how:?}");
        assert!(cg.procs().is_empty(), "{how:?}: {:?}", cg.procs());
        let _ = std::fs::remove_dir(&cg.path);
    }
}

/// `spawn_into` is a safe function: two threads may call it at once. Each sharing child must
/// then run on a stack of its own, and start its own command.
#[test]
fn children_started_by_two_threads_at_once_each_run_their_own_command() {
    require_privileges();
    if clone::HOW != How::Sharing {
        return;
    }
    let cg = TestCgroup::new();
    let got = in_single_threaded_child(|| {
        let dir = bindif::sys::cgroup::open_cgroup_dir(&cg.path).expect("open cgroup");
        let run = |argv: &[&str], expected: i32| {
            let args = cstrings(argv);
            let mut wrong = 0;
            for _ in 0..1500 {
                let child = clone::spawn_into_as(How::Sharing, dir.as_fd(), &args[0], &args)
                    .expect("spawn");
                // Reaped here, not by `wait`: SIGCHLD may reach either thread.
                let pid = child.pid() as libc::pid_t;
                std::mem::forget(child);
                let mut status = 0;
                // SAFETY: waits for our own child.
                assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != expected {
                    wrong += 1;
                }
            }
            wrong
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| run(&["/bin/true"], 0));
            let b = s.spawn(|| run(&["/bin/false"], 1));
            (a.join().unwrap(), b.join().unwrap())
        });
        eprintln!("wrong ends: true {a}, false {b}");
        i32::from(a + b > 0)
    });
    assert_eq!(got, 0, "a child ran the other thread's command (or died)");
    assert!(cg.procs().is_empty(), "{:?}", cg.procs());
    let _ = std::fs::remove_dir(&cg.path);
}
