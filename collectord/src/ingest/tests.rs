use logcore::wire::WireRecord;
use std::path::Path;

use logstore::archive::{self, MS_PER_DAY};
use logstore::dedup::TooManyStreams;
use logstore::schema::SCHEMA_VERSION;

use super::*;

fn options(dir: &Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_owned(),
        writer_memory_mb: 32,
        writer_threads: 1,
        retention: Policy { days: 30, bytes: 0 },
        mark_limits: MarkLimits::default(),
    }
}

fn peer() -> Peer {
    Peer {
        agent_id: "agent-1".into(),
        host: "web1".into(),
        utc_offset_secs: 0,
    }
}

fn stream(id: u64, records: &[(u64, u64, u8, &str)]) -> WireStream {
    WireStream {
        stream_id: id,
        path: "/var/log/syslog".into(),
        records: records
            .iter()
            .map(|&(offset, end, flags, line)| WireRecord {
                offset,
                end,
                flags,
                line: line.as_bytes().to_vec(),
            })
            .collect(),
    }
}

fn docs(ingest: &Ingest) -> Vec<Record> {
    let reader = logstore::Reader::open(ingest.store.data_dir()).unwrap();
    let mut lines = reader.lines();
    let mut out = Vec::new();
    reader
        .snapshot()
        .walk_matches(
            &reader
                .plan(&logcore::query::Expr::All, &Default::default(), false)
                .unwrap(),
            false,
            &mut lines,
            logcore::record::Want::All,
            |_, r| {
                out.push(r);
                Ok(true)
            },
        )
        .unwrap();
    out.sort_by_key(|r| (r.stream, r.offset));
    out
}

const NOW: i64 = 1_764_022_801_000;

#[test]
fn partial_line_resent_whole_is_stored_once() {
    // A line flushed half-written and re-sent whole must read back as
    // its two halves, not as a half plus a duplicate whole line.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Ingest::open(&options(dir.path())).unwrap();
    store
        .add(
            &peer(),
            NOW,
            vec![stream(1, &[(0, 3, FLAG_PARTIAL, "abc")])],
        )
        .unwrap();
    store
        .add(
            &peer(),
            NOW,
            vec![stream(1, &[(0, 7, 0, "abcdef"), (7, 10, 0, "gh")])],
        )
        .unwrap();
    store
        .add(&peer(), NOW, vec![stream(1, &[(0, 7, 0, "abcdef")])])
        .unwrap();
    store.commit().unwrap();
    let got = docs(&store);
    let lines: Vec<(&[u8], u64, bool)> = got
        .iter()
        .map(|r| (&r.raw[..], r.offset, r.has(logcore::record::flags::PARTIAL)))
        .collect();
    assert_eq!(
        lines,
        vec![
            (&b"abc"[..], 0, true),
            (&b"def"[..], 3, true),
            (&b"gh"[..], 7, false)
        ]
    );
}

#[test]
fn a_flood_of_streams_is_refused_and_commits_stay_small() {
    // Regression (issue 13): 3 frames of 470,000 one-line streams took
    // meta.json to 59 MB, RSS from 30 to 469 MiB and every agent's ACK
    // from 116 to 661 ms: every mark was rewritten at every commit. Now
    // a batch past the caps is refused whole, and a commit writes what
    // changed, not every mark.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.mark_limits = MarkLimits {
        per_agent: 50_000,
        total: 60_000,
    };
    let mut store = Ingest::open(&opts).unwrap();
    let many = |from: u64, n: u64| -> Vec<WireStream> {
        (from..from + n)
            .map(|id| stream(id, &[(0, 2, 0, "x")]))
            .collect()
    };
    store.add(&peer(), NOW, many(0, 40_000)).unwrap();
    store.commit().unwrap();
    let refused = store.add(&peer(), NOW, many(40_000, 20_000)).unwrap_err();
    assert!(
        matches!(
            refused.downcast_ref::<Refused>(),
            Some(Refused::TooManyStreams(TooManyStreams::Agent { .. }))
        ),
        "{refused:#}"
    );
    let other = Peer {
        agent_id: "agent-2".into(),
        ..peer()
    };
    let refused = store.add(&other, NOW, many(0, 30_000)).unwrap_err();
    assert!(refused.to_string().contains("max-streams"), "{refused:#}");
    // Nothing of a refused batch was stored, and the stream of a known
    // agent still moves.
    assert_eq!(store.store.marked_streams(), 40_000);
    assert_eq!(
        store
            .add(&peer(), NOW, vec![stream(7, &[(2, 4, 0, "y")])])
            .unwrap(),
        1
    );
    store.commit().unwrap();
    let meta = std::fs::metadata(dir.path().join("index").join("meta.json")).unwrap();
    assert!(meta.len() < 64 * 1024, "meta.json is {} bytes", meta.len());
    let marks = std::fs::metadata(dir.path().join(logstore::marklog::file_name(1))).unwrap();
    assert!(
        marks.len() < 40_000 * 40 + 4096,
        "the second commit rewrote the marks: {} bytes",
        marks.len()
    );
}

#[test]
fn hwms_survive_a_restart_through_the_payload() {
    // After a collector restart, lines the agent re-sends (ACK lost in
    // the crash) must not be stored a second time.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Ingest::open(&options(dir.path())).unwrap();
        store
            .add(
                &peer(),
                NOW,
                vec![stream(5, &[(0, 4, 0, "one"), (4, 8, 0, "two")])],
            )
            .unwrap();
        store.commit().unwrap();
    }
    let mut store = Ingest::open(&options(dir.path())).unwrap();
    let payload = store.store.payload().unwrap().unwrap();
    assert_eq!(payload.schema, SCHEMA_VERSION);
    assert!(payload.hwms.is_empty(), "marks live in their own file");
    let marks = logstore::marklog::read(dir.path(), payload.marks.unwrap()).unwrap();
    assert_eq!(marks.get("agent-1", 5).map(|m| m.end), Some(8));
    assert_eq!(store.store.mark("agent-1", 5), Some(8));
    assert_eq!(
        store
            .add(
                &peer(),
                NOW,
                vec![stream(5, &[(4, 8, 0, "two"), (8, 12, 0, "six")])]
            )
            .unwrap(),
        1
    );
    store.commit().unwrap();
    assert_eq!(
        docs(&store)
            .iter()
            .map(|r| r.raw.clone())
            .collect::<Vec<_>>(),
        vec![b"one".to_vec(), b"two".to_vec(), b"six".to_vec()]
    );
}

#[test]
fn uncommitted_lines_vanish_from_archive_and_index_after_a_crash() {
    // SIGKILL after the archive write but before the index commit: the
    // restarted collector must hold neither copy (the agent re-sends).
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Ingest::open(&options(dir.path())).unwrap();
        store
            .add(&peer(), NOW, vec![stream(1, &[(0, 5, 0, "kept")])])
            .unwrap();
        store.commit().unwrap();
        store
            .add(&peer(), NOW, vec![stream(1, &[(5, 10, 0, "lost")])])
            .unwrap();
        // The first half of a commit, then the "crash" (drop without commit).
        store.store.flush_archive().unwrap();
    }
    let store = Ingest::open(&options(dir.path())).unwrap();
    assert_eq!(docs(&store).len(), 1);
    let path = dir
        .path()
        .join("archive")
        .join(archive::file_name(day_of(NOW)));
    let text = zstd::stream::decode_all(std::fs::File::open(path).unwrap()).unwrap();
    assert_eq!(text, b"kept\n");
}

#[test]
fn records_read_back_from_the_archive_after_a_reopen_and_a_crash() {
    // logq reads every line from the archive at the location its
    // document holds: after restarts, and after a crash cut uncommitted
    // members off, each record must still come back whole and exact.
    let dir = tempfile::tempdir().unwrap();
    let origin = |stream, receive_time_ms| Origin {
        agent: "agent-1",
        host: "web1",
        path: "/var/log/syslog",
        stream,
        utc_offset_secs: 0,
        receive_time_ms,
    };
    let mut want = Vec::new();
    let batch = |store: &mut Ingest, id: u64, from: u64, n: u64, at: i64| {
        let lines: Vec<(u64, u64, u8, String)> = (from..from + n)
            .map(|i| {
                let line = match i % 500 {
                    7 => "two\nlines".to_owned(),
                    8 => String::new(),
                    _ => format!("Nov 24 22:20:01 web1 sshd[{i}]: Failed password for root from 203.0.113.{} port {i} ssh2", i % 256),
                };
                (i * 1000, i * 1000 + 1000, 0, line)
            })
            .collect();
        let records: Vec<_> = lines
            .iter()
            .map(|(o, e, f, l)| (*o, *e, *f, l.as_str()))
            .collect();
        store.add(&peer(), at, vec![stream(id, &records)]).unwrap();
        lines
            .into_iter()
            .map(|(offset, _, _, line)| {
                Record::from_line(&origin(id, at), offset, 0, line.into_bytes())
            })
            .collect::<Vec<_>>()
    };
    {
        let mut store = Ingest::open(&options(dir.path())).unwrap();
        // Enough to fill several members, two streams, two days.
        want.extend(batch(&mut store, 1, 0, 3000, NOW));
        want.extend(batch(&mut store, 2, 0, 10, NOW - MS_PER_DAY));
        store.commit().unwrap();
        want.extend(batch(&mut store, 1, 3000, 5, NOW));
        store.commit().unwrap();
        // Written to the archive, never committed: cut off at the restart.
        batch(&mut store, 1, 3005, 2000, NOW);
        store.store.flush_archive().unwrap();
    }
    {
        let mut store = Ingest::open(&options(dir.path())).unwrap();
        want.extend(batch(&mut store, 1, 3005, 20, NOW));
        store.commit().unwrap();
    }
    let store = Ingest::open(&options(dir.path())).unwrap();
    want.sort_by_key(|r| (r.stream, r.offset));
    let got = docs(&store);
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
}

/// A line "old" received at `old` and a line "new" now, committed.
fn old_and_new(store: &mut Ingest, old: i64) {
    store
        .add(&peer(), old, vec![stream(1, &[(0, 4, 0, "old")])])
        .unwrap();
    store
        .add(&peer(), NOW, vec![stream(1, &[(4, 8, 0, "new")])])
        .unwrap();
    store.commit().unwrap();
}

#[test]
fn retention_deletes_old_days_from_index_and_archive() {
    // Lines older than retention-days must disappear from logq and from
    // the archive, and newer ones must stay.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Ingest::open(&options(dir.path())).unwrap();
    let old = NOW - 40 * MS_PER_DAY;
    old_and_new(&mut store, old);
    assert_eq!(store.store.days().len(), 2);
    store.apply_retention(NOW).unwrap();
    let got = docs(&store);
    assert_eq!(
        got.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
        vec![b"new".to_vec()]
    );
    assert_eq!(
        store.store.days(),
        vec![(day_of(NOW), store.store.days()[0].1)]
    );
    assert!(!dir
        .path()
        .join("archive")
        .join(archive::file_name(day_of(old)))
        .exists());
    assert_eq!(docs(&store).len(), 1);
    // The marks survive: the old stream is still deduplicated.
    assert_eq!(store.store.mark("agent-1", 1), Some(8));
}

/// anomalies.log and flagged.log describe lines: when retention deletes
/// the lines, their anomalies go too, or the files grow for ever (and
/// `logq --anomalies` would join episodes of lines no longer there).
/// Records that end after the cut stay, and a line that cannot be read is
/// kept rather than judged.
#[test]
fn retention_forgets_the_anomalies_of_the_lines_it_deleted() {
    use crate::detect::DetectOptions;
    let dir = tempfile::tempdir().unwrap();
    let ts = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    };
    let old = NOW - 40 * MS_PER_DAY;
    let anomalies = format!(
        "{{\"state\":\"closed\",\"id\":\"a1\",\"last_ts\":\"{}\"}}\n{{\"state\":\"closed\",\"id\":\"a2\",\"last_ts\":\"{}\"}}\nnot json\n",
        ts(old),
        ts(NOW)
    );
    let episodes =
        format!("{{\"id\":\"a1\",\"until_ms\":{old}}}\n{{\"id\":\"a2\",\"until_ms\":{NOW}}}\n");
    std::fs::write(dir.path().join("anomalies.log"), &anomalies).unwrap();
    std::fs::write(dir.path().join("flagged.log"), &episodes).unwrap();
    let mut store = Ingest::open(&options(dir.path())).unwrap();
    store
        .start_detection(DetectOptions {
            enabled: true,
            engine: Default::default(),
            train_days: 7,
            retrain_hours: 0,
        })
        .unwrap();
    old_and_new(&mut store, old);
    store.apply_retention(NOW).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let kept = read("anomalies.log");
    assert!(!kept.contains("\"a1\""), "{kept}");
    assert!(
        kept.contains("\"a2\"") && kept.contains("not json"),
        "{kept}"
    );
    assert_eq!(
        read("flagged.log"),
        format!("{{\"id\":\"a2\",\"until_ms\":{NOW}}}\n")
    );
    assert!(!dir.path().join("anomalies.trim").exists());
}
