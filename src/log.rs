// SPDX-License-Identifier: LGPL-2.1-or-later
//! Messages in systemd's style. Lines about the binding carry v260's `bind-interface:` prefix so
//! the journal reads the same with and without the launcher. When stderr is the journal
//! (`$JOURNAL_STREAM` names the device and inode of fd 2), each line starts with a `<N>` priority
//! so the journal records warnings as warnings.

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
    if journal {
        format!("<{}>{msg}\n", level as u8)
    } else {
        format!("bindif-launch: {msg}\n")
    }
}

pub fn log(level: Level, msg: &str) {
    if level == Level::Debug && !DEBUG.load(Ordering::Relaxed) {
        return;
    }
    let line = format_line(level, JOURNAL.load(Ordering::Relaxed), msg);
    // A failed write to stderr has nowhere to be reported; the launch goes on regardless.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `s` with ASCII control characters written as `\xNN`, for values from untrusted input
/// (instance names, command-line arguments) quoted in a message: a newline or an escape
/// sequence in them must not forge a second log line or repaint the terminal.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
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
    }

    #[test]
    fn line_prefixes() {
        assert_eq!(format_line(Level::Warning, true, "x"), "<4>x\n");
        assert_eq!(format_line(Level::Err, false, "x"), "bindif-launch: x\n");
    }
}
