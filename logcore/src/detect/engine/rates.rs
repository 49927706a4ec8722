//! The rate detectors' part of the engine: what an authentication event
//! does to each rule, and opening or extending a rate anomaly.

use std::collections::HashSet;
use std::net::IpAddr;

use super::open::{add_line, finalize, hash2, hash_ip, new_open, push_line, Ent};
use super::{Engine, LineIn, Report};
use crate::detect::anomaly::human_ms;
use crate::detect::auth::AuthEvent;
use crate::detect::model::{rules, Baselines, Counted};
use crate::detect::rate::{Event, RateDetector, RateRule, Seen};

impl Engine {
    /// The learnt threshold's detector for (counted, host, ip), when the
    /// history taught one.
    fn learned_alert(
        &mut self,
        counted: Counted,
        rule: RateRule,
        l: &LineIn<'_>,
        ip: &IpAddr,
    ) -> Option<Option<(u32, Vec<Event>)>> {
        let threshold = self.baselines()?.threshold(counted, l.host, ip)?;
        let key = Baselines::key(counted, l.host, ip);
        let det = self.learned.entry(key).or_insert_with(|| {
            RateDetector::new(
                RateRule {
                    threshold: threshold.max(1),
                    window_ms: rule.window_ms,
                },
                1,
            )
            .expect("a learnt rule is valid")
        });
        let ev = Event {
            at_ms: l.ts_ms,
            line: l.line,
            aux: 0,
        };
        Some(match det.observe_event(&(), ev) {
            Seen::Alert(e) => Some((threshold, e.events)),
            Seen::Quiet => None,
        })
    }

    pub(super) fn rates(&mut self, l: &LineIn<'_>, event: AuthEvent<'_>, flag: &mut Option<u64>) {
        let ev = |aux: u64| Event {
            at_ms: l.ts_ms,
            line: l.line,
            aux,
        };
        match event {
            AuthEvent::Failure {
                ip: Some(ip),
                user,
                invalid_user,
            } => {
                let user = user.unwrap_or("");
                // Burst: the default rule, or a learnt one for this pair.
                let alert = match self.learned_alert(Counted::Failures, rules::BURST, l, &ip) {
                    Some(a) => {
                        self.burst.observe_event(&ip, ev(0));
                        a
                    }
                    None => match self.burst.observe_event(&ip, ev(0)) {
                        Seen::Alert(e) => Some((rules::BURST.threshold, e.events)),
                        Seen::Quiet => None,
                    },
                };
                let burst_open = self.rate_event(
                    flag,
                    "failed-login-burst",
                    Ent::Ip(ip),
                    l,
                    rules::BURST,
                    alert,
                    user,
                    "failed logins",
                );
                if invalid_user {
                    let pair = hash_ip(&ip, user);
                    let fresh = match self.scan_pairs.get(&pair) {
                        Some(&t) => l.ts_ms - t > rules::SCAN.window_ms,
                        None => true,
                    };
                    if self.scan_pairs.len() >= self.config.max_keys {
                        let (now, w) = (l.ts_ms, rules::SCAN.window_ms);
                        self.scan_pairs.retain(|_, t| now - *t <= w);
                        if self.scan_pairs.len() >= self.config.max_keys {
                            self.scan_pairs.clear();
                        }
                    }
                    self.scan_pairs.insert(pair, l.ts_ms);
                    let alert = if fresh {
                        match self.scan.observe_event(&ip, ev(0)) {
                            Seen::Alert(e) => Some((rules::SCAN.threshold, e.events)),
                            Seen::Quiet => None,
                        }
                    } else {
                        None
                    };
                    self.rate_event(
                        flag,
                        "invalid-user-scan",
                        Ent::Ip(ip),
                        l,
                        rules::SCAN,
                        alert,
                        user,
                        "non-existent users tried",
                    );
                }
                // Low and slow: only when no burst told of this address.
                let slow = match self.slow.observe_event(&ip, ev(0)) {
                    Seen::Alert(e) if !burst_open && !self.burst.in_episode(&ip) => {
                        Some((rules::SLOW.threshold, e.events))
                    }
                    _ => None,
                };
                self.rate_event(
                    flag,
                    "low-and-slow",
                    Ent::Ip(ip),
                    l,
                    rules::SLOW,
                    slow,
                    user,
                    "failed logins",
                );
                if !user.is_empty() {
                    // The rule's count and its sources on the newest events,
                    // not the detector's episodes: a burst from one address
                    // against the user must not hide a distributed attack
                    // that follows it.
                    let user_key = hash2(user, "");
                    self.users.observe_event(&user_key, ev(hash_ip(&ip, "")));
                    let recent = self.users.recent(&user_key, l.ts_ms);
                    let sources: HashSet<u64> = recent.iter().map(|e| e.aux).collect();
                    let alert = (recent.len() >= rules::DISTRIBUTED.threshold as usize
                        && sources.len() >= rules::DISTRIBUTED_SOURCES)
                        .then_some((rules::DISTRIBUTED.threshold, recent));
                    self.rate_event(
                        flag,
                        "distributed-guessing",
                        Ent::User(user),
                        l,
                        rules::DISTRIBUTED,
                        alert,
                        user,
                        "failed logins from many addresses",
                    );
                }
            }
            AuthEvent::Success { ip: Some(ip), user } => {
                let failures: Vec<Event> = self
                    .slow
                    .recent(&ip, l.ts_ms)
                    .into_iter()
                    .filter(|e| l.ts_ms - e.at_ms <= rules::SUCCESS_WINDOW_MS)
                    .collect();
                if failures.len() >= rules::SUCCESS_AFTER {
                    let rule = RateRule {
                        threshold: rules::SUCCESS_AFTER as u32,
                        window_ms: rules::SUCCESS_WINDOW_MS,
                    };
                    let mut events = failures;
                    events.push(ev(0));
                    self.rate_event(
                        flag,
                        "success-after-failures",
                        Ent::IpUser(ip, user),
                        l,
                        rule,
                        Some((rule.threshold, events)),
                        user,
                        "failures, then a login",
                    );
                }
            }
            AuthEvent::Connection { ip } => {
                // Two rules, one anomaly: 50 a minute, or 20 in 10 seconds.
                let mut fired = None;
                for (counted, rule) in [
                    (Counted::ConnectionsFast, rules::FLOOD_FAST),
                    (Counted::Connections, rules::FLOOD),
                ] {
                    let alert = match self.learned_alert(counted, rule, l, &ip) {
                        Some(a) => a,
                        None => {
                            let det = if counted == Counted::Connections {
                                &mut self.flood
                            } else {
                                &mut self.flood_fast
                            };
                            match det.observe_event(&ip, ev(0)) {
                                Seen::Alert(e) => Some((rule.threshold, e.events)),
                                Seen::Quiet => None,
                            }
                        }
                    };
                    if fired.is_none() {
                        fired = alert.map(|a| (rule, a));
                    }
                }
                let rule = fired.as_ref().map_or(rules::FLOOD, |(r, _)| *r);
                self.rate_event(
                    flag,
                    "connection-flood",
                    Ent::Ip(ip),
                    l,
                    rule,
                    fired.map(|(_, a)| a),
                    "",
                    "connections",
                );
            }
            _ => {}
        }
    }

    /// An event of a rate kind: opens the anomaly on an alert (with the
    /// events that made it), or adds the line to the open one.
    #[allow(clippy::too_many_arguments)]
    /// Returns whether the anomaly is open after the line.
    fn rate_event(
        &mut self,
        flag: &mut Option<u64>,
        kind: &str,
        ent: Ent<'_>,
        l: &LineIn<'_>,
        rule: RateRule,
        alert: Option<(u32, Vec<Event>)>,
        user: &str,
        what: &str,
    ) -> bool {
        let k = ent.id(kind);
        if let Some(o) = self.open.get_mut(&k) {
            add_line(o, l, user);
            flag.get_or_insert(k);
            return true;
        }
        let Some((threshold, events)) = alert else {
            return false;
        };
        let first_ms = events.first().map_or(l.ts_ms, |e| e.at_ms);
        let learnt = threshold != rule.threshold;
        let rule_words = format!(
            "{threshold} in {}{}",
            human_ms(rule.window_ms),
            if learnt {
                ", learnt from this host's history"
            } else {
                ""
            }
        );
        let mut o = new_open(
            kind,
            &ent.key(),
            l,
            first_ms,
            rule.window_ms,
            rule_words,
            &ent.words(),
        );
        for e in &events {
            if e.line != l.line {
                push_line(&mut o.a, e.line);
                o.first_ms = o.first_ms.min(e.at_ms);
            }
        }
        add_line(&mut o, l, user);
        o.a.score = o.a.count as f64 / f64::from(threshold.max(1));
        o.what = what.to_string();
        finalize(&mut o);
        o.reason = o.a.reason();
        self.report(Report::Opened(o.a.clone()));
        self.open.insert(k, o);
        flag.get_or_insert(k);
        true
    }
}
