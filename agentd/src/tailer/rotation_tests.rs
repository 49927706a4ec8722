//! Tailer scenarios around rotation, truncation, restarts and a full
//! spool, driven tick by tick like `tests.rs`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::tests::{config, past_marks, texts, Got, Harness};
use crate::checkpoint::{self, lock, Checkpoints};

#[test]
fn rename_and_create_rotation_finishes_the_old_file_first() {
    // logrotate without copytruncate: lines the daemon writes to the old file
    // after the rename must not be lost, and must come before the new file's.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), &["app.log"]);
    cfg.rotate_wait_ms = 5000;
    let mut h = Harness::new(dir.path(), cfg);
    h.append("app.log", b"old 1\n");
    let first = h.tick();
    fs::rename(h.path("app.log"), h.path("app.log.1")).unwrap();
    h.append("app.log.1", b"old 2\n");
    h.append("app.log", b"new 1\n");
    let got = h.tick();
    assert_eq!(texts(&got), ["old 2", "new 1"]);
    assert_eq!(got[0].stream_id, first[0].stream_id);
    assert_ne!(got[1].stream_id, first[0].stream_id);
    assert_eq!(got[1].record.offset, 0);
    assert_eq!(h.tailer.as_ref().unwrap().open_files(), 2);
    // The old file is closed after rotate-wait-ms without growth...
    h.advance(Duration::from_millis(4000));
    h.append("app.log.1", b"old 3\n");
    assert_eq!(texts(&h.tick()), ["old 3"]);
    h.advance(Duration::from_millis(4000));
    h.tick();
    assert_eq!(
        h.tailer.as_ref().unwrap().open_files(),
        2,
        "grew 4 s ago: still open"
    );
    h.advance(Duration::from_millis(1001));
    h.tick();
    assert_eq!(h.tailer.as_ref().unwrap().open_files(), 1);
    // ...and its checkpoint goes away once everything of it is acked.
    let old_stream = first[0].stream_id;
    h.ack(&first);
    h.ack(&got);
    h.save_checkpoints();
    assert!(
        lock(&h.ckpt).get(old_stream).is_some(),
        "old 3 not acked yet"
    );
    let end = 18;
    lock(&h.ckpt).ack(old_stream, end);
    h.save_checkpoints();
    assert!(
        lock(&h.ckpt).get(old_stream).is_none(),
        "stale checkpoint kept"
    );
}

#[test]
fn deleted_file_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(h.path("app.log"))
        .unwrap();
    f.write_all(b"a\n").unwrap();
    assert_eq!(texts(&h.tick()), ["a"]);
    fs::remove_file(h.path("app.log")).unwrap();
    f.write_all(b"written after delete\n").unwrap();
    assert_eq!(texts(&h.tick()), ["written after delete"]);
}

#[test]
fn copytruncate_starts_a_new_generation_from_offset_zero() {
    // After copytruncate the same inode holds new content: reusing the old
    // stream id would make the collector drop the new lines as duplicates.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"header\nline 1\nline 2\n");
    let before = h.tick();
    fs::OpenOptions::new()
        .write(true)
        .open(h.path("app.log"))
        .unwrap()
        .set_len(0)
        .unwrap();
    h.tick();
    h.append("app.log", b"header\nline 3\n");
    let after = h.tick();
    assert_eq!(texts(&after), ["header", "line 3"]);
    assert_eq!(after[0].record.offset, 0);
    assert_ne!(
        after[0].stream_id, before[0].stream_id,
        "same first line: generation + 1"
    );
    // Truncated and rewritten with more than before between two looks: the
    // changed first line gives it away.
    fs::write(h.path("app.log"), b"another first line that is longer\nx\n").unwrap();
    let again = h.tick();
    assert_eq!(texts(&again), ["another first line that is longer", "x"]);
    assert_eq!(again[0].record.offset, 0);
}

#[test]
fn restart_resumes_at_the_acked_offset_with_the_same_stream_ids() {
    // After a restart the unacked lines come again, from the spool, with the
    // same stream id and offsets (the collector deduplicates them), and
    // nothing is read from the file twice.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"a\nb\nc\n");
    let got = h.tick();
    h.ack(&got[..1]);
    h.stop();
    h.start();
    let again = h.tick();
    assert_eq!(past_marks(&got[..1], &again), got[1..].to_vec());
    assert!(again.len() <= got.len(), "read twice: {again:?}");
}

#[test]
fn file_rotated_while_stopped_is_finished_then_the_new_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["syslog"]));
    h.append("syslog", b"one\ntwo\n");
    let got = h.tick();
    h.ack(&got[..1]);
    h.stop();
    h.append("syslog", b"three\n");
    fs::rename(h.path("syslog"), h.path("syslog.1")).unwrap();
    h.append("syslog", b"new one\n");
    h.start();
    let again = past_marks(&got[..1], &h.tick());
    assert_eq!(texts(&again), ["two", "three", "new one"]);
    assert_eq!(again[0].stream_id, got[0].stream_id);
    assert_eq!(again[0].path, h.path("syslog").display().to_string());
    assert_eq!(again[2].record.offset, 0);
}

#[test]
fn file_renamed_away_before_it_was_opened_is_read() {
    // Between two looks of the tailer, logrotate can rotate a log, the
    // daemon write to the new file, and the next rotation rename that one
    // away too: its lines are in a file agentd never opened, and the rename
    // (inotify) is what says where it went.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["auth.log"]));
    h.append("auth.log", b"first\n");
    assert_eq!(texts(&h.tick()), ["first"]);
    fs::rename(h.path("auth.log"), h.path("auth.log.1")).unwrap();
    h.append("auth.log", b"second\n");
    fs::rename(h.path("auth.log.1"), h.path("auth.log.2")).unwrap();
    fs::rename(h.path("auth.log"), h.path("auth.log.1")).unwrap();
    h.append("auth.log", b"third\n");
    let got = h.tick();
    assert_eq!(texts(&got), ["second", "third"], "the older file first");
    let input = h.path("auth.log").display().to_string();
    assert!(got.iter().all(|g| g.path == input), "{got:?}");
    assert_ne!(got[0].stream_id, got[1].stream_id);
}

#[test]
fn truncated_while_stopped_is_read_again_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"header\nlong line number one\n");
    let got = h.tick();
    h.ack(&got);
    h.stop();
    fs::write(h.path("app.log"), b"header\nb\n").unwrap();
    h.start();
    let again = h.tick();
    assert_eq!(texts(&again), ["header", "b"]);
    assert_ne!(again[0].stream_id, got[0].stream_id);
}

#[test]
fn missing_checkpointed_file_is_forgotten_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"a\n");
    let got = h.tick();
    h.stop();
    fs::remove_file(h.path("app.log")).unwrap();
    h.start();
    assert!(lock(&h.ckpt).get(got[0].stream_id).is_none());
}

/// A tailer whose spool takes a batch of one line only when everything
/// before it is acknowledged: as full as a spool can be.
fn full_spool_harness(dir: &Path, inputs: &[&str]) -> Harness {
    let mut cfg = config(dir, inputs);
    cfg.batch_lines = 1;
    cfg.spool_max_bytes = 1;
    Harness::new(dir, cfg)
}

/// Ticks, acknowledging what each tick spooled, until nothing more comes;
/// returns the lines in the order they were spooled.
fn drain_with_acks(h: &mut Harness, mut got: Vec<Got>) -> Vec<String> {
    let mut all = texts(&got);
    for _ in 0..50 {
        h.ack(&got);
        got = h.tick();
        if got.is_empty() && !h.is_blocked() {
            break;
        }
        all.extend(texts(&got));
    }
    all
}

fn lines_read(h: &Harness) -> u64 {
    h.tailer.as_ref().unwrap().lines_read()
}

#[test]
fn full_spool_stops_reading_until_acks_make_room() {
    // When the collector does not acknowledge and the spool is full, the
    // tailer must stop reading (bounded memory and disk: the file is the
    // buffer), and go on once acknowledgements make room.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.log"), b"1\n2\n3\n4\n").unwrap();
    let mut h = full_spool_harness(dir.path(), &["app.log"]);
    let got = h.tick();
    assert!(h.is_blocked());
    assert_eq!(texts(&got), ["1"]);
    assert_eq!(lines_read(&h), 2, "one line in the spool, one held");
    assert!(h.tick().is_empty());
    assert_eq!(lines_read(&h), 2, "read on while the spool is full");
    assert_eq!(drain_with_acks(&mut h, got), ["1", "2", "3", "4"]);
}

#[test]
fn files_rotated_while_the_spool_is_full_are_all_read_later() {
    // A collector outage longer than the spool holds and than a rotation
    // period must not lose the rotated files: they are opened while the
    // tailer waits.
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    fs::write(p("app.log"), b"gen0 a\ngen0 b\ngen0 c\n").unwrap();
    let mut h = full_spool_harness(dir.path(), &["app.log"]);
    let first = h.tick();
    assert!(h.is_blocked());
    for gen in 1..=3 {
        fs::rename(p("app.log"), p(&format!("app.log.{gen}"))).unwrap();
        fs::write(p("app.log"), format!("gen{gen} a\ngen{gen} b\n")).unwrap();
        assert!(h.tick().is_empty(), "nothing is spooled while it is full");
    }
    let want = [
        "gen0 a", "gen0 b", "gen0 c", "gen1 a", "gen1 b", "gen2 a", "gen2 b", "gen3 a", "gen3 b",
    ];
    assert_eq!(drain_with_acks(&mut h, first), want);
}

#[test]
fn copytruncated_twice_while_the_spool_is_full_is_recovered_from_the_copies() {
    // logrotate copytruncate while the spool is full: the lines not read
    // yet are only in the copies, and must come from there.
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    fs::write(p("app.log"), b"gen0 a\ngen0 b\ngen0 c\n").unwrap();
    let mut h = full_spool_harness(dir.path(), &["app.log"]);
    let first = h.tick();
    for gen in 1..=2 {
        fs::copy(p("app.log"), p(&format!("app.log.{gen}"))).unwrap();
        fs::write(p("app.log"), format!("gen{gen} a\ngen{gen} b\n")).unwrap();
        assert!(h.tick().is_empty());
    }
    let want = [
        "gen0 a", "gen0 b", "gen0 c", "gen1 a", "gen1 b", "gen2 a", "gen2 b",
    ];
    assert_eq!(drain_with_acks(&mut h, first), want);
}

#[test]
fn checkpoints_written_by_the_tailer_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"a\nb\n");
    let got = h.tick();
    h.ack(&got);
    h.advance(checkpoint::WRITE_INTERVAL);
    h.tick();
    let loaded = Checkpoints::load(&h.cfg.checkpoint_path()).unwrap();
    assert_eq!(loaded.get(got[0].stream_id).map(|e| e.offset), Some(4));
}

#[test]
fn lines_spooled_before_a_kill_are_shipped_after_restart_though_truncated_away() {
    // agentd killed after reading lines the collector never acknowledged,
    // then the file truncated in place with no copy kept: the spool is the
    // only copy left. Without it a user would lose those lines for good.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), config(dir.path(), &["app.log"]));
    h.append("app.log", b"first line here\nsecond\n");
    assert_eq!(texts(&h.tick()), ["first line here", "second"]);
    h.crash();
    OpenOptions::new()
        .write(true)
        .open(h.path("app.log"))
        .unwrap()
        .set_len(0)
        .unwrap();
    h.append("app.log", b"new content\n");
    h.start();
    let got = h.tick();
    assert_eq!(texts(&got), ["first line here", "second", "new content"]);
    h.ack(&got);
    // Acknowledged, they leave: nothing comes a second time.
    h.advance(Duration::from_secs(2));
    assert_eq!(texts(&h.tick()), Vec::<String>::new());
}
