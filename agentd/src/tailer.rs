//! The tailer: finds the input files, follows them through rotation and
//! truncation, and hands their lines to the shipper.
//!
//! Invariants:
//! - A file is tracked once, by device + inode, whatever its name; files are
//!   read in the order they were found, so a rotated file is read to its end
//!   before the new file at its path.
//! - Offsets and stream ids depend only on file content and identity, so
//!   re-reading after a crash yields the same records (the collector
//!   deduplicates them).
//! - Nothing here moves a checkpoint forward: only acks do (the shipper).
//! - Reading never waits on the network: batches go to the spool. Only a
//!   full spool (or one that cannot be written) stops reading, and the
//!   files are the buffer until it takes batches again.
//!
//! Inotify events on the inputs' directories are wake-ups; each wake-up
//! re-stats the input paths, re-expands patterns when a directory changed,
//! and a full re-scan runs at least every second. A rename of an input
//! path to another name (`scan::Wake::moved`) is followed to a file never
//! opened yet: logrotate can create a file and rename it away between two
//! looks.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcore::wire::WireRecord;
use tracing::{debug, warn};

use crate::checkpoint::{lock, Shared};
use crate::config::{Config, StartAt};
use crate::fileid::FileKey;
use crate::journal::Journal;
use crate::outbox::{Outbox, Stop};
use crate::scan::{Inputs, Watcher};
use crate::signals::Request;
use crate::tracked::{Ctx, TrackedFile};

/// Bytes read from a file at a time, into one reused buffer.
const CHUNK: usize = 64 * 1024;
/// The safety re-scan interval.
const RESCAN: Duration = Duration::from_secs(1);
/// How often files are looked at while the spool takes nothing.
const BLOCKED_POLL: Duration = Duration::from_millis(100);
/// Journal entries read and not yet acknowledged, at most: beyond, the
/// tailer takes no more and the journal is the buffer (entries wait there,
/// whereas lines of a rotated file may not).
const JOURNAL_UNACKED_MAX: usize = 16_384;

/// Per-path and per-file warnings already given, so each is logged once.
#[derive(Default)]
struct Warned {
    directories: HashSet<PathBuf>,
    denied: HashSet<FileKey>,
    other: HashSet<PathBuf>,
}

pub struct Tailer {
    cfg: Arc<Config>,
    inputs: Inputs,
    watcher: Watcher,
    files: Vec<TrackedFile>,
    matched: Vec<PathBuf>,
    ckpt: Shared,
    out: Outbox,
    buf: Vec<u8>,
    warned: Warned,
    /// Paths with a checkpoint at startup: a new file there is read from the
    /// beginning even with start-at = "end".
    known_paths: HashSet<String>,
    started: bool,
    next_full_scan: Instant,
    /// The journal input, when the configuration reads the journal.
    journal: Option<Journal>,
    /// Renames seen since the last round, oldest first.
    moved: Vec<(PathBuf, PathBuf)>,
}

impl Tailer {
    pub fn new(cfg: Arc<Config>, ckpt: Shared, out: Outbox) -> io::Result<Tailer> {
        let known_paths = lock(&ckpt).entries().map(|e| e.path.clone()).collect();
        Ok(Tailer {
            inputs: Inputs::new(&cfg.inputs),
            watcher: Watcher::new()?,
            files: Vec::new(),
            matched: Vec::new(),
            ckpt,
            out,
            buf: vec![0; CHUNK],
            warned: Warned::default(),
            known_paths,
            started: false,
            next_full_scan: Instant::now(),
            journal: None,
            moved: Vec::new(),
            cfg,
        })
    }

    /// Reads the journal's entries too, alongside the files.
    pub fn set_journal(&mut self, journal: Journal) {
        self.journal = Some(journal);
    }

    /// Paths a previous tailer of this process was following (before a
    /// reload): like checkpointed paths, a new file there is read from the
    /// beginning even with start-at = "end", so that nothing written while
    /// the pipeline restarted is skipped.
    pub fn also_known(&mut self, paths: impl IntoIterator<Item = String>) {
        self.known_paths.extend(paths);
    }

    /// The paths of the files being followed, for [`Self::also_known`].
    pub fn followed_paths(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect()
    }

    /// Finds the checkpointed files and does the first scan. After this the
    /// daemon is ready.
    pub fn start(&mut self, now: Instant) {
        self.restore(now);
        self.rescan(now, true);
        self.started = true;
    }

    /// Runs until a signal asks for something (SIGTERM/SIGINT: stop,
    /// SIGHUP: reload) or until the shipper is gone. After a reload request
    /// it may be run again.
    pub fn run(&mut self, status: &dyn Fn() -> String) -> Result<Request, Stop> {
        loop {
            if self.out.signals.stop_requested() {
                return Ok(Request::Stop);
            }
            if self.out.signals.take_hup() {
                return Ok(Request::Reload);
            }
            let dir_changed = self.drain_events();
            let now = Instant::now();
            let full = dir_changed || now >= self.next_full_scan;
            self.tick(now, full)?;
            self.out.notifier.tick(now);
            let paused = self.out.blocked_reason();
            self.out.notifier.status(now, || match paused {
                Some(why) => format!("{}, {why}", status()),
                None => status(),
            });
            let mut timeout = self
                .next_deadline(now)
                .saturating_duration_since(Instant::now());
            // While blocked, file events cannot be acted on (nothing is
            // read): look at the files a few times a second, and at once
            // when the shipper makes room.
            let events = if self.out.is_blocked() {
                timeout = timeout.min(BLOCKED_POLL);
                None
            } else {
                Some(self.watcher.fd())
            };
            if let Err(e) = self.out.signals.wait(events, timeout) {
                warn!(error = %e, "Waiting for file events failed.");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Reads the queued inotify events: keeps the renames for the next
    /// round and says whether a directory changed.
    pub fn drain_events(&mut self) -> bool {
        match self.watcher.drain() {
            Ok(wake) => {
                self.moved.extend(wake.moved);
                wake.dir_changed
            }
            Err(e) => {
                warn!(error = %e, "Cannot read inotify events; re-scanning.");
                true
            }
        }
    }

    /// One round: follow renames, re-scan, read every file, spool partial
    /// lines and batches that waited long enough, close rotated files.
    /// While the spool takes nothing, files are only watched (new files
    /// opened, identities and truncations followed), not read. Nothing here
    /// waits for the disk: the syncer thread writes checkpoints and fsyncs.
    /// The only error is [`Stop::ShipperGone`].
    pub fn tick(&mut self, now: Instant, full: bool) -> Result<(), Stop> {
        self.follow_moves(now);
        self.rescan(now, full);
        let read = self
            .out
            .unblock()
            .and_then(|()| self.read_all(now))
            .and_then(|()| self.read_journal(now))
            .and_then(|()| self.out.flush_due(now));
        match read {
            Ok(()) => {}
            Err(Stop::Blocked) => self.prepare_all(now),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Hands over the current batch now, whatever its age.
    #[cfg(test)]
    pub fn flush(&mut self) -> Result<(), Stop> {
        self.out.flush()
    }

    /// At shutdown or before a restart: spools what was read and closes
    /// the spool; the shipper then ends once it has sent everything.
    pub fn finish(mut self) {
        self.out.finish();
    }

    pub fn notify_ready(&self) {
        self.out.notifier.ready();
    }

    pub fn notify_reloading(&self) {
        self.out.notifier.reloading();
    }

    pub fn notify_stopping(&self) {
        self.out.notifier.stopping();
    }

    pub fn lines_read(&self) -> u64 {
        self.out.lines_read
    }

    #[cfg(test)]
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// When the loop must run again without any event. While blocked only
    /// the re-scan and the watchdog count: nothing else can be acted on.
    fn next_deadline(&self, now: Instant) -> Instant {
        let mut next = self.next_full_scan.min(now + RESCAN);
        if let Some(d) = self.out.notifier.next_due() {
            next = next.min(d);
        }
        if !self.out.is_blocked() {
            let files = self.files.iter().filter_map(|f| f.deadline(&self.cfg));
            for d in self.out.deadline().into_iter().chain(files) {
                next = next.min(d);
            }
        }
        next
    }

    fn read_all(&mut self, now: Instant) -> Result<(), Stop> {
        let mut ctx = Ctx {
            cfg: &self.cfg,
            ckpt: &self.ckpt,
            out: &mut self.out,
            buf: &mut self.buf,
            now,
        };
        let mut i = 0;
        while i < self.files.len() {
            self.files[i].poll(&mut ctx)?;
            if let Some(copy) = self.files[i].take_recovered() {
                // The old content's copy goes first; this file comes again
                // right after it.
                self.files.insert(i, copy);
                continue;
            }
            self.files[i].flush_partial_if_due(&mut ctx)?;
            i += 1;
        }
        i = 0;
        while i < self.files.len() {
            if self.files[i].close_due(now, self.cfg.rotate_wait()) {
                self.files.remove(i).close(&mut ctx)?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Spools the journal entries the reader thread queued, until the spool
    /// is full or [`JOURNAL_UNACKED_MAX`] entries wait for their ACK (then
    /// the reader blocks, and journalctl with it). Entries the spool held
    /// at start are not spooled twice.
    fn read_journal(&mut self, now: Instant) -> Result<(), Stop> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        loop {
            if lock(&self.ckpt).journal_unacked() >= JOURNAL_UNACKED_MAX {
                self.out.spool().wake_on_ack();
                return Ok(());
            }
            let Some(entry) = journal.try_next() else {
                return Ok(());
            };
            let stream_id = entry.stream_id();
            let mut store = lock(&self.ckpt);
            if store
                .spooled_end(stream_id)
                .is_some_and(|end| entry.seqnum < end)
            {
                continue;
            }
            store.journal_read(&journal.source, stream_id, entry.seqnum, entry.cursor);
            drop(store);
            let record = WireRecord {
                offset: entry.seqnum,
                end: entry.seqnum + 1,
                flags: 0,
                line: entry.line,
            };
            self.out.push(stream_id, &journal.source, record, now)?;
        }
    }

    /// While blocked: follows identities and truncations without reading,
    /// so that files rotated or truncated meanwhile are still found.
    fn prepare_all(&mut self, now: Instant) {
        let mut ctx = Ctx {
            cfg: &self.cfg,
            ckpt: &self.ckpt,
            out: &mut self.out,
            buf: &mut self.buf,
            now,
        };
        let mut i = 0;
        while i < self.files.len() {
            self.files[i].prepare(&mut ctx);
            if let Some(copy) = self.files[i].take_recovered() {
                self.files.insert(i, copy);
                continue;
            }
            i += 1;
        }
    }

    /// Stats the input paths (re-expanding patterns when `full`): opens new
    /// files, re-attaches moved ones, detaches those no longer there.
    fn rescan(&mut self, now: Instant, full: bool) {
        if full {
            self.watcher.ensure(&self.inputs.watch_dirs());
            self.matched = self.inputs.expand();
            self.next_full_scan = now + RESCAN;
        }
        let matched = std::mem::take(&mut self.matched);
        let mut present = HashSet::new();
        for path in &matched {
            let meta = match fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.warned.directories.remove(path);
                    continue;
                }
                Err(e) => {
                    if self.warned.other.insert(path.clone()) {
                        warn!(path = %path.display(), error = %e, "Cannot read file status; will retry.");
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                if self.warned.directories.insert(path.clone()) {
                    warn!(path = %path.display(), "Input path is a directory; ignoring it.");
                }
                continue;
            }
            self.warned.directories.remove(path);
            if !meta.is_file() {
                if self.warned.other.insert(path.clone()) {
                    warn!(path = %path.display(), "Input path is not a regular file; ignoring it.");
                }
                continue;
            }
            let key = FileKey::of(&meta);
            if !present.insert(key) {
                continue;
            }
            if let Some(f) = self.files.iter_mut().find(|f| f.key == key) {
                f.attach(path.clone());
            } else if let Some(key) = self.open(path, key, now) {
                present.insert(key);
            }
        }
        self.matched = matched;
        for f in &mut self.files {
            if !present.contains(&f.key) {
                f.detach(now);
            }
        }
    }

    /// Opens a file found at an input path; returns its key when it is now
    /// tracked.
    fn open(&mut self, path: &Path, key: FileKey, now: Instant) -> Option<FileKey> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                if self.warned.denied.insert(key) {
                    warn!(path = %path.display(), "Cannot read file: permission denied; will retry on later re-scans.");
                }
                return None;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                if self.warned.other.insert(path.to_owned()) {
                    warn!(path = %path.display(), error = %e, "Cannot open file; will retry on later re-scans.");
                }
                return None;
            }
        };
        // The path may have been replaced between stat and open.
        let (key, size) = file
            .metadata()
            .map_or((key, 0), |m| (FileKey::of(&m), m.len()));
        if self.files.iter().any(|f| f.key == key) {
            return Some(key);
        }
        self.warned.denied.remove(&key);
        self.warned.other.remove(path);
        let path_text = path.to_string_lossy();
        let from_end = (!self.started
            && self.cfg.start_at == StartAt::End
            && !self.known_paths.contains(path_text.as_ref()))
        .then_some(size);
        debug!(path = %path.display(), from_end = from_end.is_some(), "Tracking new file.");
        self.files
            .push(TrackedFile::new(file, key, path.to_owned(), now, from_end));
        Some(key)
    }
}

mod found;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod tests;
