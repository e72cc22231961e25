// SPDX-License-Identifier: LGPL-2.1-or-later
//! The unit model: reads unit files, drop-ins, specifiers and command lines the way systemd does.
//! Pure: no syscalls beyond reading files, and every path is relative to an injectable root.
//!
//! The pipeline is `load` (find the fragment and drop-ins, parse them into [`Assignment`]s in the
//! order systemd applies them) followed by evaluation of the settings we care about
//! (`BindNetworkInterface=`, `ExecStart=`) with specifier expansion.

use std::path::PathBuf;

pub mod catalog;
pub(crate) mod chase;
pub mod dropins;
pub mod env;
pub mod eval;
pub mod exec;
mod fxhash;
pub mod ifname;
pub mod load;
pub mod name;
pub mod paths;
pub mod specifier;
pub mod syntax;
pub mod words;

/// Where a line came from, as systemd names it in messages: the path on the host (without the
/// injected root) and the 1-based number of the line systemd cites: for a continued
/// assignment, its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub line: usize,
}

/// One `Key=value` assignment as systemd's parser hands it to a setting: continuation lines
/// joined, surrounding whitespace removed, the value otherwise raw (no specifiers expanded, no
/// quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    pub source: Source,
}

/// A message systemd would log while loading or evaluating a unit (a warning: loading goes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub source: Option<Source>,
    pub message: String,
}

/// A unit as read from disk: its files in the order systemd applies them and every assignment
/// they make, in that same order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedUnit {
    /// The unit's name (its id: for an alias, the name the fragment's symlink chain ends at).
    pub name: String,
    /// The fragment (`None` when only drop-ins exist, as systemd allows for some types).
    pub fragment: Option<PathBuf>,
    /// Drop-in files in application order.
    pub dropins: Vec<PathBuf>,
    pub assignments: Vec<Assignment>,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadedUnit {
    /// Assignments to `section`/`key`, in application order.
    pub fn values<'a>(
        &'a self,
        section: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = &'a Assignment> {
        self.assignments
            .iter()
            .filter(move |a| a.section == section && a.key == key)
    }
}

/// The assignments of a list setting (`ExecStart=`, …) that are in force after `assignments`,
/// in order: an empty value resets the list, as systemd applies it.
pub fn effective_list<'a>(
    assignments: impl Iterator<Item = &'a Assignment>,
) -> Vec<&'a Assignment> {
    let mut v = Vec::new();
    for a in assignments {
        if a.value.is_empty() {
            v.clear();
        } else {
            v.push(a);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(value: &str) -> Assignment {
        Assignment {
            section: "Service".into(),
            key: "ExecStart".into(),
            value: value.into(),
            source: Source {
                file: "x.service".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn an_empty_value_resets_the_list() {
        let list = [a("/bin/a"), a(""), a("/bin/b"), a("/bin/c")];
        let eff: Vec<&str> = effective_list(list.iter())
            .iter()
            .map(|x| x.value.as_str())
            .collect();
        assert_eq!(eff, ["/bin/b", "/bin/c"]);
        assert!(effective_list([a("/bin/a"), a("")].iter()).is_empty());
    }
}
