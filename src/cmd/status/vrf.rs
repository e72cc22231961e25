// SPDX-License-Identifier: LGPL-2.1-or-later
//! The VRF preflight: whether a VRF that a binding uses is set up for localhost inside it (the
//! kernel's own VRF selftests, tools/testing/selftests/net/fcnal-test.sh, set it up so). Pure:
//! judged on the rules, routes and addresses [`super::gather`] read.
//!
//! A socket bound to a VRF looks routes up through the l3mdev rule in the VRF's table. Three
//! things make 127.0.0.1 and ::1 work there, each with a reason:
//! - the local table's rule comes *after* the l3mdev rule: at its default `pref 0` it answers
//!   first with the default VRF's local routes, and a connection to 127.0.0.1 from inside the
//!   VRF goes to the default VRF's `lo`, where the VRF's listeners are not: it times out;
//! - an unreachable default in the VRF's table: a lookup that misses there stops, instead of
//!   falling through to the main table and leaving outside the VRF;
//! - 127.0.0.1/8 and ::1 on the VRF device: the VRF's own localhost.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::preflight::Finding;
use crate::sys::netlink::{AddrInfo, RouteInfo, RuleInfo, FR_ACT_TO_TBL, RT_TABLE_LOCAL};

/// `RTN_BLACKHOLE`, `RTN_UNREACHABLE`, `RTN_PROHIBIT`: routes that end a lookup.
const TERMINATING: [u8; 3] = [6, 7, 8];

/// One address family's view: `ip` or `ip -6`, its rules, the VRF table's routes and the VRF
/// device's addresses (`None`: could not be read, nothing is said).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilySetup {
    pub rules: Option<Vec<RuleInfo>>,
    pub routes: Option<Vec<RouteInfo>>,
    pub addrs: Option<Vec<AddrInfo>>,
}

/// What the network namespace says about a VRF that a binding uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VrfFacts {
    pub name: String,
    pub table: u32,
    pub v4: FamilySetup,
    pub v6: FamilySetup,
}

/// The set-up localhost inside `vrf` lacks, one warning with its fix per missing piece.
pub fn warnings(vrf: &VrfFacts) -> Vec<String> {
    findings(vrf).iter().map(Finding::line).collect()
}

/// [`warnings`] as preflight findings: checks `vrf-l3mdev-rule-ipv4`, `vrf-local-rule-ipv4`,
/// `vrf-unreachable-default-ipv4` and `vrf-loopback-ipv4` (and `-ipv6`).
pub fn findings(vrf: &VrfFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (ip, fam, loopback, f) in [
        ("ip", "ipv4", IpAddr::V4(Ipv4Addr::LOCALHOST), &vrf.v4),
        ("ip -6", "ipv6", IpAddr::V6(Ipv6Addr::LOCALHOST), &vrf.v6),
    ] {
        let name = &vrf.name;
        let head = format!("VRF {name} (table {}):", vrf.table);
        let finding = |check: &str, message: String, fix: String| Finding {
            check: check_id(check, fam),
            interface: Some(name.clone()),
            message,
            fix,
        };
        if let Some(rules) = &f.rules {
            if let Some((check, message, fix)) = rule_warning(&head, ip, rules) {
                out.push(finding(check, message, fix));
            }
        }
        let terminated = f.routes.as_ref().map(|routes| {
            routes
                .iter()
                .any(|r| r.dst_len == 0 && TERMINATING.contains(&r.kind))
        });
        if terminated == Some(false) {
            out.push(finding(
                "vrf-unreachable-default",
                format!(
                    "{head} no unreachable default route in its table: a lookup that misses \
                     there falls through to the main table and leaves outside the VRF"
                ),
                format!("run '{ip} route add vrf {name} unreachable default metric 8192'"),
            ));
        }
        let has_loopback = f
            .addrs
            .as_ref()
            .map(|a| a.iter().any(|a| a.address == loopback));
        if has_loopback == Some(false) {
            let (addr, nodad) = match loopback {
                IpAddr::V4(_) => ("127.0.0.1/8", ""),
                IpAddr::V6(_) => ("::1/128", " nodad"),
            };
            out.push(finding(
                "vrf-loopback",
                format!(
                    "{head} no {loopback} on the VRF device: localhost connections of its bound \
                     sockets fail"
                ),
                format!("run '{ip} addr add {addr} dev {name}{nodad}'"),
            ));
        }
    }
    out
}

/// The stable check name of `check` for the family `fam` (`ipv4`, `ipv6`).
fn check_id(check: &str, fam: &str) -> &'static str {
    match (check, fam) {
        ("vrf-l3mdev-rule", "ipv4") => "vrf-l3mdev-rule-ipv4",
        ("vrf-l3mdev-rule", _) => "vrf-l3mdev-rule-ipv6",
        ("vrf-local-rule", "ipv4") => "vrf-local-rule-ipv4",
        ("vrf-local-rule", _) => "vrf-local-rule-ipv6",
        ("vrf-unreachable-default", "ipv4") => "vrf-unreachable-default-ipv4",
        ("vrf-unreachable-default", _) => "vrf-unreachable-default-ipv6",
        ("vrf-loopback", "ipv4") => "vrf-loopback-ipv4",
        _ => "vrf-loopback-ipv6",
    }
}

/// The finding about the order of the l3mdev rule and the local table's rule, if any: its
/// check, message and fix.
fn rule_warning(
    head: &str,
    ip: &str,
    rules: &[RuleInfo],
) -> Option<(&'static str, String, String)> {
    let Some(l3mdev) = rules
        .iter()
        .filter(|r| r.l3mdev && r.action == FR_ACT_TO_TBL)
        .map(|r| r.priority)
        .min()
    else {
        return Some((
            "vrf-l3mdev-rule",
            format!("{head} no l3mdev rule: sockets bound to the VRF do not look up its table"),
            format!("run '{ip} rule add pref 1000 l3mdev protocol kernel'"),
        ));
    };
    let local: Vec<u32> = rules
        .iter()
        .filter(|r| r.table == RT_TABLE_LOCAL && r.action == FR_ACT_TO_TBL && r.matches_all)
        .map(|r| r.priority)
        .collect();
    let early = local.iter().find(|&&p| p < l3mdev);
    let late = local.iter().any(|&p| p > l3mdev);
    let add = format!("'{ip} rule add pref 32765 from all lookup local'");
    match (early, late) {
        (None, true) => None,
        (None, false) => Some((
            "vrf-local-rule",
            format!(
                "{head} no rule looks up the local table after the l3mdev rule (pref \
                 {l3mdev}): nothing is delivered locally"
            ),
            format!("run {add}"),
        )),
        (Some(p), late) => {
            // Added before the early one goes: the local table is never missing meanwhile.
            let del = format!("'{ip} rule del pref {p} from all lookup local'");
            let fix = if late {
                del
            } else {
                format!("{add}, then {del}")
            };
            Some((
                "vrf-local-rule",
                format!(
                    "{head} the local table's rule (pref {p}) comes before the l3mdev rule (pref \
                     {l3mdev}): localhost connections inside the VRF go to the default VRF and \
                     time out"
                ),
                format!("run {fix}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, table: u32, l3mdev: bool) -> RuleInfo {
        RuleInfo {
            family: libc::AF_INET as u8,
            priority,
            table,
            action: FR_ACT_TO_TBL,
            l3mdev,
            matches_all: true,
        }
    }

    /// `ip rule` on a fresh host with a VRF: local at 0, l3mdev at 1000, main, default.
    fn default_rules() -> Vec<RuleInfo> {
        vec![
            rule(0, 255, false),
            rule(1000, 0, true),
            rule(32766, 254, false),
            rule(32767, 253, false),
        ]
    }

    /// The set-up of docs/guide.md.
    fn moved_rules() -> Vec<RuleInfo> {
        vec![
            rule(1000, 0, true),
            rule(32765, 255, false),
            rule(32766, 254, false),
            rule(32767, 253, false),
        ]
    }

    fn unreachable_default(table: u32) -> RouteInfo {
        RouteInfo {
            family: libc::AF_INET as u8,
            table,
            dst_len: 0,
            kind: 7,
            metric: 8192,
        }
    }

    fn addr(a: IpAddr) -> AddrInfo {
        AddrInfo {
            index: 9,
            prefix_len: 8,
            address: a,
        }
    }

    fn complete() -> VrfFacts {
        let fam = |lo: IpAddr| FamilySetup {
            rules: Some(moved_rules()),
            routes: Some(vec![unreachable_default(10)]),
            addrs: Some(vec![addr(lo)]),
        };
        VrfFacts {
            name: "mgmt".into(),
            table: 10,
            v4: fam(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            v6: fam(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        }
    }

    #[test]
    fn complete_setup_says_nothing() {
        assert_eq!(warnings(&complete()), Vec::<String>::new());
        // Facts that could not be read say nothing either.
        let unknown = VrfFacts {
            name: "mgmt".into(),
            table: 10,
            ..VrfFacts::default()
        };
        assert_eq!(warnings(&unknown), Vec::<String>::new());
    }

    #[test]
    fn local_rule_before_l3mdev() {
        let mut v = complete();
        v.v4.rules = Some(default_rules());
        assert_eq!(
            warnings(&v),
            ["VRF mgmt (table 10): the local table's rule (pref 0) comes before the l3mdev rule \
              (pref 1000): localhost connections inside the VRF go to the default VRF and time \
              out; run 'ip rule add pref 32765 from all lookup local', then 'ip rule del pref 0 \
              from all lookup local'"]
        );
        // Half done: the late rule is there, the early one still too.
        let mut both = default_rules();
        both.push(rule(32765, 255, false));
        v.v4.rules = None;
        v.v6.rules = Some(both);
        assert_eq!(
            warnings(&v),
            ["VRF mgmt (table 10): the local table's rule (pref 0) comes before the l3mdev rule \
              (pref 1000): localhost connections inside the VRF go to the default VRF and time \
              out; run 'ip -6 rule del pref 0 from all lookup local'"]
        );
        // A local rule with a selector is someone's policy, not the catch-all.
        let mut selective = moved_rules();
        selective.push(RuleInfo {
            matches_all: false,
            ..rule(10, 255, false)
        });
        v.v6.rules = Some(selective);
        assert_eq!(warnings(&v), Vec::<String>::new());
    }

    #[test]
    fn missing_rules() {
        let mut v = complete();
        v.v4.rules = Some(vec![rule(0, 255, false), rule(32766, 254, false)]);
        assert_eq!(
            warnings(&v),
            [
                "VRF mgmt (table 10): no l3mdev rule: sockets bound to the VRF do not look up its \
              table; run 'ip rule add pref 1000 l3mdev protocol kernel'"
            ]
        );
        v.v4.rules = Some(vec![rule(1000, 0, true), rule(32766, 254, false)]);
        assert!(warnings(&v)[0].contains("no rule looks up the local table after the l3mdev"));
    }

    /// Each finding names its check and family, and the VRF; the line is message and fix.
    #[test]
    fn findings_name_their_checks() {
        let mut v = complete();
        v.v4.rules = Some(vec![rule(32766, 254, false)]);
        v.v6.rules = Some(default_rules());
        v.v4.routes = Some(vec![]);
        v.v6.addrs = Some(vec![]);
        let f = findings(&v);
        let checks: Vec<(&str, Option<&str>)> = f
            .iter()
            .map(|f| (f.check, f.interface.as_deref()))
            .collect();
        assert_eq!(
            checks,
            [
                ("vrf-l3mdev-rule-ipv4", Some("mgmt")),
                ("vrf-unreachable-default-ipv4", Some("mgmt")),
                ("vrf-local-rule-ipv6", Some("mgmt")),
                ("vrf-loopback-ipv6", Some("mgmt")),
            ]
        );
        assert_eq!(f[3].fix, "run 'ip -6 addr add ::1/128 dev mgmt nodad'");
        assert_eq!(
            f.iter().map(Finding::line).collect::<Vec<_>>(),
            warnings(&v)
        );
        // The man page documents every check (the -ipv6 ones as "(and -ipv6)").
        let man =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/bindif-launch.8"))
                .unwrap()
                .replace("\\-", "-");
        for c in checks.iter().map(|c| c.0.replace("-ipv6", "-ipv4")).chain(
            [
                "link-down",
                "link-no-carrier",
                "key-removed",
                "unit-removed",
                "net-cls-prio",
            ]
            .map(String::from),
        ) {
            assert!(man.contains(&c), "{c} undocumented");
        }
    }

    #[test]
    fn missing_default_and_loopback() {
        let mut v = complete();
        // A unicast default does not end lookups once its gateway is gone; another table's
        // unreachable default is no help (the routes are the VRF table's already).
        v.v6.routes = Some(vec![RouteInfo {
            kind: 1,
            ..unreachable_default(10)
        }]);
        v.v4.addrs = Some(vec![addr("10.0.0.1".parse().unwrap())]);
        v.v6.addrs = Some(vec![]);
        assert_eq!(
            warnings(&v),
            [
                "VRF mgmt (table 10): no 127.0.0.1 on the VRF device: localhost connections of \
                 its bound sockets fail; run 'ip addr add 127.0.0.1/8 dev mgmt'",
                "VRF mgmt (table 10): no unreachable default route in its table: a lookup that \
                 misses there falls through to the main table and leaves outside the VRF; run \
                 'ip -6 route add vrf mgmt unreachable default metric 8192'",
                "VRF mgmt (table 10): no ::1 on the VRF device: localhost connections of its \
                 bound sockets fail; run 'ip -6 addr add ::1/128 dev mgmt nodad'",
            ]
        );
        // A prohibit or blackhole default ends lookups too.
        v.v6.routes = Some(vec![RouteInfo {
            kind: 8,
            ..unreachable_default(10)
        }]);
        assert_eq!(warnings(&v).len(), 2);
    }
}
