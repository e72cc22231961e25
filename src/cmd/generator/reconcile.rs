// SPDX-License-Identifier: LGPL-2.1-or-later
//! daemon-reload re-resolution: what systemd 262 does when PID 1 re-realizes the cgroups of
//! running units at every `systemctl daemon-reload`.
//!
//! systemd runs the generators at every daemon-reload, as root, before PID 1 reloads the units;
//! so the generator is where the tool can do what 262's PID 1 does then, without a daemon of its
//! own. For every running unit (a cgroup below the slices of the hierarchy PID 1 uses, or of our
//! private mirror on legacy hosts) the current configuration is evaluated and its interface
//! resolved in PID 1's network namespace (ours: PID 1 runs the generator), then:
//!
//! | configuration | interface | programs of the key on the cgroup | action |
//! |---|---|---|---|
//! | key set | exists, ifindex N | exactly one, for N | none |
//! | key set | exists, ifindex N | none, stale, several | attach for N, remove the older copies |
//! | key set | missing | any | remove them; log `Couldn't find index …, ignoring` |
//! | key unset or reset | — | any | none: the binding stays until the unit restarts |
//!
//! The last row is what systemd 262 does, measured (tests/vm/scenarios/reload.sh on sid): after a
//! drop-in resets the key and a reload, `systemctl show` says the property is empty and the
//! program stays, binding every new socket, until the unit stops. A user moving to 262 must see
//! no difference, so the reload leaves it too; `bindif-launch status` reports such a unit as
//! `reset-pending`.
//!
//! Only programs named for the key ([`Origin::Key`]) are followed or removed: a binding the
//! explicit ad hoc form made is not the configuration's to change. Nothing here can fail the
//! reload: every error is logged, named, and ignored (the next reload or restart tries again).
//! A unit whose processes live in another network namespace than PID 1 was resolved there at
//! start (see `bindif-launch(8)`); it is left as it is.
//!
//! [`decide`] is the pure rule; [`running`] walks the hierarchy, [`apply`] acts.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::log::Level;
use crate::program::Origin;
use crate::sys::{self, bpf};

/// One of our programs on a running unit's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    pub id: u32,
    pub ifindex: u32,
    pub origin: Origin,
}

/// What the unit's configuration asks for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// No `BindNetworkInterface=`, reset, or no valid value.
    Unset,
    Interface(String),
}

/// What a reload does to one cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Keep,
    /// Attach a program for `ifindex`, then remove the older copies of ours.
    Bind {
        ifindex: u32,
    },
    /// The interface does not exist: remove the key's programs `ids` (maybe none) and say so.
    Missing {
        ids: Vec<u32>,
    },
}

/// The rule of the table above: configuration, the ifindex its interface has now (`None`:
/// missing) and our programs on the cgroup in, the action out.
pub fn decide(wanted: &Wanted, resolved: Option<u32>, attached: &[Attached]) -> Action {
    let key_ids: Vec<u32> = attached
        .iter()
        .filter(|a| a.origin == Origin::Key)
        .map(|a| a.id)
        .collect();
    match (wanted, resolved) {
        // The key is gone or reset: 262 keeps the binding until the unit restarts.
        (Wanted::Unset, _) => Action::Keep,
        (Wanted::Interface(_), None) => Action::Missing { ids: key_ids },
        (Wanted::Interface(_), Some(ifindex)) => {
            // Exactly one program of ours, for this ifindex: a start or the last reload made it.
            // An explicit program next to it, several copies or a stale ifindex: one new copy
            // replaces them all, as a start would.
            match attached {
                [only] if only.origin == Origin::Key && only.ifindex == ifindex => Action::Keep,
                _ => Action::Bind { ifindex },
            }
        }
    }
}

/// A running unit's cgroup, found by [`running`].
#[derive(Debug)]
pub struct Running {
    /// The unit, as its cgroup names it (systemd's escaping undone).
    pub unit: String,
    /// The cgroup's directory (under the walked mount).
    pub path: PathBuf,
    /// Our programs on it.
    pub attached: Vec<Attached>,
    /// Its first process, if any: its network namespace is the unit's.
    pub first_pid: Option<u32>,
}

/// Unit types whose cgroups we look at: those whose `BindNetworkInterface=` comes from unit
/// files. Scopes are transient: their settings come over D-Bus, which the generator cannot see.
fn followed_type(unit: &str) -> bool {
    matches!(
        crate::unit::name::unit_type(unit),
        Some("service" | "socket" | "slice" | "mount" | "swap")
    )
}

/// systemd's `cg_unescape()`: a cgroup named `_foo.service` is the unit `foo.service`.
pub fn unit_of_cgroup_name(name: &str) -> &str {
    name.strip_prefix('_').unwrap_or(name)
}

/// Walks `mount` (a cgroup2 hierarchy) the way PID 1 lays units out: into slices only, never
/// into a unit's own cgroup (a delegated service manages its subtree itself). Cgroups that vanish
/// while we look are skipped; an error below one slice does not stop the others (it is logged).
pub fn running(mount: &Path, log: &dyn Fn(Level, String)) -> Vec<Running> {
    let mut out = Vec::new();
    let root = match sys::cgroup::open_cgroup_dir(mount) {
        Ok(fd) => fd,
        Err(e) => {
            if e.raw_os_error() != Some(libc::ENOENT) {
                log(
                    Level::Warning,
                    format!(
                        "bind-interface: Failed to open cgroup {}, not re-resolving running units: {}",
                        mount.display(),
                        sys::strerror(&e)
                    ),
                );
            }
            return out;
        }
    };
    let mut stack: Vec<(OwnedFd, PathBuf)> = vec![(root, mount.to_path_buf())];
    while let Some((dir, path)) = stack.pop() {
        let children = match sys::cgroup::subdirectories(dir.as_fd()) {
            Ok(c) => c,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => {
                log(
                    Level::Warning,
                    format!(
                        "bind-interface: Failed to list the cgroups below {}, ignoring: {}",
                        path.display(),
                        sys::strerror(&e)
                    ),
                );
                continue;
            }
        };
        for child in children {
            let Some(unit) = child
                .to_str()
                .map(unit_of_cgroup_name)
                .filter(|u| crate::unit::name::is_valid(u) && followed_type(u))
            else {
                continue;
            };
            let unit = unit.to_string();
            let child_path = path.join(&child);
            let fd = match sys::cgroup::open_cgroup_dir_at(dir.as_fd(), &child) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => {
                    log(
                        Level::Warning,
                        format!(
                            "{unit}: bind-interface: Failed to open cgroup {}, ignoring: {}",
                            child_path.display(),
                            sys::strerror(&e)
                        ),
                    );
                    continue;
                }
            };
            match ours(fd.as_fd()) {
                Ok(attached) => out.push(Running {
                    first_pid: first_pid(fd.as_fd()),
                    unit: unit.clone(),
                    path: child_path.clone(),
                    attached,
                }),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => {
                    log(
                        Level::Warning,
                        format!(
                            "{unit}: bind-interface: Failed to query BPF programs of {}, ignoring: {}",
                            child_path.display(),
                            sys::strerror(&e)
                        ),
                    );
                    continue;
                }
            }
            if unit.ends_with(".slice") {
                stack.push((fd, child_path));
            }
        }
    }
    out
}

/// Our programs on the cgroup open at `dir`, in attach order. Programs that vanish while we look
/// are skipped.
fn ours(dir: std::os::fd::BorrowedFd<'_>) -> io::Result<Vec<Attached>> {
    let mut out = Vec::new();
    for id in bpf::query(dir)? {
        let info = match bpf::prog_info(id) {
            Ok(i) => i,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        if let (Some(ifindex), Some(origin)) = (info.ours_ifindex, info.origin) {
            out.push(Attached {
                id,
                ifindex,
                origin,
            });
        }
    }
    Ok(out)
}

fn first_pid(dir: std::os::fd::BorrowedFd<'_>) -> Option<u32> {
    use std::io::Read;
    let mut text = String::new();
    sys::cgroup::open_file_at(dir, std::ffi::OsStr::new("cgroup.procs"))
        .and_then(|mut f| f.read_to_string(&mut text))
        .ok()?;
    text.lines().find_map(|l| l.trim().parse().ok())
}

/// The interfaces' ifindexes, each resolved once per run.
#[derive(Default)]
pub struct Resolver {
    cache: HashMap<String, io::Result<Option<u32>>>,
}

impl Resolver {
    fn resolve(&mut self, interface: &str) -> &io::Result<Option<u32>> {
        self.cache
            .entry(interface.to_string())
            .or_insert_with(|| sys::netlink::resolve_ifindex(interface))
    }
}

/// What [`apply`] did, for the summary line and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub examined: usize,
    pub bound: usize,
    pub missing: usize,
    pub skipped_netns: usize,
    pub failed: usize,
}

/// Re-resolves every running unit of `found`: `wanted` gives each unit's configuration now.
pub fn apply(
    found: &[Running],
    wanted: &mut dyn FnMut(&str) -> Wanted,
    resolver: &mut Resolver,
    log: &dyn Fn(Level, String),
) -> Tally {
    let mut tally = Tally::default();
    let own_netns = sys::process::net_ns(None).ok();
    for r in found {
        tally.examined += 1;
        let want = wanted(&r.unit);
        let resolved = match &want {
            Wanted::Unset => None,
            Wanted::Interface(i) => match resolver.resolve(i) {
                Ok(x) => *x,
                Err(e) => {
                    log(
                        Level::Warning,
                        format!(
                            "{}: bind-interface: Failed to resolve interface '{i}', ignoring: {}",
                            r.unit,
                            sys::strerror(e)
                        ),
                    );
                    tally.failed += 1;
                    continue;
                }
            },
        };
        let action = decide(&want, resolved, &r.attached);
        if action == Action::Keep {
            continue;
        }
        // Resolved at start in the unit's own network namespace: its ifindex means nothing
        // here, and re-resolving in ours would bind it to another namespace's interface.
        let theirs = r.first_pid.and_then(|p| sys::process::net_ns(Some(p)).ok());
        if theirs.is_some() && own_netns.is_some() && theirs != own_netns {
            log(
                Level::Debug,
                format!(
                    "{}: bind-interface: Runs in another network namespace, not re-resolving its binding at daemon-reload.",
                    r.unit
                ),
            );
            tally.skipped_netns += 1;
            continue;
        }
        let interface = match &want {
            Wanted::Interface(i) => i.as_str(),
            Wanted::Unset => "",
        };
        match act(&r.path, &action) {
            Ok(()) => match action {
                Action::Keep => {}
                Action::Bind { ifindex } => {
                    tally.bound += 1;
                    log(
                        Level::Info,
                        format!(
                            "{}: bind-interface: Bound to interface '{interface}' (ifindex {ifindex}) at daemon-reload.",
                            r.unit
                        ),
                    );
                }
                Action::Missing { .. } => {
                    tally.missing += 1;
                    // systemd 262's words, at every re-realization that misses the interface.
                    log(
                        Level::Warning,
                        format!(
                            "{}: bind-interface: Couldn't find index of network interface '{interface}', ignoring: No such device",
                            r.unit
                        ),
                    );
                }
            },
            Err(e) => {
                tally.failed += 1;
                log(
                    Level::Err,
                    format!(
                        "{}: bind-interface: Failed to re-resolve the binding at daemon-reload, ignoring: {e}",
                        r.unit
                    ),
                );
            }
        }
    }
    tally
}

/// Carries out one action on the cgroup at `path`.
fn act(path: &Path, action: &Action) -> Result<(), sys::Error> {
    let shown = path.display().to_string();
    let dir = sys::cgroup::open_cgroup_dir(path)
        .map_err(|e| sys::Error::new(sys::Category::Cgroup, "open cgroup", shown.clone(), e))?;
    match action {
        Action::Keep => Ok(()),
        Action::Bind { ifindex } => {
            let prog = bpf::load_bind_program_as(*ifindex, Origin::Key)?;
            bpf::check_attachable(dir.as_fd()).map_err(|e| e.with_object(shown.clone()))?;
            let out = bpf::attach_replacing(dir.as_fd(), prog.as_fd())
                .map_err(|e| e.with_object(shown.clone()))?;
            match out.cleanup_error {
                Some(e) => Err(e.with_object(shown)),
                None => Ok(()),
            }
        }
        Action::Missing { ids } => bpf::detach_ids(dir.as_fd(), ids)
            .map(drop)
            .map_err(|e| sys::Error::new(sys::Category::Bpf, "detach BPF programs from", shown, e)),
    }
}

/// The cgroup2 hierarchies whose units a reload re-resolves: the one PID 1 uses, or on legacy
/// hosts our private mirror (when it is mounted).
pub fn hierarchies() -> Vec<PathBuf> {
    crate::cmd::status::default_hierarchies()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, ifindex: u32) -> Attached {
        Attached {
            id,
            ifindex,
            origin: Origin::Key,
        }
    }

    fn explicit(id: u32, ifindex: u32) -> Attached {
        Attached {
            id,
            ifindex,
            origin: Origin::Explicit,
        }
    }

    fn iface(s: &str) -> Wanted {
        Wanted::Interface(s.into())
    }

    #[test]
    fn a_late_interface_is_bound() {
        assert_eq!(
            decide(&iface("mgmt"), Some(4), &[]),
            Action::Bind { ifindex: 4 }
        );
    }

    #[test]
    fn the_current_binding_is_kept() {
        assert_eq!(decide(&iface("mgmt"), Some(4), &[key(9, 4)]), Action::Keep);
    }

    #[test]
    fn a_recreated_interface_is_followed() {
        assert_eq!(
            decide(&iface("mgmt"), Some(7), &[key(9, 4)]),
            Action::Bind { ifindex: 7 }
        );
    }

    #[test]
    fn a_changed_value_rebinds() {
        // mgmt was ifindex 4; the drop-in now says dmz, ifindex 5.
        assert_eq!(
            decide(&iface("dmz"), Some(5), &[key(9, 4)]),
            Action::Bind { ifindex: 5 }
        );
    }

    #[test]
    fn stacked_copies_become_one() {
        assert_eq!(
            decide(&iface("mgmt"), Some(4), &[key(8, 4), key(9, 4)]),
            Action::Bind { ifindex: 4 }
        );
    }

    #[test]
    fn a_reset_keeps_the_binding_until_the_unit_restarts_as_262_does() {
        assert_eq!(decide(&Wanted::Unset, None, &[key(9, 4)]), Action::Keep);
        assert_eq!(
            decide(&Wanted::Unset, None, &[explicit(3, 2), key(9, 4)]),
            Action::Keep
        );
    }

    #[test]
    fn the_explicit_form_is_left_alone() {
        assert_eq!(
            decide(&Wanted::Unset, None, &[explicit(3, 2)]),
            Action::Keep
        );
        assert_eq!(decide(&Wanted::Unset, None, &[]), Action::Keep);
    }

    #[test]
    fn a_missing_interface_removes_the_binding_and_is_reported() {
        assert_eq!(
            decide(&iface("mgmt"), None, &[key(9, 4)]),
            Action::Missing { ids: vec![9] }
        );
        // Reported at every reload, as 262 does, even with nothing to remove.
        assert_eq!(
            decide(&iface("mgmt"), None, &[]),
            Action::Missing { ids: vec![] }
        );
    }

    #[test]
    fn an_explicit_program_next_to_the_key_is_replaced_by_one_copy() {
        assert_eq!(
            decide(&iface("mgmt"), Some(4), &[explicit(3, 4), key(9, 4)]),
            Action::Bind { ifindex: 4 }
        );
    }

    #[test]
    fn cgroup_names_are_unescaped_as_systemd_does() {
        assert_eq!(unit_of_cgroup_name("_cpu.service"), "cpu.service");
        assert_eq!(unit_of_cgroup_name("sshd.service"), "sshd.service");
        assert!(followed_type("a.slice") && followed_type("b.socket"));
        assert!(!followed_type("session-1.scope") && !followed_type("x.target"));
    }
}
