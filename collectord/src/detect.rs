//! The detectors in the daemon: every stored line goes through one
//! [`Engine`] on the writer thread (before its document is made, so its
//! flag is in the index), anomalies are appended to `anomalies.log`, and
//! the model is trained again in the background.
//!
//! - Cold start: without `model.json` the template miner learns from the
//!   first line and the rate rules run with their fixed floors; the other
//!   detectors need a training. The first one starts at once when the index
//!   held lines at start (on a new data directory: `retrain-hours` after the
//!   first line), then every `retrain-hours`, over the last `train-days`.
//! - A training runs on its own thread, on the index as committed (read
//!   like logq reads it), from a copy of the live miner; the writer takes
//!   the result at its next tick, keeps its own miner (which has learnt
//!   since) and saves `model.json`.
//! - `collectord train` writes `model.json` too: the writer notices the
//!   file changed (it checks every tick) and takes its trained part.
//! - `anomalies.log`: one JSON object per line, `"state": "open"` when a
//!   detector fires and `"closed"` with the final counts when the episode
//!   ends; written as they happen, fsynced with each commit.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use logcore::detect::{Anomaly, Engine, EngineConfig, LineIn, Model, Report};
use logcore::record::{flags, Record};
use logcore::template::{MinerConfig, TemplateMiner};
use serde::Serialize;
use tantivy::Index;
use tracing::{error, info, warn};

use crate::offline::{self, load_model, model_path, save_model};

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
    index: Index,
    options: DetectOptions,
    engine: Engine,
    log: File,
    unsynced: bool,
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
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Detector {
    pub fn open(data_dir: &Path, index: Index, options: DetectOptions) -> anyhow::Result<Detector> {
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
        let log_path = data_dir.join("anomalies.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        info!(
            trained = model.trained.is_some(),
            templates = model.templates.len(),
            "Detectors ready."
        );
        let has_history = index
            .reader()
            .map(|r| r.searcher().num_docs() > 0)
            .unwrap_or(false);
        Ok(Detector {
            has_history,
            data_dir: data_dir.to_path_buf(),
            index,
            engine: Engine::new(model, options.engine.clone())?,
            options,
            log,
            unsynced: false,
            line: 0,
            model_mtime: mtime(&path),
            last_save: Instant::now(),
            last_training: None,
            training: None,
            opened: 0,
        })
    }

    /// Runs the detectors on `record`; flags it when it belongs to an
    /// anomaly.
    pub fn observe(&mut self, record: &mut Record) -> anyhow::Result<()> {
        if !self.options.enabled {
            return Ok(());
        }
        self.line += 1;
        let verdict = self.engine.observe(&LineIn::of(self.line, record));
        if let Some((_id, reason)) = verdict.anomaly {
            record.flags |= flags::ANOMALY;
            record.anomaly = Some(reason);
        }
        self.write_reports()
    }

    fn write_reports(&mut self) -> anyhow::Result<()> {
        let reports = self.engine.take_reports();
        if reports.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for r in &reports {
            let (state, a) = match r {
                Report::Opened(a) => {
                    self.opened += 1;
                    warn!(kind = %a.kind, key = %a.key, "Anomaly: {}", a.explanation);
                    ("open", a)
                }
                Report::Closed(a) => ("closed", a),
            };
            text.push_str(&serde_json::to_string(&Logged { state, anomaly: a })?);
            text.push('\n');
        }
        self.log
            .write_all(text.as_bytes())
            .context("cannot write anomalies.log")?;
        self.unsynced = true;
        Ok(())
    }

    /// At each commit: anomalies.log to disk.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        if self.unsynced {
            self.log.sync_data().context("cannot fsync anomalies.log")?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// New options from a reload.
    pub fn set_options(&mut self, options: DetectOptions) -> anyhow::Result<()> {
        if options.engine != self.options.engine {
            let model = self.engine.model().clone();
            self.engine.finish();
            self.write_reports()?;
            self.engine = Engine::new(model, options.engine.clone())?;
        }
        self.options = options;
        Ok(())
    }

    /// Once a second from the writer: closes quiet anomalies, takes a
    /// finished training or a model written by `collectord train`, starts
    /// a training when one is due, saves the model now and then.
    pub fn tick(&mut self, now_ms: i64) -> anyhow::Result<()> {
        if !self.options.enabled {
            return Ok(());
        }
        self.engine.tick(now_ms);
        self.write_reports()?;
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
                        self.save()?;
                    }
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
        if due && (self.line > 0 || self.has_history) {
            self.start_training(now_ms);
        }
        if self.last_save.elapsed() >= SAVE_EVERY {
            self.save()?;
        }
        Ok(())
    }

    fn start_training(&mut self, now_ms: i64) {
        self.last_training = Some(Instant::now());
        let (tx, rx) = mpsc::channel();
        let index = self.index.clone();
        let data_dir = self.data_dir.clone();
        let miner = self.engine.model().templates.clone();
        let engine = self.options.engine.clone();
        let since = now_ms - i64::from(self.options.train_days) * 86_400_000;
        info!(
            days = self.options.train_days,
            "Training the detectors on the index."
        );
        let spawned = std::thread::Builder::new()
            .name("training".into())
            .spawn(move || {
                let result =
                    offline::train_from_index(&data_dir, &index, miner, &engine, since..now_ms + 1)
                        .map(|(m, _)| m);
                let _ = tx.send(result);
            });
        match spawned {
            Ok(_) => self.training = Some(rx),
            Err(e) => warn!(error = %e, "Cannot start the training thread."),
        }
    }

    /// Writes model.json (the live miner and the trained part).
    pub fn save(&mut self) -> anyhow::Result<()> {
        let path = model_path(&self.data_dir);
        save_model(&path, self.engine.model())?;
        self.model_mtime = mtime(&path);
        self.last_save = Instant::now();
        Ok(())
    }

    /// At shutdown: open anomalies closed (as far as is known), the log
    /// synced, the model saved.
    pub fn shutdown(&mut self) -> anyhow::Result<()> {
        self.engine.finish();
        self.write_reports()?;
        self.sync()?;
        self.save()
    }

    /// The detectors' state entries (bounded; see `Engine::state_size`).
    pub fn state_size(&self) -> usize {
        self.engine.state_size()
    }
}
