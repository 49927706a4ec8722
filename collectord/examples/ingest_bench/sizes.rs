//! Bytes on disk: the index per file kind and field, and the archive; and
//! the time to read records back.

use std::time::Instant;

use tantivy::Index;

use crate::corpus::Rng;

pub(crate) struct Sizes {
    pub(crate) lines: u64,
    pub(crate) raw_bytes: u64,
    pub(crate) archive_bytes: u64,
}

impl Sizes {
    /// Prints the committed index's bytes per line by file kind and field.
    pub(crate) fn report(&self, index: &Index, index_dir: &std::path::Path, label: &str) {
        let lines = self.lines;
        let per_line = |b: u64| b as f64 / lines as f64;
        // Files of the committed segments, by kind; the rest of the directory
        // is left by merges the writer's shutdown cut short (removed by the
        // next writer's garbage collection).
        let live: Vec<String> = index
            .searchable_segment_ids()
            .unwrap()
            .iter()
            .map(|id| id.uuid_string())
            .collect();
        let mut by_kind: std::collections::BTreeMap<String, u64> = Default::default();
        let mut committed = 0;
        let mut total = 0;
        for entry in std::fs::read_dir(index_dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let len = entry.metadata().unwrap().len();
            total += len;
            let kind = match name.split_once('.') {
                Some((id, ext)) if live.iter().any(|l| l == id) => ext.to_owned(),
                _ if name.ends_with(".json") => "json".to_owned(),
                _ => continue,
            };
            committed += len;
            *by_kind.entry(kind).or_default() += len;
        }
        println!("-- index {label}: {} segments", live.len());
        println!(
            "index, committed {:.1} bytes/line ({:.3} of raw); with the archive {:.3} of raw; whole directory {:.1} bytes/line",
            per_line(committed),
            committed as f64 / self.raw_bytes as f64,
            (committed + self.archive_bytes) as f64 / self.raw_bytes as f64,
            per_line(total),
        );
        for (kind, bytes) in &by_kind {
            println!("  file {kind:<10} {:.2} bytes/line", per_line(*bytes));
        }
        let searcher = index.reader().unwrap().searcher();
        let usage = searcher.space_usage().unwrap();
        let mut parts: std::collections::BTreeMap<String, u64> = Default::default();
        for seg in usage.segments() {
            for (part, fields) in [
                ("terms", seg.termdict()),
                ("postings", seg.postings()),
                ("fast", seg.fast_fields()),
            ] {
                for f in fields.fields() {
                    *parts
                        .entry(format!("{part:>8} {}", f.field_name()))
                        .or_default() += f.total().get_bytes();
                }
            }
        }
        for (k, v) in parts {
            if per_line(v) >= 0.005 {
                println!("  {k:<24} {:.2} bytes/line", per_line(v));
            }
        }
    }
}

/// Reads every record back (as logq does, but in document order) and
/// prints the time per record.
pub(crate) fn read_back(index: &Index, archive_dir: &std::path::Path, lines: u64) {
    let schema = logstore::schema::LogSchema::new();
    let searcher = index.reader().unwrap().searcher();
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut archive = logstore::archive::ArchiveReader::new(archive_dir);
    for seg in searcher.segment_readers() {
        let rr = schema.record_reader(seg).unwrap();
        for doc in seg.doc_ids_alive() {
            let record = rr.record(doc, &mut archive).unwrap();
            assert!(!record.raw.is_empty());
            n += 1;
        }
    }
    assert_eq!(n, lines);
    let in_order = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    // Scattered matches: each record from another block, with a fresh
    // reader each time (nothing cached).
    let mut rng = Rng(7);
    let picks: Vec<_> = (0..200)
        .map(|_| {
            let seg = rng.below(searcher.segment_readers().len() as u64) as u32;
            let max = searcher.segment_reader(seg).max_doc();
            (seg, rng.below(u64::from(max)) as u32)
        })
        .collect();
    let t0 = Instant::now();
    for (seg, doc) in picks {
        let rr = schema.record_reader(searcher.segment_reader(seg)).unwrap();
        rr.record(doc, &mut logstore::archive::ArchiveReader::new(archive_dir))
            .unwrap();
    }
    println!(
        "read back        {in_order:.2} µs per record in document order, {:.0} µs per scattered record",
        t0.elapsed().as_secs_f64() * 1e6 / 200.0
    );
}
