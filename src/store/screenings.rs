//! The audit trail: every screening made through the service, as asked and as answered.

use std::sync::Arc;

use serde::Serialize;
use sqlx::Row;

use super::{Store, now};

/// A stored screening.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredScreening {
    pub id: i64,
    /// `supplier` or `procurement`.
    pub kind: String,
    // The request as asked and the result as answered, shared with the screening cache
    // and the response rather than copied.
    #[schema(value_type = Value)]
    pub input: Arc<serde_json::Value>,
    #[schema(value_type = Value)]
    pub result: Arc<serde_json::Value>,
    /// The key that asked for it.
    pub key_id: Option<i64>,
    pub created_at: String,
    /// The store version of the index the screening was matched against.
    pub dataset_version: i64,
    /// How many store versions the store was ahead of that index (0: it had caught up).
    pub index_lag: i64,
    pub ruleset_digest: String,
    /// The reviewers' decisions in force on the supplier's matches when it was screened
    /// (their ids); a reproduction applies the same ones.
    pub decision_ids: Vec<i64>,
}

/// A screening about to be stored.
#[derive(Debug, Clone)]
pub struct NewScreening<'a> {
    pub kind: &'a str,
    pub input: &'a Arc<serde_json::Value>,
    pub result: &'a Arc<serde_json::Value>,
    pub key_id: Option<i64>,
    pub dataset_version: i64,
    pub index_lag: i64,
    pub ruleset_digest: &'a str,
    pub decision_ids: &'a [i64],
}

impl Store {
    /// Stores a screening and returns it with its id and time.
    pub async fn insert_screening(&self, screening: &NewScreening<'_>) -> sqlx::Result<StoredScreening> {
        let created_at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO screenings (kind, input, result, key_id, created_at, dataset_version, index_lag, \
             ruleset_digest, decision_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(screening.kind)
        .bind(screening.input.to_string())
        .bind(screening.result.to_string())
        .bind(screening.key_id)
        .bind(&created_at)
        .bind(screening.dataset_version)
        .bind(screening.index_lag)
        .bind(screening.ruleset_digest)
        .bind(serde_json::to_string(screening.decision_ids).expect("ids serialise"))
        .fetch_one(&self.pool)
        .await?;
        Ok(StoredScreening {
            id,
            kind: screening.kind.to_owned(),
            input: screening.input.clone(),
            result: screening.result.clone(),
            key_id: screening.key_id,
            created_at,
            dataset_version: screening.dataset_version,
            index_lag: screening.index_lag,
            ruleset_digest: screening.ruleset_digest.to_owned(),
            decision_ids: screening.decision_ids.to_vec(),
        })
    }

    /// Reads a stored screening.
    pub async fn get_screening(&self, id: i64) -> sqlx::Result<Option<StoredScreening>> {
        let row = sqlx::query(
            "SELECT id, kind, input, result, key_id, created_at, dataset_version, index_lag, ruleset_digest, \
             decision_ids FROM screenings WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let json = |column: &str| -> sqlx::Result<serde_json::Value> {
            let text: String = row.try_get(column)?;
            serde_json::from_str(&text)
                .map_err(|err| sqlx::Error::ColumnDecode { index: column.to_owned(), source: Box::new(err) })
        };
        Ok(Some(StoredScreening {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            input: Arc::new(json("input")?),
            result: Arc::new(json("result")?),
            key_id: row.try_get("key_id")?,
            created_at: row.try_get("created_at")?,
            dataset_version: row.try_get("dataset_version")?,
            index_lag: row.try_get("index_lag")?,
            ruleset_digest: row.try_get("ruleset_digest")?,
            decision_ids: serde_json::from_value(json("decision_ids")?)
                .map_err(|err| sqlx::Error::ColumnDecode { index: "decision_ids".to_owned(), source: Box::new(err) })?,
        }))
    }
}
