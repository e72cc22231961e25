// SPDX-License-Identifier: LGPL-2.1-or-later
//! Privileged tests of the shared-program cache (`sys::pinned`) on the host kernel: a bpffs of
//! the test's own (mounted in a temporary directory, never /sys/fs/bpf), real programs, real
//! cgroup2 directories. They run as root in CI and fail, never skip, when they cannot run.

mod common;

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use bindif::program::{Insn, Origin};
use bindif::sys::bpf;
use bindif::sys::pinned::{self, Pin};
use common::*;

/// A bpffs mounted at a fresh temporary directory, unmounted (and removed) on drop.
struct BpfFs {
    mount: PathBuf,
}

impl BpfFs {
    fn new() -> BpfFs {
        require_privileges();
        let mount = tempdir("bpffs");
        run("mount", &["-t", "bpf", "bpf", mount.to_str().unwrap()]);
        BpfFs { mount }
    }

    /// The pin directory below it, as `/sys/fs/bpf/bindif-launch` is below systemd's bpffs.
    fn dir(&self) -> PathBuf {
        self.mount.join("bindif-launch")
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.mount)
            .status();
        let _ = fs::remove_dir(&self.mount);
    }
}

fn id_of(fd: std::os::fd::BorrowedFd) -> u32 {
    bpf::prog_id_fd(fd).expect("program id")
}

fn dir_fd(path: &Path) -> std::os::fd::OwnedFd {
    bindif::sys::cgroup::open_cgroup_dir(path).expect("open cgroup")
}

#[test]
fn the_first_start_pins_and_later_ones_share_that_program() {
    let fs = BpfFs::new();
    let (first, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("load");
    assert!(matches!(pin, Pin::Pinned), "{pin:?}");
    let (second, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("reuse");
    assert!(matches!(pin, Pin::Reused), "{pin:?}");
    assert_eq!(id_of(first.as_fd()), id_of(second.as_fd()));
    // The reused copy comes with the id its check read, which the attach then need not ask
    // for; a program just loaded has none yet.
    assert_eq!(second.known_id(), Some(id_of(first.as_fd())));
    assert_eq!(first.known_id(), None);
    // Another interface, or the other origin, is another program.
    let (other, pin) = pinned::bind_program(&fs.dir(), "if8", 8, Origin::Key).expect("other");
    assert!(matches!(pin, Pin::Pinned), "{pin:?}");
    assert_ne!(id_of(other.as_fd()), id_of(first.as_fd()));
    let (adhoc, _) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Explicit).expect("explicit");
    assert_ne!(id_of(adhoc.as_fd()), id_of(first.as_fd()));
    let info = bpf::prog_info_fd(adhoc.as_fd()).unwrap();
    assert_eq!(
        (info.origin, info.ours_ifindex),
        (Some(Origin::Explicit), Some(7))
    );
    let mode = fs::metadata(fs.dir()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o700
    );
}

#[test]
fn what_is_pinned_under_the_name_is_used_only_when_it_is_ours_for_that_ifindex() {
    let fs = BpfFs::new();
    fs::create_dir(fs.dir()).unwrap();
    let path = fs.dir().join(pinned::pin_name(Origin::Key, "if7").unwrap());
    // Ours, but for another ifindex (the interface was re-created, or this is another network
    // namespace, where the name has another index).
    let wrong = bpf::load_bind_program_as(9, Origin::Key).unwrap();
    bpf::pin(wrong.as_fd(), &path).unwrap();
    let (got, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("load");
    assert!(matches!(pin, Pin::Replaced), "{pin:?}");
    assert_ne!(id_of(got.as_fd()), id_of(wrong.as_fd()));
    let now = bpf::pinned(&path).unwrap();
    assert_eq!(id_of(now.as_fd()), id_of(got.as_fd()));
    // A foreign program of the same type.
    fs::remove_file(&path).unwrap();
    let foreign =
        bpf::load_program(&[Insn::mov64_imm(0, 1), Insn::exit()], "foreign").expect("foreign");
    bpf::pin(foreign.as_fd(), &path).unwrap();
    let (got, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("load");
    assert!(matches!(pin, Pin::Replaced), "{pin:?}");
    let info = bpf::prog_info_fd(got.as_fd()).unwrap();
    assert_eq!(
        (info.origin, info.ours_ifindex),
        (Some(Origin::Key), Some(7))
    );
}

#[test]
fn without_a_bpffs_every_start_loads_its_own_copy() {
    let plain = tempdir("no-bpffs");
    let dir = plain.join("bindif-launch");
    let (a, pin) = pinned::bind_program(&dir, "if7", 7, Origin::Key).expect("load");
    match pin {
        Pin::NotPinned(e) => assert_eq!(e.raw_os_error(), Some(libc::EMEDIUMTYPE), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(!dir.exists(), "a pin directory was made outside bpffs");
    let (b, _) = pinned::bind_program(&dir, "if7", 7, Origin::Key).expect("load");
    assert_ne!(id_of(a.as_fd()), id_of(b.as_fd()));
    let _ = fs::remove_dir(&plain);
}

#[test]
fn the_cache_keeps_at_most_its_limit_and_the_newest_pin() {
    let fs = BpfFs::new();
    let first = 1000;
    for i in 0..=pinned::MAX_PINS as u32 {
        pinned::bind_program(
            &fs.dir(),
            &format!("if{}", first + i),
            first + i,
            Origin::Key,
        )
        .expect("load");
    }
    let names: Vec<String> = fs::read_dir(fs.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), pinned::MAX_PINS, "{names:?}");
    let newest = pinned::pin_name(
        Origin::Key,
        &format!("if{}", first + pinned::MAX_PINS as u32),
    )
    .unwrap();
    assert!(names.contains(&newest), "{names:?}");
    assert!(
        !names.contains(&pinned::pin_name(Origin::Key, &format!("if{first}")).unwrap()),
        "{names:?}"
    );
}

#[test]
fn a_shared_program_binds_several_cgroups_and_outlives_its_pin() {
    let fs = BpfFs::new();
    let a = TestCgroup::new();
    let b = TestCgroup::new();
    let (prog, _) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("load");
    let (again, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("reuse");
    assert!(matches!(pin, Pin::Reused), "{pin:?}");
    let id = id_of(prog.as_fd());
    for (cg, p) in [(&a, &prog), (&b, &again)] {
        let d = dir_fd(&cg.path);
        let out = bpf::attach_replacing(d.as_fd(), p).expect("attach");
        assert_eq!(out.prog_id, id);
        assert_eq!(bpf::query(d.as_fd()).unwrap(), vec![id]);
    }
    // A second start in a cgroup that holds the program already (it outlived a stop): the
    // kernel refuses the program twice on one hook; the binding is in place, once.
    let d = dir_fd(&a.path);
    let out = bpf::attach_replacing(d.as_fd(), &again).expect("attach again");
    assert_eq!((out.prog_id, out.detached), (id, 0));
    assert_eq!(bpf::query(d.as_fd()).unwrap(), vec![id]);
    // An older per-start copy (before the cache) is replaced by the shared one.
    let old = bpf::load_bind_program_as(7, Origin::Key).unwrap();
    let old_id = id_of(old.as_fd());
    let fresh = TestCgroup::new();
    let f = dir_fd(&fresh.path);
    bpf::attach(f.as_fd(), old.as_fd()).unwrap();
    let out = bpf::attach_replacing(f.as_fd(), &prog).expect("replace");
    assert_eq!(out.detached, 1);
    assert_eq!(bpf::query(f.as_fd()).unwrap(), vec![id]);
    assert_ne!(old_id, id);
    // Removing the pins (eviction, package removal) unbinds nothing.
    assert_eq!(pinned::remove_all(&fs.dir()).unwrap(), 1);
    assert!(!fs.dir().exists());
    drop((prog, again));
    for cg in [&a, &b] {
        assert_eq!(bpf::query(dir_fd(&cg.path).as_fd()).unwrap(), vec![id]);
    }
    let info = bpf::prog_info(id).expect("still loaded");
    assert_eq!(info.ours_ifindex, Some(7));
}

/// Ad hoc mode's attach to the cgroup it has just made: no query for older copies (there can
/// be none), the same outcome as [`bpf::attach_replacing`]'s; and a racing start's copy of the
/// same shared program, already on the hook, is found in place, not an error.
#[test]
fn attaching_to_a_created_cgroup_looks_for_no_older_copies() {
    let fs = BpfFs::new();
    let (prog, _) = pinned::bind_program(&fs.dir(), "if8", 8, Origin::Explicit).expect("load");
    let id = id_of(prog.as_fd());
    let made = TestCgroup::new();
    let d = dir_fd(&made.path);
    let out = bpf::attach_to_created(d.as_fd(), &prog).expect("attach");
    assert_eq!(
        (out.prog_id, out.detached, out.attached_now, out.last),
        (id, 0, true, true)
    );
    assert_eq!(bpf::query(d.as_fd()).unwrap(), vec![id]);
    let out = bpf::attach_to_created(d.as_fd(), &prog).expect("in place");
    assert_eq!((out.attached_now, out.last, out.detached), (false, true, 0));
    assert_eq!(bpf::query(d.as_fd()).unwrap(), vec![id]);
    // What it does not do, and attach_replacing does: remove a copy of ours found there. The
    // launcher uses it only on a cgroup its own mkdir made, where there is none.
    let other = TestCgroup::new();
    let o = dir_fd(&other.path);
    let older = bpf::load_bind_program_as(8, Origin::Explicit).unwrap();
    bpf::attach(o.as_fd(), older.as_fd()).unwrap();
    let out = bpf::attach_to_created(o.as_fd(), &prog).expect("attach");
    assert_eq!(out.detached, 0);
    assert_eq!(
        bpf::query(o.as_fd()).unwrap(),
        vec![id_of(older.as_fd()), id]
    );
}

#[test]
fn removal_takes_only_our_pins() {
    let fs = BpfFs::new();
    // One left by a start of the release that keyed pins by ifindex.
    fs::create_dir(fs.dir()).unwrap();
    let old = bpf::load_bind_program_as(7, Origin::Key).unwrap();
    bpf::pin(old.as_fd(), &fs.dir().join("bindif_unit-7")).unwrap();
    pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("load");
    pinned::bind_program(&fs.dir(), "if7", 7, Origin::Explicit).expect("load");
    let foreign = bpf::load_bind_program_as(7, Origin::Key).unwrap();
    let kept = fs.dir().join("someone-elses");
    bpf::pin(foreign.as_fd(), &kept).unwrap();
    assert_eq!(pinned::remove_all(&fs.dir()).unwrap(), 3);
    assert!(kept.exists(), "a pin that is not ours was removed");
    fs::remove_file(&kept).unwrap();
    assert_eq!(pinned::remove_all(&fs.dir()).unwrap(), 0);
    assert!(!fs.dir().exists());
    assert_eq!(pinned::remove_all(&fs.dir()).unwrap(), 0);
}

/// In a helper without the capabilities to load: what the cache gives it.
#[test]
fn helper_cache_without_capabilities() {
    if !helper_role("cache_without_capabilities") {
        return;
    }
    let dir = PathBuf::from(std::env::var("BINDIF_PIN_DIR").unwrap());
    let mut r = Report::new();
    let result = match pinned::bind_program(&dir, "if7", 7, Origin::Key) {
        Ok((_, pin)) => format!("program-{}", matches!(pin, Pin::Reused)),
        Err(e) => format!("errno-{}", e.errno().unwrap_or(-1)),
    };
    r.insert("result".into(), result);
    // The lookup by name must refuse it too: it would hand over the pinned program (and the
    // ifindex) without any load that could fail.
    let shared =
        pinned::shared_for(&dir, "lo", Origin::Key, &mut Default::default()).map(|(i, _)| i);
    r.insert("shared".into(), format!("{shared:?}"));
    // What the refusal guards: the pinned program itself, opened and attached directly.
    let cg = PathBuf::from(std::env::var("BINDIF_CGROUP").unwrap());
    let direct = bpf::pinned(&dir.join(pinned::pin_name(Origin::Key, "lo").unwrap()))
        .and_then(|fd| bpf::attach(dir_fd(&cg).as_fd(), fd.as_fd()));
    r.insert(
        "direct_attach".into(),
        direct.map_or_else(
            |e| format!("errno-{}", e.raw_os_error().unwrap_or(-1)),
            |()| "ok".into(),
        ),
    );
    emit(&r);
}

#[test]
fn a_process_that_may_not_load_gets_nothing_from_the_cache() {
    let fs = BpfFs::new();
    let (_pinned, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).expect("load");
    assert!(matches!(pin, Pin::Pinned), "{pin:?}");
    // `lo` is ifindex 1 here: a pin the lookup by name would accept from a capable process.
    let (_lo, _) = pinned::bind_program(&fs.dir(), "lo", 1, Origin::Key).expect("load");
    assert!(pinned::shared_for(&fs.dir(), "lo", Origin::Key, &mut Default::default()).is_some());
    let cg = TestCgroup::new();
    // Still root (the pin's owner) with CAP_BPF, but without CAP_SYS_ADMIN and CAP_NET_ADMIN, as
    // in a unit with a restricted CapabilityBoundingSet=: it could open and recognise the pinned
    // copy and, on Linux ≥ 5.8, attach it, so the cache must refuse it as the load does.
    let mut h = Helper::new("cache_without_capabilities");
    h.wrapper = vec![
        "setpriv",
        "--bounding-set=-sys_admin,-net_admin",
        "--inh-caps=-all",
    ];
    h.env = vec![
        ("BINDIF_PIN_DIR", fs.dir().display().to_string()),
        ("BINDIF_CGROUP", cg.path.display().to_string()),
    ];
    let r = h.run();
    assert_eq!(r["result"], format!("errno-{}", libc::EPERM), "{r:?}");
    assert_eq!(r["shared"], "None", "{r:?}");
    eprintln!(
        "attaching the pinned program directly, without the capabilities: {}",
        r["direct_attach"]
    );
}

/// The shared copy found on the hook must still have the last word: when a program was attached
/// after it (a copy for another ifindex that a start without CAP_SYS_ADMIN could not remove, or
/// a foreign one), the start attaches a copy of its own, last, as before the cache.
#[test]
fn a_shared_copy_that_would_not_run_last_gives_way_to_a_private_one() {
    use bindif::cmd::launch::kernel::{Cgroup, Kernel, Linux};
    let fs = BpfFs::new();
    let cg = TestCgroup::new();
    let dir = Cgroup::open(&cg.path).unwrap();
    let (mut shared7, _) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).unwrap();
    let id7 = id_of(shared7.as_fd());
    let out = Linux::default().attach(&dir, &mut shared7).unwrap();
    assert!(out.attached_now && out.last);
    // A start for ifindex 8 that could not remove the copy before it.
    let eight = bpf::load_bind_program_as(8, Origin::Key).unwrap();
    bpf::attach(dir.fd(), eight.as_fd()).unwrap();
    let id8 = id_of(eight.as_fd());
    assert_eq!(bpf::query(dir.fd()).unwrap(), vec![id7, id8]);
    // Back to 7: the shared copy is on the hook, but not last.
    let (mut again, pin) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).unwrap();
    assert!(matches!(pin, Pin::Reused), "{pin:?}");
    let out = Linux::default().attach(&dir, &mut again).unwrap();
    let own = id_of(again.as_fd());
    assert_ne!(
        own, id7,
        "the shared copy was kept although it runs before ifindex 8's"
    );
    assert!(out.attached_now && out.last);
    let ids = bpf::query(dir.fd()).unwrap();
    assert_eq!(ids.last(), Some(&own), "{ids:?}");
    assert_eq!(bpf::prog_info(own).unwrap().ours_ifindex, Some(7));
    // With the copies before it removed (root with every capability here).
    assert_eq!(ids, vec![own]);
    // The shared copy on the hook and last: nothing is attached, nothing removed.
    let other = TestCgroup::new();
    let d2 = Cgroup::open(&other.path).unwrap();
    let (mut s1, _) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).unwrap();
    assert!(Linux::default().attach(&d2, &mut s1).unwrap().attached_now);
    let (mut s2, _) = pinned::bind_program(&fs.dir(), "if7", 7, Origin::Key).unwrap();
    let out = Linux::default().attach(&d2, &mut s2).unwrap();
    assert!(!out.attached_now && out.last);
    assert_eq!(id_of(s2.as_fd()), id7);
    assert_eq!(bpf::query(d2.fd()).unwrap(), vec![id7]);
}

/// The lookup by name alone: the pinned program stands for the name's resolution only while its
/// ifindex carries that name (here `lo`, ifindex 1 in every network namespace).
#[test]
fn a_pin_found_by_name_counts_only_while_its_ifindex_carries_the_name() {
    let fs = BpfFs::new();
    assert!(
        pinned::shared_for(&fs.dir(), "lo", Origin::Key, &mut Default::default()).is_none(),
        "nothing pinned yet"
    );
    let (lo, _) = pinned::bind_program(&fs.dir(), "lo", 1, Origin::Key).expect("load");
    let (ifindex, found) =
        pinned::shared_for(&fs.dir(), "lo", Origin::Key, &mut Default::default()).expect("found");
    assert_eq!((ifindex, id_of(found.as_fd())), (1, id_of(lo.as_fd())));
    assert_eq!(found.known_id(), Some(id_of(lo.as_fd())));
    // Not for the other origin.
    assert!(
        pinned::shared_for(&fs.dir(), "lo", Origin::Explicit, &mut Default::default()).is_none()
    );
    // A pin under the name whose program binds to another index (lo re-created elsewhere,
    // another namespace): the name must be looked up.
    let path = fs.dir().join(pinned::pin_name(Origin::Key, "lo").unwrap());
    fs::remove_file(&path).unwrap();
    let elsewhere = bpf::load_bind_program_as(4242, Origin::Key).unwrap();
    bpf::pin(elsewhere.as_fd(), &path).unwrap();
    assert!(pinned::shared_for(&fs.dir(), "lo", Origin::Key, &mut Default::default()).is_none());
    // An interface that does not exist, whatever its pin says.
    let (_gone, _) = pinned::bind_program(&fs.dir(), "gone0", 4243, Origin::Key).expect("load");
    assert!(pinned::shared_for(&fs.dir(), "gone0", Origin::Key, &mut Default::default()).is_none());
    // The lookup then replaces the pin with the program for the index the name has now.
    let (now, pin) = pinned::bind_program(&fs.dir(), "lo", 1, Origin::Key).expect("load");
    assert!(matches!(pin, Pin::Replaced), "{pin:?}");
    let (_, found) =
        pinned::shared_for(&fs.dir(), "lo", Origin::Key, &mut Default::default()).expect("found");
    assert_eq!(id_of(found.as_fd()), id_of(now.as_fd()));
}
