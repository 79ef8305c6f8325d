//! Decisions on matches and monitoring alerts.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::Path;
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
#[utoipa::path(post, path = "/v1/decisions", tag = "monitoring", operation_id = "create_decision", security(("api_key" = [])),
    request_body = DecisionRequest,
    responses((status = 201, description = "The decision, recorded", body = DecisionRecord),
        (status = 400, description = "The screening has no such match, its supplier has no id, or the note is empty or too long"),
        (status = 404, description = "No such screening")))]
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
#[utoipa::path(get, path = "/v1/decisions", tag = "monitoring", operation_id = "list_decisions", security(("api_key" = [])),
    params(("supplier_id" = Option<String>, Query, pattern = "^[^\\u0000]*$", description = "Only the decisions about this supplier"),
        ("status" = Option<DecisionStatus>, Query, description = "Only the decisions with this status"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many (default 100)"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "How many to skip (default 0)")),
    responses((status = 200, description = "The decisions, newest first, each with its status", body = DecisionList),
        (status = 400, description = "An unknown status, or a limit or offset out of range")))]
pub async fn list_decisions(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<DecisionParams>, QueryRejection>,
) -> Result<Json<DecisionList>, Error> {
    caller.require(SCREENERS)?;
    let Query(params) = params?;
    let status = match params.status.as_deref() {
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
    /// What was checked: not blank, no NUL characters, at most 2,000 characters.
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*\S[^\u0000]*$")]
    note: String,
}

/// `POST /v1/decisions/{id}/withdraw`: takes a decision back (it stays in the history,
/// withdrawn; the decision it superseded, if any, is in force again).
#[utoipa::path(post, path = "/v1/decisions/{id}/withdraw", tag = "monitoring", operation_id = "withdraw_decision", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The decision")), request_body = WithdrawRequest,
    responses((status = 200, description = "The decision, withdrawn", body = DecisionRecord),
        (status = 400, description = "The note is empty or too long, or the body is not a withdrawal"),
        (status = 404, description = "No such decision"), (status = 409, description = "Already withdrawn")))]
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
#[utoipa::path(get, path = "/v1/alerts", tag = "monitoring", operation_id = "list_alerts", security(("api_key" = [])),
    params(("status" = Option<AlertStatus>, Query, description = "Only the open or the closed alerts"),
        ("kind" = Option<AlertKind>, Query, description = "Only the alerts of this kind"),
        ("supplier_id" = Option<String>, Query, pattern = "^[^\\u0000]*$", description = "Only the alerts about this supplier or agency id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many (default 100)"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "How many to skip (default 0)")),
    responses((status = 200, description = "The alerts, newest first, and the number open", body = AlertList),
        (status = 400, description = "An unknown status or kind, or a limit or offset out of range")))]
pub async fn list_alerts(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<AlertList>, Error> {
    caller.require(EVERYONE)?;
    let Query(params) = params?;
    let status = match params.status.as_deref() {
        None => None,
        Some(text) => Some(
            AlertStatus::parse(text)
                .ok_or_else(|| Error::BadRequest(format!("status must be open or closed, not {text:?}")))?,
        ),
    };
    let kind = match params.kind.as_deref() {
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
#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "monitoring", operation_id = "get_alert", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The alert")),
    responses((status = 200, description = "The alert", body = Alert), (status = 400), (status = 404, description = "No such alert")))]
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
#[utoipa::path(post, path = "/v1/alerts/{id}", tag = "monitoring", operation_id = "close_alert", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The alert")), request_body = CloseRequest,
    responses((status = 200, description = "The alert, closed", body = Alert),
        (status = 400, description = "The note is empty or too long, or the body is not a closing request"),
        (status = 403, description = "The key's role may not use this endpoint, or (a decision) is not officer, auditor or admin"),
        (status = 404, description = "No such alert"), (status = 409, description = "Already closed")))]
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

/// The `limit` (1 to 1,000, default 100) and `offset` (default 0) of a listing.
pub(super) fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), Error> {
    let (limit, offset) = (limit.unwrap_or(100), offset.unwrap_or(0));
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest(format!("limit must be between 1 and 1000, not {limit}")));
    }
    if offset < 0 {
        return Err(Error::BadRequest(format!("offset must not be negative, not {offset}")));
    }
    Ok((limit, offset))
}
