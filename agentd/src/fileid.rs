//! File identity: what makes a stream of lines the same stream across
//! renames, restarts and crashes.
//!
//! A file is device + inode + fingerprint, the fingerprint being xxh3-64 of
//! its first line including the newline, or of its first 256 bytes when the
//! first line is longer. A file whose first line is shorter than 256 bytes and
//! not complete yet has no fingerprint, and is not read until it has one.
//!
//! The stream id is xxh3-64 over dev, inode, fingerprint and generation, each
//! as a little-endian `u64`. It depends on nothing else (not the path, not the
//! time), so a restarted agent re-reading a file produces the same stream ids
//! and offsets, which the collector deduplicates on. The generation counts
//! in-place truncations (copytruncate) of a file whose first line stayed the
//! same.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use xxhash_rust::xxh3::xxh3_64;

/// How many bytes at most the fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 256;

/// Device and inode: which file, as long as it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

impl FileKey {
    pub fn of(meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A stream: one file's content from offset 0 until it is truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub key: FileKey,
    pub fingerprint: u64,
    pub generation: u64,
}

impl Identity {
    pub fn stream_id(&self) -> u64 {
        stream_id(self.key, self.fingerprint, self.generation)
    }
}

/// The fingerprint of a file that starts with `head`, or `None` when the first
/// line is incomplete and shorter than [`FINGERPRINT_BYTES`].
pub fn fingerprint(head: &[u8]) -> Option<u64> {
    let head = &head[..head.len().min(FINGERPRINT_BYTES)];
    match memchr::memchr(b'\n', head) {
        Some(i) => Some(xxh3_64(&head[..=i])),
        None if head.len() == FINGERPRINT_BYTES => Some(xxh3_64(head)),
        None => None,
    }
}

/// Reads the start of `file` (without moving any file position) and
/// fingerprints it.
pub fn read_fingerprint(file: &File) -> io::Result<Option<u64>> {
    let mut head = [0u8; FINGERPRINT_BYTES];
    let mut len = 0;
    while len < head.len() {
        match file.read_at(&mut head[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(fingerprint(&head[..len]))
}

pub fn stream_id(key: FileKey, fingerprint: u64, generation: u64) -> u64 {
    let mut bytes = [0u8; 32];
    bytes[0..8].copy_from_slice(&key.dev.to_le_bytes());
    bytes[8..16].copy_from_slice(&key.ino.to_le_bytes());
    bytes[16..24].copy_from_slice(&fingerprint.to_le_bytes());
    bytes[24..32].copy_from_slice(&generation.to_le_bytes());
    xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fingerprint_covers_the_first_line_with_its_newline() {
        // Appending lines must not change a file's identity, or every append
        // would look like a new file and be shipped again.
        let a = fingerprint(b"first line\n").unwrap();
        assert_eq!(fingerprint(b"first line\nsecond line\n"), Some(a));
        assert_eq!(a, xxh3_64(b"first line\n"));
        assert_ne!(fingerprint(b"first lime\n"), Some(a));
    }

    #[test]
    fn incomplete_short_first_line_has_no_fingerprint_yet() {
        assert_eq!(fingerprint(b""), None);
        assert_eq!(fingerprint(b"no newline yet"), None);
        assert_eq!(fingerprint(&[b'x'; FINGERPRINT_BYTES - 1]), None);
    }

    #[test]
    fn long_first_line_is_fingerprinted_by_its_first_256_bytes() {
        let mut long = vec![b'x'; 1000];
        let fp = fingerprint(&long).unwrap();
        assert_eq!(fp, xxh3_64(&long[..FINGERPRINT_BYTES]));
        // Completing the line later must not change the identity.
        long.push(b'\n');
        assert_eq!(fingerprint(&long), Some(fp));
    }

    #[test]
    fn stream_id_is_deterministic_and_depends_on_every_part() {
        // After a crash the agent must produce the same stream ids, or the
        // collector stores every re-read line twice.
        let key = FileKey {
            dev: 2049,
            ino: 131_074,
        };
        let id = stream_id(key, 77, 0);
        assert_eq!(id, stream_id(key, 77, 0));
        let mut le = Vec::new();
        for v in [2049u64, 131_074, 77, 0] {
            le.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(id, xxh3_64(&le));
        assert_ne!(id, stream_id(key, 77, 1));
        assert_ne!(id, stream_id(key, 78, 0));
        assert_ne!(
            id,
            stream_id(
                FileKey {
                    dev: 2049,
                    ino: 131_075
                },
                77,
                0
            )
        );
        assert_ne!(
            id,
            stream_id(
                FileKey {
                    dev: 2050,
                    ino: 131_074
                },
                77,
                0
            )
        );
    }

    #[test]
    fn read_fingerprint_matches_the_file_content() {
        let mut f = tempfile::tempfile().unwrap();
        assert_eq!(read_fingerprint(&f).unwrap(), None);
        f.write_all(b"hello").unwrap();
        assert_eq!(read_fingerprint(&f).unwrap(), None);
        f.write_all(b"\nworld\n").unwrap();
        assert_eq!(read_fingerprint(&f).unwrap(), fingerprint(b"hello\n"));
    }
}
