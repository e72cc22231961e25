// SPDX-License-Identifier: LGPL-2.1-or-later
//! The rtnetlink reply parser: `parse_reply` on a whole datagram and `parse_link` on a message
//! body. Input: 4 bytes of sequence number (native endian, as the kernel writes it), then the
//! datagram. The datagram alone is also parsed as an RTM_NEWLINK body.
#![no_main]

use bindif::sys::netlink::{parse_link, parse_reply, LinkInfo, Reply};
use libfuzzer_sys::fuzz_target;

fn check_link(l: &LinkInfo) {
    assert!(
        l.index > 0 && l.index <= i32::MAX as u32,
        "ifindex {}",
        l.index
    );
    for n in l.name.iter().chain(&l.altnames) {
        assert!(!n.contains('\0'), "name with NUL: {n:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let (seq, buf) = match data {
        [a, b, c, d, rest @ ..] => (u32::from_ne_bytes([*a, *b, *c, *d]), rest),
        _ => (0, data),
    };
    match parse_reply(buf, seq) {
        Ok(Some(Reply::Link(l))) => check_link(&l),
        Ok(Some(Reply::Error(e))) => assert!(e > 0 && e < 4096, "errno {e}"),
        Ok(Some(Reply::Ack)) | Ok(None) | Err(_) => {}
    }
    // A datagram shorter than a netlink header holds no message.
    if buf.len() < 16 {
        assert_eq!(parse_reply(buf, seq), Ok(None));
    }
    if let Ok(l) = parse_link(buf) {
        check_link(&l);
    }
});
