//! Leases on jobs: how queued loads, audit chunks, monitoring jobs and webhook deliveries
//! belong to one worker at a time.
//!
//! A worker claims a job by writing its id (`host/pid/random`, new for every process)
//! and a `lease_until` time into the job's row, in one statement (with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so concurrent claimants pass over each other's rows). While it
//! works it renews the lease ([`LeaseGuard`]); when it finishes, it writes the result
//! only if the job is still its own. A job whose lease expired may be claimed by any
//! worker on any host. Lease times are taken from the database's clock, never the
//! worker's, so hosts with skewed clocks agree on when a lease ends.

use std::time::Duration;

use super::{Backend, Store};

/// How long a claimed job stays a worker's without renewal (`cadena serve --lease-seconds`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A job that can be leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// A load (a row of `datasets`).
    Load(i64),
    /// A chunk of a batch audit.
    AuditChunk { audit_id: i64, chunk: i64 },
    /// A monitoring job (a row of `monitor_jobs`).
    Monitor(i64),
    /// One try at a webhook delivery (a row of `webhook_deliveries`).
    Delivery(i64),
}

/// A worker identity no other process has had: host name, pid and 64 random bits.
pub(crate) fn new_worker_id() -> String {
    let mut random = [0u8; 8];
    // Without randomness the pid still tells processes apart on a host that does not reuse it.
    let _ = getrandom::fill(&mut random);
    format!("{}/{}/{}", host_name(), std::process::id(), hex::encode(random))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Backend {
    /// SQL for the database's current time as stored (RFC 3339 UTC with milliseconds).
    pub(crate) fn now_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Backend::Postgres => "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
        }
    }

    /// SQL for the database's current time plus `$param` seconds, as stored.
    pub(crate) fn now_plus_seconds_sql(self, param: usize) -> String {
        match self {
            Backend::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ${param} || ' seconds')"),
            Backend::Postgres => format!(
                "to_char(clock_timestamp() AT TIME ZONE 'UTC' + CAST(${param} AS DOUBLE PRECISION) * INTERVAL '1 second', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
        }
    }

    /// `FOR UPDATE SKIP LOCKED` where the backend has it (PostgreSQL); SQLite runs one
    /// writer at a time, so its claiming `UPDATE` is atomic without it.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }
}

impl Store {
    /// The lease length, in whole seconds (at least one).
    pub(crate) fn lease_seconds(&self) -> i64 {
        (self.lease.as_secs() as i64).max(1)
    }

    /// Extends this worker's lease on `job`; returns whether the job is still its own.
    pub async fn renew_lease(&self, job: Job) -> sqlx::Result<bool> {
        let until = self.backend.now_plus_seconds_sql(1);
        let sql = match job {
            Job::Load(_) => format!(
                "UPDATE datasets SET lease_until = {until} WHERE id = $2 AND worker = $3 AND status = 'running'"
            ),
            Job::AuditChunk { .. } => format!(
                "UPDATE audit_chunks SET lease_until = {until} \
                 WHERE audit_id = $2 AND chunk = $4 AND worker = $3 AND status = 'running'"
            ),
            Job::Monitor(_) => format!(
                "UPDATE monitor_jobs SET lease_until = {until} WHERE id = $2 AND worker = $3 AND status = 'running'"
            ),
            Job::Delivery(_) => format!(
                "UPDATE webhook_deliveries SET lease_until = {until} WHERE id = $2 AND worker = $3 AND status = 'sending'"
            ),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(self.lease_seconds());
        query = match job {
            Job::Load(id) | Job::Monitor(id) | Job::Delivery(id) => query.bind(id).bind(self.worker_id()),
            Job::AuditChunk { audit_id, chunk } => query.bind(audit_id).bind(self.worker_id()).bind(chunk),
        };
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// Whether `job` is still being worked on (by any worker): a renewal that found it
    /// finished lost nothing. On SQLite a renewal waits behind the write lock of the job's
    /// own transaction (a load holds it to the end), and then finds the job completed.
    pub async fn job_is_running(&self, job: Job) -> sqlx::Result<bool> {
        let (sql, id) = match job {
            Job::Load(id) => ("SELECT COUNT(*) FROM datasets WHERE id = $1 AND status = 'running'", id),
            Job::AuditChunk { audit_id, chunk } => {
                let sql = "SELECT COUNT(*) FROM audit_chunks WHERE audit_id = $1 AND chunk = $2 AND status = 'running'";
                let count: i64 = sqlx::query_scalar(sql).bind(audit_id).bind(chunk).fetch_one(&self.pool).await?;
                return Ok(count > 0);
            }
            Job::Monitor(id) => ("SELECT COUNT(*) FROM monitor_jobs WHERE id = $1 AND status = 'running'", id),
            Job::Delivery(id) => ("SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1 AND status = 'sending'", id),
        };
        let count: i64 = sqlx::query_scalar(sql).bind(id).fetch_one(&self.pool).await?;
        Ok(count > 0)
    }

    /// Keeps renewing this worker's lease on `job` until the guard is dropped.
    pub fn hold_lease(&self, job: Job) -> LeaseGuard {
        let store = self.clone();
        let every = self.lease / 3;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.renew_lease(job).await {
                    Ok(true) => {}
                    Ok(false) => {
                        if store.job_is_running(job).await.unwrap_or(true) {
                            tracing::warn!(?job, "the lease on a job was lost; another worker may take it over");
                        }
                        return;
                    }
                    Err(err) => tracing::warn!(?job, "failed to renew a lease: {err:#}"),
                }
            }
        });
        LeaseGuard { task }
    }
}

/// Renews a lease in the background while it lives (see [`Store::hold_lease`]).
#[derive(Debug)]
pub struct LeaseGuard {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}
