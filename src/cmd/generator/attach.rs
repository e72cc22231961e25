// SPDX-License-Identifier: LGPL-2.1-or-later
//! The attach step's command line (pure): what this daemon-reload resolved for a unit, passed
//! on so the step run at every start reads no unit file, no `/proc/1/maps`, no host facts.
//!
//! `+/usr/lib/bindif-launch --attach --unit=%n --resolved=VALUE… [--fail-closed] [--wait=S] [--verify|--no-verify]`
//!
//! The unit goes in `--unit=`: a name that starts with `-` (`-.mount`, `-foo.service`) would
//! read as an option where `--attach %n` (the older, hand-written form) gives it as a word.
//!
//! Exactness. systemd v262 evaluates `BindNetworkInterface=` when it loads the unit, at a
//! daemon-reload, and keeps that value until the next one; the `Exec` line of the attach step is
//! loaded at that same moment. So a value resolved here is the one v262 would use, even when a
//! drop-in changed since. The running systemd expands the line itself: it splits the words
//! (unquoting, C escapes) first, then expands specifiers in each word, then `$VAR` at exec time.
//! A literal value is therefore written with `%` as `%%`, `$` as `$$` and quoted
//! ([`quote_word`]). Specifiers are expanded here, with two exceptions left for systemd to
//! expand in the line: `%i` and `%I` in a template or instance, whose value depends on the
//! instance started. Both mean the same in every systemd version and in an `Exec` word as in
//! v262's `BindNetworkInterface=` (`unit_full_printf()`, the instance as written or
//! unescaped). The other specifiers that depend on the instance (`%n`, `%N`, `%f`, `%d`, `%c`,
//! `%r`) in a template's value make the generator write the form without values, which reads
//! the unit at start as before: no template the tests or the examples know uses them.
//!
//! The value list: v262 keeps the last valid value since the last reset. Values that do not
//! depend on the instance are judged here (a later valid one makes every earlier one moot; an
//! invalid one is warned about here, once per reload, as PID 1 warns when it loads the unit);
//! values with `%i` are judged by the attach step for its instance. An empty `--resolved=`
//! stands for values already ignored here, so the list is never empty.

use std::time::Duration;

use super::quote::quote_word;
use super::LAUNCHER;
use crate::unit::eval::{self, TimeSpan, KEY_BIND};
use crate::unit::name;
use crate::unit::specifier::{self, SpecifierContext};
use crate::unit::{effective_list, Diagnostic, LoadedUnit, Source};

/// The attach step as a hand-written unit has it, and as the generator writes it when it cannot
/// resolve exactly (see the module's text): the step reads the unit at start.
pub fn reading_line() -> String {
    format!("+{LAUNCHER} --attach --unit=%n")
}

/// The attach step of one unit and what resolving it found to warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachStep {
    /// The `Exec` value, prefixes included.
    pub line: String,
    /// Warnings in systemd's words (invalid values, policy keys that do not parse).
    pub diagnostics: Vec<Diagnostic>,
}

/// One value of the list, as it goes on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// A valid interface name, literal.
    Valid(String),
    /// A value with `%i`/`%I` left for systemd, already escaped for an `Exec` word.
    PerInstance(String),
    /// Values ignored here.
    Ignored,
}

/// How one raw value goes on the line.
enum Form {
    Fixed,
    PerInstance(String),
    /// A specifier the line cannot carry exactly: write the form without values.
    CannotCarry,
}

/// Specifiers whose value depends on the instance, other than `%i`/`%I` (see the module text).
const INSTANCE_DEPENDENT: &[char] = &['n', 'N', 'f', 'd', 'c', 'r'];

/// Escapes literal text for an `Exec` word: `%` and `$` would otherwise be expanded.
fn escape_literal(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
}

/// Whether `raw` needs the instance, and then its text for the `Exec` word: `%i`/`%I` kept,
/// every other specifier expanded and escaped. `template`: the unit is the template itself
/// (loaded through the placeholder instance), whose instance-dependent specifiers are unknown.
fn form(raw: &str, template: bool, ctx: &SpecifierContext<'_>) -> Form {
    let mut out = String::new();
    let mut per_instance = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            escape_literal(&mut out, c.encode_utf8(&mut [0; 4]));
            continue;
        }
        match chars.next() {
            // A trailing `%` and `%%` are a literal `%` to both.
            None => out.push_str("%%"),
            Some('%') => out.push_str("%%"),
            Some(s @ ('i' | 'I')) => {
                out.push('%');
                out.push(s);
                per_instance = true;
            }
            Some(s) if template && INSTANCE_DEPENDENT.contains(&s) => return Form::CannotCarry,
            Some(s) if s.is_ascii_alphanumeric() => {
                match specifier::expand(&format!("%{s}"), ctx) {
                    Ok(v) => escape_literal(&mut out, &v),
                    // The whole value fails to expand, for every instance: judged as fixed.
                    Err(_) => return Form::Fixed,
                }
            }
            // `%` before anything else stays literal.
            Some(s) => {
                out.push_str("%%");
                escape_literal(&mut out, s.encode_utf8(&mut [0; 4]));
            }
        }
    }
    if per_instance {
        Form::PerInstance(out)
    } else {
        Form::Fixed
    }
}

/// `--wait=` for a finite `X-BindNetworkInterface-WaitSec=` value: seconds to the microsecond,
/// the precision of systemd's time spans.
fn wait_word(d: Duration) -> Option<String> {
    if d == Duration::ZERO {
        return None;
    }
    let micros = d.subsec_micros();
    Some(if micros == 0 {
        format!("--wait={}", d.as_secs())
    } else {
        let frac = format!("{micros:06}");
        format!("--wait={}.{}", d.as_secs(), frac.trim_end_matches('0'))
    })
}

/// The attach step of `u` (its cgroup settings in `section`), resolved with `ctx` (the unit's
/// specifier context: its name, fragment and the host's facts).
pub fn attach_step(u: &LoadedUnit, section: &str, ctx: &SpecifierContext<'_>) -> AttachStep {
    let per_instance_possible = name::instance(&u.name).is_some();
    let template = name::instance(&u.name) == Some(super::TEMPLATE_PLACEHOLDER);
    let mut values: Vec<Value> = Vec::new();
    let mut per_instance_sources: Vec<&Source> = Vec::new();
    for a in effective_list(u.values(section, KEY_BIND)) {
        let f = if per_instance_possible {
            form(&a.value, template, ctx)
        } else {
            Form::Fixed
        };
        match f {
            Form::CannotCarry => {
                return AttachStep {
                    line: reading_line(),
                    diagnostics: Vec::new(),
                }
            }
            Form::PerInstance(text) => {
                values.push(Value::PerInstance(text));
                per_instance_sources.push(&a.source);
            }
            Form::Fixed => {
                // A valid value makes every earlier one moot; an invalid one is warned about
                // below (`evaluate_bind` words it) and changes nothing.
                if let Ok(name) = eval::evaluate_bind_value(&a.value, ctx) {
                    values = vec![Value::Valid(name)];
                }
            }
        }
    }
    if values.is_empty() {
        values.push(Value::Ignored);
    }
    // The policy keys, and the warnings, as the attach step would have evaluated them; the
    // warnings about values left to the instance are the attach step's to give.
    let eval_ctx = eval::EvalContext::new(ctx.clone(), super::NATIVE_SINCE - 1);
    let bind = eval::evaluate_bind(u, &eval_ctx);
    // `--wait=` takes seconds only: `WaitSec=infinity` is left to the step that reads the unit.
    let TimeSpan::Finite(wait) = bind.wait.value else {
        return AttachStep {
            line: reading_line(),
            diagnostics: Vec::new(),
        };
    };
    let diagnostics = bind
        .diagnostics
        .into_iter()
        .filter(|d| {
            !d.source
                .as_ref()
                .is_some_and(|s| per_instance_sources.contains(&s))
        })
        .collect();
    let mut words = vec![
        format!("+{LAUNCHER}"),
        "--attach".into(),
        "--unit=%n".into(),
    ];
    for v in &values {
        words.push(match v {
            Value::Valid(name) => {
                let mut w = "--resolved=".to_string();
                escape_literal(&mut w, name);
                quote_word(&w)
            }
            Value::PerInstance(text) => quote_word(&format!("--resolved={text}")),
            Value::Ignored => "--resolved=".to_string(),
        });
    }
    if bind.fail_closed.value {
        words.push("--fail-closed".into());
    }
    words.extend(wait_word(wait));
    // Checked by default (issue 18 #3); the unit's own yes or no goes on the line.
    match (bind.verify.source.is_some(), bind.verify.value) {
        (true, true) => words.push("--verify".into()),
        (true, false) => words.push("--no-verify".into()),
        (false, _) => {}
    }
    AttachStep {
        line: words.join(" "),
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::env::expand_env_full;
    use crate::unit::exec::{parse_exec, ExecParseOptions};
    use crate::unit::specifier::HostFacts;
    use crate::unit::{Assignment, Source};
    use std::path::PathBuf;

    fn unit(name: &str, settings: &[(&str, &str)]) -> LoadedUnit {
        LoadedUnit {
            name: name.to_string(),
            fragment: Some(PathBuf::from("/etc/systemd/system/u.service")),
            assignments: settings
                .iter()
                .enumerate()
                .map(|(i, (k, v))| Assignment {
                    section: "Service".into(),
                    key: k.to_string(),
                    value: v.to_string(),
                    source: Source {
                        file: PathBuf::from("/etc/systemd/system/u.service").into(),
                        line: i + 2,
                    },
                })
                .collect(),
            ..LoadedUnit::default()
        }
    }

    fn facts() -> HostFacts {
        HostFacts {
            hostname: Some("host$1".into()),
            ..HostFacts::default()
        }
    }

    fn step(u: &LoadedUnit, host: &HostFacts) -> AttachStep {
        let ctx = SpecifierContext::new(&u.name, host);
        attach_step(u, "Service", &ctx)
    }

    /// What the attach step receives when systemd runs `line` for `instance_name`: the `Exec`
    /// parse (words, then specifiers per word), `$VAR` expansion at exec time with an
    /// environment that defines the names a careless escape would expose, then the launcher's
    /// own command line.
    fn received(line: &str, instance_name: &str, host: &HostFacts) -> crate::cli::Args {
        let ctx = SpecifierContext::new(instance_name, host);
        let parsed = parse_exec(line, &ctx, ExecParseOptions::default());
        assert_eq!(parsed.commands.len(), 1, "{line}: {:?}", parsed.messages);
        let env: Vec<(String, String)> = [("HOME", "/root"), ("X", "x"), ("b", "B")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv = expand_env_full(&parsed.commands[0].argv, &env).argv;
        crate::cli::parse(argv[1..].iter().map(Into::into).collect()).unwrap()
    }

    fn resolved_of(a: &crate::cli::Args) -> Vec<String> {
        match &a.mode {
            crate::cli::Mode::Attach { resolved, .. } => resolved.clone().unwrap(),
            m => panic!("not the attach mode: {m:?}"),
        }
    }

    /// Every character an interface name may hold comes back unchanged through systemd's
    /// quoting, specifier and `$VAR` rules.
    #[test]
    fn literal_values_survive_the_exec_line() {
        let host = facts();
        for name in [
            "mgmt",
            "a$b",
            "$HOME",
            "${X}y",
            "a$$",
            "q\"x",
            "b\\c",
            "s;t",
            "p'q",
            "{x}",
            "#h",
            "vrf-blue.10",
        ] {
            let u = unit("u.service", &[(KEY_BIND, name)]);
            let s = step(&u, &host);
            let a = received(&s.line, "u.service", &host);
            assert_eq!(resolved_of(&a), [name], "{name}: {}", s.line);
        }
    }

    /// Host specifiers are expanded by the generator (their value escaped), `%%` stays a `%`
    /// (then refused as a name, as v262 refuses it), and the instance's `%i`/`%I` are left to
    /// systemd: the attach step receives what v262 would evaluate for that instance.
    #[test]
    fn specifiers_as_v262_evaluates_them() {
        let host = facts();
        for (value, instance, want) in [
            ("vrf-%i", "x@blue.service", Some("vrf-blue")),
            ("%I", "x@a\\x2db.service", Some("a-b")),
            ("%i", "x@a\\x2db.service", Some("a\\x2db")),
            ("%H-%i", "x@e.service", Some("host$1-e")),
            ("%p.%i", "x@e.service", Some("x.e")),
            ("a%%b-%i", "x@e.service", None),
            ("%i", "x@.service", None),
        ] {
            let template = unit(
                "x@bindif-launch-generator-template.service",
                &[(KEY_BIND, value)],
            );
            let s = step(&template, &host);
            let a = received(&s.line, instance, &host);
            let got = resolved_of(&a);
            let picked = crate::cmd::launch::pick_resolved(&got).interface;
            // v262's own evaluation of the instance.
            let inst = unit(instance, &[(KEY_BIND, value)]);
            let spec = SpecifierContext::new(instance, &host);
            let v262 = eval::evaluate_bind(&inst, &eval::EvalContext::new(spec, 262));
            assert_eq!(picked, want, "{value} for {instance}: {}", s.line);
            assert_eq!(
                picked,
                v262.interface.value.as_deref(),
                "{value} for {instance}"
            );
        }
    }

    /// The last valid value wins: a valid fixed value makes earlier ones moot; an invalid fixed
    /// one is warned about here and leaves an empty `--resolved=` when nothing valid is left;
    /// values after it for the instance keep their order.
    #[test]
    fn value_list_and_policy_keys() {
        let host = facts();
        let u = unit(
            "x@bindif-launch-generator-template.service",
            &[
                (KEY_BIND, "%i-a"),
                (KEY_BIND, "mgmt"),
                (KEY_BIND, "%i"),
                (KEY_BIND, "bad/name"),
                (eval::KEY_FAIL_CLOSED, "yes"),
                (eval::KEY_WAIT, "1min 2.5s"),
                (eval::KEY_VERIFY, "true"),
            ],
        );
        let s = step(&u, &host);
        assert_eq!(
            s.line,
            "+/usr/lib/bindif-launch --attach --unit=%n --resolved=mgmt --resolved=%i --fail-closed --wait=62.5 --verify"
        );
        assert_eq!(s.diagnostics.len(), 1, "{:?}", s.diagnostics);
        assert!(s.diagnostics[0]
            .message
            .contains("Invalid interface name, ignoring: bad/name"));
        let a = received(&s.line, "x@e.service", &host);
        assert_eq!(a.policy.fail_closed, Some(true));
        assert_eq!(a.policy.wait, Some(Duration::from_millis(62_500)));
        assert_eq!(a.policy.verify, Some(true));

        let u = unit(
            "u.service",
            &[(KEY_BIND, "bad/name"), (eval::KEY_WAIT, "0.25")],
        );
        let s = step(&u, &host);
        assert_eq!(
            s.line,
            "+/usr/lib/bindif-launch --attach --unit=%n --resolved= --wait=0.25"
        );
        let a = received(&s.line, "u.service", &host);
        assert_eq!(
            crate::cmd::launch::pick_resolved(&resolved_of(&a)).interface,
            None
        );
        assert_eq!(a.policy.wait, Some(Duration::from_millis(250)));
        // The check the attach step makes by default, turned off by the unit.
        let u = unit("u.service", &[(KEY_BIND, "mgmt"), (eval::KEY_VERIFY, "no")]);
        let s = step(&u, &host);
        assert_eq!(
            s.line,
            "+/usr/lib/bindif-launch --attach --unit=%n --resolved=mgmt --no-verify"
        );
        assert_eq!(
            received(&s.line, "u.service", &host).policy.verify,
            Some(false)
        );
        // `--wait=` cannot say "infinity": that unit's step reads the unit at start.
        let u = unit(
            "u.service",
            &[(KEY_BIND, "mgmt"), (eval::KEY_WAIT, "infinity")],
        );
        assert_eq!(step(&u, &host).line, reading_line());
    }

    /// The launcher receives the unit's own name, whatever it starts with, from the
    /// resolved line and from the line that reads the unit at start alike.
    #[test]
    fn names_starting_with_a_dash_reach_the_attach_step() {
        let host = facts();
        for n in ["-foo.service", "--x.service", "-.service", "a-.service"] {
            let u = unit(n, &[(KEY_BIND, "mgmt")]);
            for line in [step(&u, &host).line, reading_line()] {
                match received(&line, n, &host).mode {
                    crate::cli::Mode::Attach { unit, .. } => assert_eq!(unit, n, "{line}"),
                    m => panic!("{line}: not the attach mode: {m:?}"),
                }
            }
        }
    }

    /// A template whose value needs an instance-dependent specifier the line cannot carry
    /// exactly gets the form that reads the unit at start; an instance's own value resolves.
    #[test]
    fn instance_dependent_specifiers_other_than_i() {
        let host = facts();
        let t = unit(
            "x@bindif-launch-generator-template.service",
            &[(KEY_BIND, "%N")],
        );
        assert_eq!(step(&t, &host).line, reading_line());
        let i = unit("x@e.service", &[(KEY_BIND, "%N")]);
        assert_eq!(
            step(&i, &host).line,
            "+/usr/lib/bindif-launch --attach --unit=%n --resolved=x@e"
        );
    }
}
