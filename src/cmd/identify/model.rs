// SPDX-License-Identifier: LGPL-2.1-or-later
//! The pure half of `identify` and `pids`: which programs run for a cgroup and in what order,
//! which of them decides a new socket's interface, and the lines `ip vrf identify`/`ip vrf
//! pids` print. [`super`] reads the host into [`Level`]s; nothing here touches it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::log::escape_bytes;
use crate::program::Origin;
use crate::sys::bpf::BPF_F_ALLOW_MULTI;

/// A cgroup path for the reader: control characters and bytes that are not UTF-8 as `\xNN`,
/// so a hostile cgroup name cannot forge a line of output.
pub fn escape_path(p: &Path) -> String {
    escape_bytes(p.as_os_str().as_bytes())
}

/// Who put a program there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Ours (`bindif_unit` or `bindif_sock` with our instructions).
    Ours(Origin),
    /// systemd's native `BindNetworkInterface=` (`sd_bind_interface`).
    Native,
    /// On a cgroup iproute2 names `…/vrf/NAME` (`ip vrf exec`).
    Iproute2,
    /// Anything else: a `BPFProgram=` pin, another tool.
    Foreign,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ours(Origin::Key) => "unit",
            Source::Ours(Origin::Explicit) => "ad-hoc",
            Source::Native => "systemd",
            Source::Iproute2 => "iproute2",
            Source::Foreign => "foreign",
        }
    }
}

/// What a program does to a new socket's interface, once read (see
/// [`crate::program::effect_of_program`]; a map-held value is read by then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Binds to this ifindex (0: unbinds).
    Sets(u32),
    /// Does not touch the binding.
    Leaves,
    /// Cannot tell.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prog {
    pub id: u32,
    pub name: String,
    pub source: Source,
    pub binding: Binding,
}

/// One cgroup's `sock_create` hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// Path inside the hierarchy (`/` for its root).
    pub path: PathBuf,
    /// The hook's attach flags as `BPF_PROG_QUERY` reports them.
    pub attach_flags: u32,
    /// Attached directly here, in attach order.
    pub progs: Vec<Prog>,
}

/// Whether `path` is one iproute2's `ip vrf exec` makes: `…/vrf/NAME`.
pub fn is_iproute2_cgroup(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|p| p == "vrf")
}

/// The programs that run for a socket created in the last cgroup of `chain` (root first), in
/// the order they run, with the index of the level each is attached to. The kernel's rule
/// (`compute_effective_progs`): the cgroup's own programs, then each ancestor's going up; once
/// a program is in, an ancestor contributes only when its hook was attached with
/// `BPF_F_ALLOW_MULTI` (ours, systemd's); one attached without (`ip vrf exec`'s) is
/// overridden by a program below it.
pub fn run_order(chain: &[Level]) -> Vec<(usize, &Prog)> {
    let mut out = Vec::new();
    for (i, level) in chain.iter().enumerate().rev() {
        if !out.is_empty() && level.attach_flags & BPF_F_ALLOW_MULTI == 0 {
            continue;
        }
        out.extend(level.progs.iter().map(|p| (i, p)));
    }
    out
}

/// The program whose word on the interface stands, with the cgroup it sits on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Winner {
    pub cgroup: PathBuf,
    pub prog: Prog,
}

/// What a new socket of a cgroup is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No program sets the interface (or the last one to do so unbinds).
    Unbound,
    /// Bound to this ifindex by the winner.
    Bound(u32, Winner),
    /// The last program that may set it is one we cannot read.
    Undecided(Winner),
}

/// The effective binding for the last cgroup of `chain`: the last program to run that touches
/// the interface wins. As the launcher's `check_nesting` says, an ancestor's program runs
/// after the cgroup's own, so the outermost binding ancestor has the last word.
pub fn effective(chain: &[Level]) -> Verdict {
    let last = run_order(chain)
        .into_iter()
        .rev()
        .find(|(_, p)| p.binding != Binding::Leaves);
    let Some((i, prog)) = last else {
        return Verdict::Unbound;
    };
    let winner = Winner {
        cgroup: chain[i].path.clone(),
        prog: prog.clone(),
    };
    match prog.binding {
        Binding::Sets(0) | Binding::Leaves => Verdict::Unbound,
        Binding::Sets(ifindex) => Verdict::Bound(ifindex, winner),
        Binding::Unknown => Verdict::Undecided(winner),
    }
}

/// The cgroup paths from the root down to `path` (`/a/b` → `/`, `/a`, `/a/b`).
pub fn ancestry(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    out.reverse();
    if out.first().map(PathBuf::as_path) != Some(Path::new("/")) {
        out.insert(0, PathBuf::from("/"));
    }
    out
}

/// What iproute2's `ip vrf identify` reads from a cgroup2 path: whatever follows `/vrf/`
/// (`None`: no such component). The fallback when the programs cannot be read.
pub fn iproute2_vrf_of(path: &Path) -> Option<String> {
    let bytes = path.as_os_str().as_bytes();
    let at = bytes.windows(5).position(|w| w == b"/vrf/")?;
    Some(escape_path(Path::new(OsStr::from_bytes(&bytes[at + 5..]))))
}

/// `PID` as `ip vrf identify` takes it: a decimal number a `u32` holds.
pub fn parse_pid(word: &str) -> Option<u32> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// The `Name:` of `/proc/PID/status` (the command name, with the kernel's escapes), as
/// `ip vrf pids` prints it.
pub fn status_name(status: &str) -> Option<&str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Name:"))
        .map(str::trim_start)
}

/// One line of `pids`: iproute2's `%5s  %s`, the cgroup after it with `--verbose`.
pub fn pids_line(pid: u32, name: Option<&str>, cgroup: Option<&Path>) -> String {
    let name = name.unwrap_or("<terminated?>");
    match cgroup {
        Some(c) => format!("{pid:>5}  {name}  {}\n", escape_path(c)),
        None => format!("{pid:>5}  {name}\n"),
    }
}

/// How the answer of `identify` is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Bound to an interface with this name in our network namespace.
    Name(String),
    /// Bound to an ifindex no interface of our namespace has.
    Stale,
    /// The process lives in another network namespace: the ifindex is one of its interfaces.
    OtherNetns,
}

/// `identify`'s standard output for `verdict`: the interface name and a newline, as
/// `ip vrf identify` prints the VRF's; nothing when unbound or when no name can be given (the
/// caller says why on stderr). `--verbose` adds `key=value` details after the name.
pub fn identify_text(verdict: &Verdict, shown: Option<&Shown>, verbose: bool) -> String {
    let Verdict::Bound(ifindex, w) = verdict else {
        return String::new();
    };
    let name = match shown {
        Some(Shown::Name(n)) => n.clone(),
        // iproute2 names the cgroup after the VRF of the process's own namespace: its answer
        // stands where our names do not.
        Some(Shown::OtherNetns) if w.prog.source == Source::Iproute2 => {
            match w.cgroup.file_name() {
                Some(n) => escape_path(Path::new(n)),
                None => return String::new(),
            }
        }
        _ => return String::new(),
    };
    if !verbose {
        return format!("{name}\n");
    }
    format!(
        "{name} ifindex={ifindex} source={} program={} name={} cgroup={}\n",
        w.prog.source.as_str(),
        w.prog.id,
        w.prog.name,
        escape_path(&w.cgroup)
    )
}

/// The stderr note for an answer `identify_text` could not put on stdout; `None` when there
/// is nothing to say.
pub fn identify_note(pid: u32, verdict: &Verdict, shown: Option<&Shown>) -> Option<String> {
    match (verdict, shown) {
        (Verdict::Bound(i, w), Some(Shown::Stale)) => Some(format!(
            "Process {pid} is bound to ifindex {i} by program {} on cgroup {}, but no interface of this network namespace has that index (removed or re-created?)",
            w.prog.id,
            escape_path(&w.cgroup)
        )),
        (Verdict::Bound(i, w), Some(Shown::OtherNetns)) => Some(format!(
            "Process {pid} is in another network namespace; it is bound to ifindex {i} of that namespace by program {} on cgroup {}",
            w.prog.id,
            escape_path(&w.cgroup)
        )),
        (Verdict::Undecided(w), _) => Some(format!(
            "Process {pid}: program {} ({}) on cgroup {} runs last and may change the interface; cannot tell which",
            w.prog.id,
            w.prog.name,
            escape_path(&w.cgroup)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bpf::BPF_F_ALLOW_OVERRIDE;

    fn prog(id: u32, source: Source, binding: Binding) -> Prog {
        Prog {
            id,
            name: format!("p{id}"),
            source,
            binding,
        }
    }

    fn level(path: &str, flags: u32, progs: Vec<Prog>) -> Level {
        Level {
            path: PathBuf::from(path),
            attach_flags: flags,
            progs,
        }
    }

    const MULTI: u32 = BPF_F_ALLOW_MULTI;
    const OURS: Source = Source::Ours(Origin::Key);

    #[test]
    fn unbound_without_programs() {
        assert_eq!(effective(&[]), Verdict::Unbound);
        let chain = [level("/", 0, vec![]), level("/a", 0, vec![])];
        assert_eq!(effective(&chain), Verdict::Unbound);
        // A program that leaves the interface alone binds nothing.
        let chain = [level(
            "/a",
            MULTI,
            vec![prog(1, Source::Foreign, Binding::Leaves)],
        )];
        assert_eq!(effective(&chain), Verdict::Unbound);
    }

    #[test]
    fn own_program_binds() {
        let chain = [
            level("/", 0, vec![]),
            level("/s.slice", 0, vec![]),
            level(
                "/s.slice/u.service",
                MULTI,
                vec![prog(7, OURS, Binding::Sets(3))],
            ),
        ];
        let Verdict::Bound(3, w) = effective(&chain) else {
            panic!("{:?}", effective(&chain));
        };
        assert_eq!(w.cgroup, Path::new("/s.slice/u.service"));
        assert_eq!(w.prog.id, 7);
    }

    /// The outermost binding ancestor wins (its program runs last), as check_nesting says.
    #[test]
    fn outermost_ancestor_wins() {
        let chain = [
            level("/", 0, vec![]),
            level(
                "/a.slice",
                MULTI,
                vec![prog(1, Source::Native, Binding::Sets(10))],
            ),
            level(
                "/a.slice/b.slice",
                MULTI,
                vec![prog(2, OURS, Binding::Sets(20))],
            ),
            level(
                "/a.slice/b.slice/u.service",
                MULTI,
                vec![prog(3, OURS, Binding::Sets(30))],
            ),
        ];
        assert_eq!(
            run_order(&chain)
                .iter()
                .map(|(_, p)| p.id)
                .collect::<Vec<_>>(),
            [3, 2, 1]
        );
        assert!(matches!(effective(&chain), Verdict::Bound(10, w) if w.prog.id == 1));
        // Within one cgroup, the one attached last runs last.
        let chain = [level(
            "/u",
            MULTI,
            vec![
                prog(4, OURS, Binding::Sets(1)),
                prog(5, OURS, Binding::Sets(2)),
            ],
        )];
        assert!(matches!(effective(&chain), Verdict::Bound(2, _)));
        // A leaving program after the binder changes nothing.
        let chain = [
            level("/", MULTI, vec![prog(6, Source::Foreign, Binding::Leaves)]),
            level("/u", MULTI, vec![prog(7, OURS, Binding::Sets(4))]),
        ];
        assert!(matches!(effective(&chain), Verdict::Bound(4, _)));
    }

    /// An ancestor attached without BPF_F_ALLOW_MULTI is overridden by a program below it;
    /// ip vrf exec's cgroup (flags 0) below a unit of ours is still overruled by ours.
    #[test]
    fn non_multi_ancestors() {
        let chain = [
            level(
                "/a",
                BPF_F_ALLOW_OVERRIDE,
                vec![prog(1, Source::Foreign, Binding::Sets(9))],
            ),
            level("/a/b", MULTI, vec![prog(2, OURS, Binding::Sets(3))]),
        ];
        assert!(matches!(effective(&chain), Verdict::Bound(3, _)));
        // With nothing below, the nearest program runs whatever its flags.
        let chain = [
            level("/a", 0, vec![prog(1, Source::Foreign, Binding::Sets(9))]),
            level("/a/b", 0, vec![]),
        ];
        assert!(matches!(effective(&chain), Verdict::Bound(9, _)));
        let chain = [
            level(
                "/s.slice/u.service",
                MULTI,
                vec![prog(1, OURS, Binding::Sets(3))],
            ),
            level(
                "/s.slice/u.service/vrf/red",
                0,
                vec![prog(2, Source::Iproute2, Binding::Sets(8))],
            ),
        ];
        assert!(matches!(effective(&chain), Verdict::Bound(3, w) if w.prog.id == 1));
    }

    #[test]
    fn unbinding_and_unknown() {
        let chain = [
            level("/", MULTI, vec![prog(1, Source::Foreign, Binding::Sets(0))]),
            level("/u", MULTI, vec![prog(2, OURS, Binding::Sets(3))]),
        ];
        assert_eq!(effective(&chain), Verdict::Unbound);
        let chain = [
            level("/", MULTI, vec![prog(1, Source::Foreign, Binding::Unknown)]),
            level("/u", MULTI, vec![prog(2, OURS, Binding::Sets(3))]),
        ];
        assert!(matches!(effective(&chain), Verdict::Undecided(w) if w.prog.id == 1));
    }

    #[test]
    fn paths() {
        assert_eq!(
            ancestry(Path::new("/a/b")),
            [Path::new("/"), Path::new("/a"), Path::new("/a/b")]
        );
        assert_eq!(ancestry(Path::new("/")), [Path::new("/")]);
        assert!(is_iproute2_cgroup(Path::new(
            "/system.slice/x.service/vrf/mgmt"
        )));
        assert!(is_iproute2_cgroup(Path::new("/vrf/mgmt")));
        assert!(!is_iproute2_cgroup(Path::new("/vrf")));
        assert!(!is_iproute2_cgroup(Path::new("/a/mgmt")));
        assert_eq!(
            iproute2_vrf_of(Path::new("/user.slice/vrf/mgmt")).as_deref(),
            Some("mgmt")
        );
        assert_eq!(
            iproute2_vrf_of(Path::new("/vrf/a/b")).as_deref(),
            Some("a/b")
        );
        assert_eq!(iproute2_vrf_of(Path::new("/system.slice/vrfx")), None);
        // A hostile name cannot forge a line.
        assert_eq!(
            iproute2_vrf_of(Path::new("/vrf/a\nb")).as_deref(),
            Some("a\\x0ab")
        );
    }

    #[test]
    fn pids_as_iproute2_takes_them() {
        assert_eq!(parse_pid("1234"), Some(1234));
        assert_eq!(parse_pid("0"), Some(0));
        assert_eq!(parse_pid("4294967295"), Some(u32::MAX));
        for bad in ["", "-1", "+1", "12a", " 1", "4294967296", "0x10"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lines_as_iproute2_prints_them() {
        let status = "Name:\tsshd\nUmask:\t0022\nState:\tS (sleeping)\n";
        assert_eq!(status_name(status), Some("sshd"));
        assert_eq!(status_name("State:\tR\n"), None);
        assert_eq!(pids_line(42, Some("sshd"), None), "   42  sshd\n");
        assert_eq!(pids_line(123456, Some("x"), None), "123456  x\n");
        assert_eq!(pids_line(7, None, None), "    7  <terminated?>\n");
        assert_eq!(
            pids_line(7, Some("a"), Some(Path::new("/s/u.service"))),
            "    7  a  /s/u.service\n"
        );
    }

    #[test]
    fn identify_output() {
        let w = Winner {
            cgroup: PathBuf::from("/s.slice/u.service"),
            prog: prog(7, OURS, Binding::Sets(3)),
        };
        let bound = Verdict::Bound(3, w.clone());
        let name = Shown::Name("mgmt".into());
        assert_eq!(identify_text(&bound, Some(&name), false), "mgmt\n");
        assert_eq!(
            identify_text(&bound, Some(&name), true),
            "mgmt ifindex=3 source=unit program=7 name=p7 cgroup=/s.slice/u.service\n"
        );
        assert_eq!(identify_note(1, &bound, Some(&name)), None);
        // Unbound: nothing at all, as ip vrf identify prints for a process outside any VRF.
        assert_eq!(identify_text(&Verdict::Unbound, None, true), "");
        assert_eq!(identify_note(1, &Verdict::Unbound, None), None);
        // No name to give: nothing on stdout, the reason on stderr.
        for shown in [Shown::Stale, Shown::OtherNetns] {
            assert_eq!(identify_text(&bound, Some(&shown), false), "");
            let note = identify_note(9, &bound, Some(&shown)).unwrap();
            assert!(
                note.contains("ifindex 3") && note.contains("program 7"),
                "{note}"
            );
        }
        // ip vrf exec's cgroup in another namespace: iproute2's name for it.
        let vrf = Winner {
            cgroup: PathBuf::from("/x/NS-ns/vrf/blue"),
            prog: prog(8, Source::Iproute2, Binding::Sets(3)),
        };
        let other = Some(&Shown::OtherNetns);
        assert_eq!(
            identify_text(&Verdict::Bound(3, vrf.clone()), other, false),
            "blue\n"
        );
        assert!(identify_note(9, &Verdict::Bound(3, vrf), other).is_some());
        let undecided = Verdict::Undecided(w);
        assert_eq!(identify_text(&undecided, None, false), "");
        assert!(identify_note(9, &undecided, None)
            .unwrap()
            .contains("cannot tell"));
    }
}
