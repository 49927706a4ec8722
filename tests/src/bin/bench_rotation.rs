//! Lines lost and duplicated under real logrotate, per mode: `syslog` and
//! `auth.log` rotated every 300 ms while numbered lines are written at
//! `--rate` lines/s (`logq_tests::rotation`, the same driver as the test
//! in tests/it/rotation.rs, which requires 0 at 20,000 lines/s). Prints one
//! line per mode; the target is 0 lost and 0 duplicated.
//!
//! ```sh
//! cargo build --release --bins && target/release/bench-rotation [--rate 50000] [--seconds 10] [--mode NAME] [--agentd PATH]
//! ```
//! `--agentd` measures another build (an older release, say) in the same
//! run conditions; `--keep DIR` keeps each mode's logs, rotated files,
//! agent and collector in `DIR/MODE` to look at what was lost.

use std::path::PathBuf;
use std::process::ExitCode;

use logq_tests::rotation::{logrotate_installed, run, Mode, Torture, LOGROTATE};

fn main() -> ExitCode {
    let mut rate = 50_000u64;
    let mut seconds = 10u64;
    let mut modes: Vec<Mode> = Mode::ALL.to_vec();
    let mut agentd: Option<PathBuf> = None;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--rate" => rate = value().parse().unwrap_or(rate),
            "--seconds" => seconds = value().parse().unwrap_or(seconds),
            "--mode" => {
                let name = value();
                modes = Mode::ALL.into_iter().filter(|m| m.name() == name).collect();
                if modes.is_empty() {
                    eprintln!("bench-rotation: error: no mode {name:?}");
                    return ExitCode::from(2);
                }
            }
            "--agentd" => agentd = Some(PathBuf::from(value())),
            "--keep" => keep = Some(PathBuf::from(value())),
            other => {
                eprintln!(
                    "bench-rotation: error: unknown argument {other:?}\nusage: bench-rotation [--rate N] [--seconds N] [--mode create|copytruncate|compress+delaycompress|mixed] [--agentd PATH] [--keep DIR]"
                );
                return ExitCode::from(2);
            }
        }
    }
    if !logrotate_installed() {
        println!("bench-rotation: skipped: logrotate is not installed ({LOGROTATE})");
        return ExitCode::SUCCESS;
    }
    for (i, mode) in modes.into_iter().enumerate() {
        let tmp = tempfile::tempdir().expect("create a temporary directory");
        let dir = match &keep {
            Some(k) => k.join(mode.name()),
            None => tmp.path().to_owned(),
        };
        std::fs::create_dir_all(&dir).expect("create the run's directory");
        let t = Torture {
            mode,
            rate,
            lines: rate * seconds,
            agentd: agentd.clone(),
            seed: i as u64 + 1,
        };
        let o = run(&dir, &t);
        println!(
            "mode={} rate={rate} lines={} lost={} duplicated={} unexpected={} in_no_file={} lost_from_files={} truncates={} last_write_before_truncate_lines={} lost_outside_those={} logrotate_runs={} rotated_files={} logrotate_errors={} write_s={:.1} total_s={:.1}",
            mode.name(),
            t.lines,
            o.lost(),
            o.duplicated(),
            o.unexpected(),
            o.in_no_file(),
            o.lost_from_files(),
            o.truncates(),
            o.at_risk_lines(),
            o.lost_outside_risk(),
            o.logrotate_runs,
            o.rotated_files,
            o.logrotate_errors.len(),
            o.write_seconds,
            o.total_seconds,
        );
        if o.lost() > 0 {
            let first = |l: &logq_tests::rotation::Log| {
                l.counts
                    .missing
                    .iter()
                    .take(10)
                    .copied()
                    .collect::<Vec<_>>()
            };
            println!(
                "  first missing: syslog {:?}, auth.log {:?}",
                first(&o.syslog),
                first(&o.auth)
            );
        }
    }
    ExitCode::SUCCESS
}
