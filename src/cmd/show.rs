// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch show UNIT…`: what the launcher reads from a unit and what it would run.

use std::path::Path;

use crate::cmd::generator::NATIVE_SINCE;
use crate::cmd::launch::config::{self, UnitConfig};
use crate::cmd::status;
use crate::json::Value;
use crate::unit::eval::{self, TimeSpan};
use crate::unit::paths::SearchPath;
use crate::unit::{Diagnostic, Source};
use crate::{exit, log_at};

/// Prints each unit; returns 0, or 2 when a unit could not be loaded. `systemd_version`: the
/// running systemd's (`None`: unknown); units are evaluated by the newest rules when it is
/// unknown, and on systemd < 260 a unit the generator did not reach is warned about.
pub fn run(root: &Path, units: &[String], json: bool, systemd_version: Option<u32>) -> i32 {
    let mut status = 0;
    let mut docs = Vec::new();
    let version = systemd_version.unwrap_or(NATIVE_SINCE);
    for (i, name) in units.iter().enumerate() {
        // An offline look at a tree: `$SYSTEMD_UNIT_PATH` counts, as for systemd-analyze (the
        // launcher itself ignores it, see config::read).
        let read = config::read_on(SearchPath::system(root), name, version);
        let generator = || generator_warnings(root, name, systemd_version);
        match read {
            Ok(cfg) if json => docs.push(to_json(&cfg, &generator())),
            Ok(cfg) => {
                if i > 0 {
                    println!();
                }
                print!("{}", to_text(&cfg, &generator()));
            }
            Err(e) => {
                log_at!(Err, "Failed to load unit {name}: {e}");
                if json {
                    docs.push(Value::obj(vec![
                        ("unit", Value::str(name.as_str())),
                        ("error", Value::str(e.to_string())),
                    ]));
                }
                status = exit::INVALIDARGUMENT;
            }
        }
    }
    if json {
        println!("{}", Value::Arr(docs).render());
    }
    status
}

/// `UNIT: …` when the generator did not run for the unit (see [`status::generator_misses`]).
fn generator_warnings(root: &Path, name: &str, systemd_version: Option<u32>) -> Vec<String> {
    status::generator_misses(root, Some(&[name.to_string()]), systemd_version)
        .into_iter()
        .map(|m| {
            format!(
                "{}: {}",
                m.unit,
                status::generator_not_run_text(&m.interface, &m.dropin)
            )
        })
        .collect()
}

fn at(source: &Option<Source>) -> String {
    source.as_ref().map_or("default".to_string(), |s| {
        format!("{}:{}", s.file.display(), s.line)
    })
}

fn timespan(t: &TimeSpan) -> String {
    match t {
        TimeSpan::Finite(d) => format!("{}s", d.as_secs_f64()),
        TimeSpan::Infinity => "infinity".to_string(),
    }
}

fn diagnostics(cfg: &UnitConfig) -> Vec<&Diagnostic> {
    let mut all: Vec<&Diagnostic> = cfg.loaded.diagnostics.iter().collect();
    all.extend(cfg.bind.diagnostics.iter());
    if let Ok(d) = &cfg.discovery {
        all.extend(d.diagnostics.iter());
    }
    all
}

/// The human form: one `Label: value` per line, files in application order; `extra` warnings
/// (the generator's) after the unit's own.
pub fn to_text(cfg: &UnitConfig, extra: &[String]) -> String {
    let b = &cfg.bind;
    let mut out = format!("Unit: {}\n", cfg.loaded.name);
    let frag = cfg.loaded.fragment.as_ref();
    out += &format!(
        "Fragment: {}\n",
        frag.map_or("(none)".to_string(), |f| f.display().to_string())
    );
    for (i, d) in cfg.loaded.dropins.iter().enumerate() {
        out += &format!(
            "{} {}\n",
            if i == 0 { "Drop-Ins:" } else { "         " },
            d.display()
        );
    }
    match &b.interface.value {
        Some(v) => {
            out += &format!(
                "BindNetworkInterface: {v} (from {})\n",
                at(&b.interface.source)
            )
        }
        None => out += "BindNetworkInterface: (not set)\n",
    }
    out += &format!(
        "Policy: {} (from {}), wait {} (from {}), verify {} (from {})\n",
        if b.fail_closed.value {
            "fail-closed"
        } else {
            "fail-open"
        },
        at(&b.fail_closed.source),
        timespan(&b.wait.value),
        at(&b.wait.source),
        if b.verify.value { "yes" } else { "no" },
        at(&b.verify.source),
    );
    match cfg.shown_command() {
        Ok((l, unexpanded)) => {
            let source = cfg
                .discovery
                .as_ref()
                .ok()
                .and_then(|d| d.commands.first())
                .map(|c| c.source.clone());
            out += &format!(
                "Command: {} (from {})\n",
                shell_words(&l.path.to_string_lossy(), &l.argv),
                at(&source)
            );
            if !unexpanded.is_empty() {
                out += &format!("Command-Note: {}\n", unexpanded_note(&unexpanded));
            }
        }
        Err(e) => out += &format!("Command: (none: {e})\n"),
    }
    for d in diagnostics(cfg) {
        out += &format!("Warning: {}\n", eval::format_diagnostic(d));
    }
    for w in extra {
        out += &format!("Warning: {w}\n");
    }
    out
}

/// Why some `$VAR`s are shown as written.
fn unexpanded_note(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("${n}")).collect();
    format!(
        "{} not set by Environment=, shown as written: systemd fills in at run time what \
         EnvironmentFile=, PassEnvironment= or the manager set, else an empty value",
        names.join(", ")
    )
}

/// `path` and argv as a reader would type them: argv[0] shown only when it differs.
fn shell_words(path: &str, argv: &[String]) -> String {
    let quote = |w: &str| {
        if !w.is_empty()
            && w.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/-_.=:@%+,".contains(&c))
        {
            w.to_string()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    let mut words = vec![quote(path)];
    if argv.first().map(String::as_str) != Some(path) {
        words.push(format!(
            "(argv[0]={})",
            quote(argv.first().map_or("", String::as_str))
        ));
    }
    words.extend(argv.iter().skip(1).map(|w| quote(w)));
    words.join(" ")
}

fn source_json(s: &Option<Source>) -> Value {
    match s {
        Some(s) => Value::obj(vec![
            ("file", Value::str(s.file.to_string_lossy())),
            ("line", Value::Num(s.line as i64)),
        ]),
        None => Value::Null,
    }
}

pub fn to_json(cfg: &UnitConfig, extra: &[String]) -> Value {
    let b = &cfg.bind;
    let command = match cfg.shown_command() {
        Ok((l, unexpanded)) => Value::obj(vec![
            ("path", Value::str(l.path.to_string_lossy())),
            (
                "argv",
                Value::Arr(l.argv.into_iter().map(Value::Str).collect()),
            ),
            (
                "unexpanded",
                Value::Arr(unexpanded.into_iter().map(Value::Str).collect()),
            ),
        ]),
        Err(e) => Value::obj(vec![("error", Value::str(e.to_string()))]),
    };
    Value::obj(vec![
        ("unit", Value::str(cfg.loaded.name.as_str())),
        (
            "fragment",
            Value::opt_str(
                cfg.loaded
                    .fragment
                    .as_ref()
                    .map(|f| f.to_string_lossy().into_owned()),
            ),
        ),
        (
            "dropins",
            Value::Arr(
                cfg.loaded
                    .dropins
                    .iter()
                    .map(|d| Value::str(d.to_string_lossy()))
                    .collect(),
            ),
        ),
        (
            "bind_network_interface",
            Value::obj(vec![
                ("value", Value::opt_str(b.interface.value.clone())),
                ("source", source_json(&b.interface.source)),
            ]),
        ),
        (
            "policy",
            Value::obj(vec![
                ("fail_closed", Value::Bool(b.fail_closed.value)),
                ("wait", Value::str(timespan(&b.wait.value))),
                ("verify", Value::Bool(b.verify.value)),
            ]),
        ),
        ("command", command),
        (
            "warnings",
            Value::Arr(
                diagnostics(cfg)
                    .into_iter()
                    .map(|d| Value::str(eval::format_diagnostic(d)))
                    .chain(extra.iter().map(|w| Value::str(w.as_str())))
                    .collect(),
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: show warns about a unit the generator did not reach, on systemd < 260 only, and
    /// not once the drop-in exists.
    #[test]
    fn warns_when_the_generator_did_not_run() {
        let root = std::env::temp_dir().join(format!("bindif-show-gen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let etc = root.join("etc/systemd/system");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("web.service"),
            "[Service]\nBindNetworkInterface=mgmt\nExecStart=/bin/true\n",
        )
        .unwrap();
        let warnings = generator_warnings(&root, "web.service", Some(252));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "web.service: BindNetworkInterface=mgmt is set, but bindif-launch-generator did \
                 not run for it (no /run/systemd/generator/web.service.d/zzzz-bindif-launch.conf)"
            ),
            "{warnings:?}"
        );
        let cfg = config::read_on(SearchPath::system(&root), "web.service", 252).unwrap();
        assert!(to_text(&cfg, &warnings).ends_with(&format!("Warning: {}\n", warnings[0])));
        let json = to_json(&cfg, &warnings).render();
        assert!(
            json.contains("\"warnings\":[\"web.service: BindNetworkInterface=mgmt"),
            "{json}"
        );
        assert!(generator_warnings(&root, "web.service", Some(260)).is_empty());
        let gen = root.join("run/systemd/generator/web.service.d");
        std::fs::create_dir_all(&gen).unwrap();
        std::fs::write(gen.join(crate::cmd::generator::DROPIN_NAME), "[Service]\n").unwrap();
        assert!(generator_warnings(&root, "web.service", Some(252)).is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }
}
