// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch --remove-leftovers` (what package removal runs) on an emulated legacy host,
//! with the real kernel: real cgroup2 directories with our marker, real programs, a real mount.
//!
//! The legacy host is a root directory below the temporary directory (no `sys/fs/cgroup`
//! there: a legacy layout to the launcher) with our private cgroup2 mounted at
//! `ROOT/run/bindif-launch/cgroup2`, from inside a new cgroup namespace whose root is a
//! throwaway test cgroup and a private mount namespace: the mount shows only the test cgroup's
//! subtree, as a legacy host's private hierarchy shows only mirrors (and whatever else was made
//! in the otherwise unused cgroup2 hierarchy), and nothing of it reaches the host's mounts.
//! Mirrors are made by a helper process that exits, as the attach step does; the shell keeps
//! one busy with a process and the mount busy with a working directory.
//!
//! Run as root (CI does), under the shared lock of the privileged tests.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;

use bindif::program::{Insn, Origin};
use bindif::sys::{self, bpf, pinned};
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");

/// The mirrors the helper makes, relative to the private mount.
const EMPTY: &str = "/system.slice/empty.service";
const BUSY: &str = "/system.slice/busy.service";
const FOREIGN: &str = "/system.slice/foreign.service";
const RUNNING: &str = "/system.slice/running.service";
const MIRRORS: [&str; 4] = [EMPTY, BUSY, FOREIGN, RUNNING];
/// Made by hand (no marker): another program's cgroup, as iproute2's `ip vrf exec` makes.
const UNMARKED: &str = "/vrf/mgmt";

/// In the namespaces: `BINDIF_ACTION=make` creates the mirrors (marked, with one program of
/// ours each but `RUNNING`, and a foreign one on `FOREIGN`), `unforeign` detaches the foreign
/// program, `query` reports, prefixed with `BINDIF_STAGE`, which of the paths exist and how
/// many programs of ours and of others each carries.
#[test]
fn helper_act() {
    if !helper_role("act") {
        return;
    }
    let mount = std::path::PathBuf::from(std::env::var("BINDIF_MOUNT").unwrap());
    let foreign_prog =
        || bpf::load_program(&[Insn::mov64_imm(0, 1), Insn::exit()], "foreign_test").unwrap();
    let mut r = Report::new();
    match std::env::var("BINDIF_ACTION").unwrap().as_str() {
        "make" => {
            for m in MIRRORS {
                let dir = sys::cgroup::prepare_mirror(&mount, m).unwrap();
                let fd = sys::cgroup::open_cgroup_dir(&dir).unwrap();
                if m != RUNNING {
                    let ours = bpf::load_bind_program(1).unwrap();
                    bpf::attach(fd.as_fd(), ours.as_fd()).unwrap();
                }
                if m == FOREIGN {
                    bpf::attach(fd.as_fd(), foreign_prog().as_fd()).unwrap();
                }
            }
            r.insert("made".into(), "yes".into());
        }
        "adhoc" => {
            // An ad hoc run's child of BINDIF_PARENT, with our program: what a command that
            // moved in and ran in place leaves once it exits.
            let parent = std::env::var("BINDIF_PARENT").unwrap();
            let child = sys::cgroup::create_adhoc_child(Path::new(&parent)).unwrap();
            assert!(child.unmarked.is_none());
            let fd = sys::cgroup::open_cgroup_dir(&child.dir).unwrap();
            let ours = bpf::load_bind_program(1).unwrap();
            bpf::attach(fd.as_fd(), ours.as_fd()).unwrap();
            r.insert("adhoc".into(), child.dir.display().to_string());
        }
        "pin" => {
            // What starts leave in the bpffs: one shared program per interface and origin.
            let dir = std::path::PathBuf::from(std::env::var("BINDIF_PINS").unwrap());
            for origin in [Origin::Key, Origin::Explicit] {
                let (_, pin) = pinned::bind_program(&dir, "lo", 1, origin).unwrap();
                assert!(matches!(pin, pinned::Pin::Pinned), "{pin:?}");
            }
            r.insert("pinned".into(), "2".into());
        }
        "unforeign" => {
            let fd = sys::cgroup::open_cgroup_dir(&mount.join(&FOREIGN[1..])).unwrap();
            let mut n = 0;
            for p in bpf::attached_programs(fd.as_fd()).unwrap() {
                if !p.is_ours() {
                    let prog = bpf::prog_fd_by_id(p.id).unwrap();
                    bpf::detach(fd.as_fd(), prog.as_fd()).unwrap();
                    n += 1;
                }
            }
            r.insert("unforeign".into(), n.to_string());
        }
        "query" => {
            let stage = std::env::var("BINDIF_STAGE").unwrap();
            for p in MIRRORS.iter().chain([&"/system.slice", &UNMARKED]) {
                let dir = mount.join(&p[1..]);
                let key = format!("{stage}{}", p.replace('/', "_"));
                let Ok(fd) = sys::cgroup::open_cgroup_dir(&dir) else {
                    r.insert(key, "gone".into());
                    continue;
                };
                let progs = bpf::attached_programs(fd.as_fd()).unwrap();
                let ours = progs.iter().filter(|p| p.is_ours()).count();
                r.insert(key, format!("ours:{ours},foreign:{}", progs.len() - ours));
            }
        }
        other => panic!("unknown action {other}"),
    }
    emit(&r);
}

/// The walk: removes the empty marked mirrors (their programs go with them; none is detached
/// first); keeps the one a process is in, the one with a foreign program (the program stays
/// attached), the one whose unit runs, their parent, and the unmarked cgroup, and says why for
/// each; keeps the mount while cgroups of ours stay in it, and while something uses it (a plain
/// umount refuses); unmounts it, removes the mount point and the run-time directory once nothing
/// of ours is left, the unmarked cgroup included in the hierarchy; a second run finds nothing to
/// do. A mount that is not ours (a tmpfs) is left alone. Every run exits 0.
/// Runs `script` (sh) in the test cgroup `cg`, in a new mount and cgroup namespace with private
/// propagation, with `$ROOT`, `$BIN` and `$TESTBIN` set.
fn run_script(cg: &TestCgroup, root: &Path, script: &str) -> std::process::Output {
    let setup = format!(
        "echo $$ > '{}/cgroup.procs' || exit 97\nexec unshare -m -C --propagation private sh -c \"$0\"",
        cg.path.display()
    );
    Command::new("sh")
        .args(["-c", &setup, script])
        .env("ROOT", root)
        .env("BIN", BIN)
        .env("TESTBIN", std::env::current_exe().unwrap())
        .env_remove(ROLE_ENV)
        .output()
        .unwrap()
}

#[test]
fn removal_takes_only_unused_mirrors_of_ours_and_then_the_mount() {
    require_privileges();
    let cg = TestCgroup::new();
    let root = tempdir("leftovers");
    let script = r#"
set -u
M=$ROOT/run/bindif-launch/cgroup2
act() { echo go | BINDIF_TEST_ROLE=act BINDIF_MOUNT=$M BINDIF_ACTION=$1 BINDIF_STAGE=${2:-} \
    "$TESTBIN" --exact helper_act --nocapture --test-threads=1 -q | grep '^BINDIF-RESULT'; }
state() {   # state STAGE: what is there, for the test to read
    act query "$1"
    grep -q " $M " /proc/self/mountinfo && m=yes || m=no
    echo "BINDIF-RESULT $1_mounted=$m $1_mountpoint=$([ -d "$M" ] && echo yes || echo no) $1_rundir=$([ -d "$ROOT/run/bindif-launch" ] && echo yes || echo no)"
}
run() {     # run N: the removal, its exit status and messages
    "$BIN" --root="$ROOT" --remove-leftovers >"$ROOT/out$1" 2>&1
    echo "BINDIF-RESULT rc$1=$?"
}
mkdir -p "$M" && mount -t cgroup2 cgroup2 "$M" || exit 90
mkdir -p "$M/vrf/mgmt" "$ROOT/sys/fs/cgroup/systemd/system.slice/running.service" || exit 91
mkfifo "$ROOT/run/bindif-launch/enter" || exit 92
act make >/dev/null || exit 93
sleep 600 & busy=$!
echo $busy > "$M/system.slice/busy.service/cgroup.procs" || exit 94
trap 'kill $busy ${cwd:-} 2>/dev/null' EXIT

run 1; state s1
# The process ends, the foreign program goes, the unit stops; something sits in the mount.
kill $busy; wait $busy 2>/dev/null
act unforeign >/dev/null || exit 95
rmdir "$ROOT/sys/fs/cgroup/systemd/system.slice/running.service"
(cd "$M" && exec sleep 600) & cwd=$!
sleep 0.2
run 2; state s2
kill $cwd; wait $cwd 2>/dev/null
run 3; state s3
rm "$ROOT/run/bindif-launch/enter"
run 4; state s4
run 5; state s5
# Not ours: a tmpfs at the mount point.
mkdir -p "$M" && mount -t tmpfs none "$M" || exit 96
run 6; state s6
umount "$M"
"#;
    let out = run_script(&cg, &root, script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r = parse_report(&stdout);
    let log = |n: u32| fs::read_to_string(root.join(format!("out{n}"))).unwrap_or_default();
    let all_logs = (1..=6)
        .map(|n| format!("run {n}:\n{}", log(n)))
        .collect::<String>();
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}\n{all_logs}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let at = |k: &str| r.get(k).map(String::as_str).unwrap_or("missing");
    let ctx = format!("{r:?}\n{all_logs}");
    for n in 1..=6 {
        assert_eq!(at(&format!("rc{n}")), "0", "run {n}: {ctx}");
    }
    let m = |p: &str| format!("{}{}", root.join("run/bindif-launch/cgroup2").display(), p);

    // Run 1: only the empty mirror goes, with its program.
    assert_eq!(at("s1_system.slice_empty.service"), "gone", "{ctx}");
    assert_eq!(
        at("s1_system.slice_busy.service"),
        "ours:1,foreign:0",
        "{ctx}"
    );
    assert_eq!(
        at("s1_system.slice_foreign.service"),
        "ours:1,foreign:1",
        "{ctx}"
    );
    assert_eq!(
        at("s1_system.slice_running.service"),
        "ours:0,foreign:0",
        "{ctx}"
    );
    assert_eq!(at("s1_system.slice"), "ours:0,foreign:0", "{ctx}");
    assert_eq!(at("s1_vrf_mgmt"), "ours:0,foreign:0", "{ctx}");
    assert_eq!(at("s1_mounted"), "yes", "{ctx}");
    assert_eq!(at("s1_rundir"), "yes", "{ctx}");
    let l1 = log(1);
    for line in [
        format!(
            "Removed mirror cgroup {} (1 program(s) of ours freed with it).",
            m(EMPTY)
        ),
        format!("Keeping mirror cgroup {}: processes are in it", m(BUSY)),
        format!(
            "Keeping mirror cgroup {}: a BPF program that is not ours is attached to it.",
            m(FOREIGN)
        ),
        format!("Keeping mirror cgroup {}: its unit still runs", m(RUNNING)),
        format!(
            "Keeping mirror cgroup {}: a cgroup below it stays.",
            m("/system.slice")
        ),
        format!(
            "Leaving cgroup {} alone: it was not created by bindif-launch.",
            m(UNMARKED)
        ),
        format!("Keeping {} mounted: 4 cgroup(s) of ours", m("")),
    ] {
        assert!(l1.contains(&line), "run 1 lacks {line:?}:\n{l1}");
    }

    // Run 2: every mirror goes; the mount is used, so the umount is refused and it stays.
    for p in MIRRORS.iter().chain([&"/system.slice"]) {
        let key = format!("s2{}", p.replace('/', "_"));
        assert_eq!(at(&key), "gone", "{key}: {ctx}");
    }
    assert_eq!(at("s2_vrf_mgmt"), "ours:0,foreign:0", "{ctx}");
    assert_eq!(at("s2_mounted"), "yes", "{ctx}");
    let l2 = log(2);
    assert!(
        l2.contains(&format!(
            "Failed to unmount {}, ignoring: Device or resource busy",
            m("")
        )),
        "{l2}"
    );

    // Run 3: nothing of ours left in it: unmounted, the mount point removed; the run-time
    // directory still holds the enter FIFO (left by a socket unit stopped without
    // RemoveOnStop=, as older packages shipped it): kept, and said so.
    assert_eq!(at("s3_mounted"), "no", "{ctx}");
    assert_eq!(at("s3_mountpoint"), "no", "{ctx}");
    assert_eq!(at("s3_rundir"), "yes", "{ctx}");
    let l3 = log(3);
    assert!(l3.contains(&format!("Unmounted {}.", m(""))), "{l3}");
    assert!(l3.contains(&format!("Removed {}.", m(""))), "{l3}");
    let run_dir = root.join("run/bindif-launch");
    assert!(
        l3.contains(&format!(
            "Failed to remove {}, ignoring: Directory not empty",
            run_dir.display()
        )),
        "{l3}"
    );

    // Run 4: the FIFO gone, so is the run-time directory.
    assert_eq!(at("s4_rundir"), "no", "{ctx}");
    assert_eq!(
        log(4),
        format!("bindif-launch: Removed {}.\n", run_dir.display()),
        "{ctx}"
    );

    // Run 5: nothing to do, and nothing said.
    assert_eq!(at("s5_mounted"), "no", "{ctx}");
    assert_eq!(log(5), "", "{ctx}");

    // Run 6: a tmpfs there is not ours: left mounted, and said so.
    assert_eq!(at("s6_mounted"), "yes", "{ctx}");
    assert!(
        log(6).contains("it is not the cgroup2 hierarchy bindif-launch mounts there, ignoring."),
        "{ctx}"
    );

    // Seen from the host: the unmarked cgroup is still there, untouched, the mirrors are not.
    assert!(cg.path.join("vrf/mgmt").is_dir());
    assert!(!cg.path.join("system.slice").exists());
    let _ = fs::remove_dir_all(&root);
}

/// Unified and hybrid hosts have no mirrors: what can be left of ours in systemd's hierarchy are
/// ad hoc children. The one whose maker exited goes, with its program; the one a process is in
/// stays; a `bindif-launch-PID` directory without our marker and a marked directory of another
/// name (nothing the ad hoc mode makes) are not touched; the package's own unit's cgroup
/// (`bindif-launch-enter.service`) is not even named. Nothing is mounted or unmounted. The
/// programs pinned in the bpffs go, with their directory.
#[test]
fn on_a_unified_host_only_exited_adhoc_children_go() {
    require_privileges();
    let cg = TestCgroup::new();
    let root = tempdir("leftovers-unified");
    let script = r#"
set -u
H=$ROOT/sys/fs/cgroup
act() { echo go | BINDIF_TEST_ROLE=act BINDIF_MOUNT=$H BINDIF_PARENT=${2:-} BINDIF_ACTION=$1 \
    "$TESTBIN" --exact helper_act --nocapture --test-threads=1 -q | sed -n 's/^BINDIF-RESULT adhoc=//p'; }
mkdir -p "$H" && mount -t cgroup2 cgroup2 "$H" || exit 90
mkdir -p "$H/user.slice/session-1.scope" "$H/user.slice/bindif-launch-1" || exit 91
exited=$(act adhoc "$H/user.slice/session-1.scope")
busy=$(act adhoc "$H/user.slice/session-1.scope")
[ -d "$exited" ] && [ -d "$busy" ] && [ "$exited" != "$busy" ] || exit 92
echo go | BINDIF_TEST_ROLE=act BINDIF_MOUNT=$H BINDIF_ACTION=make \
    "$TESTBIN" --exact helper_act --nocapture --test-threads=1 -q >/dev/null || exit 93
# The package's own units' cgroups share the prefix but are no ad hoc children.
mkdir -p "$H/system.slice/bindif-launch-enter.service" || exit 95
# The bpffs systemd mounts, with the programs starts pinned there.
mkdir -p "$ROOT/sys/fs/bpf" && mount -t bpf bpf "$ROOT/sys/fs/bpf" || exit 96
echo go | BINDIF_TEST_ROLE=act BINDIF_PINS=$ROOT/sys/fs/bpf/bindif-launch BINDIF_MOUNT=$H BINDIF_ACTION=pin \
    "$TESTBIN" --exact helper_act --nocapture --test-threads=1 -q >/dev/null || exit 97
sleep 600 & pid=$!
trap 'kill $pid 2>/dev/null' EXIT
echo $pid > "$busy/cgroup.procs" || exit 94
"$BIN" --root="$ROOT" --remove-leftovers >"$ROOT/out" 2>&1
echo "BINDIF-RESULT rc=$? exited=$([ -d "$exited" ] && echo yes || echo no) busy=$([ -d "$busy" ] && echo yes || echo no) hand=$([ -d "$H/user.slice/bindif-launch-1" ] && echo yes || echo no) mirror=$([ -d "$H/system.slice/empty.service" ] && echo yes || echo no)"
echo "BINDIF-RESULT unit=$([ -d "$H/system.slice/bindif-launch-enter.service" ] && echo yes || echo no) pins=$([ -e "$ROOT/sys/fs/bpf/bindif-launch" ] && echo left || echo gone)"
echo "BINDIF-RESULT names=$exited,$busy"
"#;
    let out = run_script(&cg, &root, script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = fs::read_to_string(root.join("out")).unwrap_or_default();
    let ctx = format!(
        "{:?}\n{stdout}\n{}\n{log}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{ctx}");
    let r = parse_report(&stdout);
    let at = |k: &str| r.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(at("rc"), "0", "{ctx}");
    assert_eq!(at("exited"), "no", "{ctx}");
    assert_eq!(at("busy"), "yes", "{ctx}");
    assert_eq!(at("hand"), "yes", "{ctx}");
    assert_eq!(at("mirror"), "yes", "{ctx}");
    assert_eq!(at("unit"), "yes", "{ctx}");
    assert_eq!(at("pins"), "gone", "{ctx}");
    let (exited, busy) = at("names").split_once(',').unwrap();
    for line in [
        format!("Removed cgroup {exited} (1 program(s) of ours freed with it)."),
        format!("Keeping cgroup {busy}: processes are in it, bound until they exit."),
        format!(
            "Leaving cgroup {}/sys/fs/cgroup/user.slice/bindif-launch-1 alone: it was not created by bindif-launch.",
            root.display()
        ),
        format!(
            "Removed 1 ad hoc cgroup(s) below {}/sys/fs/cgroup.",
            root.display()
        ),
        format!(
            "Removed 2 pinned program(s) and {}/sys/fs/bpf/bindif-launch.",
            root.display()
        ),
    ] {
        assert!(log.contains(&line), "lacks {line:?}: {ctx}");
    }
    assert!(
        !log.contains("system.slice"),
        "mirror-like cgroups are not judged here: {ctx}"
    );
    assert_eq!(log.lines().count(), 5, "{ctx}");
    let _ = fs::remove_dir_all(&root);
}
