// SPDX-License-Identifier: LGPL-2.1-or-later
//! Parsing stays linear (issue 13 #10): a unit with a 40,000-word `ExecStart=` and one whose
//! `ExecStart=` is continued over 200,000 lines, read the way the launcher reads them
//! (`config::read`: load, evaluate `BindNetworkInterface=`, parse `ExecStart=`), timed next to
//! the installed `systemd-analyze verify` on the same unit file in the same run. The target is
//! "within 2× systemd's own time". Pure file work: no privileges needed.
//!
//! `systemd-analyze verify` is a whole process (it also starts up and loads its own units), so
//! a tiny unit is timed too: the fixed part of its time. systemd's own continuation handling is
//! quadratic (config_parse() rescans and copies the joined line for every line), so its run is
//! cut off after `BINDIF_BENCH_PARSE_TIMEOUT` seconds (default 30); the baseline is then "more
//! than" that, and the row says so.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bindif::cmd::launch::config;
use common::*;

/// The systemd version the units are evaluated for (the benchmark host's is irrelevant here).
const SYSTEMD_VERSION: u32 = 252;

/// What one `systemd-analyze verify` run gave.
enum Baseline {
    /// It finished: its time and exit status.
    Done(f64, i32),
    /// Cut off after this many nanoseconds.
    TimedOut(f64),
    /// Not installed or could not be started.
    Missing(String),
}

fn words_unit(n: usize) -> String {
    let mut s = String::from("[Service]\nExecStart=/bin/echo");
    for i in 0..n {
        s.push_str(&format!(" w{i}"));
    }
    s.push('\n');
    s
}

fn continued_unit(lines: usize) -> String {
    let mut s = String::from("[Service]\nExecStart=/bin/echo \\\n");
    for _ in 0..lines {
        s.push_str("a \\\n");
    }
    s.push_str("end\n");
    s
}

/// Writes `name` with `text` into the root's /etc/systemd/system; returns its host path.
fn put(root: &Path, name: &str, text: &str) -> PathBuf {
    let dir = root.join("etc/systemd/system");
    std::fs::create_dir_all(&dir).expect("create unit directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write unit");
    path
}

/// `config::read` of `name`, checked to have found one command of `argc` words.
fn ours(root: &Path, name: &str, argc: usize) {
    let c = config::read(root, name, SYSTEMD_VERSION).expect("load");
    let d = c.discovery.as_ref().expect("ExecStart=");
    assert_eq!(d.commands.len(), 1);
    assert_eq!(d.commands[0].command.argv.len(), argc);
}

/// One `systemd-analyze verify FILE`, killed after `timeout`.
fn systemd(file: &Path, timeout: Duration) -> Baseline {
    let t = Instant::now();
    let mut child = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Baseline::Missing(format!("systemd-analyze: {e}")),
    };
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Baseline::Done(ns(t.elapsed()), st.code().unwrap_or(-1)),
            Ok(None) if t.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Baseline::TimedOut(ns(t.elapsed()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Baseline::Missing(format!("waiting for systemd-analyze: {e}")),
        }
    }
}

/// The fastest finished run of `rounds` (a slow first run stops early: the continuation).
fn baseline(file: &Path, rounds: usize, timeout: Duration) -> Baseline {
    let mut best: Option<(f64, i32)> = None;
    for _ in 0..rounds {
        match systemd(file, timeout) {
            Baseline::Done(t, st) => {
                if best.map_or(true, |(b, _)| t < b) {
                    best = Some((t, st));
                }
            }
            other => return other,
        }
    }
    let (t, st) = best.expect("at least one round");
    Baseline::Done(t, st)
}

/// One table row and the target line for a case.
fn report(what: &str, ours: &Stats, theirs: &Baseline) {
    let (cell, ratio_cell, ok) = match theirs {
        Baseline::Done(t, st) => (
            format!(
                "{}{}",
                fmt_ns(*t),
                if *st == 0 { "" } else { " (exit ≠ 0)" }
            ),
            ratio(ours.median, *t),
            Some(ours.median <= 2.0 * t),
        ),
        // Cut off: systemd took at least this long, so ours within 2× of the cut-off is within
        // 2× of systemd too.
        Baseline::TimedOut(t) => (
            format!("> {} (cut off)", fmt_ns(*t)),
            format!("< {}", ratio(ours.median, *t)),
            Some(ours.median <= 2.0 * t),
        ),
        Baseline::Missing(why) => (why.clone(), String::new(), None),
    };
    row(&[what.to_string(), ours.cell(), cell, ratio_cell]);
    let goal = "within 2× systemd-analyze verify";
    match ok {
        Some(ok) => target(
            &format!("parse: {what}"),
            &format!("{} (systemd: {})", fmt_ns(ours.median), cell_of(theirs)),
            goal,
            ok,
        ),
        None => target_na(&format!("parse: {what}"), "systemd-analyze missing", goal),
    }
}

fn cell_of(b: &Baseline) -> String {
    match b {
        Baseline::Done(t, _) => fmt_ns(*t),
        Baseline::TimedOut(t) => format!("> {}", fmt_ns(*t)),
        Baseline::Missing(_) => "n/a".into(),
    }
}

fn main() {
    let work = std::env::var_os("BINDIF_BENCH_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("bindif-bench-{}", std::process::id()))
        });
    let root = work.join("parse-tree");
    let _ = std::fs::remove_dir_all(&root);
    let timeout = Duration::from_secs(
        std::env::var("BINDIF_BENCH_PARSE_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            // the smoke run (`--quick`) only shows the row works: systemd's quadratic
            // continuation handling would cost it 30 s
            .unwrap_or(if quick() { 3 } else { 30 }),
    );
    let (words, lines) = (40_000, 200_000);
    let tiny = put(&root, "tiny.service", "[Service]\nExecStart=/bin/true\n");
    let wfile = put(&root, "words.service", &words_unit(words));
    let cfile = put(&root, "continued.service", &continued_unit(lines));

    let rounds = size(11, 3);
    ours(&root, "words.service", words + 1);
    let w_ours = Stats::of(&samples(rounds, || ours(&root, "words.service", words + 1)));
    let c_ours = Stats::of(&samples(rounds, || {
        ours(&root, "continued.service", lines + 2)
    }));
    let t_ours = Stats::of(&samples(rounds, || ours(&root, "tiny.service", 1)));
    let sd_rounds = size(5, 2);
    let t_sd = baseline(&tiny, sd_rounds, timeout);
    let w_sd = baseline(&wfile, sd_rounds, timeout);
    let c_sd = baseline(&cfile, 1, timeout);

    println!("## Parsing: long command lines against systemd\n");
    println!(
        "`config::read` (load + evaluate + `ExecStart=`) in this process, {rounds} rounds; \
         `systemd-analyze verify FILE` ({}), fastest of {sd_rounds} runs (the continuation: one \
         run, cut off after {} s), on the same unit files.\n",
        systemd_version(),
        timeout.as_secs()
    );
    table(&[
        "unit",
        "ours: median (min – max)",
        "systemd-analyze verify",
        "ours / systemd",
    ]);
    report(&format!("`ExecStart=` of {words} words"), &w_ours, &w_sd);
    report(
        &format!("`ExecStart=` continued over {lines} lines"),
        &c_ours,
        &c_sd,
    );
    row(&[
        "(a one-line `ExecStart=`: fixed costs)".into(),
        t_ours.cell(),
        cell_of(&t_sd),
        String::new(),
    ]);
    println!();
    let _ = std::fs::remove_dir_all(&root);
}

fn systemd_version() -> String {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "version unknown".into())
}
