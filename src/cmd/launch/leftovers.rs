// SPDX-License-Identifier: LGPL-2.1-or-later
//! `--remove-leftovers`: what the package's removal scripts run once the units were reloaded
//! without the generator, while the binary still exists.
//!
//! On legacy cgroup hosts (cgroup v1 only) the attach step mounts the cgroup2 hierarchy at
//! `/run/bindif-launch/cgroup2` and creates marked "mirror" cgroups there; nothing else ever
//! removes them once the package is gone. This mode removes, deepest first, the mirrors our
//! marker proves ours that nothing uses any more (no process in them, their maker exited, their
//! unit stopped, no program but ours on them) with a plain rmdir, which the kernel refuses
//! while anything is in them and which frees their programs; keeps every other one, its
//! program attached, and says why; then unmounts the hierarchy when it is our mount and no
//! cgroup of ours is left in it, and removes the empty mount point and `/run/bindif-launch`.
//!
//! The hierarchy's root is never judged: on a legacy host every process of the host that is not
//! in a mirror is in it, so "processes in the root" says nothing about us. Cgroups without our
//! marker are never touched and do not keep the mount: they live in the one cgroup2 hierarchy
//! whatever mount shows them (iproute2 reaches its `/vrf/NAME` through a mount of its own), so
//! unmounting our view of it takes nothing from them. The unmount is a plain `umount2` (no
//! `MNT_DETACH`): the kernel refuses while anything uses the mount, and the mount then stays.
//!
//! On unified and hybrid hosts there are no mirrors; what can be left of ours in systemd's
//! hierarchy are the ad hoc mode's `bindif-launch-PID` children whose command moved in and ran
//! in place (systemd removes them with their unit, a later ad hoc run with its siblings): those
//! whose maker exited and that hold no process go now, by the same rules.
//!
//! The programs `sys::pinned` keeps in bpffs for later starts go too, with their directory:
//! they are a cache, and each cgroup still bound holds its own reference to its program.
//!
//! Every path is below the root (`--root=DIR`, `/` by default). Problems that leave something
//! in place are logged with the path and ", ignoring"; the exit status is non-zero only when
//! something that should have been removed could not be, for a reason other than its use.

use std::fs;
use std::io;
use std::path::Path;

use crate::cgroup_path::{self, Layout, CGROUP2_SUPER_MAGIC};
use crate::log::escape_bytes;
use crate::sys::{self, bpf, cgroup, pinned};
use crate::{exit, log_at};

/// Our run-time directory and the private cgroup2 mount below it, relative to the root.
const RUN_DIR: &str = "run/bindif-launch";
const MOUNT: &str = "run/bindif-launch/cgroup2";
/// The `name=systemd` hierarchy, where a legacy host shows which units run.
const SYSTEMD_V1: &str = "sys/fs/cgroup/systemd";
/// Mounts stacked at our mount point by racing first starts: each is unmounted in turn.
const MAX_STACKED_MOUNTS: usize = 8;

/// What decides about one marked mirror cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// A directory below it stays (rmdir would fail).
    pub child_kept: bool,
    /// A process is in it: a unit that ran bound before the removal.
    pub processes: bool,
    /// The launcher run that created it has not exited: a start in progress.
    pub maker_running: bool,
    /// Its path exists in the `name=systemd` hierarchy: its unit runs.
    pub unit_running: bool,
    /// Programs attached to it that are not ours.
    pub foreign_programs: usize,
}

/// Why a marked mirror stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    ChildKept,
    Processes,
    MakerRunning,
    UnitRunning,
    ForeignProgram,
}

impl Keep {
    fn why(self) -> &'static str {
        match self {
            Keep::ChildKept => "a cgroup below it stays",
            Keep::Processes => "processes are in it, bound until they exit",
            Keep::MakerRunning => "the bindif-launch run that created it is still running",
            Keep::UnitRunning => "its unit still runs (its name=systemd cgroup exists)",
            Keep::ForeignProgram => "a BPF program that is not ours is attached to it",
        }
    }
}

/// Whether a marked mirror goes (`None`) or stays, and why. A process in it, or in a cgroup
/// below it, always keeps it: its binding is the unit's until the unit stops.
pub fn decide(f: &Facts) -> Option<Keep> {
    if f.child_kept {
        Some(Keep::ChildKept)
    } else if f.processes {
        Some(Keep::Processes)
    } else if f.maker_running {
        Some(Keep::MakerRunning)
    } else if f.unit_running {
        Some(Keep::UnitRunning)
    } else if f.foreign_programs > 0 {
        Some(Keep::ForeignProgram)
    } else {
        None
    }
}

/// What is mounted at our mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountState {
    NotMounted,
    /// A cgroup2 mount of the hierarchy's root (`/` in `mountinfo`), as `mount_private_cgroup2`
    /// makes it. Nothing but this tool mounts anything at its own run-time path; this check
    /// keeps us from unmounting anything else someone put there.
    Ours,
    /// Something else: another file system, or a bind mount of part of a hierarchy.
    Other,
}

/// [`MountState`] of `mount` from `/proc/self/mountinfo` text (the topmost mount there) and
/// the file system magic `statfs` reports for it.
pub fn mount_state(mountinfo: &str, mount: &Path, magic: Option<u64>) -> MountState {
    match cgroup_path::mount_root(mountinfo, mount) {
        None => MountState::NotMounted,
        Some(root) if root == "/" && magic == Some(CGROUP2_SUPER_MAGIC) => MountState::Ours,
        Some(_) => MountState::Other,
    }
}

/// What to do with the mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPlan {
    Nothing,
    Unmount,
    KeepNotOurs,
    /// Not a legacy host: the hierarchy is systemd's own, and its mirrors are not walked.
    KeepNotLegacy,
    /// Cgroups of ours stay in it.
    KeepInUse,
    /// Mounted since the walk looked (a start racing the removal): its cgroups were not judged.
    KeepNotWalked,
}

/// `state` is what is mounted now, right before the unmount; `walked` whether it was our
/// mount already when the walk began, so that `ours_left` speaks of it.
pub fn plan_mount(state: MountState, walked: bool, legacy: bool, ours_left: usize) -> MountPlan {
    match state {
        MountState::NotMounted => MountPlan::Nothing,
        MountState::Other => MountPlan::KeepNotOurs,
        MountState::Ours if !legacy => MountPlan::KeepNotLegacy,
        MountState::Ours if !walked => MountPlan::KeepNotWalked,
        MountState::Ours if ours_left > 0 => MountPlan::KeepInUse,
        MountState::Ours => MountPlan::Unmount,
    }
}

fn shown(p: &Path) -> String {
    escape_bytes(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
}

/// The mode: returns the exit status.
pub fn run(root: &Path) -> i32 {
    // Absolute, as `mountinfo` names mount points.
    let root = match fs::canonicalize(root) {
        Ok(r) => r,
        Err(e) => {
            log_at!(
                Err,
                "Failed to resolve root directory {}: {}",
                shown(root),
                sys::strerror(&e)
            );
            return exit::FAILURE;
        }
    };
    let mount = root.join(MOUNT);
    let layout = cgroup::detect(&root);
    let legacy = layout == Layout::Legacy;
    let mut failed = false;
    let mut ours_left = 0;
    let walked = current_state(&mount) == MountState::Ours;
    if walked && legacy {
        let v1 = root.join(SYSTEMD_V1);
        let mut walk = Walk {
            mount: &mount,
            systemd_v1: v1.is_dir().then_some(v1.as_path()),
            what: "mirror cgroup",
            failed: false,
            removed: 0,
        };
        ours_left = walk.children(&mount).ours;
        failed |= walk.failed;
        log_at!(
            Info,
            "Removed {} mirror cgroup(s) below {}, kept {ours_left}.",
            walk.removed,
            shown(&mount)
        );
    }
    if let Some(systemd) = layout.cgroup2_mount() {
        let mut walk = Walk {
            mount: systemd,
            systemd_v1: None,
            what: "cgroup",
            failed: false,
            removed: 0,
        };
        walk.adhoc_children(systemd);
        failed |= walk.failed;
        if walk.removed > 0 {
            log_at!(
                Info,
                "Removed {} ad hoc cgroup(s) below {}.",
                walk.removed,
                shown(systemd)
            );
        }
    }
    failed |= !remove_pins(&root);
    failed |= !settle_mount(&mount, walked, legacy, ours_left);
    // A mount kept was said so above; its mount point and their parent stay with it.
    if current_state(&mount) == MountState::NotMounted {
        failed |= !remove_empty_dir(&mount);
        failed |= !remove_empty_dir(&root.join(RUN_DIR));
    }
    if failed {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }
}

/// Removes the programs pinned for later starts (`sys::pinned`) and their directory: a cache
/// only, so removing it unbinds nothing (each bound cgroup holds its program itself). Returns
/// false on a real failure.
fn remove_pins(root: &Path) -> bool {
    let dir = root.join(pinned::PIN_DIR.trim_start_matches('/'));
    match pinned::remove_all(&dir) {
        Ok(0) => true,
        Ok(n) => {
            log_at!(Info, "Removed {n} pinned program(s) and {}.", shown(&dir));
            true
        }
        Err(e) => {
            log_at!(
                Err,
                "Failed to remove the pinned programs in {}: {}",
                shown(&dir),
                sys::strerror(&e)
            );
            false
        }
    }
}

fn current_state(mount: &Path) -> MountState {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_else(|e| {
        log_at!(
            Warning,
            "Failed to read /proc/self/mountinfo, leaving {} as it is: {}",
            shown(mount),
            sys::strerror(&e)
        );
        String::new()
    });
    let magic = cgroup::statfs_magic(mount).ok();
    // Unreadable mountinfo with a cgroup2 there: unproven, so not ours.
    if mountinfo.is_empty() && magic == Some(CGROUP2_SUPER_MAGIC) {
        return MountState::Other;
    }
    mount_state(&mountinfo, mount, magic)
}

/// Unmounts `mount` when the plan says so (each stacked mount of ours in turn). Returns false
/// on a real failure.
fn settle_mount(mount: &Path, walked: bool, legacy: bool, ours_left: usize) -> bool {
    for _ in 0..MAX_STACKED_MOUNTS {
        // Read right before each umount2, not before the walk: what was mounted on top since
        // (another file system, a start's fresh mount) must not be what gets unmounted.
        match plan_mount(current_state(mount), walked, legacy, ours_left) {
            MountPlan::Nothing => return true,
            MountPlan::KeepNotOurs => {
                log_at!(
                    Notice,
                    "Leaving {} mounted: it is not the cgroup2 hierarchy bindif-launch mounts there, ignoring.",
                    shown(mount)
                );
                return true;
            }
            MountPlan::KeepNotLegacy => {
                log_at!(
                    Notice,
                    "Leaving {} mounted: not a legacy cgroup host, the hierarchy there is systemd's own, ignoring.",
                    shown(mount)
                );
                return true;
            }
            MountPlan::KeepInUse => {
                log_at!(
                    Notice,
                    "Keeping {} mounted: {ours_left} cgroup(s) of ours are still in use in it (see above); they and the mount stay until reboot.",
                    shown(mount)
                );
                return true;
            }
            MountPlan::KeepNotWalked => {
                log_at!(
                    Notice,
                    "Leaving {} mounted: it was mounted while the removal ran and its cgroups were not examined, ignoring.",
                    shown(mount)
                );
                return true;
            }
            MountPlan::Unmount => match cgroup::unmount(mount) {
                Ok(()) => log_at!(Info, "Unmounted {}.", shown(mount)),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    log_at!(
                        Notice,
                        "Failed to unmount {}, ignoring: {} (something uses it; it stays until reboot)",
                        shown(mount),
                        sys::strerror(&e)
                    );
                    return true;
                }
                Err(e) => {
                    log_at!(
                        Err,
                        "Failed to unmount {}: {}",
                        shown(mount),
                        sys::strerror(&e)
                    );
                    return false;
                }
            },
        }
    }
    true
}

/// `rmdir` of `dir` when it is an empty directory and no mount point; anything else stays.
/// Returns false on a real failure.
fn remove_empty_dir(dir: &Path) -> bool {
    match fs::remove_dir(dir) {
        Ok(()) => {
            log_at!(Info, "Removed {}.", shown(dir));
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        // Not empty (the enter FIFO of a running socket unit, say), or still mounted.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EBUSY)) => {
            log_at!(
                Notice,
                "Failed to remove {}, ignoring: {}",
                shown(dir),
                sys::strerror(&e)
            );
            true
        }
        Err(e) => {
            log_at!(
                Err,
                "Failed to remove {}: {}",
                shown(dir),
                sys::strerror(&e)
            );
            false
        }
    }
}

/// What stays at or below a directory after the walk.
#[derive(Default, Clone, Copy)]
struct Stays {
    /// Some directory stays (an rmdir of the parent would fail).
    any: bool,
    /// How many marked directories stay.
    ours: usize,
}

impl Stays {
    fn add(&mut self, other: Stays) {
        self.any |= other.any;
        self.ours += other.ours;
    }
}

struct Walk<'a> {
    mount: &'a Path,
    systemd_v1: Option<&'a Path>,
    /// What the directories are, in messages.
    what: &'static str,
    failed: bool,
    removed: usize,
}

impl Walk<'_> {
    /// Visits the subdirectories of `dir`, deepest first.
    fn children(&mut self, dir: &Path) -> Stays {
        let mut stays = Stays::default();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return stays,
            Err(e) => return self.unreadable(dir, e),
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return self.unreadable(dir, e),
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let s = self.visit(&entry.path());
                stays.add(s);
            }
        }
        stays
    }

    /// Unified and hybrid hosts: visits the ad hoc children (`bindif-launch-PID[-N]`) anywhere
    /// below `dir`, systemd's hierarchy; the package's own units (`bindif-launch-enter.service`)
    /// are not ad hoc children, only walked through. Nothing else there is judged, or named: it
    /// is systemd's.
    fn adhoc_children(&mut self, dir: &Path) {
        let Ok(entries) = fs::read_dir(dir) else {
            // Gone meanwhile, or not ours to read: nothing of ours is known to be there.
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            if cgroup_path::is_adhoc_child_name(std::os::unix::ffi::OsStrExt::as_bytes(
                name.as_os_str(),
            )) {
                self.visit(&entry.path());
            } else {
                self.adhoc_children(&entry.path());
            }
        }
    }

    /// A directory that could not be read: what is in it is unknown, so it counts as a cgroup
    /// of ours that stays (the mount is kept), and as a failure.
    fn unreadable(&mut self, dir: &Path, e: io::Error) -> Stays {
        log_at!(
            Err,
            "Failed to read directory {}: {}",
            shown(dir),
            sys::strerror(&e)
        );
        self.failed = true;
        Stays { any: true, ours: 1 }
    }

    fn visit(&mut self, path: &Path) -> Stays {
        let below = self.children(path);
        let held = match cgroup::hold_leftover(path) {
            Ok(cgroup::Hold::Held(h)) => h,
            Ok(cgroup::Hold::Gone) => return below,
            Ok(cgroup::Hold::Unmarked) => {
                log_at!(
                    Info,
                    "Leaving cgroup {} alone: it was not created by bindif-launch.",
                    shown(path)
                );
                return Stays {
                    any: true,
                    ours: below.ours,
                };
            }
            Ok(cgroup::Hold::Locked) => {
                return self.kept(path, below, "another bindif-launch run holds it");
            }
            Err(e) => {
                return self.unexamined(
                    path,
                    below,
                    ("open cgroup", "it could not be examined"),
                    &e,
                )
            }
        };
        let (ours, foreign) = match bpf::attached_programs(held.fd()) {
            Ok(p) => {
                let ours = p.iter().filter(|p| p.is_ours()).count();
                (ours, p.len() - ours)
            }
            Err(e) => {
                let what = (
                    "query the BPF programs of",
                    "its programs could not be listed",
                );
                return self.unexamined(path, below, what, &e);
            }
        };
        let facts = Facts {
            child_kept: below.any,
            processes: held.has_processes(),
            maker_running: !held.maker_exited(),
            unit_running: self.unit_running(path),
            foreign_programs: foreign,
        };
        if let Some(keep) = decide(&facts) {
            if keep == Keep::MakerRunning {
                log_at!(Debug, "{}: made by PID {}", shown(path), held.maker_pid());
            }
            return self.kept(path, below, keep.why());
        }
        // Our programs are never detached first: that would leave a process entering it
        // meanwhile unbound. The rmdir alone is safe: the kernel refuses it while a process
        // or a child cgroup is inside, and frees the programs with the cgroup.
        match held.remove() {
            Ok(()) => {
                log_at!(
                    Info,
                    "Removed {} {} ({ours} program(s) of ours freed with it).",
                    self.what,
                    shown(path)
                );
                self.removed += 1;
                below
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => below,
            // Only a command that moves itself in without the lock (a wrapped command of a
            // start the reload caught half-way, the enter service) gets here; it stays bound.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => self.kept(
                path,
                below,
                "a process entered it meanwhile, bound by its program until it exits",
            ),
            Err(e) => self.unexamined(
                path,
                below,
                ("remove cgroup", "it could not be removed"),
                &e,
            ),
        }
    }

    /// A cgroup that could not be examined or removed: the failure is an error of this run,
    /// and the cgroup stays. `(op, why)`: the failed operation and the reason it stays.
    fn unexamined(
        &mut self,
        path: &Path,
        below: Stays,
        (op, why): (&str, &str),
        e: &io::Error,
    ) -> Stays {
        log_at!(Err, "Failed to {op} {}: {}", shown(path), sys::strerror(e));
        self.failed = true;
        self.kept(path, below, why)
    }

    fn kept(&self, path: &Path, below: Stays, why: &str) -> Stays {
        log_at!(Notice, "Keeping {} {}: {why}.", self.what, shown(path));
        Stays {
            any: true,
            ours: below.ours + 1,
        }
    }

    /// Whether the unit whose mirror `path` is still runs. A slice's mirror is no unit's: its
    /// `name=systemd` cgroup (`system.slice`) exists as long as the host runs, and the mirror
    /// is only the parent of units' mirrors, kept by them while they stay.
    fn unit_running(&self, path: &Path) -> bool {
        let (Some(v1), Ok(rel)) = (self.systemd_v1, path.strip_prefix(self.mount)) else {
            return false;
        };
        let slice = path
            .file_name()
            .is_some_and(|n| std::os::unix::ffi::OsStrExt::as_bytes(n).ends_with(b".slice"));
        if slice {
            return false;
        }
        // Not following a symlink: the v1 hierarchy holds none.
        fs::symlink_metadata(v1.join(rel)).is_ok_and(|m| m.is_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_goes_only_when_nothing_uses_it() {
        assert_eq!(decide(&Facts::default()), None);
        let with = |f: fn(&mut Facts)| {
            let mut facts = Facts::default();
            f(&mut facts);
            decide(&facts)
        };
        assert_eq!(with(|f| f.child_kept = true), Some(Keep::ChildKept));
        assert_eq!(with(|f| f.processes = true), Some(Keep::Processes));
        assert_eq!(with(|f| f.maker_running = true), Some(Keep::MakerRunning));
        assert_eq!(with(|f| f.unit_running = true), Some(Keep::UnitRunning));
        assert_eq!(with(|f| f.foreign_programs = 1), Some(Keep::ForeignProgram));
        // A process decides over the rest: the reason named is the one that matters to the user.
        let all = Facts {
            child_kept: false,
            processes: true,
            maker_running: true,
            unit_running: true,
            foreign_programs: 2,
        };
        assert_eq!(decide(&all), Some(Keep::Processes));
    }

    const MI: &str = "\
22 1 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755
40 22 0:38 / /run/bindif-launch/cgroup2 rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw
41 22 0:38 /system.slice /run/bind\\040mount rw - cgroup2 cgroup2 rw
";

    #[test]
    fn only_a_cgroup2_mount_of_the_hierarchy_root_is_ours() {
        let ours = Path::new("/run/bindif-launch/cgroup2");
        let cg2 = Some(CGROUP2_SUPER_MAGIC);
        assert_eq!(mount_state(MI, ours, cg2), MountState::Ours);
        // The same line, but statfs sees another file system on top (a mount since read).
        assert_eq!(mount_state(MI, ours, Some(0x0102_1994)), MountState::Other);
        // A bind mount of part of a hierarchy: not what we mount.
        assert_eq!(
            mount_state(MI, Path::new("/run/bind mount"), cg2),
            MountState::Other
        );
        // A plain directory (no line), whatever statfs says of the file system holding it.
        assert_eq!(
            mount_state(MI, Path::new("/run/bindif-launch"), cg2),
            MountState::NotMounted
        );
        // The topmost of stacked mounts decides.
        let stacked = format!("{MI}50 40 0:40 / /run/bindif-launch/cgroup2 rw - tmpfs tmpfs rw\n");
        assert_eq!(
            mount_state(&stacked, ours, Some(0x0102_1994)),
            MountState::Other
        );
    }

    #[test]
    fn the_mount_goes_only_when_ours_on_a_legacy_host_and_nothing_of_ours_is_left() {
        use MountState::*;
        assert_eq!(plan_mount(NotMounted, true, true, 0), MountPlan::Nothing);
        assert_eq!(plan_mount(Other, true, true, 0), MountPlan::KeepNotOurs);
        assert_eq!(plan_mount(Ours, true, false, 0), MountPlan::KeepNotLegacy);
        assert_eq!(plan_mount(Ours, true, true, 1), MountPlan::KeepInUse);
        assert_eq!(plan_mount(Ours, true, true, 0), MountPlan::Unmount);
        // Ours now, but not when the walk began: nothing says its cgroups are unused.
        assert_eq!(plan_mount(Ours, false, true, 0), MountPlan::KeepNotWalked);
    }
}
