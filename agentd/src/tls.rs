//! TLS to the collector (`tls = true`): the client config from PEM files,
//! failures in words an operator can act on, and the one TLS stream shared
//! by the shipper (writes) and the ack reader (reads).
//!
//! A rustls connection is one state machine that cannot be split like a
//! `TcpStream`. [`TlsLink`] keeps it behind a mutex that is held only to
//! encrypt or decrypt, never across socket I/O: the reader thread blocks on
//! its own clone of the socket and hands what it read to the state machine;
//! the writer encrypts under the lock and writes the records out under a
//! second mutex (the write side's), so records leave in the order they were
//! made. Lock order: write side, then state machine. Blocking reads with no
//! lock held are what keep ACKs flowing while a write blocks.
//!
//! The files are read at each connection attempt ([`ClientTls::load`]), so a
//! renewed certificate is used from the next reconnect; the config check
//! reads them too, so a bad file fails `--check-config` and the start.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{anyhow, bail, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, ClientConnection, RootCertStore};

use crate::config::Config;

mod validity;

/// What a TLS connection attempt needs.
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    /// `tls-ca`, for the messages.
    pub ca_file: PathBuf,
    /// Our certificate's notBefore and notAfter (seconds since the epoch),
    /// to tell why the collector found it "expired".
    own_validity: Option<(i64, i64)>,
}

impl ClientTls {
    /// `None` when `tls` is off. Reads `tls-ca`, `tls-cert`, `tls-key`;
    /// errors name the key and the file.
    pub fn load(config: &Config) -> anyhow::Result<Option<ClientTls>> {
        let set = |p: &Path| !p.as_os_str().is_empty();
        if !config.tls {
            for (key, path) in [
                ("tls-ca", &config.tls_ca),
                ("tls-cert", &config.tls_cert),
                ("tls-key", &config.tls_key),
            ] {
                if set(path) {
                    bail!("key `{key}` is set but `tls` is false: set tls = true to use it");
                }
            }
            return Ok(None);
        }
        if !set(&config.tls_ca) {
            bail!("key `tls-ca` is required with tls = true: the PEM file of the CA that signed the collector's certificate");
        }
        let mut roots = RootCertStore::empty();
        for c in load_certs(&config.tls_ca, "tls-ca")? {
            roots.add(c).map_err(|e| {
                anyhow!(
                    "key `tls-ca`: {} holds a certificate that cannot be a CA: {e}",
                    config.tls_ca.display()
                )
            })?;
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .context("rustls has no TLS version to offer")?
                .with_root_certificates(roots);
        let mut own_validity = None;
        let client = match (set(&config.tls_cert), set(&config.tls_key)) {
            (false, false) => builder.with_no_client_auth(),
            (true, true) => {
                let certs = load_certs(&config.tls_cert, "tls-cert")?;
                own_validity = validity::validity(&certs[0]);
                let key = load_key(&config.tls_key, "tls-key")?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    anyhow!(
                        "key `tls-key`: {} cannot serve `tls-cert` {}: {}",
                        config.tls_key.display(),
                        config.tls_cert.display(),
                        match e {
                            rustls::Error::InconsistentKeys(_) =>
                                "the key is not the certificate's key".to_owned(),
                            e => e.to_string(),
                        }
                    )
                })?
            }
            (true, false) => {
                bail!("key `tls-cert` is set but `tls-key` is not: set both, or neither")
            }
            (false, true) => {
                bail!("key `tls-key` is set but `tls-cert` is not: set both, or neither")
            }
        };
        let name = config.tls_server_name();
        let server_name = ServerName::try_from(name.clone()).map_err(|_| {
            anyhow!("key `tls-server-name`: {name:?} is neither a DNS name nor an IP address")
        })?;
        Ok(Some(ClientTls {
            config: Arc::new(client),
            server_name,
            ca_file: config.tls_ca.clone(),
            own_validity,
        }))
    }

    /// A failed handshake (or a refusal read right after it) in words.
    pub fn describe(&self, err: &io::Error) -> String {
        let name = server_name_str(&self.server_name);
        let Some(tls) = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        else {
            return match err.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe => "the collector closed the connection during the TLS handshake: it refused our certificate, or does not speak TLS (see its log)".to_owned(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    "the collector did not complete the TLS handshake in time (is its tls-cert set?)".to_owned()
                }
                _ => format!("TLS handshake failed: {err}"),
            };
        };
        match tls {
            rustls::Error::InvalidCertificate(e) => format!(
                "we refused the collector's certificate: {}",
                self.refusal(e, &name)
            ),
            rustls::Error::AlertReceived(alert) => self.alert(*alert),
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => {
                "the collector did not answer TLS (is its tls-cert set?)".to_owned()
            }
            e => format!("TLS handshake failed: {e}"),
        }
    }

    /// Why we refused the collector's certificate, in the words collectord
    /// uses for an agent's ("certificate expired on DATE", ...).
    fn refusal(&self, e: &CertificateError, name: &str) -> String {
        match e {
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("certificate expired on {}", date(*not_after))
            }
            CertificateError::Expired => "certificate expired".to_owned(),
            CertificateError::NotValidYetContext { not_before, .. } => format!(
                "certificate not valid before {} (is this machine's clock right?)",
                date(*not_before)
            ),
            CertificateError::NotValidYet => {
                "certificate not valid yet (is this machine's clock right?)".to_owned()
            }
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "certificate for {}, not {name} (set tls-server-name?)",
                presented
                    .iter()
                    .map(|p| presented_name(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            CertificateError::NotValidForName => {
                format!("certificate not for {name} (set tls-server-name?)")
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "certificate not signed by tls-ca ({})",
                self.ca_file.display()
            ),
            e => format!("certificate refused: {e}"),
        }
    }

    /// The collector's alert, in the words collectord logs for the fault
    /// it found ("certificate not valid before DATE", ...).
    fn alert(&self, alert: AlertDescription) -> String {
        let refused = "the collector refused our certificate";
        match alert {
            AlertDescription::CertificateRequired => {
                format!("{refused}: no client certificate (set tls-cert and tls-key)")
            }
            // webpki's UnknownIssuer is unknown_ca; a CA of the same name
            // (another `collectord tls init`) fails the signature:
            // decrypt_error.
            AlertDescription::UnknownCA | AlertDescription::DecryptError => {
                format!("{refused}: certificate not signed by its tls-client-ca (see its log)")
            }
            // rustls sends certificate_expired for a certificate that is
            // not valid yet too: our certificate's dates tell which.
            AlertDescription::CertificateExpired => {
                let now = chrono::Utc::now().timestamp();
                match self.own_validity {
                    Some((not_before, _)) if now < not_before => format!(
                        "{refused}: certificate not valid before {} (see its log)",
                        date_secs(not_before)
                    ),
                    Some((_, not_after)) if now > not_after => format!(
                        "{refused}: certificate expired on {} (see its log)",
                        date_secs(not_after)
                    ),
                    Some((not_before, not_after)) => format!(
                        "{refused} as expired or not yet valid, but it is valid from {} to {} by this machine's clock: is the collector's clock right? (see its log)",
                        date_secs(not_before),
                        date_secs(not_after)
                    ),
                    None => format!("{refused}: certificate expired or not valid yet (see its log)"),
                }
            }
            AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied => {
                format!("{refused} (see its log: is our name in its tls-allow-agents?)")
            }
            AlertDescription::HandshakeFailure | AlertDescription::ProtocolVersion => {
                "the collector refused the TLS handshake: no TLS version or cipher in common"
                    .to_owned()
            }
            a => format!("the collector ended the TLS handshake with the alert {a:?}"),
        }
    }
}

/// `DnsName("a")` → `a`, `IpAddress(1.2.3.4)` → `1.2.3.4`: how rustls
/// writes the names a certificate presents.
fn presented_name(p: &str) -> &str {
    let inner = p
        .strip_prefix("DnsName(")
        .or_else(|| p.strip_prefix("IpAddress("))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(p);
    inner.trim_matches('"')
}

fn server_name_str(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// `2026-11-24 12:00:00 UTC`, as collectord writes dates.
fn date(t: UnixTime) -> String {
    i64::try_from(t.as_secs()).map_or_else(|_| format!("{} s after 1970", t.as_secs()), date_secs)
}

fn date_secs(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || format!("{secs} s after 1970"),
        |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn load_certs(path: &Path, key: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    Ok(logcore::pem::certs(path, &format!("key `{key}`"))?)
}

fn load_key(path: &Path, key: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    Ok(logcore::pem::private_key(path, &format!("key `{key}`"))?)
}

/// One TLS connection, shared by the writer (the shipper) and a reader
/// thread; see the module docs.
pub struct TlsLink {
    conn: Mutex<ClientConnection>,
    /// The socket's write side; held from encrypting to the last byte out.
    write: Mutex<TcpStream>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each holder leaves the state whole between steps; a panic elsewhere
    // does not make it unusable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsLink {
    /// After the handshake: `conn` and the socket it ran on.
    pub fn new(conn: ClientConnection, tcp: TcpStream) -> TlsLink {
        TlsLink {
            conn: Mutex::new(conn),
            write: Mutex::new(tcp),
        }
    }

    /// Encrypts and sends `data`, as much at a time as rustls buffers
    /// (64 KiB of records by default).
    pub fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut tcp = lock(&self.write);
        let mut rest = data;
        let mut out = Vec::with_capacity(data.len().min(1 << 16) + 64);
        while !rest.is_empty() {
            out.clear();
            {
                let mut conn = lock(&self.conn);
                let n = conn.writer().write(rest)?;
                rest = &rest[n..];
                while conn.wants_write() {
                    conn.write_tls(&mut out)?;
                }
            }
            if out.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the TLS connection takes no more data",
                ));
            }
            tcp.write_all(&out)?;
        }
        Ok(())
    }

    /// Sends what the state machine has queued (a key update's answer, a
    /// close_notify).
    fn flush(&self) -> io::Result<()> {
        let mut tcp = lock(&self.write);
        let mut out = Vec::new();
        {
            let mut conn = lock(&self.conn);
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        tcp.write_all(&out)
    }

    /// A reader over `tcp`, a clone of the socket for the reader thread.
    pub fn reader(self: &Arc<Self>, tcp: TcpStream) -> TlsReader {
        TlsReader {
            link: Arc::clone(self),
            tcp,
        }
    }
}

/// The read side of a [`TlsLink`].
pub struct TlsReader {
    link: Arc<TlsLink>,
    tcp: TcpStream,
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; 4096];
        loop {
            {
                let mut conn = lock(&self.link.conn);
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            // No lock held while blocked on the socket.
            let n = self.tcp.read(&mut raw)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the collector closed the connection without a TLS close_notify",
                ));
            }
            let wants_write = {
                let mut conn = lock(&self.link.conn);
                let mut rest = &raw[..n];
                while !rest.is_empty() {
                    conn.read_tls(&mut rest)?;
                    conn.process_new_packets().map_err(tls_err)?;
                }
                conn.wants_write()
            };
            if wants_write {
                self.link.flush()?;
            }
        }
    }
}
