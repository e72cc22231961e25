#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs argv[1:] under a seccomp filter that kills the process on mount(2), the new mount API,
# umount2(2) and bpf(2), as a unit's SystemCallFilter=~@mount (action kill) plus a ban on bpf()
# would (x86_64 only). The filter stays across execve, like systemd's. Stdlib only.
import ctypes
import os
import struct
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
# mount, umount2, bpf, open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr
DENIED = [165, 166, 321, 428, 429, 430, 431, 432, 433, 442]
LD_W_ABS = 0x20
JEQ_K = 0x15
RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def filter_program():
    n = len(DENIED)
    prog = [insn(LD_W_ABS, 0, 0, 4)]  # seccomp_data.arch
    prog.append(insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64))
    prog.append(insn(RET_K, 0, 0, RET_KILL_PROCESS))
    prog.append(insn(LD_W_ABS, 0, 0, 0))  # seccomp_data.nr
    for i, nr in enumerate(DENIED):
        # Jump to the kill at the end, past the remaining tests and the allow.
        prog.append(insn(JEQ_K, n - i, 0, nr))
    prog.append(insn(RET_K, 0, 0, RET_ALLOW))
    prog.append(insn(RET_K, 0, 0, RET_KILL_PROCESS))
    return prog


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    code = b"".join(filter_program())
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HxxxxxxQ", len(code) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        sys.exit("prctl(PR_SET_NO_NEW_PRIVS): errno %d" % ctypes.get_errno())
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        sys.exit("prctl(PR_SET_SECCOMP): errno %d" % ctypes.get_errno())
    os.execv(sys.argv[1], sys.argv[1:])


main()
