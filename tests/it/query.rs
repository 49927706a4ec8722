//! logq prints exactly the lines a query asks for. Queries are generated
//! from a seeded RNG as syntax trees and rendered to logq's command line;
//! an oracle here evaluates the same trees over the corpus that was
//! ingested, and logq's `-o raw` output must be its answer byte for byte, in
//! the same order. The oracle reads each line with a reference of its own
//! (`logq_tests::reference`: the syslog header and the word rules as the
//! documentation states them, not the product's parser and tokenizer) and
//! evaluates the query on its own, so logq's query parser, the index's
//! tokenizer and collectord's header parsing are all under test.
//!
//! What the oracle takes a query to mean:
//!
//! - a word: every index term of the word is a term of the line (the
//!   tokenizer over the whole line, decoded lossily), in any case;
//! - a `"phrase"`, or one argument of several plain words: the line,
//!   lowercased, contains the words, lowercased, joined by single spaces
//!   (with `-s`: the line as it is contains the phrase as it is);
//! - `prefix*`: a term of the line starts with the prefix, lowercased;
//! - `host:GLOB` and `-H GLOB` on the host (the agent's for a line without
//!   a header), `program:GLOB` and `-t GLOB` on the syslog tag (a line
//!   without one matches none), `*` any run of characters, `?` one;
//! - `severity:NAME` that level, `severity:<=NAME` it and the more severe,
//!   `-p LEVEL` as journalctl (LEVEL and more severe), `-p A..B` from A to B
//!   either way round, `facility:NAME`: lines without a `<PRI>` match none;
//! - `-e RE`: any of them matches the line, ignoring case unless `-s`;
//! - `--since` inclusive, `--until` exclusive, on the event time (the
//!   receive time for a line without a stamp);
//! - `NOT x`, `-x`, `a OR b`, `( )`; arguments are ANDed;
//! - order: event time, then file order.
//!
//! On a mismatch the test prints the command line, both counts and the
//! first line that differs. `LOGQ_QUERY_SEED=N` replaces the seeds.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use logcore::record::{FACILITY_NAMES, SEVERITY_NAMES};
use logq_tests::corpus::Corpus;
use logq_tests::reference::{header::header, words::terms};
use logq_tests::{Agent, Collector, Shared};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use regex::{Regex, RegexBuilder};

/// Lines in the corpus.
const LINES: usize = 20_000;
/// The host agentd gives lines that name none (see `Agent::start`).
const AGENT_HOST: &str = "testhost";
/// Users of the corpus, for regular expressions.
const USERS: [&str; 6] = ["root", "admin", "deploy", "alice", "bob", "carol"];

/// One corpus line, read as the collector reads it.
struct Line {
    raw: Vec<u8>,
    /// Decoded lossily, as the index tokenizes it.
    text: String,
    lower: String,
    terms: HashSet<String>,
    host: String,
    program: Option<String>,
    severity: Option<u8>,
    facility: Option<u8>,
    time_ms: i64,
    /// The line has a stamp of its own (else: its receive time).
    stamped: bool,
    /// Valid UTF-8 without control characters, with a syslog header: where
    /// phrases are taken from.
    clean: bool,
}

/// The corpus, ingested by a real collectord and agentd.
struct Fixture {
    collector: Collector,
    _agent: Agent,
    /// In the order logq prints them: event time, then file order.
    lines: Vec<Line>,
    hosts: Vec<String>,
    programs: Vec<String>,
    facilities: Vec<u8>,
    /// Event times of the lines with a stamp, sorted.
    times: Vec<i64>,
    _tmp: tempfile::TempDir,
}

static FIXTURE: Shared<Fixture> = Shared::new();

fn fixture() -> Arc<Fixture> {
    FIXTURE.get(Fixture::build)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

impl Fixture {
    fn build() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let mut corpus = Corpus::new(20_261_101, 12)
            .with_priorities(0.3)
            .with_odd_lines(0.002);
        let mut bytes = Vec::new();
        for _ in 0..LINES {
            corpus.line(&mut bytes).unwrap();
        }
        let mut hosts = corpus.hosts().to_vec();
        hosts.push(AGENT_HOST.to_owned());
        let logs = tmp.path().join("logs");
        fs::create_dir_all(&logs).unwrap();
        let path = logs.join("corpus.log");
        fs::write(&path, &bytes).unwrap();

        let collector = Collector::start(&tmp.path().join("collector"), "");
        let agent = Agent::start(&tmp.path().join("agent"), collector.addr, &[&path], "");
        assert!(
            collector.wait_for_lines(LINES as u64, Duration::from_secs(120)),
            "{:?} of {LINES} lines became searchable; agent log:\n{}",
            collector.searchable_lines(),
            agent.log()
        );
        // Lines without a stamp are stamped with their receive time: after
        // (or, with a clock before 2026-11, before) every corpus line, in
        // file order.
        let received = now_ms();

        let mut lines: Vec<Line> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|raw| {
                let text = String::from_utf8_lossy(raw).into_owned();
                let header = header(&text, received, 0);
                let h = header.as_ref();
                Line {
                    raw: raw.to_vec(),
                    lower: text.to_lowercase(),
                    terms: terms(&text).into_iter().collect(),
                    host: h.and_then(|h| h.host).unwrap_or(AGENT_HOST).to_owned(),
                    program: h.and_then(|h| h.program).map(str::to_owned),
                    severity: h.and_then(|h| h.severity),
                    facility: h.and_then(|h| h.facility),
                    time_ms: h.map_or(received, |h| h.time_ms),
                    stamped: h.is_some(),
                    clean: h.is_some()
                        && std::str::from_utf8(raw).is_ok()
                        && !raw.iter().any(|&b| b < 0x20),
                    text,
                }
            })
            .collect();
        assert_eq!(lines.len(), LINES);
        // What the queries need must be there, or they test less than they
        // claim.
        let with = |f: &dyn Fn(&Line) -> bool| lines.iter().filter(|l| f(l)).count();
        assert!(with(&|l| l.severity.is_some()) > LINES / 5, "too few <PRI>");
        assert!(
            with(&|l| l.text.contains('\u{fffd}')) > 0,
            "no invalid UTF-8"
        );
        assert!(with(&|l| l.raw.contains(&0x1b)) > 0, "no ESC");
        assert!(with(&|l| l.host == AGENT_HOST) > 0, "no unparsed line");
        let mut times: Vec<i64> = lines
            .iter()
            .filter(|l| l.stamped)
            .map(|l| l.time_ms)
            .collect();
        times.sort_unstable();
        assert!(
            received > times[times.len() - 1] + 1000 || received < times[0] - 1000,
            "the clock is inside the corpus' time span: the order of lines without a stamp is unknown"
        );
        lines.sort_by_key(|l| l.time_ms);
        let programs: BTreeSet<String> = lines.iter().filter_map(|l| l.program.clone()).collect();
        let facilities: BTreeSet<u8> = lines.iter().filter_map(|l| l.facility).collect();
        Fixture {
            collector,
            _agent: agent,
            lines,
            hosts,
            programs: programs.into_iter().collect(),
            facilities: facilities.into_iter().collect(),
            times,
            _tmp: tmp,
        }
    }
}

/// A query's syntax tree.
#[derive(Debug, Clone)]
enum Q {
    Word(String),
    /// `quoted: false` renders as a whole argument of plain words.
    Phrase {
        text: String,
        quoted: bool,
    },
    Prefix(String),
    Host(String),
    Program(String),
    /// `text` as written after `severity:`; `lo..=hi` the levels.
    Severity {
        text: String,
        lo: u8,
        hi: u8,
    },
    Facility(u8),
    /// `dash`: written `-x`, else `NOT x`.
    Not {
        inner: Box<Q>,
        dash: bool,
    },
    And(Vec<Q>),
    Or(Vec<Q>),
}

/// A whole command line: the arguments (ANDed) and the flags.
#[derive(Debug, Default)]
struct Query {
    args: Vec<Q>,
    regexes: Vec<String>,
    case_sensitive: bool,
    hosts: Vec<String>,
    programs: Vec<String>,
    /// `-p` as written, and the levels it selects.
    severity: Option<(String, u8, u8)>,
    /// As written, and the millisecond it stands for.
    since: Option<(String, i64)>,
    until: Option<(String, i64)>,
}

impl Q {
    /// As part of a larger expression.
    fn render(&self) -> String {
        match self {
            Q::Word(w) => w.clone(),
            Q::Phrase { text, .. } => format!("\"{text}\""),
            Q::Prefix(p) => format!("{p}*"),
            Q::Host(g) => format!("host:{g}"),
            Q::Program(g) => format!("program:{g}"),
            Q::Severity { text, .. } => format!("severity:{text}"),
            Q::Facility(f) => format!("facility:{}", FACILITY_NAMES[usize::from(*f)]),
            Q::Not { inner, dash } => {
                let inner = inner.grouped();
                if *dash {
                    format!("-{inner}")
                } else {
                    format!("NOT {inner}")
                }
            }
            Q::And(v) => v.iter().map(Q::grouped).collect::<Vec<_>>().join(" "),
            Q::Or(v) => v.iter().map(Q::grouped).collect::<Vec<_>>().join(" OR "),
        }
    }

    /// In parentheses when it is an AND or an OR, so that no precedence
    /// rule is needed to read it back.
    fn grouped(&self) -> String {
        match self {
            Q::And(_) | Q::Or(_) => format!("({})", self.render()),
            _ => self.render(),
        }
    }

    /// As a whole argument: an unquoted phrase stays unquoted, and an AND
    /// is grouped (several plain words in one argument are a phrase).
    fn render_arg(&self) -> String {
        match self {
            Q::Phrase {
                text,
                quoted: false,
            } => text.clone(),
            Q::Or(_) => self.render(),
            _ => self.grouped(),
        }
    }
}

impl Query {
    fn command_line(&self) -> Vec<String> {
        let mut out = Vec::new();
        for re in &self.regexes {
            out.extend(["-e".to_owned(), re.clone()]);
        }
        if self.case_sensitive {
            out.push("-s".to_owned());
        }
        for h in &self.hosts {
            out.extend(["-H".to_owned(), h.clone()]);
        }
        for p in &self.programs {
            out.extend(["-t".to_owned(), p.clone()]);
        }
        if let Some((p, _, _)) = &self.severity {
            out.extend(["-p".to_owned(), p.clone()]);
        }
        if let Some((t, _)) = &self.since {
            out.extend(["--since".to_owned(), t.clone()]);
        }
        if let Some((t, _)) = &self.until {
            out.extend(["--until".to_owned(), t.clone()]);
        }
        let args: Vec<String> = self.args.iter().map(Q::render_arg).collect();
        if args.iter().any(|a| a.starts_with('-')) {
            out.push("--".to_owned());
        }
        out.extend(args);
        out
    }

    fn shell(&self) -> String {
        let mut s = String::from("logq -o raw");
        for a in self.command_line() {
            s.push(' ');
            s.push_str(&shell_quote(&a));
        }
        s
    }
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@:=+,*".contains(c))
    {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// A query compiled for the oracle.
enum C {
    Terms(Vec<String>),
    Contains(String),
    Prefix(String),
    Host(String),
    Program(String),
    Severity(u8, u8),
    Facility(u8),
    Not(Box<C>),
    And(Vec<C>),
    Or(Vec<C>),
}

struct Oracle {
    args: Vec<C>,
    case_sensitive: bool,
    regexes: Vec<Regex>,
    hosts: Vec<String>,
    programs: Vec<String>,
    severity: Option<(u8, u8)>,
    since: Option<i64>,
    until: Option<i64>,
}

fn compile(q: &Q, cs: bool) -> C {
    match q {
        Q::Word(w) => C::Terms(terms(w)),
        Q::Phrase { text, .. } => {
            let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
            C::Contains(if cs { joined } else { joined.to_lowercase() })
        }
        Q::Prefix(p) => C::Prefix(p.to_lowercase()),
        Q::Host(g) => C::Host(g.clone()),
        Q::Program(g) => C::Program(g.clone()),
        Q::Severity { lo, hi, .. } => C::Severity(*lo, *hi),
        Q::Facility(f) => C::Facility(*f),
        Q::Not { inner, .. } => C::Not(Box::new(compile(inner, cs))),
        Q::And(v) => C::And(v.iter().map(|q| compile(q, cs)).collect()),
        Q::Or(v) => C::Or(v.iter().map(|q| compile(q, cs)).collect()),
    }
}

impl Oracle {
    fn new(q: &Query) -> Oracle {
        Oracle {
            args: q
                .args
                .iter()
                .map(|a| compile(a, q.case_sensitive))
                .collect(),
            case_sensitive: q.case_sensitive,
            regexes: q
                .regexes
                .iter()
                .map(|re| {
                    RegexBuilder::new(re)
                        .case_insensitive(!q.case_sensitive)
                        .build()
                        .expect("generated regexes compile")
                })
                .collect(),
            hosts: q.hosts.clone(),
            programs: q.programs.clone(),
            severity: q.severity.as_ref().map(|(_, lo, hi)| (*lo, *hi)),
            since: q.since.as_ref().map(|(_, t)| *t),
            until: q.until.as_ref().map(|(_, t)| *t),
        }
    }

    fn eval(&self, c: &C, l: &Line) -> bool {
        match c {
            C::Terms(terms) => terms.iter().all(|t| l.terms.contains(t)),
            C::Contains(p) if self.case_sensitive => l.text.contains(p.as_str()),
            C::Contains(p) => l.lower.contains(p.as_str()),
            C::Prefix(p) => l.terms.iter().any(|t| t.starts_with(p.as_str())),
            C::Host(g) => glob(g, &l.host),
            C::Program(g) => l.program.as_deref().is_some_and(|p| glob(g, p)),
            C::Severity(lo, hi) => l.severity.is_some_and(|s| (*lo..=*hi).contains(&s)),
            C::Facility(f) => l.facility == Some(*f),
            C::Not(c) => !self.eval(c, l),
            C::And(v) => v.iter().all(|c| self.eval(c, l)),
            C::Or(v) => v.iter().any(|c| self.eval(c, l)),
        }
    }

    fn matches(&self, l: &Line) -> bool {
        self.args.iter().all(|c| self.eval(c, l))
            && (self.regexes.is_empty() || self.regexes.iter().any(|re| re.is_match(&l.text)))
            && (self.hosts.is_empty() || self.hosts.iter().any(|g| glob(g, &l.host)))
            && (self.programs.is_empty()
                || l.program
                    .as_deref()
                    .is_some_and(|p| self.programs.iter().any(|g| glob(g, p))))
            && self
                .severity
                .is_none_or(|(lo, hi)| l.severity.is_some_and(|s| (lo..=hi).contains(&s)))
            && self.since.is_none_or(|t| l.time_ms >= t)
            && self.until.is_none_or(|t| l.time_ms < t)
    }
}

/// Shell-style: `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// What a test's queries may contain.
#[derive(Clone, Copy, Default)]
struct Mix {
    words: bool,
    phrases: bool,
    prefixes: bool,
    fields: bool,
    boolean: bool,
    filters: bool,
    times: bool,
    regexes: bool,
}

/// A word the query language reads as a plain word: no operator, quote,
/// field or wildcard in it.
fn is_plain_word(w: &str) -> bool {
    let mut chars = w.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/')
        && chars.all(|c| c.is_ascii_alphanumeric() || "._/@-".contains(c))
        && !["or", "and", "not"].contains(&w.to_ascii_lowercase().as_str())
}

struct Gen<'a> {
    rng: StdRng,
    fx: &'a Fixture,
    mix: Mix,
    /// Of the query being generated.
    case_sensitive: bool,
}

impl<'a> Gen<'a> {
    fn line(&mut self) -> &'a Line {
        let fx: &'a Fixture = self.fx;
        &fx.lines[self.rng.gen_range(0..fx.lines.len())]
    }

    fn recase(&mut self, w: &str) -> String {
        match self.rng.gen_range(0..4) {
            0 => w.to_uppercase(),
            1 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_owned(),
        }
    }

    /// A word of a random line: an address, a user, a path, a number...
    fn word(&mut self) -> Q {
        loop {
            let terms: Vec<String> = {
                let line = self.line();
                let mut t: Vec<String> = line
                    .terms
                    .iter()
                    .filter(|t| is_plain_word(t))
                    .cloned()
                    .collect();
                t.sort();
                t
            };
            if let Some(w) = terms.choose(&mut self.rng).cloned() {
                return Q::Word(self.recase(&w));
            }
        }
    }

    /// Two or three consecutive words of a random line. Phrases that occur
    /// inside longer words somewhere (`from 1.2.3.4` in `from 1.2.3.45`)
    /// are skipped: the index finds lines by whole words, and which answer
    /// is right there is a question for the query language, not this test.
    fn phrase(&mut self) -> Q {
        loop {
            let parts: Vec<String> = {
                let line = self.line();
                if !line.clean {
                    continue;
                }
                line.text.split(' ').map(str::to_owned).collect()
            };
            let n = self.rng.gen_range(2..=3);
            if parts.len() < n {
                continue;
            }
            let at = self.rng.gen_range(0..=parts.len() - n);
            let words = &parts[at..at + n];
            if words
                .iter()
                .any(|w| w.is_empty() || w.contains(['"', '\\']))
            {
                continue;
            }
            let text = words.join(" ");
            let lower = text.to_lowercase();
            let phrase_terms = terms(&text);
            if self.fx.lines.iter().any(|l| {
                l.lower.contains(&lower) && !phrase_terms.iter().all(|t| l.terms.contains(t))
            }) {
                continue;
            }
            let text = match self.rng.gen_range(0..6) {
                0 => text.to_uppercase(),
                1 if !self.case_sensitive => lower,
                _ => text,
            };
            let quoted = !words.iter().all(|w| is_plain_word(w)) || self.rng.gen_bool(0.5);
            return Q::Phrase { text, quoted };
        }
    }

    /// The start of a word of letters and digits.
    fn prefix(&mut self) -> Q {
        loop {
            let words: Vec<String> = {
                let line = self.line();
                let mut t: Vec<String> = line
                    .terms
                    .iter()
                    .filter(|t| t.len() >= 4 && t.chars().all(|c| c.is_ascii_alphanumeric()))
                    .cloned()
                    .collect();
                t.sort();
                t
            };
            if let Some(w) = words.choose(&mut self.rng).cloned() {
                let n = self.rng.gen_range(3..=w.len());
                let p = self.recase(&w[..n]);
                return Q::Prefix(p);
            }
        }
    }

    /// A pattern for `name`: itself, a head and `*`, `*` and a tail, or a
    /// `?` for one character.
    fn glob_for(&mut self, name: &str) -> String {
        let chars: Vec<char> = name.chars().collect();
        let n = chars.len();
        match self.rng.gen_range(0..5) {
            0 if n > 1 => {
                let k = self.rng.gen_range(1..n);
                format!("{}*", chars[..k].iter().collect::<String>())
            }
            1 if n > 1 => {
                let k = self.rng.gen_range(1..n);
                format!("*{}", chars[k..].iter().collect::<String>())
            }
            2 => {
                let k = self.rng.gen_range(0..n);
                let mut c = chars.clone();
                c[k] = '?';
                c.into_iter().collect()
            }
            _ => name.to_owned(),
        }
    }

    fn host_glob(&mut self) -> String {
        let host = self.fx.hosts.choose(&mut self.rng).expect("hosts").clone();
        self.glob_for(&host)
    }

    fn program_glob(&mut self) -> String {
        let program = self
            .fx
            .programs
            .choose(&mut self.rng)
            .expect("programs")
            .clone();
        self.glob_for(&program)
    }

    fn field(&mut self) -> Q {
        match self.rng.gen_range(0..4) {
            0 => Q::Host(self.host_glob()),
            1 => Q::Program(self.program_glob()),
            2 => {
                let level = self.rng.gen_range(0..8u8);
                let name = SEVERITY_NAMES[usize::from(level)];
                if self.rng.gen_bool(0.5) {
                    Q::Severity {
                        text: name.to_owned(),
                        lo: level,
                        hi: level,
                    }
                } else {
                    Q::Severity {
                        text: format!("<={name}"),
                        lo: 0,
                        hi: level,
                    }
                }
            }
            _ => Q::Facility(
                *self
                    .fx
                    .facilities
                    .choose(&mut self.rng)
                    .expect("facilities"),
            ),
        }
    }

    fn atom(&mut self) -> Option<Q> {
        let cs = self.case_sensitive;
        let mut kinds = Vec::new();
        if self.mix.words && !cs {
            kinds.push(0);
        }
        if self.mix.phrases {
            kinds.push(1);
        }
        if self.mix.prefixes && !cs {
            kinds.push(2);
        }
        if self.mix.fields {
            kinds.push(3);
        }
        Some(match kinds.choose(&mut self.rng)? {
            0 => self.word(),
            1 => self.phrase(),
            2 => self.prefix(),
            _ => self.field(),
        })
    }

    fn expr(&mut self, depth: u32) -> Option<Q> {
        if !self.mix.boolean || depth == 0 || self.rng.gen_bool(0.4) {
            return self.atom();
        }
        Some(match self.rng.gen_range(0..5) {
            k @ 0..=2 => {
                let n = self.rng.gen_range(2..=3);
                let mut v: Vec<Q> = (0..n).filter_map(|_| self.expr(depth - 1)).collect();
                match v.len() {
                    0 => return None,
                    1 => v.pop().expect("one"),
                    _ if k < 2 => Q::Or(v),
                    _ => Q::And(v),
                }
            }
            _ => {
                let inner = self.expr(depth - 1)?;
                let dash = matches!(inner, Q::Word(_)) && self.rng.gen_bool(0.5);
                Q::Not {
                    inner: Box::new(inner),
                    dash,
                }
            }
        })
    }

    /// A time near the corpus' lines, written in one of the forms logq
    /// reads, and the millisecond it stands for.
    fn time(&mut self, ms: i64) -> (String, i64) {
        let (y, mo, d, h, mi, s, milli) = civil(ms);
        let secs = ms - ms.rem_euclid(1000);
        match self.rng.gen_range(0..12) {
            0..=3 => (
                format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"),
                ms,
            ),
            4 => (
                format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00"),
                secs,
            ),
            5 => {
                let (y, mo, d, h, mi, s, _) = civil(ms + 3_600_000);
                (
                    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+01:00"),
                    secs,
                )
            }
            6 | 7 => (format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"), secs),
            8 => (
                format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}"),
                ms - ms.rem_euclid(60_000),
            ),
            9 | 10 => (format!("@{}", ms.div_euclid(1000)), secs),
            _ => (
                format!("{y}-{mo:02}-{d:02}"),
                ms - ms.rem_euclid(86_400_000),
            ),
        }
    }

    fn regex(&mut self) -> String {
        let u = *USERS.choose(&mut self.rng).expect("users");
        let v = *USERS.choose(&mut self.rng).expect("users");
        let host = self.fx.hosts[self.rng.gen_range(0..self.fx.hosts.len() - 1)].clone();
        let n = self.rng.gen_range(0..40);
        let d = self.rng.gen_range(1..7);
        let m = self.rng.gen_range(0..4);
        let (re, flippable) = match self.rng.gen_range(0..15) {
            0 => (format!("Failed password for ({u}|{v}) from"), true),
            1 => (format!("for {u} from [0-9]+\\.[0-9]+\\."), true),
            2 => (format!("port {d}[0-9]{{3}} ssh2"), true),
            3 => (format!("job-{n}\\.sh"), true),
            4 => ("^<[0-9]+>".to_owned(), false),
            5 => ("HTTP/1\\.1\" (404|500) ".to_owned(), true),
            6 => (format!("{host} (sshd|sudo)\\["), true),
            7 => (
                format!("session opened for user {u}\\(uid=[0-9]{{2}}\\)"),
                true,
            ),
            8 => (
                "(segfault|Out of memory|maximum authentication)".to_owned(),
                true,
            ),
            9 => ("\\x1b\\[31m".to_owned(), false),
            10 => ("not utf8$".to_owned(), true),
            11 => ("nul.byte".to_owned(), true),
            12 => ("martian source 1[0-9]\\.".to_owned(), true),
            13 => (
                "USER=root ; COMMAND=/usr/bin/systemctl restart (nginx|cron)\\.service".to_owned(),
                true,
            ),
            _ => (format!("^2026-11-01T00:0{m}:"), false),
        };
        if flippable && self.rng.gen_range(0..4) == 0 {
            re.to_uppercase()
        } else {
            re
        }
    }

    fn candidate(&mut self) -> Query {
        let mix = self.mix;
        self.case_sensitive = (mix.regexes || mix.phrases) && self.rng.gen_range(0..5) == 0;
        let mut q = Query {
            case_sensitive: self.case_sensitive,
            ..Query::default()
        };
        if mix.regexes && self.rng.gen_bool(0.6) {
            let n = self.rng.gen_range(1..=2);
            q.regexes = (0..n).map(|_| self.regex()).collect();
        }
        if mix.filters {
            if self.rng.gen_bool(0.4) {
                let n = self.rng.gen_range(1..=2);
                q.hosts = (0..n).map(|_| self.host_glob()).collect();
            }
            if self.rng.gen_bool(0.3) {
                q.programs = vec![self.program_glob()];
            }
            if self.rng.gen_bool(0.3) {
                let a = self.rng.gen_range(0..8u8);
                let b = self.rng.gen_range(0..8u8);
                let name = |l: u8| SEVERITY_NAMES[usize::from(l)].to_owned();
                q.severity = Some(match self.rng.gen_range(0..4) {
                    0 => (name(a), 0, a),
                    1 => (a.to_string(), 0, a),
                    2 => (format!("{}..{}", name(a), name(b)), a.min(b), a.max(b)),
                    _ => (format!("{a}..{}", name(b)), a.min(b), a.max(b)),
                });
            }
        }
        if mix.times && self.rng.gen_bool(0.6) {
            // Line times, so that the edges of the window fall on lines.
            let times = &self.fx.times;
            let i = self.rng.gen_range(0..times.len());
            let j = (i + self.rng.gen_range(1..4_000)).min(times.len() - 1);
            let since = self.time(times[i]);
            let until = self.time(times[j]);
            match self.rng.gen_range(0..3) {
                0 => q.since = Some(since),
                1 => q.until = Some(until),
                _ => {
                    q.since = Some(since);
                    q.until = Some(until);
                }
            }
        }
        let flagged = !q.regexes.is_empty()
            || !q.hosts.is_empty()
            || !q.programs.is_empty()
            || q.severity.is_some()
            || q.since.is_some()
            || q.until.is_some();
        let n = self.rng.gen_range(if flagged { 0 } else { 1 }..=3);
        q.args = (0..n).filter_map(|_| self.expr(2)).collect();
        q
    }

    /// A query that mostly matches something (a tenth of them nothing).
    fn query(&mut self) -> (Query, Vec<usize>) {
        loop {
            let q = self.candidate();
            let oracle = Oracle::new(&q);
            let hits: Vec<usize> = (0..self.fx.lines.len())
                .filter(|&i| oracle.matches(&self.fx.lines[i]))
                .collect();
            if !hits.is_empty() || self.rng.gen_range(0..10) == 0 {
                return (q, hits);
            }
        }
    }
}

/// Year, month, day, hour, minute, second, millisecond of `ms` in UTC.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rest / 3_600_000) as u32,
        (rest / 60_000 % 60) as u32,
        (rest / 1000 % 60) as u32,
        (rest % 1000) as u32,
    )
}

/// Runs the query through logq; says what differs from the oracle.
fn check(fx: &Fixture, q: &Query, hits: &[usize]) -> Result<(), String> {
    let out: Output = fx
        .collector
        .logq_command()
        .args(["-o", "raw"])
        .args(q.command_line())
        .output()
        .expect("run logq");
    let mut expected = Vec::new();
    for &i in hits {
        expected.extend_from_slice(&fx.lines[i].raw);
        expected.push(b'\n');
    }
    let want_code = if hits.is_empty() { 1 } else { 0 };
    if out.stdout == expected && out.status.code() == Some(want_code) {
        return Ok(());
    }
    let got: Vec<&[u8]> = out.stdout.split_inclusive(|&b| b == b'\n').collect();
    let want: Vec<&[u8]> = expected.split_inclusive(|&b| b == b'\n').collect();
    let mut msg = format!(
        "{}\n  oracle: {} lines (exit {want_code}); logq: {} lines (exit {:?})",
        q.shell(),
        want.len(),
        got.len(),
        out.status.code()
    );
    if !out.stderr.is_empty() {
        msg += &format!(
            "\n  logq stderr: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    if let Some(i) = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i)) {
        let show = |l: Option<&&[u8]>| {
            l.map_or("(none)".to_owned(), |l| {
                format!("{:?}", String::from_utf8_lossy(l).trim_end())
            })
        };
        msg += &format!(
            "\n  first difference, line {}:\n    oracle: {}\n    logq:   {}",
            i + 1,
            show(want.get(i)),
            show(got.get(i))
        );
    }
    Err(msg)
}

fn seed(default: u64) -> u64 {
    std::env::var("LOGQ_QUERY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Generates `n` queries of `mix` and checks each.
fn differential(seed_default: u64, n: usize, mix: Mix) {
    let fx = fixture();
    let seed = seed(seed_default);
    let mut gen = Gen {
        rng: StdRng::seed_from_u64(seed),
        fx: &fx,
        mix,
        case_sensitive: false,
    };
    let mut failures = Vec::new();
    let mut matched = 0;
    for _ in 0..n {
        let (q, hits) = gen.query();
        matched += usize::from(!hits.is_empty());
        if let Err(e) = check(&fx, &q, &hits) {
            failures.push(e);
        }
    }
    assert!(matched > n / 2, "the generator made too many empty queries");
    assert!(
        failures.is_empty(),
        "{} of {n} queries (seed {seed}) printed other lines than the oracle:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Words (addresses, users, paths, pids, in any case), phrases quoted or as
/// one argument of plain words, several arguments: a user searching for an
/// attacker's address or `failed password` would miss lines, or get lines
/// that do not have the words.
#[test]
fn words_and_phrases_find_what_the_oracle_finds() {
    differential(
        1,
        40,
        Mix {
            words: true,
            phrases: true,
            ..Mix::default()
        },
    );
}

/// `OR`, `NOT`, `-word` and parentheses: `sshd (failed OR invalid) NOT
/// root` must mean what it says, or an operator excluding the noise would
/// lose the lines that matter.
#[test]
fn or_not_and_groups_combine_like_the_oracle() {
    differential(
        2,
        40,
        Mix {
            words: true,
            phrases: true,
            boolean: true,
            ..Mix::default()
        },
    );
}

/// `host:`, `program:`, `severity:`, `severity:<=` and `facility:` in the
/// query, with globs, mixed with words and operators: a filter on the wrong
/// field, a glob read wrong, or lines without a `<PRI>` counted as
/// emergencies would show up here.
#[test]
fn field_terms_select_like_the_oracle() {
    differential(
        3,
        40,
        Mix {
            words: true,
            fields: true,
            boolean: true,
            ..Mix::default()
        },
    );
}

/// `-H` (repeatable), `-t`, `-p` as journalctl reads it, and `--since` /
/// `--until` in every form logq takes a fixed time in (RFC 3339 with zones,
/// local dates and times, `@EPOCH`): an off-by-one at a window's edge or a
/// time zone slip would drop or add lines at the ends of an incident.
#[test]
fn filter_flags_select_like_the_oracle() {
    differential(
        4,
        40,
        Mix {
            words: true,
            phrases: true,
            filters: true,
            times: true,
            ..Mix::default()
        },
    );
}

/// `prefix*`, `-e` regexes (repeatable, any of them), `-s`: a regex
/// matched against a part of the line only, or case rules applied wrong,
/// would hide lines a grep user expects.
#[test]
fn prefixes_and_regexes_match_like_the_oracle() {
    differential(
        5,
        40,
        Mix {
            words: true,
            phrases: true,
            prefixes: true,
            regexes: true,
            boolean: true,
            ..Mix::default()
        },
    );
}

/// Everything at once, nested: the parts must combine as they do alone.
#[test]
fn mixed_queries_match_like_the_oracle() {
    differential(
        6,
        40,
        Mix {
            words: true,
            phrases: true,
            prefixes: true,
            fields: true,
            boolean: true,
            filters: true,
            times: true,
            regexes: true,
        },
    );
}

/// A query that matches nothing exits 1 and prints nothing, with or without
/// `--count` (which prints 0): scripts test `logq ... && alert`.
#[test]
fn a_query_matching_nothing_exits_1() {
    let fx = fixture();
    for args in [
        &["nosuchwordanywhere"][..],
        &["sshd", "NOT sshd"],
        &["-H", "nosuchhost", "sshd"],
    ] {
        let out = fx
            .collector
            .logq_command()
            .args(["-o", "raw"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "logq {args:?}: stderr {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "logq {args:?} printed {:?}",
            out.stdout
        );
        let out = fx
            .collector
            .logq_command()
            .arg("--count")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "logq --count {args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    }
}

/// Printing all matches reads and formats them on every core, a batch of
/// 2,048 hits at a time shared out by archive block, and merges the lines
/// back (`logq/src/ordered.rs`). What a user would see break: lines out of
/// time order, printed twice or lost once a result is larger than a batch.
/// The reference is `-n` (newest N, one thread), in every format, with the
/// index's exact answer and with the per-line check (a regex).
#[test]
fn many_matches_print_as_one_thread_prints_them() {
    let fx = fixture();
    let every: &[&str] = &[];
    let regex: &[&str] = &["-e", "[0-9]{3}"];
    for format in ["short", "raw", "json"] {
        for query in [every, regex] {
            let run = |extra: &[&str]| {
                let out = fx
                    .collector
                    .logq_command()
                    .args(["-o", format, "--color", "never"])
                    .args(extra)
                    .args(query)
                    .output()
                    .unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "logq {extra:?} {query:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            };
            let all = run(&[]);
            let one_thread = run(&["-n", "1000000"]);
            let lines = all.iter().filter(|&&b| b == b'\n').count();
            assert!(lines > 4 * 2048, "{lines} lines: fewer than 4 batches");
            if all != one_thread {
                let a: Vec<&[u8]> = all.split_inclusive(|&b| b == b'\n').collect();
                let o: Vec<&[u8]> = one_thread.split_inclusive(|&b| b == b'\n').collect();
                let i = (0..a.len().max(o.len()))
                    .find(|&i| a.get(i) != o.get(i))
                    .unwrap_or(0);
                panic!(
                    "-o {format} {query:?}: {} lines, one thread {}; first difference at line {}:\n  all: {:?}\n  -n:  {:?}",
                    a.len(),
                    o.len(),
                    i + 1,
                    a.get(i).map(|l| String::from_utf8_lossy(l)),
                    o.get(i).map(|l| String::from_utf8_lossy(l))
                );
            }
        }
    }
}
