//! The shipper's side of the spool: batches read back in the order they
//! were written, waiting for the writer when there is none yet; a segment
//! that cannot be read is skipped with an error naming it.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use tracing::error;

use super::format::{self, Record, HEADER_LEN};
use super::Spool;
use crate::batch::Batch;

/// What [`SpoolReader::next`] found.
#[derive(Debug)]
pub enum Next {
    Batch(Batch),
    /// Nothing new yet.
    Idle,
    /// The writer closed and everything was read.
    Closed,
}

/// The shipper's side: reads batches in order.
pub struct SpoolReader {
    pub(super) spool: Spool,
    /// The id of the next batch to read.
    pub(super) next_id: u64,
    /// The segment being read (its first id), where, and its file.
    pub(super) at: Option<(u64, u64, File)>,
}

impl SpoolReader {
    /// The next batch, waiting up to `timeout` for one to be written.
    pub fn next(&mut self, timeout: Duration) -> io::Result<Next> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = {
                let st = self.spool.lock();
                let seg = st
                    .segments
                    .iter()
                    .rev()
                    .find(|s| s.first <= self.next_id)
                    .map(|s| (s.first, s.next, s.len, s.path.clone()));
                match seg {
                    Some(seg) if self.next_id < seg.1 => Some(seg),
                    _ if st.writer_closed => return Ok(Next::Closed),
                    _ => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Ok(Next::Idle);
                        }
                        // Woken by a write or the close; looked at again.
                        let _woken = self
                            .spool
                            .inner
                            .changed
                            .wait_timeout(st, left)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        None
                    }
                }
            };
            let Some((first, next, len, path)) = found else {
                continue;
            };
            if let Some(batch) = self.read_in(first, next, len, &path)? {
                return Ok(Next::Batch(batch));
            }
        }
    }

    /// Reads batch `next_id` from the segment `first` (valid up to `len`).
    /// `None` when the rest of the segment cannot be read (skipped).
    fn read_in(
        &mut self,
        first: u64,
        next: u64,
        len: u64,
        path: &Path,
    ) -> io::Result<Option<Batch>> {
        if self.at.as_ref().is_none_or(|(f, ..)| *f != first) {
            let file = match File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Deleted: everything in it was acknowledged.
                    self.next_id = next;
                    self.at = None;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            self.at = Some((first, HEADER_LEN, file));
        }
        let (_, offset, file) = self.at.as_mut().expect("set above");
        loop {
            match format::read_record(file, *offset, len)? {
                Record::Batch { id, len: size, .. } if id < self.next_id => *offset += size,
                Record::Batch {
                    id,
                    batch,
                    len: size,
                } if id == self.next_id => {
                    *offset += size;
                    self.next_id += 1;
                    return Ok(Some(batch));
                }
                other => {
                    let why = match other {
                        Record::Bad(why) => why,
                        Record::Batch { id, .. } => {
                            format!("batch {id} where batch {} should be", self.next_id)
                        }
                        Record::End => "it ends early".into(),
                    };
                    error!(segment = %path.display(), offset = *offset, reason = %why, "Cannot read the spool; skipping what it holds up to here (those lines are lost unless their files still hold them).");
                    // Batches written later follow `len`.
                    *offset = len;
                    self.next_id = next;
                    return Ok(None);
                }
            }
        }
    }

    /// Reads again from the first batch not acknowledged: what a lost
    /// connection left unacked is sent again, in the order written. The
    /// collector drops what it already had by its high-water marks, so a
    /// batch whose first pieces were acknowledged costs only the resend.
    pub fn rewind(&mut self) {
        let first_unacked = self.spool.lock().acked + 1;
        if first_unacked < self.next_id {
            self.next_id = first_unacked;
            self.at = None;
        }
    }

    /// Whether the writer closed and everything was read.
    pub fn is_drained(&self) -> bool {
        let st = self.spool.lock();
        st.writer_closed && st.segments.back().is_none_or(|s| self.next_id >= s.next)
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }
}

impl Drop for SpoolReader {
    fn drop(&mut self) {
        self.spool.lock().reader_gone = true;
    }
}
