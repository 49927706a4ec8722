//! One open file being tailed: its identity, its place, and the detection of
//! in-place truncation (copytruncate).
//!
//! A file is read through its open descriptor, never re-opened by path: once
//! renamed away or deleted it is read to its end from the same descriptor
//! (see [`TrackedFile::close_due`]). Bytes go through [`LineSplitter`]
//! unchanged (invalid UTF-8 and NUL included).
//!
//! When a file is truncated in place, its content is read again from offset
//! 0 as a new stream. What had not been read of the old content is looked
//! for in the copy logrotate made next to it ([`crate::locate::find_copy`]);
//! when found, the old stream is finished from the copy first.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use logcore::wire::FLAG_TRUNCATED;
use tracing::{debug, info, warn};

use crate::checkpoint::{lock, Entry, Shared};
use crate::config::Config;
use crate::fileid::{FileKey, Identity};
use crate::lines::LineSplitter;
use crate::locate::remember_tail;
use crate::outbox::{Outbox, Stop};

mod identity;

/// What a file read needs besides the file.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub ckpt: &'a Shared,
    pub out: &'a mut Outbox,
    pub buf: &'a mut [u8],
    pub now: Instant,
}

#[derive(Debug)]
enum State {
    /// The first line is incomplete and shorter than 256 bytes: no identity
    /// yet, nothing read. `after` is the fingerprint and generation the file
    /// had before it was truncated, if it was.
    Waiting { after: Option<(u64, u64)> },
    Reading {
        id: Identity,
        stream_id: u64,
        splitter: LineSplitter,
    },
}

#[derive(Debug)]
pub struct TrackedFile {
    file: File,
    pub key: FileKey,
    /// Where the file is now (or was last seen).
    pub path: PathBuf,
    /// The path shipped with its lines: where the stream was first read.
    stream_path: String,
    state: State,
    /// Start after the last complete line within this many bytes, the size
    /// when the file was found (start-at = "end", initial scan, no
    /// checkpoint). Lines written later are read.
    from_end: Option<u64>,
    /// Since when the file is no longer at any input path.
    detached: Option<Instant>,
    last_growth: Instant,
    /// Size and modification time at the last look: when they change, the
    /// fingerprint is checked again.
    last_stat: (u64, i64, i64),
    /// The pending incomplete line (its start) and since when it waits.
    partial_since: Option<(u64, Instant)>,
    at_eof: bool,
    error_logged: bool,
    /// The last bytes read, to recognise a copy of the file.
    tail: Vec<u8>,
    /// A copy holding the unread end of this file's previous content, found
    /// when it was truncated; the tailer reads it before this file.
    recovered: Option<Box<TrackedFile>>,
    /// logrotate's finished copy of a truncated file: nobody writes to it,
    /// so it is closed once read to its end, without `rotate-wait-ms`.
    complete: bool,
}

impl TrackedFile {
    pub fn new(
        file: File,
        key: FileKey,
        path: PathBuf,
        now: Instant,
        from_end: Option<u64>,
    ) -> TrackedFile {
        TrackedFile {
            file,
            key,
            stream_path: path.to_string_lossy().into_owned(),
            path,
            state: State::Waiting { after: None },
            from_end,
            detached: None,
            last_growth: now,
            last_stat: (0, 0, 0),
            partial_since: None,
            at_eof: false,
            error_logged: false,
            tail: Vec::new(),
            recovered: None,
            complete: false,
        }
    }

    /// A file found under another name at startup (rotated while agentd was
    /// stopped): it is finished from its checkpoint, then closed.
    pub fn restored(
        file: File,
        key: FileKey,
        found: PathBuf,
        stream_path: String,
        now: Instant,
    ) -> TrackedFile {
        let mut f = TrackedFile::new(file, key, found, now, None);
        f.stream_path = stream_path;
        f.detached = Some(now);
        f
    }

    /// A copy (`key`, at `found`) of a checkpointed stream, read from
    /// `offset` (the checkpoint's, or the end of what the spool holds) on as
    /// that stream, then closed.
    pub fn resumed(
        file: File,
        key: FileKey,
        found: PathBuf,
        entry: &Entry,
        offset: u64,
        cfg: &Config,
        now: Instant,
    ) -> TrackedFile {
        let mut f = TrackedFile::copy(file, key, found, entry.path.clone(), now);
        f.state = State::Reading {
            id: entry.identity(),
            stream_id: entry.stream_id,
            splitter: LineSplitter::new(offset, cfg.max_line_bytes),
        };
        f
    }

    /// logrotate's copy (`key`, at `found`) of a truncated file: complete,
    /// read as the stream it copies, then closed at its end.
    pub fn copy(
        file: File,
        key: FileKey,
        found: PathBuf,
        stream_path: String,
        now: Instant,
    ) -> TrackedFile {
        let mut f = TrackedFile::restored(file, key, found, stream_path, now);
        f.complete = true;
        f
    }

    /// The copy found at the last truncation, to be read before this file.
    pub fn take_recovered(&mut self) -> Option<TrackedFile> {
        self.recovered.take().map(|b| *b)
    }

    /// The file is (again) at an input path.
    pub fn attach(&mut self, path: PathBuf) {
        if self.detached.take().is_some() {
            debug!(path = %path.display(), "Rotated file is at an input path again.");
        }
        self.path = path;
    }

    /// The file is no longer at any input path: renamed away or deleted.
    pub fn detach(&mut self, now: Instant) {
        if self.detached.is_some() {
            return;
        }
        self.detached = Some(now);
        let deleted = self.file.metadata().is_ok_and(|m| m.nlink() == 0);
        let path = &self.stream_path;
        if deleted {
            info!(path = %path, "File was deleted; reading it to its end before closing it.");
        } else {
            info!(path = %path, "File was rotated (renamed away); reading the old file to its end before closing it.");
        }
    }

    /// Detects truncation and resolves the identity, without reading lines.
    /// `false` while the file cannot be read yet (no fingerprint, a copy of
    /// its old content to read first, an I/O error).
    pub fn prepare(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let ready =
            self.check_rewritten(ctx)
                .and_then(|fine| if fine { self.resolve(ctx) } else { Ok(false) });
        match ready {
            Ok(ready) => ready,
            Err(e) => {
                self.io_error(&e);
                false
            }
        }
    }

    /// [`Self::prepare`]s the file and reads all new lines into the outbox.
    /// `Err(Blocked)` when the outbox is full: the rest is read later.
    pub fn poll(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Stop> {
        if !self.prepare(ctx) {
            return Ok(());
        }
        let State::Reading {
            stream_id,
            splitter,
            ..
        } = &mut self.state
        else {
            return Ok(());
        };
        self.at_eof = false;
        loop {
            let n = match self.file.read_at(ctx.buf, splitter.read_offset()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if !self.error_logged {
                        warn!(path = %self.stream_path, error = %e, "Cannot read file; will retry.");
                        self.error_logged = true;
                    }
                    return Ok(());
                }
            };
            self.error_logged = false;
            if n == 0 {
                self.at_eof = true;
                break;
            }
            self.last_growth = ctx.now;
            let chunk = &ctx.buf[..n];
            let mut pos = 0;
            let mut pushed = Ok(());
            while let Some(record) = splitter.next_line(chunk, &mut pos) {
                if record.flags & FLAG_TRUNCATED != 0 {
                    info!(
                        path = %self.stream_path,
                        offset = record.offset,
                        length = record.end - record.offset - 1,
                        "Line longer than max-line-bytes was truncated to {} bytes.",
                        ctx.cfg.max_line_bytes
                    );
                }
                pushed = ctx.out.push(*stream_id, &self.stream_path, record, ctx.now);
                if pushed.is_err() {
                    break;
                }
            }
            // Only what was consumed: a blocked outbox stops mid-chunk.
            remember_tail(&mut self.tail, &chunk[..pos]);
            pushed?;
            if n < ctx.buf.len() {
                self.at_eof = true;
                break;
            }
        }
        self.partial_since = match self.partial_since {
            Some((start, since)) if splitter.has_partial() && start == splitter.line_start() => {
                Some((start, since))
            }
            _ if splitter.has_partial() => Some((splitter.line_start(), ctx.now)),
            _ => None,
        };
        Ok(())
    }

    fn io_error(&mut self, e: &io::Error) {
        if !self.error_logged {
            warn!(path = %self.stream_path, error = %e, "Cannot read file; will retry.");
            self.error_logged = true;
        }
    }

    /// Ships the pending incomplete line, flagged partial, once it waited
    /// `partial-flush-ms` with nothing more to read.
    pub fn flush_partial_if_due(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Stop> {
        match self.partial_since {
            Some((_, since)) if self.at_eof && ctx.now >= since + ctx.cfg.partial_flush() => {
                self.flush_partial(ctx)
            }
            _ => Ok(()),
        }
    }

    fn flush_partial(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Stop> {
        self.partial_since = None;
        if let State::Reading {
            stream_id,
            splitter,
            ..
        } = &mut self.state
        {
            if let Some(record) = splitter.flush_partial() {
                debug!(path = %self.stream_path, offset = record.offset, "Shipping a line without newline (partial).");
                ctx.out
                    .push(*stream_id, &self.stream_path, record, ctx.now)?;
            }
        }
        Ok(())
    }

    /// A detached file is closed once read to its end with no growth for
    /// `rotate-wait-ms`; a complete copy once read to its end.
    pub fn close_due(&self, now: Instant, rotate_wait: Duration) -> bool {
        self.detached.is_some_and(|d| {
            self.at_eof && (self.complete || now >= d.max(self.last_growth) + rotate_wait)
        })
    }

    /// Ships what is left (an incomplete last line, flagged partial) and
    /// retires the stream: its checkpoint goes once acked up to here.
    pub fn close(mut self, ctx: &mut Ctx<'_>) -> Result<(), Stop> {
        // A blocked outbox still took the record: finish closing either way.
        let pushed = self.flush_partial(ctx);
        match &self.state {
            State::Reading {
                stream_id,
                splitter,
                ..
            } => {
                lock(ctx.ckpt).mark_closed(*stream_id, splitter.line_start());
                if self.complete {
                    info!(
                        path = %self.stream_path,
                        file = %self.path.display(),
                        offset = splitter.line_start(),
                        "Closed logrotate's copy of a truncated file, read to its end."
                    );
                } else {
                    info!(
                        path = %self.stream_path,
                        file = %self.path.display(),
                        offset = splitter.line_start(),
                        "Closed rotated file after rotate-wait-ms without growth."
                    );
                }
            }
            State::Waiting { .. } => {
                debug!(path = %self.stream_path, "Closed rotated file that never had a complete first line.");
            }
        }
        pushed
    }

    /// The next time this file needs attention without any event: a partial
    /// line to flush or a rotated file to close, once read to its end.
    pub fn deadline(&self, cfg: &Config) -> Option<Instant> {
        if !self.at_eof {
            return None;
        }
        let partial = self
            .partial_since
            .map(|(_, since)| since + cfg.partial_flush());
        let close = self.detached.map(|d| {
            if self.complete {
                d
            } else {
                d.max(self.last_growth) + cfg.rotate_wait()
            }
        });
        match (partial, close) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
