//! Command-line options. They are kept apart from the runtime configuration
//! (`config.rs`): the command line only says where the configuration is and
//! what to do with it.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

/// Where the configuration is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/agentd/agentd.toml";

/// Tails log files and ships every line to collectord, moving its place in a
/// file only after the collector acknowledged the lines.
#[derive(Debug, Parser)]
#[command(name = "agentd", version, about, long_about = None)]
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
    fn config_path_and_check_flag_parse() {
        let cli = Cli::try_parse_from(["agentd", "--config", "/tmp/a.toml", "--check-config"])
            .expect("valid arguments");
        assert_eq!(cli.config, Some(PathBuf::from("/tmp/a.toml")));
        assert!(cli.check_config);
    }
}
