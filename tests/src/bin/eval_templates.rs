//! eval-templates: grouping accuracy of logcore's template miner on the
//! loghub 2k dev samples, beside Drain's published figures.
//!
//! For each system it feeds the `Content` column of the ground-truth
//! `*_structured.csv` (the message after the ground truth's own header
//! split) to one `TemplateMiner` with `MinerConfig::default()` and compares
//! the grouping with the `EventId` column. Grouping accuracy (loghub
//! benchmark, Zhu et al. 2019): a line is right iff the set of lines in its
//! predicted group is exactly the set in its true group; GA = right lines /
//! all lines.
//!
//! `--data DIR` (default `<workspace>/../shared/data`); without the data it
//! says so and exits 0.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use logcore::template::{MinerConfig, TemplateMiner};

/// Drain's published grouping accuracy on loghub 2k (Zhu et al. 2019).
const DRAIN: [(&str, f64); 16] = [
    ("HDFS", 0.998),
    ("Hadoop", 0.948),
    ("Spark", 0.920),
    ("Zookeeper", 0.967),
    ("OpenStack", 0.733),
    ("BGL", 0.963),
    ("HPC", 0.887),
    ("Thunderbird", 0.955),
    ("Windows", 0.997),
    ("Linux", 0.690),
    ("Mac", 0.787),
    ("Android", 0.911),
    ("HealthApp", 0.780),
    ("Apache", 1.000),
    ("OpenSSH", 0.788),
    ("Proxifier", 0.527),
];
const DRAIN_AVERAGE: f64 = 0.865;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("eval-templates: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let mut data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = PathBuf::from(args.next().context("--data needs a directory")?),
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => {
                println!("usage: eval-templates [--data DIR] [--verbose]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if !data.join("loghub_2k_dev").is_dir() {
        println!(
            "eval-templates: skipped: no loghub data at {}",
            data.display()
        );
        return Ok(());
    }
    println!("config: {:?}", MinerConfig::default());
    println!("input: the Content field of each line (the ground truth's header split)\n");
    table(
        &data,
        "loghub_2k_dev",
        "_structured.csv",
        "EventId",
        "loghub 2k, original truth, groups by EventId",
        verbose,
    )?;
    let corrected = data.join("loghub_2k_corrected_dev");
    if corrected.is_dir() {
        println!();
        // The corrected set keeps the old EventIds and corrects the
        // templates, so its groups are the lines of one EventTemplate.
        table(
            &data,
            "loghub_2k_corrected_dev",
            "_structured_corrected.csv",
            "EventTemplate",
            "Loghub-2.0 corrected truth, groups by EventTemplate",
            verbose,
        )?;
    }
    Ok(())
}

fn table(
    data: &Path,
    set: &str,
    suffix: &str,
    group_by: &str,
    title: &str,
    verbose: bool,
) -> Result<()> {
    println!("{title} ({set})");
    println!(
        "{:<12} {:>6} {:>9} {:>6} {:>6} {:>6}",
        "system", "lines", "templates", "truth", "GA", "Drain"
    );
    let mut sum = 0.0;
    let mut n = 0;
    for (name, drain) in DRAIN {
        let csv = data
            .join(set)
            .join(name)
            .join(format!("{name}_2k_dev.log{suffix}"));
        if !csv.is_file() {
            println!("{name:<12} not in this set");
            continue;
        }
        let rows = read_structured(&csv, group_by)
            .with_context(|| format!("reading {}", csv.display()))?;
        let mut miner = TemplateMiner::new(MinerConfig::default());
        let predicted: Vec<u32> = rows
            .iter()
            .map(|(content, _)| miner.add(content).id.0)
            .collect();
        let truth: Vec<&str> = rows.iter().map(|(_, event)| event.as_str()).collect();
        let ga = grouping_accuracy(&predicted, &truth);
        let truth_groups = truth.iter().collect::<std::collections::HashSet<_>>().len();
        let mark = if ga + 1e-9 >= drain { "✓" } else { "✗" };
        println!(
            "{name:<12} {:>6} {:>9} {:>6} {ga:>6.3} {drain:>6.3} {mark}",
            rows.len(),
            miner.len(),
            truth_groups
        );
        if verbose {
            print_mistakes(&miner, &rows, &predicted);
        }
        sum += ga;
        n += 1;
    }
    if n > 0 {
        let average = sum / n as f64;
        let mark = if average + 1e-9 >= DRAIN_AVERAGE {
            "✓"
        } else {
            "✗"
        };
        println!(
            "{:<12} {:>6} {:>9} {:>6} {average:>6.3} {DRAIN_AVERAGE:>6.3} {mark}",
            "average", "", "", ""
        );
        if n < DRAIN.len() {
            println!("(average over the {n} systems present; Drain's is over 16)");
        }
    }
    Ok(())
}

/// Loghub's grouping accuracy: a line counts when its predicted group and
/// its true group hold exactly the same lines.
fn grouping_accuracy<P: Eq + std::hash::Hash + Copy, T: Eq + std::hash::Hash + Copy>(
    predicted: &[P],
    truth: &[T],
) -> f64 {
    let mut by_pred: HashMap<P, Vec<usize>> = HashMap::new();
    let mut by_truth: HashMap<T, Vec<usize>> = HashMap::new();
    for (i, (p, t)) in predicted.iter().zip(truth).enumerate() {
        by_pred.entry(*p).or_default().push(i);
        by_truth.entry(*t).or_default().push(i);
    }
    let right: usize = by_pred
        .values()
        .filter(|lines| {
            lines.iter().all(|&i| truth[i] == truth[lines[0]])
                && by_truth[&truth[lines[0]]].len() == lines.len()
        })
        .map(Vec::len)
        .sum();
    right as f64 / predicted.len().max(1) as f64
}

/// With `--verbose`: each predicted template that is not exactly one true
/// group, with the true groups it holds.
fn print_mistakes(miner: &TemplateMiner, rows: &[(String, String)], predicted: &[u32]) {
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        groups.entry(*p).or_default().push(i);
    }
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for (_, t) in rows {
        *truth_size.entry(t).or_default() += 1;
    }
    let mut ids: Vec<_> = groups.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let lines = &groups[&id];
        let first = &rows[lines[0]].1;
        if lines.iter().all(|&i| &rows[i].1 == first) && truth_size[first.as_str()] == lines.len() {
            continue;
        }
        let mut events: Vec<&str> = lines.iter().map(|&i| rows[i].1.as_str()).collect();
        events.sort_unstable();
        events.dedup();
        println!(
            "    T{id} ({} lines, truth {events:?}): {}\n        e.g. {}",
            lines.len(),
            miner.template(logcore::template::TemplateId(id)),
            rows[lines[0]].0
        );
    }
}

/// (Content, the `group_by` column) of each row of a loghub structured CSV.
fn read_structured(path: &Path, group_by: &str) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)?;
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().context("empty file")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no {name} column"))
    };
    let (content, event) = (column("Content")?, column(group_by)?);
    records
        .enumerate()
        .map(|(i, r)| match (r.get(content), r.get(event)) {
            (Some(c), Some(e)) => Ok((c.clone(), e.clone())),
            _ => bail!("row {} has {} fields", i + 2, r.len()),
        })
        .collect()
}

/// RFC 4180 CSV: quoted fields may hold commas, newlines and `""`.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}
