//! The properties the fuzz targets check (`fuzz/`, run with `fuzz/run`),
//! kept here so that the unit tests check them too, on every input of the
//! fuzzers' corpus (`fuzz/corpus/TARGET/`, replayed by this module's
//! tests). Each function panics when its property breaks; a fuzzer takes
//! the panic for a crash.
//!
//! - [`wire`]: the agent–collector codec (`crate::wire`) never panics on
//!   any bytes, never claims more bytes than it has, and what it decodes
//!   encodes back to a frame that decodes the same; a decoded HELLO's
//!   names are tokens and a decoded BATCH's records keep the span rules.
//! - [`syslog`]: a line of any bytes becomes a [`Record`] (the parser in
//!   `crate::parse` through [`Record::from_line`]) that keeps the line's
//!   bytes and says whether they were valid UTF-8.
//! - [`framing`]: the RFC 6587 decoder (`crate::syslog_framing`) gives the
//!   same messages however the bytes are split into reads, never more
//!   bytes than it was given, and none longer than its maximum.

use crate::record::{flags, Origin, Record};
use crate::syslog_framing::{Decoder, Frame};
use crate::wire;

/// The largest frame the wire target accepts: small, so that the fuzzer's
/// inputs can reach the limit.
const WIRE_MAX_FRAME: u32 = 1 << 16;

/// The decoder's maximum in the framing target: small, for the same
/// reason.
const FRAMING_MAX: usize = 64;

/// Frames at the front of `data`, one after another, until a frame is
/// incomplete or an error stops the connection (as collectord does).
pub fn wire(data: &[u8]) {
    let mut rest = data;
    loop {
        let n = match wire::check(rest, WIRE_MAX_FRAME) {
            Ok(Some(n)) => n,
            Ok(None) | Err(_) => return,
        };
        assert!(n >= 5 && n <= rest.len(), "check claimed {n} bytes");
        let (frame, next) = rest.split_at(n);
        if let Ok(decoded) = wire::Frame::decode(frame) {
            check_decoded(&decoded);
            let mut again = Vec::new();
            // Encoding refuses only strings over u16::MAX bytes, which a
            // decoded frame cannot hold.
            decoded.encode(&mut again).expect("a decoded frame encodes");
            let back = wire::Frame::decode(&again).expect("an encoded frame decodes");
            assert_eq!(back, decoded, "decode(encode(frame)) differs");
        }
        rest = next;
    }
}

/// What a decoded frame may hold: HELLO names that are tokens
/// (`wire::check_name`: nothing that breaks a log line or drives a
/// terminal) and records whose offset and span a stream can have
/// (`wire::check_record`: nothing that moves a high-water mark past a real
/// agent's next lines).
fn check_decoded(frame: &wire::Frame) {
    match frame {
        wire::Frame::Hello { agent_id, host, .. } => {
            for name in [agent_id, host] {
                assert!(wire::check_name(name).is_ok(), "HELLO name {name:?}");
                assert!(
                    crate::text::is_clean(name.as_bytes()) && !name.contains(['\t', ' ']),
                    "HELLO name {name:?} is not a token"
                );
            }
        }
        wire::Frame::Batch { streams, .. } => {
            for s in streams {
                for r in &s.records {
                    assert!(r.end > r.offset && r.end <= wire::MAX_END, "{r:?}");
                    let span = r.end - r.offset;
                    assert!(
                        wire::check_record(&s.path, r.offset, span, r.flags, r.line.len()).is_ok(),
                        "{r:?} in {}",
                        s.path
                    );
                }
            }
        }
        _ => {}
    }
}

/// One line, with the clock and zone taken from its first bytes so that
/// the fuzzer explores the year guessing and zones too.
pub fn syslog(data: &[u8]) {
    let (clock, line) = match data.split_first_chunk::<6>() {
        Some((head, line)) => (*head, line),
        None => ([0; 6], data),
    };
    // Any second from 1970 to 2106, any zone within ±18 hours.
    let receive_time_ms =
        i64::from(u32::from_be_bytes([clock[0], clock[1], clock[2], clock[3]])) * 1000;
    let utc_offset_secs = i32::from(i16::from_be_bytes([clock[4], clock[5]])) * 2 % 64_800;
    let origin = Origin {
        agent: "fuzz",
        host: "fuzz-host",
        path: "/fuzz",
        stream: 1,
        utc_offset_secs,
        receive_time_ms,
    };
    let record = Record::from_line(&origin, 0, 0, line.to_vec());
    assert_eq!(record.raw, line, "the raw line must be kept as it was");
    assert_eq!(
        record.has(flags::INVALID_UTF8),
        std::str::from_utf8(line).is_err(),
        "INVALID_UTF8 must say whether the bytes are UTF-8"
    );
    assert!(!record.host.is_empty(), "a record always has a host");
}

/// The bytes decoded in one read, then split into reads at points taken
/// from the first byte (and one byte per read): the same messages each
/// time.
pub fn framing(data: &[u8]) {
    let (step, bytes) = match data.split_first() {
        Some((&s, rest)) => (usize::from(s).max(1), rest),
        None => (1, data),
    };
    let whole = decode(&[bytes]);
    let chunks: Vec<&[u8]> = bytes.chunks(step).collect();
    assert_eq!(decode(&chunks), whole, "reads of {step} bytes");
    let single: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&single), whole, "reads of one byte");
    let total: usize = whole.iter().map(|f| f.bytes.len()).sum();
    assert!(total <= bytes.len(), "more message bytes than read");
    for f in &whole {
        assert!(f.bytes.len() <= FRAMING_MAX, "a message over the maximum");
        assert!(!f.bytes.is_empty(), "an empty message");
    }
}

fn decode(reads: &[&[u8]]) -> Vec<Frame> {
    let mut d = Decoder::new(FRAMING_MAX);
    let mut out = Vec::new();
    for r in reads {
        d.push(r);
        while let Some(f) = d.next_frame() {
            out.push(f);
        }
    }
    out.extend(d.finish());
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every input of a target's corpus, and of its crashes kept as
    /// regressions (`fuzz/regressions/TARGET/`).
    fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut out = Vec::new();
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
        out.sort();
        out
    }

    fn replay(target: &str, check: fn(&[u8])) {
        let inputs = inputs(target);
        // The corpus is committed: an empty one means it was lost.
        assert!(!inputs.is_empty(), "no corpus for the {target} target");
        for (path, bytes) in inputs {
            let run = std::panic::catch_unwind(|| check(&bytes));
            assert!(run.is_ok(), "{} fails", path.display());
        }
    }

    /// A frame that once crashed the collector's reader, or any input the
    /// fuzzer found interesting, would crash a connection again.
    #[test]
    fn wire_corpus() {
        replay("wire", super::wire);
    }

    /// A line that once panicked the parser would stop ingest again.
    #[test]
    fn syslog_corpus() {
        replay("syslog", super::syslog);
    }

    /// A read pattern that once lost or invented syslog messages would
    /// again.
    #[test]
    fn framing_corpus() {
        replay("framing", super::framing);
    }
}
