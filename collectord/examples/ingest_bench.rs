//! Ingest benchmark: the real server, writer and store in this process, on
//! loopback, fed by simulated agents with a synthetic syslog corpus
//! (~150-byte lines: sshd, sudo, kernel firewall, cron, systemd, nginx,
//! postfix, an application with request ids).
//!
//! ```text
//! cargo run --release -p collectord --example ingest_bench -- [LINES] [--agents N] [--batch LINES] [--threads N] [--corpus numbered] [--detect] [--dump FILE]
//! ```
//!
//! Prints lines/s end to end (first batch sent to last ACK), collector CPU
//! seconds per million lines (process CPU minus the simulated agents'
//! threads), ACK latency, and bytes on disk per raw byte (after a restart
//! has removed the files of merges the stop cut short), with the index
//! broken down by file and field, as the writer left it and once merged
//! into one segment; then the time to read records back from the archive.

// A benchmark program: a panic is its report that something it needs failed.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use collectord::ingest::Ingest;
use collectord::net::connection::{Limits, Shared};
use collectord::net::server;
use collectord::notify::Stats;
use collectord::writer;
use logcore::wire::{self, Frame, WireRecord, WireStream, VERSION};
use logstore::index;
use logstore::retention::Policy;
use logstore::StoreOptions;
use tantivy::Index;
use tokio::sync::{mpsc, watch};

struct Args {
    lines: u64,
    agents: u64,
    batch: u64,
    threads: u32,
    numbered: bool,
    /// Write the corpus here (one line each) and exit.
    dump: Option<String>,
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
            "--detect" => a.detect = true,
            n => a.lines = n.parse().expect("LINES is a number"),
        }
    }
    a
}

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const USERS: &[&str] = &[
    "root", "admin", "alice", "bob", "deploy", "john.doe", "postgres", "ubuntu", "test", "oracle",
    "git", "www-data",
];
const SERVICES: &[&str] = &[
    "nginx",
    "postgresql",
    "redis-server",
    "docker",
    "ssh",
    "cron",
    "rsyslog",
    "node-exporter",
    "apt-daily",
    "logrotate",
];
const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/items",
    "/login",
    "/static/app.js",
    "/healthz",
    "/api/v2/users",
    "/metrics",
];

/// Addresses repeat in real logs (the same scanners, the same clients):
/// drawn from a pool of 5000, the low ones far more often.
fn ip(r: &mut Rng) -> String {
    let k = r.below(5000).min(r.below(5000)).min(r.below(5000));
    let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    match k % 3 {
        0 => format!("10.{}.{}.{}", h % 4, (h >> 8) % 256, (h >> 16) % 256),
        1 => format!("203.0.113.{}", h % 256),
        _ => format!(
            "{}.{}.{}.{}",
            1 + h % 223,
            (h >> 8) % 256,
            (h >> 16) % 256,
            (h >> 24) % 256
        ),
    }
}

/// `--corpus numbered`: the end-to-end tests' lines (tests/src/lib.rs).
fn numbered_line(n: u64) -> String {
    format!("Nov 24 22:20:01 testhost app[7]: line bench {n:09} lorem ipsum dolor sit amet consectetur adipiscing elit")
}

fn line(r: &mut Rng, n: u64) -> String {
    let secs = n / 1000;
    let ts = format!(
        "Nov 24 {:02}:{:02}:{:02}",
        10 + secs / 3600 % 12,
        secs / 60 % 60,
        secs % 60
    );
    let host_n = r.below(50);
    let host = format!("web{host_n:02}");
    // Each host has a few dozen busy processes.
    let pid = 1000 + (host_n * 7919 + r.below(40) * 104_729) % 60_000;
    match r.below(100) {
        0..=24 => {
            let invalid = if r.below(2) == 0 { "invalid user " } else { "" };
            format!("{ts} {host} sshd[{pid}]: Failed password for {invalid}{} from {} port {} ssh2", r.pick(USERS), ip(r), 1024 + r.below(64_000))
        }
        25..=32 => format!(
            "{ts} {host} sshd[{pid}]: Accepted publickey for {} from {} port {} ssh2: ED25519 SHA256:{:016x}",
            r.pick(USERS), ip(r), 1024 + r.below(64_000), r.below(40).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ),
        33..=40 => {
            let u = r.pick(USERS);
            format!("{ts} {host} sudo:    {u} : TTY=pts/{} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart {}.service", r.below(8), r.pick(SERVICES))
        }
        41..=55 => format!(
            "{ts} {host} kernel: [{}.{:06}] [UFW BLOCK] IN=eth0 OUT= SRC={} DST=10.0.0.{} LEN={} TTL={} PROTO=TCP SPT={} DPT={} SYN",
            3_000_000 + host_n * 1000 + secs, r.below(1_000_000), ip(r), host_n, 40 + r.below(20) * 4, r.pick(&["64", "128", "52", "116"]), 1024 + r.below(64_000), r.pick(&["22", "80", "443", "3306", "5432", "23"])
        ),
        56..=62 => format!("{ts} {host} CRON[{pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"),
        63..=70 => {
            let s = r.pick(SERVICES);
            format!("{ts} {host} systemd[1]: Started {s}.service - The {s} daemon (instance {}).", r.below(4))
        }
        71..=85 => format!(
            "{ts} {host} nginx: {} - - \"GET {}/{} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
            ip(r), r.pick(PATHS), r.below(1000), r.pick(&["200", "200", "200", "304", "404", "500"]), 200 + r.below(5000)
        ),
        86..=90 => format!("{ts} {host} postfix/smtpd[{pid}]: connect from unknown[{}]", ip(r)),
        _ => format!(
            "{ts} {host} app[{pid}]: level=info msg=\"request done\" request_id={:08x}-{:04x}-{:04x} duration_ms={} status=200",
            r.next() as u32, r.below(65536), r.below(65536), r.below(2000)
        ),
    }
}

fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn cpu_seconds_self() -> f64 {
    cpu_seconds("/proc/self/stat")
}

fn thread_cpu_seconds() -> f64 {
    cpu_seconds("/proc/thread-self/stat")
}

fn frame_bytes(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out).unwrap();
    out
}

fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> Frame {
    loop {
        if let Some(n) = wire::check(buf, u32::MAX).unwrap() {
            let f = Frame::decode(&buf[..n]).unwrap();
            buf.drain(..n);
            return f;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "collector closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One simulated agent: sends its pre-encoded batches with the collector's
/// window, returns (its CPU seconds, ACK latencies).
fn agent(addr: SocketAddr, id: u64, batches: Vec<Vec<u8>>) -> (f64, Vec<Duration>) {
    let cpu0 = thread_cpu_seconds();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&frame_bytes(&Frame::Hello {
        version: VERSION,
        agent_id: format!("agent-{id}"),
        host: format!("agenthost{id}"),
        utc_offset_secs: 0,
    }))
    .unwrap();
    let mut buf = Vec::new();
    let Frame::Welcome { window, .. } = read_frame(&mut s, &mut buf) else {
        panic!("no WELCOME")
    };
    let window = usize::from(window);
    let mut sent_at = std::collections::VecDeque::new();
    let mut latencies = Vec::with_capacity(batches.len());
    let total = batches.len() as u64;
    let mut acked = 0u64;
    let mut next = batches.into_iter().enumerate();
    while acked < total {
        while sent_at.len() < window {
            let Some((i, b)) = next.next() else { break };
            s.write_all(&b).unwrap();
            sent_at.push_back((i as u64 + 1, Instant::now()));
        }
        let Frame::Ack { batch_seq } = read_frame(&mut s, &mut buf) else {
            panic!("expected ACK")
        };
        while let Some(&(seq, at)) = sent_at.front() {
            if seq > batch_seq {
                break;
            }
            latencies.push(at.elapsed());
            sent_at.pop_front();
        }
        acked = batch_seq;
    }
    (thread_cpu_seconds() - cpu0, latencies)
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    // The corpus, encoded up front so that generating it is not measured.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
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
                    let l = if a.numbered {
                        numbered_line(n)
                    } else {
                        line(&mut rng, n)
                    }
                    .into_bytes();
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
    logstore::schema::LogSchema::register_tokenizers(&index);
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

struct Sizes {
    lines: u64,
    raw_bytes: u64,
    archive_bytes: u64,
}

impl Sizes {
    /// Prints the committed index's bytes per line by file kind and field.
    fn report(&self, index: &Index, index_dir: &std::path::Path, label: &str) {
        let lines = self.lines;
        let per_line = |b: u64| b as f64 / lines as f64;
        // Files of the committed segments, by kind; the rest of the directory
        // is left by merges the writer's shutdown cut short (removed by the
        // next writer's garbage collection).
        let live: Vec<String> = index
            .searchable_segment_ids()
            .unwrap()
            .iter()
            .map(|id| id.uuid_string())
            .collect();
        let mut by_kind: std::collections::BTreeMap<String, u64> = Default::default();
        let mut committed = 0;
        let mut total = 0;
        for entry in std::fs::read_dir(index_dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let len = entry.metadata().unwrap().len();
            total += len;
            let kind = match name.split_once('.') {
                Some((id, ext)) if live.iter().any(|l| l == id) => ext.to_owned(),
                _ if name.ends_with(".json") => "json".to_owned(),
                _ => continue,
            };
            committed += len;
            *by_kind.entry(kind).or_default() += len;
        }
        println!("-- index {label}: {} segments", live.len());
        println!(
            "index, committed {:.1} bytes/line ({:.3} of raw); with the archive {:.3} of raw; whole directory {:.1} bytes/line",
            per_line(committed),
            committed as f64 / self.raw_bytes as f64,
            (committed + self.archive_bytes) as f64 / self.raw_bytes as f64,
            per_line(total),
        );
        for (kind, bytes) in &by_kind {
            println!("  file {kind:<10} {:.2} bytes/line", per_line(*bytes));
        }
        let searcher = index.reader().unwrap().searcher();
        let usage = searcher.space_usage().unwrap();
        let mut parts: std::collections::BTreeMap<String, u64> = Default::default();
        for seg in usage.segments() {
            for (part, fields) in [
                ("terms", seg.termdict()),
                ("postings", seg.postings()),
                ("fast", seg.fast_fields()),
            ] {
                for f in fields.fields() {
                    *parts
                        .entry(format!("{part:>8} {}", f.field_name()))
                        .or_default() += f.total().get_bytes();
                }
            }
        }
        for (k, v) in parts {
            if per_line(v) >= 0.005 {
                println!("  {k:<24} {:.2} bytes/line", per_line(v));
            }
        }
    }
}

/// Reads every record back (as logq does, but in document order) and
/// prints the time per record.
fn read_back(index: &Index, archive_dir: &std::path::Path, lines: u64) {
    let schema = logstore::schema::LogSchema::new();
    let searcher = index.reader().unwrap().searcher();
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut archive = logstore::archive::ArchiveReader::new(archive_dir);
    for seg in searcher.segment_readers() {
        let rr = schema.record_reader(seg).unwrap();
        for doc in seg.doc_ids_alive() {
            let record = rr.record(doc, &mut archive).unwrap();
            assert!(!record.raw.is_empty());
            n += 1;
        }
    }
    assert_eq!(n, lines);
    let in_order = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    // Scattered matches: each record from another block, with a fresh
    // reader each time (nothing cached).
    let mut rng = Rng(7);
    let picks: Vec<_> = (0..200)
        .map(|_| {
            let seg = rng.below(searcher.segment_readers().len() as u64) as u32;
            let max = searcher.segment_reader(seg).max_doc();
            (seg, rng.below(u64::from(max)) as u32)
        })
        .collect();
    let t0 = Instant::now();
    for (seg, doc) in picks {
        let rr = schema.record_reader(searcher.segment_reader(seg)).unwrap();
        rr.record(doc, &mut logstore::archive::ArchiveReader::new(archive_dir))
            .unwrap();
    }
    println!(
        "read back        {in_order:.2} µs per record in document order, {:.0} µs per scattered record",
        t0.elapsed().as_secs_f64() * 1e6 / 200.0
    );
}
