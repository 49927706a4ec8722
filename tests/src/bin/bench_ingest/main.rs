//! End-to-end ingest benchmark: agentd → collectord on this machine, beside
//! rsyslog (imfile → omfwd → imtcp → omfile, no index) on the same corpus.
//!
//! ```text
//! cargo build --release --bins && target/release/bench-ingest [--corpus fleet|synthetic] [--lines N] [--rate LINES_PER_S] [--dir DIR]
//! ```
//!
//! The corpus is the fleet corpus of `../shared/bench` by default
//! (`logq_tests::fleet`: seed 42, RFC 3339 stamps, ` seq=` at every line's
//! end); when it is absent the bench says why and exits 0. `--corpus
//! synthetic` writes `logq_tests::corpus` instead (seed 42, 200 hosts). A
//! last line with the word `benchfinishmarker` (in the corpus's format)
//! tells when everything is searchable; the latency run appends the same
//! corpus's lines (the fleet file from its start, again at its end) with
//! `latencyprobeK` lines among them.
//!
//! Prints lines/s end to end (and again with the detectors off, with what
//! they cost in lines/s and collector CPU; see `throughput.rs`), CPU
//! seconds per million lines and peak RSS of each side, index + archive bytes per raw byte, the time from a line's
//! write to it being searchable (p50, p99) under a steady load, and
//! collectord's memory per idle connected agent (`--idle N`, 5,000 by
//! default, 0 for none; see `idle.rs`), and a fleet-shaped run of the same
//! corpus (`--fleet AGENTS` agentd processes with 2 files each, 200 by
//! default, 0 for none; see `fleet_shaped.rs`). The targets are issue 15's.

mod fleet_shaped;
mod idle;
mod rsyslog;
mod throughput;

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use logq_tests::corpus::Corpus;
use logq_tests::fleet::{self, Choice};
use logq_tests::{cpu_seconds, percentile, rss_kib, wait_until, Agent, Collector};

/// The steady load of the latency run on the fleet corpus, lines/s: well
/// below what one collector takes on a busy 2-core machine (13,000 lines/s
/// measured at a load average of 6; 40,000 on an idle one), so that the
/// probes measure the time to searchable, not a growing backlog (at 50,000
/// lines/s most probes time out).
const FLEET_RATE: u64 = 5_000;

struct Args {
    corpus: Choice,
    lines: u64,
    rate: u64,
    dir: Option<PathBuf>,
    idle: usize,
    fleet: usize,
    /// Throughput runs with and without the detectors, alternating.
    rounds: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        corpus: Choice::Fleet,
        lines: 2_000_000,
        rate: 0,
        dir: None,
        idle: 5_000,
        fleet: 200,
        rounds: 2,
    };
    let mut rate = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--corpus" => a.corpus = value()?.parse()?,
            "--lines" => a.lines = value()?.parse()?,
            "--rate" => rate = Some(value()?.parse()?),
            "--dir" => a.dir = Some(value()?.into()),
            "--idle" => a.idle = value()?.parse()?,
            "--fleet" => a.fleet = value()?.parse()?,
            "--rounds" => a.rounds = value()?.parse::<usize>()?.max(1),
            "-h" | "--help" => {
                println!("bench-ingest [--corpus fleet (../shared/bench, default) | synthetic] [--lines N (2000000)] [--rate LINES_PER_S for the latency run (fleet 5000, synthetic 50000)] [--dir DIR] [--idle AGENTS (5000; 0: none)] [--fleet AGENTS (200, 2 files each; 0: none)] [--rounds N (2: throughput with and without the detectors, alternating)]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    a.rate = rate.unwrap_or(match a.corpus {
        Choice::Fleet => FLEET_RATE,
        Choice::Synthetic => 50_000,
    });
    Ok(a)
}

pub struct Side {
    cpu_s: f64,
    peak_mib: f64,
}

pub fn measure(pid: u32) -> Side {
    Side {
        cpu_s: cpu_seconds(pid).unwrap_or(f64::NAN),
        peak_mib: rss_kib(pid).map_or(f64::NAN, |(hwm, _)| hwm as f64 / 1024.0),
    }
}

fn main() -> Result<()> {
    let args = args()?;
    let Some(source) = fleet::source(args.corpus)? else {
        println!("bench-ingest: skipped: {}", fleet::absent_reason());
        return Ok(());
    };
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    fs::create_dir_all(&root)?;
    // A DIR of an earlier run: its index would hold the finish marker and
    // its agents' spools would be sent again.
    for stale in [
        "detect-on",
        "detect-off",
        "latency",
        "rsyslog",
        "idle",
        "fleet",
    ] {
        let _ = fs::remove_dir_all(root.join(stale));
    }

    // The corpus, written once, and its last line: the finish marker.
    let corpus_path = root.join("corpus.log");
    source.write(args.lines, &corpus_path)?;
    let mut out = OpenOptions::new().append(true).open(&corpus_path)?;
    match source {
        fleet::Source::Fleet(_) => {
            let stamp = fleet::last_stamp(&corpus_path)?;
            writeln!(
                out,
                "{stamp} bench1 bench[1]: benchfinishmarker seq={:010}",
                args.lines + 1
            )?;
        }
        fleet::Source::Synthetic => {
            writeln!(out, "Nov 28 23:59:59 web1 bench[1]: benchfinishmarker")?
        }
    }
    let raw_bytes = fs::metadata(&corpus_path)?.len();
    let n = args.lines + 1;
    println!(
        "corpus: {}, {n} lines, {:.1} MB, {:.0} bytes/line; load average {}",
        args.corpus.name(),
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / n as f64,
        fleet::load_average()
    );

    // 1. Throughput: the agent starts on the whole corpus; then again with
    // the detectors off.
    // Rounds of the two alternate: this machine's speed drifts by 15% over
    // minutes, and one pair of short runs can show either one ahead.
    let (mut ons, mut offs) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let dir = |kind: &str| root.join(format!("detect-{kind}-{round}"));
        ons.push(throughput::run(&dir("on"), &corpus_path, "")?);
        offs.push(throughput::run(
            &dir("off"),
            &corpus_path,
            "detect = false",
        )?);
    }
    let (on, off) = (throughput::Mean::of(&ons), throughput::Mean::of(&offs));
    for (run, name) in ons
        .iter()
        .map(|r| (r, "with the detectors"))
        .chain(offs.iter().map(|r| (r, "without them")))
    {
        if run.indexed != n {
            println!(
                "WARNING: {} lines searchable {name}, {n} written",
                run.indexed
            );
        }
    }
    let elapsed = on.seconds;
    let first = &ons[0];
    let agent_side = Side {
        cpu_s: on.agent_cpu_s,
        peak_mib: first.agent.peak_mib,
    };
    let collector_side = Side {
        cpu_s: on.collector_cpu_s,
        peak_mib: first.collector.peak_mib,
    };
    let (index_bytes, archive_bytes) = (first.index_bytes, first.archive_bytes);

    // 2. Latency under a steady load.
    let source = match args.corpus {
        Choice::Fleet => Source::File(corpus_path.clone()),
        Choice::Synthetic => Source::Synthetic,
    };
    let (p50, p99, probes) = latency(&root.join("latency"), args.rate, source)?;

    // 3. rsyslog on the same corpus.
    let rsyslog = rsyslog::run(&root.join("rsyslog"), &corpus_path, n);

    // 4. Idle agents (`--idle 0`: none).
    let idle = match args.idle {
        0 => None,
        agents => Some(idle::run(&root.join("idle"), agents)?),
    };

    // 5. The same corpus from a fleet of agents.
    let fleet = match args.fleet {
        0 => None,
        agents => match fleet_shaped::run(&root.join("fleet"), &corpus_path, agents, 2) {
            Ok(fleet) => Some(fleet),
            Err(e) => {
                println!("fleet-shaped run: skipped: {e:#}");
                None
            }
        },
    };

    let per_m = |s: f64| s / (n as f64 / 1e6);
    println!();
    println!(
        "{:<44} {:>14} {:>14} {:>10}",
        "figure", "logq", "rsyslog", "target"
    );
    println!(
        "{:<44} {:>14.0} {:>14} {:>10}",
        "lines/s end to end",
        n as f64 / elapsed,
        rsyslog
            .as_ref()
            .map_or("-".into(), |r| format!("{:.0}", r.lines_per_s)),
        ">= 100000"
    );
    println!(
        "{:<44} {:>14.0} {:>14} {:>10}",
        format!("  the same without the detectors ({} rounds)", args.rounds),
        n as f64 / off.seconds,
        "-",
        ""
    );
    println!(
        "{:<44} {:>14} {:>14} {:>10}",
        "  detection's cost: lines/s, collector CPU",
        format!(
            "{:.0}% / {:.0}%",
            100.0 * (1.0 - off.seconds / on.seconds),
            100.0 * (on.collector_cpu_s / off.collector_cpu_s - 1.0)
        ),
        "-",
        "<= 20%"
    );
    println!(
        "{:<44} {:>14.2} {:>14} {:>10}",
        "agent CPU-s per million lines",
        per_m(agent_side.cpu_s),
        rsyslog
            .as_ref()
            .map_or("-".into(), |r| format!("{:.2}", per_m(r.sender.cpu_s))),
        "<= 2"
    );
    println!(
        "{:<44} {:>14.2} {:>14} {:>10}",
        "collector CPU-s per million lines",
        per_m(collector_side.cpu_s),
        rsyslog
            .as_ref()
            .map_or("-".into(), |r| format!("{:.2}", per_m(r.receiver.cpu_s))),
        "<= 10"
    );
    println!(
        "{:<44} {:>14.1} {:>14} {:>10}",
        "agent peak RSS MiB",
        agent_side.peak_mib,
        rsyslog
            .as_ref()
            .map_or("-".into(), |r| format!("{:.1}", r.sender.peak_mib)),
        "<= 10"
    );
    println!(
        "{:<44} {:>14.1} {:>14} {:>10}",
        "collector peak RSS MiB",
        collector_side.peak_mib,
        rsyslog
            .as_ref()
            .map_or("-".into(), |r| format!("{:.1}", r.receiver.peak_mib)),
        "<= 512"
    );
    println!(
        "{:<44} {:>14.3} {:>14} {:>10}",
        "index bytes / raw byte",
        index_bytes as f64 / raw_bytes as f64,
        "-",
        ""
    );
    println!(
        "{:<44} {:>14.3} {:>14} {:>10}",
        "archive bytes / raw byte",
        archive_bytes as f64 / raw_bytes as f64,
        rsyslog.as_ref().map_or("-".into(), |r| format!(
            "{:.3}",
            r.out_bytes as f64 / raw_bytes as f64
        )),
        ""
    );
    println!(
        "{:<44} {:>14.3} {:>14} {:>10}",
        "index + archive / raw",
        (index_bytes + archive_bytes) as f64 / raw_bytes as f64,
        "-",
        "<= 0.35"
    );
    println!(
        "{:<44} {:>14.0} {:>14} {:>10}",
        format!(
            "write→searchable p50 ms ({probes} probes, {} lines/s)",
            args.rate
        ),
        p50 * 1e3,
        "-",
        ""
    );
    println!(
        "{:<44} {:>14.0} {:>14} {:>10}",
        "write→searchable p99 ms",
        p99 * 1e3,
        "-",
        "<= 1000"
    );
    if let Some(idle) = &idle {
        println!(
            "{:<44} {:>14.1} {:>14} {:>10}",
            format!("collector RSS MiB, {} idle agents", idle.agents),
            idle.after_kib as f64 / 1024.0,
            "-",
            ""
        );
        println!(
            "{:<44} {:>14.1} {:>14} {:>10}",
            "collector KiB per idle agent",
            (idle.after_kib as f64 - idle.before_kib as f64) / idle.agents.max(1) as f64,
            "-",
            ""
        );
    }
    if let Some(f) = &fleet {
        println!(
            "fleet-shaped: {} agents, {} files, {} lines",
            f.agents, f.files, f.lines
        );
        let row = |name: &str, value: String, target: &str| {
            println!("{name:<44} {value:>14} {:>14} {target:>10}", "-");
        };
        row(
            "  lines/s end to end",
            format!("{:.0}", f.lines as f64 / f.seconds),
            ">= 100000",
        );
        row(
            "  collector CPU-s per million lines",
            format!("{:.2}", f.collector_cpu_s / (f.lines as f64 / 1e6)),
            "<= 10",
        );
        row(
            "  collector peak RSS MiB",
            format!("{:.1}", f.collector_peak_mib),
            "<= 512",
        );
        row(
            "  agent peak RSS MiB, largest / mean",
            format!("{:.1} / {:.1}", f.agent_peak_mib_max, f.agent_peak_mib_mean),
            "<= 10",
        );
    }
    println!("load average at the end {}", fleet::load_average());
    Ok(())
}

/// Where the latency run's lines come from.
enum Source {
    /// `logq_tests::corpus`, seed 7.
    Synthetic,
    /// The lines of this file, from its start, again when it ends.
    File(PathBuf),
}

impl Source {
    /// A writer of one line at a time (with its newline), and the probe
    /// line with a word, in the same format.
    #[allow(clippy::type_complexity)]
    fn open(
        self,
    ) -> Result<(
        Box<dyn FnMut(&mut Vec<u8>) -> std::io::Result<()> + Send>,
        fn(&str) -> String,
    )> {
        Ok(match self {
            Source::Synthetic => {
                let mut corpus = Corpus::new(7, 200);
                (
                    Box::new(move |buf: &mut Vec<u8>| corpus.line(buf)),
                    |word| format!("Nov 28 12:00:00 web1 bench[2]: {word}"),
                )
            }
            Source::File(path) => {
                let mut lines = BufReader::with_capacity(1 << 20, File::open(&path)?);
                (
                    Box::new(move |buf: &mut Vec<u8>| {
                        if lines.read_until(b'\n', buf)? == 0 {
                            lines.seek(SeekFrom::Start(0))?;
                            lines.read_until(b'\n', buf)?;
                        }
                        Ok(())
                    }),
                    |word| format!("2026-11-20T12:00:00.000000+00:00 bench1 bench[2]: {word}"),
                )
            }
        })
    }
}

/// Appends corpus lines at `rate` lines/s for 15 s and, every 200 ms, a probe
/// line; returns p50 and p99 seconds from a probe's write to logq finding it.
fn latency(dir: &Path, rate: u64, source: Source) -> Result<(f64, f64, usize)> {
    fs::create_dir_all(dir)?;
    let (mut line, probe) = source.open()?;
    let path = dir.join("live.log");
    File::create(&path)?;
    let collector = Collector::start(&dir.join("collector"), "");
    let agent = Agent::start(&dir.join("agent"), collector.addr, &[&path], "");
    agent.wait_ready(Duration::from_secs(10));
    let file = Arc::new(Mutex::new(OpenOptions::new().append(true).open(&path)?));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (file, stop) = (file.clone(), stop.clone());
        std::thread::spawn(move || -> Result<()> {
            let started = Instant::now();
            let mut written = 0u64;
            let mut buf = Vec::with_capacity(1 << 20);
            while !stop.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                buf.clear();
                while written < due {
                    line(&mut buf)?;
                    written += 1;
                }
                file.lock().expect("writer lock").write_all(&buf)?;
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    };
    let mut samples = Vec::new();
    let begin = Instant::now();
    let mut k = 0;
    while begin.elapsed() < Duration::from_secs(15) {
        k += 1;
        let word = format!("latencyprobe{k}");
        let t0 = Instant::now();
        writeln!(file.lock().expect("writer lock"), "{}", probe(&word))?;
        if wait_until(Duration::from_secs(10), || collector.count(&[&word]) == 1) {
            samples.push(t0.elapsed().as_secs_f64());
        } else {
            samples.push(f64::INFINITY);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread")?;
    samples.sort_by(f64::total_cmp);
    Ok((
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len(),
    ))
}
