#!/usr/bin/python3
# pinprog.py IFNAME PINPATH: what a pyvrf-style helper unit does. Loads the 4-instruction
# cgroup/sock_create program that sets bound_dev_if to IFNAME's ifindex (bpf/bind-iface.md:
# r2 = IFINDEX; *(u32 *)(r1 + 0) = r2; r0 = 1; exit) with bpf(2) BPF_PROG_LOAD and pins it at
# PINPATH (bpffs, /sys/fs/bpf) with BPF_OBJ_PIN, for BPFProgram=sock_create:PINPATH.
# The program is named "vmtest_pin", not "bindif_sock": it is a foreign program to bindif-launch.
# Needs ctypes (libpython3-stdlib), which python3-minimal lacks.
import ctypes, os, struct, sys

SYS_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_PROG_LOAD, BPF_OBJ_PIN = 5, 6
BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE = 9, 2

ifname, pin = sys.argv[1], sys.argv[2]
with open("/sys/class/net/%s/ifindex" % ifname) as f:
    ifindex = int(f.read())

insns = (
    struct.pack("<BBhi", 0xB7, 0x02, 0, ifindex)  # r2 = ifindex (BPF_ALU64|BPF_MOV|BPF_K)
    + struct.pack("<BBhi", 0x63, 0x21, 0, 0)      # *(u32 *)(r1 + 0) = r2 (bound_dev_if)
    + struct.pack("<BBhi", 0xB7, 0x00, 0, 1)      # r0 = 1 (allow)
    + struct.pack("<BBhi", 0x95, 0x00, 0, 0)      # exit
)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
insn_buf = ctypes.create_string_buffer(insns, len(insns))
license = ctypes.create_string_buffer(b"GPL")
log = ctypes.create_string_buffer(65536)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)  # zero tail: the kernel checks it
    r = libc.syscall(SYS_BPF, cmd, buf, ctypes.c_uint(128))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, "bpf(%d): %s" % (cmd, os.strerror(e)))
    return r


# union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size,
# log_buf, kern_version, prog_flags, prog_name[16], prog_ifindex, expected_attach_type
attr = struct.pack(
    "<IIQQIIQII16sII",
    BPF_PROG_TYPE_CGROUP_SOCK, len(insns) // 8,
    ctypes.addressof(insn_buf), ctypes.addressof(license),
    1, len(log), ctypes.addressof(log),
    0, 0, b"vmtest_pin", 0, BPF_CGROUP_INET_SOCK_CREATE,
)
try:
    fd = bpf(BPF_PROG_LOAD, attr)
except OSError as e:
    sys.exit("pinprog: BPF_PROG_LOAD failed: %s\n%s" % (e, log.value.decode(errors="replace")))
path = ctypes.create_string_buffer(pin.encode())
# BPF_OBJ_PIN: pathname, bpf_fd, file_flags
try:
    bpf(BPF_OBJ_PIN, struct.pack("<QII", ctypes.addressof(path), fd, 0))
except OSError as e:
    sys.exit("pinprog: BPF_OBJ_PIN %s failed: %s" % (pin, e))
print("pinned sock_create program for %s (ifindex %d) at %s" % (ifname, ifindex, pin), flush=True)
