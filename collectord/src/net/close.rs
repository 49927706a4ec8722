//! Why a connection ends: the one log line each close gets, and the ERROR
//! frame the peer is sent first, when there is one ([`linger`] sends it
//! and closes without a reset). Also the two things
//! that end a connection from outside it: a [`Cutter`] (the connection
//! slots and the buffer budget use it) and, for floods, a [`Quota`] on the
//! log lines of connections that never delivered a line.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::writer::NotStored;
use logcore::text::Escaped;
use logcore::wire::{code, Frame, VERSION};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{error, info, warn};

/// Why a connection is ended from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Its place went to a newcomer: the pending pool was full and it was
    /// the oldest there, or the agents' pool (or its source's share) was
    /// full and it had delivered no line for the longest.
    Evicted,
    /// The same agent connected again (same address, or the same verified
    /// certificate): the newer connection serves it.
    Replaced,
    /// Its frame received nothing for [`crate::net::budget::STALL`] while others
    /// waited for buffer memory.
    Stalled,
}

/// Ends one connection from outside; cloned by whoever may end it. The
/// first reason given is the one kept.
#[derive(Clone)]
pub struct Cutter(Arc<watch::Sender<Option<Cut>>>);

/// The connection's side of a [`Cutter`].
pub struct CutRx(watch::Receiver<Option<Cut>>);

/// A new cutter and its receiver, for one connection.
pub fn cutter() -> (Cutter, CutRx) {
    let (tx, rx) = watch::channel(None);
    (Cutter(Arc::new(tx)), CutRx(rx))
}

impl Cutter {
    pub fn cut(&self, why: Cut) {
        self.0.send_if_modified(|c| {
            let first = c.is_none();
            if first {
                *c = Some(why);
            }
            first
        });
    }
}

impl CutRx {
    /// The reason, if it was cut already.
    pub fn now(&self) -> Option<Cut> {
        *self.0.borrow()
    }

    /// Completes when the connection is cut (cancel-safe).
    pub async fn cut(&mut self) -> Cut {
        let cut = self.0.wait_for(Option::is_some).await.map(|c| *c);
        match cut {
            Ok(c) => c.expect("waited for Some"),
            // Every cutter is gone: nobody can cut any more.
            Err(_) => std::future::pending().await,
        }
    }
}

/// At most [`Quota::LINES`] log lines per [`Quota::WINDOW`]; then the
/// count of the lines left out, logged before the next window's first.
/// For closes and refusals that a flood of connections would otherwise
/// turn into a flood of log lines.
pub struct Quota(Mutex<QuotaState>);

struct QuotaState {
    start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl Quota {
    pub const LINES: u32 = 20;
    pub const WINDOW: Duration = Duration::from_secs(10);

    pub const fn new() -> Quota {
        Quota(Mutex::new(QuotaState {
            start: None,
            logged: 0,
            suppressed: 0,
        }))
    }

    /// `Some(left_out)`: log this line, after saying that `left_out` lines
    /// were left out before it (when not 0); `None`: leave it out.
    pub fn take(&self) -> Option<u64> {
        let mut q = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if q.start
            .is_none_or(|s| now.duration_since(s) >= Self::WINDOW)
        {
            q.start = Some(now);
            q.logged = 0;
        }
        if q.logged >= Self::LINES {
            q.suppressed += 1;
            return None;
        }
        q.logged += 1;
        Some(std::mem::take(&mut q.suppressed))
    }
}

impl Default for Quota {
    fn default() -> Self {
        Self::new()
    }
}

/// The quota of closes of connections that delivered no line.
static QUIET: Quota = Quota::new();

#[derive(Debug)]
pub enum Close {
    /// EOF between frames.
    PeerClosed,
    /// EOF inside a frame.
    ClosedMidFrame,
    /// No line (nor a batch waiting for its commit) for this long.
    Idle(Duration),
    HelloTimeout(Duration),
    /// A frame started but did not arrive whole in time (slow loris).
    FrameTimeout(Duration),
    /// The first bytes cannot start a HELLO; `code` is the ERROR code sent
    /// (TOO_LARGE when the header also claimed too much).
    NotAgent {
        first: Vec<u8>,
        code: u16,
    },
    TooLarge {
        len: u64,
        max: u32,
    },
    Version(u16),
    Protocol(String),
    /// HELLO's agent_id or host is not a name (`logcore::wire::check_name`).
    BadHello(String),
    AgentError {
        code: u16,
        message: String,
    },
    Shutdown,
    WriterGone,
    /// The writer did not store a batch: a store limit refused it, or the
    /// disk is full.
    NotStored(NotStored),
    Busy(u32),
    /// The source address has `max-connections-per-source` connections.
    PerSource(u32),
    /// Another address's connection serves this agent id.
    InUse(String),
    Cut(Cut),
    Io(std::io::Error),
    /// The first bytes to the TLS port are not TLS; `hello`: they are a
    /// logq HELLO in plaintext.
    NotTls {
        hello: bool,
        first: Vec<u8>,
    },
    /// The TLS handshake failed; why, in words.
    Handshake(String),
    /// HELLO's agent_id is not the client certificate's name.
    Identity(String),
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::PeerClosed => write!(f, "peer closed the connection"),
            Close::ClosedMidFrame => {
                write!(f, "peer closed the connection in the middle of a frame")
            }
            Close::Idle(d) => write!(f, "no lines for {} ms", d.as_millis()),
            Close::HelloTimeout(d) => write!(f, "no HELLO within {} ms", d.as_millis()),
            Close::FrameTimeout(d) => {
                write!(
                    f,
                    "a frame did not arrive whole within {} ms (slow sender)",
                    d.as_millis()
                )
            }
            Close::NotAgent { first, .. } if first.starts_with(&[0x16, 0x03]) => write!(
                f,
                "not a logq agent in plaintext: the peer started a TLS handshake (is its tls on while this collector has no tls-cert?)"
            ),
            Close::NotAgent { first, .. } => {
                write!(
                    f,
                    "not a logq agent (first bytes \"{}\")",
                    first.escape_ascii()
                )
            }
            Close::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            Close::Version(v) => {
                write!(
                    f,
                    "agent speaks protocol version {v}, this collector speaks version {VERSION}"
                )
            }
            Close::Protocol(s) => write!(f, "protocol error: {}", Escaped(s)),
            Close::BadHello(s) => write!(f, "HELLO refused: {}", Escaped(s)),
            Close::AgentError { code, message } => {
                write!(f, "agent reported error {code}: {}", Escaped(message))
            }
            Close::Shutdown => write!(f, "collector shutting down"),
            Close::WriterGone => write!(f, "the writer stopped"),
            Close::NotStored(why) => write!(f, "{why}"),
            Close::Busy(n) => write!(f, "too many connections (max-connections {n})"),
            Close::PerSource(n) => write!(
                f,
                "too many connections from this address (max-connections-per-source {n})"
            ),
            Close::InUse(agent) => write!(
                f,
                "agent id {} is already connected from another address",
                Escaped(agent)
            ),
            Close::Cut(Cut::Evicted) => write!(
                f,
                "closed to make room for a new connection (the collector is full and this one delivered no lines for the longest)"
            ),
            Close::Cut(Cut::Replaced) => write!(
                f,
                "replaced by a newer connection of the same agent"
            ),
            Close::Cut(Cut::Stalled) => write!(
                f,
                "a frame received nothing for {} ms while other connections waited for buffer memory (max-buffer-mb)",
                crate::net::budget::STALL.as_millis()
            ),
            Close::Io(e) => write!(f, "connection error: {e}"),
            Close::NotTls { hello: true, .. } => write!(
                f,
                "not TLS: the peer sent a logq HELLO in plaintext (is the agent's tls off?)"
            ),
            Close::NotTls { first, .. } => write!(
                f,
                "not TLS: the peer's first bytes are \"{}\", not a TLS handshake",
                first.escape_ascii()
            ),
            Close::Handshake(why) => write!(f, "TLS handshake failed: {}", Escaped(why)),
            Close::Identity(why) => write!(f, "refused: {}", Escaped(why)),
        }
    }
}

impl Close {
    /// The ERROR frame to send before closing, if any.
    pub fn error_frame(&self) -> Option<(u16, String)> {
        Some(match self {
            Close::NotAgent { code, .. } => (*code, "not a logq agent".to_owned()),
            Close::TooLarge { .. } => (code::TOO_LARGE, self.to_string()),
            Close::Version(v) => (
                code::VERSION,
                format!("protocol version {v} is not spoken here; this collector speaks version {VERSION}"),
            ),
            Close::Protocol(_)
            | Close::BadHello(_)
            | Close::FrameTimeout(_)
            | Close::HelloTimeout(_)
            | Close::Cut(Cut::Stalled) => (code::PROTOCOL, self.to_string()),
            Close::Shutdown => (code::SHUTDOWN, "collector is shutting down".to_owned()),
            Close::WriterGone => (code::INTERNAL, "collector cannot store lines".to_owned()),
            Close::NotStored(NotStored::Refused(why)) => (code::LIMIT, why.clone()),
            Close::NotStored(NotStored::DiskFull) => (
                code::BUSY,
                "the collector's disk is full; try again later".to_owned(),
            ),
            Close::Busy(n) => (
                code::BUSY,
                format!("too many connections (limit {n}); try again later"),
            ),
            Close::PerSource(n) => (
                code::BUSY,
                format!("too many connections from this address (limit {n}); try again later"),
            ),
            Close::Cut(Cut::Evicted) => (code::BUSY, format!("{self}; try again later")),
            Close::InUse(_) | Close::Cut(Cut::Replaced) => (code::AGENT_IN_USE, self.to_string()),
            Close::NotTls { hello: true, .. } => (
                code::PROTOCOL,
                "this collector speaks TLS only: set tls = true and tls-ca in agentd.toml".to_owned(),
            ),
            Close::Identity(why) => (code::IDENTITY, why.clone()),
            Close::NotTls { hello: false, .. }
            | Close::Handshake(_)
            | Close::PeerClosed
            | Close::ClosedMidFrame
            | Close::Idle(_)
            | Close::AgentError { .. }
            | Close::Io(_) => return None,
        })
    }

    /// The one log line of this close. `agent`: HELLO's agent id, when
    /// there was one; `lines`: whether the connection delivered any line.
    /// Closes of connections that delivered none (strangers, floods) share
    /// a [`Quota`].
    pub fn log(&self, peer: SocketAddr, agent: Option<&str>, lines: bool) {
        if !lines {
            match QUIET.take() {
                None => return,
                Some(0) => {}
                Some(left_out) => warn!(
                    left_out,
                    window_secs = Quota::WINDOW.as_secs(),
                    "Left out the log lines of many closed connections that delivered no lines."
                ),
            }
        }
        let agent = Escaped(agent.unwrap_or("-"));
        match self {
            // The writer logs why it stored nothing (once an hour per
            // agent, or once per disk-full pause).
            Close::PeerClosed
            | Close::Shutdown
            | Close::Idle(_)
            | Close::Cut(Cut::Replaced)
            | Close::NotStored(_) => {
                info!(%peer, %agent, reason = %self, "Closed a connection.")
            }
            Close::WriterGone => error!(%peer, %agent, reason = %self, "Closed a connection."),
            _ => warn!(%peer, %agent, reason = %self, "Closed a connection."),
        }
    }
}

/// After an ERROR frame, how long unread input is drained before the
/// socket closes (closing with unread input sends RST, which can destroy
/// the ERROR frame before the peer reads it).
const LINGER: Duration = Duration::from_millis(500);

/// Sends the ERROR frame `reason` calls for (when given and there is
/// one), then closes: write side first, then unread input is drained for
/// a moment so that the peer gets the frame (or, `alert`, a failed
/// handshake's TLS alert) rather than a reset. With neither, closes at
/// once.
pub async fn linger<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    reason: Option<&Close>,
    alert: bool,
) {
    let mut out = Vec::new();
    match reason.and_then(Close::error_frame) {
        Some((code, message)) => {
            if (Frame::Error { code, message }).encode(&mut out).is_err() {
                return;
            }
        }
        None if alert => {}
        None => return,
    }
    let drain = async {
        stream.write_all(&out).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_in_a_reason_is_escaped() {
        // An agent's error message "x\n<3>forged" must not start a line of
        // its own in the journal.
        let c = Close::AgentError {
            code: 2,
            message: "x\n<3>collectord: forged".into(),
        };
        assert!(!c.to_string().contains('\n'), "{c}");
        let c = Close::BadHello("agent_id has '\\n' at byte 1".into());
        assert!(c.to_string().starts_with("HELLO refused: "));
        assert_eq!(c.error_frame().unwrap().0, code::PROTOCOL);
    }

    #[test]
    fn the_quota_counts_what_it_left_out() {
        // A flood of strangers must cost a bounded number of log lines,
        // and the operator must still learn how many were left out.
        let q = Quota::new();
        for _ in 0..Quota::LINES {
            assert_eq!(q.take(), Some(0));
        }
        assert_eq!(q.take(), None);
        assert_eq!(q.take(), None);
        q.0.lock().unwrap().start = Some(Instant::now() - Quota::WINDOW);
        assert_eq!(q.take(), Some(2), "the next window says 2 were left out");
        assert_eq!(q.take(), Some(0));
    }

    #[tokio::test]
    async fn the_first_cut_is_the_reason() {
        let (c, mut rx) = cutter();
        c.clone().cut(Cut::Stalled);
        c.cut(Cut::Evicted);
        assert_eq!(rx.cut().await, Cut::Stalled);
    }
}
