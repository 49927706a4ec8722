//! The man pages: logq(1), agentd(8), collectord(8) from the programs' clap
//! commands (clap_mangen's sections: name, synopsis, description, options)
//! and their tables of examples and exit statuses, plus the sections only a
//! man page has (signals, environment, files, see also), written here; and
//! agentd.toml(5), collectord.toml(5) from the daemons' key tables.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;
use logcore::docs::{Default, Example, ExitStatus, Key, Reload};

use crate::generate::File;

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

fn logq_page() -> ProgramPage {
    ProgramPage {
        command: logq::cli::command(),
        section: "1",
        examples: logq::cli::EXAMPLES,
        exit_status: logq::cli::EXIT_STATUS,
        signals: vec![],
        environment: vec![
            (
                "NO_COLOR",
                "When set and not empty, --color=auto does not colour the output.",
            ),
            (
                "TERM",
                "When dumb, --color=auto does not colour the output.",
            ),
        ],
        files: vec![
            (
                "/etc/collectord/collectord.toml".into(),
                "Where logq finds the data directory (its data-dir key) when \
                 --data-dir is not given."
                    .into(),
            ),
            (
                "/var/lib/collectord".into(),
                "collectord's data directory by default: index/ is searched, archive/ \
                 holds the lines, model.json (when collectord has written one) gives \
                 --patterns its templates. logq only reads it, while collectord writes. The \
                 packaged collectord.service makes it readable by the group adm: add \
                 an operator to adm to let them run logq."
                    .into(),
            ),
        ],
        see_also: &[
            ("collectord", "8"),
            ("collectord.toml", "5"),
            ("agentd", "8"),
            ("journalctl", "1"),
            ("grep", "1"),
        ],
    }
}

fn agentd_page() -> ProgramPage {
    ProgramPage {
        command: agentd::cli::command(),
        section: "8",
        examples: agentd::cli::EXAMPLES,
        exit_status: agentd::cli::EXIT_STATUS,
        signals: vec![
            (
                "SIGHUP",
                "Read the configuration file again and apply every key: agentd \
                 restarts its pipeline in the process, and loses no line."
                    .into(),
            ),
            (
                "SIGTERM, SIGINT",
                "Stop: wait up to shutdown-timeout-ms for the acknowledgement of the \
                 lines in flight, write the checkpoints and exit with status 0. A \
                 second signal exits at once; what was not acknowledged is sent again \
                 after the next start."
                    .into(),
            ),
        ],
        environment: vec![
            (
                "AGENTD_LOG",
                "Which log lines to write, in the syntax of RUST_LOG: a level (error, \
                 warn, info, debug, trace) or directives. Default: info.",
            ),
            (
                "JOURNAL_STREAM",
                "Set by systemd: log lines go to the journal with their priority, \
                 without time stamps.",
            ),
            (
                "NOTIFY_SOCKET",
                "Set by systemd: agentd reports readiness, status and watchdog \
                 keep-alives there.",
            ),
            (
                "NO_COLOR",
                "When set, log lines on a terminal are not coloured.",
            ),
        ],
        files: vec![
            (
                "/etc/agentd/agentd.toml".into(),
                "The configuration file; see agentd.toml(5).".into(),
            ),
            (
                "/var/lib/agentd/checkpoints.json".into(),
                "agentd's place in every file, moved only when the collector \
                 acknowledged the lines (in state-dir)."
                    .into(),
            ),
            (
                "/var/lib/agentd/lock".into(),
                "Locked while an agentd uses the state directory.".into(),
            ),
        ],
        see_also: &[
            ("agentd.toml", "5"),
            ("collectord", "8"),
            ("logq", "1"),
            ("systemctl", "1"),
            ("journalctl", "1"),
        ],
    }
}

fn collectord_page() -> ProgramPage {
    let keys = |reload| {
        collectord::keys::KEYS
            .iter()
            .filter(|k| k.reload == reload)
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    ProgramPage {
        command: collectord::cli::command(),
        section: "8",
        examples: collectord::cli::EXAMPLES,
        exit_status: collectord::cli::EXIT_STATUS,
        signals: vec![
            (
                "SIGHUP",
                format!(
                    "Read the configuration file again. A reload applies {} at once; {} \
                     take effect at the next restart. systemctl reload collectord runs \
                     collectord --check-config first, so that a bad file fails the \
                     reload instead.",
                    keys(Reload::Live),
                    keys(Reload::Restart)
                ),
            ),
            (
                "SIGTERM, SIGINT",
                "Stop: accept no more connections, commit and acknowledge what was \
                 received, and exit with status 0."
                    .into(),
            ),
        ],
        environment: vec![
            (
                "COLLECTORD_LOG",
                "Which log lines to write, in the syntax of RUST_LOG: a level (error, \
                 warn, info, debug, trace) or directives. Default: info.",
            ),
            (
                "LISTEN_FDS, LISTEN_PID",
                "Set by systemd's socket activation (collectord.socket): collectord \
                 takes the socket passed as file descriptor 3 instead of binding the \
                 listen address.",
            ),
            (
                "JOURNAL_STREAM",
                "Set by systemd: log lines go to the journal with their priority, \
                 without time stamps.",
            ),
            (
                "NOTIFY_SOCKET",
                "Set by systemd: collectord reports readiness, status and watchdog \
                 keep-alives there.",
            ),
            (
                "NO_COLOR",
                "When set, log lines on a terminal are not coloured.",
            ),
        ],
        files: vec![
            (
                "/etc/collectord/collectord.toml".into(),
                "The configuration file; see collectord.toml(5).".into(),
            ),
            (
                "/var/lib/collectord/index/".into(),
                "The tantivy index logq searches (in data-dir).".into(),
            ),
            (
                "/var/lib/collectord/archive/".into(),
                "The lines as received, one zstd file per day (YYYY-MM-DD.log.zst) \
                 with its block table and dictionaries: the only copy of every line. \
                 zstd -dc -D DICT FILE reads a day."
                    .into(),
            ),
        ],
        see_also: &[
            ("collectord.toml", "5"),
            ("agentd", "8"),
            ("logq", "1"),
            ("systemd.socket", "5"),
            ("systemctl", "1"),
        ],
    }
}

fn agentd_toml_page() -> ConfigPage {
    ConfigPage {
        program: "agentd",
        version: version(agentd::cli::command()),
        keys: agentd::keys::KEYS,
        description: vec![
            common_description("agentd"),
            "Sending agentd SIGHUP (systemctl reload agentd) makes it read the file \
             again and apply every key: it restarts its pipeline in the process and \
             loses no line."
                .into(),
        ],
        example_intro: "A file that ships the system log and nginx's logs to a \
                        central collector, without their history:",
        example: agentd::keys::EXAMPLE,
        see_also: &[("agentd", "8"), ("collectord.toml", "5")],
        per_key_reload: false,
    }
}

fn collectord_toml_page() -> ConfigPage {
    ConfigPage {
        program: "collectord",
        version: version(collectord::cli::command()),
        keys: collectord::keys::KEYS,
        description: vec![
            common_description("collectord"),
            "Sending collectord SIGHUP makes it read the file again; systemctl \
             reload collectord checks the file with collectord --check-config \
             first. Each key below says whether a reload applies it or only the \
             next restart does."
                .into(),
        ],
        example_intro: "A file that keeps lines longer and commits less often:",
        example: collectord::keys::EXAMPLE,
        see_also: &[("collectord", "8"), ("logq", "1"), ("agentd.toml", "5")],
        per_key_reload: true,
    }
}

fn common_description(program: &str) -> String {
    format!(
        "{program}(8) reads its configuration from /etc/{program}/{program}.toml, or \
         from the file its --config option names. The file is TOML: one key = value \
         per line, strings in double quotes, # starts a comment. Every key is \
         optional and has a default, and a missing file means the defaults. An \
         unknown key or a bad value stops {program} with exit status 78 and a \
         message that names the file, the line and the key; {program} \
         --check-config checks a file and exits."
    )
}

/// The version clap shows (the crate's).
fn version(command: clap::Command) -> String {
    command.get_version().unwrap_or_default().to_owned()
}

/// The manual a section belongs to, as man-pages(7) names them.
fn manual(section: &str) -> &'static str {
    match section {
        "1" => "User Commands",
        "5" => "File Formats",
        "8" => "System Administration",
        other => unreachable!("no pages in section {other}"),
    }
}

/// A tagged paragraph.
fn item<const N: usize>(roff: &mut Roff, tag: [Inline; N], text: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text([roman(text)]);
}

/// A COMMANDS section for a program with subcommands: each one's usage,
/// what it does, and its own options (the global ones are under OPTIONS).
fn commands(roff: &mut Roff, command: &clap::Command) {
    let subs: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        return;
    }
    roff.control("SH", ["COMMANDS"]);
    // A subcommand with subcommands of its own (`collectord tls init`) is
    // listed as each of them.
    let mut flat: Vec<(String, &clap::Command)> = Vec::new();
    for sub in subs {
        let prefix = format!("{} {}", command.get_name(), sub.get_name());
        let nested: Vec<&clap::Command> = sub
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if nested.is_empty() {
            flat.push((prefix, sub));
        } else {
            flat.extend(
                nested
                    .into_iter()
                    .map(|n| (format!("{prefix} {}", n.get_name()), n)),
            );
        }
    }
    for (mut usage, sub) in flat {
        let mut options = Vec::new();
        for arg in sub.get_arguments().filter(|a| !a.is_global_set()) {
            let value = if arg.get_action().takes_values() {
                arg.get_value_names()
                    .map(|v| v.join(" "))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            match arg.get_long() {
                Some("help") => {}
                Some(long) => {
                    let flag = if value.is_empty() {
                        format!("--{long}")
                    } else {
                        format!("--{long} {value}")
                    };
                    usage.push_str(&format!(" [{flag}]"));
                    options.push((flag, help));
                }
                None => {
                    usage.push_str(&format!(" {value}..."));
                    options.push((format!("{value}..."), help));
                }
            }
        }
        roff.control("TP", []);
        roff.text([bold(usage)]);
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        roff.text([roman(about)]);
        roff.control("RS", []);
        for (flag, help) in options {
            item(roff, [bold(flag)], &help);
        }
        roff.control("RE", []);
    }
}

/// Lines kept as they are, indented.
fn code_block(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.control("RS", ["4"]);
    roff.control("nf", []);
    for line in text.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff.control("RE", []);
}

fn see_also(roff: &mut Roff, pages: &[(&str, &str)]) {
    roff.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, (page, section)) in pages.iter().enumerate() {
        let comma = if i + 1 < pages.len() { ", " } else { "" };
        line.push(bold(*page));
        line.push(roman(format!("({section}){comma}")));
    }
    roff.text(line);
}

/// A phrase as a sentence: capital first letter, final stop.
fn sentence(phrase: &str) -> String {
    let mut chars = phrase.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// The roff text of `roff`, without the preamble every rendering starts with.
fn body(roff: &Roff) -> String {
    let text = roff.render();
    text.strip_prefix(&Roff::new().render())
        .expect("every rendering starts with the preamble")
        .to_owned()
}

/// clap_mangen renders each section with the apostrophe preamble of roff;
/// the page needs it once, at the top.
fn without_repeated_preambles(text: &str) -> String {
    let preamble = Roff::new().render();
    match text.strip_prefix(&preamble) {
        Some(rest) => format!("{preamble}{}", rest.replace(&preamble, "")),
        None => text.to_owned(),
    }
}

/// The help texts mark code with `backticks`, as Markdown does; a man page
/// sets it in bold. Only text lines with pairs of backticks are changed.
fn code_in_bold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if !line.starts_with('.') && line.contains('`') && line.matches('`').count() % 2 == 0 {
            let mut open = false;
            for c in line.chars() {
                if c == '`' {
                    out += if open { "\\fR" } else { "\\fB" };
                    open = !open;
                } else {
                    out.push(c);
                }
            }
        } else {
            out += line;
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn the_date_comes_from_the_newest_changelog_entry() {
        let dir = std::env::temp_dir().join(format!("xtask-changelog-{}", std::process::id()));
        fs::create_dir_all(dir.join("packaging")).unwrap();
        fs::write(
            dir.join("packaging/changelog"),
            "logq (0.2.0-1) unstable; urgency=medium\n\n  * New.\n\n -- A B <a@b.example>  Fri, 05 Mar 2027 10:00:00 +0000\n\n\
             logq (0.1.0-1) unstable; urgency=medium\n\n  * Old.\n\n -- A B <a@b.example>  Wed, 25 Nov 2026 10:00:00 +0000\n",
        )
        .unwrap();
        let date = changelog_date(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(date.unwrap(), "2027-03-05");
    }

    #[test]
    fn backticks_become_bold_only_in_pairs_on_text_lines() {
        assert_eq!(code_in_bold("a `b` c\n"), "a \\fBb\\fR c\n");
        assert_eq!(code_in_bold("a `b c\n"), "a `b c\n");
        assert_eq!(code_in_bold(".TP `x`\n"), ".TP `x`\n");
    }

    #[test]
    fn pages_have_the_sections_operators_look_for() {
        let pages = pages("2026-11-25");
        let page = |name: &str| {
            let file = pages
                .iter()
                .find(|f| f.path == Path::new("man").join(name))
                .unwrap_or_else(|| panic!("no {name}"));
            String::from_utf8(file.contents.clone()).unwrap()
        };
        let sections = |text: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(".SH "))
                .map(|s| s.trim_matches('"').to_owned())
                .collect()
        };
        for (name, expected) in [
            (
                "logq.1",
                &[
                    "EXIT STATUS",
                    "ENVIRONMENT",
                    "FILES",
                    "EXAMPLES",
                    "SEE ALSO",
                ][..],
            ),
            (
                "agentd.8",
                &[
                    "SIGNALS",
                    "EXIT STATUS",
                    "ENVIRONMENT",
                    "FILES",
                    "EXAMPLES",
                    "SEE ALSO",
                ],
            ),
            (
                "collectord.8",
                &[
                    "SIGNALS",
                    "EXIT STATUS",
                    "ENVIRONMENT",
                    "FILES",
                    "EXAMPLES",
                    "SEE ALSO",
                ],
            ),
            ("agentd.toml.5", &["KEYS", "EXAMPLES", "FILES", "SEE ALSO"]),
            (
                "collectord.toml.5",
                &["KEYS", "EXAMPLES", "FILES", "SEE ALSO"],
            ),
        ] {
            let text = page(name);
            let found = sections(&text);
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION"].iter().chain(expected) {
                assert!(
                    found.iter().any(|s| s == section),
                    "{name} lacks {section}: {found:?}"
                );
            }
            assert_eq!(
                text.matches(".ds Aq").count(),
                2,
                "{name}: the apostrophe preamble once"
            );
        }
        // Every config key has its entry, with its default.
        for (name, keys) in [
            ("agentd.toml.5", agentd::keys::KEYS),
            ("collectord.toml.5", collectord::keys::KEYS),
        ] {
            let text = page(name);
            for key in keys {
                let entry = format!("\\fB{}\\fR (", key.name.replace('-', "\\-"));
                assert!(text.contains(&entry), "{name} lacks {}", key.name);
            }
        }
    }

    #[test]
    fn pages_format_without_warnings() {
        // lintian runs the pages through man and groff and reports every
        // warning; so does a user's man(1), on screen.
        let Ok(status) = Command::new("groff")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
        else {
            eprintln!("groff is not installed; the pages were not formatted");
            return;
        };
        assert!(status.success());
        for page in pages("2026-11-25") {
            let mut child = Command::new("groff")
                .args(["-ww", "-z", "-man", "-Kutf8", "-Tutf8"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&page.contents)
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && warnings.is_empty(),
                "{}:\n{warnings}",
                page.path.display()
            );
        }
    }
}
