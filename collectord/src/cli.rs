//! Command-line options. They are kept apart from the runtime [`Config`]:
//! the two flags that also exist in the file override it.
//!
//! [`Config`]: crate::config::Config

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use logcore::docs::{after_help, Example, ExitStatus};

use crate::config::ConfigError;

/// The default config file; a missing default file means "run on defaults".
pub const DEFAULT_CONFIG: &str = "/etc/collectord/collectord.toml";

/// Examples, for `--help` and collectord(8); the tests parse the
/// collectord ones.
pub const EXAMPLES: &[Example] = &[
    Example {
        command: "collectord --check-config",
        what: "check /etc/collectord/collectord.toml after editing it",
    },
    Example {
        command: "systemctl reload collectord",
        what: "check the edited file, then apply it (SIGHUP)",
    },
    Example {
        command: "systemctl status collectord",
        what: "agents connected, lines/s, time since the last commit",
    },
    Example {
        command: "systemctl enable --now collectord-syslog-udp.socket collectord-syslog-tcp.socket",
        what: "receive syslog on port 514 too (then systemctl restart collectord)",
    },
    Example {
        command: "collectord --listen 127.0.0.1:5171 --data-dir /tmp/logs",
        what: "a second collector in the foreground, for a test",
    },
    Example {
        command: "sudo -u collectord collectord train --since 14d",
        what: "train the detectors on the last 14 days now (the running daemon takes the model)",
    },
    Example {
        command: "collectord tls init --dir /root/logq-ca",
        what: "make a CA for TLS between the agents and the collector",
    },
    Example {
        command: "collectord tls issue --dir /root/logq-ca --agent --name web1",
        what: "a key and certificate for the agent web1, and the config lines that use them",
    },
    Example {
        command: "collectord replay --train auth.log.1 auth.log | jq -r .explanation",
        what: "what the detectors find in today's log, trained on yesterday's",
    },
    Example {
        command:
            "collectord replay --templates /var/log/syslog | cut -f3 | sort | uniq -c | sort -rn",
        what: "the kinds of lines in a file, most common first",
    },
];

/// Exit statuses, for `--help` and collectord(8).
pub const EXIT_STATUS: &[ExitStatus] = &[
    ExitStatus {
        code: 0,
        when: "stopped by SIGTERM or SIGINT; --check-config: the file is valid",
    },
    ExitStatus {
        code: 1,
        when: "a runtime error, such as a taken port or an unusable data directory",
    },
    ExitStatus {
        code: ConfigError::EXIT_CODE,
        when: "the configuration is invalid (the message names file and key)",
    },
];

/// Receives log lines from agentd, archives them, indexes them for logq.
///
/// collectord accepts agentd connections on TCP port 5170. It writes every
/// line it receives to a zstd archive, one file per day, and to a tantivy
/// index, commits both, and only then acknowledges the lines: what an agent
/// has had acknowledged survives a crash. Lines an agent sends again are
/// recognised and dropped. logq searches the index while collectord runs.
///
/// It runs anomaly detectors on every line as it stores it (failed-login
/// bursts, scans, floods, new kinds of lines, sessions, per-host windows),
/// writes each anomaly to anomalies.log in the data directory, and flags
/// its lines for logq --anomalies. `collectord train` and `collectord
/// replay` run the same detectors offline.
///
/// It also receives syslog directly, when syslog-udp or syslog-tcp is set
/// in collectord.toml(5) or systemd passes their sockets: over UDP, one
/// message per datagram, and over TCP, octet-counted or newline-framed
/// (RFC 6587, decided per connection). Each message is one line; its host
/// is the message's host name, else the sender's address, which logq
/// also shows as its agent. syslog-max-message-bytes,
/// syslog-max-connections and syslog-rate-limit bound what one sender
/// can take.
///
/// Under systemd, collectord can take its listening sockets from
/// collectord.socket (agents, port 5170) and from
/// collectord-syslog-udp.socket and collectord-syslog-tcp.socket (port
/// 514, installed but not enabled: `systemctl enable --now` them, then
/// restart collectord), reports readiness and status (sd_notify), and
/// logs to the journal with priorities.
#[derive(Debug, Parser)]
#[command(
    name = "collectord",
    version,
    about,
    after_help = after_help(EXAMPLES, EXIT_STATUS)
)]
pub struct Cli {
    /// Config file (TOML). Without this flag /etc/collectord/collectord.toml
    /// is read if it exists.
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

    /// Check the config file and exit: 0 when it is valid, 78 when not.
    #[arg(long)]
    pub check_config: bool,

    /// Address to listen on (overrides `listen` in the config file).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Directory for the index and the archive (overrides `data-dir`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do instead of running the daemon.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Train the anomaly detectors on the index over a time range, and
    /// write DATA_DIR/model.json (the daemon reads it at start and within a
    /// second of a change; it also retrains by itself every `retrain-hours`).
    Train(TrainArgs),
    /// Run the detectors over log files offline, as the daemon runs them,
    /// with each line's own timestamp as the clock, and print one JSON
    /// object per anomaly.
    Replay(ReplayArgs),
    /// A certificate authority for TLS between agents and the collector:
    /// `tls init` makes it, `tls issue` signs a key and certificate for
    /// the collector or for one agent and prints the config lines.
    Tls(TlsArgs),
}

#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    #[command(subcommand)]
    pub command: TlsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TlsCommand {
    /// Make a CA: DIR/ca.key (mode 0600) and DIR/ca.crt. Refuses to
    /// replace an existing one.
    Init(InitArgs),
    /// Sign a new key and certificate with DIR's CA, for the collector
    /// (--server) or one agent (--agent); its DNS name is NAME.
    Issue(IssueArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The directory of the CA (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Days the CA certificate is valid.
    #[arg(long, value_name = "N", default_value_t = 3650)]
    pub days: u32,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("role").required(true).args(["server", "agent"])))]
pub struct IssueArgs {
    /// The directory of the CA (`tls init`).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The certificate's DNS name: the collector's host name as agents
    /// write it (--server), or the agent's agent-id (--agent).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// A certificate for collectord's tls-cert.
    #[arg(long)]
    pub server: bool,
    /// A certificate for an agent's tls-cert.
    #[arg(long)]
    pub agent: bool,
    /// Another name (DNS name or IP address) of the collector; repeat for more.
    #[arg(long, value_name = "NAME", requires = "server")]
    pub san: Vec<String>,
    /// Days the certificate is valid.
    #[arg(long, value_name = "N", default_value_t = 825)]
    pub days: u32,
    /// Write PREFIX.key and PREFIX.crt (default: DIR/NAME).
    #[arg(long, value_name = "PREFIX")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Start of the range: a date (2026-11-01), an RFC 3339 time, or an
    /// age such as 7d or 12h. Default: `train-days` before the newest
    /// stored line (or before now when --until is given).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// End of the range (same forms). Default: the newest stored line (now
    /// when --since is given).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Write the model here instead of DATA_DIR/model.json.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Train on this file first (no labels are read); repeat for more.
    #[arg(long, value_name = "FILE")]
    pub train: Vec<PathBuf>,
    /// Start from this model (a collectord model.json); with --train, the
    /// training starts from its templates.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Write the model used (after --train) here.
    #[arg(long, value_name = "PATH")]
    pub save_model: Option<PathBuf>,
    /// Lines sharing this expression's first capture group (or whole
    /// match) are a session, scored when it ends: e.g. 'blk_-?[0-9]+'.
    #[arg(long, value_name = "RE")]
    pub session_regex: Option<String>,
    /// A session ends after this many seconds without a line; 0 (the
    /// default): at the end of the input. The daemon has no end, and uses
    /// `session-idle-secs`.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub session_idle: u64,
    /// With --session-regex and --train: also train the LSTM sequence
    /// model (DeepLog: an event it did not expect makes its session an
    /// anomaly) and judge sessions with it.
    #[arg(long, requires = "session_regex")]
    pub sequence_model: bool,
    /// Seed of the Isolation Forests.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Print -1 (anomaly) or 1 per input line: the per-line Isolation
    /// Forest over TF-IDF. Needs --train or --model.
    #[arg(long, conflicts_with = "templates")]
    pub per_line: bool,
    /// Print LINE<TAB>TEMPLATE_ID<TAB>TEMPLATE per input line.
    #[arg(long)]
    pub templates: bool,
    /// The log files, in order; lines are numbered from 1 across them.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// The clap command, for the man page and shell completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        // A broken flag definition would make every start panic.
        command().debug_assert();
    }

    #[test]
    fn the_examples_in_the_help_and_the_man_page_parse() {
        // An example that clap refuses teaches the operator something false.
        let mut parsed = 0;
        for example in EXAMPLES {
            let words = example.words();
            if words[0] == "collectord" {
                Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
                parsed += 1;
            }
        }
        assert_eq!(parsed, 6);
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "collectord",
            "--config",
            "/tmp/c.toml",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/d",
            "--check-config",
        ])
        .unwrap();
        assert_eq!(
            cli.config.as_deref(),
            Some(std::path::Path::new("/tmp/c.toml"))
        );
        assert_eq!(cli.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert!(cli.check_config);
    }
}
