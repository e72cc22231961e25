// SPDX-License-Identifier: LGPL-2.1-or-later
//! The facts `status` judges: the programs on a cgroup, the interface its unit wants, and what
//! this network namespace says about the interfaces involved. Plain data, read by [`super::gather`].

use std::collections::BTreeMap;
use std::path::PathBuf;

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

    pub(super) fn binds(&self) -> bool {
        !matches!(self.kind, ProgKind::Foreign)
    }
}

/// The unit's effective `BindNetworkInterface=`, as far as we could read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// Not a unit's cgroup, or its unit file could not be read (with the reason).
    Unknown(Option<String>),
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
    /// Path inside the hierarchy, `/system.slice/x.service`.
    pub path: String,
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
}

/// What the caller's network namespace says about the interfaces the facts mention.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// ifindex → the link now holding it (`None`: no such ifindex).
    pub by_index: BTreeMap<u32, Option<LinkInfo>>,
    /// Interface name (primary or alternative) → its ifindex now (`None`: no such interface).
    pub by_name: BTreeMap<String, Option<u32>>,
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

/// The last component of a cgroup path (`/a/b.service` → `b.service`).
pub(super) fn last_component(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or("")
}
