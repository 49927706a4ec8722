//! Certificates and private keys read from PEM files, for the TLS of both
//! programs (agentd's client side, collectord's listeners and its CA).
//!
//! An error names the config key that gave the file (as the caller words
//! it: `named` is put in front of the message), the file, and what is
//! wrong with it; a file that cannot be read keeps the I/O error as its
//! source, so `{:#}` prints it too.

use std::io;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a PEM file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{named}: cannot read {}", path.display())]
    Read {
        named: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{named}: {} is not valid PEM: {reason}", path.display())]
    NotPem {
        named: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{named}: {} holds no certificate (no BEGIN CERTIFICATE block)", path.display())]
    NoCertificate { named: String, path: PathBuf },
    #[error("{named}: {} holds no private key (no BEGIN PRIVATE KEY block)", path.display())]
    NoKey { named: String, path: PathBuf },
    #[error("{named}: {} is not a valid PEM key: {reason}", path.display())]
    BadKey {
        named: String,
        path: PathBuf,
        reason: String,
    },
}

fn read(path: &Path, named: &str) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        named: named.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// The certificates of the PEM file `path` (at least one), in file order;
/// `named` is the config key as the error messages name it.
pub fn certs(path: &Path, named: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let pem = read(path, named)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::NotPem {
            named: named.to_owned(),
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate {
            named: named.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The private key of the PEM file `path` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path, named: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    let pem = read(path, named)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => PemError::NoKey {
            named: named.to_owned(),
            path: path.to_owned(),
        },
        e => PemError::BadKey {
            named: named.to_owned(),
            path: path.to_owned(),
            reason: e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_the_file_and_the_fault() {
        // An operator with a wrong path or file in the config reads which
        // key, which file and what is wrong, in one line.
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = certs(&missing, "`tls-cert`").unwrap_err();
        let text = anyhow_like(&err);
        assert!(text.starts_with("`tls-cert`: cannot read "), "{text}");
        assert!(text.contains("missing.pem: "), "{text}");

        let text_file = dir.path().join("notes.txt");
        std::fs::write(&text_file, "just words\n").unwrap();
        assert_eq!(
            certs(&text_file, "key `tls-ca`").unwrap_err().to_string(),
            format!(
                "key `tls-ca`: {} holds no certificate (no BEGIN CERTIFICATE block)",
                text_file.display()
            )
        );
        assert_eq!(
            private_key(&text_file, "`tls-key`")
                .unwrap_err()
                .to_string(),
            format!(
                "`tls-key`: {} holds no private key (no BEGIN PRIVATE KEY block)",
                text_file.display()
            )
        );

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = certs(&broken, "`tls-cert`").unwrap_err().to_string();
        assert!(err.contains("is not valid PEM: "), "{err}");
    }

    /// The message and its sources, `: `-joined, as anyhow's `{:#}` prints.
    fn anyhow_like(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }

    #[test]
    fn a_certificate_file_gives_its_certificates_in_order() {
        // The chain a server presents must stay leaf first.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.pem");
        // Two syntactically valid PEM blocks (the DER is not checked here).
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\nBAUG\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let got = certs(&path, "`tls-cert`").unwrap();
        assert_eq!(
            got.iter().map(|c| c.as_ref().to_vec()).collect::<Vec<_>>(),
            [vec![1, 2, 3], vec![4, 5, 6]]
        );
    }
}
