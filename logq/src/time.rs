//! Reads the times `--since` and `--until` accept.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Datelike, Duration, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// Milliseconds since the epoch for `text`, relative forms counted back
/// from `now`. Dates without a zone are local time.
pub fn parse_time(text: &str, now: DateTime<Local>) -> Result<i64> {
    let t = text.trim();
    let today = now.date_naive();
    match t {
        "now" => return Ok(now.timestamp_millis()),
        "today" => return local_midnight(today),
        "yesterday" => return local_midnight(today - Duration::days(1)),
        "tomorrow" => return local_midnight(today + Duration::days(1)),
        _ => {}
    }
    if let Some(epoch) = t.strip_prefix('@') {
        return epoch_ms(epoch).with_context(|| format!("cannot read {text:?} as @SECONDS"));
    }
    if let Some(span) = relative(t) {
        return now
            .checked_sub_signed(span)
            .map(|t| t.timestamp_millis())
            .with_context(|| format!("{text:?} is too long ago"));
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
    for format in ["%H:%M:%S", "%H:%M"] {
        if let Ok(time) = NaiveTime::parse_from_str(t, format) {
            return local(today.and_time(time));
        }
    }
    if let Some(ms) = syslog_stamp(t, now)? {
        return Ok(ms);
    }
    bail!(
        "cannot read {text:?} as a time: use 2026-11-24, '2026-11-24 13:05[:30]', 13:05[:30], \
         RFC 3339, 'Nov 24 13:05:00', @1795525500, 15m, 2h, '3 days ago', today, yesterday or tomorrow"
    )
}

/// `90s`, `15m`, `2h`, `3d`, `1w`, spelled out too (`2 hours`), with an
/// optional `ago`.
fn relative(t: &str) -> Option<Duration> {
    let t = match t.strip_suffix("ago") {
        Some(rest) if rest.ends_with(char::is_whitespace) => rest.trim_end(),
        _ => t,
    };
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok()?;
    Some(match unit.trim_start() {
        "s" | "sec" | "secs" | "second" | "seconds" => Duration::try_seconds(n)?,
        "m" | "min" | "mins" | "minute" | "minutes" => Duration::try_minutes(n)?,
        "h" | "hour" | "hours" => Duration::try_hours(n)?,
        "d" | "day" | "days" => Duration::try_days(n)?,
        "w" | "week" | "weeks" => Duration::try_weeks(n)?,
        _ => return None,
    })
}

/// `@SECONDS[.FRACTION]` since the epoch, without the `@`.
fn epoch_ms(t: &str) -> Result<i64> {
    let (secs, frac) = match t.split_once('.') {
        Some((secs, frac)) => (secs, Some(frac)),
        None => (t, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !frac.is_none_or(digits) {
        bail!("not a number of seconds");
    }
    let frac = frac.unwrap_or("");
    let secs: i64 = secs.parse().context("too many seconds")?;
    // Milliseconds: the first three digits of the fraction.
    let ms = format!("{frac:0<3}")[..3]
        .parse::<i64>()
        .expect("three digits");
    secs.checked_mul(1000)
        .and_then(|s| s.checked_add(ms))
        .context("too many seconds")
}

/// A syslog stamp without a year (`Nov 24 22:20:01`, `Nov  4 22:20`): the
/// most recent such time not after `now`. `None` when `t` is not one.
fn syslog_stamp(t: &str, now: DateTime<Local>) -> Result<Option<i64>> {
    let formats = ["%Y %b %e %H:%M:%S", "%Y %b %e %H:%M"];
    let parse = |year: i32| {
        let with_year = format!("{year} {t}");
        formats
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(&with_year, f).ok())
    };
    // A leap year parses Feb 29 too: whether `t` is a stamp at all.
    if parse(2024).is_none() {
        return Ok(None);
    }
    // Feb 29 may need years back to the last leap year.
    for year in (now.year() - 8..=now.year()).rev() {
        if let Some(naive) = parse(year) {
            let ms = local(naive)?;
            if ms <= now.timestamp_millis() {
                return Ok(Some(ms));
            }
        }
    }
    bail!("{t:?} is not a date of the last eight years")
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
    fn tomorrow_and_clock_times_are_local() {
        let at = |h, m, sec| {
            Local
                .with_ymd_and_hms(2026, 11, 24, h, m, sec)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(
            parse_time("tomorrow", now()).unwrap(),
            Local
                .with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        // A bare clock time is today, even when it is still to come.
        assert_eq!(parse_time("13:05", now()).unwrap(), at(13, 5, 0));
        assert_eq!(parse_time("08:30:15", now()).unwrap(), at(8, 30, 15));
        assert!(parse_time("25:00", now()).is_err());
    }

    #[test]
    fn spans_may_be_spelled_out_and_say_ago() {
        let back = |d: Duration| (now() - d).timestamp_millis();
        assert_eq!(
            parse_time("15m ago", now()).unwrap(),
            back(Duration::minutes(15))
        );
        assert_eq!(
            parse_time("2 hours ago", now()).unwrap(),
            back(Duration::hours(2))
        );
        assert_eq!(
            parse_time("3 days", now()).unwrap(),
            back(Duration::days(3))
        );
        assert_eq!(
            parse_time("90s", now()).unwrap(),
            back(Duration::seconds(90))
        );
        assert!(parse_time("15mago", now()).is_err());
        assert!(parse_time("15 fortnights ago", now()).is_err());
        // Absurd spans are an error, not a panic.
        assert!(parse_time("9999999999999w", now()).is_err());
    }

    #[test]
    fn syslog_stamps_take_the_most_recent_year() {
        // `logq --since 'Nov 24 10:00:00'` pasted from a log line.
        let ms = |y, mo, d, h, mi, s| {
            Local
                .with_ymd_and_hms(y, mo, d, h, mi, s)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(
            parse_time("Nov 24 10:00:00", now()).unwrap(),
            ms(2026, 11, 24, 10, 0, 0)
        );
        // Later today than now: last year's.
        assert_eq!(
            parse_time("Nov 24 13:00:00", now()).unwrap(),
            ms(2025, 11, 24, 13, 0, 0)
        );
        assert_eq!(
            parse_time("Dec 31 23:59:59", now()).unwrap(),
            ms(2025, 12, 31, 23, 59, 59)
        );
        assert_eq!(
            parse_time("Nov  4 22:20:01", now()).unwrap(),
            ms(2026, 11, 4, 22, 20, 1)
        );
        assert_eq!(
            parse_time("nov 4 22:20", now()).unwrap(),
            ms(2026, 11, 4, 22, 20, 0)
        );
        // The last Feb 29 before now.
        assert_eq!(
            parse_time("Feb 29 12:00:00", now()).unwrap(),
            ms(2024, 2, 29, 12, 0, 0)
        );
        assert!(parse_time("Feb 30 12:00:00", now()).is_err());
    }

    #[test]
    fn epoch_seconds_after_an_at_sign() {
        assert_eq!(parse_time("@1795514400", now()).unwrap(), 1_795_514_400_000);
        assert_eq!(
            parse_time("@1795514400.5", now()).unwrap(),
            1_795_514_400_500
        );
        assert_eq!(
            parse_time("@1795514400.1239", now()).unwrap(),
            1_795_514_400_123
        );
        assert_eq!(parse_time("@0", now()).unwrap(), 0);
        for bad in ["@", "@x", "@-5", "@1.", "@99999999999999999999"] {
            let err = parse_time(bad, now()).unwrap_err();
            assert!(format!("{err:#}").contains(bad), "{bad}: {err:#}");
        }
    }

    #[test]
    fn nonsense_says_which_forms_work() {
        let err = parse_time("last tuesday", now()).unwrap_err().to_string();
        assert!(err.contains("last tuesday") && err.contains("2h"), "{err}");
    }
}
