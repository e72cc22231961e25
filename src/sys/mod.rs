// SPDX-License-Identifier: LGPL-2.1-or-later
//! The syscall boundary: everything `unsafe` lives below this module.

pub mod bpf;
pub mod cgroup;
pub mod netlink;
pub mod process;

use std::fmt;
use std::io;

/// Which part of the binding failed; the CLI maps it to systemd's exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Loading, attaching, querying or detaching the BPF program (245/BPF).
    Bpf,
    /// Opening, creating or entering a cgroup, or a cgroup we refuse to use (219/CGROUP).
    Cgroup,
    /// Resolving the interface over rtnetlink (225/NETWORK).
    Network,
}

impl Category {
    /// systemd's exit status for this category (`EXIT_BPF`, `EXIT_CGROUP`, `EXIT_NETWORK`).
    pub fn exit_status(self) -> i32 {
        match self {
            Category::Bpf => 245,
            Category::Cgroup => 219,
            Category::Network => 225,
        }
    }
}

/// An engine failure: what we tried (`op`), on what (`object`), the errno, and optionally a hint
/// naming the likely cause (missing capability, kernel option) or the verifier log.
///
/// Displays as systemd does: `Failed to attach BPF program to /sys/fs/cgroup/x: Operation not
/// permitted (…hint…)`; the CLI adds the `bind-interface: ` prefix.
#[derive(Debug)]
pub struct Error {
    pub category: Category,
    pub op: String,
    pub object: String,
    pub source: io::Error,
    pub hint: Option<String>,
    /// The verifier's log when the kernel rejected the program.
    pub verifier_log: Option<String>,
}

/// Load failures use the common error type.
pub type LoadError = Error;
/// Bind failures use the common error type.
pub type BindError = Error;

impl Error {
    pub fn new(
        category: Category,
        op: impl Into<String>,
        object: impl Into<String>,
        source: io::Error,
    ) -> Error {
        Error {
            category,
            op: op.into(),
            object: object.into(),
            source,
            hint: None,
            verifier_log: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// The errno, if the failure came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    pub fn exit_status(&self) -> i32 {
        self.category.exit_status()
    }

    /// Replaces the object (e.g. a directory fd's path, known only to the caller).
    pub fn with_object(mut self, object: impl Into<String>) -> Error {
        self.object = object.into();
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Failed to {}", self.op)?;
        if !self.object.is_empty() {
            write!(f, " {}", self.object)?;
        }
        write!(f, ": {}", strerror(&self.source))?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        if let Some(log) = &self.verifier_log {
            write!(f, "\nVerifier log:\n{}", log.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// `strerror()` text without Rust's " (os error N)" suffix, as systemd prints it.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Turns a libc return value into `io::Result`, reading errno on -1.
pub(crate) fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_systemd_style() {
        let e = Error::new(
            Category::Bpf,
            "attach BPF program to",
            "/sys/fs/cgroup/x",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert_eq!(
            e.to_string(),
            "Failed to attach BPF program to /sys/fs/cgroup/x: Operation not permitted"
        );
        assert_eq!(e.exit_status(), 245);
        assert_eq!(e.errno(), Some(libc::EPERM));
        let e = e.with_hint("needs CAP_BPF");
        assert!(e
            .to_string()
            .ends_with("Operation not permitted (needs CAP_BPF)"));
    }

    #[test]
    fn display_includes_verifier_log() {
        let mut e = Error::new(
            Category::Bpf,
            "load BPF program",
            "bindif_sock",
            io::Error::from_raw_os_error(libc::EACCES),
        )
        .with_hint("rejected by the verifier");
        e.verifier_log = Some("0: (b7) r2 = 1\ninvalid bpf_context access\n".into());
        assert_eq!(
            e.to_string(),
            "Failed to load BPF program bindif_sock: Permission denied (rejected by the verifier)\n\
             Verifier log:\n0: (b7) r2 = 1\ninvalid bpf_context access"
        );
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(Category::Cgroup.exit_status(), 219);
        assert_eq!(Category::Network.exit_status(), 225);
    }
}
