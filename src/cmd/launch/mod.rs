// SPDX-License-Identifier: LGPL-2.1-or-later
//! The launcher's modes: read the unit, bind its cgroup, and exec the command in place.
//!
//! Order matters for "nothing left half-done": everything that can be checked without side
//! effects (unit readable, command found and executable) is checked before the program is
//! attached, so a bad invocation fails before it changes anything.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod config;
pub mod target;

use crate::cli::{Args, PolicyArgs};
use crate::log::{self, Level};
use crate::sys::{self, process};
use crate::unit::eval::{self, BindEval, TimeSpan};
use crate::{exit, log_at, timing};
use config::UnitConfig;

/// What to do when the binding cannot be set up, merged from the command line, the unit's
/// `X-BindNetworkInterface-*=` keys and the mode's default.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub fail_closed: bool,
    pub wait: Duration,
    pub verify: bool,
}

impl Policy {
    /// Command line first, then the unit's keys where a unit set them, then the mode's default.
    pub fn merge(cli: &PolicyArgs, unit: Option<&BindEval>, default_closed: bool) -> Policy {
        let unit_closed =
            unit.and_then(|b| b.fail_closed.source.as_ref().map(|_| b.fail_closed.value));
        let unit_wait = unit.map(|b| match b.wait.value {
            TimeSpan::Finite(d) => d,
            // "infinity": wait as long as systemd lets the start job run.
            TimeSpan::Infinity => Duration::MAX,
        });
        Policy {
            fail_closed: cli.fail_closed.or(unit_closed).unwrap_or(default_closed),
            wait: cli
                .wait_secs
                .map(Duration::from_secs_f64)
                .or(unit_wait)
                .unwrap_or(Duration::ZERO),
            verify: cli.verify || unit.is_some_and(|b| b.verify.value),
        }
    }
}

/// A failure that ends the launcher with a systemd exit status; the message was logged.
#[derive(Debug)]
pub struct Fatal(pub i32);

/// The running systemd's version, for rules that depend on it (the `|` prefix, native
/// support). Unknown (no /proc/1, not systemd): assume the newest rules we know.
pub(crate) fn running_systemd_version() -> Option<u32> {
    // Read once: unit mode needs it twice (parsing rules, native support), and /proc/1/maps is
    // long on a busy PID 1.
    static VERSION: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *VERSION.get_or_init(process::pid1_systemd_version)
}

fn read_unit(root: &Path, unit: &str) -> Result<UnitConfig, Fatal> {
    let version = running_systemd_version().unwrap_or(260);
    timing::mark("systemd version");
    let cfg = config::read(root, unit, version).map_err(|e| {
        log_at!(Err, "Failed to load unit {unit}: {e}");
        Fatal(exit::INVALIDARGUMENT)
    })?;
    timing::mark("unit load");
    for d in &cfg.bind.diagnostics {
        log_at!(Warning, "{}", eval::format_diagnostic(d));
    }
    Ok(cfg)
}

/// The command to exec: an explicit one after `--`, or the unit's own `ExecStart=`.
struct Command {
    path: PathBuf,
    argv: Vec<OsString>,
}

fn resolve_explicit(command: &[OsString]) -> Result<Command, Fatal> {
    let path_var = std::env::var_os("PATH");
    match process::find_executable(&command[0], path_var.as_deref()) {
        Ok(path) => Ok(Command {
            path,
            argv: command.to_vec(),
        }),
        Err(e) => {
            log_at!(
                Err,
                "Failed to find executable {}: {}",
                command[0].to_string_lossy(),
                sys::strerror(&e)
            );
            Err(Fatal(exit::EXEC))
        }
    }
}

fn resolve_discovered(unit: &str, cfg: &UnitConfig) -> Result<Command, Fatal> {
    let launch = cfg.launch_in(&config::environment()).map_err(|e| {
        log_at!(Err, "Cannot determine the command of {unit}: {e}");
        Fatal(exit::EXEC)
    })?;
    // A plain name is looked up in systemd's fixed PATH, as PID 1 would.
    let path = process::find_executable(
        launch.path.as_os_str(),
        Some(OsStr::new(config::SYSTEMD_EXEC_PATH)),
    )
    .map_err(|e| {
        log_at!(
            Err,
            "Failed to find executable {}: {}",
            launch.path.display(),
            sys::strerror(&e)
        );
        Fatal(exit::EXEC)
    })?;
    Ok(Command {
        path,
        argv: launch.argv.into_iter().map(OsString::from).collect(),
    })
}

/// Logs `--timing`'s line, if asked for; called last before executing or exiting.
fn log_timing() {
    if let Some((phases, total)) = timing::phases() {
        log_at!(Info, "{}", timing::format_line(&phases, total));
    }
}

fn exec(cmd: &Command) -> Fatal {
    log_timing();
    let err = process::exec(&cmd.path, &cmd.argv);
    log_at!(
        Err,
        "Failed to execute {}: {}",
        cmd.path.display(),
        sys::strerror(&err)
    );
    Fatal(exit::EXEC)
}

pub fn unit_mode(args: &Args, unit: &str, command: Option<&[OsString]>) -> Result<i32, Fatal> {
    let cfg = read_unit(&args.root, unit)?;
    let cmd = match command {
        Some(c) => resolve_explicit(c)?,
        None => resolve_discovered(unit, &cfg)?,
    };
    timing::mark("command lookup");
    let policy = Policy::merge(&args.policy, Some(&cfg.bind), false);
    let bound = bind_unit(unit, &cfg.bind, &policy, false)?;
    if args.notify_status {
        send_status(unit, bound.as_ref());
    }
    let failed = exec(&cmd);
    if let Some(b) = &bound {
        unbind_after_failed_exec(b);
    }
    Err(failed)
}

/// `execve` failed after the binding was attached: the unit fails, so take our program off its
/// cgroup again rather than leave it there until systemd removes the cgroup.
fn unbind_after_failed_exec(b: &Bound) {
    let detached = sys::cgroup::open_cgroup_dir(&b.cgroup)
        .and_then(|fd| sys::bpf::detach_ours(fd.as_fd(), None));
    if let Err(e) = detached {
        log_at!(
            Debug,
            "bind-interface: Failed to detach BPF program from {}, ignoring: {}",
            b.cgroup.display(),
            sys::strerror(&e)
        );
    }
}

pub fn attach_mode(args: &Args, unit: &str) -> Result<(), Fatal> {
    let cfg = read_unit(&args.root, unit)?;
    let policy = Policy::merge(&args.policy, Some(&cfg.bind), false);
    let bound = bind_unit(unit, &cfg.bind, &policy, true);
    log_timing();
    bound.map(|_| ())
}

pub fn adhoc_mode(args: &Args, interface: &str, command: &[OsString]) -> Result<i32, Fatal> {
    if !crate::unit::ifname::valid_alternative(interface) {
        log_at!(
            Err,
            "Invalid interface name: {}",
            log::escape_control(interface)
        );
        return Err(Fatal(exit::INVALIDARGUMENT));
    }
    let cmd = resolve_explicit(command)?;
    timing::mark("command lookup");
    let policy = Policy::merge(&args.policy, None, true);
    let bound = bind_adhoc(interface, &policy)?;
    if args.notify_status {
        send_status("command", bound.as_ref());
    }
    let failed = exec(&cmd);
    if let Some(b) = &bound {
        unbind_after_failed_exec(b);
        if b.created {
            target::remove_created(&b.cgroup);
        }
    }
    Err(failed)
}

/// A binding that was set up.
#[derive(Debug, Clone)]
pub struct Bound {
    pub interface: String,
    pub ifindex: u32,
    pub cgroup: PathBuf,
    /// The launcher created `cgroup` (ad hoc mode's own child cgroup).
    pub created: bool,
}

fn send_status(what: &str, bound: Option<&Bound>) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let status = match bound {
        Some(b) => format!(
            "Sockets of {what} bound to {} (ifindex {})",
            b.interface, b.ifindex
        ),
        None => format!("Sockets of {what} not bound to an interface"),
    };
    if let Err(e) = process::notify_status(&socket, &status) {
        log_at!(
            Debug,
            "Failed to send STATUS= to $NOTIFY_SOCKET, ignoring: {e}"
        );
    }
}

/// Logs a failure of the binding and either stops (fail closed) or goes on unbound, as v260
/// does, which logs the error and starts the unit anyway.
fn fail(policy: &Policy, code: i32, msg: &str) -> Result<Option<Bound>, Fatal> {
    log_at!(Err, "{msg}");
    if policy.fail_closed {
        Err(Fatal(code))
    } else {
        Ok(None)
    }
}

/// Resolves the interface, waiting up to the policy's time for it to appear.
/// `Ok(None)`: it does not exist (v260's message was logged at the right level).
fn resolve(interface: &str, policy: &Policy) -> Result<Option<u32>, Fatal> {
    // `None`: an infinite wait (WaitSec=infinity); the start job's timeout still applies.
    let deadline = Instant::now().checked_add(policy.wait);
    let mut waited = false;
    loop {
        match sys::netlink::resolve_ifindex(interface) {
            Ok(Some(ifindex)) => {
                if waited {
                    log_at!(
                        Info,
                        "bind-interface: Network interface '{interface}' appeared"
                    );
                }
                return Ok(Some(ifindex));
            }
            Ok(None) if deadline.map_or(true, |d| Instant::now() < d) => {
                if !waited {
                    log_at!(
                        Info,
                        "bind-interface: Waiting up to {:.1}s for network interface '{interface}'",
                        policy.wait.as_secs_f64()
                    );
                    waited = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(None) => return missing(interface, policy),
            Err(e) => {
                let msg = format!(
                    "bind-interface: Failed to resolve network interface '{interface}'{}: {}",
                    if policy.fail_closed { "" } else { ", ignoring" },
                    sys::strerror(&e)
                );
                return fail(policy, exit::NETWORK, &msg).map(|_| None);
            }
        }
    }
}

/// The interface does not exist: v260's warning and go on unbound, or refuse (fail closed).
fn missing<T>(interface: &str, policy: &Policy) -> Result<Option<T>, Fatal> {
    if policy.fail_closed {
        log_at!(
            Err,
            "bind-interface: Couldn't find index of network interface '{interface}': No such device"
        );
        Err(Fatal(exit::NETWORK))
    } else {
        // v260's exact text (src/core/bpf-bind-iface.c).
        log_at!(
            Warning,
            "bind-interface: Couldn't find index of network interface '{interface}', ignoring: No such device"
        );
        Ok(None)
    }
}

/// After attaching: whether `interface` still names `ifindex`. An interface deleted (or
/// re-created under a new index) between resolution and attach leaves a program binding to a
/// dead ifindex; then `prog` is detached from `cgroup` again and `Ok(false)` returned, so the
/// start fails like one with a missing interface and nothing stays attached. A failed lookup
/// keeps the binding (the name resolved a moment ago).
pub fn recheck_after_attach(
    cgroup: std::os::fd::BorrowedFd,
    prog: std::os::fd::BorrowedFd,
    interface: &str,
    ifindex: u32,
) -> Result<bool, sys::Error> {
    match sys::netlink::resolve_ifindex(interface) {
        Ok(Some(i)) if i == ifindex => Ok(true),
        Err(_) => Ok(true),
        Ok(_) => sys::bpf::detach(cgroup, prog)
            .map(|()| false)
            .map_err(|e| sys::Error::new(sys::Category::Bpf, "detach BPF program from", "", e)),
    }
}

/// PID 1 binds natively from v260 on; a second program would only duplicate its work.
fn native_support() -> Option<u32> {
    running_systemd_version().filter(|v| *v >= 260)
}

/// Whether this is the first start of `unit` since boot that noticed native support: the
/// notice is worth one line per unit and boot, not one per restart. Marker files live in
/// /run (a tmpfs); when it is not writable (sandboxing), every start logs it.
fn first_native_notice(unit: &str) -> bool {
    let dir = Path::new("/run/bindif-launch/native-notice");
    let _ = std::fs::create_dir_all(dir);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(unit))
        .map_or_else(|e| e.kind() != std::io::ErrorKind::AlreadyExists, |_| true)
}

/// v260 resolves the interface in PID 1's network namespace; we use the unit's own. Say so
/// when they differ (unknown, e.g. in a container where /proc/1/ns is not readable: silent).
fn netns_notice() {
    if let Ok(Some(false)) = sys::netlink::in_pid1_netns() {
        log_at!(
            Notice,
            "bind-interface: Resolving the interface in this unit's own network namespace (systemd v260 would resolve it in PID 1's)"
        );
    }
}

/// Binds the cgroup of `unit` (the one this process runs in) to `interface`.
fn bind_unit(
    unit: &str,
    eval: &BindEval,
    policy: &Policy,
    attach_only: bool,
) -> Result<Option<Bound>, Fatal> {
    let Some(interface) = eval.interface.value.as_deref() else {
        if let (Some(src), true) = (&eval.rejected, policy.fail_closed) {
            // The unit asked for a binding, but every value was invalid (warned about above):
            // fail-closed means not starting unbound.
            log_at!(
                Err,
                "bind-interface: {unit} has no valid BindNetworkInterface= (the last one, {}:{}, was ignored), refusing to start unbound",
                src.file.display(),
                src.line
            );
            return Err(Fatal(exit::NETWORK));
        }
        log_at!(
            Notice,
            "bind-interface: {unit} has no BindNetworkInterface=, not binding its sockets"
        );
        return Ok(None);
    };
    if let Some(version) = native_support() {
        let level = if first_native_notice(unit) {
            Level::Notice
        } else {
            Level::Debug
        };
        log::log(
            level,
            &format!("bind-interface: systemd {version} binds {unit} natively (BindNetworkInterface=); bindif-launch can be removed from this unit"),
        );
        return Ok(None);
    }
    netns_notice();
    bind(interface, policy, || target::for_unit(unit, attach_only))
}

/// Ad hoc: under systemd-run, the service's own cgroup; from a shell, a child cgroup of our
/// own that only this command enters, so the caller's session stays unbound.
fn bind_adhoc(interface: &str, policy: &Policy) -> Result<Option<Bound>, Fatal> {
    bind(interface, policy, target::for_adhoc)
}

fn bind_msg(policy: &Policy, e: &dyn std::fmt::Display) -> String {
    if policy.fail_closed {
        format!("bind-interface: {e}")
    } else {
        format!("bind-interface: {e}, ignoring")
    }
}

/// Resolve, load, choose the cgroup, attach, verify. The program is loaded before any cgroup
/// is opened or created, so a caller without CAP_BPF is told so (245/BPF) and nothing changes.
fn bind(
    interface: &str,
    policy: &Policy,
    choose: impl FnOnce() -> Result<target::Target, sys::Error>,
) -> Result<Option<Bound>, Fatal> {
    let Some(ifindex) = resolve(interface, policy)? else {
        return Ok(None);
    };
    timing::mark("interface resolve");
    let prog = match sys::bpf::load_bind_program(ifindex) {
        Ok(p) => p,
        Err(e) => return fail(policy, e.exit_status(), &bind_msg(policy, &e)),
    };
    timing::mark("program load");
    let target = match choose() {
        Ok(t) => t,
        Err(e) => return fail(policy, e.exit_status(), &bind_msg(policy, &e)),
    };
    timing::mark("cgroup");
    let bound = attach(interface, ifindex, policy, &prog, &target);
    if bound.is_err() && target.created() {
        // Refusing to start: the cgroup this run made for the command goes again.
        let dir = target.path().to_path_buf();
        drop(target);
        target::remove_created(&dir);
    }
    bound
}

/// The rest of [`bind`] once the cgroup is chosen: attach, re-check, verify.
fn attach(
    interface: &str,
    ifindex: u32,
    policy: &Policy,
    prog: &OwnedFd,
    target: &target::Target,
) -> Result<Option<Bound>, Fatal> {
    let object = target.path().display().to_string();
    let named = |e: sys::Error| {
        if e.object.is_empty() {
            e.with_object(object.clone())
        } else {
            e
        }
    };
    let attached = sys::bpf::check_attachable(target.fd())
        .and_then(|()| sys::bpf::attach_replacing(target.fd(), prog.as_fd()))
        .map_err(named);
    match attached {
        Ok(outcome) => {
            if let Some(e) = outcome.cleanup_error.map(named) {
                log_at!(Warning, "bind-interface: {e}, ignoring");
            }
        }
        Err(e) => return fail(policy, e.exit_status(), &bind_msg(policy, &e)),
    }
    timing::mark("attach");
    match recheck_after_attach(target.fd(), prog.as_fd(), interface, ifindex).map_err(named) {
        Ok(true) => {}
        Ok(false) => return missing(interface, policy),
        Err(e) => return fail(policy, e.exit_status(), &bind_msg(policy, &e)),
    }
    timing::mark("interface re-check");
    log_at!(
        Debug,
        "bind-interface: Attached program binding to '{interface}' (ifindex {ifindex}) on {object}"
    );
    if policy.verify {
        verify(interface, ifindex)?;
        timing::mark("verify");
    }
    Ok(Some(Bound {
        interface: interface.to_string(),
        ifindex,
        cgroup: target.path().to_path_buf(),
        created: target.created(),
    }))
}

/// The probe: a socket created now, in our cgroup, must carry the interface. Catches
/// net_cls/net_prio interference and foreign programs that undo the binding. Always fatal:
/// asking for verification means not running unverified.
fn verify(interface: &str, ifindex: u32) -> Result<(), Fatal> {
    match sys::bpf::probe_bound_ifindex() {
        Ok(Some(i)) if i == ifindex => Ok(()),
        Ok(got) => {
            log_at!(
                Err,
                "bind-interface: Verification failed: a new socket is bound to {}, expected '{interface}' (ifindex {ifindex})",
                got.map_or("no interface".to_string(), |i| format!("ifindex {i}"))
            );
            Err(Fatal(exit::BPF))
        }
        Err(e) => {
            log_at!(
                Err,
                "bind-interface: Failed to create probe socket: {}",
                sys::strerror(&e)
            );
            Err(Fatal(exit::BPF))
        }
    }
}
