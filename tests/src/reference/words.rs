//! Word splitting as the documentation states it (the rules at the top of
//! `logcore/src/tokenizer.rs`, and `man/logq.1`: "Words ... match whole
//! words, case-insensitively"):
//!
//! - text is lowercased;
//! - a word is a maximal run of characters other than whitespace, control
//!   characters, U+FFFD and `` " ' ` , ; ( ) [ ] { } < > = | ``; trailing
//!   `.` and `:` are trimmed; a word made only of `/ . - _ @ :` is dropped;
//! - each word is a term, whole; a word with `/ . - _ @ :` in it also gives
//!   its parts split on them, except parts that are numbers of
//!   [`LONG_NUMBER_DIGITS`] digits or more;
//! - an ISO 8601 date and time, and a number with a fraction of four digits
//!   or more, give no terms at all;
//! - a term is cut to at most [`MAX_TERM_BYTES`] bytes, on a character
//!   boundary.

/// The longest term, in bytes (documented: 255).
pub const MAX_TERM_BYTES: usize = 255;

/// Parts of a word made of this many digits or more are not terms
/// (documented: "Four digits stay terms").
pub const LONG_NUMBER_DIGITS: usize = 5;

/// The characters that split a word into parts.
const JOINERS: &str = "/.-_@:";

/// The punctuation that ends a word.
const PUNCTUATION: &str = "\"'`,;()[]{}<>=|";

fn ends_word(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '\u{fffd}' || PUNCTUATION.contains(c)
}

fn is_joiner(c: char) -> bool {
    JOINERS.contains(c)
}

/// The words of `text` as they are written (not lowercased), trailing `.`
/// and `:` trimmed, words of joiners only left out.
pub fn words(text: &str) -> Vec<&str> {
    text.split(ends_word)
        .map(|w| w.trim_end_matches(['.', ':']))
        .filter(|w| !w.is_empty() && !w.chars().all(is_joiner))
        .collect()
}

/// Whether `s`, from `at`, is `n` ASCII digits.
fn digits_at(s: &[char], at: usize, n: usize) -> bool {
    s.len() >= at + n && s[at..at + n].iter().all(char::is_ascii_digit)
}

/// `YYYY-MM-DDTHH:MM`, then optionally `:SS`, a fraction, and a zone (`Z`,
/// `+HH:MM`, `+HHMM`, `+HH`).
fn is_iso_date_time(word: &str) -> bool {
    let c: Vec<char> = word.chars().collect();
    if c.len() < 16 {
        return false;
    }
    let fixed = digits_at(&c, 0, 4)
        && c[4] == '-'
        && digits_at(&c, 5, 2)
        && c[7] == '-'
        && digits_at(&c, 8, 2)
        && (c[10] == 'T' || c[10] == 't')
        && digits_at(&c, 11, 2)
        && c[13] == ':'
        && digits_at(&c, 14, 2);
    if !fixed {
        return false;
    }
    let mut i = 16;
    if c.get(i) == Some(&':') && digits_at(&c, i + 1, 2) {
        i += 3;
        if c.get(i) == Some(&'.') && digits_at(&c, i + 1, 1) {
            i += 1;
            while digits_at(&c, i, 1) {
                i += 1;
            }
        }
    }
    let zone: String = c[i..].iter().collect();
    let z: Vec<char> = zone.chars().collect();
    zone.is_empty()
        || zone == "Z"
        || zone == "z"
        || ((z[0] == '+' || z[0] == '-')
            && digits_at(&z, 1, 2)
            && (z.len() == 3
                || (z.len() == 5 && digits_at(&z, 3, 2))
                || (z.len() == 6 && z[3] == ':' && digits_at(&z, 4, 2))))
}

/// `DIGITS.DIGITS` with four digits or more after the dot.
fn is_fine_measurement(word: &str) -> bool {
    match word.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().count() >= 4
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn is_long_number(part: &str) -> bool {
    part.chars().count() >= LONG_NUMBER_DIGITS && part.chars().all(|c| c.is_ascii_digit())
}

/// Lowercased, then cut to [`MAX_TERM_BYTES`] on a character boundary.
fn term(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        if out.len() + c.len_utf8() > MAX_TERM_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// The terms of one word, whole word first.
fn word_terms(word: &str) -> Vec<String> {
    if is_iso_date_time(word) || is_fine_measurement(word) {
        return Vec::new();
    }
    let mut out = vec![term(word)];
    if word.chars().any(is_joiner) {
        for part in word.split(is_joiner) {
            if !part.is_empty() && !is_long_number(part) {
                out.push(term(part));
            }
        }
    }
    out
}

/// Every term of `text` (what a word search can find in it, and what a
/// word query must all find), in order, each once.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words(text) {
        for t in word_terms(w) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Vec<String> {
        terms(text)
    }

    /// `logq root` finds `ROOT` and `Root` (man page, `-s`): terms are
    /// lowercase, so a query word in any case finds the line.
    #[test]
    fn case_folds() {
        assert_eq!(t("ROOT Root"), ["root"]);
        assert_eq!(t("ÉCOLE"), ["école"]);
    }

    /// An address, a user name, a path, `user@host` and an IPv6 address are
    /// words whole, and their parts find them too: `logq 113` finds
    /// `203.0.113.9`, `logq syslog` finds `/var/log/syslog`.
    #[test]
    fn joined_words_give_the_whole_and_the_parts() {
        assert_eq!(t("203.0.113.9"), ["203.0.113.9", "203", "0", "113", "9"]);
        assert_eq!(
            t("/var/log/syslog"),
            ["/var/log/syslog", "var", "log", "syslog"]
        );
        assert_eq!(t("root@web1"), ["root@web1", "root", "web1"]);
        assert_eq!(t("2001:db8::1"), ["2001:db8::1", "2001", "db8", "1"]);
        assert_eq!(t("www-data"), ["www-data", "www", "data"]);
    }

    /// `sshd[1234]: Failed` gives `sshd`, `1234` and `failed`: brackets end
    /// words and the colon after them is trimmed, so `logq sshd` finds sshd's
    /// lines and `logq 1234` the pid.
    #[test]
    fn brackets_and_trailing_colons_end_words() {
        assert_eq!(t("sshd[1234]: Failed"), ["sshd", "1234", "failed"]);
        assert_eq!(t("daemon. end: x.:"), ["daemon", "end", "x"]);
        assert_eq!(
            t("a\"b'c`d,e;f(g)h[i]j{k}l<m>n=o|p"),
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"]
        );
    }

    /// Control characters (an ESC of a colour sequence, a NUL) and U+FFFD
    /// (an invalid byte, decoded) end words: `logq red` finds
    /// `\x1b[31mred\x1b[0m`'s line only as `31mred`, as the index holds it.
    #[test]
    fn control_characters_and_replacement_end_words() {
        assert_eq!(t("status \x1b[31mred\x1b[0m"), ["status", "31mred", "0m"]);
        assert_eq!(t("nul\0byte"), ["nul", "byte"]);
        assert_eq!(
            t("name \u{fffd}\u{fffd}alice\u{fffd} x"),
            ["name", "alice", "x"]
        );
        assert_eq!(t("tab\there\u{a0}nbsp"), ["tab", "here", "nbsp"]);
    }

    /// A lone `-` (nginx's empty field) or `::` is no word.
    #[test]
    fn words_of_joiners_only_are_dropped() {
        assert_eq!(t("- - :: /"), Vec::<String>::new());
        assert_eq!(t("a - b"), ["a", "b"]);
    }

    /// Half of a kernel stamp is no term (numbers of five digits or more
    /// split off a word), but a whole long number (a pid, a port) is, and
    /// four digits stay terms: `logq 12345` finds `pid 12345`.
    #[test]
    fn long_number_parts_are_not_terms_but_whole_numbers_are() {
        assert_eq!(t("pid 12345"), ["pid", "12345"]);
        assert_eq!(t("x-12345-2026"), ["x-12345-2026", "x", "2026"]);
        assert_eq!(t("1234.5678.ab"), ["1234.5678.ab", "1234", "5678", "ab"]);
        assert_eq!(t("123456.7.x"), ["123456.7.x", "7", "x"]);
    }

    /// Stamps and fine measurements give no terms: searching by time is
    /// `--since`/`--until`; `203.0.113.9` and `1.5` stay words.
    #[test]
    fn date_times_and_fine_measurements_give_no_terms() {
        assert_eq!(t("2026-11-24T22:20:01.123456+00:00 web1"), ["web1"]);
        assert_eq!(t("2026-11-24T22:20Z"), Vec::<String>::new());
        assert_eq!(t("[12345.678901]"), Vec::<String>::new());
        assert_eq!(t("1.5 12.123"), ["1.5", "1", "5", "12.123", "12", "123"]);
        // Not a date and time: a date alone is a word with parts.
        assert_eq!(t("2026-11-24"), ["2026-11-24", "2026", "11", "24"]);
    }

    /// A word longer than 255 bytes is cut, not dropped: `logq` with the
    /// same long word still finds it.
    #[test]
    fn long_words_are_cut_on_a_character_boundary() {
        let long = "a".repeat(300);
        assert_eq!(t(&long), ["a".repeat(255)]);
        let wide = format!("b{}", "é".repeat(200));
        let got = t(&wide);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 255);
        assert!(got[0].ends_with('é'));
    }

    /// Each term once, in the order of the text.
    #[test]
    fn terms_are_unique() {
        assert_eq!(t("a.b b a"), ["a.b", "a", "b"]);
    }
}
