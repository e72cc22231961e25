// SPDX-License-Identifier: LGPL-2.1-or-later
//! Socket inventory over `NETLINK_SOCK_DIAG` (`SOCK_DIAG_BY_FAMILY` dumps, the interface `ss`
//! uses): every AF_INET/AF_INET6 TCP and UDP socket of the calling thread's network namespace
//! with its inode and the device it is bound to (`idiag_if` is `sk_bound_dev_if`).
//!
//! Request building and reply parsing are pure functions over byte buffers, unit-tested on
//! hand-built and captured replies; only [`SockDiag`] touches a socket, and one socket serves
//! every dump.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};

use super::netlink::{
    error_code, messages, u32_at, ParseError, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_REQUEST,
};

const NLM_F_DUMP: u16 = libc::NLM_F_DUMP as u16;
/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h; not in libc).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// `sizeof(struct inet_diag_msg)`.
const MSG_LEN: usize = 72;

/// Transport protocol of a dumped socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn ipproto(self) -> u8 {
        match self {
            Proto::Tcp => libc::IPPROTO_TCP as u8,
            Proto::Udp => libc::IPPROTO_UDP as u8,
        }
    }
}

/// One socket from a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InetSocket {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    pub proto: Proto,
    /// TCP state (`TCP_LISTEN` = 10, …); UDP sockets report 7 (`TCP_CLOSE`) or 1 when connected.
    pub state: u8,
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    /// `idiag_if`: the device the socket is bound to, 0 when unbound.
    pub bound_ifindex: u32,
    pub inode: u64,
    pub uid: u32,
}

impl InetSocket {
    /// `tcp`, `tcp6`, `udp`, `udp6`, as `ss` and `netstat` name them.
    pub fn proto_name(&self) -> &'static str {
        match (self.proto, self.family as i32) {
            (Proto::Tcp, libc::AF_INET6) => "tcp6",
            (Proto::Tcp, _) => "tcp",
            (Proto::Udp, libc::AF_INET6) => "udp6",
            (Proto::Udp, _) => "udp",
        }
    }

    /// `ADDR:PORT`, with brackets around IPv6 addresses.
    pub fn local_string(&self) -> String {
        match self.local {
            IpAddr::V6(a) => format!("[{a}]:{}", self.local_port),
            IpAddr::V4(a) => format!("{a}:{}", self.local_port),
        }
    }

    /// `LISTEN` for listening TCP sockets, else the TCP state name (`ESTAB`, …); UDP: `UNCONN`
    /// or `ESTAB` as `ss` says.
    pub fn state_name(&self) -> &'static str {
        match (self.proto, self.state) {
            (Proto::Udp, 1) => "ESTAB",
            (Proto::Udp, _) => "UNCONN",
            (_, 1) => "ESTAB",
            (_, 2) => "SYN-SENT",
            (_, 3) => "SYN-RECV",
            (_, 4) => "FIN-WAIT-1",
            (_, 5) => "FIN-WAIT-2",
            (_, 6) => "TIME-WAIT",
            (_, 7) => "CLOSE",
            (_, 8) => "CLOSE-WAIT",
            (_, 9) => "LAST-ACK",
            (_, 10) => "LISTEN",
            (_, 11) => "CLOSING",
            _ => "UNKNOWN",
        }
    }
}

/// Builds a `SOCK_DIAG_BY_FAMILY` dump request (`struct inet_diag_req_v2`, all states).
pub fn build_request(seq: u32, family: u8, proto: Proto) -> Vec<u8> {
    let mut buf = vec![0u8; NLMSG_HDRLEN + REQ_LEN];
    super::netlink::fill_header(
        &mut buf,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    );
    let req = &mut buf[NLMSG_HDRLEN..];
    req[0] = family; // sdiag_family
    req[1] = proto.ipproto(); // sdiag_protocol
    req[2] = 0; // idiag_ext: no extensions, the base message has all we need
    req[4..8].copy_from_slice(&u32::MAX.to_ne_bytes()); // idiag_states: all
    buf
}

/// Parses one `struct inet_diag_msg` (ports and addresses in network byte order, the rest in
/// host order).
pub fn parse_msg(body: &[u8], proto: Proto) -> Result<InetSocket, ParseError> {
    if body.len() < MSG_LEN {
        return Err(ParseError("inet_diag_msg shorter than its fixed part"));
    }
    let family = body[0];
    let addr = |off: usize| -> Result<IpAddr, ParseError> {
        let b = &body[off..off + 16];
        match family as i32 {
            libc::AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            libc::AF_INET6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Ok(IpAddr::V6(Ipv6Addr::from(a)))
            }
            _ => Err(ParseError("inet_diag_msg of an unknown family")),
        }
    };
    // inet_diag_sockid at offset 4: sport, dport (be16), src[4], dst[4] (be32), if, cookie[2].
    Ok(InetSocket {
        family,
        proto,
        state: body[1],
        local_port: u16::from_be_bytes([body[4], body[5]]),
        remote_port: u16::from_be_bytes([body[6], body[7]]),
        local: addr(8)?,
        remote: addr(24)?,
        bound_ifindex: u32_at(body, 40),
        // expires, rqueue, wqueue at 52..64, then uid and inode.
        uid: u32_at(body, 64),
        inode: u64::from(u32_at(body, 68)),
    })
}

/// What one received datagram of a dump holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpPart {
    pub sockets: Vec<InetSocket>,
    /// `NLMSG_DONE` was seen: the dump is complete.
    pub done: bool,
    /// `NLMSG_ERROR` with this positive errno ended the dump.
    pub error: Option<i32>,
}

/// Parses one datagram of the dump answering request `seq`; messages with other sequence
/// numbers are skipped.
pub fn parse_dump(buf: &[u8], seq: u32, proto: Proto) -> Result<DumpPart, ParseError> {
    let mut out = DumpPart::default();
    for msg in messages(buf) {
        let (ty, msg_seq, body) = msg?;
        if msg_seq != seq {
            continue;
        }
        match ty {
            NLMSG_DONE => {
                out.done = true;
                return Ok(out);
            }
            NLMSG_ERROR => {
                // An acknowledgement (error 0) does not end the dump.
                if let Some(errno) = error_code(body)? {
                    out.error = Some(errno);
                    out.done = true;
                    return Ok(out);
                }
            }
            SOCK_DIAG_BY_FAMILY => out.sockets.push(parse_msg(body, proto)?),
            _ => {}
        }
    }
    Ok(out)
}

/// A `NETLINK_SOCK_DIAG` socket, reused for every dump.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
}

/// Sockets of one dump, or why there are none.
#[derive(Debug)]
pub struct Dump {
    pub family: u8,
    pub proto: Proto,
    pub result: io::Result<Vec<InetSocket>>,
}

impl SockDiag {
    pub fn open() -> io::Result<SockDiag> {
        Ok(SockDiag {
            fd: super::netlink::open_socket(libc::NETLINK_SOCK_DIAG)?,
            seq: 0,
        })
    }

    /// Dumps every socket of `family` × `proto`. ENOENT means the kernel has no diag module
    /// for the protocol (`udp_diag` not loaded or built).
    pub fn dump(&mut self, family: u8, proto: Proto) -> io::Result<Vec<InetSocket>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        super::netlink::send_to_kernel(self.fd.as_fd(), &build_request(seq, family, proto))?;
        // Dump parts are at most a page or two (the kernel sizes them from our buffer up to
        // 32 KiB); 64 KiB always holds one whole.
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        loop {
            let n = super::netlink::recv(self.fd.as_fd(), &mut buf, 0)?;
            let part = parse_dump(&buf[..n], seq, proto)?;
            out.extend(part.sockets);
            if let Some(e) = part.error {
                return Err(io::Error::from_raw_os_error(e));
            }
            if part.done {
                return Ok(out);
            }
        }
    }

    /// The four dumps `status --sockets` needs: AF_INET/AF_INET6 × TCP/UDP.
    pub fn dump_inet(&mut self) -> Vec<Dump> {
        let mut out = Vec::with_capacity(4);
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            for proto in [Proto::Tcp, Proto::Udp] {
                out.push(Dump {
                    family,
                    proto,
                    result: self.dump(family, proto),
                });
            }
        }
        out
    }
}

/// Inode of a `/proc/PID/fd/N` link target such as `socket:[12345]`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::netlink::{test_message, u16_at};

    fn nlmsg(ty: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        test_message(ty, libc::NLM_F_MULTI as u16, seq, body)
    }

    #[test]
    fn dump_flags_are_the_uapis() {
        // NLM_F_ROOT | NLM_F_MATCH; NETLINK_SOCK_DIAG is the old NETLINK_INET_DIAG.
        assert_eq!(NLM_F_DUMP, 0x300);
        assert_eq!(libc::NETLINK_SOCK_DIAG, 4);
    }

    #[allow(clippy::too_many_arguments)]
    fn diag_body(
        family: u8,
        state: u8,
        sport: u16,
        src: &[u8],
        ifindex: u32,
        uid: u32,
        inode: u32,
    ) -> Vec<u8> {
        let mut b = vec![family, state, 0, 0];
        b.extend_from_slice(&sport.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        let mut a = [0u8; 16];
        a[..src.len()].copy_from_slice(src);
        b.extend_from_slice(&a);
        b.extend_from_slice(&[0u8; 16]);
        b.extend_from_slice(&ifindex.to_ne_bytes());
        b.extend_from_slice(&[0xaa; 8]); // cookie
        b.extend_from_slice(&[0u8; 12]); // expires, rqueue, wqueue
        b.extend_from_slice(&uid.to_ne_bytes());
        b.extend_from_slice(&inode.to_ne_bytes());
        assert_eq!(b.len(), MSG_LEN);
        b
    }

    #[test]
    fn request_layout() {
        let r = build_request(9, libc::AF_INET6 as u8, Proto::Udp);
        assert_eq!(r.len(), 72);
        assert_eq!(u32_at(&r, 0), 72);
        assert_eq!(u16_at(&r, 4), SOCK_DIAG_BY_FAMILY);
        assert_eq!(u16_at(&r, 6), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(u32_at(&r, 8), 9);
        assert_eq!(r[16], libc::AF_INET6 as u8);
        assert_eq!(r[17], libc::IPPROTO_UDP as u8);
        assert_eq!(u32_at(&r, 20), u32::MAX);
        assert!(r[24..].iter().all(|&b| b == 0));
    }

    #[test]
    fn parses_v4_and_v6_sockets_and_done() {
        let mut buf = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            3,
            &diag_body(libc::AF_INET as u8, 10, 22, &[10, 0, 0, 1], 4, 0, 1234),
        );
        let v6 = Ipv6Addr::LOCALHOST.octets();
        buf.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            3,
            &diag_body(libc::AF_INET6 as u8, 7, 53, &v6, 0, 998, 99),
        ));
        let part = parse_dump(&buf, 3, Proto::Tcp).unwrap();
        assert!(!part.done);
        assert_eq!(part.sockets.len(), 2);
        let s = &part.sockets[0];
        assert_eq!(s.local, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((s.local_port, s.bound_ifindex, s.inode), (22, 4, 1234));
        assert_eq!(s.proto_name(), "tcp");
        assert_eq!(s.state_name(), "LISTEN");
        assert_eq!(s.local_string(), "10.0.0.1:22");
        let s = &part.sockets[1];
        assert_eq!(s.local_string(), "[::1]:53");
        assert_eq!((s.bound_ifindex, s.uid, s.inode), (0, 998, 99));
        assert_eq!(s.proto_name(), "tcp6");
        let done = nlmsg(NLMSG_DONE, 3, &0i32.to_ne_bytes());
        let part = parse_dump(&done, 3, Proto::Tcp).unwrap();
        assert!(part.done && part.sockets.is_empty() && part.error.is_none());
    }

    #[test]
    fn errors_and_foreign_sequences() {
        let mut body = (-libc::ENOENT).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0u8; 16]);
        let part = parse_dump(&nlmsg(NLMSG_ERROR, 5, &body), 5, Proto::Udp).unwrap();
        assert_eq!((part.done, part.error), (true, Some(libc::ENOENT)));
        // Another request's messages are skipped.
        let other = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            4,
            &diag_body(libc::AF_INET as u8, 7, 1, &[1, 2, 3, 4], 0, 0, 1),
        );
        assert_eq!(
            parse_dump(&other, 5, Proto::Udp).unwrap(),
            DumpPart::default()
        );
        let bad = nlmsg(NLMSG_ERROR, 5, &7i32.to_ne_bytes());
        assert!(parse_dump(&bad, 5, Proto::Udp).is_err());
    }

    #[test]
    fn rejects_malformed_and_never_panics() {
        let msg = nlmsg(
            SOCK_DIAG_BY_FAMILY,
            1,
            &diag_body(libc::AF_INET6 as u8, 10, 80, &[0xfe, 0x80], 3, 0, 42),
        );
        // A message too short for inet_diag_msg.
        assert!(parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &[2u8; 40]), 1, Proto::Tcp).is_err());
        // An unknown family.
        let mut body = diag_body(1, 10, 80, &[], 0, 0, 1);
        body[0] = 1;
        assert!(parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &body), 1, Proto::Tcp).is_err());
        for n in 0..msg.len() {
            let _ = parse_dump(&msg[..n], 1, Proto::Tcp);
            let mut c = msg.clone();
            c[n] ^= 0xff;
            let _ = parse_dump(&c, 1, Proto::Tcp);
        }
    }

    /// Captured from Linux 6.18 (`SOCK_DIAG_BY_FAMILY`, AF_INET, TCP, with python3): one
    /// listening socket on 127.0.0.1:41234 bound to `lo` (ifindex 1) with `SO_BINDTODEVICE`,
    /// inode 0x691e2, followed by the attributes the kernel always appends (skipped).
    #[test]
    fn parses_captured_reply() {
        #[rustfmt::skip]
        let captured: &[u8] = &[
            0x7c, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe7, 0x0b, 0x00, 0x00,
            0x02, 0x0a, 0x00, 0x00, 0xa1, 0x12, 0x00, 0x00, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x10, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0xe2, 0x91, 0x06, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x08, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x15, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x16, 0x00, 0x52, 0x00, 0x00, 0x00,
        ];
        let part = parse_dump(captured, 1, Proto::Tcp).unwrap();
        assert_eq!(part.sockets.len(), 1);
        let s = &part.sockets[0];
        assert_eq!(s.local_string(), "127.0.0.1:41234");
        assert_eq!(s.state_name(), "LISTEN");
        assert_eq!((s.bound_ifindex, s.inode, s.uid), (1, 0x691e2, 0));
    }

    #[test]
    fn socket_link_targets() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }
}
