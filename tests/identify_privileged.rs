// SPDX-License-Identifier: LGPL-2.1-or-later
//! Privileged tests of `bindif-launch identify` and `pids` on the host kernel, side by side
//! with iproute2's `ip vrf identify`/`ip vrf pids` where those can answer.
//!
//! Every binding source is played for real: our program attached by the launcher's own load
//! and attach steps, systemd's native program (a libbpf-style program named `sd_bind_interfa`
//! that reads its ifindex from a frozen read-only array map, as `bind-iface.bpf.c` compiles),
//! iproute2's `ip vrf exec` program (its six instructions, attached without
//! `BPF_F_ALLOW_MULTI` on a `vrf/NAME` cgroup) and a `BPFProgram=`-style pin (our instructions
//! under another name). The processes are `sleep`s in a throwaway network namespace with a veth
//! pair, and the commands run there (`nsenter --net`, which keeps our cgroup mounts). They run
//! as root and FAIL (never skip) when they cannot.

mod common;

use std::fs;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bindif::program::{bind_iface_program, Insn, Origin};
use bindif::sys::bpf;
use bindif::sys::cgroup::open_cgroup_dir;
use common::*;

/// Binds the cgroup at `path` with the launcher's own load and attach steps.
fn bind_at(path: &Path, ifindex: u32) {
    use bindif::cmd::launch::kernel::{Cgroup, Kernel, Linux};
    let cg = Cgroup::open(path).expect("open cgroup");
    let name = bindif::sys::netlink::primary_name_by_ioctl(ifindex).unwrap_or_default();
    let mut prog = Linux::default()
        .load(&name, ifindex, Origin::Key)
        .expect("load");
    Linux::default().attach(&cg, &mut prog).expect("attach");
}

fn child(parent: &Path, rel: &str) -> PathBuf {
    let p = parent.join(rel);
    fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
    p
}

fn attach_insns(cgroup: &Path, insns: &[Insn], name: &str, flags: u32) {
    let dir = open_cgroup_dir(cgroup).unwrap();
    let prog = bpf::load_program(insns, name).expect("load program");
    bpf::attach_with_flags(dir.as_fd(), prog.as_fd(), flags).expect("attach program");
}

/// iproute2's `ip vrf exec` program (ip/ipvrf.c `prog_load`): `r6 = r1; r3 = IFINDEX; r2 = 0;
/// *(u32 *)(r1 + 0) = r3; r0 = 1; exit`.
fn iproute2_program(ifindex: u32) -> Vec<Insn> {
    vec![
        Insn {
            code: 0xbf,
            dst: 6,
            src: 1,
            off: 0,
            imm: 0,
        },
        Insn::mov64_imm(3, ifindex as i32),
        Insn::mov64_imm(2, 0),
        Insn::stx_mem_w(1, 3, 0),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ]
}

/// A frozen, program-read-only array map of one `u32`, as libbpf makes `.rodata` of
/// `const volatile __u32 ifindex`.
fn rodata_map(value: u32) -> OwnedFd {
    #[repr(C)]
    #[derive(Default)]
    struct Create {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        inner_map_fd: u32,
        numa_node: u32,
        map_name: [u8; 16],
    }
    #[repr(C)]
    #[derive(Default)]
    struct Elem {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    let mut create = Create {
        map_type: 2, // BPF_MAP_TYPE_ARRAY
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        map_flags: 1 << 7, // BPF_F_RDONLY_PROG
        ..Default::default()
    };
    create.map_name[..11].copy_from_slice(b"bind.rodata");
    let sys = |cmd: i64, attr: *mut u8, size: usize| -> i64 {
        // SAFETY: `attr` points to a live #[repr(C)] bpf_attr prefix of `size` bytes whose
        // pointers (key, value) point to live locals.
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, size as libc::c_uint) }
    };
    let fd = sys(
        0, // BPF_MAP_CREATE
        &mut create as *mut Create as *mut u8,
        std::mem::size_of::<Create>(),
    );
    assert!(fd >= 0, "map create: {}", std::io::Error::last_os_error());
    // SAFETY: BPF_MAP_CREATE just returned this descriptor.
    let map = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let key = 0u32;
    let mut elem = Elem {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        ..Default::default()
    };
    let r = sys(
        2, // BPF_MAP_UPDATE_ELEM
        &mut elem as *mut Elem as *mut u8,
        std::mem::size_of::<Elem>(),
    );
    assert_eq!(r, 0, "map update: {}", std::io::Error::last_os_error());
    let mut freeze = [map.as_raw_fd() as u32, 0, 0, 0];
    let r = sys(22, freeze.as_mut_ptr() as *mut u8, 16); // BPF_MAP_FREEZE
    assert_eq!(r, 0, "map freeze: {}", std::io::Error::last_os_error());
    map
}

/// systemd's native program as clang and libbpf make it: `r2 = &.rodata; r2 = *(u32 *)r2;
/// ctx->bound_dev_if = r2; return 1`, named as the kernel truncates `sd_bind_interface`.
fn attach_native(cgroup: &Path, map: &OwnedFd) {
    let insns = [
        Insn {
            code: 0x18, // BPF_LD | BPF_IMM | BPF_DW
            dst: 2,
            src: 2, // BPF_PSEUDO_MAP_VALUE
            off: 0,
            imm: map.as_raw_fd(),
        },
        Insn {
            code: 0,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0, // offset into the value
        },
        Insn {
            code: 0x61, // BPF_LDX | BPF_MEM | BPF_W
            dst: 2,
            src: 2,
            off: 0,
            imm: 0,
        },
        Insn::stx_mem_w(1, 2, 0),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    attach_insns(
        cgroup,
        &insns,
        bindif::program::V260_PROG_NAME,
        bpf::BPF_F_ALLOW_MULTI,
    );
}

/// A `sleep` in the namespace, moved into a cgroup; killed on drop.
struct Sleeper(Child);

impl Sleeper {
    fn start(ns: &NetNs, cgroup: &Path) -> Sleeper {
        let c = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", ns.name))
            .args(["--", "sleep", "300"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        fs::write(cgroup.join("cgroup.procs"), c.id().to_string())
            .unwrap_or_else(|e| panic!("move into {}: {e}", cgroup.display()));
        let s = Sleeper(c);
        // nsenter execs sleep in place: wait until it has, so /proc/PID/status says "sleep".
        for _ in 0..200 {
            let comm = fs::read_to_string(format!("/proc/{}/comm", s.pid())).unwrap_or_default();
            if comm.trim() == "sleep" {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("sleep did not start");
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn line(&self) -> String {
        format!("{:>5}  sleep\n", self.pid())
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ifindex the kernel binds a new socket of `cgroup` to (0: unbound): a python3 in `ns`,
/// moved into the cgroup before it creates the socket, reads `SO_BINDTOIFINDEX`. The truth
/// `identify` must agree with.
fn kernel_binds(ns: &NetNs, cgroup: &Path) -> u32 {
    use std::io::Write;
    let script = "import socket; s = socket.socket(); print(s.getsockopt(socket.SOL_SOCKET, 62))";
    let mut c = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", ns.name))
        .args(["--", "sh", "-c", "read go; exec python3 -c \"$0\"", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    fs::write(cgroup.join("cgroup.procs"), c.id().to_string()).expect("move probe");
    c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "probe in {}", cgroup.display());
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// Output and exit status of a command run in `ns`.
#[derive(Debug, PartialEq, Eq)]
struct Out {
    stdout: String,
    stderr: String,
    exit: i32,
}

fn run_in_ns(ns: &NetNs, prefix: &[&str], cmd: &[&str]) -> Out {
    let o = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", ns.name))
        .arg("--")
        .args(prefix)
        .args(cmd)
        .output()
        .expect("nsenter");
    let out = Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        exit: o.status.code().unwrap_or(-1),
    };
    eprintln!("{prefix:?} {cmd:?} -> {out:?}");
    out
}

fn ours(ns: &NetNs, cmd: &[&str]) -> Out {
    run_in_ns(ns, &[env!("CARGO_BIN_EXE_bindif-launch")], cmd)
}

fn ip_vrf(ns: &NetNs, cmd: &[&str]) -> Out {
    run_in_ns(ns, &["ip", "vrf"], cmd)
}

#[test]
fn identify_and_pids_see_every_binding() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let bt0 = ns.ifindex_by_ip(VETH_A);
    let bt1 = ns.ifindex_by_ip(VETH_B);

    // Ours, by the launcher's steps.
    let unit = child(&parent.path, "bst@bt0.service");
    bind_at(&unit, bt0);
    // systemd's native program, its ifindex in a map.
    let native = child(&parent.path, "native.service");
    let map = rodata_map(bt0);
    attach_native(&native, &map);
    // Nested: the outer slice binds to bt1, the unit below it to bt0; the slice wins.
    let outer = child(&parent.path, "outer.slice");
    let inner = child(&outer, "inner.service");
    bind_at(&outer, bt1);
    bind_at(&inner, bt0);
    // A BPFProgram= pin: our instructions under another name.
    let pinned = child(&parent.path, "pinned.service");
    attach_insns(
        &pinned,
        &bind_iface_program(bt1),
        "pinned_bind",
        bpf::BPF_F_ALLOW_MULTI,
    );
    // ip vrf exec's cgroup: vrf/NAME, its program attached without BPF_F_ALLOW_MULTI.
    let vrf = child(&parent.path, "vrf/bt1");
    attach_insns(&vrf, &iproute2_program(bt1), "", 0);
    // An ancestor attached with BPF_F_ALLOW_OVERRIDE: the unit's own program overrides it.
    let over = child(&parent.path, "override.slice");
    let under = child(&over, "u.service");
    attach_insns(
        &over,
        &bind_iface_program(bt1),
        "pinned_bind",
        bpf::BPF_F_ALLOW_OVERRIDE,
    );
    bind_at(&under, bt0);
    // Unbound, and bound to an ifindex no interface has.
    let plain = child(&parent.path, "plain.service");
    let stale = child(&parent.path, "stale.service");
    bind_at(&stale, 4000);

    let s_unit = Sleeper::start(&ns, &unit);
    let s_native = Sleeper::start(&ns, &native);
    let s_inner = Sleeper::start(&ns, &inner);
    let s_pinned = Sleeper::start(&ns, &pinned);
    let s_vrf = Sleeper::start(&ns, &vrf);
    let s_under = Sleeper::start(&ns, &under);
    let s_plain = Sleeper::start(&ns, &plain);
    let s_stale = Sleeper::start(&ns, &stale);

    let identify = |s: &Sleeper| ours(&ns, &["identify", &s.pid().to_string()]);
    let verbose = |s: &Sleeper| ours(&ns, &["identify", "-v", &s.pid().to_string()]);
    let ip_identify = |s: &Sleeper| ip_vrf(&ns, &["identify", &s.pid().to_string()]);
    let ok = |stdout: &str| Out {
        stdout: stdout.to_string(),
        stderr: String::new(),
        exit: 0,
    };

    // Every source, named in the namespace's own interfaces.
    assert_eq!(identify(&s_unit), ok("bt0\n"));
    assert_eq!(identify(&s_native), ok("bt0\n"));
    assert_eq!(identify(&s_inner), ok("bt1\n"));
    assert_eq!(identify(&s_pinned), ok("bt1\n"));
    assert_eq!(identify(&s_vrf), ok("bt1\n"));
    assert_eq!(identify(&s_under), ok("bt0\n"));
    // And the kernel agrees: a new socket in each cgroup carries that very interface.
    for (cg, want) in [
        (&unit, bt0),
        (&native, bt0),
        (&inner, bt1),
        (&pinned, bt1),
        (&vrf, bt1),
        (&under, bt0),
        (&plain, 0),
        (&stale, 4000),
    ] {
        assert_eq!(kernel_binds(&ns, cg), want, "{}", cg.display());
    }
    let v = verbose(&s_unit).stdout;
    assert!(
        v.starts_with(&format!("bt0 ifindex={bt0} source=unit program="))
            && v.contains(" name=bindif_unit cgroup=/")
            && v.ends_with("/bst@bt0.service\n"),
        "{v}"
    );
    for (s, source, cgroup) in [
        (&s_native, "systemd", "/native.service\n"),
        (&s_inner, "unit", "/outer.slice\n"),
        (&s_pinned, "foreign", "/pinned.service\n"),
        (&s_vrf, "iproute2", "/vrf/bt1\n"),
    ] {
        let v = verbose(s).stdout;
        assert!(
            v.contains(&format!(" source={source} ")) && v.ends_with(cgroup),
            "{v}"
        );
    }

    // Unbound: nothing, exit 0, exactly as iproute2.
    assert_eq!(identify(&s_plain), ok(""));
    assert_eq!(ip_identify(&s_plain), ok(""));
    // ip vrf exec's cgroup: iproute2 reads the name from the path, we from the program.
    assert_eq!(ip_identify(&s_vrf), identify(&s_vrf));
    // iproute2 is blind to every other binding.
    for s in [&s_unit, &s_native, &s_inner, &s_pinned] {
        assert_eq!(ip_identify(s), ok(""));
    }
    // Stale: nothing on stdout, the reason on stderr.
    let st = identify(&s_stale);
    assert_eq!((st.stdout.as_str(), st.exit), ("", 0));
    assert!(
        st.stderr.contains("bound to ifindex 4000") && st.stderr.contains("no interface"),
        "{}",
        st.stderr
    );

    // pids: every process bound to the interface, in cgroup name order, iproute2's lines.
    assert_eq!(
        ours(&ns, &["pids", VETH_A]),
        ok(&(s_unit.line() + &s_native.line() + &s_under.line()))
    );
    assert_eq!(
        ours(&ns, &["pids", VETH_B]),
        ok(&(s_inner.line() + &s_pinned.line() + &s_vrf.line()))
    );
    let v = ours(&ns, &["pids", "--verbose", VETH_B]).stdout;
    assert!(
        v.contains(&format!("{:>5}  sleep  /", s_vrf.pid())) && v.contains("/vrf/bt1\n"),
        "{v}"
    );
    assert_eq!(ours(&ns, &["pids", "lo"]), ok(""));
    // iproute2 only lists VRF devices (this kernel has no vrf module to make one).
    let ip = ip_vrf(&ns, &["pids", VETH_B]);
    assert_eq!((ip.exit, ip.stderr.as_str()), (1, "Invalid VRF name\n"));

    // Exit statuses as iproute2's: bad PID 255, no such process 1, no such interface 1.
    for (args, exit) in [
        (&["identify", "abc"][..], 255),
        (&["identify", "1", "2"][..], 255),
        (&["identify", "0"][..], 1),
        (&["pids"][..], 1),
    ] {
        assert_eq!(ours(&ns, args).exit, exit, "{args:?}");
        assert_eq!(ip_vrf(&ns, args).exit, exit, "ip vrf {args:?}");
    }
    assert_eq!(ours(&ns, &["pids", "nosuch0"]).exit, 1);

    // Without privileges: iproute2's view (the vrf/NAME path), with a warning.
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let bin = env!("CARGO_BIN_EXE_bindif-launch");
    let unpriv = |s: &Sleeper| {
        let pid = s.pid().to_string();
        let mut cmd = nobody.to_vec();
        cmd.extend([bin, "identify", pid.as_str()]);
        run_in_ns(&ns, &cmd, &[])
    };
    let u = unpriv(&s_vrf);
    assert_eq!((u.stdout.as_str(), u.exit), ("bt1\n", 0));
    assert!(u.stderr.contains("need CAP_SYS_ADMIN"), "{}", u.stderr);
    let u = unpriv(&s_unit);
    assert_eq!((u.stdout.as_str(), u.exit), ("", 0));
    drop(map);
}
