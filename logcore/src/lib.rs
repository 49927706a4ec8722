//! Shared pieces of logq: the record model, syslog and timestamp parsing, the
//! agent–collector wire codec, the query language, the template miner,
//! anomaly detection (`detect`), syslog-over-TCP framing (`syslog_framing`)
//! and (feature `index`) the tantivy index schema and the archive format.
//! Nothing here does network I/O.

pub mod detect;
pub mod docs;
#[doc(hidden)]
pub mod fuzz;
pub mod parse;
pub mod query;
pub mod record;
pub mod syslog_framing;
pub mod template;
pub mod text;
pub mod wire;

#[cfg(feature = "journal")]
pub mod journal;
#[cfg(feature = "pem")]
pub mod pem;

#[cfg(feature = "index")]
pub mod archive;
#[cfg(feature = "index")]
pub mod schema;
#[cfg(feature = "index")]
pub mod tokenizer;

pub use record::{Origin, Record};
