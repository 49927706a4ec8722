//! The group of batches one commit acknowledges, and the connections
//! whose later batches must not be stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::warn;

use super::{NotStored, SentBy, Stored};
use crate::ingest::{Peer, Refused};

/// The batches of the group being committed, to acknowledge once it is,
/// and the connections whose batches were not stored.
///
/// A connection whose batch was refused or lost in a failed commit must
/// have none of its later batches stored until it reconnects: they may
/// already be queued, and storing them would move its streams' marks past
/// the lines it will send again, which would then be dropped as resends
/// (a failed commit lost 3 batches that way before this). Its `done` is
/// dropped, so it closes; a new connection has a new [`Peer`].
#[derive(Default)]
pub(super) struct Group {
    done: Vec<(oneshot::Sender<Stored>, Option<Arc<Peer>>)>,
    poisoned: Vec<std::sync::Weak<Peer>>,
}

impl Group {
    pub(super) fn push(&mut self, done: oneshot::Sender<Stored>, sent_by: &SentBy) {
        let peer = match sent_by {
            SentBy::Agent(p) => Some(p.clone()),
            SentBy::Syslog(_) => None,
        };
        self.done.push((done, peer));
    }

    pub(super) fn poison(&mut self, sent_by: &SentBy) {
        if let SentBy::Agent(p) = sent_by {
            self.poisoned.retain(|w| w.strong_count() > 0);
            self.poisoned.push(Arc::downgrade(p));
        }
    }

    pub(super) fn is_poisoned(&self, sent_by: &SentBy) -> bool {
        match sent_by {
            SentBy::Agent(p) => self.poisoned.iter().any(|w| w.as_ptr() == Arc::as_ptr(p)),
            SentBy::Syslog(_) => false,
        }
    }

    /// The group is durable: every batch is acknowledged. Returns how many.
    pub(super) fn acknowledge(&mut self) -> usize {
        let n = self.done.len();
        for (tx, _) in self.done.drain(..) {
            // The connection may be gone; the agent will re-send, and dedup drops it.
            let _ = tx.send(Ok(()));
        }
        n
    }

    /// The group was not stored: no batch is acknowledged, and their
    /// connections are poisoned. Syslog messages in it are lost (their
    /// senders do not send again).
    pub(super) fn fail(&mut self) {
        let lost: Vec<(oneshot::Sender<Stored>, Option<Arc<Peer>>)> = self.done.drain(..).collect();
        for (tx, p) in lost {
            let _ = tx.send(Err(NotStored::DiskFull));
            if let Some(p) = p {
                self.poison(&SentBy::Agent(p));
            }
        }
    }
}

/// Refused batches, logged once per sender and hour.
#[derive(Default)]
pub(super) struct Refusals {
    logged: std::collections::HashMap<String, Instant>,
}

impl Refusals {
    pub(super) fn log(&mut self, sent_by: &SentBy, refused: &Refused) {
        let who = match sent_by {
            SentBy::Agent(p) => p.agent_id.clone(),
            SentBy::Syslog(_) => "syslog".to_owned(),
        };
        let now = Instant::now();
        if self.logged.len() > 10_000 {
            self.logged
                .retain(|_, t| now.duration_since(*t) < REFUSAL_LOG_EVERY);
        }
        if self
            .logged
            .get(&who)
            .is_some_and(|t| now.duration_since(*t) < REFUSAL_LOG_EVERY)
        {
            return;
        }
        self.logged.insert(who.clone(), now);
        warn!(agent = %logcore::text::Escaped(&who), reason = %refused, "Refused a batch; nothing of it was stored (logged once an hour per agent).");
    }
}

/// How often the same sender's refused batches are logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(3600);
