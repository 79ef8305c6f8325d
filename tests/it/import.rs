//! Importers of published formats, on the real files in `../shared/data` (skipped with a
//! message when absent): counts, known values, re-imports that change nothing, and OCDS
//! packages screened end to end.

use std::path::{Path, PathBuf};

use cadena::import::Format;
use cadena::ingest::{self, LoadOptions, LoadReport, LoadRequest};

use cadena::matching::index::EntityIndex;
use cadena::matching::{Matcher, Thresholds};
use cadena::progress::Progress;
use cadena::records::{LicenceEntry, ProcurementLine, RecordKind, Supplier, WatchlistEntry, check_column_map};
use cadena::rules::Ruleset;
use cadena::screening::{self, PreparedFile};
use cadena::store::Store;

use crate::harness::{shared_file, store_tests};

store_tests!(
    every_ocds_file_loads_and_reloads_unchanged,
    lista_suja_loads_with_cnpj_state_activity_and_date,
    cbp_orders_load_with_their_aliases,
    a_missing_number_then_a_number_load_on_postgres,
    a_licence_register_loads_through_its_own_headers,
    spanish_headers_and_an_operator_map_load_suppliers,
    opensanctions_ftm_and_simple_csv_load_with_names_ids_countries_datasets,
    ocds_fixture_loads_lines_with_their_suppliers,
    an_ocds_file_without_lines_says_why,
);

/// Every `.json` file under a folder, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

async fn load_as(store: &Store, kind: RecordKind, source: &str, path: &Path) -> anyhow::Result<LoadReport> {
    let request = LoadRequest {
        kind,
        source: source.to_owned(),
        file_name: path.display().to_string(),
        bytes: std::fs::read(path).unwrap(),
    };
    ingest::load_file(store, request).await
}

/// (rows, inserted, updated, unchanged, rejected)
fn counts(report: &LoadReport) -> [i64; 5] {
    let d = &report.dataset;
    [d.n_rows, d.n_inserted, d.n_updated, d.n_unchanged, d.n_rejected]
}

fn add(total: &mut [i64; 5], report: &LoadReport) {
    for (sum, n) in total.iter_mut().zip(counts(report)) {
        *sum += n;
    }
}

async fn every_ocds_file_loads_and_reloads_unchanged(store: Store) {
    let Some(dir) = shared_file("ocds") else { return };
    let files = json_files(&dir);
    assert_eq!(files.len(), 120);
    let mut suppliers = [0; 5];
    let mut lines = [0; 5];
    let mut empty = 0;
    for pass in 0..2 {
        let (mut pass_suppliers, mut pass_lines) = ([0; 5], [0; 5]);
        for path in &files {
            // One source per file, so that each file's re-import is checked on its own.
            let source = path.strip_prefix(&dir).unwrap().display().to_string();
            let report = match load_as(&store, RecordKind::Suppliers, &source, path).await {
                Ok(report) => report,
                Err(err) => {
                    assert!(std::fs::metadata(path).unwrap().len() == 0, "{}: {err:#}", path.display());
                    assert!(format!("{err:#}").contains("the file is empty"), "{err:#}");
                    empty += 1;
                    continue;
                }
            };
            add(&mut pass_suppliers, &report);
            let report = load_as(&store, RecordKind::Procurements, &source, path).await;
            add(&mut pass_lines, &report.unwrap_or_else(|err| panic!("pass {pass}: {}: {err:#}", path.display())));
        }
        if pass == 0 {
            (suppliers, lines) = (pass_suppliers, pass_lines);
        } else {
            let [rows, _, _, _, rejected] = suppliers;
            assert_eq!(pass_suppliers, [rows, 0, 0, rows - rejected, rejected], "suppliers re-imported");
            let [rows, _, _, _, rejected] = lines;
            assert_eq!(pass_lines, [rows, 0, 0, rows - rejected, rejected], "lines re-imported");
        }
    }
    eprintln!("OCDS: suppliers {suppliers:?}, lines {lines:?}, {empty} empty files");
    assert_eq!(empty, 6, "3 empty files, failing in each pass");
    assert_eq!(suppliers, [SUPPLIER_ROWS, SUPPLIER_ROWS - SUPPLIERS_REJECTED, 0, 0, SUPPLIERS_REJECTED]);
    assert_eq!(lines, [LINE_ROWS, LINE_ROWS - LINES_REJECTED, 0, 0, LINES_REJECTED]);

    // A Paraguayan supplier with its RUC, named in an OCDS 1.0 award.
    let rieder: Supplier =
        store.get_record("paraguay/sample/records/274231.json", "PY-80002612-8").await.unwrap().unwrap();
    assert_eq!(rieder.name, "RIEDER Y CIA. SACI");
    assert_eq!(rieder.tax_id.as_deref(), Some("80002612-8"));
    assert_eq!(rieder.country.as_deref(), Some("PY"));
    // Its contract's items, priced by unit and quantity, with the DNCP catalogue code.
    let lines: Vec<ProcurementLine> = store.list_records(100_000, 0).await.unwrap();
    let modem = lines
        .iter()
        .find(|line| line.procurement_id == "ocds-03ad3f-274231" && line.line_id.ends_with("/puEnpeLAbXw%3D"))
        .expect("the modem line");
    assert_eq!(modem.procurement_id, "ocds-03ad3f-274231");
    assert_eq!(modem.supplier_id.as_deref(), Some("PY-80002612-8"));
    assert_eq!(modem.item_code.as_deref(), Some("43221806-002"));
    assert_eq!(modem.item_description.as_deref(), Some("Modems con interfaces"));
    assert_eq!((modem.quantity, modem.currency.as_deref()), (Some(16.0), Some("PYG")));
    assert_eq!(modem.value, Some(16.0 * 4621617.0));
    // A Colombian supplier whose NIT the SECOP release gives with its check digit.
    let colombian: Supplier = store
        .get_record("colombia/sample/records/ocds-k50g02-16-12-5280389.json", "CO-1012362575-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(colombian.name, "MARTHA ZULENY TORRES BEJARANO");
    assert_eq!(colombian.country.as_deref(), Some("CO"));
}

/// What the 117 non-empty OCDS files hold (each file in a source of its own), Paraguay's
/// contract suppliers (one object, not a list) included.
const SUPPLIER_ROWS: i64 = 93;
const LINE_ROWS: i64 = 749;
/// Two Paraguayan record packages hold only linked releases (no data to read).
const SUPPLIERS_REJECTED: i64 = 2;
/// Those two records, and one rejection for each of the 41 files that give no line
/// (39 hold only a tender, the two record packages nothing readable), saying why.
const LINES_REJECTED: i64 = 2 + 41;

async fn lista_suja_loads_with_cnpj_state_activity_and_date(store: Store) {
    let Some(path) = shared_file("watchlists/br_lista_suja_2023-03-09_companies.csv") else { return };
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(Format::detect(&path.display().to_string(), &bytes), Format::ListaSuja);
    let first = load_as(&store, RecordKind::Watchlist, "lista-suja", &path).await.unwrap();
    // 53 rows, one employer listed for two establishments.
    assert_eq!(counts(&first), [52, 52, 0, 0, 0], "{:?}", first.rejected);
    let again = load_as(&store, RecordKind::Watchlist, "lista-suja", &path).await.unwrap();
    assert_eq!(counts(&again), [52, 0, 0, 52, 0]);
    let entry: WatchlistEntry = store.get_record("lista-suja", "02387202000163").await.unwrap().unwrap();
    assert_eq!(entry.name, "Agrícola Minas Norte Ltda.");
    assert_eq!(entry.tax_id.as_deref(), Some("02.387.202/0001-63"));
    assert_eq!(entry.country.as_deref(), Some("BR"));
    assert_eq!(entry.list.as_deref(), Some("Lista Suja (BR MTE)"));
    assert_eq!(entry.listed_on.map(|d| d.to_string()).as_deref(), Some("2021-10-05"));
    assert_eq!(entry.extra.get("state").map(String::as_str), Some("MG"));
    assert_eq!(entry.extra.get("cnae").map(String::as_str), Some("1199-0/05"));
    assert_eq!(entry.extra.get("workers_involved").map(String::as_str), Some("46"));
    let twice: WatchlistEntry = store.get_record("lista-suja", "03592334000866").await.unwrap().unwrap();
    assert!(twice.reason.unwrap().contains("também"), "the second establishment is kept in the reason");
}

async fn cbp_orders_load_with_their_aliases(store: Store) {
    let Some(path) = shared_file("watchlists/cbp_wro_names_aliases.csv") else { return };
    let first = load_as(&store, RecordKind::Watchlist, "cbp", &path).await.unwrap();
    assert_eq!(counts(&first), [83, 83, 0, 0, 0], "{:?}", first.rejected);
    let again = load_as(&store, RecordKind::Watchlist, "cbp", &path).await.unwrap();
    assert_eq!(counts(&again), [83, 0, 0, 83, 0]);
    let entry: WatchlistEntry = store.get_record("cbp", "cbp017-1").await.unwrap().unwrap();
    assert_eq!(entry.name, "Tianjin Malleable Iron Factory");
    assert!(entry.aliases.contains(&"Tianjin No. 2 Prison".to_owned()), "{:?}", entry.aliases);
    assert_eq!(entry.list.as_deref(), Some("CBP WRO"));
}

/// Screening every OCDS sample as `cadena screen` does: a row per awarded line, goods
/// mapped from Spanish descriptions, no panic and no unreadable file but the empty ones.
#[tokio::test]
async fn ocds_samples_screen_end_to_end() {
    let Some(dir) = shared_file("ocds") else { return };
    let db = crate::harness::TestDb::sqlite().await;
    let index_dir = tempfile::tempdir().unwrap();
    let matcher = Matcher::new(EntityIndex::open_or_create(index_dir.path()).unwrap(), Thresholds::default());
    let view = matcher.index().view();
    let ruleset = Ruleset::bundled();
    let (mut n_rows, mut n_errors, mut n_goods, mut n_failed) = (0, 0, 0, 0);
    let mut all_rows = Vec::new();
    for path in json_files(&dir) {
        let bytes = std::fs::read(&path).unwrap();
        let expected_lines = match cadena::import::ocds::parse(&bytes) {
            // A file that gives no line is one row saying why.
            Ok(data) => data.lines.len() + data.rejected.len() + usize::from(data.no_lines.is_some()),
            Err(_) => {
                n_failed += 1;
                assert!(PreparedFile::read(&db.store, "x.json", bytes).await.is_err());
                continue;
            }
        };
        let prepared = PreparedFile::read(&db.store, &path.display().to_string(), bytes).await.unwrap();
        let rows = prepared.screen(&matcher, &view, &ruleset, 2, &Progress::hidden()).unwrap();
        assert_eq!(rows.len(), expected_lines, "{}", path.display());
        for row in &rows {
            n_rows += 1;
            if !row.error.is_empty() {
                n_errors += 1;
                continue;
            }
            assert!(!row.risk_band.is_empty());
            if !row.goods.is_empty() {
                n_goods += 1;
            }
        }
        all_rows.extend(rows);
    }
    let summary = screening::summarize(&all_rows);
    eprintln!("OCDS screening: {n_rows} rows, {n_errors} unreadable parts, {n_goods} with goods; {summary:?}");
    assert_eq!(n_failed, 3, "the three empty files");
    assert_eq!((n_rows, n_errors, n_goods), (LINE_ROWS as usize, LINES_REJECTED as usize, 19));
}

/// A load of 1,000 lines is written in two statements of 500 rows with the same SQL; the
/// first starts with a line without quantity, the second with one. PostgreSQL must not
/// keep the first statement's type for that NULL (sqlx 0.9 sent a NULL f64 as float4).
async fn a_missing_number_then_a_number_load_on_postgres(store: Store) {
    let mut file = String::from("procurement_id,line_id,quantity\n");
    for line in 0..1000 {
        let quantity = if line == 0 { String::new() } else { format!("{line}.5") };
        file.push_str(&format!("P-1,{line},{quantity}\n"));
    }
    let request = LoadRequest {
        kind: RecordKind::Procurements,
        source: "test".to_owned(),
        file_name: "lines.csv".to_owned(),
        bytes: file.into_bytes(),
    };
    let report = ingest::load_file(&store, request).await.unwrap();
    assert_eq!(counts(&report), [1000, 1000, 0, 0, 0]);
}

/// Bangladesh's recruiting licences: `rl_no` and `agency_name` are recognised as the
/// licence number and holder; the other columns are kept.
async fn a_licence_register_loads_through_its_own_headers(store: Store) {
    let Some(path) = shared_file("agencies/bd_recruiting_agencies_rl.csv") else { return };
    let first = load_as(&store, RecordKind::Licences, "bd-rl", &path).await.unwrap();
    // One row has no RL number.
    assert_eq!(counts(&first), [507, 506, 0, 0, 1]);
    assert_eq!((first.rejected[0].line, first.rejected[0].field.as_str()), (225, "licence_number"));
    let again = load_as(&store, RecordKind::Licences, "bd-rl", &path).await.unwrap();
    assert_eq!(counts(&again), [507, 0, 0, 506, 1]);
    let orchard: LicenceEntry = store.get_record("bd-rl", "0010").await.unwrap().unwrap();
    assert_eq!(orchard.holder_name, "Orchard International");
    assert_eq!(
        orchard.extra.get("address").map(String::as_str).map(|a| a.starts_with("Orchard Faruque Tower")),
        Some(true)
    );
    assert_eq!(orchard.extra.get("id").map(String::as_str), Some("1"));
}

async fn spanish_headers_and_an_operator_map_load_suppliers(store: Store) {
    let file = "Cód. Proveedor;Razón Social;RUC;País;Teléfono\nP-1;Minera Ficticia S.A.C.;20100070970;Perú;01-555\n";
    let request = |bytes: &str| LoadRequest {
        kind: RecordKind::Suppliers,
        source: "erp".to_owned(),
        file_name: "proveedores.csv".to_owned(),
        bytes: bytes.as_bytes().to_vec(),
    };
    // Without a map, nothing says which column is the supplier id.
    let err = ingest::load_file(&store, request(file)).await.unwrap_err();
    assert!(format!("{err:#}").contains("lacks the required column supplier_id"), "{err:#}");
    let column_map = check_column_map(RecordKind::Suppliers, &["Cód. Proveedor=supplier_id".to_owned()]).unwrap();
    let options = LoadOptions { format: None, column_map, ..LoadOptions::default() };
    let report = ingest::load_file_as(&store, request(file), &options).await.unwrap();
    assert_eq!(counts(&report), [1, 1, 0, 0, 0]);
    let supplier: Supplier = store.get_record("erp", "P-1").await.unwrap().unwrap();
    assert_eq!(supplier.name, "Minera Ficticia S.A.C.");
    assert_eq!(supplier.tax_id.as_deref(), Some("20100070970"));
    assert_eq!(supplier.country.as_deref(), Some("PE"));
    assert_eq!(supplier.extra.get("teléfono").map(String::as_str), Some("01-555"));
}

/// The fictional OpenSanctions fixtures, in both export shapes.
async fn opensanctions_ftm_and_simple_csv_load_with_names_ids_countries_datasets(store: Store) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opensanctions");
    let ftm = fixtures.join("entities.ftm.json");
    let simple = fixtures.join("targets.simple.csv");
    assert_eq!(Format::detect("entities.ftm.json", &std::fs::read(&ftm).unwrap()), Format::Ftm);
    assert_eq!(Format::detect("targets.simple.csv", &std::fs::read(&simple).unwrap()), Format::OpensanctionsCsv);

    // 7 lines: 3 entries, an address and a non-target skipped, a nameless entity and a
    // cut-off line rejected with their lines.
    let first = load_as(&store, RecordKind::Watchlist, "os-ftm", &ftm).await.unwrap();
    assert_eq!(counts(&first), [5, 3, 0, 0, 2]);
    let lines: Vec<(i64, &str)> = first.rejected.iter().map(|r| (r.line, r.field.as_str())).collect();
    assert_eq!(lines, vec![(6, "properties.name"), (7, "$")]);
    assert_eq!(counts(&load_as(&store, RecordKind::Watchlist, "os-ftm", &ftm).await.unwrap()), [5, 0, 0, 3, 2]);
    let aurora: WatchlistEntry = store.get_record("os-ftm", "NK-fict-aurora").await.unwrap().unwrap();
    assert_eq!(aurora.name, "Minera Aurora Ficticia S.A.C.");
    assert_eq!(aurora.aliases, vec!["Aurora Gold Ficticia", "MAF SAC"]);
    assert_eq!((aurora.tax_id.as_deref(), aurora.country.as_deref()), (Some("20100070970"), Some("PE")));
    assert_eq!(aurora.extra["identifiers"], "taxNumber:20100070970|registrationNumber:11000001");
    assert_eq!(aurora.list.as_deref(), Some("OpenSanctions: fict_forced_labour"));
    assert_eq!(aurora.listed_on.map(|d| d.to_string()).as_deref(), Some("2023-04-01"));
    assert_eq!(aurora.source_url.as_deref(), Some("https://example.org/fictional/aurora"));
    let textil: WatchlistEntry = store.get_record("os-ftm", "NK-fict-textil").await.unwrap().unwrap();
    assert_eq!(textil.aliases, vec!["Têxteis do Norte Fictícios Ltda.", "TNF"]);
    assert_eq!(textil.extra["countries"], "PY|BR");
    assert_eq!(textil.extra["datasets"], "fict_debarment|fict_forced_labour");

    let first = load_as(&store, RecordKind::Watchlist, "os-csv", &simple).await.unwrap();
    // A vessel is skipped; a row without a name is rejected.
    assert_eq!(counts(&first), [4, 3, 0, 0, 1]);
    assert_eq!(counts(&load_as(&store, RecordKind::Watchlist, "os-csv", &simple).await.unwrap()), [4, 0, 0, 3, 1]);
    let textil: WatchlistEntry = store.get_record("os-csv", "NK-fict-textil").await.unwrap().unwrap();
    assert_eq!(textil.aliases, vec!["Têxteis do Norte Fictícios Ltda.", "TNF"]);
    assert_eq!(textil.country.as_deref(), Some("BR"));
    assert_eq!(textil.extra["countries"], "BR|PY");
    assert_eq!(textil.extra["datasets"], "Fictional Debarment List|Fictional Forced Labour List");
    assert_eq!(textil.source_url.as_deref(), Some("https://www.opensanctions.org/entities/NK-fict-textil/"));
}

/// The ILAB list in DOL's XML and in the flat CSV: every good–country row read, the
/// goods the mapping knows written as the rules' list, and the rules loading it with
/// its edition from the data directory.
#[test]
fn ilab_editions_load_as_the_rules_reference_list() {
    let (Some(xml), Some(flat)) = (shared_file("ilab/goods_2021.xml"), shared_file("ilab/list_of_goods_flat.csv"))
    else {
        return;
    };
    let bundled = Ruleset::bundled();
    let from_xml = cadena::import::ilab::parse_xml(&std::fs::read(&xml).unwrap(), "goods_2021.xml").unwrap();
    assert_eq!((from_xml.edition.as_str(), from_xml.entries.len(), from_xml.rejected.len()), ("2022", 467, 0));
    let from_csv = cadena::import::ilab::parse_flat_csv(&std::fs::read(&flat).unwrap()).unwrap();
    assert_eq!((from_csv.edition.as_str(), from_csv.entries.len(), from_csv.rejected.len()), ("2022", 467, 0));
    let gold_peru = from_xml.entries.iter().find(|e| e.good == "Gold" && e.country == "PE").unwrap();
    assert!(gold_peru.forced_labor && gold_peru.child_labor);
    let nuts_peru = from_csv.entries.iter().find(|e| e.good == "Brazil Nuts/Chestnuts" && e.country == "PE").unwrap();
    assert!(nuts_peru.forced_labor && !nuts_peru.child_labor);
    let written = cadena::import::ilab::to_rules_list(&from_xml, &bundled.good_names(), "goods_2021.xml");
    assert_eq!((written.n_entries, written.unmapped_goods.len()), (314, 97));

    let data_dir = tempfile::tempdir().unwrap();
    cadena::cli::ingest_ilab(data_dir.path(), &xml, None).unwrap();
    let ruleset = cadena::cli::load_rules(None, data_dir.path()).unwrap();
    let list = ruleset.lists().into_iter().find(|list| list.id == "ilab_goods").unwrap();
    assert_eq!((list.edition.as_str(), list.n_entries), ("2022", 314));
    assert_ne!(ruleset.digest(), bundled.digest(), "the digest names the list in use");
    assert!(ruleset.run_tests().passed(), "the rules' own cases still pass with the imported list");
    // A later edition given by the operator is recorded as such.
    cadena::cli::ingest_ilab(data_dir.path(), &flat, Some("2024")).unwrap();
    let ruleset = cadena::cli::load_rules(None, data_dir.path()).unwrap();
    let list = ruleset.lists().into_iter().find(|list| list.id == "ilab_goods").unwrap();
    assert_eq!(list.edition, "2024");
}

/// `POST /v1/datasets` with a published format (detected, or given with `format=`) and
/// with a column map.
#[tokio::test]
async fn the_upload_endpoint_takes_a_format_and_a_column_map() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use cadena::http::{AppState, router};
    use cadena::service::ScreeningService;
    use cadena::store::keys::Role;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let db = crate::harness::TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let indexer = cadena::indexer::Indexer::open(&db.store, dir.path()).unwrap();
    let matcher = Matcher::new(indexer.index().clone(), Thresholds::default());
    let screening = std::sync::Arc::new(ScreeningService::new(
        db.store.clone(),
        std::sync::Arc::new(matcher),
        std::sync::Arc::new(Ruleset::bundled()),
        indexer.status(),
    ));
    let run_worker = || async {
        let reports = cadena::ingest::worker::Worker::new(db.store.clone()).run_until_idle().await.unwrap();
        let report = reports.into_iter().next().expect("a queued load").unwrap();
        indexer.catch_up().await.unwrap();
        report
    };
    let app = router(AppState::new(db.store.clone(), screening));
    let (_, key) = db.store.create_key("test", Role::Admin).await.unwrap();
    let post = |uri: String, body: Vec<u8>| {
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::from(body))
            .unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default())
        }
    };
    let ftm =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opensanctions/entities.ftm.json"))
            .unwrap();
    let (status, body) = post("/v1/datasets?source=os&name=entities.ftm.json".to_owned(), ftm.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!((body["kind"].as_str(), body["status"].as_str()), (Some("watchlist"), Some("queued")));
    let report = run_worker().await;
    assert_eq!((report.dataset.n_inserted, report.dataset.n_rejected), (3, 2));
    assert_eq!(report.rejected[0].field, "properties.name");
    assert_eq!(indexer.index().len(), 3);
    let (status, body) = post("/v1/datasets?kind=watchlist&format=ftm&source=os".to_owned(), ftm).await;
    assert_eq!((status, body["format"].as_str()), (StatusCode::ACCEPTED, Some("ftm")));
    assert_eq!(run_worker().await.dataset.n_unchanged, 3, "the format given is the format the worker reads");
    let (status, body) = post("/v1/datasets?format=geojson".to_owned(), b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let csv = "C\u{f3}digo;Raz\u{f3}n Social;RUC\nP-1;Ejemplo SAC;20100070970\n".as_bytes().to_vec();
    let uri = "/v1/datasets?kind=suppliers&source=erp&map=C%C3%B3digo%3Dsupplier_id".to_owned();
    let (status, body) = post(uri, csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    run_worker().await;
    let supplier: Supplier = db.store.get_record("erp", "P-1").await.unwrap().unwrap();
    assert_eq!((supplier.name.as_str(), supplier.tax_id.as_deref()), ("Ejemplo SAC", Some("20100070970")));
    let (status, body) = post("/v1/datasets?kind=suppliers&map=x%3Dcolour".to_owned(), b"a\n1\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("is not a suppliers field"), "{body}");
}

/// One of the hand-built OCDS fixtures in `tests/fixtures/ocds`, parsed.
fn ocds_fixture(name: &str) -> cadena::import::ocds::OcdsData {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocds").join(name);
    cadena::import::ocds::parse(&std::fs::read(path).unwrap()).unwrap()
}

/// Each line as (line_id, supplier_id, supplier_name, item_description).
fn lines_of(data: &cadena::import::ocds::OcdsData) -> Vec<(String, String, String, String)> {
    data.lines
        .iter()
        .map(|located| {
            let line = &located.record;
            (
                line.line_id.clone(),
                line.supplier_id.clone().unwrap_or_default(),
                line.supplier_name.clone().unwrap_or_default(),
                line.item_description.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn owned(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect()
}

#[test]
fn ocds_awards_with_inline_suppliers_give_lines() {
    // OCDS 1.0: the supplier's name and identifier in the award, no `parties`.
    let data = ocds_fixture("awards-inline-suppliers.json");
    let supplier = "PY-80012345-6";
    let name = "Carbonera Ficticia del Chaco S.A.";
    assert_eq!(
        lines_of(&data),
        owned(&[
            ("A-1/1", supplier, name, "Carbón vegetal en bolsas de 5 kg"),
            ("A-1/2", supplier, name, "Leña de quebracho"),
        ])
    );
    assert_eq!(data.lines[0].record.value, Some(200.0 * 25000.0));
    let suppliers: Vec<&Supplier> = data.suppliers.iter().map(|located| &located.record).collect();
    assert_eq!(suppliers.len(), 1);
    assert_eq!((suppliers[0].country.as_deref(), suppliers[0].tax_id.as_deref()), (Some("PY"), Some("80012345-6")));
    assert!(data.no_lines.is_none() && data.rejected.is_empty(), "{:?}", data.rejected);
}

#[test]
fn ocds_records_with_only_a_versioned_release_give_lines() {
    let data = ocds_fixture("versioned-record.json");
    assert_eq!(
        lines_of(&data),
        owned(&[("AW-7/1", "PE-20123456789", "Maderera Imaginaria del Sur S.A.C.", "Madera aserrada tornillo")])
    );
    let line = &data.lines[0];
    assert_eq!(line.path, "records[0].versionedRelease.awards[0].items[0]");
    assert_eq!(line.record.buyer.as_deref(), Some("Municipalidad Ficticia de Tambopata"), "the latest version");
    assert_eq!(line.record.quantity, Some(40.0));
    assert_eq!(line.record.award_date.map(|date| date.to_string()).as_deref(), Some("2021-03-01"));
    assert_eq!(data.suppliers[0].record.country.as_deref(), Some("PE"));
}

#[test]
fn ocds_contracts_without_awards_or_items_take_the_suppliers_of_parties() {
    let data = ocds_fixture("parties-contracts-no-awards.json");
    assert_eq!(
        lines_of(&data),
        owned(&[(
            "CT-2024-31/0",
            "BR-11.111.111/0001-91",
            "Carvoaria Imaginária do Cerrado Ltda",
            "Fornecimento de carvão vegetal"
        )])
    );
    let line = &data.lines[0].record;
    assert_eq!((line.value, line.currency.as_deref()), (Some(120000.0), Some("BRL")));
    assert_eq!(line.buyer.as_deref(), Some("Prefeitura Imaginária de Serra Azul"));
    assert_eq!(line.supplier_tax_id_key.as_deref(), Some("11111111000191"));
}

#[test]
fn ocds_contract_suppliers_name_the_contracts_supplier() {
    // `contracts[].suppliers` (an extension) says which of the release's suppliers signed.
    let data = ocds_fixture("contract-suppliers.json");
    assert_eq!(
        lines_of(&data),
        owned(&[("C-1/1", "AR-30-70000000-7", "Textil Ejemplo Andina S.A.", "Uniformes escolares")])
    );
    assert_eq!(data.suppliers.len(), 2, "both suppliers of the parties are suppliers");
}

async fn ocds_fixture_loads_lines_with_their_suppliers(store: Store) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocds");
    for (name, n_lines) in [
        ("awards-inline-suppliers.json", 2),
        ("versioned-record.json", 1),
        ("parties-contracts-no-awards.json", 1),
        ("contract-suppliers.json", 1),
    ] {
        let path = dir.join(name);
        let suppliers = load_as(&store, RecordKind::Suppliers, name, &path).await.unwrap();
        assert_eq!(suppliers.dataset.n_rejected, 0, "{name}");
        let lines = load_as(&store, RecordKind::Procurements, name, &path).await.unwrap();
        assert_eq!((lines.dataset.n_inserted, lines.dataset.n_rejected), (n_lines, 0), "{name}");
        let stored: Vec<ProcurementLine> = store.list_records(1000, 0).await.unwrap();
        let of_file: Vec<&ProcurementLine> =
            stored.iter().filter(|line| line.procurement_id.starts_with("ocds-fixture-")).collect();
        assert!(of_file.iter().all(|line| line.supplier_id.is_some()), "{name}: every line has its supplier");
    }
}

async fn an_ocds_file_without_lines_says_why(store: Store) {
    let data = ocds_fixture("tender-only.json");
    assert!(data.lines.is_empty());
    let reason = data.no_lines.as_ref().unwrap().reason.clone();
    assert_eq!(
        reason,
        "no procurement lines: 1 release(s) read, none with an active award or a contract (1 award(s) not active \
         and 0 contract(s) cancelled were left out); tender items are never lines, as nothing was bought yet"
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocds/tender-only.json");
    let report = load_as(&store, RecordKind::Procurements, "tender", &path).await.unwrap();
    assert_eq!((report.dataset.n_inserted, report.dataset.n_rejected), (0, 1));
    let rejected = store.rejected_rows(report.dataset.id, 10, 0).await.unwrap();
    assert_eq!(rejected[0].reason, reason);
    // Screened, the file gives one report row that says the same.
    let prepared = PreparedFile::read(&store, "tender-only.json", std::fs::read(&path).unwrap()).await.unwrap();
    assert_eq!(prepared.len(), 1);
}
