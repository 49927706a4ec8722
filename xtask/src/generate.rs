//! Every generated file that is committed, produced in memory: the man
//! pages, the shell completions and the shipped config files. `cargo xtask
//! man` writes them; the test below fails when a committed one differs, so
//! that no change to a flag, a help text or a config key reaches a package
//! without its man page.
//!
//! Generation is deterministic: the man pages' date is the one of the
//! newest entry in `packaging/changelog`, and their version is the crates'.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{completions, conffile, man};

/// One generated file: its path relative to the workspace root, and its
/// contents.
pub struct File {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// The directories that hold nothing but generated files (besides a
/// README.md): a file there that is not generated any more is stale too.
const GENERATED_DIRS: &[&str] = &["man", "packaging/completions"];

/// Every generated file.
pub fn all(root: &Path) -> Result<Vec<File>> {
    let date = man::changelog_date(root)?;
    let mut files = man::pages(&date);
    files.extend(completions::all());
    files.extend(conffile::all());
    Ok(files)
}

/// `cargo xtask man`: writes every generated file, and removes the files
/// of the generated directories that are generated no more.
pub fn write_all(root: &Path) -> Result<()> {
    let files = all(root)?;
    for file in &files {
        let path = root.join(&file.path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        if fs::read(&path).ok().as_deref() != Some(&file.contents[..]) {
            fs::write(&path, &file.contents)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("wrote {}", file.path.display());
        }
    }
    for extra in leftovers(root, &files)? {
        fs::remove_file(root.join(&extra))
            .with_context(|| format!("cannot remove {}", extra.display()))?;
        println!("removed {}", extra.display());
    }
    Ok(())
}

/// What differs between the generated files and the ones on disk, one
/// line per file; empty when everything is fresh.
pub fn stale(root: &Path) -> Result<Vec<String>> {
    let files = all(root)?;
    let mut stale = Vec::new();
    for file in &files {
        match fs::read(root.join(&file.path)) {
            Ok(on_disk) if on_disk == file.contents => {}
            Ok(on_disk) => stale.push(format!(
                "{} differs from what is generated ({})",
                file.path.display(),
                first_difference(&on_disk, &file.contents)
            )),
            Err(e) => stale.push(format!("{} cannot be read: {e}", file.path.display())),
        }
    }
    for extra in leftovers(root, &files)? {
        stale.push(format!("{} is not generated any more", extra.display()));
    }
    Ok(stale)
}

/// Files in [`GENERATED_DIRS`] that are not among `files`.
fn leftovers(root: &Path, files: &[File]) -> Result<Vec<PathBuf>> {
    let mut extra = Vec::new();
    for dir in GENERATED_DIRS {
        let entries = match fs::read_dir(root.join(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {dir}")),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {dir}"))?;
            let path = Path::new(dir).join(entry.file_name());
            if entry.file_name() != "README.md" && !files.iter().any(|f| f.path == path) {
                extra.push(path);
            }
        }
    }
    extra.sort();
    Ok(extra)
}

/// Where two texts first differ, as "line N".
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    match a.lines().zip(b.lines()).position(|(x, y)| x != y) {
        Some(i) => format!("first at line {}", i + 1),
        None => format!(
            "{} lines on disk, {} generated",
            a.lines().count(),
            b.lines().count()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_generated_files_are_fresh() {
        // A flag, help text or config key changed without `cargo xtask man`:
        // the packages would ship a man page, a completion or a config file
        // that says something else than the program does.
        let stale = stale(&crate::workspace_root()).unwrap();
        assert!(
            stale.is_empty(),
            "generated files are stale; run `cargo xtask man` and commit the result:\n  {}",
            stale.join("\n  ")
        );
    }

    #[test]
    fn generation_is_deterministic() {
        // Two runs must agree byte for byte, or the check above would fail
        // at random.
        let root = crate::workspace_root();
        let (a, b) = (all(&root).unwrap(), all(&root).unwrap());
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            assert!(
                a.path == b.path && a.contents == b.contents,
                "{}",
                a.path.display()
            );
        }
    }
}
