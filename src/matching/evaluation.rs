//! The screening-quality set-ups of `../shared/data/README.md`, shared by the tests and
//! the `matching` benchmark so that both measure exactly the same thing.
//!
//! PATSTAT clusters: names grouped by `leuven_id`, ids sorted as strings; even positions
//! are listed (under their most frequent spelling, first in file order on ties), odd ones
//! unlisted. Every other spelling of a listed cluster is a positive query (its entity must
//! rank first, at or above the threshold); every spelling of an unlisted cluster is a
//! negative (nothing may reach the threshold).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;

use super::{Matcher, ScreeningQuery};

/// A listed entity of an evaluation set.
#[derive(Debug, Clone)]
pub struct ListedName {
    pub id: String,
    pub name: String,
}

/// A query and the entity it should find first (`None` for a negative).
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub expected: Option<String>,
}

/// An evaluation set: what goes into the watchlist and what is asked of it.
#[derive(Debug, Clone)]
pub struct EvaluationSet {
    pub listed: Vec<ListedName>,
    pub queries: Vec<Query>,
}

/// The best hit of one query: the entity ranked first and its score.
#[derive(Debug, Clone)]
pub struct TopHit {
    pub id: String,
    pub score: f64,
}

/// Recall and false-positive rate at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub threshold: f64,
    pub recall: f64,
    pub false_positive_rate: f64,
    pub positives: usize,
    pub negatives: usize,
}

impl std::fmt::Display for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "threshold {:.3}: recall {:.3} ({} positives), false-positive rate {:.3} ({} negatives)",
            self.threshold, self.recall, self.positives, self.false_positive_rate, self.negatives
        )
    }
}

/// Reads the PATSTAT cluster file and builds the set-up described in the module docs.
pub fn patstat(path: &Path) -> anyhow::Result<EvaluationSet> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut clusters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in reader.records() {
        let row = row?;
        let (Some(cluster), Some(name)) = (row.get(1), row.get(2)) else { continue };
        clusters.entry(cluster.to_owned()).or_default().push(name.to_owned());
    }
    let mut listed = Vec::new();
    let mut queries = Vec::new();
    for (position, (cluster, names)) in clusters.iter().enumerate() {
        if position % 2 == 1 {
            queries.extend(names.iter().map(|name| Query { name: name.clone(), expected: None }));
            continue;
        }
        let listed_name = most_frequent(names);
        let other_spellings = names.iter().filter(|name| **name != listed_name);
        queries.extend(other_spellings.map(|name| Query { name: name.clone(), expected: Some(cluster.clone()) }));
        listed.push(ListedName { id: cluster.clone(), name: listed_name });
    }
    Ok(EvaluationSet { listed, queries })
}

/// The most frequent string, first in order on ties.
fn most_frequent(names: &[String]) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in names {
        *counts.entry(name).or_default() += 1;
    }
    let best = names.iter().map(|name| counts[name.as_str()]).max().unwrap_or(0);
    names.iter().find(|name| counts[name.as_str()] == best).cloned().unwrap_or_default()
}

/// Recall and false-positive rate of the top hits (`hits[i]` answers `set.queries[i]`).
pub fn rates(set: &EvaluationSet, hits: &[Option<TopHit>], threshold: f64) -> Rates {
    let mut positives = 0;
    let mut found = 0;
    let mut negatives = 0;
    let mut false_positives = 0;
    for (query, hit) in set.queries.iter().zip(hits) {
        let above = hit.as_ref().filter(|hit| hit.score >= threshold);
        match &query.expected {
            Some(expected) => {
                positives += 1;
                if above.is_some_and(|hit| hit.id == *expected) {
                    found += 1;
                }
            }
            None => {
                negatives += 1;
                if above.is_some() {
                    false_positives += 1;
                }
            }
        }
    }
    Rates {
        threshold,
        recall: ratio(found, positives),
        false_positive_rate: ratio(false_positives, negatives),
        positives,
        negatives,
    }
}

/// The rates at the lowest threshold where the false-positive rate is at most `max_fpr`.
pub fn rates_at_false_positive_rate(set: &EvaluationSet, hits: &[Option<TopHit>], max_fpr: f64) -> Rates {
    let mut thresholds: Vec<f64> = hits.iter().flatten().map(|hit| hit.score).collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    thresholds
        .iter()
        .map(|&threshold| rates(set, hits, threshold))
        .find(|rates| rates.false_positive_rate <= max_fpr)
        .unwrap_or_else(|| rates(set, hits, f64::INFINITY))
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// A labelled pair of names (OpenSanctions matcher checks).
#[derive(Debug, Clone)]
pub struct NamePair {
    pub left: String,
    pub right: String,
    pub is_match: bool,
}

/// The organisation pairs (`schema` = Company or Organization) of `name_pairs_nomenklatura.csv`.
pub fn nomenklatura_organisations(path: &Path) -> anyhow::Result<Vec<NamePair>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|header| header == name).context(name.to_owned());
    let (schema, left, right, is_match) = (column("schema")?, column("name1")?, column("name2")?, column("is_match")?);
    let mut pairs = Vec::new();
    for row in reader.records() {
        let row = row?;
        if !matches!(row.get(schema), Some("Company" | "Organization" | "LegalEntity")) {
            continue;
        }
        pairs.push(NamePair {
            left: row.get(left).unwrap_or_default().to_owned(),
            right: row.get(right).unwrap_or_default().to_owned(),
            is_match: row.get(is_match) == Some("true"),
        });
    }
    Ok(pairs)
}

/// How many pairs the name comparison gets right at `threshold` (a match is a score at
/// or above it).
pub fn pairs_right(pairs: &[NamePair], threshold: f64) -> usize {
    pairs
        .iter()
        .filter(|pair| {
            let score = super::compare_names(&pair.left, &pair.right).score;
            (score >= threshold) == pair.is_match
        })
        .count()
}

/// The best hit the matcher gives each query of a set, by name alone.
pub fn top_hits(matcher: &Matcher, set: &EvaluationSet) -> anyhow::Result<Vec<Option<TopHit>>> {
    set.queries
        .iter()
        .map(|query| {
            let found = matcher.screen(&ScreeningQuery { name: query.name.clone(), ..ScreeningQuery::default() })?;
            Ok(found.first().map(|best| TopHit { id: best.entity.entity_id.clone(), score: best.score }))
        })
        .collect()
}

/// One entity of the CBP Withhold Release Order file: its name and aliases.
#[derive(Debug, Clone)]
pub struct AliasedEntity {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub country: Option<String>,
}

/// The entities of `watchlists/cbp_wro_names_aliases.csv`, one per row (aliases split on `|` or `;`).
pub fn cbp_entities(path: &Path) -> anyhow::Result<Vec<AliasedEntity>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|header| header == name).context(name.to_owned());
    let (name, aliases, country) = (column("name")?, column("aliases")?, column("country")?);
    let mut entities = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row?;
        let aliases = row
            .get(aliases)
            .unwrap_or_default()
            .split(['|', ';'])
            .map(str::trim)
            .filter(|alias| !alias.is_empty())
            .map(str::to_owned)
            .collect();
        entities.push(AliasedEntity {
            id: format!("cbp-{index:03}"),
            name: row.get(name).unwrap_or_default().to_owned(),
            aliases,
            country: row.get(country).filter(|country| !country.is_empty()).map(str::to_owned),
        });
    }
    Ok(entities)
}

/// Where the shared data directory is: `CADENA_SHARED_DATA` or `../shared/data` beside the checkout.
pub fn shared_data_dir() -> std::path::PathBuf {
    std::env::var_os("CADENA_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// The dense vocabulary of `../shared/tools/perf_1m.sh dense`: a register where every
/// word is common (20 places, 20 sectors, 20 surnames), for the matching benchmark and tests.
pub const DENSE_PLACES: &[&str] = &[
    "Andina", "Pacifico", "Global", "Norte", "Sur", "Central", "Inca", "Amazonas", "Costa", "Sierra", "Nova", "Delta",
    "Atlas", "Union", "Progreso", "Federal", "Royal", "Eastern", "Western", "Metro",
];
pub const DENSE_SECTORS: &[&str] = &[
    "Textil",
    "Minera",
    "Agro",
    "Maderas",
    "Logistica",
    "Servicios",
    "Comercial",
    "Industrial",
    "Electronics",
    "Foods",
    "Pesquera",
    "Constructora",
    "Farma",
    "Energia",
    "Transportes",
    "Holding",
    "Trading",
    "Cafe",
    "Metals",
    "Plasticos",
];
pub const DENSE_SURNAMES: &[&str] = &[
    "Garcia",
    "Rodriguez",
    "Silva",
    "Santos",
    "Quispe",
    "Mamani",
    "Lopez",
    "Perez",
    "Flores",
    "Torres",
    "Huaman",
    "Oliveira",
    "Souza",
    "Chen",
    "Wang",
    "Smith",
    "Muller",
    "Rossi",
    "Kumar",
    "Nguyen",
];
