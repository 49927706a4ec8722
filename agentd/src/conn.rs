//! One TCP connection to the collector: HELLO/WELCOME, BATCH frames out,
//! ACK frames in.
//!
//! The shipper thread writes; a reader thread per connection reads acks,
//! moves the checkpoints of the acknowledged batches (ACK is cumulative) and
//! wakes the shipper. The in-flight list keeps, per unacked batch, only what
//! its ACK moves (each stream's end, the spool id), not its lines: those
//! are still in the spool, and after the connection ends the shipper reads
//! them from there again. Holding the lines instead cost a megabyte per
//! batch of the window (agentd's RSS grew from 9 to 15 MiB at 60,000
//! lines/s).
//!
//! With TLS, the handshake, HELLO and WELCOME run on this thread; then the
//! reader thread and the shipper share one [`TlsLink`] (see `tls.rs` for
//! why and how).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logcore::wire::{check, Frame, WireError, VERSION};

use crate::batch::{ends, split_for_frame, Batch};
use crate::checkpoint::{self, Shared};
use crate::shipper::Stats;
use crate::spool::Spool;
use crate::tls::{ClientTls, TlsLink};

/// The largest frame we accept from the collector (WELCOME, ACK, ERROR are
/// tiny).
const MAX_INCOMING_FRAME: u32 = 1024 * 1024;

/// A batch sent and not yet acknowledged: what its ACK moves.
struct Sent {
    seq: u64,
    /// Per stream, the end of its last record in the batch.
    ends: Vec<(u64, u64)>,
    lines: usize,
    spool_id: Option<u64>,
}

struct Inner {
    /// Sent, not yet acked, in batch_seq order.
    inflight: VecDeque<Sent>,
    last_sent: u64,
    failure: Option<String>,
    /// When the last ack came, or when the in-flight list became non-empty.
    last_progress: Instant,
    acked_any: bool,
}

struct ConnState {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl ConnState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The reader and the shipper update `Inner` in single steps; a
        // panic in one leaves it consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fail(&self, why: String) {
        let mut inner = self.lock();
        inner.failure.get_or_insert(why);
        self.changed.notify_all();
    }
}

/// Where frames are written.
enum Writer {
    Plain(TcpStream),
    Tls(Arc<TlsLink>),
}

impl Writer {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Writer::Plain(s) => s.write_all(bytes),
            Writer::Tls(link) => link.write_all(bytes),
        }
    }
}

pub struct Connection {
    /// The socket, to shut it down.
    stream: TcpStream,
    writer: Writer,
    /// How many batches may be unacked at once.
    pub window: usize,
    pub max_frame: u32,
    pub peer: String,
    state: Arc<ConnState>,
    reader: Option<JoinHandle<()>>,
    next_seq: u64,
    buf: Vec<u8>,
}

/// What the agent says in HELLO.
pub struct Hello {
    pub agent_id: String,
    pub host: String,
    pub utc_offset_secs: i32,
}

impl Connection {
    /// Connects and does the handshake (TLS's, then HELLO/WELCOME) within
    /// `timeout`; the error is a sentence for the log.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        addr: &str,
        tls: Option<&ClientTls>,
        hello: &Hello,
        window: u16,
        timeout: Duration,
        write_timeout: Duration,
        ckpt: Shared,
        spool: Spool,
        stats: Arc<Stats>,
    ) -> Result<Connection, String> {
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?;
        let mut last_err = format!("{addr} resolves to no address");
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_err = format!("cannot connect to {a}: {e}"),
            }
        }
        let mut stream = stream.ok_or(last_err)?;
        let peer = stream
            .peer_addr()
            .map_or_else(|_| addr.to_owned(), |a| a.to_string());
        let io_err = |e: io::Error| format!("handshake with {peer} failed: {e}");
        stream.set_nodelay(true).map_err(io_err)?;
        stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
        stream
            .set_write_timeout(Some(write_timeout))
            .map_err(io_err)?;
        let mut buf = Vec::new();
        Frame::Hello {
            version: VERSION,
            agent_id: hello.agent_id.clone(),
            host: hello.host.clone(),
            utc_offset_secs: hello.utc_offset_secs,
        }
        .encode(&mut buf)
        .map_err(|e| format!("cannot encode HELLO: {e}"))?;
        let mut inbuf = Vec::new();
        let (welcome, writer, reader): (_, _, Box<dyn Read + Send>) = match tls {
            None => {
                stream.write_all(&buf).map_err(io_err)?;
                let welcome = read_frame(&mut stream, &mut inbuf).map_err(io_err)?;
                let reader = stream.try_clone().map_err(io_err)?;
                let writer = stream.try_clone().map_err(io_err)?;
                (welcome, Writer::Plain(writer), Box::new(reader))
            }
            Some(tls) => {
                let tls_err =
                    |e: io::Error| format!("TLS with {peer} failed: {}", tls.describe(&e));
                let conn =
                    rustls::ClientConnection::new(Arc::clone(&tls.config), tls.server_name.clone())
                        .map_err(|e| format!("cannot start TLS: {e}"))?;
                let mut s = rustls::StreamOwned::new(conn, stream.try_clone().map_err(io_err)?);
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock).map_err(tls_err)?;
                }
                // TLS 1.3: the collector checks our certificate after the
                // client's side of the handshake is over; a refusal is an
                // alert read here, or a reset that cut it off.
                if let Err(e) = s.write_all(&buf).and_then(|()| s.flush()) {
                    let mut probe = [0u8; 1];
                    return Err(match s.read(&mut probe) {
                        Err(alert) if alert.get_ref().is_some() => tls_err(alert),
                        _ => tls_err(e),
                    });
                }
                let welcome = read_frame(&mut s, &mut inbuf).map_err(|e| {
                    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>())
                        || e.kind() == io::ErrorKind::UnexpectedEof
                    {
                        tls_err(e)
                    } else {
                        io_err(e)
                    }
                })?;
                let reader_tcp = stream.try_clone().map_err(io_err)?;
                let link = Arc::new(TlsLink::new(s.conn, s.sock));
                let reader = link.reader(reader_tcp);
                (welcome, Writer::Tls(link), Box::new(reader))
            }
        };
        let (max_frame, welcome_window) = match welcome {
            Frame::Welcome {
                version,
                max_frame,
                window,
            } if version == VERSION => (max_frame, window),
            Frame::Welcome { version, .. } => {
                return Err(format!(
                "collector {peer} speaks protocol version {version}, this agent speaks {VERSION}"
            ))
            }
            Frame::Error { code, message } => {
                return Err(format!(
                    "collector {peer} refused the connection (code {code}): {message}"
                ))
            }
            other => {
                return Err(format!(
                    "collector {peer} answered HELLO with an unexpected {} frame",
                    frame_name(&other)
                ))
            }
        };
        stream.set_read_timeout(None).map_err(io_err)?;
        let state = Arc::new(ConnState {
            inner: Mutex::new(Inner {
                inflight: VecDeque::new(),
                last_sent: 0,
                failure: None,
                last_progress: Instant::now(),
                acked_any: false,
            }),
            changed: Condvar::new(),
        });
        let reader_state = Arc::clone(&state);
        let reader = std::thread::Builder::new()
            .name("agentd-acks".into())
            .spawn(move || read_acks(reader, inbuf, &reader_state, &ckpt, &spool, &stats))
            .map_err(|e| format!("cannot start the ack reader thread: {e}"))?;
        Ok(Connection {
            stream,
            writer,
            window: usize::from(window.min(welcome_window).max(1)),
            max_frame,
            peer,
            state,
            reader: Some(reader),
            next_seq: 1,
            buf: Vec::new(),
        })
    }

    /// A handle to the socket, to abort a blocked write at shutdown.
    pub fn try_clone_stream(&self) -> Option<TcpStream> {
        self.stream.try_clone().ok()
    }

    /// Sends a batch, split to respect the collector's frame limit. Each
    /// piece is in the in-flight list before its first byte is written;
    /// its lines stay in the spool until acknowledged, so nothing is lost
    /// whatever fails.
    pub fn send(&mut self, batch: Batch) -> Result<(), String> {
        let read_time_ms = batch.read_time_ms;
        let pieces = split_for_frame(batch.streams, self.max_frame);
        let count = pieces.len();
        let mut frames = Vec::with_capacity(count);
        {
            let mut inner = self.state.lock();
            if inner.inflight.is_empty() {
                inner.last_progress = Instant::now();
            }
            for (i, streams) in pieces.into_iter().enumerate() {
                let seq = self.next_seq;
                self.next_seq += 1;
                inner.last_sent = seq;
                inner.inflight.push_back(Sent {
                    seq,
                    ends: ends(&streams).collect(),
                    lines: streams.iter().map(|s| s.records.len()).sum(),
                    // The spool's batch is acknowledged with its last piece.
                    spool_id: if i + 1 == count { batch.spool_id } else { None },
                });
                self.buf.clear();
                Frame::Batch {
                    batch_seq: seq,
                    read_time_ms,
                    streams,
                }
                .encode(&mut self.buf)
                .map_err(|e| format!("cannot encode a batch: {e}"))?;
                frames.push(std::mem::take(&mut self.buf));
            }
        }
        for frame in frames {
            self.writer
                .write_all(&frame)
                .map_err(|e| format!("cannot send to collector {}: {e}", self.peer))?;
        }
        Ok(())
    }

    pub fn inflight(&self) -> usize {
        self.state.lock().inflight.len()
    }

    pub fn failure(&self) -> Option<String> {
        self.state.lock().failure.clone()
    }

    pub fn last_progress(&self) -> Instant {
        self.state.lock().last_progress
    }

    pub fn acked_any(&self) -> bool {
        self.state.lock().acked_any
    }

    /// Waits up to `timeout` for an ack or a failure.
    pub fn wait(&self, timeout: Duration) {
        let inner = self.state.lock();
        if inner.failure.is_none() {
            let _ = self.state.changed.wait_timeout(inner, timeout);
        }
    }

    /// Ends the connection once its ack reader has applied every ACK that
    /// arrived; what stays unacked is in the spool, to be read again.
    pub fn close(mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn frame_name(f: &Frame) -> &'static str {
    match f {
        Frame::Hello { .. } => "HELLO",
        Frame::Welcome { .. } => "WELCOME",
        Frame::Batch { .. } => "BATCH",
        Frame::Ack { .. } => "ACK",
        Frame::Error { .. } => "ERROR",
    }
}

/// Reads one frame, keeping extra bytes in `buf` for the next call.
fn read_frame(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Frame> {
    let invalid = |e: WireError| io::Error::new(io::ErrorKind::InvalidData, e);
    loop {
        if let Some(n) = check(buf, MAX_INCOMING_FRAME).map_err(invalid)? {
            let frame = Frame::decode(&buf[..n]).map_err(invalid)?;
            buf.drain(..n);
            return Ok(frame);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the collector closed the connection",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The reader thread: applies acks until the connection ends.
fn read_acks(
    mut stream: Box<dyn Read + Send>,
    mut buf: Vec<u8>,
    state: &ConnState,
    ckpt: &Shared,
    spool: &Spool,
    stats: &Stats,
) {
    let why = loop {
        match read_frame(&mut stream, &mut buf) {
            Ok(Frame::Ack { batch_seq }) => {
                if let Err(why) = apply_ack(state, batch_seq, ckpt, spool, stats) {
                    break why;
                }
            }
            Ok(Frame::Error { code, message }) => {
                break format!("collector sent an error (code {code}): {message}")
            }
            Ok(other) => {
                break format!("collector sent an unexpected {} frame", frame_name(&other))
            }
            Err(e) => break e.to_string(),
        }
    };
    state.fail(why);
}

fn apply_ack(
    state: &ConnState,
    seq: u64,
    ckpt: &Shared,
    spool: &Spool,
    stats: &Stats,
) -> Result<(), String> {
    let mut inner = state.lock();
    if seq > inner.last_sent {
        return Err(format!(
            "collector acknowledged batch {seq}, but only {} were sent",
            inner.last_sent
        ));
    }
    let mut store = checkpoint::lock(ckpt);
    let mut spooled = None;
    while inner.inflight.front().is_some_and(|s| s.seq <= seq) {
        let sent = inner.inflight.pop_front().expect("front was just checked");
        for &(stream_id, end) in &sent.ends {
            store.ack(stream_id, end);
        }
        spooled = sent.spool_id.or(spooled);
        stats
            .lines_acked
            .fetch_add(sent.lines as u64, Ordering::Relaxed);
    }
    drop(store);
    // After the checkpoints: a segment goes only once its lines are
    // acknowledged there too.
    if let Some(id) = spooled {
        spool.ack(id);
    }
    inner.last_progress = Instant::now();
    inner.acked_any = true;
    state.changed.notify_all();
    Ok(())
}
