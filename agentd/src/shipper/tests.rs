//! The shipper against a scripted fake collector on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logcore::wire::{check, code, Frame, WireRecord, WireStream, DEFAULT_MAX_FRAME, VERSION};

use super::{Shipper, Stats, StopState};
use crate::batch::Batch;
use crate::checkpoint::{lock, Checkpoints, Entry, Shared};
use crate::config::Config;
use crate::fileid::{FileKey, Identity};
use crate::signals::Signals;

const STREAM: Identity = Identity {
    key: FileKey { dev: 1, ino: 2 },
    fingerprint: 3,
    generation: 0,
};

struct Setup {
    listener: TcpListener,
    tx: Option<SyncSender<Batch>>,
    ckpt: Shared,
    stop: Arc<StopState>,
    shipper: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
    _signals: Signals,
}

fn setup(tweak: impl FnOnce(&mut Config)) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        collector: listener.local_addr().unwrap().to_string(),
        host: "web1".into(),
        agent_id: Some("agent-7".into()),
        ..Config::default()
    };
    tweak(&mut cfg);
    let ckpt: Shared = Arc::new(Mutex::new(
        Checkpoints::load(&dir.path().join("c.json")).unwrap(),
    ));
    lock(&ckpt).register(Entry::new("/var/log/app.log".into(), STREAM, 0), false);
    let (tx, rx) = sync_channel(16);
    let signals = Signals::new().unwrap();
    let waker = signals.waker(Arc::new(AtomicBool::new(false))).unwrap();
    let stop = Arc::new(StopState::default());
    let shipper = Shipper::new(
        Arc::new(cfg),
        rx,
        waker,
        Arc::clone(&ckpt),
        Arc::new(Stats::default()),
        Arc::clone(&stop),
    );
    let handle = std::thread::spawn(move || shipper.run());
    Setup {
        listener,
        tx: Some(tx),
        ckpt,
        stop,
        shipper: Some(handle),
        _dir: dir,
        _signals: signals,
    }
}

/// A batch of one line of `stream` per end in `ends` (each line 9 bytes + \n).
fn batch(ends: &[u64]) -> Batch {
    let records: Vec<WireRecord> = ends
        .iter()
        .map(|&end| WireRecord {
            offset: end - 10,
            end,
            flags: 0,
            line: format!("line {end:>4}").into_bytes(),
        })
        .collect();
    Batch {
        read_time_ms: 1,
        lines: records.len(),
        bytes: records.len() * 9,
        streams: vec![WireStream {
            stream_id: STREAM.stream_id(),
            path: "/var/log/app.log".into(),
            records,
        }],
    }
}

struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    /// Accepts a connection and reads its HELLO.
    fn accept(listener: &TcpListener) -> (Peer, Frame) {
        let (stream, _) = listener.accept().unwrap();
        let mut peer = Peer {
            stream,
            buf: Vec::new(),
        };
        let hello = peer.next(Duration::from_secs(10)).expect("HELLO");
        (peer, hello)
    }

    fn welcome(listener: &TcpListener, window: u16, max_frame: u32) -> Peer {
        let (mut peer, hello) = Peer::accept(listener);
        match hello {
            Frame::Hello {
                version,
                agent_id,
                host,
                ..
            } => {
                assert_eq!(
                    (version, agent_id.as_str(), host.as_str()),
                    (VERSION, "agent-7", "web1")
                );
            }
            other => panic!("expected HELLO, got {other:?}"),
        }
        peer.send(Frame::Welcome {
            version: VERSION,
            max_frame,
            window,
        });
        peer
    }

    fn send(&mut self, f: Frame) {
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        self.stream.write_all(&buf).unwrap();
    }

    /// The next frame, or `None` when none comes within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Frame> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(n) = check(&self.buf, DEFAULT_MAX_FRAME).unwrap() {
                let f = Frame::decode(&self.buf[..n]).unwrap();
                self.buf.drain(..n);
                return Some(f);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    /// The next BATCH: (batch_seq, ends of its records).
    fn batch(&mut self) -> (u64, Vec<u64>) {
        match self.next(Duration::from_secs(10)) {
            Some(Frame::Batch {
                batch_seq, streams, ..
            }) => (
                batch_seq,
                streams
                    .iter()
                    .flat_map(|s| &s.records)
                    .map(|r| r.end)
                    .collect(),
            ),
            other => panic!("expected BATCH, got {other:?}"),
        }
    }
}

fn acked_offset(ckpt: &Shared) -> u64 {
    lock(ckpt).get(STREAM.stream_id()).map_or(0, |e| e.offset)
}

fn wait_for_offset(ckpt: &Shared, want: u64) {
    let until = Instant::now() + Duration::from_secs(10);
    while acked_offset(ckpt) != want {
        assert!(
            Instant::now() < until,
            "checkpoint stuck at {} instead of {want}",
            acked_offset(ckpt)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Setup {
    fn send(&self, b: Batch) {
        self.tx.as_ref().unwrap().send(b).unwrap();
    }

    /// Closes the channel, as the tailer does at shutdown, and waits for the
    /// shipper to end.
    fn finish(&mut self) {
        self.tx = None;
        self.shipper.take().unwrap().join().unwrap();
    }
}

#[test]
fn acks_move_checkpoints_and_unacked_batches_are_resent_first_after_reconnect() {
    // A collector restart must cost neither lost nor reordered lines.
    let mut s = setup(|_| {});
    s.send(batch(&[10]));
    s.send(batch(&[20]));
    s.send(batch(&[30]));
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch(), (1, vec![10]));
    assert_eq!(peer.batch(), (2, vec![20]));
    assert_eq!(peer.batch(), (3, vec![30]));
    peer.send(Frame::Ack { batch_seq: 1 });
    wait_for_offset(&s.ckpt, 10);
    drop(peer);

    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(
        peer.batch(),
        (1, vec![20]),
        "unacked batches first, numbered anew"
    );
    assert_eq!(peer.batch(), (2, vec![30]));
    s.send(batch(&[40]));
    assert_eq!(peer.batch(), (3, vec![40]));
    assert_eq!(acked_offset(&s.ckpt), 10, "nothing moves without an ack");
    peer.send(Frame::Ack { batch_seq: 3 });
    wait_for_offset(&s.ckpt, 40);
    s.finish();
}

#[test]
fn at_most_window_batches_are_unacked() {
    // The collector's WELCOME window must be respected, or a slow collector
    // gets flooded.
    let mut s = setup(|c| c.window = 8);
    for end in [10, 20, 30, 40] {
        s.send(batch(&[end]));
    }
    let mut peer = Peer::welcome(&s.listener, 2, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch().0, 1);
    assert_eq!(peer.batch().0, 2);
    assert!(
        peer.next(Duration::from_millis(300)).is_none(),
        "a third batch was sent without an ack"
    );
    peer.send(Frame::Ack { batch_seq: 1 });
    assert_eq!(peer.batch(), (3, vec![30]));
    peer.send(Frame::Ack { batch_seq: 3 });
    assert_eq!(peer.batch(), (4, vec![40]));
    peer.send(Frame::Ack { batch_seq: 4 });
    wait_for_offset(&s.ckpt, 40);
    s.finish();
}

#[test]
fn frames_respect_the_collector_max_frame() {
    let mut s = setup(|_| {});
    s.send(batch(&[10, 20, 30, 40, 50, 60]));
    let mut peer = Peer::welcome(&s.listener, 8, 150);
    let mut ends = Vec::new();
    let mut last = 0;
    while ends.len() < 6 {
        let (seq, e) = peer.batch();
        last = seq;
        ends.extend(e);
    }
    assert!(last > 1, "the batch should have been split");
    assert_eq!(ends, [10, 20, 30, 40, 50, 60]);
    peer.send(Frame::Ack { batch_seq: last });
    wait_for_offset(&s.ckpt, 60);
    s.finish();
}

#[test]
fn collector_error_frame_is_retried_later() {
    let mut s = setup(|_| {});
    s.send(batch(&[10]));
    let (mut peer, _) = Peer::accept(&s.listener);
    peer.send(Frame::Error {
        code: code::BUSY,
        message: "too many agents".into(),
    });
    drop(peer);
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch(), (1, vec![10]));
    peer.send(Frame::Ack { batch_seq: 1 });
    wait_for_offset(&s.ckpt, 10);
    s.finish();
}

#[test]
fn missing_ack_reconnects_after_ack_timeout() {
    // A collector that hangs must not stall shipping forever.
    let mut s = setup(|c| c.ack_timeout_ms = 300);
    s.send(batch(&[10]));
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch(), (1, vec![10]));
    let mut again = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(again.batch(), (1, vec![10]));
    again.send(Frame::Ack { batch_seq: 1 });
    wait_for_offset(&s.ckpt, 10);
    drop(peer);
    s.finish();
}

#[test]
fn shutdown_gives_up_at_the_deadline_without_moving_checkpoints() {
    // SIGTERM with a dead collector must still exit within the timeout.
    let s = setup(|_| {});
    s.send(batch(&[10]));
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch().0, 1);
    let Setup {
        tx,
        stop,
        shipper,
        ckpt,
        ..
    } = s;
    drop(tx);
    let t = Instant::now();
    stop.set_deadline(t + Duration::from_millis(300));
    shipper.unwrap().join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(acked_offset(&ckpt), 0);
}

#[test]
fn shutdown_with_collector_down_and_nothing_to_send_is_immediate() {
    // systemctl stop while the collector is away must not wait out the
    // shutdown timeout when nothing is left to deliver.
    let s = setup(|_| {});
    let Setup {
        listener,
        tx,
        stop,
        shipper,
        ..
    } = s;
    drop(listener);
    drop(tx);
    let t = Instant::now();
    stop.set_deadline(t + Duration::from_secs(30));
    shipper.unwrap().join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}
