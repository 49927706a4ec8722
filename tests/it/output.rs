//! What logq prints, and how it behaves as a command: the short, raw and
//! JSON formats as snapshots (the expected text is here), `--help`, error
//! messages and exit codes, a pipe closed early, colour, `-n`, `-r`,
//! `--count --by`, context lines, and `--follow`.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use logq_tests::{wait_until, Agent, Collector, Shared};

/// One file of each kind of line: syslog with a stamp and microseconds,
/// with a `<PRI>`, with an ESC sequence, with invalid UTF-8 and a NUL, a
/// CRON line, and a line with no header at all.
const MAIN: [&[u8]; 6] = [
    b"2026-11-24T22:20:01.123456+00:00 web1 sshd[812]: Failed password for root from 203.0.113.9 port 52144 ssh2",
    b"<35>2026-11-24T22:20:02.250000+00:00 web2 sshd[813]: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 52145 ssh2 [preauth]",
    b"2026-11-24T22:20:03.500000+00:00 web1 app[7]: colour \x1b[31mred\x1b[0m alert",
    b"2026-11-24T22:20:04+00:00 db1 app[8]: bad bytes \xff\xfe and nul \x00 here",
    b"2026-11-24T22:20:05+00:00 web1 CRON[900]: (root) CMD (run-parts /etc/cron.hourly)",
    b"a line with no header at all",
];

/// Lines for context: `ctxmatch` in three of them.
const CTX: [&str; 10] = [
    "2026-11-24T22:21:00+00:00 web9 app[1]: ctx 0",
    "2026-11-24T22:21:01+00:00 web9 app[1]: ctx 1",
    "2026-11-24T22:21:02+00:00 web9 app[1]: ctx 2 ctxmatch",
    "2026-11-24T22:21:03+00:00 web9 app[1]: ctx 3 ctxmatch",
    "2026-11-24T22:21:04+00:00 web9 app[1]: ctx 4",
    "2026-11-24T22:21:05+00:00 web9 app[1]: ctx 5",
    "2026-11-24T22:21:06+00:00 web9 app[1]: ctx 6",
    "2026-11-24T22:21:07+00:00 web9 app[1]: ctx 7 ctxmatch",
    "2026-11-24T22:21:08+00:00 web9 app[1]: ctx 8",
    "2026-11-24T22:21:09+00:00 web9 app[1]: ctx 9",
];

/// Another file, its lines in time between those of CTX: never their
/// context.
const CTX_OTHER: [&str; 2] = [
    "2026-11-24T22:21:02.500+00:00 web8 app[2]: ctx other file",
    "2026-11-24T22:21:06.500+00:00 web8 app[2]: ctx other file",
];

/// Filler lines, for output larger than a pipe holds.
const BULK: usize = 20_000;

fn bulk_line(i: usize) -> String {
    let ms = i * 100;
    format!(
        "2026-11-24T23:{:02}:{:02}.{:03}+00:00 bulk1 filler[1]: filler {i:05} lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod",
        ms / 60_000,
        ms / 1000 % 60,
        ms % 1000
    )
}

struct Fixture {
    collector: Collector,
    _agent: Agent,
    main: PathBuf,
    tmp: tempfile::TempDir,
}

static FIXTURE: Shared<Fixture> = Shared::new();

fn fixture() -> Arc<Fixture> {
    FIXTURE.get(|| {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        fs::create_dir_all(&logs).unwrap();
        let main = logs.join("main.log");
        let ctx = logs.join("ctx.log");
        let ctx_other = logs.join("ctx-other.log");
        let bulk = logs.join("bulk.log");
        let mut bytes = MAIN.join(&b'\n');
        bytes.push(b'\n');
        fs::write(&main, bytes).unwrap();
        fs::write(&ctx, CTX.map(|l| format!("{l}\n")).concat()).unwrap();
        fs::write(&ctx_other, CTX_OTHER.map(|l| format!("{l}\n")).concat()).unwrap();
        let bulk_text: String = (0..BULK).map(|i| bulk_line(i) + "\n").collect();
        fs::write(&bulk, bulk_text).unwrap();
        let collector = Collector::start(&tmp.path().join("collector"), "");
        let agent = Agent::start(
            &tmp.path().join("agent"),
            collector.addr,
            &[&main, &ctx, &ctx_other, &bulk],
            "",
        );
        let n = (MAIN.len() + CTX.len() + CTX_OTHER.len() + BULK) as u64;
        assert!(
            collector.wait_for_lines(n, Duration::from_secs(60)),
            "{:?} of {n} lines became searchable; agent log:\n{}",
            collector.searchable_lines(),
            agent.log()
        );
        Fixture {
            collector,
            _agent: agent,
            main,
            tmp,
        }
    })
}

fn logq(fx: &Fixture, args: &[&str]) -> Output {
    fx.collector.logq_command().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs logq, requires exit 0 and nothing on stderr, returns stdout.
fn stdout(fx: &Fixture, args: &[&str]) -> Vec<u8> {
    let out = logq(fx, args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "logq {args:?}: {:?}, stderr: {}",
        out.status,
        text(&out.stderr)
    );
    out.stdout
}

/// Lines between 22:20 and 22:21: the syslog lines of MAIN.
const MINUTE: [&str; 4] = ["--since", "2026-11-24 22:20", "--until", "2026-11-24 22:21"];

/// The short format in UTC: `Mon DD HH:MM:SS host program[pid]: message`,
/// ESC, invalid bytes and NUL escaped; a line without a header as `TIME
/// HOST LINE` at its receive time. A change here changes what every
/// operator reads.
#[test]
fn short_output_snapshot() {
    let fx = fixture();
    let got = stdout(&fx, &MINUTE);
    let expected = "\
Nov 24 22:20:01 web1 sshd[812]: Failed password for root from 203.0.113.9 port 52144 ssh2
Nov 24 22:20:02 web2 sshd[813]: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 52145 ssh2 [preauth]
Nov 24 22:20:03 web1 app[7]: colour \\e[31mred\\e[0m alert
Nov 24 22:20:04 db1 app[8]: bad bytes \\xff\\xfe and nul \\x00 here
Nov 24 22:20:05 web1 CRON[900]: (root) CMD (run-parts /etc/cron.hourly)
";
    assert_eq!(text(&got), expected);
    // Nothing that drives a terminal gets through.
    assert!(
        !got.iter().any(|&b| b == 0x1b || b == 0 || b == 0xff),
        "raw control bytes in short output: {got:?}"
    );
    let got = text(&stdout(&fx, &["header"]));
    let re = regex::Regex::new(
        r"^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} testhost a line with no header at all\n$",
    )
    .unwrap();
    assert!(re.is_match(&got), "unparsed line in short output: {got:?}");
}

/// `-o raw` into a pipe is the line exactly as received, bytes that are
/// not UTF-8, ESC and NUL included: what `logq -o raw ... > file` must
/// give back.
#[test]
fn raw_output_snapshot() {
    let fx = fixture();
    let mut args = vec!["-o", "raw"];
    args.extend(MINUTE);
    let got = stdout(&fx, &args);
    let mut expected = MAIN[..5].join(&b'\n');
    expected.push(b'\n');
    assert_eq!(got, expected, "got {:?}", text(&got));
    let got = stdout(&fx, &["-o", "raw", "header"]);
    assert_eq!(got, b"a line with no header at all\n");
}

/// `-o json`: one object per line, the keys in a fixed order, `line_base64`
/// for a line that is not UTF-8, flags by name, a line without a stamp at
/// its receive time. Scripts (`| jq`) depend on every key.
#[test]
fn json_output_snapshot() {
    let fx = fixture();
    let mut args = vec!["-o", "json"];
    args.extend(MINUTE);
    let got = text(&stdout(&fx, &args));
    let path = fx.main.display().to_string();
    let mut offsets = Vec::new();
    let mut at = 0;
    for l in MAIN {
        offsets.push(at);
        at += l.len() + 1;
    }
    let o = |i: usize| offsets[i];
    let expected = format!(
        r#"{{"time":"2026-11-24T22:20:01.123Z","receive_time":"R","host":"web1","program":"sshd","pid":812,"unit":null,"facility":null,"severity":null,"message":"Failed password for root from 203.0.113.9 port 52144 ssh2","line":"2026-11-24T22:20:01.123456+00:00 web1 sshd[812]: Failed password for root from 203.0.113.9 port 52144 ssh2","agent":"agent-agent","path":"{path}","stream":S,"offset":{},"flags":[],"anomaly":false,"anomaly_reason":null,"match":true}}
{{"time":"2026-11-24T22:20:02.250Z","receive_time":"R","host":"web2","program":"sshd","pid":813,"unit":null,"facility":"auth","severity":"err","message":"error: maximum authentication attempts exceeded for root from 203.0.113.9 port 52145 ssh2 [preauth]","line":"<35>2026-11-24T22:20:02.250000+00:00 web2 sshd[813]: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 52145 ssh2 [preauth]","agent":"agent-agent","path":"{path}","stream":S,"offset":{},"flags":[],"anomaly":false,"anomaly_reason":null,"match":true}}
{{"time":"2026-11-24T22:20:03.500Z","receive_time":"R","host":"web1","program":"app","pid":7,"unit":null,"facility":null,"severity":null,"message":"colour \u001b[31mred\u001b[0m alert","line":"2026-11-24T22:20:03.500000+00:00 web1 app[7]: colour \u001b[31mred\u001b[0m alert","agent":"agent-agent","path":"{path}","stream":S,"offset":{},"flags":["control"],"anomaly":false,"anomaly_reason":null,"match":true}}
{{"time":"2026-11-24T22:20:04.000Z","receive_time":"R","host":"db1","program":"app","pid":8,"unit":null,"facility":null,"severity":null,"message":"bad bytes �� and nul \u0000 here","line":"2026-11-24T22:20:04+00:00 db1 app[8]: bad bytes �� and nul \u0000 here","line_base64":"MjAyNi0xMS0yNFQyMjoyMDowNCswMDowMCBkYjEgYXBwWzhdOiBiYWQgYnl0ZXMg//4gYW5kIG51bCAAIGhlcmU=","agent":"agent-agent","path":"{path}","stream":S,"offset":{},"flags":["invalid_utf8","control"],"anomaly":false,"anomaly_reason":null,"match":true}}
{{"time":"2026-11-24T22:20:05.000Z","receive_time":"R","host":"web1","program":"CRON","pid":900,"unit":null,"facility":null,"severity":null,"message":"(root) CMD (run-parts /etc/cron.hourly)","line":"2026-11-24T22:20:05+00:00 web1 CRON[900]: (root) CMD (run-parts /etc/cron.hourly)","agent":"agent-agent","path":"{path}","stream":S,"offset":{},"flags":[],"anomaly":false,"anomaly_reason":null,"match":true}}
"#,
        o(0),
        o(1),
        o(2),
        o(3),
        o(4),
    );
    // The receive time and the stream id are the run's own.
    let receive = regex::Regex::new(r#""receive_time":"[^"]*""#).unwrap();
    let stream = regex::Regex::new(r#""stream":[0-9]+,"#).unwrap();
    let streams: std::collections::HashSet<&str> =
        stream.find_iter(&got).map(|m| m.as_str()).collect();
    assert_eq!(streams.len(), 1, "one file, one stream: {got}");
    let normal = receive.replace_all(&got, r#""receive_time":"R""#);
    let normal = stream.replace_all(&normal, r#""stream":S,"#);
    assert_eq!(normal, expected);

    let got = text(&stdout(&fx, &["-o", "json", "header"]));
    let v: serde_json::Value = serde_json::from_str(got.trim_end()).expect("one JSON object");
    assert_eq!(v["time"], v["receive_time"], "{got}");
    assert_eq!(v["host"], "testhost");
    assert_eq!(v["program"], serde_json::Value::Null);
    assert_eq!(v["message"], "a line with no header at all");
    assert_eq!(v["flags"], serde_json::json!(["unparsed"]));
    assert_eq!(v["offset"], o(5));
}

/// `--help` shows the examples, every option and the exit statuses: it is
/// the manual most users read.
#[test]
fn help_lists_examples_and_every_option() {
    let out = Command::new(logq_tests::bin("logq"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    let mut missing = Vec::new();
    for needle in [
        "Examples:",
        "Exit status",
        "-e, --regexp",
        "-s, --case-sensitive",
        "-H, --host",
        "-t, --program",
        "-p, --severity",
        "--since",
        "--until",
        "--anomalies",
        "-r, --reverse",
        "-n, --lines",
        "-c, --count",
        "--by",
        "-A, --after-context",
        "-B, --before-context",
        "-C, --context",
        "-o, --output",
        "--color",
        "-f, --follow",
        "--data-dir",
        "host:",
        "OR",
        "NOT",
    ] {
        if !help.contains(needle) {
            missing.push(needle);
        }
    }
    assert!(missing.is_empty(), "--help lacks {missing:?}:\n{help}");
}

/// Exit 0 on a match, 1 on none, 2 on an error, as grep: scripts branch on
/// it.
#[test]
fn exit_codes_are_0_match_1_none_2_error() {
    let fx = fixture();
    assert_eq!(logq(&fx, &["root"]).status.code(), Some(0));
    let none = logq(&fx, &["nosuchwordzz"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(none.stdout.is_empty() && none.stderr.is_empty());
    let count = logq(&fx, &["-c", "nosuchwordzz"]);
    assert_eq!(count.status.code(), Some(1));
    assert_eq!(text(&count.stdout), "0\n");
    assert_eq!(logq(&fx, &["sshd ) root"]).status.code(), Some(2));
}

/// A malformed query says what is wrong and points at it with a caret
/// under the offending character; exit 2, nothing on stdout.
#[test]
fn malformed_query_points_at_the_error() {
    let fx = fixture();
    // The stray `)`; the unclosed `(` or the end where `)` is missing.
    for (query, bad) in [("sshd ) root", &[5][..]), ("(failed OR root", &[0, 15])] {
        let out = logq(&fx, &[query]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{query:?}: {err}");
        assert!(out.stdout.is_empty());
        assert!(err.starts_with("logq: error:"), "{query:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        let echo = lines
            .iter()
            .position(|l| l.contains(query))
            .unwrap_or_else(|| panic!("the query is not shown: {err}"));
        let start = lines[echo].find(query).unwrap();
        let caret = lines.get(echo + 1).copied().unwrap_or("");
        assert!(
            caret
                .find('^')
                .is_some_and(|c| bad.iter().any(|b| start + b == c)),
            "{query:?}: no caret under column {bad:?} of the query:\n{err}"
        );
    }
}

/// A bad `--since` and a data directory that does not exist are errors
/// that name what was wrong, as `logq: error: ...`, exit 2.
#[test]
fn bad_time_and_missing_data_dir_are_named() {
    let fx = fixture();
    let out = logq(&fx, &["--since", "last tuesday", "root"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("logq: error:") && err.contains("last tuesday"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let nowhere = fx.tmp.path().join("no-such-dir");
    let out = logq_tests::logq_command(&nowhere)
        .arg("root")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("logq: error:") && err.contains(&nowhere.display().to_string()),
        "{err}"
    );
}

/// `logq ... | head -1`: the pipe closes after the first read; logq must
/// stop quietly with exit 0, not print "Broken pipe" or die of SIGPIPE.
#[test]
fn closed_pipe_exits_0_quietly() {
    let fx = fixture();
    let mut child = fx
        .collector
        .logq_command()
        .args(["-o", "raw", "filler"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    let mut stdout = child.stdout.take().unwrap();
    let n = stdout.read(&mut first).unwrap();
    assert!(n > 0, "logq printed nothing");
    // 20,000 lines are 2.5 MB: far more than a pipe holds, so logq is
    // still writing when the pipe closes.
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{:?}, stderr: {}",
        out.status,
        text(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
}

/// Runs logq with stdout on a pseudo-terminal; returns what it printed.
fn on_terminal(fx: &Fixture, args: &[&str], no_color: bool) -> Vec<u8> {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut cmd = fx.collector.logq_command();
    cmd.args(args)
        .env("TERM", "xterm-256color")
        .stdout(Stdio::from(pty.slave))
        .stderr(Stdio::piped());
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let child = cmd.spawn().unwrap();
    // Our copy of the terminal's slave side goes with the Command, so the
    // master reads end (EIO) when logq exits.
    drop(cmd);
    let mut master = fs::File::from(pty.master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let status = child.wait_with_output().unwrap();
    assert!(status.status.success(), "logq {args:?}: {status:?}");
    out
}

/// Colour on a terminal unless NO_COLOR is set, never into a pipe unless
/// `--color always`, never with `--color never`: escape codes in a file or
/// a `grep` pipeline are garbage, and NO_COLOR users asked for none.
#[test]
fn colour_on_terminals_only_and_never_with_no_color() {
    let fx = fixture();
    let has_esc = |b: &[u8]| b.contains(&0x1b);
    assert!(
        has_esc(&stdout(&fx, &["--color", "always", "password"])),
        "--color always into a pipe"
    );
    let mut always = fx.collector.logq_command();
    always
        .args(["--color", "always", "password"])
        .env("NO_COLOR", "1");
    assert!(
        has_esc(&always.output().unwrap().stdout),
        "--color always beats NO_COLOR"
    );
    assert!(!has_esc(&stdout(&fx, &["--color", "never", "password"])));
    assert!(!has_esc(&stdout(&fx, &["password"])), "auto into a pipe");
    assert!(
        has_esc(&on_terminal(&fx, &["password"], false)),
        "auto on a terminal"
    );
    let quiet = on_terminal(&fx, &["password"], true);
    assert!(
        !has_esc(&quiet) && text(&quiet).contains("Failed password"),
        "NO_COLOR on a terminal: {:?}",
        text(&quiet)
    );
}

fn lines_of(out: &[u8]) -> Vec<String> {
    text(out).lines().map(str::to_owned).collect()
}

/// `-n 3` is the newest three matches, printed oldest first, and `-r`
/// prints newest first: `logq -n 20 sshd` must show the latest events in
/// reading order.
#[test]
fn newest_n_and_reverse() {
    let fx = fixture();
    assert_eq!(
        lines_of(&stdout(&fx, &["-o", "raw", "-n", "3", "ctx"])),
        [CTX[7], CTX[8], CTX[9]]
    );
    let main = |i: usize| text(MAIN[i]);
    assert_eq!(
        lines_of(&stdout(&fx, &["-o", "raw", "-r", "root"])),
        [main(4), main(1), main(0)]
    );
    assert_eq!(
        lines_of(&stdout(&fx, &["-o", "raw", "-n", "2", "root"])),
        [main(1), main(4)]
    );
}

/// `-c` prints one number; `-c --by host` a `VALUE<TAB>N` line per host,
/// most first, ties by name: the "which host is noisy" question.
#[test]
fn count_and_count_by_host() {
    let fx = fixture();
    assert_eq!(text(&stdout(&fx, &["-c", "root"])), "3\n");
    assert_eq!(
        text(&stdout(&fx, &["-c", "--by", "host", "root"])),
        "web1\t2\nweb2\t1\n"
    );
    assert_eq!(
        text(&stdout(&fx, &["-c", "--by", "host"])),
        format!("bulk1\t{BULK}\nweb9\t10\nweb1\t3\nweb8\t2\ndb1\t1\ntesthost\t1\nweb2\t1\n")
    );
}

/// `-C 1`: a line before and after each match from the same file (of the
/// same agent), groups that touch merged, `--` between the others, as grep:
/// the lines around an error explain it, and lines of another file that
/// happen to be near in time do not.
#[test]
fn context_lines_with_separators() {
    let fx = fixture();
    let got = lines_of(&stdout(&fx, &["-o", "raw", "-C", "1", "ctxmatch"]));
    let expected = [CTX[1], CTX[2], CTX[3], CTX[4], "--", CTX[6], CTX[7], CTX[8]];
    assert_eq!(got, expected);
}

/// `logq -f QUERY` prints each new matching line once, as it is indexed,
/// and nothing else: a `tail -f` that repeats or drops lines, or lets
/// others through, misleads whoever watches an incident.
#[test]
fn follow_prints_new_matches_once() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let path = logs.join("live.log");
    fs::write(
        &path,
        "2026-11-24T22:00:00+00:00 web1 app[1]: existing line\n",
    )
    .unwrap();
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&path], "");
    assert!(
        collector.wait_for_lines(1, Duration::from_secs(30)),
        "agent log:\n{}",
        agent.log()
    );
    let mut child = collector
        .logq_command()
        .args(["-f", "-o", "raw", "followword"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // logq has the index open once it maps its files: lines written after
    // that are new to it. (If it never shows, carry on: a logq that reads
    // the index otherwise must still print what arrives later.)
    let index = collector.data_dir.join("index").display().to_string();
    let pid = child.id();
    wait_until(Duration::from_secs(5), || {
        fs::read_to_string(format!("/proc/{pid}/maps")).is_ok_and(|m| m.contains(&index))
    });
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    let line = |s: &str| format!("2026-11-24T22:00:01+00:00 web1 app[1]: {s}");
    let mut received = Vec::new();
    let mut expect = |file: &mut fs::File, write: &[String], wanted: String| {
        for l in write {
            writeln!(file, "{l}").unwrap();
        }
        file.flush().unwrap();
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(got) => received.push(got),
            Err(_) => panic!("logq -f did not print {wanted:?} within 30 s; got {received:?}"),
        }
    };
    expect(&mut file, &[line("followword one")], line("followword one"));
    expect(
        &mut file,
        &[line("not this one"), line("followword two")],
        line("followword two"),
    );
    expect(
        &mut file,
        &[line("followword three")],
        line("followword three"),
    );
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    // Anything else it printed before being killed.
    received.extend(rx.try_iter());
    assert_eq!(
        received,
        [
            line("followword one"),
            line("followword two"),
            line("followword three")
        ]
    );
}
