// SPDX-License-Identifier: LGPL-2.1-or-later
//! The syscall boundary: everything `unsafe` lives below this module.

pub mod bpf;
pub mod cgroup;
pub mod clone;
pub mod diag;
pub mod fs;
pub mod journal;
pub mod netlink;
pub mod pinned;
pub mod process;

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use crate::log::escape_control;

/// Which part of the binding failed; the CLI maps it to systemd's exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Loading, attaching, querying or detaching the BPF program (245/BPF).
    Bpf,
    /// Opening, creating or entering a cgroup, or a cgroup we refuse to use (219/CGROUP).
    Cgroup,
    /// Resolving the interface over rtnetlink (225/NETWORK).
    Network,
}

impl Category {
    /// systemd's exit status for this category (`EXIT_BPF`, `EXIT_CGROUP`, `EXIT_NETWORK`).
    pub fn exit_status(self) -> i32 {
        match self {
            Category::Bpf => 245,
            Category::Cgroup => 219,
            Category::Network => 225,
        }
    }
}

/// An engine failure: what we tried (`op`), on what (`object`), the errno, and optionally a hint
/// naming the likely cause (missing capability, kernel option) or the verifier log.
///
/// Displays as systemd does: `Failed to attach BPF program to /sys/fs/cgroup/x: Operation not
/// permitted (…hint…)`; the CLI adds the `bind-interface: ` prefix.
#[derive(Debug)]
pub struct Error {
    pub category: Category,
    pub op: String,
    pub object: String,
    pub source: io::Error,
    pub hint: Option<String>,
    /// The verifier's log when the kernel rejected the program.
    pub verifier_log: Option<String>,
}

/// Load failures use the common error type.
pub type LoadError = Error;
/// Bind failures use the common error type.
pub type BindError = Error;

impl Error {
    pub fn new(
        category: Category,
        op: impl Into<String>,
        object: impl Into<String>,
        source: io::Error,
    ) -> Error {
        Error {
            category,
            op: op.into(),
            object: object.into(),
            source,
            hint: None,
            verifier_log: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// The errno, if the failure came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    pub fn exit_status(&self) -> i32 {
        self.category.exit_status()
    }

    /// Replaces the object (e.g. a directory fd's path, known only to the caller).
    pub fn with_object(mut self, object: impl Into<String>) -> Error {
        self.object = object.into();
        self
    }
}

/// Every part but the verifier log's line breaks is written with control characters escaped:
/// objects are paths and names from cgroups, units and the command line (a cgroup may be named
/// `x\x1b[31m\r`), and hints and error texts quote them; raw, they would repaint the terminal
/// or forge a log line.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Failed to {}", escape_control(&self.op))?;
        if !self.object.is_empty() {
            write!(f, " {}", escape_control(&self.object))?;
        }
        write!(f, ": {}", escape_control(&strerror(&self.source)))?;
        if let Some(hint) = &self.hint {
            write!(f, " ({})", escape_control(hint))?;
        }
        if let Some(log) = &self.verifier_log {
            f.write_str("\nVerifier log:")?;
            for line in log.trim_end().split('\n') {
                write!(f, "\n{}", escape_control(line))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `strerror()` text without Rust's " (os error N)" suffix, as systemd prints it: the one in
/// [`crate::errno`], where the unit model, which is pure, finds it too.
pub use crate::errno::strerror;

/// Turns a libc return value into `io::Result`, reading errno on -1.
pub(crate) fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A path or argument as the C string a syscall takes. An interior NUL cannot be passed to the
/// kernel at all: that is an invalid argument, reported as such before any syscall.
pub(crate) fn cstring(s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"))
}

/// `openat(2)` of `path` below `dir` (or relative to the working directory, `None`), with
/// `O_CLOEXEC` always: the one open of a descriptor the cgroup walks and the unit model's
/// `sys::fs` share. The caller chooses the other flags (`O_PATH`, `O_NOFOLLOW`, …).
pub(crate) fn open_fd(
    dir: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `at` is AT_FDCWD or a descriptor open for the call's duration, `path` is
    // NUL-terminated; the returned fd is checked and then owned.
    let fd = unsafe { libc::openat(at, path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A socket option's value: plain data for which any bytes the kernel writes are a valid value.
///
/// # Safety
///
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid `Self`: integers, arrays of
/// them and C structs made of them qualify; `bool`, enums, references and pointers do not.
pub(crate) unsafe trait SockOptValue: Copy {}

// SAFETY: every 4-byte pattern is a valid `c_int`.
unsafe impl SockOptValue for libc::c_int {}
// SAFETY: `timeval` is two integers (`time_t`, `suseconds_t`); every bit pattern is valid.
unsafe impl SockOptValue for libc::timeval {}
// SAFETY: every byte is a valid `u8`.
unsafe impl<const N: usize> SockOptValue for [u8; N] {}

/// `setsockopt(2)`: sets option `name` at `level` of `sock` to `value`.
pub(crate) fn setsockopt<T: SockOptValue>(
    sock: BorrowedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the kernel reads at most the `size_of::<T>()` bytes we pass from `value`, which
    // is borrowed for the whole call; `sock` is a live descriptor for the borrow's lifetime.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            value as *const T as *const libc::c_void,
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    cvt(r.into()).map(drop)
}

/// `getsockopt(2)`: reads option `name` at `level` of `sock` into `value` and returns how many
/// bytes the kernel wrote (string options such as `SO_BINDTODEVICE` fill less than the buffer).
pub(crate) fn getsockopt<T: SockOptValue>(
    sock: BorrowedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &mut T,
) -> io::Result<usize> {
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` = `size_of::<T>()` bytes into `value`, which is
    // exclusively borrowed for the call, and `SockOptValue` guarantees that whatever bytes it
    // writes form a valid `T`; `sock` is a live descriptor for the borrow's lifetime.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            value as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    cvt(r.into())?;
    Ok((len as usize).min(mem::size_of::<T>()))
}

/// Device and inode number of the file `fd` refers to (`fstat(2)`): which directory it is.
pub(crate) fn dev_ino(fd: BorrowedFd) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain old data; all-zero is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: fstat writes only into `st`, which we own; the borrowed fd is valid.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
}

/// `fstatfs(2)`'s filesystem magic of the file `fd` refers to (`CGROUP2_SUPER_MAGIC`, …).
pub(crate) fn fstatfs_magic(fd: BorrowedFd) -> io::Result<u64> {
    // SAFETY: statfs is plain old data; all-zero is a valid value for fstatfs to overwrite.
    let mut sfs: libc::statfs = unsafe { mem::zeroed() };
    // SAFETY: fstatfs writes only into `sfs`, which we own; the borrowed fd is valid.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sfs) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // f_type is signed on some architectures; the magic numbers are all below 2^31.
    #[allow(clippy::unnecessary_cast)]
    Ok(sfs.f_type as u64 & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_control_characters() {
        let e = Error::new(
            Category::Cgroup,
            "create and enter cgroup",
            "/sys/fs/cgroup/rvesc\x1b[31mX\r/bindif-launch-1",
            io::Error::new(io::ErrorKind::NotFound, "no \x07bell"),
        )
        .with_hint("running in /a\nb");
        assert_eq!(
            e.to_string(),
            "Failed to create and enter cgroup /sys/fs/cgroup/rvesc\\x1b[31mX\\x0d/bindif-launch-1: no \\x07bell (running in /a\\x0ab)"
        );
        let mut e = Error::new(
            Category::Bpf,
            "load BPF program",
            "",
            io::Error::from_raw_os_error(libc::EINVAL),
        );
        e.verifier_log = Some("0: r0 = 1\r\n1: exit\n".into());
        let text = e.to_string();
        assert_eq!(
            text,
            "Failed to load BPF program: Invalid argument\nVerifier log:\n0: r0 = 1\\x0d\n1: exit"
        );
    }

    #[test]
    fn display_is_systemd_style() {
        let e = Error::new(
            Category::Bpf,
            "attach BPF program to",
            "/sys/fs/cgroup/x",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert_eq!(
            e.to_string(),
            "Failed to attach BPF program to /sys/fs/cgroup/x: Operation not permitted"
        );
        assert_eq!(e.exit_status(), 245);
        assert_eq!(e.errno(), Some(libc::EPERM));
        let e = e.with_hint("needs CAP_BPF");
        assert!(e
            .to_string()
            .ends_with("Operation not permitted (needs CAP_BPF)"));
    }

    #[test]
    fn display_includes_verifier_log() {
        let mut e = Error::new(
            Category::Bpf,
            "load BPF program",
            "bindif_sock",
            io::Error::from_raw_os_error(libc::EACCES),
        )
        .with_hint("rejected by the verifier");
        e.verifier_log = Some("0: (b7) r2 = 1\ninvalid bpf_context access\n".into());
        assert_eq!(
            e.to_string(),
            "Failed to load BPF program bindif_sock: Permission denied (rejected by the verifier)\n\
             Verifier log:\n0: (b7) r2 = 1\ninvalid bpf_context access"
        );
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(Category::Cgroup.exit_status(), 219);
        assert_eq!(Category::Network.exit_status(), 225);
    }

    #[test]
    fn sockopt_round_trip() {
        use std::os::fd::AsFd;
        let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
        let fd = sock.as_fd();
        let tv = libc::timeval {
            tv_sec: 7,
            tv_usec: 500_000, // whole jiffies at every HZ, so it reads back exactly
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv).unwrap();
        let mut back = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let n = getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &mut back).unwrap();
        assert_eq!(n, mem::size_of::<libc::timeval>());
        assert_eq!((back.tv_sec, back.tv_usec), (7, 500_000));

        let mut ty: libc::c_int = 0;
        getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, &mut ty).unwrap();
        assert_eq!(ty, libc::SOCK_DGRAM);

        // A string option on an unbound socket: the kernel writes nothing, and says so.
        let mut name = [0xffu8; 16];
        let n = getsockopt(fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, &mut name).unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn sockopt_errors_carry_the_errno() {
        use std::os::fd::AsFd;
        let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
        let mut v: libc::c_int = 0;
        // TCP options do not exist on a Unix socket.
        let e = getsockopt(sock.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut v).unwrap_err();
        assert!(
            matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT)
            ),
            "{e}"
        );
        let e = setsockopt(sock.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, &1).unwrap_err();
        assert!(
            matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT)
            ),
            "{e}"
        );
    }

    #[test]
    fn cstring_refuses_interior_nul() {
        assert_eq!(
            cstring(std::path::Path::new("/sys/fs/cgroup/a b"))
                .unwrap()
                .as_bytes(),
            b"/sys/fs/cgroup/a b"
        );
        let e = cstring("/sys/fs/cgroup/a\0b").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(strerror(&e), "contains a NUL byte");
    }

    /// The pure layer keeps its own copies of the filesystem magics (it must not depend on
    /// `sys`); they must be the kernel's.
    #[test]
    fn pure_filesystem_magics_are_the_kernels() {
        use crate::cgroup_path;
        assert_eq!(
            cgroup_path::CGROUP2_SUPER_MAGIC,
            libc::CGROUP2_SUPER_MAGIC as u64
        );
        assert_eq!(
            cgroup_path::CGROUP_SUPER_MAGIC,
            libc::CGROUP_SUPER_MAGIC as u64
        );
        assert_eq!(cgroup_path::TMPFS_MAGIC, libc::TMPFS_MAGIC as u64);
    }
}
