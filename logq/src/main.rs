//! logq: searches the log lines collectord indexed, like grep.
//!
//! Exit status: 0 when a line matched, 1 when none did, 2 on error; a closed
//! pipe ends it quietly with 0.

mod cli;
mod config;
mod output;
mod search;
mod time;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Output};
use search::Search;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("logq: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Runs the search; `Ok(true)` when something matched.
fn run(cli: Cli) -> Result<bool> {
    let now = chrono::Local::now();
    let search = Search {
        phrases: cli
            .query
            .iter()
            .filter(|q| !q.trim().is_empty())
            .cloned()
            .collect(),
        hosts: cli.hosts.clone(),
        since_ms: cli
            .since
            .as_deref()
            .map(|t| time::parse_time(t, now))
            .transpose()?,
        until_ms: cli
            .until
            .as_deref()
            .map(|t| time::parse_time(t, now))
            .transpose()?,
    };
    let data_dir = config::data_dir(cli.data_dir.clone())?;
    let opened = search::open(&data_dir)?;
    let query = search.query(&opened.schema);
    let check_lines = search.needs_line_check();

    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if cli.count && !check_lines {
        let n = opened
            .searcher
            .search(&*query, &tantivy::collector::Count)?;
        writeln!(out, "{n}")?;
        out.flush()?;
        return Ok(n > 0);
    }
    let matches = search::ordered_matches(&opened, &*query)?;
    let mut readers: Vec<Option<logcore::schema::RecordReader>> = Vec::new();
    readers.resize_with(opened.searcher.segment_readers().len(), || None);
    let mut n = 0u64;
    for addr in matches {
        let slot = &mut readers[addr.segment_ord as usize];
        if slot.is_none() {
            *slot = Some(opened.schema.record_reader(
                opened.searcher.segment_reader(addr.segment_ord),
                &data_dir.join("archive"),
            )?);
        }
        let record = slot.as_ref().expect("filled above").record(addr.doc_id)?;
        if check_lines && !search.matches_line(&String::from_utf8_lossy(&record.raw)) {
            continue;
        }
        n += 1;
        if cli.count {
            continue;
        }
        match cli.output {
            Output::Raw => out.write_all(&record.raw)?,
            Output::Short => output::write_escaped(&mut out, &record.raw)?,
        }
        out.write_all(b"\n")?;
    }
    if cli.count {
        writeln!(out, "{n}")?;
    }
    out.flush()?;
    Ok(n > 0)
}
