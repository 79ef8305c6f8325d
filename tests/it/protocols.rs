//! The protocols other tools speak, through the real router: yente's `/match` and the
//! W3C Reconciliation API 0.2 that OpenRefine speaks. Every reconciliation answer is
//! checked against the shapes of the 0.2 specification's JSON schemas (manifest,
//! reconciliation-result-batch, suggest-entities-response), written out literally here.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cadena::store::Store;
use cadena::store::keys::Role;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::harness::store_tests;
use crate::http::Api;

store_tests!(
    yente_match_finds_a_listed_entity_in_yentes_shape,
    yente_match_refuses_what_it_cannot_answer,
    reconciliation_manifest_queries_and_properties_follow_the_specification,
    reconciliation_suggest_preview_and_cors,
);

/// An answer: status, headers and body (JSON when it parses, else the text).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(api: &Api, method: &str, uri: &str, headers: &[(&str, &str)], body: Option<(&str, String)>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some((content_type, text)) => {
            request = request.header("content-type", content_type);
            Body::from(text)
        }
        None => Body::empty(),
    };
    let response = api.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, headers, body }
}

fn bearer(api: &Api, role: Role) -> String {
    format!("Bearer {}", api.key(role))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-encoding of one query-string value.
fn url_encode(text: &str) -> String {
    form_encode(text).replace('+', "%20")
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).map(|value| value.to_str().unwrap()).unwrap_or_default()
}

async fn yente_match_finds_a_listed_entity_in_yentes_shape(store: Store) {
    let api = Api::new(&store).await;
    let officer = bearer(&api, Role::Officer);
    let auth = [("authorization", officer.as_str())];
    let body = json!({ "queries": {
        "listed": { "schema": "Company", "properties": {
            "name": ["Minera Ficticia Oro Verde SAC"], "country": ["pe"], "taxNumber": ["20999999990"] } },
        "by_alias_only": { "schema": "Company", "properties": { "name": "Oro Verde Ficticia" } },
        "unknown": { "schema": "Company", "properties": { "name": ["Panadería Completamente Distinta"] } },
    }});
    let answer = send(&api, "POST", "/match/default", &auth, Some(("application/json", body.to_string()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let index_version = api.screening.index_status().index_version;
    assert!(index_version > 0);
    assert_eq!(answer.body["dataset_version"], index_version, "the answer names the index version it used");
    assert_eq!(header(&answer, "x-cadena-dataset-version"), index_version.to_string());
    let responses = answer.body["responses"].as_object().unwrap();
    assert_eq!(responses.keys().collect::<Vec<_>>(), ["by_alias_only", "listed", "unknown"]);
    for (key, response) in responses {
        assert_eq!(response["status"], 200, "{key}");
        assert_eq!(response["total"]["value"], response["results"].as_array().unwrap().len(), "{key}");
        assert_eq!(response["total"]["relation"], "eq");
        assert_eq!(response["query"]["schema"], "Company", "the query is echoed");
        for result in response["results"].as_array().unwrap() {
            for field in ["id", "caption", "schema"] {
                assert!(result[field].is_string(), "{key}: {field} in {result}");
            }
            assert!(result["properties"]["name"].as_array().unwrap().iter().all(Value::is_string), "{result}");
            assert!(result["datasets"].as_array().unwrap().iter().all(Value::is_string), "{result}");
            let score = result["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&score), "{result}");
            assert_eq!(
                result["match"],
                json!(score >= 0.80),
                "match is the score against the default threshold: {result}"
            );
            assert!(result["explanations"].is_object(), "{result}");
            assert!(result["features"]["name_score"].is_number(), "{result}");
        }
    }
    let listed = &responses["listed"]["results"][0];
    assert_eq!(listed["id"], "watchlist/demo/DEMO-W-001");
    assert_eq!(listed["caption"], "Minera Ficticia Oro Verde S.A.C.");
    assert_eq!(listed["match"], true);
    assert_eq!(listed["datasets"], json!(["demo"]));
    assert_eq!(listed["properties"]["country"], json!(["pe"]));
    assert_eq!(listed["features"]["same_tax_id"], 1.0);
    assert_eq!(responses["by_alias_only"]["results"][0]["id"], "watchlist/demo/DEMO-W-001");
    assert!(
        responses["unknown"]["results"].as_array().unwrap().iter().all(|result| result["match"] == false),
        "{}",
        responses["unknown"]
    );

    // exclude_entity_ids leaves the entity out; limit and threshold as query parameters.
    let mut excluding = body.clone();
    excluding["exclude_entity_ids"] = json!(["watchlist/demo/DEMO-W-001"]);
    let answer = send(&api, "POST", "/match/default", &auth, Some(("application/json", excluding.to_string()))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    for (key, response) in answer.body["responses"].as_object().unwrap() {
        let ids: Vec<&Value> = response["results"].as_array().unwrap().iter().map(|result| &result["id"]).collect();
        assert!(!ids.contains(&&json!("watchlist/demo/DEMO-W-001")), "{key}: {ids:?}");
    }
    let answer = send(
        &api,
        "POST",
        "/match/default?limit=1&threshold=0.999",
        &auth,
        Some(("application/json", body.to_string())),
    )
    .await;
    assert_eq!(answer.body["limit"], 1);
    for response in answer.body["responses"].as_object().unwrap().values() {
        assert!(response["results"].as_array().unwrap().len() <= 1);
    }
    let alias = &answer.body["responses"]["by_alias_only"]["results"][0];
    assert_eq!(alias["match"], json!(alias["score"].as_f64().unwrap() >= 0.999), "{alias}");

    // A dataset is a source or a list name; others are not found.
    let list = url_encode("Demo forced-labour list");
    for dataset in ["demo", list.as_str()] {
        let answer =
            send(&api, "POST", &format!("/match/{dataset}"), &auth, Some(("application/json", body.to_string()))).await;
        assert_eq!(answer.status, StatusCode::OK, "{dataset}: {}", answer.body);
        assert_eq!(answer.body["responses"]["listed"]["results"][0]["id"], "watchlist/demo/DEMO-W-001", "{dataset}");
    }
    let answer = send(&api, "POST", "/match/us_ofac_sdn", &auth, Some(("application/json", body.to_string()))).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body["error"].as_str().unwrap().contains("demo"),
        "it names the datasets there are: {}",
        answer.body
    );
}

async fn yente_match_refuses_what_it_cannot_answer(store: Store) {
    let api = Api::new(&store).await;
    let officer = bearer(&api, Role::Officer);
    let auth = [("authorization", officer.as_str())];
    let cases = [
        (json!({ "queries": {} }), "queries: give 1 to 100"),
        (
            json!({ "queries": { "q": { "schema": "Company", "properties": { "country": ["pe"] } } } }),
            "queries.q.properties: give a name",
        ),
        (
            json!({ "queries": { "q": { "schema": "Company", "properties": { "name": ["X"], "country": ["Atlantis"] } } } }),
            "queries.q.properties.country:",
        ),
        (
            json!({ "queries": { "q": { "schema": "Company", "properties": { "name": "X" } } }, "threshold": 2 }),
            "threshold must be between 0 and 1",
        ),
        (
            json!({ "queries": { "q": { "schema": "", "properties": { "name": "X" } } } }),
            "queries.q.schema must not be empty",
        ),
    ];
    for (body, message) in cases {
        let answer = send(&api, "POST", "/match/default", &auth, Some(("application/json", body.to_string()))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap().starts_with(message), "{body}: {}", answer.body);
    }
    let inspector = bearer(&api, Role::Inspector);
    let body = json!({ "queries": { "q": { "schema": "Company", "properties": { "name": "X" } } } });
    let answer = send(
        &api,
        "POST",
        "/match/default",
        &[("authorization", &inspector)],
        Some(("application/json", body.to_string())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

/// The 0.2 manifest schema (`schemas/manifest.json`): required fields, `versions`
/// containing "0.2", URL templates with `{{id}}`, the preview's size, suggest services,
/// and an OpenAPI 2 security definition for `authentication`.
fn check_manifest(manifest: &Value) {
    let object = manifest.as_object().expect("the manifest is an object");
    for field in ["name", "identifierSpace", "schemaSpace"] {
        assert!(object[field].is_string(), "manifest.{field}: {manifest}");
    }
    let versions = manifest["versions"].as_array().expect("manifest.versions");
    assert!(versions.iter().all(Value::is_string) && versions.contains(&json!("0.2")), "{manifest}");
    for template in ["view", "preview"] {
        assert!(manifest[template]["url"].as_str().unwrap().contains("{{id}}"), "manifest.{template}.url");
    }
    assert!(manifest["preview"]["width"].is_u64() && manifest["preview"]["height"].is_u64(), "preview size");
    let types = manifest["defaultTypes"].as_array().unwrap();
    let ids: Vec<&str> = types.iter().map(|each| each["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["watchlist", "suppliers", "agencies"]);
    assert!(types.iter().all(|each| each["name"].is_string()));
    let entity = &manifest["suggest"]["entity"];
    assert!(entity["service_url"].is_string() && entity["service_path"].is_string(), "{manifest}");
    let authentication = &manifest["authentication"];
    assert_eq!(authentication["type"], "apiKey");
    assert!(authentication["name"].is_string());
    assert!(["header", "query"].contains(&authentication["in"].as_str().unwrap()));
    assert!(manifest["batchSize"].is_u64());
}

/// The 0.2 reconciliation-result-batch schema: every member of the batch is an object
/// with a `result` array of candidates with `id`, `name` and `score`, and, where
/// present, a string `description`, a boolean `match`, `type` a list of `{id, name}` (or
/// strings) and `features` a list of `{id, value}` with a boolean or number value.
fn check_result_batch(batch: &Value) {
    for (key, member) in batch.as_object().expect("the batch is an object") {
        for candidate in member["result"].as_array().unwrap_or_else(|| panic!("{key}.result: {member}")) {
            assert!(candidate["id"].is_string() && candidate["name"].is_string(), "{candidate}");
            assert!(candidate["score"].is_number(), "{candidate}");
            assert!(candidate.get("description").is_none_or(Value::is_string), "{candidate}");
            assert!(candidate.get("match").is_none_or(Value::is_boolean), "{candidate}");
            for each in candidate["type"].as_array().into_iter().flatten() {
                assert!(each.is_string() || each["id"].is_string(), "{candidate}");
            }
            for feature in candidate["features"].as_array().into_iter().flatten() {
                assert!(feature["id"].is_string(), "{candidate}");
                assert!(feature["value"].is_boolean() || feature["value"].is_number(), "{candidate}");
            }
        }
    }
}

/// The 0.2 suggest-entities-response schema.
fn check_suggestions(answer: &Value) {
    for suggestion in answer["result"].as_array().expect("result") {
        assert!(suggestion["id"].is_string() && suggestion["name"].is_string(), "{suggestion}");
        assert!(suggestion.get("description").is_none_or(Value::is_string));
        for each in suggestion["notable"].as_array().into_iter().flatten() {
            assert!(each.is_string() || each["id"].is_string(), "{suggestion}");
        }
    }
}

fn feature<'a>(candidate: &'a Value, id: &str) -> &'a Value {
    candidate["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|feature| feature["id"] == id)
        .map_or(&Value::Null, |f| &f["value"])
}

async fn reconciliation_manifest_queries_and_properties_follow_the_specification(store: Store) {
    let api = Api::new(&store).await;
    // The manifest needs no key.
    let answer = send(&api, "GET", "/reconcile", &[("host", "cadena.example:8080")], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    check_manifest(&answer.body);
    assert_eq!(answer.body["preview"]["url"], "http://cadena.example:8080/reconcile/preview?id={{id}}");

    let queries = json!({
        "q0": { "query": "Minera Ficticia Oro Verde", "type": "watchlist",
                "properties": [{ "pid": "country", "v": "PE" }, { "pid": "tax_id", "v": "20999999990" }] },
        "q1": { "query": "Personal Ejemplo", "type": "agencies", "limit": 3,
                "properties": [{ "pid": "licence_number", "v": ["DEMO-LIC-0102"] }] },
        "q2": { "query": "Minera Ficticia Oro Verde", "properties": [{ "pid": "country", "v": "BR" }] },
        "q3": { "query": "Zzyzx Qwertyuiop" },
        "q4": { "query": "Minera Ficticia", "type": ["suppliers", "watchlist"] },
    });
    let inspector = bearer(&api, Role::Inspector);
    let form = format!("queries={}", form_encode(&queries.to_string()));
    let answer = send(
        &api,
        "POST",
        "/reconcile",
        &[("authorization", &inspector)],
        Some(("application/x-www-form-urlencoded", form.clone())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    check_result_batch(&answer.body);
    let index_version = api.screening.index_status().index_version;
    assert_eq!(header(&answer, "x-cadena-dataset-version"), index_version.to_string());
    let batch = answer.body.clone();
    let top = &batch["q0"]["result"][0];
    assert_eq!(top["id"], "watchlist/demo/DEMO-W-001");
    assert_eq!(top["name"], "Minera Ficticia Oro Verde S.A.C.");
    assert_eq!(top["match"], true, "{top}");
    assert_eq!(
        top["type"],
        json!([{ "id": "watchlist", "name": "Watchlist entity (forced labour, trafficking, debarment)" }])
    );
    assert_eq!(feature(top, "same_tax_id"), true, "the tax id property is evidence: {top}");
    assert_eq!(feature(top, "country_mismatch"), false);
    let agency = &batch["q1"]["result"][0];
    assert_eq!(agency["id"], "agencies/demo/DEMO-A-002", "{}", batch["q1"]);
    assert_eq!(feature(agency, "same_licence_number"), true, "{agency}");
    assert!(batch["q1"]["result"].as_array().unwrap().len() <= 3, "the query's limit holds");
    // The country is evidence too: the wrong country scores lower and says so.
    let elsewhere = &batch["q2"]["result"][0];
    assert_eq!(elsewhere["id"], "watchlist/demo/DEMO-W-001");
    assert_eq!(feature(elsewhere, "country_mismatch"), true, "{elsewhere}");
    assert!(elsewhere["score"].as_f64().unwrap() < top["score"].as_f64().unwrap());
    assert!(batch["q3"]["result"].as_array().unwrap().iter().all(|candidate| candidate["match"] == false));
    let kinds: Vec<&Value> = batch["q4"]["result"].as_array().unwrap().iter().map(|c| &c["type"][0]["id"]).collect();
    assert!(kinds.contains(&&json!("suppliers")) && kinds.contains(&&json!("watchlist")), "{kinds:?}");

    // The same batch by GET, and with the key in X-Api-Key as the manifest says.
    let uri = format!("/reconcile?queries={}", url_encode(&queries.to_string()));
    let answer = send(&api, "GET", &uri, &[("x-api-key", api.key(Role::Officer))], None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, batch);
    // Queries need a key; bad queries get a reason.
    let answer = send(&api, "GET", &uri, &[], None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = send(&api, "POST", "/reconcile", &[], Some(("application/x-www-form-urlencoded", form))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let auth = [("authorization", inspector.as_str())];
    for (queries, message) in [
        ("not json", "queries: not a JSON object"),
        (r#"{"q": {"query": "x", "type": "person"}}"#, "q.type: \"person\" is not a type"),
        (r#"{"q": {"query": "x", "properties": [{"pid": "colour", "v": "red"}]}}"#, "q.properties: \"colour\""),
        (r#"{"q": {"query": "x", "properties": [{"pid": "country", "v": "Atlantis"}]}}"#, "q.properties.country:"),
        (r#"{"q": {}}"#, "q: give a `query`"),
    ] {
        let form = format!("queries={}", form_encode(queries));
        let answer = send(&api, "POST", "/reconcile", &auth, Some(("application/x-www-form-urlencoded", form))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{queries}");
        assert!(answer.body["error"].as_str().unwrap().starts_with(message), "{queries}: {}", answer.body);
    }
}

async fn reconciliation_suggest_preview_and_cors(store: Store) {
    let api = Api::new(&store).await;
    let inspector = bearer(&api, Role::Inspector);
    let auth = [("authorization", inspector.as_str())];
    let answer = send(&api, "GET", "/reconcile/suggest/entity?prefix=Minera%20Ficticia", &auth, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    check_suggestions(&answer.body);
    let ids: Vec<&str> = answer.body["result"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"watchlist/demo/DEMO-W-001") && ids.contains(&"suppliers/demo/DEMO-S-001"), "{ids:?}");
    let answer = send(&api, "GET", "/reconcile/suggest/entity?prefix=inventada&type=agencies", &auth, None).await;
    check_suggestions(&answer.body);
    let result = answer.body["result"].as_array().unwrap();
    assert_eq!(result[0]["id"], "agencies/demo/DEMO-A-001", "{}", answer.body);
    assert!(result.iter().all(|s| s["notable"][0]["id"] == "agencies"));
    assert_eq!(
        send(&api, "GET", "/reconcile/suggest/entity?prefix=x", &[], None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let answer = send(&api, "GET", "/reconcile/suggest/entity?prefix=x&type=person", &auth, None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    // A watchlist entity's preview needs no key (OpenRefine's iframe cannot send one) and may be framed.
    let answer = send(&api, "GET", "/reconcile/preview?id=watchlist/demo/DEMO-W-001", &[], None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(header(&answer, "content-type").starts_with("text/html"));
    let html = answer.body.as_str().unwrap();
    assert!(html.contains("<h1>Minera Ficticia Oro Verde S.A.C.</h1>") && html.contains("Madre de Dios"), "{html}");
    assert!(header(&answer, "content-security-policy").contains("frame-ancestors *"));
    assert!(answer.headers.get("x-frame-options").is_none());
    // A supplier's needs a key; an unknown one is not found; a bad id is a 400.
    let supplier = "/reconcile/preview?id=suppliers/demo/DEMO-S-001";
    assert_eq!(send(&api, "GET", supplier, &[], None).await.status, StatusCode::UNAUTHORIZED);
    let answer = send(&api, "GET", supplier, &auth, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.as_str().unwrap().contains("DEMO-A-001"));
    let answer = send(&api, "GET", "/reconcile/preview?id=watchlist/demo/NOPE", &[], None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&api, "GET", "/reconcile/preview?id=nope", &[], None).await.status, StatusCode::BAD_REQUEST);

    // CORS on every reconciliation endpoint, preflight included.
    let origin = ("origin", "http://127.0.0.1:3333");
    for path in ["/reconcile", "/reconcile/suggest/entity", "/reconcile/preview"] {
        let preflight =
            [origin, ("access-control-request-method", "POST"), ("access-control-request-headers", "x-api-key")];
        let answer = send(&api, "OPTIONS", path, &preflight, None).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.status);
        assert_eq!(header(&answer, "access-control-allow-origin"), "*", "{path}");
        assert!(header(&answer, "access-control-allow-methods").contains("POST"), "{path}");
        assert!(header(&answer, "access-control-allow-headers").to_lowercase().contains("x-api-key"), "{path}");
    }
    for uri in ["/reconcile", "/reconcile/suggest/entity?prefix=x", "/reconcile/preview?id=watchlist/demo/DEMO-W-001"] {
        let answer = send(&api, "GET", uri, &[origin, auth[0]], None).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        assert_eq!(header(&answer, "access-control-allow-origin"), "*", "{uri}");
    }
}
