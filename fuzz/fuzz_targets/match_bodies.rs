//! The bodies of the matching protocols, through the real router in-process: yente's
//! `POST /match/default` (any bytes as its JSON body) and OpenRefine's reconciliation
//! (`POST /reconcile` with the bytes as the form's `queries`, and `GET /reconcile?queries=`),
//! against a SQLite store holding the demo data and an index that follows it. Whatever the
//! input, the answer is a 2xx or a 4xx whose body is JSON, never a 5xx or a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use cadena::http::{AppState, router};
use cadena::indexer::Indexer;
use cadena::matching::index::EntityIndex;
use cadena::matching::{Matcher, Thresholds};
use cadena::rules::Ruleset;
use cadena::service::ScreeningService;
use cadena::store::Store;
use cadena::store::keys::Role;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Setup {
    runtime: tokio::runtime::Runtime,
    app: Router,
    key: String,
    _dir: tempfile::TempDir,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (app, key) = runtime.block_on(async {
            let store = Store::open_sqlite(dir.path()).await.unwrap();
            store.migrate().await.unwrap();
            cadena::demo::load_demo(&store).await.unwrap();
            let index = EntityIndex::open_or_create(&dir.path().join("index")).unwrap();
            let indexer = Indexer::new(store.clone(), index).unwrap();
            indexer.catch_up().await.unwrap();
            let matcher = Matcher::new(indexer.index().clone(), Thresholds::default());
            let service =
                ScreeningService::new(store.clone(), Arc::new(matcher), Arc::new(Ruleset::bundled()), indexer.status());
            let (_, key) = store.create_key("fuzz", Role::Officer).await.unwrap();
            // Every input is a request of the same key: no rate limit.
            let state = AppState::with_rate_limit(store, Arc::new(service), 1e9, 1e9);
            (router(state), key)
        });
        Setup { runtime, app, key, _dir: dir }
    })
}

/// Percent-encodes bytes for a form field or a query string.
fn percent_encoded(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let setup = setup();
    let authorised = |request: axum::http::request::Builder| request.header("x-api-key", &setup.key);
    let request = match which % 3 {
        0 => authorised(Request::post("/match/default"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_vec())),
        1 => authorised(Request::post("/reconcile"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("queries={}", percent_encoded(body)))),
        _ => authorised(Request::get(format!("/reconcile?queries={}", percent_encoded(body)))).body(Body::empty()),
    }
    .unwrap();
    let (status, answer) = setup.runtime.block_on(async {
        let response = setup.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    });
    assert!(!status.is_server_error(), "{status}: {}", String::from_utf8_lossy(&answer));
    assert!(
        serde_json::from_slice::<serde_json::Value>(&answer).is_ok(),
        "{status} with a body that is not JSON: {}",
        String::from_utf8_lossy(&answer)
    );
});
