//! The archive's files on disk: appending with fsync, and what to do with
//! a file that is not what the last commit says.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, Context};
use tracing::error;

use super::read::{dict_name, file_name, Block, Day, Kind, TABLE_ENTRY};
use super::write::Committed;

/// How many lines the last block of a lines file holds (for a file adopted
/// without a commit).
pub(super) fn lines_in_last_block(dir: &Path, day: Day, table: &[Block]) -> anyhow::Result<u64> {
    let Some(last) = table.last() else {
        return Ok(0);
    };
    // The last frame only, not the whole day.
    let mut file = File::open(dir.join(file_name(day)))?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(last.offset))?;
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes)?;
    let frame = &bytes[..];
    anyhow::ensure!(!frame.is_empty(), "the block table points past the file");
    let id = super::read::frame_dict_id(frame);
    let mut d = if id == 0 {
        zstd::bulk::Decompressor::new()?
    } else {
        zstd::bulk::Decompressor::with_dictionary(&fs::read(dir.join(dict_name(day, id)))?)?
    };
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(frame)
        .map_err(|_| anyhow::anyhow!("the last block is not a zstd frame"))?;
    let raw = d.decompress(&frame[..frame_len], 64 << 20)?;
    Ok(last.first_line + raw.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// An archive file shorter than the last commit says (cut by hand, a
/// restored backup, a file system repair): the lines in its missing part
/// are lost, but the day must go on taking lines, or every write to it
/// would fail until midnight UTC. The file is brought back to its
/// committed length, so that new blocks go where the index expects them:
/// the lines file with zeros (a hole; the blocks that were there read as
/// damaged), the block table with entries that point at the next block
/// to be written (so a line of the missing part finds no block of its
/// own, and a new line finds its block).
pub(super) fn pad_damaged(
    path: &Path,
    kind: Kind,
    len: u64,
    want: Committed,
) -> anyhow::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match kind {
        Kind::Lines => {
            file.set_len(want.bytes)
                .with_context(|| format!("cannot extend {}", path.display()))?;
        }
        Kind::Table => {
            let entry = TABLE_ENTRY as u64;
            let whole = len / entry * entry;
            file.set_len(whole)
                .with_context(|| format!("cannot truncate {}", path.display()))?;
            let filler = Block {
                first_line: want.lines,
                offset: want.bytes,
            }
            .encode();
            let missing = (want.blocks * entry - whole) / entry;
            let mut bytes = Vec::with_capacity((missing * entry) as usize);
            for _ in 0..missing {
                bytes.extend_from_slice(&filler);
            }
            let mut file = file;
            io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
            file.write_all(&bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.sync_all()?;
            return log_damage(path, len, want);
        }
        Kind::Dict(_) => return Ok(()),
    }
    file.sync_all()?;
    log_damage(path, len, want)
}

fn log_damage(path: &Path, len: u64, want: Committed) -> anyhow::Result<()> {
    error!(
        file = %path.display(),
        have = len,
        committed = want.bytes.max(want.blocks * TABLE_ENTRY as u64),
        "An archive file is shorter than the last commit says (changed outside collectord): the lines in its missing part are lost and read as damaged; it was brought back to its committed length so that new lines are stored after it."
    );
    Ok(())
}

/// Appends `bytes` to `path`, which must be `expected` bytes long, and
/// fsyncs it.
pub(super) fn append_synced(path: &Path, expected: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let before = file.metadata()?.len();
    if before != expected {
        // The locations handed out would be wrong. A restart cuts the file
        // back to its committed length.
        bail!(
            "{} is {before} bytes long, {expected} were expected: it was changed outside collectord",
            path.display()
        );
    }
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_data()
        .with_context(|| format!("cannot fsync {}", path.display()))?;
    Ok(())
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
