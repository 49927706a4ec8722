//! Checkpoints: for each stream, how far the collector has acknowledged it.
//!
//! Stored in `state-dir/checkpoints.json` as `{"version":1,"streams":[..]}`,
//! written temp-file, fsync, rename, fsync of the directory, so a crash leaves
//! either the old or the new file. An entry's `offset` is the `end` of the
//! last acknowledged record: it never moves past what the collector made
//! durable, so a restart re-reads (and the collector deduplicates) rather
//! than loses.
//!
//! The tailer registers and retires streams; the shipper's ack reader moves
//! offsets. Both go through [`Shared`].
//!
//! Reading resumes at the checkpoint, or past it at the end of what the
//! spool already holds of the stream ([`Checkpoints::resume_offset`]): the
//! spool's batches are sent again from the spool, not read again.
//!
//! Version 2 adds `journal`: the source (`journal` or `journal:DIR`) and the
//! `__CURSOR` of the last acknowledged journal entry. Entries read and not
//! yet acknowledged wait in read order with their cursors; an ACK that
//! covers an entry's (stream, seqnum) moves the cursor past it. Version 1
//! files (no journal) are read as they are.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::fileid::{FileKey, Identity};

pub const FORMAT_VERSION: u32 = 2;
/// Checkpoints are written at most this often while things change.
pub const WRITE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The path the stream was first read at (the path shipped with it).
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub fingerprint: u64,
    pub generation: u64,
    pub stream_id: u64,
    /// The end of the last acknowledged record: where to resume.
    pub offset: u64,
    /// When the stream's file was last open, seconds since the epoch.
    pub last_seen: u64,
}

impl Entry {
    pub fn new(path: String, id: Identity, offset: u64) -> Entry {
        Entry {
            path,
            dev: id.key.dev,
            ino: id.key.ino,
            fingerprint: id.fingerprint,
            generation: id.generation,
            stream_id: id.stream_id(),
            offset,
            last_seen: unix_now(),
        }
    }

    pub fn key(&self) -> FileKey {
        FileKey {
            dev: self.dev,
            ino: self.ino,
        }
    }

    pub fn identity(&self) -> Identity {
        Identity {
            key: self.key(),
            fingerprint: self.fingerprint,
            generation: self.generation,
        }
    }
}

/// Where the journal was acknowledged up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalPlace {
    /// `journal`, or `journal:DIR` with `journal-directory`.
    pub source: String,
    /// The `__CURSOR` of the last acknowledged entry.
    pub cursor: String,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    streams: Vec<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    journal: Option<JournalPlace>,
}

/// Journal entries read and not yet acknowledged, in read order.
#[derive(Debug, Default)]
struct JournalInFlight {
    /// (stream id, seqnum, cursor).
    pending: VecDeque<(u64, u64, String)>,
    /// Per journal stream, the acknowledged end (seqnum + 1 of the last).
    acked: HashMap<u64, u64>,
    source: String,
}

#[derive(Debug)]
struct Slot {
    entry: Entry,
    /// Set when the tailer closed the file: the end of the last record it
    /// read. Once acked up to there, the entry is stale.
    closed_at: Option<u64>,
}

/// The checkpoint store, shared between the tailer and the shipper.
pub type Shared = Arc<Mutex<Checkpoints>>;

/// Locks the store. A panic elsewhere while holding the lock leaves the map
/// consistent (every method updates it in one step), so poisoning is ignored.
pub fn lock(shared: &Shared) -> MutexGuard<'_, Checkpoints> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
pub struct Checkpoints {
    path: PathBuf,
    slots: BTreeMap<u64, Slot>,
    journal: Option<JournalPlace>,
    inflight: JournalInFlight,
    /// Per stream, the end of what the spool held at start.
    spooled: HashMap<u64, u64>,
    dirty: bool,
    urgent: bool,
    last_write: Option<Instant>,
}

impl Checkpoints {
    /// Loads `path`; a missing file is an empty store, an unreadable or
    /// corrupt one is an error naming the file.
    pub fn load(path: &Path) -> Result<Checkpoints> {
        let mut store = Checkpoints {
            path: path.to_owned(),
            slots: BTreeMap::new(),
            journal: None,
            inflight: JournalInFlight::default(),
            spooled: HashMap::new(),
            dirty: false,
            urgent: false,
            last_write: None,
        };
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(store),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read checkpoint file {}", path.display()))
            }
        };
        let on_disk: OnDisk = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "checkpoint file {} is corrupt (move it away to start over; files would be re-read per start-at)",
                path.display()
            )
        })?;
        if !(1..=FORMAT_VERSION).contains(&on_disk.version) {
            bail!(
                "checkpoint file {} has version {}, this agentd reads versions 1 to {FORMAT_VERSION}",
                path.display(),
                on_disk.version
            );
        }
        store.journal = on_disk.journal;
        for entry in on_disk.streams {
            store.slots.insert(
                entry.stream_id,
                Slot {
                    entry,
                    closed_at: None,
                },
            );
        }
        Ok(store)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.values().map(|s| &s.entry)
    }

    #[cfg(test)]
    pub fn get(&self, stream_id: u64) -> Option<&Entry> {
        self.slots.get(&stream_id).map(|s| &s.entry)
    }

    /// What the spool held at start: per stream, the end of its last record.
    pub fn set_spooled(&mut self, ends: HashMap<u64, u64>) {
        self.spooled = ends;
    }

    /// The end of what the spool held of `stream_id` at start.
    pub fn spooled_end(&self, stream_id: u64) -> Option<u64> {
        self.spooled.get(&stream_id).copied()
    }

    /// Where to resume reading a checkpointed stream: past what was
    /// acknowledged, and past what the spool holds of it (sent from there).
    pub fn resume_offset(&self, e: &Entry) -> u64 {
        e.offset.max(self.spooled_end(e.stream_id).unwrap_or(0))
    }

    /// Journal entries read and not yet acknowledged.
    pub fn journal_unacked(&self) -> usize {
        self.inflight.pending.len()
    }

    /// Whether something changed since the last write.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The newest-generation entry for a file with this key and fingerprint.
    pub fn find(&self, key: FileKey, fingerprint: u64) -> Option<&Entry> {
        self.entries()
            .filter(|e| e.key() == key && e.fingerprint == fingerprint)
            .max_by_key(|e| e.generation)
    }

    /// Adds or replaces a stream. `urgent` writes it at the next chance, for
    /// identity changes a crash must not forget.
    pub fn register(&mut self, entry: Entry, urgent: bool) {
        self.slots.insert(
            entry.stream_id,
            Slot {
                entry,
                closed_at: None,
            },
        );
        self.dirty = true;
        self.urgent |= urgent;
    }

    pub fn remove(&mut self, stream_id: u64) {
        if self.slots.remove(&stream_id).is_some() {
            self.dirty = true;
        }
    }

    /// The collector made everything of `stream_id` before `end` durable.
    pub fn ack(&mut self, stream_id: u64, end: u64) {
        if let Some(slot) = self.slots.get_mut(&stream_id) {
            if end > slot.entry.offset {
                slot.entry.offset = end;
                self.dirty = true;
            }
            return;
        }
        let journal = &mut self.inflight;
        let Some(known) = journal.acked.get_mut(&stream_id) else {
            return;
        };
        *known = (*known).max(end);
        let mut last = None;
        while let Some((stream, seqnum, _)) = journal.pending.front() {
            if journal.acked.get(stream).is_some_and(|e| seqnum < e) {
                last = journal.pending.pop_front();
            } else {
                break;
            }
        }
        if let Some((_, _, cursor)) = last {
            self.journal = Some(JournalPlace {
                source: journal.source.clone(),
                cursor,
            });
            self.dirty = true;
        }
    }

    /// The cursor to resume `source` at: the last acknowledged entry's,
    /// when the checkpoint is of the same source.
    pub fn journal_cursor(&self, source: &str) -> Option<&str> {
        self.journal
            .as_ref()
            .filter(|p| p.source == source)
            .map(|p| p.cursor.as_str())
    }

    /// The tailer read a journal entry: it waits here until acknowledged.
    pub fn journal_read(&mut self, source: &str, stream_id: u64, seqnum: u64, cursor: String) {
        if self.inflight.source != source {
            self.inflight.source = source.to_owned();
        }
        self.inflight.acked.entry(stream_id).or_insert(0);
        self.inflight.pending.push_back((stream_id, seqnum, cursor));
    }

    /// The tailer closed the stream's file after reading up to `read_end`.
    /// The entry goes away once acked that far.
    pub fn mark_closed(&mut self, stream_id: u64, read_end: u64) {
        if let Some(slot) = self.slots.get_mut(&stream_id) {
            slot.closed_at = Some(read_end);
            self.dirty = true;
        }
    }

    /// Whether a write is due at `now`.
    pub fn write_due(&self, now: Instant) -> bool {
        self.dirty
            && (self.urgent
                || self
                    .last_write
                    .is_none_or(|t| now.duration_since(t) >= WRITE_INTERVAL))
    }

    /// Drops stale entries and serializes the rest, marking the store clean.
    /// The caller writes the bytes with [`write_atomically`] outside the lock
    /// and calls [`Self::write_failed`] if that fails.
    pub fn take_snapshot(&mut self, now: Instant) -> Vec<u8> {
        self.slots
            .retain(|_, s| s.closed_at.is_none_or(|end| s.entry.offset < end));
        let seen = unix_now();
        for slot in self.slots.values_mut() {
            if slot.closed_at.is_none() {
                slot.entry.last_seen = seen;
            }
        }
        let on_disk = OnDisk {
            version: FORMAT_VERSION,
            streams: self.slots.values().map(|s| s.entry.clone()).collect(),
            journal: self.journal.clone(),
        };
        self.dirty = false;
        self.urgent = false;
        self.last_write = Some(now);
        serde_json::to_vec_pretty(&on_disk)
            .expect("checkpoint entries are plain numbers and strings")
    }

    pub fn write_failed(&mut self) {
        self.dirty = true;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes the store now if it changed and a write is due (or `force`). The
/// daemon's writes go through the syncer (`syncer.rs`), which fsyncs the
/// spool in between.
#[cfg(test)]
pub fn save(shared: &Shared, now: Instant, force: bool) -> Result<()> {
    let (bytes, path) = {
        let mut store = lock(shared);
        if !(store.write_due(now) || (force && store.dirty)) {
            return Ok(());
        }
        (store.take_snapshot(now), store.path.clone())
    };
    write_atomically(&path, &bytes).inspect_err(|_| lock(shared).write_failed())
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new
/// content: temp file in the same directory, fsync, rename, fsync directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("cannot write checkpoint file {}", path.display()))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: u64, offset: u64) -> Entry {
        Entry {
            path: "/var/log/syslog".into(),
            dev: 1,
            ino: 2,
            fingerprint: 3,
            generation: 0,
            stream_id: stream,
            offset,
            last_seen: 0,
        }
    }

    #[test]
    fn written_checkpoints_load_back() {
        // A restart must resume exactly where the acks were.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        let shared: Shared = Arc::new(Mutex::new(Checkpoints::load(&path).unwrap()));
        lock(&shared).register(entry(7, 0), false);
        lock(&shared).ack(7, 120);
        lock(&shared).ack(7, 100); // acks never move a checkpoint back
        save(&shared, Instant::now(), true).unwrap();
        let loaded = Checkpoints::load(&path).unwrap();
        assert_eq!(loaded.get(7).map(|e| e.offset), Some(120));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
        assert!(
            !dir.path().join(".checkpoints.json.tmp").exists(),
            "temp file left behind"
        );
    }

    #[test]
    fn journal_cursor_moves_only_past_acknowledged_entries_in_read_order() {
        // A restart must resume after the last acknowledged entry, never
        // after one still in flight (it would be lost).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        let mut store = Checkpoints::load(&path).unwrap();
        // Two seqnum ids interleaved (journalctl merging two journals).
        store.journal_read("journal", 1, 10, "c10".into());
        store.journal_read("journal", 2, 5, "d5".into());
        store.journal_read("journal", 1, 11, "c11".into());
        store.ack(2, 6);
        assert_eq!(store.journal_cursor("journal"), None, "c10 is not acked");
        store.ack(1, 11);
        assert_eq!(store.journal_cursor("journal"), Some("d5"));
        store.ack(1, 12);
        assert_eq!(store.journal_cursor("journal"), Some("c11"));
        assert_eq!(store.journal_cursor("journal:/other"), None);
        store.take_snapshot(Instant::now());
        let shared: Shared = Arc::new(Mutex::new(store));
        lock(&shared).dirty = true;
        save(&shared, Instant::now(), true).unwrap();
        let loaded = Checkpoints::load(&path).unwrap();
        assert_eq!(loaded.journal_cursor("journal"), Some("c11"));
    }

    #[test]
    fn version_1_files_still_load() {
        // An upgrade must not lose the places in files.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        fs::write(
            &path,
            r#"{"version":1,"streams":[{"path":"/a","dev":1,"ino":2,"fingerprint":3,"generation":0,"stream_id":7,"offset":99,"last_seen":0}]}"#,
        )
        .unwrap();
        let loaded = Checkpoints::load(&path).unwrap();
        assert_eq!(loaded.get(7).map(|e| e.offset), Some(99));
        assert_eq!(loaded.journal_cursor("journal"), None);
    }

    #[test]
    fn atomic_write_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        write_atomically(&path, b"a much longer first content").unwrap();
        write_atomically(&path, b"short").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn corrupt_checkpoint_file_is_an_error_naming_it() {
        // Silently starting over would re-ship or skip whole files.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        fs::write(&path, b"{\"version\":1,\"streams\":[{\"pa").unwrap();
        let e = format!("{:#}", Checkpoints::load(&path).unwrap_err());
        assert!(
            e.contains(&path.display().to_string()) && e.contains("corrupt"),
            "{e}"
        );
        fs::write(&path, b"{\"version\":9,\"streams\":[]}").unwrap();
        let e = format!("{:#}", Checkpoints::load(&path).unwrap_err());
        assert!(e.contains("version 9"), "{e}");
    }

    #[test]
    fn closed_stream_is_dropped_only_once_fully_acked() {
        // Dropping it earlier would lose the unacked tail on restart.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Checkpoints::load(&dir.path().join("c.json")).unwrap();
        store.register(entry(7, 0), false);
        store.mark_closed(7, 50);
        store.ack(7, 40);
        store.take_snapshot(Instant::now());
        assert!(store.get(7).is_some());
        store.ack(7, 50);
        store.take_snapshot(Instant::now());
        assert!(store.get(7).is_none());
    }

    #[test]
    fn writes_are_rate_limited_unless_urgent() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Checkpoints::load(&dir.path().join("c.json")).unwrap();
        let t0 = Instant::now();
        store.register(entry(1, 0), false);
        assert!(store.write_due(t0));
        store.take_snapshot(t0);
        store.ack(1, 5);
        assert!(!store.write_due(t0 + Duration::from_millis(10)));
        assert!(store.write_due(t0 + WRITE_INTERVAL));
        store.register(entry(2, 0), true);
        assert!(store.write_due(t0 + Duration::from_millis(10)));
    }
}
