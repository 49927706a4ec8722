//! Shell completions for bash, zsh and fish, from the same clap commands as
//! `--help`. They are written to `packaging/completions/` under the names
//! the packages install them by (the Debian paths are in each program's
//! `[package.metadata.deb]`).

use std::path::PathBuf;

use clap_complete::Shell;

use crate::generate::File;

/// The programs and their clap commands.
pub fn programs() -> [(&'static str, clap::Command); 3] {
    [
        ("logq", logq::cli::command()),
        ("agentd", agentd::cli::command()),
        ("collectord", collectord::cli::command()),
    ]
}

/// The file name of `program`'s completion for `shell`.
fn file_name(shell: Shell, program: &str) -> String {
    match shell {
        Shell::Bash => format!("{program}.bash"),
        Shell::Zsh => format!("_{program}"),
        Shell::Fish => format!("{program}.fish"),
        other => unreachable!("no completion file for {other}"),
    }
}

pub fn all() -> Vec<File> {
    let mut files = Vec::new();
    for (name, mut command) in programs() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut contents = Vec::new();
            clap_complete::generate(shell, &mut command, name, &mut contents);
            files.push(File {
                path: PathBuf::from("packaging/completions").join(file_name(shell, name)),
                contents,
            });
        }
    }
    files
}
