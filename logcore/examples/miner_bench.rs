//! The template miner alone on a corpus file, one thread: the time per
//! line of `TemplateMiner::add_id` on the messages of its lines (parsed
//! as collectord parses them), and how many templates it ends with.
//! A quiet, repeatable figure for work on the miner, which the end to end
//! benchmarks measure only among the collector's other threads.
//!
//! ```text
//! cargo run --release -p logcore --example miner_bench -- CORPUS [LINES]
//! ```

// A benchmark program: a panic is its report that something it needs failed.
#![allow(clippy::unwrap_used)]

use std::io::BufRead;
use std::time::Instant;

use logcore::parse::parse_line;
use logcore::template::{MinerConfig, TemplateMiner};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: miner_bench CORPUS [LINES]");
    let limit: usize = args.next().map_or(usize::MAX, |n| n.parse().unwrap());
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let lines: Vec<String> = file.lines().take(limit).map(|l| l.unwrap()).collect();
    let messages: Vec<&str> = lines.iter().map(|l| parse_line(l, 0, 0).message).collect();
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let start = Instant::now();
    let mut new = 0usize;
    for m in &messages {
        new += usize::from(miner.add_id(m).1);
    }
    let took = start.elapsed();
    println!(
        "{} messages, {:.0} ns per message, {} templates ({} new events)",
        messages.len(),
        took.as_nanos() as f64 / messages.len() as f64,
        miner.len(),
        new
    );
}
