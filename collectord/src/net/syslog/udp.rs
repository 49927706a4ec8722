//! Syslog over UDP: one datagram is one message (trailing LF, CR and NUL
//! stripped, and an octet count that counts exactly the rest, as
//! `logger --udp --octet-count` sends; longer than `syslog-max-message-bytes`: cut and flagged
//! truncated).
//!
//! Messages are gathered in an [`Outbox`] like a TCP connection's; while
//! its window is full the listener reads nothing, the socket's receive
//! buffer fills and the kernel drops what does not fit (counted in the
//! drops column of `/proc/net/udp` and in `RcvbufErrors` of
//! `/proc/net/snmp`). The receive buffer is raised to [`RECEIVE_BUFFER`]
//! at start, best effort: the kernel caps it at `net.core.rmem_max`
//! unless the process may force it (root, or systemd's `ReceiveBuffer=`
//! in collectord-syslog-udp.socket); the size obtained is logged.
//!
//! With `syslog-rate-limit`, a message over its source's rate is dropped
//! and counted; each source's count is logged at most every 10 s.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{getsockopt, setsockopt, sockopt};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{interval, sleep_until, Instant};
use tracing::{info, warn};

use super::rate::REPORT_EVERY;
use super::{
    cost, path, peer, stopped, stream_id, strip_octet_count, trim_end, Outbox, Shared, STREAM_COST,
};
use crate::ingest::Peer;
use crate::net::listen::Kind;

/// The receive buffer asked for: about 2 s of 20,000 messages of 200 bytes.
pub const RECEIVE_BUFFER: usize = 8 << 20;

/// How long the listener waits for its batches' commits when stopping.
const GRACE: Duration = Duration::from_secs(5);

/// Source addresses followed at once (their stream ids and ordinals); past
/// it, the least recently seen are forgotten (a source seen again starts a
/// new stream).
const MAX_SOURCES: usize = 65_536;

/// Raises the socket's receive buffer, best effort; returns what the
/// kernel granted (it reports twice the usable size).
pub fn raise_receive_buffer(socket: &StdUdpSocket) -> Option<usize> {
    if setsockopt(socket, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &RECEIVE_BUFFER);
    }
    getsockopt(socket, sockopt::RcvBuf).ok()
}

/// One source address: its stream and the next ordinal.
struct Source {
    peer: Arc<Peer>,
    stream: u64,
    next: u64,
    seen: Instant,
}

/// Receives datagrams until `stop` turns true.
pub async fn run(socket: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let kind = Kind::SyslogUdp;
    let path = path(kind);
    let mut limits = shared.limits.borrow().clone();
    let mut limits_rx = shared.limits.clone();
    let mut out = Outbox::new(shared.queue.clone(), shared.budget.clone());
    let mut sources: HashMap<SocketAddr, Source> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut report = interval(REPORT_EVERY);
    let mut writer_gone = false;
    loop {
        let deadline = out.deadline();
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if out.flush().await.is_err() {
                    writer_gone = true;
                    break;
                }
            }
            _ = report.tick() => log_drops(&shared, false),
            Ok(()) = limits_rx.changed() => limits = limits_rx.borrow_and_update().clone(),
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(r) => r,
                    Err(e) => {
                        // ICMP errors and the like: nothing to read here.
                        warn!(error = %e, "Could not receive a syslog datagram.");
                        continue;
                    }
                };
                let now = Instant::now();
                let ip = from.ip().to_canonical();
                let kept = shared
                    .rates
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .try_take(ip, limits.rate, now.into_std());
                match kept {
                    Ok(()) => {}
                    Err(report) => {
                        shared.stats.syslog_dropped.fetch_add(1, Ordering::Relaxed);
                        if let Some(dropped) = report {
                            warn_drops(ip, dropped, limits.rate);
                        }
                        continue;
                    }
                }
                let message = trim_end(strip_octet_count(&buf[..n]));
                if message.is_empty() {
                    continue;
                }
                let truncated = message.len() > limits.max_message;
                let message = message[..message.len().min(limits.max_message)].to_vec();
                if sources.len() >= MAX_SOURCES && !sources.contains_key(&from) {
                    forget_oldest(&mut sources);
                }
                let source = sources.entry(from).or_insert_with(|| Source {
                    peer: peer(from),
                    stream: stream_id(kind, from, super::now_ns()),
                    next: 0,
                    seen: now,
                });
                source.seen = now;
                if out.room(cost(message.len()) + STREAM_COST).await.is_err() {
                    writer_gone = true;
                    break;
                }
                out.push(&source.peer, source.stream, path, source.next, truncated, message);
                source.next += 1;
                if out.full() && out.flush().await.is_err() {
                    writer_gone = true;
                    break;
                }
            }
        }
    }
    if writer_gone || out.finish(GRACE).await.is_err() {
        warn!("The syslog UDP listener stopped: the writer stopped.");
    }
    log_drops(&shared, true);
    info!(
        sources = sources.len(),
        "Stopped receiving syslog over UDP."
    );
}

fn warn_drops(ip: std::net::IpAddr, dropped: u64, rate: u32) {
    warn!(
        source = %ip, dropped, limit = rate,
        "Dropped {dropped} syslog UDP message(s) from {ip}: over syslog-rate-limit ({rate}/s)."
    );
}

/// Logs the drops no later message came to report.
fn log_drops(shared: &Shared, all: bool) {
    let limit = shared.limits.borrow().rate;
    let due = shared
        .rates
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .due(std::time::Instant::now(), all);
    for (ip, dropped) in due {
        warn_drops(ip, dropped, limit);
    }
}

/// Forgets the least recently seen half of the sources.
fn forget_oldest(sources: &mut HashMap<SocketAddr, Source>) {
    let mut seen: Vec<Instant> = sources.values().map(|s| s.seen).collect();
    seen.sort_unstable();
    let cut = seen[seen.len() / 2];
    sources.retain(|_, s| s.seen > cut);
}
