//! The config file: `/etc/collectord/collectord.toml`, kebab-case keys,
//! unknown keys rejected. Every key has a default, so an empty or missing
//! default file runs the collector on defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The port agents connect to unless told otherwise.
pub const DEFAULT_PORT: u16 = 5170;

/// `Serialize` is for the tests that hold `keys.rs` to this struct.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Holds `index/`, `archive/`.
    pub data_dir: PathBuf,
    /// Days of lines to keep; 0 keeps them forever.
    pub retention_days: u32,
    /// Upper bound of archive + index bytes; 0 is no bound. Oldest days go
    /// first.
    pub retention_bytes: u64,
    /// Agents (after HELLO) served at once.
    pub max_connections: u32,
    /// Connections of one source address, before and after HELLO.
    pub max_connections_per_source: u32,
    /// Connections waiting for their HELLO (and TLS handshake).
    pub max_pending_connections: u32,
    /// Largest frame accepted.
    pub max_frame_bytes: u32,
    /// Memory for frames being read and batches not yet committed, over
    /// all connections (agents and syslog).
    pub max_buffer_mb: u32,
    /// Batches an agent may have unacknowledged (sent in WELCOME).
    pub window: u16,
    /// Longest a batch waits for its commit.
    pub commit_interval_ms: u64,
    /// TLS handshake and HELLO within this time of the connection.
    pub hello_timeout_ms: u64,
    /// A frame must arrive whole within this time of its first byte.
    pub frame_timeout_ms: u64,
    /// A connection without lines for this long is closed.
    pub idle_timeout_ms: u64,
    /// The tantivy writer's memory budget, over all its threads.
    pub writer_memory_mb: u32,
    /// tantivy indexing threads.
    pub writer_threads: u32,
    /// Streams one agent may have a high-water mark for.
    pub max_streams_per_agent: u32,
    /// Streams with a high-water mark, over all agents.
    pub max_streams: u32,
    /// Free space the data directory's file system keeps; below it the
    /// collector stops taking lines until space returns.
    pub min_free_mb: u64,
    /// Run the anomaly detectors on every line.
    pub detect: bool,
    /// Days of history a training reads.
    pub train_days: u32,
    /// Hours between retrainings; 0: only `collectord train`.
    pub retrain_hours: u32,
    /// Lines sharing its first capture are a session; empty: no sessions.
    pub session_regex: String,
    /// A session ends after this many seconds without a line.
    pub session_idle_secs: u32,
    /// Keys each rate detector follows at most.
    pub detect_max_keys: u32,
    /// Alert on lines the per-line forest scores -1.
    pub line_forest_alerts: bool,
    /// Train and run the LSTM sequence model on sessions.
    pub sequence_model: bool,
    /// Syslog over UDP: address:port, empty = off.
    pub syslog_udp: String,
    /// Syslog over TCP (RFC 6587): address:port, empty = off.
    pub syslog_tcp: String,
    /// Syslog over TLS (RFC 5425): address:port, empty = off.
    pub syslog_tls: String,
    /// Longest syslog message kept whole; longer ones are cut and flagged.
    pub syslog_max_message_bytes: u32,
    /// Syslog TCP connections served at once.
    pub syslog_max_connections: u32,
    /// Syslog TCP connections of one source address.
    pub syslog_max_connections_per_source: u32,
    /// A syslog TCP connection without a message for this long is closed.
    pub syslog_idle_timeout_ms: u64,
    /// Syslog messages per second per source address; 0 = no limit.
    pub syslog_rate_limit: u32,
    /// PEM certificate chain of the agents' listener; empty: no TLS.
    pub tls_cert: PathBuf,
    /// PEM private key of `tls_cert`.
    pub tls_key: PathBuf,
    /// PEM CA that must sign every agent's client certificate; empty: none asked.
    pub tls_client_ca: PathBuf,
    /// Names a client certificate may have; empty: any the CA signed.
    pub tls_allow_agents: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            data_dir: PathBuf::from("/var/lib/collectord"),
            retention_days: 30,
            retention_bytes: 0,
            max_connections: 1024,
            max_connections_per_source: 32,
            max_pending_connections: 256,
            max_frame_bytes: logcore::wire::DEFAULT_MAX_FRAME,
            max_buffer_mb: 128,
            window: 8,
            commit_interval_ms: 500,
            hello_timeout_ms: 5_000,
            frame_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            writer_memory_mb: 128,
            writer_threads: 1,
            max_streams_per_agent: 20_000,
            max_streams: 1_000_000,
            min_free_mb: 256,
            detect: true,
            train_days: 7,
            retrain_hours: 24,
            session_regex: String::new(),
            session_idle_secs: 1800,
            detect_max_keys: 100_000,
            line_forest_alerts: false,
            sequence_model: false,
            syslog_udp: String::new(),
            syslog_tcp: String::new(),
            syslog_tls: String::new(),
            syslog_max_message_bytes: 65536,
            syslog_max_connections: 1024,
            syslog_max_connections_per_source: 32,
            syslog_idle_timeout_ms: 300_000,
            syslog_rate_limit: 0,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            tls_client_ca: PathBuf::new(),
            tls_allow_agents: Vec::new(),
        }
    }
}

/// A syslog listener's address: empty is off.
fn syslog_addr(value: &str) -> Result<Option<SocketAddr>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        format!("must be address:port (such as \"0.0.0.0:514\" or \"[::]:514\") or \"\" for off, not {value:?}")
    })
}

/// Where the config comes from: the file (`--config`, else the default
/// file if it exists) and the command-line flags that override it. Read
/// the same way at start and on every SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `--config`: this file must exist.
    pub explicit: Option<PathBuf>,
    /// Read when there is no `--config`; missing means the defaults.
    pub default: PathBuf,
    /// `--listen`, over `listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`, over `data-dir`.
    pub data_dir: Option<PathBuf>,
}

impl Source {
    /// The file that is (or would be) read.
    pub fn path(&self) -> &Path {
        self.explicit.as_deref().unwrap_or(&self.default)
    }

    /// Reads the file and applies the command-line overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.explicit.as_deref(), &self.default)?;
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        Ok(config)
    }
}

/// A config that cannot be used; the program exits with [`ConfigError::EXIT_CODE`].
#[derive(Debug)]
pub struct ConfigError(pub String);

impl ConfigError {
    /// `EX_CONFIG` from sysexits.h, as systemd and ntpd-rs use it.
    pub const EXIT_CODE: u8 = 78;
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `path` (explicit: it must exist), or the default file if it
    /// exists, or returns the defaults.
    pub fn load(explicit: Option<&Path>, default: &Path) -> Result<Config, ConfigError> {
        let (path, must_exist) = match explicit {
            Some(p) => (p, true),
            None => (default, false),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(ConfigError(format!(
                    "cannot read config file {}: {e}",
                    path.display()
                )))
            }
        };
        Config::parse(&text, path)
    }

    /// Parses and checks a config file's text; errors name the file and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            ConfigError(format!(
                "invalid config file {}: {}",
                path.display(),
                e.to_string().trim_end()
            ))
        })?;
        config
            .validate()
            .map_err(|e| ConfigError(format!("invalid config file {}: {e}", path.display())))?;
        Ok(config)
    }

    /// Checks ranges that the types do not.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("`{key}` {why}"));
        if self.max_connections == 0 {
            return bad("max-connections", "must be at least 1");
        }
        if self.max_connections_per_source == 0 {
            return bad("max-connections-per-source", "must be at least 1");
        }
        if self.max_pending_connections == 0 {
            return bad("max-pending-connections", "must be at least 1");
        }
        if self.max_frame_bytes < 64 * 1024 {
            return bad("max-frame-bytes", "must be at least 65536");
        }
        if self.buffer_bytes() < 2 * self.max_frame_bytes as usize {
            return Err(format!(
                "`max-buffer-mb` must be at least twice max-frame-bytes: {} MB or more",
                (2 * u64::from(self.max_frame_bytes)).div_ceil(1 << 20)
            ));
        }
        if self.window == 0 {
            return bad("window", "must be at least 1");
        }
        if self.commit_interval_ms == 0 || self.commit_interval_ms > 60_000 {
            return bad("commit-interval-ms", "must be between 1 and 60000");
        }
        if self.hello_timeout_ms == 0 {
            return bad("hello-timeout-ms", "must be at least 1");
        }
        if self.frame_timeout_ms == 0 {
            return bad("frame-timeout-ms", "must be at least 1");
        }
        if self.idle_timeout_ms == 0 {
            return bad("idle-timeout-ms", "must be at least 1");
        }
        if !(1..=8).contains(&self.writer_threads) {
            return bad("writer-threads", "must be between 1 and 8");
        }
        // tantivy wants at least 15 MB per indexing thread, and less than 4 GB.
        let per_thread = self.writer_memory_mb / self.writer_threads;
        if !(16..=4000).contains(&per_thread) {
            return bad(
                "writer-memory-mb",
                "must give each writer thread between 16 and 4000 MB",
            );
        }
        if self.max_streams_per_agent < 100 {
            return bad("max-streams-per-agent", "must be at least 100");
        }
        if self.max_streams < self.max_streams_per_agent {
            return bad("max-streams", "must be at least max-streams-per-agent");
        }
        if self.train_days == 0 {
            return bad("train-days", "must be at least 1");
        }
        if !self.session_regex.is_empty() {
            if let Err(e) = regex::Regex::new(&self.session_regex) {
                return Err(format!("`session-regex` is not a regular expression: {e}"));
            }
        }
        if self.session_idle_secs == 0 {
            return bad("session-idle-secs", "must be at least 1");
        }
        if self.detect_max_keys < 1000 {
            return bad("detect-max-keys", "must be at least 1000");
        }
        for (key, value) in [
            ("syslog-udp", &self.syslog_udp),
            ("syslog-tcp", &self.syslog_tcp),
            ("syslog-tls", &self.syslog_tls),
        ] {
            if let Err(e) = syslog_addr(value) {
                return Err(format!("`{key}` {e}"));
            }
        }
        if self.syslog_max_message_bytes < 480 || self.syslog_max_message_bytes > 1 << 24 {
            return bad(
                "syslog-max-message-bytes",
                "must be between 480 (RFC 5424's minimum) and 16777216",
            );
        }
        if self.syslog_max_connections == 0 {
            return bad("syslog-max-connections", "must be at least 1");
        }
        if self.syslog_max_connections_per_source == 0 {
            return bad("syslog-max-connections-per-source", "must be at least 1");
        }
        if self.syslog_idle_timeout_ms == 0 {
            return bad("syslog-idle-timeout-ms", "must be at least 1");
        }
        Ok(())
    }

    /// `syslog-udp` as an address; `None` when off.
    pub fn syslog_udp_addr(&self) -> Option<SocketAddr> {
        syslog_addr(&self.syslog_udp).ok().flatten()
    }

    /// `syslog-tcp` as an address; `None` when off.
    pub fn syslog_tcp_addr(&self) -> Option<SocketAddr> {
        syslog_addr(&self.syslog_tcp).ok().flatten()
    }

    /// `syslog-tls` as an address; `None` when off.
    pub fn syslog_tls_addr(&self) -> Option<SocketAddr> {
        syslog_addr(&self.syslog_tls).ok().flatten()
    }

    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }
    pub fn syslog_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.syslog_idle_timeout_ms)
    }
    /// `max-buffer-mb` in bytes.
    pub fn buffer_bytes(&self) -> usize {
        (self.max_buffer_mb as usize) << 20
    }
    pub fn frame_timeout(&self) -> Duration {
        Duration::from_millis(self.frame_timeout_ms)
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/collectord/collectord.toml")).map_err(|e| e.0)
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(Config::default().listen.port(), 5170);
    }

    #[test]
    fn keys_are_kebab_case() {
        let c = parse(
            "listen = \"127.0.0.1:0\"\ndata-dir = \"/tmp/x\"\nretention-days = 0\nretention-bytes = 1000000\nmax-connections = 4\nmax-frame-bytes = 1048576\nwindow = 2\ncommit-interval-ms = 100\nframe-timeout-ms = 50\nidle-timeout-ms = 60\nwriter-memory-mb = 64\nwriter-threads = 2\n",
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(
            (
                c.retention_days,
                c.retention_bytes,
                c.window,
                c.writer_threads
            ),
            (0, 1_000_000, 2, 2)
        );
    }

    #[test]
    fn unknown_key_names_the_key_and_the_file() {
        // An operator with a typo must be told which key and which file.
        let err = parse("retention-dayz = 3\n").unwrap_err();
        assert!(err.contains("retention-dayz"), "{err}");
        assert!(err.contains("/etc/collectord/collectord.toml"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(parse("window = 0").unwrap_err().contains("`window`"));
        assert!(parse("listen = \"nowhere\"")
            .unwrap_err()
            .contains("listen"));
        assert!(parse("writer-memory-mb = 8")
            .unwrap_err()
            .contains("writer-memory-mb"));
    }

    #[test]
    fn syslog_addresses_are_off_when_empty_and_checked_when_set() {
        // A typo in syslog-tcp must stop the start with the key named, not
        // leave the port silently closed.
        let c = parse("").unwrap();
        assert_eq!((c.syslog_udp_addr(), c.syslog_tcp_addr()), (None, None));
        let c = parse("syslog-udp = \"127.0.0.1:514\"\nsyslog-tcp = \"[::]:1514\"").unwrap();
        assert_eq!(c.syslog_udp_addr().unwrap().port(), 514);
        assert_eq!(c.syslog_tcp_addr().unwrap().port(), 1514);
        let err = parse("syslog-tcp = \"514\"").unwrap_err();
        assert!(
            err.contains("`syslog-tcp`") && err.contains("\"514\""),
            "{err}"
        );
        let err = parse("syslog-max-message-bytes = 100").unwrap_err();
        assert!(err.contains("`syslog-max-message-bytes`"), "{err}");
    }

    #[test]
    fn the_buffer_budget_must_hold_two_of_the_largest_frames() {
        // A budget smaller than one frame would let an agent's largest
        // batch through only alone; say so at the start instead.
        let err = parse("max-buffer-mb = 31").unwrap_err();
        assert!(
            err.contains("`max-buffer-mb`") && err.contains("32 MB"),
            "{err}"
        );
        assert_eq!(
            parse("max-buffer-mb = 32").unwrap().buffer_bytes(),
            32 << 20
        );
        let err = parse("max-frame-bytes = 1048576\nmax-buffer-mb = 1").unwrap_err();
        assert!(err.contains("2 MB"), "{err}");
        for key in [
            "max-connections-per-source",
            "max-pending-connections",
            "hello-timeout-ms",
            "syslog-max-connections-per-source",
            "syslog-idle-timeout-ms",
        ] {
            let err = parse(&format!("{key} = 0")).unwrap_err();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }

    #[test]
    fn command_line_overrides_the_file_at_every_load() {
        // A reload must not move collectord to the file's port or data dir
        // when the command line chose others.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nwindow = 3\n").unwrap();
        let mut source = Source {
            explicit: Some(file.clone()),
            default: dir.path().join("unused.toml"),
            listen: None,
            data_dir: Some(PathBuf::from("/srv/logs")),
        };
        let c = source.load().unwrap();
        assert_eq!((c.listen.port(), c.window), (1, 3));
        assert_eq!(c.data_dir, PathBuf::from("/srv/logs"));
        source.listen = Some("127.0.0.1:2".parse().unwrap());
        assert_eq!(source.load().unwrap().listen.port(), 2);
        assert_eq!(source.path(), file);
    }

    #[test]
    fn missing_default_file_runs_on_defaults_but_missing_explicit_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert_eq!(Config::load(None, &missing).unwrap(), Config::default());
        let err = Config::load(Some(&missing), &missing).unwrap_err();
        assert!(err.0.contains("nope.toml"), "{err}");
    }
}

/// `keys.rs` documents every key once, for the man page and the shipped
/// file: these tests hold that table to [`Config`].
#[cfg(test)]
mod keys_tests {
    use std::collections::BTreeMap;

    use logcore::docs::{Default as KeyDefault, Reload};

    use super::*;
    use crate::keys::{EXAMPLE, KEYS};

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("collectord.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The keys and values `Config::default()` has in TOML.
    fn default_values() -> BTreeMap<String, toml::Value> {
        match toml::Value::try_from(Config::default()).expect("Config serializes") {
            toml::Value::Table(table) => table.into_iter().collect(),
            other => panic!("Config serialized to {other:?}"),
        }
    }

    #[test]
    fn the_key_table_documents_every_key_of_config_with_its_type() {
        // collectord.toml(5) and the shipped file are written from the table.
        let fields: Vec<(String, &str)> = default_values()
            .iter()
            .map(|(name, value)| (name.clone(), value.type_str()))
            .collect();
        let wrong = logcore::docs::table_mismatches(KEYS, &fields);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn uncommenting_every_documented_default_changes_nothing() {
        // The shipped file shows each default; an operator who uncomments
        // one must get what collectord does without it.
        let text: String = KEYS
            .iter()
            .map(|k| match k.default {
                KeyDefault::Toml(value) => format!("{} = {value}\n", k.name),
                KeyDefault::Computed { .. } => {
                    panic!("{}: collectord has no computed default", k.name)
                }
            })
            .collect();
        assert_eq!(parse(&text), Config::default());
    }

    #[test]
    fn keys_that_wait_for_a_restart_are_the_socket_the_directory_and_the_writer() {
        // collectord.toml(5) promises that a reload applies every other key.
        let restart: Vec<&str> = KEYS
            .iter()
            .filter(|k| k.reload == Reload::Restart)
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

    #[test]
    fn shipped_config_file_loads_as_the_defaults() {
        // What `collectord --check-config` does with
        // /etc/collectord/collectord.toml as the package installs it.
        let shipped =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/collectord/collectord.toml");
        assert_eq!(
            Config::load(Some(&shipped), &shipped).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn man_page_example_is_valid() {
        let config = parse(EXAMPLE);
        assert_eq!(
            (config.retention_days, config.commit_interval_ms),
            (90, 1000)
        );
    }
}
