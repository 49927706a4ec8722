//! The journal input: `journalctl --output=json --all --follow` as a child
//! process, read by a thread that turns each entry into a line
//! ([`entry`]) and hands it to the tailer through a bounded channel.
//!
//! - Identity: the stream is the cursor's sequence-number id (`s=`), the
//!   offset its sequence number (`i=`), the span 1, so an entry read again
//!   has the same (stream, offset) and the collector drops it. journald
//!   keeps one seqnum counter for the system and user journals; a new seqnum
//!   id (the journal files were all removed, or another machine's journal)
//!   is a new stream. A checkpoint cursor of a seqnum id no journal file
//!   has any more makes journalctl seek by its time (`t=`): the first entry
//!   is not the cursor's, so the warning below is logged and reading goes
//!   on from the oldest entry after that time.
//! - Place: the checkpoint is the cursor of the last acknowledged entry
//!   (`checkpoint.rs`). journalctl starts at it with `--cursor`; the first
//!   entry is that one and is skipped. When it is another (the entry was
//!   vacuumed), a warning says so and reading goes on from there.
//! - Never stop: journalctl's stderr lines become warnings, a malformed
//!   line is logged and skipped, and a journalctl that exits is started
//!   again from the last entry read, after a backoff (what was read twice,
//!   the collector drops).
//! - Back-pressure: the channel is bounded; when the tailer stops taking
//!   entries (the shipper has no room) the thread blocks, stops reading the
//!   pipe, and journalctl blocks writing to it. The journal is the buffer.

pub mod entry;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tracing::{debug, info, warn};

use crate::config::{Config, JournalMode, StartAt};
use crate::signals::Waker;
pub use entry::Entry;

/// Entries between the reader thread and the tailer.
const CHANNEL_ENTRIES: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A JSON line longer than this is skipped (journald's own limit on an
/// entry is far below it).
const MAX_JSON_LINE: usize = 64 * 1024 * 1024;

/// The directories that make `journal = "auto"` read the system journal.
const SYSTEM_JOURNALS: [&str; 2] = ["/run/log/journal", "/var/log/journal"];

/// What `journal` and `journal-directory` ask for on this machine: the
/// path lines ship with, or `None` when the journal is not read.
pub fn source(cfg: &Config) -> Result<Option<String>> {
    let wanted = match cfg.journal {
        JournalMode::Off => false,
        JournalMode::On => true,
        JournalMode::Auto => {
            cfg.journal_directory.is_some() || SYSTEM_JOURNALS.iter().any(|d| Path::new(d).is_dir())
        }
    };
    if !wanted {
        return Ok(None);
    }
    if find_journalctl().is_none() {
        if cfg.journal == JournalMode::On {
            bail!("journal = true, but journalctl is not installed (not found in PATH)");
        }
        info!("The journal is not read: journalctl is not installed.");
        return Ok(None);
    }
    Ok(Some(match &cfg.journal_directory {
        Some(dir) => format!("journal:{}", dir.display()),
        None => "journal".to_owned(),
    }))
}

fn find_journalctl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join("journalctl"))
        .find(|p| p.is_file())
}

/// The running journal reader.
pub struct Journal {
    /// `journal` or `journal:DIR`: the path the lines ship with.
    pub source: String,
    rx: Receiver<Entry>,
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Journal {
    /// Starts journalctl at `cursor` (the checkpoint), else per `start-at`.
    pub fn start(
        cfg: &Config,
        source: String,
        cursor: Option<String>,
        waker: Waker,
    ) -> Result<Journal> {
        let (tx, rx) = sync_channel(CHANNEL_ENTRIES);
        let stop = Arc::new(AtomicBool::new(false));
        let child = Arc::new(Mutex::new(None));
        let reader = Reader {
            directory: cfg.journal_directory.clone(),
            host: cfg.host.clone(),
            from_end: cfg.start_at == StartAt::End,
            source: source.clone(),
            cursor,
            tx,
            waker,
            stop: Arc::clone(&stop),
            child: Arc::clone(&child),
        };
        info!(source, resume_at = ?reader.cursor, "Reading the journal.");
        std::thread::Builder::new()
            .name("agentd-journal".into())
            .spawn(move || reader.run())
            .context("cannot start the journal reader thread")?;
        Ok(Journal {
            source,
            rx,
            stop,
            child,
        })
    }

    /// The next entry read, if any, without waiting.
    pub fn try_next(&self) -> Option<Entry> {
        // Disconnected only when the reader thread ended, which it does
        // only on stop.
        self.rx.try_recv().ok()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(child) = lock(&self.child).as_mut() {
            let _ = child.kill();
        }
    }
}

fn lock(child: &Mutex<Option<Child>>) -> std::sync::MutexGuard<'_, Option<Child>> {
    child
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Reader {
    directory: Option<PathBuf>,
    host: String,
    from_end: bool,
    source: String,
    /// The last entry read (or the checkpoint's, before any).
    cursor: Option<String>,
    tx: SyncSender<Entry>,
    waker: Waker,
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

/// How one run of journalctl ended.
enum Ended {
    /// The tailer is gone or stopping.
    Stop,
    /// journalctl exited or its pipe failed; `read` entries were read.
    Exited { why: String, read: u64 },
}

impl Reader {
    fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let (why, read) = match self.run_once() {
                Ended::Stop => return,
                Ended::Exited { why, read } => (why, read),
            };
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if read > 0 {
                backoff = BACKOFF_MIN;
            }
            warn!(
                source = %self.source,
                reason = why,
                retry_in_ms = backoff.as_millis() as u64,
                "journalctl stopped; starting it again from the last entry read."
            );
            let until = Instant::now() + backoff;
            while Instant::now() < until {
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn command(&self) -> Command {
        // When agentd dies without stopping it (SIGKILL), journalctl ends
        // at its next write to the closed pipe; under systemd the whole
        // cgroup is killed anyway. (setpriv --pdeathsig cannot run under
        // the unit's empty capability bounding set, and prctl in the child
        // would need unsafe code.)
        let mut cmd = Command::new("journalctl");
        // --merge: journalctl --follow otherwise shows the current boot
        // only, so the entries of the previous boot written after the last
        // acknowledgement would be skipped after a reboot (and a sandboxed
        // unit in a container, which sees the host's boot id, would get
        // nothing at all). It also opens journals other than the local
        // machine's (systemd-journal-remote's), documented under `journal`.
        cmd.args([
            "--output=json",
            "--all",
            "--follow",
            "--no-pager",
            "--merge",
        ]);
        if let Some(dir) = &self.directory {
            cmd.arg("--directory").arg(dir);
        }
        match &self.cursor {
            Some(c) => {
                cmd.arg(format!("--cursor={c}")).arg("--no-tail");
            }
            None if self.from_end => {
                cmd.arg("--lines=0");
            }
            None => {
                cmd.arg("--no-tail");
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run_once(&mut self) -> Ended {
        let mut child = match self.command().spawn() {
            Ok(c) => c,
            Err(e) => {
                return Ended::Exited {
                    why: format!("cannot run journalctl: {e}"),
                    read: 0,
                }
            }
        };
        let stdout = child.stdout.take().expect("stdout was piped");
        if let Some(stderr) = child.stderr.take() {
            let source = self.source.clone();
            let _ = std::thread::Builder::new()
                .name("agentd-journalctl-stderr".into())
                .spawn(move || log_stderr(stderr, &source));
        }
        *lock(&self.child) = Some(child);
        if self.stop.load(Ordering::SeqCst) {
            self.reap();
            return Ended::Stop;
        }
        // With --cursor, journalctl starts at that entry if it still exists.
        let mut expect = self.cursor.clone();
        let mut input = BufReader::with_capacity(256 * 1024, stdout);
        let mut line = Vec::new();
        let mut read = 0u64;
        let why = loop {
            line.clear();
            match (&mut input)
                .take(MAX_JSON_LINE as u64)
                .read_until(b'\n', &mut line)
            {
                Ok(0) => break "its output ended".to_owned(),
                Ok(_) => {}
                Err(e) => break format!("cannot read its output: {e}"),
            }
            if line.last() != Some(&b'\n') && line.len() >= MAX_JSON_LINE {
                warn!(source = %self.source, "Skipped a journal entry longer than 64 MiB.");
                // Skip the rest of that line.
                let mut rest = Vec::new();
                let _ = input.read_until(b'\n', &mut rest);
                continue;
            }
            let entry = match entry::parse(&line, &self.host) {
                Ok(e) => e,
                Err(e) => {
                    warn!(source = %self.source, error = %e, "Skipped a line from journalctl that is not a journal entry.");
                    continue;
                }
            };
            if let Some(c) = expect.take() {
                if entry.cursor == c {
                    continue;
                }
                warn!(
                    source = %self.source,
                    cursor = c,
                    resumed_at = entry.cursor,
                    "journal cursor {c} no longer exists; resuming at the oldest entry after it."
                );
            }
            self.cursor = Some(entry.cursor.clone());
            read += 1;
            if self.tx.send(entry).is_err() {
                self.reap();
                return Ended::Stop;
            }
            self.waker.wake();
        };
        let status = self.reap();
        if self.stop.load(Ordering::SeqCst) {
            return Ended::Stop;
        }
        Ended::Exited {
            why: match status {
                Some(s) => format!("{why} ({s})"),
                None => why,
            },
            read,
        }
    }

    /// Ends and waits for the child; its exit status when it had one.
    fn reap(&self) -> Option<String> {
        let mut child = lock(&self.child).take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.to_string());
        }
        if self.stop.load(Ordering::SeqCst) {
            let _ = child.kill();
        }
        child.wait().ok().map(|s| s.to_string())
    }
}

fn log_stderr(stderr: impl Read, source: &str) {
    for line in BufReader::new(stderr).split(b'\n') {
        let Ok(line) = line else { return };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if !text.is_empty() {
            warn!(source, message = %text, "journalctl said something on stderr.");
        }
    }
    debug!(source, "journalctl's stderr closed.");
}
