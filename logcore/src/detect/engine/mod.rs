//! The detectors run on every line as it comes, in collectord and in
//! `collectord replay` alike: one [`Engine`], fed lines in order, with the
//! lines' own timestamps as its clock.
//!
//! - Rates (`rules`): failed-login bursts and low-and-slow guessing per
//!   source address, invalid-user scans (distinct non-existent users per
//!   address), distributed guessing (one user, many addresses),
//!   a success after failures, connection floods. Fixed floors (fail2ban's
//!   5 in 10 minutes for bursts), raised per (host, address) where the
//!   history shows a recurring higher rate (`model::Baselines`).
//! - Novelty (trained): a template never seen before; a known template
//!   from a host that never logged it (grouped per host).
//! - Sessions (trained, with a session regex): see `sessions`.
//! - The per-line Isolation Forest over TF-IDF (trained): a verdict, -1 or
//!   1, for every line; an alert only with `line_forest_alerts`, because
//!   rarity is not an attack (F1 0.036 on HDFS blocks, and none of a brute
//!   force's lines are rare).
//!
//! An anomaly is *opened* when a detector fires (lines that belong to it
//! from then on are flagged) and *closed* when its entity has been quiet
//! for the rule's window; both are reported. Memory is bounded: every map
//! is capped (`EngineConfig::max_keys`, the miner's `max_templates`, the
//! session tracker's `max_open`).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

mod open;
mod rates;
mod trained;

use super::anomaly::Anomaly;
use super::auth::{classify, AuthEvent};
use super::model::{rules, Baselines, Model};
use super::rate::RateDetector;
use super::sessions::{SessionModel, Tracker};
use super::windows::{self, WindowModel};
use super::DetectError;
use crate::template::TemplateId;
use open::{finalize, hash_ip, Ent, Open};

const MIN: i64 = 60_000;
/// How long a novelty anomaly stays open to gather its lines.
const NOVELTY_QUIET_MS: i64 = 60 * MIN;

/// How the engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Lines sharing the first capture (or the match) are a session.
    pub session_regex: Option<String>,
    /// A session ends when no line named it for this long; 0: only at the
    /// end of the input.
    pub session_idle_ms: i64,
    /// Keys per rate detector, open sessions.
    pub max_keys: usize,
    /// Alert on lines the per-line forest calls -1.
    pub line_forest_alerts: bool,
    /// Train the sequence model (LSTM) with the session model, and judge
    /// closed sessions with it too (feature `lstm`; without it, ignored).
    pub sequence_model: bool,
    /// Reports list their line numbers (`replay`); the daemon's numbers
    /// mean nothing to a reader, its reports give the `logq` command.
    pub list_lines: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            session_regex: None,
            session_idle_ms: 30 * MIN,
            max_keys: 100_000,
            line_forest_alerts: false,
            sequence_model: false,
            list_lines: true,
        }
    }
}

/// One line for the engine.
#[derive(Debug, Clone, Copy)]
pub struct LineIn<'a> {
    /// The caller's number for the line (1-based across replayed files).
    pub line: u64,
    /// The line's time, milliseconds since the epoch.
    pub ts_ms: i64,
    pub host: &'a str,
    pub program: &'a str,
    pub message: &'a str,
    /// 0 (emerg) ..= 7 (debug), when the line says.
    pub severity: Option<u8>,
}

impl<'a> LineIn<'a> {
    /// A stored or replayed record as line `line`, timed by its event time.
    pub fn of(line: u64, r: &'a crate::record::Record) -> LineIn<'a> {
        LineIn {
            line,
            ts_ms: r.event_time_ms,
            host: &r.host,
            program: r.program.as_deref().unwrap_or(""),
            message: &r.message,
            severity: r.severity,
        }
    }
}

/// What the engine says about one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub template: TemplateId,
    /// The per-line forest's -1 or 1; `None` before training.
    pub line_score: Option<i8>,
    /// The open anomaly this line belongs to: its id and a one-line reason.
    pub anomaly: Option<(String, String)>,
}

/// An anomaly opened (a detector fired) or closed (its episode ended).
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Opened(Anomaly),
    Closed(Anomaly),
}

/// The detectors; see the module docs.
pub struct Engine {
    config: EngineConfig,
    model: Model,
    burst: RateDetector<IpAddr>,
    scan: RateDetector<IpAddr>,
    /// (address, user) pairs of invalid users seen lately, with their time.
    scan_pairs: HashMap<u64, i64>,
    slow: RateDetector<IpAddr>,
    /// Keyed by the hash of the user name.
    users: RateDetector<u64>,
    flood: RateDetector<IpAddr>,
    flood_fast: RateDetector<IpAddr>,
    /// Learnt baselines' own detectors, by baseline key.
    learned: HashMap<String, RateDetector<()>>,
    open: HashMap<u64, Open>,
    reports: Vec<Report>,
    sessions: Option<(Tracker, Option<SessionModel>)>,
    windows: Option<(windows::Tracker, Option<WindowModel>)>,
    line_scores: HashMap<u32, (usize, i8)>,
    /// Template id → (its text's length, its family), while the text holds.
    families: HashMap<u32, (usize, u64)>,
    new_alerted: HashSet<u32>,
    clock_ms: i64,
    swept_ms: i64,
}

impl Engine {
    pub fn new(model: Model, config: EngineConfig) -> Result<Engine, DetectError> {
        let keys = config.max_keys.max(1);
        let session_model = model
            .trained
            .as_ref()
            .and_then(|t| t.sessions.clone())
            .filter(|s| Some(&s.regex) == config.session_regex.as_ref());
        let sessions = config
            .session_regex
            .as_deref()
            .map(|re| Tracker::new(re, config.session_idle_ms, keys))
            .transpose()?
            .map(|t| (t, session_model));
        let window_model = model.trained.as_ref().and_then(|t| t.windows.clone());
        let windows = Some((windows::Tracker::new(keys), window_model));
        Ok(Engine {
            windows,
            burst: RateDetector::new(rules::BURST, keys)?,
            scan: RateDetector::new(rules::SCAN, keys)?,
            scan_pairs: HashMap::new(),
            slow: RateDetector::new(rules::SLOW, keys)?,
            users: RateDetector::new(rules::DISTRIBUTED, keys)?,
            flood: RateDetector::new(rules::FLOOD, keys)?,
            flood_fast: RateDetector::new(rules::FLOOD_FAST, keys)?,
            learned: HashMap::new(),
            open: HashMap::new(),
            reports: Vec::new(),
            sessions,
            line_scores: HashMap::new(),
            families: HashMap::new(),
            new_alerted: HashSet::new(),
            clock_ms: i64::MIN,
            swept_ms: i64::MIN,
            config,
            model,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Replaces the trained part of the model (a retraining finished); the
    /// miner in use stays, as it has learnt since.
    pub fn set_trained(&mut self, trained: super::model::Trained) {
        if let Some((_, model)) = &mut self.windows {
            *model = trained.windows.clone();
        }
        self.model.trained = Some(trained);
        self.line_scores.clear();
        if let Some((_, model)) = &mut self.sessions {
            *model = self
                .model
                .trained
                .as_ref()
                .and_then(|t| t.sessions.clone())
                .filter(|s| Some(&s.regex) == self.config.session_regex.as_ref());
        }
    }

    /// Entries held by the rate detectors, open anomalies and sessions:
    /// what a million new addresses must not grow without bound.
    pub fn state_size(&self) -> usize {
        self.burst.len()
            + self.scan.len()
            + self.scan_pairs.len()
            + self.slow.len()
            + self.users.len()
            + self.flood.len()
            + self.flood_fast.len()
            + self.learned.len()
            + self.open.len()
            + self.line_scores.len()
            + self.sessions.as_ref().map_or(0, |(t, _)| t.len())
            + self.windows.as_ref().map_or(0, |(t, _)| t.len())
    }

    fn report(&mut self, mut r: Report) {
        let (Report::Opened(a) | Report::Closed(a)) = &mut r;
        a.escape_text();
        if !self.config.list_lines {
            a.lines = Vec::new();
            a.first_line = 0;
            a.last_line = 0;
        }
        self.reports.push(r);
    }

    /// Takes the reports made so far.
    pub fn take_reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }

    /// Runs every detector on one line.
    pub fn observe(&mut self, l: &LineIn<'_>) -> Verdict {
        self.clock_ms = self.clock_ms.max(l.ts_ms);
        let (id, is_new) = self.model.templates.add_id(l.message);
        let line_score = self.line_score(id);
        let mut flag: Option<u64> = None;
        let event = classify(l.program, l.message);
        let auth_event = event.is_some();
        let ip = event.as_ref().and_then(AuthEvent::ip);
        if let Some(event) = event {
            self.rates(l, event, &mut flag);
        }
        if let Some((tracker, Some(_))) = &mut self.windows {
            let error = l.severity.is_some_and(|s| s <= 3);
            let ip = ip.map(|ip| hash_ip(&ip, ""));
            if let Some(closed) = tracker.add(l.host, l.ts_ms, id.0, ip, error, l.line) {
                self.score_windows(vec![closed]);
            }
        }
        self.novelty(l, id, is_new, auth_event, &mut flag);
        if line_score == Some(-1) && self.config.line_forest_alerts {
            let template = self.model.templates.template(id).to_string();
            self.touch_or_open(
                &mut flag,
                "rare-message",
                Ent::Template(id.0),
                l,
                NOVELTY_QUIET_MS,
                1.0,
                crate::detect::anomaly::Priority::Alert,
                || {
                    (
                        format!("the per-line forest scores template {} as rare", id.0),
                        template.clone(),
                    )
                },
            );
        }
        if let Some((tracker, _)) = &mut self.sessions {
            let closed = tracker.add(l.message, l.host, id.0, l.line, l.ts_ms);
            self.score_sessions(closed);
        }
        if self.clock_ms >= self.swept_ms.saturating_add(1000) {
            self.sweep(self.clock_ms);
        }
        let anomaly = flag.and_then(|k| {
            self.open.get(&k).map(|o| {
                (
                    o.a.id.clone(),
                    crate::text::cleaned(format!("{} {}: {}", o.a.kind, o.a.key, o.a.explanation)),
                )
            })
        });
        Verdict {
            template: id,
            line_score,
            anomaly,
        }
    }

    /// Closes what has been quiet long enough at `now_ms` (the daemon calls
    /// it with the wall clock when lines stop coming).
    pub fn tick(&mut self, now_ms: i64) {
        self.clock_ms = self.clock_ms.max(now_ms);
        self.sweep(self.clock_ms);
    }

    /// The end of the input: every open anomaly and session is closed.
    pub fn finish(&mut self) {
        let mut keys: Vec<u64> = self.open.keys().copied().collect();
        keys.sort_by_key(|k| (self.open[k].a.first_line, *k));
        for k in keys {
            self.close(k);
        }
        if let Some((tracker, _)) = &mut self.sessions {
            let closed = tracker.close_all();
            self.score_sessions(closed);
        }
        if let Some((tracker, _)) = &mut self.windows {
            let closed = tracker.close_all();
            self.score_windows(closed);
        }
    }

    fn baselines(&self) -> Option<&Baselines> {
        self.model.trained.as_ref().map(|t| &t.baselines)
    }

    fn sweep(&mut self, now: i64) {
        self.swept_ms = now;
        let mut quiet: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| now - o.last_ms > o.quiet_ms)
            .map(|(k, _)| *k)
            .collect();
        quiet.sort_by_key(|k| (self.open[k].a.first_line, *k));
        for k in quiet {
            self.close(k);
        }
        if let Some((tracker, _)) = &mut self.sessions {
            let closed = tracker.close_idle(now);
            self.score_sessions(closed);
        }
        if let Some((tracker, _)) = &mut self.windows {
            let closed = tracker.close_ended(now);
            self.score_windows(closed);
        }
    }

    fn close(&mut self, k: u64) {
        if let Some(mut o) = self.open.remove(&k) {
            finalize(&mut o);
            self.report(Report::Closed(o.a));
        }
    }
}

#[cfg(test)]
mod tests;
