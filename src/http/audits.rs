//! Batch audits: upload a file, follow its progress, cancel it, download its report.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{LangQuery, Path, RequestLang, Upload, asked_lang};
use super::{AUDITORS, AppState, Caller, Error};
use crate::audit::{self, DEFAULT_CHUNK_SIZE};
use crate::lang::Lang;
use crate::screening::{self, ReportRow};
use crate::store::audits::{Audit, AuditProgress, AuditReading};

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    /// The file's name, for messages and the report (default `upload.csv`).
    name: Option<String>,
    /// CSV columns sent to fields: `COLUMN=FIELD;COLUMN=FIELD`, as `cadena screen --map`.
    map: Option<String>,
}

/// An audit upload as a multipart form (a browser form, `curl -F file=@compras.csv`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuditUploadForm {
    /// The file; its name is the audit's file name unless `name` is given.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    name: Option<String>,
    /// CSV columns sent to fields: `COLUMN=FIELD;COLUMN=FIELD`.
    map: Option<String>,
    /// The language of the report's texts: es, pt or en.
    lang: Option<Lang>,
}

/// `POST /v1/audits?name=…&map=…` with the file as the body: queues its audit (202).
#[utoipa::path(post, path = "/v1/audits", tag = "audits", operation_id = "create_audit", security(("api_key" = [])),
    params(("name" = Option<String>, Query, description = "The file's name, for messages and the report (default: a multipart upload's file name, else `upload.csv`)"),
        ("map" = Option<String>, Query, description = "CSV columns sent to fields: COLUMN=FIELD;COLUMN=FIELD, as `cadena screen --map` (a mapped `procurement_id` makes the file a procurement file)"),
        LangQuery),
    request_body(description = "A supplier or procurement CSV file, or an OCDS file (up to 64 MiB), as the body (any bytes; its content decides whether it can be audited), or as the `file` part of a multipart form whose other fields stand for the query parameters",
        content((serde_json::Value = "text/csv"), (AuditUploadForm = "multipart/form-data"))),
    responses((status = 202, description = "The audit is queued; `GET /v1/audits/{id}` follows it", body = Audit),
        (status = 400, description = "The file cannot be audited (no header, no required column, a column map that names no field of its kind), or a `lang` cadena does not speak; `error` says why")))]
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<UploadParams>, QueryRejection>,
    RequestLang(asked): RequestLang,
    mut upload: Upload,
) -> Result<(StatusCode, Json<Audit>), Error> {
    caller.require(AUDITORS)?;
    let Query(params) = params?;
    let name =
        upload.param(params.name, "name")?.or(upload.file_name.take()).unwrap_or_else(|| "upload.csv".to_owned());
    let column_map = crate::records::map_entries(upload.param(params.map, "map")?.as_deref());
    // A form's `lang` field stands for the query parameter, as its other fields do.
    let form_lang = upload.param(None, "lang")?.map(|tag| asked_lang(&tag)).transpose()?;
    upload.no_other_fields(&["name", "map", "lang"])?;
    let reading = AuditReading { column_map, lang: asked.or(form_lang).unwrap_or_default() };
    let bytes = upload.bytes.to_vec();
    match audit::submit(&state.store, &name, bytes, &reading, Some(caller.key_id), DEFAULT_CHUNK_SIZE).await? {
        Ok(audit) => Ok((StatusCode::ACCEPTED, Json(audit))),
        Err(message) => Err(Error::BadRequest(message)),
    }
}

/// The audits listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    /// Newest first.
    audits: Vec<Audit>,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /v1/audits`: the batch audits, newest first, without their files.
#[utoipa::path(get, path = "/v1/audits", tag = "audits", operation_id = "list_audits", security(("api_key" = [])),
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many (default 100)"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "How many to skip (default 0)")),
    responses((status = 200, description = "The audits, newest first: file name, status, rows, times", body = AuditList),
        (status = 400, description = "A limit or offset out of range")))]
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<AuditList>, Error> {
    caller.require(AUDITORS)?;
    let Query(params) = params?;
    let (limit, offset) = super::monitoring::page(params.limit, params.offset)?;
    Ok(Json(AuditList { audits: state.store.list_audits(limit, offset).await? }))
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
#[schema(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum ReportFormat {
    Csv,
    CsvBom,
    Xlsx,
    Json,
}

/// Which rows of a report (documentation of the `rows` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReportRows {
    /// Every row, one per input row.
    #[default]
    All,
    /// Only the rows that could not be read, each with its line, field and reason.
    Rejected,
}

#[derive(Debug, Deserialize)]
pub struct ReportParams {
    /// `csv` (the default), `csv-bom`, `xlsx` or `json`.
    format: Option<String>,
    /// `all` (the default) or `rejected`.
    rows: Option<ReportRows>,
}

/// `GET /v1/audits/{id}/report?format=csv|csv-bom|xlsx|json&rows=all|rejected`: the report of a completed audit.
#[utoipa::path(get, path = "/v1/audits/{id}/report", tag = "audits", operation_id = "get_audit_report", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The audit"), ("format" = Option<ReportFormat>, Query, description = "csv (the default), csv-bom (CSV with a byte-order mark, for Excel), xlsx (an Excel workbook) or json"),
        ("rows" = Option<ReportRows>, Query, description = "all (the default), or rejected: only the rows that could not be read, whose `rejected` (in JSON) gives each problem's line, field and reason")),
    responses((status = 200, description = "The report, one row per input row, as CSV, an Excel workbook or JSON",
            content((Vec<ReportRow> = "application/json"), (String = "text/csv"),
                (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
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
    let stored = match params.rows.unwrap_or_default() {
        ReportRows::All => state.store.audit_rows(id).await?,
        ReportRows::Rejected => state.store.audit_rejected_rows(id).await?,
    };
    let rows: Vec<ReportRow> = stored
        .iter()
        .map(|text| serde_json::from_str(text))
        .collect::<Result<_, _>>()
        .map_err(|err| Error::Internal(err.into()))?;
    let format = match params.format.as_deref().unwrap_or("csv") {
        "json" => return Ok(Json(rows).into_response()),
        name => screening::ReportFormat::parse(name)
            .ok_or_else(|| Error::BadRequest(format!("format must be csv, csv-bom, xlsx or json, not {name:?}")))?,
    };
    let mut bytes = Vec::new();
    screening::write_report(&rows, format, &mut bytes)?;
    let disposition = format!("attachment; filename=\"audit-{id}-report.{}\"", format.extension());
    Ok(([(header::CONTENT_TYPE, format.content_type().to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}
