//! Alert service errors, turned into HTTP responses in one place: the client
//! is told what it did wrong, internal details go to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad request: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("too many: {0}")]
    Full(String),
    #[error("config: {0}")]
    Config(String),
    #[error("database ({context}): {source}")]
    Database {
        context: &'static str,
        source: sqlx::Error,
    },
    #[error("the alert engine stopped")]
    Stopped,
    #[error("server: {0}")]
    Server(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            Error::Invalid(m) => (StatusCode::BAD_REQUEST, m.clone()),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            Error::Full(m) => (StatusCode::TOO_MANY_REQUESTS, m.clone()),
            other => {
                tracing::warn!(error = %other, "request failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "alert service unavailable, retry later".to_owned(),
                )
            }
        };
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    }
}
