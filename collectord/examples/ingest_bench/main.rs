//! Ingest benchmark: the real server, writer and store in this process, on
//! loopback, fed by simulated agents with a synthetic syslog corpus
//! (~150-byte lines: sshd, sudo, kernel firewall, cron, systemd, nginx,
//! postfix, an application with request ids).
//!
//! ```text
//! cargo run --release -p collectord --example ingest_bench -- [LINES] [--agents N] [--batch LINES] [--threads N] [--corpus numbered] [--file CORPUS] [--detect] [--dump FILE]
//! ```
//!
//! `--file CORPUS` takes the lines from a file (the fleet corpus of
//! `../shared/bench`, say) instead of generating them: its first LINES
//! lines, each agent taking the next LINES/N of them.
//!
//! Prints lines/s end to end (first batch sent to last ACK), collector CPU
//! seconds per million lines (process CPU minus the simulated agents'
//! threads) and its split by thread (the writer's share is the steadiest
//! figure from run to run), ACK latency, and bytes on disk per raw byte (after a restart
//! has removed the files of merges the stop cut short), with the index
//! broken down by file and field, as the writer left it and once merged
//! into one segment; then the time to read records back from the archive.

// A benchmark program: a panic is its report that something it needs failed.
#![allow(clippy::unwrap_used)]

mod agent;
mod corpus;
mod sizes;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collectord::ingest::Ingest;
use collectord::net::connection::{Limits, Shared};
use collectord::net::server;
use collectord::notify::Stats;
use collectord::writer;
use logcore::wire::{self, Frame, WireRecord, WireStream};
use logstore::index;
use logstore::retention::Policy;
use logstore::StoreOptions;
use tantivy::Index;
use tokio::sync::{mpsc, watch};

use agent::{agent, cpu_by_thread, cpu_seconds_self, frame_bytes};
use corpus::{line, numbered_line, Rng};
use sizes::{read_back, Sizes};

struct Args {
    lines: u64,
    agents: u64,
    batch: u64,
    threads: u32,
    numbered: bool,
    /// Write the corpus here (one line each) and exit.
    dump: Option<String>,
    /// Read the corpus from this file instead of generating it.
    file: Option<String>,
    /// Run the anomaly detectors on every line (`--detect`), as collectord
    /// does by default.
    detect: bool,
}

fn args() -> Args {
    let mut a = Args {
        lines: 1_000_000,
        agents: 1,
        batch: 2000,
        threads: 1,
        numbered: false,
        dump: None,
        file: None,
        detect: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .expect("a number after the flag")
        };
        match arg.as_str() {
            "--agents" => a.agents = num(),
            "--batch" => a.batch = num(),
            "--threads" => a.threads = num() as u32,
            "--corpus" => a.numbered = it.next().as_deref() == Some("numbered"),
            "--dump" => a.dump = it.next(),
            "--file" => a.file = it.next(),
            "--detect" => a.detect = true,
            n => a.lines = n.parse().expect("LINES is a number"),
        }
    }
    a
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    // The corpus, encoded up front so that generating it is not measured.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut file = a.file.as_ref().map(|p| {
        use std::io::BufRead;
        std::io::BufReader::new(std::fs::File::open(p).unwrap()).split(b'\n')
    });
    let mut raw_bytes = 0u64;
    let per_agent = a.lines / a.agents;
    let mut all_batches = Vec::new();
    let mut n = 0;
    for agent_id in 0..a.agents {
        let mut batches = Vec::new();
        let mut offset = 0u64;
        let mut seq = 0;
        let mut left = per_agent;
        while left > 0 {
            let count = left.min(a.batch);
            left -= count;
            let records = (0..count)
                .map(|_| {
                    let l = if let Some(file) = &mut file {
                        file.next().expect("the file has LINES lines").unwrap()
                    } else if a.numbered {
                        numbered_line(n).into_bytes()
                    } else {
                        line(&mut rng, n).into_bytes()
                    };
                    n += 1;
                    raw_bytes += l.len() as u64 + 1;
                    let r = WireRecord {
                        offset,
                        end: offset + l.len() as u64 + 1,
                        flags: 0,
                        line: l,
                    };
                    offset = r.end;
                    r
                })
                .collect();
            seq += 1;
            let streams = vec![WireStream {
                stream_id: agent_id * 1000 + 1,
                path: "/var/log/syslog".into(),
                records,
            }];
            batches.push(frame_bytes(&Frame::Batch {
                batch_seq: seq,
                read_time_ms: 0,
                streams,
            }));
        }
        all_batches.push(batches);
    }
    let lines = n;
    if let Some(path) = &a.dump {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for b in all_batches.iter().flatten() {
            let Ok(Frame::Batch { streams, .. }) = Frame::decode(b) else {
                unreachable!()
            };
            for r in &streams[0].records {
                out.write_all(&r.line).unwrap();
                out.write_all(b"\n").unwrap();
            }
        }
        return;
    }

    let store_options = StoreOptions {
        data_dir: dir.path().to_owned(),
        writer_memory_mb: 128,
        writer_threads: a.threads,
        retention: Policy { days: 0, bytes: 0 },
        mark_limits: Default::default(),
    };
    let mut store = Ingest::open(&store_options).unwrap();
    let config = collectord::config::Config::default();
    let detect_options = collectord::detect::DetectOptions::from_config(&config);
    if a.detect {
        store.start_detection(detect_options.clone()).unwrap();
    }
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel(writer::QUEUE);
    let writer_stats = stats.clone();
    let writer_store_options = store_options.clone();
    let writer = std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let (_options, options) = watch::channel(writer::WriterOptions {
                commit_interval: Duration::from_millis(500),
                retention: Policy { days: 0, bytes: 0 },
                detect: detect_options,
                mark_limits: Default::default(),
                min_free_mb: 0,
            });
            writer::run(Ok(store), writer_store_options, rx, options, writer_stats)
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let limits = Limits {
        max_connections: 64,
        max_pending: 64,
        per_source: 64,
        max_frame: wire::DEFAULT_MAX_FRAME,
        window: 8,
        hello_timeout: Duration::from_secs(5),
        frame_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(300),
        buffer_bytes: 128 << 20,
    };
    let budget = collectord::net::budget::Budget::new(limits.buffer_bytes);
    let server = rt.spawn(server::run(
        listener,
        Shared::new(
            watch::channel(limits).1,
            tx,
            stats.clone(),
            watch::channel(None).1,
            budget,
        ),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let cpu0 = cpu_seconds_self();
    let threads0 = cpu_by_thread();
    let t0 = Instant::now();
    let agents: Vec<_> = all_batches
        .into_iter()
        .enumerate()
        .map(|(i, b)| std::thread::spawn(move || agent(addr, i as u64, b)))
        .collect();
    let mut agent_cpu = 0.0;
    let mut latencies = Vec::new();
    for h in agents {
        let (cpu, l) = h.join().unwrap();
        agent_cpu += cpu;
        latencies.extend(l);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds_self() - cpu0 - agent_cpu;
    let threads: Vec<(String, f64)> = cpu_by_thread()
        .into_iter()
        .map(|(name, s)| {
            let before = threads0.get(&name).copied().unwrap_or(0.0);
            (name, s - before)
        })
        .filter(|(_, s)| *s >= 0.01)
        .collect();
    let _ = stop_tx.send(());
    rt.block_on(server).unwrap();
    writer.join().unwrap().unwrap();
    let (_, rss_peak) = {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hwm = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .unwrap()
            .to_owned();
        ((), hwm)
    };
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;

    let at_stop = index::dir_bytes(&dir.path().join("index"));
    // A restart removes the files of merges the stop cut short.
    drop(Ingest::open(&store_options).unwrap());
    let index_bytes = index::dir_bytes(&dir.path().join("index"));
    let archive_bytes = index::dir_bytes(&dir.path().join("archive"));
    println!(
        "lines            {lines} ({} agents, {} lines per batch, {} writer threads, detectors {})",
        a.agents,
        a.batch,
        a.threads,
        if a.detect { "on" } else { "off" }
    );
    println!(
        "raw bytes        {raw_bytes} ({:.1} per line)",
        raw_bytes as f64 / lines as f64
    );
    println!(
        "end to end       {:.0} lines/s ({wall:.2} s)",
        lines as f64 / wall
    );
    println!(
        "collector CPU    {:.2} s per million lines",
        cpu / lines as f64 * 1e6
    );
    let listed: f64 = threads.iter().map(|(_, s)| s).sum();
    let mut by_thread: Vec<String> = threads
        .iter()
        .map(|(name, s)| format!("{name} {:.2}", s / lines as f64 * 1e6))
        .collect();
    by_thread.push(format!("ended {:.2}", (cpu - listed) / lines as f64 * 1e6));
    println!(
        "CPU by thread    {} s per million lines ('ended': threads gone by the end, mostly tantivy's indexing workers, which end at each commit)",
        by_thread.join(", ")
    );
    println!(
        "ACK latency      p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "peak RSS (whole process, corpus included) {}",
        rss_peak.trim_start_matches("VmHWM:").trim()
    );
    println!(
        "index            {index_bytes} bytes ({:.1} per line, {:.3} of raw); {:.1} per line at the stop, with the files of merges it cut short",
        index_bytes as f64 / lines as f64,
        index_bytes as f64 / raw_bytes as f64,
        at_stop as f64 / lines as f64,
    );
    println!(
        "archive          {archive_bytes} bytes ({:.1} per line, {:.3} of raw)",
        archive_bytes as f64 / lines as f64,
        archive_bytes as f64 / raw_bytes as f64
    );
    println!(
        "index + archive  {:.3} of raw",
        (index_bytes + archive_bytes) as f64 / raw_bytes as f64
    );

    let index = Index::open_in_dir(dir.path().join("index")).unwrap();
    logstore::schema::LogSchema::new().register_tokenizers(&index);
    let sizes = Sizes {
        lines,
        raw_bytes,
        archive_bytes,
    };
    sizes.report(&index, &dir.path().join("index"), "as the writer left it");
    read_back(&index, &dir.path().join("archive"), lines);
    // What the index shrinks to once merges catch up (a day's lines end up
    // in a few large segments): all of it merged into one.
    let t0 = Instant::now();
    let cpu0 = cpu_seconds_self();
    let mut merger: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000).unwrap();
    let ids = index.searchable_segment_ids().unwrap();
    if ids.len() > 1 {
        merger.merge(&ids).wait().unwrap();
    }
    merger.wait_merging_threads().unwrap();
    println!(
        "merged into one segment in {:.1} s ({:.1} CPU-s)",
        t0.elapsed().as_secs_f64(),
        cpu_seconds_self() - cpu0
    );
    sizes.report(&index, &dir.path().join("index"), "merged");
}
