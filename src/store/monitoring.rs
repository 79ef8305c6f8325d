//! Monitoring in the store: the jobs that reverse-screen what a load changed and check
//! licences, what monitoring last saw of each match and each agency's licence, and the
//! alerts (see `crate::monitoring`).
//!
//! A load's job is written inside the load's transaction ([`enqueue_after_load`]), so
//! no completed load lacks one; the daily expiry job is one row per day (`job_key`), so
//! however many workers create it there is one. Jobs are claimed with a lease, one at a
//! time and in order (a job is claimed only when every earlier one is finished, so what
//! monitoring learnt from load N is there when load N+1 is examined), and only by a
//! worker whose index reflects the job's load. A job's alerts, their webhook deliveries,
//! its *done* mark and what it learnt commit in one transaction, and only while the job
//! is still its worker's.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::decisions::{NewDecision, insert_decision};
use super::{Backend, Store, now};
use crate::decisions::EntitySnapshot;
use crate::monitoring::{Alert, AlertDetails, AlertKind, AlertStatus, Closure, JobKind, NewAlert};
use crate::records::RecordKind;

/// How many times a monitoring job is started before it is failed (a job that keeps
/// failing must not hold up the ones after it for ever).
pub const MAX_JOB_ATTEMPTS: i64 = 5;

/// A monitoring job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MonitorJob {
    pub id: i64,
    pub kind: JobKind,
    /// The load it examines (`None` for the daily expiry check).
    pub dataset_id: Option<i64>,
    /// The store version the index must reflect before the job runs.
    pub min_version: i64,
    /// The day a `licence_expiry` job checks.
    pub day: Option<String>,
    /// pending, running, done or failed.
    pub status: String,
    pub attempts: i64,
    /// The index version it screened against.
    pub index_version: Option<i64>,
    pub n_examined: i64,
    pub n_alerts: i64,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// A match between a monitored record and a listed entity: who, and which entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchKey {
    pub subject_kind: RecordKind,
    pub subject_source: String,
    pub subject_id: String,
    pub source: String,
    pub entity_id: String,
}

/// What monitoring last saw of a match.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitoredMatch {
    pub key: MatchKey,
    pub entity: EntitySnapshot,
    /// The false-positive decision whose reopening was already raised.
    pub reopened_decision_id: Option<i64>,
}

/// What a finished job writes.
#[derive(Debug, Clone, Default)]
pub struct JobOutcome {
    pub index_version: Option<i64>,
    pub n_examined: i64,
    pub alerts: Vec<NewAlert>,
    /// Matches as seen now.
    pub seen: Vec<MonitoredMatch>,
    /// Matches that no longer hold.
    pub gone: Vec<MatchKey>,
    /// Agencies' licence statuses as seen now.
    pub licence_states: Vec<(String, Option<String>)>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub kind: Option<AlertKind>,
    pub subject_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// How an alert is closed.
#[derive(Debug, Clone)]
pub struct CloseAlert<'a> {
    pub note: &'a str,
    pub key_id: Option<i64>,
}

/// What became of a request to close an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Closed {
    Done(Box<Alert>),
    AlreadyClosed,
    NotFound,
}

const JOB_COLUMNS: &str = "id, kind, dataset_id, min_version, day, status, attempts, index_version, n_examined, \
     n_alerts, created_at, finished_at, error";

fn decode_err(column: &str, message: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: message.into() }
}

fn job_from_row(row: &AnyRow) -> sqlx::Result<MonitorJob> {
    let kind: String = row.try_get("kind")?;
    Ok(MonitorJob {
        id: row.try_get("id")?,
        kind: JobKind::parse(&kind).ok_or_else(|| decode_err("kind", format!("unknown job kind {kind:?}")))?,
        dataset_id: row.try_get("dataset_id")?,
        min_version: row.try_get("min_version")?,
        day: row.try_get("day")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        index_version: row.try_get("index_version")?,
        n_examined: row.try_get("n_examined")?,
        n_alerts: row.try_get("n_alerts")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        error: row.try_get("error")?,
    })
}

const ALERT_COLUMNS: &str = "id, job_id, kind, status, subject_kind, subject_source, subject_id, subject_name, \
     agency_id, source, entity_id, dataset_id, index_version, details, created_at, closed_at, closed_by, close_note, \
     decision_id";

fn alert_from_row(row: &AnyRow) -> sqlx::Result<Alert> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let subject_kind: String = row.try_get("subject_kind")?;
    let subject_kind =
        RecordKind::parse(&subject_kind).ok_or_else(|| decode_err("subject_kind", format!("{subject_kind:?}")))?;
    let subject_id: String = row.try_get("subject_id")?;
    let details: String = row.try_get("details")?;
    let closed_at: Option<String> = row.try_get("closed_at")?;
    Ok(Alert {
        id: row.try_get("id")?,
        kind: AlertKind::parse(&kind).ok_or_else(|| decode_err("kind", format!("unknown alert kind {kind:?}")))?,
        status: AlertStatus::parse(&status).ok_or_else(|| decode_err("status", format!("{status:?}")))?,
        subject_kind,
        supplier_id: (subject_kind == RecordKind::Suppliers).then(|| subject_id.clone()),
        subject_source: row.try_get("subject_source")?,
        subject_id,
        subject_name: row.try_get("subject_name")?,
        agency_id: row.try_get("agency_id")?,
        source: row.try_get("source")?,
        entity_id: row.try_get("entity_id")?,
        dataset_id: row.try_get("dataset_id")?,
        job_id: row.try_get("job_id")?,
        index_version: row.try_get("index_version")?,
        created_at: row.try_get("created_at")?,
        details: serde_json::from_str::<AlertDetails>(&details)
            .map_err(|err| decode_err("details", err.to_string()))?,
        closed: match closed_at {
            Some(closed_at) => Some(Closure {
                closed_at,
                closed_by: row.try_get("closed_by")?,
                note: row.try_get::<Option<String>, _>("close_note")?.unwrap_or_default(),
                decision_id: row.try_get("decision_id")?,
            }),
            None => None,
        },
    })
}

/// Leaves the monitoring job of a load that is about to commit, if its kind has one and
/// it changed anything; part of the load's transaction.
pub(crate) async fn enqueue_after_load(
    conn: &mut AnyConnection,
    dataset_id: i64,
    kind: RecordKind,
    version: i64,
    n_changed: i64,
) -> sqlx::Result<()> {
    let Some(job_kind) = JobKind::after_load(kind) else { return Ok(()) };
    if n_changed == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO monitor_jobs (job_key, kind, dataset_id, min_version, status, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5)",
    )
    .bind(format!("load:{dataset_id}"))
    .bind(job_kind.as_str())
    .bind(dataset_id)
    .bind(if job_kind.needs_index() { version } else { 0 })
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Today's date by the database's clock (`YYYY-MM-DD`, UTC).
    pub async fn database_today(&self) -> sqlx::Result<String> {
        let sql = format!("SELECT substr({}, 1, 10)", self.backend.now_sql());
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await
    }

    /// Makes sure today's licence-expiry job exists (one per day, whoever asks).
    pub async fn ensure_expiry_job(&self) -> sqlx::Result<()> {
        let day = self.database_today().await?;
        let job_key = format!("expiry:{day}");
        // Read first: idle workers ask every few seconds, and need not write to learn it exists.
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM monitor_jobs WHERE job_key = $1")
            .bind(&job_key)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_some() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO monitor_jobs (job_key, kind, min_version, day, status, created_at) \
             VALUES ($1, $2, 0, $3, 'pending', $4) ON CONFLICT (job_key) DO NOTHING",
        )
        .bind(job_key)
        .bind(JobKind::LicenceExpiry.as_str())
        .bind(&day)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims, leased to this worker, the oldest monitoring job not finished, if every
    /// earlier one is finished, it is pending or its worker's lease expired, and the
    /// index at `index_version` reflects its load. Jobs run one at a time, in order.
    pub async fn claim_monitor_job(&self, index_version: i64) -> sqlx::Result<Option<MonitorJob>> {
        let now_sql = self.backend.now_sql();
        // No SKIP LOCKED: a job another worker is claiming must hold up the ones after it.
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE",
        };
        let sql = format!(
            "UPDATE monitor_jobs SET status = 'running', worker = $1, started_at = $2, attempts = attempts + 1, \
             lease_until = {until}, error = NULL \
             WHERE id = (SELECT id FROM monitor_jobs WHERE status IN ('pending', 'running') ORDER BY id LIMIT 1 {lock}) \
             AND (status = 'pending' OR lease_until < {now_sql}) AND min_version <= $4 AND attempts < {MAX_JOB_ATTEMPTS} \
             RETURNING {JOB_COLUMNS}",
            until = self.backend.now_plus_seconds_sql(3),
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.worker_id())
            .bind(now())
            .bind(self.lease_seconds())
            .bind(index_version)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Fails the jobs that were started too often without finishing (their worker died
    /// each time), so that the jobs after them can run.
    pub async fn end_abandoned_monitor_jobs(&self) -> sqlx::Result<u64> {
        let sql = format!(
            "UPDATE monitor_jobs SET status = 'failed', finished_at = $1, \
             error = COALESCE(error, 'the job stopped its worker {MAX_JOB_ATTEMPTS} times') \
             WHERE status = 'running' AND lease_until < {} AND attempts >= {MAX_JOB_ATTEMPTS}",
            self.backend.now_sql()
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now()).execute(&self.pool).await?.rows_affected())
    }

    /// Gives a job this worker claimed back to the queue after an error, or fails it once
    /// it has been tried [`MAX_JOB_ATTEMPTS`] times.
    pub async fn release_monitor_job(&self, job_id: i64, error: &str) -> sqlx::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE monitor_jobs SET status = CASE WHEN attempts >= {MAX_JOB_ATTEMPTS} THEN 'failed' ELSE 'pending' END, \
             finished_at = CASE WHEN attempts >= {MAX_JOB_ATTEMPTS} THEN $1 ELSE NULL END, \
             error = $2, worker = NULL, lease_until = NULL WHERE id = $3 AND worker = $4 AND status = 'running'"
        )))
        .bind(now())
        .bind(error)
        .bind(job_id)
        .bind(self.worker_id())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The monitoring jobs, newest first.
    pub async fn list_monitor_jobs(&self, limit: i64) -> sqlx::Result<Vec<MonitorJob>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM monitor_jobs ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// How many monitoring jobs are waiting or running.
    pub async fn count_unfinished_monitor_jobs(&self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM monitor_jobs WHERE status IN ('pending', 'running')")
            .fetch_one(&self.pool)
            .await
    }

    /// Writes what a job found and marks it done, in one transaction, if the job is still
    /// this worker's; returns whether it was (if not, another worker took it over and
    /// nothing is written). Each alert gets a delivery for every webhook that wants it.
    pub async fn finish_monitor_job(&self, job_id: i64, outcome: &JobOutcome) -> sqlx::Result<bool> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let owned = sqlx::query(
            "UPDATE monitor_jobs SET status = 'done', lease_until = NULL, finished_at = $1, index_version = $2, \
             n_examined = $3, n_alerts = $4 WHERE id = $5 AND worker = $6 AND status = 'running'",
        )
        .bind(now())
        .bind(outcome.index_version)
        .bind(outcome.n_examined)
        .bind(outcome.alerts.len() as i64)
        .bind(job_id)
        .bind(self.worker_id())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !owned {
            tx.rollback().await?;
            return Ok(false);
        }
        let (dataset_id,): (Option<i64>,) = sqlx::query_as("SELECT dataset_id FROM monitor_jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(&mut *tx)
            .await?;
        insert_alerts(&mut tx, job_id, dataset_id, outcome.index_version, &outcome.alerts).await?;
        let deliveries = format!(
            "INSERT INTO webhook_deliveries (webhook_id, alert_id, status, attempts, next_attempt_at, created_at) \
             SELECT w.id, a.id, 'pending', 0, {now_sql}, $2 FROM alerts a, webhooks w \
             WHERE a.job_id = $1 AND w.removed_at IS NULL \
             AND (w.kinds = '[]' OR w.kinds LIKE '%\"' || a.kind || '\"%')",
            now_sql = self.backend.now_sql()
        );
        sqlx::query(sqlx::AssertSqlSafe(deliveries)).bind(job_id).bind(now()).execute(&mut *tx).await?;
        upsert_monitored_matches(&mut tx, job_id, &outcome.seen).await?;
        for key in &outcome.gone {
            sqlx::query(
                "DELETE FROM monitored_matches WHERE subject_kind = $1 AND subject_source = $2 AND subject_id = $3 \
                 AND source = $4 AND entity_id = $5",
            )
            .bind(key.subject_kind.as_str())
            .bind(&key.subject_source)
            .bind(&key.subject_id)
            .bind(&key.source)
            .bind(&key.entity_id)
            .execute(&mut *tx)
            .await?;
        }
        for (agency_id, status) in &outcome.licence_states {
            sqlx::query(
                "INSERT INTO licence_states (agency_id, licence_status, job_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (agency_id) DO UPDATE SET licence_status = excluded.licence_status, job_id = excluded.job_id",
            )
            .bind(agency_id)
            .bind(status.as_deref())
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// What monitoring last saw of the matches of these listed entities (source, id).
    pub async fn monitored_matches_of(
        &self,
        entities: &[(String, String)],
    ) -> sqlx::Result<HashMap<MatchKey, MonitoredMatch>> {
        let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
        for (source, entity_id) in entities {
            by_source.entry(source).or_default().push(entity_id);
        }
        let mut found = HashMap::new();
        for (source, ids) in by_source {
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "SELECT subject_kind, subject_source, subject_id, source, entity_id, entity, reopened_decision_id \
                     FROM monitored_matches WHERE source = {} AND entity_id IN ({})",
                    self.backend.placeholders(1, 1),
                    self.backend.placeholders(2, chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(source);
                for id in chunk {
                    query = query.bind(*id);
                }
                for row in query.fetch_all(&self.pool).await? {
                    let kind: String = row.try_get("subject_kind")?;
                    let entity: String = row.try_get("entity")?;
                    let key = MatchKey {
                        subject_kind: RecordKind::parse(&kind)
                            .ok_or_else(|| decode_err("subject_kind", format!("{kind:?}")))?,
                        subject_source: row.try_get("subject_source")?,
                        subject_id: row.try_get("subject_id")?,
                        source: row.try_get("source")?,
                        entity_id: row.try_get("entity_id")?,
                    };
                    let entity = serde_json::from_str(&entity).map_err(|err| decode_err("entity", err.to_string()))?;
                    let reopened_decision_id = row.try_get("reopened_decision_id")?;
                    found.insert(key.clone(), MonitoredMatch { key, entity, reopened_decision_id });
                }
            }
        }
        Ok(found)
    }

    /// Each of these agencies' licence status as monitoring last saw it; an agency
    /// monitoring never saw is absent.
    pub async fn licence_states(&self, agency_ids: &[String]) -> sqlx::Result<HashMap<String, Option<String>>> {
        let mut found = HashMap::new();
        for chunk in agency_ids.chunks(500) {
            let sql = format!(
                "SELECT agency_id, licence_status FROM licence_states WHERE agency_id IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, Option<String>)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            found.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(found)
    }

    /// The ids of the agencies that hold one of these licence numbers.
    pub async fn agency_ids_with_licences(&self, licence_numbers: &[String]) -> sqlx::Result<Vec<String>> {
        let mut found = Vec::new();
        for chunk in licence_numbers.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT record_key FROM agencies WHERE licence_number IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for number in chunk {
                query = query.bind(number.as_str());
            }
            found.extend(query.fetch_all(&self.pool).await?);
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The ids of every agency in the store.
    pub async fn all_agency_ids(&self) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT record_key FROM agencies ORDER BY record_key").fetch_all(&self.pool).await
    }

    /// Alerts, newest first.
    pub async fn list_alerts(&self, filter: &AlertFilter) -> sqlx::Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR subject_id = $3) ORDER BY id DESC LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.status.map(AlertStatus::as_str))
            .bind(filter.kind.map(AlertKind::as_str))
            .bind(filter.subject_id.as_deref())
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// How many alerts are open.
    pub async fn count_open_alerts(&self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE status = 'open'").fetch_one(&self.pool).await
    }

    pub async fn get_alert(&self, id: i64) -> sqlx::Result<Option<Alert>> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(alert_from_row).transpose()
    }

    /// Closes an open alert with a note and, if given, records a decision on its match in
    /// the same transaction.
    pub async fn close_alert(
        &self,
        id: i64,
        close: &CloseAlert<'_>,
        decision: Option<&NewDecision<'_>>,
    ) -> sqlx::Result<Closed> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let closed = sqlx::query(
            "UPDATE alerts SET status = 'closed', closed_at = $1, closed_by = $2, close_note = $3 \
             WHERE id = $4 AND status = 'open'",
        )
        .bind(now())
        .bind(close.key_id)
        .bind(close.note)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !closed {
            tx.rollback().await?;
            return Ok(if self.get_alert(id).await?.is_some() { Closed::AlreadyClosed } else { Closed::NotFound });
        }
        if let Some(decision) = decision {
            let decision_id = insert_decision(&mut tx, decision).await?;
            sqlx::query("UPDATE alerts SET decision_id = $1 WHERE id = $2")
                .bind(decision_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Closed::Done(Box::new(self.get_alert(id).await?.expect("the alert just closed"))))
    }
}

async fn insert_alerts(
    conn: &mut AnyConnection,
    job_id: i64,
    dataset_id: Option<i64>,
    index_version: Option<i64>,
    alerts: &[NewAlert],
) -> sqlx::Result<()> {
    const N_COLUMNS: usize = 14;
    let backend = Backend::of(conn);
    let created_at = now();
    for chunk in alerts.chunks(500) {
        let values: Vec<String> =
            (0..chunk.len()).map(|idx| format!("({})", backend.placeholders(idx * N_COLUMNS + 1, N_COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO alerts (job_id, kind, status, subject_kind, subject_source, subject_id, subject_name, \
             agency_id, source, entity_id, dataset_id, index_version, details, created_at) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for alert in chunk {
            query = query
                .bind(job_id)
                .bind(alert.kind.as_str())
                .bind(AlertStatus::Open.as_str())
                .bind(alert.subject.kind.as_str())
                .bind(alert.subject.source.as_str())
                .bind(alert.subject.id.as_str())
                .bind(alert.subject.name.as_str())
                .bind(alert.agency_id.as_deref())
                .bind(alert.source.as_str())
                .bind(alert.entity_id.as_str())
                .bind(dataset_id)
                .bind(index_version)
                .bind(serde_json::to_string(&alert.details).expect("alert details serialise"))
                .bind(created_at.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn upsert_monitored_matches(conn: &mut AnyConnection, job_id: i64, seen: &[MonitoredMatch]) -> sqlx::Result<()> {
    const N_COLUMNS: usize = 8;
    let backend = Backend::of(conn);
    for chunk in seen.chunks(500) {
        let values: Vec<String> =
            (0..chunk.len()).map(|idx| format!("({})", backend.placeholders(idx * N_COLUMNS + 1, N_COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO monitored_matches (subject_kind, subject_source, subject_id, source, entity_id, entity, \
             reopened_decision_id, job_id) VALUES {} \
             ON CONFLICT (subject_kind, subject_source, subject_id, source, entity_id) DO UPDATE SET \
             entity = excluded.entity, reopened_decision_id = excluded.reopened_decision_id, job_id = excluded.job_id",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for seen in chunk {
            query = query
                .bind(seen.key.subject_kind.as_str())
                .bind(seen.key.subject_source.as_str())
                .bind(seen.key.subject_id.as_str())
                .bind(seen.key.source.as_str())
                .bind(seen.key.entity_id.as_str())
                .bind(serde_json::to_string(&seen.entity).expect("a snapshot serialises"))
                .bind(seen.reopened_decision_id)
                .bind(job_id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
