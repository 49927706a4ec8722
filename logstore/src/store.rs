//! Everything on disk, driven by the writer thread: the index, the archive
//! and the high-water marks, kept consistent with each other.
//!
//! The archive holds the only copy of each line; an index document holds
//! the line's location in it (see [`crate::schema`]).
//!
//! Durability order, for each group of batches: lines go to the archive
//! buffer, which says where each will be, and documents pointing there to
//! the index writer ([`Store::append`], [`Store::end_batch`]); [`Store::commit`] appends
//! and fsyncs the archive members, then commits the index with a payload
//! naming the new archive lengths and marks. Only after that are the
//! batches acknowledged (by the caller). A crash at any point leaves the
//! last commit as the truth: [`Store::open`] cuts the archive back to it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use logcore::record::Record;
use tantivy::{Index, IndexWriter, TantivyDocument};
use tracing::{info, warn};

use crate::archive::{self, day_of, Archive, Day, MS_PER_DAY};
use crate::dedup::{Mark, MarkLimits, Marks, Payload, TooManyStreams, PAYLOAD_VERSION};
use crate::index;
use crate::marklog::MarkLog;
use crate::retention::{self, Policy};
use crate::schema::LogSchema;

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

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub data_dir: PathBuf,
    pub writer_memory_mb: u32,
    pub writer_threads: u32,
    pub retention: Policy,
    pub mark_limits: MarkLimits,
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
    data_dir: PathBuf,
}

impl Store {
    /// Opens (or creates) `data-dir/index` and `data-dir/archive` and brings
    /// the archive back to the last commit.
    pub fn open(options: &StoreOptions) -> anyhow::Result<Store> {
        let data_dir = &options.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let index_dir = data_dir.join("index");
        let opened = index::open(&index_dir, options.writer_memory_mb, options.writer_threads)?;
        let schema = opened.schema.clone();
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
            data_dir: data_dir.clone(),
        };
        if first_start {
            // Record the versions and adopt any archive files from the start.
            store.commit()?;
        }
        info!(dir = %data_dir.display(), streams = store.marks.streams(), days = store.archive.days().len(), "Opened the index and the archive.");
        Ok(store)
    }

    /// The payload of the last commit.
    pub fn payload(&self) -> anyhow::Result<Option<Payload>> {
        let meta = self.index.load_metas().context("cannot read the index")?;
        meta.payload
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .context("cannot read the commit payload")
    }

    /// The number of streams with a mark.
    pub fn marked_streams(&self) -> usize {
        self.marks.streams()
    }

    /// The days the archive holds, and their committed lengths.
    pub fn days(&self) -> Vec<(Day, u64)> {
        self.archive.days()
    }

    /// The first half of a commit alone (the archive written, the index
    /// not committed): what a crash between the two leaves, for tests.
    #[doc(hidden)]
    pub fn flush_archive(&mut self) -> anyhow::Result<()> {
        self.archive.flush()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Admits a batch of `agent`'s streams under the caps on streams with
    /// a mark: all of them or, when one cap would be passed, none.
    pub fn admit(
        &mut self,
        agent: &str,
        streams: impl Iterator<Item = u64>,
    ) -> Result<(), TooManyStreams> {
        self.marks.admit(agent, streams, self.mark_limits)
    }

    /// Where `agent`'s `stream` is stored up to (exclusive), if anywhere.
    pub fn mark(&self, agent: &str, stream: u64) -> Option<u64> {
        self.marks.get(agent, stream).map(|m| m.end)
    }

    /// Moves the mark of `agent`'s `stream` (committed with the lines).
    pub fn set_mark(&mut self, agent: &str, stream: u64, mark: Mark) {
        self.marks.set(agent, stream, mark);
    }

    /// Buffers `record` for the archive, on the UTC day `day` of its
    /// receive time; its document follows once the archive places it.
    pub fn append(&mut self, day: Day, record: &Record) -> anyhow::Result<()> {
        let doc = self.schema.document_unplaced(record);
        self.archive
            .append(day, kind_key(record), &record.raw, doc)
            .context("cannot buffer archive lines")
    }

    /// Ends a batch: the documents of the lines placed so far go to the
    /// index. Nothing is durable before [`Store::commit`].
    pub fn end_batch(&mut self) -> anyhow::Result<()> {
        self.add_placed()?;
        self.dirty = true;
        Ok(())
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
            schema: self.schema.version,
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
        Ok(())
    }

    /// The caps on streams with a mark (a reload may change them).
    pub fn set_mark_limits(&mut self, limits: MarkLimits) {
        self.mark_limits = limits;
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
    /// which the next start removes). Returns the time before which lines
    /// went (received before it), if any did.
    pub fn apply_retention(&mut self, now_ms: i64) -> anyhow::Result<Option<i64>> {
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
            return Ok(None);
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
        Ok(Some(cut * MS_PER_DAY))
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

/// The I/O error behind one link of an error chain, when the engine wrapped
/// it in a type of its own (tantivy's `IoError`): what a caller needs to
/// tell a full disk from other failures without knowing the engine.
pub fn io_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    match cause.downcast_ref::<tantivy::TantivyError>() {
        Some(tantivy::TantivyError::IoError(e)) => Some(e),
        _ => None,
    }
}
