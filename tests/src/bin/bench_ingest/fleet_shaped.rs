//! The fleet-shaped run: many agentd processes, each tailing a few files,
//! all shipping at once to one collectord (a fleet after a network outage,
//! or at its busiest hour), instead of one agent with one big file.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use logq_tests::{cpu_seconds, rss_kib, wait_until, Agent, Collector};

pub struct Fleet {
    pub agents: usize,
    pub files: usize,
    pub lines: u64,
    pub seconds: f64,
    pub collector_cpu_s: f64,
    pub collector_peak_mib: f64,
    /// The largest agent's peak resident memory, and the mean.
    pub agent_peak_mib_max: f64,
    pub agent_peak_mib_mean: f64,
}

/// Deals the lines of `corpus` out to `agents` × `files_per_agent` files
/// (line i to file i mod files, so every file has every hour), then starts
/// a collectord in `dir` and the agents, each on its files, and waits until
/// every line is searchable. All agents connect from 127.0.0.1, so the
/// collector's `max-connections-per-source` is raised to admit them. Each
/// agentd has an inotify instance, and all run as one user here: `Err`
/// with the reason when `fs.inotify.max_user_instances` is too low (the
/// default is 128), or when an agent stops.
pub fn run(dir: &Path, corpus: &Path, agents: usize, files_per_agent: usize) -> Result<Fleet> {
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if limit < agents + 16 {
        bail!(
            "{agents} agentd processes of one user need fs.inotify.max_user_instances >= {} \
             (it is {limit}): sysctl -w fs.inotify.max_user_instances={}",
            agents + 16,
            (agents + 16).next_power_of_two()
        );
    }
    let files = agents * files_per_agent;
    let logs = dir.join("logs");
    fs::create_dir_all(&logs)?;
    let paths: Vec<PathBuf> = (0..files)
        .map(|f| logs.join(format!("{f:04}.log")))
        .collect();
    let mut outs = paths
        .iter()
        .map(|p| Ok(BufWriter::new(File::create(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut lines = 0u64;
    for line in BufReader::with_capacity(1 << 20, File::open(corpus)?).split(b'\n') {
        let out = &mut outs[lines as usize % files];
        out.write_all(&line?)?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    for mut out in outs {
        out.flush()?;
    }

    let mut collector = Collector::start(
        &dir.join("collector"),
        &format!("max-connections-per-source = {}", agents + 16),
    );
    let started = Instant::now();
    let mut running: Vec<Agent> = (0..agents)
        .map(|a| {
            let mine: Vec<&Path> = paths[a * files_per_agent..(a + 1) * files_per_agent]
                .iter()
                .map(PathBuf::as_path)
                .collect();
            Agent::start(&dir.join(format!("agent{a:03}")), collector.addr, &mine, "")
        })
        .collect();
    let mut stopped = None;
    let done = wait_until(Duration::from_secs(3600), || {
        stopped = running.iter_mut().position(|a| !a.is_running());
        stopped.is_some() || collector.searchable_lines() >= lines
    });
    if let Some(a) = stopped {
        bail!("agent {a} of the fleet stopped: {}", running[a].log());
    }
    if !done {
        bail!("the fleet's lines never all became searchable");
    }
    let seconds = started.elapsed().as_secs_f64();
    let pid = collector.child.id();
    let collector_cpu_s = cpu_seconds(pid).unwrap_or(f64::NAN);
    let collector_peak_mib = rss_kib(pid).map_or(f64::NAN, |(hwm, _)| hwm as f64 / 1024.0);
    let peaks: Vec<f64> = running
        .iter()
        .filter_map(|a| rss_kib(a.child.id()))
        .map(|(hwm, _)| hwm as f64 / 1024.0)
        .collect();
    for agent in &mut running {
        agent.terminate(Duration::from_secs(10));
    }
    collector.terminate(Duration::from_secs(30));
    Ok(Fleet {
        agents,
        files,
        lines,
        seconds,
        collector_cpu_s,
        collector_peak_mib,
        agent_peak_mib_max: peaks.iter().copied().fold(0.0, f64::max),
        agent_peak_mib_mean: peaks.iter().sum::<f64>() / peaks.len().max(1) as f64,
    })
}
