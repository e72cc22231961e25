// SPDX-License-Identifier: LGPL-2.1-or-later
//! Per-socket cost (issue 5, part 2): `socket()` + `close()` loops, TCP and UDP over IPv4 and
//! IPv6, in three sibling cgroups below this program's own:
//! - `bound`: our program attached (`kernel::Linux::attach`), as the launcher leaves a unit;
//! - `unbound`: nothing attached;
//! - `setsockopt`: nothing attached, and the loop binds each socket itself with
//!   `setsockopt(SO_BINDTODEVICE)`, what an application (or `ip vrf exec`'s users) would do.
//!
//! This process moves itself between the three cgroups (a socket takes the cgroup of the task
//! creating it); each round times one batch per (family, variant), in rotating order.

#[path = "common/mod.rs"]
mod common;

use std::fs;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bindif::cmd::launch::kernel::{Cgroup, Kernel, Linux};
use bindif::program::Origin;
use common::*;

#[derive(Clone, Copy)]
enum Variant {
    Unbound,
    Bound,
    SetSockOpt,
}

const VARIANTS: [(Variant, &str); 3] = [
    (Variant::Unbound, "unbound cgroup"),
    (Variant::Bound, "cgroup with our program"),
    (
        Variant::SetSockOpt,
        "unbound + `setsockopt(SO_BINDTODEVICE)`",
    ),
];

const FAMILIES: [(libc::c_int, libc::c_int, &str); 4] = [
    (libc::AF_INET, libc::SOCK_STREAM, "TCP/IPv4"),
    (libc::AF_INET, libc::SOCK_DGRAM, "UDP/IPv4"),
    (libc::AF_INET6, libc::SOCK_STREAM, "TCP/IPv6"),
    (libc::AF_INET6, libc::SOCK_DGRAM, "UDP/IPv6"),
];

/// Nanoseconds per socket() + [setsockopt()] + close(), over `n` iterations.
fn batch(family: libc::c_int, ty: libc::c_int, bind_to: Option<&[u8]>, n: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: plain socket calls on descriptors we own.
        unsafe {
            let fd = libc::socket(family, ty | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            if let Some(dev) = bind_to {
                let r = libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_BINDTODEVICE,
                    dev.as_ptr() as *const libc::c_void,
                    dev.len() as libc::socklen_t,
                );
                assert_eq!(r, 0, "SO_BINDTODEVICE: {}", std::io::Error::last_os_error());
            }
            libc::close(fd);
        }
    }
    ns(t.elapsed()) / n as f64
}

/// The interface a fresh socket of `family` is bound to here, by ifindex.
fn check(family: libc::c_int, bind_to: Option<&[u8]>) -> Option<u32> {
    // SAFETY: as above; the fd is owned right away.
    let fd = unsafe {
        let fd = libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        if let Some(dev) = bind_to {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                dev.as_ptr() as *const libc::c_void,
                dev.len() as libc::socklen_t,
            );
        }
        OwnedFd::from_raw_fd(fd)
    };
    bindif::sys::bpf::bound_ifindex(fd.as_fd()).unwrap()
}

fn main() {
    let ifname = interface();
    let ifindex = bindif::sys::netlink::resolve_ifindex(&ifname)
        .unwrap()
        .expect("interface");
    let base = own_dir();
    assert!(
        base != Path::new(CGROUP2),
        "refusing to run in the root cgroup: use scripts/bench"
    );
    let dirs: Vec<PathBuf> = ["unbound", "bound", "setsockopt"]
        .iter()
        .map(|n| base.join(format!("sock-{n}")))
        .collect();
    for d in &dirs {
        let _ = fs::create_dir(d);
    }
    let bound_fd = Cgroup::open(&dirs[1]).expect("open bound cgroup");
    let mut prog = Linux::default()
        .load(&ifname, ifindex, Origin::Key)
        .expect("load");
    Linux::default()
        .attach(&bound_fd, &mut prog)
        .expect("attach");
    let dev = ifname.as_bytes().to_vec();

    // The three set-ups do what they claim.
    for (i, (v, label)) in VARIANTS.iter().enumerate() {
        enter(&dirs[i]);
        for (fam, _, _) in [FAMILIES[0], FAMILIES[2]] {
            let want = match v {
                Variant::Unbound => None,
                _ => Some(ifindex),
            };
            let bind_to = matches!(v, Variant::SetSockOpt).then_some(dev.as_slice());
            let got = check(fam, bind_to);
            assert_eq!(got, want, "{label}: socket bound to {got:?}, want {want:?}");
        }
    }

    // Short batches, many rounds: the three variants of a protocol run back to back, so a
    // per-round ratio compares neighbours in time, which a shared machine's drift cannot skew.
    let n = size(2_000, 1_000);
    let rounds = size(101, 7);
    // [family][variant] → per-op samples
    let mut s: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); 3]; 4];
    for (f, (fam, ty, _)) in FAMILIES.iter().enumerate() {
        for (i, (v, _)) in VARIANTS.iter().enumerate() {
            enter(&dirs[i]);
            let b = matches!(v, Variant::SetSockOpt).then_some(dev.as_slice());
            batch(*fam, *ty, b, n / 10);
            let _ = f;
        }
    }
    let wall = Instant::now();
    for r in 0..rounds {
        for (f, (fam, ty, _)) in FAMILIES.iter().enumerate() {
            for k in 0..3 {
                let i = (r + k + f) % 3;
                enter(&dirs[i]);
                let b = matches!(VARIANTS[i].0, Variant::SetSockOpt).then_some(dev.as_slice());
                s[f][i].push(batch(*fam, *ty, b, n));
            }
        }
    }
    let wall = wall.elapsed();
    // The program's own run time, from the kernel's BPF statistics (BPF_ENABLE_STATS: on only
    // while our fd is open, and only now, so the timed loops above ran without its overhead).
    let stats_n = size(200_000, 20_000);
    let prog_ns = stats::enable().and_then(|guard| {
        let before = stats::run_stats(prog.as_fd())?;
        enter(&dirs[1]);
        for (fam, ty, _) in FAMILIES {
            batch(fam, ty, None, stats_n / 4);
        }
        let after = stats::run_stats(prog.as_fd())?;
        drop(guard);
        Ok((after.0 - before.0, after.1 - before.1))
    });
    enter(&base);
    for d in &dirs {
        let _ = fs::remove_dir(d);
    }

    println!("## 2. Per-socket cost\n");
    println!(
        "`socket()` + `close()` (+ `setsockopt(SO_BINDTODEVICE, \"{ifname}\")` in the last \
         variant), {rounds} rounds × {n} iterations per (protocol, variant), the three variants \
         of a protocol back to back in rotating order within each round, {:.1} s in all. Times \
         are per iteration: median of the rounds (min – max). Ratios are the median (min – max) \
         of the per-round ratios, each between batches run next to each other. Checked first: \
         a new socket in the bound cgroup and one after `setsockopt` carry ifindex {ifindex}; \
         one in the unbound cgroup carries none.\n",
        wall.as_secs_f64()
    );
    table(&[
        "protocol",
        "unbound cgroup",
        "cgroup with our program",
        "unbound + setsockopt",
        "ours × unbound",
        "setsockopt × unbound",
        "ours × setsockopt",
    ]);
    let mut worst: f64 = 0.0;
    let mut slower_than_sso = Vec::new();
    for (f, (_, _, label)) in FAMILIES.iter().enumerate() {
        let st: Vec<Stats> = s[f].iter().map(|v| Stats::of(v)).collect();
        let paired = |a: usize, b: usize| -> Stats {
            let r: Vec<f64> = s[f][a].iter().zip(&s[f][b]).map(|(x, y)| x / y).collect();
            Stats::of(&r)
        };
        let ours = paired(1, 0);
        let sso = paired(2, 0);
        let vs_sso = paired(1, 2);
        worst = worst.max(ours.median);
        if vs_sso.median >= 1.0 {
            slower_than_sso.push(*label);
        }
        let cell = |r: Stats| format!("{:.3}× ({:.2} – {:.2})", r.median, r.min, r.max);
        row(&[
            label.to_string(),
            st[0].cell(),
            st[1].cell(),
            st[2].cell(),
            cell(ours),
            cell(sso),
            cell(vs_sso),
        ]);
    }
    println!();
    match &prog_ns {
        Ok((time, cnt)) => {
            let per = *time as f64 / (*cnt).max(1) as f64;
            println!(
                "Kernel BPF statistics (`BPF_ENABLE_STATS`, enabled only for this extra loop of \
                 {stats_n} sockets in the bound cgroup, all four protocols): our program ran \
                 {cnt} times for {time} ns in all, **{per:.1} ns per socket** — the whole cost \
                 of the binding at socket creation, a repeatable figure to set against the \
                 socket()+close() times above (machine noise in the ratios is far larger).\n"
            );
        }
        Err(e) => println!("Kernel BPF statistics: not available ({e}).\n"),
    }
    let prog_note = match &prog_ns {
        Ok((time, cnt)) => format!(
            "; program itself {:.0} ns per socket (kernel BPF stats)",
            *time as f64 / (*cnt).max(1) as f64
        ),
        Err(_) => String::new(),
    };
    target(
        "per socket: ≤ 1.05× unbound (worst protocol)",
        &format!("{worst:.3}× (median of per-round ratios){prog_note}"),
        "≤ 1.05×",
        worst <= 1.05,
    );
    target(
        "per socket: faster than setsockopt(SO_BINDTODEVICE)",
        &if slower_than_sso.is_empty() {
            "faster for all four".to_string()
        } else {
            format!("not faster for {}", slower_than_sso.join(", "))
        },
        "faster",
        slower_than_sso.is_empty(),
    );
}

/// The kernel's run-time statistics of a BPF program (Linux 5.8+).
mod stats {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    const BPF_ENABLE_STATS: libc::c_long = 32;
    const BPF_STATS_RUN_TIME: u32 = 0;

    /// `struct bpf_prog_info` up to `run_cnt` (include/uapi/linux/bpf.h).
    #[repr(C)]
    #[derive(Default)]
    struct Info {
        type_: u32,
        id: u32,
        tag: [u8; 8],
        jited_prog_len: u32,
        xlated_prog_len: u32,
        jited_prog_insns: u64,
        xlated_prog_insns: u64,
        load_time: u64,
        created_by_uid: u32,
        nr_map_ids: u32,
        map_ids: u64,
        name: [u8; 16],
        ifindex: u32,
        gpl_compatible: u32,
        netns_dev: u64,
        netns_ino: u64,
        nr_jited_ksyms: u32,
        nr_jited_func_lens: u32,
        jited_ksyms: u64,
        jited_func_lens: u64,
        btf_id: u32,
        func_info_rec_size: u32,
        func_info: u64,
        nr_func_info: u32,
        nr_line_info: u32,
        line_info: u64,
        jited_line_info: u64,
        nr_jited_line_info: u32,
        line_info_rec_size: u32,
        jited_line_info_rec_size: u32,
        nr_prog_tags: u32,
        prog_tags: u64,
        run_time_ns: u64,
        run_cnt: u64,
    }

    fn bpf(cmd: libc::c_long, attr: *mut u8, size: usize) -> io::Result<libc::c_long> {
        // SAFETY: `attr` points to a live, zero-padded attribute of `size` bytes.
        let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, size) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// Statistics stay on while the returned fd is open.
    pub fn enable() -> io::Result<OwnedFd> {
        let mut attr = [0u8; 16];
        attr[..4].copy_from_slice(&BPF_STATS_RUN_TIME.to_ne_bytes());
        let fd = bpf(BPF_ENABLE_STATS, attr.as_mut_ptr(), attr.len())?;
        // SAFETY: a fresh fd returned by the kernel.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// (run_time_ns, run_cnt) of the program `prog`.
    pub fn run_stats(prog: BorrowedFd) -> io::Result<(u64, u64)> {
        let mut info = Info::default();
        #[repr(C)]
        struct Attr {
            bpf_fd: u32,
            info_len: u32,
            info: u64,
        }
        let mut attr = Attr {
            bpf_fd: prog.as_raw_fd() as u32,
            info_len: std::mem::size_of::<Info>() as u32,
            info: &mut info as *mut Info as u64,
        };
        bpf(
            BPF_OBJ_GET_INFO_BY_FD,
            &mut attr as *mut Attr as *mut u8,
            std::mem::size_of::<Attr>(),
        )?;
        Ok((info.run_time_ns, info.run_cnt))
    }
}
