//! Diagnostics to stderr with `tracing`. The level comes from `AGENTD_LOG`
//! (same syntax as `RUST_LOG`, default `info`). Under systemd
//! (`JOURNAL_STREAM` set) lines carry no timestamp and no colour, and start
//! with a `<N>` syslog priority so the journal records the right level.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("AGENTD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        let format = JournalFormat {
            inner: Format::default().without_time().with_ansi(false),
        };
        builder.event_format(format).init();
    } else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(colour).init();
    }
}

/// The default line format, prefixed with the syslog priority the journal
/// understands (`<3>` error … `<7>` debug).
struct JournalFormat {
    inner: Format<Full, ()>,
}

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.inner.format_event(ctx, writer.by_ref(), event)
    }
}

fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Prints the error that ends the program, as `agentd: error: ...` on
/// stderr; under systemd with the `<3>` prefix, so that journald records it
/// at priority err (`journalctl -p err` shows it) even before [`init`].
pub fn fatal(err: &anyhow::Error) {
    let priority = if std::env::var_os("JOURNAL_STREAM").is_some() {
        "<3>"
    } else {
        ""
    };
    eprintln!("{priority}agentd: error: {err:#}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_priorities_match_syslog_levels() {
        // Wrong priorities would hide warnings from `journalctl -p warning`.
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
    }
}
