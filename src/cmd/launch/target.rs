// SPDX-License-Identifier: LGPL-2.1-or-later
//! Which cgroup gets the program, per mode and cgroup layout.
//!
//! - unit and attach modes: the unit's own cgroup (the nearest ancestor of ours named after
//!   the unit), opened read-only so `ProtectControlGroups=yes` keeps working;
//! - ad hoc mode: always a new child cgroup of ours, `bindif-launch-PID`, that only the
//!   command enters, wherever the launcher runs: from a login shell, a script inside a service,
//!   `ExecStartPre=`, or as the only process of a `systemd-run` unit. Binding the unit's own
//!   cgroup when the launcher happens to be its only process would also bind whatever the
//!   unit runs later (`ExecStart=` after `ExecStartPre=`), so the caller and its unit stay
//!   unbound. The command is born inside it (`clone3` with `CLONE_INTO_CGROUP`) and the
//!   launcher, its parent, removes it after the command; where the launcher moves in and
//!   executes the command in place instead, systemd removes the child with the unit's cgroup,
//!   or a later run does. (cgroup2's "no internal processes" rule cannot bite: a non-root
//!   cgroup we are in has no controllers enabled for its children, so a new child of it can
//!   hold us);
//! - legacy hosts (no cgroup2 systemd uses): a private cgroup2 mount with a mirror of the
//!   unit's path. The unit's attach step (a `+` command, outside the unit's sandbox) mounts it,
//!   creates the mirror and attaches; each wrapped command only moves itself in, inside the
//!   unit's syscall filter and capabilities, so it makes no call they may forbid (mount, bpf).
//!   A command that may not move itself (`User=`, `DynamicUser=`: the move needs write access to
//!   the root-owned hierarchy root; `ProtectSystem=strict`: the mirror is read-only to it) asks
//!   the enter service, root outside the unit, through a FIFO and waits (see `launch::enter`);
//!   the ad hoc mode does all of it itself, in a new child `bindif-launch-PID[-N]` of the mirror
//!   of its own path, as on cgroup2 (a child found in place may be another PID namespace's run's,
//!   still bound);
//! - a cgroup2 hierarchy hidden from this mount namespace (`ip netns exec` remounts /sys)
//!   while `/proc/self/cgroup` places us in it: opened through a mount attached nowhere and
//!   used as it is, so the command stays in its own cgroup (a mirror of the `name=systemd`
//!   path would move it out).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::enter::ENTER_FIFO;
use crate::cgroup_path::{self, Layout, ProcCgroup, PRIVATE_CGROUP2_MOUNT};
use crate::log::escape_bytes;
use crate::log_bind;
use crate::sys::{self, cgroup, Category};

/// A cgroup directory to attach to, opened read-only.
pub struct Target {
    path: PathBuf,
    fd: OwnedFd,
    /// This run created the cgroup (ad hoc mode's `bindif-launch-PID`).
    created: bool,
    /// This process is in the cgroup (it moved in, or runs in the unit's own); `false` for an
    /// ad hoc cgroup created for the command to be started in (see [`for_adhoc`]).
    entered: bool,
}

impl Target {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, the directory's descriptor and whether this run created it, for the caller to
    /// keep (rather than duplicate the descriptor: two calls on every start).
    pub fn into_parts(self) -> (PathBuf, OwnedFd, bool) {
        (self.path, self.fd, self.created)
    }

    /// Whether this run created the cgroup (then [`remove_created`] undoes it).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether this process is in the cgroup (see the field).
    pub fn entered(&self) -> bool {
        self.entered
    }

    fn open(path: PathBuf) -> Result<Target, sys::Error> {
        let fd =
            cgroup::open_cgroup_dir(&path).map_err(|e| cg_err("open cgroup", &shown(&path), e))?;
        Ok(Target {
            path,
            fd,
            created: false,
            entered: true,
        })
    }

    /// [`Target::open`] of a cgroup this process is not in (a slice's, bound by its helper; a
    /// legacy host's mirror, prepared by the attach step for the unit's wrapped commands): a
    /// probe socket made here would tell nothing about it.
    fn open_outside(path: PathBuf) -> Result<Target, sys::Error> {
        Target::open(path).map(|t| Target {
            entered: false,
            ..t
        })
    }

    /// [`Target::open`] of a cgroup this run created (and entered, if `entered`); undone if it
    /// cannot be opened.
    fn open_created(path: PathBuf, entered: bool) -> Result<Target, sys::Error> {
        match Target::open(path.clone()) {
            Ok(t) => Ok(Target {
                created: true,
                entered,
                ..t
            }),
            Err(e) => {
                remove_created(&path, entered);
                Err(e)
            }
        }
    }
}

fn cg_err(op: &str, object: &str, e: io::Error) -> sys::Error {
    sys::Error::new(Category::Cgroup, op, object, e)
}

/// A cgroup path for a message: its bytes as they are (a `Display` of a `Path` would replace
/// bytes that are not UTF-8), control characters and such bytes written as `\xNN`.
fn shown(path: impl AsRef<OsStr>) -> String {
    escape_bytes(path.as_ref().as_bytes())
}

/// The host's cgroup layout, detected once per process (two `statfs`): the attach step asks
/// it twice, and nothing this process does changes where the hierarchies are mounted.
fn layout() -> Layout {
    static LAYOUT: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();
    LAYOUT
        .get_or_init(|| cgroup::detect(Path::new("/")))
        .clone()
}

fn where_we_are() -> Result<(Layout, ProcCgroup), sys::Error> {
    let root = Path::new("/");
    let layout = layout();
    let pc =
        cgroup::read_proc_self_cgroup(root).map_err(|e| cg_err("read", "/proc/self/cgroup", e))?;
    Ok((layout, pc))
}

fn own_path(pc: &ProcCgroup, layout: &Layout) -> Result<OsString, sys::Error> {
    cgroup_path::own_cgroup_path(pc, layout)
        .map_err(|e| cg_err("determine own cgroup from", "/proc/self/cgroup", e.into()))
}

/// Our cgroup path `own` (from `/proc/self/cgroup`, relative to our cgroup namespace) as a path
/// below the cgroup2 mount at `mount`, whose root `/proc/self/mountinfo` shows relative to the
/// same namespace. A mount made outside our cgroup namespace (root `/..`: `unshare -C` without
/// a new cgroup2 mount) cannot be mapped: joining would name a cgroup outside our own, so
/// refuse rather than guess.
fn below_mount(mount: &Path, own: &OsStr) -> Result<OsString, sys::Error> {
    // The usual case, known from two stats without reading mountinfo.
    let root = if cgroup::mount_shows_whole_hierarchy(mount) {
        "/".to_string()
    } else {
        mount_root_from_mountinfo(mount)
    };
    cgroup_path::path_below_mount_root(own, &root).map_err(|e| {
        cg_err(
            "locate own cgroup below",
            &shown(mount),
            e.into(),
        )
        .with_hint("/proc/self/cgroup is relative to this process's cgroup namespace; mount cgroup2 inside that namespace, or run outside it")
    })
}

/// The root of the cgroup2 mount at `mount`, as `/proc/self/mountinfo` shows it.
fn mount_root_from_mountinfo(mount: &Path) -> String {
    // One read(2) (`read_to_string` reads a /proc file in doubling chunks, from 32 bytes).
    let mountinfo = sys::process::read_proc(Path::new("/proc/self/mountinfo")).unwrap_or_default();
    // Not listed (no mountinfo, or a path that is not the mount point itself): as before, the
    // mount's root is taken to be the hierarchy's.
    cgroup_path::mount_root(&mountinfo, mount).unwrap_or_else(|| "/".into())
}

/// The unit's cgroup path given ours. systemd names a unit's cgroup after the unit's id, which
/// is what `%n` expands to; when no ancestor carries that name the launcher was started
/// outside the unit (from a login shell, say), and binding the cgroup it is in would bind
/// someone else's processes: refuse.
fn unit_path(own: &OsStr, unit: &str) -> Result<OsString, sys::Error> {
    crate::host::unit_cgroup_os(own, unit)
        .map(OsStr::to_owned)
        .ok_or_else(|| {
            cg_err(
                "find the cgroup of",
                unit,
                io::Error::from_raw_os_error(libc::ESRCH),
            )
            .with_hint(format!(
                "running in {}, not inside the unit; use --interface IFACE -- COMMAND outside units",
                shown(own)
            ))
        })
}

/// Where this process's cgroup is, before anything is mounted or created.
enum Place {
    /// In the cgroup2 hierarchy mounted at `mount`, at `own` below it.
    Cgroup2 { mount: PathBuf, own: OsString },
    /// No cgroup2 mount is visible, but `/proc/self/cgroup` places us below the root of the
    /// cgroup2 hierarchy (`own`): the host uses cgroup2 and only this mount namespace hides
    /// it (`ip netns exec` remounts /sys, a container without /sys/fs/cgroup). Mounted
    /// anew, that is the host's own hierarchy, to be used as it is.
    Hidden { own: OsString },
    /// A legacy host: `own` is the `name=systemd` path, mirrored in a private cgroup2.
    Legacy { own: OsString },
}

fn place() -> Result<Place, sys::Error> {
    let (layout, pc) = where_we_are()?;
    if let Some(mount) = layout.cgroup2_mount() {
        let own = below_mount(mount, &own_path(&pc, &layout)?)?;
        return Ok(Place::Cgroup2 {
            mount: mount.to_path_buf(),
            own,
        });
    }
    match pc.unified.as_deref().map(cgroup_path::normalize) {
        Some(Ok(own)) if !cgroup_path::is_root(&own) => Ok(Place::Hidden { own }),
        _ => Ok(Place::Legacy {
            own: own_path(&pc, &layout)?,
        }),
    }
}

/// [`Place::Hidden`]: the hierarchy made reachable, and our path in it. Preferably as a
/// mount attached nowhere, so nothing is left in the file system (`ip netns exec` shares
/// /run with the host: a mount point made there would stay behind); where that is not
/// available, as the private mount legacy hosts use.
fn mount_hidden(own: &OsStr) -> Result<(PathBuf, OsString), sys::Error> {
    let mount = match cgroup::open_detached_cgroup2(&hierarchy_flags()) {
        // Kept open for the rest of this process's life: the cgroup paths below it must stay
        // valid until the command is executed (close-on-exec closes it then) and to undo a
        // failed start.
        Ok(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.into_raw_fd())),
        Err(e) => {
            log_bind!(
                Debug,
                "Failed to open a detached cgroup2 mount, mounting one at {PRIVATE_CGROUP2_MOUNT} instead: {}",
                sys::strerror(&e)
            );
            mount_private()?.to_path_buf()
        }
    };
    let own = below_mount(&mount, own)?;
    Ok((mount, own))
}

/// The cgroup of `unit`, which this process runs in.
pub fn for_unit(unit: &str, attach_only: bool, prepared: bool) -> Result<Target, sys::Error> {
    match place()? {
        Place::Cgroup2 { mount, own } => open_non_root(&mount, &unit_path(&own, unit)?),
        Place::Hidden { own } => {
            unit_path(&own, unit)?;
            if attach_only {
                return Err(attach_needs_cgroup2(unit));
            }
            let (mount, own) = mount_hidden(&own)?;
            open_non_root(&mount, &unit_path(&own, unit)?)
        }
        Place::Legacy { own } => {
            let path = unit_path(&own, unit)?;
            if attach_only {
                return prepare_legacy_mirror(&path);
            }
            if !prepared {
                // The launcher form written by hand (`ExecStart=/usr/lib/bindif-launch %n`), no
                // attach step: it mounts, creates and enters the mirror itself, as it always
                // has (the unit runs it with its own privileges and syscall filter).
                return enter_legacy_mirror(&path);
            }
            // A wrapped command only enters what the attach step prepared (see
            // `enter_prepared`); reaching here means the caller skipped that.
            Err(mirror_not_prepared(unit, &path))
        }
    }
}

fn attach_needs_cgroup2(unit: &str) -> sys::Error {
    cg_err(
        "attach to the cgroup of",
        unit,
        io::Error::from_raw_os_error(libc::EOPNOTSUPP),
    )
    .with_hint(
        "this host has no cgroup2 hierarchy that systemd uses, so --attach cannot reach the unit's later processes; use ExecStart=/usr/lib/bindif-launch %n instead",
    )
}

fn mirror_not_prepared(unit: &str, path: &OsStr) -> sys::Error {
    cg_err(
        "enter mirror cgroup",
        &format!("{PRIVATE_CGROUP2_MOUNT}{}", shown(path)),
        io::Error::from_raw_os_error(libc::ENOENT),
    )
    .with_hint(format!(
        "the attach step (ExecStartPre=+/usr/lib/bindif-launch --attach {unit}) prepares it on legacy cgroup hosts; did it run, and bind?"
    ))
}

/// Whether this is a legacy host as this process sees it (its cgroup is in no cgroup2 that
/// systemd uses). Unknown counts as not.
pub fn on_legacy_host() -> bool {
    matches!(place(), Ok(Place::Legacy { .. }))
}

/// Whether this may be a legacy host, from the mounts alone (two `statfs`): `false` when a
/// cgroup2 hierarchy is mounted where systemd mounts it, and then [`on_legacy_host`] is false
/// too, without reading /proc. The attach step asks this first on every start.
pub fn may_be_legacy_host() -> bool {
    layout().cgroup2_mount().is_none()
}

/// The cgroup a wrapped command of `unit` enters on a legacy host: the mirror the unit's
/// attach step prepared, entered without mounting, creating or loading anything, so the command
/// runs inside the unit's own syscall filter and capabilities (`~@mount`, no CAP_BPF) unharmed.
/// `Ok(None)`: not a legacy host, the ordinary binding applies.
pub fn enter_prepared(unit: &str, wait: Duration) -> Result<Option<Target>, sys::Error> {
    let Place::Legacy { own } = place()? else {
        return Ok(None);
    };
    let path = unit_path(&own, unit)?;
    let mount = Path::new(PRIVATE_CGROUP2_MOUNT);
    if cgroup::statfs_magic(mount).ok() != Some(cgroup_path::CGROUP2_SUPER_MAGIC) {
        return Err(mirror_not_prepared(unit, &path));
    }
    let rel = below_mount(mount, &path)?;
    let dir = cgroup_path::join_non_root(mount, &rel)
        .map_err(|e| cg_err("enter mirror cgroup", &shown(&rel), e.into()))?;
    match cgroup::enter_prepared(&dir) {
        Ok(()) => Target::open(dir).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(mirror_not_prepared(unit, &path)),
        // Another user (EACCES: the common ancestor, the hierarchy's root, is root's), a
        // read-only /run (EROFS: ProtectSystem=strict) or a refusal of the same kind (EPERM):
        // root outside the unit moves us instead.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EROFS | libc::EPERM)
            ) =>
        {
            log_bind!(
                Debug,
                "Failed to enter {} directly ({}), asking the enter service through {ENTER_FIFO}",
                shown(&dir),
                sys::strerror(&e)
            );
            moved_by_enter_service(&path, &dir, &e, request_wait(wait))?;
            Target::open(dir).map(Some)
        }
        Err(e) => Err(cg_err("enter mirror cgroup", &shown(&dir), e)),
    }
}

/// How long a wrapped command waits for the enter service: a few seconds (systemd starts the
/// service on the first request), or the unit's `X-BindNetworkInterface-WaitSec=` if longer.
fn request_wait(wait: Duration) -> Duration {
    wait.max(ENTER_WAIT)
}

/// The least a wrapped command waits for the enter service to move it.
const ENTER_WAIT: Duration = Duration::from_secs(5);

/// Asks the enter service (`bindif-launch-enter.socket`) to move this process into the mirror
/// `dir` of the unit cgroup `path`, and waits until `/proc/self/cgroup` shows it there. It opens,
/// writes, reads and sleeps (the file calls it already makes to find its cgroup, plus `write`
/// and `nanosleep`; no socket, mount or bpf call): the unit's syscall filter and capabilities
/// stay as they are, and the service, not we, decides where the process goes (see
/// `launch::enter`).
fn moved_by_enter_service(
    path: &OsStr,
    dir: &Path,
    direct: &io::Error,
    wait: Duration,
) -> Result<(), sys::Error> {
    let hint = format!(
        "entering {} directly failed ({}); bindif-launch-enter.socket (ListenFIFO=/run/bindif-launch/enter) and bindif-launch-enter.service move the processes of units that may not move themselves on legacy cgroup hosts; is the socket running, and does the unit see /run/bindif-launch?",
        shown(dir),
        sys::strerror(direct)
    );
    let request_failed = |e: io::Error| {
        cg_err("ask the enter service through", ENTER_FIFO, e).with_hint(hint.clone())
    };
    let deadline = Instant::now().checked_add(wait);
    let expired = || deadline.is_some_and(|d| Instant::now() >= d);
    // A full pipe (EAGAIN: the service is behind) is retried until the deadline.
    loop {
        match cgroup::request_move(Path::new(ENTER_FIFO), std::process::id()) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !expired() => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(request_failed(e)),
        }
    }
    let mut pause = Duration::from_millis(1);
    loop {
        let pc = cgroup::read_proc_self_cgroup(Path::new("/"))
            .map_err(|e| cg_err("read", "/proc/self/cgroup", e))?;
        if pc.unified.as_deref() == Some(path) {
            return Ok(());
        }
        if expired() {
            return Err(cg_err(
                "enter mirror cgroup",
                &shown(dir),
                io::Error::from_raw_os_error(libc::ETIMEDOUT),
            )
            .with_hint(format!(
                "asked the enter service through {ENTER_FIFO}, and it did not move this process within {}s; {hint}",
                wait.as_secs()
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// The attach step on a legacy host could not bind (the interface is missing, fail-open): keeps
/// the unit's mirror, prepared as usual, with no program of ours on it. The unit's wrapped
/// commands enter it and run unbound, as on v262, and the daemon-reload that finds the
/// interface binds them there (`generator::reconcile`), exactly as the unit's own cgroup is
/// kept and re-resolved on other hosts. Best effort; nothing happens on other hosts.
pub fn unbind_legacy_mirror(unit: &str) {
    let Ok(Place::Legacy { own }) = place() else {
        return;
    };
    let Ok(path) = unit_path(&own, unit) else {
        return;
    };
    let target = match prepare_legacy_mirror(&path) {
        Ok(t) => t,
        Err(e) => {
            log_bind!(Debug, "{e}, ignoring");
            return;
        }
    };
    if let Err(e) = crate::sys::bpf::detach_ours(target.fd(), None) {
        log_bind!(
            Warning,
            "Failed to detach BPF programs from {}, ignoring: {} (the unit's commands may run with its earlier binding)",
            shown(target.path()),
            sys::strerror(&e)
        );
    }
}

/// `--attach-slice`: the cgroup of `slice`, at `path` below the root of the cgroup2 hierarchy
/// systemd uses (or below `cgroup_root`), with the directories that do not exist yet created,
/// as systemd will create them when the slice starts (see `launch::slice`). Legacy hosts have
/// no such hierarchy: systemd puts no slice into cgroup2 there.
pub fn for_slice(
    slice: &str,
    path: &str,
    cgroup_root: Option<&Path>,
) -> Result<Target, sys::Error> {
    let mount = match cgroup_root {
        Some(r) => r.to_path_buf(),
        None => match cgroup::detect(Path::new("/")).cgroup2_mount() {
            // PID 1's units live below PID 1's part of the hierarchy: the root on a host, the
            // container's cgroup for a systemd in a container that shares the host's cgroup
            // namespace. The helper unit runs in PID 1's root slice, so its own parent is it.
            Some(m) => {
                let own = cgroup::read_proc_self_cgroup(Path::new("/"))
                    .ok()
                    .and_then(|pc| pc.unified);
                let base = super::slice::manager_base(own.as_deref().map(Path::new));
                match base.strip_prefix("/") {
                    Ok(rel) if !rel.as_os_str().is_empty() => m.join(rel),
                    _ => m.to_path_buf(),
                }
            }
            None => {
                return Err(cg_err(
                    "attach to the cgroup of",
                    slice,
                    io::Error::from_raw_os_error(libc::EOPNOTSUPP),
                )
                .with_hint("this host has no cgroup2 hierarchy that systemd uses, so slices cannot be bound; units below the slice are bound by their own BindNetworkInterface="))
            }
        },
    };
    let dir = cgroup_path::join_non_root(&mount, path).map_err(|e| {
        cg_err(
            "attach BPF program to",
            path,
            io::Error::from_raw_os_error(libc::EPERM),
        )
        .with_hint(e.to_string())
    })?;
    create_below(&mount, &dir)?;
    Target::open_outside(dir)
}

/// Creates the directories from below `mount` down to `dir` that do not exist yet; `mount`
/// itself must exist (a missing one is an error, not a directory to make).
fn create_below(mount: &Path, dir: &Path) -> Result<(), sys::Error> {
    let rel = dir.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut at = mount.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match std::fs::create_dir(&at) {
            Ok(()) => log_bind!(Debug, "Created cgroup {}", shown(&at)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cg_err("create cgroup", &shown(&at), e)),
        }
    }
    Ok(())
}

/// Ad hoc mode: see the module comment. `enter`: this process moves into the new cgroup (and
/// the command is executed in place); otherwise the cgroup is only created, for the command to
/// be started inside it as a child (`clone3` with `CLONE_INTO_CGROUP`, no migration). Legacy
/// hosts always enter: their private mirror is set up, and its leftovers judged, differently.
pub fn for_adhoc(enter: bool) -> Result<Target, sys::Error> {
    // One cgroup per invocation: two commands bound to same-named interfaces in different
    // network namespaces must not share a program. Leftovers of exited runs are removed by
    // later runs.
    let (mount, own) = match place()? {
        Place::Cgroup2 { mount, own } => (mount, own),
        Place::Hidden { own } => mount_hidden(&own)?,
        Place::Legacy { own } => return adhoc_legacy_child(&own),
    };
    let parent = cgroup_path::join(&mount, &own)
        .map_err(|e| cg_err("use cgroup", &shown(&own), e.into()))?;
    adhoc_child(&parent, enter)
}

/// Creates and marks a new `bindif-launch-PID` child of `parent`, and enters it if `enter`,
/// then removes the leftovers of exited earlier runs beside it. Without `enter` the command
/// will be started inside it as a child, and the caller removes them once it is
/// ([`remove_leftovers_beside`]): while the new process execs its command on another CPU.
fn adhoc_child(parent: &Path, enter: bool) -> Result<Target, sys::Error> {
    let child = if enter {
        cgroup::create_adhoc_child_and_enter(parent)
            .map_err(|(dir, e)| cg_err("create and enter cgroup", &shown(&dir), e))?
    } else {
        // Named as on the path that enters: the same step fails, with the same cause.
        cgroup::create_adhoc_child(parent)
            .map_err(|(dir, e)| cg_err("create and enter cgroup", &shown(&dir), e))?
    };
    if enter {
        cgroup::remove_adhoc_leftovers(parent, &child.dir);
    }
    created_target(child, enter)
}

/// The [`Target`] of an ad hoc child cgroup this run created (and entered, if `entered`).
fn created_target(child: cgroup::CreatedChild, entered: bool) -> Result<Target, sys::Error> {
    if let Some(e) = &child.unmarked {
        log_bind!(
            Debug,
            "Failed to mark cgroup {} as created by bindif-launch, ignoring (later runs will not remove it): {}",
            shown(&child.dir),
            sys::strerror(e)
        );
    }
    match child.fd {
        // Opened for the marker already: kept, not opened a second time.
        Some(fd) => Ok(Target {
            path: child.dir,
            fd,
            created: true,
            entered,
        }),
        None => Target::open_created(child.dir, entered),
    }
}

/// Ad hoc mode: removes the leftovers of exited earlier runs beside `dir`, the cgroup this run
/// created without entering it (see [`adhoc_child`]), once the command was started in it or
/// this process entered it after all.
pub fn remove_leftovers_beside(dir: &Path) {
    if let Some(parent) = dir.parent() {
        cgroup::remove_adhoc_leftovers(parent, dir);
    }
}

/// Ad hoc mode, when the command will not run after all (fail closed, or `execve` failed) or
/// has exited (started as a child): moves this process back to the parent cgroup if it
/// `entered` the child cgroup `dir` it created, and removes `dir`, so no `bindif-launch-PID`
/// directory is left behind (and no program: it goes with the directory). Best effort: while
/// processes the command started still run in it (EBUSY), it stays, and a later run removes it
/// once it is empty.
pub fn remove_created(dir: &Path, entered: bool) {
    let Some(parent) = dir.parent() else {
        return;
    };
    let left = if entered {
        cgroup::enter(parent)
    } else {
        Ok(())
    };
    if let Err(e) = left.and_then(|()| std::fs::remove_dir(dir)) {
        log_bind!(
            Debug,
            "Failed to remove cgroup {}, ignoring: {}",
            shown(dir),
            sys::strerror(&e)
        );
    }
}

fn open_non_root(mount: &Path, path: &OsStr) -> Result<Target, sys::Error> {
    let dir = cgroup_path::join_non_root(mount, path).map_err(|e| {
        cg_err(
            "attach BPF program to",
            &shown(path),
            io::Error::from_raw_os_error(libc::EPERM),
        )
        .with_hint(e.to_string())
    })?;
    Target::open(dir)
}

/// The cgroup2 hierarchy's flags, from PID 1's mounts (the host's, also when this process was
/// given other mounts by `ip netns exec`), else our own: a mount of ours repeats them, or it
/// would clear `nsdelegate` and the memory flags systemd set for the whole host. None found
/// (a legacy host): nothing to keep.
fn hierarchy_flags() -> Vec<String> {
    ["/proc/1/mountinfo", "/proc/self/mountinfo"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|text| cgroup_path::cgroup2_flags(&text))
        .unwrap_or_default()
}

/// Mounts the private cgroup2 hierarchy (once; later runs find it mounted).
fn mount_private() -> Result<&'static Path, sys::Error> {
    let mount = Path::new(PRIVATE_CGROUP2_MOUNT);
    cgroup::mount_private_cgroup2(mount, &hierarchy_flags()).map_err(|e| {
        cg_err(
            "mount private cgroup2 hierarchy at",
            PRIVATE_CGROUP2_MOUNT,
            e,
        )
    })?;
    Ok(mount)
}

/// The `name=systemd` hierarchy, where a legacy host shows which units run.
const SYSTEMD_V1: &str = "/sys/fs/cgroup/systemd";

/// Legacy hosts, the launcher form without an attach step (see [`for_unit`]): mount our own
/// cgroup2, create the unit's path there (or find it in place: the unit's, shared by its
/// processes), move in, and remove the mirrors that exited earlier runs left behind (see
/// [`remove_leftovers`]).
fn enter_legacy_mirror(path: &OsStr) -> Result<Target, sys::Error> {
    let mount = mount_private()?;
    let path = &below_mount(mount, path)?;
    let dir = cgroup::enter_mirror(mount, path).map_err(|e| {
        cg_err(
            "enter mirror cgroup",
            &format!("{PRIVATE_CGROUP2_MOUNT}{}", shown(path)),
            e,
        )
    })?;
    remove_leftovers(mount, &dir);
    Target::open(dir)
}

/// Legacy hosts, ad hoc mode: mount our own cgroup2, create the mirror of our path there (shared
/// with the other runs in our `name=systemd` cgroup) and a new child of it for this run alone,
/// `bindif-launch-PID[-N]`, marked, as on cgroup2 hosts; move in, and remove the mirrors that
/// exited earlier runs left behind (see [`remove_leftovers`]). A child of that name found in
/// place is never entered: a run with the same PID number in another PID namespace may still
/// run a command bound in it, and our attach would rebind that command to our interface.
fn adhoc_legacy_child(own: &OsStr) -> Result<Target, sys::Error> {
    let mount = mount_private()?;
    let own = &below_mount(mount, own)?;
    let child = cgroup::create_adhoc_mirror_child_and_enter(mount, own)
        .map_err(|(dir, e)| cg_err("enter mirror cgroup", &shown(&dir), e))?;
    remove_leftovers(mount, &child.dir);
    created_target(child, true)
}

/// Legacy hosts, the unit's attach step (a `+` command: outside the unit's sandbox, syscall
/// filter and capability set): mount our own cgroup2, create the unit's mirror there, marked,
/// and open it for the attach; the unit's wrapped commands enter it later. Nothing moves in.
fn prepare_legacy_mirror(path: &OsStr) -> Result<Target, sys::Error> {
    // The unit's later commands must find the mount: make it in PID 1's mount namespace, from
    // which systemd creates theirs (see `join_mount_namespace_of`).
    match sys::process::join_mount_namespace_of(1) {
        Ok(true) => log_bind!(
            Debug,
            "Joined PID 1's mount namespace to prepare {PRIVATE_CGROUP2_MOUNT}"
        ),
        Ok(false) => {}
        // Debug only: where PID 1's namespace is out of reach (a container, no CAP_SYS_ADMIN)
        // this one usually is PID 1's already, and where it is not, a command that finds no
        // mirror says so itself (`Failed to enter mirror cgroup …`).
        Err(e) => log_bind!(
            Debug,
            "Failed to join PID 1's mount namespace, ignoring: {} (the unit's commands may not find {PRIVATE_CGROUP2_MOUNT} if it is mounted here first)",
            sys::strerror(&e)
        ),
    }
    let mount = mount_private()?;
    let path = &below_mount(mount, path)?;
    let dir = cgroup::prepare_mirror(mount, path).map_err(|e| {
        cg_err(
            "create mirror cgroup",
            &format!("{PRIVATE_CGROUP2_MOUNT}{}", shown(path)),
            e,
        )
    })?;
    remove_leftovers(mount, &dir);
    Target::open_outside(dir)
}

/// Removes the mirrors that exited earlier runs left behind: only marked ones, and none whose
/// unit still runs (its path exists in the `name=systemd` hierarchy): see `sys::cgroup`.
fn remove_leftovers(mount: &Path, keep: &Path) {
    let v1 = Path::new(SYSTEMD_V1);
    let v1 = cgroup::statfs_magic(v1).is_ok().then_some(v1);
    if let Err(e) = cgroup::remove_empty_leftovers(mount, Some(keep), v1) {
        log_bind!(
            Debug,
            "Failed to remove empty cgroups below {PRIVATE_CGROUP2_MOUNT}, ignoring: {}",
            sys::strerror(&e)
        );
    }
}
