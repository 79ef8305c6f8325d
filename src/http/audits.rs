//! Batch audits: upload a file, follow its progress, cancel it, download its report.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::Path;
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
#[utoipa::path(post, path = "/v1/audits", tag = "audits", operation_id = "create_audit", security(("api_key" = [])),
    params(("name" = Option<String>, Query, description = "The file's name, for messages and the report (default `upload.csv`)")),
    request_body(content = serde_json::Value, content_type = "text/csv", description = "A supplier or procurement CSV file (up to 64 MiB): any bytes; its header decides whether it can be audited"),
    responses((status = 202, description = "The audit is queued; `GET /v1/audits/{id}` follows it", body = Audit),
        (status = 400, description = "The file cannot be audited (no header, no required column); `error` says why")))]
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
#[utoipa::path(get, path = "/v1/audits/{id}", tag = "audits", operation_id = "get_audit", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The audit")),
    responses((status = 200, description = "The audit, its progress and the rows per risk band", body = AuditProgress), (status = 400), (status = 404, description = "No such audit")))]
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
#[utoipa::path(post, path = "/v1/audits/{id}/cancel", tag = "audits", operation_id = "cancel_audit", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The audit")),
    responses((status = 200, description = "The audit, cancelled", body = Audit), (status = 400), (status = 404, description = "No such audit"),
        (status = 409, description = "The audit has already ended (completed, cancelled or failed)")))]
pub async fn cancel(caller: Caller, State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Audit>, Error> {
    caller.require(AUDITORS)?;
    let audit = state.store.get_audit(id).await?.ok_or_else(|| Error::NotFound(format!("no audit {id}")))?;
    if !state.store.cancel_audit(id).await? {
        return Err(Error::Conflict(format!("audit {id} is {} and cannot be cancelled", audit.status)));
    }
    let audit = state.store.get_audit(id).await?.ok_or_else(|| Error::NotFound(format!("no audit {id}")))?;
    Ok(Json(audit))
}

/// The formats of a report (documentation of the `format` parameter).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ReportFormat {
    Csv,
    Json,
}

#[derive(Debug, Deserialize)]
pub struct ReportParams {
    /// `csv` (the default) or `json`.
    format: Option<String>,
}

/// `GET /v1/audits/{id}/report?format=csv|json`: the report of a completed audit.
#[utoipa::path(get, path = "/v1/audits/{id}/report", tag = "audits", operation_id = "get_audit_report", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The audit"), ("format" = Option<ReportFormat>, Query, description = "csv (the default) or json")),
    responses((status = 200, description = "The report, one row per input row, as CSV or JSON",
            content((Vec<ReportRow> = "application/json"), (String = "text/csv"))),
        (status = 400), (status = 404, description = "No such audit"), (status = 409, description = "The audit has not completed")))]
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
