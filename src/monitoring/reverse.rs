//! Reverse screening: the watchlist entries one load inserted or changed, against the
//! monitored base (the suppliers and agencies in the store).
//!
//! For each changed entry the index gives the suppliers and agencies whose names or tax
//! id are like it (the candidate search screenings use, from the other side); each
//! candidate is scored against the entry as a screening of the candidate would score it
//! ([`Matcher::compare`]), and those that reach the *possible* threshold are screened for
//! real, in the same index view. So an alert is raised only for a match that a screening
//! of the supplier shows, with that screening's explanation, and the whole base is never
//! screened against the whole list. What monitoring saw of the match before and the
//! decisions in force tell what the match is ([`classify`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context as _;

use crate::decisions::{Decision, EntityField, EntitySnapshot, Verdict};
use crate::matching::index::{CandidateQuery, Filters, IndexView, Indexable, IndexedEntity};
use crate::matching::normalize::{NormalizedName, normalize};
use crate::matching::{CANDIDATE_BUDGET, Match, Matcher, ScreeningQuery, Strength};
use crate::monitoring::{AlertDetails, AlertKind, NewAlert, Subject};
use crate::records::{Agency, RecordKind, Supplier, WatchlistEntry};
use crate::store::Store;
use crate::store::monitoring::{JobOutcome, MatchKey, MonitoredMatch};

/// Changed entries read from the store at a time.
const PAGE_SIZE: i64 = 5_000;

/// The kinds of record monitoring watches (the monitored base).
const MONITORED_KINDS: [RecordKind; 2] = [RecordKind::Suppliers, RecordKind::Agencies];

/// A monitored record by kind, source and id.
type SubjectRef = (RecordKind, String, String);

/// Reverse-screens what load `dataset_id` changed in the watchlists against the monitored
/// base, in one index view that reflects the load, on `threads` threads.
pub(crate) async fn run(
    store: &Store,
    matcher: &Arc<Matcher>,
    view: &IndexView,
    dataset_id: i64,
    threads: usize,
) -> anyhow::Result<JobOutcome> {
    // Nothing monitored, nothing to find: a first load of a large list into a store with
    // no suppliers or agencies is not reverse-screened entry by entry.
    let mut n_monitored = 0;
    for kind in MONITORED_KINDS {
        n_monitored += store.count_records(kind).await?;
    }
    if n_monitored == 0 {
        let n_examined = store.count_records_changed_by(RecordKind::Watchlist, dataset_id).await?;
        return Ok(JobOutcome { index_version: Some(view.version()), n_examined, ..JobOutcome::default() });
    }
    let mut entries: Vec<IndexedEntity> = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = store.records_changed_by::<WatchlistEntry>(dataset_id, after.as_ref(), PAGE_SIZE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.source.clone(), last.key.clone()));
        entries.extend(page.iter().map(|stored| stored.record.to_entity(&stored.source)));
    }
    let mut outcome =
        JobOutcome { index_version: Some(view.version()), n_examined: entries.len() as i64, ..JobOutcome::default() };
    if entries.is_empty() {
        return Ok(outcome);
    }
    let entries = Arc::new(entries);

    // The monitored records like each changed entry, and those monitoring saw match it.
    let hits = {
        let (matcher, view, entries) = (matcher.clone(), view.clone(), entries.clone());
        tokio::task::spawn_blocking(move || find_hits(&matcher, &view, &entries, threads))
            .await
            .context("a reverse-screening thread panicked")??
    };
    let entry_keys: Vec<(String, String)> =
        entries.iter().map(|entry| (entry.source.clone(), entry.entity_id.clone())).collect();
    let entry_of: HashMap<&(String, String), usize> =
        entry_keys.iter().enumerate().map(|(idx, key)| (key, idx)).collect();
    let prior = store.monitored_matches_of(&entry_keys).await?;
    let mut wanted: HashMap<SubjectRef, BTreeSet<usize>> = HashMap::new();
    for (subject, entry_idx) in hits {
        wanted.entry(subject).or_default().insert(entry_idx);
    }
    for key in prior.keys() {
        if let Some(&entry_idx) = entry_of.get(&(key.source.clone(), key.entity_id.clone())) {
            let subject = (key.subject_kind, key.subject_source.clone(), key.subject_id.clone());
            wanted.entry(subject).or_default().insert(entry_idx);
        }
    }

    // Each of those screened as a screening would, in the same view.
    let subjects = read_subjects(store, &wanted).await?;
    let screened: Vec<Vec<Match>> = {
        let (matcher, view) = (matcher.clone(), view.clone());
        let queries: Vec<ScreeningQuery> = subjects.iter().map(|(_, query)| query.clone()).collect();
        tokio::task::spawn_blocking(move || screen_all(&matcher, &view, &queries, threads))
            .await
            .context("a screening thread panicked")??
    };
    let supplier_ids: Vec<String> = subjects
        .iter()
        .filter(|(subject, _)| subject.kind == RecordKind::Suppliers)
        .map(|(subject, _)| subject.id.clone())
        .collect();
    let decisions = store.decisions_in_force(&supplier_ids).await?;

    for ((subject, _), matches) in subjects.iter().zip(&screened) {
        let subject_ref = (subject.kind, subject.source.clone(), subject.id.clone());
        for &entry_idx in &wanted[&subject_ref] {
            let entry = &entries[entry_idx];
            let key = MatchKey {
                subject_kind: subject.kind,
                subject_source: subject.source.clone(),
                subject_id: subject.id.clone(),
                source: entry.source.clone(),
                entity_id: entry.entity_id.clone(),
            };
            let found = matches
                .iter()
                .find(|found| found.entity.source == entry.source && found.entity.entity_id == entry.entity_id);
            let Some(found) = found else {
                if prior.contains_key(&key) {
                    outcome.gone.push(key);
                }
                continue;
            };
            let decision = match subject.kind {
                RecordKind::Suppliers => {
                    decisions.get(&subject.id, &entry.source, &entry.entity_id).filter(|decision| {
                        decision.supplier_source.as_ref().is_none_or(|source| *source == subject.source)
                    })
                }
                _ => None,
            };
            let now = EntitySnapshot::of(&found.entity);
            let classified = classify(prior.get(&key), decision, &now);
            if let Some((kind, details)) = classified.alert {
                outcome.alerts.push(NewAlert {
                    kind,
                    subject: subject.clone(),
                    agency_id: (subject.kind == RecordKind::Agencies).then(|| subject.id.clone()),
                    source: entry.source.clone(),
                    entity_id: entry.entity_id.clone(),
                    details: AlertDetails { found: Some(found.clone()), ..details },
                });
            }
            outcome.seen.push(MonitoredMatch {
                key,
                entity: now,
                reopened_decision_id: classified.reopened_decision_id,
            });
        }
    }
    Ok(outcome)
}

/// For each entry, the monitored suppliers and agencies whose score against it reaches
/// the *possible* threshold: `(subject, entry index)` pairs.
fn find_hits(
    matcher: &Matcher,
    view: &IndexView,
    entries: &[IndexedEntity],
    threads: usize,
) -> anyhow::Result<Vec<(SubjectRef, usize)>> {
    let threads = threads.max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || -> anyhow::Result<Vec<(SubjectRef, usize)>> {
                    let mut hits = Vec::new();
                    for (entry_idx, entry) in entries.iter().enumerate().skip(thread).step_by(threads) {
                        let names: Vec<NormalizedName> = entry.names.iter().map(|name| normalize(name)).collect();
                        for kind in MONITORED_KINDS {
                            let query = CandidateQuery {
                                kind,
                                names: &names,
                                tax_id: entry.tax_id.as_deref(),
                                licence_number: None,
                                filters: Filters::default(),
                            };
                            for candidate in matcher.index().candidates(view, &query, CANDIDATE_BUDGET)? {
                                let scored = matcher.compare(&query_of_entity(&candidate), entry.clone());
                                if scored.strength >= Strength::Possible {
                                    hits.push(((kind, candidate.source, candidate.entity_id), entry_idx));
                                }
                            }
                        }
                    }
                    Ok(hits)
                })
            })
            .collect();
        let mut hits = Vec::new();
        for worker in workers {
            hits.extend(worker.join().map_err(|_| anyhow::anyhow!("a reverse-screening thread panicked"))??);
        }
        Ok(hits)
    })
}

/// Who to look for when screening an indexed supplier or agency (its tax id as indexed).
fn query_of_entity(entity: &IndexedEntity) -> ScreeningQuery {
    ScreeningQuery {
        name: entity.names.first().cloned().unwrap_or_default(),
        aliases: entity.names.iter().skip(1).cloned().collect(),
        tax_id: entity.tax_id.clone(),
        country: entity.country.clone(),
    }
}

/// The monitored records wanted, read from the store, each with what a screening of it
/// looks for (as `Screener::matching_query` builds it for a stored supplier).
async fn read_subjects(
    store: &Store,
    wanted: &HashMap<SubjectRef, BTreeSet<usize>>,
) -> anyhow::Result<Vec<(Subject, ScreeningQuery)>> {
    let keys_of = |kind: RecordKind| -> Vec<String> {
        let keys: BTreeSet<String> =
            wanted.keys().filter(|(each, _, _)| *each == kind).map(|(_, _, id)| id.clone()).collect();
        keys.into_iter().collect()
    };
    let mut subjects = Vec::new();
    for stored in store.records_by_keys::<Supplier>(&keys_of(RecordKind::Suppliers)).await? {
        if wanted.contains_key(&(RecordKind::Suppliers, stored.source.clone(), stored.key.clone())) {
            let supplier = stored.record;
            let query = ScreeningQuery {
                name: supplier.name.clone(),
                aliases: supplier.aliases,
                tax_id: supplier.tax_id,
                country: supplier.country,
            };
            let subject =
                Subject { kind: RecordKind::Suppliers, source: stored.source, id: stored.key, name: supplier.name };
            subjects.push((subject, query));
        }
    }
    for stored in store.records_by_keys::<Agency>(&keys_of(RecordKind::Agencies)).await? {
        if wanted.contains_key(&(RecordKind::Agencies, stored.source.clone(), stored.key.clone())) {
            let agency = stored.record;
            let query = ScreeningQuery {
                name: agency.name.clone(),
                aliases: agency.aliases,
                tax_id: agency.tax_id,
                country: agency.country,
            };
            let subject =
                Subject { kind: RecordKind::Agencies, source: stored.source, id: stored.key, name: agency.name };
            subjects.push((subject, query));
        }
    }
    Ok(subjects)
}

/// Screens each query in one view on `threads` threads; the results keep the queries' order.
fn screen_all(
    matcher: &Matcher,
    view: &IndexView,
    queries: &[ScreeningQuery],
    threads: usize,
) -> anyhow::Result<Vec<Vec<Match>>> {
    let threads = threads.max(1);
    let mut results: Vec<Vec<Match>> = vec![Vec::new(); queries.len()];
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || -> anyhow::Result<Vec<(usize, Vec<Match>)>> {
                    queries
                        .iter()
                        .enumerate()
                        .skip(thread)
                        .step_by(threads)
                        .map(|(idx, query)| Ok((idx, matcher.screen_in(view, query)?)))
                        .collect()
                })
            })
            .collect();
        for worker in workers {
            for (idx, matches) in worker.join().map_err(|_| anyhow::anyhow!("a screening thread panicked"))?? {
                results[idx] = matches;
            }
        }
        Ok(())
    })?;
    Ok(results)
}

/// What a match found by reverse screening is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Classified {
    /// The alert to raise, if any: its kind and what it says beyond the match.
    pub alert: Option<(AlertKind, AlertDetails)>,
    /// The false-positive decision whose reopening has been raised (now or before).
    pub reopened_decision_id: Option<i64>,
}

/// Tells what a match that holds now is, from what monitoring saw of it before (`prior`),
/// the decision in force on it, and the listed entity as it is now:
///
/// - a false positive whose entity is unchanged since the decision stays dismissed:
///   nothing; one whose entity changed is `reopened` (once; later changes are
///   `changed_match`);
/// - otherwise a match monitoring never saw (and no reviewer confirmed) is `new_match`;
/// - one whose entity changed since monitoring (or the confirmation) saw it is
///   `changed_match`; an unchanged one raises nothing.
pub(crate) fn classify(
    prior: Option<&MonitoredMatch>,
    decision: Option<&Decision>,
    now: &EntitySnapshot,
) -> Classified {
    let changed_since = |before: &EntitySnapshot, decision: Option<&Decision>| -> Option<(AlertKind, AlertDetails)> {
        let changed_fields = before.changed_fields(now);
        (!changed_fields.is_empty()).then(|| {
            let details = AlertDetails {
                changed_fields,
                before: Some(before.clone()),
                decision: decision.cloned(),
                ..AlertDetails::default()
            };
            (AlertKind::ChangedMatch, details)
        })
    };
    match decision {
        Some(decision) if decision.decision == Verdict::FalsePositive => {
            let changed_fields: Vec<EntityField> = decision.entity.changed_fields(now);
            if changed_fields.is_empty() {
                return Classified { alert: None, reopened_decision_id: None };
            }
            let already_reopened = prior.is_some_and(|prior| prior.reopened_decision_id == Some(decision.id));
            let alert = match prior {
                Some(prior) if already_reopened => changed_since(&prior.entity, None),
                _ => {
                    let details = AlertDetails {
                        changed_fields,
                        before: Some(decision.entity.clone()),
                        decision: Some(decision.clone()),
                        ..AlertDetails::default()
                    };
                    Some((AlertKind::Reopened, details))
                }
            };
            Classified { alert, reopened_decision_id: Some(decision.id) }
        }
        confirmed => {
            let before = prior.map(|prior| &prior.entity).or(confirmed.map(|decision| &decision.entity));
            let alert = match before {
                Some(before) => changed_since(before, confirmed),
                None => Some((AlertKind::NewMatch, AlertDetails::default())),
            };
            Classified { alert, reopened_decision_id: None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(aliases: &[&str]) -> EntitySnapshot {
        EntitySnapshot {
            name: "Maderera Loreto S.A.".to_owned(),
            aliases: aliases.iter().map(|alias| (*alias).to_owned()).collect(),
            tax_id: Some("20111111111".to_owned()),
            country: Some("PE".to_owned()),
            reason: Some("tala ilegal".to_owned()),
            list: Some("Lista".to_owned()),
        }
    }

    fn prior(entity: EntitySnapshot, reopened_decision_id: Option<i64>) -> MonitoredMatch {
        let key = MatchKey {
            subject_kind: RecordKind::Suppliers,
            subject_source: "local".to_owned(),
            subject_id: "S-1".to_owned(),
            source: "lista".to_owned(),
            entity_id: "E-1".to_owned(),
        };
        MonitoredMatch { key, entity, reopened_decision_id }
    }

    fn decision(verdict: Verdict, entity: EntitySnapshot) -> Decision {
        Decision {
            id: 7,
            screening_id: Some(1),
            alert_id: None,
            supplier_id: "S-1".to_owned(),
            supplier_source: None,
            source: "lista".to_owned(),
            entity_id: "E-1".to_owned(),
            decision: verdict,
            note: "otra empresa".to_owned(),
            content_hash: None,
            entity,
            supersedes: None,
            key_id: None,
            created_at: String::new(),
        }
    }

    fn kind(classified: &Classified) -> Option<AlertKind> {
        classified.alert.as_ref().map(|(kind, _)| *kind)
    }

    /// The life of a match, as a table: what monitoring saw, the decision, the entity now.
    #[test]
    fn matches_are_classified_by_what_was_seen_and_decided() {
        use AlertKind::*;
        let before = entity(&["Loreto"]);
        let after = entity(&["Loreto", "Maderera del Oriente"]);
        let fp = decision(Verdict::FalsePositive, before.clone());
        let confirmed = decision(Verdict::Confirmed, before.clone());
        let again = entity(&[]);
        // (case, what monitoring saw, the decision, the entity now, the alert, the reopened decision)
        type Case<'a> =
            (&'a str, Option<MonitoredMatch>, Option<&'a Decision>, &'a EntitySnapshot, Option<AlertKind>, Option<i64>);
        let cases: Vec<Case> = vec![
            ("never seen, no decision", None, None, &after, Some(NewMatch), None),
            ("seen, unchanged", Some(prior(after.clone(), None)), None, &after, None, None),
            ("seen, changed", Some(prior(before.clone(), None)), None, &after, Some(ChangedMatch), None),
            ("false positive, unchanged", Some(prior(before.clone(), None)), Some(&fp), &before, None, None),
            ("false positive, never seen, unchanged", None, Some(&fp), &before, None, None),
            ("false positive, changed", Some(prior(before.clone(), None)), Some(&fp), &after, Some(Reopened), Some(7)),
            ("false positive, never seen, changed", None, Some(&fp), &after, Some(Reopened), Some(7)),
            ("reopened before, unchanged since", Some(prior(after.clone(), Some(7))), Some(&fp), &after, None, Some(7)),
            (
                "reopened before, changed again",
                Some(prior(after.clone(), Some(7))),
                Some(&fp),
                &again,
                Some(ChangedMatch),
                Some(7),
            ),
            ("confirmed, never seen, unchanged", None, Some(&confirmed), &before, None, None),
            ("confirmed, changed", None, Some(&confirmed), &after, Some(ChangedMatch), None),
        ];
        for (case, prior, decision, now, expected_kind, expected_reopened) in cases {
            let classified = classify(prior.as_ref(), decision, now);
            assert_eq!(kind(&classified), expected_kind, "{case}");
            assert_eq!(classified.reopened_decision_id, expected_reopened, "{case}");
        }
        let reopened = classify(Some(&prior(before.clone(), None)), Some(&fp), &after);
        let (_, details) = reopened.alert.unwrap();
        assert_eq!(details.changed_fields, vec![EntityField::Aliases]);
        assert_eq!(details.decision.map(|decision| decision.id), Some(7));
        assert_eq!(details.before, Some(before));
    }
}
