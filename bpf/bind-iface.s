; SPDX-License-Identifier: LGPL-2.1-or-later
; bindif_sock: cgroup/sock_create program (BPF_PROG_TYPE_CGROUP_SOCK,
; expected_attach_type BPF_CGROUP_INET_SOCK_CREATE, licence "LGPL-2.1-or-later").
; Encoded by src/bpf.rs bind_iface_program(); bytes shown for IFINDEX = 0x12345678,
; little-endian host. r1 = struct bpf_sock *ctx on entry.
;
; insn  bytes                     assembly
  0     b7 02 00 00 78 56 34 12   r2 = 0x12345678            ; BPF_ALU64|BPF_MOV|BPF_K
  1     63 21 00 00 00 00 00 00   *(u32 *)(r1 + 0) = r2      ; BPF_STX|BPF_MEM|BPF_W, ctx->bound_dev_if
  2     b7 00 00 00 01 00 00 00   r0 = 1                     ; BPF_ALU64|BPF_MOV|BPF_K, allow
  3     95 00 00 00 00 00 00 00   exit                       ; BPF_JMP|BPF_EXIT
;
; As returned by BPF_OBJ_GET_INFO_BY_FD (xlated_prog_insns) on Linux 6.18 x86_64, IFINDEX = 42:
  0     b7 02 00 00 2a 00 00 00   r2 = 42
  1     63 21 14 00 00 00 00 00   *(u32 *)(r1 + 20) = r2     ; struct sock.sk_bound_dev_if
  2     b7 00 00 00 01 00 00 00   r0 = 1
  3     95 00 00 00 00 00 00 00   exit
