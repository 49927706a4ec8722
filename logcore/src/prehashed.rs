//! Maps keyed by a 64-bit hash the caller already computed (xxh3 of the
//! bytes that matter), which a `HashMap` then uses as it is instead of
//! hashing it again with SipHash: per-line tables (the miner's memo,
//! collectord's journal/file twins) spent more time in SipHash than in
//! their own work.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` whose `u64` keys are hashes already.
pub type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<Identity>>;

/// The hasher of [`PrehashedMap`]: the key is the hash.
#[derive(Debug, Default, Clone, Copy)]
pub struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys come here; anything else is folded in, not lost.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A seed for keyed hashes that differs from process to process, so that
/// a peer cannot choose lines whose hashes collide on purpose.
pub fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x6c6f_6771_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map keyed by hashes finds what was put in; a hasher that lost
    /// the key would make every memo and twin lookup miss.
    #[test]
    fn keys_are_their_own_hash() {
        let mut m: PrehashedMap<&str> = PrehashedMap::default();
        m.insert(7, "seven");
        m.insert(u64::MAX, "max");
        assert_eq!(m.get(&7), Some(&"seven"));
        assert_eq!(m.get(&u64::MAX), Some(&"max"));
        assert_eq!(m.get(&8), None);
        assert_ne!(
            random_seed(),
            random_seed(),
            "each RandomState is seeded anew"
        );
    }
}
