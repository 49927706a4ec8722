//! The archive: every stored line, exactly as received plus `\n`, in one
//! gzip file per UTC day of receive time, `archive/YYYY-MM-DD.log.gz`.
//!
//! Each group commit appends one complete gzip member per day it touched,
//! then fsyncs. Concatenated members are a valid gzip stream, so `zcat`,
//! `zgrep` and `zless` read the files as they are, and appending never
//! rewrites what is already on disk.
//!
//! Invariant: the commit payload holds each file's committed length. On
//! start, [`Archive::open`] truncates a file longer than that (a member
//! written before a crash, whose lines were never acknowledged and will be
//! sent again) and removes a file the payload does not name (written before
//! its first commit, or left by retention between its commit and the
//! delete). Archive and index thus always hold the same lines.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Days, NaiveDate};
use flate2::write::GzEncoder;
use flate2::Compression;
use tracing::{info, warn};

/// Lines are gathered uncompressed up to this size, then compressed in one
/// call: per-line calls into the compressor cost more than the copy.
const CHUNK: usize = 256 * 1024;

/// One UTC day: days since 1970-01-01.
pub type Day = i64;

pub const MS_PER_DAY: i64 = 86_400_000;

/// The day of a receive time.
pub fn day_of(ms: i64) -> Day {
    ms.div_euclid(MS_PER_DAY)
}

/// `YYYY-MM-DD.log.gz` for `day`.
pub fn file_name(day: Day) -> String {
    let date = u64::try_from(day)
        .ok()
        .and_then(|d| NaiveDate::default().checked_add_days(Days::new(d)))
        .unwrap_or_default();
    format!("{}.log.gz", date.format("%Y-%m-%d"))
}

/// The day of an archive file name, if it is one.
pub fn parse_name(name: &str) -> Option<Day> {
    let date = name.strip_suffix(".log.gz")?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(date.signed_duration_since(NaiveDate::default()).num_days())
}

struct Pending {
    raw: Vec<u8>,
    encoder: GzEncoder<Vec<u8>>,
}

pub struct Archive {
    dir: PathBuf,
    level: Compression,
    /// File name → committed length.
    committed: BTreeMap<String, u64>,
    /// Lines not yet flushed, by day.
    pending: BTreeMap<Day, Pending>,
}

impl Archive {
    /// Opens `dir` (created if missing) and makes its files agree with
    /// `committed`, the lengths of the last commit. `None` means the index
    /// has no commit yet: existing files are adopted as they are.
    pub fn open(
        dir: &Path,
        committed: Option<&BTreeMap<String, u64>>,
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
                kept.insert(name, len);
                continue;
            };
            match committed.get(&name) {
                Some(&want) if len > want => {
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(want)
                        .with_context(|| format!("cannot truncate {}", path.display()))?;
                    file.sync_all()?;
                    warn!(file = %path.display(), bytes = len - want, "Cut uncommitted lines off an archive file; agents will send them again.");
                    kept.insert(name, want);
                }
                Some(&want) => {
                    if len < want {
                        warn!(file = %path.display(), have = len, committed = want, "An archive file is shorter than committed: it was changed outside collectord.");
                    }
                    kept.insert(name, len);
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

    /// Adds one line (its raw bytes; the `\n` is added here) to `day`.
    pub fn append(&mut self, day: Day, line: &[u8]) -> io::Result<()> {
        let level = self.level;
        let p = self.pending.entry(day).or_insert_with(|| Pending {
            raw: Vec::with_capacity(CHUNK + 4096),
            encoder: GzEncoder::new(Vec::new(), level),
        });
        p.raw.extend_from_slice(line);
        p.raw.push(b'\n');
        if p.raw.len() >= CHUNK {
            p.encoder.write_all(&p.raw)?;
            p.raw.clear();
        }
        Ok(())
    }

    /// Whether lines are waiting for [`Archive::flush`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Appends one gzip member per day with pending lines and fsyncs. After
    /// it returns, [`Archive::committed`] holds the lengths to commit.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        let mut created = false;
        for (day, mut p) in std::mem::take(&mut self.pending) {
            p.encoder.write_all(&p.raw)?;
            let member = p.encoder.finish()?;
            let name = file_name(day);
            let path = self.dir.join(&name);
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let before = file.metadata()?.len();
            created |= !self.committed.contains_key(&name);
            file.write_all(&member)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.sync_data()
                .with_context(|| format!("cannot fsync {}", path.display()))?;
            self.committed.insert(name, before + member.len() as u64);
        }
        if created {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// File name → length, as of the last flush.
    pub fn committed(&self) -> &BTreeMap<String, u64> {
        &self.committed
    }

    /// Days on disk with their sizes, oldest first.
    pub fn days(&self) -> Vec<(Day, u64)> {
        let mut days: Vec<(Day, u64)> = self
            .committed
            .iter()
            .filter_map(|(n, len)| Some((parse_name(n)?, *len)))
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
    fn names_roundtrip() {
        assert_eq!(file_name(0), "1970-01-01.log.gz");
        let day = day_of(1_764_022_801_000);
        assert_eq!(file_name(day), "2025-11-24.log.gz");
        assert_eq!(parse_name("2025-11-24.log.gz"), Some(day));
        assert_eq!(parse_name("2025-11-24.log"), None);
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn members_append_and_zcat_reads_them() {
        // An operator must be able to zcat/zgrep a day's file, commits and all.
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::open(dir.path(), None, 1).unwrap();
        a.append(20_000, b"first line").unwrap();
        a.append(20_000, b"\xff\x00 binary stays binary").unwrap();
        a.flush().unwrap();
        let long = vec![b'x'; CHUNK * 2];
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
        assert_eq!(a.committed()[&file_name(20_000)], len);
        // A real zcat agrees, when there is one.
        if let Ok(out) = std::process::Command::new("zcat")
            .arg(dir.path().join(file_name(20_001)))
            .output()
        {
            assert_eq!(out.stdout, b"next day\n");
        }
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
