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
//! Prints lines/s end to end, CPU seconds per million lines and peak RSS of
//! each side, index + archive bytes per raw byte, and the time from a line's
//! write to it being searchable (p50, p99) under a steady load.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use logq_tests::corpus::Corpus;
use logq_tests::fleet::{self, Choice};
use logq_tests::{cpu_seconds, dir_bytes, percentile, rss_kib, wait_until, Agent, Collector};

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
}

fn args() -> Result<Args> {
    let mut a = Args {
        corpus: Choice::Fleet,
        lines: 2_000_000,
        rate: 0,
        dir: None,
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
            "-h" | "--help" => {
                println!("bench-ingest [--corpus fleet (../shared/bench, default) | synthetic] [--lines N (2000000)] [--rate LINES_PER_S for the latency run (fleet 5000, synthetic 50000)] [--dir DIR]");
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

struct Side {
    cpu_s: f64,
    peak_mib: f64,
}

fn measure(pid: u32) -> Side {
    Side {
        cpu_s: cpu_seconds(pid).unwrap_or(f64::NAN),
        peak_mib: rss_kib(pid).map_or(f64::NAN, |(hwm, _)| hwm as f64 / 1024.0),
    }
}

fn main() -> Result<()> {
    let args = args()?;
    let benchgen = match args.corpus {
        Choice::Fleet => match fleet::benchgen()? {
            Some(path) => Some(path),
            None => {
                println!("bench-ingest: skipped: {}", fleet::absent_reason());
                return Ok(());
            }
        },
        Choice::Synthetic => None,
    };
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    fs::create_dir_all(&root)?;
    // A DIR of an earlier run: its index would hold the finish marker and
    // its agents' spools would be sent again.
    for stale in ["collector", "agent", "latency", "rsyslog"] {
        let _ = fs::remove_dir_all(root.join(stale));
    }

    // The corpus, written once, and its last line: the finish marker.
    let corpus_path = root.join("corpus.log");
    match &benchgen {
        Some(benchgen) => {
            fleet::generate(benchgen, args.lines, &corpus_path)?;
            let stamp = fleet::last_stamp(&corpus_path)?;
            let mut out = OpenOptions::new().append(true).open(&corpus_path)?;
            writeln!(
                out,
                "{stamp} bench1 bench[1]: benchfinishmarker seq={:010}",
                args.lines + 1
            )?;
        }
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&corpus_path)?);
            let mut corpus = Corpus::new(42, 200);
            for _ in 0..args.lines {
                corpus.line(&mut out)?;
            }
            writeln!(out, "Nov 28 23:59:59 web1 bench[1]: benchfinishmarker")?;
        }
    }
    let raw_bytes = fs::metadata(&corpus_path)?.len();
    let n = args.lines + 1;
    println!(
        "corpus: {}, {n} lines, {:.1} MB, {:.0} bytes/line; load average {}",
        args.corpus.name(),
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / n as f64,
        load_average()
    );

    // 1. Throughput: the agent starts on the whole corpus.
    let mut collector = Collector::start(&root.join("collector"), "");
    let started = Instant::now();
    let mut agent = Agent::start(&root.join("agent"), collector.addr, &[&corpus_path], "");
    if !wait_until(Duration::from_secs(3600), || {
        collector.count(&["benchfinishmarker"]) == 1
    }) {
        bail!("the corpus never became searchable");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let indexed = collector.count(&[]);
    let (agent_side, collector_side) = (measure(agent.child.id()), measure(collector.child.id()));
    agent.terminate(Duration::from_secs(10));
    collector.terminate(Duration::from_secs(30));
    // A stop can cut tantivy merges short and leave their files behind; the
    // next start deletes them. Measure what stays on disk.
    let mut collector = collector.restart();
    collector.terminate(Duration::from_secs(30));
    let index_bytes = dir_bytes(&collector.data_dir.join("index"));
    let archive_bytes = dir_bytes(&collector.data_dir.join("archive"));
    if indexed != n {
        println!("WARNING: {indexed} lines searchable, {n} written");
    }

    // 2. Latency under a steady load.
    let source = match args.corpus {
        Choice::Fleet => Source::File(corpus_path.clone()),
        Choice::Synthetic => Source::Synthetic,
    };
    let (p50, p99, probes) = latency(&root.join("latency"), args.rate, source)?;

    // 3. rsyslog on the same corpus.
    let rsyslog = rsyslog(&root.join("rsyslog"), &corpus_path, n);

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
        "<= 20"
    );
    println!(
        "{:<44} {:>14.1} {:>14} {:>10}",
        "collector peak RSS MiB",
        collector_side.peak_mib,
        rsyslog
            .as_ref()
            .map_or("-".into(), |r| format!("{:.1}", r.receiver.peak_mib)),
        "<= 1024"
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
        "<= 0.5"
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
        "<= 2000"
    );
    println!("load average at the end {}", load_average());
    Ok(())
}

/// The 1, 5 and 15 minute load averages: other work on the machine makes
/// the figures noisy.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").map_or("unknown".to_owned(), |l| {
        l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    })
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

struct Rsyslog {
    lines_per_s: f64,
    sender: Side,
    receiver: Side,
    out_bytes: u64,
}

/// rsyslog imfile → omfwd (TCP) → imtcp → omfile over the same corpus.
fn rsyslog(dir: &Path, corpus: &Path, n: u64) -> Option<Rsyslog> {
    let Ok(rsyslogd) = which("rsyslogd") else {
        println!("rsyslog: rsyslogd not installed (apt-get install rsyslog); comparison skipped");
        return None;
    };
    let run = || -> Result<Rsyslog> {
        fs::create_dir_all(dir.join("rx"))?;
        fs::create_dir_all(dir.join("tx"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = dir.join("out.log");
        fs::write(
            dir.join("rx.conf"),
            format!(
                "global(workDirectory=\"{rx}\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
                 action(type=\"omfile\" file=\"{out}\" template=\"RSYSLOG_FileFormat\" asyncWriting=\"on\" ioBufferSize=\"1m\")\n",
                rx = dir.join("rx").display(),
                out = out.display()
            ),
        )?;
        fs::write(
            dir.join("tx.conf"),
            format!(
                "global(workDirectory=\"{tx}\")\nmodule(load=\"imfile\")\ninput(type=\"imfile\" file=\"{corpus}\" tag=\"bench\")\n\
                 action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\" queue.type=\"linkedList\" queue.size=\"100000\")\n",
                tx = dir.join("tx").display(),
                corpus = corpus.display()
            ),
        )?;
        let start = |name: &str| {
            Command::new(&rsyslogd)
                .args(["-n", "-f"])
                .arg(dir.join(format!("{name}.conf")))
                .arg("-i")
                .arg(dir.join(format!("{name}.pid")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.join(format!("{name}.log"))).expect("rsyslog log file"))
                .spawn()
        };
        let mut rx = start("rx")?;
        wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let t0 = Instant::now();
        let mut tx = start("tx")?;
        let mut seen = 0u64;
        let mut offset = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let done = wait_until(Duration::from_secs(3600), || {
            if let Ok(mut f) = File::open(&out) {
                if f.seek(SeekFrom::Start(offset)).is_ok() {
                    while let Ok(k) = f.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        seen += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
                        offset += k as u64;
                    }
                }
            }
            seen >= n
        });
        let elapsed = t0.elapsed().as_secs_f64();
        let (sender, receiver) = (measure(tx.id()), measure(rx.id()));
        let _ = tx.kill();
        let _ = rx.kill();
        let _ = tx.wait();
        let _ = rx.wait();
        if !done {
            bail!("rsyslog delivered {seen} of {n} lines");
        }
        Ok(Rsyslog {
            lines_per_s: n as f64 / elapsed,
            sender,
            receiver,
            out_bytes: fs::metadata(&out)?.len(),
        })
    };
    match run() {
        Ok(r) => Some(r),
        Err(e) => {
            println!("rsyslog: comparison failed: {e:#}");
            None
        }
    }
}

fn which(name: &str) -> Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{name} not found")
}
