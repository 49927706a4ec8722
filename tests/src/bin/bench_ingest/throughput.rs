//! The throughput run: one agentd ships the whole corpus to a fresh
//! collectord, timed until the corpus's last line is searchable. It runs
//! with the detectors (collectord's default) and again without them
//! (`detect = false`), so that what detection costs is measured in the
//! same run (issue 15 asks for at most 20 %). The two alternate for
//! `--rounds` rounds and are averaged: one pair of 1M-line runs, minutes
//! apart, showed detection costing 20 % and then −3 %.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use logq_tests::{dir_bytes, wait_until, Agent, Collector};

use crate::{measure, Side};

pub struct Throughput {
    pub seconds: f64,
    /// Lines searchable at the end.
    pub indexed: u64,
    pub agent: Side,
    pub collector: Side,
    /// Bytes on disk once a restart removed the files of merges that the
    /// stop cut short.
    pub index_bytes: u64,
    pub archive_bytes: u64,
}

/// Ships `corpus` (whose last line has the word `benchfinishmarker`)
/// through a collector under `dir` with `extra` in its config.
pub fn run(dir: &Path, corpus: &Path, extra: &str) -> Result<Throughput> {
    let mut collector = Collector::start(&dir.join("collector"), extra);
    let started = Instant::now();
    let mut agent = Agent::start(&dir.join("agent"), collector.addr, &[corpus], "");
    if !wait_until(Duration::from_secs(3600), || {
        collector.count(&["benchfinishmarker"]) == 1
    }) {
        bail!("the corpus never became searchable");
    }
    let seconds = started.elapsed().as_secs_f64();
    let indexed = collector.count(&[]);
    let (agent_side, collector_side) = (measure(agent.child.id()), measure(collector.child.id()));
    agent.terminate(Duration::from_secs(10));
    collector.terminate(Duration::from_secs(30));
    // A stop can cut tantivy merges short and leave their files behind; the
    // next start deletes them. Measure what stays on disk.
    let mut collector = collector.restart();
    collector.terminate(Duration::from_secs(30));
    Ok(Throughput {
        seconds,
        indexed,
        agent: agent_side,
        collector: collector_side,
        index_bytes: dir_bytes(&collector.data_dir.join("index")),
        archive_bytes: dir_bytes(&collector.data_dir.join("archive")),
    })
}

/// Several runs of one kind, taken together: the mean time and CPU.
pub struct Mean {
    pub seconds: f64,
    pub agent_cpu_s: f64,
    pub collector_cpu_s: f64,
}

impl Mean {
    pub fn of(runs: &[Throughput]) -> Mean {
        let n = runs.len().max(1) as f64;
        let sum = |f: fn(&Throughput) -> f64| runs.iter().map(f).sum::<f64>() / n;
        Mean {
            seconds: sum(|r| r.seconds),
            agent_cpu_s: sum(|r| r.agent.cpu_s),
            collector_cpu_s: sum(|r| r.collector.cpu_s),
        }
    }
}
