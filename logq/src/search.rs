//! From a parsed query to the index query, and the exact check of a record.
//!
//! [`plan`] turns an [`Expr`] and the command line's [`Filters`] into a
//! tantivy query that finds a *superset* of the matching lines, and, for
//! what the index cannot decide, [`Plan::matches`], which decides exactly
//! on the record. [`Plan::needs_check`] says whether the index's answer is
//! already exact. What a query matches, the product's definition:
//!
//! - The *line* is the whole raw line lossily decoded, header included
//!   ([`logcore::schema::line_text`]): what the `message` field indexes, so
//!   `sshd`, the host and the pid are words of it.
//! - **Word**: the line has every term [`query_terms`] gives for the word,
//!   i.e. what the index answers with a term query per term, ANDed (exact).
//!   `logq 203.0.113.9` wants the address whole; `logq pass` does not find
//!   `password`. A word that gives no terms (an ISO date-time, a fine
//!   decimal such as `12345.678901`: see `logcore::tokenizer`) is a
//!   case-insensitive substring of the line (checked on the line).
//! - **Phrase** `"failed password"`: the line has every term of the phrase
//!   (as for words), and the lowercased line contains the phrase's words
//!   lowercased, in order, separated by exactly one space (a run of
//!   whitespace in the phrase stands for one space). Checked on the line.
//! - **Prefix** `pass*`: some term of the line starts with the prefix
//!   lowercased (exact, a regex over the term dictionary). A prefix cannot
//!   span a delimiter (`sshd[12*` finds nothing), since no term holds one.
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
//!   (`logcore::schema` writes one exactly when the flag is set), found
//!   with an `ExistsQuery`, which steps through that column's sparse index
//!   rather than testing every document.
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

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;

use anyhow::{Context, Result};
use logcore::query::Expr;
use logcore::record::{flags, Record};
use logcore::schema::{line_text, LogSchema, Want};
use logcore::tokenizer::{is_delimiter, query_terms, LogTokenizer};
use regex_syntax::hir::{Hir, HirKind};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, Query, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TokenStream, Tokenizer};
use tantivy::{IndexReader, ReloadPolicy, Searcher, Term};

pub struct Opened {
    pub schema: LogSchema,
    pub searcher: Searcher,
    pub reader: IndexReader,
}

/// Opens the index in `data_dir` for reading. collectord may be writing it:
/// tantivy readers see the last commit and never take the writer's lock.
pub fn open(data_dir: &Path) -> Result<Opened> {
    let path = data_dir.join("index");
    let index = logcore::schema::open_existing(data_dir)?;
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
    let schema = LogSchema::new();
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .with_context(|| format!("cannot read the index in {}", path.display()))?;
    let searcher = reader.searcher();
    Ok(Opened {
        schema,
        searcher,
        reader,
    })
}

/// What the command line's options ask besides the query; all must hold.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Globs: the host matches any of them (none: any host).
    pub hosts: Vec<String>,
    /// Globs: the program matches any of them (none: any program, or none).
    pub programs: Vec<String>,
    /// Globs: the systemd unit matches any of them (none: any unit, or
    /// none).
    pub units: Vec<String>,
    /// Severity numbers `lo..=hi`.
    pub severity: Option<(u8, u8)>,
    /// Event time at or after, ms since the epoch.
    pub since_ms: Option<i64>,
    /// Event time before (exclusive), ms since the epoch.
    pub until_ms: Option<i64>,
    /// Only lines flagged [`flags::ANOMALY`].
    pub anomalies: bool,
}

/// A query ready to run: the index query and the exact check.
#[derive(Debug)]
pub struct Plan {
    query: Box<dyn Query>,
    needs_check: bool,
    check: Check,
    hosts: Vec<Glob>,
    programs: Vec<Glob>,
    units: Vec<Glob>,
    severity: Option<(u8, u8)>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    anomalies: bool,
    case_sensitive: bool,
}

/// Builds the plan for `expr` under `filters` (see the module
/// documentation). Fails on an invalid regular expression.
pub fn plan(
    expr: &Expr,
    filters: &Filters,
    case_sensitive: bool,
    schema: &LogSchema,
) -> Result<Plan> {
    let (check, indexed) = compile(expr, schema, case_sensitive)?;
    let hosts = globs(&filters.hosts)?;
    let programs = globs(&filters.programs)?;
    let units = globs(&filters.units)?;

    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Some(q) = indexed.query {
        clauses.push((Occur::Must, q));
    }
    if let Some(q) = any_glob(&hosts, schema.host)? {
        clauses.push((Occur::Must, q));
    }
    if let Some(q) = any_glob(&programs, schema.program)? {
        clauses.push((Occur::Must, q));
    }
    if let Some(q) = any_glob(&units, schema.unit)? {
        clauses.push((Occur::Must, q));
    }
    if let Some((lo, hi)) = filters.severity {
        clauses.push((Occur::Must, severity_query(schema.severity, lo, hi)));
    }
    if filters.anomalies {
        clauses.push((Occur::Must, anomalies_query()));
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
        needs_check: !indexed.exact,
        check,
        hosts,
        programs,
        units,
        severity: filters.severity,
        since_ms: filters.since_ms,
        until_ms: filters.until_ms,
        anomalies: filters.anomalies,
        case_sensitive,
    })
}

impl Plan {
    /// The index query: every matching line's document, and maybe more
    /// (see [`Plan::needs_check`]).
    pub fn query(&self) -> &dyn Query {
        &*self.query
    }

    /// Whether the index query may find documents that do not match, so
    /// that each hit must go through [`Plan::matches`].
    pub fn needs_check(&self) -> bool {
        self.needs_check
    }

    /// What [`Plan::matches`] reads of a record: the host and program only
    /// when the query or the filters name them.
    pub fn want(&self) -> Want {
        if self.hosts.is_empty()
            && self.programs.is_empty()
            && self.units.is_empty()
            && !self.check.names_fields()
        {
            Want::Line
        } else {
            Want::Shown
        }
    }

    /// Whether `r` matches the expression and every filter, decided on the
    /// record alone (its line, host, program, numbers, time and flags).
    pub fn matches(&self, r: &Record) -> bool {
        let in_time = self.since_ms.is_none_or(|t| r.event_time_ms >= t)
            && self.until_ms.is_none_or(|t| r.event_time_ms < t);
        in_time
            && (!self.anomalies || r.has(flags::ANOMALY))
            && (self.hosts.is_empty() || self.hosts.iter().any(|g| g.matches(&r.host)))
            && (self.programs.is_empty() || program_matches_any(&self.programs, r))
            && (self.units.is_empty() || unit_matches_any(&self.units, r))
            && self
                .severity
                .is_none_or(|(lo, hi)| r.severity.is_some_and(|s| (lo..=hi).contains(&s)))
            && self.check.eval(&Line::new(r), r, self.case_sensitive)
    }
}

/// The record's program against globs. The index holds the program
/// `Record::from_line` parsed when the line arrived; a record read back
/// from the index has it parsed again from the same line by the same
/// parser (the program does not depend on the agent's zone, which is all
/// that differs), so the two agree.
fn unit_matches_any(globs: &[Glob], r: &Record) -> bool {
    r.unit
        .as_deref()
        .is_some_and(|u| globs.iter().any(|g| g.matches(u)))
}

fn program_matches_any(globs: &[Glob], r: &Record) -> bool {
    r.program
        .as_deref()
        .is_some_and(|p| globs.iter().any(|g| g.matches(p)))
}

// ---------------------------------------------------------------------------
// The check

/// What is checked on a record, node for node of the expression.
#[derive(Debug)]
enum Check {
    All,
    And(Vec<Check>),
    Or(Vec<Check>),
    Not(Box<Check>),
    Word {
        text: String,
        lower: String,
        terms: Vec<String>,
    },
    Phrase {
        /// The words joined by single spaces.
        joined: String,
        lower: String,
        terms: Vec<String>,
    },
    Prefix {
        text: String,
        lower: String,
    },
    Regex(regex::Regex),
    Host(Glob),
    Program(Glob),
    Unit(Glob),
    Severity(u8, u8),
    Facility(u8),
}

impl Check {
    /// Whether the check looks at the host or the program.
    fn names_fields(&self) -> bool {
        match self {
            Check::And(c) | Check::Or(c) => c.iter().any(Check::names_fields),
            Check::Not(c) => c.names_fields(),
            Check::Host(_) | Check::Program(_) | Check::Unit(_) => true,
            _ => false,
        }
    }
}

/// A record's line, with what the checks derive from it computed once.
struct Line<'a> {
    text: Cow<'a, str>,
    lower: OnceCell<String>,
    terms: OnceCell<HashSet<String>>,
}

impl<'a> Line<'a> {
    fn new(r: &'a Record) -> Line<'a> {
        Line {
            text: line_text(&r.raw),
            lower: OnceCell::new(),
            terms: OnceCell::new(),
        }
    }

    fn lower(&self) -> &str {
        self.lower.get_or_init(|| lowercase(&self.text))
    }

    /// The index terms of the line.
    fn terms(&self) -> &HashSet<String> {
        self.terms.get_or_init(|| {
            let mut tokenizer = LogTokenizer::default();
            let mut stream = tokenizer.token_stream(&self.text);
            let mut terms = HashSet::new();
            while stream.advance() {
                terms.insert(stream.token().text.clone());
            }
            terms
        })
    }

    /// Whether the line has all of `terms`: a few terms are looked for
    /// in one pass over the tokens, without building the whole set.
    fn has_terms(&self, terms: &[String]) -> bool {
        if let Some(all) = self.terms.get() {
            return terms.iter().all(|t| all.contains(t));
        }
        if terms.is_empty() {
            return true;
        }
        if terms.len() > 64 {
            return terms.iter().all(|t| self.terms().contains(t));
        }
        let mut missing: u64 = match terms.len() {
            64 => u64::MAX,
            n => (1u64 << n) - 1,
        };
        let mut tokenizer = LogTokenizer::default();
        let mut stream = tokenizer.token_stream(&self.text);
        while missing != 0 && stream.advance() {
            let token = &stream.token().text;
            for (i, t) in terms.iter().enumerate() {
                if t == token {
                    missing &= !(1u64 << i);
                }
            }
        }
        missing == 0
    }

    /// Whether a word of the line (or a part of one), with its case,
    /// starts with `prefix`.
    fn token_starts_with(&self, prefix: &str) -> bool {
        let mut tokenizer = LogTokenizer::default();
        let mut stream = tokenizer.token_stream(&self.text);
        while stream.advance() {
            let t = stream.token();
            if self.text[t.offset_from..t.offset_to].starts_with(prefix) {
                return true;
            }
        }
        false
    }
}

impl Check {
    fn eval(&self, line: &Line<'_>, r: &Record, case_sensitive: bool) -> bool {
        match self {
            Check::All => true,
            Check::And(items) => items.iter().all(|c| c.eval(line, r, case_sensitive)),
            Check::Or(items) => items.iter().any(|c| c.eval(line, r, case_sensitive)),
            Check::Not(c) => !c.eval(line, r, case_sensitive),
            Check::Word { text, lower, terms } => {
                if terms.is_empty() {
                    if case_sensitive {
                        occurs_as_word(&line.text, text)
                    } else {
                        line.lower().contains(lower.as_str())
                    }
                } else {
                    line.has_terms(terms) && (!case_sensitive || occurs_as_word(&line.text, text))
                }
            }
            Check::Phrase {
                joined,
                lower,
                terms,
            } => {
                line.has_terms(terms)
                    && if case_sensitive {
                        line.text.contains(joined.as_str())
                    } else {
                        line.lower().contains(lower.as_str())
                    }
            }
            Check::Prefix { text, lower } => {
                line.terms().iter().any(|t| t.starts_with(lower.as_str()))
                    && (!case_sensitive || line.token_starts_with(text))
            }
            Check::Regex(re) => re.is_match(&line.text),
            Check::Host(g) => g.matches(&r.host),
            Check::Program(g) => program_matches_any(std::slice::from_ref(g), r),
            Check::Unit(g) => unit_matches_any(std::slice::from_ref(g), r),
            Check::Severity(lo, hi) => r.severity.is_some_and(|s| (*lo..=*hi).contains(&s)),
            Check::Facility(f) => r.facility == Some(*f),
        }
    }
}

/// Lowercase the way the tokenizer does it: character by character.
fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `needle` occurs in `hay` where its first and last characters,
/// when alphanumeric, have no alphanumeric character beside them.
fn occurs_as_word(hay: &str, needle: &str) -> bool {
    let Some(first) = needle.chars().next() else {
        return true;
    };
    let last = needle.chars().next_back().expect("not empty");
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle).map(|i| from + i) {
        let end = at + needle.len();
        let before_ok = !first.is_alphanumeric()
            || !hay[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        let after_ok = !last.is_alphanumeric()
            || !hay[end..].chars().next().is_some_and(char::is_alphanumeric);
        if before_ok && after_ok {
            return true;
        }
        // Occurrences may overlap: go on from the next character.
        from = at + first.len_utf8();
    }
    false
}

// ---------------------------------------------------------------------------
// Globs

/// A host or program glob: `*` any run of characters, `?` one, the rest
/// literal, matched whole and with case.
#[derive(Debug)]
struct Glob {
    /// The regex body, without anchors (tantivy's regexes match whole terms).
    body: String,
    /// The glob itself when it has no wildcard.
    literal: Option<String>,
    anchored: regex::Regex,
}

impl Glob {
    fn new(glob: &str) -> Result<Glob> {
        let mut body = String::from("(?s:");
        for c in glob.chars() {
            match c {
                '*' => body.push_str(".*"),
                '?' => body.push('.'),
                c => body.push_str(&regex_syntax::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        body.push(')');
        let anchored = regex::Regex::new(&format!(r"\A{body}\z"))
            .with_context(|| format!("cannot use the pattern {glob:?}"))?;
        Ok(Glob {
            literal: (!glob.contains(['*', '?'])).then(|| glob.to_owned()),
            body,
            anchored,
        })
    }

    fn matches(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }

    fn query(&self, field: Field) -> Result<Box<dyn Query>> {
        Ok(match &self.literal {
            Some(value) => Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            )),
            None => Box::new(
                RegexQuery::from_pattern(&self.body, field)
                    .with_context(|| format!("cannot search for {:?}", self.body))?,
            ),
        })
    }
}

fn globs(patterns: &[String]) -> Result<Vec<Glob>> {
    patterns.iter().map(|g| Glob::new(g)).collect()
}

/// Should of the globs' queries; `None` when there are none.
fn any_glob(globs: &[Glob], field: Field) -> Result<Option<Box<dyn Query>>> {
    if globs.is_empty() {
        return Ok(None);
    }
    let clauses = globs
        .iter()
        .map(|g| Ok((Occur::Should, g.query(field)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Box::new(BooleanQuery::new(clauses))))
}

/// The documents of anomalies: those with a value in the `anomaly` column
/// (see the module documentation).
fn anomalies_query() -> Box<dyn Query> {
    Box::new(ExistsQuery::new(
        logcore::schema::names::ANOMALY.to_owned(),
        false,
    ))
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
                Term::from_field_text(s.message, t),
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

fn compile(expr: &Expr, s: &LogSchema, case_sensitive: bool) -> Result<(Check, Indexed)> {
    Ok(match expr {
        Expr::All => (Check::All, Indexed::new(None, true)),
        Expr::And(items) => {
            let mut checks = Vec::with_capacity(items.len());
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let mut exact = true;
            for item in items {
                let (check, indexed) = compile(item, s, case_sensitive)?;
                checks.push(check);
                exact &= indexed.exact;
                clauses.extend(indexed.query.map(|q| (Occur::Must, q)));
            }
            let query: Option<Box<dyn Query>> = match clauses.len() {
                0 => None,
                1 => clauses.pop().map(|(_, q)| q),
                _ => Some(Box::new(BooleanQuery::new(clauses))),
            };
            (Check::And(checks), Indexed::new(query, exact))
        }
        Expr::Or(items) => {
            let mut checks = Vec::with_capacity(items.len());
            let mut clauses: Option<Vec<(Occur, Box<dyn Query>)>> = Some(Vec::new());
            let mut exact = true;
            for item in items {
                let (check, indexed) = compile(item, s, case_sensitive)?;
                checks.push(check);
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
            (Check::Or(checks), Indexed::new(query, exact))
        }
        Expr::Not(inner) => {
            let (check, indexed) = compile(inner, s, case_sensitive)?;
            let query: Option<Box<dyn Query>> = match (indexed.exact, indexed.query) {
                (false, _) => None,
                (true, None) => Some(Box::new(EmptyQuery)),
                // tantivy matches nothing with MustNot alone.
                (true, Some(q)) => Some(Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, q),
                ]))),
            };
            (
                Check::Not(Box::new(check)),
                Indexed::new(query, indexed.exact),
            )
        }
        Expr::Word(word) => {
            let terms = query_terms(word);
            let exact = !terms.is_empty() && !case_sensitive;
            let query = all_terms(s, &terms);
            (
                Check::Word {
                    text: word.clone(),
                    lower: lowercase(word),
                    terms,
                },
                Indexed::new(query, exact),
            )
        }
        Expr::Phrase(phrase) => {
            let joined = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
            let terms = query_terms(&joined);
            let query = all_terms(s, &terms);
            (
                Check::Phrase {
                    lower: lowercase(&joined),
                    joined,
                    terms,
                },
                Indexed::new(query, false),
            )
        }
        Expr::Prefix(prefix) => {
            let lower = lowercase(prefix);
            let pattern = format!("(?s:{}.*)", regex_syntax::escape(&lower));
            let query = RegexQuery::from_pattern(&pattern, s.message)
                .with_context(|| format!("cannot search for the prefix {prefix:?}"))?;
            (
                Check::Prefix {
                    text: prefix.clone(),
                    lower,
                },
                Indexed::new(Some(Box::new(query)), !case_sensitive),
            )
        }
        Expr::Regex(pattern) => {
            let re = regex::RegexBuilder::new(pattern)
                .case_insensitive(!case_sensitive)
                .build()
                .with_context(|| format!("invalid regular expression {pattern:?}"))?;
            let query = regex_query(s, pattern, case_sensitive);
            (Check::Regex(re), Indexed::new(query, false))
        }
        Expr::Host(glob) => {
            let g = Glob::new(glob)?;
            let query = g.query(s.host)?;
            (Check::Host(g), Indexed::new(Some(query), true))
        }
        Expr::Program(glob) => {
            let g = Glob::new(glob)?;
            let query = g.query(s.program)?;
            (Check::Program(g), Indexed::new(Some(query), true))
        }
        Expr::Unit(glob) => {
            let g = Glob::new(glob)?;
            let query = g.query(s.unit)?;
            (Check::Unit(g), Indexed::new(Some(query), true))
        }
        Expr::Severity { lo, hi } => (
            Check::Severity(*lo, *hi),
            Indexed::new(Some(severity_query(s.severity, *lo, *hi)), true),
        ),
        Expr::Facility(f) => (
            Check::Facility(*f),
            Indexed::new(
                Some(Box::new(TermQuery::new(
                    Term::from_field_u64(s.facility, u64::from(*f)),
                    IndexRecordOption::Basic,
                ))),
                true,
            ),
        ),
    })
}

// ---------------------------------------------------------------------------
// Narrowing a regex

/// Index terms every line the regex matches has (the terms all spellings
/// of each run share, see [`regex_groups`]); what the tests look at.
///
/// The literals the regex requires (top-level concatenations of literals
/// and of small alternations of literals, through capture groups;
/// repetitions, classes and assertions end a literal) are cut at the tokenizer's delimiters
/// (whitespace, quotes, brackets, `,;=<>|{}`). A piece with a delimiter on
/// both sides *inside the literal* is a whole word of any line the regex
/// matches, so its [`query_terms`] are in that line's terms. Pieces
/// without a letter are left out (numbers narrow little and cost a long
/// posting list). Case-insensitively, only ASCII pieces are used: the
/// regex's Unicode case folding and the tokenizer's lowercasing agree on
/// ASCII letters (except that `(?i)s` also matches `ſ`, U+017F, which
/// lowercases to itself: such a line can be missed).
#[cfg(test)]
fn regex_terms(pattern: &str, case_sensitive: bool) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for group in regex_groups(pattern, case_sensitive) {
        // Terms every alternative of the group has.
        let Some((first, rest)) = group.split_first() else {
            continue;
        };
        for term in first.iter().filter(|t| !t.starts_with(PREFIX_MARK)) {
            if rest.iter().all(|alt| alt.contains(term)) && !terms.contains(term) {
                terms.push(term.clone());
            }
        }
    }
    terms
}

/// The regex's requirement as an index query: for each required literal
/// run, any of its spellings (a small alternation of literals, such as
/// `(root|admin)`, spells a run several ways) with all of that
/// spelling's terms. `None` when nothing is sure.
fn regex_query(s: &LogSchema, pattern: &str, case_sensitive: bool) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for group in regex_groups(pattern, case_sensitive) {
        // A spelling without terms could be any line: the group says nothing.
        if group.iter().any(Vec::is_empty) {
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

/// Marks a prefix among a spelling's terms: no term holds whitespace.
const PREFIX_MARK: char = ' ';

/// All of a spelling's terms, and a term starting with each of its
/// prefixes.
fn spelling_query(s: &LogSchema, terms: &[String]) -> Option<Box<dyn Query>> {
    let (prefixes, whole): (Vec<&String>, Vec<&String>) =
        terms.iter().partition(|t| t.starts_with(PREFIX_MARK));
    let whole: Vec<String> = whole.into_iter().cloned().collect();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Some(q) = all_terms(s, &whole) {
        clauses.push((Occur::Must, q));
    }
    for prefix in prefixes {
        let pattern = format!("{}.*", regex_syntax::escape(&prefix[1..]));
        if let Ok(q) = RegexQuery::from_pattern(&pattern, s.message) {
            clauses.push((Occur::Must, Box::new(q)));
        }
    }
    match clauses.len() {
        0 => None,
        1 => clauses.pop().map(|c| c.1),
        _ => Some(Box::new(BooleanQuery::new(clauses))),
    }
}

/// At most this many spellings of one literal run are followed.
const MAX_SPELLINGS: usize = 16;

/// For each literal run the regex requires, the terms of each of its
/// spellings (see [`regex_terms`] for which pieces give terms).
fn regex_groups(pattern: &str, case_sensitive: bool) -> Vec<Vec<Vec<String>>> {
    let Ok(hir) = regex_syntax::Parser::new().parse(pattern) else {
        return Vec::new();
    };
    let mut runs = Vec::new();
    let mut current = vec![Vec::new()];
    required_literals(&hir, &mut runs, &mut current);
    runs.push(current);

    runs.iter()
        .map(|spellings| {
            spellings
                .iter()
                .map(|literal| literal_terms(literal, case_sensitive))
                .collect()
        })
        .collect()
}

/// The terms of the pieces of `literal` with a delimiter on both sides,
/// and the last piece as a prefix (marked with [`PREFIX_MARK`]).
fn literal_terms(literal: &[u8], case_sensitive: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(literal);
    let pieces: Vec<&str> = text.split(is_delimiter).collect();
    let mut terms: Vec<String> = Vec::new();
    if pieces.len() < 2 {
        return terms;
    }
    for piece in &pieces[1..pieces.len() - 1] {
        if !piece.chars().any(char::is_alphabetic) || !(case_sensitive || piece.is_ascii()) {
            continue;
        }
        for term in query_terms(piece) {
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
    }
    // The last piece starts a word (a delimiter comes before it), so that
    // word's whole term starts with it, if the word gives terms at all: it
    // does when it starts with a letter (an ISO stamp or a number does not).
    // Trailing joiners go, since the tokenizer trims `.` and `:`.
    let last = pieces[pieces.len() - 1].trim_end_matches(['/', '.', '-', '_', '@', ':']);
    if last.is_ascii() && last.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let mut prefix = last.to_ascii_lowercase();
        prefix.truncate(logcore::tokenizer::MAX_TOKEN_BYTES);
        terms.push(format!("{PREFIX_MARK}{prefix}"));
    }
    terms
}

/// The strings `hir` matches, when they are few (literals, concatenations
/// and alternations of them).
fn spellings(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Empty => Some(vec![Vec::new()]),
        HirKind::Literal(lit) => Some(vec![lit.0.to_vec()]),
        HirKind::Capture(capture) => spellings(&capture.sub),
        HirKind::Concat(items) => {
            let mut out = vec![Vec::new()];
            for item in items {
                out = product(&out, &spellings(item)?)?;
            }
            Some(out)
        }
        HirKind::Alternation(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(spellings(item)?);
                if out.len() > MAX_SPELLINGS {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Class(_) | HirKind::Look(_) | HirKind::Repetition(_) => None,
    }
}

/// Every `a` followed by every `b`, unless that is too many.
fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > MAX_SPELLINGS {
        return None;
    }
    Some(
        a.iter()
            .flat_map(|x| b.iter().map(move |y| [x.as_slice(), y].concat()))
            .collect(),
    )
}

/// Appends to each spelling in `current` what `hir` must match next; at
/// anything that is not a few literals, moves `current` to `runs` and
/// starts anew.
fn required_literals(hir: &Hir, runs: &mut Vec<Vec<Vec<u8>>>, current: &mut Vec<Vec<u8>>) {
    if let HirKind::Concat(items) = hir.kind() {
        for item in items {
            required_literals(item, runs, current);
        }
        return;
    }
    if let HirKind::Capture(capture) = hir.kind() {
        return required_literals(&capture.sub, runs, current);
    }
    match spellings(hir).and_then(|next| product(current, &next)) {
        Some(joined) => *current = joined,
        None => runs.push(std::mem::replace(current, vec![Vec::new()])),
    }
}

#[cfg(test)]
mod tests {
    use logcore::archive::Location;
    use logcore::query::parse;
    use logcore::record::Origin;
    use tantivy::collector::DocSetCollector;
    use tantivy::{Index, IndexWriter};

    use super::*;

    fn origin(receive_time_ms: i64) -> Origin<'static> {
        Origin {
            agent: "agent-1",
            host: "agenthost",
            path: "/var/log/syslog",
            stream: 1,
            utc_offset_secs: 0,
            receive_time_ms,
        }
    }

    /// 2025-11-25T00:00:00Z: the syslog stamps below are Nov 24.
    const RECEIVED: i64 = 1_764_028_800_000;

    const LINES: &[&str] = &[
        "<38>Nov 24 22:20:01 web1 sshd[1234]: Failed password for root from 203.0.113.9 port 52144 ssh2",
        "<86>Nov 24 22:20:02 web2 sshd[1235]: Failed password for invalid user admin from 198.51.100.7 port 40022 ssh2",
        "<38>Nov 24 22:20:03 web1 sshd[1236]: Accepted password for deploy from 203.0.113.9 port 40023 ssh2",
        "<35>Nov 24 22:20:04 db1 sshd[99]: error: PAM: Authentication failure for ROOT from 203.0.113.9",
        "<86>Nov 24 22:21:07 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx.service",
        "<12>Nov 24 22:22:45 db2 kernel: [12345.678901] EXT4-fs (sda1): mounted filesystem with ordered data mode.",
        "<78>Nov 24 22:17:01 web2 CRON[5678]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
        "<27>Nov 24 22:23:00 web1 nginx[77]: upstream timed out (110: Connection timed out) for Root",
        "2025-11-24T22:20:01.123456+00:00 web3 nginx[812]: GET /password/reset HTTP/1.1 200",
        "no header at all, just failed  password text",
        "Failed Password For Rooted",
        "passwd changed for user bob",
        "password failed for root",
        "xfailed passwordy",
        "job 2025-11-24T22:20:01 finished in 12345.678901 s",
        "Root login refused (Root)",
        "multi-byte ÉCHEC de connexion pour ROOT",
    ];

    /// The records of [`LINES`], each 1 s after the last; every third is
    /// flagged an anomaly. A record's offset is its index.
    fn records() -> Vec<Record> {
        LINES
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut r = Record::from_line(
                    &origin(RECEIVED + i as i64 * 1000),
                    i as u64,
                    0,
                    l.as_bytes().to_vec(),
                );
                // Every sixth has a reason, the others only the flag.
                if i % 3 == 0 {
                    r.flags |= flags::ANOMALY;
                }
                if i % 6 == 0 {
                    r.anomaly = Some(format!("test-rule line={i} [{i:04x}]"));
                }
                r
            })
            .collect()
    }

    /// A RAM index of `records`, documents only (no archive: the tests
    /// identify a hit by its `offset` column).
    struct Ram {
        s: LogSchema,
        index: Index,
    }

    impl Ram {
        fn new(records: &[Record]) -> Ram {
            let s = LogSchema::new();
            let index = Index::create_in_ram(s.schema.clone());
            LogSchema::register_tokenizers(&index);
            let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
            for r in records {
                w.add_document(s.document(r, Location::default())).unwrap();
            }
            w.commit().unwrap();
            Ram { s, index }
        }

        /// The offsets of the documents `q` finds, sorted.
        fn hits(&self, q: &dyn Query) -> Vec<u64> {
            let searcher = self.index.reader().unwrap().searcher();
            let docs = searcher.search(q, &DocSetCollector).unwrap();
            let mut out: Vec<u64> = docs
                .into_iter()
                .map(|a| {
                    let seg = searcher.segment_reader(a.segment_ord);
                    seg.fast_fields()
                        .u64("offset")
                        .unwrap()
                        .first(a.doc_id)
                        .unwrap()
                })
                .collect();
            out.sort_unstable();
            out
        }
    }

    fn plan_for(expr: &Expr, filters: &Filters, case_sensitive: bool) -> Plan {
        plan(expr, filters, case_sensitive, &LogSchema::new()).unwrap()
    }

    /// The offsets of [`records`] that `query` matches by the check alone.
    fn checked(query: &str, case_sensitive: bool) -> Vec<u64> {
        let plan = plan_for(&parse(query).unwrap(), &Filters::default(), case_sensitive);
        records()
            .iter()
            .filter(|r| plan.matches(r))
            .map(|r| r.offset)
            .collect()
    }

    /// Runs `expr` under `filters` on the index of [`records`] and checks
    /// the plan's promises: the index finds a superset of what `matches`
    /// accepts, the very same set when no check is needed. Returns the
    /// exact matches.
    fn run(ram: &Ram, expr: &Expr, filters: &Filters, case_sensitive: bool) -> Vec<u64> {
        let plan = plan(expr, filters, case_sensitive, &ram.s).unwrap();
        let found = ram.hits(plan.query());
        let exact: Vec<u64> = records()
            .iter()
            .filter(|r| plan.matches(r))
            .map(|r| r.offset)
            .collect();
        for o in &exact {
            assert!(
                found.contains(o),
                "{expr:?} {filters:?} cs={case_sensitive}: the index misses line {o} ({:?}); found {found:?}, exact {exact:?}",
                LINES[*o as usize]
            );
        }
        if !plan.needs_check() {
            assert_eq!(
                found, exact,
                "{expr:?} {filters:?} cs={case_sensitive}: said exact but is not"
            );
        }
        exact
    }

    fn q(text: &str) -> Expr {
        parse(text).unwrap()
    }

    #[test]
    fn negated_word_excludes_lines_with_it_in_the_index_alone() {
        // `logq -- sshd -root` must drop every line with root, and do it in
        // the index (no line needs reading to decide).
        let ram = Ram::new(&records());
        let plan = plan_for(&q("sshd -root"), &Filters::default(), false);
        assert!(!plan.needs_check());
        assert_eq!(
            run(&ram, &q("sshd -root"), &Filters::default(), false),
            [1, 2]
        );
        assert!(!checked("-root", false).contains(&0));
        assert!(!checked("-root", false).contains(&3), "ROOT is root");
    }

    #[test]
    fn negated_phrase_is_checked_on_the_line() {
        // `sshd -"failed password"` must keep `Accepted password` lines and
        // drop the failures, although the index cannot see word order.
        let ram = Ram::new(&records());
        let e = q(r#"sshd -"failed password""#);
        assert!(plan_for(&e, &Filters::default(), false).needs_check());
        assert_eq!(run(&ram, &e, &Filters::default(), false), [2, 3]);
    }

    #[test]
    fn or_wants_either() {
        // `logq 'accepted OR refused'` must show both kinds of line.
        let ram = Ram::new(&records());
        assert_eq!(
            run(&ram, &q("accepted OR refused"), &Filters::default(), false),
            [2, 15]
        );
        assert_eq!(
            run(
                &ram,
                &q(r#"refused OR "ordered data""#),
                &Filters::default(),
                false
            ),
            [5, 15]
        );
    }

    #[test]
    fn words_match_whole_terms_and_phrases_in_order() {
        // `logq pass` must not find password (words are whole words), and a
        // phrase must not match its words in another order or inside longer
        // words; a run of spaces in the phrase stands for one space.
        assert_eq!(checked("pass", false), Vec::<u64>::new());
        assert_eq!(checked("203.0.113.9", false), [0, 2, 3]);
        assert_eq!(checked(r#""failed password""#, false), [0, 1, 10]);
        assert_eq!(checked(r#""failed   password""#, false), [0, 1, 10]);
        assert!(
            !checked(r#""failed password""#, false).contains(&12),
            "order"
        );
        assert!(
            !checked(r#""failed password""#, false).contains(&13),
            "whole words"
        );
        assert!(
            !checked(r#""failed password""#, false).contains(&9),
            "two spaces in line"
        );
    }

    #[test]
    fn words_without_terms_are_substrings_of_the_line() {
        // The index has no terms for ISO stamps and fine decimals: the query
        // must still narrow to the lines holding them.
        assert_eq!(checked("2025-11-24T22:20:01", false), [8, 14]);
        assert_eq!(checked("12345.678901", false), [5, 14]);
        let plan = plan_for(&q("12345.678901"), &Filters::default(), false);
        assert!(plan.needs_check());
    }

    #[test]
    fn prefixes_match_the_start_of_any_term() {
        // `pass*` must find password and passwd, also as a part
        // (/password/reset), and nothing that merely contains `pass`.
        let ram = Ram::new(&records());
        let got = run(&ram, &q("pass*"), &Filters::default(), false);
        assert_eq!(got, [0, 1, 2, 8, 9, 10, 11, 12, 13]);
        assert!(!plan_for(&q("pass*"), &Filters::default(), false).needs_check());
        // With case: `Pass*` only where a word starts with `Pass`.
        assert_eq!(run(&ram, &q("Pass*"), &Filters::default(), true), [10]);
    }

    #[test]
    fn case_sensitive_word_does_not_match_other_case() {
        // `logq -s Root` must skip `root` and `ROOT`, and `Rooted`.
        let ram = Ram::new(&records());
        assert_eq!(run(&ram, &q("Root"), &Filters::default(), true), [7, 15]);
        assert_eq!(
            run(&ram, &q("Root"), &Filters::default(), false),
            [0, 3, 4, 6, 7, 12, 15, 16]
        );
        assert_eq!(checked(r#""Failed password""#, true), [0, 1]);
        assert_eq!(checked("ÉCHEC", true), [16]);
        assert_eq!(checked("échec", true), Vec::<u64>::new());
        assert!(plan_for(&q("root"), &Filters::default(), true).needs_check());
    }

    #[test]
    fn host_and_program_globs() {
        // `-H 'web*'` and `program:ssh*` must select by pattern, with case,
        // and agree between index and check.
        let ram = Ram::new(&records());
        let f = Filters::default();
        assert_eq!(run(&ram, &q("host:web?"), &f, false), [0, 1, 2, 4, 6, 7, 8]);
        assert_eq!(run(&ram, &q("host:db*"), &f, false), [3, 5]);
        assert_eq!(run(&ram, &q("host:WEB1"), &f, false), Vec::<u64>::new());
        assert_eq!(run(&ram, &q("host:agent*"), &f, false).len(), 8);
        assert_eq!(run(&ram, &q("program:ssh*"), &f, false), [0, 1, 2, 3]);
        assert_eq!(run(&ram, &q("program:CRON"), &f, false), [6]);
        assert_eq!(run(&ram, &q("-program:*"), &f, false).len(), 8);
        // Glob characters of regexes are literal.
        assert_eq!(run(&ram, &q("host:web.*"), &f, false), Vec::<u64>::new());
        let hosts = Filters {
            hosts: vec!["db1".into(), "web2".into()],
            ..Filters::default()
        };
        assert_eq!(run(&ram, &Expr::All, &hosts, false), [1, 3, 6]);
        let programs = Filters {
            programs: vec!["nginx".into(), "k*".into()],
            ..Filters::default()
        };
        assert_eq!(run(&ram, &Expr::All, &programs, false), [5, 7, 8]);
    }

    #[test]
    fn program_check_agrees_with_the_index_after_reading_back() {
        // logq reads the program back by parsing the line again (in UTC, not
        // the agent's zone): `program:` must select the same lines either way.
        let records: Vec<Record> = LINES
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let origin = Origin {
                    utc_offset_secs: 13 * 3600,
                    ..origin(RECEIVED)
                };
                Record::from_line(&origin, i as u64, 0, l.as_bytes().to_vec())
            })
            .collect();
        let ram = Ram::new(&records);
        for glob in ["ssh*", "nginx", "*", "CRON", "k?rnel"] {
            let plan = plan_for(&Expr::Program(glob.into()), &Filters::default(), false);
            let read_back: Vec<u64> = records
                .iter()
                .filter(|r| {
                    let text = line_text(&r.raw);
                    let parsed = logcore::parse::parse_line(&text, r.receive_time_ms, 0);
                    let r = Record {
                        program: parsed.program.map(str::to_owned),
                        ..(*r).clone()
                    };
                    plan.matches(&r)
                })
                .map(|r| r.offset)
                .collect();
            assert_eq!(ram.hits(plan.query()), read_back, "{glob}");
        }
    }

    #[test]
    fn severity_and_facility() {
        // `severity:<=err` and `-p err` must find err and worse, and never a
        // line without a severity.
        let ram = Ram::new(&records());
        let f = Filters::default();
        assert_eq!(run(&ram, &q("severity:<=err"), &f, false), [3, 7]);
        assert_eq!(run(&ram, &q("severity:warning..err"), &f, false), [3, 5, 7]);
        assert_eq!(run(&ram, &q("severity:info"), &f, false), [0, 1, 2, 4, 6]);
        assert_eq!(
            run(&ram, &q("-severity:info"), &f, false).len(),
            LINES.len() - 5
        );
        assert_eq!(run(&ram, &q("facility:authpriv"), &f, false), [1, 4]);
        assert_eq!(
            run(&ram, &q("facility:auth OR facility:cron"), &f, false),
            [0, 2, 3, 6]
        );
        let sev = Filters {
            severity: Some((0, 4)),
            ..Filters::default()
        };
        assert_eq!(run(&ram, &Expr::All, &sev, false), [3, 5, 7]);
    }

    #[test]
    fn time_range_and_anomalies() {
        // --since is inclusive, --until exclusive; --anomalies keeps only
        // flagged lines, from the index alone (no line is read to decide).
        let ram = Ram::new(&records());
        let times: Vec<i64> = records().iter().map(|r| r.event_time_ms).collect();
        let range = Filters {
            since_ms: Some(times[12]),
            until_ms: Some(times[14]),
            ..Filters::default()
        };
        assert_eq!(run(&ram, &Expr::All, &range, false), [12, 13]);
        let anomalies = Filters {
            anomalies: true,
            ..Filters::default()
        };
        let plan = plan_for(&Expr::All, &anomalies, false);
        assert!(!plan.needs_check());
        assert_eq!(
            ram.hits(plan.query()),
            [0, 3, 6, 9, 12, 15],
            "every third line is flagged"
        );
        assert_eq!(run(&ram, &q("root"), &anomalies, false), [0, 3, 6, 12, 15]);
        let plan = plan_for(&q("root"), &anomalies, false);
        assert!(!plan.needs_check(), "a word and --anomalies are exact");
        assert_eq!(ram.hits(plan.query()), [0, 3, 6, 12, 15]);
        // NOT of a flagged-only query, and the flag with a time range.
        let both = Filters {
            anomalies: true,
            since_ms: Some(times[3]),
            until_ms: Some(times[12]),
            ..Filters::default()
        };
        // Line 6 (CRON, 22:17:01) is flagged but stamped before the range.
        assert_eq!(run(&ram, &Expr::All, &both, false), [3, 9]);
        assert_eq!(run(&ram, &q("NOT root"), &both, false), [9]);
    }

    #[test]
    fn regex_narrows_by_words_with_delimiters_on_both_sides() {
        // A regex search must not read every line when the regex names
        // whole words, and must never drop a line it matches.
        assert_eq!(
            regex_terms("Failed password for (root|admin) from", false),
            ["password", "for"]
        );
        // The alternation spells the run two ways: either spelling's words.
        assert_eq!(
            regex_groups("Failed password for (root|admin) from", false),
            [[
                vec!["password", "for", "root", " from"],
                vec!["password", "for", "admin", " from"]
            ]]
        );
        // A literal's last piece starts a word: its term has that prefix.
        assert_eq!(
            regex_groups("Failed password", false),
            [[vec![" password"]]]
        );
        assert_eq!(regex_groups("user=Root: x", false), [[vec!["root", " x"]]]);
        assert_eq!(regex_groups(" 2026-11", false), [[Vec::<String>::new()]]);
        assert_eq!(regex_groups(" john.doe: ", false)[0][0], [" john"]);
        // Too many spellings, or a spelling without words: nothing sure.
        assert_eq!(regex_terms("x (a|b|c|d|e)(f|g|h|i|j) y z", false), ["y"]);
        assert_eq!(regex_terms(" (root|x?) from ", false), ["from"]);
        assert!(regex_terms(r"pass\w+", false).is_empty());
        assert!(regex_terms(r"port \d+ ssh2", false).is_empty());
        assert_eq!(
            regex_terms(r"(a (user=root; x)) 1 22 y", false),
            ["user", "root", "x"]
        );
        assert_eq!(
            regex_terms(r" john\.doe: ", false),
            ["john.doe", "john", "doe"]
        );
        assert!(
            regex_terms(" john.doe: ", false).is_empty(),
            "an unescaped . is any character"
        );
        assert!(regex_terms(" ÉCHEC ", false).is_empty());
        assert_eq!(regex_terms(" ÉCHEC ", true), ["échec"]);
        assert!(regex_terms("(?i) abc ", true).is_empty());
        assert!(regex_terms("a (b", false).is_empty(), "invalid: no terms");
        let ram = Ram::new(&records());
        let f = Filters::default();
        let e = Expr::Regex("Failed password for (root|admin) from".into());
        assert_eq!(run(&ram, &e, &f, false), [0]);
        assert_eq!(
            run(&ram, &Expr::Regex(r"port \d+ ssh2$".into()), &f, false),
            [0, 1, 2]
        );
        assert_eq!(
            run(&ram, &Expr::Regex(r"for root\b".into()), &f, true),
            [0, 12]
        );
    }

    #[test]
    fn invalid_regex_names_the_pattern() {
        // `logq -e 'a(b'` must say which pattern is wrong.
        let err = plan(
            &Expr::Regex("a(b".into()),
            &Filters::default(),
            false,
            &LogSchema::new(),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("invalid regular expression \"a(b\""),
            "{err:#}"
        );
    }

    #[test]
    fn delimiters_are_the_tokenizer_s() {
        // Regex narrowing relies on knowing where the index's words end;
        // were the two lists to differ, a regex search could miss lines.
        for c in (0..0x3100u32)
            .chain([0xfeff, 0xfffd, 0x1f600])
            .filter_map(char::from_u32)
        {
            let split = query_terms(&format!("ab{c}cd")) == ["ab", "cd"];
            assert_eq!(is_delimiter(c), split, "{c:?} (U+{:04X})", c as u32);
        }
    }

    #[test]
    fn occurs_as_word_respects_boundaries_and_overlaps() {
        // `logq -s a-a` must find `ba-a-a`'s second `a-a`.
        assert!(occurs_as_word("ba-a-a", "a-a"));
        assert!(!occurs_as_word("Rooted", "Root"));
        assert!(occurs_as_word("(Root)", "Root"));
        assert!(occurs_as_word("xsshd[1]:", "[1]:"));
        assert!(!occurs_as_word("éRoot", "Root"));
    }

    #[test]
    fn index_is_a_superset_and_exact_when_it_says_so() {
        // Whatever the combination, logq must never lose a matching line in
        // the index, and must not print a non-matching one unchecked.
        let ram = Ram::new(&records());
        let atoms: Vec<Expr> = [
            "root",
            "password",
            "sshd",
            "2025-11-24T22:20:01",
            "12345.678901",
            r#""failed password""#,
            r#""for   root""#,
            "pass*",
            "Ro*",
            "user:root",
            "203.0.113.9",
            "host:web*",
            "host:db?",
            "program:ssh*",
            "program:nginx",
            "severity:<=err",
            "severity:info",
            "facility:auth",
        ]
        .iter()
        .map(|t| q(t))
        .chain([
            Expr::Regex("Failed password for (root|admin) from".into()),
            Expr::Regex(r"pass\w+".into()),
            Expr::Regex(r" (?i:root) ".into()),
        ])
        .collect();
        let filters = [
            Filters::default(),
            Filters {
                hosts: vec!["web*".into()],
                programs: vec!["sshd".into(), "CRON".into(), "nginx".into()],
                ..Filters::default()
            },
            Filters {
                severity: Some((0, 6)),
                since_ms: Some(RECEIVED + 1000),
                until_ms: Some(RECEIVED + 14_000),
                anomalies: true,
                ..Filters::default()
            },
        ];
        let not = |e: &Expr| Expr::Not(Box::new(e.clone()));
        let mut non_trivial = 0;
        for a in &atoms {
            for b in &atoms {
                let exprs = [
                    Expr::And(vec![a.clone(), b.clone()]),
                    Expr::Or(vec![a.clone(), b.clone()]),
                    Expr::And(vec![a.clone(), not(b)]),
                    Expr::Or(vec![not(a), b.clone()]),
                    not(&Expr::Or(vec![a.clone(), not(b)])),
                ];
                for e in &exprs {
                    for (i, f) in filters.iter().enumerate() {
                        let cs = i == 1;
                        let n = run(&ram, e, f, cs).len();
                        non_trivial += usize::from(n > 0 && n < LINES.len());
                    }
                }
            }
        }
        assert!(
            non_trivial > 1000,
            "{non_trivial} queries selected some lines"
        );
    }
}
