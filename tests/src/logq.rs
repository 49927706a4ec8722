//! Running logq over a data directory, as the tests ask it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::bin;

/// Runs logq with `--data-dir`.
pub fn logq(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(bin("logq"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run logq")
}

/// How many lines `logq --count ARGS` finds in `data_dir`. Panics, with
/// logq's stderr, unless logq answered: exit status 0 with a count above 0,
/// or 1 with 0. A helper that read a failure (exit status 2: an unreadable
/// index, a bad query) as 0 made every "nothing of theirs was stored" check
/// pass whenever logq could not search at all.
pub fn count(data_dir: &Path, args: &[&str]) -> u64 {
    let mut full = vec!["--count"];
    full.extend_from_slice(args);
    let out = logq(data_dir, &full);
    let stdout = String::from_utf8_lossy(&out.stdout);
    match (out.status.code(), stdout.trim().parse::<u64>()) {
        (Some(0), Ok(n)) if n > 0 => n,
        (Some(1), Ok(0)) => 0,
        _ => panic!(
            "logq {full:?} over {} did not answer ({}): stdout {stdout:?}, stderr: {}",
            data_dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// logq with `--data-dir`, in a fixed environment: stdin empty, `TZ=UTC`
/// (times in the short format and in `--since`/`--until` are local time),
/// and no `NO_COLOR`, `TERM` or `LOGQ*` settings from the caller's
/// environment. Add the query and run it.
pub fn logq_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin("logq"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key == "NO_COLOR" || key == "TERM" || key.starts_with("LOGQ") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("TZ", "UTC")
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null());
    cmd
}
