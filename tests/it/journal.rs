//! agentd reading a real systemd-journald's journal.
//!
//! Each test runs its own `systemd-journald` as a plain process in a private
//! mount namespace (`unshare --mount`): a tmpfs over `/run` there, with the
//! test's directories bound at `/run/systemd` (its sockets) and `/run/log`
//! (its journal files), so the machine's own journal is never touched.
//! Writers (`logger --journald`, `systemd-cat`) run in that namespace
//! through `nsenter`; the binary message is sent on the socket from here.
//! agentd reads the files with `journal-directory`. Needs root and
//! systemd's programs; skipped with the reason otherwise, unless
//! `LOGQ_REQUIRE_SYSTEMD=1` (CI).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use logq_tests::{skip_unless_required, wait_until, Agent, Collector};
use serde_json::Value;

const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// A systemd-journald of the test's own.
struct Journald {
    root: PathBuf,
    child: Child,
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (journald in a mount namespace needs it)".into());
    }
    for tool in [JOURNALD, "/usr/bin/journalctl", "/usr/bin/systemd-cat"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing (package systemd)"));
        }
    }
    for tool in ["/usr/bin/logger", "/usr/bin/unshare", "/usr/bin/nsenter"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing (package util-linux)"));
        }
    }
    if !Path::new("/etc/machine-id").exists() {
        return Some("/etc/machine-id is missing (journald needs it)".into());
    }
    None
}

impl Journald {
    /// Starts journald under `root`, or `None` (and says why) when this
    /// machine cannot run it.
    fn start(root: &Path) -> Option<Journald> {
        if let Some(why) = unavailable() {
            skip_unless_required("LOGQ_REQUIRE_SYSTEMD", &why);
            return None;
        }
        for d in ["sd/journal", "log"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd /run/log \
             && mount --bind {0}/sd /run/systemd && mount --bind {0}/log /run/log \
             && exec {JOURNALD}",
            root.display()
        );
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(root.join("journald.log")).unwrap())
            .spawn()
            .expect("run unshare");
        let j = Journald {
            root: root.to_owned(),
            child,
        };
        let up = wait_until(Duration::from_secs(10), || {
            j.root.join("sd/journal/socket").exists() && j.files().next().is_some()
        });
        assert!(
            up,
            "journald did not start: {}",
            fs::read_to_string(root.join("journald.log")).unwrap_or_default()
        );
        Some(j)
    }

    /// The directory agentd's `journal-directory` names.
    fn directory(&self) -> PathBuf {
        self.root.join("log/journal")
    }

    fn files(&self) -> impl Iterator<Item = PathBuf> {
        fs::read_dir(self.directory())
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|f| f.path())
            .filter(|p| p.extension().is_some_and(|e| e == "journal"))
    }

    /// Runs a shell script in journald's mount namespace, `stdin` on its
    /// standard input.
    fn sh(&self, script: &str, stdin: &[u8]) -> Output {
        let mut child = Command::new("nsenter")
            .args([
                "-t",
                &self.child.id().to_string(),
                "--mount",
                "sh",
                "-c",
                script,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nsenter");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// One entry with these fields, through `logger --journald`.
    fn logger(&self, fields: &str) {
        self.sh("logger --journald", fields.as_bytes());
    }

    /// Sends one entry in journald's native protocol on its socket; values
    /// are sent in the binary form (name, newline, u64 LE size, bytes).
    fn send_native(&self, fields: &[(&str, &[u8])]) {
        let mut datagram = Vec::new();
        for (name, value) in fields {
            datagram.extend_from_slice(name.as_bytes());
            datagram.push(b'\n');
            datagram.extend_from_slice(&(value.len() as u64).to_le_bytes());
            datagram.extend_from_slice(value);
            datagram.push(b'\n');
        }
        UnixDatagram::unbound()
            .unwrap()
            .send_to(&datagram, self.root.join("sd/journal/socket"))
            .expect("send to journald's socket");
    }

    /// The journal as journalctl prints it, one JSON object per entry.
    fn entries(&self) -> Vec<Value> {
        let out = Command::new("journalctl")
            .arg("--directory")
            .arg(self.directory())
            .args(["--output=json", "--all", "--no-pager"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// agentd shipping the test journal (and `files`) to `collector`.
fn agent(dir: &Path, collector: &Collector, journal: &Journald, files: &[&Path]) -> Agent {
    let dummy = dir.join("none.log");
    let files: Vec<&Path> = if files.is_empty() {
        vec![&dummy]
    } else {
        files.to_vec()
    };
    let agent = Agent::start(
        dir,
        collector.addr,
        &files,
        &format!(
            "journal = true\njournal-directory = \"{}\"\nlinger-ms = 20",
            journal.directory().display()
        ),
    );
    assert!(
        agent.wait_ready(Duration::from_secs(10)),
        "agentd not ready: {}",
        agent.log()
    );
    agent
}

/// `logq -o json QUERY…` as objects; panics when logq fails (exit status
/// 2), which would otherwise read as "nothing found".
fn json(collector: &Collector, query: &[&str]) -> Vec<Value> {
    let mut args = vec!["-o", "json"];
    args.extend(query);
    let out = collector.logq(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "logq {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("logq -o json prints JSON"))
        .collect()
}

/// Waits until `logq -o json QUERY` finds `n` records; returns them.
fn wait_json(collector: &Collector, query: &[&str], n: usize, agent: &Agent) -> Vec<Value> {
    let mut got = Vec::new();
    let found = wait_until(Duration::from_secs(30), || {
        got = json(collector, query);
        got.len() >= n
    });
    assert!(
        found,
        "{query:?}: {} of {n} records; agent log:\n{}",
        got.len(),
        agent.log()
    );
    got
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ABC.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Entries written with `logger --journald` and `systemd-cat`, and a binary
/// message sent on journald's socket, are searchable with their host,
/// program, pid, severity, facility and message bytes. A user would
/// otherwise find journal-only services (most of a Debian 12 system)
/// missing, or their lines without the fields to filter on.
#[test]
fn journal_entries_arrive_with_their_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(journal) = Journald::start(&tmp.path().join("journald")) else {
        return;
    };
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let agent = agent(&tmp.path().join("agent"), &collector, &journal, &[]);

    journal.logger(
        "SYSLOG_IDENTIFIER=jtest\nPRIORITY=3\nSYSLOG_FACILITY=4\nMESSAGE=Failed password for bob\n",
    );
    journal.sh(
        "echo 'cat says hello' | systemd-cat -t jcat -p warning",
        b"",
    );
    let binary: &[u8] = b"bin \x00\xff\x01 end\nsecond line";
    journal.send_native(&[("SYSLOG_IDENTIFIER", b"jbin"), ("MESSAGE", binary)]);

    let host = journal
        .entries()
        .iter()
        .find_map(|e| e["_HOSTNAME"].as_str().map(str::to_owned))
        .expect("journald stamps _HOSTNAME");
    let by_program = |p: &str| -> Value {
        wait_json(&collector, &["-t", p], 1, &agent)
            .into_iter()
            .next()
            .unwrap()
    };
    let logger = by_program("jtest");
    assert_eq!(logger["message"], "Failed password for bob", "{logger}");
    assert_eq!(logger["severity"], "err");
    assert_eq!(logger["facility"], "auth");
    assert_eq!(logger["host"], host.as_str());
    assert!(logger["pid"].as_u64().is_some(), "{logger}");
    let path = format!("journal:{}", journal.directory().display());
    assert_eq!(logger["path"], path.as_str());
    let raw = logger["line"].as_str().unwrap();
    assert!(
        raw.starts_with("<35>1 ") && raw.ends_with(" - - Failed password for bob"),
        "an RFC 5424 line: {raw}"
    );

    let cat = by_program("jcat");
    assert_eq!(cat["message"], "cat says hello", "{cat}");
    assert_eq!(cat["severity"], "warning");
    assert_eq!(cat["facility"], "user");

    let bin = by_program("jbin");
    let line = decode_base64(bin["line_base64"].as_str().expect("binary line: base64"));
    assert!(
        line.ends_with(binary),
        "the message's bytes changed: {:?}",
        String::from_utf8_lossy(&line)
    );
    let flags = bin["flags"].to_string();
    assert!(flags.contains("invalid_utf8"), "{bin}");
}

/// `_SYSTEMD_UNIT`, which journald derives from the sender's cgroup, is
/// searchable as `unit:NAME` and with `-u NAME`. A user would otherwise have
/// no way to ask for one service's lines as `journalctl -u` does.
#[test]
fn systemd_unit_is_searchable() {
    let cgroup = Path::new("/sys/fs/cgroup/unified");
    let cgroup = if cgroup.join("cgroup.procs").exists() {
        cgroup.to_owned()
    } else {
        PathBuf::from("/sys/fs/cgroup")
    };
    let tmp = tempfile::tempdir().unwrap();
    let Some(journal) = Journald::start(&tmp.path().join("journald")) else {
        return;
    };
    // A cgroup named like a unit, unique to this run.
    let unit = format!("logq-test-{}.service", std::process::id());
    let group = cgroup.join("system.slice").join(&unit);
    if let Err(e) = fs::create_dir_all(&group) {
        skip_unless_required(
            "LOGQ_REQUIRE_SYSTEMD",
            &format!("cannot create the cgroup {}: {e}", group.display()),
        );
        return;
    }
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = wait_until(Duration::from_secs(5), || fs::remove_dir(&self.0).is_ok());
        }
    }
    let _remove = Remove(group.clone());
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let agent = agent(&tmp.path().join("agent"), &collector, &journal, &[]);
    // systemd-cat's stream keeps the sender's cgroup (a datagram from a
    // process that already exited would have none).
    journal.sh(
        &format!(
            "echo $$ > {}/cgroup.procs && (echo from the unit; sleep 0.2) | systemd-cat -t unitapp",
            group.display()
        ),
        b"",
    );
    journal.logger("SYSLOG_IDENTIFIER=unitapp\nMESSAGE=not from the unit\n");
    wait_json(&collector, &["-t", "unitapp"], 2, &agent);
    let query = format!("unit:{unit}");
    for args in [vec![query.as_str()], vec!["-u", unit.as_str()]] {
        let got = json(&collector, &args);
        assert_eq!(got.len(), 1, "{args:?}: {got:?}");
        assert_eq!(got[0]["message"], "from the unit");
        assert_eq!(got[0]["unit"], unit.as_str());
    }
}

/// The pids of a process's children (all its threads').
fn children(pid: u32) -> Vec<i32> {
    fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// `COUNT` numbered entries through systemd-cat, one per line.
fn write_numbered(journal: &Journald, tag: &str, from: u64, to: u64) {
    let text: String = (from..to).map(|i| format!("{tag} number {i}\n")).collect();
    journal.sh(&format!("systemd-cat -t {tag}"), text.as_bytes());
}

/// How often each number of `tag` is searchable.
fn numbers(collector: &Collector, tag: &str) -> HashMap<u64, usize> {
    let mut seen = HashMap::new();
    for r in json(collector, &["-t", tag]) {
        let n = r["message"]
            .as_str()
            .and_then(|m| m.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("a numbered message");
        *seen.entry(n).or_insert(0) += 1;
    }
    seen
}

fn assert_each_once(seen: &HashMap<u64, usize>, range: std::ops::Range<u64>, what: &str) {
    let missing: Vec<u64> = range.clone().filter(|i| !seen.contains_key(i)).collect();
    let doubled: Vec<(&u64, &usize)> = seen.iter().filter(|(_, &c)| c > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{what}: {} missing (first {:?}), {} doubled (e.g. {:?})",
        missing.len(),
        missing.first(),
        doubled.len(),
        doubled.first()
    );
    assert!(seen.keys().all(|k| range.contains(k)));
}

/// agentd is killed with SIGKILL while thousands of numbered entries are
/// being shipped, and started again: every number is searchable exactly
/// once. A user would otherwise see journal lines lost or doubled after a
/// crash of the agent.
#[test]
fn sigkill_of_agentd_mid_journal_loses_and_doubles_nothing() {
    const TOTAL: u64 = 6000;
    let tmp = tempfile::tempdir().unwrap();
    let Some(journal) = Journald::start(&tmp.path().join("journald")) else {
        return;
    };
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let mut agent = agent(&tmp.path().join("agent"), &collector, &journal, &[]);
    // Written in chunks while agentd is killed and started again.
    let agent = std::thread::scope(|s| {
        s.spawn(|| {
            for from in (0..TOTAL).step_by(200) {
                write_numbered(&journal, "seq", from, from + 200);
            }
        });
        let mid = wait_until(Duration::from_secs(30), || {
            collector.count(&["-t", "seq"]) > 0
        });
        assert!(mid, "nothing arrived: {}", agent.log());
        let journalctl = children(agent.child.id());
        agent.kill9();
        // Outside systemd nothing kills agentd's journalctl with it (it
        // would end at its next write): end it here, by its pid.
        for pid in journalctl {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        agent.restart()
    });
    let all = wait_until(Duration::from_secs(60), || {
        numbers(&collector, "seq").len() as u64 >= TOTAL
    });
    assert!(
        all,
        "only {} of {TOTAL}; agent log:\n{}",
        numbers(&collector, "seq").len(),
        agent.log()
    );
    assert_each_once(&numbers(&collector, "seq"), 0..TOTAL, "after SIGKILL");
}

/// The checkpoint names an entry whose journal file was vacuumed while
/// agentd was stopped: agentd says so in its log and goes on from the
/// oldest entry after it, instead of stopping or starting over. A user
/// would otherwise get no journal lines at all after a vacuum, or every
/// entry again.
#[test]
fn vacuumed_checkpoint_cursor_is_logged_and_reading_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(journal) = Journald::start(&tmp.path().join("journald")) else {
        return;
    };
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let mut agent = agent(&tmp.path().join("agent"), &collector, &journal, &[]);
    write_numbered(&journal, "vac", 0, 100);
    assert!(wait_until(Duration::from_secs(30), || numbers(
        &collector, "vac"
    )
    .len()
        == 100));
    assert!(agent.terminate(Duration::from_secs(10)).is_some());
    let state = fs::read_to_string(tmp.path().join("agent/state/checkpoints.json")).unwrap();
    assert!(state.contains("\"cursor\""), "{state}");
    // Rotate (the entries so far go to an archived file), then delete the
    // archived files as `journalctl --vacuum-files` does.
    journal.sh("journalctl --rotate", b"");
    let archived: Vec<PathBuf> = journal
        .files()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains('@'))
        .collect();
    assert!(!archived.is_empty(), "no archived journal file");
    for f in archived {
        fs::remove_file(f).unwrap();
    }
    write_numbered(&journal, "vac", 100, 200);
    let agent = agent.restart();
    assert!(
        wait_until(Duration::from_secs(30), || numbers(&collector, "vac").len()
            == 200),
        "{:?} numbers; agent log:\n{}",
        numbers(&collector, "vac").len(),
        agent.log()
    );
    assert_each_once(&numbers(&collector, "vac"), 0..200, "after the vacuum");
    let log = agent.log();
    assert!(
        log.contains("no longer exists; resuming at the oldest entry after it"),
        "{log}"
    );
}

/// The same event reaches the collector from the journal and from the file
/// rsyslog writes of it (`RSYSLOG_FileFormat`, Debian 12's default; the
/// line is written here as rsyslog would, from the journal entry): it is
/// stored once. Lines that are repeated in one source are all kept. A user
/// would otherwise see every system log line twice once the journal is
/// read beside /var/log/syslog.
#[test]
fn an_event_in_the_journal_and_in_rsyslogs_file_is_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(journal) = Journald::start(&tmp.path().join("journald")) else {
        return;
    };
    let collector = Collector::start(&tmp.path().join("collector"), "");
    let syslog = tmp.path().join("syslog");
    fs::write(&syslog, "").unwrap();
    let agent = agent(&tmp.path().join("agent"), &collector, &journal, &[&syslog]);
    journal.logger("SYSLOG_IDENTIFIER=dupapp\nMESSAGE=Accepted publickey for alice\n");
    journal.logger("SYSLOG_IDENTIFIER=dupapp\nMESSAGE=only in the journal\n");
    let entry = wait_until(Duration::from_secs(10), || {
        journal
            .entries()
            .iter()
            .any(|e| e["MESSAGE"] == "only in the journal")
    });
    assert!(entry);
    let entries = journal.entries();
    let accepted = entries
        .iter()
        .find(|e| e["MESSAGE"] == "Accepted publickey for alice")
        .unwrap();
    // rsyslog's file line: the entry's time in RFC 3339 with µs and zone,
    // host, tag[pid]: message.
    let us: i64 = accepted["__REALTIME_TIMESTAMP"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let time = chrono_like_rfc3339(us);
    let host = accepted["_HOSTNAME"].as_str().unwrap();
    let pid = accepted["_PID"].as_str().unwrap();
    let line = format!("{time} {host} dupapp[{pid}]: Accepted publickey for alice\n");
    // The journal's copy is stored first.
    wait_json(&collector, &["-t", "dupapp", "Accepted"], 1, &agent);
    // The same line twice in the file: a program that said it twice. A
    // last line marks the end: lines of a file arrive in order.
    let marker = format!("{time} {host} dupapp[{pid}]: end of the file\n");
    let mut f = fs::OpenOptions::new().append(true).open(&syslog).unwrap();
    f.write_all(format!("{line}{line}{marker}").as_bytes())
        .unwrap();
    drop(f);
    wait_json(&collector, &["-t", "dupapp", "end"], 1, &agent);
    let got = json(&collector, &["-t", "dupapp", "Accepted"]);
    assert_eq!(
        got.len(),
        2,
        "the journal's copy must cancel one file copy, not both: {got:?}"
    );
    let paths: Vec<&str> = got.iter().filter_map(|r| r["path"].as_str()).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("journal:"))
            && paths.iter().any(|p| !p.starts_with("journal:")),
        "the first copy (the journal's) is kept, and one of the file's: {paths:?}"
    );
}

/// `2026-11-25T09:00:00.123456+00:00` for µs since the epoch.
fn chrono_like_rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
