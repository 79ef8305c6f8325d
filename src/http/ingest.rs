//! Ingestion uploads (admin): a file (CSV or a published format) kept in the store and
//! queued as a load for the ingestion worker of any replica; the answer is 202 with the
//! queued load, whose progress `GET /v1/datasets/{id}` shows.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse};
use serde::Deserialize;

use super::extract::Upload;
use super::{ADMINS, AppState, Caller, Error};
use crate::import::{Format, Purpose};
use crate::ingest::{self, DEFAULT_SOURCE};
use crate::records::{RecordKind, check_column_map};
use crate::store::DatasetVersion;
use crate::store::datasets::NewLoad;

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    /// What the file holds: watchlist, suppliers, agencies, procurements or licences
    /// (may be left out for a format that holds one kind, such as lista-suja).
    kind: Option<String>,
    /// The file's format (csv, ocds, lista-suja, cbp); detected when not given.
    format: Option<String>,
    /// CSV columns sent to fields: `COLUMN=FIELD;COLUMN=FIELD`.
    map: Option<String>,
    /// Where the rows come from (default `local`).
    source: Option<String>,
    /// The file's name, for messages (default: the name a multipart upload gives the
    /// file, else `upload.csv`).
    name: Option<String>,
}

/// A dataset upload as a multipart form (a browser form, `curl -F kind=watchlist -F
/// file=@lista.csv`): the file and the query parameters as fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DatasetUploadForm {
    /// The file (its name is the dataset's file name unless `name` is given).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    kind: Option<RecordKind>,
    format: Option<Format>,
    /// CSV columns sent to fields: `COLUMN=FIELD;COLUMN=FIELD`.
    map: Option<String>,
    source: Option<String>,
    name: Option<String>,
}

/// `POST /v1/datasets?kind=…&format=…&map=…&source=…&name=…` with the file as the body.
#[utoipa::path(post, path = "/v1/datasets", tag = "datasets", operation_id = "upload_dataset", security(("api_key" = [])),
    params(("kind" = Option<RecordKind>, Query, description = "What the file holds (may be left out for a format that holds one kind, such as lista-suja)"),
        ("format" = Option<Format>, Query, description = "The file's format; detected from its name and first bytes when not given"),
        ("map" = Option<String>, Query, description = "CSV columns sent to fields: COLUMN=FIELD;COLUMN=FIELD"),
        ("source" = Option<String>, Query, description = "Where the rows come from (default `local`)"),
        ("name" = Option<String>, Query, description = "The file's name, for messages (default: a multipart upload's file name, else `upload.csv`)")),
    request_body(description = "The file (CSV or a published format, up to 64 MiB) as the body (any bytes; its content decides whether it can be loaded), or as the `file` part of a multipart form whose other fields stand for the query parameters",
        content((serde_json::Value = "text/csv"), (DatasetUploadForm = "multipart/form-data"))),
    responses((status = 202, description = "The file is kept and its load queued; `GET /v1/datasets/{id}` follows it", body = DatasetVersion,
            headers(("Location" = String, description = "The queued load, `/v1/datasets/{id}`"))),
        (status = 400, description = "A kind, format or column map that is not known, a kind the file does not imply, or a CSV header without a required column")))]
pub async fn upload(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<UploadParams>, QueryRejection>,
    mut upload: Upload,
) -> Result<impl IntoResponse, Error> {
    caller.require(ADMINS)?;
    let Query(params) = params?;
    // A multipart form's fields stand for the query parameters it leaves out.
    let params = UploadParams {
        kind: upload.param(params.kind, "kind")?,
        format: upload.param(params.format, "format")?,
        map: upload.param(params.map, "map")?,
        source: upload.param(params.source, "source")?,
        name: upload.param(params.name, "name")?.or(upload.file_name.take()),
    };
    upload.no_other_fields(&["kind", "format", "map", "source", "name"])?;
    let body = upload.bytes;
    let format = match params.format.as_deref() {
        None => None,
        Some(name) => Some(Format::parse(name).ok_or_else(|| {
            let formats: Vec<&str> = Format::ALL.iter().map(|format| format.as_str()).collect();
            Error::BadRequest(format!("format must be one of {}, not {name:?}", formats.join(", ")))
        })?),
    };
    let kind = match params.kind.as_deref() {
        None => None,
        Some(name) => Some(RecordKind::parse(name).ok_or_else(|| {
            let kinds: Vec<&str> = RecordKind::ALL.iter().map(|kind| kind.as_str()).collect();
            Error::BadRequest(format!("kind must be one of {}, not {name:?}", kinds.join(", ")))
        })?),
    };
    let map_entries = crate::records::map_entries(params.map.as_deref());
    // Without a kind, the file's format (given or detected) must say what it holds; an
    // upload is one load, so a format of several kinds needs the kind named.
    let file_name = params.name.as_deref().unwrap_or("upload");
    let (implied, kinds) = crate::import::resolve(file_name, &body, kind, format, Purpose::Load, &map_entries)
        .map_err(Error::BadRequest)?;
    let kind = match kinds.as_slice() {
        [only] => *only,
        _ => {
            let kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
            return Err(Error::BadRequest(format!(
                "a {implied} file holds {}: name the one to load with `kind`",
                kinds.join(" and ")
            )));
        }
    };
    let column_map = check_column_map(kind, &map_entries).map_err(Error::BadRequest)?;
    let source = params.source.unwrap_or_else(|| DEFAULT_SOURCE.to_owned());
    let file_name = params.name.unwrap_or_else(|| "upload.csv".to_owned());
    // What can be told at once is told at once: a CSV header without a required column.
    ingest::check_header(kind, format, &file_name, &body, &column_map).map_err(|err| Error::BadRequest(err.message))?;
    let new_load = NewLoad {
        kind,
        source: &source,
        file_name: &file_name,
        format: format.map(Format::as_str),
        column_map: &column_map,
    };
    let dataset = state.store.queue_load(&new_load, &body).await?;
    let location = format!("/v1/datasets/{}", dataset.id);
    Ok((StatusCode::ACCEPTED, AppendHeaders([(header::LOCATION, location)]), Json(dataset)))
}
