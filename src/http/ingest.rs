//! Ingestion uploads (admin): a CSV file loaded now, then indexed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ADMINS, AppState, Caller, Error};
use crate::ingest::{self, DEFAULT_SOURCE, FileError, LoadRequest};
use crate::records::RecordKind;
use crate::store::{DatasetVersion, RejectedRow};

#[derive(Debug, Deserialize)]
pub struct UploadParams {
    /// What the file holds: watchlist, suppliers, agencies, procurements or licences.
    kind: String,
    /// Where the rows come from (default `local`).
    source: Option<String>,
    /// The file's name, for messages (default `upload.csv`).
    name: Option<String>,
}

/// What an upload did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    dataset: DatasetVersion,
    /// The rows it rejected, with line, field and reason.
    rejected: Vec<RejectedRow>,
    /// How many changed records the search index took in.
    indexed: u64,
}

/// `POST /v1/datasets?kind=…&source=…&name=…` with the CSV file as the body.
#[utoipa::path(post, path = "/v1/datasets", tag = "datasets", security(("api_key" = [])), params(("kind" = String, Query, description = "watchlist, suppliers, agencies, procurements or licences"), ("source" = Option<String>, Query), ("name" = Option<String>, Query)), request_body(content = String, content_type = "text/csv"), responses((status = 201, body = Uploaded), (status = 400), (status = 401), (status = 403)))]
pub async fn upload(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<UploadParams>, QueryRejection>,
    body: Bytes,
) -> Result<(StatusCode, Json<Uploaded>), Error> {
    caller.require(ADMINS)?;
    let Query(params) = params?;
    let kind = RecordKind::parse(&params.kind).ok_or_else(|| {
        let kinds: Vec<&str> = RecordKind::ALL.iter().map(|kind| kind.as_str()).collect();
        Error::BadRequest(format!("kind must be one of {}, not {:?}", kinds.join(", "), params.kind))
    })?;
    let request = LoadRequest {
        kind,
        source: params.source.unwrap_or_else(|| DEFAULT_SOURCE.to_owned()),
        file_name: params.name.unwrap_or_else(|| "upload.csv".to_owned()),
        bytes: body.to_vec(),
    };
    let report = match ingest::load_file(&state.store, request).await {
        Ok(report) => report,
        Err(err) => match err.downcast_ref::<FileError>() {
            Some(file_error) => return Err(Error::BadRequest(file_error.message.clone())),
            None => return Err(Error::Internal(err)),
        },
    };
    let index = state.screening.matcher().index();
    let indexed = index.update_from_load(&state.store, kind, report.dataset.id).await?;
    Ok((StatusCode::CREATED, Json(Uploaded { dataset: report.dataset, rejected: report.rejected, indexed })))
}
