//! A seeded, realistic syslog corpus: many hosts and programs, sshd, sudo,
//! cron, kernel and systemd messages, about 130 bytes a line, stamped the way
//! Debian 12's rsyslog writes `/var/log/syslog` (RFC 3339, microseconds).
//!
//! Real logs have rare words, and searches are mostly for them: about one
//! line in 100,000 is a kernel `segfault`, one in 20,000 an `Out of memory:
//! Killed process`, one in 2,000 an sshd `error: maximum authentication
//! attempts exceeded`. `password` (sshd's `Failed password`) is the common
//! word: about 2.5% of lines ([`COMMON_WORD_SHARE`]).
//!
//! Options (all off by default, so that the plain corpus stays what
//! `bench-ingest` measures): [`Corpus::with_priorities`] puts a syslog
//! `<PRI>` before the stamp of a share of lines, [`Corpus::with_odd_lines`]
//! mixes in lines with terminal escapes, invalid UTF-8, NUL bytes, and lines
//! without any header.

use std::io::{self, Write};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const USERS: [&str; 12] = [
    "root", "admin", "deploy", "alice", "bob", "carol", "www-data", "postgres", "backup",
    "jenkins", "oracle", "test",
];
const UNITS: [&str; 8] = [
    "nginx.service",
    "postgresql.service",
    "cron.service",
    "ssh.service",
    "docker.service",
    "systemd-tmpfiles-clean.service",
    "apt-daily.service",
    "logrotate.service",
];

/// The word in about 2.5% of lines (sshd's `Failed password`).
pub const COMMON_WORD: &str = "password";
/// The share of lines with [`COMMON_WORD`].
pub const COMMON_WORD_SHARE: f64 = 0.025;
/// One line in this many is a kernel segfault (the word `segfault`).
pub const SEGFAULT_EVERY: u64 = 100_000;
/// One line in this many is an `Out of memory: Killed process`.
pub const OOM_EVERY: u64 = 20_000;
/// One line in this many is sshd's `error: maximum authentication attempts
/// exceeded for root ... [preauth]`.
pub const MAX_AUTH_EVERY: u64 = 2_000;

// Syslog facilities (RFC 5424 numbers) and severities for `<PRI>`.
const KERN: u8 = 0;
const MAIL: u8 = 2;
const DAEMON: u8 = 3;
const AUTH: u8 = 4;
const CRON: u8 = 9;
const AUTHPRIV: u8 = 10;
const LOCAL7: u8 = 23;
const CRIT: u8 = 2;
const ERR: u8 = 3;
const WARNING: u8 = 4;
const NOTICE: u8 = 5;
const INFO: u8 = 6;
const DEBUG: u8 = 7;

pub struct Corpus {
    rng: StdRng,
    hosts: Vec<String>,
    /// Seconds since the corpus start; advances a little every line.
    clock: f64,
    /// Share of lines written with a `<PRI>` prefix.
    priorities: f64,
    /// Share of lines that are odd (see [`Corpus::with_odd_lines`]).
    odd: f64,
    /// The line after its header, built before the header is written.
    buf: Vec<u8>,
}

impl Corpus {
    pub fn new(seed: u64, hosts: usize) -> Corpus {
        let hosts = (0..hosts)
            .map(|i| {
                format!(
                    "{}{}",
                    ["web", "db", "app", "cache", "lb"][i % 5],
                    i / 5 + 1
                )
            })
            .collect();
        Corpus {
            rng: StdRng::seed_from_u64(seed),
            hosts,
            clock: 0.0,
            priorities: 0.0,
            odd: 0.0,
            buf: Vec::with_capacity(256),
        }
    }

    /// Writes a syslog `<PRI>` (facility and severity of the line's kind,
    /// now and then another severity, so that every level occurs) before
    /// the stamp of about `fraction` of the lines, as a network syslog
    /// sender does; `logcore::parse` reads it as facility and severity.
    pub fn with_priorities(mut self, fraction: f64) -> Corpus {
        self.priorities = fraction;
        self
    }

    /// Makes about `fraction` of the lines odd, in four kinds of equal
    /// share: a message with an ANSI colour sequence (ESC), one with bytes
    /// that are not UTF-8, one with a NUL byte, and a line with no syslog
    /// header or stamp at all (the collector stamps it with its receive time
    /// and the agent's host).
    pub fn with_odd_lines(mut self, fraction: f64) -> Corpus {
        self.odd = fraction;
        self
    }

    /// The host names lines are from: `web1`, `db1`, `app1`, `cache1`,
    /// `lb1`, `web2`, ...
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// A peer address. Real servers see the same peers again and again (a
    /// few scanners and clients make most lines), so addresses come from a
    /// pool of 50,000 with a skew towards the first ones, not uniformly from
    /// all of IPv4 (which would make nearly every address a new word).
    fn ip(&mut self) -> String {
        let u: f64 = self.rng.gen();
        let n = (u * u * 50_000.0) as u64;
        let h = xorshift(n + 1);
        format!(
            "{}.{}.{}.{}",
            1 + h % 223,
            (h >> 8) % 256,
            (h >> 16) % 256,
            1 + (h >> 24) % 254
        )
    }

    /// Writes one line (with its newline).
    pub fn line(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.clock += self.rng.gen_range(0.0..0.02);
        let secs = self.clock as u64;
        let micros = ((self.clock - secs as f64) * 1e6) as u64;
        let (day, h, m, s) = (
            1 + (secs / 86_400) % 28,
            (secs / 3600) % 24,
            (secs / 60) % 60,
            secs % 60,
        );
        let host = self.hosts[self.rng.gen_range(0..self.hosts.len())].clone();
        let pid = self.rng.gen_range(300..65_000);
        let user = USERS[self.rng.gen_range(0..USERS.len())];
        if self.odd > 0.0 && self.rng.gen_bool(self.odd) {
            return self.odd_line(out, (day, h, m, s, micros), &host, pid, user);
        }
        let mut body = std::mem::take(&mut self.buf);
        body.clear();
        let (facility, severity) = self.body(&mut body, pid, user)?;
        if self.priorities > 0.0 && self.rng.gen_bool(self.priorities) {
            // Now and then another level, so that filters on every level
            // have lines to find.
            let severity = if self.rng.gen_range(0..10) == 0 {
                self.rng.gen_range(0..8)
            } else {
                severity
            };
            write!(out, "<{}>", facility * 8 + severity)?;
        }
        write!(
            out,
            "2026-11-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}+00:00 {host} "
        )?;
        out.write_all(&body)?;
        self.buf = body;
        Ok(())
    }

    /// Writes the program, message and newline of an ordinary line; returns
    /// the facility and severity a syslog sender would give it.
    fn body(&mut self, out: &mut Vec<u8>, pid: u32, user: &str) -> io::Result<(u8, u8)> {
        let rare = self.rng.gen_range(0..SEGFAULT_EVERY);
        if rare < SEGFAULT_EVERY / MAX_AUTH_EVERY + SEGFAULT_EVERY / OOM_EVERY + 1 {
            return self.rare(out, rare, pid);
        }
        Ok(match self.rng.gen_range(0..100) {
            0..=24 => {
                let ip = self.ip();
                let port = self.rng.gen_range(1024..65_535);
                // "Failed password" is a tenth of sshd: 2.5% of lines.
                match self.rng.gen_range(0..10) {
                    0 => {
                        writeln!(
                            out,
                            "sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2"
                        )?;
                        (AUTH, WARNING)
                    }
                    1..=3 => {
                        writeln!(out, "sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{:016x}", xorshift(user.len() as u64 * 7919 + port as u64 % 3))?;
                        (AUTH, INFO)
                    }
                    4..=5 => {
                        writeln!(
                            out,
                            "sshd[{pid}]: Invalid user {user}{} from {ip} port {port}",
                            self.rng.gen_range(0..100)
                        )?;
                        (AUTH, NOTICE)
                    }
                    6..=7 => {
                        writeln!(out, "sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid={}) by (uid=0)", self.rng.gen_range(0..2000))?;
                        (AUTHPRIV, INFO)
                    }
                    _ => {
                        writeln!(out, "sshd[{pid}]: Received disconnect from {ip} port {port}:11: disconnected by user")?;
                        (AUTH, INFO)
                    }
                }
            }
            25..=39 => {
                writeln!(
                    out,
                    "CRON[{pid}]: ({user}) CMD (/usr/local/bin/job-{}.sh --quiet >/dev/null 2>&1)",
                    self.rng.gen_range(0..40)
                )?;
                (CRON, INFO)
            }
            40..=54 => {
                writeln!(
                    out,
                    "kernel: [{:.6}] IPv4: martian source {} from {}, on dev eth{}",
                    self.clock * 10.0,
                    self.ip(),
                    self.ip(),
                    self.rng.gen_range(0..2)
                )?;
                (KERN, WARNING)
            }
            55..=69 => {
                let unit = UNITS[self.rng.gen_range(0..UNITS.len())];
                match self.rng.gen_range(0..3) {
                    0 => writeln!(
                        out,
                        "systemd[1]: Started {unit} - {} daemon.",
                        &unit[..unit.len() - 8]
                    )?,
                    1 => writeln!(
                        out,
                        "systemd[1]: {unit}: Deactivated successfully, consumed {:.3}s CPU time.",
                        self.rng.gen_range(0.0..9.0)
                    )?,
                    _ => writeln!(
                        out,
                        "systemd[1]: Reloading {unit} after configuration change (pid {pid})."
                    )?,
                }
                (DAEMON, INFO)
            }
            70..=79 => {
                writeln!(
                    out,
                    "sudo[{pid}]:    {user} : TTY=pts/{} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart {}",
                    self.rng.gen_range(0..8),
                    UNITS[self.rng.gen_range(0..UNITS.len())]
                )?;
                (AUTHPRIV, NOTICE)
            }
            80..=89 => {
                let status = [200, 200, 200, 304, 404, 500][self.rng.gen_range(0..6)];
                writeln!(
                    out,
                    "nginx[{pid}]: {} - - \"GET /api/v1/items/{} HTTP/1.1\" {status} {} \"-\" \"curl/7.88\"",
                    self.ip(),
                    self.rng.gen_range(0..100_000),
                    self.rng.gen_range(100..50_000)
                )?;
                (LOCAL7, if status == 500 { ERR } else { INFO })
            }
            _ => {
                writeln!(
                    out,
                    "postfix/smtpd[{pid}]: connect from mail{}.example.net[{}] queue {:X}",
                    self.rng.gen_range(0..500),
                    self.ip(),
                    self.rng.gen::<u32>()
                )?;
                (MAIL, DEBUG)
            }
        })
    }

    /// The rare kinds: `draw` 0 is a segfault, the next few an OOM kill, the
    /// rest sshd giving up on a client.
    fn rare(&mut self, out: &mut Vec<u8>, draw: u64, pid: u32) -> io::Result<(u8, u8)> {
        let stamp = self.clock * 10.0;
        if draw == 0 {
            let base = 0x7f00_0000_0000u64 + self.rng.gen_range(0..0xff_ffff) * 0x1000;
            writeln!(
                out,
                "kernel: [{stamp:.6}] php-fpm[{pid}]: segfault at {:x} ip {:016x} sp {:016x} error 4 in libc.so.6[{base:x}+195000] likely on CPU {} (core 0, socket 0)",
                self.rng.gen_range(0..0x1000u64),
                base + self.rng.gen_range(0x28000..0x1bd000u64),
                0x7ffc_0000_0000u64 + self.rng.gen_range(0..0xffff_ffffu64),
                self.rng.gen_range(0..8),
            )?;
            Ok((KERN, ERR))
        } else if draw <= SEGFAULT_EVERY / OOM_EVERY {
            let rss = self.rng.gen_range(1_000_000..8_000_000u64);
            writeln!(
                out,
                "kernel: [{stamp:.6}] Out of memory: Killed process {pid} (java) total-vm:{}kB, anon-rss:{rss}kB, file-rss:0kB, shmem-rss:0kB, UID:{} pgtables:{}kB oom_score_adj:0",
                rss + self.rng.gen_range(100_000..2_000_000u64),
                self.rng.gen_range(100..2000),
                rss / 500,
            )?;
            Ok((KERN, CRIT))
        } else {
            let ip = self.ip();
            writeln!(
                out,
                "sshd[{pid}]: error: maximum authentication attempts exceeded for root from {ip} port {} ssh2 [preauth]",
                self.rng.gen_range(1024..65_535)
            )?;
            Ok((AUTH, ERR))
        }
    }

    /// One of the odd lines of [`Corpus::with_odd_lines`].
    fn odd_line(
        &mut self,
        out: &mut impl Write,
        (day, h, m, s, micros): (u64, u64, u64, u64, u64),
        host: &str,
        pid: u32,
        user: &str,
    ) -> io::Result<()> {
        let kind = self.rng.gen_range(0..4);
        if kind == 3 {
            return match self.rng.gen_range(0..2) {
                0 => writeln!(
                    out,
                    "plain text without a header: {user} ran report {}",
                    self.rng.gen_range(0..1000)
                ),
                _ => writeln!(
                    out,
                    "    at java.lang.Thread.run(Thread.java:{})",
                    self.rng.gen_range(100..999)
                ),
            };
        }
        write!(
            out,
            "2026-11-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}+00:00 {host} app[{pid}]: "
        )?;
        match kind {
            0 => writeln!(out, "status \x1b[31mred\x1b[0m for {user} alert"),
            1 => {
                out.write_all(b"name \xff\xfe")?;
                out.write_all(user.as_bytes())?;
                out.write_all(b"\xc3 not utf8\n")
            }
            _ => writeln!(out, "nul\x00byte from {user}"),
        }
    }
}

/// A fixed scramble of `x` (one key fingerprint per user, stable addresses).
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
