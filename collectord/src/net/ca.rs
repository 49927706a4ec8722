//! `collectord tls init` and `collectord tls issue`: a small certificate
//! authority for a fleet (rcgen), so that mutual TLS needs no openssl
//! recipe.
//!
//! `init --dir DIR` writes `DIR/ca.key` (mode 0600) and `DIR/ca.crt`.
//! `issue` signs a key and certificate for the collector (`--server`,
//! extended key usage serverAuth, extra names with `--san`) or for one
//! agent (`--agent`, clientAuth), its DNS name being `--name`, and prints
//! the config lines that use them. rcgen cannot read a certificate back,
//! so the issuer is rebuilt from `ca.key` and the fixed subject `init`
//! gave it (a certificate's issuer is the CA's subject and key, nothing
//! else); `ca.crt` is checked to hold that key.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::cli::{IssueArgs, TlsArgs, TlsCommand};
use crate::net::tls::{self, load_certs};

/// The subject of every CA `init` makes.
const CA_NAME: &str = "logq CA";

pub fn run(args: &TlsArgs) -> anyhow::Result<()> {
    match &args.command {
        TlsCommand::Init(a) => init(&a.dir, a.days),
        TlsCommand::Issue(a) => issue(a),
    }
}

fn ca_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("ca.crt"), dir.join("ca.key"))
}

/// The CA's parameters: the same at `init` and at every `issue`.
fn ca_params(days: u32) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(i64::from(days));
    p
}

fn init(dir: &Path, days: u32) -> anyhow::Result<()> {
    let (crt, key) = ca_paths(dir);
    if key.exists() || crt.exists() {
        bail!(
            "{} already holds a CA ({} or {} exists); certificates it signed would stop working if it were replaced",
            dir.display(),
            crt.display(),
            key.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pair = KeyPair::generate().context("cannot generate a key")?;
    let cert = ca_params(days)
        .self_signed(&pair)
        .context("cannot make the CA certificate")?;
    write_new(&key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_new(&crt, cert.pem().as_bytes(), 0o644)?;
    println!(
        "CA key:         {} (mode 0600: keep it here, it signs every certificate)",
        key.display()
    );
    println!(
        "CA certificate: {} (valid {days} days; copy it to the collector and every agent)",
        crt.display()
    );
    println!();
    println!("Next, a certificate for the collector and one per agent:");
    println!(
        "  collectord tls issue --dir {} --server --name COLLECTOR-HOST-NAME",
        dir.display()
    );
    println!(
        "  collectord tls issue --dir {} --agent --name AGENT-ID",
        dir.display()
    );
    Ok(())
}

/// `--name` is a DNS name (an agent's is also its agent-id, which HELLO
/// checks): it names the files written in `--dir`, so it must not be a
/// path (`../x` wrote outside the CA's directory).
fn check_issue_name(name: &str) -> anyhow::Result<()> {
    if rustls::pki_types::DnsName::try_from(name).is_err() || name.contains('/') {
        bail!(
            "--name {:?} is not a DNS name (labels of letters, digits and '-' joined by '.')",
            logcore::text::escape(name.as_bytes())
        );
    }
    logcore::wire::check_name(name).with_context(|| format!("--name {name:?}"))?;
    Ok(())
}

fn issue(a: &IssueArgs) -> anyhow::Result<()> {
    check_issue_name(&a.name)?;
    let (ca_crt, ca_key_path) = ca_paths(&a.dir);
    let ca_pem = std::fs::read_to_string(&ca_key_path).with_context(|| {
        format!(
            "cannot read the CA key {} (run `collectord tls init --dir {}` first)",
            ca_key_path.display(),
            a.dir.display()
        )
    })?;
    let ca_key = KeyPair::from_pem(&ca_pem)
        .with_context(|| format!("{} is not a PEM private key", ca_key_path.display()))?;
    let ca_cert = load_certs(&ca_crt, "CA certificate")?;
    let same_key = webpki::EndEntityCert::try_from(&ca_cert[0])
        .map(|c| c.subject_public_key_info().as_ref() == ca_key.public_key_der().as_slice())
        .unwrap_or(false);
    if !same_key {
        bail!(
            "{} is not the certificate of the key {}",
            ca_crt.display(),
            ca_key_path.display()
        );
    }
    let issuer = ca_params(1)
        .self_signed(&ca_key)
        .context("cannot rebuild the CA")?;

    let mut names = vec![a.name.clone()];
    names.extend(a.san.iter().cloned());
    let mut params = CertificateParams::new(names.clone())
        .with_context(|| format!("{names:?} are not valid certificate names"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, a.name.as_str());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![if a.server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(a.days));
    let pair = KeyPair::generate().context("cannot generate a key")?;
    let cert = params
        .signed_by(&pair, &issuer, &ca_key)
        .context("cannot sign the certificate")?;

    let prefix = a.out.clone().unwrap_or_else(|| a.dir.join(&a.name));
    let crt = with_suffix(&prefix, ".crt");
    let key = with_suffix(&prefix, ".key");
    write_new(&key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_new(&crt, cert.pem().as_bytes(), 0o644)?;
    let until = tls::date(rustls::pki_types::UnixTime::since_unix_epoch(
        std::time::Duration::from_secs(params_end(now, a.days)),
    ));
    println!("key:         {} (mode 0600)", key.display());
    println!(
        "certificate: {} (names {}; valid until {until})",
        crt.display(),
        names.join(", ")
    );
    println!("CA:          {}", ca_crt.display());
    println!();
    if a.server {
        println!("In /etc/collectord/collectord.toml (the files readable by the collectord user):");
        println!("  tls-cert = {:?}", crt.display().to_string());
        println!("  tls-key = {:?}", key.display().to_string());
        println!("  tls-client-ca = {:?}", ca_crt.display().to_string());
        println!();
        println!(
            "On each agent, in /etc/agentd/agentd.toml, with ca.crt copied to /etc/agentd/tls/:"
        );
        println!("  tls = true");
        println!("  tls-ca = \"/etc/agentd/tls/ca.crt\"");
        println!(
            "  tls-server-name = {:?}   # when `collector` names the host otherwise",
            a.name
        );
    } else {
        let n = &a.name;
        println!(
            "On the agent {n}: copy {}, {} and {} to /etc/agentd/tls/ (the key readable by the agentd user only), and in /etc/agentd/agentd.toml:",
            ca_crt.display(),
            crt.display(),
            key.display()
        );
        println!("  agent-id = {n:?}");
        println!("  tls = true");
        println!("  tls-ca = \"/etc/agentd/tls/ca.crt\"");
        println!("  tls-cert = \"/etc/agentd/tls/{n}.crt\"");
        println!("  tls-key = \"/etc/agentd/tls/{n}.key\"");
        println!();
        println!(
            "In /etc/collectord/collectord.toml, add {n:?} to tls-allow-agents if you list them."
        );
    }
    Ok(())
}

fn params_end(now: OffsetDateTime, days: u32) -> u64 {
    u64::try_from((now + Duration::days(i64::from(days))).unix_timestamp()).unwrap_or(0)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates `path` with `mode`; an existing file is an error, not replaced.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing file is never replaced: remove it, or choose --out)",
                path.display()
            )
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_a_path_is_refused_before_anything_is_written() {
        // Regression (issue 13): `tls issue --name ../x` wrote ../x.key
        // outside the CA's directory.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        init(&ca, 30).unwrap();
        for name in ["../x", "a/b", "..", "", "web 1", "-bad-", "x\n<3>"] {
            let args = IssueArgs {
                dir: ca.clone(),
                name: name.into(),
                server: false,
                agent: true,
                san: vec![],
                days: 30,
                out: None,
            };
            let e = issue(&args).unwrap_err();
            assert!(format!("{e:#}").contains("--name"), "{name:?}: {e:#}");
        }
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["ca"], "nothing written beside the CA directory");
        assert_eq!(
            std::fs::read_dir(&ca).unwrap().count(),
            2,
            "only ca.key and ca.crt"
        );
        for name in ["web1", "web1.example.com", "agent-7"] {
            check_issue_name(name).unwrap();
        }
    }
}
