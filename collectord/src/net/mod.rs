//! Everything that faces the network: the listening sockets, agents'
//! connections and syslog senders, up to the point where their lines are
//! handed to the writer (and the writer's acknowledgement is sent back).
//!
//! - [`listen`]: the listening sockets (systemd socket activation or bind).
//! - [`server`], [`connection`], [`reader`], [`close`]: the accept loop, one
//!   agent connection, reading its frames, and why connections end.
//! - [`slots`], [`budget`]: who may hold a connection (per pool, per
//!   source, per agent id), and the memory all peers' data may take.
//! - [`tls`]: TLS on the listeners (server config, client certificates);
//!   [`ca`]: `collectord tls init|issue`, the certificates it reads.
//! - [`syslog`]: syslog received directly over UDP and TCP (and TLS).
//!
//! What it may touch: the config and its reload channels, the writer's
//! inbox ([`crate::writer`]), [`crate::notify`] and the name of a sender
//! ([`crate::store::Peer`]). It never opens the store, the index or the
//! detectors: lines reach storage only through the writer, and a peer is
//! acknowledged only after the writer's commit.

pub mod budget;
pub mod ca;
pub mod close;
pub mod connection;
pub mod listen;
pub mod reader;
pub mod server;
pub mod slots;
pub mod syslog;
pub mod tls;
