//! Wires the pieces together: state directory, checkpoints, signals, the
//! shipper thread and the tailer loop, and the shutdown sequence.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use tracing::info;

use crate::checkpoint::{self, Checkpoints, Shared};
use crate::config::Config;
use crate::notify::Notifier;
use crate::outbox::{Outbox, Stop};
use crate::shipper::{Shipper, Stats, StopState};
use crate::signals::Signals;
use crate::tailer::Tailer;

/// Batches waiting between the tailer and the shipper. Small: the files are
/// the buffer, and the shipper holds up to `window` more in flight.
const CHANNEL_BATCHES: usize = 2;

pub fn run(cfg: Config) -> Result<()> {
    let cfg = Arc::new(cfg);
    DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&cfg.state_dir)
        .with_context(|| format!("cannot create state directory {}", cfg.state_dir.display()))?;
    let _lock = lock_state_dir(&cfg.state_dir)?;
    let ckpt: Shared = Arc::new(Mutex::new(Checkpoints::load(&cfg.checkpoint_path())?));
    let signals = Signals::install().context("cannot install signal handlers")?;
    let armed = Arc::new(AtomicBool::new(false));
    let waker = signals
        .waker(Arc::clone(&armed))
        .context("cannot create the wake-up socket")?;
    let (tx, rx) = sync_channel(CHANNEL_BATCHES);
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(StopState::default());

    let shipper = Shipper::new(
        Arc::clone(&cfg),
        rx,
        waker,
        Arc::clone(&ckpt),
        Arc::clone(&stats),
        Arc::clone(&stop),
    );
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("agentd-shipper".into())
        .spawn(move || {
            shipper.run();
            let _ = done_tx.send(());
        })
        .context("cannot start the shipper thread")?;

    let out = Outbox::new(&cfg, tx, armed, signals, Notifier::from_env());
    let mut tailer =
        Tailer::new(Arc::clone(&cfg), Arc::clone(&ckpt), out).context("cannot set up inotify")?;
    tailer.start(Instant::now());
    tailer.save_checkpoints(Instant::now(), true);
    tailer.notify_ready();
    info!(
        collector = %cfg.collector,
        agent_id = cfg.agent_id(),
        inputs = ?cfg.inputs,
        state_dir = %cfg.state_dir.display(),
        "agentd started."
    );

    let status = || {
        let acked = stats.lines_acked.load(Ordering::Relaxed);
        if stats.connected.load(Ordering::Relaxed) {
            format!("connected to {}, {acked} lines shipped", cfg.collector)
        } else {
            format!("not connected to {}, {acked} lines shipped", cfg.collector)
        }
    };
    let result = tailer.run(&status);
    let lines_read = tailer.lines_read();
    stop.set_deadline(Instant::now() + cfg.shutdown_timeout());
    tailer.finish();
    if result == Err(Stop::ShipperGone) {
        checkpoint::save(&ckpt, Instant::now(), true)?;
        bail!("the shipper thread stopped unexpectedly");
    }

    info!(
        timeout_ms = cfg.shutdown_timeout_ms,
        "Stopping: waiting for the collector to acknowledge what was sent."
    );
    if done_rx
        .recv_timeout(cfg.shutdown_timeout() + Duration::from_millis(500))
        .is_err()
    {
        // Stuck writing to an unresponsive collector: cut the connection.
        stop.abort_connection();
        let _ = done_rx.recv_timeout(Duration::from_millis(500));
    }
    checkpoint::save(&ckpt, Instant::now(), true)?;
    info!(
        lines_read,
        lines_acked = stats.lines_acked.load(Ordering::Relaxed),
        "agentd stopped."
    );
    Ok(())
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
