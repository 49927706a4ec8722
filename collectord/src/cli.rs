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
        command: "collectord --listen 127.0.0.1:5171 --data-dir /tmp/logs",
        what: "a second collector in the foreground, for a test",
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
/// Under systemd, collectord can take its listening socket from
/// collectord.socket, reports readiness and status (sd_notify), and logs to
/// the journal with priorities.
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
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Check the config file and exit: 0 when it is valid, 78 when not.
    #[arg(long)]
    pub check_config: bool,

    /// Address to listen on (overrides `listen` in the config file).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Directory for the index and the archive (overrides `data-dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
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
        assert_eq!(parsed, 2);
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
