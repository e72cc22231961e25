// SPDX-License-Identifier: LGPL-2.1-or-later
//! Files opened below a directory descriptor (`openat(2)`), for the unit model: a generator run
//! reads thousands of unit files from a handful of search directories at every daemon-reload,
//! and opening each by its full path walked every component of the directory again. These are
//! the only system calls the unit model makes beyond `std::fs`.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{cstring, open_fd};

/// Opens the directory `path` to open files below it (`O_PATH`: nothing is read through this
/// descriptor itself, so no read permission is needed and the directory is not opened for
/// reading).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    open_fd(None, &cstring(path)?, libc::O_PATH | libc::O_DIRECTORY)
}

/// Opens `name` below the directory `dir` for reading with `O_NONBLOCK` (a FIFO in place of a
/// unit file must not block): what `File::open` of the full path with that flag does, symlinks
/// followed as there. `name` must be one path component (a name with `/` is refused with
/// `EINVAL`: it would walk further than the caller meant).
pub fn open_read_nonblock_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // A unit file's name fits a stack buffer (systemd allows 255 bytes): no allocation per file.
    let mut buf = [0u8; 256];
    let heap;
    let c: &CStr = if bytes.len() < buf.len() {
        buf[..bytes.len()].copy_from_slice(bytes);
        CStr::from_bytes_until_nul(&buf)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"))?
    } else {
        heap = cstring(name)?;
        &heap
    };
    if c.to_bytes().len() != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "contains a NUL byte",
        ));
    }
    open_fd(Some(dir), c, libc::O_RDONLY | libc::O_NONBLOCK).map(File::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn opens_names_below_a_directory_as_the_full_path_does() {
        let base = std::env::temp_dir().join(format!("bindif-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("sub")).unwrap();
        std::fs::write(base.join("a.service"), "[Unit]\n").unwrap();
        std::os::unix::fs::symlink("a.service", base.join("l.service")).unwrap();
        let long = "x".repeat(255);
        std::fs::write(base.join(&long), "long").unwrap();
        let dir = open_dir(&base).unwrap();
        let read = |n: &str| -> io::Result<String> {
            let mut s = String::new();
            open_read_nonblock_at(dir.as_fd(), OsStr::new(n))?.read_to_string(&mut s)?;
            Ok(s)
        };
        assert_eq!(read("a.service").unwrap(), "[Unit]\n");
        // A symlink is followed, as opening the full path follows it.
        assert_eq!(read("l.service").unwrap(), "[Unit]\n");
        assert_eq!(read(&long).unwrap(), "long");
        let errno = |n: &str| read(n).unwrap_err().raw_os_error();
        assert_eq!(errno("gone.service"), Some(libc::ENOENT));
        assert_eq!(errno("sub/x"), Some(libc::EINVAL));
        assert_eq!(errno(""), Some(libc::EINVAL));
        let nul = open_read_nonblock_at(dir.as_fd(), OsStr::new("a\0b")).unwrap_err();
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            open_dir(&base.join("a.service"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTDIR)
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
