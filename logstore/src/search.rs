//! Reading the store: open it, plan a query, and walk, count or follow
//! its answer. Everything a front end (logq, collectord's history and its
//! HTTP API) needs, without a tantivy type in sight.
//!
//! A [`Reader`] holds the index as of its last [`Reader::refresh`]; a
//! [`Snapshot`] is one such state (cheap to clone), on which walks, counts
//! and context are consistent with each other while collectord commits
//! more. [`Lines`] reads hits back from the archive; [`Neighbours`] finds
//! the lines around a hit; [`Seen`] is what `logq -f` has printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use logcore::query::{Expr, Filters};
use logcore::record::{Want, SEVERITY_NAMES};
use tantivy::{IndexReader, ReloadPolicy, Searcher};

use crate::lines::Lines;
use crate::pages::Pages;
use crate::plan::{self, Plan};
use crate::schema::{self, LogSchema};
use crate::walk::{self, Hit, Seen};

/// The field a count is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountBy {
    Host,
    Program,
    Severity,
}

/// The store of a data directory, open for reading. collectord may be
/// writing it: readers see the last commit and never take the writer's
/// lock.
pub struct Reader {
    schema: LogSchema,
    reader: IndexReader,
    snapshot: Snapshot,
    archive_dir: PathBuf,
}

/// The index as of one commit.
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) schema: LogSchema,
    pub(crate) searcher: Searcher,
    /// The index files mapped, whose pages a walk releases as it goes.
    pub(crate) pages: Pages,
}

impl Reader {
    /// Opens the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Reader> {
        let path = data_dir.join("index");
        let pages = Pages::recording();
        let (index, schema) = schema::open_existing(data_dir, pages.clone())?;
        // Readers lock `.tantivy-meta.lock` for a moment (collectord makes it
        // group-writable); without write access to it nothing can be read.
        let lock = path.join(".tantivy-meta.lock");
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(&lock) {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                anyhow::bail!(
                    "cannot read the index in {}: {} is not writable by you; \
                     searching needs membership in the group that owns the data \
                     directory (adm, when collectord runs from its Debian package)",
                    path.display(),
                    lock.display()
                );
            }
        }
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .with_context(|| format!("cannot read the index in {}", path.display()))?;
        let snapshot = Snapshot {
            schema: schema.clone(),
            searcher: reader.searcher(),
            pages,
        };
        Ok(Reader {
            schema,
            reader,
            snapshot,
            archive_dir: data_dir.join("archive"),
        })
    }

    /// The plan for `expr` under `filters` (see [`crate::plan`]). Fails on
    /// an invalid regular expression or glob.
    pub fn plan(&self, expr: &Expr, filters: &Filters, case_sensitive: bool) -> Result<Plan> {
        plan::plan(expr, filters, case_sensitive, &self.schema)
    }

    /// The index as of the last refresh.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// A reader of hits' lines from the archive.
    pub fn lines(&self) -> Lines {
        Lines::new(&self.schema, &self.archive_dir)
    }

    /// Looks for a new commit; `true` when there is one (the snapshot is
    /// then the new state).
    pub fn refresh(&mut self) -> Result<bool> {
        // A reload maps every segment it uses again, and records it again:
        // forgetting first lets the files of merged segments go.
        self.snapshot.pages.forget();
        self.reader
            .reload()
            .context("cannot read the index again")?;
        let searcher = self.reader.searcher();
        if searcher.generation().generation_id()
            == self.snapshot.searcher.generation().generation_id()
        {
            return Ok(false);
        }
        self.snapshot.searcher = searcher;
        Ok(true)
    }
}

impl Snapshot {
    /// The number of lines stored.
    pub fn num_lines(&self) -> u64 {
        self.searcher.num_docs()
    }

    /// The hits of `plan`'s index query in time order (or reversed), in
    /// bounded memory: `f` gets each and says whether to go on. The hits
    /// may be more than the matches when [`Plan::needs_check`].
    pub fn walk(
        &self,
        plan: &Plan,
        reverse: bool,
        f: impl FnMut(Hit) -> Result<bool>,
    ) -> Result<()> {
        walk::walk(&self.searcher, &*plan.query, reverse, &self.pages, f)
    }

    /// The matches of `plan` in time order (or reversed), read back as
    /// `want` says (and as the check needs): `f` gets each with its record
    /// and says whether to go on.
    pub fn walk_matches(
        &self,
        plan: &Plan,
        reverse: bool,
        lines: &mut Lines,
        want: Want,
        mut f: impl FnMut(Hit, logcore::Record) -> Result<bool>,
    ) -> Result<()> {
        let want = plan.read(want);
        self.walk(plan, reverse, |hit| {
            let record = lines.record(self, &hit, want)?;
            if plan.needs_check() && !plan.matches_hit(&record) {
                return Ok(true);
            }
            f(hit, record)
        })
    }

    /// What `logq -f` starts from: everything in this snapshot seen.
    pub fn seen(&self) -> Result<Seen> {
        let mut seen = Seen::default();
        seen.update(&self.searcher)?;
        Ok(seen)
    }

    /// The hits of `plan` this snapshot holds that `seen` has not, sorted;
    /// then records them all as seen.
    pub fn new_hits(&self, plan: &Plan, seen: &mut Seen) -> Result<Vec<Hit>> {
        let hits = walk::new_hits(&self.searcher, &*plan.query, seen)?;
        seen.update(&self.searcher)?;
        Ok(hits)
    }

    /// The number of matches of `plan`, in all (`by` `None`) or per value
    /// of a field (the map; a line without the field counts under `""`).
    /// Reads lines back only when the index's answer is not exact or the
    /// field is not in a column.
    pub fn count(
        &self,
        plan: &Plan,
        by: Option<CountBy>,
        lines: &mut Lines,
    ) -> Result<(BTreeMap<String, u64>, u64)> {
        crate::count::count(self, plan, by, lines)
    }
}

/// The name of a severity number, as `--count --by severity` prints it.
pub(crate) fn severity_name(s: Option<u8>) -> String {
    s.and_then(|s| SEVERITY_NAMES.get(usize::from(s)))
        .map(|s| s.to_string())
        .unwrap_or_default()
}
