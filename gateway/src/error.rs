//! Gateway errors, turned into HTTP responses in one place: the client gets a
//! short JSON message, internal details go to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("bad request: {0}")]
    Invalid(String),
    #[error("data source unavailable: {0}")]
    Unavailable(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Server(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::NotFound => Error::NotFound(s.message().to_owned()),
            tonic::Code::InvalidArgument => Error::Invalid(s.message().to_owned()),
            _ => Error::Unavailable(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            Error::Invalid(m) => (StatusCode::BAD_REQUEST, m.clone()),
            other => {
                tracing::warn!(error = %other, "request failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "data source unavailable, retry later".to_owned(),
                )
            }
        };
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    }
}
