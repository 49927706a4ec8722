//! The listening socket: the one systemd passed (socket activation,
//! `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`), or one bound here. With
//! several sockets the agents' one is named `agents`
//! (`FileDescriptorName=agents`); see [`choose`]. Called before any thread
//! is started (it reads and unsets environment variables).
//!
//! Taking ownership of an inherited descriptor needs `unsafe`
//! (`OwnedFd::from_raw_fd`); this module is the only place that has it.
#![allow(unsafe_code)]

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context};
use nix::sys::socket::{getsockopt, sockopt, SockType};

/// Where the listener came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Systemd,
    Bound,
}

/// The inherited listener if systemd passed one, else `addr` bound here.
pub fn listener(addr: SocketAddr) -> anyhow::Result<(TcpListener, Origin)> {
    if let Some(listener) = inherited()? {
        return Ok((listener, Origin::Systemd));
    }
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    Ok((listener, Origin::Bound))
}

/// The `FileDescriptorName=` of the agents' socket in collectord.socket.
pub const AGENTS: &str = "agents";

fn inherited() -> anyhow::Result<Option<TcpListener>> {
    let fds: Vec<(RawFd, String)> = sd_notify::listen_fds_with_names(true)
        .context("cannot read LISTEN_FDS and LISTEN_FDNAMES")?
        .collect();
    let names: Vec<&str> = fds.iter().map(|(_, name)| name.as_str()).collect();
    let Some(i) = choose(&names)? else {
        return Ok(None);
    };
    let (fd, name) = &fds[i];
    let fd = *fd;
    // SAFETY: `sd_notify::listen_fds_with_names` returned `fd` only because
    // LISTEN_PID names this process: systemd opened it for us and nothing
    // else in the process owns it. It is taken exactly once, here, before
    // any other code runs, and LISTEN_FDS is unset so it cannot be taken
    // again.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stream = getsockopt(&owned, sockopt::SockType).map(|t| t == SockType::Stream);
    let listening = getsockopt(&owned, sockopt::AcceptConn);
    match (stream, listening) {
        (Ok(true), Ok(true)) => Ok(Some(TcpListener::from(owned))),
        _ => bail!("the socket systemd passed as {name:?} (fd {fd}) is not a listening TCP socket"),
    }
}

/// Which of the sockets systemd passed (their `LISTEN_FDNAMES`, in fd
/// order) is the agents' one: the only one, whatever its name; else the one
/// named [`AGENTS`]. `None` when systemd passed none.
pub fn choose(names: &[&str]) -> anyhow::Result<Option<usize>> {
    if names.len() <= 1 {
        return Ok((!names.is_empty()).then_some(0));
    }
    let mut agents = names.iter().enumerate().filter(|(_, n)| **n == AGENTS);
    match (agents.next(), agents.next()) {
        (Some((i, _)), None) => Ok(Some(i)),
        (Some(_), Some(_)) => bail!(
            "systemd passed more than one socket named {AGENTS:?} ({}); give the others other FileDescriptorName= values",
            names.join(", ")
        ),
        (None, _) => bail!(
            "systemd passed {} sockets ({}) and none is named {AGENTS:?}; set FileDescriptorName={AGENTS} on the agents' socket",
            names.len(),
            names.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_socket_is_used_whatever_its_name() {
        // A socket unit written without FileDescriptorName= (named after the
        // unit, or "unknown") must keep working.
        assert_eq!(choose(&[]).unwrap(), None);
        assert_eq!(choose(&["collectord.socket"]).unwrap(), Some(0));
        assert_eq!(choose(&["unknown"]).unwrap(), Some(0));
    }

    #[test]
    fn among_several_the_one_named_agents() {
        // With syslog listeners beside it, agents must not be served on the
        // syslog port because it came first.
        assert_eq!(
            choose(&["syslog-udp", "agents", "syslog-tcp"]).unwrap(),
            Some(1)
        );
    }

    #[test]
    fn several_without_agents_is_an_error_naming_them() {
        // An operator must learn which names systemd passed and which one
        // is wanted, not see collectord serve the wrong socket.
        let err = choose(&["syslog-udp", "collectord.socket"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("syslog-udp, collectord.socket"), "{err}");
        assert!(err.contains("FileDescriptorName=agents"), "{err}");
        let err = choose(&["agents", "agents"]).unwrap_err().to_string();
        assert!(err.contains("more than one"), "{err}");
    }
}
