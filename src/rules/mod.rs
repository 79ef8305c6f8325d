//! The rule engine: turns what is known about a procurement line, its supplier, the
//! recruitment agencies it uses and its watchlist matches into a risk score and band
//! that an officer can act on and defend (OAS WP3 ¶34).
//!
//! The rule set lives in `rules/` as TOML files (see `rules/README.md`): a
//! `ruleset.toml` with the version, band cut-offs, caps and the weight of *unknown*;
//! rule files grouped by family; reference lists under `rules/lists/`. [`Ruleset`]
//! loads and compiles them once; [`Ruleset::evaluate`] is pure and allocation-light,
//! and the same subject with the same digest always gives the same [`Assessment`].
//!
//! Parts: `fields` (the field vocabulary and the facts of one evaluation), `condition`
//! (compiled three-valued conditions), `lists` (reference lists and the goods
//! mapping), `load` (reading, checking and compiling the files), `testing` (the rules'
//! own test cases).

mod condition;
mod evidence;
mod fields;
mod lists;
mod load;
mod testing;

use serde::{Deserialize, Serialize};

use crate::lang::{Lang, Texts};
use crate::records::{Agency, LicenceEntry, ProcurementLine, Supplier};
use condition::{Condition, Trace, Truth};
use fields::Facts;
use lists::{GoodsMap, RefList};

pub use fields::{AGENCY_LICENCE_STATUSES, FIELDS, FieldInfo, MATCH_STRENGTHS};
pub use load::{BUNDLED_FILES, Problem, RulesError};
pub use testing::{CaseFailure, TestReport};

/// Everything known about one thing being screened. Every part is optional: what is
/// missing makes the rules that need it *unknown*, reported as data gaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub line: Option<ProcurementLine>,
    pub supplier: Option<Supplier>,
    /// Each recruitment agency the supplier or the line uses.
    #[serde(default)]
    pub agencies: Vec<AgencyFacts>,
    /// The watchlist entries the supplier matched, from matching.
    #[serde(default)]
    pub watchlist_matches: Vec<WatchlistHit>,
}

/// One agency a supplier or line uses: its record if known and its licence-register
/// entry if the register lists it (`None` there means the register does not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencyFacts {
    pub agency_id: String,
    pub agency: Option<Agency>,
    pub licence: Option<LicenceEntry>,
}

impl AgencyFacts {
    /// The agency's licence status on `day` as the rules see it (see `agency.licence_status`
    /// in `rules/README.md`): the register's word, `expired` for an active licence past its
    /// expiry, `unlicensed`, `not_in_register`, or `None` when nothing is known.
    pub fn licence_status_on(&self, day: chrono::NaiveDate) -> Option<&'static str> {
        fields::effective_licence_status(self, Some(day))
    }
}

/// A watchlist entry the supplier matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchlistHit {
    pub entity_id: String,
    pub list: Option<String>,
    /// The listed name that matched.
    pub name: String,
    pub strength: MatchStrength,
    pub score: f64,
    /// Why the entity is listed.
    pub reason: Option<String>,
    /// Where the listing can be read (a URL).
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchStrength {
    /// The same entity beyond reasonable doubt (for example a valid tax id).
    Strong,
    /// Worth a human review.
    Possible,
}

impl MatchStrength {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStrength::Strong => "strong",
            MatchStrength::Possible => "possible",
        }
    }
}

/// The risk bands, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Low,
    Medium,
    High,
    Critical,
}

impl Band {
    pub const ALL: [Band; 4] = [Band::Low, Band::Medium, Band::High, Band::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::Critical => "critical",
        }
    }

    pub fn parse(name: &str) -> Option<Band> {
        Band::ALL.into_iter().find(|band| band.as_str() == name)
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The result of evaluating a subject: everything an officer needs to act on the
/// score and defend it. Field order is fixed, so its JSON is byte-identical for the
/// same subject and ruleset digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assessment {
    /// 0 to the ruleset's overall cap.
    pub score: f64,
    /// The band of the score, raised to the highest floor of any fired rule.
    pub band: Band,
    /// The band of the score alone.
    pub score_band: Band,
    /// The fired rule whose band floor decided the band, if a floor did.
    pub band_floor: Option<BandFloor>,
    /// Per family, in ruleset order: the sum of fired weights and what counted after its cap.
    pub families: Vec<FamilySubtotal>,
    /// Sum of the contributions of unknown rules, and what counted after the unknown cap.
    pub unknown_total: f64,
    pub unknown_counted: f64,
    pub fired: Vec<FiredRule>,
    pub data_gaps: Vec<DataGap>,
    /// The language of every text above (titles, actions, questions, evidence).
    #[serde(default)]
    pub lang: Lang,
    pub ruleset_version: String,
    pub ruleset_digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BandFloor {
    pub band: Band,
    pub rule_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FamilySubtotal {
    pub family: String,
    pub title: String,
    pub sum: f64,
    pub cap: f64,
    pub counted: f64,
}

/// A rule whose condition held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiredRule {
    pub id: String,
    pub title: String,
    pub family: String,
    pub legal_basis: Vec<String>,
    /// The rule's weight, before family caps; negative for a mitigant.
    pub contribution: f64,
    pub band_floor: Option<Band>,
    pub evidence: Vec<Evidence>,
    pub action: String,
}

/// One fact that made a rule fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    /// The fact as a sentence in the assessment's language: "Coincidencia fuerte con
    /// «Minera Ficticia Oro Verde S.A.C.», lista DEMO".
    #[serde(default)]
    pub text: String,
    /// The field (or fields, for a list look-up) the fact is about.
    pub field: String,
    pub value: String,
    /// Whose value it is when not the subject's own: "agency DEMO-A-001".
    pub about: Option<String>,
    /// The reference-list entry it was found in.
    pub list_entry: Option<ListEntryRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListEntryRef {
    pub list: String,
    pub entry: String,
    /// The list's source and edition.
    pub source: String,
}

/// A rule that could not be decided for lack of data: what to ask the supplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataGap {
    pub rule_id: String,
    pub title: String,
    pub family: String,
    /// The question to ask (the rule's `data_gap`).
    pub question: String,
    /// The fields whose values were missing.
    pub missing_fields: Vec<String>,
    /// The rule's weight times the ruleset's unknown weight (0 for a mitigant).
    pub contribution: f64,
}

/// A rule as the service describes it (`GET /v1/ruleset`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub family: String,
    pub legal_basis: Vec<String>,
    pub weight: f64,
    pub band_floor: Option<Band>,
    pub action: String,
    pub data_gap: String,
}

/// A reference list as `cadena rules check` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ListInfo {
    pub id: String,
    pub title: String,
    pub source: String,
    pub edition: String,
    pub n_entries: usize,
}

/// A risk family: rules of one kind, whose summed weights are capped together.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub id: String,
    pub title: Texts,
    pub cap: f64,
}

/// Score cut-offs: a score at or above a cut-off is at least that band.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BandCutoffs {
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
}

impl BandCutoffs {
    fn band_of(&self, score: f64) -> Band {
        if score >= self.critical {
            Band::Critical
        } else if score >= self.high {
            Band::High
        } else if score >= self.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: String,
    pub title: Texts,
    pub family: usize,
    pub legal_basis: Vec<String>,
    pub condition: Condition,
    pub weight: f64,
    pub band_floor: Option<Band>,
    pub action: Texts,
    pub data_gap: Texts,
    pub tests: Vec<testing::RuleCase>,
    /// Where the rule is written, for test reports: `rules/product.toml:12`.
    pub location: String,
}

/// A loaded, checked and compiled rule set.
#[derive(Debug, Clone)]
pub struct Ruleset {
    version: String,
    digest: String,
    bands: BandCutoffs,
    overall_cap: f64,
    unknown_weight: f64,
    unknown_cap: f64,
    families: Vec<Family>,
    rules: Vec<Rule>,
    lists: Vec<RefList>,
    goods: GoodsMap,
}

impl Ruleset {
    /// The ruleset's version, from `ruleset.toml`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// SHA-256 (hex) over every rule and list file: its path within the rules
    /// directory and its contents, in path order.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Every rule, in evaluation order, its texts in `lang`.
    pub fn rules(&self, lang: Lang) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|rule| RuleInfo {
                id: rule.id.clone(),
                title: rule.title.get(lang).to_owned(),
                family: self.families[rule.family].id.clone(),
                legal_basis: rule.legal_basis.clone(),
                weight: rule.weight,
                band_floor: rule.band_floor,
                action: rule.action.get(lang).to_owned(),
                data_gap: rule.data_gap.get(lang).to_owned(),
            })
            .collect()
    }

    /// The goods the goods mapping knows (the ILAB good names rules can name).
    pub fn good_names(&self) -> Vec<String> {
        self.goods.names.clone()
    }

    /// The ILAB goods an item is, by the goods mapping: from its code when the code
    /// maps, else from its description (as the `line.good` field sees it).
    pub fn goods_of_item(&self, code: Option<&str>, description: Option<&str>) -> Vec<String> {
        let mut found = code.map(|code| self.goods.goods_of_code(code)).unwrap_or_default();
        if found.is_empty() {
            let normalised = description.map(lists::normalise_text);
            found = normalised.as_deref().map(|text| self.goods.goods_of_normalised(text)).unwrap_or_default();
        }
        found.into_iter().map(str::to_owned).collect()
    }

    /// The rule ids, in evaluation order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|rule| rule.id.as_str())
    }

    /// The reference lists, goods mapping first, each with its source and edition.
    pub fn lists(&self) -> Vec<ListInfo> {
        let goods = ListInfo {
            id: self.goods.id.clone(),
            title: self.goods.title.clone(),
            source: self.goods.source.clone(),
            edition: self.goods.edition.clone(),
            n_entries: self.goods.names.len(),
        };
        let tables = self.lists.iter().map(|list| ListInfo {
            id: list.id.clone(),
            title: list.title.clone(),
            source: list.source.clone(),
            edition: list.edition.clone(),
            n_entries: list.entries.len(),
        });
        std::iter::once(goods).chain(tables).collect()
    }

    /// Evaluates every rule against the subject, writing its texts in `lang`.
    pub fn evaluate(&self, subject: &Subject, lang: Lang) -> Assessment {
        let facts = Facts::new(&self.goods, subject);
        let mut family_sums = vec![0.0; self.families.len()];
        let mut fired = Vec::new();
        let mut data_gaps = Vec::new();
        let mut unknown_total = 0.0;
        for rule in &self.rules {
            match rule.condition.eval(&facts, &self.lists, None) {
                Truth::False => {}
                Truth::True => {
                    let mut trace = Trace::default();
                    rule.condition.eval(&facts, &self.lists, Some(&mut trace));
                    family_sums[rule.family] += rule.weight;
                    fired.push(FiredRule {
                        id: rule.id.clone(),
                        title: rule.title.get(lang).to_owned(),
                        family: self.families[rule.family].id.clone(),
                        legal_basis: rule.legal_basis.clone(),
                        contribution: rule.weight,
                        band_floor: rule.band_floor,
                        evidence: trace
                            .evidence
                            .into_iter()
                            .map(|fact| evidence::evidence(fact, subject, lang))
                            .collect(),
                        action: rule.action.get(lang).to_owned(),
                    });
                }
                Truth::Unknown => {
                    let mut trace = Trace::default();
                    rule.condition.eval(&facts, &self.lists, Some(&mut trace));
                    // Missing data never earns a mitigant's credit, and never costs one.
                    let contribution = round2(rule.weight.max(0.0) * self.unknown_weight);
                    unknown_total += contribution;
                    data_gaps.push(DataGap {
                        rule_id: rule.id.clone(),
                        title: rule.title.get(lang).to_owned(),
                        family: self.families[rule.family].id.clone(),
                        question: rule.data_gap.get(lang).to_owned(),
                        missing_fields: trace.missing.iter().map(|field| (*field).to_owned()).collect(),
                        contribution,
                    });
                }
            }
        }
        let families: Vec<FamilySubtotal> = self
            .families
            .iter()
            .zip(&family_sums)
            .map(|(family, sum)| FamilySubtotal {
                family: family.id.clone(),
                title: family.title.get(lang).to_owned(),
                sum: round2(*sum),
                cap: family.cap,
                counted: round2(sum.clamp(-family.cap, family.cap)),
            })
            .collect();
        let unknown_counted = round2(unknown_total.min(self.unknown_cap));
        let total: f64 = families.iter().map(|family| family.counted).sum::<f64>() + unknown_counted;
        let score = round2(total.clamp(0.0, self.overall_cap));
        let score_band = self.bands.band_of(score);
        let band_floor = fired
            .iter()
            .filter_map(|rule| Some(BandFloor { band: rule.band_floor?, rule_id: rule.id.clone() }))
            .fold(None::<BandFloor>, |highest, floor| match highest {
                Some(highest) if highest.band >= floor.band => Some(highest),
                _ => Some(floor),
            })
            .filter(|floor| floor.band > score_band);
        Assessment {
            score,
            band: band_floor.as_ref().map_or(score_band, |floor| floor.band),
            score_band,
            band_floor,
            families,
            unknown_total: round2(unknown_total),
            unknown_counted,
            fired,
            data_gaps,
            lang,
            ruleset_version: self.version.clone(),
            ruleset_digest: self.digest.clone(),
        }
    }
}

/// Rounds to cents of a point, so that sums print without binary noise.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
