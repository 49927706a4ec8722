//! The high-water marks on disk: `data-dir/marks.GEN`, an append-only log
//! of the marks each commit changed, so that a commit costs what it
//! changed, not what all agents ever sent.
//!
//! Until payload version 3 every mark rode in the index commit payload
//! (`index/meta.json`), rewritten at each commit: 470,000 streams made it
//! 59 MB and a one-line batch's ACK took 661 ms instead of 116. Now the
//! payload names the file and its committed length ([`Committed`]), and the
//! commit order keeps them atomic with the lines: the changed marks are
//! appended and fsynced, then the index commit names the new length. A
//! crash in between leaves bytes past the committed length, cut off at the
//! next open, exactly as the archive is.
//!
//! Layout: an 8-byte magic and a `u32` version, then one chunk per commit:
//! `u32` body length, `u64` xxh3 of the body, and the body, entries of
//! `u16` agent id length, agent id, `u64` stream, `u64` end, `i64` last
//! seen (ms). A later entry for the same (agent, stream) replaces an
//! earlier one. When the file has grown to several times what its marks
//! take, or marks were forgotten (retention), the next commit writes the
//! whole set to a new generation, `marks.GEN+1`, and the payload names it;
//! older generations are removed once that commit is durable.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::dedup::{Mark, Marks};

const MAGIC: &[u8; 8] = b"LOGQMARK";
const VERSION: u32 = 1;
const HEADER: u64 = 12;
/// Bytes of one entry besides its agent id.
const ENTRY_FIXED: usize = 2 + 8 + 8 + 8;
/// A chunk larger than this is damage, not data (a commit changes at most
/// the marks of the batches in it).
const MAX_CHUNK: u32 = 1 << 30;

/// What a commit records of the marks file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The generation: the file is `marks.GEN`.
    pub generation: u64,
    /// Its committed length.
    pub bytes: u64,
}

pub fn file_name(generation: u64) -> String {
    format!("marks.{generation}")
}

fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("marks.")?.parse().ok()
}

/// The open marks file of the data directory.
pub struct MarkLog {
    dir: PathBuf,
    /// What the last append (or the open) left: the state to commit.
    current: Committed,
    file: Option<File>,
    /// Generations on disk that the last durable commit no longer needs.
    stale: Vec<u64>,
    /// The next append writes every mark to a new generation.
    rewrite: bool,
    /// The highest generation seen on disk: a new one is above it, so that
    /// a stale file is never reused (and then removed as stale).
    newest: u64,
}

impl MarkLog {
    /// Opens the marks of `dir` as the last commit left them: `committed`
    /// names the file and its length (`None`: the index has no marks file
    /// yet, as before payload version 4; the first commit writes one).
    /// Bytes past the committed length are cut off and generations no
    /// commit names are removed. A damaged chunk within the committed
    /// length loses the marks from there on (logged): those streams' lines
    /// may then be stored twice when agents re-send them, never lost.
    pub fn open(dir: &Path, committed: Option<Committed>) -> anyhow::Result<(MarkLog, Marks)> {
        let mut marks = Marks::default();
        let mut log = MarkLog {
            dir: dir.to_owned(),
            current: Committed::default(),
            file: None,
            stale: Vec::new(),
            rewrite: true,
            newest: committed.map_or(0, |c| c.generation),
        };
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(g) = parse_name(&name) {
                log.newest = log.newest.max(g);
                if committed.is_none_or(|c| c.generation != g) {
                    log.stale.push(g);
                }
            }
        }
        let Some(committed) = committed else {
            return Ok((log, marks));
        };
        let path = dir.join(file_name(committed.generation));
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            Err(e) => {
                error!(file = %path.display(), error = %e, "The high-water marks file the last commit names cannot be opened; agents' re-sent lines may be stored twice.");
                return Ok((log, marks));
            }
        };
        let len = file.metadata()?.len();
        if len > committed.bytes {
            file.set_len(committed.bytes)
                .with_context(|| format!("cannot truncate {}", path.display()))?;
            file.sync_all()?;
            info!(file = %path.display(), bytes = len - committed.bytes, "Cut uncommitted marks off the marks file.");
        }
        let mut bytes = Vec::with_capacity(committed.bytes as usize);
        (&file).take(committed.bytes).read_to_end(&mut bytes)?;
        match read_all(&bytes, &mut marks) {
            Ok(()) if bytes.len() as u64 == committed.bytes => {
                log.current = committed;
                log.file = Some(file);
                log.rewrite = false;
            }
            Ok(()) => {
                error!(file = %path.display(), have = bytes.len(), committed = committed.bytes, "The marks file is shorter than committed: it was changed outside collectord; agents' re-sent lines may be stored twice.");
                log.current = committed;
            }
            Err(e) => {
                error!(file = %path.display(), error = %format!("{e:#}"), marks = marks.streams(), "The marks file is damaged; keeping the marks before the damage. Agents' re-sent lines may be stored twice.");
                log.current = committed;
            }
        }
        Ok((log, marks))
    }

    /// From the next append on, write every mark to a new generation (after
    /// marks were forgotten, or to leave an old payload's marks behind).
    pub fn rewrite_next(&mut self) {
        self.rewrite = true;
    }

    /// Appends the marks changed since the last append (or, when due, all
    /// of them to a new generation) and fsyncs; returns what the commit
    /// must record. Until that commit, nothing on disk that a commit names
    /// has changed.
    pub fn append(&mut self, marks: &mut Marks) -> anyhow::Result<Committed> {
        let live = marks.streams() as u64 * 48 + HEADER;
        if !self.rewrite && self.current.bytes > 4 * live + (1 << 20) {
            self.rewrite = true;
        }
        if self.rewrite {
            return self.write_generation(marks);
        }
        if !marks.has_changes() {
            return Ok(self.current);
        }
        let chunk = chunk(marks.changed());
        let path = self.path(self.current.generation);
        let file = self.file.as_mut().expect("open unless rewriting");
        let write = file.write_all(&chunk).and_then(|()| file.sync_data());
        if let Err(e) = write {
            // Whatever reached the file lies past the committed length and
            // is cut off at the next open; the next append starts anew.
            self.rewrite = true;
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        marks.clear_changes();
        self.current.bytes += chunk.len() as u64;
        Ok(self.current)
    }

    /// After the commit that recorded the last append: removes the
    /// generations it no longer needs.
    pub fn committed(&mut self) {
        for g in std::mem::take(&mut self.stale) {
            let path = self.path(g);
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(file = %path.display(), error = %e, "Could not remove an old marks file.");
                }
            }
        }
    }

    fn path(&self, generation: u64) -> PathBuf {
        self.dir.join(file_name(generation))
    }

    fn write_generation(&mut self, marks: &mut Marks) -> anyhow::Result<Committed> {
        let generation = self.newest.max(self.current.generation) + 1;
        self.newest = generation;
        let path = self.path(generation);
        let mut out = Vec::with_capacity(marks.streams() * 48 + HEADER as usize);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&chunk(marks.all()));
        let write = || -> std::io::Result<File> {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)?;
            f.write_all(&out)?;
            f.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
            Ok(f)
        };
        let file = write().with_context(|| format!("cannot write {}", path.display()))?;
        // The previous generation goes once the commit naming this one is
        // durable; a failed commit leaves this one unnamed, removed at the
        // next open.
        if self.file.is_some() || self.current.generation > 0 {
            self.stale.push(self.current.generation);
        }
        self.file = Some(file);
        self.current = Committed {
            generation,
            bytes: out.len() as u64,
        };
        self.rewrite = false;
        marks.clear_changes();
        Ok(self.current)
    }
}

/// The marks a commit names, read without changing anything (for readers
/// beside a running collector: tests, and what reports on the agents).
pub fn read(dir: &Path, committed: Committed) -> anyhow::Result<Marks> {
    let path = dir.join(file_name(committed.generation));
    let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(committed.bytes).read_to_end(&mut bytes)?;
    let mut marks = Marks::default();
    read_all(&bytes, &mut marks).with_context(|| format!("in {}", path.display()))?;
    Ok(marks)
}

/// One chunk: length, checksum, entries.
fn chunk<'a>(entries: impl Iterator<Item = (&'a str, u64, Mark)>) -> Vec<u8> {
    let mut body = Vec::new();
    for (agent, stream, mark) in entries {
        let id = &agent.as_bytes()[..agent.len().min(u16::MAX as usize)];
        body.extend_from_slice(&(id.len() as u16).to_be_bytes());
        body.extend_from_slice(id);
        body.extend_from_slice(&stream.to_be_bytes());
        body.extend_from_slice(&mark.end.to_be_bytes());
        body.extend_from_slice(&mark.last_seen_ms.to_be_bytes());
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads a whole marks file into `marks`; an error says where it stopped
/// (the marks before it are kept).
fn read_all(bytes: &[u8], marks: &mut Marks) -> anyhow::Result<()> {
    if bytes.len() < HEADER as usize || &bytes[..8] != MAGIC {
        bail!("not a marks file (bad magic)");
    }
    let version = u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        bail!("marks file version {version}; this collectord reads {VERSION}");
    }
    let mut at = HEADER as usize;
    while at < bytes.len() {
        let head = bytes
            .get(at..at + 12)
            .with_context(|| format!("a chunk header is cut short at byte {at}"))?;
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
        let sum = u64::from_be_bytes(head[4..].try_into().expect("8 bytes"));
        if len > MAX_CHUNK {
            bail!("a chunk at byte {at} claims {len} bytes");
        }
        let body = bytes
            .get(at + 12..at + 12 + len as usize)
            .with_context(|| format!("the chunk at byte {at} is cut short"))?;
        if xxhash_rust::xxh3::xxh3_64(body) != sum {
            bail!("the chunk at byte {at} does not match its checksum");
        }
        read_chunk(body, marks).with_context(|| format!("in the chunk at byte {at}"))?;
        at += 12 + len as usize;
    }
    marks.clear_changes();
    Ok(())
}

fn read_chunk(mut body: &[u8], marks: &mut Marks) -> anyhow::Result<()> {
    while !body.is_empty() {
        let short = || anyhow::anyhow!("an entry is cut short");
        let n = u16::from_be_bytes(body.get(..2).ok_or_else(short)?.try_into()?) as usize;
        let rest = body.get(2..2 + n + ENTRY_FIXED - 2).ok_or_else(short)?;
        let agent = std::str::from_utf8(&rest[..n]).context("an agent id is not UTF-8")?;
        let num =
            |i: usize| u64::from_be_bytes(rest[n + i..n + i + 8].try_into().expect("8 bytes"));
        let mark = Mark {
            end: num(8),
            last_seen_ms: num(16) as i64,
        };
        marks.set(agent, num(0), mark);
        body = &body[n + ENTRY_FIXED..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(end: u64) -> Mark {
        Mark {
            end,
            last_seen_ms: 1000 + end as i64,
        }
    }

    #[test]
    fn a_commit_costs_what_it_changed_and_reopens_as_committed() {
        // Regression (issue 13): every mark was rewritten in meta.json at
        // every commit, so a peer that created streams by the hundred
        // thousand slowed every agent's ACK. Appends must grow the file by
        // the changed marks only, and an append no commit recorded must be
        // gone after a reopen (a crash between the two).
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut marks) = MarkLog::open(dir.path(), None).unwrap();
        for s in 0..10_000u64 {
            marks.set("a", s, mark(s + 1));
        }
        let first = log.append(&mut marks).unwrap();
        log.committed();
        marks.set("a", 7, mark(500));
        marks.set("b", 1, mark(9));
        let second = log.append(&mut marks).unwrap();
        log.committed();
        assert_eq!(second.generation, first.generation);
        let grown = second.bytes - first.bytes;
        assert!(grown < 200, "two changed marks cost {grown} bytes");
        // Appended but never committed: lost in the "crash".
        marks.set("a", 8, mark(999_999));
        log.append(&mut marks).unwrap();
        drop(log);
        let (_, back) = MarkLog::open(dir.path(), Some(second)).unwrap();
        assert_eq!(back.streams(), 10_001);
        assert_eq!(back.get("a", 7), Some(mark(500)));
        assert_eq!(back.get("a", 8), Some(mark(9)));
        assert_eq!(back.get("b", 1), Some(mark(9)));
    }

    #[test]
    fn forgetting_rewrites_a_new_generation_and_the_old_one_goes_after_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut marks) = MarkLog::open(dir.path(), None).unwrap();
        marks.set("a", 1, mark(1));
        marks.set("a", 2, mark(2));
        let first = log.append(&mut marks).unwrap();
        log.committed();
        assert_eq!(marks.forget_older_than(1002), 1);
        log.rewrite_next();
        let second = log.append(&mut marks).unwrap();
        assert_eq!(second.generation, first.generation + 1);
        assert!(dir.path().join(file_name(first.generation)).exists());
        log.committed();
        assert!(!dir.path().join(file_name(first.generation)).exists());
        let (_, back) = MarkLog::open(dir.path(), Some(second)).unwrap();
        assert_eq!((back.streams(), back.get("a", 2)), (1, Some(mark(2))));
    }

    #[test]
    fn a_generation_no_commit_names_is_removed_and_damage_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut marks) = MarkLog::open(dir.path(), None).unwrap();
        marks.set("a", 1, mark(1));
        let c1 = log.append(&mut marks).unwrap();
        log.committed();
        marks.set("a", 2, mark(2));
        let c2 = log.append(&mut marks).unwrap();
        // A rewrite the crash kept from being committed.
        log.rewrite_next();
        let unnamed = log.append(&mut marks).unwrap();
        drop(log);
        let (mut log, back) = MarkLog::open(dir.path(), Some(c2)).unwrap();
        assert_eq!(back.streams(), 2);
        log.committed();
        assert!(!dir.path().join(file_name(unnamed.generation)).exists());
        // Damage inside the second chunk: the first chunk's marks stay.
        let path = dir.path().join(file_name(c2.generation));
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let (_, back) = MarkLog::open(dir.path(), Some(c2)).unwrap();
        assert_eq!(back.streams(), 1);
        assert_eq!(back.get("a", 1), Some(mark(1)));
        let _ = c1;
    }
}
