//! The attack episodes, at random times and hosts of the test days.

use rand::Rng;

use super::clock::{self, HOUR, MIN, SEC};
use super::{Gen, Kind, Mark, Params};

/// Names scanners try that no host has.
const NAMES: [&str; 60] = [
    "oracle",
    "test",
    "admin",
    "user",
    "ubuntu",
    "guest",
    "git",
    "ftpuser",
    "pi",
    "hadoop",
    "mysql",
    "jenkins",
    "minecraft",
    "ts3",
    "teamspeak",
    "nagios",
    "support",
    "tomcat",
    "user1",
    "test1",
    "dev",
    "developer",
    "ansible",
    "centos",
    "debian",
    "vagrant",
    "docker",
    "elastic",
    "es",
    "kafka",
    "zabbix",
    "redis",
    "mongodb",
    "odoo",
    "steam",
    "sysadmin",
    "webmaster",
    "www",
    "ftp",
    "sftp",
    "ec2-user",
    "azureuser",
    "administrator",
    "manager",
    "operator",
    "service",
    "student",
    "teacher",
    "demo",
    "info",
    "sales",
    "office",
    "marketing",
    "server",
    "solana",
    "sol",
    "validator",
    "node",
    "postgres1",
    "backup1",
];

pub(super) fn generate(g: &mut Gen, p: &Params) {
    for kind in Kind::ATTACKS {
        for _ in 0..p.per_kind {
            let h = g.rng.gen_range(0..g.hosts.len());
            // Room for the longest (low-and-slow: up to 20 h) before the end.
            let room = match kind {
                Kind::LowAndSlow => 21 * HOUR,
                _ => 2 * HOUR,
            };
            let latest = (g.end - room).max(g.test_start + 1);
            let t = g.rng.gen_range(g.test_start..latest);
            match kind {
                Kind::Burst => burst(g, h, t),
                Kind::InvalidUserScan => scan(g, h, t),
                Kind::LowAndSlow => low_and_slow(g, h, t),
                Kind::Distributed => distributed(g, h, t),
                Kind::SuccessAfterFailures => success_after_failures(g, h, t),
                Kind::ConnectionFlood => flood(g, h, t),
                _ => unreachable!("only attacks are in Kind::ATTACKS"),
            }
            g.end_episode();
        }
    }
}

fn start(g: &mut Gen, t: i64, kind: Kind, h: usize) -> String {
    let ip = g.outside_ip();
    g.begin_episode(t, kind, h, format!("ip={ip}"), vec![ip.clone()]);
    ip
}

/// One password guess on a connection of its own: `user` is `root` or an
/// invalid name. Returns the time of its last line.
fn guess(g: &mut Gen, h: usize, t: i64, ip: &str, src: u32, user: &str) -> i64 {
    let invalid = user != "root";
    let (p, port) = g.connect(t, h, ip, Mark::None);
    let mut t = t + g.rng.gen_range(20_000..300_000);
    if invalid {
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("Invalid user {user} from {ip} port {port}"),
        );
        t += g.rng.gen_range(50_000..500_000);
        g.emit(
            t,
            h,
            "sshd",
            p,
            "pam_unix(sshd:auth): check pass; user unknown".into(),
        );
        g.emit(
            t + 300,
            h,
            "sshd",
            p,
            format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"),
        );
    } else {
        t += g.rng.gen_range(50_000..500_000);
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"),
        );
    }
    t += g.rng.gen_range(1_500_000..2_500_000);
    let who = if invalid {
        format!("invalid user {user}")
    } else {
        "root".into()
    };
    g.emit_mark(
        t,
        h,
        "sshd",
        p,
        format!("Failed password for {who} from {ip} port {port} ssh2"),
        Mark::Failure(src),
    );
    t += g.rng.gen_range(50_000..600_000);
    if g.rng.gen_bool(0.7) {
        let by = if invalid {
            format!("invalid user {user}")
        } else {
            "authenticating user root".into()
        };
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("Connection closed by {by} {ip} port {port} [preauth]"),
        );
    } else {
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
        );
        let by = if invalid {
            format!("invalid user {user}")
        } else {
            "authenticating user root".into()
        };
        g.emit(
            t + 150,
            h,
            "sshd",
            p,
            format!("Disconnected from {by} {ip} port {port} [preauth]"),
        );
    }
    t
}

/// 5 to 1000 guesses for root or invalid names, 0.1 to 5 s apart (their
/// connections overlap). Small bursts are as likely as large ones.
fn burst(g: &mut Gen, h: usize, t: i64) {
    let ip = start(g, t, Kind::Burst, h);
    let n = (5.0f64 * 200f64.powf(g.rng.gen::<f64>())).round() as usize;
    let mut t = t;
    for _ in 0..n.clamp(5, 1000) {
        let user = if g.rng.gen_bool(0.6) {
            "root"
        } else {
            NAMES[g.rng.gen_range(0..NAMES.len())]
        };
        guess(g, h, t, &ip, 0, user);
        t += g.rng.gen_range(100_000..5 * SEC);
    }
}

/// 10 to 60 different invalid names, one guess each, 0.5 to 8 s apart.
fn scan(g: &mut Gen, h: usize, t: i64) {
    let ip = start(g, t, Kind::InvalidUserScan, h);
    let mut names = NAMES.to_vec();
    let n = g.rng.gen_range(10..=NAMES.len());
    let mut t = t;
    for i in 0..n {
        let j = g.rng.gen_range(i..names.len());
        names.swap(i, j);
        guess(g, h, t, &ip, 0, names[i]);
        t += g.rng.gen_range(SEC / 2..8 * SEC);
    }
}

/// One guess for root every 10 to 30 minutes for 4 to 20 hours.
fn low_and_slow(g: &mut Gen, h: usize, t: i64) {
    let ip = start(g, t, Kind::LowAndSlow, h);
    let end = t + g.rng.gen_range(4 * HOUR..20 * HOUR);
    let mut t = t;
    while t < end {
        guess(g, h, t, &ip, 0, "root");
        t += g.rng.gen_range(10 * MIN + 10 * SEC..30 * MIN);
    }
}

/// 20 to 200 addresses, one or two guesses each, all for one user, within
/// 10 to 60 minutes.
fn distributed(g: &mut Gen, h: usize, t: i64) {
    let user = ["root", "admin", "ubuntu"][g.rng.gen_range(0..3)];
    let n = g.rng.gen_range(20..=200);
    let ips: Vec<String> = (0..n).map(|_| g.outside_ip()).collect();
    g.begin_episode(t, Kind::Distributed, h, format!("user={user}"), ips.clone());
    let span = g.rng.gen_range(10 * MIN..60 * MIN);
    let mut guesses: Vec<(i64, usize)> = Vec::new();
    for i in 0..n {
        for _ in 0..g.rng.gen_range(1..=2) {
            guesses.push((t + g.rng.gen_range(0..span), i));
        }
    }
    guesses.sort_unstable();
    for (at, i) in guesses {
        guess(g, h, at, &ips[i], i as u32, user);
    }
}

/// 5 to 30 guesses for root, 1 to 10 s apart, then one is right: a root
/// session that lasts a few minutes.
fn success_after_failures(g: &mut Gen, h: usize, t: i64) {
    let ip = start(g, t, Kind::SuccessAfterFailures, h);
    let mut t = t;
    for _ in 0..g.rng.gen_range(5..=30) {
        guess(g, h, t, &ip, 0, "root");
        t += g.rng.gen_range(SEC..10 * SEC);
    }
    let (p, port) = g.connect(t, h, &ip, Mark::None);
    t += g.rng.gen_range(1_500_000..2_500_000);
    g.emit_mark(
        t,
        h,
        "sshd",
        p,
        format!("Accepted password for root from {ip} port {port} ssh2"),
        Mark::Success,
    );
    g.emit(
        t + 8_000,
        h,
        "sshd",
        p,
        "pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)".into(),
    );
    let s = g.session(h);
    let logind = g.logind(h, t);
    g.emit(
        t + 15_000,
        h,
        "systemd-logind",
        logind,
        format!("New session {s} of user root."),
    );
    let end = t + g.rng.gen_range(30 * SEC..10 * MIN);
    g.emit(
        end,
        h,
        "sshd",
        p,
        format!("Received disconnect from {ip} port {port}:11: disconnected by user"),
    );
    g.emit(
        end + 400,
        h,
        "sshd",
        p,
        format!("Disconnected from user root {ip} port {port}"),
    );
    g.emit(
        end + 2_000,
        h,
        "sshd",
        p,
        "pam_unix(sshd:session): session closed for user root".into(),
    );
    g.emit(
        end + 9_000,
        h,
        "systemd-logind",
        logind,
        format!("Removed session {s}."),
    );
}

/// 100 to 2000 connections at 1.5 or more a second: to sshd, which never
/// gets a banner, or to an inetd ftpd (a process per connection).
fn flood(g: &mut Gen, h: usize, t: i64) {
    let ip = start(g, t, Kind::ConnectionFlood, h);
    let n = g.rng.gen_range(100..=2000);
    let span = (g.rng.gen_range(30..=120) * SEC).min(n as i64 * SEC * 2 / 3);
    let ftp = g.rng.gen_bool(0.3);
    let verbose = g.hosts[h].verbose;
    let mut times: Vec<i64> = (0..n).map(|_| t + g.rng.gen_range(0..span)).collect();
    times.sort_unstable();
    for at in times {
        if ftp {
            let p = g.proc_();
            let when = clock::ctime(at);
            g.emit_mark(
                at,
                h,
                "ftpd",
                p,
                format!("connection from {ip} ({ip}) at {when}"),
                Mark::Connection(0),
            );
            continue;
        }
        let (p, port) = g.connect(at, h, &ip, Mark::Connection(0));
        // At LogLevel INFO a dropped connection leaves one line, which is
        // then the one that counts.
        let mark = if verbose {
            Mark::None
        } else {
            Mark::Connection(0)
        };
        let later = at + g.rng.gen_range(5_000..2 * SEC);
        let msg = if g.rng.gen_bool(0.6) {
            format!("Did not receive identification string from {ip} port {port}")
        } else {
            format!("Connection closed by {ip} port {port} [preauth]")
        };
        // The dropped line comes later than the connection; at INFO its
        // time is the connection's.
        let at = if verbose { later } else { at };
        g.emit_mark(at, h, "sshd", p, msg, mark);
    }
}
