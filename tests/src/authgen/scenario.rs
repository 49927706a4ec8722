//! A scenario's sizes ([`Params`]), its generation, and its files
//! (`train.log`, `test.log`, `episodes.json`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{attacks, background, clock, Episode, Gen};

/// Sizes of a scenario.
#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    pub hosts: usize,
    pub train_days: usize,
    pub test_days: usize,
    /// Attack episodes of each kind.
    pub per_kind: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            hosts: 5,
            train_days: 3,
            test_days: 4,
            per_kind: 3,
        }
    }
}

/// The generated lines (without newlines) and the labels.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub params: Params,
    pub hosts: Vec<String>,
    pub train: Vec<String>,
    pub test: Vec<String>,
    pub episodes: Vec<Episode>,
    /// Microseconds since the epoch where the test days begin.
    pub test_start_us: i64,
}

/// Where [`Scenario::write`] put the files.
#[derive(Debug, Clone)]
pub struct Written {
    pub train: PathBuf,
    pub test: PathBuf,
    pub episodes: PathBuf,
}

impl Scenario {
    /// The scenario of `seed` with `per_kind` 3.
    pub fn generate(seed: u64, hosts: usize, train_days: usize, test_days: usize) -> Scenario {
        Scenario::generate_with(Params {
            seed,
            hosts,
            train_days,
            test_days,
            ..Params::default()
        })
    }

    pub fn generate_with(params: Params) -> Scenario {
        let mut g = Gen::new(&params);
        background::generate(&mut g, &params);
        if params.test_days > 0 && params.hosts > 0 {
            attacks::generate(&mut g, &params);
        }
        g.finish(params)
    }

    /// Host-days of the test part, the denominator of false alerts.
    pub fn test_host_days(&self) -> usize {
        self.params.hosts * self.params.test_days
    }

    /// Writes `train.log`, `test.log` and `episodes.json` into `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<Written> {
        fs::create_dir_all(dir)?;
        let w = Written {
            train: dir.join("train.log"),
            test: dir.join("test.log"),
            episodes: dir.join("episodes.json"),
        };
        write_lines(&w.train, &self.train)?;
        write_lines(&w.test, &self.test)?;
        let json = serde_json::to_string_pretty(&self.episodes_json())
            .expect("a JSON value always serializes");
        fs::write(&w.episodes, json + "\n")?;
        Ok(w)
    }

    /// The labels as JSON: the parameters and one object per episode.
    pub fn episodes_json(&self) -> serde_json::Value {
        let stamp = |us: Option<i64>| us.map(clock::rfc3339);
        let episodes: Vec<serde_json::Value> = self
            .episodes
            .iter()
            .map(|e| {
                serde_json::json!({
                    "type": e.kind.name(),
                    "attack": e.kind.is_attack(),
                    "host": e.host,
                    "key": e.key,
                    "ips": e.ips,
                    "first_ts": clock::rfc3339(e.first_us),
                    "last_ts": clock::rfc3339(e.last_us),
                    "cross_ts": stamp(e.cross_us),
                    "cross_line": e.cross_line,
                    "lines": e.lines,
                })
            })
            .collect();
        serde_json::json!({
            "seed": self.params.seed,
            "hosts": self.hosts,
            "train_days": self.params.train_days,
            "test_days": self.params.test_days,
            "test_start": clock::rfc3339(self.test_start_us),
            "train_lines": self.train.len(),
            "test_lines": self.test.len(),
            "episodes": episodes,
        })
    }
}

fn write_lines(path: &Path, lines: &[String]) -> io::Result<()> {
    let mut out = io::BufWriter::new(fs::File::create(path)?);
    for l in lines {
        out.write_all(l.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
