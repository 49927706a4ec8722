//! The single writer: one thread owns the [`Store`] and turns queued
//! batches into commits (group commit).
//!
//! It takes a batch, then keeps taking batches while more are queued (or
//! arrive before `MIN_COMMIT_GAP` since the last commit is up), and
//! commits when the queue is empty or `commit-interval` has passed since the
//! group's first batch. Then, and only then, it completes each batch's
//! `done` channel: the connection sends the ACK. The loop wakes at least
//! once a second (for WATCHDOG=1 and hourly retention). When every sender
//! is gone (the server has stopped), it commits what it has and returns.
//!
//! Its [`WriterOptions`] come through a `watch` channel: a reload sends new
//! ones, and the writer takes them when it next waits for a batch (at
//! once when idle, after the group being committed when busy); a new
//! retention policy is applied right then.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use logcore::wire::WireStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info};

use crate::config::Config;
use crate::detect::DetectOptions;
use crate::notify::{Stats, Watchdog};
use crate::retention::Policy;
use crate::store::{Peer, Store};

/// Batches waiting for the writer, over all connections. Each holds at
/// most one frame's worth of lines.
pub const QUEUE: usize = 16;

/// Longest the loop sleeps.
const TICK: Duration = Duration::from_secs(1);

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// The least time between two commits while batches keep coming. Each
/// commit makes a tantivy segment that has to be merged later: committing
/// whenever the queue ran dry made a busy collector spend half its CPU on
/// merges. A batch waits at most this long beyond its own arrival, well
/// inside `commit-interval`.
const MIN_COMMIT_GAP: Duration = Duration::from_millis(100);

/// Who sent a batch, and so how it is stored.
pub enum SentBy {
    /// An agent, which re-sends what was not acknowledged: its lines go
    /// through the high-water marks (`dedup`), which the commit saves.
    Agent(Arc<Peer>),
    /// Syslog senders, one per stream (`streams[i]` from `peers[i]`):
    /// nothing is ever re-sent, so no dedup and no marks.
    Syslog(Vec<Arc<Peer>>),
}

/// One decoded BATCH (or a group of syslog messages) on its way to the
/// writer.
pub struct Batch {
    pub sent_by: SentBy,
    /// The collector's clock when the batch was read, ms since the epoch.
    pub receive_time_ms: i64,
    pub streams: Vec<WireStream>,
    /// Completed once the batch is committed; dropped if it never will be.
    pub done: oneshot::Sender<()>,
}

/// What a reload can change in the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    pub commit_interval: Duration,
    pub retention: Policy,
    pub detect: DetectOptions,
}

impl WriterOptions {
    pub fn from_config(config: &Config) -> WriterOptions {
        WriterOptions {
            commit_interval: config.commit_interval(),
            retention: Policy {
                days: config.retention_days,
                bytes: config.retention_bytes,
            },
            detect: DetectOptions::from_config(config),
        }
    }
}

/// What woke the idle writer.
enum Wake {
    Batch(Batch),
    /// Every sender is gone.
    Closed,
    /// New options.
    Options,
    /// A second without batches.
    Tick,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs the writer loop until the queue closes; returns after the final
/// commit. An error is fatal: nothing after it would be durable.
pub fn run(
    mut store: Store,
    mut queue: mpsc::Receiver<Batch>,
    mut new_options: watch::Receiver<WriterOptions>,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let mut options = new_options.borrow_and_update().clone();
    store.set_retention(options.retention);
    // Only for waiting on the queue with a timeout.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the writer's timer")?;
    let mut watchdog = Watchdog::from_env();
    let mut last_retention = Instant::now();
    let mut done: Vec<oneshot::Sender<()>> = Vec::new();
    let mut last_commit = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        watchdog.tick();
        let wake = rt.block_on(async {
            tokio::select! {
                // First, so that options sent while batches keep coming are
                // taken at the next wait all the same.
                biased;
                Ok(()) = new_options.changed() => Wake::Options,
                next = tokio::time::timeout(TICK, queue.recv()) => match next {
                    Ok(Some(batch)) => Wake::Batch(batch),
                    Ok(None) => Wake::Closed,
                    Err(_) => Wake::Tick,
                },
            }
        });
        let first = match wake {
            Wake::Batch(batch) => batch,
            Wake::Closed => break,
            Wake::Options => {
                let new = new_options.borrow_and_update().clone();
                if new.retention != options.retention {
                    store.set_retention(new.retention);
                    store.apply_retention(now_ms())?;
                    last_retention = Instant::now();
                }
                if new.detect != options.detect {
                    store.set_detect_options(new.detect.clone())?;
                }
                options = new;
                continue;
            }
            Wake::Tick => {
                store.detect_tick(now_ms())?;
                stats
                    .anomalies
                    .store(store.anomalies_opened(), Ordering::Relaxed);
                if last_retention.elapsed() >= RETENTION_EVERY {
                    store.apply_retention(now_ms())?;
                    last_retention = Instant::now();
                }
                continue;
            }
        };
        // A group: this batch and those queued behind it.
        let started = Instant::now();
        let mut lines = 0;
        let mut closed = false;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            lines += match &batch.sent_by {
                SentBy::Agent(peer) => store.add(peer, batch.receive_time_ms, batch.streams)?,
                SentBy::Syslog(peers) => {
                    store.add_syslog(peers, batch.receive_time_ms, batch.streams)?
                }
            };
            done.push(batch.done);
            watchdog.tick();
            if started.elapsed() >= options.commit_interval {
                break;
            }
            match queue.try_recv() {
                Ok(batch) => next = Some(batch),
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Wait for more until the gap since the last commit is
                    // up, then commit what there is.
                    let until =
                        (last_commit + MIN_COMMIT_GAP).min(started + options.commit_interval);
                    if let Some(wait) = until.checked_duration_since(Instant::now()) {
                        match rt.block_on(async { tokio::time::timeout(wait, queue.recv()).await })
                        {
                            Ok(Some(batch)) => next = Some(batch),
                            Ok(None) => closed = true,
                            Err(_) => {}
                        }
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        store.commit()?;
        last_commit = Instant::now();
        let batches = done.len();
        for tx in done.drain(..) {
            // The connection may be gone; the agent will re-send, and dedup drops it.
            let _ = tx.send(());
        }
        stats.lines.fetch_add(lines, Ordering::Relaxed);
        stats.twins.store(store.twins_dropped(), Ordering::Relaxed);
        stats.last_commit_ms.store(now_ms(), Ordering::Relaxed);
        debug!(
            batches,
            lines,
            ms = started.elapsed().as_millis() as u64,
            "Committed."
        );
        if closed {
            break;
        }
        if last_tick.elapsed() >= TICK {
            store.detect_tick(now_ms())?;
            stats
                .anomalies
                .store(store.anomalies_opened(), Ordering::Relaxed);
            last_tick = Instant::now();
        }
        if last_retention.elapsed() >= RETENTION_EVERY {
            store.apply_retention(now_ms())?;
            last_retention = Instant::now();
        }
    }
    if store.is_dirty() {
        store.commit()?;
    }
    store.stop_detection()?;
    info!("Writer stopped after its last commit.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use logcore::schema::LogSchema;
    use logcore::wire::{WireRecord, WireStream};
    use tantivy::collector::Count;
    use tantivy::query::AllQuery;
    use tantivy::Index;

    use super::*;
    use crate::dedup::Payload;
    use crate::retention::Policy;
    use crate::store::StoreOptions;

    fn batch(peer: &Arc<Peer>, stream: u64, from: u64, n: u64) -> (Batch, oneshot::Receiver<()>) {
        let (done, rx) = oneshot::channel();
        let records = (from..from + n)
            .map(|i| WireRecord {
                offset: i * 10,
                end: i * 10 + 10,
                flags: 0,
                line: format!("Nov 24 22:20:01 web1 app[7]: line {i}").into_bytes(),
            })
            .collect();
        let streams = vec![WireStream {
            stream_id: stream,
            path: "/var/log/syslog".into(),
            records,
        }];
        (
            Batch {
                sent_by: SentBy::Agent(peer.clone()),
                receive_time_ms: now_ms(),
                streams,
                done,
            },
            rx,
        )
    }

    /// What a reader that opens the index now (as logq does) sees committed.
    fn committed(dir: &Path) -> (u64, Payload) {
        let index = Index::open_in_dir(dir.join("index")).unwrap();
        LogSchema::register_tokenizers(&index);
        let docs = index
            .reader()
            .unwrap()
            .searcher()
            .search(&AllQuery, &Count)
            .unwrap() as u64;
        let payload =
            serde_json::from_str(index.load_metas().unwrap().payload.as_deref().unwrap()).unwrap();
        (docs, payload)
    }

    #[test]
    fn batches_are_acknowledged_only_once_committed() {
        // An ACK tells the agent it may forget the lines: at that moment they
        // must be in a commit another process can open, with their marks.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions {
            data_dir: dir.path().to_owned(),
            writer_memory_mb: 32,
            writer_threads: 1,
            retention: Policy { days: 0, bytes: 0 },
        })
        .unwrap();
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(Stats::default());
        let (_options, options) = watch::channel(WriterOptions::from_config(&Config {
            commit_interval_ms: 500,
            retention_days: 0,
            ..Config::default()
        }));
        let thread_stats = stats.clone();
        let writer = std::thread::spawn(move || run(store, rx, options, thread_stats));
        let peer = Arc::new(Peer {
            agent_id: "agent-1".into(),
            host: "web1".into(),
            utc_offset_secs: 0,
        });

        let mut acks = Vec::new();
        let mut total = 0;
        for (i, stream) in [(0, 7), (100, 7), (0, 8)] {
            let (b, ack) = batch(&peer, stream, i, 50);
            tx.blocking_send(b).unwrap();
            acks.push((ack, stream, (i + 50) * 10));
        }
        for (ack, stream, end) in acks {
            ack.blocking_recv()
                .expect("the writer acknowledges every batch");
            total += 50;
            let (docs, payload) = committed(dir.path());
            assert!(
                docs >= total,
                "acked {total} lines but only {docs} are committed"
            );
            assert!(payload.hwms["agent-1"][&stream] >= end);
        }
        // A re-sent batch is acknowledged but stored nothing.
        let (b, ack) = batch(&peer, 7, 0, 50);
        tx.blocking_send(b).unwrap();
        ack.blocking_recv().unwrap();
        drop(tx);
        writer.join().unwrap().unwrap();
        let (docs, payload) = committed(dir.path());
        assert_eq!(docs, 150);
        assert_eq!(payload.hwms["agent-1"][&7], 1500);
        assert_eq!(payload.hwms["agent-1"][&8], 500);
        assert_eq!(stats.lines.load(Ordering::Relaxed), 150);
    }
}
