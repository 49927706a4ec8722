//! The man pages: logq(1), agentd(8), collectord(8) from the programs' clap
//! commands (clap_mangen's sections: name, synopsis, description, options)
//! and their tables of examples and exit statuses, plus the sections only a
//! man page has (signals, environment, files, see also), written here; and
//! agentd.toml(5), collectord.toml(5) from the daemons' key tables.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;
use logcore::docs::{Default, Example, ExitStatus, Key, Reload};

use crate::generate::File;

mod content;
mod render;

use content::{agentd_page, agentd_toml_page, collectord_page, collectord_toml_page, logq_page};
use render::{
    body, code_block, code_in_bold, commands, item, manual, see_also, sentence,
    without_repeated_preambles,
};

pub fn pages(date: &str) -> Vec<File> {
    let mut files: Vec<File> = [logq_page(), agentd_page(), collectord_page()]
        .into_iter()
        .map(|page| page.render(date))
        .collect();
    files.push(agentd_toml_page().render(date));
    files.push(collectord_toml_page().render(date));
    files
}

/// The date of the newest entry of `packaging/changelog` (its trailer line,
/// ` -- NAME <EMAIL>  Wed, 25 Nov 2026 03:50:01 +0000`), as YYYY-MM-DD: the
/// pages change with a release, not with the clock.
pub fn changelog_date(root: &Path) -> Result<String> {
    let path = root.join("packaging/changelog");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(trailer) = text.lines().find(|l| l.starts_with(" -- ")) else {
        bail!("{}: no ` -- NAME <EMAIL>  DATE` line", path.display());
    };
    let date = trailer.split_once(">  ").map(|(_, date)| date);
    let words: Vec<&str> = date.unwrap_or("").split_whitespace().collect();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if let [_, day, month, year, ..] = words[..] {
        let month = MONTHS.iter().position(|m| *m == month);
        if let (Ok(day), Some(month), Ok(year)) = (day.parse::<u8>(), month, year.parse::<u16>()) {
            return Ok(format!("{year}-{:02}-{day:02}", month + 1));
        }
    }
    bail!("{}: cannot read the date in {trailer:?}", path.display())
}

/// A page of a program, made from its clap command and the sections a man
/// page has beyond `--help`.
struct ProgramPage {
    command: clap::Command,
    section: &'static str,
    examples: &'static [Example],
    exit_status: &'static [ExitStatus],
    /// (signal names, what the program does).
    signals: Vec<(&'static str, String)>,
    /// (variable, what it does).
    environment: Vec<(&'static str, &'static str)>,
    /// (path, what it is).
    files: Vec<(String, String)>,
    /// (page, section).
    see_also: &'static [(&'static str, &'static str)],
}

impl ProgramPage {
    fn render(self, date: &str) -> File {
        let name = self.command.get_name().to_owned();
        let version = self.command.get_version().unwrap_or_default().to_owned();
        let man = Man::new(self.command.clone())
            .title(name.to_uppercase())
            .section(self.section)
            .date(date)
            .source(format!("{name} {version}"))
            .manual(manual(self.section));
        // clap_mangen's own sections; the rest of its page (a VERSION and
        // an EXTRA section with the --help epilogue) is replaced by ours.
        let mut out = Vec::new();
        man.render_title(&mut out)
            .and_then(|()| man.render_name_section(&mut out))
            .and_then(|()| man.render_synopsis_section(&mut out))
            .and_then(|()| man.render_description_section(&mut out))
            .and_then(|()| man.render_options_section(&mut out))
            .expect("writing to a Vec cannot fail");
        let mut text = String::from_utf8(out).expect("clap_mangen writes UTF-8");

        let mut roff = Roff::new();
        commands(&mut roff, &self.command);
        if !self.signals.is_empty() {
            roff.control("SH", ["SIGNALS"]);
            for (signals, what) in &self.signals {
                item(&mut roff, [bold(*signals)], what);
            }
        }
        roff.control("SH", ["EXIT STATUS"]);
        for status in self.exit_status {
            item(
                &mut roff,
                [bold(status.code.to_string())],
                &sentence(status.when),
            );
        }
        if !self.environment.is_empty() {
            roff.control("SH", ["ENVIRONMENT"]);
            for (variable, what) in &self.environment {
                item(&mut roff, [bold(*variable)], what);
            }
        }
        roff.control("SH", ["FILES"]);
        for (path, what) in &self.files {
            item(&mut roff, [italic(path.as_str())], what);
        }
        roff.control("SH", ["EXAMPLES"]);
        for example in self.examples {
            item(&mut roff, [bold(example.command)], example.what);
        }
        see_also(&mut roff, self.see_also);
        text += &body(&roff);

        File {
            path: PathBuf::from("man").join(format!("{name}.{}", self.section)),
            contents: code_in_bold(&without_repeated_preambles(&text)).into_bytes(),
        }
    }
}

/// The page of a config file: one entry per key, then an example file.
struct ConfigPage {
    program: &'static str,
    version: String,
    keys: &'static [Key],
    /// Paragraphs of the DESCRIPTION.
    description: Vec<String>,
    example_intro: &'static str,
    example: &'static str,
    see_also: &'static [(&'static str, &'static str)],
    /// Whether each key says when a change applies (collectord), or the
    /// description says it for all (agentd).
    per_key_reload: bool,
}

impl ConfigPage {
    fn render(self, date: &str) -> File {
        let program = self.program;
        let path = format!("/etc/{program}/{program}.toml");
        let mut roff = Roff::new();
        roff.control(
            "TH",
            [
                format!("{}.TOML", program.to_uppercase()).as_str(),
                "5",
                date,
                &format!("{program} {}", self.version),
                manual("5"),
            ],
        );
        roff.control("SH", ["NAME"]);
        roff.text([roman(format!(
            "{program}.toml - configuration file of {program}"
        ))]);
        roff.control("SH", ["SYNOPSIS"]);
        roff.text([italic(path.as_str())]);
        roff.control("SH", ["DESCRIPTION"]);
        for (i, paragraph) in self.description.iter().enumerate() {
            if i > 0 {
                roff.control("PP", []);
            }
            roff.text([roman(paragraph.as_str())]);
        }
        roff.control("SH", ["KEYS"]);
        for key in self.keys {
            roff.control("TP", []);
            roff.text([
                bold(key.name),
                roman(" ("),
                italic(key.ty.describe()),
                roman(")"),
            ]);
            roff.text([roman(key.doc)]);
            roff.control("br", []);
            let mut default = match key.default {
                Default::Toml(value) => vec![roman("Default: "), bold(value), roman(".")],
                Default::Computed { what, .. } => vec![roman(format!("Default: {what}."))],
            };
            if self.per_key_reload {
                default.push(roman(match key.reload {
                    Reload::Live => " A reload applies it.",
                    Reload::Restart => " Applied at the next restart, not by a reload.",
                }));
            }
            roff.text(default);
        }
        roff.control("SH", ["EXAMPLES"]);
        roff.text([roman(self.example_intro)]);
        code_block(&mut roff, self.example);
        roff.control("SH", ["FILES"]);
        item(
            &mut roff,
            [italic(path.as_str())],
            "The configuration file. The package installs it with every key \
             commented out, and keeps local changes on upgrade.",
        );
        see_also(&mut roff, self.see_also);
        File {
            path: PathBuf::from("man").join(format!("{program}.toml.5")),
            contents: roff.render().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests;
