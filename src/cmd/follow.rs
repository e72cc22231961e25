// SPDX-License-Identifier: LGPL-2.1-or-later
//! `--follow IFACE` and `--follow-gone IFACE`: bindings that follow their interface (beyond
//! v262, opt-in with `X-BindNetworkInterface-Follow=yes` or `Follow=yes` in
//! `/etc/bindif-launch.conf`).
//!
//! A binding is an ifindex. systemd 262 resolves the name at start and at daemon-reload only, so
//! an interface that is deleted and created again (ifupdown2, NetworkManager, a routing daemon
//! re-creating a VRF) leaves every bound unit with a stale ifindex until one of those: its new
//! sockets fail with ENODEV. A unit that follows its interface is bound again the moment the
//! interface reappears.
//!
//! No daemon of ours watches the links: the package's udev rule runs `--follow IFACE` for every
//! `add` or `move` (renamed to the name) of a network interface that the generator marked as
//! followed (`/run/systemd/generator/bindif-launch-follow/IFACE`), and `--follow-gone IFACE` for
//! every `remove`. udev handles one device's events in order, one at a time, so a VRF deleted
//! and created again at once is seen as exactly that; the trigger costs nothing while the links
//! stay as they are, and cannot miss an appearance the way a poller can. (A systemd unit wanted
//! by the interface's device unit was tried first: its start races the stop of the previous one
//! as jobs, and re-creations went unfollowed in the VMs.)
//!
//! `--follow` walks the running units as the daemon-reload re-resolution does (the same walk, the
//! same rule, [`reconcile::decide`]), but looks only at units that follow this interface: each
//! is bound to its new ifindex, or bound for the first time when it started before the interface
//! existed. `--follow-gone` binds nothing: it says, once per bound unit and disappearance, that
//! its new sockets fail until the interface comes back (the stale binding stays, as on v262).
//!
//! Under udev, stderr reaches udevd, which logs it at debug level only: the lines go to the
//! journal directly, each about a unit naming it (`OBJECT_SYSTEMD_UNIT=`), so `journalctl -u
//! UNIT` shows them beside the unit's own.
//!
//! The configuration is read from the unit files on disk now, as the attach step does at start.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::cmd::generator::reconcile::{self, Occasion, Resolver, Running, Wanted};
use crate::cmd::launch::config;
use crate::config::Defaults;
use crate::exit;
use crate::log::{self, Level};
use crate::program::Origin;
use crate::sys;
use crate::unit::eval::BindEval;

/// What a unit whose configuration evaluated to `bind` wants when `interface` (re)appears:
/// its binding, if it is bound to `interface` and follows it (its own key, else the default).
pub fn wanted(bind: &BindEval, interface: &str, defaults: &Defaults) -> Wanted {
    let follows = bind.follow.value.unwrap_or(defaults.follow);
    match bind.interface.value.as_deref() {
        Some(name) if follows && name == interface => Wanted::Interface {
            name: name.to_string(),
            fail_closed: bind.fail_closed.value,
        },
        _ => Wanted::Unset,
    }
}

/// The message for a followed unit whose interface is gone.
pub fn gone_message(unit: &str, interface: &str) -> String {
    format!(
        "{unit}: bind-interface: Network interface '{interface}' is gone (removed or renamed away): until it is back, new sockets fail with ENODEV or stay on the renamed interface (X-BindNetworkInterface-Follow=yes binds the unit again as it appears)."
    )
}

/// Where the lines go: stderr when it is a terminal or the journal stream (run by hand or from a
/// unit), else the journal itself (from udev), else stderr.
fn sink(debug: bool) -> impl Fn(Level, String) {
    use std::io::IsTerminal;
    let direct = !std::io::stderr().is_terminal()
        && !log::stderr_is_journal(
            std::env::var("JOURNAL_STREAM").ok().as_deref(),
            sys::process::stderr_dev_ino(),
        )
        && sys::journal::available();
    move |level: Level, text: String| {
        if !direct {
            return log::log(level, &text);
        }
        if level == Level::Debug && !debug {
            return;
        }
        let priority = (level as u8).to_string();
        let mut fields = vec![
            ("PRIORITY", priority.as_str()),
            ("SYSLOG_IDENTIFIER", "bindif-launch"),
            ("MESSAGE", text.as_str()),
        ];
        if let Some(unit) = unit_of_line(&text) {
            fields.push(("OBJECT_SYSTEMD_UNIT", unit));
        }
        if sys::journal::send(&fields).is_err() {
            log::log(level, &text);
        }
    }
}

/// The unit a line is about: `UNIT: bind-interface: …`.
fn unit_of_line(text: &str) -> Option<&str> {
    text.split_once(": bind-interface: ")
        .map(|(u, _)| u)
        .filter(|u| crate::unit::name::is_valid(u))
}

/// Entry point of both modes: logs, never fails for a unit's sake (each unit's error is logged
/// and ignored; the next appearance tries again).
pub fn run(root: &Path, interface: &str, gone: bool, debug: bool) -> i32 {
    let say = sink(debug);
    let loaded = crate::config::load(root);
    for w in &loaded.warnings {
        say(Level::Warning, w.clone());
    }
    let version = crate::cmd::launch::running_systemd_version().unwrap_or(259);
    let listed = marked_units(root, interface);
    let mut cache: HashMap<String, Wanted> = HashMap::new();
    let mut want = |unit: &str| {
        if listed.as_ref().is_some_and(|l| !is_listed(l, unit)) {
            return Wanted::Unset;
        }
        cache
            .entry(unit.to_string())
            .or_insert_with(|| match config::read(root, unit, version) {
                Ok(cfg) => wanted(&cfg.bind, interface, &loaded.defaults),
                Err(_) => Wanted::Unset,
            })
            .clone()
    };
    let roots = reconcile::walk_roots();
    if gone {
        follow_gone(&roots, interface, &mut want, &say);
    } else {
        follow(&roots, interface, &mut want, &say);
    }
    exit::SUCCESS
}

/// The units the generator's marker of `interface` lists (`None`: no marker, as when run by hand
/// for an interface the last daemon-reload did not mark; then every running unit is looked at).
/// Only these are loaded: a host's other running units cost nothing per event.
fn marked_units(root: &Path, interface: &str) -> Option<Vec<String>> {
    let marker = root
        .join(crate::cmd::generator::GENERATOR_DIRS[0].trim_start_matches('/'))
        .join(crate::cmd::generator::follow::MARKER_DIR)
        .join(interface);
    let text = std::fs::read_to_string(marker).ok()?;
    Some(
        crate::cmd::generator::follow::marker_units(&text)
            .into_iter()
            .map(str::to_string)
            .collect(),
    )
}

/// Whether `unit` is one of `listed`, itself or through its template.
fn is_listed(listed: &[String], unit: &str) -> bool {
    let template = crate::unit::name::template_of(unit);
    listed
        .iter()
        .any(|l| l == unit || template.as_deref() == Some(l.as_str()))
}

/// `--follow`: every running unit below `roots` that follows `interface` is bound to its
/// ifindex now. Returns what was done, summed over the roots.
pub fn follow(
    roots: &[PathBuf],
    interface: &str,
    want: &mut dyn FnMut(&str) -> Wanted,
    say: &dyn Fn(Level, String),
) -> reconcile::Tally {
    let mut resolver = Resolver::default();
    let mut total = reconcile::Tally::default();
    match resolver.resolve(interface) {
        Ok(Some(_)) => {}
        Ok(None) => {
            // Gone again before we looked: its remove event says so.
            say(
                Level::Debug,
                format!(
                    "Network interface '{interface}' does not exist (any more), nothing to follow."
                ),
            );
            return total;
        }
        Err(e) => {
            say(
                Level::Err,
                format!(
                    "Failed to resolve network interface '{interface}', not following it: {}",
                    sys::strerror(e)
                ),
            );
            return total;
        }
    }
    for root in roots {
        let found = reconcile::running(root, say);
        let t = reconcile::apply(&found, want, &mut resolver, Occasion::Follow, say);
        total.add(&t);
    }
    say(
        Level::Debug,
        format!(
            "Followed network interface '{interface}': {} unit(s) follow it, {} bound, {} failed.",
            total.examined, total.bound, total.failed
        ),
    );
    total
}

/// `--follow-gone`: one warning per running unit that follows `interface` and carries a binding
/// of the key (stale now). udev runs it for each remove (or rename away) in order, so each
/// disappearance is reported once even when the interface is back by the time this runs (its
/// add comes next and binds again). Nothing is detached: a stale binding makes new sockets fail
/// rather than go out unbound, and the next appearance replaces it. Returns the units warned
/// about.
pub fn follow_gone(
    roots: &[PathBuf],
    interface: &str,
    want: &mut dyn FnMut(&str) -> Wanted,
    say: &dyn Fn(Level, String),
) -> Vec<String> {
    let mut warned = Vec::new();
    for root in roots {
        for r in reconcile::running(root, say) {
            if !matches!(want(&r.unit), Wanted::Interface { .. }) || !carries_key_binding(&r) {
                continue;
            }
            say(Level::Warning, gone_message(&r.unit, interface));
            warned.push(r.unit);
        }
    }
    warned
}

/// Whether a program of the key is attached to the unit's cgroup (an unbound unit has nothing
/// to lose).
fn carries_key_binding(r: &Running) -> bool {
    sys::cgroup::open_cgroup_dir(&r.path)
        .and_then(|dir| reconcile::ours(dir.as_fd()))
        .is_ok_and(|a| a.iter().any(|a| a.origin == Origin::Key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::eval::Setting;

    fn bind(interface: Option<&str>, follow: Option<bool>) -> BindEval {
        let mut b = crate::unit::eval::BindEval::unset();
        b.interface = Setting::default_with(interface.map(str::to_string));
        b.follow = Setting::default_with(follow);
        b
    }

    #[test]
    fn only_units_that_follow_this_interface_are_wanted() {
        let off = Defaults { follow: false };
        let on = Defaults { follow: true };
        let mgmt = Wanted::interface("mgmt");
        assert_eq!(wanted(&bind(Some("mgmt"), Some(true)), "mgmt", &off), mgmt);
        assert_eq!(wanted(&bind(Some("mgmt"), None), "mgmt", &on), mgmt);
        // The unit's own `no` beats the package default; no key, no follow.
        assert_eq!(
            wanted(&bind(Some("mgmt"), Some(false)), "mgmt", &on),
            Wanted::Unset
        );
        assert_eq!(
            wanted(&bind(Some("mgmt"), None), "mgmt", &off),
            Wanted::Unset
        );
        assert_eq!(
            wanted(&bind(Some("dmz"), Some(true)), "mgmt", &on),
            Wanted::Unset
        );
        assert_eq!(wanted(&bind(None, Some(true)), "mgmt", &on), Wanted::Unset);
    }

    #[test]
    fn a_listed_template_stands_for_its_instances() {
        let listed = vec!["a.service".to_string(), "t@.service".to_string()];
        assert!(is_listed(&listed, "a.service"));
        assert!(is_listed(&listed, "t@x.service"));
        assert!(!is_listed(&listed, "b.service"));
        assert!(!is_listed(&listed, "u@x.service"));
    }

    #[test]
    fn lines_name_their_unit() {
        assert_eq!(
            unit_of_line("a@b.service: bind-interface: Bound to interface"),
            Some("a@b.service")
        );
        assert_eq!(unit_of_line("Followed network interface 'x': 1 unit"), None);
        assert_eq!(unit_of_line("not a unit: bind-interface: x"), None);
    }

    #[test]
    fn fail_closed_is_carried() {
        let mut b = bind(Some("mgmt"), Some(true));
        b.fail_closed = Setting::default_with(true);
        assert_eq!(
            wanted(&b, "mgmt", &Defaults::default()),
            Wanted::Interface {
                name: "mgmt".into(),
                fail_closed: true
            }
        );
    }
}
