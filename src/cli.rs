// SPDX-License-Identifier: LGPL-2.1-or-later
//! Command-line parsing (pure) and dispatch. Hand-written: the grammar is small, and the
//! launcher must not pay for a parser crate's start-up on every service start.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
bindif-launch [OPTIONS] UNIT [-- COMMAND [ARGUMENT...]]
bindif-launch [OPTIONS] --attach UNIT
bindif-launch [OPTIONS] --interface IFACE -- COMMAND [ARGUMENT...]
bindif-launch show [--root=DIR] [--json] UNIT...
bindif-launch status [--sockets] [--json] [UNIT...]
bindif-launch migrate [--root=DIR] [--json]

Bind every AF_INET/AF_INET6 socket of a unit (or of one command) to a network interface,
as systemd v260's BindNetworkInterface= does, then run the unit's command in place.

Modes:
  UNIT [-- COMMAND]        Attach the unit's BindNetworkInterface= to its cgroup and execute
                           its ExecStart= (or COMMAND) in place. For ExecStart=.
  --attach UNIT            Attach the binding to the unit's cgroup and exit.
                           For ExecStartPre=+ or ExecCondition=+.
  --interface IFACE -- COMMAND
                           Run COMMAND bound to IFACE (the `ip vrf exec` replacement).
  show UNIT...             Print the files, the effective BindNetworkInterface= and the
                           command the launcher would execute.
  status [UNIT...]         List the cgroups that carry a binding, the interface it binds
                           to and whether it is stale; exit 1 when something is wrong.
  migrate                  Print what to change in the unit files for systemd >= 260
                           (edits nothing).

Options:
  --fail-closed            Refuse to start when the binding cannot be set up
                           (default for --interface)
  --fail-open              Warn and run unbound when the binding cannot be set up
                           (default for units, as systemd v260)
  --wait=SECONDS           Wait up to SECONDS for the interface to appear
  --verify                 After attaching, check that a new socket carries the interface
  --notify-status          Send STATUS= naming the binding to $NOTIFY_SOCKET
  --root=DIR               Read unit files below DIR instead of /
  --sockets                List inet sockets of bound units that are not bound (status)
  --json                   Machine-readable output (show, status, migrate)
  --debug                  Log each step
  --timing                 Log how long each phase took, just before executing the command
  -h --help                Show this help
     --version             Show the version
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Attach to the unit's cgroup, then exec the discovered or explicit command.
    Unit {
        unit: String,
        command: Option<Vec<OsString>>,
    },
    Attach {
        unit: String,
    },
    AdHoc {
        interface: String,
        command: Vec<OsString>,
    },
    Show {
        units: Vec<String>,
    },
    Status {
        units: Vec<String>,
        sockets: bool,
    },
    Migrate,
    Help,
    Version,
}

/// Failure policy for one invocation; `None` fields defer to the unit's settings or the mode's
/// default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyArgs {
    pub fail_closed: Option<bool>,
    pub wait_secs: Option<f64>,
    pub verify: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub mode: Mode,
    pub policy: PolicyArgs,
    pub notify_status: bool,
    pub root: PathBuf,
    pub json: bool,
    pub debug: bool,
    pub timing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn usage_err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// Parses `--wait=` as seconds: a plain non-negative number, as `timeout(1)` accepts.
fn parse_wait(v: &str) -> Result<f64, UsageError> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => usage_err(format!("Invalid --wait= value, expected seconds: {v}")),
    }
}

struct Parser {
    args: std::vec::IntoIter<OsString>,
}

impl Parser {
    fn value(&mut self, opt: &str, inline: Option<&str>) -> Result<String, UsageError> {
        if let Some(v) = inline {
            return Ok(v.to_string());
        }
        match self.args.next() {
            Some(v) => v
                .into_string()
                .or_else(|_| usage_err(format!("{opt} needs a UTF-8 value"))),
            None => usage_err(format!("{opt} needs a value")),
        }
    }
}

/// `--root=DIR`. An empty value is refused: it would make every unit path relative to the
/// current directory (issue 13 #19).
fn parse_root(v: &str) -> Result<PathBuf, UsageError> {
    if v.is_empty() {
        return usage_err("--root= needs a directory, not an empty value");
    }
    Ok(PathBuf::from(v))
}

/// Parses the arguments after argv[0].
pub fn parse(argv: Vec<OsString>) -> Result<Args, UsageError> {
    let mut p = Parser {
        args: argv.into_iter(),
    };
    let mut a = Args {
        mode: Mode::Help,
        policy: PolicyArgs::default(),
        notify_status: false,
        root: PathBuf::from("/"),
        json: false,
        debug: false,
        timing: false,
    };
    let mut attach = false;
    let mut interface = None;
    let mut positional: Vec<String> = Vec::new();
    let mut command: Option<Vec<OsString>> = None;
    let mut show = false;
    let mut status = false;
    let mut migrate = false;
    let mut sockets = false;
    let mut help = false;
    let mut version = false;

    while let Some(arg) = p.args.next() {
        if arg == "--" {
            command = Some(p.args.by_ref().collect());
            break;
        }
        let s = arg
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| UsageError("Arguments before -- must be UTF-8".into()))?;
        let (opt, inline) = match s.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (s.clone(), None),
        };
        let inline = inline.as_deref();
        let flag = |name: &str| -> Result<(), UsageError> {
            if inline.is_some() {
                usage_err(format!("{name} takes no value"))
            } else {
                Ok(())
            }
        };
        match opt.as_str() {
            "-h" | "--help" => help = true,
            "--version" => version = true,
            "--attach" => {
                flag("--attach")?;
                attach = true
            }
            "--interface" | "-i" => interface = Some(p.value("--interface", inline)?),
            "--fail-closed" => {
                flag("--fail-closed")?;
                a.policy.fail_closed = Some(true)
            }
            "--fail-open" => {
                flag("--fail-open")?;
                a.policy.fail_closed = Some(false)
            }
            "--wait" => a.policy.wait_secs = Some(parse_wait(&p.value("--wait", inline)?)?),
            "--verify" => {
                flag("--verify")?;
                a.policy.verify = true
            }
            "--notify-status" => {
                flag("--notify-status")?;
                a.notify_status = true
            }
            "--root" => a.root = parse_root(&p.value("--root", inline)?)?,
            "--json" => {
                flag("--json")?;
                a.json = true
            }
            "--debug" => {
                flag("--debug")?;
                a.debug = true
            }
            "--timing" => {
                flag("--timing")?;
                a.timing = true
            }
            "--sockets" => {
                flag("--sockets")?;
                sockets = true
            }
            "show" | "status" | "migrate"
                if positional.is_empty()
                    && !show
                    && !status
                    && !migrate
                    && !attach
                    && interface.is_none() =>
            {
                show = opt == "show";
                status = opt == "status";
                migrate = opt == "migrate";
            }
            o if o.starts_with('-') && o.len() > 1 => {
                return usage_err(format!("Unknown option {o}"));
            }
            _ => positional.push(s),
        }
    }

    a.mode = if help {
        Mode::Help
    } else if version {
        Mode::Version
    } else if show {
        if command.is_some() || positional.is_empty() {
            return usage_err("show needs one or more unit names and no command");
        }
        Mode::Show { units: positional }
    } else if migrate {
        if command.is_some() || !positional.is_empty() {
            return usage_err("migrate takes no unit names and no command");
        }
        Mode::Migrate
    } else if status {
        if command.is_some() {
            return usage_err("status runs no command");
        }
        Mode::Status {
            units: positional,
            sockets,
        }
    } else if let Some(interface) = interface {
        if attach || !positional.is_empty() {
            return usage_err("--interface takes no unit name: use --interface IFACE -- COMMAND");
        }
        match command {
            Some(c) if !c.is_empty() => Mode::AdHoc {
                interface,
                command: c,
            },
            _ => return usage_err("--interface needs a command after --"),
        }
    } else {
        let unit = match positional.as_slice() {
            [u] => u.clone(),
            [] => return usage_err("Missing unit name (try --help)"),
            _ => return usage_err("Too many arguments; put the command after --"),
        };
        if attach {
            if command.is_some() {
                return usage_err("--attach runs no command; drop the part after --");
            }
            Mode::Attach { unit }
        } else {
            if matches!(&command, Some(c) if c.is_empty()) {
                return usage_err("Empty command after --");
            }
            Mode::Unit { unit, command }
        }
    };
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Args, UsageError> {
        parse(v.iter().map(OsString::from).collect())
    }

    #[test]
    fn unit_mode_with_and_without_command() {
        let a = p(&["sshd@mgmt.service"]).unwrap();
        assert_eq!(
            a.mode,
            Mode::Unit {
                unit: "sshd@mgmt.service".into(),
                command: None
            }
        );
        let a = p(&["--verify", "x.service", "--", "/usr/sbin/sshd", "-D", "--"]).unwrap();
        assert!(a.policy.verify);
        assert_eq!(
            a.mode,
            Mode::Unit {
                unit: "x.service".into(),
                command: Some(vec!["/usr/sbin/sshd".into(), "-D".into(), "--".into()])
            }
        );
    }

    #[test]
    fn attach_and_adhoc() {
        assert_eq!(
            p(&["--attach", "a.service"]).unwrap().mode,
            Mode::Attach {
                unit: "a.service".into()
            }
        );
        let a = p(&["--interface=mgmt", "--wait", "2.5", "--", "ping", "x"]).unwrap();
        assert_eq!(a.policy.wait_secs, Some(2.5));
        assert_eq!(
            a.mode,
            Mode::AdHoc {
                interface: "mgmt".into(),
                command: vec!["ping".into(), "x".into()]
            }
        );
    }

    #[test]
    fn show_and_policy_flags() {
        let a = p(&["show", "--json", "--root=/tmp/x", "a.service", "b.service"]).unwrap();
        assert!(a.json);
        assert_eq!(a.root, PathBuf::from("/tmp/x"));
        assert_eq!(
            a.mode,
            Mode::Show {
                units: vec!["a.service".into(), "b.service".into()]
            }
        );
        assert_eq!(
            p(&["--fail-closed", "a.service"])
                .unwrap()
                .policy
                .fail_closed,
            Some(true)
        );
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &[][..],
            &["--interface", "x"],
            &["--interface", "x", "--"],
            &["--attach", "a.service", "--", "true"],
            &["a.service", "b.service"],
            &["--bogus", "a.service"],
            &["--wait=soon", "a.service"],
            &["--wait=-1", "a.service"],
            &["--verify=yes", "a.service"],
            &["a.service", "--"],
            &["show"],
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(p(&["--help"]).unwrap().mode, Mode::Help);
        assert_eq!(p(&["--version", "x"]).unwrap().mode, Mode::Version);
    }
}
