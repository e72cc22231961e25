// SPDX-License-Identifier: LGPL-2.1-or-later
//! One loaded program per interface, shared by every binding to it: a cache of our programs
//! pinned in bpffs.
//!
//! Loading a program (the verifier and the JIT) is the largest single cost of a start. Our
//! program depends only on its name (which says why it was attached, [`Origin`]) and on the
//! ifindex it stores into each new socket, not on the cgroup nor on the network namespace, so
//! one loaded copy serves every cgroup bound to that ifindex: the first start loads it and pins
//! it at `PIN_DIR/PROGNAME-INTERFACE`, later starts open the pin (`BPF_OBJ_GET`) and attach that.
//!
//! The pin is named after the interface name, not its index, so that a start finds it before it
//! knows the index: the program's instructions hold the ifindex, and `SIOCGIFNAME` on that index
//! returning the name proves that the name resolves to it now (names are unique in a network
//! namespace), which is the rtnetlink lookup's answer without rtnetlink ([`shared_for`]). A
//! name that no longer names that index (the interface was re-created or renamed, or this is
//! another network namespace where it has another index, or an alternative name) asks
//! rtnetlink as before, and the program for its index replaces the pin.
//!
//! The pins are a cache and nothing more. A cgroup holds its own reference to each program
//! attached to it, so removing a pin (evicting it, `--remove-leftovers`, a reboot) unbinds
//! nothing: the next start loads and pins again. A pinned object is used only when it is a
//! program of ours with the name and the instructions wanted, checked on its translated
//! instructions as `status` recognises ours; anything else found under a name of ours is
//! replaced. The directory is made only inside a bpffs (systemd mounts one at /sys/fs/bpf at
//! boot), mode 0700; where there is none, every start loads its own copy, as before the cache,
//! and where a unit's sandbox makes it read-only, its starts use the pins that exist and load
//! their own copy otherwise. A process without the capabilities to load a program always loads
//! (and so fails as before): the cache never lets a start bind that could not have bound on its
//! own. (It could not pass the check anyway: without CAP_BPF in the initial user namespace the
//! kernel withholds the translated instructions.)

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use super::bpf::{self, Prog};
use super::netlink::NameLookup;
use super::process;
use super::LoadError;
use crate::program::Origin;

/// Where the pins live.
pub const PIN_DIR: &str = "/sys/fs/bpf/bindif-launch";
/// `BPF_FS_MAGIC`.
const BPF_FS_MAGIC: u64 = 0xcafe_4a11;
/// Pins kept at most: one per interface name (and origin) bound since boot, so more than this
/// only with more names than that; see [`evictions`] for which go. A program freed this way
/// lives on in the cgroups that use it.
pub const MAX_PINS: usize = 64;

/// What became of the cache for one program.
#[derive(Debug)]
pub enum Pin {
    /// The pinned copy was ours and is used: nothing was loaded.
    Reused,
    /// Loaded and pinned for later starts.
    Pinned,
    /// Loaded; what was pinned under the name was not ours for this ifindex and was replaced.
    Replaced,
    /// Loaded; pinning failed (no bpffs, read-only, a racing start pinned it first).
    NotPinned(io::Error),
}

/// The pin's file name for our program of `origin` binding to the interface `interface`.
/// `None` for a name no interface can have (a bpffs file name cannot hold a `/`).
pub fn pin_name(origin: Origin, interface: &str) -> Option<String> {
    crate::unit::ifname::valid_full(interface, true)
        .then(|| format!("{}-{interface}", origin.prog_name()))
}

/// The origin and interface name a file name of ours stands for, `None` for any other name.
pub fn parse_pin_name(name: &str) -> Option<(Origin, &str)> {
    // Our program names hold no '-'; interface names may.
    let (prog, interface) = name.split_once('-')?;
    let origin = Origin::of_name(prog)?;
    crate::unit::ifname::valid_full(interface, true).then_some((origin, interface))
}

/// Whether `name` is a pin of ours: one [`pin_name`] writes, or one of the form written before
/// the pins were named after the interface, keyed by ifindex (`bindif_unit-7`: digits only,
/// never a valid interface name), which no start uses any more but eviction and package removal
/// must still take.
pub fn is_our_pin(name: &str) -> bool {
    parse_pin_name(name).is_some() || by_ifindex(name)
}

/// The older form, `PROGNAME-IFINDEX`, exactly as it was written: digits, no leading zero.
fn by_ifindex(name: &str) -> bool {
    name.split_once('-').is_some_and(|(prog, index)| {
        Origin::of_name(prog).is_some()
            && !index.is_empty()
            && !index.starts_with('0')
            && index.len() <= 10
            && index.bytes().all(|b| b.is_ascii_digit())
    })
}

/// One pin of ours found in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// When it was pinned (`ctime`, in nanoseconds).
    pub ctime_ns: i128,
    /// Its name still names the device its program binds to, in this network namespace.
    pub live: bool,
}

/// The pins to remove so that at most `max` remain, never `keep` (the one just made): first
/// those whose name no longer names their program's ifindex (the interface is gone, or lives in
/// another namespace), then the oldest, so that an interface in use keeps its pin under churn.
pub fn evictions(entries: &[Found], keep: &str, max: usize) -> Vec<String> {
    let excess = entries.len().saturating_sub(max);
    let mut old: Vec<&Found> = entries.iter().filter(|f| f.name != keep).collect();
    old.sort_by(|a, b| (a.live, a.ctime_ns, &a.name).cmp(&(b.live, b.ctime_ns, &b.name)));
    old.into_iter()
        .take(excess)
        .map(|f| f.name.clone())
        .collect()
}

/// Whether this process may use the cache. From Linux 5.8 on, attaching a program needs no
/// capability once one holds its descriptor, so a launcher without CAP_BPF/CAP_NET_ADMIN (a
/// unit's CapabilityBoundingSet=) would bind where an earlier start left a pin and fail where
/// none did; it loads (and fails) the same way every time instead.
fn may_use_cache() -> bool {
    process::effective_capabilities().map_or(true, process::may_load_cgroup_programs)
}

/// The shared program pinned under `dir` for `interface`, with the ifindex it binds to, when it
/// is ours and that ifindex carries the name `interface` in this network namespace now: the
/// name's resolution and the program in one, without rtnetlink. `None` means nothing more than
/// "ask rtnetlink, then [`bind_program`]". The program comes with the id its check read.
pub fn shared_for(
    dir: &Path,
    interface: &str,
    origin: Origin,
    names: &mut NameLookup,
) -> Option<(u32, Prog)> {
    let path = dir.join(pin_name(origin, interface)?);
    if !may_use_cache() {
        return None;
    }
    let fd = bpf::pinned(&path).ok()?;
    let info = bpf::prog_info_fd(fd.as_fd()).ok()?;
    let ifindex = info.ours_ifindex.filter(|_| info.origin == Some(origin))?;
    (names.primary_name(ifindex).as_deref() == Some(interface))
        .then(|| (ifindex, Prog::with_id(fd, info.id)))
}

/// Our program binding to `ifindex`, which `interface` resolved to, named for `origin`: the copy
/// pinned under `dir` for that name when it binds to `ifindex`, else a new load, pinned there
/// (in place of what was) for the next start when possible. Only the load can fail; what
/// happened to the cache comes with the program (a reused copy with the id its check read).
pub fn bind_program(
    dir: &Path,
    interface: &str,
    ifindex: u32,
    origin: Origin,
) -> Result<(Prog, Pin), LoadError> {
    let name = pin_name(origin, interface).filter(|_| may_use_cache());
    let Some(name) = name else {
        return bpf::load_bind_program_as(ifindex, origin).map(|fd| {
            let why = io::Error::from_raw_os_error(libc::EPERM);
            (Prog::new(fd), Pin::NotPinned(why))
        });
    };
    let path = dir.join(name);
    let stale = match bpf::pinned(&path) {
        Ok(fd) => match ours_for(fd.as_fd(), ifindex, origin) {
            Some(id) => return Ok((Prog::with_id(fd, id), Pin::Reused)),
            None => true,
        },
        Err(_) => false,
    };
    let fd = bpf::load_bind_program_as(ifindex, origin)?;
    let pin = match publish(dir, &path, fd.as_fd(), stale) {
        Ok(()) if stale => Pin::Replaced,
        Ok(()) => Pin::Pinned,
        Err(e) => Pin::NotPinned(e),
    };
    Ok((Prog::new(fd), pin))
}

/// The id of the program behind `fd` when it is ours, named for `origin`, binding to `ifindex`.
fn ours_for(fd: BorrowedFd, ifindex: u32, origin: Origin) -> Option<u32> {
    bpf::prog_info_fd(fd)
        .ok()
        .filter(|info| info.ours_ifindex == Some(ifindex) && info.origin == Some(origin))
        .map(|info| info.id)
}

/// Pins `fd` at `path` in `dir`, made if need be; `stale`: what is there now is not ours for
/// this name, so it goes first. Then trims the directory to [`MAX_PINS`].
fn publish(dir: &Path, path: &Path, fd: BorrowedFd, stale: bool) -> io::Result<()> {
    make_dir(dir)?;
    if stale {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    bpf::pin(fd, path)?;
    let keep = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    evict(dir, keep);
    Ok(())
}

/// Makes the pin directory, only inside a bpffs: never anywhere else.
fn make_dir(dir: &Path) -> io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    if super::cgroup::statfs_magic(parent)? != BPF_FS_MAGIC {
        return Err(io::Error::from_raw_os_error(libc::EMEDIUMTYPE));
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Our pins in `dir` with their creation times (`live` left false); other names are not ours
/// and are left alone.
fn our_pins(dir: &Path) -> io::Result<Vec<Found>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_our_pin(&name) {
            continue;
        }
        // A pin removed meanwhile (a racing eviction) is simply not counted.
        if let Ok(m) = entry.metadata() {
            let ctime_ns = m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128;
            out.push(Found {
                name,
                ctime_ns,
                live: false,
            });
        }
    }
    Ok(out)
}

/// Whether the pin `name` in `dir` holds a program whose ifindex carries the pin's interface
/// name now.
fn is_live(dir: &Path, name: &str, names: &mut NameLookup) -> bool {
    let Some((_, interface)) = parse_pin_name(name) else {
        return false;
    };
    let ifindex = bpf::pinned(&dir.join(name))
        .and_then(|fd| bpf::prog_info_fd(fd.as_fd()))
        .ok()
        .and_then(|info| info.ours_ifindex);
    ifindex.is_some_and(|i| names.primary_name(i).as_deref() == Some(interface))
}

/// Removes the oldest pins beyond [`MAX_PINS`], best effort: a pin that cannot be removed
/// costs memory, never a binding.
fn evict(dir: &Path, keep: &str) {
    let Ok(pins) = our_pins(dir) else {
        return;
    };
    if pins.len() <= MAX_PINS {
        return;
    }
    // Only now, when some must go, which still name their device (up to 65 lookups, on one
    // socket).
    let mut names = NameLookup::default();
    let pins: Vec<Found> = pins
        .into_iter()
        .map(|f| Found {
            live: is_live(dir, &f.name, &mut names),
            ..f
        })
        .collect();
    for name in evictions(&pins, keep, MAX_PINS) {
        let _ = fs::remove_file(dir.join(name));
    }
}

/// Removes every pin of ours in `dir`, then `dir` itself when nothing else is in it (package
/// removal). Returns how many pins were removed; a missing `dir` is not an error.
pub fn remove_all(dir: &Path) -> io::Result<usize> {
    let pins = match our_pins(dir) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for Found { name, .. } in pins {
        match fs::remove_file(dir.join(&name)) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    match fs::remove_dir(dir) {
        // Something that is not ours is in it: it stays, with the directory.
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(removed),
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_names_round_trip_and_nothing_else_is_ours() {
        for origin in [Origin::Key, Origin::Explicit] {
            for interface in [
                "mgmt",
                "eth0",
                "vrf-blue",
                "a-b-c",
                "x.y",
                "an-altname-longer-than-15",
            ] {
                let name = pin_name(origin, interface).unwrap();
                assert_eq!(parse_pin_name(&name), Some((origin, interface)), "{name}");
            }
        }
        // No pin for what systemd refuses as an interface name (one could escape the directory).
        for bad in [
            "", ".", "..", "a/b", "../x", "a b", "a:b", "a%d", "7", "all",
        ] {
            assert_eq!(pin_name(Origin::Key, bad), None, "{bad:?}");
        }
        let key = Origin::Key.prog_name();
        for foreign in [
            String::new(),
            "bindif-launch".to_string(),
            format!("{key}-"),
            key.to_string(),
            format!("{key}-a b"),
            format!("{key}-.."),
            "sd_bind_interfa-7".to_string(),
            "other-7".to_string(),
        ] {
            assert_eq!(parse_pin_name(&foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn pins_keyed_by_ifindex_are_still_ours_to_remove() {
        let key = Origin::Key.prog_name();
        let sock = Origin::Explicit.prog_name();
        for old in [
            format!("{key}-7"),
            format!("{sock}-4242"),
            format!("{key}-4294967295"),
        ] {
            assert!(is_our_pin(&old), "{old}");
            assert_eq!(parse_pin_name(&old), None, "never used for a start: {old}");
        }
        for foreign in [
            format!("{key}-07"),
            format!("{key}-+7"),
            format!("{key}-"),
            format!("{key}-99999999999"),
            "other-7".to_string(),
        ] {
            assert!(!is_our_pin(&foreign), "{foreign}");
        }
        assert!(is_our_pin(&format!("{key}-mgmt")));
    }

    fn found(name: &str, ctime_ns: i128, live: bool) -> Found {
        Found {
            name: name.to_string(),
            ctime_ns,
            live,
        }
    }

    #[test]
    fn eviction_removes_the_oldest_beyond_the_limit_never_the_new_one() {
        let e = |n: &str, t: i128| found(n, t, true);
        let pins = [e("a-1", 30), e("a-2", 10), e("a-3", 20), e("a-4", 5)];
        assert_eq!(evictions(&pins, "a-4", 4), Vec::<String>::new());
        assert_eq!(evictions(&pins, "a-4", 3), ["a-2"]);
        assert_eq!(evictions(&pins, "a-4", 2), ["a-2", "a-3"]);
        // The new pin may carry an older time (a clock step): it still stays.
        assert_eq!(evictions(&pins, "a-4", 1), ["a-2", "a-3", "a-1"]);
        // Ties go by name, so concurrent evictions agree.
        let tied = [e("b-2", 1), e("b-1", 1), e("b-3", 2)];
        assert_eq!(evictions(&tied, "b-3", 2), ["b-1"]);
    }

    #[test]
    fn eviction_takes_pins_of_vanished_devices_before_old_ones_in_use() {
        // The main interface pinned first; re-created test interfaces churn after it.
        let pins = [
            found("a-2", 1, true),
            found("a-30", 5, false),
            found("a-31", 6, false),
            found("a-32", 7, true),
        ];
        assert_eq!(evictions(&pins, "a-32", 2), ["a-30", "a-31"]);
        assert_eq!(evictions(&pins, "a-32", 1), ["a-30", "a-31", "a-2"]);
    }
}
