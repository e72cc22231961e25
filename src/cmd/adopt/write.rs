// SPDX-License-Identifier: LGPL-2.1-or-later
//! `adopt --write`: the only part of `adopt` that changes files. Per plan: create the new drop-in
//! (never over an existing file), then move each old override aside by linking it to
//! `NAME.conf.bindif-adopt-disabled` (which fails if that exists) and unlinking the old name.
//! Nothing is deleted that the tool did not create: if a move fails, the new drop-in is removed
//! again and the files already moved are moved back.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::plan::{Plan, ASIDE_SUFFIX};
use crate::unit::name::{self, Kind};
use crate::unit::paths::under_root;

/// What `--write` did for one plan, as host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub created: PathBuf,
    pub moved: Vec<(PathBuf, PathBuf)>,
}

fn aside(f: &Path) -> PathBuf {
    let mut s = f.as_os_str().to_owned();
    s.push(ASIDE_SUFFIX);
    PathBuf::from(s)
}

fn err(op: &str, path: &Path, e: io::Error) -> String {
    format!("Failed to {op} {}: {e}", path.display())
}

/// Carries out one plan below `root`. Refuses (before touching anything) when the new drop-in or
/// a moved-aside name exists already.
pub fn apply(root: &Path, p: &Plan) -> Result<Done, String> {
    if let Some(why) = &p.refused {
        return Err(format!("{} is left alone: {why}", p.owner));
    }
    let dropin = p
        .dropin
        .as_ref()
        .ok_or_else(|| format!("{}: no drop-in planned", p.owner))?;
    let target = under_root(root, dropin);
    // gather() refuses symlinked drop-in directories already; this check is for the tree having
    // changed since: through a symlink, a write could land in another unit's directory or
    // outside the root altogether.
    no_symlink(root, dropin, p)?;
    for f in &p.move_aside {
        no_symlink(root, f, p)?;
    }
    if fs::symlink_metadata(&target).is_ok() {
        return Err(format!(
            "Refusing to write {}: it exists already (adopted before?); nothing changed for {}",
            dropin.display(),
            p.owner
        ));
    }
    for f in &p.move_aside {
        let to = aside(f);
        if fs::symlink_metadata(under_root(root, &to)).is_ok() {
            return Err(format!(
                "Refusing to move {} aside: {} exists already; nothing changed for {}",
                f.display(),
                to.display(),
                p.owner
            ));
        }
    }
    if let Some(dir) = dropin.parent() {
        create_dirs(root, dir)?;
    }
    // O_EXCL alone already refuses a symlink as the last component; O_NOFOLLOW says so outright.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .map_err(|e| err("create", dropin, e))?;
    if let Err(e) = file
        .write_all(p.content.as_bytes())
        .and_then(|()| file.sync_all())
    {
        let _ = fs::remove_file(&target);
        return Err(err("write", dropin, e));
    }
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    for f in &p.move_aside {
        let to = aside(f);
        if let Err(e) = move_no_replace(&under_root(root, f), &under_root(root, &to)) {
            // Undo: our new file goes, the old ones come back, so the unit is as it was.
            for (from, to) in moved.iter().rev() {
                let _ = move_no_replace(&under_root(root, to), &under_root(root, from));
            }
            let _ = fs::remove_file(&target);
            return Err(format!(
                "{}; undone: {} removed again, nothing changed for {}",
                err("move aside", f, e),
                dropin.display(),
                p.owner
            ));
        }
        moved.push((f.clone(), to));
    }
    Ok(Done {
        created: dropin.clone(),
        moved,
    })
}

/// Refuses `host` (a host path of the plan) when a component of it below `root` is a symlink.
fn no_symlink(root: &Path, host: &Path, p: &Plan) -> Result<(), String> {
    match super::first_symlink(root, host) {
        Ok(None) => Ok(()),
        Ok(Some(link)) => Err(format!(
            "Refusing to write through {}: it is a symlink; adopt writes only real directories; nothing changed for {}",
            link.display(),
            p.owner
        )),
        Err(e) => Err(format!(
            "{}; nothing changed for {}",
            err("inspect", host, e),
            p.owner
        )),
    }
}

/// `create_dir_all` that follows no symlink: each missing directory is made with mkdir(2), which
/// fails on anything that exists (a symlink included), and each existing one must be a real
/// directory. `dir` is a host path.
fn create_dirs(root: &Path, dir: &Path) -> Result<(), String> {
    let mut cur = PathBuf::from("/");
    for c in dir
        .components()
        .skip_while(|c| matches!(c, Component::RootDir))
    {
        cur.push(c);
        let at = under_root(root, &cur);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_dir() => continue,
            Ok(_) => {
                return Err(format!(
                    "Refusing to create {}: it exists and is not a directory (a symlink?); adopt writes only real directories",
                    cur.display()
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err("inspect", &cur, e)),
        }
        fs::create_dir(&at).map_err(|e| err("create directory", &cur, e))?;
    }
    Ok(())
}

/// A rename that never replaces an existing file: link, then unlink the old name.
fn move_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    fs::remove_file(from).map_err(|e| {
        let _ = fs::remove_file(to);
        e
    })
}

/// The commands to run afterwards: reload, then restart the units (a template's instances).
pub fn next_steps(plans: &[&Plan]) -> String {
    let units: Vec<String> = plans
        .iter()
        .flat_map(|p| {
            if name::kind(&p.owner) != Some(Kind::Template) {
                return vec![p.owner.clone()];
            }
            let instances: Vec<String> = p
                .units
                .iter()
                .filter(|u| name::kind(u) == Some(Kind::Instance))
                .cloned()
                .collect();
            if instances.is_empty() {
                vec![p.owner.replace("@.", "@VRF.")]
            } else {
                instances
            }
        })
        .collect();
    format!(
        "systemctl daemon-reload && systemctl restart {}",
        units.join(" ")
    )
}
