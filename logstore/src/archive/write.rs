//! The archive: every stored line, exactly as received plus `\n`, in zstd
//! blocks, per UTC day of receive time (the format, and how logq reads it,
//! are [`super::read`]'s). It is the only copy of the lines: the index
//! locates them here by line number.
//!
//! # Blocks by kind of line
//!
//! Lines are not written in arrival order but gathered into one of
//! [`BUCKETS`] open blocks by a key the caller gives (collectord uses the
//! program and the message's first word, see `store`). A block is
//! compressed and placed in the file when it reaches [`BLOCK_BYTES`], and
//! every open block at each group commit ([`Archive::flush`]). So the hits
//! of a word that one kind of line has are in few blocks (printing a
//! quarter of a million `Failed password` lines decompresses the sshd
//! blocks, not the whole day), and similar lines compress better together.
//! A line's number (its [`Location`]) is known only once its block is
//! placed: [`Archive::append`] takes the caller's item with the line and
//! [`Archive::take_placed`] hands items back with their locations, in file
//! order. collectord adds index documents in that order.
//!
//! # Dictionary
//!
//! Blocks of 4 KiB compress poorly alone; with a zstd dictionary trained
//! on the site's own lines they compress about as well as 128 KiB gzip
//! members. The archive trains one from the first [`SAMPLE_BYTES`] of lines
//! it stores (blocks before that go without), and again at each new day
//! from a sample of the day before (reservoir sampling, [`RESERVOIR_LINES`]
//! lines), on the writer thread: about 0.2 s once a day. Each day's files
//! carry a copy of every dictionary its blocks use (`YYYY-MM-DD.ID.dict`),
//! so deleting a day deletes everything it needs.
//!
//! # Invariant
//!
//! The commit payload holds each day's committed length, blocks and lines,
//! and the current dictionary's ID. On start, [`Archive::open`] truncates
//! files longer than that (blocks written before a crash, whose lines were
//! never acknowledged and will be sent again) and removes files the payload
//! does not name. Archive and index thus always hold the same lines, and
//! every [`Location`] in a committed document points into committed bytes:
//! items come back from [`Archive::take_placed`] only for blocks that
//! [`Archive::flush`] will write (or wrote), and the index commit follows
//! the flush.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::read::{
    dict_name, file_name, parse_file, parse_name, table_name, Block, Day, Kind, Location,
    BLOCK_BYTES, TABLE_ENTRY,
};

use super::dict::{compressor, train, Dict, Sampler, SAMPLE_BYTES};
use super::files::{append_synced, lines_in_last_block, pad_damaged, sync_dir};

/// Open blocks per day: keys are taken modulo this.
pub const BUCKETS: usize = 64;
/// Every this many lines, every open block is placed, so that the lines
/// so far have locations and their index documents can be added in the
/// order the lines arrived (see `store`) without waiting for the commit:
/// indexing then overlaps with receiving.
pub const ROUND_LINES: u64 = 4096;
/// What a commit records of one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The length of its lines file.
    pub bytes: u64,
    /// How many blocks it has (its table holds that many entries).
    pub blocks: u64,
    /// How many `\n`-terminated lines it holds: the number of the next one.
    pub lines: u64,
}

/// One open block.
struct Bucket<T> {
    raw: Vec<u8>,
    /// Items of its lines: arrival number, item, and the `\n` the line holds.
    items: Vec<(u64, T, u64)>,
}

/// What one day has not yet written.
struct Pending<T> {
    /// The files as last flushed.
    base: Committed,
    buckets: Vec<Bucket<T>>,
    /// Frames placed, to append.
    frames: Vec<u8>,
    /// Their block table entries.
    table: Vec<u8>,
    blocks: u64,
    next_line: u64,
}

pub struct Archive<T> {
    dir: PathBuf,
    level: i32,
    /// Day → what the last flush left.
    committed: BTreeMap<Day, Committed>,
    /// Lines not yet flushed, by day.
    pending: BTreeMap<Day, Pending<T>>,
    /// Items whose blocks are placed, with their arrival numbers.
    placed: Vec<(u64, T, Day, Location)>,
    /// The arrival number of the next line.
    arrivals: u64,
    /// Every line that arrived before this number is placed.
    round_end: u64,
    dict: Option<Dict>,
    compressor: zstd::bulk::Compressor<'static>,
    /// Dictionary files on disk.
    dict_files: BTreeSet<(Day, u32)>,
    sampler: Sampler,
    /// The newest day lines were appended to (a newer one retrains).
    newest_day: Option<Day>,
    /// Files were created since the last directory fsync.
    created: bool,
}

impl<T> Archive<T> {
    /// Opens `dir` (created if missing) and makes its files agree with
    /// `committed` (day file name → state) and `dict` (the ID in use), what
    /// the last commit recorded. `None` means the index has no commit yet:
    /// existing files are adopted as they are.
    pub fn open(
        dir: &Path,
        committed: Option<&BTreeMap<String, Committed>>,
        dict: u32,
        level: i32,
    ) -> anyhow::Result<Archive<T>> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let named: Option<BTreeMap<Day, Committed>> = committed.map(|c| {
            c.iter()
                .filter_map(|(name, c)| Some((parse_name(name)?, *c)))
                .collect()
        });
        let mut files: BTreeMap<Day, Vec<(Kind, PathBuf, u64)>> = BTreeMap::new();
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((day, kind)) = parse_file(&name) {
                files
                    .entry(day)
                    .or_default()
                    .push((kind, entry.path(), entry.metadata()?.len()));
            }
        }
        let mut kept = BTreeMap::new();
        let mut dict_files = BTreeSet::new();
        for (day, day_files) in files {
            let want = match &named {
                None => {
                    let table = fs::read(dir.join(table_name(day))).unwrap_or_default();
                    let table = Block::decode_table(&table);
                    let lines = lines_in_last_block(dir, day, &table).with_context(|| {
                        format!("cannot read {}", dir.join(file_name(day)).display())
                    })?;
                    let bytes = fs::metadata(dir.join(file_name(day)))
                        .map(|m| m.len())
                        .unwrap_or(0);
                    Some(Committed {
                        bytes,
                        blocks: table.len() as u64,
                        lines,
                    })
                }
                Some(named) => named.get(&day).copied(),
            };
            for (kind, path, len) in day_files {
                let Some(want) = want else {
                    fs::remove_file(&path)
                        .with_context(|| format!("cannot remove {}", path.display()))?;
                    warn!(file = %path.display(), bytes = len, "Removed an archive file that no commit names.");
                    continue;
                };
                let keep = match kind {
                    Kind::Lines => want.bytes,
                    Kind::Table => want.blocks * TABLE_ENTRY as u64,
                    Kind::Dict(id) => {
                        dict_files.insert((day, id));
                        continue;
                    }
                };
                if len > keep {
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(keep)
                        .with_context(|| format!("cannot truncate {}", path.display()))?;
                    file.sync_all()?;
                    warn!(file = %path.display(), bytes = len - keep, "Cut uncommitted lines off an archive file; agents will send them again.");
                } else if len < keep {
                    pad_damaged(&path, kind, len, want)?;
                }
            }
            if let Some(want) = want {
                kept.insert(day, want);
            }
        }
        if let Some(named) = &named {
            for day in named.keys().filter(|d| !kept.contains_key(*d)) {
                info!(file = %file_name(*day), "An archive file named by the last commit is gone.");
            }
        }
        sync_dir(dir)?;
        // The dictionary in use, from the newest day that has a copy.
        let dict = (dict != 0)
            .then(|| dict_files.iter().rev().find(|(_, id)| *id == dict))
            .flatten()
            .and_then(|&(day, id)| {
                let path = dir.join(dict_name(day, id));
                match fs::read(&path) {
                    Ok(bytes) => Some(Dict { id, bytes }),
                    Err(e) => {
                        warn!(file = %path.display(), error = %e, "Cannot read the archive dictionary; a new one will be trained.");
                        None
                    }
                }
            });
        let compressor = compressor(level, dict.as_ref())?;
        Ok(Archive {
            dir: dir.to_owned(),
            level,
            committed: kept,
            pending: BTreeMap::new(),
            placed: Vec::new(),
            arrivals: 0,
            round_end: 0,
            dict,
            compressor,
            dict_files,
            sampler: Sampler {
                rng: 0x9e37_79b9_7f4a_7c15,
                ..Sampler::default()
            },
            newest_day: None,
            created: false,
        })
    }

    /// Adds one line (its raw bytes; the `\n` is added here) of kind `key`
    /// to `day`, with the caller's `item`, which comes back from
    /// [`Archive::take_placed`] with the line's location once its block is
    /// placed.
    pub fn append(&mut self, day: Day, key: u64, line: &[u8], item: T) -> anyhow::Result<()> {
        if self.newest_day.is_some_and(|d| day > d) {
            self.retrain();
        }
        self.newest_day = self.newest_day.max(Some(day));
        self.sampler.offer(line, self.dict.is_none());
        if self.dict.is_none() && self.sampler.first_bytes >= SAMPLE_BYTES {
            let first = std::mem::take(&mut self.sampler.first);
            self.use_dict(train(&first))?;
            // If training failed, gather another sample before trying again.
            self.sampler.first_bytes = 0;
        }
        let committed = &self.committed;
        let p = self.pending.entry(day).or_insert_with(|| {
            let base = committed.get(&day).copied().unwrap_or_default();
            Pending {
                base,
                buckets: (0..BUCKETS)
                    .map(|_| Bucket {
                        raw: Vec::new(),
                        items: Vec::new(),
                    })
                    .collect(),
                frames: Vec::new(),
                table: Vec::new(),
                blocks: 0,
                next_line: base.lines,
            }
        });
        let b = (key % BUCKETS as u64) as usize;
        let breaks = line.iter().filter(|&&c| c == b'\n').count() as u64;
        let bucket = &mut p.buckets[b];
        bucket.raw.extend_from_slice(line);
        bucket.raw.push(b'\n');
        bucket.items.push((self.arrivals, item, breaks));
        self.arrivals += 1;
        if bucket.raw.len() >= BLOCK_BYTES {
            self.place(day, b)?;
        }
        if self.arrivals - self.round_end >= ROUND_LINES {
            self.place_all()?;
        }
        Ok(())
    }

    /// Places every open block: every line that arrived so far has its
    /// location.
    fn place_all(&mut self) -> anyhow::Result<()> {
        let days: Vec<Day> = self.pending.keys().copied().collect();
        for day in days {
            for b in 0..BUCKETS {
                self.place(day, b)?;
            }
        }
        self.round_end = self.arrivals;
        Ok(())
    }

    /// Retrains the dictionary on the reservoir of the day that ended.
    fn retrain(&mut self) {
        let sample = std::mem::take(&mut self.sampler.reservoir);
        self.sampler.seen = 0;
        if sample.iter().map(Vec::len).sum::<usize>() < SAMPLE_BYTES / 2 {
            return;
        }
        if let Err(e) = self.use_dict(train(&sample)) {
            warn!(error = %format!("{e:#}"), "Could not switch the archive dictionary.");
        }
    }

    fn use_dict(&mut self, dict: Option<Dict>) -> anyhow::Result<()> {
        if let Some(dict) = dict {
            // Blocks gathered so far are placed with the dictionary they
            // were going to get; simpler to place them now.
            let open: Vec<(Day, usize)> = self
                .pending
                .iter()
                .flat_map(|(d, p)| {
                    p.buckets
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| !b.raw.is_empty())
                        .map(move |(i, _)| (*d, i))
                })
                .collect();
            for (day, b) in open {
                self.place(day, b)?;
            }
            self.compressor = compressor(self.level, Some(&dict))?;
            self.dict = Some(dict);
        }
        Ok(())
    }

    /// Compresses bucket `b` of `day` into a block and places it.
    fn place(&mut self, day: Day, b: usize) -> anyhow::Result<()> {
        if let Some(dict) = &self.dict {
            if !self.dict_files.contains(&(day, dict.id)) {
                let path = self.dir.join(dict_name(day, dict.id));
                let mut file = File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                file.write_all(&dict.bytes)
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                self.dict_files.insert((day, dict.id));
                self.created = true;
            }
        }
        let p = self.pending.get_mut(&day).expect("appended to before");
        let bucket = &mut p.buckets[b];
        if bucket.raw.is_empty() {
            return Ok(());
        }
        let frame = self
            .compressor
            .compress(&bucket.raw)
            .context("cannot compress an archive block")?;
        bucket.raw.clear();
        let block = Block {
            first_line: p.next_line,
            offset: p.base.bytes + p.frames.len() as u64,
        };
        p.table.extend(block.encode());
        p.frames.extend(frame);
        p.blocks += 1;
        for (arrival, item, breaks) in bucket.items.drain(..) {
            let at = Location {
                line: p.next_line,
                breaks,
            };
            p.next_line += breaks + 1;
            self.placed.push((arrival, item, day, at));
        }
        Ok(())
    }

    /// The items of the lines that arrived before the last round of
    /// placing every block (see [`ROUND_LINES`]; [`Archive::flush`] is one),
    /// with their day and location, in the order they arrived.
    pub fn take_placed(&mut self) -> Vec<(T, Day, Location)> {
        let round_end = self.round_end;
        let (mut done, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.placed)
            .into_iter()
            .partition(|p| p.0 < round_end);
        self.placed = rest;
        done.sort_unstable_by_key(|p| p.0);
        done.into_iter().map(|(_, t, d, at)| (t, d, at)).collect()
    }

    /// Whether lines are waiting for [`Archive::flush`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Places every open block, appends each day's blocks and table entries
    /// to its files and fsyncs them. After it returns,
    /// [`Archive::committed`] holds the state to commit, and
    /// [`Archive::take_placed`] every item appended so far.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.place_all()?;
        for (day, p) in std::mem::take(&mut self.pending) {
            if p.blocks == 0 {
                continue;
            }
            let lines_path = self.dir.join(file_name(day));
            let table_path = self.dir.join(table_name(day));
            append_synced(&lines_path, p.base.bytes, &p.frames)?;
            append_synced(&table_path, p.base.blocks * TABLE_ENTRY as u64, &p.table)?;
            self.created |= !self.committed.contains_key(&day);
            self.committed.insert(
                day,
                Committed {
                    bytes: p.base.bytes + p.frames.len() as u64,
                    blocks: p.base.blocks + p.blocks,
                    lines: p.next_line,
                },
            );
        }
        if std::mem::take(&mut self.created) {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Lines file name → state, as of the last flush (for the payload).
    pub fn committed(&self) -> BTreeMap<String, Committed> {
        self.committed
            .iter()
            .map(|(day, c)| (file_name(*day), *c))
            .collect()
    }

    /// The ID of the dictionary in use (0: none), for the payload.
    pub fn dict_id(&self) -> u32 {
        self.dict.as_ref().map_or(0, |d| d.id)
    }

    /// Days on disk with their sizes (lines and table), oldest first.
    pub fn days(&self) -> Vec<(Day, u64)> {
        self.committed
            .iter()
            .map(|(day, c)| (*day, c.bytes + c.blocks * TABLE_ENTRY as u64))
            .collect()
    }

    /// Stops naming the files of days before `cutoff` (the next commit will
    /// not list them) and returns their paths, to delete after that commit.
    pub fn forget_before(&mut self, cutoff: Day) -> Vec<PathBuf> {
        let gone: Vec<Day> = self.committed.range(..cutoff).map(|(d, _)| *d).collect();
        let mut paths = Vec::new();
        for day in gone {
            self.committed.remove(&day);
            paths.push(self.dir.join(file_name(day)));
            paths.push(self.dir.join(table_name(day)));
            let dicts: Vec<(Day, u32)> = self
                .dict_files
                .range((day, 0)..=(day, u32::MAX))
                .copied()
                .collect();
            for (day, id) in dicts {
                self.dict_files.remove(&(day, id));
                paths.push(self.dir.join(dict_name(day, id)));
            }
        }
        paths
    }

    /// Where the files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use crate::archive::ArchiveReader;

    use super::*;

    /// Appends `line` with itself as the item.
    fn add(a: &mut Archive<Vec<u8>>, day: Day, key: u64, line: &[u8]) {
        a.append(day, key, line, line.to_vec()).unwrap();
    }

    fn read_back(dir: &Path, placed: &[(Vec<u8>, Day, Location)]) {
        let mut r = ArchiveReader::new(dir);
        for (line, day, at) in placed.iter().rev() {
            assert_eq!(&r.line(*day, *at).unwrap(), line, "{at:?}");
        }
    }

    #[test]
    fn a_file_shorter_than_committed_takes_new_lines_at_once() {
        // Regression (issue 13): an archive file cut shorter than the last
        // commit says made every write to its day fail ("changed outside
        // collectord") until midnight UTC.
        let dir = tempfile::tempdir().unwrap();
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        let line = |i: u64| format!("line {i} {}", "x".repeat((i % 90) as usize)).into_bytes();
        for i in 0..2000 {
            add(&mut a, 20_000, i % 3, &line(i));
        }
        a.flush().unwrap();
        let kept = a.take_placed();
        let early = a.committed()[&file_name(20_000)];
        for i in 2000..4000 {
            add(&mut a, 20_000, i % 3, &line(i));
        }
        a.flush().unwrap();
        let lost = a.take_placed();
        let committed = a.committed();
        drop(a);
        // The damage: the lines file and its table lose their ends.
        for (name, len) in [
            (file_name(20_000), early.bytes + 10),
            (table_name(20_000), early.blocks * TABLE_ENTRY as u64 + 5),
        ] {
            let f = OpenOptions::new()
                .write(true)
                .open(dir.path().join(name))
                .unwrap();
            f.set_len(len).unwrap();
        }
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), Some(&committed), 0, 3).unwrap();
        for i in 4000..4100 {
            add(&mut a, 20_000, i % 3, &line(i));
        }
        a.flush().expect("the damaged day takes new lines");
        let new = a.take_placed();
        read_back(dir.path(), &kept);
        read_back(dir.path(), &new);
        let mut r = ArchiveReader::new(dir.path());
        for (want, day, at) in &lost {
            assert_ne!(r.line(*day, *at).ok().as_ref(), Some(want), "{at:?}");
        }
    }

    #[test]
    fn every_location_reads_back_its_line() {
        // logq reads each line from the archive by the location the index
        // holds: every location handed out must give back exactly its line,
        // across block ends (size and flush), kinds, days, a crash and a
        // reopen.
        let dir = tempfile::tempdir().unwrap();
        let mut placed = Vec::new();
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        for i in 0..3000u64 {
            let line = format!("{i} {}", "y".repeat((i * 37 % 200) as usize)).into_bytes();
            add(&mut a, 20_000 + (i % 2) as Day, i % 5, &line);
        }
        add(&mut a, 20_000, 1, b"two\nparts");
        add(&mut a, 20_000, 2, b"\xff\x00");
        placed.extend(a.take_placed());
        a.flush().unwrap();
        placed.extend(a.take_placed());
        let committed = a.committed();
        // A flush the crash kept from being committed.
        add(&mut a, 20_000, 0, b"never committed");
        a.flush().unwrap();
        drop(a);
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), Some(&committed), 0, 3).unwrap();
        add(&mut a, 20_000, 3, b"after the reopen");
        a.flush().unwrap();
        placed.extend(a.take_placed());
        assert_eq!(placed.len(), 3003);
        // Items come back in the order they were appended.
        let order: Vec<u64> = placed
            .iter()
            .filter_map(|p| {
                std::str::from_utf8(&p.0)
                    .ok()?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "arrival order");
        // Each day's line numbers are distinct, with no gaps.
        for day in [20_000, 20_001] {
            let mut numbers: Vec<u64> = placed
                .iter()
                .filter(|p| p.1 == day)
                .map(|p| p.2.line)
                .collect();
            numbers.sort_unstable();
            let first = numbers[0];
            let two_lines = u64::from(day == 20_000);
            assert_eq!(
                numbers.last(),
                Some(&(first + numbers.len() as u64 - 1 + two_lines))
            );
            numbers.dedup();
            assert_eq!(numbers.len(), placed.iter().filter(|p| p.1 == day).count());
        }
        read_back(dir.path(), &placed);
        // Files adopted without a commit continue their numbering too.
        let committed = a.committed();
        assert_eq!(committed[&file_name(20_000)].lines, 1500 + 2 + 1 + 1);
        drop(a);
        let a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        assert_eq!(a.committed(), committed);
    }

    #[test]
    fn lines_of_one_kind_share_blocks() {
        // `logq 'Failed password'` printing many lines must decompress the
        // blocks of that kind of line only: lines of one key are placed
        // together even when other kinds arrive in between.
        let dir = tempfile::tempdir().unwrap();
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        for i in 0..1000u64 {
            add(
                &mut a,
                7,
                i % 2,
                format!("kind {} line {i}", i % 2).as_bytes(),
            );
        }
        a.flush().unwrap();
        let placed = a.take_placed();
        let table = Block::decode_table(&fs::read(dir.path().join(table_name(7))).unwrap());
        // Each block holds one kind only.
        for (i, block) in table.iter().enumerate() {
            let end = table.get(i + 1).map_or(u64::MAX, |b| b.first_line);
            let kinds: BTreeSet<&[u8]> = placed
                .iter()
                .filter(|p| p.2.line >= block.first_line && p.2.line < end)
                .map(|p| &p.0[..6])
                .collect();
            assert_eq!(kinds.len(), 1, "block {i}");
        }
        read_back(dir.path(), &placed);
    }

    #[test]
    fn a_dictionary_is_trained_and_blocks_read_back_with_it() {
        // After the first megabytes the archive must compress with a
        // dictionary trained on them, and logq must still read every line,
        // also after a restart that continues with the same dictionary.
        let dir = tempfile::tempdir().unwrap();
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        let mut placed = Vec::new();
        let line = |i: u64| {
            format!("2026-11-24T10:00:{:02}.{i:06}+00:00 web{} sshd[{}]: Failed password for user{} from 198.51.100.{} port {} ssh2", i % 60, i % 9, 300 + i % 5000, i % 13, i % 250, 1024 + i % 60000).into_bytes()
        };
        let mut i = 0;
        while a.dict_id() == 0 {
            add(&mut a, 9, i % 3, &line(i));
            i += 1;
        }
        for _ in 0..5000 {
            add(&mut a, 9, i % 3, &line(i));
            i += 1;
        }
        a.flush().unwrap();
        placed.extend(a.take_placed());
        let id = a.dict_id();
        assert!(dir.path().join(dict_name(9, id)).exists());
        let committed = a.committed();
        drop(a);
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), Some(&committed), id, 3).unwrap();
        assert_eq!(a.dict_id(), id);
        add(&mut a, 10, 0, b"the next day");
        a.flush().unwrap();
        placed.extend(a.take_placed());
        assert!(dir.path().join(dict_name(10, id)).exists());
        read_back(dir.path(), &placed);
        // Retention takes a day's dictionary with it.
        let gone = a.forget_before(10);
        assert!(
            gone.contains(&dir.path().join(dict_name(9, id))),
            "{gone:?}"
        );
        assert_eq!(gone.len(), 3);
    }

    #[test]
    fn reopen_truncates_to_committed_and_removes_unnamed_files() {
        // After a SIGKILL between the archive write and the index commit, the
        // unacknowledged lines must not stay in the archive (the agent sends
        // them again, they would be there twice).
        let dir = tempfile::tempdir().unwrap();
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        add(&mut a, 20_000, 0, b"committed");
        a.flush().unwrap();
        let placed = a.take_placed();
        let committed = a.committed();
        add(&mut a, 20_000, 0, b"not committed");
        add(&mut a, 20_001, 0, b"not committed either");
        a.flush().unwrap();
        drop(a);
        let a: Archive<Vec<u8>> = Archive::open(dir.path(), Some(&committed), 0, 3).unwrap();
        assert!(!dir.path().join(file_name(20_001)).exists());
        assert!(!dir.path().join(table_name(20_001)).exists());
        assert_eq!(a.committed(), committed);
        let table = fs::read(dir.path().join(table_name(20_000))).unwrap();
        assert_eq!(table.len(), TABLE_ENTRY);
        read_back(dir.path(), &placed);
    }

    #[test]
    fn forget_before_lists_old_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut a: Archive<Vec<u8>> = Archive::open(dir.path(), None, 0, 3).unwrap();
        for day in [10, 11, 12] {
            add(&mut a, day, 0, b"x");
        }
        a.flush().unwrap();
        let gone = a.forget_before(12);
        assert_eq!(gone.len(), 4);
        assert_eq!(a.days().iter().map(|d| d.0).collect::<Vec<_>>(), vec![12]);
    }
}
