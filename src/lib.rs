// SPDX-License-Identifier: LGPL-2.1-or-later
//! bindif-launch: systemd v260's `BindNetworkInterface=` for older systemd.
//!
//! Layout: `unit` is the pure unit model (no syscalls; every path hangs off a root), `bpf` the
//! pure instruction encoding, `sys` the narrow syscall boundary (netlink, bpf(2), cgroups, exec),
//! `cli` the command-line front end.

pub mod bpf;
pub mod cgroup;
pub mod cli;
pub mod sys;
pub mod unit;
