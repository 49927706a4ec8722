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

/// The event time of the newest line stored at or before `until_ms` (lines
/// a clock put in the future do not count); `None` when there is none.
/// Training ranges end here, not at the wall clock: logs shipped late (an
/// agent catching up on a file, an archive imported) are history too.
pub fn newest_ms(data_dir: &Path, until_ms: i64) -> anyhow::Result<Option<i64>> {
    let reader = Reader::open(data_dir)?;
    let filters = Filters {
        until_ms: Some(until_ms),
        ..Filters::default()
    };
    let plan = reader.plan(&Expr::All, &filters, false)?;
    let mut newest = None;
    reader.snapshot().walk(&plan, true, |hit| {
        newest = Some(hit.event);
        Ok(false)
    })?;
    Ok(newest)
}

/// The training range: the `days` before the newest line (at or before
/// `now_ms`), that line included; `None` when nothing is stored.
pub fn training_range(
    data_dir: &Path,
    days: u32,
    now_ms: i64,
) -> anyhow::Result<Option<Range<i64>>> {
    Ok(newest_ms(data_dir, now_ms.saturating_add(1))?
        .map(|newest| newest - i64::from(days) * 86_400_000..newest.saturating_add(1)))
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
