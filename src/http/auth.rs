//! Who is calling: the API key in `Authorization: Bearer <key>`, and its role.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{AppState, Error};
use crate::store::keys::Role;

/// The caller of an endpoint that needs a key. Extracting it answers 401 when the key
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
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            Error::Unauthorized("this endpoint needs an API key: send `Authorization: Bearer <key>`".to_owned())
        })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| Error::Unauthorized("the Authorization header must be `Bearer <key>`".to_owned()))?;
        let key = state
            .store
            .authenticate(secret)
            .await?
            .ok_or_else(|| Error::Unauthorized("the API key is unknown or revoked".to_owned()))?;
        state.limiter.check(key.id).map_err(|wait| Error::TooManyRequests(wait.as_secs().max(1)))?;
        Ok(Caller { key_id: key.id, role: key.role })
    }
}
