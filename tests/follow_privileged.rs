// SPDX-License-Identifier: LGPL-2.1-or-later
//! Bindings that follow their interface (issue 18 #1) against the real kernel: a veth that is
//! deleted and created again under a bound unit, as a VRF re-created by ifupdown2 would be. A
//! tree of slices and unit cgroups below a test cgroup stands in for PID 1's hierarchy; the
//! walk, the rule and the BPF work are `--follow`'s own (`cmd::follow`), only the units'
//! configuration is given by the test. The trigger (the device unit wanting the follow unit)
//! is systemd's and is tested in the VMs (tests/vm/scenarios/follow.sh). Runs as root and
//! fails, never skips.

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;

use bindif::cmd::follow;
use bindif::cmd::generator::reconcile::Wanted;
use bindif::log::Level;
use bindif::program::Origin;
use bindif::sys::{self, bpf};
use common::{ifindex, mkdir_below as mkdir, require_privileges, run, HostVeth, TestCgroup};

fn attach(cg: &Path, ifindex: u32) {
    let dir = sys::cgroup::open_cgroup_dir(cg).unwrap();
    let prog = bpf::load_bind_program_as(ifindex, Origin::Key).unwrap();
    bpf::attach(dir.as_fd(), prog.as_fd()).unwrap();
}

/// The ifindexes our programs on `cg` bind to, in attach order.
fn bound(cg: &Path) -> Vec<u32> {
    let dir = sys::cgroup::open_cgroup_dir(cg).unwrap();
    bpf::query(dir.as_fd())
        .unwrap()
        .into_iter()
        .filter_map(|id| bpf::prog_info(id).ok()?.ours_ifindex)
        .collect()
}

#[test]
fn a_recreated_interface_rebinds_the_units_that_follow_it() {
    require_privileges();
    let veth = HostVeth::create("fla", "fpa");
    let other = HostVeth::create("flb", "fpb");
    let iface = veth.a.as_str();
    let old = ifindex(iface);
    let t = TestCgroup::new();
    let root = t.path.clone();
    let roots = [root.clone()];
    let follows = mkdir(&root, "t.slice/follows.service");
    let nested = mkdir(&root, "t.slice/t-in.slice/nested.service");
    let stays = mkdir(&root, "t.slice/stays.service");
    let elsewhere = mkdir(&root, "t.slice/elsewhere.service");
    // Started while the interface was missing (fail-open): bound once it appears.
    let late = mkdir(&root, "t.slice/late.service");
    attach(&follows, old);
    attach(&nested, old);
    attach(&stays, old);
    attach(&elsewhere, ifindex(&other.a));
    let config: HashMap<&str, Wanted> = [
        ("follows.service", Wanted::interface(iface)),
        ("nested.service", Wanted::interface(iface)),
        ("late.service", Wanted::interface(iface)),
        // stays.service does not follow: v262's stale binding until a reload or restart.
        ("elsewhere.service", Wanted::interface(&other.a)),
    ]
    .into_iter()
    .collect();
    let lines = RefCell::new(Vec::new());
    let say = |level: Level, text: String| {
        if level != Level::Debug {
            lines.borrow_mut().push(text)
        }
    };
    let mut want = |u: &str| match config.get(u) {
        Some(w @ Wanted::Interface { name, .. }) if name == iface => w.clone(),
        _ => Wanted::Unset,
    };

    // Gone: each following unit that is bound is told once; nothing is detached.
    veth.delete();
    let warned = follow::follow_gone(&roots, iface, &mut want, &say);
    assert_eq!(
        {
            let mut w = warned.clone();
            w.sort();
            w
        },
        ["follows.service", "nested.service"]
    );
    assert_eq!(
        lines
            .borrow()
            .iter()
            .filter(|l| l.contains("is gone"))
            .count(),
        2,
        "{:?}",
        lines.borrow()
    );
    assert_eq!(bound(&follows), [old]);

    // Back, with a new ifindex.
    veth.add();
    let new = ifindex(iface);
    assert_ne!(new, old, "the kernel reused the ifindex");
    lines.borrow_mut().clear();
    let tally = follow::follow(&roots, iface, &mut want, &say);
    assert_eq!((tally.examined, tally.bound, tally.failed), (3, 3, 0));
    assert_eq!(bound(&follows), [new]);
    assert_eq!(bound(&nested), [new]);
    assert_eq!(bound(&late), [new]);
    assert_eq!(
        bound(&stays),
        [old],
        "a unit that does not follow stays stale"
    );
    assert_eq!(bound(&elsewhere), [ifindex(&other.a)]);
    assert!(
        lines.borrow().iter().any(|l| l
            == &format!("follows.service: bind-interface: Bound to interface '{iface}' (ifindex {new}) as it appeared.")),
        "{:?}",
        lines.borrow()
    );

    // Again: nothing to do, one program each.
    let tally = follow::follow(&roots, iface, &mut want, &say);
    assert_eq!((tally.examined, tally.bound), (3, 0));
    assert_eq!(bound(&follows), [new]);

    // Renamed away (udev's move event names the old name): reported, the binding stays on the
    // renamed interface.
    run("ip", &["link", "set", iface, "name", &format!("{iface}x")]);
    let warned = follow::follow_gone(&roots, iface, &mut want, &say);
    assert_eq!(warned.len(), 3, "{warned:?}");
    assert_eq!(bound(&follows), [new]);
    run("ip", &["link", "set", &format!("{iface}x"), "name", iface]);
}

#[test]
fn the_follow_command_runs_end_to_end() {
    require_privileges();
    // The binary's own command line and exit status. PID 1 is not systemd here: the cgroups the
    // walk finds name no unit installed on this host, so nothing is touched and it succeeds.
    let veth = HostVeth::create("flc", "fpc");
    for (flag, want) in [("--follow", 0), ("--follow-gone", 0)] {
        let out = Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
            .args([flag, &veth.a])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(want), "{flag}: {out:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bindif-launch"))
        .args(["--follow", "bad/name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
