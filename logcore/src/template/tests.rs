use super::*;

fn miner() -> TemplateMiner {
    TemplateMiner::new(MinerConfig::default())
}

/// Lines of one event with different values share a template; a
/// different event does not. A user would see one pattern split into many
/// (or two events counted as one).
#[test]
fn groups_lines_of_one_event_and_splits_different_events() {
    let mut m = miner();
    let a = m.add("Accepted password for root from 10.0.0.1 port 22 ssh2");
    let b = m.add("Accepted password for alice from 10.0.0.7 port 50122 ssh2");
    let c = m.add("Connection closed by 10.0.0.1 [preauth]");
    let d = m.add("Connection closed by 192.168.4.4 [preauth]");
    assert!(a.is_new && !b.is_new && c.is_new && !d.is_new);
    assert_eq!(a.id, b.id);
    assert_eq!(c.id, d.id);
    assert_ne!(a.id, c.id);
    assert_eq!(m.len(), 2);
    assert_eq!(
        m.template(a.id),
        "Accepted password for <*> from <*> port <*> ssh2"
    );
    assert_eq!(m.template(c.id), "Connection closed by <*> [preauth]");
    assert_eq!(m.count(a.id), 2);
}

/// A template that generalises keeps its id, so ids stored with earlier
/// lines still name the right pattern.
#[test]
fn ids_are_stable_across_generalisation() {
    let mut m = miner();
    let first = m.add("session opened for user root by cron");
    assert_eq!(m.template(first.id), "session opened for user root by cron");
    let second = m.add("session opened for user alice by cron");
    assert_eq!(second.id, first.id);
    assert_eq!(m.template(first.id), "session opened for user <*> by cron");
    let other = m.add("disk full on sda");
    assert_eq!(other.id, TemplateId(1));
    assert_eq!(m.add("session opened for user bob by cron").id, first.id);
}

/// Parameters are the original values, with the template's own text
/// (`uid=`, `blk_`, brackets) taken off.
#[test]
fn parameters_are_extracted() {
    let mut m = miner();
    m.add("Received block blk_-12 of size 67108864 from /10.250.19.102");
    let got = m.add("Received block blk_3456 of size 5 from /10.250.19.16");
    assert_eq!(got.params, ["3456", "5", "/10.250.19.16"]);
    let auth = m.add("authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.1.1.1");
    assert_eq!(
        m.template(auth.id),
        "authentication failure; logname= uid=<*> euid=<*> tty=<*> ruser= rhost=<*>"
    );
    assert_eq!(auth.params, ["0", "0", "ssh", "10.1.1.1"]);
    assert_eq!(
        m.params(got.id, "Received block blk_7 of size 8 from x")
            .unwrap(),
        ["7", "8", "x"]
    );
    assert_eq!(m.params(got.id, "too short"), None);
}

/// `match_only` gives what `add` would without learning, and nothing for a
/// message `add` would start a template for.
#[test]
fn match_only_does_not_learn() {
    let mut m = miner();
    let id = m.add("worker 3 finished job in 20 ms").id;
    let before = m.clone();
    assert_eq!(m.match_only("worker 9 finished job in 7 ms"), Some(id));
    assert_eq!(m.match_only("something else entirely"), None);
    assert_eq!(m, before);
}

/// The same input gives the same templates and ids, run after run.
#[test]
fn deterministic() {
    let lines: Vec<String> = (0..500)
        .map(|i| match i % 4 {
            0 => format!("user u{} logged in from 10.0.{}.{}", i % 7, i % 5, i),
            1 => format!("job {i} took {} ms", i * 3),
            2 => format!("cache miss for key k{} in shard {}", i % 11, i % 3),
            _ => format!("{} disk errors on sd{}", i % 9, ["a", "b", "c"][i % 3]),
        })
        .collect();
    let run = || {
        let mut m = miner();
        let ids: Vec<TemplateId> = lines.iter().map(|l| m.add(l).id).collect();
        (ids, serde_json::to_string(&m).unwrap())
    };
    assert_eq!(run(), run());
}

/// A saved miner loads into the same state and goes on giving the same
/// ids; a model file of another version or with dangling indexes is
/// refused instead of crashing the loader.
#[test]
fn serde_round_trip_and_checks() {
    let mut m = miner();
    for line in ["a b 1", "a b 2", "x y z", "x y q", "other thing 5 here"] {
        m.add(line);
    }
    let json = serde_json::to_string(&m).unwrap();
    let mut back: TemplateMiner = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.template(TemplateId(0)), "a b <*>");
    assert_eq!(back.add("x y w").id, m.add("x y w").id);
    assert_eq!(back, m);

    let bad_version = json.replace(&format!("\"version\":{FORMAT_VERSION}"), "\"version\":999");
    let err = serde_json::from_str::<TemplateMiner>(&bad_version).unwrap_err();
    assert!(err.to_string().contains("version 999"), "{err}");
    let dangling = json.replacen("\"templates\":[0]", "\"templates\":[77]", 1);
    assert_ne!(dangling, json);
    assert!(serde_json::from_str::<TemplateMiner>(&dangling).is_err());
}

/// With the template cap reached, nothing more is learnt: memory stays
/// bounded, existing ids still match, and a message with no template of
/// its shape gets OVERFLOW.
#[test]
fn template_cap_stops_learning() {
    let mut m = TemplateMiner::new(MinerConfig {
        max_templates: 2,
        ..MinerConfig::default()
    });
    let a = m.add("alpha beta gamma delta epsilon zeta").id;
    let b = m.add("one two").id;
    let full = m.clone();
    // Below the threshold (2 of 6), so it would start a template.
    let near = m.add("alpha beta x y z w");
    assert_eq!((near.id, near.is_new), (a, false));
    assert_eq!(m.add("one two").id, b);
    let none = m.add("a line of another length");
    assert_eq!(none.id, TemplateId::OVERFLOW);
    assert_eq!(m.template(none.id), "<*>");
    assert_eq!(none.params.len(), 5);
    assert_eq!(m.len(), 2);
    assert_eq!(m.template(a), full.template(a));
}

/// A first word that never repeats (a variable without digits) cannot
/// grow a node past `max_children`.
#[test]
fn children_per_node_are_capped() {
    let mut m = TemplateMiner::new(MinerConfig {
        max_children: 4,
        ..MinerConfig::default()
    });
    for w in ["aa", "bb", "cc", "dd", "ee", "ff", "gg"] {
        m.add(&format!("{w} logged out"));
    }
    let root = m.roots[&3];
    assert!(m.nodes[root as usize].children.len() <= 4);
    assert!(m.nodes[root as usize].children.contains_key(WILDCARD));
}

/// A connection log that writes a byte count with or without its size in
/// KB, and a lifetime as `00:01` or `<1 sec`, is one event: without the
/// quantity rule it split into a template per combination, and the value
/// a user extracts is the whole quantity.
#[test]
fn quantities_written_differently_share_a_template() {
    let mut m = miner();
    let a = m.add("h.example.org:5070 close, 0 bytes sent, 0 bytes received, lifetime 00:01");
    let b = m.add(
        "h.example.org:5070 close, 1190 bytes (1.16 KB) sent, 815 bytes received, lifetime <1 sec",
    );
    assert_eq!(a.id, b.id);
    assert_eq!(
        m.template(a.id),
        "<*> close, <*> sent, <*> received, lifetime <*>"
    );
    assert_eq!(
        b.params,
        [
            "h.example.org:5070",
            "1190 bytes (1.16 KB)",
            "815 bytes",
            "<1 sec"
        ]
    );
}

/// Messages one word apart about different kinds of object stay apart,
/// as the words of an id are kept; ids of one kind with other numbers
/// still share a template. Without it, "stored as bytes" and "stored as
/// values" became one event whose parameter is the storage format.
#[test]
fn the_kind_of_an_id_separates_events() {
    let mut m = miner();
    let bytes = m.add(
        "Block broadcast_9_piece0 stored as bytes in memory (estimated size 5.2 KB, free 5.2 KB)",
    );
    let values =
        m.add("Block broadcast_9 stored as values in memory (estimated size 8.8 KB, free 14.0 KB)");
    assert_ne!(bytes.id, values.id);
    let later = m.add(
        "Block broadcast_10 stored as values in memory (estimated size 384.0 B, free 317.5 KB)",
    );
    assert_eq!(later.id, values.id);
    assert_eq!(later.params, ["10", "384.0 B", "317.5 KB"]);
}

/// The memo of placed messages changes no answer: a miner that forgets it
/// before every message gives the same ids, parameters and templates,
/// through generalisation, full nodes and the template cap. A user would
/// otherwise see a line counted under a stale template, or a new kind of
/// message missed because the memo answered for a leaf that had changed.
#[test]
fn memo_gives_the_miners_answers() {
    let config = MinerConfig {
        max_children: 4,
        max_templates: 40,
        ..MinerConfig::default()
    };
    let mut with = TemplateMiner::new(config.clone());
    let mut without = TemplateMiner::new(config);
    let users = ["root", "alice", "bob", "carol", "dave", "erin", "frank"];
    let verbs = ["opened", "closed", "denied"];
    let mut state = 7u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    for i in 0..5000 {
        let message = match next(4) {
            0 => format!(
                "session {} for user {} by cron",
                verbs[next(3)],
                users[next(7)]
            ),
            1 => format!("({}) CMD (/usr/bin/job{} --daily)", users[next(7)], next(3)),
            2 => format!("{} {} {} {}", users[next(7)], verbs[next(3)], next(9), i),
            _ => format!("disk {} on sd{}", verbs[next(3)], ["a", "b"][next(2)]),
        };
        without.memo = memo::Memo::default();
        let (a, b) = (with.add(&message), without.add(&message));
        assert_eq!(a, b, "message {i}: {message}");
    }
    assert!(
        with.len() > 10,
        "the corpus makes templates: {}",
        with.len()
    );
    assert_eq!(with.templates, without.templates);
    assert_eq!(with.nodes, without.nodes);
}

/// A remembered message follows its leaf's changes: once another template
/// of the leaf has generalised into an equally good and more general one,
/// the message joins that one (Drain's tie rule), as a miner without a
/// memo would place it.
#[test]
fn memo_follows_a_leaf_that_changed() {
    let mut m = miner();
    let t1 = m.add("1 x a b c d e f g").id;
    assert_eq!(m.add("2 x a b c d e f g").id, t1, "placed and remembered");
    let t2 = m.add("3 x a b c d e q r").id;
    assert_ne!(t2, t1);
    assert_eq!(m.add("5 x a b c d e q s").id, t2);
    assert_eq!(m.add("6 x a b c d e t s").id, t2);
    assert_eq!(m.template(t2), "<*> x a b c d e <*> <*>");
    assert_eq!(
        m.add("2 x a b c d e f g").id,
        t2,
        "the tie goes to the more general"
    );
}
