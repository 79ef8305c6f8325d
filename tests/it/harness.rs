//! Test databases: a SQLite file in a temporary directory, or a fresh PostgreSQL
//! database created on the server named by `CADENA_TEST_DATABASE_URL` and dropped after;
//! and what a test does when something it needs is missing (skip, or fail under `CI=true`).

use std::sync::atomic::{AtomicUsize, Ordering};

use cadena::store::Store;
use sqlx::{Connection, Executor};

/// The environment variable naming the PostgreSQL server for tests, for example
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "CADENA_TEST_DATABASE_URL";

/// A store on a database of its own, removed when the value is dropped.
pub struct TestDb {
    pub store: Store,
    data_dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// The SQLite database's data directory (for child processes).
    pub fn sqlite_data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_ref().map(|dir| dir.path())
    }

    /// The URL of a PostgreSQL test database (for child processes).
    pub fn postgres_url(&self) -> Option<String> {
        self.postgres.as_ref().map(|(admin_url, name)| with_database(admin_url, name))
    }

    pub async fn sqlite() -> TestDb {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open_sqlite(data_dir.path()).await.expect("open SQLite store");
        store.migrate().await.expect("migrate SQLite store");
        TestDb { store, data_dir: Some(data_dir), postgres: None }
    }

    /// A fresh PostgreSQL database, or `None` when no server is configured (see
    /// [`missing_prerequisite`]: under `CI=true` that fails the test).
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            missing_prerequisite("PostgreSQL", &format!("set {POSTGRES_URL_VAR} to run this test against it"));
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
        Some(TestDb { store, data_dir: None, postgres: Some((admin_url, name)) })
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

/// Says that something a test needs is missing. Under `CI=true` the test fails, naming
/// it: a CI run that skipped tests is not a green run. Elsewhere (a contributor's machine
/// without PostgreSQL, Chromium or the shared data) the test is skipped with the message.
pub fn missing_prerequisite(what: &str, how: &str) {
    if std::env::var("CI").is_ok_and(|value| value == "true" || value == "1") {
        panic!("{what} is missing and CI=true, so this test fails instead of skipping: {how}");
    }
    eprintln!("skipped: {what} is missing: {how}");
}

/// A file of the shared data beside the checkout (`../shared/data`), or `None` when the
/// shared data is absent (see [`missing_prerequisite`]).
pub fn shared_file(relative: &str) -> Option<std::path::PathBuf> {
    let path = cadena::matching::evaluation::shared_data_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    missing_prerequisite(&path.display().to_string(), "the shared data sits beside the checkout, in ../shared/data");
    None
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

/// Declares each listed `async fn(&TestDb)` as a test on SQLite and on PostgreSQL, for
/// tests that also start `cadena` processes on the same database.
macro_rules! database_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::harness::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::harness::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.store.close().await;
                }
            )*
        }
    };
}
pub(crate) use database_tests;

impl TestDb {
    /// A `cadena` command on this database. `work` holds the index (and, on PostgreSQL,
    /// stands as the data directory); pass the same directory to every process of a test.
    pub fn cadena(&self, work: &std::path::Path) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cadena"));
        // Short leases, so that a job of a killed process is taken over within seconds.
        command.env_remove("CADENA_DATABASE_URL").env("CADENA_LOG", "warn").env("CADENA_LEASE_SECONDS", "3");
        match (self.postgres_url(), self.sqlite_data_dir()) {
            (Some(url), _) => command.env("CADENA_DATABASE_URL", url).env("CADENA_DATA_DIR", work),
            (None, Some(dir)) => command.env("CADENA_DATA_DIR", dir),
            (None, None) => unreachable!("a test database is SQLite or PostgreSQL"),
        };
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        command
    }
}
