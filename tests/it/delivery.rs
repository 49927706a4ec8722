//! Every line written reaches the index exactly once, whatever rotation and
//! outages happen on the way.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use logq_tests::{check_numbers, rss_kib, wait_until, Agent, Collector};

use crate::writer::{write, Plan, Rotation};

/// How many lines matching `query` logq counts; panics when logq fails,
/// so that a check of 0 cannot pass on a logq that could not search.
pub fn count(collector: &Collector, query: &str) -> u64 {
    collector.count(&[query])
}

/// Waits until the `finish<tag>` line of every tag is searchable.
pub fn wait_for_finish(collector: &Collector, tags: &[&str], timeout: Duration) -> bool {
    wait_until(timeout, || {
        tags.iter()
            .all(|t| count(collector, &format!("finish{t}")) >= 1)
    })
}

/// Checks every numbered line of each (tag, count) is in the index once.
pub fn assert_exactly_once(collector: &Collector, expect: &[(&str, u64)]) {
    let out = collector.logq(&[]);
    assert!(
        out.status.success(),
        "logq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors: Vec<String> = expect
        .iter()
        .filter_map(|(tag, n)| check_numbers(&out.stdout, tag, *n).err())
        .collect();
    assert!(errors.is_empty(), "lines lost or doubled: {errors:?}");
}

pub fn two_rotating_files(dir: &Path, lines_each: u64, rate: u64) -> (Plan, Plan) {
    std::fs::create_dir_all(dir).unwrap();
    let a = Plan {
        path: dir.join("a.log"),
        tag: "a",
        lines: lines_each,
        rotate_every: lines_each / 4 + 1,
        rotation: Rotation::RenameCreate,
        rate,
    };
    let b = Plan {
        path: dir.join("b.log"),
        tag: "b",
        lines: lines_each,
        rotate_every: lines_each / 4 + 3,
        rotation: Rotation::CopyTruncate,
        rate,
    };
    (a, b)
}

/// A million lines in two files, one rotated by rename+create and one by
/// copytruncate, four times each, while agentd ships them: an operator
/// searching would otherwise miss lines at every logrotate run, or see them
/// twice.
#[test]
fn million_lines_survive_rename_and_copytruncate_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let (a, b) = two_rotating_files(&tmp.path().join("logs"), 500_000, 60_000);
    let agent = Agent::start(
        &tmp.path().join("agent"),
        collector.addr,
        &[&a.path, &b.path],
        "",
    );
    let progress = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| write(&a, &progress));
        s.spawn(|| write(&b, &progress));
    });
    assert!(
        wait_for_finish(&collector, &["a", "b"], Duration::from_secs(120)),
        "the last lines never became searchable; agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("a", 500_000), ("b", 500_000)]);
}

/// The collector is away for 30 seconds while the file keeps growing: the
/// agent must deliver everything once it is back, without holding the
/// backlog in memory (the file is the buffer).
#[test]
fn collector_outage_of_30s_loses_nothing_and_agent_memory_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Some(Collector::start(&tmp.path().join("collector"), ""));
    let addr = collector.as_ref().unwrap().addr;
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // 600,000 lines of 107 bytes: 64 MB written while the collector is down.
    let plan = Plan {
        path: logs.join("c.log"),
        tag: "c",
        lines: 600_000,
        rotate_every: 250_000,
        rotation: Rotation::RenameCreate,
        rate: 20_000,
    };
    let agent = Agent::start(&tmp.path().join("agent"), addr, &[&plan.path], "");
    let progress = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| write(&plan, &progress));
        // Let some lines through, then take the collector away for 30 s.
        let up = collector.as_ref().unwrap();
        assert!(wait_until(Duration::from_secs(30), || count(up, "line") > 10_000));
        collector.as_mut().unwrap().kill9();
        std::thread::sleep(Duration::from_secs(30));
        let (peak_kib, _) = rss_kib(agent.child.id()).expect("agentd is running");
        assert!(
            peak_kib < 48 * 1024,
            "agentd grew to {peak_kib} KiB while the collector was away"
        );
        collector = Some(collector.take().unwrap().restart());
    });
    let collector = collector.unwrap();
    assert!(
        wait_for_finish(&collector, &["c"], Duration::from_secs(120)),
        "lines written during the outage never arrived; agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("c", 600_000)]);
    let (peak_kib, _) = rss_kib(agent.child.id()).expect("agentd is running");
    assert!(
        peak_kib < 48 * 1024,
        "agentd grew to {peak_kib} KiB catching up"
    );
}
