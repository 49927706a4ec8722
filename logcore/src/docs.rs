//! What the programs document about themselves, written once and shown in
//! several places: examples and exit statuses (in `--help`, through
//! [`after_help`], and in the man pages), and the keys of the daemons'
//! config files.
//!
//! agentd and collectord each keep a table of [`Key`]s (`keys.rs`); `cargo
//! xtask man` turns a table into the `.toml(5)` man page and into the
//! shipped, commented-out config file, and each daemon's `config.rs` tests
//! hold its table to its `Config` struct.

/// One example command line and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// As typed at a shell prompt.
    pub command: &'static str,
    /// What it does, lower case, no final stop.
    pub what: &'static str,
}

impl Example {
    /// The words of the command as sh would pass them, for tests that run
    /// an example through the program's parsers: single quotes quote, the
    /// command ends at a pipe, and leading `NAME=value` assignments are
    /// left out.
    pub fn words(&self) -> Vec<String> {
        let (mut words, mut word, mut quoted) = (Vec::new(), None::<String>, false);
        for c in self.command.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    word.get_or_insert_with(String::new);
                }
                c if quoted => word.get_or_insert_with(String::new).push(c),
                ' ' => words.extend(word.take()),
                '|' => break,
                c => word.get_or_insert_with(String::new).push(c),
            }
        }
        words.extend(word);
        let assignments = words
            .iter()
            .take_while(|w| {
                w.split_once('=')
                    .is_some_and(|(name, _)| !name.starts_with('-'))
            })
            .count();
        words.split_off(assignments)
    }
}

/// One exit status and when a program exits with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: u8,
    /// When: a phrase, lower case, no final stop.
    pub when: &'static str,
}

/// The text `--help` ends with: the examples, then the exit statuses.
pub fn after_help(examples: &[Example], statuses: &[ExitStatus]) -> String {
    /// The column the explanations start in.
    const WHAT: usize = 42;
    let mut text = String::from("Examples:\n");
    for e in examples {
        let line = format!("  {}", e.command);
        if line.len() + 2 <= WHAT {
            text += &format!("{line:WHAT$}{}\n", e.what);
        } else {
            text += &format!("{line}\n{:WHAT$}{}\n", "", e.what);
        }
    }
    text += "\nExit status:\n";
    for s in statuses {
        text += &format!("  {:<4}{}\n", s.code, s.when);
    }
    text.truncate(text.trim_end().len());
    text
}

/// One key of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written in the file (kebab-case).
    pub name: &'static str,
    pub ty: Type,
    pub default: Default,
    /// What the key does, in sentences: plain text, no markup. Shown in the
    /// man page and, wrapped, as comments in the shipped file.
    pub doc: &'static str,
    /// When a changed value takes effect.
    pub reload: Reload,
}

/// The TOML type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Integer,
    /// An array of strings.
    StringArray,
    Boolean,
}

impl Type {
    /// The name `toml::Value::type_str` gives a value of this type.
    pub fn toml_name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Integer => "integer",
            Type::StringArray => "array",
            Type::Boolean => "boolean",
        }
    }

    /// How the documentation names the type.
    pub fn describe(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Integer => "integer",
            Type::StringArray => "array of strings",
            Type::Boolean => "boolean",
        }
    }
}

/// A key's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// A fixed default, as TOML text: `key = <this>` in a file is the same
    /// as leaving the key out.
    Toml(&'static str),
    /// A default that depends on the machine or on another key, so that no
    /// TOML value can stand for it. `what` says what it is ("this machine's
    /// host name"); `example` is a TOML value to show in the shipped file.
    Computed {
        what: &'static str,
        example: &'static str,
    },
}

/// How a key table disagrees with the config struct it documents: `fields`
/// are the struct's keys with the `toml::Value::type_str` of their default
/// values. Empty when they agree. For the daemons' config tests: a key
/// missing from the table is missing from the man page and the shipped
/// file, and a documented key the daemon does not know makes the shipped
/// file, once uncommented, fail to load.
pub fn table_mismatches(keys: &[Key], fields: &[(String, &str)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, ty) in fields {
        match keys.iter().find(|k| k.name == name) {
            None => wrong.push(format!("`{name}` is not documented")),
            Some(k) if k.ty.toml_name() != *ty => wrong.push(format!(
                "`{name}` is documented as {} but is {ty}",
                k.ty.toml_name()
            )),
            Some(_) => {}
        }
    }
    for key in keys {
        if !fields.iter().any(|(name, _)| name == key.name) {
            wrong.push(format!("`{}` is documented but not a key", key.name));
        }
    }
    wrong
}

/// When a changed value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// On the next reload (SIGHUP, `systemctl reload`).
    Live,
    /// Only when the daemon restarts.
    Restart,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_mismatches_names_missing_extra_and_mistyped_keys() {
        let key = |name, ty| Key {
            name,
            ty,
            default: Default::Toml("1"),
            doc: "",
            reload: Reload::Live,
        };
        let keys = [key("window", Type::Integer), key("gone", Type::String)];
        let fields = [
            ("window".to_owned(), "string"),
            ("new-key".to_owned(), "integer"),
        ];
        assert_eq!(
            table_mismatches(&keys, &fields),
            [
                "`window` is documented as integer but is string",
                "`new-key` is not documented",
                "`gone` is documented but not a key",
            ]
        );
        assert!(table_mismatches(&keys[..1], &[("window".to_owned(), "integer")]).is_empty());
    }

    #[test]
    fn example_words_are_split_as_sh_would() {
        let words = |command| Example { command, what: "" }.words();
        assert_eq!(
            words(r"logq -e 'port (22|2222)\b' --since today -o json | jq .host"),
            [
                "logq",
                "-e",
                r"port (22|2222)\b",
                "--since",
                "today",
                "-o",
                "json"
            ]
        );
        assert_eq!(
            words("AGENTD_LOG=debug agentd --config=/tmp/a.toml"),
            ["agentd", "--config=/tmp/a.toml"]
        );
        assert_eq!(words("logq ''"), ["logq", ""]);
    }

    #[test]
    fn after_help_lines_up_explanations_and_wraps_long_commands() {
        let text = after_help(
            &[
                Example {
                    command: "prog -a",
                    what: "short",
                },
                Example {
                    command: "prog --a-very-long-option with-a-long-value",
                    what: "long",
                },
            ],
            &[ExitStatus {
                code: 78,
                when: "the configuration is invalid",
            }],
        );
        let expected = format!(
            "Examples:\n  prog -a{}short\n  prog --a-very-long-option with-a-long-value\n{}long\n\nExit status:\n  78  the configuration is invalid",
            " ".repeat(42 - 9),
            " ".repeat(42)
        );
        assert_eq!(text, expected);
    }
}
