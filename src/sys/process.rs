// SPDX-License-Identifier: LGPL-2.1-or-later
//! The launcher's own process: exec in place, notify PID 1, and facts read about ourselves.
//!
//! `execve` is called directly rather than through `std::process::Command`, because the
//! latter clears the signal mask and resets SIGPIPE in the new image: the command must start
//! with exactly the mask and dispositions systemd gave us. (`main` is `no_main` for the same
//! reason: std's start-up code would otherwise set SIGPIPE to SIG_IGN before we run.)

use std::ffi::{CString, OsStr, OsString};

use super::cstring;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Finds `file` the way execvp(3) does: a name with a slash is used as is, otherwise each
/// `$PATH` entry is tried in order. Returns the first candidate that is an executable file.
pub fn find_executable(file: &OsStr, path_var: Option<&OsStr>) -> io::Result<PathBuf> {
    if file.as_bytes().contains(&b'/') {
        let p = PathBuf::from(file);
        return check_executable(&p).map(|()| p);
    }
    let default = OsStr::new("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let search = path_var.unwrap_or(default);
    std::env::split_paths(search)
        .map(|dir| dir.join(file))
        .find(|p| check_executable(p).is_ok())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
}

/// What execve would say about `p`, checked before anything is changed: missing (ENOENT) or
/// not an executable regular file (EACCES).
pub fn check_executable(p: &Path) -> io::Result<()> {
    let m = std::fs::metadata(p)?;
    if m.is_file() && m.mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EACCES))
    }
}

/// Replaces this process with `path`, passing `argv` and the current environment untouched.
/// Only returns on failure.
pub fn exec(path: &Path, argv: &[OsString]) -> io::Error {
    let prog = match cstring(path) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let args: io::Result<Vec<CString>> = argv.iter().map(cstring).collect();
    let args = match args {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: `prog` and every element of `ptrs` point into CStrings that live until execve
    // returns (it only returns on failure); `ptrs` is NULL-terminated. `environ` is libc's
    // NULL-terminated environment block; nothing can change it while we read it, because this
    // crate never modifies the environment (no `set_var`/`remove_var`) and the launcher that
    // calls `exec` runs no other thread.
    unsafe {
        libc::execve(prog.as_ptr(), ptrs.as_ptr(), environ);
    }
    io::Error::last_os_error()
}

/// Device and inode of stderr, to compare with `$JOURNAL_STREAM`: `fstat(2)` of the descriptor,
/// which gives what a `stat` of `/proc/self/fd/2` gives without a path walk through /proc (on
/// every start of every bound unit).
pub fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    super::dev_ino(std::io::stderr().as_fd()).ok()
}

/// The network namespace of process `pid` (`None`: this thread's) as device and inode of its
/// `/proc/…/ns/net`, to compare two processes'.
pub fn net_ns(pid: Option<u32>) -> io::Result<(u64, u64)> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/ns/net"),
        None => "/proc/thread-self/ns/net".to_string(),
    };
    std::fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

/// Moves this process into the mount namespace of process `pid` (PID 1 in production) when it
/// runs in another one, and says whether it moved. A `+` command of a unit that needs a mount
/// namespace (`PrivateTmp=`, `ProtectSystem=`, `DynamicUser=`, …) still runs in a namespace of
/// its own on systemd < 260, only without the protections, and a slave of the host's: a mount
/// made there is seen by nobody else and dies with the command. The attach step mounts what the
/// unit's later commands must find, so it mounts from PID 1's, from which systemd creates
/// theirs. Needs CAP_SYS_ADMIN and CAP_SYS_CHROOT and a single-threaded process (the kernel
/// refuses otherwise).
pub fn join_mount_namespace_of(pid: u32) -> io::Result<bool> {
    let path = format!("/proc/{pid}/ns/mnt");
    let own = std::fs::metadata("/proc/self/ns/mnt")?;
    let theirs = std::fs::metadata(&path)?;
    if (own.dev(), own.ino()) == (theirs.dev(), theirs.ino()) {
        return Ok(false);
    }
    let ns = std::fs::File::open(&path)?;
    use std::os::fd::AsRawFd;
    // SAFETY: `ns` is an open namespace descriptor that lives across the call.
    super::cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) }.into())?;
    Ok(true)
}

/// Sends `STATUS=…` to `$NOTIFY_SOCKET` (path or `@abstract`). Best effort: a unit that is not
/// `Type=notify` ignores it, and a failure must never stop the service from starting.
pub fn notify_status(socket: &OsStr, status: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let msg = format!("STATUS={status}");
    let bytes = socket.as_bytes();
    if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), Path::new(socket))?;
    }
    Ok(())
}

/// The running systemd's version, from the `libsystemd-shared-NNN.so` PID 1 has mapped;
/// `None` when /proc/1/maps cannot be read or PID 1 is not systemd.
pub fn pid1_systemd_version() -> Option<u32> {
    crate::host::systemd_version_from_maps(&read_proc(Path::new("/proc/1/maps"))?)
}

/// Reads the whole of a small /proc file, `None` when it cannot be read (hidepid, no /proc).
pub fn read_proc(path: &Path) -> Option<String> {
    // A large first buffer and plain reads (see `read_proc_file`).
    let buf = read_proc_file(path, 16 * 1024).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The whole of a /proc file, read with plain `read(2)` calls into a buffer of `initial` bytes
/// (doubled when full). Not `fs::read`: /proc files report size 0, so it grows its buffer from
/// 32 bytes, one `read(2)` per doubling; nor `File::read_to_end`, which asks `statx` and
/// `lseek` for a size hint first. Both run on every start of every bound unit.
pub fn read_proc_file(path: &Path, initial: usize) -> io::Result<Vec<u8>> {
    let mut f = open_proc(path)?;
    let buf = vec![0u8; initial.max(1)];
    read_on(&mut f, buf, 0)
}

/// [`read_proc_file`] of a /proc file the kernel writes out whole at the first `read(2)`
/// (`single_open`: `/proc/PID/stat`, `/proc/PID/cgroup`): a read that leaves part of the buffer
/// unfilled returned all of it, so one call usually suffices instead of a second one that
/// returns 0. A full buffer reads on.
pub fn read_proc_single(path: &Path, initial: usize) -> io::Result<Vec<u8>> {
    let mut f = open_proc(path)?;
    let mut buf = vec![0u8; initial.max(1)];
    let n = read_some(&mut f, &mut buf)?;
    if n < buf.len() {
        buf.truncate(n);
        return Ok(buf);
    }
    read_on(&mut f, buf, n)
}

/// [`read_proc_single`] into a buffer on the stack, `f` called with the text: what fits (all a
/// `/proc/self/cgroup` holds but on hosts with very deep cgroup paths) needs no allocation,
/// which on musl is a `mmap` and a `munmap` of its own at every start.
pub fn with_proc_single<R>(path: &Path, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
    let mut file = open_proc(path)?;
    let mut stack = [0u8; 4096];
    let n = read_some(&mut file, &mut stack)?;
    if n < stack.len() {
        drop(file);
        return Ok(f(&stack[..n]));
    }
    let buf = read_on(&mut file, stack.to_vec(), n)?;
    drop(file);
    Ok(f(&buf))
}

/// Opens a /proc file for reading with `openat(2)`, close-on-exec. Not `File::open`: musl's
/// `open` follows an `O_CLOEXEC` open with an `fcntl(F_SETFD)` for kernels that predate the
/// flag (2.6.23), a call more on every start; its `openat` makes none.
fn open_proc(path: &Path) -> io::Result<std::fs::File> {
    super::open_fd(None, &cstring(path)?, libc::O_RDONLY).map(std::fs::File::from)
}

/// One `read(2)` into `buf` (again if interrupted): how many bytes it read.
fn read_some(f: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Reads the rest of `f` into `buf`, whose first `len` bytes are read already, doubling it
/// when full, until end of file.
fn read_on(f: &mut std::fs::File, mut buf: Vec<u8>, mut len: usize) -> io::Result<Vec<u8>> {
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match read_some(f, &mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// This process's effective capability set, as a bit mask (`capget`).
pub fn effective_capabilities() -> io::Result<u64> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget writes two `Data` words (version 3) into the array we own and may update
    // the version in the header, which we own too.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    super::cvt(r)?;
    Ok(u64::from(data[0].effective) | u64::from(data[1].effective) << 32)
}

/// Whether capabilities `effective` allow loading a `cgroup/sock_create` program: CAP_BPF and
/// CAP_NET_ADMIN (Linux 5.8 on), or CAP_SYS_ADMIN (any version).
pub fn may_load_cgroup_programs(effective: u64) -> bool {
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_NET_ADMIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files longer than the first buffer are read whole, /proc files (size 0) included.
    #[test]
    fn read_proc_file_reads_everything() {
        let dir = std::env::temp_dir().join(format!("bindif-read-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let text: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &text).unwrap();
        for initial in [0, 1, 4096, 1 << 16] {
            assert_eq!(read_proc_file(&p, initial).unwrap(), text, "{initial}");
            // A regular file is never read short: the one-read form reads on when full.
            assert_eq!(read_proc_single(&p, initial).unwrap(), text, "{initial}");
        }
        // Longer than the stack buffer, and exactly as long: read on, on the heap.
        for len in [text.len(), 4096, 4095, 0] {
            std::fs::write(&p, &text[..len]).unwrap();
            let got = with_proc_single(&p, <[u8]>::to_vec).unwrap();
            assert_eq!(got, &text[..len], "{len}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        let own = read_proc_file(Path::new("/proc/self/status"), 8).unwrap();
        assert!(
            own.starts_with(b"Name:"),
            "{}",
            String::from_utf8_lossy(&own)
        );
        assert!(read_proc_file(Path::new("/nonexistent/x"), 8).is_err());
        assert!(with_proc_single(Path::new("/nonexistent/x"), |_| ()).is_err());
        let stat = read_proc_single(Path::new("/proc/self/stat"), 4096).unwrap();
        assert!(stat.ends_with(b"\n"), "{}", String::from_utf8_lossy(&stat));
        assert!(crate::cgroup_path::stat_start_time(&String::from_utf8_lossy(&stat)).is_some());
        let small = read_proc_single(Path::new("/proc/self/stat"), 8).unwrap();
        assert!(small.ends_with(b"\n") && small.len() > 8);
        let cgroup = with_proc_single(Path::new("/proc/self/cgroup"), <[u8]>::to_vec).unwrap();
        assert_eq!(
            cgroup,
            read_proc_file(Path::new("/proc/self/cgroup"), 8).unwrap()
        );
    }

    #[test]
    fn loading_needs_sys_admin_or_bpf_with_net_admin() {
        let bit = |c: u32| 1u64 << c;
        assert!(may_load_cgroup_programs(bit(CAP_SYS_ADMIN)));
        assert!(may_load_cgroup_programs(bit(CAP_BPF) | bit(CAP_NET_ADMIN)));
        assert!(!may_load_cgroup_programs(bit(CAP_BPF)));
        assert!(!may_load_cgroup_programs(bit(CAP_NET_ADMIN)));
        assert!(!may_load_cgroup_programs(0));
        assert!(may_load_cgroup_programs(u64::MAX));
    }
}
