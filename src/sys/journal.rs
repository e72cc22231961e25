// SPDX-License-Identifier: LGPL-2.1-or-later
//! journald's native protocol: one datagram per entry on `/run/systemd/journal/socket`.
//!
//! For code that runs where its stderr reaches no journal: `--follow` runs from a udev rule,
//! and udevd logs its programs' output at debug level only. The entry can name the unit it is
//! about (`OBJECT_SYSTEMD_UNIT=`), which `journalctl -u UNIT` shows for entries from root.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// journald's socket for the native protocol.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// Encodes one entry: each field `NAME=value\n`, or, for a value holding a newline, `NAME\n`,
/// its length as 64-bit little endian, the value and `\n` (the protocol's binary form).
pub fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Whether the journal's socket exists (a host whose journald runs).
pub fn available() -> bool {
    Path::new(SOCKET).exists()
}

/// Sends one entry.
pub fn send(fields: &[(&str, &str)]) -> io::Result<()> {
    let s = UnixDatagram::unbound()?;
    s.send_to(&encode(fields), SOCKET).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_plain_and_binary() {
        assert_eq!(
            encode(&[("PRIORITY", "4"), ("MESSAGE", "a b")]),
            b"PRIORITY=4\nMESSAGE=a b\n"
        );
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"a\nb\n");
        assert_eq!(encode(&[("MESSAGE", "a\nb")]), want);
    }
}
