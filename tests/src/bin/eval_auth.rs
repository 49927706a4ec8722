//! Detection of ssh attacks on a generated auth scenario (`logq_tests::
//! authgen`): the real detector, `collectord replay`, learns from the
//! training days and alerts on the test days; recall per episode type,
//! alert precision, false alerts per host-day and detection latency,
//! beside the targets.
//!
//! ```text
//! cargo build --release --locked -p collectord -p logq-tests --bin eval-auth
//! target/release/eval-auth [--seed N] [--hosts N] [--train-days N] [--test-days N]
//!                          [--keep DIR] [--collectord PATH] [--timeout SECS]
//! ```
//!
//! The scenario (5 hosts, 3 training and 4 test days by default) is
//! written to a temporary directory, or to `--keep DIR` with its labels
//! (`episodes.json`) to look at afterwards. Then
//! `collectord replay --train DIR/train.log DIR/test.log` runs, collectord
//! being the one next to this program unless `--collectord` names another;
//! it prints one JSON alert a line (`kind`, `lines`, `detected_ts`, ...;
//! see `logq_tests::authgen::score`). Without a collectord that has
//! `replay` the program says so and exits 2.
//!
//! An alert detects an episode when its `lines` hold one of the episode's
//! (for success-after-failures: the success line); an alert that holds no
//! attack line is false, and those on a hard negative (a user mistyping
//! twice, a reboot, the nightly backup) are listed by kind. Latency is
//! `detected_ts` minus the time a reference detector would first know
//! (fail2ban's 5 failures in 10 minutes for bursts and scans; see
//! `Kind::floor`), negative when the alert came first. Targets: recall 1.0
//! on bursts and floods, at least 0.9 overall; at most 0.1 false alerts
//! per host-day; median latency at most 5 s. Exit 0 when every target is
//! met, 1 when one is not (the tests run it so: `tests/it/evaluation.rs`),
//! 2 when the run could not be scored.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use logq_tests::authgen::score::{escape_controls, parse_alerts, score};
use logq_tests::authgen::{Params, Scenario};

struct Args {
    params: Params,
    keep: Option<PathBuf>,
    collectord: Option<PathBuf>,
    timeout: Duration,
}

const USAGE: &str = "eval-auth [--seed N (1)] [--hosts N (5)] [--train-days N (3)] \
[--test-days N (4)] [--keep DIR] [--collectord PATH (beside eval-auth)] [--timeout SECS (1800)]";

fn args() -> Result<Args> {
    let mut a = Args {
        params: Params::default(),
        keep: None,
        collectord: None,
        timeout: Duration::from_secs(1800),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        let p = &mut a.params;
        match flag.as_str() {
            "--seed" => p.seed = value()?.parse().context("--seed")?,
            "--hosts" => p.hosts = value()?.parse().context("--hosts")?,
            "--train-days" => p.train_days = value()?.parse().context("--train-days")?,
            "--test-days" => p.test_days = value()?.parse().context("--test-days")?,
            "--keep" => a.keep = Some(value()?.into()),
            "--collectord" => a.collectord = Some(value()?.into()),
            "--timeout" => a.timeout = Duration::from_secs(value()?.parse().context("--timeout")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\nusage: {USAGE}"),
        }
    }
    let p = &a.params;
    if p.hosts == 0 || p.train_days == 0 || p.test_days == 0 {
        bail!("--hosts, --train-days and --test-days must be at least 1");
    }
    if p.hosts > 240 {
        bail!("--hosts: at most 240");
    }
    Ok(a)
}

/// collectord: `--collectord`, else the one next to this program.
fn collectord(given: Option<PathBuf>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()
            .context("where is eval-auth")?
            .parent()
            .context("eval-auth has no directory")?
            .join("collectord"),
    };
    if !path.is_file() {
        bail!(
            "no collectord at {} (build it: cargo build --release --locked -p collectord; or give --collectord PATH)",
            path.display()
        );
    }
    Ok(path)
}

/// A child's stdout and stderr, read on threads so that neither pipe fills.
struct Captured {
    child: Child,
    out: JoinHandle<io::Result<Vec<u8>>>,
    err: JoinHandle<io::Result<Vec<u8>>>,
}

fn spawn(cmd: &mut Command) -> io::Result<Captured> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map(|_| buf)
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout is piped")));
    let err = reader(Box::new(child.stderr.take().expect("stderr is piped")));
    Ok(Captured { child, out, err })
}

impl Captured {
    /// Exit status, stdout and stderr; the child (ours) is killed if it
    /// runs past `timeout`.
    fn wait(mut self, timeout: Duration) -> Result<(ExitStatus, Vec<u8>, String)> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("killed after {} s (--timeout)", timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let join = |h: JoinHandle<io::Result<Vec<u8>>>| -> Result<Vec<u8>> {
            h.join()
                .map_err(|_| anyhow::anyhow!("a pipe reader panicked"))?
                .context("read a pipe")
        };
        let out = join(self.out)?;
        let err = String::from_utf8_lossy(&join(self.err)?).into_owned();
        Ok((status, out, err))
    }
}

/// The last `n` lines of `text`, indented.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("  {}", escape_controls(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether this collectord knows `replay`: `collectord replay --help`.
fn check_replay(collectord: &Path) -> Result<()> {
    let run = spawn(Command::new(collectord).args(["replay", "--help"]))
        .with_context(|| format!("run {}", collectord.display()))?;
    let (status, _, err) = run
        .wait(Duration::from_secs(30))
        .context("collectord replay --help")?;
    if !status.success() {
        bail!(
            "{} has no `replay` yet (`collectord replay --help` exited with {status}):\n{}\n\
             eval-auth needs `collectord replay --train TRAIN FILE`; build a collectord that has it, or give --collectord PATH",
            collectord.display(),
            tail(&err, 5)
        );
    }
    Ok(())
}

/// Runs the evaluation; `Ok(false)` when a target was missed.
fn run() -> Result<bool> {
    let args = args()?;
    let mut out = io::stdout().lock();
    let collectord = collectord(args.collectord)?;

    let t = Instant::now();
    let s = Scenario::generate_with(args.params.clone());
    let temp;
    let dir = match &args.keep {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("make a temporary directory")?;
            temp.path().to_owned()
        }
    };
    let files = s
        .write(&dir)
        .with_context(|| format!("write the scenario into {}", dir.display()))?;
    let p = &s.params;
    let attacks = s.episodes.iter().filter(|e| e.kind.is_attack()).count();
    writeln!(
        out,
        "auth scenario: seed {}, {} hosts, {} training days ({} lines), {} test days ({} lines), {} attack episodes, {} hard negatives; made in {:.1}s{}",
        p.seed,
        p.hosts,
        p.train_days,
        s.train.len(),
        p.test_days,
        s.test.len(),
        attacks,
        s.episodes.len() - attacks,
        t.elapsed().as_secs_f64(),
        match &args.keep {
            Some(d) => format!(", kept in {}", d.display()),
            None => String::new(),
        }
    )?;
    // After writing, so that --keep has the files even when this fails.
    check_replay(&collectord)?;
    let mut cmd = Command::new(&collectord);
    cmd.arg("replay")
        .arg("--train")
        .arg(&files.train)
        .arg(&files.test);
    writeln!(
        out,
        "running: {} replay --train {} {}",
        collectord.display(),
        files.train.display(),
        files.test.display()
    )?;
    let t = Instant::now();
    let (status, stdout, err) = spawn(&mut cmd)
        .with_context(|| format!("run {}", collectord.display()))?
        .wait(args.timeout)
        .context("collectord replay")?;
    let seconds = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "collectord replay exited with {status} after {seconds:.1}s; its last words:\n{}",
            tail(&err, 20)
        );
    }
    let (records, bad) = parse_alerts(&String::from_utf8_lossy(&stdout));
    // Low-priority records raise nothing: they are not alerts.
    let (low, alerts): (Vec<_>, Vec<_>) = records.into_iter().partition(|a| a.low);
    writeln!(
        out,
        "replay: {seconds:.1}s ({:.0} lines/s), {} alerts and {} low-priority records{}",
        (s.train.len() + s.test.len()) as f64 / seconds.max(1e-9),
        alerts.len(),
        low.len(),
        if bad.is_empty() {
            String::new()
        } else {
            format!(", {} output lines not read as alerts", bad.len())
        }
    )?;
    for (n, why) in bad.iter().take(5) {
        writeln!(out, "  output line {n}: {why}")?;
    }
    writeln!(out)?;
    let report = score(&s.episodes, s.test.len(), s.test_host_days(), &alerts);
    report.print(&s, &alerts, &mut out)?;
    writeln!(out)?;
    writeln!(out, "{}", report.verdict(&s.episodes))?;
    Ok(report.targets(&s.episodes).iter().all(|t| t.met))
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(err) => fail(err),
    }
}

fn fail(err: anyhow::Error) {
    // A closed pipe (`eval-auth | head`) is the reader's choice.
    let broken_pipe = err
        .chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe);
    if broken_pipe {
        return;
    }
    eprintln!("eval-auth: error: {err:#}");
    std::process::exit(2);
}
