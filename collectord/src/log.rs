//! Logging: tracing to stderr, level from `COLLECTORD_LOG` (default
//! `info`). Under systemd (`JOURNAL_STREAM` set) lines carry a `<N>`
//! syslog priority prefix for journald and neither timestamps nor colour;
//! elsewhere colour only on a terminal and never with `NO_COLOR`.

use std::io::IsTerminal;

use logcore::journal::{self, Priority};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter =
        EnvFilter::try_from_env("COLLECTORD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if journal::under_journal() {
        let format = tracing_subscriber::fmt::format()
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .with_level(false);
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(Priority(format))
            .init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false)
            .init();
    }
}

/// Prints the error that ends the program, as `collectord: error: ...` on
/// stderr; under systemd with the `<3>` prefix, so that journald records it
/// at priority err (`journalctl -p err` shows it) even before [`init`].
pub fn fatal(err: &anyhow::Error) {
    logcore::journal::fatal("collectord", err);
}
