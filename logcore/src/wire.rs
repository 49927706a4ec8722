//! The agentd ↔ collectord wire protocol, version 1, without any I/O.
//!
//! `PROTOCOL.md` at the repository root is the normative description; this
//! module is its implementation. Every frame is
//!
//! ```text
//! u32 length (big endian, counts the type byte and the body) | u8 type | body
//! ```
//!
//! Readers call [`check`] on what they have buffered before decoding: it says
//! whether a whole frame is there, and rejects a header that claims more than
//! the reader's limit before a single body byte is buffered.

use thiserror::Error;

/// The protocol version this build speaks.
pub const VERSION: u16 = 1;
/// Every HELLO starts with these bytes, so a stray client is told apart from a
/// version mismatch.
pub const MAGIC: [u8; 4] = *b"LOGQ";
/// The largest frame a collector accepts unless configured otherwise.
pub const DEFAULT_MAX_FRAME: u32 = 16 * 1024 * 1024;
/// The largest HELLO a collector reads, header included: two names of at
/// most [`MAX_NAME`] bytes make a HELLO of at most 529 bytes, so a header
/// claiming more before HELLO is refused (ERROR [`code::TOO_LARGE`])
/// before anything is buffered for it.
pub const MAX_HELLO: u32 = 1024;

/// Frame type bytes.
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const WELCOME: u8 = 0x02;
    pub const BATCH: u8 = 0x03;
    pub const ACK: u8 = 0x04;
    pub const ERROR: u8 = 0x05;
}

/// Record flag: the line was longer than the agent's maximum and was cut.
pub const FLAG_TRUNCATED: u8 = 0x01;
/// Record flag: the line had no newline when it was shipped (flushed after
/// the partial-line timeout, or the rest of such a line).
pub const FLAG_PARTIAL: u8 = 0x02;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u32 },
    #[error("empty frame (length 0)")]
    Empty,
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("frame body ends early while reading {0}")]
    Short(&'static str),
    #[error("{0} bytes left over after the frame body")]
    Trailing(usize),
    #[error("not a logq agent (bad magic bytes)")]
    BadMagic,
    #[error("{0} is not valid UTF-8")]
    BadUtf8(&'static str),
    #[error("string field {0} is longer than 65535 bytes")]
    StringTooLong(&'static str),
    #[error("HELLO's {field} {why}")]
    BadName { field: &'static str, why: NameError },
    #[error("record at offset {offset} of stream {stream_id:016x}: {why}")]
    BadRecord {
        stream_id: u64,
        offset: u64,
        why: RecordError,
    },
}

/// The longest agent id or host name a HELLO may carry, in bytes.
pub const MAX_NAME: usize = 255;

/// Why an agent id or host name is refused (see [`check_name`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is {0} bytes long (at most 255)")]
    TooLong(usize),
    #[error("has the character {0:?} at byte {1}: only printable ASCII without spaces is allowed")]
    BadChar(char, usize),
}

/// An agent id or host name, as agentd's config and collectord's HELLO
/// accept it: 1 to [`MAX_NAME`] bytes of printable ASCII without spaces
/// (`!` to `~`). A name is an identity that keys deduplication, search
/// and the logs, so it is a token: nothing in it can break a log line or
/// drive a terminal.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong(name.len()));
    }
    match name.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        Some((i, c)) => Err(NameError::BadChar(c, i)),
        None => Ok(()),
    }
}

/// The largest record end a stream can have: offsets are file offsets
/// (`off_t`, signed 64 bits) or journal sequence numbers.
pub const MAX_END: u64 = i64::MAX as u64;

/// Why a record's offset and span are impossible (see [`check_record`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("span 0")]
    EmptySpan,
    #[error("span {span} runs past the largest stream offset")]
    PastEnd { span: u64 },
    #[error("a journal entry's span is 1, not {span}")]
    JournalSpan { span: u64 },
    #[error("span {span} does not fit a line of {len} bytes with flags 0x{flags:02x}")]
    LineSpan { span: u64, len: usize, flags: u8 },
}

/// Whether `path` names a journal stream (`journal`, `journal:DIR`), whose
/// offsets are sequence numbers, rather than a file (an absolute path).
pub fn is_journal_path(path: &str) -> bool {
    path == "journal" || path.starts_with("journal:")
}

/// The span rules of PROTOCOL.md: what a record's `offset` and `span` can
/// be in a stream at `path`, given its line and flags. A record that breaks
/// them cannot come from a file or the journal; a collector that stored it
/// would move the stream's high-water mark to where the real agent's
/// next lines would be dropped as resends.
///
/// - span ≥ 1 and `offset + span` ≤ [`MAX_END`];
/// - a journal entry: span 1;
/// - a file line: span = length + 1 (its newline); partial (no newline
///   yet): span = length; truncated: span > length (the skipped rest).
pub fn check_record(
    path: &str,
    offset: u64,
    span: u64,
    flags: u8,
    len: usize,
) -> Result<(), RecordError> {
    if span == 0 {
        return Err(RecordError::EmptySpan);
    }
    if offset.checked_add(span).is_none_or(|end| end > MAX_END) {
        return Err(RecordError::PastEnd { span });
    }
    if is_journal_path(path) {
        return if span == 1 {
            Ok(())
        } else {
            Err(RecordError::JournalSpan { span })
        };
    }
    let len64 = len as u64;
    let fits = if flags & FLAG_TRUNCATED != 0 {
        span > len64
    } else if flags & FLAG_PARTIAL != 0 {
        span == len64
    } else {
        span == len64 + 1
    };
    if fits {
        Ok(())
    } else {
        Err(RecordError::LineSpan { span, len, flags })
    }
}

/// One line as the agent read it. `offset` is where the line starts in its
/// stream; with the stream id it is the line's identity for deduplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    pub offset: u64,
    /// The stream offset just past this line and its newline (past the
    /// whole original line when it was truncated). A collector's high-water
    /// mark for a stream is the largest `end` it has stored.
    pub end: u64,
    pub flags: u8,
    /// The line without its newline, byte for byte (invalid UTF-8 and NUL
    /// bytes included).
    pub line: Vec<u8>,
}

/// Lines from one stream (a file identity) in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireStream {
    pub stream_id: u64,
    /// Where the stream was read from (a file path, or `journal`).
    pub path: String,
    pub records: Vec<WireRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Agent → collector, first frame on a connection.
    Hello {
        version: u16,
        agent_id: String,
        host: String,
        /// The agent's UTC offset in seconds, for timestamps without a zone.
        utc_offset_secs: i32,
    },
    /// Collector → agent, answer to HELLO.
    Welcome {
        version: u16,
        max_frame: u32,
        /// How many batches the agent may have unacknowledged at once.
        window: u16,
    },
    Batch {
        /// Per connection, starting at 1, one more for each batch.
        batch_seq: u64,
        /// When the agent read these lines, milliseconds since the epoch.
        read_time_ms: i64,
        streams: Vec<WireStream>,
    },
    /// Every batch up to and including `batch_seq` is durable.
    Ack { batch_seq: u64 },
    /// The sender is about to close the connection, and says why.
    Error { code: u16, message: String },
}

/// Error codes carried by [`Frame::Error`].
pub mod code {
    pub const VERSION: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const TOO_LARGE: u16 = 3;
    pub const BUSY: u16 = 4;
    pub const SHUTDOWN: u16 = 5;
    pub const INTERNAL: u16 = 6;
    /// HELLO's agent_id is not the name of the agent's client certificate.
    pub const IDENTITY: u16 = 7;
    /// Another connection, from another address, is serving this agent_id
    /// (one connection per agent id: two would interleave its batches).
    /// Older agents take it as any other error and retry.
    pub const AGENT_IN_USE: u16 = 8;
    /// A limit of the collector's store refused a batch (the agent would
    /// have more streams with a mark than `max-streams-per-agent`, or the
    /// collector more than `max-streams`); nothing of it was stored. An
    /// agent retries later, as after any error.
    pub const LIMIT: u16 = 9;
}

/// Looks at buffered bytes: `Ok(Some(n))` when a whole frame of `n` bytes
/// (header included) is at the front, `Ok(None)` when more bytes are needed.
pub fn check(buf: &[u8], max_frame: u32) -> Result<Option<usize>, WireError> {
    let Some(header) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(header.try_into().expect("slice of 4 bytes"));
    if len == 0 {
        return Err(WireError::Empty);
    }
    if len > max_frame {
        return Err(WireError::TooLarge {
            len: u64::from(len),
            max: max_frame,
        });
    }
    let total = 4 + len as usize;
    Ok((buf.len() >= total).then_some(total))
}

impl Frame {
    /// Appends the encoded frame, header included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Frame::Hello {
                version,
                agent_id,
                host,
                utc_offset_secs,
            } => {
                out.push(kind::HELLO);
                out.extend_from_slice(&MAGIC);
                out.extend_from_slice(&version.to_be_bytes());
                put_str(out, agent_id, "agent_id")?;
                put_str(out, host, "host")?;
                out.extend_from_slice(&utc_offset_secs.to_be_bytes());
            }
            Frame::Welcome {
                version,
                max_frame,
                window,
            } => {
                out.push(kind::WELCOME);
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(&max_frame.to_be_bytes());
                out.extend_from_slice(&window.to_be_bytes());
            }
            Frame::Batch {
                batch_seq,
                read_time_ms,
                streams,
            } => {
                out.push(kind::BATCH);
                out.extend_from_slice(&batch_seq.to_be_bytes());
                out.extend_from_slice(&read_time_ms.to_be_bytes());
                out.extend_from_slice(&(streams.len() as u32).to_be_bytes());
                for s in streams {
                    out.extend_from_slice(&s.stream_id.to_be_bytes());
                    put_str(out, &s.path, "path")?;
                    out.extend_from_slice(&(s.records.len() as u32).to_be_bytes());
                    for r in &s.records {
                        out.extend_from_slice(&r.offset.to_be_bytes());
                        out.extend_from_slice(&(r.end.saturating_sub(r.offset)).to_be_bytes());
                        out.push(r.flags);
                        out.extend_from_slice(&(r.line.len() as u32).to_be_bytes());
                        out.extend_from_slice(&r.line);
                    }
                }
            }
            Frame::Ack { batch_seq } => {
                out.push(kind::ACK);
                out.extend_from_slice(&batch_seq.to_be_bytes());
            }
            Frame::Error { code, message } => {
                out.push(kind::ERROR);
                out.extend_from_slice(&code.to_be_bytes());
                let mut message = message.as_str();
                while message.len() > usize::from(u16::MAX) {
                    message = &message[..message.floor_char_boundary_compat(usize::from(u16::MAX))];
                }
                put_str(out, message, "message")?;
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Decodes one whole frame, header included, as delimited by [`check`].
    pub fn decode(frame: &[u8]) -> Result<Frame, WireError> {
        let mut r = Reader {
            buf: frame.get(4..).ok_or(WireError::Short("header"))?,
        };
        let t = r.u8("type")?;
        let frame = match t {
            kind::HELLO => {
                if r.take(4, "magic")? != MAGIC {
                    return Err(WireError::BadMagic);
                }
                let version = r.u16("version")?;
                let agent_id = r.string("agent_id")?;
                check_name(&agent_id).map_err(|why| WireError::BadName {
                    field: "agent_id",
                    why,
                })?;
                let host = r.string("host")?;
                check_name(&host).map_err(|why| WireError::BadName { field: "host", why })?;
                Frame::Hello {
                    version,
                    agent_id,
                    host,
                    utc_offset_secs: r.u32("utc_offset_secs")? as i32,
                }
            }
            kind::WELCOME => Frame::Welcome {
                version: r.u16("version")?,
                max_frame: r.u32("max_frame")?,
                window: r.u16("window")?,
            },
            kind::BATCH => {
                let batch_seq = r.u64("batch_seq")?;
                let read_time_ms = r.u64("read_time_ms")? as i64;
                let n_streams = r.u32("stream count")?;
                // Each stream takes at least 14 bytes: no allocation beyond what
                // the frame can hold, whatever the count claims.
                let mut streams = Vec::with_capacity((n_streams as usize).min(r.buf.len() / 14));
                for _ in 0..n_streams {
                    let stream_id = r.u64("stream_id")?;
                    let path = r.string("path")?;
                    let n = r.u32("record count")?;
                    let mut records = Vec::with_capacity((n as usize).min(r.buf.len() / 21));
                    for _ in 0..n {
                        let offset = r.u64("offset")?;
                        let span = r.u64("span")?;
                        let flags = r.u8("flags")?;
                        let len = r.u32("line length")? as usize;
                        check_record(&path, offset, span, flags, len).map_err(|why| {
                            WireError::BadRecord {
                                stream_id,
                                offset,
                                why,
                            }
                        })?;
                        let end = offset + span;
                        let line = r.take(len, "line")?.to_vec();
                        records.push(WireRecord {
                            offset,
                            end,
                            flags,
                            line,
                        });
                    }
                    streams.push(WireStream {
                        stream_id,
                        path,
                        records,
                    });
                }
                Frame::Batch {
                    batch_seq,
                    read_time_ms,
                    streams,
                }
            }
            kind::ACK => Frame::Ack {
                batch_seq: r.u64("batch_seq")?,
            },
            kind::ERROR => Frame::Error {
                code: r.u16("code")?,
                message: r.string("message")?,
            },
            other => return Err(WireError::UnknownType(other)),
        };
        if !r.buf.is_empty() {
            return Err(WireError::Trailing(r.buf.len()));
        }
        Ok(frame)
    }
}

/// About how many bytes of memory `Frame::decode` takes for `frame` (a
/// whole frame as [`check`] delimits it): the frame's own length for
/// anything but a BATCH; for a BATCH, each stream and record's struct, its
/// bytes and an allocation's bookkeeping. A receiver budgets this before it
/// decodes: a BATCH of empty lines decodes to about three times its size,
/// one of empty streams to less than seven times.
/// Walks the lengths only (no allocation); a malformed frame gives what
/// was walked before the fault, and `decode` then says what is wrong.
pub fn decoded_size(frame: &[u8]) -> usize {
    /// What an allocator keeps beside each allocation, about.
    const ALLOC: usize = 16;
    let mut r = Reader {
        buf: frame.get(4..).unwrap_or_default(),
    };
    if r.u8("type") != Ok(kind::BATCH) || r.take(16, "").is_err() {
        return frame.len();
    }
    let Ok(n_streams) = r.u32("") else {
        return frame.len();
    };
    let mut size = 0;
    for _ in 0..n_streams {
        let Ok(path) = r.take(8, "").and_then(|_| r.u16("")) else {
            break;
        };
        let Ok(n) = r.take(usize::from(path), "").and_then(|_| r.u32("")) else {
            break;
        };
        size += std::mem::size_of::<WireStream>() + usize::from(path) + 2 * ALLOC;
        for _ in 0..n {
            let Ok(len) = r.take(17, "").and_then(|_| r.u32("")) else {
                return size;
            };
            if r.take(len as usize, "").is_err() {
                return size;
            }
            size += std::mem::size_of::<WireRecord>() + len as usize + ALLOC;
        }
    }
    size
}

/// `str::floor_char_boundary` is not stable on our MSRV.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut index: usize) -> usize {
        if index >= self.len() {
            return self.len();
        }
        while !self.is_char_boundary(index) {
            index -= 1;
        }
        index
    }
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &'static str) -> Result<(), WireError> {
    let len = u16::try_from(s.len()).map_err(|_| WireError::StringTooLong(what))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Short(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self, what: &'static str) -> Result<String, WireError> {
        let len = usize::from(self.u16(what)?);
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::BadUtf8(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(f: &Frame) {
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        assert_eq!(check(&buf, DEFAULT_MAX_FRAME), Ok(Some(buf.len())));
        assert_eq!(&Frame::decode(&buf).unwrap(), f);
    }

    #[test]
    fn every_frame_type_roundtrips() {
        roundtrip(&Frame::Hello {
            version: VERSION,
            agent_id: "web1".into(),
            host: "web1.example".into(),
            utc_offset_secs: -3600,
        });
        roundtrip(&Frame::Welcome {
            version: 1,
            max_frame: 1 << 20,
            window: 8,
        });
        roundtrip(&Frame::Batch {
            batch_seq: 7,
            read_time_ms: 1_700_000_000_000,
            streams: vec![WireStream {
                stream_id: 42,
                path: "/var/log/auth.log".into(),
                records: vec![
                    WireRecord {
                        offset: 0,
                        end: 6,
                        flags: 0,
                        line: b"hello".to_vec(),
                    },
                    WireRecord {
                        offset: 6,
                        end: 100_000,
                        flags: FLAG_TRUNCATED,
                        line: vec![0, 0xff, b'x'],
                    },
                ],
            }],
        });
        roundtrip(&Frame::Ack {
            batch_seq: u64::MAX,
        });
        roundtrip(&Frame::Error {
            code: code::VERSION,
            message: "version 9 is not spoken here".into(),
        });
    }

    #[test]
    fn decoded_size_counts_what_decode_allocates() {
        // A collector budgets a BATCH's memory before decoding it: the
        // estimate must grow with the records, not only with the bytes, or
        // a frame of empty lines would take three times its budget.
        let batch = |lines: usize, len: usize| {
            let mut buf = Vec::new();
            Frame::Batch {
                batch_seq: 1,
                read_time_ms: 0,
                streams: vec![WireStream {
                    stream_id: 1,
                    path: "/var/log/x".into(),
                    records: (0..lines as u64)
                        .map(|i| WireRecord {
                            offset: i * 1000,
                            end: i * 1000 + len as u64 + 1,
                            flags: 0,
                            line: vec![b'a'; len],
                        })
                        .collect(),
                }],
            }
            .encode(&mut buf)
            .unwrap();
            buf
        };
        let record = std::mem::size_of::<WireRecord>();
        let empty = batch(10_000, 0);
        assert!(decoded_size(&empty) >= 10_000 * record);
        assert!(decoded_size(&empty) > 2 * empty.len());
        let long = batch(100, 1000);
        assert!(decoded_size(&long) >= 100 * (record + 1000));
        assert!(decoded_size(&long) < 2 * long.len());
        // Streams without records: the most memory per byte there is.
        let mut streams = Vec::new();
        Frame::Batch {
            batch_seq: 1,
            read_time_ms: 0,
            streams: (0..1000)
                .map(|i| WireStream {
                    stream_id: i,
                    path: String::new(),
                    records: Vec::new(),
                })
                .collect(),
        }
        .encode(&mut streams)
        .unwrap();
        let size = decoded_size(&streams);
        assert!(size >= 1000 * std::mem::size_of::<WireStream>());
        assert!(size < 7 * streams.len(), "{size} for {}", streams.len());
        // Not a BATCH, or cut short: never more than the walk saw.
        assert_eq!(decoded_size(&[0, 0, 0, 5, kind::ACK, 0]), 6);
        assert!(decoded_size(&empty[..empty.len() / 2]) <= decoded_size(&empty));
        assert_eq!(decoded_size(&[]), 0);
    }

    #[test]
    fn header_claiming_4_gib_is_rejected_before_buffering() {
        // A hostile client must not make the collector allocate 4 GiB.
        let buf = [0xff, 0xff, 0xff, 0xff, kind::BATCH];
        assert_eq!(
            check(&buf, DEFAULT_MAX_FRAME),
            Err(WireError::TooLarge {
                len: u64::from(u32::MAX),
                max: DEFAULT_MAX_FRAME
            })
        );
    }

    #[test]
    fn wrong_magic_is_not_a_version_error() {
        let mut buf = Vec::new();
        Frame::Hello {
            version: 1,
            agent_id: "a".into(),
            host: "h".into(),
            utc_offset_secs: 0,
        }
        .encode(&mut buf)
        .unwrap();
        buf[5] = b'X';
        assert_eq!(Frame::decode(&buf), Err(WireError::BadMagic));
    }

    fn batch_of(path: &str, offset: u64, span_bytes: [u8; 8], flags: u8, line: &[u8]) -> Vec<u8> {
        let mut body = vec![kind::BATCH];
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&0u64.to_be_bytes());
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&9u64.to_be_bytes());
        body.extend_from_slice(&(path.len() as u16).to_be_bytes());
        body.extend_from_slice(path.as_bytes());
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&offset.to_be_bytes());
        body.extend_from_slice(&span_bytes);
        body.push(flags);
        body.extend_from_slice(&(line.len() as u32).to_be_bytes());
        body.extend_from_slice(line);
        let mut buf = (body.len() as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&body);
        buf
    }

    #[test]
    fn a_span_that_would_hide_a_stream_is_refused() {
        // Regression (issue 13): a record with span 2^64-1 moved its
        // stream's high-water mark to the end, and the real agent's later
        // lines were acknowledged and never stored.
        let bad = batch_of("/var/log/syslog", 5, u64::MAX.to_be_bytes(), 0, b"x");
        assert!(matches!(
            Frame::decode(&bad),
            Err(WireError::BadRecord {
                why: RecordError::PastEnd { .. },
                ..
            })
        ));
        let rule = |path: &str, offset: u64, span: u64, flags: u8, len: usize| {
            check_record(path, offset, span, flags, len)
        };
        assert_eq!(rule("/f", 0, 0, 0, 0), Err(RecordError::EmptySpan));
        assert_eq!(
            rule("/f", 0, 1, 0, 0),
            Ok(()),
            "an empty line is its newline"
        );
        assert_eq!(rule("/f", 10, 6, 0, 5), Ok(()));
        assert!(
            rule("/f", 10, 7, 0, 5).is_err(),
            "a span the line cannot fill"
        );
        assert_eq!(rule("/f", 10, 5, FLAG_PARTIAL, 5), Ok(()));
        assert!(rule("/f", 10, 6, FLAG_PARTIAL, 5).is_err());
        assert_eq!(rule("/f", 10, 1 << 40, FLAG_TRUNCATED, 5), Ok(()));
        assert!(rule("/f", 10, 5, FLAG_TRUNCATED, 5).is_err());
        assert_eq!(rule("/f", MAX_END - 6, 6, 0, 5), Ok(()));
        assert!(rule("/f", MAX_END - 5, 6, 0, 5).is_err());
        assert_eq!(rule("journal", 77, 1, 0, 5000), Ok(()));
        assert_eq!(rule("journal:/run/j", 77, 1, 0, 0), Ok(()));
        assert_eq!(
            rule("journal", 77, 2, 0, 1),
            Err(RecordError::JournalSpan { span: 2 })
        );
        let good = batch_of("/var/log/syslog", 5, 2u64.to_be_bytes(), 0, b"x");
        assert!(Frame::decode(&good).is_ok());
    }

    #[test]
    fn hello_names_are_tokens() {
        // Regression (issue 13): a HELLO's agent id "x\n<3>..." forged an
        // error line in the journal, and empty or 65,535-byte ids that
        // agentd itself refuses were accepted.
        let hello = |agent_id: &str, host: &str| {
            let mut buf = Vec::new();
            Frame::Hello {
                version: VERSION,
                agent_id: agent_id.into(),
                host: host.into(),
                utc_offset_secs: 0,
            }
            .encode(&mut buf)
            .unwrap();
            Frame::decode(&buf)
        };
        assert!(hello("web1-a", "web1.example.com").is_ok());
        assert!(matches!(
            hello("x\n<3>collectord: fatal", "h"),
            Err(WireError::BadName {
                field: "agent_id",
                why: NameError::BadChar('\n', 1)
            })
        ));
        assert!(matches!(
            hello("", "h"),
            Err(WireError::BadName {
                why: NameError::Empty,
                ..
            })
        ));
        assert!(matches!(
            hello(&"a".repeat(65_535), "h"),
            Err(WireError::BadName {
                why: NameError::TooLong(65_535),
                ..
            })
        ));
        assert!(matches!(
            hello("a", "web 1"),
            Err(WireError::BadName { field: "host", .. })
        ));
        assert!(hello("a", "\u{1b}]0;owned\u{7}").is_err());
        assert_eq!(check_name(&"a".repeat(MAX_NAME)), Ok(()));
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = (body.len() as u32).to_be_bytes().to_vec();
            buf.extend_from_slice(&body);
            let _ = Frame::decode(&buf);
            // The walk a collector budgets with never panics either, and
            // never counts past what the bytes can hold.
            prop_assert!(decoded_size(&buf) <= 7 * buf.len().max(64));
        }

        #[test]
        fn check_agrees_with_any_split(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20), cut in 0usize..2000) {
            let f = Frame::Batch {
                batch_seq: 1,
                read_time_ms: 0,
                streams: vec![WireStream {
                    stream_id: 1,
                    path: "journal".into(),
                    records: lines.into_iter().enumerate().map(|(i, line)| WireRecord { offset: i as u64, end: i as u64 + 1, flags: 0, line }).collect(),
                }],
            };
            let mut buf = Vec::new();
            f.encode(&mut buf).unwrap();
            let cut = cut.min(buf.len());
            let got = check(&buf[..cut], DEFAULT_MAX_FRAME).unwrap();
            prop_assert_eq!(got, (cut == buf.len()).then_some(buf.len()));
        }
    }
}
