//! What logq does with the hits: print them (all, the newest N, with
//! context, following new ones) or count them.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use logcore::record::SEVERITY_NAMES;

use crate::cli::{By, Output};
use crate::lines::{Lines, Neighbours};
use crate::output::{LineKind, Printer};
use crate::search::{Opened, Plan};
use crate::walk::{self, Hit};
use logcore::schema::Want;

/// How often `--follow` looks for a new commit. collectord commits at most
/// every 100 ms under load and within its commit interval otherwise.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub struct Job<W: Write> {
    pub opened: Opened,
    plan: Plan,
    pub printer: Printer<W>,
    lines: Lines,
    /// Lines of context before and after each match.
    context: (usize, usize),
    /// The last line printed, for `--` between groups of context.
    last_printed: Option<Hit>,
    /// Per stream, the offset of the last line printed (context lines are
    /// not printed twice).
    printed_up_to: HashMap<u64, u64>,
    /// The columns `-A/-B/-C` look in, opened at the first match.
    neighbours: Option<Neighbours>,
    /// Matches printed.
    pub matched: u64,
    /// What printing a match needs of its record.
    want: Want,
}

impl<W: Write> Job<W> {
    pub fn new(
        opened: Opened,
        plan: Plan,
        printer: Printer<W>,
        lines: Lines,
        context: (usize, usize),
        format: Output,
    ) -> Job<W> {
        let shown = match format {
            Output::Raw => Want::Line,
            Output::Short => Want::Shown,
            Output::Json => Want::All,
        };
        let want = if plan.needs_check() {
            shown.max(plan.want())
        } else {
            shown
        };
        Job {
            want,
            opened,
            plan,
            printer,
            lines,
            context,
            last_printed: None,
            printed_up_to: HashMap::new(),
            neighbours: None,
            matched: 0,
        }
    }

    /// The record of `hit` when it matches (the index may over-match, see
    /// `search`).
    fn checked(&mut self, hit: &Hit) -> Result<Option<logcore::record::Record>> {
        let record = self.lines.record(&self.opened.searcher, hit, self.want)?;
        if self.plan.needs_check() && !self.plan.matches(&record) {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Prints every match, in time order or reversed.
    pub fn all(&mut self, reverse: bool) -> Result<()> {
        let query = self.plan.query().box_clone();
        let searcher = self.opened.searcher.clone();
        walk::walk(&searcher, &*query, reverse, |hit| {
            if let Some(record) = self.checked(&hit)? {
                self.print_match(&hit, &record)?;
            }
            Ok(true)
        })
    }

    /// Prints the newest `n` matches, oldest first unless `reverse`.
    pub fn newest(&mut self, n: u64, reverse: bool) -> Result<()> {
        let query = self.plan.query().box_clone();
        let searcher = self.opened.searcher.clone();
        let mut kept = Vec::new();
        if n > 0 {
            walk::walk(&searcher, &*query, true, |hit| {
                if let Some(record) = self.checked(&hit)? {
                    kept.push((hit, record));
                }
                Ok((kept.len() as u64) < n)
            })?;
        }
        if !reverse {
            kept.reverse();
        }
        for (hit, record) in kept {
            self.print_match(&hit, &record)?;
        }
        Ok(())
    }

    /// Prints what each new commit adds that matches, until killed.
    pub fn follow(&mut self) -> Result<()> {
        let mut seen = walk::Seen::default();
        seen.update(&self.opened.searcher)?;
        self.printer.flush()?;
        let mut generation = self.opened.searcher.generation().generation_id();
        loop {
            std::thread::sleep(FOLLOW_POLL);
            self.opened
                .reader
                .reload()
                .context("cannot read the index again")?;
            let searcher = self.opened.reader.searcher();
            if searcher.generation().generation_id() == generation {
                continue;
            }
            generation = searcher.generation().generation_id();
            self.opened.searcher = searcher.clone();
            self.lines.reset();
            self.neighbours = None;
            let hits = walk::new_hits(&searcher, self.plan.query(), &mut seen)?;
            for hit in hits {
                if let Some(record) = self.checked(&hit)? {
                    self.print_match(&hit, &record)?;
                }
            }
            seen.update(&searcher)?;
            self.printer.flush()?;
        }
    }

    /// Prints one match, with its context when asked for.
    fn print_match(&mut self, hit: &Hit, record: &logcore::record::Record) -> Result<()> {
        self.matched += 1;
        let (before, after) = self.context;
        if before == 0 && after == 0 {
            self.printer.record(record, LineKind::Match)?;
            return Ok(());
        }
        let done =
            |s: &HashMap<u64, u64>, h: &Hit| s.get(&h.stream).is_some_and(|&o| h.offset <= o);
        // One line more than asked: it says whether the last line printed
        // comes right before this group (no `--` then).
        let searcher = self.opened.searcher.clone();
        if self.neighbours.is_none() {
            self.neighbours = Some(Neighbours::of(&searcher)?);
        }
        let neighbours = self.neighbours.as_ref().expect("set above");
        let schema = &self.opened.schema;
        let mut earlier = neighbours.around(&searcher, schema, hit, before + 1, false)?;
        let later = neighbours.around(&searcher, schema, hit, after, true)?;
        let joins = self.last_printed.is_none_or(|last| {
            last.stream == hit.stream
                && (last.offset >= hit.offset || earlier.iter().any(|h| h.offset == last.offset))
        });
        if !joins {
            self.printer.separator()?;
        }
        if earlier.len() > before {
            earlier.remove(0);
        }
        for h in earlier {
            if !done(&self.printed_up_to, &h) {
                self.context_line(&h)?;
            }
        }
        if !done(&self.printed_up_to, hit) {
            self.printer.record(record, LineKind::Match)?;
            self.mark(hit);
        }
        for h in later {
            if !done(&self.printed_up_to, &h) {
                self.context_line(&h)?;
            }
        }
        Ok(())
    }

    /// Prints a line near a match: as a match itself when it is one.
    fn context_line(&mut self, hit: &Hit) -> Result<()> {
        let record = self
            .lines
            .record(&self.opened.searcher.clone(), hit, Want::All)?;
        let kind = if self.plan.matches(&record) {
            LineKind::Match
        } else {
            LineKind::Context
        };
        self.printer.record(&record, kind)?;
        self.mark(hit);
        Ok(())
    }

    fn mark(&mut self, hit: &Hit) {
        self.printed_up_to.insert(hit.stream, hit.offset);
        self.last_printed = Some(*hit);
    }
}

/// `--count`: the number of matches, or per value of `by`. Returns whether
/// any matched.
pub fn count(opened: &Opened, plan: &Plan, data_dir: &Path, by: Option<By>) -> Result<bool> {
    let searcher = &opened.searcher;
    let mut out = io::BufWriter::new(io::stdout().lock());
    if !plan.needs_check() && by.is_none() {
        let n = searcher
            .search(plan.query(), &tantivy::collector::Count)
            .context("search failed")?;
        writeln!(out, "{n}")?;
        out.flush()?;
        return Ok(n > 0);
    }
    if !plan.needs_check() {
        if let Some(By::Host) = by {
            let (counts, total) = count_hosts(searcher, plan)?;
            return print_counts(out, counts, total, by);
        }
    }
    let mut lines = Lines::new(&opened.schema, &data_dir.join("archive"));
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let keys = walk::keys(searcher)?;
    let mut error = None;
    walk::for_each(
        searcher,
        plan.query(),
        &walk::all_segments(searcher),
        |ord, _, doc| {
            if error.is_some() {
                return;
            }
            let hit = keys[ord as usize].hit(ord, doc);
            let counted = match by {
                Some(By::Program | By::Host) => Want::Shown,
                Some(By::Severity) | None => Want::Line,
            };
            let want = if plan.needs_check() {
                counted.max(plan.want())
            } else {
                counted
            };
            let record = match lines.record(searcher, &hit, want) {
                Ok(r) => r,
                Err(e) => {
                    error = Some(e);
                    return;
                }
            };
            if plan.needs_check() && !plan.matches(&record) {
                return;
            }
            total += 1;
            let value = match by {
                None => return,
                Some(By::Host) => record.host,
                Some(By::Program) => record.program.unwrap_or_default(),
                Some(By::Severity) => record
                    .severity
                    .and_then(|s| SEVERITY_NAMES.get(usize::from(s)))
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            };
            *counts.entry(value).or_default() += 1;
        },
    )?;
    if let Some(e) = error {
        return Err(e);
    }
    print_counts(out, counts, total, by)
}

/// `--count --by host` from the host column alone, when the index answer
/// is exact: no line is read back.
fn count_hosts(searcher: &tantivy::Searcher, plan: &Plan) -> Result<(BTreeMap<String, u64>, u64)> {
    let columns: Vec<Option<tantivy::columnar::StrColumn>> = searcher
        .segment_readers()
        .iter()
        .map(|s| s.fast_fields().str(logcore::schema::names::HOST))
        .collect::<tantivy::Result<_>>()?;
    let mut per_ord: Vec<Vec<u64>> = vec![Vec::new(); columns.len()];
    let mut none = 0u64;
    let mut total = 0u64;
    walk::for_each(
        searcher,
        plan.query(),
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

/// Prints the total, or one `VALUE<TAB>N` line per value, most first.
fn print_counts(
    mut out: impl Write,
    counts: BTreeMap<String, u64>,
    total: u64,
    by: Option<By>,
) -> Result<bool> {
    if by.is_none() {
        writeln!(out, "{total}")?;
    } else {
        let mut rows: Vec<(String, u64)> = counts.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (value, n) in rows {
            let value = if value.is_empty() {
                "-".to_owned()
            } else {
                value
            };
            crate::output::write_escaped(&mut out, value.as_bytes())?;
            writeln!(out, "\t{n}")?;
        }
    }
    out.flush()?;
    Ok(total > 0)
}
