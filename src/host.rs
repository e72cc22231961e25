// SPDX-License-Identifier: LGPL-2.1-or-later
//! Pure deductions about the host and our place in it, from text the caller read.

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

/// The unit's own cgroup given the process's cgroup path: the nearest ancestor (or the path
/// itself) whose last component is the unit's name. A `Delegate=` unit may run its main
/// process in a sub-cgroup; the binding belongs on the unit's cgroup so every process of the
/// unit is covered.
pub fn unit_cgroup<'a>(own: &'a str, unit: &str) -> Option<&'a str> {
    let mut end = own.len();
    loop {
        let path = &own[..end];
        let slash = path.rfind('/')?;
        if &path[slash + 1..] == unit {
            return Some(path);
        }
        if slash == 0 {
            return None;
        }
        end = slash;
    }
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
}
