//! Batch audits in the store: the uploaded file, its chunks (the unit of work that
//! workers claim) and the report rows.
//!
//! A worker claims a pending chunk with a lease (`store::leases`: one `UPDATE`, with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never both get it), screens
//! its rows while renewing the lease, and writes the rows, the chunk's `done` mark and
//! what it was screened against (index version, ruleset digest) in one transaction, only
//! if the chunk is still its own: a worker that dies mid-chunk leaves nothing of it, and
//! any worker takes the chunk over once the lease has expired.

use serde::Serialize;
use sqlx::Row;

use super::{Store, now};
use crate::lang::Lang;

/// How an audit reads its file and writes its report, as its upload asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReading {
    /// `COLUMN=FIELD` entries, as `cadena screen --map` takes them.
    pub column_map: Vec<String>,
    /// The language of the report's texts (the match explanations).
    pub lang: Lang,
}

/// An audit as stored, without its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Audit {
    pub id: i64,
    pub file_name: String,
    /// queued, running, completed, cancelled or failed.
    pub status: String,
    pub n_rows: i64,
    pub n_chunks: i64,
    pub chunk_size: i64,
    pub key_id: Option<i64>,
    /// The column map the upload gave (`COLUMN=FIELD` entries, as `cadena screen --map`
    /// takes them), with which every chunk's rows are read.
    pub column_map: Vec<String>,
    /// The language of the report's texts (the match explanations).
    pub lang: Lang,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// How far an audit has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditProgress {
    pub audit: Audit,
    pub rows_done: i64,
    /// Rows that could not be read (reported with line, field and reason).
    pub rows_rejected: i64,
    /// Rows per risk band so far.
    pub bands: Vec<(String, i64)>,
    /// What the finished chunks were screened against: one entry per index version and
    /// ruleset digest, with how many chunks used it (more than one when a load or a rule
    /// change came in the middle of the audit).
    pub screened_with: Vec<ScreenedWith>,
}

/// An index version and ruleset digest some of an audit's chunks were screened with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScreenedWith {
    pub dataset_version: i64,
    pub ruleset_digest: String,
    pub n_chunks: i64,
}

/// A chunk claimed by this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedChunk {
    pub audit_id: i64,
    pub chunk: i64,
}

/// One report row of a chunk, ready to store.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub row_index: i64,
    pub has_error: bool,
    pub band: Option<String>,
    pub report: String,
}

const AUDIT_COLUMNS: &str =
    "id, file_name, status, n_rows, n_chunks, chunk_size, key_id, column_map, lang, created_at, finished_at, error";

fn audit_from_row(row: &sqlx::any::AnyRow) -> sqlx::Result<Audit> {
    let column_map = super::column_map_from_row(row)?;
    Ok(Audit {
        id: row.try_get("id")?,
        file_name: row.try_get("file_name")?,
        status: row.try_get("status")?,
        n_rows: row.try_get("n_rows")?,
        n_chunks: row.try_get("n_chunks")?,
        chunk_size: row.try_get("chunk_size")?,
        key_id: row.try_get("key_id")?,
        column_map,
        lang: row.try_get::<Option<String>, _>("lang")?.as_deref().and_then(Lang::parse).unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        error: row.try_get("error")?,
    })
}

impl Store {
    /// Records an audit of `n_rows` rows with its chunks, queued for the workers.
    pub async fn create_audit(
        &self,
        file_name: &str,
        content: &str,
        reading: &AuditReading,
        n_rows: i64,
        chunk_size: i64,
        key_id: Option<i64>,
    ) -> sqlx::Result<Audit> {
        let chunk_size = chunk_size.max(1);
        let n_chunks = (n_rows + chunk_size - 1) / chunk_size;
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audits (file_name, content, column_map, lang, status, n_rows, n_chunks, chunk_size, \
             key_id, created_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(file_name)
        .bind(content)
        .bind(super::column_map_json(&reading.column_map))
        .bind(reading.lang.code())
        .bind(n_rows)
        .bind(n_chunks)
        .bind(chunk_size)
        .bind(key_id)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        for chunk in 0..n_chunks {
            sqlx::query("INSERT INTO audit_chunks (audit_id, chunk, status) VALUES ($1, $2, 'pending')")
                .bind(id)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        if n_chunks == 0 {
            sqlx::query("UPDATE audits SET status = 'completed', finished_at = $1 WHERE id = $2")
                .bind(now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self.get_audit(id).await?.expect("the audit just created"))
    }

    /// Audits, newest first: `limit` of them after skipping `offset`.
    pub async fn list_audits(&self, limit: i64, offset: i64) -> sqlx::Result<Vec<Audit>> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audits ORDER BY id DESC LIMIT $1 OFFSET $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }

    pub async fn get_audit(&self, id: i64) -> sqlx::Result<Option<Audit>> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audits WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(audit_from_row).transpose()
    }

    /// The uploaded file of an audit.
    pub async fn audit_content(&self, id: i64) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT content FROM audits WHERE id = $1").bind(id).fetch_optional(&self.pool).await
    }

    pub async fn audit_progress(&self, id: i64) -> sqlx::Result<Option<AuditProgress>> {
        let Some(audit) = self.get_audit(id).await? else { return Ok(None) };
        // SUM of a BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot decode.
        let (rows_done, rows_rejected): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(has_error), 0) AS BIGINT) FROM audit_rows WHERE audit_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let bands: Vec<(String, i64)> = sqlx::query_as(
            "SELECT band, COUNT(*) FROM audit_rows WHERE audit_id = $1 AND band IS NOT NULL GROUP BY band ORDER BY band",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let screened_with = sqlx::query_as::<_, (i64, String, i64)>(
            "SELECT dataset_version, ruleset_digest, COUNT(*) FROM audit_chunks \
             WHERE audit_id = $1 AND status = 'done' AND dataset_version IS NOT NULL \
             GROUP BY dataset_version, ruleset_digest ORDER BY dataset_version, ruleset_digest",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(dataset_version, ruleset_digest, n_chunks)| ScreenedWith { dataset_version, ruleset_digest, n_chunks })
        .collect();
        Ok(Some(AuditProgress { audit, rows_done, rows_rejected, bands, screened_with }))
    }

    /// Cancels a queued or running audit; returns whether it was.
    pub async fn cancel_audit(&self, id: i64) -> sqlx::Result<bool> {
        let result = sqlx::query(
            "UPDATE audits SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND status IN ('queued', 'running')",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Claims, leased to this worker, the next chunk of a queued or running audit that is
    /// pending or whose worker's lease expired.
    pub async fn claim_audit_chunk(&self) -> sqlx::Result<Option<ClaimedChunk>> {
        let now_sql = self.backend.now_sql();
        let sql = format!(
            "UPDATE audit_chunks SET status = 'running', worker = $1, claimed_at = $2, lease_until = {until} \
             WHERE (audit_id, chunk) = (SELECT c.audit_id, c.chunk FROM audit_chunks c JOIN audits a ON a.id = c.audit_id \
                 WHERE (c.status = 'pending' OR (c.status = 'running' AND c.lease_until < {now_sql})) \
                 AND a.status IN ('queued', 'running') \
                 ORDER BY c.audit_id, c.chunk LIMIT 1 {skip_locked}) \
             AND (status = 'pending' OR lease_until < {now_sql}) \
             RETURNING audit_id, chunk",
            until = self.backend.now_plus_seconds_sql(3),
            skip_locked = match self.backend {
                super::Backend::Sqlite => "",
                super::Backend::Postgres => "FOR UPDATE OF c SKIP LOCKED",
            },
        );
        let claimed: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(self.worker_id())
            .bind(now())
            .bind(self.lease_seconds())
            .fetch_optional(&self.pool)
            .await?;
        let Some((audit_id, chunk)) = claimed else { return Ok(None) };
        sqlx::query("UPDATE audits SET status = 'running' WHERE id = $1 AND status = 'queued'")
            .bind(audit_id)
            .execute(&self.pool)
            .await?;
        Ok(Some(ClaimedChunk { audit_id, chunk }))
    }

    /// Stores a chunk's report rows, marks it done and records what it was screened
    /// against, in one transaction, if the chunk is still this worker's (returns whether
    /// it was; if not, another worker took it over and nothing is written). Then
    /// completes the audit if that was its last chunk.
    pub async fn finish_audit_chunk(
        &self,
        claimed: ClaimedChunk,
        rows: &[AuditRow],
        screened_with: (i64, &str),
    ) -> sqlx::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let (dataset_version, ruleset_digest) = screened_with;
        // First, so that the chunk's row is locked (PostgreSQL) before anything is written.
        let owned = sqlx::query(
            "UPDATE audit_chunks SET status = 'done', lease_until = NULL, dataset_version = $1, ruleset_digest = $2 \
             WHERE audit_id = $3 AND chunk = $4 AND worker = $5 AND status = 'running'",
        )
        .bind(dataset_version)
        .bind(ruleset_digest)
        .bind(claimed.audit_id)
        .bind(claimed.chunk)
        .bind(self.worker_id())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !owned {
            tx.rollback().await?;
            return Ok(false);
        }
        let backend = self.backend;
        for batch in rows.chunks(200) {
            let values: Vec<String> =
                (0..batch.len()).map(|i| format!("({})", backend.placeholders(i * 5 + 1, 5))).collect();
            let sql = format!(
                "INSERT INTO audit_rows (audit_id, row_index, has_error, band, report) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in batch {
                query = query
                    .bind(claimed.audit_id)
                    .bind(row.row_index)
                    .bind(i64::from(row.has_error))
                    .bind(row.band.as_deref())
                    .bind(row.report.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // After the commit, not inside it: two workers finishing the last two chunks at
        // once would each see the other's chunk as not done yet. The later commit always
        // sees both.
        self.complete_finished_audits().await?;
        Ok(true)
    }

    /// Marks completed every queued or running audit whose chunks are all done.
    pub async fn complete_finished_audits(&self) -> sqlx::Result<u64> {
        let result = sqlx::query(
            "UPDATE audits SET status = 'completed', finished_at = $1 WHERE status IN ('queued', 'running') \
             AND NOT EXISTS (SELECT 1 FROM audit_chunks WHERE audit_id = audits.id AND status <> 'done')",
        )
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Gives a chunk this worker claimed back to the queue (its screening failed, or
    /// the worker is stopping).
    pub async fn release_audit_chunk(&self, claimed: ClaimedChunk) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE audit_chunks SET status = 'pending', worker = NULL, claimed_at = NULL, lease_until = NULL \
             WHERE audit_id = $1 AND chunk = $2 AND status = 'running' AND worker = $3",
        )
        .bind(claimed.audit_id)
        .bind(claimed.chunk)
        .bind(self.worker_id())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks an audit failed (its file could not be read).
    pub async fn fail_audit(&self, id: i64, error: &str) -> sqlx::Result<()> {
        sqlx::query("UPDATE audits SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3")
            .bind(error)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many audits there are in each status.
    pub async fn count_audits_by_status(&self) -> sqlx::Result<Vec<(String, i64)>> {
        sqlx::query_as("SELECT status, COUNT(*) FROM audits GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await
    }

    /// The report rows of an audit (JSON text), in input order.
    pub async fn audit_rows(&self, id: i64) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT report FROM audit_rows WHERE audit_id = $1 ORDER BY row_index")
            .bind(id)
            .fetch_all(&self.pool)
            .await
    }

    /// The report rows (JSON, in input order) of the rows an audit could not read.
    pub async fn audit_rejected_rows(&self, id: i64) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar("SELECT report FROM audit_rows WHERE audit_id = $1 AND has_error = 1 ORDER BY row_index")
            .bind(id)
            .fetch_all(&self.pool)
            .await
    }
}
