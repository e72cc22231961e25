#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Test payload run by the launcher: reports, one `key=value` per line, what the process sees:
# the device its new sockets are bound to (TCP/UDP over IPv4 and IPv6, listening and not, a
# child process's), AF_UNIX, its open descriptors, ids, capabilities, signal mask and
# dispositions, and NOTIFY_SOCKET/LISTEN_FDS. Stdlib only (bookworm's python3-minimal lacks json).
import os
import socket
import sys

SO_BINDTODEVICE = 25


def bound(family, kind, listen=False):
    try:
        s = socket.socket(family, kind)
    except OSError as e:
        return "error:" + e.strerror.replace(" ", "_")
    try:
        if listen:
            s.bind(("127.0.0.1", 0) if family == socket.AF_INET else ("::1", 0))
            s.listen()
        dev = s.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 64).split(b"\0")[0].decode()
        return dev or "-"
    except OSError as e:
        return "error:" + e.strerror.replace(" ", "_")
    finally:
        s.close()


def unix_bound():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        dev = s.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 64).split(b"\0")[0].decode()
        return dev or "-"
    except OSError:
        return "-"
    finally:
        s.close()


def status_fields():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                     "CapAmb", "NoNewPrivs", "SigBlk", "SigIgn", "Seccomp"):
                out[k] = "_".join(v.split()) or "-"
    return out


def main():
    # Listing /proc/self/fd opens a descriptor of its own: take the listing, drop that one.
    fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
    fds = [fd for fd in fds if os.path.exists("/proc/self/fd/%d" % fd)]
    res = {
        "pid": str(os.getpid()),
        "tcp4": bound(socket.AF_INET, socket.SOCK_STREAM),
        "tcp6": bound(socket.AF_INET6, socket.SOCK_STREAM),
        "udp4": bound(socket.AF_INET, socket.SOCK_DGRAM),
        "udp6": bound(socket.AF_INET6, socket.SOCK_DGRAM),
        "listen4": bound(socket.AF_INET, socket.SOCK_STREAM, listen=True),
        "unix": unix_bound(),
        "fds": ",".join(str(fd) for fd in fds),
        "notify_socket": os.environ.get("NOTIFY_SOCKET", "-"),
        "listen_fds": os.environ.get("LISTEN_FDS", "-"),
        "argv": ",".join(sys.argv[1:]) or "-",
    }
    res.update(status_fields())
    if "--child" not in sys.argv:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, bound(socket.AF_INET, socket.SOCK_DGRAM).encode())
            os._exit(0)
        os.close(w)
        res["child_udp4"] = os.read(r, 64).decode()
        os.waitpid(pid, 0)
        os.close(r)
    for k, v in res.items():
        print("%s=%s" % (k, v))
    sys.stdout.flush()


main()
