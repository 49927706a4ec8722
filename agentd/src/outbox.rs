//! The tailer's side of the tailer → shipper channel: fills batches and hands
//! them over without ever blocking. When the channel is full, the full batch
//! is held and the tailer stops reading until [`Outbox::unblock`] succeeds;
//! it goes on watching files meanwhile. Files are the buffer; memory stays
//! bounded (one held batch, one being filled).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use logcore::wire::WireRecord;

use crate::batch::{Batch, BatchBuilder};
use crate::config::Config;
use crate::notify::Notifier;
use crate::signals::Signals;

/// Why the tailer stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The channel to the shipper is full: read nothing more until
    /// [`Outbox::unblock`] succeeds.
    Blocked,
    /// The shipper thread ended (it only does on shutdown or a bug).
    ShipperGone,
}

pub struct Outbox {
    tx: SyncSender<Batch>,
    builder: BatchBuilder,
    /// A full batch the channel had no room for.
    held: Option<Batch>,
    /// Set while a batch is held; the shipper wakes the tailer then.
    armed: Arc<AtomicBool>,
    pub signals: Signals,
    pub notifier: Notifier,
    /// Lines read from files since start, for the logs.
    pub lines_read: u64,
}

impl Outbox {
    pub fn new(
        cfg: &Config,
        tx: SyncSender<Batch>,
        armed: Arc<AtomicBool>,
        signals: Signals,
        notifier: Notifier,
    ) -> Outbox {
        Outbox {
            tx,
            builder: BatchBuilder::new(cfg.batch_lines, cfg.batch_bytes, cfg.linger()),
            held: None,
            armed,
            signals,
            notifier,
            lines_read: 0,
        }
    }

    /// Adds a record (always accepted). `Err(Blocked)` when the batch is full
    /// and could not be handed over: the caller stops reading.
    pub fn push(
        &mut self,
        stream_id: u64,
        path: &str,
        record: WireRecord,
        now: Instant,
    ) -> Result<(), Stop> {
        self.builder.push(stream_id, path, record, now);
        self.lines_read += 1;
        if !self.builder.is_full() {
            return Ok(());
        }
        if self.held.is_some() {
            return Err(Stop::Blocked);
        }
        let batch = self.builder.take();
        self.send(batch)
    }

    pub fn is_blocked(&self) -> bool {
        self.held.is_some()
    }

    /// Hands over the held batch, if any. `Ok` when nothing is held any more.
    pub fn unblock(&mut self) -> Result<(), Stop> {
        match self.held.take() {
            Some(batch) => self.send(batch),
            None => Ok(()),
        }
    }

    /// When the current batch must go out even if not full.
    pub fn deadline(&self) -> Option<Instant> {
        self.builder.deadline()
    }

    /// Hands the batch over if it waited for `linger-ms`.
    pub fn flush_due(&mut self, now: Instant) -> Result<(), Stop> {
        match self.builder.deadline() {
            Some(d) if d <= now => self.flush(),
            _ => Ok(()),
        }
    }

    /// Hands the current batch over, whatever its age.
    pub fn flush(&mut self) -> Result<(), Stop> {
        self.unblock()?;
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.take();
        self.send(batch)
    }

    fn send(&mut self, batch: Batch) -> Result<(), Stop> {
        // Armed before trying, so a shipper taking a batch right after the
        // failed try wakes the tailer.
        self.armed.store(true, Ordering::SeqCst);
        match self.tx.try_send(batch) {
            Ok(()) => {
                self.armed.store(false, Ordering::SeqCst);
                Ok(())
            }
            Err(TrySendError::Full(batch)) => {
                self.held = Some(batch);
                Err(Stop::Blocked)
            }
            Err(TrySendError::Disconnected(_)) => Err(Stop::ShipperGone),
        }
    }

    /// At shutdown: hands over what fits in the channel right now; the rest
    /// is read again at the next start.
    pub fn flush_now(&mut self) {
        if self.unblock().is_ok() && !self.builder.is_empty() {
            let _ = self.tx.try_send(self.builder.take());
        }
    }
}
