//! Text from outside (a peer's agent id, a syslog sender's host name, a log
//! line) made safe for a terminal or a log: control characters and invalid
//! UTF-8 escaped, so that such text can neither drive a terminal (ESC
//! sequences, a title change, a clear-screen) nor forge a line in a log
//! (a newline followed by `<3>` reads as an error line in the journal).
//!
//! The escapes: `\e` for ESC, `\xNN` for the other C0 controls, DEL, the
//! C1 controls (U+0080..U+009F) and each byte of invalid UTF-8, `\u{N}` for
//! the other control characters. A tab is kept. The backslash itself is not
//! escaped: the result is for reading, not for parsing back.

use std::fmt;

/// Calls `out` with the pieces of `raw` escaped: plain text as it is, each
/// control character or invalid byte as its escape.
fn escape_with<E>(raw: &[u8], mut out: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
    // Most lines are printable ASCII throughout: one pass that the compiler
    // vectorises instead of decoding each character (escaping was 9 % of
    // printing many short lines).
    if raw.iter().all(|&b| (b' '..0x7f).contains(&b) || b == b'\t') {
        return out(std::str::from_utf8(raw).expect("ASCII is UTF-8"));
    }
    let mut rest = raw;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                let bad_len = e.error_len().unwrap_or(b.len());
                (
                    std::str::from_utf8(v).expect("checked valid up to here"),
                    &b[..bad_len],
                )
            }
        };
        let mut start = 0;
        for (i, c) in valid.char_indices() {
            if c.is_control() && c != '\t' {
                out(&valid[start..i])?;
                match c {
                    '\x1b' => out("\\e")?,
                    c if (c as u32) < 0x100 => out(&format!("\\x{:02x}", c as u32))?,
                    c => out(&format!("\\u{{{:x}}}", c as u32))?,
                }
                start = i + c.len_utf8();
            }
        }
        out(&valid[start..])?;
        for b in bad {
            out(&format!("\\x{b:02x}"))?;
        }
        rest = &rest[valid.len() + bad.len()..];
    }
    Ok(())
}

/// Writes `raw` escaped to an `io::Write` (a terminal, standard output).
pub fn write_escaped(out: &mut impl std::io::Write, raw: &[u8]) -> std::io::Result<()> {
    escape_with(raw, |s| out.write_all(s.as_bytes()))
}

/// `raw` escaped, as a `String`.
pub fn escape(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len());
    let _ = escape_with(raw, |piece| {
        s.push_str(piece);
        Ok::<(), ()>(())
    });
    s
}

/// `s` escaped; `s` itself, without a copy, when it needs no escape.
pub fn cleaned(s: String) -> String {
    if is_clean(s.as_bytes()) {
        s
    } else {
        escape(s.as_bytes())
    }
}

/// Whether `raw` would come out of [`escape`] unchanged.
pub fn is_clean(raw: &[u8]) -> bool {
    match std::str::from_utf8(raw) {
        Ok(s) => !s.chars().any(|c| c.is_control() && c != '\t'),
        Err(_) => false,
    }
}

/// Displays a peer's text escaped, for log fields and messages:
/// `tracing::info!(agent = %Escaped(&id), ..)`.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_with(self.0.as_bytes(), |s| f.write_str(s))
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_journal_line_stays_on_one_line() {
        // A peer's "id\n<3>error" must not start a new line in the log.
        let s = Escaped("web1\n<3>collectord: fatal").to_string();
        assert_eq!(s, "web1\\x0a<3>collectord: fatal");
        assert!(!s.contains('\n'));
    }

    #[test]
    fn terminal_sequences_are_escaped() {
        // A title change and a clear-screen must print as text, not act.
        let raw = b"\x1b]0;owned\x07 \x1b[2J \x9b \xc2\x9b \x7f \xff ok\ttab";
        assert_eq!(
            escape(raw),
            "\\e]0;owned\\x07 \\e[2J \\x9b \\x9b \\x7f \\xff ok\ttab"
        );
        assert!(!is_clean(raw));
        assert!(is_clean("plain text, ünïcode\tand tab".as_bytes()));
        let mut out = Vec::new();
        write_escaped(&mut out, raw).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), escape(raw));
    }

    #[test]
    fn any_bytes_escape_to_clean_text() {
        // Whatever a peer sends, the escaped form holds no control
        // character at all (but tab).
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (rng % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            let e = escape(&bytes);
            assert!(is_clean(e.as_bytes()), "{bytes:?} -> {e:?}");
            if is_clean(&bytes) {
                assert_eq!(e.as_bytes(), &bytes[..]);
            }
        }
    }
}
