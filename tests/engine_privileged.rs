// SPDX-License-Identifier: LGPL-2.1-or-later
//! Privileged engine tests on the host kernel: real rtnetlink, real cgroup2, real BPF.
//!
//! They run as root in CI and FAIL (never skip) when they cannot run. Each test uses its own
//! network namespace (veth pair, no VRF needed: any interface kind binds) and its own child
//! cgroup below the cgroup2 root; nothing is ever attached to the root cgroup.
//!
//! `helper_*` functions are not tests of their own: the tests re-execute this binary with
//! `BINDIF_TEST_ROLE` set to run one of them inside a namespace or cgroup. Run normally they
//! return at once.

mod common;

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

use bindif::cgroup_path::{self, Layout};
use bindif::cmd::launch::kernel::{Cgroup, Kernel, Linux};
use bindif::program::{self, Insn, Origin};
use bindif::sys;
use bindif::sys::bpf::{self, BindOutcome};
use bindif::sys::netlink;
use bindif::sys::Category;
use common::*;

fn device(fd: BorrowedFd) -> String {
    bpf::bound_device_name(fd)
        .expect("getsockopt(SO_BINDTODEVICE)")
        .unwrap_or_else(|| "-".into())
}

/// Creates TCP/UDP over IPv4/IPv6 (listening) and AF_UNIX sockets and records the device each
/// one is bound to ("-" when unbound).
fn socket_report(prefix: &str, r: &mut Report) {
    let tcp4 = TcpListener::bind("0.0.0.0:0").expect("tcp4");
    let udp4 = UdpSocket::bind("0.0.0.0:0").expect("udp4");
    let tcp6 = TcpListener::bind("[::]:0").expect("tcp6");
    let udp6 = UdpSocket::bind("[::]:0").expect("udp6");
    let (unix_a, _unix_b) = UnixStream::pair().expect("unix");
    let unix_dgram = UnixDatagram::unbound().expect("unix dgram");
    r.insert(format!("{prefix}tcp4"), device(tcp4.as_fd()));
    r.insert(format!("{prefix}udp4"), device(udp4.as_fd()));
    r.insert(format!("{prefix}tcp6"), device(tcp6.as_fd()));
    r.insert(format!("{prefix}udp6"), device(udp6.as_fd()));
    r.insert(format!("{prefix}unix"), device(unix_a.as_fd()));
    r.insert(format!("{prefix}unixdgram"), device(unix_dgram.as_fd()));
    // Connecting: the route lookup of a socket bound to bt0 must go out bt0 (the subnet lives
    // there), and the connected socket keeps its device.
    let udp4c = UdpSocket::bind("0.0.0.0:0").expect("udp4 connect");
    let connected = match udp4c.connect("10.199.0.2:9") {
        Ok(()) => device(udp4c.as_fd()),
        Err(e) => format!("err:{}", e.raw_os_error().unwrap_or(-1)),
    };
    r.insert(format!("{prefix}udp4conn"), connected);
    let probe = bpf::probe_bound_ifindex().expect("probe");
    r.insert(
        format!("{prefix}probe"),
        probe.map_or("-".into(), |i| i.to_string()),
    );
}

/// Binds the cgroup at `path` to `ifindex` with the launcher's own steps: open, load, attach
/// (which checks the cgroup and removes our older copies).
/// A start as it was before the shared-program cache, and is where no bpffs is mounted: a
/// copy of its own, which replaces the copies earlier starts left (`tests/pinned_privileged.rs`
/// tests the cache, where every start attaches one copy).
fn bind_at(path: &Path, ifindex: u32) -> Result<BindOutcome, sys::Error> {
    let cg = Cgroup::open(path)?;
    let mut prog = bpf::Prog::new(bpf::load_bind_program_as(ifindex, Origin::Key)?);
    Linux::default().attach(&cg, &mut prog)
}

fn own_cgroup2_path() -> String {
    let pc = bindif::sys::cgroup::read_proc_self_cgroup(Path::new("/")).unwrap();
    pc.unified.unwrap_or_default().into_string().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Helpers (run in re-executed copies of this binary)

#[test]
fn helper_probe() {
    if !helper_role("probe") {
        return;
    }
    let mut r = Report::new();
    socket_report("", &mut r);
    r.insert("cgroup".into(), own_cgroup2_path());
    if std::env::var("BINDIF_GRANDCHILD").is_ok() {
        // A grandchild: a process started by the service, inheriting its cgroup.
        let mut h = Helper::new("probe");
        h.env_remove = vec!["BINDIF_GRANDCHILD"];
        let gc = h.run();
        for (k, v) in gc {
            r.insert(format!("gc.{k}"), v);
        }
    }
    emit(&r);
}

#[test]
fn helper_resolve() {
    if !helper_role("resolve") {
        return;
    }
    let mut r = Report::new();
    let names = std::env::var("BINDIF_NAMES").unwrap();
    for (i, name) in names.split(',').enumerate() {
        let v = match netlink::resolve_ifindex(name) {
            Ok(Some(idx)) => idx.to_string(),
            Ok(None) => "none".into(),
            Err(e) => format!("err:{}", e.raw_os_error().unwrap_or(-1)),
        };
        r.insert(format!("n{i}"), v);
    }
    let idx: u32 = std::env::var("BINDIF_INDEX").unwrap().parse().unwrap();
    r.insert(
        "name_of".into(),
        netlink::ifname_of(idx).unwrap().unwrap_or("none".into()),
    );
    let link = netlink::link_by_index(idx).unwrap().unwrap();
    r.insert("altnames".into(), link.altnames.join(","));
    r.insert(
        "pid1_netns".into(),
        netlink::in_pid1_netns()
            .unwrap()
            .map_or("unknown".into(), |b| b.to_string()),
    );
    r.insert(
        "stale".into(),
        netlink::ifname_of(99_999).unwrap().unwrap_or("none".into()),
    );
    emit(&r);
}

#[test]
fn helper_load() {
    if !helper_role("load") {
        return;
    }
    let mut r = Report::new();
    match bpf::load_bind_program(1) {
        Ok(_) => {
            r.insert("loaded".into(), "yes".into());
        }
        Err(e) => {
            r.insert("errno".into(), e.errno().unwrap_or(-1).to_string());
            r.insert("exit".into(), e.exit_status().to_string());
            r.insert(
                "mentions_cap_bpf".into(),
                e.to_string().contains("CAP_BPF").to_string(),
            );
            eprintln!("{e}");
        }
    }
    emit(&r);
}

#[test]
fn helper_bind_twice() {
    if !helper_role("bind_twice") {
        return;
    }
    let path = std::env::var("BINDIF_CGROUP").unwrap();
    let mut r = Report::new();
    for round in ["first", "second"] {
        match bind_at(Path::new(&path), 1) {
            Ok(out) => {
                r.insert(format!("{round}.detached"), out.detached.to_string());
                let cleanup = out
                    .cleanup_error
                    .map_or("none".into(), |e| e.errno().unwrap_or(-1).to_string());
                r.insert(format!("{round}.cleanup"), cleanup);
            }
            Err(e) => {
                eprintln!("{e}");
                r.insert(
                    format!("{round}.error"),
                    e.errno().unwrap_or(-1).to_string(),
                );
            }
        }
    }
    emit(&r);
}

#[test]
fn helper_adhoc() {
    if !helper_role("adhoc") {
        return;
    }
    let parent = std::env::var("BINDIF_PARENT").unwrap();
    let dir = sys::cgroup::create_child_and_enter(Path::new(&parent), "adhoc").unwrap();
    let mut r = Report::new();
    r.insert("dir".into(), dir.display().to_string());
    r.insert("cgroup".into(), own_cgroup2_path());
    emit(&r);
}

#[test]
fn helper_mirror() {
    if !helper_role("mirror") {
        return;
    }
    let mount = std::env::var("BINDIF_MOUNT").unwrap();
    let unit = std::env::var("BINDIF_UNIT").unwrap();
    let mount = Path::new(&mount);
    // the host's hierarchy flags, which a mount from this (the initial) cgroup namespace
    // would otherwise clear for the whole host
    let mi = std::fs::read_to_string("/proc/1/mountinfo").unwrap();
    let flags = bindif::cgroup_path::cgroup2_flags(&mi).unwrap_or_default();
    sys::cgroup::mount_private_cgroup2(mount, &flags).unwrap();
    // Idempotent: a second call sees the cgroup2 already there.
    sys::cgroup::mount_private_cgroup2(mount, &flags).unwrap();
    let dir = sys::cgroup::enter_mirror(mount, &unit).unwrap();
    let mut r = Report::new();
    r.insert("dir".into(), dir.display().to_string());
    r.insert("cgroup".into(), own_cgroup2_path());
    r.insert(
        "root_refused".into(),
        sys::cgroup::enter_mirror(mount, "/").is_err().to_string(),
    );
    emit(&r);
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn host_layout_is_hybrid() {
    require_privileges();
    let layout = sys::cgroup::detect(Path::new("/"));
    assert_eq!(
        layout,
        Layout::Hybrid {
            mount: CGROUP2.into()
        }
    );
    // This host's processes live in the root cgroup: own_cgroup_dir finds it, and it is the
    // one place we must never attach to.
    let (path, fd) = sys::cgroup::own_cgroup_dir().unwrap();
    assert!(path.starts_with(CGROUP2), "{}", path.display());
    if path == Path::new(CGROUP2) {
        let err = bpf::check_attachable(fd.as_fd()).unwrap_err();
        assert_eq!(err.category, Category::Cgroup);
    }
}

#[test]
fn refuses_root_cgroup_and_non_cgroup_dirs() {
    require_privileges();
    // Only the check itself is exercised on the root (attaching runs it before anything else,
    // shown by the /tmp case below), so a regression can never bind the whole host.
    let root = sys::cgroup::open_cgroup_dir(Path::new(CGROUP2)).unwrap();
    let err = bpf::check_attachable(root.as_fd()).unwrap_err();
    assert_eq!(err.category, Category::Cgroup);
    assert_eq!(err.exit_status(), 219);
    assert!(err.to_string().contains("root cgroup"), "{err}");
    let err = bind_at(Path::new("/tmp"), 1).unwrap_err();
    assert_eq!(err.category, Category::Cgroup);
    assert!(err.to_string().contains("not a cgroup2 directory"), "{err}");
    assert!(cgroup_path::join_non_root(Path::new(CGROUP2), "/").is_err());
    // A child cgroup is accepted.
    let child = TestCgroup::new();
    let fd = sys::cgroup::open_cgroup_dir(&child.path).unwrap();
    bpf::check_attachable(fd.as_fd()).unwrap();
}

#[test]
fn kernel_xlated_form_is_recognised() {
    require_privileges();
    let fd = bpf::load_bind_program(42).unwrap();
    let info = bpf::prog_info_fd(fd.as_fd()).unwrap();
    assert_eq!(info.name, program::PROG_NAME);
    assert_eq!(info.prog_type, bpf::BPF_PROG_TYPE_CGROUP_SOCK);
    eprintln!("xlated: {:02x?}", info.xlated);
    assert_eq!(info.xlated.len(), 32, "{:02x?}", info.xlated);
    assert_eq!(program::ifindex_of_program(&info.xlated), Some(42));
    assert_eq!(info.ours_ifindex, Some(42));
    assert!(!info.is_v260_native);
    // Same by id, as `status` will do it.
    assert_eq!(bpf::prog_info(info.id).unwrap().ours_ifindex, Some(42));

    // v260's native program is recognised by name.
    let native =
        bpf::load_program(&program::bind_iface_program(42), program::V260_PROG_NAME).unwrap();
    let ninfo = bpf::prog_info_fd(native.as_fd()).unwrap();
    assert!(ninfo.is_v260_native);
    assert!(!ninfo.is_ours());
}

/// A program's translated instructions come whole whether they fit the buffer of the first
/// `BPF_OBJ_GET_INFO_BY_FD` (ours: one call) or not (a long foreign program: a second call).
#[test]
fn program_info_reads_short_and_long_programs_whole() {
    require_privileges();
    let ours = bpf::load_program(&program::bind_iface_program(7), "bindif_unit").unwrap();
    let info = bpf::prog_info_fd(ours.as_fd()).unwrap();
    assert_eq!(info.ours_ifindex, Some(7));
    assert_eq!(info.xlated.len() % 8, 0);
    assert!(!info.xlated.is_empty());
    for n in [31usize, 32, 33, 100] {
        let mut insns = vec![Insn::mov64_imm(0, 1); n - 1];
        insns.push(Insn::exit());
        let long = bpf::load_program(&insns, "foreign_long").unwrap();
        let info = bpf::prog_info_fd(long.as_fd()).unwrap();
        assert_eq!(info.xlated.len(), n * 8, "{n} instructions");
        assert_eq!(info.name, "foreign_long");
        assert!(!info.is_ours());
    }
}

#[test]
fn verifier_rejection_carries_the_log() {
    require_privileges();
    // bpf_sock.family (offset 4) is read-only: the verifier refuses the store.
    let bad = [
        Insn::mov64_imm(2, 1),
        Insn::stx_mem_w(1, 2, 4),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    let err = bpf::load_program(&bad, "bindif_bad").unwrap_err();
    assert_eq!(err.category, Category::Bpf);
    assert_eq!(err.exit_status(), 245);
    let log = err.verifier_log.as_deref().expect("verifier log");
    assert!(!log.trim().is_empty());
    let text = err.to_string();
    assert!(
        text.starts_with("Failed to load BPF program bindif_bad: "),
        "{text}"
    );
    assert!(text.contains("rejected by the verifier"), "{text}");
    eprintln!("{text}");
}

#[test]
fn bind_by_path_names_the_cgroup_in_errors() {
    require_privileges();
    let missing = Path::new(CGROUP2).join(unique("bindif-missing"));
    let err = bind_at(&missing, 1).unwrap_err();
    assert_eq!(err.category, Category::Cgroup);
    assert_eq!(
        err.to_string(),
        format!(
            "Failed to open cgroup {}: No such file or directory",
            missing.display()
        )
    );
    // Refused. Should a regression attach it, it comes off before the test fails: left on the
    // root, it would bind every new socket of the host to `lo` (one did, for minutes).
    match bind_at(Path::new(CGROUP2), 1) {
        Err(err) => assert!(err.to_string().contains(CGROUP2), "{err}"),
        Ok(out) => {
            let root = sys::cgroup::open_cgroup_dir(Path::new(CGROUP2)).unwrap();
            let prog = bpf::prog_fd_by_id(out.prog_id).unwrap();
            bpf::detach(root.as_fd(), prog.as_fd()).unwrap();
            panic!("bound the root cgroup {CGROUP2}");
        }
    }
    let cgroup = TestCgroup::new();
    let out = bind_at(&cgroup.path, 1).unwrap();
    let out2 = bind_at(&cgroup.path, 1).unwrap();
    assert_eq!(out2.detached, 1);
    assert!(out2.prog_id > out.prog_id);
}

/// The ancestor check's one query (`BPF_F_QUERY_EFFECTIVE`) stands in for the walk only when
/// every program that runs for the cgroup binds to the start's own interface, whichever pin
/// (unit or ad hoc) it came from; anything else, and the walk names the ancestor that wins.
/// The ifindexes need no device: a program carries its number, and nothing here resolves it.
#[test]
fn ancestor_bindings_skip_the_walk_only_for_bindings_to_the_same_interface() {
    require_privileges();
    let grandparent = TestCgroup::new();
    let parent = grandparent.path.join("parent");
    let child = parent.join("child");
    std::fs::create_dir_all(&child).unwrap();
    let child = Cgroup::open(&child).unwrap();
    let mut k = Linux::default();
    let bind = |path: &Path, ifindex: u32, origin: Origin| {
        let mut prog = bpf::Prog::new(bpf::load_bind_program_as(ifindex, origin).unwrap());
        let out = Linux::default()
            .attach(&Cgroup::open(path).unwrap(), &mut prog)
            .unwrap();
        out.prog_id
    };
    assert_eq!(bpf::effective_ids(child.fd()).unwrap(), Vec::<u32>::new());
    assert!(bpf::only_bindings_to(child.fd(), 1));
    assert!(k.ancestor_bindings(&child, 1).unwrap().is_empty());

    // A unit's program on the parent: an ad hoc run below it to the same interface walks
    // nothing; to another one, the walk names the parent.
    let unit = bind(&parent, 1, Origin::Key);
    assert_eq!(bpf::effective_ids(child.fd()).unwrap(), vec![unit]);
    assert!(bpf::only_bindings_to(child.fd(), 1));
    assert!(k.ancestor_bindings(&child, 1).unwrap().is_empty());
    assert!(!bpf::only_bindings_to(child.fd(), 7));
    let nested = k.ancestor_bindings(&child, 7).unwrap();
    assert_eq!(nested.len(), 1, "{nested:?}");
    assert_eq!((&nested[0].cgroup, nested[0].ifindex), (&parent, Some(1)));
    assert!(!nested[0].native);

    // The parent's program replaced by an ad hoc run's copy (the other pin) for the same
    // interface: still one query.
    bind(&parent, 1, Origin::Explicit);
    assert!(bpf::only_bindings_to(child.fd(), 1));

    // Another interface on the grandparent, which runs last: one same-interface program in
    // the list must not hide it.
    bind(&grandparent.path, 2, Origin::Key);
    assert!(!bpf::only_bindings_to(child.fd(), 1));
    let nested = k.ancestor_bindings(&child, 1).unwrap();
    let last = nested.last().expect("the grandparent's binding");
    assert_eq!((&last.cgroup, last.ifindex), (&grandparent.path, Some(2)));
}

#[test]
fn binds_sockets_of_cgroup_and_descendants_only() {
    require_privileges();
    let ns = NetNs::new();
    let cgroup = TestCgroup::new();
    let expected = ns.ifindex_by_ip(VETH_A);

    // Resolve inside the namespace, as the launcher would.
    let mut resolve = Helper::new("resolve");
    resolve.netns = Some(&ns);
    resolve.env = vec![
        ("BINDIF_NAMES", VETH_A.to_string()),
        ("BINDIF_INDEX", expected.to_string()),
    ];
    let ifindex: u32 = resolve.run()["n0"].parse().unwrap();
    assert_eq!(ifindex, expected);

    let dir = sys::cgroup::open_cgroup_dir(&cgroup.path).unwrap();
    let BindOutcome {
        prog_id,
        detached,
        cleanup_error,
        attached_now,
        last,
    } = bind_at(&cgroup.path, ifindex).unwrap();
    assert!(attached_now && last);
    assert_eq!(detached, 0);
    assert!(cleanup_error.is_none());
    assert_eq!(bpf::query(dir.as_fd()).unwrap(), vec![prog_id]);
    let q = bpf::query_full(dir.as_fd()).unwrap();
    assert_eq!(q.attach_flags, bpf::BPF_F_ALLOW_MULTI);

    // A process in the cgroup, and a process it starts.
    let mut inside = Helper::new("probe");
    inside.netns = Some(&ns);
    inside.cgroup = Some(&cgroup.path);
    inside.env = vec![("BINDIF_GRANDCHILD", "1".into())];
    let r = inside.run();
    assert_eq!(r["cgroup"], cgroup.rel());
    assert_eq!(r["gc.cgroup"], cgroup.rel());
    for p in ["", "gc."] {
        for kind in ["tcp4", "udp4", "tcp6", "udp6", "udp4conn"] {
            assert_eq!(r[&format!("{p}{kind}")], VETH_A, "{p}{kind}: {r:?}");
        }
        assert_eq!(r[&format!("{p}unix")], "-", "{r:?}");
        assert_eq!(r[&format!("{p}unixdgram")], "-", "{r:?}");
        assert_eq!(r[&format!("{p}probe")], ifindex.to_string(), "{r:?}");
    }

    // Same namespace, other cgroup: unbound.
    let mut outside = Helper::new("probe");
    outside.netns = Some(&ns);
    let r = outside.run();
    for kind in ["tcp4", "udp4", "tcp6", "udp6", "probe"] {
        assert_eq!(r[kind], "-", "{kind}: {r:?}");
    }
    // And this test process itself (host namespace, root cgroup): unbound.
    assert_eq!(bpf::probe_bound_ifindex().unwrap(), None);
}

#[test]
fn restarts_leave_one_program_and_spare_foreign_ones() {
    require_privileges();
    let cgroup = TestCgroup::new();
    let dir = sys::cgroup::open_cgroup_dir(&cgroup.path).unwrap();

    // Foreign programs: one with our exact instructions but another name, one trivial.
    let copy = bpf::load_program(&program::bind_iface_program(1), "foreign_copy").unwrap();
    let allow = bpf::load_program(&[Insn::mov64_imm(0, 1), Insn::exit()], "foreign_test").unwrap();
    bpf::attach(dir.as_fd(), copy.as_fd()).unwrap();
    bpf::attach(dir.as_fd(), allow.as_fd()).unwrap();
    let copy_id = bpf::prog_info_fd(copy.as_fd()).unwrap().id;
    let allow_id = bpf::prog_info_fd(allow.as_fd()).unwrap().id;
    drop((copy, allow)); // the cgroup keeps them alive

    let mut last = None;
    let mut total_detached = 0;
    for i in 0..200 {
        let out = bind_at(&cgroup.path, 1 + (i % 3)).unwrap();
        assert!(out.cleanup_error.is_none(), "{:?}", out.cleanup_error);
        total_detached += out.detached;
        last = Some(out);
    }
    let last = last.unwrap();
    assert_eq!(total_detached, 199);

    let attached = bpf::attached_programs(dir.as_fd()).unwrap();
    let ours: Vec<_> = attached.iter().filter(|p| p.is_ours()).collect();
    assert_eq!(ours.len(), 1, "{attached:?}");
    assert_eq!(ours[0].id, last.prog_id);
    assert_eq!(ours[0].ours_ifindex, Some(1 + (199 % 3)));
    let ids = bpf::query(dir.as_fd()).unwrap();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&copy_id) && ids.contains(&allow_id), "{ids:?}");

    // Removing all of ours leaves the foreign ones.
    assert_eq!(bpf::detach_ours(dir.as_fd(), None).unwrap(), 1);
    let mut ids = bpf::query(dir.as_fd()).unwrap();
    ids.sort();
    let mut foreign = vec![copy_id, allow_id];
    foreign.sort();
    assert_eq!(ids, foreign);
}

#[test]
fn resolves_names_altnames_and_missing_devices() {
    require_privileges();
    let ns = NetNs::new();
    let expected = ns.ifindex_by_ip(VETH_A);
    let long_missing = "x".repeat(40);
    let names = [VETH_A, ALTNAME, VETH_B, "nosuchdev0", long_missing.as_str()];
    let mut h = Helper::new("resolve");
    h.netns = Some(&ns);
    h.env = vec![
        ("BINDIF_NAMES", names.join(",")),
        ("BINDIF_INDEX", expected.to_string()),
    ];
    let r = h.run();
    assert_eq!(r["n0"], expected.to_string());
    assert_eq!(r["n1"], expected.to_string(), "altname: {r:?}");
    assert_eq!(r["n2"], ns.ifindex_by_ip(VETH_B).to_string());
    assert_eq!(r["n3"], "none");
    assert_eq!(r["n4"], "none");
    assert_eq!(r["name_of"], VETH_A);
    assert_eq!(r["altnames"], ALTNAME);
    assert_eq!(r["stale"], "none");
    // PID 1's namespace may be unreadable (EACCES in this CI sandbox): then "unknown".
    assert_ne!(r["pid1_netns"], "true");
    assert_ne!(netlink::in_pid1_netns().unwrap(), Some(false));
    // Not in the host namespace.
    assert_eq!(netlink::resolve_ifindex(ALTNAME).unwrap(), None);
    assert!(netlink::resolve_ifindex("").is_err());
    assert_eq!(netlink::resolve_ifindex("lo").unwrap(), Some(1));
}

#[test]
fn unprivileged_load_names_the_capability() {
    require_privileges();
    let mut h = Helper::new("load");
    h.uid = Some(65534);
    let r = h.run();
    assert_eq!(r.get("loaded"), None, "{r:?}");
    assert_eq!(r["errno"], libc::EPERM.to_string());
    assert_eq!(r["exit"], "245");
    assert_eq!(r["mentions_cap_bpf"], "true");
}

#[test]
fn binding_without_cap_sys_admin_still_attaches() {
    require_privileges();
    let cgroup = TestCgroup::new();
    let mut h = Helper::new("bind_twice");
    // Root without CAP_SYS_ADMIN (kept: CAP_BPF, CAP_NET_ADMIN), like a launcher in a unit
    // with a restricted CapabilityBoundingSet=.
    h.wrapper = vec!["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-all"];
    h.env = vec![("BINDIF_CGROUP", cgroup.path.display().to_string())];
    let r = h.run();
    eprintln!("{r:?}");
    assert_eq!(r.get("first.error"), None, "{r:?}");
    assert_eq!(r.get("second.error"), None, "{r:?}");
    let dir = sys::cgroup::open_cgroup_dir(&cgroup.path).unwrap();
    let ours = bpf::attached_programs(dir.as_fd())
        .unwrap()
        .into_iter()
        .filter(|p| p.is_ours())
        .count();
    if r["second.cleanup"] == "none" {
        assert_eq!(r["second.detached"], "1");
        assert_eq!(ours, 1);
    } else {
        assert_eq!(r["second.cleanup"], libc::EPERM.to_string());
        assert_eq!(ours, 2);
    }
}

#[test]
fn adhoc_child_cgroup_is_entered() {
    require_privileges();
    let parent = TestCgroup::new();
    let mut h = Helper::new("adhoc");
    h.env = vec![("BINDIF_PARENT", parent.path.display().to_string())];
    let r = h.run();
    assert_eq!(r["dir"], parent.path.join("adhoc").display().to_string());
    assert_eq!(r["cgroup"], format!("{}/adhoc", parent.rel()));
}

/// Unmounts on drop, even when the test fails.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = fs::remove_dir(&self.0);
        if let Some(p) = self.0.parent() {
            let _ = fs::remove_dir(p);
        }
    }
}

#[test]
fn legacy_mirror_mount_enter_and_cleanup() {
    require_privileges();
    // On this hybrid host a second cgroup2 mount shows the same hierarchy, so the mirror
    // appears below the real root too; its top directory is unique and removed afterwards.
    let top = unique("bindif-mirror");
    let mount = Mount(Path::new("/run").join(&top).join("cgroup2"));
    let mirror_top = Path::new(CGROUP2).join(&top);
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            remove_cgroup_tree(&self.0);
        }
    }
    let _cleanup = Cleanup(mirror_top.clone());

    let unit = format!("/{top}/system.slice/demo.service");
    let mut h = Helper::new("mirror");
    h.env = vec![
        ("BINDIF_MOUNT", mount.0.display().to_string()),
        ("BINDIF_UNIT", unit.clone()),
    ];
    let r = h.run();
    assert_eq!(r["cgroup"], unit);
    assert_eq!(r["root_refused"], "true");
    assert_eq!(
        sys::cgroup::statfs_magic(&mount.0).unwrap(),
        cgroup_path::CGROUP2_SUPER_MAGIC
    );
    // The helper has exited, so its directories are empty leftovers now; a busy sibling stays.
    let busy = TestCgroup {
        path: mirror_top.join("busy"),
    };
    fs::create_dir(&busy.path).unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("10")
        .spawn()
        .unwrap();
    fs::write(busy.path.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let removed = sys::cgroup::remove_empty_leftovers(&mount.0.join(&top), None, None).unwrap();
    assert_eq!(removed, 2, "system.slice and demo.service");
    assert!(busy.path.exists());
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

/// Issue 13 #13: a cgroup full of stale copies of ours (64, the kernel's limit per hook) made
/// every later attach fail with E2BIG for ever. The attach now makes room by removing the
/// oldest copy of ours, then replaces the rest; a cgroup full of foreign programs is left
/// alone and the error says why.
#[test]
fn a_cgroup_full_of_stale_copies_recovers() {
    require_privileges();
    let cgroup = TestCgroup::new();
    let dir = sys::cgroup::open_cgroup_dir(&cgroup.path).unwrap();
    for _ in 0..64 {
        let stale = bpf::load_bind_program(1).unwrap();
        bpf::attach(dir.as_fd(), stale.as_fd()).unwrap();
    }
    let extra = bpf::load_bind_program(1).unwrap();
    let full = bpf::attach(dir.as_fd(), extra.as_fd()).unwrap_err();
    assert_eq!(full.raw_os_error(), Some(libc::E2BIG), "the kernel's limit");

    let out = bind_at(&cgroup.path, 2).unwrap();
    assert!(out.cleanup_error.is_none(), "{:?}", out.cleanup_error);
    assert_eq!(out.detached, 64);
    let attached = bpf::attached_programs(dir.as_fd()).unwrap();
    assert_eq!(attached.len(), 1, "{attached:?}");
    assert_eq!(attached[0].id, out.prog_id);
    assert_eq!(attached[0].ours_ifindex, Some(2));

    // Full of foreign programs: nothing of theirs is removed; the message names the cause.
    let foreign_cg = TestCgroup::new();
    let fdir = sys::cgroup::open_cgroup_dir(&foreign_cg.path).unwrap();
    for _ in 0..64 {
        let p = bpf::load_program(&[Insn::mov64_imm(0, 1), Insn::exit()], "foreign_test").unwrap();
        bpf::attach(fdir.as_fd(), p.as_fd()).unwrap();
    }
    let err = bind_at(&foreign_cg.path, 2).unwrap_err();
    assert_eq!(err.exit_status(), 245);
    assert_eq!(
        err.to_string(),
        format!(
            "Failed to attach BPF program to {}: Argument list too long (the cgroup holds the kernel's limit of 64 programs, none of them ours)",
            foreign_cg.path.display()
        )
    );
    assert_eq!(bpf::query(fdir.as_fd()).unwrap().len(), 64);
}

/// Issue 13 #14: a program attached without BPF_F_ALLOW_MULTI (as `ip vrf exec` attaches)
/// makes the kernel refuse ours with EPERM even as full root; the hint names that program
/// instead of a capability, on the cgroup itself and on an ancestor.
#[test]
fn a_non_multi_program_is_named_not_a_capability() {
    require_privileges();
    let vrf = TestCgroup::new();
    let dir = sys::cgroup::open_cgroup_dir(&vrf.path).unwrap();
    let exclusive =
        bpf::load_program(&[Insn::mov64_imm(0, 1), Insn::exit()], "foreign_vrf").unwrap();
    bpf::attach_with_flags(dir.as_fd(), exclusive.as_fd(), 0).unwrap();
    let child = vrf.path.join("bindif-launch-1");
    fs::create_dir(&child).unwrap();

    let err = bind_at(&vrf.path, 1).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EPERM));
    assert_eq!(
        err.to_string(),
        format!(
            "Failed to attach BPF program to {}: Operation not permitted (a program attached without BPF_F_ALLOW_MULTI (ip vrf exec?) is on this cgroup)",
            vrf.path.display()
        )
    );
    let err = bind_at(&child, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Failed to attach BPF program to {}: Operation not permitted (a program attached without BPF_F_ALLOW_MULTI (ip vrf exec?) is on an ancestor cgroup)",
            child.display()
        )
    );
    // The foreign program stays where it was.
    assert_eq!(bpf::query(dir.as_fd()).unwrap().len(), 1);
    fs::remove_dir(&child).unwrap();

    // With ALLOW_OVERRIDE on the ancestor the kernel lets ours in below it.
    let permissive = TestCgroup::new();
    let pdir = sys::cgroup::open_cgroup_dir(&permissive.path).unwrap();
    bpf::attach_with_flags(pdir.as_fd(), exclusive.as_fd(), bpf::BPF_F_ALLOW_OVERRIDE).unwrap();
    let below = permissive.path.join("below");
    fs::create_dir(&below).unwrap();
    bind_at(&below, 1).unwrap();
    fs::remove_dir(&below).unwrap();
}

/// The attach step on a legacy host may run in a mount namespace of its own (a `+` command of a
/// sandboxed unit); it joins PID 1's before mounting the private cgroup2 hierarchy, so the
/// unit's later commands find it. Here a helper in a new slave mount namespace joins the one a
/// process of ours stands in for PID 1 in (this host's PID 1 is not ours to inspect).
#[test]
fn the_attach_step_joins_pid1s_mount_namespace() {
    require_privileges();
    let mut stand_in = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let mut h = Helper::new("join_mnt");
    h.wrapper = vec!["unshare", "-m", "--propagation", "slave"];
    h.env = vec![("BINDIF_TEST_INIT", stand_in.id().to_string())];
    let r = h.run();
    let _ = stand_in.kill();
    let _ = stand_in.wait();
    assert_eq!(r["before"], "own", "{r:?}");
    assert_eq!(r["joined"], "true", "{r:?}");
    assert_eq!(r["after"], "init", "{r:?}");
}

#[test]
fn helper_join_mnt() {
    if !helper_role("join_mnt") {
        return;
    }
    let init: u32 = std::env::var("BINDIF_TEST_INIT").unwrap().parse().unwrap();
    let same_as_init = move || {
        use std::os::unix::fs::MetadataExt;
        let own = fs::metadata("/proc/self/ns/mnt").unwrap();
        let theirs = fs::metadata(format!("/proc/{init}/ns/mnt")).unwrap();
        (own.dev(), own.ino()) == (theirs.dev(), theirs.ino())
    };
    // The kernel lets only a single-threaded process change its mount namespace, and the test
    // harness runs threads: the check runs in a forked child, which reports in its exit status.
    // SAFETY: the child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let before = same_as_init();
        let joined = sys::process::join_mount_namespace_of(init);
        let after = same_as_init();
        let code =
            u8::from(before) | u8::from(matches!(joined, Ok(true))) << 1 | u8::from(after) << 2;
        // SAFETY: leaving the forked child without running the harness's exit handlers.
        unsafe { libc::_exit(code.into()) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` outlives the call.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let code = libc::WEXITSTATUS(status);
    let mut r = Report::new();
    r.insert(
        "before".into(),
        if code & 1 != 0 { "init" } else { "own" }.into(),
    );
    r.insert("joined".into(), (code & 2 != 0).to_string());
    r.insert(
        "after".into(),
        if code & 4 != 0 { "init" } else { "own" }.into(),
    );
    emit(&r);
}

/// The fast path of the cgroup lookup (no mountinfo read) is taken only for a mount of the
/// whole hierarchy seen from the initial cgroup namespace; a mount of a subtree is not.
#[test]
fn only_a_mount_of_the_whole_hierarchy_skips_mountinfo() {
    require_privileges();
    assert!(sys::cgroup::mount_shows_whole_hierarchy(cgroup2()));
    let cgroup = TestCgroup::new();
    let at = tempdir("subtree-mount");
    run(
        "mount",
        &[
            "--bind",
            cgroup.path.to_str().unwrap(),
            at.to_str().unwrap(),
        ],
    );
    let whole = sys::cgroup::mount_shows_whole_hierarchy(&at);
    run("umount", &[at.to_str().unwrap()]);
    let _ = fs::remove_dir(&at);
    assert!(!whole, "a subtree mount taken for the whole hierarchy");
}

/// The re-check after attaching confirms the first answer by index (`SIOCGIFNAME`, which
/// loads no module) and asks rtnetlink in full whenever the name differs.
#[test]
fn the_recheck_confirms_by_index_and_else_asks_rtnetlink() {
    require_privileges();
    assert_eq!(netlink::primary_name_by_ioctl(1).as_deref(), Some("lo"));
    assert_eq!(netlink::primary_name_by_ioctl(0), None);
    assert_eq!(netlink::primary_name_by_ioctl(u32::MAX), None);
    let mut k = Linux::default();
    assert_eq!(k.resolve_again("lo", 1).unwrap(), Some(1));
    // A stale index: the full lookup answers.
    assert_eq!(k.resolve_again("lo", 999_999).unwrap(), Some(1));
    let missing = unique("nx");
    assert_eq!(
        k.resolve_again(&missing[..missing.len().min(15)], 1)
            .unwrap(),
        None
    );
}
