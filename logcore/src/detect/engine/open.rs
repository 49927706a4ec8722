//! An anomaly while it is open: what it is about ([`Ent`]), the lines and
//! names it gathers, and how its explanation is written.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::super::anomaly::{
    anomaly_id, logq_command, rfc3339_ms, Anomaly, Priority, MAX_EXAMPLES, MAX_LINES,
};
use super::LineIn;

/// Hosts and users named in an explanation at most.
const MAX_NAMES: usize = 5;

#[derive(Debug)]
pub(super) struct Open {
    pub(super) a: Anomaly,
    pub(super) first_ms: i64,
    pub(super) last_ms: i64,
    pub(super) quiet_ms: i64,
    /// What the explanation names: hosts, users, templates.
    pub(super) hosts: BTreeSet<String>,
    pub(super) users: BTreeSet<String>,
    /// The rule's words ("5 in 10 min"), and words for the logq command.
    pub(super) rule: String,
    pub(super) words: String,
    /// What flagged lines carry in the index: kind, key and the explanation
    /// as it was when the anomaly opened.
    pub(super) reason: String,
    /// The words `refresh` describes the count with.
    pub(super) what: String,
}

/// What an anomaly is about; hashed (with the kind) to find the open
/// anomaly without formatting its key for every line.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ent<'a> {
    Ip(IpAddr),
    User(&'a str),
    IpUser(IpAddr, &'a str),
    Template(u32),
    Host(&'a str),
}

impl Ent<'_> {
    pub(super) fn id(&self, kind: &str) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(kind.as_bytes());
        let ip_bytes = |h: &mut xxhash_rust::xxh3::Xxh3, ip: &IpAddr| match ip {
            IpAddr::V4(v) => h.update(&v.octets()),
            IpAddr::V6(v) => h.update(&v.octets()),
        };
        match self {
            Ent::Ip(ip) => {
                h.update(b"\0ip");
                ip_bytes(&mut h, ip);
            }
            Ent::User(u) => {
                h.update(b"\0user");
                h.update(u.as_bytes());
            }
            Ent::IpUser(ip, u) => {
                h.update(b"\0ipuser");
                ip_bytes(&mut h, ip);
                h.update(u.as_bytes());
            }
            Ent::Template(t) => {
                h.update(b"\0template");
                h.update(&t.to_le_bytes());
            }
            Ent::Host(host) => {
                h.update(b"\0host");
                h.update(host.as_bytes());
            }
        }
        h.digest()
    }

    /// The anomaly's `key`.
    pub(super) fn key(&self) -> String {
        match self {
            Ent::Ip(ip) => format!("ip={ip}"),
            Ent::User(u) => format!("user={u}"),
            Ent::IpUser(ip, u) => format!("ip={ip} user={u}"),
            Ent::Template(t) => format!("template={t}"),
            Ent::Host(h) => format!("host={h}"),
        }
    }

    /// What the `logq` command searches for.
    pub(super) fn words(&self) -> String {
        match self {
            Ent::Ip(ip) | Ent::IpUser(ip, _) => ip.to_string(),
            Ent::User(u) => u.to_string(),
            Ent::Template(_) | Ent::Host(_) => String::new(),
        }
    }
}

pub(super) fn hash_ip(ip: &IpAddr, salt: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    match ip {
        IpAddr::V4(v) => h.update(&v.octets()),
        IpAddr::V6(v) => h.update(&v.octets()),
    }
    h.update(&[0]);
    h.update(salt.as_bytes());
    h.digest()
}

pub(super) fn hash2(a: &str, b: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(a.as_bytes());
    h.update(&[0]);
    h.update(b.as_bytes());
    h.digest()
}

pub(super) fn blank(
    kind: &str,
    key: &str,
    host: Option<&str>,
    first_ms: i64,
    now_ms: i64,
) -> Anomaly {
    Anomaly {
        id: anomaly_id(kind, key, first_ms),
        kind: kind.to_string(),
        score: 1.0,
        key: key.to_string(),
        host: host.map(str::to_string),
        template: None,
        count: 0,
        baseline: String::new(),
        first_ts: rfc3339_ms(first_ms),
        last_ts: rfc3339_ms(first_ms),
        detected_ts: rfc3339_ms(now_ms),
        first_line: 0,
        last_line: 0,
        lines: Vec::new(),
        session: None,
        explanation: String::new(),
        examples: Vec::new(),
        logq: String::new(),
        priority: Priority::Alert,
    }
}

pub(super) fn new_open(
    kind: &str,
    key: &str,
    l: &LineIn<'_>,
    first_ms: i64,
    quiet_ms: i64,
    rule: String,
    words: &str,
) -> Open {
    Open {
        a: blank(kind, key, Some(l.host), first_ms, l.ts_ms),
        first_ms,
        last_ms: l.ts_ms,
        quiet_ms,
        hosts: BTreeSet::new(),
        users: BTreeSet::new(),
        rule,
        words: words.to_string(),
        reason: String::new(),
        what: String::new(),
    }
}

pub(super) fn push_line(a: &mut Anomaly, line: u64) {
    a.count += 1;
    if a.lines.len() < MAX_LINES {
        a.lines.push(line);
    }
    if a.first_line == 0 || line < a.first_line {
        a.first_line = line;
    }
    a.last_line = a.last_line.max(line);
}

pub(super) fn add_line(o: &mut Open, l: &LineIn<'_>, user: &str) {
    push_line(&mut o.a, l.line);
    o.last_ms = o.last_ms.max(l.ts_ms);
    if o.hosts.len() < MAX_NAMES && !o.hosts.contains(l.host) {
        o.hosts.insert(l.host.to_string());
    }
    if !user.is_empty() && o.users.len() < MAX_NAMES && !o.users.contains(user) {
        o.users.insert(user.to_string());
    }
    if o.a.examples.len() < MAX_EXAMPLES {
        o.a.examples.push(l.message.to_string());
    }
}

/// Brings the anomaly's times, command and explanation up to date, before
/// it is reported.
pub(super) fn finalize(o: &mut Open) {
    o.a.first_ts = rfc3339_ms(o.first_ms);
    o.a.last_ts = rfc3339_ms(o.last_ms);
    let host = (o.hosts.len() == 1)
        .then(|| o.hosts.iter().next().map(String::as_str))
        .flatten();
    o.a.logq = logq_command(host, o.first_ms, o.last_ms, &o.words);
    if !o.what.is_empty() {
        let what = o.what.clone();
        refresh(o, &what);
    }
}

/// Rewrites a rate anomaly's explanation from its counts.
fn refresh(o: &mut Open, what: &str) {
    let span = human_span(o.last_ms - o.first_ms);
    let hosts: Vec<&str> = o.hosts.iter().map(String::as_str).collect();
    let users: Vec<&str> = o.users.iter().map(String::as_str).collect();
    let mut s = format!(
        "{} {what} ({}) in {span} on {}",
        o.a.count,
        o.a.key,
        hosts.join(", ")
    );
    if !users.is_empty() {
        s.push_str(&format!(", users {}", users.join(", ")));
    }
    s.push_str(&format!("; threshold {}", o.rule));
    o.a.baseline = o.rule.clone();
    o.a.explanation = s;
}

fn human_span(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{} s", ms / 1000)
    } else if ms < 7_200_000 {
        format!("{} min", ms / 60_000)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}
