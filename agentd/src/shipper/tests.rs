//! The shipper against a scripted fake collector on loopback, reading
//! what a test writes to a real spool.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logcore::wire::{check, code, Frame, WireRecord, WireStream, DEFAULT_MAX_FRAME, VERSION};

use super::{Shipper, Stats, StopState};
use crate::batch::Batch;
use crate::checkpoint::{lock, Checkpoints, Entry, Shared};
use crate::config::Config;
use crate::fileid::{FileKey, Identity};
use crate::spool::{Spool, SpoolWriter};

const STREAM: Identity = Identity {
    key: FileKey { dev: 1, ino: 2 },
    fingerprint: 3,
    generation: 0,
};

struct Setup {
    listener: TcpListener,
    writer: Option<SpoolWriter>,
    spool: Spool,
    ckpt: Shared,
    stop: Arc<StopState>,
    shipper: Option<JoinHandle<()>>,
    cfg: Config,
    dir: tempfile::TempDir,
}

fn setup(tweak: impl FnOnce(&mut Config)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = Config {
        collector: listener.local_addr().unwrap().to_string(),
        host: "web1".into(),
        agent_id: Some("agent-7".into()),
        state_dir: dir.path().to_owned(),
        ..Config::default()
    };
    tweak(&mut cfg);
    start(listener, cfg, dir)
}

/// A shipper (and its spool) as a pipeline starts them in `dir`.
fn start(listener: TcpListener, cfg: Config, dir: tempfile::TempDir) -> Setup {
    let ckpt: Shared = Arc::new(Mutex::new(
        Checkpoints::load(&dir.path().join("c.json")).unwrap(),
    ));
    lock(&ckpt).register(Entry::new("/var/log/app.log".into(), STREAM, 0), false);
    let opened = Spool::open(&cfg.spool_dir(), cfg.spool_max_bytes).unwrap();
    let stop = Arc::new(StopState::default());
    let shipper = Shipper::new(
        Arc::new(cfg.clone()),
        opened.reader,
        Arc::clone(&ckpt),
        Arc::new(Stats::default()),
        Arc::clone(&stop),
    );
    let handle = std::thread::spawn(move || shipper.run());
    Setup {
        listener,
        writer: Some(opened.writer),
        spool: opened.spool,
        ckpt,
        stop,
        shipper: Some(handle),
        cfg,
        dir,
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
        spool_id: None,
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
        self.next_or_end(timeout).ok()
    }

    /// The next frame; else `Err(true)` when the agent closed the
    /// connection, `Err(false)` when nothing came within `timeout`.
    fn next_or_end(&mut self, timeout: Duration) -> Result<Frame, bool> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(n) = check(&self.buf, DEFAULT_MAX_FRAME).unwrap() {
                let f = Frame::decode(&self.buf[..n]).unwrap();
                self.buf.drain(..n);
                return Ok(f);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(false);
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(true),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err(true),
                Err(_) => return Err(false),
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

    /// BATCH frames until `records` records came: the last batch_seq and
    /// the ends of all the records.
    fn batches_until(&mut self, records: usize) -> (u64, Vec<u64>) {
        let mut ends = Vec::new();
        let mut last = 0;
        while ends.len() < records {
            let (seq, e) = self.batch();
            last = seq;
            ends.extend(e);
        }
        (last, ends)
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
    /// Spools a batch, as the tailer does.
    fn send(&mut self, b: Batch) {
        self.writer.as_mut().unwrap().write(b).unwrap();
    }

    /// Closes the spool, as the tailer does at shutdown, and waits for the
    /// shipper to end.
    fn finish(&mut self) {
        self.writer.as_mut().unwrap().close();
        self.writer = None;
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
    // Barrier: the ACK of batch 1 alone is applied after all three were
    // sent. Had sending moved the checkpoint, it would be at 40 now.
    peer.send(Frame::Ack { batch_seq: 1 });
    wait_for_offset(&s.ckpt, 20);
    peer.send(Frame::Ack { batch_seq: 3 });
    wait_for_offset(&s.ckpt, 40);
    s.finish();
}

#[test]
fn at_most_window_batches_are_unacked() {
    // The collector's WELCOME window must be respected, or a slow collector
    // gets flooded.
    let mut s = setup(|c| {
        c.window = 8;
        c.ack_timeout_ms = 1000;
    });
    for end in [10, 20, 30, 40] {
        s.send(batch(&[end]));
    }
    let mut peer = Peer::welcome(&s.listener, 2, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch().0, 1);
    assert_eq!(peer.batch().0, 2);
    // Barrier: with no ACK the agent gives the connection up after
    // ack-timeout-ms; everything it sent on it arrives before the close.
    match peer.next_or_end(Duration::from_secs(30)) {
        Err(true) => {}
        Err(false) => panic!("the agent neither sent nor closed"),
        Ok(frame) => panic!("a third batch was sent without an ack: {frame:?}"),
    }
    let mut peer = Peer::welcome(&s.listener, 2, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch(), (1, vec![10]));
    assert_eq!(peer.batch(), (2, vec![20]));
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
    let (last, ends) = peer.batches_until(6);
    assert!(last > 1, "the batch should have been split");
    assert_eq!(ends, [10, 20, 30, 40, 50, 60]);
    peer.send(Frame::Ack { batch_seq: last });
    wait_for_offset(&s.ckpt, 60);
    s.finish();
}

#[test]
fn a_split_batch_acknowledged_in_part_is_sent_whole_again_and_its_checkpoint_holds() {
    // A collector lost between the pieces of one spool batch: the lines it
    // did not acknowledge come from the spool again, nothing is skipped,
    // and the checkpoint never moves back (the collector drops the pieces
    // it already had by its high-water marks).
    let mut s = setup(|_| {});
    s.send(batch(&[10, 20, 30, 40, 50, 60]));
    let mut peer = Peer::welcome(&s.listener, 8, 150);
    let (first, first_ends) = peer.batch();
    let (_, second_ends) = peer.batch();
    assert!(
        first_ends.len() < 6 && second_ends.len() < 6,
        "the batch should have been split"
    );
    peer.send(Frame::Ack { batch_seq: first });
    let acked = *first_ends.last().unwrap();
    wait_for_offset(&s.ckpt, acked);
    drop(peer);

    let mut peer = Peer::welcome(&s.listener, 8, 150);
    let (last, ends) = peer.batches_until(6);
    assert_eq!(ends, [10, 20, 30, 40, 50, 60], "the whole batch, in order");
    assert_eq!(acked_offset(&s.ckpt), acked, "the checkpoint moved back");
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
    // SIGTERM with a dead collector must still exit within the timeout, and
    // what was not acknowledged stays in the spool for the next start.
    let mut s = setup(|_| {});
    s.send(batch(&[10]));
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch().0, 1);
    s.writer.as_mut().unwrap().close();
    let t = Instant::now();
    s.stop.set_deadline(t + Duration::from_millis(300));
    s.shipper.take().unwrap().join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(acked_offset(&s.ckpt), 0);
    s.spool.tidy();
    assert_eq!(s.spool.figures().unacked, 1, "the batch left the spool");
}

#[test]
fn shutdown_with_collector_down_and_nothing_to_send_is_immediate() {
    // systemctl stop while the collector is away must not wait out the
    // shutdown timeout when nothing is left to deliver.
    let mut s = setup(|_| {});
    s.writer.as_mut().unwrap().close();
    let t = Instant::now();
    s.stop.set_deadline(t + Duration::from_secs(30));
    s.shipper.take().unwrap().join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn unacknowledged_batches_are_sent_after_a_restart_and_acked_segments_go() {
    // A batch spooled and never acknowledged (agentd killed, or stopped
    // with the collector away) must be sent by the next agentd, even when
    // its file no longer holds the lines; once acknowledged, it leaves the
    // disk.
    let mut s = setup(|_| {});
    s.send(batch(&[10, 20]));
    s.send(batch(&[30]));
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    assert_eq!(peer.batch(), (1, vec![10, 20]));
    assert_eq!(peer.batch(), (2, vec![30]));
    peer.send(Frame::Ack { batch_seq: 1 });
    wait_for_offset(&s.ckpt, 20);
    // Killed: no shutdown at all.
    let Setup {
        listener,
        writer,
        shipper,
        stop,
        cfg,
        dir,
        ..
    } = s;
    stop.set_deadline(Instant::now());
    stop.abort_connection();
    drop(writer);
    shipper.unwrap().join().unwrap();
    drop(peer);

    let mut s = start(listener, cfg, dir);
    let mut peer = Peer::welcome(&s.listener, 8, DEFAULT_MAX_FRAME);
    let (seq, ends) = peer.batch();
    // The acknowledged batch may come again (its segment was still being
    // written); the collector drops it. The unacknowledged one must come.
    let last = if ends == [10, 20] {
        assert_eq!(peer.batch(), (seq + 1, vec![30]));
        seq + 1
    } else {
        assert_eq!((seq, ends), (1, vec![30]));
        seq
    };
    peer.send(Frame::Ack { batch_seq: last });
    wait_for_offset(&s.ckpt, 30);
    s.finish();
    s.spool.tidy();
    assert_eq!(
        s.spool.figures(),
        crate::spool::Figures {
            bytes: 0,
            unacked: 0
        }
    );
    let left = std::fs::read_dir(s.cfg.spool_dir()).unwrap().count();
    assert_eq!(
        left, 0,
        "segments left behind after everything was acknowledged"
    );
}
