//! Lines grouped by message template as they come (`logq --patterns`, and
//! the API's patterns view): counts, times, an example and the hosts of
//! each group, in memory bounded by the number of templates.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::{TemplateId, TemplateMiner};
use crate::record::Record;

/// Host names kept per group; past that, `more_hosts` says there were more.
pub const MAX_HOSTS: usize = 10;

/// One template's lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: TemplateId,
    pub template: String,
    pub count: u64,
    /// Event times of the oldest and the newest line, ms since the epoch.
    pub first_ms: i64,
    pub last_ms: i64,
    /// The newest line's message.
    pub example: String,
    /// Distinct hosts, the first [`MAX_HOSTS`] seen, sorted.
    pub hosts: BTreeSet<String>,
    /// Whether more hosts than `hosts` had lines of it.
    pub more_hosts: bool,
}

/// Lines grouped by template as they come.
pub struct Patterns {
    miner: TemplateMiner,
    /// Templates of the model file: ids below this are used as they are.
    known: usize,
    groups: HashMap<TemplateId, Group>,
}

impl Patterns {
    pub fn new(miner: TemplateMiner) -> Patterns {
        Patterns {
            known: miner.len(),
            miner,
            groups: HashMap::new(),
        }
    }

    /// Counts `r` in its template's group.
    pub fn add(&mut self, r: &Record) {
        let id = match self.miner.match_only(&r.message) {
            Some(id) if (id.0 as usize) < self.known => id,
            _ => self.miner.add(&r.message).id,
        };
        let t = r.event_time_ms;
        let group = self.groups.entry(id).or_insert_with(|| Group {
            id,
            template: String::new(),
            count: 0,
            first_ms: t,
            last_ms: t,
            example: r.message.clone(),
            hosts: BTreeSet::new(),
            more_hosts: false,
        });
        group.count += 1;
        group.first_ms = group.first_ms.min(t);
        if t >= group.last_ms {
            group.last_ms = t;
            group.example.clone_from(&r.message);
        }
        if !group.hosts.contains(&r.host) {
            if group.hosts.len() < MAX_HOSTS {
                group.hosts.insert(r.host.clone());
            } else {
                group.more_hosts = true;
            }
        }
    }

    /// The groups, the one whose newest line is latest first (then the
    /// larger, then by id), with their templates' final texts.
    pub fn groups(self) -> Vec<Group> {
        let miner = self.miner;
        let mut groups: Vec<Group> = self
            .groups
            .into_values()
            .map(|mut g| {
                g.template = miner.template(g.id).to_owned();
                g
            })
            .collect();
        groups.sort_by(|a, b| {
            b.last_ms
                .cmp(&a.last_ms)
                .then(b.count.cmp(&a.count))
                .then(a.id.cmp(&b.id))
        });
        groups
    }
}

/// One group of `-o json`; the fields in the order they are printed.
#[derive(Serialize)]
pub struct JsonGroup<'a> {
    /// `null` for the overflow group (see the module docs).
    template_id: Option<u32>,
    template: &'a str,
    count: u64,
    first: Option<String>,
    last: Option<String>,
    example: &'a str,
    hosts: &'a BTreeSet<String>,
    more_hosts: bool,
}

impl Group {
    /// The group's JSON document.
    pub fn json(&self) -> JsonGroup<'_> {
        let rfc3339 = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        };
        JsonGroup {
            template_id: (self.id != TemplateId::OVERFLOW).then_some(self.id.0),
            template: &self.template,
            count: self.count,
            first: rfc3339(self.first_ms),
            last: rfc3339(self.last_ms),
            example: &self.example,
            hosts: &self.hosts,
            more_hosts: self.more_hosts,
        }
    }
}
