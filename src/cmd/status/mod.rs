// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch status [--sockets] [--json] [UNIT…]`: which cgroups carry a binding, for which
//! interface, whether that binding went stale, and (with `--sockets`) which inet sockets of their
//! processes are not bound.
//!
//! Split in two: [`gather`] reads the host (cgroup2 walk, `BPF_PROG_QUERY`, rtnetlink, unit
//! files, `/proc`, sock_diag) into plain facts; everything after that — judging staleness
//! ([`assess`]), the unbound-socket filter, the table, the JSON and the exit status — is pure
//! and tested on hand-written facts.
//!
//! One file per job: `facts` (the data), `gather` (the only part that talks to the kernel),
//! `judge` (verdicts and exit status), `render` (table and JSON), `args` (`UNIT` patterns),
//! `error` (why status could not report); this file runs them in order.

mod args;
mod error;
mod facts;
mod gather;
mod judge;
mod render;
#[cfg(test)]
mod testdata;

use std::io::{self, Write};
use std::path::Path;

use crate::log_at;
use crate::sys;

pub use args::UnitPattern;
pub use error::Error;
pub use facts::{CgroupFacts, Links, ProgKind, Program, Want};
pub use gather::{default_hierarchies, gather, Options};
pub use judge::{
    assess, exit_status, unbound_sockets, CgroupReport, Expected, ProgramReport, SocketReport,
    State,
};
pub use render::{render_text, to_json};

/// Runs `status` with `opts`, writing to `out`; returns the exit status.
pub fn run_with(opts: &Options, out: &mut dyn Write) -> i32 {
    let (reports, hierarchies) = match gather(opts) {
        Ok(r) => r,
        Err(e) => {
            log_at!(Err, "{e}");
            return e.exit_status();
        }
    };
    let text = if opts.json {
        let mut s = to_json(&reports, &hierarchies).render();
        s.push('\n');
        s
    } else {
        let main = sys::cgroup::detect(Path::new("/"))
            .cgroup2_mount()
            .map(Path::to_path_buf)
            .filter(|m| hierarchies.contains(m))
            .or_else(|| hierarchies.first().cloned());
        render_text(&reports, main.as_deref())
    };
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            log_at!(Err, "Failed to write output: {e}");
        }
        return 1;
    }
    exit_status(&reports)
}

/// `bindif-launch status [--sockets] [--json] [UNIT…]`: prints to stdout, returns the exit
/// status (0 all ok, 1 something stale, stacked or unbound, 2 bad arguments).
pub fn run(units: &[String], sockets: bool, json: bool) -> i32 {
    let opts = Options::new(units, sockets, json);
    run_with(&opts, &mut io::stdout().lock())
}
