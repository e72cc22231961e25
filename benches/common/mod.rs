// SPDX-License-Identifier: LGPL-2.1-or-later
//! Shared by the benchmark programs (`harness = false`): a small timing harness (medians and
//! min/max of interleaved samples, no dependency), the unit-tree generators, and the report
//! format `scripts/bench` assembles into `docs/benchmarks.md`.
//!
//! Every program prints Markdown on stdout. Lines starting with `@target|` are taken out by
//! `scripts/bench` into the summary table: `@target|what|measured|target|met`.
//!
//! The programs expect to run as root inside the network namespace and cgroup that
//! `scripts/bench` prepared; they read it from the environment:
//! - `BINDIF_BENCH_QUICK=1`: the smoke-test sizes;
//! - `BINDIF_BENCH_IF`: the veth interface to bind to (`b0`);
//! - `BINDIF_BENCH_WORK`: a scratch directory for generated unit trees;
//! - `BINDIF_BENCH_LAUNCHER`: the release `bindif-launch` binary.

#![allow(dead_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// cgroup2 on the benchmark host (hybrid layout; `scripts/bench` checks it).
pub const CGROUP2: &str = "/sys/fs/cgroup/unified";

/// This process's cgroup2 directory.
pub fn own_dir() -> PathBuf {
    let rel = fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        .unwrap_or_default();
    Path::new(CGROUP2).join(rel.trim_start_matches('/'))
}

/// Waits (up to `limit`) until no cgroup below `dir` is dying: the kernel releases a removed
/// cgroup in the background, and one that carried BPF programs takes the cgroup mutex to let
/// them go; thousands of them removed by one row would otherwise be released during the next
/// row's timed rounds, whose cgroup queries take the same mutex. Returns how long it waited.
pub fn settle_cgroups(dir: &Path, limit: Duration) -> Duration {
    let t = Instant::now();
    let dying = || {
        fs::read_to_string(dir.join("cgroup.stat"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("nr_dying_descendants "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    while dying().is_some_and(|n| n > 0) && t.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(n) = dying().filter(|n| *n > 0) {
        eprintln!(
            "bench: {n} removed cgroups below {} still dying after {limit:?}; timing anyway",
            dir.display()
        );
    }
    t.elapsed()
}

/// Moves this process into the cgroup directory `dir`.
pub fn enter(dir: &Path) {
    fs::write(dir.join("cgroup.procs"), "0").expect("move into cgroup");
}

pub fn quick() -> bool {
    std::env::var_os("BINDIF_BENCH_QUICK").is_some_and(|v| v == "1")
}

/// `full` normally, `quick` under `--quick`.
pub fn size(full: usize, quick_size: usize) -> usize {
    if quick() {
        quick_size
    } else {
        full
    }
}

pub fn env_path(key: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(key).unwrap_or_else(|| {
        eprintln!("{key} is not set: run the benchmarks through scripts/bench");
        std::process::exit(2)
    }))
}

pub fn interface() -> String {
    std::env::var("BINDIF_BENCH_IF").unwrap_or_else(|_| "b0".to_string())
}

/// Median, minimum and maximum of a set of samples (in nanoseconds).
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        assert!(!samples.is_empty(), "no samples");
        let mut v = samples.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stats {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        }
    }

    /// `median (min – max)` with a unit chosen from the median.
    pub fn cell(&self) -> String {
        format!(
            "{} ({} – {})",
            fmt_ns(self.median),
            fmt_ns(self.min),
            fmt_ns(self.max)
        )
    }
}

/// Nanoseconds, human-readable.
pub fn fmt_ns(ns: f64) -> String {
    // An overhead can be negative: the musl launcher's attach step costs less than a bare
    // glibc `/bin/true`.
    if ns < 0.0 {
        return format!("-{}", fmt_ns(-ns));
    }
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

/// Times one call of `f`, in nanoseconds.
pub fn time_once<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let r = f();
    (ns(t.elapsed()), r)
}

/// Times `n` separate calls of `f`; one sample per call.
pub fn samples(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            ns(t.elapsed())
        })
        .collect()
}

pub fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}×", a / b)
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// A line for the summary table (see the module comment).
pub fn target(what: &str, measured: &str, goal: &str, ok: bool) {
    println!("@target|{what}|{measured}|{goal}|{}", met(ok));
}

/// A summary line for a target this run does not measure.
pub fn target_na(what: &str, why: &str, goal: &str) {
    println!("@target|{what}|{why}|{goal}|not measured");
}

pub fn write(path: &Path, text: &str) -> io::Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(path, text)
}

/// The templated unit of the start and phase benchmarks: `x@.service` with `ExecStart=exec`,
/// `BindNetworkInterface=%i` in a drop-in, and five drop-ins in all (template, type-wide,
/// instance, /etc and /run), as a site would have them. Load it as `x@IFACE.service`.
pub fn write_unit_fixture(root: &Path, instance: &str, exec: &str) -> io::Result<()> {
    let lib = root.join("usr/lib/systemd/system");
    let etc = root.join("etc/systemd/system");
    let run = root.join("run/systemd/system");
    write(
        &lib.join("x@.service"),
        &format!(
            "[Unit]\nDescription=Benchmark service in %i\nAfter=network.target\n\n\
             [Service]\nType=oneshot\nExecStart={exec}\nRemainAfterExit=no\n\n\
             [Install]\nWantedBy=multi-user.target\n"
        ),
    )?;
    write(
        &lib.join("x@.service.d/10-bind.conf"),
        "[Service]\nBindNetworkInterface=%i\n",
    )?;
    write(
        &lib.join("service.d/10-defaults.conf"),
        "[Service]\nTimeoutStartSec=30s\n",
    )?;
    write(
        &etc.join("x@.service.d/20-env.conf"),
        "[Service]\nEnvironment=MODE=bench\nX-BindNetworkInterface-WaitSec=0\n",
    )?;
    write(
        &etc.join(format!("x@{instance}.service.d/30-instance.conf")),
        "[Unit]\nDocumentation=man:bindif-launch(8)\n[Service]\nNice=0\n",
    )?;
    write(
        &run.join("x@.service.d/40-runtime.conf"),
        "[Service]\n# runtime drop-in\nX-BindNetworkInterface-Verify=no\n",
    )?;
    Ok(())
}

/// Counts of what the scale tree holds (for the report).
pub struct ScaleTree {
    pub units: Vec<String>,
    pub fragments: usize,
    pub dropins: usize,
    pub symlinks: usize,
}

/// A synthetic unit tree with `n` loadable service names: plain units with dash-prefixed names
/// (and dash-prefix drop-in directories), instances of templates (template and instance
/// drop-ins), units overridden in /etc, aliases (symlinks), and the type-wide `service.d`.
pub fn write_scale_tree(root: &Path, n: usize) -> io::Result<ScaleTree> {
    write_scale_tree_bound(root, n, None)
}

/// [`write_scale_tree`], with every `BindNetworkInterface=` value (`vrfG`, `mgmt`, the
/// templates' `%i`) naming `interface` when it is given: the same files, lines and drop-ins,
/// but values that exist where the benchmark runs, so that running units named after the tree's
/// units can be bound, and a reload finds their bindings current.
pub fn write_scale_tree_bound(
    root: &Path,
    n: usize,
    interface: Option<&str>,
) -> io::Result<ScaleTree> {
    let value = |v: String| interface.map_or(v, str::to_string);
    let lib = root.join("usr/lib/systemd/system");
    let etc = root.join("etc/systemd/system");
    let run = root.join("run/systemd/system");
    let mut t = ScaleTree {
        units: Vec::with_capacity(n),
        fragments: 0,
        dropins: 0,
        symlinks: 0,
    };
    let frag = |p: PathBuf, text: String, t: &mut ScaleTree| -> io::Result<()> {
        t.fragments += 1;
        write(&p, &text)
    };
    let dropin = |p: PathBuf, text: &str, t: &mut ScaleTree| -> io::Result<()> {
        t.dropins += 1;
        write(&p, text)
    };
    dropin(
        lib.join("service.d/10-all.conf"),
        "[Service]\nTimeoutStartSec=30s\n",
        &mut t,
    )?;
    dropin(
        etc.join("service.d/90-site.conf"),
        "[Unit]\nDocumentation=https://example.invalid/site\n",
        &mut t,
    )?;
    dropin(
        lib.join("svc-.service.d/20-dash.conf"),
        "[Service]\nX-BindNetworkInterface-WaitSec=1s\n",
        &mut t,
    )?;
    let groups = 50;
    let templates = 50;
    for g in 0..groups {
        dropin(
            lib.join(format!("svc-g{g}-.service.d/30-group.conf")),
            &format!(
                "[Service]\nBindNetworkInterface={}\n",
                value(format!("vrf{g}"))
            ),
            &mut t,
        )?;
    }
    for k in 0..templates {
        frag(
            lib.join(format!("tpl{k}@.service")),
            format!(
                "[Unit]\nDescription=Template {k} for %i\n[Service]\nExecStart=/usr/bin/daemon{k} --instance %i\n"
            ),
            &mut t,
        )?;
        dropin(
            lib.join(format!("tpl{k}@.service.d/10-bind.conf")),
            &format!("[Service]\nBindNetworkInterface={}\n", value("%i".into())),
            &mut t,
        )?;
    }
    // 40 % plain dash-named units in /usr/lib, 40 % template instances, 15 % units in /etc
    // overriding a /usr/lib copy, 5 % aliases.
    let plain = n * 40 / 100;
    let inst = n * 40 / 100;
    let over = n * 15 / 100;
    let alias = n - plain - inst - over;
    for i in 0..plain {
        let name = format!("svc-g{}-u{i}.service", i % groups);
        frag(
            lib.join(&name),
            format!(
                "[Unit]\nDescription=Unit {i}\nAfter=network.target\n[Service]\nType=simple\nExecStart=/usr/bin/daemon --id {i}\nRestart=on-failure\n[Install]\nWantedBy=multi-user.target\n"
            ),
            &mut t,
        )?;
        if i % 10 == 0 {
            dropin(
                etc.join(format!("{name}.d/override.conf")),
                &format!(
                    "[Service]\nBindNetworkInterface=\nBindNetworkInterface={}\n",
                    value("mgmt".into())
                ),
                &mut t,
            )?;
        }
        t.units.push(name);
    }
    for i in 0..inst {
        let name = format!("tpl{}@if{i}.service", i % templates);
        if i % 8 == 0 {
            dropin(
                run.join(format!("{name}.d/50-runtime.conf")),
                "[Service]\nX-BindNetworkInterface-FailClosed=yes\n",
                &mut t,
            )?;
        }
        t.units.push(name);
    }
    for i in 0..over {
        let name = format!("site{i}.service");
        frag(
            lib.join(&name),
            "[Service]\nExecStart=/usr/bin/vendor\n".to_string(),
            &mut t,
        )?;
        frag(
            etc.join(&name),
            format!(
                "[Service]\nExecStart=/usr/local/bin/site {i}\nBindNetworkInterface={}\n",
                value("mgmt".into())
            ),
            &mut t,
        )?;
        t.units.push(name);
    }
    for i in 0..alias {
        let name = format!("alias{i}.service");
        std::os::unix::fs::symlink(format!("svc-g{}-u{i}.service", i % groups), lib.join(&name))?;
        t.symlinks += 1;
        t.units.push(name);
    }
    Ok(t)
}

/// Markdown table helpers.
pub fn table(header: &[&str]) {
    println!("| {} |", header.join(" | "));
    println!(
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
}

pub fn row(cells: &[String]) {
    println!("| {} |", cells.join(" | "));
}
