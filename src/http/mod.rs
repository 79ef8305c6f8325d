//! The HTTP API served by `cadena serve`. Handlers stay thin: they parse the request,
//! call the store or the domain modules, and shape the response.

mod error;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use error::Error;

use crate::records::RecordKind;
use crate::store::{DatasetVersion, RejectedRow, Store};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/datasets", get(list_datasets))
        .route("/v1/datasets/{id}", get(get_dataset))
        .route("/v1/datasets/{id}/rejected", get(list_rejected_rows))
        .with_state(state)
}

#[derive(Serialize)]
struct Index {
    service: &'static str,
    version: &'static str,
    dataset_version: i64,
    /// How many records of each kind are loaded.
    records: serde_json::Map<String, serde_json::Value>,
    endpoints: &'static [&'static str],
}

async fn index(State(state): State<AppState>) -> Result<Json<Index>, Error> {
    let mut records = serde_json::Map::new();
    for kind in RecordKind::ALL {
        records.insert(kind.as_str().to_owned(), state.store.count_records(kind).await?.into());
    }
    Ok(Json(Index {
        service: "cadena",
        version: env!("CARGO_PKG_VERSION"),
        dataset_version: state.store.dataset_version().await?,
        records,
        endpoints: &["/healthz", "/readyz", "/v1/datasets", "/v1/datasets/{id}", "/v1/datasets/{id}/rejected"],
    }))
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, Error> {
    state.store.dataset_version().await?;
    Ok("ready")
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    100
}

impl Page {
    fn checked(&self) -> Result<(i64, i64), Error> {
        if !(1..=1000).contains(&self.limit) {
            return Err(Error::BadRequest(format!("limit must be between 1 and 1000, not {}", self.limit)));
        }
        if self.offset < 0 {
            return Err(Error::BadRequest(format!("offset must not be negative, not {}", self.offset)));
        }
        Ok((self.limit, self.offset))
    }
}

async fn list_datasets(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<DatasetVersion>>, Error> {
    let (limit, _) = page.checked()?;
    Ok(Json(state.store.list_loads(limit).await?))
}

async fn get_dataset(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<DatasetVersion>, Error> {
    let dataset = state.store.get_load(id).await?.ok_or_else(|| Error::NotFound(format!("no dataset {id}")))?;
    Ok(Json(dataset))
}

async fn list_rejected_rows(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<RejectedRow>>, Error> {
    let (limit, offset) = page.checked()?;
    state.store.get_load(id).await?.ok_or_else(|| Error::NotFound(format!("no dataset {id}")))?;
    Ok(Json(state.store.rejected_rows(id, limit, offset).await?))
}
