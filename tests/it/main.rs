//! End-to-end tests: the real agentd, collectord and logq on loopback, each in
//! a fresh temporary directory. Build the programs first:
//! `cargo build --release --bins && cargo test --release`.

// Test code: a panic is a failed test, so unwrap is fine here (the
// workspace denies it in product code).
#![allow(clippy::unwrap_used)]

mod anomalies;
mod bad_input;
mod crash;
mod delivery;
mod evaluation;
mod fixture;
mod hostile;
mod journal;
mod lifecycle;
mod output;
mod patterns;
mod query;
mod reload;
mod rotation;
mod storage;
mod syslog;
mod tls;
mod writer;
