//! The config files the packages install as conffiles:
//! `packaging/agentd/agentd.toml` and `packaging/collectord/collectord.toml`,
//! written from the daemons' key tables. Every key is there, commented out
//! as `#key = default`, after what it does, so that the file documents
//! itself and, as shipped, means the built-in defaults.

use std::path::PathBuf;

use logcore::docs::{Default, Key, Reload};

use crate::generate::File;

/// Width of the comment text, "# " included.
const WIDTH: usize = 76;

pub fn all() -> Vec<File> {
    vec![
        File {
            path: PathBuf::from("packaging/agentd/agentd.toml"),
            contents: render(
                "agentd",
                ": agentd applies every key on reload, without losing a line.",
                agentd::keys::KEYS,
                false,
            )
            .into_bytes(),
        },
        File {
            path: PathBuf::from("packaging/collectord/collectord.toml"),
            contents: render(
                "collectord",
                " (which checks it too). Each key says whether a reload applies it \
                 or only a restart does.",
                collectord::keys::KEYS,
                true,
            )
            .into_bytes(),
        },
    ]
}

fn render(program: &str, reload: &str, keys: &[Key], per_key_reload: bool) -> String {
    let mut text = comment(&format!(
        "/etc/{program}/{program}.toml: configuration of {program}(8), in TOML."
    ));
    text += "#\n";
    text += &comment(&format!(
        "Every key is optional. Each is shown below, commented out, with its \
         default: uncomment a line to change it. {program}.toml(5) describes the \
         keys. An unknown key or a bad value stops {program} with a message that \
         names it."
    ));
    text += "#\n";
    text += &comment(&format!(
        "Check the file with \"{program} --check-config\", then apply it with \
         \"systemctl reload {program}\"{reload}"
    ));
    for key in keys {
        text += "\n";
        text += &comment(key.doc);
        // The commented-out line shows a fixed default; a computed one is
        // said in words, and the line shows an example.
        let (mut note, value) = match key.default {
            Default::Toml(value) => (String::new(), value),
            Default::Computed { what, example } => {
                (format!("Default: {what}. For example:"), example)
            }
        };
        if per_key_reload {
            let when = match key.reload {
                Reload::Live => "A reload applies it.",
                Reload::Restart => "Applied at the next restart, not by a reload.",
            };
            note = format!("{when} {note}");
        }
        if !note.trim().is_empty() {
            text += &comment(&note);
        }
        text += &format!("#{} = {value}\n", key.name);
    }
    text
}

/// `text` as comment lines of at most [`WIDTH`] characters (a longer word
/// gets a line of its own).
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > WIDTH {
            out += &line;
            out += "\n";
            line = String::from("#");
        }
        line += " ";
        line += word;
    }
    out += &line;
    out += "\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_wrap_at_the_width_and_keep_every_word() {
        let text = "word ".repeat(40);
        let wrapped = comment(&text);
        assert!(wrapped
            .lines()
            .all(|l| l.len() <= WIDTH && l.starts_with("# ")));
        assert_eq!(
            wrapped.split_whitespace().filter(|w| *w == "word").count(),
            40
        );
    }

    #[test]
    fn every_key_appears_commented_out_once() {
        // The file must mean the defaults as shipped, and show every key.
        for (file, keys) in all()
            .iter()
            .zip([agentd::keys::KEYS, collectord::keys::KEYS])
        {
            let text = String::from_utf8(file.contents.clone()).unwrap();
            assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')));
            for key in keys {
                let prefix = format!("#{} = ", key.name);
                assert_eq!(
                    text.lines().filter(|l| l.starts_with(&prefix)).count(),
                    1,
                    "{}: {}",
                    file.path.display(),
                    key.name
                );
            }
        }
    }
}
