//! Hub errors. Converted to `tonic::Status` in one place ([`Error::to_status`]):
//! the client learns what it did wrong, internal details go to the log.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("storage migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("limit exceeded: {0}")]
    Limit(String),
    #[error("buffer (Redis): {0}")]
    Buffer(String),
    #[error("{0}")]
    Backlog(String),
    #[error("the hub is shutting down")]
    ShuttingDown,
    #[error("binding {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Server(String),
    #[error("TLS set-up: {0}")]
    Tls(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Worth retrying later (the agent keeps the batch and resends).
    pub fn retry_hint(&self) -> bool {
        matches!(
            self,
            Error::Storage(_) | Error::Buffer(_) | Error::Backlog(_) | Error::ShuttingDown
        )
    }

    pub fn to_status(&self) -> tonic::Status {
        match self {
            Error::Invalid(m) => tonic::Status::invalid_argument(m.clone()),
            Error::Limit(m) => tonic::Status::resource_exhausted(m.clone()),
            Error::ShuttingDown => tonic::Status::unavailable("hub is shutting down"),
            Error::Backlog(m) => tonic::Status::unavailable(m.clone()),
            other => {
                tracing::error!(error = %other, "internal error");
                tonic::Status::unavailable("hub storage unavailable, retry later")
            }
        }
    }
}
