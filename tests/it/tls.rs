//! TLS between agentd and collectord: certificates made by `collectord tls`
//! itself (and by rcgen here for the bad ones), real processes on loopback.
//! Every refusal must be explained in words on both sides, store nothing,
//! and leave the collector serving the others.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use logq_tests::{bin, numbered_line, wait_until, Agent, Collector, Daemon};
use rcgen::{CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::delivery::{assert_exactly_once, count};

const WAIT: Duration = Duration::from_secs(30);

/// A CA made by `collectord tls init`, with the collector's certificate
/// for `localhost` and 127.0.0.1.
pub struct Pki {
    dir: PathBuf,
}

fn collectord_tls(args: &[&str]) -> String {
    let out = Command::new(bin("collectord"))
        .arg("tls")
        .args(args)
        .output()
        .expect("run collectord tls");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "collectord tls {args:?}: {text}");
    text
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let dir = dir.join("ca");
        let d = dir.to_str().unwrap();
        collectord_tls(&["init", "--dir", d]);
        collectord_tls(&[
            "issue",
            "--dir",
            d,
            "--server",
            "--name",
            "localhost",
            "--san",
            "127.0.0.1",
        ]);
        Pki { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// `collectord tls issue --agent --name NAME`.
    pub fn issue_agent(&self, name: &str) {
        let printed = collectord_tls(&[
            "issue",
            "--dir",
            self.dir.to_str().unwrap(),
            "--agent",
            "--name",
            name,
        ]);
        // What it prints is what an operator pastes.
        assert!(
            printed.contains(&format!("agent-id = \"{name}\"")) && printed.contains("tls = true"),
            "{printed}"
        );
    }

    /// collectord.toml lines: TLS with client certificates, `allow` listed.
    pub fn collector_config(&self, allow: &[&str]) -> String {
        let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
        format!(
            "tls-cert = {:?}\ntls-key = {:?}\ntls-client-ca = {:?}\ntls-allow-agents = [{}]\n",
            self.path("localhost.crt"),
            self.path("localhost.key"),
            self.path("ca.crt"),
            allow.join(", ")
        )
    }

    /// agentd.toml lines: TLS trusting this CA, with `name`'s certificate.
    pub fn agent_config(&self, name: Option<&str>) -> String {
        let mut s = format!("tls = true\ntls-ca = {:?}\n", self.path("ca.crt"));
        if let Some(name) = name {
            s += &format!(
                "tls-cert = {:?}\ntls-key = {:?}\n",
                self.path(&format!("{name}.crt")),
                self.path(&format!("{name}.key"))
            );
        }
        s
    }

    /// A certificate for `name` signed by this CA, valid in the past only:
    /// rcgen, rebuilding the issuer from ca.key and the subject `tls init`
    /// gives every CA ("logq CA").
    fn issue_expired(&self, name: &str) {
        self.issue_dated(name, (2020, 1, 1), (2021, 1, 1));
    }

    /// A certificate for `name` signed by this CA, valid from 2090 only.
    fn issue_not_yet_valid(&self, name: &str) {
        self.issue_dated(name, (2090, 1, 1), (2091, 1, 1));
    }

    fn issue_dated(&self, name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) {
        let ca_key =
            KeyPair::from_pem(&std::fs::read_to_string(self.dir.join("ca.key")).unwrap()).unwrap();
        let issuer = ca_params("logq CA").self_signed(&ca_key).unwrap();
        let mut p = CertificateParams::new(vec![name.to_owned()]).unwrap();
        p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer, &ca_key).unwrap();
        std::fs::write(self.dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(self.dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// Another CA altogether (rcgen), with a certificate for `name` in `dir`:
/// `dir/ca.crt`, `dir/NAME.crt`, `dir/NAME.key`.
fn foreign_ca(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params("somebody else's CA")
        .self_signed(&ca_key)
        .unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// Appends numbered lines `from..to` of `tag` to `path`.
fn write_lines(path: &Path, tag: &str, from: u64, to: u64) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = (from..to).map(|n| numbered_line(tag, n) + "\n").collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// Waits until `daemon`'s log has every one of `words`; panics with the
/// log otherwise.
fn wait_for_log(daemon: &Daemon, what: &str, words: &[&str]) {
    let found = wait_until(WAIT, || {
        let log = daemon.log();
        words.iter().all(|w| log.contains(w))
    });
    assert!(found, "{what}'s log lacks {words:?}:\n{}", daemon.log());
}

/// The harness's agent-id for an agent in directory `dir`.
fn agent_id(dir: &str) -> String {
    format!("agent-{dir}")
}

/// An agent in `tmp/NAME` shipping `tmp/NAME.log` (10 lines tagged NAME).
fn agent(tmp: &Path, name: &str, collector: &Collector, extra: &str) -> Agent {
    let log = tmp.join(format!("{name}.log"));
    write_lines(&log, name, 0, 10);
    Agent::start(&tmp.join(name), collector.addr, &[&log], extra)
}

/// The fleet case: an agent whose certificate the collector's CA signed
/// and whose name is allowed ships lines an operator can then search. If
/// TLS broke delivery, the lines would never show up.
#[test]
fn mutual_tls_agent_ships_lines_that_become_searchable() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path());
    let good = agent_id("good");
    pki.issue_agent(&good);
    let collector = Collector::start(
        &tmp.path().join("collector"),
        &pki.collector_config(&[&good]),
    );
    let log = tmp.path().join("good.log");
    // More than rustls buffers at once (64 KiB): a batch is written in parts.
    write_lines(&log, "good", 0, 5000);
    let agent = Agent::start(
        &tmp.path().join("good"),
        collector.addr,
        &[&log],
        &pki.agent_config(Some(&good)),
    );
    assert!(collector.wait_for_lines(5000, WAIT), "{}", agent.log());
    assert_exactly_once(&collector, &[("good", 5000)]);
    wait_for_log(
        &collector,
        "collectord",
        &["Agent connected.", "tls=true", &good],
    );
}

/// Each certificate the collector must refuse (another CA's, an expired
/// one, none at all, a name not in tls-allow-agents, a name that is not
/// the agent's agent-id) is refused with words an operator can act on in
/// BOTH logs, nothing of theirs is stored, and an allowed agent beside them
/// is still served. Without this, a refused agent would retry forever with
/// "handshake failed" and nobody would know which side to fix.
#[test]
fn refused_client_certificates_are_explained_on_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    for name in ["good", "stranger"] {
        pki.issue_agent(&agent_id(name));
    }
    pki.issue_expired(&agent_id("expired"));
    foreign_ca(&t.join("foreign"), &agent_id("foreign"));
    let allowed = [
        agent_id("good"),
        agent_id("expired"),
        agent_id("foreign"),
        agent_id("none"),
        agent_id("liar"),
    ];
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let collector = Collector::start(&t.join("collector"), &pki.collector_config(&allowed));

    let foreign_cfg = format!(
        "tls = true\ntls-ca = {:?}\ntls-cert = {:?}\ntls-key = {:?}\n",
        pki.path("ca.crt"),
        t.join("foreign/agent-foreign.crt").display().to_string(),
        t.join("foreign/agent-foreign.key").display().to_string(),
    );
    let foreign = agent(t, "foreign", &collector, &foreign_cfg);
    let expired = agent(
        t,
        "expired",
        &collector,
        &pki.agent_config(Some(&agent_id("expired"))),
    );
    let none = agent(t, "none", &collector, &pki.agent_config(None));
    let stranger = agent(
        t,
        "stranger",
        &collector,
        &pki.agent_config(Some(&agent_id("stranger"))),
    );
    // A certificate for the allowed agent-good, used by an agent whose
    // agent-id is agent-liar: it must not write as agent-good, nor as itself.
    let liar = agent(
        t,
        "liar",
        &collector,
        &pki.agent_config(Some(&agent_id("good"))),
    );
    let good = agent(
        t,
        "good",
        &collector,
        &pki.agent_config(Some(&agent_id("good"))),
    );

    wait_for_log(
        &foreign,
        "the foreign agent",
        &["the collector refused our certificate: certificate not signed by its tls-client-ca"],
    );
    wait_for_log(
        &expired,
        "the expired agent",
        &["the collector refused our certificate: certificate expired on 2021-01-01 00:00:00 UTC"],
    );
    wait_for_log(
        &none,
        "the agent without a certificate",
        &["the collector refused our certificate: no client certificate (set tls-cert and tls-key)"],
    );
    wait_for_log(
        &stranger,
        "the stranger agent",
        &["the collector refused our certificate (see its log"],
    );
    wait_for_log(
        &liar,
        "the liar agent",
        &[
            "refused the connection (code 7)",
            "agent_id \\\"agent-liar\\\" in HELLO is not the name",
        ],
    );
    let ca = pki.path("ca.crt");
    wait_for_log(
        &collector,
        "collectord",
        &[
            "TLS handshake failed: no client certificate",
            &format!("TLS handshake failed: certificate not signed by tls-client-ca ({ca})"),
            "TLS handshake failed: certificate expired on 2021-01-01",
            "TLS handshake failed: name agent-stranger is not in tls-allow-agents",
            "refused: agent_id \"agent-liar\" in HELLO is not the name of the agent's certificate (agent-good)",
        ],
    );
    // The allowed agent is served beside them, and nothing else is stored.
    assert!(collector.wait_for_lines(10, WAIT), "{}", good.log());
    assert_eq!(count(&collector, "line"), 10);
    assert_exactly_once(&collector, &[("good", 10)]);
    drop((foreign, expired, none, stranger, liar));
}

/// An agent must not send lines to a collector it cannot verify: one whose
/// certificate another CA signed, or one whose certificate names another
/// host. Each is refused by the agent with the reason and the setting to
/// look at, the collector's log says the agent refused, and nothing of
/// theirs is stored while an agent that trusts the collector is served.
#[test]
fn agent_refuses_a_collector_it_cannot_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    pki.issue_agent(&agent_id("distrust"));
    pki.issue_agent(&agent_id("misnamed"));
    pki.issue_agent(&agent_id("trusting"));
    foreign_ca(&t.join("foreign"), "unused");
    let collector = Collector::start(&t.join("collector"), &pki.collector_config(&[]));
    let foreign_ca_file = t.join("foreign/ca.crt").display().to_string();
    let distrust = agent(
        t,
        "distrust",
        &collector,
        &format!(
            "tls = true\ntls-ca = {foreign_ca_file:?}\ntls-cert = {:?}\ntls-key = {:?}\n",
            pki.path("agent-distrust.crt"),
            pki.path("agent-distrust.key")
        ),
    );
    let misnamed = agent(
        t,
        "misnamed",
        &collector,
        &format!(
            "{}tls-server-name = \"logs.example.com\"\n",
            pki.agent_config(Some(&agent_id("misnamed")))
        ),
    );
    wait_for_log(
        &distrust,
        "the distrusting agent",
        &[&format!(
            "we refused the collector's certificate: certificate not signed by tls-ca ({foreign_ca_file})"
        )],
    );
    wait_for_log(
        &misnamed,
        "the misnamed agent",
        &["we refused the collector's certificate: certificate for localhost, 127.0.0.1, not logs.example.com (set tls-server-name?)"],
    );
    wait_for_log(
        &collector,
        "collectord",
        &["TLS handshake failed: the agent refused the handshake: it does not trust our certificate"],
    );
    // The positive barrier: an agent that trusts the collector, started
    // after the refusals, is served; the refusing agents' lines are not
    // there.
    let trusting = agent(
        t,
        "trusting",
        &collector,
        &pki.agent_config(Some(&agent_id("trusting"))),
    );
    assert!(collector.wait_for_lines(10, WAIT), "{}", trusting.log());
    assert_eq!(count(&collector, "line"), 10);
    assert_exactly_once(&collector, &[("trusting", 10)]);
    drop((distrust, misnamed));
}

/// An agent whose certificate is not valid yet (issued with a clock ahead,
/// or installed early) hears the collector's reason in the collector's
/// words, not "expired": rustls sends the same alert for both, and an
/// operator told "expired" would renew a certificate that is brand new.
#[test]
fn agent_with_a_certificate_not_valid_yet_is_told_so_in_the_collectors_words() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    let id = agent_id("early");
    pki.issue_not_yet_valid(&id);
    let collector = Collector::start(&t.join("collector"), &pki.collector_config(&[&id]));
    let early = agent(t, "early", &collector, &pki.agent_config(Some(&id)));
    let words = "certificate not valid before 2090-01-01 00:00:00 UTC";
    wait_for_log(
        &collector,
        "collectord",
        &[&format!("TLS handshake failed: {words}")],
    );
    wait_for_log(
        &early,
        "the early agent",
        &[&format!(
            "the collector refused our certificate: {words} (see its log)"
        )],
    );
    let log = early.log();
    assert!(!log.contains("expired"), "{log}");
    assert_eq!(count(&collector, "line"), 0);
}

/// Two `collectord tls init` CAs have the same name ("logq CA"), so a
/// certificate from the other one fails on its signature, and rustls's
/// alert for that is decrypt_error. Either way round, each side must say
/// what collectord says for a client certificate from another CA: not
/// signed by the CA it trusts, naming the setting.
#[test]
fn certificates_from_another_logq_ca_are_refused_in_words_on_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    let other = Pki::new(&t.join("other"));
    // An agent certificate from the other CA, to the collector of this one.
    let sibling = agent_id("sibling");
    other.issue_agent(&sibling);
    let collector = Collector::start(&t.join("collector"), &pki.collector_config(&[&sibling]));
    let agent_a = agent(
        t,
        "sibling",
        &collector,
        &format!(
            "tls = true\ntls-ca = {:?}\ntls-cert = {:?}\ntls-key = {:?}\n",
            pki.path("ca.crt"),
            other.path(&format!("{sibling}.crt")),
            other.path(&format!("{sibling}.key"))
        ),
    );
    wait_for_log(
        &collector,
        "collectord",
        &[&format!(
            "TLS handshake failed: certificate not signed by tls-client-ca ({})",
            pki.path("ca.crt")
        )],
    );
    wait_for_log(
        &agent_a,
        "the agent with the other CA's certificate",
        &["the collector refused our certificate: certificate not signed by its tls-client-ca (see its log)"],
    );
    // A collector whose certificate the other CA signed, to an agent that
    // trusts this one.
    let misissued = Collector::start(
        &t.join("misissued"),
        &format!(
            "tls-cert = {:?}\ntls-key = {:?}\n",
            other.path("localhost.crt"),
            other.path("localhost.key")
        ),
    );
    let agent_b = agent(t, "trusting", &misissued, &pki.agent_config(None));
    wait_for_log(
        &agent_b,
        "the agent trusting this CA",
        &[&format!(
            "we refused the collector's certificate: certificate not signed by tls-ca ({})",
            pki.path("ca.crt")
        )],
    );
    assert!(!agent_a.log().contains("DecryptError"), "{}", agent_a.log());
    assert!(!agent_b.log().contains("DecryptError"), "{}", agent_b.log());
    assert_eq!(count(&collector, "line"), 0);
    assert_eq!(count(&misissued, "line"), 0);
}

/// Mixing TLS and plaintext must fail at once with the fix named, on both
/// sides, and not disturb the agents that are right: a plaintext agent on
/// the TLS port, and a TLS agent on a plaintext collector.
#[test]
fn plaintext_and_tls_mismatches_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    pki.issue_agent(&agent_id("good"));
    pki.issue_agent(&agent_id("eager"));
    let tls_collector = Collector::start(&t.join("tls-collector"), &pki.collector_config(&[]));
    let plain = agent(t, "plain", &tls_collector, "");
    let good = agent(
        t,
        "good",
        &tls_collector,
        &pki.agent_config(Some(&agent_id("good"))),
    );
    wait_for_log(
        &plain,
        "the plaintext agent",
        &["this collector speaks TLS only: set tls = true and tls-ca in agentd.toml"],
    );
    wait_for_log(
        &tls_collector,
        "the TLS collectord",
        &["not TLS: the peer sent a logq HELLO in plaintext (is the agent's tls off?)"],
    );
    assert!(tls_collector.wait_for_lines(10, WAIT), "{}", good.log());
    assert_exactly_once(&tls_collector, &[("good", 10)]);

    let plain_collector = Collector::start(&t.join("plain-collector"), "");
    let eager = agent(
        t,
        "eager",
        &plain_collector,
        &pki.agent_config(Some(&agent_id("eager"))),
    );
    wait_for_log(
        &eager,
        "the TLS agent",
        &["the collector did not answer TLS (is its tls-cert set?)"],
    );
    wait_for_log(
        &plain_collector,
        "the plaintext collectord",
        &["the peer started a TLS handshake (is its tls on while this collector has no tls-cert?)"],
    );
    // The positive barriers: a plaintext agent started after the refusal is
    // served by the plaintext collector, and each collector stores only
    // its right agent's 10 lines.
    let plainok = agent(t, "plainok", &plain_collector, "");
    assert!(
        plain_collector.wait_for_lines(10, WAIT),
        "{}",
        plainok.log()
    );
    assert_eq!(count(&plain_collector, "line"), 10);
    assert_exactly_once(&plain_collector, &[("plainok", 10)]);
    assert_eq!(count(&tls_collector, "line"), 10);
    drop((plain, eager));
}

/// Restarts under TLS lose nothing: lines written while the collector is
/// down, and while the agent is down, arrive once each after the
/// reconnection (the agent resends what was not acknowledged).
#[test]
fn restarts_with_tls_lose_no_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    let id = agent_id("agent");
    pki.issue_agent(&id);
    let config = pki.collector_config(&[&id]);
    let collector = Collector::start(&t.join("collector"), &config);
    let log = t.join("app.log");
    write_lines(&log, "r", 0, 1000);
    let agent = Agent::start(
        &t.join("agent"),
        collector.addr,
        &[&log],
        &pki.agent_config(Some(&id)),
    );
    assert!(collector.wait_for_lines(1000, WAIT), "{}", agent.log());

    let (dir, addr) = (collector.dir.clone(), collector.addr);
    drop(collector); // SIGKILL
    write_lines(&log, "r", 1000, 2000);
    let collector = Collector::start_on(&dir, &addr.to_string(), &config);
    assert!(collector.wait_for_lines(2000, WAIT), "{}", agent.log());

    let agent = agent.restart();
    write_lines(&log, "r", 2000, 3000);
    assert!(collector.wait_for_lines(3000, WAIT), "{}", agent.log());
    assert_exactly_once(&collector, &[("r", 3000)]);
}

/// A broken certificate
/// file saved before `systemctl reload` keeps the running TLS instead of cutting
/// every agent off; the error names the file.
#[test]
fn a_broken_certificate_on_reload_keeps_the_running_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = Pki::new(t);
    let id = agent_id("a");
    pki.issue_agent(&id);
    let collector = Collector::start(&t.join("collector"), &pki.collector_config(&[]));

    let broken = t.join("broken.crt");
    std::fs::write(&broken, "not a certificate\n").unwrap();
    collector.write_config(&format!(
        "tls-cert = {:?}\ntls-key = {:?}\n",
        broken.display().to_string(),
        pki.path("localhost.key")
    ));
    collector.reload(WAIT).unwrap();
    wait_for_log(
        &collector,
        "collectord",
        &[
            "Cannot reload; keeping the running configuration.",
            "broken.crt holds no certificate",
        ],
    );
    // Still TLS with client certificates: an agent is served.
    let a = agent(t, "a", &collector, &pki.agent_config(Some(&id)));
    assert!(collector.wait_for_lines(10, WAIT), "{}", a.log());
}

/// Half a TLS setup is refused at start with the key and the file named
/// (exit status 78), on both programs: a collector with tls-cert but no
/// tls-key would otherwise serve plaintext to agents that expect TLS.
#[test]
fn half_a_tls_config_is_a_config_error_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let c = t.join("collectord.toml");
    std::fs::write(&c, "tls-cert = \"/etc/collectord/tls/c.crt\"\n").unwrap();
    let out = Command::new(bin("collectord"))
        .args(["--check-config", "--config"])
        .arg(&c)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("`tls-key`") && err.contains("collectord.toml"),
        "{err}"
    );

    let a = t.join("agentd.toml");
    std::fs::write(&a, "inputs = [\"/var/log/syslog\"]\ntls = true\n").unwrap();
    let out = Command::new(bin("agentd"))
        .args(["--check-config", "--config"])
        .arg(&a)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("`tls-ca`") && err.contains("agentd.toml"),
        "{err}"
    );
}
