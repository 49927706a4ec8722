//! Identity changes of a tracked file: the first fingerprint, resuming
//! from a checkpoint, and truncation in place (copytruncate) with recovery
//! of the unread old content from logrotate's copy.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use tracing::{debug, info};

use super::{Ctx, State, TrackedFile};
use crate::checkpoint::{lock, Checkpoints, Entry};
use crate::fileid::{read_fingerprint, Identity};
use crate::lines::LineSplitter;
use crate::locate::find_copy;

impl TrackedFile {
    /// Detects that the file was truncated or rewritten in place since the
    /// last read. `Ok(false)` when a copy of the old content was found: the
    /// tailer reads it first, then polls this file again.
    pub(super) fn check_rewritten(&mut self, ctx: &mut Ctx<'_>) -> io::Result<bool> {
        let State::Reading { id, splitter, .. } = &self.state else {
            return Ok(true);
        };
        let meta = self.file.metadata()?;
        let (size, stat) = (meta.len(), stat_of(&meta));
        let offset = splitter.read_offset();
        let why = if size < offset {
            "the file shrank below the read offset"
        } else if stat == self.last_stat {
            return Ok(true);
        } else if read_fingerprint(&self.file)? == Some(id.fingerprint) {
            self.last_stat = stat;
            return Ok(true);
        } else {
            "its first line changed"
        };
        let id = *id;
        let State::Reading {
            stream_id,
            splitter,
            ..
        } = std::mem::replace(
            &mut self.state,
            State::Waiting {
                after: Some((id.fingerprint, id.generation)),
            },
        )
        else {
            unreachable!("matched as Reading above");
        };
        let tail = std::mem::take(&mut self.tail);
        self.partial_since = None;
        self.last_stat = (0, 0, 0);
        match find_copy(&self.path, self.key, id.fingerprint, offset, &tail) {
            Some((copy_path, file, key)) => {
                info!(
                    path = %self.stream_path,
                    offset,
                    size,
                    copy = %copy_path.display(),
                    "Truncation detected (copytruncate): {why}; finishing the old content from its copy, then reading the file again from the start."
                );
                let mut copy =
                    TrackedFile::copy(file, key, copy_path, self.stream_path.clone(), ctx.now);
                copy.state = State::Reading {
                    id,
                    stream_id,
                    splitter,
                };
                copy.tail = tail;
                self.recovered = Some(Box::new(copy));
                Ok(false)
            }
            None => {
                info!(
                    path = %self.stream_path,
                    offset,
                    size,
                    "Truncation detected (copytruncate): {why}; reading the file again from the start."
                );
                // What was read of the old content goes to the spool before
                // the checkpoint forgets the stream (nothing else holds it
                // now); a full spool keeps it in memory until it has room.
                let _ = ctx.out.flush();
                lock(ctx.ckpt).remove(stream_id);
                Ok(true)
            }
        }
    }

    /// Gives a waiting file its identity once it has a fingerprint.
    /// `Ok(false)` while it has none.
    pub(super) fn resolve(&mut self, ctx: &mut Ctx<'_>) -> io::Result<bool> {
        let State::Waiting { after } = self.state else {
            return Ok(true);
        };
        let Some(fp) = read_fingerprint(&self.file)? else {
            return Ok(false);
        };
        let meta = self.file.metadata()?;
        let size = meta.len();
        let mut store = lock(ctx.ckpt);
        let (id, offset, urgent) = match after {
            Some((old_fp, old_gen)) => (self.next_generation(&store, fp, old_fp, old_gen), 0, true),
            None => match store.find(self.key, fp).cloned() {
                Some(e) if store.resume_offset(&e) <= size => {
                    let offset = store.resume_offset(&e);
                    self.stream_path = e.path.clone();
                    debug!(path = %e.path, offset, "Resuming file from its checkpoint (or past it, where the spool ends).");
                    (e.identity(), offset, false)
                }
                Some(e) => {
                    let offset = store.resume_offset(&e);
                    self.stream_path = e.path.clone();
                    match find_copy(&self.path, self.key, e.fingerprint, offset, &[]) {
                        Some((copy_path, file, key)) => {
                            info!(
                                path = %e.path,
                                offset,
                                size,
                                copy = %copy_path.display(),
                                "Truncation detected while agentd was stopped (copytruncate); finishing the old content from its copy, then reading the file again from the start."
                            );
                            let copy = TrackedFile::resumed(
                                file, key, copy_path, &e, offset, ctx.cfg, ctx.now,
                            );
                            self.recovered = Some(Box::new(copy));
                        }
                        None => {
                            info!(
                                path = %e.path,
                                offset,
                                size,
                                "Truncation detected while agentd was stopped: the file is shorter than where it was read to; reading it again from the start."
                            );
                            store.remove(e.stream_id);
                        }
                    }
                    (
                        self.next_generation(&store, fp, e.fingerprint, e.generation),
                        0,
                        true,
                    )
                }
                None => {
                    let id = Identity {
                        key: self.key,
                        fingerprint: fp,
                        generation: 0,
                    };
                    // Spooled before a crash that came before its first
                    // checkpoint write: resume where the spool ends.
                    let offset = match (store.spooled_end(id.stream_id()), self.from_end) {
                        (Some(end), _) if end <= size => end,
                        (_, Some(at_start)) => last_line_end(&self.file, at_start.min(size))?,
                        _ => 0,
                    };
                    (id, offset, true)
                }
            },
        };
        // New streams are written at once: a crash before the next periodic
        // write, followed by a rotation, must still find the file.
        store.register(Entry::new(self.stream_path.clone(), id, offset), urgent);
        drop(store);
        debug!(path = %self.stream_path, offset, generation = id.generation, "Reading file.");
        self.last_stat = stat_of(&meta);
        self.state = State::Reading {
            id,
            stream_id: id.stream_id(),
            splitter: LineSplitter::new(offset, ctx.cfg.max_line_bytes),
        };
        Ok(self.recovered.is_none())
    }

    /// The identity after a truncation: generation + 1 when the first line
    /// is unchanged, else generation 0 of the new fingerprint; never a stream
    /// id the checkpoints already know (the collector's high-water mark for it
    /// would drop the new lines).
    fn next_generation(&self, store: &Checkpoints, fp: u64, old_fp: u64, old_gen: u64) -> Identity {
        let known = store.find(self.key, fp).map_or(0, |e| e.generation + 1);
        let generation = if fp == old_fp { old_gen + 1 } else { 0 }.max(known);
        Identity {
            key: self.key,
            fingerprint: fp,
            generation,
        }
    }
}

pub(super) fn stat_of(meta: &std::fs::Metadata) -> (u64, i64, i64) {
    (meta.len(), meta.mtime(), meta.mtime_nsec())
}

/// Where the last complete line of the first `size` bytes ends: the start
/// for start-at = "end". 0 when the file holds no newline at all (its only
/// line is still being written).
pub(super) fn last_line_end(file: &File, size: u64) -> io::Result<u64> {
    const TAIL: u64 = 64 * 1024;
    let from = size.saturating_sub(TAIL);
    let mut buf = vec![0u8; (size - from) as usize];
    file.read_exact_at(&mut buf, from)?;
    Ok(match memchr::memrchr(b'\n', &buf) {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}
