//! One agent connection: HELLO, WELCOME, then BATCH frames to the writer
//! and ACKs back, in order, as their commits complete.
//!
//! Bounded per connection: one frame buffer (at most `max-frame-bytes`)
//! and at most `window` batches queued or in commit; while the window is
//! full nothing is read, so TCP pushes back on the agent. Every read has a
//! deadline: a HELLO within `frame-timeout` of connecting, a frame whole
//! within `frame-timeout` of its first byte, some frame within
//! `idle-timeout`.
//!
//! With TLS ([`crate::tls`]), the handshake comes first and counts against
//! the HELLO's deadline (`frame-timeout` from the accept). A connection to
//! the TLS port whose first byte is not a TLS handshake record is closed at
//! once: a plaintext HELLO is answered with a plaintext ERROR saying the
//! collector wants TLS. With client certificates, HELLO's agent_id must be
//! the certificate's name.
//!
//! A connection keeps the [`Limits`] it was accepted with: its WELCOME
//! told the agent the window and the largest frame, and an agent holds to
//! those until it reconnects. A reload (SIGHUP) changes the limits of
//! connections accepted after it; existing ones are not cut.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use logcore::wire::{self, Frame, WireError, MAGIC, VERSION};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_rustls::server::TlsStream;

use crate::close::Close;
use crate::config::Config;
use crate::notify::Stats;
use crate::server::Slot;
use crate::store::Peer;
use crate::tls::{self, FirstBytes, ServerTls};
use crate::writer::{now_ms, Batch, SentBy};

use logcore::wire::kind::HELLO as HELLO_TYPE;

/// How long a closing connection waits for its in-flight batches' commits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// After an ERROR frame, how long unread input is drained before the
/// socket closes (closing with unread input sends RST, which can destroy
/// the ERROR frame before the peer reads it).
const LINGER: Duration = Duration::from_millis(500);

/// The limits a connection is served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: u32,
    pub max_frame: u32,
    pub window: u16,
    pub frame_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            max_connections: config.max_connections,
            max_frame: config.max_frame_bytes,
            window: config.window,
            frame_timeout: config.frame_timeout(),
            idle_timeout: config.idle_timeout(),
        }
    }
}

/// What every connection shares.
pub struct Shared {
    /// The limits for connections accepted from now on (a reload sends new
    /// ones); each connection takes a copy when it is accepted.
    pub limits: watch::Receiver<Limits>,
    pub queue: mpsc::Sender<Batch>,
    pub stats: Arc<Stats>,
    /// TLS for connections accepted from now on (a reload reads the files
    /// again); `None`: plaintext.
    pub tls: watch::Receiver<Option<Arc<ServerTls>>>,
}

/// Who the peer's client certificate says it is.
struct Identity {
    tls: Arc<ServerTls>,
    /// The certificate's DNS names.
    names: Vec<String>,
}

/// Serves one connection to its end and logs why it ended. `slot` (its
/// place under `max-connections`) is given back before the closing linger.
pub async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    limits: Limits,
    mut shutdown: broadcast::Receiver<()>,
    slot: Slot,
) {
    let accepted = Instant::now();
    let tls = shared.tls.borrow().clone();
    let Some(tls) = tls else {
        let conn = Connection::new(stream, addr, &limits, accepted);
        return conn.serve(&shared, &limits, shutdown, slot, None).await;
    };
    let mut tcp = stream;
    let started = tokio::select! {
        biased;
        _ = shutdown.recv() => Err(Close::Shutdown),
        r = start_tls(&mut tcp, &tls, accepted, limits.frame_timeout) => r,
    };
    match started {
        Ok(stream) => {
            let names = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(tls::cert_names)
                .unwrap_or_default();
            let conn = Connection::new(stream, addr, &limits, accepted);
            let identity = Identity { tls, names };
            conn.serve(&shared, &limits, shutdown, slot, Some(identity))
                .await;
        }
        Err(reason) => {
            reason.log(addr, None);
            drop(slot);
            // An ERROR in plaintext for an agent with TLS off; otherwise the
            // alert rustls sent, kept from a reset by the same linger.
            Connection::new(&mut tcp, addr, &limits, accepted)
                .close(&reason)
                .await;
        }
    }
}

/// The TLS handshake, within `limit` of `accepted`. A connection whose
/// first byte is not a TLS handshake record is not TLS: its first bytes
/// say whether it is a logq agent with TLS off.
async fn start_tls<'a>(
    stream: &'a mut TcpStream,
    tls: &ServerTls,
    accepted: Instant,
    limit: Duration,
) -> Result<TlsStream<&'a mut TcpStream>, Close> {
    let deadline = accepted + limit;
    let timed_out =
        || Close::Handshake(format!("no TLS handshake within {} ms", limit.as_millis()));
    let mut first = [0u8; 1];
    match timeout_at(deadline, stream.peek(&mut first)).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) => return Err(Close::Io(e)),
        Ok(Ok(0)) => return Err(Close::PeerClosed),
        Ok(Ok(_)) if tls::first_bytes(&first) == FirstBytes::Tls => {}
        Ok(Ok(_)) => return Err(not_tls(stream, deadline).await),
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    match timeout_at(deadline, acceptor.accept(stream)).await {
        Err(_) => Err(timed_out()),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Close::Handshake(tls.describe(&e))),
    }
}

/// A connection to the TLS port that does not start with TLS: reads up
/// to a HELLO's first 9 bytes to say what it is.
async fn not_tls(stream: &mut TcpStream, deadline: Instant) -> Close {
    let mut buf = Vec::with_capacity(16);
    while tls::first_bytes(&buf) == FirstBytes::Unknown {
        match timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    let hello = tls::first_bytes(&buf) == FirstBytes::PlainHello;
    buf.truncate(16);
    Close::NotTls { hello, first: buf }
}

/// Refuses a connection over the limit with ERROR BUSY (over TLS when the
/// listener speaks it, so that the agent can read why).
pub async fn refuse_busy(stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>, limits: Limits) {
    let reason = Close::Busy(limits.max_connections);
    reason.log(addr, None);
    let accepted = Instant::now();
    let tls = shared.tls.borrow().clone();
    let Some(tls) = tls else {
        return Connection::new(stream, addr, &limits, accepted)
            .close(&reason)
            .await;
    };
    let mut tcp = stream;
    if let Ok(stream) = start_tls(&mut tcp, &tls, accepted, limits.frame_timeout).await {
        Connection::new(stream, addr, &limits, accepted)
            .close(&reason)
            .await;
    }
}

struct Connection<S> {
    stream: S,
    addr: SocketAddr,
    buf: Vec<u8>,
    max_frame: u32,
    frame_timeout: Duration,
    idle_timeout: Duration,
    /// When the first byte of the frame being read arrived (for the HELLO:
    /// when the connection was accepted).
    frame_started: Option<Instant>,
    last_activity: Instant,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// `accepted`: when the TCP connection was accepted, from which the
    /// HELLO's deadline runs.
    fn new(stream: S, addr: SocketAddr, limits: &Limits, accepted: Instant) -> Connection<S> {
        Connection {
            stream,
            addr,
            buf: Vec::new(),
            max_frame: limits.max_frame,
            frame_timeout: limits.frame_timeout,
            idle_timeout: limits.idle_timeout,
            frame_started: Some(accepted),
            last_activity: accepted,
        }
    }

    /// Serves the connection to its end and logs why it ended.
    async fn serve(
        mut self,
        shared: &Shared,
        limits: &Limits,
        shutdown: broadcast::Receiver<()>,
        slot: Slot,
        identity: Option<Identity>,
    ) {
        let mut peer = None;
        let reason = self
            .run(
                shared,
                limits.window,
                shutdown,
                &mut peer,
                identity.as_ref(),
            )
            .await;
        if peer.is_some() {
            shared.stats.agents.fetch_sub(1, Ordering::Relaxed);
        }
        reason.log(self.addr, peer.as_ref().map(|p| p.agent_id.as_str()));
        drop(slot);
        self.close(&reason).await;
    }

    async fn run(
        &mut self,
        shared: &Shared,
        window: u16,
        mut shutdown: broadcast::Receiver<()>,
        peer_out: &mut Option<Arc<Peer>>,
        identity: Option<&Identity>,
    ) -> Close {
        let hello = tokio::select! {
            biased;
            _ = shutdown.recv() => return Close::Shutdown,
            r = self.read_frame(true) => r,
        };
        let peer = match hello.and_then(|n| self.take_hello(n)) {
            Ok(peer) => Arc::new(peer),
            Err(close) => return close,
        };
        if let Some(id) = identity {
            if let Err(why) = id.tls.check_identity(&peer.agent_id, &id.names) {
                return Close::Identity(why);
            }
        }
        *peer_out = Some(peer.clone());
        shared.stats.agents.fetch_add(1, Ordering::Relaxed);
        let welcome = Frame::Welcome {
            version: VERSION,
            max_frame: self.max_frame,
            window,
        };
        if let Err(close) = self.send(&welcome).await {
            return close;
        }
        tracing::info!(peer = %self.addr, tls = identity.is_some(), agent = %peer.agent_id, host = %peer.host, "Agent connected.");

        let window = usize::from(window);
        let mut outstanding: VecDeque<(u64, oneshot::Receiver<()>)> =
            VecDeque::with_capacity(window);
        let mut last_seq = 0u64;
        loop {
            let can_read = outstanding.len() < window;
            let waiting = !outstanding.is_empty();
            tokio::select! {
                biased;
                _ = shutdown.recv() => return self.finish(outstanding).await,
                ack = next_ack(&mut outstanding), if waiting => {
                    let Some(seq) = ack else { return Close::WriterGone };
                    let seq = coalesce(&mut outstanding, seq);
                    if let Err(close) = self.send(&Frame::Ack { batch_seq: seq }).await {
                        return close;
                    }
                }
                r = self.read_frame(false), if can_read => {
                    let frame = match r.and_then(|n| self.take_frame(n)) {
                        Ok(frame) => frame,
                        Err(close) => return close,
                    };
                    match frame {
                        Frame::Batch { batch_seq, read_time_ms: _, streams } => {
                            if batch_seq <= last_seq {
                                return Close::Protocol(format!("batch {batch_seq} after batch {last_seq}"));
                            }
                            last_seq = batch_seq;
                            let (done, rx) = oneshot::channel();
                            let batch = Batch { sent_by: SentBy::Agent(peer.clone()), receive_time_ms: now_ms(), streams, done };
                            tokio::select! {
                                biased;
                                _ = shutdown.recv() => return self.finish(outstanding).await,
                                sent = shared.queue.send(batch) => if sent.is_err() {
                                    return Close::WriterGone;
                                },
                            }
                            outstanding.push_back((batch_seq, rx));
                        }
                        Frame::Error { code, message } => return Close::AgentError { code, message },
                        other => {
                            return Close::Protocol(format!("unexpected {} frame from an agent", frame_name(&other)))
                        }
                    }
                }
            }
        }
    }

    /// Shutting down: ACK what commits in time, then close.
    async fn finish(&mut self, mut outstanding: VecDeque<(u64, oneshot::Receiver<()>)>) -> Close {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while !outstanding.is_empty() {
            match timeout_at(deadline, next_ack(&mut outstanding)).await {
                Ok(Some(seq)) => {
                    let seq = coalesce(&mut outstanding, seq);
                    if let Err(close) = self.send(&Frame::Ack { batch_seq: seq }).await {
                        return close;
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        Close::Shutdown
    }

    /// Reads until a whole frame is buffered and returns its length.
    /// Cancel-safe: what was read stays in the buffer.
    async fn read_frame(&mut self, hello: bool) -> Result<usize, Close> {
        loop {
            let checked = if hello {
                check_hello(&self.buf, self.max_frame)?
            } else {
                match wire::check(&self.buf, self.max_frame) {
                    Ok(n) => n,
                    Err(WireError::TooLarge { len, max }) => {
                        return Err(Close::TooLarge { len, max })
                    }
                    Err(e) => return Err(Close::Protocol(e.to_string())),
                }
            };
            if let Some(n) = checked {
                return Ok(n);
            }
            // Room for the whole frame once its length is known.
            let want = match self.buf.get(..4) {
                Some(h) => 4 + u32::from_be_bytes(h.try_into().expect("4 bytes")) as usize,
                None => 4096,
            };
            let free = self.buf.capacity() - self.buf.len();
            if free < 4096 || self.buf.len() + free < want {
                self.buf.reserve((want - self.buf.len()).max(4096));
            }
            let (deadline, on_timeout) = match self.frame_started {
                Some(t) if hello => (
                    t + self.frame_timeout,
                    Close::HelloTimeout(self.frame_timeout),
                ),
                Some(t) => (
                    t + self.frame_timeout,
                    Close::FrameTimeout(self.frame_timeout),
                ),
                None => (
                    self.last_activity + self.idle_timeout,
                    Close::Idle(self.idle_timeout),
                ),
            };
            match timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Err(on_timeout),
                Ok(Ok(0)) if self.buf.is_empty() => return Err(Close::PeerClosed),
                Ok(Ok(0)) => return Err(Close::ClosedMidFrame),
                Ok(Ok(_)) => {
                    if self.frame_started.is_none() {
                        self.frame_started = Some(Instant::now());
                    }
                }
                Ok(Err(e)) => return Err(Close::Io(e)),
            }
        }
    }

    /// Removes the `n`-byte frame at the front of the buffer and decodes it.
    fn take_frame(&mut self, n: usize) -> Result<Frame, Close> {
        let frame = Frame::decode(&self.buf[..n]).map_err(|e| Close::Protocol(e.to_string()));
        self.consume(n);
        frame
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        let now = Instant::now();
        self.last_activity = now;
        self.frame_started = (!self.buf.is_empty()).then_some(now);
        // Do not keep a large frame's buffer for an idle connection.
        if self.buf.capacity() > 1 << 20 && self.buf.len() < 1 << 16 {
            self.buf.shrink_to(1 << 16);
        }
    }

    fn take_hello(&mut self, n: usize) -> Result<Peer, Close> {
        // The version is read before the rest: a later version may lay out
        // the rest of its HELLO differently.
        if let Some(v) = self.buf.get(9..11) {
            let version = u16::from_be_bytes(v.try_into().expect("2 bytes"));
            if version != VERSION {
                return Err(Close::Version(version));
            }
        }
        let first = self.buf[..n.min(16)].to_vec();
        match self.take_frame(n)? {
            Frame::Hello {
                agent_id,
                host,
                utc_offset_secs,
                ..
            } => Ok(Peer {
                agent_id,
                host,
                utc_offset_secs,
            }),
            _ => Err(Close::NotAgent {
                first,
                code: wire::code::PROTOCOL,
            }),
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Close> {
        let mut out = Vec::with_capacity(64);
        frame
            .encode(&mut out)
            .map_err(|e| Close::Protocol(e.to_string()))?;
        match timeout(self.frame_timeout, self.stream.write_all(&out)).await {
            Ok(Ok(())) => {
                self.last_activity = Instant::now();
                Ok(())
            }
            Ok(Err(e)) => Err(Close::Io(e)),
            Err(_) => Err(Close::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "peer does not read",
            ))),
        }
    }

    /// Sends the ERROR frame `reason` calls for, then closes: write side
    /// first, then unread input is drained for a moment so that the peer
    /// gets the frame (or a failed handshake's TLS alert) rather than a
    /// reset.
    async fn close(mut self, reason: &Close) {
        let mut out = Vec::new();
        match reason.error_frame() {
            Some((code, message)) => {
                if (Frame::Error { code, message }).encode(&mut out).is_err() {
                    return;
                }
            }
            None if matches!(reason, Close::Handshake(_)) => {}
            None => return,
        }
        let linger = async {
            self.stream.write_all(&out).await?;
            self.stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            while self.stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        };
        let _ = timeout(LINGER.max(Duration::from_millis(1)), linger).await;
    }
}

/// The first bytes of a connection must be a HELLO: anything else is not a
/// logq agent (an HTTP client, a port scanner), told apart as soon as the
/// type byte or the magic shows it.
fn check_hello(buf: &[u8], max_frame: u32) -> Result<Option<usize>, Close> {
    let not_hello = match buf.get(4) {
        None => false,
        Some(&t) if t != HELLO_TYPE => true,
        Some(_) => {
            let seen = &buf[5..buf.len().min(9)];
            seen != &MAGIC[..seen.len()]
        }
    };
    let checked = wire::check(buf, max_frame);
    if not_hello || matches!(checked, Err(WireError::Empty)) {
        let code = match checked {
            Err(WireError::TooLarge { .. }) => wire::code::TOO_LARGE,
            _ => wire::code::PROTOCOL,
        };
        return Err(Close::NotAgent {
            first: buf[..buf.len().min(16)].to_vec(),
            code,
        });
    }
    match checked {
        Ok(n) => Ok(n),
        Err(WireError::TooLarge { len, max }) => Err(Close::TooLarge { len, max }),
        Err(e) => Err(Close::Protocol(e.to_string())),
    }
}

/// Waits for the oldest outstanding batch's commit; its sequence number, or
/// `None` when the writer dropped it (it will never be committed).
async fn next_ack(outstanding: &mut VecDeque<(u64, oneshot::Receiver<()>)>) -> Option<u64> {
    let (seq, rx) = outstanding.front_mut()?;
    let seq = *seq;
    let result = rx.await;
    outstanding.pop_front();
    result.ok().map(|()| seq)
}

/// ACKs are cumulative: take every later batch already committed too.
fn coalesce(outstanding: &mut VecDeque<(u64, oneshot::Receiver<()>)>, mut seq: u64) -> u64 {
    while let Some((next, rx)) = outstanding.front_mut() {
        if rx.try_recv().is_err() {
            break;
        }
        seq = *next;
        outstanding.pop_front();
    }
    seq
}

fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello { .. } => "HELLO",
        Frame::Welcome { .. } => "WELCOME",
        Frame::Batch { .. } => "BATCH",
        Frame::Ack { .. } => "ACK",
        Frame::Error { .. } => "ERROR",
    }
}
