//! The field vocabulary of rule conditions (`line.good`, `supplier.charges_worker_fees`,
//! `agency.licence_status`, …) and the per-evaluation [`Facts`] that read those fields
//! from a [`Subject`].
//!
//! Field names are resolved to a [`FieldId`] when the rules load, so evaluation is a
//! `match`, never a string look-up. Every field yields zero or more values, each known
//! or unknown: a supplier field yields one, an agency field one per agency, a match
//! field one per watchlist hit.

use chrono::NaiveDate;

use super::lists::{GoodsMap, normalise_text};
use super::{AgencyFacts, Subject};
use crate::records::fields::LICENCE_STATUSES;

/// A field of the condition vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldId {
    LineItemDescription,
    LineItemCode,
    LineGood,
    LineOriginCountry,
    LineOriginRegion,
    LineValue,
    LineQuantity,
    LineCurrency,
    LineBuyer,
    SupplierCountry,
    SupplierRegion,
    SupplierSector,
    SupplierProducts,
    SupplierGoods,
    SupplierChargesWorkerFees,
    SupplierRetainsIdentityDocuments,
    SupplierMigrantWorkersPct,
    SupplierAgencyWorkersPct,
    SupplierSubcontractingDepth,
    SupplierHasCodeOfConduct,
    SupplierHasGrievanceMechanism,
    SupplierPublicOfficialLinked,
    SupplierForcedLabourFinding,
    SupplierCredibleSocialAudit,
    SupplierCertifiedRecruiter,
    AgencyLicenceStatus,
    AgencyChargesWorkerFees,
    AgencyCountry,
    MatchStrength,
    MatchScore,
    MatchList,
    MatchReason,
}

/// The type of a field's values, which decides the tests a condition may apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Bool,
    Number,
    Text(TextKind),
}

/// How text values are written, so that literals in rules can be checked and put in
/// the same canonical form when the rules load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// Free text, compared after lower-casing and removing accents.
    Free,
    /// ISO 3166-1 alpha-2 country code.
    Country,
    /// ISO 3166-2 subdivision code, such as `PE-MDD`.
    Region,
    /// A code compared as written (item codes, currencies).
    Code,
    /// A good name of the goods mapping (`rules/lists/goods.toml`).
    Good,
    /// One of a fixed set of lower-case values.
    Enum(&'static [&'static str]),
}

/// The licence statuses an agency can have in rules: the canonical statuses of the
/// register plus `not_in_register`, for an agency the register does not list.
pub const AGENCY_LICENCE_STATUSES: &[&str] =
    &["active", "pending", "suspended", "expired", "revoked", "unlicensed", "not_in_register"];

/// The strengths of a watchlist match.
pub const MATCH_STRENGTHS: &[&str] = &["strong", "possible"];

/// One field of the vocabulary: its name in rule files, what it reads and its type.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub name: &'static str,
    pub(crate) id: FieldId,
    pub(crate) kind: ValueKind,
    /// One line for `rules/README.md`.
    pub about: &'static str,
}

const fn field(name: &'static str, id: FieldId, kind: ValueKind, about: &'static str) -> FieldInfo {
    FieldInfo { name, id, kind, about }
}

use FieldId as F;
use TextKind as T;
use ValueKind::{Bool, Number, Text};

/// The whole vocabulary, in the order `rules/README.md` documents it.
pub const FIELDS: &[FieldInfo] = &[
    field(
        "line.item_description",
        F::LineItemDescription,
        Text(T::Free),
        "the item as described on the procurement line",
    ),
    field("line.item_code", F::LineItemCode, Text(T::Code), "the item's classification code, such as UNSPSC"),
    field("line.good", F::LineGood, Text(T::Good), "the ILAB goods the item is, from its code or description"),
    field("line.origin_country", F::LineOriginCountry, Text(T::Country), "the country the item comes from"),
    field("line.origin_region", F::LineOriginRegion, Text(T::Region), "the ISO 3166-2 region the item comes from"),
    field("line.value", F::LineValue, Number, "the line's value, in its currency"),
    field("line.quantity", F::LineQuantity, Number, "the quantity bought"),
    field("line.currency", F::LineCurrency, Text(T::Code), "the ISO 4217 currency of the value"),
    field("line.buyer", F::LineBuyer, Text(T::Free), "the public buyer"),
    field("supplier.country", F::SupplierCountry, Text(T::Country), "the supplier's country"),
    field("supplier.region", F::SupplierRegion, Text(T::Region), "the supplier's ISO 3166-2 region"),
    field("supplier.sector", F::SupplierSector, Text(T::Free), "the supplier's sector as written"),
    field("supplier.products", F::SupplierProducts, Text(T::Free), "each product the supplier sells, as written"),
    field("supplier.goods", F::SupplierGoods, Text(T::Good), "the ILAB goods among the supplier's products"),
    field(
        "supplier.charges_worker_fees",
        F::SupplierChargesWorkerFees,
        Bool,
        "workers pay recruitment fees or related costs",
    ),
    field(
        "supplier.retains_identity_documents",
        F::SupplierRetainsIdentityDocuments,
        Bool,
        "the supplier or its agents keep workers' identity documents",
    ),
    field(
        "supplier.migrant_workers_pct",
        F::SupplierMigrantWorkersPct,
        Number,
        "migrant workers, percent of the workforce",
    ),
    field(
        "supplier.agency_workers_pct",
        F::SupplierAgencyWorkersPct,
        Number,
        "workers hired through agencies, percent of the workforce",
    ),
    field(
        "supplier.subcontracting_depth",
        F::SupplierSubcontractingDepth,
        Number,
        "tiers of subcontractors between the supplier and the work",
    ),
    field(
        "supplier.has_code_of_conduct",
        F::SupplierHasCodeOfConduct,
        Bool,
        "a code of conduct protecting workers (¶38)",
    ),
    field(
        "supplier.has_grievance_mechanism",
        F::SupplierHasGrievanceMechanism,
        Bool,
        "a grievance mechanism for workers (¶38)",
    ),
    field(
        "supplier.public_official_linked",
        F::SupplierPublicOfficialLinked,
        Bool,
        "a public official is linked to the supplier (¶36)",
    ),
    field(
        "supplier.forced_labour_finding",
        F::SupplierForcedLabourFinding,
        Bool,
        "an authority found trafficking or forced labour",
    ),
    field(
        "supplier.credible_social_audit",
        F::SupplierCredibleSocialAudit,
        Bool,
        "an independent social audit in the last two years found no forced-labour indicators",
    ),
    field(
        "supplier.certified_recruiter",
        F::SupplierCertifiedRecruiter,
        Bool,
        "the supplier recruits only through certified fair recruiters",
    ),
    field(
        "agency.licence_status",
        F::AgencyLicenceStatus,
        Text(T::Enum(AGENCY_LICENCE_STATUSES)),
        "each agency's licence status, from the licence register",
    ),
    field(
        "agency.charges_worker_fees",
        F::AgencyChargesWorkerFees,
        Bool,
        "each agency charges workers recruitment fees",
    ),
    field("agency.country", F::AgencyCountry, Text(T::Country), "each agency's country"),
    field(
        "match.strength",
        F::MatchStrength,
        Text(T::Enum(MATCH_STRENGTHS)),
        "each watchlist match: strong or possible",
    ),
    field("match.score", F::MatchScore, Number, "each watchlist match's score"),
    field("match.list", F::MatchList, Text(T::Free), "the list of each watchlist match"),
    field("match.reason", F::MatchReason, Text(T::Free), "why the matched entity is listed"),
];

/// Looks a field up by its name in rule files.
pub(crate) fn field_by_name(name: &str) -> Option<&'static FieldInfo> {
    FIELDS.iter().find(|field| field.name == name)
}

/// The name of a field, for evidence and data gaps.
pub(crate) fn field_name(id: FieldId) -> &'static str {
    FIELDS.iter().find(|field| field.id == id).map_or("?", |field| field.name)
}

/// One value of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    Bool(bool),
    Num(f64),
    Str(&'a str),
}

/// A value as evidence keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FactValue {
    Bool(bool),
    Num(f64),
    Text(String),
}

impl FactValue {
    /// The value as the evidence's `value` field gives it (`yes`, `12.5`, `PE`).
    pub(crate) fn display(&self) -> String {
        match self {
            FactValue::Bool(true) => "yes".to_owned(),
            FactValue::Bool(false) => "no".to_owned(),
            FactValue::Num(number) => number.to_string(),
            FactValue::Text(text) => text.clone(),
        }
    }
}

impl Val<'_> {
    /// The value as evidence keeps it.
    pub(crate) fn to_fact(self) -> FactValue {
        match self {
            Val::Bool(value) => FactValue::Bool(value),
            Val::Num(value) => FactValue::Num(value),
            Val::Str(text) => FactValue::Text(text.to_owned()),
        }
    }
}

/// Whose value a multi-valued field yielded, while evaluating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner<'a> {
    Subject,
    Agency(&'a str),
    Match(&'a str),
}

impl Owner<'_> {
    pub(crate) fn to_whose(self) -> Whose {
        match self {
            Owner::Subject => Whose::Subject,
            Owner::Agency(id) => Whose::Agency(id.to_owned()),
            Owner::Match(id) => Whose::Match(id.to_owned()),
        }
    }
}

/// Whose value a fact is: the subject's own, an agency's or a watchlist match's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Whose {
    Subject,
    Agency(String),
    /// The watchlist entity's id.
    Match(String),
}

impl Whose {
    /// As the evidence's `about` field gives it: `agency DEMO-A-001`.
    pub(crate) fn describe(&self) -> Option<String> {
        match self {
            Whose::Subject => None,
            Whose::Agency(id) => Some(format!("agency {id}")),
            Whose::Match(id) => Some(format!("watchlist entity {id}")),
        }
    }
}

/// What one evaluation knows about its subject, including the facts derived once per
/// evaluation (goods, effective licence statuses, normalised texts).
pub(crate) struct Facts<'a> {
    subject: &'a Subject,
    /// `None` when the line has neither a description nor a code.
    line_goods: Option<Vec<&'a str>>,
    line_description: Option<String>,
    /// `None` when the supplier lists no products.
    supplier_goods: Option<Vec<&'a str>>,
    agency_statuses: Vec<Option<&'static str>>,
}

impl<'a> Facts<'a> {
    pub(crate) fn new(goods: &'a GoodsMap, subject: &'a Subject) -> Facts<'a> {
        let line = subject.line.as_ref();
        let line_description = line.and_then(|line| line.item_description.as_deref()).map(normalise_text);
        let line_code = line.and_then(|line| line.item_code.as_deref());
        let line_goods = match (line_code, &line_description) {
            (None, None) => None,
            (code, description) => {
                let mut found = code.map(|code| goods.goods_of_code(code)).unwrap_or_default();
                if found.is_empty() {
                    found = description.as_deref().map(|text| goods.goods_of_normalised(text)).unwrap_or_default();
                }
                Some(found)
            }
        };
        let supplier_goods =
            subject.supplier.as_ref().filter(|supplier| !supplier.products.is_empty()).map(|supplier| {
                let mut found: Vec<&'a str> = Vec::new();
                for product in &supplier.products {
                    for good in goods.goods_of_text(product) {
                        if !found.contains(&good) {
                            found.push(good);
                        }
                    }
                }
                found
            });
        let award_date = line.and_then(|line| line.award_date);
        let agency_statuses =
            subject.agencies.iter().map(|agency| effective_licence_status(agency, award_date)).collect();
        Facts { subject, line_goods, line_description, supplier_goods, agency_statuses }
    }

    /// Calls `visit` with each value of `field` (`None` for an unknown one) until it
    /// returns `true`. A field that is known to have no values calls it not at all.
    pub(crate) fn visit(&self, field: FieldId, visit: &mut dyn FnMut(Option<Val<'_>>, Owner<'_>) -> bool) {
        let line = self.subject.line.as_ref();
        let supplier = self.subject.supplier.as_ref();
        let text = |value: Option<&'a String>| value.map(|text| Val::Str(text.as_str()));
        let flag = |value: Option<bool>| value.map(Val::Bool);
        let number = |value: Option<f64>| value.map(Val::Num);
        let single = match field {
            F::LineItemDescription => Some(text(line.and_then(|line| line.item_description.as_ref()))),
            F::LineItemCode => Some(text(line.and_then(|line| line.item_code.as_ref()))),
            F::LineOriginCountry => Some(text(line.and_then(|line| line.origin_country.as_ref()))),
            F::LineOriginRegion => Some(text(line.and_then(|line| line.origin_region_code.as_ref()))),
            F::LineValue => Some(number(line.and_then(|line| line.value))),
            F::LineQuantity => Some(number(line.and_then(|line| line.quantity))),
            F::LineCurrency => Some(text(line.and_then(|line| line.currency.as_ref()))),
            F::LineBuyer => Some(text(line.and_then(|line| line.buyer.as_ref()))),
            F::SupplierCountry => Some(text(supplier.and_then(|s| s.country.as_ref()))),
            F::SupplierRegion => Some(text(supplier.and_then(|s| s.region_code.as_ref()))),
            F::SupplierSector => Some(text(supplier.and_then(|s| s.sector.as_ref()))),
            F::SupplierChargesWorkerFees => Some(flag(supplier.and_then(|s| s.charges_worker_fees))),
            F::SupplierRetainsIdentityDocuments => Some(flag(supplier.and_then(|s| s.retains_identity_documents))),
            F::SupplierMigrantWorkersPct => Some(number(supplier.and_then(|s| s.migrant_workers_pct))),
            F::SupplierAgencyWorkersPct => Some(number(supplier.and_then(|s| s.agency_workers_pct))),
            F::SupplierSubcontractingDepth => Some(number(supplier.and_then(|s| s.subcontracting_depth))),
            F::SupplierHasCodeOfConduct => Some(flag(supplier.and_then(|s| s.has_code_of_conduct))),
            F::SupplierHasGrievanceMechanism => Some(flag(supplier.and_then(|s| s.has_grievance_mechanism))),
            F::SupplierPublicOfficialLinked => Some(flag(supplier.and_then(|s| s.public_official_linked))),
            F::SupplierForcedLabourFinding => Some(flag(supplier.and_then(|s| s.forced_labour_finding))),
            F::SupplierCredibleSocialAudit => Some(flag(supplier.and_then(|s| s.credible_social_audit))),
            F::SupplierCertifiedRecruiter => Some(flag(supplier.and_then(|s| s.certified_recruiter))),
            _ => None,
        };
        if let Some(value) = single {
            visit(value, Owner::Subject);
            return;
        }
        match field {
            F::LineGood => visit_goods(self.line_goods.as_deref(), visit),
            F::SupplierGoods => visit_goods(self.supplier_goods.as_deref(), visit),
            F::SupplierProducts => match supplier.filter(|s| !s.products.is_empty()) {
                None => {
                    visit(None, Owner::Subject);
                }
                Some(supplier) => {
                    for product in &supplier.products {
                        if visit(Some(Val::Str(product)), Owner::Subject) {
                            return;
                        }
                    }
                }
            },
            F::AgencyLicenceStatus => {
                for (agency, status) in self.subject.agencies.iter().zip(&self.agency_statuses) {
                    if visit(status.map(Val::Str), Owner::Agency(&agency.agency_id)) {
                        return;
                    }
                }
            }
            F::AgencyChargesWorkerFees => {
                for agency in &self.subject.agencies {
                    let value = agency.agency.as_ref().and_then(|a| a.charges_worker_fees).map(Val::Bool);
                    if visit(value, Owner::Agency(&agency.agency_id)) {
                        return;
                    }
                }
            }
            F::AgencyCountry => {
                for agency in &self.subject.agencies {
                    let country = agency.agency.as_ref().and_then(|a| a.country.as_deref());
                    let country = country.or_else(|| agency.licence.as_ref().and_then(|l| l.country.as_deref()));
                    if visit(country.map(Val::Str), Owner::Agency(&agency.agency_id)) {
                        return;
                    }
                }
            }
            F::MatchStrength | F::MatchScore | F::MatchList | F::MatchReason => {
                for hit in &self.subject.watchlist_matches {
                    let value = match field {
                        F::MatchStrength => Some(Val::Str(hit.strength.as_str())),
                        F::MatchScore => Some(Val::Num(hit.score)),
                        F::MatchList => hit.list.as_deref().map(Val::Str),
                        _ => hit.reason.as_deref().map(Val::Str),
                    };
                    if visit(value, Owner::Match(&hit.entity_id)) {
                        return;
                    }
                }
            }
            _ => {}
        }
    }

    /// The line's description, normalised for keyword matching, when `field` is it.
    pub(crate) fn normalised(&self, field: FieldId) -> Option<&str> {
        match field {
            F::LineItemDescription => self.line_description.as_deref(),
            _ => None,
        }
    }
}

fn visit_goods(goods: Option<&[&str]>, visit: &mut dyn FnMut(Option<Val<'_>>, Owner<'_>) -> bool) {
    match goods {
        None => {
            visit(None, Owner::Subject);
        }
        Some(goods) => {
            for good in goods {
                if visit(Some(Val::Str(good)), Owner::Subject) {
                    return;
                }
            }
        }
    }
}

/// An agency's licence status as the rules see it: the register's word when the
/// register lists the agency (an `active` licence past its expiry on the award date is
/// `expired`); `unlicensed` when the agency says so; `not_in_register` when the agency
/// is known but the register does not list it; unknown when nothing is known.
pub(crate) fn effective_licence_status(agency: &AgencyFacts, award_date: Option<NaiveDate>) -> Option<&'static str> {
    let claimed = agency.agency.as_ref().and_then(|a| a.licence_status.as_deref());
    match &agency.licence {
        Some(entry) => {
            let status = canonical_status(entry.status.as_deref().or(claimed))?;
            let expires_on = entry.expires_on.or_else(|| agency.agency.as_ref().and_then(|a| a.licence_expires));
            let lapsed = matches!((expires_on, award_date), (Some(expiry), Some(award)) if expiry < award);
            Some(if status == "active" && lapsed { "expired" } else { status })
        }
        None if agency.agency.is_none() => None,
        None if canonical_status(claimed) == Some("unlicensed") => Some("unlicensed"),
        None => Some("not_in_register"),
    }
}

fn canonical_status(status: Option<&str>) -> Option<&'static str> {
    let status = status?;
    LICENCE_STATUSES
        .iter()
        .copied()
        .find(|canonical| *canonical == status)
        .or_else(|| crate::records::fields::parse_licence_status(status).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rules/README.md` documents every field of the vocabulary.
    #[test]
    fn every_field_is_documented() {
        let readme = include_str!("../../rules/README.md");
        for field in FIELDS {
            assert!(readme.contains(&format!("| `{}` |", field.name)), "{} is not in rules/README.md", field.name);
        }
    }
}
