//! The command line, defined once: it feeds `--help`, the man page and the
//! shell completions.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  logq 'failed password' --host web1       the phrase, in lines from web1
  logq sshd --since 2h                      the last two hours of sshd lines
  logq --since 2026-11-24 --until '2026-11-24 12:00'
  logq --count 'invalid user'               how many, not which
  logq -o raw error | less                  lines exactly as received

Exit status: 0 when a line matched, 1 when none did, 2 on error.";

/// Searches the log lines collectord has indexed and prints them in time
/// order, oldest first.
#[derive(Debug, Parser)]
#[command(name = "logq", version, about, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// What a line must contain, case-insensitively: every argument, and
    /// an argument of several words (quoted) as that phrase. No query prints
    /// every line.
    #[arg(value_name = "QUERY")]
    pub query: Vec<String>,

    /// Only lines from this host (repeatable: any of them).
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,

    /// Only lines at or after this time: RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]`,
    /// a span ago (`15m`, `2h`, `3d`), `today` or `yesterday`.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only lines before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Print how many lines match instead of the lines.
    #[arg(short = 'c', long)]
    pub count: bool,

    /// How to print lines: `short` escapes control characters and invalid
    /// UTF-8 for the terminal; `raw` writes each line byte for byte.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Short)]
    pub output: Output,

    /// The collector's data directory [default: `data-dir` from
    /// /etc/collectord/collectord.toml, else /var/lib/collectord].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Short,
    Raw,
}
