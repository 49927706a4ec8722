//! The archive's zstd dictionaries: the lines kept to train one (the
//! first [`SAMPLE_BYTES`], then a reservoir of each day), the training,
//! and the block compressor that uses one.

use std::io;

use tracing::{info, warn};

/// Lines gathered before the first dictionary is trained.
pub const SAMPLE_BYTES: usize = 2 << 20;
/// Lines kept from a day to train the next day's dictionary.
pub const RESERVOIR_LINES: usize = 16_384;
/// Largest dictionary trained.
pub const DICT_BYTES: usize = 64 * 1024;

/// The dictionary in use.
pub(super) struct Dict {
    pub(super) id: u32,
    pub(super) bytes: Vec<u8>,
}

/// Lines kept to train dictionaries from.
#[derive(Default)]
pub(super) struct Sampler {
    /// Before the first dictionary: the first lines, up to SAMPLE_BYTES.
    pub(super) first: Vec<Vec<u8>>,
    pub(super) first_bytes: usize,
    /// The current day's reservoir.
    pub(super) reservoir: Vec<Vec<u8>>,
    pub(super) seen: u64,
    pub(super) rng: u64,
}

impl Sampler {
    pub(super) fn next_random(&mut self) -> u64 {
        // xorshift64*: the sample need not be secure, only unbiased.
        let mut x = self.rng.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn offer(&mut self, line: &[u8], want_first: bool) {
        if want_first && self.first_bytes < SAMPLE_BYTES {
            self.first_bytes += line.len();
            self.first.push(line.to_vec());
        }
        self.seen += 1;
        if self.reservoir.len() < RESERVOIR_LINES {
            self.reservoir.push(line.to_vec());
        } else {
            let j = self.next_random() % self.seen;
            if let Some(slot) = self.reservoir.get_mut(j as usize) {
                *slot = line.to_vec();
            }
        }
    }
}

/// Trains a dictionary on `lines`; `None` when zstd cannot (too little or
/// too uniform input).
pub(super) fn train(lines: &[Vec<u8>]) -> Option<Dict> {
    let sizes: Vec<usize> = lines.iter().map(Vec::len).collect();
    let bytes = match zstd::dict::from_continuous(&lines.concat(), &sizes, DICT_BYTES) {
        Ok(bytes) => bytes,
        Err(e) => {
            warn!(lines = lines.len(), error = %e, "Could not train an archive dictionary; blocks go without one.");
            return None;
        }
    };
    let id = zstd::zstd_safe::get_dict_id_from_dict(&bytes)?.get();
    info!(
        id,
        bytes = bytes.len(),
        lines = lines.len(),
        "Trained a new archive dictionary."
    );
    Some(Dict { id, bytes })
}

/// The compressor of blocks: `level`, with the lazy match finder and
/// matches of at least 6 bytes (see `store::ARCHIVE_LEVEL` for why).
pub(super) fn compressor(
    level: i32,
    dict: Option<&Dict>,
) -> io::Result<zstd::bulk::Compressor<'static>> {
    use zstd::zstd_safe::{CParameter, Strategy};
    let mut c = match dict {
        Some(d) => zstd::bulk::Compressor::with_dictionary(level, &d.bytes)?,
        None => zstd::bulk::Compressor::new(level)?,
    };
    c.set_parameter(CParameter::Strategy(Strategy::ZSTD_lazy))?;
    c.set_parameter(CParameter::MinMatch(6))?;
    c.include_checksum(true)?;
    c.include_contentsize(true)?;
    c.include_dictid(true)?;
    Ok(c)
}
