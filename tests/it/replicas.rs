//! Several `cadena` processes on one store, as an operator runs them: real `cadena serve`
//! replicas, each with its own data directory (and index) on one PostgreSQL database,
//! and `cadena ingest` beside a running server on SQLite. The index of each follows the
//! store; every screening names the version it was really matched against; jobs are
//! leased, so a killed server's work is taken over.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cadena::demo;
use cadena::screening::ReportRow;
use cadena::store::Store;
use cadena::store::keys::Role;
use serde_json::{Value, json};

use crate::harness::TestDb;
use crate::http::supplier_file;

/// A `cadena serve` process on a free port, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `cadena serve` with `command`'s environment and waits for its address.
    fn start(mut command: Command) -> Server {
        command.args(["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = command.spawn().expect("start cadena serve");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("cadena serve printed its address").expect("read cadena serve's output");
            if let Some(rest) = line.strip_prefix("cadena is listening on ") {
                break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
            }
        };
        // Keep reading, so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of one server, with one key.
struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    fn new(server: &Server, key: &str) -> Client {
        cadena::monitoring::webhooks::install_tls_provider();
        Client { http: reqwest::Client::new(), url: server.url.clone(), key: key.to_owned() }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.bearer_auth(&self.key).send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.url))).await
    }

    async fn screen(&self, name: &str) -> Value {
        let body = json!({ "supplier": { "supplier_id": "S-1", "name": name, "country": "PE" } });
        let (status, screening) = self.send(self.http.post(format!("{}/v1/screenings", self.url)).json(&body)).await;
        assert_eq!(status, 201, "{screening}");
        screening
    }

    /// Waits until `/readyz` answers 200: the server's index has caught up once.
    async fn wait_ready(&self) -> Value {
        let started = Instant::now();
        loop {
            let (status, readiness) = self.get("/readyz").await;
            if status == 200 {
                return readiness;
            }
            assert_eq!(status, 503, "{readiness}");
            assert!(started.elapsed() < Duration::from_secs(60), "the server never became ready: {readiness}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether a screening's matches include a listed entity.
fn found(screening: &Value, entity_id: &str) -> bool {
    screening["result"]["matches"].as_array().unwrap().iter().any(|found| found["entity"]["entity_id"] == entity_id)
}

/// Polls `condition` every 50 ms until it holds, failing after `seconds`.
async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, seconds: u64, mut condition: F) {
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < Duration::from_secs(seconds), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const LISTED_NAME: &str = "Hilanderia Imaginaria del Altiplano S.A.C.";
const LISTED_FILE: &str = "entity_id,list,name,country,reason\n\
    W-NEW-1,Lista de prueba,Hilanderia Imaginaria del Altiplano S.A.C.,PE,trabajo forzoso (ficticio)\n";

/// A watchlist uploaded through one replica is found by a screening on the other within
/// 10 s; that screening names a version that includes the upload, and every screening
/// before it names the older version it really used, in its answer and in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_agree_on_what_they_matched_against() {
    let Some(db) = TestDb::postgres().await else { return };
    demo::load_demo(&db.store).await.unwrap();
    let before_upload = db.store.store_version().await.unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let servers: Vec<Server> = dirs.iter().map(|dir| Server::start(db.cadena(dir.path()))).collect();
    let (_, admin) = db.store.create_key("test", Role::Admin).await.unwrap();
    let (first, second) = (Client::new(&servers[0], &admin), Client::new(&servers[1], &admin));
    for client in [&first, &second] {
        let readiness = client.wait_ready().await;
        assert_eq!(
            (readiness["index_version"].as_i64(), readiness["index_lag"].as_i64()),
            (Some(before_upload), Some(0))
        );
    }
    let screening = second.screen(LISTED_NAME).await;
    assert!(!found(&screening, "W-NEW-1"));
    assert_eq!(screening["dataset_version"], before_upload);

    let upload = first.http.post(format!("{}/v1/datasets?kind=watchlist&source=prueba&name=lista.csv", first.url));
    let (status, queued) = first.send(upload.header("content-type", "text/csv").body(LISTED_FILE)).await;
    assert_eq!(status, 202, "{queued}");
    let load_id = queued["id"].as_i64().unwrap();

    let started = Instant::now();
    let mut screenings = Vec::new();
    let hit = loop {
        let screening = second.screen(LISTED_NAME).await;
        if found(&screening, "W-NEW-1") {
            break screening;
        }
        screenings.push(screening);
        assert!(started.elapsed() < Duration::from_secs(10), "the second replica never found the upload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let load = db.store.get_load(load_id).await.unwrap().unwrap();
    let load_version = load.version.expect("the upload completed");
    assert!(hit["dataset_version"].as_i64().unwrap() >= load_version, "{hit}");
    for missed in &screenings {
        assert!(
            missed["dataset_version"].as_i64().unwrap() < load_version,
            "a miss names a version without the upload: {missed}"
        );
    }
    // The audit trail says the same as the answers.
    for screening in screenings.iter().chain([&hit]) {
        let (status, stored) = second.get(&format!("/v1/screenings/{}", screening["id"])).await;
        assert_eq!(status, 200);
        assert_eq!(
            (&stored["dataset_version"], &stored["result"]),
            (&screening["dataset_version"], &screening["result"])
        );
    }
    // Both replicas now report the same index version, and no lag.
    for client in [&first, &second] {
        wait_for("the index to report no lag", 10, async || {
            let (_, readiness) = client.get("/readyz").await;
            readiness["index_lag"] == 0 && readiness["index_version"].as_i64() >= Some(load_version)
        })
        .await;
        let metrics = client.http.get(format!("{}/metrics", client.url)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("cadena_index_lag 0"), "{metrics}");
    }
}

/// The host and pid parts of a worker id (`host/pid/random`).
fn host_and_pid(worker: &str) -> (String, String) {
    let mut parts = worker.splitn(3, '/');
    (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned())
}

async fn chunk_workers(store: &Store, audit_id: i64) -> Vec<(i64, String, Option<String>)> {
    sqlx::query_as("SELECT chunk, status, worker FROM audit_chunks WHERE audit_id = $1 ORDER BY chunk")
        .bind(audit_id)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The server running an audit's chunks is killed (SIGKILL); the other finishes the audit
/// once the dead one's lease has expired, every row exactly once. A claim made under the
/// host and pid of a live server but by another process (a restarted container that got
/// the same pid) is not taken for that server's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_s_audit_chunks_are_taken_over_after_the_lease() {
    let Some(db) = TestDb::postgres().await else { return };
    demo::load_demo(&db.store).await.unwrap();
    let store = &db.store;
    let n_rows = 3000;
    let audit = cadena::audit::submit(
        store,
        "suppliers.csv",
        supplier_file(n_rows).into_bytes(),
        &Default::default(),
        None,
        100,
    )
    .await
    .unwrap()
    .unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    // Kill a server in the middle of a chunk. It may finish the chunk it was seen holding
    // before the kill lands; then a chunk it still held at its death is wanted, so a new
    // one is started and killed again.
    let mut held_at_death = None;
    for _ in 0..5 {
        let doomed = Server::start(db.cadena(dirs[0].path()));
        let doomed_pid = doomed.pid().to_string();
        let held_by = async || {
            chunk_workers(store, audit.id).await.into_iter().find(|(_, status, worker)| {
                status == "running" && worker.as_deref().is_some_and(|worker| host_and_pid(worker).1 == doomed_pid)
            })
        };
        wait_for("the first server to hold a chunk", 60, async || held_by().await.is_some()).await;
        drop(doomed); // SIGKILL.
        held_at_death = held_by().await;
        if held_at_death.is_some() {
            break;
        }
    }
    let (held_chunk, _, dead_worker) = held_at_death.expect("a server killed while holding a chunk");
    let survivor = Server::start(db.cadena(dirs[1].path()));

    wait_for("the surviving server to finish the audit", 120, async || {
        store.get_audit(audit.id).await.unwrap().unwrap().status == "completed"
    })
    .await;
    let rows: Vec<ReportRow> =
        store.audit_rows(audit.id).await.unwrap().iter().map(|text| serde_json::from_str(text).unwrap()).collect();
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|row| row.input_id.as_str()).collect();
    assert_eq!((rows.len(), ids.len()), (n_rows, n_rows), "every row exactly once");
    let chunks = chunk_workers(store, audit.id).await;
    let (_, status, worker) = &chunks[held_chunk as usize];
    assert_eq!(status, "done");
    let survivor_worker = worker.clone().unwrap();
    assert_ne!(Some(&survivor_worker), dead_worker.as_ref(), "the chunk the dead server held was done by the other");
    assert_eq!(host_and_pid(&survivor_worker).1, survivor.pid().to_string());
    let progress = store.audit_progress(audit.id).await.unwrap().unwrap();
    assert_eq!(progress.screened_with.iter().map(|used| used.n_chunks).sum::<i64>(), 30);

    // A dead process with the survivor's own host and pid claimed a chunk of a new audit:
    // the survivor leaves it alone while its lease runs, then takes it over.
    let (host, pid) = host_and_pid(&survivor_worker);
    let impostor = format!("{host}/{pid}/0000000000000000");
    let second = loop {
        let second = cadena::audit::submit(
            store,
            "suppliers.csv",
            supplier_file(200).into_bytes(),
            &Default::default(),
            None,
            100,
        )
        .await
        .unwrap()
        .unwrap();
        let lease_until = chrono::Utc::now() + chrono::Duration::seconds(6);
        let claimed = sqlx::query(
            "UPDATE audit_chunks SET status = 'running', worker = $1, lease_until = $2 \
             WHERE audit_id = $3 AND chunk = 0 AND status = 'pending'",
        )
        .bind(&impostor)
        .bind(lease_until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .bind(second.id)
        .execute(store.pool())
        .await
        .unwrap()
        .rows_affected();
        // The survivor may have claimed the chunk first; then try again with another audit.
        if claimed == 1 {
            break second;
        }
    };
    wait_for("the free chunk", 60, async || chunk_workers(store, second.id).await[1].1 == "done").await;
    let claimed = chunk_workers(store, second.id).await;
    assert_eq!((claimed[0].1.as_str(), claimed[0].2.as_deref()), ("running", Some(impostor.as_str())), "left alone");
    wait_for("the impostor's chunk to be taken over", 60, async || {
        store.get_audit(second.id).await.unwrap().unwrap().status == "completed"
    })
    .await;
    assert_eq!(chunk_workers(store, second.id).await[0].2.as_deref(), Some(survivor_worker.as_str()));
    assert_eq!(store.audit_rows(second.id).await.unwrap().len(), 200);
}

/// `cadena ingest` on the data directory of a running `cadena serve` (SQLite): no lock
/// conflict, and the server's index catches up by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadena_ingest_beside_a_running_server_reaches_its_index() {
    let db = TestDb::sqlite().await;
    let data_dir = db.sqlite_data_dir().unwrap().to_owned();
    let server = Server::start(db.cadena(&data_dir));
    let (_, officer) = db.store.create_key("test", Role::Officer).await.unwrap();
    let client = Client::new(&server, &officer);
    client.wait_ready().await;
    assert!(!found(&client.screen(LISTED_NAME).await, "W-NEW-1"));

    let file = data_dir.join("lista.csv");
    std::fs::write(&file, LISTED_FILE).unwrap();
    let output = db.cadena(&data_dir).args(["ingest", "watchlist"]).arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 inserted"), "{stdout}");
    assert!(stdout.contains("another cadena process on this data directory writes the index"), "{stdout}");

    let started = Instant::now();
    wait_for("the server to find the new entity", 10, async || found(&client.screen(LISTED_NAME).await, "W-NEW-1"))
        .await;
    println!("found after {:?}", started.elapsed());
    let (_, readiness) = client.get("/readyz").await;
    assert_eq!(readiness["index_version"], db.store.store_version().await.unwrap());
}
