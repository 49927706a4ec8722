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
const UNITS: [&str; 3] = [
    "systemd/collectord.service",
    "systemd/collectord.socket",
    "systemd/agentd.service",
];

pub fn build(root: &Path) -> Result<()> {
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

    run(Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bins"]))?;

    let mut debs = Vec::new();
    for package in PACKAGES {
        let out = Command::new(&cargo)
            .current_dir(root)
            .args(["deb", "--no-build", "-p", package])
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
