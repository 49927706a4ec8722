//! Count-vector novelty: a session is flagged when its event-count vector
//! (how many times each event id occurs, order ignored) never occurred in
//! training, or, with [`VectorKind::Set`], when the set of its event ids
//! never did. [`CountNovelty::is_rare`] relaxes "never" to "in fewer than a
//! given fraction of the training sessions", for training data that holds
//! anomalies too (unsupervised).
//!
//! Only a 64-bit xxh3 hash of each distinct training vector is kept, with
//! the number of training sessions that had it, at most `capacity` of them;
//! vectors past the capacity are not learnt (and counted in
//! [`CountNovelty::dropped`]), so memory is bounded. A hash collision can
//! only hide a novel session, never flag a known one.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::DetectError;

/// Changes with any change of the serialized form or of the hash.
pub const FORMAT_VERSION: u32 = 1;

/// What of a session is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VectorKind {
    /// How many times each event id occurs.
    Counts,
    /// Which event ids occur (counts clipped to 1).
    Set,
}

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountNovelty {
    format: u32,
    kind: VectorKind,
    capacity: usize,
    /// Fingerprint → training sessions that had it.
    seen: HashMap<u64, u64>,
    /// Training sessions learnt.
    sessions: u64,
    dropped: u64,
}

/// The hash of the event-count vector of `session`: of its (event id, count)
/// pairs in event id order, so neither the order of the lines nor the set of
/// events known elsewhere changes it. With [`VectorKind::Set`] every count
/// is 1.
pub fn fingerprint<S: AsRef<str>>(session: &[S], kind: VectorKind) -> u64 {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for e in session {
        let c = counts.entry(e.as_ref()).or_insert(0);
        *c = match kind {
            VectorKind::Counts => *c + 1,
            VectorKind::Set => 1,
        };
    }
    let mut h = Xxh3::new();
    for (e, c) in counts {
        h.update(&(e.len() as u64).to_le_bytes());
        h.update(e.as_bytes());
        h.update(&c.to_le_bytes());
    }
    h.digest()
}

impl CountNovelty {
    /// An empty model that learns at most `capacity` distinct vectors.
    pub fn new(kind: VectorKind, capacity: usize) -> Self {
        Self {
            format: FORMAT_VERSION,
            kind,
            capacity,
            seen: HashMap::new(),
            sessions: 0,
            dropped: 0,
        }
    }

    /// Learns the vector of one training session.
    pub fn learn<S: AsRef<str>>(&mut self, session: &[S]) {
        let f = fingerprint(session, self.kind);
        self.sessions += 1;
        if let Some(n) = self.seen.get_mut(&f) {
            *n += 1;
        } else if self.seen.len() < self.capacity {
            self.seen.insert(f, 1);
        } else {
            self.dropped += 1;
        }
    }

    /// How many training sessions had the vector of `session`.
    pub fn seen_count<S: AsRef<str>>(&self, session: &[S]) -> u64 {
        self.seen
            .get(&fingerprint(session, self.kind))
            .copied()
            .unwrap_or(0)
    }

    /// Whether the vector of `session` was never learnt.
    pub fn is_novel<S: AsRef<str>>(&self, session: &[S]) -> bool {
        self.seen_count(session) == 0
    }

    /// Whether fewer than `fraction` of the training sessions had the vector
    /// of `session` (a novel one included).
    pub fn is_rare<S: AsRef<str>>(&self, session: &[S], fraction: f64) -> bool {
        (self.seen_count(session) as f64) < fraction * self.sessions as f64
    }

    /// -1 (novel, anomaly) or 1, like the other detectors' `predict`.
    pub fn predict<S: AsRef<str>>(&self, session: &[S]) -> i8 {
        if self.is_novel(session) {
            -1
        } else {
            1
        }
    }

    /// Distinct vectors learnt.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Distinct training vectors not learnt for want of capacity.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn to_json(&self) -> Result<String, DetectError> {
        Ok(serde_json::to_string(self)?)
    }

    pub fn from_json(json: &str) -> Result<Self, DetectError> {
        super::read_model(json, FORMAT_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_counts_do() {
        let mut m = CountNovelty::new(VectorKind::Counts, 100);
        m.learn(&["E5", "E5", "E22", "E11"]);
        assert!(!m.is_novel(&["E22", "E5", "E11", "E5"]));
        // One more E5: a different count vector.
        assert!(m.is_novel(&["E22", "E5", "E11", "E5", "E5"]));
        assert_eq!(m.predict(&["E7"]), -1);
        // Ids are delimited: "E1","E11" is not "E11","E1" re-split.
        let k = VectorKind::Counts;
        assert_ne!(
            fingerprint(&["E1", "E11"], k),
            fingerprint(&["E11", "E1", "E1"], k)
        );
    }

    #[test]
    fn sets_ignore_counts_and_rarity_is_a_fraction() {
        // A block read four times instead of twice is not new as a set.
        let mut m = CountNovelty::new(VectorKind::Set, 100);
        for _ in 0..99 {
            m.learn(&["E5", "E3", "E3"]);
        }
        m.learn(&["E5", "E7"]);
        assert!(!m.is_novel(&["E3", "E5", "E3", "E3", "E3"]));
        assert_eq!(m.seen_count(&["E7", "E5", "E7"]), 1);
        assert!(m.is_rare(&["E7", "E5"], 0.02));
        assert!(!m.is_rare(&["E7", "E5"], 0.01));
        assert!(!m.is_rare(&["E5", "E3"], 0.5));
        assert!(m.is_rare(&["E9"], 0.0001));
    }

    #[test]
    fn capacity_bounds_memory() {
        let mut m = CountNovelty::new(VectorKind::Counts, 2);
        m.learn(&["a"]);
        m.learn(&["b"]);
        m.learn(&["a"]);
        m.learn(&["c"]);
        assert_eq!((m.len(), m.dropped()), (2, 1));
        assert!(m.is_novel(&["c"]));
        let back = CountNovelty::from_json(&m.to_json().unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
