//! From a parsed query to the index query, and the exact check of a record.
//!
//! [`plan`] turns an [`Expr`] and the command line's [`Filters`] into a
//! tantivy query that finds a *superset* of the matching lines, and, for
//! what the index cannot decide, [`Plan::matches`], which decides exactly
//! on the record. [`Plan::needs_check`] says whether the index's answer is
//! already exact. What a query matches, the product's definition:
//!
//! - The *line* is the whole raw line lossily decoded, header included
//!   ([`crate::schema::line_text`]): what the `message` field indexes, so
//!   `sshd`, the host and the pid are words of it.
//! - **Word**: the line has every term [`query_terms`] gives for the word,
//!   i.e. what the index answers with a term query per term, ANDed (exact).
//!   `logq 203.0.113.9` wants the address whole; `logq pass` does not find
//!   `password`. In an index that keys the long tail (schema 7, see
//!   `logcore::long_tail`) a long-tail term is looked up by its key, which
//!   other terms share: the word is then checked on the line. A word that
//!   gives no terms (an ISO date-time, a fine decimal such as
//!   `12345.678901`: see `logcore::terms`) is a case-insensitive substring
//!   of the line (checked on the line).
//! - **Phrase** `"failed password"`: the line has every term of the phrase
//!   (as for words), and the lowercased line contains the phrase's words
//!   lowercased, in order, separated by exactly one space (a run of
//!   whitespace in the phrase stands for one space). Checked on the line.
//! - **Prefix** `pass*`: some term of the line starts with the prefix
//!   lowercased (exact, a regex over the term dictionary). A prefix cannot
//!   span a delimiter (`sshd[12*` finds nothing), since no term holds one.
//!   Where the long tail is keyed, a prefix with a digit or longer than a
//!   key's lead also takes the keys of its lead, and is checked.
//! - **Regex** (`-e`): the regex (Rust syntax, case-insensitive) matches
//!   somewhere in the line. Checked on the line; the index is narrowed by
//!   the words the regex requires (see [`regex_terms`]).
//! - **Host**, **Program** globs (`*` any run, `?` one character, with
//!   case): match the record's host (which may be the agent's) or its
//!   program, the syslog tag (a line without one never matches). Exact.
//! - **Severity** `lo..=hi`, **Facility**: the record's number; a line
//!   without one never matches. Exact.
//! - **NOT**, **AND**, **OR** as in logic; [`Expr::All`] matches every line.
//! - Case: insensitive by default. With `case_sensitive`, words, phrases,
//!   prefixes and regexes must in addition match with case on the line: a
//!   word then occurs in the line with its case, where its first and last
//!   characters, if alphanumeric, have no alphanumeric character beside
//!   them (`Root` matches `Root login` and `(Root)`, not `root` or
//!   `Rooted`); a phrase occurs with its case; some word of the line (or
//!   part, as the tokenizer splits them) starts with the prefix with its
//!   case; the regex runs without `(?i)`. The index clause stays (as a
//!   superset) and every such atom is checked.
//! - [`Filters`]: hosts and programs (any of the globs), the severity
//!   range, the event time range (`since` inclusive, `until` exclusive) and
//!   `anomalies` (the [`flags::ANOMALY`] bit) are index clauses and exact.
//!   An anomaly is a document with a value in the `anomaly` column
//!   (`crate::schema` writes one exactly when the flag is set), found
//!   with an `ExistsQuery`, which steps through that column's sparse index
//!   rather than testing every document. `anomalies` also finds the lines
//!   of the episodes in `Filters::flagged` (lines an anomaly counted
//!   before it fired, which were indexed without the flag): those need the
//!   check, and [`Plan::flag`] marks them for printing.
//!
//! How the index clause of a node is built: a word is the AND of its term
//! queries; a phrase the AND of its words' terms; a prefix a `RegexQuery`
//! on `message`; a glob a `RegexQuery` (or a term query when it has no
//! wildcard) on `host`/`program`; severity a range and facility a term
//! query on their u64 fields; AND is Must of the children, OR Should of
//! them (every document when a child has no clause); NOT of an exact child
//! is every document minus the child, NOT of an inexact one every document.
//! A node is *exact* when its clause finds exactly its lines; the plan needs
//! the check unless the whole expression is exact.
//! [`Plan::matches`] evaluates the whole expression and every filter, so a
//! caller that checks gets exact results whatever the index found.

use std::ops::Bound;
use std::sync::Arc;

use anyhow::{Context, Result};
use logcore::detect::flagged::Flagged;
use logcore::long_tail;
use logcore::query::{
    joined_phrase, lowercase, required_literals, Expr, Filters, Glob, Matcher, Spelling,
};
use logcore::record::{Record, Want};
use logcore::terms::query_terms;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, Query, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use crate::schema::LogSchema;

/// A query ready to run: the index query and the exact check.
#[derive(Debug)]
pub struct Plan {
    pub(crate) query: Box<dyn Query>,
    needs_check: bool,
    matcher: Matcher,
    /// The expression's check alone: the filters are exact index clauses
    /// (but for the episodes of the side table, which it joins).
    hit_matcher: Matcher,
    flagged: Arc<Flagged>,
}

/// Builds the plan for `expr` under `filters` (see the module
/// documentation). Fails on an invalid regular expression.
pub fn plan(
    expr: &Expr,
    filters: &Filters,
    case_sensitive: bool,
    schema: &LogSchema,
) -> Result<Plan> {
    let matcher = Matcher::new(expr, filters, case_sensitive)?;
    // The side table's episodes are found by an inexact clause: their
    // lines are checked.
    let joins = filters.anomalies && !filters.flagged.is_empty();
    let hit_filters = Filters {
        anomalies: joins,
        flagged: filters.flagged.clone(),
        ..Filters::default()
    };
    let hit_matcher = Matcher::new(expr, &hit_filters, case_sensitive)?;
    let indexed = compile(expr, schema, case_sensitive)?;
    let globs = |g: &[String]| logcore::query::globs(g);

    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Some(q) = indexed.query {
        clauses.push((Occur::Must, q));
    }
    if let Some(q) = any_glob(&globs(&filters.hosts)?, schema.host)? {
        clauses.push((Occur::Must, q));
    }
    if let Some(q) = any_glob(&globs(&filters.programs)?, schema.program)? {
        clauses.push((Occur::Must, q));
    }
    if let Some(q) = any_glob(&globs(&filters.units)?, schema.unit)? {
        clauses.push((Occur::Must, q));
    }
    if let Some((lo, hi)) = filters.severity {
        clauses.push((Occur::Must, severity_query(schema.severity, lo, hi)));
    }
    if filters.anomalies {
        clauses.push((Occur::Must, anomalies_query(&filters.flagged, schema)?));
    }
    if filters.since_ms.is_some() || filters.until_ms.is_some() {
        let bound = |t: Option<i64>, inclusive: bool| match t {
            None => Bound::Unbounded,
            Some(t) if inclusive => Bound::Included(Term::from_field_i64(schema.event_time, t)),
            Some(t) => Bound::Excluded(Term::from_field_i64(schema.event_time, t)),
        };
        clauses.push((
            Occur::Must,
            Box::new(RangeQuery::new(
                bound(filters.since_ms, true),
                bound(filters.until_ms, false),
            )),
        ));
    }
    let query: Box<dyn Query> = match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses.pop().expect("one clause").1,
        _ => Box::new(BooleanQuery::new(clauses)),
    };
    Ok(Plan {
        query,
        needs_check: !indexed.exact || joins,
        matcher,
        hit_matcher,
        flagged: filters.flagged.clone(),
    })
}

impl Plan {
    /// Whether the index query may find documents that do not match, so
    /// that each hit must go through [`Plan::matches_hit`].
    pub fn needs_check(&self) -> bool {
        self.needs_check
    }

    /// What [`Plan::matches_hit`] reads of a record: the host and program
    /// only when the query names them (the filters are the index's).
    pub fn want(&self) -> Want {
        self.hit_matcher.want()
    }

    /// What a caller that wants `shown` of each hit must read: with the
    /// check, also what [`Plan::matches_hit`] looks at.
    pub fn read(&self, shown: Want) -> Want {
        if self.needs_check {
            shown.max(self.want())
        } else {
            shown
        }
    }

    /// Whether `r` matches the expression and every filter, decided on the
    /// record alone (its line, host, program, numbers, time and flags).
    pub fn matches(&self, r: &Record) -> bool {
        self.matcher.matches(r)
    }

    /// [`Plan::matches`] for a record the index query found: the filters
    /// are exact index clauses, so only the expression is checked (and a
    /// host or program glob needs neither the column's string nor a parse
    /// of each line: `-t sshd` doubled the time of a regex).
    pub fn matches_hit(&self, r: &Record) -> bool {
        self.hit_matcher.matches(r)
    }

    /// Flags `r` when it is a line of an episode of the side table (see
    /// `logcore::detect::flagged`), so that it prints as the anomaly it
    /// is; needs the record's program and message (`Want::Shown`).
    pub fn flag(&self, r: &mut Record) {
        self.flagged.mark(r);
    }
}

/// A glob's index clause: a term query when it has no wildcard, else a
/// regex over the field's terms.
fn glob_query(glob: &Glob, field: Field) -> Result<Box<dyn Query>> {
    Ok(match glob.literal() {
        Some(value) => Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        )),
        None => Box::new(
            RegexQuery::from_pattern(glob.body(), field)
                .with_context(|| format!("cannot search for {:?}", glob.body()))?,
        ),
    })
}

/// Should of the globs' queries; `None` when there are none.
fn any_glob(globs: &[Glob], field: Field) -> Result<Option<Box<dyn Query>>> {
    if globs.is_empty() {
        return Ok(None);
    }
    let clauses = globs
        .iter()
        .map(|g| Ok((Occur::Should, glob_query(g, field)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Box::new(BooleanQuery::new(clauses))))
}

/// The documents of anomalies: those with a value in the `anomaly` column
/// (see the module documentation), and for each episode of the side table
/// the lines of its time range that have its address or user (a superset:
/// [`Matcher`] checks that its rule counted them).
fn anomalies_query(flagged: &Flagged, schema: &LogSchema) -> Result<Box<dyn Query>> {
    let flagged_at_ingest: Box<dyn Query> = Box::new(ExistsQuery::new(
        crate::schema::names::ANOMALY.to_owned(),
        false,
    ));
    if flagged.is_empty() {
        return Ok(flagged_at_ingest);
    }
    let mut clauses = vec![(Occur::Should, flagged_at_ingest)];
    for (word, since, until) in flagged.ranges() {
        let time: Box<dyn Query> = Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(schema.event_time, since)),
            Bound::Included(Term::from_field_i64(schema.event_time, until)),
        ));
        let episode: Box<dyn Query> = match compile(&Expr::Word(word), schema, false)?.query {
            Some(words) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, time),
                (Occur::Must, words),
            ])),
            None => time,
        };
        clauses.push((Occur::Should, episode));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

fn severity_query(field: Field, lo: u8, hi: u8) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_u64(field, u64::from(lo))),
        Bound::Included(Term::from_field_u64(field, u64::from(hi))),
    ))
}

// ---------------------------------------------------------------------------
// The index query

/// A node's index clause.
struct Indexed {
    /// `None`: every document.
    query: Option<Box<dyn Query>>,
    /// Whether the clause finds exactly the node's lines.
    exact: bool,
}

impl Indexed {
    fn new(query: Option<Box<dyn Query>>, exact: bool) -> Indexed {
        Indexed { query, exact }
    }
}

/// The AND of term queries on `message`; `None` for no terms.
fn all_terms(s: &LogSchema, terms: &[String]) -> Option<Box<dyn Query>> {
    let mut queries: Vec<Box<dyn Query>> = terms
        .iter()
        .map(|t| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(s.message, &long_tail::index_term(t, s.long_tail_keys)),
                IndexRecordOption::Basic,
            ))
        })
        .collect();
    match queries.len() {
        0 => None,
        1 => queries.pop(),
        _ => Some(Box::new(BooleanQuery::new(
            queries.into_iter().map(|q| (Occur::Must, q)).collect(),
        ))),
    }
}

/// The index clause of `expr`, node for node (see the module
/// documentation); the exact check is [`Matcher`]'s.
fn compile(expr: &Expr, s: &LogSchema, case_sensitive: bool) -> Result<Indexed> {
    Ok(match expr {
        Expr::All => Indexed::new(None, true),
        Expr::And(items) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let mut exact = true;
            for item in items {
                let indexed = compile(item, s, case_sensitive)?;
                exact &= indexed.exact;
                clauses.extend(indexed.query.map(|q| (Occur::Must, q)));
            }
            let query: Option<Box<dyn Query>> = match clauses.len() {
                0 => None,
                1 => clauses.pop().map(|(_, q)| q),
                _ => Some(Box::new(BooleanQuery::new(clauses))),
            };
            Indexed::new(query, exact)
        }
        Expr::Or(items) => {
            let mut clauses: Option<Vec<(Occur, Box<dyn Query>)>> = Some(Vec::new());
            let mut exact = true;
            for item in items {
                let indexed = compile(item, s, case_sensitive)?;
                exact &= indexed.exact;
                match (indexed.query, clauses.as_mut()) {
                    (Some(q), Some(clauses)) => clauses.push((Occur::Should, q)),
                    // A child without a clause may match any document.
                    (None, _) => clauses = None,
                    (Some(_), None) => {}
                }
            }
            let query = clauses
                .filter(|c| !c.is_empty())
                .map(|c| -> Box<dyn Query> { Box::new(BooleanQuery::new(c)) });
            Indexed::new(query, exact)
        }
        Expr::Not(inner) => {
            let indexed = compile(inner, s, case_sensitive)?;
            let query: Option<Box<dyn Query>> = match (indexed.exact, indexed.query) {
                (false, _) => None,
                (true, None) => Some(Box::new(EmptyQuery)),
                // tantivy matches nothing with MustNot alone.
                (true, Some(q)) => Some(Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, q),
                ]))),
            };
            Indexed::new(query, indexed.exact)
        }
        Expr::Word(word) => {
            let terms = query_terms(word);
            let keyed = s.long_tail_keys && terms.iter().any(|t| long_tail::is_long_tail(t));
            let exact = !terms.is_empty() && !case_sensitive && !keyed;
            Indexed::new(all_terms(s, &terms), exact)
        }
        Expr::Phrase(phrase) => {
            let terms = query_terms(&joined_phrase(phrase));
            Indexed::new(all_terms(s, &terms), false)
        }
        Expr::Prefix(prefix) => {
            match prefix_query(s, &lowercase(prefix))
                .with_context(|| format!("cannot search for the prefix {prefix:?}"))?
            {
                Some((query, exact)) => Indexed::new(Some(query), exact && !case_sensitive),
                None => Indexed::new(None, false),
            }
        }
        Expr::Regex(pattern) => Indexed::new(regex_query(s, pattern, case_sensitive), false),
        Expr::Host(glob) => Indexed::new(Some(glob_query(&Glob::new(glob)?, s.host)?), true),
        Expr::Program(glob) => Indexed::new(Some(glob_query(&Glob::new(glob)?, s.program)?), true),
        Expr::Unit(glob) => Indexed::new(Some(glob_query(&Glob::new(glob)?, s.unit)?), true),
        Expr::Severity { lo, hi } => Indexed::new(Some(severity_query(s.severity, *lo, *hi)), true),
        Expr::Facility(f) => Indexed::new(
            Some(Box::new(TermQuery::new(
                Term::from_field_u64(s.facility, u64::from(*f)),
                IndexRecordOption::Basic,
            ))),
            true,
        ),
    })
}

// ---------------------------------------------------------------------------
// Narrowing a regex

/// The regex's requirement as an index query: for each required literal
/// run, any of its spellings (a small alternation of literals, such as
/// `(root|admin)`, spells a run several ways) with all of that
/// spelling's terms. `None` when nothing is sure.
fn regex_query(s: &LogSchema, pattern: &str, case_sensitive: bool) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for group in required_literals(pattern, case_sensitive) {
        // A spelling without terms could be any line: the group says nothing.
        if group.iter().any(Spelling::is_empty) {
            continue;
        }
        let mut any: Vec<(Occur, Box<dyn Query>)> = group
            .iter()
            .filter_map(|alt| spelling_query(s, alt))
            .map(|q| (Occur::Should, q))
            .collect();
        match any.len() {
            0 => {}
            1 => clauses.push((Occur::Must, any.pop().expect("one").1)),
            _ => clauses.push((Occur::Must, Box::new(BooleanQuery::new(any)))),
        }
    }
    match clauses.len() {
        0 => None,
        1 => clauses.pop().map(|c| c.1),
        _ => Some(Box::new(BooleanQuery::new(clauses))),
    }
}

/// All of a spelling's terms, and a term starting with each of its
/// prefixes.
fn spelling_query(s: &LogSchema, spelling: &Spelling) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Some(q) = all_terms(s, &spelling.terms) {
        clauses.push((Occur::Must, q));
    }
    for prefix in &spelling.prefixes {
        if let Ok(Some((q, _))) = prefix_query(s, prefix) {
            clauses.push((Occur::Must, q));
        }
    }
    match clauses.len() {
        0 => None,
        1 => clauses.pop().map(|c| c.1),
        _ => Some(Box::new(BooleanQuery::new(clauses))),
    }
}

/// Documents with a term that starts with `lower` (lowercased), and
/// whether they are exactly those. Where the long tail is keyed, a
/// long-tail term that starts with `lower` has a key that starts with
/// `lower` when `lower` is its own lead (no digit, short enough: exact),
/// and else the key of `lower`'s lead (a superset, to be checked). `None`
/// when that lead is empty (`lower` starts with a digit): every key of the
/// empty lead would be taken, a union of up to 2^18 terms that finds
/// nearly every line, slower than no clause at all.
fn prefix_query(s: &LogSchema, lower: &str) -> Result<Option<(Box<dyn Query>, bool)>> {
    let escaped = regex_syntax::escape(lower);
    let lead = long_tail::lead(lower);
    let keyed = s.long_tail_keys && lead.len() < lower.len();
    if keyed && lead.is_empty() {
        return Ok(None);
    }
    let (pattern, exact) = if keyed {
        let mark = format!("\\x{:02x}", long_tail::MARK as u32);
        (
            format!("(?s:{escaped}.*|{}{mark}.*)", regex_syntax::escape(lead)),
            false,
        )
    } else {
        (format!("(?s:{escaped}.*)"), true)
    };
    Ok(Some((
        Box::new(RegexQuery::from_pattern(&pattern, s.message)?),
        exact,
    )))
}

#[cfg(test)]
mod tests;
