//! Which paths are inputs, and the inotify watches on their directories.
//!
//! Inotify events are wake-ups: after one, the tailer re-stats the
//! matching paths, and re-expands the glob patterns when a directory changed
//! (or at the safety re-scan). Directories that do not exist yet are watched
//! as soon as a re-scan finds them. One kind of event says more: a rename
//! within a watched directory (IN_MOVED_FROM and IN_MOVED_TO with the same
//! cookie) names where a file at an input path went, so that a file renamed
//! away before the tailer ever opened it can still be found and read.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use tracing::{debug, warn};

/// The configured inputs: literal paths and glob patterns.
#[derive(Debug)]
pub struct Inputs {
    inputs: Vec<Input>,
}

#[derive(Debug)]
enum Input {
    Literal(PathBuf),
    Glob {
        text: String,
        pattern: glob::Pattern,
    },
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Inputs {
    /// `inputs` were validated by the config (absolute, valid patterns).
    pub fn new(inputs: &[String]) -> Inputs {
        let inputs = inputs
            .iter()
            .map(|s| match glob::Pattern::new(s) {
                Ok(pattern) if is_glob(s) => Input::Glob {
                    text: s.clone(),
                    pattern,
                },
                _ => Input::Literal(PathBuf::from(s)),
            })
            .collect();
        Inputs { inputs }
    }

    /// The paths to stat: every literal path (existing or not) and every
    /// current match of the patterns, without duplicates, in config order.
    pub fn expand(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for input in &self.inputs {
            match input {
                Input::Literal(p) => {
                    if seen.insert(p.clone()) {
                        out.push(p.clone());
                    }
                }
                Input::Glob { text, .. } => {
                    let Ok(paths) = glob::glob(text) else {
                        continue;
                    };
                    for p in paths.flatten() {
                        if seen.insert(p.clone()) {
                            out.push(p);
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether `path` is one of the inputs (literally or by a pattern).
    pub fn matches(&self, path: &Path) -> bool {
        self.inputs.iter().any(|input| match input {
            Input::Literal(p) => p == path,
            Input::Glob { pattern, .. } => pattern.matches_path(path),
        })
    }

    /// The directories to watch: each input's parent; for a pattern whose
    /// directory part is itself a pattern, the directories it matches now.
    pub fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for input in &self.inputs {
            let path = match input {
                Input::Literal(p) => p.as_path(),
                Input::Glob { text, .. } => Path::new(text),
            };
            let Some(parent) = path.parent() else {
                continue;
            };
            let parent_text = parent.to_string_lossy();
            if is_glob(&parent_text) {
                if let Ok(dirs) = glob::glob(&parent_text) {
                    out.extend(dirs.flatten().filter(|d| d.is_dir()));
                }
            } else {
                out.push(parent.to_owned());
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Renames remembered from one read of events to the next at most.
const MAX_MOVES: usize = 4096;

/// What a batch of inotify events asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Wake {
    /// An entry of a watched directory was created, moved, deleted or had its
    /// attributes changed: re-expand the patterns.
    pub dir_changed: bool,
    /// Renames within watched directories, in the order they happened:
    /// (old path, new path).
    pub moved: Vec<(PathBuf, PathBuf)>,
}

pub struct Watcher {
    inotify: Inotify,
    watched: HashMap<PathBuf, WatchDescriptor>,
    failed: HashSet<PathBuf>,
    buf: Vec<u8>,
    /// IN_MOVED_FROM events waiting for their IN_MOVED_TO: cookie → path.
    moved_from: HashMap<u32, PathBuf>,
}

impl Watcher {
    pub fn new() -> io::Result<Watcher> {
        Ok(Watcher {
            inotify: Inotify::init()?,
            watched: HashMap::new(),
            failed: HashSet::new(),
            buf: vec![0; 16 * 1024],
            moved_from: HashMap::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Watches each of `dirs` not watched yet. A missing directory is tried
    /// again at the next call; other failures are logged once per directory.
    pub fn ensure(&mut self, dirs: &[PathBuf]) {
        let mask = WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE
            | WatchMask::ATTRIB
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR;
        for dir in dirs {
            if self.watched.contains_key(dir) {
                continue;
            }
            match self.inotify.watches().add(dir, mask) {
                Ok(wd) => {
                    debug!(dir = %dir.display(), "Watching directory.");
                    self.failed.remove(dir);
                    self.watched.insert(dir.clone(), wd);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    if self.failed.insert(dir.clone()) {
                        warn!(dir = %dir.display(), error = %e, "Cannot watch directory; falling back to re-scanning it every second.");
                    }
                }
            }
        }
    }

    /// Reads the queued events without blocking.
    pub fn drain(&mut self) -> io::Result<Wake> {
        let mut wake = Wake::default();
        loop {
            let events = match self.inotify.read_events(&mut self.buf) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(wake),
                Err(e) => return Err(e),
            };
            let mut any = false;
            for event in events {
                any = true;
                if event.mask.intersects(EventMask::IGNORED) {
                    // The directory went away (or was moved): watch it again
                    // when it is back.
                    self.watched.retain(|_, wd| *wd != event.wd);
                }
                if !event
                    .mask
                    .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE)
                {
                    wake.dir_changed = true;
                }
                if !event
                    .mask
                    .intersects(EventMask::MOVED_FROM | EventMask::MOVED_TO)
                {
                    continue;
                }
                let dir = self
                    .watched
                    .iter()
                    .find(|(_, wd)| **wd == event.wd)
                    .map(|(d, _)| d);
                let (Some(dir), Some(name)) = (dir, event.name) else {
                    continue;
                };
                let path = dir.join(name);
                if event.mask.contains(EventMask::MOVED_FROM) {
                    // A half never matched is a file moved out to an
                    // unwatched directory: forget those in bulk.
                    if self.moved_from.len() >= MAX_MOVES {
                        self.moved_from.clear();
                    }
                    self.moved_from.insert(event.cookie, path);
                } else if let Some(from) = self.moved_from.remove(&event.cookie) {
                    if wake.moved.len() < MAX_MOVES {
                        wake.moved.push((from, path));
                    }
                }
            }
            if !any {
                return Ok(wake);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths_are_kept_even_when_missing_and_globs_expand() {
        // A path that does not exist yet must still be watched for, or a log
        // created after startup would never be read.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        std::fs::write(dir.path().join("b.log"), "x\n").unwrap();
        std::fs::write(dir.path().join("b.log.1"), "x\n").unwrap();
        let inputs = Inputs::new(&[
            format!("{d}/missing"),
            format!("{d}/*.log"),
            format!("{d}/a.log"),
        ]);
        let got = inputs.expand();
        let want: Vec<PathBuf> = ["missing", "a.log", "b.log"]
            .iter()
            .map(|n| dir.path().join(n))
            .collect();
        assert_eq!(got, want);
        assert!(inputs.matches(&dir.path().join("c.log")));
        assert!(!inputs.matches(&dir.path().join("b.log.1")));
        assert_eq!(inputs.watch_dirs(), vec![dir.path().to_owned()]);
    }

    #[test]
    fn directory_events_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Watcher::new().unwrap();
        w.ensure(&[dir.path().to_owned(), dir.path().join("not-yet")]);
        assert_eq!(w.drain().unwrap(), Wake::default());
        std::fs::write(dir.path().join("new.log"), "x\n").unwrap();
        assert!(w.drain().unwrap().dir_changed);
        // A rename names both paths: the old one may be an input whose file
        // the tailer never opened.
        std::fs::rename(dir.path().join("new.log"), dir.path().join("new.log.1")).unwrap();
        let wake = w.drain().unwrap();
        assert!(wake.dir_changed);
        assert_eq!(
            wake.moved,
            vec![(dir.path().join("new.log"), dir.path().join("new.log.1"))]
        );
        // The missing directory gets watched once it exists.
        std::fs::create_dir(dir.path().join("not-yet")).unwrap();
        w.ensure(&[dir.path().join("not-yet")]);
        w.drain().unwrap();
        std::fs::write(dir.path().join("not-yet/x.log"), "x\n").unwrap();
        assert!(w.drain().unwrap().dir_changed);
    }
}
