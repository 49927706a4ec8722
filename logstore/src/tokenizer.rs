//! The `message` field's tokenizer: [`logcore::terms`] behind tantivy's
//! `Tokenizer` interface (as tantivy keeps `tokenizer-api` apart from its
//! tokenizers, the rules live in the shared crate and only this adapter
//! knows tantivy).

use logcore::long_tail;
use logcore::terms::{lowercase_into, Terms};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the tokenizer is registered under in the index's
/// `TokenizerManager` (see [`crate::schema::LogSchema::register_tokenizers`]).
pub const TOKENIZER_NAME: &str = "logq_log";

/// The log tokenizer: the terms of [`logcore::terms`], with the long tail
/// as its keys ([`logcore::long_tail`]) when `hashed` (schema version 7
/// and later).
#[derive(Clone, Default)]
pub struct LogTokenizer {
    token: Token,
    hashed: bool,
}

impl LogTokenizer {
    pub fn new(hashed: bool) -> LogTokenizer {
        LogTokenizer {
            token: Token::default(),
            hashed,
        }
    }
}

impl Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.token.reset();
        LogTokenStream {
            text,
            terms: Terms::new(text),
            token: &mut self.token,
            hashed: self.hashed,
            term: String::new(),
        }
    }
}

/// The tokens of one text, see [`LogTokenizer`].
pub struct LogTokenStream<'a> {
    text: &'a str,
    terms: Terms<'a>,
    token: &'a mut Token,
    hashed: bool,
    /// The term of a long-tail key, while its key is made.
    term: String,
}

impl TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(range) = self.terms.next() else {
            return false;
        };
        lowercase_into(&self.text[range.clone()], &mut self.token.text);
        if self.hashed && long_tail::is_long_tail(&self.token.text) {
            std::mem::swap(&mut self.term, &mut self.token.text);
            long_tail::key_into(&self.term, &mut self.token.text);
        }
        self.token.offset_from = range.start;
        self.token.offset_to = range.end;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index must hold exactly the terms the query side looks up: a
    /// difference would make words unfindable.
    #[test]
    fn the_adapter_gives_the_shared_terms() {
        let line = "Nov 24 22:20:01 web1 sshd[1234]: Failed password for invalid user John.Doe from 203.0.113.9 port 52144 ssh2 [12345.678901] ÄÖ";
        for hashed in [false, true] {
            let mut tokenizer = LogTokenizer::new(hashed);
            let mut stream = tokenizer.token_stream(line);
            let mut got = Vec::new();
            while stream.advance() {
                got.push(stream.token().text.clone());
            }
            let want: Vec<String> = logcore::terms::terms(line)
                .map(|t| long_tail::index_term(&t, hashed).into_owned())
                .collect();
            assert_eq!(got, want);
            assert!(got.contains(&"john.doe".to_owned()));
            assert_eq!(got.contains(&"203.0.113.9".to_owned()), !hashed);
        }
    }
}
