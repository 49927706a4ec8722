use super::*;
use proptest::prelude::*;

fn roundtrip(f: &Frame) {
    let mut buf = Vec::new();
    f.encode(&mut buf).unwrap();
    assert_eq!(check(&buf, DEFAULT_MAX_FRAME), Ok(Some(buf.len())));
    assert_eq!(&Frame::decode(&buf).unwrap(), f);
}

#[test]
fn every_frame_type_roundtrips() {
    roundtrip(&Frame::Hello {
        version: VERSION,
        agent_id: "web1".into(),
        host: "web1.example".into(),
        utc_offset_secs: -3600,
    });
    roundtrip(&Frame::Welcome {
        version: 1,
        max_frame: 1 << 20,
        window: 8,
    });
    roundtrip(&Frame::Batch {
        batch_seq: 7,
        read_time_ms: 1_700_000_000_000,
        streams: vec![WireStream {
            stream_id: 42,
            path: "/var/log/auth.log".into(),
            records: vec![
                WireRecord {
                    offset: 0,
                    end: 6,
                    flags: 0,
                    line: b"hello".to_vec(),
                },
                WireRecord {
                    offset: 6,
                    end: 100_000,
                    flags: FLAG_TRUNCATED,
                    line: vec![0, 0xff, b'x'],
                },
            ],
        }],
    });
    roundtrip(&Frame::Ack {
        batch_seq: u64::MAX,
    });
    roundtrip(&Frame::Error {
        code: code::VERSION,
        message: "version 9 is not spoken here".into(),
    });
}

#[test]
fn decoded_size_counts_what_decode_allocates() {
    // A collector budgets a BATCH's memory before decoding it: the
    // estimate must grow with the records, not only with the bytes, or
    // a frame of empty lines would take three times its budget.
    let batch = |lines: usize, len: usize| {
        let mut buf = Vec::new();
        Frame::Batch {
            batch_seq: 1,
            read_time_ms: 0,
            streams: vec![WireStream {
                stream_id: 1,
                path: "/var/log/x".into(),
                records: (0..lines as u64)
                    .map(|i| WireRecord {
                        offset: i * 1000,
                        end: i * 1000 + len as u64 + 1,
                        flags: 0,
                        line: vec![b'a'; len],
                    })
                    .collect(),
            }],
        }
        .encode(&mut buf)
        .unwrap();
        buf
    };
    let record = std::mem::size_of::<WireRecord>();
    let empty = batch(10_000, 0);
    assert!(decoded_size(&empty) >= 10_000 * record);
    assert!(decoded_size(&empty) > 2 * empty.len());
    let long = batch(100, 1000);
    assert!(decoded_size(&long) >= 100 * (record + 1000));
    assert!(decoded_size(&long) < 2 * long.len());
    // Streams without records: the most memory per byte there is.
    let mut streams = Vec::new();
    Frame::Batch {
        batch_seq: 1,
        read_time_ms: 0,
        streams: (0..1000)
            .map(|i| WireStream {
                stream_id: i,
                path: String::new(),
                records: Vec::new(),
            })
            .collect(),
    }
    .encode(&mut streams)
    .unwrap();
    let size = decoded_size(&streams);
    assert!(size >= 1000 * std::mem::size_of::<WireStream>());
    assert!(size < 7 * streams.len(), "{size} for {}", streams.len());
    // Not a BATCH, or cut short: never more than the walk saw.
    assert_eq!(decoded_size(&[0, 0, 0, 5, kind::ACK, 0]), 6);
    assert!(decoded_size(&empty[..empty.len() / 2]) <= decoded_size(&empty));
    assert_eq!(decoded_size(&[]), 0);
}

#[test]
fn header_claiming_4_gib_is_rejected_before_buffering() {
    // A hostile client must not make the collector allocate 4 GiB.
    let buf = [0xff, 0xff, 0xff, 0xff, kind::BATCH];
    assert_eq!(
        check(&buf, DEFAULT_MAX_FRAME),
        Err(WireError::TooLarge {
            len: u64::from(u32::MAX),
            max: DEFAULT_MAX_FRAME
        })
    );
}

#[test]
fn wrong_magic_is_not_a_version_error() {
    let mut buf = Vec::new();
    Frame::Hello {
        version: 1,
        agent_id: "a".into(),
        host: "h".into(),
        utc_offset_secs: 0,
    }
    .encode(&mut buf)
    .unwrap();
    buf[5] = b'X';
    assert_eq!(Frame::decode(&buf), Err(WireError::BadMagic));
}

fn batch_of(path: &str, offset: u64, span_bytes: [u8; 8], flags: u8, line: &[u8]) -> Vec<u8> {
    let mut body = vec![kind::BATCH];
    body.extend_from_slice(&1u64.to_be_bytes());
    body.extend_from_slice(&0u64.to_be_bytes());
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&9u64.to_be_bytes());
    body.extend_from_slice(&(path.len() as u16).to_be_bytes());
    body.extend_from_slice(path.as_bytes());
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&span_bytes);
    body.push(flags);
    body.extend_from_slice(&(line.len() as u32).to_be_bytes());
    body.extend_from_slice(line);
    let mut buf = (body.len() as u32).to_be_bytes().to_vec();
    buf.extend_from_slice(&body);
    buf
}

#[test]
fn a_span_that_would_hide_a_stream_is_refused() {
    // Regression (issue 13): a record with span 2^64-1 moved its
    // stream's high-water mark to the end, and the real agent's later
    // lines were acknowledged and never stored.
    let bad = batch_of("/var/log/syslog", 5, u64::MAX.to_be_bytes(), 0, b"x");
    assert!(matches!(
        Frame::decode(&bad),
        Err(WireError::BadRecord {
            why: RecordError::PastEnd { .. },
            ..
        })
    ));
    let rule = |path: &str, offset: u64, span: u64, flags: u8, len: usize| {
        check_record(path, offset, span, flags, len)
    };
    assert_eq!(rule("/f", 0, 0, 0, 0), Err(RecordError::EmptySpan));
    assert_eq!(
        rule("/f", 0, 1, 0, 0),
        Ok(()),
        "an empty line is its newline"
    );
    assert_eq!(rule("/f", 10, 6, 0, 5), Ok(()));
    assert!(
        rule("/f", 10, 7, 0, 5).is_err(),
        "a span the line cannot fill"
    );
    assert_eq!(rule("/f", 10, 5, FLAG_PARTIAL, 5), Ok(()));
    assert!(rule("/f", 10, 6, FLAG_PARTIAL, 5).is_err());
    assert_eq!(rule("/f", 10, 1 << 40, FLAG_TRUNCATED, 5), Ok(()));
    assert!(rule("/f", 10, 5, FLAG_TRUNCATED, 5).is_err());
    assert_eq!(rule("/f", MAX_END - 6, 6, 0, 5), Ok(()));
    assert!(rule("/f", MAX_END - 5, 6, 0, 5).is_err());
    assert_eq!(rule("journal", 77, 1, 0, 5000), Ok(()));
    assert_eq!(rule("journal:/run/j", 77, 1, 0, 0), Ok(()));
    assert_eq!(
        rule("journal", 77, 2, 0, 1),
        Err(RecordError::JournalSpan { span: 2 })
    );
    let good = batch_of("/var/log/syslog", 5, 2u64.to_be_bytes(), 0, b"x");
    assert!(Frame::decode(&good).is_ok());
}

#[test]
fn hello_names_are_tokens() {
    // Regression (issue 13): a HELLO's agent id "x\n<3>..." forged an
    // error line in the journal, and empty or 65,535-byte ids that
    // agentd itself refuses were accepted.
    let hello = |agent_id: &str, host: &str| {
        let mut buf = Vec::new();
        Frame::Hello {
            version: VERSION,
            agent_id: agent_id.into(),
            host: host.into(),
            utc_offset_secs: 0,
        }
        .encode(&mut buf)
        .unwrap();
        Frame::decode(&buf)
    };
    assert!(hello("web1-a", "web1.example.com").is_ok());
    assert!(matches!(
        hello("x\n<3>collectord: fatal", "h"),
        Err(WireError::BadName {
            field: "agent_id",
            why: NameError::BadChar('\n', 1)
        })
    ));
    assert!(matches!(
        hello("", "h"),
        Err(WireError::BadName {
            why: NameError::Empty,
            ..
        })
    ));
    assert!(matches!(
        hello(&"a".repeat(65_535), "h"),
        Err(WireError::BadName {
            why: NameError::TooLong(65_535),
            ..
        })
    ));
    assert!(matches!(
        hello("a", "web 1"),
        Err(WireError::BadName { field: "host", .. })
    ));
    assert!(hello("a", "\u{1b}]0;owned\u{7}").is_err());
    assert_eq!(check_name(&"a".repeat(MAX_NAME)), Ok(()));
}

proptest! {
    #[test]
    fn decode_never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = (body.len() as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&body);
        let _ = Frame::decode(&buf);
        // The walk a collector budgets with never panics either, and
        // never counts past what the bytes can hold.
        prop_assert!(decoded_size(&buf) <= 7 * buf.len().max(64));
    }

    #[test]
    fn check_agrees_with_any_split(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20), cut in 0usize..2000) {
        let f = Frame::Batch {
            batch_seq: 1,
            read_time_ms: 0,
            streams: vec![WireStream {
                stream_id: 1,
                path: "journal".into(),
                records: lines.into_iter().enumerate().map(|(i, line)| WireRecord { offset: i as u64, end: i as u64 + 1, flags: 0, line }).collect(),
            }],
        };
        let mut buf = Vec::new();
        f.encode(&mut buf).unwrap();
        let cut = cut.min(buf.len());
        let got = check(&buf[..cut], DEFAULT_MAX_FRAME).unwrap();
        prop_assert_eq!(got, (cut == buf.len()).then_some(buf.len()));
    }
}
