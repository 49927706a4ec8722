//! The spool on a real directory: round trips, acknowledgement, the size
//! bound, and what a crash leaves (torn and damaged records).

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use logcore::wire::{WireRecord, WireStream, FLAG_PARTIAL, FLAG_TRUNCATED};

use super::{format, Next, Opened, Refused, Spool, SpoolReader};
use crate::batch::Batch;

/// A batch of `n` lines of stream `stream`, the first starting at `from`.
fn batch(stream: u64, from: u64, n: u64) -> Batch {
    let records: Vec<WireRecord> = (0..n)
        .map(|i| {
            let line = format!("line {stream}-{}", from + i * 100).into_bytes();
            let offset = from + i * 100;
            WireRecord {
                offset,
                end: offset + line.len() as u64 + 1,
                flags: 0,
                line,
            }
        })
        .collect();
    let bytes = records.iter().map(|r| r.line.len()).sum();
    Batch {
        read_time_ms: 1_700_000_000_000,
        lines: records.len(),
        bytes,
        streams: vec![WireStream {
            stream_id: stream,
            path: "/var/log/syslog".into(),
            records,
        }],
        spool_id: None,
    }
}

fn read_all(reader: &mut SpoolReader) -> Vec<Batch> {
    let mut out = Vec::new();
    while let Next::Batch(b) = reader.next(Duration::ZERO).unwrap() {
        out.push(b);
    }
    out
}

fn open(dir: &Path, max: u64) -> Opened {
    Spool::open(dir, max).unwrap()
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn batches_come_back_exactly_as_written_in_order() {
    // The collector checks each record's span against its line and drops
    // resends by offset: the spool must change no byte, flag or offset.
    let dir = tempfile::tempdir().unwrap();
    let mut o = open(dir.path(), 1 << 30);
    let odd = Batch {
        read_time_ms: 42,
        lines: 3,
        bytes: 0,
        streams: vec![
            WireStream {
                stream_id: 7,
                path: "/var/log/app.log".into(),
                records: vec![
                    WireRecord {
                        offset: 0,
                        end: 8,
                        flags: 0,
                        line: b"\xff\x00bin\r\x1b".to_vec(),
                    },
                    WireRecord {
                        offset: 8,
                        end: 5008,
                        flags: FLAG_TRUNCATED,
                        line: vec![b'x'; 10],
                    },
                ],
            },
            WireStream {
                stream_id: 8,
                path: "/var/log/other.log".into(),
                records: vec![WireRecord {
                    offset: 100,
                    end: 103,
                    flags: FLAG_PARTIAL,
                    line: b"abc".to_vec(),
                }],
            },
        ],
        spool_id: None,
    };
    o.writer.write(odd.clone()).unwrap();
    o.writer.write(batch(7, 5008, 3)).unwrap();
    let got = read_all(&mut o.reader);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].streams, odd.streams);
    assert_eq!(got[0].read_time_ms, 42);
    assert_eq!((got[0].spool_id, got[1].spool_id), (Some(1), Some(2)));
    assert_eq!(got[1].streams, batch(7, 5008, 3).streams);
    assert_eq!(got[0].lines, 3);
}

#[test]
fn reader_waits_for_the_writer_and_ends_when_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let Opened {
        mut writer,
        mut reader,
        ..
    } = open(dir.path(), 1 << 30);
    let t = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match reader.next(Duration::from_secs(30)).unwrap() {
                Next::Batch(b) => got.push(b.spool_id.unwrap()),
                Next::Idle => panic!("woken by nothing within 30 s"),
                Next::Closed => return got,
            }
        }
    });
    for i in 0..3 {
        writer.write(batch(1, i * 1000, 2)).unwrap();
    }
    writer.close();
    assert_eq!(t.join().unwrap(), [1, 2, 3]);
}

#[test]
fn acknowledged_segments_are_deleted_and_the_size_bound_holds() {
    // The spool must not fill the disk: it stops at spool-max-bytes while
    // batches wait for their ACK, and frees what is acknowledged.
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB bound: 128 KiB segments.
    let max = 1 << 20;
    let mut o = open(dir.path(), max);
    let mut written = 0;
    let refused = loop {
        match o.writer.write(batch(1, written * 100_000, 200)) {
            Ok(()) => written += 1,
            Err((_, why)) => break why,
        }
        assert!(written < 10_000, "never full");
    };
    assert!(matches!(refused, Refused::Full), "{refused:?}");
    let full = o.spool.figures();
    assert!(full.bytes <= max, "{} bytes on disk", full.bytes);
    assert!(
        full.bytes > max * 3 / 4,
        "refused early at {} bytes",
        full.bytes
    );
    assert_eq!(full.unacked, written);
    let before = segments(dir.path()).len();
    assert!(before > 4, "{before} segments");

    // Half of it acknowledged: whole segments go, the rest stays.
    let got = read_all(&mut o.reader);
    assert_eq!(got.len() as u64, written);
    o.spool.ack(written / 2);
    let after = o.spool.figures();
    assert!(after.bytes < full.bytes * 2 / 3, "{after:?}");
    assert!(segments(dir.path()).len() < before);
    o.writer.write(batch(1, 1 << 40, 200)).unwrap();

    // Everything acknowledged, the writer closed: nothing stays.
    o.spool.ack(written + 1);
    o.writer.close();
    o.spool.tidy();
    assert_eq!(segments(dir.path()), Vec::<String>::new());
}

#[test]
fn a_single_batch_larger_than_the_bound_still_goes_when_nothing_waits() {
    // A bound smaller than one batch must not stop agentd for good.
    let dir = tempfile::tempdir().unwrap();
    let mut o = open(dir.path(), 1);
    o.writer.write(batch(1, 0, 10)).unwrap();
    assert!(matches!(
        o.writer.write(batch(1, 1000, 10)),
        Err((_, Refused::Full))
    ));
    read_all(&mut o.reader);
    o.spool.ack(1);
    o.writer.write(batch(1, 1000, 10)).unwrap();
}

#[test]
fn a_restart_resends_what_was_not_acknowledged_and_reports_where_streams_end() {
    // After agentd is killed, the next one sends the spool's batches first
    // and resumes each stream where the spool ends, not at its checkpoint,
    // so that nothing is spooled twice.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = open(dir.path(), 1 << 30);
        o.writer.write(batch(1, 0, 3)).unwrap();
        o.writer.write(batch(2, 500, 2)).unwrap();
        o.writer.write(batch(1, 300, 1)).unwrap();
        // Killed: neither closed nor synced (the page cache keeps it).
        #[allow(
            clippy::mem_forget,
            reason = "a crash: the writer never gets to flush or close"
        )]
        std::mem::forget(o.writer);
    }
    let mut o = open(dir.path(), 1 << 30);
    let line = |s: u64, at: u64| format!("line {s}-{at}").len() as u64 + 1;
    assert_eq!(o.ends.get(&1), Some(&(300 + line(1, 300))));
    assert_eq!(o.ends.get(&2), Some(&(600 + line(2, 600))));
    let got = read_all(&mut o.reader);
    assert_eq!(
        got.iter().map(|b| b.spool_id.unwrap()).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // New batches follow, with the next ids.
    o.writer.write(batch(1, 400, 1)).unwrap();
    assert_eq!(read_all(&mut o.reader)[0].spool_id, Some(4));
}

#[test]
fn a_torn_last_record_is_cut_off_and_never_read() {
    // A crash in the middle of a write leaves part of a record: it must be
    // detected and dropped (its lines are read again from their file), not
    // shipped as garbage, and what came before must survive.
    for cut in [1, 9, 13, 40] {
        let dir = tempfile::tempdir().unwrap();
        let first_end = {
            let mut o = open(dir.path(), 1 << 30);
            o.writer.write(batch(1, 0, 3)).unwrap();
            let first_end = o.spool.figures().bytes;
            o.writer.write(batch(1, 300, 3)).unwrap();
            o.writer.close();
            first_end
        };
        let path = format::segment_path(dir.path(), 1);
        let len = fs::metadata(&path).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - cut)
            .unwrap();
        let mut o = open(dir.path(), 1 << 30);
        let got = read_all(&mut o.reader);
        assert_eq!(got.len(), 1, "cut {cut}: the torn batch was read");
        assert_eq!(got[0].streams, batch(1, 0, 3).streams);
        assert_eq!(o.ends.get(&1), Some(&(200 + 11)), "cut {cut}");
        // The torn bytes are gone from the disk, and new batches follow
        // the last whole one.
        assert_eq!(fs::metadata(&path).unwrap().len(), first_end);
        o.writer.write(batch(1, 300, 3)).unwrap();
        assert_eq!(read_all(&mut o.reader)[0].spool_id, Some(2));
    }
}

#[test]
fn a_damaged_record_ends_the_spool_there_and_later_segments_go() {
    // Shipping what follows a hole would let the collector's high-water
    // marks drop the hole's lines when they are read again from their
    // files: the spool ends at the damage.
    let dir = tempfile::tempdir().unwrap();
    let max = 1 << 20; // 128 KiB segments
    {
        let mut o = open(dir.path(), max);
        for i in 0..200 {
            o.writer.write(batch(1, i * 100_000, 100)).unwrap();
        }
        o.writer.close();
    }
    let names = segments(dir.path());
    assert!(names.len() >= 3, "{names:?}");
    // One byte flipped in the middle of the second segment.
    let second = dir.path().join(&names[1]);
    let len = fs::metadata(&second).unwrap().len();
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&second)
        .unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, len / 2).unwrap();
    f.write_all_at(&[byte[0] ^ 0x20], len / 2).unwrap();
    drop(f);

    let mut o = open(dir.path(), max);
    let got = read_all(&mut o.reader);
    let first: u64 = names[1].trim_end_matches(".spool").parse().unwrap();
    let ids: Vec<u64> = got.iter().map(|b| b.spool_id.unwrap()).collect();
    assert_eq!(ids, (1..ids.len() as u64 + 1).collect::<Vec<_>>(), "a gap");
    assert!(ids.len() as u64 >= first - 1 && (ids.len() as u64) < 200);
    assert_eq!(
        segments(dir.path()),
        names[..2].to_vec(),
        "segments after the damaged one must go"
    );
    // Where stream 1 resumes: just past the last batch kept.
    let kept = ids.len() as u64;
    let last_line = format!("line 1-{}", (kept - 1) * 100_000 + 99 * 100);
    assert_eq!(
        o.ends.get(&1),
        Some(&((kept - 1) * 100_000 + 99 * 100 + last_line.len() as u64 + 1))
    );
}

#[test]
fn a_segment_of_a_newer_format_is_an_error_naming_it() {
    // A downgrade must not destroy what a newer agentd spooled.
    let dir = tempfile::tempdir().unwrap();
    let path = format::segment_path(dir.path(), 1);
    let mut header = format::header().to_vec();
    header[11] = 9;
    fs::write(&path, header).unwrap();
    let e = format!("{:#}", Spool::open(dir.path(), 1 << 30).err().unwrap());
    assert!(
        e.contains(&path.display().to_string()) && e.contains("version 9"),
        "{e}"
    );
    assert!(path.exists());
}

/// The committed segment of format version 1 (written by
/// `write_the_version_1_fixture`), which every later agentd must read.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spool-v1.spool");

fn fixture_batches() -> Vec<Batch> {
    let mut b = batch(0x1234_5678_9abc_def0, 0, 3);
    b.streams[0].records[2].flags = FLAG_PARTIAL;
    b.streams[0].records[2].end -= 1;
    let mut journal = batch(77, 41, 1);
    journal.streams[0].path = "journal".into();
    journal.streams[0].records[0].end = 42;
    vec![b, journal]
}

#[test]
fn the_version_1_fixture_still_reads() {
    // An upgrade must send what the previous agentd spooled.
    let dir = tempfile::tempdir().unwrap();
    fs::copy(FIXTURE, format::segment_path(dir.path(), 1)).unwrap();
    let mut o = open(dir.path(), 1 << 30);
    let got = read_all(&mut o.reader);
    let want = fixture_batches();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.streams, g.read_time_ms), (&w.streams, w.read_time_ms));
    }
}

#[test]
#[ignore = "writes the fixture; run by hand only when adding a format version"]
fn write_the_version_1_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open(dir.path(), 1 << 30);
    for b in fixture_batches() {
        o.writer.write(b).unwrap();
    }
    o.writer.close();
    fs::create_dir_all(Path::new(FIXTURE).parent().unwrap()).unwrap();
    fs::copy(format::segment_path(dir.path(), 1), FIXTURE).unwrap();
}
