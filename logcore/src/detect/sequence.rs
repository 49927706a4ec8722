//! The sequence model: an LSTM over a session's template ids that predicts
//! each next event from the ones before it (DeepLog, Du et al., CCS 2017).
//! A session is anomalous at its first event that was not among the
//! `top_k` the model expected there, or to which it gave a probability
//! under `min_prob`.
//!
//! Like the session model it judges what a session contains, never what it
//! lacks: the end of a session is never predicted, so a session cut where
//! the input ended is a prefix and passes when its events so far did.
//!
//! Built on candle (`candle-core`, `candle-nn`): its LSTM layer, embedding,
//! linear layer and AdamW, on the CPU. Training is seeded and deterministic
//! (the initial weights come from our seeded generator, batches are
//! shuffled by it, and candle's CPU kernels reduce in a fixed order) and
//! bounded: at most [`MAX_PAIRS`] distinct (window, next event) pairs, each
//! seen once per epoch with a weight for how often it occurred, and at most
//! `max_steps` optimizer steps. The weights are stored in the model file as
//! numbers, with this model's own [`SEQUENCE_FORMAT`].
//!
//! Only collectord links it (feature `lstm` of logcore): agentd does not.

use std::collections::HashMap;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::rnn::{LSTMConfig, LSTM};
use candle_nn::{
    AdamW, Embedding, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap, RNN,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use super::sessions::Miss;
use super::DetectError;

/// Changes with any change of [`SequenceModel`]'s serialized form or of
/// what its weights mean.
pub const SEQUENCE_FORMAT: u32 = 1;
/// Distinct (window, next) pairs trained on at most (the most frequent).
pub const MAX_PAIRS: usize = 100_000;
/// Template ids the model tells apart at most (the most frequent); the
/// others are one class, "other".
pub const MAX_CLASSES: usize = 254;
/// Events of one session judged at most (the first ones).
pub const MAX_JUDGED: usize = 10_000;
/// Windows per forward pass when judging.
const BATCH_JUDGE: usize = 1024;

/// Class 0 pads a window before a session's first event.
const START: u16 = 0;
/// Class 1 is every template the model does not tell apart.
const OTHER: u16 = 1;
/// Class 2 follows a training session's last event: the model learns
/// what ends a session, so that an event after a complete one is
/// unexpected. It is never asked for: a session that has not ended is
/// judged by what it has.
const END: u16 = 2;
/// The first template's class.
const FIRST: u16 = 3;

/// How the model is shaped and trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequenceParams {
    /// Events before the predicted one (DeepLog's h).
    pub window: usize,
    /// Width of a template's embedding.
    pub embed: usize,
    /// Width of the LSTM's hidden state.
    pub hidden: usize,
    /// The next event must be among this many of the model's candidates
    /// (DeepLog's g).
    pub top_k: usize,
    /// ... and have at least this probability.
    pub min_prob: f32,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Optimizer steps at least: a small history is seen for more epochs
    /// (60 sessions of 4 events make one batch an epoch).
    pub min_steps: usize,
    /// Optimizer steps at most, whatever the epochs.
    pub max_steps: usize,
}

impl Default for SequenceParams {
    /// DeepLog's shape (window 10, top 9 candidates), with one layer of 64
    /// instead of two to halve training's time. `min_prob` was chosen on
    /// the HDFS validation split (`eval-hdfs`): with the rank alone, HDFS
    /// blocks have four or more likely next events nearly everywhere
    /// (top 3 flags almost every block), and among ~30 kinds the top 9
    /// takes in kinds the model finds unlikely; 0.001 led at top 5 to 9.
    fn default() -> Self {
        SequenceParams {
            window: 10,
            embed: 16,
            hidden: 64,
            top_k: 9,
            min_prob: 1e-3,
            epochs: 30,
            batch: 256,
            learning_rate: 5e-3,
            min_steps: 300,
            max_steps: 3_000,
        }
    }
}

/// One stored tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Weights {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// What training did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    pub sessions: u64,
    pub events: u64,
    /// Distinct (window, next) pairs trained on.
    pub pairs: u64,
    pub steps: u64,
    /// Weighted cross-entropy of the last epoch.
    pub loss: f32,
}

/// The trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceModel {
    pub format: u32,
    pub params: SequenceParams,
    /// The template ids told apart, class `i + 3` for `classes[i]`.
    pub classes: Vec<u32>,
    pub weights: Vec<Weights>,
    pub stats: TrainStats,
    /// The network built from `weights` on first use.
    #[serde(skip)]
    net: OnceLock<Net>,
}

#[derive(Debug, Clone)]
struct Net {
    embedding: Embedding,
    lstm: LSTM,
    out: Linear,
    /// Template id → class, built once with the network, not per session.
    index: HashMap<u32, u16>,
}

impl Net {
    fn build(
        vb: &VarBuilder,
        classes: usize,
        p: &SequenceParams,
        index: HashMap<u32, u16>,
    ) -> candle_core::Result<Net> {
        Ok(Net {
            index,
            embedding: candle_nn::embedding(classes, p.embed, vb.pp("embedding"))?,
            lstm: candle_nn::rnn::lstm(p.embed, p.hidden, LSTMConfig::default(), vb.pp("lstm"))?,
            out: candle_nn::linear(p.hidden, classes, vb.pp("out"))?,
        })
    }

    /// Logits of the next event after each window: `x` is (batch, window)
    /// of classes, the result (batch, classes).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let e = self.embedding.forward(x)?;
        let states = self.lstm.seq(&e)?;
        let last = states
            .last()
            .ok_or_else(|| candle_core::Error::Msg("empty window".into()))?;
        self.out.forward(last.h())
    }
}

fn candle(e: candle_core::Error) -> DetectError {
    DetectError::Param(format!("sequence model: {e}"))
}

/// The shapes of the network's tensors, in a fixed order.
fn shapes(classes: usize, p: &SequenceParams) -> Vec<(&'static str, Vec<usize>)> {
    let (e, h) = (p.embed, p.hidden);
    vec![
        ("embedding.weight", vec![classes, e]),
        ("lstm.weight_ih_l0", vec![4 * h, e]),
        ("lstm.weight_hh_l0", vec![4 * h, h]),
        ("lstm.bias_ih_l0", vec![4 * h]),
        ("lstm.bias_hh_l0", vec![4 * h]),
        ("out.weight", vec![classes, h]),
        ("out.bias", vec![classes]),
    ]
}

/// Seeded initial values: embeddings of variance 1, weights uniform in
/// ±1/√fan-in (PyTorch's LSTM and linear defaults), biases 0.
fn initial(name: &str, shape: &[usize], rng: &mut StdRng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let bound = match name {
        "embedding.weight" => 3f32.sqrt(),
        _ if name.contains("bias") => return vec![0.0; n],
        _ => 1.0 / (shape[1] as f32).sqrt(),
    };
    (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
}

/// A session's classes, with `window` starts before them.
fn padded(classes: &[u16], window: usize) -> Vec<u16> {
    let mut v = vec![START; window];
    v.extend_from_slice(classes);
    v
}

impl SequenceModel {
    /// Trains on `sessions` (template ids in time order each).
    pub fn train(
        sessions: &[&[u32]],
        params: SequenceParams,
        seed: u64,
    ) -> Result<SequenceModel, DetectError> {
        if params.window == 0 || params.top_k == 0 || params.batch == 0 || params.hidden == 0 {
            return Err(DetectError::Param(
                "sequence model: window, top_k, batch and hidden must be positive".into(),
            ));
        }
        let events: u64 = sessions.iter().map(|s| s.len() as u64).sum();
        if events == 0 {
            return Err(DetectError::Empty);
        }
        // The classes: the most frequent templates, ties by id.
        let mut freq: HashMap<u32, u64> = HashMap::new();
        for s in sessions {
            for &e in s.iter() {
                *freq.entry(e).or_insert(0) += 1;
            }
        }
        let mut by_freq: Vec<(u32, u64)> = freq.into_iter().collect();
        by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let classes: Vec<u32> = by_freq.iter().take(MAX_CLASSES).map(|c| c.0).collect();
        let mut model = SequenceModel {
            format: SEQUENCE_FORMAT,
            params,
            classes,
            weights: Vec::new(),
            stats: TrainStats {
                sessions: sessions.len() as u64,
                events,
                ..TrainStats::default()
            },
            net: OnceLock::new(),
        };
        // The distinct (window, next) pairs and how often each occurred.
        let index = model.index();
        let w = params.window;
        let mut pairs: HashMap<Vec<u16>, u64> = HashMap::new();
        for s in sessions {
            let mut cs: Vec<u16> = s.iter().map(|e| class_of(&index, *e)).collect();
            cs.push(END);
            let p = padded(&cs, w);
            for i in 0..cs.len() {
                *pairs.entry(p[i..=i + w].to_vec()).or_insert(0) += 1;
            }
        }
        let mut pairs: Vec<(Vec<u16>, u64)> = pairs.into_iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        pairs.truncate(MAX_PAIRS);
        model.stats.pairs = pairs.len() as u64;
        model.fit(&pairs, seed).map_err(candle)?;
        Ok(model)
    }

    fn index(&self) -> HashMap<u32, u16> {
        self.classes
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i as u16 + FIRST))
            .collect()
    }

    fn fit(&mut self, pairs: &[(Vec<u16>, u64)], seed: u64) -> candle_core::Result<()> {
        let p = self.params;
        let dev = Device::Cpu;
        let n_classes = self.classes.len() + usize::from(FIRST);
        let mut rng = StdRng::seed_from_u64(seed);
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("poisoned variables".into()))?;
            for (name, shape) in shapes(n_classes, &p) {
                let t = Tensor::from_vec(initial(name, &shape, &mut rng), shape, &dev)?;
                data.insert(name.to_string(), Var::from_tensor(&t)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let net = Net::build(&vb, n_classes, &p, self.index())?;
        let mut opt = AdamW::new(
            varmap.all_vars(),
            ParamsAdamW {
                lr: p.learning_rate,
                ..ParamsAdamW::default()
            },
        )?;
        // Weight of a pair: 1 + ln(occurrences), so that common paths lead
        // and rare normal ones are still learnt (on the validation split it
        // beat weights equal to the occurrences when trained on normal
        // sessions, .727 against .685, and lost on unlabeled ones, .426
        // against .507).
        let weight: Vec<f32> = pairs.iter().map(|(_, n)| 1.0 + (*n as f32).ln()).collect();
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        let w = p.window;
        let mut steps = 0u64;
        let per_epoch = pairs.len().div_ceil(p.batch).max(1);
        let epochs = p.epochs.max(p.min_steps.div_ceil(per_epoch));
        'epochs: for _ in 0..epochs {
            order.shuffle(&mut rng);
            let (mut sum, mut weights) = (0f32, 0f32);
            for chunk in order.chunks(p.batch) {
                if steps as usize >= p.max_steps {
                    break 'epochs;
                }
                let mut x = Vec::with_capacity(chunk.len() * w);
                let mut y = Vec::with_capacity(chunk.len());
                let mut wt = Vec::with_capacity(chunk.len());
                for &i in chunk {
                    x.extend(pairs[i].0[..w].iter().map(|&c| u32::from(c)));
                    y.push(u32::from(pairs[i].0[w]));
                    wt.push(weight[i]);
                }
                let b = chunk.len();
                let x = Tensor::from_vec(x, (b, w), &dev)?;
                let y = Tensor::from_vec(y, (b, 1), &dev)?;
                let total: f32 = wt.iter().sum();
                let wt = Tensor::from_vec(wt, b, &dev)?;
                let logp = candle_nn::ops::log_softmax(&net.forward(&x)?, D::Minus1)?;
                let picked = logp.gather(&y, 1)?.squeeze(1)?;
                let loss = ((picked * wt)?.sum_all()? * f64::from(-1.0 / total))?;
                opt.backward_step(&loss)?;
                sum += loss.to_scalar::<f32>()? * total;
                weights += total;
                steps += 1;
            }
            self.stats.loss = sum / weights.max(f32::MIN_POSITIVE);
        }
        self.stats.steps = steps;
        let data = varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned variables".into()))?;
        for (name, shape) in shapes(n_classes, &p) {
            let var = data
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("no variable {name}")))?;
            self.weights.push(Weights {
                name: name.to_string(),
                shape,
                values: var.as_tensor().flatten_all()?.to_vec1::<f32>()?,
            });
        }
        drop(data);
        let _ = self.net.set(net);
        Ok(())
    }

    /// The network, built from the stored weights on first use.
    fn net(&self) -> Result<&Net, DetectError> {
        if let Some(net) = self.net.get() {
            return Ok(net);
        }
        let n_classes = self.classes.len() + usize::from(FIRST);
        let dev = Device::Cpu;
        let mut tensors = HashMap::new();
        for (name, shape) in shapes(n_classes, &self.params) {
            let w = self
                .weights
                .iter()
                .find(|w| w.name == name)
                .ok_or_else(|| DetectError::Param(format!("sequence model: no {name}")))?;
            if w.shape != shape || w.values.len() != shape.iter().product::<usize>() {
                return Err(DetectError::Param(format!(
                    "sequence model: {name} is {:?}, expected {shape:?}",
                    w.shape
                )));
            }
            let t = Tensor::from_vec(w.values.clone(), shape, &dev).map_err(candle)?;
            tensors.insert(name.to_string(), t);
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let net = Net::build(&vb, n_classes, &self.params, self.index()).map_err(candle)?;
        Ok(self.net.get_or_init(|| net))
    }

    /// The first event of `events` (template ids in time order) that was
    /// not among the `top_k` candidates or was less likely than
    /// `min_prob`, if any.
    pub fn judge(&self, events: &[u32]) -> Result<Option<Miss>, DetectError> {
        self.judge_with(events, self.params.top_k, self.params.min_prob)
    }

    /// As [`judge`](Self::judge) with other criteria (for evaluations).
    pub fn judge_with(
        &self,
        events: &[u32],
        top_k: usize,
        min_prob: f32,
    ) -> Result<Option<Miss>, DetectError> {
        let mut miss = None;
        self.walk(events, |i, row, truth| {
            let (rank, prob) = (rank(row, truth), prob(row, truth));
            if rank >= top_k || prob < min_prob || truth == OTHER {
                miss = Some(Miss {
                    at: i,
                    event: events[i],
                    rank,
                    prob,
                    expected: self.expected(row),
                });
                return false;
            }
            true
        })?;
        Ok(miss)
    }

    /// Calls `f(position, logits, class)` for each event in order while it
    /// returns true.
    fn walk(
        &self,
        events: &[u32],
        mut f: impl FnMut(usize, &[f32], u16) -> bool,
    ) -> Result<(), DetectError> {
        let events = &events[..events.len().min(MAX_JUDGED)];
        if events.is_empty() {
            return Ok(());
        }
        let net = self.net()?;
        let w = self.params.window;
        let cs: Vec<u16> = events.iter().map(|e| class_of(&net.index, *e)).collect();
        let p = padded(&cs, w);
        let dev = Device::Cpu;
        for start in (0..cs.len()).step_by(BATCH_JUDGE) {
            let end = (start + BATCH_JUDGE).min(cs.len());
            let mut x = Vec::with_capacity((end - start) * w);
            for i in start..end {
                x.extend(p[i..i + w].iter().map(|&c| u32::from(c)));
            }
            let x = Tensor::from_vec(x, (end - start, w), &dev).map_err(candle)?;
            let logits = net
                .forward(&x)
                .and_then(|l| l.to_vec2::<f32>())
                .map_err(candle)?;
            for (row, i) in logits.iter().zip(start..end) {
                if !f(i, row, cs[i]) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The three best candidates: template ids, or `None` for the end of
    /// the session.
    fn expected(&self, row: &[f32]) -> Vec<Option<u32>> {
        let mut ranked: Vec<(usize, f32)> = row
            .iter()
            .copied()
            .enumerate()
            .filter(|&(c, _)| c >= usize::from(END))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
            .iter()
            .take(3)
            .map(|&(c, _)| (c >= usize::from(FIRST)).then(|| self.classes[c - usize::from(FIRST)]))
            .collect()
    }
}

/// Candidates ranked above class `truth` (the start class is never one).
fn rank(row: &[f32], truth: u16) -> usize {
    let t = row[usize::from(truth)];
    row.iter()
        .enumerate()
        .filter(|&(c, &v)| c != usize::from(START) && v > t)
        .count()
}

/// The probability of class `truth` (softmax of the logits; 0 for "other",
/// which stands for templates the model does not know).
fn prob(row: &[f32], truth: u16) -> f32 {
    if truth == OTHER {
        return 0.0;
    }
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
    (row[usize::from(truth)] - max).exp() / sum
}

fn class_of(index: &HashMap<u32, u16>, event: u32) -> u16 {
    index.get(&event).copied().unwrap_or(OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three kinds of normal session, each a fixed path with a loop, told
    /// apart by their first event: after it, one candidate suffices.
    fn normal(n: usize) -> Vec<Vec<u32>> {
        (0..n)
            .map(|i| match i % 3 {
                0 => vec![1, 2, 3, 3, 3, 4, 5],
                1 => vec![10, 2, 3, 3, 4, 4, 4, 5, 6],
                _ => vec![7, 8, 8, 9],
            })
            .collect()
    }

    fn small() -> SequenceParams {
        SequenceParams {
            hidden: 16,
            embed: 8,
            top_k: 3,
            min_prob: 0.0,
            epochs: 60,
            batch: 16,
            learning_rate: 2e-2,
            ..SequenceParams::default()
        }
    }

    fn trained(seed: u64) -> SequenceModel {
        let sessions = normal(60);
        let refs: Vec<&[u32]> = sessions.iter().map(Vec::as_slice).collect();
        SequenceModel::train(&refs, small(), seed).unwrap()
    }

    /// An operator who turns the sequence model on must get the same
    /// verdicts from the same history: retraining may not move alerts.
    #[test]
    fn training_is_deterministic_for_a_seed() {
        let (a, b) = (trained(7), trained(7));
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }

    /// Normal paths pass, prefixes of them too (a session cut where the
    /// input ended); an event out of order, or one never seen, is caught
    /// where it happens.
    #[test]
    fn out_of_order_events_are_caught_and_prefixes_pass() {
        let m = trained(1);
        for s in normal(3) {
            assert_eq!(m.judge(&s).unwrap(), None, "{s:?}");
            assert_eq!(m.judge(&s[..3]).unwrap(), None, "{s:?}");
        }
        let miss = m
            .judge_with(&[1, 2, 5], 3, 0.01)
            .unwrap()
            .expect("5 right after 2");
        assert_eq!((miss.at, miss.event), (2, 5));
        assert_eq!(miss.expected.first(), Some(&Some(3)));
        // After a whole session the model expects its end.
        let miss = m
            .judge_with(&[7, 8, 8, 9, 9], 3, 0.01)
            .unwrap()
            .expect("9 after the end");
        assert_eq!((miss.at, miss.expected.first()), (4, Some(&None)));
        let miss = m
            .judge(&[7, 8, 42])
            .unwrap()
            .expect("a template never seen");
        assert_eq!((miss.at, miss.event), (2, 42));
    }

    /// The model file keeps the weights: a model read back judges as the
    /// one that was trained.
    #[test]
    fn a_model_read_back_judges_the_same() {
        let m = trained(3);
        let back: SequenceModel =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        for s in [vec![1, 2, 5], vec![1, 2, 3, 3, 3, 4, 5], vec![7, 9, 8]] {
            assert_eq!(m.judge(&s).unwrap(), back.judge(&s).unwrap(), "{s:?}");
        }
    }
}
