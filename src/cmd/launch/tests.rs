// SPDX-License-Identifier: LGPL-2.1-or-later
//! The launcher's policy against a fake kernel: each failure, fail open and fail closed, with
//! the exit status systemd shows and what is left attached or created afterwards. The code
//! under test is the code the binary runs; only the `Kernel` differs.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::kernel::{CgroupHandle, Kernel, Nested, Which};
use super::*;
use crate::sys::{bpf::BindOutcome, Category};

/// The errno a scripted step fails with.
type Errno = i32;

#[derive(Debug)]
struct FakeCgroup {
    path: PathBuf,
    created: bool,
    entered: bool,
}

impl CgroupHandle for FakeCgroup {
    fn path(&self) -> &Path {
        &self.path
    }

    fn created(&self) -> bool {
        self.created
    }

    fn entered(&self) -> bool {
        self.entered
    }
}

/// What starting the command as a child does.
#[derive(Clone, Copy, Debug)]
enum FakeSpawn {
    /// The child runs and ends so.
    Runs(End),
    /// No child is made (ENOSYS: no clone3; EINVAL: no CLONE_INTO_CGROUP; E2BIG: 5.3–5.6).
    NotStarted(Errno),
    /// The child is made and its execve fails (known when it has ended).
    ExecFails(Errno),
}

/// A kernel whose answers the test chooses, and which remembers what is attached and created.
struct Fake {
    /// Answers to successive lookups of the interface; the last one repeats.
    resolves: Vec<Result<Option<u32>, Errno>>,
    load: Result<(), Errno>,
    /// `Ok(created)`: the cgroup chosen, and whether this run created it.
    target: Result<bool, Errno>,
    attach: Result<(), Errno>,
    /// Binding programs on the target's ancestors, innermost first.
    ancestors: Result<Vec<Nested>, Errno>,
    probe: Result<Option<u32>, Errno>,
    /// The ifindex of the shared program the cache has for the interface (its name checked),
    /// `None`: a miss.
    shared: Option<u32>,
    /// A legacy host's prepared mirror: `None` on other hosts, `Some(None)` entered,
    /// `Some(Some(errno))` entering failed.
    prepared: Option<Option<Errno>>,
    /// What `execve` fails with (the real one does not return on success).
    exec: Errno,
    spawn: FakeSpawn,
    /// Moving into a created cgroup after all.
    enter: Result<(), Errno>,

    // The kernel's state.
    clock: Duration,
    next_prog: u32,
    /// Programs attached to the cgroup, by id.
    attached: Vec<u32>,
    /// Cgroups this run created that still exist.
    created: Vec<PathBuf>,
    /// Operations in order, for "this step never ran".
    calls: Vec<&'static str>,
    /// The cgroup paths `--attach-slice` asked for.
    slice_paths: Vec<String>,
    /// Cgroups created and not entered that this process then left alone (removed without
    /// moving out), by path.
    removed_unentered: Vec<PathBuf>,
    /// The signal this process ended itself with.
    died_of: Option<i32>,
    /// A legacy host: the ad hoc mirror is always entered (`target::for_adhoc`).
    legacy: bool,
    /// The shared copy is on the cgroup already (an earlier start's, whose cgroup outlived its
    /// stop): attach finds it in place and attaches nothing.
    in_place: bool,
}

const IFINDEX: u32 = 7;
const UNIT_CG: &str = "/sys/fs/cgroup/system.slice/x.service";
const CHILD_CG: &str = "/sys/fs/cgroup/user.slice/bindif-launch-1";

impl Fake {
    /// Everything works: the interface exists, the launcher runs inside a unit's cgroup.
    fn new() -> Fake {
        Fake {
            resolves: vec![Ok(Some(IFINDEX))],
            load: Ok(()),
            target: Ok(false),
            attach: Ok(()),
            ancestors: Ok(Vec::new()),
            probe: Ok(Some(IFINDEX)),
            shared: None,
            prepared: None,
            exec: libc::ENOEXEC,
            spawn: FakeSpawn::Runs(End::Exited(0)),
            enter: Ok(()),
            clock: Duration::ZERO,
            next_prog: 100,
            attached: Vec::new(),
            created: Vec::new(),
            calls: Vec::new(),
            slice_paths: Vec::new(),
            removed_unentered: Vec::new(),
            died_of: None,
            legacy: false,
            in_place: false,
        }
    }

    /// An ad hoc run from a shell: the cgroup is a child this run creates.
    fn creating() -> Fake {
        Fake {
            target: Ok(true),
            ..Fake::new()
        }
    }

    fn ran(&self, call: &str) -> bool {
        self.calls.contains(&call)
    }

    /// Nothing of this run is left: no program attached, no cgroup created.
    fn assert_clean(&self) {
        assert!(self.attached.is_empty(), "attached: {:?}", self.attached);
        assert!(self.created.is_empty(), "created: {:?}", self.created);
    }
}

fn os_err(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl Kernel for Fake {
    type Prog = u32;
    type Cgroup = FakeCgroup;
    type Child = End;

    fn resolve(&mut self, _interface: &str) -> io::Result<Option<u32>> {
        self.calls.push("resolve");
        let answer = if self.resolves.len() > 1 {
            self.resolves.remove(0)
        } else {
            self.resolves[0]
        };
        answer.map_err(os_err)
    }

    fn now(&mut self) -> Instant {
        // A fixed origin plus the time "slept": --wait takes no real time.
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now) + self.clock
    }

    fn pause(&mut self, d: Duration) {
        self.clock += d;
    }

    fn shared(&mut self, _interface: &str, _origin: Origin) -> Option<(u32, u32)> {
        self.calls.push("shared");
        let ifindex = self.shared?;
        self.next_prog += 1;
        Some((ifindex, self.next_prog))
    }

    fn load(&mut self, _interface: &str, _ifindex: u32, origin: Origin) -> Result<u32, sys::Error> {
        self.calls.push(match origin {
            Origin::Key => "load",
            Origin::Explicit => "load-explicit",
        });
        self.load.map_err(|e| {
            sys::Error::new(Category::Bpf, "load BPF program", "bindif_sock", os_err(e))
        })?;
        self.next_prog += 1;
        Ok(self.next_prog)
    }

    fn enter_prepared(
        &mut self,
        _unit: &str,
        _wait: std::time::Duration,
    ) -> Option<Result<FakeCgroup, sys::Error>> {
        self.calls.push("enter_prepared");
        let errno = self.prepared?;
        Some(match errno {
            None => Ok(FakeCgroup {
                path: PathBuf::from(UNIT_CG),
                created: false,
                entered: true,
            }),
            Some(e) => Err(sys::Error::new(
                Category::Cgroup,
                "enter mirror cgroup",
                UNIT_CG,
                os_err(e),
            )),
        })
    }

    fn target(&mut self, which: Which<'_>) -> Result<FakeCgroup, sys::Error> {
        self.calls.push("target");
        let created = self.target.map_err(|e| {
            sys::Error::new(
                Category::Cgroup,
                "find the cgroup of",
                "x.service",
                os_err(e),
            )
        })?;
        assert!(
            !created || matches!(which, Which::AdHoc { .. }),
            "only ad hoc runs create"
        );
        if let Which::Slice { path, .. } = which {
            self.slice_paths.push(path.to_string());
        }
        let path = PathBuf::from(if created { CHILD_CG } else { UNIT_CG });
        if created {
            self.created.push(path.clone());
        }
        let entered = self.legacy || !matches!(which, Which::AdHoc { enter: false });
        Ok(FakeCgroup {
            path,
            created,
            entered,
        })
    }

    fn attach(&mut self, cgroup: &FakeCgroup, prog: &mut u32) -> Result<BindOutcome, sys::Error> {
        self.calls.push("attach");
        self.attach.map_err(|e| {
            sys::Error::new(
                Category::Bpf,
                "attach BPF program to",
                cgroup.path.display().to_string(),
                os_err(e),
            )
        })?;
        if self.in_place {
            if !self.attached.contains(prog) {
                self.attached.push(*prog);
            }
        } else {
            self.attached.push(*prog);
        }
        Ok(BindOutcome {
            prog_id: *prog,
            detached: 0,
            cleanup_error: None,
            attached_now: !self.in_place,
            last: true,
        })
    }

    fn ancestor_bindings(
        &mut self,
        _cgroup: &FakeCgroup,
        _ifindex: u32,
    ) -> io::Result<Vec<Nested>> {
        self.calls.push("ancestors");
        self.ancestors.clone().map_err(os_err)
    }

    fn detach(&mut self, _cgroup: &FakeCgroup, prog: &u32) -> io::Result<()> {
        self.calls.push("detach");
        let before = self.attached.len();
        self.attached.retain(|p| p != prog);
        if self.attached.len() == before {
            return Err(os_err(libc::ENOENT));
        }
        Ok(())
    }

    fn probe(&mut self) -> io::Result<Option<u32>> {
        self.calls.push("probe");
        self.probe.map_err(os_err)
    }

    fn unbound_causes(&mut self) -> Vec<String> {
        self.calls.push("unbound_causes");
        vec!["net_cls in use".to_string()]
    }

    fn remove_created(&mut self, cgroup: FakeCgroup) {
        self.calls.push("remove_created");
        assert!(cgroup.created, "removing a cgroup this run did not create");
        if !cgroup.entered {
            self.removed_unentered.push(cgroup.path.clone());
        }
        self.created.retain(|p| *p != cgroup.path);
        // The program goes with the directory.
        self.attached.clear();
    }

    fn exec(&mut self, _path: &Path, _argv: &[OsString]) -> io::Error {
        self.calls.push("exec");
        os_err(self.exec)
    }

    fn spawn(&mut self, cgroup: &FakeCgroup, _path: &Path, _argv: &[OsString]) -> io::Result<End> {
        self.calls.push("spawn");
        assert!(
            !cgroup.entered,
            "a child is started only in a cgroup not entered"
        );
        match self.spawn {
            FakeSpawn::Runs(end) => Ok(end),
            FakeSpawn::NotStarted(e) => Err(os_err(e)),
            FakeSpawn::ExecFails(e) => Ok(End::ExecFailed(e)),
        }
    }

    fn enter(&mut self, cgroup: &mut FakeCgroup) -> Result<(), sys::Error> {
        self.calls.push("enter");
        assert!(cgroup.created && !cgroup.entered);
        self.enter.map_err(|e| {
            sys::Error::new(
                Category::Cgroup,
                "enter cgroup",
                cgroup.path.display().to_string(),
                os_err(e),
            )
        })?;
        cgroup.entered = true;
        Ok(())
    }

    fn wait(&mut self, child: End) -> io::Result<End> {
        self.calls.push("wait");
        Ok(child)
    }

    fn die_of(&mut self, signal: i32) {
        self.calls.push("die_of");
        self.died_of = Some(signal);
    }
}

fn policy(fail_closed: bool) -> Policy {
    Policy {
        fail_closed,
        wait: Duration::ZERO,
        verify: Verify::Check,
    }
}

/// Ad hoc, the path that moves this process into the cgroup it creates.
const ADHOC: Which<'static> = Which::AdHoc { enter: true };

fn unit() -> Which<'static> {
    Which::Unit {
        unit: "x.service",
        attach_only: false,
        prepared: true,
    }
}

/// Runs [`bind`]; returns the exit status it refused with, or whether it bound.
fn run_bind(k: &mut Fake, p: &Policy, which: Which<'_>) -> Result<Setup<Fake>, i32> {
    bind(k, "v0", p, which).map_err(|Fatal(code)| code)
}

fn bound(s: &Setup<Fake>) -> bool {
    s.bound.is_some()
}

// --- everything works --------------------------------------------------------------------------

#[test]
fn binds_and_keeps_the_program() {
    for closed in [false, true] {
        let mut k = Fake::new();
        let s = run_bind(&mut k, &policy(closed), unit()).unwrap();
        assert!(bound(&s));
        assert_eq!(k.attached, [101]);
        assert_eq!(s.bound.as_ref().map(|b| b.ifindex), Some(Some(IFINDEX)));
    }
}

// --- the interface is missing ------------------------------------------------------------------

#[test]
fn missing_interface_fail_closed_is_225_before_anything_is_loaded() {
    let mut k = Fake::creating();
    k.resolves = vec![Ok(None)];
    assert_eq!(run_bind(&mut k, &policy(true), ADHOC).err(), Some(225));
    assert!(!k.ran("load") && !k.ran("target"));
    k.assert_clean();
}

#[test]
fn missing_interface_fail_open_runs_unbound() {
    let mut k = Fake::new();
    k.resolves = vec![Ok(None)];
    let s = run_bind(&mut k, &policy(false), unit()).unwrap();
    assert!(!bound(&s));
    assert!(!k.ran("load"));
    k.assert_clean();
}

#[test]
fn resolve_error_is_225_closed_and_unbound_open() {
    let mut k = Fake::new();
    k.resolves = vec![Err(libc::EPERM)];
    assert_eq!(run_bind(&mut k, &policy(true), unit()).err(), Some(225));
    let mut k = Fake::new();
    k.resolves = vec![Err(libc::EPERM)];
    assert!(!bound(&run_bind(&mut k, &policy(false), unit()).unwrap()));
    k.assert_clean();
}

#[test]
fn wait_polls_until_the_interface_appears() {
    let mut k = Fake::new();
    k.resolves = vec![Ok(None), Ok(None), Ok(None), Ok(Some(IFINDEX))];
    let p = Policy {
        wait: Duration::from_secs(1),
        ..policy(true)
    };
    assert!(bound(&run_bind(&mut k, &p, unit()).unwrap()));
    assert_eq!(k.clock, Duration::from_millis(300));
}

#[test]
fn wait_gives_up_at_the_deadline() {
    let mut k = Fake::new();
    k.resolves = vec![Ok(None)];
    let p = Policy {
        wait: Duration::from_millis(250),
        ..policy(true)
    };
    assert_eq!(run_bind(&mut k, &p, unit()).err(), Some(225));
    assert_eq!(k.clock, Duration::from_millis(300));
    assert!(!k.ran("load"));
}

// --- loading fails (no CAP_BPF) ----------------------------------------------------------------

#[test]
fn load_eperm_is_245_closed_and_no_cgroup_is_touched() {
    let mut k = Fake::creating();
    k.load = Err(libc::EPERM);
    assert_eq!(run_bind(&mut k, &policy(true), ADHOC).err(), Some(245));
    assert!(!k.ran("target"));
    k.assert_clean();
}

#[test]
fn load_eperm_fail_open_runs_unbound() {
    let mut k = Fake::new();
    k.load = Err(libc::EPERM);
    assert!(!bound(&run_bind(&mut k, &policy(false), unit()).unwrap()));
    assert!(!k.ran("target"));
    k.assert_clean();
}

// --- no cgroup ---------------------------------------------------------------------------------

#[test]
fn target_error_is_219_closed_and_unbound_open() {
    let mut k = Fake::new();
    k.target = Err(libc::ESRCH);
    assert_eq!(run_bind(&mut k, &policy(true), unit()).err(), Some(219));
    assert!(!k.ran("attach"));
    let mut k = Fake::new();
    k.target = Err(libc::ESRCH);
    assert!(!bound(&run_bind(&mut k, &policy(false), unit()).unwrap()));
    k.assert_clean();
}

// --- attaching fails ---------------------------------------------------------------------------

#[test]
fn attach_error_fail_closed_is_245_and_removes_the_created_cgroup() {
    let mut k = Fake::creating();
    k.attach = Err(libc::EPERM);
    assert_eq!(run_bind(&mut k, &policy(true), ADHOC).err(), Some(245));
    assert!(k.ran("remove_created"));
    k.assert_clean();
}

#[test]
fn attach_error_fail_open_runs_unbound_in_the_created_cgroup() {
    let mut k = Fake::creating();
    k.attach = Err(libc::EPERM);
    let s = run_bind(&mut k, &policy(false), ADHOC).unwrap();
    assert!(!bound(&s));
    // The command still runs in its own cgroup; it goes when exec fails (below) or is removed
    // by a later run once empty.
    assert_eq!(k.created, [PathBuf::from(CHILD_CG)]);
    assert!(k.attached.is_empty());
    let cmd = Command {
        path: "/bin/true".into(),
        argv: vec!["true".into()],
    };
    assert_eq!(exec(&mut k, &cmd, s).0, 203);
    k.assert_clean();
}

// --- the interface vanished between resolving and attaching ------------------------------------

#[test]
fn recheck_finds_interface_gone_detaches_then_225_closed() {
    for (gone, creating) in [(None, false), (Some(IFINDEX + 1), false), (None, true)] {
        let mut k = if creating {
            Fake::creating()
        } else {
            Fake::new()
        };
        k.resolves = vec![Ok(Some(IFINDEX)), Ok(gone)];
        let which = if creating { ADHOC } else { unit() };
        assert_eq!(run_bind(&mut k, &policy(true), which).err(), Some(225));
        assert!(k.ran("attach"));
        k.assert_clean();
    }
}

#[test]
fn recheck_finds_interface_gone_detaches_then_runs_unbound_open() {
    let mut k = Fake::new();
    k.resolves = vec![Ok(Some(IFINDEX)), Ok(None)];
    let s = run_bind(&mut k, &policy(false), unit()).unwrap();
    assert!(!bound(&s));
    assert!(k.ran("detach"));
    k.assert_clean();
}

#[test]
fn recheck_lookup_error_keeps_the_binding() {
    let mut k = Fake::new();
    k.resolves = vec![Ok(Some(IFINDEX)), Err(libc::ENOBUFS)];
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
    assert_eq!(k.attached, [101]);
}

// --- --verify ----------------------------------------------------------------------------------

fn verifying(closed: bool) -> Policy {
    Policy {
        verify: Verify::Required,
        ..policy(closed)
    }
}

fn not_verifying(closed: bool) -> Policy {
    Policy {
        verify: Verify::Off,
        ..policy(closed)
    }
}

#[test]
fn verify_match_binds() {
    let mut k = Fake::new();
    assert!(bound(&run_bind(&mut k, &verifying(false), unit()).unwrap()));
    assert!(k.ran("probe"));
}

#[test]
fn verify_is_skipped_when_turned_off() {
    let mut k = Fake::new();
    k.probe = Ok(None);
    assert!(bound(
        &run_bind(&mut k, &not_verifying(true), unit()).unwrap()
    ));
    assert!(!k.ran("probe"));
}

// --- the default check (issue 18 #3) -------------------------------------------------------------

#[test]
fn the_default_check_probes_and_passes() {
    let mut k = Fake::new();
    assert!(bound(&run_bind(&mut k, &policy(false), unit()).unwrap()));
    assert!(k.ran("probe"));
    assert!(!k.ran("unbound_causes"));
}

#[test]
fn the_default_check_fails_only_a_fail_closed_start() {
    for probe in [Ok(None), Ok(Some(IFINDEX + 1))] {
        // Fail-open: an error, and the start goes on with the binding attached.
        let mut k = Fake::new();
        k.probe = probe;
        assert!(bound(&run_bind(&mut k, &policy(false), unit()).unwrap()));
        assert!(!k.ran("detach"));
        assert_eq!(k.attached, [101]);
        // An unbound socket asks the host why (net_cls/net_prio); another ifindex does not.
        assert_eq!(k.ran("unbound_causes"), probe == Ok(None));
        // Fail-closed: 245, nothing left attached.
        let mut k = Fake::new();
        k.probe = probe;
        assert_eq!(run_bind(&mut k, &policy(true), unit()).err(), Some(245));
        assert!(k.ran("detach"));
        k.assert_clean();
    }
}

#[test]
fn the_default_check_skips_a_probe_it_cannot_make() {
    // RestrictAddressFamilies= of the unit: no socket to check with, even fail-closed.
    let mut k = Fake::new();
    k.probe = Err(libc::EAFNOSUPPORT);
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
    assert_eq!(k.attached, [101]);
}

#[test]
fn the_default_check_needs_this_process_in_the_cgroup() {
    // An ad hoc command started as a child: this process is outside the cgroup it bound.
    let mut k = Fake::creating();
    k.probe = Ok(None);
    let child = Which::AdHoc { enter: false };
    assert!(bound(&run_bind(&mut k, &policy(true), child).unwrap()));
    assert!(!k.ran("probe"));
}

#[test]
fn verify_mismatch_is_245_even_fail_open_and_removes_the_created_cgroup() {
    for (closed, probe) in [
        (true, Ok(None)),
        (false, Ok(Some(IFINDEX + 1))),
        (false, Err(libc::EAFNOSUPPORT)),
    ] {
        let mut k = Fake::creating();
        k.probe = probe;
        assert_eq!(run_bind(&mut k, &verifying(closed), ADHOC).err(), Some(245));
        k.assert_clean();
    }
}

#[test]
fn verify_mismatch_detaches_the_program_from_the_units_cgroup() {
    for closed in [false, true] {
        let mut k = Fake::new();
        k.probe = Ok(Some(IFINDEX + 1));
        assert_eq!(
            run_bind(&mut k, &verifying(closed), unit()).err(),
            Some(245)
        );
        assert!(k.ran("detach"));
        k.assert_clean();
    }
}

// --- nested bindings (issue 13 #7) -------------------------------------------------------------

fn nested(cgroup: &str, ifindex: Option<u32>, native: bool) -> Nested {
    Nested {
        cgroup: cgroup.into(),
        ifindex,
        native,
    }
}

#[test]
fn an_ancestor_binding_elsewhere_is_refused_fail_closed_before_attaching() {
    for outer in [
        nested("/sys/fs/cgroup/user.slice", Some(IFINDEX + 1), false),
        nested("/sys/fs/cgroup/user.slice", None, true),
    ] {
        let mut k = Fake::creating();
        k.ancestors = Ok(vec![outer]);
        assert_eq!(run_bind(&mut k, &policy(true), ADHOC).err(), Some(245));
        assert!(!k.ran("attach"));
        k.assert_clean();
    }
}

#[test]
fn an_ancestor_binding_elsewhere_is_only_warned_about_fail_open() {
    let mut k = Fake::new();
    k.ancestors = Ok(vec![nested("/sys/fs/cgroup/a.slice", Some(1), false)]);
    assert!(bound(&run_bind(&mut k, &policy(false), unit()).unwrap()));
    assert_eq!(k.attached, [101]);
}

#[test]
fn only_the_outermost_ancestor_binding_counts() {
    // The outermost binds to our interface: it runs last, so the binding holds.
    let mut k = Fake::new();
    k.ancestors = Ok(vec![
        nested("/sys/fs/cgroup/a.slice/b.slice", Some(1), false),
        nested("/sys/fs/cgroup/a.slice", Some(IFINDEX), false),
    ]);
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
    // The other way round it does not.
    let mut k = Fake::creating();
    k.ancestors = Ok(vec![
        nested("/sys/fs/cgroup/a.slice/b.slice", Some(IFINDEX), false),
        nested("/sys/fs/cgroup/a.slice", Some(1), false),
    ]);
    assert_eq!(run_bind(&mut k, &policy(true), ADHOC).err(), Some(245));
    k.assert_clean();
}

/// Issue 14 #2: a unit (or slice) below a bound slice keeps its own key; v262 attaches the
/// unit's program too, the outermost slice wins, and nothing fails. Fail-closed included.
#[test]
fn a_bound_slice_above_a_unit_wins_without_failing_it() {
    for closed in [false, true] {
        let mut k = Fake::new();
        k.ancestors = Ok(vec![nested("/sys/fs/cgroup/a.slice", Some(1), false)]);
        // What the kernel does: the slice's program runs last.
        k.probe = Ok(Some(1));
        let s = run_bind(&mut k, &policy(closed), unit()).unwrap();
        assert!(bound(&s));
        assert_eq!(k.attached, [101]);
    }
}

/// `--verify` below a bound slice expects what the kernel will do: the slice's interface.
#[test]
fn verify_below_a_bound_slice_expects_the_slices_interface() {
    let mut k = Fake::new();
    k.ancestors = Ok(vec![nested("/sys/fs/cgroup/a.slice", Some(1), false)]);
    k.probe = Ok(Some(1));
    assert!(bound(&run_bind(&mut k, &verifying(true), unit()).unwrap()));
    // A socket that carries neither is still a failure.
    let mut k = Fake::new();
    k.ancestors = Ok(vec![nested("/sys/fs/cgroup/a.slice", Some(1), false)]);
    k.probe = Ok(Some(IFINDEX + 7));
    assert_eq!(run_bind(&mut k, &verifying(true), unit()).err(), Some(245));
    k.assert_clean();
}

/// A unit's start reads its ancestors' programs (a query per level) only when the probe finds a
/// socket bound elsewhere: one bound to the unit's interface has nothing above overriding it.
#[test]
fn a_unit_reads_its_ancestors_only_when_the_probe_disagrees() {
    let mut k = Fake::new();
    k.probe = Ok(Some(IFINDEX));
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
    assert!(!k.ran("ancestors"), "{:?}", k.calls);
    // Without a probe (--no-verify) nothing else tells: read before attaching, as ad hoc runs
    // always do.
    let mut k = Fake::new();
    assert!(bound(
        &run_bind(&mut k, &not_verifying(true), unit()).unwrap()
    ));
    let order = |k: &Fake, c| k.calls.iter().position(|x| *x == c);
    assert!(
        order(&k, "ancestors") < order(&k, "attach"),
        "{:?}",
        k.calls
    );
    // A probe bound elsewhere: the ancestors are read after it, to name the winner.
    let mut k = Fake::new();
    k.ancestors = Ok(vec![nested("/sys/fs/cgroup/a.slice", Some(1), false)]);
    k.probe = Ok(Some(1));
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
    assert!(order(&k, "probe") < order(&k, "ancestors"), "{:?}", k.calls);
}

/// A probe socket that cannot be made (the default check, not required) tells nothing about the
/// ancestors: they are still read, so a slice's binding that overrides the unit's gets its
/// notice, as on a start without the probe.
#[test]
fn a_unit_whose_probe_socket_cannot_be_made_still_reads_its_ancestors() {
    let mut k = Fake::new();
    k.ancestors = Ok(vec![nested("/sys/fs/cgroup/a.slice", Some(1), false)]);
    k.probe = Err(libc::EPERM);
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
    assert!(k.ran("ancestors"), "{:?}", k.calls);
}

/// The shared program whose ifindex carries the name now stands for both the lookup and the
/// load; the re-check after attaching still runs, as after a lookup.
#[test]
fn a_shared_program_found_by_name_replaces_lookup_and_load() {
    let mut k = Fake::new();
    k.shared = Some(IFINDEX);
    let s = run_bind(&mut k, &policy(true), unit()).unwrap();
    assert!(bound(&s));
    assert_eq!(
        k.calls,
        ["shared", "target", "attach", "resolve", "probe"],
        "no lookup and no load before attaching"
    );
    assert_eq!(k.attached, [101]);
}

/// Found by name, then gone (or re-created under another index) before the attach: the re-check
/// takes it off again, exactly as after a lookup.
#[test]
fn a_shared_program_whose_interface_goes_before_the_attach_is_taken_off() {
    for (answer, closed) in [(None, false), (Some(IFINDEX + 1), false), (None, true)] {
        let mut k = Fake::new();
        k.shared = Some(IFINDEX);
        k.resolves = vec![Ok(answer)];
        let r = run_bind(&mut k, &policy(closed), unit());
        if closed {
            assert_eq!(r.err(), Some(225));
        } else {
            assert!(!bound(&r.unwrap()));
        }
        assert!(!k.ran("load"), "{:?}", k.calls);
        k.assert_clean();
    }
}

#[test]
fn unreadable_ancestors_do_not_stop_the_binding() {
    let mut k = Fake::new();
    k.ancestors = Err(libc::EPERM);
    assert!(bound(&run_bind(&mut k, &policy(true), unit()).unwrap()));
}

// --- execve fails ------------------------------------------------------------------------------

#[test]
fn exec_failure_is_203_and_undoes_the_binding() {
    for creating in [false, true] {
        let mut k = if creating {
            Fake::creating()
        } else {
            Fake::new()
        };
        let which = if creating { ADHOC } else { unit() };
        let s = run_bind(&mut k, &policy(true), which).unwrap();
        assert_eq!(k.attached, [101]);
        let cmd = Command {
            path: "/bin/true".into(),
            argv: vec!["true".into()],
        };
        assert_eq!(exec(&mut k, &cmd, s).0, 203);
        k.assert_clean();
    }
}

#[test]
fn exec_failure_detaches_only_our_program() {
    let mut k = Fake::new();
    // Another start's program on the same cgroup, attached after ours.
    let s = run_bind(&mut k, &policy(true), unit()).unwrap();
    k.attached.push(999);
    let cmd = Command {
        path: "/bin/true".into(),
        argv: vec!["true".into()],
    };
    assert_eq!(exec(&mut k, &cmd, s).0, 203);
    assert_eq!(k.attached, [999]);
}

#[test]
fn a_failed_start_takes_off_the_shared_copy_it_found_in_place() {
    // As before the cache, when the start replaced the copy of the start before it: a failed
    // start (verify, exec) leaves no program of ours on the cgroup (issue 13 #12).
    let cmd = Command {
        path: "/bin/true".into(),
        argv: vec!["true".into()],
    };
    let mut k = Fake::new();
    k.in_place = true;
    k.attached.push(101);
    let s = run_bind(&mut k, &policy(true), unit()).unwrap();
    assert!(bound(&s));
    assert_eq!(k.attached, [101], "attached twice");
    assert_eq!(exec(&mut k, &cmd, s).0, 203);
    k.assert_clean();
    for closed in [false, true] {
        let mut k = Fake::new();
        k.in_place = true;
        k.attached.push(101);
        k.probe = Ok(Some(IFINDEX + 1));
        assert_eq!(
            run_bind(&mut k, &verifying(closed), unit()).err(),
            Some(245)
        );
        k.assert_clean();
    }
}

// --- the ad hoc mode end to end ----------------------------------------------------------------

fn adhoc_args(extra: &[&str]) -> crate::cli::Args {
    let mut argv: Vec<OsString> = extra.iter().map(OsString::from).collect();
    argv.extend(["--interface", "v0", "--", "true"].map(OsString::from));
    crate::cli::parse(argv).unwrap()
}

/// An ad hoc run whose environment has none of the variables that keep the exec path.
fn adhoc(k: &mut Fake, extra: &[&str]) -> i32 {
    adhoc_in(k, extra, &[])
}

/// An ad hoc run with the environment variables `set` set.
fn adhoc_in(k: &mut Fake, extra: &[&str], set: &[&str]) -> i32 {
    let args = adhoc_args(extra);
    let crate::cli::Mode::AdHoc { interface, command } = &args.mode else {
        panic!("not ad hoc: {:?}", args.mode);
    };
    adhoc_mode_with(k, &args, interface, command, &|v| set.contains(&v))
        .unwrap_or_else(|Fatal(code)| code)
}

#[test]
fn adhoc_is_fail_closed_by_default() {
    let mut k = Fake::creating();
    k.resolves = vec![Ok(None)];
    assert_eq!(adhoc(&mut k, &[]), 225);
    assert!(!k.ran("exec"));
    let mut k = Fake::creating();
    k.attach = Err(libc::EPERM);
    assert_eq!(adhoc(&mut k, &[]), 245);
    assert!(!k.ran("exec") && !k.ran("spawn"));
    k.assert_clean();
}

#[test]
fn adhoc_fail_open_executes_unbound() {
    let mut k = Fake::creating();
    k.attach = Err(libc::EPERM);
    assert_eq!(adhoc_in(&mut k, &["--fail-open"], &["NOTIFY_SOCKET"]), 203);
    assert!(k.ran("exec"));
    k.assert_clean();
    // Started as a child: unbound in the cgroup made for it, which goes afterwards.
    let mut k = Fake::creating();
    k.attach = Err(libc::EPERM);
    k.spawn = FakeSpawn::Runs(End::Exited(0));
    assert_eq!(adhoc(&mut k, &["--fail-open"]), 0);
    assert!(k.ran("spawn") && !k.ran("exec"));
    assert_eq!(k.removed_unentered, [PathBuf::from(CHILD_CG)]);
    k.assert_clean();
}

// --- ad hoc: the command started as a child inside its cgroup ----------------------------------

#[test]
fn adhoc_starts_the_command_as_a_child_unless_it_must_keep_our_pid() {
    let open = policy(false);
    assert_eq!(adhoc_start(&open, |_| false), AdhocStart::Child);
    assert_eq!(adhoc_start(&verifying(false), |_| false), AdhocStart::Exec);
    for var in ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS"] {
        assert_eq!(adhoc_start(&open, |v| v == var), AdhocStart::Exec, "{var}");
    }
    assert_eq!(adhoc_start(&open, |v| v == "PATH"), AdhocStart::Child);
}

#[test]
fn adhoc_child_is_born_in_the_cgroup_which_goes_after_it_exits() {
    let mut k = Fake::creating();
    k.spawn = FakeSpawn::Runs(End::Exited(3));
    assert_eq!(adhoc(&mut k, &[]), 3);
    assert_eq!(
        k.calls,
        [
            "shared",
            "resolve",
            "load-explicit",
            "target",
            "ancestors",
            "attach",
            "resolve",
            "spawn",
            "wait",
            "remove_created"
        ]
    );
    // Never entered: removed without moving this process anywhere.
    assert_eq!(k.removed_unentered, [PathBuf::from(CHILD_CG)]);
    assert_eq!(k.died_of, None);
    k.assert_clean();
}

#[test]
fn adhoc_child_killed_by_a_signal_kills_the_launcher_after_the_cleanup() {
    let mut k = Fake::creating();
    k.spawn = FakeSpawn::Runs(End::Signaled(libc::SIGTERM));
    // 128 + 15 only if dying of it did not end this process (it does, in the real one).
    assert_eq!(adhoc(&mut k, &[]), 128 + libc::SIGTERM);
    assert_eq!(k.died_of, Some(libc::SIGTERM));
    let at = |c| k.calls.iter().position(|x| *x == c).unwrap();
    assert!(at("remove_created") < at("die_of"), "{:?}", k.calls);
    k.assert_clean();
}

#[test]
fn adhoc_without_clone_into_cgroup_moves_in_and_executes_as_before() {
    // ENOSYS: no clone3 (< 5.3); E2BIG: clone3 without the cgroup field (5.3–5.6); EINVAL: no
    // CLONE_INTO_CGROUP; EPERM: a seccomp filter; EAGAIN: no process left to make.
    for errno in [
        libc::ENOSYS,
        libc::E2BIG,
        libc::EINVAL,
        libc::EPERM,
        libc::EAGAIN,
    ] {
        let mut k = Fake::creating();
        k.spawn = FakeSpawn::NotStarted(errno);
        // The fake's execve fails (the real one does not return): 203, and everything undone.
        assert_eq!(adhoc(&mut k, &[]), 203, "errno {errno}");
        let tail = &k.calls[k.calls.len() - 5..];
        assert_eq!(
            tail,
            ["spawn", "enter", "exec", "detach", "remove_created"],
            "errno {errno}"
        );
        // Entered by then: moved out again before the removal.
        assert!(k.removed_unentered.is_empty());
        k.assert_clean();
    }
}

#[test]
fn adhoc_fallback_that_cannot_enter_follows_the_policy() {
    let mut k = Fake::creating();
    k.spawn = FakeSpawn::NotStarted(libc::ENOSYS);
    k.enter = Err(libc::EACCES);
    assert_eq!(adhoc(&mut k, &[]), 219);
    assert!(!k.ran("exec"));
    k.assert_clean();
    let mut k = Fake::creating();
    k.spawn = FakeSpawn::NotStarted(libc::ENOSYS);
    k.enter = Err(libc::EACCES);
    assert_eq!(adhoc(&mut k, &["--fail-open"]), 203);
    // Unbound where it runs: the program and the cgroup went before the exec.
    let at = |c| k.calls.iter().position(|x| *x == c).unwrap();
    assert!(at("remove_created") < at("exec"), "{:?}", k.calls);
    k.assert_clean();
}

#[test]
fn adhoc_child_whose_exec_fails_is_203_and_undone() {
    let mut k = Fake::creating();
    k.spawn = FakeSpawn::ExecFails(libc::EACCES);
    assert_eq!(adhoc(&mut k, &[]), 203);
    assert!(!k.ran("enter") && !k.ran("exec") && !k.ran("die_of"));
    let tail = &k.calls[k.calls.len() - 4..];
    assert_eq!(tail, ["spawn", "wait", "detach", "remove_created"]);
    assert_eq!(k.removed_unentered, [PathBuf::from(CHILD_CG)]);
    k.assert_clean();
}

#[test]
fn adhoc_keeps_the_exec_path_where_the_pid_matters_or_the_cgroup_differs() {
    // A Type=notify unit's main process, socket activation, --verify: moved in, executed.
    for (extra, set) in [
        (&[][..], &["NOTIFY_SOCKET"][..]),
        (&[], &["LISTEN_PID", "LISTEN_FDS"]),
        (&["--verify"], &[]),
    ] {
        let mut k = Fake::creating();
        assert_eq!(adhoc_in(&mut k, extra, set), 203, "{extra:?} {set:?}");
        assert!(k.ran("exec") && !k.ran("spawn"), "{:?}", k.calls);
        k.assert_clean();
    }
    // A legacy host's private mirror is always entered (target::for_adhoc).
    let mut k = Fake::creating();
    k.legacy = true;
    assert_eq!(adhoc(&mut k, &[]), 203);
    assert!(k.ran("exec") && !k.ran("spawn"));
    // Unbound after a fail-open resolve error: no cgroup was made, executed in place.
    let mut k = Fake::creating();
    k.resolves = vec![Err(libc::EIO)];
    assert_eq!(adhoc(&mut k, &["--fail-open"]), 203);
    assert!(k.ran("exec") && !k.ran("target") && !k.ran("spawn"));
}

#[test]
fn adhoc_binds_then_executes() {
    let mut k = Fake::creating();
    assert_eq!(adhoc(&mut k, &["--verify"]), 203);
    let order: Vec<_> = k.calls.clone();
    assert_eq!(
        order,
        [
            "shared",
            "resolve",
            "load-explicit",
            "target",
            "ancestors",
            "attach",
            "resolve",
            "probe",
            "exec",
            "detach",
            "remove_created"
        ]
    );
    k.assert_clean();
}

// --- the policy's sources ----------------------------------------------------------------------

#[test]
fn policy_defaults_per_mode_and_the_command_line_wins() {
    use crate::cli::PolicyArgs;
    let none = PolicyArgs::default();
    assert_eq!(Policy::merge(&none, None, true), policy(true));
    assert_eq!(Policy::merge(&none, None, false), policy(false));
    let cli = PolicyArgs {
        fail_closed: Some(false),
        wait: Some(std::time::Duration::from_millis(1500)),
        verify: Some(true),
    };
    assert_eq!(
        Policy::merge(&cli, None, true),
        Policy {
            fail_closed: false,
            wait: Duration::from_millis(1500),
            verify: Verify::Required,
        }
    );
    let off = PolicyArgs {
        verify: Some(false),
        ..PolicyArgs::default()
    };
    assert_eq!(Policy::merge(&off, None, false).verify, Verify::Off);
}

// --- legacy hosts: a wrapped command enters what the attach step prepared ----------------------

fn run_in_unit(k: &mut Fake, p: &Policy, attach_only: bool) -> Result<Setup<Fake>, i32> {
    let which = Which::Unit {
        unit: "x.service",
        attach_only,
        prepared: true,
    };
    bind_in_unit(k, "x.service", "v0", p, which).map_err(|Fatal(code)| code)
}

/// Issue 20 #1/#2: inside the unit's sandbox the wrapped command neither loads nor attaches
/// (no `bpf()`, which a syscall filter or missing CAP_BPF forbids), nor looks up the interface.
#[test]
fn legacy_wrapper_only_enters_the_prepared_mirror() {
    for closed in [false, true] {
        let mut k = Fake::new();
        k.prepared = Some(None);
        let s = run_in_unit(&mut k, &policy(closed), false).unwrap();
        assert!(bound(&s));
        assert_eq!(k.calls, ["enter_prepared"]);
        assert!(k.attached.is_empty());
        assert_eq!(s.bound.as_ref().map(|b| b.ifindex), Some(None));
    }
}

/// The launcher form written by hand, without the attach step: nothing prepares a mirror, so
/// the command binds itself (loads, chooses the cgroup, attaches), as it always has.
#[test]
fn the_launcher_form_without_an_attach_step_binds_itself() {
    let mut k = Fake::new();
    k.prepared = Some(Some(libc::ENOENT));
    let which = Which::Unit {
        unit: "x.service",
        attach_only: false,
        prepared: false,
    };
    let s = bind_in_unit(&mut k, "x.service", "v0", &policy(false), which)
        .map_err(|Fatal(code)| code)
        .unwrap();
    assert!(bound(&s));
    assert!(!k.ran("enter_prepared"), "{:?}", k.calls);
    assert!(
        k.ran("load") && k.ran("target") && k.ran("attach"),
        "{:?}",
        k.calls
    );
}

#[test]
fn legacy_wrapper_without_a_prepared_mirror_follows_the_policy() {
    let mut k = Fake::new();
    k.prepared = Some(Some(libc::ENOENT));
    let s = run_in_unit(&mut k, &policy(false), false).unwrap();
    assert!(!bound(&s));
    assert_eq!(k.calls, ["enter_prepared"], "no load, no mount, no attach");
    let mut k = Fake::new();
    k.prepared = Some(Some(libc::ENOENT));
    assert_eq!(run_in_unit(&mut k, &policy(true), false).err(), Some(219));
    assert_eq!(k.calls, ["enter_prepared"]);
}

#[test]
fn legacy_wrapper_verifies_when_asked() {
    let mut k = Fake::new();
    k.prepared = Some(None);
    let s = run_in_unit(&mut k, &verifying(true), false).unwrap();
    assert_eq!(s.bound.as_ref().map(|b| b.ifindex), Some(Some(IFINDEX)));
    assert_eq!(k.calls, ["enter_prepared", "resolve", "probe"]);
    let mut k = Fake::new();
    k.prepared = Some(None);
    k.probe = Ok(None);
    assert_eq!(
        run_in_unit(&mut k, &verifying(true), false).err(),
        Some(245)
    );
}

/// The attach step binds the unit's cgroup (on a legacy host, the mirror it prepares) whether or
/// not a prepared one exists; on other hosts the wrapped command binds as before.
#[test]
fn attach_step_and_other_hosts_bind_as_before() {
    let mut k = Fake::new();
    k.prepared = Some(None);
    let s = run_in_unit(&mut k, &policy(false), true).unwrap();
    assert!(bound(&s));
    assert!(!k.ran("enter_prepared"));
    assert_eq!(k.attached, [101]);
    let mut k = Fake::new();
    let s = run_in_unit(&mut k, &policy(false), false).unwrap();
    assert!(bound(&s));
    assert!(k.ran("enter_prepared") && k.ran("attach"));
}

// --- legacy hosts: is there a command that enters the prepared mirror? -------------------------

/// The attach step on a legacy host prepares a mirror only for a unit some command of which runs
/// through the launcher; an attach step of its own (`--attach`) does not count, a reset line
/// drops what came before it.
#[test]
fn runs_through_launcher_looks_for_a_wrapped_command() {
    let root = std::env::temp_dir().join(format!("bindif-wrapped-{}", std::process::id()));
    let dir = root.join("etc/systemd/system");
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("ExecStart=/usr/bin/sleep 1\n", false),
        (
            "ExecStartPre=+/usr/lib/bindif-launch --attach %n\nExecStart=/usr/bin/sleep 1\n",
            false,
        ),
        (
            "ExecStartPre=+/usr/lib/bindif-launch --attach %n\nExecStart=/usr/lib/bindif-launch %n -- /usr/bin/sleep 1\n",
            true,
        ),
        ("ExecReload=-/usr/lib/bindif-launch %n -- /bin/kill -HUP $MAINPID\nExecStart=/bin/true\n", true),
        (
            "ExecStart=/usr/lib/bindif-launch %n -- /usr/bin/sleep 1\nExecStart=\nExecStart=/usr/bin/sleep 1\n",
            false,
        ),
        // The generator's lines now: --unit= (names may start with `-`), and a link named after the
        // command's executable.
        (
            "ExecStartPre=+/usr/lib/bindif-launch --attach --unit=%n\nExecStart=/run/systemd/generator/bindif-launch-exec/sleep --unit=%n -- /usr/bin/sleep 1\n",
            true,
        ),
    ];
    for (i, (lines, want)) in cases.iter().enumerate() {
        let name = format!("w{i}.service");
        std::fs::write(
            dir.join(&name),
            format!("[Service]\nBindNetworkInterface=v0\n{lines}"),
        )
        .unwrap();
        let cfg = config::read(&root, &name, 252).unwrap();
        assert_eq!(runs_through_launcher(&cfg.loaded), *want, "{lines}");
        // Cases 1, 2 and 5 run the attach step; the rest (cases 3 and 4 wrap without it: the
        // launcher form written by hand) do not.
        assert_eq!(
            has_attach_step(&cfg.loaded),
            (1..=2).contains(&i) || i == 5,
            "{lines}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}

// --- the slice mode ----------------------------------------------------------------------------

/// A root holding `/etc/systemd/system/NAME` with `content`, for the slice mode to read.
fn slice_root(name: &str, content: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("bindif-slice-{}-{name}", std::process::id()));
    let dir = root.join("etc/systemd/system");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), content).unwrap();
    root
}

fn slice(k: &mut Fake, name: &str, content: &str) -> i32 {
    let root = slice_root(name, content);
    let argv = ["--root", root.to_str().unwrap(), "--attach-slice", name].map(OsString::from);
    let args = crate::cli::parse(argv.to_vec()).unwrap();
    let code = slice::slice_mode_with(k, &args, name, None).map_or_else(|Fatal(c)| c, |()| 0);
    let _ = std::fs::remove_dir_all(&root);
    code
}

#[test]
fn a_slice_is_bound_on_its_nested_cgroup_path() {
    let mut k = Fake::new();
    assert_eq!(
        slice(
            &mut k,
            "mgmt-inner.slice",
            "[Slice]\nBindNetworkInterface=v0\n"
        ),
        0
    );
    if native_support().is_some() {
        // PID 1 binds the slice itself: nothing of ours.
        assert!(k.calls.is_empty(), "{:?}", k.calls);
        return;
    }
    assert_eq!(k.slice_paths, ["/mgmt.slice/mgmt-inner.slice"]);
    assert_eq!(k.attached, [101]);
    // An escaped dash (the helper passes `%i` raw) is no level of its own.
    let mut k = Fake::new();
    let escaped = "vrf\\x2dmgmt.slice";
    assert_eq!(
        slice(&mut k, escaped, "[Slice]\nBindNetworkInterface=v0\n"),
        0
    );
    assert_eq!(k.slice_paths, ["/vrf\\x2dmgmt.slice"]);
}

#[test]
fn a_slice_whose_interface_is_missing_starts_unbound() {
    let mut k = Fake::new();
    k.resolves = vec![Ok(None)];
    assert_eq!(
        slice(&mut k, "gone.slice", "[Slice]\nBindNetworkInterface=v0\n"),
        0
    );
    assert!(!k.ran("load") && !k.ran("target"), "{:?}", k.calls);
    k.assert_clean();
}

#[test]
fn a_slice_without_the_key_is_left_alone_and_the_root_slice_refused() {
    let mut k = Fake::new();
    assert_eq!(slice(&mut k, "plain.slice", "[Slice]\nCPUWeight=10\n"), 0);
    assert!(k.calls.is_empty(), "{:?}", k.calls);
    let mut k = Fake::new();
    assert_eq!(
        slice(&mut k, "-.slice", "[Slice]\nBindNetworkInterface=v0\n"),
        2
    );
    assert!(k.calls.is_empty(), "{:?}", k.calls);
}
