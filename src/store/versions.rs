//! The store's version: a counter that every completed load increments in its own
//! transaction (`store_state.version`), and how processes hear that it moved.
//!
//! On PostgreSQL the increment locks the `store_state` row until the load commits, so
//! loads become visible in version order even when several run at once; SQLite runs
//! one writer at a time. So "the index reflects version N" means it reflects every load
//! with a version up to N. A load that commits tells listeners in its own process at
//! once ([`Store::subscribe_versions`]) and, on PostgreSQL, every other process by
//! `NOTIFY` on [`VERSION_CHANNEL`] ([`Store::version_listener`]).

use sqlx::{Any, AnyConnection, Transaction};

use super::records::{self, StoredRecord};
use super::{Backend, Store};
use crate::records::Record;

/// The PostgreSQL notification channel on which each load announces the version it made.
pub const VERSION_CHANNEL: &str = "cadena_store_version";

impl Store {
    /// The store's version: how many loads have completed, in commit order (0 when none).
    pub async fn store_version(&self) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT version FROM store_state WHERE id = 1").fetch_one(&self.pool).await
    }

    /// The store's identity, made when its schema was created: an index built from
    /// another database is recognised by it.
    pub async fn store_id(&self) -> sqlx::Result<String> {
        sqlx::query_scalar("SELECT store_id FROM store_state WHERE id = 1").fetch_one(&self.pool).await
    }

    /// Tells this process's listeners that a load committed `version`.
    pub(crate) fn announce_version(&self, version: i64) {
        self.committed.send_if_modified(|newest| {
            let newer = version > *newest;
            if newer {
                *newest = version;
            }
            newer
        });
    }

    /// The newest version committed by this process, changing with every load it commits.
    pub fn subscribe_versions(&self) -> tokio::sync::watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// On PostgreSQL, a connection listening for the versions loads of any process
    /// announce; `None` on SQLite, where only polling sees other processes' loads.
    pub async fn version_listener(&self) -> sqlx::Result<Option<sqlx::postgres::PgListener>> {
        let Some(url) = &self.postgres_url else { return Ok(None) };
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(VERSION_CHANNEL).await?;
        Ok(Some(listener))
    }
}

/// The store as it was at one version: everything read through a snapshot comes from
/// one consistent state of the database (a read transaction; `REPEATABLE READ` on
/// PostgreSQL), so an index built from it reflects exactly `version`.
pub struct Snapshot {
    tx: Transaction<'static, Any>,
    pub store_id: String,
    pub version: i64,
}

impl Store {
    /// Starts a consistent read of the store at its current version.
    pub async fn snapshot(&self) -> sqlx::Result<Snapshot> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin().await?,
            Backend::Postgres => self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?,
        };
        let (store_id, version): (String, i64) =
            sqlx::query_as("SELECT store_id, version FROM store_state WHERE id = 1").fetch_one(&mut *tx).await?;
        Ok(Snapshot { tx, store_id, version })
    }
}

impl Snapshot {
    /// Records of one kind in `(source, key)` order, `limit` at a time after `after`;
    /// with `changed_since`, only those that loads after that store version changed.
    pub async fn page_records<R: Record>(
        &mut self,
        changed_since: Option<i64>,
        after: Option<&(String, String)>,
        limit: i64,
    ) -> sqlx::Result<Vec<StoredRecord<R>>> {
        let changed_in = changed_since.map(|since| (since, self.version));
        records::page_records(&mut self.tx, changed_in, after, limit).await
    }

    /// Ends the read.
    pub async fn close(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

/// Takes the next store version for a load that is about to commit; part of the load's
/// transaction (on PostgreSQL the `store_state` row stays locked until it commits, and
/// the notification is sent when it does).
pub(crate) async fn next_version(conn: &mut AnyConnection) -> sqlx::Result<i64> {
    let version: i64 =
        sqlx::query_scalar("UPDATE store_state SET version = version + 1 WHERE id = 1 RETURNING version")
            .fetch_one(&mut *conn)
            .await?;
    if Backend::of(conn) == Backend::Postgres {
        // NOTIFY takes no bound parameters; the payload is a number made here.
        let notify = format!("NOTIFY {VERSION_CHANNEL}, '{version}'");
        sqlx::query(sqlx::AssertSqlSafe(notify)).execute(&mut *conn).await?;
    }
    Ok(version)
}
