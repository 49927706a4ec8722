//! TLS on the agents' listener: the server config from PEM files, the
//! client-certificate check with its allow-list, and the words a failed
//! handshake is logged with.
//!
//! `tls-cert` + `tls-key` make the listener speak TLS only (1.2 and 1.3,
//! rustls with ring). `tls-client-ca` makes a client certificate signed by
//! it mandatory; `tls-allow-agents` narrows those to certificates that
//! name (DNS subjectAltName) one of the listed agents. An agent's identity
//! is then its certificate's name: the connection refuses a HELLO whose
//! agent_id is not one of them (see PROTOCOL.md, Transport).
//!
//! The files are read at start and at each reload ([`ServerTls::from_config`]);
//! each connection takes the config current when it is accepted.
//! [`server_config`] is the reusable part (another TLS listener can take
//! it as is).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, OtherError,
    RootCertStore, ServerConfig, SignatureScheme,
};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::server::TlsStream;

use crate::config::{Config, ConfigError};
use crate::net::close::Close;

/// The crypto rustls uses here: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file; `key` is the config key that named it.
pub fn load_certs(path: &Path, key: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    Ok(logcore::pem::certs(path, &format!("`{key}`"))?)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path, key: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    Ok(logcore::pem::private_key(path, &format!("`{key}`"))?)
}

/// A server config for a TLS listener: `cert` (the chain, leaf first) and
/// `key`; with `client_ca`, a client certificate signed by it is required,
/// and with a non-empty `allow`, it must name one of those. Errors name
/// the key and the file and say what is wrong.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    allow: &[String],
) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = load_certs(cert, "tls-cert")?;
    let private = load_key(key, "tls-key")?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("rustls has no TLS version to offer")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in load_certs(ca, "tls-client-ca")? {
                roots.add(c).map_err(|e| {
                    anyhow!(
                        "`tls-client-ca`: {} holds a certificate that cannot be a CA: {e}",
                        ca.display()
                    )
                })?;
            }
            let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| anyhow!("`tls-client-ca`: {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(Arc::new(AllowList {
                inner,
                allow: allow.to_vec(),
            }))
        }
    };
    let config = builder.with_single_cert(certs, private).map_err(|e| {
        anyhow!(
            "`tls-key` {} cannot serve `tls-cert` {}: {}",
            key.display(),
            cert.display(),
            match e {
                rustls::Error::InconsistentKeys(_) =>
                    "the key is not the certificate's key".to_owned(),
                e => e.to_string(),
            }
        )
    })?;
    Ok(Arc::new(config))
}

/// The TLS a collector's agent listener runs with.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// `tls-client-ca`, for the log lines.
    pub client_ca: Option<PathBuf>,
    /// `tls-allow-agents`.
    pub allow: Vec<String>,
}

impl ServerTls {
    /// `None` without `tls-cert`/`tls-key`; reads the files.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Arc<ServerTls>>> {
        let set = |p: &Path| !p.as_os_str().is_empty();
        let (cert, key) = (&config.tls_cert, &config.tls_key);
        match (set(cert), set(key)) {
            (false, false) => {
                if !config.syslog_tls.is_empty() {
                    bail!("`syslog-tls` is set but `tls-cert` and `tls-key` are not: syslog over TLS needs the certificate its senders verify");
                }
                if set(&config.tls_client_ca) {
                    bail!("`tls-client-ca` is set but `tls-cert` and `tls-key` are not: client certificates need TLS");
                }
                return Ok(None);
            }
            (true, false) => bail!(
                "`tls-cert` is set ({}) but `tls-key` is not: set both for TLS, or neither",
                cert.display()
            ),
            (false, true) => bail!(
                "`tls-key` is set ({}) but `tls-cert` is not: set both for TLS, or neither",
                key.display()
            ),
            (true, true) => {}
        }
        if !config.tls_allow_agents.is_empty() && !set(&config.tls_client_ca) {
            bail!("`tls-allow-agents` needs `tls-client-ca`: without client certificates there is no name to check");
        }
        let client_ca = set(&config.tls_client_ca).then(|| config.tls_client_ca.clone());
        let server = server_config(cert, key, client_ca.as_deref(), &config.tls_allow_agents)?;
        Ok(Some(Arc::new(ServerTls {
            config: server,
            client_ca,
            allow: config.tls_allow_agents.clone(),
        })))
    }

    /// [`ServerTls::from_config`] as a config error naming `file`: what
    /// the start, `--check-config` and a reload say about a bad file.
    pub fn load(config: &Config, file: &Path) -> Result<Option<Arc<ServerTls>>, ConfigError> {
        ServerTls::from_config(config)
            .map_err(|e| ConfigError(format!("invalid config file {}: {e:#}", file.display())))
    }

    /// Whether HELLO's `agent_id` is the name of the certificate the
    /// peer presented (`names`: its DNS names); `Err` says why not.
    pub fn check_identity(&self, agent_id: &str, names: &[String]) -> Result<(), String> {
        if self.client_ca.is_none() {
            return Ok(());
        }
        if names.iter().any(|n| n == agent_id)
            && (self.allow.is_empty() || self.allow.iter().any(|a| a == agent_id))
        {
            return Ok(());
        }
        Err(format!(
            "agent_id {agent_id:?} in HELLO is not the name of the agent's certificate ({}): set agent-id to it, or issue a certificate for {agent_id:?}",
            names.join(", ")
        ))
    }

    /// A failed handshake in words, for the one log line of the close.
    pub fn describe(&self, err: &std::io::Error) -> String {
        let Some(tls) = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        else {
            return match err.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    "the peer closed the connection during the TLS handshake".to_owned()
                }
                _ => format!("TLS handshake failed: {err}"),
            };
        };
        let ca = || {
            self.client_ca
                .as_deref()
                .map_or_else(|| "?".to_owned(), |p| p.display().to_string())
        };
        match tls {
            rustls::Error::NoCertificatesPresented => "no client certificate".to_owned(),
            rustls::Error::InvalidCertificate(e) => match e {
                CertificateError::ExpiredContext { not_after, .. } => {
                    format!("certificate expired on {}", date(*not_after))
                }
                CertificateError::Expired => "certificate expired".to_owned(),
                CertificateError::NotValidYetContext { not_before, .. } => {
                    format!("certificate not valid before {}", date(*not_before))
                }
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    format!("certificate not signed by tls-client-ca ({})", ca())
                }
                CertificateError::Other(OtherError(other)) => match other.downcast_ref::<Refused>()
                {
                    Some(refused) => refused.to_string(),
                    None => format!("certificate refused: {other}"),
                },
                e => format!("certificate refused: {e}"),
            },
            rustls::Error::AlertReceived(alert) => {
                format!("the agent refused the handshake: {}", alert_words(*alert))
            }
            rustls::Error::InvalidMessage(_) => {
                "not TLS: the peer's bytes are not a TLS handshake".to_owned()
            }
            rustls::Error::PeerIncompatible(e) => format!("the agent's TLS is incompatible: {e:?}"),
            e => format!("TLS handshake failed: {e}"),
        }
    }
}

/// What an agent's alert means to the collector's operator.
fn alert_words(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::UnknownCA => {
            "it does not trust our certificate (unknown_ca: is its tls-ca the CA that signed our tls-cert?)".to_owned()
        }
        AlertDescription::BadCertificate | AlertDescription::CertificateUnknown => {
            "it refused our certificate (is its tls-server-name one of tls-cert's names?)".to_owned()
        }
        AlertDescription::CertificateExpired => "it says our certificate has expired".to_owned(),
        other => format!("alert {other:?}"),
    }
}

/// `2026-11-24 12:00:00 UTC`.
pub fn date(t: UnixTime) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || format!("{} s after 1970", t.as_secs()),
            |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// The DNS names (subjectAltName) of a certificate; the common name is
/// not read (webpki does not either).
pub fn cert_names(cert: &CertificateDer<'_>) -> Vec<String> {
    webpki::EndEntityCert::try_from(cert)
        .map(|c| c.valid_dns_names().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Why a certificate signed by the CA is still refused.
#[derive(Debug)]
enum Refused {
    NoName,
    NotAllowed(Vec<String>),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NoName => f.write_str("certificate has no DNS name (subjectAltName)"),
            Refused::NotAllowed(names) => {
                write!(f, "name {} is not in tls-allow-agents", names.join(", "))
            }
        }
    }
}

impl std::error::Error for Refused {}

/// webpki's check of the chain, then the names.
#[derive(Debug)]
struct AllowList {
    inner: Arc<dyn ClientCertVerifier>,
    allow: Vec<String>,
}

impl ClientCertVerifier for AllowList {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = cert_names(end_entity);
        let refuse = |r: Refused| {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(r)),
            )))
        };
        if names.is_empty() {
            return refuse(Refused::NoName);
        }
        if !self.allow.is_empty() && !names.iter().any(|n| self.allow.contains(n)) {
            return refuse(Refused::NotAllowed(names));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What the first bytes of a connection to the TLS port are.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstBytes {
    /// A TLS handshake record (0x16): go on with TLS.
    Tls,
    /// A logq HELLO in plaintext (u32 length, 0x01, "LOGQ").
    PlainHello,
    /// Anything else.
    Other,
    /// Too few bytes to tell.
    Unknown,
}

/// Tells a TLS ClientHello from a plaintext HELLO by its first bytes.
pub fn first_bytes(buf: &[u8]) -> FirstBytes {
    match buf.first() {
        None => FirstBytes::Unknown,
        Some(0x16) => FirstBytes::Tls,
        Some(_) => {
            // After the u32 length: the type byte, then the magic.
            let mut sig = vec![logcore::wire::kind::HELLO];
            sig.extend_from_slice(&logcore::wire::MAGIC);
            let tail = &buf[buf.len().min(4)..];
            let n = tail.len().min(sig.len());
            if tail[..n] != sig[..n] {
                FirstBytes::Other
            } else if n == sig.len() {
                FirstBytes::PlainHello
            } else {
                FirstBytes::Unknown
            }
        }
    }
}

/// The TLS handshake of an agents' connection, done by `by` (`limit`
/// for the message). A connection whose first byte is not a TLS handshake
/// record is not TLS: its first bytes say whether it is a logq agent with
/// TLS off. Runs on `&mut TcpStream` so that after a failure the caller
/// can still linger and the alert is not lost to a reset.
/// `heard` is called once the first byte has arrived.
pub async fn start<'a>(
    stream: &'a mut TcpStream,
    tls: &ServerTls,
    by: Instant,
    limit: std::time::Duration,
    heard: impl FnOnce(),
) -> Result<TlsStream<&'a mut TcpStream>, Close> {
    let timed_out =
        || Close::Handshake(format!("no TLS handshake within {} ms", limit.as_millis()));
    let mut first = [0u8; 1];
    match timeout_at(by, stream.peek(&mut first)).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) => return Err(Close::Io(e)),
        Ok(Ok(0)) => return Err(Close::PeerClosed),
        Ok(Ok(_)) if first_bytes(&first) == FirstBytes::Tls => heard(),
        Ok(Ok(_)) => return Err(not_tls(stream, by).await),
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    match timeout_at(by, acceptor.accept(stream)).await {
        Err(_) => Err(timed_out()),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Close::Handshake(tls.describe(&e))),
    }
}

/// A connection to the TLS port that does not start with TLS: reads up
/// to a HELLO's first 9 bytes to say what it is.
async fn not_tls(stream: &mut TcpStream, by: Instant) -> Close {
    let mut buf = Vec::with_capacity(16);
    while first_bytes(&buf) == FirstBytes::Unknown {
        match timeout_at(by, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    let hello = first_bytes(&buf) == FirstBytes::PlainHello;
    buf.truncate(16);
    Close::NotTls { hello, first: buf }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_tls_without_a_certificate_is_an_error_naming_both_keys() {
        // Otherwise collectord would listen on 6514 and refuse every sender.
        let config = Config {
            syslog_tls: "127.0.0.1:6514".into(),
            ..Config::default()
        };
        let e = format!("{:#}", ServerTls::from_config(&config).err().unwrap());
        assert!(
            e.contains("`syslog-tls`") && e.contains("`tls-cert`"),
            "{e}"
        );
    }

    #[test]
    fn a_plaintext_hello_is_told_from_a_client_hello() {
        // An agent with tls off must be told so, not get "handshake failed".
        let mut hello = Vec::new();
        logcore::wire::Frame::Hello {
            version: 1,
            agent_id: "a".into(),
            host: "h".into(),
            utc_offset_secs: 0,
        }
        .encode(&mut hello)
        .unwrap();
        assert_eq!(first_bytes(&hello), FirstBytes::PlainHello);
        assert_eq!(first_bytes(&hello[..6]), FirstBytes::Unknown);
        assert_eq!(first_bytes(&[0x16, 3, 1]), FirstBytes::Tls);
        assert_eq!(first_bytes(b"GET / HTTP/1.1\r\n"), FirstBytes::Other);
        assert_eq!(first_bytes(b"GET /"), FirstBytes::Other);
        assert_eq!(first_bytes(b""), FirstBytes::Unknown);
    }

    #[test]
    fn files_that_are_not_pem_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "hello\n").unwrap();
        let err = format!("{:#}", load_certs(&cert, "tls-cert").unwrap_err());
        assert!(
            err.contains("tls-cert") && err.contains("c.pem") && err.contains("no certificate"),
            "{err}"
        );
        let err = format!("{:#}", load_key(&cert, "tls-key").unwrap_err());
        assert!(
            err.contains("tls-key") && err.contains("no private key"),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = format!("{:#}", load_key(&missing, "tls-key").unwrap_err());
        assert!(
            err.contains("missing.pem") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["a".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".to_owned()]).unwrap();
        let cert = dir.path().join("a.crt");
        let key = dir.path().join("b.key");
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, b.key_pair.serialize_pem()).unwrap();
        let err = format!("{:#}", server_config(&cert, &key, None, &[]).unwrap_err());
        assert!(err.contains("not the certificate's key"), "{err}");
        std::fs::write(&key, a.key_pair.serialize_pem()).unwrap();
        server_config(&cert, &key, None, &[]).unwrap();
    }
}
