//! The data directory schema 6 wrote (`tests/fixtures/data-v6`, made by
//! `tests/fixtures/make-data.sh` with the release binaries of schema 6:
//! two archive days, RFC 3164, RFC 5424 and RFC 3339 lines, lines without a
//! header, an invalid UTF-8 byte, a terminal escape, a 3.6 kB line) is read
//! by today's programs: logq prints what schema 6's logq printed
//! (`tests/fixtures/data-v6.expected`), collectord opens it and adds to it,
//! and a data directory of a schema newer than the program knows is refused
//! with a message naming both versions.
//!
//! A schema change (`logstore::schema::SCHEMA_VERSION`) must decide what
//! becomes of a schema 6 directory: migrated (and these queries still answer
//! as before) or refused (and the message says so). Schema 7 (long-tail
//! terms kept as keys, `logcore::long_tail`) decided: *kept*. A schema 6
//! directory is read as schema 6 and collectord goes on writing it in
//! schema 6's terms (the payload keeps saying 6), so nothing is rewritten
//! on upgrade and every old answer stays; only new data directories get
//! the smaller index. `the_schema_decision_is_made` fails on the next
//! change until it decides too.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use logq_tests::{bin, logq_command, wait_until, Agent, Collector};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

/// The schema the fixture was written with.
const FIXTURE_SCHEMA: u32 = 6;

/// Copies a directory tree (the fixture is small: files and folders only).
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fresh copy of the fixture of `schema` at `dir/data` (collectord and
/// logq may write lock files and migrate; the committed one stays as it
/// is).
fn fixture_copy(schema: u32, dir: &Path) -> PathBuf {
    let data = dir.join("data");
    copy_dir(&Path::new(FIXTURES).join(format!("data-v{schema}")), &data);
    data
}

/// The runs of `data-v6.queries`: name and arguments.
fn queries() -> Vec<(String, Vec<String>)> {
    let text = fs::read_to_string(Path::new(FIXTURES).join("data-v6.queries")).unwrap();
    let runs: Vec<(String, Vec<String>)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.split('\t').map(str::to_owned);
            let name = parts.next().expect("a name");
            (name, parts.collect())
        })
        .collect();
    assert!(runs.len() >= 20, "the queries file lost its runs");
    runs
}

/// What the logq of `schema` printed for the run `name`, and its exit
/// code, as `make-data.sh` wrote it (the first line, `logq ARGS`, left out).
fn expected(schema: u32, name: &str) -> Vec<u8> {
    let path = Path::new(FIXTURES)
        .join(format!("data-v{schema}.expected"))
        .join(format!("{name}.txt"));
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = bytes
        .iter()
        .position(|&b| b == b'\n')
        .expect("a first line");
    bytes[first + 1..].to_vec()
}

/// logq's output of one run in the expected file's form.
fn run(data: &Path, args: &[String]) -> Vec<u8> {
    let out = logq_command(data).args(args).output().expect("run logq");
    let mut got = out.stdout;
    got.extend_from_slice(format!("exit {}\n", out.status.code().unwrap_or(-1)).as_bytes());
    if !out.stderr.is_empty() {
        got.extend_from_slice(b"(stderr) ");
        got.extend_from_slice(&out.stderr);
    }
    got
}

/// The runs whose output differs from what the logq of `schema` printed,
/// each with its first differing line.
fn differences(schema: u32, data: &Path, runs: &[(String, Vec<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, args) in runs {
        let want = expected(schema, name);
        let got = run(data, args);
        if got != want {
            let w: Vec<&[u8]> = want.split(|&b| b == b'\n').collect();
            let g: Vec<&[u8]> = got.split(|&b| b == b'\n').collect();
            let i = (0..w.len().max(g.len()))
                .find(|&i| w.get(i) != g.get(i))
                .unwrap_or(0);
            let show = |l: Option<&&[u8]>| {
                l.map_or("(none)".to_owned(), |l| {
                    format!("{:?}", String::from_utf8_lossy(l))
                })
            };
            out.push(format!(
                "logq {args:?} ({name}.txt), line {}:\n    schema {schema}: {}\n    now:      {}",
                i + 1,
                show(w.get(i)),
                show(g.get(i))
            ));
        }
    }
    out
}

/// A user who upgrades keeps searching yesterday's lines: every query of
/// `data-v6.queries` (words, a phrase, host and program globs, severities,
/// a facility, time ranges over RFC 3164 and 5424 stamps, `-c`, `--by`,
/// `-o json`, `-o raw` with invalid UTF-8, context across an archive day)
/// prints over the schema 6 directory what schema 6's logq printed. A
/// change to the index or archive format, the tokenizer or the printing
/// shows up here as lines lost, added or printed otherwise.
#[test]
fn logq_prints_what_schema_6_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(FIXTURE_SCHEMA, tmp.path());
    let diff = differences(FIXTURE_SCHEMA, &data, &queries());
    assert!(
        diff.is_empty(),
        "{} runs over the schema 6 fixture differ from what schema 6 printed:\n{}",
        diff.len(),
        diff.join("\n")
    );
}

/// The same for the directory schema 7 wrote (`data-v7`, the same lines
/// and queries): what the next change must keep answering. Schema 7's
/// answers were schema 6's, but for the receive times, temporary paths and
/// stream ids of the JSON runs (another run of `make-data.sh`).
#[test]
fn logq_prints_what_schema_7_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(7, tmp.path());
    let diff = differences(7, &data, &queries());
    assert!(
        diff.is_empty(),
        "{} runs over the schema 7 fixture differ from what schema 7 printed:\n{}",
        diff.len(),
        diff.join("\n")
    );
}

/// After an upgrade collectord starts on the old data directory, the old
/// lines stay searchable as they were, and new lines are added to it and
/// found: a collectord that could not open it would leave a server without
/// its log store (or, worse, start a new one beside it).
#[test]
fn collectord_opens_the_schema_6_fixture_and_adds_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture_copy(FIXTURE_SCHEMA, &tmp.path().join("collector"));
    // Retention would drop the fixture's November 2026 days one day.
    let mut collector = Collector::start(&tmp.path().join("collector"), "retention-days = 0");
    assert_eq!(collector.data_dir, data);
    assert!(
        collector
            .notes
            .wait_for(0, "READY=1", Duration::from_secs(30))
            .is_some(),
        "collectord did not get ready on the schema 6 directory; its log:\n{}",
        collector.log()
    );
    let runs = queries();
    let diff = differences(FIXTURE_SCHEMA, &data, &runs);
    assert!(
        diff.is_empty(),
        "with collectord running on it, the schema 6 fixture answers otherwise:\n{}",
        diff.join("\n")
    );

    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let path = logs.join("new.log");
    fs::write(
        &path,
        "<38>2026-11-25T08:00:00.000000+00:00 web3 newprog[9]: added after the upgrade zebracorn req0000004242\n",
    )
    .unwrap();
    let mut agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&path], "");
    let before = 87;
    assert!(
        collector.wait_for_lines(before + 1, Duration::from_secs(60)),
        "the new line did not become searchable ({} lines); agent log:\n{}\ncollectord log:\n{}",
        collector.searchable_lines(),
        agent.log(),
        collector.log()
    );
    agent.terminate(Duration::from_secs(30));
    let status = collector.terminate(Duration::from_secs(30));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "collectord did not stop cleanly: {}",
        collector.log()
    );

    // After a clean stop: the new line, found by word, host and program,
    // and the old lines' answers, unchanged.
    let out = logq_command(&data)
        .args(["-o", "raw", "-H", "web3", "-t", "newprog", "zebracorn"])
        .output()
        .unwrap();
    let new_line =
        "<38>2026-11-25T08:00:00.000000+00:00 web3 newprog[9]: added after the upgrade zebracorn req0000004242\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), new_line);
    // The directory is still schema 6, written in schema 6's terms: the
    // long-tail id is a whole term, found (and counted) by the index alone
    // as schema 6 plans it. Written as a schema 7 key, logq would find
    // nothing.
    let meta = fs::read_to_string(data.join("index/meta.json")).unwrap();
    assert!(
        meta.contains(&format!("\\\"schema\\\":{FIXTURE_SCHEMA},")),
        "collectord rewrote the payload's schema: {meta}"
    );
    let out = logq_command(&data)
        .args(["-o", "raw", "req0000004242"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), new_line);
    let unchanged: Vec<(String, Vec<String>)> = runs
        .into_iter()
        .filter(|(name, _)| {
            !name.starts_with("all-") && !name.starts_with("count") && name != "newest-reversed"
        })
        .collect();
    let diff = differences(FIXTURE_SCHEMA, &data, &unchanged);
    assert!(
        diff.is_empty(),
        "after collectord added a line, the old lines answer otherwise:\n{}",
        diff.join("\n")
    );
    assert_eq!(logq_tests::count(&data, &[]), before + 1);
}

/// The fixture's directory with its commit payload saying schema `version`.
fn with_schema(dir: &Path, version: u32) -> PathBuf {
    let data = fixture_copy(FIXTURE_SCHEMA, dir);
    let meta = data.join("index/meta.json");
    let text = fs::read_to_string(&meta).unwrap();
    let from = format!("\\\"schema\\\":{FIXTURE_SCHEMA},");
    assert!(
        text.contains(&from),
        "meta.json's payload names no schema 6"
    );
    fs::write(
        &meta,
        text.replace(&from, &format!("\\\"schema\\\":{version},")),
    )
    .unwrap();
    data
}

/// A newer schema than this program knows (after a downgrade, or a data
/// directory copied from a newer server): collectord must not write into
/// it. It exits with an error naming the directory's schema and its own;
/// one that started would add lines in a format the newer programs misread.
#[test]
fn collectord_refuses_a_newer_schema_naming_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let newer = logstore::schema::SCHEMA_VERSION + 1;
    let data = with_schema(tmp.path(), newer);
    let config = tmp.path().join("collectord.toml");
    fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata-dir = \"{}\"\nretention-days = 0\n",
            data.display()
        ),
    )
    .unwrap();
    let log = tmp.path().join("collectord.log");
    let mut child = Command::new(bin("collectord"))
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    let exited = wait_until(Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = fs::read_to_string(&log).unwrap();
    assert!(
        exited,
        "collectord runs on a schema {newer} directory; its log:\n{stderr}"
    );
    assert_ne!(status.and_then(|s| s.code()), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("schema version {newer}"))
            && stderr.contains(&logstore::schema::SCHEMA_VERSION.to_string()),
        "collectord's message does not name both schema versions: {stderr}"
    );
}

/// The same for logq: reading a newer schema's index as if it were its own
/// would print wrong answers (a tokenizer change alone keeps the fields and
/// changes what matches). The engine reads the commit payload's schema
/// version and refuses one it does not write.
#[test]
fn logq_refuses_a_newer_schema_naming_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let newer = logstore::schema::SCHEMA_VERSION + 1;
    let data = with_schema(tmp.path(), newer);
    let out = logq_command(&data).arg("-c").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "logq read a schema {newer} directory: {stderr}"
    );
    assert!(
        stderr.contains(&newer.to_string())
            && stderr.contains(&logstore::schema::SCHEMA_VERSION.to_string()),
        "logq's message does not name both schema versions: {stderr}"
    );
}

/// A schema change decides what becomes of the directories older schemas
/// wrote: migrated or refused or kept, said in this file's tests, with a
/// fixture of the new schema beside this one (`make-data.sh` is the
/// recipe). Schema 7 keeps schema 6 directories (see the module
/// documentation); the next change of `SCHEMA_VERSION` fails here, so that
/// nobody ships one without deciding.
#[test]
fn the_schema_decision_is_made() {
    assert_eq!(
        (
            logstore::schema::OLDEST_SCHEMA,
            logstore::schema::SCHEMA_VERSION
        ),
        (FIXTURE_SCHEMA, 7),
        "the schema changed: decide whether older directories are migrated, \
         refused or kept, say so in tests/it/fixture.rs, and add a fixture of the new schema"
    );
}
