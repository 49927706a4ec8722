//! collectord: receives log lines from agentd, archives them, indexes them
//! for logq, and acknowledges them once both are durable.
//!
//! Module map:
//!
//! - [`cli`], [`config`], [`keys`]: command line, config file, and the
//!   documentation of every config key.
//! - [`reload`]: SIGHUP, and which keys apply without a restart.
//! - [`net`]: everything facing the network: listeners, agent connections
//!   (accept loop, frames, why they end), who may connect and the memory
//!   peers' data may take, TLS and `collectord tls`, and syslog over UDP,
//!   TCP and TLS.
//! - [`writer`]: the single writer thread and group commit; [`space`]:
//!   its pause while the disk is full.
//! - [`ingest`]: deduplication, journal/file twins, parsing and the
//!   detectors between a batch and the engine's writer (`logstore::Store`:
//!   index + archive + marks, kept consistent).
//! - [`detect`]: the anomaly detectors on every stored line,
//!   `anomalies.log`, training in the background, the model file, and
//!   (`detect::offline`) `collectord train` and `collectord replay`;
//!   `detect::history`: stored lines read back in time order for training.
//! - [`notify`], [`log`]: systemd notifications and logging.
//! - [`daemon`]: wires it all together.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;

pub mod ingest;
pub mod keys;
pub mod log;
pub mod net;
pub mod notify;
pub mod reload;
pub mod space;
pub mod writer;
