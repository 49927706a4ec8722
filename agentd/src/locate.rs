//! Finding a stream's content under another name, in the directory of the
//! path it was read at:
//! - renamed (rename+create rotation while agentd was stopped): the same
//!   device, inode and fingerprint under another name;
//! - copied (copytruncate): another file whose name starts with the file's
//!   name (`app.log.1`, `app.log-20240101`), with the same fingerprint, at
//!   least as long as the offset to resume at, and — when known — with the
//!   same bytes just before that offset.

use std::fs::{self, File};
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use tracing::debug;

use crate::fileid::{read_fingerprint, FileKey};

/// How many bytes before the read offset are remembered to recognise a copy.
pub const TAIL_BYTES: usize = 32;

/// Opens `path` if it is the file `key` with fingerprint `fingerprint`.
pub fn open_identical(path: &Path, key: FileKey, fingerprint: u64) -> Option<File> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    (FileKey::of(&meta) == key && read_fingerprint(&file).ok()? == Some(fingerprint))
        .then_some(file)
}

fn read_dir(path: &Path) -> Vec<fs::DirEntry> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    match fs::read_dir(dir) {
        Ok(entries) => entries.flatten().collect(),
        Err(e) => {
            debug!(dir = %dir.display(), error = %e, "Cannot list directory to find a rotated file.");
            Vec::new()
        }
    }
}

/// The file `key` with `fingerprint` under another name next to `path`.
pub fn find_renamed(path: &Path, key: FileKey, fingerprint: u64) -> Option<(PathBuf, File)> {
    read_dir(path)
        .into_iter()
        .filter(|d| d.ino() == key.ino)
        .find_map(|d| open_identical(&d.path(), key, fingerprint).map(|f| (d.path(), f)))
}

/// A copy, next to `path`, of the stream with `fingerprint` read up to
/// `offset`, whose last bytes before `offset` were `tail` (empty when not
/// known). The most recently modified match wins.
pub fn find_copy(
    path: &Path,
    not: FileKey,
    fingerprint: u64,
    offset: u64,
    tail: &[u8],
) -> Option<(PathBuf, File, FileKey)> {
    let name = path.file_name()?.as_encoded_bytes();
    // By name and size first (a stat each), newest first; then the first
    // whose content fits wins. Opening every rotated file would hold up
    // the tailer right when logrotate moves on to its next file.
    let mut candidates: Vec<((i64, i64), PathBuf)> = read_dir(path)
        .into_iter()
        .filter_map(|d| {
            let other = d.file_name();
            let other = other.as_encoded_bytes();
            if other == name || !other.starts_with(name) {
                return None;
            }
            let p = d.path();
            let meta = std::fs::metadata(&p).ok()?;
            let fits = meta.is_file() && meta.len() >= offset && FileKey::of(&meta) != not;
            fits.then(|| ((meta.mtime(), meta.mtime_nsec()), p))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    candidates.into_iter().find_map(|(_, p)| {
        let file = File::open(&p).ok()?;
        let meta = file.metadata().ok()?;
        let key = FileKey::of(&meta);
        if meta.len() < offset || key == not {
            return None;
        }
        if read_fingerprint(&file).ok().flatten() != Some(fingerprint) {
            return None;
        }
        if !tail.is_empty() {
            let mut buf = vec![0u8; tail.len()];
            let at = offset.saturating_sub(tail.len() as u64);
            if file.read_exact_at(&mut buf, at).is_err() || buf != tail {
                return None;
            }
        }
        Some((p, file, key))
    })
}

/// Keeps the last [`TAIL_BYTES`] of what was read.
pub fn remember_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= TAIL_BYTES {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - TAIL_BYTES..]);
    } else {
        tail.extend_from_slice(chunk);
        let excess = tail.len().saturating_sub(TAIL_BYTES);
        tail.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_is_recognised_by_name_fingerprint_length_and_tail() {
        // After copytruncate the lines not read yet are only in the copy;
        // picking the wrong copy would ship lines of another day.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        fs::write(&log, b"").unwrap();
        let content = b"first line\nsecond line\nthird line\n";
        fs::write(dir.path().join("app.log.1"), content).unwrap();
        fs::write(dir.path().join("other.log"), content).unwrap();
        fs::write(
            dir.path().join("app.log.2"),
            b"first line\nsomething else entirely\n",
        )
        .unwrap();
        let key = FileKey::of(&fs::metadata(&log).unwrap());
        let fp = crate::fileid::fingerprint(content).unwrap();
        let (found, ..) = find_copy(&log, key, fp, 23, b"second line\n").unwrap();
        assert_eq!(found, dir.path().join("app.log.1"));
        assert!(
            find_copy(&log, key, fp, 23, b"xxxxxx line\n").is_none(),
            "tail differs"
        );
        assert!(
            find_copy(&log, key, fp, 1000, b"").is_none(),
            "copy too short"
        );
    }

    #[test]
    fn tail_keeps_the_last_bytes_across_chunks() {
        let mut tail = Vec::new();
        remember_tail(&mut tail, b"abc");
        remember_tail(&mut tail, &[b'x'; 40]);
        assert_eq!(tail, vec![b'x'; TAIL_BYTES]);
        remember_tail(&mut tail, b"yz");
        assert_eq!(&tail[TAIL_BYTES - 2..], b"yz");
        assert_eq!(tail.len(), TAIL_BYTES);
    }
}
