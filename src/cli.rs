// SPDX-License-Identifier: LGPL-2.1-or-later
//! Command-line parsing (pure): the launcher's modes and the generator's arguments, by one set
//! of rules. `lexopt` splits the words (`--opt value` and `--opt=value` alike, `-i value`,
//! `-ivalue`); the grammar on top of it is here. `lexopt` only tokenizes, allocates nothing
//! beyond the argument vector and has no dependencies, so a service start pays nothing for it.

use std::ffi::OsString;

use lexopt::Arg::{Long, Short, Value};
use std::path::PathBuf;
use std::time::Duration;

use crate::cgroup_path::Layout;
use crate::log;
use crate::unit::ifname;

pub const USAGE: &str = "\
bindif-launch [OPTIONS] UNIT [-- COMMAND [ARGUMENT...]]
bindif-launch [OPTIONS] --unit=UNIT [-- COMMAND [ARGUMENT...]]
bindif-launch [OPTIONS] -- UNIT [-- COMMAND [ARGUMENT...]]
bindif-launch [OPTIONS] --attach [--unit=UNIT | [--] UNIT]
bindif-launch [OPTIONS] --attach-slice SLICE
bindif-launch [OPTIONS] --interface IFACE -- COMMAND [ARGUMENT...]
bindif-launch [OPTIONS] --enter-service
bindif-launch [OPTIONS] --follow IFACE | --follow-gone IFACE
bindif-launch [--root=DIR] [--debug] --remove-leftovers
bindif-launch show [--root=DIR] [--json] [--] UNIT...
bindif-launch status [--sockets] [--json|--prometheus] [--] [UNIT...]
bindif-launch migrate [--root=DIR] [--json]
bindif-launch adopt [--root=DIR] [--json] [--write] [--systemd-version=N] [UNIT...]
bindif-launch identify [--verbose] [PID]
bindif-launch pids [--verbose] IFACE

Bind every AF_INET/AF_INET6 socket of a unit (or of one command) to a network interface,
as systemd v260's BindNetworkInterface= does, then run the unit's command in place.

Modes:
  UNIT [-- COMMAND]        Attach the unit's BindNetworkInterface= to its cgroup and execute
                           its ExecStart= (or COMMAND) in place. For ExecStart=.
  --attach UNIT            Attach the binding to the unit's cgroup and exit.
                           For ExecStartPre=+ or ExecCondition=+.
  --attach-slice SLICE     Attach the slice's BindNetworkInterface= to the slice's cgroup,
                           creating it if need be, and exit. For the generated
                           bindif-launch-slice@SLICE.service.
  --interface IFACE -- COMMAND
                           Run COMMAND bound to IFACE (the `ip vrf exec` replacement).
  --enter-service          Legacy cgroup hosts: move the processes of bound units that ask on
                           /run/bindif-launch/enter into their unit's prepared cgroup.
                           For bindif-launch-enter.service.
  --follow IFACE           Bind the running units that follow IFACE
                           (X-BindNetworkInterface-Follow=) to its ifindex now.
                           For the generated bindif-launch-follow@IFACE.service.
  --follow-gone IFACE      Log, once per bound unit that follows IFACE, that it is gone.
  --remove-leftovers       Legacy cgroup hosts: remove the empty mirror cgroups of ours and
                           unmount /run/bindif-launch/cgroup2 once nothing of ours is in it.
                           For the package's removal scripts.
  show UNIT...             Print the files, the effective BindNetworkInterface= and the
                           command the launcher would execute.
  status [UNIT...]         List the cgroups that carry a binding, the interface it binds
                           to and whether it is stale; exit 1 when something is wrong.
  migrate                  Print what to change in the unit files for systemd >= 260
                           (edits nothing).
  adopt [UNIT...]          Show how units bound with ip vrf exec, BPFProgram= pins or
                           generated wrappers become BindNetworkInterface= (--write does it).
  identify [PID]           Print the interface new sockets of PID (default: this process)
                           are bound to, nothing when unbound (as ip vrf identify).
  pids IFACE               List the processes whose new sockets are bound to IFACE
                           (as ip vrf pids).

Options:
  --fail-closed            Refuse to start when the binding cannot be set up
                           (default for --interface)
  --fail-open              Warn and run unbound when the binding cannot be set up
                           (default for units, as systemd v260)
  --wait=SECONDS           Wait up to SECONDS for the interface to appear
  --verify                 After attaching, a new socket must carry the interface, or fail
                           (by default this is checked, and a mismatch is an error that
                           fails only a fail-closed start)
  --no-verify              Do not check
  --unit=UNIT              Name the unit as an option's value, whatever it starts with
                           (-.mount, -foo.service): the form the generator writes
  --resolved=IFACE         With --attach: the unit's BindNetworkInterface= as
                           bindif-launch-generator resolved it at the last daemon-reload,
                           so the unit files are not read (repeated: the last valid name
                           wins; empty: a value the generator ignored)
  --notify-status          Send STATUS= naming the binding to $NOTIFY_SOCKET
  --root=DIR               Read unit files below DIR instead of /
  --cgroup-root=DIR        With --attach-slice: the cgroup2 directory that stands for the
                           root of the hierarchy (tests; default: the host's cgroup2 mount)
  --sockets                List inet sockets of bound units that are not bound (status)
  --json                   Machine-readable output (show, status, migrate)
  -v --verbose             With identify and pids: name the program and cgroup too
  --prometheus             node_exporter textfile collector output (status)
  --debug                  Log each step
  --timing                 Log how long each phase took, just before executing the command
  -h --help                Show this help
     --version             Show the version

An option's value follows = or comes as the next word: --wait=5 or --wait 5. The first --
ends the options; the command follows it once the unit is named. A unit name that starts
with - would read as an option: give it as --unit=-x.service (so in a unit file,
--unit=%n works for every name), or after the first -- with its command after a second --:
bindif-launch -- -x.service -- COMMAND.
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
        /// `--resolved=` values in order (`None`: not given, the unit's files are read).
        resolved: Option<Vec<String>>,
    },
    /// `--attach-slice SLICE`; `cgroup_root`: `--cgroup-root=DIR`.
    AttachSlice {
        slice: String,
        cgroup_root: Option<PathBuf>,
    },
    AdHoc {
        interface: String,
        command: Vec<OsString>,
    },
    /// `--enter-service`: serve the legacy hosts' enter FIFO (see `launch::enter`).
    EnterService,
    /// `--remove-leftovers`: what package removal leaves behind (see `launch::leftovers`).
    RemoveLeftovers,
    /// `--follow IFACE` (`gone`: `--follow-gone IFACE`), see `cmd::follow`.
    Follow {
        interface: String,
        gone: bool,
    },
    Show {
        units: Vec<String>,
    },
    Status {
        units: Vec<String>,
        sockets: bool,
        /// `--prometheus`: metrics instead of the table (wins over `--json`).
        prometheus: bool,
    },
    Migrate,
    Adopt(AdoptArgs),
    /// `identify [PID]`: the words after it, checked by the command itself, which answers a
    /// bad PID with iproute2's exit status rather than ours.
    Identify {
        words: Vec<String>,
        verbose: bool,
    },
    /// `pids IFACE`, likewise.
    Pids {
        words: Vec<String>,
        verbose: bool,
    },
    Help,
    Version,
}

/// Failure policy for one invocation; `None` fields defer to the unit's settings or the mode's
/// default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyArgs {
    pub fail_closed: Option<bool>,
    /// `--wait=`: how long to wait for the interface to appear.
    pub wait: Option<Duration>,
    /// `--verify` (`Some(true)`) or `--no-verify` (`Some(false)`); `None`: the unit's key, or
    /// the default check.
    pub verify: Option<bool>,
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

impl Args {
    /// `mode` with every option at its default (no policy, root `/`, no output flags).
    fn with_mode(mode: Mode) -> Args {
        Args {
            mode,
            policy: PolicyArgs::default(),
            notify_status: false,
            root: PathBuf::from("/"),
            json: false,
            debug: false,
            timing: false,
        }
    }
}

/// A command line that cannot be run; `Display` is the message, printed after the program name
/// before exiting with `exit::INVALIDARGUMENT`. One variant per rule broken, so a caller (or a
/// test) can tell the cases apart without matching on the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// An option this program does not know, as written.
    UnknownOption(String),
    /// An option that needs a value came last.
    MissingValue(String),
    /// An option's value was not UTF-8.
    ValueNotUtf8(String),
    /// A word before `--` was not UTF-8.
    ArgumentNotUtf8,
    /// A unit name given after `--` was not UTF-8.
    UnitNotUtf8,
    /// A flag was given a value (`--verify=yes`).
    UnexpectedValue(String),
    /// `--wait=` was not a number of seconds a timeout can hold.
    InvalidWait(String),
    ShowArguments,
    MigrateArguments,
    InterfaceWithUnit,
    InterfaceWithoutCommand,
    MissingUnit,
    TooManyArguments,
    AttachWithCommand,
    /// `--attach-slice` with another mode, a unit name or a command.
    AttachSliceArguments,
    /// `--cgroup-root=` without `--attach-slice`.
    CgroupRootWithoutSlice,
    /// `--enter-service` with another mode, a unit name or a command.
    EnterServiceArguments,
    /// `--follow`/`--follow-gone` with another mode, a unit name or a command.
    FollowArguments,
    /// `--remove-leftovers` with another mode, a unit name or a command.
    RemoveLeftoversArguments,
    /// `--resolved=` without `--attach`.
    ResolvedWithoutAttach,
    EmptyCommand,
    /// The generator's `--systemd-version=` was not a version number.
    InvalidSystemdVersion(String),
    /// The generator's `--layout=` was not one it knows.
    InvalidLayout(String),
    /// The generator was not given one to three output directories.
    GeneratorDirectories,
    /// A unit name with a control character: never a valid name, and it would reach messages.
    InvalidUnitName(String),
    /// `--interface=` that the kernel would not accept as a name (`ifname::valid_alternative`).
    InvalidInterfaceName(String),
    /// `--root=` empty (it would read the current directory's tree) or with a control character.
    InvalidRoot(String),
}

/// Every value in a usage error came from argv: a newline in it must not forge a second log line.
fn escape(s: &str) -> String {
    log::escape_control(s)
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use UsageError::*;
        match self {
            UnknownOption(o) => write!(f, "Unknown option {}", escape(o)),
            MissingValue(o) => write!(f, "{} needs a value", escape(o)),
            ValueNotUtf8(o) => write!(f, "{} needs a UTF-8 value", escape(o)),
            ArgumentNotUtf8 => write!(f, "Arguments before -- must be UTF-8"),
            UnitNotUtf8 => write!(f, "Unit names must be UTF-8"),
            UnexpectedValue(o) => write!(f, "{} takes no value", escape(o)),
            InvalidWait(v) => write!(f, "Invalid --wait= value, expected seconds: {}", escape(v)),
            ShowArguments => write!(f, "show needs one or more unit names and no command"),
            MigrateArguments => write!(f, "migrate takes no unit names and no command"),
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
            AttachSliceArguments => write!(
                f,
                "--attach-slice takes one slice name and no unit, --attach, --interface or command"
            ),
            CgroupRootWithoutSlice => write!(f, "--cgroup-root= only applies to --attach-slice"),
            EnterServiceArguments => write!(
                f,
                "--enter-service takes no unit, --attach, --attach-slice, --interface or command"
            ),
            FollowArguments => write!(
                f,
                "--follow and --follow-gone take one interface name and no unit, other mode or command"
            ),
            RemoveLeftoversArguments => write!(
                f,
                "--remove-leftovers takes no unit, other mode or command"
            ),
            ResolvedWithoutAttach => write!(f, "--resolved= only applies to --attach"),
            EmptyCommand => write!(f, "Empty command after --"),
            InvalidSystemdVersion(v) => write!(
                f,
                "Invalid --systemd-version= value, expected a version number: {}",
                escape(v)
            ),
            InvalidLayout(v) => write!(
                f,
                "Invalid --layout= value, expected unified, hybrid or legacy: {}",
                escape(v)
            ),
            GeneratorDirectories => write!(f, "Expected NORMAL_DIR [EARLY_DIR LATE_DIR]"),
            InvalidUnitName(n) => write!(f, "Invalid unit name \"{}\"", escape(n)),
            InvalidInterfaceName(n) => write!(f, "Invalid interface name: {}", escape(n)),
            InvalidRoot(d) => write!(
                f,
                "Invalid --root= value, expected a directory: \"{}\"",
                escape(d)
            ),
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses `--wait=` as seconds: a plain non-negative number, as `timeout(1)` accepts, that a
/// `Duration` can hold. NaN, infinities, negatives and values past `u64::MAX` seconds (`1e20`)
/// are usage errors here rather than a panic in `Duration::from_secs_f64` later.
fn parse_wait(v: &str) -> Result<Duration, UsageError> {
    v.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| UsageError::InvalidWait(v.to_string()))
}

/// A lexopt error as a usage error. Only the errors `parse` does not pre-empt reach here: a flag
/// given a value (`--verify=yes`, `-h=x`) and a missing value.
fn lexopt_error(e: lexopt::Error) -> UsageError {
    match e {
        lexopt::Error::UnexpectedValue { option, .. } => UsageError::UnexpectedValue(option),
        lexopt::Error::MissingValue { option } => {
            UsageError::MissingValue(option.unwrap_or_default())
        }
        lexopt::Error::UnexpectedOption(o) => UsageError::UnknownOption(o),
        other => UsageError::UnknownOption(other.to_string()),
    }
}

/// The value of option `name` (`--name=V`, `--name V`, `-xV`, `-x V`), as UTF-8.
fn string_value(p: &mut lexopt::Parser, name: &str) -> Result<String, UsageError> {
    let v = p
        .value()
        .map_err(|_| UsageError::MissingValue(name.to_string()))?;
    v.into_string()
        .map_err(|_| UsageError::ValueNotUtf8(name.to_string()))
}

/// `--systemd-version=N` (the generator's and adopt's): a version number.
fn systemd_version(p: &mut lexopt::Parser) -> Result<u32, UsageError> {
    let v = string_value(p, "--systemd-version")?;
    v.parse().map_err(|_| UsageError::InvalidSystemdVersion(v))
}

/// A long flag, which must not carry a value: `true` once it was given as it should be.
fn flag(p: &mut lexopt::Parser, name: &str) -> Result<bool, UsageError> {
    no_value(p, name).map(|()| true)
}

/// A long flag must not carry a value: `--verify=yes` is an error, not `--verify`.
fn no_value(p: &mut lexopt::Parser, name: &str) -> Result<(), UsageError> {
    match p.optional_value() {
        Some(_) => Err(UsageError::UnexpectedValue(name.to_string())),
        None => Ok(()),
    }
}

/// Consumes a `--` that stands as the next whole word. lexopt would swallow it and go on
/// returning plain values; the grammar needs to know where it stood.
fn take_double_dash(p: &mut lexopt::Parser) -> bool {
    p.try_raw_args()
        .is_some_and(|mut raw| raw.next_if(|w| w == "--").is_some())
}

/// Everything left on the command line, unparsed (the command after `--`).
fn rest(p: &mut lexopt::Parser) -> Vec<OsString> {
    p.try_raw_args().map(Iterator::collect).unwrap_or_default()
}

/// The words `parse` collects before it decides the mode.
#[derive(Default)]
struct Words {
    attach: bool,
    resolved: Option<Vec<String>>,
    attach_slice: Option<String>,
    enter_service: bool,
    remove_leftovers: bool,
    /// `--follow IFACE` / `--follow-gone IFACE`: the interface and whether it is gone; a
    /// second one is an error, so each is counted.
    follow: Vec<(String, bool)>,
    cgroup_root: Option<PathBuf>,
    interface: Option<String>,
    subcommand: Option<&'static str>,
    positional: Vec<String>,
    command: Option<Vec<OsString>>,
    sockets: bool,
    prometheus: bool,
    help: bool,
    version: bool,
}

/// Sorts the words after the first `--`. The options have all been read, so the mode is known:
/// `show` and `status` take unit names; `--interface`, or a unit named before `--` (a word or
/// `--unit=`), take the command; otherwise (unit or `--attach` mode) the unit comes first, so that a name starting
/// with `-` can be given, and a second `--` introduces the command. No word after `--` is ever
/// an option or a subcommand, and `UNIT -- COMMAND` keeps its meaning.
fn after_double_dash(rest: Vec<OsString>, w: &mut Words) -> Result<(), UsageError> {
    let lists_units = matches!(w.subcommand, Some("show" | "status"));
    let unit_follows = w.subcommand.is_none()
        && w.interface.is_none()
        && w.attach_slice.is_none()
        && w.positional.is_empty();
    if !lists_units && !unit_follows {
        w.command = Some(rest);
        return Ok(());
    }
    let mut words = rest.into_iter();
    while let Some(word) = words.next() {
        if unit_follows && word == "--" {
            w.command = Some(words.collect());
            break;
        }
        w.positional
            .push(word.into_string().map_err(|_| UsageError::UnitNotUtf8)?);
    }
    Ok(())
}

/// Parses the arguments after argv[0].
pub fn parse(argv: Vec<OsString>) -> Result<Args, UsageError> {
    if argv.first().is_some_and(|a| a == "adopt") {
        return parse_adopt(&argv[1..]);
    }
    if let Some(pids) = argv.first().and_then(|a| match a.to_str() {
        Some("identify") => Some(false),
        Some("pids") => Some(true),
        _ => None,
    }) {
        return parse_identify(&argv[1..], pids);
    }
    let mut p = lexopt::Parser::from_args(argv);
    let mut a = Args::with_mode(Mode::Help);
    let mut w = Words::default();
    loop {
        if take_double_dash(&mut p) {
            after_double_dash(rest(&mut p), &mut w)?;
            break;
        }
        let Some(arg) = p.next().map_err(lexopt_error)? else {
            break;
        };
        match arg {
            Short('h') => w.help = true,
            Long("help") => w.help = flag(&mut p, "--help")?,
            Long("version") => w.version = flag(&mut p, "--version")?,
            Long("attach") => w.attach = flag(&mut p, "--attach")?,
            // The unit as an option's value: a name that starts with `-` (`-.mount`,
            // `--x.service` and `systemd-escape`'s `-foo.service` are valid) is never read as
            // an option, and `--` then introduces the command. Counted with the other names.
            Long("unit") => w.positional.push(string_value(&mut p, "--unit")?),
            Long("resolved") => w
                .resolved
                .get_or_insert_with(Vec::new)
                .push(string_value(&mut p, "--resolved")?),
            Long("attach-slice") => w.attach_slice = Some(string_value(&mut p, "--attach-slice")?),
            Long("enter-service") => w.enter_service = flag(&mut p, "--enter-service")?,
            Long("remove-leftovers") => w.remove_leftovers = flag(&mut p, "--remove-leftovers")?,
            Long(o @ ("follow" | "follow-gone")) => {
                let gone = o == "follow-gone";
                let opt = if gone { "--follow-gone" } else { "--follow" };
                let name = check_interface(string_value(&mut p, opt)?)?;
                w.follow.push((name, gone));
            }
            Long("cgroup-root") => {
                w.cgroup_root = Some(check_root(string_value(&mut p, "--cgroup-root")?)?)
            }
            Short('i') | Long("interface") => {
                w.interface = Some(check_interface(string_value(&mut p, "--interface")?)?)
            }
            Long("fail-closed") => a.policy.fail_closed = Some(flag(&mut p, "--fail-closed")?),
            Long("fail-open") => a.policy.fail_closed = Some(!flag(&mut p, "--fail-open")?),
            Long("wait") => a.policy.wait = Some(parse_wait(&string_value(&mut p, "--wait")?)?),
            Long("verify") => a.policy.verify = Some(flag(&mut p, "--verify")?),
            Long("no-verify") => a.policy.verify = Some(!flag(&mut p, "--no-verify")?),
            Long("notify-status") => a.notify_status = flag(&mut p, "--notify-status")?,
            Long("root") => a.root = check_root(string_value(&mut p, "--root")?)?,
            Long("json") => a.json = flag(&mut p, "--json")?,
            Long("debug") => a.debug = flag(&mut p, "--debug")?,
            Long("timing") => a.timing = flag(&mut p, "--timing")?,
            Long("sockets") => w.sockets = flag(&mut p, "--sockets")?,
            Long("prometheus") => w.prometheus = flag(&mut p, "--prometheus")?,
            Value(v) => {
                let word = v.into_string().map_err(|_| UsageError::ArgumentNotUtf8)?;
                // The first word names a subcommand, unless a mode option came before it.
                let sub = ["show", "status", "migrate"]
                    .into_iter()
                    .find(|s| *s == word);
                match sub {
                    Some(s)
                        if w.positional.is_empty()
                            && w.subcommand.is_none()
                            && !w.attach
                            && w.attach_slice.is_none()
                            && w.interface.is_none() =>
                    {
                        w.subcommand = Some(s)
                    }
                    _ => w.positional.push(word),
                }
            }
            other => return Err(lexopt_error(other.unexpected())),
        }
    }
    a.mode = mode(w)?;
    Ok(a)
}

/// Refuses a unit name with a control character. Only that: the loader judges everything else
/// about a name and says so in its own words ("Unit name … is not valid.").
fn check_unit(name: &str) -> Result<(), UsageError> {
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err(UsageError::InvalidUnitName(name.to_string()));
    }
    Ok(())
}

/// `--root=` must name a directory: an empty value would read the current directory's tree.
fn check_root(root: String) -> Result<PathBuf, UsageError> {
    if root.is_empty() || root.chars().any(|c| c.is_ascii_control()) {
        return Err(UsageError::InvalidRoot(root));
    }
    Ok(PathBuf::from(root))
}

fn check_interface(name: String) -> Result<String, UsageError> {
    if !ifname::valid_alternative(&name) {
        return Err(UsageError::InvalidInterfaceName(name));
    }
    Ok(name)
}

/// Decides the mode from the collected words, or says which rule they break.
fn mode(w: Words) -> Result<Mode, UsageError> {
    let Words {
        attach,
        resolved,
        attach_slice,
        enter_service,
        remove_leftovers,
        follow,
        cgroup_root,
        interface,
        subcommand,
        positional,
        command,
        sockets,
        prometheus,
        help,
        version,
    } = w;
    if !help && !version {
        positional.iter().try_for_each(|u| check_unit(u))?;
    }
    if cgroup_root.is_some() && attach_slice.is_none() && !help && !version {
        return Err(UsageError::CgroupRootWithoutSlice);
    }
    if resolved.is_some() && !attach && !help && !version {
        return Err(UsageError::ResolvedWithoutAttach);
    }
    Ok(if help {
        Mode::Help
    } else if version {
        Mode::Version
    } else if remove_leftovers {
        if enter_service
            || !follow.is_empty()
            || attach
            || attach_slice.is_some()
            || interface.is_some()
            || subcommand.is_some()
            || !positional.is_empty()
            || command.is_some()
        {
            return Err(UsageError::RemoveLeftoversArguments);
        }
        Mode::RemoveLeftovers
    } else if !follow.is_empty() {
        let others = enter_service
            || attach
            || attach_slice.is_some()
            || interface.is_some()
            || subcommand.is_some()
            || !positional.is_empty()
            || command.is_some();
        match <[_; 1]>::try_from(follow) {
            Ok([(interface, gone)]) if !others => Mode::Follow { interface, gone },
            _ => return Err(UsageError::FollowArguments),
        }
    } else if enter_service {
        if attach
            || attach_slice.is_some()
            || interface.is_some()
            || subcommand.is_some()
            || !positional.is_empty()
            || command.is_some()
        {
            return Err(UsageError::EnterServiceArguments);
        }
        Mode::EnterService
    } else if let Some(slice) = attach_slice {
        if attach
            || interface.is_some()
            || subcommand.is_some()
            || !positional.is_empty()
            || command.is_some()
        {
            return Err(UsageError::AttachSliceArguments);
        }
        check_unit(&slice)?;
        Mode::AttachSlice { slice, cgroup_root }
    } else if subcommand == Some("show") {
        // After `--` show and status read unit names (`after_double_dash`), never a command.
        if positional.is_empty() {
            return Err(UsageError::ShowArguments);
        }
        Mode::Show { units: positional }
    } else if subcommand == Some("migrate") {
        if command.is_some() || !positional.is_empty() {
            return Err(UsageError::MigrateArguments);
        }
        Mode::Migrate
    } else if subcommand == Some("status") {
        Mode::Status {
            units: positional,
            sockets,
            prometheus,
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
            Mode::Attach { unit, resolved }
        } else {
            if matches!(&command, Some(c) if c.is_empty()) {
                return Err(UsageError::EmptyCommand);
            }
            Mode::Unit { unit, command }
        }
    })
}

/// `adopt`'s command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptArgs {
    /// `--root=DIR`: read (and with `--write`, write) unit files below DIR.
    pub root: PathBuf,
    pub json: bool,
    /// `--write`: write the new drop-ins and move the old overrides aside.
    pub write: bool,
    /// `--systemd-version=N`; otherwise the running systemd's when the root is `/`.
    pub systemd_version: Option<u32>,
    /// Only these units (or the templates they are instances of).
    pub units: Vec<String>,
}

/// The generator's command line. systemd runs a generator as `NAME NORMAL_DIR EARLY_DIR
/// LATE_DIR`; `bindif-launch generate [OPTIONS] NORMAL_DIR` is the same run for tests and
/// for trying it out, with the options that replace what the generator would detect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorArgs {
    /// Run by systemd as the installed generator, not as `bindif-launch generate`: log to
    /// `/dev/kmsg`, as there is no journal yet.
    pub as_generator: bool,
    /// `--root=DIR`: read unit files below DIR.
    pub root: PathBuf,
    /// Where drop-ins are written; the only directory used.
    pub normal_dir: PathBuf,
    /// systemd's early and late directories, passed along but never written to.
    pub early_dir: Option<PathBuf>,
    pub late_dir: Option<PathBuf>,
    /// `--systemd-version=N`; `None`: ask the running systemd.
    pub systemd_version: Option<u32>,
    /// `--layout=unified|hybrid|legacy`; `None`: detect the cgroup layout.
    pub layout: Option<Layout>,
    /// `--debug`. `$SYSTEMD_LOG_LEVEL` is the caller's to add: parsing reads no environment.
    pub debug: bool,
}

fn parse_layout(v: &str) -> Result<Layout, UsageError> {
    Ok(match v {
        "unified" => Layout::Unified {
            mount: PathBuf::from("/sys/fs/cgroup"),
        },
        "hybrid" => Layout::Hybrid {
            mount: PathBuf::from("/sys/fs/cgroup/unified"),
        },
        "legacy" => Layout::Legacy,
        _ => return Err(UsageError::InvalidLayout(v.to_string())),
    })
}

/// Parses the generator's whole argv (argv[0] included: it tells the two forms apart) by the
/// same rules as [`parse`]: `--opt=value` or `--opt value`, `--` ends the options.
pub fn parse_generator(argv: Vec<OsString>) -> Result<GeneratorArgs, UsageError> {
    let as_generator = argv.get(1).map_or(true, |a| a != "generate");
    let skip = if as_generator { 1 } else { 2 };
    let mut p = lexopt::Parser::from_args(argv.into_iter().skip(skip));
    let mut g = GeneratorArgs {
        as_generator,
        root: PathBuf::from("/"),
        normal_dir: PathBuf::new(),
        early_dir: None,
        late_dir: None,
        systemd_version: None,
        layout: None,
        debug: false,
    };
    let mut dirs = Vec::new();
    loop {
        if take_double_dash(&mut p) {
            for d in rest(&mut p) {
                dirs.push(d.into_string().map_err(|_| UsageError::ArgumentNotUtf8)?);
            }
            break;
        }
        let Some(arg) = p.next().map_err(lexopt_error)? else {
            break;
        };
        match arg {
            Long("root") => g.root = check_root(string_value(&mut p, "--root")?)?,
            Long("systemd-version") => g.systemd_version = Some(systemd_version(&mut p)?),
            Long("layout") => g.layout = Some(parse_layout(&string_value(&mut p, "--layout")?)?),
            Long("debug") => g.debug = flag(&mut p, "--debug")?,
            Value(v) => dirs.push(v.into_string().map_err(|_| UsageError::ArgumentNotUtf8)?),
            other => return Err(lexopt_error(other.unexpected())),
        }
    }
    let mut dirs = dirs.into_iter().map(PathBuf::from);
    g.normal_dir = dirs.next().ok_or(UsageError::GeneratorDirectories)?;
    g.early_dir = dirs.next();
    g.late_dir = dirs.next();
    if dirs.next().is_some() {
        return Err(UsageError::GeneratorDirectories);
    }
    Ok(g)
}

/// `adopt [--root=DIR] [--json] [--write] [--systemd-version=N] [UNIT...]`: its own small
/// grammar, all options after the word `adopt`.
fn parse_adopt(argv: &[OsString]) -> Result<Args, UsageError> {
    let mut o = AdoptArgs {
        root: PathBuf::from("/"),
        json: false,
        write: false,
        systemd_version: None,
        units: Vec::new(),
    };
    let mut p = lexopt::Parser::from_args(argv.iter().cloned());
    loop {
        if take_double_dash(&mut p) {
            for u in rest(&mut p) {
                o.units.push(unit_word(u)?);
            }
            break;
        }
        let Some(arg) = p.next().map_err(lexopt_error)? else {
            break;
        };
        match arg {
            Long("root") => o.root = check_root(string_value(&mut p, "--root")?)?,
            Long("systemd-version") => o.systemd_version = Some(systemd_version(&mut p)?),
            Long("json") => o.json = flag(&mut p, "--json")?,
            Long("write") => o.write = flag(&mut p, "--write")?,
            Value(v) => o.units.push(unit_word(v)?),
            other => return Err(lexopt_error(other.unexpected())),
        }
    }
    Ok(Args::with_mode(Mode::Adopt(o)))
}

/// `identify [-v|--verbose] [PID]` and `pids [-v|--verbose] IFACE`: the options after the
/// word; the other words are left to the command, which checks them as iproute2 does.
fn parse_identify(argv: &[OsString], pids: bool) -> Result<Args, UsageError> {
    let mut words = Vec::new();
    let mut verbose = false;
    let mut p = lexopt::Parser::from_args(argv.iter().cloned());
    let word = |w: OsString| w.into_string().map_err(|_| UsageError::ArgumentNotUtf8);
    loop {
        if take_double_dash(&mut p) {
            for w in rest(&mut p) {
                words.push(word(w)?);
            }
            break;
        }
        let Some(arg) = p.next().map_err(lexopt_error)? else {
            break;
        };
        match arg {
            Short('v') => verbose = true,
            Long("verbose") => verbose = flag(&mut p, "--verbose")?,
            Value(v) => words.push(word(v)?),
            other => return Err(lexopt_error(other.unexpected())),
        }
    }
    Ok(Args::with_mode(if pids {
        Mode::Pids { words, verbose }
    } else {
        Mode::Identify { words, verbose }
    }))
}

/// A unit name from the command line: UTF-8 and free of control characters.
fn unit_word(w: OsString) -> Result<String, UsageError> {
    let u = w.into_string().map_err(|_| UsageError::UnitNotUtf8)?;
    check_unit(&u)?;
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Args, UsageError> {
        parse(v.iter().map(OsString::from).collect())
    }

    #[test]
    fn follow_takes_one_interface_and_nothing_else() {
        let follow = |i: &str, gone| Mode::Follow {
            interface: i.into(),
            gone,
        };
        assert_eq!(
            p(&["--follow", "mgmt"]).unwrap().mode,
            follow("mgmt", false)
        );
        assert_eq!(
            p(&["--follow-gone=mgmt"]).unwrap().mode,
            follow("mgmt", true)
        );
        for bad in [
            &["--follow", "mgmt", "--follow-gone", "mgmt"][..],
            &["--follow", "mgmt", "x.service"],
            &["--follow", "mgmt", "--attach", "x.service"],
            &["--follow", "mgmt", "--enter-service"],
            &["--follow", "mgmt", "-i", "lo", "--", "true"],
            &["--follow", "mgmt", "--", "true"],
            &["--follow", "mgmt", "status"],
        ] {
            assert_eq!(p(bad), Err(UsageError::FollowArguments), "{bad:?}");
        }
        assert_eq!(
            p(&["--follow", "a/b"]),
            Err(UsageError::InvalidInterfaceName("a/b".into()))
        );
        assert_eq!(
            p(&["--follow"]),
            Err(UsageError::MissingValue("--follow".into()))
        );
    }

    #[test]
    fn remove_leftovers_takes_only_root_and_debug() {
        let a = p(&["--root=/tmp/r", "--debug", "--remove-leftovers"]).unwrap();
        assert_eq!(a.mode, Mode::RemoveLeftovers);
        assert_eq!(a.root, PathBuf::from("/tmp/r"));
        assert!(a.debug);
        for bad in [
            &["--remove-leftovers", "x.service"][..],
            &["--remove-leftovers", "--attach", "x.service"],
            &["--remove-leftovers", "--enter-service"],
            &["--remove-leftovers", "--follow", "eth0"],
            &["--remove-leftovers", "--", "true"],
            &["-i", "lo", "--remove-leftovers", "--", "true"],
            &["--remove-leftovers", "status"],
        ] {
            assert_eq!(p(bad), Err(UsageError::RemoveLeftoversArguments), "{bad:?}");
        }
        assert_eq!(
            p(&["--remove-leftovers=yes"]),
            Err(UsageError::UnexpectedValue("--remove-leftovers".into()))
        );
    }

    #[test]
    fn enter_service_takes_nothing_else() {
        assert_eq!(p(&["--enter-service"]).unwrap().mode, Mode::EnterService);
        assert!(p(&["--debug", "--enter-service"]).unwrap().debug);
        for bad in [
            &["--enter-service", "x.service"][..],
            &["--enter-service", "--attach", "x.service"],
            &["--enter-service", "--attach-slice", "a.slice"],
            &["--enter-service", "--", "true"],
            &["-i", "lo", "--enter-service", "--", "true"],
            &["--enter-service", "status"],
        ] {
            assert_eq!(p(bad), Err(UsageError::EnterServiceArguments), "{bad:?}");
        }
        assert_eq!(
            p(&["--enter-service=yes"]),
            Err(UsageError::UnexpectedValue("--enter-service".into()))
        );
    }

    #[test]
    fn attach_slice_takes_one_slice_and_nothing_else() {
        let a = p(&["--attach-slice", "mgmt-inner.slice"]).unwrap();
        assert_eq!(
            a.mode,
            Mode::AttachSlice {
                slice: "mgmt-inner.slice".into(),
                cgroup_root: None
            }
        );
        let a = p(&["--cgroup-root=/t", "--attach-slice=-.slice"]).unwrap();
        assert_eq!(
            a.mode,
            Mode::AttachSlice {
                slice: "-.slice".into(),
                cgroup_root: Some("/t".into())
            }
        );
        for bad in [
            &["--attach-slice", "a.slice", "x.service"][..],
            &["--attach-slice", "a.slice", "--attach", "x.service"],
            &["--attach-slice", "a.slice", "--", "true"],
            &["-i", "lo", "--attach-slice", "a.slice", "--", "true"],
        ] {
            assert_eq!(p(bad), Err(UsageError::AttachSliceArguments), "{bad:?}");
        }
        assert_eq!(
            p(&["--cgroup-root=/t", "x.service"]),
            Err(UsageError::CgroupRootWithoutSlice)
        );
        assert_eq!(
            p(&["--attach-slice"]),
            Err(UsageError::MissingValue("--attach-slice".into()))
        );
        assert!(matches!(
            p(&["--attach-slice", "a\n.slice"]),
            Err(UsageError::InvalidUnitName(_))
        ));
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
        assert_eq!(a.policy.verify, Some(true));
        assert_eq!(
            a.mode,
            Mode::Unit {
                unit: "x.service".into(),
                command: Some(vec!["/usr/sbin/sshd".into(), "-D".into(), "--".into()])
            }
        );
    }

    /// The generator's form of the attach step: what it resolved at the reload, in order; an
    /// empty value stays (it stands for values the generator ignored).
    #[test]
    fn attach_with_resolved_values() {
        let a = p(&[
            "--attach",
            "x@b.service",
            "--resolved=",
            "--resolved=vrf-b",
            "--fail-closed",
            "--wait=2.5",
        ])
        .unwrap();
        assert_eq!(
            a.mode,
            Mode::Attach {
                unit: "x@b.service".into(),
                resolved: Some(vec![String::new(), "vrf-b".into()]),
            }
        );
        assert_eq!(a.policy.fail_closed, Some(true));
        assert_eq!(a.policy.wait, Some(Duration::from_millis(2500)));
        for bad in [
            &["--resolved=eth0", "x.service"][..],
            &["--resolved=eth0", "--attach-slice", "a.slice"],
            &["--resolved=eth0", "-i", "lo", "--", "true"],
        ] {
            assert_eq!(p(bad), Err(UsageError::ResolvedWithoutAttach), "{bad:?}");
        }
        assert_eq!(
            p(&["--attach", "x.service", "--resolved"]),
            Err(UsageError::MissingValue("--resolved".into()))
        );
    }

    #[test]
    fn attach_and_adhoc() {
        assert_eq!(
            p(&["--attach", "a.service"]).unwrap().mode,
            Mode::Attach {
                unit: "a.service".into(),
                resolved: None,
            }
        );
        let a = p(&["--interface=mgmt", "--wait", "2.5", "--", "ping", "x"]).unwrap();
        assert_eq!(a.policy.wait, Some(Duration::from_millis(2500)));
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
    fn option_values_are_read_the_same_in_every_form() {
        let adhoc = |v: &[&str]| p(v).map(|a| (a.mode, a.policy.wait, a.root));
        let want = adhoc(&["--interface=mgmt", "--wait=3", "--root=/r", "--", "true"]).unwrap();
        for form in [
            &[
                "--interface",
                "mgmt",
                "--wait",
                "3",
                "--root",
                "/r",
                "--",
                "true",
            ][..],
            &["-i", "mgmt", "--wait=3", "--root", "/r", "--", "true"],
            &["-imgmt", "--wait", "3", "--root=/r", "--", "true"],
            &["-i=mgmt", "--root=/r", "--wait=3", "--", "true"],
        ] {
            assert_eq!(adhoc(form).unwrap(), want, "{form:?}");
        }
        // A value is taken whole, even when it looks like an option.
        assert_eq!(
            p(&["--root", "--json", "show", "a.service"]).unwrap().root,
            PathBuf::from("--json")
        );
        assert!(!p(&["--root", "--json", "show", "a.service"]).unwrap().json);
    }

    #[test]
    fn wait_takes_what_a_duration_holds_and_nothing_else() {
        let wait = |v: &str| p(&[&format!("--wait={v}"), "a.service"]).map(|a| a.policy.wait);
        assert_eq!(wait("0"), Ok(Some(Duration::ZERO)));
        assert_eq!(wait("0.25"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(wait("1e3"), Ok(Some(Duration::from_secs(1000))));
        for bad in [
            "1e20", "NaN", "nan", "inf", "-inf", "infinity", "-1", "-0.5", "", "1s", " 1",
        ] {
            assert_eq!(
                wait(bad),
                Err(UsageError::InvalidWait(bad.to_string())),
                "--wait={bad}"
            );
        }
        assert_eq!(
            wait("1e20").unwrap_err().to_string(),
            "Invalid --wait= value, expected seconds: 1e20"
        );
    }

    #[test]
    fn control_characters_from_argv_never_reach_a_message_raw() {
        use UsageError::*;
        let cases: &[(&[&str], UsageError, &str)] = &[
            (
                &["a\nb.service"],
                InvalidUnitName("a\nb.service".into()),
                r#"Invalid unit name "a\x0ab.service""#,
            ),
            (
                &["--attach", "x.service\n<3>forged"],
                InvalidUnitName("x.service\n<3>forged".into()),
                r#"Invalid unit name "x.service\x0a<3>forged""#,
            ),
            (
                &["status", "a\x1b[2J"],
                InvalidUnitName("a\x1b[2J".into()),
                r#"Invalid unit name "a\x1b[2J""#,
            ),
            (
                &["-i", "v0\n", "--", "true"],
                InvalidInterfaceName("v0\n".into()),
                r"Invalid interface name: v0\x0a",
            ),
            (
                &["--root=/tmp\n", "show", "a.service"],
                InvalidRoot("/tmp\n".into()),
                r#"Invalid --root= value, expected a directory: "/tmp\x0a""#,
            ),
            (
                &["--bo\ngus"],
                UnknownOption("--bo\ngus".into()),
                r"Unknown option --bo\x0agus",
            ),
            (
                &["--wait=1\n", "a.service"],
                InvalidWait("1\n".into()),
                r"Invalid --wait= value, expected seconds: 1\x0a",
            ),
            (
                &["--verify=\n", "a.service"],
                UnexpectedValue("--verify".into()),
                "--verify takes no value",
            ),
        ];
        for (argv, error, message) in cases {
            let got = p(argv).expect_err(&format!("{argv:?} should be rejected"));
            assert_eq!(&got, error, "{argv:?}");
            assert_eq!(got.to_string(), *message, "{argv:?}");
        }
        // The command after -- is the user's: any bytes, passed on untouched.
        let a = p(&["a.service", "--", "sh", "-c", "echo a\nb"]).unwrap();
        assert!(matches!(a.mode, Mode::Unit { command: Some(c), .. } if c[2] == "echo a\nb"));
    }

    #[test]
    fn root_and_interface_must_name_something() {
        assert_eq!(
            p(&["--root=", "show", "a.service"])
                .unwrap_err()
                .to_string(),
            r#"Invalid --root= value, expected a directory: """#
        );
        assert_eq!(
            p(&["--interface=", "--", "true"]).unwrap_err().to_string(),
            "Invalid interface name: "
        );
        assert_eq!(
            p(&["-i", "a/b", "--", "true"]).unwrap_err(),
            UsageError::InvalidInterfaceName("a/b".into())
        );
    }

    #[test]
    fn a_unit_name_starting_with_a_dash_follows_double_dash() {
        let unit = |u: &str, c: Option<&[&str]>| Mode::Unit {
            unit: u.into(),
            command: c.map(|c| c.iter().map(OsString::from).collect()),
        };
        assert_eq!(
            p(&["--", "-foo.service"]).unwrap().mode,
            unit("-foo.service", None)
        );
        assert_eq!(
            p(&["--verify", "--", "-foo.service", "--", "/bin/x", "--", "-y"])
                .unwrap()
                .mode,
            unit("-foo.service", Some(&["/bin/x", "--", "-y"]))
        );
        assert_eq!(
            p(&["--attach", "--", "-foo.service"]).unwrap().mode,
            Mode::Attach {
                unit: "-foo.service".into(),
                resolved: None,
            }
        );
        // A unit named before -- keeps the old meaning: the command follows.
        assert_eq!(
            p(&["a.service", "--", "-foo.service"]).unwrap().mode,
            unit("a.service", Some(&["-foo.service"]))
        );
        // After --, `show` is a unit name, not a subcommand.
        assert_eq!(p(&["--", "show"]).unwrap().mode, unit("show", None));
        assert_eq!(
            p(&["show", "--json", "--", "-a.service", "b.service"])
                .unwrap()
                .mode,
            Mode::Show {
                units: vec!["-a.service".into(), "b.service".into()]
            }
        );
        assert_eq!(
            p(&["status", "--", "-a.service"]).unwrap().mode,
            Mode::Status {
                units: vec!["-a.service".into()],
                sockets: false,
                prometheus: false
            }
        );
        assert_eq!(
            p(&["status", "--prometheus", "--sockets", "a.service"])
                .unwrap()
                .mode,
            Mode::Status {
                units: vec!["a.service".into()],
                sockets: true,
                prometheus: true
            }
        );
        assert_eq!(
            p(&["status", "--prometheus=yes"]).unwrap_err().to_string(),
            p(&["status", "--sockets=yes"])
                .unwrap_err()
                .to_string()
                .replace("--sockets", "--prometheus")
        );
        // --interface has no unit: -- is the command, as before.
        assert_eq!(
            p(&["-i", "v0", "--", "-x"]).unwrap().mode,
            Mode::AdHoc {
                interface: "v0".into(),
                command: vec!["-x".into()]
            }
        );
    }

    /// Every valid unit name, `-`-prefixed ones included, reaches the launcher intact
    /// in the forms the generator writes (`--unit=%n`), while the old forms, hand-written in
    /// users' units and generated by older versions, keep their meaning for ordinary names.
    #[test]
    fn unit_option_carries_any_valid_name() {
        use crate::unit::name;
        let unit = |u: &str, c: Option<&[&str]>| Mode::Unit {
            unit: u.into(),
            command: c.map(|c| c.iter().map(OsString::from).collect()),
        };
        let attach = |u: &str, r: Option<&[&str]>| Mode::Attach {
            unit: u.into(),
            resolved: r.map(|r| r.iter().map(|s| s.to_string()).collect()),
        };
        // `-.mount`, `-.slice` and `systemd-escape`'s output are valid names, and so is one
        // that starts with two dashes.
        for n in [
            "-.mount",
            "-.slice",
            "-foo.service",
            "--x.service",
            "a.service",
        ] {
            assert!(name::is_valid(n), "{n}");
            assert_eq!(
                p(&[&format!("--unit={n}"), "--", "/bin/x", "-y"])
                    .unwrap()
                    .mode,
                unit(n, Some(&["/bin/x", "-y"])),
                "{n}"
            );
            // As the next word too: an option's value is taken whatever it starts with.
            assert_eq!(
                p(&["--unit", n, "--", "/bin/x"]).unwrap().mode,
                unit(n, Some(&["/bin/x"])),
                "{n}"
            );
            assert_eq!(
                p(&[
                    "--attach",
                    &format!("--unit={n}"),
                    "--resolved=mgmt",
                    "--wait=1"
                ])
                .unwrap()
                .mode,
                attach(n, Some(&["mgmt"])),
                "{n}"
            );
            assert_eq!(p(&[&format!("--unit={n}")]).unwrap().mode, unit(n, None));
        }
        // Why: the old generated forms read such a name as options.
        for n in ["-.mount", "-foo.service", "--x.service"] {
            assert!(p(&["--attach", n]).is_err(), "{n}");
            assert!(p(&[n, "--", "/bin/x"]).is_err(), "{n}");
        }
        // The old forms keep working for every other name.
        assert_eq!(
            p(&["--attach", "a.service", "--resolved=mgmt"])
                .unwrap()
                .mode,
            attach("a.service", Some(&["mgmt"]))
        );
        assert_eq!(
            p(&["a.service", "--", "/bin/x"]).unwrap().mode,
            unit("a.service", Some(&["/bin/x"]))
        );
        // One unit: --unit= counts with the names given as words.
        use UsageError::*;
        for (argv, error) in [
            (&["--unit=a.service", "b.service"][..], TooManyArguments),
            (&["--unit=a.service", "--unit=b.service"], TooManyArguments),
            (&["--unit"], MissingValue("--unit".into())),
            (&["--unit=a.service", "--"], EmptyCommand),
            (
                &["--unit=a\nb.service"],
                InvalidUnitName("a\nb.service".into()),
            ),
            (
                &["-i", "v0", "--unit=a.service", "--", "x"],
                InterfaceWithUnit,
            ),
            (
                &["--attach", "--unit=a.service", "--", "x"],
                AttachWithCommand,
            ),
        ] {
            assert_eq!(p(argv), Err(error), "{argv:?}");
        }
    }

    #[test]
    fn double_dash_usage_errors() {
        use UsageError::*;
        for (argv, error) in [
            (&["--"][..], MissingUnit),
            (&["--", "--", "true"], MissingUnit),
            (&["--", "a.service", "b.service"], TooManyArguments),
            (&["--", "a.service", "--"], EmptyCommand),
            (
                &["--attach", "--", "a.service", "--", "true"],
                AttachWithCommand,
            ),
            (
                &["--", "a\nb.service"],
                InvalidUnitName("a\nb.service".into()),
            ),
        ] {
            assert_eq!(p(argv), Err(error), "{argv:?}");
        }
        use std::os::unix::ffi::OsStringExt;
        let e = parse(vec!["--".into(), OsString::from_vec(vec![0xff])]).unwrap_err();
        assert_eq!(
            (e.clone(), e.to_string()),
            (UnitNotUtf8, "Unit names must be UTF-8".into())
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
            (
                &["--wait"],
                MissingValue("--wait".into()),
                "--wait needs a value",
            ),
            (
                &["-i"],
                MissingValue("--interface".into()),
                "--interface needs a value",
            ),
            (
                &["--help=x"],
                UnexpectedValue("--help".into()),
                "--help takes no value",
            ),
            (&["-h=x"], UnexpectedValue("-h".into()), "-h takes no value"),
            (
                &["-x", "a.service"],
                UnknownOption("-x".into()),
                "Unknown option -x",
            ),
            (
                &["--verify=yes", "a.service"],
                UnexpectedValue("--verify".into()),
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
        ];
        for (argv, error, message) in cases {
            let got = p(argv).expect_err(&format!("{argv:?} should be rejected"));
            assert_eq!(&got, error, "{argv:?}");
            assert_eq!(got.to_string(), *message, "{argv:?}");
        }
        assert_eq!(p(&["--help"]).unwrap().mode, Mode::Help);
        assert_eq!(p(&["--version", "x"]).unwrap().mode, Mode::Version);
    }

    fn g(v: &[&str]) -> Result<GeneratorArgs, UsageError> {
        parse_generator(v.iter().map(OsString::from).collect())
    }

    #[test]
    fn generator_as_systemd_runs_it() {
        let a = g(&[
            "/usr/lib/systemd/system-generators/bindif-launch-generator",
            "/run/n",
            "/run/e",
            "/run/l",
        ])
        .unwrap();
        assert_eq!(
            a,
            GeneratorArgs {
                as_generator: true,
                root: PathBuf::from("/"),
                normal_dir: PathBuf::from("/run/n"),
                early_dir: Some(PathBuf::from("/run/e")),
                late_dir: Some(PathBuf::from("/run/l")),
                systemd_version: None,
                layout: None,
                debug: false,
            }
        );
    }

    #[test]
    fn generator_subcommand_options_in_every_form() {
        let a = g(&[
            "bindif-launch",
            "generate",
            "--root",
            "/r",
            "--systemd-version=252",
            "--layout",
            "hybrid",
            "--debug",
            "/out",
        ])
        .unwrap();
        assert!(!a.as_generator && a.debug);
        assert_eq!(
            (a.root, a.normal_dir),
            (PathBuf::from("/r"), PathBuf::from("/out"))
        );
        assert_eq!(a.systemd_version, Some(252));
        assert_eq!(
            a.layout,
            Some(Layout::Hybrid {
                mount: PathBuf::from("/sys/fs/cgroup/unified")
            })
        );
        let b = g(&["bindif-launch", "generate", "--layout=legacy", "--", "-out"]).unwrap();
        assert_eq!(
            (b.layout, b.normal_dir),
            (Some(Layout::Legacy), PathBuf::from("-out"))
        );
    }

    #[test]
    fn generator_usage_errors() {
        use UsageError::*;
        let cases: &[(&[&str], UsageError, &str)] = &[
            (
                &["bindif-launch-generator"],
                GeneratorDirectories,
                "Expected NORMAL_DIR [EARLY_DIR LATE_DIR]",
            ),
            (
                &["bindif-launch-generator", "a", "b", "c", "d"],
                GeneratorDirectories,
                "Expected NORMAL_DIR [EARLY_DIR LATE_DIR]",
            ),
            (
                &["bindif-launch", "generate", "--systemd-version=25x", "o"],
                InvalidSystemdVersion("25x".into()),
                "Invalid --systemd-version= value, expected a version number: 25x",
            ),
            (
                &[
                    "bindif-launch",
                    "generate",
                    "--systemd-version=4294967296",
                    "o",
                ],
                InvalidSystemdVersion("4294967296".into()),
                "Invalid --systemd-version= value, expected a version number: 4294967296",
            ),
            (
                &["bindif-launch", "generate", "--layout=v1", "o"],
                InvalidLayout("v1".into()),
                "Invalid --layout= value, expected unified, hybrid or legacy: v1",
            ),
            (
                &["bindif-launch", "generate", "--layout"],
                MissingValue("--layout".into()),
                "--layout needs a value",
            ),
            (
                &["bindif-launch", "generate", "--debug=1", "o"],
                UnexpectedValue("--debug".into()),
                "--debug takes no value",
            ),
            (
                &["bindif-launch", "generate", "--json", "o"],
                UnknownOption("--json".into()),
                "Unknown option --json",
            ),
        ];
        for (argv, error, message) in cases {
            let got = g(argv).expect_err(&format!("{argv:?} should be rejected"));
            assert_eq!(&got, error, "{argv:?}");
            assert_eq!(got.to_string(), *message, "{argv:?}");
        }
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
    #[test]
    fn adopt_options() {
        let Mode::Adopt(o) = p(&[
            "adopt",
            "--root=/r",
            "--write",
            "--systemd-version",
            "252",
            "x.service",
        ])
        .unwrap()
        .mode
        else {
            panic!()
        };
        assert_eq!(o.root, PathBuf::from("/r"));
        assert!(o.write && !o.json);
        assert_eq!(o.systemd_version, Some(252));
        assert_eq!(o.units, vec!["x.service"]);
        for bad in [
            &["adopt", "--systemd-version=new"][..],
            &["adopt", "--root"],
            &["adopt", "--write=yes"],
            &["adopt", "--bogus"],
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn identify_and_pids() {
        let mode = |v: &[&str]| p(v).unwrap().mode;
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            mode(&["identify"]),
            Mode::Identify {
                words: vec![],
                verbose: false
            }
        );
        assert_eq!(
            mode(&["identify", "-v", "123"]),
            Mode::Identify {
                words: words(&["123"]),
                verbose: true
            }
        );
        // The words are the command's to judge (iproute2's exit status for a bad PID).
        assert_eq!(
            mode(&["identify", "x", "y"]),
            Mode::Identify {
                words: words(&["x", "y"]),
                verbose: false
            }
        );
        assert_eq!(
            mode(&["pids", "--verbose", "--", "mgmt"]),
            Mode::Pids {
                words: words(&["mgmt"]),
                verbose: true
            }
        );
        assert_eq!(
            mode(&["pids", "mgmt"]),
            Mode::Pids {
                words: words(&["mgmt"]),
                verbose: false
            }
        );
        assert_eq!(
            p(&["pids", "--json", "mgmt"]),
            Err(UsageError::UnknownOption("--json".into()))
        );
        assert_eq!(
            p(&["identify", "--verbose=yes"]),
            Err(UsageError::UnexpectedValue("--verbose".into()))
        );
        // Only as the first word: a unit may be called identify.
        assert!(matches!(
            mode(&["--attach", "identify"]),
            Mode::Attach { .. }
        ));
    }
}
