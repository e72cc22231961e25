// SPDX-License-Identifier: LGPL-2.1-or-later
//! Hostile command lines (issue 13): every option, in both value forms, with values a careless
//! operator or an attacker would pass. Each must end in a usage error with a message — never a
//! panic, never a raw control character on stderr — or be accepted only where the value is
//! genuinely valid for that option. The parser is walked through the library; the binary is
//! then run on every case the parser refuses, to prove the whole path exits 2 and is not killed
//! by a signal (the release build aborts on panic: SIGABRT, status 134).
//!
//! Pure: the binary stops at parsing on every case run here, before any cgroup, BPF or unit
//! file is touched, so no root and no lock are needed.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use bindif::cli::{self, UsageError};
use bindif::unit::ifname;

const BIN: &str = env!("CARGO_BIN_EXE_bindif-launch");

/// The values tried for every option: empty, float specials, negatives, overflows, non-UTF-8,
/// control characters, option look-alikes and one far beyond any limit.
fn hostile_values() -> Vec<OsString> {
    let mut v: Vec<OsString> = [
        "",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "infinity",
        "-1",
        "-0.5",
        "1e20",
        "1e308",
        "1e309",
        "18446744073709551616",
        "-9223372036854775809",
        "4294967296",
        "0x10",
        "\n",
        "a\nb",
        "v0\nbindif-launch: forged",
        "\x1b[2J",
        "\t",
        "\x7f",
        "--",
        "-",
        "=",
        "--json",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    v.push(OsString::from_vec(vec![0xff, 0xfe]));
    v.push(OsString::from_vec(b"mgmt\xc3".to_vec()));
    v.push(OsString::from("x".repeat(100_000)));
    v
}

fn has_control(s: &OsStr) -> bool {
    s.as_bytes().iter().any(|b| b.is_ascii_control())
}

/// Whether `value` is one the option genuinely accepts. Written from each option's documented
/// rule, not from the parser, so the walk checks the parser against it.
fn valid(option: &str, value: &OsStr) -> bool {
    let Some(s) = value.to_str() else {
        return false; // every option's value must be UTF-8
    };
    match option {
        // Interface names: v260's BindNetworkInterface= rule, shared with the unit files.
        "--interface" | "-i" => ifname::valid_alternative(s),
        // A directory: anything but empty or containing a control character.
        "--root" => !s.is_empty() && !has_control(value),
        // Seconds as timeout(1) takes them, finite and within what a Duration holds.
        "--wait" => s
            .parse::<f64>()
            .is_ok_and(|f| f.is_finite() && (0.0..1.8e19).contains(&f)),
        "--systemd-version" => s.parse::<u32>().is_ok(),
        "--layout" => matches!(s, "unified" | "hybrid" | "legacy"),
        _ => unreachable!("no rule for {option}"),
    }
}

/// One launcher command line with `option` set to `value` in the given form, otherwise valid
/// for the mode the option belongs to.
fn launcher_argv(option: &str, value: &OsStr, joined: bool) -> Vec<OsString> {
    let mut argv: Vec<OsString> = Vec::new();
    if joined {
        let mut w = OsString::from(format!("{option}="));
        w.push(value);
        argv.push(w);
    } else {
        argv.push(option.into());
        argv.push(value.into());
    }
    let tail: &[&str] = match option {
        "--interface" | "-i" => &["--", "/bin/true"],
        "--root" => &["show", "a.service"],
        _ => &["a.service"],
    };
    argv.extend(tail.iter().map(OsString::from));
    argv
}

fn generator_argv(option: &str, value: &OsStr, joined: bool) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["bindif-launch".into(), "generate".into()];
    argv.extend(
        launcher_argv(option, value, joined)
            .into_iter()
            .take(if joined { 1 } else { 2 }),
    );
    argv.push("/nonexistent/out".into());
    argv
}

/// A usage error's message: non-empty, one line, no raw control character, and quoting
/// nothing that came from argv unescaped.
fn assert_clean_message(e: &UsageError, argv: &[OsString]) {
    let msg = e.to_string();
    assert!(!msg.is_empty(), "{argv:?}: empty message");
    assert!(
        !msg.chars().any(|c| c.is_ascii_control()),
        "{argv:?}: control character in {msg:?}"
    );
}

const VALUE_OPTIONS: &[&str] = &["--interface", "-i", "--wait", "--root"];
const FLAGS: &[&str] = &[
    "--help",
    "--version",
    "--attach",
    "--fail-closed",
    "--fail-open",
    "--verify",
    "--notify-status",
    "--json",
    "--debug",
    "--timing",
    "--sockets",
];
const GENERATOR_VALUE_OPTIONS: &[&str] = &["--root", "--systemd-version", "--layout"];

/// Every command line the walk builds, with whether the parser must refuse it.
fn launcher_cases() -> Vec<(Vec<OsString>, bool)> {
    let mut cases = Vec::new();
    for option in VALUE_OPTIONS {
        for value in hostile_values() {
            for joined in [true, false] {
                let argv = launcher_argv(option, &value, joined);
                cases.push((argv, !valid(option, &value)));
            }
        }
    }
    for flag in FLAGS {
        for value in hostile_values() {
            let mut w = OsString::from(format!("{flag}="));
            w.push(&value);
            cases.push((vec![w, "a.service".into()], true));
        }
    }
    // Hostile words where a unit name or an unknown option stands.
    for value in hostile_values() {
        if has_control(&value) || value.to_str().is_none() {
            cases.push((vec![value.clone()], true));
            cases.push((vec!["--attach".into(), "--".into(), value.clone()], true));
            cases.push((vec!["status".into(), value.clone()], true));
        }
        let mut unknown = OsString::from("--no-such-option-");
        unknown.push(&value);
        cases.push((vec![unknown, "a.service".into()], true));
        // The same bytes glued to a single dash: a short option (or cluster) we do not have.
        // Not "" (a lone "-" is a word) nor "-" (that makes "--").
        if !value.is_empty() && value != "-" {
            let mut short = OsString::from("-");
            short.push(&value);
            cases.push((vec![short, "a.service".into()], true));
        }
    }
    cases
}

fn generator_cases() -> Vec<(Vec<OsString>, bool)> {
    let mut cases = Vec::new();
    for option in GENERATOR_VALUE_OPTIONS {
        for value in hostile_values() {
            for joined in [true, false] {
                let argv = generator_argv(option, &value, joined);
                cases.push((argv, !valid(option, &value)));
            }
        }
    }
    for value in hostile_values() {
        let mut w = OsString::from("--debug=");
        w.push(&value);
        cases.push((
            vec!["bindif-launch".into(), "generate".into(), w, "/o".into()],
            true,
        ));
    }
    cases
}

#[test]
fn every_launcher_option_refuses_hostile_values_with_a_message() {
    let cases = launcher_cases();
    assert!(cases.len() > 300, "{}", cases.len());
    for (argv, refused) in &cases {
        match cli::parse(argv.clone()) {
            Err(e) => {
                assert!(refused, "{argv:?} was refused but is valid: {e}");
                assert_clean_message(&e, argv);
            }
            Ok(a) => {
                assert!(!refused, "{argv:?} was accepted: {a:?}");
            }
        }
    }
}

#[test]
fn every_generator_option_refuses_hostile_values_with_a_message() {
    for (argv, refused) in generator_cases() {
        match cli::parse_generator(argv.clone()) {
            Err(e) => {
                assert!(refused, "{argv:?} was refused but is valid: {e}");
                assert_clean_message(&e, &argv);
            }
            Ok(a) => assert!(!refused, "{argv:?} was accepted: {a:?}"),
        }
    }
}

/// Runs the binary; returns (exit code, stderr). Fails the test if a signal ended it.
fn run(argv: &[OsString]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(argv)
        .env_clear()
        .output()
        .expect("run bindif-launch");
    assert!(
        out.status.signal().is_none(),
        "{argv:?}: killed by signal {:?}",
        out.status.signal()
    );
    let code = out.status.code().expect("an exit code");
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_binary_exits_2_on_every_refused_command_line() {
    let mut ran = 0;
    for (argv, refused) in launcher_cases() {
        if !refused {
            continue; // a valid line would really run: not here
        }
        let expected = cli::parse(argv.clone()).unwrap_err();
        let (code, stderr) = run(&argv);
        assert_eq!(code, 2, "{argv:?}: {stderr}");
        assert_eq!(stderr, format!("bindif-launch: {expected}\n"), "{argv:?}");
        ran += 1;
    }
    assert!(ran > 250, "{ran}");
}

/// The generator is not wired to `cli::parse_generator` yet (its module keeps its own parser):
/// this holds what both must give, exit 2 and no signal, and one line for values without
/// control characters. `--root` is left out until then: the generator's own parser accepts an
/// empty or control-character root and would run for real.
#[test]
fn the_generator_exits_2_on_hostile_options() {
    let mut ran = 0;
    for (argv, refused) in generator_cases() {
        if !refused || argv[2].as_bytes().starts_with(b"--root") {
            continue;
        }
        ran += 1;
        let (code, stderr) = run(&argv[1..]);
        assert_eq!(code, 2, "{argv:?}: {stderr}");
        assert!(
            stderr.starts_with("bindif-launch-generator: "),
            "{argv:?}: {stderr}"
        );
        if !argv.iter().any(|a| has_control(a)) {
            assert_eq!(stderr.lines().count(), 1, "{argv:?}: {stderr}");
        }
    }
    assert!(ran > 100, "{ran}");
}

/// The exact message of each usage error, as the binary prints it.
#[test]
fn usage_errors_print_their_exact_message() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Missing unit name (try --help)"),
        (&["--bogus", "a.service"], "Unknown option --bogus"),
        (&["-x", "a.service"], "Unknown option -x"),
        (&["--wait"], "--wait needs a value"),
        (&["--interface"], "--interface needs a value"),
        (&["--verify=yes", "a.service"], "--verify takes no value"),
        (
            &["--wait=1e20", "a.service"],
            "Invalid --wait= value, expected seconds: 1e20",
        ),
        (
            &["--wait=NaN", "a.service"],
            "Invalid --wait= value, expected seconds: NaN",
        ),
        (
            &["--wait", "-1", "a.service"],
            "Invalid --wait= value, expected seconds: -1",
        ),
        (
            &["show"],
            "show needs one or more unit names and no command",
        ),
        (
            &["migrate", "a.service"],
            "migrate takes no unit names and no command",
        ),
        (
            &["--interface", "v0", "a.service", "--", "true"],
            "--interface takes no unit name: use --interface IFACE -- COMMAND",
        ),
        (
            &["--interface", "v0"],
            "--interface needs a command after --",
        ),
        (
            &["a.service", "b.service"],
            "Too many arguments; put the command after --",
        ),
        (
            &["--attach", "a.service", "--", "true"],
            "--attach runs no command; drop the part after --",
        ),
        (&["a.service", "--"], "Empty command after --"),
        (&["--", "-a.service", "--"], "Empty command after --"),
        (
            &["x.service\nbindif-launch: forged"],
            r#"Invalid unit name "x.service\x0abindif-launch: forged""#,
        ),
        (&["-i", "a/b", "--", "true"], "Invalid interface name: a/b"),
        (
            &["--root=", "show", "a.service"],
            r#"Invalid --root= value, expected a directory: """#,
        ),
    ];
    for (argv, message) in cases {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let (code, stderr) = run(&argv);
        assert_eq!(code, 2, "{argv:?}: {stderr}");
        assert_eq!(stderr, format!("bindif-launch: {message}\n"), "{argv:?}");
    }
    let non_utf8 = [OsString::from_vec(vec![b'a', 0xff])];
    assert_eq!(
        run(&non_utf8),
        (
            2,
            "bindif-launch: Arguments before -- must be UTF-8\n".into()
        )
    );
    let non_utf8_unit = [OsString::from("--"), OsString::from_vec(vec![0xff])];
    assert_eq!(
        run(&non_utf8_unit),
        (2, "bindif-launch: Unit names must be UTF-8\n".into())
    );
}

/// Issue 13 #21: a unit name starting with `-` reaches the loader (and is not taken for an
/// option). The unit does not exist below the empty root, so the run stops at loading.
#[test]
fn a_dash_unit_after_double_dash_reaches_the_loader() {
    let root = std::env::temp_dir().join(format!("bindif-cli-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let root_arg = format!("--root={}", root.display());
    for argv in [
        vec![root_arg.as_str(), "--", "-foo.service"],
        vec![root_arg.as_str(), "--attach", "--", "-foo.service"],
        vec![root_arg.as_str(), "--", "-foo.service", "--", "/bin/true"],
    ] {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let (code, stderr) = run(&argv);
        assert_eq!(code, 2, "{argv:?}: {stderr}");
        assert_eq!(
            stderr,
            "bindif-launch: Failed to load unit -foo.service: Unit -foo.service not found.\n",
            "{argv:?}"
        );
    }
    std::fs::remove_dir(&root).unwrap();
}
