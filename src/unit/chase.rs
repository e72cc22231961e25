// SPDX-License-Identifier: LGPL-2.1-or-later
//! Resolving and reading paths inside an injected root the way systemd's `chase()` does with
//! `CHASE_PREFIX_ROOT` (src/basic/chase.c): symlinks never lead out of the root.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::paths::under_root;

/// `FOLLOW_MAX` in src/basic/fs-util.h / unit-file.c: hops through aliases and symlinks.
pub(crate) const FOLLOW_MAX: usize = 32;

/// Resolves symlinks in `host` (an absolute host path) inside `root`, never leaving it: absolute
/// link targets restart at the root and `..` stops at it. Missing components are kept as they are
/// (`CHASE_NONEXISTENT`); `follow_last` false leaves a final symlink alone (`CHASE_NOFOLLOW`).
/// `/dev/null` is returned as is without looking at the root (masks).
pub fn chase(root: &Path, host: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut todo, host);
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    let mut missing = false;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        if missing || (todo.is_empty() && !follow_last) || next == Path::new("/dev/null") {
            cur = next;
            continue;
        }
        match std::fs::symlink_metadata(under_root(root, &next)) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > FOLLOW_MAX {
                    return Err(io::Error::from_raw_os_error(libc_eloop()));
                }
                let t = std::fs::read_link(under_root(root, &next))?;
                if t.is_absolute() {
                    cur = PathBuf::from("/");
                }
                push_components(&mut todo, &t);
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = true;
                cur = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

fn libc_eloop() -> i32 {
    40 // ELOOP on Linux
}

/// Pushes `p`'s components onto the stack `todo` so that they pop in order.
fn push_components(todo: &mut Vec<std::ffi::OsString>, p: &Path) {
    let mut v: Vec<std::ffi::OsString> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => v.push(s.to_os_string()),
            Component::ParentDir => v.push("..".into()),
            _ => {}
        }
    }
    todo.extend(v.into_iter().rev());
}

/// Reads a file inside the root, following symlinks inside it; `/dev/null` reads as empty.
pub(crate) fn read_in_root(root: &Path, host: &Path) -> io::Result<Vec<u8>> {
    let real = chase(root, host, true)?;
    if real == Path::new("/dev/null") {
        return Ok(Vec::new());
    }
    read_file(&under_root(root, &real))
}

/// [`read_in_root`], handing the bytes to `f` in a buffer of this thread's that is used again
/// for the next file (see [`read_file_with`]).
pub(crate) fn read_in_root_with<R>(
    root: &Path,
    host: &Path,
    f: impl FnOnce(&[u8]) -> R,
) -> io::Result<R> {
    let real = chase(root, host, true)?;
    if real == Path::new("/dev/null") {
        return Ok(f(&[]));
    }
    read_file_with(&under_root(root, &real), f)
}

/// [`read_file`], handing the bytes to `f` in a buffer of this thread's that is used again for
/// the next file: a generator run reads thousands of unit files and keeps only what parsing
/// them gives, and a fresh 4 KiB buffer for each (a large request to malloc, which then
/// consolidates its free lists) was a measurable part of the run.
pub(crate) fn read_file_with<R>(path: &Path, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
    read_opened_with(|| open_nonblock(path), f)
}

/// [`read_file_with`] for the file `open` opens (with `O_NONBLOCK`, as [`read_file`] does):
/// below a directory descriptor, see `Catalog`.
pub(crate) fn read_opened_with<R>(
    open: impl FnOnce() -> io::Result<std::fs::File>,
    f: impl FnOnce(&[u8]) -> R,
) -> io::Result<R> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            read_regular_into(open()?, &mut buf)?;
            let r = f(&buf);
            // Do not keep a large file's buffer for the rest of the run.
            if buf.capacity() > 64 * 1024 {
                *buf = Vec::new();
            }
            Ok(r)
        }
        // Only if `f` itself reads a file this way: a buffer of its own.
        Err(_) => {
            let mut v = Vec::new();
            read_regular_into(open()?, &mut v)?;
            Ok(f(&v))
        }
    })
}

/// `std::fs::read()`: open, the `fstat()` that checks it is a regular file, one read, close.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(4096);
    read_regular_into(open_nonblock(path)?, &mut v)?;
    Ok(v)
}

/// Opens `path` for reading with `O_NONBLOCK`: a FIFO (or device) in place of a unit file must
/// not block the service's start forever waiting for a writer; anything but a regular file is
/// refused once opened ([`read_regular_into`]).
fn open_nonblock(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Appends the contents of `f`, opened as [`open_nonblock`] opens, to `v` when it is a regular
/// file (see [`read_file`]).
fn read_regular_into(f: std::fs::File, v: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Read;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Not a regular file",
        ));
    }
    // Through `Take`, read_to_end() reads into the vector's spare capacity without asking the
    // file's size again (File's own read_to_end() calls statx() and lseek()). The limit is the
    // size fstat() just gave: the first read(2) returns the whole file, and `Take` then ends
    // the read without a last read(2) that returns nothing; a generator run reads thousands of
    // unit files. The size is trusted: a file that grows between the fstat() and the read is
    // read as it was at the fstat(), the prefix of a file being written in place, which
    // systemd reading to its end at another moment may see as well (editors and packages
    // write by rename). A regular file of size 0 may be a pseudo-file whose size says
    // nothing (procfs): read to its end, from a page-sized start.
    let (limit, start) = match meta.len() {
        0 => (u64::MAX, 4096),
        n => (n, usize::try_from(n).unwrap_or(0).min(1 << 20)),
    };
    let mut f = f.take(limit);
    v.reserve(start);
    f.read_to_end(v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffer is used again: a shorter file after a longer one shows nothing of the
    /// longer one, a file read while `f` holds the buffer gets one of its own, and errors and
    /// refusals are those of [`read_file`].
    #[test]
    fn a_reused_buffer_reads_each_file_whole() {
        let dir = std::env::temp_dir().join(format!("bindif-chase-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let long = dir.join("long.conf");
        let short = dir.join("short.conf");
        let big = dir.join("big.conf");
        std::fs::write(&long, "[Service]\nExecStart=/bin/long\n").unwrap();
        std::fs::write(&short, "[Unit]\n").unwrap();
        std::fs::write(&big, vec![b'x'; 100 * 1024]).unwrap();
        let read = |p: &Path| read_file_with(p, <[u8]>::to_vec).unwrap();
        assert_eq!(read(&long), std::fs::read(&long).unwrap());
        assert_eq!(read(&short), b"[Unit]\n");
        assert_eq!(read(&big).len(), 100 * 1024);
        assert_eq!(read(&short), b"[Unit]\n");
        let nested = read_file_with(&long, |outer| {
            let inner = read_file_with(&short, <[u8]>::to_vec).unwrap();
            (outer.to_vec(), inner)
        })
        .unwrap();
        assert_eq!(nested, (read(&long), b"[Unit]\n".to_vec()));
        let missing = read_file_with(&dir.join("missing.conf"), |_| ()).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let refused = read_file_with(&dir, |_| ()).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        // A regular file whose size says 0 is read to its end (procfs): the size is not a limit.
        let empty = dir.join("empty.conf");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(read(&empty), b"");
        let stat = read(Path::new("/proc/self/stat"));
        assert!(stat.len() > 10 && stat.ends_with(b"\n"), "{stat:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
