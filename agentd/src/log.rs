//! Diagnostics to stderr with `tracing`. The level comes from `AGENTD_LOG`
//! (same syntax as `RUST_LOG`, default `info`). Under systemd
//! (`JOURNAL_STREAM` set) lines carry no timestamp and no colour, and start
//! with a `<N>` syslog priority so the journal records the right level.

use std::io::IsTerminal;

use logcore::journal::{self, Priority};
use tracing_subscriber::fmt::format::Format;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("AGENTD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if journal::under_journal() {
        let format = Format::default().without_time().with_ansi(false);
        builder.event_format(Priority(format)).init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(colour).init();
    }
}

/// Prints the error that ends the program, as `agentd: error: ...` on
/// stderr; under systemd with the `<3>` prefix, so that journald records it
/// at priority err (`journalctl -p err` shows it) even before [`init`].
pub fn fatal(err: &anyhow::Error) {
    logcore::journal::fatal("agentd", err);
}
