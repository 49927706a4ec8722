//! The syncer thread: writes checkpoints.json and fsyncs the spool, so
//! that the tailer never waits for the disk. An fsync takes milliseconds
//! (tens under load), and logrotate's copytruncate destroys whatever is
//! written between the end of its copy and its truncate unless agentd has
//! read it by then: a tailer stuck in an fsync at that moment loses lines.
//!
//! Order, each round: the checkpoints are serialized, then the spool is
//! fsynced, then the checkpoints are written. A checkpoint may forget a
//! stream (a truncated file's old generation) whose unacknowledged lines
//! only the spool holds; the tailer spools what it read of a stream before
//! it forgets it, so everything the snapshot forgets is in the spool before
//! the fsync that precedes the write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use tracing::warn;

use crate::checkpoint::{self, lock, Shared};
use crate::spool::Spool;

/// How often the thread looks: urgent checkpoints (a new stream) wait no
/// longer than this.
const POLL: Duration = Duration::from_millis(50);
/// How often the spool is fsynced at most while it changes.
pub const SPOOL_SYNC_INTERVAL: Duration = Duration::from_secs(1);

pub struct Syncer {
    ckpt: Shared,
    spool: Spool,
    last_spool_sync: Option<Instant>,
    checkpoint_failed: bool,
    spool_failed: bool,
}

impl Syncer {
    pub fn new(ckpt: Shared, spool: Spool) -> Syncer {
        Syncer {
            ckpt,
            spool,
            last_spool_sync: None,
            checkpoint_failed: false,
            spool_failed: false,
        }
    }

    /// Writes the checkpoints when due (see [`checkpoint::Checkpoints::write_due`])
    /// or, with `force`, whenever they changed; fsyncs the spool before,
    /// and on its own every [`SPOOL_SYNC_INTERVAL`] while it changes.
    /// Failures are logged once until a write works again.
    pub fn round(&mut self, now: Instant, force: bool) {
        if let Err(e) = self.save(now, force) {
            if !self.checkpoint_failed {
                warn!(
                    error = format!("{e:#}"),
                    "Cannot write checkpoints; will retry."
                );
            }
            self.checkpoint_failed = true;
        }
    }

    /// As [`Self::round`], with the checkpoint write's error returned (at
    /// shutdown).
    pub fn save(&mut self, now: Instant, force: bool) -> Result<()> {
        let snapshot = {
            let mut store = lock(&self.ckpt);
            let due = store.write_due(now) || (force && store.is_dirty());
            due.then(|| (store.take_snapshot(now), store.path().to_owned()))
        };
        let spool_due = self.spool.needs_sync()
            && self
                .last_spool_sync
                .is_none_or(|t| now.duration_since(t) >= SPOOL_SYNC_INTERVAL);
        if snapshot.is_some() || spool_due || force {
            self.sync_spool(now);
        }
        let Some((bytes, path)) = snapshot else {
            return Ok(());
        };
        checkpoint::write_atomically(&path, &bytes)
            .inspect_err(|_| lock(&self.ckpt).write_failed())?;
        self.checkpoint_failed = false;
        Ok(())
    }

    fn sync_spool(&mut self, now: Instant) {
        match self.spool.sync() {
            Ok(()) => self.spool_failed = false,
            Err(e) => {
                if !self.spool_failed {
                    warn!(error = %e, "Cannot fsync the spool; will retry.");
                }
                self.spool_failed = true;
            }
        }
        self.last_spool_sync = Some(now);
    }
}

/// The running syncer thread.
pub struct Running {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Syncer>,
}

impl Running {
    pub fn start(mut syncer: Syncer) -> std::io::Result<Running> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("agentd-sync".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    syncer.round(Instant::now(), false);
                    std::thread::sleep(POLL);
                }
                syncer
            })?;
        Ok(Running { stop, handle })
    }

    /// Stops the thread and gives the syncer back, for the last write.
    pub fn stop(self) -> Syncer {
        self.stop.store(true, Ordering::SeqCst);
        match self.handle.join() {
            Ok(syncer) => syncer,
            // The thread only panics on a bug; the panic was reported.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
