//! The screening service behind the HTTP API: screens a supplier or a procurement,
//! caches results, and keeps every screening in the audit trail.
//!
//! A result depends only on the request, the version of the index it was matched
//! against (the store version that index reflects), the ruleset digest and the reviewers'
//! decisions in force on the supplier's matches, so those four make the cache key: an
//! index that caught up with a new load, a rule change or a new (or withdrawn) decision
//! can never serve a stale result, and a stored screening re-run against the same version
//! and digest, with the decisions it applied, gives the same result. A screening takes one view of the index and does all its
//! searches in it, so the version it names is the one it really used.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::decisions::{Decisions, DismissedMatch, ReviewedMatch};
use crate::indexer::IndexStatus;
use crate::lang::Lang;
use crate::matching::index::IndexView;
use crate::matching::index::IndexedEntity;
use crate::matching::{Match, Matcher, ScreeningQuery, SearchQuery};
use crate::records::{Agency, ProcurementLine, RecordKind, Supplier};
use crate::rules::{Assessment, Ruleset};
use crate::screening::{Context, Input, Screener};
use crate::store::Store;
use crate::store::screenings::{NewScreening, StoredScreening};

/// How many bytes of screening results the cache keeps by default (`serve --cache-mib`).
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A request to screen a supplier (`supplier` alone) or a procurement (`lines`, with
/// the supplier if known). Agencies given here are used as given; the others the lines
/// and the supplier name (`agency_ids`) are read from the store with their licences.
/// A body from a client is read with [`ScreeningRequest::parse`] (`request`), which
/// reads each field as its CSV cell; the serde derives read and write stored inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreeningRequest {
    pub supplier: Option<Supplier>,
    /// Procurement lines, at most [`MAX_LINES`].
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub lines: Vec<ProcurementLine>,
    #[serde(default)]
    pub agencies: Vec<Agency>,
    /// The language of the assessments' texts (titles, actions, questions, evidence).
    /// Not given: the `lang` query parameter, else the `Accept-Language` header, else English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
}

impl ScreeningRequest {
    /// `supplier` or `procurement`.
    pub fn kind(&self) -> &'static str {
        if self.lines.is_empty() { "supplier" } else { "procurement" }
    }

    /// What is wrong with the request, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.supplier.is_none() && self.lines.is_empty() {
            return Some("give a `supplier`, or procurement `lines` (with the `supplier` if known)".to_owned());
        }
        if let Some(supplier) = &self.supplier
            && supplier.name.trim().is_empty()
        {
            return Some("supplier.name must not be empty".to_owned());
        }
        if let Some(supplier) = &self.supplier
            && supplier.name.chars().count() > crate::matching::MAX_NAME_CHARS
        {
            return Some(format!("supplier.name: at most {} characters", crate::matching::MAX_NAME_CHARS));
        }
        if self.lines.len() > MAX_LINES {
            return Some(format!("at most {MAX_LINES} lines per screening; use a batch audit for more"));
        }
        None
    }
}

/// The most procurement lines one screening request may carry.
pub const MAX_LINES: usize = 1_000;

/// The assessment of one procurement line (or of the supplier alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineAssessment {
    /// `procurement_id/line_id`, or `None` for a supplier screening.
    pub line: Option<String>,
    pub assessment: Assessment,
}

/// What a screening found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScreeningResult {
    /// The supplier's watchlist matches that count, best first, each with its
    /// explanation (and, when reviewed, the decision or the reopened one).
    pub matches: Vec<ReviewedMatch>,
    /// The supplier's matches that a reviewer's false-positive decision dismissed (the
    /// rules did not count them), each with its decision.
    #[serde(default)]
    pub dismissed: Vec<DismissedMatch>,
    pub assessments: Vec<LineAssessment>,
}

/// The result of re-running a stored screening.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reproduction {
    pub screening_id: i64,
    /// The index version and ruleset digest now, and whether they are the stored ones.
    pub dataset_version: i64,
    pub ruleset_digest: String,
    pub same_dataset_version: bool,
    pub same_ruleset_digest: bool,
    /// Whether the result now is exactly the stored one.
    pub identical: bool,
    pub result: ScreeningResult,
}

/// Screening with its matcher, rules and cache.
pub struct ScreeningService {
    store: Store,
    matcher: Arc<Matcher>,
    ruleset: Arc<Ruleset>,
    /// Where the index stands against the store, from the indexer.
    index_status: watch::Receiver<IndexStatus>,
    /// Results as stored (JSON), so that a hit costs no serialisation.
    cache: Cache<String, Arc<serde_json::Value>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl ScreeningService {
    pub fn new(
        store: Store,
        matcher: Arc<Matcher>,
        ruleset: Arc<Ruleset>,
        index_status: watch::Receiver<IndexStatus>,
    ) -> ScreeningService {
        ScreeningService {
            store,
            matcher,
            ruleset,
            index_status,
            cache: weighed_cache(DEFAULT_CACHE_BYTES),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        }
    }

    pub fn matcher(&self) -> &Arc<Matcher> {
        &self.matcher
    }

    pub fn ruleset(&self) -> &Arc<Ruleset> {
        &self.ruleset
    }

    /// Where the index stands against the store now.
    pub fn index_status(&self) -> IndexStatus {
        *self.index_status.borrow()
    }

    /// Where the index stands, changing as the indexer works.
    pub fn subscribe_index_status(&self) -> watch::Receiver<IndexStatus> {
        self.index_status.clone()
    }

    /// The same service with a cache of `bytes` (the size of the results it holds,
    /// estimated from their JSON; 0 turns the cache off).
    pub fn with_cache_bytes(mut self, bytes: u64) -> ScreeningService {
        self.cache = weighed_cache(bytes);
        self
    }

    /// How many bytes of results the cache holds (as weighed), once pending work is done.
    pub fn cache_bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    /// Screenings answered from the cache, and computed, so far.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.cache_hits.load(Ordering::Relaxed), self.cache_misses.load(Ordering::Relaxed))
    }

    /// How many results the cache holds.
    pub fn cache_entries(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Screens a request and stores it in the audit trail under `key_id`.
    pub async fn screen(&self, request: &ScreeningRequest, key_id: Option<i64>) -> anyhow::Result<StoredScreening> {
        let view = self.matcher.index().view();
        let dataset_version = view.version();
        let index_lag = (self.index_status().store_version - dataset_version).max(0);
        let digest = self.ruleset.digest().to_owned();
        let input = Arc::new(serde_json::to_value(request)?);
        let decisions = self.store.decisions_in_force(&supplier_ids(request)).await?;
        let decision_ids = decisions.ids();
        let cache_key = cache_key(&input, dataset_version, &digest, &decision_ids);
        let result = match self.cache.get(&cache_key) {
            Some(result) => {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                result
            }
            None => {
                self.cache_misses.fetch_add(1, Ordering::Relaxed);
                let result = Arc::new(serde_json::to_value(self.compute(&view, request, decisions).await?)?);
                self.cache.insert(cache_key, result.clone());
                result
            }
        };
        let new = NewScreening {
            kind: request.kind(),
            input: &input,
            result: &result,
            key_id,
            dataset_version,
            index_lag,
            ruleset_digest: &digest,
            decision_ids: &decision_ids,
        };
        Ok(self.store.insert_screening(&new).await?)
    }

    /// Re-runs a stored screening now, without the cache, with the decisions it applied
    /// (withdrawn or superseded since or not), and compares.
    pub async fn reproduce(&self, stored: &StoredScreening) -> anyhow::Result<Reproduction> {
        let request = ScreeningRequest::deserialize(&*stored.input)?;
        let view = self.matcher.index().view();
        let dataset_version = view.version();
        let decisions = self.store.decisions_by_ids(&stored.decision_ids).await?;
        let result = self.compute(&view, &request, decisions).await?;
        let identical = serde_json::to_value(&result)? == *stored.result;
        Ok(Reproduction {
            screening_id: stored.id,
            dataset_version,
            ruleset_digest: self.ruleset.digest().to_owned(),
            same_dataset_version: dataset_version == stored.dataset_version,
            same_ruleset_digest: self.ruleset.digest() == stored.ruleset_digest,
            identical,
            result,
        })
    }

    async fn compute(
        &self,
        view: &IndexView,
        request: &ScreeningRequest,
        decisions: Decisions,
    ) -> anyhow::Result<ScreeningResult> {
        let supplier_ids: Vec<String> = request.lines.iter().filter_map(|line| line.supplier_id.clone()).collect();
        let agency_ids: Vec<String> = request
            .lines
            .iter()
            .flat_map(|line| line.agency_ids.iter().cloned())
            .chain(request.supplier.iter().flat_map(|supplier| supplier.agency_ids.iter().cloned()))
            .collect();
        let mut context = Context::load(&self.store, &supplier_ids, &agency_ids).await?;
        context.decisions = decisions;
        add_request_records(&mut context, request);
        let screener = Screener {
            matcher: &self.matcher,
            view,
            ruleset: &self.ruleset,
            context: &context,
            lang: request.lang.unwrap_or_default(),
        };
        screen_request(&screener, request)
    }
}

/// Who to look for among the indexed entities of one kind, with the evidence a client
/// of another protocol (yente's `/match`, OpenRefine's reconciliation) gives.
#[derive(Debug, Clone)]
pub struct EntityQuery {
    /// Watchlist entries, suppliers or agencies.
    pub kind: RecordKind,
    /// Name (and aliases), tax id and country, as a screening compares them.
    pub query: ScreeningQuery,
    /// A licence number, which finds an agency by its licence.
    pub licence_number: Option<String>,
    /// How many candidates to return at most.
    pub limit: usize,
}

/// What a batch of entity queries found, all in one index view.
#[derive(Debug, Clone)]
pub struct EntityMatches {
    /// The store version of the index the queries were matched against.
    pub dataset_version: i64,
    /// How many versions the store was ahead of that index.
    pub index_lag: i64,
    /// Per query, in order: the candidates, best first, each scored as a screening
    /// scores it (below the *possible* threshold too, as candidates to review).
    pub results: Vec<Vec<Match>>,
}

impl ScreeningService {
    /// Matches entity queries in one view of the index. Candidates come from the
    /// screening search (watchlist entries) and from the name, tax-id and licence
    /// search of the kind; each is scored with [`Matcher::compare`], the screening's own
    /// scoring, so a candidate's score and strength are what a screening would give it.
    pub fn match_entities(&self, queries: &[EntityQuery]) -> anyhow::Result<EntityMatches> {
        let view = self.matcher.index().view();
        let dataset_version = view.version();
        let index_lag = (self.index_status().store_version - dataset_version).max(0);
        let mut results = Vec::with_capacity(queries.len());
        for entity_query in queries {
            results.push(self.match_entity(&view, entity_query)?);
        }
        Ok(EntityMatches { dataset_version, index_lag, results })
    }

    fn match_entity(&self, view: &IndexView, entity_query: &EntityQuery) -> anyhow::Result<Vec<Match>> {
        let query = &entity_query.query;
        let limit = entity_query.limit.clamp(1, crate::matching::SEARCH_MAX_LIMIT);
        let mut candidates: HashMap<String, IndexedEntity> = HashMap::new();
        if entity_query.kind == RecordKind::Watchlist && !query.name.trim().is_empty() {
            for found in self.matcher.screen_in(view, query)? {
                candidates.insert(found.entity.key(), found.entity);
            }
        }
        let texts = std::iter::once(&query.name)
            .chain(&query.aliases)
            .chain(&query.tax_id)
            .chain(&entity_query.licence_number)
            .filter(|text| !text.trim().is_empty());
        for text in texts {
            let search = SearchQuery {
                text: text.clone(),
                kind: Some(entity_query.kind),
                limit: Some(limit),
                ..Default::default()
            };
            for found in self.matcher.search_in(view, &search)? {
                candidates.entry(found.entity.key()).or_insert(found.entity);
            }
        }
        let mut matches: Vec<Match> =
            candidates.into_values().map(|entity| self.matcher.compare(query, entity)).collect();
        matches.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.entity.key().cmp(&b.entity.key())));
        matches.truncate(limit);
        Ok(matches)
    }
}

/// Screens a request with the records it refers to already in the screener's context:
/// the supplier is matched once, and each line assessed with the matches of its supplier.
pub fn screen_request(screener: &Screener, request: &ScreeningRequest) -> anyhow::Result<ScreeningResult> {
    let supplier_input = match (&request.supplier, request.lines.first()) {
        (Some(supplier), _) => Input::Supplier(supplier.clone()),
        (None, Some(line)) => Input::Line(line.clone()),
        (None, None) => anyhow::bail!("a screening needs a supplier or procurement lines"),
    };
    let review = screener.review(&supplier_input)?;
    let counted = review.counted();
    if request.lines.is_empty() {
        let assessment = screener.assess(&supplier_input, &counted);
        let assessments = vec![LineAssessment { line: None, assessment }];
        return Ok(ScreeningResult { matches: review.matches, dismissed: review.dismissed, assessments });
    }
    // Lines of one supplier share its matches: each supplier is matched (and its
    // matches reviewed) once.
    type Key = (Option<ScreeningQuery>, Option<String>);
    let key_of = |input: &Input| -> Key {
        (screener.matching_query(input), crate::screening::supplier_id(input).map(str::to_owned))
    };
    let mut matches_of: HashMap<Key, Vec<Match>> = HashMap::new();
    matches_of.insert(key_of(&supplier_input), counted);
    let mut assessments = Vec::with_capacity(request.lines.len());
    for line in &request.lines {
        let mut line = line.clone();
        if line.supplier_id.is_none() {
            line.supplier_id = request.supplier.as_ref().map(|supplier| supplier.supplier_id.clone());
        }
        let label = format!("{}/{}", line.procurement_id, line.line_id);
        let input = Input::Line(line);
        let key = key_of(&input);
        let line_matches = match matches_of.get(&key) {
            Some(found) => found.clone(),
            None => {
                let found = screener.review(&input)?.counted();
                matches_of.insert(key, found.clone());
                found
            }
        };
        assessments.push(LineAssessment { line: Some(label), assessment: screener.assess(&input, &line_matches) });
    }
    Ok(ScreeningResult { matches: review.matches, dismissed: review.dismissed, assessments })
}

/// The supplier ids whose decisions a request's screening honours: its supplier's and
/// its lines' suppliers'.
fn supplier_ids(request: &ScreeningRequest) -> Vec<String> {
    let mut ids: Vec<String> = request
        .supplier
        .iter()
        .map(|supplier| supplier.supplier_id.clone())
        .chain(request.lines.iter().filter_map(|line| line.supplier_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Puts the records a request carries into the context, over those from the store.
pub fn add_request_records(context: &mut Context, request: &ScreeningRequest) {
    for agency in &request.agencies {
        context.agencies.insert(agency.agency_id.clone(), agency.clone());
    }
    if let Some(supplier) = &request.supplier {
        context.suppliers.insert(supplier.supplier_id.clone(), supplier.clone());
    }
}

/// A cache of results bounded by their size in bytes, not their number: a screening of
/// a thousand procurement lines weighs as much as a thousand small ones.
fn weighed_cache(bytes: u64) -> Cache<String, Arc<serde_json::Value>> {
    Cache::builder()
        .max_capacity(bytes)
        .weigher(|key: &String, result: &Arc<serde_json::Value>| {
            u32::try_from(key.len() + json_bytes(result)).unwrap_or(u32::MAX)
        })
        .build()
}

/// About how many bytes a JSON value takes in memory: its text, plus the bookkeeping
/// of each node.
fn json_bytes(value: &serde_json::Value) -> usize {
    const NODE: usize = std::mem::size_of::<serde_json::Value>();
    NODE + match value {
        serde_json::Value::String(text) => text.len(),
        serde_json::Value::Array(items) => items.iter().map(json_bytes).sum(),
        serde_json::Value::Object(fields) => {
            fields.iter().map(|(key, value)| key.len() + NODE + json_bytes(value)).sum()
        }
        _ => 0,
    }
}

fn cache_key(input: &serde_json::Value, dataset_version: i64, digest: &str, decision_ids: &[i64]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(input.to_string().as_bytes());
    hasher.update(dataset_version.to_le_bytes());
    hasher.update(digest.as_bytes());
    for id in decision_ids {
        hasher.update(id.to_le_bytes());
    }
    hex::encode(hasher.finalize())
}
