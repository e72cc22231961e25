// SPDX-License-Identifier: LGPL-2.1-or-later
//! Writing the planned drop-ins into the output directory.
//!
//! Each file is written on its own: a unit whose drop-in cannot be written (a 255-byte unit name
//! makes `NAME.d` longer than NAME_MAX) is reported and every other unit still gets its drop-in,
//! as systemd's generators carry on past a unit they cannot handle.
//!
//! Nothing already in the output directory is followed: other generators write there while we
//! run. A `NAME.d` that exists but is not a directory (a symlink included) is refused. A file is
//! written to a fresh temporary name (`O_CREAT|O_EXCL|O_NOFOLLOW`, so it never opens an existing
//! file or a symlink) and renamed over the final name; rename(2) replaces a symlink there
//! instead of writing through it. Path-based rather than `*at()` calls: the directory is
//! root's, so only root could race us between the check and the use.
//!
//! The links to the launcher that wrapped commands run (`bindif-launch-exec/NAME`, see
//! `quote.rs`) are made the same way: the directory must be a directory of its own, and each
//! link is created under a temporary name (symlink(2) never follows or replaces anything) and
//! renamed over its final name.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::plan::GenFile;

/// A generated file that could not be written: the operation, the path and the errno.
#[derive(Debug)]
pub struct WriteError {
    /// What failed, as the message says it: "create directory", "write", …
    pub op: &'static str,
    pub path: PathBuf,
    pub err: io::Error,
}

impl WriteError {
    fn new(op: &'static str, path: &Path, err: io::Error) -> WriteError {
        WriteError {
            op,
            path: path.to_path_buf(),
            err,
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Failed to {} {}: {}",
            self.op,
            self.path.display(),
            crate::sys::strerror(&self.err)
        )
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.err)
    }
}

/// Creates the output directory itself (systemd passes one that exists; a manual run may not).
pub fn create_output_dir(normal: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(normal).map_err(|e| WriteError::new("create directory", normal, e))
}

/// Writes `file` below the output directory `normal`, creating its `NAME.d/` directory.
pub fn write_file(normal: &Path, file: &GenFile) -> Result<(), WriteError> {
    let mut dir = normal.to_path_buf();
    if let Some(parent) = file.path.parent() {
        for c in parent.components() {
            dir.push(c);
            ensure_dir(&dir)?;
        }
    }
    let name = file
        .path
        .file_name()
        .ok_or_else(|| WriteError::new("write", &file.path, io::ErrorKind::InvalidInput.into()))?;
    replace_file(&dir, Path::new(name), file.content.as_bytes())
}

/// Creates `dir` unless it is a directory already; anything else there, a symlink to a
/// directory included, is refused rather than followed.
fn ensure_dir(dir: &Path) -> Result<(), WriteError> {
    match std::fs::create_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(WriteError::new("create directory", dir, e)),
    }
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| WriteError::new("create directory", dir, e))?;
    if meta.is_dir() {
        return Ok(());
    }
    // What O_NOFOLLOW|O_DIRECTORY would say about it.
    let errno = if meta.file_type().is_symlink() {
        libc::ELOOP
    } else {
        libc::ENOTDIR
    };
    Err(WriteError::new(
        "create directory",
        dir,
        io::Error::from_raw_os_error(errno),
    ))
}

/// Writes `content` to `dir/name` through a temporary file renamed over it.
fn replace_file(dir: &Path, name: &Path, content: &[u8]) -> Result<(), WriteError> {
    replace_through_temporary(dir, &name.to_string_lossy(), "write", |tmp| {
        create_new(tmp)?.write_all(content)
    })
}

/// Makes `dir/name` through `make`, which creates a new entry at a temporary path next to it,
/// renamed over `dir/name`: nothing that is there is written through. The temporary name
/// (`.#NAME.PID`, never `*.conf`, so systemd never reads it as a drop-in, even if we die before
/// the rename) is ours alone; one left by an earlier run with the same PID is unlinked (a
/// symlink removed, not followed) and `make` tried once more.
fn replace_through_temporary(
    dir: &Path,
    name: &str,
    op: &'static str,
    make: impl Fn(&Path) -> io::Result<()>,
) -> Result<(), WriteError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".#{name}.{}", std::process::id()));
    let made = make(&tmp)
        .or_else(|e| {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
            std::fs::remove_file(&tmp)?;
            make(&tmp)
        })
        .map_err(|e| WriteError::new(op, &tmp, e));
    let renamed = made.and_then(|()| {
        std::fs::rename(&tmp, &path).map_err(|e| WriteError::new("rename into place", &path, e))
    });
    if renamed.is_err() {
        // Ours, and useless now; a failure to remove it changes nothing the caller can do.
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// Creates, in `dir` (made if need be, refused if it is not a directory), a symlink to
/// `target` for each of `names`. Returns the names whose link could not be made, each with why;
/// every other one is made.
pub fn write_links(
    dir: &Path,
    names: &BTreeSet<String>,
    target: &Path,
) -> Vec<(String, WriteError)> {
    if names.is_empty() {
        return Vec::new();
    }
    if let Err(e) = ensure_dir(dir) {
        return names
            .iter()
            .map(|n| {
                let err = e.err.raw_os_error().map_or_else(
                    || io::Error::from(e.err.kind()),
                    io::Error::from_raw_os_error,
                );
                let e = WriteError::new(e.op, &e.path, err);
                (n.clone(), e)
            })
            .collect();
    }
    names
        .iter()
        .filter_map(|n| replace_link(dir, n, target).err().map(|e| (n.clone(), e)))
        .collect()
}

/// Makes `dir/name` a symlink to `target` through a temporary link renamed over it.
fn replace_link(dir: &Path, name: &str, target: &Path) -> Result<(), WriteError> {
    replace_through_temporary(dir, name, "create symlink", |tmp| {
        std::os::unix::fs::symlink(target, tmp)
    })
}

/// A new file at `path`: never an existing file, never through a symlink.
fn create_new(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}
