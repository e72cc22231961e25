// SPDX-License-Identifier: LGPL-2.1-or-later
//! bindif-launch: systemd v260's `BindNetworkInterface=` for older systemd.
//!
//! Layout: `unit` is the pure unit model (no syscalls; every path hangs off a root), `bpf` the
//! pure instruction encoding, `cgroup` and `host` pure deductions about cgroups and the host,
//! `sys` the narrow syscall boundary (netlink, bpf(2), cgroups, exec), and `cli`, `launch`,
//! `target`, `config` and `show` the command-line tool built on them.

pub mod cgroup_path;
pub mod cli;
pub mod cmd;
pub mod exit;
pub mod host;
pub mod json;
pub mod log;
pub mod program;
pub mod sys;
pub mod timing;
pub mod unit;
