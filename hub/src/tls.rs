//! TLS on the hub's gRPC port (rustls via tonic): a certificate and key, and
//! optionally a client CA that every client certificate must chain to
//! (mutual TLS; a client without one is refused during the handshake).

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::SecurityConfig;
use crate::{Error, Result};

/// The TLS config `security` asks for; `None` serves plaintext gRPC.
pub fn server_config(security: &SecurityConfig) -> Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&security.tls_cert_file, &security.tls_key_file) else {
        return Ok(None);
    };
    let tls_err = |e: common::tls::TlsError| Error::Tls(e.to_string());
    let cert = common::tls::read_certificates(cert, "security.tls_cert_file").map_err(tls_err)?;
    let key = common::tls::read_private_key(key, "security.tls_key_file").map_err(tls_err)?;
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &security.tls_client_ca_file {
        let ca =
            common::tls::read_certificates(ca, "security.tls_client_ca_file").map_err(tls_err)?;
        tls = tls.client_ca_root(Certificate::from_pem(ca));
    }
    Ok(Some(tls))
}
