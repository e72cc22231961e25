// SPDX-License-Identifier: LGPL-2.1-or-later
//! The syscall boundary: everything `unsafe` lives below this module.
