//! Reviewers' decisions in the store (see `crate::decisions`): each written once, never
//! updated; a withdrawal is a row of its own, and the decision in force for a supplier
//! and listed entity is the newest one not withdrawn.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Store, now};
use crate::decisions::{Decision, DecisionRecord, DecisionStatus, Decisions, EntitySnapshot, Verdict, Withdrawal};

/// A decision about to be stored.
#[derive(Debug, Clone)]
pub struct NewDecision<'a> {
    pub screening_id: Option<i64>,
    pub alert_id: Option<i64>,
    pub supplier_id: &'a str,
    pub supplier_source: Option<&'a str>,
    pub source: &'a str,
    pub entity_id: &'a str,
    pub decision: Verdict,
    pub note: &'a str,
    pub content_hash: Option<&'a str>,
    pub entity: &'a EntitySnapshot,
    pub key_id: Option<i64>,
}

/// What became of a request to withdraw a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Withdrawn {
    Done(Box<DecisionRecord>),
    AlreadyWithdrawn,
    NotFound,
}

/// Which decisions to list.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub supplier_id: Option<String>,
    pub status: Option<DecisionStatus>,
    pub limit: i64,
    pub offset: i64,
}

const DECISION_COLUMNS: &str = "d.id, d.screening_id, d.alert_id, d.supplier_id, d.supplier_source, d.source, \
     d.entity_id, d.decision, d.note, d.content_hash, d.entity, d.supersedes, d.key_id, d.created_at";

/// The SQL for a decision's status, over `d` and its withdrawal `w`.
const STATUS_SQL: &str = "CASE WHEN w.decision_id IS NOT NULL THEN 'withdrawn' \
     WHEN EXISTS (SELECT 1 FROM decisions n WHERE n.supplier_id = d.supplier_id AND n.source = d.source \
         AND n.entity_id = d.entity_id AND n.id > d.id \
         AND NOT EXISTS (SELECT 1 FROM decision_withdrawals nw WHERE nw.decision_id = n.id)) THEN 'superseded' \
     ELSE 'in_force' END";

fn decision_from_row(row: &AnyRow) -> sqlx::Result<Decision> {
    let decode_err =
        |column: &str, message: String| sqlx::Error::ColumnDecode { index: column.to_owned(), source: message.into() };
    let verdict: String = row.try_get("decision")?;
    let entity: String = row.try_get("entity")?;
    Ok(Decision {
        id: row.try_get("id")?,
        screening_id: row.try_get("screening_id")?,
        alert_id: row.try_get("alert_id")?,
        supplier_id: row.try_get("supplier_id")?,
        supplier_source: row.try_get("supplier_source")?,
        source: row.try_get("source")?,
        entity_id: row.try_get("entity_id")?,
        decision: Verdict::parse(&verdict).ok_or_else(|| decode_err("decision", format!("unknown {verdict:?}")))?,
        note: row.try_get("note")?,
        content_hash: row.try_get("content_hash")?,
        entity: serde_json::from_str(&entity).map_err(|err| decode_err("entity", err.to_string()))?,
        supersedes: row.try_get("supersedes")?,
        key_id: row.try_get("key_id")?,
        created_at: row.try_get("created_at")?,
    })
}

fn record_from_row(row: &AnyRow) -> sqlx::Result<DecisionRecord> {
    let status: String = row.try_get("status")?;
    let withdrawn_at: Option<String> = row.try_get("withdrawn_at")?;
    Ok(DecisionRecord {
        decision: decision_from_row(row)?,
        status: DecisionStatus::parse(&status).unwrap_or(DecisionStatus::InForce),
        withdrawn: match withdrawn_at {
            Some(created_at) => Some(Withdrawal {
                note: row.try_get::<Option<String>, _>("withdrawn_note")?.unwrap_or_default(),
                key_id: row.try_get("withdrawn_by")?,
                created_at,
            }),
            None => None,
        },
    })
}

/// Writes a decision, superseding the one in force for the same supplier and entity;
/// part of the caller's transaction (closing an alert with a decision writes both).
pub(crate) async fn insert_decision(conn: &mut AnyConnection, new: &NewDecision<'_>) -> sqlx::Result<i64> {
    let supersedes: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(d.id) FROM decisions d WHERE d.supplier_id = $1 AND d.source = $2 AND d.entity_id = $3 \
         AND NOT EXISTS (SELECT 1 FROM decision_withdrawals w WHERE w.decision_id = d.id)",
    )
    .bind(new.supplier_id)
    .bind(new.source)
    .bind(new.entity_id)
    .fetch_one(&mut *conn)
    .await?;
    let entity = serde_json::to_string(new.entity).expect("a snapshot serialises");
    sqlx::query_scalar(
        "INSERT INTO decisions (screening_id, alert_id, supplier_id, supplier_source, source, entity_id, decision, \
         note, content_hash, entity, supersedes, key_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(new.screening_id)
    .bind(new.alert_id)
    .bind(new.supplier_id)
    .bind(new.supplier_source)
    .bind(new.source)
    .bind(new.entity_id)
    .bind(new.decision.as_str())
    .bind(new.note)
    .bind(new.content_hash)
    .bind(entity)
    .bind(supersedes)
    .bind(new.key_id)
    .bind(now())
    .fetch_one(&mut *conn)
    .await
}

impl Store {
    /// Records a decision (see [`insert_decision`]) and returns it as stored.
    pub async fn insert_decision(&self, new: &NewDecision<'_>) -> sqlx::Result<DecisionRecord> {
        let mut tx = match self.backend {
            // The read of the decision in force and the insert must not interleave with another writer's.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let id = insert_decision(&mut tx, new).await?;
        tx.commit().await?;
        Ok(self.get_decision(id).await?.expect("the decision just stored"))
    }

    /// One decision with what became of it.
    pub async fn get_decision(&self, id: i64) -> sqlx::Result<Option<DecisionRecord>> {
        let sql = format!(
            "SELECT {DECISION_COLUMNS}, {STATUS_SQL} AS status, w.created_at AS withdrawn_at, w.note AS withdrawn_note, \
             w.key_id AS withdrawn_by FROM decisions d LEFT JOIN decision_withdrawals w ON w.decision_id = d.id \
             WHERE d.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Decisions, newest first, with what became of each.
    pub async fn list_decisions(&self, filter: &DecisionFilter) -> sqlx::Result<Vec<DecisionRecord>> {
        let sql = format!(
            "SELECT * FROM (SELECT {DECISION_COLUMNS}, {STATUS_SQL} AS status, w.created_at AS withdrawn_at, \
             w.note AS withdrawn_note, w.key_id AS withdrawn_by \
             FROM decisions d LEFT JOIN decision_withdrawals w ON w.decision_id = d.id \
             WHERE ($1 IS NULL OR d.supplier_id = $1)) AS listed \
             WHERE ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.supplier_id.as_deref())
            .bind(filter.status.map(DecisionStatus::as_str))
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Withdraws a decision: it stays, marked withdrawn, and the one it superseded (if not
    /// withdrawn itself) is in force again.
    pub async fn withdraw_decision(&self, id: i64, note: &str, key_id: Option<i64>) -> sqlx::Result<Withdrawn> {
        if self.get_decision(id).await?.is_none() {
            return Ok(Withdrawn::NotFound);
        }
        let inserted = sqlx::query(
            "INSERT INTO decision_withdrawals (decision_id, note, key_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (decision_id) DO NOTHING",
        )
        .bind(id)
        .bind(note)
        .bind(key_id)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(Withdrawn::AlreadyWithdrawn);
        }
        Ok(Withdrawn::Done(Box::new(self.get_decision(id).await?.expect("the decision just withdrawn"))))
    }

    /// The decisions in force on these suppliers' matches.
    pub async fn decisions_in_force(&self, supplier_ids: &[String]) -> sqlx::Result<Decisions> {
        // PostgreSQL text holds no NUL, so no decision is kept under such an id (and binding
        // one would be an error).
        let supplier_ids: Vec<&String> = supplier_ids.iter().filter(|id| !id.contains('\0')).collect();
        let mut found = Vec::new();
        for chunk in supplier_ids.chunks(500) {
            let sql = format!(
                "SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.supplier_id IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM decision_withdrawals w WHERE w.decision_id = d.id)",
                self.backend.placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(decision_from_row(&row)?);
            }
        }
        Ok(Decisions::newest(found))
    }

    /// Every decision in force (for a batch screening, which may concern any supplier).
    pub async fn all_decisions_in_force(&self) -> sqlx::Result<Decisions> {
        let sql = format!(
            "SELECT {DECISION_COLUMNS} FROM decisions d \
             WHERE NOT EXISTS (SELECT 1 FROM decision_withdrawals w WHERE w.decision_id = d.id)"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        Ok(Decisions::newest(rows.iter().map(decision_from_row).collect::<sqlx::Result<Vec<_>>>()?))
    }

    /// The decisions with these ids, as they were made (withdrawn or not): what a stored
    /// screening applied, for its reproduction.
    pub async fn decisions_by_ids(&self, ids: &[i64]) -> sqlx::Result<Decisions> {
        let mut found = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {DECISION_COLUMNS} FROM decisions d WHERE d.id IN ({})",
                self.backend.placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(decision_from_row(&row)?);
            }
        }
        Ok(Decisions::newest(found))
    }

    /// The content hash of a watchlist entry as stored now.
    pub async fn watchlist_content_hash(&self, source: &str, entity_id: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT content_hash FROM watchlist_entries WHERE source = $1 AND record_key = $2")
            .bind(source)
            .bind(entity_id)
            .fetch_optional(&self.pool)
            .await
    }
}
