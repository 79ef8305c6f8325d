//! The HTTP boundary's error type: client errors carry a message for the caller;
//! internal ones become a generic 500 and are logged once, here.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, naming the field and the value where there is one.
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// No key, or a key that is unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key whose role may not use the endpoint.
    #[error("{0}")]
    Forbidden(String),
    /// The request does not fit the resource's state (a report of a running audit).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the endpoint accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The key has used up its rate; retry after this many seconds.
    #[error("too many requests for this key; retry after {0} s")]
    TooManyRequests(u64),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Error {
        Error::BadRequest(rejection.body_text())
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Error {
        // A body over the limit is refused while it is read, as a JSON rejection too.
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Error::PayloadTooLarge(rejection.body_text());
        }
        Error::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Error::NotFound(message) => (StatusCode::NOT_FOUND, message.clone()),
            Error::BadRequest(message) => (StatusCode::BAD_REQUEST, message.clone()),
            Error::Unauthorized(message) => (StatusCode::UNAUTHORIZED, message.clone()),
            Error::Forbidden(message) => (StatusCode::FORBIDDEN, message.clone()),
            Error::Conflict(message) => (StatusCode::CONFLICT, message.clone()),
            Error::PayloadTooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message.clone()),
            Error::TooManyRequests(seconds) => {
                let body = Json(ErrorBody { error: self.to_string() });
                let retry_after = [(axum::http::header::RETRY_AFTER, seconds.to_string())];
                return (StatusCode::TOO_MANY_REQUESTS, retry_after, body).into_response();
            }
            Error::Sqlx(_) | Error::Internal(_) => {
                tracing::error!("{self}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has the details".to_owned())
            }
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}
