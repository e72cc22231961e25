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

/// A command line that cannot be run; `Display` is the message, printed after the program name
/// before exiting with `exit::INVALIDARGUMENT`. One variant per rule broken, so a caller (or a
/// test) can tell the cases apart without matching on the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// An option this program does not know, as written.
    UnknownOption(String),
    /// An option that needs a value came last.
    MissingValue(&'static str),
    /// An option's value was not UTF-8.
    ValueNotUtf8(&'static str),
    /// A word before `--` was not UTF-8.
    ArgumentNotUtf8,
    /// A flag was given a value (`--verify=yes`).
    UnexpectedValue(&'static str),
    /// `--wait=` was not a number of seconds a timeout can hold.
    InvalidWait(String),
    ShowArguments,
    MigrateArguments,
    StatusCommand,
    InterfaceWithUnit,
    InterfaceWithoutCommand,
    MissingUnit,
    TooManyArguments,
    AttachWithCommand,
    EmptyCommand,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use UsageError::*;
        match self {
            UnknownOption(o) => write!(f, "Unknown option {o}"),
            MissingValue(o) => write!(f, "{o} needs a value"),
            ValueNotUtf8(o) => write!(f, "{o} needs a UTF-8 value"),
            ArgumentNotUtf8 => write!(f, "Arguments before -- must be UTF-8"),
            UnexpectedValue(o) => write!(f, "{o} takes no value"),
            InvalidWait(v) => write!(f, "Invalid --wait= value, expected seconds: {v}"),
            ShowArguments => write!(f, "show needs one or more unit names and no command"),
            MigrateArguments => write!(f, "migrate takes no unit names and no command"),
            StatusCommand => write!(f, "status runs no command"),
            InterfaceWithUnit => write!(
                f,
                "--interface takes no unit name: use --interface IFACE -- COMMAND"
            ),
            InterfaceWithoutCommand => write!(f, "--interface needs a command after --"),
            MissingUnit => write!(f, "Missing unit name (try --help)"),
            TooManyArguments => write!(f, "Too many arguments; put the command after --"),
            AttachWithCommand => {
                write!(f, "--attach runs no command; drop the part after --")
            }
            EmptyCommand => write!(f, "Empty command after --"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses `--wait=` as seconds: a plain non-negative number, as `timeout(1)` accepts.
fn parse_wait(v: &str) -> Result<f64, UsageError> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(UsageError::InvalidWait(v.to_string())),
    }
}

struct Parser {
    args: std::vec::IntoIter<OsString>,
}

impl Parser {
    fn value(&mut self, opt: &'static str, inline: Option<&str>) -> Result<String, UsageError> {
        if let Some(v) = inline {
            return Ok(v.to_string());
        }
        match self.args.next() {
            Some(v) => v.into_string().map_err(|_| UsageError::ValueNotUtf8(opt)),
            None => Err(UsageError::MissingValue(opt)),
        }
    }
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
            .ok_or(UsageError::ArgumentNotUtf8)?;
        let (opt, inline) = match s.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (s.clone(), None),
        };
        let inline = inline.as_deref();
        let flag = |name: &'static str| -> Result<(), UsageError> {
            if inline.is_some() {
                Err(UsageError::UnexpectedValue(name))
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
            "--root" => a.root = PathBuf::from(p.value("--root", inline)?),
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
                return Err(UsageError::UnknownOption(o.to_string()));
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
            return Err(UsageError::ShowArguments);
        }
        Mode::Show { units: positional }
    } else if migrate {
        if command.is_some() || !positional.is_empty() {
            return Err(UsageError::MigrateArguments);
        }
        Mode::Migrate
    } else if status {
        if command.is_some() {
            return Err(UsageError::StatusCommand);
        }
        Mode::Status {
            units: positional,
            sockets,
        }
    } else if let Some(interface) = interface {
        if attach || !positional.is_empty() {
            return Err(UsageError::InterfaceWithUnit);
        }
        match command {
            Some(c) if !c.is_empty() => Mode::AdHoc {
                interface,
                command: c,
            },
            _ => return Err(UsageError::InterfaceWithoutCommand),
        }
    } else {
        let unit = match positional.as_slice() {
            [u] => u.clone(),
            [] => return Err(UsageError::MissingUnit),
            _ => return Err(UsageError::TooManyArguments),
        };
        if attach {
            if command.is_some() {
                return Err(UsageError::AttachWithCommand);
            }
            Mode::Attach { unit }
        } else {
            if matches!(&command, Some(c) if c.is_empty()) {
                return Err(UsageError::EmptyCommand);
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
        use UsageError::*;
        let cases: &[(&[&str], UsageError, &str)] = &[
            (&[], MissingUnit, "Missing unit name (try --help)"),
            (
                &["--interface", "x"],
                InterfaceWithoutCommand,
                "--interface needs a command after --",
            ),
            (
                &["--interface", "x", "--"],
                InterfaceWithoutCommand,
                "--interface needs a command after --",
            ),
            (
                &["--interface", "x", "a.service", "--", "true"],
                InterfaceWithUnit,
                "--interface takes no unit name: use --interface IFACE -- COMMAND",
            ),
            (
                &["--attach", "a.service", "--", "true"],
                AttachWithCommand,
                "--attach runs no command; drop the part after --",
            ),
            (
                &["a.service", "b.service"],
                TooManyArguments,
                "Too many arguments; put the command after --",
            ),
            (
                &["--bogus", "a.service"],
                UnknownOption("--bogus".into()),
                "Unknown option --bogus",
            ),
            (
                &["--wait=soon", "a.service"],
                InvalidWait("soon".into()),
                "Invalid --wait= value, expected seconds: soon",
            ),
            (
                &["--wait=-1", "a.service"],
                InvalidWait("-1".into()),
                "Invalid --wait= value, expected seconds: -1",
            ),
            (&["--wait"], MissingValue("--wait"), "--wait needs a value"),
            (
                &["--verify=yes", "a.service"],
                UnexpectedValue("--verify"),
                "--verify takes no value",
            ),
            (&["a.service", "--"], EmptyCommand, "Empty command after --"),
            (
                &["show"],
                ShowArguments,
                "show needs one or more unit names and no command",
            ),
            (
                &["migrate", "a.service"],
                MigrateArguments,
                "migrate takes no unit names and no command",
            ),
            (
                &["status", "--", "true"],
                StatusCommand,
                "status runs no command",
            ),
        ];
        for (argv, error, message) in cases {
            let got = p(argv).expect_err(&format!("{argv:?} should be rejected"));
            assert_eq!(&got, error, "{argv:?}");
            assert_eq!(got.to_string(), *message, "{argv:?}");
        }
        assert_eq!(p(&["--help"]).unwrap().mode, Mode::Help);
        assert_eq!(p(&["--version", "x"]).unwrap().mode, Mode::Version);
    }

    #[test]
    fn non_utf8_words_are_usage_errors() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![b'a', 0xff]);
        let e = parse(vec![bad()]).unwrap_err();
        assert_eq!(e.to_string(), "Arguments before -- must be UTF-8");
        let e = parse(vec!["--interface".into(), bad()]).unwrap_err();
        assert_eq!(e.to_string(), "--interface needs a UTF-8 value");
    }
}
