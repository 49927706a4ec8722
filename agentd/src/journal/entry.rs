//! One `journalctl --output=json` line → the RFC 5424 line agentd ships.
//!
//! journalctl prints a field as a JSON string when it is valid UTF-8 and
//! printable, as an array of byte values when it is binary, and as an array
//! of those when the entry repeats the field. Repeated fields give their
//! first value. The line is
//!
//! `<PRI>1 TIMESTAMP HOST APP PROCID - [journal@32473 unit="U"] MESSAGE`
//!
//! with `-` for an absent field and for the structured data when there is
//! no unit. 32473 is RFC 5612's documentation enterprise number: logq has
//! none registered. MESSAGE's bytes travel unchanged (binary and multi-line
//! ones too).

use chrono::{TimeZone, Utc};
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

/// The SD-ID of the element that carries journal fields.
pub const SD_ID: &str = "journal@32473";

/// An entry read from journalctl, ready to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `__CURSOR`, where to resume after this entry.
    pub cursor: String,
    /// The cursor's `s=`: the journal's sequence-number id.
    pub seqnum_id: String,
    /// The cursor's `i=`: the entry's sequence number within `seqnum_id`.
    pub seqnum: u64,
    pub line: Vec<u8>,
}

impl Entry {
    /// The stream the entry ships in: a hash of its sequence-number id, so
    /// that a re-read entry has the same (stream, offset) and the collector
    /// drops the repeat.
    pub fn stream_id(&self) -> u64 {
        stream_id(&self.seqnum_id)
    }
}

pub fn stream_id(seqnum_id: &str) -> u64 {
    xxh3_64(format!("journal\0{seqnum_id}").as_bytes())
}

/// Why a line from journalctl was not an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum BadEntry {
    Json(String),
    NoCursor,
    /// The cursor has no `s=` or no hex `i=`.
    Cursor(String),
}

impl std::fmt::Display for BadEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadEntry::Json(e) => write!(f, "not a JSON object: {e}"),
            BadEntry::NoCursor => write!(f, "no __CURSOR field"),
            BadEntry::Cursor(c) => write!(f, "cursor {c:?} has no s= and hex i= parts"),
        }
    }
}

/// The `s=` and `i=` parts of a cursor.
pub fn split_cursor(cursor: &str) -> Option<(String, u64)> {
    let mut id = None;
    let mut seqnum = None;
    for part in cursor.split(';') {
        if let Some(v) = part.strip_prefix("s=") {
            id = Some(v.to_owned());
        } else if let Some(v) = part.strip_prefix("i=") {
            seqnum = u64::from_str_radix(v, 16).ok();
        }
    }
    Some((id?, seqnum?))
}

/// Parses one line of journalctl's JSON output. `default_host` stands in
/// for a missing `_HOSTNAME`.
pub fn parse(json: &[u8], default_host: &str) -> Result<Entry, BadEntry> {
    let value: Value = serde_json::from_slice(json).map_err(|e| BadEntry::Json(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(BadEntry::Json("not an object".into()));
    };
    let field = |name: &str| map.get(name).and_then(bytes_of);
    let text = |name: &str| field(name).map(|b| String::from_utf8_lossy(&b).into_owned());
    let cursor = text("__CURSOR").ok_or(BadEntry::NoCursor)?;
    let (seqnum_id, seqnum) =
        split_cursor(&cursor).ok_or_else(|| BadEntry::Cursor(cursor.clone()))?;
    let number = |name: &str| text(name).and_then(|t| t.trim().parse::<u64>().ok());

    let severity = number("PRIORITY").filter(|p| *p < 8).unwrap_or(6);
    let facility = number("SYSLOG_FACILITY").filter(|f| *f < 24).unwrap_or(1);
    let time = number("__REALTIME_TIMESTAMP")
        .and_then(|us| i64::try_from(us).ok())
        .and_then(|us| Utc.timestamp_micros(us).single())
        .map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        );
    let host = header_field(text("_HOSTNAME").as_deref().or(Some(default_host)), 255);
    let app = header_field(
        text("SYSLOG_IDENTIFIER")
            .or_else(|| text("_COMM"))
            .as_deref(),
        48,
    );
    // The pid rsyslog writes for the same entry: a syslog message's own
    // (SYSLOG_PID, none when the sender wrote none: `logger` without
    // --id), else the sender's (_PID), which journald forwards to syslog.
    let pid = if text("_TRANSPORT").as_deref() == Some("syslog") {
        text("SYSLOG_PID")
    } else {
        text("_PID").or_else(|| text("SYSLOG_PID"))
    };
    let pid = header_field(pid.as_deref(), 128);
    let sd = match text("_SYSTEMD_UNIT") {
        Some(unit) => format!("[{SD_ID} unit=\"{}\"]", escape_sd(&unit)),
        None => "-".to_owned(),
    };
    let mut line = format!(
        "<{}>1 {time} {host} {app} {pid} - {sd} ",
        facility * 8 + severity
    )
    .into_bytes();
    line.extend_from_slice(&field("MESSAGE").unwrap_or_default());
    Ok(Entry {
        cursor,
        seqnum_id,
        seqnum,
        line,
    })
}

/// A field's bytes: a string, an array of byte values, or (repeated field)
/// the first of an array of those. `null` (a value journalctl would not
/// print) is absent.
fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Array(items) if items.iter().all(Value::is_u64) => Some(
            items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| b as u8)
                .collect(),
        ),
        Value::Array(items) => items.first().and_then(bytes_of),
        _ => None,
    }
}

/// A header field of RFC 5424: printable ASCII without spaces, at most `max`
/// bytes; `-` when absent or empty. Other bytes become `_`.
fn header_field(v: Option<&str>, max: usize) -> String {
    let v = v.unwrap_or("").trim();
    if v.is_empty() {
        return "-".into();
    }
    v.bytes()
        .take(max)
        .map(|b| if b.is_ascii_graphic() { b as char } else { '_' })
        .collect()
}

/// RFC 5424 PARAM-VALUE escaping: `"`, `\` and `]` get a backslash.
pub fn escape_sd(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURSOR: &str = "s=0123abcd;i=1f;b=bb;m=11;t=5e0;x=99";

    fn line(json: &str) -> String {
        String::from_utf8(parse(json.as_bytes(), "agenthost").unwrap().line).unwrap()
    }

    #[test]
    fn full_entry_becomes_an_rfc5424_line_with_the_unit() {
        let e = parse(
            format!(
                r#"{{"__CURSOR":"{CURSOR}","__REALTIME_TIMESTAMP":"1795597200123456","_HOSTNAME":"web1","SYSLOG_IDENTIFIER":"sshd","_PID":"42","PRIORITY":"3","SYSLOG_FACILITY":"4","_SYSTEMD_UNIT":"ssh.service","MESSAGE":"Failed password"}}"#
            )
            .as_bytes(),
            "x",
        )
        .unwrap();
        assert_eq!((e.seqnum_id.as_str(), e.seqnum), ("0123abcd", 0x1f));
        assert_eq!(
            String::from_utf8(e.line).unwrap(),
            "<35>1 2026-11-25T09:00:00.123456Z web1 sshd 42 - [journal@32473 unit=\"ssh.service\"] Failed password"
        );
    }

    #[test]
    fn absent_fields_are_dashes_and_facility_defaults_to_user() {
        // A kernel-less, identifier-less entry must still be a valid line.
        let l = line(&format!(r#"{{"__CURSOR":"{CURSOR}","MESSAGE":"hi"}}"#));
        assert_eq!(l, "<14>1 - agenthost - - - - hi");
        let l = line(&format!(
            r#"{{"__CURSOR":"{CURSOR}","_COMM":"my prog","MESSAGE":"x"}}"#
        ));
        assert!(l.contains(" my_prog - - - x"), "{l}");
    }

    #[test]
    fn binary_and_repeated_fields() {
        // Binary MESSAGE bytes must arrive unchanged; a repeated field
        // gives its first value.
        let e = parse(
            format!(
                r#"{{"__CURSOR":"{CURSOR}","MESSAGE":[104,0,255,10,105],"SYSLOG_IDENTIFIER":["a","b"]}}"#
            )
            .as_bytes(),
            "h",
        )
        .unwrap();
        assert!(e.line.ends_with(b" a - - - h\0\xff\ni"), "{:?}", e.line);
    }

    #[test]
    fn syslog_transport_takes_the_pid_the_sender_wrote() {
        // rsyslog's copy of the entry has the pid the line had, or none;
        // the two copies must agree to be stored once.
        let l = line(&format!(
            r#"{{"__CURSOR":"{CURSOR}","_TRANSPORT":"syslog","_PID":"9","SYSLOG_IDENTIFIER":"root","MESSAGE":"m"}}"#
        ));
        assert!(l.contains(" root - - - m"), "{l}");
        let l = line(&format!(
            r#"{{"__CURSOR":"{CURSOR}","_TRANSPORT":"syslog","_PID":"9","SYSLOG_PID":"7","SYSLOG_IDENTIFIER":"x","MESSAGE":"m"}}"#
        ));
        assert!(l.contains(" x 7 - - m"), "{l}");
        let l = line(&format!(
            r#"{{"__CURSOR":"{CURSOR}","_TRANSPORT":"journal","_PID":"9","SYSLOG_IDENTIFIER":"x","MESSAGE":"m"}}"#
        ));
        assert!(l.contains(" x 9 - - m"), "{l}");
    }

    #[test]
    fn sd_values_are_escaped() {
        let l = line(&format!(
            r#"{{"__CURSOR":"{CURSOR}","_SYSTEMD_UNIT":"a\"b\\c]d","MESSAGE":"m"}}"#
        ));
        assert!(l.contains(r#"[journal@32473 unit="a\"b\\c\]d"]"#), "{l}");
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert!(matches!(parse(b"{", "h"), Err(BadEntry::Json(_))));
        assert!(matches!(parse(b"[1]", "h"), Err(BadEntry::Json(_))));
        assert_eq!(parse(b"{}", "h"), Err(BadEntry::NoCursor));
        assert!(matches!(
            parse(br#"{"__CURSOR":"b=1"}"#, "h"),
            Err(BadEntry::Cursor(_))
        ));
    }
}
