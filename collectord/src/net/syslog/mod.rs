//! Syslog received directly: UDP ([`udp`]) and TCP with RFC 6587 framing
//! ([`tcp`], generic over the byte stream so that TLS can plug in).
//!
//! One message is one record, through the same writer as the agents'
//! lines, but without the agents' deduplication: syslog senders never
//! re-send, so a syslog batch ([`SentBy::Syslog`]) neither reads nor
//! writes high-water marks. Each record says where it came from:
//!
//! - `agent`: the sender's IP address (`203.0.113.9`);
//! - `path`: the listener, `syslog/udp` or `syslog/tcp`;
//! - `host`: the message's HOSTNAME, or the sender's IP address when the
//!   message has none (`logger --rfc3164` without a host name);
//! - `stream`: one per TCP connection (a hash of the listener, the peer's
//!   address and port and the accept time) or per UDP source address and
//!   port (with the time it was first seen); `offset`: the message's
//!   ordinal in its stream, from 0.
//!
//! Back-pressure, not loss: messages are gathered into batches of at most
//! [`BATCH_MESSAGES`] or [`FLUSH_AFTER`] old, and each listener or
//! connection has at most [`WINDOW`] batches queued or in commit
//! ([`Outbox`]). While its window is full a TCP connection reads nothing
//! (TCP slows the sender down) and the UDP listener reads nothing (the
//! kernel's receive buffer fills and the kernel drops, counted in
//! `/proc/net/udp`). What an outbox gathers and has in the writer's hands
//! holds the shared buffer budget (`max-buffer-mb`, [`Budget`]) until the
//! writer is done with it; without budget the connection reads nothing.

pub mod rate;
pub mod tcp;
pub mod udp;

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use logcore::wire::{WireRecord, WireStream, FLAG_TRUNCATED};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::Config;
use crate::ingest::Peer;
use crate::net::budget::{Budget, Held};
use crate::net::listen::Kind;
use crate::notify::Stats;
use crate::writer::{now_ms, Batch, SentBy, Stored};

/// The most messages in one batch.
pub const BATCH_MESSAGES: usize = 2048;
/// The most message bytes in one batch.
const BATCH_BYTES: usize = 4 << 20;
/// A batch goes to the writer at most this long after its first message.
pub const FLUSH_AFTER: Duration = Duration::from_millis(5);
/// Batches one connection (or the UDP listener) may have queued or in
/// commit.
pub const WINDOW: usize = 4;

/// The live limits (`syslog-*` keys); a reload sends new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_message: usize,
    pub max_connections: u32,
    pub per_source: u32,
    /// A TCP connection without a message for this long is closed.
    pub idle_timeout: Duration,
    /// Messages per second per source address; 0: none.
    pub rate: u32,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            max_message: config.syslog_max_message_bytes as usize,
            max_connections: config.syslog_max_connections,
            per_source: config.syslog_max_connections_per_source,
            idle_timeout: config.syslog_idle_timeout(),
            rate: config.syslog_rate_limit,
        }
    }
}

/// What the syslog listeners share.
pub struct Shared {
    pub queue: mpsc::Sender<Batch>,
    pub limits: watch::Receiver<Limits>,
    pub stats: Arc<Stats>,
    /// Rate limiting per source address, over all listeners.
    pub rates: Mutex<rate::Buckets>,
    /// The agents' budget: syslog batches count in the same total.
    pub budget: Arc<Budget>,
}

impl Shared {
    pub fn new(
        queue: mpsc::Sender<Batch>,
        limits: watch::Receiver<Limits>,
        stats: Arc<Stats>,
        budget: Arc<Budget>,
    ) -> Shared {
        Shared {
            queue,
            limits,
            stats,
            rates: Mutex::new(rate::Buckets::default()),
            budget,
        }
    }

    /// Takes `n` messages from `ip` under the rate limit (see
    /// [`rate::Buckets::take`]).
    fn take(&self, ip: IpAddr, n: u32, rate: u32) -> Duration {
        self.rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(ip, n, rate, std::time::Instant::now())
    }
}

/// The `record.path` of a listener's messages.
pub fn path(kind: Kind) -> &'static str {
    match kind {
        Kind::SyslogUdp => "syslog/udp",
        Kind::SyslogTls => "syslog/tls",
        Kind::SyslogTcp | Kind::Agents => "syslog/tcp",
    }
}

/// The sender of messages from `addr`: its IP stands for the agent and, when
/// the message names no host, for the host.
pub fn peer(addr: SocketAddr) -> Arc<Peer> {
    let ip = addr.ip().to_canonical().to_string();
    Arc::new(Peer {
        agent_id: ip.clone(),
        host: ip,
        // RFC 3164 stamps carry no zone: read them in the collector's.
        utc_offset_secs: chrono::Local::now().offset().local_minus_utc(),
    })
}

/// A stream id: the listener, the peer's address and port, and when the
/// connection was accepted (or the source first seen), so that a new
/// connection from the same port starts a new stream.
pub fn stream_id(kind: Kind, addr: SocketAddr, since_ns: i64) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    kind.name().hash(&mut h);
    addr.hash(&mut h);
    since_ns.hash(&mut h);
    h.finish()
}

/// Nanoseconds since the epoch, for [`stream_id`].
pub fn now_ns() -> i64 {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or_else(|| now_ms() * 1_000_000)
}

/// Completes once `stop` is true (the daemon is shutting down).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: dropped here.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The writer stopped: nothing more can be stored.
#[derive(Debug)]
pub struct WriterGone;

/// About the memory one message of `len` bytes takes in a batch.
pub fn cost(len: usize) -> usize {
    std::mem::size_of::<WireRecord>() + len + 16
}

/// About the memory a new stream (a new sender) takes in a batch.
pub const STREAM_COST: usize = 256;

/// Messages gathered for the writer, and the batches sent and not yet
/// committed (at most [`WINDOW`]), each with the budget it holds.
pub struct Outbox {
    queue: mpsc::Sender<Batch>,
    peers: Vec<Arc<Peer>>,
    streams: Vec<WireStream>,
    /// Stream id to its place in `streams`.
    places: HashMap<u64, usize>,
    messages: usize,
    bytes: usize,
    first_at: Option<Instant>,
    budget: Arc<Budget>,
    /// Budget held for what is gathered: `held_bytes` of it, for `cost`.
    held: Vec<Held>,
    held_bytes: usize,
    cost: usize,
    in_flight: VecDeque<(oneshot::Receiver<Stored>, Vec<Held>)>,
}

impl Outbox {
    pub fn new(queue: mpsc::Sender<Batch>, budget: Arc<Budget>) -> Outbox {
        Outbox {
            queue,
            peers: Vec::new(),
            streams: Vec::new(),
            places: HashMap::new(),
            messages: 0,
            bytes: 0,
            first_at: None,
            budget,
            held: Vec::new(),
            held_bytes: 0,
            cost: 0,
            in_flight: VecDeque::with_capacity(WINDOW),
        }
    }

    /// Makes sure the budget covers `bytes` more (see [`cost`],
    /// [`STREAM_COST`]) before they are pushed: when it must wait, what is
    /// gathered goes to the writer first.
    pub async fn room(&mut self, bytes: usize) -> Result<(), WriterGone> {
        loop {
            let want = (self.cost + bytes).saturating_sub(self.held_bytes);
            if want == 0 {
                return Ok(());
            }
            let mut request = self.budget.batch(want);
            if !request.is_ready() && self.messages > 0 {
                drop(request);
                self.flush().await?;
                continue;
            }
            request.ready().await;
            self.held.push(request.take());
            self.held_bytes += want;
            return Ok(());
        }
    }

    /// Adds one message, its `ordinal` in stream `stream` from `peer`,
    /// after [`Outbox::room`] for it.
    pub fn push(
        &mut self,
        peer: &Arc<Peer>,
        stream: u64,
        path: &str,
        ordinal: u64,
        truncated: bool,
        line: Vec<u8>,
    ) {
        let place = *self.places.entry(stream).or_insert_with(|| {
            self.peers.push(peer.clone());
            self.streams.push(WireStream {
                stream_id: stream,
                path: path.to_owned(),
                records: Vec::new(),
            });
            self.streams.len() - 1
        });
        if self.streams[place].records.is_empty() {
            self.cost += STREAM_COST;
        }
        self.cost += cost(line.len());
        self.bytes += line.len();
        self.messages += 1;
        self.first_at.get_or_insert_with(Instant::now);
        self.streams[place].records.push(WireRecord {
            offset: ordinal,
            end: ordinal + 1,
            flags: if truncated { FLAG_TRUNCATED } else { 0 },
            line,
        });
    }

    /// Whether the batch should go now.
    pub fn full(&self) -> bool {
        self.messages >= BATCH_MESSAGES || self.bytes >= BATCH_BYTES
    }

    /// When the gathered messages must go, if there are any.
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + FLUSH_AFTER)
    }

    /// Sends what was gathered to the writer, first waiting, while the
    /// window is full, for the oldest batch's commit.
    pub async fn flush(&mut self) -> Result<(), WriterGone> {
        if self.messages == 0 {
            return Ok(());
        }
        // Forget what committed already.
        while let Some((rx, _)) = self.in_flight.front_mut() {
            // A batch the writer answered is done with, stored or not: a
            // syslog sender never sends again (see `writer::Group`).
            match rx.try_recv() {
                Ok(_) => {
                    self.in_flight.pop_front();
                }
                Err(oneshot::error::TryRecvError::Empty) => break,
                Err(oneshot::error::TryRecvError::Closed) => return Err(WriterGone),
            }
        }
        // Cancel-safe: the oldest leaves the window only once committed.
        while self.in_flight.len() >= WINDOW {
            let oldest = &mut self.in_flight.front_mut().expect("the window is full").0;
            let _answered: Stored = oldest.await.map_err(|_| WriterGone)?;
            self.in_flight.pop_front();
        }
        let (done, rx) = oneshot::channel();
        let batch = Batch {
            sent_by: SentBy::Syslog(std::mem::take(&mut self.peers)),
            receive_time_ms: now_ms(),
            streams: std::mem::take(&mut self.streams),
            done,
        };
        self.places.clear();
        self.messages = 0;
        self.bytes = 0;
        self.first_at = None;
        self.cost = 0;
        self.held_bytes = 0;
        let held = std::mem::take(&mut self.held);
        self.queue.send(batch).await.map_err(|_| WriterGone)?;
        self.in_flight.push_back((rx, held));
        Ok(())
    }

    /// Sends what was gathered and waits up to `grace` for every batch's
    /// commit (at shutdown or when a connection closes).
    pub async fn finish(mut self, grace: Duration) -> Result<(), WriterGone> {
        self.flush().await?;
        let all = async {
            while let Some((rx, _)) = self.in_flight.front_mut() {
                let _answered: Stored = rx.await.map_err(|_| WriterGone)?;
                self.in_flight.pop_front();
            }
            Ok(())
        };
        let result = tokio::time::timeout(grace, all).await.unwrap_or(Ok(()));
        // What the writer still has keeps its budget until it is done.
        let left = std::mem::take(&mut self.in_flight);
        if !left.is_empty() {
            tokio::spawn(async move {
                for (rx, held) in left {
                    let _ = rx.await;
                    drop(held);
                }
            });
        }
        result
    }
}

/// Strips what ends a UDP message and is not part of it: trailing LF, CR
/// and NUL (some appliances send `\0` or `\r\n` after each message).
pub fn trim_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | 0] = bytes {
        bytes = rest;
    }
    bytes
}

/// A UDP datagram that starts with an RFC 6587 octet count which counts
/// exactly the rest (`logger --udp --octet-count` sends them) loses the
/// count; anything else is left as it is.
pub fn strip_octet_count(bytes: &[u8]) -> &[u8] {
    let digits = bytes
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=9).contains(&digits) || bytes[0] == b'0' || bytes.get(digits) != Some(&b' ') {
        return bytes;
    }
    let rest = &bytes[digits + 1..];
    let count: usize = std::str::from_utf8(&bytes[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    if rest.first() == Some(&b'<') && trim_end(rest).len() <= count && count <= rest.len() {
        rest
    } else {
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newlines_and_nuls_are_not_part_of_a_datagram() {
        assert_eq!(trim_end(b"<13>a b\n"), b"<13>a b");
        assert_eq!(trim_end(b"<13>a b\r\n\0"), b"<13>a b");
        assert_eq!(trim_end(b"\n\n"), b"");
        assert_eq!(trim_end(b"a\nb"), b"a\nb");
    }

    #[test]
    fn an_exact_octet_count_in_a_datagram_is_dropped() {
        // logger --udp --octet-count; a message starting with digits stays.
        assert_eq!(strip_octet_count(b"6 <13>ab"), b"<13>ab");
        assert_eq!(strip_octet_count(b"7 <13>ab\n"), b"<13>ab\n");
        assert_eq!(strip_octet_count(b"9 <13>ab"), b"9 <13>ab");
        assert_eq!(strip_octet_count(b"123 abc"), b"123 abc");
        assert_eq!(strip_octet_count(b"06 <13>ab"), b"06 <13>ab");
    }

    #[test]
    fn a_new_connection_from_the_same_port_is_a_new_stream() {
        // Two connections' ordinals must not claim the same identity.
        let a: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        assert_ne!(
            stream_id(Kind::SyslogTcp, a, 1),
            stream_id(Kind::SyslogTcp, a, 2)
        );
        assert_ne!(
            stream_id(Kind::SyslogTcp, a, 1),
            stream_id(Kind::SyslogUdp, a, 1)
        );
    }

    #[test]
    fn the_sender_ip_stands_for_agent_and_host() {
        let p = peer("[::ffff:192.0.2.7]:514".parse().unwrap());
        assert_eq!(
            (p.agent_id.as_str(), p.host.as_str()),
            ("192.0.2.7", "192.0.2.7")
        );
    }

    #[tokio::test]
    async fn a_full_window_waits_for_the_oldest_commit() {
        // Without this bound a fast sender would queue batches without limit.
        let (tx, mut rx) = mpsc::channel(64);
        let mut out = Outbox::new(tx, Budget::new(1 << 20));
        let p = peer("192.0.2.1:1".parse().unwrap());
        let mut dones = Vec::new();
        for i in 0..WINDOW as u64 {
            out.push(&p, 1, "syslog/tcp", i, false, b"x".to_vec());
            out.flush().await.unwrap();
            dones.push(rx.recv().await.unwrap().done);
        }
        out.push(&p, 1, "syslog/tcp", 99, true, b"y".to_vec());
        // One poll, no timer: the queue has room for 60 more batches, so a
        // flush that did not wait for the window would send at once.
        let blocked = tokio::select! {
            biased;
            _ = out.flush() => false,
            () = std::future::ready(()) => true,
        };
        assert!(blocked, "the fifth batch waits");
        // The cancelled flush sent nothing; the message is still gathered.
        assert!(rx.try_recv().is_err());
        dones.remove(0).send(Ok(())).unwrap();
        out.flush().await.unwrap();
        let b = rx.recv().await.unwrap();
        assert_eq!(b.streams[0].records[0].offset, 99);
        assert_eq!(b.streams[0].records[0].flags, FLAG_TRUNCATED);
        assert!(matches!(b.sent_by, SentBy::Syslog(ref p) if p.len() == 1));
    }
}
