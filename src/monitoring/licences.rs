//! Licence checks: `licence_lost` for an agency whose licence was revoked, suspended or
//! expired, or that left the register, and for each supplier that recruits through it.
//!
//! The status is the one the rules use (`agency.licence_status`: the register's word for
//! the agency's licence, `expired` for an active licence past its expiry, `not_in_register`
//! for an agency the register does not list), on the database's date. Monitoring keeps
//! each agency's last status (`licence_states`), so an alert is raised when the status
//! becomes lost, not every time it is seen lost ([`licence_lost`]). After a licence-
//! register load the agencies holding the licences it changed are checked, after an
//! agency load the agencies it changed, and once a day every agency (for expiry).

use std::collections::{BTreeSet, HashMap};

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::monitoring::{AlertDetails, AlertKind, LicenceChange, NewAlert, Subject};
use crate::records::{Agency, LicenceEntry, RecordKind};
use crate::rules::AgencyFacts;
use crate::store::Store;
use crate::store::monitoring::JobOutcome;
use crate::store::records::StoredRecord;

/// Records read from the store at a time.
const PAGE_SIZE: i64 = 5_000;

/// Statuses that mean the agency may not recruit.
const LOST: [&str; 4] = ["revoked", "suspended", "expired", "not_in_register"];
/// Statuses the register itself gives for a lost licence (as opposed to its silence).
const LOST_IN_REGISTER: [&str; 3] = ["revoked", "suspended", "expired"];
/// Statuses of an agency that holds, or is about to hold, a licence.
const HELD: [&str; 2] = ["active", "pending"];

/// Whether an agency whose licence status monitoring last saw as `previous` (`None` when
/// it never saw the agency, `Some(None)` when nothing was known) and is `now` has lost its
/// licence now. An agency that held a licence (active or pending) loses it when it becomes
/// revoked, suspended, expired or not in the register; any other agency (never seen,
/// unknown, unlicensed, not in the register) when the register says revoked, suspended or
/// expired. Going from one lost status to another raises nothing new.
pub(crate) fn licence_lost(previous: Option<Option<&str>>, now: Option<&str>) -> bool {
    let Some(now) = now.filter(|now| LOST.contains(now)) else { return false };
    match previous.flatten() {
        Some(previous) if HELD.contains(&previous) => true,
        Some(previous) if LOST_IN_REGISTER.contains(&previous) => false,
        _ => LOST_IN_REGISTER.contains(&now),
    }
}

/// Checks the agencies that load `dataset_id` (of licence-register entries or agencies) changed.
pub(crate) async fn after_load(store: &Store, dataset_id: i64, today: NaiveDate) -> anyhow::Result<JobOutcome> {
    let load = store.get_load(dataset_id).await?.with_context(|| format!("load {dataset_id} vanished"))?;
    let mut agency_ids: BTreeSet<String> = BTreeSet::new();
    match load.kind {
        RecordKind::Licences => {
            let mut numbers = Vec::new();
            let mut after: Option<(String, String)> = None;
            loop {
                let page = store.records_changed_by::<LicenceEntry>(dataset_id, after.as_ref(), PAGE_SIZE).await?;
                let Some(last) = page.last() else { break };
                after = Some((last.source.clone(), last.key.clone()));
                numbers.extend(page.into_iter().map(|stored| stored.key));
            }
            agency_ids.extend(store.agency_ids_with_licences(&numbers).await?);
        }
        RecordKind::Agencies => {
            let mut after: Option<(String, String)> = None;
            loop {
                let page = store.records_changed_by::<Agency>(dataset_id, after.as_ref(), PAGE_SIZE).await?;
                let Some(last) = page.last() else { break };
                after = Some((last.source.clone(), last.key.clone()));
                agency_ids.extend(page.into_iter().map(|stored| stored.key));
            }
        }
        _ => {}
    }
    check(store, agency_ids.into_iter().collect(), today).await
}

/// Checks every agency, for licences that expired.
pub(crate) async fn expiry(store: &Store, today: NaiveDate) -> anyhow::Result<JobOutcome> {
    check(store, store.all_agency_ids().await?, today).await
}

/// The first record of each key (sources in name order), as screenings read them.
fn first_of_each_key<R>(stored: Vec<StoredRecord<R>>) -> HashMap<String, StoredRecord<R>> {
    let mut first = HashMap::new();
    for record in stored {
        first.entry(record.key.clone()).or_insert(record);
    }
    first
}

async fn check(store: &Store, agency_ids: Vec<String>, today: NaiveDate) -> anyhow::Result<JobOutcome> {
    let mut outcome = JobOutcome { n_examined: agency_ids.len() as i64, ..JobOutcome::default() };
    for chunk in agency_ids.chunks(PAGE_SIZE as usize) {
        let agencies = first_of_each_key(store.records_by_keys::<Agency>(chunk).await?);
        let numbers: Vec<String> =
            agencies.values().filter_map(|stored| stored.record.licence_number.clone()).collect();
        let licences = first_of_each_key(store.records_by_keys::<LicenceEntry>(&numbers).await?);
        let states = store.licence_states(chunk).await?;
        for agency_id in chunk {
            let Some(stored) = agencies.get(agency_id) else { continue };
            let licence = stored.record.licence_number.as_ref().and_then(|number| licences.get(number));
            let facts = AgencyFacts {
                agency_id: agency_id.clone(),
                agency: Some(stored.record.clone()),
                licence: licence.map(|licence| licence.record.clone()),
            };
            let now = facts.licence_status_on(today);
            let previous = states.get(agency_id).map(Option::as_deref);
            if licence_lost(previous, now) {
                let change = LicenceChange {
                    licence_status: now.unwrap_or_default().to_owned(),
                    previous_status: previous.flatten().map(str::to_owned),
                    licence_number: stored.record.licence_number.clone(),
                    expires_on: licence
                        .and_then(|licence| licence.record.expires_on)
                        .or(stored.record.licence_expires)
                        .map(|day| day.to_string()),
                };
                let alert = |subject: Subject| NewAlert {
                    kind: AlertKind::LicenceLost,
                    subject,
                    agency_id: Some(agency_id.clone()),
                    source: stored.source.clone(),
                    entity_id: agency_id.clone(),
                    details: AlertDetails { licence: Some(change.clone()), ..AlertDetails::default() },
                };
                outcome.alerts.push(alert(Subject {
                    kind: RecordKind::Agencies,
                    source: stored.source.clone(),
                    id: agency_id.clone(),
                    name: stored.record.name.clone(),
                }));
                for supplier in store.suppliers_of_agency(agency_id).await? {
                    outcome.alerts.push(alert(Subject {
                        kind: RecordKind::Suppliers,
                        source: supplier.source,
                        id: supplier.key,
                        name: supplier.record.name,
                    }));
                }
            }
            outcome.licence_states.push((agency_id.clone(), now.map(str::to_owned)));
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When a licence counts as lost: what monitoring saw before, the status now.
    #[test]
    fn a_licence_is_lost_once_when_it_stops_being_held() {
        let never_seen = None;
        let unknown = Some(None);
        let seen = |status| Some(Some(status));
        type Case<'a> = (Option<Option<&'a str>>, Option<&'a str>, bool);
        let cases: [Case; 14] = [
            (seen("active"), Some("revoked"), true),
            (seen("active"), Some("suspended"), true),
            (seen("active"), Some("expired"), true),
            (seen("active"), Some("not_in_register"), true),
            (seen("pending"), Some("revoked"), true),
            (seen("active"), Some("active"), false),
            (seen("revoked"), Some("revoked"), false),
            (seen("revoked"), Some("expired"), false),
            (seen("not_in_register"), Some("revoked"), true),
            (seen("unlicensed"), Some("suspended"), true),
            (never_seen, Some("revoked"), true),
            (never_seen, Some("not_in_register"), false),
            (unknown, Some("not_in_register"), false),
            (seen("active"), None, false),
        ];
        for (previous, now, lost) in cases {
            assert_eq!(licence_lost(previous, now), lost, "{previous:?} → {now:?}");
        }
    }
}
