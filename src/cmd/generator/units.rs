// SPDX-License-Identifier: LGPL-2.1-or-later
//! Finding and loading the units the generator looks at: every service, socket and slice name the
//! search path knows, loaded with one cached [`Catalog`], and the search paths with the generator
//! output directories left out (while we run) or put back (to verify what we wrote).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cmd::launch::config::SYSTEMD_EXEC_PATH;
use crate::sys::process::check_executable;

use super::parallel::map_ordered;
use super::plan::Input;
use super::{GENERATOR_DIRS, TEMPLATE_PLACEHOLDER};
use crate::unit::catalog::Catalog;
use crate::unit::chase::read_in_root;
use crate::unit::load::{identify, load_with};
use crate::unit::name::{self, Kind};
use crate::unit::paths::{under_root, SearchPath};

/// The name to load for a found name: templates through the placeholder instance.
pub fn load_name(found: &str) -> String {
    if name::kind(found) == Some(Kind::Template) {
        if let Ok(n) = name::instantiate(found, TEMPLATE_PLACEHOLDER) {
            return n;
        }
    }
    found.to_string()
}

fn handled_type(n: &str) -> bool {
    matches!(name::unit_type(n), Some("service" | "socket" | "slice"))
}

/// The search path with the generator output directories left out.
pub fn search_path_without_generators(sp: &SearchPath) -> SearchPath {
    let dirs = sp
        .dirs()
        .iter()
        .filter(|d| !GENERATOR_DIRS.iter().any(|g| Path::new(g) == d.as_path()))
        .cloned()
        .collect();
    SearchPath::from_dirs(sp.root(), dirs)
}

/// Every visible entry (UTF-8, not dot-prefixed) of the catalog's search directories, with the
/// directory it is in (as the search path names it, outside the root): what [`mentioning`]
/// walks.
fn entries(catalog: &Catalog) -> impl Iterator<Item = (PathBuf, String)> + '_ {
    let root = catalog.root();
    catalog.search_path().dirs().iter().flat_map(move |dir| {
        std::fs::read_dir(under_root(root, dir))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .map(move |n| (dir.clone(), n))
    })
}

/// Every service, socket and slice name the catalog's directories hold: unit files and
/// symlinks, and names that only exist as `NAME.d/` directories; and the instances those reach
/// without a name of their own (see [`alias_reached_instances`]). Sorted.
pub fn enumerate(catalog: &Catalog) -> Vec<String> {
    // The catalog listed every search directory already: no second pass over them. A sorted
    // vector, not a set: thousands of names, each inserted into a tree, were a measurable
    // part of a run.
    let mut names: Vec<String> = Vec::new();
    for n in catalog.entry_names() {
        if n.starts_with('.') {
            continue;
        }
        let n = n.strip_suffix(".d").unwrap_or(n);
        if handled_type(n) {
            names.push(n.to_string());
        }
    }
    names.sort_unstable();
    names.dedup();
    // A dash-prefix instance directory `foo-@x.service.d/` applies to instance x of every
    // template `foo-…@.service`: those instances need their own evaluation too.
    let dash_instances: Vec<(String, String, String)> = names
        .iter()
        .filter(|n| name::kind(n) == Some(Kind::Instance))
        .filter_map(|n| {
            let p = name::prefix(n)?;
            let t = name::unit_type(n)?;
            let i = name::instance(n)?;
            p.ends_with('-')
                .then(|| (p.to_string(), i.to_string(), t.to_string()))
        })
        .collect();
    if !dash_instances.is_empty() {
        let mut found = Vec::new();
        let templates: Vec<String> = names
            .iter()
            .filter(|n| name::kind(n) == Some(Kind::Template))
            .cloned()
            .collect();
        for (p, i, t) in dash_instances {
            for tpl in &templates {
                if name::unit_type(tpl) == Some(t.as_str())
                    && name::prefix(tpl).is_some_and(|tp| tp.starts_with(&p) && tp != p)
                {
                    if let Ok(n) = name::instantiate(tpl, &i) {
                        found.push(n);
                    }
                }
            }
        }
        names.extend(found);
        names.sort_unstable();
        names.dedup();
    }
    let reached = alias_reached_instances(catalog, &names);
    names.extend(reached);
    names.sort_unstable();
    names.dedup();
    names
}

/// Instances that no entry names but whose drop-ins differ from their template's because of
/// an alias, found from the instance names among `names` (symlinks and `NAME.d/` directories):
/// - `bar-alias@3.service → yup@3.service` with only `yup@.service` installed: the unit is
///   `yup@3.service`, and the drop-ins of `bar-alias@3.service.d/` and `bar-alias@.service.d/`
///   are its own (TEST-15-DROPIN.sh, `testcase_template_dropins`). The generated drop-in and
///   the attach step's `%n` must use that name.
/// - `bar-alias@.service → bar@.service` makes `bar-alias@.service.d/` apply to every `bar@X`,
///   except an X whose `bar-alias@X.service` leads elsewhere: that `bar@X` differs from its
///   template and needs its own evaluation too. (`bar-alias@X.service.d/` alone makes `bar@X`
///   by the same rule: it is the unit `bar-alias@X` loads as.)
///
/// Two id-map lookups per instance name, no file read: this runs at every daemon-reload.
fn alias_reached_instances(catalog: &Catalog, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |fragment: Option<PathBuf>, instance: &str, name: &str| {
        let Some(base) = fragment.as_deref().and_then(Path::file_name) else {
            return;
        };
        let Some(base) = base.to_str() else { return };
        if base == name {
            return;
        }
        let unit = match name::kind(base) {
            Some(Kind::Template) => name::instantiate(base, instance).ok(),
            Some(Kind::Instance) => Some(base.to_string()),
            _ => None,
        };
        if let Some(u) = unit.filter(|u| names.binary_search(u).is_err()) {
            out.push(u);
        }
    };
    for n in names {
        if name::kind(n) != Some(Kind::Instance) {
            continue;
        }
        let (Some(t), Some(i)) = (name::template_of(n), name::instance(n)) else {
            continue;
        };
        // The unit `n` is when a symlink leads it elsewhere (the id loading gives it).
        add(catalog.fragment_of(n), i, n);
        // Instance `i` of the template that `n`'s template is an alias of.
        add(catalog.fragment_of(&t), i, &t);
    }
    out.sort();
    out.dedup();
    out
}

/// Loads every name with one catalog (in parallel, see [`map_ordered`]).
pub fn load_all(catalog: &Catalog, names: &[String]) -> Vec<Input> {
    map_ordered(names, |n| Input {
        name: n.clone(),
        unit: load_with(catalog, &load_name(n)),
    })
}

/// The search path for verification: the one we loaded from, with `normal` (a host path under
/// the root) where systemd has `/run/systemd/generator`.
pub fn search_path_with_output(full: &SearchPath, normal_host: &Path) -> SearchPath {
    let mut dirs = Vec::new();
    for d in full.dirs() {
        if d == Path::new(GENERATOR_DIRS[0]) {
            dirs.push(normal_host.to_path_buf());
        } else if !GENERATOR_DIRS.iter().any(|g| Path::new(g) == d.as_path()) {
            dirs.push(d.clone());
        }
    }
    if !dirs.iter().any(|d| d == normal_host) {
        dirs.insert(0, normal_host.to_path_buf());
    }
    SearchPath::from_dirs(full.root(), dirs)
}

/// Where systemd finds the plain command name `name` (`ExecStart=logger …`): the first
/// executable file of that name in its fixed search path, looked up below `root`; returned as
/// the path on the host. Never `$PATH`: systemd does not use it for this.
pub fn find_in_systemd_path(root: &Path, name: &str) -> Option<String> {
    std::env::split_paths(SYSTEMD_EXEC_PATH)
        .map(|dir| dir.join(name))
        .find(|host| check_executable(&under_root(root, host)).is_ok())
        .map(|host| host.to_string_lossy().into_owned())
}

/// The names among `names` (from [`enumerate`]) whose files may set `key`: a fragment, an
/// alias or a drop-in directory that applies to the name (its own, its template's, a
/// dash-prefix or the type-wide one), or one of an alias's, holds a file mentioning it. Reads
/// each file once as bytes, without parsing, so that a caller (`status`) loads only those few
/// units; a dash-prefix match is generous, the loader then decides.
pub fn mentioning(catalog: &Catalog, names: &[String], key: &str) -> Vec<String> {
    let root = catalog.root();
    let needle = key.as_bytes();
    let mentions = |host: &Path| {
        read_in_root(root, host).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
    };
    // Entry names (drop-in directories without their `.d`) with a file that mentions the key.
    let mut stems = BTreeSet::new();
    for (dir, n) in entries(catalog) {
        let host = dir.join(&n);
        match n.strip_suffix(".d") {
            Some(stem) => {
                let Ok(confs) = std::fs::read_dir(under_root(root, &host)) else {
                    continue;
                };
                let hit = confs.flatten().any(|c| {
                    let c = c.file_name();
                    Path::new(&c).extension().is_some_and(|x| x == "conf")
                        && mentions(&host.join(&c))
                });
                if hit {
                    stems.insert(stem.to_string());
                }
            }
            None if mentions(&host) => {
                stems.insert(n);
            }
            None => {}
        }
    }
    if stems.is_empty() {
        return Vec::new();
    }
    let reaches = |n: &str| stems.iter().any(|s| applies_to(s, n));
    // The drop-ins of a unit's aliases are its own too (`bar-alias@3.service.d/` for
    // `yup@3.service`): asked of the catalog only for names no stem reaches directly.
    let reaches_alias = |n: &str| {
        identify(catalog, &load_name(n)).is_ok_and(|id| id.aliases.iter().any(|a| reaches(a)))
    };
    names
        .iter()
        .filter(|n| reaches(n) || reaches_alias(n))
        .cloned()
        .collect()
}

/// Whether files under the entry `stem` (a unit file's name, or a drop-in directory's without
/// `.d`) can configure unit `n`: the same name, its template, the type-wide directory
/// (`service`), or a dash prefix (`foo-.service`, `foo-@.service`, `foo-@x.service`).
fn applies_to(stem: &str, n: &str) -> bool {
    if stem == n
        || name::template_of(n).as_deref() == Some(stem)
        || name::unit_type(n) == Some(stem)
    {
        return true;
    }
    match (name::prefix(stem), name::prefix(n)) {
        (Some(sp), Some(np)) => {
            sp.ends_with('-') && np.starts_with(sp) && name::unit_type(stem) == name::unit_type(n)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_entries_configure_a_unit() {
        for (stem, n) in [
            ("web.service", "web.service"),
            ("sshd@.service", "sshd@mgmt.service"),
            ("service", "web.service"),
            ("foo-.service", "foo-bar.service"),
            ("foo-@.service", "foo-bar@x.service"),
        ] {
            assert!(applies_to(stem, n), "{stem} {n}");
        }
        for (stem, n) in [
            ("web.service", "web2.service"),
            ("socket", "web.service"),
            ("foo-.socket", "foo-bar.service"),
            ("foo.service", "foo-bar.service"),
            ("sshd@mgmt.service", "sshd@dmz.service"),
        ] {
            assert!(!applies_to(stem, n), "{stem} {n}");
        }
    }
}
