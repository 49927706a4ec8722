//! The Debian packages in a booted Debian 12, used as an operator would:
//! `apt install ./*.deb`, `systemctl`, `logger`, `logq`, `man`, `apt purge`.
//!
//! Needs root, systemd-nspawn, debootstrap, cargo-deb and lintian; `.ci/run`
//! installs them and sets `LOGQ_REQUIRE_DEBIAN=1`, which turns a missing
//! prerequisite into a failure. Elsewhere the test says why it skipped.
//! The root filesystem is cached in `/var/cache/logq-tests` (or
//! `LOGQ_ROOTFS_CACHE`) between runs.
//!
//! One test, in steps, because booting is the expensive part; each step's
//! failure message says what an operator would have seen.

// Test code: a panic is a failed test, so unwrap is fine here (the
// workspace denies it in product code).
#![allow(clippy::unwrap_used)]

mod container;
mod host;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use container::{cached_rootfs, tail, Container};
use host::{build_debs, file_name, lintian, missing_prerequisite};

const HOST: &str = "logq-e2e";
const FAILED: &str = "Failed password for root from 203.0.113.9 port 22 ssh2";

#[test]
fn packages_install_run_and_purge_in_a_booted_debian() {
    if let Some(why) = missing_prerequisite() {
        logq_tests::skip_unless_required("LOGQ_REQUIRE_DEBIAN", &format!("debian: {why}"));
        return;
    }
    let work = tempfile::Builder::new()
        .prefix("logq-debian-")
        .tempdir()
        .expect("a temporary directory");
    let debs = build_debs(work.path());
    lintian(&debs);
    let rootfs = cached_rootfs().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let c = Container::boot(&rootfs, work.path(), HOST).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("debian: booted in {:.1} s", started.elapsed().as_secs_f64());

    install(&c, &debs);
    operator_setup(&c);
    search_finds_the_logged_line(&c);
    status_shows_live_figures(&c);
    reload_rereads_the_config(&c);
    bad_config_fails_once_and_says_why(&c);
    stop_is_clean_and_the_socket_starts_it_again(&c);
    watchdog_restarts_a_hung_daemon(&c);
    units_verify_and_are_hardened(&c);
    man_pages_are_installed(&c);
    remove_keeps_data_and_purge_deletes_it(&c);
}

/// `apt install ./pkg.deb`: dependencies resolved, users made, units
/// enabled and started, as Debian packages do.
fn install(c: &Container, debs: &[PathBuf]) {
    std::fs::create_dir_all(c.path("/root/debs")).expect("mkdir in the rootfs");
    let mut args = String::new();
    for deb in debs {
        std::fs::copy(deb, c.path(&format!("/root/debs/{}", file_name(deb))))
            .expect("copy a .deb into the rootfs");
        args += &format!(" ./{}", file_name(deb));
    }
    // The whole scenario runs with a 2 s watchdog instead of the shipped
    // 30 s, so that a daemon that forgets to ping while idle, starting,
    // reloading or busy is caught (NRestarts must stay 0 until the watchdog
    // step) and the watchdog step is quick.
    for unit in ["collectord", "agentd"] {
        let dir = c.path(&format!("/etc/systemd/system/{unit}.service.d"));
        std::fs::create_dir_all(&dir).expect("mkdir drop-in");
        std::fs::write(
            dir.join("50-test-watchdog.conf"),
            "[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\nLimitCORE=0\n",
        )
        .expect("write drop-in");
    }
    let started = Instant::now();
    c.ok(&format!("cd /root/debs && apt-get install -y -q{args}"));
    eprintln!(
        "debian: apt-get install took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for user in ["collectord", "agentd"] {
        c.ok(&format!("getent passwd {user}"));
    }
    for unit in ["collectord.socket", "collectord.service", "agentd.service"] {
        assert_eq!(
            c.unit(unit, "UnitFileState"),
            "enabled",
            "{unit} is not enabled on install"
        );
    }
    assert_eq!(
        c.unit("collectord.socket", "ActiveState"),
        "active",
        "collectord.socket is not listening after install"
    );
}

/// As an operator would: enable and start the collector, point the agent at
/// it in its conffile, enable and start the agent. An operator account in
/// `adm` runs logq.
fn operator_setup(c: &Container) {
    c.ok("systemctl enable --now collectord.socket collectord.service");
    c.ok("printf '\\n# The collector runs on this machine.\\ncollector = \"127.0.0.1:5170\"\\n' >> /etc/agentd/agentd.toml");
    c.ok("agentd --check-config");
    c.ok("systemctl enable agentd && systemctl restart agentd");
    c.ok("useradd --create-home --groups adm alice");
    for unit in ["collectord", "agentd"] {
        assert_eq!(c.unit(unit, "ActiveState"), "active", "{unit} not active");
    }
}

/// `logq` run by the operator, inside the container.
fn logq(c: &Container, args: &str) -> std::process::Output {
    c.sh(&format!("runuser -u alice -- logq {args}"))
}

/// Polls `logq ARGS` until it prints a line containing `needle`; returns
/// how long that took, or fails after `timeout` with what logq said.
fn wait_for_search(c: &Container, args: &str, needle: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let out = logq(c, args);
        if String::from_utf8_lossy(&out.stdout).contains(needle) {
            return started.elapsed();
        }
        if started.elapsed() > timeout {
            panic!(
                "`logq {args}` did not print {needle:?} within {timeout:?} (status {}):\n{}\n{}\nagentd:\n{}\ncollectord:\n{}",
                out.status,
                tail(&out.stdout, 10),
                tail(&out.stderr, 10),
                c.journal("agentd", ""),
                c.journal("collectord", "")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The promise: a failed login logged on the machine is found by
/// `logq 'failed password' --host HOST` within 2 seconds.
fn search_finds_the_logged_line(c: &Container) {
    // The agent must be connected first, or the clock would include its
    // first connection.
    wait_for_status(c, "agentd", "connected to 127.0.0.1:5170");
    let started = Instant::now();
    c.ok(&format!("logger -p auth.warning '{FAILED}'"));
    wait_for_search(
        c,
        &format!("'failed password' --host {HOST}"),
        FAILED,
        Duration::from_secs(10),
    );
    let took = started.elapsed();
    eprintln!(
        "debian: logger -> logq found the line in {:.0} ms",
        took.as_secs_f64() * 1000.0
    );
    assert!(
        took <= Duration::from_secs(2),
        "the line took {took:?} to become searchable (promise: 2 s)"
    );
    let out = logq(c, &format!("'failed password' --host {HOST}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains(FAILED)).count(),
        1,
        "the line must be stored once:\n{text}"
    );
}

/// Waits until `systemctl show -P StatusText UNIT` contains `needle`.
fn wait_for_status(c: &Container, unit: &str, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let status = c.unit(unit, "StatusText");
        if status.contains(needle) {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{unit}'s STATUS never said {needle:?}; it says {status:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `systemctl status` shows both daemons active with their live figures.
fn status_shows_live_figures(c: &Container) {
    let collector = wait_for_status(c, "collectord", "1 agent connected");
    let agent = wait_for_status(c, "agentd", "lines shipped");
    eprintln!("debian: collectord STATUS: {collector}");
    eprintln!("debian: agentd STATUS: {agent}");
    let shown = c.ok("systemctl status --no-pager collectord agentd");
    for needle in [collector.as_str(), "active (running)"] {
        assert!(
            shown.contains(needle.split(',').next().unwrap_or(needle)),
            "systemctl status lacks {needle:?}:\n{shown}"
        );
    }
}

/// Waits until the unit's journal since `cursor` contains every needle.
fn wait_for_journal(c: &Container, unit: &str, cursor: &str, needles: &[&str]) -> String {
    let started = Instant::now();
    loop {
        let journal = c.journal(unit, cursor);
        if needles.iter().all(|n| journal.contains(n)) {
            return journal;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{unit}'s journal never said {needles:?}:\n{journal}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `systemctl reload` makes both daemons re-read their config: the
/// collector logs the key that changed, the agent starts tailing a file
/// that was added to `inputs`.
fn reload_rereads_the_config(c: &Container) {
    let collector_pid = c.unit("collectord", "MainPID");
    let cursor = c.cursor();
    c.ok("printf 'retention-days = 7\\n' >> /etc/collectord/collectord.toml");
    c.ok("systemctl reload collectord");
    wait_for_journal(c, "collectord", &cursor, &["retention-days"]);
    assert_eq!(
        c.unit("collectord", "MainPID"),
        collector_pid,
        "reload restarted collectord"
    );

    let agent_pid = c.unit("agentd", "MainPID");
    c.ok("install -m 0640 -g adm /dev/null /var/log/app.log");
    c.ok("printf 'inputs = [\"/var/log/syslog\", \"/var/log/auth.log\", \"/var/log/app.log\"]\\n' >> /etc/agentd/agentd.toml");
    let cursor = c.cursor();
    c.ok("systemctl reload agentd");
    wait_for_journal(c, "agentd", &cursor, &["inputs"]);
    assert_eq!(
        c.unit("agentd", "MainPID"),
        agent_pid,
        "reload restarted agentd"
    );
    c.ok("echo 'widget-7421 started after the reload' >> /var/log/app.log");
    let took = wait_for_search(c, "widget-7421", "widget-7421", Duration::from_secs(10));
    eprintln!(
        "debian: a file added by reload was searchable after {:.0} ms",
        took.as_secs_f64() * 1000.0
    );
}

/// A bad config: `systemctl reload` refuses it and keeps the daemon
/// running; a restart fails once with exit status 78 and a journal message
/// naming the key and the file, and systemd does not loop restarting it.
fn bad_config_fails_once_and_says_why(c: &Container) {
    let conf = "/etc/collectord/collectord.toml";
    let pid = c.unit("collectord", "MainPID");
    c.ok(&format!(
        "cp {conf} /root/collectord.toml.good && printf 'window = 0\\n' >> {conf}"
    ));
    let reload = c.sh("systemctl reload collectord");
    assert!(!reload.status.success(), "reload accepted a bad config");
    assert_eq!(
        c.unit("collectord", "ActiveState"),
        "active",
        "a refused reload stopped collectord"
    );
    assert_eq!(c.unit("collectord", "MainPID"), pid);

    // With the agent stopped, no connection waits on the socket: a waiting
    // one would start collectord again through socket activation, each
    // attempt failing the same way, until systemd's start limit (5 in 10 s)
    // fails the socket too (see systemd/README.md).
    c.ok("systemctl stop agentd");
    let cursor = c.cursor();
    let restart = c.sh("systemctl restart collectord");
    assert!(
        !restart.status.success(),
        "collectord started with window = 0"
    );
    // `systemctl restart` returns when the job is done: the unit is then
    // either waiting to restart (a loop) or failed for good.
    assert_eq!(c.unit("collectord", "ActiveState"), "failed");
    assert_eq!(
        c.unit("collectord", "SubState"),
        "failed",
        "systemd will restart it"
    );
    assert_eq!(c.unit("collectord", "ExecMainStatus"), "78");
    assert_eq!(c.unit("collectord", "NRestarts"), "0");
    // The daemon's stderr reaches journald through a stream, which may be
    // read after systemd's own messages: wait for it.
    let started = Instant::now();
    let (message, priority) = loop {
        let entries = c.ok(&format!(
            "journalctl -u collectord -o json --no-pager --after-cursor='{cursor}'"
        ));
        let found = entries
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|e| {
                let message = e["MESSAGE"].as_str()?;
                (message.contains("window") && message.contains(conf)).then(|| {
                    (
                        message.to_owned(),
                        e["PRIORITY"].as_str().map(str::to_owned),
                    )
                })
            });
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the journal does not name the key and the file:\n{entries}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Priority 3 (err): `journalctl -p err` and `systemctl status` show it.
    assert_eq!(priority.as_deref(), Some("3"), "{message}");
    eprintln!("debian: bad config in the journal: {}", message);
    c.ok(&format!("cp /root/collectord.toml.good {conf}"));
    c.ok("systemctl reset-failed collectord && systemctl start collectord agentd");
}

/// `systemctl stop` ends each daemon cleanly (exit 0, no SIGKILL) well
/// within its timeout; then an agent connecting starts the collector
/// through its socket, and nothing logged meanwhile is lost.
fn stop_is_clean_and_the_socket_starts_it_again(c: &Container) {
    for unit in ["agentd", "collectord"] {
        let started = Instant::now();
        c.ok(&format!("systemctl stop {unit}"));
        let took = started.elapsed();
        eprintln!("debian: systemctl stop {unit}: {:.2} s", took.as_secs_f64());
        assert_eq!(
            c.unit(unit, "Result"),
            "success",
            "{unit} did not stop cleanly"
        );
        assert_eq!(c.unit(unit, "ExecMainStatus"), "0", "{unit} exit status");
        assert!(
            took < Duration::from_secs(10),
            "{unit} took {took:?} to stop"
        );
    }
    assert_eq!(c.unit("collectord.socket", "ActiveState"), "active");
    c.ok("logger -p auth.warning 'Failed password for admin from 198.51.100.7 port 22 ssh2'");
    c.ok("systemctl start agentd");
    wait_for_search(
        c,
        "'failed password for admin'",
        "198.51.100.7",
        Duration::from_secs(15),
    );
    assert_eq!(
        c.unit("collectord", "ActiveState"),
        "active",
        "the agent's connection did not start collectord"
    );
    assert_eq!(c.unit("collectord", "TriggeredBy"), "collectord.socket");
}

/// A daemon that stops answering is restarted by the watchdog.
fn watchdog_restarts_a_hung_daemon(c: &Container) {
    for unit in ["collectord", "agentd"] {
        assert_eq!(
            c.unit(unit, "NRestarts"),
            "0",
            "{unit} was restarted before the watchdog step: it missed a watchdog ping"
        );
        let pid = c.unit(unit, "MainPID");
        let cursor = c.cursor();
        let started = Instant::now();
        c.ok(&format!("kill -STOP {pid}"));
        loop {
            let restarted = c.unit(unit, "NRestarts") == "1"
                && c.unit(unit, "ActiveState") == "active"
                && c.unit(unit, "MainPID") != pid;
            if restarted {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{unit} was not restarted 30 s after it stopped answering"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "debian: {unit} hung; restarted by the watchdog after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        wait_for_journal(c, unit, &cursor, &["Failed with result 'watchdog'"]);
    }
}

/// `systemd-analyze verify` accepts the shipped units and `systemd-analyze
/// security` rates both services at 2.0 or better.
fn units_verify_and_are_hardened(c: &Container) {
    let paths: Vec<String> = ["collectord.service", "collectord.socket", "agentd.service"]
        .iter()
        .map(|u| c.unit(u, "FragmentPath"))
        .collect();
    let verify = c.sh(&format!("systemd-analyze verify {}", paths.join(" ")));
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify:\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    for unit in ["collectord.service", "agentd.service"] {
        let report = c.ok(&format!("systemd-analyze security --no-pager {unit}"));
        let overall = report
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("no overall exposure for {unit}:\n{report}"));
        eprintln!("debian: {}", overall.trim_start_matches(['→', ' ']));
        let level: f64 = overall
            .split(':')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the level in {overall:?}"));
        assert!(level <= 2.0, "{unit} exposure {level} > 2.0:\n{report}");
    }
}

/// The man pages are installed where man finds them.
fn man_pages_are_installed(c: &Container) {
    for (page, needle) in [
        ("logq", "failed password"),
        ("collectord", "SIGHUP"),
        ("agentd", "SIGHUP"),
        ("collectord.toml", "retention-days"),
        ("agentd.toml", "max-line-bytes"),
    ] {
        let text = c.ok(&format!("MANWIDTH=100 man -P cat {page} 2>&1"));
        assert!(
            text.contains(needle) && text.contains("EXAMPLES"),
            "`man {page}` lacks {needle:?}:\n{}",
            tail(text.as_bytes(), 20)
        );
    }
}

/// `apt remove` keeps the collected logs; `apt purge` deletes them and the
/// system users.
fn remove_keeps_data_and_purge_deletes_it(c: &Container) {
    c.ok("apt-get remove -y -q collectord agentd logq");
    for dir in ["/var/lib/collectord", "/var/lib/agentd"] {
        c.ok(&format!("test -d {dir}"));
    }
    c.ok("test -f /etc/collectord/collectord.toml");
    c.ok("apt-get purge -y -q collectord agentd logq");
    for path in [
        "/var/lib/collectord",
        "/var/lib/agentd",
        "/etc/collectord",
        "/etc/agentd",
    ] {
        c.ok(&format!("test ! -e {path}"));
    }
    for name in ["collectord", "agentd"] {
        c.ok(&format!("! getent passwd {name} && ! getent group {name}"));
    }
}
