//! Rate rules: the detectors' fixed floors ([`rules`]), and the thresholds
//! a site's history teaches above them ([`Baselines`], learnt by
//! `PeakLearner` while training).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Keys followed at once while learning rate baselines.
pub(super) const BASELINE_KEYS: usize = 200_000;

/// Which count a baseline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Counted {
    /// Failed logins of one source address on one host.
    Failures,
    /// Connections of one source address on one host.
    Connections,
    /// The same within [`rules::FLOOD_FAST`]'s window.
    ConnectionsFast,
}

/// Learnt thresholds for (host, address) pairs whose history crossed the
/// default rule on at least [`Baselines::RECURRING_DAYS`] different days: a
/// nightly backup opening 300 sessions from one address, a monitoring
/// probe failing every minute. A one-day peak (an attack in the history)
/// teaches nothing. Such a pair's threshold is twice its peak.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baselines {
    /// "KIND host ip" → the threshold within the rule's window.
    pub thresholds: HashMap<String, u32>,
}

impl Baselines {
    pub const RECURRING_DAYS: u32 = 2;

    pub fn key(counted: Counted, host: &str, ip: &IpAddr) -> String {
        format!("{counted:?} {host} {ip}")
    }

    pub fn threshold(&self, counted: Counted, host: &str, ip: &IpAddr) -> Option<u32> {
        if self.thresholds.is_empty() {
            return None;
        }
        self.thresholds.get(&Self::key(counted, host, ip)).copied()
    }
}

/// A key's history while learning baselines.
#[derive(Debug, Default)]
struct PeakState {
    times: VecDeque<i64>,
    day: i64,
    day_peak: usize,
    peak: usize,
    days_over: u32,
}

/// Peaks of (kind, host, address) counts within a window.
#[derive(Debug)]
pub(super) struct PeakLearner {
    window_ms: i64,
    floor: usize,
    keys: HashMap<String, PeakState>,
}

impl PeakLearner {
    pub(super) fn new(window_ms: i64, floor: u32) -> Self {
        PeakLearner {
            window_ms,
            floor: floor as usize,
            keys: HashMap::new(),
        }
    }

    pub(super) fn observe(&mut self, key: String, at_ms: i64) {
        if self.keys.len() >= BASELINE_KEYS && !self.keys.contains_key(&key) {
            let (window, floor) = (self.window_ms, self.floor);
            // Forget keys idle for a window that never reached the floor.
            self.keys.retain(|_, s| {
                s.peak >= floor || s.times.back().is_some_and(|&t| at_ms - t <= window)
            });
            if self.keys.len() >= BASELINE_KEYS {
                return;
            }
        }
        let s = self.keys.entry(key).or_default();
        let day = at_ms.div_euclid(86_400_000);
        if day != s.day {
            s.day = day;
            s.day_peak = 0;
        }
        s.times.push_back(at_ms);
        while s.times.front().is_some_and(|&t| at_ms - t > self.window_ms) {
            s.times.pop_front();
        }
        let n = s.times.len();
        if n > s.day_peak {
            if s.day_peak < self.floor && n >= self.floor {
                s.days_over += 1;
            }
            s.day_peak = n;
        }
        s.peak = s.peak.max(n);
    }

    pub(super) fn baselines(&self, into: &mut HashMap<String, u32>) {
        for (key, s) in &self.keys {
            if s.days_over >= Baselines::RECURRING_DAYS {
                into.insert(key.clone(), (2 * s.peak).min(u32::MAX as usize) as u32);
            }
        }
    }
}

/// The detectors' fixed rules (see `engine`).
pub mod rules {
    use crate::detect::RateRule;

    const MIN: i64 = 60_000;
    /// fail2ban's default: 5 failures in 10 minutes from one address.
    pub const BURST: RateRule = RateRule::FAIL2BAN;
    /// 5 distinct non-existent users from one address in 10 minutes.
    pub const SCAN: RateRule = RateRule {
        threshold: 5,
        window_ms: 10 * MIN,
    };
    /// 10 failures from one address in 24 hours, below the burst rule.
    pub const SLOW: RateRule = RateRule {
        threshold: 10,
        window_ms: 24 * 60 * MIN,
    };
    /// 10 failures against one user within an hour, from at least
    /// [`DISTRIBUTED_SOURCES`] addresses.
    pub const DISTRIBUTED: RateRule = RateRule {
        threshold: 10,
        window_ms: 60 * MIN,
    };
    pub const DISTRIBUTED_SOURCES: usize = 5;
    /// A success after this many failures from its address within an hour.
    pub const SUCCESS_AFTER: usize = 5;
    pub const SUCCESS_WINDOW_MS: i64 = 60 * MIN;
    /// 50 connections from one address in a minute.
    /// 20 connections from one address within 10 seconds: ftpd's floods
    /// in loghub's Linux sample are 23 in one second, under 50 a minute.
    pub const FLOOD_FAST: RateRule = RateRule {
        threshold: 20,
        window_ms: 10_000,
    };
    pub const FLOOD: RateRule = RateRule {
        threshold: 50,
        window_ms: MIN,
    };
}
