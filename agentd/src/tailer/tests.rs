//! Tailer scenarios, driven tick by tick with an explicit clock and no
//! network: batches are read back from the spool and acked by hand.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logcore::wire::{WireRecord, FLAG_PARTIAL, FLAG_TRUNCATED};

use super::Tailer;
use crate::checkpoint::{lock, Checkpoints, Shared};
use crate::config::{Config, StartAt};
use crate::notify::Notifier;
use crate::outbox::{Outbox, Stop};
use crate::signals::Signals;
use crate::spool::{Next, Spool, SpoolReader};
use crate::syncer::Syncer;

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
    reader: Option<SpoolReader>,
    /// Run after each tick, as the syncer thread would.
    syncer: Option<Syncer>,
    /// Spool batches read and not yet acknowledged: (id, records left).
    taken: VecDeque<(u64, usize)>,
    pub now: Instant,
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
    /// A tailer as agentd runs it; `cfg.spool_max_bytes` small makes it
    /// stop reading until acks make room.
    pub fn new(dir: &Path, cfg: Config) -> Harness {
        fs::create_dir_all(&cfg.state_dir).unwrap();
        let mut h = Harness {
            dir: dir.to_owned(),
            ckpt: Arc::new(Mutex::new(
                Checkpoints::load(&cfg.checkpoint_path()).unwrap(),
            )),
            cfg: Arc::new(cfg),
            tailer: None,
            reader: None,
            syncer: None,
            taken: VecDeque::new(),
            now: Instant::now(),
        };
        h.start();
        h
    }

    /// Starts a tailer as agentd does: checkpoints and spool from disk,
    /// first scan.
    pub fn start(&mut self) {
        self.ckpt = Arc::new(Mutex::new(
            Checkpoints::load(&self.cfg.checkpoint_path()).unwrap(),
        ));
        let opened = Spool::open(&self.cfg.spool_dir(), self.cfg.spool_max_bytes).unwrap();
        lock(&self.ckpt).set_spooled(opened.ends);
        let out = Outbox::new(
            &self.cfg,
            opened.writer,
            Signals::new().unwrap(),
            Notifier::disabled(),
        );
        let mut tailer = Tailer::new(Arc::clone(&self.cfg), Arc::clone(&self.ckpt), out).unwrap();
        tailer.start(self.now);
        let mut syncer = Syncer::new(Arc::clone(&self.ckpt), opened.spool);
        syncer.round(self.now, true);
        self.tailer = Some(tailer);
        self.syncer = Some(syncer);
        self.reader = Some(opened.reader);
        self.taken.clear();
    }

    /// Stops the tailer as a crash would: no final checkpoint write beyond
    /// what was already saved; the spool keeps what was written to it.
    pub fn crash(&mut self) {
        self.tailer = None;
        self.reader = None;
        self.syncer = None;
    }

    /// Writes the checkpoints now, as the syncer does at shutdown.
    pub fn save_checkpoints(&mut self) {
        self.syncer
            .as_mut()
            .expect("started")
            .save(self.now, true)
            .unwrap();
    }

    /// Stops as agentd does on SIGTERM: checkpoints saved, the spool
    /// closed, and emptied when everything in it was acknowledged.
    pub fn stop(&mut self) {
        if let Some(t) = self.tailer.take() {
            let spool = t.out.spool().clone();
            t.finish();
            self.save_checkpoints();
            spool.tidy();
        }
        self.crash();
    }

    /// One tailer round at the current clock (inotify events first);
    /// returns what was spooled, as the shipper would read it.
    pub fn tick(&mut self) -> Vec<Got> {
        let tailer = self.tailer.as_mut().expect("tailer started");
        tailer.drain_events();
        tailer.tick(self.now, true).unwrap();
        match tailer.flush() {
            Ok(()) | Err(Stop::Blocked) => {}
            Err(e) => panic!("tailer stopped: {e:?}"),
        }
        self.syncer
            .as_mut()
            .expect("started")
            .round(self.now, false);
        self.read()
    }

    /// What the spool holds that was not read yet.
    pub fn read(&mut self) -> Vec<Got> {
        let reader = self.reader.as_mut().expect("tailer started");
        let mut out = Vec::new();
        while let Next::Batch(batch) = reader.next(Duration::ZERO).unwrap() {
            let id = batch.spool_id.expect("read from the spool");
            self.taken.push_back((id, batch.lines));
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

    /// Acknowledges records as the collector's ACK would: checkpoints move,
    /// and spool batches whose records are all acknowledged go. `got`
    /// continues what was acknowledged before, in the order it was read.
    pub fn ack(&mut self, got: &[Got]) {
        let mut store = lock(&self.ckpt);
        for g in got {
            store.ack(g.stream_id, g.record.end);
        }
        drop(store);
        let mut n = got.len();
        let mut last = None;
        while let Some((id, left)) = self.taken.front_mut() {
            if *left > n {
                *left -= n;
                break;
            }
            n -= *left;
            last = Some(*id);
            self.taken.pop_front();
        }
        if let (Some(id), Some(t)) = (last, &self.tailer) {
            t.out.spool().ack(id);
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

/// What a collector that stored `acked` keeps of `got`: the records past
/// the highest end acknowledged for their stream (its high-water marks).
pub fn past_marks(acked: &[Got], got: &[Got]) -> Vec<Got> {
    let mut marks = std::collections::HashMap::new();
    for a in acked {
        let m = marks.entry(a.stream_id).or_insert(0);
        *m = a.record.end.max(*m);
    }
    got.iter()
        .filter(|g| marks.get(&g.stream_id).is_none_or(|m| g.record.end > *m))
        .cloned()
        .collect()
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

/// Root reads every file through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH.
/// While this lives, the current thread (capabilities are per thread) has
/// them in neither its effective set: a file's mode binds it as it binds
/// any other user. They come back when it is dropped.
struct WithoutDacOverride(Vec<caps::Capability>);

impl WithoutDacOverride {
    fn new() -> WithoutDacOverride {
        use caps::{CapSet, Capability};
        let mut dropped = Vec::new();
        for cap in [
            Capability::CAP_DAC_OVERRIDE,
            Capability::CAP_DAC_READ_SEARCH,
        ] {
            if caps::has_cap(None, CapSet::Effective, cap).unwrap() {
                caps::drop(None, CapSet::Effective, cap).unwrap();
                dropped.push(cap);
            }
        }
        WithoutDacOverride(dropped)
    }
}

impl Drop for WithoutDacOverride {
    fn drop(&mut self) {
        for cap in &self.0 {
            let _ = caps::raise(None, caps::CapSet::Effective, *cap);
        }
    }
}

#[test]
fn unreadable_file_is_retried_and_read_once_permitted() {
    // A log agentd may not read yet (mode 000, a group it lacks) must be
    // read once it may, and must not hold up the other files meanwhile.
    // Also as root (CI runs the tests as root): the thread gives up the
    // capabilities that let root read any file.
    use std::os::unix::fs::PermissionsExt;
    let _unprivileged = WithoutDacOverride::new();
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["*.log"]));
    h.append("secret.log", b"s\n");
    h.append("open.log", b"o\n");
    fs::set_permissions(h.path("secret.log"), fs::Permissions::from_mode(0o000)).unwrap();
    assert!(
        fs::File::open(h.path("secret.log")).is_err(),
        "this thread can still read a file of mode 000: the test would prove nothing"
    );
    assert_eq!(texts(&h.tick()), ["o"]);
    assert_eq!(texts(&h.tick()), Vec::<String>::new(), "still unreadable");
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
