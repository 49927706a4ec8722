//! Count-vector novelty: a session is flagged when its event-count vector
//! (how many times each event id occurs, order ignored) never occurred in
//! training.
//!
//! Only a 64-bit xxh3 hash of each distinct training vector is kept, at most
//! `capacity` of them; vectors past the capacity are not learnt (and counted
//! in [`CountNovelty::dropped`]), so memory is bounded. A hash collision can
//! only hide a novel session, never flag a known one.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use super::DetectError;

/// Changes with any change of the serialized form or of the hash.
pub const FORMAT_VERSION: u32 = 1;

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountNovelty {
    format: u32,
    capacity: usize,
    seen: HashSet<u64>,
    dropped: u64,
}

/// The hash of the event-count vector of `session`: of its (event id, count)
/// pairs in event id order, so neither the order of the lines nor the set of
/// events known elsewhere changes it.
pub fn fingerprint<S: AsRef<str>>(session: &[S]) -> u64 {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for e in session {
        *counts.entry(e.as_ref()).or_insert(0) += 1;
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
    pub fn new(capacity: usize) -> Self {
        Self {
            format: FORMAT_VERSION,
            capacity,
            seen: HashSet::new(),
            dropped: 0,
        }
    }

    /// Learns the count vector of one training session.
    pub fn learn<S: AsRef<str>>(&mut self, session: &[S]) {
        let f = fingerprint(session);
        if self.seen.contains(&f) {
            return;
        }
        if self.seen.len() < self.capacity {
            self.seen.insert(f);
        } else {
            self.dropped += 1;
        }
    }

    /// Whether the count vector of `session` was never learnt.
    pub fn is_novel<S: AsRef<str>>(&self, session: &[S]) -> bool {
        !self.seen.contains(&fingerprint(session))
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
        let v: Self = serde_json::from_str(json)?;
        if v.format != FORMAT_VERSION {
            return Err(DetectError::Version {
                found: v.format,
                expected: FORMAT_VERSION,
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_counts_do() {
        let mut m = CountNovelty::new(100);
        m.learn(&["E5", "E5", "E22", "E11"]);
        assert!(!m.is_novel(&["E22", "E5", "E11", "E5"]));
        // One more E5: a different count vector.
        assert!(m.is_novel(&["E22", "E5", "E11", "E5", "E5"]));
        assert_eq!(m.predict(&["E7"]), -1);
        // Ids are delimited: "E1","E11" is not "E11","E1" re-split.
        assert_ne!(
            fingerprint(&["E1", "E11"]),
            fingerprint(&["E11", "E1", "E1"])
        );
    }

    #[test]
    fn capacity_bounds_memory() {
        let mut m = CountNovelty::new(2);
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
