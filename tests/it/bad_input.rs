//! Bad input on either side gets a clear log message and costs nothing else.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcore::wire::{self, Frame};
use logq_tests::{rss_kib, wait_until, Agent, Collector};

use crate::delivery::{assert_exactly_once, count, wait_for_finish};
use crate::writer::{write, Plan, Rotation};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn open_up(path: &std::path::Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o777)).unwrap();
}

/// A 10 MiB line, invalid UTF-8, NUL bytes, an unreadable file and a path
/// that becomes a directory: each gets a log line naming it, the kept part
/// of each odd line is searchable, and lines after them still arrive.
#[test]
fn odd_lines_and_unreadable_paths_are_reported_and_block_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    open_up(tmp.path());
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    open_up(&logs);

    let good = logs.join("good.log");
    let odd = logs.join("odd.log");
    let secret = logs.join("secret.log");
    let becomes_dir = logs.join("dir.log");
    fs::write(&secret, "Nov 24 22:20:01 testhost app[7]: secretword\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    fs::write(&becomes_dir, "Nov 24 22:20:01 testhost app[7]: beforedir\n").unwrap();

    let mut odd_bytes = Vec::new();
    odd_bytes.extend_from_slice(b"Nov 24 22:20:01 testhost app[7]: hugeline ");
    odd_bytes.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    odd_bytes.extend_from_slice(b"\nNov 24 22:20:01 testhost app[7]: badutf8 \xff\xfe\xc3 end\n");
    odd_bytes.extend_from_slice(b"Nov 24 22:20:01 testhost app[7]: nulbytes a\x00b\x00c\n");
    odd_bytes.extend_from_slice(b"Nov 24 22:20:01 testhost app[7]: afterodd\n");
    fs::write(&odd, &odd_bytes).unwrap();

    let agent_dir = tmp.path().join("agent");
    fs::create_dir_all(&agent_dir).unwrap();
    open_up(&agent_dir);
    let inputs = [
        good.as_path(),
        odd.as_path(),
        secret.as_path(),
        becomes_dir.as_path(),
    ];
    // Root reads every file: drop to nobody so that permissions bite.
    let agent = if is_root() {
        Agent::start_as(&agent_dir, collector.addr, &inputs, 65534)
    } else {
        Agent::start(&agent_dir, collector.addr, &inputs, "")
    };

    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "beforedir")
            == 1),
        "agent log:\n{}",
        agent.log()
    );
    fs::remove_file(&becomes_dir).unwrap();
    fs::create_dir(&becomes_dir).unwrap();

    let plan = Plan {
        path: good.clone(),
        tag: "g",
        lines: 20_000,
        rotate_every: u64::MAX,
        rotation: Rotation::RenameCreate,
        rate: 20_000,
    };
    write(&plan, &Arc::new(AtomicU64::new(0)));
    assert!(
        wait_for_finish(&collector, &["g"], Duration::from_secs(60)),
        "agent log:\n{}",
        agent.log()
    );
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "afterodd")
            == 1),
        "agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("g", 20_000)]);

    // The kept part of the huge line: the first 64 KiB, marked truncated.
    let huge = collector.logq(&["-o", "raw", "hugeline"]);
    assert_eq!(
        huge.stdout.len(),
        65_536 + 1,
        "the huge line is kept at 64 KiB (plus newline)"
    );
    // Invalid UTF-8 and NUL bytes come back byte for byte.
    let raw = collector.logq(&["-o", "raw", "badutf8"]);
    assert_eq!(
        raw.stdout,
        b"Nov 24 22:20:01 testhost app[7]: badutf8 \xff\xfe\xc3 end\n"
    );
    let raw = collector.logq(&["-o", "raw", "nulbytes"]);
    assert_eq!(
        raw.stdout,
        b"Nov 24 22:20:01 testhost app[7]: nulbytes a\x00b\x00c\n"
    );
    // On a terminal-bound format they are escaped.
    let short = collector.logq(&["nulbytes"]);
    assert!(
        !short.stdout.contains(&0),
        "NUL bytes reach the terminal: {:?}",
        short.stdout
    );

    let log = agent.log().to_lowercase();
    assert!(
        log.contains("truncat"),
        "no log line about the truncated line:\n{log}"
    );
    assert!(
        log.contains("directory"),
        "no log line about the path that became a directory:\n{log}"
    );
    // Mode 000 keeps the file from agentd both as nobody (under root) and
    // as its owner. agentd tried it at its first scan (its log says so);
    // lines written to the other inputs long after are stored (the barrier
    // above); its line must not be.
    assert!(
        log.contains("permission denied"),
        "no log line about the unreadable file:\n{log}"
    );
    assert_eq!(count(&collector, "secretword"), 0);
}

fn hello(version: u16) -> Vec<u8> {
    let mut buf = Vec::new();
    Frame::Hello {
        version,
        agent_id: "probe".into(),
        host: "probe".into(),
        utc_offset_secs: 0,
    }
    .encode(&mut buf)
    .unwrap();
    buf
}

/// Connects, sends `bytes` (after the first `fast` bytes, one byte per `pace`
/// when set), and returns what
/// the collector sent back before closing, or None if it kept the connection
/// open for 20 s.
fn probe(
    collector: &Collector,
    bytes: &[u8],
    fast: usize,
    pace: Option<Duration>,
) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(collector.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if sent < bytes.len() {
            let n = match pace {
                None => bytes.len() - sent,
                Some(_) if sent < fast => fast - sent,
                Some(_) => 1,
            };
            if s.write_all(&bytes[sent..sent + n]).is_err() {
                return Some(got);
            }
            sent += n;
        }
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(got),
        }
        if let Some(p) = pace {
            std::thread::sleep(p);
        }
    }
    None
}

fn error_code(reply: &[u8]) -> Option<u16> {
    let mut rest = reply;
    while let Ok(Some(n)) = wire::check(rest, wire::DEFAULT_MAX_FRAME) {
        if let Ok(Frame::Error { code, .. }) = Frame::decode(&rest[..n]) {
            return Some(code);
        }
        rest = &rest[n..];
    }
    None
}

/// Random bytes, a client sending a byte a second, a 4 GiB frame header and a
/// wrong protocol version are each cut off with a logged reason, while a real
/// agent keeps shipping and the collector's memory stays put.
#[test]
fn hostile_clients_are_cut_off_and_real_agents_carry_on() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "frame-timeout-ms = 2000");
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let plan = Plan {
        path: logs.join("h.log"),
        tag: "h",
        lines: 100_000,
        rotate_every: u64::MAX,
        rotation: Rotation::RenameCreate,
        rate: 10_000,
    };
    let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&plan.path], "");
    std::thread::scope(|s| {
        s.spawn(|| write(&plan, &Arc::new(AtomicU64::new(0))));

        let random: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(
            probe(&collector, &random, 0, None).is_some(),
            "random bytes kept the connection open"
        );

        let mut huge = hello(wire::VERSION);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x03]);
        let reply = probe(&collector, &huge, 0, None)
            .expect("a 4 GiB frame header kept the connection open");
        assert_eq!(
            error_code(&reply),
            Some(wire::code::TOO_LARGE),
            "reply {reply:?}"
        );

        let reply = probe(&collector, &hello(99), 0, None)
            .expect("a wrong version kept the connection open");
        assert_eq!(
            error_code(&reply),
            Some(wire::code::VERSION),
            "reply {reply:?}"
        );

        // A whole HELLO, then a batch frame trickling in a byte a second.
        let mut slow = hello(wire::VERSION);
        let fast = slow.len();
        slow.extend_from_slice(&[0, 0, 0, 40, 0x03, 0, 0, 0, 0, 0, 0, 0, 1]);
        let started = Instant::now();
        assert!(
            probe(&collector, &slow, fast, Some(Duration::from_secs(1))).is_some(),
            "a one-byte-a-second client was never cut off"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    });
    assert!(
        wait_for_finish(&collector, &["h"], Duration::from_secs(60)),
        "agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("h", 100_000)]);
    let (peak_kib, _) = rss_kib(collector.child.id()).unwrap();
    assert!(
        peak_kib < 1024 * 1024,
        "collectord peaked at {peak_kib} KiB"
    );
    let log = collector.log().to_lowercase();
    for reason in [
        "not a logq agent",
        "exceeds the limit",
        "protocol version 99",
        "did not arrive whole",
    ] {
        assert!(
            log.contains(reason),
            "collector log says nothing like {reason:?}:\n{log}"
        );
    }
}
