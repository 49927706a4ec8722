//! What each page says beyond clap and the key tables: the programs'
//! examples, signals, environment and files, the config pages' key tables
//! and descriptions, and what each page points to.

use logcore::docs::Reload;

use super::render::version;
use super::{ConfigPage, ProgramPage};

pub(super) fn logq_page() -> ProgramPage {
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

pub(super) fn agentd_page() -> ProgramPage {
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

pub(super) fn collectord_page() -> ProgramPage {
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

pub(super) fn agentd_toml_page() -> ConfigPage {
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

pub(super) fn collectord_toml_page() -> ConfigPage {
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

pub(super) fn common_description(program: &str) -> String {
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
