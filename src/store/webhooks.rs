//! Webhooks in the store: the receivers of alerts, one delivery per alert and webhook
//! (created with the alert, in the monitoring job's transaction, so none is lost), and
//! the log of every attempt.
//!
//! A delivery is a job: a worker claims it with a lease (one `UPDATE`, `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), which counts the attempt, so each try belongs to one worker
//! and is made once. The outcome of the try is logged whatever happens, and changes the
//! delivery (delivered, due again later, or given up) only while the try is still the
//! worker's. A try whose worker died is logged as such when another worker takes the
//! delivery over.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, now};
use crate::monitoring::AlertKind;

/// A receiver of alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// The alert kinds it receives; empty for every kind.
    pub kinds: Vec<AlertKind>,
    pub created_at: String,
    pub removed_at: Option<String>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next try (`next_attempt_at`).
    Pending,
    /// A worker is trying it now.
    Sending,
    Delivered,
    /// Given up after the last try; `cadena webhooks retry` queues it again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Sending, DeliveryStatus::Delivered, DeliveryStatus::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// One alert to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub alert_id: i64,
    pub status: DeliveryStatus,
    /// How many tries have been started.
    pub attempts: i64,
    pub next_attempt_at: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// A try at a delivery, claimed by this worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub webhook_id: i64,
    /// Which try this is (1 for the first).
    pub attempt: i64,
    pub url: String,
    pub secret: String,
}

/// One logged try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    pub delivery_id: i64,
    pub attempt: i64,
    pub worker: String,
    pub started_at: String,
    pub finished_at: String,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<i64>,
    /// Why the try failed, when it did.
    pub error: Option<String>,
}

/// What a try came to, and what becomes of the delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub started_at: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub next: NextStep,
}

/// What becomes of a delivery after a try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextStep {
    Delivered,
    /// Try again after this many seconds.
    RetryAfter(f64),
    GiveUp,
}

fn decode_err(column: &str, message: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: message.into() }
}

fn webhook_from_row(row: &AnyRow) -> sqlx::Result<Webhook> {
    let kinds: String = row.try_get("kinds")?;
    let kinds: Vec<String> = serde_json::from_str(&kinds).map_err(|err| decode_err("kinds", err.to_string()))?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        kinds: kinds.iter().filter_map(|kind| AlertKind::parse(kind)).collect(),
        created_at: row.try_get("created_at")?,
        removed_at: row.try_get("removed_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> sqlx::Result<Delivery> {
    let status: String = row.try_get("status")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        alert_id: row.try_get("alert_id")?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| decode_err("status", format!("{status:?}")))?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, alert_id, status, attempts, next_attempt_at, created_at, delivered_at";

impl Store {
    /// Adds a webhook for these alert kinds (every kind when empty) and returns it with
    /// its signing secret, which is shown only now.
    pub async fn add_webhook(&self, url: &str, kinds: &[AlertKind]) -> sqlx::Result<(Webhook, String)> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|err| sqlx::Error::Protocol(format!("no randomness for a secret: {err}")))?;
        let secret = format!("whsec_{}", hex::encode(random));
        let mut kinds: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO webhooks (url, kinds, secret, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(url)
        .bind(serde_json::to_string(&kinds).expect("strings serialise"))
        .bind(&secret)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        let webhook =
            self.list_webhooks(true).await?.into_iter().find(|hook| hook.id == id).expect("the webhook just added");
        Ok((webhook, secret))
    }

    /// The webhooks, oldest first; removed ones too when asked.
    pub async fn list_webhooks(&self, with_removed: bool) -> sqlx::Result<Vec<Webhook>> {
        let sql = if with_removed {
            "SELECT id, url, kinds, created_at, removed_at FROM webhooks ORDER BY id"
        } else {
            "SELECT id, url, kinds, created_at, removed_at FROM webhooks WHERE removed_at IS NULL ORDER BY id"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// Removes a webhook: it gets no new deliveries and its pending ones are not tried;
    /// its log stays. Returns whether there was such a live webhook.
    pub async fn remove_webhook(&self, id: i64) -> sqlx::Result<bool> {
        let removed = sqlx::query("UPDATE webhooks SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(removed.rows_affected() == 1)
    }

    /// Claims, leased to this worker, the delivery due first (pending and due, or being
    /// tried by a worker whose lease expired), and counts the try.
    pub async fn claim_delivery(&self) -> sqlx::Result<Option<ClaimedDelivery>> {
        let now_sql = self.backend.now_sql();
        let due = format!(
            "((d.status = 'pending' AND d.next_attempt_at <= {now_sql}) \
             OR (d.status = 'sending' AND d.lease_until < {now_sql}))"
        );
        let sql = format!(
            "UPDATE webhook_deliveries SET status = 'sending', worker = $1, attempts = attempts + 1, \
             lease_until = {until} \
             WHERE id = (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE w.removed_at IS NULL AND {due} ORDER BY d.next_attempt_at, d.id LIMIT 1 {skip_locked}) \
             AND ((status = 'pending' AND next_attempt_at <= {now_sql}) OR (status = 'sending' AND lease_until < {now_sql})) \
             RETURNING id, webhook_id, alert_id, attempts",
            until = self.backend.now_plus_seconds_sql(2),
            skip_locked = match self.backend {
                Backend::Sqlite => "",
                Backend::Postgres => "FOR UPDATE OF d SKIP LOCKED",
            },
        );
        let claimed: Option<(i64, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(self.worker_id())
            .bind(self.lease_seconds())
            .fetch_optional(&self.pool)
            .await?;
        let Some((id, webhook_id, alert_id, attempt)) = claimed else { return Ok(None) };
        if attempt > 1 {
            // A try whose worker stopped before logging it is logged now, so the log has every try.
            sqlx::query(
                "INSERT INTO delivery_attempts (delivery_id, attempt, worker, started_at, finished_at, error) \
                 VALUES ($1, $2, '', $3, $3, 'no outcome was recorded: the worker stopped during the try') \
                 ON CONFLICT (delivery_id, attempt) DO NOTHING",
            )
            .bind(id)
            .bind(attempt - 1)
            .bind(now())
            .execute(&self.pool)
            .await?;
        }
        let (url, secret): (String, String) = sqlx::query_as("SELECT url, secret FROM webhooks WHERE id = $1")
            .bind(webhook_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(ClaimedDelivery { id, alert_id, webhook_id, attempt, url, secret }))
    }

    /// Logs a try and, if the try is still this worker's, moves the delivery on; returns
    /// whether it was.
    pub async fn record_attempt(&self, claimed: &ClaimedDelivery, outcome: &AttemptOutcome) -> sqlx::Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, worker, started_at, finished_at, http_status, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(claimed.id)
        .bind(claimed.attempt)
        .bind(self.worker_id())
        .bind(&outcome.started_at)
        .bind(now())
        .bind(outcome.http_status)
        .bind(outcome.error.as_deref())
        .execute(&mut *tx)
        .await?;
        let (status, delay, delivered_at) = match outcome.next {
            NextStep::Delivered => (DeliveryStatus::Delivered, 0.0, Some(now())),
            NextStep::RetryAfter(seconds) => (DeliveryStatus::Pending, seconds, None),
            NextStep::GiveUp => (DeliveryStatus::Failed, 0.0, None),
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = {next}, delivered_at = $3, worker = NULL, \
             lease_until = NULL WHERE id = $4 AND worker = $5 AND status = 'sending' AND attempts = $6",
            next = match self.backend {
                Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || $2 || ' seconds')".to_owned(),
                Backend::Postgres => self.backend.now_plus_seconds_sql(2),
            }
        );
        let moved = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(delay)
            .bind(delivered_at)
            .bind(claimed.id)
            .bind(self.worker_id())
            .bind(claimed.attempt)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(moved)
    }

    /// Deliveries, newest first: of one webhook or one alert, or all.
    pub async fn list_deliveries(
        &self,
        webhook_id: Option<i64>,
        alert_id: Option<i64>,
        limit: i64,
    ) -> sqlx::Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE ($1 IS NULL OR webhook_id = $1) \
             AND ($2 IS NULL OR alert_id = $2) ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(alert_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Every logged try of a delivery, in order.
    pub async fn delivery_attempts(&self, delivery_id: i64) -> sqlx::Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT delivery_id, attempt, worker, started_at, finished_at, http_status, error FROM delivery_attempts \
             WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    delivery_id: row.try_get("delivery_id")?,
                    attempt: row.try_get("attempt")?,
                    worker: row.try_get("worker")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    http_status: row.try_get("http_status")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }

    /// Queues the deliveries that were given up again (of one webhook, or all), due now.
    pub async fn retry_failed_deliveries(&self, webhook_id: Option<i64>) -> sqlx::Result<u64> {
        let sql = format!(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = {} \
             WHERE status = 'failed' AND ($1 IS NULL OR webhook_id = $1)",
            self.backend.now_sql()
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(webhook_id).execute(&self.pool).await?.rows_affected())
    }
}
