// SPDX-License-Identifier: LGPL-2.1-or-later
//! The cgroup/sock_create program, encoded as raw eBPF instructions (pure; see bpf/).
//!
//! The program is four instructions:
//!
//! ```text
//! r2 = IFINDEX                  ; BPF_ALU64 | BPF_MOV | BPF_K
//! *(u32 *)(r1 + 0) = r2         ; BPF_STX | BPF_MEM | BPF_W   (bpf_sock.bound_dev_if)
//! r0 = 1                        ; BPF_ALU64 | BPF_MOV | BPF_K  (allow the socket)
//! exit                          ; BPF_JMP | BPF_EXIT
//! ```
//!
//! The value goes through a register because a store-immediate into the context (`BPF_ST_MEM`)
//! is only accepted from Linux 6.4; the register form loads on every kernel since 4.10. No
//! `.rodata`, no maps, no helpers: nothing that needs a newer kernel or a GPL licence.

/// Name we give the program of the explicit ad hoc form (`bindif-launch --interface X -- CMD`;
/// `prog_name`, at most 15 bytes plus NUL). Status and the removal of earlier copies recognise
/// our programs by name *and* by their shape, so a foreign program that happens to look like
/// ours is never touched.
pub const PROG_NAME: &str = "bindif_sock";

/// Name we give the program that `BindNetworkInterface=` asked for (unit and attach modes, the
/// slice helper, daemon-reload re-resolution). The two names let a daemon-reload tell a binding
/// the unit's configuration made, which it must follow or remove, from one an explicit
/// `ExecStart=bindif-launch --interface …` made, which no configuration of the unit describes
/// and which a reload must leave alone.
pub const UNIT_PROG_NAME: &str = "bindif_unit";

/// Why one of our programs is attached: which of the two names above it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `BindNetworkInterface=` in the unit's (or slice's) configuration.
    Key,
    /// The explicit ad hoc form.
    Explicit,
}

impl Origin {
    pub fn prog_name(self) -> &'static str {
        match self {
            Origin::Key => UNIT_PROG_NAME,
            Origin::Explicit => PROG_NAME,
        }
    }

    /// The origin a program name stands for, `None` for a name that is not ours.
    pub fn of_name(name: &str) -> Option<Origin> {
        match name {
            UNIT_PROG_NAME => Some(Origin::Key),
            PROG_NAME => Some(Origin::Explicit),
            _ => None,
        }
    }
}

/// Name of the program systemd v260 attaches natively for `BindNetworkInterface=`.
///
/// v260's `src/core/bpf/bind-iface/bind-iface.bpf.c` defines `sd_bind_interface()`; libbpf
/// passes the function name as `prog_name`, truncated to the kernel's 15 usable bytes.
pub const V260_PROG_NAME: &str = "sd_bind_interfa";

/// Licence string handed to the kernel. The program calls no helper, so a non-GPL licence is
/// accepted; we use the project's own licence (as systemd does for its program).
pub const LICENSE: &str = "LGPL-2.1-or-later";

/// `offsetof(struct bpf_sock, bound_dev_if)`: the first member of the uapi struct.
pub const BPF_SOCK_BOUND_DEV_IF_OFF: i16 = 0;

// Instruction classes, sizes, modes and operations from uapi `linux/bpf_common.h`/`linux/bpf.h`.
pub const BPF_JMP: u8 = 0x05;
pub const BPF_STX: u8 = 0x03;
pub const BPF_ALU: u8 = 0x04;
pub const BPF_ALU64: u8 = 0x07;
pub const BPF_W: u8 = 0x00;
pub const BPF_MEM: u8 = 0x60;
pub const BPF_K: u8 = 0x00;
pub const BPF_MOV: u8 = 0xb0;
pub const BPF_EXIT: u8 = 0x90;

/// One eBPF instruction (`struct bpf_insn`), kept in host-independent fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// Destination register (low nibble of the register byte).
    pub dst: u8,
    /// Source register (high nibble of the register byte).
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads: code, regs (`src << 4 | dst` on little-endian hosts,
    /// `dst << 4 | src` on big-endian ones, following the bitfield order of `struct bpf_insn`),
    /// then `off` and `imm` in host byte order.
    pub fn encode(&self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.src << 4) | (self.dst & 0x0f)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }

    /// Inverse of [`Insn::encode`] for one 8-byte slot.
    pub fn decode(b: &[u8; 8]) -> Insn {
        let (dst, src) = if cfg!(target_endian = "little") {
            (b[1] & 0x0f, b[1] >> 4)
        } else {
            (b[1] >> 4, b[1] & 0x0f)
        };
        Insn {
            code: b[0],
            dst,
            src,
            off: i16::from_ne_bytes([b[2], b[3]]),
            imm: i32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// `dst = imm` on the full 64-bit register.
    pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
        Insn {
            code: BPF_ALU64 | BPF_MOV | BPF_K,
            dst,
            src: 0,
            off: 0,
            imm,
        }
    }

    /// `*(u32 *)(dst + off) = src`.
    pub const fn stx_mem_w(dst: u8, src: u8, off: i16) -> Insn {
        Insn {
            code: BPF_STX | BPF_MEM | BPF_W,
            dst,
            src,
            off,
            imm: 0,
        }
    }

    pub const fn exit() -> Insn {
        Insn {
            code: BPF_JMP | BPF_EXIT,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        }
    }
}

/// The program that binds every new AF_INET/AF_INET6 socket to `ifindex`.
pub fn bind_iface_program(ifindex: u32) -> Vec<Insn> {
    vec![
        // The imm field is a signed 32-bit slot; ifindex values are positive ints in the kernel,
        // so the bit pattern is carried unchanged.
        Insn::mov64_imm(2, ifindex as i32),
        Insn::stx_mem_w(1, 2, BPF_SOCK_BOUND_DEV_IF_OFF),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ]
}

/// The program as the byte string passed in `bpf_attr.insns`.
pub fn encode_program(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.encode()).collect()
}

/// Recognises our program in its original or kernel-translated ("xlated") form and returns the
/// interface index it binds to.
///
/// The kernel rewrites the context store into a store to `struct sock`'s `sk_bound_dev_if`, whose
/// offset depends on the kernel version and configuration (20 on Linux 6.18 x86_64), so the store's offset is not
/// compared; everything else is. `r0 = 1` is also accepted as a 32-bit move in case a kernel or
/// another loader narrows it.
pub fn ifindex_of_program(xlated_or_orig: &[u8]) -> Option<u32> {
    if xlated_or_orig.len() != 4 * 8 {
        return None;
    }
    let insn = |n: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&xlated_or_orig[n * 8..n * 8 + 8]);
        Insn::decode(&b)
    };
    let (mov, store, ret, exit) = (insn(0), insn(1), insn(2), insn(3));
    let is_mov_imm = |i: Insn, dst: u8| {
        (i.code == BPF_ALU64 | BPF_MOV | BPF_K || i.code == BPF_ALU | BPF_MOV | BPF_K)
            && i.dst == dst
            && i.src == 0
            && i.off == 0
    };
    let ok = mov.code == BPF_ALU64 | BPF_MOV | BPF_K
        && mov.dst == 2
        && mov.src == 0
        && mov.off == 0
        && mov.imm > 0
        && store.code == BPF_STX | BPF_MEM | BPF_W
        && store.dst == 1
        && store.src == 2
        && store.off >= 0
        && store.imm == 0
        && is_mov_imm(ret, 0)
        && ret.imm == 1
        && exit == Insn::exit();
    ok.then_some(mov.imm as u32)
}

/// What a foreign `sock_create` program does to a socket's `bound_dev_if`, as far as a plain
/// reading of its instructions shows (see [`effect_of_program`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Stores this constant (0 unbinds the socket) and allows the socket.
    Sets(u32),
    /// Stores the `u32` at `offset` in the value of array map `map_id` (the `.rodata` of a
    /// libbpf object, how systemd's native program carries its ifindex).
    FromMap { map_id: u32, offset: u32 },
    /// Allows the socket and never touches `bound_dev_if`.
    Leaves,
    /// Anything else: branches, calls, stores we cannot place, a refusal.
    Unknown,
}

/// `BPF_LD | BPF_IMM | BPF_DW`, the two-slot 64-bit immediate load.
const LD_IMM64: u8 = 0x18;
/// `BPF_PSEUDO_MAP_VALUE`: in the kernel's dump of an `LD_IMM64`, `imm` is a map id and the
/// next slot's `imm` an offset into its value.
const PSEUDO_MAP_VALUE: u8 = 2;
/// Offsets a store of `bpf_sock.bound_dev_if` shows: 0 in the loaded form, and in the
/// kernel's translation the offset of `sk_bound_dev_if`, which sits in `struct sock_common`
/// at 20 on every architecture (after the address pair, hash, port pair, family, state and
/// flag bytes). `mark` and `priority` translate to offsets far past `sock_common`, so a
/// store elsewhere is one of those, or a layout we do not know: never read as a binding.
const BOUND_DEV_IF_OFFSETS: [i16; 2] = [0, 20];

/// A register's content while reading a straight-line program.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reg {
    Unknown,
    Ctx,
    Const(i64),
    /// A pointer into a map value: map id, offset.
    MapPtr(u32, i64),
    /// A `u32` loaded from a map value.
    MapU32(u32, i64),
}

/// Reads a foreign `sock_create` program (original or translated form) the way the kernel
/// would run it, as long as it runs straight through: register moves, constant and map-value
/// loads, stores into the context, and `exit`. The last store into `bound_dev_if` is its
/// effect. Ours, iproute2's (`ip vrf exec`) and systemd's native program all read this way;
/// a program with a branch, a call or a store we cannot place is [`Effect::Unknown`].
pub fn effect_of_program(insns: &[u8]) -> Effect {
    if insns.is_empty() || insns.len() % 8 != 0 {
        return Effect::Unknown;
    }
    let slot = |n: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&insns[n * 8..n * 8 + 8]);
        Insn::decode(&b)
    };
    let count = insns.len() / 8;
    let mut regs = [Reg::Unknown; 11];
    regs[1] = Reg::Ctx;
    let mut effect = Effect::Leaves;
    let mut n = 0;
    while n < count {
        let i = slot(n);
        n += 1;
        let (dst, src) = (i.dst as usize, i.src as usize);
        if dst > 10 || src > 10 {
            return Effect::Unknown;
        }
        match i.code {
            c if c == BPF_ALU64 | BPF_MOV | BPF_K => regs[dst] = Reg::Const(i64::from(i.imm)),
            c if c == BPF_ALU | BPF_MOV | BPF_K => regs[dst] = Reg::Const(i64::from(i.imm as u32)),
            // BPF_ALU64 | BPF_MOV | BPF_X
            0xbf if i.off == 0 => regs[dst] = regs[src],
            LD_IMM64 => {
                if n >= count {
                    return Effect::Unknown;
                }
                let next = slot(n);
                n += 1;
                regs[dst] = if i.src == PSEUDO_MAP_VALUE {
                    Reg::MapPtr(i.imm as u32, i64::from(next.imm as u32))
                } else {
                    Reg::Const((i64::from(next.imm) << 32) | i64::from(i.imm as u32))
                };
            }
            // BPF_LDX | BPF_MEM | BPF_W
            0x61 => {
                regs[dst] = match regs[src] {
                    Reg::MapPtr(map, off) => Reg::MapU32(map, off + i64::from(i.off)),
                    _ => Reg::Unknown,
                }
            }
            c if c == BPF_STX | BPF_MEM | BPF_W || c == 0x62 => {
                // 0x62: BPF_ST | BPF_MEM | BPF_W, the store-immediate form.
                let value = if c == 0x62 {
                    Reg::Const(i64::from(i.imm))
                } else {
                    regs[src]
                };
                match regs[dst] {
                    Reg::Ctx if BOUND_DEV_IF_OFFSETS.contains(&i.off) => {
                        effect = match value {
                            Reg::Const(v) => Effect::Sets(v as u32),
                            Reg::MapU32(map_id, off) => match u32::try_from(off) {
                                Ok(offset) => Effect::FromMap { map_id, offset },
                                Err(_) => return Effect::Unknown,
                            },
                            _ => return Effect::Unknown,
                        }
                    }
                    Reg::Ctx => return Effect::Unknown,
                    // The stack (r10) and nothing else the verifier lets a store reach here.
                    _ if dst == 10 => {}
                    _ => return Effect::Unknown,
                }
            }
            c if c == BPF_JMP | BPF_EXIT => {
                return match regs[0] {
                    Reg::Const(1) => effect,
                    _ => Effect::Unknown,
                };
            }
            _ => return Effect::Unknown,
        }
    }
    Effect::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn exact_bytes_little_endian() {
        let prog = encode_program(&bind_iface_program(0x1234_5678));
        let expected: [u8; 32] = [
            0xb7, 0x02, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, // r2 = 0x12345678
            0x63, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // *(u32 *)(r1 + 0) = r2
            0xb7, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // r0 = 1
            0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // exit
        ];
        assert_eq!(prog, expected);
    }

    #[test]
    fn never_uses_store_immediate() {
        // BPF_ST (class 0x02) into the context needs Linux 6.4.
        for insn in bind_iface_program(7) {
            assert_ne!(insn.code & 0x07, 0x02, "{insn:?}");
        }
    }

    #[test]
    fn small_ifindex_bytes() {
        let prog = encode_program(&bind_iface_program(3));
        assert_eq!(&prog[0..8], &[0xb7, 0x02, 0, 0, 3, 0, 0, 0]);
    }

    #[test]
    fn decode_roundtrip() {
        for insn in bind_iface_program(42) {
            assert_eq!(Insn::decode(&insn.encode()), insn);
        }
    }

    #[test]
    fn recognises_original() {
        let prog = encode_program(&bind_iface_program(42));
        assert_eq!(ifindex_of_program(&prog), Some(42));
    }

    #[test]
    fn recognises_xlated_with_sock_offset() {
        // What Linux 6.18 returns (captured by tests/engine_privileged.rs): the context store
        // becomes a store into struct sock's sk_bound_dev_if at offset 20.
        let mut insns = bind_iface_program(9);
        insns[1].off = 20;
        assert_eq!(ifindex_of_program(&encode_program(&insns)), Some(9));
    }

    #[test]
    fn rejects_other_programs() {
        assert_eq!(ifindex_of_program(&[]), None);
        let ret_only = encode_program(&[Insn::mov64_imm(0, 1), Insn::exit()]);
        assert_eq!(ifindex_of_program(&ret_only), None);
        // Returns 0 (deny) instead of 1.
        let mut deny = bind_iface_program(5);
        deny[2].imm = 0;
        assert_eq!(ifindex_of_program(&encode_program(&deny)), None);
        // Stores into a different register pair.
        let mut other = bind_iface_program(5);
        other[1].src = 3;
        assert_eq!(ifindex_of_program(&encode_program(&other)), None);
        // Truncated / extended.
        let prog = encode_program(&bind_iface_program(5));
        assert_eq!(ifindex_of_program(&prog[..24]), None);
        let mut longer = prog.clone();
        longer.extend_from_slice(&Insn::exit().encode());
        assert_eq!(ifindex_of_program(&longer), None);
        // ifindex 0 would unbind: not something we ever load.
        assert_eq!(
            ifindex_of_program(&encode_program(&bind_iface_program(0))),
            None
        );
    }

    #[test]
    fn names_fit_the_kernel() {
        assert_eq!(V260_PROG_NAME.len(), 15);
        for name in [PROG_NAME, UNIT_PROG_NAME] {
            assert!(name.len() <= 15);
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'));
        }
        for origin in [Origin::Key, Origin::Explicit] {
            assert_eq!(Origin::of_name(origin.prog_name()), Some(origin));
        }
        assert_eq!(Origin::of_name(V260_PROG_NAME), None);
    }

    /// iproute2's `ip vrf exec` program (ip/ipvrf.c `prog_load`), as loaded and translated.
    fn iproute2_program(ifindex: i32, store_off: i16) -> Vec<Insn> {
        vec![
            Insn {
                code: 0xbf,
                dst: 6,
                src: 1,
                off: 0,
                imm: 0,
            }, // r6 = r1
            Insn::mov64_imm(3, ifindex),
            Insn::mov64_imm(2, 0),
            Insn::stx_mem_w(1, 3, store_off),
            Insn::mov64_imm(0, 1),
            Insn::exit(),
        ]
    }

    #[test]
    fn effect_of_known_shapes() {
        let e = |insns: &[Insn]| effect_of_program(&encode_program(insns));
        assert_eq!(e(&bind_iface_program(7)), Effect::Sets(7));
        let mut xlated = bind_iface_program(7);
        xlated[1].off = 20;
        assert_eq!(e(&xlated), Effect::Sets(7));
        assert_eq!(e(&iproute2_program(4, 0)), Effect::Sets(4));
        assert_eq!(e(&iproute2_program(4, 20)), Effect::Sets(4));
        // Through the copy of the context in r6.
        let mut via_r6 = iproute2_program(4, 0);
        via_r6[3].dst = 6;
        assert_eq!(e(&via_r6), Effect::Sets(4));
        // systemd's native program as the kernel dumps it: r1 = map[id 33][0]; r1 = *(u32 *)
        // (r1 + 0); *(u32 *)(ctx + 20) = r1; r0 = 1; exit.
        let native = [
            Insn {
                code: 0x18,
                dst: 2,
                src: 2,
                off: 0,
                imm: 33,
            },
            Insn {
                code: 0,
                dst: 0,
                src: 0,
                off: 0,
                imm: 0,
            },
            Insn {
                code: 0x61,
                dst: 2,
                src: 2,
                off: 0,
                imm: 0,
            },
            Insn::stx_mem_w(1, 2, 20),
            Insn::mov64_imm(0, 1),
            Insn::exit(),
        ];
        assert_eq!(
            e(&native),
            Effect::FromMap {
                map_id: 33,
                offset: 0
            }
        );
        // Store-immediate (Linux 6.4+) and a 0 that unbinds.
        let st = Insn {
            code: 0x62,
            dst: 1,
            src: 0,
            off: 0,
            imm: 9,
        };
        assert_eq!(
            e(&[st, Insn::mov64_imm(0, 1), Insn::exit()]),
            Effect::Sets(9)
        );
        assert_eq!(e(&bind_iface_program(0)), Effect::Sets(0));
        // Allows without touching the socket.
        assert_eq!(e(&[Insn::mov64_imm(0, 1), Insn::exit()]), Effect::Leaves);
    }

    #[test]
    fn effect_unknown_when_not_straight() {
        let e = |insns: &[Insn]| effect_of_program(&encode_program(insns));
        assert_eq!(effect_of_program(&[]), Effect::Unknown);
        assert_eq!(effect_of_program(&[0u8; 12]), Effect::Unknown);
        // Refuses the socket.
        let mut deny = bind_iface_program(5);
        deny[2].imm = 0;
        assert_eq!(e(&deny), Effect::Unknown);
        // A store at another context offset (mark, priority) is not read as a binding.
        let mut mark = bind_iface_program(5);
        mark[1].off = 16;
        assert_eq!(e(&mark), Effect::Unknown);
        // A branch.
        let ja = Insn {
            code: 0x05,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        };
        assert_eq!(
            e(&[ja, Insn::mov64_imm(0, 1), Insn::exit()]),
            Effect::Unknown
        );
        // Runs off the end.
        assert_eq!(e(&[Insn::mov64_imm(0, 1)]), Effect::Unknown);
        // The stored value comes from somewhere we cannot read.
        let mut unknown = bind_iface_program(5);
        unknown[1].src = 4;
        assert_eq!(e(&unknown), Effect::Unknown);
    }
}
