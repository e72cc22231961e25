// SPDX-License-Identifier: LGPL-2.1-or-later
//! The unit model: reads unit files, drop-ins, specifiers and command lines the way systemd does.
//! Pure: no syscalls beyond reading files, and every path is relative to an injectable root.

pub mod name;
