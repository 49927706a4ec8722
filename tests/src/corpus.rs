//! A seeded, realistic syslog corpus: many hosts and programs, sshd, sudo,
//! cron, kernel and systemd messages, about 130 bytes a line, stamped the way
//! Debian 12's rsyslog writes `/var/log/syslog` (RFC 3339, microseconds).

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

pub struct Corpus {
    rng: StdRng,
    hosts: Vec<String>,
    /// Seconds since the corpus start; advances a little every line.
    clock: f64,
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
        }
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
        write!(
            out,
            "2026-11-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}+00:00 {host} "
        )?;
        match self.rng.gen_range(0..100) {
            0..=24 => {
                let ip = self.ip();
                let port = self.rng.gen_range(1024..65_535);
                match self.rng.gen_range(0..5) {
                    0 => writeln!(out, "sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2"),
                    1 => writeln!(out, "sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{:016x}", xorshift(user.len() as u64 * 7919 + port as u64 % 3)),
                    2 => writeln!(out, "sshd[{pid}]: Invalid user {user}{} from {ip} port {port}", self.rng.gen_range(0..100)),
                    3 => writeln!(out, "sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid={}) by (uid=0)", self.rng.gen_range(0..2000)),
                    _ => writeln!(out, "sshd[{pid}]: Received disconnect from {ip} port {port}:11: disconnected by user"),
                }
            }
            25..=39 => writeln!(
                out,
                "CRON[{pid}]: ({user}) CMD (/usr/local/bin/job-{}.sh --quiet >/dev/null 2>&1)",
                self.rng.gen_range(0..40)
            ),
            40..=54 => writeln!(
                out,
                "kernel: [{:.6}] IPv4: martian source {} from {}, on dev eth{}",
                self.clock * 10.0,
                self.ip(),
                self.ip(),
                self.rng.gen_range(0..2)
            ),
            55..=69 => {
                let unit = UNITS[self.rng.gen_range(0..UNITS.len())];
                match self.rng.gen_range(0..3) {
                    0 => writeln!(out, "systemd[1]: Started {unit} - {} daemon.", &unit[..unit.len() - 8]),
                    1 => writeln!(out, "systemd[1]: {unit}: Deactivated successfully, consumed {:.3}s CPU time.", self.rng.gen_range(0.0..9.0)),
                    _ => writeln!(out, "systemd[1]: Reloading {unit} after configuration change (pid {pid})."),
                }
            }
            70..=79 => writeln!(
                out,
                "sudo[{pid}]:    {user} : TTY=pts/{} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart {}",
                self.rng.gen_range(0..8),
                UNITS[self.rng.gen_range(0..UNITS.len())]
            ),
            80..=89 => writeln!(
                out,
                "nginx[{pid}]: {} - - \"GET /api/v1/items/{} HTTP/1.1\" {} {} \"-\" \"curl/7.88\"",
                self.ip(),
                self.rng.gen_range(0..100_000),
                [200, 200, 200, 304, 404, 500][self.rng.gen_range(0..6)],
                self.rng.gen_range(100..50_000)
            ),
            _ => writeln!(
                out,
                "postfix/smtpd[{pid}]: connect from mail{}.example.net[{}] queue {:X}",
                self.rng.gen_range(0..500),
                self.ip(),
                self.rng.gen::<u32>()
            ),
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
