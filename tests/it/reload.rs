//! `systemctl reload`: SIGHUP makes both daemons read their config file
//! again, with RELOADING=1 and READY=1 to systemd around it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use logcore::wire::{self, Frame, VERSION};
use logq_tests::{wait_until, Agent, Collector};

use crate::delivery::{assert_exactly_once, count};
use crate::lifecycle::append;

const RELOAD: Duration = Duration::from_secs(30);

/// The window collectord announces in WELCOME to an agent connecting now.
fn welcome_window(addr: SocketAddr) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    Frame::Hello {
        version: VERSION,
        agent_id: "probe".into(),
        host: "probe".into(),
        utc_offset_secs: 0,
    }
    .encode(&mut out)
    .unwrap();
    s.write_all(&out).unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some(n) = wire::check(&buf, 1 << 20).unwrap() {
            match Frame::decode(&buf[..n]).unwrap() {
                Frame::Welcome { window, .. } => return window,
                other => panic!("expected WELCOME, got {other:?}"),
            }
        }
        let mut chunk = [0u8; 256];
        let n = s.read(&mut chunk).expect("collectord answers HELLO");
        assert!(n > 0, "collectord closed before WELCOME");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A new `window` reaches agents that connect after `systemctl reload
/// collectord`, and a key that needs a restart is said to need one. Then a
/// bad value: the collector keeps running on the config it had, says which
/// key and file are wrong, tells systemd it is ready again, and stores
/// lines. Broken, an operator's change would silently wait for a restart,
/// or a typo saved before a reload would stop log collection.
#[test]
fn collector_reload_applies_live_keys_and_survives_a_bad_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&tmp.path().join("collector"), "window = 8");
    assert_eq!(welcome_window(collector.addr), 8);

    collector.write_config("window = 3\nwriter-threads = 2");
    collector.reload(RELOAD).unwrap();
    assert_eq!(welcome_window(collector.addr), 3);
    let log = collector.log();
    assert!(
        log.contains("Reloaded the configuration.") && log.contains("window, writer-threads"),
        "the reload does not say what changed:\n{log}"
    );
    assert!(
        log.contains("writer-threads changed; it takes effect at the next restart"),
        "a key needing a restart is not called out:\n{log}"
    );

    collector.write_config("window = 0");
    collector.reload(RELOAD).unwrap();
    assert!(
        collector.is_running(),
        "a bad config on reload stopped collectord"
    );
    let log = collector.log();
    let config = collector.config.display().to_string();
    assert!(
        log.contains("Cannot reload") && log.contains("`window`") && log.contains(&config),
        "the error does not name the key and the file:\n{log}"
    );
    assert_eq!(welcome_window(collector.addr), 3, "a bad file half-applied");

    let path = tmp.path().join("t.log");
    append(&path, "t", 0..200);
    let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&path], "");
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "line") == 200),
        "lines not stored after a failed reload; agent log:\n{}",
        agent.log()
    );
}

/// An input added by `systemctl reload agentd` is read, lines written
/// before, during and after the reload all arrive, and each line of the
/// file that was already followed is stored exactly once: the pipeline
/// restart re-reads only what was not acknowledged, and the collector drops
/// what it already has. Broken, a reload would lose or double log lines.
#[test]
fn agent_reload_adds_an_input_and_keeps_every_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let (a, b) = (tmp.path().join("a.log"), tmp.path().join("b.log"));
    append(&a, "a", 0..1_000);
    append(&b, "b", 0..500);
    let mut agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&a], "");
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "line")
            == 1_000),
        "agent log:\n{}",
        agent.log()
    );

    // Being read, or in flight, while the pipeline restarts.
    append(&a, "a", 1_000..3_000);
    agent.write_config(collector.addr, &[&a, &b], "");
    agent.reload(RELOAD).unwrap();
    assert!(agent.is_running());
    append(&a, "a", 3_000..4_000);
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "line")
            >= 4_500),
        "agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("a", 4_000), ("b", 500)]);
    let log = agent.log();
    assert!(
        log.contains("changed=inputs") || log.contains("changed=\"inputs\""),
        "the reload does not name the changed key:\n{log}"
    );
}

/// A reload with an invalid file keeps agentd running on its config and
/// names the key; one with an unchanged file does not restart anything.
/// Both tell systemd READY=1 again, and lines keep flowing. Broken, a typo
/// saved before `systemctl reload agentd` would stop log shipping.
#[test]
fn agent_reload_with_bad_or_unchanged_file_keeps_shipping() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let a = tmp.path().join("a.log");
    append(&a, "a", 0..100);
    let mut agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&a], "");
    assert!(agent.wait_ready(Duration::from_secs(10)));

    agent.reload(RELOAD).unwrap();
    assert!(agent.log().contains("unchanged"), "{}", agent.log());

    agent.write_config(collector.addr, &[&a], "batch-lines = 0");
    agent.reload(RELOAD).unwrap();
    assert!(agent.is_running(), "a bad config on reload stopped agentd");
    let log = agent.log();
    assert!(
        log.contains("Cannot reload")
            && log.contains("`batch-lines`")
            && log.contains(&display(&agent.config)),
        "the error does not name the key and the file:\n{log}"
    );
    assert!(
        !log.contains("restarting the pipeline"),
        "a reload that changed nothing restarted the pipeline:\n{log}"
    );

    append(&a, "a", 100..200);
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "line") >= 200),
        "agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("a", 200)]);
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
