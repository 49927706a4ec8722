//! A seeded auth scenario for `eval-auth`: several hosts over several days
//! of Debian 12 syslog (`2026-11-02T03:04:05.123456+00:00 web1 sshd[1234]:
//! ...`), a clean background, attack episodes injected into the test days
//! only, and hard negatives that must not alert. Same seed, same lines.
//!
//! The background (`background.rs`) is what a quiet fleet logs: logins of
//! known users from their own addresses in working hours, with sudo and
//! systemd-logind sessions and now and then a mistyped password; CRON jobs
//! every few minutes; a monitoring probe every 5 minutes; a nightly backup
//! that opens 100 to 300 ssh sessions on every host within minutes; one
//! reboot per host (a few hundred boot lines within seconds). Half of the
//! hosts log at sshd's `LogLevel VERBOSE` (`Connection from ...` for every
//! connection, the backup's included).
//!
//! Attacks (`attacks.rs`), at random times and hosts of the test days:
//! `burst`, `invalid-user-scan`, `low-and-slow`, `distributed`,
//! `success-after-failures`, `connection-flood` ([`Kind`]). Hard negatives
//! labelled in the test days (they occur in the training days too, as
//! history): a user mistyping twice then logging in, the reboot, the backup.
//!
//! Each episode has its lines in the test file and `cross_ts`, the time of
//! the line at which a reference detector would first know (see
//! [`Kind::floor`]). A *failure* is a `Failed password` line; a
//! *connection* is a `Connection from`, ftpd `connection from`, or (at
//! `LogLevel INFO`, where there is no such line) the one line a dropped
//! connection leaves. The reference counts the episode's own lines (its
//! address, or for `distributed` its addresses); the background never
//! fails from an outside address.

mod attacks;
mod background;
pub mod clock;
mod episode;
mod reboot;
mod scenario;
pub mod score;

pub use episode::{Counted, Episode, Floor, Kind};
pub use scenario::{Params, Scenario, Written};

use std::collections::{BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use clock::DAY;

/// The scenario starts on Monday 2026-11-02, 00:00 UTC.
pub const START: (i64, u32, u32) = (2026, 11, 2);

/// A process's pid: none (the kernel), fixed (`systemd[1]`), or given in
/// time order when the lines are sorted, so that pids grow as on a real
/// host and start low again after a reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proc {
    None,
    Fixed(u32),
    Dyn(u64),
}

/// What a line counts as for the reference floors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    /// A failure from the episode's address number `n`.
    Failure(u32),
    Connection(u32),
    Success,
}

const NO_EPISODE: u32 = u32::MAX;

struct Ev {
    t: i64,
    host: u16,
    prog: &'static str,
    proc_: Proc,
    msg: String,
    ep: u32,
    mark: Mark,
    /// The first boot line: pids start low again.
    boot: bool,
}

struct Host {
    name: String,
    /// The host's own address (`on 10.0.0.11 port 22`).
    addr: String,
    /// sshd at `LogLevel VERBOSE`: a `Connection from` line per connection.
    verbose: bool,
    /// Indices into `background::USERS` of who logs in here.
    users: Vec<usize>,
    /// When the reboot's shutdown starts and its boot ends.
    down: (i64, i64),
    /// systemd-logind before and after the reboot.
    logind: [Proc; 2],
}

/// The generator's state: events in any order, sorted at the end.
struct Gen {
    rng: StdRng,
    hosts: Vec<Host>,
    events: Vec<Ev>,
    drafts: Vec<Draft>,
    /// The episode being generated, if labelled.
    current: u32,
    next_proc: u64,
    sessions: Vec<u32>,
    used_ips: BTreeSet<[u8; 4]>,
    start: i64,
    test_start: i64,
    end: i64,
}

struct Draft {
    kind: Kind,
    host: usize,
    key: String,
    ips: Vec<String>,
}

impl Gen {
    fn new(p: &Params) -> Gen {
        let start = clock::days_from_civil(START.0, START.1, START.2) * DAY;
        let test_start = start + p.train_days as i64 * DAY;
        let mut rng = StdRng::seed_from_u64(p.seed);
        let hosts = (0..p.hosts)
            .map(|i| Host {
                name: format!("{}{}", ["web", "db", "app", "mail", "ci"][i % 5], i / 5 + 1),
                addr: format!("10.0.0.{}", 11 + i % 240),
                verbose: i % 2 == 0,
                users: Vec::new(),
                down: (i64::MIN, i64::MIN),
                logind: [Proc::Fixed(rng.gen_range(380..900)), Proc::None],
            })
            .collect();
        Gen {
            rng,
            hosts,
            events: Vec::new(),
            drafts: Vec::new(),
            current: NO_EPISODE,
            next_proc: 0,
            sessions: vec![0; p.hosts],
            used_ips: BTreeSet::new(),
            start,
            test_start,
            end: test_start + p.test_days as i64 * DAY,
        }
    }

    fn proc_(&mut self) -> Proc {
        self.next_proc += 1;
        Proc::Dyn(self.next_proc)
    }

    fn emit(&mut self, t: i64, host: usize, prog: &'static str, proc_: Proc, msg: String) {
        self.emit_mark(t, host, prog, proc_, msg, Mark::None);
    }

    fn emit_mark(
        &mut self,
        t: i64,
        host: usize,
        prog: &'static str,
        proc_: Proc,
        msg: String,
        mark: Mark,
    ) {
        self.events.push(Ev {
            t,
            host: host as u16,
            prog,
            proc_,
            msg,
            ep: self.current,
            mark,
            boot: false,
        });
    }

    /// Labels what is emitted until [`Gen::end_episode`], if it is in the
    /// test days (`t` is its start).
    fn begin_episode(&mut self, t: i64, kind: Kind, host: usize, key: String, ips: Vec<String>) {
        if t >= self.test_start {
            self.drafts.push(Draft {
                kind,
                host,
                key,
                ips,
            });
            self.current = (self.drafts.len() - 1) as u32;
        }
    }

    fn end_episode(&mut self) {
        self.current = NO_EPISODE;
    }

    /// A client port.
    fn port(&mut self) -> u16 {
        self.rng.gen_range(32_768..61_000)
    }

    fn session(&mut self, host: usize) -> u32 {
        self.sessions[host] += self.rng.gen_range(1..3);
        self.sessions[host]
    }

    /// systemd-logind's process at `t` (it has another pid after the reboot).
    fn logind(&self, host: usize, t: i64) -> Proc {
        let h = &self.hosts[host];
        h.logind[usize::from(t >= h.down.1 && h.logind[1] != Proc::None)]
    }

    /// Whether `host` is shutting down, off or booting at `t`.
    fn down(&self, host: usize, t: i64) -> bool {
        let (a, b) = self.hosts[host].down;
        (a..=b).contains(&t)
    }

    /// A public address used nowhere else in the scenario.
    fn outside_ip(&mut self) -> String {
        // First octets of address space that scanners come from; none
        // private, reserved or documentation.
        const FIRST: [u8; 16] = [
            5, 31, 45, 61, 80, 91, 103, 117, 139, 159, 167, 178, 185, 193, 212, 222,
        ];
        loop {
            let ip = [
                FIRST[self.rng.gen_range(0..FIRST.len())],
                self.rng.gen(),
                self.rng.gen(),
                self.rng.gen_range(1..255),
            ];
            if self.used_ips.insert(ip) {
                return format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
            }
        }
    }

    /// A new sshd connection from `ip` to `host` at `t`: the `Connection
    /// from` line at `LogLevel VERBOSE`. Returns sshd's process and port.
    fn connect(&mut self, t: i64, host: usize, ip: &str, mark: Mark) -> (Proc, u16) {
        let p = self.proc_();
        let port = self.port();
        if self.hosts[host].verbose {
            let addr = self.hosts[host].addr.clone();
            self.emit_mark(
                t,
                host,
                "sshd",
                p,
                format!("Connection from {ip} port {port} on {addr} port 22 rdomain \"\""),
                mark,
            );
        }
        (p, port)
    }

    fn finish(mut self, params: Params) -> Scenario {
        // Stable: lines of one instant keep the order they were made in.
        self.events.sort_by_key(|e| e.t);
        let mut pid_rng = StdRng::seed_from_u64(params.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut next_pid: Vec<u32> = (0..self.hosts.len())
            .map(|_| pid_rng.gen_range(2_000..30_000))
            .collect();
        let mut pids: HashMap<u64, u32> = HashMap::new();
        let mut train = Vec::new();
        let mut test = Vec::new();
        let mut episodes: Vec<Episode> = self
            .drafts
            .iter()
            .map(|d| Episode {
                kind: d.kind,
                host: self.hosts[d.host].name.clone(),
                key: d.key.clone(),
                ips: d.ips.clone(),
                lines: Vec::new(),
                first_us: 0,
                last_us: 0,
                cross_us: None,
                cross_line: None,
            })
            .collect();
        let mut marks: Vec<Vec<(i64, usize, Mark)>> = vec![Vec::new(); episodes.len()];
        for e in &self.events {
            let h = usize::from(e.host);
            if e.boot {
                next_pid[h] = pid_rng.gen_range(300..400);
            }
            let pid = match e.proc_ {
                Proc::None => None,
                Proc::Fixed(p) => Some(p),
                Proc::Dyn(id) => Some(*pids.entry(id).or_insert_with(|| {
                    next_pid[h] += pid_rng.gen_range(1..40);
                    if next_pid[h] >= 4_194_304 {
                        next_pid[h] = 300;
                    }
                    next_pid[h]
                })),
            };
            let stamp = clock::rsyslog(e.t);
            let host = &self.hosts[h].name;
            let line = match pid {
                Some(pid) => format!("{stamp} {host} {}[{pid}]: {}", e.prog, e.msg),
                None => format!("{stamp} {host} {}: {}", e.prog, e.msg),
            };
            if e.t < self.test_start {
                assert_eq!(e.ep, NO_EPISODE, "labelled episodes are in the test days");
                train.push(line);
                continue;
            }
            test.push(line);
            if e.ep != NO_EPISODE {
                let n = test.len();
                let ep = &mut episodes[e.ep as usize];
                if ep.lines.is_empty() {
                    ep.first_us = e.t;
                }
                ep.last_us = e.t;
                ep.lines.push(n);
                if e.mark != Mark::None {
                    marks[e.ep as usize].push((e.t, n, e.mark));
                }
            }
        }
        for (ep, marks) in episodes.iter_mut().zip(&marks) {
            if let Some((t, line)) = ep.kind.floor().and_then(|f| cross(&f, marks)) {
                ep.cross_us = Some(t);
                ep.cross_line = Some(line);
            }
        }
        Scenario {
            hosts: self.hosts.iter().map(|h| h.name.clone()).collect(),
            params,
            train,
            test,
            episodes,
            test_start_us: self.test_start,
        }
    }
}

/// The first counted line at which `floor` holds: its time and line.
fn cross(floor: &Floor, marks: &[(i64, usize, Mark)]) -> Option<(i64, usize)> {
    let counted: Vec<(i64, usize, u32)> = marks
        .iter()
        .filter_map(|&(t, n, m)| match (floor.counts, m) {
            (Counted::Failures, Mark::Failure(src))
            | (Counted::Connections, Mark::Connection(src)) => Some((t, n, src)),
            (Counted::Success, Mark::Success) => Some((t, n, 0)),
            _ => None,
        })
        .collect();
    for (i, &(t, n, _)) in counted.iter().enumerate() {
        let window: Vec<u32> = counted[..=i]
            .iter()
            .filter(|&&(u, _, _)| u >= t - floor.window)
            .map(|&(_, _, s)| s)
            .collect();
        let distinct: BTreeSet<u32> = window.iter().copied().collect();
        if window.len() >= floor.threshold && distinct.len() >= floor.distinct {
            return Some((t, n));
        }
    }
    None
}

#[cfg(test)]
mod tests;
