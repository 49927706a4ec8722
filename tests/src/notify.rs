//! A stand-in for systemd's notification socket (`NOTIFY_SOCKET`): what a
//! daemon sends, read by a thread as it comes. A datagram socket queues only
//! `/proc/sys/net/unix/max_dgram_qlen` messages (10 by default), and once
//! the queue is full the daemon's next notification blocks it.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wait_until;

pub struct Notifications {
    path: PathBuf,
    notes: Arc<Mutex<Vec<String>>>,
    /// Tells the reading thread to stop.
    stop: Arc<AtomicBool>,
}

impl Notifications {
    /// Binds `path` (removing what was there) and starts reading it.
    pub fn bind(path: &Path) -> Notifications {
        let _ = std::fs::remove_file(path);
        let socket = UnixDatagram::bind(path).expect("bind notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("set timeout");
        let notes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (notes, stop) = (notes.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        let note = String::from_utf8_lossy(&buf[..n]).into_owned();
                        notes.lock().unwrap_or_else(|e| e.into_inner()).push(note);
                    }
                }
            });
        }
        Notifications {
            path: path.to_owned(),
            notes,
            stop,
        }
    }

    /// For the daemon's `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many notifications came so far.
    pub fn count(&self) -> usize {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits for a notification with the line `line` (`READY=1`) among those
    /// after the first `after`; its index, or `None` after `timeout`.
    pub fn wait_for(&self, after: usize, line: &str, timeout: Duration) -> Option<usize> {
        let mut found = None;
        wait_until(timeout, || {
            let notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
            found = notes
                .iter()
                .enumerate()
                .skip(after)
                .find(|(_, n)| n.lines().any(|l| l == line))
                .map(|(i, _)| i);
            found.is_some()
        });
        found
    }

    /// Everything received so far, for failure messages.
    pub fn all(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
