//! The detectors that need a trained model: the per-line Isolation Forest,
//! novelty (a new kind of message, or one new to a host), and the scoring of
//! closed sessions and host windows; and opening or extending a novelty
//! anomaly.

use super::open::{add_line, blank, finalize, new_open, Ent};
use super::{Engine, LineIn, Report, NOVELTY_QUIET_MS};
use crate::detect::anomaly::{human_ms, logq_command, rfc3339_ms, Priority};
use crate::detect::model::{family, host_family, host_hash};
use crate::detect::sessions::Finding;
use crate::detect::windows;
use crate::template::TemplateId;

/// A kind of line new to a host is an anomaly when fewer than this share
/// of the hosts logged it in training.
const NEW_FOR_HOST_SHARE: f64 = 0.5;

/// The open map's key of a novelty anomaly: the low-priority one of an
/// entity is apart from its alert, so that an error new to a host an hour
/// after its reboot's lines still alerts.
fn open_key(ent: &Ent<'_>, kind: &str, priority: Priority) -> u64 {
    match priority {
        Priority::Alert => ent.id(kind),
        Priority::Low => ent.id(kind) ^ 0x6c6f_775f_7072_696f,
    }
}

/// What a new kind of message means (issue 16). Lines about logins and
/// connections are the rate rules' (each invalid user's name made a new
/// kind: 17 alerts on one scan). Otherwise the line's severity decides: a
/// warning or worse is news, notice, info and debug are not (a host's
/// first reboot logs "Server listening on 0.0.0.0 port 22." and "New seat
/// seat0."). A line without a severity (a file's RFC 3164 or RFC 3339
/// line) is judged by its words ([`implied_severity`]).
fn novelty_priority(l: &LineIn<'_>, auth_event: bool) -> Priority {
    // pam_unix's `authentication failure` repeats a counted failure (the
    // rate rules skip it so as not to count it twice).
    let repeats_a_login = l.message.starts_with("pam_unix(") && l.message.contains(":auth)");
    if auth_event || repeats_a_login {
        return Priority::Low;
    }
    match l.severity.or_else(|| implied_severity(l.message)) {
        Some(s) if s <= 4 => Priority::Alert,
        _ => Priority::Low,
    }
}

/// Words that say something went wrong, whole words of the lowercased
/// message: error (3), else warning (4).
const ERROR_WORDS: [&str; 24] = [
    "error",
    "errors",
    "err",
    "fail",
    "failed",
    "failure",
    "failing",
    "fatal",
    "panic",
    "denied",
    "refused",
    "critical",
    "segfault",
    "corrupt",
    "corrupted",
    "abort",
    "aborted",
    "aborting",
    "exception",
    "unable",
    "cannot",
    "crash",
    "crashed",
    "killed",
];
const WARNING_WORDS: [&str; 8] = [
    "warning",
    "warn",
    "timeout",
    "unreachable",
    "invalid",
    "lost",
    "oom",
    "overflow",
];

/// The severity a message's words imply, when it has none of its own.
pub(crate) fn implied_severity(message: &str) -> Option<u8> {
    let mut worst = None;
    let is = |w: &str, list: &[&str]| list.iter().any(|l| l.eq_ignore_ascii_case(w));
    for word in message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| (3..=12).contains(&w.len()))
    {
        if is(word, &ERROR_WORDS) {
            return Some(3);
        }
        if is(word, &WARNING_WORDS) {
            worst = Some(4);
        }
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("out of memory") || lower.contains("timed out") {
        return Some(3);
    }
    worst
}

impl Engine {
    pub(super) fn line_score(&mut self, id: TemplateId) -> Option<i8> {
        let forest = self.model.trained.as_ref()?.line_forest.as_ref()?;
        let text = self.model.templates.template(id);
        if let Some(&(len, v)) = self.line_scores.get(&id.0) {
            if len == text.len() {
                return Some(v);
            }
        }
        let v = if forest.score(text) > forest.forest.threshold() {
            -1
        } else {
            1
        };
        if self.line_scores.len() < 1_000_000 {
            self.line_scores.insert(id.0, (text.len(), v));
        }
        Some(v)
    }

    /// A new kind of message, or one new to this host: an alert when the
    /// line says something is wrong ([`novelty_priority`]), else a
    /// low-priority record.
    pub(super) fn novelty(
        &mut self,
        l: &LineIn<'_>,
        id: TemplateId,
        is_new: bool,
        auth_event: bool,
        flag: &mut Option<u64>,
    ) {
        let Some(trained) = &mut self.model.trained else {
            return;
        };
        if id == TemplateId::OVERFLOW {
            return;
        }
        let text = self.model.templates.template(id);
        let fam = match self.families.get(&id.0) {
            Some(&(len, f)) if len == text.len() => f,
            _ => {
                let f = family(text);
                if self.families.len() < 1_000_000 {
                    self.families.insert(id.0, (text.len(), f));
                }
                f
            }
        };
        let pair = host_family(host_hash(l.host), fam);
        let known_here = trained.host_families.contains(&pair);
        let fleet = trained.families.get(&fam).copied().unwrap_or(0);
        if !known_here && trained.host_families.len() < crate::detect::model::MAX_HOST_TEMPLATES {
            trained.host_families.insert(pair);
        }
        // A new family is news; a template new in a known family is not.
        let is_new = (is_new || id.0 >= trained.known_templates) && fleet == 0;
        // New to this host, and logged by few hosts of the fleet (not a
        // reboot's lines, which half the fleet logged in a week).
        let new_here = !known_here
            && fleet > 0
            && f64::from(fleet) < NEW_FOR_HOST_SHARE * trained.hosts as f64;
        if !is_new && !new_here {
            return;
        }
        let priority = novelty_priority(l, auth_event);
        if is_new {
            trained.families.insert(fam, 1);
            let ent = Ent::Template(id.0);
            if self
                .open
                .contains_key(&open_key(&ent, "new-template", priority))
                || self.new_alerted.insert(id.0)
            {
                let template = self.model.templates.template(id).to_string();
                self.touch_or_open(
                    flag,
                    "new-template",
                    ent,
                    l,
                    NOVELTY_QUIET_MS,
                    1.0,
                    priority,
                    || {
                        (
                            format!("a message of a kind never seen before: {template}"),
                            template.clone(),
                        )
                    },
                );
            }
        } else if new_here {
            let hosts = fleet;
            let template = self.model.templates.template(id).to_string();
            self.touch_or_open(flag, "new-for-host", Ent::Host(l.host), l, NOVELTY_QUIET_MS, 1.0, priority, || {
                (
                    format!("{} logged messages of kinds it never logged before, which {hosts} other host(s) logged in training, such as: {template}", l.host),
                    template.clone(),
                )
            });
        }
    }

    /// Adds the line to the open anomaly of `kind key` (and priority), or
    /// opens one. A low-priority anomaly does not flag its lines.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn touch_or_open(
        &mut self,
        flag: &mut Option<u64>,
        kind: &str,
        ent: Ent<'_>,
        l: &LineIn<'_>,
        quiet_ms: i64,
        score: f64,
        priority: Priority,
        explain: impl FnOnce() -> (String, String),
    ) {
        let k = open_key(&ent, kind, priority);
        if let Some(o) = self.open.get_mut(&k) {
            add_line(o, l, "");
        } else {
            let (explanation, template) = explain();
            let mut o = new_open(
                kind,
                &ent.key(),
                l,
                l.ts_ms,
                quiet_ms,
                "never seen in training".into(),
                &ent.words(),
            );
            add_line(&mut o, l, "");
            o.a.score = score;
            o.a.template = Some(template);
            o.a.explanation = explanation;
            o.a.baseline = o.rule.clone();
            o.a.priority = priority;
            finalize(&mut o);
            o.reason = o.a.reason();
            self.report(Report::Opened(o.a.clone()));
            self.open.insert(k, o);
        }
        if priority == Priority::Alert {
            flag.get_or_insert(k);
        }
    }

    pub(super) fn score_sessions(
        &mut self,
        closed: Vec<(String, crate::detect::sessions::OpenSession)>,
    ) {
        let Some((_, Some(model))) = &self.sessions else {
            return;
        };
        #[cfg(feature = "lstm")]
        let sequence = self
            .model
            .trained
            .as_ref()
            .and_then(|t| t.sequence.as_ref())
            .filter(|_| self.config.sequence_model);
        let mut found = Vec::new();
        for (id, s) in closed {
            let idle_ms = (self.clock_ms - s.last_ms).max(0);
            let v = model.score(&s.events, idle_ms);
            #[cfg(feature = "lstm")]
            let miss = sequence.and_then(|m| m.judge(&s.events).ok().flatten());
            #[cfg(not(feature = "lstm"))]
            let miss: Option<crate::detect::sessions::Miss> = None;
            if !v.anomalous() && miss.is_none() {
                continue;
            }
            let share = |n: u64, of: u64| format!("{n} of {of} training sessions");
            let why: Vec<String> = v
                .findings
                .iter()
                .map(|f| match *f {
                    Finding::RareKind { event, sessions } => format!(
                        "it has \"{}\", which {} had",
                        self.model
                            .templates
                            .template(TemplateId(event)),
                        share(sessions, model.sessions)
                    ),
                    Finding::RareState { kinds, reached } => format!(
                        "its {} occurred together in {}",
                        plural(kinds as u64, "kind of events", "kinds of events"),
                        share(reached, model.sessions)
                    ),
                    Finding::Stuck {
                        kinds,
                        idle_ms,
                        stayed,
                        reached,
                    } => format!(
                        "it stopped after {} and has been idle {}; of the {reached} training sessions with the same {}, {stayed} waited that long for the next",
                        plural(s.count, "line", "lines"),
                        human_ms(idle_ms),
                        plural(kinds as u64, "kind of event", "kinds of events")
                    ),
                })
                .chain(miss.iter().map(|m| {
                    let template = |e: u32| self.model.templates.template(TemplateId(e));
                    format!(
                        "the sequence model did not expect \"{}\" after {} (probability {:.4}; it expected {})",
                        template(m.event),
                        plural(m.at as u64, "event", "events"),
                        m.prob,
                        match m.expected.first() {
                            Some(Some(e)) => format!("\"{}\"", template(*e)),
                            _ => "the session to end".to_string(),
                        }
                    )
                }))
                .collect();
            let key = format!("session={id}");
            let mut a = blank("session", &key, Some(&s.host), s.first_ms, self.clock_ms);
            a.score = v
                .score
                .max(miss.as_ref().map_or(0.0, |m| 1.0 - f64::from(m.prob)));
            a.count = s.count;
            a.baseline = format!("{} training sessions", model.sessions);
            a.last_ts = rfc3339_ms(s.last_ms);
            a.lines = s.lines.clone();
            a.first_line = s.lines.first().copied().unwrap_or(0);
            a.last_line = s.lines.last().copied().unwrap_or(0);
            a.session = Some(id.clone());
            a.explanation = format!(
                "session {id} ({}): {}",
                plural(s.count, "line", "lines"),
                why.join("; ")
            );
            a.logq = logq_command(Some(&s.host), s.first_ms, s.last_ms, &id);
            found.push(a);
        }
        for a in found {
            self.report(Report::Closed(a));
        }
    }

    pub(super) fn score_windows(&mut self, closed: Vec<(String, windows::Window)>) {
        let Some((_, Some(model))) = &self.windows else {
            return;
        };
        let mut found = Vec::new();
        for (host, w) in closed {
            let (score, excess) = model.score(&w);
            if excess.is_empty() {
                continue;
            }
            let what: Vec<String> = excess
                .iter()
                .take(3)
                .map(|e| match e.template {
                    Some(t) => format!(
                        "{} lines of \"{}\" (at most {} in a window of the history)",
                        e.value,
                        self.model.templates.template(TemplateId(t)),
                        e.max_seen
                    ),
                    None => format!(
                        "{} distinct source addresses (at most {} in a window of the history)",
                        e.value, e.max_seen
                    ),
                })
                .collect();
            let end = w.start_ms + windows::WINDOW_MS;
            let key = format!("host={host}");
            let mut a = blank("host-window", &key, Some(&host), w.start_ms, self.clock_ms);
            a.score = score;
            a.count = u64::from(w.total);
            a.baseline = format!(
                "{} windows of {} of the history",
                model.windows,
                human_ms(windows::WINDOW_MS)
            );
            a.last_ts = rfc3339_ms(end - 1);
            a.first_line = w.lines.first().copied().unwrap_or(0);
            a.last_line = w.lines.last().copied().unwrap_or(0);
            a.lines = w.lines;
            a.template = excess
                .first()
                .and_then(|e| e.template)
                .map(|t| self.model.templates.template(TemplateId(t)).to_string());
            a.explanation = format!(
                "{host}'s {} from {} (Isolation Forest score {score:.3}; the history's 99th percentile {:.3}): {}",
                human_ms(windows::WINDOW_MS),
                rfc3339_ms(w.start_ms),
                model.threshold(),
                what.join("; ")
            );
            a.logq = logq_command(Some(&host), w.start_ms, end - 1, "");
            found.push(a);
        }
        for a in found {
            self.report(Report::Closed(a));
        }
    }
}

/// `1 line`, `2 lines`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
