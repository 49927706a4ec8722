//! logstore: the storage and query engine of logq, behind every front end
//! (logq, collectord's history and HTTP API).
//!
//! - Read side: [`search`] ([`Reader`], [`Snapshot`]), [`plan`] (a query
//!   as an index clause plus the exact check of `logcore::query`),
//!   [`Lines`] and [`Neighbours`] (hits read back, context), counting and
//!   following new commits. No tantivy type is in this public API: a
//!   second engine (ClickHouse) can offer the same shape.
//! - Write side: [`store::Store`] (archive + index + marks kept
//!   consistent, group commit, retention), driven by collectord's writer
//!   thread; [`dedup`] and [`marklog`] (the marks deduplication needs),
//!   [`index`] and [`directory`] (the tantivy index on disk),
//!   [`retention`].
//! - Formats: [`schema`] (the tantivy schema and the record ↔ document
//!   conversions), [`tokenizer`] (the adapter of `logcore::terms`),
//!   [`archive`] (the archive's format, reader and writer).

pub mod archive;
mod count;
pub mod dedup;
pub mod directory;
pub mod index;
mod lines;
pub mod marklog;
pub mod pages;
pub mod plan;
pub mod retention;
pub mod schema;
pub mod search;
pub mod store;
pub mod tokenizer;
mod walk;

pub use lines::{Lines, Neighbours};
pub use plan::Plan;
pub use search::{CountBy, Reader, Snapshot};
pub use store::{Store, StoreOptions};
pub use walk::{Hit, Seen};
