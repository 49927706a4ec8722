//! Wires the pieces together: signals (once per process), then a pipeline
//! (state directory, checkpoints, the shipper thread and the tailer loop)
//! and its shutdown sequence.
//!
//! SIGHUP reloads the configuration by restarting the pipeline in the same
//! process: when the file changed, the running pipeline stops exactly as on
//! SIGTERM (reading stops, the collector gets up to `shutdown-timeout-ms` to
//! acknowledge what was sent, checkpoints are saved) and a new one starts
//! with the new configuration (taking the lock of its state directory and
//! loading its checkpoints). Checkpoints only ever move on acknowledgement,
//! so what was not acknowledged is read again and re-sent; the collector
//! drops what it already stored (its high-water marks, PROTOCOL.md). An
//! invalid or unchanged file leaves the running pipeline alone. systemd
//! hears RELOADING=1, then READY=1 once the (new) pipeline runs.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use tracing::{error, info};

use crate::checkpoint::{self, Checkpoints, Shared};
use crate::config::{Config, Location};
use crate::notify::Notifier;
use crate::outbox::{Outbox, Stop};
use crate::shipper::{Shipper, Stats, StopState};
use crate::signals::{Request, Signals};
use crate::spool::Spool;
use crate::syncer::{self, Syncer};
use crate::tailer::Tailer;

/// Why a pipeline ended.
enum Exit {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP with a changed, valid configuration: start again with it.
    /// The paths the pipeline was following come along.
    Reload(Arc<Config>, Vec<String>),
}

pub fn run(cfg: Config, location: Location) -> Result<()> {
    let signals = Signals::install().context("cannot install signal handlers")?;
    let mut cfg = Arc::new(cfg);
    let mut pipeline = Pipeline::start(Arc::clone(&cfg), &signals, Vec::new())?;
    info!(
        collector = %cfg.collector,
        agent_id = cfg.agent_id(),
        inputs = ?cfg.inputs,
        state_dir = %cfg.state_dir.display(),
        "agentd started."
    );
    loop {
        let (new, followed) = match pipeline.run(&location)? {
            Exit::Stop => return Ok(()),
            Exit::Reload(new, followed) => (new, followed),
        };
        if signals.stop_requested() {
            // SIGTERM during the restart: the pipeline has stopped already.
            Notifier::from_env().stopping();
            info!("agentd stopped.");
            return Ok(());
        }
        pipeline = match Pipeline::start(Arc::clone(&new), &signals, followed.clone()) {
            Ok(p) => {
                cfg = new;
                p
            }
            Err(e) => {
                error!(
                    error = format!("{e:#}"),
                    "Cannot start with the new configuration; going on with the previous one."
                );
                Pipeline::start(Arc::clone(&cfg), &signals, followed)?
            }
        };
        info!(
            collector = %cfg.collector,
            inputs = ?cfg.inputs,
            state_dir = %cfg.state_dir.display(),
            "Running again after the reload."
        );
    }
}

/// The tailer, the shipper thread and their shared state, for one
/// configuration.
struct Pipeline {
    cfg: Arc<Config>,
    /// Held while the pipeline runs: one agentd per state directory.
    _lock: Flock<File>,
    spool: Spool,
    tailer: Tailer,
    /// Writes checkpoints and fsyncs the spool.
    syncer: syncer::Running,
    stats: Arc<Stats>,
    stop: Arc<StopState>,
    shipper_done: mpsc::Receiver<()>,
}

impl Pipeline {
    /// Starts the shipper and does the first scan; then says READY=1.
    /// `known` are paths a previous pipeline followed.
    fn start(cfg: Arc<Config>, signals: &Signals, known: Vec<String>) -> Result<Pipeline> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&cfg.state_dir)
            .with_context(|| {
                format!("cannot create state directory {}", cfg.state_dir.display())
            })?;
        let lock = lock_state_dir(&cfg.state_dir)?;
        let ckpt: Shared = Arc::new(Mutex::new(Checkpoints::load(&cfg.checkpoint_path())?));
        let opened = Spool::open(&cfg.spool_dir(), cfg.spool_max_bytes)?;
        let spool = opened.spool;
        checkpoint::lock(&ckpt).set_spooled(opened.ends);
        spool.set_waker(
            signals
                .waker()
                .context("cannot create the wake-up socket")?,
        );
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(StopState::default());

        let shipper = Shipper::new(
            Arc::clone(&cfg),
            opened.reader,
            Arc::clone(&ckpt),
            Arc::clone(&stats),
            Arc::clone(&stop),
        );
        let (done_tx, shipper_done) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("agentd-shipper".into())
            .spawn(move || {
                shipper.run();
                let _ = done_tx.send(());
            })
            .context("cannot start the shipper thread")?;

        let out = Outbox::new(&cfg, opened.writer, signals.clone(), Notifier::from_env());
        let mut tailer = Tailer::new(Arc::clone(&cfg), Arc::clone(&ckpt), out)
            .context("cannot set up inotify")?;
        if let Some(source) = crate::journal::source(&cfg)? {
            let cursor = checkpoint::lock(&ckpt)
                .journal_cursor(&source)
                .map(str::to_owned);
            let waker = signals
                .waker()
                .context("cannot create the wake-up socket")?;
            tailer.set_journal(crate::journal::Journal::start(&cfg, source, cursor, waker)?);
        }
        tailer.also_known(known);
        tailer.start(Instant::now());
        let mut first = Syncer::new(Arc::clone(&ckpt), spool.clone());
        first.round(Instant::now(), true);
        let syncer = syncer::Running::start(first).context("cannot start the syncer thread")?;
        tailer.notify_ready();
        Ok(Pipeline {
            cfg,
            _lock: lock,
            spool,
            tailer,
            syncer,
            stats,
            stop,
            shipper_done,
        })
    }

    /// Runs until SIGTERM, or SIGHUP with a new configuration; then stops:
    /// waits up to `shutdown-timeout-ms` for the collector to acknowledge
    /// what was sent, and saves the checkpoints.
    fn run(mut self, location: &Location) -> Result<Exit> {
        let cfg = Arc::clone(&self.cfg);
        let stats = Arc::clone(&self.stats);
        let spool = self.spool.clone();
        let status = || {
            let acked = stats.lines_acked.load(Ordering::Relaxed);
            let spooled = spool.figures();
            let state = if stats.connected.load(Ordering::Relaxed) {
                "connected to"
            } else {
                "not connected to"
            };
            format!(
                "{state} {}, {acked} lines shipped, spool {} KiB in {} batches not acknowledged",
                cfg.collector,
                spooled.bytes / 1024,
                spooled.unacked
            )
        };
        let ended = loop {
            match self.tailer.run(&status) {
                Ok(Request::Stop) => break Ok(Exit::Stop),
                Ok(Request::Reload) => {
                    self.tailer.notify_reloading();
                    if let Some(new) = reread(&cfg, location) {
                        break Ok(Exit::Reload(Arc::new(new), self.tailer.followed_paths()));
                    }
                    self.tailer.notify_ready();
                }
                Err(stop) => break Err(stop),
            }
        };
        if !matches!(ended, Ok(Exit::Reload(..))) {
            self.tailer.notify_stopping();
        }
        let lines_read = self.tailer.lines_read();
        self.stop
            .set_deadline(Instant::now() + cfg.shutdown_timeout());
        self.tailer.finish();
        let exit = match ended {
            Ok(exit) => exit,
            Err(Stop::ShipperGone) => {
                self.syncer.stop().save(Instant::now(), true)?;
                bail!("the shipper thread stopped unexpectedly");
            }
            // The tailer waits while blocked; it never returns this.
            Err(Stop::Blocked) => Exit::Stop,
        };

        info!(
            timeout_ms = cfg.shutdown_timeout_ms,
            "Stopping: waiting for the collector to acknowledge what was sent."
        );
        if self
            .shipper_done
            .recv_timeout(cfg.shutdown_timeout() + Duration::from_millis(500))
            .is_err()
        {
            // Stuck writing to an unresponsive collector: cut the connection.
            self.stop.abort_connection();
            let _ = self.shipper_done.recv_timeout(Duration::from_millis(500));
        }
        self.syncer.stop().save(Instant::now(), true)?;
        self.spool.tidy();
        let lines_acked = stats.lines_acked.load(Ordering::Relaxed);
        match exit {
            Exit::Stop => info!(lines_read, lines_acked, "agentd stopped."),
            Exit::Reload(..) => info!(
                lines_read,
                lines_acked,
                "Stopped reading for the reload; starting again with the new configuration."
            ),
        }
        Ok(exit)
    }
}

/// On SIGHUP: the new configuration if the file is valid and differs from
/// `running`; `None` (and a log line saying why) when the running pipeline
/// goes on.
fn reread(running: &Config, location: &Location) -> Option<Config> {
    match location.load() {
        Err(e) => {
            error!(
                error = format!("{e:#}"),
                "Cannot reload; keeping the running configuration."
            );
            None
        }
        Ok((new, _)) if new == *running => {
            info!("Reloaded the configuration; it is unchanged.");
            None
        }
        Ok((new, _)) => {
            let changed = running.changed_keys(&new).join(", ");
            info!(%changed, "Reloaded the configuration; restarting the pipeline to apply it.");
            Some(new)
        }
    }
}

/// One agentd per state directory: two would fight over the checkpoints.
fn lock_state_dir(dir: &Path) -> Result<Flock<File>> {
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        anyhow!(
            "state directory {} is in use by another agentd ({e})",
            dir.display()
        )
    })
}
