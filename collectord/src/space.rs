//! Free space in the data directory, and what the writer does when there
//! is too little: it stops taking lines (back-pressure) instead of failing,
//! says so once and then now and then, and starts again by itself.
//!
//! Two ways in: before each group of batches the writer asks [`Space`]
//! whether the file system still has `min-free-mb` free (a `statvfs`, a
//! few microseconds); and a write that fails anyway (another program
//! filled the disk) is recognised as out of space by [`out_of_space`]. In
//! both cases the writer pauses; it resumes once a quarter more than
//! `min-free-mb` (at least 1 MiB more) is free.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

/// While paused, how often the log says it is still waiting.
pub const REMIND_EVERY: Duration = Duration::from_secs(300);

const MIB: u64 = 1 << 20;

/// Whether an error is the file system being full (ENOSPC) or a quota
/// (EDQUOT), wherever in the chain of causes it is.
pub fn out_of_space(err: &anyhow::Error) -> bool {
    let full = |e: &std::io::Error| {
        matches!(
            e.raw_os_error(),
            Some(libc_errno::ENOSPC | libc_errno::EDQUOT)
        ) || matches!(
            e.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
    };
    err.chain().any(|cause| {
        if cause.downcast_ref::<std::io::Error>().is_some_and(full) {
            return true;
        }
        if logstore::store::io_error(cause).is_some_and(full) {
            return true;
        }
        // tantivy wraps some I/O errors in its own types (opening a
        // directory, writing a file), or in an io::Error of its own kind
        // (a commit), that keep only the text.
        let text = cause.to_string();
        text.contains("No space left on device") || text.contains("Disk quota exceeded")
    })
}

/// The errno values, without a libc dependency for two constants.
mod libc_errno {
    pub const ENOSPC: i32 = nix::errno::Errno::ENOSPC as i32;
    pub const EDQUOT: i32 = nix::errno::Errno::EDQUOT as i32;
}

/// Free bytes for an unprivileged writer (`f_bavail`) in the file system
/// of `dir`; `None` when it cannot be read.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

/// Why the writer is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Free space fell under `min-free-mb`: nothing failed, the store is
    /// still open.
    Low,
    /// A write failed for lack of space: the store was closed (its last
    /// commit is the truth) and is opened again when space returns.
    Failed,
}

/// The writer's view of the disk: the reserve, and the pause it is in.
pub struct Space {
    dir: PathBuf,
    min_free: u64,
    paused: Option<Paused>,
    /// When lines were last taken again, and how many failed writes came
    /// soon after a resume in a row (each doubles the room a resume wants).
    resumed_at: Option<Instant>,
    repeats: u32,
}

struct Paused {
    why: Pause,
    since: Instant,
    reminded: Instant,
    /// After a failed write: the free space it left; resuming wants
    /// [`AFTER_FAILURE`] (doubled per repeat) more than that.
    free_at_failure: Option<u64>,
}

/// After a failed write, resuming wants this much more free space than
/// the failure left (a write needs more than was free), so that a disk
/// with a little room is not written to, failed on and cleaned up in a
/// loop.
pub const AFTER_FAILURE: u64 = 16 * MIB;

/// A failed write this soon after a resume counts as the same outage:
/// not logged again, and it doubles the room the next resume wants.
const SAME_OUTAGE: Duration = Duration::from_secs(60);

impl Space {
    pub fn new(dir: &Path, min_free_mb: u64) -> Space {
        Space {
            dir: dir.to_owned(),
            min_free: min_free_mb.saturating_mul(MIB),
            paused: None,
            resumed_at: None,
            repeats: 0,
        }
    }

    pub fn set_min_free_mb(&mut self, mb: u64) {
        self.min_free = mb.saturating_mul(MIB);
    }

    /// What the writer is paused for, if it is.
    pub fn paused(&self) -> Option<Pause> {
        self.paused.as_ref().map(|p| p.why)
    }

    /// Free space needed to resume.
    fn resume_at(&self) -> u64 {
        let reserve = self.min_free + (self.min_free / 4).max(MIB);
        match self.paused.as_ref().and_then(|p| p.free_at_failure) {
            Some(left) => {
                reserve.max(left + AFTER_FAILURE.saturating_mul(1 << self.repeats.min(10)))
            }
            None => reserve,
        }
    }

    /// Before a group of batches: `true` when there is room to take it.
    /// Pauses (with a warning) when free space fell under the reserve.
    pub fn room(&mut self) -> bool {
        if self.paused.is_some() {
            return false;
        }
        if self.min_free == 0 {
            return true;
        }
        match free_bytes(&self.dir) {
            Some(free) if free < self.min_free => {
                self.pause(Pause::Low, free, true);
                false
            }
            _ => true,
        }
    }

    /// A write failed for lack of space.
    pub fn failed(&mut self, err: &anyhow::Error) {
        let free = free_bytes(&self.dir).unwrap_or(0);
        if let Some(p) = &mut self.paused {
            p.why = Pause::Failed;
            p.free_at_failure = Some(free);
            return;
        }
        let again = self.resumed_at.is_some_and(|t| t.elapsed() < SAME_OUTAGE);
        if again {
            self.repeats += 1;
            debug!(error = %format!("{err:#}"), repeats = self.repeats, "A write failed for lack of space again soon after resuming.");
        } else {
            self.repeats = 0;
            warn!(error = %format!("{err:#}"), "A write failed for lack of space.");
        }
        self.pause(Pause::Failed, free, !again);
        if let Some(p) = &mut self.paused {
            p.free_at_failure = Some(free);
        }
    }

    fn pause(&mut self, why: Pause, free: u64, log: bool) {
        let now = Instant::now();
        self.paused = Some(Paused {
            why,
            since: now,
            reminded: now,
            free_at_failure: None,
        });
        if !log {
            return;
        }
        warn!(
            dir = %self.dir.display(),
            free_mb = free / MIB,
            min_free_mb = self.min_free / MIB,
            resume_at_mb = self.resume_at() / MIB,
            "The data directory's disk is (nearly) full: no more lines are taken (agents wait and keep them, syslog TCP senders are pushed back, UDP datagrams are dropped by the kernel) until space is freed; collectord resumes by itself."
        );
    }

    /// While paused, once a second: `true` when there is room again (the
    /// caller then reopens the store if it had to close it, and calls
    /// [`Space::resumed`]). Reminds in the log every [`REMIND_EVERY`].
    pub fn poll(&mut self) -> bool {
        let resume_at = self.resume_at();
        let free = free_bytes(&self.dir);
        let Some(p) = &mut self.paused else {
            return true;
        };
        if free.is_some_and(|f| f >= resume_at) {
            return true;
        }
        if p.reminded.elapsed() >= REMIND_EVERY {
            p.reminded = Instant::now();
            warn!(
                free_mb = free.unwrap_or(0) / MIB,
                resume_at_mb = resume_at / MIB,
                paused_secs = p.since.elapsed().as_secs(),
                "Still waiting for disk space; no lines are taken."
            );
        }
        false
    }

    /// Lines are taken again.
    pub fn resumed(&mut self) {
        if let Some(p) = self.paused.take() {
            self.resumed_at = Some(Instant::now());
            if self.repeats > 0 {
                return;
            }
            info!(
                paused_secs = p.since.elapsed().as_secs(),
                free_mb = free_bytes(&self.dir).unwrap_or(0) / MIB,
                "Disk space is back; taking lines again."
            );
        }
    }

    /// For STATUS: what a paused writer waits for.
    pub fn status(&self) -> Option<String> {
        let p = self.paused.as_ref()?;
        Some(format!(
            "DISK FULL for {} s: no lines taken until {} MiB are free ({} MiB now)",
            p.since.elapsed().as_secs(),
            self.resume_at() / MIB,
            free_bytes(&self.dir).unwrap_or(0) / MIB
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_recognised_wherever_it_is_in_the_chain() {
        let io = std::io::Error::from_raw_os_error(libc_errno::ENOSPC);
        let e = anyhow::Error::new(io).context("cannot write the archive");
        assert!(out_of_space(&e));
        let t = tantivy::TantivyError::IoError(std::sync::Arc::new(
            std::io::Error::from_raw_os_error(libc_errno::EDQUOT),
        ));
        assert!(out_of_space(
            &anyhow::Error::new(t).context("cannot commit")
        ));
        // What a tantivy commit on a full disk gave (the writer exited on
        // it): an io::Error of another kind wrapping the errno's text.
        let wrapped = std::io::Error::other(std::io::Error::from_raw_os_error(libc_errno::ENOSPC));
        let t = tantivy::TantivyError::IoError(std::sync::Arc::new(wrapped));
        assert!(out_of_space(
            &anyhow::Error::new(t).context("cannot commit the index")
        ));
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(5));
        assert!(!out_of_space(&other), "EIO is not a full disk");
    }

    #[test]
    fn a_failed_write_wants_more_room_than_it_left_and_a_quick_repeat_is_quiet() {
        // A write that failed with a few MiB free would fail again with as
        // much: resuming waits for AFTER_FAILURE more, doubled when the
        // next failure follows the resume within a minute.
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        let mut s = Space::new(dir.path(), 0);
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(libc_errno::ENOSPC));
        s.failed(&e);
        assert_eq!(s.paused(), Some(Pause::Failed));
        assert!(
            s.resume_at() >= free + AFTER_FAILURE - MIB,
            "{}",
            s.resume_at()
        );
        assert!(!s.poll(), "the space that failed is not enough");
        // Space freed (simulated): resume, then fail again at once.
        s.paused.as_mut().unwrap().free_at_failure = Some(0);
        assert!(s.poll());
        s.resumed();
        s.failed(&e);
        assert_eq!(s.repeats, 1);
        s.paused.as_mut().unwrap().free_at_failure = Some(0);
        assert_eq!(s.resume_at(), 2 * AFTER_FAILURE);
    }

    #[test]
    fn a_reserve_larger_than_the_disk_pauses_and_only_enough_room_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        let mut s = Space::new(dir.path(), free / MIB + 1024);
        assert!(!s.room());
        assert_eq!(s.paused(), Some(Pause::Low));
        assert!(!s.poll(), "resumes only with room");
        assert!(s.status().unwrap().contains("DISK FULL"));
        s.set_min_free_mb(0);
        assert!(s.poll());
        s.resumed();
        assert!(s.room());
        assert_eq!(s.paused(), None);
    }
}
