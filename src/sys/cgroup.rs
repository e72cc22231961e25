// SPDX-License-Identifier: LGPL-2.1-or-later
//! cgroup syscalls: statfs-based layout detection, read-only directory fds for attaching, moving
//! ourselves into a child cgroup, and the private cgroup2 mirror on legacy hosts.
//!
//! Every cgroup directory the tool creates carries an [`Owner`] marker (an extended attribute:
//! `trusted.*` where we may, `user.*` otherwise); clean-up removes only marked directories
//! whose maker has exited, under an exclusive `flock` on the directory, so neither another
//! program's cgroups nor a concurrent run's fresh one can be removed.

use std::ffi::{CStr, OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{cstring, open_fd};
use crate::cgroup_path::{self, Layout, Liveness, Owner, ProcCgroup};

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

/// `PROC_CGROUP_INIT_INO`: the inode of the initial cgroup namespace; every other namespace
/// gets a dynamic inode at or above `PROC_DYNAMIC_FIRST` (0xF0000000), so this one is unique.
const INIT_CGROUP_NS_INO: u64 = 0xEFFF_FFFB;

/// Whether the cgroup2 mount at `mount` shows the whole hierarchy to a process whose
/// `/proc/self/cgroup` paths are hierarchy paths: this process is in the initial cgroup
/// namespace (or the kernel has none), and the mount's top directory is the hierarchy's root
/// (the only cgroup2 directory without `cgroup.events`). Then a path from `/proc/self/cgroup`
/// joins the mount as it is, and `/proc/self/mountinfo` (whose generation costs more than the
/// rest of the cgroup lookup on every start) need not be read. `false` means "not known":
/// read mountinfo.
pub fn mount_shows_whole_hierarchy(mount: &Path) -> bool {
    let in_init_ns = match fs::metadata("/proc/self/ns/cgroup") {
        Ok(m) => m.ino() == INIT_CGROUP_NS_INO,
        // Linux < 4.6 has no cgroup namespaces.
        Err(e) => e.raw_os_error() == Some(libc::ENOENT),
    };
    in_init_ns
        && fs::symlink_metadata(mount.join("cgroup.events"))
            .is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT))
}

/// Opens a cgroup directory read-only: all BPF_PROG_ATTACH needs, and it works where
/// `ProtectControlGroups=yes` made the hierarchy read-only.
pub fn open_cgroup_dir(path: &Path) -> io::Result<OwnedFd> {
    open_fd(None, &cstring(path)?, libc::O_RDONLY | libc::O_DIRECTORY)
}

/// `openat(2)` of `name` (one path component) read-only below the directory `dir`.
fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstring(Path::new(name))?;
    open_fd(Some(dir), &c, libc::O_RDONLY | libc::O_NOFOLLOW | flags)
}

/// Opens the cgroup directory `name` below the cgroup directory `parent`. Walking by directory
/// fds reaches cgroups whose full path is longer than PATH_MAX, which any user with a delegated
/// subtree can create.
pub fn open_cgroup_dir_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    open_at(parent, name, libc::O_DIRECTORY)
}

/// [`open_cgroup_dir_at`] with `O_PATH`: a descriptor that only names the cgroup, which is all
/// `BPF_PROG_QUERY` needs (the kernel's `cgroup_get_from_fd()` takes the descriptor with
/// `fget_raw()`). The kernel then neither checks read permission nor opens the directory for
/// reading, nor releases it at close: a daemon-reload re-resolves every running unit with one
/// open, one query and one close, and this open costs less.
pub fn open_cgroup_path_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    open_at(parent, name, libc::O_DIRECTORY | libc::O_PATH)
}

/// The pids in the `cgroup.procs` of the cgroup open at `dir` (none when it cannot be read: the
/// cgroup vanished).
pub fn procs_at(dir: BorrowedFd<'_>) -> Vec<u32> {
    use std::io::Read;
    let mut text = String::new();
    let read =
        open_file_at(dir, OsStr::new("cgroup.procs")).and_then(|mut f| f.read_to_string(&mut text));
    match read {
        Ok(_) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        Err(_) => Vec::new(),
    }
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

/// Reads and parses `ROOT/proc/self/cgroup`.
pub fn read_proc_self_cgroup(root: &Path) -> io::Result<ProcCgroup> {
    // Bytes, not a `String`: cgroup names need not be UTF-8.
    super::process::with_proc_single(&root.join("proc/self/cgroup"), |text| {
        cgroup_path::parse_proc_cgroup(text)
    })?
    .map_err(io::Error::from)
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
    let pc = read_proc_self_cgroup(root)?;
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

/// Creates `parent/name` if missing (marked as ours) and moves the calling process into it.
/// Refuses names that are not a single, ordinary path component. A directory this call
/// created is removed again when the move fails (an unprivileged caller may create cgroups
/// it may not enter), so a failure leaves nothing behind.
pub fn create_child_and_enter(parent: &Path, name: &str) -> io::Result<PathBuf> {
    if !cgroup_path::valid_child_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid cgroup name '{}'", name.escape_debug()),
        ));
    }
    let dir = parent.join(name);
    let created = match create_marked(&dir, std::process::id()) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(e),
    };
    if let Err(e) = enter(&dir) {
        if created {
            let _ = fs::remove_dir(&dir);
        }
        return Err(e);
    }
    Ok(dir)
}

/// A child cgroup this process created and entered (ad hoc mode).
pub struct CreatedChild {
    pub dir: PathBuf,
    /// The directory, open as [`open_cgroup_dir`] opens it (for the marker, and then for the
    /// caller to keep rather than open it again); `None` when that failed, which `unmarked`
    /// then tells.
    pub fd: Option<OwnedFd>,
    /// Why the [`Owner`] marker could not be set, if it could not: then no later run will
    /// remove the directory (it cannot prove it ours), and it stays until removed by hand.
    pub unmarked: Option<io::Error>,
}

/// Ad hoc mode: creates a new child cgroup of `parent` for this process alone, named
/// `bindif-launch-PID` (`-N` appended when that name is taken), marks it as ours and moves the
/// calling process in. Never reuses an existing directory. On failure, returns the directory
/// it tried, and removes it again if it was created (a caller that may create cgroups but not
/// move itself, say): nothing is left behind.
pub fn create_adhoc_child_and_enter(parent: &Path) -> Result<CreatedChild, (PathBuf, io::Error)> {
    let child = create_adhoc_child(parent)?;
    match enter(&child.dir) {
        Ok(()) => Ok(child),
        Err(e) => {
            let _ = fs::remove_dir(&child.dir);
            Err((child.dir, e))
        }
    }
}

/// [`create_adhoc_child_and_enter`] without the move: the command is started inside the new
/// cgroup instead (`clone::spawn_into`), or this process enters it later.
pub fn create_adhoc_child(parent: &Path) -> Result<CreatedChild, (PathBuf, io::Error)> {
    let pid = std::process::id();
    let mut attempt = 0;
    loop {
        let dir = parent.join(cgroup_path::adhoc_child_name(pid, attempt));
        match create_marked(&dir, pid) {
            Ok(Marked { fd, unmarked }) => {
                return Ok(CreatedChild { dir, fd, unmarked });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err((dir, e)),
        }
    }
}

/// A directory [`create_marked`] created.
struct Marked {
    /// Open, when it could be opened.
    fd: Option<OwnedFd>,
    /// Why the marker could not be set, if it could not.
    unmarked: Option<io::Error>,
}

/// `mkdir` and mark the new directory as ours (`pid`: this process's). Marked after creation:
/// until then the directory carries no marker, and clean-up leaves unmarked directories alone.
fn create_marked(dir: &Path, pid: u32) -> io::Result<Marked> {
    fs::create_dir(dir)?;
    let fd = match open_cgroup_dir(dir) {
        Ok(fd) => fd,
        Err(e) => {
            return Ok(Marked {
                fd: None,
                unmarked: Some(e),
            })
        }
    };
    let unmarked = owner_with_pid(pid)
        .and_then(|owner| set_owner(fd_of(&fd), &owner))
        .err();
    Ok(Marked {
        fd: Some(fd),
        unmarked,
    })
}

fn fd_of(fd: &OwnedFd) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(fd)
}

/// Where the marker lives: `trusted.*` (settable only with CAP_SYS_ADMIN, so nobody else can
/// forge it), else `user.*` (cgroupfs supports it since Linux 5.7; the directory's owner can
/// set it, which is the caller itself when it created the directory without CAP_SYS_ADMIN).
const OWNER_XATTRS: [&[u8]; 2] = [
    b"trusted.bindif-launch.owner\0",
    b"user.bindif-launch.owner\0",
];

/// This process as the [`Owner`] of what it creates.
pub fn this_owner() -> io::Result<Owner> {
    owner_with_pid(std::process::id())
}

/// [`this_owner`], `pid` being this process's (asked once per start: `getpid` is a system call).
fn owner_with_pid(pid: u32) -> io::Result<Owner> {
    let pidns = fs::metadata("/proc/self/ns/pid")?.ino();
    // One read(2), not the doubling chunks of read_to_string: every ad hoc start asks this.
    let stat = super::process::read_proc_single(Path::new("/proc/self/stat"), 4096)?;
    let stat = String::from_utf8_lossy(&stat);
    let start = cgroup_path::stat_start_time(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed /proc/self/stat"))?;
    Ok(Owner { pidns, pid, start })
}

fn set_owner(fd: BorrowedFd, owner: &Owner) -> io::Result<()> {
    let value = owner.encode();
    let mut last = io::Error::from_raw_os_error(libc::EOPNOTSUPP);
    for name in OWNER_XATTRS {
        // SAFETY: `name` is NUL-terminated, `value` lives across the call and its length is
        // passed; `fd` is an open descriptor we borrow.
        let r = unsafe {
            libc::fsetxattr(
                fd.as_raw_fd(),
                name.as_ptr().cast(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if r == 0 {
            return Ok(());
        }
        last = io::Error::last_os_error();
    }
    Err(last)
}

/// The marker on a directory, if it carries one of ours.
pub fn read_owner(fd: BorrowedFd) -> Option<Owner> {
    OWNER_XATTRS.iter().find_map(|name| {
        let mut buf = [0u8; 128];
        // SAFETY: `name` is NUL-terminated; the kernel writes at most `buf.len()` bytes to it.
        let n = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                name.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        usize::try_from(n)
            .ok()
            .and_then(|n| Owner::decode(&buf[..n]))
    })
}

/// Whether the process a marker names is known to have exited (see
/// [`cgroup_path::owner_exited`]; uncertain counts as alive).
fn owner_exited(owner: &Owner) -> bool {
    let Ok(our_pidns) = fs::metadata("/proc/self/ns/pid").map(|m| m.ino()) else {
        return false;
    };
    let Ok(pid) = libc::pid_t::try_from(owner.pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    let liveness = if unsafe { libc::kill(pid, 0) } < 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        Liveness::NoProcess
    } else {
        Liveness::Running(
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| cgroup_path::stat_start_time(&s)),
        )
    };
    cgroup_path::owner_exited(owner, our_pidns, liveness)
}

fn flock(fd: BorrowedFd, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we borrow; no memory is passed.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Whether `path` still names the directory open as `fd` (it was not removed and re-created).
fn still_at(path: &Path, fd: &OwnedFd) -> io::Result<bool> {
    let now = fs::metadata(path)?;
    let held = fs::File::from(fd.try_clone()?).metadata()?;
    Ok(now.ino() == held.ino() && now.dev() == held.dev())
}

/// Removes the directory `path` if it is a leftover of ours: it carries our marker, its maker
/// has exited, it is empty, and no other run holds it (an exclusive, non-blocking `flock`:
/// a run entering it holds a shared one, another clean-up an exclusive one). Returns whether
/// it was removed; anything unexpected leaves it alone.
fn remove_if_exited_leftover(path: &Path) -> bool {
    let Ok(fd) = open_cgroup_dir(path) else {
        return false;
    };
    // Unmarked (another program's): not even locked.
    if read_owner(fd_of(&fd)).is_none() {
        return false;
    }
    if flock(fd_of(&fd), libc::LOCK_EX | libc::LOCK_NB).is_err() {
        return false;
    }
    // Checked under the lock: no run of ours removes the directory while we hold it, so the
    // path keeps naming this directory until the rmdir below.
    if !still_at(path, &fd).unwrap_or(false) {
        return false;
    }
    match read_owner(fd_of(&fd)) {
        Some(owner) if owner_exited(&owner) => fs::remove_dir(path).is_ok(),
        _ => false,
    }
}

/// Ad hoc mode's clean-up: removes the children of `parent` named `bindif-launch-PID[-N]` that are
/// leftovers of ours (see [`remove_if_exited_leftover`]), except `keep`. Returns how many.
pub fn remove_adhoc_leftovers(parent: &Path, keep: &Path) -> usize {
    let Ok(entries) = fs::read_dir(parent) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| cgroup_path::is_adhoc_child_name(e.file_name().as_bytes()))
        .map(|e| e.path())
        .filter(|p| p != keep && remove_if_exited_leftover(p))
        .count()
}

/// A marked cgroup directory held for the package's removal (`--remove-leftovers`): open,
/// exclusively `flock`ed (no run of ours enters it or removes it meanwhile: a run entering
/// holds a shared lock, a clean-up an exclusive one) and checked to be still at its path.
pub struct HeldLeftover {
    path: PathBuf,
    fd: OwnedFd,
    owner: Owner,
}

/// What [`hold_leftover`] found at a path.
pub enum Hold {
    /// No marker of ours: another program's directory, never touched (not even locked).
    Unmarked,
    /// Ours, but another run of ours holds it (entering it, or cleaning up).
    Locked,
    /// Gone meanwhile (removed by a concurrent clean-up, or replaced).
    Gone,
    Held(HeldLeftover),
}

/// Opens the directory `path` and, when it carries our marker, takes it for removal (see
/// [`HeldLeftover`]).
pub fn hold_leftover(path: &Path) -> io::Result<Hold> {
    let fd = match open_cgroup_dir(path) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Hold::Gone),
        Err(e) => return Err(e),
    };
    if read_owner(fd_of(&fd)).is_none() {
        return Ok(Hold::Unmarked);
    }
    match flock(fd_of(&fd), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Hold::Locked),
        Err(e) => return Err(e),
    }
    if !still_at(path, &fd).unwrap_or(false) {
        return Ok(Hold::Gone);
    }
    // Read again under the lock: what decides is the marker of the directory we hold.
    Ok(match read_owner(fd_of(&fd)) {
        Some(owner) => Hold::Held(HeldLeftover {
            path: path.to_path_buf(),
            fd,
            owner,
        }),
        None => Hold::Unmarked,
    })
}

impl HeldLeftover {
    pub fn fd(&self) -> BorrowedFd<'_> {
        fd_of(&self.fd)
    }

    /// Whether the process that created it is known to have exited (uncertain: alive).
    pub fn maker_exited(&self) -> bool {
        owner_exited(&self.owner)
    }

    /// The pid of the process that created it, for messages.
    pub fn maker_pid(&self) -> u32 {
        self.owner.pid
    }

    /// Whether a process is in it (its own `cgroup.procs`; its children are walked first).
    pub fn has_processes(&self) -> bool {
        !procs_at(self.fd()).is_empty()
    }

    /// `rmdir`, still under the lock. The kernel refuses (EBUSY) a cgroup with a process or a
    /// child in it, whatever this process believed.
    pub fn remove(self) -> io::Result<()> {
        fs::remove_dir(&self.path)
    }
}

/// `umount2(2)` of `path` without `MNT_DETACH`: the kernel refuses (EBUSY) while anything uses
/// the mount (an open file, a working directory below it), rather than hiding it from view and
/// keeping it alive for its users.
pub fn unmount(path: &Path) -> io::Result<()> {
    let c = cstring(path)?;
    // SAFETY: `c` is NUL-terminated and lives across the call; no other memory is passed.
    if unsafe { libc::umount2(c.as_ptr(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens a new cgroup2 mount that is attached nowhere (`fsopen`/`fsmount`, Linux 5.2): the
/// hierarchy is reachable only through the returned descriptor (as `/proc/self/fd/N`) and
/// goes away with it, so nothing is mounted and no mount point is created anywhere. In a
/// cgroup namespace its root is the namespace's root, as `/proc/self/cgroup` paths are.
/// `flags` are the hierarchy's flags to keep (see `cgroup_path::cgroup2_flags`): the new
/// superblock configuration sets them for the whole hierarchy. Needs CAP_SYS_ADMIN.
pub fn open_detached_cgroup2(flags: &[String]) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_long = 1;
    const FSCONFIG_SET_FLAG: libc::c_long = 0;
    const FSCONFIG_CMD_CREATE: libc::c_long = 6;
    const FSMOUNT_CLOEXEC: libc::c_long = 1;
    const MOUNT_ATTR_NOSUID_NODEV_NOEXEC: libc::c_long = 0x2 | 0x4 | 0x8;
    // SAFETY: the name is NUL-terminated; the result is checked and then owned.
    let fs = crate::sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_fsopen,
            b"cgroup2\0".as_ptr() as *const libc::c_char,
            FSOPEN_CLOEXEC,
        )
    })?;
    // SAFETY: `fs` is a fresh descriptor that nobody else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as libc::c_int) };
    for flag in flags {
        let key = cstring(flag)?;
        // SAFETY: FSCONFIG_SET_FLAG takes a NUL-terminated key that lives across the call, no
        // value and no aux argument.
        crate::sys::cvt(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_FLAG,
                key.as_ptr(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        })?;
    }
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux argument.
    crate::sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: plain integer arguments; the result is checked and then owned.
    let mnt = crate::sys::cvt(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_NOSUID_NODEV_NOEXEC,
        )
    })?;
    // SAFETY: `mnt` is a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as libc::c_int) })
}

/// Mounts a private cgroup2 hierarchy at `at` (creating the directory) unless one is already
/// mounted there, with the hierarchy's `flags` kept (as for [`open_detached_cgroup2`]). Needed
/// only on legacy hosts, where systemd uses no cgroup2, and where nothing else works.
pub fn mount_private_cgroup2(at: &Path, flags: &[String]) -> io::Result<()> {
    let created = !at.exists();
    fs::create_dir_all(at)?;
    if statfs_magic(at)? == cgroup_path::CGROUP2_SUPER_MAGIC {
        return Ok(());
    }
    let target = cstring(at)?;
    let data = cstring(flags.join(","))?;
    // SAFETY: all strings are NUL-terminated and live across the call.
    let r = unsafe {
        libc::mount(
            b"cgroup2\0".as_ptr() as *const libc::c_char,
            target.as_ptr(),
            b"cgroup2\0".as_ptr() as *const libc::c_char,
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data.as_ptr() as *const libc::c_void,
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
/// the private cgroup2 at `mount`, marking each directory it creates as ours, and moves the
/// calling process in. Refuses the root. The last directory may be a leftover of an exited
/// earlier run: it is held with a shared `flock` while we enter, so a concurrent clean-up
/// cannot remove it under us (one already removing it makes us create it again).
pub fn enter_mirror(mount: &Path, unit_path: impl AsRef<std::ffi::OsStr>) -> io::Result<PathBuf> {
    let dir = cgroup_path::join_non_root(mount, unit_path)?;
    let mut tries = 0;
    loop {
        match create_marked_all(mount, &dir).and_then(|()| enter_held(&dir)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 8 => tries += 1,
            r => return r.map(|()| dir),
        }
    }
}

/// On legacy hosts, ad hoc mode: creates the mirror of our `name=systemd` path `own` in the
/// private cgroup2 at `mount` like `mkdir -p` (marking each directory it creates as ours; they
/// are shared with every other run in the same cgroup), then a new child of it for this run
/// alone, as [`create_adhoc_child_and_enter`] does on cgroup2 hosts, and moves the calling
/// process in. Never enters a child found in place: another run with the same PID number (in
/// another PID namespace, whose processes share our `name=systemd` cgroup) may still run a
/// command bound in it, and attaching to it would rebind that command. A concurrent clean-up
/// may remove a shared directory, left empty by an exited run, between our `mkdir -p` and our
/// child's `mkdir` (ENOENT): then the path is made again. Once our child is in it, no clean-up
/// removes it (the kernel refuses to `rmdir` a cgroup with a child), and none removes the child
/// itself while we run (it carries our marker).
pub fn create_adhoc_mirror_child_and_enter(
    mount: &Path,
    own: impl AsRef<std::ffi::OsStr>,
) -> Result<CreatedChild, (PathBuf, io::Error)> {
    // Our own path may be the root (a process in no unit): the child below it is not.
    let parent =
        cgroup_path::join(mount, own.as_ref()).map_err(|e| (mount.to_path_buf(), e.into()))?;
    let mut tries = 0;
    loop {
        let r = create_marked_all(mount, &parent)
            .map_err(|e| (parent.clone(), e))
            .and_then(|()| create_adhoc_child_and_enter(&parent));
        match r {
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound && tries < 8 => tries += 1,
            r => return r,
        }
    }
}

/// On legacy hosts, for the unit's privileged attach step: creates the unit's path (as
/// [`enter_mirror`]) without moving the caller in. The unit's wrapped commands enter it later
/// with [`enter_prepared`].
pub fn prepare_mirror(mount: &Path, unit_path: impl AsRef<std::ffi::OsStr>) -> io::Result<PathBuf> {
    let dir = cgroup_path::join_non_root(mount, unit_path)?;
    create_marked_all(mount, &dir)?;
    Ok(dir)
}

/// On legacy hosts, for a wrapped command: moves the caller into the mirror `dir` that the
/// unit's attach step prepared, creating nothing. It runs inside the unit's sandbox, so it makes
/// only the calls any syscall filter allows (`openat`, `write`, `close`): no `mkdir` of a
/// missing mirror (ENOENT instead), no mount, no `bpf()`.
pub fn enter_prepared(dir: &Path) -> io::Result<()> {
    enter(dir)
}

/// On legacy hosts, for a wrapped command that may not move itself (another user, or a
/// read-only `/run`): asks the enter service to move the process `pid` by writing `"\nPID\n"` to
/// the FIFO at `fifo`. The leading newline ends whatever partial line another writer left in the
/// FIFO, so no writer can glue its bytes to ours and have our request misread. Opened non-blocking, so a FIFO nobody reads (the socket unit is not
/// running) fails at once with ENXIO instead of blocking the start; written with one `write(2)`
/// of fewer than PIPE_BUF bytes, so the line is never interleaved with another writer's. A FIFO
/// is a special file: opening it for writing works on a read-only mount (`ProtectSystem=strict`).
/// Only `openat`, `write` and `close`: nothing a `SystemCallFilter=@system-service` forbids.
pub fn request_move(fifo: &Path, pid: u32) -> io::Result<()> {
    let c = cstring(fifo)?;
    // SAFETY: `c` is NUL-terminated; the returned fd is checked and then owned.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let line = format!("\n{pid}\n");
    // SAFETY: `line` lives across the call and its length is passed; `fd` is open.
    let n = unsafe { libc::write(fd.as_raw_fd(), line.as_ptr().cast(), line.len()) };
    match usize::try_from(n) {
        Ok(n) if n == line.len() => Ok(()),
        // A pipe write below PIPE_BUF is all or nothing; anything else is not ours to finish.
        Ok(_) => Err(io::Error::from_raw_os_error(libc::EIO)),
        Err(_) => Err(io::Error::last_os_error()),
    }
}

/// For the enter service: moves the process `pid` into the cgroup open as `dir` (writes the pid
/// to its `cgroup.procs`, reached through the directory fd, so the cgroup judged is the one
/// written to).
pub fn move_pid(dir: BorrowedFd<'_>, pid: u32) -> io::Result<()> {
    let c = cstring(Path::new("cgroup.procs"))?;
    // SAFETY: `dir` is open for the call, `c` NUL-terminated; the fd is checked and then owned.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut f = fs::File::from(
        // SAFETY: `fd` is a fresh descriptor that nobody else owns.
        unsafe { OwnedFd::from_raw_fd(fd) },
    );
    f.write_all(format!("{pid}\n").as_bytes())
}

/// Waits up to `timeout_ms` for `fd` to become readable: `Ok(false)` when the time ran out.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one pollfd that lives across the call.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One `read(2)` from `fd` into `buf`; a non-blocking fd with nothing to read gives `Ok(0)`.
pub fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is ours to write, its length is passed; `fd` is open.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(e),
        }
    }
}

/// Opens `path` (the enter FIFO, when the service is started by hand rather than by its socket
/// unit) for reading without blocking: O_RDWR, so the FIFO always has a writer (us) and never
/// reports end-of-file between requests, as systemd holds it.
pub fn open_fifo_reader(path: &Path) -> io::Result<OwnedFd> {
    let c = cstring(path)?;
    // SAFETY: `c` is NUL-terminated; the returned fd is checked and then owned.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The one descriptor systemd passed this process (`$LISTEN_FDS`=1 for our `$LISTEN_PID`:
/// fd 3, see sd_listen_fds(3)): the enter FIFO when `bindif-launch-enter.socket` started us.
pub fn listen_fd() -> Option<OwnedFd> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let one = std::env::var("LISTEN_FDS").ok().as_deref() == Some("1");
    if !(ours && one) {
        return None;
    }
    // SAFETY: systemd passed fd 3 to this process for it to own; nothing else claims it.
    Some(unsafe { OwnedFd::from_raw_fd(3) })
}

/// Opens `/proc/PID` of a process: files read through it later belong to this process, or
/// fail with ESRCH once it has exited, never to a process that reused the pid.
pub fn open_proc_dir(pid: u32) -> io::Result<OwnedFd> {
    open_cgroup_dir(Path::new(&format!("/proc/{pid}")))
}

/// Reads the file `name` of the directory `dir` whole.
pub fn read_file_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut open_file_at(dir, OsStr::new(name))?, &mut out)?;
    Ok(out)
}

/// `mkdir -p` below `mount`, marking each directory created.
fn create_marked_all(mount: &Path, dir: &Path) -> io::Result<()> {
    let rel = dir.strip_prefix(mount).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "mirror path outside the mount")
    })?;
    let mut cur = mount.to_path_buf();
    let pid = std::process::id();
    for part in rel.components() {
        cur.push(part);
        match create_marked(&cur, pid) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn enter_held(dir: &Path) -> io::Result<()> {
    let fd = open_cgroup_dir(dir)?;
    flock(fd_of(&fd), libc::LOCK_SH)?;
    if !still_at(dir, &fd)? {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    enter(dir)
}

/// Removes leftover mirror directories below `mount`, deepest first, except `keep` and its
/// ancestors: only those of ours whose maker has exited and that are empty (see
/// [`remove_if_exited_leftover`]); anything else, above all another program's cgroups, stays.
/// With `systemd_v1` (the `name=systemd` hierarchy, `/sys/fs/cgroup/systemd` below the root),
/// a mirror whose path exists there also stays: its unit is running, and its attach step (the
/// maker, long exited) prepared it for commands the unit has yet to run. Returns how many were
/// removed.
pub fn remove_empty_leftovers(
    mount: &Path,
    keep: Option<&Path>,
    systemd_v1: Option<&Path>,
) -> io::Result<usize> {
    struct Walk<'a> {
        mount: &'a Path,
        keep: Option<&'a Path>,
        systemd_v1: Option<&'a Path>,
        removed: usize,
    }
    impl Walk<'_> {
        fn unit_running(&self, path: &Path) -> bool {
            let (Some(v1), Ok(rel)) = (self.systemd_v1, path.strip_prefix(self.mount)) else {
                return false;
            };
            // Not following a symlink: the v1 hierarchy holds none, and a path that is not a
            // directory there names no unit.
            fs::symlink_metadata(v1.join(rel)).is_ok_and(|m| m.is_dir())
        }

        fn walk(&mut self, dir: &Path) -> io::Result<()> {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let path = entry.path();
                match self.walk(&path) {
                    // Removed concurrently by another run's clean-up.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    r => r?,
                }
                if self.keep.is_some_and(|k| k.starts_with(&path)) || self.unit_running(&path) {
                    continue;
                }
                if remove_if_exited_leftover(&path) {
                    self.removed += 1;
                }
            }
            Ok(())
        }
    }
    let mut w = Walk {
        mount,
        keep,
        systemd_v1,
        removed: 0,
    };
    w.walk(mount)?;
    Ok(w.removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    /// `proc/self/cgroup` below a root, as the cgroup tests' fixture trees hold it; a root
    /// without one is an error; the real one has the `0::` line every kernel since 4.5 writes.
    #[test]
    fn proc_self_cgroup_is_read_below_the_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup/hybrid");
        let pc = read_proc_self_cgroup(&root).unwrap();
        assert_eq!(
            pc.systemd.as_deref(),
            Some(OsStr::new("/system.slice/demo.service"))
        );
        assert!(read_proc_self_cgroup(&root.join("nonexistent")).is_err());
        assert!(read_proc_self_cgroup(Path::new("/"))
            .unwrap()
            .unified
            .is_some());
    }

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
        // The same with O_PATH, which opens the directory only to name it.
        let path_err = |name: &str| {
            open_cgroup_path_at(dir.as_fd(), OsStr::new(name))
                .unwrap_err()
                .raw_os_error()
        };
        assert_eq!(path_err("link"), Some(libc::ENOTDIR));
        assert_eq!(path_err("file"), Some(libc::ENOTDIR));
        assert_eq!(path_err("gone"), Some(libc::ENOENT));
        let a_path = open_cgroup_path_at(dir.as_fd(), OsStr::new("a")).unwrap();
        assert!(open_file_at(a_path.as_fd(), OsStr::new("cgroup.procs")).is_ok());
        fs::remove_dir_all(&base).unwrap();
    }
}
