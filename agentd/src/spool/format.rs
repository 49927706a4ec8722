//! The spool's on-disk format: segment files of checksummed BATCH frames,
//! and the scan that opens them at start.
//!
//! A segment `FIRST.spool` (FIRST: the id of its first batch, 20 digits, so
//! that names sort as ids do) starts with a 12-byte header, the magic
//! `LOGQSPOL` and the format version (`u32`, big endian). Records follow,
//! appended: the xxh3-64 of the frame (`u64` BE), then the frame itself, a
//! PROTOCOL.md BATCH frame (`u32` length, type, body) whose `batch_seq` is
//! the batch's id in the spool. Ids grow by one from record to record and
//! from segment to segment. The wire codec keeps every record exactly as
//! read (bytes, flags, offsets and spans), and its decoder holds each record
//! to the span rules the collector enforces.
//!
//! A record that is cut short, fails its checksum, does not decode or
//! breaks the id sequence ends what the scan believes: the segment is cut
//! there and later segments are removed. Shipping what comes after a hole
//! would let the collector's high-water marks drop the hole's lines when
//! they are read again from their files.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use logcore::wire::{Frame, WireStream};
use tracing::warn;
use xxhash_rust::xxh3::xxh3_64;

use crate::batch::Batch;

pub const MAGIC: [u8; 8] = *b"LOGQSPOL";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: u64 = 12;
/// Checksum and frame length: what precedes a frame's type byte.
const RECORD_HEAD: u64 = 12;
const SUFFIX: &str = ".spool";

pub fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&VERSION.to_be_bytes());
    h
}

pub fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}{SUFFIX}"))
}

/// Appends the record of batch `id` to `out`. The batch's streams are
/// moved into the frame and back.
pub fn encode(id: u64, batch: &mut Batch, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    let frame = Frame::Batch {
        batch_seq: id,
        read_time_ms: batch.read_time_ms,
        streams: std::mem::take(&mut batch.streams),
    };
    let encoded = frame.encode(out);
    let Frame::Batch { streams, .. } = frame else {
        unreachable!("built as a batch above")
    };
    batch.streams = streams;
    encoded.map_err(|e| format!("cannot encode a batch for the spool: {e}"))?;
    let sum = xxh3_64(&out[start + 8..]);
    out[start..start + 8].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// What is at an offset of a segment.
#[derive(Debug)]
pub enum Record {
    /// A whole batch; `len` is the record's size on disk.
    Batch { id: u64, batch: Batch, len: u64 },
    /// The segment ends here.
    End,
    /// Not a whole, valid record: why.
    Bad(String),
}

/// Reads the record at `offset` of a segment whose valid length is `len`.
pub fn read_record(file: &File, offset: u64, len: u64) -> io::Result<Record> {
    if offset >= len {
        return Ok(Record::End);
    }
    let left = len - offset;
    if left < RECORD_HEAD {
        return Ok(Record::Bad(format!(
            "{left} bytes at the end are too few for a record"
        )));
    }
    let mut head = [0u8; RECORD_HEAD as usize];
    file.read_exact_at(&mut head, offset)?;
    let sum = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
    let frame_len = 4 + u64::from(u32::from_be_bytes(head[8..].try_into().expect("4 bytes")));
    if 8 + frame_len > left {
        return Ok(Record::Bad(format!(
            "a record of {} bytes is cut short at {left}",
            8 + frame_len
        )));
    }
    let mut frame = vec![0u8; frame_len as usize];
    file.read_exact_at(&mut frame, offset + 8)?;
    if xxh3_64(&frame) != sum {
        return Ok(Record::Bad("a record fails its checksum".into()));
    }
    match Frame::decode(&frame) {
        Ok(Frame::Batch {
            batch_seq,
            read_time_ms,
            streams,
        }) => Ok(Record::Batch {
            id: batch_seq,
            batch: batch_of(read_time_ms, streams, batch_seq),
            len: 8 + frame_len,
        }),
        Ok(_) => Ok(Record::Bad("a record holds no batch".into())),
        Err(e) => Ok(Record::Bad(format!("a record does not decode: {e}"))),
    }
}

fn batch_of(read_time_ms: i64, streams: Vec<WireStream>, id: u64) -> Batch {
    let records = streams.iter().flat_map(|s| &s.records);
    let lines = records.clone().count();
    let bytes = records.map(|r| r.line.len()).sum();
    Batch {
        read_time_ms,
        streams,
        lines,
        bytes,
        spool_id: Some(id),
    }
}

/// A segment found at start.
#[derive(Debug)]
pub struct Found {
    pub first: u64,
    /// One past the id of its last batch.
    pub next: u64,
    pub len: u64,
    pub path: PathBuf,
}

/// What the spool directory held at start, cut to its valid prefix.
#[derive(Debug, Default)]
pub struct Scan {
    pub segments: Vec<Found>,
    /// Per stream, the end of its last spooled record.
    pub ends: HashMap<u64, u64>,
    pub batches: u64,
    pub bytes: u64,
}

/// Reads every segment in `dir` in id order, cutting at the first bad
/// record (see the module docs). A segment of another format version is
/// an error: a newer agentd's spool is left alone.
pub fn scan(dir: &Path) -> Result<Scan> {
    let mut names: Vec<(u64, PathBuf)> = Vec::new();
    let entries =
        fs::read_dir(dir).with_context(|| format!("cannot list spool {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list spool {}", dir.display()))?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        names.push((first, entry.path()));
    }
    names.sort();
    let mut out = Scan::default();
    let mut broken: Option<String> = None;
    for (first, path) in names {
        if let Some(why) = &broken {
            warn!(segment = %path.display(), reason = %why, "Removing a spool segment that follows a damaged one; its lines are read again from their files where they still are.");
            remove(&path);
            continue;
        }
        let expected = out.segments.last().map(|s| s.next);
        match scan_segment(&path, first, expected, &mut out.ends)? {
            (Some(found), why) => {
                if found.next == found.first {
                    remove(&path);
                } else {
                    out.batches += found.next - found.first;
                    out.bytes += found.len;
                    out.segments.push(found);
                }
                broken = why;
            }
            (None, why) => {
                remove(&path);
                broken = why;
            }
        }
    }
    Ok(out)
}

/// One segment: its valid prefix (`None` when not even its header is
/// valid) and, when it was cut, why.
fn scan_segment(
    path: &Path,
    first: u64,
    expected: Option<u64>,
    ends: &mut HashMap<u64, u64>,
) -> Result<(Option<Found>, Option<String>)> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open spool segment {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read spool segment {}", path.display()))?
        .len();
    let mut head = [0u8; HEADER_LEN as usize];
    if len < HEADER_LEN || file.read_exact_at(&mut head, 0).is_err() || head[..8] != MAGIC {
        let why = "its header is missing or not a spool's".to_owned();
        warn!(segment = %path.display(), reason = %why, "Removing a damaged spool segment.");
        return Ok((None, Some(why)));
    }
    let version = u32::from_be_bytes(head[8..].try_into().expect("4 bytes"));
    if version != VERSION {
        bail!(
            "spool segment {} has format version {version}; this agentd reads version {VERSION} (a newer agentd wrote it: run that one until the spool is empty, or move the segment away)",
            path.display()
        );
    }
    if expected.is_some_and(|e| e != first) {
        let why = format!(
            "it starts at batch {first}, the segment before ends before batch {}",
            expected.unwrap_or(first)
        );
        warn!(segment = %path.display(), reason = %why, "Removing a spool segment out of sequence.");
        return Ok((None, Some(why)));
    }
    let mut offset = HEADER_LEN;
    let mut next = first;
    let why = loop {
        let record = read_record(&file, offset, len)
            .with_context(|| format!("cannot read spool segment {}", path.display()))?;
        match record {
            Record::End => break None,
            Record::Batch { id, .. } if id != next => {
                break Some(format!("batch {id} where batch {next} should be"))
            }
            Record::Batch { batch, len, .. } => {
                for (stream, end) in batch.ends() {
                    let e = ends.entry(stream).or_insert(end);
                    *e = (*e).max(end);
                }
                offset += len;
                next += 1;
            }
            Record::Bad(why) => break Some(why),
        }
    };
    if let Some(why) = &why {
        warn!(
            segment = %path.display(),
            offset,
            bytes = len - offset,
            reason = %why,
            "Cutting a torn or damaged record off the spool (an agentd or machine crash while writing it); its lines are read again from their files where they still are."
        );
        file.set_len(offset)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot cut spool segment {}", path.display()))?;
    }
    let found = Found {
        first,
        next,
        len: offset,
        path: path.to_owned(),
    };
    Ok((Some(found), why))
}

/// Removes a segment file; a failure other than its absence is logged.
pub fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            warn!(segment = %path.display(), error = %e, "Cannot remove a spool segment.");
        }
    }
}
