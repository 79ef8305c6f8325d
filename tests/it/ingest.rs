//! Loading files into the store: every kind, re-loads, bad rows, real-world encodings,
//! files that cannot be read, and the background worker.

use cadena::demo::{self, DEMO_FILES};
use cadena::ingest::worker::Worker;
use cadena::ingest::{self, LoadReport, LoadRequest};
use cadena::records::{Agency, LicenceEntry, ProcurementLine, RecordKind, Supplier, WatchlistEntry};
use cadena::store::datasets::NewLoad;
use cadena::store::{LoadStatus, Store};

use crate::harness::store_tests;

store_tests!(
    every_kind_loads_and_reloading_changes_nothing,
    changed_rows_are_updated_and_new_ones_inserted,
    bad_rows_are_reported_and_good_rows_kept,
    windows_1252_semicolon_file_keeps_spanish_and_portuguese_text,
    records_read_back_with_every_field,
    a_file_without_a_required_column_fails_and_loads_nothing,
    the_worker_runs_queued_loads,
    loads_whose_lease_expired_are_taken_over_or_interrupted,
);

async fn load(store: &Store, kind: RecordKind, file_name: &str, bytes: &[u8]) -> LoadReport {
    let request =
        LoadRequest { kind, source: "test".to_owned(), file_name: file_name.to_owned(), bytes: bytes.to_vec() };
    ingest::load_file(store, request).await.expect("load should succeed")
}

/// (inserted, updated, unchanged, rejected)
fn counts(report: &LoadReport) -> (i64, i64, i64, i64) {
    let d = &report.dataset;
    (d.n_inserted, d.n_updated, d.n_unchanged, d.n_rejected)
}

async fn every_kind_loads_and_reloading_changes_nothing(store: Store) {
    let first = demo::load_demo(&store).await.unwrap();
    for (report, (kind, _, bytes)) in first.iter().zip(DEMO_FILES) {
        let n_lines = String::from_utf8_lossy(bytes).lines().count() as i64 - 1;
        assert_eq!(report.dataset.kind, kind);
        assert_eq!(report.dataset.status, LoadStatus::Completed);
        assert_eq!(counts(report), (n_lines, 0, 0, 0), "{kind}: {:?}", report.rejected);
        assert_eq!(store.count_records(kind).await.unwrap(), n_lines, "{kind}");
    }
    let second = demo::load_demo(&store).await.unwrap();
    for (report, (kind, _, _)) in second.iter().zip(DEMO_FILES) {
        let n_records = store.count_records(kind).await.unwrap();
        assert_eq!(counts(report), (0, 0, n_records, 0), "{kind}");
    }
    // Every completed load made the next store version, in commit order.
    let versions: Vec<Option<i64>> = first.iter().chain(&second).map(|report| report.dataset.version).collect();
    assert_eq!(versions, (1..=10).map(Some).collect::<Vec<_>>());
    assert_eq!(store.store_version().await.unwrap(), 10);
    assert_eq!(store.list_loads(100).await.unwrap().len(), 10);
}

async fn changed_rows_are_updated_and_new_ones_inserted(store: Store) {
    let v1 = "entity_id,name,country\nW-1,Ejemplo Uno S.A.C.,PE\nW-2,Ejemplo Dos S.A.,CO\n";
    let v2 =
        "name,entity_id,country,note\nEjemplo Uno S.A.C.,W-1,PE,\nEjemplo Dos SA,W-2,CO,\nEjemplo Tres,W-3,BR,new\n";
    assert_eq!(counts(&load(&store, RecordKind::Watchlist, "v1.csv", v1.as_bytes()).await), (2, 0, 0, 0));
    assert_eq!(counts(&load(&store, RecordKind::Watchlist, "v2.csv", v2.as_bytes()).await), (1, 1, 1, 0));
    assert_eq!(store.count_records(RecordKind::Watchlist).await.unwrap(), 3);
    let w2: WatchlistEntry = store.get_record("test", "W-2").await.unwrap().unwrap();
    assert_eq!(w2.name, "Ejemplo Dos SA");
    let w3: WatchlistEntry = store.get_record("test", "W-3").await.unwrap().unwrap();
    assert_eq!(w3.extra.get("note").map(String::as_str), Some("new"));

    // The same ids in another source are other records.
    let request = LoadRequest {
        kind: RecordKind::Watchlist,
        source: "another-list".to_owned(),
        file_name: "v1.csv".to_owned(),
        bytes: v1.as_bytes().to_vec(),
    };
    let report = ingest::load_file(&store, request).await.unwrap();
    assert_eq!(counts(&report), (2, 0, 0, 0));
    assert_eq!(store.count_records(RecordKind::Watchlist).await.unwrap(), 5);
}

async fn bad_rows_are_reported_and_good_rows_kept(store: Store) {
    let file = "\
procurement_id,line_id,supplier_name,origin_country,quantity,value,currency,award_date
P-1,1,Ejemplo SAC,PE,10,\"1.500,50\",PEN,2025-01-31
P-1,2,Ejemplo SAC,Narnia,ten,100,PEN,2025-01-31
P-2,,Otro Ejemplo,PE,1,1,PEN,2025-02-01
P-3,1,\"Nombre con
salto de línea\",CO,1,2,COP,31/01/2025
P-4,1,Ejemplo,PE,1,2,PEN,2025-02-30
P-1,1,Ejemplo SAC repetido,PE,1,1,PEN,2025-01-31
P-5,1,Ejemplo,PE,1,2,PEN,2025-03-01,unexpected
P-6,1,Último Ejemplo,PE,1,2,soles,2025-03-01
";
    let report = load(&store, RecordKind::Procurements, "lines.csv", file.as_bytes()).await;
    assert_eq!(counts(&report), (2, 0, 0, 6), "six rows rejected, one of them for two fields");
    assert_eq!(report.dataset.n_rows, 8);
    let messages: Vec<String> = report.rejected.iter().map(|row| row.message("lines.csv")).collect();
    let expected_prefixes = [
        "lines.csv:3: origin_country: \"Narnia\" is not an ISO 3166-1 country",
        "lines.csv:3: quantity: \"ten\" is not a number",
        "lines.csv:4: line_id: is empty but required",
        "lines.csv:7: award_date: \"2025-02-30\" is not a date",
        "lines.csv:8: procurement_id+line_id: \"[\\\"P-1\\\",\\\"1\\\"]\" repeats the key of line 2",
        "lines.csv:9: row: row has 9 cells but the header has 8 columns",
        "lines.csv:10: currency: \"soles\" is not an ISO 4217 currency code",
    ];
    assert_eq!(messages.len(), expected_prefixes.len(), "{messages:#?}");
    for (message, prefix) in messages.iter().zip(expected_prefixes) {
        assert!(message.starts_with(prefix), "{message:?} should start with {prefix:?}");
    }
    // The rejected rows are stored with the load.
    let stored = store.rejected_rows(report.dataset.id, 100, 0).await.unwrap();
    assert_eq!(stored, report.rejected);

    let p1: ProcurementLine = store.get_record("test", r#"["P-1","1"]"#).await.unwrap().unwrap();
    assert_eq!(p1.value, Some(1500.5));
    assert_eq!(p1.supplier_name.as_deref(), Some("Ejemplo SAC"));
    let p3: ProcurementLine = store.get_record("test", r#"["P-3","1"]"#).await.unwrap().unwrap();
    assert_eq!(p3.supplier_name.as_deref(), Some("Nombre con\nsalto de línea"));
    assert_eq!(p3.award_date.unwrap().to_string(), "2025-01-31");
}

async fn windows_1252_semicolon_file_keeps_spanish_and_portuguese_text(store: Store) {
    let text = "\
supplier_id;name;aliases;country;region;sector
S-1;Compañía Minera Ficticia Señor de los Andes S.A.C.;Peñón Ficticio|Año Nuevo;Perú;Junín;minería
S-2;Indústria de Calçados Fictícia São João Ltda;Calçados Imaginários;Brasil;São Paulo;calçados
S-3;Café Ejemplo Colombia;;Colombia;Huila;café
";
    let (encoded, _, had_errors) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!had_errors);
    let report = load(&store, RecordKind::Suppliers, "proveedores.csv", &encoded).await;
    assert_eq!(counts(&report), (3, 0, 0, 0), "{:?}", report.rejected);
    assert_eq!(report.dataset.encoding.as_deref(), Some("windows-1252"));
    assert_eq!(report.dataset.delimiter.as_deref(), Some("semicolon"));

    let s1: Supplier = store.get_record("test", "S-1").await.unwrap().unwrap();
    assert_eq!(s1.name, "Compañía Minera Ficticia Señor de los Andes S.A.C.");
    assert_eq!(s1.aliases, vec!["Peñón Ficticio", "Año Nuevo"]);
    assert_eq!(s1.country.as_deref(), Some("PE"));
    assert_eq!(s1.region_code.as_deref(), Some("PE-JUN"));
    let s2: Supplier = store.get_record("test", "S-2").await.unwrap().unwrap();
    assert_eq!(s2.name, "Indústria de Calçados Fictícia São João Ltda");
    assert_eq!(s2.region_code.as_deref(), Some("BR-SP"));
    assert_eq!(s2.sector.as_deref(), Some("calçados"));

    // The same text as UTF-8 with a BOM is the same rows: all unchanged.
    let mut utf8 = b"\xEF\xBB\xBF".to_vec();
    utf8.extend_from_slice(text.as_bytes());
    let report = load(&store, RecordKind::Suppliers, "proveedores-utf8.csv", &utf8).await;
    assert_eq!(counts(&report), (0, 0, 3, 0));
}

async fn records_read_back_with_every_field(store: Store) {
    demo::load_demo(&store).await.unwrap();
    let source = demo::DEMO_SOURCE;
    let agency: Agency = store.get_record(source, "DEMO-A-001").await.unwrap().unwrap();
    assert_eq!(agency.licence_status.as_deref(), Some("unlicensed"));
    assert_eq!(agency.charges_worker_fees, Some(true));
    assert_eq!(agency.region_code.as_deref(), Some("PE-MDD"));
    let agency: Agency = store.get_record(source, "DEMO-A-003").await.unwrap().unwrap();
    assert_eq!(agency.licence_status.as_deref(), Some("suspended"));
    assert_eq!(agency.charges_worker_fees, None);

    let entry: WatchlistEntry = store.get_record(source, "DEMO-W-002").await.unwrap().unwrap();
    assert_eq!(entry.tax_id.as_deref(), Some("11.111.111/0001-91"));
    assert_eq!(entry.tax_id_key.as_deref(), Some("11111111000191"));
    assert_eq!(entry.listed_on.unwrap().to_string(), "2022-11-03");

    let licence: LicenceEntry = store.get_record(source, "DEMO-LIC-0077").await.unwrap().unwrap();
    assert_eq!(licence.status.as_deref(), Some("suspended"));

    let line: ProcurementLine = store.get_record(source, r#"["DEMO-P-2025-004","1"]"#).await.unwrap().unwrap();
    assert_eq!(line.value, Some(120_000.0));
    assert_eq!(line.currency.as_deref(), Some("BRL"));
    assert!(line.agency_ids.is_empty());

    let suppliers: Vec<Supplier> = store.list_records(100, 0).await.unwrap();
    assert_eq!(suppliers.len(), 6);
    let gold = suppliers.iter().find(|s| s.supplier_id == "DEMO-S-001").unwrap();
    assert_eq!(gold.products, vec!["lingotes de oro", "oro en bruto"]);
    assert_eq!(gold.agency_ids, vec!["DEMO-A-001"]);
}

async fn a_file_without_a_required_column_fails_and_loads_nothing(store: Store) {
    let request = LoadRequest {
        kind: RecordKind::Agencies,
        source: "test".to_owned(),
        file_name: "agencias.csv".to_owned(),
        // `razon_social` would be recognised as the name (a header alias); `telefono` is not.
        bytes: b"agency_id,telefono\nA-1,555\n".to_vec(),
    };
    let err = ingest::load_file(&store, request).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.starts_with("agencias.csv:1: the header lacks the required column name"), "{message}");
    assert_eq!(store.count_records(RecordKind::Agencies).await.unwrap(), 0);
    let loads = store.list_loads(10).await.unwrap();
    assert_eq!(loads[0].status, LoadStatus::Failed);
    assert!(loads[0].error.as_deref().unwrap().contains("required column name"));
    assert_eq!(store.store_version().await.unwrap(), 0, "a failed load makes no store version");
    assert_eq!(loads[0].version, None);
}

async fn the_worker_runs_queued_loads(store: Store) {
    // Queued with its file in the store: any worker, on any host, can run it.
    let good = b"licence_number,holder_name,status\nL-1,Agencia Ejemplo,vigente\n";
    let bad = b"holder_name\nAgencia Sin Numero\n";
    for (name, bytes) in [("licences.csv", &good[..]), ("sin-numero.csv", &bad[..])] {
        let new_load =
            NewLoad { kind: RecordKind::Licences, source: "test", file_name: name, format: None, column_map: &[] };
        let queued = store.queue_load(&new_load, bytes).await.unwrap();
        assert_eq!((queued.status, queued.worker), (LoadStatus::Queued, None));
    }
    let reports = Worker::new(store.clone()).run_until_idle().await.unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(counts(reports[0].as_ref().unwrap()), (1, 0, 0, 0));
    assert!(reports[1].as_ref().unwrap_err().contains("sin-numero.csv:1: the header lacks"), "{reports:?}");
    let loads = store.list_loads(10).await.unwrap();
    assert_eq!(loads[0].status, LoadStatus::Failed);
    assert_eq!(loads[1].status, LoadStatus::Completed);
    assert_eq!(loads[1].worker.as_deref(), Some(store.worker_id()));
    assert_eq!((loads[1].attempts, loads[1].lease_until.as_deref()), (1, None));
    let licence: LicenceEntry = store.get_record("test", "L-1").await.unwrap().unwrap();
    assert_eq!(licence.status.as_deref(), Some("active"));
    // Nothing left to do.
    assert!(Worker::new(store).run_until_idle().await.unwrap().is_empty());
}

/// A load is its worker's while the lease runs. When the lease expires, a queued load
/// (its file is in the store) is run again by another worker, and a load run from a file
/// the store does not have (a killed `cadena ingest`) is marked interrupted.
async fn loads_whose_lease_expired_are_taken_over_or_interrupted(store: Store) {
    let expire = |id: i64| {
        sqlx::query("UPDATE datasets SET lease_until = '2000-01-01T00:00:00.000Z' WHERE id = $1")
            .bind(id)
            .execute(store.pool())
    };
    let new_load =
        NewLoad { kind: RecordKind::Suppliers, source: "test", file_name: "big.csv", format: None, column_map: &[] };
    let live = store.create_running_load(&new_load).await.unwrap();
    let dead = store.create_running_load(&new_load).await.unwrap();
    expire(dead).await.unwrap();
    assert_eq!(store.end_abandoned_loads().await.unwrap(), 1);
    assert_eq!(store.get_load(dead).await.unwrap().unwrap().status, LoadStatus::Interrupted);
    assert_eq!(store.get_load(live).await.unwrap().unwrap().status, LoadStatus::Running);

    // Another worker (a dead host, as far as leases go) claimed a queued load.
    let queued = store.queue_load(&new_load, b"supplier_id,name\nS-1,Proveedor Uno\n").await.unwrap();
    let other = store.with_new_worker_id();
    let claimed = other.claim_queued_load().await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.worker.as_deref()), (queued.id, Some(other.worker_id())));
    assert!(Worker::new(store.clone()).run_until_idle().await.unwrap().is_empty(), "its lease still runs");
    expire(queued.id).await.unwrap();
    let reports = Worker::new(store.clone()).run_until_idle().await.unwrap();
    assert_eq!(counts(reports[0].as_ref().unwrap()), (1, 0, 0, 0));
    let load = store.get_load(queued.id).await.unwrap().unwrap();
    assert_eq!(
        (load.status, load.attempts, load.worker.as_deref()),
        (LoadStatus::Completed, 2, Some(store.worker_id()))
    );
    // The first worker, had it only paused, can no longer fail or complete it.
    other.fail_load(queued.id, "late").await.unwrap();
    assert_eq!(store.get_load(queued.id).await.unwrap().unwrap().status, LoadStatus::Completed);
}
