//! Log files through the detectors, as `collectord replay` runs them: each
//! line parsed as collectord parses what agents send (so its own timestamp
//! is the clock), numbered from 1 across all files, then given to the same
//! [`Engine`] the daemon runs.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;

use super::engine::{Engine, EngineConfig, LineIn, Report};
use super::model::{Model, Trainer};
use super::DetectError;
use crate::record::{flags, Origin, Record};

/// What to print per input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One JSON object per anomaly, when it closes.
    Anomalies,
    /// `-1` or `1` per input line (the per-line forest).
    PerLine,
    /// `LINE<TAB>TEMPLATE_ID<TAB>TEMPLATE` per input line.
    Templates,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the output: {0}")]
    Write(#[source] io::Error),
    #[error(transparent)]
    Detect(#[from] DetectError),
}

/// A parsed line, as the engine and the trainer take it.
pub struct Parsed {
    pub line: u64,
    pub record: Record,
}

/// Reads `paths` in order, parsing each line; `f` gets every line. A line
/// with no timestamp takes the previous line's time.
pub fn for_each_line(
    paths: &[PathBuf],
    first_line: u64,
    mut f: impl FnMut(Parsed) -> Result<(), ReplayError>,
) -> Result<u64, ReplayError> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut n = first_line;
    let mut clock: Option<i64> = None;
    for path in paths {
        let file = File::open(path).map_err(|source| ReplayError::Read {
            path: path.clone(),
            source,
        })?;
        let origin = Origin {
            agent: "replay",
            host: NO_HOST,
            path: &path.to_string_lossy(),
            stream: 0,
            utc_offset_secs: 0,
            receive_time_ms: now,
        };
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut offset = 0u64;
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| ReplayError::Read {
                    path: path.clone(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let mut record = Record::from_line(&origin, offset, 0, buf.clone());
            offset += read as u64;
            if record.has(flags::UNPARSED) {
                if let Some(t) = clock {
                    record.event_time_ms = t;
                }
            }
            clock = Some(record.event_time_ms);
            f(Parsed { line: n, record })?;
            n += 1;
        }
    }
    Ok(n - first_line)
}

/// The host of lines that name none (HDFS's, say): the same for every
/// file, so that training and replayed files share their hosts.
pub const NO_HOST: &str = "-";

/// Trains on `paths` (labels are not read), starting from `base`'s miner.
pub fn train(
    paths: &[PathBuf],
    base: Model,
    config: &EngineConfig,
    seed: u64,
) -> Result<Model, ReplayError> {
    let mut trainer = Trainer::new(
        base.templates,
        config.session_regex.as_deref(),
        config.session_idle_ms,
        seed,
    )?;
    #[cfg(feature = "lstm")]
    if config.sequence_model {
        trainer = trainer.with_sequence(super::sequence::SequenceParams::default());
    }
    for_each_line(paths, 1, |p| {
        let r = &p.record;
        trainer.feed(&LineIn::of(p.line, r));
        Ok(())
    })?;
    Ok(trainer.finish()?)
}

/// What a replay found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub lines: u64,
    pub anomalies: u64,
}

/// Feeds `paths` through an engine on `model` and writes `output` to `out`.
pub fn replay(
    paths: &[PathBuf],
    model: Model,
    config: EngineConfig,
    output: Output,
    out: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let mut engine = Engine::new(model, config)?;
    let mut summary = Summary::default();
    let mut text = String::new();
    summary.lines = for_each_line(paths, 1, |p| {
        let r = &p.record;
        let verdict = engine.observe(&LineIn::of(p.line, r));
        text.clear();
        match output {
            Output::PerLine => {
                text.push_str(if verdict.line_score == Some(-1) {
                    "-1\n"
                } else {
                    "1\n"
                });
            }
            Output::Templates => {
                let template = engine.model().templates.template(verdict.template);
                text.push_str(&format!("{}\t{}\t{template}\n", p.line, verdict.template.0));
            }
            Output::Anomalies => {}
        }
        summary.anomalies += write_closed(&mut engine, output, &mut text)?;
        out.write_all(text.as_bytes()).map_err(ReplayError::Write)
    })?;
    engine.finish();
    text.clear();
    summary.anomalies += write_closed(&mut engine, output, &mut text)?;
    out.write_all(text.as_bytes()).map_err(ReplayError::Write)?;
    out.flush().map_err(ReplayError::Write)?;
    Ok(summary)
}

fn write_closed(
    engine: &mut Engine,
    output: Output,
    text: &mut String,
) -> Result<u64, ReplayError> {
    let mut n = 0;
    for report in engine.take_reports() {
        if let Report::Closed(a) = report {
            n += 1;
            if output == Output::Anomalies {
                text.push_str(&serde_json::to_string(&a).map_err(DetectError::from)?);
                text.push('\n');
            }
        }
    }
    Ok(n)
}
