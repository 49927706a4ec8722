//! The archive's format, and reading lines back from it.
//!
//! collectord keeps every line once, in the archive: per UTC day of receive
//! time, three kinds of file in `data-dir/archive/`:
//!
//! - `YYYY-MM-DD.log.zst`: the lines, each exactly as received plus `\n`,
//!   in *blocks* of about [`BLOCK_BYTES`], each block one complete zstd
//!   frame (content size and checksum in the frame). Frames are appended,
//!   never rewritten.
//! - `YYYY-MM-DD.blocks`: the block table, one [`TABLE_ENTRY`]-byte entry
//!   per block in file order: the number of the block's first line in the
//!   day's file, and the byte offset of its frame (both u64, little endian).
//! - `YYYY-MM-DD.ID.dict`: the zstd dictionary with dictionary ID `ID`,
//!   which the day's frames whose header names `ID` were compressed with.
//!   Frames without a dictionary ID need none (the first megabytes a new
//!   collector stores, before it has trained one).
//!
//! `zstd -dc -D YYYY-MM-DD.ID.dict YYYY-MM-DD.log.zst` prints the day when
//! one dictionary was used throughout; `logq --since DAY --until DAY+1 -o
//! raw` always does.
//!
//! Lines are numbered from 0 in file order, counting `\n` (a line that
//! itself holds `\n`, which agentd never sends but other peers might, spans
//! [`Location::breaks`] + 1 numbers). An index document holds its line's
//! number ([`Location`]); the block table turns it into the frame to
//! decompress.
//!
//! Why blocks this small: reading one line decompresses one block, about
//! 4 µs (a gzip member of 128 KiB took 170 µs), so a query with thousands of
//! hits prints them in milliseconds. A dictionary trained on the site's own
//! lines keeps small blocks as small on disk as large ones without it.
//! collectord also groups lines by their program and first word into
//! separate blocks (see [`super::write`]), so that the hits of a
//! word that only one kind of line has sit in few blocks.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};
use rustc_hash::FxHashMap;

/// A block is ended once its lines (with their `\n`) reach this size, so
/// it holds this much plus at most one line.
pub const BLOCK_BYTES: usize = 4 * 1024;

/// Bytes per block table entry: first line number, frame offset.
pub const TABLE_ENTRY: usize = 16;

/// One UTC day: days since 1970-01-01.
pub type Day = i64;

pub const MS_PER_DAY: i64 = 86_400_000;

/// The day of a receive time.
pub fn day_of(ms: i64) -> Day {
    ms.div_euclid(MS_PER_DAY)
}

/// `YYYY-MM-DD`.
pub fn day_name(day: Day) -> String {
    let date = u64::try_from(day)
        .ok()
        .and_then(|d| NaiveDate::default().checked_add_days(Days::new(d)))
        .unwrap_or_default();
    date.format("%Y-%m-%d").to_string()
}

/// `YYYY-MM-DD.log.zst`: the day's lines.
pub fn file_name(day: Day) -> String {
    format!("{}.log.zst", day_name(day))
}

/// `YYYY-MM-DD.blocks`: the day's block table.
pub fn table_name(day: Day) -> String {
    format!("{}.blocks", day_name(day))
}

/// `YYYY-MM-DD.ID.dict`: a dictionary the day's blocks use.
pub fn dict_name(day: Day, id: u32) -> String {
    format!("{}.{id}.dict", day_name(day))
}

/// What an archive file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lines,
    Table,
    Dict(u32),
}

/// The day and kind of an archive file name, if it is one.
pub fn parse_file(name: &str) -> Option<(Day, Kind)> {
    let (date, rest) = name.split_at_checked(10)?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let day = date.signed_duration_since(NaiveDate::default()).num_days();
    let kind = match rest {
        ".log.zst" => Kind::Lines,
        ".blocks" => Kind::Table,
        _ => Kind::Dict(
            rest.strip_prefix('.')?
                .strip_suffix(".dict")?
                .parse()
                .ok()?,
        ),
    };
    Some((day, kind))
}

/// The day of a lines file name (`YYYY-MM-DD.log.zst`), if it is one.
pub fn parse_name(name: &str) -> Option<Day> {
    match parse_file(name)? {
        (day, Kind::Lines) => Some(day),
        _ => None,
    }
}

/// One block table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The number of the block's first line in its day's file.
    pub first_line: u64,
    /// The byte offset of its frame.
    pub offset: u64,
}

impl Block {
    pub fn encode(&self) -> [u8; TABLE_ENTRY] {
        let mut out = [0; TABLE_ENTRY];
        out[..8].copy_from_slice(&self.first_line.to_le_bytes());
        out[8..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    /// The entries of a block table (a torn last entry is ignored).
    pub fn decode_table(bytes: &[u8]) -> Vec<Block> {
        bytes
            .chunks_exact(TABLE_ENTRY)
            .map(|e| Block {
                first_line: u64::from_le_bytes(e[..8].try_into().expect("8 bytes")),
                offset: u64::from_le_bytes(e[8..].try_into().expect("8 bytes")),
            })
            .collect()
    }
}

/// Where a line is in its day's archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// The line's number in the file (the first `\n`-terminated line it
    /// spans), counted from 0.
    pub line: u64,
    /// How many `\n` the line itself holds.
    pub breaks: u64,
}

/// The dictionary ID a frame names, if any (0 = none).
pub fn frame_dict_id(frame: &[u8]) -> u32 {
    zstd::zstd_safe::get_dict_id_from_frame(frame).map_or(0, |id| id.get())
}

/// Blocks kept decompressed. A walk in time order moves through the blocks
/// of one commit at a time, one per kind of line (see the module
/// documentation), so this is more than the kinds a commit usually has.
const CACHED_BLOCKS: usize = 512;
/// Days kept open (their lines file and block table).
const OPEN_DAYS: usize = 8;

/// Lookups in a day's block table made with a read per probe (about 19
/// of 16 bytes each at 10 million lines), before
/// reading it whole pays (10 million lines make a 5 MB table; a query
/// with a few hits should not read it all). Each probe is a system call of
/// about a microsecond: 512 lookups were 4 % of printing 70,000 lines of 1
/// million, when reading the 0.6 MB table takes about 0.1 ms.
const PROBED_LOOKUPS: u32 = 48;

struct DayFile {
    file: File,
    table_file: File,
    /// The whole table, once more than [`PROBED_LOOKUPS`] lookups were made.
    table: Option<Vec<Block>>,
    lookups: u32,
}

impl DayFile {
    /// Entries in the table.
    fn entries(&self) -> io::Result<usize> {
        match &self.table {
            Some(t) => Ok(t.len()),
            None => Ok((self.table_file.metadata()?.len() / TABLE_ENTRY as u64) as usize),
        }
    }

    /// Entry `i`, if the table has it.
    fn entry(&self, i: usize) -> io::Result<Option<Block>> {
        if let Some(t) = &self.table {
            return Ok(t.get(i).copied());
        }
        let mut buf = [0; TABLE_ENTRY];
        match self
            .table_file
            .read_exact_at(&mut buf, (i * TABLE_ENTRY) as u64)
        {
            Ok(()) => Ok(Block::decode_table(&buf).first().copied()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of the last block whose first line is at most `line`.
    fn find(&mut self, line: u64) -> io::Result<Option<usize>> {
        self.lookups += 1;
        if self.table.is_none() && self.lookups > PROBED_LOOKUPS {
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut &self.table_file, &mut bytes)?;
            self.table = Some(Block::decode_table(&bytes));
        }
        if let Some(t) = &self.table {
            return Ok(t.partition_point(|b| b.first_line <= line).checked_sub(1));
        }
        let (mut lo, mut hi) = (0, self.entries()?);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid)? {
                Some(b) if b.first_line <= line => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Ok(lo.checked_sub(1))
    }
}

struct Cached {
    data: Vec<u8>,
    /// Where each line starts, and `data.len()` last.
    starts: Vec<u32>,
    used: u64,
}

/// Reads lines from the archive directory; see the module documentation.
/// The maps are keyed by small integers of the archive's own making (not
/// by what senders choose), so FxHash serves: SipHash on `(Day, usize)`
/// for each line read back was 3.5% of a regex query's time.
pub struct ArchiveReader {
    dir: PathBuf,
    days: FxHashMap<Day, DayFile>,
    blocks: FxHashMap<(Day, usize), Cached>,
    /// Dictionary ID → a decompressor that has it (0: none), per day.
    decompressors: FxHashMap<(Day, u32), zstd::bulk::Decompressor<'static>>,
    clock: u64,
    frame: Vec<u8>,
    /// The block of the last line read: its day, index and line range.
    last: Option<(Day, usize, u64, u64)>,
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

impl ArchiveReader {
    /// A reader of the archive in `dir` (`data-dir/archive`). Files are
    /// opened when first needed.
    pub fn new(dir: &Path) -> ArchiveReader {
        ArchiveReader {
            dir: dir.to_owned(),
            days: FxHashMap::default(),
            blocks: FxHashMap::default(),
            decompressors: FxHashMap::default(),
            clock: 0,
            frame: Vec::new(),
            last: None,
        }
    }

    /// The bytes of the line at `at` in `day`'s file, without its `\n`.
    pub fn line(&mut self, day: Day, at: Location) -> io::Result<Vec<u8>> {
        // Consecutive hits are mostly in the same block.
        if let Some((d, index, from, to)) = self.last {
            if d == day && at.line >= from && at.line < to {
                if let Some(line) = self.blocks.get(&(day, index)).and_then(|b| {
                    let i = usize::try_from(at.line - from).ok()?;
                    let breaks = usize::try_from(at.breaks).ok()?;
                    let start = *b.starts.get(i)? as usize;
                    let end = *b.starts.get(i.checked_add(breaks)?.checked_add(1)?)? as usize;
                    b.data.get(start..end - 1).map(<[u8]>::to_vec)
                }) {
                    return Ok(line);
                }
            }
        }
        let mut reloaded = false;
        loop {
            let index = self.block_of(day, at.line)?;
            let is_last = index + 1 == self.days[&day].entries()?;
            if !self.blocks.contains_key(&(day, index)) {
                let block = self.load(day, index)?;
                if self.blocks.len() >= CACHED_BLOCKS {
                    // The least recently used half goes at once: finding
                    // the oldest block for each load was 8 % of printing
                    // many hits.
                    let mut used: Vec<u64> = self.blocks.values().map(|b| b.used).collect();
                    let (_, &mut median, _) = used.select_nth_unstable(CACHED_BLOCKS / 2);
                    self.blocks.retain(|_, b| b.used >= median);
                    if self
                        .last
                        .is_some_and(|l| !self.blocks.contains_key(&(l.0, l.1)))
                    {
                        self.last = None;
                    }
                }
                self.blocks.insert((day, index), block);
            }
            self.clock += 1;
            let first = self.days[&day]
                .entry(index)?
                .map_or(u64::MAX, |b| b.first_line);
            let block = self.blocks.get_mut(&(day, index)).expect("inserted above");
            block.used = self.clock;
            let found = at
                .line
                .checked_sub(first)
                .and_then(|line| usize::try_from(line).ok())
                .zip(usize::try_from(at.breaks).ok())
                .and_then(|(line, breaks)| {
                    let from = *block.starts.get(line)? as usize;
                    let to = *block
                        .starts
                        .get(line.checked_add(breaks)?.checked_add(1)?)?
                        as usize;
                    block.data.get(from..to - 1)
                })
                .map(<[u8]>::to_vec);
            match found {
                Some(line) => {
                    let lines = block.starts.len() as u64 - 1;
                    self.last = Some((day, index, first, first + lines));
                    return Ok(line);
                }
                // The table was read before collectord added blocks: read
                // it again, once.
                None if is_last && !reloaded => {
                    self.last = None;
                    self.days.remove(&day);
                    self.blocks.retain(|k, _| k.0 != day);
                    reloaded = true;
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} has no line {} (+{})",
                            self.dir.join(file_name(day)).display(),
                            at.line,
                            at.breaks
                        ),
                    ))
                }
            }
        }
    }

    /// The index of the block that holds line `line` of `day`.
    fn block_of(&mut self, day: Day, line: u64) -> io::Result<usize> {
        if !self.days.contains_key(&day) {
            if self.days.len() >= OPEN_DAYS {
                self.days.clear();
                self.blocks.clear();
                self.last = None;
            }
            let path = self.dir.join(file_name(day));
            let file = File::open(&path).map_err(|e| with_path(e, "open", &path))?;
            let table_path = self.dir.join(table_name(day));
            let table_file =
                File::open(&table_path).map_err(|e| with_path(e, "open", &table_path))?;
            self.days.insert(
                day,
                DayFile {
                    file,
                    table_file,
                    table: None,
                    lookups: 0,
                },
            );
        }
        let found = self
            .days
            .get_mut(&day)
            .expect("inserted above")
            .find(line)?;
        found.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has no block for line {line}",
                    self.dir.join(table_name(day)).display()
                ),
            )
        })
    }

    /// Decompresses block `index` of `day`.
    fn load(&mut self, day: Day, index: usize) -> io::Result<Cached> {
        let path = self.dir.join(file_name(day));
        let d = &self.days[&day];
        let offset = d
            .entry(index)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no such block"))?
            .offset;
        let end = match d.entry(index + 1)? {
            Some(next) => next.offset,
            None => d.file.metadata()?.len(),
        };
        let bad = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}, block at byte {offset}: {what}", path.display()),
            )
        };
        let len = end
            .checked_sub(offset)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| bad("the block table is out of order".into()))?;
        self.frame.resize(len, 0);
        d.file
            .read_exact_at(&mut self.frame, offset)
            .map_err(|e| with_path(e, "read", &path))?;
        // The last frame of a table read while collectord wrote may be
        // followed by more: cut at the frame's own end.
        let frame_len = zstd::zstd_safe::find_frame_compressed_size(&self.frame)
            .map_err(|code| bad(zstd::zstd_safe::get_error_name(code).to_owned()))?;
        self.frame.truncate(frame_len);
        let size = zstd::zstd_safe::get_frame_content_size(&self.frame)
            .ok()
            .flatten()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| bad("the frame does not say its size".into()))?;
        let id = frame_dict_id(&self.frame);
        if !self.decompressors.contains_key(&(day, id)) {
            let decompressor = if id == 0 {
                zstd::bulk::Decompressor::new()?
            } else {
                let dict_path = self.dir.join(dict_name(day, id));
                let dict =
                    std::fs::read(&dict_path).map_err(|e| with_path(e, "read", &dict_path))?;
                zstd::bulk::Decompressor::with_dictionary(&dict)?
            };
            self.decompressors.insert((day, id), decompressor);
        }
        let mut data = Vec::with_capacity(size);
        self.decompressors
            .get_mut(&(day, id))
            .expect("inserted above")
            .decompress_to_buffer(&self.frame, &mut data)
            .map_err(|e| bad(e.to_string()))?;
        let mut starts = Vec::with_capacity(data.len() / 64 + 2);
        starts.push(0);
        starts.extend(memchr_newlines(&data));
        if starts.last() != Some(&(data.len() as u32)) {
            return Err(bad("the block does not end with a newline".into()));
        }
        Ok(Cached {
            data,
            starts,
            used: 0,
        })
    }
}

/// The offsets just after each `\n` of `data`.
fn memchr_newlines(data: &[u8]) -> impl Iterator<Item = u32> + '_ {
    memchr::memchr_iter(b'\n', data).map(|i| (i + 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `blocks` (each a list of lines) to `day`'s files, with `dict`
    /// when given; returns nothing: line numbers follow file order.
    fn write(dir: &Path, day: Day, blocks: &[&[&[u8]]], dict: Option<&[u8]>) {
        let mut file = Vec::new();
        let mut table = Vec::new();
        let mut line = 0;
        let mut c = match dict {
            Some(d) => zstd::bulk::Compressor::with_dictionary(3, d).unwrap(),
            None => zstd::bulk::Compressor::new(3).unwrap(),
        };
        for lines in blocks {
            table.extend(
                Block {
                    first_line: line,
                    offset: file.len() as u64,
                }
                .encode(),
            );
            let mut raw = Vec::new();
            for l in *lines {
                raw.extend_from_slice(l);
                raw.push(b'\n');
                line += 1 + l.iter().filter(|&&b| b == b'\n').count() as u64;
            }
            file.extend(c.compress(&raw).unwrap());
        }
        std::fs::write(dir.join(file_name(day)), file).unwrap();
        std::fs::write(dir.join(table_name(day)), table).unwrap();
        if let Some(d) = dict {
            let id = zstd::zstd_safe::get_dict_id_from_dict(d).unwrap().get();
            std::fs::write(dir.join(dict_name(day, id)), d).unwrap();
        }
    }

    #[test]
    fn names_roundtrip() {
        assert_eq!(file_name(0), "1970-01-01.log.zst");
        let day = day_of(1_764_022_801_000);
        assert_eq!(file_name(day), "2025-11-24.log.zst");
        assert_eq!(parse_file("2025-11-24.log.zst"), Some((day, Kind::Lines)));
        assert_eq!(parse_file("2025-11-24.blocks"), Some((day, Kind::Table)));
        assert_eq!(parse_file(&dict_name(day, 77)), Some((day, Kind::Dict(77))));
        assert_eq!(parse_name("2025-11-24.blocks"), None);
        assert_eq!(parse_file("2025-11-24.log.gz"), None);
        assert_eq!(parse_file("2025-11-24.x.dict"), None);
        assert_eq!(parse_file("notes.txt"), None);
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn lines_come_back_from_any_block_byte_exact() {
        // logq prints a line from the archive: it must be the line that was
        // received, whatever bytes it holds, from whichever block.
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            7,
            &[
                &[b"first", b"", b"\xff\x00 binary"],
                &[b"two\nlines", b"last"],
            ],
            None,
        );
        let mut r = ArchiveReader::new(dir.path());
        let at = |line, breaks| Location { line, breaks };
        assert_eq!(r.line(7, at(5, 0)).unwrap(), b"last");
        assert_eq!(r.line(7, at(0, 0)).unwrap(), b"first");
        assert_eq!(r.line(7, at(1, 0)).unwrap(), b"");
        assert_eq!(r.line(7, at(2, 0)).unwrap(), b"\xff\x00 binary");
        assert_eq!(r.line(7, at(3, 1)).unwrap(), b"two\nlines");
        // Past the end, or a day without files: an error, not a wrong line.
        assert!(r.line(7, at(6, 0)).is_err());
        assert!(r.line(7, at(5, 1)).is_err());
        let gone = r.line(8, at(0, 0)).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        assert!(gone.to_string().contains("1970-01-09.log.zst"), "{gone}");
    }

    #[test]
    fn blocks_with_a_dictionary_read_back() {
        // Blocks compressed with the day's dictionary must read back with
        // the dictionary file their frame names.
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("Nov 24 22:20:01 web{} sshd[{i}]: Failed password for root from 203.0.113.{} port {i} ssh2", i % 7, i % 200).into_bytes())
            .collect();
        let sizes: Vec<usize> = lines.iter().map(Vec::len).collect();
        let dict = zstd::dict::from_continuous(&lines.concat(), &sizes, 8 * 1024).unwrap();
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let blocks: Vec<&[&[u8]]> = refs.chunks(30).collect();
        write(dir.path(), 9, &blocks, Some(&dict));
        let mut r = ArchiveReader::new(dir.path());
        for (i, l) in lines.iter().enumerate().rev() {
            let got = r
                .line(
                    9,
                    Location {
                        line: i as u64,
                        breaks: 0,
                    },
                )
                .unwrap();
            assert_eq!(&got, l);
        }
    }

    #[test]
    fn a_table_read_before_new_blocks_is_read_again() {
        // `logq -f` keeps its reader while collectord appends blocks: a
        // line in a block the reader's table does not list yet must still
        // be found.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 3, &[&[b"a", b"b"]], None);
        let mut r = ArchiveReader::new(dir.path());
        assert_eq!(r.line(3, Location { line: 1, breaks: 0 }).unwrap(), b"b");
        write(dir.path(), 3, &[&[b"a", b"b"], &[b"c"]], None);
        assert_eq!(r.line(3, Location { line: 2, breaks: 0 }).unwrap(), b"c");
    }
}
