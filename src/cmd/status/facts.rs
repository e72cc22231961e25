// SPDX-License-Identifier: LGPL-2.1-or-later
//! The facts `status` judges: the programs on a cgroup, the interface its unit wants, and what
//! this network namespace says about the interfaces involved. Plain data, read by [`super::gather`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::vrf::VrfFacts;
use crate::log::escape_control;
use crate::program::Origin;
use crate::sys::bpf::ProgInfo;
use crate::sys::netlink::LinkInfo;

/// What a program attached to a cgroup's `sock_create` hook is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgKind {
    /// Ours (`bindif_sock` with our four instructions), binding to this ifindex.
    Ours(u32),
    /// systemd v260's native `sd_bind_interface`: its ifindex lives in `.rodata`, unreadable.
    Native,
    /// Anything else.
    Foreign,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub id: u32,
    pub name: String,
    pub kind: ProgKind,
}

impl Program {
    pub fn from_info(info: &ProgInfo) -> Program {
        let kind = match info.ours_ifindex {
            Some(i) => ProgKind::Ours(i),
            None if info.is_v260_native => ProgKind::Native,
            None => ProgKind::Foreign,
        };
        Program {
            id: info.id,
            name: info.name.clone(),
            kind,
        }
    }

    pub(super) fn kind_str(&self) -> &'static str {
        match self.kind {
            ProgKind::Ours(_) => "ours",
            ProgKind::Native => "native",
            ProgKind::Foreign => "foreign",
        }
    }

    pub(super) fn ifindex(&self) -> Option<u32> {
        match self.kind {
            ProgKind::Ours(i) => Some(i),
            _ => None,
        }
    }

    /// Who put our program there, by its name (`None`: not ours).
    pub(super) fn origin(&self) -> Option<Origin> {
        match self.kind {
            ProgKind::Ours(_) => Origin::of_name(&self.name),
            _ => None,
        }
    }

    pub(super) fn binds(&self) -> bool {
        !matches!(self.kind, ProgKind::Foreign)
    }
}

/// The unit's effective `BindNetworkInterface=`, as far as we could read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// Not a unit's cgroup, or its unit file could not be read (with the reason).
    Unknown(Option<String>),
    /// A unit of the system manager whose unit file exists nowhere (any more): removed while
    /// it runs (with systemd's words for it).
    NotFound(String),
    /// The unit sets no interface.
    Unset,
    Iface(String),
}

impl Want {
    pub(super) fn iface(&self) -> Option<&str> {
        match self {
            Want::Iface(s) => Some(s),
            _ => None,
        }
    }
}

/// One cgroup as read from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupFacts {
    /// The cgroup2 mount the cgroup was found under (`None`: a named unit with no cgroup).
    pub hierarchy: Option<PathBuf>,
    /// Path inside the hierarchy, `/system.slice/x.service` (bytes: not necessarily UTF-8,
    /// and possibly longer than PATH_MAX once joined to the hierarchy).
    pub path: PathBuf,
    /// The unit name, when the last component is one.
    pub unit: Option<String>,
    /// Programs attached directly to the cgroup, in run order.
    pub programs: Vec<Program>,
    pub want: Want,
    /// Requested by name on the command line.
    pub named: bool,
    /// Processes of the cgroup (or below) in another network namespace than `status`: their
    /// interfaces may differ from ours and sock_diag cannot see their sockets.
    pub other_netns_pids: Vec<u32>,
    /// The inodes of those namespaces (`net:[INODE]`), each once, in ascending order.
    pub other_netns: Vec<u64>,
    /// On systemd < 260: the unit sets `BindNetworkInterface=`, binds itself no other way, and
    /// this generated drop-in (a path as systemd sees it) does not exist: the generator did not
    /// run for it, so the unit starts unbound.
    pub generator_dropin: Option<PathBuf>,
    /// A unit of the system manager (every cgroup above it is a slice) with processes in its
    /// cgroup: running, so an unbound cgroup is a binding that should be there.
    pub unit_running: bool,
}

/// What the caller's network namespace says about the interfaces the facts mention.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// ifindex → the link now holding it (`None`: no such ifindex).
    pub by_index: BTreeMap<u32, Option<LinkInfo>>,
    /// Interface name (primary or alternative) → its ifindex now (`None`: no such interface).
    pub by_name: BTreeMap<String, Option<u32>>,
    /// ifindex → the VRF set-up, for the bound interfaces that are VRFs.
    pub vrfs: BTreeMap<u32, VrfFacts>,
}

impl Links {
    pub(super) fn link(&self, ifindex: u32) -> Option<&LinkInfo> {
        self.by_index.get(&ifindex).and_then(Option::as_ref)
    }

    pub(super) fn index_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied().flatten()
    }

    pub(super) fn name_of(&self, ifindex: u32) -> Option<&str> {
        self.link(ifindex).and_then(|l| l.name.as_deref())
    }
}

/// The last component of a cgroup path (`/a/b.service` → `b.service`); `None` for the root
/// and for a name that is not UTF-8 (which no unit has).
pub(super) fn last_component(rel: &Path) -> Option<&str> {
    rel.file_name().and_then(OsStr::to_str)
}

/// The full path of cgroup `rel` (`/` for the root) in hierarchy `h`, for messages: it may be
/// longer than PATH_MAX, so it is never opened by that path.
pub fn hierarchy_path(h: &Path, rel: &Path) -> PathBuf {
    match rel.strip_prefix("/") {
        Ok(r) if !r.as_os_str().is_empty() => h.join(r),
        _ => h.to_path_buf(),
    }
}

/// A path for the reader: bytes that are not UTF-8 and control characters as `\xNN`, so that
/// a hostile cgroup name shows up (neither dropped nor lossily replaced) and cannot forge a
/// line of output.
pub fn escape_path(p: &Path) -> String {
    let mut out = String::new();
    let mut rest = p.as_os_str().as_bytes();
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(&escape_control(s));
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // from_utf8 just said this prefix is valid.
                out.push_str(&escape_control(
                    std::str::from_utf8(valid).unwrap_or_default(),
                ));
                let bad = e.error_len().unwrap_or(after.len());
                for b in &after[..bad] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = &after[bad..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn paths_are_escaped_not_dropped() {
        let p = PathBuf::from(OsString::from_vec(
            b"/a/b\xff\xfec/\xc3\xa4\n.service".to_vec(),
        ));
        assert_eq!(escape_path(&p), "/a/b\\xff\\xfec/\u{e4}\\x0a.service");
        assert_eq!(
            escape_path(Path::new("/system.slice/x.service")),
            "/system.slice/x.service"
        );
        assert_eq!(last_component(p.parent().unwrap()), None);
        assert_eq!(last_component(&p), Some("\u{e4}\n.service"));
        assert_eq!(last_component(Path::new("/s/x.service")), Some("x.service"));
        assert_eq!(last_component(Path::new("/")), None);
        let h = Path::new("/sys/fs/cgroup");
        assert_eq!(hierarchy_path(h, Path::new("/")), h);
        assert_eq!(
            hierarchy_path(h, Path::new("/a/b")),
            Path::new("/sys/fs/cgroup/a/b")
        );
    }
}
