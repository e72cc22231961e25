// SPDX-License-Identifier: LGPL-2.1-or-later
//! `--timing`: how long each phase of one launch took, logged as one line just before the
//! command is executed, so an operator can see on the real host which phase is slow.
//!
//! Off by default and then free: `mark()` is a relaxed atomic load. The launcher is
//! single-threaded, but a `Mutex` keeps this safe without `unsafe`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
static MARKS: Mutex<Vec<(&'static str, Instant)>> = Mutex::new(Vec::new());

/// Starts timing at `start` (taken as early as `main()` can).
pub fn enable(start: Instant) {
    let mut marks = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    marks.clear();
    marks.push(("", start));
    ENABLED.store(true, Ordering::Relaxed);
}

/// Ends the phase called `phase` now (the phase began at the previous mark).
pub fn mark(phase: &'static str) {
    if ENABLED.load(Ordering::Relaxed) {
        let now = Instant::now();
        MARKS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((phase, now));
    }
}

/// The phases so far, each with its duration, and the total since `enable()`; `None` when
/// timing is off.
pub fn phases() -> Option<(Vec<(&'static str, Duration)>, Duration)> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let marks = MARKS.lock().unwrap_or_else(|e| e.into_inner());
    Some(durations(&marks))
}

/// Pure part of `phases()`: consecutive differences of the marks.
pub fn durations(marks: &[(&'static str, Instant)]) -> (Vec<(&'static str, Duration)>, Duration) {
    let list = marks
        .windows(2)
        .map(|w| (w[1].0, w[1].1.saturating_duration_since(w[0].1)))
        .collect();
    let total = match (marks.first(), marks.last()) {
        (Some(a), Some(b)) => b.1.saturating_duration_since(a.1),
        _ => Duration::ZERO,
    };
    (list, total)
}

/// `1.2ms`, `345µs`: the unit a person reads at this scale.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 10_000 {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{us}µs")
    }
}

/// The one log line, logged as a binding line (`[UNIT: ]bind-interface: ` first):
/// `Timing: unit load 254µs, …; 412µs in all since main()`.
pub fn format_line(phases: &[(&'static str, Duration)], total: Duration) -> String {
    let parts: Vec<String> = phases
        .iter()
        .map(|(p, d)| format!("{p} {}", format_duration(*d)))
        .collect();
    format!(
        "Timing: {}; {} in all since main()",
        parts.join(", "),
        format_duration(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_differences_of_consecutive_marks() {
        let t0 = Instant::now();
        let marks = [
            ("", t0),
            ("unit load", t0 + Duration::from_micros(250)),
            ("attach", t0 + Duration::from_micros(300)),
        ];
        let (list, total) = durations(&marks);
        assert_eq!(
            list,
            vec![
                ("unit load", Duration::from_micros(250)),
                ("attach", Duration::from_micros(50))
            ]
        );
        assert_eq!(total, Duration::from_micros(300));
        assert_eq!(durations(&[]), (vec![], Duration::ZERO));
    }

    #[test]
    fn line_names_each_phase_and_the_total() {
        let line = format_line(
            &[
                ("unit load", Duration::from_micros(254)),
                ("program load", Duration::from_millis(12)),
            ],
            Duration::from_micros(12_412),
        );
        assert_eq!(
            line,
            "Timing: unit load 254µs, program load 12.0ms; 12.4ms in all since main()"
        );
    }
}
