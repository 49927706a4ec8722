//! Per-host windows: every `WINDOW_MS` of a host's lines is a vector (how
//! many lines of each template, how many distinct source addresses, the
//! share of lines at err or worse), scored by an Isolation Forest trained
//! on the history's windows.
//!
//! A window is anomalous when some count is over twice its largest value
//! in any window of the history, and at least [`MIN_EXCESS`]: a template's
//! lines (a baseline per template, learnt from the history), or the
//! distinct source addresses. The forest's score ranks such windows and is
//! reported, but does not decide: measured, a window far beyond the
//! history's range ends in the same leaf as the history's extreme windows,
//! so it scores no higher than they do, and its 99th-percentile threshold
//! flags 1 % of ordinary windows by construction (for five hosts, seven a
//! day).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{DetectError, IsolationForest, IsolationForestParams, SparseVec};

/// The width of a window (tumbling, aligned to the epoch).
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// Training windows needed for a model.
pub const MIN_WINDOWS: usize = 50;
/// A count must reach this, as well as twice its history's largest, to be
/// anomalous: a kind of line seen at most twice in a window is not news
/// when it comes five times.
pub const MIN_EXCESS: f64 = 20.0;
/// Distinct addresses counted per window at most.
const MAX_IPS: usize = 100_000;
/// Lines listed per window.
const MAX_LINES: usize = 1000;
const FOREST: IsolationForestParams = IsolationForestParams {
    n_trees: 100,
    sample_size: 256,
    contamination: Some(0.01),
};

/// One host's window being gathered.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub start_ms: i64,
    pub counts: HashMap<u32, u32>,
    pub ips: HashSet<u64>,
    pub errors: u32,
    pub total: u32,
    pub lines: Vec<u64>,
}

/// Windows of many hosts, bounded by `max_hosts`.
#[derive(Debug)]
pub struct Tracker {
    max_hosts: usize,
    open: HashMap<String, Window>,
}

impl Tracker {
    pub fn new(max_hosts: usize) -> Tracker {
        Tracker {
            max_hosts: max_hosts.max(1),
            open: HashMap::new(),
        }
    }

    /// Adds a line; returns the host's previous window when this line
    /// starts a new one.
    pub fn add(
        &mut self,
        host: &str,
        at_ms: i64,
        template: u32,
        ip: Option<u64>,
        error: bool,
        line: u64,
    ) -> Option<(String, Window)> {
        let start = at_ms - at_ms.rem_euclid(WINDOW_MS);
        let mut closed = None;
        if let Some(w) = self.open.get_mut(host) {
            if start > w.start_ms {
                let old = std::mem::take(w);
                closed = Some((host.to_string(), old));
                w.start_ms = start;
            }
        } else {
            if self.open.len() >= self.max_hosts {
                // A host flood: forget the windows (they only ever miss).
                self.open.clear();
            }
            self.open.insert(
                host.to_string(),
                Window {
                    start_ms: start,
                    ..Window::default()
                },
            );
        }
        let w = self.open.get_mut(host).expect("inserted above");
        *w.counts.entry(template).or_insert(0) += 1;
        if let Some(ip) = ip {
            if w.ips.len() < MAX_IPS {
                w.ips.insert(ip);
            }
        }
        w.errors += u32::from(error);
        w.total += 1;
        if w.lines.len() < MAX_LINES {
            w.lines.push(line);
        }
        closed
    }

    /// Closes the windows that ended before `now_ms`.
    pub fn close_ended(&mut self, now_ms: i64) -> Vec<(String, Window)> {
        let ended: Vec<String> = self
            .open
            .iter()
            .filter(|(_, w)| w.start_ms + WINDOW_MS <= now_ms)
            .map(|(h, _)| h.clone())
            .collect();
        let mut out: Vec<(String, Window)> = ended
            .into_iter()
            .filter_map(|h| self.open.remove(&h).map(|w| (h, w)))
            .collect();
        out.sort_by(|a, b| (a.1.start_ms, &a.0).cmp(&(b.1.start_ms, &b.0)));
        out
    }

    pub fn close_all(&mut self) -> Vec<(String, Window)> {
        self.close_ended(i64::MAX)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// What is out of range in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Excess {
    /// `None` for distinct addresses.
    pub template: Option<u32>,
    pub value: f64,
    pub max_seen: f64,
}

/// The trained window model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowModel {
    /// Template id → feature; features `n` and `n + 1` are the distinct
    /// addresses and the error share.
    features: BTreeMap<u32, u32>,
    /// Each feature's largest value in the history.
    max: Vec<f64>,
    forest: IsolationForest,
    /// The forest's threshold: the 99th percentile of the history's scores.
    threshold: f64,
    pub windows: u64,
}

impl WindowModel {
    fn raw(features: &BTreeMap<u32, u32>, w: &Window) -> Vec<(u32, f64)> {
        let n = features.len() as u32;
        let mut v: Vec<(u32, f64)> = w
            .counts
            .iter()
            .filter_map(|(t, &c)| features.get(t).map(|&f| (f, f64::from(c))))
            .collect();
        v.push((n, w.ips.len() as f64));
        if w.total > 0 {
            v.push((n + 1, f64::from(w.errors) / f64::from(w.total)));
        }
        v.sort_unstable_by_key(|&(f, _)| f);
        v
    }

    /// The forest's input: counts on a log scale (a burst of 1,000 and one
    /// of 1,100 are alike; 5 and 500 are not).
    fn vector(raw: &[(u32, f64)]) -> SparseVec {
        let mut v = SparseVec::default();
        for &(f, x) in raw {
            if x != 0.0 {
                v.indices.push(f);
                v.values.push(x.ln_1p());
            }
        }
        v
    }

    pub fn fit(windows: &[Window], seed: u64) -> Result<Option<WindowModel>, DetectError> {
        if windows.len() < MIN_WINDOWS {
            return Ok(None);
        }
        let mut features = BTreeMap::new();
        for w in windows {
            for t in w.counts.keys() {
                let next = features.len() as u32;
                features.entry(*t).or_insert(next);
            }
        }
        let n = features.len() + 2;
        let mut max = vec![0.0; n];
        let raws: Vec<Vec<(u32, f64)>> = windows.iter().map(|w| Self::raw(&features, w)).collect();
        for raw in &raws {
            for &(f, x) in raw {
                max[f as usize] = f64::max(max[f as usize], x);
            }
        }
        let vectors: Vec<SparseVec> = raws.iter().map(|r| Self::vector(r)).collect();
        let forest = IsolationForest::fit(&vectors, FOREST, seed)?;
        let threshold = forest.threshold();
        Ok(Some(WindowModel {
            features,
            max,
            forest,
            threshold,
            windows: windows.len() as u64,
        }))
    }

    /// The window's forest score and what is over twice its largest value
    /// in the history and at least [`MIN_EXCESS`] (largest excess first):
    /// the window is anomalous when that is not empty.
    pub fn score(&self, w: &Window) -> (f64, Vec<Excess>) {
        let raw = Self::raw(&self.features, w);
        let score = self.forest.score(&Self::vector(&raw));
        let n = self.features.len() as u32;
        let by_feature: HashMap<u32, u32> = self.features.iter().map(|(&t, &f)| (f, t)).collect();
        let mut excess: Vec<Excess> = raw
            .iter()
            .filter(|&&(f, x)| f != n + 1 && x >= MIN_EXCESS && x > 2.0 * self.max[f as usize])
            .map(|&(f, x)| Excess {
                template: by_feature.get(&f).copied(),
                value: x,
                max_seen: self.max[f as usize],
            })
            .collect();
        excess.sort_by(|a, b| {
            (b.value / b.max_seen.max(1.0)).total_cmp(&(a.value / a.max_seen.max(1.0)))
        });
        (score, excess)
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(counts: &[(u32, u32)], ips: u64) -> Window {
        Window {
            start_ms: 0,
            counts: counts.iter().copied().collect(),
            ips: (0..ips).collect(),
            errors: 0,
            total: counts.iter().map(|c| c.1).sum(),
            lines: Vec::new(),
        }
    }

    #[test]
    fn a_window_far_outside_the_history_alerts_and_names_what_is_out_of_range() {
        // History: cron and logins at ordinary rates.
        let history: Vec<Window> = (0..300)
            .map(|i| window(&[(1, 10 + i % 5), (2, 3 + i % 3)], 2 + u64::from(i % 3)))
            .collect();
        let m = WindowModel::fit(&history, 1).unwrap().unwrap();
        let (_, ordinary) = m.score(&window(&[(1, 12), (2, 4)], 3));
        assert!(ordinary.is_empty());
        // Twice the history's largest, but a handful of lines: not news.
        let (_, few) = m.score(&window(&[(1, 12), (2, 15)], 3));
        assert!(few.is_empty(), "{few:?}");
        // 900 lines of template 2 from 400 addresses.
        let (_, excess) = m.score(&window(&[(1, 11), (2, 900)], 400));
        assert_eq!(excess[0].template, Some(2), "{excess:?}");
        assert!(excess
            .iter()
            .any(|e| e.template.is_none() && e.value == 400.0));
    }

    #[test]
    fn windows_close_when_the_next_one_starts() {
        let mut t = Tracker::new(10);
        assert!(t.add("web1", 1000, 1, None, false, 1).is_none());
        assert!(t.add("web1", WINDOW_MS - 1, 1, Some(7), true, 2).is_none());
        let (host, w) = t.add("web1", WINDOW_MS, 2, None, false, 3).unwrap();
        assert_eq!(
            (host.as_str(), w.total, w.errors, w.ips.len()),
            ("web1", 2, 1, 1)
        );
        assert_eq!(t.close_ended(2 * WINDOW_MS).len(), 1);
        assert!(t.is_empty());
    }
}
