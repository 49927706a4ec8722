//! The tantivy index: its schema, its settings, and the two conversions
//! between a [`Record`] and a document. collectord writes the index, logq
//! reads it; both go through this module.
//!
//! # What is kept where
//!
//! The index is sized for log lines (~150 bytes), so it keeps nothing twice:
//!
//! | field | kind | what for |
//! |---|---|---|
//! | `event_time` | i64 ms, fast | range queries and ordering by time |
//! | `receive_time` | i64 ms, fast | retention deletes by range |
//! | `host`, `program`, `agent`, `path` | raw string, indexed + fast | filters; read back from the fast columns |
//! | `severity`, `facility` | u64, indexed + fast, absent when unknown | filters |
//! | `pid` | u64, fast, absent when unknown | |
//! | `message` | text, [log tokenizer](crate::tokenizer), doc ids only | word queries |
//! | `raw` | bytes, stored | the line, byte for byte |
//! | `stream`, `offset` | u64, fast | the line's identity |
//! | `flags` | u64, indexed + fast | [`crate::record::flags`] bits (anomaly = 0x100) |
//! | `message_start` | u64, fast, absent when not a suffix | where the message starts in the line |
//!
//! - The docstore holds only `raw`. Everything else of a [`Record`] is read
//!   from the fast columns, which cost a few bits per line each (values are
//!   bit-packed, strings are dictionary-encoded per segment), where a stored
//!   copy would cost the strings again, compressed, in every docstore block.
//! - `message` indexes the *whole line* (lossily decoded), header included,
//!   so a word query finds what grep finds (`sshd`, the host, the pid).
//!   It records no frequencies and no positions: a phrase query is answered
//!   by looking up its words and re-matching the stored `raw` line.
//! - No field has fieldnorms (nothing is scored).
//! - `event_time` is not in the inverted index: tantivy's `RangeQuery` reads
//!   a fast field whenever the field has one, so index terms for it would
//!   only cost bytes.
//! - `message` of a [`Record`] is not stored: it is the end of the line
//!   (`message_start`), or, when the parser took it from elsewhere, it is
//!   parsed again from `raw`.
//!
//! Bump [`SCHEMA_VERSION`] on any change here; collectord records it in its
//! commit payload and refuses to write an index of another version.

use std::borrow::Cow;

use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentReader;
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::store::{Compressor, StoreReader, ZstdCompressor};
use tantivy::{DocAddress, DocId, Index, IndexSettings, Searcher, TantivyDocument};

use crate::parse;
use crate::record::Record;
use crate::tokenizer::{LogTokenizer, TOKENIZER_NAME};

/// The version of this schema and of what the fields mean.
pub const SCHEMA_VERSION: u32 = 1;

/// Docstore block size. Measured with collectord's ingest_bench on a
/// synthetic syslog corpus: 26 bytes per line at 256 KiB against 30 at
/// tantivy's 16 KiB default. Reading one line decompresses one block
/// (about 0.2 ms at this size).
pub const DOCSTORE_BLOCK_BYTES: usize = 256 * 1024;
/// zstd level of the docstore. Level 5 saves another 2 bytes per line for
/// about 0.5 CPU-s more per million lines, level 7 about 2.5 for 0.8 s:
/// level 3 keeps collectord inside its CPU budget.
pub const DOCSTORE_ZSTD_LEVEL: i32 = 3;

/// Field names, for APIs that take names (fast field columns, aggregations).
pub mod names {
    pub const EVENT_TIME: &str = "event_time";
    pub const RECEIVE_TIME: &str = "receive_time";
    pub const HOST: &str = "host";
    pub const PROGRAM: &str = "program";
    pub const AGENT: &str = "agent";
    pub const PATH: &str = "path";
    pub const SEVERITY: &str = "severity";
    pub const FACILITY: &str = "facility";
    pub const PID: &str = "pid";
    pub const MESSAGE: &str = "message";
    pub const RAW: &str = "raw";
    pub const STREAM: &str = "stream";
    pub const OFFSET: &str = "offset";
    pub const FLAGS: &str = "flags";
    pub const MESSAGE_START: &str = "message_start";
}

/// The schema and its field handles.
#[derive(Clone, Debug)]
pub struct LogSchema {
    pub schema: Schema,
    pub event_time: Field,
    pub receive_time: Field,
    pub host: Field,
    pub program: Field,
    pub agent: Field,
    pub path: Field,
    pub severity: Field,
    pub facility: Field,
    pub pid: Field,
    pub message: Field,
    pub raw: Field,
    pub stream: Field,
    pub offset: Field,
    pub flags: Field,
    pub message_start: Field,
}

impl Default for LogSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSchema {
    pub fn new() -> LogSchema {
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
        let program = b.add_text_field(names::PROGRAM, keyword.clone());
        let agent = b.add_text_field(names::AGENT, keyword.clone());
        let path = b.add_text_field(names::PATH, keyword);
        let severity = b.add_u64_field(names::SEVERITY, indexed_fast());
        let facility = b.add_u64_field(names::FACILITY, indexed_fast());
        let pid = b.add_u64_field(names::PID, fast());
        let message = b.add_text_field(names::MESSAGE, words);
        let raw = b.add_bytes_field(names::RAW, BytesOptions::default().set_stored());
        let stream = b.add_u64_field(names::STREAM, fast());
        let offset = b.add_u64_field(names::OFFSET, fast());
        let flags = b.add_u64_field(names::FLAGS, indexed_fast());
        let message_start = b.add_u64_field(names::MESSAGE_START, fast());
        LogSchema {
            schema: b.build(),
            event_time,
            receive_time,
            host,
            program,
            agent,
            path,
            severity,
            facility,
            pid,
            message,
            raw,
            stream,
            offset,
            flags,
            message_start,
        }
    }

    /// Registers the log tokenizer on `index`. Needed by every process that
    /// opens the index, before writing or parsing queries.
    pub fn register_tokenizers(index: &Index) {
        index
            .tokenizers()
            .register(TOKENIZER_NAME, LogTokenizer::default());
    }

    /// The document for `record`.
    pub fn document(&self, record: &Record) -> TantivyDocument {
        let text = String::from_utf8_lossy(&record.raw);
        let mut doc = TantivyDocument::with_capacity(record.raw.len() * 2 + 128);
        doc.add_i64(self.event_time, record.event_time_ms);
        doc.add_i64(self.receive_time, record.receive_time_ms);
        doc.add_text(self.host, &record.host);
        if let Some(program) = &record.program {
            doc.add_text(self.program, program);
        }
        doc.add_text(self.agent, &record.agent);
        doc.add_text(self.path, &record.path);
        if let Some(severity) = record.severity {
            doc.add_u64(self.severity, u64::from(severity));
        }
        if let Some(facility) = record.facility {
            doc.add_u64(self.facility, u64::from(facility));
        }
        if let Some(pid) = record.pid {
            doc.add_u64(self.pid, u64::from(pid));
        }
        doc.add_u64(self.stream, record.stream);
        doc.add_u64(self.offset, record.offset);
        doc.add_u64(self.flags, u64::from(record.flags));
        if text.ends_with(record.message.as_str()) {
            doc.add_u64(
                self.message_start,
                (text.len() - record.message.len()) as u64,
            );
        }
        doc.add_text(self.message, &text);
        doc.add_bytes(self.raw, &record.raw);
        doc
    }

    /// Opens what reading records from one segment needs. Open it once per
    /// segment and call [`RecordReader::record`] for each document.
    pub fn record_reader(&self, segment: &SegmentReader) -> tantivy::Result<RecordReader> {
        let ff = segment.fast_fields();
        Ok(RecordReader {
            event_time: ff.column_opt(names::EVENT_TIME)?,
            receive_time: ff.column_opt(names::RECEIVE_TIME)?,
            host: ff.str(names::HOST)?,
            program: ff.str(names::PROGRAM)?,
            agent: ff.str(names::AGENT)?,
            path: ff.str(names::PATH)?,
            severity: ff.column_opt(names::SEVERITY)?,
            facility: ff.column_opt(names::FACILITY)?,
            pid: ff.column_opt(names::PID)?,
            stream: ff.column_opt(names::STREAM)?,
            offset: ff.column_opt(names::OFFSET)?,
            flags: ff.column_opt(names::FLAGS)?,
            message_start: ff.column_opt(names::MESSAGE_START)?,
            store: segment.get_store_reader(2)?,
            raw: self.raw,
        })
    }

    /// One record by address. For many records, use [`Self::record_reader`]
    /// per segment instead: this opens the segment's columns on every call.
    pub fn record_from(&self, searcher: &Searcher, address: DocAddress) -> tantivy::Result<Record> {
        self.record_reader(searcher.segment_reader(address.segment_ord))?
            .record(address.doc_id)
    }
}

/// The settings every index of this schema is created with: a zstd docstore
/// with large blocks.
pub fn index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(DOCSTORE_ZSTD_LEVEL),
        }),
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..IndexSettings::default()
    }
}

/// Reads records back from one segment (see [`LogSchema::record_reader`]).
pub struct RecordReader {
    event_time: Option<Column<i64>>,
    receive_time: Option<Column<i64>>,
    host: Option<StrColumn>,
    program: Option<StrColumn>,
    agent: Option<StrColumn>,
    path: Option<StrColumn>,
    severity: Option<Column<u64>>,
    facility: Option<Column<u64>>,
    pid: Option<Column<u64>>,
    stream: Option<Column<u64>>,
    offset: Option<Column<u64>>,
    flags: Option<Column<u64>>,
    message_start: Option<Column<u64>>,
    store: StoreReader,
    raw: Field,
}

fn first<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
    column: &Option<Column<T>>,
    doc: DocId,
) -> Option<T> {
    column.as_ref().and_then(|c| c.first(doc))
}

fn string(column: &Option<StrColumn>, doc: DocId) -> tantivy::Result<Option<String>> {
    let Some(column) = column else {
        return Ok(None);
    };
    let Some(ord) = column.term_ords(doc).next() else {
        return Ok(None);
    };
    let mut out = String::new();
    column.ord_to_str(ord, &mut out)?;
    Ok(Some(out))
}

impl RecordReader {
    /// The record of document `doc` of this segment.
    pub fn record(&self, doc: DocId) -> tantivy::Result<Record> {
        let stored: TantivyDocument = self.store.get(doc)?;
        let raw = stored
            .get_first(self.raw)
            .and_then(|v| v.as_bytes())
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let receive_time_ms = first(&self.receive_time, doc).unwrap_or_default();
        let message = {
            let text = String::from_utf8_lossy(&raw);
            match first(&self.message_start, doc)
                .and_then(|start| text.get(usize::try_from(start).ok()?..))
            {
                Some(message) => message.to_owned(),
                // The zone only moves timestamps, never where the message is.
                None => parse::parse_line(&text, receive_time_ms, 0)
                    .message
                    .to_owned(),
            }
        };
        Ok(Record {
            receive_time_ms,
            event_time_ms: first(&self.event_time, doc).unwrap_or(receive_time_ms),
            host: string(&self.host, doc)?.unwrap_or_default(),
            program: string(&self.program, doc)?,
            pid: first(&self.pid, doc).and_then(|v| u32::try_from(v).ok()),
            facility: first(&self.facility, doc).and_then(|v| u8::try_from(v).ok()),
            severity: first(&self.severity, doc).and_then(|v| u8::try_from(v).ok()),
            message,
            raw,
            agent: string(&self.agent, doc)?.unwrap_or_default(),
            path: string(&self.path, doc)?.unwrap_or_default(),
            stream: first(&self.stream, doc).unwrap_or_default(),
            offset: first(&self.offset, doc).unwrap_or_default(),
            flags: first(&self.flags, doc)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_default(),
        })
    }
}

/// The lossily decoded line text that `message` indexes (exposed so that
/// query-time phrase checks decode the same way).
pub fn line_text(raw: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(raw)
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::{RangeQuery, TermQuery};
    use tantivy::schema::IndexRecordOption;
    use tantivy::{IndexWriter, Term};

    use super::*;
    use crate::record::Origin;
    use crate::tokenizer::query_terms;

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

    fn index_of(records: &[Record]) -> (LogSchema, Index) {
        let s = LogSchema::new();
        let index = Index::builder()
            .schema(s.schema.clone())
            .settings(index_settings())
            .create_in_ram()
            .unwrap();
        LogSchema::register_tokenizers(&index);
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for r in records {
            w.add_document(s.document(r)).unwrap();
        }
        w.commit().unwrap();
        (s, index)
    }

    fn search(s: &LogSchema, index: &Index, query: &dyn tantivy::query::Query) -> Vec<Record> {
        let reader = index.reader().unwrap();
        let searcher = reader.searcher();
        let hits = searcher
            .search(query, &TopDocs::with_limit(100).order_by_score())
            .unwrap();
        hits.into_iter()
            .map(|(_, addr)| s.record_from(&searcher, addr).unwrap())
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
        ];
        let records: Vec<Record> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Record::from_line(&origin(1_764_022_801_000), i as u64 * 100, 0, l.clone())
            })
            .collect();
        let (s, index) = index_of(&records);
        let reader = index.reader().unwrap();
        let searcher = reader.searcher();
        let seg = searcher.segment_reader(0);
        let rr = s.record_reader(seg).unwrap();
        let mut got: Vec<Record> = (0..seg.max_doc()).map(|d| rr.record(d).unwrap()).collect();
        got.sort_by_key(|r| r.offset);
        assert_eq!(got, records);
    }

    #[test]
    fn words_of_the_whole_line_are_searchable() {
        // `logq sshd`, `logq 203.0.113.9` and `logq web1` must all find the line.
        let r = Record::from_line(
            &origin(1_764_022_801_000),
            0,
            0,
            b"Nov 24 22:20:01 web1 sshd[1234]: Failed password for root from 203.0.113.9 port 22 ssh2".to_vec(),
        );
        let (s, index) = index_of(std::slice::from_ref(&r));
        for word in ["sshd", "203.0.113.9", "web1", "FAILED", "1234"] {
            for term in query_terms(word) {
                let q = TermQuery::new(
                    Term::from_field_text(s.message, &term),
                    IndexRecordOption::Basic,
                );
                assert_eq!(search(&s, &index, &q).len(), 1, "{word} ({term})");
            }
        }
        let q = TermQuery::new(
            Term::from_field_text(s.host, "web1"),
            IndexRecordOption::Basic,
        );
        assert_eq!(search(&s, &index, &q).len(), 1);
        let q = TermQuery::new(
            Term::from_field_u64(s.severity, 5),
            IndexRecordOption::Basic,
        );
        assert_eq!(
            search(&s, &index, &q).len(),
            usize::from(r.severity == Some(5))
        );
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
        let (s, index) = index_of(&records);
        let q = RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_i64(s.event_time, 1_003_000)),
            std::ops::Bound::Excluded(Term::from_field_i64(s.event_time, 1_006_000)),
        );
        let mut got: Vec<u64> = search(&s, &index, &q).iter().map(|r| r.offset).collect();
        got.sort();
        assert_eq!(got, vec![3, 4, 5]);
    }
}
