// SPDX-License-Identifier: LGPL-2.1-or-later
//! Drop-in discovery: `unit_file_find_dropin_paths()` and `unit_file_find_dirs()` in
//! src/shared/dropin.c, and `conf_files_list_strv()` in src/basic/conf-files.c.
//!
//! Rules (each checked against systemd 252 with `systemd-analyze verify --root=DIR`):
//! - For every search-path directory, in priority order, and for the unit's id, then each alias:
//!   `NAME.d/`, for an instance also the template's `TEMPLATE.d/`, then the dash prefixes, each
//!   again with its template: `foo-bar-baz.service` → `foo-bar-.service.d/`, `foo-.service.d/`;
//!   `foo-bar@x.service` → `foo-bar@.service.d/`, then `foo-.service.d/` (surprise: the template's
//!   own dash walk has no instance, so it builds the *plain* prefix), then `foo-@x.service.d/`,
//!   `foo-@.service.d/`. The prefix is the part before `@`, so `foo-bar-.service.d/` is *not*
//!   searched for `foo-bar@x.service`.
//! - A trailing dash is chopped once before looking for the next dash, so `a-b-.service` searches
//!   `a-.service.d/` but never `a-b--.service.d/`; a leading dash ends the walk (`-x-y.service`
//!   searches `-x-.service.d/` but not `-.service.d/`).
//! - Last, in every directory, the type-wide `service.d/` (`socket.d/`, …).
//! - Each drop-in directory path is canonicalized (symlinks resolved: on a merged-usr host
//!   `/lib/systemd/system/x.d` is reported as `/usr/lib/systemd/system/x.d`).
//! - All `*.conf` files of all those directories (hidden files excluded; directories and
//!   `/dev/null` symlinks included) are sorted by file name; for equal file names the directory
//!   that came first in the list above wins, the others are "Skipping overridden file". A
//!   `/dev/null` symlink or empty file so masks a same-named lower-priority drop-in and is itself
//!   applied as an empty file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::name;

/// Drop-in directory names searched for `name` inside one directory, in systemd's order.
pub(crate) fn dir_names(name: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 512 {
        return;
    }
    let mut d = String::with_capacity(name.len() + 2);
    d.push_str(name);
    d.push_str(".d");
    out.push(d);
    // One validation; the parts below are what name::{template_of, prefix, unit_type, instance}
    // return for a valid name.
    let Some(kind) = name::kind(name) else {
        return;
    };
    let Some(dot) = name.rfind('.') else {
        return;
    };
    let stem = &name[..dot];
    let utype = &name[dot + 1..];
    let at = stem.find('@');
    if let (name::Kind::Instance, Some(at)) = (kind, at) {
        // template_of(): `foo@bar.service` → `foo@.service`.
        let mut t = String::with_capacity(at + 1 + name.len() - dot);
        t.push_str(&name[..=at]);
        t.push_str(&name[dot..]);
        dir_names(&t, out, depth + 1);
    }
    let prefix = match at {
        Some(at) => &name[..at],
        None => stem,
    };
    let b = prefix.as_bytes();
    let mut end = b.len();
    let mut chopped = false;
    let cut;
    loop {
        let Some(dash) = b[..end].iter().rposition(|&c| c == b'-') else {
            return;
        };
        if dash == 0 {
            return;
        }
        if dash + 1 != end || chopped {
            cut = dash + 1;
            break;
        }
        end = dash;
        chopped = true;
    }
    let new_prefix = &prefix[..cut];
    let mut built = String::with_capacity(name.len());
    built.push_str(new_prefix);
    if let (name::Kind::Instance, Some(at)) = (kind, at) {
        built.push('@');
        built.push_str(&stem[at + 1..]);
    }
    built.push('.');
    built.push_str(utype);
    if name::is_valid(&built) {
        dir_names(&built, out, depth + 1);
    }
}

/// The entries of `dir` (a host path) ending in `suffix`, hidden files excluded, each with
/// whether it is a symlink; `None` when the directory cannot be listed.
pub(crate) fn list_dir(root: &Path, dir: &Path, suffix: &str) -> Option<Vec<(String, bool)>> {
    let rd = std::fs::read_dir(super::paths::under_root(root, dir)).ok()?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Ok(n) = e.file_name().into_string() else {
            // Non-UTF-8 names: systemd would list them; we cannot name them in a String.
            continue;
        };
        if n.starts_with('.') || !n.ends_with(suffix) {
            continue;
        }
        let symlink = e.file_type().map_or(true, |t| t.is_symlink());
        out.push((n, symlink));
    }
    Some(out)
}

/// `conf_files_list_strv()` without flags: the files ending in `suffix` in `dirs` (host paths),
/// sorted by file name, the first directory winning for equal names.
pub fn conf_files(root: &Path, dirs: &[PathBuf], suffix: &str) -> Vec<PathBuf> {
    list(root, dirs, suffix)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn list(root: &Path, dirs: &[PathBuf], suffix: &str) -> Vec<(PathBuf, bool)> {
    let mut by_name: HashMap<String, (PathBuf, bool)> = HashMap::new();
    for (k, d) in dirs.iter().enumerate() {
        if dirs[..k].contains(d) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(super::paths::under_root(root, d)) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(n) = e.file_name().into_string() else {
                // Non-UTF-8 names: systemd would list them; we cannot name them in a String.
                continue;
            };
            if n.starts_with('.') || !n.ends_with(suffix) {
                continue;
            }
            let symlink = e.file_type().map_or(true, |t| t.is_symlink());
            by_name
                .entry(n)
                .or_insert_with_key(|n| (d.join(n), symlink));
        }
    }
    let mut v: Vec<(String, (PathBuf, bool))> = by_name.into_iter().collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &str) -> Vec<String> {
        let mut v = Vec::new();
        dir_names(n, &mut v, 0);
        v
    }

    #[test]
    fn dash_prefixes() {
        assert_eq!(
            names("foo-bar-baz.service"),
            [
                "foo-bar-baz.service.d",
                "foo-bar-.service.d",
                "foo-.service.d"
            ]
        );
        assert_eq!(
            names("foo-bar@x.service"),
            [
                "foo-bar@x.service.d",
                "foo-bar@.service.d",
                // The template recursion builds a *plain* prefix (no instance): dropin.c.
                "foo-.service.d",
                "foo-@x.service.d",
                "foo-@.service.d"
            ]
        );
        assert_eq!(names("a-b-.service"), ["a-b-.service.d", "a-.service.d"]);
        assert_eq!(
            names("a--b.service"),
            ["a--b.service.d", "a--.service.d", "a-.service.d"]
        );
        assert_eq!(names("-x-y.service"), ["-x-y.service.d", "-x-.service.d"]);
        assert_eq!(
            names("sshd@mgmt.service"),
            ["sshd@mgmt.service.d", "sshd@.service.d"]
        );
    }
}
