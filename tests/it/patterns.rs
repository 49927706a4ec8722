//! `logq --patterns` on lines shipped through the real agentd and
//! collectord: groups by message template, counts, latest group first,
//! with every filter, as short and JSON output.
//!
//! The lines vary only in what the template miner always masks (addresses,
//! ports), so their templates are the same whatever order the miner sees
//! them in and whether it starts from collectord's model or afresh.

use std::fs;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use logq_tests::{Agent, Collector, Shared};

/// sshd's accepted keys (latest at :40), failed passwords from three hosts
/// (latest at :30), two CRON runs (latest at :20), and one error at
/// severity err (`<35>`, at :10), interleaved in time.
const LINES: [&str; 12] = [
    "2026-11-24T22:20:01+00:00 web1 sshd[100]: Failed password for root from 203.0.113.9 port 52144 ssh2",
    "2026-11-24T22:20:02+00:00 db1 CRON[200]: (root) CMD (run-parts /etc/cron.hourly)",
    "2026-11-24T22:20:03+00:00 web2 sshd[101]: Accepted publickey for deploy from 198.51.100.7 port 40022 ssh2",
    "2026-11-24T22:20:05+00:00 web1 sshd[102]: Failed password for root from 203.0.113.10 port 52150 ssh2",
    "<35>2026-11-24T22:20:10+00:00 web1 sshd[103]: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 52151 ssh2 [preauth]",
    "2026-11-24T22:20:12+00:00 web2 sshd[104]: Failed password for root from 203.0.113.11 port 52160 ssh2",
    "2026-11-24T22:20:15+00:00 web2 sshd[105]: Accepted publickey for deploy from 198.51.100.8 port 40023 ssh2",
    "2026-11-24T22:20:18+00:00 web3 sshd[106]: Failed password for root from 203.0.113.12 port 52170 ssh2",
    "2026-11-24T22:20:20+00:00 db1 CRON[201]: (root) CMD (run-parts /etc/cron.hourly)",
    "2026-11-24T22:20:25+00:00 web1 sshd[107]: Failed password for root from 203.0.113.9 port 52180 ssh2",
    "2026-11-24T22:20:30+00:00 web3 sshd[108]: Failed password for root from 203.0.113.13 port 52190 ssh2",
    "2026-11-24T22:20:40+00:00 web2 sshd[109]: Accepted publickey for deploy from 198.51.100.9 port 40024 ssh2",
];

const ACCEPTED: &str = "Accepted publickey for deploy from <*> port <*> ssh2";
const FAILED: &str = "Failed password for root from <*> port <*> ssh2";
const CRON: &str = "(root) CMD (run-parts /etc/cron.hourly)";
const ERROR: &str =
    "error: maximum authentication attempts exceeded for root from <*> port <*> ssh2 [preauth]";

struct Fixture {
    collector: Collector,
    _agent: Agent,
    _tmp: tempfile::TempDir,
}

static FIXTURE: Shared<Fixture> = Shared::new();

fn fixture() -> Arc<Fixture> {
    FIXTURE.get(|| {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        fs::create_dir_all(&logs).unwrap();
        let path = logs.join("auth.log");
        fs::write(&path, LINES.map(|l| format!("{l}\n")).concat()).unwrap();
        let collector = Collector::start(&tmp.path().join("collector"), "");
        let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&path], "");
        assert!(
            collector.wait_for_lines(LINES.len() as u64, Duration::from_secs(60)),
            "{:?} of {} lines became searchable; agent log:\n{}",
            collector.searchable_lines(),
            LINES.len(),
            agent.log()
        );
        Fixture {
            collector,
            _agent: agent,
            _tmp: tmp,
        }
    })
}

fn logq(fx: &Fixture, args: &[&str]) -> Output {
    fx.collector.logq_command().args(args).output().unwrap()
}

/// Runs `logq --patterns ARGS`, requires exit 0 and nothing on stderr,
/// returns stdout.
fn patterns(fx: &Fixture, args: &[&str]) -> String {
    let out = logq(fx, &[&["--patterns"], args].concat());
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "logq --patterns {args:?}: {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `COUNT<TAB>LAST<TAB>TEMPLATE`, the group whose newest line is latest
/// first: what an operator reads and what `sort`/`awk -F'\t'` take apart.
#[test]
fn patterns_group_shipped_lines_by_template_latest_first() {
    let fx = fixture();
    let expected = format!(
        "3\tNov 24 22:20:40\t{ACCEPTED}\n\
         6\tNov 24 22:20:30\t{FAILED}\n\
         2\tNov 24 22:20:20\t{CRON}\n\
         1\tNov 24 22:20:10\t{ERROR}\n"
    );
    assert_eq!(patterns(&fx, &[]), expected);
}

/// Every filter narrows the lines that are grouped, and counts follow.
#[test]
fn patterns_work_with_every_filter() {
    let fx = fixture();
    assert_eq!(
        patterns(&fx, &["-H", "web1", "program:sshd"]),
        format!("3\tNov 24 22:20:25\t{FAILED}\n1\tNov 24 22:20:10\t{ERROR}\n")
    );
    assert_eq!(
        patterns(&fx, &["-p", "err"]),
        format!("1\tNov 24 22:20:10\t{ERROR}\n")
    );
    assert_eq!(
        patterns(&fx, &["--since", "2026-11-24 22:20:16", "-t", "sshd"]),
        format!("1\tNov 24 22:20:40\t{ACCEPTED}\n3\tNov 24 22:20:30\t{FAILED}\n")
    );
    assert_eq!(
        patterns(&fx, &["--until", "2026-11-24 22:20:03", "root"]),
        format!("1\tNov 24 22:20:02\t{CRON}\n1\tNov 24 22:20:01\t{FAILED}\n")
    );
    assert_eq!(
        patterns(&fx, &["-e", r"port 4002[34]"]),
        format!("2\tNov 24 22:20:40\t{ACCEPTED}\n")
    );
}

/// `-o json`: one object per group with its id, text, count, first and
/// last time (UTC), the newest message and the hosts, for jq.
#[test]
fn patterns_json_has_counts_times_example_and_hosts() {
    let fx = fixture();
    let out = patterns(&fx, &["-o", "json", "Failed"]);
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 1, "{out}");
    let g = &objects[0];
    assert!(g["template_id"].is_u64(), "{g}");
    assert_eq!(g["template"], FAILED);
    assert_eq!(g["count"], 6);
    assert_eq!(g["first"], "2026-11-24T22:20:01.000Z");
    assert_eq!(g["last"], "2026-11-24T22:20:30.000Z");
    assert_eq!(
        g["example"],
        "Failed password for root from 203.0.113.13 port 52190 ssh2"
    );
    assert_eq!(g["hosts"], serde_json::json!(["web1", "web2", "web3"]));
    assert_eq!(g["more_hosts"], false);
}

/// No match is exit 1 with nothing printed, as for a search; raw output
/// has no meaning for groups and is refused (exit 2, a message).
#[test]
fn patterns_exit_statuses() {
    let fx = fixture();
    let none = logq(&fx, &["--patterns", "nosuchword"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(none.stdout.is_empty() && none.stderr.is_empty());
    let raw = logq(&fx, &["--patterns", "-o", "raw"]);
    assert_eq!(raw.status.code(), Some(2));
    let err = String::from_utf8_lossy(&raw.stderr);
    assert!(err.starts_with("logq: error: --patterns"), "{err}");
}
