//! Storage limits. A full disk is back-pressure, not a crash loop:
//! collectord stops taking lines, says so once (and then now and then),
//! and takes them again by itself when space returns; every line arrives
//! once. That test needs root (a small tmpfs is mounted as the data
//! directory) and is skipped otherwise unless `LOGQ_REQUIRE_ROOT=1` (CI).
//! And an agent over the stream limit is told which limit refused it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use logq_tests::{numbered_line, skip_unless_required, wait_until, Agent, Collector};

use crate::delivery::{assert_exactly_once, wait_for_finish};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> Option<Tmpfs> {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_owned()))
    }

    fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.0).unwrap();
        s.blocks_available() as u64 * s.fragment_size() as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with `path` until `leave` bytes are free.
fn ballast(path: &Path, fs: &Tmpfs, leave: u64) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0x5au8; 1 << 16];
    while fs.free() > leave {
        let n = (fs.free() - leave).min(chunk.len() as u64) as usize;
        if f.write_all(&chunk[..n.max(1)]).is_err() {
            break;
        }
    }
    f.sync_all().unwrap();
}

fn write_numbered(path: &Path, tag: &str, from: u64, to: u64, finish: bool) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = String::new();
    for n in from..to {
        // A unique token per line, so that the lines take room in the index
        // and the archive as real lines do (numbered lines alone compress
        // to a few bytes each).
        let token = xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
        text.push_str(&format!("{} id {token:032x}\n", numbered_line(tag, n)));
    }
    if finish {
        text.push_str(&format!("Nov 24 22:20:02 testhost app[7]: finish{tag}\n"));
    }
    f.write_all(text.as_bytes()).unwrap();
}

fn count_in(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// Whether a STATUS= notification (what `systemctl status` shows) says
/// the disk is full, within 10 s.
fn status_says_full(collector: &Collector) -> bool {
    wait_until(Duration::from_secs(10), || {
        collector
            .notes
            .all()
            .iter()
            .any(|n| n.contains("STATUS=DISK FULL"))
    })
}

const FULL: &str = "disk is (nearly) full";
const BACK: &str = "Disk space is back";

/// The data directory's disk fills up while an agent ships 150,000 lines,
/// then space is freed: the collector never exits, the agent waits, and
/// every line is stored exactly once (here the reserve, `min-free-mb`,
/// tells). Then the collector is restarted on a disk that is already full
/// and with no reserve, so that writes fail for lack of space: it starts (no crash loop: it used to exit 1
/// at once, in the index clean-up, 27 times in 90 s under systemd), waits,
/// and stores the next lines once space is back. A user would otherwise
/// see a down collector and a journal flooded with restarts, and lose the
/// lines written meanwhile.
#[test]
fn a_full_disk_pauses_the_collector_and_freed_space_resumes_it_losing_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("collector").join("data");
    let Some(disk) = Tmpfs::mount(&data, 64) else {
        skip_unless_required("LOGQ_REQUIRE_ROOT", "mounting a tmpfs needs root");
        return;
    };
    let weight = data.join("ballast");
    ballast(&weight, &disk, 5 << 20);

    let mut collector = Collector::start(
        &tmp.path().join("collector"),
        "min-free-mb = 1\ncommit-interval-ms = 200\n",
    );
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    write_numbered(&file, "a", 0, 150_000, true);
    let mut agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&file], "");

    assert!(
        wait_until(Duration::from_secs(120), || collector.log().contains(FULL)),
        "the disk never filled (or collectord did not say so); its log:\n{}",
        collector.log()
    );
    assert!(
        status_says_full(&collector),
        "systemctl status would not say the disk is full: {:?}",
        collector.notes.all()
    );
    assert!(collector.is_running(), "collectord exited on a full disk");
    assert!(
        agent.is_running(),
        "agentd exited while the collector waited"
    );

    fs::remove_file(&weight).unwrap();
    assert!(
        wait_for_finish(&collector, &["a"], Duration::from_secs(120)),
        "the lines did not arrive after space was freed; collector log:\n{}",
        collector.log()
    );
    assert!(
        wait_until(Duration::from_secs(30), || collector.log().contains(BACK)),
        "collectord did not say it resumed; its log:\n{}",
        collector.log()
    );
    assert_exactly_once(&collector, &[("a", 150_000)]);
    let log = collector.log();
    assert!(
        count_in(&log, FULL) <= 3,
        "the log is flooded ({} times '{FULL}'):\n{log}",
        count_in(&log, FULL)
    );
    assert_eq!(count_in(&log, "The writer failed"), 0, "{log}");

    // A start on a disk that is already full, with no reserve: only
    // failed writes tell (ENOSPC), at the start and at each try after.
    assert!(collector.terminate(Duration::from_secs(20)).is_some());
    let addr = collector.addr.to_string();
    drop(collector);
    ballast(&weight, &disk, 16 << 10);
    let collector = Collector::start_on(
        &tmp.path().join("collector"),
        &addr,
        "min-free-mb = 0\ncommit-interval-ms = 200\n",
    );
    assert!(
        wait_until(Duration::from_secs(30), || collector.log().contains(FULL)),
        "collectord did not say the disk is full at start; its log:\n{}",
        collector.log()
    );
    // The agent reconnects to the new collector and waits with its lines.
    // (STATUS is not checked here: the failed start may itself free room,
    // tantivy removing what it could not finish, and then the collector
    // rightly resumes before the ballast goes.)
    write_numbered(&file, "b", 0, 20_000, true);
    let mut collector = collector;
    assert!(
        collector.is_running(),
        "collectord exited on a full disk at start:\n{}",
        collector.log()
    );
    fs::remove_file(&weight).unwrap();
    assert!(
        wait_for_finish(&collector, &["b"], Duration::from_secs(120)),
        "the lines did not arrive once space was back; collector log:\n{}\nagent log:\n{}",
        collector.log(),
        agent.log()
    );
    // Shown only when the check below fails.
    eprintln!(
        "collector log:\n{}\nagent log:\n{}",
        collector.log(),
        agent.log()
    );
    assert_exactly_once(&collector, &[("a", 150_000), ("b", 20_000)]);
}

/// An agent over `max-streams-per-agent` hears why: agentd's log names
/// the limit (ERROR 9), the refused batch is not stored, and once the
/// operator raises the limit (a reload) every line arrives once. Before,
/// the agent saw "collector cannot store lines" (an internal error) and
/// the collector logged an error per connection, with no hint of the key
/// to change. Needs no root.
#[test]
fn an_agent_over_the_stream_limit_is_told_which_limit_and_a_reload_lets_its_lines_in() {
    const FILES: u64 = 101; // one more than the smallest limit allowed
    let tmp = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &tmp.path().join("collector"),
        "max-streams-per-agent = 100\n",
    );
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let files: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            let path = logs.join(format!("app{i}.log"));
            fs::write(&path, format!("{}\n", numbered_line("s", i))).unwrap();
            path
        })
        .collect();
    let inputs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &inputs, "");
    assert!(
        wait_until(Duration::from_secs(30), || agent
            .log()
            .contains("max-streams-per-agent")),
        "agentd was not told which limit refused its lines; its log:\n{}\ncollector log:\n{}",
        agent.log(),
        collector.log()
    );
    assert!(
        agent.log().contains("code 9"),
        "not ERROR 9 (limit):\n{}",
        agent.log()
    );
    // The ERROR came after the writer refused the batch: the streams
    // stored by then are all there will be until the limit changes.
    let stored = collector.searchable_lines();
    assert!(stored < FILES, "every stream was stored: {stored} lines");
    assert!(
        collector.log().contains("Refused a batch"),
        "collectord did not log the refusal:\n{}",
        collector.log()
    );
    collector.write_config("max-streams-per-agent = 1000\n");
    collector.reload(Duration::from_secs(20)).unwrap();
    assert!(
        collector.wait_for_lines(FILES, Duration::from_secs(60)),
        "the lines did not arrive after the limit was raised; agent log:\n{}",
        agent.log()
    );
    assert_exactly_once(&collector, &[("s", FILES)]);
}
