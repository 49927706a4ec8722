//! Finds the syslog header and the event time in a line.
//!
//! Syslog forms (RFC 5424, RFC 3164 with or without `<PRI>`, and the RFC 3339
//! file form Debian 12's rsyslog writes) go through `syslog_loose`. Lines
//! without a syslog header are tried against other common stamps at the start
//! of the line:
//!
//! | form | example |
//! |---|---|
//! | ISO 8601 date and time | `2026-11-24 22:22:45,123 INFO ...` |
//! | `yymmdd HHMMSS` (HDFS) | `081109 203615 148 INFO ...` |
//! | `yy/mm/dd HH:MM:SS` (Spark) | `17/06/09 20:10:40 INFO ...` |
//! | Apache error log | `[Sun Dec 04 04:47:44 2005] [error] ...` |
//! | epoch seconds | `1131566461 ...`, `1131566461.123 ...` |
//! | bracketed month.day (Proxifier) | `[10.30 16:49:06] chrome.exe - ...` |
//! | month-day (Android logcat) | `03-17 16:13:38.811  1702  2395 D Tag: ...` |
//! | `yyyymmdd-HH:MM:SS:mmm` (HealthApp) | `20171223-22:15:29:606\|Step_LSC\|...` |
//!
//! A stamp without a year gets the year that puts it closest before the
//! receive time, as RFC 3164's. After a non-syslog stamp, `app` reads what
//! an application's own layout puts before the message (a level, ids, a
//! thread, a logger: `INFO [main] org.example.Foo: message`) into the
//! severity, pid and program, so that the message is the message.
//!
//! A stamp without a zone is read in the agent's zone (its UTC offset); an RFC
//! 3164 stamp without a year gets the year that puts it closest before the
//! receive time (a stamp up to a day ahead of the receive time is clock skew,
//! not last year). A line in none of these forms is [`Parsed::unparsed`]: its
//! whole text is the message and the caller uses the receive time.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use syslog_loose::{IncompleteDate, ProcId, Variant};

mod app;

/// The SD-ID agentd gives journal fields: 32473 is RFC 5612's documentation
/// enterprise number (logq has none registered).
pub const JOURNAL_SD_ID: &str = "journal@32473";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Milliseconds since the epoch, when the line carries a usable stamp.
    pub time_ms: Option<i64>,
    pub host: Option<&'a str>,
    pub program: Option<&'a str>,
    pub pid: Option<u32>,
    pub facility: Option<u8>,
    pub severity: Option<u8>,
    pub message: &'a str,
    /// The systemd unit, from the `journal@32473` structured-data element
    /// agentd writes for journal entries (`unit="ssh.service"`).
    pub unit: Option<String>,
    /// No syslog header and no known stamp were found.
    pub unparsed: bool,
}

impl<'a> Parsed<'a> {
    fn bare(line: &'a str) -> Parsed<'a> {
        Parsed {
            time_ms: None,
            host: None,
            program: None,
            pid: None,
            facility: None,
            severity: None,
            message: line,
            unit: None,
            unparsed: true,
        }
    }
}

/// Parses one line (without its newline). `receive_time_ms` resolves missing
/// years; `utc_offset_secs` is the zone for stamps written without one.
pub fn parse_line(line: &str, receive_time_ms: i64, utc_offset_secs: i32) -> Parsed<'_> {
    if let Some(p) = rfc3339_header(line) {
        return p;
    }
    let zone = FixedOffset::east_opt(utc_offset_secs).unwrap_or(Utc.fix());
    let received = Utc
        .timestamp_millis_opt(receive_time_ms)
        .single()
        .unwrap_or_default()
        .with_timezone(&zone);
    if let Some(p) = with_syslog_loose(line, received, zone) {
        return p;
    }
    match other_stamp(line, zone, received) {
        Some((time, rest)) => {
            let app = app::app_header(rest);
            Parsed {
                time_ms: Some(time.timestamp_millis()),
                program: app.program,
                pid: app.pid,
                severity: app.severity,
                message: app.message,
                unparsed: false,
                ..Parsed::bare(line)
            }
        }
        None => Parsed::bare(line),
    }
}

/// The year of a stamp without one: the one that puts it closest before
/// the receive time (a stamp up to a day ahead is clock skew).
fn year_of(month: u32, day: u32, received: DateTime<FixedOffset>) -> i32 {
    let (ry, rm, rd) = (received.year(), received.month(), received.day());
    let ahead = (month, day) > (rm, rd) && !(month == rm && day == rd + 1);
    let new_year_skew = month == 1 && day == 1 && rm == 12 && rd == 31;
    if ahead && !new_year_skew {
        ry - 1
    } else if new_year_skew {
        ry + 1
    } else {
        ry
    }
}

fn with_syslog_loose(
    line: &str,
    received: DateTime<FixedOffset>,
    zone: FixedOffset,
) -> Option<Parsed<'_>> {
    // syslog_loose wants a year for month-day stamps: the receive year, or the
    // one before when that would put the stamp more than a day in the future.
    let get_year = move |d: IncompleteDate| year_of(d.0, d.1, received);
    let msg =
        syslog_loose::parse_message_with_year_exact_tz(line, get_year, Some(zone), Variant::Either)
            .ok()?;
    // syslog_loose accepts a bare message after a stamp; without a stamp
    // nothing here was syslog.
    let time = msg.timestamp?;
    let pid = match msg.procid {
        Some(ProcId::PID(pid)) => u32::try_from(pid).ok(),
        Some(ProcId::Name(name)) => name.parse().ok(),
        None => None,
    };
    let mut host = msg.hostname.filter(|h| !h.is_empty());
    let mut program = msg.appname.filter(|a| !a.is_empty());
    // RFC 3164 without a host name and a tag without a pid (`<13>Nov 25
    // 08:00:02 app: text`, what a program logging to /dev/log sends and a
    // relay may forward as is): syslog_loose takes the tag for the host.
    // A word ending in `:` is a tag; a host name never has one.
    if let (syslog_loose::Protocol::RFC3164, Some(h), None) = (&msg.protocol, host, program) {
        if line.contains(&format!(" {h}: ")) || line.ends_with(&format!(" {h}:")) {
            (host, program) = (None, Some(h));
        }
    }
    let unit = msg
        .structured_data
        .iter()
        .filter(|e| e.id == JOURNAL_SD_ID)
        .flat_map(|e| e.params())
        .find(|(name, _)| **name == "unit")
        .map(|(_, value)| value)
        .filter(|u| !u.is_empty());
    Some(Parsed {
        time_ms: Some(time.timestamp_millis()),
        host,
        program,
        pid,
        facility: msg.facility.map(|f| f as u8),
        severity: msg.severity.map(|s| s as u8),
        message: msg.msg,
        unit,
        unparsed: false,
    })
}

/// The header nearly every line of a Linux host has today (rsyslog's
/// and journald's RFC 3339 stamp, no PRI): `STAMP HOST APP[PID]: MESSAGE`,
/// read directly. syslog_loose tries its stamp formats and fields one by
/// one through nom, 5,000 instructions a line: about half of what
/// `logq`'s short output cost over raw output, and 4 % of the collector.
///
/// The answer is syslog_loose's, not a second reading of syslog: `None`
/// (and syslog_loose decides) unless the line is in the narrow shape where
/// the two provably agree: a stamp that chrono's RFC 3339 parser (which
/// syslog_loose calls) reads, one space, a host of letters, digits and
/// `. - _`, one space, a program of those and `/` with an optional `[PID]`
/// of digits, `:`, and a message that syslog_loose cannot take for
/// structured data. A test holds the two to the same answers.
fn rfc3339_header(line: &str) -> Option<Parsed<'_>> {
    // syslog_loose reads the line trimmed.
    let line = line.trim_end();
    let b = line.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    let stamp_end = b.iter().position(|&c| c == b' ')?;
    let time = DateTime::parse_from_rfc3339(&line[..stamp_end]).ok()?;
    let is_host_byte = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_');
    let rest = &line[stamp_end + 1..];
    let host_end = rest.bytes().position(|c| !is_host_byte(c))?;
    let host = &rest[..host_end];
    if host.is_empty() || host == "-" || rest.as_bytes()[host_end] != b' ' {
        return None;
    }
    let rest = &rest[host_end + 1..];
    let tag_end = rest.bytes().position(|c| c == b':')?;
    let tag = &rest[..tag_end];
    let (app, pid) = match tag.find('[') {
        None => (tag, None),
        Some(open) => {
            let pid = tag[open + 1..].strip_suffix(']')?;
            if pid.is_empty() || pid.len() > 10 || !pid.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (&tag[..open], Some(pid))
        }
    };
    if app.is_empty() || app == "-" || !app.bytes().all(|c| is_host_byte(c) || c == b'/') {
        return None;
    }
    let message = rest[tag_end + 1..].trim_start_matches([' ', '\t']);
    // syslog_loose takes a leading `-` as empty structured data, and `[`
    // as structured data when its first element has a parameter
    // (`[id key="value"]`), which needs a `=` before the first `]`. The
    // kernel's `[UFW BLOCK]` and PostgreSQL's `[55-1]` are message text.
    let bracket = message
        .strip_prefix('[')
        .map(|m| m.split(']').next().unwrap_or(m));
    if message.starts_with('-') || bracket.is_some_and(|b| b.contains('=')) {
        return None;
    }
    Some(Parsed {
        time_ms: Some(time.timestamp_millis()),
        host: Some(host),
        program: Some(app),
        pid: pid.and_then(|p| p.parse().ok()),
        facility: None,
        severity: None,
        message,
        unit: None,
        unparsed: false,
    })
}

/// Tries the non-syslog stamps; returns the time and the text after it.
fn other_stamp(
    line: &str,
    zone: FixedOffset,
    received: DateTime<FixedOffset>,
) -> Option<(DateTime<FixedOffset>, &str)> {
    let b = line.as_bytes();
    let rest_after = |n: usize| line.get(n..).map_or("", |r| r.trim_start());
    let month_day = |m: &[u8], d: &[u8]| -> Option<NaiveDate> {
        let (month, day) = (num(m)? as u32, num(d)? as u32);
        NaiveDate::from_ymd_opt(year_of(month, day, received), month, day)
    };
    // [mm.dd HH:MM:SS] (Proxifier), the year closest before the receive time
    if b.len() >= 16
        && b[0] == b'['
        && is_digits(&b[1..3])
        && b[3] == b'.'
        && is_digits(&b[4..6])
        && b[6] == b' '
    {
        let (naive, n) = hms(month_day(&b[1..3], &b[4..6])?, &b[7..], b':')?;
        if b.get(7 + n) == Some(&b']') {
            return Some((
                zone.from_local_datetime(&naive).single()?,
                rest_after(8 + n),
            ));
        }
        return None;
    }
    // mm-dd HH:MM:SS.mmm (Android's logcat), the year as above
    if b.len() >= 14 && is_digits(&b[0..2]) && b[2] == b'-' && is_digits(&b[3..5]) && b[5] == b' ' {
        let (naive, n) = hms(month_day(&b[0..2], &b[3..5])?, &b[6..], b':')?;
        return Some((
            zone.from_local_datetime(&naive).single()?,
            rest_after(6 + n),
        ));
    }
    // yyyymmdd-H:M:S:mmm (HealthApp, which does not pad its fields)
    if b.len() >= 14 && is_digits(&b[0..8]) && b[8] == b'-' {
        let date =
            NaiveDate::from_ymd_opt(num(&b[0..4])?, num(&b[4..6])? as u32, num(&b[6..8])? as u32)?;
        let mut fields = [0u32; 4];
        let mut n = 9;
        for (i, field) in fields.iter_mut().enumerate() {
            let width = b[n..].iter().take_while(|c| c.is_ascii_digit()).count();
            let max = if i == 3 { 3 } else { 2 };
            if width == 0 || width > max {
                return None;
            }
            // Milliseconds unpadded too: `:9` is 9 ms.
            *field = num(&b[n..n + width])? as u32;
            n += width;
            if i < 3 {
                if b.get(n) != Some(&b':') {
                    return None;
                }
                n += 1;
            }
        }
        let naive = date.and_hms_milli_opt(fields[0], fields[1], fields[2], fields[3])?;
        return Some((zone.from_local_datetime(&naive).single()?, rest_after(n)));
    }
    // ISO: 2026-11-24[ T]22:22:45[.,frac][Z|±hh:mm]
    if b.len() >= 19
        && is_digits(&b[0..4])
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b' ' | b'T')
    {
        let date = NaiveDate::from_ymd_opt(
            num(&b[0..4])?,
            num(&b[5..7])? as u32,
            num(&b[8..10])? as u32,
        )?;
        let (naive, mut n) = hms(date, &b[11..], b':')?;
        n += 11;
        let (offset, used) = zone_suffix(&b[n..]).unwrap_or((zone, 0));
        let t = offset.from_local_datetime(&naive).single()?;
        return Some((t, rest_after(n + used)));
    }
    // yymmdd HHMMSS
    if b.len() >= 13
        && is_digits(&b[0..6])
        && b[6] == b' '
        && is_digits(&b[7..13])
        && b.get(13).is_none_or(|c| *c == b' ')
    {
        let date = NaiveDate::from_ymd_opt(
            2000 + num(&b[0..2])?,
            num(&b[2..4])? as u32,
            num(&b[4..6])? as u32,
        )?;
        let time = date.and_hms_opt(
            num(&b[7..9])? as u32,
            num(&b[9..11])? as u32,
            num(&b[11..13])? as u32,
        )?;
        return Some((zone.from_local_datetime(&time).single()?, rest_after(13)));
    }
    // yy/mm/dd HH:MM:SS
    if b.len() >= 17 && is_digits(&b[0..2]) && b[2] == b'/' && b[5] == b'/' && b[8] == b' ' {
        let date = NaiveDate::from_ymd_opt(
            2000 + num(&b[0..2])?,
            num(&b[3..5])? as u32,
            num(&b[6..8])? as u32,
        )?;
        let (naive, n) = hms(date, &b[9..], b':')?;
        return Some((
            zone.from_local_datetime(&naive).single()?,
            rest_after(9 + n),
        ));
    }
    // [Sun Dec 04 04:47:44 2005]
    if b.len() >= 26 && b[0] == b'[' && b[25] == b']' {
        let naive = NaiveDateTime::parse_from_str(line.get(5..25)?, "%b %d %H:%M:%S %Y").ok()?;
        return Some((zone.from_local_datetime(&naive).single()?, rest_after(26)));
    }
    // Epoch seconds (2001-09-09 .. 2286), optionally with a fraction.
    if b.len() >= 10 && is_digits(&b[0..10]) && b[0] != b'0' {
        let mut n = 10;
        let mut millis = 0i64;
        if b.get(10) == Some(&b'.') {
            let frac_len = b[11..].iter().take_while(|c| c.is_ascii_digit()).count();
            let frac = &b[11..11 + frac_len];
            for i in 0..3 {
                millis = millis * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
            }
            n = 11 + frac_len;
        }
        if b.get(n).is_none_or(|c| *c == b' ') {
            let secs: i64 = line[..10].parse().ok()?;
            let t = Utc.timestamp_millis_opt(secs * 1000 + millis).single()?;
            return Some((t.with_timezone(&zone), rest_after(n)));
        }
    }
    None
}

/// Reads `HH:MM:SS` with an optional `.frac`/`,frac`; returns the bytes used.
fn hms(date: NaiveDate, b: &[u8], sep: u8) -> Option<(NaiveDateTime, usize)> {
    if b.len() < 8
        || !is_digits(&b[0..2])
        || b[2] != sep
        || !is_digits(&b[3..5])
        || b[5] != sep
        || !is_digits(&b[6..8])
    {
        return None;
    }
    let mut n = 8;
    let mut nanos = 0u32;
    if matches!(b.get(8), Some(b'.' | b',')) {
        let frac_len = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
        for i in 0..9 {
            nanos = nanos * 10
                + b.get(9 + i)
                    .filter(|_| i < frac_len)
                    .map_or(0, |d| u32::from(d - b'0'));
        }
        n = 9 + frac_len;
    }
    let t = date.and_hms_nano_opt(
        num(&b[0..2])? as u32,
        num(&b[3..5])? as u32,
        num(&b[6..8])? as u32,
        nanos,
    )?;
    Some((t, n))
}

/// `Z`, `+hh:mm`, `+hhmm` directly after a time.
fn zone_suffix(b: &[u8]) -> Option<(FixedOffset, usize)> {
    match b.first()? {
        b'Z' => Some((Utc.fix(), 1)),
        sign @ (b'+' | b'-') => {
            let (h, m, n) =
                if b.len() >= 6 && b[3] == b':' && is_digits(&b[1..3]) && is_digits(&b[4..6]) {
                    (num(&b[1..3])?, num(&b[4..6])?, 6)
                } else if b.len() >= 5 && is_digits(&b[1..5]) {
                    (num(&b[1..3])?, num(&b[3..5])?, 5)
                } else {
                    return None;
                };
            let secs = (h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 };
            Some((FixedOffset::east_opt(secs)?, n))
        }
        _ => None,
    }
}

fn is_digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

fn num(b: &[u8]) -> Option<i32> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-11-24T22:22:45Z
    const RECV: i64 = 1_795_558_965_000;

    /// Lines near the shape `rfc3339_header` reads, with every piece it
    /// must refuse or read as syslog_loose does: stamps chrono may or may
    /// not take, doubled and odd spaces, hosts with `:` or brackets, tags
    /// with and without (good and bad) pids, messages that start like
    /// structured data, trailing Unicode space.
    fn near_rfc3339_lines() -> impl Strategy<Value = String> {
        let stamp = prop::sample::select(vec![
            "2026-11-20T00:00:00.007170+00:00",
            "2026-11-20T00:00:00Z",
            "2026-11-20t23:59:59.5-05:30",
            "2026-02-30T00:00:00Z",
            "2026-11-20T00:00:60Z",
            "2026-11-20T00:00:00",
            "20261120",
        ]);
        let gap = prop::sample::select(vec![" ", " ", " ", "  ", "\t", ""]);
        let host = prop::sample::select(vec![
            "web1",
            "h.example.org",
            "k8s-node_3",
            "-",
            "a:b",
            "web1:",
            "x[1]",
            "é",
            "",
        ]);
        let tag = prop::sample::select(vec![
            "sshd",
            "sshd[12]",
            "CRON[4294967295]",
            "su[99999999999]",
            "sshd[]",
            "sshd[x]",
            "[12]",
            "-",
            "-[3]",
            "systemd/logind",
            "sshd[12]x",
            "a[1][2]",
            "",
        ]);
        let colon = prop::sample::select(vec![":", ":", "", " :", "::"]);
        let message = prop::sample::select(vec![
            " Accepted password for root",
            "Accepted",
            "  \ttwo spaces",
            " [x y=\"1\"] sd",
            " [kernel] not sd",
            " [55-1] 2026-11-20 LOG",
            " [a=b] x",
            " [UFW BLOCK] IN=eth0",
            " [x] [y z=\"1\"]",
            " - dash",
            " -",
            " ",
            "",
            " a: b",
            " é ü",
        ]);
        let end = prop::sample::select(vec!["", "", " ", "\t", "\u{a0}"]);
        (stamp, gap.clone(), host, gap, tag, colon, message, end).prop_map(
            |(stamp, g1, host, g2, tag, colon, message, end)| {
                format!("{stamp}{g1}{host}{g2}{tag}{colon}{message}{end}")
            },
        )
    }

    proptest! {
        // 1.4 million combinations; enough of them to meet every pair.
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The direct reading of the common header gives syslog_loose's
        /// answer whenever it gives one; a difference would change a
        /// line's host, program or message with the collector's version.
        #[test]
        fn the_rfc3339_fast_path_agrees_with_syslog_loose(line in near_rfc3339_lines()) {
            let zone = Utc.fix();
            let received = Utc.timestamp_millis_opt(RECV).unwrap().with_timezone(&zone);
            if let Some(fast) = rfc3339_header(&line) {
                prop_assert_eq!(Some(fast), with_syslog_loose(&line, received, zone));
            }
        }
    }

    /// The fast path takes the common lines (else it buys nothing).
    #[test]
    fn the_fast_path_reads_the_common_header() {
        let line = "2026-11-20T00:00:00.007170+00:00 web10 sshd[982]: Accepted password";
        let p = rfc3339_header(line).expect("the common shape");
        assert_eq!(
            (p.host, p.program, p.pid, p.message),
            (Some("web10"), Some("sshd"), Some(982), "Accepted password")
        );
        assert_eq!(p.time_ms, Some(1_795_132_800_007));
    }

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn rfc3164_file_line_gets_host_program_pid() {
        let p = parse_line("Nov 24 22:20:01 web1 sshd[812]: Failed password for root from 203.0.113.9 port 22 ssh2", RECV, 0);
        assert_eq!(p.time_ms, Some(ms("2026-11-24T22:20:01Z")));
        assert_eq!(p.host, Some("web1"));
        assert_eq!(p.program, Some("sshd"));
        assert_eq!(p.pid, Some(812));
        assert_eq!(
            p.message,
            "Failed password for root from 203.0.113.9 port 22 ssh2"
        );
        assert!(!p.unparsed);
    }

    #[test]
    fn rfc3164_without_year_in_january_is_last_december() {
        // A December line read on 2 January belongs to the year before.
        let jan2 = ms("2027-01-02T00:00:10Z");
        let p = parse_line("Dec 31 23:59:59 web1 cron[1]: tick", jan2, 0);
        assert_eq!(p.time_ms, Some(ms("2026-12-31T23:59:59Z")));
    }

    #[test]
    fn rfc3164_zone_is_the_agents() {
        let p = parse_line("Nov 24 23:20:01 web1 cron[1]: tick", RECV, 3600);
        assert_eq!(p.time_ms, Some(ms("2026-11-24T22:20:01Z")));
    }

    #[test]
    fn rfc3164_network_form_with_pri() {
        let p = parse_line(
            "<38>Nov 24 22:20:01 web1 sshd[812]: Accepted publickey for ops",
            RECV,
            0,
        );
        assert_eq!(p.facility, Some(4));
        assert_eq!(p.severity, Some(6));
        assert_eq!(p.program, Some("sshd"));
    }

    #[test]
    fn debian12_rfc3339_file_form() {
        let p = parse_line(
            "2026-11-24T22:20:01.123456+01:00 web1 sudo[99]:     ops : TTY=pts/0 ; COMMAND=/bin/ls",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2026-11-24T21:20:01.123Z")));
        assert_eq!(p.host, Some("web1"));
        assert_eq!(p.program, Some("sudo"));
        assert_eq!(p.pid, Some(99));
    }

    #[test]
    fn rfc5424() {
        let p = parse_line(
            "<165>1 2026-11-24T22:20:01.5Z web1 app 77 ID47 - hello there",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2026-11-24T22:20:01.5Z")));
        assert_eq!(p.host, Some("web1"));
        assert_eq!(p.program, Some("app"));
        assert_eq!(p.pid, Some(77));
        assert_eq!(p.facility, Some(20));
        assert_eq!(p.severity, Some(5));
        assert_eq!(p.message, "hello there");
    }

    #[test]
    fn journal_line_from_agentd_gives_the_unit_and_the_fields() {
        let line = r#"<35>1 2026-11-25T09:00:00.123456Z web1 sshd 42 - [journal@32473 unit="a\"b\]c.service"] Failed password"#;
        let p = parse_line(line, RECV, 0);
        assert_eq!(p.time_ms, Some(ms("2026-11-25T09:00:00.123Z")));
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("web1"), Some("sshd"), Some(42))
        );
        assert_eq!((p.facility, p.severity), (Some(4), Some(3)));
        assert_eq!(p.unit.as_deref(), Some("a\"b]c.service"));
        assert_eq!(p.message, "Failed password");
        let p = parse_line(
            "<14>1 2026-11-25T09:00:00Z web1 app - - - two\nlines",
            RECV,
            0,
        );
        assert_eq!((p.unit, p.pid, p.message), (None, None, "two\nlines"));
    }

    #[test]
    fn rsyslog_file_line_and_journal_line_of_one_event_agree() {
        // The collector stores such a pair once: both must give the same
        // host, program, pid, message and time.
        let journal = r#"<13>1 2026-11-25T09:00:00.123456Z web1 sshd 42 - [journal@32473 unit="ssh.service"] Accepted publickey for alice"#;
        let file = "2026-11-25T09:00:00.123456+00:00 web1 sshd[42]: Accepted publickey for alice";
        let (j, f) = (parse_line(journal, RECV, 0), parse_line(file, RECV, 3600));
        assert_eq!(
            (j.time_ms, j.host, j.program, j.pid, j.message),
            (f.time_ms, f.host, f.program, f.pid, f.message)
        );
    }

    #[test]
    fn hdfs_yymmdd_stamp() {
        let p = parse_line(
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2008-11-09T20:36:15Z")));
        assert_eq!(p.message, "PacketResponder 1 terminating");
        assert_eq!(p.program, Some("dfs.DataNode$PacketResponder"));
        assert_eq!((p.pid, p.severity), (Some(148), Some(6)));
        assert!(!p.unparsed);
    }

    #[test]
    fn iso_with_comma_millis() {
        let p = parse_line(
            "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2015-10-18T18:01:47.978Z")));
        assert_eq!(p.message, "");
        assert_eq!(p.program, Some("org.apache.hadoop"));
    }

    #[test]
    fn spark_and_apache_stamps() {
        let p = parse_line(
            "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2017-06-09T20:10:40Z")));
        let p = parse_line(
            "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2005-12-04T04:47:44Z")));
        assert_eq!(p.message, "workerEnv.init() ok");
        assert_eq!(p.severity, Some(5));
    }

    /// Stamps without a year take the one closest before the receive time
    /// (2026-11-24), as RFC 3164's; what follows them is an application
    /// header (`app`).
    #[test]
    fn proxifier_logcat_and_healthapp_stamps() {
        let p = parse_line(
            "[10.30 16:49:06] chrome.exe - proxy.example:5070 open through proxy",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2026-10-30T16:49:06Z")));
        assert_eq!(p.program, Some("chrome.exe"));
        assert_eq!(p.message, "proxy.example:5070 open through proxy");
        let p = parse_line(
            "12-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2025-12-17T16:13:38.811Z")));
        assert_eq!((p.program, p.pid), (Some("WindowManager"), Some(1702)));
        assert_eq!(p.message, "printFreezingDisplayLogs");
        let p = parse_line(
            "20171223-22:15:29:606|Step_LSC|30002312|onExtend:1514 14",
            RECV,
            0,
        );
        assert_eq!(p.time_ms, Some(ms("2017-12-23T22:15:29.606Z")));
        assert_eq!(p.program, Some("Step_LSC"));
        assert_eq!(p.message, "onExtend:1514 14");
        for line in [
            "[10.30 16:49:06 no bracket",
            "13-45 10:00:00 x",
            "20171223-2x",
        ] {
            assert!(parse_line(line, RECV, 0).unparsed, "{line}");
        }
    }

    #[test]
    fn epoch_seconds() {
        let p = parse_line("1131566461.250 node-1 action start", RECV, 0);
        assert_eq!(p.time_ms, Some(1_131_566_461_250));
        assert_eq!(p.message, "node-1 action start");
    }

    #[test]
    fn plain_text_is_unparsed_and_whole() {
        for line in [
            "hello world",
            "",
            "12345 not a stamp",
            "- 1117838570 2005.06.03 R02",
            "\u{0}\u{fffd}",
        ] {
            let p = parse_line(line, RECV, 0);
            assert!(p.unparsed, "{line:?} should be unparsed");
            assert_eq!(p.message, line);
            assert_eq!(p.time_ms, None);
        }
    }
}

/// The shapes real senders put on the wire (issue 6), as received by
/// collectord's syslog listeners.
#[cfg(test)]
mod real_senders {
    use super::*;

    const RECV: i64 = 1_795_558_965_000;

    #[test]
    fn logger_rfc3164_over_the_network_has_host_program_pid() {
        // logger --tcp/--udp --rfc3164 -t app3 --id=16934
        let p = parse_line("<156>Nov 25 09:32:59 vm app3[16934]: hello 3164", RECV, 0);
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("vm"), Some("app3"), Some(16934))
        );
        assert_eq!((p.facility, p.severity), (Some(19), Some(4)));
        assert_eq!(p.message, "hello 3164");
    }

    #[test]
    fn rfc3164_without_host_name_has_no_host() {
        // What a program writes to /dev/log, relayed as is: the tag must not
        // become the host (collectord then uses the sender's address).
        let p = parse_line("<13>Nov 25 08:00:02 udpapp: no host udp", RECV, 0);
        assert_eq!((p.host, p.program, p.pid), (None, Some("udpapp"), None));
        assert_eq!(p.message, "no host udp");
        let p = parse_line("<13>Nov 25 08:00:00 trapapp[77]: no host here", RECV, 0);
        assert_eq!(
            (p.host, p.program, p.pid),
            (None, Some("trapapp"), Some(77))
        );
        assert_eq!(p.message, "no host here");
        // With a host name and a tag, the host stays.
        let p = parse_line("<13>Nov 25 08:00:00 web1 cron: tick", RECV, 0);
        assert_eq!((p.host, p.program), (Some("web1"), Some("cron")));
    }

    #[test]
    fn logger_rfc5424_with_time_quality() {
        // logger --rfc5424: structured data before MSG.
        let p = parse_line("<156>1 2026-11-25T09:32:59.707739+00:00 vm app1 16932 - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello rfc5424", RECV, 0);
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("vm"), Some("app1"), Some(16932))
        );
        assert_eq!(p.message, "hello rfc5424");
    }

    #[test]
    fn rsyslog_syslog_protocol23_format_has_no_leading_space() {
        // RSYSLOG_SyslogProtocol23Format: `%msg%` keeps the space after the
        // tag's colon, so two spaces follow the structured data.
        let p = parse_line(
            "<14>1 2026-11-25T09:00:00.123456+00:00 rsyslog-test numapp 4242 - -  line x",
            RECV,
            0,
        );
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("rsyslog-test"), Some("numapp"), Some(4242))
        );
        assert_eq!(p.time_ms, Some(1_795_597_200_123));
        assert_eq!(p.message, "line x");
    }

    #[test]
    fn rsyslog_traditional_forward_format() {
        // omfwd's default template (RSYSLOG_TraditionalForwardFormat).
        let p = parse_line(
            "<14>Nov 25 09:00:00 rsyslog-test numapp[4242]: line x",
            RECV,
            0,
        );
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("rsyslog-test"), Some("numapp"), Some(4242))
        );
        assert_eq!(p.message, "line x");
    }

    #[test]
    fn syslog_ng_syslog_driver_with_meta_sequence_id() {
        // syslog-ng's syslog() driver adds [meta sequenceId="N"].
        let p = parse_line(
            "<14>1 2026-11-25T09:00:00+00:00 vm numapp 4242 - [meta sequenceId=\"1\"] line x",
            RECV,
            0,
        );
        assert_eq!(
            (p.host, p.program, p.pid),
            (Some("vm"), Some("numapp"), Some(4242))
        );
        assert_eq!(p.message, "line x");
    }
}
