//! The runtime configuration: `/etc/agentd/agentd.toml`, kebab-case keys,
//! unknown keys rejected. Every duration and limit the daemon uses comes from
//! [`Config`]; nothing else reads the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::DEFAULT_CONFIG_PATH;

/// Where to start in a file seen for the first time, with no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartAt {
    Beginning,
    End,
}

/// Whether to read the systemd journal: `"auto"`, `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// On when the machine has a journal (or `journal-directory` is set)
    /// and `journalctl` is installed.
    Auto,
    On,
    Off,
}

impl Serialize for JournalMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            JournalMode::Auto => s.serialize_str("auto"),
            JournalMode::On => s.serialize_bool(true),
            JournalMode::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for JournalMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(JournalMode::On),
            Raw::Bool(false) => Ok(JournalMode::Off),
            Raw::Text(t) if t == "auto" => Ok(JournalMode::Auto),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "{t:?} is not one of \"auto\", true, false"
            ))),
        }
    }
}

/// `Serialize` is for the tests that hold `keys.rs` to this struct.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// The collector, as `host:port`.
    pub collector: String,
    /// Paths or glob patterns of the files to tail.
    pub inputs: Vec<String>,
    /// Where checkpoints are kept.
    pub state_dir: PathBuf,
    /// The host name sent to the collector.
    pub host: String,
    /// The identity the collector deduplicates on; the host name when unset.
    pub agent_id: Option<String>,
    pub batch_lines: usize,
    pub batch_bytes: usize,
    pub linger_ms: u64,
    pub start_at: StartAt,
    pub max_line_bytes: usize,
    pub partial_flush_ms: u64,
    pub window: u16,
    pub rotate_wait_ms: u64,
    pub ack_timeout_ms: u64,
    pub shutdown_timeout_ms: u64,
    /// Speak TLS to the collector.
    pub tls: bool,
    /// PEM CA(s) that sign the collector's certificate.
    pub tls_ca: PathBuf,
    /// PEM client certificate; empty: none.
    pub tls_cert: PathBuf,
    /// PEM key of `tls_cert`.
    pub tls_key: PathBuf,
    /// The name the collector's certificate must have; empty: the host
    /// part of `collector`.
    pub tls_server_name: String,
    pub journal: JournalMode,
    /// `journalctl --directory`: a journal other than the system's.
    pub journal_directory: Option<PathBuf>,
    /// The most bytes of unacknowledged batches kept on disk.
    pub spool_max_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            collector: "127.0.0.1:5170".into(),
            inputs: vec!["/var/log/syslog".into(), "/var/log/auth.log".into()],
            state_dir: PathBuf::from("/var/lib/agentd"),
            host: local_hostname(),
            agent_id: None,
            batch_lines: 4096,
            batch_bytes: 1024 * 1024,
            linger_ms: 100,
            start_at: StartAt::Beginning,
            max_line_bytes: 64 * 1024,
            partial_flush_ms: 5000,
            window: 8,
            rotate_wait_ms: 5000,
            ack_timeout_ms: 30_000,
            shutdown_timeout_ms: 5000,
            tls: false,
            tls_ca: PathBuf::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            tls_server_name: String::new(),
            journal: JournalMode::Auto,
            journal_directory: None,
            spool_max_bytes: 1 << 30,
        }
    }
}

/// The smallest `spool-max-bytes`.
const MIN_SPOOL_BYTES: u64 = 1 << 20;

/// The largest `max-line-bytes`: a line must fit in one frame with room to
/// spare under the smallest frame limit a collector is expected to use.
const MAX_LINE_LIMIT: usize = 8 * 1024 * 1024;

/// Where the configuration is read from, at start and on every SIGHUP:
/// `--config`, else the default path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    explicit: Option<PathBuf>,
    default: PathBuf,
}

impl Location {
    /// `explicit` is the `--config` argument.
    pub fn new(explicit: Option<PathBuf>) -> Location {
        Location {
            explicit,
            default: PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }

    pub fn load(&self) -> Result<(Config, Source)> {
        Config::load(self.explicit.as_deref(), &self.default)
    }
}

/// What the configuration was read from, for the startup log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// The default path does not exist and no `--config` was given.
    Defaults(PathBuf),
}

impl Config {
    pub fn agent_id(&self) -> &str {
        self.agent_id.as_deref().unwrap_or(&self.host)
    }
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }
    pub fn partial_flush(&self) -> Duration {
        Duration::from_millis(self.partial_flush_ms)
    }
    pub fn rotate_wait(&self) -> Duration {
        Duration::from_millis(self.rotate_wait_ms)
    }
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
    /// The name the collector's certificate must have: `tls-server-name`,
    /// else the host part of `collector` (brackets of IPv6 removed).
    pub fn tls_server_name(&self) -> String {
        if !self.tls_server_name.is_empty() {
            return self.tls_server_name.clone();
        }
        let host = self
            .collector
            .rsplit_once(':')
            .map_or(self.collector.as_str(), |(h, _)| h);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.state_dir.join("checkpoints.json")
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir.join("spool")
    }

    /// The keys, as written in the file, whose values differ in `new`.
    pub fn changed_keys(&self, new: &Config) -> Vec<&'static str> {
        // Every field by name, without `..`: a new key must be added here.
        let Config {
            collector,
            inputs,
            state_dir,
            host,
            agent_id,
            batch_lines,
            batch_bytes,
            linger_ms,
            start_at,
            max_line_bytes,
            partial_flush_ms,
            window,
            rotate_wait_ms,
            ack_timeout_ms,
            shutdown_timeout_ms,
            tls,
            tls_ca,
            tls_cert,
            tls_key,
            tls_server_name,
            journal,
            journal_directory,
            spool_max_bytes,
        } = self;
        [
            ("collector", *collector != new.collector),
            ("inputs", *inputs != new.inputs),
            ("state-dir", *state_dir != new.state_dir),
            ("host", *host != new.host),
            ("agent-id", *agent_id != new.agent_id),
            ("batch-lines", *batch_lines != new.batch_lines),
            ("batch-bytes", *batch_bytes != new.batch_bytes),
            ("linger-ms", *linger_ms != new.linger_ms),
            ("start-at", *start_at != new.start_at),
            ("max-line-bytes", *max_line_bytes != new.max_line_bytes),
            (
                "partial-flush-ms",
                *partial_flush_ms != new.partial_flush_ms,
            ),
            ("window", *window != new.window),
            ("rotate-wait-ms", *rotate_wait_ms != new.rotate_wait_ms),
            ("ack-timeout-ms", *ack_timeout_ms != new.ack_timeout_ms),
            (
                "shutdown-timeout-ms",
                *shutdown_timeout_ms != new.shutdown_timeout_ms,
            ),
            ("tls", *tls != new.tls),
            ("tls-ca", *tls_ca != new.tls_ca),
            ("tls-cert", *tls_cert != new.tls_cert),
            ("tls-key", *tls_key != new.tls_key),
            ("tls-server-name", *tls_server_name != new.tls_server_name),
            ("journal", *journal != new.journal),
            (
                "journal-directory",
                *journal_directory != new.journal_directory,
            ),
            ("spool-max-bytes", *spool_max_bytes != new.spool_max_bytes),
        ]
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect()
    }

    /// Loads the configuration. `explicit` is the `--config` argument: a
    /// missing explicit file is an error, a missing default file means
    /// built-in defaults.
    pub fn load(explicit: Option<&Path>, default_path: &Path) -> Result<(Config, Source)> {
        let path = explicit.unwrap_or(default_path);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                let config = Config::default();
                config.validate(path)?;
                return Ok((config, Source::Defaults(path.to_owned())));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read config file {}", path.display()))
            }
        };
        let config = Config::parse(&text, path)?;
        Ok((config, Source::File(path.to_owned())))
    }

    /// Parses and validates the text of a configuration file; `path` is only
    /// used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config =
            toml::from_str(text).map_err(|e| describe_toml_error(&e, text, path))?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |key: &str, what: String| anyhow!("{}: key `{key}`: {what}", path.display());
        match self.collector.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => {
            }
            _ => {
                return Err(bad(
                    "collector",
                    format!("{:?} is not of the form \"host:port\"", self.collector),
                ))
            }
        }
        if self.inputs.is_empty() {
            return Err(bad(
                "inputs",
                "must name at least one file or glob pattern".into(),
            ));
        }
        for input in &self.inputs {
            if !Path::new(input).is_absolute() {
                return Err(bad("inputs", format!("{input:?} is not an absolute path")));
            }
            if let Err(e) = glob::Pattern::new(input) {
                return Err(bad(
                    "inputs",
                    format!("{input:?} is not a valid glob pattern: {e}"),
                ));
            }
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(bad("state-dir", "must not be empty".into()));
        }
        // The collector refuses a HELLO whose names break these rules.
        if let Err(why) = logcore::wire::check_name(&self.host) {
            return Err(bad("host", format!("{:?} {why}", self.host)));
        }
        if let Some(id) = &self.agent_id {
            if let Err(why) = logcore::wire::check_name(id) {
                return Err(bad("agent-id", format!("{id:?} {why}")));
            }
        }
        let at_least_one = [
            ("batch-lines", self.batch_lines as u64),
            ("batch-bytes", self.batch_bytes as u64),
            ("max-line-bytes", self.max_line_bytes as u64),
            ("window", u64::from(self.window)),
            ("ack-timeout-ms", self.ack_timeout_ms),
        ];
        for (key, value) in at_least_one {
            if value < 1 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if let Some(dir) = &self.journal_directory {
            if !dir.is_absolute() {
                return Err(bad(
                    "journal-directory",
                    format!("{:?} is not an absolute path", dir.display()),
                ));
            }
        }
        if self.spool_max_bytes < MIN_SPOOL_BYTES {
            return Err(bad(
                "spool-max-bytes",
                format!("must be at least {MIN_SPOOL_BYTES}"),
            ));
        }
        if self.max_line_bytes > MAX_LINE_LIMIT {
            return Err(bad(
                "max-line-bytes",
                format!("must be at most {MAX_LINE_LIMIT}"),
            ));
        }
        // The TLS files are read here too, so that --check-config and the
        // start fail on one that cannot be used.
        crate::tls::ClientTls::load(self).map_err(|e| anyhow!("{}: {e:#}", path.display()))?;
        Ok(())
    }
}

/// Turns a TOML or serde error into one line that names the file, the line
/// and the key.
fn describe_toml_error(e: &toml::de::Error, text: &str, path: &Path) -> anyhow::Error {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return anyhow!("{}: {message}", path.display());
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let key = match line.split_once('=') {
        Some((key, _)) => key.trim().trim_matches('"'),
        None => text
            .get(span.clone())
            .unwrap_or("")
            .trim()
            .trim_matches('"'),
    };
    if key.is_empty() || key.starts_with('[') {
        anyhow!("{}: line {line_no}: {message}", path.display())
    } else {
        anyhow!("{}: line {line_no}: key `{key}`: {message}", path.display())
    }
}

fn local_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/agentd/agentd.toml"))
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("config should be rejected"))
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        // A user who deletes every line must get the documented defaults.
        let c = parse("").unwrap();
        assert_eq!(c.collector, "127.0.0.1:5170");
        assert_eq!(c.inputs, vec!["/var/log/syslog", "/var/log/auth.log"]);
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/agentd"));
        assert_eq!(c.agent_id(), c.host);
        assert_eq!(
            (c.batch_lines, c.batch_bytes, c.linger_ms),
            (4096, 1 << 20, 100)
        );
        assert_eq!(c.start_at, StartAt::Beginning);
        assert_eq!(
            (c.max_line_bytes, c.partial_flush_ms, c.window),
            (65536, 5000, 8)
        );
        assert_eq!(
            (c.rotate_wait_ms, c.ack_timeout_ms, c.shutdown_timeout_ms),
            (5000, 30000, 5000)
        );
    }

    #[test]
    fn all_keys_are_kebab_case() {
        let c = parse(
            r#"
            collector = "logs.example:6000"
            inputs = ["/var/log/*.log"]
            state-dir = "/tmp/st"
            host = "web1"
            agent-id = "web1-a"
            batch-lines = 5
            batch-bytes = 100
            linger-ms = 0
            start-at = "end"
            max-line-bytes = 10
            partial-flush-ms = 1
            window = 2
            rotate-wait-ms = 3
            ack-timeout-ms = 4
            shutdown-timeout-ms = 6
            "#,
        )
        .unwrap();
        assert_eq!(c.agent_id(), "web1-a");
        assert_eq!(c.start_at, StartAt::End);
        assert_eq!(c.window, 2);
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        // A typo must point the user at the key and the file, not just fail.
        let e = error("collector = \"a:1\"\nbatch-line = 5\n");
        assert!(e.contains("/etc/agentd/agentd.toml"), "{e}");
        assert!(e.contains("batch-line"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn bad_value_type_is_named_with_the_file() {
        let e = error("window = \"eight\"\n");
        assert!(
            e.contains("/etc/agentd/agentd.toml") && e.contains("`window`"),
            "{e}"
        );
        let e = error("start-at = \"middle\"\n");
        assert!(e.contains("`start-at`") && e.contains("middle"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_named() {
        for (text, key) in [
            ("batch-lines = 0", "batch-lines"),
            ("window = 0", "window"),
            ("max-line-bytes = 0", "max-line-bytes"),
            ("collector = \"nohost\"", "collector"),
            ("collector = \"h:99999\"", "collector"),
            ("inputs = []", "inputs"),
            ("inputs = [\"relative.log\"]", "inputs"),
            ("inputs = [\"/var/log/[.log\"]", "inputs"),
            ("agent-id = \"\"", "agent-id"),
            ("agent-id = \"web 1\"", "agent-id"),
            ("host = \"web1\\u001b[2J\"", "host"),
            ("spool-max-bytes = 4096", "spool-max-bytes"),
        ] {
            let e = error(text);
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
            assert!(e.contains("/etc/agentd/agentd.toml"), "{text}: {e}");
        }
    }

    #[test]
    fn journal_takes_auto_true_false_and_an_absolute_directory() {
        assert_eq!(parse("journal = true").unwrap().journal, JournalMode::On);
        assert_eq!(parse("journal = false").unwrap().journal, JournalMode::Off);
        assert_eq!(parse("").unwrap().journal, JournalMode::Auto);
        let e = error("journal = \"yes\"");
        assert!(e.contains("key `journal`") && e.contains("\"yes\""), "{e}");
        let e = error("journal-directory = \"rel/dir\"");
        assert!(e.contains("key `journal-directory`"), "{e}");
    }

    #[test]
    fn changed_keys_are_named_as_in_the_file() {
        // The reload log line must name what changed the way the user wrote
        // it, and a key compared against the wrong field would hide a change.
        let old = parse("").unwrap();
        assert!(old.changed_keys(&old.clone()).is_empty());
        for (text, key) in [
            ("collector = \"h:1\"", "collector"),
            ("inputs = [\"/a.log\"]", "inputs"),
            ("state-dir = \"/s\"", "state-dir"),
            ("host = \"not-this-machine.example\"", "host"),
            ("agent-id = \"x\"", "agent-id"),
            ("batch-lines = 5", "batch-lines"),
            ("batch-bytes = 5", "batch-bytes"),
            ("linger-ms = 1", "linger-ms"),
            ("start-at = \"end\"", "start-at"),
            ("max-line-bytes = 5", "max-line-bytes"),
            ("partial-flush-ms = 1", "partial-flush-ms"),
            ("window = 1", "window"),
            ("rotate-wait-ms = 1", "rotate-wait-ms"),
            ("ack-timeout-ms = 1", "ack-timeout-ms"),
            ("shutdown-timeout-ms = 1", "shutdown-timeout-ms"),
            ("journal = false", "journal"),
            ("journal-directory = \"/j\"", "journal-directory"),
        ] {
            let new = parse(text).unwrap();
            assert_eq!(old.changed_keys(&new), [key], "{text}");
            assert_ne!(old, new, "{text}");
        }
    }

    #[test]
    fn half_a_tls_setup_names_the_missing_key() {
        // tls = true without a CA cannot verify the collector; a CA without
        // tls = true would silently ship in plaintext.
        assert!(error("tls = true").contains("`tls-ca`"));
        assert!(error("tls-ca = \"/etc/agentd/ca.crt\"").contains("`tls` is false"));
        let missing = error("tls = true\ntls-ca = \"/nonexistent/ca.crt\"");
        assert!(
            missing.contains("/nonexistent/ca.crt") && missing.contains("tls-ca"),
            "{missing}"
        );
    }

    #[test]
    fn the_server_name_is_the_collectors_host_unless_set() {
        let mut c = Config {
            collector: "logs.example.com:5170".into(),
            ..Config::default()
        };
        assert_eq!(c.tls_server_name(), "logs.example.com");
        c.collector = "[2001:db8::1]:5170".into();
        assert_eq!(c.tls_server_name(), "2001:db8::1");
        c.tls_server_name = "collector.internal".into();
        assert_eq!(c.tls_server_name(), "collector.internal");
    }

    #[test]
    fn missing_default_file_means_defaults_but_missing_explicit_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("agentd.toml");
        let (_, source) = Config::load(None, &missing).unwrap();
        assert_eq!(source, Source::Defaults(missing.clone()));
        let e = format!("{:#}", Config::load(Some(&missing), &missing).unwrap_err());
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }
}

/// `keys.rs` documents every key once, for the man page and the shipped
/// file: these tests hold that table to [`Config`].
#[cfg(test)]
mod keys_tests {
    use std::collections::BTreeMap;

    use logcore::docs::Default as KeyDefault;

    use super::*;
    use crate::keys::{EXAMPLE, KEYS};

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("agentd.toml")).unwrap_or_else(|e| panic!("{e:#}\n{text}"))
    }

    /// The keys and values `Config::default()` has in TOML.
    fn default_values() -> BTreeMap<String, toml::Value> {
        let mut config = Config::default();
        // An unset Option is left out of TOML; give it a value to see it.
        config.agent_id = Some(config.host.clone());
        config.journal_directory = Some(PathBuf::from("/var/log/journal/remote"));
        match toml::Value::try_from(config).expect("Config serializes") {
            toml::Value::Table(table) => table.into_iter().collect(),
            other => panic!("Config serialized to {other:?}"),
        }
    }

    #[test]
    fn the_key_table_documents_every_key_of_config_with_its_type() {
        // agentd.toml(5) and the shipped file are written from the table.
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
        // one must get what agentd does without it.
        let text: String = KEYS
            .iter()
            .filter_map(|k| match k.default {
                KeyDefault::Toml(value) => Some(format!("{} = {value}\n", k.name)),
                KeyDefault::Computed { .. } => None,
            })
            .collect();
        assert_eq!(parse(&text), Config::default());
    }

    #[test]
    fn only_host_and_agent_id_have_computed_defaults_and_their_examples_parse() {
        let computed: Vec<&str> = KEYS
            .iter()
            .filter(|k| matches!(k.default, KeyDefault::Computed { .. }))
            .map(|k| k.name)
            .collect();
        assert_eq!(computed, ["host", "agent-id", "journal-directory"]);
        let text: String = KEYS
            .iter()
            .filter_map(|k| match k.default {
                KeyDefault::Computed { example, .. } => Some(format!("{} = {example}\n", k.name)),
                KeyDefault::Toml(_) => None,
            })
            .collect();
        let config = parse(&text);
        assert_eq!((config.host.as_str(), config.agent_id()), ("web1", "web1"));
        assert!(config.journal_directory.is_some());
    }

    #[test]
    fn shipped_config_file_loads_as_the_defaults() {
        // What `agentd --check-config` does with /etc/agentd/agentd.toml as
        // the package installs it.
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/agentd/agentd.toml");
        let (config, source) = Config::load(Some(&shipped), &shipped).unwrap();
        assert_eq!(source, Source::File(shipped));
        assert_eq!(config, Config::default());
    }

    #[test]
    fn man_page_example_is_valid() {
        let config = parse(EXAMPLE);
        assert_eq!(config.start_at, StartAt::End);
        assert_eq!(config.inputs.len(), 3);
    }
}
