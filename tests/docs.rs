// SPDX-License-Identifier: LGPL-2.1-or-later
//! The documentation keeps up with the command line: every option `--help` lists is in the
//! man page and the README names the commands it promises.

use std::collections::BTreeSet;

fn options(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',')
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.split('=').next().unwrap_or(w))
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(|w| format!("--{w}"))
        .collect()
}

#[test]
fn every_option_in_help_is_in_the_man_page() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/bindif-launch.8"))
        .unwrap()
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "");
    let help = options(bindif::cli::USAGE);
    assert!(help.len() >= 10, "{help:?}");
    let missing: Vec<_> = help.iter().filter(|o| !man.contains(o.as_str())).collect();
    assert!(
        missing.is_empty(),
        "options missing from man/bindif-launch.8: {missing:?}"
    );
}

#[test]
fn readme_names_the_setup_and_test_commands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for cmd in ["scripts/demo", "scripts/test", "tests/vm/run"] {
        assert!(readme.contains(cmd), "README does not mention {cmd}");
    }
}
