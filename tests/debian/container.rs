//! A booted Debian 12 for the package test: a minimal root filesystem made
//! once with debootstrap and cached, copied for each run, booted with
//! systemd-nspawn (systemd as PID 1, journald, its own network namespace
//! with only a loopback), and entered with nsenter.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The packages the cached root filesystem has beyond `minbase`: systemd as
/// init, rsyslog so that `/var/log/auth.log` exists (until agentd reads the
/// journal), man-db for `man`, adduser for the maintainer scripts.
const INCLUDE: &str = "systemd,systemd-sysv,dbus,rsyslog,man-db,adduser";
/// Downloaded into apt's cache but not installed: the packages' dependencies
/// that minbase lacks, so that `apt install ./pkg.deb` resolves and
/// installs them for real inside a container that has no network.
const DOWNLOAD: &str = "procps";
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

/// The cached root filesystem, made on first use. Its name carries the
/// package list, so changing [`INCLUDE`] makes a new one.
pub fn cached_rootfs() -> Result<PathBuf, String> {
    let cache = std::env::var_os("LOGQ_ROOTFS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/logq-tests"));
    let tag = fnv1a(&format!("{INCLUDE} {DOWNLOAD}"));
    let rootfs = cache.join(format!("{SUITE}-minbase-{tag:016x}"));
    if rootfs.join("usr/lib/systemd/systemd").exists() {
        return Ok(rootfs);
    }
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let partial = cache.join(format!("partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    eprintln!(
        "debian: making the cached root filesystem {} (debootstrap, about a minute)",
        rootfs.display()
    );
    let started = Instant::now();
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
        .arg(&partial)
        .arg(MIRROR)
        .output()
        .map_err(|e| format!("cannot run debootstrap: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&partial);
        return Err(format!(
            "debootstrap failed ({}):\n{}",
            out.status,
            tail(&out.stdout, 20)
        ));
    }
    let out = Command::new("chroot")
        .arg(&partial)
        .args([
            "apt-get",
            "install",
            "-y",
            "-q",
            "--download-only",
            DOWNLOAD,
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("cannot run chroot: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&partial);
        return Err(format!(
            "apt-get --download-only {DOWNLOAD} failed ({}):\n{}",
            out.status,
            tail(&out.stdout, 20)
        ));
    }
    // Another run may have finished first; either copy is good.
    if fs::rename(&partial, &rootfs).is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    eprintln!(
        "debian: root filesystem ready in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(rootfs)
}

/// A running container. Dropping it powers it off and removes its copy of
/// the root filesystem.
pub struct Container {
    dir: PathBuf,
    nspawn: Child,
    init: Pid,
    log: PathBuf,
}

impl Container {
    /// Copies `rootfs` under `work`, names the machine `hostname`, boots it
    /// and waits until systemd reports the boot finished.
    pub fn boot(rootfs: &Path, work: &Path, hostname: &str) -> Result<Container, String> {
        let dir = work.join("rootfs");
        run(Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(rootfs)
            .arg(&dir))?;
        fs::write(dir.join("etc/hostname"), format!("{hostname}\n"))
            .map_err(|e| format!("cannot write /etc/hostname: {e}"))?;
        let log = work.join("nspawn.log");
        let log_file = fs::File::create(&log).map_err(|e| e.to_string())?;
        let nspawn = Command::new("systemd-nspawn")
            .arg("-D")
            .arg(&dir)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--console=pipe",
                "--quiet",
            ])
            .arg(format!("--machine={hostname}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot run systemd-nspawn: {e}"))?;
        let mut container = Container {
            dir,
            init: Pid::from_raw(0),
            nspawn,
            log,
        };
        container.init = container.find_init()?;
        // `--wait` blocks until the boot is done (or failed), once systemd
        // answers on its private socket at all, which takes a moment.
        let deadline = Instant::now() + Duration::from_secs(60);
        let state = loop {
            let out = container.sh("timeout 60 systemctl is-system-running --wait");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !state.is_empty() || Instant::now() > deadline {
                break format!("{state}{}", String::from_utf8_lossy(&out.stderr).trim());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if state != "running" {
            let failed = container.sh("systemctl --failed --no-pager");
            return Err(format!(
                "the container did not boot cleanly: {state}\n{}",
                String::from_utf8_lossy(&failed.stdout)
            ));
        }
        Ok(container)
    }

    /// systemd-nspawn's child is the container's init; it appears within
    /// moments of the start.
    fn find_init(&mut self) -> Result<Pid, String> {
        let parent = self.nspawn.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(pid) = child_of(parent) {
                // nsenter needs the namespaces set up: wait for the boot to
                // have started (PID 1 inside is systemd).
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return Ok(Pid::from_raw(pid as i32));
                }
            }
            if let Ok(Some(status)) = self.nspawn.try_wait() {
                return Err(format!(
                    "systemd-nspawn exited ({status}):\n{}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("the container's init did not start within 30 s".into())
    }

    /// The root filesystem as the host sees it, to put files in.
    pub fn path(&self, inside: &str) -> PathBuf {
        self.dir.join(inside.trim_start_matches('/'))
    }

    /// Runs a shell script inside as root, with a clean environment.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .arg("-t")
            .arg(self.init.to_string())
            .args(["-a", "--wdns=/", "--", "env", "-i"])
            .args([
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "LANG=C.UTF-8",
                "TERM=dumb",
                "SYSTEMD_PAGER=",
                "SYSTEMD_COLORS=0",
                "DEBIAN_FRONTEND=noninteractive",
                "sh",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("nsenter runs")
    }

    /// [`Self::sh`] that must succeed; returns its standard output.
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        if !out.status.success() {
            // A failed systemctl job is explained in the journal.
            let journal = self.sh("journalctl -n 30 --no-pager -o short-monotonic");
            panic!(
                "inside the container, `{script}` failed ({}):\nstdout:\n{}\nstderr:\n{}\nthe journal's end:\n{}",
                out.status,
                tail(&out.stdout, 40),
                tail(&out.stderr, 40),
                tail(&journal.stdout, 30)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One property of a unit, as `systemctl show -P` prints it.
    pub fn unit(&self, unit: &str, property: &str) -> String {
        self.ok(&format!("systemctl show -P {property} {unit}"))
            .trim()
            .to_owned()
    }

    /// The unit's journal since `cursor` (from [`Self::cursor`]; empty: all of
    /// it).
    pub fn journal(&self, unit: &str, cursor: &str) -> String {
        let after = if cursor.is_empty() {
            String::new()
        } else {
            format!("--after-cursor='{cursor}'")
        };
        self.ok(&format!("journalctl -u {unit} --no-pager -o cat {after}"))
    }

    /// The journal's current end, to read only what follows.
    pub fn cursor(&self) -> String {
        let out = self.ok("journalctl -n 0 --show-cursor --no-pager -q");
        out.lines()
            .find_map(|l| l.strip_prefix("-- cursor: "))
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGRTMIN+4 asks systemd for a clean poweroff. nix has no
        // real-time signals and libc::kill is unsafe: kill(1) sends it.
        let sent = Command::new("kill")
            .arg(format!("-{}", libc::SIGRTMIN() + 4))
            .arg(self.init.to_string())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut exited = false;
        while sent && Instant::now() < deadline {
            if matches!(self.nspawn.try_wait(), Ok(Some(_))) {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !exited {
            let _ = kill(Pid::from_raw(self.nspawn.id() as i32), Signal::SIGKILL);
            let _ = self.nspawn.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The first child of `parent`, from /proc.
fn child_of(parent: u32) -> Option<u32> {
    let mut children = String::new();
    let path = format!("/proc/{parent}/task/{parent}/children");
    fs::File::open(path)
        .ok()?
        .read_to_string(&mut children)
        .ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{}",
            out.status,
            tail(&out.stderr, 20)
        ))
    }
}

/// The last `lines` lines of an output, for failure messages.
pub fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A stable tag for the package list.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
