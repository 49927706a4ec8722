//! The query language of `logq`, parsed into an [`Expr`].
//!
//! ```text
//! query  := or
//! or     := and ("OR" and)*
//! and    := unary (["AND"] unary)*          adjacent terms are ANDed
//! unary  := ("NOT" | "-") unary | atom
//! atom   := "(" or ")" | PHRASE | FIELD ":" VALUE | WORD
//! ```
//!
//! - NOT binds tighter than AND, AND tighter than OR: `a b OR c` is
//!   `(a AND b) OR c`, `NOT a b` is `(NOT a) AND b`.
//! - `OR`, `AND` and `NOT` are keywords in upper case only: `or` is a word.
//! - `-` negates when it starts a term and something other than whitespace,
//!   `)` or another `-` follows it: `-root`, `-"a b"`, `-(a OR b)`,
//!   `-host:web1`. Otherwise it is part of a word: `run-parts`,
//!   `--report`, a lone `-`. The word right after a `-` is never a keyword.
//! - A PHRASE is `"..."`, with `\"` and `\\` as escapes inside (any other
//!   backslash is kept as it is).
//! - A WORD is a run of characters other than whitespace, `(`, `)` and `"`.
//!   A trailing `*` makes it a prefix (`pass*`); a `*` elsewhere is an
//!   error; a lone `*` matches every line.
//! - `FIELD:VALUE` when the text before the first `:` is `host`, `program`,
//!   `unit`, `severity` or `facility` (in any case); otherwise the whole thing is a
//!   word (`user:root`, `2001:db8::1`). The value may be quoted
//!   (`host:"a b"`).
//!   - `host:`, `program:` and `unit:` (a journal entry's systemd unit,
//!     `unit:ssh.service`) take a glob: `*` any run of characters, `?`
//!     one character (also inside quotes), matched with case.
//!   - `severity:` takes a level (a name of [`SEVERITY_NAMES`], `error` and
//!     `warn` too, or its number 0–7) with an optional operator `<=`, `<`,
//!     `>=`, `>` or `=`, or a range `FROM..TO` (either order). The operators
//!     compare syslog *numbers*, where 0 (emerg) is the most severe:
//!     `severity:<=err` is err and more severe (0..=3), `severity:>=warning`
//!     is warning and less severe (4..=7), a bare `severity:err` is err only.
//!     This is unlike the `-p` flag, whose bare level means "this or more
//!     severe" as journalctl's does (see [`parse_severity_spec`]).
//!   - `facility:` takes a name of [`FACILITY_NAMES`] or a number 0–23.
//!
//! What each atom matches in a line is decided elsewhere (`check` on a record,
//! `logstore::plan` as an index clause); this module only reads the text.

use std::fmt::Write as _;

use crate::record::{FACILITY_NAMES, SEVERITY_NAMES};

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Every line (an empty query, a lone `*`).
    All,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A word as typed (case kept).
    Word(String),
    /// The start of a word, without its `*`.
    Prefix(String),
    /// The text between the quotes, escapes resolved.
    Phrase(String),
    /// A regular expression: never from [`parse`], logq builds it from `-e`.
    Regex(String),
    /// A glob on the host.
    Host(String),
    /// A glob on the program (the syslog tag).
    Program(String),
    /// A glob on the systemd unit of a journal entry.
    Unit(String),
    /// Syslog severity numbers `lo..=hi` (0 = emerg).
    Severity {
        lo: u8,
        hi: u8,
    },
    Facility(u8),
}

/// Why a query text could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// Offset in the text, in characters (not bytes).
    pub pos: usize,
    pub message: String,
}

impl QueryError {
    fn new(pos: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            pos,
            message: message.into(),
        }
    }

    /// The message, then the part of `text` (the text that was parsed)
    /// around the error, then a caret under the place:
    ///
    /// ```text
    /// unclosed quote
    ///   sshd "failed password
    ///        ^
    /// ```
    ///
    /// Control characters show as spaces; a long text is cut to the part
    /// around the error, with `…` where it was cut.
    pub fn render(&self, text: &str) -> String {
        const WIDTH: usize = 72;
        let chars: Vec<char> = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let pos = self.pos.min(chars.len());
        let (mut start, mut end) = (0, chars.len());
        if chars.len() > WIDTH {
            start = pos.saturating_sub(WIDTH / 2);
            end = (start + WIDTH).min(chars.len());
            start = end.saturating_sub(WIDTH).min(start);
        }
        let mut out = String::with_capacity(self.message.len() + 2 * WIDTH);
        out.push_str(&self.message);
        out.push_str("\n  ");
        let mut caret = pos - start;
        if start > 0 {
            out.push('…');
            caret += 1;
        }
        out.extend(&chars[start..end]);
        if end < chars.len() {
            out.push('…');
        }
        let _ = write!(out, "\n  {:caret$}^", "");
        out
    }
}

/// How deep parentheses and NOTs may nest (a guard for the stack).
const MAX_DEPTH: usize = 100;

/// Parses one query text. A blank text is [`Expr::All`].
pub fn parse(text: &str) -> Result<Expr, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let tokens = lex(&chars)?;
    let mut p = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    if p.tokens.is_empty() {
        return Ok(Expr::All);
    }
    let expr = p.or()?;
    match p.tokens.get(p.next) {
        None => Ok(expr),
        Some(t) => Err(QueryError::new(t.pos, "unbalanced ')'")),
    }
}

/// What logq does with its positional arguments: each one parsed on its
/// own ([`parse`]), the results ANDed; the error carries the index of the
/// argument it is in.
///
/// One exception makes logq read like grep: an argument of several *plain*
/// words is one phrase, so `logq 'failed password'` wants those words
/// together and in that order (`logq failed password` wants both anywhere).
/// A word is plain when it has no `"`, `(`, `)` or `*`, is not `OR`, `AND`
/// or `NOT`, does not start with `-` and has no field prefix (`host:`...).
/// An argument with any other word is a query: `logq 'sshd NOT root'`.
pub fn parse_args(args: &[String]) -> Result<Expr, (usize, QueryError)> {
    let mut all = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if is_plain_phrase(arg) {
            all.push(Expr::Phrase(arg.trim().to_owned()));
        } else {
            all.push(parse(arg).map_err(|e| (i, e))?);
        }
    }
    Ok(and_of(all))
}

fn is_plain_phrase(arg: &str) -> bool {
    let plain = |w: &str| {
        !w.contains(['"', '(', ')', '*'])
            && !matches!(w, "OR" | "AND" | "NOT")
            && !w.starts_with('-')
            && field_of(w).is_none()
    };
    arg.split_whitespace().nth(1).is_some() && arg.split_whitespace().all(plain)
}

/// The atoms of a query that are not negated, for highlighting matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positives {
    pub words: Vec<String>,
    pub phrases: Vec<String>,
    pub prefixes: Vec<String>,
    pub regexes: Vec<String>,
}

impl Expr {
    /// The words, phrases, prefixes and regular expressions that a matching
    /// line may contain: those under no NOT (or under two), each once.
    pub fn positives(&self) -> Positives {
        let mut out = Positives::default();
        self.collect_positives(true, &mut out);
        out
    }

    fn collect_positives(&self, positive: bool, out: &mut Positives) {
        fn add(list: &mut Vec<String>, s: &str) {
            if !list.iter().any(|x| x == s) {
                list.push(s.to_owned());
            }
        }
        match self {
            Expr::And(items) | Expr::Or(items) => {
                for e in items {
                    e.collect_positives(positive, out);
                }
            }
            Expr::Not(e) => e.collect_positives(!positive, out),
            _ if !positive => {}
            Expr::Word(w) => add(&mut out.words, w),
            Expr::Phrase(p) => add(&mut out.phrases, p),
            Expr::Prefix(p) => add(&mut out.prefixes, p),
            Expr::Regex(r) => add(&mut out.regexes, r),
            Expr::All
            | Expr::Host(_)
            | Expr::Program(_)
            | Expr::Unit(_)
            | Expr::Severity { .. }
            | Expr::Facility(_) => {}
        }
    }
}

/// `items` ANDed: nested ANDs flattened, [`Expr::All`] dropped.
fn and_of(items: Vec<Expr>) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        match e {
            Expr::All => {}
            Expr::And(inner) => out.extend(inner),
            e => out.push(e),
        }
    }
    match out.len() {
        0 => Expr::All,
        1 => out.pop().expect("one item"),
        _ => Expr::And(out),
    }
}

/// `items` ORed: nested ORs flattened; anything OR [`Expr::All`] is all.
fn or_of(items: Vec<Expr>) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        match e {
            Expr::All => return Expr::All,
            Expr::Or(inner) => out.extend(inner),
            e => out.push(e),
        }
    }
    match out.len() {
        0 => Expr::All,
        1 => out.pop().expect("one item"),
        _ => Expr::Or(out),
    }
}

// ---------------------------------------------------------------------------
// Severity and facility values

/// The severity numbers the `-p`/`--severity` flag selects, as an inclusive
/// range, with journalctl's meaning: a level (name or number 0–7) is that
/// level and every more severe one (`err` and `3` are 0..=3, `5` is 0..=5);
/// `FROM..TO` is the levels between them, either order (`warning..err` is
/// 3..=4). Names in any case; `error` and `warn` as aliases.
///
/// The query field `severity:` reads the same levels and ranges, but a bare
/// level there means that level only, and operators say more or less
/// severe (see the module documentation).
pub fn parse_severity_spec(s: &str) -> Result<(u8, u8), String> {
    match severity_range(s) {
        Some(range) => range,
        None => Ok((0, severity_level(s)?)),
    }
}

/// What `severity:VALUE` selects.
fn severity_field(value: &str) -> Result<(u8, u8), String> {
    for op in ["<=", ">=", "<", ">", "="] {
        let Some(rest) = value.strip_prefix(op) else {
            continue;
        };
        let n = severity_level(rest)?;
        let range = match op {
            "<=" => Some((0, n)),
            "<" => n.checked_sub(1).map(|hi| (0, hi)),
            ">=" => Some((n, 7)),
            ">" => (n < 7).then(|| (n + 1, 7)),
            _ => Some((n, n)),
        };
        return range.ok_or_else(|| {
            format!(
                "severity:{value} matches no level (0 emerg is the most severe, 7 debug the least)"
            )
        });
    }
    match severity_range(value) {
        Some(range) => range,
        None => severity_level(value).map(|n| (n, n)),
    }
}

/// `FROM..TO` when `s` has `..`.
fn severity_range(s: &str) -> Option<Result<(u8, u8), String>> {
    let (from, to) = s.trim().split_once("..")?;
    Some(severity_level(from).and_then(|a| {
        let b = severity_level(to)?;
        Ok((a.min(b), a.max(b)))
    }))
}

/// One level: a name or a number 0–7.
fn severity_level(s: &str) -> Result<u8, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(n) = t.parse::<u8>().ok().filter(|n| *n <= 7) {
            return Ok(n);
        }
    }
    let by_name = SEVERITY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(t))
        .or_else(|| {
            [("error", 3), ("warn", 4)]
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(t))
                .map(|(_, n)| *n)
        });
    match by_name {
        Some(n) => Ok(u8::try_from(n).expect("eight levels")),
        None => Err(format!(
            "unknown severity {t:?}: use {} or a number 0-7",
            SEVERITY_NAMES.join(", ")
        )),
    }
}

fn facility(value: &str) -> Result<u8, String> {
    let t = value.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(n) = t
            .parse::<u8>()
            .ok()
            .filter(|n| usize::from(*n) < FACILITY_NAMES.len())
        {
            return Ok(n);
        }
    }
    FACILITY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(t))
        .map(|n| u8::try_from(n).expect("24 facilities"))
        .ok_or_else(|| {
            format!(
                "unknown facility {t:?}: use {} or a number 0-23",
                FACILITY_NAMES.join(", ")
            )
        })
}

// ---------------------------------------------------------------------------
// Lexer

mod check;
mod grammar;
mod literals;
#[cfg(test)]
mod tests;

pub use check::{globs, joined_phrase, lowercase, Filters, Glob, Matcher, PatternError};
pub use literals::{required_literals, Spelling};

use grammar::{field_of, lex, Parser};
