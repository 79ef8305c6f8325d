//! The HTTP API through the real router, in-process: keys and roles, screening and its
//! audit trail, search, and what the service screens with.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cadena::demo;
use cadena::http::{AppState, ROUTES, router};
use cadena::matching::index::EntityIndex;
use cadena::matching::{Matcher, Thresholds};
use cadena::rules::Ruleset;
use cadena::service::ScreeningService;
use cadena::store::Store;
use cadena::store::keys::Role;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::harness::store_tests;

store_tests!(
    index_and_datasets_describe_what_is_loaded,
    bad_requests_get_a_4xx_with_a_reason,
    every_endpoint_admits_exactly_its_roles,
    a_screening_is_stored_and_reproduced_exactly,
    a_procurement_screening_scores_each_line,
    search_ruleset_and_matching_answer_every_role,
);

/// The demo dataset, an index built from it, the router and one key per role.
struct Api {
    app: Router,
    keys: Vec<(Role, String)>,
    store: Store,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new(store: &Store) -> Api {
        demo::load_demo(store).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let index_dir = dir.path().join("index");
        EntityIndex::rebuild(store, &index_dir).await.unwrap();
        let matcher = Matcher::new(EntityIndex::open_or_create(&index_dir).unwrap(), Thresholds::default());
        let screening = Arc::new(ScreeningService::new(store.clone(), Arc::new(matcher), Arc::new(Ruleset::bundled())));
        let mut keys = Vec::new();
        for role in Role::ALL {
            keys.push((role, store.create_key("test", role).await.unwrap().1));
        }
        Api { app: router(AppState { store: store.clone(), screening }), keys, store: store.clone(), _dir: dir }
    }

    fn key(&self, role: Role) -> &str {
        &self.keys.iter().find(|(each, _)| *each == role).unwrap().1
    }

    async fn call(&self, method: &str, uri: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body)
    }

    async fn get(&self, uri: &str, role: Role) -> (StatusCode, Value) {
        self.call("GET", uri, Some(self.key(role)), None).await
    }
}

fn demo_supplier() -> Value {
    json!({ "supplier": {
        "supplier_id": "S-1", "name": "Minera Ficticia Oro Verde SAC", "tax_id": "20999999991",
        "country": "PE", "agency_ids": ["DEMO-A-001"]
    }})
}

async fn index_and_datasets_describe_what_is_loaded(store: Store) {
    let api = Api::new(&store).await;
    let (status, index) = api.call("GET", "/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["records"]["suppliers"], 6);
    assert_eq!(index["records"]["watchlist"], 6);
    assert!(index["endpoints"].as_array().unwrap().iter().any(|endpoint| endpoint == "POST /v1/screenings"));

    let (status, datasets) = api.get("/v1/datasets?limit=2", Role::Auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(datasets.as_array().unwrap().len(), 2);
    assert_eq!(datasets[0]["kind"], "procurements");
    assert_eq!(datasets[0]["status"], "completed");
    let id = datasets[1]["id"].as_i64().unwrap();
    let (status, dataset) = api.get(&format!("/v1/datasets/{id}"), Role::Admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dataset["file_name"], "demo/suppliers.csv");
    let (status, rejected) = api.get(&format!("/v1/datasets/{id}/rejected"), Role::Admin).await;
    assert_eq!((status, rejected), (StatusCode::OK, Value::Array(vec![])));

    assert_eq!(api.call("GET", "/healthz", None, None).await.0, StatusCode::OK);
    assert_eq!(api.call("GET", "/readyz", None, None).await.0, StatusCode::OK);
}

async fn bad_requests_get_a_4xx_with_a_reason(store: Store) {
    let api = Api::new(&store).await;
    let (status, body) = api.get("/v1/datasets/999", Role::Auditor).await;
    assert_eq!((status, &body["error"]), (StatusCode::NOT_FOUND, &json!("no dataset 999")));
    let (status, body) = api.get("/v1/datasets?limit=0", Role::Auditor).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("limit must be between 1 and 1000, not 0")));
    assert_eq!(api.get("/v1/datasets/not-a-number", Role::Auditor).await.0, StatusCode::BAD_REQUEST);

    let officer = Some(api.key(Role::Officer));
    let (status, body) = api.call("POST", "/v1/screenings", officer, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("give a `supplier`"), "{body}");
    let (status, body) = api.call("POST", "/v1/screenings", officer, Some(json!({ "supplier": { "name": 3 } }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("supplier"), "{body}");
    let (status, _) = api.call("POST", "/v1/screenings", officer, Some(json!({ "suplier": {} }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused, not ignored");
    let (status, body) = api.get("/v1/search?q=x&kind=procurements", Role::Inspector).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("kind must be"), "{body}");
    let (status, body) = api.get("/v1/search?q=x&country=Atlantis", Role::Inspector).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with("country:"), "{body}");
    assert_eq!(api.get("/v1/screenings/999", Role::Officer).await.0, StatusCode::NOT_FOUND);
}

async fn every_endpoint_admits_exactly_its_roles(store: Store) {
    let api = Api::new(&store).await;
    let (revoked_key, revoked_secret) = store.create_key("gone", Role::Admin).await.unwrap();
    assert!(store.revoke_key(revoked_key.id).await.unwrap());
    for (method, path, roles) in ROUTES {
        let uri = path.replace("{id}", "1") + if path.ends_with("search") { "?q=ficticia" } else { "" };
        let body = (*method == "POST").then(demo_supplier);
        for (key, what) in
            [(None, "no key"), (Some("cadena_0000"), "a wrong key"), (Some(revoked_secret.as_str()), "a revoked key")]
        {
            let (status, answer) = api.call(method, &uri, key, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} with {what}: {answer}");
        }
        for role in Role::ALL {
            let (status, answer) = api.call(method, &uri, Some(api.key(role)), body.clone()).await;
            if roles.contains(&role) {
                assert!(status.is_success(), "{method} {uri} as {role}: {status} {answer}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri} as {role}: {answer}");
            }
        }
    }
}

async fn a_screening_is_stored_and_reproduced_exactly(store: Store) {
    let api = Api::new(&store).await;
    let (status, screening) =
        api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    assert_eq!(status, StatusCode::CREATED, "{screening}");
    let result = &screening["result"];
    assert_eq!(result["matches"][0]["entity"]["entity_id"], "DEMO-W-001");
    assert_eq!(result["matches"][0]["strength"], "strong");
    assert!(result["matches"][0]["explanation"]["word_pairs"].as_array().unwrap().len() >= 4);
    let assessment = &result["assessments"][0]["assessment"];
    assert_eq!(assessment["band"], "critical");
    assert!(assessment["fired"].as_array().unwrap().iter().any(|rule| rule["id"] == "recruitment.agency_unlicensed"));
    assert_eq!(screening["ruleset_digest"], Ruleset::bundled().digest());
    assert_eq!(screening["dataset_version"], store.dataset_version().await.unwrap());

    // The audit trail keeps it, with the key that asked.
    let id = screening["id"].as_i64().unwrap();
    let (status, stored) = api.get(&format!("/v1/screenings/{id}"), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, screening);
    assert!(stored["key_id"].as_i64().is_some());

    // Asking again (from the cache) gives the same result under a new id.
    let (_, again) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    assert_ne!(again["id"], screening["id"]);
    assert_eq!(again["result"], screening["result"]);

    // Re-run from the stored input, without the cache: identical.
    let (status, reproduction) = api.get(&format!("/v1/screenings/{id}/reproduction"), Role::Officer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reproduction["same_dataset_version"], true);
    assert_eq!(reproduction["same_ruleset_digest"], true);
    assert_eq!(reproduction["identical"], true, "{reproduction}");

    // A new load moves the dataset version, so the cache cannot serve the old result.
    let request = cadena::ingest::LoadRequest {
        kind: cadena::records::RecordKind::Watchlist,
        source: "later".to_owned(),
        file_name: "later.csv".to_owned(),
        bytes: b"entity_id,name\nL-1,Otra Empresa Listada\n".to_vec(),
    };
    cadena::ingest::load_file(&api.store, request).await.unwrap();
    let (_, later) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    assert_ne!(later["dataset_version"], screening["dataset_version"]);
}

async fn a_procurement_screening_scores_each_line(store: Store) {
    let api = Api::new(&store).await;
    let body = json!({
        "lines": [
            { "procurement_id": "P-1", "line_id": "1", "supplier_id": "DEMO-S-002", "item_description": "Papel bond A4",
              "item_code": "14111507", "origin_country": "PE", "origin_region": "Lima", "agency_ids": ["DEMO-A-002"] },
            { "procurement_id": "P-1", "line_id": "2", "supplier_id": "DEMO-S-001", "item_description": "Lingotes de oro",
              "origin_country": "PE", "origin_region": "Madre de Dios", "agency_ids": ["DEMO-A-001"] }
        ]
    });
    let (status, screening) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{screening}");
    assert_eq!(screening["kind"], "procurement");
    let assessments = screening["result"]["assessments"].as_array().unwrap();
    assert_eq!(assessments.len(), 2);
    assert_eq!(
        (assessments[0]["line"].as_str(), assessments[0]["assessment"]["band"].as_str()),
        (Some("P-1/1"), Some("low"))
    );
    assert_eq!(assessments[1]["assessment"]["band"], "critical");
}

async fn search_ruleset_and_matching_answer_every_role(store: Store) {
    let api = Api::new(&store).await;
    let (status, found) = api.get("/v1/search?q=reclutadora%20fictisia", Role::Inspector).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found[0]["entity"]["entity_id"], "DEMO-A-003");
    assert_eq!(found[0]["entity"]["licence_status"], "suspended");
    let (_, found) = api.get("/v1/search?q=empleos&status=sin%20licencia&country=Per%C3%BA", Role::Inspector).await;
    assert_eq!(found[0]["entity"]["entity_id"], "DEMO-A-001", "{found}");
    let (_, found) = api.get("/v1/search?q=oro%20verde&kind=watchlist", Role::Officer).await;
    assert_eq!(found[0]["entity"]["entity_id"], "DEMO-W-001");

    let (status, ruleset) = api.get("/v1/ruleset", Role::Inspector).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ruleset["digest"], Ruleset::bundled().digest());
    assert!(
        ruleset["rules"].as_array().unwrap().iter().all(|rule| !rule["legal_basis"].as_array().unwrap().is_empty())
    );
    let (status, matching) = api.get("/v1/matching", Role::Auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(matching["thresholds"]["possible"], 0.8);
    assert_eq!(matching["indexed_entities"], 6 + 6 + 4);
}
