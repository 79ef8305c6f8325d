//! The HTTP boundary's error type: client errors carry a message for the caller;
//! internal ones become a generic 500 and are logged once, here.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::request::{FieldErrors, InvalidField};

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, naming the field and the value where there is one.
    pub error: String,
    /// For a body with fields that cannot be read: each of them, with its value and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<InvalidField>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Fields of the body that cannot be read (a 400 naming each field and value).
    #[error("{0}")]
    InvalidFields(FieldErrors),
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
                let body = Json(ErrorBody { error: self.to_string(), fields: Vec::new() });
                let retry_after = [(axum::http::header::RETRY_AFTER, seconds.to_string())];
                return (StatusCode::TOO_MANY_REQUESTS, retry_after, body).into_response();
            }
            Error::InvalidFields(errors) => {
                let body = ErrorBody { error: errors.to_string(), fields: errors.0.clone() };
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
            Error::Sqlx(_) | Error::Internal(_) => {
                tracing::error!("{self}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has the details".to_owned())
            }
        };
        (status, Json(ErrorBody { error: message, fields: Vec::new() })).into_response()
    }
}
