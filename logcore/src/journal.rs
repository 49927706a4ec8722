//! Log lines for the journal, the same in every daemon: under systemd
//! (`JOURNAL_STREAM` set) each line starts with its sd-daemon(3) priority
//! (`<3>` error … `<7>` debug), so `journalctl -p warning` shows the
//! warnings; and the error that ends a program gets `<3>` even before the
//! subscriber exists.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether stderr goes to the journal (systemd sets `JOURNAL_STREAM`).
pub fn under_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some()
}

/// The sd-daemon(3) priority of a tracing level.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// An event format that prefixes each line of `F` with its level's
/// priority, `<N>`.
pub struct Priority<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Prints the error that ends `program`, as `program: error: ...` (with
/// its causes, `{:#}`) on stderr; under systemd with the `<3>` prefix, so
/// that journald records it at priority err.
pub fn fatal(program: &str, err: &dyn fmt::Display) {
    let priority = if under_journal() { "<3>" } else { "" };
    eprintln!("{priority}{program}: error: {err:#}");
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
        assert_eq!(priority(Level::TRACE), 7);
    }
}
