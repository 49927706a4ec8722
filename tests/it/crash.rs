//! Crashes (SIGKILL) of either side lose nothing and double nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use logq_tests::{wait_until, Agent, Collector};

use crate::delivery::{assert_exactly_once, two_rotating_files, wait_for_finish};
use crate::writer::write;

/// collectord is killed twice and agentd once while a million lines are
/// written and rotated: after restarts every line is searchable exactly once.
/// A user would otherwise see gaps after a power cut, or every line twice
/// after the agent restarts.
#[test]
fn sigkill_of_collector_twice_and_agent_once_loses_and_doubles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut collector = Some(Collector::start(&tmp.path().join("collector"), ""));
    let addr = collector.as_ref().unwrap().addr;
    let (a, b) = two_rotating_files(&tmp.path().join("logs"), 500_000, 40_000);
    let mut agent = Some(Agent::start(
        &tmp.path().join("agent"),
        addr,
        &[&a.path, &b.path],
        "",
    ));
    let progress = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| write(&a, &progress));
        s.spawn(|| write(&b, &progress));
        let reach = |n: u64| {
            assert!(wait_until(Duration::from_secs(120), || progress
                .load(Ordering::Relaxed)
                >= n))
        };
        reach(200_000);
        collector.as_mut().unwrap().kill9();
        collector = Some(collector.take().unwrap().restart());
        reach(450_000);
        agent.as_mut().unwrap().kill9();
        agent = Some(agent.take().unwrap().restart());
        reach(700_000);
        collector.as_mut().unwrap().kill9();
        collector = Some(collector.take().unwrap().restart());
    });
    let collector = collector.unwrap();
    let agent = agent.unwrap();
    assert!(
        wait_for_finish(&collector, &["a", "b"], Duration::from_secs(180)),
        "the last lines never became searchable; agent log:\n{}\ncollector log:\n{}",
        agent.log(),
        collector.log()
    );
    assert_exactly_once(&collector, &[("a", 500_000), ("b", 500_000)]);
}
