//! The evaluations, with floors a little under the figures reached, so
//! that a change that makes detection worse fails the build (issue 16).
//! Those on `../shared/data` skip where it is absent (the data is for
//! development only and never in the repository); eval-auth generates its
//! scenario and always runs.

use std::io::Write;
use std::process::Command;

use logq_tests::bin;

/// Runs an evaluation program; `None` (after saying so) when it skipped.
fn evaluate(name: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(bin(name)).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.contains(&format!("{name}: skipped")) {
        // Straight to the process's stderr: libtest keeps a passing test's
        // `eprintln!` to itself, and a skip must be seen.
        let _ = writeln!(std::io::stderr(), "skipped: {}", stdout.trim());
        return None;
    }
    Some(stdout)
}

/// HDFS blocks split by time (issue 16). Reached: F1 1.000 on the test
/// quarter with all its lines, 0.893 with the input cut half-way (ceiling
/// 0.926). An operator would see a detector that pages for blocks whose
/// life had not ended, or misses failed writes, go back past these floors.
#[test]
fn hdfs_sessions_split_by_time_stay_over_their_floors() {
    let Some(out) = evaluate("eval-hdfs", &["--floor", "0.95", "--floor-cut", "0.85"]) else {
        return;
    };
    assert!(out.contains("is at or over the floor 0.950"), "{out}");
}

/// The generated auth scenario (needs no data): every target met, or
/// eval-auth exits 1. An operator would see a burst or flood go unalerted,
/// or routine logins page, past these targets.
#[test]
fn the_auth_scenario_meets_its_targets() {
    let out = evaluate("eval-auth", &[]).unwrap();
    assert!(out.contains("targets met 5/5"), "{out}");
}

/// Template mining on the loghub samples (issue 16): the raw lines,
/// headers included, through the collector's header parse reached 0.878
/// grouping accuracy on average (drain3 with its defaults: 0.531), and
/// every system, raw or not, at least its peer's (Drain's published
/// figures on the messages, drain3's on the raw lines). An operator would
/// see one kind of message split into many, or many merged into one, in
/// `logq --patterns` and the new-template alerts.
#[test]
fn template_mining_stays_over_its_floor_and_its_peers() {
    let Some(out) = evaluate("eval-templates", &["--floor-raw", "0.86"]) else {
        return;
    };
    assert!(out.contains("meets the floor 0.860"), "{out}");
    assert!(!out.contains('✗'), "a system fell under its peer:\n{out}");
}
