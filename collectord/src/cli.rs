//! Command-line options. They are kept apart from the runtime [`Config`]:
//! the two flags that also exist in the file override it.
//!
//! [`Config`]: crate::config::Config

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

/// The default config file; a missing default file means "run on defaults".
pub const DEFAULT_CONFIG: &str = "/etc/collectord/collectord.toml";

/// Receives log lines from agentd, archives them, indexes them for logq.
#[derive(Debug, Parser)]
#[command(name = "collectord", version, about, long_about = None)]
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
