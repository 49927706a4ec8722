//! How lines are printed: the short, raw and JSON formats, colour, match
//! highlighting, and escaping for terminals.
//!
//! Nothing from a log line reaches the output unescaped except in `raw`
//! output into a pipe or file: a log line must not be able to drive the
//! operator's terminal. Colour codes are written only between escaped
//! pieces, never inside one.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::ops::Range;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset, Local};
use logcore::record::{flags, line_text, Record};
use regex::{Regex, RegexBuilder};

use crate::cli::{ColorChoice, Output};

/// Whether a record is a match or a line of context around one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Match,
    Context,
}

/// Whether to colour: `always` and `never` as they say (an explicit flag
/// beats `NO_COLOR`, as no-color.org asks); `auto` on a terminal, unless
/// `NO_COLOR` is set to something or `TERM` is `dumb`.
pub fn use_color(
    choice: ColorChoice,
    stdout_is_terminal: bool,
    no_color: Option<&OsStr>,
    term: Option<&OsStr>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            stdout_is_terminal
                && no_color.is_none_or(OsStr::is_empty)
                && term.is_none_or(|t| t != "dumb")
        }
    }
}

// The colours (SGR sequences). Modest on purpose: matches as grep shows them.
const RESET: &str = "\x1b[0m";
const MATCH: &str = "\x1b[1;31m";
const HOST: &str = "\x1b[1m";
const ANOMALY: &str = "\x1b[1;35m";
const SEVERE: &str = "\x1b[31m";
const WARNING: &str = "\x1b[33m";

/// The short format's time stamp, as syslog and journalctl write it.
const SHORT_TIME: &str = "%b %e %H:%M:%S";

/// What a line is searched for, compiled to find the pieces to highlight.
#[derive(Debug, Clone)]
pub struct Highlight {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    re: Regex,
    /// The match must not be preceded by a letter or digit.
    word_start: bool,
    /// The match must not be followed by a letter or digit.
    word_end: bool,
}

impl Pattern {
    fn fits(&self, text: &str, m: &Range<usize>) -> bool {
        let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let glued_before = self.word_start && alnum(text[..m.start].chars().next_back());
        let glued_after = self.word_end && alnum(text[m.end..].chars().next());
        !glued_before && !glued_after
    }
}

impl Highlight {
    /// Words match whole (not inside a longer run of letters and digits),
    /// phrases with any run of whitespace between their words, prefixes
    /// (with or without their `*`) at the start of a word and highlight the
    /// whole word, regexes as given. All but `case_sensitive` ignore case.
    pub fn new(
        words: &[String],
        phrases: &[String],
        prefixes: &[String],
        regexes: &[String],
        case_sensitive: bool,
    ) -> Result<Highlight> {
        let build = |re: &str| {
            RegexBuilder::new(re)
                .case_insensitive(!case_sensitive)
                .build()
        };
        let starts_alnum = |s: &str| s.chars().next().is_some_and(char::is_alphanumeric);
        let ends_alnum = |s: &str| s.chars().next_back().is_some_and(char::is_alphanumeric);
        let mut patterns = Vec::new();
        for text in words.iter().chain(phrases) {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let re: Vec<String> = text.split_whitespace().map(regex::escape).collect();
            patterns.push(Pattern {
                re: build(&re.join(r"\s+")).context("a literal always compiles")?,
                word_start: starts_alnum(text),
                word_end: ends_alnum(text),
            });
        }
        for prefix in prefixes {
            let prefix = prefix.trim();
            let prefix = prefix.strip_suffix('*').unwrap_or(prefix);
            if prefix.is_empty() {
                continue;
            }
            let re = format!(r"{}[\p{{Alphabetic}}\p{{N}}]*", regex::escape(prefix));
            patterns.push(Pattern {
                re: build(&re).context("a literal always compiles")?,
                word_start: starts_alnum(prefix),
                word_end: false,
            });
        }
        for re in regexes {
            patterns.push(Pattern {
                re: build(re).with_context(|| format!("invalid regular expression {re:?}"))?,
                word_start: false,
                word_end: false,
            });
        }
        Ok(Highlight { patterns })
    }

    /// Highlights nothing.
    pub fn none() -> Highlight {
        Highlight {
            patterns: Vec::new(),
        }
    }

    /// Byte ranges of `text` to highlight, sorted, non-overlapping (merged).
    pub fn spans(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for p in &self.patterns {
            let mut at = 0;
            while let Some(m) = p.re.find_at(text, at) {
                let m = m.range();
                if !m.is_empty() && p.fits(text, &m) {
                    at = m.end;
                    spans.push(m);
                } else {
                    // A word inside a longer word: a later match may still
                    // start inside this one (`aa` in `aaa aa`).
                    match text[m.start..].chars().next() {
                        Some(c) => at = m.start + c.len_utf8(),
                        None => break,
                    }
                }
            }
        }
        spans.sort_unstable_by_key(|s| (s.start, s.end));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
        for s in spans {
            match merged.last_mut() {
                Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
                _ => merged.push(s),
            }
        }
        merged
    }
}

/// Prints records in one format.
pub struct Printer<W: Write> {
    out: W,
    format: Output,
    color: bool,
    escape_raw: bool,
    highlight: Highlight,
    /// The short format's time zone: the local one unless a test fixes it.
    zone: Option<FixedOffset>,
    json: Vec<u8>,
    /// The last minute formatted for the short format, and its text up to
    /// the seconds: consecutive lines mostly share it, and formatting is
    /// costly. (Every time zone in use is whole minutes off UTC.)
    time: Option<(i64, Vec<u8>)>,
}

impl<W: Write> Printer<W> {
    /// `color` applies to the short format only; `escape_raw` (stdout is a
    /// terminal) makes raw output escape control characters as short does.
    pub fn new(
        out: W,
        format: Output,
        color: bool,
        escape_raw: bool,
        highlight: Highlight,
    ) -> Self {
        Printer {
            out,
            format,
            color,
            escape_raw,
            highlight,
            zone: None,
            json: Vec::new(),
            time: None,
        }
    }

    /// A printer of the same format, colour and highlights into `out`
    /// (for formatting on another thread; its bytes go through
    /// [`Printer::write_formatted`] of this one).
    pub fn sibling<V: Write>(&self, out: V) -> Printer<V> {
        Printer {
            out,
            format: self.format,
            color: self.color,
            escape_raw: self.escape_raw,
            highlight: self.highlight.clone(),
            zone: self.zone,
            json: Vec::new(),
            time: None,
        }
    }

    /// What this printer wrote since the last call, its writer left empty.
    pub fn take(&mut self) -> W
    where
        W: Default,
    {
        std::mem::take(&mut self.out)
    }

    /// Bytes written so far into a printer of bytes.
    pub fn written(&self) -> usize
    where
        W: AsRef<[u8]>,
    {
        self.out.as_ref().len()
    }

    /// Writes what a sibling printer formatted.
    pub fn write_formatted(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Short-format times in `zone` instead of the local time zone.
    #[cfg(test)]
    fn in_zone(mut self, zone: FixedOffset) -> Self {
        self.zone = Some(zone);
        self
    }

    /// Prints one record and its newline.
    pub fn record(&mut self, r: &Record, kind: LineKind) -> io::Result<()> {
        match self.format {
            Output::Short => self.short(r, kind),
            Output::Raw => {
                if self.escape_raw {
                    write_escaped(&mut self.out, &r.raw)?;
                } else {
                    self.out.write_all(&r.raw)?;
                }
                self.out.write_all(b"\n")
            }
            Output::Json => self.json(r, kind),
        }
    }

    /// The `--` line between groups of context that are not adjacent;
    /// nothing in JSON output (each object says whether it is a match).
    pub fn separator(&mut self) -> io::Result<()> {
        match self.format {
            Output::Short | Output::Raw => self.out.write_all(b"--\n"),
            Output::Json => Ok(()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// `[! ]TIME HOST PROGRAM[PID]: MESSAGE`, or `[! ]TIME HOST LINE` for a
    /// line without a syslog header.
    fn short(&mut self, r: &Record, kind: LineKind) -> io::Result<()> {
        let color = self.color;
        let out = &mut self.out;
        if r.has(flags::ANOMALY) {
            if color {
                write!(out, "{ANOMALY}!{RESET} ")?;
            } else {
                out.write_all(b"! ")?;
            }
        }
        let minute = r.event_time_ms.div_euclid(60_000);
        if DateTime::from_timestamp_millis(r.event_time_ms).is_none() {
            write_short_time(out, r.event_time_ms, self.zone)?;
        } else {
            if self.time.as_ref().is_none_or(|t| t.0 != minute) {
                let mut text = Vec::with_capacity(16);
                write_short_time(&mut text, r.event_time_ms, self.zone)?;
                text.truncate(text.len().saturating_sub(2));
                self.time = Some((minute, text));
            }
            out.write_all(&self.time.as_ref().expect("set above").1)?;
            let second = r.event_time_ms.div_euclid(1000).rem_euclid(60) as u8;
            out.write_all(&[b'0' + second / 10, b'0' + second % 10])?;
        }
        out.write_all(b" ")?;
        write_styled(out, r.host.as_bytes(), &[], color.then_some(HOST))?;
        out.write_all(b" ")?;
        // The text, and the same decoded lossily (what highlights look at).
        let (text, lossy): (&[u8], Cow<'_, str>) = if r.has(flags::UNPARSED) {
            (&r.raw, line_text(&r.raw))
        } else {
            if let Some(program) = &r.program {
                write_escaped(out, program.as_bytes())?;
                if let Some(pid) = r.pid {
                    write!(out, "[{pid}]")?;
                }
                out.write_all(b": ")?;
            }
            (message_bytes(r), Cow::Borrowed(r.message.as_str()))
        };
        if !color {
            write_escaped(out, text)?;
        } else {
            let spans = match kind {
                LineKind::Match => self.highlight.spans(&lossy),
                LineKind::Context => Vec::new(),
            };
            let base = match r.severity {
                Some(0..=3) => Some(SEVERE),
                Some(4) => Some(WARNING),
                _ => None,
            };
            write_styled(out, text, &spans, base)?;
        }
        out.write_all(b"\n")
    }

    fn json(&mut self, r: &Record, kind: LineKind) -> io::Result<()> {
        let line = logcore::json::Line::of(r, kind == LineKind::Match);
        self.json.clear();
        serde_json::to_writer(&mut self.json, &line)?;
        logcore::json::write_for_terminal(&mut self.out, &self.json)?;
        self.out.write_all(b"\n")
    }
}

pub fn write_short_time(
    out: &mut impl Write,
    ms: i64,
    zone: Option<FixedOffset>,
) -> io::Result<()> {
    let Some(utc) = DateTime::from_timestamp_millis(ms) else {
        return write!(out, "@{}", ms.div_euclid(1000));
    };
    match zone {
        None => write!(out, "{}", utc.with_timezone(&Local).format(SHORT_TIME)),
        Some(z) => write!(out, "{}", utc.with_timezone(&z).format(SHORT_TIME)),
    }
}

/// The bytes of the raw line that became `r.message`, so that the short
/// format shows invalid bytes as `\xff`, not as U+FFFD. The message is a
/// piece of the line decoded lossily (the rest of it, for syslog); when it
/// cannot be found there, the message itself.
fn message_bytes(r: &Record) -> &[u8] {
    if r.raw.ends_with(r.message.as_bytes()) {
        return &r.raw[r.raw.len() - r.message.len()..];
    }
    let lossy = line_text(&r.raw);
    match lossy.rfind(r.message.as_str()) {
        Some(start) => {
            let (s, e) = (start, start + r.message.len());
            &r.raw[lossy_to_raw(&r.raw, s)..lossy_to_raw(&r.raw, e)]
        }
        None => r.message.as_bytes(),
    }
}

/// The offset in `raw` of byte `lossy` of `String::from_utf8_lossy(raw)`,
/// which puts one U+FFFD (3 bytes) for each invalid sequence. An offset
/// inside a U+FFFD gives the end of its sequence.
fn lossy_to_raw(raw: &[u8], lossy: usize) -> usize {
    let (mut l, mut r) = (0, 0);
    for chunk in raw.utf8_chunks() {
        let valid = chunk.valid().len();
        if lossy <= l + valid {
            return r + (lossy - l);
        }
        l += valid;
        r += valid;
        if !chunk.invalid().is_empty() {
            l += char::REPLACEMENT_CHARACTER.len_utf8();
            r += chunk.invalid().len();
            if lossy <= l {
                return r;
            }
        }
    }
    raw.len()
}

/// Writes `raw` escaped, in colour `base` (none: plain) with `spans` (byte
/// ranges of `raw` decoded lossily) as matches. Colour codes surround whole
/// escaped pieces.
fn write_styled(
    out: &mut impl Write,
    raw: &[u8],
    spans: &[Range<usize>],
    base: Option<&str>,
) -> io::Result<()> {
    let utf8 = std::str::from_utf8(raw).is_ok();
    let to_raw = |lossy: usize| {
        if utf8 {
            lossy.min(raw.len())
        } else {
            lossy_to_raw(raw, lossy)
        }
    };
    let mut at = 0;
    for span in spans {
        let start = to_raw(span.start).max(at);
        let end = to_raw(span.end).max(start);
        write_piece(out, &raw[at..start], base)?;
        write_piece(out, &raw[start..end], Some(MATCH))?;
        at = end;
    }
    write_piece(out, &raw[at..], base)
}

fn write_piece(out: &mut impl Write, raw: &[u8], style: Option<&str>) -> io::Result<()> {
    match style {
        _ if raw.is_empty() => Ok(()),
        None => write_escaped(out, raw),
        Some(style) => {
            out.write_all(style.as_bytes())?;
            write_escaped(out, raw)?;
            out.write_all(RESET.as_bytes())
        }
    }
}

/// Control characters and invalid UTF-8 escaped, so that log text cannot
/// drive the terminal.
pub use logcore::text::write_escaped;

#[cfg(test)]
mod tests {
    use super::*;
    use logcore::Origin;

    /// 2026-11-24T22:20:02.250Z, a moment after the lines' stamps.
    const RECEIVED: i64 = 1_795_558_802_250;

    fn record(line: &[u8]) -> Record {
        let origin = Origin {
            agent: "agent1",
            host: "agenthost",
            path: "/var/log/syslog",
            stream: 7,
            utc_offset_secs: 0,
            receive_time_ms: RECEIVED,
        };
        Record::from_line(&origin, 42, 0, line.to_vec())
    }

    /// `<34>` is auth.crit.
    const SSHD: &[u8] =
        b"<34>Nov 24 22:20:01 web1 sshd[812]: Failed password for root from 203.0.113.9";

    fn print_as(
        format: Output,
        color: bool,
        escape_raw: bool,
        highlight: Highlight,
        r: &Record,
        kind: LineKind,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut p = Printer::new(&mut out, format, color, escape_raw, highlight)
            .in_zone(FixedOffset::east_opt(0).unwrap());
        p.record(r, kind).unwrap();
        p.flush().unwrap();
        out
    }

    fn short(r: &Record) -> String {
        let out = print_as(
            Output::Short,
            false,
            true,
            Highlight::none(),
            r,
            LineKind::Match,
        );
        String::from_utf8(out).unwrap()
    }

    fn colored(r: &Record, highlight: Highlight, kind: LineKind) -> String {
        String::from_utf8(print_as(Output::Short, true, true, highlight, r, kind)).unwrap()
    }

    fn json(r: &Record, kind: LineKind) -> String {
        let out = print_as(Output::Json, true, true, Highlight::none(), r, kind);
        String::from_utf8(out).unwrap()
    }

    fn words(words: &[&str]) -> Highlight {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Highlight::new(&words, &[], &[], &[], false).unwrap()
    }

    fn spans<'a>(h: &Highlight, text: &'a str) -> Vec<&'a str> {
        h.spans(text).into_iter().map(|s| &text[s]).collect()
    }

    #[test]
    fn short_is_a_syslog_line_with_the_host() {
        let mut r = record(SSHD);
        assert_eq!(
            short(&r),
            "Nov 24 22:20:01 web1 sshd[812]: Failed password for root from 203.0.113.9\n"
        );
        r.pid = None;
        assert!(short(&r).starts_with("Nov 24 22:20:01 web1 sshd: Failed"));
        r.program = None;
        assert!(short(&r).starts_with("Nov 24 22:20:01 web1 Failed"));
        // Days below 10 are space-padded, as syslog writes them.
        let r = record(b"<14>Nov  4 09:05:00 web1 cron: x");
        assert_eq!(short(&r), "Nov  4 09:05:00 web1 cron: x\n");
    }

    #[test]
    fn unparsed_lines_show_time_host_and_the_whole_line() {
        let r = record(b"no header here: just text");
        assert!(r.has(flags::UNPARSED));
        assert_eq!(
            short(&r),
            "Nov 24 22:20:02 agenthost no header here: just text\n"
        );
    }

    #[test]
    fn anomalies_are_marked_in_short_output() {
        let mut r = record(SSHD);
        r.flags |= flags::ANOMALY;
        assert!(short(&r).starts_with("! Nov 24 22:20:01 web1 sshd[812]:"));
        assert!(colored(&r, Highlight::none(), LineKind::Match)
            .starts_with("\x1b[1;35m!\x1b[0m Nov 24 22:20:01 "));
        let j: serde_json::Value = serde_json::from_str(&json(&r, LineKind::Match)).unwrap();
        assert_eq!(j["anomaly"], true);
        assert_eq!(j["flags"], serde_json::json!(["anomaly"]));
        assert_eq!(j["anomaly_reason"], serde_json::Value::Null);
        assert!(!short(&record(SSHD)).starts_with('!'));
    }

    #[test]
    fn json_carries_the_anomaly_reason_and_short_output_does_not() {
        // `logq --anomalies -o json | jq .anomaly_reason` must say why the
        // detector flagged a line; short output stays the line (grep-like).
        let reason = "failed-login-burst ip=203.0.113.9: 12 failed logins in 41 s \
                      (threshold 5 in 10 min) [a3f9]";
        let mut r = record(SSHD);
        r.flags |= flags::ANOMALY;
        r.anomaly = Some(reason.to_owned());
        let j: serde_json::Value = serde_json::from_str(&json(&r, LineKind::Match)).unwrap();
        assert_eq!(j["anomaly"], true);
        assert_eq!(j["anomaly_reason"], reason);
        assert_eq!(
            short(&r),
            "! Nov 24 22:20:01 web1 sshd[812]: Failed password for root from 203.0.113.9\n"
        );
    }

    #[test]
    fn control_bytes_and_invalid_utf8_are_escaped_except_raw_into_a_pipe() {
        // A log line must not clear or recolour the operator's terminal.
        let raw = b"<14>Nov 24 22:20:01 web1 app: a\x1b[2J \xff end\x07";
        let r = record(raw);
        assert_eq!(
            short(&r),
            "Nov 24 22:20:01 web1 app: a\\e[2J \\xff end\\x07\n"
        );
        let unparsed = record(b"\x1b]0;owned\x07 \xfe");
        assert_eq!(
            short(&unparsed),
            "Nov 24 22:20:02 agenthost \\e]0;owned\\x07 \\xfe\n"
        );
        let pipe = print_as(Output::Raw, true, false, words(&["a"]), &r, LineKind::Match);
        assert_eq!(
            pipe,
            [&raw[..], b"\n"].concat(),
            "raw must be byte for byte"
        );
        let tty = print_as(Output::Raw, true, true, words(&["a"]), &r, LineKind::Match);
        assert_eq!(
            String::from_utf8(tty).unwrap(),
            "<14>Nov 24 22:20:01 web1 app: a\\e[2J \\xff end\\x07\n"
        );
        let j = json(&r, LineKind::Match);
        assert!(!j.bytes().any(|b| b == 0x1b || b == 0x07), "{j}");
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(
            v["line"],
            "<14>Nov 24 22:20:01 web1 app: a\x1b[2J \u{fffd} end\x07"
        );
        assert_eq!(v["line_base64"], logcore::json::base64(raw));
        assert_eq!(v["flags"], serde_json::json!(["invalid_utf8", "control"]));
    }

    #[test]
    fn json_has_every_field_in_order() {
        let r = record(SSHD);
        let j = json(&r, LineKind::Match);
        assert!(j.ends_with("}\n") && j.matches('\n').count() == 1, "{j}");
        let keys = [
            "time",
            "receive_time",
            "host",
            "program",
            "pid",
            "unit",
            "facility",
            "severity",
            "message",
            "line",
            "agent",
            "path",
            "stream",
            "offset",
            "flags",
            "anomaly",
            "anomaly_reason",
            "match",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|k| {
                j.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k} in {j}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{j}");
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(
            v.as_object().unwrap().len(),
            keys.len(),
            "no line_base64: {j}"
        );
        let expected = serde_json::json!({
            "time": "2026-11-24T22:20:01.000Z",
            "receive_time": "2026-11-24T22:20:02.250Z",
            "host": "web1",
            "program": "sshd",
            "pid": 812,
            "unit": null,
            "facility": "auth",
            "severity": "crit",
            "message": "Failed password for root from 203.0.113.9",
            "line": std::str::from_utf8(SSHD).unwrap(),
            "agent": "agent1",
            "path": "/var/log/syslog",
            "stream": 7,
            "offset": 42,
            "flags": [],
            "anomaly": false,
            "anomaly_reason": null,
            "match": true,
        });
        assert_eq!(v, expected);
        let v: serde_json::Value =
            serde_json::from_str(&json(&record(b"bare"), LineKind::Context)).unwrap();
        assert_eq!(v["match"], false);
        assert_eq!(v["program"], serde_json::Value::Null);
        assert_eq!(v["pid"], serde_json::Value::Null);
        assert_eq!(v["severity"], serde_json::Value::Null);
        assert_eq!(v["flags"], serde_json::json!(["unparsed"]));
    }

    #[test]
    fn json_escapes_c1_controls_and_del() {
        // serde_json leaves U+009B (CSI) as UTF-8, which some terminals obey.
        let r = record("<14>Nov 24 22:20:01 web1 app: x\u{9b}2Jy\x7f".as_bytes());
        let j = json(&r, LineKind::Match);
        assert!(j.contains(r"x\u009b2Jy\u007f"), "{j}");
        assert!(!j.contains('\u{9b}') && !j.contains('\x7f'), "{j}");
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["message"], "x\u{9b}2Jy\x7f");
    }

    #[test]
    fn colour_marks_host_severity_and_matches() {
        let r = record(SSHD);
        assert_eq!(
            colored(&r, words(&["password"]), LineKind::Match),
            "Nov 24 22:20:01 \x1b[1mweb1\x1b[0m sshd[812]: \x1b[31mFailed \x1b[0m\
             \x1b[1;31mpassword\x1b[0m\x1b[31m for root from 203.0.113.9\x1b[0m\n"
        );
        // Context lines are never highlighted.
        assert_eq!(
            colored(&r, words(&["password"]), LineKind::Context),
            "Nov 24 22:20:01 \x1b[1mweb1\x1b[0m sshd[812]: \
             \x1b[31mFailed password for root from 203.0.113.9\x1b[0m\n"
        );
        let warning = record(b"<12>Nov 24 22:20:01 web1 app: disk 91% full");
        assert!(colored(&warning, Highlight::none(), LineKind::Match)
            .ends_with("app: \x1b[33mdisk 91% full\x1b[0m\n"));
        let info = record(b"<14>Nov 24 22:20:01 web1 app: fine");
        assert!(colored(&info, Highlight::none(), LineKind::Match).ends_with("app: fine\n"));
    }

    #[test]
    fn colour_codes_never_split_an_escape() {
        let r = record(b"<14>Nov 24 22:20:01 web1 app: a\x1b[2J \xff\xfe root");
        let h = Highlight::new(
            &["root".into()],
            &[],
            &[],
            &[r"\x1b\[2J".into(), "\u{fffd}".into()],
            false,
        )
        .unwrap();
        assert_eq!(
            colored(&r, h, LineKind::Match),
            "Nov 24 22:20:01 \x1b[1mweb1\x1b[0m app: a\x1b[1;31m\\e[2J\x1b[0m \
             \x1b[1;31m\\xff\\xfe\x1b[0m \x1b[1;31mroot\x1b[0m\n"
        );
    }

    #[test]
    fn no_colour_when_the_printer_is_built_without_it() {
        let mut r = record(b"<34>Nov 24 22:20:01 web1 sshd[1]: root \x1b x");
        r.flags |= flags::ANOMALY;
        for format in [Output::Short, Output::Raw, Output::Json] {
            let out = print_as(format, false, true, words(&["root"]), &r, LineKind::Match);
            assert!(!out.contains(&0x1b), "{format:?}: {out:?}");
        }
        // Raw and JSON are never coloured, even when asked.
        for format in [Output::Raw, Output::Json] {
            let out = print_as(format, true, true, words(&["root"]), &r, LineKind::Match);
            assert!(!out.contains(&0x1b), "{format:?}: {out:?}");
        }
    }

    #[test]
    fn separator_between_groups_but_not_in_json() {
        for (format, expected) in [
            (Output::Short, "--\n"),
            (Output::Raw, "--\n"),
            (Output::Json, ""),
        ] {
            let mut out = Vec::new();
            let mut p = Printer::new(&mut out, format, true, true, Highlight::none());
            p.separator().unwrap();
            p.flush().unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{format:?}");
        }
    }

    #[test]
    fn highlighted_words_are_whole_words() {
        // `root` must not light up inside `uproot` or `rooted`.
        let h = words(&["root"]);
        let text = "root rooted uproot root@web1 ROOT root_x root2";
        assert_eq!(
            h.spans(text),
            [0..4, 19..23, 29..33, 34..38],
            "{:?}",
            spans(&h, text)
        );
        let exact = Highlight::new(&["root".into()], &[], &[], &[], true).unwrap();
        assert_eq!(spans(&exact, "ROOT Root root"), ["root"]);
        // A rejected candidate does not hide a match that overlaps it.
        assert_eq!(spans(&words(&["aa"]), "aaa aa"), ["aa"]);
        assert_eq!(words(&["aa"]).spans("aaa aa")[0].start, 4);
        // Words that start or end with punctuation have no boundary there.
        assert_eq!(spans(&words(&["[812]:"]), "sshd[812]: x"), ["[812]:"]);
        assert_eq!(spans(&words(&["über"]), "Über-Nutzer"), ["Über"]);
    }

    #[test]
    fn highlighted_phrases_prefixes_and_regexes() {
        let phrase = Highlight::new(&[], &["failed password".into()], &[], &[], false).unwrap();
        assert_eq!(
            spans(&phrase, "Failed  \tpassword for x; failed passwords"),
            ["Failed  \tpassword"]
        );
        let prefix = Highlight::new(&[], &[], &["pass".into()], &[], false).unwrap();
        assert_eq!(
            spans(&prefix, "passwd Password bypass pass"),
            ["passwd", "Password", "pass"]
        );
        let starred = Highlight::new(&[], &[], &["nginx*".into()], &[], false).unwrap();
        assert_eq!(spans(&starred, "nginx-worker"), ["nginx"]);
        let re = |case_sensitive| {
            Highlight::new(&[], &[], &[], &[r"port (22|2222)\b".into()], case_sensitive).unwrap()
        };
        assert_eq!(
            spans(&re(false), "port 2222 PORT 22 port 22x"),
            ["port 2222", "PORT 22"]
        );
        assert_eq!(spans(&re(true), "port 2222 PORT 22"), ["port 2222"]);
        let err = Highlight::new(&[], &[], &[], &["(unclosed".into()], false).unwrap_err();
        assert!(format!("{err:#}").contains("(unclosed"), "{err:#}");
        // Empty patterns highlight nothing rather than everything.
        let empty = Highlight::new(
            &["".into()],
            &[" ".into()],
            &["*".into()],
            &["x*".into()],
            false,
        )
        .unwrap();
        assert!(empty.spans("abc").is_empty());
    }

    #[test]
    fn highlight_spans_are_sorted_and_merged() {
        let h = Highlight::new(
            &["bar".into(), "foo".into()],
            &["foo bar".into()],
            &[],
            &["o+".into()],
            false,
        )
        .unwrap();
        assert_eq!(h.spans("foo bar foo"), [0..7, 8..11]);
        assert!(Highlight::none().spans("foo").is_empty());
    }

    #[test]
    fn colour_only_where_it_is_wanted() {
        use ColorChoice::*;
        let os = |s: &'static str| Some(OsStr::new(s));
        let xterm = os("xterm-256color");
        // auto: on a terminal only, and NO_COLOR (non-empty) or TERM=dumb turn it off.
        assert!(use_color(Auto, true, None, xterm));
        assert!(use_color(Auto, true, None, None));
        assert!(use_color(Auto, true, os(""), xterm));
        assert!(!use_color(Auto, false, None, xterm));
        assert!(!use_color(Auto, true, os("1"), xterm));
        assert!(!use_color(Auto, true, None, os("dumb")));
        // An explicit flag wins over the environment.
        assert!(use_color(Always, false, os("1"), os("dumb")));
        assert!(!use_color(Never, true, None, xterm));
    }

    #[test]
    fn terminal_escapes_and_bad_bytes_are_shown_not_sent() {
        // A log line must not be able to recolour or clear the operator's terminal.
        let esc = |raw: &[u8]| {
            let mut out = Vec::new();
            write_escaped(&mut out, raw).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(esc(b"a\x1b[31mred"), "a\\e[31mred");
        assert_eq!(esc(b"nul\x00here"), "nul\\x00here");
        assert_eq!(esc(b"bad \xff\xfe end"), "bad \\xff\\xfe end");
        assert_eq!(esc("tab\tand ünïcode".as_bytes()), "tab\tand ünïcode");
    }
}
