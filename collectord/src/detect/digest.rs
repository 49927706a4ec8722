//! What of the anomalies reaches collectord's own log (the journal): the
//! first anomaly of each incident in full, and once a minute a summary of
//! the rest, instead of a warning per anomaly. On 2 million lines of a
//! fleet's logs with the internet's usual SSH guessing in them the
//! detectors opened 18,776 anomalies, each a warning: nobody reads that
//! (issue 16). `anomalies.log` still gets every one.
//!
//! An incident is what an operator would handle once:
//! - one address (`ip=…`) or one user (`user=…`), whatever the kind and on
//!   however many hosts: one campaign;
//! - one new kind of message (`template=…`) wherever it appears;
//! - otherwise the anomalies of one host (its windows, sessions, kinds of
//!   message new to it).
//!
//! An incident stays known for [`QUIET_MS`] after its last anomaly; at most
//! [`MAX_FULL`] anomalies a minute are logged in full (the rest go into the
//! summary), and at most [`MAX_INCIDENTS`] incidents are remembered (the
//! oldest go first), so the log and the memory are bounded whatever the
//! senders do.

use std::collections::HashMap;

use logcore::detect::Anomaly;

/// An incident quiet this long is over; its next anomaly is logged in full.
pub const QUIET_MS: i64 = 3_600_000;
/// Anomalies logged in full per minute at most.
pub const MAX_FULL: u32 = 10;
/// Incidents remembered at most.
pub const MAX_INCIDENTS: usize = 10_000;
const MINUTE_MS: i64 = 60_000;
/// Incidents named in a summary line (the largest first).
const NAMED: usize = 5;

/// The incident an anomaly belongs to.
pub fn incident(a: &Anomaly) -> String {
    if a.key.starts_with("ip=") || a.key.starts_with("user=") {
        return a.key.clone();
    }
    if a.key.starts_with("template=") {
        return format!("{} {}", a.kind, a.key);
    }
    format!("host={}", a.host.as_deref().unwrap_or("-"))
}

#[derive(Debug)]
struct Incident {
    last_ms: i64,
    /// Anomalies of it not logged in full since the last summary.
    unlogged: u64,
    /// All its anomalies.
    total: u64,
    hosts: Vec<String>,
    /// Hosts not kept in `hosts` (it keeps 100).
    more_hosts: u64,
    /// Its kinds of anomaly (a handful at most: the detectors' kinds).
    kinds: Vec<String>,
}

/// The journal's view of the anomalies: see the module docs.
#[derive(Debug, Default)]
pub struct Digest {
    incidents: HashMap<String, Incident>,
    minute_start_ms: i64,
    full_this_minute: u32,
}

impl Digest {
    /// An anomaly opened at `now_ms` (wall clock): `true` when it is to be
    /// logged in full (its incident is new, or was quiet, and this minute
    /// has room).
    pub fn opened(&mut self, a: &Anomaly, now_ms: i64) -> bool {
        if now_ms - self.minute_start_ms >= MINUTE_MS {
            self.minute_start_ms = now_ms;
            self.full_this_minute = 0;
        }
        let key = incident(a);
        let new = self
            .incidents
            .get(&key)
            .is_none_or(|i| now_ms - i.last_ms > QUIET_MS);
        if new && !self.incidents.contains_key(&key) && self.incidents.len() >= MAX_INCIDENTS {
            self.forget_oldest();
        }
        let i = self.incidents.entry(key).or_insert(Incident {
            last_ms: now_ms,
            unlogged: 0,
            total: 0,
            hosts: Vec::new(),
            more_hosts: 0,
            kinds: Vec::new(),
        });
        if new {
            i.total = 0;
            i.hosts.clear();
            i.more_hosts = 0;
            i.kinds.clear();
        }
        if !i.kinds.contains(&a.kind) {
            i.kinds.push(a.kind.clone());
        }
        i.last_ms = now_ms;
        i.total += 1;
        if let Some(h) = &a.host {
            if !i.hosts.contains(h) {
                if i.hosts.len() < 100 {
                    i.hosts.push(h.clone());
                } else {
                    i.more_hosts += 1;
                }
            }
        }
        let full = new && self.full_this_minute < MAX_FULL;
        if full {
            self.full_this_minute += 1;
        } else {
            i.unlogged += 1;
        }
        full
    }

    /// The summary of what was not logged in full since the last one, the
    /// largest incidents first; `None` when everything was. Called once a
    /// minute; forgets incidents quiet for [`QUIET_MS`].
    pub fn summary(&mut self, now_ms: i64) -> Option<String> {
        let mut pending: Vec<(&String, &Incident)> = self
            .incidents
            .iter()
            .filter(|(_, i)| i.unlogged > 0)
            .collect();
        let text = if pending.is_empty() {
            None
        } else {
            // The largest incidents first.
            pending.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
            let total: u64 = pending.iter().map(|(_, i)| i.unlogged).sum();
            let named: Vec<String> = pending
                .iter()
                .take(NAMED)
                .map(|(k, i)| {
                    let hosts = i.hosts.len() as u64 + i.more_hosts;
                    format!(
                        "{k} ({}; {hosts} host{}): {} more, {} in all",
                        i.kinds.join(", "),
                        if hosts == 1 { "" } else { "s" },
                        i.unlogged,
                        i.total,
                    )
                })
                .collect();
            let rest = pending.len().saturating_sub(NAMED);
            Some(format!(
                "{total} more anomalies in {} incident{}: {}{}; all are in anomalies.log",
                pending.len(),
                if pending.len() == 1 { "" } else { "s" },
                named.join("; "),
                if rest > 0 {
                    format!("; and {rest} more incidents")
                } else {
                    String::new()
                }
            ))
        };
        for i in self.incidents.values_mut() {
            i.unlogged = 0;
        }
        self.incidents.retain(|_, i| now_ms - i.last_ms <= QUIET_MS);
        text
    }

    fn forget_oldest(&mut self) {
        if let Some(k) = self
            .incidents
            .iter()
            .min_by_key(|(k, i)| (i.last_ms, (*k).clone()))
            .map(|(k, _)| k.clone())
        {
            self.incidents.remove(&k);
        }
    }

    /// Incidents remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.incidents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(kind: &str, key: &str, host: &str) -> Anomaly {
        Anomaly {
            kind: kind.into(),
            key: key.into(),
            host: Some(host.into()),
            ..Anomaly::default()
        }
    }

    #[test]
    fn one_address_against_many_hosts_is_one_incident_logged_once() {
        let mut d = Digest::default();
        let mut full = 0;
        for h in 0..300 {
            let kind = if h % 2 == 0 {
                "failed-login-burst"
            } else {
                "invalid-user-scan"
            };
            if d.opened(
                &anomaly(kind, "ip=203.0.113.9", &format!("web{h}")),
                1000 + h,
            ) {
                full += 1;
            }
        }
        assert_eq!(full, 1);
        let s = d.summary(2000).unwrap();
        assert_eq!(
            s,
            "299 more anomalies in 1 incident: ip=203.0.113.9 (failed-login-burst, invalid-user-scan; 300 hosts): 299 more, 300 in all; all are in anomalies.log"
        );
        // Nothing new: no summary.
        assert_eq!(d.summary(62_000), None);
    }

    #[test]
    fn the_journal_gets_at_most_ten_anomalies_a_minute_and_a_summary() {
        let mut d = Digest::default();
        // 1,000 different addresses in one minute: a scan of the internet.
        let full = (0..1000)
            .filter(|&i| {
                d.opened(
                    &anomaly(
                        "failed-login-burst",
                        &format!("ip=198.51.{}.{}", i / 256, i % 256),
                        "web1",
                    ),
                    10 * i64::from(i),
                )
            })
            .count();
        assert_eq!(full, MAX_FULL as usize);
        let s = d.summary(10_000).unwrap();
        assert!(
            s.starts_with("990 more anomalies in 990 incidents: "),
            "{s}"
        );
        assert!(
            s.ends_with("; and 985 more incidents; all are in anomalies.log"),
            "{s}"
        );
        // The next minute has room again.
        assert!(d.opened(&anomaly("new-template", "template=9", "web1"), 70_000));
    }

    #[test]
    fn an_incident_quiet_for_an_hour_is_over_and_memory_stays_bounded() {
        let mut d = Digest::default();
        let a = anomaly("host-window", "host=db1", "db1");
        assert!(d.opened(&a, 0));
        assert!(!d.opened(&a, 120_000), "the same incident, two minutes on");
        assert!(d.opened(&a, 120_000 + QUIET_MS + 1), "over, and back");
        for i in 0..(MAX_INCIDENTS + 50) {
            d.opened(
                &anomaly(
                    "connection-flood",
                    &format!("ip=10.0.{}.{}", i / 256, i % 256),
                    "h",
                ),
                1,
            );
        }
        assert!(d.len() <= MAX_INCIDENTS);
        d.summary(10 * QUIET_MS);
        assert_eq!(d.len(), 0, "all quiet for long: forgotten");
    }
}
