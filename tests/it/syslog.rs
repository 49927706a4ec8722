//! Syslog received directly by collectord (`syslog-udp`, `syslog-tcp`,
//! `syslog-tls`), from
//! the real senders operators use: util-linux `logger`, rsyslog's `omfwd`
//! and syslog-ng's `syslog()` and `network()` drivers, on loopback.
//!
//! rsyslog and syslog-ng run unprivileged configs in the test's directory:
//! they read the numbered messages the test writes to a Unix datagram
//! socket of their own (`imuxsock`, `unix-dgram()`) and forward them.
//! Installing syslog-ng removes rsyslog, so the syslog-ng tests use
//! `LOGQ_SYSLOG_NG` (a syslog-ng binary, such as one unpacked with
//! `dpkg -x` into /opt/syslog-ng) or `syslog-ng` on PATH, and skip when
//! there is none unless `LOGQ_REQUIRE_SYSLOG_NG=1` (CI). The rsyslog tests
//! skip without rsyslog unless `LOGQ_REQUIRE_RSYSLOG=1`, the
//! socket-activation tests without `systemd-socket-activate` unless
//! `LOGQ_REQUIRE_SYSTEMD=1`: `.ci/run` installs both and sets both.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logq_tests::{check_numbers, connect_from, skip_unless_required, wait_until, Collector};
use serde_json::Value;

use crate::delivery::count;

/// How many numbered messages the rsyslog and syslog-ng tests send.
const MESSAGES: u64 = 10_000;

/// A collector with both syslog listeners on 127.0.0.1, port 0.
fn start(dir: &Path, extra: &str) -> (Collector, SocketAddr, SocketAddr) {
    let mut c = Collector::start(
        dir,
        &format!(
            "syslog-udp = \"127.0.0.1:0\"\nsyslog-tcp = \"127.0.0.1:0\"\ncommit-interval-ms = 100\n{extra}"
        ),
    );
    let udp = c.announced("syslog-udp");
    let tcp = c.announced("syslog-tcp");
    (c, udp, tcp)
}

/// logq's JSON records for `args`.
fn records(c: &Collector, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let out = c.logq(&full);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "logq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("logq -o json prints JSON lines"))
        .collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the host name")
        .trim()
        .to_owned()
}

/// The receive drops the kernel counted for the UDP socket bound to `port`
/// (the last column of /proc/net/udp).
fn udp_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    let want = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|local| local.ends_with(&want))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// `logger` (util-linux), as an operator would test a new collector: over
/// TCP newline-framed and octet-counted, RFC 5424 and RFC 3164, and over UDP.
/// Each message must be found with logq with the host, program, pid,
/// facility and severity it carried, the sender's address as its agent and
/// the listener as its path; else `logq -H`/`-t`/`-p` miss syslog lines.
#[test]
fn syslog_logger_messages_are_searchable_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (c, udp, tcp) = start(dir.path(), "");
    let cases: [(&str, &[&str], &str); 6] = [
        ("lgtcp5424", &["--tcp", "--rfc5424"], "syslog/tcp"),
        (
            "lgoctet",
            &["--tcp", "--rfc5424", "--octet-count"],
            "syslog/tcp",
        ),
        ("lgtcp3164", &["--tcp", "--rfc3164"], "syslog/tcp"),
        ("lgudp3164", &["--udp", "--rfc3164"], "syslog/udp"),
        ("lgudp5424", &["--udp", "--rfc5424"], "syslog/udp"),
        (
            "lgudpoctet",
            &["--udp", "--rfc5424", "--octet-count"],
            "syslog/udp",
        ),
    ];
    for (tag, args, path) in cases {
        let port = if path == "syslog/udp" { udp } else { tcp }.port();
        let status = Command::new("logger")
            .args(args)
            .args(["-n", "127.0.0.1", "-P", &port.to_string()])
            .args(["-t", tag, "--id=4242", "-p", "local3.warning"])
            .arg(format!("hello from {tag} with words"))
            .status()
            .expect("run logger (util-linux)");
        assert!(status.success(), "logger {args:?} failed");
    }
    assert!(
        c.wait_for_lines(cases.len() as u64, Duration::from_secs(20)),
        "not every logger message arrived; log:\n{}",
        c.log()
    );
    let host = hostname();
    for (tag, args, path) in cases {
        let found = records(&c, &["-t", tag]);
        assert_eq!(found.len(), 1, "{tag} {args:?}: {found:?}");
        let r = &found[0];
        let want = [
            ("host", Value::from(host.as_str())),
            ("program", Value::from(tag)),
            ("pid", Value::from(4242)),
            ("facility", Value::from("local3")),
            ("severity", Value::from("warning")),
            (
                "message",
                Value::from(format!("hello from {tag} with words")),
            ),
            ("agent", Value::from("127.0.0.1")),
            ("path", Value::from(path)),
            ("offset", Value::from(0)),
        ];
        for (field, value) in want {
            assert_eq!(r[field], value, "{tag} {args:?} field {field}: {r}");
        }
    }
}

/// Sends `bytes` on one TCP connection and closes it.
fn tcp_send(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
}

/// The framing trap: a newline-framed connection whose first line starts
/// with digits (an RFC 3339 stamp, `123 ...`) must not be read as octet
/// counting, which would swallow or cut the lines after it. A message
/// without a host name takes the sender's address as its host.
#[test]
fn syslog_lines_starting_with_digits_are_not_octet_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (c, udp, tcp) = start(dir.path(), "");
    let lines = [
        "2026-11-25T08:00:00Z web9 trapapp: stamp first trapone",
        "123 digits first traptwo",
        "<13>Nov 25 08:00:00 trapapp[77]: no host here trapthree",
    ];
    tcp_send(tcp, format!("{}\n", lines.join("\n")).as_bytes());
    // Octet counting where it is meant, with the newline rsyslog counts.
    let counted = "<14>1 2026-11-25T08:00:01Z web9 countapp 5 - - counted trapfour\n";
    tcp_send(tcp, format!("{} {counted}", counted.len()).as_bytes());
    let sock = UdpSocket::bind("127.0.0.2:0").unwrap();
    sock.send_to(b"<13>Nov 25 08:00:02 udpapp: no host udp trapfive\n\0", udp)
        .unwrap();
    assert!(
        c.wait_for_lines(5, Duration::from_secs(20)),
        "log:\n{}",
        c.log()
    );
    let all = records(&c, &[]);
    assert_eq!(all.len(), 5, "{all:?}");
    let by = |word: &str| {
        all.iter()
            .find(|r| r["line"].as_str().unwrap().contains(word))
            .unwrap_or_else(|| panic!("{word} missing: {all:?}"))
            .clone()
    };
    for (i, line) in lines.iter().enumerate() {
        let word = ["trapone", "traptwo", "trapthree"][i];
        assert_eq!(by(word)["line"], Value::from(*line), "sent whole, as one");
    }
    assert_eq!(by("trapone")["host"], "web9");
    assert_eq!(by("trapone")["message"], "stamp first trapone");
    assert_eq!(by("trapthree")["host"], "127.0.0.1");
    assert_eq!(by("trapthree")["program"], "trapapp");
    assert_eq!(by("trapthree")["message"], "no host here trapthree");
    assert_eq!(
        (
            by("trapone")["offset"].clone(),
            by("traptwo")["offset"].clone()
        ),
        (Value::from(0), Value::from(1)),
        "offsets are ordinals in the connection"
    );
    assert_eq!(by("trapfour")["message"], "counted trapfour");
    assert_eq!(by("trapfour")["program"], "countapp");
    let five = by("trapfive");
    assert_eq!(five["host"], "127.0.0.2");
    assert_eq!(five["agent"], "127.0.0.2");
    assert_eq!(five["message"], "no host udp trapfive");
    assert_eq!(five["flags"], serde_json::json!([]), "NUL and LF stripped");
}

/// Numbered syslog lines, as a local program writes them to /dev/log.
fn numbered(tag: &str, n: u64) -> String {
    format!("<14>Nov 25 09:00:00 numapp[4242]: line {tag} {n:09} lorem ipsum dolor sit amet")
}

/// Writes `MESSAGES` numbered lines to the Unix datagram socket `sock`
/// (blocking when the reader falls behind: nothing is lost there), as
/// fast as the forwarder takes them, or at most `per_second`.
fn feed(sock: &Path, tag: &str, per_second: Option<u64>) {
    let tx = UnixDatagram::unbound().unwrap();
    let started = Instant::now();
    for n in 0..MESSAGES {
        tx.send_to(numbered(tag, n).as_bytes(), sock)
            .unwrap_or_else(|e| panic!("send to {}: {e}", sock.display()));
        // Pacing, not waiting for something: each 100th message is held
        // back until its time in the schedule.
        if let Some(rate) = per_second.filter(|_| n % 100 == 99) {
            let due = started + Duration::from_secs_f64((n + 1) as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }
}

/// A forwarding daemon (rsyslog or syslog-ng) killed when dropped.
struct Forwarder(Child);

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts rsyslogd with `action` (an omfwd action) for every message
/// arriving on its own socket in `dir`; returns the daemon and the socket.
fn rsyslog(dir: &Path, action: &str) -> Option<(Forwarder, PathBuf)> {
    rsyslog_with(dir, "", action)
}

/// [`rsyslog`] with more `global()` parameters.
fn rsyslog_with(dir: &Path, globals: &str, action: &str) -> Option<(Forwarder, PathBuf)> {
    if Command::new("rsyslogd").arg("-v").output().is_err() {
        skip_unless_required(
            "LOGQ_REQUIRE_RSYSLOG",
            "rsyslogd is not installed (apt-get install rsyslog)",
        );
        return None;
    }
    let sock = dir.join("log.sock");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}" localHostname="rsyslog-test" {globals})
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" RateLimit.Interval="0")
*.* {action}
"#,
            dir = dir.display(),
            sock = sock.display()
        ),
    )
    .unwrap();
    let child = Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("rsyslogd.err")).unwrap())
        .spawn()
        .expect("start rsyslogd");
    let fwd = Forwarder(child);
    assert!(
        wait_until(Duration::from_secs(10), || sock.exists()),
        "rsyslogd did not create {}: {}",
        sock.display(),
        std::fs::read_to_string(dir.join("rsyslogd.err")).unwrap_or_default()
    );
    Some((fwd, sock))
}

/// Every numbered line of `tag` stored once, with the fields the
/// forwarder gave it.
fn assert_numbered_exactly_once(c: &Collector, tag: &str, host: &str) {
    let out = c.logq(&[tag]);
    assert!(
        out.status.success(),
        "logq {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_numbers(&out.stdout, tag, MESSAGES).unwrap();
    let sample = records(c, &[tag, &format!("{:09}", 1234)]);
    assert_eq!(sample.len(), 1, "{sample:?}");
    let r = &sample[0];
    assert_eq!(r["host"], host, "{r}");
    assert_eq!(r["program"], "numapp", "{r}");
    assert_eq!(r["pid"], 4242, "{r}");
    assert_eq!(r["severity"], "info", "{r}");
    assert_eq!(r["facility"], "user", "{r}");
    assert_eq!(
        r["message"],
        format!("line {tag} {:09} lorem ipsum dolor sit amet", 1234),
        "{r}"
    );
    assert_eq!(r["agent"], "127.0.0.1", "{r}");
}

/// Feeds the forwarder, waits until every line is searchable and checks
/// them; prints the rate.
fn forward_tcp(c: &Collector, sock: &Path, tag: &str, host: &str, what: &str) {
    let started = Instant::now();
    feed(sock, tag, None);
    let arrived = wait_until(Duration::from_secs(120), || count(c, tag) >= MESSAGES);
    let secs = started.elapsed().as_secs_f64();
    assert!(
        arrived,
        "{what}: {} of {MESSAGES} arrived; log:\n{}",
        count(c, tag),
        c.log()
    );
    eprintln!(
        "{what}: {MESSAGES} messages searchable in {secs:.2} s ({:.0} messages/s)",
        MESSAGES as f64 / secs
    );
    assert_numbered_exactly_once(c, tag, host);
}

/// rsyslog's omfwd over TCP with octet counting and
/// RSYSLOG_SyslogProtocol23Format (the newline inside the count, a space
/// before MSG): 10,000 messages arrive exactly once, with rsyslog's host
/// name, the program, pid and text. A wrong count or framing decision
/// loses or merges messages.
#[test]
fn syslog_rsyslog_octet_counted_tcp_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "");
    let action = format!(
        r#"action(type="omfwd" target="127.0.0.1" port="{}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")"#,
        tcp.port()
    );
    let Some((_fwd, sock)) = rsyslog(dir.path(), &action) else {
        return;
    };
    forward_tcp(
        &c,
        &sock,
        "rsoctet",
        "rsyslog-test",
        "rsyslog TCP octet-counted",
    );
}

/// rsyslog's omfwd over TCP with traditional (newline) framing and its
/// default forward format (RFC 3164): 10,000 messages exactly once.
#[test]
fn syslog_rsyslog_newline_tcp_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "");
    let action = format!(
        r#"action(type="omfwd" target="127.0.0.1" port="{}" protocol="tcp")"#,
        tcp.port()
    );
    let Some((_fwd, sock)) = rsyslog(dir.path(), &action) else {
        return;
    };
    forward_tcp(
        &c,
        &sock,
        "rsnewline",
        "rsyslog-test",
        "rsyslog TCP newline",
    );
}

/// rsyslog's omfwd over TLS (RFC 5425: its gtls driver, octet-counted
/// RFC 5424), checking the collector's certificate by name against the CA
/// `collectord tls` made: 10,000 messages arrive exactly once. A
/// plaintext sender on the TLS port is refused with a line in the
/// collector's log, and nothing it sent is stored: without TLS on that
/// port, logs would cross the network readable and forgeable.
#[test]
fn syslog_rsyslog_tls_arrives_exactly_once() {
    let gtls = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .any(|d| Path::new(d).join("rsyslog/lmnsd_gtls.so").exists());
    if !gtls {
        skip_unless_required(
            "LOGQ_REQUIRE_RSYSLOG",
            "rsyslog's TLS driver is not installed (apt-get install rsyslog-gnutls)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = crate::tls::Pki::new(dir.path());
    let mut c = Collector::start(
        dir.path(),
        &format!(
            "syslog-tls = \"127.0.0.1:0\"\ncommit-interval-ms = 100\ntls-cert = {:?}\ntls-key = {:?}\n",
            pki.path("localhost.crt"),
            pki.path("localhost.key")
        ),
    );
    let tls = c.announced("syslog-tls");

    tcp_send(
        tls,
        b"<13>1 2026-11-25T08:00:00Z forger app - - - plaintexttag forged\n",
    );
    assert!(
        wait_until(Duration::from_secs(30), || c
            .log()
            .contains("Refused a syslog-tls connection")),
        "no refusal logged:\n{}",
        c.log()
    );

    let action = format!(
        r#"action(type="omfwd" target="127.0.0.1" port="{}" protocol="tcp" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")"#,
        tls.port()
    );
    let globals = format!("DefaultNetstreamDriverCAFile=\"{}\"", pki.path("ca.crt"));
    let Some((_fwd, sock)) = rsyslog_with(dir.path(), &globals, &action) else {
        return;
    };
    // The positive barrier: rsyslog's messages, sent through the same
    // port after the refusal, are all stored; by then the plaintext one
    // would be too, had it been read as syslog.
    forward_tcp(&c, &sock, "rstls", "rsyslog-test", "rsyslog TLS");
    assert_eq!(
        count(&c, "plaintexttag"),
        0,
        "a plaintext message was stored"
    );
    let r = &records(&c, &["rstls", &format!("{:09}", 7)])[0];
    assert_eq!(r["path"], "syslog/tls", "{r}");
}

/// The most a UDP forwarding test sends per second: a steady rate for a
/// syslog server.
const UDP_PER_SECOND: u64 = 2_000;

/// The pace of the UDP forwarding tests. UDP has no back-pressure, so the
/// sender is paced as a real one is, at a rate whose half second fits the
/// receive buffer the kernel granted collectord (from its log): whatever
/// stall of its writer, the buffer absorbs it and every message must be
/// stored. As root collectord forces 8 MiB, which holds seconds at
/// [`UDP_PER_SECOND`]; elsewhere `net.core.rmem_max` caps it (208 KiB on
/// Debian: about 800 messages/s).
fn udp_pace(c: &Collector) -> u64 {
    let log = c.log();
    let granted: u64 = log
        .lines()
        .find(|l| l.contains("Receiving syslog over UDP"))
        .and_then(|l| l.split("receive_buffer=Some(").nth(1))
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("collectord did not log its receive buffer:\n{log}"));
    // What the kernel reports is what it charges queued datagrams against,
    // bookkeeping included: about 830 bytes for a short one on loopback
    // (measured on Linux 6); 1 KiB leaves room for longer ones.
    let datagrams = granted / 1024;
    (datagrams * 2).clamp(100, UDP_PER_SECOND)
}

/// Feeds the forwarder `MESSAGES` numbered messages at [`udp_pace`] and
/// waits until every one is stored exactly once, with the fields the
/// forwarder gave it. A collector that read too slowly, or stopped reading
/// for long, would let the kernel drop messages, and fail here; the
/// kernel's drop count for its socket says in a failure who lost them.
fn forward_udp(c: &Collector, udp: SocketAddr, sock: &Path, tag: &str, host: &str, what: &str) {
    let pace = udp_pace(c);
    let started = Instant::now();
    let before = udp_drops(udp.port());
    feed(sock, tag, Some(pace));
    let fed = started.elapsed().as_secs_f64();
    let mut stored = 0;
    let arrived = wait_until(Duration::from_secs(60), || {
        stored = count(c, tag);
        stored >= MESSAGES
            // Once the kernel dropped one, waiting longer cannot help.
            || udp_drops(udp.port()) > before
    });
    let dropped = udp_drops(udp.port()) - before;
    assert!(
        arrived && stored == MESSAGES && dropped == 0,
        "{what}: {stored} of {MESSAGES} stored, {dropped} dropped by the kernel, \
         sent at {pace}/s over {fed:.1} s; log:\n{}",
        c.log()
    );
    eprintln!(
        "{what}: {MESSAGES} messages at {pace}/s, all searchable {:.2} s after the first",
        started.elapsed().as_secs_f64()
    );
    assert_numbered_exactly_once(c, tag, host);
}

/// rsyslog's omfwd over UDP (RFC 3164 forward format), paced: every
/// message is stored exactly once. A user would otherwise miss syslog
/// lines sent over UDP by a collector that lets the kernel drop them.
#[test]
fn syslog_rsyslog_udp_paced_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, udp, _) = start(dir.path(), "");
    let action = format!(
        r#"action(type="omfwd" target="127.0.0.1" port="{}" protocol="udp")"#,
        udp.port()
    );
    let Some((_fwd, sock)) = rsyslog(dir.path(), &action) else {
        return;
    };
    forward_udp(&c, udp, &sock, "rsudp", "rsyslog-test", "rsyslog UDP");
}

/// The syslog-ng binary to test: `LOGQ_SYSLOG_NG`, else `syslog-ng` on
/// PATH; `None` (skip) when neither, unless `LOGQ_REQUIRE_SYSLOG_NG=1`.
fn syslog_ng_binary() -> Option<PathBuf> {
    let found = match std::env::var_os("LOGQ_SYSLOG_NG") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/sbin")])
                .map(|d| d.join("syslog-ng"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        skip_unless_required(
            "LOGQ_REQUIRE_SYSLOG_NG",
            "there is no syslog-ng (install syslog-ng-core, or set LOGQ_SYSLOG_NG to an unpacked one)",
        );
    }
    found
}

/// Starts syslog-ng reading a Unix datagram socket in `dir` and sending to
/// `destination` (a syslog-ng destination driver).
fn syslog_ng(dir: &Path, destination: &str) -> Option<(Forwarder, PathBuf)> {
    let bin = syslog_ng_binary()?;
    let sock = dir.join("log.sock");
    let conf = dir.join("syslog-ng.conf");
    std::fs::write(
        &conf,
        format!(
            r#"@version: 3.38
options {{ keep-hostname(no); use-fqdn(no); stats-freq(0); }};
source s_test {{ unix-dgram("{sock}"); }};
destination d_collector {{ {destination}; }};
log {{ source(s_test); destination(d_collector); }};
"#,
            sock = sock.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&bin);
    cmd.arg("-F")
        .arg("-f")
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("syslog-ng.pid"))
        .arg("-R")
        .arg(dir.join("syslog-ng.persist"))
        .arg("-c")
        .arg(dir.join("syslog-ng.ctl"));
    // An unpacked package (dpkg -x ROOT): its libraries and modules.
    if let Some(root) = bin
        .parent()
        .and_then(Path::parent)
        .filter(|usr| usr.join("lib/syslog-ng").is_dir() && !usr.starts_with("/usr"))
    {
        let lib = root.join("lib/syslog-ng");
        let modules = std::fs::read_dir(&lib)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir() && p.join("libafsocket.so").exists())
            .expect("the unpacked syslog-ng has its modules");
        cmd.env("LD_LIBRARY_PATH", &lib)
            .arg("--module-path")
            .arg(modules);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("syslog-ng.err")).unwrap())
        .spawn()
        .expect("start syslog-ng");
    let fwd = Forwarder(child);
    assert!(
        wait_until(Duration::from_secs(10), || sock.exists()),
        "syslog-ng did not create {}: {}",
        sock.display(),
        std::fs::read_to_string(dir.join("syslog-ng.err")).unwrap_or_default()
    );
    Some((fwd, sock))
}

/// syslog-ng's `syslog()` driver: RFC 5424, octet counted, over TCP.
#[test]
fn syslog_ng_syslog_driver_tcp_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "");
    let dest = format!(
        r#"syslog("127.0.0.1" transport("tcp") port({}))"#,
        tcp.port()
    );
    let Some((_fwd, sock)) = syslog_ng(dir.path(), &dest) else {
        return;
    };
    forward_tcp(&c, &sock, "ngsyslog", &hostname(), "syslog-ng syslog() TCP");
}

/// syslog-ng's `network()` driver: RFC 3164, newline framed, over TCP.
#[test]
fn syslog_ng_network_driver_tcp_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "");
    let dest = format!(
        r#"network("127.0.0.1" transport("tcp") port({}))"#,
        tcp.port()
    );
    let Some((_fwd, sock)) = syslog_ng(dir.path(), &dest) else {
        return;
    };
    forward_tcp(
        &c,
        &sock,
        "ngnetwork",
        &hostname(),
        "syslog-ng network() TCP",
    );
}

/// syslog-ng's `network()` driver over UDP, paced: every message is
/// stored exactly once.
#[test]
fn syslog_ng_network_driver_udp_paced_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (c, udp, _) = start(dir.path(), "");
    let dest = format!(
        r#"network("127.0.0.1" transport("udp") port({}))"#,
        udp.port()
    );
    let Some((_fwd, sock)) = syslog_ng(dir.path(), &dest) else {
        return;
    };
    forward_udp(
        &c,
        udp,
        &sock,
        "ngudp",
        &hostname(),
        "syslog-ng network() UDP",
    );
}

/// A message over `syslog-max-message-bytes` is kept, cut to the limit and
/// flagged truncated (logq -o json shows the flag), over TCP and UDP; the
/// next message on the connection is whole. Dropping it would lose the
/// evidence; keeping it whole would let one sender exhaust memory.
#[test]
fn syslog_oversize_message_is_truncated_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (c, udp, tcp) = start(dir.path(), "syslog-max-message-bytes = 1000\n");
    let long = |tag: &str| {
        format!(
            "<13>Nov 25 08:00:00 web9 big[1]: {tag} {}",
            "x".repeat(5000)
        )
    };
    tcp_send(
        tcp,
        format!(
            "{}\n<13>Nov 25 08:00:01 web9 small[1]: aftertcp\n",
            long("bigtcp")
        )
        .as_bytes(),
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(long("bigudp").as_bytes(), udp).unwrap();
    assert!(
        c.wait_for_lines(3, Duration::from_secs(20)),
        "log:\n{}",
        c.log()
    );
    for tag in ["bigtcp", "bigudp"] {
        let r = records(&c, &[tag]);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0]["line"].as_str().unwrap().len(), 1000, "{tag}");
        assert_eq!(r[0]["flags"], serde_json::json!(["truncated"]), "{tag}");
    }
    let after = records(&c, &["aftertcp"]);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["flags"], serde_json::json!([]));
}

/// Over `syslog-max-connections`, a connection is closed at once, what it
/// sent is not stored, and the refusal is logged with the peer's address,
/// so an operator can tell why a sender's connection drops; the connection
/// already open is served. Without the limit, one sender opening
/// connections without end would exhaust the collector.
#[test]
fn syslog_connection_over_the_limit_is_refused_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "syslog-max-connections = 1\n");
    let mut first = TcpStream::connect(tcp).unwrap();
    first
        .write_all(b"<13>Nov 25 08:00:00 web9 app[1]: firstconn\n")
        .unwrap();
    assert!(
        c.wait_for_lines(1, Duration::from_secs(20)),
        "log:\n{}",
        c.log()
    );
    let mut second = TcpStream::connect(tcp).unwrap();
    let peer = second.local_addr().unwrap().to_string();
    // Sent before the refusal reaches us (the kernel takes it): it must
    // not be stored. A write after the close may fail: that is fine too.
    let _ = second.write_all(b"<13>Nov 25 08:00:00 web9 app[1]: overthelimit\n");
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    // Closed: end of stream, or a reset when collectord closed it with
    // our message unread. A timeout means it was kept open.
    match second.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("the second connection got {n} bytes instead of a close"),
        Err(e) => panic!("the second connection was not closed within 10 s: {e}"),
    }
    assert!(
        wait_until(Duration::from_secs(10), || c.log().lines().any(|l| l
            .contains("Refused a syslog connection")
            && l.contains(&peer))),
        "no refusal naming {peer}; log:\n{}",
        c.log()
    );
    first
        .write_all(b"<13>Nov 25 08:00:01 web9 app[1]: stillserved\n")
        .unwrap();
    // The positive barrier: the first connection's later message is
    // stored; the refused one's, sent before it, is not.
    assert!(
        wait_until(Duration::from_secs(20), || count(&c, "stillserved") == 1),
        "log:\n{}",
        c.log()
    );
    assert_eq!(
        count(&c, "overthelimit"),
        0,
        "a refused connection was read"
    );
    assert_eq!(c.searchable_lines(), 2);
}

/// A syslog TCP connection that sends nothing is closed after
/// `syslog-idle-timeout-ms` and the close is logged with its reason; one
/// that keeps sending is not. Without it, 1,020 of 1,030 idle connections
/// held their places for ever and new senders were refused.
#[test]
fn syslog_idle_connection_is_closed_and_a_busy_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "syslog-idle-timeout-ms = 1000\n");
    let mut idle = TcpStream::connect(tcp).unwrap();
    let mut busy = TcpStream::connect(tcp).unwrap();
    let started = Instant::now();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut n = 0u64;
    let sent = std::thread::scope(|s| {
        let feeder = s.spawn(|| {
            // A message every 300 ms: never idle for a second.
            while started.elapsed() < Duration::from_secs(3) {
                busy.write_all(
                    format!("<13>Nov 25 08:00:00 web9 app[1]: keepalive{n}\n").as_bytes(),
                )
                .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
            n
        });
        let mut buf = [0u8; 16];
        assert_eq!(
            idle.read(&mut buf).unwrap_or(0),
            0,
            "the idle connection is closed"
        );
        let closed_after = started.elapsed();
        assert!(
            closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(10),
            "closed after {closed_after:?}"
        );
        feeder.join().unwrap()
    });
    assert!(
        c.wait_for_lines(sent, Duration::from_secs(20)),
        "the busy connection's {sent} messages; log:\n{}",
        c.log()
    );
    assert!(
        c.log()
            .contains("no message for 1000 ms (syslog-idle-timeout-ms)"),
        "log:\n{}",
        c.log()
    );
}

/// One address may hold at most `syslog-max-connections-per-source`
/// connections that are sending; past it a newcomer is closed at once and
/// logged, while another address is served.
#[test]
fn syslog_connections_over_the_per_source_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _, tcp) = start(dir.path(), "syslog-max-connections-per-source = 2\n");
    let from = |ip: [u8; 4]| connect_from(ip.into(), tcp).unwrap();
    let ip = [127, 0, 5, 1];
    let mut a = from(ip);
    let mut b = from(ip);
    a.write_all(b"<13>Nov 25 08:00:00 web9 app[1]: froma\n")
        .unwrap();
    b.write_all(b"<13>Nov 25 08:00:00 web9 app[1]: fromb\n")
        .unwrap();
    assert!(
        c.wait_for_lines(2, Duration::from_secs(20)),
        "log:\n{}",
        c.log()
    );
    let mut third = from(ip);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        third.read(&mut buf).unwrap_or(0),
        0,
        "the third is closed at once"
    );
    let peer = third.local_addr().unwrap().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || c
            .log()
            .lines()
            .any(|l| l.contains("Refused a syslog connection")
                && l.contains(&peer)
                && l.contains("per-source"))),
        "no refusal naming {peer}; log:\n{}",
        c.log()
    );
    let mut other = from([127, 0, 5, 2]);
    other
        .write_all(b"<13>Nov 25 08:00:00 web9 app[1]: fromother\n")
        .unwrap();
    a.write_all(b"<13>Nov 25 08:00:01 web9 app[1]: againa\n")
        .unwrap();
    assert!(
        c.wait_for_lines(4, Duration::from_secs(20)),
        "log:\n{}",
        c.log()
    );
}

/// UDP over `syslog-rate-limit`: the excess is dropped, never silently:
/// the log's counts plus what was stored (plus any kernel drops) is what
/// was sent, and another source is not limited by this one.
#[test]
fn syslog_udp_rate_limit_drops_are_counted_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, udp, _) = start(dir.path(), "syslog-rate-limit = 100\n");
    let sent = 1000u64;
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..sent {
        flood
            .send_to(
                format!("<13>Nov 25 08:00:00 web9 flood[1]: ratetag {n}").as_bytes(),
                udp,
            )
            .unwrap();
    }
    // Another source, after the flood in the same socket queue: once it is
    // stored, every flood datagram was read.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    other
        .send_to(b"<13>Nov 25 08:00:01 web9 calm[1]: otherfinish", udp)
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || count(&c, "otherfinish") == 1),
        "log:\n{}",
        c.log()
    );
    let kernel = udp_drops(udp.port());
    // SIGTERM logs the counts not logged yet.
    c.terminate(Duration::from_secs(30))
        .expect("collectord exits");
    let stored = count(&c, "ratetag");
    let log = c.log();
    let logged: u64 = log
        .lines()
        .filter(|l| l.contains("syslog UDP message(s) from 127.0.0.1"))
        .filter_map(|l| {
            l.split("dropped=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(logged > 0, "no drop was logged:\n{log}");
    assert!(stored >= 100, "a second's burst is kept: {stored}");
    assert_eq!(
        stored + logged + kernel,
        sent,
        "stored {stored}, logged {logged}, kernel {kernel}:\n{log}"
    );
}

/// Two free TCP ports on 127.0.0.1 (bound, then let go).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// collectord under `systemd-socket-activate` with two TCP sockets named
/// `names` (as `FileDescriptorName=` in the units would name them).
/// `None` (skipped with the reason) without `systemd-socket-activate`,
/// unless `LOGQ_REQUIRE_SYSTEMD=1`.
fn socket_activated(dir: &Path, names: &str, ports: (u16, u16)) -> Option<Forwarder> {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_unless_required(
            "LOGQ_REQUIRE_SYSTEMD",
            "systemd-socket-activate is not installed (package systemd)",
        );
        return None;
    }
    let conf = dir.join("c.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = \"127.0.0.1:0\"\ndata-dir = \"{}\"\ncommit-interval-ms = 100\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(format!("127.0.0.1:{}", ports.0))
        .arg("-l")
        .arg(format!("127.0.0.1:{}", ports.1))
        .arg(format!("--fdname={names}"))
        .arg("-E")
        .arg("COLLECTORD_LOG=info")
        .arg(logq_tests::bin("collectord"))
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("collectord.log")).unwrap())
        .spawn()
        .expect("start systemd-socket-activate");
    let log = dir.join("collectord.log");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("Listening on"))),
        "systemd-socket-activate did not listen"
    );
    Some(Forwarder(child))
}

/// collectord-syslog-tcp.socket beside collectord.socket: the socket named
/// `syslog-tcp` is served as syslog (whatever its order), the one named
/// `agents` as the agents' port; without this an enabled syslog socket unit
/// would be served as the wrong protocol.
#[test]
fn syslog_socket_passed_by_systemd_is_served_by_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports();
    let Some(_activator) = socket_activated(dir.path(), "syslog-tcp:agents", ports) else {
        return;
    };
    tcp_send(
        SocketAddr::from(([127, 0, 0, 1], ports.0)),
        b"<13>Nov 25 08:00:00 web9 app[1]: socketactivated\n",
    );
    // The connection started collectord; logq can search once its store
    // is open, which is before it serves the sockets.
    let log = dir.path().join("collectord.log");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || read_log()
            .contains("Receiving syslog over TCP.")),
        "log:\n{}",
        read_log()
    );
    let data = dir.path().join("data");
    let found = wait_until(Duration::from_secs(20), || {
        logq_tests::count(&data, &["socketactivated"]) == 1
    });
    let log = read_log();
    assert!(found, "log:\n{log}");
    assert!(
        log.contains(&format!(
            "Receiving syslog over TCP. addr=127.0.0.1:{} from=Systemd",
            ports.0
        )),
        "{log}"
    );
}

/// An unknown `FileDescriptorName=` among several sockets stops collectord
/// with an error naming it, not a socket served as the wrong protocol.
#[test]
fn syslog_unknown_socket_name_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports();
    let Some(_activator) = socket_activated(dir.path(), "agents:sislog-tcp", ports) else {
        return;
    };
    // The first connection starts collectord.
    let _ = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], ports.1)));
    let log = dir.path().join("collectord.log");
    assert!(
        wait_until(Duration::from_secs(20), || std::fs::read_to_string(&log)
            .is_ok_and(
                |l| l.contains("\"sislog-tcp\" is not a name collectord knows")
            )),
        "log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
