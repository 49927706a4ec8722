//! Unsupervised anomaly detection over log lines and sessions (lines that
//! share an id, such as an HDFS block id).
//!
//! - `tfidf`: documents of tokens → sparse TF-IDF vectors; sessions of event
//!   ids → event-count vectors (loglizer's `FeatureExtractor`).
//! - `iforest`: Isolation Forest (Liu, Ting and Zhou, 2008), ours because
//!   smartcore has none.
//! - `novelty`: a session is novel when its event-count vector (or event
//!   set) never occurred in training, or rare when few training sessions
//!   had it.
//! - `rate`: `threshold` events of one key within a sliding window (failed
//!   logins per address, say), one alert per episode, bounded memory.
//!
//! - `auth`: what a line says about logins and connections.
//! - `sessions`: lines sharing an id, scored when they end.
//! - `sequence` (feature `lstm`): an LSTM that predicts each next event of
//!   a session (DeepLog); a session is anomalous at an event it did not
//!   expect.
//! - `windows`: each host's lines per 10 minutes as a vector, scored by an
//!   Isolation Forest trained on the history's windows.
//! - `model`: what training on a site's history learns ([`Model`], the
//!   file `model.json`), and [`Trainer`].
//! - `engine`: every detector on every line, as collectord and `collectord
//!   replay` run them ([`Engine`]); `anomaly`: what it reports.
//! - `replay`: files through the engine, for `collectord replay`.
//! - `flagged`: the lines an anomaly counted before it fired, which a
//!   reader joins from the side table `flagged.log`.
//!
//! Models are serde-serializable with a format version, checked on load.

pub mod anomaly;
pub mod auth;
pub mod engine;
pub mod flagged;
pub mod iforest;
pub mod model;
pub mod novelty;
pub mod rate;
pub mod replay;
#[cfg(feature = "lstm")]
pub mod sequence;
pub mod sessions;
pub mod tfidf;
pub mod windows;

pub use anomaly::Anomaly;
pub use engine::{Engine, EngineConfig, LineIn, Report, Verdict};
pub use model::{Model, Trainer};

pub use iforest::{IsolationForest, IsolationForestParams};
pub use novelty::{CountNovelty, VectorKind};
pub use rate::{RateDetector, RateRule};
pub use tfidf::{EventCounter, Normalization, TermWeighting, TfidfVectorizer};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Errors of fitting and loading detection models.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("no training data")]
    Empty,
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("model format {found}, this build reads format {expected}")]
    Version { found: u32, expected: u32 },
    #[error("model JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A sparse vector: feature indices strictly increasing, one value each.
/// Features not listed are 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
}

impl SparseVec {
    /// The non-zero entries of a dense vector.
    pub fn from_dense(dense: &[f64]) -> Self {
        let mut v = SparseVec::default();
        for (i, &x) in dense.iter().enumerate() {
            if x != 0.0 {
                v.indices.push(i as u32);
                v.values.push(x);
            }
        }
        v
    }

    /// The value of feature `feature` (0 when absent).
    pub fn get(&self, feature: u32) -> f64 {
        match self.indices.binary_search(&feature) {
            Ok(i) => self.values[i],
            Err(_) => 0.0,
        }
    }

    /// The number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The entries, in increasing feature order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }
}

/// Reads a model written as JSON with a `format` field, refusing another
/// format version before parsing the rest (whose shape may differ).
pub(crate) fn read_model<T: DeserializeOwned>(json: &str, expected: u32) -> Result<T, DetectError> {
    #[derive(Deserialize)]
    struct Header {
        format: u32,
    }
    let header: Header = serde_json::from_str(json)?;
    if header.format != expected {
        return Err(DetectError::Version {
            found: header.format,
            expected,
        });
    }
    Ok(serde_json::from_str(json)?)
}
