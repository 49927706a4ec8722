//! agentd: tails log files and ships every line to collectord. See
//! `daemon.rs` for how the pieces fit together.

mod batch;
mod checkpoint;
pub mod cli;
mod config;
mod conn;
mod daemon;
mod fileid;
mod journal;
pub mod keys;
mod lines;
mod locate;
mod log;
mod notify;
mod outbox;
mod scan;
mod shipper;
mod signals;
mod spool;
mod syncer;
mod tailer;
mod tls;
mod tracked;

use std::io::Write;
use std::process::ExitCode;

use clap::FromArgMatches;

use crate::cli::Cli;
use crate::config::{Location, Source};

/// sysexits.h EX_CONFIG: the configuration is wrong.
const EX_CONFIG: u8 = 78;

/// The whole program; `main.rs` only calls this, so that the xtask can
/// reach [`cli::command`] for the man page.
pub fn main() -> ExitCode {
    let cli = Cli::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    log::init();
    let location = Location::new(cli.config);
    let (config, source) = match location.load() {
        Ok(loaded) => loaded,
        Err(e) => {
            log::fatal(&e);
            return ExitCode::from(EX_CONFIG);
        }
    };
    if cli.check_config {
        let message = match &source {
            Source::File(p) => format!("{}: configuration is valid", p.display()),
            Source::Defaults(p) => format!(
                "{} does not exist; the built-in defaults are valid",
                p.display()
            ),
        };
        let _ = writeln!(std::io::stdout(), "{message}");
        return ExitCode::SUCCESS;
    }
    match &source {
        Source::File(p) => tracing::info!(path = %p.display(), "Configuration loaded."),
        Source::Defaults(p) => {
            tracing::info!(path = %p.display(), "No configuration file; running with built-in defaults.")
        }
    }
    match daemon::run(config, location) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::fatal(&e);
            ExitCode::FAILURE
        }
    }
}
