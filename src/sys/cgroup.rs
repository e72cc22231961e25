// SPDX-License-Identifier: LGPL-2.1-or-later
//! cgroup syscalls: statfs-based layout detection, read-only directory fds for attaching, moving
//! ourselves into a child cgroup, and the private cgroup2 mirror on legacy hosts.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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

/// `openat(2)` of `name` (one path component) read-only below the directory `dir`.
fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstring(Path::new(name))?;
    // SAFETY: `dir` is an open descriptor for the call's duration, `c` is NUL-terminated; the
    // returned fd is checked and then owned.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | flags,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the cgroup directory `name` below the cgroup directory `parent`. Walking by directory
/// fds reaches cgroups whose full path is longer than PATH_MAX, which any user with a delegated
/// subtree can create.
pub fn open_cgroup_dir_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    open_at(parent, name, libc::O_DIRECTORY)
}

/// Opens the file `name` (e.g. `cgroup.procs`) of the directory `dir` for reading.
pub fn open_file_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<fs::File> {
    open_at(dir, name, 0).map(fs::File::from)
}

/// The names of the subdirectories of the directory `dir`, unsorted, with no `.` and `..`.
/// Names are bytes: a cgroup may be called anything but `/` and NUL.
pub fn subdirectories(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    // A fresh open file description: fdopendir() takes the fd and reads from its offset.
    let own = open_at(dir, OsStr::new("."), libc::O_DIRECTORY)?;
    // SAFETY: `own` is an open directory fd whose ownership passes to the DIR stream.
    let stream = unsafe { libc::fdopendir(own.as_raw_fd()) };
    if stream.is_null() {
        return Err(io::Error::last_os_error());
    }
    let _ = own.into_raw_fd();
    let mut names = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; zeroing it tells the end of the stream from an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `stream` is a valid DIR stream until the closedir() below.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error() == Some(0) {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: readdir64 returned a valid entry, live until the next readdir64 call; d_name
        // is NUL-terminated within it.
        let (kind, name) = unsafe { ((*entry).d_type, CStr::from_ptr((*entry).d_name.as_ptr())) };
        let name = name.to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match kind {
            libc::DT_DIR => true,
            libc::DT_UNKNOWN => is_directory_at(dir, OsStr::from_bytes(name)),
            _ => false,
        };
        if is_dir {
            names.push(OsString::from_vec(name.to_vec()));
        }
    };
    // SAFETY: `stream` is valid and closed exactly once (this also closes its fd).
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

/// Whether `name` in `dir` is a directory (not following a symlink); false when it vanished.
fn is_directory_at(dir: BorrowedFd<'_>, name: &OsStr) -> bool {
    let Ok(c) = cstring(Path::new(name)) else {
        return false;
    };
    // SAFETY: an all-zero stat is a valid value for fstatat(2) to overwrite.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `dir` is open, `c` NUL-terminated, `st` ours to write.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    /// Directory-fd walking on an ordinary directory: subdirectories by byte name (non-UTF-8
    /// included), no files, no symlinks, no `.`/`..`; a file read relative to its directory.
    #[test]
    fn walks_by_directory_fd() {
        let base = std::env::temp_dir().join(format!("bindif-fdwalk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("a")).unwrap();
        fs::create_dir(base.join(OsStr::from_bytes(b"b\xff"))).unwrap();
        fs::write(base.join("a/cgroup.procs"), "42\n").unwrap();
        fs::write(base.join("file"), "").unwrap();
        std::os::unix::fs::symlink("a", base.join("link")).unwrap();
        let dir = open_cgroup_dir(&base).unwrap();
        let mut names = subdirectories(dir.as_fd()).unwrap();
        names.sort();
        assert_eq!(names, [OsStr::new("a"), OsStr::from_bytes(b"b\xff")]);
        let a = open_cgroup_dir_at(dir.as_fd(), OsStr::new("a")).unwrap();
        let mut text = String::new();
        open_file_at(a.as_fd(), OsStr::new("cgroup.procs"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "42\n");
        assert!(subdirectories(a.as_fd()).unwrap().is_empty());
        let err = |name: &str| {
            open_cgroup_dir_at(dir.as_fd(), OsStr::new(name))
                .unwrap_err()
                .raw_os_error()
        };
        // O_NOFOLLOW|O_DIRECTORY: a symlink is not followed, it is "not a directory".
        assert_eq!(err("link"), Some(libc::ENOTDIR));
        assert_eq!(err("file"), Some(libc::ENOTDIR));
        assert_eq!(err("gone"), Some(libc::ENOENT));
        fs::remove_dir_all(&base).unwrap();
    }
}
