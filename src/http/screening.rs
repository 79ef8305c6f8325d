//! Screening, search and what the service screens with: the rule set and the matching
//! thresholds.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{LangQuery, Path, RequestLang};
use super::{AppState, Caller, EVERYONE, Error, SCREENERS};
use crate::lang::Lang;
use crate::matching::{CANDIDATE_BUDGET, Match, SearchQuery, Thresholds};
use crate::records::{Agency, LicenceEntry, RecordKind, Supplier, WatchlistEntry};
use crate::rules::{ListInfo, RuleInfo};
use crate::service::{Reproduction, ScreeningRequest};
use crate::store::records::StoredRecord;
use crate::store::screenings::StoredScreening;

/// `POST /v1/screenings`: screens a supplier or a procurement and stores the screening.
#[utoipa::path(post, path = "/v1/screenings", tag = "screening", operation_id = "create_screening", security(("api_key" = [])),
    request_body = ScreeningRequest,
    params(LangQuery),
    responses((status = 201, description = "The screening, stored in the audit trail, with the index version and ruleset digest it used", body = StoredScreening),
        (status = 400, description = "Neither a supplier nor lines, an empty or over-long supplier name, too many lines, a body that is not a screening request, a `lang` cadena does not speak, or fields that cannot be read as their CSV cells would be (an unknown country, a date or number that is none, an unknown field): `fields` names each, with its value")))]
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    RequestLang(lang): RequestLang,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<StoredScreening>), Error> {
    caller.require(SCREENERS)?;
    let Json(body) = body?;
    let mut request = ScreeningRequest::parse(body).map_err(Error::InvalidFields)?;
    request.lang = request.lang.or(lang);
    if let Some(problem) = request.problem() {
        return Err(Error::BadRequest(problem));
    }
    let stored = state.screening.screen(&request, Some(caller.key_id)).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `GET /v1/screenings/{id}`: a stored screening, as asked and as answered.
#[utoipa::path(get, path = "/v1/screenings/{id}", tag = "screening", operation_id = "get_screening", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The screening")),
    responses((status = 200, description = "The stored screening: input, result, key, time, dataset version, ruleset digest", body = StoredScreening),
        (status = 400), (status = 404, description = "No such screening")))]
pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<StoredScreening>, Error> {
    caller.require(SCREENERS)?;
    let stored = state.store.get_screening(id).await?.ok_or_else(|| Error::NotFound(format!("no screening {id}")))?;
    Ok(Json(stored))
}

/// `GET /v1/screenings/{id}/reproduction`: re-runs a stored screening now and says
/// whether the result is identical.
#[utoipa::path(get, path = "/v1/screenings/{id}/reproduction", tag = "screening", operation_id = "reproduce_screening", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The screening")),
    responses((status = 200, description = "The screening run again now, and whether the result is identical", body = Reproduction),
        (status = 400), (status = 404, description = "No such screening")))]
pub async fn reproduce(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Reproduction>, Error> {
    caller.require(SCREENERS)?;
    let stored = state.store.get_screening(id).await?.ok_or_else(|| Error::NotFound(format!("no screening {id}")))?;
    Ok(Json(state.screening.reproduce(&stored).await?))
}

/// What a search may look for (documentation of the `kind` parameter).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SearchKind {
    Agencies,
    Suppliers,
    Watchlist,
}

/// The kinds of record looked up by id (documentation of the `kind` path parameter).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RecordLookupKind {
    Watchlist,
    Suppliers,
    Agencies,
    Licences,
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: String,
    kind: Option<String>,
    country: Option<String>,
    region: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/search?q=…`: agencies (or `kind=suppliers|watchlist`) by name, tax id or licence number.
#[utoipa::path(get, path = "/v1/search", tag = "screening", operation_id = "search", security(("api_key" = [])),
    params(("q" = String, Query, max_length = 500, description = "A name or part of one, a tax id or a licence number"),
        ("kind" = Option<SearchKind>, Query, description = "What to search (default agencies)"),
        ("country" = Option<String>, Query, description = "Only this country: an ISO 3166-1 code or an English, Spanish or Portuguese name"),
        ("region" = Option<String>, Query, description = "Only this region, as written or as an ISO 3166-2 code"),
        ("status" = Option<String>, Query, description = "Only this licence status (licensed, suspended, revoked, expired, unlicensed, or their Spanish and Portuguese words)"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 200, description = "How many results (default 20)")),
    responses((status = 200, description = "The entities found, best first, each with its explanation", body = Vec<Match>),
        (status = 400, description = "An unknown kind, country or licence status, or a limit out of range")))]
pub async fn search(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Vec<Match>>, Error> {
    caller.require(EVERYONE)?;
    let Query(params) = params?;
    let kind = match params.kind.as_deref() {
        None => None,
        Some(text) => match RecordKind::parse(text) {
            Some(kind @ (RecordKind::Agencies | RecordKind::Suppliers | RecordKind::Watchlist)) => Some(kind),
            _ => return Err(Error::BadRequest(format!("kind must be agencies, suppliers or watchlist, not {text:?}"))),
        },
    };
    let query = SearchQuery::from_user(
        params.q,
        kind,
        params.country,
        params.region,
        params.status,
        params.limit.unwrap_or(20),
    )
    .map_err(Error::BadRequest)?;
    Ok(Json(state.screening.matcher().search(&query)?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulesetDescription {
    version: String,
    digest: String,
    /// The language of the rules' titles, actions and questions.
    lang: Lang,
    rules: Vec<RuleInfo>,
    lists: Vec<ListInfo>,
}

/// `GET /v1/ruleset`: the rules screenings are scored with.
#[utoipa::path(get, path = "/v1/ruleset", tag = "screening", operation_id = "get_ruleset", security(("api_key" = [])),
    params(LangQuery),
    responses((status = 200, description = "The rules' version, digest, rules (with legal basis and action, in the language asked for) and lists", body = RulesetDescription),
        (status = 400, description = "A `lang` cadena does not speak")))]
pub async fn ruleset(
    caller: Caller,
    State(state): State<AppState>,
    RequestLang(lang): RequestLang,
) -> Result<Json<RulesetDescription>, Error> {
    caller.require(EVERYONE)?;
    let ruleset = state.screening.ruleset();
    let lang = lang.unwrap_or_default();
    Ok(Json(RulesetDescription {
        version: ruleset.version().to_owned(),
        digest: ruleset.digest().to_owned(),
        lang,
        rules: ruleset.rules(lang),
        lists: ruleset.lists(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchingDescription {
    thresholds: Thresholds,
    candidate_budget: usize,
    indexed_entities: u64,
}

/// `GET /v1/matching`: the match thresholds and the size of the index.
#[utoipa::path(get, path = "/v1/matching", tag = "screening", operation_id = "get_matching", security(("api_key" = [])),
    responses((status = 200, description = "The match thresholds, candidate budget and index size", body = MatchingDescription)))]
pub async fn matching(caller: Caller, State(state): State<AppState>) -> Result<Json<MatchingDescription>, Error> {
    caller.require(EVERYONE)?;
    let matcher = state.screening.matcher();
    Ok(Json(MatchingDescription {
        thresholds: matcher.thresholds(),
        candidate_budget: CANDIDATE_BUDGET,
        indexed_entities: matcher.index().len(),
    }))
}

/// One record as stored, with its source.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SourcedRecord {
    source: String,
    /// The record's fields, as in the CSV formats.
    #[schema(value_type = Object)]
    record: serde_json::Value,
}

/// `GET /v1/records/{kind}/{id}`: a watchlist entry, supplier, agency or licence by its
/// id, from every source that has it.
#[utoipa::path(get, path = "/v1/records/{kind}/{id}", tag = "screening", operation_id = "get_record", security(("api_key" = [])),
    params(("kind" = RecordLookupKind, Path, description = "The record's kind"), ("id" = String, Path, description = "Its id in its source")),
    responses((status = 200, description = "The record from every source that has it", body = Vec<SourcedRecord>),
        (status = 400, description = "A kind that cannot be looked up by id"), (status = 404, description = "No record of that kind has that id")))]
pub async fn record(
    caller: Caller,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Vec<SourcedRecord>>, Error> {
    caller.require(EVERYONE)?;
    let keys = [id.clone()];
    let store = &state.store;
    let found: Vec<SourcedRecord> = match RecordKind::parse(&kind) {
        Some(RecordKind::Watchlist) => sourced(store.records_by_keys::<WatchlistEntry>(&keys).await?),
        Some(RecordKind::Suppliers) => sourced(store.records_by_keys::<Supplier>(&keys).await?),
        Some(RecordKind::Agencies) => sourced(store.records_by_keys::<Agency>(&keys).await?),
        Some(RecordKind::Licences) => sourced(store.records_by_keys::<LicenceEntry>(&keys).await?),
        _ => {
            return Err(Error::BadRequest(format!(
                "kind must be watchlist, suppliers, agencies or licences, not {kind:?}"
            )));
        }
    };
    if found.is_empty() {
        return Err(Error::NotFound(format!("no {kind} record {id:?}")));
    }
    Ok(Json(found))
}

/// `GET /v1/agencies/{id}/suppliers`: the suppliers that name the agency among the
/// agencies they recruit through, from every source.
#[utoipa::path(get, path = "/v1/agencies/{id}/suppliers", tag = "screening", operation_id = "list_agency_suppliers", security(("api_key" = [])),
    params(("id" = String, Path, description = "The agency's id")),
    responses((status = 200, description = "The suppliers that recruit through the agency (none when it is unknown)", body = Vec<SourcedRecord>)))]
pub async fn agency_suppliers(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SourcedRecord>>, Error> {
    caller.require(EVERYONE)?;
    Ok(Json(sourced(state.store.suppliers_of_agency(&id).await?)))
}

fn sourced<R: serde::Serialize>(stored: Vec<StoredRecord<R>>) -> Vec<SourcedRecord> {
    stored
        .into_iter()
        .map(|stored| SourcedRecord {
            source: stored.source,
            record: serde_json::to_value(&stored.record).unwrap_or(serde_json::Value::Null),
        })
        .collect()
}
