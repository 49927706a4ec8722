//! The archive: every stored line, exactly as received, in zstd blocks per
//! UTC day. [`read`] holds the format and reads lines back (logq, history,
//! collectord's own checks); [`write`] appends blocks and keeps them
//! consistent with the commit payload (collectord's writer thread only).

mod dict;
mod files;
pub mod read;
pub mod write;

pub use dict::{DICT_BYTES, RESERVOIR_LINES, SAMPLE_BYTES};
pub use read::*;
pub use write::{Archive, Committed, BUCKETS, ROUND_LINES};
