// SPDX-License-Identifier: LGPL-2.1-or-later
//! Hand-written facts shared by the judgement and rendering tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::facts::*;
use super::judge::{CgroupReport, State};
use crate::sys::diag::{self, InetSocket};
use crate::sys::netlink::LinkInfo;
use crate::unit::name;

pub(super) const MAIN: &str = "/sys/fs/cgroup/unified";

pub(super) fn ours(id: u32, ifindex: u32) -> Program {
    Program {
        id,
        name: "bindif_sock".into(),
        kind: ProgKind::Ours(ifindex),
    }
}

/// Ours, put there by the unit's `BindNetworkInterface=` (the attach step).
pub(super) fn ours_unit(id: u32, ifindex: u32) -> Program {
    Program {
        id,
        name: crate::program::UNIT_PROG_NAME.into(),
        kind: ProgKind::Ours(ifindex),
    }
}

pub(super) fn native(id: u32) -> Program {
    Program {
        id,
        name: "sd_bind_interfa".into(),
        kind: ProgKind::Native,
    }
}

pub(super) fn foreign(id: u32, name: &str) -> Program {
    Program {
        id,
        name: name.into(),
        kind: ProgKind::Foreign,
    }
}

pub(super) fn facts(path: &str, programs: Vec<Program>, want: Want) -> CgroupFacts {
    CgroupFacts {
        hierarchy: Some(PathBuf::from(MAIN)),
        path: path.into(),
        unit: last_component(Path::new(path))
            .filter(|u| name::kind(u).is_some())
            .map(str::to_owned),
        programs,
        want,
        named: false,
        other_netns_pids: Vec::new(),
        other_netns: Vec::new(),
        generator_dropin: None,
        unit_running: false,
    }
}

pub(super) fn iface(s: &str) -> Want {
    Want::Iface(s.into())
}

/// lo=1, mgmt=4 (altname management-vrf), dmz=7; 5 is gone; mgmt2 renamed from "old".
pub(super) fn links() -> Links {
    let mut l = Links::default();
    let mut add = |i: u32, n: &str, alts: &[&str]| {
        l.by_index.insert(
            i,
            Some(LinkInfo {
                index: i,
                name: Some(n.into()),
                altnames: alts.iter().map(|a| a.to_string()).collect(),
                // IFF_UP | IFF_RUNNING | IFF_LOWER_UP, IF_OPER_UP: no link finding.
                flags: 0x1_0041,
                operstate: Some(6),
            }),
        );
        l.by_name.insert(n.into(), Some(i));
    };
    add(1, "lo", &[]);
    add(4, "mgmt", &["management-vrf"]);
    add(7, "dmz", &[]);
    add(8, "mgmt2", &[]);
    l.by_index.insert(5, None);
    l.by_name.insert("management-vrf".into(), Some(4));
    l.by_name.insert("old".into(), None);
    l
}

pub(super) fn states(r: &CgroupReport) -> (State, Vec<State>, bool) {
    (
        r.state,
        r.programs.iter().map(|p| p.state).collect(),
        r.problem,
    )
}

pub(super) fn sock(
    proto: diag::Proto,
    v6: bool,
    port: u16,
    ifindex: u32,
    inode: u64,
) -> InetSocket {
    InetSocket {
        family: if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8,
        proto,
        state: if proto == diag::Proto::Tcp { 10 } else { 7 },
        local: if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        },
        local_port: port,
        remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        remote_port: 0,
        bound_ifindex: ifindex,
        inode,
        uid: 0,
    }
}

/// [`links`] where mgmt (ifindex 4) is a VRF lacking the unreachable default of IPv4 (the rest
/// unknown).
pub(super) fn links_with_vrf() -> Links {
    let mut l = links();
    l.vrfs.insert(
        4,
        super::vrf::VrfFacts {
            name: "mgmt".into(),
            table: 10,
            v4: super::vrf::FamilySetup {
                routes: Some(vec![]),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    l
}
