//! The tailer's side of the pipeline: fills batches and writes them to the
//! spool without ever waiting on the network. Only a full spool (the
//! collector has not acknowledged `spool-max-bytes` of lines) or a failing
//! disk makes it refuse: the full batch is then held and the tailer stops
//! reading until [`Outbox::unblock`] succeeds; it goes on watching files
//! meanwhile, and the files are the buffer again. Memory stays bounded (one
//! held batch, one being filled).

use std::time::Instant;

use logcore::wire::WireRecord;
use tracing::{info, warn};

use crate::batch::{Batch, BatchBuilder};
use crate::config::Config;
use crate::notify::Notifier;
use crate::signals::Signals;
use crate::spool::{Refused, Spool, SpoolWriter};

/// Why the tailer stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The spool takes nothing now: read nothing more until
    /// [`Outbox::unblock`] succeeds.
    Blocked,
    /// The shipper thread ended (it only does on shutdown or a bug).
    ShipperGone,
}

/// Why the spool refused, for the one warning per episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    Full,
    Failing,
}

pub struct Outbox {
    spool: SpoolWriter,
    builder: BatchBuilder,
    /// A full batch the spool did not take.
    held: Option<Batch>,
    /// Since when, and why, the spool refuses batches.
    blocked: Option<Blocked>,
    pub signals: Signals,
    pub notifier: Notifier,
    /// Lines read from files since start, for the logs.
    pub lines_read: u64,
}

impl Outbox {
    pub fn new(cfg: &Config, spool: SpoolWriter, signals: Signals, notifier: Notifier) -> Outbox {
        Outbox {
            spool,
            builder: BatchBuilder::new(cfg.batch_lines, cfg.batch_bytes, cfg.linger()),
            held: None,
            blocked: None,
            signals,
            notifier,
            lines_read: 0,
        }
    }

    /// Adds a record (always accepted). `Err(Blocked)` when the batch is full
    /// and the spool did not take it: the caller stops reading.
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

    /// Why the tailer does not read, for STATUS; `None` while it reads.
    pub fn blocked_reason(&self) -> Option<&'static str> {
        match self.blocked? {
            Blocked::Full => Some("spool full, reading paused"),
            Blocked::Failing => Some("spool not writable, reading paused"),
        }
    }

    /// Spools the held batch, if any. `Ok` when nothing is held any more.
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

    /// Spools the batch if it waited for `linger-ms`.
    pub fn flush_due(&mut self, now: Instant) -> Result<(), Stop> {
        match self.builder.deadline() {
            Some(d) if d <= now => self.flush(),
            _ => Ok(()),
        }
    }

    /// Spools the current batch, whatever its age.
    pub fn flush(&mut self) -> Result<(), Stop> {
        self.unblock()?;
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.take();
        self.send(batch)
    }

    fn send(&mut self, batch: Batch) -> Result<(), Stop> {
        let (batch, why) = match self.spool.write(batch) {
            Ok(()) => {
                if self.blocked.take().is_some() {
                    info!("The spool takes batches again; reading resumes.");
                }
                return Ok(());
            }
            Err((_, Refused::ReaderGone)) => return Err(Stop::ShipperGone),
            Err(refused) => refused,
        };
        self.held = Some(batch);
        let now = match why {
            Refused::Full => Blocked::Full,
            _ => Blocked::Failing,
        };
        if self.blocked != Some(now) {
            match why {
                Refused::Io(e) => warn!(
                    error = %e,
                    "Cannot write to the spool; reading stops until it can, and the files are the buffer meanwhile."
                ),
                _ => {
                    let figures = self.spool.spool().figures();
                    warn!(
                        spool_bytes = figures.bytes,
                        batches = figures.unacked,
                        "The spool is full (spool-max-bytes): the collector is not acknowledging what was sent. Reading stops until it does, and the files are the buffer meanwhile."
                    );
                }
            }
        }
        self.blocked = Some(now);
        Err(Stop::Blocked)
    }

    /// The spool, for acknowledgements and figures.
    pub fn spool(&self) -> &Spool {
        self.spool.spool()
    }

    /// At shutdown: spools what was read unless the spool is full (then it
    /// is read again from its file at the next start), and closes the spool.
    pub fn finish(&mut self) {
        if self.unblock().is_ok() && !self.builder.is_empty() {
            let _ = self.spool.write(self.builder.take());
        }
        self.spool.close();
    }
}
