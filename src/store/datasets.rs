//! Dataset versions: one row per load of a file, which is also the load's job record
//! (queued → running → completed, failed or interrupted), and the rows it rejected.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Store, now};
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
    pub file_path: Option<String>,
    pub file_sha256: Option<String>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    pub status: LoadStatus,
    pub n_rows: i64,
    pub n_inserted: i64,
    pub n_updated: i64,
    pub n_unchanged: i64,
    pub n_rejected: i64,
    pub error: Option<String>,
    pub worker: Option<String>,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A row a load rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// The line the row starts on (1 is the header).
    pub line: i64,
    /// The field at fault, or `row` when the row as a whole could not be read.
    pub field: String,
    pub reason: String,
}

impl RejectedRow {
    /// The message as printed: `file:line: field: reason`.
    pub fn message(&self, file_name: &str) -> String {
        format!("{file_name}:{}: {}: {}", self.line, self.field, self.reason)
    }
}

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
    /// Set for queued loads, which a worker reads from disk later.
    pub file_path: Option<&'a str>,
}

const DATASET_COLUMNS: &str = "id, kind, source, file_name, file_path, file_sha256, encoding, delimiter, \
     status, n_rows, n_inserted, n_updated, n_unchanged, n_rejected, error, worker, queued_at, \
     started_at, finished_at";

fn dataset_from_row(row: &AnyRow) -> Result<DatasetVersion, sqlx::Error> {
    let decode_err =
        |column: &str, message: String| sqlx::Error::ColumnDecode { index: column.to_owned(), source: message.into() };
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(DatasetVersion {
        id: row.try_get("id")?,
        kind: RecordKind::parse(&kind).ok_or_else(|| decode_err("kind", format!("unknown record kind {kind:?}")))?,
        source: row.try_get("source")?,
        file_name: row.try_get("file_name")?,
        file_path: row.try_get("file_path")?,
        file_sha256: row.try_get("file_sha256")?,
        encoding: row.try_get("encoding")?,
        delimiter: row.try_get("delimiter")?,
        status: status.parse().map_err(|message| decode_err("status", message))?,
        n_rows: row.try_get("n_rows")?,
        n_inserted: row.try_get("n_inserted")?,
        n_updated: row.try_get("n_updated")?,
        n_unchanged: row.try_get("n_unchanged")?,
        n_rejected: row.try_get("n_rejected")?,
        error: row.try_get("error")?,
        worker: row.try_get("worker")?,
        queued_at: row.try_get("queued_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl Store {
    /// Records a new load, either queued for a worker or already running in this process.
    pub async fn create_load(&self, load: &NewLoad<'_>, status: LoadStatus) -> sqlx::Result<i64> {
        let now = now();
        let started_at = (status == LoadStatus::Running).then(|| now.clone());
        let worker = (status == LoadStatus::Running).then(worker_id);
        sqlx::query_scalar(
            "INSERT INTO datasets (kind, source, file_name, file_path, status, worker, queued_at, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(load.kind.as_str())
        .bind(load.source)
        .bind(load.file_name)
        .bind(load.file_path)
        .bind(status.as_str())
        .bind(worker)
        .bind(now)
        .bind(started_at)
        .fetch_one(&self.pool)
        .await
    }

    /// Claims the oldest queued load for this process, or returns `None` when there is none.
    ///
    /// Safe with several workers on one database: the `status = 'queued'` re-check in
    /// the outer `WHERE` makes a second claimant of the same row update nothing.
    pub async fn claim_queued_load(&self) -> sqlx::Result<Option<DatasetVersion>> {
        let now = now();
        let sql = format!(
            "UPDATE datasets SET status = 'running', worker = $1, started_at = $2 \
             WHERE status = 'queued' AND id = (SELECT MIN(id) FROM datasets WHERE status = 'queued') \
             RETURNING {DATASET_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(worker_id()).bind(now).fetch_optional(&self.pool).await?;
        row.as_ref().map(dataset_from_row).transpose()
    }

    /// Marks the running loads of processes on this host that no longer exist as
    /// interrupted: since a load commits whole, none of their rows were applied.
    /// Loads claimed on other hosts are left to those hosts.
    pub async fn mark_dead_loads_interrupted(&self) -> sqlx::Result<u64> {
        let host_prefix = format!("{}/", host_name());
        let running: Vec<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, worker FROM datasets WHERE status = 'running'").fetch_all(&self.pool).await?;
        let mut n_interrupted = 0;
        for (id, worker) in running {
            let Some(pid) = worker.as_deref().and_then(|w| w.strip_prefix(&host_prefix)) else {
                continue;
            };
            if process_is_alive(pid) {
                continue;
            }
            n_interrupted += sqlx::query(
                "UPDATE datasets SET status = 'interrupted', finished_at = $1, \
                 error = 'the process stopped during the load; nothing of it was applied, load the file again' \
                 WHERE id = $2 AND status = 'running'",
            )
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(n_interrupted)
    }

    /// Records that a load failed before any of its rows could be applied.
    pub async fn fail_load(&self, id: i64, error: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE datasets SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3")
            .bind(error)
            .bind(now())
            .bind(id)
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

    /// The dataset version the store is at: the id of the newest completed load, or 0.
    /// Screening results name it, so that a new load invalidates cached results.
    pub async fn dataset_version(&self) -> sqlx::Result<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM datasets WHERE status = 'completed'").fetch_one(&self.pool).await?;
        Ok(version.unwrap_or(0))
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

/// Marks a load completed with its counts; part of the load's transaction, so the
/// counts and the data they describe commit together.
pub(crate) async fn complete_load(
    conn: &mut AnyConnection,
    dataset_id: i64,
    file_sha256: &str,
    encoding: &str,
    delimiter: &str,
    counts: &LoadCounts,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE datasets SET status = 'completed', file_sha256 = $1, encoding = $2, delimiter = $3, \
         n_rows = $4, n_inserted = $5, n_updated = $6, n_unchanged = $7, n_rejected = $8, \
         finished_at = $9, error = NULL WHERE id = $10",
    )
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
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Identifies this process among the workers that share a database: `host/pid`.
pub fn worker_id() -> String {
    format!("{}/{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether `worker` (as [`worker_id`] writes it) is a process of this host that no longer
/// runs. Workers of other hosts are never taken for dead.
pub fn is_dead_worker(worker: &str) -> bool {
    let host_prefix = format!("{}/", host_name());
    worker.strip_prefix(&host_prefix).is_some_and(|pid| !process_is_alive(pid))
}

/// Whether a process with this pid runs on this host. Where that cannot be known (no
/// `/proc`), the process is assumed alive, so that no live load is marked interrupted.
fn process_is_alive(pid: &str) -> bool {
    let proc_dir = std::path::Path::new("/proc");
    !proc_dir.exists() || proc_dir.join(pid).exists()
}
