//! The spool: what the tailer read, kept on disk in `state-dir/spool/`
//! until the collector acknowledges it, so that reading files never waits
//! on the network.
//!
//! The tailer appends each batch as it is made ([`SpoolWriter`]); the
//! shipper reads them back in order ([`SpoolReader`]), sends them, and an
//! ACK of a batch ([`Spool::ack`]) lets the spool delete every segment
//! whose batches are all acknowledged. Checkpoints still move only on
//! acknowledgement (the ack reader moves both); the spool is where the
//! lines wait meanwhile, not a place that counts as delivered.
//!
//! Invariants:
//! - Batches are read back in the order written, so each stream's records
//!   reach the collector in offset order (its high-water marks rely on it).
//! - A segment goes only once every batch in it is acknowledged; ids grow
//!   by one, and an ACK covers every batch before it (ACKs are cumulative
//!   and batches are sent in spool order).
//! - At most `spool-max-bytes` on disk: when a batch does not fit while
//!   some are unacknowledged, [`SpoolWriter::write`] refuses it and the
//!   tailer stops reading (the files are the buffer again) until an ACK
//!   makes room; then the spool wakes it.
//! - Memory: the shipper holds the batch it is sending; of its window of
//!   unacknowledged batches, only their ends (the lines are here, and a
//!   lost connection reads them again: [`SpoolReader::rewind`]). The spool
//!   holds no batch in memory.
//!
//! Durability. Writes go to the page cache, which survives a kill of
//! agentd. [`Spool::sync`] fsyncs what was written since the last one (and
//! the directory, for new segments); the syncer thread calls it at least
//! every second while the spool changes and before each write of
//! checkpoints.json (a checkpoint may forget a stream, a truncated file's
//! old generation say, whose only copy of unacknowledged lines is then the
//! spool). Never the tailer: an fsync takes milliseconds, and copytruncate
//! destroys what is written in the milliseconds between logrotate's copy
//! and its truncate unless agentd has read it by then. A machine crash can
//! therefore lose the last second of spooled lines, and only those whose
//! file was also truncated or removed meanwhile: the rest are read again
//! from their files. A torn or damaged record is cut off at the next start,
//! and the segments after it go (`format.rs`).

mod format;
mod reader;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::{Context, Result};
use tracing::{error, info};

use crate::batch::Batch;
use crate::signals::Waker;
use format::HEADER_LEN;
pub use reader::{Next, SpoolReader};

/// The largest segment file; a segment holds at least one batch.
const SEGMENT_MAX: u64 = 8 << 20;
const SEGMENT_MIN: u64 = 64 << 10;

/// A handle on the spool's shared state: for acknowledgements and figures.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// Oldest first; only the last one may be unsealed (being written).
    segments: VecDeque<Seg>,
    /// Every batch with an id up to this one is acknowledged.
    acked: u64,
    /// Bytes of the segment files.
    bytes: u64,
    writer_closed: bool,
    reader_gone: bool,
    /// Wakes the tailer at the next ACK that frees room.
    waker: Option<Waker>,
    want_wake: bool,
    /// Segments written to since their last fsync, by first id.
    unsynced: BTreeMap<u64, Arc<File>>,
    /// A segment was created since the directory's last fsync.
    dir_unsynced: bool,
}

#[derive(Debug)]
struct Seg {
    first: u64,
    /// One past the id of its last batch.
    next: u64,
    len: u64,
    path: PathBuf,
    sealed: bool,
}

/// The spool opened at the start of a pipeline.
pub struct Opened {
    pub spool: Spool,
    pub writer: SpoolWriter,
    pub reader: SpoolReader,
    /// Per stream, the end of what the spool holds: reading resumes there.
    pub ends: HashMap<u64, u64>,
}

/// Figures for STATUS and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub bytes: u64,
    /// Batches written and not yet acknowledged.
    pub unacked: u64,
}

impl Spool {
    /// Opens (creating) the spool directory and scans what an earlier run
    /// left in it: those batches are read first. `max_bytes` is
    /// `spool-max-bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Opened> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .with_context(|| format!("cannot create spool directory {}", dir.display()))?;
        let scan = format::scan(dir)?;
        let first = scan.segments.first().map_or(1, |s| s.first);
        let next_id = scan.segments.last().map_or(1, |s| s.next);
        if scan.batches > 0 {
            info!(
                spool = %dir.display(),
                batches = scan.batches,
                bytes = scan.bytes,
                "The spool holds batches of an earlier run that may not have been acknowledged; sending them first."
            );
        }
        let segments = scan
            .segments
            .into_iter()
            .map(|f| Seg {
                first: f.first,
                next: f.next,
                len: f.len,
                path: f.path,
                sealed: true,
            })
            .collect();
        let spool = Spool {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                max_bytes,
                segment_bytes: (max_bytes / 8).clamp(SEGMENT_MIN, SEGMENT_MAX),
                state: Mutex::new(State {
                    segments,
                    acked: first - 1,
                    bytes: scan.bytes,
                    writer_closed: false,
                    reader_gone: false,
                    waker: None,
                    want_wake: false,
                    unsynced: BTreeMap::new(),
                    dir_unsynced: false,
                }),
                changed: Condvar::new(),
            }),
        };
        Ok(Opened {
            writer: SpoolWriter {
                spool: spool.clone(),
                active: None,
                next_id,
                buf: Vec::new(),
            },
            reader: SpoolReader {
                spool: spool.clone(),
                next_id: first,
                at: None,
            },
            ends: scan.ends,
            spool,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every holder updates the state in single steps: a panic elsewhere
        // leaves it consistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the tailer through `waker` when an ACK makes room after it was
    /// refused one, or after [`Self::wake_on_ack`].
    pub fn set_waker(&self, waker: Waker) {
        self.lock().waker = Some(waker);
    }

    /// Wakes the tailer at the next ACK (it waits for the acknowledgement of
    /// journal entries).
    pub fn wake_on_ack(&self) {
        self.lock().want_wake = true;
    }

    /// The collector acknowledged batch `id` and so every batch before it:
    /// segments holding only acknowledged batches are deleted.
    pub fn ack(&self, id: u64) {
        let mut st = self.lock();
        if id > st.acked {
            st.acked = id;
        }
        st.remove_acked();
        if st.want_wake && st.bytes < self.inner.max_bytes {
            st.want_wake = false;
            if let Some(w) = &st.waker {
                w.wake();
            }
        }
    }

    /// fsyncs every segment written to since the last sync, and the
    /// directory when a segment was created. From any thread; the syncer's.
    pub fn sync(&self) -> io::Result<()> {
        let (files, dir) = {
            let mut st = self.lock();
            (
                std::mem::take(&mut st.unsynced),
                std::mem::take(&mut st.dir_unsynced),
            )
        };
        let mut result = Ok(());
        for (first, file) in &files {
            if let Err(e) = file.sync_data() {
                result = Err(e);
                // Tried again at the next sync.
                self.lock().unsynced.insert(*first, Arc::clone(file));
            }
        }
        if dir {
            if let Err(e) = File::open(&self.inner.dir).and_then(|d| d.sync_all()) {
                self.lock().dir_unsynced = true;
                result = Err(e);
            }
        }
        result
    }

    /// Whether something was written since the last [`Self::sync`].
    pub fn needs_sync(&self) -> bool {
        let st = self.lock();
        !st.unsynced.is_empty() || st.dir_unsynced
    }

    pub fn figures(&self) -> Figures {
        let st = self.lock();
        let written = st.segments.back().map_or(st.acked, |s| s.next - 1);
        Figures {
            bytes: st.bytes,
            unacked: written.saturating_sub(st.acked),
        }
    }

    /// After the pipeline stopped: when every batch is acknowledged, the
    /// spool is emptied, so that the next start resends nothing.
    pub fn tidy(&self) {
        let mut st = self.lock();
        let written = st.segments.back().map_or(st.acked, |s| s.next - 1);
        if st.acked < written || !st.writer_closed {
            return;
        }
        for s in st.segments.drain(..) {
            format::remove(&s.path);
        }
        st.bytes = 0;
    }
}

impl State {
    fn remove_acked(&mut self) {
        while let Some(s) = self.segments.front() {
            if !s.sealed || s.next - 1 > self.acked {
                break;
            }
            let s = self.segments.pop_front().expect("front was just checked");
            format::remove(&s.path);
            self.unsynced.remove(&s.first);
            self.bytes -= s.len;
        }
    }
}

/// Why a batch was not spooled; the batch comes back with it.
#[derive(Debug)]
pub enum Refused {
    /// At `spool-max-bytes` with batches unacknowledged.
    Full,
    /// The shipper is gone (it only ends on shutdown or a bug).
    ReaderGone,
    /// Writing failed (a full disk, say).
    Io(io::Error),
}

/// The segment being appended to.
struct Active {
    first: u64,
    file: Arc<File>,
    len: u64,
}

/// The tailer's side: appends batches.
pub struct SpoolWriter {
    spool: Spool,
    active: Option<Active>,
    next_id: u64,
    buf: Vec<u8>,
}

impl SpoolWriter {
    /// Appends `batch`; it can be read back at once.
    pub fn write(&mut self, mut batch: Batch) -> Result<(), (Batch, Refused)> {
        let id = self.next_id;
        self.buf.clear();
        if let Err(why) = format::encode(id, &mut batch, &mut self.buf) {
            return Err((batch, Refused::Io(io::Error::other(why))));
        }
        let size = self.buf.len() as u64;
        let inner = Arc::clone(&self.spool.inner);
        if self.spool.lock().reader_gone {
            return Err((batch, Refused::ReaderGone));
        }
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.first < id && a.len + size > inner.segment_bytes)
        {
            self.seal();
        }
        {
            let mut st = self.spool.lock();
            let unacked = st.acked + 1 < id;
            let header = if self.active.is_none() { HEADER_LEN } else { 0 };
            if unacked && st.bytes + header + size > inner.max_bytes {
                st.want_wake = true;
                return Err((batch, Refused::Full));
            }
        }
        if self.active.is_none() {
            if let Err(e) = self.start_segment(id) {
                return Err((batch, Refused::Io(e)));
            }
        }
        let active = self.active.as_mut().expect("started above");
        if let Err(e) = active.file.write_all_at(&self.buf, active.len) {
            // Whatever part of it reached the file is overwritten by the
            // next write, and never read: the length below did not move.
            let _ = active.file.set_len(active.len);
            return Err((batch, Refused::Io(e)));
        }
        active.len += size;
        self.next_id += 1;
        let mut st = self.spool.lock();
        st.unsynced
            .entry(active.first)
            .or_insert_with(|| Arc::clone(&active.file));
        st.bytes += size;
        let seg = st
            .segments
            .back_mut()
            .expect("the active segment is listed");
        seg.len += size;
        seg.next = id + 1;
        drop(st);
        inner.changed.notify_all();
        Ok(())
    }

    /// Seals the segment being written: no more batches go to it, and it
    /// is deleted once they are all acknowledged (the syncer fsyncs it).
    fn seal(&mut self) {
        self.active = None;
        let mut st = self.spool.lock();
        if let Some(s) = st.segments.back_mut() {
            s.sealed = true;
        }
        st.remove_acked();
    }

    fn start_segment(&mut self, first: u64) -> io::Result<()> {
        let path = format::segment_path(&self.spool.inner.dir, first);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.write_all_at(&format::header(), 0)?;
        let file = Arc::new(file);
        self.active = Some(Active {
            first,
            file: Arc::clone(&file),
            len: HEADER_LEN,
        });
        let mut st = self.spool.lock();
        st.unsynced.insert(first, file);
        st.dir_unsynced = true;
        st.bytes += HEADER_LEN;
        st.segments.push_back(Seg {
            first,
            next: first,
            len: HEADER_LEN,
            path,
            sealed: false,
        });
        Ok(())
    }

    /// Nothing more will be written (shutdown, reload): syncs, and lets the
    /// reader end once it has read everything.
    pub fn close(&mut self) {
        if let Err(e) = self.spool.sync() {
            error!(spool = %self.spool.inner.dir.display(), error = %e, "Cannot fsync the spool.");
        }
        self.mark_closed();
    }

    fn mark_closed(&self) {
        self.spool.lock().writer_closed = true;
        self.spool.inner.changed.notify_all();
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

impl Drop for SpoolWriter {
    fn drop(&mut self) {
        self.mark_closed();
    }
}
