// SPDX-License-Identifier: LGPL-2.1-or-later
//! Why `status` could not report at all.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::facts::escape_path;
use crate::exit;

/// A failure that stops `status`: a bad argument, no hierarchy to walk, or a cgroup the walk
/// could not read.
#[derive(Debug)]
pub enum Error {
    /// A `UNIT` argument that is no unit name.
    InvalidUnit(String),
    /// Neither systemd's cgroup2 nor bindif-launch's own (legacy hosts) is mounted.
    NoHierarchy,
    /// A syscall on a cgroup directory failed: what we tried, on which directory, the errno.
    Cgroup {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl Error {
    /// 2 for bad arguments (as systemctl), 1 for everything else.
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::InvalidUnit(_) => exit::INVALIDARGUMENT,
            Error::NoHierarchy | Error::Cgroup { .. } => 1,
        }
    }

    /// What failed, in the words of the message (`query BPF programs of`).
    pub fn operation(&self) -> &'static str {
        match self {
            Error::InvalidUnit(_) => "parse unit name",
            Error::NoHierarchy => "find a cgroup2 hierarchy",
            Error::Cgroup { op, .. } => op,
        }
    }

    /// The errno, when the kernel refused something.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Cgroup { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The likely cause of a refusal.
    fn hint(&self) -> &'static str {
        match self.errno() {
            Some(libc::EPERM) => {
                " (listing cgroup programs needs CAP_NET_ADMIN, and reading them CAP_SYS_ADMIN: \
                 run status as root)"
            }
            _ => "",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUnit(arg) => write!(f, "Invalid unit name \"{arg}\""),
            Error::NoHierarchy => f.write_str(
                "No cgroup2 hierarchy found: neither systemd's nor bindif-launch's own \
                 (legacy hosts) is mounted, so nothing can carry a binding",
            ),
            Error::Cgroup { op, path, source } => write!(
                f,
                "Failed to {op} {}: {}{}",
                escape_path(path),
                crate::sys::strerror(source),
                self.hint()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Cgroup { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation_and_the_cause() {
        let e = Error::Cgroup {
            op: "query BPF programs of",
            path: PathBuf::from("/sys/fs/cgroup/x"),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(
            e.to_string(),
            "Failed to query BPF programs of /sys/fs/cgroup/x: Operation not permitted \
             (listing cgroup programs needs CAP_NET_ADMIN, and reading them CAP_SYS_ADMIN: \
             run status as root)"
        );
        assert_eq!((e.exit_status(), e.errno()), (1, Some(libc::EPERM)));
        let e = Error::InvalidUnit("a/b".into());
        assert_eq!(e.to_string(), "Invalid unit name \"a/b\"");
        assert_eq!((e.exit_status(), e.errno()), (2, None));
        assert_eq!(Error::NoHierarchy.exit_status(), 1);
    }
}
