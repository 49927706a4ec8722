//! The queries bench-logq times, per corpus: for the fleet corpus those of
//! the table in `../shared/bench/README.md` (same query strings, same shapes
//! of the rg and grep commands beside them), for the synthetic corpus its
//! rare and common words.

use std::path::Path;

use logq_tests::bin;
use logq_tests::corpus::COMMON_WORD;
use logq_tests::fleet::{self, Choice};

use super::{Query, Tool};

/// Seconds the synthetic corpus clock advances per line, on average.
const SYNTHETIC_SECONDS_PER_LINE: f64 = 0.01;
/// A UUID, with no literal for an index to start from.
const UUID_RE: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/// sshd's failures from one network, as in the README's table.
const SSHD_RE: &str =
    r"sshd\[[0-9]+\]: (Failed password|Invalid user) .*from 203\.0\.113\.[0-9]+ port";

/// The rows being built: logq and, when installed, rg and grep.
struct Rows {
    logq_bin: String,
    data: String,
    file: String,
    rg: bool,
    grep: bool,
    out: Vec<Query>,
}

impl Rows {
    /// logq over the collector's data directory with `rest`.
    fn logq(&self, rest: &[&str], counts: bool) -> Tool {
        let mut argv = vec![self.logq_bin.as_str(), "--data-dir", self.data.as_str()];
        argv.extend_from_slice(rest);
        Tool::new(&argv, counts)
    }

    /// `tool ARGS... FILE`.
    fn over_file(&self, tool: &str, args: &[&str], counts: bool) -> Tool {
        let mut argv = vec![tool];
        argv.extend_from_slice(args);
        argv.push(&self.file);
        Tool::new(&argv, counts)
    }

    /// The file, quoted for `sh -c`.
    fn quoted_file(&self) -> String {
        format!("'{}'", self.file.replace('\'', r"'\''"))
    }

    fn add(&mut self, name: &str, l: Tool, r: Option<Tool>, g: Option<Tool>) {
        let mut tools = vec![("logq", l)];
        if self.rg {
            tools.extend(r.map(|t| ("rg", t)));
        }
        if self.grep {
            tools.extend(g.map(|t| ("grep", t)));
        }
        self.out.push(Query {
            name: name.to_owned(),
            tools,
        });
    }

    /// A row where rg and grep take the same `args` before the file.
    fn same(&mut self, name: &str, l: Tool, args: &[&str], counts: bool) {
        let r = self.over_file("rg", args, counts);
        let g = self.over_file("grep", args, counts);
        self.add(name, l, Some(r), Some(g));
    }
}

pub fn queries(
    corpus: Choice,
    lines: u64,
    data_dir: &Path,
    corpus_path: &Path,
    rg: bool,
    grep: bool,
) -> Vec<Query> {
    let mut rows = Rows {
        logq_bin: bin("logq").display().to_string(),
        data: data_dir.display().to_string(),
        file: corpus_path.display().to_string(),
        rg,
        grep,
        out: Vec::new(),
    };
    match corpus {
        Choice::Fleet => fleet_rows(&mut rows, lines),
        Choice::Synthetic => synthetic_rows(&mut rows, lines),
    }
    rows.out
}

/// `(since, until, regex on the stamp)` of a 10-minute window in the middle
/// of `span` seconds from the start of 2026-11-`first_day`, on a 10-minute
/// boundary so that a regex on the stamp says the same as logq's window.
fn window(span: f64, clock: impl Fn(u64) -> (u64, u64, u64)) -> (String, String, String) {
    let mid = (span / 2.0) as u64 / 600 * 600;
    let (day, h, m) = clock(mid);
    let (day2, h2, m2) = clock(mid + 600);
    (
        format!("2026-11-{day:02} {h:02}:{m:02}"),
        format!("2026-11-{day2:02} {h2:02}:{m2:02}"),
        format!("^2026-11-{day:02}T{h:02}:{}[0-9]:", m / 10),
    )
}

/// The README's table: a rare phrase, a host and a phrase, a common phrase,
/// a common word printed and counted, a 10-minute window, an anchored regex
/// and a regex with no literal. Where the README gives two logq figures
/// (printed short and `-o raw`, or `-c`), each is a row of its own.
fn fleet_rows(rows: &mut Rows, lines: u64) {
    let (since, until, window_re) = window(lines as f64 / fleet::LINES_PER_SECOND, fleet::clock);
    let oom = "Out of memory: Killed process";
    let l = rows.logq(&[oom], false);
    rows.same("oom phrase", l, &["-i", "-c", "-F", oom], true);

    // Two stages: lines of host web17, then the phrase.
    let l = rows.logq(&["-H", "web17", "Failed password"], false);
    let pipe = |tool: &str| {
        let extended = if tool == "grep" { " -E" } else { "" };
        Tool::shell(
            &format!(
                "{tool}{extended} '^[^ ]+ web17 ' {} | {tool} -i -F 'Failed password'",
                rows.quoted_file()
            ),
            false,
        )
    };
    let (r, g) = (pipe("rg"), pipe("grep"));
    rows.add("-H web17 'Failed password'", l, Some(r), Some(g));

    let phrase = "Failed password for invalid user";
    for (name, raw) in [
        ("invalid-user phrase", false),
        ("invalid-user phrase, raw", true),
    ] {
        let l = rows.logq(&with_raw(raw, &[phrase]), false);
        rows.same(name, l, &["-F", phrase], false);
    }

    for (name, raw) in [
        ("error, every line", false),
        ("error, every line, raw", true),
    ] {
        let l = rows.logq(&with_raw(raw, &["error"]), false);
        rows.same(name, l, &["-w", "-i", "error"], false);
    }
    let l = rows.logq(&["--count", "error"], true);
    rows.same("-c error", l, &["-c", "-w", "-i", "error"], true);

    let span = ["--since", since.as_str(), "--until", until.as_str()];
    for (name, raw) in [("10-minute window", false), ("10-minute window, raw", true)] {
        let l = rows.logq(&with_raw(raw, &span), false);
        let (r, g) = (
            rows.over_file("rg", &[&window_re], false),
            rows.over_file("grep", &["-E", &window_re], false),
        );
        rows.add(name, l, Some(r), Some(g));
    }
    let mut counted = vec!["--count"];
    counted.extend_from_slice(&span);
    let l = rows.logq(&counted, true);
    let (r, g) = (
        rows.over_file("rg", &["-c", &window_re], true),
        rows.over_file("grep", &["-c", "-E", &window_re], true),
    );
    rows.add("10-minute window, -c", l, Some(r), Some(g));

    for (name, raw) in [("-e sshd regex", false), ("-e sshd regex, raw", true)] {
        let l = rows.logq(&with_raw(raw, &["-e", SSHD_RE]), false);
        let (r, g) = (
            rows.over_file("rg", &["-e", SSHD_RE], false),
            rows.over_file("grep", &["-E", "-e", SSHD_RE], false),
        );
        rows.add(name, l, Some(r), Some(g));
    }

    let l = rows.logq(&["-o", "raw", "-e", UUID_RE], false);
    let (r, g) = (
        rows.over_file("rg", &["-e", UUID_RE], false),
        rows.over_file("grep", &["-E", "-e", UUID_RE], false),
    );
    rows.add("UUID regex, raw", l, Some(r), Some(g));
}

/// `-o raw` and then `rest` when `raw`, else `rest`.
fn with_raw<'a>(raw: bool, rest: &[&'a str]) -> Vec<&'a str> {
    let mut argv = if raw { vec!["-o", "raw"] } else { Vec::new() };
    argv.extend_from_slice(rest);
    argv
}

/// Rare words, a phrase on one host, a common word counted and printed, a
/// window and a regex over `logq_tests::corpus`.
fn synthetic_rows(rows: &mut Rows, lines: u64) {
    let clock = |s: u64| (1 + s / 86_400, s / 3600 % 24, s / 60 % 60);
    let (since, until, window_re) = window(lines as f64 * SYNTHETIC_SECONDS_PER_LINE, clock);
    let regex = "Failed password for (root|admin) from";
    let l = rows.logq(&["-o", "raw", "segfault"], false);
    rows.same("rare word (segfault)", l, &["-F", "segfault"], false);

    let l = rows.logq(
        &["-o", "raw", "-H", "web1", "maximum authentication"],
        false,
    );
    let pipe = |tool: &str| {
        Tool::shell(
            &format!(
                "{tool} -F ' web1 sshd[' {} | {tool} -F 'maximum authentication'",
                rows.quoted_file()
            ),
            false,
        )
    };
    let (r, g) = (pipe("rg"), pipe("grep"));
    rows.add("-H web1 + 2-word phrase", l, Some(r), Some(g));

    let l = rows.logq(&["-o", "raw", "Failed password for root"], false);
    rows.same(
        "4-word phrase",
        l,
        &["-F", "Failed password for root"],
        false,
    );

    let l = rows.logq(&["--count", COMMON_WORD], true);
    rows.same("--count common word", l, &["-c", "-F", COMMON_WORD], true);

    let l = rows.logq(&["-o", "raw", "--since", &since, "--until", &until], false);
    let (r, g) = (
        rows.over_file("rg", &[&window_re], false),
        rows.over_file("grep", &["-E", &window_re], false),
    );
    rows.add("10-minute window", l, Some(r), Some(g));

    let l = rows.logq(&["-o", "raw", "-e", regex], false);
    let (r, g) = (
        rows.over_file("rg", &["-e", regex], false),
        rows.over_file("grep", &["-E", "-e", regex], false),
    );
    rows.add("-e regex", l, Some(r), Some(g));

    let l = rows.logq(&["-o", "raw", COMMON_WORD], false);
    rows.same(
        "common word, every line, raw",
        l,
        &["-F", COMMON_WORD],
        false,
    );

    let l = rows.logq(&[COMMON_WORD], false);
    rows.same(
        "common word, every line, short",
        l,
        &["-F", COMMON_WORD],
        false,
    );
}
