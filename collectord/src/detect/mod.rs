//! The detectors in the daemon: every stored line goes through one
//! [`Engine`] on the writer thread (before its document is made, so its
//! flag is in the index), anomalies are appended to `anomalies.log`, and
//! the model is trained again in the background.
//!
//! - Cold start: without `model.json` the template miner learns from the
//!   first line and the rate rules run with their fixed floors; the other
//!   detectors need a training. The first one starts at once when the index
//!   held lines at start (on a new data directory: `retrain-hours` after the
//!   first line), then every `retrain-hours`, over the `train-days` before
//!   the newest stored line (not before now: logs shipped late are history).
//! - A training runs on its own thread, on the index as committed (read
//!   like logq reads it), from a copy of the live miner; the writer takes
//!   the result at its next tick, keeps its own miner (which has learnt
//!   since) and saves `model.json`.
//! - `collectord train` writes `model.json` too: the writer notices the
//!   file changed (it checks every tick) and takes its trained part.
//! - `anomalies.log`: one JSON object per line, `"state": "open"` when a
//!   detector fires and `"closed"` with the final counts when the episode
//!   ends; written as they happen, fsynced with each commit.
//! - `flagged.log`: for each anomaly a rate rule opened, the time range and
//!   entity of the lines it counted before it fired (stored before
//!   anything was known, so unflagged in the index); `logq` joins them
//!   (`logcore::detect::flagged`).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use logcore::detect::anomaly::Priority;
use logcore::detect::{flagged, Anomaly, Engine, EngineConfig, LineIn, Model, Report};
use logcore::record::{flags, Record};
use logcore::template::{MinerConfig, TemplateMiner};
use serde::Serialize;
use tracing::{error, info, warn};

mod append;
pub mod digest;
pub mod history;
pub mod offline;

use self::append::AppendLog;
use self::offline::{load_model, model_path, save_model};

/// The detectors' options, from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectOptions {
    pub enabled: bool,
    pub engine: EngineConfig,
    pub train_days: u32,
    pub retrain_hours: u32,
}

impl DetectOptions {
    pub fn from_config(config: &crate::config::Config) -> DetectOptions {
        DetectOptions {
            enabled: config.detect,
            engine: offline::engine_config(config),
            train_days: config.train_days,
            retrain_hours: config.retrain_hours,
        }
    }
}

/// How often the miner's state is saved besides trainings and shutdown.
const SAVE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Serialize)]
struct Logged<'a> {
    state: &'static str,
    #[serde(flatten)]
    anomaly: &'a Anomaly,
}

/// See the module docs.
pub struct Detector {
    data_dir: PathBuf,
    options: DetectOptions,
    engine: Engine,
    /// `anomalies.log`.
    log: AppendLog,
    /// `flagged.log`: the lines each anomaly counted before it fired.
    flagged: AppendLog,
    line: u64,
    /// The model file's modification time when last read or written.
    model_mtime: Option<SystemTime>,
    last_save: Instant,
    last_training: Option<Instant>,
    training: Option<mpsc::Receiver<anyhow::Result<Model>>>,
    /// The index held lines at start (a training has something to read).
    has_history: bool,
    /// Anomalies opened since the start, for STATUS.
    pub opened: u64,
    attempts: Attempts,
    /// What of the anomalies reaches the journal (`digest.rs`).
    digest: digest::Digest,
    last_summary_ms: i64,
    /// The newest line's event time, and the wall clock when it came: the
    /// detectors' clock (see [`Detector::tick`]).
    newest_line: Option<(i64, i64)>,
}

/// The file that remembers a training was started, across restarts.
const ATTEMPT_FILE: &str = "training.attempt";

/// The first retry of a training that did not finish (collectord stopped
/// or crashed during it) waits this long; each further one twice as long,
/// up to `retrain-hours`. Without it a restart loop started a training at
/// every start.
const RETRY_FIRST_MS: i64 = 30 * 60 * 1000;

/// Trainings started and not finished, remembered in `DATA_DIR/
/// training.attempt` (`STARTED_MS ATTEMPTS`), so that a collector that
/// keeps restarting does not start a training each time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Attempts {
    started_ms: i64,
    count: u32,
}

impl Attempts {
    fn load(data_dir: &Path) -> Attempts {
        let text = std::fs::read_to_string(data_dir.join(ATTEMPT_FILE)).unwrap_or_default();
        let mut parts = text.split_whitespace().map(str::parse::<i64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(started_ms)), Some(Ok(count))) => Attempts {
                started_ms,
                count: count.clamp(0, 64) as u32,
            },
            _ => Attempts::default(),
        }
    }

    /// Whether a training may start now, with trainings `every` ms apart.
    fn may_start(&self, now_ms: i64, every: i64) -> bool {
        if self.count == 0 {
            return true;
        }
        let wait = RETRY_FIRST_MS
            .saturating_mul(1 << (self.count - 1).min(20))
            .min(every.max(RETRY_FIRST_MS));
        now_ms >= self.started_ms.saturating_add(wait)
    }

    fn started(&mut self, data_dir: &Path, now_ms: i64) {
        self.started_ms = now_ms;
        self.count += 1;
        let path = data_dir.join(ATTEMPT_FILE);
        if let Err(e) = std::fs::write(&path, format!("{} {}\n", self.started_ms, self.count)) {
            warn!(file = %path.display(), error = %e, "Cannot record that a training started.");
        }
    }

    fn done(&mut self, data_dir: &Path) {
        *self = Attempts::default();
        let _ = std::fs::remove_file(data_dir.join(ATTEMPT_FILE));
    }
}

/// The wall clock in milliseconds since the epoch.
fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Detector {
    pub fn open(data_dir: &Path, options: DetectOptions) -> anyhow::Result<Detector> {
        let path = model_path(data_dir);
        let model = match load_model(&path) {
            Ok(Some(m)) => m,
            Ok(None) => Model::new(TemplateMiner::new(MinerConfig::default())),
            Err(e) => {
                // A model this build cannot read is not worth refusing to
                // store lines over: start cold, and the next training
                // replaces it.
                warn!(error = %format!("{e:#}"), "Starting the detectors without a model.");
                Model::new(TemplateMiner::new(MinerConfig::default()))
            }
        };
        let log = AppendLog::open(&data_dir.join("anomalies.log"))?;
        let flagged = AppendLog::open(&data_dir.join(flagged::FILE))?;
        info!(
            trained = model.trained.is_some(),
            templates = model.templates.len(),
            "Detectors ready."
        );
        let has_history = crate::detect::history::has_lines(data_dir);
        Ok(Detector {
            has_history,
            data_dir: data_dir.to_path_buf(),
            engine: Engine::new(model, options.engine.clone())?,
            options,
            log,
            flagged,
            line: 0,
            model_mtime: mtime(&path),
            last_save: Instant::now(),
            last_training: None,
            training: None,
            opened: 0,
            attempts: Attempts::load(data_dir),
            digest: digest::Digest::default(),
            last_summary_ms: wall_ms(),
            newest_line: None,
        })
    }

    /// Runs the detectors on `record`; flags it when it belongs to an
    /// anomaly.
    pub fn observe(&mut self, record: &mut Record) {
        if !self.options.enabled {
            return;
        }
        self.line += 1;
        let verdict = self.engine.observe(&LineIn::of(self.line, record));
        let newest = self
            .newest_line
            .map_or(record.event_time_ms, |(t, _)| t.max(record.event_time_ms));
        // The receive time is the collector's wall clock when the line
        // came: no clock read per line.
        self.newest_line = Some((newest, record.receive_time_ms));
        if let Some((_id, reason)) = verdict.anomaly {
            record.flags |= flags::ANOMALY;
            record.anomaly = Some(reason);
        }
        self.write_reports();
    }

    /// Appends the engine's new reports to `anomalies.log`, and the lines
    /// an opened anomaly counted before it fired to `flagged.log`. A failed
    /// write (a full disk) keeps them for the next try ([`AppendLog`]): the
    /// detectors never stop the storing of lines.
    fn write_reports(&mut self) {
        let reports = self.engine.take_reports();
        if reports.is_empty() && !self.log.has_pending() && !self.flagged.has_pending() {
            return;
        }
        let mut text = String::new();
        let mut episodes = String::new();
        for r in &reports {
            let (state, a) = match r {
                Report::Opened(a) => {
                    self.opened += 1;
                    // A low-priority record is only in anomalies.log.
                    if a.priority == Priority::Alert && self.digest.opened(a, wall_ms()) {
                        warn!(kind = %a.kind, key = %a.key, incident = %digest::incident(a), "Anomaly: {}", a.explanation);
                    }
                    if let Some(e) = flagged::Episode::of(a) {
                        match serde_json::to_string(&e) {
                            Ok(json) => {
                                episodes.push_str(&json);
                                episodes.push('\n');
                            }
                            Err(e) => warn!(error = %e, "Cannot serialize an episode."),
                        }
                    }
                    ("open", a)
                }
                Report::Closed(a) => ("closed", a),
            };
            match serde_json::to_string(&Logged { state, anomaly: a }) {
                Ok(json) => {
                    text.push_str(&json);
                    text.push('\n');
                }
                Err(e) => warn!(error = %e, "Cannot serialize an anomaly."),
            }
        }
        self.log.append(&text);
        self.flagged.append(&episodes);
    }

    /// Retention deleted the lines received before `cut_ms`: the anomalies
    /// and episodes that ended before it go too, so that `anomalies.log`
    /// and `flagged.log` do not outgrow the data they describe. Their times
    /// are the lines' (event) times; a record that cannot be read is kept.
    pub fn forget_before(&mut self, cut_ms: i64) {
        #[derive(serde::Deserialize)]
        struct Ended {
            last_ts: String,
        }
        #[derive(serde::Deserialize)]
        struct Until {
            until_ms: i64,
        }
        let anomalies = self.log.retain(|l| {
            serde_json::from_str::<Ended>(l)
                .ok()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e.last_ts).ok())
                .is_none_or(|t| t.timestamp_millis() >= cut_ms)
        });
        let episodes = self
            .flagged
            .retain(|l| serde_json::from_str::<Until>(l).map_or(true, |e| e.until_ms >= cut_ms));
        match (anomalies, episodes) {
            (Ok(0), Ok(0)) => {}
            (Ok(a), Ok(e)) => info!(
                anomalies = a,
                episodes = e,
                "Forgot the anomalies of lines past retention."
            ),
            (a, e) => {
                for err in [a.err(), e.err()].into_iter().flatten() {
                    warn!(error = %format!("{err:#}"), "Cannot forget the anomalies of lines past retention; will try at the next retention.");
                }
            }
        }
    }

    /// At each commit: the detectors' files to disk.
    pub fn sync(&mut self) {
        self.log.sync();
        self.flagged.sync();
    }

    /// New options from a reload.
    pub fn set_options(&mut self, options: DetectOptions) -> anyhow::Result<()> {
        if options.engine != self.options.engine {
            let model = self.engine.model().clone();
            self.engine.finish();
            self.write_reports();
            self.engine = Engine::new(model, options.engine.clone())?;
        }
        self.options = options;
        Ok(())
    }

    /// Once a second from the writer: closes quiet anomalies, takes a
    /// finished training or a model written by `collectord train`, starts
    /// a training when one is due, saves the model now and then.
    ///
    /// The detectors' clock is the lines' time, advanced by the wall clock
    /// only for as long as no line came: logs shipped late (dated days ago)
    /// keep their episodes open while they flow, as they would have been
    /// live. With the wall clock, every tick closed them as quiet and the
    /// next line of the same attack opened another (issue 16).
    pub fn tick(&mut self, now_ms: i64) {
        if !self.options.enabled {
            return;
        }
        // Before the first line there is nothing to close, and a tick on
        // the wall clock would set the engine's clock (which only moves
        // forward) ahead of logs dated in the past.
        if let Some(clock) = self.clock(now_ms) {
            self.engine.tick(clock);
        }
        self.write_reports();
        if now_ms - self.last_summary_ms >= 60_000 {
            self.last_summary_ms = now_ms;
            if let Some(summary) = self.digest.summary(now_ms) {
                warn!("{summary}");
            }
        }
        if let Some(rx) = &self.training {
            match rx.try_recv() {
                Ok(Ok(model)) => {
                    self.training = None;
                    if let Some(t) = model.trained {
                        info!(
                            lines = t.lines,
                            hosts = t.hosts,
                            "Training done; the detectors use the new model."
                        );
                        self.engine.set_trained(t);
                        self.save();
                    }
                    self.attempts.done(&self.data_dir);
                }
                Ok(Err(e)) => {
                    self.training = None;
                    warn!(error = %format!("{e:#}"), "Training failed; the detectors keep their model.");
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.training = None;
                    error!("The training thread died.");
                }
            }
        }
        let path = model_path(&self.data_dir);
        let now_mtime = mtime(&path);
        if now_mtime.is_some() && now_mtime != self.model_mtime {
            self.model_mtime = now_mtime;
            match load_model(&path) {
                Ok(Some(m)) => {
                    if let Some(t) = m.trained {
                        info!(lines = t.lines, "Took the model collectord train wrote.");
                        self.engine.set_trained(t);
                    }
                }
                Ok(None) => {}
                Err(e) => warn!(error = %format!("{e:#}"), "Ignoring the new model file."),
            }
        }
        let every = i64::from(self.options.retrain_hours) * 3_600_000;
        if self.last_training.is_none() && !self.has_history && self.line > 0 {
            // A new data directory: the first training is one period after
            // the first line, not at once on the first second's lines (whose
            // model would call every later kind of line new).
            self.last_training = Some(Instant::now());
        }
        let due = every > 0
            && self.training.is_none()
            && match self.last_training {
                // Since the start: no model yet, or one older than the period.
                None => self
                    .engine
                    .model()
                    .trained
                    .as_ref()
                    .is_none_or(|t| now_ms - t.to_ms >= every),
                Some(t) => t.elapsed().as_millis() as i64 >= every,
            };
        if due && (self.line > 0 || self.has_history) && self.attempts.may_start(now_ms, every) {
            self.start_training(now_ms);
        }
        if self.last_save.elapsed() >= SAVE_EVERY {
            self.save();
        }
    }

    fn start_training(&mut self, now_ms: i64) {
        self.last_training = Some(Instant::now());
        self.attempts.started(&self.data_dir, now_ms);
        let (tx, rx) = mpsc::channel();
        let data_dir = self.data_dir.clone();
        let miner = self.engine.model().templates.clone();
        let engine = self.options.engine.clone();
        let days = self.options.train_days;
        info!(days, "Training the detectors on the index.");
        let spawned = std::thread::Builder::new()
            .name("training".into())
            .spawn(move || {
                // The days before the newest stored line, not before now:
                // logs shipped late are history too (issue 16).
                let result = crate::detect::history::training_range(&data_dir, days, now_ms)
                    .and_then(|range| {
                        let range = range.context("no lines in the index to train on")?;
                        offline::train_from_index(&data_dir, miner, &engine, range).map(|(m, _)| m)
                    });
                let _ = tx.send(result);
            });
        match spawned {
            Ok(_) => self.training = Some(rx),
            Err(e) => warn!(error = %e, "Cannot start the training thread."),
        }
    }

    /// The detectors' clock at wall time `now_ms`: the newest line's event
    /// time plus the wall time since it came; `None` before any line.
    fn clock(&self, now_ms: i64) -> Option<i64> {
        self.newest_line
            .map(|(event_ms, seen_ms)| event_ms.saturating_add((now_ms - seen_ms).max(0)))
    }

    /// Writes model.json (the live miner and the trained part); a failure
    /// is logged and tried again at the next save.
    pub fn save(&mut self) {
        let path = model_path(&self.data_dir);
        self.last_save = Instant::now();
        match save_model(&path, self.engine.model()) {
            Ok(()) => self.model_mtime = mtime(&path),
            Err(e) => {
                warn!(error = %format!("{e:#}"), "Cannot save the detectors' model; will retry within the hour.")
            }
        }
    }

    /// At shutdown: open anomalies closed (as far as is known), the log
    /// synced, the model saved.
    pub fn shutdown(&mut self) {
        self.engine.finish();
        self.write_reports();
        if let Some(summary) = self.digest.summary(wall_ms()) {
            warn!("{summary}");
        }
        self.sync();
        self.save();
    }

    /// The detectors' state entries (bounded; see `Engine::state_size`).
    pub fn state_size(&self) -> usize {
        self.engine.state_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failed logins dated 16 days ago, shipped late in three parts with
    /// ticks between them: one burst, still open, not one per part.
    #[test]
    fn logs_shipped_late_keep_their_episode_open_across_ticks() {
        let dir = tempfile::tempdir().unwrap();
        let options = DetectOptions {
            enabled: true,
            engine: EngineConfig::default(),
            train_days: 7,
            retrain_hours: 0,
        };
        let mut d = Detector::open(dir.path(), options).unwrap();
        // The writer ticks from its start, before any line has come.
        d.tick(wall_ms());
        let day = 86_400_000;
        let t0 = wall_ms() - 16 * day;
        let mut n = 0;
        for part in 0..3 {
            for _ in 0..6 {
                let at = chrono::DateTime::from_timestamp_millis(t0 + n * 2000).unwrap();
                let line = format!(
                    "{} web1 sshd[7]: Failed password for root from 203.0.113.9 port 4{n:04} ssh2",
                    at.to_rfc3339()
                );
                let origin = logcore::record::Origin {
                    agent: "a1",
                    host: "web1",
                    path: "/var/log/auth.log",
                    stream: 1,
                    utc_offset_secs: 0,
                    receive_time_ms: wall_ms(),
                };
                let mut r = Record::from_line(&origin, n as u64, 0, line.into_bytes());
                d.observe(&mut r);
                n += 1;
            }
            // The writer's tick, a second (here: a minute) of wall time later.
            d.tick(wall_ms() + (part + 1) * 60_000);
        }
        let log = std::fs::read_to_string(dir.path().join("anomalies.log")).unwrap();
        let bursts: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("failed-login-burst"))
            .collect();
        assert_eq!(bursts.len(), 1, "{log}");
        assert!(bursts[0].contains(r#""state":"open""#), "{log}");
    }

    #[test]
    fn a_restart_loop_does_not_train_at_every_start() {
        // Regression (issue 13): without model.json every start began a
        // training, so a crash loop trained in a loop. A training started
        // and never finished is remembered on disk; the next may start 30
        // minutes later, then an hour, ..., at most retrain-hours apart.
        let dir = tempfile::tempdir().unwrap();
        let every = 24 * 3_600_000;
        let t0 = 1_800_000_000_000;
        let mut a = Attempts::load(dir.path());
        assert!(a.may_start(t0, every), "nothing remembered: train now");
        a.started(dir.path(), t0);
        // The next start (a restart right after) reads the file.
        let a = Attempts::load(dir.path());
        assert_eq!(a.count, 1);
        assert!(!a.may_start(t0 + 60_000, every));
        assert!(a.may_start(t0 + RETRY_FIRST_MS, every));
        let mut a = a;
        a.started(dir.path(), t0 + RETRY_FIRST_MS);
        let a = Attempts::load(dir.path());
        assert!(!a.may_start(t0 + 2 * RETRY_FIRST_MS, every));
        assert!(a.may_start(t0 + 3 * RETRY_FIRST_MS, every));
        let mut a = a;
        for _ in 0..30 {
            a.started(dir.path(), t0);
        }
        assert!(
            a.may_start(t0 + every, every),
            "never more than retrain-hours apart"
        );
        a.done(dir.path());
        assert_eq!(Attempts::load(dir.path()), Attempts::default());
    }
}
