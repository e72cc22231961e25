// SPDX-License-Identifier: LGPL-2.1-or-later
//! Error descriptions as systemd prints them (`%m`): glibc's `strerror()` words, whatever C
//! library this is built with. Pure: the unit model uses it too.

use std::io;

/// `strerror()` text without Rust's " (os error N)" suffix, in glibc's words
/// ([`glibc_errno_text`]).
pub fn strerror(e: &io::Error) -> String {
    if let Some(text) = e.raw_os_error().and_then(glibc_errno_text) {
        return text.to_string();
    }
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// glibc's description of the errnos musl describes differently (musl 1.2: "Resource busy" for
/// EBUSY, "Not supported" for EOPNOTSUPP, "Out of memory" for ENOMEM, …). The installed launcher
/// is a musl build (scripts/meson-cargo-build), and its messages must read as systemd's, which
/// are glibc's, and as the generator's (a glibc build) and docs/faults.md do. `None`: the C
/// library's text is glibc's already.
fn glibc_errno_text(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EIO => "Input/output error",
        libc::ECHILD => "No child processes",
        libc::ENOMEM => "Cannot allocate memory",
        libc::EBUSY => "Device or resource busy",
        libc::EXDEV => "Invalid cross-device link",
        libc::EMFILE => "Too many open files",
        libc::ENOTTY => "Inappropriate ioctl for device",
        libc::ESPIPE => "Illegal seek",
        libc::EDOM => "Numerical argument out of domain",
        libc::ERANGE => "Numerical result out of range",
        libc::EDEADLK => "Resource deadlock avoided",
        libc::ENAMETOOLONG => "File name too long",
        libc::ELOOP => "Too many levels of symbolic links",
        libc::ECHRNG => "Channel number out of range",
        libc::EL2NSYNC => "Level 2 not synchronized",
        libc::EL3HLT => "Level 3 halted",
        libc::EL3RST => "Level 3 reset",
        libc::ELNRNG => "Link number out of range",
        libc::EUNATCH => "Protocol driver not attached",
        libc::ENOCSI => "No CSI structure available",
        libc::EL2HLT => "Level 2 halted",
        libc::EBADE => "Invalid exchange",
        libc::EBADR => "Invalid request descriptor",
        libc::EXFULL => "Exchange full",
        libc::ENOANO => "No anode",
        libc::EBADRQC => "Invalid request code",
        libc::EBADSLT => "Invalid slot",
        libc::EBFONT => "Bad font file format",
        libc::ETIME => "Timer expired",
        libc::ENONET => "Machine is not on the network",
        libc::ENOPKG => "Package not installed",
        libc::EREMOTE => "Object is remote",
        libc::EADV => "Advertise error",
        libc::ESRMNT => "Srmount error",
        libc::ECOMM => "Communication error on send",
        libc::EDOTDOT => "RFS specific error",
        libc::EOVERFLOW => "Value too large for defined data type",
        libc::ENOTUNIQ => "Name not unique on network",
        libc::EREMCHG => "Remote address changed",
        libc::ELIBACC => "Can not access a needed shared library",
        libc::ELIBBAD => "Accessing a corrupted shared library",
        libc::ELIBSCN => ".lib section in a.out corrupted",
        libc::ELIBMAX => "Attempting to link in too many shared libraries",
        libc::ELIBEXEC => "Cannot exec a shared library directly",
        libc::EILSEQ => "Invalid or incomplete multibyte or wide character",
        libc::ERESTART => "Interrupted system call should be restarted",
        libc::ESTRPIPE => "Streams pipe error",
        libc::EUSERS => "Too many users",
        libc::ENOTSOCK => "Socket operation on non-socket",
        libc::EMSGSIZE => "Message too long",
        libc::EOPNOTSUPP => "Operation not supported",
        libc::EADDRINUSE => "Address already in use",
        libc::EADDRNOTAVAIL => "Cannot assign requested address",
        libc::ENETUNREACH => "Network is unreachable",
        libc::ENETRESET => "Network dropped connection on reset",
        libc::ECONNABORTED => "Software caused connection abort",
        libc::EISCONN => "Transport endpoint is already connected",
        libc::ENOTCONN => "Transport endpoint is not connected",
        libc::ESHUTDOWN => "Cannot send after transport endpoint shutdown",
        libc::ETOOMANYREFS => "Too many references: cannot splice",
        libc::ETIMEDOUT => "Connection timed out",
        libc::EHOSTUNREACH => "No route to host",
        libc::EINPROGRESS => "Operation now in progress",
        libc::EUCLEAN => "Structure needs cleaning",
        libc::ENOTNAM => "Not a XENIX named type file",
        libc::ENAVAIL => "No XENIX semaphores available",
        libc::EISNAM => "Is a named type file",
        libc::EDQUOT => "Disk quota exceeded",
        libc::EOWNERDEAD => "Owner died",
        libc::ERFKILL => "Operation not possible due to RF-kill",
        libc::EHWPOISON => "Memory page has hardware error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// musl words these differently; the messages must not depend on the C library.
    #[test]
    fn errno_texts_are_glibcs_whatever_the_c_library() {
        for (errno, text) in [
            (libc::EBUSY, "Device or resource busy"),
            (libc::EOPNOTSUPP, "Operation not supported"),
            (libc::ETIMEDOUT, "Connection timed out"),
            (libc::ENOMEM, "Cannot allocate memory"),
            (libc::ELOOP, "Too many levels of symbolic links"),
            (libc::ENAMETOOLONG, "File name too long"),
            (libc::ENOENT, "No such file or directory"),
            (libc::ENODEV, "No such device"),
        ] {
            assert_eq!(strerror(&io::Error::from_raw_os_error(errno)), text);
        }
    }

    /// Built with glibc, the table must say exactly what glibc says, for every errno it lists
    /// (a typo would make the musl launcher's messages differ from the generator's).
    #[cfg(target_env = "gnu")]
    #[test]
    fn the_table_is_glibcs_own_text() {
        let mut listed = 0;
        for errno in 1..=133 {
            if let Some(text) = glibc_errno_text(errno) {
                let own = io::Error::from_raw_os_error(errno).to_string();
                let own = own.split(" (os error ").next().unwrap();
                assert_eq!(text, own, "errno {errno}");
                listed += 1;
            }
        }
        assert!(listed > 60, "{listed} errnos listed");
    }
}
