//! The model a site's history trains, and the training.
//!
//! [`Model`] is what `DATA_DIR/model.json` holds: the template miner (always,
//! learning online even before any training) and, once trained, what the
//! history taught ([`Trained`]): which templates and which (host, template)
//! pairs are known, the per-line Isolation Forest over TF-IDF, the session
//! model, and learnt rate baselines. [`Trainer`] builds it from lines in
//! time order; it starts from the current miner so template ids never
//! change.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::auth::{classify, AuthEvent};
use super::engine::LineIn;
use super::sessions::{SessionModel, Tracker};
use super::tfidf::words;
use super::windows::{self, Window, WindowModel};
use super::{DetectError, IsolationForest, IsolationForestParams, SparseVec, TfidfVectorizer};
use crate::template::{TemplateId, TemplateMiner};

mod baselines;

pub use baselines::{rules, Baselines, Counted};
use baselines::{PeakLearner, BASELINE_KEYS};

/// Changes with any change of the serialized form of [`Model`]. 2: the
/// session model judges what a session contains (kinds, states, waits).
pub const MODEL_FORMAT: u32 = 2;

/// Lines sampled for the per-line forest.
const LINE_SAMPLE: usize = 20_000;
/// Host windows kept for the window model (a uniform sample beyond).
const WINDOW_SAMPLE: usize = 200_000;
/// Events of training sessions kept for the sequence model at most.
#[cfg(feature = "lstm")]
pub const SEQUENCE_EVENTS: usize = 2_000_000;
/// (host, template) pairs remembered at most.
pub const MAX_HOST_TEMPLATES: usize = 1_000_000;

/// The per-line forest's settings: the original design's Isolation Forest
/// over TF-IDF vectors; 0.1 % of training lines score as anomalies.
pub const LINE_FOREST: IsolationForestParams = IsolationForestParams {
    n_trees: 100,
    sample_size: 256,
    contamination: Some(0.001),
};

/// The per-line detector: TF-IDF of a line's template words, Isolation
/// Forest over those vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineForest {
    pub tfidf: TfidfVectorizer,
    pub forest: IsolationForest,
}

impl LineForest {
    /// The words the vectors are made of: the template's, without `<*>`.
    pub fn template_words(template: &str) -> Vec<String> {
        words(&template.replace("<*>", " "))
    }

    pub fn score(&self, template: &str) -> f64 {
        self.forest
            .score(&self.tfidf.transform(&Self::template_words(template)))
    }
}

/// What training learnt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trained {
    pub from_ms: i64,
    pub to_ms: i64,
    pub lines: u64,
    /// Templates with a smaller id were known at training.
    pub known_templates: u32,
    /// The families (see [`family`]) the history had, with how many hosts
    /// logged each.
    pub families: HashMap<u64, u32>,
    /// xxh3 of (host, family) for the pairs the history had.
    pub host_families: HashSet<u64>,
    pub hosts: u64,
    pub line_forest: Option<LineForest>,
    pub sessions: Option<SessionModel>,
    /// Per-host windows (see `windows`), when the history had enough.
    #[serde(default)]
    pub windows: Option<WindowModel>,
    /// Rate baselines that differ from the defaults (see [`Baselines`]).
    pub baselines: Baselines,
    /// The LSTM over the sessions' events, when asked for
    /// (`sequence-model`). An optional field that builds without it skip:
    /// not a change of format.
    #[cfg(feature = "lstm")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<super::sequence::SequenceModel>,
}

/// The whole model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub format: u32,
    pub templates: TemplateMiner,
    pub trained: Option<Trained>,
}

impl Model {
    pub fn new(templates: TemplateMiner) -> Model {
        Model {
            format: MODEL_FORMAT,
            templates,
            trained: None,
        }
    }

    pub fn to_json(&self) -> Result<String, DetectError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads a model of this format, or of format 1 without its session
    /// model (format 1's judged sessions by their set of events and a
    /// forest; the next training learns the new one), keeping its
    /// templates and everything else trained.
    pub fn from_json(json: &str) -> Result<Model, DetectError> {
        let mut value: serde_json::Value = serde_json::from_str(json)?;
        if value.get("format").and_then(serde_json::Value::as_u64) == Some(1) {
            value["format"] = MODEL_FORMAT.into();
            if let Some(trained) = value.get_mut("trained").and_then(|t| t.as_object_mut()) {
                trained.insert("sessions".into(), serde_json::Value::Null);
            }
            return Ok(serde_json::from_value(value)?);
        }
        super::read_model(json, MODEL_FORMAT)
    }
}

/// Tokens of a template that make its family.
pub const FAMILY_TOKENS: usize = 3;

/// A template's family: the hash of its first [`FAMILY_TOKENS`] tokens
/// (all but the last of a shorter one). Novelty is judged by family, not
/// by template: `alice : TTY=<*> ; ... COMMAND=<*> status nginx` and `...
/// COMMAND=<*> restart nginx` are two templates (the command's words are
/// words) but one kind of line, and so are `Hostname set to <web1>.` and
/// `Hostname set to <db1>.`, and `Disconnected from user carol <*> port
/// <*>` and `... user dave ...` (three tokens: names tend to come fourth,
/// after `for user`, `from user`, `session opened for`).
pub fn family(template: &str) -> u64 {
    let tokens: Vec<&str> = template.split_whitespace().collect();
    let n = FAMILY_TOKENS.min(tokens.len().saturating_sub(1)).max(1);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for t in tokens.iter().take(n) {
        h.update(t.as_bytes());
        h.update(&[0]);
    }
    h.update(&(tokens.len() as u64).min(n as u64 + 1).to_le_bytes());
    h.digest()
}

/// The hash of a source address, as the engine's windows count them.
pub fn ip_hash(ip: &IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => xxhash_rust::xxh3::xxh3_64(&v.octets()),
        IpAddr::V6(v) => xxhash_rust::xxh3::xxh3_64(&v.octets()),
    }
}

/// The hash of a host name.
pub fn host_hash(host: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(host.as_bytes())
}

/// The hash of a (host, family) pair.
pub fn host_family(host: u64, family: u64) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&host.to_le_bytes());
    h.update(&family.to_le_bytes());
    h.digest()
}

/// Builds a [`Model`] from lines in time order.
pub struct Trainer {
    miner: TemplateMiner,
    seed: u64,
    rng: StdRng,
    from_ms: i64,
    to_ms: i64,
    lines: u64,
    /// (template id, host hash) pairs of the history.
    host_templates: HashSet<(u32, u64)>,
    hosts: HashSet<String>,
    /// Reservoir of the lines' template ids.
    line_sample: Vec<TemplateId>,
    sessions: Option<Tracker>,
    /// Learns every closed session (its statistics are counts: no sample).
    session_model: Option<SessionModel>,
    failures: PeakLearner,
    connections: PeakLearner,
    connections_fast: PeakLearner,
    windows: windows::Tracker,
    /// A uniform sample of the history's windows.
    window_sample: Vec<Window>,
    windows_seen: u64,
    /// The sequence model's settings and the sessions it learns from.
    #[cfg(feature = "lstm")]
    sequence: Option<(super::sequence::SequenceParams, Vec<Vec<u32>>, usize)>,
}

impl Trainer {
    /// `miner`: the current one (its ids are kept). `session_regex`: the
    /// sessions to learn, if any; `idle_ms` as the engine's.
    pub fn new(
        miner: TemplateMiner,
        session_regex: Option<&str>,
        session_idle_ms: i64,
        seed: u64,
    ) -> Result<Trainer, DetectError> {
        let sessions = session_regex
            .map(|re| Tracker::new(re, session_idle_ms, 1_000_000))
            .transpose()?;
        Ok(Trainer {
            miner,
            seed,
            rng: StdRng::seed_from_u64(seed),
            from_ms: i64::MAX,
            to_ms: i64::MIN,
            lines: 0,
            host_templates: HashSet::new(),
            hosts: HashSet::new(),
            line_sample: Vec::new(),
            sessions,
            session_model: session_regex.map(SessionModel::new),
            failures: PeakLearner::new(rules::BURST.window_ms, rules::BURST.threshold),
            connections: PeakLearner::new(rules::FLOOD.window_ms, rules::FLOOD.threshold),
            connections_fast: PeakLearner::new(
                rules::FLOOD_FAST.window_ms,
                rules::FLOOD_FAST.threshold,
            ),
            windows: windows::Tracker::new(BASELINE_KEYS),
            window_sample: Vec::new(),
            windows_seen: 0,
            #[cfg(feature = "lstm")]
            sequence: None,
        })
    }

    /// Also trains the sequence model on the sessions (its first
    /// [`SEQUENCE_EVENTS`] events), if there is a session regex.
    #[cfg(feature = "lstm")]
    pub fn with_sequence(mut self, params: super::sequence::SequenceParams) -> Trainer {
        if self.sessions.is_some() {
            self.sequence = Some((params, Vec::new(), 0));
        }
        self
    }

    /// Keeps a closed session's events for the sequence model.
    fn keep_session(&mut self, events: &[u32]) {
        #[cfg(feature = "lstm")]
        if let Some((_, kept, n)) = &mut self.sequence {
            if *n + events.len() <= SEQUENCE_EVENTS {
                *n += events.len();
                kept.push(events.to_vec());
            }
        }
        #[cfg(not(feature = "lstm"))]
        let _ = events;
    }

    /// Learns one line.
    pub fn feed(&mut self, l: &LineIn<'_>) {
        let (line, at_ms, host, program, message) = (l.line, l.ts_ms, l.host, l.program, l.message);
        self.lines += 1;
        self.from_ms = self.from_ms.min(at_ms);
        self.to_ms = self.to_ms.max(at_ms);
        let (id, _) = self.miner.add_id(message);
        if self.host_templates.len() < MAX_HOST_TEMPLATES {
            self.host_templates.insert((id.0, host_hash(host)));
        }
        if !self.hosts.contains(host) {
            self.hosts.insert(host.to_string());
        }
        // Reservoir sampling (Algorithm R).
        if self.line_sample.len() < LINE_SAMPLE {
            self.line_sample.push(id);
        } else {
            let j = self.rng.gen_range(0..self.lines);
            if (j as usize) < LINE_SAMPLE {
                self.line_sample[j as usize] = id;
            }
        }
        let event = classify(program, message);
        let ip = event.as_ref().and_then(AuthEvent::ip);
        let error = l.severity.is_some_and(|s| s <= 3);
        if let Some((_, w)) =
            self.windows
                .add(host, at_ms, id.0, ip.map(|ip| ip_hash(&ip)), error, line)
        {
            self.keep_window(w);
        }
        match event {
            Some(AuthEvent::Failure { ip: Some(ip), .. }) => self
                .failures
                .observe(Baselines::key(Counted::Failures, host, &ip), at_ms),
            Some(AuthEvent::Connection { ip }) => {
                self.connections
                    .observe(Baselines::key(Counted::Connections, host, &ip), at_ms);
                self.connections_fast
                    .observe(Baselines::key(Counted::ConnectionsFast, host, &ip), at_ms);
            }
            _ => {}
        }
        if let Some(tracker) = &mut self.sessions {
            let mut closed = tracker.add(message, host, id.0, line, at_ms);
            closed.extend(tracker.close_idle(at_ms));
            for (_, s) in closed {
                if let Some(model) = &mut self.session_model {
                    model.learn(&s.events, &s.times);
                }
                self.keep_session(&s.events);
            }
        }
    }

    fn keep_window(&mut self, mut w: Window) {
        w.lines = Vec::new();
        self.windows_seen += 1;
        if self.window_sample.len() < WINDOW_SAMPLE {
            self.window_sample.push(w);
        } else {
            let j = self.rng.gen_range(0..self.windows_seen);
            if (j as usize) < WINDOW_SAMPLE {
                self.window_sample[j as usize] = w;
            }
        }
    }

    /// The model; `Empty` when no line was fed.
    pub fn finish(mut self) -> Result<Model, DetectError> {
        if self.lines == 0 {
            return Err(DetectError::Empty);
        }
        // Sessions still open when the history ends count as ending there
        // (their true end is unknown; this errs toward quiet).
        if let Some(mut tracker) = self.sessions.take() {
            for (_, s) in tracker.close_all() {
                if let Some(model) = &mut self.session_model {
                    model.learn(&s.events, &s.times);
                }
                self.keep_session(&s.events);
            }
        }
        #[cfg(feature = "lstm")]
        let sequence = match self.sequence.take() {
            Some((params, kept, n)) if n > 0 => {
                let refs: Vec<&[u32]> = kept.iter().map(Vec::as_slice).collect();
                Some(super::sequence::SequenceModel::train(
                    &refs, params, self.seed,
                )?)
            }
            _ => None,
        };
        for (_, w) in self.windows.close_all() {
            self.keep_window(w);
        }
        let windows = WindowModel::fit(&self.window_sample, self.seed)?;
        let line_forest = self.line_forest()?;
        let sessions = self.session_model.take().filter(|m| m.sessions > 0);
        // Families by the templates as they are at the end.
        let mut families: HashMap<u64, u32> = HashMap::new();
        let mut host_families = HashSet::new();
        for &(id, host) in &self.host_templates {
            let f = family(self.miner.template(TemplateId(id)));
            if host_families.insert(host_family(host, f)) {
                *families.entry(f).or_insert(0) += 1;
            }
        }
        let mut baselines = Baselines::default();
        self.failures.baselines(&mut baselines.thresholds);
        self.connections.baselines(&mut baselines.thresholds);
        self.connections_fast.baselines(&mut baselines.thresholds);
        let trained = Trained {
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            lines: self.lines,
            known_templates: self.miner.len() as u32,
            families,
            host_families,
            hosts: self.hosts.len() as u64,
            line_forest,
            sessions,
            windows,
            baselines,
            #[cfg(feature = "lstm")]
            sequence,
        };
        Ok(Model {
            format: MODEL_FORMAT,
            templates: self.miner,
            trained: Some(trained),
        })
    }

    /// TF-IDF over the sampled lines' templates (as they are at the end),
    /// and the forest over those vectors.
    fn line_forest(&self) -> Result<Option<LineForest>, DetectError> {
        let docs: Vec<Vec<String>> = self
            .line_sample
            .iter()
            .map(|&id| LineForest::template_words(self.miner.template(id)))
            .collect();
        if docs.iter().all(Vec::is_empty) {
            return Ok(None);
        }
        let tfidf = TfidfVectorizer::fit(&docs)?;
        let vectors: Vec<SparseVec> = docs.iter().map(|d| tfidf.transform(d)).collect();
        let forest = IsolationForest::fit(&vectors, LINE_FOREST, self.seed)?;
        Ok(Some(LineForest { tfidf, forest }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::engine::LineIn;
    use crate::template::MinerConfig;

    /// An upgrade from format 1 must not cost the site its templates (their
    /// ids are in every stored anomaly) or its baselines: only the old
    /// session model goes, and the next training learns the new one.
    #[test]
    fn a_format_1_model_is_read_without_its_session_model() {
        let mut t = Trainer::new(
            TemplateMiner::new(MinerConfig::default()),
            Some(r"blk_\d+"),
            0,
            0,
        )
        .unwrap();
        for i in 0..200u64 {
            let message = format!("Receiving block blk_{} from 10.0.0.{}", i / 4, i % 7);
            t.feed(&LineIn {
                line: i + 1,
                ts_ms: i as i64 * 1000,
                host: "h",
                program: "hdfs",
                message: &message,
                severity: None,
            });
        }
        let model = t.finish().unwrap();
        assert!(model.trained.as_ref().unwrap().sessions.is_some());
        let mut old: serde_json::Value = serde_json::from_str(&model.to_json().unwrap()).unwrap();
        old["format"] = 1.into();
        old["trained"]["sessions"] = serde_json::json!({
            "regex": r"blk_\d+", "counter": {}, "forest": {}, "sets": {}, "sessions": 50
        });
        let read = Model::from_json(&old.to_string()).unwrap();
        assert_eq!(read.format, MODEL_FORMAT);
        assert_eq!(read.templates.len(), model.templates.len());
        let trained = read.trained.unwrap();
        assert!(trained.sessions.is_none());
        assert_eq!(trained.lines, 200);
        // Any other format is refused, naming both.
        old["format"] = 9.into();
        assert!(matches!(
            Model::from_json(&old.to_string()),
            Err(DetectError::Version { found: 9, .. })
        ));
    }
}
