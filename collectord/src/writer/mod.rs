//! The single writer: one thread owns the [`Ingest`] and turns queued
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
use crate::ingest::{Ingest, Peer, Refused};
use crate::notify::{Stats, Watchdog};
use crate::space::{self, Space};
use logstore::dedup::MarkLimits;
use logstore::retention::Policy;
use logstore::StoreOptions;

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
    /// Completed with `Ok` once the batch is committed, with `Err` when it
    /// was not stored and the sender should hear why; dropped when a batch
    /// before it of the same connection was not stored either.
    pub done: oneshot::Sender<Stored>,
}

/// What the writer says of a batch.
pub type Stored = Result<(), NotStored>;

/// Why a batch was not stored. Nothing of it was: an agent sends it again
/// (on a new connection, later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStored {
    /// A limit of the store refused it (too many streams), in words.
    Refused(String),
    /// A write failed for lack of space: the writer is paused until the
    /// disk has room.
    DiskFull,
}

impl std::fmt::Display for NotStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotStored::Refused(why) => write!(f, "batch refused: {why}"),
            NotStored::DiskFull => write!(f, "the collector's disk is full"),
        }
    }
}

/// What a reload can change in the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    pub commit_interval: Duration,
    pub retention: Policy,
    pub detect: DetectOptions,
    pub mark_limits: MarkLimits,
    pub min_free_mb: u64,
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
            mark_limits: MarkLimits {
                per_agent: config.max_streams_per_agent as usize,
                total: config.max_streams as usize,
            },
            min_free_mb: config.min_free_mb,
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

/// How the writer (re)opens the store: at start when the daemon could
/// not (the disk was full), and after a write failed for lack of space.
pub fn open_store(store: &StoreOptions, options: &WriterOptions) -> anyhow::Result<Ingest> {
    let mut s = Ingest::open(store)?;
    s.apply_retention(now_ms())?;
    s.start_detection(options.detect.clone())?;
    Ok(s)
}

/// Runs the writer loop until the queue closes; returns after the final
/// commit. `store` is the store the daemon opened, or the out-of-space
/// error that kept it from opening (the writer then waits for space and
/// opens it itself). An error is fatal: nothing after it would be
/// durable. A lack of space is not an error: see `space`.
pub fn run(
    store: Result<Ingest, anyhow::Error>,
    store_options: StoreOptions,
    mut queue: mpsc::Receiver<Batch>,
    mut new_options: watch::Receiver<WriterOptions>,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let mut options = new_options.borrow_and_update().clone();
    let mut space = Space::new(&store_options.data_dir, options.min_free_mb);
    let mut store = match store {
        Ok(mut s) => {
            s.set_retention(options.retention);
            s.set_mark_limits(options.mark_limits);
            Some(s)
        }
        Err(e) => {
            space.failed(&e);
            None
        }
    };
    // Only for waiting on the queue with a timeout.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the writer's timer")?;
    let mut watchdog = Watchdog::from_env();
    let mut last_retention = Instant::now();
    let mut done: Group = Group::default();
    let mut last_commit = Instant::now();
    let mut last_tick = Instant::now();
    let mut refusals = Refusals::default();
    loop {
        watchdog.tick();
        stats.set_storage(space.status());
        if store.is_none() || !space.room() {
            // Paused: take no batch (connections stop reading, agents wait)
            // until space returns, or until every sender is gone (shutdown:
            // batches still queued are not acknowledged, and their agents
            // send them again).
            if queue.is_closed() {
                break;
            }
            let changed = rt.block_on(async {
                tokio::select! {
                    Ok(()) = new_options.changed() => true,
                    () = tokio::time::sleep(TICK) => false,
                }
            });
            if changed {
                options = new_options.borrow_and_update().clone();
                space.set_min_free_mb(options.min_free_mb);
                if let Some(s) = &mut store {
                    s.set_retention(options.retention);
                    s.set_mark_limits(options.mark_limits);
                }
            }
            if space.poll() {
                if store.is_none() {
                    let mut options = options.clone();
                    options.retention = store_options.retention;
                    match open_store(&store_options, &options) {
                        Ok(mut s) => {
                            s.set_retention(options.retention);
                            s.set_mark_limits(options.mark_limits);
                            store = Some(s);
                        }
                        Err(e) if space::out_of_space(&e) => {
                            space.failed(&e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                space.resumed();
                stats.set_storage(None);
            }
            continue;
        }
        let s = store.as_mut().expect("checked above");
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
                space.set_min_free_mb(new.min_free_mb);
                s.set_mark_limits(new.mark_limits);
                if new.detect != options.detect {
                    s.set_detect_options(new.detect.clone())?;
                }
                let retention = new.retention != options.retention;
                options = new;
                if retention {
                    s.set_retention(options.retention);
                    let applied = s.apply_retention(now_ms());
                    if failed(applied, &mut store, &mut space, &mut done)? {
                        continue;
                    }
                    last_retention = Instant::now();
                }
                continue;
            }
            Wake::Tick => {
                s.detect_tick(now_ms());
                stats
                    .anomalies
                    .store(s.anomalies_opened(), Ordering::Relaxed);
                if last_retention.elapsed() >= RETENTION_EVERY {
                    let applied = s.apply_retention(now_ms());
                    if failed(applied, &mut store, &mut space, &mut done)? {
                        continue;
                    }
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
        let mut result = Ok(());
        while let Some(batch) = next.take() {
            if done.is_poisoned(&batch.sent_by) {
                // An earlier batch of this connection was not stored: this
                // one must not be either (see `Group`).
                drop(batch);
            } else {
                let added = match &batch.sent_by {
                    SentBy::Agent(peer) => s.add(peer, batch.receive_time_ms, batch.streams),
                    SentBy::Syslog(peers) => {
                        s.add_syslog(peers, batch.receive_time_ms, batch.streams)
                    }
                };
                match added {
                    Ok(n) => {
                        lines += n;
                        done.push(batch.done, &batch.sent_by);
                    }
                    Err(e) => match e.downcast::<Refused>() {
                        // Nothing of it was stored: the connection is told why
                        // (its `done` is dropped) and the group goes on.
                        Ok(refused) => {
                            refusals.log(&batch.sent_by, &refused);
                            done.poison(&batch.sent_by);
                            let _ = batch
                                .done
                                .send(Err(NotStored::Refused(refused.to_string())));
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    },
                }
            }
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
        let result = result.and_then(|()| s.commit());
        if failed(result, &mut store, &mut space, &mut done)? {
            if closed {
                break;
            }
            continue;
        }
        let s = store.as_mut().expect("the commit worked");
        last_commit = Instant::now();
        let batches = done.acknowledge();
        stats.lines.fetch_add(lines, Ordering::Relaxed);
        stats.twins.store(s.twins_dropped(), Ordering::Relaxed);
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
            s.detect_tick(now_ms());
            stats
                .anomalies
                .store(s.anomalies_opened(), Ordering::Relaxed);
            last_tick = Instant::now();
        }
        if last_retention.elapsed() >= RETENTION_EVERY {
            let applied = s.apply_retention(now_ms());
            if failed(applied, &mut store, &mut space, &mut done)? {
                continue;
            }
            last_retention = Instant::now();
        }
    }
    match store {
        Some(mut s) => {
            if s.is_dirty() {
                s.commit()?;
            }
            s.stop_detection();
            info!("Writer stopped after its last commit.");
        }
        None => info!("Writer stopped; the disk was full, nothing was pending."),
    }
    Ok(())
}

/// After a write: `Ok(false)` when it worked; `Ok(true)` when it failed for
/// lack of space, and the store was closed (whatever it held since its
/// last commit is dropped, the batches of the group are not acknowledged:
/// their agents send them again) and the writer paused; `Err` for any
/// other failure, which is fatal.
fn failed(
    result: anyhow::Result<()>,
    store: &mut Option<Ingest>,
    space: &mut Space,
    done: &mut Group,
) -> anyhow::Result<bool> {
    match result {
        Ok(()) => Ok(false),
        Err(e) if space::out_of_space(&e) => {
            done.fail();
            *store = None;
            space.failed(&e);
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

mod group;
use group::{Group, Refusals};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use logcore::wire::{WireRecord, WireStream};
    use logstore::schema::LogSchema;
    use tantivy::collector::Count;
    use tantivy::query::AllQuery;
    use tantivy::Index;

    use super::*;
    use logstore::dedup::Payload;
    use logstore::retention::Policy;
    use logstore::StoreOptions;

    fn batch(
        peer: &Arc<Peer>,
        stream: u64,
        from: u64,
        n: u64,
    ) -> (Batch, oneshot::Receiver<Stored>) {
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

    /// What a reader that opens the index now (as logq does) sees
    /// committed: the documents, and the marks the commit names.
    fn committed(dir: &Path) -> (u64, logstore::dedup::Marks) {
        let index = Index::open_in_dir(dir.join("index")).unwrap();
        LogSchema::new().register_tokenizers(&index);
        let docs = index
            .reader()
            .unwrap()
            .searcher()
            .search(&AllQuery, &Count)
            .unwrap() as u64;
        let payload: Payload =
            serde_json::from_str(index.load_metas().unwrap().payload.as_deref().unwrap()).unwrap();
        (
            docs,
            logstore::marklog::read(dir, payload.marks.unwrap()).unwrap(),
        )
    }

    #[test]
    fn batches_are_acknowledged_only_once_committed() {
        // An ACK tells the agent it may forget the lines: at that moment they
        // must be in a commit another process can open, with their marks.
        let dir = tempfile::tempdir().unwrap();
        let store_options = StoreOptions {
            data_dir: dir.path().to_owned(),
            writer_memory_mb: 32,
            writer_threads: 1,
            retention: Policy { days: 0, bytes: 0 },
            mark_limits: Default::default(),
        };
        let store = Ingest::open(&store_options).unwrap();
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(Stats::default());
        let (_options, options) = watch::channel(WriterOptions::from_config(&Config {
            commit_interval_ms: 500,
            retention_days: 0,
            ..Config::default()
        }));
        let thread_stats = stats.clone();
        let writer =
            std::thread::spawn(move || run(Ok(store), store_options, rx, options, thread_stats));
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
            assert_eq!(
                ack.blocking_recv().expect("the writer answers every batch"),
                Ok(())
            );
            total += 50;
            let (docs, marks) = committed(dir.path());
            assert!(
                docs >= total,
                "acked {total} lines but only {docs} are committed"
            );
            assert!(marks.get("agent-1", stream).unwrap().end >= end);
        }
        // A re-sent batch is acknowledged but stored nothing.
        let (b, ack) = batch(&peer, 7, 0, 50);
        tx.blocking_send(b).unwrap();
        assert_eq!(ack.blocking_recv().unwrap(), Ok(()));
        drop(tx);
        writer.join().unwrap().unwrap();
        let (docs, marks) = committed(dir.path());
        assert_eq!(docs, 150);
        assert_eq!(marks.get("agent-1", 7).unwrap().end, 1500);
        assert_eq!(marks.get("agent-1", 8).unwrap().end, 500);
        assert_eq!(stats.lines.load(Ordering::Relaxed), 150);
    }

    #[test]
    fn a_refused_batch_is_answered_with_why_and_the_connection_stores_nothing_after_it() {
        // An agent over max-streams-per-agent must hear why (its connection
        // sends an ERROR naming the limit), not see the collector go away;
        // and a batch it had queued behind the refused one must not be
        // stored either, or its marks would move past lines the agent
        // sends again.
        let dir = tempfile::tempdir().unwrap();
        let limits = logstore::dedup::MarkLimits {
            per_agent: 1,
            total: 100,
        };
        let store_options = StoreOptions {
            data_dir: dir.path().to_owned(),
            writer_memory_mb: 32,
            writer_threads: 1,
            retention: Policy { days: 0, bytes: 0 },
            mark_limits: limits,
        };
        let store = Ingest::open(&store_options).unwrap();
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut options = WriterOptions::from_config(&Config {
            commit_interval_ms: 500,
            retention_days: 0,
            ..Config::default()
        });
        options.mark_limits = limits;
        let (_options, options) = watch::channel(options);
        let stats = Arc::new(Stats::default());
        let writer = std::thread::spawn(move || run(Ok(store), store_options, rx, options, stats));
        let peer = Arc::new(Peer {
            agent_id: "agent-1".into(),
            host: "web1".into(),
            utc_offset_secs: 0,
        });
        let (first, first_ack) = batch(&peer, 7, 0, 5);
        let (second, second_ack) = batch(&peer, 8, 0, 5);
        let (third, third_ack) = batch(&peer, 7, 5, 5);
        tx.blocking_send(first).unwrap();
        tx.blocking_send(second).unwrap();
        tx.blocking_send(third).unwrap();
        assert_eq!(first_ack.blocking_recv().unwrap(), Ok(()));
        match second_ack.blocking_recv().unwrap() {
            Err(NotStored::Refused(why)) => assert!(why.contains("streams"), "{why}"),
            other => panic!("the second stream was not refused: {other:?}"),
        }
        assert!(
            third_ack.blocking_recv().is_err(),
            "a batch after the refused one was answered"
        );
        drop(tx);
        writer.join().unwrap().unwrap();
        let (docs, marks) = committed(dir.path());
        assert_eq!(docs, 5);
        assert_eq!(marks.get("agent-1", 7).unwrap().end, 50);
        assert!(marks.get("agent-1", 8).is_none());
    }
}
