// SPDX-License-Identifier: LGPL-2.1-or-later
//! cgroup syscalls: statfs-based layout detection, read-only directory fds for attaching, moving
//! ourselves into a child cgroup, and the private cgroup2 mirror on legacy hosts.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::mem;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cgroup_path::{self, Layout};

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// The filesystem magic of `path` (`statfs(2)` `f_type`).
pub fn statfs_magic(path: &Path) -> io::Result<u64> {
    let c = cstring(path)?;
    // SAFETY: an all-zero statfs is a valid value for statfs(2) to overwrite.
    let mut sfs: libc::statfs = unsafe { mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `sfs` is ours to write.
    if unsafe { libc::statfs(c.as_ptr(), &mut sfs) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // f_type is signed on some architectures; the magic numbers are all below 2^31.
    #[allow(clippy::unnecessary_cast)]
    Ok(sfs.f_type as u64 & 0xffff_ffff)
}

/// Detects the cgroup layout of the filesystem under `root` (normally `/`).
pub fn detect(root: &Path) -> Layout {
    cgroup_path::detect_with(root, |p| statfs_magic(p).ok())
}

/// Opens a cgroup directory read-only: all BPF_PROG_ATTACH needs, and it works where
/// `ProtectControlGroups=yes` made the hierarchy read-only.
pub fn open_cgroup_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstring(path)?;
    // SAFETY: `c` is NUL-terminated; the returned fd is checked and then owned.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Our own cgroup2 directory on a unified or hybrid host, with its path.
/// Fails with ENOMEDIUM on legacy hosts (no cgroup2 that systemd uses).
pub fn own_cgroup_dir() -> io::Result<(PathBuf, OwnedFd)> {
    let root = Path::new("/");
    let layout = detect(root);
    let mount = layout
        .cgroup2_mount()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEDIUM))?
        .to_path_buf();
    let pc = cgroup_path::read_proc_self_cgroup(root)?;
    let rel = cgroup_path::own_cgroup_path(&pc, &layout)?;
    let path = cgroup_path::join(&mount, &rel)?;
    let fd = open_cgroup_dir(&path)?;
    Ok((path, fd))
}

/// Moves the calling process into the cgroup directory `dir` (writes our pid to `cgroup.procs`).
pub fn enter(dir: &Path) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))?;
    // One write(2) of the whole number: cgroup.procs takes one pid per write.
    f.write_all(format!("{}\n", std::process::id()).as_bytes())
}

/// Creates `parent/name` if missing and moves the calling process into it (ad hoc mode: only
/// the command is bound, never the caller's session). Refuses names that are not a single,
/// ordinary path component.
pub fn create_child_and_enter(parent: &Path, name: &str) -> io::Result<PathBuf> {
    if !cgroup_path::valid_child_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid cgroup name '{}'", name.escape_debug()),
        ));
    }
    let dir = parent.join(name);
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    enter(&dir)?;
    Ok(dir)
}

/// Mounts a private cgroup2 hierarchy at `at` (creating the directory) unless one is already
/// mounted there. Needed only on legacy hosts, where systemd uses no cgroup2.
pub fn mount_private_cgroup2(at: &Path) -> io::Result<()> {
    let created = !at.exists();
    fs::create_dir_all(at)?;
    if statfs_magic(at)? == cgroup_path::CGROUP2_SUPER_MAGIC {
        return Ok(());
    }
    let target = cstring(at)?;
    // SAFETY: all strings are NUL-terminated and live across the call; data is NULL.
    let r = unsafe {
        libc::mount(
            b"cgroup2\0".as_ptr() as *const libc::c_char,
            target.as_ptr(),
            b"cgroup2\0".as_ptr() as *const libc::c_char,
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        // Someone else mounted it concurrently: fine.
        if e.raw_os_error() == Some(libc::EBUSY)
            && statfs_magic(at)? == cgroup_path::CGROUP2_SUPER_MAGIC
        {
            return Ok(());
        }
        // Leave no empty mount point behind (EPERM without CAP_SYS_ADMIN); a parent that holds
        // anything else is not empty and stays.
        if created {
            let _ = fs::remove_dir(at);
            if let Some(parent) = at.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
        return Err(e);
    }
    Ok(())
}

/// On legacy hosts: creates the unit's path (`unit_path`, e.g. `/system.slice/x.service`) in
/// the private cgroup2 at `mount` and moves the calling process in. Refuses the root.
pub fn enter_mirror(mount: &Path, unit_path: &str) -> io::Result<PathBuf> {
    let dir = cgroup_path::join_non_root(mount, unit_path)?;
    fs::create_dir_all(&dir)?;
    enter(&dir)?;
    Ok(dir)
}

/// Removes empty mirror directories left by earlier runs below `mount`, deepest first, except
/// `keep` and its ancestors. Busy ones (EBUSY: still populated) are left alone. Returns how many
/// were removed.
pub fn remove_empty_leftovers(mount: &Path, keep: Option<&Path>) -> io::Result<usize> {
    fn walk(dir: &Path, keep: Option<&Path>, removed: &mut usize) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let path = entry.path();
            walk(&path, keep, removed)?;
            if keep.is_some_and(|k| k.starts_with(&path)) {
                continue;
            }
            match fs::remove_dir(&path) {
                Ok(()) => *removed += 1,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EBUSY) | Some(libc::ENOTEMPTY) | Some(libc::ENOENT)
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    let mut removed = 0;
    walk(mount, keep, &mut removed)?;
    Ok(removed)
}
