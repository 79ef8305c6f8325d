//! Security: how keys are stored and checked, hostile search and screening input, CSV
//! formula injection in reports, and what the server writes to its logs. (The endpoint ×
//! role matrix is in `http::every_endpoint_admits_exactly_its_roles`.)

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use cadena::audit::AuditWorker;
use cadena::store::Store;
use cadena::store::keys::Role;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::{TestDb, store_tests};
use crate::http::{Api, Processes};

store_tests!(
    keys_are_stored_as_argon2id_hashes_and_checked_whole,
    a_key_from_before_argon2_still_works_and_is_rehashed,
    a_revoked_key_is_refused_at_once_even_after_use,
    hostile_search_and_screening_input_gets_answers_or_a_clean_400,
    audit_reports_neutralise_spreadsheet_formulas,
);

async fn stored_key_row(store: &Store, id: i64) -> (String, Option<String>) {
    let row: (String, Option<String>) = sqlx::query_as("SELECT key_lookup, key_hash FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    row
}

async fn keys_are_stored_as_argon2id_hashes_and_checked_whole(store: Store) {
    let (key, secret) = store.create_key("officer", Role::Officer).await.unwrap();
    let digits = secret.strip_prefix("cadena_").unwrap();
    let (lookup, hash) = stored_key_row(&store, key.id).await;
    let hash = hash.expect("a new key has a hash");
    assert_eq!(lookup, format!("v2:{}", &digits[..16]), "the lookup id is the key's first 16 digits");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&digits[16..]) && !lookup.contains(&digits[16..]), "the secret part is not stored");

    assert_eq!(store.authenticate(&secret).await.unwrap().map(|found| found.id), Some(key.id));
    // The right lookup id with a wrong secret part, a truncated key, and junk.
    let wrong = format!("cadena_{}{}", &digits[..16], "0".repeat(48));
    for presented in [wrong.as_str(), &secret[..secret.len() - 1], "cadena_", "", "Bearer x", "cadena_zz"] {
        assert!(store.authenticate(presented).await.unwrap().is_none(), "{presented:?} must not authenticate");
    }
}

async fn a_key_from_before_argon2_still_works_and_is_rehashed(store: Store) {
    let secret = format!("cadena_{}", "ab".repeat(32));
    let sha256 = hex::encode(Sha256::digest(secret.as_bytes()));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (name, role, key_lookup, created_at) VALUES ('old', 'auditor', $1, '2026-01-01T00:00:00.000Z') RETURNING id",
    )
    .bind(&sha256)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let found = store.authenticate(&secret).await.unwrap().expect("the old key still works");
    assert_eq!((found.id, found.role), (id, Role::Auditor));
    let (lookup, hash) = stored_key_row(&store, id).await;
    assert_eq!(lookup, format!("v2:{}", "ab".repeat(8)), "the SHA-256 is gone");
    assert!(hash.is_some_and(|hash| hash.starts_with("$argon2id$")));
    assert!(store.authenticate(&secret).await.unwrap().is_some(), "and it works after the rehash");
}

async fn a_revoked_key_is_refused_at_once_even_after_use(store: Store) {
    let api = Api::new(&store).await;
    let (key, secret) = store.create_key("soon gone", Role::Inspector).await.unwrap();
    let (status, _) = api.call("GET", "/v1/search?q=ficticia", Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(store.revoke_key(key.id).await.unwrap());
    let (status, body) = api.call("GET", "/v1/search?q=ficticia", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// Percent-encodes a query-string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

const HOSTILE_TEXTS: &[&str] = &[
    "' OR 1=1 --",
    "x'; DROP TABLE suppliers; --",
    "\" OR \"\"=\"",
    "name:ficticia AND (",
    "*:*",
    "terms:[a TO z]",
    "ficticia~2^10",
    "%_%",
    "\\",
    "\u{0}\u{1}\u{7f}",
    "ﬁcticia 🦀 مؤسسة",
    "(((((((((((((((((((((",
];

async fn hostile_search_and_screening_input_gets_answers_or_a_clean_400(store: Store) {
    let api = Api::new(&store).await;
    let long = "ficticia ".repeat(2000);
    for text in HOSTILE_TEXTS.iter().copied().chain([long.as_str()]) {
        for uri in [format!("/v1/search?q={}", encode(text)), format!("/v1/search?q=a&country={}", encode(text))] {
            let (status, body) = api.get(&uri, Role::Inspector).await;
            assert!(
                status == StatusCode::OK || (status == StatusCode::BAD_REQUEST && body["error"].is_string()),
                "{uri}: {status} {body}"
            );
        }
        let screening = json!({ "supplier": { "supplier_id": text, "name": text, "tax_id": text, "country": "PE" } });
        let (status, body) = api.call("POST", "/v1/screenings", Some(api.key(Role::Officer)), Some(screening)).await;
        assert!(status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST, "{text:?}: {status} {body}");
    }
    // Nothing was dropped or changed: the demo supplier is still found.
    let (status, body) = api.get("/v1/search?kind=watchlist&q=minera%20ficticia", Role::Inspector).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.to_string().contains("Minera Ficticia"), "{body}");
}

async fn audit_reports_neutralise_spreadsheet_formulas(store: Store) {
    let api = Api::new(&store).await;
    let csv = "supplier_id,name,country\n\
               F-1,=HYPERLINK(\"http://evil.example\"),PE\n\
               F-2,+51 999 999,PE\n\
               F-3,-2+3+cmd|' /C calc'!A0,PE\n\
               F-4,@SUM(A1:A9),PE\n\
               F-5,Proveedor Normal SAC,PE\n";
    let (status, audit) = api.upload("formulas.csv", csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{audit}");
    AuditWorker::new(store.clone(), api.screening.clone(), 1).run_until_idle().await.unwrap();
    let uri = format!("/v1/audits/{}/report?format=csv", audit["id"]);
    let (status, bytes) = api.call_raw("GET", &uri, Some(api.key(Role::Auditor)), None).await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let name_column = reader.headers().unwrap().iter().position(|name| name == "input_name").unwrap();
    let names: Vec<String> = reader.records().map(|record| record.unwrap()[name_column].to_owned()).collect();
    for name in &names[..4] {
        assert!(name.starts_with('\''), "{name} must be neutralised");
    }
    assert_eq!(names[4], "Proveedor Normal SAC");
}

/// One HTTP/1.1 request over a plain TCP connection; returns the status line and body.
fn http_request(port: u16, method: &str, path: &str, key: &str, body: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The server logs at debug level while it is sent keys, tax ids and bodies (good and
/// bad, authorised and not); none of them appears in its output.
#[tokio::test]
async fn logs_carry_no_keys_tax_ids_or_request_bodies() {
    let db = TestDb::sqlite().await;
    cadena::demo::load_demo(&db.store).await.unwrap();
    let (_, secret) = db.store.create_key("officer", Role::Officer).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut command = db.cadena(work.path());
    command.args(["serve", "--bind", "127.0.0.1:0"]).env("CADENA_LOG", "debug").stdin(Stdio::null());
    let mut server = Processes(vec![command.spawn().unwrap()]);
    let mut stdout = server.0[0].stdout.take().unwrap();
    // The first line says where it listens.
    let mut first_line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        first_line.push(byte[0]);
    }
    let first_line = String::from_utf8(first_line).unwrap();
    let port: u16 = first_line
        .rsplit_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first_line:?}"));

    let tax_id = "20999999990";
    let marker = "Marcador Confidencial Unico SAC";
    let supplier = json!({ "supplier": { "supplier_id": "S-LOG", "name": marker, "tax_id": tax_id, "country": "PE" } });
    let wrong_key = format!("cadena_{}", "9".repeat(64));
    let answers = [
        http_request(port, "POST", "/v1/screenings", &secret, &supplier.to_string()),
        http_request(port, "POST", "/v1/screenings", &wrong_key, &supplier.to_string()),
        http_request(port, "POST", "/v1/screenings", &secret, &format!("{{\"supplier\": {{\"name\": \"{marker}\", ")),
        http_request(port, "GET", &format!("/v1/search?q={}", encode(marker)), &secret, ""),
    ];
    assert!(answers[0].starts_with("HTTP/1.1 201"), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 401"), "{}", answers[1]);
    assert!(answers[2].starts_with("HTTP/1.1 4"), "{}", answers[2]);

    let mut child = server.0.pop().unwrap();
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let mut logs = first_line;
    std::io::Read::read_to_string(&mut stdout, &mut logs).unwrap();
    logs.push_str(&String::from_utf8_lossy(&output.stdout));
    logs.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(logs.contains("DEBUG") || logs.contains("debug"), "the server logged at debug level: {logs}");
    for secret_text in [secret.as_str(), &secret[7..23], &wrong_key, tax_id, marker] {
        assert!(!logs.contains(secret_text), "the logs carry {secret_text:?}:\n{logs}");
    }
}
