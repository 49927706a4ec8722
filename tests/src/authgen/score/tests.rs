use super::*;
use crate::authgen::{Params, Scenario};

const T0: i64 = 1_793_000_000_000_000;

fn episode(kind: Kind, lines: std::ops::RangeInclusive<usize>, cross: Option<usize>) -> Episode {
    let lines: Vec<usize> = lines.collect();
    Episode {
        kind,
        host: "web1".into(),
        key: "ip=203.0.113.9".into(),
        ips: vec!["203.0.113.9".into()],
        first_us: T0 + lines[0] as i64 * 1_000_000,
        last_us: T0 + lines[lines.len() - 1] as i64 * 1_000_000,
        cross_us: cross.map(|n| T0 + n as i64 * 1_000_000),
        cross_line: cross,
        lines,
    }
}

/// Line n of the test file is at T0 + n seconds.
fn episodes() -> Vec<Episode> {
    vec![
        episode(Kind::Burst, 10..=20, Some(14)),
        episode(Kind::SuccessAfterFailures, 30..=40, Some(40)),
        episode(Kind::ConnectionFlood, 50..=60, Some(55)),
        episode(Kind::Backup, 70..=80, None),
        episode(Kind::Burst, 90..=95, Some(94)),
    ]
}

fn alert(kind: &str, lines: &[usize], detected_line: usize) -> String {
    format!(
        r#"{{"kind":"{kind}","score":3.5,"key":"ip=203.0.113.9","host":"web1","first_ts":"{}","last_ts":"{}","detected_ts":"{}Z","first_line":{},"last_line":{},"lines":{lines:?},"session":null,"explanation":"five \u001b[31mfailures","extra":[1,2]}}"#,
        clock::rfc3339(T0 + lines[0] as i64 * 1_000_000),
        clock::rfc3339(T0 + lines[lines.len() - 1] as i64 * 1_000_000),
        // Milliseconds and Z, as collectord writes them: 1.5 s after
        // the line.
        &clock::rfc3339(T0 + detected_line as i64 * 1_000_000 + 1_500_000)[..23],
        lines[0],
        lines[lines.len() - 1],
    )
}

/// The numbers eval-auth prints would be wrong.
#[test]
fn alerts_are_read_with_their_fields_and_bad_lines_are_reported() {
    let text = format!(
            "{}\n\nnot json\n{{\"lines\":[1]}}\n{{\"kind\":\"x\",\"lines\":[0]}}\n{{\"kind\":\"x\",\"lines\":[1],\"detected_ts\":\"yesterday\"}}\n",
            alert("failed-login-burst", &[10, 11, 12], 14)
        );
    let (alerts, bad) = parse_alerts(&text);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.kind, "failed-login-burst");
    assert_eq!(a.score, Some(3.5));
    assert_eq!(a.host.as_deref(), Some("web1"));
    assert_eq!(a.session, None);
    assert_eq!(a.lines, vec![10, 11, 12]);
    assert_eq!((a.first_line, a.last_line), (Some(10), Some(12)));
    assert_eq!(a.detected_us, Some(T0 + 15_500_000));
    assert_eq!(a.explanation, "five \u{1b}[31mfailures");
    let bad_lines: Vec<usize> = bad.iter().map(|(n, _)| *n).collect();
    assert_eq!(bad_lines, vec![3, 4, 5, 6], "{bad:?}");
    assert!(bad[1].1.contains("kind"), "{bad:?}");
    assert!(bad[3].1.contains("detected_ts"), "{bad:?}");
}

#[test]
fn recall_precision_false_alerts_and_latency_follow_the_definitions() {
    let eps = episodes();
    let text = [
        // Burst 1, 1.5 s after its cross line: detected, latency 1.5.
        alert("failed-login-burst", &[11, 12, 13, 14], 14),
        // A later alert on the same burst does not make it later.
        alert("failed-login-burst", &[15, 16], 20),
        // Success-after-failures without its success line: a true
        // alert, but the episode is not detected.
        alert("failed-login-burst", &[31, 32, 33], 33),
        // The backup: false, and on a hard negative.
        alert("connection-flood", &[70, 71, 72], 72),
        // Nothing at all: false.
        alert("new-template", &[5], 5),
        // Burst 2, 4 s before its cross line: a negative latency.
        alert("failed-login-burst", &[90, 91], 88),
    ]
    .join("\n");
    let (alerts, bad) = parse_alerts(&text);
    assert!(bad.is_empty(), "{bad:?}");
    let r = score(&eps, 100, 10, &alerts);
    assert_eq!(r.detections[0].map(|d| d.alert), Some(0));
    assert_eq!(r.detections[0].and_then(|d| d.latency_s), Some(1.5));
    assert_eq!(r.detections[1], None, "the success line was not alerted");
    assert_eq!(r.detections[2], None);
    assert_eq!(r.detections[3], None, "hard negatives are never detected");
    assert_eq!(r.detections[4].and_then(|d| d.latency_s), Some(-4.5));
    assert_eq!(r.recall(&eps, Some(Kind::Burst)), Some(1.0));
    assert_eq!(r.recall(&eps, Some(Kind::ConnectionFlood)), Some(0.0));
    assert_eq!(r.recall(&eps, Some(Kind::LowAndSlow)), None);
    assert_eq!(r.recall(&eps, None), Some(0.5));
    assert_eq!(r.false_alerts, vec![3, 4]);
    assert_eq!(r.false_touches.keys().copied().collect::<Vec<_>>(), vec![3]);
    assert_eq!(r.precision(), Some(4.0 / 6.0));
    assert_eq!(r.false_per_host_day(), 0.2);
    assert_eq!(r.median_latency(&eps), (1.5 - 4.5) / 2.0);
    let met: Vec<bool> = r.targets(&eps).iter().map(|t| t.met).collect();
    assert_eq!(met, vec![true, false, false, false, true]);
    assert!(r.verdict(&eps).starts_with("targets met 2/5: burst recall"));

    // With the success line and the flood, everything is found.
    let more = [
        text.clone(),
        alert("success-after-failures", &[39, 40], 40),
        alert("connection-flood", &[50], 56),
    ]
    .join("\n");
    let (alerts, _) = parse_alerts(&more);
    let r = score(&eps, 100, 10, &alerts);
    assert_eq!(r.recall(&eps, None), Some(1.0));
    assert_eq!(r.detections[2].and_then(|d| d.latency_s), Some(2.5));
}

/// An alert detects only what its kind says (issue 16: the scoring counted
/// any alert on any attack line as true). A new-kind-of-message alert on a
/// burst's lines and a flood alert on a success-after-failures episode
/// detect neither; the first is not false either, but not true.
#[test]
fn an_alert_detects_only_the_episodes_its_kind_names() {
    let eps = episodes();
    let text = [
        alert("new-template", &[11, 12], 12),
        alert("connection-flood", &[40], 40),
    ]
    .join("\n");
    let (alerts, bad) = parse_alerts(&text);
    assert!(bad.is_empty(), "{bad:?}");
    let r = score(&eps, 100, 10, &alerts);
    assert_eq!(r.detections[0], None, "a burst is not a new template");
    assert_eq!(
        r.detections[1], None,
        "a flood alert is not a login after failures"
    );
    assert_eq!(r.off_kind, vec![0]);
    assert!(r.false_alerts.is_empty());
    assert_eq!(r.precision(), Some(0.5));
}

/// An alert on the crossing line itself would show as -0.000456 s
/// because collectord writes milliseconds.
#[test]
fn latency_compares_at_milliseconds() {
    let mut e = episode(Kind::Burst, 10..=20, Some(14));
    e.cross_us = Some(T0 + 14_123_456);
    let on_time = format!(
        r#"{{"kind":"failed-login-burst","lines":[14],"detected_ts":"{}Z"}}"#,
        &clock::rfc3339(T0 + 14_123_456)[..23]
    );
    let (alerts, _) = parse_alerts(&on_time);
    let r = score(&[e], 100, 1, &alerts);
    assert_eq!(r.detections[0].and_then(|d| d.latency_s), Some(0.0));
}

/// A developer would not see why a target is missed, or a hostile
/// explanation would reach the terminal raw.
#[test]
fn the_report_lists_misses_and_false_alerts_escaped() {
    let eps = episodes();
    let s = Scenario {
        params: Params::default(),
        hosts: vec!["web1".into()],
        train: Vec::new(),
        test: vec![String::new(); 100],
        episodes: eps.clone(),
        test_start_us: T0,
    };
    let text = [
        alert("connection-flood", &[70, 71, 72], 72),
        alert("failed-login-burst", &[101], 5),
    ]
    .join("\n");
    let (alerts, _) = parse_alerts(&text);
    let r = score(&eps, 100, 20, &alerts);
    let mut out = Vec::new();
    r.print(&s, &alerts, &mut out).expect("write to a Vec");
    let out = String::from_utf8(out).expect("UTF-8");
    assert!(out.contains("missed episodes (4 of 4)"), "{out}");
    assert!(out.contains("false alerts (2 of 2)"), "{out}");
    assert!(out.contains("(on backup web1)"), "{out}");
    assert!(out.contains("five \\u{1b}[31mfailures"), "{out}");
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(out.contains("1 alerts name lines past the end"), "{out}");
    let backup_row = out
        .lines()
        .find(|l| l.starts_with("backup"))
        .expect("a backup row");
    assert!(backup_row.contains("connection-flood ×1"), "{backup_row}");
}
