use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn w(s: &str) -> Expr {
    Expr::Word(s.into())
}
fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}
fn p(text: &str) -> Expr {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {}", e.render(text)))
}
fn err(text: &str) -> QueryError {
    match parse(text) {
        Ok(e) => panic!("{text:?} parsed as {e:?}"),
        Err(e) => e,
    }
}
fn args(a: &[&str]) -> Result<Expr, (usize, QueryError)> {
    parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn not_binds_tighter_than_and_tighter_than_or() {
    // `sshd failed OR invalid` must mean (sshd failed) OR invalid, as in
    // every search engine; otherwise users get other lines than they read.
    assert_eq!(
        p("a b OR c"),
        Expr::Or(vec![Expr::And(vec![w("a"), w("b")]), w("c")])
    );
    assert_eq!(
        p("a OR b c"),
        Expr::Or(vec![w("a"), Expr::And(vec![w("b"), w("c")])])
    );
    assert_eq!(p("NOT a b"), Expr::And(vec![not(w("a")), w("b")]));
    assert_eq!(
        p("a AND b OR NOT c AND d"),
        Expr::Or(vec![
            Expr::And(vec![w("a"), w("b")]),
            Expr::And(vec![not(w("c")), w("d")]),
        ])
    );
    assert_eq!(
        p("(a OR b) c"),
        Expr::And(vec![Expr::Or(vec![w("a"), w("b")]), w("c")])
    );
    assert_eq!(p("NOT NOT a"), not(not(w("a"))));
    assert_eq!(p("a OR b OR c"), Expr::Or(vec![w("a"), w("b"), w("c")]));
}

#[test]
fn adjacent_terms_are_anded_and_lowercase_keywords_are_words() {
    // `logq sshd root` wants both words; `logq error or warning` must
    // not silently turn `or` into an operator.
    assert_eq!(p("sshd root"), Expr::And(vec![w("sshd"), w("root")]));
    assert_eq!(p("sshd AND root"), p("sshd root"));
    assert_eq!(
        p("error or warning"),
        Expr::And(vec![w("error"), w("or"), w("warning")])
    );
    assert_eq!(p("Not"), w("Not"));
    assert_eq!(p("  "), Expr::All);
    assert_eq!(p(""), Expr::All);
    assert_eq!(p("*"), Expr::All);
    assert_eq!(p("a * b"), Expr::And(vec![w("a"), w("b")]));
}

#[test]
fn dash_negates_only_at_the_start_of_a_term() {
    // `-root` excludes root, but `run-parts`, `--report` and a lone `-`
    // are what cron and CLI lines contain and must stay searchable.
    assert_eq!(p("sshd -root"), Expr::And(vec![w("sshd"), not(w("root"))]));
    assert_eq!(
        p(r#"sshd -"failed password""#),
        Expr::And(vec![w("sshd"), not(Expr::Phrase("failed password".into()))])
    );
    assert_eq!(p("-(a OR b)"), not(Expr::Or(vec![w("a"), w("b")])));
    assert_eq!(p("-host:web1"), not(Expr::Host("web1".into())));
    assert_eq!(p("run-parts"), w("run-parts"));
    assert_eq!(p("--report"), w("--report"));
    assert_eq!(p("a - b"), Expr::And(vec![w("a"), w("-"), w("b")]));
    assert_eq!(p("-OR"), not(w("OR")), "the word after - is a term");
    assert_eq!(p("(a -)"), Expr::And(vec![w("a"), w("-")]));
}

#[test]
fn fields_only_for_known_names_the_rest_are_words_with_colons() {
    // `user:root` and IPv6 addresses are common words in logs; reading
    // them as unknown fields would make them unsearchable.
    assert_eq!(p("user:root"), w("user:root"));
    assert_eq!(p("2001:db8::1"), w("2001:db8::1"));
    assert_eq!(
        p("pam_unix(sshd:session)"),
        Expr::And(vec![w("pam_unix"), w("sshd:session")])
    );
    assert_eq!(p("host:web*"), Expr::Host("web*".into()));
    assert_eq!(p("HOST:Web1"), Expr::Host("Web1".into()));
    assert_eq!(p("program:nginx?"), Expr::Program("nginx?".into()));
    assert_eq!(p("unit:ssh.service"), Expr::Unit("ssh.service".into()));
    assert_eq!(p("Unit:\"a b\""), Expr::Unit("a b".into()));
    assert_eq!(p(r#"host:"a b*""#), Expr::Host("a b*".into()));
    assert_eq!(p("host::x"), Expr::Host(":x".into()));
    assert_eq!(p("facility:auth"), Expr::Facility(4));
    assert_eq!(p("facility:AUTHPRIV"), Expr::Facility(10));
    assert_eq!(p("facility:23"), Expr::Facility(23));
    assert_eq!(
        p("(host:web1 OR host:web2) sshd"),
        Expr::And(vec![
            Expr::Or(vec![Expr::Host("web1".into()), Expr::Host("web2".into())]),
            w("sshd")
        ])
    );
}

#[test]
fn severity_field_has_operators_on_the_number() {
    // `severity:<=err` must mean err and worse (0..=3), the way
    // syslog numbers them; the reverse would show the debug noise.
    let sev = |lo, hi| Expr::Severity { lo, hi };
    assert_eq!(p("severity:err"), sev(3, 3));
    assert_eq!(p("severity:error"), sev(3, 3));
    assert_eq!(p("severity:3"), sev(3, 3));
    assert_eq!(p("severity:<=err"), sev(0, 3));
    assert_eq!(p("severity:<err"), sev(0, 2));
    assert_eq!(p("severity:>=warn"), sev(4, 7));
    assert_eq!(p("severity:>warning"), sev(5, 7));
    assert_eq!(p("severity:=crit"), sev(2, 2));
    assert_eq!(p("severity:warning..err"), sev(3, 4));
    assert_eq!(p("severity:err..warning"), sev(3, 4));
    assert_eq!(p("Severity:DEBUG"), sev(7, 7));
}

#[test]
fn severity_flag_means_this_or_more_severe() {
    // `logq -p err` must show crit, alert and emerg too, as journalctl -p.
    assert_eq!(parse_severity_spec("err"), Ok((0, 3)));
    assert_eq!(parse_severity_spec("3"), Ok((0, 3)));
    assert_eq!(parse_severity_spec("5"), Ok((0, 5)));
    assert_eq!(parse_severity_spec("WARNING"), Ok((0, 4)));
    assert_eq!(parse_severity_spec("warning..err"), Ok((3, 4)));
    assert_eq!(parse_severity_spec("err..warning"), Ok((3, 4)));
    assert_eq!(parse_severity_spec("0..7"), Ok((0, 7)));
    for bad in ["8", "error..", "fatal", "", "..", "-1", "<=err"] {
        assert!(parse_severity_spec(bad).is_err(), "{bad:?}");
    }
    let e = parse_severity_spec("fatal").unwrap_err();
    assert!(e.contains("emerg, alert, crit, err, warning"), "{e}");
}

#[test]
fn phrases_and_escapes() {
    // A quote or backslash inside a phrase must be searchable.
    assert_eq!(
        p(r#""say \"hi\" \\ now""#),
        Expr::Phrase(r#"say "hi" \ now"#.into())
    );
    assert_eq!(p(r#""a\d""#), Expr::Phrase(r"a\d".into()));
    assert_eq!(
        p(r#"x"a b"y"#),
        Expr::And(vec![w("x"), Expr::Phrase("a b".into()), w("y")])
    );
    assert_eq!(p(r#""OR""#), Expr::Phrase("OR".into()));
}

#[test]
fn prefixes() {
    // `pass*` must find password and passwd; `*` inside a word is not
    // supported and must say so rather than find nothing.
    assert_eq!(p("pass*"), Expr::Prefix("pass".into()));
    assert_eq!(p("-pass*"), not(Expr::Prefix("pass".into())));
    assert_eq!(p("é*"), Expr::Prefix("é".into()));
}

/// The message and the position of the error in `text`.
fn at(text: &str) -> (String, usize) {
    let e = err(text);
    (e.message, e.pos)
}

#[test]
fn every_error_says_what_and_where() {
    // A typo must be pointed at, not answered with zero lines.
    assert_eq!(at(r#"sshd "failed password"#), ("unclosed quote".into(), 5));
    assert_eq!(at("a)"), ("unbalanced ')'".into(), 1));
    assert_eq!(at("(a OR b) c)"), ("unbalanced ')'".into(), 10));
    assert_eq!(at("x (a OR b"), ("missing ')' to close this '('".into(), 2));
    assert_eq!(at("sshd OR"), ("OR needs something after it".into(), 5));
    assert_eq!(at("sshd AND"), ("AND needs something after it".into(), 5));
    assert_eq!(at("NOT"), ("NOT needs something after it".into(), 0));
    assert_eq!(at("a NOT)"), ("NOT needs something after it".into(), 2));
    assert_eq!(at("a OR OR b"), ("OR needs something after it".into(), 2));
    assert_eq!(at("OR b"), ("OR needs something before it".into(), 0));
    assert_eq!(at("(AND b)"), ("AND needs something before it".into(), 1));
    assert_eq!(at("a ()"), ("empty parentheses".into(), 2));
    assert_eq!(at("a \"  \""), ("empty phrase".into(), 2));
    assert_eq!(
        at("p*ss"),
        (
            "* only at the end of a word (for a prefix: pass*)".into(),
            1
        )
    );
    assert_eq!(
        at("é**"),
        (
            "* only at the end of a word (for a prefix: pass*)".into(),
            1
        )
    );
    assert_eq!(at("a host:"), ("empty value after host:".into(), 7));
    assert_eq!(at("Program:\"\""), ("empty value after program:".into(), 8));
    let (m, pos) = at("x severity:fatal");
    assert_eq!(pos, 11);
    assert!(
        m.starts_with("unknown severity \"fatal\"")
            && m.contains("emerg, alert, crit, err, warning, notice, info, debug"),
        "{m}"
    );
    let (m, pos) = at("facility:mail2");
    assert_eq!(pos, 9);
    assert!(
        m.contains("\"mail2\"") && m.contains("kern, user, mail"),
        "{m}"
    );
    assert_eq!(at("facility:24").1, 9);
    assert!(at("severity:<emerg").0.contains("matches no level"));
    assert!(at("severity:>7").0.contains("matches no level"));
    assert_eq!(at(&"(".repeat(500)).0, "the query nests too deeply");
    assert_eq!(at(&"NOT ".repeat(500)).0, "the query nests too deeply");
}

#[test]
fn render_points_at_the_error() {
    // The caret must sit under the offending character, also after
    // multi-byte characters (positions count characters, not bytes).
    let text = r#"sshd "failed password"#;
    assert_eq!(
        err(text).render(text),
        "unclosed quote\n  sshd \"failed password\n       ^"
    );
    let text = "é ü (x";
    assert_eq!(
        err(text).render(text),
        "missing ')' to close this '('\n  é ü (x\n      ^"
    );
    let text = "sshd OR";
    assert!(err(text).render(text).ends_with("\n  sshd OR\n       ^"));
    // A long query is cut around the error, the caret still under it.
    let text = format!("{} \"open {}", "a ".repeat(100), "b ".repeat(100));
    let r = err(&text).render(&text);
    let lines: Vec<&str> = r.lines().collect();
    let caret = lines[2].chars().count() - 1;
    assert_eq!(lines[1].chars().nth(caret), Some('"'), "{r}");
    assert!(
        lines[1].starts_with("  …") && lines[1].ends_with('…'),
        "{r}"
    );
}

#[test]
fn arguments_of_plain_words_are_phrases() {
    // `logq 'failed password'` must behave like grep (the phrase), while
    // `logq 'sshd NOT root'` is a query.
    assert_eq!(
        args(&["failed password"]),
        Ok(Expr::Phrase("failed password".into()))
    );
    assert_eq!(
        args(&["sshd", "failed  password "]),
        Ok(Expr::And(vec![
            w("sshd"),
            Expr::Phrase("failed  password".into())
        ]))
    );
    assert_eq!(
        args(&["sshd NOT root"]),
        Ok(Expr::And(vec![w("sshd"), not(w("root"))]))
    );
    assert_eq!(args(&["sshd -root"]), Ok(p("sshd -root")));
    assert_eq!(args(&["a host:web1"]), Ok(p("a host:web1")));
    assert_eq!(args(&["pass* word"]), Ok(p("pass* word")));
    assert_eq!(args(&["(a b)"]), Ok(p("a b")));
    assert_eq!(
        args(&["user:root logged in"]),
        Ok(Expr::Phrase("user:root logged in".into()))
    );
    assert_eq!(args(&["sshd "]), Ok(w("sshd")));
    assert_eq!(args(&[]), Ok(Expr::All));
    assert_eq!(args(&["", "x"]), Ok(w("x")));
    let (i, e) = args(&["sshd", "a OR"]).unwrap_err();
    assert_eq!((i, e.pos), (1, 2));
}

#[test]
fn positives_leave_out_negated_atoms() {
    // Highlighting `root` in a line shown because of `-root`'s absence
    // would be a lie; a doubly negated word is wanted again.
    let e = p(r#"sshd -root pass* "failed password" NOT (x OR y) NOT NOT z host:web1"#);
    let got = e.positives();
    assert_eq!(got.words, ["sshd", "z"]);
    assert_eq!(got.prefixes, ["pass"]);
    assert_eq!(got.phrases, ["failed password"]);
    assert!(got.regexes.is_empty());
    let e = Expr::And(vec![Expr::Regex("a+".into()), w("a"), w("a")]);
    assert_eq!(e.positives().regexes, ["a+"]);
    assert_eq!(e.positives().words, ["a"]);
}

#[test]
fn parse_never_panics_on_random_text() {
    // Whatever a user types (or a script passes), logq must answer with
    // a result or an error message, never a crash.
    let alphabet: Vec<&str> = vec![
        "(",
        ")",
        "\"",
        "\\",
        "-",
        "*",
        ":",
        " ",
        "  ",
        "\t",
        "OR",
        "AND",
        "NOT",
        "or",
        "a",
        "b",
        "é",
        "host:",
        "program:",
        "unit:",
        "severity:",
        "facility:",
        "<=",
        ">",
        "=",
        "..",
        "err",
        "7",
        "9",
        "auth",
        "?",
        "\u{0}",
        "\u{301}",
    ];
    let mut rng = StdRng::seed_from_u64(0x10c9);
    for _ in 0..20_000 {
        let n = rng.gen_range(0..12);
        let text: String = (0..n)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        match parse(&text) {
            // Parentheses around a whole query change nothing.
            Ok(Expr::All) => {}
            Ok(e) => assert_eq!(parse(&format!("({text})")), Ok(e), "{text:?}"),
            Err(e) => {
                assert!(e.pos <= text.chars().count(), "{text:?}: {e:?}");
                let _ = e.render(&text);
            }
        }
        let _ = parse_args(&[text.clone(), text]);
    }
}
