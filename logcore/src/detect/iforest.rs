//! Isolation Forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008).
//!
//! Each tree is grown on a sample of `sample_size` training vectors drawn
//! without replacement, splitting on a random feature at a random value
//! between that feature's minimum and maximum in the node, until a node holds
//! one vector or the depth reaches ⌈log2 sample_size⌉. An anomaly is isolated
//! in fewer splits: the score is s(x, n) = 2^(−E(h(x)) / c(n)), where h(x) is
//! the depth of the leaf x falls in plus c(leaf size) for the vectors the
//! leaf did not separate, and c(n) the average path length of an unsuccessful
//! search in a binary search tree of n keys. Scores near 1 are anomalies,
//! scores well below 0.5 are normal.
//!
//! Input is sparse ([`SparseVec`]), for TF-IDF vectors of tens of thousands of
//! features: a node chooses among the features that vary in its sample (as
//! scikit-learn does, which redraws a feature that is constant in the node),
//! found from the non-zero entries alone.
//!
//! The decision threshold follows scikit-learn (and loglizer, which wraps it):
//! with a `contamination` c, it is the (1 − c) quantile of the training
//! scores (linear interpolation), so about a fraction c of the training set
//! is flagged; without one, the paper's 0.5.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{DetectError, SparseVec};

/// Changes with any change of the serialized form.
pub const FORMAT_VERSION: u32 = 1;

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The settings of [`IsolationForest::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationForestParams {
    /// Trees in the forest (scikit-learn's `n_estimators`).
    pub n_trees: usize,
    /// Vectors per tree, capped at the training set's size (`max_samples`;
    /// 256 is scikit-learn's `'auto'`).
    pub sample_size: usize,
    /// The expected fraction of anomalies in training, in (0, 0.5]; `None`
    /// for the paper's fixed threshold 0.5.
    pub contamination: Option<f64>,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            sample_size: 256,
            contamination: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    /// `x[feature] <= threshold` goes to `left`, otherwise to `right`
    /// (indices into the tree's node list).
    Split {
        feature: u32,
        threshold: f64,
        left: u32,
        right: u32,
    },
    /// `size` training vectors of the sample ended here.
    Leaf { size: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

/// A fitted forest; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationForest {
    format: u32,
    params: IsolationForestParams,
    /// The sample size actually used: min(`params.sample_size`, n).
    sample_size: usize,
    /// Scores above it are anomalies.
    threshold: f64,
    trees: Vec<Tree>,
}

/// c(n): the average path length of an unsuccessful search in a binary
/// search tree of n keys, 2H(n−1) − 2(n−1)/n with H(i) ≈ ln i + γ; c(2) = 1
/// exactly and c(n) = 0 for n ≤ 1 (scikit-learn's convention).
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// The q quantile (0 ≤ q ≤ 1) of `values` with linear interpolation between
/// order statistics (numpy's default).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

impl IsolationForest {
    /// Grows the forest on `data` with a generator seeded by `seed`: the same
    /// data, parameters and seed give the same forest.
    pub fn fit(
        data: &[SparseVec],
        params: IsolationForestParams,
        seed: u64,
    ) -> Result<Self, DetectError> {
        if data.is_empty() {
            return Err(DetectError::Empty);
        }
        if params.n_trees == 0 || params.sample_size == 0 {
            return Err(DetectError::Param(
                "n_trees and sample_size must be at least 1".into(),
            ));
        }
        if let Some(c) = params.contamination {
            if !(c > 0.0 && c <= 0.5) {
                return Err(DetectError::Param(format!(
                    "contamination {c} is not in (0, 0.5]"
                )));
            }
        }
        let sample_size = params.sample_size.min(data.len());
        let max_depth = (sample_size as f64).log2().ceil() as usize;
        let mut rng = StdRng::seed_from_u64(seed);
        let trees = (0..params.n_trees)
            .map(|_| {
                let mut sample =
                    rand::seq::index::sample(&mut rng, data.len(), sample_size).into_vec();
                // The order of the sample does not change the tree's shape,
                // but a sorted one makes the result independent of how
                // `index::sample` orders it.
                sample.sort_unstable();
                let mut tree = Tree { nodes: Vec::new() };
                grow(&mut tree, data, &mut sample, 0, max_depth, &mut rng);
                tree
            })
            .collect();
        let mut forest = IsolationForest {
            format: FORMAT_VERSION,
            params,
            sample_size,
            threshold: 0.5,
            trees,
        };
        if let Some(c) = forest.params.contamination {
            let scores: Vec<f64> = data.iter().map(|x| forest.score(x)).collect();
            forest.threshold = quantile(&scores, 1.0 - c);
        }
        Ok(forest)
    }

    /// The anomaly score s(x, n) in (0, 1]; higher is more anomalous.
    pub fn score(&self, x: &SparseVec) -> f64 {
        let total: f64 = self.trees.iter().map(|t| path_length(t, x)).sum();
        let mean = total / self.trees.len() as f64;
        let c = average_path_length(self.sample_size);
        if c == 0.0 {
            // One training vector: nothing is isolated from anything.
            return 0.5;
        }
        (2.0f64).powf(-mean / c)
    }

    /// -1 for an anomaly (score above the threshold), 1 for normal.
    pub fn predict(&self, x: &SparseVec) -> i8 {
        if self.score(x) > self.threshold {
            -1
        } else {
            1
        }
    }

    /// Scores above this are anomalies.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn params(&self) -> &IsolationForestParams {
        &self.params
    }

    pub fn to_json(&self) -> Result<String, DetectError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads a forest written by [`to_json`](Self::to_json), refusing
    /// another format version.
    pub fn from_json(json: &str) -> Result<Self, DetectError> {
        super::read_model(json, FORMAT_VERSION)
    }
}

/// Appends the subtree of `sample` to `tree` and returns its node index.
fn grow(
    tree: &mut Tree,
    data: &[SparseVec],
    sample: &mut [usize],
    depth: usize,
    max_depth: usize,
    rng: &mut StdRng,
) -> u32 {
    let me = tree.nodes.len() as u32;
    let leaf = Node::Leaf {
        size: sample.len() as u32,
    };
    if sample.len() <= 1 || depth >= max_depth {
        tree.nodes.push(leaf);
        return me;
    }
    // Minimum, maximum and number of non-zero entries of each feature that
    // is non-zero somewhere in the sample; a feature absent from some vector
    // also takes the value 0 there.
    let mut ranges: HashMap<u32, (f64, f64, usize)> = HashMap::new();
    for &i in sample.iter() {
        for (f, v) in data[i].iter() {
            let r = ranges.entry(f).or_insert((v, v, 0));
            r.0 = r.0.min(v);
            r.1 = r.1.max(v);
            r.2 += 1;
        }
    }
    let mut varying: Vec<(u32, f64, f64)> = ranges
        .into_iter()
        .map(|(f, (lo, hi, nnz))| {
            if nnz < sample.len() {
                (f, lo.min(0.0), hi.max(0.0))
            } else {
                (f, lo, hi)
            }
        })
        .filter(|&(_, lo, hi)| lo < hi)
        .collect();
    if varying.is_empty() {
        // All vectors of the node are equal: no split separates them.
        tree.nodes.push(leaf);
        return me;
    }
    // HashMap order is random per process: sort for determinism.
    varying.sort_unstable_by_key(|&(f, _, _)| f);
    let (feature, lo, hi) = varying[rng.gen_range(0..varying.len())];
    // In [lo, hi): `<=` sends at least the minimum left and the maximum right.
    let threshold = rng.gen_range(lo..hi);
    let mut split = 0;
    for k in 0..sample.len() {
        if data[sample[k]].get(feature) <= threshold {
            sample.swap(k, split);
            split += 1;
        }
    }
    tree.nodes.push(Node::Split {
        feature,
        threshold,
        left: 0,
        right: 0,
    });
    let (left_sample, right_sample) = sample.split_at_mut(split);
    let left = grow(tree, data, left_sample, depth + 1, max_depth, rng);
    let right = grow(tree, data, right_sample, depth + 1, max_depth, rng);
    tree.nodes[me as usize] = Node::Split {
        feature,
        threshold,
        left,
        right,
    };
    me
}

/// h(x): the depth of the leaf `x` reaches, plus c(size) of that leaf.
fn path_length(tree: &Tree, x: &SparseVec) -> f64 {
    let mut node = 0usize;
    let mut depth = 0.0;
    loop {
        match tree.nodes[node] {
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                node = if x.get(feature) <= threshold {
                    left as usize
                } else {
                    right as usize
                };
                depth += 1.0;
            }
            Node::Leaf { size } => return depth + average_path_length(size as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 points of a tight 2-D cluster (a seeded grid jitter) and one
    /// point far away from it, the last.
    fn cluster_and_outlier() -> Vec<SparseVec> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut data: Vec<SparseVec> = (0..200)
            .map(|_| {
                SparseVec::from_dense(&[
                    1.0 + rng.gen_range(-0.1..0.1),
                    2.0 + rng.gen_range(-0.1..0.1),
                ])
            })
            .collect();
        data.push(SparseVec::from_dense(&[5.0, -3.0]));
        data
    }

    #[test]
    fn c_of_n_matches_the_paper_and_scikit_learn() {
        // A wrong c(n) skews every score: these are scikit-learn's values.
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2(ln 2 + γ) − 4/3
        assert!((average_path_length(3) - 1.207_392_357_589_623).abs() < 1e-9);
        // 2(ln 255 + γ) − 510/256
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-9);
    }

    #[test]
    fn same_seed_same_forest_other_seed_other_forest() {
        // A user re-running an evaluation must get the same numbers.
        let data = cluster_and_outlier();
        let p = IsolationForestParams::default();
        let a = IsolationForest::fit(&data, p.clone(), 42).unwrap();
        let b = IsolationForest::fit(&data, p.clone(), 42).unwrap();
        let c = IsolationForest::fit(&data, p, 43).unwrap();
        // (Not assert_eq: the debug form of a forest is megabytes.)
        assert!(a == b);
        assert!(a != c);
    }

    #[test]
    fn an_outlier_scores_above_every_inlier() {
        let data = cluster_and_outlier();
        let f = IsolationForest::fit(&data, IsolationForestParams::default(), 1).unwrap();
        let outlier = f.score(&data[200]);
        let max_inlier = data[..200].iter().map(|x| f.score(x)).fold(0.0, f64::max);
        assert!(outlier > 0.6, "outlier score {outlier}");
        assert!(outlier > max_inlier, "{outlier} vs {max_inlier}");
        assert_eq!(f.predict(&data[200]), -1);
        // Without a contamination the threshold is 0.5: the cluster centre
        // is normal.
        assert_eq!(f.predict(&SparseVec::from_dense(&[1.0, 2.0])), 1);
    }

    #[test]
    fn contamination_flags_that_fraction_of_training() {
        // loglizer's contamination=0.03 must flag about 3% of training.
        let data = cluster_and_outlier();
        let params = IsolationForestParams {
            contamination: Some(0.05),
            ..Default::default()
        };
        let f = IsolationForest::fit(&data, params, 3).unwrap();
        let flagged = data.iter().filter(|x| f.predict(x) == -1).count();
        // 5% of 201 with an interpolated quantile: 10 strictly above it.
        assert_eq!(flagged, 10);
        assert_eq!(f.predict(&data[200]), -1);
        let bad = IsolationForestParams {
            contamination: Some(0.7),
            ..Default::default()
        };
        assert!(matches!(
            IsolationForest::fit(&data, bad, 3),
            Err(DetectError::Param(_))
        ));
    }

    #[test]
    fn sparse_features_split_only_where_they_vary() {
        // Thousands of features, each non-zero in a few vectors: the forest
        // still isolates the one vector with a feature nobody else has.
        let mut data: Vec<SparseVec> = (0..300u32)
            .map(|i| SparseVec {
                indices: vec![i % 5, 1000 + i % 7],
                values: vec![1.0, 1.0],
            })
            .collect();
        data.push(SparseVec {
            indices: vec![0, 50_000],
            values: vec![1.0, 3.0],
        });
        let f = IsolationForest::fit(&data, IsolationForestParams::default(), 9).unwrap();
        let odd = f.score(&data[300]);
        assert!(data[..300].iter().all(|x| f.score(x) < odd));
    }

    #[test]
    fn serde_round_trip_and_version_check() {
        let data = cluster_and_outlier();
        let f = IsolationForest::fit(&data, IsolationForestParams::default(), 5).unwrap();
        let json = f.to_json().unwrap();
        let g = IsolationForest::from_json(&json).unwrap();
        assert!(f == g);
        assert_eq!(f.score(&data[200]), g.score(&data[200]));
        let other = json.replacen("\"format\":1", "\"format\":99", 1);
        assert!(matches!(
            IsolationForest::from_json(&other),
            Err(DetectError::Version { found: 99, .. })
        ));
    }
}
