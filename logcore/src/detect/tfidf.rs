//! Vectors for the detectors.
//!
//! - [`TfidfVectorizer`]: documents of tokens → l2-normalized TF-IDF sparse
//!   vectors, as scikit-learn's `TfidfVectorizer` with its defaults: raw term
//!   counts times the smooth idf ln((1 + n) / (1 + df)) + 1.
//! - [`EventCounter`]: sessions of event ids → event-count vectors, as
//!   loglizer's `FeatureExtractor`, with its optional tf-idf weighting
//!   (count × ln(n / df)) and zero-mean normalization. Events not seen in
//!   training are dropped, as loglizer does.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{DetectError, SparseVec};

/// Changes with any change of the serialized form of either vectorizer.
pub const FORMAT_VERSION: u32 = 1;

/// The words of a message as scikit-learn's default `token_pattern`
/// (`\b\w\w+\b`) and `lowercase` give them: runs of letters, digits and `_`
/// of two characters or more, lowercased.
pub fn words(message: &str) -> Vec<String> {
    message
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().nth(1).is_some())
        .map(str::to_lowercase)
        .collect()
}

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfVectorizer {
    format: u32,
    /// Term → feature index; indices follow the terms' sorted order.
    vocabulary: BTreeMap<String, u32>,
    /// Per feature.
    idf: Vec<f64>,
}

impl TfidfVectorizer {
    pub fn fit<S: AsRef<str>>(docs: &[Vec<S>]) -> Result<Self, DetectError> {
        if docs.is_empty() {
            return Err(DetectError::Empty);
        }
        let mut df: BTreeMap<&str, u64> = BTreeMap::new();
        for doc in docs {
            let terms: BTreeSet<&str> = doc.iter().map(AsRef::as_ref).collect();
            for t in terms {
                *df.entry(t).or_insert(0) += 1;
            }
        }
        let n = docs.len() as f64;
        let mut vocabulary = BTreeMap::new();
        let mut idf = Vec::with_capacity(df.len());
        for (i, (term, d)) in df.into_iter().enumerate() {
            vocabulary.insert(term.to_owned(), i as u32);
            idf.push(((1.0 + n) / (1.0 + d as f64)).ln() + 1.0);
        }
        Ok(Self {
            format: FORMAT_VERSION,
            vocabulary,
            idf,
        })
    }

    /// The l2-normalized TF-IDF vector of `doc`; terms not in the vocabulary
    /// are ignored, and a document of none of them is the zero vector.
    pub fn transform<S: AsRef<str>>(&self, doc: &[S]) -> SparseVec {
        let mut counts: BTreeMap<u32, f64> = BTreeMap::new();
        for t in doc {
            if let Some(&i) = self.vocabulary.get(t.as_ref()) {
                *counts.entry(i).or_insert(0.0) += 1.0;
            }
        }
        let mut v = SparseVec::default();
        for (i, c) in counts {
            v.indices.push(i);
            v.values.push(c * self.idf[i as usize]);
        }
        let norm = v.values.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.values.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    pub fn vocabulary_len(&self) -> usize {
        self.idf.len()
    }

    /// The feature index of `term`, if it was seen in training.
    pub fn feature(&self, term: &str) -> Option<u32> {
        self.vocabulary.get(term).copied()
    }

    pub fn to_json(&self) -> Result<String, DetectError> {
        Ok(serde_json::to_string(self)?)
    }

    pub fn from_json(json: &str) -> Result<Self, DetectError> {
        super::read_model(json, FORMAT_VERSION)
    }
}

/// loglizer's `term_weighting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TermWeighting {
    /// Raw counts.
    None,
    /// Count × ln(n / df), n sessions in training, df of them with the event.
    TfIdf,
}

/// loglizer's `normalization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalization {
    None,
    /// Subtract the training mean of each (weighted) column.
    ZeroMean,
}

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCounter {
    format: u32,
    /// Feature index → event id, sorted.
    events: Vec<String>,
    weighting: TermWeighting,
    normalization: Normalization,
    /// Per feature; 1 without tf-idf weighting.
    idf: Vec<f64>,
    /// Per feature; 0 without zero-mean normalization.
    mean: Vec<f64>,
}

impl EventCounter {
    pub fn fit<S: AsRef<str>>(
        sessions: &[Vec<S>],
        weighting: TermWeighting,
        normalization: Normalization,
    ) -> Result<Self, DetectError> {
        if sessions.is_empty() {
            return Err(DetectError::Empty);
        }
        let events: BTreeSet<&str> = sessions
            .iter()
            .flat_map(|s| s.iter().map(AsRef::as_ref))
            .collect();
        let mut counter = Self {
            format: FORMAT_VERSION,
            events: events.into_iter().map(str::to_owned).collect(),
            weighting,
            normalization,
            idf: Vec::new(),
            mean: Vec::new(),
        };
        let d = counter.events.len();
        counter.idf = vec![1.0; d];
        counter.mean = vec![0.0; d];
        let counts: Vec<Vec<f64>> = sessions.iter().map(|s| counter.counts(s)).collect();
        let n = sessions.len() as f64;
        if weighting == TermWeighting::TfIdf {
            for (j, idf) in counter.idf.iter_mut().enumerate() {
                let df = counts.iter().filter(|c| c[j] > 0.0).count() as f64;
                // loglizer: np.log(n / (df + 1e-8)); every event has df ≥ 1.
                *idf = (n / (df + 1e-8)).ln();
            }
        }
        if normalization == Normalization::ZeroMean {
            for (j, mean) in counter.mean.iter_mut().enumerate() {
                *mean = counts.iter().map(|c| c[j] * counter.idf[j]).sum::<f64>() / n;
            }
        }
        Ok(counter)
    }

    /// The raw event counts of `session`, one per training event (others
    /// dropped).
    pub fn counts<S: AsRef<str>>(&self, session: &[S]) -> Vec<f64> {
        let mut c = vec![0.0; self.events.len()];
        for e in session {
            if let Ok(j) = self.events.binary_search_by(|x| x.as_str().cmp(e.as_ref())) {
                c[j] += 1.0;
            }
        }
        c
    }

    /// The weighted, normalized vector of `session` (dense: zero-mean
    /// normalization makes nearly every entry non-zero).
    pub fn transform<S: AsRef<str>>(&self, session: &[S]) -> Vec<f64> {
        let mut c = self.counts(session);
        for (j, x) in c.iter_mut().enumerate() {
            *x = *x * self.idf[j] - self.mean[j];
        }
        c
    }

    pub fn events(&self) -> &[String] {
        &self.events
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn words_are_scikit_learns_default_tokens() {
        assert_eq!(
            words("Receiving block blk_-42 src: /10.250.1.2:50010 a"),
            [
                "receiving",
                "block",
                "blk_",
                "42",
                "src",
                "10",
                "250",
                "50010"
            ]
        );
    }

    #[test]
    fn tfidf_matches_a_hand_computed_example() {
        // Three documents; "a" in all three, "b" in two, "c" in one.
        // smooth idf: a = ln(4/4)+1 = 1, b = ln(4/3)+1, c = ln(4/2)+1.
        let docs = vec![vec!["a", "b", "b"], vec!["a", "c"], vec!["a", "b"]];
        let v = TfidfVectorizer::fit(&docs).unwrap();
        assert_eq!(v.vocabulary_len(), 3);
        let idf_b = (4.0f64 / 3.0).ln() + 1.0;
        // Document 0: tf a = 1, b = 2 → (1, 2·idf_b) / ‖·‖.
        let norm = (1.0 + (2.0 * idf_b).powi(2)).sqrt();
        let x = v.transform(&docs[0]);
        assert_eq!(x.indices, [0, 1]);
        assert!(close(x.values[0], 1.0 / norm));
        assert!(close(x.values[1], 2.0 * idf_b / norm));
        // Unknown terms are ignored; a document of none is the zero vector.
        assert_eq!(v.transform(&["zzz"]).nnz(), 0);
        let y = v.transform(&["c", "zzz"]);
        assert_eq!(y.indices, [2]);
        assert!(close(y.values[0], 1.0));
    }

    #[test]
    fn event_counter_is_loglizers_feature_extractor() {
        let sessions = vec![vec!["E1", "E2", "E2"], vec!["E1"], vec!["E1", "E3"]];
        let raw = EventCounter::fit(&sessions, TermWeighting::None, Normalization::None).unwrap();
        assert_eq!(raw.events(), ["E1", "E2", "E3"]);
        assert_eq!(raw.transform(&["E2", "E2", "E9"]), [0.0, 2.0, 0.0]);

        let w =
            EventCounter::fit(&sessions, TermWeighting::TfIdf, Normalization::ZeroMean).unwrap();
        // idf: E1 = ln(3/3) = 0, E2 = ln(3/1), E3 = ln(3/1) (minus the 1e-8).
        let idf = (3.0f64 / (1.0 + 1e-8)).ln();
        let x = w.transform(&sessions[0]);
        // E2: 2·idf minus the mean (2·idf + 0 + 0) / 3.
        assert!(close(x[1], 2.0 * idf - 2.0 * idf / 3.0));
        assert!(close(x[2], -idf / 3.0));
        assert!(x[0].abs() < 1e-7);
    }

    #[test]
    fn serde_round_trips() {
        let docs = vec![vec!["x", "y"], vec!["y"]];
        let v = TfidfVectorizer::fit(&docs).unwrap();
        assert_eq!(
            TfidfVectorizer::from_json(&v.to_json().unwrap()).unwrap(),
            v
        );
        let e = EventCounter::fit(&docs, TermWeighting::TfIdf, Normalization::ZeroMean).unwrap();
        assert_eq!(EventCounter::from_json(&e.to_json().unwrap()).unwrap(), e);
        let old = v
            .to_json()
            .unwrap()
            .replacen("\"format\":1", "\"format\":0", 1);
        assert!(matches!(
            TfidfVectorizer::from_json(&old),
            Err(DetectError::Version { found: 0, .. })
        ));
    }
}
