//! Entity matching: who on a watchlist is, or looks like, the supplier or agency screened.
//!
//! - [`normalize`] turns a raw name into classified words;
//! - [`score`] compares two normalised names and explains the comparison;
//! - [`index`] is the tantivy index that finds candidates among all loaded entities;
//! - [`Matcher`] puts them together: candidates from the index, rescored name by name,
//!   with tax id and country as qualifiers, against two thresholds;
//! - [`evaluation`] holds the shared quality set-ups used by tests and benchmarks.

pub mod evaluation;
pub mod index;
pub mod normalize;
pub mod score;

use serde::{Deserialize, Serialize};

use self::index::{CandidateQuery, EntityIndex, Filters, IndexView, IndexedEntity, licence_number_key};
use self::normalize::{NamePart, NormalizedName, Reading, readings};
use self::score::{NameComparison, WordPair, compare};
use crate::records::RecordKind;
use crate::records::fields::{self, tax_id_key};
use crate::taxid::{self, TaxIdCheck};

/// The score at or above which a match is *strong*: act on it.
pub const DEFAULT_STRONG_THRESHOLD: f64 = 0.92;
/// The score at or above which a match is *possible*: an officer should look at it.
/// Chosen on the PATSTAT screening benchmark (see the README's matching section).
pub const DEFAULT_POSSIBLE_THRESHOLD: f64 = 0.80;

/// How many candidates the index returns for rescoring.
pub const CANDIDATE_BUDGET: usize = 24;

/// How much a name score keeps when both sides have valid, different tax ids.
const DIFFERENT_TAX_ID_FACTOR: f64 = 0.9;
/// How much a name score keeps when both countries are known and differ.
const COUNTRY_MISMATCH_FACTOR: f64 = 0.9;

/// The two match thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Thresholds {
    pub strong: f64,
    pub possible: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { strong: DEFAULT_STRONG_THRESHOLD, possible: DEFAULT_POSSIBLE_THRESHOLD }
    }
}

/// How strong a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    None,
    Possible,
    Strong,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::None => "none",
            Strength::Possible => "possible",
            Strength::Strong => "strong",
        }
    }
}

/// Who is being screened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScreeningQuery {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub tax_id: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

/// What the tax ids of the two sides say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaxIdEvidence {
    /// One side or both have no tax id.
    NotCompared,
    /// Both sides carry the same id; `valid` tells whether it passed its country's check.
    Same { tax_id: String, valid: Option<bool>, scheme: Option<String> },
    /// The ids differ.
    Different { query: String, listed: String },
}

/// A fact about the match worth showing on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The same valid tax id: strong evidence whatever the names say.
    SameTaxId,
    /// The same tax id under a name that does not match.
    SameTaxIdDifferentName,
    /// A matching name with a different tax id.
    SameNameDifferentTaxId,
    /// The query's tax id fails its country's check (kept, and compared as written).
    #[serde(rename = "invalid_tax_id")]
    InvalidQueryTaxId,
    /// Both countries are known and differ.
    CountryMismatch,
}

impl Signal {
    /// The signal's name, as in JSON and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::SameTaxId => "same_tax_id",
            Signal::SameTaxIdDifferentName => "same_tax_id_different_name",
            Signal::SameNameDifferentTaxId => "same_name_different_tax_id",
            Signal::InvalidQueryTaxId => "invalid_tax_id",
            Signal::CountryMismatch => "country_mismatch",
        }
    }
}

/// Why an entity matched, in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    /// The query name (or alias) that matched best.
    pub query_name: String,
    /// Which part of the query name matched: the whole name, or the name without its
    /// words in parentheses, or those words alone, when they are another name of it.
    #[serde(default)]
    pub query_part: NamePart,
    /// The listed name (or alias) it matched.
    pub matched_name: String,
    /// Which part of the listed name matched.
    #[serde(default)]
    pub matched_part: NamePart,
    pub name_score: f64,
    pub word_pairs: Vec<WordPair>,
    pub unmatched_query_words: Vec<String>,
    pub unmatched_listed_words: Vec<String>,
    pub tax_id: TaxIdEvidence,
    pub query_country: Option<String>,
    pub listed_country: Option<String>,
    pub signals: Vec<Signal>,
    pub score: f64,
}

/// One entity found for a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Match {
    pub entity: IndexedEntity,
    pub score: f64,
    pub strength: Strength,
    pub explanation: Explanation,
}

/// Screening and search over the entity index.
pub struct Matcher {
    index: EntityIndex,
    thresholds: Thresholds,
}

/// An agency (or any entity) search as an inspector types it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchQuery {
    /// A name or part of one, a tax id or a licence number.
    pub text: String,
    pub kind: Option<RecordKind>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub licence_status: Option<String>,
    pub limit: Option<usize>,
}

impl SearchQuery {
    /// Builds a search from what a user typed, reading country, region and licence
    /// status as the CSV files do ("Perú", "Madre de Dios", "vigente").
    pub fn from_user(
        text: String,
        kind: Option<RecordKind>,
        country: Option<String>,
        region: Option<String>,
        status: Option<String>,
        limit: usize,
    ) -> Result<SearchQuery, String> {
        let country = country
            .filter(|cell| !cell.trim().is_empty())
            .map(|cell| fields::parse_country(&cell))
            .transpose()
            .map_err(|err| format!("country: {err}"))?;
        let region = region.filter(|cell| !cell.trim().is_empty()).map(|cell| {
            fields::region_code(country.as_deref(), &cell).unwrap_or_else(|| cell.trim().to_ascii_uppercase())
        });
        let licence_status = status
            .filter(|cell| !cell.trim().is_empty())
            .map(|cell| fields::parse_licence_status(&cell).map(str::to_owned))
            .transpose()
            .map_err(|err| format!("status: {err}"))?;
        if !(1..=SEARCH_MAX_LIMIT).contains(&limit) {
            return Err(format!("limit must be between 1 and {SEARCH_MAX_LIMIT}, not {limit}"));
        }
        if text.chars().count() > MAX_NAME_CHARS {
            return Err(format!("q: at most {MAX_NAME_CHARS} characters"));
        }
        Ok(SearchQuery { text, kind, country, region, licence_status, limit: Some(limit) })
    }
}

/// The longest name or search text accepted from a user (longer is refused with a 400).
pub const MAX_NAME_CHARS: usize = 500;

/// The most results a search returns.
pub const SEARCH_MAX_LIMIT: usize = 200;

/// The lowest search score worth showing.
pub const SEARCH_MIN_SCORE: f64 = 0.5;
const SEARCH_DEFAULT_LIMIT: usize = 20;

impl Matcher {
    pub fn new(index: EntityIndex, thresholds: Thresholds) -> Matcher {
        Matcher { index, thresholds }
    }

    pub fn index(&self) -> &EntityIndex {
        &self.index
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// [`Matcher::screen_in`] the index's current view, for a single search whose
    /// result need not name the version it used.
    pub fn screen(&self, query: &ScreeningQuery) -> anyhow::Result<Vec<Match>> {
        self.screen_in(&self.index.view(), query)
    }

    /// Screens one supplier or agency against the watchlists of one index view: every
    /// entity at or above the *possible* threshold, best first.
    pub fn screen_in(&self, view: &IndexView, query: &ScreeningQuery) -> anyhow::Result<Vec<Match>> {
        let query_names = QueryName::all(query);
        let names = QueryName::every_reading(&query_names);
        let tax_id = query.tax_id.as_deref().and_then(tax_id_key);
        let candidate_query = CandidateQuery {
            kind: RecordKind::Watchlist,
            names: &names,
            tax_id: tax_id.as_deref(),
            licence_number: None,
            filters: Filters::default(),
        };
        let candidates = self.index.candidates(view, &candidate_query, CANDIDATE_BUDGET)?;
        let mut matches: Vec<Match> = candidates
            .into_iter()
            .map(|entity| self.rescore(query, &query_names, entity))
            .filter(|found| found.strength >= Strength::Possible)
            .collect();
        sort_best_first(&mut matches);
        Ok(matches)
    }

    /// The match a screening of `query` would give `entity`, whatever its strength (the
    /// same scoring as [`Matcher::screen_in`], for one pair found some other way, such as
    /// monitoring's reverse search from a listed entity to the suppliers like it).
    pub fn compare(&self, query: &ScreeningQuery, entity: IndexedEntity) -> Match {
        self.rescore(query, &QueryName::all(query), entity)
    }

    /// Compares a query with one candidate: best name pair, then tax id and country.
    fn rescore(&self, query: &ScreeningQuery, query_names: &[QueryName], entity: IndexedEntity) -> Match {
        let best = best_name_pair(query_names, &entity.names);
        let comparison = best.comparison;
        let name_score = comparison.score;
        let mut score = name_score;
        let mut signals = Vec::new();

        let tax_id = match (query.tax_id.as_deref(), entity.tax_id.as_deref()) {
            (Some(raw), Some(listed)) if tax_id_key(raw).is_some() => {
                let query_key = tax_id_key(raw).unwrap_or_default();
                let check = taxid::validate(query.country.as_deref().or(entity.country.as_deref()), raw);
                let (valid, scheme) = match &check {
                    TaxIdCheck::Valid { scheme, .. } => (Some(true), Some(scheme.label().to_owned())),
                    TaxIdCheck::Invalid { scheme, .. } => (Some(false), Some(scheme.label().to_owned())),
                    TaxIdCheck::Unchecked => (None, None),
                };
                if valid == Some(false) {
                    signals.push(Signal::InvalidQueryTaxId);
                }
                if query_key == listed {
                    if valid != Some(false) {
                        signals.push(Signal::SameTaxId);
                        score = score.max(self.thresholds.strong);
                    } else {
                        score = score.max(self.thresholds.possible);
                    }
                    if name_score < self.thresholds.possible {
                        signals.push(Signal::SameTaxIdDifferentName);
                    }
                    TaxIdEvidence::Same { tax_id: query_key, valid, scheme }
                } else {
                    if valid == Some(true) {
                        score *= DIFFERENT_TAX_ID_FACTOR;
                    }
                    if name_score >= self.thresholds.possible {
                        signals.push(Signal::SameNameDifferentTaxId);
                    }
                    TaxIdEvidence::Different { query: query_key, listed: listed.to_owned() }
                }
            }
            _ => TaxIdEvidence::NotCompared,
        };
        let same_tax_id = signals.contains(&Signal::SameTaxId);
        if let (Some(ours), Some(theirs)) = (query.country.as_deref(), entity.country.as_deref())
            && !ours.eq_ignore_ascii_case(theirs)
        {
            signals.push(Signal::CountryMismatch);
            if !same_tax_id {
                score *= COUNTRY_MISMATCH_FACTOR;
            }
        }
        let strength = self.strength(score);
        let explanation = Explanation {
            query_name: best.query_name,
            query_part: best.query_part,
            matched_name: best.matched_name,
            matched_part: best.matched_part,
            name_score,
            word_pairs: comparison.pairs,
            unmatched_query_words: comparison.unmatched_query,
            unmatched_listed_words: comparison.unmatched_listed,
            tax_id,
            query_country: query.country.clone(),
            listed_country: entity.country.clone(),
            signals,
            score,
        };
        Match { entity, score, strength, explanation }
    }

    fn strength(&self, score: f64) -> Strength {
        if score >= self.thresholds.strong {
            Strength::Strong
        } else if score >= self.thresholds.possible {
            Strength::Possible
        } else {
            Strength::None
        }
    }

    /// [`Matcher::search_in`] the index's current view.
    pub fn search(&self, query: &SearchQuery) -> anyhow::Result<Vec<Match>> {
        self.search_in(&self.index.view(), query)
    }

    /// Searches entities (agencies by default) by part of a name, a name with typos or
    /// missing accents, a tax id or a licence number; best first. A result's score is how
    /// much of what was typed it covers.
    pub fn search_in(&self, view: &IndexView, query: &SearchQuery) -> anyhow::Result<Vec<Match>> {
        let text = query.text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let query_names = vec![QueryName::new(text)];
        let names = QueryName::every_reading(&query_names);
        let id_key = tax_id_key(text);
        let licence_key = licence_number_key(text);
        let filters = Filters {
            country: query.country.clone(),
            region_code: query.region.clone(),
            licence_status: query.licence_status.clone(),
        };
        let candidate_query = CandidateQuery {
            kind: query.kind.unwrap_or(RecordKind::Agencies),
            names: &names,
            tax_id: id_key.as_deref(),
            licence_number: licence_key.as_deref(),
            filters,
        };
        let limit = query.limit.unwrap_or(SEARCH_DEFAULT_LIMIT);
        let candidates = self.index.candidates(view, &candidate_query, CANDIDATE_BUDGET.max(limit))?;
        let mut found: Vec<Match> = candidates
            .into_iter()
            .map(|entity| {
                let exact_id = id_key.is_some()
                    && (entity.tax_id == id_key
                        || entity.licence_number.as_deref().and_then(licence_number_key) == licence_key);
                let best = best_name_pair(&query_names, &entity.names);
                let comparison = best.comparison;
                let coverage = query_coverage(&comparison, &names[0]);
                let score = if exact_id { 1.0 } else { 0.8 * coverage + 0.2 * comparison.score };
                let explanation = Explanation {
                    query_name: best.query_name,
                    query_part: best.query_part,
                    matched_name: best.matched_name,
                    matched_part: best.matched_part,
                    name_score: comparison.score,
                    word_pairs: comparison.pairs,
                    unmatched_query_words: comparison.unmatched_query,
                    unmatched_listed_words: comparison.unmatched_listed,
                    tax_id: if exact_id {
                        TaxIdEvidence::Same { tax_id: id_key.clone().unwrap_or_default(), valid: None, scheme: None }
                    } else {
                        TaxIdEvidence::NotCompared
                    },
                    query_country: query.country.clone(),
                    listed_country: entity.country.clone(),
                    signals: Vec::new(),
                    score,
                };
                Match { strength: self.strength(score), entity, score, explanation }
            })
            .filter(|found| found.score >= SEARCH_MIN_SCORE)
            .collect();
        sort_best_first(&mut found);
        found.truncate(limit);
        Ok(found)
    }
}

/// The share of the query's weight that found a partner in the listed name.
fn query_coverage(comparison: &NameComparison, query: &NormalizedName) -> f64 {
    let weight_of = |text: &str| {
        query.words.iter().find(|word| word.text == text).map_or(0.0, |word| score::class_weight(word.class))
    };
    let total: f64 = query.words.iter().map(|word| score::class_weight(word.class)).sum();
    if total == 0.0 {
        return 0.0;
    }
    let covered: f64 =
        comparison.pairs.iter().map(|pair| pair.similarity * pair.query.split(' ').map(weight_of).sum::<f64>()).sum();
    (covered / total).min(1.0)
}

/// Compares two written names as screening does: every reading of one with every
/// reading of the other, the best comparison kept.
pub fn compare_names(query: &str, listed: &str) -> NameComparison {
    best_name_pair(&[QueryName::new(query)], &[listed.to_owned()]).comparison
}

/// One name of a query (its name or an alias) with its readings.
struct QueryName<'a> {
    raw: &'a str,
    readings: Vec<Reading>,
}

impl<'a> QueryName<'a> {
    fn new(raw: &'a str) -> QueryName<'a> {
        QueryName { raw, readings: readings(raw) }
    }

    /// The query's name and its aliases.
    fn all(query: &'a ScreeningQuery) -> Vec<QueryName<'a>> {
        std::iter::once(&query.name).chain(&query.aliases).map(|name| QueryName::new(name)).collect()
    }

    /// Every reading of every name, as the candidate search looks for them; the first
    /// name's whole reading first.
    fn every_reading(names: &[QueryName]) -> Vec<NormalizedName> {
        names.iter().flat_map(|name| name.readings.iter().map(|reading| reading.name.clone())).collect()
    }
}

/// The best-scoring pair of a query name and a listed name, with the parts that matched.
struct BestPair {
    query_name: String,
    query_part: NamePart,
    matched_name: String,
    matched_part: NamePart,
    comparison: NameComparison,
}

/// The best-scoring pair of a reading of a query name and a reading of a listed name.
fn best_name_pair(query_names: &[QueryName], listed: &[String]) -> BestPair {
    let mut best: Option<BestPair> = None;
    for listed_name in listed {
        for listed_reading in readings(listed_name) {
            for query_name in query_names {
                for query_reading in &query_name.readings {
                    let comparison = compare(&query_reading.name, &listed_reading.name);
                    if best.as_ref().is_none_or(|current| comparison.score > current.comparison.score) {
                        best = Some(BestPair {
                            query_name: query_name.raw.to_owned(),
                            query_part: query_reading.part,
                            matched_name: listed_name.clone(),
                            matched_part: listed_reading.part,
                            comparison,
                        });
                    }
                }
            }
        }
    }
    best.unwrap_or_else(|| BestPair {
        query_name: query_names.first().map(|name| name.raw.to_owned()).unwrap_or_default(),
        query_part: NamePart::Whole,
        matched_name: String::new(),
        matched_part: NamePart::Whole,
        comparison: NameComparison {
            score: 0.0,
            pairs: Vec::new(),
            unmatched_query: Vec::new(),
            unmatched_listed: Vec::new(),
        },
    })
}

fn sort_best_first(matches: &mut [Match]) {
    matches.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.entity.source.cmp(&b.entity.source))
            .then_with(|| a.entity.entity_id.cmp(&b.entity.entity_id))
    });
}
