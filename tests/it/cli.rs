//! Every `cadena` subcommand and its main flags, through the real binary: output, files
//! written and exit status, on SQLite and PostgreSQL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cadena::ingest::worker::Worker;
use cadena::records::RecordKind;
use cadena::store::LoadStatus;

use crate::harness::{TestDb, database_tests};

database_tests!(
    keys_are_created_listed_and_revoked,
    ingest_takes_kinds_formats_maps_and_queues,
    datasets_lists_loads_and_shows_rejected_rows,
    reindex_check_index_screen_and_search_work_on_the_demo,
);

fn demo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo").join(name)
}

/// Runs a command and returns its output, failing the test with both streams if it failed.
fn succeed(command: &mut Command) -> (String, String) {
    let Output { status, stdout, stderr } = command.output().expect("run cadena");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned());
    assert!(status.success(), "{command:?} failed ({status}):\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Runs a command that must fail; returns its standard error.
fn fail(command: &mut Command) -> String {
    let Output { status, stdout, stderr } = command.output().expect("run cadena");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert_eq!(status.code(), Some(1), "{command:?} should fail:\n{}\n{stderr}", String::from_utf8_lossy(&stdout));
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

async fn keys_are_created_listed_and_revoked(db: &TestDb) {
    let work = tempfile::tempdir().unwrap();
    let cadena = || db.cadena(work.path());
    let (created, _) = succeed(cadena().args(["keys", "create", "--role", "inspector", "--name", "Inspección Lima"]));
    let secret = created.lines().last().unwrap().to_owned();
    assert!(secret.starts_with("cadena_"), "the key alone on the last line: {created}");
    assert!(created.contains("role inspector"), "{created}");
    let key = db.store.authenticate(&secret).await.unwrap().expect("the printed key works");

    let (listed, _) = succeed(cadena().args(["keys", "list"]));
    assert!(listed.contains("inspector") && listed.contains("Inspección Lima"), "{listed}");
    assert!(!listed.contains(&secret[8..]), "a listing never shows a secret");

    let (revoked, _) = succeed(cadena().args(["keys", "revoke", &key.id.to_string()]));
    assert_eq!(revoked.trim(), format!("revoked API key {}", key.id));
    assert!(db.store.authenticate(&secret).await.unwrap().is_none(), "a revoked key stops working at once");
    let error = fail(cadena().args(["keys", "revoke", &key.id.to_string()]));
    assert!(error.contains(&format!("there is no live API key {}", key.id)), "{error}");
    let error = fail(cadena().args(["keys", "revoke", "999999"]));
    assert!(error.contains("there is no live API key 999999"), "{error}");
    let (listed, _) = succeed(cadena().args(["keys", "list"]));
    assert!(!listed.lines().any(|line| line.contains("Inspección Lima") && line.trim_end().ends_with(" -")));
    // The table fits its columns: a long name is cut with an ellipsis, and every column
    // starts where its header does, whatever the accents (counted in characters here).
    let long_name = "Dirección Nacional de Contrataciones Públicas, Unidad de Integridad y Transparencia";
    succeed(cadena().args(["keys", "create", "--role", "auditor", "--name", long_name]));
    let (listed, _) = succeed(cadena().args(["keys", "list"]));
    assert!(!listed.contains(long_name), "{listed}");
    let lines: Vec<&str> = listed.lines().collect();
    let cut = lines.iter().find(|line| line.contains("Dirección Nacional")).unwrap();
    assert!(cut.contains("…"), "{listed}");
    let column_of = |line: &str, text: &str| line.find(text).map(|at| line[..at].chars().count());
    let created = column_of(lines[0], "created").unwrap();
    let revoked = column_of(lines[0], "revoked").unwrap();
    for line in &lines[1..] {
        assert_eq!(column_of(line, " 20").map(|at| at + 1), Some(created), "{listed}");
        let last_cell = line.trim_end().rsplit("  ").next().unwrap();
        assert_eq!(line.chars().count() - last_cell.chars().count(), revoked, "{listed}");
    }
    // A role that does not exist is refused by the argument parser (exit status 2).
    let output = cadena().args(["keys", "create", "--role", "superuser"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

async fn ingest_takes_kinds_formats_maps_and_queues(db: &TestDb) {
    let work = tempfile::tempdir().unwrap();
    let cadena = || db.cadena(work.path());
    let (migrated, _) = succeed(cadena().arg("migrate"));
    assert_eq!(migrated.trim(), "the database schema is up to date");

    // A CSV of one kind, named on the command line.
    let (loaded, _) =
        succeed(cadena().args(["ingest", "watchlist"]).arg(demo_file("watchlist.csv")).args(["--source", "demo"]));
    assert!(loaded.contains("watchlist from"), "{loaded}");
    assert!(loaded.contains("6 rows: 6 inserted, 0 updated, 0 unchanged, 0 rejected"), "{loaded}");
    assert!(loaded.contains("index: 6 changed records indexed"), "{loaded}");
    // The same file again changes nothing.
    let (again, _) =
        succeed(cadena().args(["ingest", "watchlist"]).arg(demo_file("watchlist.csv")).args(["--source", "demo"]));
    assert!(again.contains("6 rows: 0 inserted, 0 updated, 6 unchanged, 0 rejected"), "{again}");

    // A published format, detected from the file, and given with --format.
    let ftm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opensanctions/entities.ftm.json");
    let (detected, _) = succeed(cadena().arg("ingest").arg(&ftm).args(["--source", "os"]));
    assert!(detected.contains("watchlist from") && detected.contains("3 inserted"), "{detected}");
    let (given, _) =
        succeed(cadena().args(["ingest", "watchlist"]).arg(&ftm).args(["--format", "ftm", "--source", "os"]));
    assert!(given.contains("3 unchanged"), "{given}");
    let error = fail(cadena().args(["ingest"]).arg(demo_file("suppliers.csv")));
    assert!(error.contains("name what the file holds"), "a CSV needs its kind: {error}");

    // Another system's headers, sent to fields with --map.
    let erp = work.path().join("erp.csv");
    std::fs::write(&erp, "Código Proveedor;Razón Social;RUC\nP-1;Ejemplo SAC;20100070970\n").unwrap();
    let (mapped, _) = succeed(cadena().args(["ingest", "suppliers"]).arg(&erp).args([
        "--map",
        "Código Proveedor=supplier_id",
        "--source",
        "erp",
    ]));
    assert!(mapped.contains("1 inserted"), "{mapped}");
    let supplier: cadena::records::Supplier = db.store.get_record("erp", "P-1").await.unwrap().unwrap();
    assert_eq!((supplier.name.as_str(), supplier.tax_id.as_deref()), ("Ejemplo SAC", Some("20100070970")));
    let error = fail(cadena().args(["ingest", "suppliers"]).arg(&erp).args(["--map", "Código Proveedor=colour"]));
    assert!(error.contains("colour"), "{error}");

    // --queue keeps the file in the store for a worker on any host; the file may then go.
    let queued_file = work.path().join("agencias.csv");
    std::fs::write(&queued_file, "agency_id,name,licence_status\nA-1,Reclutamientos Andinos S.A.C.,revocada\n")
        .unwrap();
    let (queued, _) = succeed(cadena().args(["ingest", "agencies"]).arg(&queued_file).arg("--queue"));
    let id: i64 = queued.split_whitespace().nth(2).unwrap().trim_end_matches(':').parse().unwrap();
    assert!(queued.contains(&format!("`cadena datasets {id}`")), "{queued}");
    assert_eq!(db.store.get_load(id).await.unwrap().unwrap().status, LoadStatus::Queued);
    std::fs::remove_file(&queued_file).unwrap();
    let reports = Worker::new(db.store.clone()).run_until_idle().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].as_ref().unwrap().dataset.n_inserted, 1);
    let error = fail(cadena().args(["ingest", "agencies"]).arg(work.path().join("missing.csv")));
    assert!(error.contains("missing.csv: cannot read the file"), "{error}");
}

async fn datasets_lists_loads_and_shows_rejected_rows(db: &TestDb) {
    let work = tempfile::tempdir().unwrap();
    let cadena = || db.cadena(work.path());
    let (empty, _) = succeed(cadena().arg("datasets"));
    assert!(empty.contains("no loads yet"), "{empty}");
    let bad = work.path().join("proveedores.csv");
    std::fs::write(&bad, "supplier_id,name,country\nS-1,Uno SAC,PE\nS-2,,PE\nS-3,Tres SAC,Pery\n").unwrap();
    let (loaded, _) = succeed(cadena().args(["ingest", "suppliers"]).arg(&bad));
    assert!(loaded.contains("3 rows: 1 inserted, 0 updated, 0 unchanged, 2 rejected"), "{loaded}");
    assert!(loaded.contains("proveedores.csv:3: name: is empty but required"), "{loaded}");
    assert!(loaded.contains("proveedores.csv:4: country:"), "{loaded}");

    let (listed, _) = succeed(cadena().arg("datasets"));
    assert!(listed.contains("suppliers") && listed.contains("completed"), "{listed}");
    let id = db.store.list_loads(1).await.unwrap()[0].id;
    let (shown, _) = succeed(cadena().args(["datasets", &id.to_string()]));
    assert!(shown.contains("proveedores.csv:3: name") && shown.contains("proveedores.csv:4: country"), "{shown}");
    let (json, _) = succeed(cadena().args(["datasets", &id.to_string(), "--json"]));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (json["dataset"]["n_rejected"].as_i64(), json["rejected_rows"].as_array().map(Vec::len)),
        (Some(2), Some(2))
    );
    let (listed, _) = succeed(cadena().args(["datasets", "--json", "--limit", "1"]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&listed).unwrap().as_array().unwrap().len(), 1);
    let error = fail(cadena().args(["datasets", "424242"]));
    assert!(error.contains("there is no load 424242"), "{error}");

    // `cadena datasets ID | head -n 1` on a load with thousands of rejected rows (more
    // than a pipe holds): when the reader goes away, the process ends as command-line
    // tools do, killed by SIGPIPE, not with a panic.
    let many = work.path().join("muchos.csv");
    let rows: String = (0..5000).map(|i| format!("S-{i},,PE\n")).collect();
    std::fs::write(&many, format!("supplier_id,name,country\n{rows}")).unwrap();
    succeed(cadena().args(["ingest", "suppliers"]).arg(&many));
    let id = db.store.list_loads(1).await.unwrap()[0].id;
    let mut child =
        cadena().args(["datasets", &id.to_string()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(first.contains("id"), "{first}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "no panic on a closed pipe: {stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(13), "ended by SIGPIPE: {:?}", output.status);
}

async fn reindex_check_index_screen_and_search_work_on_the_demo(db: &TestDb) {
    let work = tempfile::tempdir().unwrap();
    let cadena = || db.cadena(work.path());
    cadena::demo::load_demo(&db.store).await.unwrap();
    let version = db.store.store_version().await.unwrap();

    let (reindexed, _) = succeed(cadena().arg("reindex"));
    assert!(reindexed.contains(&format!("the index reflects store version {version}")), "{reindexed}");
    let mut n_entities = 0;
    for kind in [RecordKind::Watchlist, RecordKind::Suppliers, RecordKind::Agencies] {
        n_entities += db.store.count_records(kind).await.unwrap();
    }
    assert!(reindexed.starts_with(&format!("indexed {n_entities} entities")), "{reindexed}");
    let (checked, _) = succeed(cadena().arg("check-index"));
    assert!(checked.contains("the index agrees with the store"), "{checked}");
    assert!(checked.contains("0 missing, 0 stale, 0 extra"), "{checked}");

    let report = work.path().join("informe.csv");
    let (screened, _) = succeed(cadena().arg("screen").arg(demo_file("procurements.csv")).arg("--out").arg(&report));
    assert!(screened.contains(&format!("at store version {version}")), "{screened}");
    let mut reader = csv::Reader::from_path(&report).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|each| each == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let demo_lines = std::fs::read_to_string(demo_file("procurements.csv")).unwrap().lines().count() - 1;
    assert_eq!(rows.len(), demo_lines, "a report row per input row");
    let gold = rows.iter().find(|row| &row[column("input_id")] == "DEMO-P-2025-001/1").unwrap();
    assert_eq!((&gold[column("risk_band")], &gold[column("match_entity_id")]), ("critical", "DEMO-W-001"));
    assert_eq!(gold[column("dataset_version")].parse::<i64>().unwrap(), version);
    let error = fail(cadena().arg("screen").arg(work.path().join("nothing.csv")).arg("--out").arg(&report));
    assert!(error.contains("nothing.csv: cannot read the file"), "{error}");

    // A procurement export with its own headers is screened as procurements: `ocid` is
    // the procurement id, and `--map` sends any other column where it belongs.
    let export = work.path().join("compras.csv");
    std::fs::write(
        &export,
        "ocid,Nº Ítem,Proveedor,Descripción,País de origen\n\
                             ocds-1,1,Minera Ficticia Oro Verde SAC,Lingotes de oro,Perú\n\
                             ocds-1,2,Ferretería Ñandú,Clavos,Narnia\n",
    )
    .unwrap();
    let error = fail(cadena().arg("screen").arg(&export).arg("--out").arg(&report));
    assert!(error.contains("line_id"), "a procurement file without its line column says so: {error}");
    let (screened, _) =
        succeed(cadena().arg("screen").arg(&export).args(["--map", "Nº Ítem=line_id", "--out"]).arg(&report));
    assert!(screened.contains("screened 2 rows"), "{screened}");
    let mut reader = csv::Reader::from_path(&report).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][column("input_id")], "ocds-1/1");
    assert!(rows[0][column("rules_fired")].contains("product.ilab_forced_labour"), "{:?}", rows[0]);
    assert_eq!(&rows[1][column("input_id")], "ocds-1/2", "a rejected row keeps its id");
    assert!(rows[1][column("error")].contains("origin_country: \"Narnia\""), "{:?}", rows[1]);
    let error = fail(cadena().arg("screen").arg(&export).args(["--map", "Nº Ítem=colour", "--out"]).arg(&report));
    assert!(error.contains("--map: \"colour\" is not a procurements field"), "{error}");
    // `Procurement ID` is the procurement id as well, and `Item` its line, in any delimiter.
    let export = work.path().join("compras-id.csv");
    std::fs::write(
        &export,
        "Procurement ID;Item;Proveedor;Descripción;País de origen\n\
         P-9;1;Minera Ficticia Oro Verde SAC;Lingotes de oro;Perú\n\
         P-9;2;Ferretería Ñandú;Clavos;Narnia\n",
    )
    .unwrap();
    let (screened, _) = succeed(cadena().arg("screen").arg(&export).arg("--out").arg(&report));
    assert!(screened.contains("screened 2 rows"), "{screened}");
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&report).unwrap().records().map(Result::unwrap).collect();
    assert_eq!((&rows[0][column("input_id")], &rows[0][column("error")]), ("P-9/1", ""), "{:?}", rows[0]);
    assert!(rows[0][column("rules_fired")].contains("product.ilab_forced_labour"), "{:?}", rows[0]);
    assert_eq!(&rows[1][column("input_id")], "P-9/2", "a rejected row keeps its id");
    assert!(rows[1][column("error")].contains("compras-id.csv:3: origin_country"), "{:?}", rows[1]);
    // A file of watchlist entries is not something to screen.
    let listed = work.path().join("lista.csv");
    std::fs::write(&listed, "cluster_id,raw_cbp_text,name\n1,x,Empresa\n").unwrap();
    let error = fail(cadena().arg("screen").arg(&listed).arg("--out").arg(&report));
    assert!(error.contains("a cbp file cannot be screened"), "{error}");

    // Reports for Excel: with a byte-order mark, or as a workbook.
    let with_bom = work.path().join("informe-bom.csv");
    let args = ["--map", "Nº Ítem=line_id", "--report-format", "csv-bom", "--out"];
    succeed(cadena().arg("screen").arg(&export).args(args).arg(&with_bom));
    let bytes = std::fs::read(&with_bom).unwrap();
    assert_eq!(bytes[..3], *b"\xef\xbb\xbf");
    assert!(String::from_utf8(bytes).unwrap().contains("Ferretería Ñandú"));
    let workbook = work.path().join("informe.xlsx");
    let args = ["--map", "Nº Ítem=line_id", "--report-format", "xlsx", "--out"];
    succeed(cadena().arg("screen").arg(&export).args(args).arg(&workbook));
    let strings = crate::http::zip_entry(&std::fs::read(&workbook).unwrap(), "xl/sharedStrings.xml");
    assert!(strings.contains("Minera Ficticia Oro Verde SAC"), "{strings}");

    // A report's explanations in the officer's language.
    let spanish = work.path().join("informe-es.csv");
    succeed(
        cadena().arg("screen").arg(&export).args(["--map", "Nº Ítem=line_id", "--lang", "es", "--out"]).arg(&spanish),
    );
    let mut reader = csv::Reader::from_path(&spanish).unwrap();
    let first = reader.records().next().unwrap().unwrap();
    let explanation = &first[column("match_explanation")];
    assert!(explanation.starts_with("\"Minera Ficticia Oro Verde SAC\" coincide con \""), "{explanation}");
    assert!(explanation.contains("(nombre "), "{explanation}");
    let output = cadena().arg("screen").arg(&export).args(["--lang", "fr", "--out"]).arg(&spanish).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("\"fr\" is not a language cadena speaks (es, pt, en)"), "{error}");

    let (found, _) = succeed(cadena().args(["search", "reclutadora fictisia"]));
    assert!(found.lines().nth(1).is_some_and(|first| first.contains("DEMO-A-003")), "{found}");
    let (found, _) = succeed(cadena().args(["search", "oro verde", "--kind", "watchlist", "--json"]));
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found[0]["entity"]["entity_id"], "DEMO-W-001");
    let (nothing, _) = succeed(cadena().args(["search", "zzzz qqqq"]));
    assert!(nothing.contains("nothing found"), "{nothing}");
    let output = cadena().args(["search", "x", "--limit", "0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "a limit of 0 is refused");
}

/// `cadena rules check|test` on the bundled rules and on a broken directory.
#[test]
fn rules_check_and_test_report_problems() {
    let work = tempfile::tempdir().unwrap();
    let cadena = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cadena"));
        command.env("CADENA_DATA_DIR", work.path()).env_remove("CADENA_RULES_DIR").env("CADENA_LOG", "warn");
        command
    };
    let (checked, _) = succeed(cadena().args(["rules", "check"]));
    assert!(checked.contains("no problems") && checked.contains("digest"), "{checked}");
    let (tested, _) = succeed(cadena().args(["rules", "test"]));
    assert!(tested.contains("test cases: all passed"), "{tested}");

    let broken = work.path().join("rules");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("ruleset.toml"), "version = \n").unwrap();
    let output = cadena().args(["rules", "check", "--rules-dir"]).arg(&broken).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ruleset.toml:1"), "a problem names its file and line: {stdout}");

    // A rule whose title lacks its Portuguese text is refused, naming the rule and the language.
    let copy = crate::rules::rules_copy();
    let path = copy.path().join("findings.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let without_pt: Vec<&str> = text.lines().filter(|line| !line.starts_with("title.pt = ")).collect();
    std::fs::write(&path, without_pt.join("\n")).unwrap();
    let output = cadena().args(["rules", "check", "--rules-dir"]).arg(copy.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("findings.toml:") && stdout.contains("rule findings.forced_labour: title: no pt text"),
        "{stdout}"
    );
}

/// Starts `cadena serve --demo` on a free port of a data directory and returns the key it
/// printed last, then stops it.
fn demo_key_of_a_serve(data_dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cadena"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .env("CADENA_DATA_DIR", data_dir)
        .env_remove("CADENA_DATABASE_URL")
        .env("CADENA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cadena serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read cadena serve's output");
        let done = line.starts_with("cadena_");
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let key = lines.last().cloned().unwrap_or_default();
    assert!(key.starts_with("cadena_"), "the key is the last line printed at start-up: {lines:?}");
    assert!(lines.iter().any(|line| line.starts_with("cadena is listening on")), "{lines:?}");
    key
}

/// `serve --demo` run twice reuses the key it kept in `DATA_DIR/demo-key.txt`.
#[test]
fn serve_demo_reuses_its_key() {
    let work = tempfile::tempdir().unwrap();
    let first = demo_key_of_a_serve(work.path());
    let kept = std::fs::read_to_string(work.path().join("demo-key.txt")).unwrap();
    assert_eq!(kept.trim(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(work.path().join("demo-key.txt")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is its owner's only");
    }
    let second = demo_key_of_a_serve(work.path());
    assert_eq!(second, first, "the second start reuses the key");
    let listed = Command::new(env!("CARGO_BIN_EXE_cadena"))
        .args(["keys", "list"])
        .env("CADENA_DATA_DIR", work.path())
        .env_remove("CADENA_DATABASE_URL")
        .env("CADENA_LOG", "warn")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().filter(|line| line.contains("demo")).count(), 1, "one demo key: {listed}");
}

/// `--help` of ingest, screen and search names every format and kind the README does.
#[test]
fn help_lists_every_format_and_kind() {
    let help = |command: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_cadena")).args([command, "--help"]).output().unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let ingest = help("ingest");
    for format in cadena::import::Format::ALL {
        assert!(ingest.contains(format.as_str()), "ingest --help does not name the format {format}:\n{ingest}");
    }
    for kind in RecordKind::ALL {
        assert!(ingest.contains(kind.as_str()), "ingest --help does not name the kind {kind}:\n{ingest}");
    }
    for published in ["OCDS", "FollowTheMoney", "targets.simple.csv", "Lista Suja", "CBP", "ILAB"] {
        assert!(ingest.contains(published), "ingest --help does not name {published}:\n{ingest}");
    }
    let screen = help("screen");
    for named in ["suppliers", "procurements", "OCDS", "--map", "ocid"] {
        assert!(screen.contains(named), "screen --help does not name {named}:\n{screen}");
    }
    let search = help("search");
    for named in ["agencies", "suppliers", "watchlist", "Perú", "vigente"] {
        assert!(search.contains(named), "search --help does not name {named}:\n{search}");
    }
    assert!(!search.contains("procurements"), "search does not search procurements:\n{search}");
}

/// Logs to a pipe (not a terminal) carry no colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cadena"))
        .arg("reindex")
        .env("CADENA_DATA_DIR", work.path())
        .env_remove("CADENA_DATABASE_URL")
        .env("CADENA_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INFO") && stderr.contains("the index caught up with the store"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escape codes: {stderr:?}");
}

/// Long work shows its progress on a terminal and nothing of it on a pipe: `ingest`
/// counts rows and then entities indexed, `screen` draws a bar of rows. The terminal is a
/// real pseudo-terminal, from util-linux's `script`.
#[test]
fn progress_is_drawn_on_a_terminal_and_never_on_a_pipe() {
    let work = tempfile::tempdir().unwrap();
    let watchlist = work.path().join("lista.csv");
    let mut rows = String::from("entity_id,list,name,country\n");
    for at in 0..30_000 {
        rows.push_str(&format!("W-{at},Lista de prueba,Empresa Número {at} Sociedad Anónima,PE\n"));
    }
    std::fs::write(&watchlist, rows).unwrap();
    let cadena = env!("CARGO_BIN_EXE_cadena");
    let on_a_terminal = |args: &str| {
        let output = Command::new("script")
            .args(["--quiet", "--return", "--command", &format!("{cadena} {args}"), "/dev/null"])
            .env("CADENA_DATA_DIR", work.path())
            .env_remove("CADENA_DATABASE_URL")
            .env("CADENA_LOG", "warn")
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .output()
            .expect("util-linux's `script` runs a command on a pseudo-terminal");
        let shown = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{args} failed:\n{shown}");
        shown
    };
    let shown = on_a_terminal(&format!("ingest watchlist {}", watchlist.display()));
    assert!(shown.contains("loading watchlist from") && shown.contains(" rows ("), "{shown}");
    assert!(shown.contains("indexing") && shown.contains(" entities ("), "{shown}");
    assert!(shown.contains("30000 rows: 30000 inserted"), "the summary follows the progress: {shown}");

    let suppliers = work.path().join("proveedores.csv");
    std::fs::write(&suppliers, "supplier_id,name,country\nS-1,Empresa Número 7 Sociedad Anónima,PE\n").unwrap();
    let report = work.path().join("informe.csv");
    let shown = on_a_terminal(&format!("screen {} --out {}", suppliers.display(), report.display()));
    assert!(shown.contains("screening ") && shown.contains("/1 rows ("), "{shown}");

    let piped = Command::new(cadena)
        .args(["ingest", "watchlist"])
        .arg(&watchlist)
        .env("CADENA_DATA_DIR", work.path())
        .env_remove("CADENA_DATABASE_URL")
        .env("CADENA_LOG", "warn")
        .output()
        .unwrap();
    assert!(piped.status.success());
    let (stdout, stderr) = (String::from_utf8_lossy(&piped.stdout), String::from_utf8_lossy(&piped.stderr));
    assert!(stdout.contains("30000 rows: 0 inserted, 0 updated, 30000 unchanged"), "{stdout}");
    assert!(!stderr.contains("loading") && !stderr.contains("indexing"), "no progress on a pipe: {stderr:?}");
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'), "no escape codes on a pipe");
}
