// SPDX-License-Identifier: LGPL-2.1-or-later
//! The hasher of the catalog's maps. It is there for speed, not to avoid a dependency: it came
//! with the catalog's allocation work (commit 83e3d31, "fewer validations and allocations for
//! drop-in names, Fx-hashed catalog maps"), the catalog hashes every file name of the search
//! path, and std's default SipHash buys resistance to hash flooding, which these maps do not
//! need (their keys are file names from the search path, not input from a peer). Measure with
//! `benches/scale.rs` before trading it for std's.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast non-cryptographic hasher (the "Fx" hash of rustc) for the catalog's maps: their keys
/// are file names from the search path, not input from an untrusted peer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
