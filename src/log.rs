// SPDX-License-Identifier: LGPL-2.1-or-later
//! Messages in systemd's style. Lines about the binding carry v260's `bind-interface:` prefix so
//! the journal reads the same with and without the launcher. When stderr is the journal
//! (`$JOURNAL_STREAM` names the device and inode of fd 2), each line starts with a `<N>` priority
//! so the journal records warnings as warnings.
//!
//! One [`Logger`], three sinks: stderr (the launcher's commands), the journal stream (the same
//! fd, with `<N>` priorities) and `/dev/kmsg` (the generator, which runs before the journal
//! exists, as systemd's own generators log). The launcher's global [`log`] is a `Logger` built
//! from what [`init`] decided.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

static JOURNAL: AtomicBool = AtomicBool::new(false);
static DEBUG: AtomicBool = AtomicBool::new(false);

/// Decides once, at start-up, whether stderr is connected to the journal.
pub fn init(journal_stream: Option<&str>, stderr_dev_ino: Option<(u64, u64)>, debug: bool) {
    JOURNAL.store(
        stderr_is_journal(journal_stream, stderr_dev_ino),
        Ordering::Relaxed,
    );
    DEBUG.store(debug, Ordering::Relaxed);
}

/// `$JOURNAL_STREAM` is `DEVICE:INODE` of the stream systemd connected; it only applies while
/// stderr is still that stream (a shell redirect inside the unit changes the inode).
pub fn stderr_is_journal(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let (Some(js), Some((dev, ino))) = (journal_stream, stderr) else {
        return false;
    };
    let mut it = js.splitn(2, ':');
    let parsed = (
        it.next().and_then(|d| d.parse::<u64>().ok()),
        it.next().and_then(|i| i.parse::<u64>().ok()),
    );
    parsed == (Some(dev), Some(ino))
}

/// Formats one line: `<N>` when writing to the journal, the `bindif-launch: ` program prefix
/// when writing to a terminal or file, where the reader cannot otherwise tell who spoke.
pub fn format_line(level: Level, journal: bool, msg: &str) -> String {
    format_record(PROGRAM, level, journal, msg)
}

fn format_record(program: &str, level: Level, journal: bool, msg: &str) -> String {
    if journal {
        format!("<{}>{msg}\n", level as u8)
    } else {
        format!("{program}: {msg}\n")
    }
}

/// The launcher's program name in log lines.
pub const PROGRAM: &str = "bindif-launch";

static SUBJECT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the unit the `bind-interface:` lines are about, as PID 1 prefixes its own
/// (`mgmt.slice: bind-interface: …`): for the slice mode, whose lines the journal files under
/// the helper unit that runs it rather than under the slice. Set once; later calls are ignored.
pub fn set_subject(unit: &str) {
    let _ = SUBJECT.set(unit.to_string());
}

/// `msg` with the subject's prefix when it is a `bind-interface:` line and a subject is set.
fn with_subject<'a>(subject: Option<&str>, msg: &'a str) -> std::borrow::Cow<'a, str> {
    match subject {
        Some(s) if msg.starts_with("bind-interface:") => format!("{s}: {msg}").into(),
        _ => msg.into(),
    }
}

/// Logs through the launcher's global logger (stderr or the journal stream, see [`init`]).
pub fn log(level: Level, msg: &str) {
    let msg = &*with_subject(SUBJECT.get().map(String::as_str), msg);
    let sink = if JOURNAL.load(Ordering::Relaxed) {
        Sink::Journal
    } else {
        Sink::Stderr
    };
    let logger = Logger {
        program: PROGRAM,
        sink,
        debug: DEBUG.load(Ordering::Relaxed),
    };
    logger.log(level, msg);
}

/// Where a [`Logger`]'s records go.
#[derive(Debug)]
pub enum Sink {
    /// stderr as a terminal or file: `PROGRAM: message`.
    Stderr,
    /// stderr connected to the journal: `<N>message`.
    Journal,
    /// The kernel log: `<N>PROGRAM: message`, one write(2) per record.
    Kmsg(File),
}

/// `/dev/kmsg` for writing: non-blocking, so a full ring never stalls the boot.
fn open_kmsg() -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open("/dev/kmsg")
        .ok()
}

/// A logger: a program name, a sink and whether debug records are kept.
#[derive(Debug)]
pub struct Logger {
    program: &'static str,
    sink: Sink,
    debug: bool,
}

impl Logger {
    pub fn new(program: &'static str, sink: Sink, debug: bool) -> Logger {
        Logger {
            program,
            sink,
            debug,
        }
    }

    /// A logger writing to `/dev/kmsg`, or to stderr when it cannot be opened (a container, a
    /// test run without privileges), as systemd's `LOG_TARGET_KMSG` falls back to the console.
    pub fn kmsg_or_stderr(program: &'static str, debug: bool) -> Logger {
        let sink = open_kmsg().map_or(Sink::Stderr, Sink::Kmsg);
        Logger::new(program, sink, debug)
    }

    /// Writes one record; a debug record only when debug logging is on.
    pub fn log(&self, level: Level, msg: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        if let Sink::Kmsg(f) = &self.sink {
            // One write(2) per record; a full ring or rate limit drops the record to stderr,
            // never blocks (the file is non-blocking).
            let record = format!("<{}>{}: {msg}\n", level as u8, self.program);
            if (&*f).write_all(record.as_bytes()).is_ok() {
                return;
            }
        }
        let journal = matches!(self.sink, Sink::Journal);
        let line = format_record(self.program, level, journal, msg);
        // A failed write to stderr has nowhere to be reported; the caller goes on regardless.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// `s` with ASCII control characters written as `\xNN`, for values from untrusted input
/// (instance names, command-line arguments) quoted in a message: a newline or an escape
/// sequence in them must not forge a second log line or repaint the terminal.
pub fn escape_control(s: &str) -> String {
    escape_bytes(s.as_bytes())
}

/// Like [`escape_control`], for bytes that need not be UTF-8 (cgroup and file names): valid
/// UTF-8 stays as it is, ASCII control characters and bytes that are not UTF-8 become `\xNN`.
pub fn escape_bytes(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    // `<[u8]>::utf8_chunks` is newer than the MSRV: walk valid prefixes by hand.
    while !bytes.is_empty() {
        let (valid, bad) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, 0),
            Err(e) => {
                let (ok, rest) = bytes.split_at(e.valid_up_to());
                let ok = std::str::from_utf8(ok).unwrap_or_default();
                (ok, e.error_len().unwrap_or(rest.len()))
            }
        };
        for c in valid.chars() {
            if c.is_ascii_control() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        let rest = &bytes[valid.len()..];
        for b in &rest[..bad] {
            out.push_str(&format!("\\x{b:02x}"));
        }
        bytes = &rest[bad..];
    }
    out
}

#[macro_export]
macro_rules! log_at {
    ($lvl:ident, $($arg:tt)*) => {
        $crate::log::log($crate::log::Level::$lvl, &format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_prefixes_only_binding_lines() {
        let m = "bind-interface: Couldn't find index of network interface 'x', ignoring: No such device";
        assert_eq!(
            with_subject(Some("mgmt.slice"), m),
            format!("mgmt.slice: {m}")
        );
        assert_eq!(with_subject(None, m), m);
        assert_eq!(
            with_subject(Some("mgmt.slice"), "Failed to load unit mgmt.slice"),
            "Failed to load unit mgmt.slice"
        );
    }

    #[test]
    fn journal_detection_needs_matching_device_and_inode() {
        assert!(stderr_is_journal(Some("8:1234"), Some((8, 1234))));
        assert!(!stderr_is_journal(Some("8:1234"), Some((8, 99))));
        assert!(!stderr_is_journal(Some("garbage"), Some((8, 1234))));
        assert!(!stderr_is_journal(None, Some((8, 1234))));
        assert!(!stderr_is_journal(Some("8:1234"), None));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\nb\x01c\x7f"), "a\\x0ab\\x01c\\x7f");
        assert_eq!(escape_control("mgmt-ä\\x2f"), "mgmt-ä\\x2f");
        assert_eq!(
            escape_bytes(b"/x\xff\r/\x1b[31m\xc3\xa4"),
            "/x\\xff\\x0d/\\x1b[31mä"
        );
    }

    #[test]
    fn kmsg_records_carry_priority_and_program() {
        // Any writable file stands in for /dev/kmsg: the record format is what is checked.
        let path = std::env::temp_dir().join(format!("bindif-log-kmsg-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let logger = Logger::new("bindif-launch-generator", Sink::Kmsg(file), false);
        logger.log(Level::Err, "Failed to write /run/x: File name too long");
        logger.log(Level::Debug, "dropped without debug");
        logger.log(Level::Info, "Generated 1 drop-in(s)");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            text,
            "<3>bindif-launch-generator: Failed to write /run/x: File name too long\n\
             <6>bindif-launch-generator: Generated 1 drop-in(s)\n"
        );
    }

    #[test]
    fn line_prefixes() {
        assert_eq!(format_line(Level::Warning, true, "x"), "<4>x\n");
        assert_eq!(format_line(Level::Err, false, "x"), "bindif-launch: x\n");
    }
}
