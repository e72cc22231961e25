#!/usr/bin/python3
# vrfconnect.py IFACE HOST PORT: ssh ProxyCommand that connects with SO_BINDTODEVICE=IFACE
# (IFACE "-" = unbound, i.e. the default VRF) and relays stdin/stdout.
import os, select, socket, sys
iface, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
if iface != "-":
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), iface.encode())
s.settimeout(10)
try:
    s.connect((host, port))
except OSError as e:
    sys.stderr.write("vrfconnect: connect via %s: %s\n" % (iface, e.strerror or e)); sys.exit(255)
s.settimeout(None)
fds = [0, s.fileno()]
while fds:
    r, _, _ = select.select(fds, [], [])
    if 0 in r:
        d = os.read(0, 65536)
        if not d: s.shutdown(socket.SHUT_WR); fds.remove(0)
        else: s.sendall(d)
    if s.fileno() in r:
        d = s.recv(65536)
        if not d: break
        os.write(1, d)
