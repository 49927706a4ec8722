//! Turns the command line into an index query, and walks the matches in
//! time order.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;

use anyhow::{Context, Result};
use logcore::schema::LogSchema;
use logcore::tokenizer::query_terms;
use tantivy::collector::DocSetCollector;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, Term};

/// What to look for.
#[derive(Debug, Default)]
pub struct Search {
    /// Each entry: a word, or several words that must stand together in
    /// this order (a phrase), matched case-insensitively.
    pub phrases: Vec<String>,
    pub hosts: Vec<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

pub struct Opened {
    pub schema: LogSchema,
    pub searcher: Searcher,
    _reader: IndexReader,
}

/// Opens the index in `data_dir` for reading. collectord may be writing it:
/// tantivy readers see the last commit and never take the writer's lock.
pub fn open(data_dir: &Path) -> Result<Opened> {
    let path = data_dir.join("index");
    if !path.join("meta.json").exists() {
        anyhow::bail!(
            "no index in {} (is this collectord's data directory? see --data-dir)",
            data_dir.display()
        );
    }
    let index = Index::open_in_dir(&path)
        .with_context(|| format!("cannot open the index in {}", path.display()))?;
    let schema = LogSchema::new();
    if index.schema() != schema.schema {
        // Field handles would point at other fields (tantivy panics then).
        anyhow::bail!(
            "the index in {} has another schema than this logq reads (written by another version of collectord)",
            path.display()
        );
    }
    LogSchema::register_tokenizers(&index);
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .with_context(|| format!("cannot read the index in {}", path.display()))?;
    let searcher = reader.searcher();
    Ok(Opened {
        schema,
        searcher,
        _reader: reader,
    })
}

impl Search {
    /// The index query: every word's terms, hosts, and the time range. What
    /// the index cannot say (word order in a phrase) is checked by
    /// [`Search::matches_line`].
    pub fn query(&self, s: &LogSchema) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for phrase in &self.phrases {
            for term in query_terms(phrase) {
                clauses.push((
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(s.message, &term),
                        IndexRecordOption::Basic,
                    )),
                ));
            }
        }
        if !self.hosts.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = self
                .hosts
                .iter()
                .map(|h| -> (Occur, Box<dyn Query>) {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(s.host, h),
                            IndexRecordOption::Basic,
                        )),
                    )
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if self.since_ms.is_some() || self.until_ms.is_some() {
            let bound = |t: Option<i64>, inclusive: bool| match t {
                None => Bound::Unbounded,
                Some(t) if inclusive => Bound::Included(Term::from_field_i64(s.event_time, t)),
                Some(t) => Bound::Excluded(Term::from_field_i64(s.event_time, t)),
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(self.since_ms, true),
                    bound(self.until_ms, false),
                )),
            ));
        }
        if clauses.is_empty() {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Whether the index's answer needs a second look at the line:
    /// phrases of more than one word, and words the index has no terms for
    /// (an ISO time stamp, a fine decimal: see `logcore::tokenizer`).
    pub fn needs_line_check(&self) -> bool {
        self.phrases.iter().any(|p| Self::checked_on_line(p))
    }

    fn checked_on_line(phrase: &str) -> bool {
        phrase.split_whitespace().count() > 1 || query_terms(phrase).is_empty()
    }

    /// Whether `line` holds every phrase that the index alone cannot
    /// decide, words in order separated by single spaces, case-insensitively.
    pub fn matches_line(&self, line: &str) -> bool {
        let lower = line.to_lowercase();
        self.phrases
            .iter()
            .filter(|p| Self::checked_on_line(p))
            .all(|p| {
                let words: Vec<String> = p.split_whitespace().map(str::to_lowercase).collect();
                lower.contains(&words.join(" "))
            })
    }
}

/// The matches in time order (event time, then arrival).
pub fn ordered_matches(opened: &Opened, query: &dyn Query) -> Result<Vec<DocAddress>> {
    let hits: HashSet<DocAddress> = opened
        .searcher
        .search(query, &DocSetCollector)
        .context("search failed")?;
    let mut keyed = Vec::with_capacity(hits.len());
    for (ord, segment) in opened.searcher.segment_readers().iter().enumerate() {
        let ff = segment.fast_fields();
        let event = ff.i64("event_time").context("event_time column")?;
        let receive = ff.i64("receive_time").context("receive_time column")?;
        let stream = ff.u64("stream").context("stream column")?;
        let offset = ff.u64("offset").context("offset column")?;
        for addr in hits.iter().filter(|a| a.segment_ord as usize == ord) {
            let d = addr.doc_id;
            let key = (
                event.first(d).unwrap_or_default(),
                receive.first(d).unwrap_or_default(),
                stream.first(d).unwrap_or_default(),
                offset.first(d).unwrap_or_default(),
            );
            keyed.push((key, *addr));
        }
    }
    keyed.sort_unstable_by_key(|(key, _)| *key);
    Ok(keyed.into_iter().map(|(_, a)| a).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(phrases: &[&str]) -> Search {
        Search {
            phrases: phrases.iter().map(|p| p.to_string()).collect(),
            ..Search::default()
        }
    }

    #[test]
    fn phrases_are_checked_in_order_on_the_line() {
        // `logq 'failed password'` must not print "password failed".
        let s = search(&["failed password"]);
        assert!(s.needs_line_check());
        assert!(s.matches_line("sshd[1]: Failed password for root"));
        assert!(!s.matches_line("sshd[1]: password failed for root"));
    }

    #[test]
    fn words_without_index_terms_are_checked_on_the_line() {
        // The index has no terms for ISO stamps; the query must still
        // narrow to the lines that contain it, not match every line.
        let s = search(&["2026-11-24T22:20:01", "sshd"]);
        assert!(s.needs_line_check());
        assert!(s.matches_line("2026-11-24T22:20:01.5+00:00 web1 sshd[1]: x"));
        assert!(!s.matches_line("2026-11-24T22:20:02.5+00:00 web1 sshd[1]: x"));
        assert!(!search(&["sshd"]).needs_line_check());
    }
}
