//! Reviewers' decisions on watchlist matches, and how screenings honour them.
//!
//! A decision says, for one supplier and one listed entity, that their match is a false
//! positive or is confirmed, and keeps what the reviewer saw of the entity
//! ([`EntitySnapshot`]: name, aliases, tax id, country, reason, list). A false positive
//! dismisses the match from later screenings of the same supplier (API, batch audits,
//! `cadena screen`) while those fields are unchanged; the rules do not count a dismissed
//! match. When any of them changes, the match is back among the matches, *reopened*, with
//! the decision and the fields that changed. A confirmed match stays, and says so.
//!
//! Decisions are never edited: a later decision on the same supplier and entity
//! supersedes the earlier one, and a withdrawal takes one back; the decision in force is
//! the newest one not withdrawn ([`Decisions`]). The store keeps them (`store::decisions`).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::matching::Match;
use crate::matching::index::IndexedEntity;

/// What a reviewer decided about a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not the listed entity: later screenings of the supplier dismiss the match while
    /// the entity stays as it was.
    FalsePositive,
    /// The listed entity: the match stays, marked confirmed.
    Confirmed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::FalsePositive => "false_positive",
            Verdict::Confirmed => "confirmed",
        }
    }

    pub fn parse(text: &str) -> Option<Verdict> {
        [Verdict::FalsePositive, Verdict::Confirmed].into_iter().find(|verdict| verdict.as_str() == text)
    }
}

/// A field of a listed entity whose change reopens a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityField {
    Name,
    Aliases,
    TaxId,
    Country,
    Reason,
    List,
}

impl EntityField {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityField::Name => "name",
            EntityField::Aliases => "aliases",
            EntityField::TaxId => "tax_id",
            EntityField::Country => "country",
            EntityField::Reason => "reason",
            EntityField::List => "list",
        }
    }
}

/// What was known of a listed entity when a decision was made (or a match last seen by
/// monitoring): the fields whose change reopens a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntitySnapshot {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The tax id as compared (letters and digits only).
    pub tax_id: Option<String>,
    pub country: Option<String>,
    pub reason: Option<String>,
    pub list: Option<String>,
}

impl EntitySnapshot {
    /// The snapshot of an entity as the index holds it (the main name first, then the aliases).
    pub fn of(entity: &IndexedEntity) -> EntitySnapshot {
        EntitySnapshot {
            name: entity.names.first().cloned().unwrap_or_default(),
            aliases: entity.names.iter().skip(1).cloned().collect(),
            tax_id: entity.tax_id.clone(),
            country: entity.country.clone(),
            reason: entity.reason.clone(),
            list: entity.list.clone(),
        }
    }

    /// The fields in which `now` differs from this snapshot, in field order. Aliases are
    /// compared as a set: a new order is not a change.
    pub fn changed_fields(&self, now: &EntitySnapshot) -> Vec<EntityField> {
        let aliases = |snapshot: &EntitySnapshot| snapshot.aliases.iter().cloned().collect::<BTreeSet<String>>();
        let mut changed = Vec::new();
        let mut differs = |field, different: bool| {
            if different {
                changed.push(field);
            }
        };
        differs(EntityField::Name, self.name != now.name);
        differs(EntityField::Aliases, aliases(self) != aliases(now));
        differs(EntityField::TaxId, self.tax_id != now.tax_id);
        differs(EntityField::Country, self.country != now.country);
        differs(EntityField::Reason, self.reason != now.reason);
        differs(EntityField::List, self.list != now.list);
        changed
    }
}

/// A decision as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub id: i64,
    /// The stored screening whose match was reviewed (or `None` when decided on an alert).
    pub screening_id: Option<i64>,
    /// The alert closed with this decision, if it was decided on one.
    pub alert_id: Option<i64>,
    /// The supplier the decision concerns, and its source when it is a stored supplier.
    pub supplier_id: String,
    pub supplier_source: Option<String>,
    /// The listed entity: its source and id.
    pub source: String,
    pub entity_id: String,
    pub decision: Verdict,
    pub note: String,
    /// The listed record's content hash when the decision was made.
    pub content_hash: Option<String>,
    /// What the reviewer saw of the listed entity.
    pub entity: EntitySnapshot,
    /// The decision in force for the same supplier and entity that this one superseded.
    pub supersedes: Option<i64>,
    /// The key that made it.
    pub key_id: Option<i64>,
    pub created_at: String,
}

/// A decision with what became of it since: what `GET /v1/decisions` lists. (A
/// screening embeds the [`Decision`] alone, which never changes, so that it reproduces.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    #[serde(flatten)]
    pub decision: Decision,
    pub status: DecisionStatus,
    /// Set when the decision was withdrawn.
    pub withdrawn: Option<Withdrawal>,
}

/// Whether a decision is the one in force for its supplier and entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionStatus {
    /// The newest decision on its supplier and entity that was not withdrawn.
    InForce,
    /// A newer decision on the same supplier and entity is in force.
    Superseded,
    Withdrawn,
}

impl DecisionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionStatus::InForce => "in_force",
            DecisionStatus::Superseded => "superseded",
            DecisionStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<DecisionStatus> {
        [DecisionStatus::InForce, DecisionStatus::Superseded, DecisionStatus::Withdrawn]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A decision taken back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Withdrawal {
    pub note: String,
    pub key_id: Option<i64>,
    pub created_at: String,
}

/// The decisions a screening applies, by supplier and listed entity: for each pair, the
/// newest of those given (the store gives the ones not withdrawn; a reproduction, the
/// ones the stored screening applied).
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    in_force: HashMap<(String, String, String), Decision>,
}

impl Decisions {
    /// The newest of `decisions` for each supplier and entity (in any order).
    pub fn newest(decisions: impl IntoIterator<Item = Decision>) -> Decisions {
        let mut in_force: HashMap<(String, String, String), Decision> = HashMap::new();
        for decision in decisions {
            let key = (decision.supplier_id.clone(), decision.source.clone(), decision.entity_id.clone());
            match in_force.get(&key) {
                Some(newer) if newer.id > decision.id => {}
                _ => {
                    in_force.insert(key, decision);
                }
            }
        }
        Decisions { in_force }
    }

    pub fn is_empty(&self) -> bool {
        self.in_force.is_empty()
    }

    /// The ids of the decisions in force, ascending: what a screening names to be reproduced.
    pub fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.in_force.values().map(|decision| decision.id).collect();
        ids.sort_unstable();
        ids
    }

    /// The decision in force on a supplier's match with a listed entity.
    pub fn get(&self, supplier_id: &str, source: &str, entity_id: &str) -> Option<&Decision> {
        self.in_force.get(&(supplier_id.to_owned(), source.to_owned(), entity_id.to_owned()))
    }

    /// Sorts a supplier's matches by the decisions in force: a false positive whose
    /// entity is unchanged is dismissed; one whose entity changed is kept, reopened; a
    /// confirmed match is kept with its decision. Without a supplier id nothing is decided.
    pub fn review(&self, supplier_id: Option<&str>, matches: Vec<Match>) -> Review {
        let mut review = Review::default();
        for found in matches {
            let decision =
                supplier_id.and_then(|id| self.get(id, &found.entity.source, &found.entity.entity_id)).cloned();
            match decision {
                Some(decision) if decision.decision == Verdict::FalsePositive => {
                    let changed_fields = decision.entity.changed_fields(&EntitySnapshot::of(&found.entity));
                    if changed_fields.is_empty() {
                        review.dismissed.push(DismissedMatch { found, decision });
                    } else {
                        let reopened = Some(Reopened { decision, changed_fields });
                        review.matches.push(ReviewedMatch { found, decision: None, reopened });
                    }
                }
                decision => review.matches.push(ReviewedMatch { found, decision, reopened: None }),
            }
        }
        review
    }
}

/// A supplier's matches sorted by the decisions in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    /// The matches that count, best first.
    pub matches: Vec<ReviewedMatch>,
    /// The matches dismissed as false positives, best first.
    pub dismissed: Vec<DismissedMatch>,
}

impl Review {
    /// The matches the rules count.
    pub fn counted(&self) -> Vec<Match> {
        self.matches.iter().map(|reviewed| reviewed.found.clone()).collect()
    }
}

/// A match that counts, with what reviewers decided about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewedMatch {
    #[serde(flatten)]
    pub found: Match,
    /// A confirmed decision on this match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// A false-positive decision that no longer holds: the listed entity changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened: Option<Reopened>,
}

impl std::ops::Deref for ReviewedMatch {
    type Target = Match;
    fn deref(&self) -> &Match {
        &self.found
    }
}

/// A match a false-positive decision dismisses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DismissedMatch {
    #[serde(flatten)]
    pub found: Match,
    pub decision: Decision,
}

/// A false-positive decision reopened by a change of the listed entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reopened {
    /// The earlier decision, with what the reviewer saw then.
    pub decision: Decision,
    /// The fields of the listed entity that changed since.
    pub changed_fields: Vec<EntityField>,
}

/// A reviewer's decision on one match of a stored screening (`POST /v1/decisions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The stored screening whose match was reviewed.
    pub screening_id: i64,
    /// The listed entity matched: its source and id, as in the match's `entity`.
    pub source: String,
    pub entity_id: String,
    pub decision: Verdict,
    /// Why: what the reviewer checked.
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*\S[^\u0000]*$")]
    pub note: String,
}

/// The longest note accepted with a decision or a closed alert.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// Why a decision could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no screening {0}")]
    ScreeningNotFound(i64),
    #[error(
        "screening {screening_id} has no match with {entity_source:?}/{entity_id:?}; decide on one of its \
         result.matches or result.dismissed"
    )]
    NoSuchMatch { screening_id: i64, entity_source: String, entity_id: String },
    #[error("screening {0} names no usable supplier id, so no later screening could honour a decision on it")]
    NoSupplierId(i64),
    #[error("{0}")]
    BadNote(String),
    #[error("the stored screening could not be read: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Checks a note: not empty, not too long.
pub fn check_note(note: &str) -> Result<(), String> {
    if note.trim().is_empty() {
        return Err("note must say what was checked (it may not be empty)".to_owned());
    }
    if note.contains('\0') {
        return Err("note must not contain NUL characters".to_owned());
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(format!("note: at most {MAX_NOTE_CHARS} characters"));
    }
    Ok(())
}

/// Records a decision on a match of a stored screening: the supplier it concerns (and
/// its source, when the store holds it), the listed entity as the screening showed it
/// and its content hash now.
pub async fn decide(
    store: &crate::store::Store,
    request: &DecisionRequest,
    key_id: Option<i64>,
) -> Result<DecisionRecord, DecisionError> {
    use crate::records::Supplier;
    use crate::service::{ScreeningRequest, ScreeningResult};
    use crate::store::decisions::NewDecision;

    check_note(&request.note).map_err(DecisionError::BadNote)?;
    let screening_id = request.screening_id;
    let stored = store.get_screening(screening_id).await?.ok_or(DecisionError::ScreeningNotFound(screening_id))?;
    let input = ScreeningRequest::deserialize(&*stored.input)?;
    let result = ScreeningResult::deserialize(&*stored.result)?;
    let is_it = |found: &Match| found.entity.source == request.source && found.entity.entity_id == request.entity_id;
    let entity = result
        .matches
        .iter()
        .map(|reviewed| &reviewed.found)
        .chain(result.dismissed.iter().map(|dismissed| &dismissed.found))
        .find(|found| is_it(found))
        .map(|found| EntitySnapshot::of(&found.entity))
        .ok_or_else(|| DecisionError::NoSuchMatch {
            screening_id,
            entity_source: request.source.clone(),
            entity_id: request.entity_id.clone(),
        })?;
    // The matches listed are those of the request's supplier, or of its first line's.
    let supplier_id = match (&input.supplier, input.lines.first()) {
        (Some(supplier), _) => Some(supplier.supplier_id.clone()),
        (None, Some(line)) => line.supplier_id.clone(),
        (None, None) => None,
    }
    .filter(|id| !id.trim().is_empty() && !id.contains('\0'))
    .ok_or(DecisionError::NoSupplierId(screening_id))?;
    let supplier_source = store
        .records_by_keys::<Supplier>(std::slice::from_ref(&supplier_id))
        .await?
        .into_iter()
        .next()
        .map(|s| s.source);
    let content_hash = store.watchlist_content_hash(&request.source, &request.entity_id).await?;
    let new = NewDecision {
        screening_id: Some(screening_id),
        alert_id: None,
        supplier_id: &supplier_id,
        supplier_source: supplier_source.as_deref(),
        source: &request.source,
        entity_id: &request.entity_id,
        decision: request.decision,
        note: request.note.trim(),
        content_hash: content_hash.as_deref(),
        entity: &entity,
        key_id,
    };
    Ok(store.insert_decision(&new).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(name: &str, aliases: &[&str]) -> EntitySnapshot {
        EntitySnapshot {
            name: name.to_owned(),
            aliases: aliases.iter().map(|alias| (*alias).to_owned()).collect(),
            tax_id: Some("20111111111".to_owned()),
            country: Some("PE".to_owned()),
            reason: Some("listed".to_owned()),
            list: Some("Lista".to_owned()),
        }
    }

    fn decision(id: i64, entity_id: &str, verdict: Verdict, entity: EntitySnapshot) -> Decision {
        Decision {
            id,
            screening_id: Some(1),
            alert_id: None,
            supplier_id: "S-1".to_owned(),
            supplier_source: None,
            source: "list".to_owned(),
            entity_id: entity_id.to_owned(),
            decision: verdict,
            note: String::new(),
            content_hash: None,
            entity,
            supersedes: None,
            key_id: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn changed_fields_name_each_field_that_differs() {
        let before = snapshot("Maderera Loreto S.A.", &["Loreto", "MLSA"]);
        assert_eq!(before.changed_fields(&snapshot("Maderera Loreto S.A.", &["MLSA", "Loreto"])), vec![]);
        assert_eq!(before.changed_fields(&snapshot("Maderera Loreto S.A.", &["Loreto"])), vec![EntityField::Aliases]);
        let mut now = snapshot("Maderera del Loreto S.A.", &["Loreto", "MLSA"]);
        now.tax_id = None;
        now.list = Some("Otra lista".to_owned());
        assert_eq!(before.changed_fields(&now), vec![EntityField::Name, EntityField::TaxId, EntityField::List]);
    }

    #[test]
    fn the_newest_decision_on_a_supplier_and_entity_is_in_force() {
        let entity = snapshot("Maderera Loreto S.A.", &[]);
        let decisions = Decisions::newest([
            decision(2, "E-1", Verdict::FalsePositive, entity.clone()),
            decision(1, "E-1", Verdict::Confirmed, entity.clone()),
            decision(4, "E-2", Verdict::Confirmed, entity),
        ]);
        assert_eq!(decisions.ids(), vec![2, 4]);
        assert_eq!(decisions.get("S-1", "list", "E-1").map(|d| d.decision), Some(Verdict::FalsePositive));
        assert!(decisions.get("S-2", "list", "E-1").is_none());
    }
}
