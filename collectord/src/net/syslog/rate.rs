//! `syslog-rate-limit`: a token bucket per source IP address (after
//! fail2ban-style rules, the unit is the sender, not the connection).
//! Each holds one second's worth of messages and refills at the rate.
//!
//! TCP takes what it read and runs into debt: the reader then sleeps until
//! the debt is paid ([`Buckets::take`]), so the sender is slowed down and
//! nothing is lost. UDP cannot slow a sender down: a message without a
//! token is dropped and counted ([`Buckets::try_take`]), and the count is
//! logged once per source every [`REPORT_EVERY`] ([`Buckets::due`]
//! gathers the counts no message came to report).
//!
//! Bounded: at most [`MAX_SOURCES`] buckets; past it, the full ones (a
//! source quiet for a second) with nothing to report are forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The most sources followed at once.
pub const MAX_SOURCES: usize = 65_536;

/// How often at most a source's UDP drops are logged.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// UDP messages dropped and not yet logged.
    dropped: u64,
    reported_at: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Buckets {
    map: HashMap<IpAddr, Bucket>,
}

impl Buckets {
    fn bucket(&mut self, ip: IpAddr, rate: u32, now: Instant) -> &mut Bucket {
        let burst = f64::from(rate.max(1));
        if self.map.len() >= MAX_SOURCES && !self.map.contains_key(&ip) {
            self.map.retain(|_, b| {
                let refilled = b.tokens + now.duration_since(b.at).as_secs_f64() * burst;
                refilled < burst || b.dropped > 0
            });
        }
        let b = self.map.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
            dropped: 0,
            reported_at: None,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * f64::from(rate)).min(burst);
        b.at = now;
        b
    }

    /// Takes `n` messages for `ip` at `rate` per second (0: no limit);
    /// returns how long the reader must wait before reading more (zero
    /// when the bucket is not in debt).
    pub fn take(&mut self, ip: IpAddr, n: u32, rate: u32, now: Instant) -> Duration {
        if rate == 0 {
            return Duration::ZERO;
        }
        let b = self.bucket(ip, rate, now);
        b.tokens -= f64::from(n);
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / f64::from(rate))
        }
    }

    /// One UDP message from `ip`: `Ok` to keep it; `Err(Some(count))` to
    /// drop it and log `count` drops now; `Err(None)` to drop it, logged
    /// later.
    pub fn try_take(&mut self, ip: IpAddr, rate: u32, now: Instant) -> Result<(), Option<u64>> {
        if rate == 0 {
            return Ok(());
        }
        let b = self.bucket(ip, rate, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        b.dropped += 1;
        if b.reported_at
            .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
        {
            b.reported_at = Some(now);
            return Err(Some(std::mem::take(&mut b.dropped)));
        }
        Err(None)
    }

    /// The drops not logged yet whose source was last logged at least
    /// [`REPORT_EVERY`] ago (or all of them, with `all`, at shutdown).
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<(IpAddr, u64)> {
        let mut out = Vec::new();
        for (ip, b) in &mut self.map {
            let due = all
                || b.reported_at
                    .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY);
            if b.dropped > 0 && due {
                b.reported_at = Some(now);
                out.push((*ip, std::mem::take(&mut b.dropped)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn tcp_is_slowed_down_by_what_it_took_beyond_a_second() {
        let mut b = Buckets::default();
        let t = Instant::now();
        assert_eq!(b.take(IP, 100, 100, t), Duration::ZERO);
        // 50 more with an empty bucket: half a second of debt.
        assert_eq!(b.take(IP, 50, 100, t), Duration::from_millis(500));
        // Paid after half a second.
        assert_eq!(
            b.take(IP, 0, 100, t + Duration::from_millis(500)),
            Duration::ZERO
        );
        assert_eq!(b.take(IP, 1_000_000, 0, t), Duration::ZERO, "0 is off");
    }

    #[test]
    fn udp_drops_are_counted_and_reported_once_per_ten_seconds() {
        // An operator must learn how many messages a source lost, without a
        // log line per message.
        let mut b = Buckets::default();
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(b.try_take(IP, 10, t), Ok(()));
        }
        assert_eq!(b.try_take(IP, 10, t), Err(Some(1)), "first drop: logged");
        for _ in 0..5 {
            assert_eq!(b.try_take(IP, 10, t), Err(None));
        }
        assert!(b.due(t + Duration::from_secs(1), false).is_empty());
        assert_eq!(b.due(t + REPORT_EVERY, false), [(IP, 5)]);
        assert!(b.due(t + REPORT_EVERY * 3, true).is_empty(), "nothing left");
    }

    #[test]
    fn sources_are_bounded() {
        let mut b = Buckets::default();
        let t = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = b.try_take(ip, 1, t + Duration::from_secs(2 * u64::from(i)));
        }
        assert!(b.map.len() <= MAX_SOURCES);
    }
}
