//! Syslog over TCP: the accept loop ([`run`]) and one connection
//! ([`serve`]), generic over the byte stream so that a TLS stream (RFC
//! 5425) is served by the same code.
//!
//! Framing is decided per connection by `logcore::syslog_framing` (octet
//! counting only when the connection starts with `DIGITS SP <`). Messages
//! go to the writer in batches through an [`Outbox`]; while its window is
//! full the connection reads nothing, and with `syslog-rate-limit` it
//! sleeps off what its source took beyond the rate: TCP then slows the
//! sender down. Connections hold [`Slots`]: at most
//! `syslog-max-connections-per-source` per address and
//! `syslog-max-connections` in all; a newcomer past either displaces the
//! connection that sent no message for the longest (at least
//! [`EVICT_IDLE`](crate::net::slots::EVICT_IDLE) ago), else it is closed at once
//! with one log line naming the peer. A connection without a message for
//! `syslog-idle-timeout-ms` is closed. Each connection keeps the limits it
//! was accepted with. Closing logs one line: peer, messages, framing,
//! framing errors (for connections that sent no message, under a quota:
//! a flood of them costs a bounded number of lines).
//!
//! Memory per connection: a read buffer that starts at 4 KiB and grows
//! to 64 KiB only for a sender that fills it, the message being read (at
//! most `syslog-max-message-bytes`), and the messages of one 4 KiB slice
//! of input being decoded; what is gathered for the writer holds the
//! shared budget ([`Outbox::room`]).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use logcore::syslog_framing::{Decoder, Framing};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};
use tracing::{info, warn};

use super::{cost, path, peer, stopped, stream_id, Limits, Outbox, Shared};
use crate::net::close::{cutter, Close, CutRx, Quota};
use crate::net::listen::Kind;
use crate::net::slots::{Slot, SlotLimits, Slots};
use crate::net::tls::ServerTls;

/// How long a closing connection waits for its batches' commits.
const GRACE: Duration = Duration::from_secs(5);

/// How long a `syslog-tls` connection has for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read at once, at most.
const READ_SIZE: usize = 64 * 1024;

/// Bytes read at first: an idle connection costs this much.
const FIRST_READ: usize = 4 * 1024;

/// Input is decoded this many bytes at a time, so that the messages
/// decoded and not yet gathered stay few.
const SLICE: usize = 4 * 1024;

/// Refusals and closes of connections that sent no message share this.
static QUIET: Quota = Quota::new();

/// Logs a line under [`QUIET`], saying first how many were left out.
fn quietly(log: impl FnOnce()) {
    match QUIET.take() {
        None => {}
        Some(0) => log(),
        Some(left_out) => {
            warn!(
                left_out,
                "Left out the log lines of many syslog connections that sent no message."
            );
            log();
        }
    }
}

/// Accepts syslog connections on `listener` until `stop` turns true, then
/// waits for the connections to finish. With `tls` (the `syslog-tls`
/// listener, RFC 5425) each connection starts with a TLS handshake, under
/// the TLS configuration in force when it was accepted.
pub async fn run(
    listener: TcpListener,
    kind: Kind,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    tls: Option<watch::Receiver<Option<Arc<ServerTls>>>>,
) {
    let slots = Slots::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            () = super::stopped(&mut stopping) => break,
            a = listener.accept() => a,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, listener = kind.name(), "Could not accept a syslog connection.");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let limits = shared.limits.borrow().clone();
        let slot_limits = SlotLimits {
            max: limits.max_connections,
            max_pending: 0,
            per_source: limits.per_source,
        };
        let (cut_tx, cut) = cutter();
        let slot = match slots.admit(addr.ip().to_canonical(), slot_limits, cut_tx) {
            Ok(slot) => slot,
            Err(refused) => {
                let reason = match refused {
                    Close::PerSource(n) => {
                        format!("syslog-max-connections-per-source ({n}) reached for this address")
                    }
                    _ => format!(
                        "syslog-max-connections ({}) reached",
                        limits.max_connections
                    ),
                };
                quietly(
                    || warn!(peer = %addr, listener = kind.name(), %reason, "Refused a syslog connection."),
                );
                drop(stream);
                continue;
            }
        };
        let shared = shared.clone();
        let stop = stop.clone();
        let tls = tls.as_ref().map(|t| t.borrow().clone());
        tasks.spawn(async move {
            shared
                .stats
                .syslog_connections
                .fetch_add(1, Ordering::Relaxed);
            let conn = Conn {
                addr,
                kind,
                slot,
                cut,
            };
            match tls {
                None => serve(stream, conn, &shared, limits, stop).await,
                Some(tls) => {
                    if let Some(stream) = handshake(stream, addr, tls.as_deref()).await {
                        serve(stream, conn, &shared, limits, stop).await;
                    }
                }
            }
            shared
                .stats
                .syslog_connections
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// The TLS handshake of a `syslog-tls` connection, within
/// [`HANDSHAKE_TIMEOUT`]; a failure is one warning naming the peer and
/// the reason in words (`ServerTls::describe`).
async fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<&ServerTls>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let Some(tls) = tls else {
        // The configuration checks forbid it; a reload cannot remove it
        // (tls-cert is required while syslog-tls is set).
        warn!(peer = %addr, "Refused a syslog-tls connection: no TLS certificate is configured.");
        return None;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            let reason = logcore::text::escape(tls.describe(&e).as_bytes());
            quietly(
                || warn!(peer = %addr, listener = Kind::SyslogTls.name(), %reason, "Refused a syslog-tls connection."),
            );
            None
        }
        Err(_) => {
            quietly(
                || warn!(peer = %addr, listener = Kind::SyslogTls.name(), reason = %format!("no TLS handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()), "Refused a syslog-tls connection."),
            );
            None
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    PeerClosed,
    Shutdown,
    WriterGone,
    Idle(Duration),
    /// Displaced to make room (the only cut a syslog connection gets).
    Evicted,
    Io(std::io::Error),
}

/// A syslog connection: who, on which listener, its slot and how it is
/// cut from outside.
pub struct Conn {
    pub addr: SocketAddr,
    pub kind: Kind,
    pub slot: Slot,
    pub cut: CutRx,
}

/// Serves one connection until the peer closes it, the collector stops,
/// it is idle or cut, or an error; logs one line when it ends.
pub async fn serve<S: AsyncRead + Unpin>(
    mut stream: S,
    mut conn: Conn,
    shared: &Shared,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let (addr, kind) = (conn.addr, conn.kind);
    let sender = peer(addr);
    let stream_id = stream_id(kind, addr, super::now_ns());
    let path = path(kind);
    let mut decoder = Decoder::new(limits.max_message);
    let mut out = Outbox::new(shared.queue.clone(), shared.budget.clone());
    let mut buf = Vec::with_capacity(FIRST_READ);
    let mut messages = 0u64;
    let mut truncated = 0u64;
    let ip = addr.ip().to_canonical();
    let mut resume_at: Option<Instant> = None;
    let mut last_message = Instant::now();
    let end = 'conn: loop {
        let deadline = out.deadline();
        let idle_at = last_message + limits.idle_timeout;
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break End::Shutdown,
            _ = conn.cut.cut() => break End::Evicted,
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if out.flush().await.is_err() {
                    break End::WriterGone;
                }
            }
            // The rate limit's debt: nothing is read until it is paid.
            _ = sleep_until(resume_at.unwrap_or_else(Instant::now)), if resume_at.is_some() => {
                resume_at = None;
            }
            () = sleep_until(idle_at) => break End::Idle(limits.idle_timeout),
            r = stream.read_buf(&mut buf), if resume_at.is_none() => {
                let n = match r {
                    Ok(0) => break End::PeerClosed,
                    Ok(n) => n,
                    Err(e) => break End::Io(e),
                };
                let before = messages;
                for slice in buf.chunks(SLICE) {
                    decoder.push(slice);
                    let mut frames = Vec::new();
                    while let Some(frame) = decoder.next_frame() {
                        frames.push(frame);
                    }
                    let need: usize = frames.iter().map(|f| cost(f.bytes.len())).sum();
                    if need > 0 && out.room(need + super::STREAM_COST).await.is_err() {
                        break 'conn End::WriterGone;
                    }
                    for frame in frames {
                        truncated += u64::from(frame.truncated);
                        out.push(&sender, stream_id, path, messages, frame.truncated, frame.bytes);
                        messages += 1;
                        if out.full() && out.flush().await.is_err() {
                            break 'conn End::WriterGone;
                        }
                    }
                }
                // A sender that fills the buffer gets a larger one.
                let grow = n == buf.capacity() && buf.capacity() < READ_SIZE;
                buf.clear();
                if grow {
                    buf.reserve_exact(READ_SIZE);
                }
                if messages > before {
                    last_message = Instant::now();
                    conn.slot.lines();
                }
                let taken = u32::try_from(messages - before).unwrap_or(u32::MAX);
                let wait = shared.take(ip, taken, limits.rate);
                if !wait.is_zero() {
                    resume_at = Some(Instant::now() + wait);
                }
            }
        }
    };
    drop(conn.slot);
    let framing = decoder.framing();
    let framing_errors = decoder.framing_errors();
    if matches!(end, End::PeerClosed) {
        // A last line without its LF, or a count cut short.
        if let Some(frame) = decoder.finish() {
            let room = out.room(cost(frame.bytes.len()) + super::STREAM_COST).await;
            if room.is_ok() {
                truncated += u64::from(frame.truncated);
                out.push(
                    &sender,
                    stream_id,
                    path,
                    messages,
                    frame.truncated,
                    frame.bytes,
                );
                messages += 1;
            }
        }
    }
    let end = match out.finish(GRACE).await {
        Err(_) => End::WriterGone,
        Ok(()) => end,
    };
    let framing = match framing {
        Some(Framing::OctetCounting) => "octet-counting",
        Some(Framing::NonTransparent) => "newline",
        None => "undecided",
    };
    let reason = match &end {
        End::PeerClosed => "peer closed the connection".to_owned(),
        End::Shutdown => "collector shutting down".to_owned(),
        End::WriterGone => "the writer stopped".to_owned(),
        End::Idle(d) => format!("no message for {} ms (syslog-idle-timeout-ms)", d.as_millis()),
        End::Evicted => "closed to make room for a new connection (syslog-max-connections or its per-source share is full and this one sent no message for the longest)".to_owned(),
        End::Io(e) => format!("connection error: {e}"),
    };
    let log = || match end {
        End::PeerClosed | End::Shutdown | End::Idle(_) => info!(
            peer = %addr, listener = kind.name(), messages, truncated, framing, framing_errors, %reason,
            "Closed a syslog connection."
        ),
        End::WriterGone | End::Io(_) | End::Evicted => warn!(
            peer = %addr, listener = kind.name(), messages, truncated, framing, framing_errors, %reason,
            "Closed a syslog connection."
        ),
    };
    if messages == 0 {
        quietly(log);
    } else {
        log();
    }
}
