//! The clean background, and the hard negatives (labelled in the test
//! days): logins with sudo and mistypes, CRON, a monitoring probe, the
//! nightly backup; the reboot is in `reboot.rs`.

use rand::Rng;

use super::clock::{self, DAY, HOUR, MIN, SEC};
use super::{Gen, Kind, Mark, Params, Proc};

/// Known users: name, uid, the address they log in from, whether they sudo.
pub(super) const USERS: [(&str, u32, &str, bool); 5] = [
    ("alice", 1000, "10.1.2.3", true),
    ("bob", 1001, "10.1.2.7", true),
    ("carol", 1002, "10.1.2.12", false),
    ("dave", 1003, "10.1.3.4", true),
    ("erin", 1004, "10.1.3.9", false),
];
/// The backup server and the monitoring probe.
pub(super) const BACKUP_IP: &str = "10.0.0.5";
const PROBE_IP: &str = "10.0.0.9";
const SUDO_COMMANDS: [&str; 8] = [
    "/usr/bin/apt update",
    "/usr/bin/apt upgrade -y",
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/journalctl -u nginx --since today",
    "/usr/bin/tail -n 100 /var/log/syslog",
    "/usr/bin/vim /etc/nginx/sites-available/default",
    "/usr/bin/docker ps",
    "/usr/bin/systemctl status postgresql",
];

pub(super) fn generate(g: &mut Gen, p: &Params) {
    let days = p.train_days + p.test_days;
    // Who logs in where: two to four of the users per host.
    for h in 0..g.hosts.len() {
        let n = g.rng.gen_range(2..=4);
        let first = g.rng.gen_range(0..USERS.len());
        g.hosts[h].users = (0..n).map(|i| (first + i) % USERS.len()).collect();
    }
    // One reboot per host: even hosts in a training day, odd ones in a
    // test day (when there are both), between 03:00 and 22:00.
    for h in 0..g.hosts.len() {
        let in_test = (h % 2 == 1 && p.test_days > 0) || p.train_days == 0;
        let day = if in_test {
            p.train_days + g.rng.gen_range(0..p.test_days)
        } else {
            g.rng.gen_range(0..p.train_days)
        };
        let t = g.start + day as i64 * DAY + g.rng.gen_range(3 * HOUR..22 * HOUR);
        super::reboot::reboot(g, h, t);
    }
    for d in 0..days {
        let day = g.start + d as i64 * DAY;
        for h in 0..g.hosts.len() {
            cron(g, h, day);
            probes(g, h, day);
            logins(g, h, day);
            backup(g, h, day);
        }
        // A user mistypes twice, then gets in: once a day somewhere.
        if !g.hosts.is_empty() {
            let h = g.rng.gen_range(0..g.hosts.len());
            let u = g.hosts[h].users[g.rng.gen_range(0..g.hosts[h].users.len())];
            let t = day + g.rng.gen_range(8 * HOUR..18 * HOUR);
            let key = format!("user={}", USERS[u].0);
            g.begin_episode(t, Kind::MistypeTwice, h, key, vec![USERS[u].2.into()]);
            let dur = g.rng.gen_range(5 * MIN..90 * MIN);
            login(g, h, u, t, dur, 2);
            g.end_episode();
        }
    }
}

/// CRON: sysstat every 10 minutes, the hourly run-parts at :17, the daily
/// one at 06:25, and a job of the host's role.
fn cron(g: &mut Gen, h: usize, day: i64) {
    let role = g.hosts[h].name.clone();
    for minute in 0..24 * 60 {
        let (hh, mm) = (minute / 60, minute % 60);
        let mut jobs: Vec<(&str, u32, &str)> = Vec::new();
        if mm % 10 == 0 {
            jobs.push((
                "root",
                0,
                "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
            ));
        }
        if mm == 17 {
            jobs.push(("root", 0, "cd / && run-parts --report /etc/cron.hourly"));
        }
        if hh == 6 && mm == 25 {
            jobs.push((
                "root",
                0,
                "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
            ));
        }
        if role.starts_with("web") && mm % 5 == 0 {
            jobs.push(("www-data", 33, "php -f /var/www/nextcloud/cron.php"));
        }
        if role.starts_with("db") && mm % 15 == 0 {
            jobs.push(("postgres", 114, "/usr/local/bin/pg_check.sh > /dev/null"));
        }
        for (user, uid, cmd) in jobs {
            let t = day + i64::from(minute) * MIN + g.rng.gen_range(20_000..900_000);
            if g.down(h, t) {
                continue;
            }
            let p = g.proc_();
            g.emit(
                t,
                h,
                "CRON",
                p,
                format!(
                    "pam_unix(cron:session): session opened for user {user}(uid={uid}) by (uid=0)"
                ),
            );
            g.emit(t + 1_500, h, "CRON", p, format!("({user}) CMD ({cmd})"));
            let done = t + g.rng.gen_range(10_000..3 * SEC);
            g.emit(
                done,
                h,
                "CRON",
                p,
                format!("pam_unix(cron:session): session closed for user {user}"),
            );
        }
    }
}

/// The monitoring system's ssh check every 5 minutes: connect, read the
/// banner, say goodbye.
fn probes(g: &mut Gen, h: usize, day: i64) {
    let offset = g.rng.gen_range(0..60 * SEC);
    for i in 0..24 * 12 {
        let t = day + i * 5 * MIN + offset + g.rng.gen_range(0..2 * SEC);
        if g.down(h, t) {
            continue;
        }
        let (p, port) = g.connect(t, h, PROBE_IP, Mark::None);
        let t = t + g.rng.gen_range(5_000..80_000);
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("Received disconnect from {PROBE_IP} port {port}:11: Bye Bye [preauth]"),
        );
        g.emit(
            t + 200,
            h,
            "sshd",
            p,
            format!("Disconnected from {PROBE_IP} port {port} [preauth]"),
        );
    }
}

/// Known users log in from their own addresses, mostly in working hours
/// on weekdays; now and then one mistypes once.
fn logins(g: &mut Gen, h: usize, day: i64) {
    let weekend = clock::weekday(day) >= 5;
    for u in g.hosts[h].users.clone() {
        let n = if weekend {
            usize::from(g.rng.gen_bool(0.15))
        } else {
            g.rng.gen_range(0..=3)
        };
        for _ in 0..n {
            let t = day + g.rng.gen_range(8 * HOUR..18 * HOUR + 30 * MIN);
            let dur = g.rng.gen_range(2 * MIN..150 * MIN);
            let failures = usize::from(g.rng.gen_bool(0.04));
            login(g, h, u, t, dur, failures);
        }
    }
}

/// One login of user `u` at `t`, after `failures` mistyped passwords,
/// lasting `dur`, with some sudo inside.
fn login(g: &mut Gen, h: usize, u: usize, t: i64, dur: i64, failures: usize) {
    let (user, uid, ip, sudoer) = USERS[u];
    let (p, port) = g.connect(t, h, ip, Mark::None);
    let mut t = t + g.rng.gen_range(50_000..400_000);
    for _ in 0..failures {
        t += g.rng.gen_range(2 * SEC..8 * SEC);
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}"),
        );
        t += g.rng.gen_range(1_000_000..2_500_000);
        g.emit(
            t,
            h,
            "sshd",
            p,
            format!("Failed password for {user} from {ip} port {port} ssh2"),
        );
    }
    // After a mistype the password; otherwise the user's key.
    let accepted = if failures > 0 {
        t += g.rng.gen_range(3 * SEC..9 * SEC);
        format!("Accepted password for {user} from {ip} port {port} ssh2")
    } else {
        format!(
            "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{}",
            fingerprint(u)
        )
    };
    g.emit(t, h, "sshd", p, accepted);
    g.emit(
        t + 9_000,
        h,
        "sshd",
        p,
        format!("pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)"),
    );
    let s = g.session(h);
    let logind = g.logind(h, t);
    g.emit(
        t + 21_000,
        h,
        "systemd-logind",
        logind,
        format!("New session {s} of user {user}."),
    );
    g.emit(
        t + 27_000,
        h,
        "systemd",
        Proc::Fixed(1),
        format!("Started session-{s}.scope - Session {s} of User {user}."),
    );
    // The rest is history, not part of a labelled episode.
    let episode = std::mem::replace(&mut g.current, super::NO_EPISODE);
    let end = (t + dur).min(t - t.rem_euclid(DAY) + 23 * HOUR + 50 * MIN);
    let tty = g.rng.gen_range(0..4);
    if sudoer {
        for _ in 0..g.rng.gen_range(0..=3) {
            let at = g.rng.gen_range(t + 10 * SEC..end.max(t + 11 * SEC));
            let cmd = SUDO_COMMANDS[g.rng.gen_range(0..SUDO_COMMANDS.len())];
            let sp = g.proc_();
            g.emit(
                at,
                h,
                "sudo",
                sp,
                format!("   {user} : TTY=pts/{tty} ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}"),
            );
            g.emit(
                at + 3_000,
                h,
                "sudo",
                sp,
                format!("pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})"),
            );
            let closed = at + g.rng.gen_range(SEC..60 * SEC);
            g.emit(
                closed,
                h,
                "sudo",
                sp,
                "pam_unix(sudo:session): session closed for user root".into(),
            );
        }
    }
    logout(g, h, p, end, user, ip, port, s);
    g.current = episode;
}

/// The lines of a session's end.
#[allow(clippy::too_many_arguments)]
fn logout(g: &mut Gen, h: usize, p: Proc, t: i64, user: &str, ip: &str, port: u16, s: u32) {
    g.emit(
        t,
        h,
        "sshd",
        p,
        format!("Received disconnect from {ip} port {port}:11: disconnected by user"),
    );
    g.emit(
        t + 400,
        h,
        "sshd",
        p,
        format!("Disconnected from user {user} {ip} port {port}"),
    );
    g.emit(
        t + 2_000,
        h,
        "sshd",
        p,
        format!("pam_unix(sshd:session): session closed for user {user}"),
    );
    let logind = g.logind(h, t);
    g.emit(
        t + 5_000,
        h,
        "systemd-logind",
        logind,
        format!("Session {s} logged out. Waiting for processes to exit."),
    );
    g.emit(
        t + 9_000,
        h,
        "systemd-logind",
        logind,
        format!("Removed session {s}."),
    );
}

/// A user's key fingerprint: the same in every login of the scenario.
fn fingerprint(u: usize) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ (u as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..43)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            B64[(x % 64) as usize] as char
        })
        .collect()
}

/// The nightly backup: 100 to 300 short sessions of user `backup` from
/// the backup server within a few minutes, every host, every night.
fn backup(g: &mut Gen, h: usize, day: i64) {
    let mut t = day + 2 * HOUR + h as i64 * 5 * MIN + g.rng.gen_range(0..3 * MIN);
    g.begin_episode(
        t,
        Kind::Backup,
        h,
        format!("ip={BACKUP_IP}"),
        vec![BACKUP_IP.into()],
    );
    for _ in 0..g.rng.gen_range(100..=300) {
        t += g.rng.gen_range(300_000..1_500_000);
        let (p, port) = g.connect(t, h, BACKUP_IP, Mark::None);
        let at = t + g.rng.gen_range(20_000..90_000);
        g.emit(
            at,
            h,
            "sshd",
            p,
            format!("Accepted publickey for backup from {BACKUP_IP} port {port} ssh2: RSA SHA256:Yk3n0vU1bq4xq1hZ2p0oTQm1M5x3f6x9y8w7v6u5t4s"),
        );
        g.emit(
            at + 8_000,
            h,
            "sshd",
            p,
            "pam_unix(sshd:session): session opened for user backup(uid=34) by (uid=0)".into(),
        );
        let s = g.session(h);
        let logind = g.logind(h, at);
        g.emit(
            at + 15_000,
            h,
            "systemd-logind",
            logind,
            format!("New session {s} of user backup."),
        );
        let end = at + g.rng.gen_range(200_000..2 * SEC);
        logout(g, h, p, end, "backup", BACKUP_IP, port, s);
    }
    g.end_episode();
}
