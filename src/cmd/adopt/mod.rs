// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch adopt`: moves services bound the old ways (`ip vrf exec` wrappers, with or
//! without `runuser`/`sudo -u`/`setpriv` inside, `ip -n NS vrf exec`, pyvrf-style
//! `BPFProgram=sock_create:` pins, Cumulus-style generated `ip vrf exec %i` drop-ins) to one
//! `BindNetworkInterface=` drop-in. Edits nothing without `--write`.
//!
//! Shape: [`wrapper`] recognises command lines, [`plan`] turns loaded units into plans (pure),
//! [`render`] prints them, [`write`] is the only part that touches files. This module reads the
//! host (unit files through the crate's unit model, the systemd version) and routes.

pub mod plan;
pub mod render;
pub mod wrapper;
pub mod write;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::cmd::generator;
use crate::exit;
use crate::unit::catalog::Catalog;
use crate::unit::chase::chase;
use crate::unit::dropins;
use crate::unit::load::load_with;
use crate::unit::name::{self, Kind};
use crate::unit::paths::{under_root, SearchPath};
use crate::unit::LoadedUnit;
use plan::Plan;

pub use crate::cli::AdoptArgs as Options;

/// The first component of `host` (a host path) that is a symlink below `root`, the root itself
/// not counted; `None` when there is none. Components that do not exist end the walk: nothing
/// below them can be a symlink yet.
pub fn first_symlink(root: &Path, host: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut cur = PathBuf::from("/");
    for c in host
        .components()
        .skip_while(|c| matches!(c, Component::RootDir))
    {
        cur.push(c);
        match std::fs::symlink_metadata(under_root(root, &cur)) {
            Ok(m) if m.file_type().is_symlink() => return Ok(Some(cur)),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Why adopt may not write for an override listed as `listed` in the drop-in directory
/// `listed_dir`: a symlink on the way there, or on the way to the new drop-in's directory.
fn symlink_refusal(root: &Path, listed_dir: &Path, listed: &Path) -> Option<String> {
    let target_dir = Path::new(plan::ETC_DIR).join(listed_dir.file_name()?);
    for (path, dir) in [(listed, listed_dir), (&target_dir, &target_dir)] {
        let link = match first_symlink(root, path) {
            Ok(None) => continue,
            Ok(Some(link)) => link,
            Err(e) => return Some(format!("cannot inspect {}: {e}", path.display())),
        };
        return Some(if link == listed {
            format!(
                "the override file {} is a symlink; adopt moves only real files",
                link.display()
            )
        } else if link == dir {
            format!(
                "the drop-in directory {} is a symlink; adopt writes only real directories",
                dir.display()
            )
        } else {
            format!(
                "the drop-in directory {} is below the symlink {}; adopt writes only real directories",
                dir.display(),
                link.display()
            )
        });
    }
    None
}

/// Where each unit's drop-in files were found on the search path: the unit model reports them
/// symlink-resolved, so a drop-in directory `webd.service.d -> other.service.d` would otherwise
/// make the override look like other.service's. Keyed by the resolved host path.
fn origins(catalog: &Catalog, loaded: &[(String, LoadedUnit)]) -> HashMap<PathBuf, plan::Origin> {
    let root = catalog.root();
    let mut out: HashMap<PathBuf, plan::Origin> = HashMap::new();
    for (n, u) in loaded {
        let mut dir_names = Vec::new();
        for x in [n.as_str(), u.name.as_str()] {
            dropins::dir_names(x, &mut dir_names, 0);
        }
        if let Some(t) = name::unit_type(&u.name) {
            dir_names.push(format!("{t}.d"));
        }
        for f in u.dropins.iter() {
            let (Some(parent), Some(file)) = (f.parent(), f.file_name()) else {
                continue;
            };
            if out.contains_key(f) {
                continue;
            }
            // systemd's order: search directory by search directory, names in order.
            let listed_dir = catalog.search_path().dirs().iter().find_map(|d| {
                dir_names.iter().map(|x| d.join(x)).find(|l| {
                    std::fs::symlink_metadata(under_root(root, l)).is_ok()
                        && chase(root, l, true).is_ok_and(|c| c == parent)
                })
            });
            let Some(listed_dir) = listed_dir else {
                continue;
            };
            let listed = listed_dir.join(file);
            let refusal = symlink_refusal(root, &listed_dir, &listed);
            out.insert(f.clone(), plan::Origin { listed, refusal });
        }
    }
    out
}

/// Instances of `template` that a `*.wants/` or `*.requires/` directory of the search path
/// enables: they are how a template's override reaches real units.
fn enabled_instances(catalog: &Catalog, template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(prefix), Some(ty)) = (name::prefix(template), name::unit_type(template)) else {
        return out;
    };
    for dir in catalog.search_path().dirs() {
        let Ok(rd) = std::fs::read_dir(under_root(catalog.root(), dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if !(n.ends_with(".wants") || n.ends_with(".requires")) {
                continue;
            }
            for i in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                let i = i.file_name().to_string_lossy().into_owned();
                if name::kind(&i) == Some(Kind::Instance)
                    && name::prefix(&i) == Some(prefix)
                    && name::unit_type(&i) == Some(ty)
                    && !out.contains(&i)
                {
                    out.push(i);
                }
            }
        }
    }
    out.sort();
    out
}

/// Reads every service unit below `root` (generator output left out, as `migrate` does: files
/// that vanish at the next reload cannot be moved aside) and plans them.
pub fn gather(root: &Path, units: &[String]) -> Vec<Plan> {
    let search = generator::search_path_without_generators(&SearchPath::system(root));
    let catalog = Catalog::new(search);
    let mut names: Vec<String> = generator::enumerate(&catalog)
        .into_iter()
        .filter(|n| name::unit_type(n) == Some("service"))
        .collect();
    for t in names.clone() {
        if name::kind(&t) == Some(Kind::Template) {
            for i in enabled_instances(&catalog, &t) {
                if !names.contains(&i) {
                    names.push(i);
                }
            }
        }
    }
    let loaded: Vec<(String, LoadedUnit)> = generator::load_all(&catalog, &names)
        .into_iter()
        .filter_map(|i| i.unit.ok().map(|u| (i.name, u)))
        .collect();
    let lookup = |n: &str| load_with(&catalog, n).ok();
    let found = origins(&catalog, &loaded);
    let plans = plan::plan_all(&loaded, &lookup, &|f: &Path| found.get(f).cloned());
    if units.is_empty() {
        return plans;
    }
    plans
        .into_iter()
        .filter(|p| units.iter().any(|u| *u == p.owner || p.units.contains(u)))
        .collect()
}

pub fn run(o: &Options) -> i32 {
    for u in &o.units {
        if !name::is_valid(u) {
            eprintln!("bindif-launch: Invalid unit name, refusing: {u}");
            return crate::exit::INVALIDARGUMENT;
        }
    }
    let version = o.systemd_version.or_else(|| {
        (o.root == Path::new("/"))
            .then(crate::sys::process::pid1_systemd_version)
            .flatten()
    });
    let plans = gather(&o.root, &o.units);
    for u in &o.units {
        if !plans.iter().any(|p| p.owner == *u || p.units.contains(u)) {
            eprintln!("bindif-launch: {u}: no ip vrf exec wrapper or BPFProgram=sock_create: pin found, nothing to adopt");
        }
    }
    if o.json {
        println!("{}", render::to_json(&plans, version).render());
    } else {
        print!("{}", render::render_text(&plans, version, o.write));
    }
    if !o.write {
        return exit::SUCCESS;
    }
    // With --json, stdout carries the JSON document only.
    let say = |s: String| {
        if o.json {
            eprintln!("{s}")
        } else {
            println!("{s}")
        }
    };
    let mut status = exit::SUCCESS;
    let mut done: Vec<&Plan> = Vec::new();
    for p in plans.iter().filter(|p| p.refused.is_none()) {
        match write::apply(&o.root, p) {
            Ok(d) => {
                say(format!("Created {}.", d.created.display()));
                for (from, to) in &d.moved {
                    say(format!("Moved {} to {}.", from.display(), to.display()));
                }
                done.push(p);
            }
            Err(e) => {
                eprintln!("bindif-launch: {e}");
                status = exit::FAILURE;
            }
        }
    }
    if !done.is_empty() {
        say(format!("Now run: {}", write::next_steps(&done)));
    }
    status
}
