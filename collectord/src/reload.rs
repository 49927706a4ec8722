//! Reloading the config on SIGHUP (`systemctl reload collectord`: the unit
//! runs `collectord --check-config`, then sends SIGHUP).
//!
//! Which keys apply at once and which wait for the next restart is said
//! once, in [`crate::keys::KEYS`]. A reload reads the file the way the start did
//! ([`Source::load`]: the same file, the command-line overrides on top),
//! sends the live keys to the server and the writer through `watch`
//! channels, and logs what changed. An invalid file changes nothing. systemd
//! hears RELOADING=1 at the start and READY=1 at the end either way.
//!
//! What a live change does:
//! - `retention-days`, `retention-bytes`: the writer applies the new policy
//!   at once (deleting what it no longer keeps), then hourly as before.
//! - `commit-interval-ms`, `max-streams-per-agent`, `max-streams`,
//!   `min-free-mb`: from the writer's next group of batches.
//! - `tls-cert`, `tls-key`, `tls-client-ca`, `tls-allow-agents`: the
//!   files are read again at every reload, changed or not, and new
//!   connections get the new TLS config; a file that cannot be used makes
//!   the reload fail as an invalid config file does (nothing changes).
//! - `max-connections`, `max-connections-per-source`,
//!   `max-pending-connections`, `max-frame-bytes`, `window`,
//!   `hello-timeout-ms`, `frame-timeout-ms`, `idle-timeout-ms`: for
//!   connections accepted from then on. Connections already open keep the
//!   limits they were accepted with (their WELCOME told the agent its
//!   window and frame size) until the agent reconnects; a lower
//!   `max-connections` displaces or refuses newcomers until enough have
//!   left, and never cuts a connection that delivers lines.
//! - `max-buffer-mb`: at once; what is held stays held, and new requests
//!   wait until usage is under the new figure.
//! - `syslog-max-message-bytes`, `syslog-max-connections`,
//!   `syslog-max-connections-per-source`, `syslog-idle-timeout-ms`,
//!   `syslog-rate-limit`: for syslog TCP connections accepted from then on
//!   (the same rule), and for the UDP listener at once.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{error, info, warn};

use logcore::docs::{Key, Reload};

use crate::config::{Config, Source};
use crate::keys::KEYS;
use crate::net::connection::Limits;
use crate::net::tls::ServerTls;
use crate::notify;
use crate::writer::WriterOptions;

/// How to tell whether two configs differ in one key.
struct Compare {
    /// As written in the file.
    name: &'static str,
    differs: fn(&Config, &Config) -> bool,
}

/// `"key" => field` pairs: each key compared by its own field.
macro_rules! compare {
    ($($name:literal => $field:ident,)*) => {
        &[$(Compare {
            name: $name,
            differs: |a: &Config, b: &Config| a.$field != b.$field,
        }),*]
    };
}

/// Every config key, in the order of [`crate::keys::KEYS`] (a test holds
/// them together). Whether a reload applies a key is said there, once.
const COMPARE: &[Compare] = compare![
    "listen" => listen,
    "data-dir" => data_dir,
    "retention-days" => retention_days,
    "retention-bytes" => retention_bytes,
    "max-connections" => max_connections,
    "max-connections-per-source" => max_connections_per_source,
    "max-pending-connections" => max_pending_connections,
    "max-frame-bytes" => max_frame_bytes,
    "max-buffer-mb" => max_buffer_mb,
    "window" => window,
    "commit-interval-ms" => commit_interval_ms,
    "hello-timeout-ms" => hello_timeout_ms,
    "frame-timeout-ms" => frame_timeout_ms,
    "idle-timeout-ms" => idle_timeout_ms,
    "writer-memory-mb" => writer_memory_mb,
    "writer-threads" => writer_threads,
    "max-streams-per-agent" => max_streams_per_agent,
    "max-streams" => max_streams,
    "min-free-mb" => min_free_mb,
    "detect" => detect,
    "train-days" => train_days,
    "retrain-hours" => retrain_hours,
    "session-regex" => session_regex,
    "session-idle-secs" => session_idle_secs,
    "detect-max-keys" => detect_max_keys,
    "line-forest-alerts" => line_forest_alerts,
    "sequence-model" => sequence_model,
    "syslog-udp" => syslog_udp,
    "syslog-tcp" => syslog_tcp,
    "syslog-tls" => syslog_tls,
    "syslog-max-message-bytes" => syslog_max_message_bytes,
    "syslog-max-connections" => syslog_max_connections,
    "syslog-max-connections-per-source" => syslog_max_connections_per_source,
    "syslog-idle-timeout-ms" => syslog_idle_timeout_ms,
    "syslog-rate-limit" => syslog_rate_limit,
    "tls-cert" => tls_cert,
    "tls-key" => tls_key,
    "tls-client-ca" => tls_client_ca,
    "tls-allow-agents" => tls_allow_agents,
];

/// The keys whose values differ between `old` and `new`, in
/// [`crate::keys::KEYS`] order, with their documentation (`reload` says
/// whether a reload applies them).
pub fn changed(old: &Config, new: &Config) -> Vec<&'static Key> {
    KEYS.iter()
        .zip(COMPARE)
        .filter(|(k, c)| {
            debug_assert_eq!(k.name, c.name, "COMPARE follows keys::KEYS");
            (c.differs)(old, new)
        })
        .map(|(k, _)| k)
        .collect()
}

/// `a, b, c`, for the logs.
fn names<'k>(keys: impl IntoIterator<Item = &'k Key>) -> String {
    keys.into_iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends `value` unless the channel holds it already: its receivers wake
/// only for a change.
fn send_if_new<T: PartialEq>(tx: &watch::Sender<T>, value: T) {
    tx.send_if_modified(|old| {
        let modified = *old != value;
        *old = value;
        modified
    });
}

/// The running daemon's side of a reload.
pub struct Reloader {
    source: Source,
    /// The config collectord started with: the restart keys keep its values.
    started: Config,
    /// The config last read.
    current: Config,
    limits: watch::Sender<Limits>,
    writer: watch::Sender<WriterOptions>,
    syslog: watch::Sender<crate::net::syslog::Limits>,
    /// The agents' listener's TLS, from the files read at the last reload.
    tls: watch::Sender<Option<Arc<ServerTls>>>,
}

impl Reloader {
    /// `config` is what `source` gave at start; `limits` and `writer` must
    /// hold the values derived from it.
    pub fn new(
        source: Source,
        config: Config,
        limits: watch::Sender<Limits>,
        writer: watch::Sender<WriterOptions>,
        syslog: watch::Sender<crate::net::syslog::Limits>,
        tls: watch::Sender<Option<Arc<ServerTls>>>,
    ) -> Reloader {
        Reloader {
            source,
            started: config.clone(),
            current: config,
            limits,
            writer,
            syslog,
            tls,
        }
    }

    /// Re-reads the config and applies what can change live; on an invalid
    /// file, keeps everything as it is.
    pub fn reload(&mut self) {
        notify::reloading();
        // The TLS files are read again even when no key changed: a renewed
        // certificate is the usual reason for a reload.
        let loaded = self.source.load().and_then(|config| {
            let tls = ServerTls::load(&config, self.source.path())?;
            Ok((config, tls))
        });
        match loaded {
            Ok((config, tls)) => {
                self.tls.send_replace(tls);
                self.apply(config)
            }
            Err(e) => error!(
                error = %e,
                "Cannot reload; keeping the running configuration."
            ),
        }
        notify::ready();
    }

    fn apply(&mut self, new: Config) {
        let file = self.source.path().display().to_string();
        let pending = changed(&self.started, &new)
            .into_iter()
            .filter(|k| k.reload == Reload::Restart);
        let pending = names(pending);
        if !pending.is_empty() {
            warn!(
                keys = %pending,
                "{pending} changed; it takes effect at the next restart."
            );
        }
        send_if_new(&self.limits, Limits::from_config(&new));
        send_if_new(&self.syslog, crate::net::syslog::Limits::from_config(&new));
        send_if_new(&self.writer, WriterOptions::from_config(&new));
        let changed = names(changed(&self.current, &new));
        if changed.is_empty() {
            info!(%file, "Reloaded the configuration; nothing changed.");
        } else {
            info!(%file, %changed, "Reloaded the configuration.");
        }
        self.current = new;
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn each_documented_key_has_its_comparison() {
        // A comparison out of step with the key documentation would report
        // (and apply or hold back) a change under another key's name.
        let documented: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        let compared: Vec<&str> = COMPARE.iter().map(|c| c.name).collect();
        assert_eq!(compared, documented);
    }

    #[test]
    fn every_key_of_the_file_is_listed_once() {
        // A key missing here would be silently ignored by a reload, and
        // missing from the documentation generated from this list.
        let err = Config::parse("no-such-key = 1\n", Path::new("c.toml"))
            .unwrap_err()
            .0;
        let expected = err
            .split_once("expected one of")
            .unwrap_or_else(|| panic!("serde lists the keys: {err}"))
            .1;
        let in_file: Vec<&str> = expected.split('`').skip(1).step_by(2).collect::<Vec<_>>();
        let listed: Vec<&str> = COMPARE.iter().map(|c| c.name).collect();
        assert_eq!(listed, in_file);
    }

    #[test]
    fn each_key_compares_its_own_field() {
        // A comparison of the wrong field would apply a change without
        // saying so, or say a key changed that did not.
        let base = Config::default();
        for (text, key) in [
            ("listen = \"127.0.0.1:1\"", "listen"),
            ("data-dir = \"/x\"", "data-dir"),
            ("retention-days = 1", "retention-days"),
            ("retention-bytes = 1", "retention-bytes"),
            ("max-connections = 1", "max-connections"),
            (
                "max-connections-per-source = 1",
                "max-connections-per-source",
            ),
            ("max-pending-connections = 1", "max-pending-connections"),
            ("max-frame-bytes = 70000", "max-frame-bytes"),
            ("max-buffer-mb = 64", "max-buffer-mb"),
            ("window = 1", "window"),
            ("commit-interval-ms = 1", "commit-interval-ms"),
            ("hello-timeout-ms = 1", "hello-timeout-ms"),
            ("frame-timeout-ms = 1", "frame-timeout-ms"),
            ("idle-timeout-ms = 1", "idle-timeout-ms"),
            ("writer-memory-mb = 64", "writer-memory-mb"),
            ("writer-threads = 2", "writer-threads"),
            ("max-streams-per-agent = 100", "max-streams-per-agent"),
            ("max-streams = 2000000", "max-streams"),
            ("min-free-mb = 1", "min-free-mb"),
            ("syslog-udp = \"127.0.0.1:1\"", "syslog-udp"),
            ("syslog-tcp = \"127.0.0.1:1\"", "syslog-tcp"),
            ("syslog-tls = \"127.0.0.1:1\"", "syslog-tls"),
            (
                "syslog-max-message-bytes = 1000",
                "syslog-max-message-bytes",
            ),
            ("syslog-max-connections = 1", "syslog-max-connections"),
            (
                "syslog-max-connections-per-source = 1",
                "syslog-max-connections-per-source",
            ),
            ("syslog-idle-timeout-ms = 1", "syslog-idle-timeout-ms"),
            ("syslog-rate-limit = 1", "syslog-rate-limit"),
            ("tls-cert = \"/c\"", "tls-cert"),
            ("tls-key = \"/k\"", "tls-key"),
            ("tls-client-ca = \"/ca\"", "tls-client-ca"),
            ("tls-allow-agents = [\"web1\"]", "tls-allow-agents"),
        ] {
            let new = Config::parse(text, Path::new("c.toml")).unwrap();
            assert_eq!(names(changed(&base, &new)), key, "{text}");
        }
        assert!(changed(&base, &base.clone()).is_empty());
    }

    fn reloader(
        dir: &Path,
        text: &str,
    ) -> (
        Reloader,
        watch::Receiver<Limits>,
        watch::Receiver<WriterOptions>,
    ) {
        let file = dir.join("c.toml");
        std::fs::write(&file, text).unwrap();
        let source = Source {
            explicit: Some(file),
            default: dir.join("unused.toml"),
            listen: None,
            data_dir: None,
        };
        let config = source.load().unwrap();
        let (limits, limits_rx) = watch::channel(Limits::from_config(&config));
        let (writer, writer_rx) = watch::channel(WriterOptions::from_config(&config));
        let (syslog, _) = watch::channel(crate::net::syslog::Limits::from_config(&config));
        let (tls, _) = watch::channel(None);
        (
            Reloader::new(source, config, limits, writer, syslog, tls),
            limits_rx,
            writer_rx,
        )
    }

    #[test]
    fn live_keys_reach_the_server_and_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (mut r, mut limits, mut writer) = reloader(dir.path(), "window = 4\n");
        std::fs::write(
            dir.path().join("c.toml"),
            "window = 2\nretention-days = 3\nwriter-threads = 2\n",
        )
        .unwrap();
        r.reload();
        assert!(limits.has_changed().unwrap() && writer.has_changed().unwrap());
        assert_eq!(limits.borrow_and_update().window, 2);
        assert_eq!(writer.borrow_and_update().retention.days, 3);
        assert_eq!(r.current.writer_threads, 2);
        assert_eq!(r.started.writer_threads, 1);
    }

    #[test]
    fn invalid_file_changes_nothing() {
        // A typo saved before `systemctl reload` must not take effect in part.
        let dir = tempfile::tempdir().unwrap();
        let (mut r, limits, writer) = reloader(dir.path(), "window = 4\n");
        std::fs::write(
            dir.path().join("c.toml"),
            "retention-days = 3\nwindow = 0\n",
        )
        .unwrap();
        r.reload();
        assert!(!limits.has_changed().unwrap());
        assert!(!writer.has_changed().unwrap());
        assert_eq!(r.current.window, 4);
    }

    #[test]
    fn unchanged_file_wakes_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let (mut r, limits, writer) = reloader(dir.path(), "window = 4\n");
        r.reload();
        assert!(!limits.has_changed().unwrap());
        assert!(!writer.has_changed().unwrap());
    }
}
