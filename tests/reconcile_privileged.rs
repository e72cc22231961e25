// SPDX-License-Identifier: LGPL-2.1-or-later
//! daemon-reload re-resolution against the real kernel: a tree of slices and unit cgroups below a
//! test cgroup stands in for PID 1's hierarchy, two veth interfaces in this (the host's) network
//! namespace for the VRFs. The walk, the rule and the BPF work are the generator's own
//! (`cmd::generator::reconcile`); only the units' configuration is given by the test. Runs as
//! root and fails, never skips.

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command};

use bindif::cmd::generator::reconcile::{self, Occasion, Resolver, Tally, Wanted};
use bindif::log::Level;
use bindif::program::Origin;
use bindif::sys::{self, bpf};
use common::{ifindex, mkdir_below as mkdir, require_privileges, run, HostVeth, TestCgroup};

/// Attaches one of our programs (`origin`) for `ifindex` to `cg`.
fn attach(cg: &Path, ifindex: u32, origin: Origin) {
    let dir = sys::cgroup::open_cgroup_dir(cg).unwrap();
    let prog = bpf::load_bind_program_as(ifindex, origin).unwrap();
    bpf::attach(dir.as_fd(), prog.as_fd()).unwrap();
}

/// Our programs on `cg`: (origin, ifindex), in attach order.
fn programs(cg: &Path) -> Vec<(Origin, u32)> {
    let dir = sys::cgroup::open_cgroup_dir(cg).unwrap();
    bpf::query(dir.as_fd())
        .unwrap()
        .into_iter()
        .filter_map(|id| {
            let info = bpf::prog_info(id).ok()?;
            Some((info.origin?, info.ours_ifindex?))
        })
        .collect()
}

/// How a reload takes its cgroup queries.
#[derive(Clone, Copy, Debug)]
enum Order {
    /// Walk, then query the units that set the key, as `--follow` does.
    Sequential,
    /// The generator's: walk and query every unit on the prefetch thread first
    /// (`reconcile::Prefetch`), then apply with those results.
    Prefetched,
}

/// One reload: walk `root`, apply with `config`; the log lines and the tally.
fn reload(root: &Path, config: &HashMap<&str, Wanted>, order: Order) -> (Tally, Vec<String>) {
    let lines = std::cell::RefCell::new(Vec::new());
    let log = |level: Level, text: String| {
        if level != Level::Debug {
            lines.borrow_mut().push(text)
        }
    };
    let mut wanted = |u: &str| config.get(u).cloned().unwrap_or(Wanted::Unset);
    let tally = match order {
        Order::Sequential => {
            let found = reconcile::running(root, &log);
            reconcile::apply(
                &found,
                &mut wanted,
                &mut Resolver::default(),
                Occasion::Reload,
                &log,
            )
        }
        Order::Prefetched => {
            let top = root.to_path_buf();
            let (walked, walk_lines, queries) =
                reconcile::Prefetch::start(move || vec![top]).walked();
            for (level, text) in walk_lines {
                log(level, text);
            }
            // The thread's walk is the walk.
            assert_eq!(walked.len(), 1);
            assert_eq!(walked[0].0, root);
            assert_eq!(walked[0].1, reconcile::running(root, &|_, _| {}));
            let queried = queries.wait();
            assert_eq!(queried.len(), 1);
            assert_eq!(queried[0].len(), walked[0].1.len(), "one query per unit");
            apply_prefetched(&walked, queried, &mut wanted, &log)
        }
    };
    (tally, lines.into_inner())
}

/// What the generator does with a prefetch's one hierarchy: each unit's wish, then
/// `apply_queried` with the queries taken.
fn apply_prefetched(
    walked: &[reconcile::Walked],
    mut queried: reconcile::QueryResults,
    wanted: &mut dyn FnMut(&str) -> Wanted,
    log: &dyn Fn(Level, String),
) -> Tally {
    let wants = walked[0].1.iter().map(|r| wanted(&r.unit)).collect();
    reconcile::apply_queried(
        &walked[0].1,
        wants,
        queried.pop(),
        &mut Resolver::default(),
        Occasion::Reload,
        log,
    )
}

/// A process in a network namespace of its own, moved into `cg`.
fn other_netns_process(cg: &Path) -> Child {
    let mut child = Command::new("unshare")
        .args(["--net", "sleep", "60"])
        .spawn()
        .expect("unshare");
    fs::write(cg.join("cgroup.procs"), child.id().to_string()).unwrap();
    // unshare execs sleep in place only after unsharing: wait until the namespace differs.
    for _ in 0..200 {
        if sys::process::net_ns(Some(child.id())).ok() != sys::process::net_ns(None).ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("unshare --net did not give the process a namespace of its own");
}

/// The descriptor-limit test lowers this process's limit: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn reload_follows_configuration_and_interfaces() {
    follows_configuration_and_interfaces(Order::Sequential);
}

/// The generator's order (the walk and every query before the configuration is known, on a
/// thread of their own) gives the same bindings, lines and counts as the sequential one: every
/// assertion of the scenario holds for both.
#[test]
fn reload_with_prefetched_queries_does_the_same() {
    follows_configuration_and_interfaces(Order::Prefetched);
}

fn follows_configuration_and_interfaces(order: Order) {
    require_privileges();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let veth = HostVeth::create("rca", "rcb");
    let (a, b) = (veth.a.as_str(), veth.b.as_str());
    let (ia, ib) = (ifindex(a), ifindex(b));
    let t = TestCgroup::new();
    let root = t.path.as_path();

    let late = mkdir(root, "t.slice/late.service");
    let changed = mkdir(root, "t.slice/changed.service");
    let reset = mkdir(root, "t.slice/reset.service");
    let explicit = mkdir(root, "t.slice/explicit.service");
    let missing = mkdir(root, "t.slice/missing.service");
    let stacked = mkdir(root, "t.slice/stacked.service");
    let nested = mkdir(root, "t.slice/t-in.slice/nested.service");
    let delegated = mkdir(root, "t.slice/late.service/payload");
    let escaped = mkdir(root, "t.slice/_cpu.service");
    let outside = mkdir(root, "other/outside.service");
    let netns = mkdir(root, "t.slice/netns.service");
    // A delegated unit whose processes all live in a sub-cgroup: its namespace counts too.
    let netns_deep = mkdir(root, "t.slice/netns-deep.service");
    let netns_payload = mkdir(root, "t.slice/netns-deep.service/payload");
    let fail_closed = mkdir(root, "t.slice/closed.service");
    let slice = root.join("t.slice/t-in.slice");

    attach(&changed, ib, Origin::Key);
    attach(&reset, ia, Origin::Key);
    attach(&explicit, ia, Origin::Explicit);
    attach(&missing, ia, Origin::Key);
    attach(&stacked, ia, Origin::Key);
    attach(&stacked, ia, Origin::Key);
    attach(&delegated, ib, Origin::Key);
    attach(&outside, ib, Origin::Key);
    attach(&fail_closed, ia, Origin::Key);
    let mut stranger = other_netns_process(&netns);
    let mut deep_stranger = other_netns_process(&netns_payload);

    let w = Wanted::interface;
    let config: HashMap<&str, Wanted> = [
        ("late.service", w(a)),
        ("changed.service", w(a)),
        ("missing.service", w("bindif-nx0")),
        ("stacked.service", w(a)),
        ("nested.service", w(a)),
        ("t-in.slice", w(b)),
        ("cpu.service", w(a)),
        ("netns.service", w(a)),
        ("netns-deep.service", w(a)),
        (
            "closed.service",
            Wanted::Interface {
                name: "bindif-nx1".into(),
                fail_closed: true,
            },
        ),
    ]
    .into_iter()
    .collect();

    let (tally, lines) = reload(root, &config, order);

    // A late interface, a changed value, stacked copies, a nested slice's unit, the slice itself
    // and an escaped cgroup name: one program each, of the key, for the configured ifindex.
    for (cg, want) in [
        (&late, ia),
        (&changed, ia),
        (&stacked, ia),
        (&nested, ia),
        (&slice, ib),
        (&escaped, ia),
    ] {
        assert_eq!(programs(cg), [(Origin::Key, want)], "{}", cg.display());
    }
    // Reset: the binding stays until the unit restarts, as on systemd 262. The explicit
    // form's stays too.
    assert_eq!(programs(&reset), [(Origin::Key, ia)]);
    assert_eq!(programs(&explicit), [(Origin::Explicit, ia)]);
    // Missing interface: removed, and said in systemd 262's words.
    assert_eq!(programs(&missing), []);
    assert!(
        lines.iter().any(|l| l
            == "missing.service: bind-interface: Couldn't find index of network interface 'bindif-nx0', ignoring: No such device"),
        "{lines:#?}"
    );
    // Never into a unit's own cgroup, never outside the slices.
    assert_eq!(programs(&delegated), [(Origin::Key, ib)]);
    assert_eq!(programs(&outside), [(Origin::Key, ib)]);
    // Another network namespace, directly or in a sub-cgroup: left alone.
    assert_eq!(programs(&netns), []);
    assert_eq!(programs(&netns_deep), []);
    assert_eq!(tally.skipped_netns, 2, "{tally:?}");
    // Fail-closed and missing: the stale binding stays (new sockets fail, never unbound).
    assert_eq!(programs(&fail_closed), [(Origin::Key, ia)]);
    assert!(
        lines.iter().any(|l| l.starts_with(
            "closed.service: bind-interface: Couldn't find index of network interface 'bindif-nx1', keeping the stale binding"
        )),
        "{lines:#?}"
    );
    assert_eq!(
        (
            tally.bound,
            tally.missing,
            tally.kept_fail_closed,
            tally.failed
        ),
        (6, 1, 1, 0),
        "{tally:?} {lines:#?}"
    );

    // A second reload changes nothing.
    let (again, lines) = reload(root, &config, order);
    assert_eq!((again.bound, again.failed), (0, 0), "{lines:#?}");
    assert_eq!(
        again.missing, 1,
        "a missing interface is reported at every reload"
    );

    // The interface is deleted and re-created (new ifindex): the next reload follows it.
    veth.recreate();
    let ia2 = ifindex(a);
    assert_ne!(ia, ia2);
    let (_, lines) = reload(root, &config, order);
    for cg in [&late, &changed, &stacked, &nested, &escaped] {
        assert_eq!(
            programs(cg),
            [(Origin::Key, ia2)],
            "{} {lines:#?}",
            cg.display()
        );
    }
    // The explicit form keeps its stale ifindex: no configuration describes it.
    assert_eq!(programs(&explicit), [(Origin::Explicit, ia)]);
    assert_eq!(programs(&netns), []);
    for p in [&mut stranger, &mut deep_stranger] {
        let _ = p.kill();
        let _ = p.wait();
    }
}

#[test]
fn the_walk_holds_one_directory_open_at_a_time() {
    require_privileges();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // More sibling slices than a generator's default soft limit of descriptors (1024).
    let t = TestCgroup::new();
    for i in 0..1100 {
        mkdir(&t.path, &format!("s{i}.slice/u{i}.service"));
    }
    let lines = std::cell::RefCell::new(Vec::new());
    let log = |_: Level, text: String| lines.borrow_mut().push(text);
    let limit = rlimit_nofile();
    set_rlimit_nofile(256);
    let found = reconcile::running(&t.path, &log);
    set_rlimit_nofile(limit);
    assert_eq!(found.len(), 2200, "{:#?}", lines.borrow());
    assert!(lines.borrow().is_empty(), "{:#?}", lines.borrow());
}

fn rlimit_nofile() -> u64 {
    let text = fs::read_to_string("/proc/self/limits").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Lowers (or restores) this process's soft descriptor limit, through prlimit(1).
fn set_rlimit_nofile(n: u64) {
    run(
        "prlimit",
        &[
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={n}:"),
        ],
    );
}

/// The generator's own reload (`generator::reload_without_files`: the prefetch thread, each
/// running unit's wish evaluated from the unit files on the loading threads, `apply_queried`)
/// binds every running unit to its own file's value: enough units (600) that the wishes are
/// spread over two threads where there are two cores, each unit's value different from its
/// neighbours', so a wish handed to another unit than its own (out of the walk's order) binds
/// the wrong interface or leaves one unbound.
#[test]
fn the_generators_reload_binds_each_unit_to_its_own_value() {
    use bindif::cmd::generator;
    require_privileges();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let veth = HostVeth::create("rga", "rgb");
    let (a, b) = (veth.a.as_str(), veth.b.as_str());
    let (ia, ib) = (ifindex(a), ifindex(b));
    let t = TestCgroup::new();
    let tree = std::env::temp_dir().join(format!("bindif-reload-gen-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tree);
    let lib = tree.join("usr/lib/systemd/system");
    fs::create_dir_all(&lib).unwrap();
    const N: usize = 600;
    // Unit i: a, b, a missing interface, or no key, in a cycle that is not a power of two.
    let value = |i: usize| match i % 6 {
        0 | 3 => Some(a),
        1 | 4 => Some(b),
        2 => Some("bindif-nx9"),
        _ => None,
    };
    let mut cgroups = Vec::new();
    for i in 0..N {
        let name = format!("u{i:04}.service");
        let key = value(i).map_or(String::new(), |v| format!("BindNetworkInterface={v}\n"));
        fs::write(
            lib.join(&name),
            format!("[Service]\nExecStart=/bin/true\n{key}"),
        )
        .unwrap();
        // Two slices, so the walk's order is not the names' order.
        let slice = if i % 2 == 0 {
            "even.slice"
        } else {
            "odd.slice"
        };
        cgroups.push((i, mkdir(&t.path, &format!("{slice}/{name}"))));
    }
    let opts = generator::Options {
        root: tree.clone(),
        normal: tree.join("run/systemd/generator"),
        systemd_version: Some(259),
        layout: Some(bindif::cgroup_path::Layout::Unified {
            mount: "/sys/fs/cgroup".into(),
        }),
        kmsg: false,
        debug: false,
        reconcile: true,
    };
    let (_, tally, loaded) = generator::reload_without_files(&opts, vec![t.path.clone()]);
    loaded.free();
    let with_key = (0..N).filter(|&i| value(i).is_some()).count();
    let missing = (0..N).filter(|&i| i % 6 == 2).count();
    assert_eq!(
        (tally.examined, tally.bound, tally.missing, tally.failed),
        (with_key, with_key - missing, missing, 0),
        "{tally:?}"
    );
    for (i, cg) in &cgroups {
        let want = match value(*i) {
            Some(v) if v == a => vec![(Origin::Key, ia)],
            Some(v) if v == b => vec![(Origin::Key, ib)],
            _ => vec![],
        };
        assert_eq!(programs(cg), want, "{}", cg.display());
    }
    // A second reload finds every binding current.
    let (_, again, loaded) = generator::reload_without_files(&opts, vec![t.path.clone()]);
    loaded.free();
    assert_eq!((again.bound, again.missing, again.failed), (0, missing, 0));
    let _ = fs::remove_dir_all(&tree);
}

/// A unit that stops after its cgroup was queried (early, on the prefetch thread) and before the
/// reload acts on it is skipped without a word, as one gone at the query is: nothing failed.
#[test]
fn a_unit_gone_between_the_prefetched_query_and_the_action_is_skipped() {
    require_privileges();
    let veth = HostVeth::create("rsa", "rsb");
    let ib = ifindex(&veth.b);
    let t = TestCgroup::new();
    let cg = mkdir(&t.path, "t.slice/x.service");
    // Bound to the other interface: the reload decides to bind it again, so it acts.
    attach(&cg, ib, Origin::Key);
    let top = t.path.clone();
    let (walked, _, queries) = reconcile::Prefetch::start(move || vec![top]).walked();
    let queried = queries.wait();
    // Stopped: PID 1 removes the cgroup (its program goes with it).
    fs::remove_dir(&cg).unwrap();
    let lines = std::cell::RefCell::new(Vec::new());
    let log = |level: Level, text: String| lines.borrow_mut().push((level, text));
    let mut wanted = |unit: &str| match unit {
        "x.service" => Wanted::interface(&veth.a),
        _ => Wanted::Unset,
    };
    let tally = apply_prefetched(&walked, queried, &mut wanted, &log);
    assert_eq!(
        (tally.examined, tally.bound, tally.failed),
        (1, 0, 0),
        "{tally:?}"
    );
    assert_eq!(lines.into_inner(), Vec::new());
    assert!(!cg.exists());
}
