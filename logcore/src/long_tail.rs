//! The long tail of terms: identifiers that are new on nearly every line
//! (sequence numbers, pids, request and container ids, addresses, UUIDs).
//!
//! On the fleet corpus 2.4 of a line's 21 terms are found in no other line
//! of a million; as index terms they were a third of the index's bytes (20
//! to 28 bytes per line of term dictionary for 30 bytes of their text) and
//! most of the CPU of building and merging its term dictionaries. From
//! schema version 7 the index keeps such a term as a *key* shared by many
//! terms: the term's lead (its characters before the first digit, at most
//! [`LEAD_MAX_BYTES`]), the mark U+0001 (no term holds it: control
//! characters end words), and one of 2^[`BUCKET_BITS`] buckets by a hash
//! of the whole term, in hex. `0000004242` and `1398191` become
//! `\u{1}2f0a1`-like keys; `veth4156876` becomes `veth\u{1}0b3c7`.
//!
//! A word query for such a term looks up its key and checks the lines it
//! finds (a line whose own long-tail term shares the bucket is read and
//! dropped); the word's parts, which are terms of their own, narrow it
//! first (`203.0.113.9` also needs `203`, `0`, `113` and `9`). A prefix
//! stays exact when it has no digit and fits in a lead: a key whose lead
//! starts with the prefix belongs to a term that does.
//!
//! What is long tail is decided by the term's shape alone, the same for
//! the index and the query: [`LONG_TAIL_MIN_BYTES`] bytes or more, with a
//! digit. Words such as `ssh2`, `eth0`, `web17`, ports and short pids stay
//! exact terms.

/// Terms this long or longer with an ASCII digit are the long tail.
pub const LONG_TAIL_MIN_BYTES: usize = 6;
/// The lead a key keeps of its term, in bytes at most.
pub const LEAD_MAX_BYTES: usize = 8;
/// log2 of the buckets a lead's terms share: with 2^18, ten million lines
/// of the fleet corpus put about 90 terms in a bucket of the empty lead
/// (the lines a point lookup reads and drops), and a million lines make
/// about 250,000 keys where there were 2.4 million terms.
pub const BUCKET_BITS: u32 = 18;
/// Between a key's lead and its bucket.
pub const MARK: char = '\u{1}';

/// Whether the index keeps `term` (lowercased, as the tokenizer gives it)
/// as a key.
pub fn is_long_tail(term: &str) -> bool {
    term.len() >= LONG_TAIL_MIN_BYTES && term.bytes().any(|b| b.is_ascii_digit())
}

/// The lead of `text`: up to its first digit, at most [`LEAD_MAX_BYTES`]
/// (cut on a character boundary).
pub fn lead(text: &str) -> &str {
    let end = text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(text.len());
    let mut cut = end.min(LEAD_MAX_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The key of a long-tail `term` into `out` (cleared first).
pub fn key_into(term: &str, out: &mut String) {
    out.clear();
    out.push_str(lead(term));
    out.push(MARK);
    let bucket = fnv1a(term.as_bytes()) >> (64 - BUCKET_BITS);
    for shift in (0..BUCKET_BITS.div_ceil(4)).rev() {
        let digit = (bucket >> (shift * 4)) & 0xf;
        out.push(char::from_digit(digit as u32, 16).expect("a hex digit"));
    }
}

/// The index term of `term`: itself, or its key when it is long tail and
/// the index hashes the long tail.
pub fn index_term(term: &str, hashed: bool) -> std::borrow::Cow<'_, str> {
    if hashed && is_long_tail(term) {
        let mut key = String::with_capacity(LEAD_MAX_BYTES + 6);
        key_into(term, &mut key);
        std::borrow::Cow::Owned(key)
    } else {
        std::borrow::Cow::Borrowed(term)
    }
}

/// 64-bit FNV-1a: the bucket is part of the index format, so the hash is
/// one fixed here, not the standard library's (which may change).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identifiers are long tail; words people type and short numbers are
    /// not, so they stay exact (and `-c` of them stays an index count).
    #[test]
    fn the_shape_decides() {
        for t in [
            "0000004242",
            "1398191",
            "veth4156876",
            "203.0.113.9",
            "k8s-node-031",
            "2026/11/20",
        ] {
            assert!(is_long_tail(t), "{t}");
        }
        for t in [
            "ssh2",
            "eth0",
            "web17",
            "51234",
            "password",
            "shop.oscorp.de",
            "x86",
        ] {
            assert!(!is_long_tail(t), "{t}");
        }
    }

    /// The key is fixed by the term alone (the index and every later query
    /// must agree, across builds), keeps the lead and cannot be a term.
    #[test]
    fn keys_are_stable_and_marked() {
        let mut k = String::new();
        key_into("veth4156876", &mut k);
        assert!(k.starts_with("veth\u{1}") && k.len() == 4 + 1 + 5, "{k:?}");
        let again = index_term("veth4156876", true);
        assert_eq!(again, k);
        // The FNV-1a test vector: "a" hashes to 0xaf63dc4c8601ec8c.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        key_into("0000004242", &mut k);
        assert!(k.starts_with(MARK), "{k:?}");
        assert_eq!(index_term("0000004242", false), "0000004242");
        assert_eq!(lead("abcdefghijk12"), "abcdefgh");
        assert_eq!(lead("ééééé1"), "éééé");
    }
}
