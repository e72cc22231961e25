// SPDX-License-Identifier: LGPL-2.1-or-later
//! `bindif-launch adopt`: moves services bound the old ways (`ip vrf exec` wrappers, with or
//! without `runuser`/`sudo -u`/`setpriv` inside, `ip -n NS vrf exec`, pyvrf-style
//! `BPFProgram=sock_create:` pins, Cumulus-style generated `ip vrf exec %i` drop-ins) to one
//! `BindNetworkInterface=` drop-in. Edits nothing without `--write`.
//!
//! Shape: [`wrapper`] recognises command lines, [`plan`] turns loaded units into plans (pure),
//! so far the pure part only.

pub mod plan;
pub mod wrapper;
