//! One agent connection: HELLO, WELCOME, then BATCH frames to the writer
//! and ACKs back, in order, as their commits complete.
//!
//! Bounded per connection: frames are read by a [`Reader`] (the buffer
//! grows with what arrives, under the shared [`Budget`]), and at most
//! `window` batches are queued or in commit; while the window is full
//! nothing is read, so TCP pushes back on the agent. Every read has a
//! deadline: the HELLO (after the TLS handshake, if any) within
//! `hello-timeout` of connecting, a frame whole within `frame-timeout` of
//! its first byte (or of its admission by the budget), some line within
//! `idle-timeout` while no batch waits for its commit. A BATCH without
//! records is acknowledged without going to the writer and is no sign of
//! life: idle means no lines.
//!
//! A connection holds a [`Slot`] (pending until HELLO, then under the
//! agent id) and can be cut from outside ([`Cut`]): displaced to make room,
//! replaced by the same agent's newer connection, or its frame stalled
//! while others wait for buffer memory.
//!
//! With TLS ([`crate::net::tls`]), the handshake comes first and counts against
//! the HELLO's deadline. A connection to the TLS port whose first byte is
//! not a TLS handshake record is closed at once: a plaintext HELLO is
//! answered with a plaintext ERROR saying the collector wants TLS. With
//! client certificates, HELLO's agent_id must be the certificate's name.
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

use logcore::text::Escaped;
use logcore::wire::{self, Frame, WireError, VERSION};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, oneshot};
use tokio::time::{timeout, Instant};

use crate::ingest::Peer;
use crate::net::budget::Held;
use crate::net::close::{linger, Close, Cut, CutRx, Cutter};
use crate::net::reader::{Reader, Wait};
use crate::net::slots::Slot;
use crate::net::tls::{self, ServerTls};
use crate::writer::{now_ms, Batch, SentBy, Stored};

mod shared;

pub use shared::{Limits, Shared, REFUSALS};

/// How long a closing connection waits for its in-flight batches' commits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Who the peer's client certificate says it is.
struct Identity {
    tls: Arc<ServerTls>,
    /// The certificate's DNS names.
    names: Vec<String>,
}

/// A batch in the writer's hands, and the budget its lines hold until the
/// writer is done with it.
struct Outstanding {
    seq: u64,
    done: oneshot::Receiver<Stored>,
    held: Option<Held>,
}

/// Serves one connection to its end and logs why it ended. `slot` (its
/// place in the pools) is given back before the closing linger.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    limits: Limits,
    mut shutdown: broadcast::Receiver<()>,
    slot: Slot,
    cutter: Cutter,
    mut cut: CutRx,
) {
    let hello_by = Instant::now() + limits.hello_timeout;
    let tls = shared.tls.borrow().clone();
    let Some(tls) = tls else {
        let conn = Connection::new(stream, addr, &shared, &limits, cutter);
        return conn
            .serve(&shared, &limits, shutdown, slot, cut, None, hello_by)
            .await;
    };
    let mut tcp = stream;
    let started = tokio::select! {
        biased;
        _ = shutdown.recv() => Err(Close::Shutdown),
        c = cut.cut() => Err(Close::Cut(c)),
        r = tls::start(&mut tcp, &tls, hello_by, limits.hello_timeout, || slot.heard()) => r,
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
            let conn = Connection::new(stream, addr, &shared, &limits, cutter);
            let identity = Identity { tls, names };
            conn.serve(
                &shared,
                &limits,
                shutdown,
                slot,
                cut,
                Some(identity),
                hello_by,
            )
            .await;
        }
        Err(reason) => {
            reason.log(addr, None, false);
            drop(slot);
            // An ERROR in plaintext for an agent with TLS off; otherwise the
            // alert rustls sent, kept from a reset by the same linger.
            let words = matches!(reason, Close::NotTls { hello: true, .. });
            let alert = matches!(reason, Close::Handshake(_));
            linger(&mut tcp, words.then_some(&reason), alert).await;
        }
    }
}

struct Connection<S> {
    reader: Reader<S>,
    addr: SocketAddr,
    max_frame: u32,
    frame_timeout: Duration,
    idle_timeout: Duration,
    outstanding: VecDeque<Outstanding>,
    /// When the connection last delivered a line (at first: accepted).
    last_lines: Instant,
    lines: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn new(
        stream: S,
        addr: SocketAddr,
        shared: &Shared,
        limits: &Limits,
        cutter: Cutter,
    ) -> Connection<S> {
        Connection {
            reader: Reader::new(stream, shared.budget.clone(), cutter),
            addr,
            max_frame: limits.max_frame,
            frame_timeout: limits.frame_timeout,
            idle_timeout: limits.idle_timeout,
            outstanding: VecDeque::new(),
            last_lines: Instant::now(),
            lines: false,
        }
    }

    /// Serves the connection to its end and logs why it ended.
    #[allow(clippy::too_many_arguments)]
    async fn serve(
        mut self,
        shared: &Shared,
        limits: &Limits,
        shutdown: broadcast::Receiver<()>,
        slot: Slot,
        mut cut: CutRx,
        identity: Option<Identity>,
        hello_by: Instant,
    ) {
        let mut peer = None;
        let reason = self
            .run(
                shared,
                limits,
                shutdown,
                &slot,
                &mut cut,
                &mut peer,
                identity.as_ref(),
                hello_by,
            )
            .await;
        if peer.is_some() {
            shared.stats.agents.fetch_sub(1, Ordering::Relaxed);
        }
        reason.log(
            self.addr,
            peer.as_ref().map(|p| p.agent_id.as_str()),
            self.lines,
        );
        drop(slot);
        // Batches the writer still has keep their budget until it is done
        // with them, connection or not.
        let left: Vec<Outstanding> = self.outstanding.drain(..).collect();
        if left.iter().any(|o| o.held.is_some()) {
            tokio::spawn(async move {
                for o in left {
                    let _ = o.done.await;
                }
            });
        }
        // A connection displaced to make room is told why only when few
        // refusals are under way (a flood displaces many), and never
        // before HELLO (a stranger, most likely).
        let evicted = matches!(reason, Close::Cut(Cut::Evicted));
        let permit = if evicted && peer.is_some() {
            shared.refusals.try_acquire().ok()
        } else {
            None
        };
        let words = !evicted || permit.is_some();
        linger(&mut self.reader.stream, words.then_some(&reason), false).await;
        drop(permit);
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &mut self,
        shared: &Shared,
        limits: &Limits,
        mut shutdown: broadcast::Receiver<()>,
        slot: &Slot,
        cut: &mut CutRx,
        peer_out: &mut Option<Arc<Peer>>,
        identity: Option<&Identity>,
        hello_by: Instant,
    ) -> Close {
        let wait = Wait::Hello {
            by: hello_by,
            limit: limits.hello_timeout,
        };
        let hello = async {
            // The first bytes of a HELLO: displaced after the silent ones.
            self.reader.first_bytes(wait).await?;
            slot.heard();
            self.reader.next(wire::MAX_HELLO, wait).await
        };
        let hello = tokio::select! {
            biased;
            _ = shutdown.recv() => return Close::Shutdown,
            c = cut.cut() => return Close::Cut(c),
            r = hello => r,
        };
        let peer = match hello.and_then(|n| self.take_hello(n)) {
            Ok(peer) => Arc::new(peer),
            Err(close) => return close,
        };
        let mut verified = false;
        if let Some(id) = identity {
            if let Err(why) = id.tls.check_identity(&peer.agent_id, &id.names) {
                return Close::Identity(why);
            }
            verified = id.tls.client_ca.is_some();
        }
        if let Err(close) = slot.establish(&peer.agent_id, verified, limits.slots()) {
            return close;
        }
        *peer_out = Some(peer.clone());
        shared.stats.agents.fetch_add(1, Ordering::Relaxed);
        let welcome = Frame::Welcome {
            version: VERSION,
            max_frame: self.max_frame,
            window: limits.window,
        };
        if let Err(close) = self.send(&welcome).await {
            return close;
        }
        tracing::info!(peer = %self.addr, tls = identity.is_some(), verified, agent = %Escaped(&peer.agent_id), host = %Escaped(&peer.host), "Agent connected.");

        let window = usize::from(limits.window);
        let mut last_seq = 0u64;
        loop {
            let can_read = self.outstanding.len() < window;
            let waiting = !self.outstanding.is_empty();
            let wait = Wait::Frames {
                frame: self.frame_timeout,
                idle: (!waiting)
                    .then_some((self.last_lines + self.idle_timeout, self.idle_timeout)),
            };
            tokio::select! {
                biased;
                _ = shutdown.recv() => return self.finish().await,
                c = cut.cut() => return Close::Cut(c),
                ack = next_ack(&mut self.outstanding), if waiting => {
                    let seq = match ack {
                        Ok(seq) => coalesce(&mut self.outstanding, seq),
                        Err(close) => return close,
                    };
                    if let Err(close) = self.send(&Frame::Ack { batch_seq: seq }).await {
                        return close;
                    }
                }
                r = self.reader.next(self.max_frame, wait), if can_read => {
                    let n = match r {
                        Ok(n) => n,
                        Err(close) => return close,
                    };
                    let (frame, held) = self.reader.take(n);
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(e) => return Close::Protocol(e.to_string()),
                    };
                    match frame {
                        Frame::Batch { batch_seq, read_time_ms: _, streams } => {
                            if batch_seq <= last_seq {
                                return Close::Protocol(format!("batch {batch_seq} after batch {last_seq}"));
                            }
                            last_seq = batch_seq;
                            let (done, rx) = oneshot::channel();
                            if streams.iter().all(|s| s.records.is_empty()) {
                                // Nothing to store: acknowledged in turn,
                                // without the writer.
                                let _ = done.send(Ok(()));
                                self.outstanding.push_back(Outstanding { seq: batch_seq, done: rx, held });
                                continue;
                            }
                            self.last_lines = Instant::now();
                            self.lines = true;
                            slot.lines();
                            let batch = Batch { sent_by: SentBy::Agent(peer.clone()), receive_time_ms: now_ms(), streams, done };
                            tokio::select! {
                                biased;
                                _ = shutdown.recv() => return self.finish().await,
                                c = cut.cut() => return Close::Cut(c),
                                sent = shared.queue.send(batch) => if sent.is_err() {
                                    return Close::WriterGone;
                                },
                            }
                            self.outstanding.push_back(Outstanding { seq: batch_seq, done: rx, held });
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
    async fn finish(&mut self) -> Close {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while !self.outstanding.is_empty() {
            match tokio::time::timeout_at(deadline, next_ack(&mut self.outstanding)).await {
                Ok(Ok(seq)) => {
                    let seq = coalesce(&mut self.outstanding, seq);
                    if let Err(close) = self.send(&Frame::Ack { batch_seq: seq }).await {
                        return close;
                    }
                }
                Ok(Err(_)) | Err(_) => break,
            }
        }
        Close::Shutdown
    }

    fn take_hello(&mut self, n: usize) -> Result<Peer, Close> {
        // The version is read before the rest: a later version may lay out
        // the rest of its HELLO differently.
        let front = self.reader.front(n);
        if let Some(v) = front.get(9..11) {
            let version = u16::from_be_bytes(v.try_into().expect("2 bytes"));
            if version != VERSION {
                return Err(Close::Version(version));
            }
        }
        let first = front[..n.min(16)].to_vec();
        match self.reader.take(n).0 {
            Ok(Frame::Hello {
                agent_id,
                host,
                utc_offset_secs,
                ..
            }) => Ok(Peer {
                agent_id,
                host,
                utc_offset_secs,
            }),
            Ok(_) => Err(Close::NotAgent {
                first,
                code: wire::code::PROTOCOL,
            }),
            Err(e @ WireError::BadName { .. }) => Err(Close::BadHello(e.to_string())),
            Err(e) => Err(Close::Protocol(e.to_string())),
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Close> {
        let mut out = Vec::with_capacity(64);
        frame
            .encode(&mut out)
            .map_err(|e| Close::Protocol(e.to_string()))?;
        match timeout(self.frame_timeout, self.reader.stream.write_all(&out)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Close::Io(e)),
            Err(_) => Err(Close::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "peer does not read",
            ))),
        }
    }
}

/// Waits for the oldest outstanding batch's commit; its sequence number, or
/// `None` when the writer dropped it (it will never be committed).
/// The oldest batch's answer: its sequence number once it is committed;
/// the close when it was not stored (the agent hears why) or the writer
/// is gone. Waits for ever when nothing is outstanding.
async fn next_ack(outstanding: &mut VecDeque<Outstanding>) -> Result<u64, Close> {
    let Some(o) = outstanding.front_mut() else {
        return std::future::pending().await;
    };
    let seq = o.seq;
    let result = (&mut o.done).await;
    outstanding.pop_front();
    match result {
        Ok(Ok(())) => Ok(seq),
        Ok(Err(why)) => Err(Close::NotStored(why)),
        Err(_) => Err(Close::WriterGone),
    }
}

/// ACKs are cumulative: take every later batch already committed too.
fn coalesce(outstanding: &mut VecDeque<Outstanding>, mut seq: u64) -> u64 {
    while let Some(o) = outstanding.front_mut() {
        match o.done.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                // Taken out of the channel: put back for next_ack to see.
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Err(why));
                o.done = rx;
                break;
            }
            Err(_) => break,
        }
        seq = o.seq;
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
