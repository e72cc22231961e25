#!/usr/bin/python3
# leavecg.py: a service trying to leave its bound cgroup (issue 15). For every cgroup2 mount and
# the name=systemd v1 hierarchy, it writes its own PID into the root's and into its parent
# cgroup's cgroup.procs, and prints one line per attempt ("leave MOUNT/PATH: ok" or the errno
# name); then it prints its cgroup lines and the device a new TCP socket is bound to
# ("after-leave tcp4=DEV", "-" = unbound). Where the enter FIFO exists (legacy hosts) it also
# asks it to move PID 1 and prints PID 1's cgroup2 line a second later ("pid1 0::PATH").
# Output goes to stdout (the journal): a hardened unit may have no writable file system.
import errno, os, socket, sys, time
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
pid = str(os.getpid())

def mounts():
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in opts.split(",")):
                out.append((mnt, fstype))
    return out

def own_path(fstype):
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctrl, path = line.rstrip("\n").split(":", 2)
            if fstype == "cgroup2" and hid == "0" and ctrl == "":
                return path
            if fstype == "cgroup" and ctrl == "name=systemd":
                return path
    return None

def attempt(target):
    try:
        with open(target, "w") as f:
            f.write(pid)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

for mnt, fstype in mounts():
    targets = [mnt.rstrip("/") + "/cgroup.procs"]
    p = own_path(fstype)
    if p and p != "/":
        parent = os.path.dirname(p.rstrip("/"))
        targets.append(mnt.rstrip("/") + (parent if parent != "/" else "") + "/cgroup.procs")
    for t in dict.fromkeys(targets):
        print("leave %s: %s" % (t, attempt(t)))
# Legacy hosts: the enter FIFO is world-writable. Ask it to move PID 1 (no unit, no mirror):
# the enter service must refuse, whoever asks.
FIFO = "/run/bindif-launch/enter"
if os.path.exists(FIFO):
    try:
        fd = os.open(FIFO, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"\n1\n")
        os.close(fd)
        print("fifo: asked to move PID 1")
    except OSError as e:
        print("fifo: %s" % errno.errorcode.get(e.errno, str(e.errno)))
    time.sleep(1)
    with open("/proc/1/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                print("pid1 " + line.rstrip("\n"))
with open("/proc/self/cgroup") as f:
    for line in f:
        print("cgroup " + line.rstrip("\n"))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
dev = s.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, 16).split(b"\0")[0].decode()
print("after-leave tcp4=%s" % (dev or "-"))
sys.stdout.flush()
