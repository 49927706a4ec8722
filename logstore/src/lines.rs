//! Reads hits back as records, and finds the lines around a hit (`-A`,
//! `-B`, `-C`).

use std::ops::Bound;
use std::path::Path;

use crate::archive::ArchiveReader;
use crate::schema::{stream_key, LogSchema, RecordReader};
use crate::search::Snapshot;
use anyhow::{Context, Result};
use logcore::record::{Record, Want};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

use crate::walk::{self, Hit, Keys};

/// Archive lines per [`Lines::stretch`]: a block holds about 26 lines of
/// 158 bytes (and its lines have consecutive numbers), so a block
/// straddles two stretches rarely.
pub const LINES_PER_STRETCH: u64 = 1024;

/// Records of one searcher: the columns of each segment, opened when first
/// needed, and one archive reader for all.
pub struct Lines {
    schema: LogSchema,
    readers: Vec<Option<RecordReader>>,
    archive: ArchiveReader,
}

impl Lines {
    pub(crate) fn new(schema: &LogSchema, archive_dir: &Path) -> Lines {
        Lines {
            schema: schema.clone(),
            readers: Vec::new(),
            archive: ArchiveReader::new(archive_dir),
        }
    }

    /// Forgets the segments of the last searcher (after a reload).
    pub fn reset(&mut self) {
        self.readers.clear();
    }

    /// The columns of `hit`'s segment, opened when first needed.
    fn reader(&mut self, snapshot: &Snapshot, hit: &Hit) -> Result<&RecordReader> {
        let ord = hit.segment as usize;
        if self.readers.len() <= ord {
            self.readers.resize_with(ord + 1, || None);
        }
        if self.readers[ord].is_none() {
            self.readers[ord] = Some(
                self.schema
                    .record_reader(snapshot.searcher.segment_reader(hit.segment))
                    .context("cannot read the index")?,
            );
        }
        Ok(self.readers[ord].as_ref().expect("filled above"))
    }

    /// The record of `hit`, as much of it as `want` says.
    pub fn record(&mut self, snapshot: &Snapshot, hit: &Hit, want: Want) -> Result<Record> {
        self.reader(snapshot, hit)?;
        let reader = self.readers[hit.segment as usize]
            .as_ref()
            .expect("opened above");
        reader
            .record_with(hit.doc, &mut self.archive, want)
            .context("cannot read a line back from the archive")
    }

    /// A key shared by the hits whose lines are in the same stretch of
    /// [`LINES_PER_STRETCH`] archive lines (so, mostly, in the same
    /// archive block): readers on several threads that each take the
    /// hits of some keys decompress each block once between them.
    pub fn stretch(&mut self, snapshot: &Snapshot, hit: &Hit) -> Result<u64> {
        let (day, at) = self
            .reader(snapshot, hit)?
            .location(hit.doc)
            .context("cannot read the index")?;
        Ok(((day as u64) << 40) ^ (at.line / LINES_PER_STRETCH))
    }
}

/// What finding the lines around hits needs of one searcher, opened once.
pub struct Neighbours {
    keys: Vec<Keys>,
    /// The largest offset of any line: no span needs to reach past it.
    max_offset: u64,
}

impl Neighbours {
    pub fn of(snapshot: &Snapshot) -> Result<Neighbours> {
        let searcher = &snapshot.searcher;
        let max_offset = searcher
            .segment_readers()
            .iter()
            .filter_map(|s| s.fast_fields().u64("offset").ok())
            .map(|c| c.max_value())
            .max()
            .unwrap_or(0);
        Ok(Neighbours {
            keys: walk::keys(searcher)?,
            max_offset,
        })
    }

    /// Up to `n` lines of `hit`'s stream (same host and file) just before
    /// it (`after` false) or just after it, in file order.
    pub fn around(
        &self,
        snapshot: &Snapshot,
        hit: &Hit,
        n: usize,
        after: bool,
    ) -> Result<Vec<Hit>> {
        let (searcher, schema) = (&snapshot.searcher, &snapshot.schema);
        let (keys, max_offset) = (&self.keys, self.max_offset);
        let same_stream: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_text(schema.stream, &stream_key(hit.stream)),
            IndexRecordOption::Basic,
        ));
        // Offsets are bytes: look at a span that likely holds n lines, and
        // widen it until it does or covers the whole file.
        let mut span: u64 = 512 * (n as u64 + 2);
        loop {
            let (lo, hi) = if after {
                (
                    Bound::Excluded(hit.offset),
                    Bound::Included(hit.offset.saturating_add(span)),
                )
            } else {
                (
                    Bound::Included(hit.offset.saturating_sub(span)),
                    Bound::Excluded(hit.offset),
                )
            };
            let term = |b: Bound<u64>| b.map(|o| Term::from_field_u64(schema.offset, o));
            let q = BooleanQuery::new(vec![
                (Occur::Must, same_stream.box_clone()),
                (Occur::Must, Box::new(RangeQuery::new(term(lo), term(hi)))),
            ]);
            let mut found = Vec::new();
            walk::for_each(
                searcher,
                &q,
                &walk::all_segments(searcher),
                |ord, _, doc| {
                    found.push(keys[ord as usize].hit(ord, doc));
                },
            )?;
            found.sort_unstable_by_key(|h| h.offset);
            let whole = if after {
                hit.offset.saturating_add(span) >= max_offset
            } else {
                hit.offset <= span
            };
            if found.len() >= n || whole {
                if after {
                    found.truncate(n);
                } else {
                    found.drain(..found.len().saturating_sub(n));
                }
                return Ok(found);
            }
            span = span.saturating_mul(4);
        }
    }
}
