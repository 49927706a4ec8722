//! What logq does with the hits: print them (all, the newest N, with
//! context, following new ones) or count them.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Duration;

use anyhow::Result;
use logcore::record::Want;
use logstore::{CountBy, Hit, Lines, Neighbours, Plan, Reader};

use crate::cli::{By, Output};
use crate::ordered;
use crate::output::{LineKind, Printer};

/// Hits read back and formatted by one worker at a time: large enough that
/// handing a batch over costs little beside it (about 2 ms of work), small
/// enough that the batches in flight stay well under a megabyte each.
const BATCH: usize = 2048;

/// How often `--follow` looks for a new commit. collectord commits at most
/// every 100 ms under load and within its commit interval otherwise.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub struct Job<W: Write> {
    reader: Reader,
    plan: Rc<Plan>,
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
        reader: Reader,
        plan: Plan,
        printer: Printer<W>,
        context: (usize, usize),
        format: Output,
    ) -> Job<W> {
        let shown = match format {
            Output::Raw => Want::Line,
            Output::Short => Want::Shown,
            Output::Json => Want::All,
        };
        let want = plan.read(shown);
        Job {
            want,
            lines: reader.lines(),
            reader,
            plan: Rc::new(plan),
            printer,
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
        let mut record = self.lines.record(self.reader.snapshot(), hit, self.want)?;
        if self.plan.needs_check() && !self.plan.matches_hit(&record) {
            return Ok(None);
        }
        self.plan.flag(&mut record);
        Ok(Some(record))
    }

    /// Prints every match, in time order or reversed: without context,
    /// read back and formatted on every core (see [`crate::ordered`]).
    pub fn all(&mut self, reverse: bool) -> Result<()> {
        if self.context == (0, 0) {
            return self.all_on_every_core(reverse, ordered::workers(), BATCH);
        }
        let (snapshot, plan) = (self.reader.snapshot().clone(), self.plan.clone());
        snapshot.walk(&plan, reverse, |hit| {
            if let Some(record) = self.checked(&hit)? {
                self.print_match(&hit, &record)?;
            }
            Ok(true)
        })
    }

    /// [`Job::all`] without context: each batch of `batch` hits goes to
    /// `workers` threads, each with its own archive reader and printer,
    /// each reading and formatting the hits of its archive stretches
    /// ([`Lines::stretch`]); their lines are merged back in hit order.
    pub fn all_on_every_core(&mut self, reverse: bool, workers: usize, batch: usize) -> Result<()> {
        let snapshot = self.reader.snapshot().clone();
        let (plan, want, reader) = (&*self.plan, self.want, &self.reader);
        let template = self.printer.sibling(Vec::new());
        let (printer, matched) = (&mut self.printer, &mut self.matched);
        ordered::run(
            workers,
            batch,
            |push| {
                snapshot.walk(plan, reverse, |hit| {
                    push(hit)?;
                    Ok(true)
                })
            },
            || (reader.lines(), template.sibling(Vec::new())),
            |(lines, out): &mut (Lines, Printer<Vec<u8>>), share, hits: &[Hit]| {
                let mut ends = Vec::new();
                for (i, hit) in hits.iter().enumerate() {
                    if share.workers > 1 && !share.owns(lines.stretch(&snapshot, hit)?) {
                        continue;
                    }
                    let mut record = lines.record(&snapshot, hit, want)?;
                    if plan.needs_check() && !plan.matches_hit(&record) {
                        continue;
                    }
                    plan.flag(&mut record);
                    out.record(&record, LineKind::Match)?;
                    ends.push((i, out.written()));
                }
                Ok(Formatted {
                    bytes: out.take(),
                    ends,
                })
            },
            |shares| {
                *matched += shares.iter().map(|s| s.ends.len() as u64).sum::<u64>();
                write_in_order(printer, &shares)
            },
        )
    }

    /// Prints the newest `n` matches, oldest first unless `reverse`.
    pub fn newest(&mut self, n: u64, reverse: bool) -> Result<()> {
        let (snapshot, plan) = (self.reader.snapshot().clone(), self.plan.clone());
        let mut kept = Vec::new();
        if n > 0 {
            snapshot.walk(&plan, true, |hit| {
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
        let mut seen = self.reader.snapshot().seen()?;
        self.printer.flush()?;
        loop {
            std::thread::sleep(FOLLOW_POLL);
            if !self.reader.refresh()? {
                continue;
            }
            self.lines = self.reader.lines();
            self.neighbours = None;
            let snapshot = self.reader.snapshot().clone();
            for hit in snapshot.new_hits(&self.plan, &mut seen)? {
                if let Some(record) = self.checked(&hit)? {
                    self.print_match(&hit, &record)?;
                }
            }
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
        let snapshot = self.reader.snapshot().clone();
        if self.neighbours.is_none() {
            self.neighbours = Some(Neighbours::of(&snapshot)?);
        }
        let neighbours = self.neighbours.as_ref().expect("set above");
        let mut earlier = neighbours.around(&snapshot, hit, before + 1, false)?;
        let later = neighbours.around(&snapshot, hit, after, true)?;
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
        let mut record = self.lines.record(self.reader.snapshot(), hit, Want::All)?;
        self.plan.flag(&mut record);
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

/// One worker's lines of a batch: the bytes, and the hit (its place in the
/// batch) and end of each line in them.
struct Formatted {
    bytes: Vec<u8>,
    ends: Vec<(usize, usize)>,
}

/// Writes the lines of `shares` in the order of their hits.
fn write_in_order<W: Write>(printer: &mut Printer<W>, shares: &[Formatted]) -> Result<()> {
    if let [only] = shares {
        printer.write_formatted(&only.bytes)?;
        return Ok(());
    }
    // Next line and its start, per share.
    let mut next = vec![(0usize, 0usize); shares.len()];
    loop {
        let mut best: Option<(usize, usize)> = None;
        for (s, share) in shares.iter().enumerate() {
            if let Some(&(hit, _)) = share.ends.get(next[s].0) {
                if best.is_none_or(|(h, _)| hit < h) {
                    best = Some((hit, s));
                }
            }
        }
        let Some((_, s)) = best else {
            return Ok(());
        };
        let (line, start) = next[s];
        let end = shares[s].ends[line].1;
        printer.write_formatted(&shares[s].bytes[start..end])?;
        next[s] = (line + 1, end);
    }
}

/// `--count`: the number of matches, or per value of `by`. Returns whether
/// any matched.
pub fn count(reader: &Reader, plan: &Plan, by: Option<By>) -> Result<bool> {
    let by = by.map(|b| match b {
        By::Host => CountBy::Host,
        By::Program => CountBy::Program,
        By::Severity => CountBy::Severity,
    });
    let (counts, total) = reader.snapshot().count(plan, by, &mut reader.lines())?;
    let out = io::BufWriter::new(io::stdout().lock());
    print_counts(out, counts, total, by.is_some())
}

/// Prints the total, or one `VALUE<TAB>N` line per value, most first.
fn print_counts(
    mut out: impl Write,
    counts: BTreeMap<String, u64>,
    total: u64,
    by: bool,
) -> Result<bool> {
    if !by {
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
