//! How a line is cut into terms: the words of the `message` field, and
//! the same cut for queries. A plain iterator ([`Terms`]); the engine
//! crate adapts it to tantivy's tokenizer interface.
//!
//! A log line is not prose: the words people search for are host names,
//! addresses, user names, paths and numbers. The rules:
//!
//! - Text is lowercased.
//! - A *word* is a maximal run of characters other than whitespace, control
//!   characters, U+FFFD (what an invalid UTF-8 byte became) and
//!   `` " ' ` , ; ( ) [ ] { } < > = | ``; trailing `.` and `:` are trimmed.
//!   A word made only of `/ . - _ @ :` (a lone `-`, `::`) is dropped.
//! - Each word is a term, whole: `203.0.113.9`, `john.doe`,
//!   `/var/log/syslog`, `root@web1`, `2001:db8::1`.
//! - A word containing `/ . - _ @ :` also gives its parts split on those
//!   characters, so `syslog` finds `/var/log/syslog` and `113` finds
//!   `203.0.113.9`. `sshd[1234]:` gives `sshd` and `1234` (brackets split words).
//! - Except parts that are numbers of [`MIN_UNSPLIT_NUMBER`] digits or more,
//!   such as the `12345` and `678901` of a kernel stamp `[12345.678901]`:
//!   nearly every line has others, so as terms they cost about 2.8 bytes per
//!   line (term dictionary and postings, on collectord's ingest_bench
//!   corpus), and nobody looks for half a stamp. A number that is a whole
//!   word (the pid of `sshd[12345]:`, a port) is a term like any word.
//! - A word that is an ISO 8601 date and time (`2026-11-24T22:20:01.5+00:00`)
//!   gives no terms at all: it is nearly unique per line, and times are
//!   searched by range (`--since`, `--until`) on the event time.
//! - Nor does a number with a fraction of four digits or more
//!   (`12345.678901`): a measurement new on every line. `203.0.113.9` and
//!   `1.5` are words.
//! - A term is cut to at most [`MAX_TOKEN_BYTES`] bytes (on a character
//!   boundary); queries are cut the same way.
//!
//! Positions are not indexed (the field uses `IndexRecordOption::Basic`), so
//! the whole word and its parts may share the stream in any order.

use std::ops::Range;

/// Longest term, in bytes. Longer words are cut, not dropped.
pub const MAX_TOKEN_BYTES: usize = 255;

/// Parts made of this many digits or more are not terms (whole words are).
/// Four digits stay terms: a year, a short port.
pub const MIN_UNSPLIT_NUMBER: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Ends a word.
    Delimiter,
    /// Part of a word, and splits it into parts.
    Joiner,
    Word,
}

fn ascii_class(b: u8) -> Class {
    match b {
        b'"' | b'\'' | b'`' | b',' | b';' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<'
        | b'>' | b'=' | b'|' | 0x7f => Class::Delimiter,
        b'/' | b'.' | b'-' | b'_' | b'@' | b':' => Class::Joiner,
        b if b <= b' ' => Class::Delimiter,
        _ => Class::Word,
    }
}

/// The class of the character at byte `pos` and the byte length of it.
#[inline]
fn class_at(text: &str, pos: usize) -> (Class, usize) {
    let b = text.as_bytes()[pos];
    if b < 0x80 {
        return (ascii_class(b), 1);
    }
    let c = text[pos..]
        .chars()
        .next()
        .expect("pos is on a character boundary");
    (char_class(c), c.len_utf8())
}

fn char_class(c: char) -> Class {
    if c.is_ascii() {
        ascii_class(c as u8)
    } else if c.is_whitespace() || c.is_control() || c == char::REPLACEMENT_CHARACTER {
        Class::Delimiter
    } else {
        Class::Word
    }
}

/// Whether `c` ends a word (whitespace, quotes, brackets, `,;=<>|{}`, control
/// characters): what logq's regex narrowing cuts literals at, so that it
/// knows which pieces are whole words of the index.
pub fn is_delimiter(c: char) -> bool {
    char_class(c) == Class::Delimiter
}

/// Whether a word is an ISO 8601 date and time (`2026-11-24T22:20:01.123456+00:00`,
/// the stamp of every line Debian 12's rsyslog writes). Such a word is
/// nearly unique per line: as a term it would cost a dictionary entry per
/// line, and times are searched with `--since`/`--until`, not as words.
fn is_date_time(word: &[u8]) -> bool {
    let digits = |r: std::ops::Range<usize>| {
        word.get(r)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    word.len() >= 16
        && digits(0..4)
        && word[4] == b'-'
        && digits(5..7)
        && word[7] == b'-'
        && digits(8..10)
        && matches!(word[10], b'T' | b't')
        && digits(11..13)
        && word[13] == b':'
        && digits(14..16)
}

/// Whether a word is a number with a fraction of four digits or more
/// (`12345.678901`, the kernel's `[12345.678901]` uptime stamp): a
/// measurement, new on every line, that nobody searches as a word.
fn is_fine_number(word: &[u8]) -> bool {
    let Some(dot) = word.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (int, frac) = (&word[..dot], &word[dot + 1..]);
    !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && frac.len() >= 4
        && frac.iter().all(u8::is_ascii_digit)
}

/// Whether a part is a number of [`MIN_UNSPLIT_NUMBER`] digits or more.
fn is_long_number(part: &[u8]) -> bool {
    part.len() >= MIN_UNSPLIT_NUMBER && part.iter().all(u8::is_ascii_digit)
}

/// Sets `out` to `word` lowercased and cut to [`MAX_TOKEN_BYTES`]: the
/// term of a range [`Terms`] gives.
pub fn lowercase_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        let cut = word.len().min(MAX_TOKEN_BYTES);
        out.push_str(&word[..cut]);
        out.make_ascii_lowercase();
        return;
    }
    for c in word.chars() {
        for l in c.to_lowercase() {
            if out.len() + l.len_utf8() > MAX_TOKEN_BYTES {
                return;
            }
            out.push(l);
        }
    }
}

/// The terms of one text, in order (see the module documentation for the
/// rules): each item is the byte range of a word or of a part of one in
/// the text; [`lowercase_into`] makes it the term. The index's tokenizer
/// (in the engine crate) and the query side both walk this iterator.
pub struct Terms<'a> {
    text: &'a str,
    /// Where the search for the next word starts.
    pos: usize,
    /// While the parts of the last word are being given: the byte range
    /// of the word still to split.
    parts: Option<(usize, usize)>,
}

impl<'a> Terms<'a> {
    pub fn new(text: &'a str) -> Terms<'a> {
        Terms {
            text,
            pos: 0,
            parts: None,
        }
    }

    /// The next part of the current word, if any is left.
    fn next_part(&mut self) -> Option<Range<usize>> {
        let (mut from, to) = self.parts?;
        let bytes = self.text.as_bytes();
        loop {
            while from < to && ascii_class(bytes[from]) == Class::Joiner {
                from += 1;
            }
            if from >= to {
                self.parts = None;
                return None;
            }
            let mut end = from;
            while end < to && !(bytes[end] < 0x80 && ascii_class(bytes[end]) == Class::Joiner) {
                end += 1;
            }
            self.parts = Some((end, to));
            if !is_long_number(&bytes[from..end]) {
                return Some(from..end);
            }
            from = end;
        }
    }

    /// The next whole word, with its parts queued when it has joiners.
    fn next_word(&mut self) -> Option<Range<usize>> {
        let text = self.text;
        let bytes = text.as_bytes();
        loop {
            // Skip delimiters.
            while self.pos < text.len() {
                let (class, len) = class_at(text, self.pos);
                if class != Class::Delimiter {
                    break;
                }
                self.pos += len;
            }
            if self.pos >= text.len() {
                return None;
            }
            let start = self.pos;
            let mut has_joiner = false;
            let mut has_word = false;
            while self.pos < text.len() {
                let (class, len) = class_at(text, self.pos);
                match class {
                    Class::Delimiter => break,
                    Class::Joiner => has_joiner = true,
                    Class::Word => has_word = true,
                }
                self.pos += len;
            }
            if !has_word {
                continue;
            }
            let mut end = self.pos;
            while end > start && matches!(bytes[end - 1], b'.' | b':') {
                end -= 1;
            }
            let whole = &bytes[start..end];
            if is_date_time(whole) || is_fine_number(whole) {
                continue;
            }
            if has_joiner
                && whole
                    .iter()
                    .any(|&b| b < 0x80 && ascii_class(b) == Class::Joiner)
            {
                self.parts = Some((start, end));
            }
            return Some(start..end);
        }
    }
}

impl Iterator for Terms<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        self.next_part().or_else(|| self.next_word())
    }
}

/// The terms of `text`, lowercased and cut, in order (repeats included).
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    Terms::new(text).map(move |r| {
        let mut term = String::new();
        lowercase_into(&text[r], &mut term);
        term
    })
}

/// The terms the index holds for `text`, in order, without repeats: what a
/// word query must look up so that it matches exactly as indexing did.
///
/// Every term of a word is in every line that has the word, so a query may
/// require all of them; requiring only the whole words (the terms without
/// a joiner among them split off) finds the same lines.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for term in terms(text) {
        if !out.contains(&term) {
            out.push(term);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for range in Terms::new(text) {
            let mut term = String::new();
            lowercase_into(&text[range.clone()], &mut term);
            assert!(
                text[range].to_lowercase().starts_with(&term),
                "offsets must point at the token's text"
            );
            out.push(term);
        }
        out
    }

    fn has(text: &str, wanted: &[&str]) {
        let got = terms(text);
        for w in wanted {
            assert!(got.iter().any(|t| t == w), "{w:?} missing from {got:?}");
        }
    }

    #[test]
    fn sshd_failed_password() {
        // An operator searching for the attacker's address, the user, or
        // the program must find the line.
        let line = "Nov 24 22:20:01 web1 sshd[1234]: Failed password for invalid user john.doe from 203.0.113.9 port 52144 ssh2";
        has(
            line,
            &[
                "nov",
                "24",
                "22:20:01",
                "22",
                "20",
                "01",
                "web1",
                "sshd",
                "1234",
                "failed",
                "password",
                "invalid",
                "user",
                "john.doe",
                "john",
                "doe",
                "203.0.113.9",
                "203",
                "0",
                "113",
                "9",
                "port",
                "52144",
                "ssh2",
            ],
        );
        assert!(!terms(line)
            .iter()
            .any(|t| t.contains('[') || t.ends_with(':')));
    }

    #[test]
    fn sudo_line_keeps_paths_and_key_values() {
        let line = "Nov 24 22:21:07 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx.service";
        has(
            line,
            &[
                "sudo",
                "alice",
                "tty",
                "pts/0",
                "pts",
                "0",
                "pwd",
                "/home/alice",
                "home",
                "user",
                "root",
                "command",
                "/usr/bin/systemctl",
                "usr",
                "bin",
                "systemctl",
                "restart",
                "nginx.service",
                "nginx",
                "service",
            ],
        );
    }

    #[test]
    fn kernel_line() {
        let line = "Nov 24 22:22:45 web1 kernel: [12345.678901] EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)";
        has(
            line,
            &[
                "kernel", "ext4-fs", "ext4", "fs", "sda1", "mode", "opts", "null",
            ],
        );
        // "mode." and "Opts:" lose their trailing punctuation.
        assert!(!terms(line).iter().any(|t| t == "mode." || t == "opts:"));
        // The stamp's halves are long numbers: not terms of their own.
        assert!(!terms(line).iter().any(|t| t == "12345" || t == "678901"));
    }

    #[test]
    fn cron_line() {
        let line = "Nov 24 22:17:01 web1 CRON[5678]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)";
        has(
            line,
            &[
                "cron",
                "5678",
                "root",
                "cmd",
                "cd",
                "&&",
                "run-parts",
                "run",
                "parts",
                "--report",
                "report",
                "/etc/cron.hourly",
                "etc",
                "hourly",
            ],
        );
        // A lone "/" is not a term.
        assert!(!terms(line).iter().any(|t| t == "/"));
    }

    #[test]
    fn long_numbers_are_terms_as_words_not_as_parts() {
        // `logq 12345` must find the pid of sshd[12345] and port 52144; the
        // parts of a long decimal are left out, shorter ones stay.
        has(
            "web1 sshd[12345]: port 52144 at 2025-11-24 took 0.123456 s, id abc123456-12345678",
            &[
                "12345",
                "52144",
                "2025-11-24",
                "2025",
                "11",
                "24",
                "abc123456-12345678",
                "abc123456",
            ],
        );
        let got = terms("took 0.123456 s, id abc123456-12345678");
        assert!(
            !got.iter()
                .any(|t| t == "123456" || t == "12345678" || t == "0.123456"),
            "{got:?}"
        );
    }

    #[test]
    fn ipv6_address_is_one_term_with_parts() {
        let line =
            "Accepted publickey for deploy from 2001:db8::1 port 40022 ssh2: ED25519 SHA256:abc";
        has(
            line,
            &[
                "2001:db8::1",
                "2001",
                "db8",
                "1",
                "sha256:abc",
                "sha256",
                "abc",
            ],
        );
        has(
            "connect to [2001:db8::42]:443 failed",
            &["2001:db8::42", "443"],
        );
    }

    #[test]
    fn user_at_host_and_email() {
        has(
            "session opened for root@web1.example.com",
            &["root@web1.example.com", "root", "web1", "example", "com"],
        );
    }

    #[test]
    fn long_words_are_cut_not_dropped() {
        // A 10 kB base64 blob must not produce a term tantivy refuses.
        let blob = "A".repeat(10_000);
        let got = terms(&format!("x {blob} y"));
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].len(), MAX_TOKEN_BYTES);
        let multibyte = "é".repeat(300);
        let got = terms(&multibyte);
        assert!(got[0].len() <= MAX_TOKEN_BYTES && got[0].chars().all(|c| c == 'é'));
    }

    #[test]
    fn lowercase_and_unicode() {
        assert_eq!(terms("ÉCHEC Übel"), vec!["échec", "übel"]);
        // Replacement characters (invalid UTF-8 in the raw line) split words.
        assert_eq!(terms("ab\u{fffd}cd"), vec!["ab", "cd"]);
    }

    #[test]
    fn query_terms_match_indexing() {
        // A word query must look up what indexing produced, or logq finds nothing.
        assert_eq!(
            query_terms("/var/log/syslog"),
            vec!["/var/log/syslog", "var", "log", "syslog"]
        );
        assert_eq!(query_terms("Failed"), vec!["failed"]);
        assert_eq!(query_terms("sshd[1234]:"), vec!["sshd", "1234"]);
        assert_eq!(query_terms("a.a"), vec!["a.a", "a"]);
        assert!(
            query_terms("[12345.678901]").is_empty(),
            "a fine measurement is no term"
        );
        assert_eq!(query_terms("1.5"), vec!["1.5", "1", "5"]);
        assert!(query_terms(" -- :: ").is_empty());
    }

    #[test]
    fn iso_stamps_are_not_terms() {
        // A unique term per line would double the index of a Debian 12
        // syslog, where every line starts with such a stamp.
        let got = terms("2026-11-24T22:20:01.123456+00:00 web1 sshd[812]: Accepted");
        assert_eq!(got, ["web1", "sshd", "812", "accepted"]);
        assert!(
            terms("2026-11-24").contains(&"2026-11-24".to_string()),
            "a bare date stays a word"
        );
    }
}
