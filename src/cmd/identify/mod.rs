// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch identify [PID]` and `bindif-launch pids IFACE`: drop-in replacements for
//! iproute2's `ip vrf identify` and `ip vrf pids`, which only read iproute2's own `vrf/NAME`
//! cgroup names and so miss every binding made by us, by systemd's native
//! `BindNetworkInterface=` or by a `BPFProgram=` pin.
//!
//! Both ask the kernel instead of the cgroup's name: the `sock_create` programs on a cgroup
//! and on each of its ancestors, read into [`Level`]s, and the pure
//! [`effective`] decides which one binds a new socket. The output keeps iproute2's
//! shape (`identify`: the interface name or nothing; `pids`: `%5s  %s` lines of PID and
//! command name) and its exit statuses (0 found or not; 1 the lookup failed or the interface
//! does not exist; 255 a bad PID or extra arguments, iproute2's `invarg`).
//!
//! An ifindex is named in the caller's network namespace, where the interface the binding was
//! made for lives when the unit shares it. A process in another namespace is bound to an
//! interface of *that* namespace: `identify` says so on stderr instead of printing a name that
//! may belong to an unrelated interface here (only `ip vrf exec`'s `vrf/NAME`, named after the
//! VRF of the process's namespace, is printed, as iproute2 does), and `pids` leaves such
//! processes out (iproute2 separates namespaces too, by its `NETNS-ns/vrf/NAME` cgroup names).
//!
//! Reading another process's programs needs CAP_SYS_ADMIN. Without it both fall back to
//! iproute2's rule, the `vrf/NAME` in the cgroup path, and say on stderr that other bindings
//! are not seen.

mod model;

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use model::{
    effective, escape_path, identify_note, identify_text, is_iproute2_cgroup, parse_pid, pids_line,
    run_order, status_name, Binding, Level, Prog, Shown, Source, Verdict, Winner,
};

use crate::cgroup_path;
use crate::log_at;
use crate::program::{effect_of_program, Effect};
use crate::sys;
use crate::sys::bpf::{self, ProgInfo};
use crate::sys::netlink;

/// iproute2's `invarg()` exits with -1: a bad PID or an extra argument.
pub const EXIT_BAD_ARGUMENT: i32 = 255;
/// iproute2's `ip` returns 1 when a subcommand fails (no such process, no such interface).
pub const EXIT_FAILURE: i32 = 1;

/// Where to look: every path hangs off these, so tests can point them elsewhere.
#[derive(Clone, Debug)]
pub struct Env {
    /// procfs (`/proc`).
    pub proc: PathBuf,
    /// The cgroup2 mounts to read; `None`: systemd's and, on legacy hosts, our private
    /// mirror (see [`crate::cmd::status::default_hierarchies`]).
    pub hierarchies: Option<Vec<PathBuf>>,
}

impl Default for Env {
    fn default() -> Env {
        Env {
            proc: PathBuf::from("/proc"),
            hierarchies: None,
        }
    }
}

impl Env {
    fn hierarchies(&self) -> Vec<PathBuf> {
        self.hierarchies
            .clone()
            .unwrap_or_else(crate::cmd::status::default_hierarchies)
    }

    fn pid_file(&self, pid: u32, name: &str) -> PathBuf {
        self.proc.join(pid.to_string()).join(name)
    }

    /// The network namespace of `pid` (`None`: ours), as device and inode; `None` when it
    /// cannot be read (another user's process without privileges).
    fn net_ns(&self, pid: Option<u32>) -> Option<(u64, u64)> {
        let path = match pid {
            Some(p) => self.pid_file(p, "ns/net"),
            None => self.proc.join("thread-self/ns/net"),
        };
        fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }

    /// The command name `ip vrf pids` shows, from `/proc/PID/status`.
    fn command_name(&self, pid: u32) -> Option<String> {
        let text = fs::read_to_string(self.pid_file(pid, "status")).ok()?;
        status_name(&text).map(str::to_owned)
    }
}

/// Why the programs of a cgroup could not be read.
struct ReadError {
    path: PathBuf,
    source: io::Error,
}

impl ReadError {
    /// No privileges to read programs: the caller falls back to iproute2's names.
    fn unprivileged(&self) -> bool {
        matches!(
            self.source.raw_os_error(),
            Some(libc::EPERM) | Some(libc::EACCES)
        )
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Failed to query the BPF programs of cgroup {}: {}",
            escape_path(&self.path),
            sys::strerror(&self.source)
        )
    }
}

/// Path `rel` (`/…`) of the cgroup2 mount `h`.
fn full_path(h: &Path, rel: &Path) -> PathBuf {
    match rel.strip_prefix("/") {
        Ok(r) if !r.as_os_str().is_empty() => h.join(r),
        _ => h.to_path_buf(),
    }
}

/// What program `info`, attached to cgroup `path`, is and does.
fn classify(info: &ProgInfo, path: &Path) -> Prog {
    let source = match info.origin {
        Some(o) => Source::Ours(o),
        None if info.is_v260_native => Source::Native,
        None if is_iproute2_cgroup(path) => Source::Iproute2,
        None => Source::Foreign,
    };
    let binding = match info.ours_ifindex {
        Some(i) => Binding::Sets(i),
        None => match effect_of_program(&info.xlated) {
            Effect::Sets(i) => Binding::Sets(i),
            Effect::Leaves => Binding::Leaves,
            Effect::Unknown => Binding::Unknown,
            Effect::FromMap { map_id, offset } => match bpf::map_value_u32(map_id, offset) {
                Ok(i) => Binding::Sets(i),
                Err(e) => {
                    log_at!(
                        Warning,
                        "Failed to read map {map_id} of program {} ({}): {}, ignoring",
                        info.id,
                        info.name,
                        sys::strerror(&e)
                    );
                    Binding::Unknown
                }
            },
        },
    };
    Prog {
        id: info.id,
        name: info.name.clone(),
        source,
        binding,
    }
}

/// The `sock_create` hook of the cgroup open at `fd` (path `rel`).
fn read_level(fd: BorrowedFd<'_>, rel: &Path) -> io::Result<Level> {
    let q = bpf::query_full(fd)?;
    let mut progs = Vec::with_capacity(q.prog_ids.len());
    for id in q.prog_ids {
        match bpf::prog_info(id) {
            Ok(info) => progs.push(classify(&info, rel)),
            // Detached and freed while we looked.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Level {
        path: rel.to_path_buf(),
        attach_flags: q.attach_flags,
        progs,
    })
}

/// The hooks of cgroup `rel` of mount `h` and of each of its ancestors, root first.
fn read_chain(h: &Path, rel: &Path) -> Result<Vec<Level>, ReadError> {
    model::ancestry(rel)
        .into_iter()
        .map(|p| {
            let full = full_path(h, &p);
            sys::cgroup::open_cgroup_dir(&full)
                .and_then(|fd| read_level(fd.as_fd(), &p))
                .map_err(|source| ReadError { path: full, source })
        })
        .collect()
}

/// Writes `text`; a closed pipe is no error worth a word.
fn write_out(out: &mut dyn Write, text: &str) -> bool {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => false,
        Err(e) => {
            log_at!(Err, "Failed to write output: {e}");
            false
        }
    }
}

/// `identify [PID]` (the caller when no PID is given): prints the interface new sockets of
/// the process are bound to, nothing when they are not bound.
pub fn identify(env: &Env, words: &[String], verbose: bool, out: &mut dyn Write) -> i32 {
    let pid = match words {
        [] => std::process::id(),
        [w] => match parse_pid(w) {
            Some(p) => p,
            None => {
                log_at!(Err, "Invalid PID \"{}\"", crate::log::escape_control(w));
                return EXIT_BAD_ARGUMENT;
            }
        },
        [_, extra, ..] => {
            log_at!(
                Err,
                "Extra argument \"{}\": identify takes one PID",
                crate::log::escape_control(extra)
            );
            return EXIT_BAD_ARGUMENT;
        }
    };
    let path = env.pid_file(pid, "cgroup");
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) => {
            log_at!(
                Err,
                "Failed to look up the binding of process {pid}: failed to read {}: {}",
                path.display(),
                sys::strerror(&e)
            );
            return EXIT_FAILURE;
        }
    };
    let rel = match cgroup_path::parse_proc_cgroup(&text) {
        Ok(pc) => pc.unified,
        Err(e) => {
            log_at!(Err, "Failed to parse {}: {e}", path.display());
            return EXIT_FAILURE;
        }
    };
    // No cgroup2 membership or no cgroup2 mount: no sock_create program can run for it.
    let (Some(rel), Some(h)) = (rel, env.hierarchies().into_iter().next()) else {
        return 0;
    };
    let rel = PathBuf::from(rel);
    let chain = match read_chain(&h, &rel) {
        Ok(c) => c,
        Err(e) if e.unprivileged() => {
            log_at!(
                Warning,
                "{e}; showing only iproute2's vrf/NAME cgroups (bindings by bindif-launch, systemd or BPFProgram= need CAP_SYS_ADMIN to be seen)"
            );
            let text = model::iproute2_vrf_of(&rel)
                .map(|n| format!("{n}\n"))
                .unwrap_or_default();
            return if write_out(out, &text) {
                0
            } else {
                EXIT_FAILURE
            };
        }
        Err(e) => {
            log_at!(Err, "{e}");
            return EXIT_FAILURE;
        }
    };
    let verdict = effective(&chain);
    let shown = match &verdict {
        Verdict::Bound(ifindex, _) => Some(match (env.net_ns(Some(pid)), env.net_ns(None)) {
            (Some(theirs), Some(ours)) if theirs != ours => Shown::OtherNetns,
            _ => match netlink::ifname_of(*ifindex) {
                Ok(Some(n)) => Shown::Name(n),
                Ok(None) => Shown::Stale,
                Err(e) => {
                    log_at!(
                        Err,
                        "Failed to look up ifindex {ifindex}: {}",
                        sys::strerror(&e)
                    );
                    return EXIT_FAILURE;
                }
            },
        }),
        _ => None,
    };
    if let Some(note) = identify_note(pid, &verdict, shown.as_ref()) {
        log_at!(Warning, "{note}");
    }
    if write_out(out, &identify_text(&verdict, shown.as_ref(), verbose)) {
        0
    } else {
        EXIT_FAILURE
    }
}

/// A cgroup met on the walk: its path, its directory and, when programs are read, the hooks
/// from the root down to it.
type Visit<'a> = dyn FnMut(&Path, BorrowedFd<'_>, &[Level]) + 'a;

/// Walks the cgroup2 mount `h` depth-first (children in name order) by directory fds, which
/// a path longer than PATH_MAX does not stop. With `query`, each cgroup's hook is read and the
/// chain handed to `visit` holds every level from the root; otherwise the chain is empty.
/// Cgroups that vanish meanwhile are skipped; one deeper than the open-file limit allows is
/// skipped with its subtree and a warning.
fn walk(h: &Path, query: bool, visit: &mut Visit<'_>) -> Result<(), ReadError> {
    let root = Path::new("/");
    let fd = sys::cgroup::open_cgroup_dir(h).map_err(|source| ReadError {
        path: h.to_path_buf(),
        source,
    })?;
    let mut chain = Vec::new();
    walk_at(h, fd, root.to_path_buf(), query, &mut chain, visit)
}

fn walk_at(
    h: &Path,
    fd: OwnedFd,
    rel: PathBuf,
    query: bool,
    chain: &mut Vec<Level>,
    visit: &mut Visit<'_>,
) -> Result<(), ReadError> {
    let err = |source| ReadError {
        path: full_path(h, &rel),
        source,
    };
    if query {
        match read_level(fd.as_fd(), &rel) {
            Ok(l) => chain.push(l),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(err(e)),
        }
    }
    visit(&rel, fd.as_fd(), chain);
    let mut children = match sys::cgroup::subdirectories(fd.as_fd()) {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Vec::new(),
        Err(e) => return Err(err(e)),
    };
    children.sort();
    for name in children {
        let child = rel.join(&name);
        match sys::cgroup::open_cgroup_dir_at(fd.as_fd(), &name) {
            Ok(cfd) => walk_at(h, cfd, child, query, chain, visit)?,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                log_at!(
                    Warning,
                    "Failed to open cgroup {}: {}, ignoring it and the cgroups below it",
                    escape_path(&full_path(h, &child)),
                    sys::strerror(&e)
                );
            }
            Err(e) => {
                return Err(ReadError {
                    path: full_path(h, &child),
                    source: e,
                })
            }
        }
    }
    if query {
        chain.pop();
    }
    Ok(())
}

/// `pids IFACE`: the processes whose new sockets are bound to IFACE, one `PID  NAME` line each,
/// in cgroup order (the cgroup path after them with `--verbose`).
pub fn pids(env: &Env, words: &[String], verbose: bool, out: &mut dyn Write) -> i32 {
    let [iface] = words else {
        log_at!(Err, "pids takes exactly one interface name");
        return EXIT_FAILURE;
    };
    let shown = crate::log::escape_control(iface);
    let ifindex = match netlink::resolve_ifindex(iface) {
        Ok(Some(i)) => i,
        Ok(None) => {
            log_at!(
                Err,
                "Invalid interface name \"{shown}\": no such interface in this network namespace"
            );
            return EXIT_FAILURE;
        }
        Err(e) => {
            log_at!(
                Err,
                "Failed to resolve interface \"{shown}\": {}",
                sys::strerror(&e)
            );
            return EXIT_FAILURE;
        }
    };
    let ours = env.net_ns(None);
    let mut text = String::new();
    let mut add = |rel: &Path, dir: BorrowedFd<'_>| {
        for pid in sys::cgroup::procs_at(dir) {
            if matches!((env.net_ns(Some(pid)), ours), (Some(t), Some(o)) if t != o) {
                continue;
            }
            let name = env.command_name(pid);
            text.push_str(&pids_line(pid, name.as_deref(), verbose.then_some(rel)));
        }
    };
    for h in env.hierarchies() {
        let mut bound = |rel: &Path, dir: BorrowedFd<'_>, chain: &[Level]| {
            if matches!(effective(chain), Verdict::Bound(i, _) if i == ifindex) {
                add(rel, dir);
            }
        };
        match walk(&h, true, &mut bound) {
            Ok(()) => {}
            Err(e) if e.unprivileged() => {
                log_at!(
                    Warning,
                    "{e}; showing only iproute2's vrf/NAME cgroups (bindings by bindif-launch, systemd or BPFProgram= need CAP_SYS_ADMIN to be seen)"
                );
                // iproute2's rule: the processes directly in each `…/vrf/IFACE`.
                let mut named = |rel: &Path, dir: BorrowedFd<'_>, _: &[Level]| {
                    let is_it = is_iproute2_cgroup(rel)
                        && rel.file_name().map(OsStr::as_bytes) == Some(iface.as_bytes());
                    if is_it {
                        add(rel, dir);
                    }
                };
                if let Err(e) = walk(&h, false, &mut named) {
                    log_at!(Err, "{e}");
                    return EXIT_FAILURE;
                }
            }
            Err(e) => {
                log_at!(Err, "{e}");
                return EXIT_FAILURE;
            }
        }
    }
    if write_out(out, &text) {
        0
    } else {
        EXIT_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway procfs stand-in, removed on drop.
    struct Proc(PathBuf);

    impl Proc {
        fn new(tag: &str) -> Proc {
            let p = std::env::temp_dir().join(format!("bindif-ident-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Proc(p)
        }

        fn cgroup(&self, pid: u32, text: &str) {
            let d = self.0.join(pid.to_string());
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("cgroup"), text).unwrap();
        }

        fn env(&self) -> Env {
            Env {
                proc: self.0.clone(),
                hierarchies: Some(Vec::new()),
            }
        }
    }

    impl Drop for Proc {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn identify_words(env: &Env, words: &[&str]) -> (i32, String) {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let mut out = Vec::new();
        let exit = identify(env, &words, false, &mut out);
        (exit, String::from_utf8(out).unwrap())
    }

    /// iproute2's statuses for what goes wrong before any kernel query, and nothing printed for
    /// a process no cgroup2 program can reach (no 0:: line, or no cgroup2 mounted).
    #[test]
    fn identify_before_the_kernel() {
        let p = Proc::new("pre");
        let env = p.env();
        assert_eq!(
            identify_words(&env, &["x1"]),
            (EXIT_BAD_ARGUMENT, String::new())
        );
        assert_eq!(
            identify_words(&env, &["1", "2"]),
            (EXIT_BAD_ARGUMENT, String::new())
        );
        // No such process.
        assert_eq!(identify_words(&env, &["42"]), (EXIT_FAILURE, String::new()));
        p.cgroup(42, "garbage without colons\n");
        assert_eq!(identify_words(&env, &["42"]), (EXIT_FAILURE, String::new()));
        // Legacy host before the mirror exists: only v1 lines.
        p.cgroup(42, "1:name=systemd:/system.slice/x.service\n");
        assert_eq!(identify_words(&env, &["42"]), (0, String::new()));
        // A cgroup2 path, but no cgroup2 mount to read it in.
        p.cgroup(42, "0::/system.slice/x.service\n");
        assert_eq!(identify_words(&env, &["42"]), (0, String::new()));
    }

    #[test]
    fn paths_below_a_mount() {
        let h = Path::new("/sys/fs/cgroup");
        assert_eq!(full_path(h, Path::new("/")), h);
        assert_eq!(
            full_path(h, Path::new("/a/b")),
            Path::new("/sys/fs/cgroup/a/b")
        );
    }
}
