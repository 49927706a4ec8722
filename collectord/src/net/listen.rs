//! The listening sockets: those systemd passed (socket activation,
//! `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`), or those bound here. Each
//! [`Kind`] of socket is named by its unit's `FileDescriptorName=`; see
//! [`assign`]. Called before any thread is started (it reads and unsets
//! environment variables).
//!
//! Taking ownership of an inherited descriptor needs `unsafe`
//! (`OwnedFd::from_raw_fd`); this module is the only place that has it.
#![allow(unsafe_code)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context};
use nix::sys::socket::{getsockopt, sockopt, SockType};

use crate::config::Config;

/// Where a listener came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Systemd,
    Bound,
}

/// The sockets collectord serves: the one table of their names, and
/// whether each is a datagram socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// agentd's protocol (PROTOCOL.md), TCP.
    Agents,
    /// Syslog, one message per datagram.
    SyslogUdp,
    /// Syslog over TCP, RFC 6587 framing.
    SyslogTcp,
    /// Reserved for syslog over TLS (RFC 5425): the name is known so that a
    /// unit passing it gets a clear error, not "unknown name".
    SyslogTls,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Agents,
        Kind::SyslogUdp,
        Kind::SyslogTcp,
        Kind::SyslogTls,
    ];

    /// Its `FileDescriptorName=`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Agents => "agents",
            Kind::SyslogUdp => "syslog-udp",
            Kind::SyslogTcp => "syslog-tcp",
            Kind::SyslogTls => "syslog-tls",
        }
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn datagram(self) -> bool {
        self == Kind::SyslogUdp
    }
}

/// The `FileDescriptorName=` of the agents' socket in collectord.socket.
pub const AGENTS: &str = "agents";

/// Every socket collectord serves.
#[derive(Debug)]
pub struct Listeners {
    pub agents: (TcpListener, Origin),
    pub syslog_udp: Option<(UdpSocket, Origin)>,
    pub syslog_tcp: Option<(TcpListener, Origin)>,
    pub syslog_tls: Option<(TcpListener, Origin)>,
}

/// The sockets systemd passed, each in its place, then those the config
/// asks for and systemd did not pass, bound here. A passed socket
/// overrides the configured address.
pub fn listeners(config: &Config) -> anyhow::Result<Listeners> {
    let mut agents = None;
    let mut syslog_udp = None;
    let mut syslog_tcp = None;
    let mut syslog_tls = None;
    for (kind, fd) in inherited()? {
        match kind {
            Kind::Agents => agents = Some((TcpListener::from(fd), Origin::Systemd)),
            Kind::SyslogUdp => syslog_udp = Some((UdpSocket::from(fd), Origin::Systemd)),
            Kind::SyslogTcp => syslog_tcp = Some((TcpListener::from(fd), Origin::Systemd)),
            Kind::SyslogTls => syslog_tls = Some((TcpListener::from(fd), Origin::Systemd)),
        }
    }
    let agents = match agents {
        Some(a) => a,
        None => (bind_tcp(config.listen, "listen")?, Origin::Bound),
    };
    if syslog_udp.is_none() {
        if let Some(addr) = config.syslog_udp_addr() {
            let socket = UdpSocket::bind(addr)
                .with_context(|| format!("cannot receive syslog on UDP {addr} (syslog-udp)"))?;
            syslog_udp = Some((socket, Origin::Bound));
        }
    }
    if syslog_tcp.is_none() {
        if let Some(addr) = config.syslog_tcp_addr() {
            syslog_tcp = Some((bind_tcp(addr, "syslog-tcp")?, Origin::Bound));
        }
    }
    if syslog_tls.is_none() {
        if let Some(addr) = config.syslog_tls_addr() {
            syslog_tls = Some((bind_tcp(addr, "syslog-tls")?, Origin::Bound));
        }
    }
    Ok(Listeners {
        agents,
        syslog_udp,
        syslog_tcp,
        syslog_tls,
    })
}

fn bind_tcp(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, AddressFamily, Backlog, SockFlag, SockaddrStorage,
    };
    use std::os::fd::AsRawFd;
    let listener = || -> nix::Result<TcpListener> {
        let family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
        // As std's bind does: a restart can bind while old connections linger.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
        // The kernel's queue of connections not yet accepted, as long as
        // net.core.somaxconn allows (std asks for 128; systemd's Backlog=
        // default is the same): under a flood of connections an agent's
        // waits there rather than having its SYN dropped and retried a
        // second or more later.
        listen(&fd, Backlog::MAXALLOWABLE)?;
        Ok(TcpListener::from(fd))
    };
    listener()
        .map_err(std::io::Error::from)
        .with_context(|| format!("cannot listen on {addr} ({key})"))
}

/// The sockets systemd passed, checked against their kinds.
fn inherited() -> anyhow::Result<Vec<(Kind, OwnedFd)>> {
    let fds: Vec<(RawFd, String)> = sd_notify::listen_fds_with_names(true)
        .context("cannot read LISTEN_FDS and LISTEN_FDNAMES")?
        .collect();
    let names: Vec<&str> = fds.iter().map(|(_, name)| name.as_str()).collect();
    let kinds = assign(&names)?;
    let mut out = Vec::with_capacity(fds.len());
    for ((fd, name), kind) in fds.iter().zip(kinds) {
        let fd = *fd;
        // SAFETY: `sd_notify::listen_fds_with_names` returned `fd` only
        // because LISTEN_PID names this process: systemd opened it for us
        // and nothing else in the process owns it. It is taken exactly
        // once, here, before any other code runs, and LISTEN_FDS is unset
        // so it cannot be taken again.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let ty = getsockopt(&owned, sockopt::SockType).ok();
        let ok = if kind.datagram() {
            ty == Some(SockType::Datagram)
        } else {
            ty == Some(SockType::Stream) && getsockopt(&owned, sockopt::AcceptConn) == Ok(true)
        };
        if !ok {
            let want = if kind.datagram() {
                "a UDP (datagram) socket"
            } else {
                "a listening TCP socket"
            };
            bail!("the socket systemd passed as {name:?} (fd {fd}) is not {want}");
        }
        out.push((kind, owned));
    }
    Ok(out)
}

/// What each of the sockets systemd passed (their `LISTEN_FDNAMES`, in fd
/// order) is. A single socket with a name that is not a [`Kind`]'s (a
/// unit written without `FileDescriptorName=`, named after the unit) is
/// the agents' one, as before syslog; otherwise every name must be a
/// kind's, each at most once.
pub fn assign(names: &[&str]) -> anyhow::Result<Vec<Kind>> {
    if let [only] = names {
        return Ok(vec![Kind::from_name(only).unwrap_or(Kind::Agents)]);
    }
    let known = || {
        Kind::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut kinds = Vec::with_capacity(names.len());
    for name in names {
        let Some(kind) = Kind::from_name(name) else {
            bail!(
                "systemd passed {} sockets ({}) and {name:?} is not a name collectord knows ({}); set FileDescriptorName={AGENTS} on the agents' socket and the syslog ones' names on theirs",
                names.len(),
                names.join(", "),
                known()
            );
        };
        if kinds.contains(&kind) {
            bail!(
                "systemd passed more than one socket named {name:?} ({}); give the others other FileDescriptorName= values",
                names.join(", ")
            );
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_socket_is_used_whatever_its_name() {
        // A socket unit written without FileDescriptorName= (named after the
        // unit, or "unknown") must keep working.
        assert_eq!(assign(&[]).unwrap(), []);
        assert_eq!(assign(&["collectord.socket"]).unwrap(), [Kind::Agents]);
        assert_eq!(assign(&["unknown"]).unwrap(), [Kind::Agents]);
    }

    #[test]
    fn a_single_syslog_socket_is_syslog() {
        // collectord-syslog-udp.socket enabled without collectord.socket:
        // the agents' port is bound from the config, and the syslog socket
        // must not be served as the agents' one.
        assert_eq!(assign(&["syslog-udp"]).unwrap(), [Kind::SyslogUdp]);
        assert_eq!(assign(&["syslog-tcp"]).unwrap(), [Kind::SyslogTcp]);
    }

    #[test]
    fn among_several_each_by_its_name() {
        // With syslog listeners beside it, agents must not be served on the
        // syslog port because it came first.
        assert_eq!(
            assign(&["syslog-udp", "agents", "syslog-tcp"]).unwrap(),
            [Kind::SyslogUdp, Kind::Agents, Kind::SyslogTcp]
        );
        assert_eq!(
            assign(&["syslog-tcp", "syslog-udp"]).unwrap(),
            [Kind::SyslogTcp, Kind::SyslogUdp]
        );
    }

    #[test]
    fn an_unknown_name_among_several_is_an_error_naming_it() {
        // An operator must learn which names systemd passed and which are
        // wanted, not see collectord serve the wrong socket.
        let err = assign(&["syslog-udp", "collectord.socket"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("syslog-udp, collectord.socket"), "{err}");
        assert!(err.contains("\"collectord.socket\" is not a name"), "{err}");
        assert!(err.contains("FileDescriptorName=agents"), "{err}");
        let err = assign(&["agents", "agents"]).unwrap_err().to_string();
        assert!(err.contains("more than one"), "{err}");
    }
}
