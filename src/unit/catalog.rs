// SPDX-License-Identifier: LGPL-2.1-or-later
//! The search path's directories, listed once, and what systemd derives from them:
//! `unit_file_build_name_map()` (src/shared/unit-file.c) and the drop-in directory lookup of
//! `unit_file_find_dropin_paths()` (src/shared/dropin.c), with what is read memoized so that one
//! catalog serves many units (the generator, `status`).
//!
//! Rules (each checked against systemd 252, see `tests/unit_load.rs`):
//! - Every search-path directory is listed once; the first directory holding a name wins.
//!   Hidden files and names that are not valid unit names are skipped.
//! - A symlink whose target (resolved inside the root, `.`/`..` and intermediate symlinks
//!   removed, the last component not followed) lies in a search-path directory is an alias: the
//!   name maps to the target's *name*, looked up again in the map (at most 32 hops, then ELOOP);
//!   an instance name reached that way with no entry of its own is looked up as its template
//!   (`bar-alias@3.service → yup@3.service` leads to `yup@.service`). A
//!   symlink pointing outside the search path (a linked unit file, or `/dev/null`) maps to the
//!   symlink itself. A symlink to the same name is a "self-alias" and ignored, so a lower-priority
//!   directory provides the name. Alias symlinks must keep the type and template/instance form
//!   (`unit_validate_alias_symlink_and_warn()`), else they are ignored with a warning.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::sys::fs;

use super::chase::{chase, read_file_with, read_in_root_with, read_opened_with, FOLLOW_MAX};
use super::dropins;
use super::fxhash::FxMap;
use super::name::{self, Kind};
use super::paths::{component_key, join, under_root, SearchPath};
use super::syntax;
use super::{Assignment, Diagnostic};

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

/// The `.conf` entries of one drop-in directory: file name and whether it is a symlink.
type Listing = Arc<Vec<(String, bool)>>;

/// What a [`Catalog`] remembers between units: drop-in directory listings, parsed drop-in
/// files (the type-wide `service.d/`, dash-prefix and template directories are shared by many
/// units) and parsed fragments (a template's, shared by its instances). The units loaded hold
/// the parsed assignments themselves ([`super::Assignments`]), not copies. Like the
/// search-directory listing itself, this is a snapshot taken on first use.
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
    /// Unit type → fragment (host path) → what parsing it gave, `None` when it is empty or
    /// `/dev/null` (masked): the instances of one template share it. Read errors are not kept.
    fragments: FxMap<String, FxMap<OsString, Option<Arc<FragmentParsed>>>>,
}

/// A fragment, parsed: its assignments are shared by every unit loaded from it.
#[derive(Debug)]
pub(super) struct FragmentParsed {
    pub(super) assignments: Arc<Vec<Assignment>>,
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) fatal: Option<syntax::Fatal>,
}

/// The drop-ins of a unit, applied: files in order, and their assignments and warnings.
#[derive(Debug, Default)]
pub(super) struct DropinSet {
    pub(super) files: Arc<Vec<PathBuf>>,
    pub(super) assignments: Arc<Vec<Assignment>>,
    pub(super) diagnostics: Vec<Diagnostic>,
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
    /// Each search directory's canonical path opened (`None`: it could not be), to open the
    /// fragments listed there by name; opened for the second fragment read from it, and with
    /// how many were read: a launcher loading one unit opens its fragment by path, as before,
    /// without two more system calls for the directory.
    dir_fds: Vec<(OnceLock<Option<OwnedFd>>, AtomicUsize)>,
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
            dir_fds: self.dir_fds.iter().map(|_| Default::default()).collect(),
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
            dir_fds: Vec::with_capacity(search.dirs().len()),
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

    /// The names (UTF-8 only, hidden ones included) of every entry of the search directories,
    /// as listed when the catalog was built: in no particular order, a name in several
    /// directories once for each.
    pub fn entry_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries
            .iter()
            .flat_map(|listing| listing.keys().map(String::as_str))
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
    fn dropin_dirs(&self, names: &[String], out: &mut Vec<PathBuf>) {
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

    /// Search directory `i` ([`Catalog::canon`]) opened, from the second fragment read from it
    /// on; `None` for the first, or when it cannot be opened.
    fn dir_fd(&self, i: usize) -> Option<BorrowedFd<'_>> {
        let (fd, reads) = &self.dir_fds[i];
        if reads.fetch_add(1, Ordering::Relaxed) == 0 {
            return None;
        }
        fd.get_or_init(|| fs::open_dir(&under_root(self.root(), self.canon(i))).ok())
            .as_ref()
            .map(AsFd::as_fd)
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `.conf` entries of the drop-in directory `dir` (a canonical host path), listed once
    /// per catalog; `None` when it cannot be read.
    fn dropin_listing(&self, dir: &Path) -> Option<Listing> {
        if let Some(l) = self.memo().listings.get(dir.as_os_str()) {
            return l.clone();
        }
        let l = dropins::list_dir(self.root(), dir, ".conf").map(Arc::new);
        self.memo()
            .listings
            .insert(dir.as_os_str().to_os_string(), l.clone());
        l
    }

    /// The drop-in files of a unit with id `id` and `aliases`, in the order systemd applies them,
    /// as host paths.
    pub fn dropin_files(&self, id: &str, aliases: &[String]) -> Vec<PathBuf> {
        self.merge_dropins(&self.candidate_dropin_dirs(id, aliases))
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    /// The drop-in directories that exist for a unit with id `id` and `aliases`, canonical, in
    /// priority order: for each name, in every search dir, the name's directories (see
    /// [`dropins::dir_names`]); then the type-wide directory in every search dir.
    fn candidate_dropin_dirs(&self, id: &str, aliases: &[String]) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut v = Vec::new();
        for n in std::iter::once(id).chain(aliases.iter().map(String::as_str)) {
            v.clear();
            dropins::dir_names(n, &mut v, 0);
            self.dropin_dirs(&v, &mut dirs);
        }
        if let Some(t) = name::unit_type(id) {
            let mut tn = String::with_capacity(t.len() + 2);
            tn.push_str(t);
            tn.push_str(".d");
            self.dropin_dirs(&[tn], &mut dirs);
        }
        dirs
    }

    /// `conf_files_list_strv()` over the (cached) listings of `dirs`: the `.conf` files, sorted
    /// by file name, the first directory winning for equal names; each with whether it is a
    /// symlink.
    fn merge_dropins(&self, dirs: &[PathBuf]) -> Vec<(PathBuf, bool)> {
        let mut seen: HashSet<&[u8]> = HashSet::with_capacity(dirs.len());
        let mut by_name: HashMap<&str, (&PathBuf, bool)> = HashMap::new();
        let mut listings = Vec::with_capacity(dirs.len());
        for d in dirs {
            if !seen.insert(d.as_os_str().as_bytes()) {
                continue;
            }
            if let Some(l) = self.dropin_listing(d) {
                listings.push((d, l));
            }
        }
        for (d, l) in &listings {
            for (n, symlink) in l.iter() {
                by_name.entry(n.as_str()).or_insert((d, *symlink));
            }
        }
        let mut v: Vec<(&str, (&PathBuf, bool))> = by_name.into_iter().collect();
        v.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        v.into_iter()
            .map(|(n, (d, symlink))| (join(d, n), symlink))
            .collect()
    }

    /// The drop-ins of a unit with id `id` and `aliases`, of type `unit_type`, applied in order.
    pub(super) fn dropin_set(
        &self,
        id: &str,
        aliases: &[String],
        unit_type: &str,
        sections: Option<&[&str]>,
    ) -> Arc<DropinSet> {
        let dirs = self.candidate_dropin_dirs(id, aliases);
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
        let mut files = Vec::new();
        let mut assignments = Vec::new();
        for (d, symlink) in self.merge_dropins(&dirs) {
            // Errors reading or parsing a drop-in are ignored by unit_load_dropin(); what was
            // parsed before the error stays.
            if let Some(parsed) = self.dropin_parsed(&d, symlink, unit_type, sections) {
                assignments.extend(parsed.assignments.iter().cloned());
                set.diagnostics.extend(parsed.diagnostics.iter().cloned());
            }
            files.push(d);
        }
        set.files = Arc::new(files);
        set.assignments = Arc::new(assignments);
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
        let parse = |bytes: &[u8]| Arc::new(syntax::parse_with_sections(bytes, file, sections));
        let read = if symlink {
            read_in_root_with(root, file, parse)
        } else {
            read_file_with(&under_root(root, file), parse)
        };
        let p = read.ok();
        self.memo()
            .parsed
            .entry(unit_type.to_string())
            .or_default()
            .insert(file.as_os_str().to_os_string(), p.clone());
        p
    }

    /// The fragment `host` parsed for a unit of type `unit_type`: once per catalog when more than
    /// one name can lead to it ([`Catalog::fragment_may_be_shared`]), else at every call; `None`
    /// when it is empty or `/dev/null` (the unit is masked); `Err` when it cannot be read (asked
    /// again next time, as before this memo).
    pub(super) fn fragment_parsed(
        &self,
        host: &Path,
        unit_type: &str,
        sections: Option<&[&str]>,
    ) -> io::Result<Option<Arc<FragmentParsed>>> {
        let shared = self.fragment_may_be_shared(host);
        if !shared {
            return self.read_fragment_parsed(host, sections);
        }
        if let Some(p) = self
            .memo()
            .fragments
            .get(unit_type)
            .and_then(|m| m.get(host.as_os_str()))
        {
            return Ok(p.clone());
        }
        let p = self.read_fragment_parsed(host, sections)?;
        self.memo()
            .fragments
            .entry(unit_type.to_string())
            .or_default()
            .insert(host.as_os_str().to_os_string(), p.clone());
        Ok(p)
    }

    /// Whether more than one unit name can lead to the fragment `host`, so that its parse is
    /// worth remembering: a template's (its instances share it) or one an alias leads to. The
    /// thousands of other fragments of a host are each read for one unit: remembering them
    /// took the memo's lock twice and copied the path, for nothing.
    fn fragment_may_be_shared(&self, host: &Path) -> bool {
        let Some(n) = host.file_name().and_then(|n| n.to_str()) else {
            return true;
        };
        !matches!(name::kind(n), Some(Kind::Plain | Kind::Instance)) || self.names.contains_key(n)
    }

    /// [`Catalog::fragment_parsed`] without the memo.
    fn read_fragment_parsed(
        &self,
        host: &Path,
        sections: Option<&[&str]>,
    ) -> io::Result<Option<Arc<FragmentParsed>>> {
        self.read_fragment_with(host, |bytes| {
            (!bytes.is_empty()).then(|| {
                let parsed = syntax::parse_with_sections(bytes, host, sections);
                Arc::new(FragmentParsed {
                    assignments: Arc::new(parsed.assignments),
                    diagnostics: parsed.diagnostics,
                    fatal: parsed.fatal,
                })
            })
        })
    }

    /// Reads a fragment (a host path in a search directory), following symlinks inside the root
    /// only when the catalog saw one; `/dev/null` reads as empty.
    fn read_fragment_with<R>(&self, host: &Path, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
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
                    // From the directory's second fragment on, by name below the directory
                    // opened once: opening the full path walked every component of the
                    // directory again for each of thousands of units. It is the same file (the
                    // name is no symlink, the directory is the canonical one the full path
                    // names).
                    if let Some(dir) = self.dir_fd(i) {
                        let open = || fs::open_read_nonblock_at(dir, OsStr::new(n));
                        return read_opened_with(open, f);
                    }
                    return read_file_with(&under_root(self.root(), &join(self.canon(i), n)), f);
                }
            }
        }
        read_in_root_with(self.root(), host, f)
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
            self.dir_fds.push(Default::default());
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
    ///
    /// An alias may name an instance that has no file of its own: `bar-alias@3.service →
    /// yup@3.service` with only `yup@.service` installed. Once at least one alias hop was taken,
    /// a name that is not in the map is looked up again as its template, so that alias leads
    /// to `yup@.service` (and the unit is `yup@3.service`). The name asked for is not: a
    /// missing instance falls back to its *own* template in [`super::load`] instead, which
    /// for `bar-alias@3.service` would be the wrong unit. Errors: too many hops (ELOOP).
    pub(super) fn resolve(&self, name: &str) -> Result<Option<PathBuf>, ()> {
        let mut cur = std::borrow::Cow::Borrowed(name);
        for hop in 0..FOLLOW_MAX {
            let found = match self.id(&cur) {
                None if hop > 0 => name::template_of(&cur).and_then(|t| self.id(&t)),
                x => x,
            };
            match found {
                None => return Ok(None),
                Some(Target::Path(p)) => return Ok(Some(p)),
                Some(Target::Name(n)) => cur = n.into(),
            }
        }
        Err(())
    }

    /// The fragment the name leads to in the unit id map, aliases followed (a host path); `None`
    /// when nothing does or the aliases loop. Unlike loading, an instance name without an entry
    /// of its own is not looked up as its template.
    pub fn fragment_of(&self, name: &str) -> Option<PathBuf> {
        self.resolve(name).ok().flatten()
    }

    /// `null_or_empty_path()` inside the root: `/dev/null` or an empty regular file.
    fn null_or_empty(&self, host: &Path) -> bool {
        // What an alias usually leads to: an entry the catalog listed in a search directory
        // that is no symlink (nor a directory). Below the directory's canonical path it names
        // no symlink, so resolving it gives that path joined with the name (as
        // `read_fragment_with` opens it): one stat(2) instead of an lstat(2) of every
        // component, for every alias of the host at every daemon-reload.
        if let Some(p) = self.listed_entry(host) {
            return std::fs::metadata(under_root(self.root(), &p))
                .map(|m| m.is_file() && m.len() == 0)
                .unwrap_or(false);
        }
        self.null_or_empty_chased(host)
    }

    /// [`Catalog::null_or_empty`] by resolving every component of `host`.
    fn null_or_empty_chased(&self, host: &Path) -> bool {
        match chase(self.root(), host, true) {
            Ok(p) if p == Path::new("/dev/null") => true,
            Ok(p) => std::fs::metadata(under_root(self.root(), &p))
                .map(|m| m.is_file() && m.len() == 0)
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// `host` resolved inside the root, when it is a search directory's entry (named by the
    /// search path's spelling of that directory) that the listing showed as neither a symlink
    /// nor a directory, and the directory's canonical path is known: that path joined with the
    /// name. `None` otherwise (the caller resolves it component by component).
    fn listed_entry(&self, host: &Path) -> Option<PathBuf> {
        let (parent, n) = (host.parent()?, host.file_name()?.to_str()?);
        let i = *self.dir_index.get(parent.as_os_str())?;
        if self.entries[i].get(n) != Some(&EntryKind::Other) {
            return None;
        }
        let (canon, resolved) = self.canon_entry(i);
        resolved.then(|| join(canon, n))
    }

    /// `add_names()`.
    pub(super) fn add_names(
        &self,
        names: &mut Vec<String>,
        kind: Kind,
        instance: Option<&str>,
        n: &str,
    ) {
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

/// The last component of `p` as a `String` (lossy), empty for none.
pub(super) fn file_name(p: &Path) -> String {
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
#[cfg(test)]
mod tests {
    use super::*;

    /// The listed-entry shortcut of `null_or_empty` answers as resolving every component does:
    /// empty and non-empty files, a missing one, symlinks (to `/dev/null`, to an empty file, to
    /// a directory), a directory, entries below a symlinked search directory, paths outside the
    /// search path.
    #[test]
    fn null_or_empty_by_listing_agrees_with_chasing() {
        let root = std::env::temp_dir().join(format!("bindif-catalog-noe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let lib = root.join("usr/lib/systemd/system");
        let etc = root.join("etc/systemd/system");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        // /lib/systemd → /usr/lib/systemd: a search directory that is not canonical (relative:
        // the listing opens host paths).
        std::os::unix::fs::symlink("../usr/lib/systemd", root.join("lib/systemd")).unwrap();
        std::fs::write(lib.join("empty.service"), "").unwrap();
        std::fs::write(lib.join("full.service"), "[Service]\n").unwrap();
        std::fs::write(etc.join("full.service"), "").unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("masked.service")).unwrap();
        std::os::unix::fs::symlink("empty.service", lib.join("alias.service")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/systemd/system", etc.join("dir.service")).unwrap();
        std::fs::create_dir(lib.join("full.service.d")).unwrap();
        let dirs = [
            "/etc/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
        ];
        let c = Catalog::new(SearchPath::from_dirs(
            &root,
            dirs.iter().map(PathBuf::from).collect(),
        ));
        let names = [
            "empty.service",
            "full.service",
            "masked.service",
            "alias.service",
            "dir.service",
            "full.service.d",
            "missing.service",
        ];
        let mut shortcut = 0;
        for d in dirs.iter().chain(&["/usr/lib/systemd", "/opt"]) {
            for n in names {
                let host = Path::new(d).join(n);
                shortcut += c.listed_entry(&host).is_some() as usize;
                assert_eq!(
                    c.null_or_empty(&host),
                    c.null_or_empty_chased(&host),
                    "{}",
                    host.display()
                );
            }
        }
        // The regular files of the three search directories took the shortcut.
        assert_eq!(shortcut, 5);
        assert!(c.null_or_empty(Path::new("/lib/systemd/system/empty.service")));
        assert!(!c.null_or_empty(Path::new("/lib/systemd/system/full.service")));
        let _ = std::fs::remove_dir_all(&root);
    }

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

    /// The first fragment of a search directory is opened by its path (a launcher loads one
    /// unit: no system calls for the directory), the later ones by name below the directory,
    /// opened once; both read the same files.
    #[test]
    fn fragments_after_the_first_are_opened_below_their_directory() {
        let root = std::env::temp_dir().join(format!("bindif-catalog-fd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("etc/systemd/system");
        std::fs::create_dir_all(&dir).unwrap();
        for n in ["a", "b", "c"] {
            let text = format!("[Service]\nExecStart=/bin/{n}\n");
            std::fs::write(dir.join(format!("{n}.service")), text).unwrap();
        }
        let c = Catalog::system(&root);
        let i = c
            .search_path()
            .dirs()
            .iter()
            .position(|d| d == Path::new("/etc/systemd/system"))
            .unwrap();
        let opened = |c: &Catalog| c.dir_fds[i].0.get().is_some_and(Option::is_some);
        let load = |n: &str| {
            let u = super::super::load::load_with(&c, n).unwrap();
            u.assignments
                .iter()
                .map(|a| a.value.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(load("a.service"), ["/bin/a"]);
        assert!(!opened(&c), "one unit: no descriptor for its directory");
        assert_eq!(load("b.service"), ["/bin/b"]);
        assert!(opened(&c));
        assert_eq!(load("c.service"), ["/bin/c"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The names that lead to one fragment share its parse: a template's instances, an alias
    /// and its target, an instance alias and the instance's own file. Each load of another
    /// fragment reads it again, with the same result.
    #[test]
    fn fragments_more_than_one_name_leads_to_are_parsed_once() {
        let root = std::env::temp_dir().join(format!("bindif-catalog-memo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("etc/systemd/system");
        std::fs::create_dir_all(&dir).unwrap();
        for n in [
            "t@.service",
            "real.service",
            "t@own.service",
            "plain.service",
        ] {
            std::fs::write(dir.join(n), format!("[Service]\nExecStart=/bin/{n}\n")).unwrap();
        }
        std::os::unix::fs::symlink("real.service", dir.join("alias.service")).unwrap();
        std::os::unix::fs::symlink("t@own.service", dir.join("b@own.service")).unwrap();
        let c = Catalog::system(&root);
        let load = |n: &str| super::super::load::load_with(&c, n).unwrap();
        // Both units alive while compared: a freed parse's address may be reused.
        let shared = |a: &super::super::LoadedUnit, b: &super::super::LoadedUnit| {
            let (x, y) = (a.assignments.get(0).unwrap(), b.assignments.get(0).unwrap());
            assert_eq!(x.value, y.value);
            std::ptr::eq(x, y)
        };
        for (a, b) in [
            ("t@x.service", "t@y.service"),
            ("alias.service", "real.service"),
            ("b@own.service", "t@own.service"),
        ] {
            assert!(shared(&load(a), &load(b)), "{a} and {b}: one parse");
        }
        let (p1, p2) = (load("plain.service"), load("plain.service"));
        assert!(
            !shared(&p1, &p2),
            "a fragment one name leads to: read at each load"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
