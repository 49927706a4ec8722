//! Syslog over TCP: the framing of RFC 6587, one [`Decoder`] per connection,
//! without any I/O. Not wired into a listener yet (issue 6).
//!
//! Two framings exist and senders do not announce theirs:
//!
//! - octet counting, `LEN SP MSG`: `LEN` is 1–9 ASCII digits without a
//!   leading zero and counts the bytes of `MSG`;
//! - non-transparent framing: each message ends with LF (a CR before it is
//!   stripped too, for CRLF senders).
//!
//! # The decision rule
//!
//! Framing is decided once per connection, from its first bytes: octet
//! counting only when the connection starts with 1–9 ASCII digits (the first
//! not `0`), then one space, then `<` (the PRI that starts every syslog
//! message); anything else is newline framing. The decision is taken as soon
//! as the bytes buffered tell: at the first byte that is not a digit, at a
//! tenth digit, or at the byte after the space. A connection that ends before
//! that is newline framed.
//!
//! Requiring the `<` avoids a trap rsyslog falls into: a newline-framed line
//! that starts with digits (an RFC 3339 stamp without `<PRI>`, such as
//! `2026-11-25T08:00:00Z host app: msg`, or `12345 something`) is not taken
//! for an octet count.
//!
//! # Framing errors
//!
//! On an octet-counted connection, a later frame that does not start with
//! `DIGITS SP` (1–9 digits, no leading zero) is a framing error: it is
//! counted ([`Decoder::framing_errors`]) and the rest of the connection,
//! starting with the bytes of the bad header, is newline framed. No byte is
//! dropped on the way.
//!
//! # Messages
//!
//! An octet-counted message loses one trailing LF, and a CR before it: rsyslog's
//! `RSYSLOG_SyslogProtocol23Format` puts that newline inside the counted
//! bytes. Empty messages (empty lines, or a counted `\n`) are skipped.
//!
//! A message longer than the decoder's maximum is cut to the maximum and
//! returned with `truncated` set as soon as the cut is known; the rest of it
//! (the remaining counted bytes, or everything up to the next LF) is skipped
//! without being buffered. The decoder holds at most one message of the
//! maximum length (plus two bytes of a possible CRLF) and the frames decoded
//! but not yet taken with [`Decoder::next_frame`]: call it until `None` after
//! each [`Decoder::push`].

use std::collections::VecDeque;

/// How a connection frames its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `LEN SP MSG`, RFC 6587 section 3.4.1.
    OctetCounting,
    /// Messages ended by LF (or CRLF), RFC 6587 section 3.4.2.
    NonTransparent,
}

/// One syslog message as received, without its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes, at most the decoder's maximum.
    pub bytes: Vec<u8>,
    /// The message was longer than the maximum (or, at EOF, incomplete)
    /// and `bytes` is its beginning.
    pub truncated: bool,
}

/// The most digits an octet count may have; 999,999,999 bytes is far above
/// any sane maximum, and the count cannot overflow.
const MAX_DIGITS: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Undecided; the connection's first bytes are in `head`.
    Start,
    /// Octet counting, reading `LEN SP`; the digits so far are in `head`.
    Count,
    /// Octet counting: `left` bytes of the message still to come.
    Body { left: usize },
    /// Newline framing.
    Line,
}

/// Decodes the syslog messages of one TCP connection.
#[derive(Debug)]
pub struct Decoder {
    max_len: usize,
    state: State,
    framing: Option<Framing>,
    /// Undecided first bytes (at most 11), or the digits of an octet count
    /// (at most 9).
    head: Vec<u8>,
    /// The message being read: at most `max_len` + 2 bytes (room for a
    /// trailing CRLF that is stripped).
    cur: Vec<u8>,
    /// The current message was already returned truncated; its remaining
    /// bytes are dropped.
    skipping: bool,
    ready: VecDeque<Frame>,
    framing_errors: u64,
}

impl Decoder {
    /// A decoder for a new connection; messages longer than `max_len` bytes
    /// are truncated (a `max_len` of 0 is taken as 1).
    pub fn new(max_len: usize) -> Decoder {
        Decoder {
            max_len: max_len.max(1),
            state: State::Start,
            framing: None,
            head: Vec::new(),
            cur: Vec::new(),
            skipping: false,
            ready: VecDeque::new(),
            framing_errors: 0,
        }
    }

    /// The connection's framing, `None` while its first bytes do not tell
    /// yet. Becomes `NonTransparent` after a framing error.
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// How many times an octet-counted frame did not start with `LEN SP`
    /// (at most once per connection, since the decoder then switches to
    /// newline framing).
    pub fn framing_errors(&self) -> u64 {
        self.framing_errors
    }

    /// Decodes `bytes`, the next bytes read from the connection; the
    /// messages they complete are then returned by [`Decoder::next_frame`].
    pub fn push(&mut self, bytes: &[u8]) {
        let mut input = bytes;
        while let Some((&b, rest)) = input.split_first() {
            match self.state {
                State::Start => {
                    input = rest;
                    self.head.push(b);
                    if let Some(framing) = decide(&self.head) {
                        self.framing = Some(framing);
                        self.state = match framing {
                            Framing::OctetCounting => State::Count,
                            Framing::NonTransparent => State::Line,
                        };
                        // Replayed in the state just decided, which is never
                        // `Start`: this recursion is one level deep.
                        let head = std::mem::take(&mut self.head);
                        self.push(&head);
                    }
                }
                State::Count => {
                    input = rest;
                    self.count_byte(b);
                }
                State::Body { left } => {
                    let n = left.min(input.len());
                    self.keep(&input[..n], 2);
                    input = &input[n..];
                    if n == left {
                        self.end_message(true);
                        self.state = State::Count;
                    } else {
                        self.state = State::Body { left: left - n };
                    }
                }
                State::Line => match input.iter().position(|&c| c == b'\n') {
                    Some(i) => {
                        self.keep(&input[..i], 1);
                        self.end_message(false);
                        input = &input[i + 1..];
                    }
                    None => {
                        self.keep(input, 1);
                        input = &[];
                    }
                },
            }
        }
    }

    /// The next decoded message, oldest first.
    pub fn next_frame(&mut self) -> Option<Frame> {
        self.ready.pop_front()
    }

    /// The connection has ended: the last message when it was left
    /// incomplete (a line without LF, or an octet-counted frame cut short,
    /// returned truncated with whatever arrived, even if that is only part
    /// of its `LEN`). Take the frames [`Decoder::next_frame`] still holds
    /// first: they are dropped with the decoder.
    pub fn finish(mut self) -> Option<Frame> {
        match self.state {
            State::Start => {
                // Too short to be octet counted: one unterminated line.
                self.state = State::Line;
                self.framing = Some(Framing::NonTransparent);
                let head = std::mem::take(&mut self.head);
                self.push(&head);
                self.finish()
            }
            State::Count if self.head.is_empty() => None,
            State::Count => Some(Frame {
                bytes: std::mem::take(&mut self.head),
                truncated: true,
            }),
            // A header with no byte of its message after it: nothing to
            // keep (an empty message is skipped, as everywhere).
            State::Body { .. } if self.skipping || self.cur.is_empty() => None,
            State::Body { .. } => {
                let mut bytes = self.cur;
                bytes.truncate(self.max_len);
                Some(Frame {
                    bytes,
                    truncated: true,
                })
            }
            State::Line => {
                let queued = self.ready.len();
                self.end_message(false);
                (self.ready.len() > queued).then(|| self.ready.pop_back())?
            }
        }
    }

    /// One byte of an octet count's `LEN SP`.
    fn count_byte(&mut self, b: u8) {
        let ok_digit = b.is_ascii_digit()
            && !(self.head.is_empty() && b == b'0')
            && self.head.len() < MAX_DIGITS;
        if ok_digit {
            self.head.push(b);
            return;
        }
        if b == b' ' && !self.head.is_empty() {
            let left = self
                .head
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
            self.head.clear();
            self.state = State::Body { left };
            return;
        }
        // Not `LEN SP`: newline framing from here on, starting with the
        // bytes of the bad header, so that nothing is lost.
        self.framing_errors += 1;
        self.framing = Some(Framing::NonTransparent);
        self.state = State::Line;
        let mut head = std::mem::take(&mut self.head);
        head.push(b);
        self.push(&head);
    }

    /// Adds bytes to the current message; past the maximum (and room for a
    /// CRLF to strip), returns it truncated and skips the rest.
    fn keep(&mut self, bytes: &[u8], slack: usize) {
        if self.skipping {
            return;
        }
        let room = self.max_len + slack - self.cur.len();
        if bytes.len() <= room {
            self.cur.extend_from_slice(bytes);
            return;
        }
        let want = self.max_len.saturating_sub(self.cur.len());
        self.cur.extend_from_slice(&bytes[..want.min(bytes.len())]);
        self.cur.truncate(self.max_len);
        self.ready.push_back(Frame {
            bytes: std::mem::take(&mut self.cur),
            truncated: true,
        });
        self.skipping = true;
    }

    /// The current message is complete: strip its terminator (`octet`: one
    /// LF, then a CR before it; otherwise a CR) and queue it unless empty.
    fn end_message(&mut self, octet: bool) {
        if std::mem::take(&mut self.skipping) {
            return;
        }
        let mut bytes = std::mem::take(&mut self.cur);
        let strip_cr = if octet {
            let lf = bytes.last() == Some(&b'\n');
            if lf {
                bytes.pop();
            }
            lf
        } else {
            true
        };
        if strip_cr && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let truncated = bytes.len() > self.max_len;
        bytes.truncate(self.max_len);
        if !bytes.is_empty() {
            self.ready.push_back(Frame { bytes, truncated });
        }
    }
}

/// The framing of a connection that starts with `head`, or `None` while more
/// bytes are needed (see the module docs).
fn decide(head: &[u8]) -> Option<Framing> {
    let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
    if head.first().is_some_and(|&b| b == b'0') || digits > MAX_DIGITS {
        return Some(Framing::NonTransparent);
    }
    match head.get(digits) {
        None => None,
        Some(_) if digits == 0 => Some(Framing::NonTransparent),
        Some(b' ') => match head.get(digits + 1) {
            None => None,
            Some(b'<') => Some(Framing::OctetCounting),
            Some(_) => Some(Framing::NonTransparent),
        },
        Some(_) => Some(Framing::NonTransparent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` pushed in one piece and, separately, one byte at a
    /// time; both must agree (and on framing and error count).
    fn decode(input: &[u8], max_len: usize) -> (Vec<Frame>, Option<Framing>, u64) {
        let whole = decode_split(input, max_len, &[]);
        let cuts: Vec<usize> = (1..input.len()).collect();
        let bytewise = decode_split(input, max_len, &cuts);
        assert_eq!(whole, bytewise, "one push and bytewise pushes differ");
        whole
    }

    fn decode_split(
        input: &[u8],
        max_len: usize,
        cuts: &[usize],
    ) -> (Vec<Frame>, Option<Framing>, u64) {
        let mut d = Decoder::new(max_len);
        let mut frames = Vec::new();
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            let cut = cut.clamp(at, input.len());
            d.push(&input[at..cut]);
            at = cut;
            frames.extend(std::iter::from_fn(|| d.next_frame()));
        }
        let (framing, errors) = (d.framing(), d.framing_errors());
        frames.extend(d.finish());
        (frames, framing, errors)
    }

    fn whole(b: &[u8]) -> Frame {
        Frame {
            bytes: b.to_vec(),
            truncated: false,
        }
    }

    fn cut(b: &[u8]) -> Frame {
        Frame {
            bytes: b.to_vec(),
            truncated: true,
        }
    }

    #[test]
    fn rsyslog_protocol23_newline_inside_the_count_is_stripped() {
        // rsyslog's RSYSLOG_SyslogProtocol23Format: without the strip every
        // stored message would end in a stray newline.
        let m1 = b"<13>1 2026-11-25T08:00:00Z web1 app - - - hello\n";
        let m2 = b"<13>1 2026-11-25T08:00:01Z web1 app - - - crlf\r\n";
        let m3 = b"<13>1 2026-11-25T08:00:02Z web1 app - - - bare";
        let mut input = Vec::new();
        for m in [&m1[..], &m2[..], &m3[..]] {
            input.extend_from_slice(format!("{} ", m.len()).as_bytes());
            input.extend_from_slice(m);
        }
        let (frames, framing, errors) = decode(&input, 1024);
        assert_eq!(framing, Some(Framing::OctetCounting));
        assert_eq!(errors, 0);
        assert_eq!(
            frames,
            vec![
                whole(&m1[..m1.len() - 1]),
                whole(&m2[..m2.len() - 2]),
                whole(m3)
            ]
        );
    }

    #[test]
    fn a_connection_closed_right_after_a_count_gives_no_empty_message() {
        // Found by the framing fuzzer: a sender that dies between `LEN SP`
        // and its message made the collector store an empty record.
        let (frames, _, _) = decode(b"3 <\x0293 ", 1024);
        assert_eq!(frames, vec![whole(b"<\x029")]);
    }

    #[test]
    fn newline_framing_strips_crlf_and_skips_empty_lines() {
        // A CRLF sender would otherwise leave a CR at the end of every
        // message, and blank lines would be stored as empty records.
        let input =
            b"<34>Nov 25 08:00:00 web1 su: one\r\n\r\n\n<34>Nov 25 08:00:01 web1 su: two\nthree";
        let (frames, framing, errors) = decode(input, 1024);
        assert_eq!(framing, Some(Framing::NonTransparent));
        assert_eq!(errors, 0);
        assert_eq!(
            frames,
            vec![
                whole(b"<34>Nov 25 08:00:00 web1 su: one"),
                whole(b"<34>Nov 25 08:00:01 web1 su: two"),
                whole(b"three"),
            ]
        );
    }

    #[test]
    fn rfc3339_line_without_pri_is_not_an_octet_count() {
        // The rsyslog trap: `2026` read as a count would swallow the next
        // 2026 bytes as one message.
        let input = b"2026-11-25T08:00:00Z host app: msg\n2026-11-25T08:00:01Z host app: next\n";
        let (frames, framing, _) = decode(input, 1024);
        assert_eq!(framing, Some(Framing::NonTransparent));
        assert_eq!(
            frames,
            vec![
                whole(b"2026-11-25T08:00:00Z host app: msg"),
                whole(b"2026-11-25T08:00:01Z host app: next"),
            ]
        );
    }

    #[test]
    fn line_starting_with_digits_and_space_is_not_an_octet_count() {
        // `123 abc` has the shape of `LEN SP` but no `<PRI>` after it.
        let (frames, framing, errors) = decode(b"123 abc\n12345 something\n", 1024);
        assert_eq!(framing, Some(Framing::NonTransparent));
        assert_eq!(errors, 0);
        assert_eq!(frames, vec![whole(b"123 abc"), whole(b"12345 something")]);
        // Ten digits are no count either, and a connection that ends
        // undecided is one line.
        let (frames, _, _) = decode(b"1234567890 <13>x\n", 1024);
        assert_eq!(frames, vec![whole(b"1234567890 <13>x")]);
        let (frames, framing, _) = decode(b"12 ", 1024);
        assert_eq!(framing, None);
        assert_eq!(frames, vec![whole(b"12 ")]);
    }

    #[test]
    fn framing_is_undecided_until_the_first_bytes_tell() {
        // A listener that logs the framing must not see a guess.
        let mut d = Decoder::new(100);
        d.push(b"12");
        assert_eq!(d.framing(), None);
        d.push(b" ");
        assert_eq!(d.framing(), None);
        d.push(b"<");
        assert_eq!(d.framing(), Some(Framing::OctetCounting));
        let mut d = Decoder::new(100);
        d.push(b"12-");
        assert_eq!(d.framing(), Some(Framing::NonTransparent));
    }

    #[test]
    fn oversize_octet_counted_message_is_truncated_and_the_next_is_intact() {
        // A 40-byte message under a 10-byte maximum: the user sees its first
        // 10 bytes flagged truncated, and the next message is not shifted.
        let input = format!("40 <13>{}9 <13>next\n", "a".repeat(36));
        let (frames, framing, errors) = decode(input.as_bytes(), 10);
        assert_eq!(framing, Some(Framing::OctetCounting));
        assert_eq!(errors, 0);
        assert_eq!(frames, vec![cut(b"<13>aaaaaa"), whole(b"<13>next")]);
        // Exactly the maximum plus its stripped CRLF is not truncated.
        let (frames, _, _) = decode(b"12 <13>abcdef\r\n", 10);
        assert_eq!(frames, vec![whole(b"<13>abcdef")]);
        let (frames, _, _) = decode(b"11 <13>abcdefg", 10);
        assert_eq!(frames, vec![cut(b"<13>abcdef")]);
    }

    #[test]
    fn oversize_line_is_truncated_and_the_next_is_intact() {
        let input = b"<13>a very long line indeed\r\n<13>next\r\n<13>abcdef\r\n";
        let (frames, _, _) = decode(input, 10);
        assert_eq!(
            frames,
            vec![cut(b"<13>a very"), whole(b"<13>next"), whole(b"<13>abcdef")]
        );
    }

    #[test]
    fn memory_stays_bounded_by_the_maximum() {
        // A peer that sends a huge count, or a line without LF, must not make
        // the collector buffer it.
        let mut d = Decoder::new(16);
        d.push(b"999999999 <13>");
        for _ in 0..1000 {
            d.push(&[b'x'; 1000]);
            assert!(d.cur.capacity() <= 64);
        }
        assert_eq!(d.next_frame(), Some(cut(b"<13>xxxxxxxxxxxx")));
        assert_eq!(d.next_frame(), None);
        let mut d = Decoder::new(16);
        for _ in 0..1000 {
            d.push(&[b'x'; 1000]);
            assert!(d.cur.capacity() <= 64);
        }
        assert_eq!(d.next_frame(), Some(cut(&[b'x'; 16])));
    }

    #[test]
    fn bad_frame_on_octet_connection_switches_to_lines_and_loses_nothing() {
        // A sender that changes framing mid-connection: the user sees the
        // error counted and every later byte still arrives as messages.
        let input = b"8 <13>abcd<13>oops\n<13>after\n";
        let (frames, framing, errors) = decode(input, 1024);
        assert_eq!(framing, Some(Framing::NonTransparent));
        assert_eq!(errors, 1);
        assert_eq!(
            frames,
            vec![whole(b"<13>abcd"), whole(b"<13>oops"), whole(b"<13>after")]
        );
        // A leading zero is as bad; the digits are kept in the line.
        let (frames, _, errors) = decode(b"5 <13>a05 <13>b\n", 1024);
        assert_eq!(errors, 1);
        assert_eq!(frames, vec![whole(b"<13>a"), whole(b"05 <13>b")]);
    }

    #[test]
    fn incomplete_octet_frame_at_eof_is_returned_truncated() {
        // A sender killed mid-message: what arrived is kept, flagged.
        let (frames, _, _) = decode(b"5 <13>a20 <13>half", 1024);
        assert_eq!(frames, vec![whole(b"<13>a"), cut(b"<13>half")]);
    }

    fn octet_encode(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            out.extend_from_slice(format!("{} ", m.len()).as_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    fn split_points() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(0usize..2000, 0..12).prop_map(|mut v| {
            v.sort_unstable();
            v
        })
    }

    proptest! {
        #[test]
        fn octet_counting_survives_any_split(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no LF", |&b| b != b'\n'), 0..80), 1..10),
            cuts in split_points(),
        ) {
            let msgs: Vec<Vec<u8>> = bodies
                .into_iter()
                .map(|mut b| { b.splice(0..0, b"<13>".iter().copied()); b })
                .collect();
            let input = octet_encode(&msgs);
            let (frames, framing, errors) = decode_split(&input, 1024, &cuts);
            prop_assert_eq!(framing, Some(Framing::OctetCounting));
            prop_assert_eq!(errors, 0);
            // A message that ends in CR loses it only before an LF, and
            // none has an LF here.
            let want: Vec<Frame> = msgs.iter().map(|m| whole(m)).collect();
            prop_assert_eq!(frames, want);
        }

        #[test]
        fn newline_framing_survives_any_split(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no LF", |&b| b != b'\n'), 1..80), 1..10),
            cuts in split_points(),
        ) {
            // A trailing CR is stripped as half of a CRLF.
            prop_assume!(msgs.iter().all(|m| m.last() != Some(&b'\r')));
            let mut input = Vec::new();
            for m in &msgs {
                input.extend_from_slice(m);
                input.push(b'\n');
            }
            // Lines shaped like `LEN SP <` are octet counted by design.
            let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
            prop_assume!(!((1..=9).contains(&digits)
                && input[0] != b'0'
                && input[digits..].starts_with(b" <")));
            let (frames, framing, errors) = decode_split(&input, 1024, &cuts);
            prop_assert_eq!(framing, Some(Framing::NonTransparent));
            prop_assert_eq!(errors, 0);
            let want: Vec<Frame> = msgs.iter().map(|m| whole(m)).collect();
            prop_assert_eq!(frames, want);
        }

        #[test]
        fn any_bytes_any_split_no_panic_and_bounded(
            input in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in split_points(),
            max_len in 1usize..40,
        ) {
            let (frames, _, _) = decode_split(&input, max_len, &cuts);
            prop_assert_eq!(&frames, &decode_split(&input, max_len, &[]).0);
            for f in frames {
                prop_assert!(f.bytes.len() <= max_len);
            }
        }
    }
}
