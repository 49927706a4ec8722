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

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// How many streams may have a mark: per agent, and in all. Every mark
/// costs memory and a place in the marks file, and a stream is whatever a
/// peer says it is, so both are capped; a batch that would go past a cap
/// is refused whole ([`Marks::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkLimits {
    pub per_agent: usize,
    pub total: usize,
}

impl Default for MarkLimits {
    fn default() -> MarkLimits {
        MarkLimits {
            per_agent: 20_000,
            total: 1_000_000,
        }
    }
}

/// A batch refused because its new streams would pass a cap of
/// [`MarkLimits`]: nothing of it is stored and no mark moves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooManyStreams {
    #[error("agent {agent} would have {would} streams with a mark, over the {max} one agent may have (max-streams-per-agent)")]
    Agent {
        agent: String,
        would: usize,
        max: usize,
    },
    #[error("{would} streams would have a mark, over the {max} the collector keeps in all (max-streams)")]
    Total { would: usize, max: usize },
}

/// All marks, by agent id then stream id, with the ones changed since the
/// marks file last took them (`marklog`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Marks {
    agents: HashMap<String, HashMap<u64, Mark>>,
    total: usize,
    changed: HashMap<String, HashSet<u64>>,
}

impl Marks {
    pub fn get(&self, agent: &str, stream: u64) -> Option<Mark> {
        self.agents.get(agent)?.get(&stream).copied()
    }

    /// How many streams have a mark.
    pub fn streams(&self) -> usize {
        self.total
    }

    /// Whether the streams of a batch from `agent` may have marks: `Ok`
    /// when those without one so far fit under both caps.
    pub fn admit(
        &self,
        agent: &str,
        streams: impl Iterator<Item = u64>,
        limits: MarkLimits,
    ) -> Result<(), TooManyStreams> {
        let have = self.agents.get(agent);
        let mut new = HashSet::new();
        for s in streams {
            if have.is_none_or(|m| !m.contains_key(&s)) {
                new.insert(s);
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let would = have.map_or(0, HashMap::len) + new.len();
        if would > limits.per_agent {
            return Err(TooManyStreams::Agent {
                agent: agent.to_owned(),
                would,
                max: limits.per_agent,
            });
        }
        if self.total + new.len() > limits.total {
            return Err(TooManyStreams::Total {
                would: self.total + new.len(),
                max: limits.total,
            });
        }
        Ok(())
    }

    /// Sets one stream's mark (and remembers it changed).
    pub fn set(&mut self, agent: &str, stream: u64, mark: Mark) {
        let streams = match self.agents.get_mut(agent) {
            Some(s) => s,
            None => self.agents.entry(agent.to_owned()).or_default(),
        };
        if streams.insert(stream, mark).is_none() {
            self.total += 1;
        }
        match self.changed.get_mut(agent) {
            Some(c) => {
                c.insert(stream);
            }
            None => {
                self.changed
                    .entry(agent.to_owned())
                    .or_default()
                    .insert(stream);
            }
        }
    }

    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// The marks changed since [`Marks::clear_changes`].
    pub fn changed(&self) -> impl Iterator<Item = (&str, u64, Mark)> {
        self.changed.iter().flat_map(move |(agent, streams)| {
            let marks = self.agents.get(agent);
            streams
                .iter()
                .filter_map(move |s| Some((agent.as_str(), *s, *marks?.get(s)?)))
        })
    }

    /// Every mark.
    pub fn all(&self) -> impl Iterator<Item = (&str, u64, Mark)> {
        self.agents
            .iter()
            .flat_map(|(a, m)| m.iter().map(move |(s, mark)| (a.as_str(), *s, *mark)))
    }

    pub fn clear_changes(&mut self) {
        self.changed.clear();
    }

    /// Forgets streams not seen since `before_ms`: an agent does not re-send
    /// lines that old (it has their ACKs), so their marks only take room.
    /// The marks file must then be rewritten (`MarkLog::rewrite_next`).
    pub fn forget_older_than(&mut self, before_ms: i64) -> usize {
        let mut forgotten = 0;
        for streams in self.agents.values_mut() {
            let n = streams.len();
            streams.retain(|_, m| m.last_seen_ms >= before_ms);
            forgotten += n - streams.len();
        }
        self.agents.retain(|_, s| !s.is_empty());
        self.total -= forgotten;
        forgotten
    }

    /// The marks of a payload of version 3 or older, which carried them.
    pub fn from_payload(payload: &Payload) -> Marks {
        let mut marks = Marks::default();
        for (agent, streams) in &payload.hwms {
            let seen = payload.last_seen.get(agent);
            for (stream, end) in streams {
                let last_seen_ms = seen.and_then(|s| s.get(stream)).copied().unwrap_or(0);
                marks.set(
                    agent,
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
/// 4: the marks in their own file (`marklog`), named by `marks`; `hwms`
/// and `last_seen` stay empty (version 3's are read once, then rewritten
/// into a marks file by the first commit).
pub const PAYLOAD_VERSION: u32 = 4;

/// The oldest payload version this collectord opens (and upgrades at its
/// first commit).
pub const PAYLOAD_VERSION_READ: u32 = 3;

/// What each commit records besides the documents, atomically with them
/// (the tantivy commit payload, JSON in `index/meta.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// [`PAYLOAD_VERSION`].
    pub version: u32,
    /// `crate::schema::SCHEMA_VERSION` of the documents.
    pub schema: u32,
    /// Version 3: agent id → stream id → largest `end` stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hwms: PerStream<u64>,
    /// Version 3: agent id → stream id → receive time (ms) of its last batch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_seen: PerStream<i64>,
    /// Version 4: the marks file and its committed length.
    #[serde(default)]
    pub marks: Option<crate::marklog::Committed>,
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

    fn mark(end: u64, last_seen_ms: i64) -> Mark {
        Mark { end, last_seen_ms }
    }

    #[test]
    fn version_3_payload_marks_are_read_and_forgetting_counts() {
        // A collector upgraded from payload version 3 must keep
        // deduplicating the streams its old payload named.
        let json = r#"{"version":3,"schema":6,"hwms":{"a":{"1":10,"2":20},"b":{"1":30}},
            "last_seen":{"a":{"1":100,"2":5},"b":{"1":200}},"archive":{},"dict":0}"#;
        let payload: Payload = serde_json::from_str(json).unwrap();
        let mut marks = Marks::from_payload(&payload);
        assert_eq!(marks.streams(), 3);
        assert_eq!(marks.get("a", 2), Some(mark(20, 5)));
        assert_eq!(marks.forget_older_than(50), 1);
        assert_eq!(marks.get("a", 2), None);
        assert_eq!(marks.streams(), 2);
        // A version 4 payload carries no marks of its own.
        let v4 = serde_json::to_string(&Payload {
            version: PAYLOAD_VERSION,
            marks: Some(crate::marklog::Committed {
                generation: 1,
                bytes: 12,
            }),
            ..Payload::default()
        })
        .unwrap();
        assert!(!v4.contains("hwms") && !v4.contains("last_seen"), "{v4}");
    }

    #[test]
    fn streams_past_a_cap_are_refused_before_any_mark_moves() {
        // Regression (issue 13): every (agent, stream) got a mark, so a peer
        // sending frames of 470,000 one-line streams grew the collector's
        // memory and every commit without limit.
        let limits = MarkLimits {
            per_agent: 3,
            total: 5,
        };
        let mut marks = Marks::default();
        marks.set("a", 1, mark(1, 0));
        marks.set("a", 2, mark(1, 0));
        assert_eq!(marks.admit("a", [1, 2, 3, 3].into_iter(), limits), Ok(()));
        assert!(matches!(
            marks.admit("a", [3, 4].into_iter(), limits),
            Err(TooManyStreams::Agent {
                would: 4,
                max: 3,
                ..
            })
        ));
        marks.set("b", 1, mark(1, 0));
        marks.set("b", 2, mark(1, 0));
        assert_eq!(marks.admit("c", [1].into_iter(), limits), Ok(()));
        assert!(matches!(
            marks.admit("c", [1, 2].into_iter(), limits),
            Err(TooManyStreams::Total { would: 6, max: 5 })
        ));
        // Streams that already have a mark are always admitted.
        assert_eq!(marks.admit("a", [1, 2].into_iter(), limits), Ok(()));
        assert_eq!(marks.changed().count(), 4);
        marks.clear_changes();
        assert!(!marks.has_changes());
    }
}
