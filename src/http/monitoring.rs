//! Decisions on matches and monitoring alerts.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{AppState, Caller, EVERYONE, Error, SCREENERS};
use crate::decisions::{self, DecisionError, DecisionRecord, DecisionRequest, DecisionStatus, check_note};
use crate::monitoring::{self, Alert, AlertKind, AlertStatus, CloseError, CloseRequest};
use crate::store::decisions::{DecisionFilter, Withdrawn};
use crate::store::monitoring::AlertFilter;

impl From<DecisionError> for Error {
    fn from(err: DecisionError) -> Error {
        match err {
            DecisionError::ScreeningNotFound(_) => Error::NotFound(err.to_string()),
            DecisionError::NoSuchMatch { .. } | DecisionError::NoSupplierId(_) | DecisionError::BadNote(_) => {
                Error::BadRequest(err.to_string())
            }
            DecisionError::Unreadable(_) => Error::Internal(err.into()),
            DecisionError::Store(err) => Error::Sqlx(err),
        }
    }
}

impl From<CloseError> for Error {
    fn from(err: CloseError) -> Error {
        match err {
            CloseError::NotFound(_) => Error::NotFound(err.to_string()),
            CloseError::AlreadyClosed(_) => Error::Conflict(err.to_string()),
            CloseError::BadRequest(message) => Error::BadRequest(message),
            CloseError::Store(err) => Error::Sqlx(err),
        }
    }
}

/// `POST /v1/decisions`: records a reviewer's decision on one match of a stored screening.
#[utoipa::path(post, path = "/v1/decisions", tag = "monitoring", security(("api_key" = [])), request_body = DecisionRequest,
    responses((status = 201, body = DecisionRecord), (status = 400), (status = 404, description = "No such screening"), (status = 401), (status = 403)))]
pub async fn decide(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<DecisionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<DecisionRecord>), Error> {
    caller.require(SCREENERS)?;
    let Json(request) = body?;
    let decision = decisions::decide(&state.store, &request, Some(caller.key_id)).await?;
    Ok((StatusCode::CREATED, Json(decision)))
}

#[derive(Debug, Deserialize)]
pub struct DecisionParams {
    supplier_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The decisions listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionList {
    decisions: Vec<DecisionRecord>,
}

/// `GET /v1/decisions`: the decisions, newest first, each with whether it is in force.
#[utoipa::path(get, path = "/v1/decisions", tag = "monitoring", security(("api_key" = [])),
    params(("supplier_id" = Option<String>, Query), ("status" = Option<String>, Query, description = "in_force, superseded or withdrawn"),
        ("limit" = Option<i64>, Query, description = "1 to 1000 (default 100)"), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = DecisionList), (status = 400), (status = 401), (status = 403)))]
pub async fn list_decisions(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<DecisionParams>, QueryRejection>,
) -> Result<Json<DecisionList>, Error> {
    caller.require(SCREENERS)?;
    let Query(params) = params?;
    let status = match params.status.as_deref().filter(|status| !status.is_empty()) {
        None => None,
        Some(text) => Some(DecisionStatus::parse(text).ok_or_else(|| {
            Error::BadRequest(format!("status must be in_force, superseded or withdrawn, not {text:?}"))
        })?),
    };
    let (limit, offset) = page(params.limit, params.offset)?;
    let filter = DecisionFilter { supplier_id: id_param(params.supplier_id)?, status, limit, offset };
    Ok(Json(DecisionList { decisions: state.store.list_decisions(&filter).await? }))
}

/// Why a decision is withdrawn.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    note: String,
}

/// `POST /v1/decisions/{id}/withdraw`: takes a decision back (it stays in the history,
/// withdrawn; the decision it superseded, if any, is in force again).
#[utoipa::path(post, path = "/v1/decisions/{id}/withdraw", tag = "monitoring", security(("api_key" = [])),
    params(("id" = i64, Path)), request_body = WithdrawRequest,
    responses((status = 200, body = DecisionRecord), (status = 404), (status = 409, description = "Already withdrawn"), (status = 400), (status = 401), (status = 403)))]
pub async fn withdraw_decision(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<WithdrawRequest>, JsonRejection>,
) -> Result<Json<DecisionRecord>, Error> {
    caller.require(SCREENERS)?;
    let Json(request) = body?;
    check_note(&request.note).map_err(Error::BadRequest)?;
    match state.store.withdraw_decision(id, request.note.trim(), Some(caller.key_id)).await? {
        Withdrawn::Done(decision) => Ok(Json(*decision)),
        Withdrawn::AlreadyWithdrawn => Err(Error::Conflict(format!("decision {id} is already withdrawn"))),
        Withdrawn::NotFound => Err(Error::NotFound(format!("no decision {id}"))),
    }
}

#[derive(Debug, Deserialize)]
pub struct AlertParams {
    status: Option<String>,
    kind: Option<String>,
    supplier_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The alerts listed, and how many are open in all.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertList {
    alerts: Vec<Alert>,
    open: i64,
}

/// `GET /v1/alerts`: monitoring's alerts, newest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "monitoring", security(("api_key" = [])),
    params(("status" = Option<String>, Query, description = "open or closed"), ("kind" = Option<String>, Query, description = "new_match, changed_match, reopened or licence_lost"),
        ("supplier_id" = Option<String>, Query, description = "Only the alerts about this supplier or agency id"),
        ("limit" = Option<i64>, Query, description = "1 to 1000 (default 100)"), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = AlertList), (status = 400), (status = 401)))]
pub async fn list_alerts(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<AlertList>, Error> {
    caller.require(EVERYONE)?;
    let Query(params) = params?;
    let status = match params.status.as_deref().filter(|status| !status.is_empty()) {
        None => None,
        Some(text) => Some(
            AlertStatus::parse(text)
                .ok_or_else(|| Error::BadRequest(format!("status must be open or closed, not {text:?}")))?,
        ),
    };
    let kind = match params.kind.as_deref().filter(|kind| !kind.is_empty()) {
        None => None,
        Some(text) => Some(AlertKind::parse(text).ok_or_else(|| {
            Error::BadRequest(format!("kind must be new_match, changed_match, reopened or licence_lost, not {text:?}"))
        })?),
    };
    let (limit, offset) = page(params.limit, params.offset)?;
    let filter = AlertFilter { status, kind, subject_id: id_param(params.supplier_id)?, limit, offset };
    let alerts = state.store.list_alerts(&filter).await?;
    Ok(Json(AlertList { alerts, open: state.store.count_open_alerts().await? }))
}

/// `GET /v1/alerts/{id}`: one alert.
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "monitoring", security(("api_key" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Alert), (status = 404), (status = 401)))]
pub async fn get_alert(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Alert>, Error> {
    caller.require(EVERYONE)?;
    let alert = state.store.get_alert(id).await?.ok_or_else(|| Error::NotFound(format!("no alert {id}")))?;
    Ok(Json(alert))
}

/// `POST /v1/alerts/{id}`: closes an open alert with a note, and with `decision` records
/// a decision on its match in the same step (officers, auditors and administrators).
#[utoipa::path(post, path = "/v1/alerts/{id}", tag = "monitoring", security(("api_key" = [])), params(("id" = i64, Path)),
    request_body = CloseRequest,
    responses((status = 200, body = Alert), (status = 400), (status = 404), (status = 409, description = "Already closed"), (status = 401),
        (status = 403, description = "A decision needs the officer, auditor or admin role")))]
pub async fn close_alert(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<CloseRequest>, JsonRejection>,
) -> Result<Json<Alert>, Error> {
    caller.require(EVERYONE)?;
    let Json(request) = body?;
    if request.decision.is_some() {
        caller.require(SCREENERS)?;
    }
    Ok(Json(monitoring::close_alert(&state.store, id, &request, Some(caller.key_id)).await?))
}

/// An id given as a query parameter: none when empty; refused with a NUL character,
/// which no stored id has.
fn id_param(id: Option<String>) -> Result<Option<String>, Error> {
    match id.filter(|id| !id.is_empty()) {
        Some(id) if id.contains('\0') => {
            Err(Error::BadRequest("supplier_id must not contain NUL characters".to_owned()))
        }
        id => Ok(id),
    }
}

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), Error> {
    let (limit, offset) = (limit.unwrap_or(100), offset.unwrap_or(0));
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest(format!("limit must be between 1 and 1000, not {limit}")));
    }
    if offset < 0 {
        return Err(Error::BadRequest(format!("offset must not be negative, not {offset}")));
    }
    Ok((limit, offset))
}
