//! What runs on the host: the prerequisites, building the packages,
//! lintian.

use std::path::{Path, PathBuf};
use std::process::Command;

use logq_tests::bin;

const PACKAGES: [&str; 3] = ["collectord", "agentd", "logq"];

/// Why this machine cannot run the test, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("it must run as root (debootstrap, systemd-nspawn)".into());
    }
    for (program, package) in [
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
        ("lintian", "lintian"),
        ("cargo-deb", "`cargo install cargo-deb`"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{program} is missing (install {package})"));
        }
    }
    None
}

/// The three packages, built by the documented command from the release
/// binaries that `cargo build --release --bins` made.
pub fn build_debs(work: &Path) -> Vec<PathBuf> {
    let out = work.join("debs");
    let status = Command::new(bin("xtask"))
        .args(["deb", "--no-build", "--out"])
        .arg(&out)
        .status()
        .expect("xtask runs");
    assert!(status.success(), "`cargo xtask deb` failed ({status})");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&out)
        .expect("xtask made the output directory")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    for name in PACKAGES {
        assert!(
            debs.iter()
                .any(|d| file_name(d).starts_with(&format!("{name}_"))),
            "no {name}_*.deb among {debs:?}"
        );
    }
    debs
}

/// lintian finds no error and no warning (overrides carry their reasons in
/// packaging/).
pub fn lintian(debs: &[PathBuf]) {
    let out = Command::new("lintian")
        .args(["--display-info", "--no-tag-display-limit"])
        .args(debs)
        .output()
        .expect("lintian runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lintian failed ({}):\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bad: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(
        bad.is_empty(),
        "lintian reports errors or warnings:\n{}",
        bad.join("\n")
    );
    eprintln!(
        "debian: lintian: no errors or warnings ({} info tags)",
        report.lines().filter(|l| l.starts_with("I: ")).count()
    );
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
