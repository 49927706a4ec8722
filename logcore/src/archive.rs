//! The archive's format, and reading lines back from it.
//!
//! collectord keeps every line once, in the archive: one file per UTC day of
//! receive time, `archive/YYYY-MM-DD.log.gz`, holding each line exactly as
//! received plus `\n`. A file is a sequence of complete gzip members, so
//! `zcat`, `zgrep` and `zless` read it as it is. collectord ends a member
//! once it holds [`MEMBER_BYTES`] of lines, and at every commit, so one
//! member is small and reading any line decompresses one member only.
//!
//! The index does not store the line: each document has the line's
//! [`Location`] (its line number in the file, and where its member starts)
//! in fast fields, and the day is the day of its receive time.
//! [`ArchiveReader`] turns a location back into the line's bytes.
//!
//! Each member's gzip header carries, in an extra subfield `LQ` (RFC 1952
//! 2.3.1.1; `gzip` and `zcat` skip it), the number of the member's first
//! line in the file: with it the reader finds a line in its member.
//!
//! Lines are numbered from 0 as `zcat` shows them, `\n`-terminated (line
//! `n` is `zcat FILE | sed -n "$((n+1))p"`). A line that itself holds `\n`
//! (agentd never sends one, other peers might) spans `breaks + 1` of them;
//! [`Location::breaks`] says how many more.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};

/// A member is ended once its lines (with their `\n`) reach this size, so it
/// holds this much plus at most one line. Reading one line decompresses one
/// member (about 0.3 ms at this size).
pub const MEMBER_BYTES: usize = 128 * 1024;

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

/// The ID of the gzip extra subfield holding a member's first line number.
pub const FIRST_LINE_ID: [u8; 2] = *b"LQ";

/// The gzip header extra field of a member whose first line is line
/// `first_line` of its file: one [`FIRST_LINE_ID`] subfield, a u64 little
/// endian.
pub fn member_extra(first_line: u64) -> Vec<u8> {
    let mut extra = Vec::with_capacity(12);
    extra.extend_from_slice(&FIRST_LINE_ID);
    extra.extend_from_slice(&8u16.to_le_bytes());
    extra.extend_from_slice(&first_line.to_le_bytes());
    extra
}

/// The first line number in a member's extra field, if it has one.
fn first_line_of(mut extra: &[u8]) -> Option<u64> {
    while extra.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([extra[2], extra[3]]));
        let data = extra.get(4..4 + len)?;
        if extra[..2] == FIRST_LINE_ID {
            return Some(u64::from_le_bytes(data.try_into().ok()?));
        }
        extra = &extra[4 + len..];
    }
    None
}

/// Where a line is in its day's archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Byte offset of the gzip member holding the line.
    pub member: u64,
    /// The line's number in the file (the first `\n`-terminated line it
    /// spans), counted from 0.
    pub line: u64,
    /// How many `\n` the line itself holds.
    pub breaks: u64,
}

/// Members kept decompressed. logq reads matches in time order, which is
/// nearly archive order: consecutive lines are mostly in the same member.
const CACHED_MEMBERS: usize = 4;
/// Archive files kept open.
const OPEN_FILES: usize = 16;

struct Member {
    day: Day,
    offset: u64,
    /// The number of its first line in the file.
    first_line: u64,
    data: Vec<u8>,
    /// Where each line starts, and `data.len()` last.
    starts: Vec<usize>,
}

/// Reads lines from the archive directory; see the module documentation.
pub struct ArchiveReader {
    dir: PathBuf,
    files: HashMap<Day, File>,
    /// Most recently used first.
    members: VecDeque<Member>,
}

impl ArchiveReader {
    /// A reader of the archive in `dir` (`data-dir/archive`). Files are
    /// opened when first needed.
    pub fn new(dir: &Path) -> ArchiveReader {
        ArchiveReader {
            dir: dir.to_owned(),
            files: HashMap::new(),
            members: VecDeque::new(),
        }
    }

    /// The bytes of the line at `at` in `day`'s file, without its `\n`.
    pub fn line(&mut self, day: Day, at: Location) -> io::Result<Vec<u8>> {
        let i = match self
            .members
            .iter()
            .position(|m| m.day == day && m.offset == at.member)
        {
            Some(i) => i,
            None => {
                let member = self.load(day, at.member)?;
                if self.members.len() == CACHED_MEMBERS {
                    self.members.pop_back();
                }
                self.members.push_front(member);
                0
            }
        };
        let member = &self.members[i];
        let found = at
            .line
            .checked_sub(member.first_line)
            .and_then(|line| usize::try_from(line).ok())
            .zip(usize::try_from(at.breaks).ok())
            .and_then(|(line, breaks)| {
                let from = *member.starts.get(line)?;
                let to = *member
                    .starts
                    .get(line.checked_add(breaks)?.checked_add(1)?)?;
                member.data.get(from..to - 1)
            })
            .map(<[u8]>::to_vec);
        if i != 0 {
            let m = self.members.remove(i).expect("i is an index of members");
            self.members.push_front(m);
        }
        found.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has no line {} (+{}) in the member at byte {}",
                    self.dir.join(file_name(day)).display(),
                    at.line,
                    at.breaks,
                    at.member
                ),
            )
        })
    }

    /// Decompresses the member at byte `offset` of `day`'s file.
    fn load(&mut self, day: Day, offset: u64) -> io::Result<Member> {
        let path = self.dir.join(file_name(day));
        if !self.files.contains_key(&day) {
            let file = File::open(&path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })?;
            if self.files.len() == OPEN_FILES {
                self.files.clear();
            }
            self.files.insert(day, file);
        }
        let mut file = &self.files[&day];
        let context = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot read the member at byte {offset} of {}: {e}",
                    path.display()
                ),
            )
        };
        file.seek(SeekFrom::Start(offset)).map_err(context)?;
        let mut data = Vec::with_capacity(MEMBER_BYTES + 4096);
        // One member: the decoder stops at its end.
        let mut decoder =
            flate2::bufread::GzDecoder::new(BufReader::with_capacity(32 * 1024, file));
        decoder.read_to_end(&mut data).map_err(context)?;
        let first_line = decoder
            .header()
            .and_then(|h| first_line_of(h.extra()?))
            .ok_or_else(|| {
                context(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no first line number in its gzip header",
                ))
            })?;
        let mut starts = Vec::with_capacity(data.len() / 64);
        starts.push(0);
        starts.extend(
            data.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Ok(Member {
            day,
            offset,
            first_line,
            data,
            starts,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;

    use super::*;

    /// Writes `members` (each a list of lines) to `day`'s file; returns
    /// their offsets.
    fn write(dir: &Path, day: Day, members: &[&[&[u8]]]) -> Vec<u64> {
        let mut file = Vec::new();
        let mut offsets = Vec::new();
        let mut line = 0;
        for lines in members {
            offsets.push(file.len() as u64);
            let mut gz = flate2::GzBuilder::new()
                .extra(member_extra(line))
                .write(Vec::new(), Compression::fast());
            for l in *lines {
                gz.write_all(l).unwrap();
                gz.write_all(b"\n").unwrap();
                line += 1 + l.iter().filter(|&&b| b == b'\n').count() as u64;
            }
            file.extend(gz.finish().unwrap());
        }
        std::fs::write(dir.join(file_name(day)), file).unwrap();
        offsets
    }

    #[test]
    fn extra_field_roundtrip() {
        assert_eq!(first_line_of(&member_extra(1 << 40)), Some(1 << 40));
        // Other subfields first, then ours; truncated fields are not read.
        let mut extra = b"AB\x02\x00xy".to_vec();
        extra.extend(member_extra(5));
        assert_eq!(first_line_of(&extra), Some(5));
        assert_eq!(first_line_of(&extra[..extra.len() - 1]), None);
        assert_eq!(first_line_of(b"LQ\x08\x00"), None);
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
    fn lines_come_back_from_any_member_byte_exact() {
        // logq prints a line from the archive: it must be the line that was
        // received, whatever bytes it holds, from whichever member.
        let dir = tempfile::tempdir().unwrap();
        let offsets = write(
            dir.path(),
            7,
            &[
                &[b"first", b"", b"\xff\x00 binary"],
                &[b"two\nlines", b"last"],
            ],
        );
        let mut r = ArchiveReader::new(dir.path());
        let at = |m: usize, line, breaks| Location {
            member: offsets[m],
            line,
            breaks,
        };
        assert_eq!(r.line(7, at(1, 5, 0)).unwrap(), b"last");
        assert_eq!(r.line(7, at(0, 0, 0)).unwrap(), b"first");
        assert_eq!(r.line(7, at(0, 1, 0)).unwrap(), b"");
        assert_eq!(r.line(7, at(0, 2, 0)).unwrap(), b"\xff\x00 binary");
        assert_eq!(r.line(7, at(1, 3, 1)).unwrap(), b"two\nlines");
        // Outside the member, or a day without a file: an error, not a
        // wrong line.
        assert!(r.line(7, at(0, 3, 0)).is_err());
        assert!(r.line(7, at(1, 2, 0)).is_err());
        assert!(r.line(7, at(1, 5, 1)).is_err());
        let gone = r.line(8, at(0, 0, 0)).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        assert!(gone.to_string().contains("1970-01-09.log.gz"), "{gone}");
    }
}
