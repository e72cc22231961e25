// SPDX-License-Identifier: LGPL-2.1-or-later
//! Finding and loading a unit: `unit_file_build_name_map()` and `unit_file_find_fragment()` in
//! src/shared/unit-file.c, `unit_load_fragment()` in src/core/load-fragment.c and
//! `unit_load_dropin()` in src/core/load-dropin.c.
//!
//! Rules (each checked against systemd 252, see `tests/unit_load.rs`):
//! - The catalog (see [`super::catalog`]) maps the name to a fragment.
//! - No fragment under an instance name: the template's fragment is used. An alias symlink
//!   to another template's instance (`bar-alias@3.service → yup@3.service`, only `yup@.service`
//!   installed) leads to that template, not to the alias's own (`bar-alias@.service`).
//! - The unit's id is the fragment's file name (the instance filled in for a template), so
//!   loading an alias gives the target's id; the other names become aliases.
//! - A fragment that resolves to `/dev/null` or is an empty regular file is masked.
//! - A fragment that fails to parse (see [`super::syntax`]) makes the unit not loadable; a
//!   drop-in that fails to parse keeps the assignments before the failing line.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::catalog::{file_name, Catalog};
use super::name::{self, Kind};
use super::syntax::{self, Fatal};
use super::LoadedUnit;

/// Why a unit could not be loaded, with systemd's wording.
#[derive(Debug, Clone)]
pub enum UnitLoadError {
    /// Not a valid unit name (or a template, which cannot be loaded by itself).
    BadName { name: String },
    /// No fragment in any search-path directory.
    NotFound { name: String },
    /// The fragment is a symlink to `/dev/null` or an empty file.
    Masked { name: String, path: PathBuf },
    /// The fragment could not be read: the operation that failed (as systemd's message names
    /// it, "open"), the file and the error. `Arc` keeps the error `Clone` (the generator copies
    /// load results); [`std::error::Error::source`] gives the `io::Error`.
    Io {
        name: String,
        op: &'static str,
        path: PathBuf,
        error: Arc<io::Error>,
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

impl fmt::Display for UnitLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitLoadError::BadName { name } => write!(f, "Unit name {name} is not valid."),
            UnitLoadError::NotFound { name } => write!(f, "Unit {name} not found."),
            UnitLoadError::Masked { name, .. } => write!(f, "Unit {name} is masked."),
            UnitLoadError::Io {
                name,
                op,
                path,
                error,
            } => write!(
                f,
                "{name}: Failed to {op} {}: {}",
                path.display(),
                crate::errno::strerror(error)
            ),
            UnitLoadError::NotLoadable { name, path, fatal } => {
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
            UnitLoadError::AliasLoop { name } => write!(
                f,
                "{name}: Failed to load configuration: Too many levels of symbolic links\nUnit {name} not found."
            ),
        }
    }
}

impl std::error::Error for UnitLoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UnitLoadError::Io { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// Whether a unit of this type can load without a fragment (`unit_load_fragment_and_dropin(u,
/// false)` in src/core/*.c).
fn fragment_optional(unit_type: &str) -> bool {
    matches!(unit_type, "slice" | "scope" | "device" | "mount" | "swap")
}

/// Finds, reads and parses the unit `name` under `root` with the system search path.
pub fn load(root: &Path, name: &str) -> Result<LoadedUnit, UnitLoadError> {
    load_with(&Catalog::system(root), name)
}

/// What a unit name leads to before any unit file is read: `unit_file_find_fragment()` and
/// the id `unit_load_fragment()` gives the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The unit's id: the fragment's name, the instance filled in for a template (for an alias,
    /// the name its symlinks lead to); the name itself when there is no fragment.
    pub id: String,
    /// The fragment (a host path), `None` when no file leads to the name.
    pub fragment: Option<PathBuf>,
    /// The unit's other names, sorted: the aliases whose drop-ins apply too.
    pub aliases: Vec<String>,
}

/// Which unit `name` is: its id, fragment and aliases, from the catalog alone (no unit file
/// is read). Errors: not a loadable name ([`UnitLoadError::BadName`]), alias loop.
pub fn identify(catalog: &Catalog, name: &str) -> Result<Identity, UnitLoadError> {
    let bad = || UnitLoadError::BadName {
        name: name.to_string(),
    };
    let kind = name::kind(name).ok_or_else(bad)?;
    if kind == Kind::Template {
        return Err(bad());
    }
    let instance = name::instance(name);
    let loop_err = || UnitLoadError::AliasLoop {
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
    Ok(Identity {
        id,
        fragment,
        aliases,
    })
}

/// [`load`] with a prebuilt [`Catalog`] (reuse it across units).
pub fn load_with(catalog: &Catalog, name: &str) -> Result<LoadedUnit, UnitLoadError> {
    let Identity {
        id,
        fragment,
        aliases,
    } = identify(catalog, name)?;

    let unit_type = name::unit_type(&id).unwrap_or("service").to_string();
    let sections = syntax::sections_for(&unit_type);
    let mut unit = LoadedUnit {
        name: id.clone(),
        ..LoadedUnit::default()
    };

    match &fragment {
        Some(f) => {
            let parsed = catalog
                .fragment_parsed(f, &unit_type, sections)
                .map_err(|e| UnitLoadError::Io {
                    name: id.clone(),
                    op: "open",
                    path: f.clone(),
                    error: Arc::new(e),
                })?;
            let Some(parsed) = parsed else {
                return Err(UnitLoadError::Masked {
                    name: id,
                    path: f.clone(),
                });
            };
            if let Some(fatal) = &parsed.fatal {
                return Err(UnitLoadError::NotLoadable {
                    name: id,
                    path: f.clone(),
                    fatal: fatal.clone(),
                });
            }
            unit.fragment = Some(f.clone());
            unit.assignments.push_shared(parsed.assignments.clone());
            unit.diagnostics.extend(parsed.diagnostics.iter().cloned());
        }
        None if !fragment_optional(&unit_type) => {
            return Err(UnitLoadError::NotFound {
                name: name.to_string(),
            })
        }
        None => {}
    }

    let set = catalog.dropin_set(&id, &aliases, &unit_type, sections);
    unit.assignments.push_shared(set.assignments.clone());
    unit.diagnostics.extend(set.diagnostics.iter().cloned());
    unit.dropins = set.files.clone();
    if fragment.is_none() && unit.dropins.is_empty() {
        return Err(UnitLoadError::NotFound {
            name: name.to_string(),
        });
    }
    Ok(unit)
}
