//! Reloading the config on SIGHUP (`systemctl reload collectord`: the unit
//! runs `collectord --check-config`, then sends SIGHUP).
//!
//! [`KEYS`] is the one list of which keys apply at once and which wait for
//! the next restart. A reload reads the file the way the start did
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

use crate::config::{Config, Source};
use crate::net::connection::Limits;
use crate::net::tls::ServerTls;
use crate::notify;
use crate::writer::WriterOptions;

/// When a new value of a key takes effect: the same type the key
/// documentation (`keys.rs`) uses, and a test holds the two tables together.
pub use logcore::docs::Reload as Applies;

/// One config key.
pub struct Key {
    /// As written in the file.
    pub name: &'static str,
    pub applies: Applies,
    /// Whether two configs have different values for it.
    differs: fn(&Config, &Config) -> bool,
}

const fn key(name: &'static str, applies: Applies, differs: fn(&Config, &Config) -> bool) -> Key {
    Key {
        name,
        applies,
        differs,
    }
}

use Applies::{Live, Restart};

/// Every config key, in the order of the config file's documentation, and
/// when a change to it takes effect. A test checks that no key is missing.
pub const KEYS: &[Key] = &[
    // The socket is bound (or inherited) before any thread starts.
    key("listen", Restart, |a, b| a.listen != b.listen),
    // The store, its lock and the writer are opened once.
    key("data-dir", Restart, |a, b| a.data_dir != b.data_dir),
    key("retention-days", Live, |a, b| {
        a.retention_days != b.retention_days
    }),
    key("retention-bytes", Live, |a, b| {
        a.retention_bytes != b.retention_bytes
    }),
    key("max-connections", Live, |a, b| {
        a.max_connections != b.max_connections
    }),
    key("max-connections-per-source", Live, |a, b| {
        a.max_connections_per_source != b.max_connections_per_source
    }),
    key("max-pending-connections", Live, |a, b| {
        a.max_pending_connections != b.max_pending_connections
    }),
    key("max-frame-bytes", Live, |a, b| {
        a.max_frame_bytes != b.max_frame_bytes
    }),
    // The budget is resized at once; what is held stays held.
    key("max-buffer-mb", Live, |a, b| {
        a.max_buffer_mb != b.max_buffer_mb
    }),
    key("window", Live, |a, b| a.window != b.window),
    key("commit-interval-ms", Live, |a, b| {
        a.commit_interval_ms != b.commit_interval_ms
    }),
    key("hello-timeout-ms", Live, |a, b| {
        a.hello_timeout_ms != b.hello_timeout_ms
    }),
    key("frame-timeout-ms", Live, |a, b| {
        a.frame_timeout_ms != b.frame_timeout_ms
    }),
    key("idle-timeout-ms", Live, |a, b| {
        a.idle_timeout_ms != b.idle_timeout_ms
    }),
    // tantivy sizes its indexing threads when the writer is opened.
    key("writer-memory-mb", Restart, |a, b| {
        a.writer_memory_mb != b.writer_memory_mb
    }),
    key("writer-threads", Restart, |a, b| {
        a.writer_threads != b.writer_threads
    }),
    // The writer takes them with its other options.
    key("max-streams-per-agent", Live, |a, b| {
        a.max_streams_per_agent != b.max_streams_per_agent
    }),
    key("max-streams", Live, |a, b| a.max_streams != b.max_streams),
    key("min-free-mb", Live, |a, b| a.min_free_mb != b.min_free_mb),
    // The detector settings reach the writer with the other live options;
    // a new session-regex needs a training before sessions are scored.
    key("detect", Live, |a, b| a.detect != b.detect),
    key("train-days", Live, |a, b| a.train_days != b.train_days),
    key("retrain-hours", Live, |a, b| {
        a.retrain_hours != b.retrain_hours
    }),
    key("session-regex", Live, |a, b| {
        a.session_regex != b.session_regex
    }),
    key("session-idle-secs", Live, |a, b| {
        a.session_idle_secs != b.session_idle_secs
    }),
    key("detect-max-keys", Live, |a, b| {
        a.detect_max_keys != b.detect_max_keys
    }),
    key("line-forest-alerts", Live, |a, b| {
        a.line_forest_alerts != b.line_forest_alerts
    }),
    // Bound (or inherited) with the agents' socket, before any thread.
    key("syslog-udp", Restart, |a, b| a.syslog_udp != b.syslog_udp),
    key("syslog-tcp", Restart, |a, b| a.syslog_tcp != b.syslog_tcp),
    key("syslog-tls", Restart, |a, b| a.syslog_tls != b.syslog_tls),
    // Sent to the syslog listeners with the agents' limits.
    key("syslog-max-message-bytes", Live, |a, b| {
        a.syslog_max_message_bytes != b.syslog_max_message_bytes
    }),
    key("syslog-max-connections", Live, |a, b| {
        a.syslog_max_connections != b.syslog_max_connections
    }),
    key("syslog-max-connections-per-source", Live, |a, b| {
        a.syslog_max_connections_per_source != b.syslog_max_connections_per_source
    }),
    key("syslog-idle-timeout-ms", Live, |a, b| {
        a.syslog_idle_timeout_ms != b.syslog_idle_timeout_ms
    }),
    key("syslog-rate-limit", Live, |a, b| {
        a.syslog_rate_limit != b.syslog_rate_limit
    }),
    // The files are read again at every reload, changed or not.
    key("tls-cert", Live, |a, b| a.tls_cert != b.tls_cert),
    key("tls-key", Live, |a, b| a.tls_key != b.tls_key),
    key("tls-client-ca", Live, |a, b| {
        a.tls_client_ca != b.tls_client_ca
    }),
    key("tls-allow-agents", Live, |a, b| {
        a.tls_allow_agents != b.tls_allow_agents
    }),
];

/// The keys whose values differ between `old` and `new`, in [`KEYS`] order.
pub fn changed<'k>(old: &Config, new: &Config) -> Vec<&'k Key> {
    KEYS.iter().filter(|k| (k.differs)(old, new)).collect()
}

/// `a, b, c`, for the logs.
fn names<'k>(keys: impl IntoIterator<Item = &'k Key>) -> String {
    keys.into_iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
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
            .filter(|k| k.applies == Restart);
        let pending = names(pending);
        if !pending.is_empty() {
            warn!(
                keys = %pending,
                "{pending} changed; it takes effect at the next restart."
            );
        }
        let limits = Limits::from_config(&new);
        self.limits.send_if_modified(|old| {
            let modified = *old != limits;
            *old = limits;
            modified
        });
        let syslog = crate::net::syslog::Limits::from_config(&new);
        self.syslog.send_if_modified(|old| {
            let modified = *old != syslog;
            *old = syslog;
            modified
        });
        let writer = WriterOptions::from_config(&new);
        self.writer.send_if_modified(|old| {
            let modified = *old != writer;
            *old = writer;
            modified
        });
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
    fn reload_table_agrees_with_the_key_documentation() {
        // collectord.toml(5) tells operators which keys a reload applies;
        // if it and this table disagreed, a changed key would silently wait
        // for a restart the page never mentioned.
        let documented: Vec<(&str, Applies)> = crate::keys::KEYS
            .iter()
            .map(|k| (k.name, k.reload))
            .collect();
        let here: Vec<(&str, Applies)> = KEYS.iter().map(|k| (k.name, k.applies)).collect();
        assert_eq!(here, documented);
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
        let listed: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
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

    #[test]
    fn only_what_opens_the_socket_or_the_store_waits_for_a_restart() {
        let restart: Vec<&str> = KEYS
            .iter()
            .filter(|k| k.applies == Restart)
            .map(|k| k.name)
            .collect();
        assert_eq!(
            restart,
            [
                "listen",
                "data-dir",
                "writer-memory-mb",
                "writer-threads",
                "syslog-udp",
                "syslog-tcp",
                "syslog-tls"
            ]
        );
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
