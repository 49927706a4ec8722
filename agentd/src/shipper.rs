//! The shipper thread: reads batches from the spool in the order the
//! tailer wrote them, sends them to the collector with at most `window`
//! unacknowledged, and reconnects with backoff. Unacked batches are read
//! from the spool again and sent first on the next connection.
//!
//! While the collector is away the shipper reads nothing: the batches wait
//! in the spool (on disk), and the tailer goes on reading files into it
//! until `spool-max-bytes`.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::Rng;
use tracing::{debug, info, warn};

use crate::batch::Batch;
use crate::checkpoint::Shared;
use crate::config::Config;
use crate::conn::{Connection, Hello};
use crate::spool::{Next, SpoolReader};

/// How long the shipper blocks at most before looking at its state again.
const POLL: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// While the collector stays unreachable, warn at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters for STATUS and the logs.
#[derive(Debug, Default)]
pub struct Stats {
    pub lines_acked: AtomicU64,
    pub connected: AtomicBool,
}

/// Shutdown coordination between the main thread and the shipper.
#[derive(Debug, Default)]
pub struct StopState {
    deadline: OnceLock<Instant>,
    current: Mutex<Option<TcpStream>>,
}

impl StopState {
    /// From now on the shipper gives up at `deadline`.
    pub fn set_deadline(&self, deadline: Instant) {
        let _ = self.deadline.set(deadline);
    }

    fn expired(&self) -> bool {
        self.deadline.get().is_some_and(|d| Instant::now() >= *d)
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .get()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn set_current(&self, stream: Option<TcpStream>) {
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = stream;
    }

    /// Unblocks a shipper stuck writing to an unresponsive collector.
    pub fn abort_connection(&self) {
        if let Some(s) = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// How a connection ended.
enum Outcome {
    /// Input closed and everything acked.
    Done,
    /// The shutdown deadline passed.
    Deadline,
    Failed(String),
}

pub struct Shipper {
    cfg: Arc<Config>,
    spool: SpoolReader,
    ckpt: Shared,
    stats: Arc<Stats>,
    stop: Arc<StopState>,
    hello: Hello,
    /// The tailer closed the spool and everything in it was read.
    input_open: bool,
    backoff: Backoff,
    /// A spool read failed: logged once until reads work again.
    read_failed: bool,
}

impl Shipper {
    pub fn new(
        cfg: Arc<Config>,
        spool: SpoolReader,
        ckpt: Shared,
        stats: Arc<Stats>,
        stop: Arc<StopState>,
    ) -> Shipper {
        let hello = Hello {
            agent_id: cfg.agent_id().to_owned(),
            host: cfg.host.clone(),
            utc_offset_secs: chrono::Local::now().offset().local_minus_utc(),
        };
        let backoff = Backoff::new(cfg.collector.clone());
        Shipper {
            cfg,
            spool,
            ckpt,
            stats,
            stop,
            hello,
            input_open: true,
            backoff,
            read_failed: false,
        }
    }

    /// Runs until the tailer closed the spool and everything in it is
    /// acked, or until the shutdown deadline.
    pub fn run(mut self) {
        loop {
            if self.nothing_left() {
                debug!("Everything shipped and acknowledged.");
                return;
            }
            if self.stop.expired() {
                self.report_unacked();
                return;
            }
            let timeout = self
                .stop
                .remaining()
                .map_or(CONNECT_TIMEOUT, |r| r.min(CONNECT_TIMEOUT))
                .max(Duration::from_millis(1));
            // Read at each attempt: a renewed certificate needs no reload.
            let tls = match crate::tls::ClientTls::load(&self.cfg) {
                Ok(tls) => tls,
                Err(e) => {
                    let delay = self.backoff.failed(&format!("{e:#}"));
                    self.sleep(delay);
                    continue;
                }
            };
            let opened = Connection::open(
                &self.cfg.collector,
                tls.as_ref(),
                &self.hello,
                self.cfg.window,
                timeout.min(self.cfg.ack_timeout()),
                self.cfg.ack_timeout(),
                Arc::clone(&self.ckpt),
                self.spool.spool().clone(),
                Arc::clone(&self.stats),
            );
            let mut conn = match opened {
                Ok(conn) => conn,
                Err(why) => {
                    let delay = self.backoff.failed(&why);
                    self.sleep(delay);
                    continue;
                }
            };
            self.backoff.connected(&conn.peer);
            self.stats.connected.store(true, Ordering::Relaxed);
            self.stop.set_current(conn.try_clone_stream());
            let outcome = self.serve(&mut conn);
            self.stop.set_current(None);
            self.stats.connected.store(false, Ordering::Relaxed);
            let progressed = conn.acked_any();
            conn.close();
            self.spool.rewind();
            // Rewound past the end: there is something to read again.
            self.input_open = !self.spool.is_drained();
            match outcome {
                Outcome::Done => {
                    debug!("Everything shipped and acknowledged.");
                    return;
                }
                Outcome::Deadline => {
                    self.report_unacked();
                    return;
                }
                Outcome::Failed(why) => {
                    let delay = self.backoff.dropped(&why, progressed);
                    self.sleep(delay);
                }
            }
        }
    }

    fn serve(&mut self, conn: &mut Connection) -> Outcome {
        let ack_timeout = self.cfg.ack_timeout();
        loop {
            if let Some(why) = conn.failure() {
                return Outcome::Failed(why);
            }
            if self.stop.expired() {
                return Outcome::Deadline;
            }
            let inflight = conn.inflight();
            if inflight > 0 && conn.last_progress().elapsed() > ack_timeout {
                return Outcome::Failed(format!(
                    "no ack from collector {} within ack-timeout-ms ({} ms)",
                    conn.peer, self.cfg.ack_timeout_ms
                ));
            }
            if inflight < conn.window {
                if self.input_open {
                    if let Some(batch) = self.read(POLL) {
                        if let Err(why) = conn.send(batch) {
                            return Outcome::Failed(why);
                        }
                    }
                    continue;
                }
                if inflight == 0 {
                    return Outcome::Done;
                }
            }
            conn.wait(POLL);
        }
    }

    /// The next batch from the spool, waiting up to `timeout`; notes when
    /// the spool is closed and read to its end.
    fn read(&mut self, timeout: Duration) -> Option<Batch> {
        match self.spool.next(timeout) {
            Ok(Next::Batch(batch)) => {
                self.read_failed = false;
                Some(batch)
            }
            Ok(Next::Idle) => None,
            Ok(Next::Closed) => {
                self.input_open = false;
                None
            }
            Err(e) => {
                if !self.read_failed {
                    warn!(error = %e, "Cannot read the spool; will retry.");
                    self.read_failed = true;
                }
                std::thread::sleep(timeout);
                None
            }
        }
    }

    /// Whether everything the tailer spooled was sent and acknowledged (the
    /// in-flight batches of a live connection are its own concern).
    fn nothing_left(&mut self) -> bool {
        if self.input_open && self.spool.is_drained() {
            self.input_open = false;
        }
        !self.input_open
    }

    /// Sleeps `delay`, waking early at the shutdown deadline, or once
    /// stopping with nothing left to send.
    fn sleep(&mut self, delay: Duration) {
        let until = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if now >= until || self.stop.expired() || self.nothing_left() {
                return;
            }
            std::thread::sleep((until - now).min(POLL));
        }
    }

    fn report_unacked(&mut self) {
        let figures = self.spool.spool().figures();
        if figures.unacked > 0 {
            warn!(
                batches = figures.unacked,
                spool_bytes = figures.bytes,
                "Shutdown timeout passed before the collector acknowledged all lines; they stay in the spool and are sent at the next start."
            );
        }
    }
}

/// Reconnect delays (exponential with jitter) and log quieting: warn on the
/// first failure, then at most every 30 s unless the reason changes.
struct Backoff {
    collector: String,
    next: Duration,
    failures: u32,
    last_warn: Option<Instant>,
    last_error: String,
}

impl Backoff {
    fn new(collector: String) -> Backoff {
        Backoff {
            collector,
            next: BACKOFF_MIN,
            failures: 0,
            last_warn: None,
            last_error: String::new(),
        }
    }

    /// A connection attempt failed; returns how long to wait.
    fn failed(&mut self, why: &str) -> Duration {
        self.failures += 1;
        let loud = self.failures == 1
            || why != self.last_error
            || self.last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if loud {
            if self.failures == 1 {
                warn!(collector = %self.collector, error = why, "Cannot reach the collector; will keep retrying.");
            } else {
                warn!(collector = %self.collector, error = why, attempts = self.failures, "Still cannot reach the collector; will keep retrying.");
            }
            self.last_warn = Some(Instant::now());
        } else {
            debug!(collector = %self.collector, error = why, attempts = self.failures, "Cannot reach the collector.");
        }
        self.last_error = why.to_owned();
        self.delay()
    }

    /// A connection that worked ended; returns how long to wait.
    fn dropped(&mut self, why: &str, progressed: bool) -> Duration {
        if !progressed {
            return self.failed(why);
        }
        warn!(collector = %self.collector, error = why, "Lost the connection to the collector; reconnecting.");
        self.next = BACKOFF_MIN;
        self.failures = 1;
        self.last_warn = Some(Instant::now());
        self.last_error = why.to_owned();
        self.delay()
    }

    fn connected(&mut self, peer: &str) {
        if self.failures > 0 {
            info!(collector = %self.collector, peer, attempts = self.failures, "Connected to the collector again.");
        } else {
            info!(collector = %self.collector, peer, "Connected to the collector.");
        }
    }

    fn delay(&mut self) -> Duration {
        let d = self.next.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }
}

#[cfg(test)]
mod tests;
