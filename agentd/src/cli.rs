//! Command-line options. They are kept apart from the runtime configuration
//! (`config.rs`): the command line only says where the configuration is and
//! what to do with it.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use logcore::docs::{after_help, Example, ExitStatus};

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/agentd/agentd.toml";

/// Examples, for `--help` and agentd(8); the tests parse the agentd ones.
pub const EXAMPLES: &[Example] = &[
    Example {
        command: "agentd --check-config",
        what: "check /etc/agentd/agentd.toml after editing it",
    },
    Example {
        command: "systemctl reload agentd",
        what: "apply the edited file without a restart",
    },
    Example {
        command: "AGENTD_LOG=debug agentd --config ./test.toml",
        what: "try a file in the foreground, with debug logs",
    },
    Example {
        command: "systemctl status agentd",
        what: "is it running, connected, and how much it shipped",
    },
];

/// Exit statuses, for `--help` and agentd(8).
pub const EXIT_STATUS: &[ExitStatus] = &[
    ExitStatus {
        code: 0,
        when: "stopped by SIGTERM or SIGINT; --check-config: the file is valid",
    },
    ExitStatus {
        code: 1,
        when: "a runtime error, such as an unwritable or busy state directory",
    },
    ExitStatus {
        code: 78,
        when: "the configuration is invalid (the message names file and key)",
    },
];

/// Tails log files and ships every line to collectord, moving its place in a
/// file only after the collector acknowledged the lines.
///
/// agentd watches the files named by `inputs` in its configuration file with
/// inotify and follows them through rotation, by rename or by copytruncate.
/// It sends their lines in batches to collectord and keeps its place in each
/// file in the state directory; after a crash or a restart it sends again
/// what was not acknowledged, and the collector drops the repeats. While the
/// collector cannot be reached, the files are the buffer: agentd stops
/// reading and memory stays bounded.
///
/// Under systemd, agentd reports readiness and status (sd_notify) and logs
/// to the journal with priorities.
#[derive(Debug, Parser)]
#[command(
    name = "agentd",
    version,
    about,
    after_help = after_help(EXAMPLES, EXIT_STATUS)
)]
pub struct Cli {
    /// Configuration file [default: /etc/agentd/agentd.toml; built-in
    /// defaults are used when that file does not exist]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Validate the configuration and exit: 0 when it is valid, 78 otherwise
    #[arg(long)]
    pub check_config: bool,
}

/// The clap command, for the man page and shell completion generators.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definition_is_consistent() {
        // A broken flag definition would make `agentd --help` panic for users.
        command().debug_assert();
    }

    #[test]
    fn the_examples_in_the_help_and_the_man_page_parse() {
        // An example that clap refuses teaches the operator something false.
        let mut parsed = 0;
        for example in EXAMPLES {
            let words = example.words();
            if words[0] == "agentd" {
                Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
                parsed += 1;
            }
        }
        assert_eq!(parsed, 2);
    }

    #[test]
    fn config_path_and_check_flag_parse() {
        let cli = Cli::try_parse_from(["agentd", "--config", "/tmp/a.toml", "--check-config"])
            .expect("valid arguments");
        assert_eq!(cli.config, Some(PathBuf::from("/tmp/a.toml")));
        assert!(cli.check_config);
    }
}
