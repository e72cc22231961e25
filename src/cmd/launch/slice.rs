// SPDX-License-Identifier: LGPL-2.1-or-later
//! `--attach-slice SLICE`: the binding of a slice, as systemd v262 gives it to
//! `BindNetworkInterface=` in `[Slice]`: one program on the slice's cgroup binds every unit
//! below it, transient ones included, and the outermost bound slice wins.
//!
//! The generator makes each such slice want `bindif-launch-slice@SLICE.service`, ordered
//! `Before=` the slice, which runs this mode. The slice's cgroup does not exist yet then
//! (systemd creates it when the slice starts), so the directories are created here, where
//! systemd will put them: it realizes the slice on the existing directory (`mkdir` failing with
//! EEXIST is success to it), and a program attached to a cgroup runs for every process that
//! enters it or a descendant later, so an empty directory is as good a place as a populated one.
//! They are not marked as ours: systemd adopts them, and removes them when the slice stops.

use std::fmt;
use std::path::{Path, PathBuf};

use super::kernel::{Kernel, Linux, Which};
use super::{bind_unit, log_timing, read_unit, Fatal, Policy, Verify};
use crate::cli::Args;
use crate::host::cg_escape;
use crate::unit::name::{self, Kind};
use crate::{exit, log, log_bind};

/// Why a name has no slice cgroup to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlicePathError {
    /// Not a plain `.slice` name, or one `cg_slice_to_path()` rejects (a dash at the start or
    /// end of the prefix, two dashes in a row).
    Invalid(String),
    /// `-.slice`: the root cgroup, where a binding would bind every socket of the host.
    Root,
}

impl fmt::Display for SlicePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlicePathError::Invalid(n) => write!(
                f,
                "\"{}\" is not a valid slice name",
                log::escape_control(n)
            ),
            SlicePathError::Root => f.write_str(
                "-.slice is the root cgroup: binding it would bind every socket of the host, refusing",
            ),
        }
    }
}

/// The cgroup path of the slice `slice` below the root of the hierarchy, as systemd's
/// `cg_slice_to_path()` computes it: `a-b-c.slice` lives at `/a.slice/a-b.slice/a-b-c.slice`,
/// every component escaped as `cg_escape()` does (see [`crate::host::cg_escape`]). The prefix
/// is split at its raw dashes: an escaped `\x2d` is no dash.
pub fn cgroup_path(slice: &str) -> Result<String, SlicePathError> {
    let invalid = || SlicePathError::Invalid(slice.to_string());
    if slice == "-.slice" {
        return Err(SlicePathError::Root);
    }
    if name::kind(slice) != Some(Kind::Plain) || name::unit_type(slice) != Some("slice") {
        return Err(invalid());
    }
    let prefix = name::prefix(slice).ok_or_else(invalid)?;
    if prefix.starts_with('-') || prefix.ends_with('-') || prefix.contains("--") {
        return Err(invalid());
    }
    let mut path = String::new();
    for (i, _) in prefix.match_indices('-') {
        path.push('/');
        path.push_str(&cg_escape(&format!("{}.slice", &prefix[..i])));
    }
    path.push('/');
    path.push_str(&cg_escape(slice));
    Ok(path)
}

/// `--attach-slice SLICE`: binds the slice's cgroup (created if need be) to the slice's
/// `BindNetworkInterface=`. `cgroup_root`: the directory that stands for the root of the
/// hierarchy (`--cgroup-root=`, for tests); `None`: the host's cgroup2 mount.
pub fn slice_mode(args: &Args, slice: &str, cgroup_root: Option<&Path>) -> Result<(), Fatal> {
    slice_mode_with(&mut Linux::default(), args, slice, cgroup_root)
}

pub(super) fn slice_mode_with<K: Kernel>(
    k: &mut K,
    args: &Args,
    slice: &str,
    cgroup_root: Option<&Path>,
) -> Result<(), Fatal> {
    // PID 1 prefixes its lines with the unit they are about; ours are logged by the helper
    // unit, so name the slice.
    log::set_unit(slice);
    let path = cgroup_path(slice).map_err(|e| {
        log_bind!(Err, "{e}");
        Fatal(exit::INVALIDARGUMENT)
    })?;
    let cfg = read_unit(&args.root, slice)?;
    let mut policy = Policy::merge(&args.policy, Some(&cfg.bind), false);
    if policy.verify == Verify::Required {
        // The probe socket would be created in the helper unit's cgroup, outside the slice:
        // it would test nothing about the slice.
        log_bind!(
            Notice,
            "Verification is not available for slices, not verifying"
        );
    }
    policy.verify = Verify::Off;
    let which = Which::Slice {
        slice,
        path: &path,
        cgroup_root,
    };
    let bound = bind_unit(k, slice, &cfg.bind, &policy, which);
    log_timing();
    bound.map(drop)
}

/// Where PID 1's units live in the cgroup2 hierarchy, from the helper's own cgroup `own`: the
/// helper unit (`bindif-launch-slice@….service`, `Slice=-.slice`) sits directly in PID 1's root
/// slice, so that is its parent (`/` on a host, `/docker/ID` for a systemd in a container that
/// shares the host's cgroup namespace). Run by hand, from anywhere else: `/`.
pub fn manager_base(own: Option<&Path>) -> PathBuf {
    let helper = own.filter(|o| {
        o.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("bindif-launch-slice@") && n.ends_with(".service"))
    });
    helper
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_base_is_the_helpers_parent() {
        let base = |p: &str| manager_base(Some(Path::new(p)));
        assert_eq!(
            base("/bindif-launch-slice@mgmt.slice.service"),
            Path::new("/")
        );
        assert_eq!(
            base("/docker/0123/bindif-launch-slice@mgmt.slice.service"),
            Path::new("/docker/0123")
        );
        // Run by hand from a shell: the hierarchy's root.
        assert_eq!(
            base("/user.slice/user-0.slice/session-1.scope"),
            Path::new("/")
        );
        assert_eq!(manager_base(None), Path::new("/"));
    }

    #[test]
    fn nested_slices_live_below_their_parents() {
        assert_eq!(cgroup_path("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            cgroup_path("mgmt-inner.slice").unwrap(),
            "/mgmt.slice/mgmt-inner.slice"
        );
        assert_eq!(
            cgroup_path("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        // An escaped dash is part of the name, not a level.
        assert_eq!(
            cgroup_path("vrf\\x2dmgmt-x.slice").unwrap(),
            "/vrf\\x2dmgmt.slice/vrf\\x2dmgmt-x.slice"
        );
    }

    #[test]
    fn components_are_escaped_as_systemd_escapes_them() {
        assert_eq!(
            cgroup_path("cpu-x.slice").unwrap(),
            "/_cpu.slice/cpu-x.slice"
        );
        assert_eq!(cgroup_path("_a-b.slice").unwrap(), "/__a.slice/__a-b.slice");
    }

    #[test]
    fn the_root_slice_is_refused() {
        assert_eq!(cgroup_path("-.slice"), Err(SlicePathError::Root));
        assert!(SlicePathError::Root
            .to_string()
            .contains("would bind every socket of the host"));
    }

    #[test]
    fn what_systemd_rejects_has_no_path() {
        for bad in [
            "-a.slice",
            "a-.slice",
            "a--b.slice",
            "a.service",
            "a@b.slice",
            "a@.slice",
            "a/b.slice",
            "",
            ".slice",
        ] {
            assert!(
                matches!(cgroup_path(bad), Err(SlicePathError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
