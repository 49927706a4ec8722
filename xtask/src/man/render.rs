//! Roff building blocks shared by the pages: tagged paragraphs, the
//! COMMANDS section, code blocks, SEE ALSO, and the clean-ups of
//! clap_mangen's text.

use clap_mangen::roff::{bold, roman, Inline, Roff};

/// The version clap shows (the crate's).
pub(super) fn version(command: clap::Command) -> String {
    command.get_version().unwrap_or_default().to_owned()
}

/// The manual a section belongs to, as man-pages(7) names them.
pub(super) fn manual(section: &str) -> &'static str {
    match section {
        "1" => "User Commands",
        "5" => "File Formats",
        "8" => "System Administration",
        other => unreachable!("no pages in section {other}"),
    }
}

/// A tagged paragraph.
pub(super) fn item<const N: usize>(roff: &mut Roff, tag: [Inline; N], text: &str) {
    roff.control("TP", []);
    roff.text(tag);
    roff.text([roman(text)]);
}

/// A COMMANDS section for a program with subcommands: each one's usage,
/// what it does, and its own options (the global ones are under OPTIONS).
pub(super) fn commands(roff: &mut Roff, command: &clap::Command) {
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
pub(super) fn code_block(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.control("RS", ["4"]);
    roff.control("nf", []);
    for line in text.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff.control("RE", []);
}

pub(super) fn see_also(roff: &mut Roff, pages: &[(&str, &str)]) {
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
pub(super) fn sentence(phrase: &str) -> String {
    let mut chars = phrase.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// The roff text of `roff`, without the preamble every rendering starts with.
pub(super) fn body(roff: &Roff) -> String {
    let text = roff.render();
    text.strip_prefix(&Roff::new().render())
        .expect("every rendering starts with the preamble")
        .to_owned()
}

/// clap_mangen renders each section with the apostrophe preamble of roff;
/// the page needs it once, at the top.
pub(super) fn without_repeated_preambles(text: &str) -> String {
    let preamble = Roff::new().render();
    match text.strip_prefix(&preamble) {
        Some(rest) => format!("{preamble}{}", rest.replace(&preamble, "")),
        None => text.to_owned(),
    }
}

/// The help texts mark code with `backticks`, as Markdown does; a man page
/// sets it in bold. Only text lines with pairs of backticks are changed.
pub(super) fn code_in_bold(text: &str) -> String {
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
