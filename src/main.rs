// SPDX-License-Identifier: LGPL-2.1-or-later
//! Entry point. `no_main`: Rust's own start-up code sets SIGPIPE to SIG_IGN before `main`,
//! and an ignored disposition survives `execve`, so a daemon started through the launcher
//! would no longer die on a broken pipe. With our own C `main` the disposition systemd gave us
//! reaches the command untouched.
#![no_main]
// The binary's one unsafe block reads argv; everything else lives in the library, which
// allows unsafe code only in `sys`.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStringExt;

// `#[no_mangle]` counts as unsafe code too: the symbol must be the C runtime's `main`.
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let args: Vec<OsString> = (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings in `argv`.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    bindif::cmd::main(args)
}
