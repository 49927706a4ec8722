//! What a connection is served with: the [`Limits`] from the config (a
//! copy taken when it is accepted) and the state every connection
//! shares ([`Shared`]: the writer's queue, the budget, the slots, TLS).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};

use crate::config::Config;
use crate::net::budget::Budget;
use crate::net::slots::{SlotLimits, Slots};
use crate::net::tls::ServerTls;
use crate::notify::Stats;
use crate::writer::Batch;

/// Refusals told in words at once (an ERROR frame; over TLS after a whole
/// handshake); more are closed without a word.
pub const REFUSALS: usize = 16;

/// The limits a connection is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: u32,
    pub max_pending: u32,
    pub per_source: u32,
    pub max_frame: u32,
    pub window: u16,
    pub hello_timeout: Duration,
    pub frame_timeout: Duration,
    pub idle_timeout: Duration,
    /// `max-buffer-mb` in bytes, for the shared [`Budget`].
    pub buffer_bytes: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            max_connections: config.max_connections,
            max_pending: config.max_pending_connections,
            per_source: config.max_connections_per_source,
            max_frame: config.max_frame_bytes,
            window: config.window,
            hello_timeout: config.hello_timeout(),
            frame_timeout: config.frame_timeout(),
            idle_timeout: config.idle_timeout(),
            buffer_bytes: config.buffer_bytes(),
        }
    }

    pub fn slots(&self) -> SlotLimits {
        SlotLimits {
            max: self.max_connections,
            max_pending: self.max_pending,
            per_source: self.per_source,
        }
    }
}

/// What every connection shares.
pub struct Shared {
    /// The limits for connections accepted from now on (a reload sends new
    /// ones); each connection takes a copy when it is accepted.
    pub limits: watch::Receiver<Limits>,
    pub queue: mpsc::Sender<Batch>,
    pub stats: Arc<Stats>,
    /// TLS for connections accepted from now on (a reload reads the files
    /// again); `None`: plaintext.
    pub tls: watch::Receiver<Option<Arc<ServerTls>>>,
    /// Memory for frames and decoded batches, shared with the syslog
    /// listeners.
    pub budget: Arc<Budget>,
    pub slots: Arc<Slots>,
    /// Refusals told in words now ([`REFUSALS`] at most).
    pub refusals: Arc<Semaphore>,
}

impl Shared {
    pub fn new(
        limits: watch::Receiver<Limits>,
        queue: mpsc::Sender<Batch>,
        stats: Arc<Stats>,
        tls: watch::Receiver<Option<Arc<ServerTls>>>,
        budget: Arc<Budget>,
    ) -> Shared {
        Shared {
            limits,
            queue,
            stats,
            tls,
            budget,
            slots: Slots::new(),
            refusals: Arc::new(Semaphore::new(REFUSALS)),
        }
    }
}
