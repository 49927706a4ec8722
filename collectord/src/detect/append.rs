//! An append-only file of JSON lines the detectors write beside the index
//! (`anomalies.log`, `flagged.log`): appended at once, fsynced with each
//! commit, and never a reason to stop storing lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tracing::{info, warn};

/// Text kept in memory while the file cannot be written.
const PENDING_MAX: usize = 4 << 20;

pub struct AppendLog {
    path: PathBuf,
    file: File,
    unsynced: bool,
    /// Lines a failed write left, to write first next time.
    pending: String,
    write_failed: bool,
}

impl AppendLog {
    pub fn open(path: &Path) -> anyhow::Result<AppendLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(AppendLog {
            path: path.to_path_buf(),
            file,
            unsynced: false,
            pending: String::new(),
            write_failed: false,
        })
    }

    /// Whether lines wait from a failed write.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Appends `lines` (whole lines, each ending in a newline) after what
    /// a failed write left. A failed write (a full disk) keeps them, up to
    /// [`PENDING_MAX`] bytes, for the next try.
    pub fn append(&mut self, lines: &str) {
        if lines.is_empty() && self.pending.is_empty() {
            return;
        }
        let mut text = std::mem::take(&mut self.pending);
        text.push_str(lines);
        // All or nothing: a short write would leave half a line that the
        // next try completes twice. O_APPEND makes a partial write rare;
        // the length is restored on failure.
        let before = self.file.metadata().map(|m| m.len()).ok();
        let name = self.name();
        match self.file.write_all(text.as_bytes()) {
            Ok(()) => {
                self.unsynced = true;
                if self.write_failed {
                    self.write_failed = false;
                    info!(file = %name, "The detectors' file is written again.");
                }
            }
            Err(e) => {
                if let Some(len) = before {
                    let _ = self.file.set_len(len);
                }
                if !self.write_failed {
                    self.write_failed = true;
                    warn!(file = %name, error = %e, "Cannot write the detectors' file; keeping its lines in memory to write later.");
                }
                if text.len() <= PENDING_MAX {
                    self.pending = text;
                } else {
                    warn!(
                        file = %name,
                        bytes = text.len(),
                        "Dropped lines that could not be written (over the memory kept for them)."
                    );
                }
            }
        }
    }

    /// At each commit: the file to disk.
    pub fn sync(&mut self) {
        if self.unsynced {
            match self.file.sync_data() {
                Ok(()) => self.unsynced = false,
                Err(e) => {
                    warn!(file = %self.name(), error = %e, "Cannot fsync the detectors' file; will retry.")
                }
            }
        }
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}
