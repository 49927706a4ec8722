//! Writes lines for a terminal or a pipe.

use std::io::{self, Write};

/// Writes `raw` with control characters and invalid UTF-8 escaped (`\x00`,
/// `\xff`, `\e` for ESC), so that log text cannot drive the terminal.
pub fn write_escaped(out: &mut impl Write, raw: &[u8]) -> io::Result<()> {
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
                out.write_all(&valid.as_bytes()[start..i])?;
                match c {
                    '\x1b' => out.write_all(b"\\e")?,
                    c if (c as u32) < 0x100 => write!(out, "\\x{:02x}", c as u32)?,
                    c => write!(out, "\\u{{{:x}}}", c as u32)?,
                }
                start = i + c.len_utf8();
            }
        }
        out.write_all(&valid.as_bytes()[start..])?;
        for b in bad {
            write!(out, "\\x{b:02x}")?;
        }
        rest = &rest[valid.len() + bad.len()..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(raw: &[u8]) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, raw).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn terminal_escapes_and_bad_bytes_are_shown_not_sent() {
        // A log line must not be able to recolour or clear the operator's terminal.
        assert_eq!(esc(b"a\x1b[31mred"), "a\\e[31mred");
        assert_eq!(esc(b"nul\x00here"), "nul\\x00here");
        assert_eq!(esc(b"bad \xff\xfe end"), "bad \\xff\\xfe end");
        assert_eq!(esc("tab\tand ünïcode".as_bytes()), "tab\tand ünïcode");
    }
}
