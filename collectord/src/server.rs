//! The accept loop (after mini-redis): the caller binds, [`run`] serves
//! until `shutdown` completes, then stops accepting, tells every connection
//! to finish (ACK what commits in time, send ERROR SHUTDOWN) and returns
//! once all of them have.
//!
//! A count of open connections caps them at `max-connections`; one over
//! the cap is sent ERROR BUSY and closed. The cap is read at each accept,
//! so a reload that lowers it refuses new connections until enough old
//! ones have closed, and never cuts one. Connections share nothing but the
//! writer queue, so one misbehaving peer never stalls another.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tracing::{info, warn};

use crate::connection::{self, Shared};

/// A connection's place under `max-connections` (or, for the syslog
/// listeners, `syslog-max-connections`), given back when dropped.
pub struct Slot(Arc<AtomicU32>);

impl Slot {
    /// A place if fewer than `max` are taken.
    pub fn take(open: &Arc<AtomicU32>, max: u32) -> Option<Slot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves agents on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, shared: Shared, shutdown: impl Future) {
    // Dropping the sender tells every connection to finish.
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    // Each connection task holds a clone; `recv` returns `None` once all are gone.
    let (all_done_tx, mut all_done_rx) = mpsc::channel::<()>(1);
    let shared = Arc::new(shared);
    let open = Arc::new(AtomicU32::new(0));

    let accept = async {
        loop {
            let (stream, addr) = match listener.accept().await {
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
            match Slot::take(&open, limits.max_connections) {
                Some(slot) => {
                    let shared = shared.clone();
                    let shutdown = notify_shutdown.subscribe();
                    tokio::spawn(async move {
                        connection::serve(stream, addr, shared, limits, shutdown, slot).await;
                        drop(done);
                    });
                }
                None => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        connection::refuse_busy(stream, addr, shared, limits).await;
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use logcore::wire::{self, code, Frame, WireRecord, WireStream, VERSION};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::{oneshot, watch};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::connection::Limits;
    use crate::notify::Stats;
    use crate::writer::Batch;

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            max_frame: 1 << 20,
            window: 2,
            frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
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
        let (limits, limits_rx) = watch::channel(limits);
        let (_, tls) = watch::channel(None);
        let shared = Shared {
            limits: limits_rx,
            queue,
            stats: Arc::new(Stats::default()),
            tls,
        };
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

    fn hello(version: u16) -> Frame {
        Frame::Hello {
            version,
            agent_id: "agent-1".into(),
            host: "web1".into(),
            utc_offset_secs: 0,
        }
    }

    async fn handshake(addr: SocketAddr) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.unwrap();
        send(&mut s, &hello(VERSION)).await;
        match recv(&mut s).await {
            Some(Frame::Welcome {
                version: 1,
                window: 2,
                ..
            }) => s,
            other => panic!("expected WELCOME, got {other:?}"),
        }
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
    async fn ack_waits_for_the_commit_and_window_bounds_reading() {
        // An ACK before the commit would let the agent drop lines a crash loses.
        let mut server = start(limits()).await;
        let mut s = handshake(server.addr).await;
        send(&mut s, &batch(1)).await;
        send(&mut s, &batch(2)).await;
        send(&mut s, &batch(3)).await;
        let b1 = server.batches.recv().await.unwrap();
        let b2 = server.batches.recv().await.unwrap();
        assert!(matches!(&b1.sent_by, crate::writer::SentBy::Agent(p) if p.agent_id == "agent-1"));
        // Window 2: the third batch is not read while two are unacknowledged.
        assert!(server.batches.try_recv().is_err());
        b2.done.send(()).unwrap();
        // Batch 2 is committed but batch 1 is not: no ACK may say "up to 2".
        let mut probe = [0u8; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(200), s.peek(&mut probe))
                .await
                .is_err()
        );
        b1.done.send(()).unwrap();
        assert_eq!(recv(&mut s).await, Some(Frame::Ack { batch_seq: 2 }));
        let b3 = server.batches.recv().await.unwrap();
        b3.done.send(()).unwrap();
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
        let mut slow = handshake(server.addr).await;
        slow.write_all(&[0, 0]).await.unwrap();
        let mut good = handshake(server.addr).await;
        send(&mut good, &batch(1)).await;
        server.batches.recv().await.unwrap().done.send(()).unwrap();
        assert_eq!(recv(&mut good).await, Some(Frame::Ack { batch_seq: 1 }));
        let (code, message) = error_code(&mut slow).await;
        assert_eq!(code, code::PROTOCOL);
        assert!(message.contains("300 ms"), "{message}");
        server.stop().await;
    }

    #[tokio::test]
    async fn over_the_connection_limit_is_busy() {
        let mut l = limits();
        l.max_connections = 1;
        let server = start(l).await;
        let first = handshake(server.addr).await;
        let mut second = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(error_code(&mut second).await.0, code::BUSY);
        drop(first);
        server.stop().await;
    }

    /// WELCOME's window, after a HELLO.
    async fn welcome_window(addr: SocketAddr) -> (TcpStream, u16) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        send(&mut s, &hello(VERSION)).await;
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
        let server = start(l.clone()).await;
        let (first, window) = welcome_window(server.addr).await;
        assert_eq!(window, 2);
        let mut refused = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(error_code(&mut refused).await.0, code::BUSY);

        l.max_connections = 2;
        l.window = 5;
        server.limits.send_replace(l.clone());
        let (second, window) = welcome_window(server.addr).await;
        assert_eq!(window, 5, "a new connection gets the new window");

        l.max_connections = 1;
        server.limits.send_replace(l);
        let mut refused = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(error_code(&mut refused).await.0, code::BUSY);
        // Both connections stay open: a probe sees no ERROR and no EOF.
        for s in [first, second] {
            let mut probe = [0u8; 1];
            assert!(
                tokio::time::timeout(Duration::from_millis(100), s.peek(&mut probe))
                    .await
                    .is_err()
            );
        }
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
        b1.done.send(()).unwrap();
        assert_eq!(recv(&mut s).await, Some(Frame::Ack { batch_seq: 1 }));
        assert_eq!(error_code(&mut s).await.0, code::SHUTDOWN);
        server.stop().await;
    }
}
