//! Which days of lines to delete, as a pure function of the clock and the
//! sizes on disk (the writer applies it at start and hourly: it deletes the
//! index documents received before the cutoff, commits, then deletes the
//! archive files).
//!
//! - `retention-days = N` keeps today and the N days before it: a day goes
//!   once all of it is more than N days old.
//! - `retention-bytes = B` deletes oldest days until archive + index fit in
//!   B. The index share of a day is estimated in proportion to its archive
//!   file (index bytes per day are not known separately). The newest day
//!   is never deleted for size.

use crate::archive::Day;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// 0: keep forever.
    pub days: u32,
    /// 0: no limit.
    pub bytes: u64,
}

/// The first day to keep, when some of `days` (day, archive bytes; oldest
/// first) must go; `None` when nothing is to be deleted.
pub fn cutoff(policy: Policy, today: Day, days: &[(Day, u64)], index_bytes: u64) -> Option<Day> {
    let mut cut = Day::MIN;
    if policy.days > 0 {
        cut = today - Day::from(policy.days);
    }
    if policy.bytes > 0 && !days.is_empty() {
        let archive: u64 = days.iter().map(|d| d.1).sum();
        let share = |bytes: u64| {
            if archive == 0 {
                0
            } else {
                bytes + (u128::from(bytes) * u128::from(index_bytes) / u128::from(archive)) as u64
            }
        };
        let mut total = archive + index_bytes;
        let mut remaining: Vec<(Day, u64)> = Vec::with_capacity(days.len());
        for &(day, bytes) in days {
            if day < cut {
                total = total.saturating_sub(share(bytes));
            } else {
                remaining.push((day, bytes));
            }
        }
        let mut i = 0;
        while total > policy.bytes && i + 1 < remaining.len() {
            total = total.saturating_sub(share(remaining[i].1));
            i += 1;
        }
        if i > 0 {
            cut = cut.max(remaining[i].0);
        }
    }
    days.iter().any(|d| d.0 < cut).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Day = 20_000;

    fn days(sizes: &[(Day, u64)]) -> Vec<(Day, u64)> {
        sizes.to_vec()
    }

    #[test]
    fn keeps_today_and_n_days_before() {
        // With retention-days = 30 an operator expects 30 full days of
        // history, not 29, and nothing older.
        let d = days(&[(TODAY - 31, 1), (TODAY - 30, 1), (TODAY - 1, 1), (TODAY, 1)]);
        let p = Policy { days: 30, bytes: 0 };
        assert_eq!(cutoff(p, TODAY, &d, 0), Some(TODAY - 30));
        // The next day, the 30-days-ago file goes too.
        assert_eq!(cutoff(p, TODAY + 1, &d, 0), Some(TODAY - 29));
    }

    #[test]
    fn nothing_to_delete() {
        let d = days(&[(TODAY - 3, 100), (TODAY, 100)]);
        assert_eq!(cutoff(Policy { days: 30, bytes: 0 }, TODAY, &d, 50), None);
        assert_eq!(
            cutoff(
                Policy {
                    days: 30,
                    bytes: 1000
                },
                TODAY,
                &d,
                50
            ),
            None
        );
        assert_eq!(
            cutoff(Policy { days: 0, bytes: 0 }, TODAY, &d, 1 << 40),
            None
        );
        assert_eq!(cutoff(Policy { days: 1, bytes: 0 }, TODAY, &[], 0), None);
    }

    #[test]
    fn retention_days_zero_keeps_forever() {
        let d = days(&[(0, 1), (TODAY, 1)]);
        assert_eq!(cutoff(Policy { days: 0, bytes: 0 }, TODAY, &d, 0), None);
    }

    #[test]
    fn bytes_limit_deletes_oldest_days_first() {
        // Disk full is worse than losing the oldest logs: the limit wins, oldest first.
        // 4 days of 100 archive bytes; the index is as big as the archive,
        // so each day costs about 200.
        let d = days(&[
            (TODAY - 3, 100),
            (TODAY - 2, 100),
            (TODAY - 1, 100),
            (TODAY, 100),
        ]);
        let p = Policy {
            days: 0,
            bytes: 450,
        };
        assert_eq!(cutoff(p, TODAY, &d, 400), Some(TODAY - 1));
        let p = Policy {
            days: 0,
            bytes: 800,
        };
        assert_eq!(cutoff(p, TODAY, &d, 400), None);
    }

    #[test]
    fn bytes_limit_never_deletes_the_newest_day() {
        let d = days(&[(TODAY - 1, 100), (TODAY, 1000)]);
        assert_eq!(
            cutoff(Policy { days: 0, bytes: 10 }, TODAY, &d, 1000),
            Some(TODAY)
        );
        let d = days(&[(TODAY, 1000)]);
        assert_eq!(cutoff(Policy { days: 0, bytes: 10 }, TODAY, &d, 1000), None);
    }

    #[test]
    fn both_limits_take_the_later_cutoff() {
        let d = days(&[
            (TODAY - 40, 100),
            (TODAY - 2, 100),
            (TODAY - 1, 100),
            (TODAY, 100),
        ]);
        let p = Policy {
            days: 30,
            bytes: 250,
        };
        // Days: the -40 file goes; bytes: 300 archive + 0 index left > 250, so -2 goes too.
        assert_eq!(cutoff(p, TODAY, &d, 0), Some(TODAY - 1));
    }
}
