//! An independent reference for what the differential tests need to know
//! about a line: its words ([`words`]) and its syslog header ([`header`]).
//!
//! Written from the user documentation (`man/logq.1`, the rules at the top
//! of `logcore/src/tokenizer.rs`, the forms `logcore/src/parse.rs` lists),
//! not from the product's code, and kept straightforward rather than fast:
//! when the product's tokenizer or parser changes what it does, the oracle
//! of `tests/it/query.rs` does not change with it, and the generated queries
//! catch the difference.

pub mod header;
pub mod words;
