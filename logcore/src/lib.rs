//! Shared pieces of logq: the record model, syslog and timestamp parsing, the
//! agent–collector wire codec, the query language and its exact meaning on
//! a record (`query`), how a line is cut into words (`terms`), the JSON
//! form of a line (`json`), the template miner and pattern grouping,
//! anomaly detection (`detect`) and syslog-over-TCP framing
//! (`syslog_framing`). Nothing here does network I/O or knows the index
//! engine (that is the `logstore` crate).

pub mod detect;
pub mod docs;
#[doc(hidden)]
pub mod fuzz;
pub mod json;
pub mod long_tail;
pub mod parse;
pub mod prehashed;
pub mod query;
pub mod record;
pub mod syslog_framing;
pub mod template;
pub mod terms;
pub mod text;
pub mod wire;

#[cfg(feature = "journal")]
pub mod journal;
#[cfg(feature = "pem")]
pub mod pem;

pub use record::{Origin, Record};
