//! `cargo xtask deb`: the three Debian packages, from one build.
//!
//! One `cargo build --release --locked --bins` for the whole workspace, then
//! `cargo deb --no-build` per package. Letting cargo-deb build each package
//! would build each with its own feature set (cargo unifies features over
//! what one command builds) and so compile most of the workspace three more
//! times, into the same binaries' paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::generate;

/// The packages, in the order they are built.
const PACKAGES: [&str; 3] = ["collectord", "agentd", "logq"];

/// The unit files the daemons' packages install (`systemd-units` in their
/// Cargo.toml): cargo-deb only warns when one is missing.
const UNITS: [&str; 6] = [
    "systemd/collectord.service",
    "systemd/collectord.socket",
    "systemd/collectord-syslog-udp.socket",
    "systemd/collectord-syslog-tcp.socket",
    "systemd/collectord-syslog-tls.socket",
    "systemd/agentd.service",
];

/// `cargo xtask deb [--no-build] [--out DIR]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Package the release binaries as they are.
    pub no_build: bool,
    /// Where the packages go; cargo-deb's `target/debian/` when unset.
    pub out: Option<PathBuf>,
}

impl Options {
    /// None on an unknown or incomplete option.
    pub fn parse(args: &[&str]) -> Option<Options> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match *arg {
                "--no-build" => options.no_build = true,
                "--out" => options.out = Some(PathBuf::from(args.next()?)),
                _ => return None,
            }
        }
        Some(options)
    }
}

pub fn build(root: &Path, options: &Options) -> Result<()> {
    let stale = generate::stale(root)?;
    if !stale.is_empty() {
        bail!(
            "generated files are stale; run `cargo xtask man` first:\n  {}",
            stale.join("\n  ")
        );
    }
    for unit in UNITS {
        if !root.join(unit).is_file() {
            bail!("{unit} is missing: the packages install it");
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let has_cargo_deb = Command::new(&cargo)
        .args(["deb", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cargo_deb {
        bail!("cargo-deb is not installed: install it with `cargo install cargo-deb`, then run `cargo xtask deb` again");
    }

    if !options.no_build {
        run(Command::new(&cargo).current_dir(root).args([
            "build",
            "--release",
            "--locked",
            "--bins",
        ]))?;
    }

    let mut debs = Vec::new();
    for package in PACKAGES {
        let mut command = Command::new(&cargo);
        command
            .current_dir(root)
            .args(["deb", "--no-build", "-p", package]);
        if let Some(out) = &options.out {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            command.arg("--output").arg(out);
        }
        let out = command
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run cargo deb for {package}"))?;
        if !out.status.success() {
            bail!("cargo deb -p {package} failed ({})", out.status);
        }
        // cargo-deb prints the path of the package it wrote, alone on stdout.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(deb) = stdout.lines().rev().find(|l| l.ends_with(".deb")) else {
            bail!("cargo deb -p {package} named no .deb file: {stdout:?}");
        };
        debs.push(PathBuf::from(deb));
    }
    for deb in debs {
        let shown = deb.strip_prefix(root).unwrap_or(&deb);
        println!("{}", shown.display());
    }
    Ok(())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        // The package test runs `xtask deb --no-build --out DIR`; a parse
        // slip would rebuild inside `cargo test` or write elsewhere.
        assert_eq!(Options::parse(&[]), Some(Options::default()));
        assert_eq!(
            Options::parse(&["--no-build", "--out", "/tmp/x"]),
            Some(Options {
                no_build: true,
                out: Some(PathBuf::from("/tmp/x")),
            })
        );
        assert_eq!(Options::parse(&["--out"]), None);
        assert_eq!(Options::parse(&["--fast"]), None);
    }
}
