//! The archive: every stored line, exactly as received plus `\n`, in one
//! gzip file per UTC day of receive time, `archive/YYYY-MM-DD.log.gz`. It is
//! the only copy of the lines: the index locates them here (the format is
//! [`logcore::archive`]'s).
//!
//! A file is a sequence of complete gzip members. A member ends once it
//! holds [`MEMBER_BYTES`] of lines, and at every group commit, so that a
//! reader decompresses one small member for one line. Concatenated members
//! are a valid gzip stream, so `zcat`, `zgrep` and `zless` read the files as
//! they are, and appending never rewrites what is already on disk.
//!
//! Invariant: the commit payload holds each file's committed length (and
//! its number of lines, which numbering continues from). On
//! start, [`Archive::open`] truncates a file longer than that (members
//! written before a crash, whose lines were never acknowledged and will be
//! sent again) and removes a file the payload does not name (written before
//! its first commit, or left by retention between its commit and the
//! delete). Archive and index thus always hold the same lines, and every
//! [`Location`] in a committed document points into committed bytes:
//! [`Archive::append`] hands out the location the line will have once
//! [`Archive::flush`] wrote it, and the index commit follows the flush.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use flate2::read::MultiGzDecoder;
use flate2::{Compression, GzBuilder};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use logcore::archive::{
    day_of, file_name, member_extra, parse_name, Day, Location, MEMBER_BYTES, MS_PER_DAY,
};

/// What a commit records of one archive file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// Its length.
    pub bytes: u64,
    /// How many `\n`-terminated lines it holds: the number of the next one.
    pub lines: u64,
}

/// The lines of one day not yet flushed.
struct Pending {
    /// The file as last flushed.
    base: Committed,
    /// Members already ended.
    members: Vec<u8>,
    /// Lines of the member being filled.
    raw: Vec<u8>,
    /// The number of the first line in `raw`.
    raw_first: u64,
    /// The number of the next line.
    next_line: u64,
}

pub struct Archive {
    dir: PathBuf,
    level: Compression,
    /// File name → what the last flush left.
    committed: BTreeMap<String, Committed>,
    /// Lines not yet flushed, by day.
    pending: BTreeMap<Day, Pending>,
}

impl Archive {
    /// Opens `dir` (created if missing) and makes its files agree with
    /// `committed`, the lengths of the last commit. `None` means the index
    /// has no commit yet: existing files are adopted as they are.
    pub fn open(
        dir: &Path,
        committed: Option<&BTreeMap<String, Committed>>,
        level: u32,
    ) -> anyhow::Result<Archive> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut kept = BTreeMap::new();
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if parse_name(&name).is_none() {
                continue;
            }
            let path = entry.path();
            let len = entry.metadata()?.len();
            let Some(committed) = committed else {
                let lines = count_lines(&path)?;
                kept.insert(name, Committed { bytes: len, lines });
                continue;
            };
            match committed.get(&name) {
                Some(&want) if len > want.bytes => {
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(want.bytes)
                        .with_context(|| format!("cannot truncate {}", path.display()))?;
                    file.sync_all()?;
                    warn!(file = %path.display(), bytes = len - want.bytes, "Cut uncommitted lines off an archive file; agents will send them again.");
                    kept.insert(name, want);
                }
                Some(&want) => {
                    if len < want.bytes {
                        warn!(file = %path.display(), have = len, committed = want.bytes, "An archive file is shorter than committed: it was changed outside collectord.");
                    }
                    kept.insert(
                        name,
                        Committed {
                            bytes: len,
                            lines: want.lines,
                        },
                    );
                }
                None => {
                    fs::remove_file(&path)
                        .with_context(|| format!("cannot remove {}", path.display()))?;
                    warn!(file = %path.display(), bytes = len, "Removed an archive file that no commit names.");
                }
            }
        }
        if let Some(committed) = committed {
            for name in committed.keys().filter(|n| !kept.contains_key(*n)) {
                info!(file = %name, "An archive file named by the last commit is gone.");
            }
        }
        sync_dir(dir)?;
        Ok(Archive {
            dir: dir.to_owned(),
            level: Compression::new(level),
            committed: kept,
            pending: BTreeMap::new(),
        })
    }

    /// Adds one line (its raw bytes; the `\n` is added here) to `day`, and
    /// says where it will be once flushed.
    pub fn append(&mut self, day: Day, line: &[u8]) -> io::Result<Location> {
        let level = self.level;
        let committed = &self.committed;
        let p = self.pending.entry(day).or_insert_with(|| {
            let base = committed.get(&file_name(day)).copied().unwrap_or_default();
            Pending {
                base,
                members: Vec::new(),
                raw: Vec::with_capacity(MEMBER_BYTES + 4096),
                raw_first: base.lines,
                next_line: base.lines,
            }
        });
        let breaks = line.iter().filter(|&&b| b == b'\n').count() as u64;
        let at = Location {
            member: p.base.bytes + p.members.len() as u64,
            line: p.next_line,
            breaks,
        };
        p.raw.extend_from_slice(line);
        p.raw.push(b'\n');
        p.next_line += breaks + 1;
        if p.raw.len() >= MEMBER_BYTES {
            p.end_member(level)?;
        }
        Ok(at)
    }

    /// Whether lines are waiting for [`Archive::flush`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Ends the member of each day with pending lines, appends the day's
    /// members to its file and fsyncs. After it returns,
    /// [`Archive::committed`] holds the lengths to commit.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let mut created = false;
        for (day, mut p) in std::mem::take(&mut self.pending) {
            p.end_member(self.level)?;
            let name = file_name(day);
            let path = self.dir.join(&name);
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let before = file.metadata()?.len();
            if before != p.base.bytes {
                // The locations handed out would be wrong. A restart cuts
                // the file back to its committed length.
                bail!(
                    "{} is {before} bytes long, {} were expected: it was changed outside collectord",
                    path.display(),
                    p.base.bytes
                );
            }
            created |= !self.committed.contains_key(&name);
            file.write_all(&p.members)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.sync_data()
                .with_context(|| format!("cannot fsync {}", path.display()))?;
            self.committed.insert(
                name,
                Committed {
                    bytes: before + p.members.len() as u64,
                    lines: p.next_line,
                },
            );
        }
        if created {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// File name → length and lines, as of the last flush.
    pub fn committed(&self) -> &BTreeMap<String, Committed> {
        &self.committed
    }

    /// Days on disk with their sizes, oldest first.
    pub fn days(&self) -> Vec<(Day, u64)> {
        let mut days: Vec<(Day, u64)> = self
            .committed
            .iter()
            .filter_map(|(n, c)| Some((parse_name(n)?, c.bytes)))
            .collect();
        days.sort_unstable();
        days
    }

    /// Stops naming the files of days before `cutoff` (the next commit will
    /// not list them) and returns their paths, to delete after that commit.
    pub fn forget_before(&mut self, cutoff: Day) -> Vec<PathBuf> {
        let gone: Vec<String> = self
            .committed
            .keys()
            .filter(|n| parse_name(n).is_some_and(|d| d < cutoff))
            .cloned()
            .collect();
        gone.iter()
            .map(|n| {
                self.committed.remove(n);
                self.dir.join(n)
            })
            .collect()
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Pending {
    /// Compresses the lines gathered so far into one complete member, its
    /// first line number in the header.
    fn end_member(&mut self, level: Compression) -> io::Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        let mut encoder = GzBuilder::new()
            .extra(member_extra(self.raw_first))
            .write(std::mem::take(&mut self.members), level);
        encoder.write_all(&self.raw)?;
        self.members = encoder.finish()?;
        self.raw.clear();
        self.raw_first = self.next_line;
        Ok(())
    }
}

/// The lines of a file found without a commit naming it (read once, at the
/// first start).
fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let mut decoder = MultiGzDecoder::new(io::BufReader::new(
        File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
    ));
    let mut buf = vec![0; 64 * 1024];
    let mut lines = 0;
    loop {
        let n = io::Read::read(&mut decoder, &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::MultiGzDecoder;

    use super::*;

    fn read_all(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn members_append_and_zcat_reads_them() {
        // An operator must be able to zcat/zgrep a day's file, commits and all.
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), None, 1).unwrap();
        a.append(20_000, b"first line").unwrap();
        a.append(20_000, b"\xff\x00 binary stays binary").unwrap();
        a.flush().unwrap();
        let long = vec![b'x'; MEMBER_BYTES * 2];
        a.append(20_000, &long).unwrap();
        a.append(20_001, b"next day").unwrap();
        a.flush().unwrap();
        let mut want = b"first line\n\xff\x00 binary stays binary\n".to_vec();
        want.extend_from_slice(&long);
        want.push(b'\n');
        assert_eq!(read_all(&dir.path().join(file_name(20_000))), want);
        assert_eq!(read_all(&dir.path().join(file_name(20_001))), b"next day\n");
        let len = fs::metadata(dir.path().join(file_name(20_000)))
            .unwrap()
            .len();
        assert_eq!(
            a.committed()[&file_name(20_000)],
            Committed {
                bytes: len,
                lines: 3
            }
        );
        // A real zcat agrees, when there is one.
        if let Ok(out) = std::process::Command::new("zcat")
            .arg(dir.path().join(file_name(20_001)))
            .output()
        {
            assert_eq!(out.stdout, b"next day\n");
        }
    }

    /// The number of gzip members in `path`.
    fn members(path: &Path) -> usize {
        let bytes = fs::read(path).unwrap();
        let mut n = 0;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let mut d = flate2::bufread::GzDecoder::new(rest);
            std::io::copy(&mut d, &mut std::io::sink()).unwrap();
            rest = d.into_inner();
            n += 1;
        }
        n
    }

    #[test]
    fn every_location_reads_back_its_line_from_one_member() {
        // logq reads each line from the archive by the location the index
        // holds: every location handed out must give back exactly its line,
        // across member ends (size and flush), a crash and a reopen; and
        // its number is the line's in `zcat` of the file.
        let dir = tempfile::tempdir().unwrap();
        let mut lines: Vec<(Day, Location, Vec<u8>)> = Vec::new();
        let mut a = Archive::open(dir.path(), None, 1).unwrap();
        let mut add = |a: &mut Archive, day: Day, line: Vec<u8>| {
            let at = a.append(day, &line).unwrap();
            lines.push((day, at, line));
        };
        for i in 0..3000u64 {
            let line = format!("{i} {}", "y".repeat((i * 37 % 200) as usize)).into_bytes();
            add(&mut a, 20_000 + (i % 2) as Day, line);
        }
        add(&mut a, 20_000, b"two\nparts".to_vec());
        add(&mut a, 20_000, b"\xff\x00".to_vec());
        a.flush().unwrap();
        let committed = a.committed().clone();
        // A flush the crash kept from being committed.
        a.append(20_000, b"never committed").unwrap();
        a.flush().unwrap();
        drop(a);
        let mut a = Archive::open(dir.path(), Some(&committed), 1).unwrap();
        add(&mut a, 20_000, b"after the reopen".to_vec());
        a.flush().unwrap();
        // 3000 lines of ~105 bytes, half each day, fill 1 member by size,
        // the first flush ends the second, the last flush a third.
        assert_eq!(members(&dir.path().join(file_name(20_000))), 3);
        assert_eq!(members(&dir.path().join(file_name(20_001))), 2);
        let mut r = logcore::archive::ArchiveReader::new(dir.path());
        for (day, at, line) in lines.iter().rev() {
            assert_eq!(&r.line(*day, *at).unwrap(), line, "{at:?}");
        }
        let text = read_all(&dir.path().join(file_name(20_000)));
        let zcat: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        for (day, at, line) in &lines {
            if *day == 20_000 && at.breaks == 0 {
                assert_eq!(zcat[at.line as usize], &line[..]);
            }
        }
        // Files adopted without a commit continue their numbering too.
        let committed = a.committed().clone();
        assert_eq!(committed[&file_name(20_000)].lines, 1500 + 4);
        drop(a);
        let a = Archive::open(dir.path(), None, 1).unwrap();
        assert_eq!(a.committed(), &committed);
    }

    #[test]
    fn reopen_truncates_to_committed_and_removes_unnamed_files() {
        // After a SIGKILL between the archive write and the index commit, the
        // unacknowledged lines must not stay in the archive (the agent sends
        // them again, they would be there twice).
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), None, 1).unwrap();
        a.append(20_000, b"committed").unwrap();
        a.flush().unwrap();
        let committed = a.committed().clone();
        a.append(20_000, b"not committed").unwrap();
        a.append(20_001, b"not committed either").unwrap();
        a.flush().unwrap();
        drop(a);
        let a = Archive::open(dir.path(), Some(&committed), 1).unwrap();
        assert_eq!(
            read_all(&dir.path().join(file_name(20_000))),
            b"committed\n"
        );
        assert!(!dir.path().join(file_name(20_001)).exists());
        assert_eq!(a.committed(), &committed);
    }

    #[test]
    fn forget_before_lists_old_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), None, 1).unwrap();
        for day in [10, 11, 12] {
            a.append(day, b"x").unwrap();
        }
        a.flush().unwrap();
        let gone = a.forget_before(12);
        assert_eq!(gone.len(), 2);
        assert_eq!(a.days().iter().map(|d| d.0).collect::<Vec<_>>(), vec![12]);
    }
}
