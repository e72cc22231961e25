// SPDX-License-Identifier: LGPL-2.1-or-later
//! bindif-launch: systemd v260's `BindNetworkInterface=` for older systemd.
//!
//! Layout: `unit` is the pure unit model (no syscalls; every path hangs off a root), `program`
//! the pure instruction encoding, `cgroup_path` and `host` pure deductions about cgroups and the
//! host, `sys` the narrow syscall boundary (netlink, bpf(2), cgroups, exec), `cli` the argument
//! parser and `cmd` the commands built on them.
//!
//! The unsafe discipline is enforced here rather than by review: `unsafe` is denied everywhere
//! but in `sys`, and every unsafe block must say why it is sound (`// SAFETY:`), every unsafe
//! fn what its caller must uphold (`# Safety`). tests/layers.rs checks the same from the source
//! text, for the binary's root too.

#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod cgroup_path;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod errno;
pub mod exit;
pub mod host;
pub mod json;
pub mod log;
pub mod program;
// The syscall boundary: the one module allowed raw syscalls and `unsafe`.
#[allow(unsafe_code)]
pub mod sys;
pub mod timing;
pub mod unit;
