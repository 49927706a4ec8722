//! The exact meaning of a query on one record, whatever engine found it.
//!
//! An engine answers a query with a *superset* of the matching lines (an
//! index clause per node, see the engine crate) and, where it cannot
//! decide, each candidate goes through [`Matcher::matches`], which decides
//! exactly on the record: its line, host, program, numbers, time and
//! flags. The definition of what each node matches is the engine crate's
//! module documentation of its plan (`logstore::plan`); this module is its
//! executable form.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;
use std::sync::Arc;

use crate::detect::flagged::Flagged;
use crate::record::{flags, line_text, Record, Want};
use crate::terms::{lowercase_into, query_terms, Terms};

use super::Expr;

/// A pattern the query names cannot be used (an invalid regular
/// expression, a glob that makes no regex).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

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
    /// Only anomalies: lines flagged [`flags::ANOMALY`], or lines of an
    /// episode in `flagged`.
    pub anomalies: bool,
    /// The episodes of the side table (`crate::detect::flagged`): lines
    /// counted by an anomaly before it fired, which the index does not
    /// flag.
    pub flagged: Arc<Flagged>,
}

/// The exact check of a query and its filters on a record.
#[derive(Debug)]
pub struct Matcher {
    check: Check,
    hosts: Vec<Glob>,
    programs: Vec<Glob>,
    units: Vec<Glob>,
    severity: Option<(u8, u8)>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    anomalies: bool,
    flagged: Arc<Flagged>,
    case_sensitive: bool,
}

impl Matcher {
    /// The check of `expr` under `filters`. Fails on an invalid regular
    /// expression or glob.
    pub fn new(
        expr: &Expr,
        filters: &Filters,
        case_sensitive: bool,
    ) -> Result<Matcher, PatternError> {
        Ok(Matcher {
            check: Check::of(expr, case_sensitive)?,
            hosts: globs(&filters.hosts)?,
            programs: globs(&filters.programs)?,
            units: globs(&filters.units)?,
            severity: filters.severity,
            since_ms: filters.since_ms,
            until_ms: filters.until_ms,
            anomalies: filters.anomalies,
            flagged: filters.flagged.clone(),
            case_sensitive,
        })
    }

    /// What [`Matcher::matches`] reads of a record: the host and program
    /// only when the query or the filters name them (or episodes of the
    /// side table must be joined: they need the program and message).
    pub fn want(&self) -> Want {
        let joins = self.anomalies && !self.flagged.is_empty();
        if !joins
            && self.hosts.is_empty()
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
            && (!self.anomalies || r.has(flags::ANOMALY) || self.flagged.reason(r).is_some())
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
pub(crate) enum Check {
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
    /// The check of `expr`, node for node.
    pub(crate) fn of(expr: &Expr, case_sensitive: bool) -> Result<Check, PatternError> {
        let all = |items: &[Expr]| -> Result<Vec<Check>, PatternError> {
            items.iter().map(|e| Check::of(e, case_sensitive)).collect()
        };
        Ok(match expr {
            Expr::All => Check::All,
            Expr::And(items) => Check::And(all(items)?),
            Expr::Or(items) => Check::Or(all(items)?),
            Expr::Not(inner) => Check::Not(Box::new(Check::of(inner, case_sensitive)?)),
            Expr::Word(word) => Check::Word {
                text: word.clone(),
                lower: lowercase(word),
                terms: query_terms(word),
            },
            Expr::Phrase(phrase) => {
                let joined = joined_phrase(phrase);
                Check::Phrase {
                    lower: lowercase(&joined),
                    terms: query_terms(&joined),
                    joined,
                }
            }
            Expr::Prefix(prefix) => Check::Prefix {
                text: prefix.clone(),
                lower: lowercase(prefix),
            },
            Expr::Regex(pattern) => Check::Regex(
                regex::RegexBuilder::new(pattern)
                    .case_insensitive(!case_sensitive)
                    .build()
                    .map_err(|e| {
                        PatternError(format!("invalid regular expression {pattern:?}: {e}"))
                    })?,
            ),
            Expr::Host(glob) => Check::Host(Glob::new(glob)?),
            Expr::Program(glob) => Check::Program(Glob::new(glob)?),
            Expr::Unit(glob) => Check::Unit(Glob::new(glob)?),
            Expr::Severity { lo, hi } => Check::Severity(*lo, *hi),
            Expr::Facility(f) => Check::Facility(*f),
        })
    }

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
        self.terms
            .get_or_init(|| crate::terms::terms(&self.text).collect())
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
        let mut token = String::new();
        let mut words = Terms::new(&self.text);
        while missing != 0 {
            let Some(range) = words.next() else { break };
            lowercase_into(&self.text[range], &mut token);
            for (i, t) in terms.iter().enumerate() {
                if *t == token {
                    missing &= !(1u64 << i);
                }
            }
        }
        missing == 0
    }

    /// Whether a word of the line (or a part of one), with its case,
    /// starts with `prefix`.
    fn token_starts_with(&self, prefix: &str) -> bool {
        Terms::new(&self.text).any(|range| self.text[range].starts_with(prefix))
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

/// A phrase's words joined by single spaces: a run of whitespace in a
/// phrase stands for one space.
pub fn joined_phrase(phrase: &str) -> String {
    phrase.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lowercase the way the tokenizer does it: character by character.
pub fn lowercase(text: &str) -> String {
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
pub struct Glob {
    /// The regex body, without anchors (tantivy's regexes match whole terms).
    body: String,
    /// The glob itself when it has no wildcard.
    literal: Option<String>,
    anchored: regex::Regex,
}

impl Glob {
    pub fn new(glob: &str) -> Result<Glob, PatternError> {
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
            .map_err(|e| PatternError(format!("cannot use the pattern {glob:?}: {e}")))?;
        Ok(Glob {
            literal: (!glob.contains(['*', '?'])).then(|| glob.to_owned()),
            body,
            anchored,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }

    /// The regex body, without anchors: for an engine whose regexes match
    /// whole terms.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The glob itself when it has no wildcard.
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }
}

/// The globs of `patterns`.
pub fn globs(patterns: &[String]) -> Result<Vec<Glob>, PatternError> {
    patterns.iter().map(|g| Glob::new(g)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurs_as_word_respects_boundaries_and_overlaps() {
        // `logq -s a-a` must find `ba-a-a`'s second `a-a`.
        assert!(occurs_as_word("ba-a-a", "a-a"));
        assert!(!occurs_as_word("Rooted", "Root"));
        assert!(occurs_as_word("(Root)", "Root"));
        assert!(occurs_as_word("xsshd[1]:", "[1]:"));
        assert!(!occurs_as_word("éRoot", "Root"));
    }
}
