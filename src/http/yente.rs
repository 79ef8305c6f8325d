//! yente-compatible matching: `POST /match/{dataset}` takes the body OpenSanctions'
//! yente takes (`{"queries": {"KEY": {"schema": "Company", "properties": {…}}}}`) and
//! answers in its shape (`responses.KEY.results[]` with `id`, `caption`, `schema`,
//! `properties`, `datasets`, `score`, `match`, `features`, `explanations`), so that a
//! client written for yente works when pointed at cadena. The matching is cadena's own:
//! the screening service's [`ScreeningService::match_entities`] against the watchlists,
//! in one index view whose version the answer names.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::entity_ref::EntityRef;
use super::extract::Path;
use super::{AppState, Caller, Error, SCREENERS};
use crate::matching::{
    Explanation, MAX_NAME_CHARS, Match, SEARCH_MAX_LIMIT, ScreeningQuery, TaxIdEvidence, Thresholds,
};
use crate::records::RecordKind;
use crate::records::fields::parse_country;
use crate::service::{EntityMatches, EntityQuery, ScreeningService};

/// The most queries one request may carry (yente's `MAX_BATCH`).
pub const MAX_QUERIES: usize = 100;
/// Results per query when the client does not say (yente's `MATCH_PAGE`).
pub const DEFAULT_LIMIT: usize = 5;
/// The lowest score returned at all when the client does not say (yente's `SCORE_CUTOFF`).
pub const DEFAULT_CUTOFF: f64 = 0.5;
/// The dataset name that selects every watchlist.
pub const ALL_DATASETS: &str = "default";

/// The answer's header naming the index version the queries were matched against.
pub const DATASET_VERSION_HEADER: &str = "x-cadena-dataset-version";

/// yente's `EntityMatchQuery`, with the options yente takes as query parameters
/// allowed in the body too.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MatchRequest {
    /// The entities to match, under keys the client chooses (1 to 100).
    queries: BTreeMap<String, EntityExample>,
    /// A result at or above this score has `match: true` (default: cadena's *possible* threshold, 0.80).
    #[schema(minimum = 0.0, maximum = 1.0)]
    threshold: Option<f64>,
    /// Results below this score are left out (default 0.5).
    #[schema(minimum = 0.0, maximum = 1.0)]
    cutoff: Option<f64>,
    /// Results per query (default 5).
    #[schema(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// Results with these ids (`watchlist/SOURCE/ENTITY_ID`) are left out.
    #[serde(default)]
    exclude_entity_ids: Vec<String>,
    /// yente's scoring weights; accepted for compatibility, not used (cadena's scoring is its own).
    #[serde(default)]
    #[allow(dead_code)]
    weights: BTreeMap<String, f64>,
}

/// An entity described as FollowTheMoney describes it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct EntityExample {
    /// The client's id for the entity, if any (echoed, not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// The FollowTheMoney schema, such as `Company`, `Organization`, `LegalEntity` or `Person`.
    #[schema(min_length = 1)]
    schema: String,
    /// Property values, one or a list each. cadena reads `name` (and `alias`,
    /// `previousName`, `weakAlias`), `country` (or `jurisdiction`, `nationality`,
    /// `mainCountry`), and an identifier from `taxNumber`, `vatCode`, `innCode`,
    /// `registrationNumber`, `idNumber` or `ogrnCode`; others are ignored.
    properties: BTreeMap<String, Values>,
}

/// A property's value, or list of values.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Values {
    One(String),
    Many(Vec<String>),
}

impl Values {
    fn iter(&self) -> impl Iterator<Item = &String> {
        match self {
            Values::One(value) => std::slice::from_ref(value).iter(),
            Values::Many(values) => values.iter(),
        }
    }
}

/// yente's query parameters.
#[derive(Debug, Deserialize)]
pub struct MatchParams {
    threshold: Option<f64>,
    cutoff: Option<f64>,
    limit: Option<usize>,
}

/// yente's `EntityMatchResponse`, with the index version cadena matched against.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchResponse {
    responses: BTreeMap<String, QueryMatches>,
    matcher: MatcherDescription,
    limit: usize,
    /// The store version of the index the queries were matched against.
    dataset_version: i64,
    /// How many versions the store was ahead of that index.
    index_lag: i64,
}

/// The results for one query.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryMatches {
    status: u16,
    results: Vec<ScoredEntity>,
    total: Total,
    query: EntityExample,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Total {
    value: usize,
    relation: &'static str,
}

/// One listed entity, as yente shows one, with its score.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScoredEntity {
    /// `watchlist/SOURCE/ENTITY_ID`.
    id: String,
    caption: String,
    /// Always `LegalEntity`: cadena's lists do not say whether an entry is a person or a company.
    schema: &'static str,
    /// `name`, `alias`, `country` (lower-case ISO 3166-1), `taxNumber`, `notes` (why it is listed), `program` (the list).
    properties: BTreeMap<String, Vec<String>>,
    /// The source the entity was loaded from.
    datasets: Vec<String>,
    referents: Vec<String>,
    target: bool,
    score: f64,
    /// Whether the score reaches the threshold.
    #[serde(rename = "match")]
    is_match: bool,
    /// The scores the final score was made from.
    features: BTreeMap<String, f64>,
    /// Why it matched: the names compared, the tax id and country evidence.
    explanations: Explanation,
}

/// What matched, as yente's `matcher` describes its algorithm.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatcherDescription {
    name: &'static str,
    description: &'static str,
    thresholds: Thresholds,
}

/// `POST /match/{dataset}`: yente's matching, against the watchlists.
#[utoipa::path(post, path = "/match/{dataset}", tag = "protocols", operation_id = "yente_match", security(("api_key" = [])),
    params(("dataset" = String, Path, description = "A watchlist's source or list name, or `default` for every watchlist"),
        ("threshold" = Option<f64>, Query, minimum = 0.0, maximum = 1.0, description = "As `threshold` in the body"),
        ("cutoff" = Option<f64>, Query, minimum = 0.0, maximum = 1.0, description = "As `cutoff` in the body"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 200, description = "As `limit` in the body")),
    request_body = MatchRequest,
    responses((status = 200, description = "For each query, the listed entities like it, best first; the header `X-Cadena-Dataset-Version` and `dataset_version` name the index version used",
            body = MatchResponse, headers(("X-Cadena-Dataset-Version" = i64, description = "The index version the queries were matched against"))),
        (status = 400, description = "No queries or too many, a query with neither a name nor an identifier, an unknown country, or an option out of range"),
        (status = 404, description = "No watchlist has that source or list name")))]
pub async fn match_entities(
    caller: Caller,
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    params: Result<Query<MatchParams>, QueryRejection>,
    body: Result<Json<MatchRequest>, JsonRejection>,
) -> Result<Response, Error> {
    caller.require(SCREENERS)?;
    let Query(params) = params?;
    let Json(request) = body?;
    let threshold = params.threshold.or(request.threshold).unwrap_or(state.screening.matcher().thresholds().possible);
    let cutoff = params.cutoff.or(request.cutoff).unwrap_or(DEFAULT_CUTOFF);
    let limit = params.limit.or(request.limit).unwrap_or(DEFAULT_LIMIT);
    for (name, value) in [("threshold", threshold), ("cutoff", cutoff)] {
        if !(0.0..=1.0).contains(&value) {
            return Err(Error::BadRequest(format!("{name} must be between 0 and 1, not {value}")));
        }
    }
    if !(1..=SEARCH_MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!("limit must be between 1 and {SEARCH_MAX_LIMIT}, not {limit}")));
    }
    if request.queries.is_empty() || request.queries.len() > MAX_QUERIES {
        return Err(Error::BadRequest(format!(
            "queries: give 1 to {MAX_QUERIES} queries, not {}",
            request.queries.len()
        )));
    }
    let dataset = Dataset::resolve(&state, &dataset).await?;
    // A filtered dataset is a part of what the index finds: look further, then filter.
    let candidates = if dataset == Dataset::All { limit } else { SEARCH_MAX_LIMIT };
    let mut queries = Vec::with_capacity(request.queries.len());
    for (key, example) in &request.queries {
        queries.push(entity_query(key, example, candidates)?);
    }
    let found = run_blocking(&state, queries).await?;
    let mut responses = BTreeMap::new();
    for ((key, example), matches) in request.queries.iter().zip(found.results) {
        let results: Vec<ScoredEntity> = matches
            .into_iter()
            .filter(|found| dataset.holds(found))
            .filter(|found| found.score >= cutoff)
            .map(|found| scored_entity(found, threshold))
            .filter(|scored| !request.exclude_entity_ids.contains(&scored.id))
            .take(limit)
            .collect();
        let total = Total { value: results.len(), relation: "eq" };
        responses.insert(key.clone(), QueryMatches { status: 200, results, total, query: example.clone() });
    }
    let answer = MatchResponse {
        responses,
        matcher: MatcherDescription {
            name: "cadena",
            description: "cadena's screening: candidates from the entity index, names compared word by word, tax id and country as qualifiers",
            thresholds: state.screening.matcher().thresholds(),
        },
        limit,
        dataset_version: found.dataset_version,
        index_lag: found.index_lag,
    };
    Ok(with_dataset_version(Json(answer).into_response(), found.dataset_version))
}

/// Runs entity queries off the async executor (matching is CPU-bound).
pub(super) async fn run_blocking(state: &AppState, queries: Vec<EntityQuery>) -> Result<EntityMatches, Error> {
    let service: std::sync::Arc<ScreeningService> = state.screening.clone();
    let found = tokio::task::spawn_blocking(move || service.match_entities(&queries))
        .await
        .map_err(|err| Error::Internal(err.into()))??;
    Ok(found)
}

/// Names on the response the index version it was matched against.
pub(super) fn with_dataset_version(mut response: Response, dataset_version: i64) -> Response {
    response.headers_mut().insert(DATASET_VERSION_HEADER, HeaderValue::from(dataset_version));
    response
}

/// Which watchlists a `/match/{dataset}` asks for.
#[derive(Debug, PartialEq)]
enum Dataset {
    All,
    /// A source (`--source`) or a list name (case aside).
    Named(String),
}

impl Dataset {
    async fn resolve(state: &AppState, name: &str) -> Result<Dataset, Error> {
        if name == ALL_DATASETS {
            return Ok(Dataset::All);
        }
        let lists = state.store.watchlist_lists().await?;
        let dataset = Dataset::Named(name.to_owned());
        if lists.iter().any(|(source, list)| dataset.names(source, list.as_deref())) {
            return Ok(dataset);
        }
        let mut known: Vec<String> = lists.iter().map(|(source, _)| source.clone()).collect();
        known.extend(lists.iter().filter_map(|(_, list)| list.clone()));
        known.sort();
        known.dedup();
        Err(Error::NotFound(format!(
            "no watchlist dataset {name:?}; use `default` or one of: {}",
            if known.is_empty() { "(none loaded)".to_owned() } else { known.join(", ") }
        )))
    }

    fn names(&self, source: &str, list: Option<&str>) -> bool {
        match self {
            Dataset::All => true,
            Dataset::Named(name) => source == name || list.is_some_and(|list| list.eq_ignore_ascii_case(name)),
        }
    }

    fn holds(&self, found: &Match) -> bool {
        self.names(&found.entity.source, found.entity.list.as_deref())
    }
}

const NAME_PROPERTIES: &[&str] = &["name"];
const ALIAS_PROPERTIES: &[&str] = &["alias", "previousName", "weakAlias"];
const COUNTRY_PROPERTIES: &[&str] = &["country", "jurisdiction", "nationality", "mainCountry"];
const ID_PROPERTIES: &[&str] = &["taxNumber", "vatCode", "innCode", "registrationNumber", "idNumber", "ogrnCode"];

/// A yente query as the screening service's entity query against the watchlists.
fn entity_query(key: &str, example: &EntityExample, limit: usize) -> Result<EntityQuery, Error> {
    let values = |properties: &[&str]| -> Vec<String> {
        properties
            .iter()
            .filter_map(|property| example.properties.get(*property))
            .flat_map(Values::iter)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .collect()
    };
    if example.schema.trim().is_empty() {
        return Err(Error::BadRequest(format!("queries.{key}.schema must not be empty")));
    }
    let mut names = values(NAME_PROPERTIES);
    names.extend(values(ALIAS_PROPERTIES));
    if let Some(long) = names.iter().find(|name| name.chars().count() > MAX_NAME_CHARS) {
        let start: String = long.chars().take(20).collect();
        return Err(Error::BadRequest(format!(
            "queries.{key}.properties: name {start:?}… is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    let tax_id = values(ID_PROPERTIES).into_iter().next();
    if names.is_empty() && tax_id.is_none() {
        return Err(Error::BadRequest(format!(
            "queries.{key}.properties: give a name or an identifier ({})",
            ID_PROPERTIES.join(", ")
        )));
    }
    let country = match values(COUNTRY_PROPERTIES).first() {
        None => None,
        Some(text) => Some(
            parse_country(text).map_err(|err| Error::BadRequest(format!("queries.{key}.properties.country: {err}")))?,
        ),
    };
    let mut names = names.into_iter();
    let query = ScreeningQuery { name: names.next().unwrap_or_default(), aliases: names.collect(), tax_id, country };
    Ok(EntityQuery { kind: RecordKind::Watchlist, query, licence_number: None, limit })
}

fn scored_entity(found: Match, threshold: f64) -> ScoredEntity {
    let entity = &found.entity;
    let mut properties: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut put = |property: &str, values: Vec<String>| {
        if !values.is_empty() {
            properties.insert(property.to_owned(), values);
        }
    };
    put("name", entity.names.iter().take(1).cloned().collect());
    put("alias", entity.names.iter().skip(1).cloned().collect());
    put("country", entity.country.iter().map(|country| country.to_lowercase()).collect());
    put("taxNumber", entity.tax_id.iter().cloned().collect());
    put("notes", entity.reason.iter().cloned().collect());
    put("program", entity.list.iter().cloned().collect());
    let explanation = &found.explanation;
    let mut features = BTreeMap::from([("name_score".to_owned(), explanation.name_score)]);
    if let TaxIdEvidence::Same { .. } = explanation.tax_id {
        features.insert("same_tax_id".to_owned(), 1.0);
    }
    if let TaxIdEvidence::Different { .. } = explanation.tax_id {
        features.insert("different_tax_id".to_owned(), 1.0);
    }
    if explanation.signals.contains(&crate::matching::Signal::CountryMismatch) {
        features.insert("country_mismatch".to_owned(), 1.0);
    }
    ScoredEntity {
        id: EntityRef::of(entity),
        caption: entity.names.first().cloned().unwrap_or_default(),
        schema: "LegalEntity",
        properties,
        datasets: vec![entity.source.clone()],
        referents: Vec::new(),
        target: true,
        score: found.score,
        is_match: found.score >= threshold,
        features,
        explanations: found.explanation,
    }
}
