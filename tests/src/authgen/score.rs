//! Scores the alerts of `collectord replay` against a scenario's episodes:
//! recall per episode type, alert precision, false alerts per host-day,
//! detection latency against the reference floor, and the hard negatives
//! that alerted.
//!
//! An alert *touches* an episode when its `lines` hold one of the
//! episode's lines. An episode is detected when an alert touches it (a
//! `success-after-failures` only when the alert holds the success line);
//! its latency is the earliest such alert's `detected_ts` minus the
//! episode's `cross_ts` (cut to milliseconds, as `detected_ts` is),
//! negative when the alert came first. An alert that
//! touches no attack is false, whatever else it touches.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::Value;

use super::{clock, Episode, Kind, Scenario};

/// Recall wanted of every burst and flood, and overall.
pub const RECALL_ALL: f64 = 1.0;
pub const RECALL_OVERALL: f64 = 0.9;
/// False alerts per host-day at most.
pub const FALSE_PER_HOST_DAY: f64 = 0.1;
/// Median detection latency at most, seconds.
pub const MEDIAN_LATENCY_S: f64 = 5.0;
/// How many missed episodes and false alerts are listed.
const LIST: usize = 10;

/// One alert, one JSON object per line of `collectord replay`'s output.
/// Fields other than these are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: String,
    pub score: Option<f64>,
    pub key: String,
    pub host: Option<String>,
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    pub detected_us: Option<i64>,
    pub first_line: Option<usize>,
    pub last_line: Option<usize>,
    pub lines: Vec<usize>,
    pub session: Option<String>,
    pub explanation: String,
}

impl Alert {
    /// Reads one line. `kind` and `lines` are required; a time that is
    /// there must be RFC 3339.
    pub fn from_json(line: &str) -> Result<Alert, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let string = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let time = |k: &str| -> Result<Option<i64>, String> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => clock::parse_rfc3339(s)
                    .map(Some)
                    .ok_or_else(|| format!("{k} {s:?} is not an RFC 3339 time")),
                Some(other) => Err(format!("{k} is {other}, not a string")),
            }
        };
        let number = |k: &str| obj.get(k).and_then(Value::as_u64).map(|n| n as usize);
        let kind = string("kind").ok_or("no string field kind")?;
        let lines = obj
            .get("lines")
            .and_then(Value::as_array)
            .ok_or("no array field lines")?
            .iter()
            .map(|n| {
                n.as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| format!("lines holds {n}, not a line number"))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        Ok(Alert {
            kind,
            score: obj.get("score").and_then(Value::as_f64),
            key: string("key").unwrap_or_default(),
            host: string("host"),
            first_us: time("first_ts")?,
            last_us: time("last_ts")?,
            detected_us: time("detected_ts")?,
            first_line: number("first_line"),
            last_line: number("last_line"),
            lines,
            session: string("session"),
            explanation: string("explanation").unwrap_or_default(),
        })
    }
}

/// The alerts of an output, and what could not be read (line number of
/// the output, why). Blank lines are skipped.
pub fn parse_alerts(output: &str) -> (Vec<Alert>, Vec<(usize, String)>) {
    let mut alerts = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in output.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match Alert::from_json(line) {
            Ok(a) => alerts.push(a),
            Err(e) => bad.push((i + 1, e)),
        }
    }
    (alerts, bad)
}

/// How an episode was found: by which alert, how late (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub alert: usize,
    pub latency_s: Option<f64>,
}

/// The scores of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Per episode of the scenario, in its order.
    pub detections: Vec<Option<Detection>>,
    /// Alerts that touch no attack, in output order.
    pub false_alerts: Vec<usize>,
    /// Per false alert, the hard negatives it touches.
    pub false_touches: BTreeMap<usize, BTreeSet<usize>>,
    pub alerts: usize,
    pub host_days: usize,
    /// Alerts with a line number past the end of the test file.
    pub out_of_range: usize,
}

/// Scores `alerts` against `episodes` of a test file of `test_lines` lines.
pub fn score(
    episodes: &[Episode],
    test_lines: usize,
    host_days: usize,
    alerts: &[Alert],
) -> Report {
    let mut line_episode = vec![usize::MAX; test_lines + 1];
    for (i, e) in episodes.iter().enumerate() {
        for &n in &e.lines {
            if n <= test_lines {
                line_episode[n] = i;
            }
        }
    }
    let mut detections: Vec<Option<Detection>> = vec![None; episodes.len()];
    let mut false_alerts = Vec::new();
    let mut false_touches = BTreeMap::new();
    let mut out_of_range = 0;
    for (a, alert) in alerts.iter().enumerate() {
        if alert.lines.iter().any(|&n| n > test_lines) {
            out_of_range += 1;
        }
        let touched: BTreeSet<usize> = alert
            .lines
            .iter()
            .filter_map(|&n| line_episode.get(n).copied())
            .filter(|&i| i != usize::MAX)
            .collect();
        let mut any_attack = false;
        for &i in &touched {
            let e = &episodes[i];
            if !e.kind.is_attack() {
                continue;
            }
            any_attack = true;
            if e.kind == Kind::SuccessAfterFailures
                && !e.cross_line.is_some_and(|n| alert.lines.contains(&n))
            {
                continue;
            }
            // detected_ts has milliseconds: cross_ts is cut to them too,
            // so that an alert on the crossing line itself is 0, not -0.0005.
            let latency_s = match (alert.detected_us, e.cross_us) {
                (Some(d), Some(c)) => Some((d - c.div_euclid(1000) * 1000) as f64 / 1e6),
                _ => None,
            };
            let earlier = match detections[i] {
                None => true,
                Some(old) => match (latency_s, old.latency_s) {
                    (Some(new), Some(old)) => new < old,
                    (Some(_), None) => true,
                    _ => false,
                },
            };
            if earlier {
                detections[i] = Some(Detection {
                    alert: a,
                    latency_s,
                });
            }
        }
        if !any_attack {
            false_alerts.push(a);
            let hard: BTreeSet<usize> = touched
                .into_iter()
                .filter(|&i| !episodes[i].kind.is_attack())
                .collect();
            if !hard.is_empty() {
                false_touches.insert(a, hard);
            }
        }
    }
    Report {
        detections,
        false_alerts,
        false_touches,
        alerts: alerts.len(),
        host_days,
        out_of_range,
    }
}

/// The median of `xs` (sorted here), NaN when empty.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// Found and total episodes, and the latencies, of the episodes `pick`
/// chooses.
fn tally(
    report: &Report,
    episodes: &[Episode],
    pick: impl Fn(&Episode) -> bool,
) -> (usize, usize, Vec<f64>) {
    let mut n = 0;
    let mut found = 0;
    let mut latencies = Vec::new();
    for (e, d) in episodes.iter().zip(&report.detections) {
        if !pick(e) {
            continue;
        }
        n += 1;
        if let Some(d) = d {
            found += 1;
            latencies.extend(d.latency_s);
        }
    }
    (found, n, latencies)
}

/// Whether a target is met, and what was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub value: String,
    pub met: bool,
}

impl Report {
    /// Recall of the episodes of `kind`, or of all attacks; `None` when
    /// there are none.
    pub fn recall(&self, episodes: &[Episode], kind: Option<Kind>) -> Option<f64> {
        let (found, n, _) = tally(self, episodes, |e| match kind {
            Some(k) => e.kind == k,
            None => e.kind.is_attack(),
        });
        (n > 0).then(|| found as f64 / n as f64)
    }

    /// Median latency of the detected attacks, seconds.
    pub fn median_latency(&self, episodes: &[Episode]) -> f64 {
        median(&mut tally(self, episodes, |e| e.kind.is_attack()).2)
    }

    pub fn precision(&self) -> Option<f64> {
        (self.alerts > 0)
            .then(|| (self.alerts - self.false_alerts.len()) as f64 / self.alerts as f64)
    }

    pub fn false_per_host_day(&self) -> f64 {
        self.false_alerts.len() as f64 / self.host_days.max(1) as f64
    }

    /// The targets: recall 1.0 on bursts and floods, ≥ 0.9 overall; ≤ 0.1
    /// false alerts per host-day; median latency ≤ 5 s.
    pub fn targets(&self, episodes: &[Episode]) -> Vec<Target> {
        let recall = |name: &str, kind: Option<Kind>, want: f64| {
            let r = self.recall(episodes, kind);
            Target {
                name: format!("{name} recall ≥ {want:.1}"),
                value: r.map_or("no episodes".into(), |r| format!("{r:.3}")),
                met: r.is_some_and(|r| r >= want),
            }
        };
        let latency = self.median_latency(episodes);
        let fphd = self.false_per_host_day();
        vec![
            recall("burst", Some(Kind::Burst), RECALL_ALL),
            recall("connection-flood", Some(Kind::ConnectionFlood), RECALL_ALL),
            recall("overall", None, RECALL_OVERALL),
            Target {
                name: format!("false alerts ≤ {FALSE_PER_HOST_DAY} per host-day"),
                value: format!("{fphd:.3}"),
                met: fphd <= FALSE_PER_HOST_DAY,
            },
            Target {
                name: format!("median latency ≤ {MEDIAN_LATENCY_S} s"),
                value: if latency.is_nan() {
                    "nothing detected".into()
                } else {
                    format!("{latency:.2} s")
                },
                met: latency <= MEDIAN_LATENCY_S,
            },
        ]
    }

    /// The last line: which targets are met.
    pub fn verdict(&self, episodes: &[Episode]) -> String {
        let targets = self.targets(episodes);
        let list = |met: bool| -> String {
            let names: Vec<String> = targets
                .iter()
                .filter(|t| t.met == met)
                .map(|t| format!("{} ({})", t.name, t.value))
                .collect();
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        };
        format!(
            "targets met {}/{}: {}; not met: {}",
            targets.iter().filter(|t| t.met).count(),
            targets.len(),
            list(true),
            list(false)
        )
    }

    /// The tables, then the missed episodes and the false alerts.
    pub fn print(&self, s: &Scenario, alerts: &[Alert], out: &mut impl Write) -> io::Result<()> {
        let eps = &s.episodes;
        let secs = |x: f64| {
            if x.is_nan() {
                "-".to_string()
            } else {
                format!("{x:.2}")
            }
        };
        writeln!(
            out,
            "{:<24} {:>4} {:>5} {:>7} {:>7}   {:>9} {:>9}  target",
            "episode type", "n", "found", "recall", "target", "lat. med", "lat. max"
        )?;
        let mut row = |name: &str, pick: &dyn Fn(&Episode) -> bool, target: &str, lat: &str| {
            let (found, n, mut lats) = tally(self, eps, pick);
            let recall = if n == 0 {
                "-".into()
            } else {
                format!("{:.3}", found as f64 / n as f64)
            };
            let max = lats.iter().copied().fold(f64::NAN, f64::max);
            writeln!(
                out,
                "{name:<24} {n:>4} {found:>5} {recall:>7} {target:>7}   {:>9} {:>9}  {lat}",
                secs(median(&mut lats)),
                secs(max)
            )
        };
        for kind in Kind::ATTACKS {
            let target = match kind {
                Kind::Burst | Kind::ConnectionFlood => "1.0",
                _ => "",
            };
            row(kind.name(), &|e| e.kind == kind, target, "")?;
        }
        row(
            "overall",
            &|e| e.kind.is_attack(),
            "≥0.9",
            &format!("median ≤{MEDIAN_LATENCY_S} s"),
        )?;
        writeln!(
            out,
            "(latency: detected_ts − cross_ts, seconds; negative = before the reference floor)"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<24} {:>4} {:>7}  false alerts on them, by kind (target: none)",
            "hard negative", "n", "alerted"
        )?;
        for kind in Kind::HARD_NEGATIVES {
            let n = eps.iter().filter(|e| e.kind == kind).count();
            let mut alerted = BTreeSet::new();
            let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
            for (&a, touched) in &self.false_touches {
                let mine: Vec<usize> = touched
                    .iter()
                    .copied()
                    .filter(|&i| eps[i].kind == kind)
                    .collect();
                if !mine.is_empty() {
                    alerted.extend(mine);
                    *by_kind.entry(alerts[a].kind.as_str()).or_default() += 1;
                }
            }
            let by_kind: Vec<String> = by_kind.iter().map(|(k, c)| format!("{k} ×{c}")).collect();
            writeln!(
                out,
                "{:<24} {n:>4} {:>7}  {}",
                kind.name(),
                alerted.len(),
                by_kind.join(", ")
            )?;
        }
        writeln!(out)?;
        let precision = self.precision().map_or("-".into(), |p| format!("{p:.3}"));
        writeln!(
            out,
            "alerts: {}, {} touching an attack: precision {precision}",
            self.alerts,
            self.alerts - self.false_alerts.len()
        )?;
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for &a in &self.false_alerts {
            *by_kind.entry(alerts[a].kind.as_str()).or_default() += 1;
        }
        let by_kind: Vec<String> = by_kind.iter().map(|(k, c)| format!("{k} {c}")).collect();
        writeln!(
            out,
            "false alerts: {}, {:.3} per host-day ({} host-days; target ≤{FALSE_PER_HOST_DAY}){}{}",
            self.false_alerts.len(),
            self.false_per_host_day(),
            self.host_days,
            if by_kind.is_empty() {
                ""
            } else {
                "; by kind: "
            },
            by_kind.join(", ")
        )?;
        if self.out_of_range > 0 {
            writeln!(
                out,
                "warning: {} alerts name lines past the end of the test file ({} lines)",
                self.out_of_range,
                s.test.len()
            )?;
        }
        let missed: Vec<&Episode> = eps
            .iter()
            .zip(&self.detections)
            .filter(|(e, d)| e.kind.is_attack() && d.is_none())
            .map(|(e, _)| e)
            .collect();
        if !missed.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "missed episodes ({} of {}):",
                missed.len().min(LIST),
                missed.len()
            )?;
            for e in missed.iter().take(LIST) {
                writeln!(
                    out,
                    "  {} {} {} {}..{} {} lines (first {}), cross {}",
                    e.kind.name(),
                    e.host,
                    e.key,
                    clock::rfc3339(e.first_us),
                    clock::rfc3339(e.last_us),
                    e.lines.len(),
                    e.lines.first().copied().unwrap_or(0),
                    e.cross_us.map_or("-".into(), clock::rfc3339),
                )?;
            }
        }
        if !self.false_alerts.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "false alerts ({} of {}):",
                self.false_alerts.len().min(LIST),
                self.false_alerts.len()
            )?;
            for &a in self.false_alerts.iter().take(LIST) {
                let al = &alerts[a];
                let on: Vec<String> = self
                    .false_touches
                    .get(&a)
                    .into_iter()
                    .flatten()
                    .map(|&i| format!("{} {}", eps[i].kind.name(), eps[i].host))
                    .collect();
                writeln!(
                    out,
                    "  {} key={} host={} first={} lines {}..{}{}: {}",
                    escape(&al.kind),
                    escape(&al.key),
                    escape(al.host.as_deref().unwrap_or("-")),
                    al.first_us.map_or("-".into(), clock::rfc3339),
                    al.lines.iter().min().copied().unwrap_or(0),
                    al.lines.iter().max().copied().unwrap_or(0),
                    if on.is_empty() {
                        String::new()
                    } else {
                        format!(" (on {})", on.join(", "))
                    },
                    escape(&al.explanation),
                )?;
            }
        }
        Ok(())
    }
}

/// Control characters escaped (`\n`, `\u{1b}`), for a terminal.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<char>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Control characters escaped, at most 200 characters: text from another
/// program goes to a terminal.
fn escape(s: &str) -> String {
    let cut: String = s.chars().take(200).collect();
    let mut out = escape_controls(&cut);
    if s.chars().nth(200).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authgen::Params;

    const T0: i64 = 1_793_000_000_000_000;

    fn episode(
        kind: Kind,
        lines: std::ops::RangeInclusive<usize>,
        cross: Option<usize>,
    ) -> Episode {
        let lines: Vec<usize> = lines.collect();
        Episode {
            kind,
            host: "web1".into(),
            key: "ip=203.0.113.9".into(),
            ips: vec!["203.0.113.9".into()],
            first_us: T0 + lines[0] as i64 * 1_000_000,
            last_us: T0 + lines[lines.len() - 1] as i64 * 1_000_000,
            cross_us: cross.map(|n| T0 + n as i64 * 1_000_000),
            cross_line: cross,
            lines,
        }
    }

    /// Line n of the test file is at T0 + n seconds.
    fn episodes() -> Vec<Episode> {
        vec![
            episode(Kind::Burst, 10..=20, Some(14)),
            episode(Kind::SuccessAfterFailures, 30..=40, Some(40)),
            episode(Kind::ConnectionFlood, 50..=60, Some(55)),
            episode(Kind::Backup, 70..=80, None),
            episode(Kind::Burst, 90..=95, Some(94)),
        ]
    }

    fn alert(kind: &str, lines: &[usize], detected_line: usize) -> String {
        format!(
            r#"{{"kind":"{kind}","score":3.5,"key":"ip=203.0.113.9","host":"web1","first_ts":"{}","last_ts":"{}","detected_ts":"{}Z","first_line":{},"last_line":{},"lines":{lines:?},"session":null,"explanation":"five \u001b[31mfailures","extra":[1,2]}}"#,
            clock::rfc3339(T0 + lines[0] as i64 * 1_000_000),
            clock::rfc3339(T0 + lines[lines.len() - 1] as i64 * 1_000_000),
            // Milliseconds and Z, as collectord writes them: 1.5 s after
            // the line.
            &clock::rfc3339(T0 + detected_line as i64 * 1_000_000 + 1_500_000)[..23],
            lines[0],
            lines[lines.len() - 1],
        )
    }

    /// The numbers eval-auth prints would be wrong.
    #[test]
    fn alerts_are_read_with_their_fields_and_bad_lines_are_reported() {
        let text = format!(
            "{}\n\nnot json\n{{\"lines\":[1]}}\n{{\"kind\":\"x\",\"lines\":[0]}}\n{{\"kind\":\"x\",\"lines\":[1],\"detected_ts\":\"yesterday\"}}\n",
            alert("failed-login-burst", &[10, 11, 12], 14)
        );
        let (alerts, bad) = parse_alerts(&text);
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.kind, "failed-login-burst");
        assert_eq!(a.score, Some(3.5));
        assert_eq!(a.host.as_deref(), Some("web1"));
        assert_eq!(a.session, None);
        assert_eq!(a.lines, vec![10, 11, 12]);
        assert_eq!((a.first_line, a.last_line), (Some(10), Some(12)));
        assert_eq!(a.detected_us, Some(T0 + 15_500_000));
        assert_eq!(a.explanation, "five \u{1b}[31mfailures");
        let bad_lines: Vec<usize> = bad.iter().map(|(n, _)| *n).collect();
        assert_eq!(bad_lines, vec![3, 4, 5, 6], "{bad:?}");
        assert!(bad[1].1.contains("kind"), "{bad:?}");
        assert!(bad[3].1.contains("detected_ts"), "{bad:?}");
    }

    #[test]
    fn recall_precision_false_alerts_and_latency_follow_the_definitions() {
        let eps = episodes();
        let text = [
            // Burst 1, 1.5 s after its cross line: detected, latency 1.5.
            alert("failed-login-burst", &[11, 12, 13, 14], 14),
            // A later alert on the same burst does not make it later.
            alert("failed-login-burst", &[15, 16], 20),
            // Success-after-failures without its success line: a true
            // alert, but the episode is not detected.
            alert("failed-login-burst", &[31, 32, 33], 33),
            // The backup: false, and on a hard negative.
            alert("connection-flood", &[70, 71, 72], 72),
            // Nothing at all: false.
            alert("new-template", &[5], 5),
            // Burst 2, 4 s before its cross line: a negative latency.
            alert("failed-login-burst", &[90, 91], 88),
        ]
        .join("\n");
        let (alerts, bad) = parse_alerts(&text);
        assert!(bad.is_empty(), "{bad:?}");
        let r = score(&eps, 100, 10, &alerts);
        assert_eq!(r.detections[0].map(|d| d.alert), Some(0));
        assert_eq!(r.detections[0].and_then(|d| d.latency_s), Some(1.5));
        assert_eq!(r.detections[1], None, "the success line was not alerted");
        assert_eq!(r.detections[2], None);
        assert_eq!(r.detections[3], None, "hard negatives are never detected");
        assert_eq!(r.detections[4].and_then(|d| d.latency_s), Some(-4.5));
        assert_eq!(r.recall(&eps, Some(Kind::Burst)), Some(1.0));
        assert_eq!(r.recall(&eps, Some(Kind::ConnectionFlood)), Some(0.0));
        assert_eq!(r.recall(&eps, Some(Kind::LowAndSlow)), None);
        assert_eq!(r.recall(&eps, None), Some(0.5));
        assert_eq!(r.false_alerts, vec![3, 4]);
        assert_eq!(r.false_touches.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!(r.precision(), Some(4.0 / 6.0));
        assert_eq!(r.false_per_host_day(), 0.2);
        assert_eq!(r.median_latency(&eps), (1.5 - 4.5) / 2.0);
        let met: Vec<bool> = r.targets(&eps).iter().map(|t| t.met).collect();
        assert_eq!(met, vec![true, false, false, false, true]);
        assert!(r.verdict(&eps).starts_with("targets met 2/5: burst recall"));

        // With the success line and the flood, everything is found.
        let more = [
            text.clone(),
            alert("success-after-failures", &[39, 40], 40),
            alert("connection-flood", &[50], 56),
        ]
        .join("\n");
        let (alerts, _) = parse_alerts(&more);
        let r = score(&eps, 100, 10, &alerts);
        assert_eq!(r.recall(&eps, None), Some(1.0));
        assert_eq!(r.detections[2].and_then(|d| d.latency_s), Some(2.5));
    }

    /// An alert on the crossing line itself would show as -0.000456 s
    /// because collectord writes milliseconds.
    #[test]
    fn latency_compares_at_milliseconds() {
        let mut e = episode(Kind::Burst, 10..=20, Some(14));
        e.cross_us = Some(T0 + 14_123_456);
        let on_time = format!(
            r#"{{"kind":"k","lines":[14],"detected_ts":"{}Z"}}"#,
            &clock::rfc3339(T0 + 14_123_456)[..23]
        );
        let (alerts, _) = parse_alerts(&on_time);
        let r = score(&[e], 100, 1, &alerts);
        assert_eq!(r.detections[0].and_then(|d| d.latency_s), Some(0.0));
    }

    /// A developer would not see why a target is missed, or a hostile
    /// explanation would reach the terminal raw.
    #[test]
    fn the_report_lists_misses_and_false_alerts_escaped() {
        let eps = episodes();
        let s = Scenario {
            params: Params::default(),
            hosts: vec!["web1".into()],
            train: Vec::new(),
            test: vec![String::new(); 100],
            episodes: eps.clone(),
            test_start_us: T0,
        };
        let text = [
            alert("connection-flood", &[70, 71, 72], 72),
            alert("failed-login-burst", &[101], 5),
        ]
        .join("\n");
        let (alerts, _) = parse_alerts(&text);
        let r = score(&eps, 100, 20, &alerts);
        let mut out = Vec::new();
        r.print(&s, &alerts, &mut out).expect("write to a Vec");
        let out = String::from_utf8(out).expect("UTF-8");
        assert!(out.contains("missed episodes (4 of 4)"), "{out}");
        assert!(out.contains("false alerts (2 of 2)"), "{out}");
        assert!(out.contains("(on backup web1)"), "{out}");
        assert!(out.contains("five \\u{1b}[31mfailures"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.contains("1 alerts name lines past the end"), "{out}");
        let backup_row = out
            .lines()
            .find(|l| l.starts_with("backup"))
            .expect("a backup row");
        assert!(backup_row.contains("connection-flood ×1"), "{backup_row}");
    }
}
