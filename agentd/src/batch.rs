//! Batches: the unit the tailer hands to the shipper and the shipper sends
//! as one BATCH frame (or several, when the collector's frame limit is
//! smaller). Records are grouped by stream, in offset order.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logcore::wire::{WireRecord, WireStream, FLAG_TRUNCATED};

/// Lines read from files, ready to ship.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// When the first of these lines was read, milliseconds since the epoch.
    pub read_time_ms: i64,
    pub streams: Vec<WireStream>,
    pub lines: usize,
    pub bytes: usize,
    /// The batch's id in the spool, on the batch (or the last piece of it,
    /// when split for the collector's frame limit) whose ACK acknowledges
    /// it there.
    pub spool_id: Option<u64>,
}

impl Batch {
    /// For each stream, the end of its last record: how far an ack of this
    /// batch moves its checkpoint.
    pub fn ends(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        ends(&self.streams)
    }
}

/// For each stream, the end of its last record.
pub fn ends(streams: &[WireStream]) -> impl Iterator<Item = (u64, u64)> + '_ {
    streams
        .iter()
        .filter_map(|s| s.records.last().map(|r| (s.stream_id, r.end)))
}

/// Fills a batch up to a number of lines and bytes, and says when it has
/// waited long enough (linger) to be sent less than full.
#[derive(Debug)]
pub struct BatchBuilder {
    max_lines: usize,
    max_bytes: usize,
    linger: Duration,
    batch: Batch,
    index: HashMap<u64, usize>,
    started: Option<Instant>,
}

impl BatchBuilder {
    pub fn new(max_lines: usize, max_bytes: usize, linger: Duration) -> BatchBuilder {
        BatchBuilder {
            max_lines,
            max_bytes,
            linger,
            batch: Batch::default(),
            index: HashMap::new(),
            started: None,
        }
    }

    pub fn push(&mut self, stream_id: u64, path: &str, record: WireRecord, now: Instant) {
        if self.started.is_none() {
            self.started = Some(now);
            self.batch.read_time_ms = now_ms();
        }
        self.batch.lines += 1;
        self.batch.bytes += record.line.len();
        let i = *self.index.entry(stream_id).or_insert_with(|| {
            self.batch.streams.push(WireStream {
                stream_id,
                path: path.to_owned(),
                records: Vec::new(),
            });
            self.batch.streams.len() - 1
        });
        self.batch.streams[i].records.push(record);
    }

    pub fn is_empty(&self) -> bool {
        self.batch.lines == 0
    }

    pub fn is_full(&self) -> bool {
        self.batch.lines >= self.max_lines || self.batch.bytes >= self.max_bytes
    }

    /// When the batch must be sent even if not full; `None` when empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.started.map(|t| t + self.linger)
    }

    pub fn take(&mut self) -> Batch {
        self.index.clear();
        self.started = None;
        std::mem::take(&mut self.batch)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Frame bytes counted by the length header besides the streams: type,
/// batch_seq, read_time_ms, stream count.
const BATCH_OVERHEAD: usize = 1 + 8 + 8 + 4;

fn stream_overhead(path: &str) -> usize {
    8 + 2 + path.len() + 4
}

fn record_size(r: &WireRecord) -> usize {
    8 + 8 + 1 + 4 + r.line.len()
}

/// Splits `streams` into groups whose BATCH frames each stay within
/// `max_frame` (the length header's limit). A single record too large for any
/// frame has its line cut to fit and is flagged truncated.
pub fn split_for_frame(streams: Vec<WireStream>, max_frame: u32) -> Vec<Vec<WireStream>> {
    let max = max_frame as usize;
    let mut groups = Vec::new();
    let mut group: Vec<WireStream> = Vec::new();
    let mut size = BATCH_OVERHEAD;
    for stream in streams {
        let overhead = stream_overhead(&stream.path);
        let mut current: Option<WireStream> = None;
        for mut record in stream.records {
            let needs_stream = current.is_none();
            let extra = record_size(&record) + if needs_stream { overhead } else { 0 };
            if size + extra > max && (current.is_some() || !group.is_empty()) {
                if let Some(s) = current.take() {
                    group.push(s);
                }
                groups.push(std::mem::take(&mut group));
                size = BATCH_OVERHEAD;
            }
            let fixed = BATCH_OVERHEAD + overhead + record_size(&record) - record.line.len();
            if fixed + record.line.len() > max {
                record.line.truncate(max.saturating_sub(fixed));
                record.flags |= FLAG_TRUNCATED;
            }
            let s = current.get_or_insert_with(|| {
                size += overhead;
                WireStream {
                    stream_id: stream.stream_id,
                    path: stream.path.clone(),
                    records: Vec::new(),
                }
            });
            size += record_size(&record);
            s.records.push(record);
        }
        if let Some(s) = current {
            group.push(s);
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcore::wire::Frame;

    fn record(offset: u64, len: usize) -> WireRecord {
        WireRecord {
            offset,
            end: offset + len as u64 + 1,
            flags: 0,
            line: vec![b'a'; len],
        }
    }

    #[test]
    fn builder_groups_by_stream_and_reports_full() {
        let mut b = BatchBuilder::new(3, 1000, Duration::from_millis(100));
        let t = Instant::now();
        assert_eq!(b.deadline(), None);
        b.push(1, "/a", record(0, 5), t);
        b.push(2, "/b", record(0, 5), t);
        assert_eq!(b.deadline(), Some(t + Duration::from_millis(100)));
        assert!(!b.is_full());
        b.push(1, "/a", record(6, 5), t);
        assert!(b.is_full());
        let batch = b.take();
        assert_eq!(batch.streams.len(), 2);
        assert_eq!(batch.streams[0].records.len(), 2);
        assert_eq!(batch.ends().collect::<Vec<_>>(), vec![(1, 12), (2, 6)]);
        assert!(b.is_empty() && b.deadline().is_none());
    }

    #[test]
    fn split_frames_never_exceed_the_collector_limit() {
        // A collector with a small max_frame must never be sent a frame it
        // rejects (it would drop the connection forever).
        let streams = vec![
            WireStream {
                stream_id: 1,
                path: "/var/log/a".into(),
                records: (0..50).map(|i| record(i * 100, 90)).collect(),
            },
            WireStream {
                stream_id: 2,
                path: "/var/log/b".into(),
                records: (0..7).map(|i| record(i * 300, 250)).collect(),
            },
        ];
        for max_frame in [400u32, 1000, 5000, 1 << 20] {
            let groups = split_for_frame(streams.clone(), max_frame);
            let mut lines = 0;
            for g in &groups {
                let mut buf = Vec::new();
                Frame::Batch {
                    batch_seq: u64::MAX,
                    read_time_ms: 0,
                    streams: g.clone(),
                }
                .encode(&mut buf)
                .unwrap();
                assert!(
                    buf.len() - 4 <= max_frame as usize,
                    "frame of {} > {max_frame}",
                    buf.len() - 4
                );
                lines += g.iter().map(|s| s.records.len()).sum::<usize>();
            }
            assert_eq!(lines, 57, "max_frame {max_frame}: lines lost or duplicated");
        }
        assert_eq!(split_for_frame(streams, 1 << 20).len(), 1);
    }

    #[test]
    fn record_larger_than_a_frame_is_cut_to_fit() {
        let streams = vec![WireStream {
            stream_id: 1,
            path: "/p".into(),
            records: vec![record(0, 5000)],
        }];
        let groups = split_for_frame(streams, 1000);
        let r = &groups[0][0].records[0];
        assert_eq!(r.flags & FLAG_TRUNCATED, FLAG_TRUNCATED);
        assert_eq!(r.end, 5001, "the end must still cover the whole line");
        let mut buf = Vec::new();
        Frame::Batch {
            batch_seq: 1,
            read_time_ms: 0,
            streams: groups[0].clone(),
        }
        .encode(&mut buf)
        .unwrap();
        assert!(buf.len() - 4 <= 1000);
    }
}
