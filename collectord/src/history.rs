//! Reading the stored lines back in time order, for training the detectors
//! (`collectord train` and the daemon's retraining).
//!
//! The documents of the range are listed by event time (16 bytes each),
//! the newest `max_lines` kept, sorted, and read back through the archive.

use std::ops::Range;
use std::path::Path;

use anyhow::Context;
use logcore::archive::ArchiveReader;
use logcore::record::Record;
use logcore::schema::{LogSchema, RecordReader};
use tantivy::{Index, ReloadPolicy};

/// Lines a training reads at most (the newest of the range).
pub const MAX_LINES: usize = 20_000_000;

/// Opens the index of a data directory for reading, as logq does.
pub fn open_index(data_dir: &Path) -> anyhow::Result<Index> {
    Ok(logcore::schema::open_existing(data_dir)?)
}

/// Calls `f` with every record whose event time is in `range`, oldest
/// first (at most `max_lines`, the newest); returns how many.
pub fn for_each(
    index: &Index,
    archive_dir: &Path,
    range: Range<i64>,
    max_lines: usize,
    mut f: impl FnMut(&Record),
) -> anyhow::Result<u64> {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .context("cannot read the index")?;
    let searcher = tantivy::IndexReader::searcher(&reader);
    let mut hits: Vec<(i64, u32, u32)> = Vec::new();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let Some(times) = segment
            .fast_fields()
            .column_opt::<i64>("event_time")
            .context("cannot read the index")?
        else {
            continue;
        };
        let alive = segment.alive_bitset();
        for doc in 0..segment.max_doc() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            if let Some(t) = times.first(doc) {
                if range.contains(&t) {
                    hits.push((t, ord as u32, doc));
                }
            }
        }
    }
    hits.sort_unstable();
    if hits.len() > max_lines {
        hits.drain(..hits.len() - max_lines);
    }
    let schema = LogSchema::new();
    let mut readers: Vec<Option<RecordReader>> = Vec::new();
    readers.resize_with(searcher.segment_readers().len(), || None);
    let mut archive = ArchiveReader::new(archive_dir);
    for &(_, ord, doc) in &hits {
        let slot = &mut readers[ord as usize];
        if slot.is_none() {
            *slot = Some(
                schema
                    .record_reader(searcher.segment_reader(ord))
                    .context("cannot read the index")?,
            );
        }
        let record = slot
            .as_ref()
            .expect("opened above")
            .record(doc, &mut archive)
            .context("cannot read a line back from the archive")?;
        f(&record);
    }
    Ok(hits.len() as u64)
}
