//! An append-only file of JSON lines the detectors write beside the index
//! (`anomalies.log`, `flagged.log`): appended at once, fsynced with each
//! commit, and never a reason to stop storing lines.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
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

    /// Keeps only the lines `keep` accepts (the caller keeps what it
    /// cannot judge): the kept ones are written beside the file, fsynced
    /// and renamed over it, so a reader keeps the file it opened and a
    /// crash leaves the old or the new one whole. Returns the lines
    /// dropped. Lines a failed write left in memory stay there.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) -> anyhow::Result<u64> {
        self.sync();
        let tmp = self.path.with_extension("trim");
        let filter = || -> std::io::Result<u64> {
            let input = BufReader::new(File::open(&self.path)?);
            let mut out = BufWriter::new(File::create(&tmp)?);
            let mut dropped = 0;
            for line in input.split(b'\n') {
                let line = line?;
                if keep(&String::from_utf8_lossy(&line)) {
                    out.write_all(&line)?;
                    out.write_all(b"\n")?;
                } else {
                    dropped += 1;
                }
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok(dropped)
        };
        let dropped = filter();
        if !matches!(dropped, Ok(n) if n > 0) {
            let _ = std::fs::remove_file(&tmp);
        }
        let dropped = dropped.with_context(|| format!("cannot trim {}", self.path.display()))?;
        if dropped == 0 {
            return Ok(0);
        }
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot replace {}", self.path.display()))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).ok();
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot reopen {}", self.path.display()))?;
        Ok(dropped)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// After a trim the file was renamed over: appends must go to the new
    /// file, or every anomaly after the first retention would be lost.
    #[test]
    fn appends_after_a_trim_go_to_the_trimmed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anomalies.log");
        let mut log = AppendLog::open(&path).unwrap();
        log.append("old 1\nnew 2\nold 3\n");
        assert_eq!(log.retain(|l| !l.starts_with("old")).unwrap(), 2);
        log.append("new 4\n");
        log.sync();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new 2\nnew 4\n");
        // Nothing to drop: the file is left as it is.
        assert_eq!(log.retain(|_| true).unwrap(), 0);
        assert!(!dir.path().join("anomalies.trim").exists());
    }
}
