//! The detectors that need a trained model: the per-line Isolation Forest,
//! novelty (a new kind of message, or one new to a host), and the scoring of
//! closed sessions and host windows; and opening or extending a novelty
//! anomaly.

use super::open::{add_line, blank, finalize, new_open, Ent};
use super::{Engine, LineIn, Report, NOVELTY_QUIET_MS};
use crate::detect::anomaly::{human_ms, logq_command, rfc3339_ms};
use crate::detect::model::{family, host_family, host_hash};
use crate::detect::sessions::Finding;
use crate::detect::windows;
use crate::template::TemplateId;

/// A kind of line new to a host is an anomaly when fewer than this share
/// of the hosts logged it in training.
const NEW_FOR_HOST_SHARE: f64 = 0.5;

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

    pub(super) fn novelty(
        &mut self,
        l: &LineIn<'_>,
        id: TemplateId,
        is_new: bool,
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
        if is_new {
            trained.families.insert(fam, 1);
            let ent = Ent::Template(id.0);
            if self.open.contains_key(&ent.id("new-template")) || self.new_alerted.insert(id.0) {
                let template = self.model.templates.template(id).to_string();
                self.touch_or_open(flag, "new-template", ent, l, NOVELTY_QUIET_MS, 1.0, || {
                    (
                        format!("a message of a kind never seen before: {template}"),
                        template.clone(),
                    )
                });
            }
        } else if new_here {
            let hosts = fleet;
            let template = self.model.templates.template(id).to_string();
            self.touch_or_open(flag, "new-for-host", Ent::Host(l.host), l, NOVELTY_QUIET_MS, 1.0, || {
                (
                    format!("{} logged messages of kinds it never logged before, which {hosts} other host(s) logged in training, such as: {template}", l.host),
                    template.clone(),
                )
            });
        }
    }

    /// Adds the line to the open anomaly of `kind key`, or opens one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn touch_or_open(
        &mut self,
        flag: &mut Option<u64>,
        kind: &str,
        ent: Ent<'_>,
        l: &LineIn<'_>,
        quiet_ms: i64,
        score: f64,
        explain: impl FnOnce() -> (String, String),
    ) {
        let k = ent.id(kind);
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
            finalize(&mut o);
            o.reason = o.a.reason();
            self.report(Report::Opened(o.a.clone()));
            self.open.insert(k, o);
        }
        flag.get_or_insert(k);
    }

    pub(super) fn score_sessions(
        &mut self,
        closed: Vec<(String, crate::detect::sessions::OpenSession)>,
    ) {
        let Some((_, Some(model))) = &self.sessions else {
            return;
        };
        let mut found = Vec::new();
        for (id, s) in closed {
            let idle_ms = (self.clock_ms - s.last_ms).max(0);
            let v = model.score(&s.events, idle_ms);
            if !v.anomalous() {
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
                .collect();
            let key = format!("session={id}");
            let mut a = blank("session", &key, Some(&s.host), s.first_ms, self.clock_ms);
            a.score = v.score;
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
