//! A crowd of hostile clients on every port at once, with one real agent
//! among them: the agent's lines must all arrive, in a bounded time, and
//! collectord's memory must stay bounded. What broke before: 64 stalled
//! frames took collectord to 1 GB, 1,023 idle connections after HELLO
//! locked every agent out (BUSY) for as long as they liked, and idle
//! syslog connections kept their places for ever.
//!
//! The crowd (each client reconnects, after a short pause, whenever it is
//! closed, so the pressure lasts):
//!
//! - 1,000 stalled frames before HELLO: half send a header claiming 16 MiB
//!   and as many bytes as the collector takes, half a third of a HELLO;
//!   then silence;
//! - 1,000 stalled frames after HELLO: a BATCH header claiming 16 MiB, as
//!   much of the body as the collector takes (up to 15 MiB), then silence;
//! - 1,000 idle connections after HELLO, plus 100 more from one address
//!   (over `max-connections-per-source`);
//! - 1,000 floods of empty BATCH frames, written as fast as the collector
//!   reads them;
//! - 1,100 idle syslog TCP connections (over `syslog-max-connections`).
//!
//! They come from many loopback addresses (127.20.0.1, ..., eight
//! connections each), so that the per-source limits alone cannot turn
//! them away. collectord runs with its default limits.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcore::wire::{self, Frame};
use logq_tests::{rss_kib, skip_unless_required, wait_until, Agent, Collector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{sleep, timeout};

use crate::delivery::{assert_exactly_once, count, wait_for_finish};
use crate::writer::{write, Plan, Rotation};

/// The agent's 100,000 lines must all be searchable within this time of
/// its start. Among the crowd they took 6-9 s on a 2-core machine; before
/// the limits 50 s (BUSY, retried until a stranger's timeout freed a
/// place), and before an agent whose HELLO was waiting at accept was
/// kept in the pending pool, 13-35 s, once over 90 s (reset at every try
/// by the flood's evictions). The bound catches a lock-out; the old
/// collector fails this test on memory (3.4 GB) in any case.
const DELIVERY_BOUND: Duration = Duration::from_secs(60);

/// The same for the agent with a certificate among strangers that never
/// finish a TLS handshake: 1.2 s here; before the pending pool, 48 s.
const TLS_DELIVERY_BOUND: Duration = Duration::from_secs(20);

/// collectord's peak resident memory must stay under this (VmHWM): the
/// buffer budget (128 MiB), the index writer's (128 MiB), and the rest.
const RSS_BOUND_KIB: u64 = 512 * 1024;

/// Open files the test needs: the crowd's 5,200 sockets, the collector's
/// side of them, and the rest.
const FDS: u64 = 16_384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StalledBeforeHello,
    StalledAfterHello,
    Idle,
    IdleOneSource,
    Flood,
    Syslog,
}

const CROWD: [(Kind, u32); 6] = [
    (Kind::StalledBeforeHello, 1000),
    (Kind::StalledAfterHello, 1000),
    (Kind::Idle, 1000),
    (Kind::IdleOneSource, 100),
    (Kind::Flood, 1000),
    (Kind::Syslog, 1100),
];

/// What one kind of client did.
#[derive(Default)]
struct Tally {
    /// Connections attempted.
    attempts: AtomicU64,
    /// Connections open now.
    open: AtomicU64,
    /// Connections the collector closed.
    closed: AtomicU64,
}

/// The loopback address client `i` of `kind` connects from.
fn source(kind: Kind, k: usize, i: u32) -> Ipv4Addr {
    if kind == Kind::IdleOneSource {
        return Ipv4Addr::new(127, 0, 0, 99);
    }
    let host = i / 8;
    Ipv4Addr::new(
        127,
        20 + k as u8,
        (host / 200) as u8,
        (host % 200 + 1) as u8,
    )
}

fn frame(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode(&mut out).expect("test frames encode");
    out
}

fn hello(agent: &str) -> Vec<u8> {
    frame(&Frame::Hello {
        version: wire::VERSION,
        agent_id: agent.into(),
        host: "crowd".into(),
        utc_offset_secs: 0,
    })
}

/// Reads (and drops) until the collector closes the connection.
async fn until_closed(s: &mut TcpStream) {
    let mut sink = vec![0u8; 4096];
    while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Writes `bytes` as long as the collector takes them within a second at
/// a time; then stops (the stall).
async fn write_while_taken(s: &mut TcpStream, mut bytes: usize) {
    let chunk = vec![0u8; 64 * 1024];
    while bytes > 0 {
        let n = bytes.min(chunk.len());
        match timeout(Duration::from_secs(1), s.write_all(&chunk[..n])).await {
            Ok(Ok(())) => bytes -= n,
            _ => return,
        }
    }
}

/// One connection's misbehaviour, until the collector closes it.
async fn misbehave(kind: Kind, s: &mut TcpStream, id: &str) {
    match kind {
        Kind::StalledBeforeHello if id.ends_with(['0', '2', '4', '6', '8']) => {
            let mut head = (16u32 << 20).to_be_bytes().to_vec();
            head.extend_from_slice(&[wire::kind::HELLO, b'L', b'O', b'G', b'Q']);
            if s.write_all(&head).await.is_ok() {
                write_while_taken(s, 15 << 20).await;
            }
        }
        Kind::StalledBeforeHello => {
            let h = hello(id);
            let _ = s.write_all(&h[..h.len() / 3]).await;
        }
        Kind::StalledAfterHello => {
            let mut head = hello(id);
            head.extend_from_slice(&(16u32 << 20).to_be_bytes());
            head.push(wire::kind::BATCH);
            if s.write_all(&head).await.is_ok() {
                write_while_taken(s, 15 << 20).await;
            }
        }
        Kind::Idle | Kind::IdleOneSource => {
            let _ = s.write_all(&hello(id)).await;
        }
        Kind::Flood => {
            if s.write_all(&hello(id)).await.is_err() {
                return;
            }
            let mut burst = Vec::new();
            for seq in 1..=64u64 {
                burst.extend(frame(&Frame::Batch {
                    batch_seq: seq,
                    read_time_ms: 0,
                    streams: Vec::new(),
                }));
            }
            let one = burst.len() / 64;
            let mut seq = 1u64;
            loop {
                // Batch numbers must grow: rewrite them in place.
                for (j, f) in burst.chunks_mut(one).enumerate() {
                    f[5..13].copy_from_slice(&(seq + j as u64).to_be_bytes());
                }
                seq += 64;
                if s.write_all(&burst).await.is_err() {
                    return;
                }
            }
        }
        Kind::Syslog => {}
    }
    until_closed(s).await;
}

/// Client `i` of `kind`: connects, misbehaves, and when closed comes back
/// after a pause, until `stop`.
async fn client(
    kind: Kind,
    k: usize,
    i: u32,
    target: SocketAddr,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let ip = source(kind, k, i);
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        tally.attempts.fetch_add(1, Ordering::Relaxed);
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::from((ip, 0)))
            .expect("bind a loopback address");
        if let Ok(Ok(mut s)) = timeout(Duration::from_secs(5), socket.connect(target)).await {
            tally.open.fetch_add(1, Ordering::Relaxed);
            let id = format!("{kind:?}-{i}-{round}").to_lowercase();
            tokio::select! {
                () = misbehave(kind, &mut s, &id) => {
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                }
                () = async { while !stop.load(Ordering::Relaxed) { sleep(Duration::from_millis(200)).await } } => {}
            }
            tally.open.fetch_sub(1, Ordering::Relaxed);
        }
        round += 1;
        // 50 to 450 ms, spread over the clients.
        sleep(Duration::from_millis(
            50 + u64::from(i.wrapping_mul(7919) % 400),
        ))
        .await;
    }
}

/// Raises this process's open-files limit (collectord inherits it); false
/// when it cannot reach [`FDS`].
fn raise_fd_limit() -> bool {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return false;
    };
    if soft >= FDS {
        return true;
    }
    // Root may raise the hard limit too.
    let hard = if hard < FDS && setrlimit(Resource::RLIMIT_NOFILE, FDS, FDS).is_ok() {
        FDS
    } else {
        hard
    };
    hard >= FDS && setrlimit(Resource::RLIMIT_NOFILE, FDS, hard).is_ok()
}

/// What the crowd did, per kind.
fn report(tallies: &[(Kind, Arc<Tally>)]) -> String {
    tallies
        .iter()
        .map(|(kind, t)| {
            format!(
                "{kind:?}: {} attempts, {} open, {} closed by the collector",
                t.attempts.load(Ordering::Relaxed),
                t.open.load(Ordering::Relaxed),
                t.closed.load(Ordering::Relaxed)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_hostile_crowd_neither_locks_an_agent_out_nor_blows_up_the_collector() {
    if !raise_fd_limit()
        && skip_unless_required(
            "LOGQ_REQUIRE_HOSTILE",
            &format!("the open-files limit cannot be raised to {FDS}"),
        )
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(
        &tmp.path().join("collector"),
        "syslog-tcp = \"127.0.0.1:0\"\n",
    );
    let syslog = collector.announced("syslog-tcp");
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let plan = Plan {
        path: logs.join("real.log"),
        tag: "real",
        lines: 100_000,
        rotate_every: u64::MAX,
        rotation: Rotation::RenameCreate,
        rate: 10_000_000,
    };
    write(&plan, &Arc::new(AtomicU64::new(0)));

    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<(Kind, Arc<Tally>)> = CROWD
        .iter()
        .map(|&(kind, _)| (kind, Arc::new(Tally::default())))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (k, &(kind, n)) in CROWD.iter().enumerate() {
        let target = if kind == Kind::Syslog {
            syslog
        } else {
            collector.addr
        };
        for i in 0..n {
            runtime.spawn(client(
                kind,
                k,
                i,
                target,
                stop.clone(),
                tallies[k].1.clone(),
            ));
        }
    }
    // The crowd is in place once every client has connected at least
    // once and two seconds have passed for the stalled ones to stall.
    let total: u32 = CROWD.iter().map(|c| c.1).sum();
    assert!(
        wait_until(Duration::from_secs(60), || tallies
            .iter()
            .map(|(_, t)| t.attempts.load(Ordering::Relaxed))
            .sum::<u64>()
            >= u64::from(total)),
        "the crowd did not connect:\n{}",
        report(&tallies)
    );
    std::thread::sleep(Duration::from_secs(2));
    println!("crowd in place:\n{}", report(&tallies));

    let started = Instant::now();
    let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&plan.path], "");
    let delivered = wait_for_finish(&collector, &["real"], DELIVERY_BOUND);
    let took = started.elapsed();
    // A syslog sender arriving now gets a place too (an idle stranger is
    // displaced for it).
    let mut sender = StdTcpStream::connect(syslog).unwrap();
    std::io::Write::write_all(
        &mut sender,
        b"<13>Nov 25 08:00:00 web9 app[1]: syslogthroughthecrowd\n",
    )
    .unwrap();
    let syslog_delivered = wait_until(Duration::from_secs(30), || {
        count(&collector, "syslogthroughthecrowd") == 1
    });
    let crowd = report(&tallies);
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_secs(5));

    let (peak_kib, now_kib) = rss_kib(collector.child.id()).expect("collectord is running");
    println!(
        "the agent's 100,000 lines took {:.1} s among the crowd (bound {} s); collectord peaked at {} MiB (now {} MiB, bound {} MiB)",
        took.as_secs_f64(),
        DELIVERY_BOUND.as_secs(),
        peak_kib / 1024,
        now_kib / 1024,
        RSS_BOUND_KIB / 1024
    );
    println!("crowd at the end:\n{crowd}");
    let agent_log = agent.log();
    let setbacks: Vec<&str> = agent_log.lines().filter(|l| l.contains("WARN")).collect();
    println!("the agent's setbacks:\n{}", setbacks.join("\n"));
    assert!(
        delivered,
        "the agent's lines did not all arrive within {} s among the crowd:\n{crowd}\nagent log:\n{}",
        DELIVERY_BOUND.as_secs(),
        agent.log()
    );
    assert_exactly_once(&collector, &[("real", 100_000)]);
    assert!(syslog_delivered, "a syslog sender was locked out:\n{crowd}");
    assert!(
        peak_kib < RSS_BOUND_KIB,
        "collectord peaked at {peak_kib} KiB, over {RSS_BOUND_KIB} KiB"
    );
    assert!(collector.is_running(), "collectord died among the crowd");

    let log = collector.log();
    let lines = log.lines().count();
    let connected = log.matches("Agent connected.").count();
    println!("collectord logged {lines} lines, {connected} of them \"Agent connected.\"");
    assert!(
        log.contains("Agent ids are only claims here"),
        "no word at start on what an agent id is worth in plaintext"
    );
    for (kind, t) in &tallies {
        assert!(
            t.closed.load(Ordering::Relaxed) > 0 || *kind == Kind::Syslog,
            "no {kind:?} client was ever closed:\n{crowd}"
        );
    }
    // Thousands of strangers were closed: their log lines are bounded
    // (20 per 10 s, `close::Quota`; the count of those left out is logged
    // only once a later window opens, which may be after this check).
    let closes = log.matches("Closed a connection.").count();
    assert!(
        closes < 1_000 && lines < 20_000,
        "{closes} closes logged, {lines} log lines for the crowd"
    );
}

/// With client certificates, strangers cannot get past the TLS handshake,
/// but they can fill every queue before it: 1,700 connections that never
/// start TLS and 300 that stop in the middle of a ClientHello (more than
/// `max-connections`, so before the pending pool they locked agents out
/// with BUSY, each BUSY costing a handshake). An agent whose certificate
/// verifies must still get its 20,000 lines through in a bounded time.
#[test]
fn strangers_before_the_tls_handshake_cannot_lock_out_an_agent_with_a_certificate() {
    const STRANGERS: u32 = 2000;
    if !raise_fd_limit()
        && skip_unless_required(
            "LOGQ_REQUIRE_HOSTILE",
            &format!("the open-files limit cannot be raised to {FDS}"),
        )
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = crate::tls::Pki::new(tmp.path());
    pki.issue_agent("agent-agent");
    let collector = Collector::start(&tmp.path().join("collector"), &pki.collector_config(&[]));
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let plan = Plan {
        path: logs.join("tls.log"),
        tag: "tlsreal",
        lines: 20_000,
        rotate_every: u64::MAX,
        rotation: Rotation::RenameCreate,
        rate: 10_000_000,
    };
    write(&plan, &Arc::new(AtomicU64::new(0)));

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for i in 0..STRANGERS {
        if i % 100 == 0 {
            // A ramp, so that the collector accepts them all.
            std::thread::sleep(Duration::from_millis(50));
        }
        let (stop, tally, target) = (stop.clone(), tally.clone(), collector.addr);
        runtime.spawn(async move {
            let ip = Ipv4Addr::new(127, 30, (i / 8 / 200) as u8, (i / 8 % 200 + 1) as u8);
            while !stop.load(Ordering::Relaxed) {
                tally.attempts.fetch_add(1, Ordering::Relaxed);
                let socket = TcpSocket::new_v4().expect("a socket");
                socket.bind(SocketAddr::from((ip, 0))).expect("bind");
                if let Ok(Ok(mut s)) = timeout(Duration::from_secs(5), socket.connect(target)).await {
                    tally.open.fetch_add(1, Ordering::Relaxed);
                    if i >= STRANGERS - 300 {
                        // A TLS record header claiming 16 KiB, a few bytes of it.
                        let _ = s.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00]).await;
                    }
                    tokio::select! {
                        () = until_closed(&mut s) => {
                            tally.closed.fetch_add(1, Ordering::Relaxed);
                        }
                        () = async { while !stop.load(Ordering::Relaxed) { sleep(Duration::from_millis(200)).await } } => {}
                    }
                    tally.open.fetch_sub(1, Ordering::Relaxed);
                }
                sleep(Duration::from_millis(50 + u64::from(i.wrapping_mul(7919) % 400))).await;
            }
        });
    }
    assert!(
        wait_until(Duration::from_secs(60), || tally
            .attempts
            .load(Ordering::Relaxed)
            >= u64::from(STRANGERS)),
        "the strangers did not connect"
    );
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = logq_tests::cpu_seconds(collector.child.id()).unwrap_or(0.0);
    let started = Instant::now();
    let agent = Agent::start(
        &tmp.path().join("agent"),
        collector.addr,
        &[&plan.path],
        &pki.agent_config(Some("agent-agent")),
    );
    let delivered = wait_for_finish(&collector, &["tlsreal"], TLS_DELIVERY_BOUND);
    let took = started.elapsed();
    let cpu = logq_tests::cpu_seconds(collector.child.id()).unwrap_or(0.0) - cpu_before;
    let crowd = report(&[(Kind::Idle, tally.clone())]);
    stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!(
        "with TLS client certificates, the agent's 20,000 lines took {:.1} s among {STRANGERS} strangers (bound {} s); collectord used {cpu:.1} s of CPU meanwhile\n{crowd}",
        took.as_secs_f64(),
        TLS_DELIVERY_BOUND.as_secs()
    );
    assert!(
        delivered,
        "the agent with a certificate was locked out:\n{crowd}\nagent log:\n{}\ncollector log:\n{}",
        agent.log(),
        collector.log()
    );
    assert_exactly_once(&collector, &[("tlsreal", 20_000)]);
    assert!(
        collector.log().contains("Agent ids are identities here"),
        "no word at start on what an agent id is worth with client certificates"
    );
}
