//! Syslog over TCP: the accept loop ([`run`]) and one connection
//! ([`serve`]), generic over the byte stream so that a TLS stream (RFC
//! 5425) is served by the same code.
//!
//! Framing is decided per connection by `logcore::syslog_framing` (octet
//! counting only when the connection starts with `DIGITS SP <`). Messages
//! go to the writer in batches through an [`Outbox`]; while its window is
//! full the connection reads nothing, and with `syslog-rate-limit` it
//! sleeps off what its source took beyond the rate: TCP then slows the
//! sender down. Over `syslog-max-connections` a connection is closed at
//! once, with one log line naming the peer. Each connection keeps the
//! limits it was accepted with. Closing logs one line: peer, messages,
//! framing, framing errors.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use logcore::syslog_framing::{Decoder, Framing};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};
use tracing::{info, warn};

use super::{path, peer, stopped, stream_id, Limits, Outbox, Shared};
use crate::listen::Kind;
use crate::server::Slot;
use crate::tls::ServerTls;

/// How long a closing connection waits for its batches' commits.
const GRACE: Duration = Duration::from_secs(5);

/// How long a `syslog-tls` connection has for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read at once.
const READ_SIZE: usize = 64 * 1024;

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
    let open = Arc::new(AtomicU32::new(0));
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
        let Some(slot) = Slot::take(&open, limits.max_connections) else {
            warn!(peer = %addr, listener = kind.name(), limit = limits.max_connections, "Refused a syslog connection: syslog-max-connections reached.");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let stop = stop.clone();
        let tls = tls.as_ref().map(|t| t.borrow().clone());
        tasks.spawn(async move {
            shared
                .stats
                .syslog_connections
                .fetch_add(1, Ordering::Relaxed);
            match tls {
                None => serve(stream, addr, kind, &shared, limits, stop).await,
                Some(tls) => {
                    if let Some(stream) = handshake(stream, addr, tls.as_deref()).await {
                        serve(stream, addr, kind, &shared, limits, stop).await;
                    }
                }
            }
            shared
                .stats
                .syslog_connections
                .fetch_sub(1, Ordering::Relaxed);
            drop(slot);
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
            warn!(peer = %addr, listener = Kind::SyslogTls.name(), reason = %tls.describe(&e), "Refused a syslog-tls connection.");
            None
        }
        Err(_) => {
            warn!(peer = %addr, listener = Kind::SyslogTls.name(), reason = %format!("no TLS handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()), "Refused a syslog-tls connection.");
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
    Io(std::io::Error),
}

/// Serves one connection until the peer closes it, the collector stops, or
/// an error; logs one line when it ends.
pub async fn serve<S: AsyncRead + Unpin>(
    mut stream: S,
    addr: SocketAddr,
    kind: Kind,
    shared: &Shared,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let sender = peer(addr);
    let stream_id = stream_id(kind, addr, super::now_ns());
    let path = path(kind);
    let mut decoder = Decoder::new(limits.max_message);
    let mut out = Outbox::new(shared.queue.clone());
    let mut buf = vec![0u8; READ_SIZE];
    let mut messages = 0u64;
    let mut truncated = 0u64;
    let ip = addr.ip().to_canonical();
    let mut resume_at: Option<Instant> = None;
    let end = loop {
        let deadline = out.deadline();
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break End::Shutdown,
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                if out.flush().await.is_err() {
                    break End::WriterGone;
                }
            }
            // The rate limit's debt: nothing is read until it is paid.
            _ = sleep_until(resume_at.unwrap_or_else(Instant::now)), if resume_at.is_some() => {
                resume_at = None;
            }
            r = stream.read(&mut buf), if resume_at.is_none() => {
                let n = match r {
                    Ok(0) => break End::PeerClosed,
                    Ok(n) => n,
                    Err(e) => break End::Io(e),
                };
                decoder.push(&buf[..n]);
                let before = messages;
                let mut gone = false;
                while let Some(frame) = decoder.next_frame() {
                    truncated += u64::from(frame.truncated);
                    out.push(&sender, stream_id, path, messages, frame.truncated, frame.bytes);
                    messages += 1;
                    if out.full() && out.flush().await.is_err() {
                        gone = true;
                        break;
                    }
                }
                if gone {
                    break End::WriterGone;
                }
                let taken = u32::try_from(messages - before).unwrap_or(u32::MAX);
                let wait = shared.take(ip, taken, limits.rate);
                if !wait.is_zero() {
                    resume_at = Some(Instant::now() + wait);
                }
            }
        }
    };
    let framing = decoder.framing();
    let framing_errors = decoder.framing_errors();
    if matches!(end, End::PeerClosed) {
        // A last line without its LF, or a count cut short.
        if let Some(frame) = decoder.finish() {
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
        End::Io(e) => format!("connection error: {e}"),
    };
    match end {
        End::PeerClosed | End::Shutdown => info!(
            peer = %addr, listener = kind.name(), messages, truncated, framing, framing_errors, %reason,
            "Closed a syslog connection."
        ),
        End::WriterGone | End::Io(_) => warn!(
            peer = %addr, listener = kind.name(), messages, truncated, framing, framing_errors, %reason,
            "Closed a syslog connection."
        ),
    }
}
