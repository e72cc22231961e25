// SPDX-License-Identifier: LGPL-2.1-or-later
//! The cgroup/sock_create program, encoded as raw eBPF instructions (pure; see bpf/).
