#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs argv[2:] under a seccomp filter that answers clone3(2) as argv[1] says: "enosys" fails it
# with ENOSYS (a kernel before 5.3, or a filter that denies it), "kill" kills the process at it
# (the launcher dying between its mkdir and the command's start). x86_64 only; stdlib only.
import ctypes
import os
import struct
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
CLONE3 = 435
ENOSYS = 38
LD_W_ABS = 0x20
JEQ_K = 0x15
RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def main():
    action = {"enosys": RET_ERRNO | ENOSYS, "kill": RET_KILL_PROCESS}[sys.argv[1]]
    prog = [
        insn(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        insn(RET_K, 0, 0, RET_KILL_PROCESS),
        insn(LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        insn(JEQ_K, 0, 1, CLONE3),
        insn(RET_K, 0, 0, action),
        insn(RET_K, 0, 0, RET_ALLOW),
    ]
    code = b"".join(prog)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HxxxxxxQ", len(code) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        sys.exit("prctl(PR_SET_NO_NEW_PRIVS): errno %d" % ctypes.get_errno())
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        sys.exit("prctl(PR_SET_SECCOMP): errno %d" % ctypes.get_errno())
    os.execv(sys.argv[2], sys.argv[2:])


main()
