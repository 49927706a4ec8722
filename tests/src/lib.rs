//! Runs the real programs for the end-to-end tests and the benchmarks:
//! collectord on 127.0.0.1 port 0, agentd pointed at it, logq over the data
//! directory, each in a directory of its own.

mod agent;
pub mod authgen;
pub mod corpus;
pub mod fleet;
mod logq;
pub mod notify;
mod numbered;
pub mod reference;
mod require;
pub mod rotation;

pub use agent::Agent;
pub use logq::{count, logq, logq_command};
pub use numbered::{check_numbers, count_numbers, numbered_line, Counts};
pub use require::{required, skip_unless_required};

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::notify::Notifications;

/// The path of one of the workspace's programs, built next to the test binary
/// (`cargo build --release --bins` before `cargo test --release`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    // target/<profile>/deps/it-HASH, or target/<profile>/bench-ingest
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{name} is not built next to {}; run `cargo build --release --bins` first",
        exe.display()
    );
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP connection to `to` from the loopback address `ip` (all of 127/8
/// is loopback on Linux): for the tests of per-source limits.
pub fn connect_from(
    ip: std::net::Ipv4Addr,
    to: SocketAddr,
) -> std::io::Result<std::net::TcpStream> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(to) = to else {
        return Err(std::io::Error::other("connect_from is IPv4 only"));
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(std::net::SocketAddrV4::new(ip, 0)),
    )?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(to))?;
    Ok(std::net::TcpStream::from(fd))
}

/// Peak and current resident memory of a process, in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// User + system CPU seconds a process has used so far, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn signal(child: &Child, sig: Signal) {
    let _ = kill(Pid::from_raw(child.id() as i32), sig);
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running daemon, the file its stderr goes to and what it told systemd.
/// Killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub(crate) log: PathBuf,
    /// What the daemon sent to its `NOTIFY_SOCKET`.
    pub notes: Notifications,
}

impl Daemon {
    /// SIGHUP, as `systemctl reload` sends it; then waits for RELOADING=1
    /// and the READY=1 after it. An error says what did not come.
    pub fn reload(&self, timeout: Duration) -> Result<(), String> {
        let before = self.notes.count();
        signal(&self.child, Signal::SIGHUP);
        let reloading = self
            .notes
            .wait_for(before, "RELOADING=1", timeout)
            .ok_or_else(|| format!("no RELOADING=1; notifications: {:?}", self.notes.all()))?;
        self.notes
            .wait_for(reloading + 1, "READY=1", timeout)
            .ok_or_else(|| {
                format!(
                    "no READY=1 after RELOADING=1; notifications: {:?}",
                    self.notes.all()
                )
            })?;
        Ok(())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill9(&mut self) {
        signal(&self.child, Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status if it exits within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        signal(&self.child, Signal::SIGTERM);
        wait_timeout(&mut self.child, timeout)
    }

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// A running collectord with its own data directory.
pub struct Collector {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    /// `listen` in its config file.
    listen: String,
    /// What [`Collector::start`] appended to its config file.
    extra: String,
    _stdout: BufReader<ChildStdout>,
}

impl Collector {
    /// Starts collectord in `dir` on 127.0.0.1 port 0; `extra` is appended to
    /// its config file.
    pub fn start(dir: &Path, extra: &str) -> Collector {
        Self::start_on(dir, "127.0.0.1:0", extra)
    }

    pub fn start_on(dir: &Path, listen: &str, extra: &str) -> Collector {
        fs::create_dir_all(dir).expect("create collector dir");
        let data_dir = dir.join("data");
        let config = dir.join("collectord.toml");
        write_collector_config(&config, listen, &data_dir, extra);
        let notes = Notifications::bind(&dir.join("notify.sock"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("collectord.log"))
            .expect("open collectord.log");
        let mut child = Command::new(bin("collectord"))
            .arg("--config")
            .arg(&config)
            .env("COLLECTORD_LOG", "info")
            .env("NOTIFY_SOCKET", notes.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn collectord");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read collectord stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "collectord did not say where it listens (got {line:?}); its log:\n{}",
                    fs::read_to_string(dir.join("collectord.log")).unwrap_or_default()
                )
            });
        Collector {
            daemon: Daemon {
                child,
                log: dir.join("collectord.log"),
                notes,
            },
            addr,
            dir: dir.to_owned(),
            data_dir,
            config,
            listen: listen.to_owned(),
            extra: extra.to_owned(),
            _stdout: stdout,
        }
    }

    /// The address of a syslog listener (`syslog-udp` or `syslog-tcp`), from
    /// the line collectord prints for it after `listening on`: call in the
    /// order collectord prints them (UDP first), for the listeners the
    /// config turned on.
    pub fn announced(&mut self, name: &str) -> SocketAddr {
        let mut line = String::new();
        self._stdout
            .read_line(&mut line)
            .expect("read collectord stdout");
        line.trim()
            .strip_prefix(&format!("{name} on "))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "collectord did not say where {name} is (got {line:?}); its log:\n{}",
                    self.log()
                )
            })
    }

    /// Rewrites the config file as [`Collector::start`] wrote it, with
    /// `extra` instead (for a reload).
    pub fn write_config(&self, extra: &str) {
        write_collector_config(&self.config, &self.listen, &self.data_dir, extra);
    }

    /// Starts a new collectord on the same port, data directory and
    /// config.
    pub fn restart(self) -> Collector {
        let (dir, addr, extra) = (self.dir.clone(), self.addr, self.extra.clone());
        drop(self);
        Self::start_on(&dir, &addr.to_string(), &extra)
    }

    /// Runs logq over this collector's data directory.
    pub fn logq(&self, args: &[&str]) -> Output {
        logq(&self.data_dir, args)
    }

    /// logq over this collector's data directory, ready for more arguments
    /// (see [`logq_command`]).
    pub fn logq_command(&self) -> Command {
        logq_command(&self.data_dir)
    }

    /// How many lines `logq --count ARGS` finds; panics when logq fails
    /// (see [`count`]).
    pub fn count(&self, args: &[&str]) -> u64 {
        count(&self.data_dir, args)
    }

    /// How many lines logq finds with no query (`logq --count`); panics
    /// when logq fails (see [`count`]).
    pub fn searchable_lines(&self) -> u64 {
        self.count(&[])
    }

    /// Waits until logq finds at least `lines` lines; false after `timeout`.
    pub fn wait_for_lines(&self, lines: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.searchable_lines() >= lines)
    }
}

impl std::ops::Deref for Collector {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl std::ops::DerefMut for Collector {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

fn write_collector_config(path: &Path, listen: &str, data_dir: &Path, extra: &str) {
    fs::write(
        path,
        format!(
            "listen = \"{listen}\"\ndata-dir = \"{}\"\n{extra}\n",
            data_dir.display()
        ),
    )
    .expect("write collectord.toml");
}

/// One value for the tests that run at the same time: the first of them
/// builds it, the others share it, and it is dropped (its daemons killed,
/// its directory removed) when the last of them is done. A `static` of a
/// value would never be dropped, and its daemons would outlive the tests.
pub struct Shared<T>(Mutex<Weak<T>>);

impl<T> Shared<T> {
    pub const fn new() -> Shared<T> {
        Shared(Mutex::new(Weak::new()))
    }

    /// The shared value, built with `make` if no test holds it now.
    pub fn get(&self, make: impl FnOnce() -> T) -> Arc<T> {
        // A test that panicked while building leaves nothing behind to
        // distrust: the next one builds anew.
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = slot.upgrade() {
            return value;
        }
        let value = Arc::new(make());
        *slot = Arc::downgrade(&value);
        value
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of the files below `path` (benchmarks: what is on disk).
pub fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir(path) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            total += if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

/// The `p` quantile (0..=1) of `sorted`, NaN when it is empty (benchmarks).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
