//! Splitting a file's bytes into lines, whatever the chunk boundaries.
//!
//! Lines are bytes: invalid UTF-8 and NUL bytes are kept byte for byte (the
//! wire carries bytes). Only `\n` ends a line; a `\r` before it stays part of
//! the line.
//!
//! Memory is bounded by `max_line`: a longer line keeps its first `max_line`
//! bytes, the rest up to its newline is skipped as it is read, and the record
//! is flagged [`FLAG_TRUNCATED`] with an `end` past the newline of the whole
//! original line. A last line without newline waits in the splitter until its
//! newline comes or until [`LineSplitter::flush_partial`] ships it flagged
//! [`FLAG_PARTIAL`].

use logcore::wire::{WireRecord, FLAG_PARTIAL, FLAG_TRUNCATED};

#[derive(Debug)]
pub struct LineSplitter {
    max_line: usize,
    /// The file offset of the next byte to be fed.
    read_offset: u64,
    /// Where the line being assembled starts.
    line_start: u64,
    /// The kept bytes of the line being assembled (at most `max_line`).
    pending: Vec<u8>,
    /// The line being assembled is longer than `max_line`; its further bytes
    /// are dropped.
    skipping: bool,
}

impl LineSplitter {
    /// A splitter whose first byte will be the one at file offset `start`,
    /// which must be the start of a line.
    pub fn new(start: u64, max_line: usize) -> LineSplitter {
        LineSplitter {
            max_line,
            read_offset: start,
            line_start: start,
            pending: Vec::new(),
            skipping: false,
        }
    }

    /// The offset of the next byte to read from the file.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Where the line not yet shipped starts.
    pub fn line_start(&self) -> u64 {
        self.line_start
    }

    /// Whether bytes of an incomplete line are waiting for their newline.
    pub fn has_partial(&self) -> bool {
        self.read_offset > self.line_start
    }

    /// Consumes `chunk[*pos..]`, the file bytes at [`Self::read_offset`], up to
    /// and including the next newline, and returns that line; or consumes all
    /// of it and returns `None` when it holds no newline.
    pub fn next_line(&mut self, chunk: &[u8], pos: &mut usize) -> Option<WireRecord> {
        let rest = &chunk[(*pos).min(chunk.len())..];
        if rest.is_empty() {
            return None;
        }
        let Some(i) = memchr::memchr(b'\n', rest) else {
            self.keep(rest);
            *pos += rest.len();
            self.read_offset += rest.len() as u64;
            return None;
        };
        let piece = &rest[..i];
        *pos += i + 1;
        self.read_offset += i as u64 + 1;
        let line = if self.pending.is_empty() && !self.skipping && piece.len() <= self.max_line {
            piece.to_vec()
        } else {
            self.keep(piece);
            std::mem::take(&mut self.pending)
        };
        let flags = if self.skipping { FLAG_TRUNCATED } else { 0 };
        self.skipping = false;
        let record = WireRecord {
            offset: self.line_start,
            end: self.read_offset,
            flags,
            line,
        };
        self.line_start = self.read_offset;
        Some(record)
    }

    /// Ships what is pending of an incomplete line, flagged partial; the rest
    /// of that line will be its own record. `None` when nothing is pending.
    pub fn flush_partial(&mut self) -> Option<WireRecord> {
        if !self.has_partial() {
            return None;
        }
        let mut flags = FLAG_PARTIAL;
        if self.skipping {
            flags |= FLAG_TRUNCATED;
        }
        let record = WireRecord {
            offset: self.line_start,
            end: self.read_offset,
            flags,
            line: std::mem::take(&mut self.pending),
        };
        self.skipping = false;
        self.line_start = self.read_offset;
        Some(record)
    }

    /// Keeps what fits of `bytes` in the pending line and marks the line as
    /// truncated when something did not fit.
    fn keep(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        let room = self.max_line - self.pending.len();
        if bytes.len() > room {
            self.pending.extend_from_slice(&bytes[..room]);
            self.skipping = true;
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// The capacity held for the pending line, for memory accounting in tests.
    #[cfg(test)]
    fn pending_capacity(&self) -> usize {
        self.pending.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` cut at `cuts` and returns all complete records.
    fn split(input: &[u8], cuts: &[usize], max_line: usize) -> (Vec<WireRecord>, LineSplitter) {
        let mut s = LineSplitter::new(0, max_line);
        let mut out = Vec::new();
        let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
        bounds.push(input.len());
        bounds.sort_unstable();
        let mut from = 0;
        for to in bounds {
            let chunk = &input[from..to];
            let mut pos = 0;
            while let Some(r) = s.next_line(chunk, &mut pos) {
                out.push(r);
            }
            assert_eq!(pos, chunk.len(), "a chunk must be consumed whole");
            from = to;
        }
        (out, s)
    }

    /// The records a correct splitter must produce, computed the obvious way.
    fn expected(input: &[u8], max_line: usize) -> Vec<WireRecord> {
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(i) = input[start..].iter().position(|&b| b == b'\n') {
            let line = &input[start..start + i];
            let kept = &line[..line.len().min(max_line)];
            let flags = if line.len() > max_line {
                FLAG_TRUNCATED
            } else {
                0
            };
            let end = (start + i + 1) as u64;
            out.push(WireRecord {
                offset: start as u64,
                end,
                flags,
                line: kept.to_vec(),
            });
            start += i + 1;
        }
        out
    }

    #[test]
    fn any_chunk_boundaries_give_the_same_lines() {
        // Lines must not be split or merged wherever a read() happens to end.
        let inputs: [&[u8]; 6] = [
            b"a\nbb\n\nccc\n",
            b"abcdef\nxy",
            b"\n\n\n",
            b"toolongline\nok\nanotherlongone\n",
            b"\xff\x00bin\x00\n\xc3(\n",
            b"no newline at all",
        ];
        for input in inputs {
            for max_line in [1, 3, 5, 100] {
                let want = expected(input, max_line);
                // Every single cut and every pair of cuts.
                for a in 0..=input.len() {
                    for b in a..=input.len() {
                        let (got, _) = split(input, &[a, b], max_line);
                        assert_eq!(got, want, "input {input:?} cuts {a},{b} max {max_line}");
                    }
                }
                // Byte by byte.
                let all: Vec<usize> = (0..input.len()).collect();
                assert_eq!(split(input, &all, max_line).0, want);
            }
        }
    }

    #[test]
    fn pseudo_random_inputs_split_like_the_model() {
        // Property-style: many random byte strings (with frequent newlines)
        // and random cut points must always agree with the model.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 60) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| if next() % 4 == 0 { b'\n' } else { next() as u8 })
                .collect();
            let cuts: Vec<usize> = (0..(next() % 6)).map(|_| (next() % 61) as usize).collect();
            let max_line = 1 + (next() % 12) as usize;
            assert_eq!(split(&input, &cuts, max_line).0, expected(&input, max_line));
        }
    }

    #[test]
    fn long_line_is_truncated_without_buffering_it() {
        // A 10 MB line must not make the agent hold 10 MB, and the file must
        // go on after it.
        let mut s = LineSplitter::new(0, 100);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            let mut pos = 0;
            assert!(s.next_line(&chunk, &mut pos).is_none());
        }
        assert!(
            s.pending_capacity() <= 64 * 1024 + 100,
            "pending line grew to {}",
            s.pending_capacity()
        );
        let tail = b"yy\nnext\n";
        let mut pos = 0;
        let r = s.next_line(tail, &mut pos).unwrap();
        let line_len = 160 * 64 * 1024 + 2;
        assert_eq!(r.flags, FLAG_TRUNCATED);
        assert_eq!(r.line, vec![b'x'; 100]);
        assert_eq!((r.offset, r.end), (0, line_len as u64 + 1));
        let r = s.next_line(tail, &mut pos).unwrap();
        assert_eq!(
            (r.offset, r.flags, r.line.as_slice()),
            (line_len as u64 + 1, 0, &b"next"[..])
        );
    }

    #[test]
    fn partial_line_flushes_and_the_rest_is_its_own_record() {
        // A program that writes "progress..." without newline must see it
        // shipped after the timeout, and the rest later, with nothing lost.
        let mut s = LineSplitter::new(10, 100);
        let mut pos = 0;
        assert!(s.next_line(b"abc", &mut pos).is_none());
        assert!(s.has_partial());
        let r = s.flush_partial().unwrap();
        assert_eq!(
            (r.offset, r.end, r.flags, r.line.as_slice()),
            (10, 13, FLAG_PARTIAL, &b"abc"[..])
        );
        assert!(s.flush_partial().is_none());
        let mut pos = 0;
        let r = s.next_line(b"def\n", &mut pos).unwrap();
        assert_eq!(
            (r.offset, r.end, r.flags, r.line.as_slice()),
            (13, 17, 0, &b"def"[..])
        );
    }

    #[test]
    fn partial_flush_of_a_long_line_is_truncated_and_partial() {
        let mut s = LineSplitter::new(0, 4);
        let mut pos = 0;
        assert!(s.next_line(b"abcdefgh", &mut pos).is_none());
        let r = s.flush_partial().unwrap();
        assert_eq!(
            (r.end, r.flags, r.line.as_slice()),
            (8, FLAG_PARTIAL | FLAG_TRUNCATED, &b"abcd"[..])
        );
        let mut pos = 0;
        let r = s.next_line(b"ij\n", &mut pos).unwrap();
        assert_eq!(
            (r.offset, r.end, r.flags, r.line.as_slice()),
            (8, 11, 0, &b"ij"[..])
        );
    }
}
