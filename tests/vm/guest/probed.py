#!/usr/bin/python3
# probed.py OUT [PERIOD]: a daemon that creates new sockets all the time. Every PERIOD seconds
# (default 0.2) it creates a TCP/IPv4
# and a UDP/IPv6 socket, reads the device each is bound to (getsockopt SO_BINDTODEVICE: "-" when
# unbound, "error(ENODEV)" when the kernel cannot name it, e.g. a stale ifindex) and writes
# "SEQ tcp4=DEV udp6=DEV" to OUT (atomically; no field holds a space). What a running unit's *new*
# sockets get, at any moment, without restarting it.
import errno, os, socket, sys, time
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
out = sys.argv[1]
period = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2

def dev(fam, typ):
    try:
        s = socket.socket(fam, typ)
    except OSError as e:
        return "nosocket(%s)" % errno.errorcode.get(e.errno, e.errno)
    try:
        return s.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).split(b"\0")[0].decode() or "-"
    except OSError as e:
        return "error(%s)" % errno.errorcode.get(e.errno, e.errno)
    finally:
        s.close()

seq = 0
while True:
    seq += 1
    line = "%d tcp4=%s udp6=%s\n" % (seq, dev(socket.AF_INET, socket.SOCK_STREAM),
                                     dev(socket.AF_INET6, socket.SOCK_DGRAM))
    with open(out + ".tmp", "w") as f:
        f.write(line)
    os.rename(out + ".tmp", out)
    time.sleep(period)
