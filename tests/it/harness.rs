//! Test databases: a SQLite file in a temporary directory, or a fresh PostgreSQL
//! database created on the server named by `CADENA_TEST_DATABASE_URL` and dropped after.

use std::sync::atomic::{AtomicUsize, Ordering};

use cadena::store::Store;
use sqlx::{Connection, Executor};

/// The environment variable naming the PostgreSQL server for tests, for example
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "CADENA_TEST_DATABASE_URL";

/// A store on a database of its own, removed when the value is dropped.
pub struct TestDb {
    pub store: Store,
    _data_dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// The URL of a PostgreSQL test database (for child processes).
    pub fn postgres_url(&self) -> Option<String> {
        self.postgres.as_ref().map(|(admin_url, name)| with_database(admin_url, name))
    }

    pub async fn sqlite() -> TestDb {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open_sqlite(data_dir.path()).await.expect("open SQLite store");
        store.migrate().await.expect("migrate SQLite store");
        TestDb { store, _data_dir: Some(data_dir), postgres: None }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("skipped: set {POSTGRES_URL_VAR} to run this test against PostgreSQL");
            return None;
        };
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("cadena_it_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.expect("connect to the PostgreSQL test server");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&url).await.expect("connect to the test database");
        store.migrate().await.expect("migrate PostgreSQL store");
        Some(TestDb { store, _data_dir: None, postgres: Some((admin_url, name)) })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else { return };
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with
        // a runtime of its own drops the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

/// The URL with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

/// Declares each listed `async fn(Store)` as a test on SQLite and on PostgreSQL.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::harness::TestDb::sqlite().await;
                    super::$name(db.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::harness::TestDb::postgres().await else { return };
                    super::$name(db.store.clone()).await;
                    db.store.close().await;
                }
            )*
        }
    };
}
pub(crate) use store_tests;
