//! Matching: name cases users rely on, the shared quality sets through the real index,
//! screening and agency search over a store, and the index following loads.

use cadena::demo;
use cadena::indexer::Indexer;
use cadena::ingest::worker::Worker;
use cadena::ingest::{self, LoadRequest};
use cadena::matching::evaluation;
use cadena::matching::index::{EntityIndex, IndexedEntity};
use cadena::matching::{
    DEFAULT_POSSIBLE_THRESHOLD, Matcher, ScreeningQuery, SearchQuery, Signal, Strength, Thresholds, compare_names,
};
use cadena::progress::Progress;
use cadena::records::RecordKind;
use cadena::rules::Ruleset;
use cadena::screening::{PreparedFile, ReportRow, write_report_csv};
use cadena::store::Store;
use cadena::store::datasets::NewLoad;

use crate::harness::{shared_file, store_tests};

store_tests!(
    screening_a_supplier_file_reports_every_row,
    screening_a_procurement_file_scores_risk,
    batch_screening_keeps_input_order_on_many_threads,
    tax_id_and_name_disagreements_are_distinct_signals,
    agency_search_finds_typos_ids_and_filters,
    the_index_follows_loads,
    one_writer_per_index_directory,
    the_worker_updates_the_index_after_each_load,
);

/// (query, listed, should match at the default *possible* threshold)
const NAME_CASES: &[(&str, &str, bool)] = &[
    // Spanish and Portuguese legal forms, written every way.
    ("Minera Ficticia Oro Verde SAC", "Minera Ficticia Oro Verde S.A.C.", true),
    ("Comercializadora Andina S.A. de C.V.", "COMERCIALIZADORA ANDINA SA DE CV", true),
    ("Transportes Quispe E.I.R.L.", "Transportes Quispe", true),
    ("Textiles Unidos EIRELI", "Textiles Unidos Ltda.", true),
    ("Carvoaria Imaginária do Cerrado Ltda", "CARVOARIA IMAGINARIA DO CERRADO", true),
    ("Cía. Minera Poderosa S.A.", "Compañía Minera Poderosa", true),
    ("Agropecuaria São João S/A", "Agropecuaria Sao Joao SA", true),
    // Typos, missing accents, word order, particles, run-together words.
    ("Minera Oro Verd", "Minera Oro Verde", true),
    ("Oro Verde Minera", "Minera Oro Verde", true),
    ("Construcciones Perez y Garcia", "Construcciones García Pérez", true),
    ("Maderera del Amazonas", "Maderera Amazonas", true),
    ("GoldMine Andes", "Gold Mine Andes", true),
    ("Confecções Imaginárias", "Confeccoes Imaginarias", true),
    // Generic words and legal forms must not create a match.
    ("Alfa S.A.C.", "Omega S.A.C.", false),
    ("Servicios Comerciales Alfa S.A.C.", "Servicios Comerciales Omega S.A.C.", false),
    ("Grupo Industrial Andes", "Grupo Industrial Pacifico", false),
    ("International Trading Company Zhang", "International Trading Company Wang", false),
    ("Servicios Generales S.A.", "Inversiones Generales S.A.", false),
    ("Minera Oro Verde", "Minera Plata Roja", false),
    // From the shared development sets (../shared/data/matching): each was missed or
    // mistaken before the change that made it right.
    // PATSTAT: a place after the legal form and a comma is extra detail.
    ("CARGILL B.V., BERGEN OP ZOOM, NL", "CARGILL B.V.", true),
    ("CARGILL B.V., BERGEN OP ZOOM", "CARGILL B.V.", true),
    // PATSTAT: a parent company is another entity than its operating company.
    ("SCHLUMBERGER LIMITED", "SCHLUMBERGER HOLDINGS LIMITED", false),
    // EU sanctions aliases (the example): a transliteration that sounds like the listed word.
    ("AO Kompel", "JSC Compel", true),
    // EU sanctions aliases: the name in parentheses, with its legal form, is another name.
    ("Общество с Ограниченной Ответственностью «СЕРВИС-СН» (ООО «СЕРВИС-СН»)", "SERVIS-SN", true),
    ("Акционерное Общество «Турборус» (АО «Турборус»)", "Closed Joint Stock Company Turborus (Turborus)", true),
    // Chicago sites: branches of one organisation, told apart by one word each.
    ("Mary Crane League - Mary Crane - Morse", "Mary Crane League - Mary Crane - West", false),
    ("Mary Crane League - Mary Crane - East", "Mary Crane League - Mary Crane - West", false),
    ("ERIE NEIGHBORHOOD HOUSE FCCH-MARIA MAHECHA SITE", "ERIE NEIGHBORHOOD HOUSE FCCH-MARIA BAUTISTA SITE", false),
    // Chicago sites: words in parentheses that only qualify a name are not a name.
    ("Reavis (Blended)", "Smith (Blended)", false),
];

#[test]
fn name_cases_match_as_users_expect() {
    let mut wrong = Vec::new();
    for (query, listed, should_match) in NAME_CASES {
        let score = compare_names(query, listed).score;
        if (score >= DEFAULT_POSSIBLE_THRESHOLD) != *should_match {
            wrong.push(format!("{query:?} vs {listed:?}: score {score:.3}, expected match = {should_match}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// An index in a temporary directory holding the given watchlist entities.
fn watchlist_index(dir: &std::path::Path, entities: Vec<IndexedEntity>) -> Matcher {
    let index = EntityIndex::open_or_create(dir).unwrap();
    index.add_entities(&entities).unwrap();
    Matcher::new(index, Thresholds::default())
}

fn listed(id: &str, names: Vec<String>) -> IndexedEntity {
    IndexedEntity {
        kind: RecordKind::Watchlist.as_str().to_owned(),
        source: "test".to_owned(),
        entity_id: id.to_owned(),
        names,
        ..IndexedEntity::default()
    }
}

/// rapidfuzz's `token_sort_ratio` with its `default_process` (lower case, every
/// character that is not a letter or a digit a space), from 0 to 1: the peer
/// `../shared/tools/screen_quality.py` compares cadena with.
fn token_sort_ratio(left: &str, right: &str) -> f64 {
    let sorted = |text: &str| {
        let processed: String = text
            .chars()
            .map(|c| if c.is_alphanumeric() { c.to_lowercase().next().unwrap_or(c) } else { ' ' })
            .collect();
        let mut words: Vec<&str> = processed.split_whitespace().collect();
        words.sort_unstable();
        words.join(" ")
    };
    rapidfuzz::fuzz::ratio(sorted(left).chars(), sorted(right).chars())
}

/// cadena at its default threshold against the peer at the best threshold in hindsight
/// that keeps false positives within 1 %, on the same queries, in the same run.
#[test]
fn patstat_screening_beats_the_rapidfuzz_baseline() {
    let Some(path) = shared_file("matching/patstat_org_clusters_dev.csv") else { return };
    let set = evaluation::patstat(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let entities = set.listed.iter().map(|entry| listed(&entry.id, vec![entry.name.clone()])).collect();
    let matcher = watchlist_index(dir.path(), entities);
    let hits = evaluation::top_hits(&matcher, &set).unwrap();
    let cadena = evaluation::rates(&set, &hits, DEFAULT_POSSIBLE_THRESHOLD);

    let peer_hits: Vec<Option<evaluation::TopHit>> = set
        .queries
        .iter()
        .map(|query| {
            set.listed
                .iter()
                .map(|entry| evaluation::TopHit {
                    id: entry.id.clone(),
                    score: token_sort_ratio(&query.name, &entry.name),
                })
                .max_by(|a, b| a.score.total_cmp(&b.score))
        })
        .collect();
    let peer = evaluation::rates_at_false_positive_rate(&set, &peer_hits, 0.01);
    assert!(peer.recall > 0.5, "the baseline is computed, not empty: {peer}");
    assert!(cadena.false_positive_rate <= 0.01, "cadena {cadena}");
    assert!(
        cadena.recall > peer.recall,
        "cadena at its default threshold {cadena} does not beat token_sort_ratio at its best threshold {peer}"
    );
    assert!(cadena.recall >= 0.97, "cadena {cadena}: below the recall it had");
}

#[test]
fn nomenklatura_organisation_pairs_are_mostly_right() {
    let Some(path) = shared_file("matching/name_pairs_nomenklatura.csv") else { return };
    let pairs = evaluation::nomenklatura_organisations(&path).unwrap();
    let correct = evaluation::pairs_right(&pairs, DEFAULT_POSSIBLE_THRESHOLD);
    let accuracy = correct as f64 / pairs.len() as f64;
    assert!(accuracy >= 0.85, "accuracy {accuracy:.3} ({correct}/{})", pairs.len());
}

#[test]
fn every_cbp_alias_finds_its_own_entity_first() {
    let Some(path) = shared_file("watchlists/cbp_wro_names_aliases.csv") else { return };
    let entities = evaluation::cbp_entities(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexed = entities
        .iter()
        .map(|entity| listed(&entity.id, std::iter::once(&entity.name).chain(&entity.aliases).cloned().collect()))
        .collect();
    let matcher = watchlist_index(dir.path(), indexed);
    let mut aliases = 0;
    for entity in &entities {
        for alias in &entity.aliases {
            aliases += 1;
            let found = matcher.screen(&ScreeningQuery { name: alias.clone(), ..ScreeningQuery::default() }).unwrap();
            assert_eq!(found.first().map(|best| best.entity.entity_id.as_str()), Some(entity.id.as_str()), "{alias:?}");
        }
    }
    assert!(aliases > 20, "only {aliases} aliases read");
}

/// A store with the demo dataset and an index built from it.
async fn demo_matcher(store: &Store, dir: &std::path::Path) -> Matcher {
    demo::load_demo(store).await.unwrap();
    let indexer = Indexer::open(store, &dir.join("index")).unwrap();
    indexer.catch_up().await.unwrap();
    Matcher::new(indexer.index().clone(), Thresholds::default())
}

async fn screening_a_supplier_file_reports_every_row(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let matcher = demo_matcher(&store, dir.path()).await;
    let input = "supplier_id,name,tax_id,country,agency_ids\n\
         X-1,MINERA FICTICIA ORO VERDE SAC,,PE,DEMO-A-001\n\
         X-2,,20100000001,PE,\n\
         X-3,Papelera Sin Relacion S.A.,,PE,\n\
         X-4,=HYPERLINK(\"http://evil\"),,PE,\n\
         X-5,Carvoaria Imaginaria do Cerrado,11.111.111/0001-91,BR,\n";
    let rows = screen(&store, &matcher, "suppliers.csv", input).await;
    let summary = cadena::screening::summarize(&rows);
    assert_eq!((summary.rows, summary.strong, summary.errors), (5, 2, 1), "{summary:?}");
    let output = dir.path().join("report.csv");
    write_report_csv(&rows, std::fs::File::create(&output).unwrap()).unwrap();

    let mut reader = csv::Reader::from_path(&output).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    for column in [
        "row",
        "input_id",
        "input_name",
        "match_entity_id",
        "match_list",
        "match_name",
        "match_score",
        "match_strength",
    ] {
        assert!(header.contains(&column.to_owned()), "the report lacks {column}");
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let cell = |row: &csv::StringRecord, column: &str| {
        row.get(header.iter().position(|name| name == column).unwrap()).unwrap().to_owned()
    };
    assert_eq!(rows.len(), 5);
    assert_eq!(cell(&rows[0], "row"), "2");
    assert_eq!(cell(&rows[0], "match_entity_id"), "DEMO-W-001");
    assert_eq!(cell(&rows[0], "match_strength"), "strong");
    assert!(cell(&rows[0], "match_explanation").contains("oro~oro"), "{}", cell(&rows[0], "match_explanation"));
    // A strong watchlist match makes the risk critical, whatever else is known.
    assert_eq!(cell(&rows[0], "risk_band"), "critical");
    assert!(cell(&rows[0], "rules_fired").contains('|'), "{}", cell(&rows[0], "rules_fired"));
    // The row without a name is reported with its line and field, and the others go on.
    assert!(cell(&rows[1], "error").contains(":3: name:"), "{}", cell(&rows[1], "error"));
    assert_eq!(cell(&rows[2], "match_strength"), "none");
    // A formula is neutralised in the report.
    assert!(cell(&rows[3], "input_name").starts_with("'="), "{}", cell(&rows[3], "input_name"));
    assert_eq!(cell(&rows[4], "match_entity_id"), "DEMO-W-002");
    assert!(cell(&rows[4], "match_signals").contains("same_tax_id"));
}

async fn tax_id_and_name_disagreements_are_distinct_signals(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let matcher = demo_matcher(&store, dir.path()).await;
    // The listed CNPJ (valid) under another name: strong, and said so.
    let same_id = ScreeningQuery {
        name: "Comercio de Carvao Nova Era".to_owned(),
        tax_id: Some("11111111000191".to_owned()),
        country: Some("BR".to_owned()),
        ..ScreeningQuery::default()
    };
    let found = matcher.screen(&same_id).unwrap();
    let best = found.first().expect("the same tax id is found");
    assert_eq!(best.entity.entity_id, "DEMO-W-002");
    assert_eq!(best.strength, Strength::Strong);
    assert!(best.explanation.signals.contains(&Signal::SameTaxId));
    assert!(best.explanation.signals.contains(&Signal::SameTaxIdDifferentName));

    // The listed name with another valid CNPJ: still a match, flagged, and weaker.
    let other_id = ScreeningQuery {
        name: "Carvoaria Imaginária do Cerrado Ltda".to_owned(),
        tax_id: Some("11.222.333/0001-81".to_owned()),
        country: Some("BR".to_owned()),
        ..ScreeningQuery::default()
    };
    let found = matcher.screen(&other_id).unwrap();
    let best = found.first().expect("the same name is found");
    assert!(best.explanation.signals.contains(&Signal::SameNameDifferentTaxId), "{:?}", best.explanation);
    assert!(best.score < 1.0);

    // An invalid id is kept and flagged, not dropped.
    let invalid = ScreeningQuery {
        name: "Carvoaria Imaginária do Cerrado Ltda".to_owned(),
        tax_id: Some("11.111.111/0001-00".to_owned()),
        country: Some("BR".to_owned()),
        ..ScreeningQuery::default()
    };
    let found = matcher.screen(&invalid).unwrap();
    assert!(found[0].explanation.signals.contains(&Signal::InvalidQueryTaxId), "{:?}", found[0].explanation);

    // A country mismatch weakens a name match.
    let elsewhere = ScreeningQuery {
        name: "Carvoaria Imaginária do Cerrado Ltda".to_owned(),
        country: Some("PE".to_owned()),
        ..ScreeningQuery::default()
    };
    let found = matcher.screen(&elsewhere).unwrap();
    assert!(found[0].explanation.signals.contains(&Signal::CountryMismatch));
    assert!(found[0].score < 1.0);
}

async fn agency_search_finds_typos_ids_and_filters(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let matcher = demo_matcher(&store, dir.path()).await;
    let search = |text: &str| SearchQuery { text: text.to_owned(), ..SearchQuery::default() };
    let first_id = |query: SearchQuery| {
        matcher.search(&query).unwrap().first().map(|found| found.entity.entity_id.clone()).unwrap_or_default()
    };
    assert_eq!(first_id(search("Reclutadora Fictisia")), "DEMO-A-003", "a typo");
    assert_eq!(first_id(search("empleos inventada")), "DEMO-A-001", "part of a name, no accents");
    assert_eq!(first_id(search("colocaciones")), "DEMO-A-004", "one word");
    assert_eq!(first_id(search("DEMO-LIC-0077")), "DEMO-A-003", "a licence number");
    let by_licence = matcher.search(&search("demo lic 0077")).unwrap();
    assert_eq!(by_licence[0].entity.licence_number.as_deref(), Some("DEMO-LIC-0077"), "shown as written");
    assert_eq!(by_licence[0].entity.licence_status.as_deref(), Some("suspended"));
    assert_eq!(first_id(search("20333333334")), "DEMO-A-002", "a tax id");
    let unlicensed = SearchQuery { licence_status: Some("unlicensed".to_owned()), ..search("agencia empleos") };
    assert_eq!(first_id(unlicensed), "DEMO-A-001");
    let in_mexico = SearchQuery { country: Some("MX".to_owned()), ..search("Reclutadora Ficticia") };
    assert!(matcher.search(&in_mexico).unwrap().is_empty(), "the country filter excludes Peru");
    let in_cusco = SearchQuery { region: Some("PE-CUS".to_owned()), ..search("ficticia") };
    assert_eq!(first_id(in_cusco), "DEMO-A-003");
    assert!(matcher.search(&search("zzzz qqqq")).unwrap().is_empty(), "nothing like it");
}

/// The index follows the store by version: a catch-up indexes what the loads since its
/// version changed, stamps the version, and a rebuild from the store gives the same index.
async fn the_index_follows_loads(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::open(&store, &dir.path().join("index")).unwrap();
    let load = |csv: &'static str| {
        let request = LoadRequest {
            kind: RecordKind::Watchlist,
            source: "test".to_owned(),
            file_name: "watchlist.csv".to_owned(),
            bytes: csv.as_bytes().to_vec(),
        };
        ingest::load_file(&store, request)
    };
    let first = load("entity_id,name\nW-1,Aserradero Los Pinos SAC\nW-2,Ladrillera El Sol\n").await.unwrap();
    let done = indexer.catch_up().await.unwrap();
    assert_eq!((done.from, done.to, done.n_indexed, done.rebuilt), (0, 1, 2, true));
    assert_eq!((indexer.index().len(), indexer.index().view().version()), (2, first.dataset.version.unwrap()));
    let second =
        load("entity_id,name\nW-1,Aserradero Las Palmas SAC\nW-2,Ladrillera El Sol\nW-3,Castañera Amazónica\n")
            .await
            .unwrap();
    let done = indexer.catch_up().await.unwrap();
    assert_eq!((done.from, done.to, done.rebuilt), (1, 2, false));
    assert_eq!((done.n_indexed, indexer.index().len()), (2, 3), "one renamed and one new entity; none duplicated");
    assert_eq!(indexer.index().view().version(), second.dataset.version.unwrap());
    let again = indexer.catch_up().await.unwrap();
    assert_eq!((again.from, again.to, again.n_indexed), (2, 2, 0), "nothing new: nothing done");

    let matcher = Matcher::new(indexer.index().clone(), Thresholds::default());
    let screen = |name: &str| matcher.screen(&ScreeningQuery { name: name.to_owned(), ..ScreeningQuery::default() });
    assert_eq!(screen("Aserradero Las Palmas").unwrap()[0].entity.entity_id, "W-1");
    assert!(screen("Aserradero Los Pinos").unwrap().is_empty(), "the old name is gone");
    assert_eq!(screen("Castanera Amazonica").unwrap()[0].entity.entity_id, "W-3");

    // A rebuild from the store gives the same index: the same entities, the same stamp.
    let rebuilt = Indexer::open(&store, &dir.path().join("rebuilt")).unwrap();
    assert_eq!(rebuilt.rebuild(&Progress::hidden()).await.unwrap().n_indexed, 3);
    let entities = |indexer: &Indexer| {
        let index = indexer.index();
        let mut entities = index.all_entities(&index.view()).unwrap();
        entities.sort_by_key(|entity| entity.key());
        entities
    };
    assert_eq!(entities(&rebuilt), entities(&indexer));
    assert_eq!(rebuilt.index().view().stamp(), indexer.index().view().stamp());
    assert!(indexer.check().await.unwrap().is_clean());
}

/// A second indexer on the same directory (another process on the data directory) does
/// not write: it follows the commits of the one that holds the writer.
async fn one_writer_per_index_directory(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let writer = Indexer::open(&store, &dir.path().join("index")).unwrap();
    let follower = Indexer::open(&store, &dir.path().join("index")).unwrap();
    assert!(writer.is_writer() && !follower.is_writer());
    demo::load_demo(&store).await.unwrap();
    let followed = follower.catch_up().await.unwrap();
    assert_eq!((followed.writer, followed.to, followed.n_indexed), (false, 0, 0), "it did not write");
    assert!(!follower.status().borrow().caught_up_once);
    writer.catch_up().await.unwrap();
    let followed = follower.catch_up().await.unwrap();
    assert_eq!(followed.to, store.store_version().await.unwrap(), "it sees the writer's commit");
    assert!(follower.status().borrow().caught_up_once);
    assert_eq!(follower.index().len(), writer.index().len());
    assert!(follower.rebuild(&Progress::hidden()).await.unwrap_err().to_string().contains("another cadena process"));
}

/// Screens a CSV text with the bundled rules on two threads.
async fn screen(store: &Store, matcher: &Matcher, file_name: &str, csv: &str) -> Vec<ReportRow> {
    let prepared = PreparedFile::read(store, file_name, csv.as_bytes().to_vec()).await.unwrap();
    prepared.screen(matcher, &matcher.index().view(), &Ruleset::bundled(), 2, &Progress::hidden()).unwrap()
}

async fn screening_a_procurement_file_scores_risk(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let matcher = demo_matcher(&store, dir.path()).await;
    let csv = String::from_utf8(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/procurements.csv")).unwrap())
        .unwrap();
    let rows = screen(&store, &matcher, "procurements.csv", &csv).await;
    assert_eq!(rows.len(), csv.lines().count() - 1, "a report row per input row");
    let band = |id: &str| rows.iter().find(|row| row.input_id == id).map(|row| row.risk_band.clone()).unwrap();
    // Gold from Madre de Dios, bought from a listed supplier that uses an unlicensed agency.
    assert_eq!(band("DEMO-P-2025-001/1"), "critical");
    // Office paper from a supplier with a complete, clean profile.
    assert_eq!(band("DEMO-P-2025-002/1"), "low");
    let gold = rows.iter().find(|row| row.input_id == "DEMO-P-2025-001/1").unwrap();
    assert_eq!((gold.match_entity_id.as_str(), gold.match_strength.as_str()), ("DEMO-W-001", "strong"));

    // The same paper line from a supplier cadena knows nothing about is not low, and says what is missing.
    let unknown = "procurement_id,line_id,supplier_name,item_description,origin_country\nP-9,1,Papelera Desconocida SAC,Papel bond A4,PE\n";
    let rows = screen(&store, &matcher, "unknown.csv", unknown).await;
    assert_ne!(rows[0].risk_band, "low", "{:?}", rows[0]);
    assert!(!rows[0].data_gaps.is_empty());
}

async fn batch_screening_keeps_input_order_on_many_threads(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..50).map(|i| format!("Empresa Numero{i} Ficticia")).collect();
    let entities = names.iter().enumerate().map(|(i, name)| listed(&format!("W-{i}"), vec![name.clone()])).collect();
    let matcher = watchlist_index(dir.path(), entities);
    let mut csv = String::from("supplier_id,name\n");
    for (i, name) in names.iter().enumerate() {
        csv.push_str(&format!("S-{i},{name}\n"));
    }
    let prepared = PreparedFile::read(&store, "suppliers.csv", csv.into_bytes()).await.unwrap();
    let rows = prepared.screen(&matcher, &matcher.index().view(), &Ruleset::bundled(), 3, &Progress::hidden()).unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!((row.input_id.clone(), row.match_entity_id.clone()), (format!("S-{i}"), format!("W-{i}")));
    }
}

/// A load queued for the worker reaches the index through the indexer, without a reindex.
async fn the_worker_updates_the_index_after_each_load(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"agency_id,name,licence_status\nA-1,Reclutamientos Andinos S.A.C.,revocada\n";
    let new_load = NewLoad {
        kind: RecordKind::Agencies,
        source: "test",
        file_name: "agencies.csv",
        format: None,
        column_map: &[],
    };
    store.queue_load(&new_load, csv).await.unwrap();
    let indexer = Indexer::open(&store, &dir.path().join("index")).unwrap();
    indexer.catch_up().await.unwrap();
    let mut versions = store.subscribe_versions();
    let reports = Worker::new(store.clone()).run_until_idle().await.unwrap();
    assert!(reports[0].is_ok(), "{reports:?}");
    assert!(versions.has_changed().unwrap(), "the load told the process's listeners");
    assert_eq!(*versions.borrow_and_update(), store.store_version().await.unwrap());
    assert_eq!(indexer.index().len(), 0, "loads only commit to the store");
    indexer.catch_up().await.unwrap();
    assert_eq!(indexer.index().len(), 1, "the queued load's agency is searchable without a reindex");
}

/// A register where every word is common, as in Peru's or Mexico's (issue 19): 8,000
/// names made of 20 surnames, 20 sectors and 20 places, each word in 400 names. With a
/// postings budget of 100 no word may be searched alone, so a name is found through its
/// word pairs and whole-name key; it must still be found first, reordered or misspelt.
#[test]
fn names_of_common_words_are_found_through_their_pairs() {
    let mut entities = Vec::new();
    for surname in evaluation::DENSE_SURNAMES {
        for sector in evaluation::DENSE_SECTORS {
            for place in evaluation::DENSE_PLACES {
                let id = format!("D{:04}", entities.len());
                entities.push(listed(&id, vec![format!("{surname} {sector} {place} S.A.C.")]));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let index = EntityIndex::open_or_create(dir.path()).unwrap().with_postings_budget(100);
    index.add_entities(&entities).unwrap();
    let matcher = Matcher::new(index, Thresholds::default());
    let mut wrong = Vec::new();
    for entity in entities.iter().step_by(53) {
        let words: Vec<&str> = entity.names[0].split(' ').collect();
        let (surname, sector, place) = (words[0], words[1], words[2]);
        // One letter doubled: "Textil" → "Textiil", a word the index does not know.
        let misspelt: String =
            sector.chars().take(sector.len() - 1).chain(sector.chars().skip(sector.len() - 2)).collect();
        for query in [format!("{place} {sector} {surname}"), format!("{surname} {misspelt} {place} SAC")] {
            let found = matcher.screen(&ScreeningQuery { name: query.clone(), ..ScreeningQuery::default() }).unwrap();
            if found.first().is_none_or(|best| best.entity.entity_id != entity.entity_id) {
                wrong.push(format!("{query:?} -> {:?}", found.first().map(|best| &best.entity.names[0])));
            }
        }
    }
    assert!(wrong.is_empty(), "not found first:\n{}", wrong.join("\n"));
}
