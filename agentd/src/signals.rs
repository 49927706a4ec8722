//! Signals and wake-ups for the tailer loop.
//!
//! SIGTERM and SIGINT ask for a clean stop (a second one exits at once),
//! SIGHUP asks for a reload of the configuration (the tailer loop returns
//! and `daemon.rs` decides). Each signal also writes a byte to a socket pair
//! the tailer polls together with inotify, so it wakes at once; the spool
//! (on an ACK) and the journal reader use the same socket pair (through a
//! [`Waker`]) to wake a tailer that waits for room or for entries.
//!
//! The handlers are installed once per process; [`Signals`] is a handle
//! that each pipeline (see `daemon.rs`) gets a clone of.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
}

#[derive(Clone)]
pub struct Signals {
    stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    wake_rx: Arc<UnixStream>,
    wake_tx: Arc<UnixStream>,
}

impl Signals {
    /// Signal state without handlers, for tests and for [`Self::install`].
    pub fn new() -> io::Result<Signals> {
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        Ok(Signals {
            stop: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
            wake_rx: Arc::new(wake_rx),
            wake_tx: Arc::new(wake_tx),
        })
    }

    /// Installs the handlers for SIGTERM, SIGINT and SIGHUP.
    pub fn install() -> io::Result<Signals> {
        let s = Signals::new()?;
        for sig in [SIGTERM, SIGINT] {
            // Registered first, so it only fires when the flag is already
            // set: the second signal exits at once.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&s.stop))?;
            signal_hook::flag::register(sig, Arc::clone(&s.stop))?;
            signal_hook::low_level::pipe::register(sig, s.wake_tx.try_clone()?)?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&s.hup))?;
        signal_hook::low_level::pipe::register(SIGHUP, s.wake_tx.try_clone()?)?;
        Ok(s)
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether SIGHUP arrived since the last call.
    pub fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::SeqCst)
    }

    /// A handle that wakes the tailer from another thread.
    pub fn waker(&self) -> io::Result<Waker> {
        Ok(Waker {
            tx: self.wake_tx.try_clone()?,
        })
    }

    /// Waits until a wake-up, `extra` readable, or `timeout`. Returns whether
    /// `extra` is readable.
    pub fn wait(&self, extra: Option<BorrowedFd<'_>>, timeout: Duration) -> io::Result<bool> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut fds = vec![PollFd::new(self.wake_rx.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = extra {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        match nix::poll::poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let extra_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty());
        self.drain();
        Ok(extra_ready)
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&*self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Wakes the tailer from another thread.
pub struct Waker {
    tx: UnixStream,
}

impl Waker {
    pub fn wake(&self) {
        // A full socket buffer already holds a wake-up: nothing lost.
        let _ = (&self.tx).write(&[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn waker_interrupts_the_wait() {
        // A tailer waiting for room in the spool must resume as soon as an
        // ACK makes room, not after its safety timeout.
        let s = Signals::new().unwrap();
        let w = s.waker().unwrap();
        let t = Instant::now();
        s.wait(None, Duration::from_millis(50)).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(40), "woken by nothing");
        std::thread::spawn(move || w.wake());
        let t = Instant::now();
        s.wait(None, Duration::from_secs(10)).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
