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
//! - [`store`]: index + archive + high-water marks, kept consistent.
//! - [`index`], [`directory`], [`archive`], [`dedup`], [`marklog`],
//!   [`retention`]: the parts of the store.
//! - [`detect`]: the anomaly detectors on every stored line,
//!   `anomalies.log`, training in the background, the model file, and
//!   (`detect::offline`) `collectord train` and `collectord replay`;
//!   [`history`]: stored lines read back in time order for training.
//! - [`notify`], [`log`]: systemd notifications and logging.
//! - [`daemon`]: wires it all together.

pub mod archive;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dedup;
pub mod detect;
pub mod directory;
pub mod history;
pub mod index;
pub mod keys;
pub mod log;
pub mod marklog;
pub mod net;
pub mod notify;
pub mod reload;
pub mod retention;
pub mod space;
pub mod store;
pub mod twins;
pub mod writer;
