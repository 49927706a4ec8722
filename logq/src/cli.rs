//! The command line, defined once: it feeds `--help`, the man page and the
//! shell completions.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use logcore::docs::{after_help, Example, ExitStatus};

/// Examples, for `--help` and logq(1); the tests run each through the
/// command line, query and time parsers.
pub const EXAMPLES: &[Example] = &[
    Example {
        command: "logq 'failed password' -H web1",
        what: "the phrase, in lines from web1",
    },
    Example {
        command: "logq 'sshd NOT accepted' --since 2h",
        what: "sshd lines of the last two hours but the accepted ones",
    },
    Example {
        command: "logq -p err -t 'nginx*' -n 20",
        what: "the newest 20 lines of nginx programs at err or worse",
    },
    Example {
        command: "logq -u ssh.service --since today",
        what: "today's journal entries of the ssh service",
    },
    Example {
        command: "logq -c --by host 'invalid user'",
        what: "how many lines per host, most first",
    },
    Example {
        command: "logq -e 'port (22|2222)\\b' --since today -o json | jq .host",
        what: "a regular expression; JSON for jq",
    },
    Example {
        command: "logq -f -H 'db*'",
        what: "new lines from the db hosts as they arrive",
    },
    Example {
        command: "logq -C 3 segfault",
        what: "three lines before and after each match",
    },
    Example {
        command: "logq --patterns --since yesterday program:sshd",
        what: "sshd's kinds of message since yesterday, with counts, latest first",
    },
];

/// Exit statuses, as grep's, for `--help` and logq(1).
pub const EXIT_STATUS: &[ExitStatus] = &[
    ExitStatus {
        code: 0,
        when: "a line matched (or the reader of the output closed the pipe)",
    },
    ExitStatus {
        code: 1,
        when: "no line matched",
    },
    ExitStatus {
        code: 2,
        when: "an error: a bad option or query, no index, unreadable data",
    },
];

/// Searches the log lines collectord has indexed and prints them in time
/// order, oldest first.
///
/// Short output: `Nov 24 22:20:01 web1 sshd[812]: message`, in the local
/// time zone; a line the anomaly detectors flagged starts with `! `.
#[derive(Debug, Parser)]
#[command(
    name = "logq",
    version,
    about,
    after_help = after_help(EXAMPLES, EXIT_STATUS),
    max_term_width = 100
)]
pub struct Cli {
    /// What a line must contain; no query prints every line.
    ///
    /// Words are ANDed and match whole words, case-insensitively (see -s):
    /// `sshd root`. "Double quotes" make a phrase, and so does one argument
    /// of several plain words, as in grep: `logq 'failed password'` wants
    /// the phrase, `logq failed password` both words anywhere. `a OR b`
    /// wants either, `NOT word` or `-word` excludes, parentheses group
    /// (OR, AND and NOT in capitals only): `logq 'sshd (failed OR invalid)
    /// NOT root'`. `field:value` matches a field: `host:`, `program:` and
    /// `unit:` (a journal entry's systemd unit) take a glob, `severity:` a level (`severity:<=err` is err and worse,
    /// `severity:err` err alone), `facility:` a name (`facility:authpriv`).
    /// `pass*` matches words that start with `pass`. A query with an
    /// argument that starts with `-` needs `--` before it (`logq -- sshd
    /// -root`), or `NOT` instead of the `-`.
    #[arg(value_name = "QUERY")]
    pub query: Vec<String>,

    /// Only lines that match this regular expression (repeatable: any of
    /// them), besides QUERY.
    ///
    /// Rust regex syntax (`\b`, `\d`, `(a|b)`), matched anywhere in the
    /// line, case-insensitively unless -s is given.
    #[arg(short = 'e', long = "regexp", value_name = "PATTERN")]
    pub regexp: Vec<String>,

    /// Match case: words, phrases, prefixes and regular expressions.
    ///
    /// Without it, `root` also finds `ROOT` and `Root`.
    #[arg(short = 's', long)]
    pub case_sensitive: bool,

    /// Only lines from hosts matching this pattern (repeatable: any of
    /// them).
    ///
    /// A shell-style pattern: `*` matches any run of characters, `?` one
    /// character: `web*`, `db?.example.com`.
    #[arg(short = 'H', long = "host", value_name = "GLOB")]
    pub hosts: Vec<String>,

    /// Only lines from programs matching this pattern (repeatable: any of
    /// them), like journalctl's -t.
    ///
    /// The program is the syslog tag (`sshd` in `sshd[812]:`). Same pattern
    /// syntax as --host.
    #[arg(short = 't', long = "program", value_name = "GLOB")]
    pub programs: Vec<String>,

    /// Only journal entries of systemd units matching this pattern
    /// (repeatable: any of them), like journalctl's -u.
    ///
    /// The unit is the entry's _SYSTEMD_UNIT (`ssh.service`), which agentd
    /// ships when it reads the journal; lines from files have none. Same
    /// pattern syntax as --host. In a query: `unit:ssh.service`.
    #[arg(short = 'u', long = "unit", value_name = "GLOB")]
    pub units: Vec<String>,

    /// Only lines of this severity or worse, or of a range FROM..TO.
    ///
    /// As journalctl's -p: a name, most severe first: emerg, alert, crit,
    /// err, warning, notice, info, debug (also error, warn), or its number
    /// 0-7. `-p err` is
    /// err, crit, alert and emerg; `-p warning..notice` is warning and
    /// notice.
    #[arg(short = 'p', long, value_name = "LEVEL|FROM..TO", value_parser = severity_arg)]
    pub severity: Option<String>,

    /// Only lines at or after this time.
    ///
    /// `2026-11-24`, `'2026-11-24 13:05[:30]'`, RFC 3339
    /// (`2026-11-24T13:05:00Z`), `13:05[:30]` (today), a syslog stamp
    /// (`'Nov 24 13:05:00'`, the most recent such date), `@1795525500`
    /// (seconds since the epoch), a span back from now (`90s`, `15m`, `2h`,
    /// `3d`, `1w`, `'2 hours ago'`), `now`, `today`, `yesterday` or
    /// `tomorrow`. Times without a zone are local time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only lines before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Only lines the anomaly detectors flagged.
    ///
    /// Every line an anomaly counted, those before it fired too (the
    /// first failures of a burst, joined from the data directory's
    /// flagged.log). The short output marks such lines with `! ` in every
    /// search.
    #[arg(long)]
    pub anomalies: bool,

    /// Print the kinds of line that match instead of the lines: each
    /// message template with its count, latest first.
    ///
    /// A template is a message (the text after the syslog header) with
    /// the parts that vary (numbers, addresses, ids, `key=value` values,
    /// words that differ between similar lines) as `<*>`, as collectord's
    /// template miner finds them; the templates of collectord's model
    /// (`model.json` in the data directory) keep their ids and texts, so
    /// they are the ones anomaly explanations name. One line per template,
    /// `COUNT<TAB>LAST<TAB>TEMPLATE`, where LAST is the time of its newest
    /// line as short output prints it; the template whose newest line is
    /// latest comes first (`sort -rn` orders by count). With `-o json`,
    /// one object per template: template_id, template, count, first, last,
    /// example (the newest message), hosts (up to 10) and more_hosts.
    #[arg(
        long,
        conflicts_with_all = [
            "count", "follow", "lines", "reverse",
            "context", "after_context", "before_context",
        ]
    )]
    pub patterns: bool,

    /// Print the newest lines first.
    #[arg(short = 'r', long)]
    pub reverse: bool,

    /// Only the newest N matches, printed oldest first (newest first with
    /// -r).
    #[arg(short = 'n', long, value_name = "N", conflicts_with = "count")]
    pub lines: Option<u64>,

    /// Print how many lines match instead of the lines.
    #[arg(short = 'c', long)]
    pub count: bool,

    /// With --count: count per value of this field.
    ///
    /// One `VALUE<TAB>N` line per value, most first (then by value); `-`
    /// stands for lines without one.
    #[arg(long, value_enum, value_name = "FIELD", requires = "count")]
    pub by: Option<By>,

    /// Also print N lines after each match.
    ///
    /// Context lines come from the same host and file as the match; `--`
    /// separates groups that are not adjacent, as in grep.
    #[arg(short = 'A', long, value_name = "N")]
    pub after_context: Option<usize>,

    /// Also print N lines before each match (see -A).
    #[arg(short = 'B', long, value_name = "N")]
    pub before_context: Option<usize>,

    /// Also print N lines before and after each match (see -A); -A and -B
    /// override it.
    #[arg(short = 'C', long, value_name = "N")]
    pub context: Option<usize>,

    /// How to print lines.
    ///
    /// short escapes control characters and invalid UTF-8 (`\e`, `\x00`,
    /// `\xff`); raw does so only on a terminal. json escapes as JSON does and
    /// adds `line_base64` for a line that is not UTF-8.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = Output::Short)]
    pub output: Output,

    /// When to colour the output.
    ///
    /// `auto` colours on a terminal, unless NO_COLOR is set (not empty) or
    /// TERM is `dumb`. Matches are bold red, hosts bold, the `! ` of an
    /// anomaly magenta, messages of severity err and worse red, warning
    /// yellow. JSON and raw output are never coloured.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Keep running and print new matching lines as collectord indexes them
    /// (like tail -f), until interrupted.
    #[arg(short = 'f', long, conflicts_with_all = ["reverse", "count"])]
    pub follow: bool,

    /// The collector's data directory [default: `data-dir` from
    /// /etc/collectord/collectord.toml, else /var/lib/collectord].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Cli {
    /// Lines of context (before, after): -B and -A, each else -C, else 0.
    pub fn context_lines(&self) -> (usize, usize) {
        let c = self.context.unwrap_or(0);
        (
            self.before_context.unwrap_or(c),
            self.after_context.unwrap_or(c),
        )
    }
}

/// The clap command, for the man page and completion generators.
#[allow(dead_code)] // used by the man page generator, not by logq itself
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// `Nov 24 22:20:01 web1 sshd[812]: message`, like journalctl's short
    /// output; a line without a syslog header as `TIME HOST LINE`; `! `
    /// before an anomaly.
    Short,
    /// Each line byte for byte as received.
    Raw,
    /// One JSON object per line, with every field of the record.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A field for `--count --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Host,
    Program,
    Severity,
}

/// Checks `-p` when the command line is read; main reads the levels with
/// [`logcore::query::parse_severity_spec`], which this defers to.
fn severity_arg(text: &str) -> Result<String, String> {
    logcore::query::parse_severity_spec(text).map(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("logq").chain(args.iter().copied()))
    }

    #[test]
    fn command_definition_is_consistent() {
        // clap checks ids, conflicts and requirements only here: a typo in
        // a `conflicts_with` would otherwise panic on the user's command line.
        command().debug_assert();
    }

    #[test]
    fn follow_conflicts_with_reverse_and_count() {
        // "newest first" and "how many" have no meaning for an endless stream.
        for args in [["-f", "-r"], ["-f", "-c"], ["--follow", "--count"]] {
            let err = parse(&args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        }
        assert!(parse(&["-f", "-n", "20", "-H", "db*"]).unwrap().follow);
    }

    #[test]
    fn by_requires_count_and_lines_conflicts_with_it() {
        let err = parse(&["--by", "host", "x"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let err = parse(&["-c", "-n", "5"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        let cli = parse(&["-c", "--by", "program", "invalid user"]).unwrap();
        assert_eq!(cli.by, Some(By::Program));
        assert_eq!(cli.query, ["invalid user"]);
    }

    #[test]
    fn a_query_with_a_leading_dash_comes_after_double_dash() {
        // The help promises `logq -- sshd -root`; without `--`, clap reads
        // `-root` as -r -o ot and refuses it.
        let cli = parse(&["-H", "web1", "--", "sshd", "-root"]).unwrap();
        assert_eq!(cli.query, ["sshd", "-root"]);
        assert_eq!(cli.hosts, ["web1"]);
        assert!(parse(&["sshd", "-root"]).is_err());
    }

    #[test]
    fn repeatable_filters_and_formats() {
        let cli = parse(&[
            "-e",
            "port 22",
            "-e",
            "port 2222",
            "-s",
            "-t",
            "nginx*",
            "-t",
            "sshd",
            "-o",
            "json",
            "--color",
            "never",
            "--anomalies",
        ])
        .unwrap();
        assert_eq!(cli.regexp, ["port 22", "port 2222"]);
        assert_eq!(cli.programs, ["nginx*", "sshd"]);
        assert!(cli.case_sensitive && cli.anomalies);
        assert_eq!(cli.output, Output::Json);
        assert_eq!(cli.color, ColorChoice::Never);
        assert_eq!(parse(&[]).unwrap().color, ColorChoice::Auto);
        let units = parse(&["-u", "ssh.service", "--unit", "cron*"]).unwrap();
        assert_eq!(units.units, ["ssh.service", "cron*"]);
    }

    #[test]
    fn patterns_conflicts_with_what_prints_or_counts_lines() {
        // --patterns prints groups: line counts, newest-N, context and
        // follow have no meaning for them, and must fail, not be ignored.
        for args in [
            &["--patterns", "-c"][..],
            &["--patterns", "-f"],
            &["--patterns", "-n", "5"],
            &["--patterns", "-r"],
            &["--patterns", "-C", "2"],
            &["--patterns", "-A", "1"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        }
        let cli = parse(&[
            "--patterns",
            "-H",
            "web*",
            "-p",
            "err",
            "--anomalies",
            "sshd",
        ])
        .unwrap();
        assert!(cli.patterns && cli.anomalies);
    }

    #[test]
    fn context_flags_combine_like_grep() {
        assert_eq!(parse(&["-C", "3", "x"]).unwrap().context_lines(), (3, 3));
        assert_eq!(
            parse(&["-C", "3", "-A", "1", "x"]).unwrap().context_lines(),
            (3, 1)
        );
        assert_eq!(parse(&["-B", "2", "x"]).unwrap().context_lines(), (2, 0));
        assert_eq!(parse(&["x"]).unwrap().context_lines(), (0, 0));
    }

    #[test]
    fn severity_is_checked_when_the_command_line_is_read() {
        // A typo in -p must fail at once, naming the levels, not search.
        let err = parse(&["-p", "fatal"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let msg = err.to_string();
        assert!(msg.contains("fatal") && msg.contains("emerg"), "{msg}");
        for ok in ["err", "3", "WARNING", "warning..notice"] {
            assert_eq!(parse(&["-p", ok]).unwrap().severity.as_deref(), Some(ok));
        }
    }

    #[test]
    fn the_examples_in_the_help_and_the_man_page_work() {
        // An example that clap, the query parser or --since refuses teaches
        // the operator something false.
        let examples: Vec<Vec<String>> = EXAMPLES.iter().map(Example::words).collect();
        assert_eq!(examples.len(), 9);
        assert!(examples.iter().all(|words| words[0] == "logq"));
        for args in examples {
            let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            logcore::query::parse_args(&cli.query)
                .unwrap_or_else(|(i, e)| panic!("{args:?}: query {i}: {e}"));
            if let Some(since) = &cli.since {
                crate::time::parse_time(since, chrono::Local::now()).unwrap();
            }
        }
    }
}
