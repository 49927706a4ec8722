//! `collectord [--config PATH] [--check-config] [--listen ADDR] [--data-dir DIR]`

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use collectord::cli::{Cli, DEFAULT_CONFIG};
use collectord::config::{Config, ConfigError};
use collectord::{daemon, listen, log};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("collectord: error: {err:#}");
            if err.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(ConfigError::EXIT_CODE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref(), Path::new(DEFAULT_CONFIG))?;
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    if cli.check_config {
        let path = cli.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG));
        if path.exists() {
            println!("collectord: config OK ({})", path.display());
        } else {
            println!(
                "collectord: no config file at {}; the defaults are used",
                path.display()
            );
        }
        return Ok(());
    }
    log::init();
    // Inherit or bind the socket before any thread starts.
    let (listener, origin) = listen::listener(config.listen)?;
    daemon::run(&config, listener, origin)
}
