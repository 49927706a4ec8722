//! Project tasks, run as `cargo xtask TASK` (an alias in `.cargo/config.toml`):
//!
//! - `cargo xtask man`: writes every generated, committed file (`generate`):
//!   the man pages in `man/`, the shell completions in
//!   `packaging/completions/` and the shipped config files
//!   `packaging/*/*.toml`. The test in `generate.rs` fails when one of them
//!   is stale.
//! - `cargo xtask deb`: builds the three Debian packages (`deb`).

mod completions;
mod conffile;
mod deb;
mod generate;
mod man;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask TASK

Tasks:
  man   regenerate the man pages (man/), the shell completions
        (packaging/completions/) and the shipped config files
        (packaging/*/*.toml) from the programs' own definitions
  deb [--no-build] [--out DIR]
        build target/debian/{collectord,agentd,logq}_*.deb (needs cargo-deb:
        cargo install cargo-deb). --no-build packages the release binaries
        already built (the package test does this inside `cargo test`, which
        holds cargo's build lock); --out writes the packages to DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["man"] => generate::write_all(&root),
        ["deb", ref options @ ..] => match deb::Options::parse(options) {
            Some(options) => deb::build(&root, &options),
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the xtask crate's parent directory, wherever cargo
/// was started from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ is inside the workspace")
        .to_owned()
}
