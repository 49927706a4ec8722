//! One event, two copies: an entry agentd read from the systemd journal and
//! the line rsyslog wrote of the same entry to a file agentd tails. The
//! high-water marks cannot see it (two streams); this check can.
//!
//! After the marks, each new record that parsed as syslog is keyed by a
//! 64-bit hash of (agent, host, program, pid, message), seeded anew in each
//! process. The first copy to arrive is stored and waits here; a later copy
//! *from the other kind of source* (journal ↔ file) whose event time is
//! within [`WINDOW_MS`] of it cancels it and is not stored (counted in STATUS).
//! Each copy cancels at most one of the other kind, so a line a program
//! repeats in one source is kept every time; only the pairs go.
//!
//! Limits, on purpose: the waiting copies live in memory only (a restart of
//! collectord between the two copies stores both); a copy waits at most
//! [`MAX_WAIT_MS`] of receive time and there are at most [`MAX_WAITING`]
//! (the oldest go first), so a file read much later than the journal is
//! stored twice; lines whose message rsyslog changed (control characters
//! escaped as `#011`, a message cut at its size limit) do not match.

use std::collections::VecDeque;

use logcore::prehashed::{random_seed, PrehashedMap};
use logcore::record::{flags, Record};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Two copies match when their event times are at most this far apart.
pub const WINDOW_MS: i64 = 10_000;
/// A stored copy waits this long (receive time) for its twin.
pub const MAX_WAIT_MS: i64 = 10 * 60 * 1000;
/// The most copies waiting at once (about 50 bytes each).
pub const MAX_WAITING: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Journal,
    File,
}

/// Whether the record came from the journal input (`journal`,
/// `journal:DIR`) or from a file.
fn source_of(path: &str) -> Source {
    if path == "journal" || path.starts_with("journal:") {
        Source::Journal
    } else {
        Source::File
    }
}

/// A copy waiting for its twin: its source, event time and sequence
/// number (to find it again from `order`).
type Copy = (Source, i64, u64);

/// The waiting copies by key. Nearly every key has one copy, kept in the
/// map itself; the second and later copies of a key (a line repeated
/// within ten minutes) go to `more`. A list per key was an allocation and
/// a free for every line an agent stores.
#[derive(Debug, Default)]
struct Waiting {
    first: PrehashedMap<Copy>,
    more: PrehashedMap<Vec<Copy>>,
}

impl Waiting {
    /// Takes away the first copy of `key` that `matches`; says whether
    /// there was one.
    fn take(&mut self, key: u64, matches: impl Fn(&Copy) -> bool) -> bool {
        let Some(first) = self.first.get(&key) else {
            return false;
        };
        if matches(first) {
            self.promote(key);
            return true;
        }
        let Some(more) = self.more.get_mut(&key) else {
            return false;
        };
        let Some(i) = more.iter().position(matches) else {
            return false;
        };
        more.swap_remove(i);
        if more.is_empty() {
            self.more.remove(&key);
        }
        true
    }

    /// The first copy of `key` goes; one of `more`, if any, takes its place.
    fn promote(&mut self, key: u64) {
        match self.more.get_mut(&key).and_then(Vec::pop) {
            Some(next) => {
                self.first.insert(key, next);
                if self.more.get(&key).is_some_and(Vec::is_empty) {
                    self.more.remove(&key);
                }
            }
            None => {
                self.first.remove(&key);
            }
        }
    }

    fn push(&mut self, key: u64, copy: Copy) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.first.entry(key) {
            e.insert(copy);
        } else {
            self.more.entry(key).or_default().push(copy);
        }
    }
}

#[derive(Debug)]
pub struct Twins {
    waiting: Waiting,
    /// Every waiting copy in arrival order: receive time, key, sequence.
    order: VecDeque<(i64, u64, u64)>,
    next: u64,
    len: usize,
    /// Copies not stored because their twin was, since start.
    pub dropped: u64,
    /// The seed of the keys' hash, new in each process: a sender cannot
    /// pick a line whose key is another line's.
    seed: u64,
    /// Where a key's bytes are put together.
    buf: Vec<u8>,
}

impl Default for Twins {
    fn default() -> Twins {
        Twins {
            waiting: Waiting::default(),
            order: VecDeque::new(),
            next: 0,
            len: 0,
            dropped: 0,
            seed: random_seed(),
            buf: Vec::new(),
        }
    }
}

impl Twins {
    /// Whether `record` is the second copy of one already stored (then it
    /// must not be stored); otherwise it waits for its twin.
    pub fn is_twin(&mut self, record: &Record) -> bool {
        if record.has(flags::UNPARSED) || record.program.is_none() {
            return false;
        }
        self.expire(record.receive_time_ms);
        let key = self.key_of(record);
        let source = source_of(&record.path);
        let time = record.event_time_ms;
        if self.waiting.take(key, |&(s, t, _)| {
            s != source && (t - time).abs() <= WINDOW_MS
        }) {
            self.len -= 1;
            self.dropped += 1;
            return true;
        }
        let seq = self.next;
        self.next += 1;
        self.waiting.push(key, (source, time, seq));
        self.order.push_back((record.receive_time_ms, key, seq));
        self.len += 1;
        while self.len > MAX_WAITING {
            self.evict_oldest();
        }
        false
    }

    /// How many copies wait for a twin.
    pub fn waiting(&self) -> usize {
        self.len
    }

    fn expire(&mut self, now_ms: i64) {
        while self
            .order
            .front()
            .is_some_and(|&(t, _, _)| now_ms - t > MAX_WAIT_MS)
        {
            self.evict_oldest();
        }
    }

    /// Drops the oldest entry of `order`; it may have been cancelled
    /// already, then only the order entry goes.
    fn evict_oldest(&mut self) {
        let Some((_, key, seq)) = self.order.pop_front() else {
            return;
        };
        if self.waiting.take(key, |&(_, _, s)| s == seq) {
            self.len -= 1;
        }
    }
}

impl Twins {
    /// The hash of what two copies of a line share: agent, host, program,
    /// pid and message.
    fn key_of(&mut self, r: &Record) -> u64 {
        self.buf.clear();
        for part in [
            r.agent.as_bytes(),
            r.host.as_bytes(),
            r.program.as_deref().unwrap_or("").as_bytes(),
            r.message.as_bytes(),
        ] {
            self.buf
                .extend_from_slice(&(part.len() as u64).to_le_bytes());
            self.buf.extend_from_slice(part);
        }
        self.buf
            .extend_from_slice(&r.pid.map_or(u64::MAX, u64::from).to_le_bytes());
        xxh3_64_with_seed(&self.buf, self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcore::record::Origin;

    fn record(path: &str, line: &str, receive_ms: i64) -> Record {
        let origin = Origin {
            agent: "a1",
            host: "h",
            path,
            stream: 1,
            utc_offset_secs: 0,
            receive_time_ms: receive_ms,
        };
        Record::from_line(&origin, 0, 0, line.as_bytes().to_vec())
    }

    const NOW: i64 = 1_795_597_300_000;
    const JOURNAL: &str = r#"<13>1 2026-11-25T09:00:00.123456Z web1 sshd 42 - [journal@32473 unit="ssh.service"] Accepted publickey for alice"#;
    const FILE: &str =
        "2026-11-25T09:00:00.123456+00:00 web1 sshd[42]: Accepted publickey for alice";

    #[test]
    fn journal_and_file_copies_of_one_event_are_stored_once_in_either_order() {
        // A user reading the journal beside /var/log/syslog must not see
        // every line twice.
        let mut t = Twins::default();
        assert!(!t.is_twin(&record("journal", JOURNAL, NOW)));
        assert!(t.is_twin(&record("/var/log/syslog", FILE, NOW)));
        assert!(!t.is_twin(&record("/var/log/syslog", FILE, NOW)));
        assert!(t.is_twin(&record("journal:/x", JOURNAL, NOW)));
        assert_eq!((t.dropped, t.waiting()), (2, 0));
    }

    #[test]
    fn repeats_within_one_source_are_all_kept() {
        // A program that logs the same line three times did so three times.
        let mut t = Twins::default();
        for _ in 0..3 {
            assert!(!t.is_twin(&record("/var/log/syslog", FILE, NOW)));
        }
        // One journal copy cancels exactly one of them, not all three.
        assert!(t.is_twin(&record("journal", JOURNAL, NOW)));
        assert_eq!((t.dropped, t.waiting()), (1, 2));
        // When they expire, they leave nothing behind: memory is bounded
        // only if every copy that goes leaves no trace.
        let late = "2026-11-25T09:20:00Z web1 app[1]: later";
        assert!(!t.is_twin(&record("/f", late, NOW + MAX_WAIT_MS + 1)));
        assert_eq!(t.waiting(), 1);
        assert_eq!((t.waiting.first.len(), t.waiting.more.len()), (1, 0));
    }

    #[test]
    fn other_pid_other_time_or_other_message_is_not_a_twin() {
        let mut t = Twins::default();
        assert!(!t.is_twin(&record("journal", JOURNAL, NOW)));
        let other_pid = FILE.replace("[42]", "[43]");
        let later = FILE.replace("09:00:00.1", "09:00:11.1");
        let other_msg = FILE.replace("alice", "bob");
        for line in [&other_pid, &later, &other_msg] {
            assert!(!t.is_twin(&record("/var/log/syslog", line, NOW)), "{line}");
        }
        assert!(!t.is_twin(&record("/f", "no header at all", NOW)));
    }

    #[test]
    fn waiting_copies_expire_by_age_and_are_bounded() {
        let mut t = Twins::default();
        assert!(!t.is_twin(&record("journal", JOURNAL, NOW)));
        let late = record("/var/log/syslog", FILE, NOW + MAX_WAIT_MS + 1);
        assert!(!t.is_twin(&late), "expired: stored again");
        assert_eq!(t.waiting(), 1);
        for i in 0..(MAX_WAITING as i64 + 10) {
            let line = format!("2026-11-25T09:00:00Z web1 app[1]: line {i}");
            t.is_twin(&record("/f", &line, NOW + MAX_WAIT_MS + 2));
        }
        assert_eq!(t.waiting(), MAX_WAITING);
    }
}
