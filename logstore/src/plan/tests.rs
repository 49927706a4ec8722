use crate::archive::Location;
use logcore::query::parse;
use logcore::record::{flags, line_text, Origin};
use tantivy::collector::DocSetCollector;
use tantivy::{Index, IndexWriter};

use super::*;

fn origin(receive_time_ms: i64) -> Origin<'static> {
    Origin {
        agent: "agent-1",
        host: "agenthost",
        path: "/var/log/syslog",
        stream: 1,
        utc_offset_secs: 0,
        receive_time_ms,
    }
}

/// 2025-11-25T00:00:00Z: the syslog stamps below are Nov 24.
const RECEIVED: i64 = 1_764_028_800_000;

const LINES: &[&str] = &[
    "<38>Nov 24 22:20:01 web1 sshd[1234]: Failed password for root from 203.0.113.9 port 52144 ssh2",
    "<86>Nov 24 22:20:02 web2 sshd[1235]: Failed password for invalid user admin from 198.51.100.7 port 40022 ssh2",
    "<38>Nov 24 22:20:03 web1 sshd[1236]: Accepted password for deploy from 203.0.113.9 port 40023 ssh2",
    "<35>Nov 24 22:20:04 db1 sshd[99]: error: PAM: Authentication failure for ROOT from 203.0.113.9",
    "<86>Nov 24 22:21:07 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx.service",
    "<12>Nov 24 22:22:45 db2 kernel: [12345.678901] EXT4-fs (sda1): mounted filesystem with ordered data mode.",
    "<78>Nov 24 22:17:01 web2 CRON[5678]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
    "<27>Nov 24 22:23:00 web1 nginx[77]: upstream timed out (110: Connection timed out) for Root",
    "2025-11-24T22:20:01.123456+00:00 web3 nginx[812]: GET /password/reset HTTP/1.1 200",
    "no header at all, just failed  password text",
    "Failed Password For Rooted",
    "passwd changed for user bob",
    "password failed for root",
    "xfailed passwordy",
    "job 2025-11-24T22:20:01 finished in 12345.678901 s",
    "Root login refused (Root)",
    "multi-byte ÉCHEC de connexion pour ROOT",
];

/// The records of [`LINES`], each 1 s after the last; every third is
/// flagged an anomaly. A record's offset is its index.
fn records() -> Vec<Record> {
    LINES
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut r = Record::from_line(
                &origin(RECEIVED + i as i64 * 1000),
                i as u64,
                0,
                l.as_bytes().to_vec(),
            );
            // Every sixth has a reason, the others only the flag.
            if i % 3 == 0 {
                r.flags |= flags::ANOMALY;
            }
            if i % 6 == 0 {
                r.anomaly = Some(format!("test-rule line={i} [{i:04x}]"));
            }
            r
        })
        .collect()
}

/// A RAM index of `records`, documents only (no archive: the tests
/// identify a hit by its `offset` column).
struct Ram {
    s: LogSchema,
    index: Index,
}

impl Ram {
    fn new(records: &[Record]) -> Ram {
        Ram::of_version(records, crate::schema::SCHEMA_VERSION)
    }

    /// An index whose documents are of schema `version`.
    fn of_version(records: &[Record], version: u32) -> Ram {
        let s = LogSchema::of_version(version);
        let index = Index::create_in_ram(s.schema.clone());
        s.register_tokenizers(&index);
        let mut w: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for r in records {
            w.add_document(s.document(r, Location::default())).unwrap();
        }
        w.commit().unwrap();
        Ram { s, index }
    }

    /// The offsets of the documents `q` finds, sorted.
    fn hits(&self, q: &dyn Query) -> Vec<u64> {
        let searcher = self.index.reader().unwrap().searcher();
        let docs = searcher.search(q, &DocSetCollector).unwrap();
        let mut out: Vec<u64> = docs
            .into_iter()
            .map(|a| {
                let seg = searcher.segment_reader(a.segment_ord);
                seg.fast_fields()
                    .u64("offset")
                    .unwrap()
                    .first(a.doc_id)
                    .unwrap()
            })
            .collect();
        out.sort_unstable();
        out
    }
}

fn plan_for(expr: &Expr, filters: &Filters, case_sensitive: bool) -> Plan {
    plan(expr, filters, case_sensitive, &LogSchema::new()).unwrap()
}

/// The offsets of [`records`] that `query` matches by the check alone.
fn checked(query: &str, case_sensitive: bool) -> Vec<u64> {
    let plan = plan_for(&parse(query).unwrap(), &Filters::default(), case_sensitive);
    records()
        .iter()
        .filter(|r| plan.matches(r))
        .map(|r| r.offset)
        .collect()
}

/// Runs `expr` under `filters` on the index of [`records`] and checks
/// the plan's promises: the index finds a superset of what `matches`
/// accepts, the very same set when no check is needed. Returns the
/// exact matches.
fn run(ram: &Ram, expr: &Expr, filters: &Filters, case_sensitive: bool) -> Vec<u64> {
    let plan = plan(expr, filters, case_sensitive, &ram.s).unwrap();
    let found = ram.hits(&*plan.query);
    let exact: Vec<u64> = records()
        .iter()
        .filter(|r| plan.matches(r))
        .map(|r| r.offset)
        .collect();
    for o in &exact {
        assert!(
            found.contains(o),
            "{expr:?} {filters:?} cs={case_sensitive}: the index misses line {o} ({:?}); found {found:?}, exact {exact:?}",
            LINES[*o as usize]
        );
    }
    if !plan.needs_check() {
        assert_eq!(
            found, exact,
            "{expr:?} {filters:?} cs={case_sensitive}: said exact but is not"
        );
    }
    // Readers check the index's hits with the expression alone.
    let hits_checked: Vec<u64> = records()
        .iter()
        .filter(|r| found.contains(&r.offset) && plan.matches_hit(r))
        .map(|r| r.offset)
        .collect();
    assert_eq!(
        hits_checked, exact,
        "{expr:?} {filters:?} cs={case_sensitive}: the check of hits differs"
    );
    exact
}

#[test]
fn filters_are_not_checked_again_on_hits() {
    // `logq -t sshd -H 'web*' -e REGEX -o raw` must not parse each line
    // (nor read host names) to test globs the index already applied: it
    // made adding `-t sshd` to a regex twice as slow.
    let filters = Filters {
        hosts: vec!["web*".into()],
        programs: vec!["sshd".into()],
        ..Filters::default()
    };
    let plan = plan_for(&Expr::Regex("fail.*from".into()), &filters, false);
    assert!(plan.needs_check());
    assert_eq!(plan.read(Want::Line), Want::Line);
    let named = plan_for(&q(r#"program:ssh* "failed password""#), &filters, false);
    assert!(named.needs_check());
    assert_eq!(named.read(Want::Line), Want::Shown);
    let ram = Ram::new(&records());
    run(&ram, &Expr::Regex("fail.*from".into()), &filters, false);
}

fn q(text: &str) -> Expr {
    parse(text).unwrap()
}

#[test]
fn negated_word_excludes_lines_with_it_in_the_index_alone() {
    // `logq -- sshd -root` must drop every line with root, and do it in
    // the index (no line needs reading to decide).
    let ram = Ram::new(&records());
    let plan = plan_for(&q("sshd -root"), &Filters::default(), false);
    assert!(!plan.needs_check());
    assert_eq!(
        run(&ram, &q("sshd -root"), &Filters::default(), false),
        [1, 2]
    );
    assert!(!checked("-root", false).contains(&0));
    assert!(!checked("-root", false).contains(&3), "ROOT is root");
}

#[test]
fn negated_phrase_is_checked_on_the_line() {
    // `sshd -"failed password"` must keep `Accepted password` lines and
    // drop the failures, although the index cannot see word order.
    let ram = Ram::new(&records());
    let e = q(r#"sshd -"failed password""#);
    assert!(plan_for(&e, &Filters::default(), false).needs_check());
    assert_eq!(run(&ram, &e, &Filters::default(), false), [2, 3]);
}

#[test]
fn or_wants_either() {
    // `logq 'accepted OR refused'` must show both kinds of line.
    let ram = Ram::new(&records());
    assert_eq!(
        run(&ram, &q("accepted OR refused"), &Filters::default(), false),
        [2, 15]
    );
    assert_eq!(
        run(
            &ram,
            &q(r#"refused OR "ordered data""#),
            &Filters::default(),
            false
        ),
        [5, 15]
    );
}

#[test]
fn words_match_whole_terms_and_phrases_in_order() {
    // `logq pass` must not find password (words are whole words), and a
    // phrase must not match its words in another order or inside longer
    // words; a run of spaces in the phrase stands for one space.
    assert_eq!(checked("pass", false), Vec::<u64>::new());
    assert_eq!(checked("203.0.113.9", false), [0, 2, 3]);
    assert_eq!(checked(r#""failed password""#, false), [0, 1, 10]);
    assert_eq!(checked(r#""failed   password""#, false), [0, 1, 10]);
    assert!(
        !checked(r#""failed password""#, false).contains(&12),
        "order"
    );
    assert!(
        !checked(r#""failed password""#, false).contains(&13),
        "whole words"
    );
    assert!(
        !checked(r#""failed password""#, false).contains(&9),
        "two spaces in line"
    );
}

#[test]
fn words_without_terms_are_substrings_of_the_line() {
    // The index has no terms for ISO stamps and fine decimals: the query
    // must still narrow to the lines holding them.
    assert_eq!(checked("2025-11-24T22:20:01", false), [8, 14]);
    assert_eq!(checked("12345.678901", false), [5, 14]);
    let plan = plan_for(&q("12345.678901"), &Filters::default(), false);
    assert!(plan.needs_check());
}

#[test]
fn prefixes_match_the_start_of_any_term() {
    // `pass*` must find password and passwd, also as a part
    // (/password/reset), and nothing that merely contains `pass`.
    let ram = Ram::new(&records());
    let got = run(&ram, &q("pass*"), &Filters::default(), false);
    assert_eq!(got, [0, 1, 2, 8, 9, 10, 11, 12, 13]);
    assert!(!plan_for(&q("pass*"), &Filters::default(), false).needs_check());
    // With case: `Pass*` only where a word starts with `Pass`.
    assert_eq!(run(&ram, &q("Pass*"), &Filters::default(), true), [10]);
}

#[test]
fn case_sensitive_word_does_not_match_other_case() {
    // `logq -s Root` must skip `root` and `ROOT`, and `Rooted`.
    let ram = Ram::new(&records());
    assert_eq!(run(&ram, &q("Root"), &Filters::default(), true), [7, 15]);
    assert_eq!(
        run(&ram, &q("Root"), &Filters::default(), false),
        [0, 3, 4, 6, 7, 12, 15, 16]
    );
    assert_eq!(checked(r#""Failed password""#, true), [0, 1]);
    assert_eq!(checked("ÉCHEC", true), [16]);
    assert_eq!(checked("échec", true), Vec::<u64>::new());
    assert!(plan_for(&q("root"), &Filters::default(), true).needs_check());
}

#[test]
fn host_and_program_globs() {
    // `-H 'web*'` and `program:ssh*` must select by pattern, with case,
    // and agree between index and check.
    let ram = Ram::new(&records());
    let f = Filters::default();
    assert_eq!(run(&ram, &q("host:web?"), &f, false), [0, 1, 2, 4, 6, 7, 8]);
    assert_eq!(run(&ram, &q("host:db*"), &f, false), [3, 5]);
    assert_eq!(run(&ram, &q("host:WEB1"), &f, false), Vec::<u64>::new());
    assert_eq!(run(&ram, &q("host:agent*"), &f, false).len(), 8);
    assert_eq!(run(&ram, &q("program:ssh*"), &f, false), [0, 1, 2, 3]);
    assert_eq!(run(&ram, &q("program:CRON"), &f, false), [6]);
    assert_eq!(run(&ram, &q("-program:*"), &f, false).len(), 8);
    // Glob characters of regexes are literal.
    assert_eq!(run(&ram, &q("host:web.*"), &f, false), Vec::<u64>::new());
    let hosts = Filters {
        hosts: vec!["db1".into(), "web2".into()],
        ..Filters::default()
    };
    assert_eq!(run(&ram, &Expr::All, &hosts, false), [1, 3, 6]);
    let programs = Filters {
        programs: vec!["nginx".into(), "k*".into()],
        ..Filters::default()
    };
    assert_eq!(run(&ram, &Expr::All, &programs, false), [5, 7, 8]);
}

#[test]
fn program_check_agrees_with_the_index_after_reading_back() {
    // logq reads the program back by parsing the line again (in UTC, not
    // the agent's zone): `program:` must select the same lines either way.
    let records: Vec<Record> = LINES
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let origin = Origin {
                utc_offset_secs: 13 * 3600,
                ..origin(RECEIVED)
            };
            Record::from_line(&origin, i as u64, 0, l.as_bytes().to_vec())
        })
        .collect();
    let ram = Ram::new(&records);
    for glob in ["ssh*", "nginx", "*", "CRON", "k?rnel"] {
        let plan = plan_for(&Expr::Program(glob.into()), &Filters::default(), false);
        let read_back: Vec<u64> = records
            .iter()
            .filter(|r| {
                let text = line_text(&r.raw);
                let parsed = logcore::parse::parse_line(&text, r.receive_time_ms, 0);
                let r = Record {
                    program: parsed.program.map(str::to_owned),
                    ..(*r).clone()
                };
                plan.matches(&r)
            })
            .map(|r| r.offset)
            .collect();
        assert_eq!(ram.hits(&*plan.query), read_back, "{glob}");
    }
}

#[test]
fn severity_and_facility() {
    // `severity:<=err` and `-p err` must find err and worse, and never a
    // line without a severity.
    let ram = Ram::new(&records());
    let f = Filters::default();
    assert_eq!(run(&ram, &q("severity:<=err"), &f, false), [3, 7]);
    assert_eq!(run(&ram, &q("severity:warning..err"), &f, false), [3, 5, 7]);
    assert_eq!(run(&ram, &q("severity:info"), &f, false), [0, 1, 2, 4, 6]);
    assert_eq!(
        run(&ram, &q("-severity:info"), &f, false).len(),
        LINES.len() - 5
    );
    assert_eq!(run(&ram, &q("facility:authpriv"), &f, false), [1, 4]);
    assert_eq!(
        run(&ram, &q("facility:auth OR facility:cron"), &f, false),
        [0, 2, 3, 6]
    );
    let sev = Filters {
        severity: Some((0, 4)),
        ..Filters::default()
    };
    assert_eq!(run(&ram, &Expr::All, &sev, false), [3, 5, 7]);
}

#[test]
fn time_range_and_anomalies() {
    // --since is inclusive, --until exclusive; --anomalies keeps only
    // flagged lines, from the index alone (no line is read to decide).
    let ram = Ram::new(&records());
    let times: Vec<i64> = records().iter().map(|r| r.event_time_ms).collect();
    let range = Filters {
        since_ms: Some(times[12]),
        until_ms: Some(times[14]),
        ..Filters::default()
    };
    assert_eq!(run(&ram, &Expr::All, &range, false), [12, 13]);
    let anomalies = Filters {
        anomalies: true,
        ..Filters::default()
    };
    let plan = plan_for(&Expr::All, &anomalies, false);
    assert!(!plan.needs_check());
    assert_eq!(
        ram.hits(&*plan.query),
        [0, 3, 6, 9, 12, 15],
        "every third line is flagged"
    );
    assert_eq!(run(&ram, &q("root"), &anomalies, false), [0, 3, 6, 12, 15]);
    let plan = plan_for(&q("root"), &anomalies, false);
    assert!(!plan.needs_check(), "a word and --anomalies are exact");
    assert_eq!(ram.hits(&*plan.query), [0, 3, 6, 12, 15]);
    // NOT of a flagged-only query, and the flag with a time range.
    let both = Filters {
        anomalies: true,
        since_ms: Some(times[3]),
        until_ms: Some(times[12]),
        ..Filters::default()
    };
    // Line 6 (CRON, 22:17:01) is flagged but stamped before the range.
    assert_eq!(run(&ram, &Expr::All, &both, false), [3, 9]);
    assert_eq!(run(&ram, &q("NOT root"), &both, false), [9]);
}

#[test]
fn regex_narrows_by_words_with_delimiters_on_both_sides() {
    // A regex search must not read every line when the regex names
    // whole words, and must never drop a line it matches (the literals
    // themselves: `logcore::query::literals`).
    let ram = Ram::new(&records());
    let f = Filters::default();
    let e = Expr::Regex("Failed password for (root|admin) from".into());
    assert_eq!(run(&ram, &e, &f, false), [0]);
    assert_eq!(
        run(&ram, &Expr::Regex(r"port \d+ ssh2$".into()), &f, false),
        [0, 1, 2]
    );
    assert_eq!(
        run(&ram, &Expr::Regex(r"for root\b".into()), &f, true),
        [0, 12]
    );
}

#[test]
fn invalid_regex_names_the_pattern() {
    // `logq -e 'a(b'` must say which pattern is wrong.
    let err = plan(
        &Expr::Regex("a(b".into()),
        &Filters::default(),
        false,
        &LogSchema::new(),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("invalid regular expression \"a(b\""),
        "{err:#}"
    );
}

#[test]
fn index_is_a_superset_and_exact_when_it_says_so() {
    // Whatever the combination, logq must never lose a matching line in
    // the index, and must not print a non-matching one unchecked.
    for version in [crate::schema::OLDEST_SCHEMA, crate::schema::SCHEMA_VERSION] {
        superset_and_exact(&Ram::of_version(&records(), version));
    }
}

fn superset_and_exact(ram: &Ram) {
    let atoms: Vec<Expr> = [
        "root",
        "password",
        "sshd",
        "2025-11-24T22:20:01",
        "12345.678901",
        r#""failed password""#,
        r#""for   root""#,
        "pass*",
        "Ro*",
        "user:root",
        "203.0.113.9",
        "203.0.11*",
        "203.0*",
        "nginx.servic*",
        "ext4-f*",
        "1236",
        "pts/0",
        "12345",
        "host:web*",
        "host:db?",
        "program:ssh*",
        "program:nginx",
        "severity:<=err",
        "severity:info",
        "facility:auth",
    ]
    .iter()
    .map(|t| q(t))
    .chain([
        Expr::Regex("Failed password for (root|admin) from".into()),
        Expr::Regex(r"pass\w+".into()),
        Expr::Regex(r" (?i:root) ".into()),
        Expr::Regex(r"from 203\.0\.113\.[0-9]+ port".into()),
        Expr::Regex(r"sshd\[123[0-9]\]".into()),
    ])
    .collect();
    let filters = [
        Filters::default(),
        Filters {
            hosts: vec!["web*".into()],
            programs: vec!["sshd".into(), "CRON".into(), "nginx".into()],
            ..Filters::default()
        },
        Filters {
            severity: Some((0, 6)),
            since_ms: Some(RECEIVED + 1000),
            until_ms: Some(RECEIVED + 14_000),
            anomalies: true,
            ..Filters::default()
        },
    ];
    let not = |e: &Expr| Expr::Not(Box::new(e.clone()));
    let mut non_trivial = 0;
    for a in &atoms {
        for b in &atoms {
            let exprs = [
                Expr::And(vec![a.clone(), b.clone()]),
                Expr::Or(vec![a.clone(), b.clone()]),
                Expr::And(vec![a.clone(), not(b)]),
                Expr::Or(vec![not(a), b.clone()]),
                not(&Expr::Or(vec![a.clone(), not(b)])),
            ];
            for e in &exprs {
                for (i, f) in filters.iter().enumerate() {
                    let cs = i == 1;
                    let n = run(ram, e, f, cs).len();
                    non_trivial += usize::from(n > 0 && n < LINES.len());
                }
            }
        }
    }
    assert!(
        non_trivial > 1000,
        "{non_trivial} queries selected some lines"
    );
}

/// Two long-tail terms whose keys are the same (found by trying numbers):
/// the index finds both lines for either, the check keeps the right one,
/// and the plan says it must check. Without the check `logq 0000004242`
/// would print the line of another request id.
#[test]
fn a_shared_key_is_checked_on_the_line() {
    let key = |t: &str| logcore::long_tail::index_term(t, true).into_owned();
    let first = "req0000000001".to_string();
    let other = (2..2_000_000u32)
        .map(|n| format!("req{n:010}"))
        .find(|t| key(t) == key(&first))
        .expect("2 million terms over 2^18 buckets share one");
    let records: Vec<Record> = [&first, &other]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let line = format!("<14>Nov 24 22:20:0{i} web1 app[7]: done {id}");
            Record::from_line(&origin(RECEIVED), i as u64, 0, line.into_bytes())
        })
        .collect();
    for version in [6, 7] {
        let ram = Ram::of_version(&records, version);
        let plan = plan(&q(&other), &Filters::default(), false, &ram.s).unwrap();
        let found = ram.hits(&*plan.query);
        let exact: Vec<u64> = records
            .iter()
            .filter(|r| plan.matches(r))
            .map(|r| r.offset)
            .collect();
        assert_eq!(exact, vec![1], "schema {version}");
        if version == 6 {
            assert_eq!(found, vec![1]);
            assert!(!plan.needs_check());
        } else {
            assert_eq!(found, vec![0, 1], "the key finds both lines");
            assert!(plan.needs_check(), "a keyed word is checked");
        }
    }
}
