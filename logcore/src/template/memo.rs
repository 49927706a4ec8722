//! A memo of the messages the miner has already placed, so that a message
//! seen before skips the tree walk and the similarity scan of its leaf.
//!
//! On the fleet corpus a leaf holds up to several hundred templates (a
//! user name as the first word sends every user past the node's
//! `max_children` to one `<*>` child), and comparing a message with each
//! of them was a third of the collector's writer thread. Most messages,
//! once masked, are token for token a template they already joined.
//!
//! The memo is exact: it remembers a masked token sequence only when the
//! miner placed it in an existing template at similarity 1 or above its
//! threshold *without changing anything* (no node made, the template not
//! generalised), and it keeps the leaf's *version*, which changes whenever
//! a template of that leaf is added or generalised. While the version is
//! the same the walk would reach the same leaf (children are never
//! removed, and a node that was full stays full) and the scan would pick
//! the same template, so the memo's answer is the miner's. It is not
//! saved: a loaded miner starts with an empty memo.

use std::borrow::Cow;
use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use crate::prehashed::PrehashedMap;

/// Sequences remembered at most; past it the memo starts over, which
/// bounds its memory (about 200 bytes a sequence) whatever the messages.
pub const MAX_ENTRIES: usize = 1 << 16;

#[derive(Debug, Clone, Default)]
pub struct Memo {
    /// xxh3 of a masked sequence (each token's length, then its bytes) →
    /// the sequence, the template index, its leaf and the leaf's version
    /// then. Sequences whose hashes collide take turns in the one entry.
    placed: PrehashedMap<Placed>,
    /// Version of each leaf that ever changed, by node index.
    versions: HashMap<u32, u32>,
    /// The key of the message being placed, and its hash.
    key: Vec<u8>,
    hash: u64,
}

#[derive(Debug, Clone)]
struct Placed {
    key: Vec<u8>,
    index: u32,
    leaf: u32,
    version: u32,
}

/// A memo is a cache: two miners are equal by what they learnt, whatever
/// their memos hold.
impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl Memo {
    /// Makes `masked` the current key and says the template it was placed
    /// in, if the memo knows and its leaf has not changed since.
    pub fn lookup(&mut self, masked: &[Cow<'_, str>]) -> Option<u32> {
        self.key.clear();
        for token in masked {
            self.key
                .extend_from_slice(&(token.len() as u32).to_le_bytes());
            self.key.extend_from_slice(token.as_bytes());
        }
        self.hash = xxh3_64(&self.key);
        let placed = self.placed.get(&self.hash)?;
        (placed.key == self.key && self.version(placed.leaf) == placed.version)
            .then_some(placed.index)
    }

    /// The current key was placed in `index` of `leaf` without a change.
    pub fn remember(&mut self, index: u32, leaf: u32) {
        if self.placed.len() >= MAX_ENTRIES {
            self.placed.clear();
        }
        let placed = Placed {
            key: self.key.clone(),
            index,
            leaf,
            version: self.version(leaf),
        };
        self.placed.insert(self.hash, placed);
    }

    /// A template of `leaf` was added or generalised.
    pub fn changed(&mut self, leaf: u32) {
        *self.versions.entry(leaf).or_insert(0) += 1;
    }

    fn version(&self, leaf: u32) -> u32 {
        self.versions.get(&leaf).copied().unwrap_or(0)
    }
}
