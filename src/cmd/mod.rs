// SPDX-License-Identifier: LGPL-2.1-or-later
//! The commands, one module each, and the routing from parsed arguments to them.
//!
//! `main` is the whole program: the generator when invoked as such, otherwise parse the command
//! line (`cli`), set up logging and timing, run one command, and turn its result into an exit
//! status. Adding a command: a `Mode` variant in `cli`, a module here, one arm in `run`.

use std::ffi::OsString;

use crate::cli::{self, Args, Mode};
use crate::{exit, log, timing};

pub mod adopt;
pub mod follow;
pub mod generator;
pub mod identify;
pub mod launch;
pub mod migrate;
pub mod show;
pub mod status;

pub fn main(argv: Vec<OsString>) -> i32 {
    let start = std::time::Instant::now();
    // The generator: installed as `bindif-launch-generator`, or the hidden `generate` subcommand.
    // The launcher also runs under the names of the commands it wraps (links the generator
    // makes, `generator::link_name`), which never include the generator's own name and always
    // put `--unit=` first, so a daemon's name cannot select the generator.
    if generator::wanted(&argv) {
        return generator::main(argv);
    }
    let args = match cli::parse(argv.into_iter().skip(1).collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bindif-launch: {e}");
            return exit::INVALIDARGUMENT;
        }
    };
    if args.timing {
        timing::enable(start);
    }
    let status = run(&args);
    // `main` is no_main (see main.rs), so std's exit-time flush of stdout does not run.
    if writes_stdout(&args.mode) {
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    status
}

/// Whether `mode` may print to stdout, and so needs the flush at the end. The launcher's own
/// modes, run at every start of a bound unit, print nothing there (their messages go to stderr,
/// the journal or the kernel log): flushing would only set up std's stdout buffer to find it
/// empty, an allocation that is a `mmap(2)` of its own with musl's allocator.
fn writes_stdout(mode: &Mode) -> bool {
    !matches!(
        mode,
        Mode::Unit { .. } | Mode::Attach { .. } | Mode::AttachSlice { .. } | Mode::AdHoc { .. }
    )
}

/// Runs the command `args` names and returns its exit status.
pub fn run(args: &Args) -> i32 {
    // Only a $JOURNAL_STREAM needs stderr's identity to compare with.
    let journal_stream = std::env::var("JOURNAL_STREAM").ok();
    log::init(
        journal_stream.as_deref(),
        journal_stream
            .as_ref()
            .and_then(|_| crate::sys::process::stderr_dev_ino()),
        args.debug,
    );
    timing::mark("start-up");
    let result = match &args.mode {
        Mode::Help => {
            print!("{}", cli::USAGE);
            Ok(exit::SUCCESS)
        }
        Mode::Version => {
            println!("bindif-launch {}", env!("CARGO_PKG_VERSION"));
            Ok(exit::SUCCESS)
        }
        Mode::Show { units } => Ok(show::run(
            &args.root,
            units,
            args.json,
            launch::running_systemd_version(),
        )),
        Mode::Migrate => Ok(migrate::run(
            &args.root,
            args.json,
            launch::running_systemd_version(),
        )),
        Mode::Adopt(o) => Ok(adopt::run(o)),
        Mode::Identify { words, verbose } => Ok(identify::identify(
            &identify::Env::default(),
            words,
            *verbose,
            &mut std::io::stdout().lock(),
        )),
        Mode::Pids { words, verbose } => Ok(identify::pids(
            &identify::Env::default(),
            words,
            *verbose,
            &mut std::io::stdout().lock(),
        )),
        Mode::Status {
            units,
            sockets,
            prometheus,
        } => Ok(status::run(
            &args.root,
            units,
            *sockets,
            args.json,
            *prometheus,
        )),
        Mode::Unit { unit, command } => launch::unit_mode(args, unit, command.as_deref()),
        Mode::Attach { unit, resolved } => {
            launch::attach_mode(args, unit, resolved.as_deref()).map(|()| exit::SUCCESS)
        }
        Mode::AttachSlice { slice, cgroup_root } => {
            launch::slice::slice_mode(args, slice, cgroup_root.as_deref()).map(|()| exit::SUCCESS)
        }
        Mode::AdHoc { interface, command } => launch::adhoc_mode(args, interface, command),
        Mode::EnterService => Ok(launch::enter::run()),
        Mode::RemoveLeftovers => Ok(launch::leftovers::run(&args.root)),
        Mode::Follow { interface, gone } => {
            Ok(follow::run(&args.root, interface, *gone, args.debug))
        }
    };
    result.unwrap_or_else(|launch::Fatal(code)| code)
}
