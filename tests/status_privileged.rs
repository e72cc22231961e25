// SPDX-License-Identifier: LGPL-2.1-or-later
//! Privileged tests of `bindif-launch status` on the host kernel: real cgroup2, real BPF
//! programs, real rtnetlink and sock_diag.
//!
//! They run as root in CI and FAIL (never skip) when they cannot run. Interfaces live in
//! throwaway network namespaces, and `status` runs there too (a helper started with `nsenter
//! --net`, which unlike `ip netns exec` keeps our /sys and its cgroup mounts). Most tests walk
//! only their own child cgroup (`Options::hierarchies`), so parallel tests never see each
//! other's programs; two walk the real hierarchy with unique unit names. Nothing is ever
//! attached to the root cgroup.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use bindif::cmd::status::{self, Options, State};
use bindif::program::{Insn, Origin};
use bindif::sys;
use bindif::sys::bpf;

/// Binds the cgroup at `path` with the launcher's own load and attach steps.
fn bind_at(path: &Path, ifindex: u32) -> Result<bpf::BindOutcome, sys::Error> {
    use bindif::cmd::launch::kernel::{Cgroup, Kernel, Linux};
    let cg = Cgroup::open(path)?;
    let name = bindif::sys::netlink::primary_name_by_ioctl(ifindex).unwrap_or_default();
    let mut prog = Linux::default().load(&name, ifindex, Origin::Key)?;
    Linux::default().attach(&cg, &mut prog)
}
use common::*;

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/status/root")
}

/// Creates `parent/name` (a unit-named child cgroup) and returns its path.
fn child(parent: &Path, name: &str) -> PathBuf {
    let p = parent.join(name);
    fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
    p
}

/// Attaches one more copy of our program for `ifindex` (no removal of older copies).
fn attach_ours(cgroup: &Path, ifindex: u32) {
    let dir = sys::cgroup::open_cgroup_dir(cgroup).unwrap();
    let prog = bpf::load_bind_program(ifindex).expect("load bindif_sock");
    bpf::attach(dir.as_fd(), prog.as_fd()).expect("attach bindif_sock");
}

/// Attaches a program that is neither ours nor systemd's: `r0 = 1; exit`.
fn attach_foreign(cgroup: &Path) {
    let dir = sys::cgroup::open_cgroup_dir(cgroup).unwrap();
    let prog = bpf::load_program(&[Insn::mov64_imm(0, 1), Insn::exit()], "other_tool")
        .expect("load foreign program");
    bpf::attach(dir.as_fd(), prog.as_fd()).expect("attach foreign program");
}

fn add_veth(ns: &NetNs, a: &str, b: &str) {
    run(
        "ip",
        &[
            "-n", &ns.name, "link", "add", a, "type", "veth", "peer", "name", b,
        ],
    );
    run("ip", &["-n", &ns.name, "link", "set", a, "up"]);
}

fn nsenter(ns: &NetNs, exe: &Path) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{}", ns.name))
        .arg("--")
        .arg(exe);
    c
}

fn harness_args(role: &str) -> Vec<String> {
    vec![
        "--exact".into(),
        format!("helper_{role}"),
        "--nocapture".into(),
        "--test-threads=1".into(),
        "-q".into(),
    ]
}

/// The outcome of `status` run inside a namespace.
struct StatusRun {
    exit: i32,
    out: String,
}

/// Runs `status` in `ns` over the hierarchy `under` (a test's parent cgroup), with unit files
/// from the fixture root.
fn status_in(ns: &NetNs, under: &Path, units: &[&str], sockets: bool, json: bool) -> StatusRun {
    status_run(ns, under, units, sockets, json, false)
}

/// [`status_in`], also with `--prometheus`.
fn status_run(
    ns: &NetNs,
    under: &Path,
    units: &[&str],
    sockets: bool,
    json: bool,
    prometheus: bool,
) -> StatusRun {
    let exe = std::env::current_exe().unwrap();
    let out_file = std::env::temp_dir().join(unique("bindif-status-out"));
    let mut cmd = nsenter(ns, &exe);
    cmd.args(harness_args("status"))
        .env(ROLE_ENV, "status")
        .env("BINDIF_STATUS_UNDER", under)
        .env("BINDIF_STATUS_UNITS", units.join(" "))
        .env("BINDIF_STATUS_SOCKETS", if sockets { "1" } else { "0" })
        .env("BINDIF_STATUS_JSON", if json { "1" } else { "0" })
        .env(
            "BINDIF_STATUS_PROMETHEUS",
            if prometheus { "1" } else { "0" },
        )
        .env("BINDIF_STATUS_OUT", &out_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn status helper");
    let _ = child.stdin.take().unwrap().write_all(b"go\n");
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "status helper failed: {stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = parse_report(&stdout);
    let out = fs::read_to_string(&out_file).expect("status output");
    let _ = fs::remove_file(&out_file);
    eprintln!("status {units:?} sockets={sockets} json={json} prometheus={prometheus}:\n{out}");
    StatusRun {
        exit: report["exit"].parse().unwrap(),
        out,
    }
}

/// Validates the JSON with python3 and returns `UNIT STATE [IFINDEX-STATE…]` per cgroup plus
/// `socket LOCAL` per unbound socket, in output order.
fn json_summary(json: &str) -> Vec<String> {
    let script = r#"
import json, sys
d = json.load(sys.stdin)
assert isinstance(d["ok"], bool)
for c in d["cgroups"]:
    progs = " ".join("%s:%s" % (p["kind"], p["state"]) for p in c["programs"])
    print(("%s %s %s" % (c["unit"], c["state"], progs)).strip())
    for s in c.get("unbound_sockets", []):
        print("socket %s %s %s" % (s["protocol"], s["local"], s["bound_interface"]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to validate --json");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "--json is not valid JSON: {}\n{json}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers (run in re-executed copies of this binary)

#[test]
fn helper_status() {
    if !helper_role("status") {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap();
    let units: Vec<String> = var("BINDIF_STATUS_UNITS")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut opts = Options::new(
        &units,
        var("BINDIF_STATUS_SOCKETS") == "1",
        var("BINDIF_STATUS_JSON") == "1",
    );
    opts.root = fixture_root();
    opts.hierarchies = Some(vec![PathBuf::from(var("BINDIF_STATUS_UNDER"))]);
    opts.prometheus = var("BINDIF_STATUS_PROMETHEUS") == "1";
    let mut out = Vec::new();
    let exit = status::run_with(&opts, &mut out);
    fs::write(var("BINDIF_STATUS_OUT"), out).unwrap();
    let mut r = Report::new();
    r.insert("exit".into(), exit.to_string());
    emit(&r);
}

/// Holds sockets: "early" ones made before the parent attaches the program, "late" ones after
/// the parent says `more`; prints their ports and waits for stdin to close.
#[test]
fn helper_hold() {
    if !helper_role("hold") {
        return;
    }
    use std::net::{TcpListener, UdpSocket};
    let early_udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let early_tcp = TcpListener::bind("[::]:0").unwrap();
    let mut r = Report::new();
    r.insert(
        "early_udp".into(),
        early_udp.local_addr().unwrap().port().to_string(),
    );
    r.insert(
        "early_tcp".into(),
        early_tcp.local_addr().unwrap().port().to_string(),
    );
    emit(&r);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let late_udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let late_tcp = TcpListener::bind("0.0.0.0:0").unwrap();
    let mut r = Report::new();
    r.insert(
        "late_udp".into(),
        late_udp.local_addr().unwrap().port().to_string(),
    );
    r.insert(
        "late_tcp".into(),
        late_tcp.local_addr().unwrap().port().to_string(),
    );
    r.insert(
        "late_dev".into(),
        bpf::bound_device_name(late_udp.as_fd())
            .unwrap()
            .unwrap_or_else(|| "-".into()),
    );
    emit(&r);
    // Until the parent closes stdin.
    let _ = std::io::stdin().read_line(&mut line);
    drop((early_udp, early_tcp, late_udp, late_tcp));
}

/// A holder process in `ns`, moved into `cgroup` before it creates anything.
struct Holder {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
}

impl Holder {
    fn start(ns: &NetNs, cgroup: &Path) -> Holder {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = nsenter(ns, &exe);
        cmd.args(harness_args("hold"))
            .env(ROLE_ENV, "hold")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn holder");
        // nsenter execs in place: the pid we move is the holder's.
        fs::write(cgroup.join("cgroup.procs"), child.id().to_string()).unwrap();
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        Holder { child, lines }
    }

    fn next_report(&mut self) -> Report {
        loop {
            let mut line = String::new();
            let n = self.lines.read_line(&mut line).unwrap();
            assert!(n > 0, "holder exited early");
            if line.starts_with(RESULT_MARK) {
                return parse_report(&line);
            }
        }
    }

    fn more(&mut self) -> Report {
        self.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"more\n")
            .unwrap();
        self.next_report()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Ours bound to the right interface, a foreign program, two of ours on one cgroup, and named
/// units with and without programs; the table, the JSON and the exit statuses.
#[test]
fn reports_ok_foreign_stacked_and_unbound() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let bt0 = ns.ifindex_by_ip(VETH_A);
    let bt1 = ns.ifindex_by_ip(VETH_B);
    let ok = child(&parent.path, "bst@bt0.service");
    attach_ours(&ok, bt0);
    let stacked = child(&parent.path, "bst@bt1.service");
    attach_ours(&stacked, bt1);
    attach_ours(&stacked, bt1);
    let foreign = child(&parent.path, "plain.service");
    attach_foreign(&foreign);
    child(&parent.path, "want.service");

    // Everything with a program: stacked makes it fail.
    let all = status_in(&ns, &parent.path, &[], false, true);
    assert_eq!(all.exit, 1);
    assert_eq!(
        json_summary(&all.out),
        vec![
            "bst@bt0.service ok ours:ok",
            "bst@bt1.service stacked ours:stacked ours:stacked",
            "plain.service unbound foreign:foreign",
        ]
    );
    let text = status_in(&ns, &parent.path, &[], false, false);
    assert_eq!(text.exit, 1);
    let lines: Vec<&str> = text.out.lines().collect();
    assert!(lines[0].starts_with("CGROUP"), "{}", text.out);
    let row = lines
        .iter()
        .find(|l| l.starts_with("/bst@bt0.service"))
        .unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "bst@bt0.service");
    assert!(cols[2].starts_with("bindif_sock#"));
    assert_eq!(
        &cols[3..],
        &[bt0.to_string().as_str(), "bt0", "bt0", "ok"],
        "{row}"
    );
    assert!(text.out.contains("foreign other_tool#"), "{}", text.out);
    assert!(
        text.out
            .contains("bst@bt1.service: 2 binding programs on one cgroup (2 of ours)"),
        "{}",
        text.out
    );

    // Named units.
    let named = status_in(&ns, &parent.path, &["bst@bt0.service"], false, false);
    assert_eq!(named.exit, 0, "{}", named.out);
    let want = status_in(&ns, &parent.path, &["want"], false, true);
    assert_eq!(want.exit, 1, "want.service has no program but wants bt0");
    assert_eq!(json_summary(&want.out), vec!["want.service unbound"]);
    let plain = status_in(&ns, &parent.path, &["plain.service"], false, true);
    assert_eq!(plain.exit, 0, "plain.service wants no binding");
    assert_eq!(
        json_summary(&plain.out),
        vec!["plain.service unbound foreign:foreign"]
    );
    // A template matches its instances; a unit without a cgroup is inactive, not a problem.
    fs::remove_dir(&foreign).ok();
    let tmpl = status_in(&ns, &parent.path, &["bst@.service"], false, true);
    assert_eq!(
        json_summary(&tmpl.out),
        vec![
            "bst@bt0.service ok ours:ok",
            "bst@bt1.service stacked ours:stacked ours:stacked",
        ]
    );
    let gone_unit = status_in(&ns, &parent.path, &["bst@nothere.service"], false, false);
    assert_eq!(gone_unit.exit, 0);
    assert!(gone_unit.out.contains("inactive"), "{}", gone_unit.out);
    // Bad names are bad arguments.
    let bad = status_in(&ns, &parent.path, &["a/b.service"], false, false);
    assert_eq!(bad.exit, 2);
}

/// Interfaces deleted, re-created with the same name, renamed, and renamed with a new interface
/// taking the old name.
#[test]
fn reports_gone_recreated_renamed_and_mismatch() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    for (a, b) in [("va", "vap"), ("vb", "vbp"), ("vc", "vcp"), ("vd", "vdp")] {
        add_veth(&ns, a, b);
    }
    let idx: Vec<u32> = ["va", "vb", "vc", "vd"]
        .iter()
        .map(|d| ns.ifindex_by_ip(d))
        .collect();
    for (i, d) in ["va", "vb", "vc", "vd"].iter().enumerate() {
        let cg = child(&parent.path, &format!("bst@{d}.service"));
        bind_at(&cg, idx[i]).expect("bind");
    }
    let before = status_in(&ns, &parent.path, &[], false, true);
    assert_eq!(before.exit, 0, "{}", before.out);

    let n = ns.name.as_str();
    // va: deleted and re-created under the same name: a new ifindex.
    run("ip", &["-n", n, "link", "del", "va"]);
    add_veth(&ns, "va", "vap");
    let va_new = ns.ifindex_by_ip("va");
    assert_ne!(va_new, idx[0]);
    // vb: renamed.
    run("ip", &["-n", n, "link", "set", "vb", "down"]);
    run("ip", &["-n", n, "link", "set", "vb", "name", "vb-renamed"]);
    // vc: renamed, and a new vc created.
    run("ip", &["-n", n, "link", "set", "vc", "down"]);
    run("ip", &["-n", n, "link", "set", "vc", "name", "vc-old"]);
    add_veth(&ns, "vc", "vcp2");
    // vd: deleted.
    run("ip", &["-n", n, "link", "del", "vd"]);

    let after = status_in(&ns, &parent.path, &[], false, true);
    assert_eq!(after.exit, 1);
    assert_eq!(
        json_summary(&after.out),
        vec![
            "bst@va.service gone ours:gone",
            "bst@vb.service renamed ours:renamed",
            "bst@vc.service mismatch ours:mismatch",
            "bst@vd.service gone ours:gone",
        ]
    );
    let text = status_in(&ns, &parent.path, &[], false, false).out;
    assert!(
        text.contains(&format!(
            "bst@va.service: ifindex {} no longer exists; va is now ifindex {va_new}",
            idx[0]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("ifindex {} is now named vb-renamed", idx[1])),
        "{text}"
    );
    assert!(
        text.contains(&format!("ifindex {} is now vc-old", idx[2])),
        "{text}"
    );
    // Named: only that unit, and its exit status alone.
    let one = status_in(&ns, &parent.path, &["bst@vb.service"], false, true);
    assert_eq!(one.exit, 1);
    assert_eq!(
        json_summary(&one.out),
        vec!["bst@vb.service renamed ours:renamed"]
    );
}

/// Attaches a copy of our program as the unit's configuration would (named `bindif_unit`).
fn attach_ours_for_unit(cgroup: &Path, ifindex: u32) {
    let dir = sys::cgroup::open_cgroup_dir(cgroup).unwrap();
    let prog = bpf::load_bind_program_as(ifindex, Origin::Key).expect("load bindif_unit");
    bpf::attach(dir.as_fd(), prog.as_fd()).expect("attach bindif_unit");
}

/// A process of `ns` parked in `cgroup` (the unit is running), killed on drop.
struct Parked(Child);

impl Parked {
    fn start(ns: &NetNs, cgroup: &Path) -> Parked {
        // nsenter execs in place: the pid we move is sleep's.
        let child = nsenter(ns, Path::new("sleep"))
            .arg("600")
            .spawn()
            .expect("spawn sleep");
        fs::write(cgroup.join("cgroup.procs"), child.id().to_string()).unwrap();
        Parked(child)
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 14: a running unit whose binding drifted from its configuration (another interface,
/// the key reset) or that runs unbound though it sets the key is reported in the whole-hierarchy
/// view with its own state and a fix, and makes status exit 1; an ad hoc binding without the
/// key, a unit that is not running and a running unit without the key are not.
#[test]
fn reports_drift_from_the_configuration() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let bt0 = ns.ifindex_by_ip(VETH_A);
    let bt1 = ns.ifindex_by_ip(VETH_B);
    // (b) bst@bt0 is configured for bt0 but bound to bt1 (a drop-in changed it, no reload).
    attach_ours_for_unit(&child(&parent.path, "bst@bt0.service"), bt1);
    // (c) plain.service sets no key (reset), its unit binding is still attached; adhoc.service
    // binds itself on the command line, without the key.
    attach_ours_for_unit(&child(&parent.path, "plain.service"), bt0);
    attach_ours(&child(&parent.path, "adhoc.service"), bt0);
    // (d) Running with the key and nothing attached: the interface exists now (bt1) or not.
    let late = child(&parent.path, "bst@bt1.service");
    let missing = child(&parent.path, "bst@nothere.service");
    let _p1 = Parked::start(&ns, &late);
    let _p2 = Parked::start(&ns, &missing);
    // Not running (no process): not reported in the whole-hierarchy view.
    child(&parent.path, "want.service");
    // Running without the key: nothing to say.
    let _p3 = Parked::start(&ns, &child(&parent.path, "other.service"));

    let all = status_in(&ns, &parent.path, &[], false, true);
    assert_eq!(all.exit, 1, "{}", all.out);
    assert_eq!(
        json_summary(&all.out),
        vec![
            "adhoc.service ok ours:ok",
            "bst@bt0.service mismatch ours:mismatch",
            "bst@bt1.service unbound",
            "bst@nothere.service unbound",
            "plain.service reset-pending ours:reset-pending",
        ]
    );
    let text = status_in(&ns, &parent.path, &[], false, false).out;
    let reload = "run 'systemctl daemon-reload' (or restart the unit)";
    for line in [
        format!(
            "bst@bt0.service: ifindex {bt1} is now bt1, but BindNetworkInterface=bt0 is ifindex \
             {bt0}: the configuration changed or the interface was renamed; {reload} to bind it \
             to bt0"
        ),
        format!(
            "plain.service: BindNetworkInterface= is no longer set for the unit, but the binding \
             it made (bt0, ifindex {bt0}) is still attached (a daemon-reload keeps it, as on \
             systemd 262): restart the unit to remove it"
        ),
        format!(
            "bst@bt1.service: BindNetworkInterface=bt1 is set but no binding is attached: \
             sockets of the unit are not bound; bt1 (ifindex {bt1}) was missing when the unit \
             started or at the last daemon-reload, or the key was added since: {reload} to bind \
             it"
        ),
        "bst@nothere.service: BindNetworkInterface=nothere is set but no binding is attached: \
         sockets of the unit are not bound; no interface nothere exists: create it, then run \
         'systemctl daemon-reload' (or restart the unit)"
            .to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Each alone: its own exit status.
    for (unit, exit) in [
        ("adhoc.service", 0),
        ("plain.service", 1),
        ("bst@bt1.service", 1),
        ("other.service", 0),
    ] {
        assert_eq!(
            status_in(&ns, &parent.path, &[unit], false, false).exit,
            exit,
            "{unit}"
        );
    }
    // (a) The interface deleted and re-created: gone, with the new ifindex and the fix.
    run("ip", &["-n", &ns.name, "link", "del", VETH_B]);
    add_veth(&ns, VETH_B, "bt1p");
    let bt1_new = ns.ifindex_by_ip(VETH_B);
    let one = status_in(&ns, &parent.path, &["bst@bt0.service"], false, false);
    assert_eq!(one.exit, 1);
    assert!(
        one.out.contains(&format!(
            "bst@bt0.service: ifindex {bt1} no longer exists: sockets created now are bound to a \
             missing device and cannot send; once the interface exists again, {reload}"
        )),
        "{}",
        one.out
    );
    // bst@bt1 runs unbound; a reload would now bind the re-created bt1.
    let late = status_in(&ns, &parent.path, &["bst@bt1.service"], false, false);
    assert!(
        late.out
            .contains(&format!("bt1 (ifindex {bt1_new}) was missing")),
        "{}",
        late.out
    );
}

/// Issue 18: a binding to a link that is down is a preflight finding (a `warning:` line with
/// its fix, a `preflight` entry in the JSON, a `bindif_preflight_problem` series), never a
/// failure: administratively down, and up without a carrier (its veth peer down). Up again,
/// nothing is said.
#[test]
fn preflight_finds_down_links() {
    require_privileges();
    let ns = NetNs::new();
    let n = ns.name.as_str();
    let parent = TestCgroup::new();
    let bt0 = ns.ifindex_by_ip(VETH_A);
    let cg = child(&parent.path, "bst@bt0.service");
    attach_ours(&cg, bt0);
    let up = status_in(&ns, &parent.path, &[], false, false);
    assert_eq!(up.exit, 0, "{}", up.out);
    assert!(!up.out.contains("warning:"), "{}", up.out);

    // The peer down: bt0 loses its carrier (the operational state follows through the
    // kernel's linkwatch, within a second).
    run("ip", &["-n", n, "link", "set", VETH_B, "down"]);
    let no_carrier = format!(
        "warning: Interface bt0 (ifindex {bt0}) is up but its operational state is down (no \
         carrier, or its lower device or peer is down): sockets bound to it can neither send \
         nor receive; connect its cable or bring up its lower device or peer ('ip link show \
         dev bt0' says which)"
    );
    let t = Instant::now();
    let carrier = loop {
        let r = status_in(&ns, &parent.path, &[], false, false);
        if r.out.contains("warning:") || t.elapsed().as_secs() >= 5 {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(carrier.exit, 0, "a finding is no failure");
    assert_eq!(
        carrier
            .out
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect::<Vec<_>>(),
        [no_carrier.as_str()],
        "{}",
        carrier.out
    );

    // bt0 itself down.
    run("ip", &["-n", n, "link", "set", VETH_A, "down"]);
    let down = status_in(&ns, &parent.path, &["bst@bt0.service"], false, false);
    assert_eq!(down.exit, 0);
    assert!(
        down.out.contains(&format!(
            "\nwarning: Interface bt0 (ifindex {bt0}) is down: sockets bound to it can neither \
             send nor receive; run 'ip link set dev bt0 up'\n"
        )),
        "{}",
        down.out
    );
    let json = status_in(&ns, &parent.path, &[], false, true);
    let script = r#"
import json, sys
d = json.load(sys.stdin)
for c in d["cgroups"]:
    for f in c.get("preflight", []):
        print(c["unit"], f["check"], f["interface"], f["fix"])
assert "preflight" not in d, "no host-wide finding on this kernel"
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(json.out.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3 validates --json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "bst@bt0.service link-down bt0 run 'ip link set dev bt0 up'\n"
    );
    let prom = status_run(&ns, &parent.path, &[], false, false, true);
    assert_eq!(prom.exit, 0);
    for line in [
        "bindif_status_ok 1",
        "bindif_unit_bound{cgroup=\"/bst@bt0.service\",unit=\"bst@bt0.service\",\
         interface=\"bt0\"} 1",
        "bindif_preflight_problems_total 1",
        "bindif_preflight_problem{cgroup=\"/bst@bt0.service\",unit=\"bst@bt0.service\",\
         interface=\"bt0\",check=\"link-down\"} 1",
    ] {
        assert!(prom.out.lines().any(|l| l == line), "{line}\n{}", prom.out);
    }

    // Up again: nothing to say.
    run("ip", &["-n", n, "link", "set", VETH_A, "up"]);
    run("ip", &["-n", n, "link", "set", VETH_B, "up"]);
    let t = Instant::now();
    loop {
        let r = status_in(&ns, &parent.path, &[], false, false);
        if !r.out.contains("warning:") {
            break;
        }
        assert!(t.elapsed().as_secs() < 5, "{}", r.out);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Issue 18: a binding the unit's configuration made, on a unit whose unit file exists nowhere
/// (removed while it runs): a `unit-removed` finding naming the stop, no failure; an ad hoc
/// binding on such a cgroup says nothing.
#[test]
fn preflight_finds_removed_units() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let bt0 = ns.ifindex_by_ip(VETH_A);
    let made = child(&parent.path, "removed.service");
    attach_ours_for_unit(&made, bt0);
    let adhoc = child(&parent.path, "removed-adhoc.service");
    attach_ours(&adhoc, bt0);
    let r = status_in(&ns, &parent.path, &[], false, false);
    assert_eq!(r.exit, 0, "{}", r.out);
    assert_eq!(
        r.out
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect::<Vec<_>>(),
        [
            "warning: removed.service has no unit file any more, but the binding to bt0 its \
          configuration made is still attached; run 'systemctl stop removed.service' if it was \
          removed on purpose, else restore its unit file"
        ],
        "{}",
        r.out
    );
    let prom = status_run(&ns, &parent.path, &[], false, false, true);
    assert!(
        prom.out.lines().any(|l| l
            == "bindif_preflight_problem{cgroup=\"/removed.service\",unit=\"removed.service\",\
                interface=\"bt0\",check=\"unit-removed\"} 1"),
        "{}",
        prom.out
    );
}

/// A cgroup v1 hierarchy with net_cls and net_prio, mounted for a test and put back as it was:
/// every cgroup made below it removed, then unmounted, and waited for until `/proc/cgroups`
/// lists the controllers unbound again (a hierarchy unmounted while a removed cgroup is still
/// being released lives on: it is then mounted and unmounted again).
struct V1NetCls {
    mount: PathBuf,
    children: Vec<PathBuf>,
}

impl V1NetCls {
    fn mount() -> V1NetCls {
        let before = fs::read_to_string("/proc/cgroups").unwrap();
        let bound = status_v1_lines(&before);
        assert!(
            bound.iter().all(|(_, h, _)| *h == 0),
            "net_cls/net_prio are already on a v1 hierarchy here: {bound:?}"
        );
        let mount = common::tempdir("v1-net-cls");
        run(
            "mount",
            &[
                "-t",
                "cgroup",
                "-o",
                "net_cls,net_prio",
                "bindif-test",
                mount.to_str().unwrap(),
            ],
        );
        V1NetCls {
            mount,
            children: Vec::new(),
        }
    }

    fn child(&mut self, name: &str) -> PathBuf {
        let p = self.mount.join(name);
        fs::create_dir(&p).unwrap();
        self.children.push(p.clone());
        p
    }
}

impl Drop for V1NetCls {
    fn drop(&mut self) {
        for c in self.children.iter().rev() {
            let _ = fs::remove_dir(c);
        }
        let m = self.mount.to_str().unwrap().to_string();
        let unbound = || {
            let now = fs::read_to_string("/proc/cgroups").unwrap_or_default();
            status_v1_lines(&now).iter().all(|(_, h, _)| *h == 0)
        };
        // The kernel lets go of the hierarchy some time after the unmount.
        'attempts: for _ in 0..5 {
            let _ = Command::new("umount").arg(&m).status();
            for _ in 0..30 {
                if unbound() {
                    break 'attempts;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = Command::new("mount")
                .args(["-t", "cgroup", "-o", "net_cls,net_prio", "bindif-test", &m])
                .status();
        }
        let _ = fs::remove_dir(&self.mount);
    }
}

/// The net_cls/net_prio lines of `/proc/cgroups`: name, hierarchy, number of cgroups.
fn status_v1_lines(text: &str) -> Vec<(String, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && (f[0] == "net_cls" || f[0] == "net_prio")).then(|| {
                (
                    f[0].to_string(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
        })
        .collect()
}

/// Issue 18: net_cls/net_prio in use on cgroup v1, read from the real kernel: a v1 hierarchy
/// mounted, a cgroup below it with a classid and a priority. Judged as a kernel without the fix
/// (bullseye's 5.10.46) they are a host-wide finding; as this kernel and as bullseye's
/// 5.10.226, nothing. (Whether matching really stops needs an unfixed kernel: the VM.)
#[test]
fn preflight_finds_net_cls_and_net_prio_in_use() {
    require_privileges();
    let mut opts = Options::new(&[], false, false);
    let unfixed = "Linux version 5.10.0-8-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian \
                   5.10.46-4 (2021-08-03)";
    opts.kernel = Some(unfixed.into());
    assert_eq!(status::host_preflight(&opts), [], "not mounted: nothing");
    let mut v1 = V1NetCls::mount();
    // Mounted, only its root: nothing in use.
    assert_eq!(status::host_preflight(&opts), []);
    let c = v1.child("docker-like");
    fs::write(c.join("net_cls.classid"), "0x100001").unwrap();
    let found = status::host_preflight(&opts);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].check, found[0].interface.clone()),
        ("net-cls-prio", None)
    );
    let m = &found[0].message;
    let path = c.display();
    assert!(
        m.starts_with(&format!(
            "net_cls/net_prio are in use on cgroup v1 (net_cls.classid is 0x100001 in {path}, \
             net_cls has 1 cgroups besides the root on cgroup v1, net_prio has 1 cgroups \
             besides the root on cgroup v1), and kernel 5.10.0-8-amd64 may lack the fix"
        )),
        "{m}"
    );
    // A priority instead of a classid is read too.
    fs::write(c.join("net_cls.classid"), "0").unwrap();
    fs::write(c.join("net_prio.ifpriomap"), "lo 5").unwrap();
    let found = status::host_preflight(&opts);
    assert!(
        found[0].message.contains(&format!(
            "(net_prio.ifpriomap sets 'lo 5' in {path}, net_cls has 1"
        )),
        "{found:?}"
    );
    // A kernel with the fix: nothing, whatever is in use.
    opts.kernel = Some(unfixed.replace("5.10.46-4", "5.10.226-1"));
    assert_eq!(status::host_preflight(&opts), []);
    opts.kernel = None;
    let running = fs::read_to_string("/proc/version").unwrap();
    assert_eq!(
        status::host_preflight(&opts).is_empty(),
        status::kernel_has_fix(&running),
        "{running}"
    );
    drop(v1);
    let after = fs::read_to_string("/proc/cgroups").unwrap();
    assert!(
        status_v1_lines(&after).iter().all(|(_, h, _)| *h == 0),
        "the v1 hierarchy is gone again: {after}"
    );
}

/// The kernel-log reader of the net_cls/net_prio preflight finds a record written to
/// `/dev/kmsg` now (it reads from the oldest record kept, without blocking at the end) and no
/// record that was never written.
#[test]
fn preflight_reads_the_kernel_log() {
    require_privileges();
    let mark = unique("bindif-launch test: preflight kmsg");
    fs::write("/dev/kmsg", format!("<6>{mark}\n")).expect("write /dev/kmsg");
    assert!(status::kmsg_has(|r| r.trim_end().ends_with(&mark)));
    let never = format!("{mark} never written");
    let t = Instant::now();
    assert!(!status::kmsg_has(|r| r.contains(&never)));
    assert!(t.elapsed().as_secs() < 5, "the reader stops at the end");
}

/// Dumps, inside the caller's namespace, what the VRF preflight reads, taking the link named
/// by BINDIF_VRF_DEV as a VRF with table 1001 (the host has no VRF module): one line per rule,
/// route and address, then `vrf_table` of the link and the warnings; written to
/// BINDIF_STATUS_OUT.
#[test]
fn helper_vrfdump() {
    if !helper_role("vrfdump") {
        return;
    }
    use bindif::sys::netlink;
    let var = |k: &str| std::env::var(k).unwrap();
    let dev = var("BINDIF_VRF_DEV");
    let index = netlink::resolve_ifindex(&dev).unwrap().expect("the device");
    let mut out = String::new();
    let mut vrf = status::VrfFacts {
        name: dev.clone(),
        table: 1001,
        ..Default::default()
    };
    for (family, tag, setup) in [
        (libc::AF_INET as u8, "4", &mut vrf.v4),
        (libc::AF_INET6 as u8, "6", &mut vrf.v6),
    ] {
        let rules = netlink::dump_rules(family).expect("rule dump");
        for r in &rules {
            out.push_str(&format!(
                "rule{tag} {} table={} l3mdev={} all={}\n",
                r.priority, r.table, r.l3mdev, r.matches_all
            ));
        }
        let routes = netlink::dump_routes(family, 1001).expect("route dump");
        for r in &routes {
            out.push_str(&format!(
                "route{tag} table={} dst_len={} type={} metric={}\n",
                r.table, r.dst_len, r.kind, r.metric
            ));
        }
        let addrs = netlink::dump_addrs(family, index).expect("address dump");
        for a in &addrs {
            out.push_str(&format!("addr{tag} {}/{}\n", a.address, a.prefix_len));
        }
        *setup = status::FamilySetup {
            rules: Some(rules),
            routes: Some(routes),
            addrs: Some(addrs),
        };
    }
    out.push_str(&format!(
        "vrf_table {:?} {:?}\n",
        netlink::vrf_table(index).unwrap(),
        netlink::vrf_table(999_999).unwrap()
    ));
    for w in status::vrf_warnings(&vrf) {
        out.push_str(&format!("warning {w}\n"));
    }
    fs::write(var("BINDIF_STATUS_OUT"), out).unwrap();
    emit(&Report::new());
}

fn vrfdump(ns: &NetNs, dev: &str) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let out_file = std::env::temp_dir().join(unique("bindif-vrfdump-out"));
    let o = nsenter(ns, &exe)
        .args(harness_args("vrfdump"))
        .env(ROLE_ENV, "vrfdump")
        .env("BINDIF_VRF_DEV", dev)
        .env("BINDIF_STATUS_OUT", &out_file)
        .output()
        .expect("spawn vrfdump helper");
    assert!(
        o.status.success(),
        "vrfdump helper failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = fs::read_to_string(&out_file).expect("vrfdump output");
    let _ = fs::remove_file(&out_file);
    eprintln!("vrfdump:\n{out}");
    out.lines().map(str::to_owned).collect()
}

/// Issue 20: the rule, route and address dumps the VRF preflight reads, parsed from the real
/// kernel in a fresh namespace, and the warnings judged on them, before and after the set-up
/// of docs/guide.md (the l3mdev rule works without the VRF module; bt0 stands in for the VRF
/// device, table 1001 for its table).
#[test]
fn vrf_setup_dumps_from_the_kernel() {
    require_privileges();
    let ns = NetNs::new();
    let n = ns.name.as_str();
    let ip = |args: &[&str]| {
        let mut v = vec!["-n", n];
        v.extend_from_slice(args);
        run("ip", &v);
    };
    for f in ["-4", "-6"] {
        ip(&[
            f, "rule", "add", "pref", "1000", "l3mdev", "protocol", "kernel",
        ]);
        ip(&[
            f,
            "route",
            "add",
            "unreachable",
            "default",
            "metric",
            "8192",
            "table",
            "1001",
        ]);
    }
    // Another table's route, which the table filter must leave out.
    ip(&[
        "route",
        "add",
        "unreachable",
        "default",
        "metric",
        "9",
        "table",
        "1002",
    ]);
    ip(&["addr", "add", "127.0.0.1/8", "dev", VETH_A]);
    // ::1 goes only on lo or a VRF device: another address shows the dump, and the warning.
    ip(&[
        "-6",
        "addr",
        "add",
        "fd00:b1d::1/64",
        "dev",
        VETH_A,
        "nodad",
    ]);

    let before = vrfdump(&ns, VETH_A);
    let lines = |prefix: &str, all: &[String]| -> Vec<String> {
        all.iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    };
    assert_eq!(
        lines("rule4 ", &before),
        [
            "rule4 0 table=255 l3mdev=false all=true",
            "rule4 1000 table=0 l3mdev=true all=true",
            "rule4 32766 table=254 l3mdev=false all=true",
            "rule4 32767 table=253 l3mdev=false all=true",
        ]
    );
    assert_eq!(
        lines("rule6 ", &before),
        [
            "rule6 0 table=255 l3mdev=false all=true",
            "rule6 1000 table=0 l3mdev=true all=true",
            "rule6 32766 table=254 l3mdev=false all=true",
        ]
    );
    assert_eq!(
        lines("route", &before),
        [
            "route4 table=1001 dst_len=0 type=7 metric=8192",
            "route6 table=1001 dst_len=0 type=7 metric=8192",
        ]
    );
    let mut addr4 = lines("addr4 ", &before);
    addr4.sort();
    assert_eq!(addr4, ["addr4 10.199.0.1/24", "addr4 127.0.0.1/8"]);
    assert!(
        lines("addr6 ", &before).contains(&"addr6 fd00:b1d::1/64".to_string()),
        "{before:?}"
    );
    assert_eq!(lines("vrf_table ", &before), ["vrf_table None None"]);
    let local_first = |ipcmd: &str| {
        format!(
            "warning VRF {VETH_A} (table 1001): the local table's rule (pref 0) comes before the \
             l3mdev rule (pref 1000): localhost connections inside the VRF go to the default VRF \
             and time out; run '{ipcmd} rule add pref 32765 from all lookup local', then \
             '{ipcmd} rule del pref 0 from all lookup local'"
        )
    };
    let no_v6_loopback = format!(
        "warning VRF {VETH_A} (table 1001): no ::1 on the VRF device: localhost connections of \
         its bound sockets fail; run 'ip -6 addr add ::1/128 dev {VETH_A} nodad'"
    );
    assert_eq!(
        lines("warning ", &before),
        [
            local_first("ip"),
            local_first("ip -6"),
            no_v6_loopback.clone()
        ]
    );

    // The fixes the warnings name, in their order: nothing left to say but ::1.
    for f in ["-4", "-6"] {
        ip(&[
            f, "rule", "add", "pref", "32765", "from", "all", "lookup", "local",
        ]);
        ip(&[
            f, "rule", "del", "pref", "0", "from", "all", "lookup", "local",
        ]);
    }
    let after = vrfdump(&ns, VETH_A);
    assert_eq!(
        lines("warning ", &after),
        std::slice::from_ref(&no_v6_loopback)
    );
    assert!(after.contains(&"rule4 32765 table=255 l3mdev=false all=true".to_string()));

    // Without the IPv6 unreachable default and 127.0.0.1: those too.
    ip(&[
        "-6",
        "route",
        "del",
        "unreachable",
        "default",
        "metric",
        "8192",
        "table",
        "1001",
    ]);
    ip(&["addr", "del", "127.0.0.1/8", "dev", VETH_A]);
    let broken = vrfdump(&ns, VETH_A);
    assert_eq!(
        lines("warning ", &broken),
        [
            format!(
                "warning VRF {VETH_A} (table 1001): no 127.0.0.1 on the VRF device: localhost \
                 connections of its bound sockets fail; run 'ip addr add 127.0.0.1/8 dev \
                 {VETH_A}'"
            ),
            format!(
                "warning VRF {VETH_A} (table 1001): no unreachable default route in its table: \
                 a lookup that misses there falls through to the main table and leaves outside \
                 the VRF; run 'ip -6 route add vrf {VETH_A} unreachable default metric 8192'"
            ),
            no_v6_loopback,
        ]
    );
}

/// `--sockets` lists a socket made before the program was attached (in a sub-cgroup of the
/// unit's), and not the ones made after.
#[test]
fn sockets_lists_only_unbound_ones() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let unit = child(&parent.path, "bst@bt0.service");
    let payload = child(&unit, "payload");
    let mut holder = Holder::start(&ns, &payload);
    let early = holder.next_report();
    let bt0 = ns.ifindex_by_ip(VETH_A);
    bind_at(&unit, bt0).expect("bind");
    let late = holder.more();
    assert_eq!(late["late_dev"], VETH_A, "late sockets must be bound");

    let run_json = status_in(&ns, &parent.path, &["bst@bt0.service"], true, true);
    assert_eq!(run_json.exit, 1);
    let summary = json_summary(&run_json.out);
    assert_eq!(summary[0], "bst@bt0.service ok ours:ok");
    let mut socks: Vec<&str> = summary[1..].iter().map(String::as_str).collect();
    socks.sort();
    assert_eq!(
        socks,
        vec![
            format!("socket tcp6 [::]:{} None", early["early_tcp"]),
            format!("socket udp 0.0.0.0:{} None", early["early_udp"]),
        ]
    );
    let text = status_in(&ns, &parent.path, &["bst@bt0.service"], true, false).out;
    assert!(text.contains("Unbound sockets:"), "{text}");
    for port in [&late["late_udp"], &late["late_tcp"]] {
        assert!(
            !text.contains(&format!(":{port} ")),
            "bound socket {port} listed: {text}"
        );
    }
    // Without --sockets the same unit is fine.
    assert_eq!(
        status_in(&ns, &parent.path, &["bst@bt0.service"], false, false).exit,
        0
    );
    drop(holder);
    // Once nothing unbound is left: exit 0 with --sockets too.
    let clean = status_in(&ns, &parent.path, &["bst@bt0.service"], true, false);
    assert_eq!(clean.exit, 0, "{}", clean.out);
    assert!(
        clean.out.contains("Unbound sockets: none."),
        "{}",
        clean.out
    );
}

/// The real hierarchy, found by unit name anywhere below the cgroup2 root.
#[test]
fn finds_named_unit_in_the_real_hierarchy() {
    require_privileges();
    let parent = TestCgroup::new();
    let name = format!("{}.service", unique("bst"));
    let cg = child(&parent.path, &name);
    bind_at(&cg, 1).expect("bind to lo");
    let (reports, hierarchies) =
        status::gather(&Options::new(std::slice::from_ref(&name), true, false)).expect("status");
    assert!(hierarchies.contains(&PathBuf::from(CGROUP2)));
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.facts.path, format!("{}/{name}", parent.rel()));
    assert_eq!(r.state, State::Ok);
    assert_eq!(r.programs[0].interface.as_deref(), Some("lo"));
    assert_eq!(r.sockets.as_deref(), Some(&[][..]));
    assert!(r.facts.other_netns_pids.is_empty());
    assert_eq!(status::exit_status(&reports), 0);

    // A process of the unit in another network namespace: said, not judged.
    let ns = NetNs::new();
    let holder = Holder::start(&ns, &cg);
    let (reports, _) =
        status::gather(&Options::new(std::slice::from_ref(&name), true, false)).expect("status");
    let r = &reports[0];
    assert_eq!(r.facts.other_netns_pids, vec![holder.child.id()]);
    assert!(
        r.notes[0].contains("use another network namespace"),
        "{:?}",
        r.notes
    );
    assert_eq!(status::exit_status(&reports), 0);
}

/// 500 bound cgroups: the whole hierarchy is walked and each is reported; prints the time
/// (issue 5 asks for ≤ 200 ms; no timed assertion, machines differ).
#[test]
fn five_hundred_bound_cgroups() {
    require_privileges();
    let parent = TestCgroup::new();
    let t = Instant::now();
    for i in 0..500 {
        let cg = child(&parent.path, &format!("t{i}.service"));
        bind_at(&cg, 1).unwrap_or_else(|e| panic!("bind {}: {e}", cg.display()));
    }
    eprintln!("setting up 500 bound cgroups took {:?}", t.elapsed());
    let prefix = format!("{}/", parent.rel());
    for sockets in [false, true] {
        let t = Instant::now();
        let (reports, _) = status::gather(&Options::new(&[], sockets, false)).expect("status");
        let elapsed = t.elapsed();
        let text = status::render_text(&reports, Some(Path::new(CGROUP2)));
        let total = t.elapsed();
        let ours: Vec<_> = reports
            .iter()
            .filter(|r| r.facts.path.starts_with(&prefix))
            .collect();
        assert_eq!(ours.len(), 500);
        assert!(ours.iter().all(|r| r.state == State::Ok));
        assert!(text.lines().count() > 500);
        println!(
            "status over {} reported cgroups (500 of this test, sockets={sockets}): gather {:?}, \
             with rendering {:?}",
            reports.len(),
            elapsed,
            total
        );
    }
}

/// Issue 13 #22: `status --json` run without privileges fails on `BPF_PROG_QUERY` and still
/// prints a JSON document naming the operation and the errno, with the exit status unchanged.
#[test]
fn json_failure_is_still_json() {
    require_privileges();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_bindif-launch"))
        .args(["status", "--json"])
        .output()
        .expect("setpriv (util-linux) is needed to drop privileges");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Failed to query BPF programs of ")
            && stderr.contains("run status as root"),
        "{stderr}"
    );
    let script = r#"
import json, sys
d = json.load(sys.stdin)
e = d["error"]
print(d["ok"], len(d["cgroups"]), e["operation"], e["errno"], e["message"] == sys.argv[1])
"#;
    let message = stderr.trim_end().trim_start_matches("bindif-launch: ");
    let mut child = Command::new("python3")
        .args(["-c", script, message])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed to validate --json");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdout.as_bytes())
        .unwrap();
    let parsed = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout),
        // errno 1: EPERM.
        "False 0 query BPF programs of 1 True\n",
        "{stdout}"
    );
}

/// The chain of cgroup names below a test's parent for the deep-path test: 24 levels of 200
/// bytes (over PATH_MAX together), the third one not UTF-8, the last one a unit.
fn deep_names() -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    let mut names: Vec<std::ffi::OsString> = (0..23)
        .map(|i| format!("{i:02}{}", "d".repeat(198)).into())
        .collect();
    names[2] = std::ffi::OsString::from_vec(b"not-utf8-\xff\xfe".to_vec());
    names.push("bst@lo.service".into());
    names
}

/// Makes or removes the deep chain below `BINDIF_DEEP_BASE`, walking with relative paths from
/// its working directory (a path over PATH_MAX cannot be named whole), and binds its
/// non-UTF-8 cgroup and its deepest one to `lo`. Runs in its own process: the working
/// directory is per process.
#[test]
fn helper_deep() {
    if !helper_role("deep") {
        return;
    }
    let base = std::env::var_os("BINDIF_DEEP_BASE").unwrap();
    let make = std::env::var("BINDIF_DEEP_MODE").unwrap() == "make";
    let names = deep_names();
    std::env::set_current_dir(&base).unwrap();
    let mut depth = 0;
    for (i, name) in names.iter().enumerate() {
        if make {
            fs::create_dir(name).unwrap_or_else(|e| panic!("mkdir level {i}: {e}"));
        }
        if std::env::set_current_dir(name).is_err() {
            break;
        }
        depth += 1;
        if make && (i == 2 || i + 1 == names.len()) {
            attach_ours(Path::new("."), 1);
        }
    }
    if !make {
        for name in names[..depth].iter().rev() {
            std::env::set_current_dir("..").unwrap();
            fs::remove_dir(name).unwrap_or_else(|e| panic!("rmdir {name:?}: {e}"));
        }
    }
    let mut r = Report::new();
    r.insert("depth".into(), depth.to_string());
    emit(&r);
}

/// Runs `status` over `BINDIF_STATUS_UNDER` (under a low open-file limit set by the parent)
/// and reports the labels of what it found.
#[test]
fn helper_status_limited() {
    if !helper_role("status_limited") {
        return;
    }
    let mut opts = Options::new(&[], false, false);
    opts.root = fixture_root();
    opts.hierarchies = Some(vec![PathBuf::from(
        std::env::var("BINDIF_STATUS_UNDER").unwrap(),
    )]);
    let mut r = Report::new();
    match status::gather(&opts) {
        Ok((reports, _)) => {
            let labels: Vec<String> = reports.iter().map(|r| r.label()).collect();
            r.insert("labels".into(), labels.join("|"));
            r.insert("exit".into(), status::exit_status(&reports).to_string());
        }
        Err(e) => {
            r.insert("error".into(), e.to_string());
        }
    }
    emit(&r);
}

/// Removes the deep chain even when the test fails (TestCgroup's removal uses full paths).
struct DeepChain<'a>(&'a Path);

impl DeepChain<'_> {
    fn run(&self, mode: &str) -> Report {
        let mut h = Helper::new("deep");
        h.env
            .push(("BINDIF_DEEP_BASE", self.0.display().to_string()));
        h.env.push(("BINDIF_DEEP_MODE", mode.to_string()));
        h.run()
    }
}

impl Drop for DeepChain<'_> {
    fn drop(&mut self) {
        self.run("remove");
    }
}

/// Issue 13 #5: a cgroup path longer than PATH_MAX, with a non-UTF-8 name on the way, neither
/// stops `status` nor hides the subtree: both bound cgroups are reported, the odd name escaped.
#[test]
fn deep_and_non_utf8_cgroups_are_reported() {
    require_privileges();
    let parent = TestCgroup::new();
    let chain = DeepChain(&parent.path);
    assert_eq!(chain.run("make")["depth"], deep_names().len().to_string());
    let sibling = child(&parent.path, "plain.service");
    attach_ours(&sibling, 1);

    let mut opts = Options::new(&[], false, false);
    opts.root = fixture_root();
    opts.hierarchies = Some(vec![parent.path.clone()]);
    let (reports, _) = status::gather(&opts).expect("status over a deep hierarchy");
    let paths: Vec<String> = reports.iter().map(|r| r.label()).collect();
    let odd = "/not-utf8-\\xff\\xfe";
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths[0].starts_with("/00") && paths[0].ends_with(odd),
        "{paths:?}"
    );
    assert_eq!(paths[1], "bst@lo.service");
    assert_eq!(paths[2], "plain.service");
    let deep = &reports[1].facts.path;
    assert!(deep.as_os_str().len() > 4096, "{}", deep.display());
    assert!(reports.iter().all(|r| r.state == State::Ok), "{reports:?}");
    assert_eq!(reports[1].programs[0].interface.as_deref(), Some("lo"));

    // Deeper than the open-file limit allows: the levels beyond it are skipped with a
    // warning, everything else is still reported.
    let mut h = Helper::new("status_limited");
    h.wrapper = vec!["prlimit", "--nofile=16:16", "--"];
    h.env
        .push(("BINDIF_STATUS_UNDER", parent.path.display().to_string()));
    let limited = h.run();
    assert_eq!(limited.get("error"), None, "{limited:?}");
    assert_eq!(limited["exit"], "0");
    let labels: Vec<&str> = limited["labels"].split('|').collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels[0].ends_with(odd), "{labels:?}");
    assert_eq!(labels[1], "plain.service");

    // The binary's table and JSON show the escaped path and exit 0.
    for json in [false, true] {
        opts.json = json;
        let mut out = Vec::new();
        assert_eq!(status::run_with(&opts, &mut out), 0);
        let out = String::from_utf8(out).expect("output is UTF-8");
        // In JSON the backslashes of the escapes are themselves escaped.
        let shown = if json {
            odd.replace('\\', "\\\\")
        } else {
            odd.to_string()
        };
        assert!(out.contains(&format!("{shown}/")), "{out}");
        if json {
            assert_eq!(
                json_summary(&out),
                vec![
                    "None ok ours:ok",
                    "bst@lo.service ok ours:ok",
                    "plain.service ok ours:ok",
                ]
            );
        }
    }
}

/// Issue 13 #16: a unit whose processes live in another network namespace is bound to an
/// ifindex of that namespace. Seen from ours it is neither `renamed`/`gone` (exit 1) nor `ok`
/// by our names: `other-netns`, not checked, exit 0. Seen from theirs it is checked.
#[test]
fn other_netns_binding_is_not_judged_by_our_names() {
    require_privileges();
    let ns = NetNs::new();
    let parent = TestCgroup::new();
    let cg = child(&parent.path, "bst@bt0.service");
    let bt0 = ns.ifindex_by_ip(VETH_A);
    attach_ours(&cg, bt0);
    let holder = Holder::start(&ns, &cg);

    let mut opts = Options::new(&[], false, true);
    opts.root = fixture_root();
    opts.hierarchies = Some(vec![parent.path.clone()]);
    let mut out = Vec::new();
    assert_eq!(status::run_with(&opts, &mut out), 0);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        json_summary(&out),
        vec!["bst@bt0.service other-netns ours:other-netns"]
    );
    let (reports, _) = status::gather(&opts).expect("status");
    let ino = fs::metadata(format!("/run/netns/{}", ns.name))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    assert_eq!(reports[0].facts.other_netns, vec![ino]);
    assert_eq!(reports[0].programs[0].interface, None);
    assert!(
        reports[0].notes[0].contains(&format!(
            "use another network namespace (net:[{ino}]): the ifindex names an interface there"
        )),
        "{:?}",
        reports[0].notes
    );

    // From the holder's own namespace the binding is checked, and fine.
    let theirs = status_in(&ns, &parent.path, &[], false, true);
    assert_eq!(theirs.exit, 0, "{}", theirs.out);
    assert_eq!(
        json_summary(&theirs.out),
        vec!["bst@bt0.service ok ours:ok"]
    );
    drop(holder);
}
