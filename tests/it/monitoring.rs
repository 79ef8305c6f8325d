//! Decisions and monitoring through the real router and workers, on SQLite and
//! PostgreSQL: the life of a decision (a hit, a false positive, dismissed, reloads that
//! do and do not change the entity, a new match, a lost licence), alerts raised once by
//! two workers, a second replica serving what the first raised, webhooks with a
//! receiver that fails, batch audits and `cadena screen` honouring decisions.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use cadena::http::{AppState, router};
use cadena::indexer::Indexer;
use cadena::ingest::{self, LoadRequest};
use cadena::matching::index::EntityIndex;
use cadena::matching::{Matcher, Thresholds};
use cadena::monitoring::Monitor;
use cadena::monitoring::webhooks::{self, Deliverer, RetryPolicy};
use cadena::records::RecordKind;
use cadena::rules::Ruleset;
use cadena::service::ScreeningService;
use cadena::store::Store;
use cadena::store::keys::Role;
use cadena::store::webhooks::DeliveryStatus;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::harness::{TestDb, database_tests, store_tests};
use crate::http::Api;

store_tests!(
    the_life_of_a_decision,
    alerts_are_raised_once_by_two_workers_and_served_by_every_replica,
    a_webhook_gets_each_alert_once_signed_after_its_receiver_failed_twice,
    decisions_and_alerts_refuse_bad_requests,
    a_batch_audit_reports_the_rows_a_decision_dismissed,
);

mod cli {
    use super::*;
    database_tests!(cadena_screen_and_cadena_alerts_honour_decisions);
}

const SUPPLIERS: &str = "supplier_id,name,country\n\
    S-1,Maderera Loreto E.I.R.L.,PE\n\
    S-2,Textiles Andinos del Sur S.A.C.,PE\n";

const LIST_V1: &str = "entity_id,list,name,aliases,country,reason\n\
    E-0,Lista de prueba,Pesquera Ficticia del Pacífico S.A.,,PE,trabajo forzoso en pesca\n\
    E-1,Lista de prueba,Maderera Loreto S.A.,Maderas Loreto,PE,tala ilegal con trabajo forzoso\n";

/// E-0's reason changes; E-1 stays as it was.
const LIST_V2: &str = "entity_id,list,name,aliases,country,reason\n\
    E-0,Lista de prueba,Pesquera Ficticia del Pacífico S.A.,,PE,trabajo forzoso en pesca artesanal\n\
    E-1,Lista de prueba,Maderera Loreto S.A.,Maderas Loreto,PE,tala ilegal con trabajo forzoso\n";

/// E-1 gains an alias.
const LIST_V3: &str = "entity_id,list,name,aliases,country,reason\n\
    E-0,Lista de prueba,Pesquera Ficticia del Pacífico S.A.,,PE,trabajo forzoso en pesca artesanal\n\
    E-1,Lista de prueba,Maderera Loreto S.A.,Maderas Loreto|Loreto Timber,PE,tala ilegal con trabajo forzoso\n";

/// A new entity like S-2.
const LIST_V4: &str = "entity_id,list,name,aliases,country,reason\n\
    E-0,Lista de prueba,Pesquera Ficticia del Pacífico S.A.,,PE,trabajo forzoso en pesca artesanal\n\
    E-1,Lista de prueba,Maderera Loreto S.A.,Maderas Loreto|Loreto Timber,PE,tala ilegal con trabajo forzoso\n\
    E-2,Lista de prueba,Textiles Andinos del Sur S.A.,,PE,servidumbre por deudas\n";

/// Loads a CSV text into the store now, as `cadena ingest` does.
async fn load(store: &Store, kind: RecordKind, source: &str, csv: &str) -> i64 {
    let request = LoadRequest {
        kind,
        source: source.to_owned(),
        file_name: format!("{source}.csv"),
        bytes: csv.as_bytes().to_vec(),
    };
    let report = ingest::load_file(store, request).await.unwrap();
    assert_eq!(report.dataset.n_rejected, 0, "{:?}", report.rejected);
    report.dataset.id
}

/// The alerts as `GET /v1/alerts` gives them (every status, newest first).
async fn alerts(api: &Api) -> Vec<Value> {
    let (status, body) = api.get("/v1/alerts?limit=1000", Role::Officer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

/// The alerts raised since `before` alerts existed, oldest first, as (kind, subject id, entity id).
fn raised_since(all: &[Value], before: usize) -> Vec<(String, String, String)> {
    let mut raised: Vec<(String, String, String)> = all[..all.len() - before]
        .iter()
        .map(|alert| {
            let text = |field: &str| alert[field].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("subject_id"), text("entity_id"))
        })
        .collect();
    raised.reverse();
    raised
}

fn supplier_s1() -> Value {
    json!({ "supplier": { "supplier_id": "S-1", "name": "Maderera Loreto E.I.R.L.", "country": "PE" } })
}

async fn screen(api: &Api, request: Value) -> Value {
    let (status, screening) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(request)).await;
    assert_eq!(status, StatusCode::CREATED, "{screening}");
    screening
}

fn entity_ids(matches: &Value) -> Vec<&str> {
    matches.as_array().unwrap().iter().map(|found| found["entity"]["entity_id"].as_str().unwrap()).collect()
}

fn fired_rules(screening: &Value) -> Vec<&str> {
    screening["result"]["assessments"][0]["assessment"]["fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["id"].as_str().unwrap())
        .collect()
}

async fn the_life_of_a_decision(store: Store) {
    let api = Api::new(&store).await;
    api.run_workers().await;
    let n_demo_alerts = alerts(&api).await.len();

    // A list that names a company like a supplier of the base: monitoring raises it.
    load(&store, RecordKind::Suppliers, "local", SUPPLIERS).await;
    let list_v1 = load(&store, RecordKind::Watchlist, "lista", LIST_V1).await;
    api.run_workers().await;
    let all = alerts(&api).await;
    assert_eq!(raised_since(&all, n_demo_alerts), [("new_match".into(), "S-1".into(), "E-1".into())]);
    let new_match = &all[0];
    assert_eq!(
        (new_match["status"].as_str(), new_match["supplier_id"].as_str(), new_match["source"].as_str()),
        (Some("open"), Some("S-1"), Some("lista"))
    );
    assert_eq!(new_match["dataset_id"], list_v1);
    assert_eq!(new_match["match"]["explanation"]["matched_name"], "Maderera Loreto S.A.", "{new_match}");
    let list_v1_version = store.get_load(list_v1).await.unwrap().unwrap().version.unwrap();
    assert!(new_match["index_version"].as_i64().unwrap() >= list_v1_version);

    // A hit: the screening of S-1 lists E-1, and the rules count it.
    let hit = screen(&api, supplier_s1()).await;
    assert_eq!(entity_ids(&hit["result"]["matches"]), ["E-1"], "{hit}");
    assert_eq!(hit["result"]["dismissed"], json!([]));
    let rules_with_the_hit = fired_rules(&hit);
    assert!(rules_with_the_hit.iter().any(|rule| rule.starts_with("watchlist.")), "{rules_with_the_hit:?}");

    // A reviewer decides it is another company.
    let decision = json!({ "screening_id": hit["id"], "source": "lista", "entity_id": "E-1",
        "decision": "false_positive", "note": "RUC distinto; otra empresa, de Iquitos" });
    let (status, decided) = api.call("POST", "/v1/decisions", Some(api.key(Role::Officer)), Some(decision)).await;
    assert_eq!(status, StatusCode::CREATED, "{decided}");
    assert_eq!(
        (decided["supplier_id"].as_str(), decided["supplier_source"].as_str(), decided["status"].as_str()),
        (Some("S-1"), Some("local"), Some("in_force"))
    );
    assert_eq!(decided["entity"]["aliases"], json!(["Maderas Loreto"]));
    let stored_hash: String = sqlx::query_scalar("SELECT content_hash FROM watchlist_entries WHERE record_key = 'E-1'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(decided["content_hash"], stored_hash);
    let decision_id = decided["id"].as_i64().unwrap();

    // The next screening of the same supplier (the very same request: the cache must
    // not answer it) dismisses the match, and the rules do not count it.
    let dismissed = screen(&api, supplier_s1()).await;
    assert_eq!(entity_ids(&dismissed["result"]["matches"]), Vec::<&str>::new(), "{dismissed}");
    assert_eq!(entity_ids(&dismissed["result"]["dismissed"]), ["E-1"]);
    assert_eq!(dismissed["result"]["dismissed"][0]["decision"]["id"], decision_id);
    assert_eq!(dismissed["decision_ids"], json!([decision_id]));
    let rules_now = fired_rules(&dismissed);
    assert!(!rules_now.iter().any(|rule| rule.starts_with("watchlist.")), "{rules_now:?}");
    let (_, reproduction) = api.get(&format!("/v1/screenings/{}/reproduction", dismissed["id"]), Role::Auditor).await;
    assert_eq!(reproduction["identical"], true, "{reproduction}");

    // A reload that changes another entry raises nothing for S-1 (nor anything else);
    // reloading the same file again makes no monitoring job at all.
    let n_before = alerts(&api).await.len();
    load(&store, RecordKind::Watchlist, "lista", LIST_V2).await;
    api.run_workers().await;
    assert_eq!(raised_since(&alerts(&api).await, n_before), []);
    let n_jobs = store.list_monitor_jobs(1000).await.unwrap().len();
    load(&store, RecordKind::Watchlist, "lista", LIST_V2).await;
    api.run_workers().await;
    assert_eq!(store.list_monitor_jobs(1000).await.unwrap().len(), n_jobs, "an unchanged load leaves no job");
    assert_eq!(raised_since(&alerts(&api).await, n_before), []);
    assert_eq!(entity_ids(&screen(&api, supplier_s1()).await["result"]["dismissed"]), ["E-1"]);

    // The listed entity gains an alias: the false positive reopens.
    load(&store, RecordKind::Watchlist, "lista", LIST_V3).await;
    api.run_workers().await;
    let all = alerts(&api).await;
    assert_eq!(raised_since(&all, n_before), [("reopened".into(), "S-1".into(), "E-1".into())]);
    assert_eq!(all[0]["changed_fields"], json!(["aliases"]), "{}", all[0]);
    assert_eq!(all[0]["decision"]["id"], decision_id);
    assert_eq!(all[0]["before"]["aliases"], json!(["Maderas Loreto"]));
    let reopened = screen(&api, supplier_s1()).await;
    assert_eq!(entity_ids(&reopened["result"]["matches"]), ["E-1"], "{reopened}");
    assert_eq!(reopened["result"]["dismissed"], json!([]));
    let back = &reopened["result"]["matches"][0];
    assert_eq!(back["reopened"]["decision"]["id"], decision_id);
    assert_eq!(back["reopened"]["changed_fields"], json!(["aliases"]));
    assert!(fired_rules(&reopened).iter().any(|rule| rule.starts_with("watchlist.")));

    // A new entity like another supplier: a new match.
    let n_before = all.len();
    load(&store, RecordKind::Watchlist, "lista", LIST_V4).await;
    api.run_workers().await;
    let all = alerts(&api).await;
    assert_eq!(raised_since(&all, n_before), [("new_match".into(), "S-2".into(), "E-2".into())]);
    let new_match_id = all[0]["id"].as_i64().unwrap();

    // Closing that alert with a decision records the decision, on the alert's match.
    let close = json!({ "note": "es la misma empresa: mismo domicilio", "decision": "confirmed" });
    let (status, closed) =
        api.call("POST", &format!("/v1/alerts/{new_match_id}"), Some(api.key(Role::Auditor)), Some(close)).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "closed");
    let confirmed_id = closed["closed"]["decision_id"].as_i64().expect("a decision id");
    let (_, listed) = api.get("/v1/decisions?supplier_id=S-2", Role::Officer).await;
    assert_eq!(listed["decisions"][0]["id"], confirmed_id);
    assert_eq!(listed["decisions"][0]["alert_id"], new_match_id);
    assert_eq!(listed["decisions"][0]["decision"], "confirmed");
    let s2 =
        json!({ "supplier": { "supplier_id": "S-2", "name": "Textiles Andinos del Sur S.A.C.", "country": "PE" } });
    let screened = screen(&api, s2).await;
    assert_eq!(screened["result"]["matches"][0]["decision"]["id"], confirmed_id, "{screened}");
    let (_, open) = api.get("/v1/alerts?status=open&kind=new_match", Role::Inspector).await;
    assert!(open["alerts"].as_array().unwrap().iter().all(|alert| alert["id"] != new_match_id));

    // The register revokes the licence of an agency a demo supplier recruits through.
    let n_before = all.len();
    let licences = "licence_number,holder_name,tax_id,country,status,issued_on,expires_on,authority\n\
        DEMO-LIC-0102,Servicios de Personal Ejemplo S.A.C.,20333333334,PE,revoked,2022-07-01,2027-06-30,Fictional demo labour ministry\n";
    load(&store, RecordKind::Licences, "demo", licences).await;
    api.run_workers().await;
    let all = alerts(&api).await;
    assert_eq!(
        raised_since(&all, n_before),
        [
            ("licence_lost".into(), "DEMO-A-002".into(), "DEMO-A-002".into()),
            ("licence_lost".into(), "DEMO-S-002".into(), "DEMO-A-002".into())
        ]
    );
    assert_eq!(all[0]["agency_id"], "DEMO-A-002");
    assert_eq!(all[0]["licence"]["licence_status"], "revoked");
    assert_eq!(all[0]["licence"]["previous_status"], "active");
    assert_eq!(all[1]["subject_kind"], "agencies");
    // The daily expiry check found nothing more, and ran once today.
    let n_expiry_jobs = store
        .list_monitor_jobs(1000)
        .await
        .unwrap()
        .iter()
        .filter(|job| job.kind == cadena::monitoring::JobKind::LicenceExpiry)
        .count();
    assert_eq!(n_expiry_jobs, 1);

    // Withdrawing the false positive: history stays, the decision is no longer in force.
    let withdraw = json!({ "note": "decidido por error" });
    let uri = format!("/v1/decisions/{decision_id}/withdraw");
    let (status, withdrawn) = api.call("POST", &uri, Some(api.key(Role::Officer)), Some(withdraw.clone())).await;
    assert_eq!((status, withdrawn["status"].as_str()), (StatusCode::OK, Some("withdrawn")), "{withdrawn}");
    assert_eq!(withdrawn["withdrawn"]["note"], "decidido por error");
    let (status, _) = api.call("POST", &uri, Some(api.key(Role::Officer)), Some(withdraw)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let after = screen(&api, supplier_s1()).await;
    assert!(after["result"]["matches"][0].get("reopened").is_none(), "{after}");
    assert_eq!(after["decision_ids"], json!([]));
    let (_, history) = api.get("/v1/decisions?status=withdrawn", Role::Auditor).await;
    assert_eq!(history["decisions"][0]["id"], decision_id);
}

/// Two workers (two replicas) race through the same jobs: each alert is raised once. A
/// replica that ran nothing serves the same alerts and decisions.
async fn alerts_are_raised_once_by_two_workers_and_served_by_every_replica(store: Store) {
    let api = Api::new(&store).await;
    api.run_workers().await;
    let n_before = alerts(&api).await.len();
    load(&store, RecordKind::Suppliers, "local", SUPPLIERS).await;
    load(&store, RecordKind::Watchlist, "lista", LIST_V1).await;
    load(&store, RecordKind::Watchlist, "lista", LIST_V4).await;
    api.indexer.catch_up().await.unwrap();
    let matcher = api.screening.matcher().clone();
    let first = Monitor::new(store.with_new_worker_id(), matcher.clone(), 1);
    let second = Monitor::new(store.with_new_worker_id(), matcher, 1);
    let (a, b) = tokio::join!(first.run_until_idle(), second.run_until_idle());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.n_jobs + b.n_jobs, 2, "each job ran once: {a:?} {b:?}");
    let raised = raised_since(&alerts(&api).await, n_before);
    assert_eq!(
        raised,
        [("new_match".into(), "S-1".into(), "E-1".into()), ("new_match".into(), "S-2".into(), "E-2".into())]
    );

    // Another replica: its own (new) index, the same store.
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::new(store.clone(), EntityIndex::open_or_create(&dir.path().join("index")).unwrap()).unwrap();
    indexer.catch_up().await.unwrap();
    let matcher = Arc::new(Matcher::new(indexer.index().clone(), Thresholds::default()));
    let service = ScreeningService::new(store.clone(), matcher, Arc::new(Ruleset::bundled()), indexer.status());
    let other = router(AppState::new(store.clone(), Arc::new(service)));
    let request = axum::http::Request::builder()
        .uri("/v1/alerts?limit=1000")
        .header("authorization", format!("Bearer {}", api.key(Role::Inspector)))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(other, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(served["alerts"].as_array().unwrap(), &alerts(&api).await);
}

/// What the loopback receiver saw.
#[derive(Default)]
struct Received {
    /// (signature header, delivery header, attempt header, body) of every request.
    requests: Vec<(String, String, String, Vec<u8>)>,
}

/// A webhook receiver on a free loopback port that answers 500 to its first `n_failures`
/// requests and 204 after.
async fn receiver(n_failures: usize) -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let count = Arc::new(AtomicUsize::new(0));
    let state = (received.clone(), count);
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                move |axum::extract::State((received, count)): axum::extract::State<(
                    Arc<Mutex<Received>>,
                    Arc<AtomicUsize>,
                )>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| async move {
                    let header = |name: &str| {
                        headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned()
                    };
                    received.lock().await.requests.push((
                        header(webhooks::SIGNATURE_HEADER),
                        header(webhooks::DELIVERY_HEADER),
                        header(webhooks::ATTEMPT_HEADER),
                        body.to_vec(),
                    ));
                    if count.fetch_add(1, Ordering::SeqCst) < n_failures {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hook"), received)
}

async fn a_webhook_gets_each_alert_once_signed_after_its_receiver_failed_twice(store: Store) {
    let api = Api::new(&store).await;
    api.run_workers().await;
    let (url, received) = receiver(2).await;
    let (hook, secret) = store.add_webhook(&url, &[cadena::monitoring::AlertKind::NewMatch]).await.unwrap();
    // A webhook for licence alerts only gets nothing from a new match.
    let (_, _) = store.add_webhook(&url, &[cadena::monitoring::AlertKind::LicenceLost]).await.unwrap();
    // And a receiver that is down: its delivery waits, it is not lost.
    let (down, _) = store.add_webhook("http://127.0.0.1:9/down", &[]).await.unwrap();
    load(&store, RecordKind::Suppliers, "local", SUPPLIERS).await;
    load(&store, RecordKind::Watchlist, "lista", LIST_V1).await;
    api.run_workers().await;
    let alert = alerts(&api).await[0].clone();
    assert_eq!(alert["kind"], "new_match");

    let quick = RetryPolicy { first_delay: Duration::ZERO, max_delay: Duration::ZERO, max_attempts: 5 };
    let deliverer = Deliverer::new(store.clone(), quick).unwrap();
    deliverer.run_until_idle().await.unwrap();
    let requests = received.lock().await.requests.clone();
    assert_eq!(requests.len(), 3, "two failed tries, then the one that was taken");
    for (attempt, (signature, delivery, attempt_header, body)) in requests.iter().enumerate() {
        assert!(webhooks::verify(&secret, body, signature), "try {}: a valid signature", attempt + 1);
        assert_eq!(attempt_header, &(attempt + 1).to_string());
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["delivery_id"].to_string(), *delivery);
        assert_eq!(payload["webhook_id"], hook.id);
        assert_eq!(payload["alert"], alert);
    }
    assert!(!webhooks::verify("whsec_wrong", &requests[2].3, &requests[2].0));
    // Nothing more: the delivered alert is not sent again.
    deliverer.run_until_idle().await.unwrap();
    assert_eq!(received.lock().await.requests.len(), 3);

    let delivered = store.list_deliveries(Some(hook.id), None, 10).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!((delivered[0].status, delivered[0].attempts), (DeliveryStatus::Delivered, 3));
    let log = store.delivery_attempts(delivered[0].id).await.unwrap();
    let statuses: Vec<Option<i64>> = log.iter().map(|attempt| attempt.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(204)]);
    assert!(log[0].error.as_deref().is_some_and(|error| error.contains("500")), "{log:?}");

    // The receiver that is down: every try is logged, the delivery is kept for later.
    let waiting = store.list_deliveries(Some(down.id), None, 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].status, DeliveryStatus::Failed, "given up after the quick policy's 5 tries");
    assert_eq!(store.delivery_attempts(waiting[0].id).await.unwrap().len(), 5);
    assert_eq!(store.retry_failed_deliveries(Some(down.id)).await.unwrap(), 1, "and queued again on request");
    let patient = Deliverer::new(store.clone(), RetryPolicy::default()).unwrap();
    patient.run_until_idle().await.unwrap();
    let waiting = store.list_deliveries(Some(down.id), None, 10).await.unwrap();
    assert_eq!((waiting[0].status, waiting[0].attempts), (DeliveryStatus::Pending, 6), "due again later, not lost");
    // Only the two webhooks that want new matches got a delivery.
    assert_eq!(store.list_deliveries(None, Some(alert["id"].as_i64().unwrap()), 10).await.unwrap().len(), 2);
}

async fn decisions_and_alerts_refuse_bad_requests(store: Store) {
    let api = Api::new(&store).await;
    api.run_workers().await;
    let officer = Some(api.key(Role::Officer));
    let hit = screen(&api, json!({ "supplier": { "supplier_id": "DEMO-S-001", "name": "Minera Ficticia Oro Verde SAC", "country": "PE" } })).await;
    let id = hit["id"].clone();
    let cases = [
        (
            json!({ "screening_id": 999_999, "source": "demo", "entity_id": "DEMO-W-001", "decision": "confirmed", "note": "x" }),
            StatusCode::NOT_FOUND,
            "no screening 999999",
        ),
        (
            json!({ "screening_id": id, "source": "demo", "entity_id": "DEMO-W-004", "decision": "confirmed", "note": "x" }),
            StatusCode::BAD_REQUEST,
            "has no match with",
        ),
        (
            json!({ "screening_id": id, "source": "demo", "entity_id": "DEMO-W-001", "decision": "confirmed", "note": "  " }),
            StatusCode::BAD_REQUEST,
            "note must say",
        ),
        (
            json!({ "screening_id": id, "source": "demo", "entity_id": "DEMO-W-001", "decision": "maybe", "note": "x" }),
            StatusCode::BAD_REQUEST,
            "decision",
        ),
        (
            json!({ "screening_id": id, "source": "demo", "entity_id": "DEMO-W-001", "decision": "confirmed", "note": "x", "extra": 1 }),
            StatusCode::BAD_REQUEST,
            "extra",
        ),
    ];
    for (body, expected, message) in cases {
        let (status, answer) = api.call("POST", "/v1/decisions", officer, Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(message), "{body}: {answer}");
    }
    let good = json!({ "screening_id": id, "source": "demo", "entity_id": "DEMO-W-001", "decision": "confirmed", "note": "x" });
    let (status, _) = api.call("POST", "/v1/decisions", Some(api.key(Role::Inspector)), Some(good)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "inspectors do not decide on screenings");
    for uri in ["/v1/alerts?status=pending", "/v1/alerts?kind=bogus", "/v1/alerts?limit=0", "/v1/decisions?status=x"] {
        assert_eq!(api.get(uri, Role::Admin).await.0, StatusCode::BAD_REQUEST, "{uri}");
    }
    assert_eq!(api.get("/v1/alerts/999999", Role::Admin).await.0, StatusCode::NOT_FOUND);

    // The demo's licence alerts: a decision cannot close one, a note can, once.
    let licence_alert = alerts(&api).await.into_iter().find(|alert| alert["kind"] == "licence_lost").unwrap();
    let uri = format!("/v1/alerts/{}", licence_alert["id"]);
    let (status, body) =
        api.call("POST", &uri, officer, Some(json!({ "note": "revisado", "decision": "false_positive" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("licence_lost"), "{body}");
    let (status, body) = api
        .call("POST", &uri, Some(api.key(Role::Inspector)), Some(json!({ "note": "x", "decision": "confirmed" })))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a decision needs a screening role: {body}");
    let (status, body) = api.call("POST", &uri, Some(api.key(Role::Inspector)), Some(json!({ "note": "" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, closed) =
        api.call("POST", &uri, Some(api.key(Role::Inspector)), Some(json!({ "note": "inspección realizada" }))).await;
    assert_eq!((status, closed["status"].as_str()), (StatusCode::OK, Some("closed")), "{closed}");
    assert_eq!(closed["closed"]["note"], "inspección realizada");
    let (status, _) = api.call("POST", &uri, officer, Some(json!({ "note": "otra vez" }))).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn a_batch_audit_reports_the_rows_a_decision_dismissed(store: Store) {
    let api = Api::new(&store).await;
    load(&store, RecordKind::Suppliers, "local", SUPPLIERS).await;
    load(&store, RecordKind::Watchlist, "lista", LIST_V1).await;
    api.run_workers().await;
    let hit = screen(&api, supplier_s1()).await;
    let decision = json!({ "screening_id": hit["id"], "source": "lista", "entity_id": "E-1",
        "decision": "false_positive", "note": "otra empresa" });
    let (status, decided) = api.call("POST", "/v1/decisions", Some(api.key(Role::Officer)), Some(decision)).await;
    assert_eq!(status, StatusCode::CREATED, "{decided}");
    let file = "supplier_id,name,country\nS-1,Maderera Loreto E.I.R.L.,PE\nS-9,Maderera Loreto E.I.R.L.,PE\n";
    let (status, audit) = api.upload("suppliers.csv", file).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    cadena::audit::AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let (status, rows) = api.get(&format!("/v1/audits/{}/report?format=json", audit["id"]), Role::Auditor).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    // S-1's match is dismissed by the decision; S-9 (the same name, another supplier) keeps it.
    assert_eq!(rows[0]["match_entity_id"], "", "{}", rows[0]);
    assert_eq!(rows[0]["dismissed_matches"], format!("lista/E-1 (decision {})", decided["id"]));
    assert_eq!(rows[1]["match_entity_id"], "E-1");
    assert_eq!(rows[1]["dismissed_matches"], "");
}

async fn cadena_screen_and_cadena_alerts_honour_decisions(db: &TestDb) {
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = db.cadena(work.path()).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "cadena {args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let suppliers = work.path().join("suppliers.csv");
    let list = work.path().join("list.csv");
    std::fs::write(&suppliers, SUPPLIERS).unwrap();
    std::fs::write(&list, LIST_V1).unwrap();
    run(&["ingest", "suppliers", suppliers.to_str().unwrap()]);
    let ingested = run(&["ingest", "watchlist", list.to_str().unwrap(), "--source", "lista"]);
    assert!(ingested.contains("1 alert(s) raised"), "{ingested}");
    let listed: Value = serde_json::from_str(&run(&["alerts", "--json"])).unwrap();
    let kinds: Vec<&str> = listed["alerts"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["new_match"]);
    assert!(run(&["alerts"]).contains("Maderera Loreto S.A."));

    // A decision recorded in the store (as the API does), then a batch screening.
    let entity: cadena::matching::index::IndexedEntity =
        serde_json::from_value(listed["alerts"][0]["match"]["entity"].clone()).unwrap();
    let entity = cadena::decisions::EntitySnapshot::of(&entity);
    let new = cadena::store::decisions::NewDecision {
        screening_id: None,
        alert_id: listed["alerts"][0]["id"].as_i64(),
        supplier_id: "S-1",
        supplier_source: Some("local"),
        source: "lista",
        entity_id: "E-1",
        decision: cadena::decisions::Verdict::FalsePositive,
        note: "otra empresa",
        content_hash: None,
        entity: &entity,
        key_id: None,
    };
    let decision = db.store.insert_decision(&new).await.unwrap();
    let report = work.path().join("report.csv");
    let screened = run(&["screen", suppliers.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert!(screened.contains("1 rows with a match dismissed"), "{screened}");
    let mut reader = csv::Reader::from_path(&report).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|column| column == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][column("input_id")], "S-1");
    assert_eq!(&rows[0][column("match_entity_id")], "");
    assert_eq!(
        rows[0][column("dismissed_matches")].to_owned(),
        format!("lista/E-1 (decision {})", decision.decision.id)
    );
}
