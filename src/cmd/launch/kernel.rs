// SPDX-License-Identifier: LGPL-2.1-or-later
//! The kernel seam: every question the launcher asks the kernel while it sets up a binding —
//! resolve the interface, load the program, choose the cgroup, attach, detach, probe a socket,
//! execute the command — as one trait, [`Kernel`].
//!
//! The launcher's policy (fail open or closed for each failure, `--wait`, `--verify`, undoing
//! what it created when a later step fails) is written once, generic over this trait. The
//! binary runs it with [`Linux`], which calls `sys::` and `target`; the unit tests run the very
//! same code with a fake that returns chosen errnos (`tests` in the parent module), so the
//! path that ships is the path that is tested.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::target;
use crate::log_bind;
use crate::program::Origin;
pub use crate::sys::clone::End;
use crate::sys::netlink::NameLookup;
use crate::sys::pinned::{self, Pin};
use crate::sys::{self, bpf, clone, process, Category};

/// Which cgroup the program goes to (see the `target` module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which<'a> {
    /// The cgroup of `unit`, which this process runs in; `attach_only`: `--attach` mode;
    /// `prepared`: the unit has the attach step, which on legacy hosts prepares (mounts, creates,
    /// binds) the mirror its wrapped commands then only enter.
    Unit {
        unit: &'a str,
        attach_only: bool,
        prepared: bool,
    },
    /// Ad hoc mode: a child cgroup of ours; `enter`: this process moves into it and executes the
    /// command in place, rather than start the command inside it as a child (see
    /// `launch::AdhocStart`).
    AdHoc { enter: bool },
    /// `--attach-slice`: the cgroup of `slice` at `path` below the hierarchy's root, created if
    /// it does not exist yet; `cgroup_root` stands for that root when given (tests).
    Slice {
        slice: &'a str,
        path: &'a str,
        cgroup_root: Option<&'a Path>,
    },
}

/// What the policy needs to know about a chosen cgroup.
pub trait CgroupHandle {
    /// For messages.
    fn path(&self) -> &Path;
    /// This run created the cgroup: undone when the command will not run.
    fn created(&self) -> bool;
    /// This process is in the cgroup (it moved in, or runs in it already); `false` only for an
    /// ad hoc cgroup created for the command to be started in as a child.
    fn entered(&self) -> bool;
}

/// What the launcher asks of the kernel. Errors are returned as the kernel gave them (an
/// `io::Error` with its errno) or, where only the implementation knows the operation and the
/// object, as a named [`sys::Error`]; the caller decides whether they are fatal.
pub trait Kernel {
    /// A loaded program.
    type Prog;
    /// A cgroup directory, open.
    type Cgroup: CgroupHandle;
    /// The command, started as a child process.
    type Child;

    /// The ifindex of `interface` in this network namespace, `None` when it does not exist.
    fn resolve(&mut self, interface: &str) -> io::Result<Option<u32>>;
    /// [`Kernel::resolve`] again, right after it gave `ifindex`: an implementation may confirm
    /// that answer more cheaply, and must ask in full whenever it cannot.
    fn resolve_again(&mut self, interface: &str, ifindex: u32) -> io::Result<Option<u32>> {
        let _ = ifindex;
        self.resolve(interface)
    }
    /// The clock `--wait` measures against.
    fn now(&mut self) -> Instant;
    /// Waits before the next look for the interface.
    fn pause(&mut self, d: Duration);
    /// The program binding to `interface`, named for `origin`, with the ifindex it binds to,
    /// when one loaded earlier is at hand and provably binds to what the name resolves to now:
    /// [`Kernel::resolve`] and [`Kernel::load`] in one, or `None` to call them.
    fn shared(&mut self, interface: &str, origin: Origin) -> Option<(u32, Self::Prog)> {
        let _ = (interface, origin);
        None
    }
    /// Loads our program binding sockets to `ifindex`, which `interface` resolved to, named for
    /// `origin`.
    fn load(
        &mut self,
        interface: &str,
        ifindex: u32,
        origin: Origin,
    ) -> Result<Self::Prog, sys::Error>;
    /// On a legacy host, a wrapped command of `unit` enters the mirror cgroup the unit's attach
    /// step prepared and bound, and does nothing else (see `target::enter_prepared`); `None`
    /// elsewhere, where the ordinary binding applies.
    fn enter_prepared(
        &mut self,
        unit: &str,
        wait: Duration,
    ) -> Option<Result<Self::Cgroup, sys::Error>>;
    /// Chooses (and, for ad hoc runs from a shell, creates and enters) the cgroup.
    fn target(&mut self, which: Which<'_>) -> Result<Self::Cgroup, sys::Error>;
    /// Attaches `prog` to `cgroup` and then removes our older copies there (attach before
    /// detach: the cgroup is never without a binding). Where the shared copy is on the hook
    /// already but would not run last, a copy of this run's own is attached instead, and
    /// `prog` becomes that copy (what a later failure takes off again).
    fn attach(
        &mut self,
        cgroup: &Self::Cgroup,
        prog: &mut Self::Prog,
    ) -> Result<bpf::BindOutcome, sys::Error>;
    /// Binding programs on the ancestors of `cgroup`, which run after (and so override) ours.
    /// Empty also when every program that runs there binds to `ifindex`, the interface of this
    /// start: then none overrides it, and which ancestor holds them does not matter.
    fn ancestor_bindings(&mut self, cgroup: &Self::Cgroup, ifindex: u32)
        -> io::Result<Vec<Nested>>;
    /// Detaches exactly `prog` from `cgroup` again.
    fn detach(&mut self, cgroup: &Self::Cgroup, prog: &Self::Prog) -> io::Result<()>;
    /// The ifindex a socket created now, in our cgroup, is bound to.
    fn probe(&mut self) -> io::Result<Option<u32>>;
    /// Why a socket may come out unbound although our program is attached: what the host shows
    /// of net_cls/net_prio turning cgroup2 socket matching off (status's preflight), one line
    /// each; empty when nothing is seen.
    fn unbound_causes(&mut self) -> Vec<String>;
    /// Moves this process out of a cgroup it created, if it entered it, and removes it (best
    /// effort; a cgroup that still holds processes stays).
    fn remove_created(&mut self, cgroup: Self::Cgroup);
    /// Executes the command in place; returns only on failure.
    fn exec(&mut self, path: &Path, argv: &[OsString]) -> io::Error;
    /// Starts the command as a child process born inside `cgroup` (`clone3` with
    /// `CLONE_INTO_CGROUP`). An error: no child was made, nothing changed.
    fn spawn(
        &mut self,
        cgroup: &Self::Cgroup,
        path: &Path,
        argv: &[OsString],
    ) -> io::Result<Self::Child>;
    /// Moves this process into `cgroup`, created for the command and not entered yet.
    fn enter(&mut self, cgroup: &mut Self::Cgroup) -> Result<(), sys::Error>;
    /// Waits for the child to end, passing signals sent to this process on to it; a child
    /// whose `execve` failed ends as [`End::ExecFailed`].
    fn wait(&mut self, child: Self::Child) -> io::Result<End>;
    /// Ends this process by `signal`, as the child ended; returns if that did not end it.
    fn die_of(&mut self, signal: i32);
}

/// A binding program on an ancestor cgroup of the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nested {
    pub cgroup: PathBuf,
    /// The interface it binds to, when known.
    pub ifindex: Option<u32>,
    /// systemd's native `BindNetworkInterface=` program rather than ours.
    pub native: bool,
}

/// A cgroup directory opened read-only (so `ProtectControlGroups=yes` keeps working), with the
/// path for messages.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    fd: OwnedFd,
    created: bool,
    entered: bool,
}

impl Cgroup {
    /// Opens the cgroup directory `path` (one this run did not create). Fails with a cgroup
    /// error (219/CGROUP) naming the path.
    pub fn open(path: &Path) -> Result<Cgroup, sys::Error> {
        let fd = sys::cgroup::open_cgroup_dir(path).map_err(|e| {
            sys::Error::new(
                Category::Cgroup,
                "open cgroup",
                path.display().to_string(),
                e,
            )
        })?;
        Ok(Cgroup {
            path: path.to_path_buf(),
            fd,
            created: false,
            entered: true,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Takes over the directory `target` chose, its descriptor included.
    fn from_target(t: target::Target) -> Result<Cgroup, sys::Error> {
        let entered = t.entered();
        let (path, fd, created) = t.into_parts();
        Ok(Cgroup {
            path,
            fd,
            created,
            entered,
        })
    }
}

impl CgroupHandle for Cgroup {
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

/// A freshly loaded, unshared copy of our program `prog` (same name, same ifindex).
fn private_copy(prog: BorrowedFd) -> Result<OwnedFd, sys::Error> {
    let info = bpf::prog_info_fd(prog).map_err(|e| {
        sys::Error::new(
            Category::Bpf,
            "get information of BPF program",
            crate::program::UNIT_PROG_NAME,
            e,
        )
    })?;
    match (info.ours_ifindex, info.origin) {
        (Some(ifindex), Some(origin)) => bpf::load_bind_program_as(ifindex, origin),
        _ => Err(sys::Error::new(
            Category::Bpf,
            "load a copy of BPF program",
            info.name,
            io::Error::from_raw_os_error(libc::EINVAL),
        )),
    }
}

/// The real kernel, through `sys::` and `target`, for one start.
#[derive(Debug, Default)]
pub struct Linux {
    /// The pinned program's name check and the re-check after attaching share one socket; the
    /// launcher never changes its network namespace.
    names: NameLookup,
    /// The probe's socket, kept open once asked: after the probe the launcher executes the
    /// command (close-on-exec closes it) or, the attach step, exits, so no `close(2)` of its own
    /// is needed.
    probe: Option<OwnedFd>,
}

impl Kernel for Linux {
    type Prog = bpf::Prog;
    type Cgroup = Cgroup;
    type Child = clone::Spawned;

    fn resolve(&mut self, interface: &str) -> io::Result<Option<u32>> {
        sys::netlink::resolve_ifindex(interface)
    }

    fn resolve_again(&mut self, interface: &str, ifindex: u32) -> io::Result<Option<u32>> {
        // The device with this index still carrying the name means the name still resolves
        // to it (names are unique in a namespace). Anything else (an alternative name, a
        // rename, a re-created device) asks rtnetlink as the first lookup did.
        if self.names.primary_name(ifindex).as_deref() == Some(interface) {
            return Ok(Some(ifindex));
        }
        self.resolve(interface)
    }

    fn now(&mut self) -> Instant {
        Instant::now()
    }

    fn pause(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn shared(&mut self, interface: &str, origin: Origin) -> Option<(u32, bpf::Prog)> {
        let dir = Path::new(pinned::PIN_DIR);
        let found = pinned::shared_for(dir, interface, origin, &mut self.names);
        if found.is_some() {
            log_bind!(
                Debug,
                "Using the program pinned in {}, whose ifindex carries the name '{interface}'",
                dir.display()
            );
        }
        found
    }

    fn load(
        &mut self,
        interface: &str,
        ifindex: u32,
        origin: Origin,
    ) -> Result<bpf::Prog, sys::Error> {
        let dir = Path::new(pinned::PIN_DIR);
        let (prog, pin) = pinned::bind_program(dir, interface, ifindex, origin)?;
        match pin {
            Pin::Reused => log_bind!(Debug, "Using the program pinned in {}", dir.display()),
            Pin::Pinned | Pin::Replaced => {
                log_bind!(
                    Debug,
                    "Loaded the program and pinned it in {}",
                    dir.display()
                )
            }
            Pin::NotPinned(e) => log_bind!(
                Debug,
                "Loaded the program; failed to pin it in {}, ignoring: {}",
                dir.display(),
                sys::strerror(&e)
            ),
        }
        Ok(prog)
    }

    fn enter_prepared(&mut self, unit: &str, wait: Duration) -> Option<Result<Cgroup, sys::Error>> {
        target::enter_prepared(unit, wait)
            .transpose()
            .map(|r| r.and_then(Cgroup::from_target))
    }

    fn target(&mut self, which: Which<'_>) -> Result<Cgroup, sys::Error> {
        let t = match which {
            Which::Unit {
                unit,
                attach_only,
                prepared,
            } => target::for_unit(unit, attach_only, prepared)?,
            Which::AdHoc { enter } => target::for_adhoc(enter)?,
            Which::Slice {
                slice,
                path,
                cgroup_root,
            } => target::for_slice(slice, path, cgroup_root)?,
        };
        Cgroup::from_target(t)
    }

    fn attach(
        &mut self,
        cgroup: &Cgroup,
        prog: &mut bpf::Prog,
    ) -> Result<bpf::BindOutcome, sys::Error> {
        // The sys layer knows the operation, only we know the path: name it in every error.
        let object = cgroup.path.display().to_string();
        let named = |e: sys::Error| {
            if e.object.is_empty() {
                e.with_object(object.clone())
            } else {
                e
            }
        };
        // A cgroup made for the command to be started in (ad hoc) was just made by `mkdir`:
        // cgroup2, not the root, and holding no older copy of ours, so neither is checked.
        // One this process entered is still checked, as before: since a legacy host's ad hoc
        // run no longer enters a child found in place (`target::for_adhoc`), it was made by
        // `mkdir` too, so the check there is caution only.
        let first = if cgroup.created && !cgroup.entered {
            bpf::attach_to_created(cgroup.fd(), prog)
        } else {
            bpf::check_attachable(cgroup.fd())
                .and_then(|()| bpf::attach_replacing(cgroup.fd(), prog))
        };
        let mut out = first.map_err(named)?;
        if !out.last {
            // The shared copy is on the hook, but a program attached after it would decide
            // new sockets' interface: a copy of our own goes last, as every start did before
            // the cache, and replaces the older ones.
            let own = bpf::Prog::new(private_copy(prog.as_fd())?);
            out = bpf::attach_replacing(cgroup.fd(), &own).map_err(named)?;
            *prog = own;
        }
        out.cleanup_error = out.cleanup_error.map(named);
        Ok(out)
    }

    fn ancestor_bindings(&mut self, cgroup: &Cgroup, ifindex: u32) -> io::Result<Vec<Nested>> {
        // One query answers for the common cases, where the walk (a query per level up to the
        // root, on every ad hoc run) would find nothing that overrides this start's binding:
        // no program runs for the cgroup, or only bindings to the same interface do (an ad
        // hoc run inside a unit or slice bound to it). The effective list holds every program
        // that runs, from every level, also above the mount's root, which the walk cannot
        // see. Anything else in it, and the walk names what is where.
        if bpf::only_bindings_to(cgroup.fd(), ifindex) {
            return Ok(Vec::new());
        }
        let found = bpf::ancestor_bindings(cgroup.fd())?;
        Ok(found
            .into_iter()
            .map(|b| Nested {
                // The walk went up through "..", one level per step, as the path does.
                cgroup: cgroup
                    .path
                    .ancestors()
                    .nth(b.depth)
                    .map_or_else(PathBuf::new, Path::to_path_buf),
                ifindex: b.ifindex,
                native: b.native,
            })
            .collect())
    }

    fn detach(&mut self, cgroup: &Cgroup, prog: &bpf::Prog) -> io::Result<()> {
        bpf::detach(cgroup.fd(), prog.as_fd())
    }

    fn probe(&mut self) -> io::Result<Option<u32>> {
        let sock = bpf::probe_socket()?;
        let got = bpf::bound_ifindex(sock.as_fd());
        self.probe = Some(sock);
        got
    }

    fn unbound_causes(&mut self) -> Vec<String> {
        crate::cmd::status::matching_off_findings()
    }

    fn remove_created(&mut self, cgroup: Cgroup) {
        let Cgroup {
            path, fd, entered, ..
        } = cgroup;
        // Our descriptor of the directory would not keep it alive, but close it first anyway.
        drop(fd);
        target::remove_created(&path, entered);
    }

    fn exec(&mut self, path: &Path, argv: &[OsString]) -> io::Error {
        process::exec(path, argv)
    }

    fn spawn(
        &mut self,
        cgroup: &Cgroup,
        path: &Path,
        argv: &[OsString],
    ) -> io::Result<clone::Spawned> {
        let prog = sys::cstring(path)?;
        let args = argv
            .iter()
            .map(sys::cstring)
            .collect::<io::Result<Vec<_>>>()?;
        let child = clone::spawn_into(cgroup.fd(), &prog, &args)?;
        // Left for now by `target::for_adhoc`, so that the command starts sooner.
        if cgroup.created {
            target::remove_leftovers_beside(&cgroup.path);
        }
        Ok(child)
    }

    fn enter(&mut self, cgroup: &mut Cgroup) -> Result<(), sys::Error> {
        sys::cgroup::enter(&cgroup.path).map_err(|e| {
            // The second half of what the entering path does in one step, named the same.
            sys::Error::new(
                Category::Cgroup,
                "create and enter cgroup",
                cgroup.path.display().to_string(),
                e,
            )
        })?;
        cgroup.entered = true;
        // What `spawn` would have done once the command was started.
        if cgroup.created {
            target::remove_leftovers_beside(&cgroup.path);
        }
        Ok(())
    }

    fn wait(&mut self, child: clone::Spawned) -> io::Result<End> {
        child.wait()
    }

    fn die_of(&mut self, signal: i32) {
        clone::die_of(signal);
    }
}
