// SPDX-License-Identifier: LGPL-2.1-or-later
//! The listeners of a `.socket` unit on a legacy cgroup host (pure).
//!
//! On unified and hybrid hosts systemd (since v243, when it can attach BPF programs) creates a
//! socket unit's inet listeners in a short-lived helper inside the unit's cgroup, so the program
//! the attach step put there binds them. On a legacy host PID 1 creates them itself, in its own
//! cgroup: no program of ours sees them. The one hook systemd offers there is the socket unit's
//! own `BindToDevice=`: PID 1 sets `SO_BINDTODEVICE` on every `AF_INET`/`AF_INET6` listener
//! before `bind()` and fails the listener when it cannot (the families `BindNetworkInterface=`
//! covers; netlink, FIFOs and `AF_UNIX` sockets are not bound by either).
//!
//! What `BindToDevice=` takes, in every systemd from v239 to v257: the value as written, with
//! no specifier expansion; empty or `*` resets; a name `ifname_valid()` refuses (longer than 15
//! bytes, an ifindex, `all`…) is logged and ignored, keeping the value before it. And what it
//! adds that `BindNetworkInterface=` does not: unless the name is `lo`, `BindsTo=` and `After=`
//! on `sys-subsystem-net-devices-NAME.device` (the man pages say what that changes).

use crate::unit::eval::{self, EvalContext};
use crate::unit::ifname;
use crate::unit::name;
use crate::unit::specifier::SpecifierContext;
use crate::unit::{Assignment, LoadedUnit};

/// The socket unit key systemd binds listeners with.
pub const KEY_DEVICE: &str = "BindToDevice";

/// What the generated drop-in does for a socket unit's listeners on a legacy host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listeners {
    /// No interface to bind them to (the key is reset, or no value of it is valid: the attach
    /// step's own diagnostics say why).
    Nothing,
    /// `BindToDevice=` with this name.
    Device(String),
    /// The unit sets `BindToDevice=` itself, to this name: it is kept.
    Own(String),
    /// They cannot be bound on this host; why, in a sentence.
    Unbindable(String),
}

/// The listeners of `u`, a socket unit whose specifiers `ctx` resolves. A template is loaded
/// through the placeholder instance: its value is also worked out for a second instance, and
/// only one that is the same valid name for both is independent of the instance.
pub fn legacy_listeners(u: &LoadedUnit, ctx: &SpecifierContext<'_>) -> Listeners {
    if let Some(own) = own_device(u.values("Socket", KEY_DEVICE)) {
        return Listeners::Own(own.to_string());
    }
    let value = bind_value(u, ctx);
    if name::instance(&u.name) == Some(super::TEMPLATE_PLACEHOLDER) {
        if let Some(why) = template_unfit(u, ctx, value.as_deref()) {
            return Listeners::Unbindable(why);
        }
    }
    let Some(name) = value else {
        return Listeners::Nothing;
    };
    match device_unfit(&name) {
        Some(why) => Listeners::Unbindable(format!("{name} {why}")),
        None => Listeners::Device(name),
    }
}

/// A second instance to load a template through: any other valid name would do.
const OTHER_INSTANCE: &str = "bindif0";

/// The effective `BindNetworkInterface=` of `u` under `ctx`, as the attach step reads it.
fn bind_value(u: &LoadedUnit, ctx: &SpecifierContext<'_>) -> Option<String> {
    let eval_ctx = EvalContext::new(ctx.clone(), super::NATIVE_SINCE - 1);
    eval::evaluate_bind(u, &eval_ctx).interface.value
}

/// Why `template` (loaded through the placeholder instance, its value `value`) cannot get a
/// `BindToDevice=` line, if it cannot: it sets the key, and the value is not one valid name
/// for every instance. `BindToDevice=` expands no specifiers, and `%I` or `%f` of the
/// placeholder say nothing about a real instance, so treating such a value as nothing to bind
/// would leave every instance's listeners unbound without a word.
fn template_unfit(
    template: &LoadedUnit,
    ctx: &SpecifierContext<'_>,
    value: Option<&str>,
) -> Option<String> {
    let raw = effective_raw(template).filter(|r| !r.is_empty())?;
    let other_name = template.name.replacen(
        &format!("@{}.", super::TEMPLATE_PLACEHOLDER),
        &format!("@{OTHER_INSTANCE}."),
        1,
    );
    let other_ctx = SpecifierContext {
        unit: &other_name,
        ..ctx.clone()
    };
    let other = bind_value(template, &other_ctx);
    let why = match (value, other.as_deref()) {
        (Some(a), Some(b)) if a == b => return None,
        (None, None) => "gives no valid interface name for the instances tried",
        _ => "depends on the instance",
    };
    Some(format!(
        "BindNetworkInterface={raw} {why} and BindToDevice= expands no specifiers; an instance with a drop-in directory of its own (NAME@INSTANCE.socket.d/) gets its own drop-in and is bound"
    ))
}

/// The last `BindNetworkInterface=` as written (for messages).
fn effective_raw(u: &LoadedUnit) -> Option<String> {
    u.values("Socket", eval::KEY_BIND)
        .last()
        .map(|a| a.value.clone())
}

/// The unit's own effective `BindToDevice=`, as systemd folds its assignments: empty or `*`
/// resets, an invalid name is ignored (the one before it stays).
fn own_device<'a>(assignments: impl Iterator<Item = &'a Assignment>) -> Option<&'a str> {
    let mut own = None;
    for a in assignments {
        let v = a.value.as_str();
        if resets(v) {
            own = None;
        } else if ifname::valid_full(v, false) {
            own = Some(v);
        }
    }
    own
}

/// Whether a `BindToDevice=` value resets the key: empty or `*`.
pub fn resets(value: &str) -> bool {
    value.is_empty() || value == "*"
}

/// Why a valid `BindNetworkInterface=` name cannot go on a `BindToDevice=` line, if it cannot:
/// the key takes primary names only, and a unit file line ending in a backslash continues.
pub fn device_unfit(name: &str) -> Option<&'static str> {
    if !ifname::valid_full(name, false) {
        Some("is no name BindToDevice= accepts (a primary interface name of at most 15 bytes; an alternative name is not one)")
    } else if name.ends_with('\\') {
        Some("ends in a backslash, which a unit file line cannot end in without continuing")
    } else {
        None
    }
}

/// The drop-in lines for `listeners`: `BindToDevice=` with why, or why the unit's own is kept.
/// Empty when there is nothing to say.
pub fn dropin_lines(listeners: &Listeners) -> String {
    match listeners {
        Listeners::Device(name) => {
            let dependency = if name == "lo" {
                String::new()
            } else {
                format!(
                    "\n# Unlike BindNetworkInterface=, it makes the unit wait for\n# sys-subsystem-net-devices-{name}.device (BindsTo=, After=)."
                )
            };
            format!(
                "# Legacy cgroup host: PID 1 creates the listeners itself, where no program of ours\n# sees them; BindToDevice= binds every inet listener.{dependency}\n{KEY_DEVICE}={name}\n"
            )
        }
        Listeners::Own(name) => format!(
            "# The unit sets BindToDevice={name} itself: its listeners keep that device, as on\n# systemd v262, where the socket option set after creation wins over the binding.\n"
        ),
        Listeners::Nothing | Listeners::Unbindable(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Source;
    use std::path::PathBuf;

    fn a(value: &str) -> Assignment {
        Assignment {
            section: "Socket".into(),
            key: KEY_DEVICE.into(),
            value: value.into(),
            source: Source {
                file: PathBuf::from("/etc/systemd/system/s.socket").into(),
                line: 2,
            },
        }
    }

    /// A template loaded through the placeholder instance, setting `BindNetworkInterface=`.
    fn template(value: &str) -> LoadedUnit {
        let mut b = a(value);
        b.key = eval::KEY_BIND.into();
        LoadedUnit {
            name: format!("h@{}.socket", super::super::TEMPLATE_PLACEHOLDER),
            assignments: vec![b].into(),
            ..LoadedUnit::default()
        }
    }

    fn listeners_of_template(value: &str) -> Listeners {
        let host = crate::unit::specifier::HostFacts::default();
        let u = template(value);
        legacy_listeners(&u, &SpecifierContext::new(&u.name, &host))
    }

    /// Only a value that is the same valid name for every instance is bound; any other value
    /// of a template is named as unbindable, never taken as nothing to bind.
    #[test]
    fn a_template_is_bound_only_to_a_name_independent_of_the_instance() {
        assert_eq!(
            listeners_of_template("mgmt"),
            Listeners::Device("mgmt".into())
        );
        assert_eq!(
            listeners_of_template("%p-x"),
            Listeners::Device("h-x".into())
        );
        for v in ["%I", "%i", "vrf-%i"] {
            match listeners_of_template(v) {
                Listeners::Unbindable(why) => {
                    assert!(
                        why.starts_with(&format!(
                            "BindNetworkInterface={v} depends on the instance"
                        )),
                        "{v}: {why}"
                    )
                }
                other => panic!("{v}: {other:?}"),
            }
        }
        // Invalid for both instances tried (`%f` starts with `/`): still named, not nothing.
        for v in ["%f", "bad/name"] {
            match listeners_of_template(v) {
                Listeners::Unbindable(why) => {
                    assert!(why.contains("no valid interface name"), "{v}: {why}")
                }
                other => panic!("{v}: {other:?}"),
            }
        }
        // A reset is nothing to bind.
        assert_eq!(listeners_of_template(""), Listeners::Nothing);
    }

    #[test]
    fn own_device_folds_as_systemd_does() {
        let fold = |vs: &[&str]| {
            let list: Vec<Assignment> = vs.iter().map(|v| a(v)).collect();
            own_device(list.iter()).map(str::to_owned)
        };
        assert_eq!(fold(&[]), None);
        assert_eq!(fold(&["eth0"]), Some("eth0".into()));
        assert_eq!(fold(&["eth0", ""]), None);
        assert_eq!(fold(&["eth0", "*"]), None);
        assert_eq!(fold(&["eth0", "*", "eth1"]), Some("eth1".into()));
        // Ignored, the earlier one stays: an ifindex, a name too long for IFNAMSIZ.
        assert_eq!(fold(&["eth0", "7"]), Some("eth0".into()));
        assert_eq!(
            fold(&["eth0", "a-very-long-alternative-name"]),
            Some("eth0".into())
        );
    }

    #[test]
    fn unfit_names_are_named() {
        assert_eq!(device_unfit("mgmt"), None);
        assert_eq!(device_unfit("fifteen-bytes15"), None);
        assert!(device_unfit("sixteen-bytes-16").is_some());
        assert!(device_unfit("eth\\").is_some());
    }

    #[test]
    fn lines_name_the_device_dependency_except_for_lo() {
        let d = dropin_lines(&Listeners::Device("mgmt".into()));
        assert!(d.ends_with("\nBindToDevice=mgmt\n"), "{d}");
        assert!(d.contains("sys-subsystem-net-devices-mgmt.device"), "{d}");
        let lo = dropin_lines(&Listeners::Device("lo".into()));
        assert!(lo.ends_with("\nBindToDevice=lo\n"), "{lo}");
        assert!(!lo.contains(".device"), "{lo}");
        let own = dropin_lines(&Listeners::Own("eth1".into()));
        assert!(!own.lines().any(|l| !l.starts_with('#')), "{own}");
        assert!(own.contains("BindToDevice=eth1 itself"), "{own}");
        assert_eq!(dropin_lines(&Listeners::Nothing), "");
        assert_eq!(dropin_lines(&Listeners::Unbindable("x".into())), "");
    }
}
