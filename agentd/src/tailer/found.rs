//! Files found other than by the scan of the input paths: checkpointed
//! files at start (at their path, renamed, or as logrotate's copy), and
//! files renamed away from an input path before the tailer opened them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};

use super::Tailer;
use crate::checkpoint::{lock, Entry};
use crate::fileid::FileKey;
use crate::locate::{find_copy, find_renamed, open_identical};
use crate::tracked::TrackedFile;

impl Tailer {
    /// Follows the renames of input paths seen since the last round to a
    /// file not tracked yet (created at an input path and renamed away
    /// before a scan saw it), which is then read from its start like any
    /// file that appeared after start, and closed after `rotate-wait-ms`.
    /// A file renamed again meanwhile is followed through the chain.
    pub(super) fn follow_moves(&mut self, now: Instant) {
        if self.moved.is_empty() {
            return;
        }
        // (where the file is now, the input path it was at)
        let mut chased: Vec<(PathBuf, PathBuf)> = Vec::new();
        for (from, to) in std::mem::take(&mut self.moved) {
            if let Some(c) = chased.iter_mut().find(|(at, _)| *at == from) {
                c.0 = to;
            } else if self.inputs.matches(&from) {
                chased.push((to, from));
            }
        }
        for (at, input) in chased {
            if self.inputs.matches(&at) {
                continue; // the scan finds it there
            }
            let Ok(file) = File::open(&at) else { continue };
            let Ok(meta) = file.metadata() else { continue };
            let key = FileKey::of(&meta);
            if !meta.is_file() || self.files.iter().any(|f| f.key == key) {
                continue;
            }
            info!(
                path = %input.display(),
                rotated_to = %at.display(),
                "A file was renamed away from an input path before agentd opened it; reading it from its start."
            );
            self.files.push(TrackedFile::restored(
                file,
                key,
                at,
                input.to_string_lossy().into_owned(),
                now,
            ));
        }
    }

    /// Finds each checkpointed file: at its path (the scan picks it up), or
    /// renamed within its directory while agentd was stopped (finished from
    /// its checkpoint before the new file at the path), or gone (warned).
    pub(super) fn restore(&mut self, now: Instant) {
        let entries: Vec<Entry> = lock(&self.ckpt).entries().cloned().collect();
        for e in &entries {
            let path = Path::new(&e.path);
            if !self.inputs.matches(path) {
                info!(path = %e.path, "Checkpointed file is no longer an input; forgetting its checkpoint.");
                lock(&self.ckpt).remove(e.stream_id);
                continue;
            }
            let resume = lock(&self.ckpt).resume_offset(e);
            // A newer generation of the same file exists: this one was
            // truncated, and what is left of it can only be in a copy.
            let superseded = entries.iter().any(|o| {
                o.key() == e.key() && o.fingerprint == e.fingerprint && o.generation > e.generation
            });
            if !superseded && open_identical(path, e.key(), e.fingerprint).is_some() {
                continue; // at its path: the first scan picks it up
            }
            if !superseded {
                if let Some((found, file)) = find_renamed(path, e.key(), e.fingerprint) {
                    if !self.files.iter().any(|f| f.key == e.key()) {
                        info!(
                            path = %e.path,
                            rotated_to = %found.display(),
                            offset = resume,
                            "File was rotated while agentd was stopped; finishing it from where it was read to."
                        );
                        self.files.push(TrackedFile::restored(
                            file,
                            e.key(),
                            found,
                            e.path.clone(),
                            now,
                        ));
                    }
                    continue;
                }
            }
            if let Some((found, file, key)) = find_copy(path, e.key(), e.fingerprint, resume, &[]) {
                if !self.files.iter().any(|f| f.key == key) {
                    info!(
                        path = %e.path,
                        copy = %found.display(),
                        offset = resume,
                        "File was truncated while agentd was stopped (copytruncate); finishing it from its copy."
                    );
                    self.files.push(TrackedFile::resumed(
                        file, key, found, e, resume, &self.cfg, now,
                    ));
                }
                continue;
            }
            warn!(
                path = %e.path,
                offset = resume,
                "Checkpointed file was not found; lines after offset {resume} of it may be lost."
            );
            lock(&self.ckpt).remove(e.stream_id);
        }
    }
}
