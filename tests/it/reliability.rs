//! Faults and concurrency: a process killed with SIGKILL in the middle of a load or of a
//! batch audit loses and duplicates nothing; `cadena check-index` finds and mends an
//! index that fell behind the store; loads and screenings run at the same time.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cadena::demo;
use cadena::ingest::{LoadRequest, load_file};
use cadena::matching::index::EntityIndex;
use cadena::records::RecordKind;
use cadena::store::Backend;
use cadena::store::datasets::LoadStatus;
use cadena::store::keys::Role;
use serde_json::json;
use tower::ServiceExt;

use crate::harness::{TestDb, database_tests};
use crate::http::{Api, Processes, supplier_file};

database_tests!(
    a_load_killed_midway_applies_nothing_and_runs_again_whole,
    an_audit_killed_midway_resumes_to_the_same_report,
    check_index_finds_and_repairs_drift,
    screenings_succeed_while_a_large_load_runs,
);

/// A watchlist file of `n` generated entries.
fn watchlist_file(n: usize) -> String {
    let mut csv = String::from("entity_id,list,name,aliases,tax_id,country,reason\n");
    for i in 0..n {
        csv.push_str(&format!(
            "W-{i:07},Test list,Transportes Numero {i} SAC,Alias {i},2010{i:07},PE,generated entry {i}\n"
        ));
    }
    csv
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run cadena");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Polls `condition` every 20 ms until it holds, failing the test after `seconds`.
async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, seconds: u64, mut condition: F) {
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < Duration::from_secs(seconds), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_load_killed_midway_applies_nothing_and_runs_again_whole(db: &TestDb) {
    let store = &db.store;
    let work = tempfile::tempdir().unwrap();
    // Enough rows that the load is still running when it is killed.
    let n_rows = match store.backend() {
        Backend::Sqlite => 100_000,
        Backend::Postgres => 30_000,
    };
    let file = work.path().join("watchlist.csv");
    std::fs::write(&file, watchlist_file(n_rows)).unwrap();
    let ingest = || {
        let mut command = db.cadena(work.path());
        command.arg("ingest").arg("watchlist").arg(&file).args(["--source", "crash"]);
        command
    };

    let child = Processes(vec![ingest().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()]);
    let mut load_id = None;
    wait_for("the load to start", 60, async || {
        let loads = store.list_loads(10).await.unwrap();
        load_id = loads.iter().find(|load| load.status == LoadStatus::Running).map(|load| load.id);
        load_id.is_some()
    })
    .await;
    let load_id = load_id.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = store.get_load(load_id).await.unwrap().unwrap().status;
    assert_eq!(status, LoadStatus::Running, "the load ended before the kill; the test needs a larger file");
    drop(child); // SIGKILL, then reap.

    assert_eq!(store.count_records(RecordKind::Watchlist).await.unwrap(), 0, "nothing of the killed load is applied");
    // Run again at once: the new load does it all, while the killed one is still leased.
    let output = run(&mut ingest());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("{n_rows} rows: {n_rows} inserted")), "{stdout}");
    // Once the killed load's lease has run out, it is marked interrupted.
    wait_for("the killed load's lease to expire", 30, async || {
        store.end_abandoned_loads().await.unwrap();
        store.get_load(load_id).await.unwrap().unwrap().status == LoadStatus::Interrupted
    })
    .await;
    assert_eq!(store.count_records(RecordKind::Watchlist).await.unwrap(), n_rows as i64, "every row once");
    let output = run(db.cadena(work.path()).arg("check-index"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("the index agrees with the store"));
}

async fn an_audit_killed_midway_resumes_to_the_same_report(db: &TestDb) {
    let store = &db.store;
    demo::load_demo(store).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let n_rows = 3000;
    let submit = async || {
        cadena::audit::submit(store, "suppliers.csv", supplier_file(n_rows).into_bytes(), &Default::default(), None, 50)
            .await
            .unwrap()
            .unwrap()
    };
    let serve = || {
        let mut command = db.cadena(work.path());
        command.args(["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::null());
        command.spawn().unwrap()
    };
    let status_of = async |id| store.audit_progress(id).await.unwrap().unwrap();

    // A reference run, undisturbed.
    let reference = submit().await;
    let server = Processes(vec![serve()]);
    wait_for("the reference audit", 120, async || status_of(reference.id).await.audit.status == "completed").await;

    // The same audit, with the server killed after its first chunks.
    let audit = submit().await;
    wait_for("the first chunks", 60, async || status_of(audit.id).await.rows_done >= 100).await;
    drop(server);
    let at_kill = status_of(audit.id).await;
    assert_ne!(at_kill.audit.status, "completed", "the audit ended before the kill; the test needs a larger file");

    let _server = Processes(vec![serve()]);
    wait_for("the resumed audit", 120, async || status_of(audit.id).await.audit.status == "completed").await;
    let rows = store.audit_rows(audit.id).await.unwrap();
    assert_eq!(rows.len(), n_rows, "every row once");
    assert!(rows == store.audit_rows(reference.id).await.unwrap(), "the resumed audit's report equals the reference");
}

async fn check_index_finds_and_repairs_drift(db: &TestDb) {
    let store = &db.store;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("watchlist.csv");
    std::fs::write(&file, watchlist_file(50)).unwrap();
    run(db.cadena(work.path()).arg("ingest").arg("watchlist").arg(&file));
    run(db.cadena(work.path()).arg("check-index"));

    // Loads the index never heard of, as when a process dies between a load's commit and
    // its index update: one new entry, and one changed name.
    let changed = watchlist_file(51).replace("Transportes Numero 7 SAC", "Transportes Renombrados SAC");
    let request = LoadRequest {
        kind: RecordKind::Watchlist,
        source: cadena::ingest::DEFAULT_SOURCE.to_owned(),
        file_name: "watchlist.csv".to_owned(),
        bytes: changed.into_bytes(),
    };
    load_file(store, request).await.unwrap();

    let output = db.cadena(work.path()).arg("check-index").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "drift must fail the check: {stdout}");
    assert!(stdout.contains("1 missing, 1 stale, 0 extra"), "{stdout}");
    assert!(stdout.contains("W-0000050") && stdout.contains("W-0000007"), "{stdout}");

    let output = run(db.cadena(work.path()).args(["check-index", "--repair"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains("repaired"));
    run(db.cadena(work.path()).arg("check-index"));
    let index_dir = match db.sqlite_data_dir() {
        Some(dir) => dir.join("index"),
        None => work.path().join("index"),
    };
    assert_eq!(EntityIndex::open_or_create(&index_dir).unwrap().len(), 51);
}

/// A load holds SQLite's write lock until it commits; screenings, which write their
/// audit-trail row, wait for it instead of failing.
async fn screenings_succeed_while_a_large_load_runs(db: &TestDb) {
    let store = db.store.clone();
    let api = Api::new(&store).await;
    // Long enough on SQLite to outlast its default 5 s busy timeout; PostgreSQL has no
    // such lock and loads slower, so a smaller file shows the same there.
    let n_rows = match store.backend() {
        Backend::Sqlite => 150_000,
        Backend::Postgres => 20_000,
    };
    let request = LoadRequest {
        kind: RecordKind::Watchlist,
        source: "big".to_owned(),
        file_name: "big.csv".to_owned(),
        bytes: watchlist_file(n_rows).into_bytes(),
    };
    let load = tokio::spawn({
        let store = store.clone();
        async move { load_file(&store, request).await.unwrap() }
    });
    wait_for("the load to start", 30, async || {
        store.list_loads(5).await.unwrap().iter().any(|load| load.status == LoadStatus::Running)
    })
    .await;
    // Four clients, each with a key of its own and within the rate limit, screening in a
    // loop until the load is done.
    let load_done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..4 {
        let key = store.create_key("client", Role::Officer).await.unwrap().1;
        let (app, load_done) = (api.app.clone(), load_done.clone());
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !load_done.load(Ordering::Relaxed) {
                let body = json!({ "supplier": {
                    "supplier_id": format!("S-{client}-{}", statuses.len()),
                    "name": format!("Proveedor {client} Numero {} SAC", statuses.len()),
                    "country": "PE"
                }});
                let request = Request::post("/v1/screenings")
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                statuses.push(response.status());
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            statuses
        }));
    }
    let report = load.await.unwrap();
    load_done.store(true, Ordering::Relaxed);
    assert_eq!(report.dataset.n_inserted, n_rows as i64);
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    assert!(statuses.len() >= 4, "screenings were sent while the load ran");
    let failed: Vec<_> = statuses.iter().filter(|status| **status != StatusCode::CREATED).collect();
    assert!(failed.is_empty(), "{} of {} screenings failed, the first {:?}", failed.len(), statuses.len(), failed[0]);
}
