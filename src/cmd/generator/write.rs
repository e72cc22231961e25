// SPDX-License-Identifier: LGPL-2.1-or-later
//! Writing the planned drop-ins into the output directory.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::plan::GenFile;

/// A generated file that could not be written: the operation, the path and the errno.
#[derive(Debug)]
pub struct WriteError {
    /// What failed, as the message says it: "create directory", "write".
    pub op: &'static str,
    pub path: PathBuf,
    pub err: io::Error,
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

/// Writes `file` below the output directory `normal`, creating its `NAME.d/` directory.
pub fn write_file(normal: &Path, file: &GenFile) -> Result<(), WriteError> {
    let path = normal.join(&file.path);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|err| WriteError {
            op: "create directory",
            path: d.to_path_buf(),
            err,
        })?;
    }
    std::fs::write(&path, &file.content).map_err(|err| WriteError {
        op: "write",
        path,
        err,
    })
}
