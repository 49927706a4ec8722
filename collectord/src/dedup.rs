//! Exactly-once storage of re-sent lines: the high-water marks.
//!
//! An agent re-sends every line it has no ACK for, so a line may arrive
//! twice (the collector committed it but the ACK was lost). For each
//! (agent id, stream id) the collector keeps `hwm`, the largest `end` it has
//! stored, and decides per record:
//!
//! - `end <= hwm`: stored before, dropped;
//! - `offset < hwm < end`: the agent flushed the start of this line earlier
//!   (partial-line timeout) and now sends it whole: only the bytes from
//!   `hwm` on are stored, flagged partial;
//! - otherwise: new, stored.
//!
//! The marks are saved in every commit payload, so they are exactly as
//! durable as the lines they describe.

use std::collections::{BTreeMap, HashMap};

use logcore::wire::WireRecord;
use serde::{Deserialize, Serialize};

use crate::archive::Committed;

/// What to do with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored before: drop it.
    Duplicate,
    /// Store it whole.
    New,
    /// Store only the line from this byte on (the part after `hwm`); the
    /// record's offset becomes `hwm`.
    Rest { skip: usize },
}

/// Decides the fate of `record` given the stream's high-water mark.
pub fn verdict(hwm: Option<u64>, record: &WireRecord) -> Verdict {
    let Some(hwm) = hwm else {
        return Verdict::New;
    };
    if record.end <= hwm {
        Verdict::Duplicate
    } else if record.offset < hwm {
        let skip = usize::try_from(hwm - record.offset).unwrap_or(usize::MAX);
        Verdict::Rest {
            skip: skip.min(record.line.len()),
        }
    } else {
        Verdict::New
    }
}

/// The mark of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Largest `end` stored.
    pub end: u64,
    /// Receive time of the last batch with this stream, ms since the epoch.
    pub last_seen_ms: i64,
}

/// All marks, by agent id then stream id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Marks {
    agents: HashMap<String, HashMap<u64, Mark>>,
}

impl Marks {
    /// The marks of one agent, created on first use.
    pub fn agent(&mut self, agent: &str) -> &mut HashMap<u64, Mark> {
        if !self.agents.contains_key(agent) {
            self.agents.insert(agent.to_owned(), HashMap::new());
        }
        self.agents.get_mut(agent).expect("inserted above")
    }

    pub fn get(&self, agent: &str, stream: u64) -> Option<Mark> {
        self.agents.get(agent)?.get(&stream).copied()
    }

    /// How many streams have a mark.
    pub fn streams(&self) -> usize {
        self.agents.values().map(HashMap::len).sum()
    }

    /// Forgets streams not seen since `before_ms`: an agent does not re-send
    /// lines that old (it has their ACKs), so their marks only take room in
    /// every commit payload.
    pub fn forget_older_than(&mut self, before_ms: i64) -> usize {
        let mut forgotten = 0;
        for streams in self.agents.values_mut() {
            let n = streams.len();
            streams.retain(|_, m| m.last_seen_ms >= before_ms);
            forgotten += n - streams.len();
        }
        self.agents.retain(|_, s| !s.is_empty());
        forgotten
    }

    /// The payload form: `hwms` and `last_seen`, sorted.
    pub fn to_payload(&self) -> (PerStream<u64>, PerStream<i64>) {
        let mut hwms = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for (agent, streams) in &self.agents {
            hwms.insert(
                agent.clone(),
                streams.iter().map(|(s, m)| (*s, m.end)).collect(),
            );
            seen.insert(
                agent.clone(),
                streams.iter().map(|(s, m)| (*s, m.last_seen_ms)).collect(),
            );
        }
        (hwms, seen)
    }

    pub fn from_payload(payload: &Payload) -> Marks {
        let mut marks = Marks::default();
        for (agent, streams) in &payload.hwms {
            let seen = payload.last_seen.get(agent);
            let map = marks.agent(agent);
            for (stream, end) in streams {
                let last_seen_ms = seen.and_then(|s| s.get(stream)).copied().unwrap_or(0);
                map.insert(
                    *stream,
                    Mark {
                        end: *end,
                        last_seen_ms,
                    },
                );
            }
        }
        marks
    }
}

/// agent id → stream id → value, as the payload stores it.
pub type PerStream<T> = BTreeMap<String, BTreeMap<u64, T>>;

/// The version of [`Payload`]'s layout. 2: each archive file's line count
/// besides its length. 3: block counts and the dictionary (zstd archive).
pub const PAYLOAD_VERSION: u32 = 3;

/// What each commit records besides the documents, atomically with them
/// (the tantivy commit payload, JSON in `index/meta.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// [`PAYLOAD_VERSION`].
    pub version: u32,
    /// `logcore::schema::SCHEMA_VERSION` of the documents.
    pub schema: u32,
    /// agent id → stream id → largest `end` stored.
    pub hwms: PerStream<u64>,
    /// agent id → stream id → receive time (ms) of its last batch.
    pub last_seen: PerStream<i64>,
    /// archive lines file name → its committed length, blocks and lines.
    pub archive: BTreeMap<String, Committed>,
    /// The ID of the archive's zstd dictionary in use (0: none yet).
    #[serde(default)]
    pub dict: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: u64, end: u64, line: &[u8]) -> WireRecord {
        WireRecord {
            offset,
            end,
            flags: 0,
            line: line.to_vec(),
        }
    }

    #[test]
    fn unknown_stream_is_new() {
        assert_eq!(verdict(None, &rec(500, 510, b"123456789")), Verdict::New);
    }

    #[test]
    fn resent_line_is_dropped() {
        // Lines re-sent after a lost ACK must not show up twice in logq.
        assert_eq!(
            verdict(Some(10), &rec(0, 10, b"123456789")),
            Verdict::Duplicate
        );
        assert_eq!(
            verdict(Some(20), &rec(0, 10, b"123456789")),
            Verdict::Duplicate
        );
    }

    #[test]
    fn next_line_is_kept() {
        assert_eq!(verdict(Some(10), &rec(10, 20, b"abcdefghi")), Verdict::New);
        // A gap (lines the agent skipped) is not our business.
        assert_eq!(verdict(Some(10), &rec(30, 40, b"abcdefghi")), Verdict::New);
    }

    #[test]
    fn partial_overlap_keeps_only_the_rest() {
        // "abc" was flushed without its newline (offset 0, end 3); now the
        // whole line "abcdef\n" arrives: only "def" is new.
        assert_eq!(
            verdict(Some(3), &rec(0, 7, b"abcdef")),
            Verdict::Rest { skip: 3 }
        );
        // The mark falls on the newline: nothing of the line is left.
        assert_eq!(
            verdict(Some(6), &rec(0, 7, b"abcdef")),
            Verdict::Rest { skip: 6 }
        );
    }

    #[test]
    fn payload_roundtrip_and_forgetting() {
        let mut marks = Marks::default();
        marks.agent("a").insert(
            1,
            Mark {
                end: 10,
                last_seen_ms: 100,
            },
        );
        marks.agent("a").insert(
            2,
            Mark {
                end: 20,
                last_seen_ms: 5,
            },
        );
        marks.agent("b").insert(
            1,
            Mark {
                end: 30,
                last_seen_ms: 200,
            },
        );
        let (hwms, last_seen) = marks.to_payload();
        let payload = Payload {
            version: 1,
            schema: 1,
            hwms,
            last_seen,
            archive: BTreeMap::new(),
            dict: 0,
        };
        let json = serde_json::to_string(&payload).unwrap();
        let back: Payload = serde_json::from_str(&json).unwrap();
        assert_eq!(Marks::from_payload(&back), marks);
        assert_eq!(marks.forget_older_than(50), 1);
        assert_eq!(marks.get("a", 2), None);
        assert_eq!(marks.streams(), 2);
    }
}
