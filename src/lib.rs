// SPDX-License-Identifier: LGPL-2.1-or-later
//! bindif-launch: systemd v260's `BindNetworkInterface=` for older systemd.
//!
//! Layout: `unit` is the pure unit model (no syscalls; every path hangs off a root), `bpf` the
//! pure instruction encoding, `cgroup` and `host` pure deductions about cgroups and the host,
//! `sys` the narrow syscall boundary (netlink, bpf(2), cgroups, exec), and `cli`, `launch`,
//! `target`, `config` and `show` the command-line tool built on them.

pub mod bpf;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod exit;
pub mod generator;
pub mod host;
pub mod json;
pub mod launch;
pub mod log;
pub mod migrate;
pub mod show;
pub mod status;
pub mod sys;
pub mod target;
pub mod timing;
pub mod unit;
