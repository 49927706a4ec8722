//! `collectord train` and `collectord replay`: the detectors without the
//! daemon, on the same code (`logcore::detect`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use logcore::detect::replay::{self, Output};
use logcore::detect::sequence::SequenceParams;
use logcore::detect::{EngineConfig, LineIn, Model, Trainer};
use logcore::template::{MinerConfig, TemplateMiner};

use crate::cli::{ReplayArgs, TrainArgs};
use crate::config::Config;
use crate::detect::history;

/// The model file in a data directory.
pub fn model_path(data_dir: &Path) -> PathBuf {
    data_dir.join("model.json")
}

/// Reads a model file; `Ok(None)` when there is none.
pub fn load_model(path: &Path) -> anyhow::Result<Option<Model>> {
    let json = match std::fs::read_to_string(path) {
        Ok(j) => j,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let model = Model::from_json(&json).with_context(|| {
        format!(
            "{} is not a model this collectord reads (delete it and run `collectord train`)",
            path.display()
        )
    })?;
    Ok(Some(model))
}

/// Writes a model file atomically: temp file, fsync, rename.
pub fn save_model(path: &Path, model: &Model) -> anyhow::Result<()> {
    let json = model.to_json().context("cannot serialize the model")?;
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// The engine settings the config asks for.
pub fn engine_config(config: &Config) -> EngineConfig {
    EngineConfig {
        session_regex: (!config.session_regex.is_empty()).then(|| config.session_regex.clone()),
        session_idle_ms: config.session_idle_secs as i64 * 1000,
        max_keys: config.detect_max_keys as usize,
        line_forest_alerts: config.line_forest_alerts,
        sequence_model: config.sequence_model,
        list_lines: false,
    }
}

/// Parses `2026-11-01`, an RFC 3339 time, or an age (`7d`, `12h`, `30m`).
pub fn parse_time(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let t = text.trim();
    if let Some((n, unit)) = t
        .strip_suffix('d')
        .map(|n| (n, 86_400_000))
        .or_else(|| t.strip_suffix('h').map(|n| (n, 3_600_000)))
        .or_else(|| t.strip_suffix('m').map(|n| (n, 60_000)))
    {
        if let Ok(n) = n.parse::<i64>() {
            return Ok(now_ms - n * unit);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        return Ok(t.and_utc().timestamp_millis());
    }
    bail!(
        "{text:?} is not a time: use 2026-11-01, 2026-11-01T12:00:00Z, or an age such as 7d or 12h"
    )
}

/// Trains a model on the history in `range` of `data_dir`, starting from
/// `miner` (so template ids are kept).
pub fn train_from_index(
    data_dir: &Path,
    miner: TemplateMiner,
    engine: &EngineConfig,
    range: std::ops::Range<i64>,
) -> anyhow::Result<(Model, u64)> {
    let mut trainer = Trainer::new(
        miner,
        engine.session_regex.as_deref(),
        engine.session_idle_ms,
        0,
    )?;
    if engine.sequence_model {
        trainer = trainer.with_sequence(SequenceParams::default());
    }
    let mut n = 0u64;
    let lines = history::for_each(data_dir, range, history::MAX_LINES, |r| {
        n += 1;
        trainer.feed(&LineIn::of(n, r));
    })?;
    if lines == 0 {
        bail!("no lines in the range to train on");
    }
    Ok((trainer.finish()?, lines))
}

/// `collectord train`.
pub fn train(args: &TrainArgs, config: &Config) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    // Without --since and --until: the `train-days` before the newest
    // stored line (logs shipped late are history too).
    let default = match (&args.since, &args.until) {
        (None, None) => history::training_range(&config.data_dir, config.train_days, now)?
            .context("no lines in the index to train on")?,
        _ => now - i64::from(config.train_days) * 86_400_000..now,
    };
    let since = match &args.since {
        Some(s) => parse_time(s, now)?,
        None => default.start,
    };
    let until = match &args.until {
        Some(s) => parse_time(s, now)?,
        None => default.end,
    };
    if since >= until {
        bail!("--since must be before --until");
    }
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| model_path(&config.data_dir));
    let miner = load_model(&model_path(&config.data_dir))?
        .map(|m| m.templates)
        .unwrap_or_else(|| TemplateMiner::new(MinerConfig::default()));
    let started = std::time::Instant::now();
    let (model, lines) = train_from_index(
        &config.data_dir,
        miner,
        &engine_config(config),
        since..until,
    )?;
    save_model(&path, &model)?;
    let t = model.trained.as_ref().expect("training made it");
    println!(
        "collectord: trained on {lines} lines ({} hosts, {} templates{}) in {:.1}s; wrote {}",
        t.hosts,
        model.templates.len(),
        t.sessions
            .as_ref()
            .map(|s| format!(", {} sessions", s.sessions))
            .unwrap_or_default()
            + &t.sequence
                .as_ref()
                .map(|s| format!(
                    ", a sequence model of {} classes ({} steps)",
                    s.classes.len(),
                    s.stats.steps
                ))
                .unwrap_or_default(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    if path == model_path(&config.data_dir) {
        println!("collectord: a running collectord takes it within a second, without a reload");
    }
    Ok(())
}

/// `collectord replay`.
pub fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let config = EngineConfig {
        session_regex: args.session_regex.clone(),
        session_idle_ms: args.session_idle as i64 * 1000,
        sequence_model: args.sequence_model,
        ..EngineConfig::default()
    };
    let mut model = match &args.model {
        Some(p) => load_model(p)?.with_context(|| format!("no model at {}", p.display()))?,
        None => Model::new(TemplateMiner::new(MinerConfig::default())),
    };
    if !args.train.is_empty() {
        model = replay::train(&args.train, model, &config, args.seed)?;
    }
    if args.per_line && model.trained.is_none() {
        bail!("--per-line needs a trained model: give --train FILE or --model PATH");
    }
    if let Some(p) = &args.save_model {
        save_model(p, &model)?;
    }
    let output = if args.per_line {
        Output::PerLine
    } else if args.templates {
        Output::Templates
    } else {
        Output::Anomalies
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match replay::replay(&args.files, model, config, output, &mut out) {
        Ok(_) => Ok(()),
        Err(replay::ReplayError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_train_read_as_operators_write_them() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(parse_time("12h", now).unwrap(), now - 12 * 3_600_000);
        assert_eq!(parse_time("2023-11-14", now).unwrap(), 1_699_920_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z", now).unwrap(), now);
        let err = parse_time("last tuesday", now).unwrap_err().to_string();
        assert!(err.contains("7d"), "{err}");
    }
}
