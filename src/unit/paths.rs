// SPDX-License-Identifier: LGPL-2.1-or-later
//! The system unit search path, highest priority first: `lookup_paths_init()` in
//! src/libsystemd/sd-path/path-lookup.c (src/shared/path-lookup.c before v254).
//!
//! The data directories depend on how the host's systemd was built. systemd's list is
//! `/usr/local/lib/systemd/system`, `SYSTEM_DATA_UNIT_DIR`, `/usr/lib/systemd/system` and, for
//! split-usr images only (v255+: `LOOKUP_PATHS_SPLIT_USR`), `/lib/systemd/system`, with duplicates
//! removed by string (`strv_uniq`, not by inode). `SYSTEM_DATA_UNIT_DIR` is `/lib/systemd/system` on
//! split-usr builds such as Debian 12's systemd 252 — so there `/lib/systemd/system` comes *before*
//! `/usr/lib/systemd/system` even though `/lib` is a symlink to `usr/lib`, and fragments are named
//! `/lib/systemd/system/…` (checked against `systemd-analyze unit-paths` on Debian 12). We read
//! `SYSTEM_DATA_UNIT_DIR` from the host's `systemd.pc` (`systemd_system_unit_dir=`, a plain file
//! read), falling back to `/usr/lib/systemd/system`.

use std::path::{Path, PathBuf};

/// The directories systemd searches for system units, highest priority first, as host paths, and
/// the root they hang off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    root: PathBuf,
    dirs: Vec<PathBuf>,
}

/// The generator directories systemd passes as `NORMAL EARLY LATE`, as the search path names them
/// (the generator writes to the first). One list for everything that must recognise them: the
/// generator leaves them out of its catalog, and only its links there count as the launcher
/// (`eval::is_bindif_launch`).
pub const GENERATOR_DIRS: [&str; 3] = [
    "/run/systemd/generator",
    "/run/systemd/generator.early",
    "/run/systemd/generator.late",
];

const HEAD: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
];

const PC_FILES: &[&str] = &[
    "usr/share/pkgconfig/systemd.pc",
    "usr/lib/pkgconfig/systemd.pc",
    "usr/lib64/pkgconfig/systemd.pc",
];

impl SearchPath {
    /// The system search path for the host under `root`, honouring `$SYSTEMD_UNIT_PATH` as
    /// systemd does (a list of `:`-separated directories; a trailing `:` appends the defaults).
    pub fn system(root: &Path) -> SearchPath {
        let env = std::env::var("SYSTEMD_UNIT_PATH").ok();
        Self::system_with_env(root, env.as_deref())
    }

    /// [`SearchPath::system`] with the value of `$SYSTEMD_UNIT_PATH` given explicitly.
    pub fn system_with_env(root: &Path, unit_path: Option<&str>) -> SearchPath {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut defaults = true;
        if let Some(e) = unit_path {
            defaults = e.ends_with(':');
            dirs.extend(
                e.split(':')
                    .filter(|s| !s.is_empty())
                    .map(|s| Path::new("/").join(s)),
            );
        }
        if defaults {
            dirs.extend(Self::default_dirs(root));
        }
        // Duplicates as `Path` compares them (component by component), found by hashing each
        // path's components once.
        let mut seen = std::collections::HashSet::with_capacity(dirs.len());
        let mut uniq: Vec<PathBuf> = Vec::with_capacity(dirs.len());
        for d in dirs {
            if seen.insert(component_key(&d)) {
                uniq.push(d);
            }
        }
        SearchPath {
            root: root.to_path_buf(),
            dirs: uniq,
        }
    }

    /// A search path made of exactly `dirs` (host paths, highest priority first).
    pub fn from_dirs(root: &Path, dirs: Vec<PathBuf>) -> SearchPath {
        SearchPath {
            root: root.to_path_buf(),
            dirs,
        }
    }

    fn default_dirs(root: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = HEAD.iter().map(PathBuf::from).collect();
        v.push(system_data_unit_dir(root));
        v.push("/usr/lib/systemd/system".into());
        // v255+ adds /lib/systemd/system for split-usr images (a real /lib directory).
        if std::fs::symlink_metadata(root.join("lib")).is_ok_and(|m| m.is_dir()) {
            v.push("/lib/systemd/system".into());
        }
        v.push("/run/systemd/generator.late".into());
        v
    }

    /// The directories, highest priority first, as host paths (without the root).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `dir` (a host path) as a path under the root.
    pub fn under_root(&self, host: &Path) -> PathBuf {
        under_root(&self.root, host)
    }
}

/// `host` (absolute) as a path below `root`.
pub fn under_root(root: &Path, host: &Path) -> PathBuf {
    let rel = host.strip_prefix("/").unwrap_or(host);
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        join(root, rel)
    }
}

/// `p`'s components as bytes: two paths are equal (`==`, component by component) exactly when
/// their keys are.
pub(crate) fn component_key(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Component;
    let mut k = Vec::with_capacity(p.as_os_str().len() + 4);
    for c in p.components() {
        // A tag per kind, then the bytes of a normal component, then NUL (never in a path).
        match c {
            Component::Prefix(x) => {
                k.push(b'P');
                k.extend_from_slice(x.as_os_str().as_bytes());
            }
            Component::RootDir => k.push(b'/'),
            Component::CurDir => k.push(b'.'),
            Component::ParentDir => k.push(b'^'),
            Component::Normal(s) => {
                k.push(b'N');
                k.extend_from_slice(s.as_bytes());
            }
        }
        k.push(0);
    }
    k
}

/// `a.join(b)` with the result allocated once at its final size.
pub(crate) fn join(a: &Path, b: impl AsRef<Path>) -> PathBuf {
    let b = b.as_ref();
    let mut p = PathBuf::with_capacity(a.as_os_str().len() + 1 + b.as_os_str().len());
    p.push(a);
    p.push(b);
    p
}

/// `SYSTEM_DATA_UNIT_DIR` of the host's systemd build, from its `systemd.pc`.
fn system_data_unit_dir(root: &Path) -> PathBuf {
    for pc in PC_FILES {
        if let Ok(text) = std::fs::read_to_string(root.join(pc)) {
            if let Some(d) = pc_variable(&text, "systemd_system_unit_dir")
                .or_else(|| pc_variable(&text, "systemdsystemunitdir"))
            {
                if d.starts_with('/') {
                    return PathBuf::from(d);
                }
            }
        }
    }
    PathBuf::from("/usr/lib/systemd/system")
}

/// The value of variable `name` in pkg-config text, with `${var}` references expanded.
fn pc_variable(text: &str, name: &str) -> Option<String> {
    fn expand(text: &str, name: &str, depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let raw = text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name && !k.contains(':')).then(|| v.trim().to_string())
        })?;
        let mut out = String::new();
        let mut rest = raw.as_str();
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('}')? + i;
            out.push_str(&expand(text, &rest[i + 2..end], depth + 1)?);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
    expand(text, name, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pc() {
        let t = "root_prefix=\nrootprefix=${root_prefix}\nsystemd_system_unit_dir=${rootprefix}/lib/systemd/system\n";
        assert_eq!(
            pc_variable(t, "systemd_system_unit_dir").as_deref(),
            Some("/lib/systemd/system")
        );
    }

    #[test]
    fn env_semantics() {
        let r = Path::new("/nonexistent-root");
        let only = SearchPath::system_with_env(r, Some("/a:/b"));
        assert_eq!(only.dirs(), &[PathBuf::from("/a"), PathBuf::from("/b")]);
        let app = SearchPath::system_with_env(r, Some("/a:"));
        assert_eq!(app.dirs()[0], PathBuf::from("/a"));
        assert_eq!(app.dirs()[1], PathBuf::from("/etc/systemd/system.control"));
        let def = SearchPath::system_with_env(r, None);
        assert_eq!(def.dirs().len(), 12);
        assert_eq!(
            def.dirs().last().unwrap(),
            &PathBuf::from("/run/systemd/generator.late")
        );
    }
}
