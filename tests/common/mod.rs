// SPDX-License-Identifier: LGPL-2.1-or-later
//! Helpers for the privileged engine tests: throwaway network namespaces with a veth pair,
//! throwaway child cgroups, and helper processes (this test binary re-executed in a "role").
//!
//! Tests run in parallel threads, and setns/unshare would only move one thread, so everything
//! that must happen inside a namespace or a cgroup runs in a helper process. Every name carries
//! the pid and a counter, and every resource is removed on drop, also when a test panics.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cgroup2 mount of the hybrid CI host. Only tests that assert that very layout use it;
/// everything else asks [`cgroup2`], which detects the mount.
pub const CGROUP2: &str = "/sys/fs/cgroup/unified";
pub const ROLE_ENV: &str = "BINDIF_TEST_ROLE";
pub const RESULT_MARK: &str = "BINDIF-RESULT";
pub const VETH_A: &str = "bt0";
pub const VETH_B: &str = "bt1";
pub const ALTNAME: &str = "some-very-long-alternative-name-for-bt0";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The host's cgroup2 mount, detected the way the launcher detects it: `/sys/fs/cgroup` on a
/// unified host, `/sys/fs/cgroup/unified` on a hybrid one. Panics (never skips) on a host
/// with no cgroup2 there: the privileged tests need one.
pub fn cgroup2() -> &'static Path {
    static MOUNT: OnceLock<PathBuf> = OnceLock::new();
    MOUNT.get_or_init(|| {
        let layout = bindif::sys::cgroup::detect(Path::new("/"));
        layout
            .cgroup2_mount()
            .unwrap_or_else(|| {
                panic!("these tests need a cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified (found {layout:?})")
            })
            .to_path_buf()
    })
}

/// A name unique to this process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Panics (never skips) when the privileged tests cannot run here.
pub fn require_privileges() {
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "engine_privileged tests must run as root (CI runs them as root); effective uid is {uid}"
    );
    assert!(
        cgroup2().join("cgroup.procs").exists(),
        "these tests need the cgroup2 hierarchy at {}",
        cgroup2().display()
    );
    let ip = Command::new("ip").arg("-V").output();
    assert!(
        ip.map(|o| o.status.success()).unwrap_or(false),
        "these tests need `ip` from iproute2"
    );
}

pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A veth pair in the host's own network namespace (what PID 1 resolves names in), named
/// `{a}{pid}`/`{b}{pid}` so that concurrent test binaries do not collide; deleted on drop.
pub struct HostVeth {
    pub a: String,
    pub b: String,
}

impl HostVeth {
    pub fn create(a: &str, b: &str) -> HostVeth {
        let n = std::process::id() % 100_000;
        let v = HostVeth {
            a: format!("{a}{n}"),
            b: format!("{b}{n}"),
        };
        v.add();
        v
    }

    pub fn add(&self) {
        run(
            "ip",
            &[
                "link", "add", &self.a, "type", "veth", "peer", "name", &self.b,
            ],
        );
    }

    pub fn delete(&self) {
        run("ip", &["link", "del", &self.a]);
    }

    /// Deleted and created again: the same names, new ifindexes.
    pub fn recreate(&self) {
        self.delete();
        self.add();
    }
}

impl Drop for HostVeth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.a])
            .stderr(Stdio::null())
            .status();
    }
}

/// The ifindex of `name` in this network namespace; panics when it has none.
pub fn ifindex(name: &str) -> u32 {
    bindif::sys::netlink::resolve_ifindex(name)
        .unwrap()
        .unwrap_or_else(|| panic!("{name} has no ifindex"))
}

/// Creates `root/rel` (and its parents) and returns it.
pub fn mkdir_below(root: &Path, rel: &str) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
    p
}

/// A network namespace holding the veth pair bt0/bt1 (bt0 with a long altname), both up.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new() -> NetNs {
        let ns = NetNs {
            name: unique("bindif-t"),
        };
        run("ip", &["netns", "add", &ns.name]);
        let n = ns.name.as_str();
        run(
            "ip",
            &[
                "-n", n, "link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B,
            ],
        );
        run(
            "ip",
            &[
                "-n", n, "link", "property", "add", "dev", VETH_A, "altname", ALTNAME,
            ],
        );
        run(
            "ip",
            &["-n", n, "addr", "add", "10.199.0.1/24", "dev", VETH_A],
        );
        run(
            "ip",
            &["-n", n, "addr", "add", "10.199.0.2/24", "dev", VETH_B],
        );
        for dev in [VETH_A, VETH_B, "lo"] {
            run("ip", &["-n", n, "link", "set", dev, "up"]);
        }
        ns
    }

    /// The ifindex of `dev` inside the namespace, read by `ip` (independent of our netlink code).
    pub fn ifindex_by_ip(&self, dev: &str) -> u32 {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-o", "link", "show", "dev", dev])
            .output()
            .expect("ip link show");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(':').next().unwrap().trim().parse().unwrap()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// A child cgroup of the cgroup2 root, removed (with any stray process killed) on drop.
pub struct TestCgroup {
    pub path: PathBuf,
}

impl TestCgroup {
    pub fn new() -> TestCgroup {
        let path = cgroup2().join(unique("bindif-test"));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TestCgroup { path }
    }

    /// Relative path inside the hierarchy, e.g. `/bindif-test-1-2`.
    pub fn rel(&self) -> String {
        format!(
            "/{}",
            self.path.strip_prefix(cgroup2()).unwrap().to_string_lossy()
        )
    }

    pub fn procs(&self) -> Vec<u32> {
        fs::read_to_string(self.path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

/// rmdir a cgroup tree, deepest first; kills stray processes via cgroup.kill (5.14+).
pub fn remove_cgroup_tree(path: &Path) {
    if let Ok(entries) = fs::read_dir(path) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) if Instant::now() < deadline => {
                let _ = fs::write(path.join("cgroup.kill"), "1");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                eprintln!("warning: cannot remove {}: {e}", path.display());
                return;
            }
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        remove_cgroup_tree(&self.path);
    }
}

/// Key/value pairs a helper printed after [`RESULT_MARK`].
pub type Report = BTreeMap<String, String>;

pub fn parse_report(stdout: &str) -> Report {
    let mut out = Report::new();
    for line in stdout.lines().filter(|l| l.starts_with(RESULT_MARK)) {
        for kv in line[RESULT_MARK.len()..].split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                out.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    out
}

/// Prints a report line for the parent to parse.
pub fn emit(report: &Report) {
    let line: Vec<String> = report.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{RESULT_MARK} {}", line.join(" "));
}

/// How to start a helper.
pub struct Helper<'a> {
    pub role: &'a str,
    pub netns: Option<&'a NetNs>,
    /// Move the helper into this cgroup before it does anything (it waits for us).
    pub cgroup: Option<&'a Path>,
    pub env: Vec<(&'a str, String)>,
    pub uid: Option<u32>,
    /// Inherited variables the helper must not see (so a helper's own helper does not recurse).
    pub env_remove: Vec<&'a str>,
    /// A command (with arguments) that execs the helper in place, e.g. `setpriv …`.
    pub wrapper: Vec<&'a str>,
}

impl<'a> Helper<'a> {
    pub fn new(role: &'a str) -> Helper<'a> {
        Helper {
            role,
            netns: None,
            cgroup: None,
            env: Vec::new(),
            uid: None,
            env_remove: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// Runs the helper to completion and returns its report.
    pub fn run(&self) -> Report {
        let exe = std::env::current_exe().expect("current_exe");
        let test_name = format!("helper_{}", self.role);
        let mut cmd = match self.netns {
            // `ip netns exec` execs in place (same pid), so the pid we move is the helper's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name]).arg(&exe);
                c
            }
            None if !self.wrapper.is_empty() => {
                let mut c = Command::new(self.wrapper[0]);
                c.args(&self.wrapper[1..]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args([
            "--exact",
            &test_name,
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE_ENV, self.role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(uid) = self.uid {
            use std::os::unix::process::CommandExt;
            // std drops supplementary groups itself when root sets a uid.
            cmd.uid(uid).gid(uid);
        }
        let mut child = cmd.spawn().expect("spawn helper");
        if let Some(cg) = self.cgroup {
            fs::write(cg.join("cgroup.procs"), child.id().to_string())
                .unwrap_or_else(|e| panic!("moving helper into {}: {e}", cg.display()));
        }
        // The helper waits for this line, so it never creates a socket before the move above.
        let _ = child.stdin.take().unwrap().write_all(b"go\n");
        let out = child.wait_with_output().expect("wait helper");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "helper {} failed: {}\n{}",
            self.role,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let report = parse_report(&stdout);
        assert!(
            !report.is_empty(),
            "helper {} reported nothing: {stdout}",
            self.role
        );
        report
    }
}

/// In a helper: the role we were started for, after waiting for the parent's "go".
pub fn helper_role(role: &str) -> bool {
    if std::env::var(ROLE_ENV).ok().as_deref() != Some(role) {
        return false;
    }
    let mut line = String::new();
    let _ = io::stdin().read_line(&mut line);
    true
}

/// Whether the installed systemd can serve as an oracle. CI installs systemd
/// (scripts/install-deps), so there a missing `systemd-analyze` is a failure, never a skip.
pub fn have_systemd_analyze() -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found || std::env::var_os("CI").is_none(),
        "systemd-analyze is required when CI is set (scripts/install-deps installs systemd)"
    );
    if !found {
        eprintln!("systemd-analyze not installed: skipping the comparison with systemd");
    }
    found
}

/// A fresh, empty directory below the temporary directory, unique to this process and call.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique(&format!("bindif-{tag}")));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Copies the contents of `from` (if it exists) into `to`, keeping symlinks and modes.
pub fn copy_tree(from: &Path, to: &Path) {
    if !from.exists() {
        return;
    }
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// `tests/fixtures/KIND`: fixture trees laid out as `CASE/root/` + `CASE/expected`.
pub fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// Every case directory of `tests/fixtures/KIND`, sorted.
pub fn fixture_cases(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixtures(kind))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Runs `argv` inside cgroup `cg` and network namespace `ns` (`nsenter`, which keeps the
/// cgroup2 mount visible), after the shell snippet `pre` (dispositions or descriptors that
/// must survive the launcher).
pub fn run_in<S: AsRef<std::ffi::OsStr>>(
    ns: &NetNs,
    cg: &Path,
    pre: &str,
    argv: &[S],
) -> std::process::Output {
    let script = format!(
        "{pre}\necho $$ > '{}/cgroup.procs' || exit 99\nexec nsenter --net=/run/netns/{} \"$@\"",
        cg.display(),
        ns.name
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(argv)
        .output()
        .expect("run sh")
}

/// The `KEY=VALUE` lines a probe printed on stdout.
pub fn report(out: &std::process::Output) -> BTreeMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
