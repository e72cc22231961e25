// SPDX-License-Identifier: LGPL-2.1-or-later
//! Finding and loading a unit: `unit_file_build_name_map()` and `unit_file_find_fragment()` in
//! src/shared/unit-file.c, `unit_load_fragment()` in src/core/load-fragment.c and
//! `unit_load_dropin()` in src/core/load-dropin.c.
//!
//! Rules (each checked against systemd 252, see `tests/unit_load.rs`):
//! - Every search-path directory is listed once (a [`Catalog`]); the first directory holding a
//!   name wins. Hidden files and names that are not valid unit names are skipped.
//! - A symlink whose target (resolved inside the root, `.`/`..` and intermediate symlinks
//!   removed, the last component not followed) lies in a search-path directory is an alias: the
//!   name maps to the target's *name*, looked up again in the map (at most 32 hops, then ELOOP). A
//!   symlink pointing outside the search path (a linked unit file, or `/dev/null`) maps to the
//!   symlink itself. A symlink to the same name is a "self-alias" and ignored, so a lower-priority
//!   directory provides the name. Alias symlinks must keep the type and template/instance form
//!   (`unit_validate_alias_symlink_and_warn()`), else they are ignored with a warning.
//! - No fragment under an instance name: the template's fragment is used.
//! - The unit's id is the fragment's file name (the instance filled in for a template), so
//!   loading an alias gives the target's id; the other names become aliases.
//! - A fragment that resolves to `/dev/null` or is an empty regular file is masked.
//! - A fragment that fails to parse (see [`super::syntax`]) makes the unit not loadable; a
//!   drop-in that fails to parse keeps the assignments before the failing line.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::dropins;
use super::name::{self, Kind};
use super::paths::{component_key, join, under_root, SearchPath};
use super::syntax::{self, Fatal};
use super::{Diagnostic, LoadedUnit};

/// `FOLLOW_MAX` in src/basic/fs-util.h / unit-file.c: hops through aliases and symlinks.
const FOLLOW_MAX: usize = 32;

/// Why a unit could not be loaded, with systemd's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Not a valid unit name (or a template, which cannot be loaded by itself).
    BadName { name: String },
    /// No fragment in any search-path directory.
    NotFound { name: String },
    /// The fragment is a symlink to `/dev/null` or an empty file.
    Masked { name: String, path: PathBuf },
    /// The fragment could not be read.
    Io {
        name: String,
        path: PathBuf,
        error: String,
    },
    /// The fragment stops systemd's parser (line too long, invalid UTF-8, bad section header).
    NotLoadable {
        name: String,
        path: PathBuf,
        fatal: Fatal,
    },
    /// More than 32 alias hops (systemd reports the unit as not found).
    AliasLoop { name: String },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::BadName { name } => write!(f, "Unit name {name} is not valid."),
            LoadError::NotFound { name } => write!(f, "Unit {name} not found."),
            LoadError::Masked { name, .. } => write!(f, "Unit {name} is masked."),
            LoadError::Io { name, path, error } => write!(
                f,
                "{name}: Failed to open {}: {error}",
                path.display()
            ),
            LoadError::NotLoadable { name, path, fatal } => {
                if !fatal.message.is_empty() {
                    writeln!(
                        f,
                        "{}:{}: {}",
                        path.display(),
                        fatal.source.line,
                        fatal.message
                    )?;
                }
                write!(
                    f,
                    "Unit {name} failed to load properly, please adjust/correct and reload service manager: {}",
                    fatal.kind.errno_text()
                )
            }
            // systemd 252: "Cannot load unit X: Too many levels of symbolic links", and the
            // unit's load state is not-found.
            LoadError::AliasLoop { name } => write!(
                f,
                "{name}: Failed to load configuration: Too many levels of symbolic links\nUnit {name} not found."
            ),
        }
    }
}

impl std::error::Error for LoadError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A file (or a symlink leaving the search path), as a host path.
    Path(PathBuf),
    /// An alias: look this name up again.
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Dir,
    Symlink,
    Other,
}

/// A fast non-cryptographic hasher (the "Fx" hash of rustc) for the catalog's maps: their keys
/// are file names from the search path, not input from an untrusted peer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The `.conf` entries of one drop-in directory: file name and whether it is a symlink.
pub(crate) type Listing = Arc<Vec<(String, bool)>>;

/// What a [`Catalog`] remembers between units: drop-in directory listings and parsed drop-in
/// files (the type-wide `service.d/`, dash-prefix and template directories are shared by many
/// units). Like the search-directory listing itself, this is a snapshot taken on first use.
#[derive(Debug, Default)]
struct Memo {
    /// Canonical drop-in directory (host path) → its `.conf` entries; `None` when unreadable.
    listings: FxMap<OsString, Option<Listing>>,
    /// Unit type → drop-in file (host path) → what parsing it gave; `None` when unreadable.
    parsed: FxMap<String, FxMap<OsString, Option<Arc<syntax::Parsed>>>>,
    /// (search directory index, entry name) of a symlinked drop-in directory → its resolution.
    symlinked: FxMap<(usize, String), Option<PathBuf>>,
    /// Fragment file name → every name that leads to it.
    names: FxMap<String, Arc<Vec<String>>>,
    /// Unit type and the drop-in directories found for a unit (bytes, NUL-separated) → what they
    /// give: units of one template, one dash prefix or with no drop-ins of their own share it.
    sets: FxMap<Vec<u8>, Arc<DropinSet>>,
}

/// The drop-ins of a unit, applied: files in order, and their assignments and warnings.
#[derive(Debug, Default)]
struct DropinSet {
    files: Vec<PathBuf>,
    assignments: Vec<super::Assignment>,
    diagnostics: Vec<Diagnostic>,
}

/// The search path's directories, listed once, and the unit id map systemd builds from them.
/// Build it once and reuse it for many units.
#[derive(Debug)]
pub struct Catalog {
    search: SearchPath,
    entries: Vec<FxMap<String, EntryKind>>,
    /// Entry name ending in `.d` that is a directory or a symlink → every search directory index
    /// holding it (ascending), with its kind: one lookup per drop-in directory name instead of
    /// one per search directory.
    dropin_index: FxMap<String, Vec<(usize, EntryKind)>>,
    /// A search directory's bytes → the index of the first search directory equal to it.
    dir_index: FxMap<OsString, usize>,
    memo: Mutex<Memo>,
    /// Each search directory with symlinks resolved inside the root, and whether that worked
    /// (then `chase(dir/NAME, nofollow)` is `canon/NAME`); computed when first needed.
    canon: Vec<OnceLock<(PathBuf, bool)>>,
    /// Whether each search directory could be listed (only those need their canonical path).
    listed: Vec<bool>,
    /// systemd's `unit_ids_map` for the names whose first entry on the search path is a
    /// symlink: name → (search directory index, what it leads to). Regular files need no entry:
    /// [`Catalog::id`] finds them in `entries`, so a launcher loading one unit does not build a
    /// map of every unit file on the host.
    links: FxMap<String, (usize, Target)>,
    /// Indices of the search directories that list at least one entry.
    nonempty: Vec<usize>,
    /// Fragment file name → each alias (symlink name) that leads to it, with the fragment's path
    /// (`unit_name_map` without the names that are not aliases and before the mask check).
    names: FxMap<String, Vec<(String, PathBuf)>>,
    /// Warnings from building the map (bad alias symlinks).
    pub diagnostics: Vec<Diagnostic>,
}

impl Clone for Catalog {
    fn clone(&self) -> Catalog {
        Catalog {
            search: self.search.clone(),
            entries: self.entries.clone(),
            dropin_index: self.dropin_index.clone(),
            dir_index: self.dir_index.clone(),
            memo: Mutex::new(Memo::default()),
            canon: self.canon.clone(),
            listed: self.listed.clone(),
            links: self.links.clone(),
            nonempty: self.nonempty.clone(),
            names: self.names.clone(),
            diagnostics: self.diagnostics.clone(),
        }
    }
}

impl Catalog {
    pub fn new(search: SearchPath) -> Catalog {
        let mut c = Catalog {
            entries: Vec::with_capacity(search.dirs().len()),
            dropin_index: FxMap::default(),
            dir_index: FxMap::default(),
            memo: Mutex::new(Memo::default()),
            canon: Vec::with_capacity(search.dirs().len()),
            listed: Vec::with_capacity(search.dirs().len()),
            links: FxMap::default(),
            nonempty: Vec::new(),
            names: FxMap::default(),
            diagnostics: Vec::new(),
            search,
        };
        c.build();
        c
    }

    /// The catalog of the system search path under `root`.
    pub fn system(root: &Path) -> Catalog {
        Catalog::new(SearchPath::system(root))
    }

    pub fn search_path(&self) -> &SearchPath {
        &self.search
    }

    pub fn root(&self) -> &Path {
        self.search.root()
    }

    /// The canonical path (symlinks resolved inside the root) of the drop-in directory `name` (of
    /// `kind`) in search directory `dir`, `None` when there is none. systemd canonicalizes drop-in
    /// directories (`unit_file_find_dir()` calls `chase()`), so on a merged-usr host
    /// `/lib/systemd/system/x.d` is reported as `/usr/lib/systemd/system/x.d`.
    fn dropin_dir_of(&self, dir: usize, name: &str, kind: EntryKind) -> Option<PathBuf> {
        match kind {
            // A real directory below an already canonical directory: no syscall needed.
            EntryKind::Dir => Some(join(self.canon(dir), name)),
            EntryKind::Symlink => {
                let key = (dir, name.to_string());
                if let Some(r) = self.memo().symlinked.get(&key) {
                    return r.clone();
                }
                let r = (|| {
                    let c = chase(self.root(), &self.search.dirs()[dir].join(name), true).ok()?;
                    std::fs::metadata(under_root(self.root(), &c))
                        .ok()?
                        .is_dir()
                        .then_some(c)
                })();
                self.memo().symlinked.insert(key, r.clone());
                r
            }
            EntryKind::Other => None,
        }
    }

    /// Every drop-in directory called one of `names` in any search directory, in systemd's
    /// order: search directory by search directory, and inside one, in the order of `names`.
    pub(crate) fn dropin_dirs(&self, names: &[String], out: &mut Vec<PathBuf>) {
        let mut hits: Vec<(usize, usize, EntryKind)> = Vec::new();
        for (pos, n) in names.iter().enumerate() {
            if let Some(v) = self.dropin_index.get(n.as_str()) {
                hits.extend(v.iter().map(|&(dir, kind)| (dir, pos, kind)));
            }
        }
        hits.sort_unstable_by_key(|&(dir, pos, _)| (dir, pos));
        for (dir, pos, kind) in hits {
            if let Some(c) = self.dropin_dir_of(dir, &names[pos], kind) {
                out.push(c);
            }
        }
    }

    /// Search directory `i` with symlinks resolved inside the root (itself when it could not be
    /// listed or resolved), and whether it was resolved.
    fn canon_entry(&self, i: usize) -> &(PathBuf, bool) {
        self.canon[i].get_or_init(|| {
            let dir = &self.search.dirs()[i];
            // Only existing directories need their canonical path.
            if self.listed[i] {
                if let Ok(c) = chase(self.root(), dir, true) {
                    return (c, true);
                }
            }
            (dir.clone(), false)
        })
    }

    fn canon(&self, i: usize) -> &PathBuf {
        &self.canon_entry(i).0
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `.conf` entries of the drop-in directory `dir` (a canonical host path), listed once
    /// per catalog; `None` when it cannot be read.
    pub(crate) fn dropin_listing(&self, dir: &Path) -> Option<Listing> {
        if let Some(l) = self.memo().listings.get(dir.as_os_str()) {
            return l.clone();
        }
        let l = dropins::list_dir(self.root(), dir, ".conf").map(Arc::new);
        self.memo()
            .listings
            .insert(dir.as_os_str().to_os_string(), l.clone());
        l
    }

    /// The drop-ins of a unit with id `id` and `aliases`, of type `unit_type`, applied in order.
    fn dropin_set(
        &self,
        id: &str,
        aliases: &[String],
        unit_type: &str,
        sections: Option<&[&str]>,
    ) -> Arc<DropinSet> {
        let dirs = dropins::candidate_dirs(self, id, aliases);
        let mut key = Vec::with_capacity(
            unit_type.len() + 1 + dirs.iter().map(|d| d.as_os_str().len() + 1).sum::<usize>(),
        );
        key.extend_from_slice(unit_type.as_bytes());
        for d in &dirs {
            key.push(0);
            key.extend_from_slice(d.as_os_str().as_bytes());
        }
        if let Some(s) = self.memo().sets.get(&key) {
            return s.clone();
        }
        let mut set = DropinSet::default();
        for (d, symlink) in dropins::merge(self, &dirs) {
            // Errors reading or parsing a drop-in are ignored by unit_load_dropin(); what was
            // parsed before the error stays.
            if let Some(parsed) = self.dropin_parsed(&d, symlink, unit_type, sections) {
                set.assignments.extend(parsed.assignments.iter().cloned());
                set.diagnostics.extend(parsed.diagnostics.iter().cloned());
            }
            set.files.push(d);
        }
        let set = Arc::new(set);
        self.memo().sets.insert(key, set.clone());
        set
    }

    /// Reads and parses the drop-in `file` (a host path; `symlink` when the directory listing
    /// showed a symlink) for a unit of type `unit_type`, once per catalog.
    fn dropin_parsed(
        &self,
        file: &Path,
        symlink: bool,
        unit_type: &str,
        sections: Option<&[&str]>,
    ) -> Option<Arc<syntax::Parsed>> {
        if let Some(p) = self
            .memo()
            .parsed
            .get(unit_type)
            .and_then(|m| m.get(file.as_os_str()))
        {
            return p.clone();
        }
        let root = self.root();
        let read = if symlink {
            read_in_root(root, file)
        } else {
            read_file(&under_root(root, file))
        };
        let p = read
            .ok()
            .map(|bytes| Arc::new(syntax::parse_with_sections(&bytes, file, sections)));
        self.memo()
            .parsed
            .entry(unit_type.to_string())
            .or_default()
            .insert(file.as_os_str().to_os_string(), p.clone());
        p
    }

    /// Reads a fragment (a host path in a search directory), following symlinks inside the root
    /// only when the catalog saw one; `/dev/null` reads as empty.
    fn read_fragment(&self, host: &Path) -> io::Result<Vec<u8>> {
        if let (Some(parent), Some(n)) = (host.parent(), host.file_name().and_then(|n| n.to_str()))
        {
            // By bytes first (the usual case: the fragment was named after its directory), then
            // component by component as `Path` compares.
            let i = self
                .dir_index
                .get(parent.as_os_str())
                .copied()
                .or_else(|| self.search.dirs().iter().position(|d| d == parent));
            if let Some(i) = i {
                if self.entries[i].get(n) == Some(&EntryKind::Other) {
                    return read_file(&under_root(self.root(), &join(self.canon(i), n)));
                }
            }
        }
        read_in_root(self.root(), host)
    }

    fn warn(&mut self, message: String) {
        self.diagnostics.push(Diagnostic {
            source: None,
            message,
        });
    }

    fn build(&mut self) {
        let root = self.search.root().to_path_buf();
        let dirs: Vec<PathBuf> = self.search.dirs().to_vec();
        let mut first: FxMap<Vec<u8>, usize> = FxMap::default();
        for (j, d) in dirs.iter().enumerate() {
            let i = *first.entry(component_key(d)).or_insert(j);
            self.dir_index
                .entry(d.as_os_str().to_os_string())
                .or_insert(i);
        }
        for dir in &dirs {
            let mut listing = FxMap::default();
            let rd = std::fs::read_dir(under_root(&root, dir));
            let j = self.canon.len();
            self.canon.push(OnceLock::new());
            self.listed.push(rd.is_ok());
            if let Ok(rd) = rd {
                for e in rd.flatten() {
                    let Ok(n) = e.file_name().into_string() else {
                        continue;
                    };
                    let kind = match e.file_type() {
                        Ok(t) if t.is_symlink() => EntryKind::Symlink,
                        Ok(t) if t.is_dir() => EntryKind::Dir,
                        _ => EntryKind::Other,
                    };
                    if kind != EntryKind::Other && n.ends_with(".d") {
                        self.dropin_index
                            .entry(n.clone())
                            .or_default()
                            .push((self.entries.len(), kind));
                    }
                    listing.insert(n, kind);
                }
            }
            // Warnings come only from symlinks: those are taken sorted, for determinism of
            // warnings (systemd uses readdir order); files in any order (names in one directory
            // are unique); directories are no units.
            let mut symlinks: Vec<(&String, &EntryKind)> = listing
                .iter()
                .filter(|(_, k)| **k == EntryKind::Symlink)
                .collect();
            symlinks.sort_by(|a, b| a.0.cmp(b.0));
            let mut add: Vec<(String, Target)> = Vec::new();
            let mut warnings = Vec::new();
            for (n, kind) in symlinks {
                // `self.entries` holds the earlier directories only: an entry there wins.
                if n.starts_with('.') || !name::is_valid(n) || self.lookup(n).is_some() {
                    continue;
                }
                let filename = join(dir, n);
                match kind {
                    EntryKind::Dir | EntryKind::Other => continue,
                    EntryKind::Symlink => {
                        let Ok(t) = std::fs::read_link(under_root(&root, &filename)) else {
                            warnings.push(format!(
                                "Failed to read symlink {}/{n}, ignoring",
                                dir.display()
                            ));
                            continue;
                        };
                        // A target that is one plain name in the same directory (the usual
                        // alias) resolves, without following its last component, to the
                        // directory's canonical path joined with that name: no syscalls.
                        let mut comps = t.components();
                        let same_dir = match (comps.next(), comps.next()) {
                            (Some(Component::Normal(c)), None) if self.canon_entry(j).1 => {
                                Some(c.to_owned())
                            }
                            _ => None,
                        };
                        let target = if t.is_absolute() { t } else { dir.join(t) };
                        let simplified = match same_dir {
                            Some(c) => Ok(join(self.canon(j), c)),
                            None => chase(&root, &target, false),
                        };
                        let Ok(simplified) = simplified else {
                            warnings.push(format!(
                                "Failed to resolve symlink {} pointing to {}, ignoring",
                                filename.display(),
                                target.display()
                            ));
                            continue;
                        };
                        let tail = dirs.iter().find_map(|d| strip_dir(&simplified, d));
                        let Some(tail) = tail else {
                            // A linked unit file or a mask: the link itself is the fragment.
                            add.push((n.clone(), Target::Path(filename)));
                            continue;
                        };
                        let dst = simplified
                            .file_name()
                            .and_then(|s| s.to_str())
                            .unwrap_or("")
                            .to_string();
                        let self_alias = dst == *n;
                        if tail.components().count() > 1 && !self_alias {
                            warnings.push(format!(
                                "Suspicious symlink {}→{}, treating as alias.",
                                filename.display(),
                                simplified.display()
                            ));
                        }
                        if let Err(m) = validate_alias(n, &dst) {
                            warnings.push(m);
                            continue;
                        }
                        if self_alias {
                            continue;
                        }
                        add.push((n.clone(), Target::Name(dst)));
                    }
                }
            }
            for w in warnings {
                self.warn(w);
            }
            for (n, t) in add {
                self.links.entry(n).or_insert((j, t));
            }
            if !listing.is_empty() {
                self.nonempty.push(j);
            }
            self.entries.push(listing);
        }
        // The reverse map, for aliases: whether the fragment an alias leads to is masked
        // (`null_or_empty()`, a few syscalls) is asked only when that fragment's names are wanted
        // (`names_of()`). A name that is not an alias leads to a fragment of its own name.
        let aliases: Vec<String> = self
            .links
            .iter()
            .filter(|(_, (_, v))| matches!(v, Target::Name(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for src in aliases {
            let Ok(Some(dst)) = self.resolve(&src) else {
                continue;
            };
            let mut base = file_name(&dst);
            if name::kind(&base) == Some(Kind::Template) {
                if let (Some(Kind::Instance), Some(inst)) = (name::kind(&src), name::instance(&src))
                {
                    match name::instantiate(&base, inst) {
                        Ok(b) => base = b,
                        Err(_) => continue,
                    }
                }
            }
            self.names.entry(base).or_default().push((src, dst));
        }
    }

    /// Every name that leads to the fragment named `n` (`unit_name_map`), sorted.
    fn names_of(&self, n: &str) -> Arc<Vec<String>> {
        let own = self.is_own_file(n);
        let Some(aliases) = self.names.get(n) else {
            // No alias leads here: nothing to check or remember.
            return Arc::new(if own { vec![n.to_string()] } else { Vec::new() });
        };
        if let Some(v) = self.memo().names.get(n) {
            return v.clone();
        }
        let mut v: Vec<String> = Vec::new();
        if own {
            v.push(n.to_string());
        }
        for (src, dst) in aliases {
            if !self.null_or_empty(dst) {
                v.push(src.clone());
            }
        }
        v.sort();
        let v = Arc::new(v);
        self.memo().names.insert(n.to_string(), v.clone());
        v
    }

    /// The `unit_ids_map` entry of `n`: the first search directory listing it as a unit file
    /// gives its path; one listing it as a symlink gives what the symlink leads to, unless the
    /// symlink was skipped (unreadable, invalid alias), and then later directories are asked.
    fn id(&self, n: &str) -> Option<Target> {
        let (j, link) = self.lookup(n)?;
        Some(match link {
            Some(t) => t.clone(),
            None => Target::Path(join(&self.search.dirs()[j], n)),
        })
    }

    /// Whether `n`'s id is a file of its own (a regular unit file, a linked one, a mask), not
    /// an alias; [`Catalog::id`] without building the path.
    fn is_own_file(&self, n: &str) -> bool {
        matches!(self.lookup(n), Some((_, None | Some(Target::Path(_)))))
    }

    /// The search directory where `n` first appears as a unit, and what it leads to when that
    /// entry is a symlink. Only directories that list something are asked (most of systemd's
    /// search directories do not exist on a given host).
    fn lookup(&self, n: &str) -> Option<(usize, Option<&Target>)> {
        if n.starts_with('.') || !name::is_valid(n) {
            return None;
        }
        for &j in &self.nonempty {
            match self.entries[j].get(n) {
                Some(EntryKind::Other) => return Some((j, None)),
                Some(EntryKind::Symlink) => match self.links.get(n) {
                    Some((k, t)) if *k == j => return Some((j, Some(t))),
                    _ => {}
                },
                Some(EntryKind::Dir) | None => {}
            }
        }
        None
    }

    /// `unit_ids_map_get()`: the fragment path a name leads to.
    fn resolve(&self, name: &str) -> Result<Option<PathBuf>, ()> {
        let mut cur = std::borrow::Cow::Borrowed(name);
        for _ in 0..FOLLOW_MAX {
            match self.id(&cur) {
                None => return Ok(None),
                Some(Target::Path(p)) => return Ok(Some(p)),
                Some(Target::Name(n)) => cur = n.into(),
            }
        }
        Err(())
    }

    /// `null_or_empty_path()` inside the root: `/dev/null` or an empty regular file.
    fn null_or_empty(&self, host: &Path) -> bool {
        match chase(self.root(), host, true) {
            Ok(p) if p == Path::new("/dev/null") => true,
            Ok(p) => std::fs::metadata(under_root(self.root(), &p))
                .map(|m| m.is_file() && m.len() == 0)
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// `add_names()`.
    fn add_names(&self, names: &mut Vec<String>, kind: Kind, instance: Option<&str>, n: &str) {
        fn push(names: &mut Vec<String>, s: &str) {
            if !names.iter().any(|x| x == s) {
                names.push(s.to_string());
            }
        }
        if kind != Kind::Template {
            push(names, n);
        }
        let add = |names: &mut Vec<String>, a: &str| {
            if kind == Kind::Instance && name::kind(a) == Some(Kind::Template) {
                let Ok(inst) = name::instantiate(a, instance.unwrap_or("")) else {
                    return;
                };
                if let Ok(Some(f)) = self.resolve(&inst) {
                    if f.file_name()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                        != n
                    {
                        return;
                    }
                }
                push(names, &inst);
            } else {
                push(names, a);
            }
        };
        if self.names.contains_key(n) {
            for a in self.names_of(n).iter() {
                add(names, a);
            }
        } else if self.is_own_file(n) {
            // No alias leads here: the only name is `n` itself (what names_of() would give).
            add(names, n);
        }
    }
}

/// `p.strip_prefix(dir)` for the normalized absolute paths the catalog works with (no `.`, no
/// doubled or trailing `/`), by bytes: `Path::strip_prefix` parses both into components and
/// ran for every symlink against every search directory.
fn strip_dir<'a>(p: &'a Path, dir: &Path) -> Option<&'a Path> {
    let (pb, d) = (p.as_os_str().as_bytes(), dir.as_os_str().as_bytes());
    // A `$SYSTEMD_UNIT_PATH` entry can be spelled `/x//y/` or `/x/./y`: compare components.
    let clean = |b: &[u8]| {
        !b.ends_with(b"/")
            && !b.ends_with(b"/.")
            && !b.windows(2).any(|w| w == b"//")
            && !b.windows(3).any(|w| w == b"/./")
    };
    if !clean(d) || !clean(pb) {
        return p.strip_prefix(dir).ok();
    }
    let rest = pb.strip_prefix(d)?;
    match rest {
        [] => Some(Path::new("")),
        [b'/', tail @ ..] => Some(Path::new(OsStr::from_bytes(tail))),
        _ => None,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `unit_validate_alias_symlink_and_warn()`; messages as systemd 252 prints them (prefixed with
/// the symlink's name).
fn validate_alias(src: &str, dst: &str) -> Result<(), String> {
    let Some(sk) = name::kind(src) else {
        return Err(format!("{src}: not a valid unit name \"{src}\""));
    };
    let Some(dk) = name::kind(dst) else {
        return Err(format!(
            "{src}: points to \"{dst}\" which is not a valid unit name"
        ));
    };
    if !(sk == dk || (sk == Kind::Instance && dk == Kind::Template)) {
        return Err(format!(
            "{src}: symlink target name type \"{dst}\" does not match source, rejecting."
        ));
    }
    if sk == Kind::Instance && dk == Kind::Instance && name::instance(src) != name::instance(dst) {
        return Err(format!(
            "{src}: unit symlink target \"{dst}\" instance name doesn't match, rejecting."
        ));
    }
    if name::unit_type(src) != name::unit_type(dst) {
        return Err(format!(
            "{src}: symlink target \"{dst}\" has incompatible suffix, rejecting."
        ));
    }
    Ok(())
}

/// Resolves symlinks in `host` (an absolute host path) inside `root`, never leaving it: absolute
/// link targets restart at the root and `..` stops at it. Missing components are kept as they are
/// (`CHASE_NONEXISTENT`); `follow_last` false leaves a final symlink alone (`CHASE_NOFOLLOW`).
/// `/dev/null` is returned as is without looking at the root (masks).
pub fn chase(root: &Path, host: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut todo, host);
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    let mut missing = false;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        if missing || (todo.is_empty() && !follow_last) || next == Path::new("/dev/null") {
            cur = next;
            continue;
        }
        match std::fs::symlink_metadata(under_root(root, &next)) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > FOLLOW_MAX {
                    return Err(io::Error::from_raw_os_error(libc_eloop()));
                }
                let t = std::fs::read_link(under_root(root, &next))?;
                if t.is_absolute() {
                    cur = PathBuf::from("/");
                }
                push_components(&mut todo, &t);
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = true;
                cur = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

fn libc_eloop() -> i32 {
    40 // ELOOP on Linux
}

/// Pushes `p`'s components onto the stack `todo` so that they pop in order.
fn push_components(todo: &mut Vec<std::ffi::OsString>, p: &Path) {
    let mut v: Vec<std::ffi::OsString> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => v.push(s.to_os_string()),
            Component::ParentDir => v.push("..".into()),
            _ => {}
        }
    }
    todo.extend(v.into_iter().rev());
}

/// Reads a file inside the root, following symlinks inside it; `/dev/null` reads as empty.
fn read_in_root(root: &Path, host: &Path) -> io::Result<Vec<u8>> {
    let real = chase(root, host, true)?;
    if real == Path::new("/dev/null") {
        return Ok(Vec::new());
    }
    read_file(&under_root(root, &real))
}

/// `std::fs::read()` without its `statx()` for a size hint: unit files are small (open, read,
/// read to see the end, close).
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Through `Take`, read_to_end() reads into the vector's spare capacity without asking the
    // file's size first (File's own read_to_end() calls statx() and lseek()).
    // O_NONBLOCK: a FIFO (or device) in place of a unit file must not block the service's start
    // forever waiting for a writer; anything but a regular file is refused once opened.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Not a regular file",
        ));
    }
    let mut f = f.take(u64::MAX);
    let mut v = Vec::with_capacity(4096);
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// Whether a unit of this type can load without a fragment (`unit_load_fragment_and_dropin(u,
/// false)` in src/core/*.c).
fn fragment_optional(unit_type: &str) -> bool {
    matches!(unit_type, "slice" | "scope" | "device" | "mount" | "swap")
}

/// Finds, reads and parses the unit `name` under `root` with the system search path.
pub fn load(root: &Path, name: &str) -> Result<LoadedUnit, LoadError> {
    load_with(&Catalog::system(root), name)
}

/// [`load`] with a prebuilt [`Catalog`] (reuse it across units).
pub fn load_with(catalog: &Catalog, name: &str) -> Result<LoadedUnit, LoadError> {
    let bad = || LoadError::BadName {
        name: name.to_string(),
    };
    let kind = name::kind(name).ok_or_else(bad)?;
    if kind == Kind::Template {
        return Err(bad());
    }
    let instance = name::instance(name);
    let loop_err = || LoadError::AliasLoop {
        name: name.to_string(),
    };

    // unit_file_find_fragment()
    let mut names: Vec<String> = Vec::new();
    catalog.add_names(&mut names, kind, instance, name);
    let mut fragment = catalog.resolve(name).map_err(|_| loop_err())?;
    if fragment.is_none() && kind == Kind::Instance {
        if let Some(t) = name::template_of(name) {
            fragment = catalog.resolve(&t).map_err(|_| loop_err())?;
        }
    }
    if let Some(f) = &fragment {
        let base = file_name(f);
        if base != name {
            catalog.add_names(&mut names, kind, instance, &base);
        }
    }

    // The id: the fragment's name, the instance filled in for a template.
    let mut id = name.to_string();
    if let Some(f) = &fragment {
        let base = file_name(f);
        id = match (name::kind(&base), instance) {
            (Some(Kind::Template), Some(i)) => name::instantiate(&base, i).unwrap_or(base),
            _ => base,
        };
    }
    // Names that are templates become the instance (unit_add_name()).
    let mut aliases: Vec<String> = Vec::new();
    for n in names {
        let n = match (name::kind(&n), instance) {
            (Some(Kind::Template), Some(i)) => match name::instantiate(&n, i) {
                Ok(x) => x,
                Err(_) => continue,
            },
            (Some(Kind::Template), None) => continue,
            _ => n,
        };
        if n != id && !aliases.contains(&n) {
            aliases.push(n);
        }
    }
    aliases.sort();

    let unit_type = name::unit_type(&id).unwrap_or("service").to_string();
    let sections = syntax::sections_for(&unit_type);
    let mut unit = LoadedUnit {
        name: id.clone(),
        ..LoadedUnit::default()
    };

    match &fragment {
        Some(f) => {
            let bytes = catalog.read_fragment(f).map_err(|e| LoadError::Io {
                name: id.clone(),
                path: f.clone(),
                error: errno_text(&e),
            })?;
            if bytes.is_empty() {
                return Err(LoadError::Masked {
                    name: id,
                    path: f.clone(),
                });
            }
            let parsed = syntax::parse_with_sections(&bytes, f, sections);
            if let Some(fatal) = parsed.fatal {
                return Err(LoadError::NotLoadable {
                    name: id,
                    path: f.clone(),
                    fatal,
                });
            }
            unit.fragment = Some(f.clone());
            unit.assignments = parsed.assignments;
            unit.diagnostics = parsed.diagnostics;
        }
        None if !fragment_optional(&unit_type) => {
            return Err(LoadError::NotFound {
                name: name.to_string(),
            })
        }
        None => {}
    }

    let set = catalog.dropin_set(&id, &aliases, &unit_type, sections);
    unit.assignments.extend(set.assignments.iter().cloned());
    unit.diagnostics.extend(set.diagnostics.iter().cloned());
    unit.dropins.extend(set.files.iter().cloned());
    if fragment.is_none() && unit.dropins.is_empty() {
        return Err(LoadError::NotFound {
            name: name.to_string(),
        });
    }
    Ok(unit)
}

/// The strerror() text for an I/O error, as systemd's `%m` prints it.
fn errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_dir_agrees_with_path_strip_prefix() {
        let cases = [
            (
                "/usr/lib/systemd/system/a.service",
                "/usr/lib/systemd/system",
            ),
            ("/usr/lib/systemd/system", "/usr/lib/systemd/system"),
            (
                "/usr/lib/systemd/systemx/a.service",
                "/usr/lib/systemd/system",
            ),
            (
                "/usr/lib/systemd/system/sub/a.service",
                "/usr/lib/systemd/system",
            ),
            ("/etc/systemd/system/a.service", "/usr/lib/systemd/system"),
            ("/etc//systemd/system/a.service", "/etc/systemd/system"),
            ("/etc/systemd/system/a.service", "/etc/systemd/./system/"),
            ("/etc/systemd/system/a.service", "/etc/systemd/system/"),
        ];
        for (p, d) in cases {
            assert_eq!(
                strip_dir(Path::new(p), Path::new(d)),
                Path::new(p).strip_prefix(d).ok(),
                "{p} {d}"
            );
        }
    }
}
