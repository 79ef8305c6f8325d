//! Who is calling: the API key in `Authorization: Bearer <key>`, and its role.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{AppState, Error};
use crate::store::keys::Role;

/// The other header a key may come in (`Authorization: Bearer <key>` is the first).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The caller of an endpoint that needs a key, sent as `Authorization: Bearer <key>`
/// or `X-Api-Key: <key>`. Extracting it answers 401 when the key
/// is missing, unknown or revoked; [`Caller::require`] answers 403 for a role the
/// endpoint does not admit.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: i64,
    pub role: Role,
}

impl Caller {
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let allowed: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        Err(Error::Forbidden(format!(
            "a key with role {} may not use this endpoint (allowed: {})",
            self.role,
            allowed.join(", ")
        )))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, Error> {
        // `X-Api-Key: <key>` is how reconciliation clients (OpenRefine) send a key, as
        // the reconciliation manifest tells them.
        let secret = match (parts.headers.get(AUTHORIZATION), parts.headers.get(API_KEY_HEADER)) {
            (Some(header), _) => header
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| Error::Unauthorized("the Authorization header must be `Bearer <key>`".to_owned()))?,
            (None, Some(header)) => header
                .to_str()
                .map(str::trim)
                .map_err(|_| Error::Unauthorized("the X-Api-Key header must be the key".to_owned()))?,
            (None, None) => {
                return Err(Error::Unauthorized(
                    "this endpoint needs an API key: send `Authorization: Bearer <key>`".to_owned(),
                ));
            }
        };
        let key = state
            .store
            .authenticate(secret)
            .await?
            .ok_or_else(|| Error::Unauthorized("the API key is unknown or revoked".to_owned()))?;
        state.limiter.check(key.id).map_err(|wait| Error::TooManyRequests(wait.as_secs().max(1)))?;
        Ok(Caller { key_id: key.id, role: key.role })
    }
}
