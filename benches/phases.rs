// SPDX-License-Identifier: LGPL-2.1-or-later
//! The launcher's time by phase (issue 5, part 1): the library calls `bindif-launch` makes, in
//! its order, timed one call at a time in this process. All phases take turns within each round
//! (one call of each per round), so machine load hits them alike.
//!
//! `scripts/bench` starts this program in the cgroup `…/p@IF.service` (unit mode's target) inside
//! the benchmark's network namespace.

#[path = "common/mod.rs"]
mod common;

use std::ffi::{CString, OsStr};
use std::fs;
use std::path::Path;
use std::time::Instant;

use bindif::cmd::launch::kernel::{Cgroup, Kernel, Linux};
use bindif::program::Origin;
use bindif::sys::pinned::{self, Pin};
use bindif::sys::{self, bpf, netlink, process};
use bindif::unit::{load, specifier::HostFacts};
use common::*;

/// fork + execve + waitpid, output to /dev/null.
fn spawn_wait(argv: &[CString]) {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let devnull = CString::new("/dev/null").unwrap();
    // SAFETY: only async-signal-safe calls in the child, on data prepared before the fork.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let fd = libc::open(devnull.as_ptr(), libc::O_WRONLY);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            libc::execve(argv[0].as_ptr(), ptrs.as_ptr(), environ);
            libc::_exit(127);
        }
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0);
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0);
    }
}

struct Phase<'a> {
    mode: &'static str,
    name: &'static str,
    call: &'static str,
    run: Box<dyn FnMut() -> f64 + 'a>,
}

fn timed(mut f: impl FnMut()) -> impl FnMut() -> f64 {
    move || {
        let t = Instant::now();
        f();
        ns(t.elapsed())
    }
}

fn main() {
    let ifname = interface();
    let work = env_path("BINDIF_BENCH_WORK");
    let launcher = env_path("BINDIF_BENCH_LAUNCHER");
    let unit = format!("p@{ifname}.service");
    let here = own_dir();
    if here.file_name() != Some(OsStr::new(&unit)) {
        eprintln!("phases: must run in a cgroup named {unit}; use scripts/bench");
        std::process::exit(2);
    }
    let fixture = work.join("phases-fixture");
    write_unit_fixture(&fixture, &ifname, "/bin/true").expect("fixture");
    let xunit = format!("x@{ifname}.service");
    let big = work.join("phases-fixture-500");
    let _ = fs::remove_dir_all(&big);
    write_unit_fixture(&big, &ifname, "/bin/true").expect("fixture");
    write_scale_tree(&big, 500).expect("fixture");
    let ifindex = netlink::resolve_ifindex(&ifname)
        .expect("netlink")
        .expect("interface exists");
    // The first start pins the shared copy; the phase below times every later one.
    pinned::bind_program(Path::new(pinned::PIN_DIR), &ifname, ifindex, Origin::Key).expect("load");
    let env: Vec<(String, String)> = std::env::vars().collect();
    let replace_dir = here.join("attach-replace");
    let _ = fs::create_dir(&replace_dir);
    let replace_fd = Cgroup::open(&replace_dir).unwrap();
    let mut fresh_n = 0u32;
    let true_argv = [CString::new("/bin/true").unwrap()];
    let version_argv = [
        CString::new(launcher.as_os_str().to_str().unwrap()).unwrap(),
        CString::new("--version").unwrap(),
    ];
    let self_maps = format!("/proc/{}/maps", std::process::id());

    let mut phases: Vec<Phase> =
        vec![
        Phase {
            mode: "both",
            name: "process start of the launcher",
            call: "fork+execve+wait `bindif-launch --version`",
            run: Box::new(timed(|| spawn_wait(&version_argv))),
        },
        Phase {
            mode: "both",
            name: "exec of the command (bare exec)",
            call: "fork+execve+wait `/bin/true`",
            run: Box::new(timed(|| spawn_wait(&true_argv))),
        },
        Phase {
            mode: "both",
            name: "logging set-up",
            call: "`log::init(…, process::stderr_dev_ino(), …)`",
            run: Box::new(timed(|| {
                bindif::log::init(None, process::stderr_dev_ino(), false)
            })),
        },
        Phase {
            mode: "unit",
            name: "systemd version (×2 in unit mode)",
            call: "`read_proc(\"/proc/1/maps\")` + parse (EACCES on this host)",
            run: Box::new(timed(|| {
                let m = process::read_proc(Path::new("/proc/1/maps"));
                std::hint::black_box(m.and_then(|m| bindif::host::systemd_version_from_maps(&m)));
            })),
        },
        Phase {
            mode: "unit",
            name: "  same on a readable maps file",
            call: "`read_proc(\"/proc/self/maps\")` + parse (stand-in for a systemd PID 1)",
            run: Box::new(timed(|| {
                let m = process::read_proc(Path::new(&self_maps));
                std::hint::black_box(m.and_then(|m| bindif::host::systemd_version_from_maps(&m)));
            })),
        },
        Phase {
            mode: "unit",
            name: "unit load + evaluate",
            call: "`config::read(FIXTURE, x@IF.service, 259)`",
            run: Box::new(timed(|| {
                std::hint::black_box(
                    bindif::cmd::launch::config::read(&fixture, &xunit, 259).unwrap(),
                );
            })),
        },
        Phase {
            mode: "unit",
            name: "  of which: load (files, drop-ins, parse)",
            call: "`unit::load::load`",
            run: Box::new(timed(|| {
                std::hint::black_box(load::load(&fixture, &xunit).unwrap());
            })),
        },
        Phase {
            mode: "unit",
            name: "  same unit, 500-unit tree: load + evaluate",
            call: "`config::read(FIXTURE500, x@IF.service, 259)`",
            run: Box::new(timed(|| {
                std::hint::black_box(bindif::cmd::launch::config::read(&big, &xunit, 259).unwrap());
            })),
        },
        Phase {
            mode: "unit",
            name: "  500-unit tree: search-dir listing alone",
            call: "`Catalog::system(FIXTURE500)`",
            run: Box::new(timed(|| {
                std::hint::black_box(bindif::unit::catalog::Catalog::system(&big));
            })),
        },
        Phase {
            mode: "unit",
            name: "  of which: host facts (specifiers)",
            call: "`HostFacts::gather`",
            run: Box::new(timed(|| {
                std::hint::black_box(HostFacts::gather(&fixture));
            })),
        },
        Phase {
            mode: "unit",
            name: "command from ExecStart=",
            call: "`UnitConfig::launch(env)` + `find_executable`",
            run: {
                let cfg = bindif::cmd::launch::config::read(&fixture, &xunit, 259).unwrap();
                Box::new(timed(move || {
                    let l = cfg.launch(&env).unwrap();
                    let p = process::find_executable(
                        l.path.as_os_str(),
                        Some(OsStr::new(bindif::cmd::launch::config::SYSTEMD_EXEC_PATH)),
                    )
                    .unwrap();
                    std::hint::black_box(p);
                }))
            },
        },
        Phase {
            mode: "ad hoc",
            name: "command lookup",
            call: "`find_executable(\"/bin/true\", $PATH)`",
            run: Box::new(timed(|| {
                let path = std::env::var_os("PATH");
                std::hint::black_box(
                    process::find_executable(OsStr::new("/bin/true"), path.as_deref()).unwrap(),
                );
            })),
        },
        Phase {
            mode: "unit",
            name: "network namespace check",
            call: "`netlink::in_pid1_netns()`",
            run: Box::new(timed(|| {
                let _ = std::hint::black_box(netlink::in_pid1_netns());
            })),
        },
        Phase {
            mode: "both",
            name: "interface and program: the shared copy pinned under the name",
            call: "`pinned::shared_for(PIN_DIR, IF, Key)` (`BPF_OBJ_GET`, a check, `SIOCGIFNAME` on its ifindex)",
            run: Box::new(timed(|| {
                let dir = Path::new(pinned::PIN_DIR);
                let found = pinned::shared_for(dir, &ifname, Origin::Key, &mut Default::default());
                assert!(found.is_some(), "no bpffs at /sys/fs/bpf?");
                std::hint::black_box(found);
            })),
        },
        Phase {
            mode: "both",
            name: "  on a miss (interface re-created, renamed): interface resolve (rtnetlink)",
            call: "`netlink::resolve_ifindex(IF)`",
            run: Box::new(timed(|| {
                std::hint::black_box(netlink::resolve_ifindex(&ifname).unwrap());
            })),
        },
        Phase {
            mode: "both",
            name: "  then the pinned copy for that ifindex",
            call: "`pinned::bind_program(PIN_DIR, IF, ifindex, Key)` (`BPF_OBJ_GET` + a check)",
            run: Box::new(timed(|| {
                let dir = Path::new(pinned::PIN_DIR);
                let (fd, pin) = pinned::bind_program(dir, &ifname, ifindex, Origin::Key).unwrap();
                assert!(matches!(pin, Pin::Reused), "no bpffs at /sys/fs/bpf? {pin:?}");
                std::hint::black_box(fd);
            })),
        },
        Phase {
            mode: "both",
            name: "  or, first start per interface: BPF program load (verifier)",
            call: "`bpf::load_bind_program(ifindex)`",
            run: Box::new(timed(|| {
                std::hint::black_box(bpf::load_bind_program(ifindex).unwrap());
            })),
        },
        Phase {
            mode: "unit",
            name: "unit cgroup lookup + open",
            call: "`target::for_unit(p@IF.service)`",
            run: Box::new(timed(|| {
                std::hint::black_box(
                    bindif::cmd::launch::target::for_unit(&unit, false, false).unwrap(),
                );
            })),
        },
        Phase {
            mode: "ad hoc",
            name: "child cgroup: mkdir + leftover scan + open (the command is born in it)",
            call: "`target::for_adhoc(false)` (then removed, untimed)",
            run: Box::new(|| {
                let t = Instant::now();
                let target = bindif::cmd::launch::target::for_adhoc(false).unwrap();
                let d = ns(t.elapsed());
                let p = target.path().to_path_buf();
                drop(target);
                let _ = fs::remove_dir(&p);
                d
            }),
        },
        Phase {
            mode: "ad hoc",
            name: "  of which: mkdir of the cgroup",
            call: "`fs::create_dir` (then removed, untimed)",
            run: Box::new(|| {
                let dir = here.join("mkdir-probe");
                let t = Instant::now();
                fs::create_dir(&dir).unwrap();
                let d = ns(t.elapsed());
                let _ = fs::remove_dir(&dir);
                d
            }),
        },
        Phase {
            mode: "ad hoc",
            name: "  only without CLONE_INTO_CGROUP (Linux < 5.7): moving into it",
            call: "`sys::cgroup::enter` (write to `cgroup.procs`; moved back untimed)",
            run: Box::new(|| {
                let dir = here.join("enter-probe");
                let _ = fs::create_dir(&dir);
                let t = Instant::now();
                sys::cgroup::enter(&dir).unwrap();
                let d = ns(t.elapsed());
                enter(&here);
                let _ = fs::remove_dir(&dir);
                d
            }),
        },
        Phase {
            mode: "ad hoc",
            name: "attach to a fresh cgroup",
            call: "`kernel::Linux::attach` (new cgroup; load untimed)",
            run: Box::new(|| {
                fresh_n += 1;
                let dir = here.join(format!("attach-fresh-{fresh_n}"));
                fs::create_dir(&dir).unwrap();
                let fd = Cgroup::open(&dir).unwrap();
                let mut prog = bpf::Prog::new(bpf::load_bind_program(ifindex).unwrap());
                let t = Instant::now();
                let out = Linux::default().attach(&fd, &mut prog).unwrap();
                let d = ns(t.elapsed());
                assert_eq!(out.detached, 0);
                drop(fd);
                let _ = fs::remove_dir(&dir);
                d
            }),
        },
        Phase {
            mode: "unit",
            name: "attach replacing our earlier copy",
            call: "`kernel::Linux::attach` (restart; load untimed)",
            run: Box::new(|| {
                let mut prog = bpf::Prog::new(bpf::load_bind_program(ifindex).unwrap());
                let t = Instant::now();
                let out = Linux::default().attach(&replace_fd, &mut prog).unwrap();
                let d = ns(t.elapsed());
                std::hint::black_box(out);
                d
            }),
        },
    ];

    let rounds = size(400, 30);
    for _ in 0..3 {
        for p in phases.iter_mut() {
            (p.run)();
        }
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); phases.len()];
    for _ in 0..rounds {
        for (i, p) in phases.iter_mut().enumerate() {
            samples[i].push((p.run)());
        }
    }
    let stats: Vec<Stats> = samples.iter().map(|s| Stats::of(s)).collect();

    println!("### Launcher time by phase (library calls timed in process)\n");
    println!(
        "{rounds} rounds; in each round every phase runs once, in the launcher's order. \
         \"mode\" says which launch path makes the call (↳ rows break down, or vary, the row \
         above). The two fork+exec rows are whole processes: the launcher's own start-up (ELF \
         loading, dynamic linking, argument parsing) and the command's exec, which the launcher \
         pays on top of the bare exec.\n"
    );
    table(&["mode", "phase", "call", "median (min – max)"]);
    for (p, s) in phases.iter().zip(&stats) {
        row(&[
            p.mode.to_string(),
            p.name.replace("  ", "↳ "),
            p.call.to_string(),
            s.cell(),
        ]);
    }
    let sum = |mode: &str| -> f64 {
        phases
            .iter()
            .zip(&stats)
            .filter(|(p, _)| {
                !p.name.starts_with("  ")
                    && !p.name.starts_with("exec of the command")
                    && (p.mode == "both" || p.mode == mode)
            })
            .map(|(p, s)| {
                if p.name.starts_with("systemd version") {
                    2.0 * s.median
                } else {
                    s.median
                }
            })
            .sum()
    };
    let adhoc = sum("ad hoc");
    let unitm = sum("unit");
    println!();
    println!(
        "Sum of the medians (launcher start-up + its phases, without the command's exec): \
         ad hoc **{}**, unit mode **{}** (attach counted as fresh for ad hoc, replacing for \
         unit mode; the systemd-version read twice). Compare with the measured overhead over \
         bare exec in the table above.\n",
        fmt_ns(adhoc),
        fmt_ns(unitm)
    );
    let mut ranked: Vec<(usize, &Stats)> = stats
        .iter()
        .enumerate()
        .filter(|(i, _)| !phases[*i].name.starts_with("  ") && !phases[*i].name.starts_with("exec"))
        .collect();
    ranked.sort_by(|a, b| b.1.median.partial_cmp(&a.1.median).unwrap());
    println!(
        "Slowest phases: {}.\n",
        ranked
            .iter()
            .take(3)
            .map(|(i, s)| format!("{} ({})", phases[*i].name, fmt_ns(s.median)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    drop(phases);
    drop(replace_fd);
    let _ = fs::remove_dir(&replace_dir);
}
