//! Counting a plan's matches, in all or per value of a field.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use logcore::record::Want;
use tantivy::columnar::StrColumn;
use tantivy::Searcher;

use crate::lines::Lines;
use crate::plan::Plan;
use crate::schema::names;
use crate::search::{severity_name, CountBy, Snapshot};
use crate::walk;

/// See [`Snapshot::count`].
pub(crate) fn count(
    snapshot: &Snapshot,
    plan: &Plan,
    by: Option<CountBy>,
    lines: &mut Lines,
) -> Result<(BTreeMap<String, u64>, u64)> {
    let searcher = &snapshot.searcher;
    if !plan.needs_check() {
        match by {
            None => {
                let n = searcher
                    .search(&*plan.query, &tantivy::collector::Count)
                    .context("search failed")?;
                return Ok((BTreeMap::new(), n as u64));
            }
            Some(CountBy::Host) => return count_hosts(searcher, plan),
            Some(_) => {}
        }
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let keys = walk::keys(searcher)?;
    let counted = match by {
        Some(CountBy::Program | CountBy::Host) => Want::Shown,
        Some(CountBy::Severity) | None => Want::Line,
    };
    let want = plan.read(counted);
    let mut error = None;
    walk::for_each(
        searcher,
        &*plan.query,
        &walk::all_segments(searcher),
        |ord, _, doc| {
            if error.is_some() {
                return;
            }
            let hit = keys[ord as usize].hit(ord, doc);
            let record = match lines.record(snapshot, &hit, want) {
                Ok(r) => r,
                Err(e) => {
                    error = Some(e);
                    return;
                }
            };
            if plan.needs_check() && !plan.matches_hit(&record) {
                return;
            }
            total += 1;
            let value = match by {
                None => return,
                Some(CountBy::Host) => record.host,
                Some(CountBy::Program) => record.program.unwrap_or_default(),
                Some(CountBy::Severity) => severity_name(record.severity),
            };
            *counts.entry(value).or_default() += 1;
        },
    )?;
    if let Some(e) = error {
        return Err(e);
    }
    Ok((counts, total))
}

/// Counts per host from the host column alone, when the index answer is
/// exact: no line is read back.
fn count_hosts(searcher: &Searcher, plan: &Plan) -> Result<(BTreeMap<String, u64>, u64)> {
    let columns: Vec<Option<StrColumn>> = searcher
        .segment_readers()
        .iter()
        .map(|s| s.fast_fields().str(names::HOST))
        .collect::<tantivy::Result<_>>()?;
    let mut per_ord: Vec<Vec<u64>> = vec![Vec::new(); columns.len()];
    let mut none = 0u64;
    let mut total = 0u64;
    walk::for_each(
        searcher,
        &*plan.query,
        &walk::all_segments(searcher),
        |ord, _, doc| {
            total += 1;
            let host = columns[ord as usize]
                .as_ref()
                .and_then(|c| c.term_ords(doc).next());
            match host {
                Some(h) => {
                    let counts = &mut per_ord[ord as usize];
                    let h = h as usize;
                    if counts.len() <= h {
                        counts.resize(h + 1, 0);
                    }
                    counts[h] += 1;
                }
                None => none += 1,
            }
        },
    )?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    if none > 0 {
        counts.insert(String::new(), none);
    }
    for (column, per) in columns.iter().zip(&per_ord) {
        let Some(column) = column else { continue };
        for (ord, &n) in per.iter().enumerate().filter(|(_, &n)| n > 0) {
            let mut host = String::new();
            column.ord_to_str(ord as u64, &mut host)?;
            *counts.entry(host).or_default() += n;
        }
    }
    Ok((counts, total))
}
