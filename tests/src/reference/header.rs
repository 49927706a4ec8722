//! The syslog header of a line, as `man/logq.1` and `logcore/src/parse.rs`'s
//! documentation describe it, for the forms the tests write:
//!
//! - an optional `<PRI>` (facility × 8 + severity, 0 to 191);
//! - RFC 5424 after it: `1 STAMP HOST APP PROCID MSGID SD MSG`, `-` for none;
//! - the RFC 3339 file form Debian 12's rsyslog writes:
//!   `2026-11-24T22:20:01.123456+00:00 host tag[pid]: message`;
//! - RFC 3164: `Nov 24 22:20:01 host tag[pid]: message`, the stamp in the
//!   agent's zone and the year that puts it closest before the receive time
//!   (up to a day ahead is clock skew, not last year).
//!
//! The tag (the program, what `-t` and `program:` select) is what comes
//! before `[pid]:` or `:`: `sshd`, `kernel`, `postfix/smtpd`. Any other line
//! has no header ([`header`] says `None`): the collector gives it the
//! agent's host and its receive time. (The product also reads a few
//! non-syslog stamps, such as HDFS's; the tests' corpora have none, so the
//! reference does not.)

/// What a syslog header says about a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Milliseconds since the epoch (a fraction below a millisecond is cut).
    pub time_ms: i64,
    pub host: Option<&'a str>,
    pub program: Option<&'a str>,
    pub pid: Option<u32>,
    pub facility: Option<u8>,
    pub severity: Option<u8>,
    pub message: &'a str,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar,
/// counted the slow way.
pub fn days_since_epoch(year: i64, month: u32, day: u32) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    if year >= 1970 {
        for y in 1970..year {
            days += if leap(y) { 366 } else { 365 };
        }
    } else {
        for y in year..1970 {
            days -= if leap(y) { 366 } else { 365 };
        }
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += lengths[..(month - 1) as usize].iter().sum::<i64>();
    days + i64::from(day) - 1
}

/// A fixed-width decimal field at the start of `s`.
fn num(s: &str, width: usize) -> Option<u32> {
    let f = s.get(..width)?;
    f.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| f.parse().ok())?
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`: the millisecond, and the rest.
fn rfc3339(s: &str) -> Option<(i64, &str)> {
    let (stamp, rest) = s.split_once(' ').unwrap_or((s, ""));
    let b = stamp.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(stamp, 4)?, num(&stamp[5..], 2)?, num(&stamp[8..], 2)?);
    let (h, mi, sec) = (
        num(&stamp[11..], 2)?,
        num(&stamp[14..], 2)?,
        num(&stamp[17..], 2)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut zone = &stamp[19..];
    let mut millis = 0i64;
    if let Some(frac) = zone.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        // The first three digits, padded: `.5` is 500 ms.
        let padded = format!("{:0<3}", &frac[..n.min(3)]);
        millis = padded.parse().ok()?;
        zone = &frac[n..];
    }
    let offset_secs: i64 = match zone {
        "Z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if zone.len() != 6 || zone.as_bytes()[3] != b':' {
                return None;
            }
            sign * i64::from(num(&zone[1..], 2)? * 3600 + num(&zone[4..], 2)? * 60)
        }
    };
    let secs = days_since_epoch(i64::from(y), mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec)
        - offset_secs;
    Some((secs * 1000 + millis, rest))
}

/// `Mmm dd HH:MM:SS` (the day padded with a space or a zero): the
/// millisecond, and the rest.
fn rfc3164(s: &str, receive_ms: i64, utc_offset_secs: i32) -> Option<(i64, &str)> {
    let month = MONTHS.iter().position(|m| s.starts_with(m))? as u32 + 1;
    let b = s.as_bytes();
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let day: u32 = s[4..6].trim_start().parse().ok()?;
    let (h, mi, sec) = (num(&s[7..], 2)?, num(&s[10..], 2)?, num(&s[13..], 2)?);
    let rest = s[15..].strip_prefix(' ')?;
    let at = |year: i64| {
        (days_since_epoch(year, month, day) * 86_400 + i64::from(h * 3600 + mi * 60 + sec)
            - i64::from(utc_offset_secs))
            * 1000
    };
    // The receive time's year in the agent's zone, then the year before
    // when that would put the stamp more than a day ahead.
    let local = receive_ms / 1000 + i64::from(utc_offset_secs);
    let mut year = 1970 + local.div_euclid(86_400 * 366);
    while days_since_epoch(year + 1, 1, 1) * 86_400 <= local {
        year += 1;
    }
    if at(year) > receive_ms + 86_400_000 {
        year -= 1;
    } else if at(year + 1) <= receive_ms + 86_400_000 {
        year += 1;
    }
    Some((at(year), rest))
}

/// `<PRI>`: facility and severity, and the rest.
fn pri(s: &str) -> Option<(u8, u8, &str)> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let digits = &inner[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u8 = digits.parse().ok().filter(|&v| v <= 191)?;
    Some((value / 8, value % 8, &inner[end + 1..]))
}

/// `tag[pid]: message` or `tag: message`.
fn tag(s: &str) -> (Option<&str>, Option<u32>, &str) {
    let end = s
        .find(|c: char| c == '[' || c == ':' || c.is_whitespace())
        .unwrap_or(s.len());
    let (name, after) = s.split_at(end);
    if name.is_empty() {
        return (None, None, s);
    }
    if let Some(rest) = after.strip_prefix(':') {
        return (Some(name), None, rest.strip_prefix(' ').unwrap_or(rest));
    }
    if let Some(bracketed) = after.strip_prefix('[') {
        if let Some((pid, rest)) = bracketed.split_once("]:") {
            if let Ok(pid) = pid.parse() {
                return (
                    Some(name),
                    Some(pid),
                    rest.strip_prefix(' ').unwrap_or(rest),
                );
            }
        }
    }
    (None, None, s)
}

fn nil(field: &str) -> Option<&str> {
    (field != "-").then_some(field)
}

/// RFC 5424 after the `<PRI>`: `1 STAMP HOST APP PROCID MSGID SD MSG` (the
/// caller fills in facility and severity).
fn rfc5424(s: &str) -> Option<Header<'_>> {
    let rest = s.strip_prefix("1 ")?;
    let (time_ms, rest) = rfc3339(rest)?;
    let mut fields = rest.splitn(4, ' ');
    let host = nil(fields.next()?);
    let app = nil(fields.next()?);
    let pid = nil(fields.next()?).and_then(|p| p.parse().ok());
    let rest = fields.next()?;
    let (_msgid, rest) = rest.split_once(' ')?;
    // Structured data: `-`, or `[...]` elements (a `]` inside a value is
    // escaped as `\]`).
    let msg = if let Some(m) = rest.strip_prefix('-') {
        m
    } else {
        let mut depth = 0;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 && !rest[i + 1..].starts_with('[') {
                        end = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        &rest[end?..]
    };
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let message = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Some(Header {
        time_ms,
        host,
        program: app,
        pid,
        facility: None,
        severity: None,
        message,
    })
}

/// The header of `line` (without its newline), or `None` for a line
/// without one. `receive_ms` and `utc_offset_secs` resolve RFC 3164's
/// missing year and zone.
pub fn header(line: &str, receive_ms: i64, utc_offset_secs: i32) -> Option<Header<'_>> {
    let (facility, severity, rest) = match pri(line) {
        Some((f, s, rest)) => (Some(f), Some(s), rest),
        None => (None, None, line),
    };
    if facility.is_some() {
        if let Some(h) = rfc5424(rest) {
            return Some(Header {
                facility,
                severity,
                ..h
            });
        }
    }
    let (time_ms, rest) = rfc3339(rest).or_else(|| rfc3164(rest, receive_ms, utc_offset_secs))?;
    let (host, rest) = rest.split_once(' ')?;
    if host.is_empty() {
        return None;
    }
    let (program, pid, message) = tag(rest);
    Some(Header {
        time_ms,
        host: Some(host),
        program,
        pid,
        facility,
        severity,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24T22:20:01Z.
    const T: i64 = 1_795_558_801_000;

    /// The line Debian 12's rsyslog writes: `logq -H web1 -t sshd` and
    /// `--since` find it by its own host, tag and stamp.
    #[test]
    fn rsyslog_file_form() {
        let h = header(
            "2026-11-24T22:20:01.123456+00:00 web1 sshd[812]: Failed password",
            0,
            0,
        )
        .unwrap();
        assert_eq!(h.time_ms, T + 123);
        assert_eq!(h.host, Some("web1"));
        assert_eq!(h.program, Some("sshd"));
        assert_eq!(h.pid, Some(812));
        assert_eq!(h.message, "Failed password");
        assert_eq!((h.facility, h.severity), (None, None));
        // Another zone is the same instant.
        let h = header("2026-11-25T00:20:01.5+02:00 db1 kernel: [1.0] x", 0, 0).unwrap();
        assert_eq!(h.time_ms, T + 500);
        assert_eq!(h.program, Some("kernel"));
        assert_eq!(h.message, "[1.0] x");
        let h = header("2026-11-24T22:20:01Z h postfix/smtpd[9]: connect", 0, 0).unwrap();
        assert_eq!(h.program, Some("postfix/smtpd"));
    }

    /// `<PRI>` is facility × 8 + severity: `<38>` is auth.info, so
    /// `-p info` and `facility:auth` select it; `<192>` is no priority.
    #[test]
    fn priority() {
        let h = header("<38>2026-11-24T22:20:01Z web1 sshd[1]: x", 0, 0).unwrap();
        assert_eq!((h.facility, h.severity), (Some(4), Some(6)));
        let h = header("<0>2026-11-24T22:20:01Z web1 kernel: x", 0, 0).unwrap();
        assert_eq!((h.facility, h.severity), (Some(0), Some(0)));
        assert_eq!(header("<192>2026-11-24T22:20:01Z web1 a: x", 0, 0), None);
    }

    /// RFC 3164 has no year and no zone: the agent's zone, and the year
    /// that puts the stamp closest before the receive time (a `Dec 31`
    /// line received on January 1st is last year's).
    #[test]
    fn rfc3164_year_and_zone() {
        let h = header("<13>Nov 24 22:20:01 web1 cron[5]: x", T + 3_600_000, 0).unwrap();
        assert_eq!(h.time_ms, T);
        assert_eq!(h.program, Some("cron"));
        let h = header("Nov 24 23:20:01 web1 cron: x", T + 3_600_000, 3600).unwrap();
        assert_eq!(h.time_ms, T);
        let jan1 = days_since_epoch(2027, 1, 1) * 86_400_000 + 60_000;
        let h = header("Dec 31 23:59:00 web1 a: x", jan1, 0).unwrap();
        assert_eq!(h.time_ms, jan1 - 120_000);
        // A day-padded stamp, a few minutes ahead (clock skew): this year.
        let h = header(
            "Nov  4 00:05:00 web1 a: x",
            days_since_epoch(2026, 11, 4) * 86_400_000,
            0,
        )
        .unwrap();
        assert_eq!(
            h.time_ms,
            days_since_epoch(2026, 11, 4) * 86_400_000 + 300_000
        );
        // Just after midnight on January 1st, received a minute before: skew.
        let h = header("Jan  1 00:00:30 web1 a: x", jan1 - 120_000, 0).unwrap();
        assert_eq!(h.time_ms, jan1 - 30_000);
    }

    /// RFC 5424, as `logger --rfc5424` and agentd's journal lines send it.
    #[test]
    fn rfc5424_fields() {
        let h = header(
            "<34>1 2026-11-24T22:20:01.000Z web1 su 77 ID47 [x@1 a=\"b\\]\"][y@2] hi",
            0,
            0,
        )
        .unwrap();
        assert_eq!(h.time_ms, T);
        assert_eq!(
            (h.host, h.program, h.pid),
            (Some("web1"), Some("su"), Some(77))
        );
        assert_eq!((h.facility, h.severity), (Some(4), Some(2)));
        assert_eq!(h.message, "hi");
        let h = header("<14>1 2026-11-24T22:20:01Z - - - - - bare", 0, 0).unwrap();
        assert_eq!((h.host, h.program, h.message), (None, None, "bare"));
    }

    /// A stack trace line or plain text has no header: it is the agent's
    /// host's, stamped when received.
    #[test]
    fn lines_without_a_header() {
        assert_eq!(
            header("    at java.lang.Thread.run(Thread.java:750)", 0, 0),
            None
        );
        assert_eq!(header("plain text without a header: alice", 0, 0), None);
        assert_eq!(header("", 0, 0), None);
        assert_eq!(header("2026-11-24T22:20:01Z", 0, 0), None);
    }

    #[test]
    fn days_count_from_1970() {
        assert_eq!(days_since_epoch(1970, 1, 1), 0);
        assert_eq!(days_since_epoch(2000, 3, 1), 11_017);
        assert_eq!(days_since_epoch(1969, 12, 31), -1);
        assert_eq!(T / 86_400_000, days_since_epoch(2026, 11, 24));
    }
}
