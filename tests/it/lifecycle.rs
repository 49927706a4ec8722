//! Starting, stopping and restarting the daemons the way systemd does.

use std::fs;
use std::io::Write;
use std::time::Duration;

use logq_tests::{check_numbers, numbered_line, wait_until, Agent, Collector};

use crate::delivery::count;

pub fn append(path: &std::path::Path, tag: &str, range: std::ops::Range<u64>) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for n in range {
        writeln!(f, "{}", numbered_line(tag, n)).unwrap();
    }
}

/// SIGTERM makes both daemons exit 0 within a few seconds (systemctl stop
/// must not hit its timeout and SIGKILL), and what was acknowledged stays.
#[test]
fn sigterm_stops_both_daemons_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&tmp.path().join("collector"), "");
    let log = tmp.path().join("t.log");
    append(&log, "t", 0..5_000);
    let mut agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&log], "");
    assert!(wait_until(Duration::from_secs(30), || count(
        &collector, "line"
    ) == 5_000));
    let status = agent
        .terminate(Duration::from_secs(8))
        .expect("agentd did not exit within 8 s of SIGTERM");
    assert!(status.success(), "agentd exited with {status}");
    let status = collector
        .terminate(Duration::from_secs(8))
        .expect("collectord did not exit within 8 s of SIGTERM");
    assert!(status.success(), "collectord exited with {status}");
    assert_eq!(count(&collector, "line"), 5_000);
}

/// agentd stopped while the collector is unreachable still exits promptly:
/// unacknowledged lines are re-read on the next start, not waited for.
#[test]
fn sigterm_with_collector_gone_exits_promptly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&tmp.path().join("collector"), "");
    let addr = collector.addr;
    collector.kill9();
    let log = tmp.path().join("t.log");
    append(&log, "t", 0..1_000);
    let mut agent = Agent::start(&tmp.path().join("agent"), addr, &[&log], "");
    assert!(wait_until(Duration::from_secs(10), || agent
        .log()
        .to_lowercase()
        .contains("connect")));
    let status = agent
        .terminate(Duration::from_secs(10))
        .expect("agentd hung on SIGTERM with no collector");
    assert!(status.success(), "agentd exited with {status}");
}

/// A file rotated (renamed, new file created) while agentd was stopped: on
/// restart it finishes the rotated file from its checkpoint, then reads the
/// new one. Otherwise every agent upgrade during a logrotate run loses lines.
#[test]
fn file_rotated_while_agent_was_stopped_is_finished_then_new_file_read() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let path = logs.join("r.log");
    append(&path, "r", 0..1_000);
    let mut agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&path], "");
    assert!(wait_until(Duration::from_secs(30), || count(
        &collector, "line"
    ) == 1_000));
    assert!(agent
        .terminate(Duration::from_secs(8))
        .is_some_and(|s| s.success()));

    append(&path, "r", 1_000..1_500); // written after agentd stopped
    fs::rename(&path, logs.join("r.log.1")).unwrap();
    append(&path, "r", 1_500..2_000); // the new file
    let agent = agent.restart();
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "line")
            >= 2_000),
        "agent log:\n{}",
        agent.log()
    );
    check_numbers(&collector.logq(&[]).stdout, "r", 2_000).unwrap();
}

/// Files that appear after agentd started (a glob, or a path that did not
/// exist yet) are read from their first line, and with `start-at = "end"`
/// a file that was there is read from its end. A user would otherwise miss
/// the first lines of every new log file, or get a flood of old lines.
#[test]
fn files_appearing_later_are_read_from_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let glob = logs.join("*.log");
    fs::write(
        logs.join("old.log"),
        "Nov 24 22:20:01 testhost app[7]: skippedbystartatend\n",
    )
    .unwrap();
    let agent = Agent::start(
        &tmp.path().join("agent"),
        collector.addr,
        &[&glob],
        "start-at = \"end\"",
    );
    assert!(
        agent_ready(&agent),
        "agentd never said READY=1; log:\n{}",
        agent.log()
    );
    append(&logs.join("late.log"), "l", 0..300);
    assert!(
        wait_until(Duration::from_secs(30), || count(&collector, "line") >= 300),
        "agent log:\n{}",
        agent.log()
    );
    check_numbers(&collector.logq(&[]).stdout, "l", 300).unwrap();
    // The barrier: a line added to the old file is shipped. A file's lines
    // arrive in order, so had agentd read it from its start, the old line
    // would be stored by then.
    fs::OpenOptions::new()
        .append(true)
        .open(logs.join("old.log"))
        .unwrap()
        .write_all(b"Nov 24 22:20:02 testhost app[7]: appendedtoold\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || count(
            &collector,
            "appendedtoold"
        ) == 1),
        "a line added to a followed file never arrived; agent log:\n{}",
        agent.log()
    );
    assert_eq!(
        count(&collector, "skippedbystartatend"),
        0,
        "start-at = end read an old file from the start"
    );
}

fn agent_ready(agent: &Agent) -> bool {
    agent.wait_ready(Duration::from_secs(10))
}

/// A last line without its newline ships after partial-flush-ms, so a
/// program that crashed mid-line is still visible.
#[test]
fn partial_last_line_ships_after_flush_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let path = tmp.path().join("p.log");
    fs::write(
        &path,
        "Nov 24 22:20:01 testhost app[7]: complete\nNov 24 22:20:01 testhost app[7]: dangling",
    )
    .unwrap();
    let _agent = Agent::start(
        &tmp.path().join("agent"),
        collector.addr,
        &[&path],
        "partial-flush-ms = 500",
    );
    assert!(wait_until(Duration::from_secs(20), || count(
        &collector, "dangling"
    ) == 1));
    assert_eq!(count(&collector, "complete"), 1);
}

/// A typo in a config file stops the daemon with exit status 78 (systemd's
/// RestartPreventExitStatus= keeps it from a restart loop) and a message
/// naming the key and the file, for both daemons.
#[test]
fn bad_config_names_key_and_file_and_exits_78() {
    let tmp = tempfile::tempdir().unwrap();
    for (program, body) in [
        (
            "collectord",
            "listen = \"127.0.0.1:0\"\nretention-dayz = 3\n",
        ),
        ("agentd", "collector = \"127.0.0.1:1\"\nbatch-lines = 0\n"),
    ] {
        let config = tmp.path().join(format!("{program}.toml"));
        fs::write(&config, body).unwrap();
        for check_only in [false, true] {
            let mut cmd = std::process::Command::new(logq_tests::bin(program));
            cmd.arg("--config").arg(&config);
            if check_only {
                cmd.arg("--check-config");
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{program}: {stderr}");
            let key = if program == "collectord" {
                "retention-dayz"
            } else {
                "batch-lines"
            };
            assert!(
                stderr.contains(key),
                "{program} does not name the key: {stderr}"
            );
            assert!(
                stderr.contains(&config.display().to_string()),
                "{program} does not name the file: {stderr}"
            );
        }
    }
}
