//! The index pages a reader has mapped, and a way to drop them from its
//! resident set.
//!
//! tantivy reads the index through memory maps. A query touching the fast
//! columns of hits spread over every segment leaves most of those columns
//! resident: at 10 million lines, logq printing 200,000 lines held 85 MiB of
//! index pages beside 45 MiB of its own memory. The pages are the kernel's
//! page cache and cost nothing to give back; [`Pages::release`] tells the
//! kernel this process does not need them now (`MADV_DONTNEED`), and the
//! next touch maps them again from the page cache (a minor fault, no
//! read). Only whole pages inside each file's mapping are advised, and
//! each mapping is kept alive here while it is advised, so no other memory
//! of the process is ever touched.
//!
//! The one `unsafe` of logstore is here: `madvise` on memory the borrow
//! checker cannot see. It is sound because tantivy maps index files
//! read-only and shared (`memmap2::Mmap::map`): dropping such pages loses
//! nothing, and a reader touching them meanwhile reads the file again.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sys::mman::{madvise, MmapAdvise};
use tantivy::directory::OwnedBytes;

/// The mapped files of one index directory, by start address; a
/// `Pages::default()` records nothing (a writer's directory: it must not
/// keep the files of merged segments mapped).
#[derive(Clone, Default)]
pub struct Pages {
    mapped: Option<Arc<Mutex<HashMap<usize, OwnedBytes>>>>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("recording", &self.mapped.is_some())
            .finish()
    }
}

impl Pages {
    /// A registry that records every file opened through its directory.
    pub fn recording() -> Pages {
        Pages {
            mapped: Some(Arc::default()),
        }
    }

    fn lock(
        mapped: &Mutex<HashMap<usize, OwnedBytes>>,
    ) -> MutexGuard<'_, HashMap<usize, OwnedBytes>> {
        mapped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `bytes` (a whole mapped file) to be released later.
    pub(crate) fn record(&self, bytes: OwnedBytes) {
        if let Some(mapped) = &self.mapped {
            if !bytes.is_empty() {
                Self::lock(mapped).insert(bytes.as_slice().as_ptr() as usize, bytes);
            }
        }
    }

    /// Forgets every file: those no longer in use are unmapped. Called
    /// when the reader moves to a newer commit, whose merges may have
    /// deleted files this would otherwise keep on disk.
    pub fn forget(&self) {
        if let Some(mapped) = &self.mapped {
            Self::lock(mapped).clear();
        }
    }

    /// Drops the recorded files' pages from this process's resident set.
    pub fn release(&self) {
        let Some(mapped) = &self.mapped else {
            return;
        };
        let page = page_size();
        for bytes in Self::lock(mapped).values() {
            let start = bytes.as_slice().as_ptr() as usize;
            let end = start + bytes.len();
            let (first, last) = (start.next_multiple_of(page), end / page * page);
            if last <= first {
                continue;
            }
            let Some(addr) = NonNull::new(first as *mut std::ffi::c_void) else {
                continue;
            };
            // SAFETY: [first, last) is whole pages inside one file mapping,
            // kept mapped by `bytes` while this runs; tantivy maps index
            // files read-only and shared, so their pages come back from the
            // file when touched again (see the module's comment). A failure
            // only leaves the pages resident.
            let _ = unsafe { madvise(addr, last - first, MmapAdvise::MADV_DONTNEED) };
        }
    }
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tantivy::directory::Directory;

    use super::*;
    use crate::directory::IndexDirectory;

    /// The resident kB of `path`'s mappings in this process.
    fn resident_kb(path: &Path) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut ours = false;
        let mut kb = 0;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                ours = line.ends_with(path.to_str().unwrap());
            } else if ours && line.starts_with("Rss:") {
                kb += line
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        kb
    }

    #[test]
    fn released_pages_leave_the_resident_set_and_read_back_unchanged() {
        // Without the release, logq printing a large answer at 10 million
        // lines held 85 MiB of index pages; were a release to drop more than
        // the mapped file's pages, or its pages' contents, answers would
        // be wrong.
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("a.fast"), &content).unwrap();
        let pages = Pages::recording();
        let directory = IndexDirectory::reading(dir.path(), pages.clone()).unwrap();
        let slice = directory.open_read(Path::new("a.fast")).unwrap();
        let bytes = slice.read_bytes().unwrap();
        let path = dir.path().join("a.fast");

        let sum: u64 = bytes.as_slice().iter().map(|&b| u64::from(b)).sum();
        assert!(
            resident_kb(&path) >= 4000,
            "touched: {} kB",
            resident_kb(&path)
        );
        pages.release();
        assert_eq!(resident_kb(&path), 0, "pages still resident after release");
        assert_eq!(bytes.as_slice(), &content[..], "contents changed");
        assert_eq!(
            sum,
            content.iter().map(|&b| u64::from(b)).sum::<u64>(),
            "the sum read before the release"
        );
    }

    #[test]
    fn a_directory_that_does_not_record_releases_nothing() {
        // The writer's directory: recording would keep merged segments'
        // files mapped (and on disk) for as long as collectord runs.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.fast"), vec![7u8; 1 << 20]).unwrap();
        let pages = Pages::default();
        let directory = IndexDirectory::reading(dir.path(), pages.clone()).unwrap();
        let bytes = directory
            .open_read(Path::new("a.fast"))
            .unwrap()
            .read_bytes()
            .unwrap();
        std::hint::black_box(bytes.as_slice().iter().map(|&b| u64::from(b)).sum::<u64>());
        let before = resident_kb(&dir.path().join("a.fast"));
        pages.release();
        assert!(before > 0);
        assert_eq!(resident_kb(&dir.path().join("a.fast")), before);
    }
}
