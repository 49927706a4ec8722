//! The archive: every stored line, exactly as received, in zstd blocks per
//! UTC day. [`read`] holds the format and reads lines back (logq, history,
//! collectord's own checks); [`write`] appends blocks and keeps them
//! consistent with the commit payload (collectord's writer thread only).

pub mod read;
pub mod write;

pub use read::*;
pub use write::{
    Archive, Committed, BUCKETS, DICT_BYTES, RESERVOIR_LINES, ROUND_LINES, SAMPLE_BYTES,
};
