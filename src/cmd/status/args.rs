// SPDX-License-Identifier: LGPL-2.1-or-later
//! The `UNIT` arguments of `status`.

use super::error::Error;
use crate::unit::name::{self, Kind};

/// A `UNIT` argument: a unit name (a bare name means `.service`, as systemctl does) or a
/// template, which matches all of its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitPattern {
    pub name: String,
    pub template: bool,
}

impl UnitPattern {
    pub fn parse(arg: &str) -> Result<UnitPattern, Error> {
        let name = if name::kind(arg).is_some() {
            arg.to_string()
        } else {
            format!("{arg}.service")
        };
        match name::kind(&name) {
            Some(Kind::Template) => Ok(UnitPattern {
                name,
                template: true,
            }),
            Some(_) => Ok(UnitPattern {
                name,
                template: false,
            }),
            None => Err(Error::InvalidUnit(arg.to_string())),
        }
    }

    /// Whether the cgroup directory called `last` belongs to this unit.
    pub fn matches(&self, last: &str) -> bool {
        if self.template {
            name::template_of(last).as_deref() == Some(self.name.as_str())
        } else {
            last == self.name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_arguments() {
        let p = UnitPattern::parse("sshd").unwrap();
        assert_eq!((p.name.as_str(), p.template), ("sshd.service", false));
        assert!(p.matches("sshd.service") && !p.matches("sshd@x.service"));
        let p = UnitPattern::parse("sshd@.service").unwrap();
        assert!(p.template);
        assert!(p.matches("sshd@mgmt.service"));
        assert!(!p.matches("sshd.service") && !p.matches("other@mgmt.service"));
        let p = UnitPattern::parse("sshd@mgmt.service").unwrap();
        assert!(p.matches("sshd@mgmt.service") && !p.matches("sshd@dmz.service"));
        assert!(UnitPattern::parse("chrony.socket").is_ok());
        for bad in ["a/b", "", "x.service/y"] {
            assert!(UnitPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
