//! What a log line becomes once it reaches the collector.

use serde::{Deserialize, Serialize};

use crate::parse;
use crate::wire;

/// Bits of [`Record::flags`].
pub mod flags {
    /// The agent cut the line at its maximum length.
    pub const TRUNCATED: u32 = 0x01;
    /// The line had no newline when shipped (partial-line timeout).
    pub const PARTIAL: u32 = 0x02;
    /// No syslog header or known timestamp was found: host, program and
    /// event time are not from the line (the line is still stored whole).
    pub const UNPARSED: u32 = 0x04;
    /// The raw bytes are not valid UTF-8; the message holds a lossy copy
    /// (U+FFFD for each bad sequence), the raw line keeps the bytes.
    pub const INVALID_UTF8: u32 = 0x08;
    /// The line contains NUL or other control bytes (kept as they were).
    pub const CONTROL: u32 = 0x10;
    /// An anomaly detector flagged the line; [`super::Record::anomaly`]
    /// says why.
    pub const ANOMALY: u32 = 0x100;
}

/// Where a line came from and when it arrived: what the collector knows
/// besides the line itself.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub agent: &'a str,
    /// The agent's host name, used when the line names none.
    pub host: &'a str,
    pub path: &'a str,
    pub stream: u64,
    /// The agent's UTC offset, for timestamps written without a zone.
    pub utc_offset_secs: i32,
    /// Milliseconds since the epoch.
    pub receive_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When the line was read, milliseconds since the epoch.
    pub receive_time_ms: i64,
    /// When the line says it happened; the receive time when it says nothing.
    pub event_time_ms: i64,
    pub host: String,
    pub program: Option<String>,
    pub pid: Option<u32>,
    /// 0..=23 as in RFC 5424.
    pub facility: Option<u8>,
    /// 0 (emerg) ..= 7 (debug).
    pub severity: Option<u8>,
    pub message: String,
    /// The systemd unit of a journal entry (`_SYSTEMD_UNIT`), from the
    /// line's `journal@32473` structured data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The line exactly as read, without its newline.
    #[serde(with = "raw_bytes")]
    pub raw: Vec<u8>,
    pub agent: String,
    pub path: String,
    pub stream: u64,
    /// Where the line starts in its stream: with `agent` and `stream`, the
    /// line's identity (its sequence number).
    pub offset: u64,
    pub flags: u32,
    /// Why an anomaly detector flagged the line (with [`flags::ANOMALY`]),
    /// in one line: `failed-login-burst ip=203.0.113.9: 12 failed logins
    /// in 41 s (threshold 5 in 10 min) [a3f9]`. `None` for other lines.
    /// The index keeps it (see `logstore::schema`); `logq -o json` prints
    /// it as `anomaly_reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
}

impl Record {
    /// Builds the record for one shipped line. Never fails: a line that parses
    /// as nothing is kept whole and flagged [`flags::UNPARSED`].
    pub fn from_line(origin: &Origin<'_>, offset: u64, wire_flags: u8, raw: Vec<u8>) -> Record {
        let mut flags = 0;
        if wire_flags & wire::FLAG_TRUNCATED != 0 {
            flags |= flags::TRUNCATED;
        }
        if wire_flags & wire::FLAG_PARTIAL != 0 {
            flags |= flags::PARTIAL;
        }
        let text = line_text(&raw);
        if matches!(text, std::borrow::Cow::Owned(_)) {
            flags |= flags::INVALID_UTF8;
        }
        if raw.iter().any(|&b| b < 0x20 && b != b'\t') {
            flags |= flags::CONTROL;
        }
        let parsed = parse::parse_line(&text, origin.receive_time_ms, origin.utc_offset_secs);
        if parsed.unparsed {
            flags |= flags::UNPARSED;
        }
        Record {
            receive_time_ms: origin.receive_time_ms,
            event_time_ms: parsed.time_ms.unwrap_or(origin.receive_time_ms),
            host: parsed
                .host
                .map_or_else(|| origin.host.to_owned(), str::to_owned),
            program: parsed.program.map(str::to_owned),
            pid: parsed.pid,
            facility: parsed.facility,
            severity: parsed.severity,
            message: parsed.message.to_owned(),
            unit: parsed.unit,
            raw,
            agent: origin.agent.to_owned(),
            path: origin.path.to_owned(),
            stream: origin.stream,
            offset,
            flags,
            anomaly: None,
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// Raw lines are serialized as a string when they are UTF-8 and as an array
/// of bytes otherwise, so JSON output stays readable and lossless.
mod raw_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(raw) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_bytes(raw),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Raw::deserialize(d)? {
            Raw::Text(t) => t.into_bytes(),
            Raw::Bytes(b) => b,
        })
    }
}

/// Syslog severity names, as `logger -p` and journalctl spell them.
pub const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Syslog facility names (RFC 5424 numbering).
pub const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// How much of a record a reader fills in (the rest stays empty or `None`):
/// printing raw lines needs neither the strings of the index's columns nor
/// a parse of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Want {
    /// The line, the numbers and the flags: no strings, no parse.
    Line,
    /// All but `agent` and `path` (what a short line shows).
    Shown,
    /// Every field.
    All,
}

/// The lossily decoded line text: what the index's `message` field holds
/// and what queries match against. Valid UTF-8 is borrowed after
/// `str::from_utf8`'s check, which takes ASCII a word at a time;
/// `String::from_utf8_lossy` checks byte by byte (8.5% of a regex query
/// reading 10 million lines back).
pub fn line_text(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn line_text_is_what_from_utf8_lossy_makes(
            raw in proptest::collection::vec(
                proptest::prop_oneof![0x20u8..0x7f, proptest::num::u8::ANY],
                0..64,
            )
        ) {
            // The text queries match and the index holds: a faster decoding
            // that differed would find other lines than the index did.
            let fast = line_text(&raw);
            let lossy = String::from_utf8_lossy(&raw);
            proptest::prop_assert_eq!(&fast, &lossy);
            proptest::prop_assert_eq!(
                matches!(fast, std::borrow::Cow::Owned(_)),
                matches!(lossy, std::borrow::Cow::Owned(_))
            );
        }
    }

    fn origin() -> Origin<'static> {
        Origin {
            agent: "agent1",
            host: "agenthost",
            path: "/var/log/syslog",
            stream: 9,
            utc_offset_secs: 0,
            receive_time_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn garbage_is_kept_whole_and_flagged() {
        // An operator must find a line even when it has no syslog header.
        let raw = b"\xff\x00 not syslog at all".to_vec();
        let r = Record::from_line(&origin(), 5, 0, raw.clone());
        assert_eq!(r.raw, raw);
        assert!(r.has(flags::UNPARSED));
        assert!(r.has(flags::INVALID_UTF8));
        assert!(r.has(flags::CONTROL));
        assert_eq!(r.event_time_ms, r.receive_time_ms);
        assert_eq!(r.host, "agenthost");
        assert_eq!(r.offset, 5);
    }

    #[test]
    fn truncated_flag_survives() {
        let r = Record::from_line(&origin(), 0, wire::FLAG_TRUNCATED, b"x".to_vec());
        assert!(r.has(flags::TRUNCATED));
    }
}
