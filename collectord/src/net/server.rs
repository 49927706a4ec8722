//! The accept loop (after mini-redis): the caller binds, [`run`] serves
//! until `shutdown` completes, then stops accepting, tells every connection
//! to finish (ACK what commits in time, send ERROR SHUTDOWN) and returns
//! once all of them have.
//!
//! Each accepted connection asks the port's [`Slots`](crate::net::slots) for a
//! pending place (see there: per-source share, the pending pool that makes
//! room by closing its oldest, then after HELLO the agents' pool and one
//! connection per agent id). A connection refused at accept (its source is
//! over `max-connections-per-source` with nobody of its own to displace)
//! is told BUSY when few refusals are under way, else closed without a
//! word: a flood of refusals costs a bounded number of ERROR frames and,
//! over TLS, of handshakes. The limits are read at each accept, so a
//! reload applies them to new connections and never cuts one; a new
//! `max-buffer-mb` applies at once.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{sleep_until, Instant};
use tracing::{info, warn};

use crate::net::close::{cutter, linger, Close};
use crate::net::connection::{self, Limits, Shared};
use crate::net::tls;

/// Serves agents on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, shared: Shared, shutdown: impl Future) {
    // Dropping the sender tells every connection to finish.
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    // Each connection task holds a clone; `recv` returns `None` once all are gone.
    let (all_done_tx, mut all_done_rx) = mpsc::channel::<()>(1);
    let shared = Arc::new(shared);
    let mut limits_rx = shared.limits.clone();
    say_what_an_agent_id_is_worth(&shared);

    let accept = async {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                Ok(()) = limits_rx.changed() => {
                    let bytes = limits_rx.borrow_and_update().buffer_bytes;
                    shared.budget.set_capacity(bytes);
                    continue;
                }
            };
            let (stream, addr) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    warn!(error = %e, "Could not accept a connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // A copy: the borrow of the watch must not live across an await.
            let limits = shared.limits.borrow().clone();
            let done = all_done_tx.clone();
            let shared = shared.clone();
            let (cut_tx, cut_rx) = cutter();
            let ready = opening_waits(&stream);
            match shared.slots.arrive(
                addr.ip().to_canonical(),
                limits.slots(),
                cut_tx.clone(),
                ready,
            ) {
                Ok(slot) => {
                    let shutdown = notify_shutdown.subscribe();
                    tokio::spawn(async move {
                        connection::serve(
                            stream, addr, shared, limits, shutdown, slot, cut_tx, cut_rx,
                        )
                        .await;
                        drop(done);
                    });
                    // The new connection runs before the next accept (a
                    // task spawned here runs next on this thread): it reads
                    // what already arrived, an agent's HELLO, before a
                    // queue of strangers behind it can displace it.
                    tokio::task::yield_now().await;
                }
                Err(reason) => {
                    tokio::spawn(async move {
                        refuse(stream, addr, shared, reason, limits).await;
                        drop(done);
                    });
                }
            }
        }
    };

    tokio::select! {
        _ = accept => {}
        _ = shutdown => info!("Stopped accepting connections."),
    }
    drop(listener);
    drop(notify_shutdown);
    drop(all_done_tx);
    // The writer queue's last sender goes with the last connection.
    drop(shared);
    let _ = all_done_rx.recv().await;
}

/// Says once, at start, what an agent id is worth on this port: without
/// client certificates it is a claim that any peer able to connect can
/// make (and so write under any agent's name, moving its marks).
fn say_what_an_agent_id_is_worth(shared: &Shared) {
    let tls = shared.tls.borrow();
    match tls.as_deref() {
        Some(t) if t.client_ca.is_some() => info!(
            "Agent ids are identities here: each agent proves its name with a client certificate signed by tls-client-ca."
        ),
        Some(_) => warn!(
            "Agent ids are only claims here: TLS without tls-client-ca lets any peer that can connect write under any agent id. Set tls-client-ca to make them identities."
        ),
        None => warn!(
            "Agent ids are only claims here: on a plaintext port any peer that can connect can write under any agent id. Set tls-cert, tls-key and tls-client-ca to make them identities."
        ),
    }
}

/// Raises the soft limit of open files to the hard limit when it is below
/// `needed` (connections on every port plus the index's files), and says
/// so when even the hard limit is short: past it, connections are not
/// accepted ("Too many open files"). systemd's unit sets `LimitNOFILE=`.
pub fn raise_fd_limit(needed: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= needed {
        return;
    }
    let raised = hard.min(needed.max(soft));
    if raised > soft && setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() {
        info!(from = soft, to = raised, "Raised the limit of open files.");
    }
    if raised < needed {
        warn!(
            limit = raised,
            needed,
            "The limit of open files is below what the connection limits need; raise LimitNOFILE= (or ulimit -n), or lower max-connections."
        );
    }
}

/// Over TLS a refusal holds its place at least this long, so refusals cost
/// at most [`REFUSALS`](connection::REFUSALS) handshakes per this time, however fast the peers.
const REFUSAL_HOLD: Duration = Duration::from_millis(100);

/// Refuses a connection (over the per-source limit) in words, when fewer
/// than [`REFUSALS`](connection::REFUSALS) refusals are under way; else closes it without one.
async fn refuse(
    stream: TcpStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
    reason: Close,
    limits: Limits,
) {
    reason.log(addr, None, false);
    let Ok(_permit) = shared.refusals.clone().try_acquire_owned() else {
        return;
    };
    let started = Instant::now();
    let tls = shared.tls.borrow().clone();
    let mut tcp = stream;
    match tls {
        None => linger(&mut tcp, Some(&reason), false).await,
        Some(tls) => {
            let by = started + limits.hello_timeout;
            if let Ok(mut stream) =
                tls::start(&mut tcp, &tls, by, limits.hello_timeout, || ()).await
            {
                linger(&mut stream, Some(&reason), false).await;
            }
            sleep_until(started + REFUSAL_HOLD).await;
        }
    }
}

/// Whether a whole opening is already waiting in the socket: a HELLO
/// frame, or a TLS record (the ClientHello). A real agent sends it as soon
/// as it connects, so under a flood it is there by the time a deep accept
/// queue yields the connection; such a connection is displaced from the
/// pending pool last (`slots`), so its opening is read however many
/// strangers arrive meanwhile. Peeked, not read: the connection reads it.
fn opening_waits(stream: &tokio::net::TcpStream) -> bool {
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{recv, MsgFlags};

    let mut buf = [0u8; 2048];
    let Ok(n) = recv(
        stream.as_raw_fd(),
        &mut buf,
        MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
    ) else {
        return false;
    };
    let buf = &buf[..n];
    match buf {
        // A TLS handshake record: type 22, version 3.x, 2-byte length.
        [0x16, 0x03, _, hi, lo, ..] => buf.len() >= 5 + usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => matches!(
            logcore::wire::check(buf, logcore::wire::MAX_HELLO),
            Ok(Some(_))
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use logcore::wire::{self, code, Frame, WireRecord, WireStream, VERSION};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};
    use tokio::sync::{oneshot, watch};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::net::budget::Budget;
    use crate::net::connection::Limits;
    use crate::notify::Stats;
    use crate::writer::Batch;

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            max_pending: 4,
            per_source: 16,
            max_frame: 1 << 20,
            window: 2,
            hello_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            buffer_bytes: 64 << 20,
        }
    }

    struct Running {
        addr: SocketAddr,
        /// What a reload sends.
        limits: watch::Sender<Limits>,
        batches: mpsc::Receiver<Batch>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<()>,
    }

    impl Running {
        async fn stop(mut self) {
            drop(self.stop.take());
            drop(self.batches);
            self.task.await.unwrap();
        }
    }

    async fn start(limits: Limits) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (queue, batches) = mpsc::channel(4);
        let (stop, stopped) = oneshot::channel::<()>();
        let budget = Budget::new(limits.buffer_bytes);
        let (limits, limits_rx) = watch::channel(limits);
        let (_, tls) = watch::channel(None);
        let shared = Shared::new(limits_rx, queue, Arc::new(Stats::default()), tls, budget);
        let task = tokio::spawn(run(listener, shared, async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            limits,
            batches,
            stop: Some(stop),
            task,
        }
    }

    async fn send(stream: &mut TcpStream, frame: &Frame) {
        let mut out = Vec::new();
        frame.encode(&mut out).unwrap();
        stream.write_all(&out).await.unwrap();
    }

    /// The next frame from the server, or `None` at EOF. Reads one byte at
    /// a time so that nothing past the frame is consumed.
    async fn recv(stream: &mut TcpStream) -> Option<Frame> {
        let mut buf = Vec::new();
        loop {
            if let Some(n) = wire::check(&buf, u32::MAX).unwrap() {
                return Some(Frame::decode(&buf[..n]).unwrap());
            }
            let mut byte = [0u8; 1];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
                .await
                .expect("the server answers within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            buf.push(byte[0]);
        }
    }

    fn hello_as(version: u16, agent: &str) -> Frame {
        Frame::Hello {
            version,
            agent_id: agent.into(),
            host: "web1".into(),
            utc_offset_secs: 0,
        }
    }

    fn hello(version: u16) -> Frame {
        hello_as(version, "agent-1")
    }

    /// A connection from `ip` (any of 127/8 is loopback).
    async fn connect_from(addr: SocketAddr, ip: [u8; 4]) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((ip, 0))).unwrap();
        socket.connect(addr).await.unwrap()
    }

    /// HELLO as `agent` from `ip`, and the WELCOME.
    async fn handshake_from(addr: SocketAddr, ip: [u8; 4], agent: &str) -> TcpStream {
        let mut s = connect_from(addr, ip).await;
        send(&mut s, &hello_as(VERSION, agent)).await;
        match recv(&mut s).await {
            Some(Frame::Welcome { version: 1, .. }) => s,
            other => panic!("expected WELCOME for {agent}, got {other:?}"),
        }
    }

    async fn handshake_as(addr: SocketAddr, agent: &str) -> TcpStream {
        handshake_from(addr, [127, 0, 0, 1], agent).await
    }

    async fn handshake(addr: SocketAddr) -> TcpStream {
        handshake_as(addr, "agent-1").await
    }

    fn batch(seq: u64) -> Frame {
        Frame::Batch {
            batch_seq: seq,
            read_time_ms: 0,
            streams: vec![WireStream {
                stream_id: 1,
                path: "/var/log/syslog".into(),
                records: vec![WireRecord {
                    offset: seq * 10,
                    end: seq * 10 + 5,
                    flags: 0,
                    line: b"line".to_vec(),
                }],
            }],
        }
    }

    fn empty_batch(seq: u64) -> Frame {
        Frame::Batch {
            batch_seq: seq,
            read_time_ms: 0,
            streams: Vec::new(),
        }
    }

    /// Sends batch `seq`, commits it, and waits for its ACK: the
    /// connection is open and served (a positive barrier).
    async fn served(server: &mut Running, s: &mut TcpStream, seq: u64) {
        send(s, &batch(seq)).await;
        server
            .batches
            .recv()
            .await
            .unwrap()
            .done
            .send(Ok(()))
            .unwrap();
        assert_eq!(recv(s).await, Some(Frame::Ack { batch_seq: seq }));
    }

    async fn error_code(stream: &mut TcpStream) -> (u16, String) {
        match recv(stream).await {
            Some(Frame::Error { code, message }) => {
                assert!(
                    recv(stream).await.is_none(),
                    "the server closes after ERROR"
                );
                (code, message)
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn random_bytes_are_not_an_agent() {
        // An HTTP client or port scanner on 5170 must be turned away at once,
        // not make the collector wait or allocate.
        let server = start(limits()).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // "GET " claims 1.2 GB: the size check answers first.
        assert_eq!(error_code(&mut s).await.0, code::TOO_LARGE);
        // A small length with a wrong type byte.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(&[0, 0, 0, 12, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
            .await
            .unwrap();
        assert_eq!(
            error_code(&mut s).await,
            (code::PROTOCOL, "not a logq agent".to_owned())
        );
        // A HELLO type byte with the wrong magic.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(&[
            0, 0, 0, 12, 0x01, b'H', b'T', b'T', b'P', 0, 1, 0, 0, 0, 0, 0,
        ])
        .await
        .unwrap();
        assert_eq!(error_code(&mut s).await.0, code::PROTOCOL);
        server.stop().await;
    }

    #[tokio::test]
    async fn header_claiming_4_gib_is_refused_too_large() {
        // A corrupt or hostile length must not make the collector allocate 4 GiB.
        let server = start(limits()).await;
        let mut s = handshake(server.addr).await;
        s.write_all(&[0xff, 0xff, 0xff, 0xff, 0x03]).await.unwrap();
        let (code, message) = error_code(&mut s).await;
        assert_eq!(code, code::TOO_LARGE);
        assert!(message.contains("4294967295"), "{message}");
        // Before HELLO, too.
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
        assert_eq!(error_code(&mut s).await.0, code::TOO_LARGE);
        server.stop().await;
    }

    #[tokio::test]
    async fn a_hello_claiming_more_than_1_kib_is_refused_at_once() {
        // Before HELLO, memory per connection was the largest frame a
        // header claimed (64 stalled strangers took 1 GB): a HELLO is at
        // most a few hundred bytes, so a larger claim is refused before
        // its body, not waited for until the HELLO deadline.
        let mut l = limits();
        l.hello_timeout = Duration::from_secs(60);
        let server = start(l).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let mut head = 2000u32.to_be_bytes().to_vec();
        head.extend_from_slice(&[wire::kind::HELLO, b'L', b'O', b'G', b'Q', 0, 1]);
        s.write_all(&head).await.unwrap();
        let (code, message) = error_code(&mut s).await;
        assert_eq!(code, code::TOO_LARGE);
        assert!(
            message.contains("2000") && message.contains("1024"),
            "{message}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn other_protocol_version_is_told_which_version_we_speak() {
        // An agent newer than the collector must get a message an operator can act on.
        let server = start(limits()).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        send(&mut s, &hello(2)).await;
        let (code, message) = error_code(&mut s).await;
        assert_eq!(code, code::VERSION);
        assert!(
            message.contains("version 2") && message.contains("version 1"),
            "{message}"
        );
        server.stop().await;
    }

    #[tokio::test]
    async fn a_hello_with_a_forged_name_is_refused_in_words() {
        // agent_id "x\n<3>..." would forge an error line in the journal:
        // it is refused with the reason, and nothing of it is stored.
        let server = start(limits()).await;
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        send(&mut s, &hello_as(VERSION, "x\n<3>collectord: forged")).await;
        let (code, message) = error_code(&mut s).await;
        assert_eq!(code, code::PROTOCOL);
        assert!(
            message.starts_with("HELLO refused:") && message.contains("agent_id"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn ack_waits_for_the_commit_and_window_bounds_reading() {
        // An ACK before the commit would let the agent drop lines a crash
        // loses; a window that does not bound reading lets one agent queue
        // without limit. (The test runs on one thread: a task woken by an
        // event runs before the test task goes on after yielding.)
        let mut server = start(limits()).await;
        let mut s = handshake(server.addr).await;
        send(&mut s, &batch(1)).await;
        send(&mut s, &batch(2)).await;
        send(&mut s, &batch(3)).await;
        let b1 = server.batches.recv().await.unwrap();
        let b2 = server.batches.recv().await.unwrap();
        assert!(matches!(&b1.sent_by, crate::writer::SentBy::Agent(p) if p.agent_id == "agent-1"));
        // Batch 2 is committed but batch 1 is not: no ACK may say "up to
        // 2". Every task the commit woke runs before the yield returns,
        // and writes to loopback are at once: an ACK would be readable.
        b2.done.send(Ok(())).unwrap();
        tokio::task::yield_now().await;
        let mut probe = [0u8; 1];
        assert_eq!(
            s.try_read(&mut probe).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::WouldBlock),
            "an ACK before batch 1 was committed"
        );
        // Window 2: batch 3 is read only once batch 1 left the window,
        // that is after its ACK was written.
        b1.done.send(Ok(())).unwrap();
        let b3 = server.batches.recv().await.unwrap();
        assert_eq!(
            s.try_read(&mut probe).map_err(|e| e.kind()),
            Ok(1),
            "batch 3 was read before the window had room"
        );
        let mut rest = probe.to_vec();
        while wire::check(&rest, 64).unwrap().is_none() {
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).await.unwrap();
            rest.push(byte[0]);
        }
        assert_eq!(Frame::decode(&rest).unwrap(), Frame::Ack { batch_seq: 2 });
        b3.done.send(Ok(())).unwrap();
        assert_eq!(recv(&mut s).await, Some(Frame::Ack { batch_seq: 3 }));
        drop(s);
        server.stop().await;
    }

    #[tokio::test]
    async fn slow_sender_is_cut_off_and_others_are_served() {
        // A slow-loris peer must neither hold the collector nor its neighbours.
        let mut l = limits();
        l.frame_timeout = Duration::from_millis(300);
        let mut server = start(l).await;
        let mut slow = handshake_as(server.addr, "slow").await;
        slow.write_all(&[0, 0]).await.unwrap();
        let mut good = handshake_as(server.addr, "good").await;
        served(&mut server, &mut good, 1).await;
        let (code, message) = error_code(&mut slow).await;
        assert_eq!(code, code::PROTOCOL);
        assert!(message.contains("300 ms"), "{message}");
        server.stop().await;
    }

    #[tokio::test]
    async fn over_the_connection_limit_is_busy() {
        // Agents that deliver lines keep their places: one more is BUSY.
        let mut l = limits();
        l.max_connections = 1;
        let mut server = start(l).await;
        let mut first = handshake_as(server.addr, "first").await;
        served(&mut server, &mut first, 1).await;
        let mut second = TcpStream::connect(server.addr).await.unwrap();
        send(&mut second, &hello_as(VERSION, "second")).await;
        let (code, message) = error_code(&mut second).await;
        assert_eq!(code, code::BUSY);
        assert!(message.contains("limit 1"), "{message}");
        served(&mut server, &mut first, 2).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn strangers_without_hello_cannot_lock_an_agent_out() {
        // A flood of connections that never say HELLO used to take every
        // place and get agents BUSY: now the oldest of them makes room.
        let mut l = limits();
        l.max_pending = 4;
        l.max_connections = 1;
        let mut server = start(l).await;
        let mut strangers = Vec::new();
        for i in 0..10u8 {
            strangers.push(connect_from(server.addr, [127, 0, 1, i]).await);
        }
        let mut agent = handshake_from(server.addr, [127, 0, 0, 9], "web1").await;
        served(&mut server, &mut agent, 1).await;
        // The oldest strangers were closed without a word.
        assert_eq!(recv(&mut strangers[0]).await, None);
        server.stop().await;
    }

    #[tokio::test]
    async fn connections_without_lines_make_room_for_an_agent() {
        // 1,023 idle connections after HELLO locked every agent out: a
        // newcomer now displaces the one that never delivered a line, and
        // that one is told why.
        let mut l = limits();
        l.max_connections = 2;
        let mut server = start(l).await;
        let mut squat1 = handshake_from(server.addr, [127, 0, 2, 1], "squat1").await;
        let _squat2 = handshake_from(server.addr, [127, 0, 2, 2], "squat2").await;
        let mut agent = handshake_from(server.addr, [127, 0, 2, 3], "web1").await;
        served(&mut server, &mut agent, 1).await;
        let (code, message) = error_code(&mut squat1).await;
        assert_eq!(code, code::BUSY);
        assert!(message.contains("make room"), "{message}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_source_over_its_share_is_busy() {
        // One address may not take every place on the port.
        let mut l = limits();
        l.per_source = 2;
        let mut server = start(l).await;
        let ip = [127, 0, 3, 1];
        let mut a = handshake_from(server.addr, ip, "a").await;
        served(&mut server, &mut a, 1).await;
        let mut b = handshake_from(server.addr, ip, "b").await;
        served(&mut server, &mut b, 1).await;
        let mut c = connect_from(server.addr, ip).await;
        let (code, message) = error_code(&mut c).await;
        assert_eq!(code, code::BUSY);
        assert!(message.contains("from this address"), "{message}");
        // Another address is not limited by it.
        let mut d = handshake_from(server.addr, [127, 0, 3, 2], "d").await;
        served(&mut server, &mut d, 1).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn one_connection_per_agent_id() {
        // A peer claiming web1 from elsewhere must not interleave with
        // web1's batches (and move its marks); web1 reconnecting from its
        // own address replaces its old connection.
        let mut server = start(limits()).await;
        let mut first = handshake_from(server.addr, [127, 0, 4, 1], "web1").await;
        served(&mut server, &mut first, 1).await;
        let mut other = connect_from(server.addr, [127, 0, 4, 2]).await;
        send(&mut other, &hello_as(VERSION, "web1")).await;
        let (code, message) = error_code(&mut other).await;
        assert_eq!(code, code::AGENT_IN_USE);
        assert!(
            message.contains("web1") && message.contains("another address"),
            "{message}"
        );
        served(&mut server, &mut first, 2).await;
        let mut again = handshake_from(server.addr, [127, 0, 4, 1], "web1").await;
        let (code, message) = error_code(&mut first).await;
        assert_eq!(code, code::AGENT_IN_USE);
        assert!(message.contains("replaced"), "{message}");
        served(&mut server, &mut again, 1).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn empty_batches_are_no_sign_of_life() {
        // A loop of empty BATCH frames kept a connection (and its place)
        // for ever: they are acknowledged, never reach the writer, and the
        // connection is closed as idle.
        let mut l = limits();
        l.idle_timeout = Duration::from_millis(500);
        let mut server = start(l).await;
        let mut s = handshake(server.addr).await;
        send(&mut s, &empty_batch(1)).await;
        assert_eq!(recv(&mut s).await, Some(Frame::Ack { batch_seq: 1 }));
        // The writer sees the next batch with lines first.
        served(&mut server, &mut s, 2).await;
        let mut seq = 3;
        let closed = loop {
            let mut out = Vec::new();
            empty_batch(seq).encode(&mut out).unwrap();
            if s.write_all(&out).await.is_err() {
                break None;
            }
            match recv(&mut s).await {
                Some(Frame::Ack { batch_seq }) => assert_eq!(batch_seq, seq),
                other => break other,
            }
            seq += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(closed, None, "closed as idle, without an ERROR");
        assert!(seq > 3, "empty batches were acknowledged meanwhile");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_stalled_frame_is_cut_when_an_agent_needs_the_memory() {
        // 64 peers each sending most of a 16 MiB frame and stalling took
        // collectord to 1 GB. With a budget, a peer that claims, sends part
        // and stops is cut within a second once an agent waits for the
        // memory, and the agent's batch goes through.
        let mut l = limits();
        l.buffer_bytes = 4 << 20;
        l.max_frame = 4 << 20;
        let mut server = start(l).await;
        let mut hog = handshake_as(server.addr, "hog").await;
        let mut head = (2u32 << 20).to_be_bytes().to_vec();
        head.push(wire::kind::BATCH);
        head.extend_from_slice(&vec![0; 1 << 20]);
        hog.write_all(&head).await.unwrap();
        let mut agent = handshake_as(server.addr, "web1").await;
        let big = Frame::Batch {
            batch_seq: 1,
            read_time_ms: 0,
            streams: vec![WireStream {
                stream_id: 1,
                path: "/var/log/big".into(),
                records: vec![WireRecord {
                    offset: 0,
                    end: 1_500_001,
                    flags: 0,
                    line: vec![b'x'; 1_500_000],
                }],
            }],
        };
        send(&mut agent, &big).await;
        let started = std::time::Instant::now();
        let (code, message) = error_code(&mut hog).await;
        assert_eq!(code, code::PROTOCOL);
        assert!(message.contains("max-buffer-mb"), "{message}");
        let b = server.batches.recv().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        b.done.send(Ok(())).unwrap();
        assert_eq!(recv(&mut agent).await, Some(Frame::Ack { batch_seq: 1 }));
        server.stop().await;
    }

    /// WELCOME's window, after a HELLO as `agent`.
    async fn welcome_window(addr: SocketAddr, agent: &str) -> (TcpStream, u16) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        send(&mut s, &hello_as(VERSION, agent)).await;
        match recv(&mut s).await {
            Some(Frame::Welcome { window, .. }) => (s, window),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn reloaded_limits_apply_to_new_connections_only() {
        // `systemctl reload` after raising max-connections must let more
        // agents in without a restart, and lowering it must not cut agents
        // already connected.
        let mut l = limits();
        l.max_connections = 1;
        let mut server = start(l.clone()).await;
        let (mut first, window) = welcome_window(server.addr, "first").await;
        assert_eq!(window, 2);
        served(&mut server, &mut first, 1).await;
        let mut refused = TcpStream::connect(server.addr).await.unwrap();
        send(&mut refused, &hello_as(VERSION, "refused")).await;
        assert_eq!(error_code(&mut refused).await.0, code::BUSY);

        l.max_connections = 2;
        l.window = 5;
        server.limits.send_replace(l.clone());
        let (mut second, window) = welcome_window(server.addr, "second").await;
        assert_eq!(window, 5, "a new connection gets the new window");
        served(&mut server, &mut second, 1).await;

        l.max_connections = 1;
        server.limits.send_replace(l);
        let mut refused = TcpStream::connect(server.addr).await.unwrap();
        send(&mut refused, &hello_as(VERSION, "refused")).await;
        assert_eq!(error_code(&mut refused).await.0, code::BUSY);
        // Both connections are still served.
        served(&mut server, &mut first, 2).await;
        served(&mut server, &mut second, 2).await;
        server.stop().await;
    }

    #[tokio::test]
    async fn shutdown_acks_what_committed_then_says_shutdown() {
        // On SIGTERM an agent must get the ACKs of committed batches, then a
        // clear reason, not a reset.
        let mut server = start(limits()).await;
        let mut s = handshake(server.addr).await;
        send(&mut s, &batch(1)).await;
        let b1 = server.batches.recv().await.unwrap();
        drop(server.stop.take());
        b1.done.send(Ok(())).unwrap();
        assert_eq!(recv(&mut s).await, Some(Frame::Ack { batch_seq: 1 }));
        assert_eq!(error_code(&mut s).await.0, code::SHUTDOWN);
        server.stop().await;
    }
}
