// SPDX-License-Identifier: LGPL-2.1-or-later
//! Recognising the command lines of the setups `adopt` replaces (pure): `ip [-n NS] vrf exec VRF
//! CMD…`, optionally with a user switch (`runuser -u`, `sudo -u`, `setpriv --reuid`) in front of
//! CMD. Anything outside these shapes is refused with a reason rather than guessed at: a wrong
//! rewrite would start a service with a different command or as a different user.

use crate::unit::words::split_command_line;

/// A recognised `ip vrf exec` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapper {
    /// The VRF word as written (may be a specifier such as `%i`).
    pub vrf: String,
    /// `ip -n NS`: the named network namespace the command ran in.
    pub netns: Option<String>,
    /// The user switch inside the wrapper, if any.
    pub switch: Option<UserSwitch>,
    /// The command the wrapper finally executes, as words.
    pub command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSwitch {
    /// `runuser`, `sudo` or `setpriv`.
    pub tool: String,
    pub user: String,
    pub group: Option<String>,
}

/// What one `Exec*=` value is, as far as `adopt` is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecLine {
    /// Not an `ip vrf exec` line at all.
    Other,
    Wrapper(Wrapper),
    /// It runs `ip vrf exec`, but not in a shape that can be rewritten safely: the reason.
    Unsafe(String),
}

/// The basename of a word, for recognising `ip`, `/sbin/ip`, `/usr/bin/runuser`, ….
fn base(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// Classifies an `Exec*=` value (prefixes included, as in the unit file).
pub fn classify(value: &str) -> ExecLine {
    let prefixes: String = value
        .chars()
        .take_while(|c| matches!(c, '-' | '@' | ':' | '+' | '!' | '|'))
        .collect();
    let raw = &value[prefixes.len()..];
    let Ok(words) = split_command_line(raw) else {
        return if raw.contains("vrf exec") {
            ExecLine::Unsafe(
                "the command line does not split into words (unbalanced quotes or bad escapes)"
                    .into(),
            )
        } else {
            ExecLine::Other
        };
    };
    let Some(first) = words.first() else {
        return ExecLine::Other;
    };
    if base(first) != "ip" {
        // `sh -c "ip vrf exec …"`, `env X=1 ip vrf exec …`, a script: the wrapper is not the
        // command itself, so removing it means rewriting a program we do not parse.
        return if words.iter().any(|w| w.contains("vrf exec"))
            || words.windows(2).any(|p| p[0] == "vrf" && p[1] == "exec")
        {
            ExecLine::Unsafe(format!(
                "`ip vrf exec` runs inside {}, not as the command itself",
                base(first)
            ))
        } else {
            ExecLine::Other
        };
    }
    let Some(vrf_at) = words
        .windows(2)
        .position(|p| p[0] == "vrf" && p[1] == "exec")
    else {
        return ExecLine::Other;
    };
    if prefixes.contains('@') {
        return ExecLine::Unsafe(
            "the @ prefix sets argv[0] of `ip`, not of the wrapped command".into(),
        );
    }
    if prefixes.contains('|') {
        return ExecLine::Unsafe("the | prefix runs the line through a shell".into());
    }
    let netns = match ip_options(&words[1..vrf_at]) {
        Ok(n) => n,
        Err(e) => return ExecLine::Unsafe(e),
    };
    let Some(vrf) = words.get(vrf_at + 2) else {
        return ExecLine::Unsafe("`ip vrf exec` without a VRF name".into());
    };
    let rest = &words[vrf_at + 3..];
    let (switch, command) = match user_switch(rest) {
        Ok(x) => x,
        Err(e) => return ExecLine::Unsafe(e),
    };
    if command.is_empty() {
        return ExecLine::Unsafe("`ip vrf exec` without a command".into());
    }
    ExecLine::Wrapper(Wrapper {
        vrf: vrf.clone(),
        netns,
        switch,
        command,
    })
}

/// The options between `ip` and `vrf exec`: only `-n NS`/`-netns NS` are understood.
fn ip_options(opts: &[String]) -> Result<Option<String>, String> {
    let mut netns = None;
    let mut i = 0;
    while i < opts.len() {
        match opts[i].as_str() {
            "-n" | "-netns" | "--netns" => {
                let ns = opts
                    .get(i + 1)
                    .ok_or_else(|| format!("`ip {}` without a namespace name", opts[i]))?;
                netns = Some(ns.clone());
                i += 2;
            }
            o => return Err(format!("`ip` option {o} is not understood")),
        }
    }
    Ok(netns)
}

/// Splits a user switch off the front of the wrapped command.
fn user_switch(words: &[String]) -> Result<(Option<UserSwitch>, Vec<String>), String> {
    let Some(first) = words.first() else {
        return Ok((None, Vec::new()));
    };
    let tool = base(first);
    let parsed = match tool {
        "runuser" | "sudo" => dash_u(tool, &words[1..])?,
        "setpriv" => setpriv(&words[1..])?,
        _ => return Ok((None, words.to_vec())),
    };
    let (user, group, command) = parsed;
    let user = user.ok_or_else(|| format!("{tool} without a user to switch to"))?;
    if command.is_empty() {
        return Err(format!("{tool} without a command"));
    }
    Ok((
        Some(UserSwitch {
            tool: tool.to_string(),
            user,
            group,
        }),
        command,
    ))
}

type Switched = (Option<String>, Option<String>, Vec<String>);

/// `runuser -u USER [--] CMD…` and `sudo -u USER [-g GROUP] [--] CMD…`. Every other option
/// (`-l`, `-c`, `-E`, `-s`, …) changes the environment or goes through a shell: refused.
fn dash_u(tool: &str, words: &[String]) -> Result<Switched, String> {
    let (mut user, mut group) = (None, None);
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "--" => return Ok((user, group, words[i + 1..].to_vec())),
            "-u" | "--user" => {
                user = Some(value_of(tool, w, words.get(i + 1))?);
                i += 2;
            }
            "-g" | "--group" => {
                group = Some(value_of(tool, w, words.get(i + 1))?);
                i += 2;
            }
            _ if w.starts_with("--user=") => {
                user = Some(w["--user=".len()..].to_string());
                i += 1;
            }
            _ if w.starts_with('-') => return Err(format!("{tool} option {w} is not understood")),
            _ => return Ok((user, group, words[i..].to_vec())),
        }
    }
    Ok((user, group, Vec::new()))
}

/// `setpriv --reuid=U [--regid=G] [--init-groups|--clear-groups] [--] CMD…`.
fn setpriv(words: &[String]) -> Result<Switched, String> {
    let (mut user, mut group) = (None, None);
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let (opt, inline) = match w.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v.to_string())),
            _ => (w, None),
        };
        match opt {
            "--" => return Ok((user, group, words[i + 1..].to_vec())),
            "--init-groups" | "--clear-groups" | "--keep-groups" => i += 1,
            "--reuid" | "--ruid" | "--regid" | "--rgid" => {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        value_of("setpriv", opt, words.get(i))?
                    }
                };
                if opt.contains("uid") {
                    user = Some(v);
                } else {
                    group = Some(v);
                }
                i += 1;
            }
            _ if w.starts_with('-') => return Err(format!("setpriv option {w} is not understood")),
            _ => return Ok((user, group, words[i..].to_vec())),
        }
    }
    Ok((user, group, Vec::new()))
}

fn value_of(tool: &str, opt: &str, v: Option<&String>) -> Result<String, String> {
    v.cloned()
        .ok_or_else(|| format!("{tool} {opt} without a value"))
}

/// One word as it must be written in an `Exec*=` line to split back into itself.
pub fn quote_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\' | ';'));
    if plain {
        return w.to_string();
    }
    let mut out = String::from("\"");
    for c in w.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Words back into a command line (see [`quote_word`]).
pub fn join_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| quote_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapper(v: &str) -> Wrapper {
        match classify(v) {
            ExecLine::Wrapper(w) => w,
            other => panic!("{v}: {other:?}"),
        }
    }

    fn unsafe_reason(v: &str) -> String {
        match classify(v) {
            ExecLine::Unsafe(r) => r,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn plain_and_netns_wrappers() {
        let w = wrapper("/bin/ip vrf exec mgmt /usr/sbin/x -d \"a b\"");
        assert_eq!(w.vrf, "mgmt");
        assert_eq!(w.netns, None);
        assert_eq!(w.switch, None);
        assert_eq!(w.command, vec!["/usr/sbin/x", "-d", "a b"]);
        assert_eq!(join_words(&w.command), "/usr/sbin/x -d \"a b\"");
        let w = wrapper("-ip -n blue vrf exec %i x");
        assert_eq!((w.vrf.as_str(), w.netns.as_deref()), ("%i", Some("blue")));
    }

    #[test]
    fn user_switches() {
        let w = wrapper("+/sbin/ip vrf exec mgmt /sbin/runuser -u svc -- /usr/bin/x");
        assert_eq!(
            w.switch,
            Some(UserSwitch {
                tool: "runuser".into(),
                user: "svc".into(),
                group: None
            })
        );
        assert_eq!(w.command, vec!["/usr/bin/x"]);
        let w = wrapper("ip vrf exec mgmt sudo -u svc -g grp x");
        assert_eq!(
            w.switch.as_ref().map(|s| s.group.clone()),
            Some(Some("grp".into()))
        );
        let w = wrapper("ip vrf exec mgmt setpriv --reuid=svc --regid svc --init-groups x -v");
        let s = w.switch.unwrap();
        assert_eq!((s.user.as_str(), s.group.as_deref()), ("svc", Some("svc")));
        assert_eq!(w.command, vec!["x", "-v"]);
    }

    #[test]
    fn unsafe_shapes_have_reasons() {
        assert!(unsafe_reason("/bin/sh -c 'ip vrf exec mgmt x'").contains("inside sh"));
        assert!(unsafe_reason("ip -4 vrf exec mgmt x").contains("-4"));
        assert!(unsafe_reason("ip vrf exec mgmt runuser -l svc -c x").contains("-l"));
        assert!(unsafe_reason("ip vrf exec mgmt sudo x").contains("without a user"));
        assert!(unsafe_reason("ip vrf exec mgmt").contains("without a command"));
        assert!(unsafe_reason("@ip x vrf exec mgmt y").contains("@"));
        assert_eq!(classify("/usr/sbin/x -d"), ExecLine::Other);
        assert_eq!(classify("ip link set up dev x"), ExecLine::Other);
    }
}
