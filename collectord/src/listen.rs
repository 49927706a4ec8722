//! The listening socket: the one systemd passed (socket activation,
//! `LISTEN_FDS`/`LISTEN_PID`, fd 3), or one bound here. Called before any
//! thread is started (it reads and unsets environment variables).
//!
//! Taking ownership of an inherited descriptor needs `unsafe`
//! (`OwnedFd::from_raw_fd`); this module is the only place that has it.
#![allow(unsafe_code)]

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{bail, Context};
use nix::sys::socket::{getsockopt, sockopt, SockType};
use tracing::warn;

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

fn inherited() -> anyhow::Result<Option<TcpListener>> {
    let fds: Vec<_> = sd_notify::listen_fds()
        .context("cannot read LISTEN_FDS")?
        .collect();
    let Some(&fd) = fds.first() else {
        return Ok(None);
    };
    if fds.len() > 1 {
        warn!(
            count = fds.len(),
            "systemd passed more than one socket; using the first."
        );
    }
    // SAFETY: `sd_notify::listen_fds` returned `fd` only because LISTEN_PID
    // names this process: systemd opened it for us and nothing else in the
    // process owns it. It is taken exactly once, here, before any other
    // code runs, and LISTEN_FDS is unset so it cannot be taken again.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stream = getsockopt(&owned, sockopt::SockType).map(|t| t == SockType::Stream);
    let listening = getsockopt(&owned, sockopt::AcceptConn);
    match (stream, listening) {
        (Ok(true), Ok(true)) => Ok(Some(TcpListener::from(owned))),
        _ => bail!("the socket systemd passed (fd {fd}) is not a listening TCP socket"),
    }
}
