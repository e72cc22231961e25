// SPDX-License-Identifier: LGPL-2.1-or-later
//! `--enter-service`: on legacy cgroup hosts, moves the processes of bound units into the
//! mirror cgroup their attach step prepared, on their request.
//!
//! A wrapped command of a `User=`/`DynamicUser=` unit may not move itself (cgroup2 migration
//! needs write access to `cgroup.procs` of the common ancestor, the root-owned hierarchy root),
//! and one of a `ProtectSystem=strict` unit finds the mirror read-only. Giving either a
//! privilege would let it leave its binding too; instead it writes its pid to the FIFO
//! [`ENTER_FIFO`] (`bindif-launch-enter.socket`, `ListenFIFO=`), and this service, root and
//! outside every unit, started by systemd when a request arrives and gone once idle, decides
//! from what only the kernel and systemd can say about the pid:
//!
//! - the pid's unit is the first component of its `name=systemd` path that is not a slice
//!   (systemd's own hierarchy: a unit cannot rename or leave its cgroup there without a
//!   `Delegate=`, and a delegated subtree sits below the unit's own cgroup, so it cannot pose as
//!   another unit);
//! - the process must still be at the root of the private cgroup2 (`0::/`, where every process
//!   of a legacy host starts): one already in a mirror, bound, is never moved again, so a request
//!   can bind a process but not unbind or rebind one;
//! - the unit's mirror must have been prepared by its attach step: it carries our marker and a
//!   `bindif_unit` program is attached to it.
//!
//! Only then is the pid written to that mirror's `cgroup.procs`. A hostile writer can at most
//! bind a process of a unit that asked to be bound, to that unit's own interface. Anything else
//! (a malformed line, a vanished pid, a pid in no unit or in a unit without a mirror) is logged
//! (notice for the first few, debug after) and skipped; no request blocks the next.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::cgroup_path::{self, ProcCgroup, PRIVATE_CGROUP2_MOUNT};
use crate::log::{self, escape_bytes, Level};
use crate::sys::{self, cgroup};
use crate::{exit, log_at};

/// The FIFO the wrapped commands of units on legacy hosts write their pid to.
pub const ENTER_FIFO: &str = "/run/bindif-launch/enter";

/// The service exits after this long without a request; systemd starts it again on the next.
const IDLE: Duration = Duration::from_secs(10);

/// Longest request line we accept: a pid has at most 10 digits (pid_max ≤ 2^22 today).
const MAX_LINE: usize = 16;

/// Ignored requests logged at notice per activation; the rest at debug, so a unit writing
/// garbage cannot flood the journal.
const NOTICES: u32 = 10;

/// Splits the complete lines off the front of `pending` (bytes read so far) and parses each as a
/// pid: `Ok(pid)`, or `Err(line)` for a malformed one. Empty lines are skipped: a request starts
/// with a newline, which ends any partial line another writer left before it. A partial last line stays in `pending`
/// for the next read, unless it is already too long to be a pid: then it is dropped (reported
/// as malformed once its end arrives: the remainder of a too-long line is no pid either).
pub fn take_requests(pending: &mut Vec<u8>) -> Vec<Result<u32, Vec<u8>>> {
    let mut out = Vec::new();
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).take(end).collect();
        if !line.is_empty() {
            out.push(parse_pid(&line).ok_or(line));
        }
    }
    if pending.len() > MAX_LINE {
        out.push(Err(std::mem::take(pending)));
    }
    out
}

/// A request line's pid: decimal digits only, no sign, no spaces, not 0.
pub fn parse_pid(line: &[u8]) -> Option<u32> {
    if line.is_empty() || line.len() > 10 || !line.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(line)
        .ok()?
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

/// The cgroup path of the unit a `name=systemd` path belongs to: its slices and the first
/// component that is not a slice (`/system.slice/a.service/sub` → `/system.slice/a.service`).
/// `None` for a path in no unit (the root, a slice itself).
pub fn unit_cgroup(systemd_path: &OsStr) -> Option<OsString> {
    let mut out = Vec::new();
    for part in systemd_path
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
    {
        if part == b"." || part == b".." {
            return None;
        }
        out.push(b'/');
        out.extend_from_slice(part);
        if !part.ends_with(b".slice") {
            return Some(OsString::from(OsStr::from_bytes(&out)));
        }
    }
    None
}

/// Why a request is not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The process is in no `name=systemd` cgroup (not a legacy or hybrid host's process).
    NoSystemdCgroup,
    /// Its `name=systemd` path names no unit.
    NotInUnit(OsString),
    /// No `0::` line: the private cgroup2 is not mounted, so no mirror was prepared at all.
    NoCgroup2,
    /// Already below the cgroup2 root: bound (or placed) before; never moved again.
    AlreadyPlaced(OsString),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSystemdCgroup => f.write_str("it is in no name=systemd cgroup"),
            Refusal::NotInUnit(p) => write!(f, "its cgroup {} is in no unit", shown(p)),
            Refusal::NoCgroup2 => {
                f.write_str("no private cgroup2 hierarchy is mounted, so nothing was prepared")
            }
            Refusal::AlreadyPlaced(p) => write!(
                f,
                "it is already in cgroup {} of the private hierarchy and is not moved again",
                shown(p)
            ),
        }
    }
}

/// The unit cgroup path whose mirror a process with this `/proc/PID/cgroup` may be moved into,
/// or why it may not be moved: see the module comment.
pub fn judge(pc: &ProcCgroup) -> Result<OsString, Refusal> {
    let systemd = pc.systemd.as_ref().ok_or(Refusal::NoSystemdCgroup)?;
    let unit = unit_cgroup(systemd).ok_or_else(|| Refusal::NotInUnit(systemd.clone()))?;
    let unified = pc.unified.as_ref().ok_or(Refusal::NoCgroup2)?;
    if !cgroup_path::is_root(unified) {
        return Err(Refusal::AlreadyPlaced(unified.clone()));
    }
    Ok(unit)
}

fn shown(p: impl AsRef<OsStr>) -> String {
    escape_bytes(p.as_ref().as_bytes())
}

/// The outcome of one request, for the log.
enum Outcome {
    Moved { mirror: String },
    Skipped(String),
}

/// `--enter-service`: serves requests until idle for [`IDLE`], then exits 0.
pub fn run() -> i32 {
    let fifo = match cgroup::listen_fd() {
        Some(fd) => fd,
        None => match cgroup::open_fifo_reader(Path::new(ENTER_FIFO)) {
            Ok(fd) => fd,
            Err(e) => {
                log_at!(
                    Err,
                    "Failed to open {ENTER_FIFO} for reading: {} (start bindif-launch-enter.socket, which creates it)",
                    sys::strerror(&e)
                );
                return exit::FAILURE;
            }
        },
    };
    serve(fifo.as_fd())
}

fn serve(fifo: BorrowedFd<'_>) -> i32 {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    let mut notices = 0;
    let idle_ms = i32::try_from(IDLE.as_millis()).unwrap_or(i32::MAX);
    loop {
        match cgroup::wait_readable(fifo, idle_ms) {
            Ok(true) => {}
            Ok(false) => {
                log_at!(Debug, "No request for {}s, exiting", IDLE.as_secs());
                return exit::SUCCESS;
            }
            Err(e) => {
                log_at!(
                    Err,
                    "Failed to wait for requests on {ENTER_FIFO}: {}",
                    sys::strerror(&e)
                );
                return exit::FAILURE;
            }
        }
        let n = match cgroup::read_some(fifo, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                log_at!(
                    Err,
                    "Failed to read requests from {ENTER_FIFO}: {}",
                    sys::strerror(&e)
                );
                return exit::FAILURE;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        for request in take_requests(&mut pending) {
            let outcome = match request {
                Ok(pid) => handle(pid),
                Err(line) => Outcome::Skipped(format!(
                    "Ignoring malformed request '{}' on {ENTER_FIFO}",
                    escape_bytes(&line)
                )),
            };
            match outcome {
                Outcome::Moved { mirror } => log_at!(Debug, "Moved into {mirror}"),
                Outcome::Skipped(msg) => {
                    let level = if notices < NOTICES {
                        Level::Notice
                    } else {
                        Level::Debug
                    };
                    notices += 1;
                    log::log(level, &msg);
                }
            }
        }
    }
}

/// One request: judge the pid, check its unit's mirror, move it.
fn handle(pid: u32) -> Outcome {
    let skip = |why: String| Outcome::Skipped(format!("Not moving process {pid}: {why}"));
    // Everything about the process is read through its /proc directory, held open: a pid that
    // exits and is reused meanwhile makes the reads fail rather than describe another process.
    let proc_dir = match cgroup::open_proc_dir(pid) {
        Ok(d) => d,
        Err(e) => return skip(format!("/proc/{pid}: {}", sys::strerror(&e))),
    };
    let pc = match cgroup::read_file_at(proc_dir.as_fd(), "cgroup")
        .and_then(|t| cgroup_path::parse_proc_cgroup(&t).map_err(io::Error::from))
    {
        Ok(pc) => pc,
        Err(e) => return skip(format!("/proc/{pid}/cgroup: {}", sys::strerror(&e))),
    };
    let unit = match judge(&pc) {
        Ok(u) => u,
        Err(r) => return skip(r.to_string()),
    };
    let mount = Path::new(PRIVATE_CGROUP2_MOUNT);
    let dir = match cgroup_path::join_non_root(mount, &unit) {
        Ok(d) => d,
        Err(e) => return skip(format!("cgroup {}: {e}", shown(&unit))),
    };
    let mirror = shown(&dir);
    let fd = match cgroup::open_cgroup_dir(&dir) {
        Ok(fd) => fd,
        Err(e) => {
            return skip(format!(
                "the mirror {mirror} of its unit was not prepared by an attach step: {}",
                sys::strerror(&e)
            ))
        }
    };
    if let Err(why) = prepared(fd.as_fd()) {
        return skip(format!("the mirror {mirror} of its unit {why}"));
    }
    // The process may have exited since its cgroup was read; its /proc directory says so.
    if let Err(e) = cgroup::read_file_at(proc_dir.as_fd(), "stat") {
        return skip(format!("it exited: {}", sys::strerror(&e)));
    }
    match cgroup::move_pid(fd.as_fd(), pid) {
        Ok(()) => Outcome::Moved {
            mirror: format!("{mirror}: process {pid}"),
        },
        Err(e) => skip(format!(
            "failed to write it to {mirror}/cgroup.procs: {}",
            sys::strerror(&e)
        )),
    }
}

/// Whether the mirror open as `fd` is one an attach step prepared: it carries our marker. It
/// may hold no program: an attach step that could not bind (the interface missing) keeps the
/// mirror unbound, as the unit's own cgroup is on other hosts, so that the daemon-reload which
/// finds the interface binds the processes in it (`generator::reconcile`).
fn prepared(fd: BorrowedFd<'_>) -> Result<(), String> {
    match cgroup::read_owner(fd) {
        Some(_) => Ok(()),
        None => Err("carries no bindif-launch marker".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(text: &str) -> ProcCgroup {
        cgroup_path::parse_proc_cgroup(text.as_bytes()).unwrap()
    }

    #[test]
    fn pids_are_plain_positive_decimals() {
        assert_eq!(parse_pid(b"1234"), Some(1234));
        assert_eq!(parse_pid(b"4194304"), Some(4_194_304));
        for bad in [
            &b""[..],
            b"0",
            b"-1",
            b"+5",
            b" 5",
            b"5 ",
            b"5\r",
            b"0x10",
            b"99999999999",
            b"4294967296",
            b"\xff",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn requests_are_split_at_newlines_and_partial_lines_wait() {
        let mut p = b"12\n\n34\nab\n5".to_vec();
        assert_eq!(take_requests(&mut p), [Ok(12), Ok(34), Err(b"ab".to_vec())]);
        assert_eq!(p, b"5");
        p.extend_from_slice(b"6\n");
        assert_eq!(take_requests(&mut p), [Ok(56)]);
        assert!(p.is_empty());
        // A line that cannot be a pid is dropped before its end arrives, and what follows it
        // up to the newline is refused too.
        let mut p = vec![b'7'; MAX_LINE + 1];
        assert_eq!(take_requests(&mut p).len(), 1);
        assert!(p.is_empty());
        p.extend_from_slice(b"77\n8\n");
        assert_eq!(take_requests(&mut p), [Ok(77), Ok(8)]);
        // A writer that leaves a partial line cannot capture the next request: requests start
        // with a newline.
        let mut p = b"x".to_vec();
        p.extend_from_slice(b"\n1234\n");
        assert_eq!(take_requests(&mut p), [Err(b"x".to_vec()), Ok(1234)]);
    }

    #[test]
    fn the_unit_is_the_first_component_that_is_not_a_slice() {
        let u = |p: &str| unit_cgroup(OsStr::new(p)).map(|o| o.into_string().unwrap());
        assert_eq!(
            u("/system.slice/a.service").as_deref(),
            Some("/system.slice/a.service")
        );
        // A delegated subtree cannot pose as another unit, however its cgroups are named.
        assert_eq!(
            u("/system.slice/a.service/b.service/c").as_deref(),
            Some("/system.slice/a.service")
        );
        assert_eq!(
            u("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service").as_deref(),
            Some("/user.slice/user-1000.slice/user@1000.service")
        );
        assert_eq!(u("/init.scope").as_deref(), Some("/init.scope"));
        assert_eq!(u("/"), None);
        assert_eq!(u("/system.slice"), None);
        assert_eq!(u("/system.slice/../x.service"), None);
    }

    #[test]
    fn only_processes_at_the_cgroup2_root_of_a_unit_are_moved() {
        let ok =
            pc("12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/a.service/x\n0::/\n");
        assert_eq!(judge(&ok), Ok(OsString::from("/system.slice/a.service")));
        // Bound already (in a mirror, or an ad hoc run's cgroup): never moved again.
        let placed = pc("1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n");
        assert_eq!(
            judge(&placed),
            Err(Refusal::AlreadyPlaced("/system.slice/b.service".into()))
        );
        assert_eq!(
            judge(&pc("1:name=systemd:/system.slice\n0::/\n")),
            Err(Refusal::NotInUnit("/system.slice".into()))
        );
        assert_eq!(
            judge(&pc("1:name=systemd:/system.slice/a.service\n")),
            Err(Refusal::NoCgroup2)
        );
        assert_eq!(judge(&pc("0::/\n")), Err(Refusal::NoSystemdCgroup));
    }
}
