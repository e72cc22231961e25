// SPDX-License-Identifier: LGPL-2.1-or-later
//! Starting the command as a child process directly inside a cgroup (`clone3(2)` with
//! `CLONE_INTO_CGROUP`, Linux 5.7+), and the parent's part afterwards: pass signals through,
//! wait, and end the way the child ended, as `nsenter --fork` and `unshare --fork` do.
//!
//! Why a child at all: moving a process between cgroups (a `cgroup.procs` write) takes the
//! cgroup subsystem's threadgroup lock for writing, which waits for an RCU grace period when
//! no other migration ran just before — several milliseconds for every isolated ad hoc start.
//! A process born inside the cgroup never migrates.
//!
//! The child runs nothing but async-signal-safe calls between `clone3` and `execve`: everything
//! it needs (paths, the argument vector, the saved signal state) is prepared before the clone.
//!
//! On x86_64 the child shares this process's memory until its `execve` (`CLONE_VM` with
//! `CLONE_VFORK`, as `posix_spawn` does; this process waits meanwhile), on a stack of its own:
//! no copy of the page tables, no copy-on-write faults, and a failed `execve`'s errno comes back
//! through memory. A child on a new stack cannot return into Rust from the system call, so the
//! clone is a few lines of assembly that call [`child_main`] there ([`clone_sharing`]). Other
//! architectures start a copy of this process (plain `clone3`), which reports a failed
//! `execve` through a pipe.

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The exit status of a child whose `execve` failed (after reporting the errno), as a shell's
/// for a command it cannot execute.
const EXEC_FAILED_STATUS: libc::c_int = 127;

/// `CLONE_INTO_CGROUP` (include/uapi/linux/sched.h).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` as of Linux 5.7 (`CLONE_ARGS_SIZE_VER2`, 88 bytes). Kernels 5.3–5.6
/// know a shorter one and refuse this size with E2BIG (the cgroup field is not zero); older
/// kernels have no `clone3` (ENOSYS).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The signals the parent passes on to the child. Stop signals are not among them: the
/// terminal sends SIGTSTP/SIGTTIN/SIGTTOU to the whole foreground process group, the parent
/// included, which then stops by their default action as the child does (see [`Spawned::wait`]).
pub const FORWARDED: [libc::c_int; 9] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGALRM,
    libc::SIGCONT,
];

/// How the child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Exited(i32),
    Signaled(i32),
    /// Its `execve` failed with this errno: the command never ran.
    ExecFailed(i32),
}

/// A running child. The parent keeps the forwarded signals blocked until it exits.
pub struct Spawned {
    pid: libc::pid_t,
    set: libc::sigset_t,
    exec_errno: ExecReport,
}

/// How the errno of the child's failed `execve` reaches the parent.
enum ExecReport {
    /// Known already: the child shared our memory and we waited for its `execve` (`None`: it
    /// succeeded).
    Known(Option<i32>),
    /// Read from this pipe once the child has ended: the child wrote it before exiting, or
    /// close-on-exec closed its end when `execve` succeeded.
    Pipe(OwnedFd),
}

/// How the child is made: sharing this process's memory until its `execve`, or as a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Sharing,
    Copying,
}

/// The way [`spawn_into`] makes children on this architecture.
pub const HOW: How = if cfg!(target_arch = "x86_64") {
    How::Sharing
} else {
    How::Copying
};

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }
}

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write the set we own.
    unsafe {
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

/// The saved signal state: the mask and SIGCHLD's disposition before [`spawn_into`] changed
/// them (it blocks the forwarded signals and SIGCHLD, and resets an ignored SIGCHLD, with which
/// the kernel would reap the child itself and leave nothing to wait for).
struct Saved {
    mask: libc::sigset_t,
    /// SIGCHLD's disposition, when it had to be changed; `None` (the usual case: execve leaves
    /// SIGCHLD at its default or ignored, with no flags) when it was the default already, which
    /// spares the child a call to restore it before its execve.
    sigchld: Option<libc::sigaction>,
}

/// Whether SIGCHLD's disposition `act` must be reset for [`Spawned::wait`]: ignored (or
/// `SA_NOCLDWAIT`), the kernel would reap the child itself; with `SA_NOCLDSTOP`, a child that
/// stops would go unnoticed. Anything but the plain default is reset, as it always was (execve
/// leaves nothing else: it resets handlers and clears the flags).
fn sigchld_needs_reset(act: &libc::sigaction) -> bool {
    act.sa_sigaction != libc::SIG_DFL
        || act.sa_flags & (libc::SA_NOCLDWAIT | libc::SA_NOCLDSTOP) != 0
}

/// `rt_sigprocmask(2)` itself, not the C library's `sigprocmask`: the mask saved here is the one
/// the command must start with, and the C libraries leave their internal signals out of it —
/// musl reports signals 32–34 as unblocked whatever the mask (34 is glibc's SIGRTMIN, the first
/// real-time signal glibc programs use), glibc never sets 32 and 33. Async-signal-safe (used in
/// the child).
fn rt_sigprocmask(
    how: libc::c_int,
    set: Option<&libc::sigset_t>,
    old: Option<&mut libc::sigset_t>,
) -> libc::c_long {
    let set = set.map_or(std::ptr::null(), |s| s as *const libc::sigset_t);
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut libc::sigset_t);
    // SAFETY: both pointers are null or point to a sigset_t we borrow for the call; the kernel
    // reads and writes its own sigset_t, 64 signals in 8 bytes, which libc's (larger) one
    // starts with.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set, old, 8usize) }
}

fn block_signals(set: &libc::sigset_t) -> io::Result<Saved> {
    // SAFETY: plain data for the calls below to fill; pointers to locals only.
    unsafe {
        let mut saved = Saved {
            mask: mem::zeroed(),
            sigchld: None,
        };
        if rt_sigprocmask(libc::SIG_BLOCK, Some(set), Some(&mut saved.mask)) < 0 {
            return Err(io::Error::last_os_error());
        }
        let undo = |saved: &Saved| {
            rt_sigprocmask(libc::SIG_SETMASK, Some(&saved.mask), None);
        };
        let mut old: libc::sigaction = mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) < 0 {
            let e = io::Error::last_os_error();
            undo(&saved);
            return Err(e);
        }
        if sigchld_needs_reset(&old) {
            let mut dfl: libc::sigaction = mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            if libc::sigaction(libc::SIGCHLD, &dfl, std::ptr::null_mut()) < 0 {
                let e = io::Error::last_os_error();
                undo(&saved);
                return Err(e);
            }
            saved.sigchld = Some(old);
        }
        Ok(saved)
    }
}

fn restore_signals(saved: &Saved) {
    // SAFETY: restores state saved by `block_signals`; async-signal-safe (used in the child).
    unsafe {
        if let Some(old) = &saved.sigchld {
            libc::sigaction(libc::SIGCHLD, old, std::ptr::null_mut());
        }
        rt_sigprocmask(libc::SIG_SETMASK, Some(&saved.mask), None);
    }
}

/// Starts `path` with `argv` (and this process's environment) as a child process born inside
/// the cgroup directory `cgroup`. An error means no child was made (no `clone3`, no
/// `CLONE_INTO_CGROUP`, a seccomp filter, a process limit): nothing changed, and the caller may
/// start the command another way. On success the forwarded signals and SIGCHLD stay blocked in
/// this process for [`Spawned::wait`]; the child starts with the mask and dispositions this
/// process had. Whether its `execve` succeeded is known when it ends ([`End::ExecFailed`]):
/// waiting for it here would cost one more wake-up of this process at every start.
pub fn spawn_into(cgroup: BorrowedFd<'_>, path: &CString, argv: &[CString]) -> io::Result<Spawned> {
    spawn_into_as(HOW, cgroup, path, argv)
}

/// [`spawn_into`], the child made as `how` says (both ways are tested on x86_64).
pub fn spawn_into_as(
    how: How,
    cgroup: BorrowedFd<'_>,
    path: &CString,
    argv: &[CString],
) -> io::Result<Spawned> {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let set = forwarded_set();
    let saved = block_signals(&set)?;
    let mut start = ChildStart {
        path: path.as_ptr(),
        argv: ptrs.as_ptr(),
        // SAFETY: libc's environment block, unchanged since start-up (see process::exec).
        envp: unsafe { environ },
        saved: &saved,
        errno: 0,
        report: -1,
    };
    let made = match how {
        How::Sharing => clone_sharing(cgroup, &mut start).map(|pid| {
            // The child has executed the command or exited by now (CLONE_VFORK).
            // SAFETY: the child wrote it, if at all, before it exited; it shares nothing now.
            let errno = unsafe { std::ptr::read_volatile(&start.errno) };
            (pid, ExecReport::Known((errno != 0).then_some(errno)))
        }),
        How::Copying => clone_copying(cgroup, &mut start),
    };
    match made {
        Ok((pid, exec_errno)) => Ok(Spawned {
            pid,
            set,
            exec_errno,
        }),
        Err(e) => {
            restore_signals(&saved);
            Err(e)
        }
    }
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// What the child needs, prepared before the clone: it only reads these (and writes `errno`).
#[repr(C)]
struct ChildStart {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    saved: *const Saved,
    /// The errno of a failed `execve`, written by a child sharing our memory; 0 otherwise.
    errno: libc::c_int,
    /// A copied child writes that errno to this descriptor instead; -1 for a sharing one.
    report: libc::c_int,
}

/// The child, from the clone to its `execve` or `_exit`: only async-signal-safe calls, on data
/// prepared before the clone.
extern "C" fn child_main(start: *mut ChildStart) -> ! {
    // SAFETY: `start` points to the parent's ChildStart, alive (the parent waits for us, or we
    // have our own copy of it) and fully initialised before the clone.
    unsafe {
        let s = &mut *start;
        restore_signals(&*s.saved);
        libc::execve(s.path, s.argv, s.envp);
        let errno = *libc::__errno_location();
        if s.report >= 0 {
            libc::write(
                s.report,
                (&errno as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>(),
            );
        } else {
            std::ptr::write_volatile(&mut s.errno, errno);
        }
        libc::_exit(EXEC_FAILED_STATUS);
    }
}

/// `clone3` arguments for a child born in `cgroup` with these extra flags.
fn clone_args(cgroup: BorrowedFd<'_>, flags: u64) -> CloneArgs {
    CloneArgs {
        flags: CLONE_INTO_CGROUP | flags,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    }
}

/// A child that is a copy of this (single-threaded) process, reporting a failed `execve`
/// through a pipe.
fn clone_copying(
    cgroup: BorrowedFd<'_>,
    start: &mut ChildStart,
) -> io::Result<(libc::pid_t, ExecReport)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors nobody else owns.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    start.report = wr.as_raw_fd();
    let mut args = clone_args(cgroup, 0);
    // SAFETY: `args` is a valid clone_args of the size passed. Without CLONE_VM the child gets
    // a copy of this process and may go on on the same stack, straight into child_main.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        child_main(start);
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((pid as libc::pid_t, ExecReport::Pipe(rd)))
}

/// The child's stack when it shares our memory. One is enough: [`spawn_into`] returns only
/// once the child no longer uses it (CLONE_VFORK), and the launcher starts one command. 64 KiB
/// is many times what `child_main` and libc's `execve` need.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(16))]
struct ChildStack([u8; 64 * 1024]);

/// Held from the clone until the child no longer runs on the stack: CLONE_VFORK suspends only
/// the calling thread, and two threads calling [`spawn_into`] at once would otherwise start
/// two children on the one stack, where each restores the other's saved registers (and runs
/// the other's command). The launcher has one thread: the lock is never contended there.
#[cfg(target_arch = "x86_64")]
static CHILD_STACK: std::sync::Mutex<ChildStack> =
    std::sync::Mutex::new(ChildStack([0; 64 * 1024]));

/// A child sharing our memory until its `execve` (`CLONE_VM | CLONE_VFORK`): returns once it
/// has executed the command or exited. The `syscall` instruction returns twice: here with the
/// child's pid (or -errno), and in the child with 0 on its own stack, where it calls
/// [`child_main`] and never comes back.
#[cfg(target_arch = "x86_64")]
fn clone_sharing(cgroup: BorrowedFd<'_>, start: &mut ChildStart) -> io::Result<libc::pid_t> {
    let mut args = clone_args(cgroup, (libc::CLONE_VM | libc::CLONE_VFORK) as u64);
    // Only the child uses it, and never while a child of an earlier call still runs on it
    // (see ChildStack); a panic cannot have left it half-written (it holds nothing).
    let mut stack = CHILD_STACK.lock().unwrap_or_else(|e| e.into_inner());
    args.stack = std::ptr::addr_of_mut!(*stack) as u64;
    args.stack_size = mem::size_of::<ChildStack>() as u64;
    let ret: i64;
    // SAFETY: clone3 with a valid clone_args of the size passed. The kernel starts the child
    // with its stack pointer at the top of CHILD_STACK (16-byte aligned, so the `call` leaves
    // it as the ABI wants at a function's entry) and rax = 0; it moves `start` (r12, which the
    // kernel keeps) into the first argument and calls child_main, which ends in execve or
    // _exit. The parent sleeps until then (CLONE_VFORK), so `start`, `args` and everything
    // they point to stay alive and unchanged; it sees rax = pid or -errno, rcx and r11
    // clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call {child}",
            "ud2",
            "2:",
            child = sym child_main,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &mut args as *mut CloneArgs,
            in("rsi") mem::size_of::<CloneArgs>(),
            in("r12") start as *mut ChildStart,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    Ok(ret as libc::pid_t)
}

#[cfg(not(target_arch = "x86_64"))]
fn clone_sharing(cgroup: BorrowedFd<'_>, start: &mut ChildStart) -> io::Result<libc::pid_t> {
    let _ = (cgroup, start);
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The errno the child wrote before exiting, `None` when the pipe closed without one (execve
/// succeeded). Called once the child has ended, so it never blocks.
fn read_exec_errno(rd: &OwnedFd) -> Option<i32> {
    let mut errno: libc::c_int = 0;
    loop {
        // SAFETY: reads at most the size of `errno` into it.
        let n = unsafe {
            libc::read(
                rd.as_raw_fd(),
                (&mut errno as *mut libc::c_int).cast(),
                mem::size_of::<libc::c_int>(),
            )
        };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return (n == mem::size_of::<libc::c_int>() as isize).then_some(errno);
    }
}

impl Spawned {
    /// Waits for the child to end, passing the forwarded signals on to it meanwhile.
    ///
    /// A signal the terminal sent to the whole foreground process group (`si_code` SI_KERNEL:
    /// ^C, ^\, a window size change; see [`kernel_sent_to_group`]) reached the child too as
    /// long as it shares our group: it got its own copy, and a forwarded one would make two.
    /// Other signals from the kernel (a hang-up sent to us as the session leader, an alarm
    /// this process inherited across execve) reached us alone and are passed on. The child is
    /// never put into a process group of its own and the terminal's foreground group is left
    /// alone, as `nsenter --fork` and `unshare --fork` do: an interactive command is in the
    /// foreground exactly when the launcher is.
    ///
    /// A child stopped on its own (SIGSTOP sent to it) stops this process too, so a shell sees
    /// the job stopped, and is continued when this process is, as `nsenter --fork` does. One the
    /// terminal stopped (^Z) was stopped with us, and is running again when we run again.
    pub fn wait(self) -> io::Result<End> {
        // The process group is asked only when a signal is to be passed on (a system call),
        // the session only for a hang-up from the kernel.
        let mut our_group = None;
        let mut leads_session = None;
        loop {
            // SIGCHLD is blocked since before the clone and not ignored, so it is pending
            // once the child has ended or stopped, also before this first call: waiting for
            // it comes first, and `waitpid` is asked only then.
            // SAFETY: an all-zero siginfo_t is valid for sigwaitinfo to overwrite.
            let mut info: libc::siginfo_t = unsafe { mem::zeroed() };
            // SAFETY: the set is ours and blocked; `info` is a local.
            let sig = unsafe { libc::sigwaitinfo(&self.set, &mut info) };
            if sig < 0 || sig == libc::SIGCHLD {
                if let Some(end) = self.reap()? {
                    return Ok(end);
                }
                continue;
            }
            // SAFETY: getpgrp has no preconditions.
            let our_group = *our_group.get_or_insert_with(|| unsafe { libc::getpgrp() });
            // SAFETY: getpgid of our own (unreaped) child.
            let shares_group = unsafe { libc::getpgid(self.pid) } == our_group;
            if info.si_code == libc::SI_KERNEL && shares_group {
                // SAFETY: getsid and getpid have no preconditions.
                let leads = *leads_session
                    .get_or_insert_with(|| unsafe { libc::getsid(0) == libc::getpid() });
                if kernel_sent_to_group(sig, leads) {
                    continue;
                }
            }
            // SAFETY: kill of our own child, which cannot be reaped (and its pid reused) before
            // our waitpid.
            unsafe { libc::kill(self.pid, sig) };
        }
    }

    /// How the child ended, `None` while it runs (a stop of its own is followed first).
    fn reap(&self) -> io::Result<Option<End>> {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child, writing into a local.
            let r =
                unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG | libc::WUNTRACED) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r != self.pid {
                return Ok(None);
            }
            // Only a child that exited as a failed execve does, or was killed before it could,
            // can have written an errno: the pipe is read only then.
            let may_have_failed = (libc::WIFEXITED(status)
                && libc::WEXITSTATUS(status) == EXEC_FAILED_STATUS)
                || libc::WIFSIGNALED(status);
            if may_have_failed {
                let errno = match &self.exec_errno {
                    ExecReport::Known(e) => *e,
                    ExecReport::Pipe(rd) => read_exec_errno(rd),
                };
                if let Some(errno) = errno {
                    return Ok(Some(End::ExecFailed(errno)));
                }
            }
            if libc::WIFEXITED(status) {
                return Ok(Some(End::Exited(libc::WEXITSTATUS(status))));
            }
            if libc::WIFSIGNALED(status) {
                return Ok(Some(End::Signaled(libc::WTERMSIG(status))));
            }
            if libc::WIFSTOPPED(status) {
                self.follow_stop();
            }
            return Ok(None);
        }
    }

    fn follow_stop(&self) {
        if !process_stopped(self.pid) {
            return;
        }
        // SAFETY: stops and later continues processes of ours; no memory is passed.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGSTOP);
            libc::kill(self.pid, libc::SIGCONT);
        }
    }
}

/// Whether the kernel sends `sig` with `si_code` SI_KERNEL to a whole process group (ours,
/// which the child shares, so it has its own copy already) rather than to this process alone.
/// The terminal sends ^C (SIGINT), ^\ (SIGQUIT) and SIGWINCH to its foreground process group,
/// and SIGHUP with SIGCONT to it when its session leader goes; a hang-up of the terminal,
/// though, signals only the session leader (`tty_signal_session_leader`), which is this
/// process when it was started as a session's first command (`ssh -t host bindif-launch …`,
/// `setsid -c`, a terminal emulator's `-e`): the command, not a session leader, hears of the
/// hang-up only from us. SIGALRM from the kernel is always an alarm this process set or
/// inherited across execve (`alarm(2)`, `setitimer(2)`), which would have gone to the command
/// had it been executed in place.
fn kernel_sent_to_group(sig: libc::c_int, leads_session: bool) -> bool {
    match sig {
        libc::SIGINT | libc::SIGQUIT | libc::SIGWINCH => true,
        libc::SIGHUP | libc::SIGCONT => !leads_session,
        _ => false,
    }
}

/// Whether `pid` is stopped now (state `T` in /proc/PID/stat).
fn process_stopped(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        == Some('T')
}

/// Ends this process by `signal`, the way the child ended, so that whoever waits for us sees
/// the same wait status (as `unshare --fork` does): default disposition, unblocked, raised.
/// Core dumps are turned off first: the child's crash is not ours to dump (the status then
/// lacks the core-dumped flag). Returns only if the signal did not end the process.
pub fn die_of(signal: libc::c_int) {
    // SAFETY: plain syscalls on this process; the sigset and sigaction are locals.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        let mut dfl: libc::sigaction = mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &dfl, std::ptr::null_mut());
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::kill(libc::getpid(), signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(handler: libc::sighandler_t, flags: libc::c_int) -> libc::sigaction {
        // SAFETY: an all-zero sigaction is a valid value to fill in.
        let mut act: libc::sigaction = unsafe { mem::zeroed() };
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        act
    }

    #[test]
    fn only_what_the_terminal_sends_its_foreground_group_is_not_passed_on() {
        for leads in [false, true] {
            for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGWINCH] {
                assert!(kernel_sent_to_group(sig, leads), "{sig}");
            }
            // An alarm is this process's own.
            assert!(!kernel_sent_to_group(libc::SIGALRM, leads));
            for sig in [libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2] {
                assert!(!kernel_sent_to_group(sig, leads), "{sig}");
            }
        }
        // A hang-up: to the foreground group when its session leader goes, to the leader
        // alone when the terminal hangs up.
        for sig in [libc::SIGHUP, libc::SIGCONT] {
            assert!(kernel_sent_to_group(sig, false), "{sig}");
            assert!(!kernel_sent_to_group(sig, true), "{sig}");
        }
    }

    #[test]
    fn only_the_plain_default_sigchld_is_left_alone() {
        assert!(!sigchld_needs_reset(&action(libc::SIG_DFL, 0)));
        assert!(!sigchld_needs_reset(&action(
            libc::SIG_DFL,
            libc::SA_RESTART
        )));
        assert!(sigchld_needs_reset(&action(libc::SIG_IGN, 0)));
        assert!(sigchld_needs_reset(&action(
            libc::SIG_DFL,
            libc::SA_NOCLDWAIT
        )));
        assert!(sigchld_needs_reset(&action(
            libc::SIG_DFL,
            libc::SA_NOCLDSTOP
        )));
    }
}
