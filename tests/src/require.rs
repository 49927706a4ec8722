//! Tests that need something from outside the workspace (root, rsyslog,
//! systemd's programs...): skipped with the reason, or required by a
//! `LOGQ_REQUIRE_*` variable set to 1, as `.ci/run` does.

use std::io::Write;

/// Whether `var` (a `LOGQ_REQUIRE_*` variable) requires a test that needs
/// something from outside (root, a peer program such as rsyslog or
/// logrotate) to run rather than skip. `.ci/run` sets it to exactly `1`;
/// unset or empty means not required; any other value stops the test, so
/// that a typo cannot turn a required test into a silent skip.
///
/// The variables: `LOGQ_REQUIRE_DEBIAN` (tests/debian/: root,
/// systemd-nspawn, debootstrap, lintian, cargo-deb), `LOGQ_REQUIRE_RSYSLOG`
/// (rsyslogd and its TLS driver), `LOGQ_REQUIRE_SYSLOG_NG` (syslog-ng),
/// `LOGQ_REQUIRE_SYSTEMD` (root and systemd's programs: journald,
/// journalctl, systemd-cat, systemd-socket-activate).
pub fn required(var: &str) -> bool {
    match std::env::var(var) {
        Err(_) => false,
        Ok(v) if v.is_empty() => false,
        Ok(v) if v == "1" => true,
        Ok(v) => panic!("{var}={v:?}: set it to 1 (required) or leave it unset"),
    }
}

/// For a test that cannot run here because of `why`: `true` (the caller
/// returns) after saying so on stderr, or a panic when `var` requires it.
pub fn skip_unless_required(var: &str, why: &str) -> bool {
    if required(var) {
        panic!("{var}=1 but {why}");
    }
    // Straight to the process's stderr: the test harness keeps what
    // `eprintln!` prints in a passing test to itself, and a skip must be
    // seen.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {why} (set {var}=1 to require it)"
    );
    true
}
