//! `collectord [--config PATH] [--check-config] [--listen ADDR] [--data-dir DIR]`,
//! `collectord train [--since TIME] [--until TIME]`, `collectord replay ... FILE...`,
//! `collectord tls init|issue ...`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use collectord::cli::{Cli, Command, DEFAULT_CONFIG};
use collectord::config::{ConfigError, Source};
use collectord::detect::offline;
use collectord::net::tls::ServerTls;
use collectord::net::{ca, listen};
use collectord::{daemon, log};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::fatal(&err);
            if err.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(ConfigError::EXIT_CODE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Replay(args)) => return offline::replay(args),
        Some(Command::Tls(args)) => return ca::run(args),
        _ => {}
    }
    let source = Source {
        explicit: cli.config,
        default: PathBuf::from(DEFAULT_CONFIG),
        listen: cli.listen,
        data_dir: cli.data_dir,
    };
    let config = source.load()?;
    if let Some(Command::Train(args)) = &cli.command {
        return offline::train(args, &config);
    }
    let tls = ServerTls::load(&config, source.path())?;
    if cli.check_config {
        let path = source.path();
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
    // Inherit or bind the sockets before any thread starts.
    let listeners = listen::listeners(&config)?;
    daemon::run(config, source, tls, listeners)
}
