//! The HTTP API served by `cadena serve`, and the web UI (`web`) beside it. Handlers stay
//! thin: they parse the request, call the store or the domain modules, and shape the
//! response.

mod audits;
mod auth;
mod entity_ref;
mod error;
mod extract;
mod ingest;
pub mod metrics;
mod monitoring;
pub mod openapi;
pub mod reconcile;
mod screening;
pub mod web;
pub mod yente;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use auth::Caller;
pub use error::Error;
use extract::Path;
use metrics::{Metrics, RateLimiter};
use tower_http::timeout::TimeoutLayer;

use crate::records::RecordKind;
use crate::service::ScreeningService;
use crate::store::keys::Role;
use crate::store::{DatasetVersion, RejectedRow, Store};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub screening: Arc<ScreeningService>,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    /// How long a request may take before it is answered 408 ([`REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
}

/// Requests per second each key may make, on average, and in a burst.
pub const DEFAULT_RATE_LIMIT: f64 = 50.0;
pub const DEFAULT_RATE_BURST: f64 = 100.0;

/// How long a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl AppState {
    /// The state with the default per-key rate limit.
    pub fn new(store: Store, screening: Arc<ScreeningService>) -> AppState {
        AppState::with_rate_limit(store, screening, DEFAULT_RATE_LIMIT, DEFAULT_RATE_BURST)
    }

    pub fn with_rate_limit(store: Store, screening: Arc<ScreeningService>, per_second: f64, burst: f64) -> AppState {
        AppState {
            store,
            screening,
            metrics: Arc::new(Metrics::default()),
            limiter: Arc::new(RateLimiter::new(per_second, burst)),
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    /// The same state with another request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> AppState {
        self.request_timeout = timeout;
        self
    }
}

/// The routes that need no key.
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", web::UI_PATH),
    ("GET", "/reconcile"),
    ("GET", "/reconcile/preview"),
];

/// Every route that needs a key, with the roles that may call it ([`PUBLIC_ROUTES`] need none).
pub const ROUTES: &[(&str, &str, &[Role])] = &[
    ("GET", "/v1/datasets", AUDITORS),
    ("POST", "/v1/datasets", ADMINS),
    ("GET", "/v1/datasets/{id}", AUDITORS),
    ("GET", "/v1/datasets/{id}/rejected", AUDITORS),
    ("GET", "/v1/audits", AUDITORS),
    ("POST", "/v1/audits", AUDITORS),
    ("GET", "/v1/audits/{id}", AUDITORS),
    ("POST", "/v1/audits/{id}/cancel", AUDITORS),
    ("GET", "/v1/audits/{id}/report", AUDITORS),
    ("POST", "/v1/screenings", SCREENERS),
    ("GET", "/v1/screenings/{id}", SCREENERS),
    ("GET", "/v1/screenings/{id}/reproduction", SCREENERS),
    ("GET", "/v1/search", EVERYONE),
    ("GET", "/v1/records/{kind}/{id}", EVERYONE),
    ("GET", "/v1/agencies/{id}/suppliers", EVERYONE),
    ("GET", "/v1/ruleset", EVERYONE),
    ("GET", "/v1/matching", EVERYONE),
    ("POST", "/v1/decisions", SCREENERS),
    ("GET", "/v1/decisions", SCREENERS),
    ("POST", "/v1/decisions/{id}/withdraw", SCREENERS),
    ("GET", "/v1/alerts", EVERYONE),
    ("GET", "/v1/alerts/{id}", EVERYONE),
    ("POST", "/v1/alerts/{id}", EVERYONE),
    ("POST", "/match/{dataset}", SCREENERS),
    ("POST", "/reconcile", EVERYONE),
    ("GET", "/reconcile/suggest/entity", EVERYONE),
];

/// Roles that read loads and run batch audits: auditors and administrators.
pub const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];
/// Roles that screen: officers, auditors and administrators.
pub const SCREENERS: &[Role] = &[Role::Officer, Role::Auditor, Role::Admin];
/// Administrators only.
pub const ADMINS: &[Role] = &[Role::Admin];
/// Every role.
pub const EVERYONE: &[Role] = &Role::ALL;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .route("/v1/datasets", get(list_datasets).post(ingest::upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .route("/v1/datasets/{id}", get(get_dataset))
        .route("/v1/datasets/{id}/rejected", get(list_rejected_rows))
        .route("/v1/audits", post(audits::create).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)).get(audits::list))
        .route("/v1/audits/{id}", get(audits::get))
        .route("/v1/audits/{id}/cancel", post(audits::cancel))
        .route("/v1/audits/{id}/report", get(audits::report))
        .route("/v1/screenings", post(screening::create))
        .route("/v1/screenings/{id}", get(screening::get))
        .route("/v1/screenings/{id}/reproduction", get(screening::reproduce))
        .route("/v1/search", get(screening::search))
        .route("/v1/records/{kind}/{id}", get(screening::record))
        .route("/v1/agencies/{id}/suppliers", get(screening::agency_suppliers))
        .route("/v1/ruleset", get(screening::ruleset))
        .route("/v1/matching", get(screening::matching))
        .route("/v1/decisions", get(monitoring::list_decisions).post(monitoring::decide))
        .route("/v1/decisions/{id}/withdraw", post(monitoring::withdraw_decision))
        .route("/v1/alerts", get(monitoring::list_alerts))
        .route("/v1/alerts/{id}", get(monitoring::get_alert).post(monitoring::close_alert))
        .route("/match/{dataset}", post(yente::match_entities))
        .merge(web::router())
        .merge(reconcile::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.request_timeout))
        // Outermost, so that every answer has them, 404s and timeouts included.
        .layer(axum::middleware::map_response(web::with_default_security_headers))
        .with_state(state)
}

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The largest file a batch audit accepts, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// What `GET /` says.
#[derive(Serialize, utoipa::ToSchema)]
struct Index {
    service: &'static str,
    version: &'static str,
    /// The store version this replica's index reflects (what screenings are matched against).
    dataset_version: i64,
    /// The store's version, as last seen by the indexer.
    store_version: i64,
    /// How many records of each kind are loaded.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    records: serde_json::Map<String, serde_json::Value>,
    /// Every public endpoint, as `METHOD /path`.
    endpoints: Vec<String>,
}

/// `GET /`: the service description as JSON, or, for a browser asking for a page, a
/// redirect to the web UI.
#[utoipa::path(get, path = "/", tag = "service", operation_id = "describe_service", responses((status = 200, description = "Service version, dataset version, record counts and every public endpoint", body = Index), (status = 303, description = "A browser (`Accept: text/html`) is sent to the web UI at `/ui/`")))]
async fn index(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    if web::wants_html(&headers) {
        return Ok(Redirect::to(web::UI_PATH).into_response());
    }
    let mut records = serde_json::Map::new();
    for kind in RecordKind::ALL {
        records.insert(kind.as_str().to_owned(), state.store.count_records(kind).await?.into());
    }
    Ok(Json(Index {
        service: "cadena",
        version: env!("CARGO_PKG_VERSION"),
        dataset_version: state.screening.index_status().index_version,
        store_version: state.screening.index_status().store_version,
        records,
        endpoints: PUBLIC_ROUTES
            .iter()
            .copied()
            .chain(ROUTES.iter().map(|(method, path, _)| (*method, *path)))
            .map(|(method, path)| format!("{method} {path}"))
            .collect(),
    })
    .into_response())
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "service", operation_id = "healthz", responses((status = 200, description = "The process answers", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` says: whether this replica serves, and how far its index is behind.
#[derive(Serialize, utoipa::ToSchema)]
struct Readiness {
    /// `ready`, or `starting` until the index has caught up with the store once.
    status: &'static str,
    index_version: i64,
    store_version: i64,
    /// Store versions the index is behind the store.
    index_lag: i64,
}

/// Readiness: the store answers and the index has caught up with it at least once
/// since the process started (503 before); the lag says how far behind it is now.
#[utoipa::path(get, path = "/readyz", tag = "service", operation_id = "readyz", responses((status = 200, description = "Ready: the store answers and the index has caught up once", body = Readiness), (status = 503, description = "Not ready yet: the index has not caught up with the store since start, or the store does not answer", body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> Result<Response, Error> {
    state.store.store_version().await?;
    let index = state.screening.index_status();
    let ready = index.caught_up_once;
    let readiness = Readiness {
        status: if ready { "ready" } else { "starting" },
        index_version: index.index_version,
        store_version: index.store_version,
        index_lag: index.lag(),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(readiness)).into_response())
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

#[utoipa::path(get, path = "/v1/datasets", tag = "datasets", operation_id = "list_datasets", security(("api_key" = [])),
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many loads (default 100)")),
    responses((status = 200, description = "The loads, newest first", body = Vec<DatasetVersion>), (status = 400)))]
async fn list_datasets(
    caller: Caller,
    State(state): State<AppState>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Vec<DatasetVersion>>, Error> {
    caller.require(AUDITORS)?;
    let Query(page) = page?;
    let (limit, _) = page.checked()?;
    Ok(Json(state.store.list_loads(limit).await?))
}

#[utoipa::path(get, path = "/v1/datasets/{id}", tag = "datasets", operation_id = "get_dataset", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The load")),
    responses((status = 200, description = "The load: status, counts, the store version it made", body = DatasetVersion), (status = 400), (status = 404, description = "No such load")))]
async fn get_dataset(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DatasetVersion>, Error> {
    caller.require(AUDITORS)?;
    let dataset = state.store.get_load(id).await?.ok_or_else(|| Error::NotFound(format!("no dataset {id}")))?;
    Ok(Json(dataset))
}

#[utoipa::path(get, path = "/v1/datasets/{id}/rejected", tag = "datasets", operation_id = "list_rejected_rows", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The load"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many rows (default 100)"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "How many rows to skip (default 0)")),
    responses((status = 200, description = "The rows the load rejected, by line", body = Vec<RejectedRow>), (status = 400), (status = 404, description = "No such load")))]
async fn list_rejected_rows(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Vec<RejectedRow>>, Error> {
    caller.require(AUDITORS)?;
    let Query(page) = page?;
    let (limit, offset) = page.checked()?;
    state.store.get_load(id).await?.ok_or_else(|| Error::NotFound(format!("no dataset {id}")))?;
    Ok(Json(state.store.rejected_rows(id, limit, offset).await?))
}
