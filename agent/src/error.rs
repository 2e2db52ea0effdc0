//! Agent errors.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("opening the spool {path}: {source}")]
    Spool {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("reading the credential file {path}: {source}")]
    Credential {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("creating {path}: {source}")]
    Create {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
