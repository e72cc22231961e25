// SPDX-License-Identifier: LGPL-2.1-or-later
//! The package-wide configuration, `/etc/bindif-launch.conf`: defaults for the opt-in keys that
//! go beyond systemd v262, so an operator can turn one on for every unit without a drop-in each.
//!
//! ```ini
//! [Defaults]
//! Follow=yes
//! ```
//!
//! The file is parsed with the unit-file syntax (the same parser, so the same comments,
//! continuations and warnings). Only `[Defaults]` is read; its keys are what the unit keys
//! `X-BindNetworkInterface-KEY=` default to. A unit's own key always wins. A missing file is the
//! built-in defaults (every key off, as v262); an unreadable or malformed one is logged, by
//! whoever reads it, and its valid assignments still count. Pure apart from [`load`], which reads
//! below an injectable root.

use std::path::{Path, PathBuf};

use crate::unit::eval::parse_boolean;
use crate::unit::syntax;

/// The file, relative to the root.
pub const PATH: &str = "etc/bindif-launch.conf";

/// The section that holds the defaults.
const SECTION: &str = "Defaults";

/// The package-wide defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defaults {
    /// `Follow=`: what a unit without `X-BindNetworkInterface-Follow=` gets (off: as v262).
    pub follow: bool,
}

/// The defaults and the warnings about the file, each `PATH:LINE: text` in systemd's words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    pub defaults: Defaults,
    pub warnings: Vec<String>,
}

/// Parses the file's bytes (`file` names it in the warnings).
pub fn parse(bytes: &[u8], file: &Path) -> Loaded {
    let parsed = syntax::parse(bytes, file);
    let mut out = Loaded::default();
    let at = |s: &crate::unit::Source| format!("{}:{}", s.file.display(), s.line);
    for d in &parsed.diagnostics {
        match &d.source {
            Some(s) => out.warnings.push(format!("{}: {}", at(s), d.message)),
            None => out.warnings.push(d.message.clone()),
        }
    }
    for a in parsed.assignments.iter().filter(|a| &*a.section == SECTION) {
        match a.key.as_str() {
            "Follow" if a.value.is_empty() => out.defaults.follow = false,
            "Follow" => match parse_boolean(&a.value) {
                Some(b) => out.defaults.follow = b,
                None => out.warnings.push(format!(
                    "{}: Failed to parse boolean value, ignoring: {}",
                    at(&a.source),
                    a.value
                )),
            },
            other => out.warnings.push(format!(
                "{}: Unknown key name '{other}' in section '{SECTION}', ignoring.",
                at(&a.source)
            )),
        }
    }
    if let Some(f) = &parsed.fatal {
        out.warnings.push(format!(
            "{}: Failed to parse the rest of the file, ignoring it: {}",
            at(&f.source),
            f.message
        ));
    }
    out
}

/// Reads `root`/etc/bindif-launch.conf. A missing file is the built-in defaults, silently.
pub fn load(root: &Path) -> Loaded {
    let path: PathBuf = root.join(PATH);
    match std::fs::read(&path) {
        Ok(bytes) => parse(&bytes, &Path::new("/").join(PATH)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::default(),
        Err(e) => Loaded {
            defaults: Defaults::default(),
            warnings: vec![format!(
                "Failed to read /{PATH}, using the built-in defaults: {e}"
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Loaded {
        parse(text.as_bytes(), Path::new("/etc/bindif-launch.conf"))
    }

    #[test]
    fn defaults_are_v262() {
        assert_eq!(p(""), Loaded::default());
        assert!(!Defaults::default().follow);
    }

    #[test]
    fn follow_last_valid_wins() {
        let l = p("# fleet default\n[Defaults]\nFollow=yes\nFollow=sometimes\n");
        assert!(l.defaults.follow);
        assert_eq!(
            l.warnings,
            ["/etc/bindif-launch.conf:4: Failed to parse boolean value, ignoring: sometimes"]
        );
        assert!(!p("[Defaults]\nFollow=yes\nFollow=\n").defaults.follow);
    }

    #[test]
    fn other_sections_and_keys() {
        let l = p("[Other]\nFollow=yes\n[Defaults]\nFolow=yes\n");
        assert!(!l.defaults.follow);
        assert_eq!(
            l.warnings,
            ["/etc/bindif-launch.conf:4: Unknown key name 'Folow' in section 'Defaults', ignoring."]
        );
    }

    #[test]
    fn load_reads_below_the_root() {
        let d = std::env::temp_dir().join(format!("bindif-config-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        assert_eq!(load(&d), Loaded::default());
        std::fs::write(d.join(PATH), "[Defaults]\nFollow=on\n").unwrap();
        assert!(load(&d).defaults.follow);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
