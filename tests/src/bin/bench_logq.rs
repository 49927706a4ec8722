//! Search benchmark: logq over what collectord indexed, beside ripgrep and
//! grep over the same lines in a plain file.
//!
//! ```text
//! cargo build --release --bins && target/release/bench-logq [--corpus fleet|synthetic] [--lines N] [--runs R] [--dir DIR]
//! ```
//!
//! Writes the corpus to `DIR/corpus.log`: by default the fleet corpus of
//! `../shared/bench` (`logq_tests::fleet`, seed 42; when it is absent the
//! bench says why and exits 0) with the queries of its README's table,
//! or with `--corpus synthetic` `logq_tests::corpus` (seed 42, 200 hosts)
//! with its own queries (`queries.rs`). Then it ingests it with a real collectord and agentd (timed),
//! then runs each query as whole processes, start-up included, with stdout
//! into a pipe that is drained and counted: logq, `rg` and `grep` (shell
//! pipelines where one grep cannot say it), one warm-up and then R runs of
//! each, interleaved. Prints for each query the hits, p50 and p99 wall
//! milliseconds per tool, how many times faster logq is than each (p50),
//! and logq's peak RSS (getrusage of the finished child). A DIR that holds
//! a finished ingest of the same corpus, N and seed is reused.
//!
//! Each tool runs under this program started again as `bench-logq
//! --measure-child CMD...`, which spawns CMD, waits and reports its wall
//! time and peak RSS (`RUSAGE_CHILDREN`: its only child) on stderr: a peak
//! RSS of a finished child needs wait4, which needs unsafe code, which this
//! crate forbids.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use logq_tests::fleet::{self, Choice, Source};
use logq_tests::{bin, dir_bytes, percentile, Agent, Collector};

#[path = "bench_logq/queries.rs"]
mod queries;

const MEASURED: &str = "bench-logq-measured";

struct Args {
    corpus: Choice,
    lines: u64,
    runs: usize,
    dir: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        corpus: Choice::Fleet,
        lines: 10_000_000,
        runs: 20,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--corpus" => a.corpus = value()?.parse()?,
            "--lines" => a.lines = value()?.parse()?,
            "--runs" => a.runs = value()?.parse()?,
            "--dir" => a.dir = Some(value()?.into()),
            "-h" | "--help" => {
                println!("bench-logq [--corpus fleet (../shared/bench, default) | synthetic] [--lines N (10000000)] [--runs R (20)] [--dir DIR (reused if it holds a finished ingest of the same N and seed)]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(a)
}

/// `bench-logq --measure-child CMD ARGS...`: runs CMD with this process's
/// stdin, stdout and stderr, then writes `bench-logq-measured WALL_NS
/// MAXRSS_KIB EXIT` on stderr.
fn measure_child(cmd: &[String]) -> ! {
    let started = Instant::now();
    let status = Command::new(&cmd[0]).args(&cmd[1..]).status();
    let wall = started.elapsed();
    let code = match status {
        Ok(s) => s.code().unwrap_or(-1),
        Err(e) => {
            eprintln!("cannot run {}: {e}", cmd[0]);
            127
        }
    };
    let rss = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0, |u| u.max_rss());
    eprintln!("{MEASURED} {} {rss} {code}", wall.as_nanos());
    std::process::exit(0)
}

/// What a finished ingest left in DIR, to reuse it.
#[derive(PartialEq)]
struct Stamp {
    corpus: &'static str,
    lines: u64,
    seed: u64,
    corpus_bytes: u64,
}

impl Stamp {
    fn read(path: &Path) -> Option<(Stamp, f64)> {
        let v: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        Some((
            Stamp {
                // Stamps from before `--corpus` are of the synthetic one.
                corpus: match v["corpus"].as_str().unwrap_or("synthetic") {
                    "fleet" => "fleet",
                    "synthetic" => "synthetic",
                    _ => return None,
                },
                lines: v["lines"].as_u64()?,
                seed: v["seed"].as_u64()?,
                corpus_bytes: v["corpus_bytes"].as_u64()?,
            },
            v["ingest_seconds"].as_f64()?,
        ))
    }

    fn write(&self, path: &Path, ingest_seconds: f64) -> Result<()> {
        let v = serde_json::json!({
            "corpus": self.corpus,
            "lines": self.lines,
            "seed": self.seed,
            "corpus_bytes": self.corpus_bytes,
            "ingest_seconds": ingest_seconds,
        });
        fs::write(path, serde_json::to_vec_pretty(&v)?)?;
        Ok(())
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// Writes the corpus and ingests it; returns the seconds from agentd's
/// start to the last line being searchable.
fn ingest(root: &Path, corpus_path: &Path, lines: u64, source: &Source) -> Result<f64> {
    for stale in ["collector", "agent"] {
        let _ = fs::remove_dir_all(root.join(stale));
    }
    source.write(lines, corpus_path)?;
    let mut collector = Collector::start(&root.join("collector"), "");
    let started = Instant::now();
    let mut agent = Agent::start(&root.join("agent"), collector.addr, &[corpus_path], "");
    // Gives up when nothing new became searchable for a while, not after a
    // fixed time: on a machine shared with builds the ingest of 1M fleet
    // lines took more than the 120 s a fixed deadline allowed.
    let stall = Duration::from_secs(120);
    let (mut seen, mut progress) = (0, Instant::now());
    loop {
        let last = collector.searchable_lines();
        if last >= lines {
            break;
        }
        if last > seen {
            (seen, progress) = (last, Instant::now());
        } else if progress.elapsed() > stall {
            bail!("{last} of {lines} lines searchable, none more for {stall:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs_f64();
    agent.terminate(Duration::from_secs(10));
    collector.terminate(Duration::from_secs(60));
    // A stop can cut merges short and leave their files behind; the next
    // start deletes them.
    let mut collector = collector.restart();
    collector.terminate(Duration::from_secs(60));
    Ok(seconds)
}

/// One run of one tool.
struct Sample {
    wall_ms: f64,
    rss_kib: u64,
    hits: u64,
}

/// A command to time; `counts`: it prints a number, not lines.
struct Tool {
    argv: Vec<String>,
    counts: bool,
}

impl Tool {
    fn new(argv: &[&str], counts: bool) -> Tool {
        Tool {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            counts,
        }
    }

    fn shell(script: &str, counts: bool) -> Tool {
        Tool::new(&["sh", "-c", script], counts)
    }

    fn display(&self) -> String {
        if let [sh, c, script] = &self.argv[..] {
            if sh == "sh" && c == "-c" {
                return script.clone();
            }
        }
        let logq = bin("logq").display().to_string();
        self.argv
            .iter()
            .map(|a| {
                if *a == logq {
                    "logq".to_owned()
                } else {
                    a.clone()
                }
            })
            .map(|a| {
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
                {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn run(&self) -> Result<Sample> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("--measure-child")
            .args(&self.argv)
            .env("TZ", "UTC")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stderr = child.stderr.take().expect("piped stderr");
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut buf = vec![0u8; 256 * 1024];
        let (mut newlines, mut head) = (0u64, Vec::new());
        loop {
            let n = stdout.read(&mut buf)?;
            if n == 0 {
                break;
            }
            newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            if head.len() < 64 {
                head.extend_from_slice(&buf[..n.min(64)]);
            }
        }
        child.wait()?;
        let errors = errors.join().expect("stderr reader");
        let report = errors
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(MEASURED))
            .with_context(|| format!("no measurement from {}: {errors}", self.display()))?;
        let f: Vec<&str> = report.split_whitespace().collect();
        let code: i32 = f[2].parse()?;
        // 1 is "nothing found" for all three.
        if code > 1 {
            bail!("{} exited {code}: {errors}", self.display());
        }
        let hits = if self.counts {
            String::from_utf8_lossy(&head).trim().parse().unwrap_or(0)
        } else {
            newlines
        };
        Ok(Sample {
            wall_ms: f[0].parse::<f64>()? / 1e6,
            rss_kib: f[1].parse()?,
            hits,
        })
    }
}

struct Query {
    name: String,
    tools: Vec<(&'static str, Tool)>,
}

/// Results of one tool on one query.
struct Timing {
    p50: f64,
    p99: f64,
    hits: u64,
    rss_mib: f64,
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--measure-child") && argv.len() > 2 {
        measure_child(&argv[2..]);
    }
    let args = args()?;
    let Some(source) = fleet::source(args.corpus)? else {
        println!("bench-logq: skipped: {}", fleet::absent_reason());
        return Ok(());
    };
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    fs::create_dir_all(&root)?;
    let corpus_path = root.join("corpus.log");
    let data_dir = root.join("collector").join("data");
    let stamp_path = root.join("bench-logq.json");

    let corpus_bytes = fs::metadata(&corpus_path).map_or(0, |m| m.len());
    let wanted = |corpus_bytes| Stamp {
        corpus: args.corpus.name(),
        lines: args.lines,
        seed: fleet::SEED,
        corpus_bytes,
    };
    let ingest_seconds = match Stamp::read(&stamp_path) {
        Some((stamp, seconds))
            if stamp == wanted(corpus_bytes) && data_dir.join("index/meta.json").is_file() =>
        {
            println!("reusing the corpus and ingest in {}", root.display());
            seconds
        }
        _ => {
            let _ = fs::remove_file(&stamp_path);
            println!(
                "writing {} lines to {} and ingesting them...",
                args.lines,
                corpus_path.display()
            );
            let seconds = ingest(&root, &corpus_path, args.lines, &source)?;
            wanted(fs::metadata(&corpus_path)?.len()).write(&stamp_path, seconds)?;
            seconds
        }
    };
    let raw_bytes = fs::metadata(&corpus_path)?.len();
    let (index_bytes, archive_bytes) = (
        dir_bytes(&data_dir.join("index")),
        dir_bytes(&data_dir.join("archive")),
    );
    println!(
        "corpus: {}, {} lines, {:.1} MB, {:.0} bytes/line; ingest (agentd + collectord): {:.1} s, {:.0} lines/s",
        args.corpus.name(),
        args.lines,
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / args.lines as f64,
        ingest_seconds,
        args.lines as f64 / ingest_seconds
    );
    println!(
        "on disk: index {:.1} MB ({:.3}/raw byte), archive {:.1} MB ({:.3}/raw byte)",
        index_bytes as f64 / 1e6,
        index_bytes as f64 / raw_bytes as f64,
        archive_bytes as f64 / 1e6,
        archive_bytes as f64 / raw_bytes as f64
    );

    let rg = on_path("rg");
    let grep = on_path("grep");
    if rg.is_none() {
        println!("rg: not installed (apt-get install ripgrep); its columns are skipped");
    }
    if grep.is_none() {
        println!("grep: not installed; its columns are skipped");
    }
    let queries = queries::queries(
        args.corpus,
        args.lines,
        &data_dir,
        &corpus_path,
        rg.is_some(),
        grep.is_some(),
    );

    println!(
        "\n{} runs of each after one warm-up; wall ms, start-up included, output into a drained pipe; load average {}\n",
        args.runs,
        fleet::load_average()
    );
    println!(
        "{:<31} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "query",
        "hits",
        "logq p50",
        "logq p99",
        "rg p50",
        "rg p99",
        "grep p50",
        "grep p99",
        "rg/logq",
        "grep/logq",
        "logq MiB"
    );
    let mut warnings = Vec::new();
    for q in &queries {
        let timings = time_query(q, args.runs)?;
        let get = |name: &str| {
            q.tools
                .iter()
                .position(|(n, _)| *n == name)
                .map(|i| &timings[i])
        };
        let logq = get("logq").expect("every query runs logq");
        let cell = |t: Option<&Timing>, f: fn(&Timing) -> f64| {
            t.map_or("-".to_owned(), |t| format!("{:.1}", f(t)))
        };
        let ratio =
            |t: Option<&Timing>| t.map_or("-".to_owned(), |t| format!("{:.2}", t.p50 / logq.p50));
        println!(
            "{:<31} {:>8} {:>9.1} {:>9.1} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9.1}",
            q.name,
            logq.hits,
            logq.p50,
            logq.p99,
            cell(get("rg"), |t| t.p50),
            cell(get("rg"), |t| t.p99),
            cell(get("grep"), |t| t.p50),
            cell(get("grep"), |t| t.p99),
            ratio(get("rg")),
            ratio(get("grep")),
            logq.rss_mib
        );
        for name in ["rg", "grep"] {
            if let Some(t) = get(name) {
                if t.hits != logq.hits {
                    warnings.push(format!(
                        "WARNING: {}: logq found {} lines, {name} {}",
                        q.name, logq.hits, t.hits
                    ));
                }
            }
        }
    }
    println!(
        "\nrg/logq, grep/logq: p50 of the other tool over p50 of logq (above 1: logq is faster); load average now {}",
        fleet::load_average()
    );
    for w in &warnings {
        println!("{w}");
    }
    println!("\ncommands:");
    for q in &queries {
        println!("  {}:", q.name);
        for (name, tool) in &q.tools {
            println!("    {name:<5} {}", tool.display());
        }
    }
    Ok(())
}

/// Warm-up, then `runs` interleaved runs of each tool.
fn time_query(q: &Query, runs: usize) -> Result<Vec<Timing>> {
    let mut samples: Vec<Vec<Sample>> = q.tools.iter().map(|_| Vec::new()).collect();
    for (_, tool) in &q.tools {
        tool.run()?;
    }
    for _ in 0..runs {
        for (i, (_, tool)) in q.tools.iter().enumerate() {
            samples[i].push(tool.run()?);
        }
    }
    Ok(samples
        .iter()
        .map(|s| {
            let mut walls: Vec<f64> = s.iter().map(|s| s.wall_ms).collect();
            walls.sort_by(f64::total_cmp);
            Timing {
                p50: percentile(&walls, 0.5),
                p99: percentile(&walls, 0.99),
                hits: s.iter().map(|s| s.hits).max().unwrap_or(0),
                rss_mib: s.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0,
            }
        })
        .collect())
}
