//! The printed report: recall, latency and false-alert tables against the
//! targets, then the missed episodes and the false alerts, escaped for a
//! terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::{median, tally, Alert, Report, FALSE_PER_HOST_DAY, MEDIAN_LATENCY_S};
use crate::authgen::{clock, Episode, Kind, Scenario};

/// How many missed episodes and false alerts are listed.
const LIST: usize = 10;

impl Report {
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
            "alerts: {}, {} naming an attack on its lines, {} of another kind on an attack's lines: precision {precision}",
            self.alerts,
            self.alerts - self.false_alerts.len() - self.off_kind.len(),
            self.off_kind.len()
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
