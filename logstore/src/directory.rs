//! The index directory: tantivy's `MmapDirectory`, except that files
//! replaced atomically (`meta.json`, `.managed.json`) are created readable
//! by others (0644 before umask) like every other index file. tantivy's own
//! atomic write goes through a 0600 temporary file, which would keep `logq`
//! run by another user than collectord's out of the index; who may read the
//! index is decided by the permissions of the data directory instead.
//!
//! A reader's directory also records the files it maps, so that their
//! pages can be dropped from its resident set ([`Pages`]).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::pages::Pages;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, FileSlice, Lock, MmapDirectory, WatchCallback,
    WatchHandle, WritePtr,
};

#[derive(Clone, Debug)]
pub struct IndexDirectory {
    root: PathBuf,
    inner: MmapDirectory,
    pages: Pages,
}

impl IndexDirectory {
    /// The directory as the writer opens it: it records no mapped file.
    pub fn open(root: &Path) -> tantivy::Result<IndexDirectory> {
        Self::reading(root, Pages::default())
    }

    /// The directory as a reader opens it: every file it maps is recorded
    /// in `pages`.
    pub fn reading(root: &Path, pages: Pages) -> tantivy::Result<IndexDirectory> {
        Ok(IndexDirectory {
            root: root.to_owned(),
            inner: MmapDirectory::open(root)?,
            pages,
        })
    }
}

impl Directory for IndexDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let handle = self.inner.get_file_handle(path)?;
        // The whole file: for a mapped file, a view of the map, not a copy.
        if let Ok(bytes) = handle.read_bytes(0..handle.len()) {
            self.pages.record(bytes);
        }
        Ok(handle)
    }

    fn open_read(&self, path: &Path) -> Result<FileSlice, OpenReadError> {
        Ok(FileSlice::new(self.get_file_handle(path)?))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let target = self.root.join(path);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("atomic");
        // One writer per index (the writer lock), so a fixed name is safe.
        let temp = self.root.join(format!(".{name}.collectord-tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&temp)?;
        file.write_all(data)?;
        file.sync_data()?;
        fs::rename(&temp, &target)?;
        self.inner.sync_directory()
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn atomic_files_are_readable_by_others() {
        // logq run by an operator (not the collectord user) must be able to
        // read meta.json.
        let dir = tempfile::tempdir().unwrap();
        let d = IndexDirectory::open(dir.path()).unwrap();
        d.atomic_write(Path::new("meta.json"), b"{}").unwrap();
        d.atomic_write(Path::new("meta.json"), b"{\"a\":1}")
            .unwrap();
        let mode = fs::metadata(dir.path().join("meta.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044 & !umask(), "mode {mode:o}");
        assert_eq!(d.atomic_read(Path::new("meta.json")).unwrap(), b"{\"a\":1}");
    }

    fn umask() -> u32 {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        nix::sys::stat::umask(old);
        old.bits()
    }
}
