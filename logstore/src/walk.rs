//! Walks the index's answer to a query in time order, in bounded memory.
//!
//! Order: event time, then receive time, then stream, then offset (so one
//! file's lines come in file order when their stamps tie). Hits are sorted
//! in memory up to [`WINDOW_HITS`] at a time (40 bytes each): a larger
//! answer is cut into windows of event time from a histogram made on a
//! first pass, and each window is searched and sorted on its own, so
//! printing ten million lines needs no more memory than printing a
//! quarter of a million (measured: 76 MiB peak for all 10 million lines
//! of bench-logq's corpus; 102 MiB with windows of a million hits).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use crate::archive::{day_of, Day};
use crate::pages::Pages;
use crate::schema::{names, parse_stream_key};
use anyhow::{Context, Result};
use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, RangeQuery};
use tantivy::{DocId, Searcher, SegmentReader, Term};

/// Hits sorted at once, at most (40 bytes each: 10 MiB). Just above
/// bench-logq's quarter million of a common word, which thus needs one pass.
pub const WINDOW_HITS: usize = 1 << 18;
/// Hits walked between two releases of the index's mapped pages (see
/// [`Pages`]). Reading a hit back touches a page of each of its columns,
/// and a page holds thousands of documents' values: 1,484 hits spread over
/// 10 million lines touched 94% of every segment's fast columns (48 MiB),
/// so what a walk keeps resident grows with the index, not with the hits.
const RELEASE_EVERY: usize = 1 << 12;
/// Buckets of the event-time histogram that cuts large answers.
const HISTOGRAM_BUCKETS: usize = 8192;

/// One hit and its sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub event: i64,
    pub receive: i64,
    pub stream: u64,
    pub offset: u64,
    pub(crate) segment: u32,
    pub(crate) doc: DocId,
}

/// The columns a sort key is read from, for one segment.
pub(crate) struct Keys {
    event: Column<i64>,
    receive: Column<i64>,
    /// The stream column's term ordinals, and the stream id of each.
    stream: Option<StrColumn>,
    streams: Vec<u64>,
    offset: Column<u64>,
}

impl Keys {
    pub(crate) fn of(segment: &SegmentReader) -> Result<Keys> {
        let ff = segment.fast_fields();
        let stream = ff.str(names::STREAM).context("stream column")?;
        Ok(Keys {
            event: ff.i64(names::EVENT_TIME).context("event_time column")?,
            receive: ff.i64(names::RECEIVE_TIME).context("receive_time column")?,
            streams: match &stream {
                Some(column) => stream_ids(column)?,
                None => Vec::new(),
            },
            stream,
            offset: ff.u64(names::OFFSET).context("offset column")?,
        })
    }

    pub(crate) fn hit(&self, segment: u32, doc: DocId) -> Hit {
        Hit {
            event: self.event.first(doc).unwrap_or_default(),
            receive: self.receive.first(doc).unwrap_or_default(),
            stream: self
                .stream
                .as_ref()
                .and_then(|c| c.term_ords(doc).next())
                .and_then(|ord| self.streams.get(ord as usize).copied())
                .unwrap_or_default(),
            offset: self.offset.first(doc).unwrap_or_default(),
            segment,
            doc,
        }
    }
}

/// The stream id of each term ordinal of a segment's stream column (a
/// segment holds few streams).
fn stream_ids(column: &StrColumn) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    let mut terms = column.dictionary().stream().context("stream column")?;
    while terms.advance() {
        let key = std::str::from_utf8(terms.key()).unwrap_or_default();
        ids.push(parse_stream_key(key).unwrap_or_default());
    }
    Ok(ids)
}

/// Calls `f` with each live document of `segments` that `query` matches.
pub(crate) fn for_each(
    searcher: &Searcher,
    query: &dyn Query,
    segments: &[u32],
    mut f: impl FnMut(u32, &SegmentReader, DocId),
) -> Result<()> {
    let weight = query
        .weight(EnableScoring::disabled_from_searcher(searcher))
        .context("search failed")?;
    for &ord in segments {
        let segment = searcher.segment_reader(ord);
        let alive = segment.alive_bitset();
        weight
            .for_each_no_score(segment, &mut |docs| {
                for &doc in docs {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        f(ord, segment, doc);
                    }
                }
            })
            .context("search failed")?;
    }
    Ok(())
}

/// All segment ordinals of `searcher`.
pub(crate) fn all_segments(searcher: &Searcher) -> Vec<u32> {
    (0..searcher.segment_readers().len() as u32).collect()
}

/// The sort-key columns of every segment of `searcher`, by ordinal.
pub(crate) fn keys(searcher: &Searcher) -> Result<Vec<Keys>> {
    searcher.segment_readers().iter().map(Keys::of).collect()
}

/// The hits of `query` in `segments`, sorted; `None` when there are more
/// than `cap`.
fn collect(
    searcher: &Searcher,
    keys: &[Keys],
    query: &dyn Query,
    segments: &[u32],
    cap: usize,
) -> Result<Option<Vec<Hit>>> {
    let mut hits = Vec::new();
    let mut over = false;
    for_each(searcher, query, segments, |ord, _, doc| {
        if over {
            return;
        }
        if hits.len() == cap {
            over = true;
            hits = Vec::new();
            return;
        }
        hits.push(keys[ord as usize].hit(ord, doc));
    })?;
    if over {
        return Ok(None);
    }
    hits.sort_unstable();
    Ok(Some(hits))
}

/// Event-time windows `[from, to)` of at most about `cap` hits each, in
/// time order, from a histogram of the hits' event times.
fn windows(
    searcher: &Searcher,
    keys: &[Keys],
    query: &dyn Query,
    cap: usize,
) -> Result<Vec<(i64, i64)>> {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for (segment, keys) in searcher.segment_readers().iter().zip(keys) {
        if segment.num_docs() > 0 {
            lo = lo.min(keys.event.min_value());
            hi = hi.max(keys.event.max_value());
        }
    }
    if lo > hi {
        return Ok(Vec::new());
    }
    let width = ((hi as i128 - lo as i128) / HISTOGRAM_BUCKETS as i128 + 1) as i64;
    let mut counts = vec![0usize; HISTOGRAM_BUCKETS];
    for_each(searcher, query, &all_segments(searcher), |ord, _, doc| {
        let t = keys[ord as usize].event.first(doc).unwrap_or_default();
        counts[((t - lo) / width) as usize] += 1;
    })?;
    let mut out = Vec::new();
    let mut start = lo;
    let mut n = 0;
    for (i, &c) in counts.iter().enumerate() {
        if n > 0 && n + c > cap {
            let end = lo + i as i64 * width;
            out.push((start, end));
            start = end;
            n = 0;
        }
        n += c;
    }
    out.push((start, hi.saturating_add(1)));
    Ok(out)
}

/// The hits of `query`, in order (or reverse order), a window at a time:
/// `f` gets each hit and says whether to go on.
///
/// The index pages mapped are released (`pages`) once each window's hits
/// are sorted and every [`RELEASE_EVERY`] hits after.
pub(crate) fn walk(
    searcher: &Searcher,
    query: &dyn Query,
    reverse: bool,
    pages: &Pages,
    mut f: impl FnMut(Hit) -> Result<bool>,
) -> Result<()> {
    let mut each = |hits: Vec<Hit>| -> Result<bool> {
        pages.release();
        let n = hits.len();
        for i in 0..n {
            if i % RELEASE_EVERY == RELEASE_EVERY - 1 {
                pages.release();
            }
            if !f(hits[if reverse { n - 1 - i } else { i }])? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let segments = all_segments(searcher);
    let keys = keys(searcher)?;
    if let Some(hits) = collect(searcher, &keys, query, &segments, WINDOW_HITS)? {
        each(hits)?;
        return Ok(());
    }
    let mut windows = windows(searcher, &keys, query, WINDOW_HITS)?;
    if reverse {
        windows.reverse();
    }
    for (from, to) in windows {
        let within: Box<dyn Query> = Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(
                searcher.schema().get_field(names::EVENT_TIME)?,
                from,
            )),
            Bound::Excluded(Term::from_field_i64(
                searcher.schema().get_field(names::EVENT_TIME)?,
                to,
            )),
        ));
        let q = BooleanQuery::new(vec![
            (Occur::Must, query.box_clone()),
            (Occur::Must, within),
        ]);
        let hits = collect(searcher, &keys, &q, &segments, usize::MAX)?.expect("no cap");
        if !each(hits)? {
            break;
        }
    }
    Ok(())
}

/// What `logq -f` has already seen: the highest archive line number of each
/// day among all documents of the last searcher, and the segments that are
/// wholly below it. collectord numbers a day's lines in commit order, so
/// the documents a later commit adds are exactly those above these marks,
/// whatever segments merges make.
#[derive(Default)]
pub struct Seen {
    marks: HashMap<Day, u64>,
    /// Per segment, each day's highest line.
    segments: HashMap<SegmentId, BTreeMap<Day, u64>>,
}

impl Seen {
    /// Per day, the highest line of `segment`'s live documents.
    fn highest(segment: &SegmentReader) -> Result<BTreeMap<Day, u64>> {
        let ff = segment.fast_fields();
        let receive = ff.i64(names::RECEIVE_TIME)?;
        let line = ff.u64(names::ARCHIVE_LINE)?;
        let mut out: BTreeMap<Day, u64> = BTreeMap::new();
        for doc in segment.doc_ids_alive() {
            let day = day_of(receive.first(doc).unwrap_or_default());
            let l = line.first(doc).unwrap_or_default();
            let e = out.entry(day).or_insert(l);
            *e = (*e).max(l);
        }
        Ok(out)
    }

    /// Records everything `searcher` holds as seen.
    pub(crate) fn update(&mut self, searcher: &Searcher) -> Result<()> {
        let mut live = HashSet::new();
        for segment in searcher.segment_readers() {
            let id = segment.segment_id();
            live.insert(id);
            if let Entry::Vacant(e) = self.segments.entry(id) {
                e.insert(Self::highest(segment)?);
            }
            for (day, &l) in &self.segments[&id] {
                let e = self.marks.entry(*day).or_insert(l);
                *e = (*e).max(l);
            }
        }
        self.segments.retain(|id, _| live.contains(id));
        Ok(())
    }

    /// The segments of `searcher` that may hold documents not yet seen.
    pub(crate) fn unseen_segments(&mut self, searcher: &Searcher) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let id = segment.segment_id();
            if let Entry::Vacant(e) = self.segments.entry(id) {
                e.insert(Self::highest(segment)?);
            }
            let new = self.segments[&id]
                .iter()
                .any(|(day, &l)| self.marks.get(day).is_none_or(|&m| l > m));
            if new {
                out.push(ord as u32);
            }
        }
        Ok(out)
    }

    /// Whether the document (its receive time and line) is new.
    pub(crate) fn is_new(&self, receive_ms: i64, line: u64) -> bool {
        self.marks
            .get(&day_of(receive_ms))
            .is_none_or(|&m| line > m)
    }
}

/// The new hits of `query` in `searcher` (not seen by `seen`), sorted.
pub(crate) fn new_hits(
    searcher: &Searcher,
    query: &dyn Query,
    seen: &mut Seen,
) -> Result<Vec<Hit>> {
    let segments = seen.unseen_segments(searcher)?;
    let mut hits = Vec::new();
    let mut columns: HashMap<u32, (Keys, Column<i64>, Column<u64>)> = HashMap::new();
    for &ord in &segments {
        let s = searcher.segment_reader(ord);
        let ff = s.fast_fields();
        columns.insert(
            ord,
            (
                Keys::of(s)?,
                ff.i64(names::RECEIVE_TIME)?,
                ff.u64(names::ARCHIVE_LINE)?,
            ),
        );
    }
    for_each(searcher, query, &segments, |ord, _, doc| {
        let (keys, receive, line) = &columns[&ord];
        let r = receive.first(doc).unwrap_or_default();
        let l = line.first(doc).unwrap_or_default();
        if seen.is_new(r, l) {
            hits.push(keys.hit(ord, doc));
        }
    })?;
    hits.sort_unstable();
    Ok(hits)
}
