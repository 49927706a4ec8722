//! Reading the stored lines back in time order, for training the detectors
//! (`collectord train` and the daemon's retraining): the engine's walk,
//! the same one logq prints with, in bounded memory.

use std::ops::Range;
use std::path::Path;

use logcore::query::{Expr, Filters};
use logcore::record::{Record, Want};
use logstore::Reader;

/// Lines a training reads at most (the newest of the range).
pub const MAX_LINES: usize = 20_000_000;

/// Whether the store in `data_dir` holds any line (a training has
/// something to read); `false` when it cannot be read.
pub fn has_lines(data_dir: &Path) -> bool {
    Reader::open(data_dir).is_ok_and(|r| r.snapshot().num_lines() > 0)
}

/// Calls `f` with every record whose event time is in `range`, oldest
/// first (at most `max_lines`, the newest); returns how many.
pub fn for_each(
    data_dir: &Path,
    range: Range<i64>,
    max_lines: usize,
    mut f: impl FnMut(&Record),
) -> anyhow::Result<u64> {
    let reader = Reader::open(data_dir)?;
    let filters = Filters {
        since_ms: Some(range.start),
        until_ms: Some(range.end),
        ..Filters::default()
    };
    let plan = reader.plan(&Expr::All, &filters, false)?;
    let snapshot = reader.snapshot();
    let mut lines = reader.lines();
    let (_, total) = snapshot.count(&plan, None, &mut lines)?;
    // The oldest lines past `max_lines` are skipped.
    let mut skip = total.saturating_sub(max_lines as u64);
    let mut n = 0u64;
    snapshot.walk_matches(&plan, false, &mut lines, Want::All, |_, record| {
        if skip > 0 {
            skip -= 1;
            return Ok(true);
        }
        n += 1;
        f(&record);
        Ok(true)
    })?;
    Ok(n)
}
