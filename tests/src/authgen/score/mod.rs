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

use serde_json::Value;

use super::{clock, Episode, Kind};

mod print;

pub use print::escape_controls;

/// Recall wanted of every burst and flood, and overall.
pub const RECALL_ALL: f64 = 1.0;
pub const RECALL_OVERALL: f64 = 0.9;
/// False alerts per host-day at most.
pub const FALSE_PER_HOST_DAY: f64 = 0.1;
/// Median detection latency at most, seconds.
pub const MEDIAN_LATENCY_S: f64 = 5.0;

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
    /// `"priority": "low"`: a record that raises nothing (a new kind of
    /// message that says nothing is wrong), not an alert.
    pub low: bool,
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
            low: string("priority").as_deref() == Some("low"),
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
    /// Alerts on an attack's lines whose kind names no attack (a new kind
    /// of message, a session): neither a detection nor false, and not
    /// counted as true in the precision.
    pub off_kind: Vec<usize>,
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
    let mut off_kind = Vec::new();
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
        let names_attack = super::episode::ATTACK_ALERTS.contains(&alert.kind.as_str());
        for &i in &touched {
            let e = &episodes[i];
            if !e.kind.is_attack() {
                continue;
            }
            any_attack = true;
            if !e.kind.detected_by().contains(&alert.kind.as_str()) {
                continue;
            }
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
        if any_attack && !names_attack {
            off_kind.push(a);
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
        off_kind,
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
        (self.alerts > 0).then(|| {
            (self.alerts - self.false_alerts.len() - self.off_kind.len()) as f64
                / self.alerts as f64
        })
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
}

#[cfg(test)]
mod tests;
