//! The fleet corpus of `../shared/bench` (relative to the repository root):
//! the workload every benchmark figure is measured on. Its generator,
//! `benchgen`, lives there; it is built into the repository's (ignored)
//! `target/benchgen`, or taken from `LOGQ_BENCHGEN`, and never copied into
//! the repository, nor is its output.
//!
//! A line: `2026-11-20T10:00:00.123456+00:00 web17 sshd[1234]: Failed
//! password for root from 203.0.113.9 port 51234 ssh2 seq=0000004242`. Time
//! starts at [`START_DAY`] 00:00:00 UTC and advances about
//! [`LINES_PER_SECOND`]; every line ends in ` seq=%010d` (1-based).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The seed the published figures are measured with.
pub const SEED: u64 = 42;
/// The corpus starts on 2026-11-`START_DAY` at 00:00:00 UTC.
pub const START_DAY: u64 = 20;
/// How many lines the corpus clock puts in a second, on average.
pub const LINES_PER_SECOND: f64 = 120.0;

/// The repository this crate was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is a folder of the workspace")
        .to_owned()
}

/// `../shared/bench` relative to the repository root.
pub fn shared_bench() -> PathBuf {
    repo_root().join("..").join("shared").join("bench")
}

/// The benchgen binary: `LOGQ_BENCHGEN` if set, else the repository's
/// `target/benchgen/release/benchgen`, built with cargo when missing.
/// `Ok(None)`: `../shared/bench` is absent, and the caller skips (the
/// reason is [`absent_reason`]).
pub fn benchgen() -> Result<Option<PathBuf>> {
    if let Some(path) = std::env::var_os("LOGQ_BENCHGEN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("LOGQ_BENCHGEN={} is not a file", path.display());
        }
        return Ok(Some(path));
    }
    let manifest = shared_bench().join("gen").join("Cargo.toml");
    if !manifest.is_file() {
        return Ok(None);
    }
    let target = repo_root().join("target").join("benchgen");
    let built = target.join("release").join("benchgen");
    if !built.is_file() {
        println!(
            "building benchgen from {} into {}...",
            manifest.display(),
            target.display()
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .status()
            .context("cannot run cargo to build benchgen")?;
        if !status.success() || !built.is_file() {
            bail!("building benchgen failed ({status})");
        }
    }
    Ok(Some(built))
}

/// Why [`benchgen`] found nothing, for the skip message.
pub fn absent_reason() -> String {
    format!(
        "the fleet corpus is absent: no {} (../shared/bench relative to the repository root) and LOGQ_BENCHGEN is not set",
        shared_bench().join("gen").join("Cargo.toml").display()
    )
}

/// Writes the first `lines` lines of the corpus (seed [`SEED`]) to `out`.
pub fn generate(benchgen: &Path, lines: u64, out: &Path) -> Result<()> {
    let status = Command::new(benchgen)
        .arg("gen")
        .arg("--lines")
        .arg(lines.to_string())
        .arg("--seed")
        .arg(SEED.to_string())
        .arg("--out")
        .arg(out)
        .status()
        .with_context(|| format!("cannot run {}", benchgen.display()))?;
    if !status.success() {
        bail!("{} gen failed ({status})", benchgen.display());
    }
    Ok(())
}

/// What writes the corpus a benchmark's `--corpus` names.
pub enum Source {
    /// The fleet corpus, by its generator.
    Fleet(PathBuf),
    /// `logq_tests::corpus` with seed [`SEED`] and [`SYNTHETIC_HOSTS`] hosts.
    Synthetic,
}

/// Hosts of the synthetic corpus.
pub const SYNTHETIC_HOSTS: usize = 200;

/// The source of `choice`'s corpus; `Ok(None)` when the fleet corpus is
/// absent, and the benchmark prints that it skipped and why
/// ([`absent_reason`]).
pub fn source(choice: Choice) -> Result<Option<Source>> {
    Ok(match choice {
        Choice::Fleet => benchgen()?.map(Source::Fleet),
        Choice::Synthetic => Some(Source::Synthetic),
    })
}

impl Source {
    /// Writes the first `lines` lines of the corpus to `out`.
    pub fn write(&self, lines: u64, out: &Path) -> Result<()> {
        match self {
            Source::Fleet(benchgen) => generate(benchgen, lines, out),
            Source::Synthetic => {
                let file =
                    File::create(out).with_context(|| format!("create {}", out.display()))?;
                let mut out = BufWriter::with_capacity(1 << 20, file);
                let mut corpus = crate::corpus::Corpus::new(SEED, SYNTHETIC_HOSTS);
                for _ in 0..lines {
                    corpus.line(&mut out)?;
                }
                std::io::Write::flush(&mut out)?;
                Ok(())
            }
        }
    }
}

/// The 1, 5 and 15 minute load averages, printed beside figures: other
/// work on the machine makes them noisy.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or("unknown".to_owned(), |l| {
        l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    })
}

/// The stamp (first field) of the last line of `path`.
pub fn last_stamp(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(4096)))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let tail = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let last = tail.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    let stamp = last.split(|&b| b == b' ').next().unwrap_or_default();
    match std::str::from_utf8(stamp) {
        Ok(s) if s.starts_with("2026-") => Ok(s.to_owned()),
        _ => bail!("the last line of {} has no RFC 3339 stamp", path.display()),
    }
}

/// `(day of November 2026, hour, minute)` of `seconds` after the start.
pub fn clock(seconds: u64) -> (u64, u64, u64) {
    (
        START_DAY + seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
    )
}

/// The corpus a benchmark runs on (`--corpus`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Choice {
    /// The fleet corpus of `../shared/bench` (the default).
    Fleet,
    /// `logq_tests::corpus`, written by this crate (200 hosts).
    Synthetic,
}

impl Choice {
    pub fn name(self) -> &'static str {
        match self {
            Choice::Fleet => "fleet",
            Choice::Synthetic => "synthetic",
        }
    }
}

impl std::str::FromStr for Choice {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Choice> {
        match s {
            "fleet" => Ok(Choice::Fleet),
            "synthetic" => Ok(Choice::Synthetic),
            other => bail!("--corpus is fleet or synthetic, not {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // bench-ingest's finish marker takes this stamp: a wrong one would put
    // the marker at a time no window finds, or fail the bench.
    #[test]
    fn last_stamp_is_the_first_field_of_the_last_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.log");
        let a = "2026-11-20T00:00:00.007170+00:00 web10 nginx: a seq=0000000001";
        let b = "2026-11-20T00:00:01.500000+00:00 db11 sshd[1]: b seq=0000000002";
        std::fs::write(&path, format!("{a}\n{b}\n")).expect("write");
        assert_eq!(
            last_stamp(&path).expect("stamp"),
            "2026-11-20T00:00:01.500000+00:00"
        );
        // Without a final newline, and with a line longer than the tail read.
        let long = format!("{a} {}\n{b}", "x".repeat(10_000));
        std::fs::write(&path, long).expect("write");
        assert_eq!(
            last_stamp(&path).expect("stamp"),
            "2026-11-20T00:00:01.500000+00:00"
        );
        std::fs::write(&path, "no stamp here\n").expect("write");
        assert!(last_stamp(&path).is_err());
    }

    // bench-logq's 10-minute window: a wrong clock would time a window the
    // corpus has no lines in, and logq, rg and grep would all find 0.
    #[test]
    fn clock_counts_from_the_corpus_start() {
        assert_eq!(clock(0), (20, 0, 0));
        assert_eq!(clock(3600), (20, 1, 0));
        assert_eq!(clock(86_400 + 3 * 3600 + 10 * 60 + 59), (21, 3, 10));
    }

    #[test]
    fn corpus_choice_parses_and_rejects() {
        assert_eq!("fleet".parse::<Choice>().expect("fleet"), Choice::Fleet);
        assert_eq!(
            "synthetic".parse::<Choice>().expect("synthetic"),
            Choice::Synthetic
        );
        assert!("Fleet".parse::<Choice>().is_err());
    }
}
