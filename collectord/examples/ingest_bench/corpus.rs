//! The synthetic corpus: ~150-byte syslog lines from a reproducible
//! generator, or numbered lines (`--corpus numbered`).

/// xorshift64*: reproducible, no dependency.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const USERS: &[&str] = &[
    "root", "admin", "alice", "bob", "deploy", "john.doe", "postgres", "ubuntu", "test", "oracle",
    "git", "www-data",
];
const SERVICES: &[&str] = &[
    "nginx",
    "postgresql",
    "redis-server",
    "docker",
    "ssh",
    "cron",
    "rsyslog",
    "node-exporter",
    "apt-daily",
    "logrotate",
];
const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/items",
    "/login",
    "/static/app.js",
    "/healthz",
    "/api/v2/users",
    "/metrics",
];

/// Addresses repeat in real logs (the same scanners, the same clients):
/// drawn from a pool of 5000, the low ones far more often.
fn ip(r: &mut Rng) -> String {
    let k = r.below(5000).min(r.below(5000)).min(r.below(5000));
    let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    match k % 3 {
        0 => format!("10.{}.{}.{}", h % 4, (h >> 8) % 256, (h >> 16) % 256),
        1 => format!("203.0.113.{}", h % 256),
        _ => format!(
            "{}.{}.{}.{}",
            1 + h % 223,
            (h >> 8) % 256,
            (h >> 16) % 256,
            (h >> 24) % 256
        ),
    }
}

/// `--corpus numbered`: the end-to-end tests' lines (tests/src/lib.rs).
pub(crate) fn numbered_line(n: u64) -> String {
    format!("Nov 24 22:20:01 testhost app[7]: line bench {n:09} lorem ipsum dolor sit amet consectetur adipiscing elit")
}

pub(crate) fn line(r: &mut Rng, n: u64) -> String {
    let secs = n / 1000;
    let ts = format!(
        "Nov 24 {:02}:{:02}:{:02}",
        10 + secs / 3600 % 12,
        secs / 60 % 60,
        secs % 60
    );
    let host_n = r.below(50);
    let host = format!("web{host_n:02}");
    // Each host has a few dozen busy processes.
    let pid = 1000 + (host_n * 7919 + r.below(40) * 104_729) % 60_000;
    match r.below(100) {
        0..=24 => {
            let invalid = if r.below(2) == 0 { "invalid user " } else { "" };
            format!("{ts} {host} sshd[{pid}]: Failed password for {invalid}{} from {} port {} ssh2", r.pick(USERS), ip(r), 1024 + r.below(64_000))
        }
        25..=32 => format!(
            "{ts} {host} sshd[{pid}]: Accepted publickey for {} from {} port {} ssh2: ED25519 SHA256:{:016x}",
            r.pick(USERS), ip(r), 1024 + r.below(64_000), r.below(40).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ),
        33..=40 => {
            let u = r.pick(USERS);
            format!("{ts} {host} sudo:    {u} : TTY=pts/{} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart {}.service", r.below(8), r.pick(SERVICES))
        }
        41..=55 => format!(
            "{ts} {host} kernel: [{}.{:06}] [UFW BLOCK] IN=eth0 OUT= SRC={} DST=10.0.0.{} LEN={} TTL={} PROTO=TCP SPT={} DPT={} SYN",
            3_000_000 + host_n * 1000 + secs, r.below(1_000_000), ip(r), host_n, 40 + r.below(20) * 4, r.pick(&["64", "128", "52", "116"]), 1024 + r.below(64_000), r.pick(&["22", "80", "443", "3306", "5432", "23"])
        ),
        56..=62 => format!("{ts} {host} CRON[{pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"),
        63..=70 => {
            let s = r.pick(SERVICES);
            format!("{ts} {host} systemd[1]: Started {s}.service - The {s} daemon (instance {}).", r.below(4))
        }
        71..=85 => format!(
            "{ts} {host} nginx: {} - - \"GET {}/{} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
            ip(r), r.pick(PATHS), r.below(1000), r.pick(&["200", "200", "200", "304", "404", "500"]), 200 + r.below(5000)
        ),
        86..=90 => format!("{ts} {host} postfix/smtpd[{pid}]: connect from unknown[{}]", ip(r)),
        _ => format!(
            "{ts} {host} app[{pid}]: level=info msg=\"request done\" request_id={:08x}-{:04x}-{:04x} duration_ms={} status=200",
            r.next() as u32, r.below(65536), r.below(65536), r.below(2000)
        ),
    }
}
