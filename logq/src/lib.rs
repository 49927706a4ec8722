//! logq: searches the log lines collectord indexed, like grep.
//!
//! Exit status: 0 when a line matched, 1 when none did, 2 on error; a closed
//! pipe ends it quietly with 0.

pub mod cli;
mod config;
mod flagged;
mod ordered;
mod output;
mod patterns;
mod print;
mod time;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use logcore::query::{self, Expr, Filters};
use logstore::Reader;

use cli::Cli;

/// The whole program; `main.rs` only calls this, so that the xtask can
/// reach [`cli::command`] for the man page.
pub fn main() -> ExitCode {
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

/// The query: the positional arguments ANDed, and any of the `-e`
/// patterns.
fn expression(cli: &Cli) -> Result<Expr> {
    let expr = query::parse_args(&cli.query)
        .map_err(|(i, e)| anyhow::anyhow!("{}", e.render(&cli.query[i]).trim_end()))?;
    if cli.regexp.is_empty() {
        return Ok(expr);
    }
    let any = Expr::Or(cli.regexp.iter().cloned().map(Expr::Regex).collect());
    Ok(match expr {
        Expr::All => any,
        expr => Expr::And(vec![expr, any]),
    })
}

fn filters(cli: &Cli, data_dir: &std::path::Path) -> Result<Filters> {
    let now = chrono::Local::now();
    let time = |t: &Option<String>| t.as_deref().map(|t| time::parse_time(t, now)).transpose();
    let (since_ms, until_ms) = (time(&cli.since)?, time(&cli.until)?);
    Ok(Filters {
        hosts: cli.hosts.clone(),
        programs: cli.programs.clone(),
        units: cli.units.clone(),
        severity: cli
            .severity
            .as_deref()
            .map(query::parse_severity_spec)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        since_ms,
        until_ms,
        anomalies: cli.anomalies,
        flagged: flagged::load(data_dir, since_ms, until_ms),
    })
}

/// Runs the search; `Ok(true)` when something matched.
fn run(cli: Cli) -> Result<bool> {
    let expr = expression(&cli)?;
    let data_dir = config::data_dir(cli.data_dir.clone())?;
    let filters = filters(&cli, &data_dir)?;
    let reader = Reader::open(&data_dir)?;
    let plan = reader.plan(&expr, &filters, cli.case_sensitive)?;
    if cli.patterns {
        return patterns::run(&reader, &plan, &data_dir, cli.output);
    }
    if cli.count {
        return print::count(&reader, &plan, cli.by);
    }
    let terminal = io::stdout().is_terminal();
    let color = output::use_color(
        cli.color,
        terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    );
    let p = expr.positives();
    let highlight = if color {
        output::Highlight::new(
            &p.words,
            &p.phrases,
            &p.prefixes,
            &p.regexes,
            cli.case_sensitive,
        )?
    } else {
        output::Highlight::none()
    };
    let printer = output::Printer::new(
        io::BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        cli.output,
        color,
        terminal,
        highlight,
    );
    let mut job = print::Job::new(reader, plan, printer, cli.context_lines(), cli.output);
    match cli.lines {
        Some(n) => job.newest(n, cli.reverse)?,
        None if cli.follow => {}
        None => job.all(cli.reverse)?,
    }
    if cli.follow {
        job.follow()?;
    }
    job.printer.flush()?;
    Ok(job.matched > 0)
}
