//! The query language's lexer and recursive-descent parser.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Host,
    Program,
    Unit,
    Severity,
    Facility,
}

/// The field a word names before its first `:`, if it is one.
pub(super) fn field_of(word: &str) -> Option<Field> {
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
pub(super) struct Token {
    tok: Tok,
    /// Character offset.
    pub(super) pos: usize,
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

pub(super) fn lex(chars: &[char]) -> Result<Vec<Token>, QueryError> {
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

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) next: usize,
    pub(super) depth: usize,
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

    pub(super) fn or(&mut self) -> Result<Expr, QueryError> {
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
