//! The tantivy index: its schema, its settings, and the two conversions
//! between a [`Record`] and a document. collectord writes the index, logq
//! reads it; both go through this module.
//!
//! # What is kept where
//!
//! collectord keeps each line once, in the zstd archive (see
//! [`crate::archive`]); the index holds what finds a line and where it is:
//!
//! | field | kind | what for |
//! |---|---|---|
//! | `event_time` | i64 ms, fast | range queries and ordering by time |
//! | `receive_time` | i64 ms, fast | retention deletes by range; its UTC day names the archive file |
//! | `host`, `agent`, `path` | raw string, indexed + fast | filters; read back from the fast columns |
//! | `program` | raw string, indexed | filter |
//! | `unit` | raw string, indexed, only on journal entries with a unit | filter (`unit:ssh.service`, `logq -u`); read back by parsing the line |
//! | `severity`, `facility` | u64, indexed + fast, absent when unknown | filters |
//! | `message` | text, [log tokenizer](crate::tokenizer), doc ids only | word queries |
//! | `archive_line` | u64, fast | the line's number in the day's file |
//! | `archive_breaks` | u64, fast, absent when 0 | `\n` inside the line (a multi-line journal message) |
//! | `stream` | 16 hex digits, raw string, indexed + fast | the line's file (its identity, with `offset`); see [`stream_key`] |
//! | `offset` | u64, fast | the line's identity |
//! | `flags` | u64, indexed + fast | [`logcore::record::flags`] bits (anomaly = 0x100) |
//! | `anomaly` | raw string, fast only, only on anomalies | the detector's reason ([`Record::anomaly`]); its column's presence is `logq --anomalies` |
//!
//! - The line is read from the archive ([`RecordReader`] decompresses one
//!   block of about [`crate::archive::BLOCK_BYTES`] and keeps the recent
//!   ones). Up to schema version 1 the docstore held the
//!   line too, zstd compressed: 26 of the index's 66 bytes per line on
//!   collectord's ingest_bench corpus, for lines the archive already kept.
//!   Nothing is stored now; tantivy still writes an empty document per line
//!   to the docstore, and its offset table costs about 2.4 bytes per line.
//! - The location costs about a byte and a half per line: collectord adds
//!   documents in arrival order, while the archive groups lines into
//!   blocks by kind, so `archive_line` jumps within the range of numbers of
//!   a round of 4096 lines (see `crate::archive::write`). (In archive order the times and offsets would jump
//!   instead, which cost twice that.) The archive's block table turns the
//!   number into the block to read. Up to schema version 2,
//!   `archive_member` held the byte offset of a 128 KiB gzip member.
//! - The rest of a [`Record`] is read from the fast columns, which cost a
//!   few bits per line each (values are bit-packed, strings are
//!   dictionary-encoded per segment), or, for `program`, `pid`, `unit` and
//!   `message`, parsed again from the line: the parser finds the same, and
//!   columns for them cost 2.4 bytes per line. The host has a column since
//!   it is not always in the line (the agent's host then).
//! - `message` indexes the *whole line* (lossily decoded), header included,
//!   so a word query finds what grep finds (`sshd`, the host, the pid).
//!   It records no frequencies and no positions: a phrase query is answered
//!   by looking up its words and re-matching the line.
//! - No field has fieldnorms (nothing is scored).
//! - `anomaly` is written exactly when the line is an anomaly: when the
//!   record has [`flags::ANOMALY`] or a reason (the document then has the
//!   flag too), with the reason, or `""` when there is none (read back as
//!   `None`). So "any anomaly" is tantivy's `ExistsQuery` on the column,
//!   which follows the column's optional index from one anomalous document
//!   to the next instead of testing every document's flags; the column
//!   costs nothing on segments without anomalies and a few bits per line
//!   on the others. The index term (the whole reason) finds the lines of
//!   one explanation. Added in schema version 5.
//! - `event_time` is not in the inverted index: tantivy's `RangeQuery` reads
//!   a fast field whenever the field has one, so index terms for it would
//!   only cost bytes.
//!
//! - `unit` (schema version 6) is the `_SYSTEMD_UNIT` of a journal entry,
//!   from the `journal@32473` structured data agentd writes.
//!
//! - `message` keys the long tail (schema version 7): a term of six bytes
//!   or more with a digit (a sequence number, a pid, an address, an id) is
//!   indexed as its key, shared with other such terms
//!   ([`logcore::long_tail`]); a query for it checks the lines its key
//!   finds. On the fleet corpus this took the term dictionary from 20-28
//!   to 4-12 bytes per line and the collector's CPU down by a third (the
//!   dictionaries tantivy builds and merges had one entry per identifier).
//!   A schema 6 index holds whole terms: it is read, and written, as it
//!   was ([`LogSchema::long_tail_keys`] says which).
//!
//! Bump [`SCHEMA_VERSION`] on any change here; collectord records it in its
//! commit payload. It writes new indexes in this version and keeps writing
//! an index of [`OLDEST_SCHEMA`] or later in its own; it refuses others.

use std::path::Path;

use std::cell::OnceCell;

use tantivy::index::SegmentReader;
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{DocAddress, Index, IndexSettings, Searcher, TantivyDocument};

use crate::archive::{ArchiveReader, Location};
use crate::directory::IndexDirectory;
use crate::pages::Pages;
use crate::tokenizer::{LogTokenizer, TOKENIZER_NAME};
use logcore::record::{flags, Record};
pub use logcore::record::{line_text, Want};

/// The version of this schema and of what the fields mean.
pub const SCHEMA_VERSION: u32 = 7;

/// The oldest version read and written as it is: 6 differs only in
/// keeping long-tail terms whole (no [`logcore::long_tail`] keys).
pub const OLDEST_SCHEMA: u32 = 6;

/// How a stream id is kept in the index: 16 lowercase hex digits. As a
/// u64 column the ids (hashes) cost 8 bytes per line as soon as a segment
/// holds more than a few streams, which any fleet does (measured: 0.06
/// bytes per line with 1 stream, 8.06 with 16); as a string column they
/// are ordinals of a few bits, and the term index finds a stream's lines
/// (`logq -C`) without scanning a column.
pub fn stream_key(stream: u64) -> String {
    format!("{stream:016x}")
}

/// The stream id of a [`stream_key`].
pub fn parse_stream_key(key: &str) -> Option<u64> {
    u64::from_str_radix(key, 16).ok()
}

/// Docstore block size. The docstore holds only empty documents (tantivy
/// writes one per document all the same); large blocks keep its skip index
/// small.
pub const DOCSTORE_BLOCK_BYTES: usize = 256 * 1024;
/// zstd level of the docstore. What is left to compress is the blocks'
/// offset tables (one u32 per document): 2.4 bytes per document at level 3,
/// 2.25 at level 19.
pub const DOCSTORE_ZSTD_LEVEL: i32 = 3;

/// Field names, for APIs that take names (fast field columns, aggregations).
pub mod names {
    pub const EVENT_TIME: &str = "event_time";
    pub const RECEIVE_TIME: &str = "receive_time";
    pub const HOST: &str = "host";
    pub const PROGRAM: &str = "program";
    pub const UNIT: &str = "unit";
    pub const AGENT: &str = "agent";
    pub const PATH: &str = "path";
    pub const SEVERITY: &str = "severity";
    pub const FACILITY: &str = "facility";
    pub const MESSAGE: &str = "message";
    pub const ARCHIVE_LINE: &str = "archive_line";
    pub const ARCHIVE_BREAKS: &str = "archive_breaks";
    pub const STREAM: &str = "stream";
    pub const OFFSET: &str = "offset";
    pub const FLAGS: &str = "flags";
    pub const ANOMALY: &str = "anomaly";
}

/// The schema and its field handles.
#[derive(Clone, Debug)]
pub struct LogSchema {
    pub schema: Schema,
    pub event_time: Field,
    pub receive_time: Field,
    pub host: Field,
    pub program: Field,
    pub unit: Field,
    pub agent: Field,
    pub path: Field,
    pub severity: Field,
    pub facility: Field,
    pub message: Field,
    pub archive_line: Field,
    pub archive_breaks: Field,
    pub stream: Field,
    pub offset: Field,
    pub flags: Field,
    pub anomaly: Field,
    /// Whether `message` holds long-tail terms as their keys (version 7
    /// and later) or whole (6).
    pub long_tail_keys: bool,
    /// The version of the index's documents.
    pub version: u32,
}

impl Default for LogSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSchema {
    /// The schema of [`SCHEMA_VERSION`].
    pub fn new() -> LogSchema {
        LogSchema::of_version(SCHEMA_VERSION)
    }

    /// The schema of the documents of `version` (one of
    /// [`OLDEST_SCHEMA`]..=[`SCHEMA_VERSION`]): the same fields, the
    /// message's terms as that version made them.
    pub fn of_version(version: u32) -> LogSchema {
        let fast = || NumericOptions::default().set_fast();
        let indexed_fast = || NumericOptions::default().set_indexed().set_fast();
        let keyword = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            )
            .set_fast("raw");
        let indexed_keyword = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        );
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        );

        let mut b = Schema::builder();
        let event_time = b.add_i64_field(names::EVENT_TIME, fast());
        let receive_time = b.add_i64_field(names::RECEIVE_TIME, fast());
        let host = b.add_text_field(names::HOST, keyword.clone());
        let program = b.add_text_field(names::PROGRAM, indexed_keyword.clone());
        let unit = b.add_text_field(names::UNIT, indexed_keyword);
        let agent = b.add_text_field(names::AGENT, keyword.clone());
        let path = b.add_text_field(names::PATH, keyword.clone());
        let severity = b.add_u64_field(names::SEVERITY, indexed_fast());
        let facility = b.add_u64_field(names::FACILITY, indexed_fast());
        let message = b.add_text_field(names::MESSAGE, words);
        let archive_line = b.add_u64_field(names::ARCHIVE_LINE, fast());
        let archive_breaks = b.add_u64_field(names::ARCHIVE_BREAKS, fast());
        let stream = b.add_text_field(names::STREAM, keyword.clone());
        let offset = b.add_u64_field(names::OFFSET, fast());
        let flags = b.add_u64_field(names::FLAGS, indexed_fast());
        // A column only: indexing every anomaly's reason as a term cost 15 %
        // of ingest CPU when half the lines were in an attack (building the
        // term dictionary of unique reasons); `--anomalies` needs only the
        // column's presence.
        let anomaly = b.add_text_field(names::ANOMALY, TextOptions::default().set_fast("raw"));
        LogSchema {
            schema: b.build(),
            event_time,
            receive_time,
            host,
            program,
            unit,
            agent,
            path,
            severity,
            facility,
            message,
            archive_line,
            archive_breaks,
            stream,
            offset,
            flags,
            anomaly,
            long_tail_keys: version >= 7,
            version,
        }
    }

    /// Registers the log tokenizer of this version on `index`. Needed by
    /// every process that opens the index, before writing or parsing
    /// queries.
    pub fn register_tokenizers(&self, index: &Index) {
        index
            .tokenizers()
            .register(TOKENIZER_NAME, LogTokenizer::new(self.long_tail_keys));
    }

    /// The schema of the documents a commit `payload` (JSON) says, or of
    /// [`SCHEMA_VERSION`] for an index never committed; `Err(found)` for a
    /// version this build does not read.
    pub fn of_payload(payload: Option<&str>) -> Result<LogSchema, u64> {
        let found = payload
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| p.get("schema").and_then(serde_json::Value::as_u64));
        match found {
            None => Ok(LogSchema::new()),
            Some(v) if (u64::from(OLDEST_SCHEMA)..=u64::from(SCHEMA_VERSION)).contains(&v) => {
                Ok(LogSchema::of_version(v as u32))
            }
            Some(v) => Err(v),
        }
    }

    /// The document for `record`, whose line the archive holds at `at` in
    /// the file of the record's receive day.
    pub fn document(&self, record: &Record, at: Location) -> TantivyDocument {
        let mut doc = self.document_unplaced(record);
        self.place(&mut doc, at);
        doc
    }

    /// The document for `record` without its location in the archive (see
    /// [`Self::place`]).
    pub fn document_unplaced(&self, record: &Record) -> TantivyDocument {
        let text = line_text(&record.raw);
        let mut doc = TantivyDocument::with_capacity(record.raw.len() + 128);
        doc.add_i64(self.event_time, record.event_time_ms);
        doc.add_i64(self.receive_time, record.receive_time_ms);
        doc.add_text(self.host, &record.host);
        if let Some(program) = &record.program {
            doc.add_text(self.program, program);
        }
        if let Some(unit) = &record.unit {
            doc.add_text(self.unit, unit);
        }
        doc.add_text(self.agent, &record.agent);
        doc.add_text(self.path, &record.path);
        if let Some(severity) = record.severity {
            doc.add_u64(self.severity, u64::from(severity));
        }
        if let Some(facility) = record.facility {
            doc.add_u64(self.facility, u64::from(facility));
        }
        doc.add_text(self.stream, stream_key(record.stream));
        doc.add_u64(self.offset, record.offset);
        let anomalous = record.has(flags::ANOMALY) || record.anomaly.is_some();
        let flag = if anomalous { flags::ANOMALY } else { 0 };
        doc.add_u64(self.flags, u64::from(record.flags | flag));
        if anomalous {
            doc.add_text(self.anomaly, record.anomaly.as_deref().unwrap_or(""));
        }
        doc.add_text(self.message, &text);
        doc
    }

    /// Adds the line's location in the archive to its document.
    pub fn place(&self, doc: &mut TantivyDocument, at: Location) {
        doc.add_u64(self.archive_line, at.line);
        if at.breaks > 0 {
            doc.add_u64(self.archive_breaks, at.breaks);
        }
    }

    /// Opens the columns that reading records from one segment needs.
    /// Open it once per segment and call [`RecordReader::record`] for each
    /// document, with one [`ArchiveReader`] for all segments (it caches the
    /// blocks it decompressed).
    pub fn record_reader(&self, segment: &SegmentReader) -> tantivy::Result<RecordReader> {
        Ok(RecordReader {
            ff: segment.fast_fields().clone(),
            event_time: OnceCell::new(),
            receive_time: OnceCell::new(),
            host: OnceCell::new(),
            agent: OnceCell::new(),
            path: OnceCell::new(),
            severity: OnceCell::new(),
            facility: OnceCell::new(),
            stream: OnceCell::new(),
            offset: OnceCell::new(),
            flags: OnceCell::new(),
            anomaly: OnceCell::new(),
            archive_line: OnceCell::new(),
            archive_breaks: OnceCell::new(),
            hosts: Default::default(),
            streams: Default::default(),
        })
    }

    /// One record by address, its line from the archive in `archive_dir`.
    /// For many records, use [`Self::record_reader`] per segment and one
    /// [`ArchiveReader`] instead: this opens everything on every call.
    pub fn record_from(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        archive_dir: &Path,
    ) -> tantivy::Result<Record> {
        self.record_reader(searcher.segment_reader(address.segment_ord))?
            .record(address.doc_id, &mut ArchiveReader::new(archive_dir))
    }
}

/// Why an existing index cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no index in {} (is this collectord's data directory? see --data-dir)", .0.display())]
    Missing(std::path::PathBuf),
    #[error("cannot open the index in {}: {}", .0.display(), .1)]
    Open(std::path::PathBuf, tantivy::TantivyError),
    #[error(
        "the index in {} has another schema than this program reads (written by another version of collectord)",
        .0.display()
    )]
    Schema(std::path::PathBuf),
    #[error(
        "the index in {} has schema version {found}; this program reads schema versions {OLDEST_SCHEMA} to {SCHEMA_VERSION} (written by {} collectord: use the logq of the same version)",
        .path.display(),
        if *.found > u64::from(SCHEMA_VERSION) { "a newer" } else { "an older" }
    )]
    Version {
        path: std::path::PathBuf,
        found: u64,
    },
}

/// Opens `data_dir/index` for reading (logq, collectord's trainings): it
/// must exist and have this schema (else field handles would point at
/// other fields, and tantivy panics) in a version this build reads; the
/// tokenizers of that version are registered. Gives the index and the
/// schema of its documents.
///
/// The files it maps are recorded in `pages` ([`Pages::recording`] for a
/// reader that releases them, `Pages::default()` for none).
pub fn open_existing(data_dir: &Path, pages: Pages) -> Result<(Index, LogSchema), OpenError> {
    let path = data_dir.join("index");
    if !path.join("meta.json").exists() {
        return Err(OpenError::Missing(data_dir.to_path_buf()));
    }
    let index = IndexDirectory::reading(&path, pages)
        .and_then(Index::open)
        .map_err(|e| OpenError::Open(path.clone(), e))?;
    // The commit payload names the schema version the documents were
    // written with: the same fields can mean other things (a tokenizer
    // change), so a version this build does not know is refused.
    let payload = index.load_metas().ok().and_then(|m| m.payload);
    let schema = LogSchema::of_payload(payload.as_deref()).map_err(|found| OpenError::Version {
        path: path.clone(),
        found,
    })?;
    if index.schema() != schema.schema {
        return Err(OpenError::Schema(path));
    }
    schema.register_tokenizers(&index);
    Ok((index, schema))
}

/// The settings every index of this schema is created with: a zstd docstore
/// with large blocks (of empty documents, see the module documentation).
pub fn index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(DOCSTORE_ZSTD_LEVEL),
        }),
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..IndexSettings::default()
    }
}

mod record_reader;
pub use record_reader::RecordReader;

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::{BooleanQuery, Occur, RangeQuery, TermQuery};
    use tantivy::schema::IndexRecordOption;
    use tantivy::{IndexWriter, Term};

    use super::*;
    use logcore::record::Origin;
    use logcore::terms::query_terms;

    fn origin(receive_time_ms: i64) -> Origin<'static> {
        Origin {
            agent: "agent-1",
            host: "agenthost",
            path: "/var/log/auth.log",
            stream: 77,
            utc_offset_secs: 0,
            receive_time_ms,
        }
    }

    /// An index of `records` and their archive, two lines to a block.
    struct Indexed {
        s: LogSchema,
        index: Index,
        archive: tempfile::TempDir,
    }

    fn index_of(records: &[Record]) -> Indexed {
        use std::collections::BTreeMap;

        use crate::archive::{file_name, table_name, Block};

        let s = LogSchema::new();
        let archive = tempfile::tempdir().unwrap();
        let index = Index::builder()
            .schema(s.schema.clone())
            .settings(index_settings())
            .create_in_ram()
            .unwrap();
        s.register_tokenizers(&index);
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let mut by_day: BTreeMap<i64, Vec<&Record>> = BTreeMap::new();
        for r in records {
            by_day
                .entry(crate::archive::day_of(r.receive_time_ms))
                .or_default()
                .push(r);
        }
        for (day, records) in by_day {
            let (mut file, mut table) = (Vec::new(), Vec::new());
            let mut line = 0;
            for pair in records.chunks(2) {
                let block = Block {
                    first_line: line,
                    offset: file.len() as u64,
                };
                table.extend(block.encode());
                let mut raw = Vec::new();
                for r in pair {
                    raw.extend_from_slice(&r.raw);
                    raw.push(b'\n');
                    let breaks = r.raw.iter().filter(|&&b| b == b'\n').count() as u64;
                    w.add_document(s.document(r, Location { line, breaks }))
                        .unwrap();
                    line += breaks + 1;
                }
                file.extend(zstd::bulk::compress(&raw, 1).unwrap());
            }
            std::fs::write(archive.path().join(file_name(day)), file).unwrap();
            std::fs::write(archive.path().join(table_name(day)), table).unwrap();
        }
        w.commit().unwrap();
        Indexed { s, index, archive }
    }

    fn search(ix: &Indexed, query: &dyn tantivy::query::Query) -> Vec<Record> {
        let reader = ix.index.reader().unwrap();
        let searcher = reader.searcher();
        let hits = searcher
            .search(query, &TopDocs::with_limit(100).order_by_score())
            .unwrap();
        hits.into_iter()
            .map(|(_, addr)| {
                ix.s.record_from(&searcher, addr, ix.archive.path())
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn records_come_back_whole_and_byte_exact() {
        // logq must print exactly what was logged, and its JSON output must
        // carry every field, whatever bytes the line had.
        let lines: Vec<Vec<u8>> = vec![
            b"Nov 24 22:20:01 web1 sshd[1234]: Failed password for root from 203.0.113.9 port 22 ssh2".to_vec(),
            b"<86>Nov 24 22:21:07 web1 sudo: alice : TTY=pts/0 ; COMMAND=/bin/ls".to_vec(),
            b"\xff\x00binary junk \xfe".to_vec(),
            b"".to_vec(),
            b"a line with\ntwo breaks\n".to_vec(),
            b"after it, on the next day".to_vec(),
        ];
        let records: Vec<Record> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let received = 1_764_022_801_000 + i as i64 / 5 * crate::archive::MS_PER_DAY;
                Record::from_line(&origin(received), i as u64 * 100, 0, l.clone())
            })
            .collect();
        let ix = index_of(&records);
        let reader = ix.index.reader().unwrap();
        let searcher = reader.searcher();
        let seg = searcher.segment_reader(0);
        let rr = ix.s.record_reader(seg).unwrap();
        let mut ar = ArchiveReader::new(ix.archive.path());
        let mut got: Vec<Record> = (0..seg.max_doc())
            .map(|d| rr.record(d, &mut ar).unwrap())
            .collect();
        got.sort_by_key(|r| r.offset);
        assert_eq!(got, records);
    }

    #[test]
    fn words_of_the_whole_line_are_searchable() {
        // `logq sshd`, `logq 203.0.113.9`, `logq root`, `logq 12345` (a pid),
        // `logq /var/log/syslog` and `logq syslog` must find their line.
        let lines: [&[u8]; 2] = [
            b"Nov 24 22:20:01 web1 sshd[12345]: Failed password for root from 203.0.113.9 port 22 ssh2",
            b"Nov 24 22:20:02 web2 kernel: [3012345.678901] rsyslogd: /var/log/syslog rotated",
        ];
        let records: Vec<Record> = lines
            .iter()
            .map(|l| Record::from_line(&origin(1_764_022_801_000), 0, 0, l.to_vec()))
            .collect();
        let ix = index_of(&records);
        let s = &ix.s;
        let find = |word: &str| -> Vec<Vec<u8>> {
            let clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> = query_terms(word)
                .iter()
                .map(|term| -> (Occur, Box<dyn tantivy::query::Query>) {
                    (
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(
                                s.message,
                                &logcore::long_tail::index_term(term, s.long_tail_keys),
                            ),
                            IndexRecordOption::Basic,
                        )),
                    )
                })
                .collect();
            search(&ix, &BooleanQuery::new(clauses))
                .into_iter()
                .map(|r| r.raw)
                .collect()
        };
        for word in ["sshd", "203.0.113.9", "web1", "FAILED", "root", "12345"] {
            assert_eq!(find(word), vec![lines[0].to_vec()], "{word}");
        }
        for word in ["/var/log/syslog", "syslog", "rotated", "kernel"] {
            assert_eq!(find(word), vec![lines[1].to_vec()], "{word}");
        }
        // A kernel stamp, whole or half, is not a term (see the tokenizer):
        // logq checks such words on the line instead.
        assert!(find("678901").is_empty());
        assert!(query_terms("3012345.678901").is_empty());
        let q = TermQuery::new(
            Term::from_field_text(s.host, "web1"),
            IndexRecordOption::Basic,
        );
        assert_eq!(search(&ix, &q).len(), 1);
        let q = TermQuery::new(
            Term::from_field_u64(s.severity, 5),
            IndexRecordOption::Basic,
        );
        assert_eq!(
            search(&ix, &q).len(),
            records.iter().filter(|r| r.severity == Some(5)).count()
        );
    }

    #[test]
    fn anomaly_reasons_come_back_and_exists_finds_only_anomalies() {
        // `logq --anomalies` must find every flagged line from the index
        // alone and no other, and `-o json` must show the detector's
        // reason as it was written.
        let reason = "failed-login-burst ip=203.0.113.9: 12 failed logins in 41 s \
                      (threshold 5 in 10 min) [a3f9]";
        let records: Vec<Record> = (0..6u64)
            .map(|i| {
                let mut r = Record::from_line(
                    &origin(1_764_022_801_000 + i as i64),
                    i,
                    0,
                    format!("Nov 24 22:20:0{i} web1 sshd[1]: line {i}").into_bytes(),
                );
                match i {
                    1 => {
                        r.flags |= flags::ANOMALY;
                        r.anomaly = Some(reason.to_owned());
                    }
                    // Flagged without a reason: still an anomaly.
                    3 => r.flags |= flags::ANOMALY,
                    // A reason without the flag: the document gets the flag.
                    4 => r.anomaly = Some("rare-template [77]".to_owned()),
                    _ => {}
                }
                r
            })
            .collect();
        let ix = index_of(&records);
        let exists = tantivy::query::ExistsQuery::new(names::ANOMALY.to_owned(), false);
        let mut got = search(&ix, &exists);
        got.sort_by_key(|r| r.offset);
        let got: Vec<(u64, bool, Option<&str>)> = got
            .iter()
            .map(|r| (r.offset, r.has(flags::ANOMALY), r.anomaly.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (1, true, Some(reason)),
                (3, true, None),
                (4, true, Some("rare-template [77]"))
            ]
        );
        // Other lines read back without a reason, and a raw read skips it.
        let reader = ix.index.reader().unwrap();
        let searcher = reader.searcher();
        let rr = ix.s.record_reader(searcher.segment_reader(0)).unwrap();
        let mut ar = ArchiveReader::new(ix.archive.path());
        for doc in 0..6 {
            let r = rr.record(doc, &mut ar).unwrap();
            assert_eq!(r.anomaly.is_some(), [1, 4].contains(&r.offset), "{r:?}");
            assert_eq!(
                rr.record_with(doc, &mut ar, Want::Line).unwrap().anomaly,
                None
            );
        }
    }

    #[test]
    fn event_time_range_query_uses_the_fast_field() {
        // `logq --since` must work although event_time has no index terms.
        let records: Vec<Record> = (0..10)
            .map(|i| {
                Record::from_line(
                    &origin(1_000_000 + i * 1000),
                    i as u64,
                    0,
                    format!("line {i}").into_bytes(),
                )
            })
            .collect();
        let ix = index_of(&records);
        let s = &ix.s;
        let q = RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_i64(s.event_time, 1_003_000)),
            std::ops::Bound::Excluded(Term::from_field_i64(s.event_time, 1_006_000)),
        );
        let mut got: Vec<u64> = search(&ix, &q).iter().map(|r| r.offset).collect();
        got.sort();
        assert_eq!(got, vec![3, 4, 5]);
    }
}
