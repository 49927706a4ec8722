//! A log writer that rotates its file the ways logrotate does, for the
//! delivery tests.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logq_tests::numbered_line;

#[derive(Clone, Copy, Debug)]
pub enum Rotation {
    /// `mv file file.N; create file` (logrotate's default).
    RenameCreate,
    /// `cp file file.N; truncate file` (logrotate's copytruncate).
    CopyTruncate,
}

pub struct Plan {
    pub path: PathBuf,
    pub tag: &'static str,
    pub lines: u64,
    pub rotate_every: u64,
    pub rotation: Rotation,
    /// Lines per second, roughly; the writer pauses between chunks of 1,000.
    pub rate: u64,
}

/// Writes `plan.lines` numbered lines, rotating as planned, then one line
/// with the word `finish<tag>`. `progress` counts the lines written.
pub fn write(plan: &Plan, progress: &Arc<AtomicU64>) {
    let open = |p: &Path| {
        BufWriter::with_capacity(
            1 << 16,
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("open log"),
        )
    };
    let mut out = open(&plan.path);
    let mut generation = 0;
    let started = Instant::now();
    for n in 0..plan.lines {
        if n > 0 && n % plan.rotate_every == 0 {
            out.flush().expect("flush log");
            generation += 1;
            let rotated = plan.path.with_extension(format!("log.{generation}"));
            match plan.rotation {
                Rotation::RenameCreate => {
                    fs::rename(&plan.path, &rotated).expect("rename log");
                    out = open(&plan.path);
                }
                Rotation::CopyTruncate => {
                    fs::copy(&plan.path, &rotated).expect("copy log");
                    File::options()
                        .write(true)
                        .open(&plan.path)
                        .expect("open for truncate")
                        .set_len(0)
                        .expect("truncate");
                    // Like a program that opened its log with O_APPEND: it
                    // writes at the new end of the file.
                }
            }
        }
        writeln!(out, "{}", numbered_line(plan.tag, n)).expect("write log");
        if n % 1000 == 999 {
            out.flush().expect("flush log");
            progress.fetch_add(1000, Ordering::Relaxed);
            let due = Duration::from_secs_f64((n + 1) as f64 / plan.rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
    }
    writeln!(out, "Nov 24 22:20:02 testhost app[7]: finish{}", plan.tag).expect("write log");
    out.flush().expect("flush log");
    progress.fetch_add(plan.lines % 1000, Ordering::Relaxed);
}
