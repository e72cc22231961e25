// SPDX-License-Identifier: LGPL-2.1-or-later
//! The launcher binary end to end on this kernel: real BPF, real cgroup2 (hybrid here), veth
//! pairs in throwaway network namespaces. Runs as root in CI and fails (never skips) when it
//! cannot. Each test runs the launcher in its own child cgroup named like a unit, inside its
//! own network namespace, with `tests/probe/probe.py` as the command that reports what it sees.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{
    report, require_privileges, run, run_in, unique, NetNs, TestCgroup, ALTNAME, VETH_A, VETH_B,
};

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");

fn probe() -> String {
    format!("{}/tests/probe/probe.py", env!("CARGO_MANIFEST_DIR"))
}

fn python() -> String {
    for p in ["/usr/bin/python3", "/bin/python3"] {
        if Path::new(p).exists() {
            return p.to_string();
        }
    }
    panic!(
        "the launcher tests need python3 at /usr/bin/python3 (scripts/install-deps installs it)"
    );
}

/// A unit-named cgroup (`CG/NAME.service`) below a throwaway test cgroup.
struct UnitCgroup {
    _parent: TestCgroup,
    path: PathBuf,
    name: String,
}

fn unit_cgroup(stem: &str) -> UnitCgroup {
    let parent = TestCgroup::new();
    let name = format!("{}.service", unique(stem));
    let path = parent.path.join(&name);
    fs::create_dir(&path).unwrap();
    UnitCgroup {
        _parent: parent,
        path,
        name,
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn assert_bound(r: &BTreeMap<String, String>, dev: &str, out: &Output) {
    for key in ["tcp4", "tcp6", "udp4", "udp6", "listen4", "child_udp4"] {
        assert_eq!(
            r.get(key).map(String::as_str),
            Some(dev),
            "{key} should be bound to {dev}; report {r:?}; stderr {}",
            stderr(out)
        );
    }
    assert_eq!(
        r.get("unix").map(String::as_str),
        Some("-"),
        "AF_UNIX is never bound"
    );
}

/// A unit tree below a temporary root: `probe.service`-like units for `--root`.
struct UnitRoot {
    dir: PathBuf,
}

impl UnitRoot {
    fn new() -> UnitRoot {
        let dir = std::env::temp_dir().join(unique("bindif-root"));
        fs::create_dir_all(dir.join("etc/systemd/system")).unwrap();
        UnitRoot { dir }
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A packaged unit running the probe, and an admin drop-in that puts the launcher in front.
    fn probe_unit(&self, name: &str, interface: &str) {
        self.write(
            &format!("usr/lib/systemd/system/{name}"),
            &format!(
                "[Unit]\nDescription=probe\n\n[Service]\nExecStart={} {} packaged %n\n",
                python(),
                probe()
            ),
        );
        self.write(
            &format!("etc/systemd/system/{name}.d/bind.conf"),
            &format!(
                "[Service]\nBindNetworkInterface={interface}\nExecStart=\nExecStart=/usr/lib/bindif-launch %n\n"
            ),
        );
    }

    /// Adds the attach step, as the generator's drop-in runs it first on legacy hosts.
    fn attach_step(&self, name: &str) {
        self.write(
            &format!("etc/systemd/system/{name}.d/zz-attach.conf"),
            "[Service]\nExecStartPre=+/usr/lib/bindif-launch --attach %n\n",
        );
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

#[test]
fn adhoc_binds_inet_sockets_of_command_and_children_only() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "--interface", VETH_A, "--", &python(), &probe()]),
    );
    assert!(out.status.success(), "launcher failed: {}", stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);
    // The caller's cgroup carries no program: only the child cgroup the launcher made does,
    // and the launcher, the command's parent, removed it once the command had exited.
    let fd = fs::File::open(&cg.path).unwrap();
    assert!(bindif::sys::bpf::query(fd.as_fd()).unwrap().is_empty());
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
    // Executed in place (a Type=notify unit's main process keeps its PID), the launcher leaves
    // its cgroup behind, and a later ad hoc run removes it.
    let out = run_in(
        &ns,
        &cg.path,
        "export NOTIFY_SOCKET=/nonexistent",
        &strs(&[BIN, "-i", VETH_A, "--", "true"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let children = child_cgroups(&cg.path);
    assert!(
        children.len() == 1 && children[0].starts_with("bindif-launch-"),
        "{children:?}"
    );
    let out = run_in(&ns, &cg.path, "", &strs(&[BIN, "-i", VETH_A, "--", "true"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        child_cgroups(&cg.path),
        Vec::<String>::new(),
        "leftover ad hoc cgroups are cleaned up"
    );
}

/// For the runs that must take the path that starts the command as a child: the variables
/// that keep the exec path, if the tests run where they are set (under a `Type=notify` unit).
const UNSET_PID_ENV: &str = "unset NOTIFY_SOCKET LISTEN_PID LISTEN_FDS";

/// The names of the child cgroups of `dir`.
fn child_cgroups(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Issue 17 #2: the command is born inside its bound cgroup (`clone3` with
/// `CLONE_INTO_CGROUP`), the launcher stays outside as its parent and never migrates.
#[test]
fn adhoc_command_is_born_in_its_bound_cgroup_below_a_parent_launcher() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let script = "echo parent=$PPID; sed -n 's/^0::/self=/p' /proc/self/cgroup; \
                  sed -n 's/^0::/launcher=/p' /proc/$PPID/cgroup";
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "--debug", "-i", VETH_A, "--", "sh", "-c", script]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    // The launcher (the command's parent) is where it was started; the command is in the
    // launcher's cgroup named after it, from its first instruction: nothing but the launcher
    // could have moved it, and it never wrote a cgroup.procs.
    assert_eq!(r["launcher"], cg.rel(), "{r:?}");
    assert_eq!(
        r["self"],
        format!("{}/bindif-launch-{}", cg.rel(), r["parent"]),
        "{r:?}"
    );
    assert!(
        !stderr(&out).contains("Cannot start the command inside"),
        "fell back: {}",
        stderr(&out)
    );
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

#[test]
fn adhoc_child_passes_exit_status_and_death_by_signal_through() {
    use std::os::unix::process::ExitStatusExt;
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", "sh", "-c", "exit 3"]),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", "sh", "-c", "kill -TERM $$"]),
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGTERM),
        "the launcher's wait status: {:?}; {}",
        out.status,
        stderr(&out)
    );
    assert!(!out.status.core_dumped());
    // A crash is passed on too, without a core of the launcher.
    let out = run_in(
        &ns,
        &cg.path,
        &format!("{UNSET_PID_ENV}; ulimit -c 0"),
        &strs(&[BIN, "-i", VETH_A, "--", "sh", "-c", "kill -SEGV $$"]),
    );
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{:?}", out.status);
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

/// The child path's own bookkeeping: an execve that fails in the child is 203/EXEC with its
/// errno, whatever status a command could exit with; a SIGCHLD the caller ignores is reset
/// for the wait and reaches the command ignored, as it would without the launcher.
#[test]
fn adhoc_child_reports_exec_failure_and_keeps_an_ignored_sigchld() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // Executable, but no format execve knows: found, then refused by execve in the child.
    let dir = std::env::temp_dir().join(format!("bindif-noexec-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let noexec = dir.join("noexec");
    fs::write(&noexec, [0u8; 4]).unwrap();
    fs::set_permissions(&noexec, fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", noexec.to_str().unwrap()]),
    );
    assert_eq!(out.status.code(), Some(203), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Exec format error"),
        "{}",
        stderr(&out)
    );
    // A command's own 127 is its exit status, not a failed execve.
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", "sh", "-c", "exit 127"]),
    );
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let _ = fs::remove_dir_all(&dir);

    // Not through a shell, which sets its own SIGCHLD handler.
    let ignored = |launcher: bool, command: &[&str]| {
        let mut argv = strs(&["env", "--ignore-signal=CHLD"]);
        if launcher {
            argv.extend(strs(&[BIN, "-i", VETH_A, "--"]));
        }
        argv.extend(strs(command));
        run_in(&ns, &cg.path, UNSET_PID_ENV, &argv)
    };
    let grep = ["grep", "-E", "^(SigIgn|SigBlk):", "/proc/self/status"];
    let (direct, launched) = (ignored(false, &grep), ignored(true, &grep));
    assert!(launched.status.success(), "{}", stderr(&launched));
    assert_eq!(signal_report(&direct), signal_report(&launched));
    let sig_ign = u64::from_str_radix(&signal_report(&launched)["SigIgn"], 16).unwrap();
    assert_ne!(
        sig_ign & (1 << (libc::SIGCHLD - 1)),
        0,
        "SIGCHLD still ignored"
    );
    // The launcher itself, started with SIGCHLD ignored, still waits for its command.
    let out = ignored(true, &["sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let out = ignored(true, &["sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{:?}", out.status);
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

#[test]
fn adhoc_launcher_forwards_signals_to_its_child() {
    use std::io::{BufRead, BufReader};
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // Gives up after about 5 s, so a signal that never arrives fails the test rather than hang it.
    let script = "trap 'echo got=$1; exit 7' TERM; echo ready; i=0; \
                  while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo timeout";
    for (sig, name) in [
        (libc::SIGTERM, "TERM"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGHUP, "HUP"),
    ] {
        let script = script.replace("TERM", name).replace("$1", name);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > '{}/cgroup.procs' || exit 99\nexec nsenter --net=/run/netns/{} \"$@\"",
                cg.path.display(),
                ns.name
            ))
            .arg("sh")
            .args([BIN, "-i", VETH_A, "--", "sh", "-c", &script])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        // The spawned shell became nsenter, then the launcher: the same PID.
        // SAFETY: kill of our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        assert_eq!(lines.next().unwrap().unwrap(), format!("got={name}"));
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(7), "{name}: {status:?}");
    }
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

/// On a terminal, the command is in the foreground process group (the launcher's: nothing is
/// moved, as with `nsenter --fork`), and ^C reaches it from the terminal.
#[test]
fn adhoc_child_on_a_terminal_is_in_the_foreground_and_gets_its_interrupt() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let command = "trap 'echo got-int; exit 5' INT; \
                   echo pgid=$(ps -o pgid= -p $$) tpgid=$(ps -o tpgid= -p $$); echo ready; \
                   i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo timeout";
    let launcher = adhoc_sh_in(&cg, &ns);
    // A new session on a pseudo-terminal; ^C is written to it once the command is ready.
    let driver = r#"
while time.time() < deadline:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if b"ready" in out and b"\x03" not in out and b"sent" not in out:
        os.write(fd, b"\x03")
        out += b"sent\n"
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("status=%d" % os.waitstatus_to_exitcode(status))
"#;
    let text = on_pty(driver, &launcher, command);
    let ids = text
        .lines()
        .find_map(|l| l.strip_prefix("pgid="))
        .unwrap_or_else(|| panic!("no ids: {text}"));
    let (pgid, tpgid) = ids.split_once(" tpgid=").unwrap();
    assert_eq!(pgid.trim(), tpgid.trim(), "not in the foreground: {text}");
    assert!(text.contains("got-int"), "{text}");
    assert!(text.contains("status=5"), "{text}");
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

/// Runs the Python `driver`, after a start that runs `sh -c LAUNCHER COMMAND` in a new session
/// on a pseudo-terminal (`pid`, `fd`, and `out` and `deadline` for the driver's read loop),
/// outside any unit's environment. Returns what it printed, without carriage returns.
fn on_pty(driver: &str, launcher: &str, command: &str) -> String {
    const START: &str = r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", sys.argv[1], sys.argv[2]])
out = b""
deadline = time.time() + 10
"#;
    let out = Command::new(python())
        .args(["-c", &format!("{START}{driver}"), launcher, command])
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// A shell command line that enters `cg`, then runs the ad hoc launcher in `ns` on `sh -c "$0"`
/// (the command comes as the shell's `$0`).
fn adhoc_sh_in(cg: &TestCgroup, ns: &NetNs) -> String {
    format!(
        "echo $$ > '{}/cgroup.procs' || exit 99; exec nsenter --net=/run/netns/{} {BIN} -i {VETH_A} -- sh -c \"$0\"",
        cg.path.display(),
        ns.name
    )
}

/// Signals the kernel sends to the launcher alone reach the command: a hang-up of the terminal
/// whose session the launcher leads (`ssh -t host bindif-launch …`: only the session leader is
/// told), and an alarm set before the launcher was executed. Executed in place, the command
/// would have got both.
#[test]
fn adhoc_launcher_passes_on_a_hang_up_it_leads_and_an_inherited_alarm() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // Gives up after about 5 s, so a signal that never arrives fails the test rather than hang it.
    let command = |sig: &str, code: u8| {
        format!(
            "trap 'exit {code}' {sig}; echo ready; \
             i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; exit 1"
        )
    };
    let launcher = adhoc_sh_in(&cg, &ns);
    // A new session on a pseudo-terminal, hung up (its master closed) once the command is ready.
    let driver = r#"
while b"ready" not in out and time.time() < deadline:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.close(fd)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("status=%d" % os.waitstatus_to_exitcode(status))
"#;
    let text = on_pty(driver, &launcher, &command("HUP", 6));
    assert!(text.contains("status=6"), "hang-up not passed on: {text}");

    // An alarm survives execve: it goes off in the launcher, whose command is to get it.
    let alarm = "import os, signal, sys; signal.alarm(1); os.execvp(sys.argv[1], sys.argv[1:])";
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[
            &python(),
            "-c",
            alarm,
            BIN,
            "-i",
            VETH_A,
            "--",
            "sh",
            "-c",
            &command("ALRM", 8),
        ]),
    );
    assert_eq!(
        out.status.code(),
        Some(8),
        "alarm not passed on: {}",
        stderr(&out)
    );
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

#[test]
fn adhoc_cgroup_stays_while_the_commands_processes_run_then_goes() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // The command leaves a process behind: its cgroup (and binding) stays with it.
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[
            BIN,
            "-i",
            VETH_A,
            "--",
            "sh",
            "-c",
            "sleep 1 </dev/null >/dev/null 2>&1 &",
        ]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let children = child_cgroups(&cg.path);
    assert_eq!(children.len(), 1, "{children:?}");
    let left = cg.path.join(&children[0]);
    let fd = fs::File::open(&left).unwrap();
    assert_eq!(bindif::sys::bpf::query(fd.as_fd()).unwrap().len(), 1);
    drop(fd);
    // Once it is empty, the next run removes it, and its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fs::read_to_string(left.join("cgroup.procs")).unwrap_or_default() != ""
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", "true"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

/// Runs `bindif-launch -i VETH_A -- true` in `cg` with `clone3` answered as `how` says
/// (`tests/probe/seccomp_clone3.py`).
fn adhoc_with_clone3(ns: &NetNs, cg: &Path, how: &str) -> Output {
    let filter = format!(
        "{}/tests/probe/seccomp_clone3.py",
        env!("CARGO_MANIFEST_DIR")
    );
    run_in(
        ns,
        cg,
        UNSET_PID_ENV,
        &strs(&[&python(), &filter, how, BIN, "-i", VETH_A, "--", "true"]),
    )
}

/// Whether the directory carries the owner marker (either namespace).
fn marked(dir: &Path) -> bool {
    let f = fs::File::open(dir).unwrap();
    bindif::sys::cgroup::read_owner(f.as_fd()).is_some()
}

/// Where `clone3` fails for real (a kernel before 5.3, a seccomp filter), the launcher moves
/// into its cgroup and executes the command in place, leaving the cgroup behind: it must be
/// marked, so that a later run removes it.
#[test]
fn adhoc_fallback_without_clone3_leaves_a_marked_cgroup_a_later_run_removes() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = adhoc_with_clone3(&ns, &cg.path, "enosys");
    assert!(out.status.success(), "{}", stderr(&out));
    let children = child_cgroups(&cg.path);
    assert_eq!(children.len(), 1, "{children:?}");
    assert!(
        marked(&cg.path.join(&children[0])),
        "{children:?} is unmarked"
    );
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", "true"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(child_cgroups(&cg.path), Vec::<String>::new());
}

/// A launcher killed after its mkdir and attach but before the command started (SIGKILL, a
/// terminal's SIGINT during the start) leaves a cgroup with its program: a later run must be
/// able to remove it once its maker is gone, as it could when the marker was set at mkdir.
#[test]
fn adhoc_launcher_killed_before_the_command_starts_leaves_a_removable_cgroup() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = adhoc_with_clone3(&ns, &cg.path, "kill");
    assert!(
        !out.status.success(),
        "the filter did not kill the launcher"
    );
    let children = child_cgroups(&cg.path);
    assert_eq!(children.len(), 1, "{children:?}");
    let left = cg.path.join(&children[0]);
    let fd = fs::File::open(&left).unwrap();
    assert_eq!(bindif::sys::bpf::query(fd.as_fd()).unwrap().len(), 1);
    drop(fd);
    let was_marked = marked(&left);
    let out = run_in(
        &ns,
        &cg.path,
        UNSET_PID_ENV,
        &strs(&[BIN, "-i", VETH_A, "--", "true"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let left_after = child_cgroups(&cg.path);
    // Removed by hand should the assertion fail, so the test cgroup can go.
    if !left_after.is_empty() {
        let _ = fs::remove_dir(&left);
    }
    assert_eq!(
        left_after,
        Vec::<String>::new(),
        "the killed run's cgroup stays (marked: {was_marked})"
    );
}

#[test]
fn adhoc_resolves_altnames() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, "--interface", ALTNAME, "--", &python(), &probe()]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);
}

#[test]
fn unit_mode_discovers_the_packaged_exec_start() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("probe");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, VETH_A);
    let out = run_in(&ns, &ucg.path, "", &strs(&[BIN, &root.arg(), &ucg.name]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    assert_bound(&r, VETH_A, &out);
    assert_eq!(
        r["argv"],
        format!("packaged,{}", ucg.name),
        "specifiers expanded"
    );
    // The program sits on the unit's own cgroup.
    let fd = fs::File::open(&ucg.path).unwrap();
    assert_eq!(bindif::sys::bpf::query(fd.as_fd()).unwrap().len(), 1);
}

#[test]
fn unit_mode_with_explicit_command_and_attach_mode() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("explicit");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, VETH_A);
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[
            BIN,
            &root.arg(),
            &ucg.name,
            "--",
            &python(),
            &probe(),
            "explicit",
        ]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    assert_bound(&r, VETH_A, &out);
    assert_eq!(r["argv"], "explicit");

    let ucg = unit_cgroup("attach");
    root.probe_unit(&ucg.name, VETH_A);
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), "--attach", &ucg.name]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    // A later process of the unit (not started by the launcher) is bound.
    let out = run_in(&ns, &ucg.path, "", &strs(&[&python(), &probe()]));
    assert_bound(&report(&out), VETH_A, &out);
}

/// A unit whose name starts with `-` (as `systemd-escape` makes them) is bound
/// through the forms the generator writes, `--unit=%n -- COMMAND` and `--attach --unit=%n`.
#[test]
fn unit_names_starting_with_a_dash_are_bound_by_both_forms() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let root = UnitRoot::new();
    for (stem, attach) in [("launch", false), ("attach", true)] {
        let name = format!("-{}.service", unique(stem));
        let path = parent.path.join(&name);
        fs::create_dir(&path).unwrap();
        root.probe_unit(&name, VETH_A);
        let unit = format!("--unit={name}");
        let argv = if attach {
            strs(&[BIN, &root.arg(), "--attach", &unit])
        } else {
            strs(&[BIN, &root.arg(), &unit, "--", &python(), &probe(), "x"])
        };
        let out = run_in(&ns, &path, "", &argv);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let out = if attach {
            // A later process of the unit (not started by the launcher) is bound.
            run_in(&ns, &path, "", &strs(&[&python(), &probe()]))
        } else {
            out
        };
        assert_bound(&report(&out), VETH_A, &out);
    }
}

/// Issue 20 #4: the launcher run through a link named after the command's executable, as the
/// generator's wrapped lines run it on legacy hosts, is the launcher: it binds and executes the
/// command, whatever that name.
#[test]
fn a_link_named_after_the_command_runs_the_launcher() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("linked");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, VETH_A);
    let links = root.dir.join("run/systemd/generator/bindif-launch-exec");
    fs::create_dir_all(&links).unwrap();
    let py = python();
    let name = Path::new(&py).file_name().unwrap().to_str().unwrap();
    let link = links.join(name);
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let unit = format!("--unit={}", ucg.name);
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[
            link.to_str().unwrap(),
            &root.arg(),
            &unit,
            "--",
            &py,
            &probe(),
            "linked",
        ]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    assert_bound(&r, VETH_A, &out);
    assert_eq!(r["argv"], "linked");
}

/// Issue 17 #1: the generator's form of the attach step binds to the value the generator
/// resolved at the last daemon-reload and reads no unit file: a unit file changed since (here it
/// names another interface, and one the other way round names none) changes nothing until the
/// next reload, as with v262. The last valid value wins; an invalid one (a template's `%i` that
/// made no valid name for this instance) is warned about; none valid refuses under fail-closed.
#[test]
fn attach_with_resolved_values_reads_no_unit_file() {
    require_privileges();
    let ns = NetNs::new();
    let root = UnitRoot::new();
    let ucg = unit_cgroup("resolved");
    root.probe_unit(&ucg.name, VETH_B);
    let attach = |name: &str, extra: &[&str]| {
        let mut argv = vec![BIN.to_string(), root.arg(), "--attach".into(), name.into()];
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    };
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &attach(
            &ucg.name,
            &[
                "--resolved=nosuchif0",
                &format!("--resolved={VETH_A}"),
                "--resolved=bad/name",
            ],
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Invalid interface name, ignoring: bad/name"),
        "{}",
        stderr(&out)
    );
    let out = run_in(&ns, &ucg.path, "", &strs(&[&python(), &probe()]));
    assert_bound(&report(&out), VETH_A, &out);

    // No unit file at all: nothing is read.
    let gone = unit_cgroup("resolved-gone");
    let out = run_in(
        &ns,
        &gone.path,
        "",
        &attach(&gone.name, &[&format!("--resolved={VETH_A}")]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in(&ns, &gone.path, "", &strs(&[&python(), &probe()]));
    assert_bound(&report(&out), VETH_A, &out);

    // Every value ignored: unbound (fail-open), refused (fail-closed), nothing attached.
    let none = unit_cgroup("resolved-none");
    root.probe_unit(&none.name, VETH_A);
    let out = run_in(&ns, &none.path, "", &attach(&none.name, &["--resolved="]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in(
        &ns,
        &none.path,
        "",
        &attach(&none.name, &["--resolved=", "--fail-closed"]),
    );
    assert_eq!(out.status.code(), Some(225), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No valid BindNetworkInterface="),
        "{}",
        stderr(&out)
    );
    let fd = fs::File::open(&none.path).unwrap();
    assert!(bindif::sys::bpf::query(fd.as_fd()).unwrap().is_empty());
}

/// The system calls `argv` makes, traced by strace inside `ns` and `cg`: one line per call, as
/// `NAME(FIRST-ARGUMENT) = RESULT` (`= -1 ERRNO` for a failure).
fn traced(ns: &NetNs, cg: &Path, argv: &[String]) -> Vec<String> {
    let log = std::env::temp_dir().join(unique("bindif-strace"));
    let mut traced = strs(&["strace", "-f", "-qq", "-o", log.to_str().unwrap()]);
    traced.extend(argv.iter().cloned());
    let out = run_in(ns, cg, "", &traced);
    let text = fs::read_to_string(&log).unwrap_or_else(|e| {
        panic!(
            "no strace log (strace is needed: scripts/install-deps installs it): {e}; {}",
            stderr(&out)
        )
    });
    let _ = fs::remove_file(&log);
    assert!(out.status.success(), "{}", stderr(&out));
    text.lines()
        .filter_map(|l| {
            // `PID  NAME(ARGS...) = RESULT [ERRNO (text)]`
            let call = l.split_once(char::is_whitespace)?.1.trim_start();
            let (name, rest) = call.split_once('(')?;
            let first = rest.split([',', ')']).next().unwrap_or_default();
            let result = call.rsplit_once(" = ")?.1;
            let result = match result.strip_prefix("-1 ") {
                Some(err) => format!("-1 {}", err.split(' ').next().unwrap_or_default()),
                None => "ok".to_string(),
            };
            Some(format!("{name}({first}) = {result}"))
        })
        .collect()
}

/// Issue 17: the attach step as the generator writes it makes no call it does not need. Its
/// BPF calls on the common path, the program an earlier start pinned: the pin opened, checked
/// (which reads the program's id, the attach's too), attached, the hook's list read for older
/// copies; and where that very program is on the hook already (the cgroup outlived a stop),
/// the attach refused with EINVAL, which the list then explains. From the pin on, the one
/// descriptor closed is /proc/self/cgroup's: the exit closes the rest.
#[test]
fn attach_step_makes_each_bpf_call_once() {
    require_privileges();
    let ns = NetNs::new();
    // An interface name of this test's own: a pin no other test replaces meanwhile.
    let dev = "calls0";
    run(
        "ip",
        &[
            "-n", &ns.name, "link", "add", dev, "type", "veth", "peer", "name", "calls1",
        ],
    );
    run("ip", &["-n", &ns.name, "link", "set", dev, "up"]);
    let attach = |name: &str| strs(&[BIN, "--attach", name, &format!("--resolved={dev}")]);
    // The first start for the name pins the program (or replaces a stale pin).
    let first = unit_cgroup("calls");
    let out = run_in(&ns, &first.path, "", &attach(&first.name));
    assert!(out.status.success(), "{}", stderr(&out));
    let bpf = |calls: Vec<String>| -> Vec<String> {
        let from_pin = calls.iter().skip_while(|c| !c.starts_with("bpf("));
        let closed: Vec<&String> = from_pin.filter(|c| c.starts_with("close(")).collect();
        assert_eq!(closed.len(), 1, "{calls:#?}");
        calls
            .into_iter()
            .filter(|c| c.starts_with("bpf("))
            .collect()
    };
    let fresh = unit_cgroup("calls-fresh");
    assert_eq!(
        bpf(traced(&ns, &fresh.path, &attach(&fresh.name))),
        [
            "bpf(BPF_OBJ_GET) = ok",
            "bpf(BPF_OBJ_GET_INFO_BY_FD) = ok",
            "bpf(BPF_PROG_ATTACH) = ok",
            "bpf(BPF_PROG_QUERY) = ok",
        ]
    );
    assert_eq!(
        bpf(traced(&ns, &fresh.path, &attach(&fresh.name))),
        [
            "bpf(BPF_OBJ_GET) = ok",
            "bpf(BPF_OBJ_GET_INFO_BY_FD) = ok",
            "bpf(BPF_PROG_ATTACH) = -1 EINVAL",
            "bpf(BPF_PROG_QUERY) = ok",
        ]
    );
    let fd = fs::File::open(&fresh.path).unwrap();
    assert_eq!(bindif::sys::bpf::query(fd.as_fd()).unwrap().len(), 1);
}

#[test]
fn missing_interface_fails_open_by_default_and_closed_on_request() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("missing");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, "nosuchif0");
    let out = run_in(&ns, &ucg.path, "", &strs(&[BIN, &root.arg(), &ucg.name]));
    assert!(out.status.success(), "{}", stderr(&out));
    // v262's warning, the unit's name first as PID 1's log_unit_warning_errno() puts it.
    assert!(
        stderr(&out).contains(&format!(
            "bindif-launch: {}: bind-interface: Couldn't find index of network interface 'nosuchif0', ignoring: No such device\n",
            ucg.name
        )),
        "v262's warning: {}",
        stderr(&out)
    );
    assert_eq!(report(&out)["udp4"], "-", "runs unbound");

    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), "--fail-closed", &ucg.name]),
    );
    assert_eq!(out.status.code(), Some(225), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the command must not run");

    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, "--interface", "nosuchif0", "--", "true"]),
    );
    assert_eq!(
        out.status.code(),
        Some(225),
        "ad hoc fails closed: {}",
        stderr(&out)
    );
}

#[test]
fn unprivileged_caller_gets_bpf_status_naming_the_capability() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // Let nobody write to the test cgroup so the BPF step, not the cgroup step, is what fails.
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
            "--interface",
            VETH_A,
            "--",
            "true",
        ]),
    );
    assert_eq!(out.status.code(), Some(245), "{}", stderr(&out));
    assert!(stderr(&out).contains("CAP_BPF"), "{}", stderr(&out));
}

#[test]
fn restarts_leave_exactly_one_program() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("restart");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, VETH_A);
    let script = format!(
        "i=0; while [ $i -lt 200 ]; do {BIN} {} --attach {} || exit 1; i=$((i+1)); done",
        root.arg(),
        ucg.name
    );
    let out = run_in(&ns, &ucg.path, "", &strs(&["sh", "-c", &script]));
    assert!(out.status.success(), "{}", stderr(&out));
    let fd = fs::File::open(&ucg.path).unwrap();
    let ids = bindif::sys::bpf::query(fd.as_fd()).unwrap();
    assert_eq!(
        ids.len(),
        1,
        "exactly one program after 200 attaches: {ids:?}"
    );
    assert!(bindif::sys::bpf::prog_info(ids[0]).unwrap().is_ours());
}

/// SIGPIPE's bit in /proc/PID/status `SigIgn`.
const SIGPIPE_BIT: u64 = 1 << (libc::SIGPIPE - 1);

/// `SigIgn`/`SigBlk` of a command that changes neither (python, the probe, ignores SIGPIPE
/// itself, so it cannot report what it inherited).
fn signal_report(out: &Output) -> BTreeMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn exec_keeps_descriptors_ids_capabilities_and_signals() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    // fd 7 is "given" to the service and must reach the command. Both SIGPIPE dispositions are
    // set explicitly with env(1): the environment running the tests may ignore SIGPIPE, and a
    // shell cannot reset a disposition it inherited as ignored.
    for (disposition, ignored) in [
        ("--default-signal=PIPE", false),
        ("--ignore-signal=PIPE", true),
    ] {
        let cmd = |launcher: bool, payload: &[String]| {
            let mut argv = strs(&["env", disposition]);
            if launcher {
                argv.extend(strs(&[BIN, "-i", VETH_A, "--"]));
            }
            argv.extend(payload.iter().cloned());
            run_in(&ns, &cg.path, "exec 7</dev/null", &argv)
        };
        let probe_cmd = strs(&[&python(), &probe(), "--child"]);
        let (direct, launched) = (cmd(false, &probe_cmd), cmd(true, &probe_cmd));
        assert!(launched.status.success(), "{}", stderr(&launched));
        let (d, l) = (report(&direct), report(&launched));
        for key in [
            "fds",
            "Uid",
            "Gid",
            "Groups",
            "CapInh",
            "CapPrm",
            "CapEff",
            "CapBnd",
            "CapAmb",
            "NoNewPrivs",
            "notify_socket",
            "listen_fds",
        ] {
            assert_eq!(
                d.get(key),
                l.get(key),
                "{key} differs with the launcher ({disposition})"
            );
        }
        assert!(
            d["fds"].split(',').any(|f| f == "7"),
            "fd 7 was given: {}",
            d["fds"]
        );
        assert_eq!(l["udp4"], VETH_A);

        let grep = strs(&["grep", "-E", "^(SigIgn|SigBlk):", "/proc/self/status"]);
        let (d, l) = (
            signal_report(&cmd(false, &grep)),
            signal_report(&cmd(true, &grep)),
        );
        assert_eq!(
            d, l,
            "signal mask and dispositions differ with the launcher ({disposition})"
        );
        let sig_ign = u64::from_str_radix(&l["SigIgn"], 16).unwrap();
        assert_eq!(
            sig_ign & SIGPIPE_BIT != 0,
            ignored,
            "SIGPIPE disposition ({disposition})"
        );
    }
}

/// The ad hoc command starts with the signal mask the launcher was given, whatever C library
/// the launcher is built with: musl's `sigprocmask` leaves signals 32–34 out of the mask it
/// reports (its internal signals), so a mask saved and restored through it loses signal 34
/// (glibc's SIGRTMIN, the first real-time signal glibc programs use), and glibc's leaves
/// 32 and 33 out of a mask it sets.
#[test]
fn adhoc_keeps_an_inherited_mask_of_real_time_signals() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let grep = strs(&["grep", "-E", "^SigBlk:", "/proc/self/status"]);
    for blocked in ["34", "USR1,34,40"] {
        let cmd = |launcher: bool| {
            let mut argv = strs(&["env", &format!("--block-signal={blocked}")]);
            if launcher {
                argv.extend(strs(&[BIN, "-i", VETH_A, "--"]));
            }
            argv.extend(grep.iter().cloned());
            run_in(&ns, &cg.path, "", &argv)
        };
        let (direct, launched) = (cmd(false), cmd(true));
        assert!(launched.status.success(), "{}", stderr(&launched));
        assert_eq!(
            signal_report(&direct),
            signal_report(&launched),
            "the signal mask differs with the launcher (blocked: {blocked})"
        );
    }
}

#[test]
fn exec_failures_and_bad_arguments_use_systemd_statuses() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, "-i", VETH_A, "--", "/nonexistent/cmd"]),
    );
    assert_eq!(out.status.code(), Some(203), "{}", stderr(&out));
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, "-i", VETH_A, "--", "/etc/hostname"]),
    );
    assert_eq!(out.status.code(), Some(203), "{}", stderr(&out));
    let out = run_in(&ns, &cg.path, "", &strs(&[BIN, "--bogus"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run_in(&ns, &cg.path, "", &strs(&[BIN, "-i", "a/b", "--", "true"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let root = UnitRoot::new();
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, &root.arg(), "nosuch.service"]),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn wait_option_starts_once_the_interface_appears() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let script = format!(
        "echo $$ > '{}/cgroup.procs' && exec nsenter --net=/run/netns/{} {BIN} --wait=10 -i late0 -- {} {}",
        cg.path.display(),
        ns.name,
        python(),
        probe()
    );
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    common::run(
        "ip",
        &[
            "-n", &ns.name, "link", "add", "late0", "type", "veth", "peer", "name", "late1",
        ],
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bound(&report(&out), "late0", &out);
    assert!(
        stderr(&out).contains("Waiting up to 10.0s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_catches_a_program_that_undoes_the_binding() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("verify");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, VETH_A);
    // Without interference the probe socket carries the interface.
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), "--verify", &ucg.name]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);
    // A foreign program on the parent cgroup runs after ours and clears bound_dev_if, as
    // net_cls/net_prio interference or another tool would: --verify refuses to start.
    let parent = ucg.path.parent().unwrap();
    let unbind = bindif::program::bind_iface_program(0);
    let prog = bindif::sys::bpf::load_program(&unbind, "foreign_unbind").unwrap();
    let dir = fs::File::open(parent).unwrap();
    bindif::sys::bpf::attach(dir.as_fd(), prog.as_fd()).unwrap();
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), "--verify", &ucg.name]),
    );
    assert_eq!(out.status.code(), Some(245), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Verification failed"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "the command must not run");
    // The failed start takes its program off again (issue 13 #12): nothing of ours is left,
    // the first start's copy having been replaced by it.
    let unit_dir = fs::File::open(&ucg.path).unwrap();
    let ours = bindif::sys::bpf::attached_programs(unit_dir.as_fd()).unwrap();
    assert!(ours.iter().all(|p| !p.is_ours()), "{ours:?}");
    // Without --verify the default check (issue 18 #3) still catches it: an error naming the
    // cause, and the fail-open start goes ahead, unbound; fail-closed refuses.
    let out = run_in(&ns, &ucg.path, "", &strs(&[BIN, &root.arg(), &ucg.name]));
    assert!(out.status.success());
    assert_eq!(report(&out)["udp4"], "-");
    let err = stderr(&out);
    assert!(
        err.contains("bind-interface: Verification failed: a new socket is bound to no interface")
            && err.contains(", ignoring"),
        "{err}"
    );
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), "--fail-closed", &ucg.name]),
    );
    assert_eq!(out.status.code(), Some(245), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the command must not run");
    // --no-verify: not checked, nothing said.
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), "--no-verify", &ucg.name]),
    );
    assert!(out.status.success());
    assert!(!stderr(&out).contains("Verification"), "{}", stderr(&out));
}

#[test]
fn journal_stream_gets_priority_prefixes() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("journal");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, "nosuchif1");
    let log = root.dir.join("stderr.log");
    // $JOURNAL_STREAM names the device:inode of stderr, as systemd sets it.
    let script = format!(
        "exec 2>'{log}'; export JOURNAL_STREAM=$(stat -c '%d:%i' '{log}'); echo $$ > '{}/cgroup.procs'; exec nsenter --net=/run/netns/{} {BIN} {} {} -- /bin/true",
        ucg.path.display(),
        ns.name,
        root.arg(),
        ucg.name,
        log = log.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!(
            "<4>{}: bind-interface: Couldn't find index of network interface 'nosuchif1', ignoring: No such device\n",
            ucg.name
        )),
        "{text}"
    );
    // Redirected elsewhere (inode differs): plain lines with the program name.
    let out = run_in(
        &ns,
        &ucg.path,
        "export JOURNAL_STREAM=1:1",
        &strs(&[BIN, &root.arg(), &ucg.name, "--", "/bin/true"]),
    );
    assert!(
        stderr(&out).starts_with(&format!(
            "bindif-launch: {}: bind-interface: Couldn't find",
            ucg.name
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn notify_status_names_the_binding() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let dir = UnitRoot::new();
    let path = dir.dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let out = run_in(
        &ns,
        &cg.path,
        &format!("export NOTIFY_SOCKET='{}'", path.display()),
        &strs(&[
            BIN,
            "--notify-status",
            "-i",
            VETH_A,
            "--",
            &python(),
            &probe(),
        ]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]);
    let ifindex = ns.ifindex_by_ip(VETH_A);
    assert_eq!(
        msg,
        format!("STATUS=Sockets of command bound to {VETH_A} (ifindex {ifindex})")
    );
    // NOTIFY_SOCKET itself reaches the command untouched.
    assert_eq!(report(&out)["notify_socket"], path.display().to_string());
}

#[test]
fn unit_without_the_key_runs_unbound_and_help_and_version_work() {
    require_privileges();
    let ns = NetNs::new();
    let ucg = unit_cgroup("nokey");
    let root = UnitRoot::new();
    root.write(
        &format!("etc/systemd/system/{}", ucg.name),
        "[Service]\nExecStart=/usr/lib/bindif-launch %n\n",
    );
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, &root.arg(), &ucg.name, "--", &python(), &probe()]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report(&out)["udp4"], "-");
    assert!(
        stderr(&out).contains(&format!(
            "bindif-launch: {}: bind-interface: No BindNetworkInterface=, not binding the unit's sockets\n",
            ucg.name
        )),
        "{}",
        stderr(&out)
    );

    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--attach UNIT"));
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("bindif-launch {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn show_reports_files_binding_warnings_and_command() {
    require_privileges();
    let root = UnitRoot::new();
    root.write(
        "usr/lib/systemd/system/web@.service",
        "[Service]\nExecStart=/usr/sbin/web --port 80 %i\n",
    );
    root.write(
        "etc/systemd/system/web@.service.d/10-bind.conf",
        "[Service]\nBindNetworkInterface=%i\nBindNetworkInterface=a/b\nExecStart=\nExecStart=/usr/lib/bindif-launch %n\n",
    );
    let out = Command::new(BIN)
        .args([&root.arg(), "show", "web@mgmt.service"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Unit: web@mgmt.service",
        "Fragment: /usr/lib/systemd/system/web@.service",
        "Drop-Ins: /etc/systemd/system/web@.service.d/10-bind.conf",
        "BindNetworkInterface: mgmt (from /etc/systemd/system/web@.service.d/10-bind.conf:2)",
        "Command: /usr/sbin/web --port 80 mgmt (from /usr/lib/systemd/system/web@.service:2)",
        "Warning: /etc/systemd/system/web@.service.d/10-bind.conf:3: Invalid interface name, ignoring: a/b",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let out = Command::new(BIN)
        .args([
            &root.arg(),
            "show",
            "--json",
            "web@mgmt.service",
            "nosuch.service",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a missing unit makes show fail");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        json.starts_with("[{\"unit\":\"web@mgmt.service\""),
        "{json}"
    );
    assert!(
        json.contains("\"bind_network_interface\":{\"value\":\"mgmt\""),
        "{json}"
    );
    assert!(
        json.contains("\"argv\":[\"/usr/sbin/web\",\"--port\",\"80\",\"mgmt\"]"),
        "{json}"
    );
    assert!(
        json.contains("{\"unit\":\"nosuch.service\",\"error\":"),
        "{json}"
    );
}

#[test]
fn unit_mode_outside_the_units_cgroup_binds_nothing() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let root = UnitRoot::new();
    root.probe_unit("elsewhere.service", VETH_A);
    // Started from a cgroup that is not elsewhere.service's (as from a login shell): binding
    // this cgroup would bind someone else's processes.
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, &root.arg(), "elsewhere.service"]),
    );
    assert!(
        out.status.success(),
        "fail-open runs the command: {}",
        stderr(&out)
    );
    assert_eq!(report(&out)["udp4"], "-");
    assert!(
        stderr(&out).contains("not inside the unit"),
        "{}",
        stderr(&out)
    );
    let fd = fs::File::open(&cg.path).unwrap();
    assert!(bindif::sys::bpf::query(fd.as_fd()).unwrap().is_empty());
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, &root.arg(), "--fail-closed", "elsewhere.service"]),
    );
    assert_eq!(out.status.code(), Some(219), "{}", stderr(&out));
}

#[test]
fn adhoc_binds_only_its_command_also_when_alone_in_a_unit() {
    require_privileges();
    let ns = NetNs::new();
    // Alone in a service's cgroup, as under `systemd-run` or in `ExecStartPre=`: only the
    // command is bound, in a child cgroup; the service's cgroup stays unbound (issue 13 #3).
    let alone = unit_cgroup("run-alone");
    let out = run_in(
        &ns,
        &alone.path,
        "",
        &strs(&[BIN, "-i", VETH_A, "--", &python(), &probe()]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);
    let fd = fs::File::open(&alone.path).unwrap();
    assert!(bindif::sys::bpf::query(fd.as_fd()).unwrap().is_empty());
    // A script inside a service (another process shares the cgroup): only the command is
    // bound, in a child cgroup; the service keeps running unbound.
    let shared = unit_cgroup("script");
    let mut other = Command::new("sh")
        .args([
            "-c",
            &format!(
                "echo $$ > '{}/cgroup.procs' && exec sleep 30",
                shared.path.display()
            ),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let out = run_in(
        &ns,
        &shared.path,
        "",
        &strs(&[BIN, "-i", VETH_A, "--", &python(), &probe()]),
    );
    let _ = other.kill();
    let _ = other.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);
    let fd = fs::File::open(&shared.path).unwrap();
    assert!(
        bindif::sys::bpf::query(fd.as_fd()).unwrap().is_empty(),
        "the service's own cgroup must stay unbound"
    );
}

/// The phases `--timing` names in its line, in the launcher's order.
fn timing_phases(err: &str) -> Vec<String> {
    let line = err
        .lines()
        .find(|l| l.contains("bind-interface: Timing: "))
        .unwrap_or_else(|| panic!("no timing line in: {err}"));
    let body = line.split("Timing: ").nth(1).unwrap();
    let (phases, total) = body.split_once("; ").unwrap();
    assert!(total.ends_with(" in all since main()"), "{line}");
    phases
        .split(", ")
        .map(|p| {
            let (name, d) = p.rsplit_once(' ').unwrap();
            assert!(d.ends_with("µs") || d.ends_with("ms"), "{line}");
            name.to_string()
        })
        .collect()
}

/// The phases with the two ways to the interface's index and program folded into one name: the
/// program pinned under the interface's name (an earlier start left it, and its ifindex carries
/// the name), or the rtnetlink lookup and then the load (or the pin for that index).
fn lookup_folded(phases: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in phases {
        match p.as_str() {
            "pinned program for the name" | "interface resolve" => out.push("LOOKUP".into()),
            "program load" if out.last().map(String::as_str) == Some("LOOKUP") => {}
            _ => out.push(p),
        }
    }
    out
}

#[test]
fn timing_names_every_phase_of_the_launch() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, "--timing", "-i", VETH_A, "--", "true"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let first = timing_phases(&stderr(&out));
    assert_eq!(
        lookup_folded(first),
        [
            "start-up",
            "command lookup",
            "LOOKUP",
            "cgroup",
            "attach",
            "interface re-check"
        ]
    );

    let ucg = unit_cgroup("timing");
    let root = UnitRoot::new();
    root.probe_unit(&ucg.name, VETH_A);
    let out = run_in(
        &ns,
        &ucg.path,
        "",
        &strs(&[BIN, "--timing", "--verify", &root.arg(), &ucg.name]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        lookup_folded(timing_phases(&stderr(&out))),
        [
            "start-up",
            "systemd version",
            "unit load",
            "command lookup",
            "LOOKUP",
            "cgroup",
            "attach",
            "interface re-check",
            "verify"
        ]
    );
    // The ad hoc run above pinned the program for bt0 (or found it): a second one takes it by
    // the name, without rtnetlink.
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[BIN, "--timing", "-i", VETH_A, "--", "true"]),
    );
    let again = timing_phases(&stderr(&out));
    // Pins need the bpffs systemd mounts at /sys/fs/bpf; without it every start looks up.
    let bpffs = std::process::Command::new("stat")
        .args(["-fc", "%T", "/sys/fs/bpf"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "bpf_fs");
    if !bpffs {
        eprintln!("no bpffs at /sys/fs/bpf: expecting the lookup on every start");
    }
    assert_eq!(
        again.iter().any(|p| p == "pinned program for the name"),
        bpffs,
        "{again:?}"
    );
    // Without the flag, no timing line.
    let out = run_in(&ns, &cg.path, "", &strs(&[BIN, "-i", VETH_A, "--", "true"]));
    assert!(!stderr(&out).contains("Timing:"), "{}", stderr(&out));
}

/// Issue 13 #7: a binding nested in another one is silently ineffective (the ancestor's
/// program runs last). `B --interface bt0 -- B --interface lo -- cmd`: the inner launcher
/// refuses (fail closed, ad hoc's default) with 245, or warns and goes on (fail open), when
/// the command indeed keeps the outer interface.
#[test]
fn nested_binding_to_another_interface_is_refused_or_warned_about() {
    require_privileges();
    let ns = NetNs::new();
    let cg = TestCgroup::new();
    let ifindex = ns.ifindex_by_ip(VETH_A);
    let prefix = "bindif-launch: bind-interface: Binding to 'lo' (ifindex 1) would have no effect: ancestor cgroup ";
    let suffix = format!(" binds sockets to ifindex {ifindex}, and its program runs last");

    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[
            BIN,
            "--interface",
            VETH_A,
            "--",
            BIN,
            "--interface",
            "lo",
            "--",
            &python(),
            &probe(),
        ]),
    );
    assert_eq!(out.status.code(), Some(245), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err.lines().next().unwrap_or_default();
    assert!(line.starts_with(prefix) && line.ends_with(&suffix), "{err}");
    assert!(out.stdout.is_empty(), "the command must not run");

    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[
            BIN,
            "--interface",
            VETH_A,
            "--",
            BIN,
            "--fail-open",
            "--interface",
            "lo",
            "--",
            &python(),
            &probe(),
        ]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(prefix) && line.ends_with(&format!("{suffix}, ignoring")),
        "{err}"
    );
    // What the warning says: the outer interface wins.
    assert_bound(&report(&out), VETH_A, &out);

    // Nested on the same interface is fine and silent.
    let out = run_in(
        &ns,
        &cg.path,
        "",
        &strs(&[
            BIN,
            "--interface",
            VETH_A,
            "--",
            BIN,
            "--interface",
            VETH_A,
            "--",
            "true",
        ]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

/// A legacy host as far as one process can tell, on this hybrid host: in a private mount
/// namespace without the cgroup2 mount systemd uses, at the root of the cgroup2 hierarchy (the
/// `0::/` line of a legacy host) and in the unit's `name=systemd` cgroup. The launcher's private
/// cgroup2 mount shows the host's hierarchy, so the unit's mirror appears below the real root
/// too, at `/sys/fs/cgroup/unified/TOP/NAME.service`.
struct Legacy {
    top: String,
    name: String,
    /// The unit's `name=systemd` cgroup.
    v1: PathBuf,
    /// The unit's mirror, as seen through the host's cgroup2 mount.
    mirror: PathBuf,
    root: UnitRoot,
    /// The same unit bound to an interface that does not exist.
    gone: UnitRoot,
    ns: NetNs,
    /// One emulated legacy host at a time: removing the mount point (at the end) detaches the
    /// private mount from every other mount namespace too.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static LEGACY_HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

const V1_SYSTEMD: &str = "/sys/fs/cgroup/systemd";
const PRIVATE_MOUNT: &str = "/run/bindif-launch/cgroup2";

impl Legacy {
    fn new(stem: &str) -> Legacy {
        let one = LEGACY_HOST.lock().unwrap_or_else(|e| e.into_inner());
        // A slice, as every parent of a unit's cgroup is: the enter service takes the first
        // component of a name=systemd path that is not a slice for the unit's cgroup.
        let top = format!("{}.slice", unique(&format!("bindif-{stem}")));
        let name = format!("{}.service", unique(stem));
        let v1 = Path::new(V1_SYSTEMD).join(&top).join(&name);
        fs::create_dir_all(&v1).unwrap();
        let mirror = common::cgroup2().join(&top).join(&name);
        // The generator's legacy form: the attach step first, the command wrapped.
        let root = UnitRoot::new();
        root.probe_unit(&name, VETH_A);
        root.attach_step(&name);
        let gone = UnitRoot::new();
        gone.probe_unit(&name, "bindif-none0");
        gone.attach_step(&name);
        Legacy {
            top,
            name,
            v1,
            mirror,
            root,
            gone,
            ns: NetNs::new(),
            _one_at_a_time: one,
        }
    }

    /// Runs the shell `script` as a process of the unit on the emulated legacy host, with
    /// `$BIN`, `$ROOT` (the `--root` option; `$ROOT_GONE` for the unit bound to a missing
    /// interface), `$UNIT`, `$MIRROR` (the mirror below the private mount), `$PY`, `$PROBE` and
    /// `$DENY` (runs its arguments under a filter that kills on mount and bpf calls) set. The
    /// private mount lives as long as the script's mount namespace.
    fn run(&self, script: &str) -> Output {
        self.run_in(&self.v1, script)
    }

    /// [`Legacy::run`] as a process of the `name=systemd` cgroup `v1`.
    fn run_in(&self, v1: &Path, script: &str) -> Output {
        let setup = format!(
            "mount --make-rprivate / && echo $$ > {}/cgroup.procs && echo $$ > '{}/cgroup.procs' && umount {} || exit 97\nexec nsenter --net=/run/netns/{} sh -c \"$0\"",
            common::cgroup2().display(),
            v1.display(),
            common::cgroup2().display(),
            self.ns.name,
        );
        Command::new("unshare")
            .args(["-m", "sh", "-c", &setup, script])
            .env("BIN", BIN)
            .env("ROOT", self.root.arg())
            .env("ROOT_GONE", self.gone.arg())
            .env("UNIT", &self.name)
            .env(
                "MIRROR",
                format!("{PRIVATE_MOUNT}/{}/{}", self.top, self.name),
            )
            .env("PY", python())
            .env("PROBE", probe())
            .env(
                "DENY",
                format!(
                    "{}/tests/probe/deny_mount_bpf.py",
                    env!("CARGO_MANIFEST_DIR")
                ),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run unshare")
    }

    fn programs(&self) -> usize {
        let fd = fs::File::open(&self.mirror).unwrap();
        bindif::sys::bpf::query(fd.as_fd()).unwrap().len()
    }
}

impl Drop for Legacy {
    fn drop(&mut self) {
        common::remove_cgroup_tree(&common::cgroup2().join(&self.top));
        let _ = fs::remove_dir(&self.v1);
        let _ = fs::remove_dir(Path::new(V1_SYSTEMD).join(&self.top));
        // The mount itself was private to the test's mount namespaces; its mount point is not.
        let _ = fs::remove_dir(PRIVATE_MOUNT);
        let _ = fs::remove_dir(Path::new(PRIVATE_MOUNT).parent().unwrap());
    }
}

/// Issue 20 #1 and #2: on a legacy host the attach step (a `+` command, outside the unit's
/// sandbox) mounts, creates the mirror and attaches, replacing older copies; each wrapped command
/// only enters the mirror, which works inside a syscall filter that kills on mount(2) and bpf(2)
/// (chrony's `SystemCallFilter=~@mount`; the old wrapper mounted and loaded there, and died of
/// SIGSYS). Restarts leave exactly one program.
#[test]
fn legacy_wrapper_enters_the_prepared_mirror_inside_a_syscall_filter() {
    require_privileges();
    let l = Legacy::new("legacy");
    // The filter is real: it kills a mount(2).
    let out = l.run("exec $DENY /bin/mount -t tmpfs none /mnt");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{}", stderr(&out));

    for start in 1..=3 {
        let out = l.run(
            "$BIN $ROOT --attach $UNIT || exit 91
            exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE wrapped",
        );
        assert!(out.status.success(), "start {start}: {}", stderr(&out));
        let r = report(&out);
        assert_bound(&r, VETH_A, &out);
        assert_eq!(r["argv"], "wrapped");
        assert_eq!(
            l.programs(),
            1,
            "start {start}: exactly one program on the mirror"
        );
    }
    // A later command of the running unit (ExecReload=, say) enters without an attach step;
    // (the private mount lives as long as the script's mount namespace, so the start is
    // repeated first).
    let out = l.run(
        "$BIN $ROOT --attach $UNIT || exit 91
        $DENY $BIN $ROOT $UNIT -- /bin/true || exit 92
        exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE reload",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&out);
    assert_bound(&r, VETH_A, &out);
    assert_eq!(r["argv"], "reload");
    assert_eq!(l.programs(), 1);
}

/// The attach step that cannot bind (the interface is gone, fail-open) keeps the mirror with no
/// program of ours, and the wrapped command enters it unbound, as the unit's own cgroup is kept
/// on other hosts: the daemon-reload that finds the interface binds it there. A wrapped command
/// that finds nothing prepared creates nothing and follows the unit's policy: unbound with a
/// message (fail-open), refused (fail-closed).
#[test]
fn legacy_wrapper_without_a_prepared_mirror_follows_the_policy() {
    require_privileges();
    let l = Legacy::new("legacy-gone");
    let out = l.run(
        "$BIN $ROOT --attach $UNIT || exit 91
        [ -d $MIRROR ] || exit 92
        $BIN $ROOT_GONE --attach $UNIT 2>/dev/null || exit 93
        [ -d $MIRROR ] || exit 94
        exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE unbound",
    );
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    assert_eq!(report(&out).get("udp4").map(String::as_str), Some("-"));
    assert_eq!(l.programs(), 0, "the stale program is gone");
    // The command has exited: nothing is in the mirror. Without it, nothing is prepared.
    fs::remove_dir(&l.mirror).unwrap();
    let out = l.run("exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE unbound");
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    assert_eq!(report(&out).get("udp4").map(String::as_str), Some("-"));
    let err = stderr(&out);
    assert!(
        err.contains("Failed to enter mirror cgroup") && err.contains(", ignoring"),
        "{err}"
    );
    assert!(!l.mirror.exists(), "the wrapper created nothing");
    // Fail-closed: refused, the command never runs.
    let out = l.run("exec $DENY $BIN $ROOT --fail-closed $UNIT -- $PY $PROBE closed");
    assert_eq!(out.status.code(), Some(219), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(!l.mirror.exists());
}

/// Issue 20 #5: the legacy clean-up (here an ad hoc run's, on the same private hierarchy) leaves
/// what is not ours, an iproute2 `/vrf/mgmt`-like cgroup with its program and an unrelated
/// empty one, and keeps the mirror the attach step prepared while the unit runs (its path
/// exists in the `name=systemd` hierarchy), though the mirror's maker has exited; once the
/// unit is gone the mirror is a leftover and goes.
#[test]
fn legacy_cleanup_keeps_foreign_cgroups_and_running_units_mirrors() {
    require_privileges();
    let l = Legacy::new("legacy-clean");
    let other = Path::new(V1_SYSTEMD).join(&l.top).join("other");
    fs::create_dir_all(&other).unwrap();
    struct RmDir(PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir(&self.0);
        }
    }
    let _other = RmDir(other.clone());
    let out = l.run("exec $BIN $ROOT --attach $UNIT");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(l.programs(), 1);

    let top = common::cgroup2().join(&l.top);
    let vrf = top.join("vrf/mgmt");
    fs::create_dir_all(&vrf).unwrap();
    let unrelated = top.join("unrelated");
    fs::create_dir(&unrelated).unwrap();
    let vrf_fd = fs::File::open(&vrf).unwrap();
    let prog = bindif::sys::bpf::load_bind_program(1).unwrap();
    bindif::sys::bpf::attach(vrf_fd.as_fd(), prog.as_fd()).unwrap();
    let vrf_programs = || bindif::sys::bpf::query(vrf_fd.as_fd()).unwrap().len();

    let adhoc = "exec $BIN --interface bt0 -- /bin/true";
    let out = l.run_in(&other, adhoc);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(l.mirror.exists(), "the running unit's mirror stays");
    assert_eq!(l.programs(), 1);
    assert!(vrf.exists() && unrelated.exists(), "not ours: left alone");
    assert_eq!(vrf_programs(), 1);

    // The unit stops: systemd removes its name=systemd cgroup.
    fs::remove_dir(&l.v1).unwrap();
    let out = l.run_in(&other, adhoc);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !l.mirror.exists(),
        "the stopped unit's mirror is a leftover"
    );
    assert!(vrf.exists() && unrelated.exists(), "not ours: left alone");
    assert_eq!(vrf_programs(), 1);
}

/// Issue 17: on a legacy host an ad hoc run's cgroup is a child `bindif-launch-PID[-N]` of the
/// mirror of its `name=systemd` path that this run's `mkdir` made, as on cgroup2 hosts, never one
/// found in place. Two runs with the same PID number (two containers, each with a PID namespace
/// of its own, in one `name=systemd` cgroup) once shared `bindif-launch-PID`, and the later run's
/// attach silently rebound the earlier run's command, still running, to its own interface. Each
/// launcher here runs as PID 1 of a PID namespace of its own; the first one's command waits until
/// the second's has reported, then reports its own binding: bt1 still, while the second's
/// sockets go out through bt0, each from a mirror of its own with one program.
#[test]
fn legacy_adhoc_runs_with_the_same_pid_get_mirrors_of_their_own() {
    require_privileges();
    let l = Legacy::new("legacy-adhoc");
    let first = bindif::cgroup_path::adhoc_child_name(1, 0);
    let second = bindif::cgroup_path::adhoc_child_name(1, 1);
    // The interface each program on a mirror binds to, in the hook's order.
    let bound_to = |child: &str| -> Vec<Option<u32>> {
        let fd = fs::File::open(l.mirror.join(child)).unwrap();
        bindif::sys::bpf::query(fd.as_fd())
            .unwrap()
            .into_iter()
            .map(|id| bindif::sys::bpf::prog_info(id).unwrap().ours_ifindex)
            .collect()
    };
    let subdirs = || -> Vec<String> {
        let mut d: Vec<String> = fs::read_dir(&l.mirror)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        d.sort();
        d
    };
    let dir = std::env::temp_dir().join(unique("bindif-legacy-adhoc"));
    fs::create_dir(&dir).unwrap();
    let d = dir.display();
    // Every wait is bounded (30s), so a failing launcher fails the test instead of hanging it.
    let out = l.run(&format!(
        r#"unshare --pid --fork --mount-proc $BIN --interface bt1 -- sh -c '
            echo cgroup=$(sed -n "s/^0:://p" /proc/self/cgroup) > {d}/first
            touch {d}/ready
            i=0; while [ ! -e {d}/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
            exec $PY $PROBE >> {d}/first' &
        first=$!
        i=0; while [ ! -e {d}/ready ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
        unshare --pid --fork --mount-proc $BIN --interface bt0 -- \
            sh -c 'echo cgroup=$(sed -n "s/^0:://p" /proc/self/cgroup); exec "$@"' sh $PY $PROBE
        echo second_status=$?
        touch {d}/go
        wait $first
        echo first_status=$?
        sed 's/^/first./' {d}/first"#
    ));
    let _ = fs::remove_dir_all(&dir);
    let r = report(&out);
    assert_eq!(
        r.get("second_status").map(String::as_str),
        Some("0"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        r.get("first_status").map(String::as_str),
        Some("0"),
        "{}",
        stderr(&out)
    );
    let r1: BTreeMap<String, String> = r
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("first.")?.to_string(), v.clone())))
        .collect();
    assert_eq!((r["pid"].as_str(), r1["pid"].as_str()), ("1", "1"));
    // The first run's command, running while the second run bound, keeps its binding.
    assert_bound(&r1, VETH_B, &out);
    assert_bound(&r, VETH_A, &out);
    assert_eq!(
        r1["cgroup"],
        format!("/{}/{}/{first}", l.top, l.name),
        "the first run made the first name"
    );
    assert_eq!(
        r["cgroup"],
        format!("/{}/{}/{second}", l.top, l.name),
        "the second run with the same PID made a mirror of its own"
    );
    assert_eq!(bound_to(&first), [Some(l.ns.ifindex_by_ip(VETH_B))]);
    assert_eq!(bound_to(&second), [Some(l.ns.ifindex_by_ip(VETH_A))]);
    assert_eq!(subdirs(), [first, second]);
}

/// Issue 20, measured: how a root unit's sandbox meets the mirror on a legacy host.
/// `ProtectControlGroups=yes` makes `/sys/fs/cgroup` read-only, which the wrapped command does
/// not write to: bound. `ProtectSystem=strict` makes every mount read-only but the API file
/// systems, the private cgroup2 at /run/bindif-launch/cgroup2 included (emulated with a
/// read-only bind remount in a nested mount namespace): moving into the mirror fails with
/// EROFS; with no enter service to ask (issue 15: no FIFO here) the unit runs unbound
/// (fail-open) as it says, told both why. Nothing is added to the unit to make it work (a
/// ReadWritePaths= would be a decision for the unit's administrator).
#[test]
fn legacy_wrapper_under_read_only_sandboxes() {
    require_privileges();
    let l = Legacy::new("legacy-ro");
    let out = l.run(
        "$BIN $ROOT --attach $UNIT || exit 91
        exec unshare -m sh -c 'mount -o remount,bind,ro /sys/fs/cgroup/systemd || exit 92
            exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE protect-control-groups'",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);

    let out = l.run(
        "$BIN $ROOT --attach $UNIT || exit 91
        exec unshare -m sh -c 'mount -o remount,bind,ro /run/bindif-launch/cgroup2 || exit 92
            exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE protect-system-strict'",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report(&out).get("udp4").map(String::as_str), Some("-"));
    let err = stderr(&out);
    assert!(
        err.contains("Failed to ask the enter service through /run/bindif-launch/enter")
            && err.contains("Read-only file system")
            && err.contains(", ignoring"),
        "{err}"
    );
}

/// The legacy host's /run/bindif-launch as `bindif-launch-enter.socket` leaves it, private to
/// the test's mount namespace (a tmpfs), with the enter service running from it as root: shell
/// lines to put before a [`Legacy::run`] script. `$SVC` is the service's pid; `wait_cg PID CG`
/// waits up to 3 s for the process to show `0::CG` and fails otherwise; `$CG` is the unit's
/// cgroup path (the mirror's, relative to the private mount). Scripts end by killing the
/// service and waiting for it: a process left in the unit's `name=systemd` cgroup would keep
/// [`Legacy`]'s clean-up from removing it.
const ENTER_SETUP: &str = r#"mkdir -p /run/bindif-launch && mount -t tmpfs -o mode=0755 bindif-run /run/bindif-launch || exit 88
mkfifo -m 0622 /run/bindif-launch/enter || exit 89
CG=${MIRROR#/run/bindif-launch/cgroup2}
wait_cg() { i=0; while ! grep -qx "0::$2" /proc/$1/cgroup; do i=$((i+1)); [ $i -gt 300 ] && return 1; sleep 0.01; done; }
$BIN --enter-service --debug & SVC=$!
"#;

/// setpriv as nobody, no capabilities at all: a `DynamicUser=`/`User=` unit's process.
const NOBODY: &str =
    "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all";

/// Issue 15: on a legacy host the wrapped command of a `User=`/`DynamicUser=` unit (nobody, no
/// capability) cannot move itself into the prepared mirror (EACCES), asks the enter service
/// through the FIFO, and runs bound, also when another writer left a partial line in the FIFO
/// (the request starts with a newline, so it is not glued to it). Bound, it cannot leave: writing its pid to the root's
/// `cgroup.procs` fails, and asking the service again changes nothing (a process already below
/// the root is never moved).
#[test]
fn legacy_unprivileged_wrapper_is_moved_by_the_enter_service() {
    require_privileges();
    let l = Legacy::new("legacy-user");
    let script = format!(
        r#"{ENTER_SETUP}
$BIN $ROOT --attach $UNIT || exit 91
{NOBODY} sh -c 'printf 99 > /run/bindif-launch/enter' || exit 90
{NOBODY} $BIN $ROOT $UNIT -- sh -c '
    echo $$ 2>/dev/null > /run/bindif-launch/cgroup2/cgroup.procs && exit 81
    echo $$ > /run/bindif-launch/enter || exit 82
    sleep 0.3
    grep -qx "0::$0" /proc/self/cgroup || exit 83
    exec "$@"' "$CG" $PY $PROBE user
rc=$?; kill $SVC; wait $SVC; exit $rc"#
    );
    let out = l.run(&script);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    let r = report(&out);
    assert_bound(&r, VETH_A, &out);
    assert_eq!(r["argv"], "user");
    let err = stderr(&out);
    assert!(
        err.contains("Not moving process") && err.contains("is not moved again"),
        "the second request was refused: {err}"
    );
}

/// Issue 15: `ProtectSystem=strict` (emulated: /run/bindif-launch and the private cgroup2
/// remounted read-only in a nested mount namespace). The FIFO is a special file: opening it for
/// writing works on the read-only mount, where creating a file does not; the root unit's
/// wrapped command, refused with EROFS, is moved by the enter service and runs bound.
#[test]
fn legacy_wrapper_under_protect_system_strict_is_moved_by_the_enter_service() {
    require_privileges();
    let l = Legacy::new("legacy-strict");
    let script = format!(
        r#"{ENTER_SETUP}
$BIN $ROOT --attach $UNIT || exit 91
unshare -m sh -c 'mount -o remount,bind,ro /run/bindif-launch || exit 92
    mount -o remount,bind,ro /run/bindif-launch/cgroup2 || exit 93
    touch /run/bindif-launch/file 2>/dev/null && exit 94
    exec $DENY $BIN $ROOT $UNIT -- $PY $PROBE strict'
rc=$?; kill $SVC; wait $SVC; exit $rc"#
    );
    let out = l.run(&script);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    assert_bound(&report(&out), VETH_A, &out);
}

/// Issue 15: what the enter service does for a request naming another process. A pid of
/// another bound unit is moved into that unit's own mirror (never the writer's); a pid of a
/// unit without a prepared mirror is not moved at all, and neither is a malformed line.
#[test]
fn legacy_enter_service_moves_a_pid_only_into_its_own_units_mirror() {
    require_privileges();
    let l = Legacy::new("legacy-other");
    let top = Path::new(V1_SYSTEMD).join(&l.top);
    let other = format!("{}.service", unique("legacy-b"));
    let plain = format!("{}.service", unique("legacy-c"));
    l.root.probe_unit(&other, VETH_A);
    struct RmDir(PathBuf);
    impl Drop for RmDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir(&self.0);
        }
    }
    let (v1_b, v1_c) = (top.join(&other), top.join(&plain));
    fs::create_dir(&v1_b).unwrap();
    fs::create_dir(&v1_c).unwrap();
    let _rm = (RmDir(v1_b.clone()), RmDir(v1_c.clone()));
    let script = format!(
        r#"{ENTER_SETUP}
$BIN $ROOT --attach $UNIT || exit 91
sh -c 'echo $$ > {b}/cgroup.procs && exec $BIN $ROOT --attach {other}' || exit 92
sh -c 'echo $$ > {b}/cgroup.procs && exec sleep 30' & B=$!
sh -c 'echo $$ > {c}/cgroup.procs && exec sleep 30' & C=$!
sleep 0.2
{NOBODY} sh -c "echo $B > /run/bindif-launch/enter && echo $C > /run/bindif-launch/enter && printf 'x1\n-5\n' > /run/bindif-launch/enter" || exit 93
wait_cg $B /{top}/{other}; rc=$?
sleep 0.3
grep -qx '0::/' /proc/$C/cgroup || rc=95
kill $B $C $SVC; wait; exit $rc"#,
        b = v1_b.display(),
        c = v1_c.display(),
        top = l.top,
    );
    let out = l.run(&script);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("was not prepared by an attach step"), "{err}");
    assert!(err.contains("Ignoring malformed request 'x1'"), "{err}");
    assert!(err.contains("Ignoring malformed request '-5'"), "{err}");
    // The writer's own unit got nothing: its mirror holds no process.
    let procs = fs::read_to_string(l.mirror.join("cgroup.procs")).unwrap_or_default();
    assert!(procs.trim().is_empty(), "{procs}");
}

/// Issue 15: the enter service is not running (its socket unit is not started, so nobody reads
/// the FIFO): the unprivileged wrapped command learns it at once (ENXIO) and follows the
/// policy: unbound with a message naming the FIFO (fail-open), refused (fail-closed).
#[test]
fn legacy_unprivileged_wrapper_without_the_enter_service_follows_the_policy() {
    require_privileges();
    let l = Legacy::new("legacy-nosvc");
    let script = format!(
        r#"mkdir -p /run/bindif-launch && mount -t tmpfs -o mode=0755 bindif-run /run/bindif-launch || exit 88
mkfifo -m 0622 /run/bindif-launch/enter || exit 89
$BIN $ROOT --attach $UNIT || exit 91
{NOBODY} $BIN $ROOT $UNIT -- $PY $PROBE open || exit 92
exec {NOBODY} $BIN $ROOT --fail-closed $UNIT -- $PY $PROBE closed"#
    );
    let out = l.run(&script);
    assert_eq!(out.status.code(), Some(219), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r.get("udp4").map(String::as_str), Some("-"));
    assert_eq!(r["argv"], "open");
    let err = stderr(&out);
    assert!(
        err.contains("Failed to ask the enter service through /run/bindif-launch/enter")
            && err.contains(", ignoring")
            && err.contains("bindif-launch-enter.socket"),
        "{err}"
    );
}

/// The launcher form written by hand on a legacy host (`ExecStart=/usr/lib/bindif-launch %n`, no
/// attach step): nothing prepares a mirror, so the command mounts, creates, binds and enters one
/// itself, as it always has; a second start leaves one program.
#[test]
fn legacy_launcher_form_without_attach_step_binds_itself() {
    require_privileges();
    let l = Legacy::new("legacy-plain");
    let plain = UnitRoot::new();
    plain.probe_unit(&l.name, VETH_A);
    for round in 0..2 {
        let out = l.run(&format!(
            "exec $BIN {} $UNIT -- $PY $PROBE plain",
            plain.arg()
        ));
        assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
        assert_bound(&report(&out), VETH_A, &out);
        assert!(l.mirror.exists(), "round {round}");
        assert_eq!(l.programs(), 1, "round {round}");
    }
}
