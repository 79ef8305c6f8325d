//! Dataset versions: one row per load of a file, which is also the load's job record
//! (queued → running → completed, failed or interrupted), and the rows it rejected.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Store, column_map_json, now};
use crate::records::RecordKind;

/// Where a load is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadStatus {
    /// Waiting for a worker (`cadena ingest --queue`, or an upload).
    Queued,
    Running,
    Completed,
    /// The file could not be read at all; nothing was applied.
    Failed,
    /// The process stopped mid-load; nothing of it was applied (a load commits whole).
    Interrupted,
}

impl LoadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadStatus::Queued => "queued",
            LoadStatus::Running => "running",
            LoadStatus::Completed => "completed",
            LoadStatus::Failed => "failed",
            LoadStatus::Interrupted => "interrupted",
        }
    }
}

impl FromStr for LoadStatus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [LoadStatus::Queued, LoadStatus::Running, LoadStatus::Completed, LoadStatus::Failed, LoadStatus::Interrupted]
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown load status {text:?}"))
    }
}

impl fmt::Display for LoadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One load of one file: what was loaded, from where, and what came of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DatasetVersion {
    pub id: i64,
    pub kind: RecordKind,
    /// The namespace of the records' ids (`--source`); re-loading into the same source
    /// updates records, loading into another adds them beside.
    pub source: String,
    pub file_name: String,
    /// The file's format as given (`csv`, `ocds`, …); detected when the load runs if `None`.
    pub format: Option<String>,
    pub file_path: Option<String>,
    pub file_sha256: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub status: LoadStatus,
    /// The store version this load made when it completed: loads are numbered in the
    /// order they committed, and an index at version N holds every load up to N.
    pub version: Option<i64>,
    pub n_rows: i64,
    pub n_inserted: i64,
    pub n_updated: i64,
    pub n_unchanged: i64,
    pub n_rejected: i64,
    pub error: Option<String>,
    /// The worker that has (or last had) the load: `host/pid/random`.
    pub worker: Option<String>,
    /// Until when the worker's claim on a running load holds, unless renewed.
    pub lease_until: Option<String>,
    /// How many times a worker started the load.
    pub attempts: i64,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// CSV columns sent to fields, as given (`--map`); not shown.
    #[serde(skip)]
    pub column_map: Vec<(String, String)>,
}

/// A row a load rejected (the one rejected-row type, shared with importers and screening).
pub use crate::import::RejectedRow;

/// Counts of what a load did with its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadCounts {
    pub n_rows: i64,
    pub n_inserted: i64,
    pub n_updated: i64,
    pub n_unchanged: i64,
    pub n_rejected: i64,
}

/// What a new load is: its kind, source and file.
#[derive(Debug, Clone)]
pub struct NewLoad<'a> {
    pub kind: RecordKind,
    pub source: &'a str,
    pub file_name: &'a str,
    /// The format to read the file as; detected when `None`.
    pub format: Option<&'a str>,
    /// CSV columns sent to fields (header name, field name).
    pub column_map: &'a [(String, String)],
}

/// How many times a queued load is started before a worker gives up on it: a file
/// that kills its worker every time is failed, not retried for ever.
pub const MAX_LOAD_ATTEMPTS: i64 = 3;

const DATASET_COLUMNS: &str = "id, kind, source, file_name, format, column_map, file_path, file_sha256, encoding, \
     delimiter, status, version, n_rows, n_inserted, n_updated, n_unchanged, n_rejected, error, worker, lease_until, \
     attempts, queued_at, started_at, finished_at";

fn dataset_from_row(row: &AnyRow) -> Result<DatasetVersion, sqlx::Error> {
    let decode_err =
        |column: &str, message: String| sqlx::Error::ColumnDecode { index: column.to_owned(), source: message.into() };
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let column_map = super::column_map_from_row(row)?;
    Ok(DatasetVersion {
        id: row.try_get("id")?,
        kind: RecordKind::parse(&kind).ok_or_else(|| decode_err("kind", format!("unknown record kind {kind:?}")))?,
        source: row.try_get("source")?,
        file_name: row.try_get("file_name")?,
        format: row.try_get("format")?,
        file_path: row.try_get("file_path")?,
        file_sha256: row.try_get("file_sha256")?,
        encoding: row.try_get("encoding")?,
        delimiter: row.try_get("delimiter")?,
        status: status.parse().map_err(|message| decode_err("status", message))?,
        version: row.try_get("version")?,
        n_rows: row.try_get("n_rows")?,
        n_inserted: row.try_get("n_inserted")?,
        n_updated: row.try_get("n_updated")?,
        n_unchanged: row.try_get("n_unchanged")?,
        n_rejected: row.try_get("n_rejected")?,
        error: row.try_get("error")?,
        worker: row.try_get("worker")?,
        lease_until: row.try_get("lease_until")?,
        attempts: row.try_get("attempts")?,
        queued_at: row.try_get("queued_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        column_map,
    })
}

impl Store {
    /// Records a load that this process runs now, leased to this worker.
    pub async fn create_running_load(&self, load: &NewLoad<'_>) -> sqlx::Result<i64> {
        let sql = format!(
            "INSERT INTO datasets (kind, source, file_name, format, column_map, status, worker, lease_until, attempts, \
             queued_at, started_at) VALUES ($1, $2, $3, $4, $5, 'running', $6, {}, 1, $8, $8) RETURNING id",
            self.backend.now_plus_seconds_sql(7)
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(load.kind.as_str())
            .bind(load.source)
            .bind(load.file_name)
            .bind(load.format)
            .bind(column_map_json(load.column_map))
            .bind(self.worker_id())
            .bind(self.lease_seconds())
            .bind(now())
            .fetch_one(&self.pool)
            .await
    }

    /// Queues a load for any worker, with its file kept in the store so that a worker on
    /// any host can run it (`cadena ingest --queue`, uploads).
    pub async fn queue_load(&self, load: &NewLoad<'_>, content: &[u8]) -> sqlx::Result<DatasetVersion> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO datasets (kind, source, file_name, format, column_map, status, queued_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING id",
        )
        .bind(load.kind.as_str())
        .bind(load.source)
        .bind(load.file_name)
        .bind(load.format)
        .bind(column_map_json(load.column_map))
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO load_files (dataset_id, content) VALUES ($1, $2)")
            .bind(id)
            .bind(content.to_vec())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(self.get_load(id).await?.expect("the load just queued"))
    }

    /// The file a queued load reads, as kept in the store.
    pub async fn load_file(&self, id: i64) -> sqlx::Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT content FROM load_files WHERE dataset_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Claims the oldest load waiting for a worker, leased to this one: a queued load, or
    /// a running one whose worker's lease expired (its file is in the store, and nothing
    /// of the interrupted run was applied, since a load commits whole). `None` when
    /// there is none.
    pub async fn claim_queued_load(&self) -> sqlx::Result<Option<DatasetVersion>> {
        let now_sql = self.backend.now_sql();
        let sql = format!(
            "UPDATE datasets SET status = 'running', worker = $1, started_at = $2, attempts = attempts + 1, \
             lease_until = {until}, error = NULL \
             WHERE id = (SELECT id FROM datasets WHERE status = 'queued' \
                 OR (status = 'running' AND lease_until < {now_sql} AND attempts < {MAX_LOAD_ATTEMPTS} \
                     AND id IN (SELECT dataset_id FROM load_files)) \
               ORDER BY id LIMIT 1 {skip_locked}) \
             AND (status = 'queued' OR lease_until < {now_sql}) \
             RETURNING {DATASET_COLUMNS}",
            until = self.backend.now_plus_seconds_sql(3),
            skip_locked = self.backend.skip_locked(),
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.worker_id())
            .bind(now())
            .bind(self.lease_seconds())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(dataset_from_row).transpose()
    }

    /// Ends the running loads whose worker's lease expired and that no worker can take
    /// over: those run from a file the store does not have (a `cadena ingest` that was
    /// killed) become `interrupted`, and queued loads that were started too often
    /// `failed`. Since a load commits whole, nothing of either was applied.
    pub async fn end_abandoned_loads(&self) -> sqlx::Result<u64> {
        let now_sql = self.backend.now_sql();
        let interrupted = format!(
            "UPDATE datasets SET status = 'interrupted', finished_at = $1, \
             error = 'the process stopped during the load; nothing of it was applied, load the file again' \
             WHERE status = 'running' AND lease_until < {now_sql} AND id NOT IN (SELECT dataset_id FROM load_files)"
        );
        let failed = format!(
            "UPDATE datasets SET status = 'failed', finished_at = $1, \
             error = 'the load stopped its worker {MAX_LOAD_ATTEMPTS} times; nothing of it was applied' \
             WHERE status = 'running' AND lease_until < {now_sql} AND attempts >= {MAX_LOAD_ATTEMPTS}"
        );
        let mut n_ended = 0;
        for sql in [interrupted, failed] {
            n_ended += sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now()).execute(&self.pool).await?.rows_affected();
        }
        Ok(n_ended)
    }

    /// Records that a load of this worker's failed before any of its rows could be
    /// applied. A load another worker has taken over is left to it.
    pub async fn fail_load(&self, id: i64, error: &str) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE datasets SET status = 'failed', error = $1, finished_at = $2, lease_until = NULL \
             WHERE id = $3 AND worker = $4 AND status = 'running'",
        )
        .bind(error)
        .bind(now())
        .bind(id)
        .bind(self.worker_id())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Lists loads, newest first.
    pub async fn list_loads(&self, limit: i64) -> sqlx::Result<Vec<DatasetVersion>> {
        let sql = format!("SELECT {DATASET_COLUMNS} FROM datasets ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(dataset_from_row).collect()
    }

    pub async fn get_load(&self, id: i64) -> sqlx::Result<Option<DatasetVersion>> {
        let sql = format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(dataset_from_row).transpose()
    }

    /// The rows a load rejected, in file order.
    pub async fn rejected_rows(&self, id: i64, limit: i64, offset: i64) -> sqlx::Result<Vec<RejectedRow>> {
        let rows = sqlx::query(
            "SELECT line, field, reason FROM rejected_rows WHERE dataset_id = $1 \
             ORDER BY line, id LIMIT $2 OFFSET $3",
        )
        .bind(id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RejectedRow {
                    line: row.try_get("line")?,
                    field: row.try_get("field")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }
}

/// Writes a load's rejected rows; part of the load's transaction.
pub(crate) async fn insert_rejected_rows(
    conn: &mut AnyConnection,
    dataset_id: i64,
    rejected: &[RejectedRow],
) -> sqlx::Result<()> {
    const ROWS_PER_STATEMENT: usize = 500;
    let backend = Backend::of(conn);
    for chunk in rejected.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<String> =
            (0..chunk.len()).map(|idx| format!("({})", backend.placeholders(4 * idx + 1, 4))).collect();
        let sql = format!("INSERT INTO rejected_rows (dataset_id, line, field, reason) VALUES {}", values.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            query = query.bind(dataset_id).bind(row.line).bind(row.field.as_str()).bind(row.reason.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Why a load's transaction could not complete it.
#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("the load is no longer this worker's (its lease expired and another worker took it over)")]
    LeaseLost,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Marks a load completed with its counts and gives it the next store version; part of
/// the load's transaction, so the counts, the version and the data they describe commit
/// together. Refused when the load is no longer `worker`'s: the transaction must then
/// be rolled back, since the worker that took it over applies it.
pub(crate) async fn complete_load(
    conn: &mut AnyConnection,
    dataset_id: i64,
    worker: &str,
    file_sha256: &str,
    encoding: &str,
    delimiter: &str,
    counts: &LoadCounts,
) -> Result<i64, CompleteError> {
    let version = super::versions::next_version(conn).await?;
    let updated = sqlx::query(
        "UPDATE datasets SET status = 'completed', version = $1, file_sha256 = $2, encoding = $3, delimiter = $4, \
         n_rows = $5, n_inserted = $6, n_updated = $7, n_unchanged = $8, n_rejected = $9, \
         finished_at = $10, error = NULL, lease_until = NULL \
         WHERE id = $11 AND worker = $12 AND status = 'running'",
    )
    .bind(version)
    .bind(file_sha256)
    .bind(encoding)
    .bind(delimiter)
    .bind(counts.n_rows)
    .bind(counts.n_inserted)
    .bind(counts.n_updated)
    .bind(counts.n_unchanged)
    .bind(counts.n_rejected)
    .bind(now())
    .bind(dataset_id)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(CompleteError::LeaseLost);
    }
    Ok(version)
}
