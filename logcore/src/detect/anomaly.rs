//! An anomaly as the detectors report it: what `collectord replay` prints
//! and `anomalies.log` keeps, one JSON object each.

use serde::{Deserialize, Serialize};

/// Lines an anomaly lists at most (the rest are counted).
pub const MAX_LINES: usize = 1000;
/// Example messages an anomaly keeps.
pub const MAX_EXAMPLES: usize = 3;

/// One anomaly. Times are RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Unique within a run: `KIND/KEY/FIRST_MS` hashed, 12 hex digits.
    pub id: String,
    /// Which detector: `failed-login-burst`, `invalid-user-scan`,
    /// `low-and-slow`, `distributed-guessing`, `success-after-failures`,
    /// `connection-flood`, `new-template`, `new-for-host`, `session`,
    /// `host-window`, `rare-message`.
    pub kind: String,
    /// How anomalous: the count over the threshold for rates, the
    /// Isolation Forest score for sessions and windows, 1 for novelty.
    pub score: f64,
    /// The entity: `ip=…`, `user=…`, `host=…`, `template=…`, `session=…`.
    pub key: String,
    pub host: Option<String>,
    /// The template of the lines, when they share one.
    pub template: Option<String>,
    /// Lines counted, which can exceed `lines.len()`.
    pub count: u64,
    /// What the count is held against, in words ("5 in 10 min").
    pub baseline: String,
    pub first_ts: String,
    pub last_ts: String,
    /// The clock (the line being processed) when the alert fired.
    pub detected_ts: String,
    /// Line numbers of the input, 1-based across replayed files; 0 in the
    /// daemon's reports, whose `logq` command finds the lines.
    pub first_line: u64,
    pub last_line: u64,
    /// Up to [`MAX_LINES`] line numbers (replay; empty in the daemon's).
    pub lines: Vec<u64>,
    pub session: Option<String>,
    /// One sentence: what happened, against what.
    pub explanation: String,
    /// Up to [`MAX_EXAMPLES`] messages.
    pub examples: Vec<String>,
    /// The `logq` command that shows the lines.
    pub logq: String,
    /// Whether it pages (`alert`: the journal, the lines' flag in the
    /// index) or is only recorded here (`low`: a new kind of message that
    /// says nothing is wrong, such as a first reboot's).
    #[serde(default)]
    pub priority: Priority,
}

/// How much an anomaly asks of an operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Worth a look now.
    #[default]
    Alert,
    /// Kept for the record; it raises nothing.
    Low,
}

impl Anomaly {
    /// Escapes every text field that can hold a peer's words (host names,
    /// messages, templates, session ids): an unauthenticated syslog
    /// sender's host name must not reach a terminal as an escape sequence
    /// through `jq -r .explanation anomalies.log` (`crate::text`).
    pub fn escape_text(&mut self) {
        fn clean(s: &mut String) {
            *s = crate::text::cleaned(std::mem::take(s));
        }
        for s in [
            &mut self.key,
            &mut self.baseline,
            &mut self.explanation,
            &mut self.logq,
        ] {
            clean(s);
        }
        for s in [&mut self.host, &mut self.template, &mut self.session]
            .into_iter()
            .flatten()
        {
            clean(s);
        }
        self.examples.iter_mut().for_each(clean);
    }

    /// The one-line reason a flagged line carries in the index (`logq -o
    /// json`'s `anomaly_reason`): `KIND KEY: EXPLANATION [ID]`, escaped.
    pub fn reason(&self) -> String {
        crate::text::cleaned(format!(
            "{} {}: {} [{}]",
            self.kind, self.key, self.explanation, self.id
        ))
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A duration in the largest unit that divides it ("10 min", "24 h", "90 s").
pub fn human_ms(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1000, "s"),
    ];
    for (unit, name) in UNITS {
        if ms >= unit && ms % unit == 0 {
            return format!("{} {name}", ms / unit);
        }
    }
    format!("{ms} ms")
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The `logq` command for lines between two times (inclusive, to the
/// second), optionally on one host and matching `words`.
pub fn logq_command(host: Option<&str>, first_ms: i64, last_ms: i64, words: &str) -> String {
    let since = first_ms.div_euclid(1000) * 1000;
    let until = last_ms.div_euclid(1000) * 1000 + 1000;
    let mut cmd = format!(
        "logq --since {} --until {}",
        shell_quote(&rfc3339_s(since)),
        shell_quote(&rfc3339_s(until))
    );
    if let Some(h) = host.filter(|h| *h != "-" && !h.is_empty()) {
        cmd.push_str(" --host ");
        cmd.push_str(&shell_quote(h));
    }
    if !words.is_empty() {
        cmd.push(' ');
        cmd.push_str(&shell_quote(words));
    }
    cmd
}

fn rfc3339_s(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A stable id for an anomaly.
pub fn anomaly_id(kind: &str, key: &str, first_ms: i64) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(kind.as_bytes());
    h.update(&[0]);
    h.update(key.as_bytes());
    h.update(&first_ms.to_le_bytes());
    format!("{:012x}", h.digest() >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_is_escaped_in_every_field() {
        // Regression (issue 13): a UDP syslog sender's host name with a
        // title change and a clear-screen reached the terminal through
        // `jq -r .explanation anomalies.log`.
        let evil = "web1\x1b]0;owned\x07\x1b[2J";
        let mut a = Anomaly {
            id: "0".into(),
            kind: "new-for-host".into(),
            score: 1.0,
            key: format!("host={evil}"),
            host: Some(evil.into()),
            template: Some(evil.into()),
            count: 1,
            baseline: String::new(),
            first_ts: String::new(),
            last_ts: String::new(),
            detected_ts: String::new(),
            first_line: 0,
            last_line: 0,
            lines: vec![],
            session: Some(evil.into()),
            explanation: format!("new on {evil}"),
            examples: vec![evil.into()],
            logq: logq_command(Some(evil), 0, 0, ""),
            priority: Priority::Alert,
        };
        a.escape_text();
        let json = serde_json::to_string(&a).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        // What jq -r prints: the decoded strings.
        fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        strings(&back, &mut all);
        for s in all.iter().chain([&a.reason()]) {
            assert!(!s.contains('\x1b') && !s.contains('\x07'), "{s:?}");
        }
        assert!(
            a.explanation.contains("web1\\e]0;owned"),
            "{}",
            a.explanation
        );
    }

    #[test]
    fn times_and_durations_read_as_people_write_them() {
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(human_ms(600_000), "10 min");
        assert_eq!(human_ms(86_400_000), "1 d");
        assert_eq!(human_ms(90_000), "90 s");
    }

    #[test]
    fn the_logq_command_pastes_into_a_shell() {
        let cmd = logq_command(
            Some("web1"),
            1_700_000_000_123,
            1_700_000_060_999,
            "203.0.113.9",
        );
        assert_eq!(
            cmd,
            "logq --since 2023-11-14T22:13:20Z --until 2023-11-14T22:14:21Z --host web1 203.0.113.9"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("failed password"), "'failed password'");
    }
}
