//! systemd notifications (READY, RELOADING, STATUS, WATCHDOG, STOPPING) and the live
//! figures STATUS reports. Outside systemd (`NOTIFY_SOCKET` unset) every
//! call is a no-op.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tracing::debug;

/// Figures shared by the server and the writer.
#[derive(Debug, Default)]
pub struct Stats {
    /// Agent connections past HELLO.
    pub agents: AtomicU64,
    /// Lines stored since start.
    pub lines: AtomicU64,
    /// Time of the last commit, ms since the epoch (0: none yet).
    pub last_commit_ms: AtomicI64,
    /// Anomalies the detectors opened since start.
    pub anomalies: AtomicU64,
    /// Syslog TCP connections open.
    pub syslog_connections: AtomicU64,
    /// Syslog UDP messages dropped by `syslog-rate-limit` since start.
    pub syslog_dropped: AtomicU64,
    /// Second copies of journal events (journal and rsyslog's file) not
    /// stored, since start.
    pub twins: AtomicU64,
    /// What the writer waits for when it takes no lines (a full disk);
    /// `None` while it takes them.
    pub storage: std::sync::Mutex<Option<String>>,
}

impl Stats {
    /// The writer's pause, for STATUS (see `space`).
    pub fn set_storage(&self, paused: Option<String>) {
        let mut s = self
            .storage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *s != paused {
            *s = paused;
        }
    }

    /// Whether the writer takes lines.
    pub fn storage_paused(&self) -> Option<String> {
        self.storage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        debug!(error = %e, "Could not notify systemd.");
    }
}

pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// RELOADING=1, with the MONOTONIC_USEC= that systemd 253 and later
/// require beside it (older ones ignore it); READY=1 ends the reload.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The STATUS text: agents, lines/s since the previous report, last commit.
pub fn status_text(stats: &Stats, lines_per_sec: u64, now_ms: i64) -> String {
    let agents = stats.agents.load(Ordering::Relaxed);
    let last = stats.last_commit_ms.load(Ordering::Relaxed);
    let commit = if last == 0 {
        "no commit yet".to_owned()
    } else {
        format!(
            "last commit {:.1} s ago",
            (now_ms - last).max(0) as f64 / 1000.0
        )
    };
    let plural = if agents == 1 { "" } else { "s" };
    let anomalies = stats.anomalies.load(Ordering::Relaxed);
    let a_plural = if anomalies == 1 { "y" } else { "ies" };
    let mut text = match stats.storage_paused() {
        Some(why) => format!("{why}; "),
        None => String::new(),
    };
    text.push_str(&format!("{agents} agent{plural} connected, {lines_per_sec} lines/s, {commit}, {anomalies} anomal{a_plural}"));
    let syslog = stats.syslog_connections.load(Ordering::Relaxed);
    let dropped = stats.syslog_dropped.load(Ordering::Relaxed);
    if syslog > 0 || dropped > 0 {
        text.push_str(&format!(
            ", {syslog} syslog connection{}, {dropped} syslog UDP messages dropped by the rate limit",
            if syslog == 1 { "" } else { "s" }
        ));
    }
    match stats.twins.load(Ordering::Relaxed) {
        0 => {}
        n => text.push_str(&format!(", {n} journal/file twins stored once")),
    }
    text
}

/// WATCHDOG=1 from the writer loop, at half the interval systemd asked for.
pub struct Watchdog {
    every: Option<Duration>,
    last: Instant,
}

impl Watchdog {
    pub fn from_env() -> Watchdog {
        let mut usec = 0;
        let every = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(100)));
        Watchdog {
            every,
            last: Instant::now(),
        }
    }

    /// Sends WATCHDOG=1 if due. Call it from every turn of the loop.
    pub fn tick(&mut self) {
        if let Some(every) = self.every {
            if self.last.elapsed() >= every {
                send(&[NotifyState::Watchdog]);
                self.last = Instant::now();
            }
        }
    }
}
