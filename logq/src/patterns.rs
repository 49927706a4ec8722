//! `--patterns`: the matching lines grouped by message template, with
//! counts, the template whose newest line is latest first.
//!
//! Templates come from `logcore::template`'s online miner, fed the
//! *message* of each matching line (the text after the syslog header) in
//! time order. The miner starts from collectord's, read from `model.json`
//! in the data directory (its `templates` field; nothing is ever written
//! back), so that a template's id and text are the ones collectord's
//! anomaly explanations name: a message that fits one of the model's
//! templates gets it unchanged (logq does not generalise them), and only
//! messages that fit none make new templates, numbered after the model's.
//! Without a model file the miner starts empty; with one that cannot be
//! read, logq says so on stderr and starts empty.
//!
//! Memory is bounded by the number of templates (the miner holds at most
//! `MinerConfig::max_templates`; past that a message joins its nearest
//! template or the overflow group `<*>`), not by the number of lines: each
//! group keeps its counts, times, one example and at most [`MAX_HOSTS`]
//! host names.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::FixedOffset;
use logcore::json::write_for_terminal;
use logcore::record::Want;
pub use logcore::template::groups::{Group, Patterns};
use logcore::template::{MinerConfig, TemplateMiner};
use logstore::{Plan, Reader};
use serde::Deserialize;

use crate::cli::Output;
use crate::output::{write_escaped, write_short_time};

/// collectord's model file in its data directory.
pub const MODEL_FILE: &str = "model.json";

/// The part of `model.json` logq reads; its other fields (the detectors'
/// models, the file's `format`) are collectord's business. The miner checks
/// its own format version when it is read.
#[derive(Deserialize)]
struct ModelFile {
    templates: TemplateMiner,
}

/// The miner to start from: collectord's in `data_dir`, else a new one.
/// A model file that cannot be used is a warning, not an error: the
/// grouping works without it, only the ids differ from collectord's.
pub fn load_miner(data_dir: &Path, warn: &mut impl Write) -> TemplateMiner {
    let path = data_dir.join(MODEL_FILE);
    let fresh = || TemplateMiner::new(MinerConfig::default());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return fresh(),
        Err(e) => {
            let _ = writeln!(
                warn,
                "logq: warning: cannot read {}: {e}; templates are found afresh, \
                 and their ids are not collectord's",
                path.display()
            );
            return fresh();
        }
    };
    match serde_json::from_str::<ModelFile>(&text) {
        Ok(model) => model.templates,
        Err(e) => {
            let _ = writeln!(
                warn,
                "logq: warning: cannot use the templates in {}: {e}; templates are \
                 found afresh, and their ids are not collectord's",
                path.display()
            );
            fresh()
        }
    }
}

/// Prints `groups`: short, one `COUNT<TAB>LAST<TAB>TEMPLATE` line each
/// (LAST as short output prints a line's time, in `zone` or the local
/// one); JSON, one object each.
pub fn write(
    out: &mut impl Write,
    groups: &[Group],
    format: Output,
    zone: Option<FixedOffset>,
) -> io::Result<()> {
    let mut json = Vec::new();
    for g in groups {
        match format {
            Output::Json => {
                json.clear();
                serde_json::to_writer(&mut json, &g.json())?;
                write_for_terminal(out, &json)?;
            }
            Output::Short | Output::Raw => {
                write!(out, "{}\t", g.count)?;
                write_short_time(out, g.last_ms, zone)?;
                out.write_all(b"\t")?;
                write_escaped(out, g.template.as_bytes())?;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `--patterns`: groups every line `plan` matches and prints the groups.
/// Returns whether any line matched.
pub fn run(reader: &Reader, plan: &Plan, data_dir: &Path, format: Output) -> Result<bool> {
    if format == Output::Raw {
        anyhow::bail!("--patterns prints short or json output (-o short, -o json), not raw lines");
    }
    let miner = load_miner(data_dir, &mut io::stderr().lock());
    let mut patterns = Patterns::new(miner);
    let mut matched = false;
    // The message and host; whatever the check needs is no more than that.
    reader.snapshot().walk_matches(
        plan,
        false,
        &mut reader.lines(),
        Want::Shown,
        |_, record| {
            matched = true;
            patterns.add(&record);
            Ok(true)
        },
    )?;
    let groups = patterns.groups();
    let mut out = io::BufWriter::new(io::stdout().lock());
    write(&mut out, &groups, format, None).context("cannot write the output")?;
    out.flush()?;
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcore::record::Origin;
    use logcore::record::Record;
    use logcore::template::groups::MAX_HOSTS;

    /// 2026-11-24T22:30:00Z, after the lines' stamps.
    const RECEIVED: i64 = 1_795_559_400_000;

    fn record(line: &str) -> Record {
        let origin = Origin {
            agent: "agent1",
            host: "agenthost",
            path: "/var/log/auth.log",
            stream: 7,
            utc_offset_secs: 0,
            receive_time_ms: RECEIVED,
        };
        Record::from_line(&origin, 0, 0, line.as_bytes().to_vec())
    }

    fn grouped(lines: &[&str], miner: TemplateMiner) -> Vec<Group> {
        let mut p = Patterns::new(miner);
        for l in lines {
            p.add(&record(l));
        }
        p.groups()
    }

    fn fresh() -> TemplateMiner {
        TemplateMiner::new(MinerConfig::default())
    }

    fn short(groups: &[Group]) -> String {
        let mut out = Vec::new();
        write(
            &mut out,
            groups,
            Output::Short,
            Some(FixedOffset::east_opt(0).unwrap()),
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    const LINES: &[&str] = &[
        "Nov 24 22:20:01 web1 sshd[1]: Failed password for root from 203.0.113.9 port 52144 ssh2",
        "Nov 24 22:20:02 web2 sshd[2]: Accepted publickey for deploy from 198.51.100.7 port 40022 ssh2",
        "Nov 24 22:20:03 web1 sshd[3]: Failed password for root from 198.51.100.7 port 40023 ssh2",
        "Nov 24 22:20:04 db1 CRON[4]: (root) CMD (run-parts /etc/cron.hourly)",
        "Nov 24 22:20:05 web3 sshd[5]: Failed password for root from 203.0.113.10 port 1022 ssh2",
        "Nov 24 22:20:06 web2 sshd[6]: Accepted publickey for deploy from 198.51.100.8 port 40024 ssh2",
    ];

    #[test]
    fn lines_are_grouped_by_template_newest_group_first() {
        // `logq --patterns program:sshd` must say "3 failed passwords, 2
        // accepted keys", with the group seen last on top, not list lines.
        let groups = grouped(LINES, fresh());
        let rows: Vec<(u64, &str, i64)> = groups
            .iter()
            .map(|g| (g.count, g.template.as_str(), g.last_ms))
            .collect();
        let t = |s: u32| 1_795_558_800_000 + i64::from(s) * 1000;
        assert_eq!(
            rows,
            [
                (
                    2,
                    "Accepted publickey for deploy from <*> port <*> ssh2",
                    t(6)
                ),
                (3, "Failed password for root from <*> port <*> ssh2", t(5)),
                (1, "(root) CMD (run-parts /etc/cron.hourly)", t(4)),
            ]
        );
        let failed = &groups[1];
        assert_eq!(failed.first_ms, t(1));
        assert_eq!(
            failed.example, "Failed password for root from 203.0.113.10 port 1022 ssh2",
            "the newest line's message"
        );
        let hosts: Vec<&str> = failed.hosts.iter().map(String::as_str).collect();
        assert_eq!(hosts, ["web1", "web3"]);
        assert!(!failed.more_hosts);
        assert_eq!(
            short(&groups),
            "2\tNov 24 22:20:06\tAccepted publickey for deploy from <*> port <*> ssh2\n\
             3\tNov 24 22:20:05\tFailed password for root from <*> port <*> ssh2\n\
             1\tNov 24 22:20:04\t(root) CMD (run-parts /etc/cron.hourly)\n"
        );
    }

    #[test]
    fn ties_in_time_put_the_larger_group_first() {
        // Lines of one second: the order must not depend on hashing.
        let lines = [
            "Nov 24 22:20:01 a x: disk sda1 ok",
            "Nov 24 22:20:01 a x: fan 1 spinning at speed 300",
            "Nov 24 22:20:01 a x: fan 2 spinning at speed 310",
        ];
        let groups = grouped(&lines, fresh());
        let counts: Vec<u64> = groups.iter().map(|g| g.count).collect();
        assert_eq!(counts, [2, 1]);
    }

    #[test]
    fn hosts_are_bounded_and_say_when_there_were_more() {
        let lines: Vec<String> = (0..MAX_HOSTS + 3)
            .map(|i| format!("Nov 24 22:20:01 host{i:02} app: started"))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let groups = grouped(&lines, fresh());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].count, MAX_HOSTS as u64 + 3);
        assert_eq!(groups[0].hosts.len(), MAX_HOSTS);
        assert!(groups[0].more_hosts);
    }

    #[test]
    fn json_has_one_object_per_group() {
        // `logq --patterns -o json | jq` gets every field of a group.
        let groups = grouped(&LINES[..2], fresh());
        let mut out = Vec::new();
        write(&mut out, &groups, Output::Json, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        let objects: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            objects[0],
            serde_json::json!({
                "template_id": 1,
                "template": "Accepted publickey for deploy from <*> port <*> ssh2",
                "count": 1,
                "first": "2026-11-24T22:20:02.000Z",
                "last": "2026-11-24T22:20:02.000Z",
                "example": "Accepted publickey for deploy from 198.51.100.7 port 40022 ssh2",
                "hosts": ["web2"],
                "more_hosts": false,
            })
        );
        assert_eq!(objects[1]["template_id"], 0);
        assert_eq!(objects.len(), 2);
    }

    #[test]
    fn collectords_templates_keep_their_ids_and_texts() {
        // An anomaly explanation names collectord's template id; --patterns
        // must show the same id with the same text.
        let mut model = fresh();
        model.add("Connection closed by 10.0.0.1 port 22");
        let session = model.add("session opened for user alice by sshd").id;
        let text = model.template(session).to_owned();
        let dir = tempfile::tempdir().unwrap();
        let file = serde_json::json!({
            "format": 1,
            "templates": model,
            "rate": {"whatever": "collectord keeps"},
        });
        std::fs::write(dir.path().join(MODEL_FILE), file.to_string()).unwrap();
        let mut warnings = Vec::new();
        let loaded = load_miner(dir.path(), &mut warnings);
        assert!(
            warnings.is_empty(),
            "{}",
            String::from_utf8_lossy(&warnings)
        );
        assert_eq!(loaded.len(), 2);
        let lines = [
            "Nov 24 22:20:01 h su: session opened for user bob by sshd",
            "Nov 24 22:20:02 h su: session opened for user alice by sshd",
            "Nov 24 22:20:03 h app: something new",
        ];
        let rows = |groups: Vec<Group>| -> Vec<(u32, String, u64)> {
            groups
                .into_iter()
                .map(|g| (g.id.0, g.template, g.count))
                .collect()
        };
        assert_eq!(
            rows(grouped(&lines, loaded)),
            [(2, "something new".to_owned(), 1), (session.0, text, 2),],
            "bob joins collectord's template, which keeps its text; new ones come after"
        );
        // Learning on it, as a fresh miner does, would have changed the text.
        assert_eq!(
            rows(grouped(&lines, fresh()))[1],
            (0, "session opened for user <*> by sshd".to_owned(), 2)
        );
    }

    #[test]
    fn a_bad_model_file_is_a_warning_and_a_fresh_start() {
        // logq must still group when collectord's model cannot be read.
        let dir = tempfile::tempdir().unwrap();
        let mut warnings = Vec::new();
        assert!(load_miner(dir.path(), &mut warnings).is_empty());
        assert!(warnings.is_empty(), "no file is no warning");
        std::fs::write(dir.path().join(MODEL_FILE), "{\"format\": 1, \"templ").unwrap();
        let miner = load_miner(dir.path(), &mut warnings);
        assert!(miner.is_empty());
        let text = String::from_utf8(warnings).unwrap();
        assert!(
            text.starts_with("logq: warning: ") && text.contains("model.json"),
            "{text}"
        );
    }
}
