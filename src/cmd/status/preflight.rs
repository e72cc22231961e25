// SPDX-License-Identifier: LGPL-2.1-or-later
//! The preflight: set-up around a binding that makes it do less than `status` otherwise shows.
//! The binding may be attached and point at the right ifindex, and still: the interface is
//! down, a VRF lacks what localhost inside it needs ([`super::vrf`]), the unit no longer asks
//! for it, or the kernel no longer runs cgroup2 socket programs at all because net_cls/net_prio
//! were used. Each finding names a stable check, what is wrong and a one-line fix. Pure: judged
//! on facts [`super::gather`] read.

use std::path::PathBuf;

use super::facts::escape_path;
use crate::sys::netlink::LinkInfo;

/// One preflight finding. Said, never a problem of the exit status: the binding itself is as
/// configured (a `key-removed` binding is a problem through its state, `reset-pending`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The check that found it, stable (JSON `check`, the metrics' `check` label).
    pub check: &'static str,
    /// The interface concerned; `None` for a host-wide finding.
    pub interface: Option<String>,
    /// What is wrong and what it breaks.
    pub message: String,
    /// What fixes it, one line (`run '…'`).
    pub fix: String,
}

impl Finding {
    /// The finding as one line of text: the message, then the fix.
    pub fn line(&self) -> String {
        format!("{}; {}", self.message, self.fix)
    }
}

/// `IFF_UP`: administratively up.
const IFF_UP: u32 = 1;
/// `IF_OPER_DOWN`, `IF_OPER_LOWERLAYERDOWN`, `IF_OPER_NOTPRESENT`: no way to the network
/// (`UNKNOWN`, which lo, dummy and VRF devices report, and `DORMANT`/`TESTING` say nothing).
const OPER_DOWN: [u8; 3] = [2, 3, 4];

/// Whether the link a binding uses can carry traffic: administratively down, or up without a
/// carrier or lower device.
pub fn link_findings(link: &LinkInfo) -> Vec<Finding> {
    let name = link.name.clone().unwrap_or_else(|| "?".into());
    let head = format!("Interface {name} (ifindex {})", link.index);
    if link.flags & IFF_UP == 0 {
        return vec![Finding {
            check: "link-down",
            interface: Some(name.clone()),
            message: format!("{head} is down: sockets bound to it can neither send nor receive"),
            fix: format!("run 'ip link set dev {name} up'"),
        }];
    }
    match link.operstate {
        Some(s) if OPER_DOWN.contains(&s) => vec![Finding {
            check: "link-no-carrier",
            interface: Some(name.clone()),
            message: format!(
                "{head} is up but its operational state is down (no carrier, or its lower \
                 device or peer is down): sockets bound to it can neither send nor receive"
            ),
            fix: format!(
                "connect its cable or bring up its lower device or peer ('ip link show dev \
                 {name}' says which)"
            ),
        }],
        _ => Vec::new(),
    }
}

/// A binding made by the unit's `BindNetworkInterface=`, which the unit no longer sets (state
/// `reset-pending`): it stays until the unit restarts.
pub fn key_removed(unit: &str, interface: Option<&str>) -> Finding {
    let on = interface.map(|i| format!(" to {i}")).unwrap_or_default();
    Finding {
        check: "key-removed",
        interface: interface.map(str::to_owned),
        message: format!(
            "{unit} no longer sets BindNetworkInterface=, but the binding{on} it made is still \
             attached (a daemon-reload keeps it)"
        ),
        fix: format!("run 'systemctl restart {unit}'"),
    }
}

/// A binding made by the unit's configuration, on a running unit whose unit file exists
/// nowhere any more (removed while it runs): the binding stays until the unit stops.
pub fn unit_removed(unit: &str, interface: Option<&str>) -> Finding {
    let on = interface.map(|i| format!(" to {i}")).unwrap_or_default();
    Finding {
        check: "unit-removed",
        interface: interface.map(str::to_owned),
        message: format!(
            "{unit} has no unit file any more, but the binding{on} its configuration made is \
             still attached"
        ),
        fix: format!(
            "run 'systemctl stop {unit}' if it was removed on purpose, else restore its unit file"
        ),
    }
}

/// One line of `/proc/cgroups`: a controller, its v1 hierarchy (0: none) and its number of
/// cgroups there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Controller {
    pub name: String,
    pub hierarchy: u32,
    pub cgroups: u32,
}

/// The net_cls and net_prio lines of `/proc/cgroups` (`#subsys_name hierarchy num_cgroups
/// enabled`), those that are enabled.
pub fn parse_proc_cgroups(text: &str) -> Vec<V1Controller> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [name, hierarchy, cgroups, enabled] = f[..] else {
                return None;
            };
            if !matches!(name, "net_cls" | "net_prio") || enabled != "1" {
                return None;
            }
            Some(V1Controller {
                name: name.to_string(),
                hierarchy: hierarchy.parse().ok()?,
                cgroups: cgroups.parse().ok()?,
            })
        })
        .collect()
}

/// The mount points of the cgroup v1 hierarchies carrying net_cls or net_prio, from
/// `/proc/self/mountinfo` (each once: a hierarchy may be mounted several times).
pub fn v1_net_mounts(mountinfo: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut roots: Vec<String> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (Some(dev), Some(root), Some(point), Some(&"cgroup"), Some(opts)) =
            (l.get(2), l.get(3), l.get(4), r.first(), r.get(2))
        else {
            continue;
        };
        if !opts.split(',').any(|o| o == "net_cls" || o == "net_prio") {
            continue;
        }
        // Only mounts of the hierarchy's root see all of it; one per hierarchy (its device).
        let key = format!("{dev} {root}");
        if *root != "/" || roots.contains(&key) {
            continue;
        }
        roots.push(key);
        out.push(PathBuf::from(unescape_mountinfo(point)));
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash…).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first non-zero priority of a `net_prio.ifpriomap` (`IFACE PRIO` per line).
pub fn priomap_entry(text: &str) -> Option<String> {
    text.lines()
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| p != 0)
        })
        .map(|l| l.trim().to_string())
}

/// What the host says about net_cls and net_prio on cgroup v1, and the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetClsFacts {
    /// `/proc/version` (or a release alone): which kernel judges the rest.
    pub kernel: String,
    /// The enabled net_cls/net_prio controllers, as `/proc/cgroups` lists them.
    pub controllers: Vec<V1Controller>,
    /// A cgroup with a non-zero `net_cls.classid`: its path and the value.
    pub classid: Option<(PathBuf, u32)>,
    /// A cgroup whose `net_prio.ifpriomap` sets a priority: its path and that line.
    pub priomap: Option<(PathBuf, String)>,
    /// The kernel's log still holds [`DISABLED_LOG`]: matching is off, whatever is in use now.
    pub logged: bool,
}

/// What a kernel without the fix logs, once, when it turns cgroup2 socket matching off.
pub const DISABLED_LOG: &str =
    "cgroup: disabling cgroup2 socket matching due to net_prio or net_cls activation";

/// Whether a `/dev/kmsg` record (`PRIO,SEQ,TIME,FLAGS;MESSAGE`) is [`DISABLED_LOG`].
pub fn kmsg_says_disabled(record: &str) -> bool {
    record
        .split_once(';')
        .is_some_and(|(_, message)| message.trim_end() == DISABLED_LOG)
}

/// The upstream version of the running kernel: Debian's kernels name it in `/proc/version`
/// (`… Debian 5.10.226-1 (…)`, while the release is `5.10.0-33-amd64`); otherwise the release.
pub fn upstream_version(kernel: &str) -> Option<(u32, u32, u32)> {
    let words: Vec<&str> = kernel.split_whitespace().collect();
    let debian = words.windows(2).find(|w| w[0] == "Debian").map(|w| w[1]);
    let release = match words.iter().position(|w| *w == "version") {
        Some(i) => words.get(i + 1).copied(),
        None => words.first().copied(),
    };
    debian
        .and_then(parse_version)
        .or_else(|| release.and_then(parse_version))
}

/// `5.10.226-1` or `6.1.0-13-amd64` → (5, 10, 226), (6, 1, 0).
fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// Whether the kernel has "bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode"
/// (8520e224f547, Linux 5.15; backported to 5.10.226 only, in September 2024: none in 5.4,
/// 4.19 or the 5.11–5.14 series). A distribution may carry a backport of its own (RHEL 8's
/// 4.18, for one, cannot be told from its number): `false` means "may lack it".
pub fn kernel_has_fix(kernel: &str) -> bool {
    match upstream_version(kernel) {
        Some((major, minor, patch)) => {
            (major, minor) >= (5, 15) || ((major, minor) == (5, 10) && patch >= 226)
        }
        None => false,
    }
}

/// The release for messages: the word after `Linux version`, else the text itself.
fn release(kernel: &str) -> &str {
    let mut words = kernel.split_whitespace();
    match words.by_ref().position(|w| w == "version") {
        Some(_) => words.next().unwrap_or(kernel),
        None => kernel.split_whitespace().next().unwrap_or(kernel),
    }
}

/// Whether net_cls/net_prio on cgroup v1 may have turned cgroup2 socket matching off. Kernels
/// without the fix keep one pointer per socket, either its cgroup2 or its v1 net_cls/net_prio
/// data: writing `net_cls.classid` or `net_prio.ifpriomap`, or moving a task into a net_prio
/// cgroup, makes them stop recording the cgroup2 for every socket created afterwards, until the
/// next boot ("cgroup: disabling cgroup2 socket matching due to net_prio or net_cls
/// activation"), and a socket of a task in such a cgroup loses it anyway. Its socket programs
/// then run as the root cgroup's: a binding on a unit's cgroup does nothing. What was written
/// and since reset cannot be seen, nor the kernel's flag: "may".
pub fn netcls_findings(f: &NetClsFacts) -> Vec<Finding> {
    let fix = "boot with cgroup_no_v1=net_cls,net_prio or a kernel with the fix (only a reboot \
               turns matching back on)";
    // Only a kernel without the fix logs it: proof, whatever its version says.
    if f.logged {
        return vec![Finding {
            check: "net-cls-prio",
            interface: None,
            message: format!(
                "kernel {} logged \"{DISABLED_LOG}\": cgroup2 socket matching is off, and \
                 bindings do nothing for sockets created since",
                release(&f.kernel)
            ),
            fix: fix.into(),
        }];
    }
    if kernel_has_fix(&f.kernel) {
        return Vec::new();
    }
    let mut evidence = Vec::new();
    if let Some((path, id)) = &f.classid {
        evidence.push(format!(
            "net_cls.classid is {id:#x} in {}",
            escape_path(path)
        ));
    }
    if let Some((path, entry)) = &f.priomap {
        evidence.push(format!(
            "net_prio.ifpriomap sets '{entry}' in {}",
            escape_path(path)
        ));
    }
    for c in f
        .controllers
        .iter()
        .filter(|c| c.hierarchy != 0 && c.cgroups > 1)
    {
        evidence.push(format!(
            "{} has {} cgroups besides the root on cgroup v1",
            c.name,
            c.cgroups - 1
        ));
    }
    if evidence.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        check: "net-cls-prio",
        interface: None,
        message: format!(
            "net_cls/net_prio are in use on cgroup v1 ({}), and kernel {} may lack the fix \
             \"bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode\" (Linux 5.15, \
             5.10.226): it may have disabled cgroup2 socket matching, and bindings then do \
             nothing for sockets created since",
            evidence.join(", "),
            release(&f.kernel)
        ),
        fix: fix.into(),
    }]
}

/// The cgroups below `root` to look at before giving up: the walk must stay cheap.
pub const V1_WALK_LIMIT: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn link(flags: u32, operstate: Option<u8>) -> LinkInfo {
        LinkInfo {
            index: 4,
            name: Some("mgmt".into()),
            flags,
            operstate,
            ..LinkInfo::default()
        }
    }

    #[test]
    fn down_links_and_missing_carriers() {
        let down = link_findings(&link(0x1002, Some(2)));
        assert_eq!(
            down.iter().map(Finding::line).collect::<Vec<_>>(),
            [
                "Interface mgmt (ifindex 4) is down: sockets bound to it can neither send nor \
              receive; run 'ip link set dev mgmt up'"
            ]
        );
        assert_eq!(
            (down[0].check, down[0].interface.as_deref()),
            ("link-down", Some("mgmt"))
        );
        // Up, no carrier (a veth whose peer is down) or lower layer down (a VLAN on a down
        // device): one finding of its own.
        for state in [2, 3, 4] {
            let f = link_findings(&link(0x1003, Some(state)));
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].check, "link-no-carrier");
            assert!(f[0].fix.contains("'ip link show dev mgmt'"), "{f:?}");
        }
        // Up and running, unknown (lo, dummy, VRF), dormant, or not said: nothing.
        for state in [Some(6), Some(0), Some(5), None] {
            assert_eq!(link_findings(&link(0x1_1043, state)), []);
        }
    }

    #[test]
    fn key_removed_names_the_restart() {
        let f = key_removed("web.service", Some("mgmt"));
        assert_eq!(
            f.line(),
            "web.service no longer sets BindNetworkInterface=, but the binding to mgmt it made \
             is still attached (a daemon-reload keeps it); run 'systemctl restart web.service'"
        );
        assert_eq!(f.check, "key-removed");
        assert!(key_removed("a.service", None)
            .message
            .contains("but the binding it made"));
        let f = unit_removed("web.service", Some("mgmt"));
        assert_eq!(
            f.line(),
            "web.service has no unit file any more, but the binding to mgmt its configuration \
             made is still attached; run 'systemctl stop web.service' if it was removed on \
             purpose, else restore its unit file"
        );
        assert_eq!(f.check, "unit-removed");
    }

    /// `/proc/cgroups` of a hybrid host with Docker's net_cls,net_prio cgroups; disabled
    /// controllers and others are left out.
    #[test]
    fn proc_cgroups() {
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                    cpuset\t3\t1\t1\n\
                    net_cls\t9\t12\t1\n\
                    net_prio\t9\t12\t1\n\
                    perf_event\t0\t1\t1\n";
        let c = parse_proc_cgroups(text);
        assert_eq!(
            c,
            [
                V1Controller {
                    name: "net_cls".into(),
                    hierarchy: 9,
                    cgroups: 12
                },
                V1Controller {
                    name: "net_prio".into(),
                    hierarchy: 9,
                    cgroups: 12
                },
            ]
        );
        assert_eq!(parse_proc_cgroups("net_cls\t0\t1\t0\nnet_prio 0 1\n"), []);
    }

    #[test]
    fn mountinfo_v1_net_hierarchies() {
        let text = "\
24 1 0:21 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755\n\
25 24 0:22 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n\
31 24 0:28 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n\
32 24 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
90 24 0:28 / /run/my\\040mount rw - cgroup cgroup rw,net_cls,net_prio\n\
91 24 0:30 /docker /mnt/prio rw - cgroup cgroup rw,net_prio\n\
92 24 0:31 / /mnt/prio2 rw - cgroup cgroup rw,net_prio\n\
garbage\n";
        assert_eq!(
            v1_net_mounts(text),
            [
                PathBuf::from("/sys/fs/cgroup/net_cls,net_prio"),
                PathBuf::from("/mnt/prio2"),
            ]
        );
        assert_eq!(
            unescape_mountinfo("/run/my\\040mount\\134x\\9"),
            "/run/my mount\\x\\9"
        );
    }

    #[test]
    fn priomap_entries() {
        assert_eq!(priomap_entry("lo 0\neth0 0\n"), None);
        assert_eq!(priomap_entry("lo 0\neth0 5\n"), Some("eth0 5".into()));
        assert_eq!(priomap_entry(""), None);
    }

    #[test]
    fn kernel_versions_against_the_fix() {
        let debian_bullseye_old = "Linux version 5.10.0-8-amd64 (debian-kernel@lists.debian.org) \
             (gcc-10 (Debian 10.2.1-6) 10.2.1 20210110, GNU ld (GNU Binutils for Debian) 2.35.2) \
             #1 SMP Debian 5.10.46-4 (2021-08-03)";
        let debian_bullseye_new = "Linux version 5.10.0-33-amd64 (debian-kernel@lists.debian.org) \
             (gcc-10 (Debian 10.2.1-6) 10.2.1 20210110, GNU ld (GNU Binutils for Debian) 2.35.2) \
             #1 SMP Debian 5.10.226-1 (2024-10-03)";
        assert_eq!(upstream_version(debian_bullseye_old), Some((5, 10, 46)));
        assert_eq!(upstream_version(debian_bullseye_new), Some((5, 10, 226)));
        assert!(!kernel_has_fix(debian_bullseye_old));
        assert!(kernel_has_fix(debian_bullseye_new));
        for (release, fixed) in [
            ("5.15.0-91-generic", true),
            ("6.1.0-13-amd64", true),
            ("6.18.44-fc-v1147", true),
            ("5.10.226", true),
            ("5.10.225", false),
            ("5.14.21", false),
            ("5.4.0-150-generic", false),
            ("4.19.0-27-amd64", false),
            ("4.18.0-553.el8_10.x86_64", false),
            ("", false),
            ("garbage", false),
        ] {
            assert_eq!(kernel_has_fix(release), fixed, "{release}");
        }
        assert_eq!(release(debian_bullseye_old), "5.10.0-8-amd64");
        assert_eq!(
            release("4.18.0-553.el8_10.x86_64"),
            "4.18.0-553.el8_10.x86_64"
        );
    }

    #[test]
    fn net_cls_prio_in_use_on_an_unfixed_kernel() {
        let mut f = NetClsFacts {
            kernel: "4.18.0-553.el8_10.x86_64".into(),
            ..NetClsFacts::default()
        };
        // Not in use (not mounted, or only the root cgroup): nothing.
        assert_eq!(netcls_findings(&f), []);
        f.controllers = parse_proc_cgroups("net_cls 9 1 1\nnet_prio 9 1 1\n");
        assert_eq!(netcls_findings(&f), []);
        f.classid = Some((
            PathBuf::from("/sys/fs/cgroup/net_cls,net_prio/docker/c1"),
            0x10001,
        ));
        let found = netcls_findings(&f);
        assert_eq!(
            found.iter().map(Finding::line).collect::<Vec<_>>(),
            [
                "net_cls/net_prio are in use on cgroup v1 (net_cls.classid is 0x10001 in \
              /sys/fs/cgroup/net_cls,net_prio/docker/c1), and kernel 4.18.0-553.el8_10.x86_64 \
              may lack the fix \"bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode\" \
              (Linux 5.15, 5.10.226): it may have disabled cgroup2 socket matching, and \
              bindings then do nothing for sockets created since; boot with \
              cgroup_no_v1=net_cls,net_prio or a kernel with the fix (only a reboot turns \
              matching back on)"
            ]
        );
        assert_eq!(
            (found[0].check, found[0].interface.clone()),
            ("net-cls-prio", None)
        );
        // Every piece of evidence is named; Docker's cgroups alone are enough.
        f.priomap = Some((PathBuf::from("/p"), "eth0 5".into()));
        f.controllers = parse_proc_cgroups("net_cls 9 3 1\nnet_prio 9 3 1\n");
        let m = &netcls_findings(&f)[0].message;
        assert!(
            m.contains(
                "(net_cls.classid is 0x10001 in /sys/fs/cgroup/net_cls,net_prio/docker/c1, \
                 net_prio.ifpriomap sets 'eth0 5' in /p, net_cls has 2 cgroups besides the \
                 root on cgroup v1, net_prio has 2 cgroups besides the root on cgroup v1)"
            ),
            "{m}"
        );
        f.classid = None;
        f.priomap = None;
        assert_eq!(netcls_findings(&f).len(), 1);
        // The same on a kernel with the fix: nothing.
        f.kernel = "Linux version 5.10.0-33-amd64 (…) #1 SMP Debian 5.10.226-1 (2024-10-03)".into();
        assert_eq!(netcls_findings(&f), []);
    }

    /// The kernel's own log line is proof, whatever is in use now or the version says (a
    /// backport cannot be told from a number, but a kernel that logs it lacks the fix).
    #[test]
    fn the_kernel_log_is_proof() {
        let record = format!("6,1234,5678901,-;{DISABLED_LOG}\n");
        assert!(kmsg_says_disabled(&record));
        assert!(!kmsg_says_disabled("6,1,2,-;cgroup: something else"));
        assert!(!kmsg_says_disabled(DISABLED_LOG));
        let f = NetClsFacts {
            kernel: "5.10.0-8-amd64".into(),
            logged: true,
            ..NetClsFacts::default()
        };
        let found = netcls_findings(&f);
        assert_eq!(
            found.iter().map(Finding::line).collect::<Vec<_>>(),
            [format!(
                "kernel 5.10.0-8-amd64 logged \"{DISABLED_LOG}\": cgroup2 socket matching is \
                 off, and bindings do nothing for sockets created since; boot with \
                 cgroup_no_v1=net_cls,net_prio or a kernel with the fix (only a reboot turns \
                 matching back on)"
            )]
        );
        assert_eq!(found[0].check, "net-cls-prio");
    }
}
