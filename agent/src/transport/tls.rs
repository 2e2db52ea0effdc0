//! The client side of TLS to the hub (rustls via tonic): the hub's
//! certificate is verified against `ca_file` when given (a private CA, which
//! then is the only one trusted), else against the system's trust store; a
//! client certificate is presented when the hub asks for mutual TLS.

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::{Config, Error, Result};

/// The TLS config for `config.hub_url`; `None` for a plaintext `http://` hub.
pub fn client_config(config: &Config) -> Result<Option<ClientTlsConfig>> {
    if !config.hub_url.starts_with("https://") {
        return Ok(None);
    }
    let tls_err = |e: common::tls::TlsError| Error::Tls(e.to_string());
    let mut tls = ClientTlsConfig::new();
    tls = match &config.ca_file {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(
            common::tls::read_certificates(ca, "ca_file").map_err(tls_err)?,
        )),
        None => tls.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
        let cert = common::tls::read_certificates(cert, "tls_cert_file").map_err(tls_err)?;
        let key = common::tls::read_private_key(key, "tls_key_file").map_err(tls_err)?;
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    if !config.tls_server_name.is_empty() {
        tls = tls.domain_name(config.tls_server_name.clone());
    }
    Ok(Some(tls))
}
