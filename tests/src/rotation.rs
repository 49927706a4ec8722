//! The rotation torture: Debian's logrotate rotates `syslog` and `auth.log`
//! every 300 ms (its own config and state file, `-f`) while numbered lines
//! are written to both, through a real agentd to a real collectord on
//! loopback; then every line is read back with logq. `tests/it/rotation.rs`
//! asserts, `bench-rotation` prints the figures at other rates.
//!
//! copytruncate copies, fsyncs the copy, then truncates: what the writer
//! adds in between is in no file afterwards, and only a read by agentd
//! before the truncate saves it (logrotate(8) warns of that slice). The
//! writer sees each truncate (its file is shorter after a write than the
//! write leaves it) and records its last write before it: the lines that
//! only a read within the slice between that write and the truncate could
//! save, the one write no reader can be sure to win. Every other line must
//! arrive.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::numbered::{count_numbers, numbered_line, Counts};
use crate::{Agent, Collector};

/// Where Debian installs logrotate.
pub const LOGROTATE: &str = "/usr/sbin/logrotate";
/// How often logrotate runs.
pub const EVERY: Duration = Duration::from_millis(300);
/// How often each writer writes what is due, in one write(2) each, as
/// rsyslog's omfile flushes its buffer after each batch of messages.
const WRITE_EVERY: Duration = Duration::from_millis(2);

/// How long the line count must stay still, once both finish lines are
/// searchable, before the lines still missing are taken as lost.
const SETTLED: Duration = Duration::from_secs(5);

/// What logrotate does at each run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rename, then create a new file (the writer reopens it).
    Create,
    /// Copy, then truncate in place (the writer goes on, O_APPEND).
    CopyTruncate,
    /// Create, and gzip each rotated file one rotation later.
    CompressDelay,
    /// One of the three above at random, per logrotate run.
    Mixed,
}

impl Mode {
    pub const ALL: [Mode; 4] = [
        Mode::Create,
        Mode::CopyTruncate,
        Mode::CompressDelay,
        Mode::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::CopyTruncate => "copytruncate",
            Mode::CompressDelay => "compress+delaycompress",
            Mode::Mixed => "mixed",
        }
    }

    /// Whether logrotate truncates in this mode (copytruncate, always or
    /// at random), destroying what is written between its copy and its
    /// truncate unless agentd has read it by then.
    pub fn truncates(self) -> bool {
        matches!(self, Mode::CopyTruncate | Mode::Mixed)
    }

    /// The directives of one run.
    fn directives(self, rng: &mut StdRng) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::CopyTruncate => "copytruncate",
            Mode::CompressDelay => "create\n    compress\n    delaycompress",
            Mode::Mixed => [Mode::Create, Mode::CopyTruncate, Mode::CompressDelay]
                [rng.gen_range(0..3)]
            .directives(rng),
        }
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Torture {
    pub mode: Mode,
    /// Lines per second over both files.
    pub rate: u64,
    /// Lines in all, half to each file.
    pub lines: u64,
    /// The agentd to run: the one built next to this program when `None`.
    pub agentd: Option<PathBuf>,
    pub seed: u64,
}

/// One log's lines in logq's output, and the writes at risk.
#[derive(Debug, Default)]
pub struct Log {
    pub counts: Counts,
    /// The line ranges (inclusive) of the last write before each truncate.
    pub at_risk: Vec<(u64, u64)>,
    /// Lines in no file on disk after the run (the log and every rotated
    /// file, gzipped ones read through): destroyed by a truncate.
    pub in_no_file: Vec<u64>,
}

impl Log {
    /// Lost lines that a file on disk still holds: agentd could have read
    /// them, at its leisure.
    pub fn lost_from_files(&self) -> Vec<u64> {
        let gone: std::collections::HashSet<u64> = self.in_no_file.iter().copied().collect();
        self.counts
            .missing
            .iter()
            .copied()
            .filter(|n| !gone.contains(n))
            .collect()
    }

    /// Lines lost that are not in the last write before a truncate.
    pub fn lost_outside_risk(&self) -> Vec<u64> {
        self.counts
            .missing
            .iter()
            .copied()
            .filter(|n| !self.at_risk.iter().any(|(a, b)| a <= n && n <= b))
            .collect()
    }

    pub fn at_risk_lines(&self) -> u64 {
        self.at_risk.iter().map(|(a, b)| b - a + 1).sum()
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `syslog`, then `auth.log`.
    pub syslog: Log,
    pub auth: Log,
    /// logrotate runs, and the files they left beside the two logs.
    pub logrotate_runs: u64,
    pub rotated_files: usize,
    /// logrotate runs that failed, with what they said.
    pub logrotate_errors: Vec<String>,
    /// Seconds spent writing, and until the last line was searchable (or
    /// the wait gave up).
    pub write_seconds: f64,
    pub total_seconds: f64,
    /// The agent's log, for a failure message.
    pub agent_log: String,
}

impl Outcome {
    fn logs(&self) -> [&Log; 2] {
        [&self.syslog, &self.auth]
    }

    pub fn lost(&self) -> u64 {
        self.logs()
            .iter()
            .map(|l| l.counts.missing.len() as u64)
            .sum()
    }

    pub fn duplicated(&self) -> u64 {
        self.logs()
            .iter()
            .map(|l| l.counts.doubled.len() as u64)
            .sum()
    }

    pub fn unexpected(&self) -> u64 {
        self.logs().iter().map(|l| l.counts.unexpected).sum()
    }

    /// Lost lines that were not in the last write before a truncate.
    pub fn lost_outside_risk(&self) -> u64 {
        self.logs()
            .iter()
            .map(|l| l.lost_outside_risk().len() as u64)
            .sum()
    }

    /// Lost lines that a file on disk still holds.
    pub fn lost_from_files(&self) -> u64 {
        self.logs()
            .iter()
            .map(|l| l.lost_from_files().len() as u64)
            .sum()
    }

    /// Lines that copytruncate destroyed (in no file on disk).
    pub fn in_no_file(&self) -> u64 {
        self.logs().iter().map(|l| l.in_no_file.len() as u64).sum()
    }

    /// Truncates the writers saw.
    pub fn truncates(&self) -> usize {
        self.logs().iter().map(|l| l.at_risk.len()).sum()
    }

    pub fn at_risk_lines(&self) -> u64 {
        self.logs().iter().map(|l| l.at_risk_lines()).sum()
    }
}

/// The two logs and their tags in the numbered lines.
const LOGS: [(&str, &str); 2] = [("syslog", "s"), ("auth.log", "a")];

/// Runs the torture in `dir` (which must exist and be empty).
pub fn run(dir: &Path, t: &Torture) -> Outcome {
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).expect("create the logs directory");
    let paths: Vec<PathBuf> = LOGS.iter().map(|(n, _)| logs.join(n)).collect();
    for p in &paths {
        File::create(p).expect("create a log");
    }
    let collector = Collector::start(&dir.join("collector"), "");
    let inputs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let agent = match &t.agentd {
        Some(program) => {
            Agent::start_program(program, &dir.join("agent"), collector.addr, &inputs, "")
        }
        None => Agent::start(&dir.join("agent"), collector.addr, &inputs, ""),
    };
    assert!(
        agent.wait_ready(Duration::from_secs(30)),
        "agentd did not become ready: {}",
        agent.log()
    );
    let config = dir.join("logrotate.conf");
    let state = dir.join("logrotate.status");
    let each = t.lines / 2;
    let per_file_rate = (t.rate / 2).max(1);
    let writing = AtomicBool::new(true);
    let started = Instant::now();
    let mut outcome = Outcome::default();
    std::thread::scope(|s| {
        let writers: Vec<_> = LOGS
            .iter()
            .zip(&paths)
            .map(|((_, tag), path)| s.spawn(move || write(path, tag, each, per_file_rate)))
            .collect();
        let rotator = s.spawn(|| rotate(&config, &state, &paths, t.mode, t.seed, &writing));
        let mut risks: Vec<Vec<(u64, u64)>> = writers
            .into_iter()
            .map(|w| w.join().expect("a writer panicked"))
            .collect();
        outcome.auth.at_risk = risks.pop().expect("two writers");
        outcome.syslog.at_risk = risks.pop().expect("two writers");
        outcome.write_seconds = started.elapsed().as_secs_f64();
        writing.store(false, Ordering::SeqCst);
        let (runs, errors) = rotator.join().expect("the rotator panicked");
        outcome.logrotate_runs = runs;
        outcome.logrotate_errors = errors;
    });
    // Every numbered line and both finish lines; or, when some are lost,
    // both finish lines (the last line of each log, read after everything
    // before it) and then no more lines for a few seconds (rotated files
    // and copies are other streams, still on their way).
    let want = t.lines + 2;
    let finished = |tag: &str| {
        let out = collector.logq(&[&format!("finish{tag}")]);
        out.status.success() && !out.stdout.is_empty()
    };
    let mut last = (0, Instant::now());
    crate::wait_until(Duration::from_secs(90), || {
        let n = collector.searchable_lines();
        if n >= want {
            return true;
        }
        if n != last.0 {
            last = (n, Instant::now());
            return false;
        }
        last.1.elapsed() >= SETTLED && LOGS.iter().all(|(_, tag)| finished(tag))
    });
    outcome.total_seconds = started.elapsed().as_secs_f64();
    let out = collector.logq(&[]);
    assert!(
        out.status.success(),
        "logq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    outcome.syslog.counts = count_numbers(&out.stdout, LOGS[0].1, each);
    outcome.auth.counts = count_numbers(&out.stdout, LOGS[1].1, each);
    outcome.rotated_files = fs::read_dir(&logs)
        .map(|d| d.count().saturating_sub(LOGS.len()))
        .unwrap_or(0);
    outcome.syslog.in_no_file = in_no_file(&logs, LOGS[0], each);
    outcome.auth.in_no_file = in_no_file(&logs, LOGS[1], each);
    outcome.agent_log = agent.log();
    outcome
}

/// The numbers of `log`'s lines in no file of `dir` (the log, and its
/// rotated files, plain or gzipped).
fn in_no_file(dir: &Path, (name, tag): (&str, &str), lines: u64) -> Vec<u64> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).expect("list the logs").flatten() {
        let file_name = entry.file_name();
        if !file_name.as_encoded_bytes().starts_with(name.as_bytes()) {
            continue;
        }
        let bytes = fs::read(entry.path()).expect("read a log");
        if file_name.to_string_lossy().ends_with(".gz") {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut text)
                .expect("gunzip a rotated log");
            all.extend(text);
        } else {
            all.extend(bytes);
        }
        all.push(b'\n');
    }
    count_numbers(&all, tag, lines).missing
}

/// Writes `lines` numbered lines tagged `tag` to `path` at `rate` lines/s,
/// what is due every [`WRITE_EVERY`] in one write, then a `finish<tag>`
/// line. Like a daemon that notices its log was replaced, it reopens the
/// path when another file is there (after a rename by logrotate `create`);
/// while the path is missing it writes on to the file it has. Returns the
/// line ranges of the last write before each truncate of its file.
fn write(path: &Path, tag: &str, lines: u64, rate: u64) -> Vec<(u64, u64)> {
    let open = || {
        OpenOptions::new()
            .append(true)
            .open(path)
            .expect("open the log")
    };
    let mut out = open();
    let mut ino = out.metadata().expect("stat the log").ino();
    let started = Instant::now();
    let mut n = 0;
    let mut chunk = String::new();
    let mut at_risk = Vec::new();
    // The last write: its lines, and the file's size after it.
    let mut last: Option<(u64, u64)> = None;
    let mut size = out.metadata().expect("stat the log").len();
    while n < lines {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64 + 1).min(lines);
        chunk.clear();
        let first = n;
        while n < due {
            chunk.push_str(&numbered_line(tag, n));
            chunk.push('\n');
            n += 1;
        }
        if !chunk.is_empty() {
            out.write_all(chunk.as_bytes()).expect("write the log");
            let now = out.metadata().expect("stat the log").len();
            if now < size + chunk.len() as u64 {
                // Truncated since the last write, which was the last one
                // before the truncate.
                at_risk.extend(last);
            }
            size = now;
            last = Some((first, n - 1));
        }
        if let Ok(meta) = fs::metadata(path) {
            if meta.ino() != ino {
                out = open();
                ino = meta.ino();
                size = out.metadata().expect("stat the log").len();
                last = None;
            }
        }
        std::thread::sleep(WRITE_EVERY);
    }
    writeln!(out, "Nov 24 22:20:02 testhost app[7]: finish{tag}").expect("write the log");
    at_risk
}

/// Runs logrotate every [`EVERY`] while `writing`; returns how many runs
/// there were and what the failed ones said.
fn rotate(
    config: &Path,
    state: &Path,
    paths: &[PathBuf],
    mode: Mode,
    seed: u64,
    writing: &AtomicBool,
) -> (u64, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut runs = 0;
    let mut errors = Vec::new();
    let mut next = Instant::now() + EVERY;
    while writing.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(20)));
            continue;
        }
        next += EVERY;
        let files: Vec<String> = paths
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        let text = format!(
            "{} {{\n    rotate 200\n    missingok\n    nomail\n    {}\n}}\n",
            files.join(" "),
            mode.directives(&mut rng)
        );
        fs::write(config, text).expect("write logrotate.conf");
        let out = Command::new(LOGROTATE)
            .arg("-f")
            .arg("-s")
            .arg(state)
            .arg(config)
            .output()
            .expect("run logrotate");
        runs += 1;
        if !out.status.success() || !out.stderr.is_empty() {
            errors.push(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    (runs, errors)
}

/// Whether logrotate is installed.
pub fn logrotate_installed() -> bool {
    Path::new(LOGROTATE).is_file()
}
