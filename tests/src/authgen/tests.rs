//! What a user of `eval-auth` would see break: a scenario that changes
//! from run to run, lines out of order, labels that point at the wrong
//! lines, reference times that are not what the floors say, attacks
//! leaking into the training days.

use std::collections::BTreeSet;

use regex::Regex;

use super::clock::{self, HOUR, MIN};
use super::*;

fn small() -> Scenario {
    Scenario::generate_with(Params {
        seed: 7,
        hosts: 3,
        train_days: 2,
        test_days: 2,
        per_kind: 2,
    })
}

fn stamp(line: &str) -> i64 {
    let s = line.split(' ').next().expect("split yields one item");
    clock::parse_rfc3339(s).unwrap_or_else(|| panic!("no stamp in {line:?}"))
}

#[test]
fn the_same_seed_gives_the_same_scenario_and_another_seed_another() {
    let a = small();
    let b = small();
    assert_eq!(a.train, b.train);
    assert_eq!(a.test, b.test);
    assert_eq!(a.episodes, b.episodes);
    let c = Scenario::generate_with(Params {
        seed: 8,
        ..a.params.clone()
    });
    assert_ne!(a.test, c.test);
}

#[test]
fn lines_are_debian_syslog_in_time_order() {
    let s = small();
    let form = Regex::new(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 (web|db|app)1 [A-Za-z-]+(\[\d+\])?: .",
    )
    .expect("a valid literal regex");
    for (part, lines) in [("train", &s.train), ("test", &s.test)] {
        assert!(lines.len() > 1000, "{part} has {} lines", lines.len());
        for w in lines.windows(2) {
            assert!(
                stamp(&w[0]) <= stamp(&w[1]),
                "out of order in {part}:\n{}\n{}",
                w[0],
                w[1]
            );
        }
        for l in lines.iter() {
            assert!(form.is_match(l), "{part}: not Debian syslog: {l:?}");
        }
    }
    assert!(stamp(s.train.last().expect("lines")) < s.test_start_us);
    assert!(stamp(&s.test[0]) >= s.test_start_us);
    assert!(stamp(s.test.last().expect("lines")) < s.test_start_us + 2 * clock::DAY);
}

#[test]
fn the_defaults_hold_every_kind_and_the_hard_negatives() {
    let s = Scenario::generate(1, 5, 3, 4);
    let count = |k: Kind| s.episodes.iter().filter(|e| e.kind == k).count();
    for k in Kind::ATTACKS {
        assert_eq!(count(k), 3, "{}", k.name());
    }
    assert_eq!(
        count(Kind::Backup),
        5 * 4,
        "one backup per host and test day"
    );
    assert_eq!(count(Kind::MistypeTwice), 4, "one a test day");
    assert_eq!(
        count(Kind::Reboot),
        2,
        "the odd hosts reboot in the test days"
    );
    // Reboots and backups are history too.
    assert!(s.train.iter().any(|l| l.contains("Linux version")));
    assert!(s
        .train
        .iter()
        .any(|l| l.contains("Accepted publickey for backup")));
    // Sizes: bursts of 5 and up, reboots of 100 to 300 lines.
    for e in &s.episodes {
        if e.kind == Kind::Reboot {
            assert!(
                (100..=300).contains(&e.lines.len()),
                "reboot of {}",
                e.lines.len()
            );
        }
    }
}

/// Every line of an episode says what the episode is.
#[test]
fn episode_lines_exist_and_match_their_type() {
    let s = Scenario::generate(3, 5, 1, 3);
    let failed = Regex::new(r"Failed password for (invalid user )?(\S+) from (\S+) port")
        .expect("a valid literal regex");
    for e in &s.episodes {
        let what = format!("{} {} {}", e.kind.name(), e.host, e.key);
        assert!(!e.lines.is_empty(), "{what}: no lines");
        assert!(
            e.lines.windows(2).all(|w| w[0] < w[1]),
            "{what}: lines not ascending"
        );
        let lines: Vec<&str> = e.lines.iter().map(|&n| s.test[n - 1].as_str()).collect();
        assert_eq!(stamp(lines[0]), e.first_us, "{what}");
        assert_eq!(stamp(lines[lines.len() - 1]), e.last_us, "{what}");
        // An attack's line names one of its addresses, or is of a process
        // (`sshd[1234]`) that did, or is systemd-logind's session of it.
        let names_ip = |l: &str| {
            e.ips
                .iter()
                .any(|ip| l.contains(&format!(" {ip} ")) || l.contains(&format!("={ip}")))
        };
        let process = |l: &str| l.split(' ').nth(2).map(str::to_owned);
        let processes: BTreeSet<Option<String>> = lines
            .iter()
            .filter(|l| names_ip(l))
            .map(|l| process(l))
            .collect();
        for l in &lines {
            assert_eq!(l.split(' ').nth(1), Some(e.host.as_str()), "{what}: {l}");
            if e.kind.is_attack() {
                assert!(
                    names_ip(l)
                        || processes.contains(&process(l))
                        || l.contains(" systemd-logind["),
                    "{what}: {l}"
                );
            }
        }
        let failures: Vec<regex::Captures> =
            lines.iter().filter_map(|l| failed.captures(l)).collect();
        match e.kind {
            Kind::Burst => assert!((5..=1000).contains(&failures.len()), "{what}"),
            Kind::InvalidUserScan => {
                let names: BTreeSet<&str> = failures
                    .iter()
                    .map(|c| c.get(2).expect("group").as_str())
                    .collect();
                assert!(names.len() >= 10, "{what}: {names:?}");
                assert!(
                    failures.iter().all(|c| c.get(1).is_some()),
                    "{what}: all invalid"
                );
            }
            Kind::LowAndSlow => {
                assert!(failures.len() >= 10, "{what}");
                assert!(e.last_us - e.first_us >= 4 * HOUR, "{what}");
            }
            Kind::Distributed => {
                let user = e.key.strip_prefix("user=").expect("a user key");
                assert!((20..=200).contains(&e.ips.len()), "{what}");
                assert!(failures.iter().all(|c| &c[2] == user), "{what}");
                assert!(e.last_us - e.first_us <= HOUR + MIN, "{what}");
            }
            Kind::SuccessAfterFailures => {
                let success = &s.test[e.cross_line.expect("a success line") - 1];
                assert!(
                    success.contains(&format!(
                        "Accepted password for root from {} port",
                        e.ips[0]
                    )),
                    "{success}"
                );
                assert!((5..=30).contains(&failures.len()), "{what}");
            }
            Kind::ConnectionFlood => assert!(lines.len() >= 100, "{what}"),
            Kind::MistypeTwice => {
                assert_eq!(failures.len(), 2, "{what}");
                assert_eq!(
                    lines
                        .iter()
                        .filter(|l| l.contains("Accepted password"))
                        .count(),
                    1
                );
            }
            Kind::Backup => assert!(
                lines
                    .iter()
                    .filter(|l| l.contains("Accepted publickey for backup"))
                    .count()
                    >= 100
            ),
            Kind::Reboot => assert!(lines
                .iter()
                .any(|l| l.contains("kernel: [    0.000000] Linux version"))),
        }
    }
}

/// The first time `threshold` of `times` (sorted, with their source) fall
/// within `window` from at least `distinct` sources; written apart from the
/// generator's.
fn first_cross(
    times: &[(i64, String)],
    threshold: usize,
    window: i64,
    distinct: usize,
) -> Option<i64> {
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi].0 - times[lo].0 > window {
            lo += 1;
        }
        let srcs: BTreeSet<&String> = times[lo..=hi].iter().map(|(_, s)| s).collect();
        if hi + 1 - lo >= threshold && srcs.len() >= distinct {
            return Some(times[hi].0);
        }
    }
    None
}

/// cross_ts recomputed from the test file's text, by the definitions.
#[test]
fn cross_ts_is_where_the_reference_floor_is_first_reached() {
    let s = Scenario::generate(5, 5, 1, 4);
    let failed = Regex::new(
        r" (\S+) sshd\[\d+\]: Failed password for (invalid user )?(\S+) from (\S+) port",
    )
    .expect("a valid literal regex");
    for e in &s.episodes {
        let what = format!("{} {} {}", e.kind.name(), e.host, e.key);
        let ips: BTreeSet<&str> = e.ips.iter().map(String::as_str).collect();
        let on_host = |l: &&String| l.split(' ').nth(1) == Some(e.host.as_str());
        let fails: Vec<(i64, String)> = s
            .test
            .iter()
            .filter(on_host)
            .filter_map(|l| failed.captures(l).map(|c| (l, c)))
            .filter(|(_, c)| ips.contains(&c[4]))
            .map(|(l, c)| (stamp(l), c[4].to_string()))
            .collect();
        let want = match e.kind {
            Kind::Burst | Kind::InvalidUserScan => first_cross(&fails, 5, 10 * MIN, 1),
            Kind::LowAndSlow => {
                assert_eq!(
                    first_cross(&fails, 5, 10 * MIN, 1),
                    None,
                    "{what}: 5 in 10 minutes"
                );
                first_cross(&fails, 10, clock::DAY, 1)
            }
            Kind::Distributed => first_cross(&fails, 10, HOUR, 5),
            Kind::SuccessAfterFailures => s
                .test
                .iter()
                .filter(on_host)
                .find(|l| l.contains(&format!("Accepted password for root from {} ", e.ips[0])))
                .map(|l| stamp(l)),
            Kind::ConnectionFlood => {
                let ip = &e.ips[0];
                let verbose: Vec<&String> = s
                    .test
                    .iter()
                    .filter(on_host)
                    .filter(|l| l.contains(&format!("Connection from {ip} port")))
                    .collect();
                let conns: Vec<(i64, String)> = if verbose.is_empty() {
                    e.lines
                        .iter()
                        .map(|&n| (stamp(&s.test[n - 1]), String::new()))
                        .collect()
                } else {
                    verbose.iter().map(|l| (stamp(l), String::new())).collect()
                };
                first_cross(&conns, 50, MIN, 1)
            }
            Kind::MistypeTwice | Kind::Reboot | Kind::Backup => None,
        };
        assert_eq!(e.cross_us, want, "{what}");
        if e.kind.is_attack() {
            assert!(want.is_some(), "{what}: the floor is never reached");
            let line = e.cross_line.expect("a cross line");
            assert_eq!(
                stamp(&s.test[line - 1]),
                e.cross_us.expect("checked"),
                "{what}"
            );
        }
    }
}

#[test]
fn no_attack_in_the_training_days() {
    let s = Scenario::generate(11, 5, 3, 4);
    let attack_ips: BTreeSet<&str> = s
        .episodes
        .iter()
        .filter(|e| e.kind.is_attack())
        .flat_map(|e| e.ips.iter().map(String::as_str))
        .collect();
    assert!(attack_ips.len() > 60);
    for l in &s.train {
        for bad in [
            "Invalid user",
            "Failed password for root",
            "Accepted password for root",
            "Did not receive identification",
            "ftpd[",
        ] {
            assert!(!l.contains(bad), "training line {l:?}");
        }
        let from = l.split(" from ").nth(1).and_then(|r| r.split(' ').next());
        assert!(
            !from.is_some_and(|ip| attack_ips.contains(ip)),
            "training line {l:?}"
        );
    }
    for e in &s.episodes {
        assert!(e.first_us >= s.test_start_us, "{:?}", e.kind);
    }
}
