//! Everything on disk, driven by the writer thread: the index, the archive
//! and the high-water marks, kept consistent with each other.
//!
//! The archive holds the only copy of each line; an index document holds
//! the line's location in it (see `logcore::schema`).
//!
//! Durability order, for each group of batches: lines go to the archive
//! buffer, which says where each will be, and documents pointing there to
//! the index writer ([`Store::add`]); [`Store::commit`] appends
//! and fsyncs the archive members, then commits the index with a payload
//! naming the new archive lengths and marks. Only after that are the
//! batches acknowledged (by the caller). A crash at any point leaves the
//! last commit as the truth: [`Store::open`] cuts the archive back to it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use logcore::record::{Origin, Record};
use logcore::schema::{LogSchema, SCHEMA_VERSION};
use logcore::wire::{WireStream, FLAG_PARTIAL};
use tantivy::{Index, IndexWriter, TantivyDocument};
use tracing::{info, warn};

use crate::archive::{self, day_of, Archive, MS_PER_DAY};
use crate::dedup::{verdict, Mark, MarkLimits, Marks, Payload, Verdict, PAYLOAD_VERSION};
use crate::detect::{DetectOptions, Detector};
use crate::index;
use crate::marklog::MarkLog;
use crate::retention::{self, Policy};
use crate::twins::Twins;

/// The zstd level of archive blocks, with the lazy strategy and a minimum
/// match of 6 (set in `archive`). Measured on the tests corpus (127-byte
/// lines, 4 KiB blocks by kind, 64 KiB dictionary), size / raw and CPU-s
/// per million lines: level 3 0.219 / 0.36, level 6 0.204 / 1.45, level 7
/// 0.197 / 1.87, level 3 lazy 0.199 / 1.28, level 3 lazy with matches of
/// 6 bytes 0.198 / 1.22, level 3 greedy 0.214 / 0.76 (levels 4 and 5
/// compress worse than 3 with a dictionary). 128 KiB gzip members at level
/// 6, the format before, gave 0.211 for 1.1.
pub const ARCHIVE_LEVEL: i32 = 3;

/// Which archive blocks a line goes to: its program and the first word of
/// its message when that starts with a letter (`sshd` + `Failed`, `CRON`,
/// `kernel`), so that one kind of line shares blocks (see `archive`).
fn kind_key(record: &Record) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    record.program.hash(&mut h);
    let word = record.message.split(' ').next().unwrap_or("");
    if word.starts_with(|c: char| c.is_ascii_alphabetic()) {
        word.hash(&mut h);
    }
    h.finish()
}

/// Marks of streams not seen for this long are dropped from the payload.
const FORGET_STREAMS_MS: i64 = 30 * MS_PER_DAY;

/// Whether [`Store::keep`] looks for a journal/file twin (`twins.rs`):
/// agents' lines only; syslog senders have neither journal nor file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TwinCheck {
    Yes,
    No,
}

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    pub writer_memory_mb: u32,
    pub writer_threads: u32,
    pub retention: Policy,
    pub mark_limits: MarkLimits,
}

/// A batch the store will not take, for a reason the sender is told
/// (the connection sends an ERROR and closes); nothing of it is stored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    TooManyStreams(crate::dedup::TooManyStreams),
}

/// Who sent a batch, from its HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub agent_id: String,
    pub host: String,
    pub utc_offset_secs: i32,
}

pub struct Store {
    schema: LogSchema,
    index: Index,
    writer: IndexWriter,
    index_dir: PathBuf,
    /// Items: the line's document, without its location.
    archive: Archive<TantivyDocument>,
    marks: Marks,
    /// The marks on disk (`marklog`).
    mark_log: MarkLog,
    mark_limits: MarkLimits,
    policy: Policy,
    /// Documents or deletes not yet committed.
    dirty: bool,
    /// The anomaly detectors, once [`Store::start_detection`] ran.
    detector: Option<Detector>,
    data_dir: PathBuf,
    /// Journal entries and their rsyslog file lines, stored once.
    twins: Twins,
}

impl Store {
    /// Opens (or creates) `data-dir/index` and `data-dir/archive` and brings
    /// the archive back to the last commit.
    pub fn open(options: &StoreOptions) -> anyhow::Result<Store> {
        let data_dir = &options.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let schema = LogSchema::new();
        let index_dir = data_dir.join("index");
        let opened = index::open(
            &index_dir,
            &schema,
            options.writer_memory_mb,
            options.writer_threads,
        )?;
        let archive = Archive::open(
            &data_dir.join("archive"),
            opened.payload.as_ref().map(|p| &p.archive),
            opened.payload.as_ref().map_or(0, |p| p.dict),
            ARCHIVE_LEVEL,
        )?;
        let (mut mark_log, mut marks) =
            MarkLog::open(data_dir, opened.payload.as_ref().and_then(|p| p.marks))?;
        if let Some(p) = opened.payload.as_ref().filter(|p| p.marks.is_none()) {
            // Payload version 3 carried the marks: the first commit writes
            // them to a marks file.
            marks = Marks::from_payload(p);
            mark_log.rewrite_next();
        }
        let first_start = opened.payload.is_none();
        let mut store = Store {
            schema,
            index: opened.index,
            writer: opened.writer,
            index_dir,
            archive,
            marks,
            mark_log,
            mark_limits: options.mark_limits,
            policy: options.retention,
            dirty: false,
            detector: None,
            data_dir: data_dir.clone(),
            twins: Twins::default(),
        };
        if first_start {
            // Record the versions and adopt any archive files from the start.
            store.commit()?;
        }
        info!(dir = %data_dir.display(), streams = store.marks.streams(), days = store.archive.days().len(), "Opened the index and the archive.");
        Ok(store)
    }

    /// Copies of journal events not stored because the other copy (the
    /// journal's or rsyslog's file line) was, since start.
    pub fn twins_dropped(&self) -> u64 {
        self.twins.dropped
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Stores the new lines of one batch (see `dedup` for which are new);
    /// returns how many it stored. Nothing is durable before [`Store::commit`].
    pub fn add(
        &mut self,
        peer: &Peer,
        receive_time_ms: i64,
        streams: Vec<WireStream>,
    ) -> anyhow::Result<u64> {
        self.marks
            .admit(
                &peer.agent_id,
                streams.iter().map(|s| s.stream_id),
                self.mark_limits,
            )
            .map_err(Refused::TooManyStreams)?;
        let day = day_of(receive_time_ms);
        let mut stored = 0;
        for stream in streams {
            let origin = Origin {
                agent: &peer.agent_id,
                host: &peer.host,
                path: &stream.path,
                stream: stream.stream_id,
                utc_offset_secs: peer.utc_offset_secs,
                receive_time_ms,
            };
            let mut hwm = self
                .marks
                .get(&peer.agent_id, stream.stream_id)
                .map(|m| m.end);
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
                self.marks.set(
                    &peer.agent_id,
                    stream.stream_id,
                    Mark {
                        end,
                        last_seen_ms: receive_time_ms,
                    },
                );
            }
        }
        self.add_placed()?;
        self.dirty = true;
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
            let origin = Origin {
                agent: &peer.agent_id,
                host: &peer.host,
                path: &stream.path,
                stream: stream.stream_id,
                utc_offset_secs: peer.utc_offset_secs,
                receive_time_ms,
            };
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
        self.add_placed()?;
        self.dirty = true;
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
        let doc = self.schema.document_unplaced(&record);
        self.archive
            .append(day, kind_key(&record), &record.raw, doc)
            .context("cannot buffer archive lines")?;
        Ok(true)
    }

    /// Adds the documents of the lines the archive placed, in the order
    /// they arrived. In archive order (by kind of line) their times and
    /// offsets would jump to and fro, which costs more index bytes (about
    /// 4 per line, measured) than line numbers jumping within a round of
    /// the archive's blocks.
    fn add_placed(&mut self) -> anyhow::Result<()> {
        for (mut doc, _, at) in self.archive.take_placed() {
            self.schema.place(&mut doc, at);
            self.writer.add_document(doc)?;
        }
        Ok(())
    }

    /// Makes everything added so far durable: archive members appended and
    /// fsynced, then the index committed with the payload.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.archive.flush().context("cannot write the archive")?;
        self.add_placed()?;
        let marks = self
            .mark_log
            .append(&mut self.marks)
            .context("cannot write the marks")?;
        let payload = Payload {
            version: PAYLOAD_VERSION,
            schema: SCHEMA_VERSION,
            hwms: Default::default(),
            last_seen: Default::default(),
            marks: Some(marks),
            archive: self.archive.committed(),
            dict: self.archive.dict_id(),
        };
        let json =
            serde_json::to_string(&payload).context("cannot serialize the commit payload")?;
        let mut prepared = self
            .writer
            .prepare_commit()
            .context("cannot commit the index")?;
        prepared.set_payload(&json);
        prepared.commit().context("cannot commit the index")?;
        self.mark_log.committed();
        self.dirty = false;
        if let Some(d) = &mut self.detector {
            d.sync();
        }
        Ok(())
    }

    /// Runs the anomaly detectors on every line added from now on.
    pub fn start_detection(&mut self, options: DetectOptions) -> anyhow::Result<()> {
        self.detector = Some(Detector::open(&self.data_dir, self.index.clone(), options)?);
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

    /// The caps on streams with a mark (a reload may change them).
    pub fn set_mark_limits(&mut self, limits: MarkLimits) {
        self.mark_limits = limits;
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

    /// Whether [`Store::add`] was called since the last commit.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The policy [`Store::apply_retention`] applies from now on.
    pub fn set_retention(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Applies the retention policy as of `now_ms`: deletes the index
    /// documents and archive files of the days that go, in that order
    /// (commit first, so a crash in between leaves only unnamed files,
    /// which the next start removes).
    pub fn apply_retention(&mut self, now_ms: i64) -> anyhow::Result<()> {
        let forgotten = self.marks.forget_older_than(
            now_ms - FORGET_STREAMS_MS.max(i64::from(self.policy.days) * MS_PER_DAY),
        );
        if forgotten > 0 {
            self.mark_log.rewrite_next();
            self.dirty = true;
            info!(
                streams = forgotten,
                "Forgot the marks of streams not seen for a long time."
            );
        }
        let days = self.archive.days();
        let index_bytes = index::dir_bytes(&self.index_dir);
        let Some(cut) = retention::cutoff(self.policy, day_of(now_ms), &days, index_bytes) else {
            return Ok(());
        };
        index::delete_received_before(&self.writer, &self.schema, cut * MS_PER_DAY)?;
        let files = self.archive.forget_before(cut);
        self.commit()?;
        for path in &files {
            if let Err(e) = std::fs::remove_file(path) {
                warn!(file = %path.display(), error = %e, "Could not delete an expired archive file.");
            }
        }
        info!(
            before = %archive::day_name(cut),
            files = files.len(),
            "Deleted lines past retention."
        );
        Ok(())
    }

    /// Where the index is.
    pub fn index_dir(&self) -> &Path {
        &self.index_dir
    }

    /// Where the archive is (what [`LogSchema::record_reader`] reads lines from).
    pub fn archive_dir(&self) -> &Path {
        self.archive.dir()
    }
}

#[cfg(test)]
mod tests {
    use logcore::wire::WireRecord;
    use tantivy::collector::Count;

    use crate::dedup::TooManyStreams;
    use tantivy::query::AllQuery;

    use super::*;

    fn options(dir: &Path) -> StoreOptions {
        StoreOptions {
            data_dir: dir.to_owned(),
            writer_memory_mb: 32,
            writer_threads: 1,
            retention: Policy { days: 30, bytes: 0 },
            mark_limits: MarkLimits::default(),
        }
    }

    fn peer() -> Peer {
        Peer {
            agent_id: "agent-1".into(),
            host: "web1".into(),
            utc_offset_secs: 0,
        }
    }

    fn stream(id: u64, records: &[(u64, u64, u8, &str)]) -> WireStream {
        WireStream {
            stream_id: id,
            path: "/var/log/syslog".into(),
            records: records
                .iter()
                .map(|&(offset, end, flags, line)| WireRecord {
                    offset,
                    end,
                    flags,
                    line: line.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn docs(store: &Store) -> Vec<Record> {
        let reader = store.index().reader().unwrap();
        reader.reload().unwrap();
        let searcher = reader.searcher();
        let schema = LogSchema::new();
        let mut out = Vec::new();
        let mut archive = logcore::archive::ArchiveReader::new(store.archive_dir());
        for seg in searcher.segment_readers() {
            let rr = schema.record_reader(seg).unwrap();
            for doc in seg.doc_ids_alive() {
                out.push(rr.record(doc, &mut archive).unwrap());
            }
        }
        out.sort_by_key(|r| (r.stream, r.offset));
        out
    }

    const NOW: i64 = 1_764_022_801_000;

    #[test]
    fn partial_line_resent_whole_is_stored_once() {
        // A line flushed half-written and re-sent whole must read back as
        // its two halves, not as a half plus a duplicate whole line.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&options(dir.path())).unwrap();
        store
            .add(
                &peer(),
                NOW,
                vec![stream(1, &[(0, 3, FLAG_PARTIAL, "abc")])],
            )
            .unwrap();
        store
            .add(
                &peer(),
                NOW,
                vec![stream(1, &[(0, 7, 0, "abcdef"), (7, 10, 0, "gh")])],
            )
            .unwrap();
        store
            .add(&peer(), NOW, vec![stream(1, &[(0, 7, 0, "abcdef")])])
            .unwrap();
        store.commit().unwrap();
        let got = docs(&store);
        let lines: Vec<(&[u8], u64, bool)> = got
            .iter()
            .map(|r| (&r.raw[..], r.offset, r.has(logcore::record::flags::PARTIAL)))
            .collect();
        assert_eq!(
            lines,
            vec![
                (&b"abc"[..], 0, true),
                (&b"def"[..], 3, true),
                (&b"gh"[..], 7, false)
            ]
        );
    }

    #[test]
    fn a_flood_of_streams_is_refused_and_commits_stay_small() {
        // Regression (issue 13): 3 frames of 470,000 one-line streams took
        // meta.json to 59 MB, RSS from 30 to 469 MiB and every agent's ACK
        // from 116 to 661 ms: every mark was rewritten at every commit. Now
        // a batch past the caps is refused whole, and a commit writes what
        // changed, not every mark.
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.mark_limits = MarkLimits {
            per_agent: 50_000,
            total: 60_000,
        };
        let mut store = Store::open(&opts).unwrap();
        let many = |from: u64, n: u64| -> Vec<WireStream> {
            (from..from + n)
                .map(|id| stream(id, &[(0, 2, 0, "x")]))
                .collect()
        };
        store.add(&peer(), NOW, many(0, 40_000)).unwrap();
        store.commit().unwrap();
        let refused = store.add(&peer(), NOW, many(40_000, 20_000)).unwrap_err();
        assert!(
            matches!(
                refused.downcast_ref::<Refused>(),
                Some(Refused::TooManyStreams(TooManyStreams::Agent { .. }))
            ),
            "{refused:#}"
        );
        let other = Peer {
            agent_id: "agent-2".into(),
            ..peer()
        };
        let refused = store.add(&other, NOW, many(0, 30_000)).unwrap_err();
        assert!(refused.to_string().contains("max-streams"), "{refused:#}");
        // Nothing of a refused batch was stored, and the stream of a known
        // agent still moves.
        assert_eq!(store.marks.streams(), 40_000);
        assert_eq!(
            store
                .add(&peer(), NOW, vec![stream(7, &[(2, 4, 0, "y")])])
                .unwrap(),
            1
        );
        store.commit().unwrap();
        let meta = std::fs::metadata(dir.path().join("index").join("meta.json")).unwrap();
        assert!(meta.len() < 64 * 1024, "meta.json is {} bytes", meta.len());
        let marks = std::fs::metadata(dir.path().join(crate::marklog::file_name(1))).unwrap();
        assert!(
            marks.len() < 40_000 * 40 + 4096,
            "the second commit rewrote the marks: {} bytes",
            marks.len()
        );
    }

    #[test]
    fn hwms_survive_a_restart_through_the_payload() {
        // After a collector restart, lines the agent re-sends (ACK lost in
        // the crash) must not be stored a second time.
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(&options(dir.path())).unwrap();
            store
                .add(
                    &peer(),
                    NOW,
                    vec![stream(5, &[(0, 4, 0, "one"), (4, 8, 0, "two")])],
                )
                .unwrap();
            store.commit().unwrap();
        }
        let mut store = Store::open(&options(dir.path())).unwrap();
        let meta = store.index().load_metas().unwrap();
        let payload: Payload = serde_json::from_str(meta.payload.as_deref().unwrap()).unwrap();
        assert_eq!(payload.schema, SCHEMA_VERSION);
        assert!(payload.hwms.is_empty(), "marks live in their own file");
        let marks = crate::marklog::read(dir.path(), payload.marks.unwrap()).unwrap();
        assert_eq!(marks.get("agent-1", 5).map(|m| m.end), Some(8));
        assert_eq!(store.marks.get("agent-1", 5).map(|m| m.end), Some(8));
        assert_eq!(
            store
                .add(
                    &peer(),
                    NOW,
                    vec![stream(5, &[(4, 8, 0, "two"), (8, 12, 0, "six")])]
                )
                .unwrap(),
            1
        );
        store.commit().unwrap();
        assert_eq!(
            docs(&store)
                .iter()
                .map(|r| r.raw.clone())
                .collect::<Vec<_>>(),
            vec![b"one".to_vec(), b"two".to_vec(), b"six".to_vec()]
        );
    }

    #[test]
    fn uncommitted_lines_vanish_from_archive_and_index_after_a_crash() {
        // SIGKILL after the archive write but before the index commit: the
        // restarted collector must hold neither copy (the agent re-sends).
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(&options(dir.path())).unwrap();
            store
                .add(&peer(), NOW, vec![stream(1, &[(0, 5, 0, "kept")])])
                .unwrap();
            store.commit().unwrap();
            store
                .add(&peer(), NOW, vec![stream(1, &[(5, 10, 0, "lost")])])
                .unwrap();
            // The first half of a commit, then the "crash" (drop without commit).
            store.archive.flush().unwrap();
        }
        let store = Store::open(&options(dir.path())).unwrap();
        assert_eq!(docs(&store).len(), 1);
        let path = dir
            .path()
            .join("archive")
            .join(archive::file_name(day_of(NOW)));
        let text = zstd::stream::decode_all(std::fs::File::open(path).unwrap()).unwrap();
        assert_eq!(text, b"kept\n");
    }

    #[test]
    fn records_read_back_from_the_archive_after_a_reopen_and_a_crash() {
        // logq reads every line from the archive at the location its
        // document holds: after restarts, and after a crash cut uncommitted
        // members off, each record must still come back whole and exact.
        let dir = tempfile::tempdir().unwrap();
        let origin = |stream, receive_time_ms| Origin {
            agent: "agent-1",
            host: "web1",
            path: "/var/log/syslog",
            stream,
            utc_offset_secs: 0,
            receive_time_ms,
        };
        let mut want = Vec::new();
        let batch = |store: &mut Store, id: u64, from: u64, n: u64, at: i64| {
            let lines: Vec<(u64, u64, u8, String)> = (from..from + n)
                .map(|i| {
                    let line = match i % 500 {
                        7 => "two\nlines".to_owned(),
                        8 => String::new(),
                        _ => format!("Nov 24 22:20:01 web1 sshd[{i}]: Failed password for root from 203.0.113.{} port {i} ssh2", i % 256),
                    };
                    (i * 1000, i * 1000 + 1000, 0, line)
                })
                .collect();
            let records: Vec<_> = lines
                .iter()
                .map(|(o, e, f, l)| (*o, *e, *f, l.as_str()))
                .collect();
            store.add(&peer(), at, vec![stream(id, &records)]).unwrap();
            lines
                .into_iter()
                .map(|(offset, _, _, line)| {
                    Record::from_line(&origin(id, at), offset, 0, line.into_bytes())
                })
                .collect::<Vec<_>>()
        };
        {
            let mut store = Store::open(&options(dir.path())).unwrap();
            // Enough to fill several members, two streams, two days.
            want.extend(batch(&mut store, 1, 0, 3000, NOW));
            want.extend(batch(&mut store, 2, 0, 10, NOW - MS_PER_DAY));
            store.commit().unwrap();
            want.extend(batch(&mut store, 1, 3000, 5, NOW));
            store.commit().unwrap();
            // Written to the archive, never committed: cut off at the restart.
            batch(&mut store, 1, 3005, 2000, NOW);
            store.archive.flush().unwrap();
        }
        {
            let mut store = Store::open(&options(dir.path())).unwrap();
            want.extend(batch(&mut store, 1, 3005, 20, NOW));
            store.commit().unwrap();
        }
        let store = Store::open(&options(dir.path())).unwrap();
        want.sort_by_key(|r| (r.stream, r.offset));
        let got = docs(&store);
        assert_eq!(got.len(), want.len());
        for (got, want) in got.iter().zip(&want) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn retention_deletes_old_days_from_index_and_archive() {
        // Lines older than retention-days must disappear from logq and from
        // the archive, and newer ones must stay.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&options(dir.path())).unwrap();
        let old = NOW - 40 * MS_PER_DAY;
        store
            .add(&peer(), old, vec![stream(1, &[(0, 4, 0, "old")])])
            .unwrap();
        store
            .add(&peer(), NOW, vec![stream(1, &[(4, 8, 0, "new")])])
            .unwrap();
        store.commit().unwrap();
        assert_eq!(store.archive.days().len(), 2);
        store.apply_retention(NOW).unwrap();
        let got = docs(&store);
        assert_eq!(
            got.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
            vec![b"new".to_vec()]
        );
        assert_eq!(
            store.archive.days(),
            vec![(day_of(NOW), store.archive.days()[0].1)]
        );
        assert!(!dir
            .path()
            .join("archive")
            .join(archive::file_name(day_of(old)))
            .exists());
        let reader = store.index().reader().unwrap();
        assert_eq!(reader.searcher().search(&AllQuery, &Count).unwrap(), 1);
        // The marks survive: the old stream is still deduplicated.
        assert_eq!(store.marks.get("agent-1", 1).map(|m| m.end), Some(8));
    }
}
