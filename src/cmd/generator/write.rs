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
    let path = dir.join(name);
    // Not `*.conf`: systemd never reads it as a drop-in, even if we die before the rename.
    let tmp = dir.join(format!(
        ".#{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = create_new(&tmp)
        .or_else(|e| {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
            // Left by an earlier run of ours with the same PID (the name is ours alone):
            // unlink it (a symlink is removed, not followed) and try once more.
            std::fs::remove_file(&tmp)?;
            create_new(&tmp)
        })
        .and_then(|mut f| f.write_all(content))
        .map_err(|e| WriteError::new("write", &tmp, e));
    let renamed = written.and_then(|()| {
        std::fs::rename(&tmp, &path).map_err(|e| WriteError::new("rename into place", &path, e))
    });
    if renamed.is_err() {
        // Ours, and useless now; a failure to remove it changes nothing the caller can do.
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
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
