// SPDX-License-Identifier: LGPL-2.1-or-later
//! Exit statuses from systemd's table (systemd.exec(5), "Process Exit Codes"), so that
//! `systemctl status` names the failing step.

/// Done; for `status`, nothing wrong found.
pub const SUCCESS: i32 = 0;
/// Generic failure; `status` found something wrong.
pub const FAILURE: i32 = 1;
/// Bad command line, or a unit that cannot be read (LSB "invalid argument").
pub const INVALIDARGUMENT: i32 = 2;
/// The command could not be executed.
pub const EXEC: i32 = 203;
/// Setting up the unit's cgroup failed.
pub const CGROUP: i32 = 219;
/// Network setup failed (interface resolution).
pub const NETWORK: i32 = 225;
/// Loading or attaching the BPF program failed.
pub const BPF: i32 = 245;

/// The name systemd shows next to a status, for messages and the man page.
pub fn name(status: i32) -> &'static str {
    match status {
        SUCCESS => "SUCCESS",
        FAILURE => "FAILURE",
        INVALIDARGUMENT => "INVALIDARGUMENT",
        EXEC => "EXEC",
        CGROUP => "CGROUP",
        NETWORK => "NETWORK",
        BPF => "BPF",
        _ => "UNKNOWN",
    }
}
