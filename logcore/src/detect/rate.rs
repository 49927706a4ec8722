//! Rate over a sliding window, keyed by an entity (a source address, a user,
//! a host and template): "`threshold` events within `window`", the rule
//! fail2ban applies to failed logins (5 in 10 minutes by default), with the
//! memory bounded whatever the number of distinct keys.
//!
//! Each key keeps at most `threshold` timestamps: the newest ones, which is
//! all the rule needs (the `threshold`-th newest event is within the window
//! or the rule does not hold). Keys are bounded by `max_keys`: when the map
//! is full, keys with no event inside the window are dropped first, then the
//! least recently seen half; a dropped key only forgets events that could
//! not have made an alert on their own for long anyway, and the detector
//! says how many it dropped.
//!
//! One alert per episode: a key alerts when it first crosses the threshold,
//! then stays quiet until a whole window passes in which the rule never held,
//! so a burst of 1,000 failures is one alert with its count, not 996.
//!
//! Time is the event's own timestamp (milliseconds), so replaying old logs
//! behaves as live ingestion did. Events may arrive slightly out of order;
//! a timestamp older than the key's newest is treated as the newest.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::DetectError;

/// The rule: `threshold` events within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRule {
    pub threshold: u32,
    pub window_ms: i64,
}

impl RateRule {
    /// fail2ban's default for sshd: 5 failures in 10 minutes.
    pub const FAIL2BAN: RateRule = RateRule {
        threshold: 5,
        window_ms: 10 * 60 * 1000,
    };

    pub fn validate(&self) -> Result<(), DetectError> {
        if self.threshold == 0 || self.window_ms <= 0 {
            return Err(DetectError::Param(format!(
                "a rate rule needs a threshold and a window above 0, not {} in {} ms",
                self.threshold, self.window_ms
            )));
        }
        Ok(())
    }
}

/// One counted event: its time, the caller's line number and a value the
/// caller may use to tell events apart (a hash of the source address, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub at_ms: i64,
    pub line: u64,
    pub aux: u64,
}

/// An episode crossing the rule, reported when it starts and updated while
/// it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode<K> {
    pub key: K,
    /// Events of this episode so far (at least the threshold).
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// At the alert: the `threshold` events that made it, oldest first.
    /// Empty from [`RateDetector::episode`].
    pub events: Vec<Event>,
}

/// What one event did to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<K> {
    /// Below the threshold, or inside an episode already reported.
    Quiet,
    /// This event made the key cross the threshold: a new alert.
    Alert(Episode<K>),
}

#[derive(Debug)]
struct Entry {
    /// The newest events, at most `threshold`, oldest first.
    times: VecDeque<Event>,
    episode: Option<Ongoing>,
}

/// The episode in progress of one key.
#[derive(Debug, Clone, Copy)]
struct Ongoing {
    first: i64,
    count: u64,
    /// The last event at which the rule held; a window later without it
    /// holding again, the episode is over.
    last_held: i64,
}

impl Entry {
    fn newest(&self) -> i64 {
        self.times.back().map_or(i64::MIN, |e| e.at_ms)
    }
}

/// Sliding-window counts for many keys, bounded by `max_keys`.
#[derive(Debug)]
pub struct RateDetector<K> {
    rule: RateRule,
    max_keys: usize,
    keys: HashMap<K, Entry>,
    dropped: u64,
}

impl<K: Hash + Eq + Clone> RateDetector<K> {
    pub fn new(rule: RateRule, max_keys: usize) -> Result<Self, DetectError> {
        rule.validate()?;
        if max_keys == 0 {
            return Err(DetectError::Param("max_keys must be at least 1".into()));
        }
        Ok(RateDetector {
            rule,
            max_keys,
            keys: HashMap::new(),
            dropped: 0,
        })
    }

    /// Counts one event of `key` at `at_ms`.
    pub fn observe(&mut self, key: &K, at_ms: i64) -> Seen<K> {
        self.observe_event(
            key,
            Event {
                at_ms,
                line: 0,
                aux: 0,
            },
        )
    }

    /// Counts one event of `key`; an alert carries the events that made it.
    pub fn observe_event(&mut self, key: &K, event: Event) -> Seen<K> {
        let at_ms = event.at_ms;
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            self.make_room(at_ms);
        }
        let rule = self.rule;
        let entry = self.keys.entry(key.clone()).or_insert_with(|| Entry {
            times: VecDeque::with_capacity(rule.threshold.min(64) as usize),
            episode: None,
        });
        let at = at_ms.max(entry.newest());
        entry.times.push_back(Event { at_ms: at, ..event });
        if entry.times.len() > rule.threshold as usize {
            entry.times.pop_front();
        }
        let oldest = entry.times.front().map_or(at, |e| e.at_ms);
        let holds = entry.times.len() == rule.threshold as usize && at - oldest <= rule.window_ms;
        match &mut entry.episode {
            Some(episode) if holds || at - episode.last_held <= rule.window_ms => {
                episode.count += 1;
                if holds {
                    episode.last_held = at;
                }
                Seen::Quiet
            }
            _ if holds => {
                let count = u64::from(rule.threshold);
                entry.episode = Some(Ongoing {
                    first: oldest,
                    count,
                    last_held: at,
                });
                Seen::Alert(Episode {
                    key: key.clone(),
                    count,
                    first_ms: oldest,
                    last_ms: at,
                    events: entry.times.iter().copied().collect(),
                })
            }
            _ => {
                // Below the rule for a whole window: the episode is over.
                entry.episode = None;
                Seen::Quiet
            }
        }
    }

    /// The episode in progress for `key`, if any: its count grows after the
    /// alert, for the explanation.
    pub fn episode(&self, key: &K) -> Option<Episode<K>> {
        let entry = self.keys.get(key)?;
        let ongoing = entry.episode?;
        Some(Episode {
            key: key.clone(),
            count: ongoing.count,
            first_ms: ongoing.first,
            last_ms: entry.newest(),
            events: Vec::new(),
        })
    }

    /// The events of `key` kept now (at most `threshold`) that lie within
    /// the window ending at `at_ms`: "did this address fail 5 times in the
    /// last hour" without counting a new event.
    pub fn recent(&self, key: &K, at_ms: i64) -> Vec<Event> {
        self.keys.get(key).map_or_else(Vec::new, |e| {
            e.times
                .iter()
                .filter(|ev| at_ms - ev.at_ms <= self.rule.window_ms)
                .copied()
                .collect()
        })
    }

    /// Whether `key` is inside an episode (alerted, and the rule held within
    /// the last window).
    pub fn in_episode(&self, key: &K) -> bool {
        self.keys.get(key).is_some_and(|e| e.episode.is_some())
    }

    pub fn rule(&self) -> RateRule {
        self.rule
    }

    /// Keys held now (at most `max_keys`).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys dropped to stay within `max_keys` since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Drops keys idle for a whole window; if that frees nothing, the least
    /// recently seen half.
    fn make_room(&mut self, now_ms: i64) {
        let window = self.rule.window_ms;
        let before = self.keys.len();
        self.keys
            .retain(|_, e| now_ms.saturating_sub(e.newest()) <= window);
        if self.keys.len() >= self.max_keys {
            let mut newest: Vec<i64> = self.keys.values().map(Entry::newest).collect();
            let half = newest.len() / 2;
            let (_, cut, _) = newest.select_nth_unstable(half);
            let cut = *cut;
            self.keys.retain(|_, e| e.newest() > cut);
        }
        self.dropped += (before - self.keys.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn alerts(d: &mut RateDetector<&'static str>, key: &'static str, times: &[i64]) -> usize {
        times
            .iter()
            .filter(|&&t| matches!(d.observe(&key, t), Seen::Alert(_)))
            .count()
    }

    #[test]
    fn five_failures_in_ten_minutes_alert_once_on_the_fifth() {
        // fail2ban's floor: the fifth failure within 10 minutes is the alert.
        let mut d = RateDetector::new(RateRule::FAIL2BAN, 100).unwrap();
        for (i, t) in [0, MIN, 2 * MIN, 3 * MIN].iter().enumerate() {
            assert_eq!(d.observe(&"203.0.113.9", *t), Seen::Quiet, "event {i}");
        }
        let Seen::Alert(e) = d.observe(&"203.0.113.9", 9 * MIN) else {
            panic!("the fifth failure within 10 minutes must alert");
        };
        assert_eq!((e.count, e.first_ms, e.last_ms), (5, 0, 9 * MIN));
        assert_eq!(e.events.len(), 5, "the alert names the five events");
        // More failures in the same burst: one episode, its count grows.
        assert_eq!(alerts(&mut d, "203.0.113.9", &[10 * MIN, 11 * MIN]), 0);
        assert_eq!(d.episode(&"203.0.113.9").unwrap().count, 7);
    }

    #[test]
    fn slower_than_the_rule_never_alerts() {
        // 5 failures spread over more than 10 minutes: a user mistyping, not
        // a burst.
        let mut d = RateDetector::new(RateRule::FAIL2BAN, 100).unwrap();
        let times: Vec<i64> = (0..20).map(|i| i * 3 * MIN).collect();
        assert_eq!(alerts(&mut d, "alice", &times), 0);
    }

    #[test]
    fn a_new_burst_after_a_quiet_window_is_a_new_episode() {
        let mut d = RateDetector::new(RateRule::FAIL2BAN, 100).unwrap();
        let burst = |start: i64| -> Vec<i64> { (0..5).map(|i| start + i * 1000).collect() };
        assert_eq!(alerts(&mut d, "k", &burst(0)), 1);
        assert_eq!(alerts(&mut d, "k", &burst(60 * MIN)), 1);
    }

    #[test]
    fn a_million_distinct_keys_stay_within_the_bound() {
        // A scan from a million addresses must not grow the detector without
        // limit; bursts of keys still within the bound are still caught.
        let mut d = RateDetector::new(RateRule::FAIL2BAN, 10_000).unwrap();
        for i in 0..1_000_000u32 {
            d.observe(&i, i64::from(i));
            assert!(d.len() <= 10_000);
        }
        assert!(d.dropped() >= 990_000, "dropped {}", d.dropped());
        let t = 1_000_000;
        let hits = (0..5)
            .filter(|n| matches!(d.observe(&u32::MAX, t + n), Seen::Alert(_)))
            .count();
        assert_eq!(hits, 1);
    }

    #[test]
    fn out_of_order_timestamps_do_not_go_back_in_time() {
        let mut d = RateDetector::new(RateRule::FAIL2BAN, 10).unwrap();
        assert_eq!(alerts(&mut d, "k", &[100 * MIN, 0, 0, 0, 0]), 1);
    }

    #[test]
    fn a_zero_rule_is_refused() {
        let bad = RateRule {
            threshold: 0,
            window_ms: 1,
        };
        assert!(RateDetector::<u32>::new(bad, 1).is_err());
        assert!(RateDetector::<u32>::new(RateRule::FAIL2BAN, 0).is_err());
    }
}
