//! The SQL store, cadena's system of record: SQLite by default, PostgreSQL for shared
//! deployments.
//!
//! Both go through sqlx's `Any` driver so that one set of queries serves both; SQL is
//! written in the dialect they share (`$1` placeholders, `ON CONFLICT … DO UPDATE`,
//! `RETURNING`). Each backend has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`), run at start-up.

pub mod audits;
pub mod datasets;
pub mod decisions;
pub mod keys;
pub mod leases;
pub mod monitoring;
pub mod records;
pub mod screenings;
pub mod versions;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use datasets::{DatasetVersion, LoadStatus, RejectedRow};
pub use leases::{DEFAULT_LEASE, Job, LeaseGuard};

/// Where the store lives, as configured on the command line or in the environment.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreConfig {
    /// Directory for the embedded SQLite database and the search index (`index/`).
    #[arg(long, env = "CADENA_DATA_DIR", default_value = "cadena-data", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…) for a shared store; the SQLite file in the data
    /// directory is used when this is not given.
    #[arg(long, env = "CADENA_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// How long, in seconds, a claimed job (a queued load, an audit chunk) stays one
    /// worker's without renewal; after that any worker on any host may take it over.
    #[arg(long, env = "CADENA_LEASE_SECONDS", default_value_t = DEFAULT_LEASE.as_secs(), global = true)]
    pub lease_seconds: u64,
}

impl StoreConfig {
    /// Where the entity search index lives: `index/` in the data directory, whichever database is used.
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection talks to.
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") { Backend::Postgres } else { Backend::Sqlite }
    }

    /// The placeholders for bound parameters `first..first + count`, comma-separated,
    /// for statements built at run time. SQLite gets plain `?`: it looks `$n` names up
    /// in a linear list, which makes binding a multi-row insert quadratic.
    pub fn placeholders(self, first: usize, count: usize) -> String {
        let placeholders: Vec<String> = match self {
            Backend::Sqlite => vec!["?".to_owned(); count],
            Backend::Postgres => (first..first + count).map(|n| format!("${n}")).collect(),
        };
        placeholders.join(", ")
    }
}

/// A handle to the store; cheap to clone (it wraps a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    verified_keys: keys::VerifiedKeys,
    /// The PostgreSQL URL, for the `LISTEN` connection that hears of new store versions.
    postgres_url: Option<Arc<str>>,
    /// Who this handle claims jobs as: host, pid and a random part, so that a process
    /// restarted with the pid of a dead one is never taken for it.
    worker_id: Arc<str>,
    /// How long a claimed job stays this worker's without a renewal.
    lease: Duration,
    /// The newest store version this process committed, for listeners in the process
    /// (the indexer); other processes hear of it by `NOTIFY` or by polling.
    committed: Arc<tokio::sync::watch::Sender<i64>>,
}

/// The name of the SQLite file inside the data directory.
pub const SQLITE_FILE_NAME: &str = "cadena.sqlite3";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens the configured store and brings its schema up to date.
    pub async fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        let store = match &config.database_url {
            Some(url) => Store::connect(url).await?,
            None => Store::open_sqlite(&config.data_dir).await?,
        };
        store.migrate().await?;
        Ok(store.with_lease(Duration::from_secs(config.lease_seconds.max(1))))
    }

    /// Opens (creating if needed) the SQLite database in `data_dir`, in WAL mode.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("failed to create data directory {}", data_dir.display()))?;
        let path = data_dir.join(SQLITE_FILE_NAME);
        let url = format!("sqlite://{}?mode=rwc", escape_url_path(&path.to_string_lossy()));
        Store::connect(&url).await.with_context(|| format!("failed to open SQLite database {}", path.display()))
    }

    /// Connects to a `sqlite://` or `postgres://` URL.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL (expected postgres://… or sqlite://…)");
        };
        let options = AnyConnectOptions::from_str(url)
            .context("invalid database URL")?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(5))
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool_options = match backend {
            // SQLite has one writer at a time, and a load holds the write lock until it
            // commits. Other writers (a screening's audit-trail row, an audit chunk) wait
            // for it rather than fail: the busy timeout is longer than a large load, and
            // there are enough connections that waiting writers leave some to readers.
            // A connection to a local file cannot go stale, so it is not pinged before
            // each use (a round trip to its thread that every query would pay).
            Backend::Sqlite => {
                AnyPoolOptions::new().max_connections(16).test_before_acquire(false).after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets readers work while a load writes; NORMAL is durable in WAL mode
                        // except for the last transactions before a power loss.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 120000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(10),
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await
            .context("failed to connect to the database")?;
        Ok(Store {
            pool,
            backend,
            verified_keys: keys::verified_keys_cache(),
            postgres_url: (backend == Backend::Postgres).then(|| Arc::from(url)),
            worker_id: Arc::from(leases::new_worker_id()),
            lease: DEFAULT_LEASE,
            committed: Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    /// The same store with jobs leased for `lease` at a time (see [`leases`]).
    pub fn with_lease(mut self, lease: Duration) -> Store {
        self.lease = lease;
        self
    }

    /// The same store, claiming jobs as a worker of its own: to the leases it is another
    /// process (tests, or several workers in one process).
    pub fn with_new_worker_id(&self) -> Store {
        Store { worker_id: Arc::from(leases::new_worker_id()), ..self.clone() }
    }

    /// The identity this handle claims jobs under (`host/pid/random`).
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Applies the migrations this backend has not seen yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.context("failed to run database migrations")
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The current time as stored: RFC 3339 in UTC with milliseconds, which sorts as text.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A column map as stored: a JSON array, or NULL for an empty map.
pub(crate) fn column_map_json<T: serde::Serialize>(column_map: &[T]) -> Option<String> {
    (!column_map.is_empty()).then(|| serde_json::to_string(column_map).expect("a column map serialises"))
}

/// A column map as stored read back (see [`column_map_json`]).
pub(crate) fn column_map_from_row<T: serde::de::DeserializeOwned>(row: &sqlx::any::AnyRow) -> sqlx::Result<Vec<T>> {
    use sqlx::Row as _;
    let column_map: Option<String> = row.try_get("column_map")?;
    match column_map {
        Some(json) => serde_json::from_str(&json)
            .map_err(|err| sqlx::Error::ColumnDecode { index: "column_map".to_owned(), source: Box::new(err) }),
        None => Ok(Vec::new()),
    }
}

/// Escapes the characters that would end the path part of a `sqlite://` URL.
fn escape_url_path(path: &str) -> String {
    path.replace('%', "%25").replace('?', "%3F").replace('#', "%23")
}
