// SPDX-License-Identifier: LGPL-2.1-or-later
fn main() {
    std::process::exit(bindif::cli::main(std::env::args_os().collect()));
}
