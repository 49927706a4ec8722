//! collectord: receives log lines from agentd, archives them, indexes them
//! for logq, and acknowledges them once both are durable.
//!
//! Module map:
//!
//! - [`cli`], [`config`], [`keys`]: command line, config file, and the
//!   documentation of every config key.
//! - [`reload`]: SIGHUP, and which keys apply without a restart.
//! - [`listen`]: the listening sockets (systemd socket activation or bind).
//! - [`server`], [`connection`], [`reader`], [`close`]: accept loop, one
//!   agent connection, reading its frames, and why connections end.
//! - [`slots`], [`budget`]: who may hold a connection (per pool, per
//!   source, per agent id), and the memory all peers' data may take.
//! - [`syslog`]: syslog received directly over UDP and TCP.
//! - [`writer`]: the single writer thread and group commit; [`space`]:
//!   its pause while the disk is full.
//! - [`ingest`]: deduplication, journal/file twins, parsing and the
//!   detectors between a batch and the engine's writer (`logstore::Store`:
//!   index + archive + marks, kept consistent).
//! - [`detect`]: the anomaly detectors on every stored line,
//!   `anomalies.log`, training in the background; [`history`]: stored
//!   lines read back in time order for training; [`offline`]: `collectord
//!   train` and `collectord replay`.
//! - [`notify`], [`log`]: systemd notifications and logging.
//! - [`daemon`]: wires it all together.

pub mod budget;
pub mod ca;
pub mod cli;
pub mod close;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod detect;
pub mod history;
pub mod ingest;
pub mod keys;
pub mod listen;
pub mod log;
pub mod notify;
pub mod offline;
pub mod reader;
pub mod reload;
pub mod server;
pub mod slots;
pub mod space;
pub mod syslog;
pub mod tls;
pub mod writer;
