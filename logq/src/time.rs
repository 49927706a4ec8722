//! Reads the times `--since` and `--until` accept.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Local, NaiveDate, NaiveDateTime, TimeZone};

/// Milliseconds since the epoch for `text`, relative forms counted back
/// from `now`. Dates without a zone are local time.
pub fn parse_time(text: &str, now: DateTime<Local>) -> Result<i64> {
    let t = text.trim();
    match t {
        "now" => return Ok(now.timestamp_millis()),
        "today" => return local_midnight(now.date_naive()),
        "yesterday" => return local_midnight(now.date_naive() - Duration::days(1)),
        _ => {}
    }
    if let Some(span) = relative(t) {
        return Ok((now - span).timestamp_millis());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
            return local(naive);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return local_midnight(date);
    }
    bail!("cannot read {text:?} as a time: use 2026-11-24, '2026-11-24 13:05[:30]', RFC 3339, 15m, 2h, 3d, today or yesterday")
}

/// `90s`, `15m`, `2h`, `3d`, `1w`.
fn relative(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok()?;
    Some(match unit {
        "s" => Duration::seconds(n),
        "m" | "min" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => return None,
    })
}

fn local_midnight(date: NaiveDate) -> Result<i64> {
    local(date.and_hms_opt(0, 0, 0).context("midnight exists")?)
}

fn local(naive: NaiveDateTime) -> Result<i64> {
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        .with_context(|| format!("{naive} does not exist in the local time zone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    #[test]
    fn relative_spans_count_back_from_now() {
        assert_eq!(
            parse_time("2h", now()).unwrap(),
            (now() - Duration::hours(2)).timestamp_millis()
        );
        assert_eq!(
            parse_time("15m", now()).unwrap(),
            (now() - Duration::minutes(15)).timestamp_millis()
        );
    }

    #[test]
    fn dates_and_words() {
        let midnight = Local
            .with_ymd_and_hms(2026, 11, 24, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(parse_time("today", now()).unwrap(), midnight);
        assert_eq!(parse_time("2026-11-24", now()).unwrap(), midnight);
        assert_eq!(
            parse_time("yesterday", now()).unwrap(),
            midnight - 86_400_000
        );
        assert_eq!(
            parse_time("2026-11-24T10:00:00Z", now()).unwrap(),
            1_795_514_400_000
        );
    }

    #[test]
    fn nonsense_says_which_forms_work() {
        let err = parse_time("last tuesday", now()).unwrap_err().to_string();
        assert!(err.contains("last tuesday") && err.contains("2h"), "{err}");
    }
}
