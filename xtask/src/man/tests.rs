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
