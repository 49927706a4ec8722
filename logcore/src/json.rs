//! The JSON form of a line: one object per line, the same from `logq -o
//! json` and from collectord's HTTP API, so that a script reading either
//! sees the same document.

use std::borrow::Cow;
use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::record::{flags, Record, FACILITY_NAMES, SEVERITY_NAMES};

/// One line of `-o json`; the fields in the order they are printed.
#[derive(Serialize)]
pub struct Line<'a> {
    pub time: Option<String>,
    receive_time: Option<String>,
    host: &'a str,
    program: Option<&'a str>,
    pid: Option<u32>,
    /// The systemd unit of a journal entry; null for other lines.
    unit: Option<&'a str>,
    facility: Option<&'static str>,
    severity: Option<&'static str>,
    message: &'a str,
    line: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line_base64: Option<String>,
    agent: &'a str,
    path: &'a str,
    stream: u64,
    offset: u64,
    flags: Vec<&'static str>,
    anomaly: bool,
    /// The detector's explanation (`Record::anomaly`); null for other
    /// lines, and for an anomaly stored without one.
    anomaly_reason: Option<&'a str>,
    #[serde(rename = "match")]
    is_match: bool,
}

/// The names of [`Record::flags`] bits in JSON output.
const FLAG_NAMES: [(u32, &str); 6] = [
    (flags::TRUNCATED, "truncated"),
    (flags::PARTIAL, "partial"),
    (flags::UNPARSED, "unparsed"),
    (flags::INVALID_UTF8, "invalid_utf8"),
    (flags::CONTROL, "control"),
    (flags::ANOMALY, "anomaly"),
];

impl<'a> Line<'a> {
    /// The document of `r`; `is_match` says whether the line matched the
    /// query or is context around a match.
    pub fn of(r: &'a Record, is_match: bool) -> Line<'a> {
        let rfc3339 = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        };
        let utf8 = std::str::from_utf8(&r.raw).ok();
        Line {
            time: rfc3339(r.event_time_ms),
            receive_time: rfc3339(r.receive_time_ms),
            host: &r.host,
            program: r.program.as_deref(),
            pid: r.pid,
            unit: r.unit.as_deref(),
            facility: r
                .facility
                .and_then(|f| FACILITY_NAMES.get(usize::from(f)).copied()),
            severity: r
                .severity
                .and_then(|s| SEVERITY_NAMES.get(usize::from(s)).copied()),
            message: &r.message,
            line: match utf8 {
                Some(text) => Cow::Borrowed(text),
                None => String::from_utf8_lossy(&r.raw),
            },
            line_base64: utf8.is_none().then(|| base64(&r.raw)),
            agent: &r.agent,
            path: &r.path,
            stream: r.stream,
            offset: r.offset,
            flags: FLAG_NAMES
                .iter()
                .filter(|(bit, _)| r.has(*bit))
                .map(|(_, name)| *name)
                .collect(),
            anomaly: r.has(flags::ANOMALY),
            anomaly_reason: r.anomaly.as_deref(),
            is_match,
        }
    }
}

/// Writes serialized JSON with DEL and the C1 controls (U+0080..U+009F,
/// which some terminals obey) as `\u` escapes, which serde_json leaves
/// as they are. The same JSON value: outside strings JSON is ASCII.
pub fn write_for_terminal(out: &mut impl Write, json: &[u8]) -> io::Result<()> {
    let mut start = 0;
    let mut i = 0;
    while i < json.len() {
        let (len, code) = match json[i] {
            0x7f => (1, 0x7f),
            0xc2 if json.get(i + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) => (2, json[i + 1]),
            _ => {
                i += 1;
                continue;
            }
        };
        out.write_all(&json[start..i])?;
        write!(out, "\\u{code:04x}")?;
        i += len;
        start = i;
    }
    out.write_all(&json[start..])
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        for (raw, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), b64);
        }
        assert_eq!(base64(b"\xff\xfe\xfd"), "//79");
    }
}
