//! Times as microseconds since the Unix epoch (UTC), written and read in
//! the forms the scenario and the alerts use. No time-zone database: every
//! stamp here is UTC.

/// Microseconds in a second, a minute, an hour, a day.
pub const SEC: i64 = 1_000_000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// 0 for Monday .. 6 for Sunday.
pub fn weekday(us: i64) -> usize {
    // 1970-01-01 was a Thursday.
    (us.div_euclid(DAY) + 3).rem_euclid(7) as usize
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    micros: i64,
}

fn parts(us: i64) -> Parts {
    let (y, mo, d) = civil_from_days(us.div_euclid(DAY));
    let in_day = us.rem_euclid(DAY);
    Parts {
        y,
        mo,
        d,
        h: in_day / HOUR,
        mi: in_day % HOUR / MIN,
        s: in_day % MIN / SEC,
        micros: in_day % SEC,
    }
}

/// Debian 12's rsyslog file stamp: `2026-11-02T03:04:05.123456+00:00`.
pub fn rsyslog(us: i64) -> String {
    let p = parts(us);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.micros
    )
}

/// RFC 3339 in UTC with microseconds and `Z`: `2026-11-02T03:04:05.123456Z`.
pub fn rfc3339(us: i64) -> String {
    let p = parts(us);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.micros
    )
}

/// ctime's form, as ftpd writes it: `Mon Nov  2 03:04:05 2026`.
pub fn ctime(us: i64) -> String {
    let p = parts(us);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[weekday(us)],
        MONTHS[p.mo as usize - 1],
        p.d,
        p.h,
        p.mi,
        p.s,
        p.y
    )
}

/// Reads an RFC 3339 stamp (`2026-11-02T03:04:05.123Z`, any number of
/// fraction digits, `Z` or a `±HH:MM` offset; `t` or a space also separate
/// date and time) into microseconds since the epoch. `None` if it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (num(i + 1..i + 3)? * HOUR + num(i + 4..i + 6)? * MIN)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(days * DAY + h * HOUR + mi * MIN + sec * SEC + micros - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scenario's stamps and the alerts' stamps would disagree by days
    /// or hours, and every latency would be wrong.
    #[test]
    fn stamps_round_trip_and_match_known_dates() {
        let t = days_from_civil(2026, 11, 2) * DAY + 3 * HOUR + 4 * MIN + 5 * SEC + 123_456;
        assert_eq!(rsyslog(t), "2026-11-02T03:04:05.123456+00:00");
        assert_eq!(rfc3339(t), "2026-11-02T03:04:05.123456Z");
        assert_eq!(ctime(t), "Mon Nov  2 03:04:05 2026");
        assert_eq!(parse_rfc3339(&rsyslog(t)), Some(t));
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-02T03:04:05.123Z"),
            Some(t - 456),
            "milliseconds"
        );
        assert_eq!(
            parse_rfc3339("2026-11-02T05:04:05.123456+02:00"),
            Some(t),
            "an offset"
        );
        assert_eq!(parse_rfc3339("2026-11-02T03:04:05Z"), Some(t - 123_456));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        for bad in [
            "",
            "2026-11-02",
            "2026-13-02T03:04:05Z",
            "2026-11-02T03:04:05",
            "x026-11-02T03:04:05Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
