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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

mod open;
mod rates;

use super::anomaly::{human_ms, logq_command, rfc3339_ms, Anomaly};
use super::auth::{classify, AuthEvent};
use super::model::{family, host_family, host_hash, rules, Baselines, Model};
use super::rate::RateDetector;
use super::sessions::{SessionModel, Tracker};
use super::windows::{self, WindowModel};
use super::DetectError;
use crate::template::TemplateId;
use open::{add_line, blank, finalize, hash_ip, new_open, Ent, Open};

const MIN: i64 = 60_000;
/// How long a novelty anomaly stays open to gather its lines.
const NOVELTY_QUIET_MS: i64 = 60 * MIN;
/// A kind of line new to a host is an anomaly when fewer than this share
/// of the hosts logged it in training.
const NEW_FOR_HOST_SHARE: f64 = 0.5;

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
        self.novelty(l, id, is_new, &mut flag);
        if line_score == Some(-1) && self.config.line_forest_alerts {
            let template = self.model.templates.template(id).to_string();
            self.touch_or_open(
                &mut flag,
                "rare-message",
                Ent::Template(id.0),
                l,
                NOVELTY_QUIET_MS,
                1.0,
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

    fn line_score(&mut self, id: TemplateId) -> Option<i8> {
        let forest = self.model.trained.as_ref()?.line_forest.as_ref()?;
        let text = self.model.templates.template(id);
        if let Some(&(len, v)) = self.line_scores.get(&id.0) {
            if len == text.len() {
                return Some(v);
            }
        }
        let v = if forest.score(text) > forest.forest.threshold() {
            -1
        } else {
            1
        };
        if self.line_scores.len() < 1_000_000 {
            self.line_scores.insert(id.0, (text.len(), v));
        }
        Some(v)
    }

    fn baselines(&self) -> Option<&Baselines> {
        self.model.trained.as_ref().map(|t| &t.baselines)
    }

    fn novelty(&mut self, l: &LineIn<'_>, id: TemplateId, is_new: bool, flag: &mut Option<u64>) {
        let Some(trained) = &mut self.model.trained else {
            return;
        };
        if id == TemplateId::OVERFLOW {
            return;
        }
        let text = self.model.templates.template(id);
        let fam = match self.families.get(&id.0) {
            Some(&(len, f)) if len == text.len() => f,
            _ => {
                let f = family(text);
                if self.families.len() < 1_000_000 {
                    self.families.insert(id.0, (text.len(), f));
                }
                f
            }
        };
        let pair = host_family(host_hash(l.host), fam);
        let known_here = trained.host_families.contains(&pair);
        let fleet = trained.families.get(&fam).copied().unwrap_or(0);
        if !known_here && trained.host_families.len() < super::model::MAX_HOST_TEMPLATES {
            trained.host_families.insert(pair);
        }
        // A new family is news; a template new in a known family is not.
        let is_new = (is_new || id.0 >= trained.known_templates) && fleet == 0;
        // New to this host, and logged by few hosts of the fleet (not a
        // reboot's lines, which half the fleet logged in a week).
        let new_here = !known_here
            && fleet > 0
            && f64::from(fleet) < NEW_FOR_HOST_SHARE * trained.hosts as f64;
        if is_new {
            trained.families.insert(fam, 1);
            let ent = Ent::Template(id.0);
            if self.open.contains_key(&ent.id("new-template")) || self.new_alerted.insert(id.0) {
                let template = self.model.templates.template(id).to_string();
                self.touch_or_open(flag, "new-template", ent, l, NOVELTY_QUIET_MS, 1.0, || {
                    (
                        format!("a message of a kind never seen before: {template}"),
                        template.clone(),
                    )
                });
            }
        } else if new_here {
            let hosts = fleet;
            let template = self.model.templates.template(id).to_string();
            self.touch_or_open(flag, "new-for-host", Ent::Host(l.host), l, NOVELTY_QUIET_MS, 1.0, || {
                (
                    format!("{} logged messages of kinds it never logged before, which {hosts} other host(s) logged in training, such as: {template}", l.host),
                    template.clone(),
                )
            });
        }
    }

    /// Adds the line to the open anomaly of `kind key`, or opens one.
    #[allow(clippy::too_many_arguments)]
    fn touch_or_open(
        &mut self,
        flag: &mut Option<u64>,
        kind: &str,
        ent: Ent<'_>,
        l: &LineIn<'_>,
        quiet_ms: i64,
        score: f64,
        explain: impl FnOnce() -> (String, String),
    ) {
        let k = ent.id(kind);
        if let Some(o) = self.open.get_mut(&k) {
            add_line(o, l, "");
        } else {
            let (explanation, template) = explain();
            let mut o = new_open(
                kind,
                &ent.key(),
                l,
                l.ts_ms,
                quiet_ms,
                "never seen in training".into(),
                &ent.words(),
            );
            add_line(&mut o, l, "");
            o.a.score = score;
            o.a.template = Some(template);
            o.a.explanation = explanation;
            o.a.baseline = o.rule.clone();
            finalize(&mut o);
            o.reason = o.a.reason();
            self.report(Report::Opened(o.a.clone()));
            self.open.insert(k, o);
        }
        flag.get_or_insert(k);
    }

    fn score_sessions(&mut self, closed: Vec<(String, super::sessions::OpenSession)>) {
        let Some((_, Some(model))) = &self.sessions else {
            return;
        };
        let mut found = Vec::new();
        for (id, s) in closed {
            let v = model.score(&s.events);
            if !v.anomalous {
                continue;
            }
            let mut why = Vec::new();
            if v.rare_set {
                why.push(format!(
                    "its set of {} kinds of events occurred in {} of {} training sessions",
                    s.events.iter().collect::<BTreeSet<_>>().len(),
                    v.set_seen,
                    model.sessions
                ));
            }
            if v.forest_score > v.forest_threshold {
                why.push(format!(
                    "the Isolation Forest over its event counts scores {:.3} (threshold {:.3})",
                    v.forest_score, v.forest_threshold
                ));
            }
            let key = format!("session={id}");
            let mut a = blank("session", &key, Some(&s.host), s.first_ms, self.clock_ms);
            a.score = v.forest_score;
            a.count = s.count;
            a.baseline = format!("{} training sessions", model.sessions);
            a.last_ts = rfc3339_ms(s.last_ms);
            a.lines = s.lines.clone();
            a.first_line = s.lines.first().copied().unwrap_or(0);
            a.last_line = s.lines.last().copied().unwrap_or(0);
            a.session = Some(id.clone());
            a.explanation = format!("session {id} ({} lines): {}", s.count, why.join("; "));
            a.logq = logq_command(Some(&s.host), s.first_ms, s.last_ms, &id);
            found.push(a);
        }
        for a in found {
            self.report(Report::Closed(a));
        }
    }

    fn score_windows(&mut self, closed: Vec<(String, windows::Window)>) {
        let Some((_, Some(model))) = &self.windows else {
            return;
        };
        let mut found = Vec::new();
        for (host, w) in closed {
            let (score, excess) = model.score(&w);
            if excess.is_empty() {
                continue;
            }
            let what: Vec<String> = excess
                .iter()
                .take(3)
                .map(|e| match e.template {
                    Some(t) => format!(
                        "{} lines of \"{}\" (at most {} in a window of the history)",
                        e.value,
                        self.model.templates.template(TemplateId(t)),
                        e.max_seen
                    ),
                    None => format!(
                        "{} distinct source addresses (at most {} in a window of the history)",
                        e.value, e.max_seen
                    ),
                })
                .collect();
            let end = w.start_ms + windows::WINDOW_MS;
            let key = format!("host={host}");
            let mut a = blank("host-window", &key, Some(&host), w.start_ms, self.clock_ms);
            a.score = score;
            a.count = u64::from(w.total);
            a.baseline = format!(
                "{} windows of {} of the history",
                model.windows,
                human_ms(windows::WINDOW_MS)
            );
            a.last_ts = rfc3339_ms(end - 1);
            a.first_line = w.lines.first().copied().unwrap_or(0);
            a.last_line = w.lines.last().copied().unwrap_or(0);
            a.lines = w.lines;
            a.template = excess
                .first()
                .and_then(|e| e.template)
                .map(|t| self.model.templates.template(TemplateId(t)).to_string());
            a.explanation = format!(
                "{host}'s {} from {} (Isolation Forest score {score:.3}; the history's 99th percentile {:.3}): {}",
                human_ms(windows::WINDOW_MS),
                rfc3339_ms(w.start_ms),
                model.threshold(),
                what.join("; ")
            );
            a.logq = logq_command(Some(&host), w.start_ms, end - 1, "");
            found.push(a);
        }
        for a in found {
            self.report(Report::Closed(a));
        }
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
