//! What HELLO's names and a BATCH's records may be: the token rule for agent
//! ids and host names, and the span rules of PROTOCOL.md for a record's
//! offset and span.

use thiserror::Error;

use super::{FLAG_PARTIAL, FLAG_TRUNCATED};

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
