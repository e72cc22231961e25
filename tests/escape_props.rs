// SPDX-License-Identifier: LGPL-2.1-or-later
//! Property tests: `bindif::unit::name::{escape, unescape, escape_path, unescape_path}` against
//! the installed `systemd-escape` (systemd 252 on Debian 12), on a few thousand deterministic
//! pseudo-random strings with `/`, `-`, `\`, `.`, spaces, UTF-8 and control bytes.
//!
//! `systemd-escape` takes many arguments and prints the results space-separated on one line, so
//! the strings go in a few large batches (an invocation costs milliseconds, a string microseconds).
//! It stops at the first argument it refuses, so batches only hold inputs our implementation
//! accepts; inputs we refuse are checked one invocation each, for a sample.
//!
//! Without `systemd-escape` the test skips with a message, except under `CI` where it fails.

use std::io::Write;
use std::process::Command;

use bindif::unit::name::{escape, escape_path, unescape, unescape_path};

/// xorshift64*: tiny, deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces for plain strings: what `escape` treats specially and what it passes through. No
/// NUL (an argv string cannot hold one) and no U+001D/U+001E (the batch separator below).
const PLAIN: &[&str] = &[
    "a", "Z", "0", "9", "x", "_", ":", ".", ".", "-", "-", "/", "/", "\\", " ", "\t", "\n", "@",
    "%", "*", "\"", "'", "é", "ß", "日本", "😀", "\u{7f}", "\u{1}", "\u{1b}", "\u{1f}", "~", "+",
    "=", "..", "foo", "bar-baz", "x2d",
];

/// Pieces for escaped strings: valid and broken escapes, `-`, and plain characters.
const ESCAPED: &[&str] = &[
    "a",
    "b",
    "0",
    "x",
    ".",
    "..",
    "-",
    "-",
    "_",
    ":",
    "\\x2d",
    "\\x2f",
    "\\x2F",
    "\\x20",
    "\\x5c",
    "\\x41",
    "\\xc3\\xa9",
    "\\xff",
    "\\x00",
    "\\x0a",
    "\\x7f",
    "\\x2e",
    "\\x",
    "\\x4",
    "\\xzz",
    "\\",
    "\\n",
    "\\\\",
    "é",
    " ",
    "/",
    "foo",
    "\\xe6\\x97\\xa5",
];

fn string(rng: &mut Rng, pieces: &[&str]) -> String {
    // Mostly short strings, some long enough for a path component over NAME_MAX (255).
    let n = match rng.below(20) {
        0 => 100 + rng.below(200),
        1 => 0,
        _ => 1 + rng.below(12),
    };
    (0..n).map(|_| rng.pick(pieces)).collect()
}

/// Separator argument for batches whose output may hold spaces: unescaped (plainly or as a
/// path) it prints as these control bytes, which no generated input produces.
const SEP_ARG: &str = "\u{1e}\u{1d}\u{1e}";

struct Escape {
    bin: String,
}

impl Escape {
    /// `systemd-escape`, or `None` (with the reason printed) when it cannot run here.
    fn find() -> Option<Escape> {
        let bin = "systemd-escape".to_string();
        match Command::new(&bin).arg("--version").output() {
            Ok(o) if o.status.success() => Some(Escape { bin }),
            r => {
                let why = match r {
                    Ok(o) => format!("`systemd-escape --version` exited with {}", o.status),
                    Err(e) => format!("cannot run systemd-escape: {e}"),
                };
                if std::env::var_os("CI").is_some() {
                    panic!("{why}; CI is set, so this is a failure (install systemd)");
                }
                // Straight to stderr: libtest captures eprintln!() of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "escape_props: SKIPPED: {why} (install systemd to run this test)"
                );
                None
            }
        }
    }

    fn run(&self, flags: &[&str], args: &[&str]) -> (bool, Vec<u8>, String) {
        let o = Command::new(&self.bin)
            .args(flags)
            .arg("--")
            .args(args)
            .output()
            .expect("run systemd-escape");
        let mut out = o.stdout;
        if out.last() == Some(&b'\n') {
            out.pop();
        }
        (
            o.status.success(),
            out,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Runs `flags` on every input in one invocation and returns one result per input (`None`:
    /// refused). When `sep` is given, a separator argument printing as `sep` goes between the
    /// inputs (for outputs that may contain spaces). systemd-escape stops at the first input it
    /// refuses; the number of results printed points at it and the rest is run again.
    fn batch(&self, flags: &[&str], inputs: &[String], sep: Option<&str>) -> Vec<Option<String>> {
        let mut results = Vec::with_capacity(inputs.len());
        while results.len() < inputs.len() {
            let rest = &inputs[results.len()..];
            let mut args: Vec<&str> = Vec::new();
            for (i, s) in rest.iter().enumerate() {
                if i > 0 && sep.is_some() {
                    args.push(SEP_ARG);
                }
                args.push(s);
            }
            let (ok, out, err) = self.run(flags, &args);
            let out = String::from_utf8_lossy(&out).into_owned();
            let delim = match sep {
                Some(s) => format!(" {s} "),
                None => " ".to_string(),
            };
            let mut parts: Vec<String> = out.split(delim.as_str()).map(str::to_string).collect();
            if ok {
                assert_eq!(
                    parts.len(),
                    rest.len(),
                    "systemd-escape {flags:?}: output does not split into one result per input"
                );
                results.extend(parts.into_iter().map(Some));
            } else {
                // systemd-escape prints each result (after a space) once it has it, so a
                // refusal of input k leaves the results before it, each separator argument's
                // included: "r0 S r1 S" when input 2 was refused, "" when input 0 was.
                let printed = match sep {
                    Some(sp) => out.strip_suffix(&format!(" {sp}")).map(str::to_string),
                    None => Some(out.clone()),
                };
                parts = match printed {
                    _ if out.is_empty() => Vec::new(),
                    Some(p) => p.split(delim.as_str()).map(str::to_string).collect(),
                    None => panic!("systemd-escape {flags:?}: cannot parse {out:?} ({err})"),
                };
                assert!(
                    parts.len() < rest.len(),
                    "systemd-escape {flags:?} failed after every input: {err}"
                );
                results.extend(parts.into_iter().map(Some));
                results.push(None);
            }
        }
        results
    }

    /// Whether systemd refuses `input` (one invocation).
    fn refuses(&self, flags: &[&str], input: &str) -> bool {
        !self.run(flags, &[input]).0
    }
}

/// `{s:?}`, shortened for messages.
fn short(s: &str) -> String {
    if s.len() <= 80 {
        return format!("{s:?}");
    }
    let cut = (0..=60).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    format!("{:?}… ({} bytes)", &s[..cut], s.len())
}

const N: usize = 2000;
const BATCH: usize = 500;
/// How many inputs we refuse are checked against systemd, one invocation each.
const REFUSED_SAMPLE: usize = 12;

/// Compares our results for `inputs` (already split into accepted and refused) with
/// `systemd-escape FLAGS`.
fn compare(
    esc: &Escape,
    flags: &[&str],
    sep: Option<&str>,
    inputs: &[String],
    ours: impl Fn(&str) -> Option<String>,
) -> (usize, usize) {
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for s in inputs {
        match ours(s) {
            Some(r) => accepted.push((s.clone(), r)),
            None => refused.push(s.clone()),
        }
    }
    let mut mismatches = Vec::new();
    for chunk in accepted.chunks(BATCH) {
        let ins: Vec<String> = chunk.iter().map(|(s, _)| s.clone()).collect();
        let theirs = esc.batch(flags, &ins, sep);
        for ((s, mine), t) in chunk.iter().zip(theirs) {
            if Some(mine) != t.as_ref() {
                mismatches.push(format!(
                    "{}: ours {}, systemd-escape {}",
                    short(s),
                    short(mine),
                    t.as_deref().map_or("refuses it".into(), short)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "systemd-escape {flags:?} differs on {} of {} inputs we accept:\n{}",
        mismatches.len(),
        accepted.len(),
        mismatches.join("\n")
    );
    // Spread the sample over the refused inputs, shortest-first variety included.
    refused.sort_by_key(|s| s.len());
    refused.dedup();
    let step = (refused.len() / REFUSED_SAMPLE).max(1);
    for s in refused.iter().step_by(step).take(REFUSED_SAMPLE) {
        assert!(
            esc.refuses(flags, s),
            "systemd-escape {flags:?} accepts {}, which we refuse",
            short(s)
        );
    }
    (accepted.len(), refused.len())
}

#[test]
fn escape_matches_systemd_escape() {
    let Some(esc) = Escape::find() else { return };
    let mut rng = Rng(0x6269_6e64_6966_0001);
    let inputs: Vec<String> = (0..N).map(|_| string(&mut rng, PLAIN)).collect();

    // Plain escaping never fails; its output has no spaces, so no separator is needed.
    let (ok, refused) = compare(&esc, &[], None, &inputs, |s| Some(escape(s)));
    assert_eq!((ok, refused), (N, 0));

    // Round trip, ours and systemd's: unescape(escape(s)) == s.
    let escaped: Vec<String> = inputs.iter().map(|s| escape(s)).collect();
    for (s, e) in inputs.iter().zip(&escaped) {
        assert_eq!(
            unescape(e).as_deref(),
            Ok(s.as_str()),
            "round trip of {s:?}"
        );
    }
    for (chunk, orig) in escaped.chunks(BATCH).zip(inputs.chunks(BATCH)) {
        let back = esc.batch(&["--unescape"], chunk, Some(SEP_ARG));
        let want: Vec<Option<String>> = orig.iter().cloned().map(Some).collect();
        assert_eq!(back, want, "systemd-escape --unescape of our escapes");
    }
}

#[test]
fn unescape_matches_systemd_escape() {
    let Some(esc) = Escape::find() else { return };
    let mut rng = Rng(0x6269_6e64_6966_0002);
    let inputs: Vec<String> = (0..N).map(|_| string(&mut rng, ESCAPED)).collect();
    // systemd prints the raw bytes; ours replaces non-UTF-8 with U+FFFD, as the lossy
    // conversion of systemd's output does.
    let (ok, refused) = compare(&esc, &["--unescape"], Some(SEP_ARG), &inputs, |s| {
        unescape(s).ok()
    });
    assert!(
        ok > N / 4 && refused > N / 10,
        "{ok} accepted, {refused} refused"
    );
}

#[test]
fn escape_path_matches_systemd_escape() {
    let Some(esc) = Escape::find() else { return };
    let mut rng = Rng(0x6269_6e64_6966_0003);
    let mut inputs: Vec<String> = (0..N).map(|_| string(&mut rng, PLAIN)).collect();
    // Paths: mostly absolute, with doubled slashes, `.` and `..` components.
    const PATHY: &[&str] = &[
        "/", "//", "/.", "/..", "/a", "/b-c", "/ x", "/é", "/.d", "/\\",
    ];
    inputs.extend((0..N / 2).map(|_| string(&mut rng, PATHY)));
    // The limits of path_is_valid(): a component of NAME_MAX (255) bytes, the simplified path
    // under PATH_MAX (4096) bytes with its NUL; and relative paths that simplify to ".".
    let a = |n: usize| "a".repeat(n);
    inputs.extend([
        a(255),
        a(256),
        format!("/{}/", a(255)),
        format!("/b/{}", a(256)),
        format!("/{}", vec![a(255); 16].join("/")),
        format!("/{}", vec![a(255); 17].join("/")),
        format!("/{}/{}", vec![a(255); 15].join("/"), a(254)),
        format!("/{}/{}", vec![a(255); 15].join("/"), a(255)),
        format!("{}/{}", vec![a(255); 15].join("/"), a(256)),
        format!("{}/{}", vec![a(255); 15].join("/"), a(255)),
        format!("/a{}", "/".repeat(5000)),
        format!("/a{}", "/.".repeat(3000)),
        String::new(),
        ".".into(),
        "./".into(),
        ".//./.".into(),
        "/.".into(),
        "./a".into(),
        "a/.".into(),
    ]);
    let (ok, refused) = compare(&esc, &["--path"], None, &inputs, |s| escape_path(s).ok());
    assert!(
        ok > N / 2 && refused > 0,
        "{ok} accepted, {refused} refused"
    );

    // Round trip: unescape_path(escape_path(p)) is p normalized.
    for s in &inputs {
        if let Ok(e) = escape_path(s) {
            let norm: Vec<&str> = s
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            let norm = format!("/{}", norm.join("/"));
            // A relative path one byte under PATH_MAX escapes but its absolute form does not
            // come back (systemd-escape agrees: the checks above compare both directions).
            if norm.len() < 4096 {
                assert_eq!(
                    unescape_path(&e),
                    Ok(norm),
                    "path round trip of {}",
                    short(s)
                );
            }
        }
    }
}

#[test]
fn unescape_path_matches_systemd_escape() {
    let Some(esc) = Escape::find() else { return };
    let mut rng = Rng(0x6269_6e64_6966_0004);
    let mut inputs: Vec<String> = (0..N).map(|_| string(&mut rng, ESCAPED)).collect();
    // Inputs that look like escaped paths, so that a good share is accepted.
    const PATHY: &[&str] = &[
        "a", "b", "-", "-", ".", "..", "\\x2d", "\\x2e", "\\x2f", "c\\x20d",
    ];
    inputs.extend((0..N / 2).map(|_| string(&mut rng, PATHY)));
    // The limits of path_is_valid(), as in escape_path_matches_systemd_escape.
    let a = |n: usize| "a".repeat(n);
    inputs.extend([
        a(255),
        a(256),
        format!("b-{}", a(256)),
        format!("{}-b", a(255)),
        vec![a(255); 16].join("-"),
        vec![a(255); 17].join("-"),
        format!("{}-{}", vec![a(255); 15].join("-"), a(254)),
        format!("{}-{}", vec![a(255); 15].join("-"), a(255)),
        format!("{}\\x2d{}", a(200), a(100)),
        format!("{}\\x2f{}", a(200), a(100)),
    ]);
    let (ok, refused) = compare(
        &esc,
        &["--unescape", "--path"],
        Some(&format!("/{SEP_ARG}")),
        &inputs,
        |s| unescape_path(s).ok(),
    );
    assert!(
        ok > N / 10 && refused > N / 10,
        "{ok} accepted, {refused} refused"
    );
}
