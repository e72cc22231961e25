// SPDX-License-Identifier: LGPL-2.1-or-later
//! The launcher's modes: read the unit, bind its cgroup, and exec the command in place.
//!
//! Order matters for "nothing left half-done": everything that can be checked without side
//! effects (unit readable, command found and executable) is checked before the program is
//! attached, so a bad invocation fails before it changes anything.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod config;
pub mod enter;
pub mod kernel;
pub mod leftovers;
pub mod slice;
pub mod target;
#[cfg(test)]
mod tests;

use crate::cli::{Args, PolicyArgs};
use crate::log::{self, Level};
use crate::program::Origin;
use crate::sys::{self, process};
use crate::unit::eval::{self, BindEval, TimeSpan};
use crate::{exit, log_at, log_bind, timing};
use config::UnitConfig;
use kernel::{CgroupHandle, End, Kernel, Linux, Which};

/// What to do when the binding cannot be set up, merged from the command line, the unit's
/// `X-BindNetworkInterface-*=` keys and the mode's default.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub fail_closed: bool,
    pub wait: Duration,
    pub verify: Verify,
}

/// Whether and how the binding is checked after attaching: a socket created then, in the
/// cgroup, must carry the interface (issue 18 #3). Catches what makes an attached binding do
/// nothing: net_cls/net_prio on a kernel that then stops matching cgroup2 sockets, a foreign
/// program that overrides ours, an ancestor's binding that wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// `--no-verify`, `X-BindNetworkInterface-Verify=no`.
    Off,
    /// The default: checked where this process is in the cgroup it bound (unit mode, the
    /// attach step on cgroup2 hosts; not a slice's helper, not an ad hoc command started as a
    /// child); a mismatch is logged as an error and fails a fail-closed start only; a probe
    /// socket that cannot be made (the unit's `RestrictAddressFamilies=`) is skipped.
    Check,
    /// `--verify`, `X-BindNetworkInterface-Verify=yes`: always, and any failure is fatal.
    Required,
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
            wait: cli.wait.or(unit_wait).unwrap_or(Duration::ZERO),
            verify: match cli
                .verify
                .or(unit.and_then(|b| b.verify.source.as_ref().map(|_| b.verify.value)))
            {
                Some(true) => Verify::Required,
                Some(false) => Verify::Off,
                None => Verify::Check,
            },
        }
    }
}

/// A failure that ends the launcher with a systemd exit status; the message was logged.
#[derive(Debug)]
pub struct Fatal(pub i32);

/// The running systemd's version, for rules that depend on it (the `|` prefix, native
/// support). Unknown (no /proc/1, not systemd): assume the newest rules we know.
pub fn running_systemd_version() -> Option<u32> {
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
                log::escape_control(&command[0].to_string_lossy()),
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
        log_bind!(Info, "{}", timing::format_line(&phases, total));
    }
}

/// Executes the command with the binding in place. `execve` failing means the command never
/// ran: what this run attached and created is undone, and the start fails with 203/EXEC.
fn exec<K: Kernel>(k: &mut K, cmd: &Command, setup: Setup<K>) -> Fatal {
    log_timing();
    exec_unlogged(k, cmd, setup)
}

/// [`exec`] once `--timing`'s line was logged.
fn exec_unlogged<K: Kernel>(k: &mut K, cmd: &Command, setup: Setup<K>) -> Fatal {
    let err = k.exec(&cmd.path, &cmd.argv);
    exec_failed(k, cmd, &err, setup)
}

/// The command could not be executed (`err`): logged, what this run set up undone, 203/EXEC.
fn exec_failed<K: Kernel>(
    k: &mut K,
    cmd: &Command,
    err: &std::io::Error,
    setup: Setup<K>,
) -> Fatal {
    log_at!(
        Err,
        "Failed to execute {}: {}",
        log::escape_control(&cmd.path.to_string_lossy()),
        sys::strerror(err)
    );
    undo(k, setup);
    Fatal(exit::EXEC)
}

/// Takes the program this run attached off its cgroup again (rather than leave it there until
/// systemd removes the cgroup) and removes the cgroup if this run created it.
fn undo<K: Kernel>(k: &mut K, setup: Setup<K>) {
    let Some(cgroup) = setup.cgroup else {
        return;
    };
    if let Some(prog) = setup.bound.as_ref().and_then(|b| b.prog.as_ref()) {
        detach_again(k, &cgroup, prog);
    }
    if cgroup.created() {
        k.remove_created(cgroup);
    }
}

/// Takes `prog`, attached by this run, off `cgroup` again because the start fails after all.
fn detach_again<K: Kernel>(k: &mut K, cgroup: &K::Cgroup, prog: &K::Prog) {
    if let Err(e) = k.detach(cgroup, prog) {
        log_bind!(
            Debug,
            "Failed to detach BPF program from {}, ignoring: {}",
            cgroup.path().display(),
            sys::strerror(&e)
        );
    }
}

pub fn unit_mode(args: &Args, unit: &str, command: Option<&[OsString]>) -> Result<i32, Fatal> {
    log::set_unit(unit);
    unit_mode_with(&mut Linux::default(), args, unit, command)
}

fn unit_mode_with<K: Kernel>(
    k: &mut K,
    args: &Args,
    unit: &str,
    command: Option<&[OsString]>,
) -> Result<i32, Fatal> {
    let cfg = read_unit(&args.root, unit)?;
    let cmd = match command {
        Some(c) => resolve_explicit(c)?,
        None => resolve_discovered(unit, &cfg)?,
    };
    timing::mark("command lookup");
    let policy = Policy::merge(&args.policy, Some(&cfg.bind), false);
    let which = Which::Unit {
        unit,
        attach_only: false,
        prepared: has_attach_step(&cfg.loaded),
    };
    let setup = bind_unit(k, unit, &cfg.bind, &policy, which)?;
    if args.notify_status {
        send_status(unit, setup.bound.as_ref());
    }
    Err(exec(k, &cmd, setup))
}

/// `--attach UNIT`: bind the cgroup of `unit` and exit. Returns only for the process to exit
/// (see [`finish_attach`]). `resolved`: the `--resolved=` values
/// bindif-launch-generator wrote into the unit's drop-in at the last daemon-reload; then the
/// unit's files are not read, which also keeps what systemd v262 keeps, the binding of the last
/// reload, when a drop-in changed since. Without them (hand-written units, drop-ins of an older
/// generator) the unit is read and evaluated here, as before.
pub fn attach_mode(args: &Args, unit: &str, resolved: Option<&[String]>) -> Result<(), Fatal> {
    log::set_unit(unit);
    match resolved {
        Some(values) => attach_resolved(args, unit, values),
        None => attach_reading_unit(args, unit),
    }
}

/// What the attach step binds to, from the generator's `--resolved=` values: the last one that
/// is a valid interface name, as v262 keeps the last valid `BindNetworkInterface=`. A value the
/// running systemd expanded in the `Exec` line (`%i`) is checked here, for this instance; an
/// empty one stands for values the generator already ignored and warned about at the reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked<'a> {
    pub interface: Option<&'a str>,
    /// Values that are not valid names (empty ones excepted), to warn about as v262 does.
    pub invalid: Vec<&'a str>,
}

pub fn pick_resolved(values: &[String]) -> Picked<'_> {
    let mut p = Picked {
        interface: None,
        invalid: Vec::new(),
    };
    for v in values {
        if crate::unit::ifname::valid_alternative(v) {
            p.interface = Some(v);
        } else if !v.is_empty() {
            p.invalid.push(v);
        }
    }
    p
}

/// The generator's form of the attach step: resolve the name, load, attach, re-check. Nothing
/// of the unit is read, and the running systemd's version is not asked for: the generator
/// writes this form only for systemd before v260, and reruns (dropping it) when PID 1 is
/// re-executed as a newer one.
fn attach_resolved(args: &Args, unit: &str, values: &[String]) -> Result<(), Fatal> {
    let policy = Policy::merge(&args.policy, None, false);
    let picked = pick_resolved(values);
    for v in &picked.invalid {
        log_at!(
            Warning,
            "Invalid interface name, ignoring: {}",
            log::escape_control(v)
        );
    }
    let Some(interface) = picked.interface else {
        // The unit asked for a binding, but every value was invalid: v262 starts it unbound,
        // fail-closed refuses. Either way nothing of ours binds it (legacy: its mirror).
        let unbound = if policy.fail_closed {
            log_bind!(
                Err,
                "No valid BindNetworkInterface= (every value was ignored, at the last daemon-reload or for this instance), refusing to start unbound"
            );
            Err(Fatal(exit::NETWORK))
        } else {
            log_bind!(
                Notice,
                "No valid BindNetworkInterface=, not binding the unit's sockets"
            );
            Ok(Setup::unbound())
        };
        return finish_attach(unit, unbound, Linux::default());
    };
    if target::may_be_legacy_host() && target::on_legacy_host() {
        // Rare hosts, not worth a second form of the drop-in: whether the unit's commands run
        // through the launcher is read from the unit, as without --resolved.
        let cfg = read_unit(&args.root, unit)?;
        if !runs_through_launcher(&cfg.loaded) {
            return refuse_unwrapped_legacy(&policy, unit);
        }
    }
    let which = Which::Unit {
        unit,
        attach_only: true,
        prepared: true,
    };
    let mut k = Linux::default();
    let bound = bind_in_unit(&mut k, unit, interface, &policy, which);
    finish_attach(unit, bound, k)
}

/// The attach step reading the unit's files (no `--resolved=`).
fn attach_reading_unit(args: &Args, unit: &str) -> Result<(), Fatal> {
    let cfg = read_unit(&args.root, unit)?;
    let policy = Policy::merge(&args.policy, Some(&cfg.bind), false);
    if cfg.bind.interface.value.is_some()
        && target::on_legacy_host()
        && !runs_through_launcher(&cfg.loaded)
    {
        return refuse_unwrapped_legacy(&policy, unit);
    }
    let which = Which::Unit {
        unit,
        attach_only: true,
        prepared: true,
    };
    let mut k = Linux::default();
    let bound = bind_unit(&mut k, unit, &cfg.bind, &policy, which);
    finish_attach(unit, bound, k)
}

/// A legacy host, and no command of the unit runs through the launcher: the mirror would be
/// bound, and no process of the unit would ever enter it.
fn refuse_unwrapped_legacy(policy: &Policy, unit: &str) -> Result<(), Fatal> {
    let e = sys::Error::new(
        sys::Category::Cgroup,
        "attach to the cgroup of",
        unit,
        std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
    )
    .with_hint("this host has no cgroup2 hierarchy that systemd uses, so --attach cannot reach the unit's later processes unless they run through the launcher: ExecStart=/usr/lib/bindif-launch --unit=%n -- COMMAND, as bindif-launch-generator writes it");
    fail(policy, e.exit_status(), &bind_msg(policy, &e))?;
    log_timing();
    Ok(())
}

/// The end of an attach step, either form. The process exits next, and its exit closes every
/// descriptor it holds: those of the program and the cgroup (in `bound`) and of the sockets
/// (in `k`) are left to it, not closed by a call each. The program stays attached either way:
/// the cgroup holds it.
fn finish_attach(unit: &str, bound: Result<Setup<Linux>, Fatal>, k: Linux) -> Result<(), Fatal> {
    if !matches!(&bound, Ok(Setup { bound: Some(_), .. })) {
        // Legacy hosts: what the unit's wrapped commands enter is not bound by this start
        // (fail-open): keep it, unbound, for the daemon-reload that finds the interface.
        target::unbind_legacy_mirror(unit);
    }
    log_timing();
    std::mem::forget(k);
    bound.map(std::mem::forget)
}

/// Whether some command of the unit, other than an attach step, runs through the launcher
/// (`ExecStart=/usr/lib/bindif-launch --unit=%n -- …`, as the generator wraps them on legacy hosts):
/// only such commands enter the mirror the attach step prepares there.
fn runs_through_launcher(u: &crate::unit::LoadedUnit) -> bool {
    let keys = eval::cgroup_section(&u.name).map_or(&[][..], crate::unit::exec::keys);
    launcher_commands(u, keys).any(|w| !w.iter().any(|x| x == "--attach"))
}

/// Whether the unit runs the attach step (`+/usr/lib/bindif-launch --attach …` in its
/// `ExecCondition=` or `ExecStartPre=`, as the generator puts it first): on legacy hosts that
/// step prepares the mirror, and the unit's wrapped commands must only enter it, never mount or
/// load anything inside the unit's syscall filter. Without it (the launcher form written by
/// hand) the wrapped command binds itself, as it always has.
fn has_attach_step(u: &crate::unit::LoadedUnit) -> bool {
    launcher_commands(u, &["ExecCondition", "ExecStartPre"])
        .any(|w| w.iter().any(|x| x == "--attach"))
}

/// The words of each of the unit's effective `keys` commands that runs bindif-launch (prefixes
/// stripped).
fn launcher_commands<'a>(
    u: &'a crate::unit::LoadedUnit,
    keys: &'a [&'a str],
) -> impl Iterator<Item = Vec<String>> + 'a {
    eval::cgroup_section(&u.name)
        .into_iter()
        .flat_map(move |section| {
            keys.iter()
                .flat_map(move |key| crate::unit::effective_list(u.values(section, key)))
        })
        .filter_map(|a| {
            let raw = a.value.trim_start_matches(['-', '@', ':', '+', '!', '|']);
            crate::unit::words::split_command_line(raw).ok()
        })
        .filter(|w| w.first().is_some_and(|p| eval::is_bindif_launch(p)))
}

pub fn adhoc_mode(args: &Args, interface: &str, command: &[OsString]) -> Result<i32, Fatal> {
    adhoc_mode_with(&mut Linux::default(), args, interface, command, &|name| {
        std::env::var_os(name).is_some()
    })
}

/// `is_set`: whether an environment variable is set (see [`adhoc_start`]).
fn adhoc_mode_with<K: Kernel>(
    k: &mut K,
    args: &Args,
    interface: &str,
    command: &[OsString],
    is_set: &dyn Fn(&str) -> bool,
) -> Result<i32, Fatal> {
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
    let start = adhoc_start(&policy, is_set);
    // Ad hoc: always a child cgroup of our own that only this command enters, wherever we run
    // (a shell, systemd-run, an ExecStartPre= of a unit), so nothing but the command is bound.
    let enter = start == AdhocStart::Exec;
    let setup = bind(k, interface, &policy, Which::AdHoc { enter })?;
    if args.notify_status {
        send_status("command", setup.bound.as_ref());
    }
    if setup.cgroup.as_ref().is_some_and(|c| !c.entered()) {
        return start_child(k, &cmd, setup, &policy);
    }
    Err(exec(k, &cmd, setup))
}

/// How an ad hoc run starts its command in the cgroup it creates for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AdhocStart {
    /// As a child process born inside the cgroup (`clone3` with `CLONE_INTO_CGROUP`), the
    /// launcher staying as its parent: no process migrates between cgroups, so the start does
    /// not wait for the RCU grace period a migration waits for. Falls back to `Exec` where the
    /// kernel cannot.
    Child,
    /// Move this process into the cgroup, then execute the command in place: it keeps the
    /// launcher's PID.
    Exec,
}

/// The environment variables that tie the command to this process's PID, as systemd sets
/// them for a unit's main process: `$NOTIFY_SOCKET` (a `Type=notify` unit accepts READY=1
/// only from its main PID, which a parent launcher would be, unless NotifyAccess=all),
/// `$LISTEN_PID`/`$LISTEN_FDS` (socket activation hands the descriptors to that PID only).
const PID_BOUND_ENV: [&str; 3] = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS"];

/// Decides [`AdhocStart`]; `is_set` tells whether an environment variable is set. The command
/// is executed in place (the path of old) when it must keep this process's PID (see
/// [`PID_BOUND_ENV`]) or when `--verify` is asked for: the probe socket is made by this
/// process, so it must be in the cgroup itself.
fn adhoc_start(policy: &Policy, is_set: impl Fn(&str) -> bool) -> AdhocStart {
    if policy.verify == Verify::Required || PID_BOUND_ENV.iter().any(|v| is_set(v)) {
        AdhocStart::Exec
    } else {
        AdhocStart::Child
    }
}

/// Ad hoc, [`AdhocStart::Child`]: starts the command inside the cgroup created for it, waits
/// for it, removes the cgroup, and ends as the command ended (its exit status, or killed by
/// the same signal). Where the kernel cannot start a process inside a cgroup (no `clone3` or
/// `CLONE_INTO_CGROUP` before Linux 5.7, a seccomp filter, no process left to make), this
/// process moves in and executes the command in place instead, as on every kernel before.
fn start_child<K: Kernel>(
    k: &mut K,
    cmd: &Command,
    mut setup: Setup<K>,
    policy: &Policy,
) -> Result<i32, Fatal> {
    let Some(cgroup) = setup.cgroup.as_mut() else {
        return Err(exec(k, cmd, setup));
    };
    log_timing();
    match k.spawn(cgroup, &cmd.path, &cmd.argv) {
        Ok(child) => supervise(k, cmd, child, setup),
        Err(e) => {
            log_bind!(
                Debug,
                "Cannot start the command inside {} (clone3 with CLONE_INTO_CGROUP: {}), moving into it and executing it in place",
                cgroup.path().display(),
                sys::strerror(&e)
            );
            if let Err(e) = k.enter(cgroup) {
                let (code, msg) = (e.exit_status(), bind_msg(policy, &e));
                undo(k, setup);
                fail(policy, code, &msg)?;
                return Err(exec_unlogged(k, cmd, Setup::unbound()));
            }
            Err(exec_unlogged(k, cmd, setup))
        }
    }
}

/// The launcher as the command's parent: waits (passing signals on), removes the cgroup made
/// for the command once it is empty, and returns the command's exit status, or dies of the
/// signal that killed the command. A command that could not be executed is 203/EXEC, with what
/// this run set up undone, as when executed in place.
fn supervise<K: Kernel>(
    k: &mut K,
    cmd: &Command,
    child: K::Child,
    setup: Setup<K>,
) -> Result<i32, Fatal> {
    // The status to exit with, and the signal to die of first (128 + it, as a shell reports
    // it, only if dying of it failed).
    let (code, signal) = match k.wait(child) {
        Ok(End::ExecFailed(errno)) => {
            let err = std::io::Error::from_raw_os_error(errno);
            return Err(exec_failed(k, cmd, &err, setup));
        }
        Ok(End::Exited(code)) => (code, None),
        Ok(End::Signaled(signal)) => (128 + signal, Some(signal)),
        Err(e) => {
            log_at!(Err, "Failed to wait for the command: {}", sys::strerror(&e));
            (exit::FAILURE, None)
        }
    };
    // The program goes with the directory. Processes the command left running keep it (and
    // their binding): then the removal fails, and a later run removes it once it is empty.
    if let Some(cgroup) = setup.cgroup.filter(|c| c.created()) {
        k.remove_created(cgroup);
    }
    if let Some(signal) = signal {
        k.die_of(signal);
    }
    Ok(code)
}

/// A binding that is in place: the program attached and what it binds to.
pub struct Bound<P> {
    pub interface: String,
    /// `None` when this run only entered a cgroup bound by the unit's attach step (legacy hosts)
    /// and did not look the interface up.
    pub ifindex: Option<u32>,
    /// The program this run attached, held so a later failure can detach exactly it (its
    /// descriptor is close-on-exec, like the cgroup's); `None` when it attached none.
    prog: Option<P>,
}

/// What setting up the binding left behind, for the command's start and for undoing it.
pub struct Setup<K: Kernel> {
    /// The cgroup chosen for the command; `None` when the binding stopped before choosing one.
    cgroup: Option<K::Cgroup>,
    /// `None`: running unbound (fail open, no interface configured, native support).
    bound: Option<Bound<K::Prog>>,
}

impl<K: Kernel> Setup<K> {
    fn unbound() -> Setup<K> {
        Setup {
            cgroup: None,
            bound: None,
        }
    }
}

fn send_status<P>(what: &str, bound: Option<&Bound<P>>) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let status = match bound {
        Some(Bound {
            interface,
            ifindex: Some(ifindex),
            ..
        }) => format!("Sockets of {what} bound to {interface} (ifindex {ifindex})"),
        Some(b) => format!("Sockets of {what} bound to {}", b.interface),
        None => format!("Sockets of {what} not bound to an interface"),
    };
    if let Err(e) = process::notify_status(&socket, &status) {
        log_at!(
            Debug,
            "Failed to send STATUS= to $NOTIFY_SOCKET, ignoring: {e}"
        );
    }
}

/// Logs a failure of the binding and either stops (fail closed) or goes on unbound (`Ok`), as
/// v260 does, which logs the error and starts the unit anyway.
fn fail(policy: &Policy, code: i32, msg: &str) -> Result<(), Fatal> {
    log_bind!(Err, "{msg}");
    if policy.fail_closed {
        Err(Fatal(code))
    } else {
        Ok(())
    }
}

/// Resolves the interface, waiting up to the policy's time for it to appear.
/// `Ok(None)`: it does not exist (v260's message was logged at the right level).
fn resolve<K: Kernel>(k: &mut K, interface: &str, policy: &Policy) -> Result<Option<u32>, Fatal> {
    // `None`: an infinite wait (WaitSec=infinity); the start job's timeout still applies.
    let deadline = k.now().checked_add(policy.wait);
    let mut waited = false;
    loop {
        match k.resolve(interface) {
            Ok(Some(ifindex)) => {
                if waited {
                    log_bind!(Info, "Network interface '{interface}' appeared");
                }
                return Ok(Some(ifindex));
            }
            Ok(None) if deadline.map_or(true, |d| k.now() < d) => {
                if !waited {
                    log_bind!(
                        Info,
                        "Waiting up to {:.1}s for network interface '{interface}'",
                        policy.wait.as_secs_f64()
                    );
                    waited = true;
                }
                k.pause(Duration::from_millis(100));
            }
            Ok(None) => return missing(interface, policy).map(|()| None),
            Err(e) => {
                let msg = format!(
                    "Failed to resolve network interface '{interface}'{}: {}",
                    if policy.fail_closed { "" } else { ", ignoring" },
                    sys::strerror(&e)
                );
                return fail(policy, exit::NETWORK, &msg).map(|()| None);
            }
        }
    }
}

/// The interface does not exist: v260's warning and go on unbound (`Ok`), or refuse (fail
/// closed).
fn missing(interface: &str, policy: &Policy) -> Result<(), Fatal> {
    if policy.fail_closed {
        log_bind!(
            Err,
            "Couldn't find index of network interface '{interface}': No such device"
        );
        Err(Fatal(exit::NETWORK))
    } else {
        // v260's exact text (src/core/bpf-bind-iface.c), the unit's name first in unit and
        // attach mode as its log_unit_warning_errno() puts it.
        log_bind!(
            Warning,
            "Couldn't find index of network interface '{interface}', ignoring: No such device"
        );
        Ok(())
    }
}

/// After attaching: whether `interface` still names `ifindex`. An interface deleted (or
/// re-created under a new index) between resolution and attach leaves a program binding to a
/// dead ifindex; then `prog` is detached from `cgroup` again and `Ok(false)` returned, so the
/// start fails like one with a missing interface and nothing stays attached. A failed lookup
/// keeps the binding (the name resolved a moment ago).
pub fn recheck_after_attach<K: Kernel>(
    k: &mut K,
    cgroup: &K::Cgroup,
    prog: &K::Prog,
    interface: &str,
    ifindex: u32,
) -> Result<bool, sys::Error> {
    match k.resolve_again(interface, ifindex) {
        Ok(Some(i)) if i == ifindex => Ok(true),
        Err(_) => Ok(true),
        Ok(_) => k.detach(cgroup, prog).map(|()| false).map_err(|e| {
            sys::Error::new(
                sys::Category::Bpf,
                "detach BPF program from",
                cgroup.path().display().to_string(),
                e,
            )
        }),
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
        log_bind!(
            Notice,
            "Resolving the interface in this unit's own network namespace (systemd v260 would resolve it in PID 1's)"
        );
    }
}

/// Binds the cgroup `which` names, that of `unit` (the one this process runs in, or a slice),
/// to the unit's `BindNetworkInterface=`.
fn bind_unit<K: Kernel>(
    k: &mut K,
    unit: &str,
    eval: &BindEval,
    policy: &Policy,
    which: Which<'_>,
) -> Result<Setup<K>, Fatal> {
    let Some(interface) = eval.interface.value.as_deref() else {
        if let (Some(src), true) = (&eval.rejected, policy.fail_closed) {
            // The unit asked for a binding, but every value was invalid (warned about above):
            // fail-closed means not starting unbound.
            log_bind!(
                Err,
                "No valid BindNetworkInterface= (the last one, {}:{}, was ignored), refusing to start unbound",
                src.file.display(),
                src.line
            );
            return Err(Fatal(exit::NETWORK));
        }
        log_bind!(
            Notice,
            "No BindNetworkInterface=, not binding the unit's sockets"
        );
        return Ok(Setup::unbound());
    };
    if let Some(version) = native_support() {
        let level = if first_native_notice(unit) {
            Level::Notice
        } else {
            Level::Debug
        };
        log::log_bind(
            level,
            &format!("systemd {version} binds this unit natively (BindNetworkInterface=); bindif-launch can be removed from it"),
        );
        return Ok(Setup::unbound());
    }
    bind_in_unit(k, unit, interface, policy, which)
}

/// [`bind_unit`] once there is an interface to bind to: a wrapped command on a legacy host
/// enters what the attach step prepared; anything else binds the unit's cgroup itself.
fn bind_in_unit<K: Kernel>(
    k: &mut K,
    unit: &str,
    interface: &str,
    policy: &Policy,
    which: Which<'_>,
) -> Result<Setup<K>, Fatal> {
    if matches!(
        which,
        Which::Unit {
            attach_only: false,
            prepared: true,
            ..
        }
    ) {
        if let Some(entered) = k.enter_prepared(unit, policy.wait) {
            return enter_prepared(k, interface, policy, entered);
        }
    }
    netns_notice();
    bind(k, interface, policy, which)
}

/// A wrapped command on a legacy host: the unit's attach step (a `+` command) mounted, created
/// and bound the mirror cgroup; this run has entered it, or could not (`entered`). Nothing more
/// is done inside the unit's sandbox but the `--verify` the unit asked for, so no syscall filter
/// or dropped capability of the unit can make the start fail where it would not without us.
fn enter_prepared<K: Kernel>(
    k: &mut K,
    interface: &str,
    policy: &Policy,
    entered: Result<K::Cgroup, sys::Error>,
) -> Result<Setup<K>, Fatal> {
    let cgroup = match entered {
        Ok(c) => c,
        Err(e) => {
            fail(policy, e.exit_status(), &bind_msg(policy, &e))?;
            return Ok(Setup::unbound());
        }
    };
    timing::mark("cgroup");
    log_bind!(
        Debug,
        "Entered {}, bound to '{interface}' by the unit's attach step",
        cgroup.path().display()
    );
    let mut ifindex = None;
    if policy.verify == Verify::Required {
        let Some(i) = resolve(k, interface, policy)? else {
            return Ok(Setup {
                cgroup: Some(cgroup),
                bound: None,
            });
        };
        verify(k, policy, interface, i)?;
        timing::mark("verify");
        ifindex = Some(i);
    }
    Ok(Setup {
        cgroup: Some(cgroup),
        bound: Some(Bound {
            interface: interface.to_string(),
            ifindex,
            prog: None,
        }),
    })
}

fn bind_msg(policy: &Policy, e: &dyn std::fmt::Display) -> String {
    if policy.fail_closed {
        e.to_string()
    } else {
        format!("{e}, ignoring")
    }
}

/// Resolve and load (or take the shared program whose ifindex carries the name now: both in
/// one), choose the cgroup, attach, verify. The program is loaded before any cgroup is opened
/// or created, so a caller without CAP_BPF is told so (245/BPF) and nothing changes.
fn bind<K: Kernel>(
    k: &mut K,
    interface: &str,
    policy: &Policy,
    which: Which<'_>,
) -> Result<Setup<K>, Fatal> {
    let origin = match which {
        Which::Unit { .. } | Which::Slice { .. } => Origin::Key,
        Which::AdHoc { .. } => Origin::Explicit,
    };
    let (ifindex, mut prog) = match k.shared(interface, origin) {
        Some(found) => {
            timing::mark("pinned program for the name");
            found
        }
        None => {
            let Some(ifindex) = resolve(k, interface, policy)? else {
                return Ok(Setup::unbound());
            };
            timing::mark("interface resolve");
            match k.load(interface, ifindex, origin) {
                Ok(p) => {
                    timing::mark("program load");
                    (ifindex, p)
                }
                Err(e) => {
                    fail(policy, e.exit_status(), &bind_msg(policy, &e))?;
                    return Ok(Setup::unbound());
                }
            }
        }
    };
    let cgroup = match k.target(which) {
        Ok(t) => t,
        Err(e) => {
            fail(policy, e.exit_status(), &bind_msg(policy, &e))?;
            return Ok(Setup::unbound());
        }
    };
    timing::mark("cgroup");
    match attach(k, interface, ifindex, policy, &mut prog, &cgroup, which) {
        Ok(attached) => Ok(Setup {
            bound: attached.then(|| Bound {
                interface: interface.to_string(),
                ifindex: Some(ifindex),
                prog: Some(prog),
            }),
            cgroup: Some(cgroup),
        }),
        Err(fatal) => {
            // Refusing to start: the cgroup this run made for the command goes again.
            if cgroup.created() {
                k.remove_created(cgroup);
            }
            Err(fatal)
        }
    }
}

/// The rest of [`bind`] once the cgroup is chosen: attach, re-check, verify. `Ok(false)`: going
/// on unbound (fail open) with nothing of ours attached by this run.
///
/// A start that fails later takes its program off the cgroup again, also the shared copy it
/// found in place there (`sys::pinned`): before the cache such a start had replaced the copy of
/// the start before it, so a failed start always left no program of ours, and it still does.
fn attach<K: Kernel>(
    k: &mut K,
    interface: &str,
    ifindex: u32,
    policy: &Policy,
    prog: &mut K::Prog,
    cgroup: &K::Cgroup,
    which: Which<'_>,
) -> Result<bool, Fatal> {
    let checked = match policy.verify {
        Verify::Required => true,
        // Only a socket of a process in the cgroup tells anything about it.
        Verify::Check => cgroup.entered(),
        Verify::Off => false,
    };
    // Ad hoc runs refuse a binding an ancestor would override before attaching anything; for
    // units and slices an ancestor's binding is only worth a notice, and when the probe below
    // runs, its socket says whether any ancestor overrides ours: the ancestors (one query per
    // level up to the root, on every start) are read only when it does, or when no probe socket
    // could be made.
    let eager = matches!(which, Which::AdHoc { .. }) || !checked;
    let mut effective = None;
    if eager {
        effective = Some(check_nesting(k, cgroup, interface, ifindex, policy, which)?);
    }
    match k.attach(cgroup, prog) {
        Ok(outcome) => {
            if let Some(e) = outcome.cleanup_error {
                log_bind!(Warning, "{e}, ignoring");
            }
        }
        Err(e) => {
            fail(policy, e.exit_status(), &bind_msg(policy, &e))?;
            return Ok(false);
        }
    }
    let prog = &*prog;
    timing::mark("attach");
    match recheck_after_attach(k, cgroup, prog, interface, ifindex) {
        Ok(true) => {}
        Ok(false) => {
            missing(interface, policy)?;
            return Ok(false);
        }
        Err(e) => {
            fail(policy, e.exit_status(), &bind_msg(policy, &e))?;
            return Ok(false);
        }
    }
    timing::mark("interface re-check");
    log_bind!(
        Debug,
        "Attached program binding to '{interface}' (ifindex {ifindex}) on {}",
        cgroup.path().display()
    );
    if checked {
        // The start fails on any error from here: a program left behind would bind the unit's
        // next start before it attaches its own, and `status` would show a binding that is
        // not running.
        let verified = probe(k, policy).and_then(|got| {
            let Some(got) = got else {
                // No probe socket (the unit's RestrictAddressFamilies=), so nothing said whether
                // an ancestor overrides the binding: read them for the notice, as without it.
                if effective.is_none() {
                    check_nesting(k, cgroup, interface, ifindex, policy, which)?;
                }
                return Ok(());
            };
            let effective = match effective {
                Some(e) => e,
                None if got == Some(ifindex) => ifindex,
                None => check_nesting(k, cgroup, interface, ifindex, policy, which)?,
            };
            let expected = if effective == ifindex {
                format!("'{interface}' (ifindex {ifindex})")
            } else {
                format!("the winning ancestor's ifindex {effective}")
            };
            judge(k, policy, &expected, effective, got)
        });
        if let Err(fatal) = verified {
            detach_again(k, cgroup, prog);
            return Err(fatal);
        }
        timing::mark("verify");
    }
    Ok(true)
}

/// A binding program on an ancestor cgroup runs after ours and has the last word. Returns the
/// ifindex new sockets of the cgroup will carry (what `--verify` expects), ours unless an
/// ancestor's wins.
///
/// - Units and slices: the ancestors are slices, and a slice's binding winning over the
///   units below it is systemd v262's rule (the outermost bound slice wins; each keeps its own
///   program, and PID 1 logs nothing). So this is a notice, never a failure, and our program
///   is attached all the same: it binds again once the slice loses its key.
/// - Ad hoc runs: binding to another interface here would be silently ineffective
///   (`bindif-launch --interface v0 -- bindif-launch --interface v2 -- cmd` keeps v0, as does
///   an ad hoc run inside a bound unit). Refuse (fail closed) or warn (fail open), before
///   attaching: what `--verify` would find, for a few queries.
///
/// When the ancestors cannot be read (no CAP_SYS_ADMIN to open their programs), nothing is
/// known and nothing is said.
fn check_nesting<K: Kernel>(
    k: &mut K,
    cgroup: &K::Cgroup,
    interface: &str,
    ifindex: u32,
    policy: &Policy,
    which: Which<'_>,
) -> Result<u32, Fatal> {
    let nested = match k.ancestor_bindings(cgroup, ifindex) {
        Ok(n) => n,
        Err(e) => {
            log_bind!(
                Debug,
                "Failed to query the programs of the ancestors of {}, ignoring: {}",
                cgroup.path().display(),
                sys::strerror(&e)
            );
            return Ok(ifindex);
        }
    };
    // The outermost ancestor's last program runs last and wins.
    let Some(winner) = nested.last().filter(|n| n.ifindex != Some(ifindex)) else {
        return Ok(ifindex);
    };
    let other = winner
        .ifindex
        .map_or("another interface".to_string(), |i| format!("ifindex {i}"));
    let whose = if winner.native {
        "systemd's BindNetworkInterface= on "
    } else {
        ""
    };
    if !matches!(which, Which::AdHoc { .. }) {
        log_bind!(
            Notice,
            "{whose}ancestor cgroup {} binds sockets to {other} and its program runs last, so sockets created below it use that interface rather than '{interface}' (ifindex {ifindex}), as with systemd v262, where the outermost bound slice wins",
            winner.cgroup.display()
        );
        return Ok(winner.ifindex.unwrap_or(ifindex));
    }
    let msg = format!(
        "Binding to '{interface}' (ifindex {ifindex}) would have no effect: {whose}ancestor cgroup {} binds sockets to {other}, and its program runs last",
        winner.cgroup.display()
    );
    if policy.fail_closed {
        log_bind!(Err, "{msg}");
        Err(Fatal(exit::BPF))
    } else {
        log_bind!(Warning, "{msg}, ignoring");
        Ok(ifindex)
    }
}

/// The probe: a socket created now, in our cgroup, must carry the interface (see [`Verify`]).
/// A mismatch names its likely cause. Fatal when verification was asked for (`Required`:
/// not running unverified) or the start is fail-closed; otherwise an error, and the start goes
/// on with the binding attached (it does no harm, and `status` shows it).
fn verify<K: Kernel>(
    k: &mut K,
    policy: &Policy,
    expected: &str,
    ifindex: u32,
) -> Result<(), Fatal> {
    match probe(k, policy)? {
        Some(got) => judge(k, policy, expected, ifindex, got),
        None => Ok(()),
    }
}

/// The interface a socket created now, in our cgroup, is bound to; `Ok(None)` when no probe
/// socket can be made and verification was not required (the unit's RestrictAddressFamilies=
/// or syscall filter: nothing to check with).
fn probe<K: Kernel>(k: &mut K, policy: &Policy) -> Result<Option<Option<u32>>, Fatal> {
    match k.probe() {
        Ok(got) => Ok(Some(got)),
        Err(e) if policy.verify == Verify::Required => {
            log_bind!(Err, "Failed to create probe socket: {}", sys::strerror(&e));
            Err(Fatal(exit::BPF))
        }
        Err(e) => {
            log_bind!(
                Debug,
                "Failed to create probe socket, not verifying: {}",
                sys::strerror(&e)
            );
            Ok(None)
        }
    }
}

/// [`verify`]'s verdict on the probe's answer `got`.
fn judge<K: Kernel>(
    k: &mut K,
    policy: &Policy,
    expected: &str,
    ifindex: u32,
    got: Option<u32>,
) -> Result<(), Fatal> {
    if got == Some(ifindex) {
        return Ok(());
    }
    let fatal = policy.verify == Verify::Required || policy.fail_closed;
    let cause = match got {
        None => {
            let why = k.unbound_causes();
            if why.is_empty() {
                "the kernel ran no binding program for it (cgroup2 socket matching off: see bindif-launch status)".to_string()
            } else {
                why.join("; ")
            }
        }
        Some(_) => "another program binds new sockets after ours: a foreign program on this cgroup or an ancestor's (bindif-launch identify -v names it)".to_string(),
    };
    let msg = format!(
        "Verification failed: a new socket is bound to {}, expected {expected}: {cause}",
        got.map_or("no interface".to_string(), |i| format!("ifindex {i}"))
    );
    if fatal {
        log_bind!(Err, "{msg}");
        Err(Fatal(exit::BPF))
    } else {
        log_bind!(Err, "{msg}, ignoring");
        Ok(())
    }
}
