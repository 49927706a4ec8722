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

mod codec;
mod rules;

pub use codec::decoded_size;
pub use rules::{
    check_name, check_record, is_journal_path, NameError, RecordError, MAX_END, MAX_NAME,
};

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

#[cfg(test)]
mod tests;
