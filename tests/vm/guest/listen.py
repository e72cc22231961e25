#!/usr/bin/python3
# listen.py ADDR PORT [udp]: a TCP (or UDP) listener that stays up; prints its bound device.
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
udp = len(sys.argv) > 3 and sys.argv[3] == "udp"
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
if not udp: s.listen(16)
dev = s.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), 16).split(b"\0")[0].decode()
print("listening %s:%d %s dev=%s" % (addr, port, "udp" if udp else "tcp", dev or "-"), flush=True)
while True:
    if udp: s.recvfrom(65536)
    else:
        c, _ = s.accept(); c.close()
