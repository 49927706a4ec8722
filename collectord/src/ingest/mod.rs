//! Ingest policy: what becomes of each line between the connection that
//! received it and the store. Deduplication against the marks (`logstore::dedup`),
//! journal/file twins ([`twins`]), parsing, and the anomaly detectors
//! ([`crate::detect`]), which see every stored line before it is
//! appended; then the engine's writer (`logstore::Store`) stores it.
//! Only the writer thread (`crate::writer`) holds an [`Ingest`].

pub mod twins;

use logcore::record::{Origin, Record};
use logcore::wire::{WireStream, FLAG_PARTIAL};
use logstore::archive::day_of;
use logstore::dedup::{verdict, Mark, MarkLimits, Verdict};
use logstore::retention::Policy;
use logstore::store::{Store, StoreOptions};

use crate::detect::{DetectOptions, Detector};
use twins::Twins;

/// Whether [`Ingest::keep`] looks for a journal/file twin ([`twins`]):
/// agents' lines only; syslog senders have neither journal nor file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TwinCheck {
    Yes,
    No,
}

/// A batch the store will not take, for a reason the sender is told
/// (the connection sends an ERROR and closes); nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    TooManyStreams(logstore::dedup::TooManyStreams),
}

/// Who sent a batch, from its HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub agent_id: String,
    pub host: String,
    pub utc_offset_secs: i32,
}

impl Peer {
    /// Where the lines of a stream (its path and id) come from, as a
    /// record says it.
    fn origin<'a>(&'a self, path: &'a str, stream: u64, receive_time_ms: i64) -> Origin<'a> {
        Origin {
            agent: &self.agent_id,
            host: &self.host,
            path,
            stream,
            utc_offset_secs: self.utc_offset_secs,
            receive_time_ms,
        }
    }
}

/// The store, and what happens to lines on their way into it.
pub struct Ingest {
    store: Store,
    /// The anomaly detectors, once [`Ingest::start_detection`] ran.
    detector: Option<Detector>,
    /// The retention's last cut (lines received before it went), for the
    /// detectors' files when they start after it.
    forgotten_before_ms: Option<i64>,
    /// Journal entries and their rsyslog file lines, stored once.
    twins: Twins,
}

impl Ingest {
    /// Opens the store (see `logstore::Store::open`).
    pub fn open(options: &StoreOptions) -> anyhow::Result<Ingest> {
        Ok(Ingest {
            store: Store::open(options)?,
            detector: None,
            forgotten_before_ms: None,
            twins: Twins::default(),
        })
    }

    /// Journal/file twins dropped since the start.
    pub fn twins_dropped(&self) -> u64 {
        self.twins.dropped
    }

    /// Stores the new lines of one batch (see `dedup` for which are new);
    /// returns how many it stored. Nothing is durable before [`Ingest::commit`].
    pub fn add(
        &mut self,
        peer: &Peer,
        receive_time_ms: i64,
        streams: Vec<WireStream>,
    ) -> anyhow::Result<u64> {
        self.store
            .admit(&peer.agent_id, streams.iter().map(|s| s.stream_id))
            .map_err(Refused::TooManyStreams)?;
        let day = day_of(receive_time_ms);
        let mut stored = 0;
        for stream in streams {
            let origin = peer.origin(&stream.path, stream.stream_id, receive_time_ms);
            let mut hwm = self.store.mark(&peer.agent_id, stream.stream_id);
            for record in stream.records {
                let end = record.end;
                let (offset, flags, line) = match verdict(hwm, &record) {
                    Verdict::Duplicate => continue,
                    Verdict::New => (record.offset, record.flags, record.line),
                    Verdict::Rest { skip } => {
                        let mut line = record.line;
                        if skip >= line.len() {
                            hwm = hwm.max(Some(end));
                            continue;
                        }
                        line.drain(..skip);
                        (
                            record.offset + skip as u64,
                            record.flags | FLAG_PARTIAL,
                            line,
                        )
                    }
                };
                if !self.keep(&origin, day, offset, flags, line, TwinCheck::Yes)? {
                    // The journal's or the file's copy of an event already
                    // stored: the mark moves on, nothing is stored.
                    hwm = hwm.max(Some(end));
                    continue;
                }
                hwm = hwm.max(Some(end));
                stored += 1;
            }
            if let Some(end) = hwm {
                self.store.set_mark(
                    &peer.agent_id,
                    stream.stream_id,
                    Mark {
                        end,
                        last_seen_ms: receive_time_ms,
                    },
                );
            }
        }
        self.store.end_batch()?;
        Ok(stored)
    }

    /// Stores every line of a batch of syslog messages, `streams[i]` from
    /// `peers[i]`; returns how many. Syslog senders never re-send, so there
    /// is no deduplication and no mark: the commit payload stays the
    /// agents' alone.
    pub fn add_syslog(
        &mut self,
        peers: &[std::sync::Arc<Peer>],
        receive_time_ms: i64,
        streams: Vec<WireStream>,
    ) -> anyhow::Result<u64> {
        anyhow::ensure!(
            peers.len() == streams.len(),
            "a syslog batch has {} streams but {} senders",
            streams.len(),
            peers.len()
        );
        let day = day_of(receive_time_ms);
        let mut stored = 0;
        for (peer, stream) in peers.iter().zip(streams) {
            let origin = peer.origin(&stream.path, stream.stream_id, receive_time_ms);
            for record in stream.records {
                self.keep(
                    &origin,
                    day,
                    record.offset,
                    record.flags,
                    record.line,
                    TwinCheck::No,
                )?;
                stored += 1;
            }
        }
        self.store.end_batch()?;
        Ok(stored)
    }

    /// Parses one line, runs the detectors on it and buffers it for the
    /// archive (its document follows once the archive places it).
    /// `false` when the record is a journal/file twin of one already
    /// stored (only with [`TwinCheck::Yes`]) and was dropped.
    fn keep(
        &mut self,
        origin: &Origin<'_>,
        day: i64,
        offset: u64,
        flags: u8,
        line: Vec<u8>,
        twins: TwinCheck,
    ) -> anyhow::Result<bool> {
        let mut record = Record::from_line(origin, offset, flags, line);
        if twins == TwinCheck::Yes && self.twins.is_twin(&record) {
            return Ok(false);
        }
        if let Some(d) = &mut self.detector {
            d.observe(&mut record);
        }
        self.store.append(day, &record)?;
        Ok(true)
    }

    /// Makes everything added so far durable (`logstore::Store::commit`),
    /// then the anomalies found in it.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.store.commit()?;
        if let Some(d) = &mut self.detector {
            d.sync();
        }
        Ok(())
    }

    /// Runs the anomaly detectors on every line added from now on.
    pub fn start_detection(&mut self, options: DetectOptions) -> anyhow::Result<()> {
        let mut d = Detector::open(self.store.data_dir(), options)?;
        if let Some(cut_ms) = self.forgotten_before_ms {
            d.forget_before(cut_ms);
        }
        self.detector = Some(d);
        Ok(())
    }

    /// New detector options (a reload).
    pub fn set_detect_options(&mut self, options: DetectOptions) -> anyhow::Result<()> {
        match &mut self.detector {
            Some(d) => d.set_options(options),
            None => Ok(()),
        }
    }

    /// The detectors' periodic work (see `detect::Detector::tick`).
    pub fn detect_tick(&mut self, now_ms: i64) {
        if let Some(d) = &mut self.detector {
            d.tick(now_ms);
        }
    }

    /// Anomalies opened since the start.
    pub fn anomalies_opened(&self) -> u64 {
        self.detector.as_ref().map_or(0, |d| d.opened)
    }

    /// At shutdown, after the last commit.
    pub fn stop_detection(&mut self) {
        if let Some(d) = &mut self.detector {
            d.shutdown();
        }
    }

    /// The caps on streams with a mark (a reload may change them).
    pub fn set_mark_limits(&mut self, limits: MarkLimits) {
        self.store.set_mark_limits(limits);
    }

    /// Whether lines were added since the last commit.
    pub fn is_dirty(&self) -> bool {
        self.store.is_dirty()
    }

    /// The policy [`Ingest::apply_retention`] applies from now on.
    pub fn set_retention(&mut self, policy: Policy) {
        self.store.set_retention(policy);
    }

    /// Applies the retention policy as of `now_ms` (`logstore::Store::apply_retention`),
    /// and when lines went, the detectors' records of them too.
    pub fn apply_retention(&mut self, now_ms: i64) -> anyhow::Result<()> {
        if let Some(cut_ms) = self.store.apply_retention(now_ms)? {
            self.forgotten_before_ms = Some(cut_ms);
            if let Some(d) = &mut self.detector {
                d.forget_before(cut_ms);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
