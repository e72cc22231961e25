#!/usr/bin/python3
# probed.py OUT: a daemon that creates new sockets all the time. Every 0.2 s it creates a TCP/IPv4
# and a UDP/IPv6 socket, reads the device each is bound to (getsockopt SO_BINDTODEVICE: "-" when
# unbound, "error(No such device)" for a stale ifindex) and writes "tcp4=DEV udp6=DEV SEQ" to OUT
# (atomically). What a running unit's *new* sockets get, at any moment, without restarting it.
import os, socket, sys, time
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
out = sys.argv[1]

def dev(fam, typ):
    try:
        s = socket.socket(fam, typ)
    except OSError as e:
        return "nosocket(%s)" % e.strerror
    try:
        return s.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).split(b"\0")[0].decode() or "-"
    except OSError as e:
        return "error(%s)" % e.strerror
    finally:
        s.close()

seq = 0
while True:
    seq += 1
    line = "tcp4=%s udp6=%s %d\n" % (dev(socket.AF_INET, socket.SOCK_STREAM),
                                     dev(socket.AF_INET6, socket.SOCK_DGRAM), seq)
    with open(out + ".tmp", "w") as f:
        f.write(line)
    os.rename(out + ".tmp", out)
    time.sleep(0.2)
