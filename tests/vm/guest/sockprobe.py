#!/usr/bin/python3
# sockprobe.py [--child] [--out FILE] [--sleep]
# Creates TCP/UDP x IPv4/IPv6 sockets and an AF_UNIX socket and prints the device each is bound to
# (getsockopt SO_BINDTODEVICE; "-" = unbound). --child repeats it in a forked child.
# --out writes the lines to FILE too; --sleep stays alive afterwards (for services).
import os, socket, sys, time
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)

def probe(tag):
    lines = []
    for name, fam, typ in (("tcp4", socket.AF_INET, socket.SOCK_STREAM),
                           ("udp4", socket.AF_INET, socket.SOCK_DGRAM),
                           ("tcp6", socket.AF_INET6, socket.SOCK_STREAM),
                           ("udp6", socket.AF_INET6, socket.SOCK_DGRAM),
                           ("unix", socket.AF_UNIX, socket.SOCK_STREAM)):
        try:
            s = socket.socket(fam, typ)
            try:
                dev = s.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).split(b"\0")[0].decode()
            except OSError as e:
                dev = "n/a(%s)" % e.strerror if fam == socket.AF_UNIX else "error(%s)" % e.strerror
            s.close()
        except OSError as e:
            dev = "nosocket(%s)" % e.strerror
        lines.append("%s%s=%s" % (tag, name, dev or "-"))
    return lines

args = sys.argv[1:]
out = args[args.index("--out") + 1] if "--out" in args else None
lines = probe("")
if "--child" in args:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, ("\n".join(probe("child:")) + "\n").encode()); os._exit(0)
    os.close(w); os.waitpid(pid, 0)
    lines += os.read(r, 65536).decode().split()
text = "\n".join(lines) + "\n"
sys.stdout.write(text); sys.stdout.flush()
if out:
    with open(out + ".tmp", "w") as f: f.write(text)
    os.rename(out + ".tmp", out)
if "--sleep" in args:
    while True: time.sleep(3600)
