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
use crate::unit::load::load_with;
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
/// directory it is in (as the search path names it, outside the root): what both
/// [`enumerate`] and [`mentioning`] walk.
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

/// Every service, socket and slice name the catalog's directories hold: unit files and symlinks, and
/// names that only exist as `NAME.d/` directories. Sorted.
pub fn enumerate(catalog: &Catalog) -> Vec<String> {
    let mut names = BTreeSet::new();
    for (_, n) in entries(catalog) {
        let n = n.strip_suffix(".d").map(str::to_string).unwrap_or(n);
        if handled_type(&n) && name::is_valid(&n) {
            names.insert(n);
        }
    }
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
                        names.insert(n);
                    }
                }
            }
        }
    }
    names.into_iter().collect()
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
/// dash-prefix or the type-wide one) holds a file mentioning it. Reads each file once as
/// bytes, without parsing, so that a caller (`status`) loads only those few units; a
/// dash-prefix match is generous, the loader then decides.
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
    names
        .iter()
        .filter(|n| stems.iter().any(|s| applies_to(s, n)))
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
