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
//! What each atom matches in a line is logq's business (`logq/src/search.rs`);
//! this module only reads the text.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Host,
    Program,
    Unit,
    Severity,
    Facility,
}

/// The field a word names before its first `:`, if it is one.
fn field_of(word: &str) -> Option<Field> {
    let (name, _) = word.split_once(':')?;
    [
        ("host", Field::Host),
        ("program", Field::Program),
        ("unit", Field::Unit),
        ("severity", Field::Severity),
        ("facility", Field::Facility),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, f)| f)
}

#[derive(Debug)]
enum Tok {
    Open,
    Close,
    Or,
    And,
    /// `NOT` or `-`, as written.
    Not(&'static str),
    Atom(Expr),
}

#[derive(Debug)]
struct Token {
    tok: Tok,
    /// Character offset.
    pos: usize,
}

/// Reads `"..."` starting at the quote at `start`; returns the text and
/// the offset after the closing quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), QueryError> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((text, i + 1)),
            '\\' if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                text.push(chars[i + 1]);
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(QueryError::new(start, "unclosed quote"))
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn lex(chars: &[char]) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    // The word right after a `-` is a term, not a keyword.
    let mut after_dash = false;
    while i < chars.len() {
        let c = chars[i];
        let pos = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::Open
            }
            ')' => {
                i += 1;
                Tok::Close
            }
            '"' => {
                let (text, next) = quoted(chars, i)?;
                if text.trim().is_empty() {
                    return Err(QueryError::new(pos, "empty phrase"));
                }
                i = next;
                Tok::Atom(Expr::Phrase(text))
            }
            '-' if chars
                .get(i + 1)
                .is_some_and(|&n| !n.is_whitespace() && n != ')' && n != '-') =>
            {
                i += 1;
                tokens.push(Token {
                    tok: Tok::Not("-"),
                    pos,
                });
                after_dash = true;
                continue;
            }
            _ => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| ends_word(c))
                    .map_or(chars.len(), |n| i + n);
                let word: String = chars[i..end].iter().collect();
                i = end;
                match word.as_str() {
                    "OR" if !after_dash => Tok::Or,
                    "AND" if !after_dash => Tok::And,
                    "NOT" if !after_dash => Tok::Not("NOT"),
                    _ => match field_of(&word) {
                        Some(field) => {
                            let (atom, next) = field_atom(chars, pos, &word, field, end)?;
                            i = next;
                            Tok::Atom(atom)
                        }
                        None => Tok::Atom(word_atom(pos, word)?),
                    },
                }
            }
        };
        after_dash = false;
        tokens.push(Token { tok, pos });
    }
    Ok(tokens)
}

/// A word: a prefix when it ends with `*`.
fn word_atom(pos: usize, word: String) -> Result<Expr, QueryError> {
    match word.chars().position(|c| c == '*') {
        None => Ok(Expr::Word(word)),
        Some(star) if star + 1 == word.chars().count() => {
            if star == 0 {
                Ok(Expr::All)
            } else {
                Ok(Expr::Prefix(word[..word.len() - 1].to_owned()))
            }
        }
        Some(star) => Err(QueryError::new(
            pos + star,
            "* only at the end of a word (for a prefix: pass*)",
        )),
    }
}

/// `field:value` at `pos`; `word_end` is where the word ended (a quoted
/// value may follow). Returns the atom and the offset after it.
fn field_atom(
    chars: &[char],
    pos: usize,
    word: &str,
    field: Field,
    word_end: usize,
) -> Result<(Expr, usize), QueryError> {
    let (name, value) = word.split_once(':').expect("field_of saw a ':'");
    let value_pos = pos + name.chars().count() + 1;
    let (value, end) = if value.is_empty() && chars.get(word_end) == Some(&'"') {
        quoted(chars, word_end)?
    } else {
        (value.to_owned(), word_end)
    };
    if value.is_empty() {
        return Err(QueryError::new(
            value_pos,
            format!("empty value after {}:", name.to_lowercase()),
        ));
    }
    let atom = match field {
        Field::Host => Expr::Host(value),
        Field::Program => Expr::Program(value),
        Field::Unit => Expr::Unit(value),
        Field::Severity => {
            let (lo, hi) = severity_field(&value).map_err(|m| QueryError::new(value_pos, m))?;
            Expr::Severity { lo, hi }
        }
        Field::Facility => {
            Expr::Facility(facility(&value).map_err(|m| QueryError::new(value_pos, m))?)
        }
    };
    Ok((atom, end))
}

// ---------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    /// Whether the next token can start a term.
    fn at_term(&self) -> bool {
        matches!(
            self.peek().map(|t| &t.tok),
            Some(Tok::Open | Tok::Not(_) | Tok::Atom(_))
        )
    }

    /// After an operator at `pos`: the term that must follow.
    fn require_term(&self, pos: usize, op: &str) -> Result<(), QueryError> {
        if self.at_term() {
            Ok(())
        } else {
            Err(QueryError::new(
                pos,
                format!("{op} needs something after it"),
            ))
        }
    }

    fn deeper(&mut self, pos: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(pos, "the query nests too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while let Some(Token { tok: Tok::Or, pos }) = self.peek() {
            let pos = *pos;
            self.next += 1;
            self.require_term(pos, "OR")?;
            items.push(self.and()?);
        }
        Ok(or_of(items))
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Token { tok: Tok::And, pos }) => {
                    let pos = *pos;
                    self.next += 1;
                    self.require_term(pos, "AND")?;
                }
                _ if self.at_term() => {}
                _ => break,
            }
            items.push(self.unary()?);
        }
        Ok(and_of(items))
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if let Some(Token {
            tok: Tok::Not(op),
            pos,
        }) = self.peek()
        {
            let (op, pos) = (*op, *pos);
            self.next += 1;
            self.require_term(pos, op)?;
            self.deeper(pos)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, QueryError> {
        let Some(token) = self.tokens.get_mut(self.next) else {
            let end = self.tokens.last().map_or(0, |t| t.pos);
            return Err(QueryError::new(end, "expected a term"));
        };
        let pos = token.pos;
        if let Tok::Atom(e) = &mut token.tok {
            let e = std::mem::replace(e, Expr::All);
            self.next += 1;
            return Ok(e);
        }
        if !matches!(token.tok, Tok::Open) {
            return Err(self.misplaced(&self.tokens[self.next]));
        }
        self.next += 1;
        let missing = || QueryError::new(pos, "missing ')' to close this '('");
        match self.peek() {
            Some(Token {
                tok: Tok::Close, ..
            }) => return Err(QueryError::new(pos, "empty parentheses")),
            None => return Err(missing()),
            Some(t) if !self.at_term() => return Err(self.misplaced(t)),
            Some(_) => {}
        }
        self.deeper(pos)?;
        let inner = self.or()?;
        self.depth -= 1;
        match self.peek() {
            Some(Token {
                tok: Tok::Close, ..
            }) => {
                self.next += 1;
                Ok(inner)
            }
            _ => Err(missing()),
        }
    }

    /// The error for a token where a term should start.
    fn misplaced(&self, t: &Token) -> QueryError {
        match t.tok {
            Tok::Or => QueryError::new(t.pos, "OR needs something before it"),
            Tok::And => QueryError::new(t.pos, "AND needs something before it"),
            Tok::Close => QueryError::new(t.pos, "unbalanced ')'"),
            _ => QueryError::new(t.pos, "expected a term"),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn w(s: &str) -> Expr {
        Expr::Word(s.into())
    }
    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }
    fn p(text: &str) -> Expr {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {}", e.render(text)))
    }
    fn err(text: &str) -> QueryError {
        match parse(text) {
            Ok(e) => panic!("{text:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }
    fn args(a: &[&str]) -> Result<Expr, (usize, QueryError)> {
        parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn not_binds_tighter_than_and_tighter_than_or() {
        // `sshd failed OR invalid` must mean (sshd failed) OR invalid, as in
        // every search engine; otherwise users get other lines than they read.
        assert_eq!(
            p("a b OR c"),
            Expr::Or(vec![Expr::And(vec![w("a"), w("b")]), w("c")])
        );
        assert_eq!(
            p("a OR b c"),
            Expr::Or(vec![w("a"), Expr::And(vec![w("b"), w("c")])])
        );
        assert_eq!(p("NOT a b"), Expr::And(vec![not(w("a")), w("b")]));
        assert_eq!(
            p("a AND b OR NOT c AND d"),
            Expr::Or(vec![
                Expr::And(vec![w("a"), w("b")]),
                Expr::And(vec![not(w("c")), w("d")]),
            ])
        );
        assert_eq!(
            p("(a OR b) c"),
            Expr::And(vec![Expr::Or(vec![w("a"), w("b")]), w("c")])
        );
        assert_eq!(p("NOT NOT a"), not(not(w("a"))));
        assert_eq!(p("a OR b OR c"), Expr::Or(vec![w("a"), w("b"), w("c")]));
    }

    #[test]
    fn adjacent_terms_are_anded_and_lowercase_keywords_are_words() {
        // `logq sshd root` wants both words; `logq error or warning` must
        // not silently turn `or` into an operator.
        assert_eq!(p("sshd root"), Expr::And(vec![w("sshd"), w("root")]));
        assert_eq!(p("sshd AND root"), p("sshd root"));
        assert_eq!(
            p("error or warning"),
            Expr::And(vec![w("error"), w("or"), w("warning")])
        );
        assert_eq!(p("Not"), w("Not"));
        assert_eq!(p("  "), Expr::All);
        assert_eq!(p(""), Expr::All);
        assert_eq!(p("*"), Expr::All);
        assert_eq!(p("a * b"), Expr::And(vec![w("a"), w("b")]));
    }

    #[test]
    fn dash_negates_only_at_the_start_of_a_term() {
        // `-root` excludes root, but `run-parts`, `--report` and a lone `-`
        // are what cron and CLI lines contain and must stay searchable.
        assert_eq!(p("sshd -root"), Expr::And(vec![w("sshd"), not(w("root"))]));
        assert_eq!(
            p(r#"sshd -"failed password""#),
            Expr::And(vec![w("sshd"), not(Expr::Phrase("failed password".into()))])
        );
        assert_eq!(p("-(a OR b)"), not(Expr::Or(vec![w("a"), w("b")])));
        assert_eq!(p("-host:web1"), not(Expr::Host("web1".into())));
        assert_eq!(p("run-parts"), w("run-parts"));
        assert_eq!(p("--report"), w("--report"));
        assert_eq!(p("a - b"), Expr::And(vec![w("a"), w("-"), w("b")]));
        assert_eq!(p("-OR"), not(w("OR")), "the word after - is a term");
        assert_eq!(p("(a -)"), Expr::And(vec![w("a"), w("-")]));
    }

    #[test]
    fn fields_only_for_known_names_the_rest_are_words_with_colons() {
        // `user:root` and IPv6 addresses are common words in logs; reading
        // them as unknown fields would make them unsearchable.
        assert_eq!(p("user:root"), w("user:root"));
        assert_eq!(p("2001:db8::1"), w("2001:db8::1"));
        assert_eq!(
            p("pam_unix(sshd:session)"),
            Expr::And(vec![w("pam_unix"), w("sshd:session")])
        );
        assert_eq!(p("host:web*"), Expr::Host("web*".into()));
        assert_eq!(p("HOST:Web1"), Expr::Host("Web1".into()));
        assert_eq!(p("program:nginx?"), Expr::Program("nginx?".into()));
        assert_eq!(p("unit:ssh.service"), Expr::Unit("ssh.service".into()));
        assert_eq!(p("Unit:\"a b\""), Expr::Unit("a b".into()));
        assert_eq!(p(r#"host:"a b*""#), Expr::Host("a b*".into()));
        assert_eq!(p("host::x"), Expr::Host(":x".into()));
        assert_eq!(p("facility:auth"), Expr::Facility(4));
        assert_eq!(p("facility:AUTHPRIV"), Expr::Facility(10));
        assert_eq!(p("facility:23"), Expr::Facility(23));
        assert_eq!(
            p("(host:web1 OR host:web2) sshd"),
            Expr::And(vec![
                Expr::Or(vec![Expr::Host("web1".into()), Expr::Host("web2".into())]),
                w("sshd")
            ])
        );
    }

    #[test]
    fn severity_field_has_operators_on_the_number() {
        // `severity:<=err` must mean err and worse (0..=3), the way
        // syslog numbers them; the reverse would show the debug noise.
        let sev = |lo, hi| Expr::Severity { lo, hi };
        assert_eq!(p("severity:err"), sev(3, 3));
        assert_eq!(p("severity:error"), sev(3, 3));
        assert_eq!(p("severity:3"), sev(3, 3));
        assert_eq!(p("severity:<=err"), sev(0, 3));
        assert_eq!(p("severity:<err"), sev(0, 2));
        assert_eq!(p("severity:>=warn"), sev(4, 7));
        assert_eq!(p("severity:>warning"), sev(5, 7));
        assert_eq!(p("severity:=crit"), sev(2, 2));
        assert_eq!(p("severity:warning..err"), sev(3, 4));
        assert_eq!(p("severity:err..warning"), sev(3, 4));
        assert_eq!(p("Severity:DEBUG"), sev(7, 7));
    }

    #[test]
    fn severity_flag_means_this_or_more_severe() {
        // `logq -p err` must show crit, alert and emerg too, as journalctl -p.
        assert_eq!(parse_severity_spec("err"), Ok((0, 3)));
        assert_eq!(parse_severity_spec("3"), Ok((0, 3)));
        assert_eq!(parse_severity_spec("5"), Ok((0, 5)));
        assert_eq!(parse_severity_spec("WARNING"), Ok((0, 4)));
        assert_eq!(parse_severity_spec("warning..err"), Ok((3, 4)));
        assert_eq!(parse_severity_spec("err..warning"), Ok((3, 4)));
        assert_eq!(parse_severity_spec("0..7"), Ok((0, 7)));
        for bad in ["8", "error..", "fatal", "", "..", "-1", "<=err"] {
            assert!(parse_severity_spec(bad).is_err(), "{bad:?}");
        }
        let e = parse_severity_spec("fatal").unwrap_err();
        assert!(e.contains("emerg, alert, crit, err, warning"), "{e}");
    }

    #[test]
    fn phrases_and_escapes() {
        // A quote or backslash inside a phrase must be searchable.
        assert_eq!(
            p(r#""say \"hi\" \\ now""#),
            Expr::Phrase(r#"say "hi" \ now"#.into())
        );
        assert_eq!(p(r#""a\d""#), Expr::Phrase(r"a\d".into()));
        assert_eq!(
            p(r#"x"a b"y"#),
            Expr::And(vec![w("x"), Expr::Phrase("a b".into()), w("y")])
        );
        assert_eq!(p(r#""OR""#), Expr::Phrase("OR".into()));
    }

    #[test]
    fn prefixes() {
        // `pass*` must find password and passwd; `*` inside a word is not
        // supported and must say so rather than find nothing.
        assert_eq!(p("pass*"), Expr::Prefix("pass".into()));
        assert_eq!(p("-pass*"), not(Expr::Prefix("pass".into())));
        assert_eq!(p("é*"), Expr::Prefix("é".into()));
    }

    /// The message and the position of the error in `text`.
    fn at(text: &str) -> (String, usize) {
        let e = err(text);
        (e.message, e.pos)
    }

    #[test]
    fn every_error_says_what_and_where() {
        // A typo must be pointed at, not answered with zero lines.
        assert_eq!(at(r#"sshd "failed password"#), ("unclosed quote".into(), 5));
        assert_eq!(at("a)"), ("unbalanced ')'".into(), 1));
        assert_eq!(at("(a OR b) c)"), ("unbalanced ')'".into(), 10));
        assert_eq!(at("x (a OR b"), ("missing ')' to close this '('".into(), 2));
        assert_eq!(at("sshd OR"), ("OR needs something after it".into(), 5));
        assert_eq!(at("sshd AND"), ("AND needs something after it".into(), 5));
        assert_eq!(at("NOT"), ("NOT needs something after it".into(), 0));
        assert_eq!(at("a NOT)"), ("NOT needs something after it".into(), 2));
        assert_eq!(at("a OR OR b"), ("OR needs something after it".into(), 2));
        assert_eq!(at("OR b"), ("OR needs something before it".into(), 0));
        assert_eq!(at("(AND b)"), ("AND needs something before it".into(), 1));
        assert_eq!(at("a ()"), ("empty parentheses".into(), 2));
        assert_eq!(at("a \"  \""), ("empty phrase".into(), 2));
        assert_eq!(
            at("p*ss"),
            (
                "* only at the end of a word (for a prefix: pass*)".into(),
                1
            )
        );
        assert_eq!(
            at("é**"),
            (
                "* only at the end of a word (for a prefix: pass*)".into(),
                1
            )
        );
        assert_eq!(at("a host:"), ("empty value after host:".into(), 7));
        assert_eq!(at("Program:\"\""), ("empty value after program:".into(), 8));
        let (m, pos) = at("x severity:fatal");
        assert_eq!(pos, 11);
        assert!(
            m.starts_with("unknown severity \"fatal\"")
                && m.contains("emerg, alert, crit, err, warning, notice, info, debug"),
            "{m}"
        );
        let (m, pos) = at("facility:mail2");
        assert_eq!(pos, 9);
        assert!(
            m.contains("\"mail2\"") && m.contains("kern, user, mail"),
            "{m}"
        );
        assert_eq!(at("facility:24").1, 9);
        assert!(at("severity:<emerg").0.contains("matches no level"));
        assert!(at("severity:>7").0.contains("matches no level"));
        assert_eq!(at(&"(".repeat(500)).0, "the query nests too deeply");
        assert_eq!(at(&"NOT ".repeat(500)).0, "the query nests too deeply");
    }

    #[test]
    fn render_points_at_the_error() {
        // The caret must sit under the offending character, also after
        // multi-byte characters (positions count characters, not bytes).
        let text = r#"sshd "failed password"#;
        assert_eq!(
            err(text).render(text),
            "unclosed quote\n  sshd \"failed password\n       ^"
        );
        let text = "é ü (x";
        assert_eq!(
            err(text).render(text),
            "missing ')' to close this '('\n  é ü (x\n      ^"
        );
        let text = "sshd OR";
        assert!(err(text).render(text).ends_with("\n  sshd OR\n       ^"));
        // A long query is cut around the error, the caret still under it.
        let text = format!("{} \"open {}", "a ".repeat(100), "b ".repeat(100));
        let r = err(&text).render(&text);
        let lines: Vec<&str> = r.lines().collect();
        let caret = lines[2].chars().count() - 1;
        assert_eq!(lines[1].chars().nth(caret), Some('"'), "{r}");
        assert!(
            lines[1].starts_with("  …") && lines[1].ends_with('…'),
            "{r}"
        );
    }

    #[test]
    fn arguments_of_plain_words_are_phrases() {
        // `logq 'failed password'` must behave like grep (the phrase), while
        // `logq 'sshd NOT root'` is a query.
        assert_eq!(
            args(&["failed password"]),
            Ok(Expr::Phrase("failed password".into()))
        );
        assert_eq!(
            args(&["sshd", "failed  password "]),
            Ok(Expr::And(vec![
                w("sshd"),
                Expr::Phrase("failed  password".into())
            ]))
        );
        assert_eq!(
            args(&["sshd NOT root"]),
            Ok(Expr::And(vec![w("sshd"), not(w("root"))]))
        );
        assert_eq!(args(&["sshd -root"]), Ok(p("sshd -root")));
        assert_eq!(args(&["a host:web1"]), Ok(p("a host:web1")));
        assert_eq!(args(&["pass* word"]), Ok(p("pass* word")));
        assert_eq!(args(&["(a b)"]), Ok(p("a b")));
        assert_eq!(
            args(&["user:root logged in"]),
            Ok(Expr::Phrase("user:root logged in".into()))
        );
        assert_eq!(args(&["sshd "]), Ok(w("sshd")));
        assert_eq!(args(&[]), Ok(Expr::All));
        assert_eq!(args(&["", "x"]), Ok(w("x")));
        let (i, e) = args(&["sshd", "a OR"]).unwrap_err();
        assert_eq!((i, e.pos), (1, 2));
    }

    #[test]
    fn positives_leave_out_negated_atoms() {
        // Highlighting `root` in a line shown because of `-root`'s absence
        // would be a lie; a doubly negated word is wanted again.
        let e = p(r#"sshd -root pass* "failed password" NOT (x OR y) NOT NOT z host:web1"#);
        let got = e.positives();
        assert_eq!(got.words, ["sshd", "z"]);
        assert_eq!(got.prefixes, ["pass"]);
        assert_eq!(got.phrases, ["failed password"]);
        assert!(got.regexes.is_empty());
        let e = Expr::And(vec![Expr::Regex("a+".into()), w("a"), w("a")]);
        assert_eq!(e.positives().regexes, ["a+"]);
        assert_eq!(e.positives().words, ["a"]);
    }

    #[test]
    fn parse_never_panics_on_random_text() {
        // Whatever a user types (or a script passes), logq must answer with
        // a result or an error message, never a crash.
        let alphabet: Vec<&str> = vec![
            "(",
            ")",
            "\"",
            "\\",
            "-",
            "*",
            ":",
            " ",
            "  ",
            "\t",
            "OR",
            "AND",
            "NOT",
            "or",
            "a",
            "b",
            "é",
            "host:",
            "program:",
            "unit:",
            "severity:",
            "facility:",
            "<=",
            ">",
            "=",
            "..",
            "err",
            "7",
            "9",
            "auth",
            "?",
            "\u{0}",
            "\u{301}",
        ];
        let mut rng = StdRng::seed_from_u64(0x10c9);
        for _ in 0..20_000 {
            let n = rng.gen_range(0..12);
            let text: String = (0..n)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            match parse(&text) {
                // Parentheses around a whole query change nothing.
                Ok(Expr::All) => {}
                Ok(e) => assert_eq!(parse(&format!("({text})")), Ok(e), "{text:?}"),
                Err(e) => {
                    assert!(e.pos <= text.chars().count(), "{text:?}: {e:?}");
                    let _ = e.render(&text);
                }
            }
            let _ = parse_args(&[text.clone(), text]);
        }
    }
}
