//! Monitoring the supplier base: alerts when a list load changes what is known about a
//! supplier or agency in the store, and their delivery to webhooks.
//!
//! The suppliers and agencies in the store are the *monitored base*. Every load that
//! changes watchlist entries, licence-register entries or agencies leaves a monitoring
//! job in the store, written in the load's own transaction ([`JobKind`]); once a day a
//! job checks licence expiry. Jobs are leased like audit chunks (`store::leases`), taken
//! one at a time in order by whichever worker has an index at least as new as the load,
//! and a job's alerts, its *done* mark and what it learnt commit together, only while the
//! job is still its worker's: each alert is raised once, whatever the number of replicas.
//!
//! - [`reverse`] reverse-screens the watchlist entries a load inserted or changed against
//!   the monitored base (candidates from the index, then each candidate screened as a
//!   screening would), and raises `new_match`, `changed_match` and `reopened`.
//! - [`licences`] raises `licence_lost` for an agency whose licence was revoked,
//!   suspended, expired or left the register, and for each supplier that recruits
//!   through it.
//! - [`worker`] claims and runs the jobs ([`Monitor`]).
//! - [`webhooks`] delivers each alert to the webhooks that want it, signed, with retries.

pub mod licences;
pub mod reverse;
pub mod webhooks;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::decisions::{Decision, EntityField, EntitySnapshot, Verdict, check_note};
use crate::matching::Match;
use crate::records::RecordKind;
use crate::store::Store;
use crate::store::decisions::NewDecision;
use crate::store::monitoring::{CloseAlert, Closed};

pub use worker::Monitor;

/// What an alert says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A monitored supplier or agency now matches a listed entity it did not match.
    NewMatch,
    /// A listed entity that a monitored supplier or agency matches changed (name,
    /// aliases, tax id, country, reason or list).
    ChangedMatch,
    /// A match dismissed as a false positive is back: the listed entity changed since
    /// the decision.
    Reopened,
    /// An agency lost its licence (revoked, suspended, expired, or gone from the
    /// register): raised for the agency and for each supplier that recruits through it.
    LicenceLost,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] =
        [AlertKind::NewMatch, AlertKind::ChangedMatch, AlertKind::Reopened, AlertKind::LicenceLost];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NewMatch => "new_match",
            AlertKind::ChangedMatch => "changed_match",
            AlertKind::Reopened => "reopened",
            AlertKind::LicenceLost => "licence_lost",
        }
    }

    pub fn parse(text: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Whether an alert still wants attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Closed,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<AlertStatus> {
        [AlertStatus::Open, AlertStatus::Closed].into_iter().find(|status| status.as_str() == text)
    }
}

/// What kind of monitoring job a row of `monitor_jobs` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Reverse-screen the watchlist entries one load inserted or changed.
    WatchlistChanges,
    /// Check the licences of the agencies a licence-register or agency load touched.
    LicenceChanges,
    /// Check every agency's licence for expiry, once a day.
    LicenceExpiry,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::WatchlistChanges => "watchlist_changes",
            JobKind::LicenceChanges => "licence_changes",
            JobKind::LicenceExpiry => "licence_expiry",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        [JobKind::WatchlistChanges, JobKind::LicenceChanges, JobKind::LicenceExpiry]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// Whether the job searches the index (and so waits for an index that reflects its load).
    pub fn needs_index(self) -> bool {
        self == JobKind::WatchlistChanges
    }

    /// The job a completed load of `kind` leaves, if any: watchlist loads are
    /// reverse-screened, licence-register and agency loads have their licences checked.
    pub fn after_load(kind: RecordKind) -> Option<JobKind> {
        match kind {
            RecordKind::Watchlist => Some(JobKind::WatchlistChanges),
            RecordKind::Licences | RecordKind::Agencies => Some(JobKind::LicenceChanges),
            RecordKind::Suppliers | RecordKind::Procurements => None,
        }
    }
}

/// An alert as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub kind: AlertKind,
    pub status: AlertStatus,
    /// What the alert concerns: a monitored supplier (`suppliers`) or agency (`agencies`).
    pub subject_kind: RecordKind,
    /// The supplier it concerns (`None` when it concerns an agency).
    pub supplier_id: Option<String>,
    /// The monitored record: its source, id and name.
    pub subject_source: String,
    pub subject_id: String,
    pub subject_name: String,
    /// The agency a `licence_lost` alert is about (for a supplier, the one it recruits through).
    pub agency_id: Option<String>,
    /// The listed entity (for `licence_lost`, the agency record): its source and id.
    pub source: String,
    pub entity_id: String,
    /// The load that raised it (`None` for the daily expiry check).
    pub dataset_id: Option<i64>,
    /// The monitoring job that raised it, and the index version it screened against.
    pub job_id: i64,
    pub index_version: Option<i64>,
    pub created_at: String,
    #[serde(flatten)]
    pub details: AlertDetails,
    /// When, by whom and why it was closed.
    pub closed: Option<Closure>,
}

/// What an alert knows beyond whom it concerns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertDetails {
    /// The match as a screening of the supplier now gives it, with its explanation.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub found: Option<Match>,
    /// The listed entity's fields that changed (since the decision, for `reopened`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<EntityField>,
    /// The listed entity as it was before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<EntitySnapshot>,
    /// The earlier decision on the match (the false positive that reopened, or a confirmation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The licence that was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<LicenceChange>,
}

/// An agency's licence status before and after, for `licence_lost`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LicenceChange {
    /// The status now: revoked, suspended, expired or not_in_register.
    pub licence_status: String,
    /// The status monitoring saw before, if any.
    pub previous_status: Option<String>,
    pub licence_number: Option<String>,
    pub expires_on: Option<String>,
}

/// How an alert was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Closure {
    pub closed_at: String,
    pub closed_by: Option<i64>,
    pub note: String,
    /// The decision recorded with the closure, if any.
    pub decision_id: Option<i64>,
}

/// An alert about to be raised.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub kind: AlertKind,
    pub subject: Subject,
    pub agency_id: Option<String>,
    pub source: String,
    pub entity_id: String,
    pub details: AlertDetails,
}

/// A monitored record: a supplier or an agency, by source and id, with its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub kind: RecordKind,
    pub source: String,
    pub id: String,
    pub name: String,
}

/// How an alert is closed (`POST /v1/alerts/{id}`): with a note and, for a supplier's
/// watchlist match, optionally with a decision on it in the same step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// What was checked: not blank, no NUL characters, at most 2,000 characters.
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*\S[^\u0000]*$")]
    pub note: String,
    /// A decision on the alert's match, recorded with the closure.
    #[serde(default)]
    pub decision: Option<Verdict>,
}

/// Why an alert could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("no alert {0}")]
    NotFound(i64),
    #[error("alert {0} is already closed")]
    AlreadyClosed(i64),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Closes an open alert with a note, and records the decision on its match if one is
/// given (a decision concerns a supplier's watchlist match: not a licence alert, not an
/// agency's), in one transaction.
pub async fn close_alert(
    store: &Store,
    id: i64,
    request: &CloseRequest,
    key_id: Option<i64>,
) -> Result<Alert, CloseError> {
    check_note(&request.note).map_err(CloseError::BadRequest)?;
    let alert = store.get_alert(id).await?.ok_or(CloseError::NotFound(id))?;
    let decided = match request.decision {
        None => None,
        Some(verdict) => {
            let found = match (&alert.details.found, alert.subject_kind) {
                (Some(found), RecordKind::Suppliers) => found,
                _ => {
                    return Err(CloseError::BadRequest(format!(
                        "a decision concerns a supplier's watchlist match, and alert {id} is a {} alert about {} {:?}; \
                         close it with a note alone",
                        alert.kind,
                        alert.subject_kind.as_str(),
                        alert.subject_id
                    )));
                }
            };
            let content_hash = store.watchlist_content_hash(&alert.source, &alert.entity_id).await?;
            Some((verdict, EntitySnapshot::of(&found.entity), content_hash))
        }
    };
    let note = request.note.trim();
    let new_decision = decided.as_ref().map(|(verdict, entity, content_hash)| NewDecision {
        screening_id: None,
        alert_id: Some(id),
        supplier_id: &alert.subject_id,
        supplier_source: Some(&alert.subject_source),
        source: &alert.source,
        entity_id: &alert.entity_id,
        decision: *verdict,
        note,
        content_hash: content_hash.as_deref(),
        entity,
        key_id,
    });
    match store.close_alert(id, &CloseAlert { note, key_id }, new_decision.as_ref()).await? {
        Closed::Done(alert) => Ok(*alert),
        Closed::AlreadyClosed => Err(CloseError::AlreadyClosed(id)),
        Closed::NotFound => Err(CloseError::NotFound(id)),
    }
}
