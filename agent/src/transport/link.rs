//! How every host's stream reaches the hub: URL, TLS, compression and the
//! credentials store, built once from the config (so a bad certificate file
//! fails the start, not each reconnect) and shared by all hosts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proto::ingest_client::IngestClient;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::credential::Credentials;
use crate::config::Compression;
use crate::{Config, Error, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Link {
    pub hub_url: String,
    tls: Option<ClientTlsConfig>,
    client_cert: bool,
    tls_ca_file: bool,
    compression: Compression,
    /// Set when the hub refused compressed messages (an older hub): the
    /// agent then sends plain ones rather than fail forever.
    compression_refused: AtomicBool,
    pub credentials: Arc<Credentials>,
    /// How long a stopping stream keeps shipping what it holds.
    pub drain_timeout: std::time::Duration,
}

impl Link {
    pub fn from_config(config: &Config) -> Result<Arc<Self>> {
        let tls = super::tls::client_config(config)?;
        let endpoint = Endpoint::from_shared(config.hub_url.clone())
            .map_err(|e| Error::Config(format!("bad hub_url {:?}: {e}", config.hub_url)))?;
        if let Some(tls) = &tls {
            // Fails here, once, on a key that does not match its certificate.
            endpoint
                .tls_config(tls.clone())
                .map_err(|e| Error::Tls(common::tls::error_chain(&e)))?;
        }
        Ok(Arc::new(Self {
            hub_url: config.hub_url.clone(),
            tls,
            client_cert: config.tls_cert_file.is_some(),
            tls_ca_file: config.ca_file.is_some(),
            compression: config.compression,
            compression_refused: AtomicBool::new(false),
            credentials: Arc::new(Credentials::load(config)?),
            drain_timeout: config.drain_timeout,
        }))
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A client certificate is configured (mutual TLS).
    pub fn client_cert(&self) -> bool {
        self.client_cert
    }

    /// Connects; the error says why in full (certificate problems included).
    pub async fn connect(&self) -> std::result::Result<IngestClient<Channel>, String> {
        let mut endpoint = Endpoint::from_shared(self.hub_url.clone())
            .map_err(|e| format!("bad hub url {:?}: {e}", self.hub_url))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| common::tls::error_chain(&e))?;
        }
        let channel = endpoint.connect().await.map_err(|e| {
            let mut why = format!("connect to {}: {}", self.hub_url, common::tls::error_chain(&e));
            if why.contains("invalid peer certificate") {
                why.push_str(if self.tls_ca_file {
                    " (the hub's certificate does not chain to ca_file, or is not for this host name)"
                } else {
                    " (the hub's certificate is not trusted by the system roots: set ca_file to your CA)"
                });
            }
            why
        })?;
        let mut client = IngestClient::new(channel)
            .max_decoding_message_size(proto::MAX_MESSAGE_BYTES)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        if let Some(enc) = self.encoding() {
            client = client.send_compressed(enc);
        }
        Ok(client)
    }

    fn encoding(&self) -> Option<CompressionEncoding> {
        if self.compression_refused.load(Ordering::Relaxed) {
            return None;
        }
        match self.compression {
            Compression::None => None,
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
        }
    }

    /// True (once) if `status` says the hub cannot read our compression;
    /// later streams then send uncompressed.
    pub fn compression_refused(&self, status: &tonic::Status) -> bool {
        let refused = status.code() == tonic::Code::Unimplemented
            && status.message().contains("compress")
            && self.encoding().is_some();
        if refused {
            self.compression_refused.store(true, Ordering::Relaxed);
        }
        refused
    }
}
