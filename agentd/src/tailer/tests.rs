//! Tailer scenarios, driven tick by tick with an explicit clock and no
//! network: batches are taken from the channel and acked by hand.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logcore::wire::{WireRecord, FLAG_PARTIAL, FLAG_TRUNCATED};

use super::Tailer;
use crate::batch::Batch;
use crate::checkpoint::{lock, Checkpoints, Shared};
use crate::config::{Config, StartAt};
use crate::notify::Notifier;
use crate::outbox::{Outbox, Stop};
use crate::signals::Signals;

/// A record as the collector would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub stream_id: u64,
    pub path: String,
    pub record: WireRecord,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.record.line).into_owned()
    }
}

pub struct Harness {
    pub dir: PathBuf,
    pub cfg: Arc<Config>,
    pub ckpt: Shared,
    pub tailer: Option<Tailer>,
    rx: Option<Receiver<Batch>>,
    pub now: Instant,
    /// Batches the channel holds: small values make the tailer block.
    pub capacity: usize,
}

pub fn config(dir: &Path, inputs: &[&str]) -> Config {
    Config {
        inputs: inputs
            .iter()
            .map(|i| dir.join(i).display().to_string())
            .collect(),
        state_dir: dir.join("state"),
        linger_ms: 0,
        partial_flush_ms: 60_000,
        rotate_wait_ms: 60_000,
        ..Config::default()
    }
}

impl Harness {
    pub fn new(dir: &Path, cfg: Config) -> Harness {
        Harness::with_capacity(dir, cfg, 100_000)
    }

    pub fn with_capacity(dir: &Path, cfg: Config, capacity: usize) -> Harness {
        fs::create_dir_all(&cfg.state_dir).unwrap();
        let mut h = Harness {
            dir: dir.to_owned(),
            ckpt: Arc::new(Mutex::new(
                Checkpoints::load(&cfg.checkpoint_path()).unwrap(),
            )),
            cfg: Arc::new(cfg),
            tailer: None,
            rx: None,
            now: Instant::now(),
            capacity,
        };
        h.start();
        h
    }

    /// Starts a tailer as agentd does: checkpoints from disk, first scan.
    pub fn start(&mut self) {
        self.ckpt = Arc::new(Mutex::new(
            Checkpoints::load(&self.cfg.checkpoint_path()).unwrap(),
        ));
        let (tx, rx) = sync_channel(self.capacity);
        let out = Outbox::new(
            &self.cfg,
            tx,
            Arc::new(AtomicBool::new(false)),
            Signals::new().unwrap(),
            Notifier::disabled(),
        );
        let mut tailer = Tailer::new(Arc::clone(&self.cfg), Arc::clone(&self.ckpt), out).unwrap();
        tailer.start(self.now);
        self.tailer = Some(tailer);
        self.rx = Some(rx);
    }

    /// Stops the tailer as a crash would: no final checkpoint write beyond
    /// what was already saved.
    pub fn crash(&mut self) {
        self.tailer = None;
        self.rx = None;
    }

    /// Saves checkpoints (as the 1 s timer would) and stops.
    pub fn stop(&mut self) {
        if let Some(t) = self.tailer.as_mut() {
            t.save_checkpoints(self.now, true);
        }
        self.crash();
    }

    /// One tailer round at the current clock; returns what was shipped.
    pub fn tick(&mut self) -> Vec<Got> {
        let tailer = self.tailer.as_mut().expect("tailer started");
        tailer.tick(self.now, true).unwrap();
        match tailer.flush() {
            Ok(()) | Err(Stop::Blocked) => {}
            Err(e) => panic!("tailer stopped: {e:?}"),
        }
        let mut out = Vec::new();
        for batch in self.rx.as_ref().expect("tailer started").try_iter() {
            for s in batch.streams {
                for record in s.records {
                    out.push(Got {
                        stream_id: s.stream_id,
                        path: s.path.clone(),
                        record,
                    });
                }
            }
        }
        out
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn is_blocked(&self) -> bool {
        self.tailer.as_ref().is_some_and(|t| t.out.is_blocked())
    }

    /// Acknowledges records as the collector's ACK would.
    pub fn ack(&self, got: &[Got]) {
        let mut store = lock(&self.ckpt);
        for g in got {
            store.ack(g.stream_id, g.record.end);
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn append(&self, name: &str, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .unwrap();
        f.write_all(bytes).unwrap();
    }
}

pub fn texts(got: &[Got]) -> Vec<String> {
    got.iter().map(Got::text).collect()
}

#[test]
fn appended_lines_are_shipped_once_with_contiguous_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"one\ntwo\nthr");
    let got = h.tick();
    assert_eq!(texts(&got), ["one", "two"]);
    assert_eq!(
        (got[0].record.offset, got[0].record.end, got[1].record.end),
        (0, 4, 8)
    );
    assert_eq!(got[0].path, h.path("app.log").display().to_string());
    assert!(h.tick().is_empty(), "nothing new: nothing shipped");
    h.append("app.log", b"ee\n");
    let got2 = h.tick();
    assert_eq!(texts(&got2), ["three"]);
    assert_eq!(
        (got2[0].record.offset, got2[0].stream_id),
        (8, got[0].stream_id)
    );
}

#[test]
fn file_without_complete_first_line_waits_for_its_fingerprint() {
    // Shipping before the identity is known would give the lines a stream id
    // that changes once the first line completes: duplicates at the collector.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"hello");
    h.advance(Duration::from_secs(3600));
    assert!(h.tick().is_empty());
    h.append("app.log", b" world\n");
    assert_eq!(texts(&h.tick()), ["hello world"]);
}

#[test]
fn file_created_after_start_is_read_from_the_beginning_even_with_start_at_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["*.log"]);
    cfg.start_at = StartAt::End;
    fs::write(
        dir.path().join("old.log"),
        b"before start 1\nbefore start 2\n",
    )
    .unwrap();
    let mut h = Harness::new(dir.path(), cfg);
    assert!(h.tick().is_empty(), "start-at = end skips existing lines");
    h.append("old.log", b"after start\n");
    h.append("new.log", b"new file line\n");
    let mut got = texts(&h.tick());
    got.sort();
    assert_eq!(got, ["after start", "new file line"]);
}

#[test]
fn start_at_end_reads_lines_written_after_start_to_a_file_that_was_empty() {
    // An empty log present at startup: everything written to it later is
    // new and must be shipped.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["app.log"]);
    cfg.start_at = StartAt::End;
    fs::write(dir.path().join("app.log"), b"").unwrap();
    let mut h = Harness::new(dir.path(), cfg);
    h.append("app.log", b"written after start\n");
    assert_eq!(texts(&h.tick()), ["written after start"]);
}

#[test]
fn long_line_ships_truncated_and_the_file_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["app.log"]);
    cfg.max_line_bytes = 1000;
    let mut h = Harness::new(dir.path(), cfg);
    let mut content = vec![b'x'; 300_000];
    content.extend_from_slice(b"\nshort\n");
    h.append("app.log", &content);
    let got = h.tick();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (
            got[0].record.flags,
            got[0].record.line.len(),
            got[0].record.end
        ),
        (FLAG_TRUNCATED, 1000, 300_001)
    );
    assert_eq!(
        (got[1].text(), got[1].record.offset),
        ("short".into(), 300_001)
    );
}

#[test]
fn last_line_without_newline_ships_partial_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["app.log"]);
    cfg.partial_flush_ms = 5000;
    let mut h = Harness::new(dir.path(), cfg);
    h.append("app.log", b"first\nprogress");
    assert_eq!(texts(&h.tick()), ["first"]);
    h.advance(Duration::from_millis(4999));
    assert!(h.tick().is_empty());
    h.advance(Duration::from_millis(1));
    let got = h.tick();
    assert_eq!(
        (got[0].text(), got[0].record.flags, got[0].record.end),
        ("progress".into(), FLAG_PARTIAL, 14)
    );
    h.append("app.log", b" done\n");
    let got = h.tick();
    assert_eq!(
        (got[0].text(), got[0].record.flags, got[0].record.offset),
        (" done".into(), 0, 14)
    );
}

#[test]
fn directory_at_an_input_path_is_ignored_and_other_files_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["a.log", "b.log"]));
    fs::create_dir(h.path("a.log")).unwrap();
    h.append("b.log", b"b\n");
    assert_eq!(texts(&h.tick()), ["b"]);
}

#[test]
fn unreadable_file_is_retried_and_read_once_permitted() {
    use std::os::unix::fs::PermissionsExt;
    if nix::unistd::geteuid().is_root() {
        eprintln!("skipped: root reads files whatever their mode");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["*.log"]));
    h.append("secret.log", b"s\n");
    h.append("open.log", b"o\n");
    fs::set_permissions(h.path("secret.log"), fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(texts(&h.tick()), ["o"]);
    fs::set_permissions(h.path("secret.log"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(texts(&h.tick()), ["s"]);
}

#[test]
fn invalid_utf8_and_nul_bytes_are_shipped_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"\xff\xfe\x00bin\x00\r\n");
    let got = h.tick();
    assert_eq!(got[0].record.line, b"\xff\xfe\x00bin\x00\r");
}
