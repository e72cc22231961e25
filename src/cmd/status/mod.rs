// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch status [--sockets] [--json|--prometheus] [UNIT…]`: which cgroups carry a
//! binding, for which interface, whether that binding went stale, what keeps it from working
//! (the preflight), and (with `--sockets`) which inet sockets of their processes are not bound.
//!
//! Split in two: [`gather`] reads the host (cgroup2 walk, `BPF_PROG_QUERY`, rtnetlink, unit
//! files, `/proc`, sock_diag) into plain facts; everything after that — judging staleness
//! ([`assess`]), the unbound-socket filter, the table, the JSON and the exit status — is pure
//! and tested on hand-written facts.
//!
//! One file per job: `facts` (the data), `gather` (the only part that talks to the kernel),
//! `judge` (verdicts and exit status), `preflight` (findings around a binding: down links,
//! removed keys, net_cls/net_prio), `vrf` (the VRF preflight), `render` (table and JSON),
//! `prometheus` (the textfile collector's format), `args` (`UNIT` patterns),
//! `error` (why status could not report); this file runs them in order.

/// The host-wide preflight's findings about net_cls/net_prio turning cgroup2 socket matching
/// off, one line each (for the launcher's verification, which names the cause of a socket
/// that came out unbound).
pub fn matching_off_findings() -> Vec<String> {
    gather::host_preflight(&gather::Options::new(&[], false, false))
        .iter()
        .map(preflight::Finding::line)
        .collect()
}

mod args;
mod error;
mod facts;
mod gather;
mod judge;
mod preflight;
mod prometheus;
mod render;
#[cfg(test)]
mod testdata;
mod vrf;

use std::io::{self, Write};
use std::path::Path;

use crate::log_at;
use crate::sys;

pub use args::UnitPattern;
pub use error::Error;
pub use facts::{CgroupFacts, Links, ProgKind, Program, Want};
pub use gather::{
    default_hierarchies, gather, generator_misses, host_preflight, kmsg_has, GeneratorMiss, Options,
};
pub use judge::{
    assess, binds_itself, exit_status, generator_expected, generator_not_run_note,
    generator_not_run_text, unbound_sockets, CgroupReport, Expected, ProgramReport, SocketReport,
    State,
};
pub use preflight::{kernel_has_fix, Finding};
pub use prometheus::{escape_label, render_prometheus, render_prometheus_failure};
pub use render::{error_json, render_host_text, render_text, to_json, to_json_with_host};
pub use vrf::{warnings as vrf_warnings, FamilySetup, VrfFacts};

/// Runs `status` with `opts`, writing to `out`; returns the exit status.
///
/// With `--json` a failure still prints a document (with an `error` member), so a script
/// always has JSON to parse; with `--prometheus`, `bindif_status_success 0`. The exit status is
/// the same either way.
pub fn run_with(opts: &Options, out: &mut dyn Write) -> i32 {
    let (reports, hierarchies) = match gather(opts) {
        Ok(r) => r,
        Err(e) => {
            log_at!(Err, "{e}");
            let doc = if opts.prometheus {
                Some(render_prometheus_failure())
            } else if opts.json {
                Some(error_json(&e).render() + "\n")
            } else {
                None
            };
            if let Some(doc) = doc {
                // The failure is already reported and decides the exit status.
                let _ = write_out(out, &doc);
            }
            return e.exit_status();
        }
    };
    let host = host_preflight(opts);
    // A silent-unbound path: said on stderr too, in systemd's words, whatever the format.
    for r in &reports {
        if let Some(note) = generator_not_run_note(&r.facts) {
            log_at!(Warning, "{}: {note}", r.label());
        }
    }
    // The preflight's findings too, each once: a timer writing --prometheus leaves them in the
    // journal.
    for w in render::distinct_warnings(&reports)
        .into_iter()
        .chain(host.iter().map(Finding::line))
    {
        log_at!(Warning, "{w}");
    }
    let main = || {
        sys::cgroup::detect(Path::new("/"))
            .cgroup2_mount()
            .map(Path::to_path_buf)
            .filter(|m| hierarchies.contains(m))
            .or_else(|| hierarchies.first().cloned())
    };
    let text = if opts.prometheus {
        render_prometheus(&reports, &host, main().as_deref())
    } else if opts.json {
        let mut s = to_json_with_host(&reports, &hierarchies, &host).render();
        s.push('\n');
        s
    } else {
        let mut s = render_text(&reports, main().as_deref());
        if !host.is_empty() {
            s.push('\n');
            s.push_str(&render_host_text(&host));
        }
        s
    };
    if write_out(out, &text).is_err() {
        return 1;
    }
    exit_status(&reports)
}

/// Writes `text` and flushes; a failure other than a closed pipe is logged.
fn write_out(out: &mut dyn Write, text: &str) -> io::Result<()> {
    let r = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = &r {
        if e.kind() != io::ErrorKind::BrokenPipe {
            log_at!(Err, "Failed to write output: {e}");
        }
    }
    r
}

/// `bindif-launch status [--sockets] [--json|--prometheus] [UNIT…]`: prints to stdout, returns
/// the exit status (0 all ok, 1 something stale, drifted from its configuration, stacked,
/// unbound or not reached by the generator, 2 bad arguments; the preflight only warns). Unit
/// files and the generator's output are read below `root` (`--root=`).
pub fn run(root: &Path, units: &[String], sockets: bool, json: bool, prometheus: bool) -> i32 {
    let mut opts = Options::new(units, sockets, json);
    opts.root = root.to_path_buf();
    opts.prometheus = prometheus;
    run_with(&opts, &mut io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn run_json(opts: &Options) -> (i32, String) {
        let mut out = Vec::new();
        let exit = run_with(opts, &mut out);
        (exit, String::from_utf8(out).unwrap())
    }

    /// Issue 13 #22: a failing `status --json` prints a document naming the failure, and keeps
    /// its exit status. These failures happen before any privileged call.
    #[test]
    fn json_failure_still_prints_a_document() {
        let mut opts = Options::new(&["a/b".to_string()], false, true);
        let (exit, out) = run_json(&opts);
        assert_eq!(exit, 2);
        assert_eq!(
            out,
            "{\"hierarchies\":[],\"ok\":false,\"cgroups\":[],\"error\":{\"operation\":\
             \"parse unit name\",\"object\":\"a/b\",\"errno\":null,\"message\":\
             \"Invalid unit name \\\"a/b\\\"\"}}\n"
        );
        opts.units.clear();
        opts.hierarchies = Some(vec![]);
        let (exit, out) = run_json(&opts);
        assert_eq!(exit, 1);
        assert!(
            out.contains(
                "\"operation\":\"find a cgroup2 hierarchy\",\"object\":null,\"errno\":null"
            ),
            "{out}"
        );
        // A syscall failure carries its errno: /dev/null is no directory.
        opts.hierarchies = Some(vec![PathBuf::from("/dev/null")]);
        let (exit, out) = run_json(&opts);
        assert_eq!(exit, 1);
        assert!(
            out.contains(&format!(
                "\"object\":\"/dev/null\",\"errno\":{},\"message\":\"Failed to ",
                libc::ENOTDIR
            )),
            "{out}"
        );
        assert!(out.ends_with(": Not a directory\"}}\n"), "{out}");
        // Without --json a failure prints nothing on stdout (the message goes to stderr).
        opts.json = false;
        assert_eq!(run_json(&opts), (1, String::new()));
    }
}
