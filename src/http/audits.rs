//! Batch audits: upload a file, follow its progress, cancel it, download its report.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AUDITORS, AppState, Caller, Error};
use crate::audit::{self, DEFAULT_CHUNK_SIZE};
use crate::screening::{ReportRow, write_report_csv};
use crate::store::audits::{Audit, AuditProgress};

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    /// The file's name, for messages and the report (default `upload.csv`).
    name: Option<String>,
}

/// `POST /v1/audits?name=…` with the CSV file as the body: queues its audit (202).
#[utoipa::path(post, path = "/v1/audits", tag = "audits", security(("api_key" = [])), params(("name" = Option<String>, Query)), request_body(content = String, content_type = "text/csv"), responses((status = 202, body = Audit), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<UploadParams>, QueryRejection>,
    body: Bytes,
) -> Result<(StatusCode, Json<Audit>), Error> {
    caller.require(AUDITORS)?;
    let Query(params) = params?;
    let name = params.name.unwrap_or_else(|| "upload.csv".to_owned());
    match audit::submit(&state.store, &name, body.to_vec(), Some(caller.key_id), DEFAULT_CHUNK_SIZE).await? {
        Ok(audit) => Ok((StatusCode::ACCEPTED, Json(audit))),
        Err(message) => Err(Error::BadRequest(message)),
    }
}

/// `GET /v1/audits/{id}`: the audit and its progress.
#[utoipa::path(get, path = "/v1/audits/{id}", tag = "audits", security(("api_key" = [])), params(("id" = i64, Path)), responses((status = 200, body = AuditProgress), (status = 404), (status = 401), (status = 403)))]
pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<AuditProgress>, Error> {
    caller.require(AUDITORS)?;
    let progress = state.store.audit_progress(id).await?.ok_or_else(|| Error::NotFound(format!("no audit {id}")))?;
    Ok(Json(progress))
}

/// `POST /v1/audits/{id}/cancel`: stops a queued or running audit.
#[utoipa::path(post, path = "/v1/audits/{id}/cancel", tag = "audits", security(("api_key" = [])), params(("id" = i64, Path)), responses((status = 200, body = Audit), (status = 409), (status = 404), (status = 401), (status = 403)))]
pub async fn cancel(caller: Caller, State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Audit>, Error> {
    caller.require(AUDITORS)?;
    let audit = state.store.get_audit(id).await?.ok_or_else(|| Error::NotFound(format!("no audit {id}")))?;
    if !state.store.cancel_audit(id).await? {
        return Err(Error::Conflict(format!("audit {id} is {} and cannot be cancelled", audit.status)));
    }
    let audit = state.store.get_audit(id).await?.ok_or_else(|| Error::NotFound(format!("no audit {id}")))?;
    Ok(Json(audit))
}

#[derive(Debug, Deserialize)]
pub struct ReportParams {
    /// `csv` (the default) or `json`.
    format: Option<String>,
}

/// `GET /v1/audits/{id}/report?format=csv|json`: the report of a completed audit.
#[utoipa::path(get, path = "/v1/audits/{id}/report", tag = "audits", security(("api_key" = [])), params(("id" = i64, Path), ("format" = Option<String>, Query, description = "csv (default) or json")), responses((status = 200, body = Vec<ReportRow>, description = "The report, as CSV or JSON"), (status = 409), (status = 404), (status = 401), (status = 403)))]
pub async fn report(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, Error> {
    caller.require(AUDITORS)?;
    let Query(params) = params?;
    let progress = state.store.audit_progress(id).await?.ok_or_else(|| Error::NotFound(format!("no audit {id}")))?;
    if progress.audit.status != "completed" {
        return Err(Error::Conflict(format!(
            "audit {id} is {} ({} of {} rows done); the report is ready when it completes",
            progress.audit.status, progress.rows_done, progress.audit.n_rows
        )));
    }
    let rows: Vec<ReportRow> = state
        .store
        .audit_rows(id)
        .await?
        .iter()
        .map(|text| serde_json::from_str(text))
        .collect::<Result<_, _>>()
        .map_err(|err| Error::Internal(err.into()))?;
    match params.format.as_deref().unwrap_or("csv") {
        "json" => Ok(Json(rows).into_response()),
        "csv" => {
            let mut bytes = Vec::new();
            write_report_csv(&rows, &mut bytes)?;
            let disposition = format!("attachment; filename=\"audit-{id}-report.csv\"");
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response())
        }
        other => Err(Error::BadRequest(format!("format must be csv or json, not {other:?}"))),
    }
}
