//! Lines flagged after they were stored: the lines of a rate anomaly that
//! came before its alert (issue 16).
//!
//! A rate rule fires on its threshold's line (the fifth failed login of an
//! address, say); the lines before it were stored and indexed before
//! anything was known, without the flag. Rather than rewrite their
//! documents, collectord appends one [`Episode`] per such anomaly to
//! `flagged.log` in its data directory (the *side table*): the anomaly's
//! kind and entity, the time of its first counted line and of the alert,
//! and the reason its flagged lines carry. A reader joins it: a line is in
//! an episode when its time is in the range and it is an event the rule
//! counts for that entity ([`crate::detect::auth::classify`], the same
//! function the rule ran), so what `logq --anomalies` shows is exactly the
//! lines the rule counted, the first one included.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::anomaly::Anomaly;
use super::auth::{classify, AuthEvent};
use crate::record::{flags, Record};

/// The side table's name in collectord's data directory.
pub const FILE: &str = "flagged.log";

/// One line of `flagged.log`: the lines an anomaly counted before it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The anomaly's id (as in `anomalies.log`).
    pub id: String,
    pub kind: String,
    /// The entity, as the anomaly's `key`: `ip=…`, `user=…`, `ip=… user=…`.
    pub key: String,
    /// The first counted line's event time, ms since the epoch.
    pub since_ms: i64,
    /// The alert's line's event time (inclusive).
    pub until_ms: i64,
    /// What the flagged lines carry (`Record::anomaly`).
    pub reason: String,
}

/// Which lines a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counts {
    /// Failed logins from the address.
    Failures,
    /// Failed logins of non-existent users from the address.
    InvalidUsers,
    /// Failed logins against the user, from any address.
    FailuresAgainstUser,
    /// Failed logins from the address, then the user's login from it.
    FailuresThenLogin,
    /// Connections from the address.
    Connections,
}

impl Counts {
    fn of(kind: &str) -> Option<Counts> {
        Some(match kind {
            "failed-login-burst" | "low-and-slow" => Counts::Failures,
            "invalid-user-scan" => Counts::InvalidUsers,
            "distributed-guessing" => Counts::FailuresAgainstUser,
            "success-after-failures" => Counts::FailuresThenLogin,
            "connection-flood" => Counts::Connections,
            _ => return None,
        })
    }
}

impl Episode {
    /// The episode of an anomaly just opened, when its kind counts lines
    /// that came before the alert (the rate rules) and some did (all may
    /// share the alert's second).
    pub fn of(a: &Anomaly) -> Option<Episode> {
        Counts::of(&a.kind)?;
        let ms = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let (since_ms, until_ms) = (ms(&a.first_ts)?, ms(&a.detected_ts)?);
        (a.count > 1 && since_ms <= until_ms).then(|| Episode {
            id: a.id.clone(),
            kind: a.kind.clone(),
            key: a.key.clone(),
            since_ms,
            until_ms,
            reason: a.reason(),
        })
    }
}

/// An episode ready to match lines.
#[derive(Debug, Clone)]
struct Rule {
    counts: Counts,
    ip: Option<IpAddr>,
    user: Option<String>,
    since_ms: i64,
    until_ms: i64,
    reason: String,
}

impl Rule {
    fn of(e: Episode) -> Option<Rule> {
        let counts = Counts::of(&e.kind)?;
        let mut ip = None;
        let mut user = None;
        // `ip=A`, `user=U`, `ip=A user=U`; a user name has no space (sshd
        // logs it in one word).
        for part in e.key.split(' ') {
            match part.split_once('=') {
                Some(("ip", v)) => ip = Some(v.parse().ok()?),
                Some(("user", v)) => user = Some(v.to_string()),
                _ => return None,
            }
        }
        let complete = match counts {
            Counts::FailuresAgainstUser => user.is_some(),
            Counts::FailuresThenLogin => ip.is_some() && user.is_some(),
            _ => ip.is_some(),
        };
        complete.then_some(Rule {
            counts,
            ip,
            user,
            since_ms: e.since_ms,
            until_ms: e.until_ms.max(e.since_ms),
            reason: e.reason,
        })
    }

    /// Whether the rule counts `event` (the rule's times aside).
    fn counts(&self, event: &AuthEvent<'_>) -> bool {
        match (self.counts, event) {
            (
                Counts::Failures | Counts::FailuresThenLogin,
                AuthEvent::Failure { ip: Some(ip), .. },
            ) => Some(*ip) == self.ip,
            (
                Counts::InvalidUsers,
                AuthEvent::Failure {
                    ip: Some(ip),
                    invalid_user: true,
                    ..
                },
            ) => Some(*ip) == self.ip,
            (Counts::FailuresAgainstUser, AuthEvent::Failure { user: Some(u), .. }) => {
                self.user.as_deref() == Some(*u)
            }
            (Counts::FailuresThenLogin, AuthEvent::Success { ip: Some(ip), user }) => {
                Some(*ip) == self.ip && self.user.as_deref() == Some(*user)
            }
            (Counts::Connections, AuthEvent::Connection { ip }) => Some(*ip) == self.ip,
            _ => false,
        }
    }
}

/// The episodes a reader joins, looked up by the address or user a line
/// names (one classification per line, whatever the number of episodes).
#[derive(Debug, Clone, Default)]
pub struct Flagged {
    rules: Vec<Rule>,
    by_ip: HashMap<IpAddr, Vec<usize>>,
    by_user: HashMap<String, Vec<usize>>,
}

/// What reading `flagged.log` found besides its episodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Lines that are no episode this build reads (damaged, or a kind it
    /// does not know).
    pub unreadable: usize,
}

impl Flagged {
    /// The episodes of `text` (the side table's lines) that overlap the
    /// event times `[since_ms, until_ms)` (`None`: unbounded). A last line
    /// without its newline (a write cut by a crash) is ignored; other
    /// lines that do not read are counted in [`Skipped`].
    pub fn parse(text: &str, since_ms: Option<i64>, until_ms: Option<i64>) -> (Flagged, Skipped) {
        let mut flagged = Flagged::default();
        let mut skipped = Skipped::default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in complete.lines().filter(|l| !l.trim().is_empty()) {
            let Some(rule) = serde_json::from_str::<Episode>(line)
                .ok()
                .and_then(Rule::of)
            else {
                skipped.unreadable += 1;
                continue;
            };
            let overlaps = since_ms.is_none_or(|t| rule.until_ms >= t)
                && until_ms.is_none_or(|t| rule.since_ms < t);
            if overlaps {
                flagged.push(rule);
            }
        }
        (flagged, skipped)
    }

    /// The join of these episodes alone (tests, and callers that hold
    /// them already).
    pub fn of(episodes: impl IntoIterator<Item = Episode>) -> Flagged {
        let mut flagged = Flagged::default();
        for rule in episodes.into_iter().filter_map(Rule::of) {
            flagged.push(rule);
        }
        flagged
    }

    fn push(&mut self, rule: Rule) {
        let i = self.rules.len();
        match (rule.counts, rule.ip, &rule.user) {
            (Counts::FailuresAgainstUser, _, Some(u)) => {
                self.by_user.entry(u.clone()).or_default().push(i)
            }
            (_, Some(ip), _) => self.by_ip.entry(ip).or_default().push(i),
            _ => return,
        }
        self.rules.push(rule);
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Each episode as (the word its lines have, since, until inclusive):
    /// what an index narrows the lines down to before [`Flagged::reason`]
    /// decides.
    pub fn ranges(&self) -> impl Iterator<Item = (String, i64, i64)> + '_ {
        self.rules.iter().map(|r| {
            let word = match (r.counts, r.ip, &r.user) {
                (Counts::FailuresAgainstUser, _, Some(u)) => u.clone(),
                (_, Some(ip), _) => ip.to_string(),
                _ => String::new(),
            };
            (word, r.since_ms, r.until_ms)
        })
    }

    /// The reason of the episode `r` is a line of, when it is one: its time
    /// is in the episode's range and the episode's rule counts it. Needs
    /// the record's program and message.
    pub fn reason(&self, r: &Record) -> Option<&str> {
        if self.rules.is_empty() {
            return None;
        }
        let event = classify(r.program.as_deref().unwrap_or(""), &r.message)?;
        let t = r.event_time_ms;
        let user = match &event {
            AuthEvent::Failure { user, .. } => *user,
            _ => None,
        };
        let candidates = event
            .ip()
            .and_then(|ip| self.by_ip.get(&ip))
            .into_iter()
            .chain(user.and_then(|u| self.by_user.get(u)))
            .flatten();
        candidates
            .map(|&i| &self.rules[i])
            .find(|rule| (rule.since_ms..=rule.until_ms).contains(&t) && rule.counts(&event))
            .map(|rule| rule.reason.as_str())
    }

    /// Flags `r` (with the episode's reason) when it is a line of an
    /// episode and not flagged already. Returns whether it is flagged now.
    pub fn mark(&self, r: &mut Record) -> bool {
        if r.has(flags::ANOMALY) {
            return true;
        }
        match self.reason(r) {
            Some(reason) => {
                r.flags |= flags::ANOMALY;
                r.anomaly = Some(reason.to_string());
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: i64, program: &str, message: &str) -> Record {
        Record {
            receive_time_ms: ts,
            event_time_ms: ts,
            host: "web1".into(),
            program: Some(program.into()),
            pid: None,
            facility: None,
            severity: None,
            message: message.into(),
            unit: None,
            raw: Vec::new(),
            agent: "web1".into(),
            path: String::new(),
            stream: 0,
            offset: 0,
            flags: 0,
            anomaly: None,
        }
    }

    fn episode(kind: &str, key: &str, since: i64, until: i64) -> Episode {
        Episode {
            id: "a1".into(),
            kind: kind.into(),
            key: key.into(),
            since_ms: since,
            until_ms: until,
            reason: format!("{kind} {key}: test [a1]"),
        }
    }

    const FAIL: &str = "Failed password for root from 203.0.113.9 port 4000 ssh2";

    /// `logq --anomalies` must show the first failures of a burst, which
    /// were stored before the alert, and no other address's failures nor
    /// the attacker's lines outside the episode.
    #[test]
    fn a_burst_flags_its_earlier_failures_and_nothing_else() {
        let f = Flagged::of([episode("failed-login-burst", "ip=203.0.113.9", 1000, 5000)]);
        let mut first = record(1000, "sshd", FAIL);
        assert!(f.mark(&mut first));
        assert!(first.has(flags::ANOMALY));
        assert_eq!(
            first.anomaly.as_deref(),
            Some("failed-login-burst ip=203.0.113.9: test [a1]")
        );
        assert!(f.reason(&record(5000, "sshd", FAIL)).is_some());
        for (ts, program, message) in [
            (999, "sshd", FAIL),
            (5001, "sshd", FAIL),
            (
                2000,
                "sshd",
                "Failed password for root from 203.0.113.10 port 4000 ssh2",
            ),
            (2000, "sshd", "Connection closed by 203.0.113.9 port 4000"),
            (2000, "cron", "backup sent to 203.0.113.9"),
        ] {
            let r = record(ts, program, message);
            assert_eq!(f.reason(&r), None, "{ts} {program} {message}");
        }
        // A line flagged at ingest keeps its own reason.
        let mut flagged = record(2000, "sshd", FAIL);
        flagged.flags |= flags::ANOMALY;
        flagged.anomaly = Some("own".into());
        assert!(f.mark(&mut flagged));
        assert_eq!(flagged.anomaly.as_deref(), Some("own"));
    }

    /// Each rate rule flags what it counted: a scan only non-existent
    /// users, a distributed attack the user's failures from any address,
    /// success-after-failures the failures and the login, a flood the
    /// connections.
    #[test]
    fn each_kind_flags_the_lines_its_rule_counts() {
        let f = Flagged::of([
            episode("invalid-user-scan", "ip=192.0.2.1", 0, 10),
            episode("distributed-guessing", "user=admin", 0, 10),
            episode("success-after-failures", "ip=192.0.2.3 user=bob", 0, 10),
            episode("connection-flood", "ip=192.0.2.4", 0, 10),
        ]);
        let yes = [
            "Invalid user zz from 192.0.2.1 port 1",
            "Failed password for admin from 198.51.100.77 port 2 ssh2",
            "Failed password for bob from 192.0.2.3 port 3 ssh2",
            "Accepted password for bob from 192.0.2.3 port 3 ssh2",
            "Connection closed by 192.0.2.4 port 5 [preauth]",
        ];
        let no = [
            "Failed password for root from 192.0.2.1 port 1 ssh2",
            "Accepted publickey for admin from 198.51.100.77 port 2 ssh2",
            "Accepted password for carol from 192.0.2.3 port 3 ssh2",
            "Failed password for root from 192.0.2.4 port 5 ssh2",
        ];
        for m in yes {
            assert!(f.reason(&record(5, "sshd", m)).is_some(), "{m}");
        }
        for m in no {
            assert!(f.reason(&record(5, "sshd", m)).is_none(), "{m}");
        }
    }

    /// A damaged line costs its episode, never the others; a line cut by a
    /// crash is not counted as damage; episodes outside the asked range
    /// are left out.
    #[test]
    fn parse_skips_damage_and_keeps_the_rest() {
        let good = serde_json::to_string(&episode("failed-login-burst", "ip=192.0.2.1", 100, 200))
            .unwrap();
        let old =
            serde_json::to_string(&episode("failed-login-burst", "ip=192.0.2.2", 1, 50)).unwrap();
        let unknown =
            serde_json::to_string(&episode("new-template", "template=3", 100, 200)).unwrap();
        let text = format!("{good}\nnot json\n{old}\n{unknown}\n{{\"id\":\"cut");
        let (f, skipped) = Flagged::parse(&text, Some(60), None);
        assert_eq!(f.len(), 1);
        assert_eq!(
            skipped.unreadable, 2,
            "the damaged line and the unknown kind"
        );
        let (all, _) = Flagged::parse(&text, None, None);
        assert_eq!(all.len(), 2);
        let (none, _) = Flagged::parse(&text, Some(201), None);
        assert!(none.is_empty());
    }

    #[test]
    fn episode_of_an_anomaly_needs_lines_before_the_alert() {
        let mut a = Anomaly {
            id: "x".into(),
            kind: "failed-login-burst".into(),
            key: "ip=192.0.2.1".into(),
            first_ts: "2026-12-07T10:00:00.000Z".into(),
            detected_ts: "2026-12-07T10:00:04.500Z".into(),
            count: 5,
            ..Anomaly::default()
        };
        let e = Episode::of(&a).unwrap();
        assert_eq!(e.until_ms - e.since_ms, 4500);
        assert_eq!(e.reason, a.reason());
        // Five failures within one second (a syslog stamp's resolution).
        a.detected_ts = a.first_ts.clone();
        assert_eq!(Episode::of(&a).map(|e| e.until_ms - e.since_ms), Some(0));
        a.count = 1;
        assert_eq!(Episode::of(&a), None, "nothing came before the alert");
        a.count = 5;
        a.kind = "new-template".into();
        assert_eq!(Episode::of(&a), None, "novelty flags its own line");
    }
}
