//! Reading an agent's frames: incrementally, under the buffer budget, with
//! a deadline on every read.
//!
//! The buffer grows with the bytes that arrive, never with what a header
//! claims: up to [`FLOOR`] (reading ahead within it) for small frames, and
//! for a larger frame, once the budget admitted its claim, by doubling up
//! to exactly the frame's end (nothing of the next frame is read into a
//! large buffer). After the frame is taken a large buffer is freed. A
//! whole BATCH is handed out only with budget for what it decodes to.
//!
//! Before HELLO at most [`MAX_HELLO`] bytes are read, and a header that
//! claims more is refused at once.

use std::sync::Arc;
use std::time::Duration;

use logcore::wire::{self, Frame, WireError, MAGIC, MAX_HELLO};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{timeout_at, Instant};

use crate::net::budget::{Budget, Held, Request, FLOOR};
use crate::net::close::{Close, Cutter};

use logcore::wire::kind::HELLO as HELLO_TYPE;

/// How long a read may wait.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Before HELLO: the whole HELLO by this instant.
    Hello { by: Instant, limit: Duration },
    /// After: each frame whole within `frame` of its first byte (or of its
    /// admission), and the next frame's first byte by `idle` when set.
    Frames {
        frame: Duration,
        idle: Option<(Instant, Duration)>,
    },
}

pub struct Reader<S> {
    pub stream: S,
    buf: Vec<u8>,
    budget: Arc<Budget>,
    cutter: Cutter,
    /// The frame at the front, larger than [`FLOOR`]: waiting for
    /// admission, then admitted.
    admitting: Option<Request>,
    admitted: Option<Held>,
    /// Budget for what the whole frame at the front decodes to.
    reserving: Option<Request>,
    reserved: Option<Held>,
    /// When the frame being read started.
    started: Option<Instant>,
}

impl<S: AsyncRead + Unpin> Reader<S> {
    pub fn new(stream: S, budget: Arc<Budget>, cutter: Cutter) -> Reader<S> {
        Reader {
            stream,
            buf: Vec::new(),
            budget,
            cutter,
            admitting: None,
            admitted: None,
            reserving: None,
            reserved: None,
            started: None,
        }
    }

    /// Reads until a whole frame of at most `max` bytes (before HELLO:
    /// a HELLO) is at the front, and returns its length. Cancel-safe:
    /// what was read and the places in the budget's line are kept.
    pub async fn next(&mut self, max: u32, wait: Wait) -> Result<usize, Close> {
        let hello = matches!(wait, Wait::Hello { .. });
        loop {
            let whole = if hello {
                check_hello(&self.buf)?
            } else {
                match wire::check(&self.buf, max) {
                    Ok(n) => n,
                    Err(WireError::TooLarge { len, max }) => {
                        return Err(Close::TooLarge { len, max })
                    }
                    Err(e) => return Err(Close::Protocol(e.to_string())),
                }
            };
            if let Some(n) = whole {
                if let Some(a) = &self.admitted {
                    // Whole: waiting for the batch's budget is not a stall.
                    a.whole();
                }
                if !hello && self.reserved.is_none() {
                    let size = wire::decoded_size(&self.buf[..n]);
                    if size > 0 {
                        let budget = &self.budget;
                        let r = self.reserving.get_or_insert_with(|| budget.batch(size));
                        r.ready().await;
                        self.reserved = self.reserving.take().map(Request::take);
                    }
                }
                return Ok(n);
            }
            let claim = self
                .buf
                .get(..4)
                .map(|h| 4 + u32::from_be_bytes(h.try_into().expect("4 bytes")) as usize);
            let limit = match claim {
                Some(c) if c > FLOOR => {
                    if self.admitted.is_none() {
                        let (budget, cutter) = (&self.budget, &self.cutter);
                        let r = self
                            .admitting
                            .get_or_insert_with(|| budget.frame(c, cutter.clone()));
                        r.ready().await;
                        self.admitted = self.admitting.take().map(Request::take);
                        // The frame's clock starts now: waiting for the
                        // budget is the collector's doing, not the peer's.
                        self.started = Some(Instant::now());
                    }
                    c
                }
                _ if hello => MAX_HELLO as usize,
                _ => FLOOR,
            };
            if self.buf.len() == self.buf.capacity() {
                let target = (self.buf.capacity() * 2)
                    .max(self.buf.len() + 4096)
                    .min(limit);
                self.buf.reserve_exact(target - self.buf.len());
            }
            let (deadline, on_timeout) = match (wait, self.started) {
                (Wait::Hello { by, limit }, _) => (Some(by), Close::HelloTimeout(limit)),
                (Wait::Frames { frame, .. }, Some(t)) => {
                    (Some(t + frame), Close::FrameTimeout(frame))
                }
                (Wait::Frames { idle, .. }, None) => (
                    idle.map(|i| i.0),
                    Close::Idle(idle.map_or(Duration::ZERO, |i| i.1)),
                ),
            };
            let read = self.stream.read_buf(&mut self.buf);
            let read = match deadline {
                Some(at) => match timeout_at(at, read).await {
                    Ok(r) => r,
                    Err(_) => return Err(on_timeout),
                },
                None => read.await,
            };
            match read {
                Ok(0) if self.buf.is_empty() => return Err(Close::PeerClosed),
                Ok(0) => return Err(Close::ClosedMidFrame),
                Ok(_) => {
                    self.started.get_or_insert_with(Instant::now);
                    if let Some(a) = &self.admitted {
                        a.progress();
                    }
                }
                Err(e) => return Err(Close::Io(e)),
            }
        }
    }

    /// Waits until some bytes are buffered (reading them), under `wait`'s
    /// deadline.
    pub async fn first_bytes(&mut self, wait: Wait) -> Result<(), Close> {
        if self.buf.is_empty() {
            let Wait::Hello { by, limit } = wait else {
                unreachable!("first_bytes is for the HELLO");
            };
            self.buf.reserve_exact(MAX_HELLO as usize);
            match timeout_at(by, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Err(Close::HelloTimeout(limit)),
                Ok(Ok(0)) => return Err(Close::PeerClosed),
                Ok(Ok(_)) => self.started = Some(Instant::now()),
                Ok(Err(e)) => return Err(Close::Io(e)),
            }
        }
        Ok(())
    }

    /// The first `n` bytes (a whole frame, as [`Reader::next`] said).
    pub fn front(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// Decodes the `n`-byte frame at the front and removes it; with the
    /// budget its decoded lines hold (for a BATCH).
    pub fn take(&mut self, n: usize) -> (Result<Frame, WireError>, Option<Held>) {
        let frame = Frame::decode(&self.buf[..n]);
        let held = self.reserved.take();
        self.consume(n);
        (frame, held)
    }

    /// Removes the first `n` bytes; frees a large frame's buffer and its
    /// admission.
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.admitted = None;
        self.reserved = None;
        self.started = (!self.buf.is_empty()).then(Instant::now);
        if self.buf.capacity() > FLOOR {
            // Nothing past a large frame is read, so this is empty but for
            // a frame that was small.
            if self.buf.is_empty() {
                self.buf = Vec::new();
            } else {
                self.buf.shrink_to(FLOOR);
            }
        }
    }

    /// Bytes buffered (for the tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// The first bytes of a connection must be a HELLO of at most
/// [`MAX_HELLO`] bytes: anything else is not a logq agent (an HTTP client,
/// a port scanner), told apart as soon as the type byte or the magic shows
/// it.
fn check_hello(buf: &[u8]) -> Result<Option<usize>, Close> {
    let not_hello = match buf.get(4) {
        None => false,
        Some(&t) if t != HELLO_TYPE => true,
        Some(_) => {
            let seen = &buf[5..buf.len().min(9)];
            seen != &MAGIC[..seen.len()]
        }
    };
    let checked = wire::check(buf, MAX_HELLO);
    if not_hello || matches!(checked, Err(WireError::Empty)) {
        let code = match checked {
            Err(WireError::TooLarge { .. }) => wire::code::TOO_LARGE,
            _ => wire::code::PROTOCOL,
        };
        return Err(Close::NotAgent {
            first: buf[..buf.len().min(16)].to_vec(),
            code,
        });
    }
    match checked {
        Ok(n) => Ok(n),
        Err(WireError::TooLarge { len, max }) => Err(Close::TooLarge { len, max }),
        Err(e) => Err(Close::Protocol(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::close::cutter;
    use tokio::io::AsyncWriteExt;

    fn frames(budget: usize) -> (Reader<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (c, _) = cutter();
        (Reader::new(a, Budget::new(budget), c), b)
    }

    const WAIT: Wait = Wait::Frames {
        frame: Duration::from_secs(10),
        idle: None,
    };

    #[tokio::test]
    async fn the_buffer_grows_with_bytes_that_arrived_not_with_the_claim() {
        // 64 connections each claiming 16 MiB and sending a little took the
        // collector to 1 GB: the claim alone must cost no memory.
        let (mut r, mut peer) = frames(1 << 30);
        let mut header = (16u32 << 20).to_be_bytes().to_vec();
        header.push(wire::kind::BATCH);
        header.extend_from_slice(&[0; 100_000]);
        peer.write_all(&header).await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(300), r.next(u32::MAX, WAIT)).await;
        assert!(read.is_err(), "the frame is not whole");
        assert!(
            r.capacity() < 300_000,
            "{} bytes buffered for 100 kB received",
            r.capacity()
        );
        assert_eq!(
            r.budget.usage().used,
            (16 << 20) + 4,
            "the claim is admitted"
        );
    }

    #[tokio::test]
    async fn a_hello_larger_than_max_hello_is_refused_before_its_body() {
        // Before HELLO a stranger's header claiming 16 MiB must not even
        // be admitted.
        let (mut r, mut peer) = frames(1 << 30);
        let mut header = (16u32 << 20).to_be_bytes().to_vec();
        header.extend_from_slice(&[wire::kind::HELLO, b'L', b'O', b'G', b'Q']);
        peer.write_all(&header).await.unwrap();
        let wait = Wait::Hello {
            by: Instant::now() + Duration::from_secs(10),
            limit: Duration::from_secs(10),
        };
        match r.next(u32::MAX, wait).await {
            Err(Close::TooLarge { max, .. }) => assert_eq!(max, MAX_HELLO),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.budget.usage().used, 0);
    }

    #[tokio::test]
    async fn a_batch_is_handed_out_with_budget_for_what_it_decodes_to() {
        // Decoded lines are bigger than their frame; the budget must count
        // them until the writer is done, not the frame's bytes.
        let (mut r, mut peer) = frames(1 << 30);
        let mut out = Vec::new();
        Frame::Batch {
            batch_seq: 1,
            read_time_ms: 0,
            streams: vec![wire::WireStream {
                stream_id: 1,
                path: "/x".into(),
                records: (0..1000)
                    .map(|i| wire::WireRecord {
                        offset: i * 2,
                        end: i * 2 + 2,
                        flags: 0,
                        line: b"a".to_vec(),
                    })
                    .collect(),
            }],
        }
        .encode(&mut out)
        .unwrap();
        peer.write_all(&out).await.unwrap();
        let n = r.next(u32::MAX, WAIT).await.unwrap();
        let (frame, held) = r.take(n);
        assert!(matches!(frame, Ok(Frame::Batch { .. })));
        let held = held.expect("a batch holds budget");
        assert!(
            held.bytes() > 2 * out.len(),
            "{} for {}",
            held.bytes(),
            out.len()
        );
        assert_eq!(r.budget.usage().used, held.bytes());
        drop(held);
        assert_eq!(r.budget.usage().used, 0);
    }
}
