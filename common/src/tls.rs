//! Reading TLS material (PEM files) with errors that name the file and say
//! what is wrong, at start-up rather than at the first handshake.
//!
//! The agent and the hub hand the bytes to tonic's rustls configuration; this
//! module only checks that a certificate file holds certificates and a key
//! file holds a private key, so a swapped or empty file is a clear config
//! error instead of an opaque handshake failure later.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} holds no PEM certificate (expected \"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("{what} {path}: {message}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{what} {path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { what: &'static str, path: PathBuf },
}

/// A PEM file of one or more certificates (a chain, or CA roots), checked.
/// `what` names the setting in errors, e.g. `"tls_cert_file"`.
pub fn read_certificates(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    let pem = read(path, what)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| TlsError::BadPem {
            what,
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_owned(),
        });
    }
    Ok(pem)
}

/// A PEM file holding a private key, checked.
pub fn read_private_key(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    let pem = read(path, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            what,
            path: path.to_owned(),
        },
        other => TlsError::BadPem {
            what,
            path: path.to_owned(),
            message: other.to_string(),
        },
    })?;
    Ok(pem)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// An error and its sources on one line: tonic's connect errors say only
/// "transport error" at the top, while the useful part ("invalid peer
/// certificate: UnknownIssuer") is several sources down.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_and_empty_files_are_named_errors() {
        let dir = tempfile_dir();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let err = read_certificates(&empty, "ca_file").expect_err("no certs");
        assert!(err.to_string().contains("ca_file"), "{err}");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let err = read_private_key(&empty, "tls_key_file").expect_err("no key");
        assert!(err.to_string().contains("no PEM private key"), "{err}");
        let missing = dir.join("missing.pem");
        let err = read_certificates(&missing, "tls_cert_file").expect_err("missing");
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn error_chain_shows_every_distinct_source() {
        let inner = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let outer = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, inner);
        assert!(error_chain(&outer).contains("UnknownIssuer"));
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("hostwatch-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }
}
