//! The literals a regular expression requires: what lets an engine
//! narrow a regex search to the lines that have certain words, instead of
//! running the regex on every line. Engine-independent: each engine turns
//! [`required_literals`] into its own clauses.

use regex_syntax::hir::{Hir, HirKind};

use crate::terms::{is_delimiter, query_terms, MAX_TOKEN_BYTES};

/// One way of spelling a literal run the regex requires: every line the
/// regex matches with this spelling has all of `terms` and, for each of
/// `prefixes`, a term starting with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelling {
    pub terms: Vec<String>,
    pub prefixes: Vec<String>,
}

impl Spelling {
    /// Whether the spelling says nothing about a line.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.prefixes.is_empty()
    }
}

/// For each literal run `pattern` requires, its spellings (a small
/// alternation of literals, such as `(root|admin)`, spells a run several
/// ways): a line the regex matches has, for every run, all that some
/// spelling asks. Empty for an invalid pattern (which the check refuses).
/// See [`regex_terms`] for which pieces of a literal give terms.
pub fn required_literals(pattern: &str, case_sensitive: bool) -> Vec<Vec<Spelling>> {
    regex_groups(pattern, case_sensitive)
        .into_iter()
        .map(|group| {
            group
                .into_iter()
                .map(|terms| {
                    let (prefixes, terms): (Vec<String>, Vec<String>) =
                        terms.into_iter().partition(|t| t.starts_with(PREFIX_MARK));
                    Spelling {
                        terms,
                        prefixes: prefixes.into_iter().map(|p| p[1..].to_owned()).collect(),
                    }
                })
                .collect()
        })
        .collect()
}

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

/// Marks a prefix among a spelling's terms: no term holds whitespace.
const PREFIX_MARK: char = ' ';

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
    collect_runs(&hir, &mut runs, &mut current);
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
        prefix.truncate(MAX_TOKEN_BYTES);
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
fn collect_runs(hir: &Hir, runs: &mut Vec<Vec<Vec<u8>>>, current: &mut Vec<Vec<u8>>) {
    if let HirKind::Concat(items) = hir.kind() {
        for item in items {
            collect_runs(item, runs, current);
        }
        return;
    }
    if let HirKind::Capture(capture) = hir.kind() {
        return collect_runs(&capture.sub, runs, current);
    }
    match spellings(hir).and_then(|next| product(current, &next)) {
        Some(joined) => *current = joined,
        None => runs.push(std::mem::replace(current, vec![Vec::new()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
