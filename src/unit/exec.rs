// SPDX-License-Identifier: LGPL-2.1-or-later
//! `ExecStart=` command lines as systemd parses them.
