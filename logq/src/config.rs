//! Where the index is: `--data-dir`, else collectord's own config.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub const COLLECTORD_CONFIG: &str = "/etc/collectord/collectord.toml";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/collectord";

/// The data directory: the flag, else `data-dir` in collectord's config
/// file, else collectord's default.
pub fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    from_config(Path::new(COLLECTORD_CONFIG))
}

fn from_config(path: &Path) -> Result<PathBuf> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DEFAULT_DATA_DIR.into()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    // Only `data-dir` matters here; collectord checks the rest.
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))?;
    match table.get("data-dir") {
        None => Ok(DEFAULT_DATA_DIR.into()),
        Some(toml::Value::String(dir)) => Ok(dir.into()),
        Some(_) => anyhow::bail!("{}: data-dir must be a string", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_comes_from_collectord_config() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("c.toml");
        std::fs::write(
            &conf,
            "listen = \"0.0.0.0:5170\"\ndata-dir = \"/srv/logs\"\n",
        )
        .unwrap();
        assert_eq!(from_config(&conf).unwrap(), PathBuf::from("/srv/logs"));
        std::fs::write(&conf, "listen = \"0.0.0.0:5170\"\n").unwrap();
        assert_eq!(from_config(&conf).unwrap(), PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(
            from_config(&dir.path().join("missing")).unwrap(),
            PathBuf::from(DEFAULT_DATA_DIR)
        );
    }

    #[test]
    fn unreadable_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("c.toml");
        std::fs::write(&conf, "data-dir = [").unwrap();
        let err = format!("{:#}", from_config(&conf).unwrap_err());
        assert!(err.contains("c.toml"), "{err}");
    }
}
