//! Real logrotate against a real agentd: `syslog` and `auth.log` rotated
//! every 300 ms while 20,000 numbered lines/s are written to them (200,000
//! in all), in each of logrotate's ways; then everything is read back with
//! logq. A user would otherwise miss lines around each nightly rotation or
//! see them twice. `create` and `compress`+`delaycompress` must lose and
//! double nothing; with copytruncate (always, or in the random mix) no line
//! a file still holds may be lost and none doubled, and agentd must have
//! read at least four fifths of what each truncate destroyed before it
//! did (see `torture`). The driver is `logq_tests::rotation`;
//! `bench-rotation` prints the figures, at other rates too.

use std::sync::Mutex;

use logq_tests::rotation::{logrotate_installed, run, Mode, Torture, LOGROTATE};
use logq_tests::skip_unless_required;

/// One torture at a time: each loads both cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn torture(mode: Mode, seed: u64) {
    if !logrotate_installed()
        && skip_unless_required(
            "LOGQ_REQUIRE_LOGROTATE",
            &format!("logrotate is not installed ({LOGROTATE})"),
        )
    {
        return;
    }
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let t = Torture {
        mode,
        rate: 20_000,
        lines: 200_000,
        agentd: None,
        seed,
    };
    let o = run(tmp.path(), &t);
    assert!(
        o.logrotate_errors.is_empty(),
        "logrotate failed: {:?}",
        o.logrotate_errors
    );
    // The torture tortured: logrotate ran all along and left rotated files.
    assert!(
        o.logrotate_runs >= 20 && o.rotated_files >= 20,
        "{} logrotate runs, {} rotated files",
        o.logrotate_runs,
        o.rotated_files
    );
    let figures = format!(
        "{}: {} lost (first {:?} / {:?}), {} duplicated, {} unexpected; {} lines in no file on disk (destroyed by copytruncate), {} of the lost ones a file still holds; {} logrotate runs",
        mode.name(),
        o.lost(),
        first(&o.syslog.counts.missing),
        first(&o.auth.counts.missing),
        o.duplicated(),
        o.unexpected(),
        o.in_no_file(),
        o.lost_from_files(),
        o.logrotate_runs,
    );
    println!("{figures}");
    let fail = |why: &str| -> ! { panic!("{why}: {figures}; agent log:\n{}", o.agent_log) };
    if (o.duplicated(), o.unexpected()) != (0, 0) {
        fail("lines duplicated or garbled");
    }
    // Lines a file on disk still holds (the logs, every rotated file,
    // gzipped ones read through) must all arrive, whatever the mode.
    if o.lost_from_files() != 0 {
        fail("lines lost that a file still holds");
    }
    if !mode.truncates() {
        if o.lost() != 0 {
            fail("lines lost without copytruncate");
        }
        return;
    }
    // copytruncate destroys what is written between the end of logrotate's
    // copy and its truncate (a few milliseconds: the copy's fsync); only a
    // read within that slice saves it (logrotate(8) warns of it). agentd
    // reads as lines are written, so it saves nearly all of them; on this
    // shared 2-core machine a busy CPU still delays it past a slice now and
    // then (measured: 4-6 % of those lines lost; the agentd that stopped
    // reading while it waited for ACKs lost 26 % in the same conditions).
    // The target is 0 (`bench-rotation` prints it); this bound is what
    // holds under load without fail.
    if o.lost() * 5 > o.in_no_file() {
        fail("more than a fifth of the lines copytruncate destroyed were never read");
    }
}

/// The first few of `numbers`.
fn first(numbers: &[u64]) -> &[u64] {
    &numbers[..numbers.len().min(10)]
}

#[test]
fn logrotate_create_loses_and_doubles_nothing() {
    torture(Mode::Create, 1);
}

#[test]
fn logrotate_copytruncate_loses_and_doubles_nothing() {
    torture(Mode::CopyTruncate, 2);
}

#[test]
fn logrotate_compress_delaycompress_loses_and_doubles_nothing() {
    torture(Mode::CompressDelay, 3);
}

#[test]
fn logrotate_mixed_modes_lose_and_double_nothing() {
    torture(Mode::Mixed, 4);
}
