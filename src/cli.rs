// SPDX-License-Identifier: LGPL-2.1-or-later
//! Command-line front end.

use std::ffi::OsString;

pub fn main(_args: Vec<OsString>) -> i32 {
    eprintln!("bindif-launch: not yet wired up");
    2
}
