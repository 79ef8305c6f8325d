//! The HTTP API through the real router, in-process: keys and roles, screening and its
//! audit trail, search, and what the service screens with.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cadena::audit::AuditWorker;
use cadena::demo;
use cadena::http::{AppState, PUBLIC_ROUTES, ROUTES, router};
use cadena::indexer::Indexer;
use cadena::ingest::worker::Worker;
use cadena::matching::index::EntityIndex;
use cadena::matching::{Matcher, Thresholds};
use cadena::rules::Ruleset;
use cadena::screening::ReportRow;
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
    an_admin_upload_loads_and_indexes_a_file,
    metrics_count_requests_and_keys_are_rate_limited,
    the_openapi_document_describes_exactly_the_routes,
    a_batch_audit_runs_to_completion_with_a_row_per_input,
    an_audit_can_be_cancelled_and_a_bad_upload_is_refused,
    two_workers_share_an_audit_without_doing_a_row_twice,
    the_chunk_of_a_dead_worker_is_done_again,
    an_audit_whose_chunks_are_all_done_is_completed,
    the_web_ui_is_served_with_security_headers,
    an_agency_lists_the_suppliers_that_use_it,
    the_screening_cache_is_bounded_by_bytes,
    paging_limits_timeouts_and_audits_that_end_early,
    request_fields_are_read_as_csv_cells,
    a_procurement_file_with_aliased_headers_is_audited_as_procurements,
    an_audit_upload_takes_a_column_map,
    audits_are_listed_newest_first,
    uploads_come_as_multipart_forms_too,
    reports_open_in_excel,
);

/// The demo dataset, an index that follows the store, the router and one key per role.
pub(crate) struct Api {
    pub(crate) app: Router,
    pub(crate) screening: Arc<ScreeningService>,
    pub(crate) indexer: Indexer,
    keys: Vec<(Role, String)>,
    store: Store,
    _dir: tempfile::TempDir,
}

impl Api {
    pub(crate) async fn new(store: &Store) -> Api {
        demo::load_demo(store).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let index = EntityIndex::open_or_create(&dir.path().join("index")).unwrap();
        let indexer = Indexer::new(store.clone(), index).unwrap();
        indexer.catch_up().await.unwrap();
        let matcher = Matcher::new(indexer.index().clone(), Thresholds::default());
        let screening = Arc::new(ScreeningService::new(
            store.clone(),
            Arc::new(matcher),
            Arc::new(Ruleset::bundled()),
            indexer.status(),
        ));
        let mut keys = Vec::new();
        for role in Role::ALL {
            keys.push((role, store.create_key("test", role).await.unwrap().1));
        }
        let app = router(AppState::new(store.clone(), screening.clone()));
        Api { app, screening, indexer, keys, store: store.clone(), _dir: dir }
    }

    /// Does what the background tasks of `cadena serve` do, until there is nothing left:
    /// runs queued loads, lets the index catch up with the store, then runs the
    /// monitoring jobs the loads left.
    pub(crate) async fn run_workers(&self) {
        for report in Worker::new(self.store.clone()).run_until_idle().await.unwrap() {
            report.unwrap();
        }
        self.indexer.catch_up().await.unwrap();
        cadena::monitoring::Monitor::new(self.store.clone(), self.screening.matcher().clone(), 2)
            .run_until_idle()
            .await
            .unwrap();
    }

    pub(crate) fn key(&self, role: Role) -> &str {
        &self.keys.iter().find(|(each, _)| *each == role).unwrap().1
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, bytes) =
            self.call_raw(method, uri, key, body.map(|body| ("application/json", body.to_string().into_bytes()))).await;
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, body)
    }

    pub(crate) async fn call_raw(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header("content-type", content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let response = self.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    pub(crate) async fn upload(&self, name: &str, csv: &str) -> (StatusCode, Value) {
        let key = Some(self.key(Role::Auditor));
        let (status, bytes) = self
            .call_raw("POST", &format!("/v1/audits?name={name}"), key, Some(("text/csv", csv.as_bytes().to_vec())))
            .await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, uri: &str, role: Role) -> (StatusCode, Value) {
        self.call("GET", uri, Some(self.key(role)), None).await
    }
}

pub(crate) fn demo_supplier() -> Value {
    json!({ "supplier": {
        "supplier_id": "S-1", "name": "Minera Ficticia Oro Verde SAC", "tax_id": "20999999990",
        "country": "PE", "agency_ids": ["DEMO-A-001"]
    }})
}

async fn index_and_datasets_describe_what_is_loaded(store: Store) {
    let api = Api::new(&store).await;
    let (status, index) = api.call("GET", "/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["records"]["suppliers"], 6);
    assert_eq!(index["records"]["watchlist"], 6);
    let endpoints: Vec<&str> = index["endpoints"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for public in [
        "GET /",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /ui/",
        "GET /reconcile",
        "GET /reconcile/preview",
        "POST /reconcile",
        "GET /reconcile/suggest/entity",
        "POST /match/{dataset}",
        "POST /v1/screenings",
    ] {
        assert!(endpoints.contains(&public), "GET / does not list {public}: {endpoints:?}");
    }
    assert_eq!(endpoints.len(), ROUTES.len() + PUBLIC_ROUTES.len());

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

/// Who may call each route that needs a key, written out here (not taken from
/// `http::ROUTES`, so that a wrong role constant there fails the test): `O` officer,
/// `I` inspector, `A` auditor, `D` admin.
const ROLE_MATRIX: &[(&str, &str, &str)] = &[
    ("GET", "/v1/datasets", "A D"),
    ("POST", "/v1/datasets", "D"),
    ("GET", "/v1/datasets/{id}", "A D"),
    ("GET", "/v1/datasets/{id}/rejected", "A D"),
    ("GET", "/v1/audits", "A D"),
    ("POST", "/v1/audits", "A D"),
    ("GET", "/v1/audits/{id}", "A D"),
    ("POST", "/v1/audits/{id}/cancel", "A D"),
    ("GET", "/v1/audits/{id}/report", "A D"),
    ("POST", "/v1/screenings", "O A D"),
    ("GET", "/v1/screenings/{id}", "O A D"),
    ("GET", "/v1/screenings/{id}/reproduction", "O A D"),
    ("GET", "/v1/search", "O I A D"),
    ("GET", "/v1/records/{kind}/{id}", "O I A D"),
    ("GET", "/v1/agencies/{id}/suppliers", "O I A D"),
    ("GET", "/v1/ruleset", "O I A D"),
    ("GET", "/v1/matching", "O I A D"),
    ("POST", "/v1/decisions", "O A D"),
    ("GET", "/v1/decisions", "O A D"),
    ("POST", "/v1/decisions/{id}/withdraw", "O A D"),
    ("GET", "/v1/alerts", "O I A D"),
    ("GET", "/v1/alerts/{id}", "O I A D"),
    ("POST", "/v1/alerts/{id}", "O I A D"),
    ("POST", "/match/{dataset}", "O A D"),
    ("POST", "/reconcile", "O I A D"),
    ("GET", "/reconcile/suggest/entity", "O I A D"),
];

/// The roles of a [`ROLE_MATRIX`] entry.
fn matrix_roles(letters: &str) -> Vec<Role> {
    letters
        .split(' ')
        .map(|letter| match letter {
            "O" => Role::Officer,
            "I" => Role::Inspector,
            "A" => Role::Auditor,
            "D" => Role::Admin,
            other => panic!("ROLE_MATRIX: unknown role letter {other:?}"),
        })
        .collect()
}

/// The README's endpoint table says what [`ROLE_MATRIX`] says: each row's endpoints
/// (`` `METHOD /path?query` ``) with the roles it names ("every role", "(no key)", or a
/// list such as "officer, auditor, admin").
#[test]
fn the_readme_role_table_says_what_the_role_matrix_says() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut documented: BTreeMap<(String, String), BTreeSet<&'static str>> = BTreeMap::new();
    for row in readme.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let Some(roles_cell) = cells.get(1) else { continue };
        let roles: BTreeSet<&'static str> = if roles_cell.starts_with("(no key)") {
            BTreeSet::new()
        } else if roles_cell.starts_with("every role") {
            Role::ALL.into_iter().map(Role::as_str).collect()
        } else {
            match roles_cell
                .split(", ")
                .map(|name| Some(Role::parse(name)?.as_str()))
                .collect::<Option<BTreeSet<&'static str>>>()
            {
                Some(roles) => roles,
                None => continue, // another table (the CLI's, the rules')
            }
        };
        for endpoint in cells[0].trim_start_matches("| ").split(", ") {
            let endpoint = endpoint.trim_matches('`');
            let Some((method, path)) = endpoint.split_once(' ') else { continue };
            let path = path.split('?').next().unwrap();
            documented.insert((method.to_owned(), path.to_owned()), roles.clone());
        }
    }
    for (method, path, letters) in ROLE_MATRIX {
        let expected: BTreeSet<&'static str> = matrix_roles(letters).into_iter().map(Role::as_str).collect();
        let found = documented.get(&(method.to_string(), path.to_string()));
        assert_eq!(found, Some(&expected), "the README's endpoint table on {method} {path}");
    }
    for (method, path) in PUBLIC_ROUTES {
        let found = documented.get(&(method.to_string(), path.to_string()));
        assert_eq!(found, Some(&BTreeSet::new()), "the README's endpoint table on {method} {path}: (no key)");
    }
}

async fn every_endpoint_admits_exactly_its_roles(store: Store) {
    let api = Api::new(&store).await;
    let (revoked_key, revoked_secret) = store.create_key("gone", Role::Admin).await.unwrap();
    assert!(store.revoke_key(revoked_key.id).await.unwrap());
    // A completed audit to read and report on.
    let (_, audit) = api.upload("procurements.csv", DEMO_PROCUREMENTS).await;
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let audit_id = audit["id"].as_i64().unwrap().to_string();
    // Alerts to read and close (one for each role that closes one), and a screening to decide on.
    let list = "entity_id,name,country\nX-1,Minera Ficticia Oro Verde SAC,PE\nX-2,Papelera Ejemplo del Norte S.A.,PE\n\
                X-3,Carvoaria Imaginaria do Cerrado,BR\nX-4,Constructora Inventada Andina S.A.C.,PE\n";
    let request = cadena::ingest::LoadRequest {
        kind: cadena::records::RecordKind::Watchlist,
        source: "extra".to_owned(),
        file_name: "extra.csv".to_owned(),
        bytes: list.as_bytes().to_vec(),
    };
    cadena::ingest::load_file(&store, request).await.unwrap();
    api.run_workers().await;
    let (_, screening) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    let decision = json!({ "screening_id": screening["id"], "source": "demo", "entity_id": "DEMO-W-001",
        "decision": "confirmed", "note": "checked" });
    let declared: BTreeSet<(&str, &str)> = ROUTES.iter().map(|(method, path, _)| (*method, *path)).collect();
    let expected: BTreeSet<(&str, &str)> = ROLE_MATRIX.iter().map(|(method, path, _)| (*method, *path)).collect();
    assert_eq!(declared, expected, "every route that needs a key is in ROLE_MATRIX, and only those");
    for (method, path, roles) in ROLE_MATRIX {
        let roles = matrix_roles(roles);
        let uri = path
            .replace("{kind}/{id}", "agencies/DEMO-A-001")
            .replace("{id}", if path.starts_with("/v1/audits/") { &audit_id } else { "1" })
            .replace("{dataset}", "default")
            + match (*method, *path) {
                (_, "/v1/search") => "?q=ficticia",
                (_, "/reconcile/suggest/entity") => "?prefix=ficticia",
                ("POST", "/v1/datasets") => "?kind=licences&name=licences.csv",
                ("POST", "/v1/audits") => "?name=procurements.csv",
                _ => "",
            };
        let body: Option<(&str, Vec<u8>)> = match (*method, *path) {
            ("POST", "/v1/screenings") => Some(("application/json", demo_supplier().to_string().into_bytes())),
            ("POST", "/v1/decisions") => Some(("application/json", decision.to_string().into_bytes())),
            ("POST", "/v1/decisions/{id}/withdraw" | "/v1/alerts/{id}") => {
                Some(("application/json", json!({ "note": "seen" }).to_string().into_bytes()))
            }
            ("POST", "/v1/datasets") => Some(("text/csv", b"licence_number,holder_name\nL-9,Agencia Nueva\n".to_vec())),
            ("POST", "/v1/audits") => Some(("text/csv", DEMO_PROCUREMENTS.as_bytes().to_vec())),
            ("POST", "/match/{dataset}") => Some((
                "application/json",
                json!({ "queries": { "q": { "schema": "Company", "properties": { "name": ["Minera Ficticia"] } } } })
                    .to_string()
                    .into_bytes(),
            )),
            ("POST", "/reconcile") => Some((
                "application/x-www-form-urlencoded",
                b"queries=%7B%22q%22%3A%7B%22query%22%3A%22Minera%22%7D%7D".to_vec(),
            )),
            _ => None,
        };
        for (key, what) in
            [(None, "no key"), (Some("cadena_0000"), "a wrong key"), (Some(revoked_secret.as_str()), "a revoked key")]
        {
            let (status, answer) = api.call_raw(method, &uri, key, body.clone()).await;
            let answer = String::from_utf8_lossy(&answer);
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} with {what}: {answer}");
        }
        for role in Role::ALL {
            let uri = match (*method, *path) {
                // A cancelled audit cannot be cancelled again: each call gets one of its own.
                (_, "/v1/audits/{id}/cancel") => {
                    let (_, fresh) = api.upload("procurements.csv", DEMO_PROCUREMENTS).await;
                    format!("/v1/audits/{}/cancel", fresh["id"])
                }
                // Nor a withdrawn decision withdrawn, nor a closed alert closed.
                (_, "/v1/decisions/{id}/withdraw") => {
                    let admin = Some(api.key(Role::Admin));
                    let (_, fresh) = api.call("POST", "/v1/decisions", admin, Some(decision.clone())).await;
                    format!("/v1/decisions/{}/withdraw", fresh["id"])
                }
                ("POST", "/v1/alerts/{id}") => {
                    let (_, open) = api.get("/v1/alerts?status=open&limit=1", Role::Admin).await;
                    format!("/v1/alerts/{}", open["alerts"][0]["id"])
                }
                _ => uri.clone(),
            };
            let (status, answer) = api.call_raw(method, &uri, Some(api.key(role)), body.clone()).await;
            let answer = String::from_utf8_lossy(&answer);
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
    assert_eq!(screening["dataset_version"], store.store_version().await.unwrap());
    assert_eq!(screening["index_lag"], 0);

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

    // A new load moves the store's version. Until the index has caught up, screenings
    // name the version they really used; then the new one, so the cache cannot serve
    // the old result.
    let request = cadena::ingest::LoadRequest {
        kind: cadena::records::RecordKind::Watchlist,
        source: "later".to_owned(),
        file_name: "later.csv".to_owned(),
        bytes: b"entity_id,name\nL-1,Otra Empresa Listada\n".to_vec(),
    };
    let later_load = cadena::ingest::load_file(&api.store, request).await.unwrap();
    let (_, before) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    assert_eq!(before["dataset_version"], screening["dataset_version"], "the index has not caught up yet");
    api.indexer.catch_up().await.unwrap();
    let (_, later) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    assert_eq!(later["dataset_version"], later_load.dataset.version.unwrap());
    assert_ne!(later["dataset_version"], screening["dataset_version"]);
    let (_, reproduction) = api.get(&format!("/v1/screenings/{id}/reproduction"), Role::Officer).await;
    assert_eq!(reproduction["same_dataset_version"], false);
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

    let (status, records) = api.get("/v1/records/agencies/DEMO-A-003", Role::Inspector).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (records[0]["source"].as_str(), records[0]["record"]["licence_status"].as_str()),
        (Some("demo"), Some("suspended"))
    );
    assert_eq!(api.get("/v1/records/agencies/NOPE", Role::Inspector).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/v1/records/planets/X", Role::Inspector).await.0, StatusCode::BAD_REQUEST);

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

const DEMO_PROCUREMENTS: &str = include_str!("../../demo/procurements.csv");

async fn a_batch_audit_runs_to_completion_with_a_row_per_input(store: Store) {
    let api = Api::new(&store).await;
    let (status, audit) = api.upload("procurements.csv", DEMO_PROCUREMENTS).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    assert_eq!((audit["status"].as_str(), audit["n_rows"].as_i64()), (Some("queued"), Some(5)));
    let id = audit["id"].as_i64().unwrap();
    let (status, early) = api.get(&format!("/v1/audits/{id}/report"), Role::Auditor).await;
    assert_eq!(status, StatusCode::CONFLICT, "no report before it completes: {early}");

    let worker = AuditWorker::new(store.clone(), api.screening.clone(), 2);
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    let (status, progress) = api.get(&format!("/v1/audits/{id}"), Role::Admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(progress["audit"]["status"], "completed", "{progress}");
    assert_eq!((progress["rows_done"].as_i64(), progress["rows_rejected"].as_i64()), (Some(5), Some(0)));

    let (status, csv) =
        api.call_raw("GET", &format!("/v1/audits/{id}/report"), Some(api.key(Role::Auditor)), None).await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "a report row per input row");
    let band = header.iter().position(|column| column == "risk_band").unwrap();
    assert_eq!(&rows[0][band], "critical");
    assert_eq!(&rows[1][band], "low");
    let (status, json) = api.get(&format!("/v1/audits/{id}/report?format=json"), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json.as_array().unwrap().len(), 5);
    assert_eq!(json[0]["input_id"], "DEMO-P-2025-001/1");
    assert_eq!(api.get(&format!("/v1/audits/{id}/report?format=xml"), Role::Auditor).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(api.get("/v1/audits/999", Role::Auditor).await.0, StatusCode::NOT_FOUND);
    // Auditors and administrators only.
    assert_eq!(api.get(&format!("/v1/audits/{id}"), Role::Officer).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.get(&format!("/v1/audits/{id}"), Role::Inspector).await.0, StatusCode::FORBIDDEN);
}

async fn an_audit_can_be_cancelled_and_a_bad_upload_is_refused(store: Store) {
    let api = Api::new(&store).await;
    let (_, audit) = api.upload("procurements.csv", DEMO_PROCUREMENTS).await;
    let id = audit["id"].as_i64().unwrap();
    let (status, cancelled) =
        api.call("POST", &format!("/v1/audits/{id}/cancel"), Some(api.key(Role::Auditor)), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    let worker = AuditWorker::new(store.clone(), api.screening.clone(), 1);
    assert_eq!(worker.run_until_idle().await.unwrap(), 0, "a cancelled audit is not worked on");
    let (status, _) = api.call("POST", &format!("/v1/audits/{id}/cancel"), Some(api.key(Role::Auditor)), None).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, body) = api.upload("nonsense.csv", "colour,size\nred,3\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("nonsense.csv:1: the header lacks"), "{body}");
    let (status, _) = api.call_raw("POST", "/v1/audits", None, Some(("text/csv", b"a".to_vec()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Uploads may be larger than other request bodies.
    let big: String = std::iter::once("supplier_id,name\n".to_owned())
        .chain((0..60_000).map(|i| format!("S-{i:06},Proveedor Ficticio Numero {i} S.A.C.\n")))
        .collect();
    assert!(big.len() > 2 * 1024 * 1024);
    let (status, audit) = api.upload("big.csv", &big).await;
    assert_eq!((status, audit["n_rows"].as_i64()), (StatusCode::ACCEPTED, Some(60_000)), "{audit}");
}

/// A supplier file of `n` rows, half of them demo watchlist names.
pub(crate) fn supplier_file(n: usize) -> String {
    let mut csv = String::from("supplier_id,name,country\n");
    for i in 0..n {
        let name =
            if i % 2 == 0 { "Minera Ficticia Oro Verde SAC".to_owned() } else { format!("Proveedor Numero {i}") };
        csv.push_str(&format!("S-{i:05},{name},PE\n"));
    }
    csv
}

async fn two_workers_share_an_audit_without_doing_a_row_twice(store: Store) {
    let api = Api::new(&store).await;
    let audit =
        cadena::audit::submit(&store, "suppliers.csv", supplier_file(600).into_bytes(), &Default::default(), None, 25)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(audit.n_chunks, 24);
    let first = AuditWorker::new(store.clone(), api.screening.clone(), 1);
    let second = AuditWorker::new(store.clone(), api.screening.clone(), 1);
    let (done_first, done_second) = tokio::join!(first.run_until_idle(), second.run_until_idle());
    let (done_first, done_second) = (done_first.unwrap(), done_second.unwrap());
    assert_eq!(done_first + done_second, 24, "every chunk done once");
    let progress = store.audit_progress(audit.id).await.unwrap().unwrap();
    assert_eq!((progress.audit.status.as_str(), progress.rows_done), ("completed", 600));
    let rows: Vec<ReportRow> =
        store.audit_rows(audit.id).await.unwrap().iter().map(|text| serde_json::from_str(text).unwrap()).collect();
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|row| row.input_id.as_str()).collect();
    assert_eq!(ids.len(), 600, "no row twice, none missed");
    assert_eq!(rows[0].match_entity_id, "DEMO-W-001");
    assert_eq!(rows[1].match_strength, "none");
}

/// A chunk another worker holds is left to it while its lease runs, and taken over once
/// the lease has expired; the worker that lost it cannot then write its rows.
async fn the_chunk_of_a_dead_worker_is_done_again(store: Store) {
    let api = Api::new(&store).await;
    let audit =
        cadena::audit::submit(&store, "suppliers.csv", supplier_file(40).into_bytes(), &Default::default(), None, 20)
            .await
            .unwrap()
            .unwrap();
    // Another worker (another handle on the store: another process, as far as leases go)
    // claims the first chunk.
    let other = store.with_new_worker_id();
    let claimed = other.claim_audit_chunk().await.unwrap().unwrap();
    let worker = AuditWorker::new(store.clone(), api.screening.clone(), 1);
    assert_eq!(worker.run_until_idle().await.unwrap(), 1, "only the free chunk while the lease runs");
    assert_eq!(store.audit_progress(audit.id).await.unwrap().unwrap().audit.status, "running");

    // The other worker dies: its lease runs out, and the chunk is done again.
    sqlx::query("UPDATE audit_chunks SET lease_until = '2000-01-01T00:00:00.000Z' WHERE audit_id = $1 AND chunk = $2")
        .bind(claimed.audit_id)
        .bind(claimed.chunk)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(worker.run_until_idle().await.unwrap(), 1, "the dead worker's chunk");
    let progress = store.audit_progress(audit.id).await.unwrap().unwrap();
    assert_eq!((progress.audit.status.as_str(), progress.rows_done), ("completed", 40));
    let version = store.store_version().await.unwrap();
    assert_eq!(progress.screened_with.len(), 1);
    assert_eq!((progress.screened_with[0].dataset_version, progress.screened_with[0].n_chunks), (version, 2));
    assert_eq!(progress.screened_with[0].ruleset_digest, Ruleset::bundled().digest());

    // Had it only paused, what it finishes now is refused: the chunk is no longer its own.
    let rows = [cadena::store::audits::AuditRow { row_index: 0, has_error: false, band: None, report: "{}".into() }];
    assert!(!other.finish_audit_chunk(claimed, &rows, (version, "digest")).await.unwrap());
    assert_eq!(store.audit_progress(audit.id).await.unwrap().unwrap().rows_done, 40);
}

/// An upload is kept in the store and queued (202); the worker loads it and the indexer
/// takes it in.
async fn an_admin_upload_loads_and_indexes_a_file(store: Store) {
    let api = Api::new(&store).await;
    let csv = "agency_id,name,country,licence_status\nA-9,Agencia Nueva de Reclutamiento SAC,PE,vigente\nA-10,,PE,\n";
    let uri = "/v1/datasets?kind=agencies&source=ministerio&name=agencias.csv";
    let admin = Some(api.key(Role::Admin));
    let (status, body) = api.call_raw("POST", uri, admin, Some(("text/csv", csv.as_bytes().to_vec()))).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!((body["status"].as_str(), body["file_name"].as_str()), (Some("queued"), Some("agencias.csv")));
    let id = body["id"].as_i64().unwrap();
    let (_, found) = api.get("/v1/search?q=agencia%20nueva", Role::Inspector).await;
    assert_ne!(found[0]["entity"]["entity_id"], "A-9", "not loaded before the worker runs it");

    api.run_workers().await;
    let (status, dataset) = api.get(&format!("/v1/datasets/{id}"), Role::Admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dataset["status"], "completed");
    assert_eq!((dataset["n_inserted"].as_i64(), dataset["n_rejected"].as_i64()), (Some(1), Some(1)));
    assert_eq!(dataset["version"], store.store_version().await.unwrap());
    let (_, rejected) = api.get(&format!("/v1/datasets/{id}/rejected"), Role::Admin).await;
    assert_eq!((rejected[0]["line"].as_i64(), rejected[0]["field"].as_str()), (Some(3), Some("name")));
    let (_, found) = api.get("/v1/search?q=agencia%20nueva", Role::Inspector).await;
    assert_eq!(found[0]["entity"]["entity_id"], "A-9", "searchable once the index caught up");

    let (status, _) = api.call_raw("POST", "/v1/datasets?kind=planets", admin, Some(("text/csv", b"x".to_vec()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api.call_raw("POST", "/v1/datasets", admin, Some(("text/csv", b"x".to_vec()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
    let uri = "/v1/datasets?kind=suppliers&name=x.csv";
    let (status, body) = api.call_raw("POST", uri, admin, Some(("text/csv", b"colour\nred\n".to_vec()))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("x.csv:1: the header lacks"));
}

async fn metrics_count_requests_and_keys_are_rate_limited(store: Store) {
    let api = Api::new(&store).await;
    api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(demo_supplier())).await;
    let (status, text) = api.call_raw("GET", "/metrics", None, None).await;
    let text = String::from_utf8(text).unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("cadena_http_requests_total{method=\"POST\",route=\"/v1/screenings\",status=\"201\"} 2"),
        "{text}"
    );
    assert!(text.contains("cadena_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/screenings\"} 2"));
    assert!(text.contains("cadena_screening_cache_requests_total{result=\"hit\"} 1"), "{text}");
    assert!(text.contains("cadena_screening_cache_requests_total{result=\"miss\"} 1"));

    // A key that spends its burst gets 429 with Retry-After; other keys are not affected.
    let limited = router(AppState::with_rate_limit(store.clone(), api.screening.clone(), 0.5, 3.0));
    let call = |key: String| {
        let limited = limited.clone();
        async move {
            let request = Request::get("/v1/matching").header("authorization", format!("Bearer {key}"));
            limited.oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
        }
    };
    let officer = api.key(Role::Officer).to_owned();
    for _ in 0..3 {
        assert_eq!(call(officer.clone()).await.status(), StatusCode::OK);
    }
    let refused = call(officer.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(call(api.key(Role::Inspector).to_owned()).await.status(), StatusCode::OK);
}

/// Child processes, killed when dropped (also when a test fails).
pub(crate) struct Processes(pub(crate) Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Two `cadena serve` processes on one PostgreSQL database share one batch audit: every
/// row is reported once, and both did some of it.
#[tokio::test]
async fn two_serve_processes_share_a_batch_audit() {
    let Some(db) = crate::harness::TestDb::postgres().await else { return };
    let store = db.store.clone();
    demo::load_demo(&store).await.unwrap();
    let n_rows = 2000;
    let audit = cadena::audit::submit(
        &store,
        "suppliers.csv",
        supplier_file(n_rows).into_bytes(),
        &Default::default(),
        None,
        20,
    )
    .await
    .unwrap()
    .unwrap();
    let url = db.postgres_url().unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let _servers = Processes(
        dirs.iter()
            .map(|dir| {
                std::process::Command::new(env!("CARGO_BIN_EXE_cadena"))
                    .args(["serve", "--bind", "127.0.0.1:0"])
                    .env("CADENA_DATABASE_URL", &url)
                    .env("CADENA_DATA_DIR", dir.path())
                    .env("CADENA_LOG", "warn")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("start cadena serve")
            })
            .collect(),
    );
    let started = std::time::Instant::now();
    loop {
        let progress = store.audit_progress(audit.id).await.unwrap().unwrap();
        if progress.audit.status == "completed" {
            break;
        }
        assert!(started.elapsed().as_secs() < 90, "the audit did not complete: {progress:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let rows: Vec<ReportRow> =
        store.audit_rows(audit.id).await.unwrap().iter().map(|text| serde_json::from_str(text).unwrap()).collect();
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|row| row.input_id.as_str()).collect();
    assert_eq!((rows.len(), ids.len()), (n_rows, n_rows), "every row once");
    let workers: Vec<String> = sqlx::query_scalar("SELECT DISTINCT worker FROM audit_chunks WHERE audit_id = $1")
        .bind(audit.id)
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(workers.len(), 2, "both processes worked on the audit: {workers:?}");
}

async fn the_openapi_document_describes_exactly_the_routes(store: Store) {
    let api = Api::new(&store).await;
    let (status, document) = api.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented: Vec<String> = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut routes: Vec<String> = ROUTES.iter().map(|(method, path, _)| format!("{method} {path}")).collect();
    routes.extend(
        PUBLIC_ROUTES.iter().filter(|(_, path)| *path != "/ui/").map(|(method, path)| format!("{method} {path}")),
    );
    routes.sort();
    assert_eq!(documented, routes);
    // What a client generator needs: a licence name, unique operation ids, and a
    // description for every response; every error answer has the JSON error body.
    assert!(!document["info"]["license"]["name"].as_str().unwrap().is_empty());
    let mut operation_ids = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            operation_ids.push(operation["operationId"].as_str().unwrap().to_owned());
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                let description = response["description"].as_str().unwrap_or_default();
                assert!(!description.is_empty(), "{method} {path} {status} has no description");
                if status.starts_with('4') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            let needs_key = operation.get("security").is_some();
            for status in ["408"].iter().chain(if needs_key { &["401", "403", "429"][..] } else { &[][..] }) {
                assert!(responses.contains_key(*status), "{method} {path} does not list {status}");
            }
            if operation.get("requestBody").is_some() {
                assert!(responses.contains_key("413"), "{method} {path} does not list 413");
            }
        }
    }
    let n_operations = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), n_operations, "operation ids repeat: {operation_ids:?}");
    // Derived fields are not asked for, and a name-only screening needs no supplier id.
    let supplier = &document["components"]["schemas"]["Supplier"];
    for derived in ["tax_id_key", "region_code"] {
        assert!(supplier["properties"].get(derived).is_none(), "{derived} is in the request schema");
    }
    assert_eq!(supplier["required"], json!(["name"]));
    assert_eq!(supplier["properties"]["name"]["minLength"], 1);
    let line = &document["components"]["schemas"]["ProcurementLine"];
    for derived in ["supplier_tax_id_key", "origin_region_code"] {
        assert!(line["properties"].get(derived).is_none(), "{derived} is in the request schema");
    }
    let officer = Some(api.key(Role::Officer));
    let name_only =
        json!({ "supplier": { "name": "Minera Ficticia Oro Verde SAC", "region": "Madre de Dios", "country": "PE" } });
    let (status, screening) = api.call("POST", "/v1/screenings", officer, Some(name_only)).await;
    assert_eq!(status, StatusCode::CREATED, "{screening}");
    assert_eq!(screening["input"]["supplier"]["region_code"], "PE-MDD", "derived fields are derived");
    // Paging parameters say their ranges, and the server keeps to them.
    let rejected = &document["paths"]["/v1/datasets/{id}/rejected"]["get"]["parameters"];
    let parameter =
        |name: &str| rejected.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["schema"].clone();
    assert_eq!((parameter("offset")["minimum"].clone(), parameter("limit")["minimum"].clone()), (json!(0), json!(1)));
    assert_eq!(parameter("limit")["maximum"], 1000);
    let (status, body) = api.get("/v1/datasets/1/rejected?offset=-1", Role::Auditor).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("offset must not be negative, not -1")));
    let (status, body) = api.get("/v1/datasets/x/rejected", Role::Auditor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string(), "a bad path parameter gets the JSON error body: {body}");
    // Every documented route answers (not 404 or 405) through the real router.
    for route in &routes {
        let (method, path) = route.split_once(' ').unwrap();
        let (status, _) =
            api.call_raw(method, &path.replace("{kind}", "agencies").replace("{id}", "1"), None, None).await;
        assert!(status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED, "{route}: {status}");
    }
    assert!(document["components"]["schemas"]["ScreeningRequest"].is_object());
    assert!(document["components"]["securitySchemes"]["api_key"].is_object());
}

/// Two workers finishing the last two chunks at once each see the other's as not done;
/// the audit must still complete (the race once left a finished audit `running`).
async fn an_audit_whose_chunks_are_all_done_is_completed(store: Store) {
    let api = Api::new(&store).await;
    let audit =
        cadena::audit::submit(&store, "suppliers.csv", supplier_file(10).into_bytes(), &Default::default(), None, 5)
            .await
            .unwrap()
            .unwrap();
    sqlx::query("UPDATE audit_chunks SET status = 'done' WHERE audit_id = $1")
        .bind(audit.id)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audits SET status = 'running' WHERE id = $1")
        .bind(audit.id)
        .execute(store.pool())
        .await
        .unwrap();
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    assert_eq!(store.get_audit(audit.id).await.unwrap().unwrap().status, "completed");
}

/// The UI's pages and assets come from the binary with a strict content security policy;
/// a browser asking for `/` is sent to them, an API client still gets the JSON.
async fn the_web_ui_is_served_with_security_headers(store: Store) {
    let api = Api::new(&store).await;
    let get = |uri: &str, accept: &str| {
        let request = Request::builder().uri(uri).header("accept", accept).body(Body::empty()).unwrap();
        api.app.clone().oneshot(request)
    };
    let response = get("/", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8").await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/ui/");
    let response = get("/", "application/json").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");

    for (uri, content_type) in [
        ("/ui/", "text/html; charset=utf-8"),
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/i18n.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
    ] {
        let response = get(uri, "*/*").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{uri}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.split("; ").any(|each| each == directive), "{uri}: {directive} in {policy}");
        }
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{uri}");
        assert_eq!(headers["x-frame-options"], "DENY", "{uri}");
    }
    let response = get("/ui/nothing.js", "*/*").await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["x-frame-options"], "DENY");

    // The JSON API and everything else carry them too: its answers load nothing and
    // cannot be framed, whatever their status.
    for (uri, status) in [
        ("/", StatusCode::OK),
        ("/healthz", StatusCode::OK),
        ("/v1/matching", StatusCode::UNAUTHORIZED),
        ("/v1/nothing", StatusCode::NOT_FOUND),
        ("/openapi.json", StatusCode::OK),
    ] {
        let response = get(uri, "application/json").await.unwrap();
        assert_eq!(response.status(), status, "{uri}");
        let headers = response.headers();
        assert_eq!(
            headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
            "{uri}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{uri}");
        assert_eq!(headers["x-frame-options"], "DENY", "{uri}");
    }

    // The page loads no script inline and nothing from elsewhere.
    let (_, page) = api.call_raw("GET", "/ui/", None, None).await;
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(r#"<script type="module" src="app.js"></script>"#));
    assert_eq!(page.matches("<script").count(), 1);
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains(" style="));
    // No script writes markup: data reaches the page as text.
    for script in ["/ui/app.js", "/ui/i18n.js"] {
        let (_, text) = api.call_raw("GET", script, None, None).await;
        let text = String::from_utf8(text).unwrap();
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
            assert!(!text.contains(sink), "{script} uses {sink}");
        }
    }
}

/// `GET /v1/agencies/{id}/suppliers` names the suppliers that recruit through the agency,
/// and only those (an id that is a prefix of another, or holds LIKE wildcards, is exact).
async fn an_agency_lists_the_suppliers_that_use_it(store: Store) {
    let api = Api::new(&store).await;
    let (status, found) = api.get("/v1/agencies/DEMO-A-003/suppliers", Role::Officer).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        found.as_array().unwrap().iter().map(|each| each["record"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Constructora Inventada Andina S.A.C."]);
    assert_eq!(found[0]["source"], "demo");
    for id in ["DEMO-A-00", "DEMO-A-00_", "DEMO-A-%25", "%25", "nobody"] {
        let (status, found) = api.get(&format!("/v1/agencies/{id}/suppliers"), Role::Officer).await;
        assert_eq!((status, found), (StatusCode::OK, json!([])), "{id}");
    }
    let (status, _) = api.call("GET", "/v1/agencies/DEMO-A-003/suppliers", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The screening cache holds results up to a size in bytes, however many there are.
async fn the_screening_cache_is_bounded_by_bytes(store: Store) {
    let api = Api::new(&store).await;
    let budget = 40_000;
    let service = ScreeningService::new(
        store.clone(),
        api.screening.matcher().clone(),
        api.screening.ruleset().clone(),
        api.indexer.status(),
    )
    .with_cache_bytes(budget);
    let mut result_bytes = 0;
    for i in 0..60 {
        let request: cadena::service::ScreeningRequest = serde_json::from_value(json!({ "supplier": {
            "supplier_id": format!("S-{i}"), "name": format!("Minera Ficticia Oro Verde {i} SAC"), "country": "PE"
        }}))
        .unwrap();
        let stored = service.screen(&request, None).await.unwrap();
        result_bytes += stored.result.to_string().len() as u64;
    }
    assert!(result_bytes > 3 * budget, "the results ({result_bytes} bytes) would not fit");
    let (held, entries) = (service.cache_bytes(), service.cache_entries());
    assert!(held <= budget, "the cache holds {held} bytes, over its budget of {budget}");
    assert!(entries > 0 && entries < 60, "{entries} entries");
    assert_eq!(service.cache_stats(), (0, 60), "every request was new");
}

/// The statuses users meet beyond the happy path: paging through rejected rows and a
/// missing load, a body over the limit (413), a request over the time limit (408), an
/// audit cancelled while it runs, an audit that fails, and records of every kind.
async fn paging_limits_timeouts_and_audits_that_end_early(store: Store) {
    let api = Api::new(&store).await;
    let admin = Some(api.key(Role::Admin));

    // Rejected rows, a page at a time, in file order.
    let csv = "supplier_id,name\nS-1,\nS-2,\nS-3,\nS-4,\nS-5,\nS-6,Bueno SAC\n";
    let (status, queued) =
        api.call_raw("POST", "/v1/datasets?kind=suppliers&name=s.csv", admin, Some(("text/csv", csv.into()))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = serde_json::from_slice::<Value>(&queued).unwrap()["id"].as_i64().unwrap();
    api.run_workers().await;
    let lines =
        |page: &Value| page.as_array().unwrap().iter().map(|row| row["line"].as_i64().unwrap()).collect::<Vec<_>>();
    let (_, first) = api.get(&format!("/v1/datasets/{id}/rejected?limit=2"), Role::Auditor).await;
    let (_, second) = api.get(&format!("/v1/datasets/{id}/rejected?limit=2&offset=2"), Role::Auditor).await;
    let (_, last) = api.get(&format!("/v1/datasets/{id}/rejected?limit=2&offset=4"), Role::Auditor).await;
    assert_eq!((lines(&first), lines(&second), lines(&last)), (vec![2, 3], vec![4, 5], vec![6]));
    let (status, _) = api.get(&format!("/v1/datasets/{id}/rejected?offset=10"), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.get("/v1/datasets/999999/rejected", Role::Auditor).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().unwrap().contains("999999"), "{body}");
    for bad in ["limit=0", "limit=1001", "offset=-1", "limit=many"] {
        let (status, body) = api.get(&format!("/v1/datasets/{id}/rejected?{bad}"), Role::Auditor).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // A screening body over 2 MiB.
    let huge = format!(r#"{{"supplier": {{"name": "{}"}}}}"#, "x".repeat(3 * 1024 * 1024));
    let (status, _) = api
        .call_raw("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(("application/json", huge.into())))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // A request that takes longer than the limit: a new key's first use pays for Argon2id.
    let (_, fresh_key) = store.create_key("slow", Role::Officer).await.unwrap();
    let impatient = router(
        AppState::new(store.clone(), api.screening.clone()).with_request_timeout(std::time::Duration::from_millis(2)),
    );
    let request = Request::post("/v1/screenings")
        .header("authorization", format!("Bearer {fresh_key}"))
        .header("content-type", "application/json")
        .body(Body::from(demo_supplier().to_string()))
        .unwrap();
    let response = impatient.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");

    // An audit cancelled while a worker holds one of its chunks: the rest is never done.
    let audit =
        cadena::audit::submit(&store, "suppliers.csv", supplier_file(40).into_bytes(), &Default::default(), None, 10)
            .await
            .unwrap()
            .unwrap();
    let claimed = store.claim_audit_chunk().await.unwrap().unwrap();
    assert_eq!(store.get_audit(audit.id).await.unwrap().unwrap().status, "running");
    let (status, cancelled) =
        api.call("POST", &format!("/v1/audits/{}/cancel", audit.id), Some(api.key(Role::Auditor)), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_eq!(AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap(), 0);
    store.release_audit_chunk(claimed).await.unwrap();
    let (_, progress) = api.get(&format!("/v1/audits/{}", audit.id), Role::Auditor).await;
    assert_eq!((progress["audit"]["status"].as_str(), progress["rows_done"].as_i64()), (Some("cancelled"), Some(0)));
    let (status, body) = api.get(&format!("/v1/audits/{}/report", audit.id), Role::Auditor).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("cancelled"), "{body}");

    // An audit whose stored file a worker cannot read any more fails, saying why.
    let audit =
        cadena::audit::submit(&store, "suppliers.csv", supplier_file(10).into_bytes(), &Default::default(), None, 10)
            .await
            .unwrap()
            .unwrap();
    sqlx::query("UPDATE audits SET content = 'colour,size' WHERE id = $1")
        .bind(audit.id)
        .execute(store.pool())
        .await
        .unwrap();
    let _ = AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await;
    let (_, progress) = api.get(&format!("/v1/audits/{}", audit.id), Role::Auditor).await;
    assert_eq!(progress["audit"]["status"], "failed", "{progress}");
    assert!(progress["audit"]["error"].as_str().is_some_and(|error| !error.is_empty()), "{progress}");
    let (status, _) = api.get(&format!("/v1/audits/{}/report", audit.id), Role::Auditor).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Records of every kind, from every source; an unknown kind or id says so.
    for (kind, id, name) in [
        ("watchlist", "DEMO-W-001", "Minera Ficticia Oro Verde S.A.C."),
        ("suppliers", "DEMO-S-002", "Papelera Ejemplo del Norte S.A."),
        ("licences", "DEMO-LIC-0077", "Reclutadora Ficticia del Sur S.R.L."),
    ] {
        let (status, found) = api.get(&format!("/v1/records/{kind}/{id}"), Role::Inspector).await;
        assert_eq!(status, StatusCode::OK, "{kind} {id}: {found}");
        let record = &found[0]["record"];
        assert_eq!(record["name"].as_str().or(record["holder_name"].as_str()), Some(name), "{found}");
        assert_eq!(found[0]["source"], "demo");
    }
    let (status, _) = api.get("/v1/records/procurements/DEMO-P-2025-001", Role::Inspector).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.get("/v1/records/planets/x", Role::Inspector).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.get("/v1/records/watchlist/NOBODY", Role::Inspector).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A country, date or number in a request is read as its CSV cell: `Brasil` is `BR`,
/// `Perú` is `PE`, and what is no country is a 400 naming the field and the value.
async fn request_fields_are_read_as_csv_cells(store: Store) {
    let api = Api::new(&store).await;
    let officer = Some(api.key(Role::Officer));
    let screen = |supplier: Value| {
        let api = &api;
        async move {
            let (status, screening) =
                api.call("POST", "/v1/screenings", officer, Some(json!({ "supplier": supplier }))).await;
            assert_eq!(status, StatusCode::CREATED, "{screening}");
            screening["result"].clone()
        }
    };
    let by_code = screen(json!({ "name": "Carvoaria Imaginaria", "country": "BR" })).await;
    assert_eq!(by_code["matches"][0]["entity"]["entity_id"], "DEMO-W-002", "{by_code}");
    assert_eq!(by_code["assessments"][0]["assessment"]["band"], "high");
    for country in ["Brasil", "brazil", "BRA", "br"] {
        let by_name = screen(json!({ "name": "Carvoaria Imaginaria", "country": country })).await;
        assert_eq!(by_name, by_code, "{country}");
    }

    let fired = |result: &Value| -> Vec<String> {
        let fired = result["assessments"][0]["assessment"]["fired"].as_array().unwrap();
        fired.iter().map(|rule| rule["id"].as_str().unwrap().to_owned()).collect()
    };
    let peru = screen(json!({ "name": "Ferretería Ñandú", "country": "PE" })).await;
    assert!(fired(&peru).contains(&"country.high_prevalence".to_owned()), "{peru}");
    for country in ["Perú", "PER", "pe", " Peru "] {
        let by_name = screen(json!({ "name": "Ferretería Ñandú", "country": country })).await;
        assert_eq!(
            by_name["assessments"][0]["assessment"]["score"], peru["assessments"][0]["assessment"]["score"],
            "{country}"
        );
        assert_eq!(by_name, peru, "{country}");
    }
    // Numbers, yes/no and dates as a spreadsheet writes them.
    let line = json!({ "procurement_id": "P-1", "line_id": "1", "origin_country": "Perú",
        "origin_region": "Madre de Dios", "item_description": "Lingotes de oro", "value": "1.234,50",
        "award_date": "09/03/2025" });
    let (status, screening) = api.call("POST", "/v1/screenings", officer, Some(json!({ "lines": [line] }))).await;
    assert_eq!(status, StatusCode::CREATED, "{screening}");
    let input = &screening["input"]["lines"][0];
    assert_eq!((&input["origin_country"], &input["origin_region_code"]), (&json!("PE"), &json!("PE-MDD")));
    assert_eq!((&input["value"], &input["award_date"]), (&json!(1234.5), &json!("2025-03-09")));

    let (status, body) = api
        .call("POST", "/v1/screenings", officer, Some(json!({ "supplier": { "name": "X", "country": "Narnia" } })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["fields"],
        json!([{ "field": "supplier.country", "value": "Narnia",
        "reason": "\"Narnia\" is not an ISO 3166-1 country (use a code such as PE or PER)" }])
    );
    assert!(body["error"].as_str().unwrap().starts_with("supplier.country: \"Narnia\""), "{body}");
    let bad_line =
        json!({ "lines": [{ "procurement_id": "P", "line_id": "1", "award_date": "ayer", "value": "mucho" }] });
    let (status, body) = api.call("POST", "/v1/screenings", officer, Some(bad_line)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut named: Vec<&str> =
        body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    named.sort_unstable();
    assert_eq!(named, vec!["lines[0].award_date", "lines[0].value"], "{body}");
}

/// A screening's and the ruleset's texts come in the language asked for: `?lang=`, else
/// `Accept-Language`, else English; a language cadena does not speak is a 400. The
/// stored screening keeps its language, so reproducing it gives the same texts.
#[tokio::test]
async fn texts_come_in_the_language_the_request_asks_for() {
    let db = crate::harness::TestDb::sqlite().await;
    let api = Api::new(&db.store).await;
    let key = api.key(Role::Officer).to_owned();
    let body = json!({ "supplier": { "name": "Carvoaria Imaginaria", "country": "BR" } });
    let screen = |uri: &'static str, accept_language: Option<&'static str>| {
        let (api, key, body) = (&api, key.clone(), body.clone());
        async move {
            let mut request = Request::builder()
                .method("POST")
                .uri(uri)
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json");
            if let Some(languages) = accept_language {
                request = request.header("accept-language", languages);
            }
            let response = api.app.clone().oneshot(request.body(Body::from(body.to_string())).unwrap()).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let texts = |stored: &Value| -> (String, String, String) {
        let assessment = &stored["result"]["assessments"][0]["assessment"];
        let rule = assessment["fired"].as_array().unwrap().iter().find(|rule| rule["id"] == "watchlist.possible_match");
        let rule = rule.unwrap_or_else(|| panic!("no possible match fired: {assessment}"));
        let lang = assessment["lang"].as_str().unwrap().to_owned();
        (lang, rule["title"].as_str().unwrap().to_owned(), rule["evidence"][0]["text"].as_str().unwrap().to_owned())
    };

    let (status, english) = screen("/v1/screenings", None).await;
    assert_eq!(status, StatusCode::CREATED, "{english}");
    let (lang, title, evidence) = texts(&english);
    assert_eq!((lang.as_str(), title.as_str()), ("en", "Supplier possibly matches a watchlist entry"));
    assert!(evidence.starts_with("Possible match with “"), "{evidence}");

    let (status, spanish) = screen("/v1/screenings?lang=es", Some("pt-BR, en;q=0.5")).await;
    assert_eq!(status, StatusCode::CREATED, "{spanish}");
    let (lang, title, evidence) = texts(&spanish);
    assert_eq!(lang, "es", "?lang= wins over Accept-Language");
    assert_eq!(title, "El proveedor posiblemente coincide con una entrada de una lista de vigilancia");
    assert!(evidence.starts_with("Coincidencia posible con «"), "{evidence}");
    assert_eq!(spanish["input"]["lang"], "es", "the stored input keeps its language");

    let (status, portuguese) = screen("/v1/screenings", Some("fr-FR, pt-BR;q=0.9, es;q=0.8")).await;
    assert_eq!(status, StatusCode::CREATED, "{portuguese}");
    let (lang, title, _) = texts(&portuguese);
    assert_eq!(
        (lang.as_str(), title.as_str()),
        ("pt", "O fornecedor possivelmente corresponde a uma entrada de uma lista de vigilância")
    );
    assert_eq!(
        english["result"]["assessments"][0]["assessment"]["score"],
        portuguese["result"]["assessments"][0]["assessment"]["score"],
        "the language changes the words, not the score"
    );

    let (status, _) = screen("/v1/screenings?lang=", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty lang names no language");
    let (status, body) = screen("/v1/screenings?lang=fr", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("\"fr\" is not a language cadena speaks (es, pt, en)"), "{body}");

    let id = spanish["id"].as_i64().unwrap();
    let (status, reproduction) = api.call("GET", &format!("/v1/screenings/{id}/reproduction"), Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{reproduction}");
    assert_eq!(reproduction["identical"], true, "{reproduction}");

    let (status, ruleset) = api.call("GET", "/v1/ruleset?lang=pt", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{ruleset}");
    assert_eq!(ruleset["lang"], "pt");
    let rule =
        ruleset["rules"].as_array().unwrap().iter().find(|rule| rule["id"] == "country.high_prevalence").unwrap();
    assert!(rule["data_gap"].as_str().unwrap().starts_with("Em que país"), "{rule}");
}

/// A procurement export whose header names the columns its own way (`Procurement ID`,
/// `Item`, `País de origen`) is audited as procurement lines, as a load would read it,
/// and a row that cannot be read keeps its id in the report.
async fn a_procurement_file_with_aliased_headers_is_audited_as_procurements(store: Store) {
    let api = Api::new(&store).await;
    let csv = "Procurement ID;Item;Proveedor;Descripción;País de origen;Región de origen\n\
               P-9;1;Minera Ficticia Oro Verde SAC;Lingotes de oro;Perú;Madre de Dios\n\
               P-9;2;Ferretería Ñandú;Clavos;Narnia;\n";
    let (status, audit) = api.upload("compras.csv", csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let id = audit["id"].as_i64().unwrap();
    let (status, rows) = api.get(&format!("/v1/audits/{id}/report?format=json"), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows[0]["input_id"], "P-9/1", "{rows}");
    assert_eq!(rows[0]["input_name"], "Minera Ficticia Oro Verde SAC");
    assert!(rows[0]["rules_fired"].as_str().unwrap().contains("product.ilab_forced_labour"), "{rows}");
    assert_eq!(rows[1]["input_id"], "P-9/2", "a rejected row keeps its id: {rows}");
    assert_eq!(rows[1]["input_name"], "Ferretería Ñandú");
    let error = rows[1]["error"].as_str().unwrap();
    assert!(error.starts_with("compras.csv:3: origin_country: \"Narnia\""), "{error}");
    assert_eq!(
        (&rows[1]["rejected"][0]["line"], &rows[1]["rejected"][0]["field"]),
        (&json!(3), &json!("origin_country"))
    );
    assert!(rows[0].get("rejected").is_none(), "a screened row has no rejected problems: {}", rows[0]);
    // The rows that could not be read, alone (what the web UI lists), with line, field and reason.
    let (status, rejected) = api.get(&format!("/v1/audits/{id}/report?format=json&rows=rejected"), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected.as_array().unwrap().len(), 1, "{rejected}");
    assert_eq!((&rejected[0]["row"], &rejected[0]["input_id"]), (&json!(3), &json!("P-9/2")));
    let problem = &rejected[0]["rejected"][0];
    assert_eq!((&problem["line"], &problem["field"]), (&json!(3), &json!("origin_country")), "{rejected}");
    assert!(problem["reason"].as_str().unwrap().contains("Narnia"), "{problem}");
    let (status, _) = api.get(&format!("/v1/audits/{id}/report?format=json&rows=some"), Role::Auditor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(rows[0]["match_explanation"].as_str().unwrap().contains(" matched "), "English by default: {rows}");
    // The report's texts in the language the upload asks for; one cadena does not speak is a 400.
    let key = Some(api.key(Role::Auditor));
    let body = Some(("text/csv", csv.as_bytes().to_vec()));
    let (status, bytes) = api.call_raw("POST", "/v1/audits?name=compras.csv&lang=es", key, body.clone()).await;
    let audit: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status, &audit["lang"]), (StatusCode::ACCEPTED, &json!("es")), "{audit}");
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let uri = format!("/v1/audits/{}/report?format=json", audit["id"]);
    let (_, spanish) = api.get(&uri, Role::Auditor).await;
    let explanation = spanish[0]["match_explanation"].as_str().unwrap();
    assert!(explanation.starts_with("\"Minera Ficticia Oro Verde SAC\" coincide con"), "{explanation}");
    let (status, _) = api.call_raw("POST", "/v1/audits?name=compras.csv&lang=xx", key, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // `ocid` is the procurement id too.
    let (status, audit) = api.upload("ocds.csv", "ocid,line_id,supplier_name\nocds-1,1,Ferretería Ñandú\n").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let id = audit["id"].as_i64().unwrap();
    let (_, rows) = api.get(&format!("/v1/audits/{id}/report?format=json"), Role::Auditor).await;
    assert_eq!((&rows[0]["input_id"], &rows[0]["error"]), (&json!("ocds-1/1"), &json!("")), "{rows}");
}

/// An audit upload takes a column map as `cadena screen --map` does (`map=COLUMN=FIELD;…`,
/// here a query parameter; `uploads_come_as_multipart_forms_too` gives it as a form
/// field), and its chunks are read with it.
async fn an_audit_upload_takes_a_column_map(store: Store) {
    let api = Api::new(&store).await;
    let csv = "ocid,Pos,Proveedor,Descripción,País de origen\n\
               ocds-1,1,Minera Ficticia Oro Verde SAC,Lingotes de oro,Perú\n\
               ocds-1,2,Ferretería Ñandú,Clavos,PE\n";
    let (status, body) = api.upload("compras.csv", csv).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a procurement file without its line column is refused: {body}");
    assert!(body["error"].as_str().unwrap().contains("line_id"), "{body}");
    // `upload` puts the name in the query: the map follows it, percent-encoded.
    let (status, body) = api.upload("compras.csv&map=Pos%3Dcolour", csv).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("--map: \"colour\" is not a procurements field"), "{body}");
    let (status, audit) = api.upload("compras.csv&map=Pos%3Dline_id", csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    assert_eq!((&audit["n_rows"], &audit["column_map"]), (&json!(2), &json!(["Pos=line_id"])), "{audit}");
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let id = audit["id"].as_i64().unwrap();
    let (status, rows) = api.get(&format!("/v1/audits/{id}/report?format=json"), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|row| row["input_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["ocds-1/1", "ocds-1/2"], "{rows}");
    assert!(rows[0]["rules_fired"].as_str().unwrap().contains("product.ilab_forced_labour"), "{rows}");
}

async fn audits_are_listed_newest_first(store: Store) {
    let api = Api::new(&store).await;
    let (status, empty) = api.get("/v1/audits", Role::Auditor).await;
    assert_eq!((status, empty), (StatusCode::OK, json!({ "audits": [] })));
    let mut ids = Vec::new();
    for name in ["enero.csv", "febrero.csv", "marzo.csv"] {
        let (status, audit) = api.upload(name, DEMO_PROCUREMENTS).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
        ids.push(audit["id"].as_i64().unwrap());
    }
    let (status, listed) = api.get("/v1/audits", Role::Admin).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        listed["audits"].as_array().unwrap().iter().map(|a| a["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["marzo.csv", "febrero.csv", "enero.csv"]);
    assert_eq!(listed["audits"][0]["id"], ids[2]);
    assert_eq!(listed["audits"][0]["status"], "queued");
    let (_, page) = api.get("/v1/audits?limit=1&offset=1", Role::Auditor).await;
    assert_eq!(page["audits"].as_array().unwrap().len(), 1);
    assert_eq!(page["audits"][0]["file_name"], "febrero.csv");
    let (status, body) = api.get("/v1/audits?limit=0", Role::Auditor).await;
    assert_eq!((status, &body["error"]), (StatusCode::BAD_REQUEST, &json!("limit must be between 1 and 1000, not 0")));
    assert_eq!(api.get("/v1/audits", Role::Officer).await.0, StatusCode::FORBIDDEN);
}

/// `curl -F kind=watchlist -F file=@lista.csv` (a multipart form, here from reqwest
/// against a real server): the form's fields stand for the query parameters, and the
/// file's name is the dataset's or the audit's.
async fn uploads_come_as_multipart_forms_too(store: Store) {
    let api = Api::new(&store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = api.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    cadena::monitoring::webhooks::install_tls_provider();
    let client = reqwest::Client::new();
    let file = |name: &str, csv: &str| {
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
            .file_name(name.to_owned())
            .mime_str("text/csv")
            .unwrap()
    };
    let post = |path: &str, role: Role, form: reqwest::multipart::Form| {
        let request = client.post(format!("{base}{path}")).bearer_auth(api.key(role)).multipart(form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (response.json::<Value>().await.unwrap(), status)
        }
    };

    let form = reqwest::multipart::Form::new()
        .text("kind", "watchlist")
        .text("source", "lista-local")
        .part("file", file("lista.csv", "entity_id,name,country\nL-1,Empresa Listada Imaginaria,Perú\n"));
    let (dataset, status) = post("/v1/datasets", Role::Admin, form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{dataset}");
    assert_eq!((&dataset["kind"], &dataset["file_name"]), (&json!("watchlist"), &json!("lista.csv")), "{dataset}");
    assert_eq!(dataset["source"], "lista-local");
    api.run_workers().await;
    let (_, loaded) = api.get(&format!("/v1/datasets/{}", dataset["id"]), Role::Admin).await;
    assert_eq!((&loaded["status"], &loaded["n_inserted"]), (&json!("completed"), &json!(1)), "{loaded}");

    let form = reqwest::multipart::Form::new().part("file", file("compras-marzo.csv", DEMO_PROCUREMENTS));
    let (audit, status) = post("/v1/audits", Role::Auditor, form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    assert_eq!((&audit["file_name"], &audit["n_rows"]), (&json!("compras-marzo.csv"), &json!(5)), "{audit}");
    // An audit's column map as a form field, as the `map` query parameter would give it.
    let csv = "ocid,Pos,Proveedor\nocds-1,1,Ferretería Ñandú\n";
    let form = reqwest::multipart::Form::new().text("map", "Pos=line_id").part("file", file("compras-form.csv", csv));
    let (audit, status) = post("/v1/audits", Role::Auditor, form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    assert_eq!((&audit["n_rows"], &audit["column_map"]), (&json!(1), &json!(["Pos=line_id"])), "{audit}");

    // A form without the kind a CSV needs, or with a misspelt field, says so.
    let form = reqwest::multipart::Form::new().text("knd", "watchlist").part("file", file("l.csv", "entity_id,name\n"));
    let (body, status) = post("/v1/datasets", Role::Admin, form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("\"knd\" is not a field"), "{body}");
    let form = reqwest::multipart::Form::new().text("kind", "watchlist");
    let (body, status) = post("/v1/datasets", Role::Admin, form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("needs a `file` part"), "{body}");
    // A parameter given as a query parameter and, differently, as a form field is refused:
    // the one not taken would be dropped without a word.
    let form = reqwest::multipart::Form::new().text("format", "ocds").part(
        "file",
        file(
            "l.csv",
            "entity_id,name
",
        ),
    );
    let (body, status) = post("/v1/datasets?kind=watchlist&format=csv", Role::Admin, form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("format is given twice"), "{body}");
}

/// The text of one file inside a zip archive (an `.xlsx` workbook is one).
pub(crate) fn zip_entry(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    let mut entry = archive.by_name(name).expect("the entry");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    text
}

/// A report as CSV with a byte-order mark, or as an Excel workbook, keeps `Ñ` and accents.
async fn reports_open_in_excel(store: Store) {
    let api = Api::new(&store).await;
    let (status, audit) = api.upload("proveedores.csv", "supplier_id,name,country\nS-1,Ferretería Ñandú,PE\n").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let id = audit["id"].as_i64().unwrap();
    let key = Some(api.key(Role::Auditor));
    let uri = |format: &str| format!("/v1/audits/{id}/report?format={format}");

    let (status, plain) = api.call_raw("GET", &uri("csv"), key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain.starts_with(b"row,input_id"), "no byte-order mark by default");
    let (status, with_bom) = api.call_raw("GET", &uri("csv-bom"), key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with_bom[..3], *b"\xef\xbb\xbf");
    assert_eq!(with_bom[3..], plain[..], "the same CSV after the mark");
    assert!(String::from_utf8(with_bom).unwrap().contains("Ferretería Ñandú"));

    let request = Request::builder()
        .uri(uri("xlsx"))
        .header("authorization", format!("Bearer {}", api.key(Role::Auditor)))
        .body(Body::empty())
        .unwrap();
    let response = api.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(response.headers()["content-disposition"].to_str().unwrap().ends_with(".xlsx\""));
    let xlsx = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    assert_eq!(xlsx[..2], *b"PK", "an xlsx workbook is a zip archive");
    let strings = zip_entry(&xlsx, "xl/sharedStrings.xml");
    assert!(strings.contains("Ferretería Ñandú"), "{strings}");
    assert!(strings.contains("input_name") && strings.contains("risk_band"), "{strings}");

    let (status, body) = api.get(&uri("pdf"), Role::Auditor).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "format must be csv, csv-bom, xlsx or json, not \"pdf\"");
}
