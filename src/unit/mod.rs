// SPDX-License-Identifier: LGPL-2.1-or-later
//! The unit model: reads unit files, drop-ins, specifiers and command lines the way systemd does.
//! Pure: no syscalls beyond reading files, and every path is relative to an injectable root.
//!
//! The pipeline is `load` (find the fragment and drop-ins, parse them into [`Assignment`]s in the
//! order systemd applies them) followed by evaluation of the settings we care about
//! (`BindNetworkInterface=`, `ExecStart=`) with specifier expansion.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod catalog;
pub(crate) mod chase;
pub mod dropins;
pub mod env;
pub mod eval;
pub mod exec;
pub(crate) mod fxhash;
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
    /// Shared by every assignment and message of one file (one allocation per file parsed).
    pub file: Arc<Path>,
    pub line: usize,
}

/// One `Key=value` assignment as systemd's parser hands it to a setting: continuation lines
/// joined, surrounding whitespace removed, the value otherwise raw (no specifiers expanded, no
/// quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Shared by the assignments of one section of one file.
    pub section: Arc<str>,
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
    /// Drop-in files in application order (shared with the units of the same drop-ins).
    pub dropins: Arc<Vec<PathBuf>>,
    pub assignments: Assignments,
    pub diagnostics: Vec<Diagnostic>,
}

/// A unit's assignments in application order: runs shared with the other units one
/// [`catalog::Catalog`] loads (a fragment's, a set of drop-ins'), then the unit's own. A file
/// is parsed once per catalog, and the units it applies to hold its assignments, never copies:
/// copying them was most of the memory traffic of a generator run over thousands of units.
#[derive(Clone, Default)]
pub struct Assignments {
    shared: Vec<Arc<Vec<Assignment>>>,
    own: Vec<Assignment>,
}

impl Assignments {
    pub fn new() -> Assignments {
        Assignments::default()
    }

    /// Appends a run shared with other units (nothing is copied).
    pub(crate) fn push_shared(&mut self, run: Arc<Vec<Assignment>>) {
        if run.is_empty() {
            return;
        }
        if !self.own.is_empty() {
            // Keep the order: what was pushed one by one comes before the run.
            let own = std::mem::take(&mut self.own);
            self.shared.push(Arc::new(own));
        }
        self.shared.push(run);
    }

    /// Appends one assignment.
    pub fn push(&mut self, a: Assignment) {
        self.own.push(a);
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            runs: self.shared.iter(),
            front: [].iter(),
            back: [].iter(),
            own: self.own.iter(),
        }
    }

    pub fn len(&self) -> usize {
        self.shared.iter().map(|r| r.len()).sum::<usize>() + self.own.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th assignment in application order.
    pub fn get(&self, i: usize) -> Option<&Assignment> {
        let mut i = i;
        for r in &self.shared {
            match r.get(i) {
                Some(a) => return Some(a),
                None => i -= r.len(),
            }
        }
        self.own.get(i)
    }
}

/// The iterator of [`Assignments::iter`]: `front`, the runs not started, `back` (a run
/// started from the end), then the unit's own.
#[derive(Clone)]
pub struct Iter<'a> {
    runs: std::slice::Iter<'a, Arc<Vec<Assignment>>>,
    front: std::slice::Iter<'a, Assignment>,
    back: std::slice::Iter<'a, Assignment>,
    own: std::slice::Iter<'a, Assignment>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Assignment;

    fn next(&mut self) -> Option<&'a Assignment> {
        loop {
            if let Some(a) = self.front.next() {
                return Some(a);
            }
            match self.runs.next() {
                Some(r) => self.front = r.iter(),
                None => return self.back.next().or_else(|| self.own.next()),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.front.len()
            + self.runs.clone().map(|r| r.len()).sum::<usize>()
            + self.back.len()
            + self.own.len();
        (n, Some(n))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a Assignment> {
        if let Some(a) = self.own.next_back() {
            return Some(a);
        }
        loop {
            if let Some(a) = self.back.next_back() {
                return Some(a);
            }
            match self.runs.next_back() {
                Some(r) => self.back = r.iter(),
                None => return self.front.next_back(),
            }
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Assignments {
    type Item = &'a Assignment;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl std::ops::Index<usize> for Assignments {
    type Output = Assignment;

    fn index(&self, i: usize) -> &Assignment {
        match self.get(i) {
            Some(a) => a,
            None => panic!("assignment {i} of {}", self.len()),
        }
    }
}

impl From<Vec<Assignment>> for Assignments {
    fn from(own: Vec<Assignment>) -> Assignments {
        Assignments {
            shared: Vec::new(),
            own,
        }
    }
}

impl FromIterator<Assignment> for Assignments {
    fn from_iter<I: IntoIterator<Item = Assignment>>(iter: I) -> Assignments {
        Assignments::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl Extend<Assignment> for Assignments {
    fn extend<I: IntoIterator<Item = Assignment>>(&mut self, iter: I) {
        self.own.extend(iter);
    }
}

/// Equal when the same assignments come in the same order, however they are shared.
impl PartialEq for Assignments {
    fn eq(&self, other: &Assignments) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Assignments {}

impl std::fmt::Debug for Assignments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
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
            .filter(move |a| &*a.section == section && a.key == key)
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
                file: Path::new("x.service").into(),
                line: 1,
            },
        }
    }

    #[test]
    fn shared_runs_and_own_assignments_keep_their_order() {
        let run = |v: &[&str]| Arc::new(v.iter().map(|x| a(x)).collect::<Vec<_>>());
        let mut s = Assignments::new();
        s.push(a("/bin/1"));
        s.push_shared(run(&["/bin/2", "/bin/3"]));
        s.push_shared(run(&[]));
        s.push(a("/bin/4"));
        s.push_shared(run(&["/bin/5"]));
        s.push(a("/bin/6"));
        let want: Vec<Assignment> = (1..=6).map(|i| a(&format!("/bin/{i}"))).collect();
        let values = |it: &mut dyn Iterator<Item = &Assignment>| -> Vec<String> {
            it.map(|x| x.value.clone()).collect()
        };
        let plain = Assignments::from(want.clone());
        assert_eq!(values(&mut s.iter()), values(&mut plain.iter()));
        assert_eq!(values(&mut s.iter().rev()), values(&mut plain.iter().rev()));
        assert_eq!(s, plain, "equal however they are shared");
        assert_eq!((s.len(), s.iter().len()), (6, 6));
        assert_eq!(s[0].value, "/bin/1");
        assert_eq!(s[4].value, "/bin/5");
        assert!(s.get(6).is_none());
        // Front and back meet in the middle of a run without repeating or losing one.
        let mut it = s.iter();
        assert_eq!(it.next().map(|x| x.value.as_str()), Some("/bin/1"));
        assert_eq!(it.next_back().map(|x| x.value.as_str()), Some("/bin/6"));
        assert_eq!(it.next().map(|x| x.value.as_str()), Some("/bin/2"));
        assert_eq!(it.next_back().map(|x| x.value.as_str()), Some("/bin/5"));
        assert_eq!(it.next_back().map(|x| x.value.as_str()), Some("/bin/4"));
        assert_eq!(it.len(), 1);
        assert_eq!(it.next().map(|x| x.value.as_str()), Some("/bin/3"));
        assert!(it.next().is_none() && it.next_back().is_none());
        assert!(Assignments::new().is_empty());
        assert_ne!(s, Assignments::from(want[..5].to_vec()));
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
