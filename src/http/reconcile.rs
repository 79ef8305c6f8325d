//! The W3C Entity Reconciliation API, version 0.2 (the one OpenRefine speaks), at
//! `/reconcile`: the service manifest (`GET` without queries, no key needed), batches
//! of queries (`POST` with the form field `queries=`, or `GET ?queries=`), entity
//! suggest (`/reconcile/suggest/entity?prefix=`) and an HTML preview sized for
//! OpenRefine's iframe (`/reconcile/preview?id=`). Every answer here allows any origin
//! (CORS, preflight included), since OpenRefine and browser tools call from elsewhere.
//!
//! Entities are the indexed watchlist entries, suppliers and agencies, named
//! `KIND/SOURCE/ENTITY_ID`; a query's `properties` (`country`, `tax_id`,
//! `licence_number`) are evidence, compared as a screening compares them.

use std::collections::BTreeMap;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};

use super::entity_ref::EntityRef;
use super::yente::{run_blocking, with_dataset_version};
use super::{AppState, Caller, EVERYONE, Error};
use crate::matching::index::licence_number_key;
use crate::matching::{
    MAX_NAME_CHARS, Match, SEARCH_MAX_LIMIT, ScreeningQuery, SearchQuery, Signal, Strength, TaxIdEvidence,
};
use crate::records::fields::parse_country;
use crate::records::{Agency, RecordKind, Supplier, WatchlistEntry};
use crate::service::EntityQuery;
use crate::store::records::StoredRecord;

/// The most queries one batch may carry.
pub const MAX_QUERIES: usize = 100;
/// How many queries OpenRefine should send at once.
pub const BATCH_SIZE: usize = 10;
/// Candidates per query when the query does not say.
pub const DEFAULT_LIMIT: usize = 5;
/// The preview's size in OpenRefine's iframe, in pixels.
pub const PREVIEW_WIDTH: u32 = 420;
pub const PREVIEW_HEIGHT: u32 = 220;
/// The header a reconciliation client (OpenRefine) sends the key in, as the manifest says.
pub const KEY_HEADER: &str = super::auth::API_KEY_HEADER;

/// The reconciliation routes, with CORS on every one of them.
pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::HeaderName::from_static(KEY_HEADER)])
        .expose_headers([header::HeaderName::from_static(super::yente::DATASET_VERSION_HEADER)]);
    Router::new()
        .route("/reconcile", get(manifest_or_queries).post(queries_by_form))
        .route("/reconcile/suggest/entity", get(suggest_entity))
        .route("/reconcile/preview", get(preview))
        .layer(cors)
}

/// An entity type: what OpenRefine shows and sends back as a query's `type`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntityType {
    id: &'static str,
    name: &'static str,
}

const TYPES: [(RecordKind, EntityType); 3] = [
    (
        RecordKind::Watchlist,
        EntityType { id: "watchlist", name: "Watchlist entity (forced labour, trafficking, debarment)" },
    ),
    (RecordKind::Suppliers, EntityType { id: "suppliers", name: "Supplier" }),
    (RecordKind::Agencies, EntityType { id: "agencies", name: "Recruitment agency" }),
];

fn entity_type(kind: RecordKind) -> EntityType {
    TYPES.iter().find(|(each, _)| *each == kind).map(|(_, found)| found.clone()).unwrap_or(TYPES[0].1.clone())
}

/// The service manifest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    versions: Vec<&'static str>,
    name: &'static str,
    identifier_space: String,
    schema_space: String,
    documentation: String,
    service_version: &'static str,
    default_types: Vec<EntityType>,
    view: UrlTemplate,
    preview: PreviewSettings,
    suggest: SuggestSettings,
    batch_size: usize,
    /// How the key is sent (an OpenAPI 2 security definition, as the specification says).
    #[schema(value_type = Object)]
    authentication: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UrlTemplate {
    url: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewSettings {
    url: String,
    width: u32,
    height: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestSettings {
    entity: SuggestService,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestService {
    service_url: String,
    service_path: &'static str,
}

/// The `queries` of a `GET /reconcile?queries=…`.
#[derive(Debug, Deserialize)]
pub struct ReconcileParams {
    queries: Option<String>,
}

/// The form of a `POST /reconcile`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReconcileForm {
    /// A JSON object of queries under keys the client chooses: `{"q0": {"query": "…",
    /// "type": "watchlist", "limit": 5, "properties": [{"pid": "country", "v": "PE"}]}}`.
    /// Properties: `country`, `tax_id`, `licence_number`.
    #[schema(min_length = 2)]
    queries: String,
}

/// One reconciliation query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconciliationQuery {
    query: Option<String>,
    #[serde(rename = "type")]
    types: Option<OneOrMany>,
    limit: Option<f64>,
    #[serde(default)]
    properties: Vec<PropertyValue>,
    #[allow(dead_code)]
    type_strict: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct PropertyValue {
    pid: String,
    v: serde_json::Value,
}

/// The candidates for one query.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryResult {
    result: Vec<Candidate>,
}

/// A reconciliation candidate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// `KIND/SOURCE/ENTITY_ID`.
    id: String,
    name: String,
    description: String,
    /// 0 to 100: the screening's score of the candidate, in percent.
    score: f64,
    /// Whether the candidate is the entity: a *strong* screening match, or the same
    /// licence number under a name that matches.
    #[serde(rename = "match")]
    is_match: bool,
    #[serde(rename = "type")]
    types: Vec<EntityType>,
    features: Vec<Feature>,
}

/// A matching feature: the name score, and each piece of evidence.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Feature {
    id: &'static str,
    value: FeatureValue,
}

/// A feature's value: a score or a yes/no.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FeatureValue {
    Score(f64),
    Flag(bool),
}

/// What `GET /reconcile` answers: the manifest, or the results of `queries`
/// (documentation of the answer).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ManifestOrResults {
    Manifest(Box<Manifest>),
    Results(BTreeMap<String, QueryResult>),
}

/// `GET /reconcile`: the manifest, or with `queries=` a batch of queries.
#[utoipa::path(get, path = "/reconcile", tag = "protocols", operation_id = "reconcile_manifest_or_queries",
    security((), ("api_key" = [])),
    params(("queries" = Option<String>, Query, min_length = 2, description = "A JSON object of queries (as the form field of `POST /reconcile`); without it, the manifest. Queries need a key")),
    responses((status = 200, description = "The service manifest (no key needed), or the candidates of each query, under the query's key", body = ManifestOrResults,
            headers(("X-Cadena-Dataset-Version" = i64, description = "With queries: the index version they were matched against"))),
        (status = 400, description = "`queries` is not a JSON object of reconciliation queries, or a query's type or property is unknown")))]
pub async fn manifest_or_queries(
    caller: Result<Caller, Error>,
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ReconcileParams>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(params) = params?;
    match params.queries {
        None => Ok(Json(manifest(&headers)).into_response()),
        Some(queries) => {
            caller?.require(EVERYONE)?;
            reconcile(&state, &queries).await
        }
    }
}

/// `POST /reconcile` with the form field `queries`: a batch of queries.
#[utoipa::path(post, path = "/reconcile", tag = "protocols", operation_id = "reconcile_queries", security(("api_key" = [])),
    request_body(content = ReconcileForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The candidates of each query, under the query's key, best first", body = BTreeMap<String, QueryResult>,
            headers(("X-Cadena-Dataset-Version" = i64, description = "The index version the queries were matched against"))),
        (status = 400, description = "`queries` is not a JSON object of reconciliation queries, or a query's type or property is unknown")))]
pub async fn queries_by_form(
    caller: Caller,
    State(state): State<AppState>,
    form: Result<Form<ReconcileForm>, FormRejection>,
) -> Result<Response, Error> {
    caller.require(EVERYONE)?;
    let Form(form) = form.map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    reconcile(&state, &form.queries).await
}

/// Where the service is, as the client reached it.
fn base_url(headers: &HeaderMap) -> String {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let host = text("x-forwarded-host").or_else(|| text("host")).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let scheme = text("x-forwarded-proto").filter(|proto| proto == "https").unwrap_or_else(|| "http".to_owned());
    format!("{scheme}://{host}")
}

fn manifest(headers: &HeaderMap) -> Manifest {
    let base = base_url(headers);
    Manifest {
        versions: vec!["0.2"],
        name: "cadena: watchlists, suppliers and recruitment agencies",
        identifier_space: format!("{base}/v1/records/"),
        schema_space: format!("{base}/reconcile/types/"),
        documentation: format!("{base}/openapi.json"),
        service_version: env!("CARGO_PKG_VERSION"),
        default_types: TYPES.iter().map(|(_, found)| found.clone()).collect(),
        view: UrlTemplate { url: format!("{base}/reconcile/preview?id={{{{id}}}}") },
        preview: PreviewSettings {
            url: format!("{base}/reconcile/preview?id={{{{id}}}}"),
            width: PREVIEW_WIDTH,
            height: PREVIEW_HEIGHT,
        },
        suggest: SuggestSettings {
            entity: SuggestService { service_url: base, service_path: "/reconcile/suggest/entity" },
        },
        batch_size: BATCH_SIZE,
        authentication: serde_json::json!({
            "type": "apiKey",
            "name": "X-Api-Key",
            "in": "header",
            "description": "A cadena API key (`cadena keys create`); `Authorization: Bearer <key>` works too",
        }),
    }
}

/// Runs a batch of queries: each as entity queries of its types, in one index view.
async fn reconcile(state: &AppState, text: &str) -> Result<Response, Error> {
    let queries: BTreeMap<String, ReconciliationQuery> = serde_json::from_str(text)
        .map_err(|err| Error::BadRequest(format!("queries: not a JSON object of reconciliation queries: {err}")))?;
    if queries.len() > MAX_QUERIES {
        return Err(Error::BadRequest(format!("queries: at most {MAX_QUERIES} in one batch, not {}", queries.len())));
    }
    // One entity query per query and type; `slots` says which query each belongs to.
    let mut entity_queries = Vec::new();
    let mut slots = Vec::new();
    let mut limits = BTreeMap::new();
    let mut licences = BTreeMap::new();
    for (key, query) in &queries {
        let (kinds, base, licence) = entity_query(key, query)?;
        limits.insert(key.clone(), base.limit);
        licences.insert(key.clone(), licence);
        for kind in kinds {
            entity_queries.push(EntityQuery { kind, ..base.clone() });
            slots.push(key.clone());
        }
    }
    let found = run_blocking(state, entity_queries).await?;
    let mut candidates: BTreeMap<String, Vec<Match>> = queries.keys().map(|key| (key.clone(), Vec::new())).collect();
    for (key, matches) in slots.into_iter().zip(found.results) {
        candidates.entry(key).or_default().extend(matches);
    }
    let thresholds = state.screening.matcher().thresholds();
    let mut results = BTreeMap::new();
    for (key, mut matches) in candidates {
        matches.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.entity.key().cmp(&b.entity.key())));
        matches.truncate(limits.get(&key).copied().unwrap_or(DEFAULT_LIMIT));
        let licence = licences.get(&key).cloned().flatten();
        let result = matches.iter().map(|found| candidate(found, licence.as_deref(), thresholds.possible)).collect();
        results.insert(key, QueryResult { result });
    }
    Ok(with_dataset_version(Json(results).into_response(), found.dataset_version))
}

/// A reconciliation query as entity queries: the kinds it asks for, and the evidence.
fn entity_query(
    key: &str,
    query: &ReconciliationQuery,
) -> Result<(Vec<RecordKind>, EntityQuery, Option<String>), Error> {
    let type_ids: Vec<&str> = match &query.types {
        None => vec!["watchlist"],
        Some(OneOrMany::One(id)) => vec![id.as_str()],
        Some(OneOrMany::Many(ids)) if ids.is_empty() => vec!["watchlist"],
        Some(OneOrMany::Many(ids)) => ids.iter().map(String::as_str).collect(),
    };
    let mut kinds = Vec::new();
    for id in type_ids {
        let Some((kind, _)) = TYPES.iter().find(|(_, found)| found.id == id) else {
            return Err(Error::BadRequest(format!(
                "{key}.type: {id:?} is not a type here (watchlist, suppliers, agencies)"
            )));
        };
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(limit) if (1.0..=SEARCH_MAX_LIMIT as f64).contains(&limit) => limit as usize,
        Some(limit) => {
            return Err(Error::BadRequest(format!(
                "{key}.limit must be between 1 and {SEARCH_MAX_LIMIT}, not {limit}"
            )));
        }
    };
    let name = query.query.clone().unwrap_or_default().trim().to_owned();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::BadRequest(format!("{key}.query: at most {MAX_NAME_CHARS} characters")));
    }
    let mut screening_query = ScreeningQuery { name, ..Default::default() };
    let mut licence_number = None;
    for property in &query.properties {
        let Some(value) = property_text(&property.v) else { continue };
        match property.pid.as_str() {
            "country" => {
                let country = parse_country(&value)
                    .map_err(|err| Error::BadRequest(format!("{key}.properties.country: {err}")))?;
                screening_query.country = Some(country);
            }
            "tax_id" => screening_query.tax_id = Some(value),
            "licence_number" => licence_number = Some(value),
            other => {
                return Err(Error::BadRequest(format!(
                    "{key}.properties: {other:?} is not a property here (country, tax_id, licence_number)"
                )));
            }
        }
    }
    if screening_query.name.is_empty() && screening_query.tax_id.is_none() && licence_number.is_none() {
        return Err(Error::BadRequest(format!("{key}: give a `query` or a tax_id or licence_number property")));
    }
    let entity_query =
        EntityQuery { kind: kinds[0], query: screening_query, licence_number: licence_number.clone(), limit };
    Ok((kinds, entity_query, licence_number))
}

/// A property value as text: a string, number or boolean, an entity's `id` (or
/// `name`), or the first of a list; none when empty.
fn property_text(value: &serde_json::Value) -> Option<String> {
    let text = match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::Bool(flag) => flag.to_string(),
        serde_json::Value::Object(entity) => {
            entity.get("id").or_else(|| entity.get("name")).and_then(|id| id.as_str()).unwrap_or_default().to_owned()
        }
        serde_json::Value::Array(values) => return values.iter().find_map(property_text),
        serde_json::Value::Null => String::new(),
    };
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn candidate(found: &Match, licence_number: Option<&str>, possible: f64) -> Candidate {
    let entity = &found.entity;
    let explanation = &found.explanation;
    let same_licence = licence_number.and_then(licence_number_key).is_some_and(|ours| {
        entity.licence_number.as_deref().and_then(licence_number_key).is_some_and(|theirs| theirs == ours)
    });
    let flag = |id, value| Feature { id, value: FeatureValue::Flag(value) };
    let mut features = vec![
        Feature { id: "name_score", value: FeatureValue::Score(round(explanation.name_score * 100.0)) },
        flag("same_tax_id", matches!(explanation.tax_id, TaxIdEvidence::Same { .. })),
        flag("different_tax_id", matches!(explanation.tax_id, TaxIdEvidence::Different { .. })),
        flag("country_mismatch", explanation.signals.contains(&Signal::CountryMismatch)),
    ];
    if licence_number.is_some() {
        features.push(flag("same_licence_number", same_licence));
    }
    let kind = RecordKind::parse(&entity.kind).unwrap_or(RecordKind::Watchlist);
    Candidate {
        id: EntityRef::of(entity),
        name: entity.names.first().cloned().unwrap_or_default(),
        description: description(found),
        score: round(found.score * 100.0),
        is_match: found.strength == Strength::Strong || (same_licence && explanation.name_score >= possible),
        types: vec![entity_type(kind)],
        features,
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// One line that tells namesakes apart: list or licence status, country, tax id, reason.
fn description(found: &Match) -> String {
    let entity = &found.entity;
    let mut parts: Vec<String> = Vec::new();
    parts.extend(entity.list.clone());
    parts.extend(entity.licence_status.as_ref().map(|status| format!("licence {status}")));
    parts.extend(entity.country.clone());
    parts.extend(entity.tax_id.as_ref().map(|tax_id| format!("tax id {tax_id}")));
    parts.extend(entity.reason.clone());
    parts.push(format!("source {}", entity.source));
    parts.join(" · ")
}

#[derive(Debug, Deserialize)]
pub struct SuggestParams {
    prefix: String,
    #[serde(rename = "type")]
    type_id: Option<String>,
    cursor: Option<usize>,
}

/// What entity suggest answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    result: Vec<Suggestion>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    id: String,
    name: String,
    description: String,
    notable: Vec<EntityType>,
}

/// How many suggestions one call gives.
const SUGGEST_PAGE: usize = 10;

/// `GET /reconcile/suggest/entity?prefix=…`: entities whose name starts like the prefix
/// (typos and missing accents tolerated), for OpenRefine's search box.
#[utoipa::path(get, path = "/reconcile/suggest/entity", tag = "protocols", operation_id = "reconcile_suggest_entity", security(("api_key" = [])),
    params(("prefix" = String, Query, max_length = 500, description = "What the user has typed"),
        ("type" = Option<ReconcileType>, Query, description = "Only entities of this type (default: all three)"),
        ("cursor" = Option<usize>, Query, minimum = 0, maximum = 190, description = "How many suggestions to skip (default 0)")),
    responses((status = 200, description = "Suggested entities, best first", body = Suggestions,
            headers(("X-Cadena-Dataset-Version" = i64, description = "The index version searched"))),
        (status = 400, description = "An unknown type, a prefix over 500 characters, or a cursor out of range")))]
pub async fn suggest_entity(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<SuggestParams>, QueryRejection>,
) -> Result<Response, Error> {
    caller.require(EVERYONE)?;
    let Query(params) = params?;
    let kinds: Vec<RecordKind> = match params.type_id.as_deref() {
        None => TYPES.iter().map(|(kind, _)| *kind).collect(),
        Some(id) => match TYPES.iter().find(|(_, found)| found.id == id) {
            Some((kind, _)) => vec![*kind],
            None => {
                return Err(Error::BadRequest(format!(
                    "type: {id:?} is not a type here (watchlist, suppliers, agencies)"
                )));
            }
        },
    };
    if params.prefix.chars().count() > MAX_NAME_CHARS {
        return Err(Error::BadRequest(format!("prefix: at most {MAX_NAME_CHARS} characters")));
    }
    let cursor = params.cursor.unwrap_or(0);
    if cursor > SEARCH_MAX_LIMIT - SUGGEST_PAGE {
        return Err(Error::BadRequest(format!(
            "cursor must be between 0 and {}, not {cursor}",
            SEARCH_MAX_LIMIT - SUGGEST_PAGE
        )));
    }
    let matcher = state.screening.matcher().clone();
    let prefix = params.prefix;
    let (version, found) = tokio::task::spawn_blocking(move || -> anyhow::Result<(i64, Vec<Match>)> {
        let view = matcher.index().view();
        let mut found = Vec::new();
        for kind in kinds {
            let search = SearchQuery {
                text: prefix.clone(),
                kind: Some(kind),
                limit: Some(cursor + SUGGEST_PAGE),
                ..Default::default()
            };
            found.extend(matcher.search_in(&view, &search)?);
        }
        Ok((view.version(), found))
    })
    .await
    .map_err(|err| Error::Internal(err.into()))??;
    let mut found = found;
    found.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.entity.key().cmp(&b.entity.key())));
    let result = found
        .iter()
        .skip(cursor)
        .take(SUGGEST_PAGE)
        .map(|found| Suggestion {
            id: EntityRef::of(&found.entity),
            name: found.entity.names.first().cloned().unwrap_or_default(),
            description: description(found),
            notable: vec![entity_type(RecordKind::parse(&found.entity.kind).unwrap_or(RecordKind::Watchlist))],
        })
        .collect();
    Ok(with_dataset_version(Json(Suggestions { result }).into_response(), version))
}

/// The reconciliation types (documentation of the `type` parameter).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ReconcileType {
    Watchlist,
    Suppliers,
    Agencies,
}

#[derive(Debug, Deserialize)]
pub struct PreviewParams {
    id: String,
}

/// The policy of the preview page: it loads nothing, and OpenRefine (any origin) may frame it.
pub const PREVIEW_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors *";

/// `GET /reconcile/preview?id=…`: a small HTML page about one entity, for OpenRefine's
/// iframe. A watchlist entity's preview needs no key (an iframe cannot send one, and
/// the lists are published); a supplier's or an agency's needs one.
#[utoipa::path(get, path = "/reconcile/preview", tag = "protocols", operation_id = "reconcile_preview",
    security((), ("api_key" = [])),
    params(("id" = String, Query, pattern = "^(watchlist|suppliers|agencies)/[^/]+/.+$", description = "The entity: `KIND/SOURCE/ENTITY_ID`")),
    responses((status = 200, description = "The entity's preview, an HTML fragment sized for OpenRefine's iframe", content_type = "text/html", body = String),
        (status = 400, description = "The id is not `KIND/SOURCE/ENTITY_ID`"),
        (status = 404, description = "No such entity")))]
pub async fn preview(
    caller: Result<Caller, Error>,
    State(state): State<AppState>,
    params: Result<Query<PreviewParams>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(params) = params?;
    let entity = EntityRef::parse(&params.id).map_err(Error::BadRequest)?;
    if entity.kind != RecordKind::Watchlist {
        caller?.require(EVERYONE)?;
    }
    let keys = [entity.entity_id.clone()];
    let store = &state.store;
    let rows: Vec<(&str, String)> = match entity.kind {
        RecordKind::Watchlist => pick(store.records_by_keys::<WatchlistEntry>(&keys).await?, &entity.source)
            .map(|entry| watchlist_rows(&entry))
            .unwrap_or_default(),
        RecordKind::Suppliers => pick(store.records_by_keys::<Supplier>(&keys).await?, &entity.source)
            .map(|supplier| supplier_rows(&supplier))
            .unwrap_or_default(),
        _ => pick(store.records_by_keys::<Agency>(&keys).await?, &entity.source)
            .map(|agency| agency_rows(&agency))
            .unwrap_or_default(),
    };
    if rows.is_empty() {
        return Err(Error::NotFound(format!("no entity {:?}", params.id)));
    }
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\
         <p><small>{} · {}</small></p><h1>{}</h1><dl>",
        escape(&rows[0].1),
        escape(entity_type(entity.kind).name),
        escape(&entity.source),
        escape(&rows[0].1),
    );
    for (label, value) in &rows[1..] {
        html.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(value)));
    }
    html.push_str("</dl></body></html>");
    let policy = HeaderValue::from_static(PREVIEW_CONTENT_SECURITY_POLICY);
    Ok(([(header::CONTENT_SECURITY_POLICY, policy)], Html(html)).into_response())
}

fn pick<R>(stored: Vec<StoredRecord<R>>, source: &str) -> Option<R> {
    stored.into_iter().find(|stored| stored.source == source).map(|stored| stored.record)
}

fn rows(pairs: Vec<(&'static str, Option<String>)>) -> Vec<(&'static str, String)> {
    pairs
        .into_iter()
        .filter_map(|(label, value)| value.filter(|value| !value.is_empty()).map(|value| (label, value)))
        .collect()
}

fn watchlist_rows(entry: &WatchlistEntry) -> Vec<(&'static str, String)> {
    rows(vec![
        ("name", Some(entry.name.clone())),
        ("List", entry.list.clone()),
        ("Also known as", Some(entry.aliases.join("; "))),
        ("Tax id", entry.tax_id.clone()),
        ("Country", entry.country.clone()),
        ("Why listed", entry.reason.clone()),
        ("Listed on", entry.listed_on.map(|date| date.to_string())),
        ("Source", entry.source_url.clone()),
    ])
}

fn supplier_rows(supplier: &Supplier) -> Vec<(&'static str, String)> {
    rows(vec![
        ("name", Some(supplier.name.clone())),
        ("Supplier id", Some(supplier.supplier_id.clone())),
        ("Also known as", Some(supplier.aliases.join("; "))),
        ("Tax id", supplier.tax_id.clone()),
        ("Country", supplier.country.clone()),
        ("Region", supplier.region.clone()),
        ("Sector", supplier.sector.clone()),
        ("Recruits through", Some(supplier.agency_ids.join(", "))),
    ])
}

fn agency_rows(agency: &Agency) -> Vec<(&'static str, String)> {
    rows(vec![
        ("name", Some(agency.name.clone())),
        ("Agency id", Some(agency.agency_id.clone())),
        ("Also known as", Some(agency.aliases.join("; "))),
        ("Tax id", agency.tax_id.clone()),
        ("Country", agency.country.clone()),
        ("Region", agency.region.clone()),
        ("Licence number", agency.licence_number.clone()),
        ("Licence status", agency.licence_status.clone()),
        ("Licence expires", agency.licence_expires.map(|date| date.to_string())),
    ])
}

/// Text as HTML text or attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
