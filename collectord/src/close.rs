//! Why a connection ends: the one log line each close gets, and the ERROR
//! frame the peer is sent first, when there is one.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use logcore::wire::{code, VERSION};
use tracing::{error, info, warn};

#[derive(Debug)]
pub enum Close {
    /// EOF between frames.
    PeerClosed,
    /// EOF inside a frame.
    ClosedMidFrame,
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
    AgentError {
        code: u16,
        message: String,
    },
    Shutdown,
    WriterGone,
    Busy(u32),
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
            Close::Idle(d) => write!(f, "no frames for {} ms", d.as_millis()),
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
            Close::Protocol(s) => write!(f, "protocol error: {s}"),
            Close::AgentError { code, message } => {
                write!(f, "agent reported error {code}: {}", message.escape_debug())
            }
            Close::Shutdown => write!(f, "collector shutting down"),
            Close::WriterGone => write!(f, "the writer stopped"),
            Close::Busy(n) => write!(f, "too many connections (limit {n})"),
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
            Close::Handshake(why) => write!(f, "TLS handshake failed: {why}"),
            Close::Identity(why) => write!(f, "refused: {why}"),
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
            Close::Protocol(_) | Close::FrameTimeout(_) | Close::HelloTimeout(_) => {
                (code::PROTOCOL, self.to_string())
            }
            Close::Shutdown => (code::SHUTDOWN, "collector is shutting down".to_owned()),
            Close::WriterGone => (code::INTERNAL, "collector cannot store lines".to_owned()),
            Close::Busy(n) => {
                (code::BUSY, format!("too many connections (limit {n}); try again later"))
            }
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

    /// The one log line of this close.
    pub fn log(&self, peer: SocketAddr, agent: Option<&str>) {
        let agent = agent.unwrap_or("-");
        match self {
            Close::PeerClosed | Close::Shutdown | Close::Idle(_) => {
                info!(%peer, %agent, reason = %self, "Closed a connection.")
            }
            Close::WriterGone => error!(%peer, %agent, reason = %self, "Closed a connection."),
            _ => warn!(%peer, %agent, reason = %self, "Closed a connection."),
        }
    }
}
