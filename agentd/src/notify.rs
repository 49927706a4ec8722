//! systemd notifications: READY, RELOADING, STOPPING, STATUS, and WATCHDOG pings sent
//! from the tailer loop (the loop that does the work), never from a timer
//! beside it. Without `NOTIFY_SOCKET` every call is a no-op.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// How often STATUS is refreshed.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);

pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
    last_ping: Instant,
    last_status: Option<(Instant, String)>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| Duration::from_micros(usec) / 2)
            .filter(|d| !d.is_zero());
        Notifier {
            enabled: true,
            watchdog,
            last_ping: Instant::now(),
            last_status: None,
        }
    }

    #[cfg(test)]
    pub fn disabled() -> Notifier {
        Notifier {
            enabled: false,
            watchdog: None,
            last_ping: Instant::now(),
            last_status: None,
        }
    }

    fn send(&self, state: &[NotifyState]) {
        if self.enabled {
            if let Err(e) = sd_notify::notify(false, state) {
                tracing::debug!(error = %e, "Cannot notify systemd.");
            }
        }
    }

    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// RELOADING=1, with the MONOTONIC_USEC= that systemd 253 and later
    /// require beside it (older ones ignore it); READY=1 ends the reload.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// Sends WATCHDOG=1 when half the watchdog interval has passed.
    pub fn tick(&mut self, now: Instant) {
        if let Some(every) = self.watchdog {
            if now.duration_since(self.last_ping) >= every {
                self.send(&[NotifyState::Watchdog]);
                self.last_ping = now;
            }
        }
    }

    /// When [`Self::tick`] must run next, if there is a watchdog.
    pub fn next_due(&self) -> Option<Instant> {
        self.watchdog.map(|every| self.last_ping + every)
    }

    /// Sends STATUS= at most every few seconds, when it changed.
    pub fn status(&mut self, now: Instant, text: impl FnOnce() -> String) {
        if self
            .last_status
            .as_ref()
            .is_some_and(|(t, _)| now.duration_since(*t) < STATUS_INTERVAL)
        {
            return;
        }
        let text = text();
        if self.last_status.as_ref().is_none_or(|(_, s)| *s != text) {
            self.send(&[NotifyState::Status(&text)]);
        }
        self.last_status = Some((now, text));
    }
}
