// SPDX-License-Identifier: LGPL-2.1-or-later
//! Evaluation of `BindNetworkInterface=` and `ExecStart=` over a loaded unit.
