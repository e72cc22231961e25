// SPDX-License-Identifier: LGPL-2.1-or-later
//! Pure deductions about the host and our place in it, from text the caller read.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::Path;

/// The version of the systemd running as PID 1, from `/proc/1/maps`: PID 1 maps its private
/// library `libsystemd-shared-NNN.so` (Fedora adds the release: `-256.4-1.fc41.so`).
/// Reading the mapping avoids spawning `systemctl --version` on every service start.
pub fn systemd_version_from_maps(maps: &str) -> Option<u32> {
    maps.lines().find_map(|line| {
        let file = line.rsplit('/').next()?;
        let rest = file
            .strip_prefix("libsystemd-shared-")
            .or_else(|| file.strip_prefix("libsystemd-core-"))?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}

/// Controllers in systemd's `cgroup_controller_table` (src/basic/cgroup-util.c) in every version
/// from 239 to 259.
const CONTROLLERS_EVERY_VERSION: &[&str] =
    &["cpu", "io", "memory", "devices", "pids", "bpf-firewall"];

/// Controllers only some of those versions list, or that we could not confirm in all of them:
/// `cpuset` arrived in v244, the BPF pseudo-controllers after `bpf-firewall` with their features
/// (up to `bpf-restrict-network-interfaces`, v250), and the cgroup v1-only `cpuacct` and `blkio`,
/// which later versions drop along with cgroup v1 (removed in v258).
const CONTROLLERS_SOME_VERSIONS: &[&str] = &[
    "cpuset",
    "cpuacct",
    "blkio",
    "bpf-devices",
    "bpf-foreign",
    "bpf-socket-bind",
    "bpf-restrict-network-interfaces",
];

/// Whether every systemd from 239 to 259 escapes the cgroup name `name`.
fn escaped_by_every_version(name: &str) -> bool {
    name.starts_with(['_', '.'])
        || name.starts_with("cgroup.")
        // Until v253 a controller counts only when it is all of the name before its last dot
        // (`cpu.service`); v254 (cg_needs_escape()) made any `CONTROLLER.` prefix count.
        || name
            .rsplit_once('.')
            .is_some_and(|(head, _)| CONTROLLERS_EVERY_VERSION.contains(&head))
}

/// Whether some systemd from 239 to 259 escapes the cgroup name `name`: besides the names every
/// version escapes, v254 and later escape every `CONTROLLER.` prefix (`cpu.x.service`), and the
/// names of cgroup v1's own files only mattered while systemd supported cgroup v1.
fn escaped_by_some_version(name: &str) -> bool {
    escaped_by_every_version(name)
        || matches!(name, "notify_on_release" | "release_agent" | "tasks")
        || CONTROLLERS_EVERY_VERSION
            .iter()
            .chain(CONTROLLERS_SOME_VERSIONS)
            .any(|c| {
                name.strip_prefix(c)
                    .is_some_and(|rest| rest.starts_with('.'))
            })
}

/// The name of the cgroup systemd makes for a unit or slice called `name` (`cg_escape()` in
/// systemd's src/basic/cgroup-util.c): a name the kernel's own files could clash with (a leading
/// `_` or `.`, `cgroup.`, `CONTROLLER.`, cgroup v1's `tasks`, …) gets a `_` prefix, so unescaping
/// is just dropping one leading `_`. Where systemd versions disagree, this is the escaped form.
pub fn cg_escape(name: &str) -> Cow<'_, str> {
    if escaped_by_some_version(name) {
        Cow::Owned(format!("_{name}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether `component`, one component of a cgroup path, is the cgroup systemd made for the unit
/// or slice `name`: its escaped form, or the name itself where some systemd 239–259 leaves it
/// as it is (which systemd runs is not known here).
fn is_cgroup_of(component: &str, name: &str) -> bool {
    component == cg_escape(name) || (component == name && !escaped_by_every_version(name))
}

/// The unit's own cgroup given the process's cgroup path: the nearest ancestor (or the path
/// itself) whose last component is the unit's cgroup name, the unit's name as systemd escapes
/// it (`cpu.service` runs in `_cpu.service`). A `Delegate=` unit may run its main process in a
/// sub-cgroup; the binding belongs on the unit's cgroup so every process of the unit is covered.
/// The slices above it are not compared, so their escaping does not matter here.
/// Paths are bytes here: names below the unit's cgroup need not be UTF-8.
pub fn unit_cgroup_os<'a>(own: &'a OsStr, unit: &str) -> Option<&'a OsStr> {
    Path::new(own)
        .ancestors()
        .find(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|c| is_cgroup_of(c, unit))
        })
        .map(Path::as_os_str)
}

/// [`unit_cgroup_os`] for a UTF-8 path.
pub fn unit_cgroup<'a>(own: &'a str, unit: &str) -> Option<&'a str> {
    unit_cgroup_os(OsStr::new(own), unit).and_then(OsStr::to_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_debian_and_fedora_maps() {
        let deb = "7f1-7f2 r-xp 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so\n";
        assert_eq!(systemd_version_from_maps(deb), Some(252));
        let fed = "a-b r--p 0 0:1 2 /usr/lib64/systemd/libsystemd-shared-256.4-1.fc41.so\n";
        assert_eq!(systemd_version_from_maps(fed), Some(256));
        let core = "a-b r--p 0 0:1 2 /usr/lib/systemd/libsystemd-core-262.so\n";
        assert_eq!(systemd_version_from_maps(core), Some(262));
        assert_eq!(
            systemd_version_from_maps("a-b r--p 0 0:1 2 /sbin/init\n"),
            None
        );
    }

    #[test]
    fn unit_cgroup_finds_ancestor() {
        let own = "/system.slice/sshd@mgmt.service";
        assert_eq!(unit_cgroup(own, "sshd@mgmt.service"), Some(own));
        assert_eq!(
            unit_cgroup("/system.slice/x.service/payload/inner", "x.service"),
            Some("/system.slice/x.service")
        );
        assert_eq!(
            unit_cgroup("/user.slice/session-1.scope", "x.service"),
            None
        );
        assert_eq!(unit_cgroup("/", "x.service"), None);
    }

    /// `cg_escape(name)` is `_name`.
    fn escaped(name: &str) -> bool {
        cg_escape(name) == format!("_{name}")
    }

    #[test]
    fn cg_escape_prefixes_names_systemd_escapes() {
        // A leading '_' or '.': unescaping drops one '_', so these must gain one.
        for name in ["_foo.service", "_", ".hidden.service", "."] {
            assert!(escaped(name), "{name}");
        }
        // The kernel's own files: `cgroup.*`, and cgroup v1's.
        for name in [
            "cgroup.service",
            "cgroup.procs",
            "tasks",
            "notify_on_release",
            "release_agent",
        ] {
            assert!(escaped(name), "{name}");
        }
        // CONTROLLER followed by a dot, for every controller in any version's table.
        for name in [
            "cpu.service",
            "memory.service",
            "io.service",
            "devices.service",
            "pids.slice",
            "bpf-firewall.service",
            "cpuset.service",
            "cpuacct.service",
            "blkio.service",
            "bpf-devices.service",
            "bpf-foreign.service",
            "bpf-socket-bind.service",
            "bpf-restrict-network-interfaces.service",
            "cpu.x.service",
        ] {
            assert!(escaped(name), "{name}");
        }
    }

    #[test]
    fn cg_escape_leaves_other_names_alone() {
        for name in [
            "cpux.service",
            "cpu-x.slice",
            "x.cpu.service",
            "system.slice",
            "sshd@mgmt.service",
            "tasks.service",
            "iowait.service",
            "memory",
            "foo_.service",
        ] {
            assert!(
                matches!(cg_escape(name), Cow::Borrowed(n) if n == name),
                "{name}"
            );
        }
    }

    #[test]
    fn unit_cgroup_finds_the_escaped_name() {
        // The reviewer's repro: `cpu.service` runs in `_cpu.service`.
        assert_eq!(
            unit_cgroup("/system.slice/_cpu.service", "cpu.service"),
            Some("/system.slice/_cpu.service")
        );
        assert_eq!(
            unit_cgroup("/system.slice/_memory.service/payload", "memory.service"),
            Some("/system.slice/_memory.service")
        );
        assert_eq!(
            unit_cgroup("/system.slice/__foo.service", "_foo.service"),
            Some("/system.slice/__foo.service")
        );
        // Escaped slices above the unit do not get in the way (`Slice=cpu-x.slice` is
        // `cpu.slice/cpu-x.slice`, and `cpu.slice` is escaped).
        assert_eq!(
            unit_cgroup("/_cpu.slice/cpu-x.slice/_io.service/inner", "io.service"),
            Some("/_cpu.slice/cpu-x.slice/_io.service")
        );
        // Every systemd escapes these, so an unescaped component is some other cgroup.
        assert_eq!(
            unit_cgroup("/system.slice/cpu.service", "cpu.service"),
            None
        );
        assert_eq!(
            unit_cgroup("/system.slice/_foo.service", "_foo.service"),
            None
        );
        // The escape is not stripped from anything else: `_x.service` is not `x.service`'s.
        assert_eq!(unit_cgroup("/system.slice/_x.service", "x.service"), None);
    }

    #[test]
    fn unit_cgroup_accepts_both_forms_where_systemd_versions_disagree() {
        // `cpuset` is a controller from v244 on; `cpu.x.service` is escaped from v254 on.
        for unit in ["cpuset.service", "cpu.x.service", "bpf-foreign.service"] {
            let escaped = format!("/system.slice/_{unit}");
            assert_eq!(unit_cgroup(&escaped, unit), Some(escaped.as_str()));
            let plain = format!("/system.slice/{unit}");
            assert_eq!(unit_cgroup(&plain, unit), Some(plain.as_str()));
        }
    }
}
