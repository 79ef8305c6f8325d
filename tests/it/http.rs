//! The HTTP API through the real router, in-process.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cadena::demo;
use cadena::http::{AppState, router};
use cadena::store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::harness::store_tests;

store_tests!(index_and_datasets_describe_what_is_loaded, bad_requests_get_a_4xx_with_a_reason);

async fn get(store: &Store, uri: &str) -> (StatusCode, Value) {
    let app = router(AppState { store: store.clone() });
    let response = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

async fn index_and_datasets_describe_what_is_loaded(store: Store) {
    let reports = demo::load_demo(&store).await.unwrap();
    let (status, index) = get(&store, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["records"]["suppliers"], 6);
    assert_eq!(index["records"]["watchlist"], 6);
    assert_eq!(index["dataset_version"], reports.last().unwrap().dataset.id);

    let (status, datasets) = get(&store, "/v1/datasets?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(datasets.as_array().unwrap().len(), 2);
    assert_eq!(datasets[0]["kind"], "procurements");
    assert_eq!(datasets[0]["status"], "completed");

    let id = reports[0].dataset.id;
    let (status, dataset) = get(&store, &format!("/v1/datasets/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dataset["file_name"], "demo/watchlist.csv");
    let (status, rejected) = get(&store, &format!("/v1/datasets/{id}/rejected")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected, Value::Array(vec![]));

    assert_eq!(get(&store, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&store, "/readyz").await.0, StatusCode::OK);
}

async fn bad_requests_get_a_4xx_with_a_reason(store: Store) {
    let (status, body) = get(&store, "/v1/datasets/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no dataset 999");
    let (status, body) = get(&store, "/v1/datasets?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "limit must be between 1 and 1000, not 0");
    let (status, _) = get(&store, "/v1/datasets/not-a-number").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
