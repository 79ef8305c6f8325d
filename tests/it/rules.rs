//! The rule engine with the bundled rule set: the rules' own cases, the end-to-end cases
//! of issue 4 on the demo dataset, the digest, determinism and error reporting.

use std::path::{Path, PathBuf};

use cadena::csv_reader::CsvFile;
use cadena::demo::DEMO_FILES;
use cadena::lang::Lang;
use cadena::records::{Agency, ColumnMap, LicenceEntry, ProcurementLine, Record, RecordKind, Supplier, parse_row};
use cadena::rules::{AgencyFacts, Assessment, Band, MatchStrength, Ruleset, Subject, WatchlistHit};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// Every record of one kind in the embedded demo dataset, parsed as `cadena ingest` does.
fn demo_records<R: Record>() -> Vec<R> {
    let (_, name, bytes) = DEMO_FILES.iter().find(|(kind, _, _)| *kind == R::KIND).expect("demo file of the kind");
    let file = CsvFile::from_bytes(*name, bytes.to_vec());
    let (header, rows) = file.rows().expect("demo header");
    let columns = ColumnMap::new(R::KIND, &header).expect("demo columns");
    rows.map(|row| {
        let row = row.expect("demo row");
        parse_row::<R>(&columns, &row.cells()).unwrap_or_else(|errors| panic!("{name}:{}: {errors:?}", row.line))
    })
    .collect()
}

/// The demo dataset, and subjects assembled from it the way screening does: a line,
/// its supplier, and every agency the line or supplier names with its register entry.
struct Demo {
    lines: Vec<ProcurementLine>,
    suppliers: Vec<Supplier>,
    agencies: Vec<Agency>,
    licences: Vec<LicenceEntry>,
}

impl Demo {
    fn load() -> Demo {
        assert_eq!(RecordKind::ALL.len(), DEMO_FILES.len());
        Demo { lines: demo_records(), suppliers: demo_records(), agencies: demo_records(), licences: demo_records() }
    }

    fn line(&self, procurement_id: &str, line_id: &str) -> ProcurementLine {
        let found = self.lines.iter().find(|line| line.procurement_id == procurement_id && line.line_id == line_id);
        found.expect("demo line").clone()
    }

    fn supplier(&self, supplier_id: &str) -> Supplier {
        self.suppliers.iter().find(|supplier| supplier.supplier_id == supplier_id).expect("demo supplier").clone()
    }

    fn subject(&self, procurement_id: &str, line_id: &str) -> Subject {
        let line = self.line(procurement_id, line_id);
        let supplier = line.supplier_id.as_deref().map(|id| self.supplier(id));
        let mut agency_ids: Vec<String> = line.agency_ids.clone();
        for id in supplier.iter().flat_map(|supplier| &supplier.agency_ids) {
            if !agency_ids.contains(id) {
                agency_ids.push(id.clone());
            }
        }
        let agencies = agency_ids
            .into_iter()
            .map(|agency_id| {
                let agency = self.agencies.iter().find(|agency| agency.agency_id == agency_id).cloned();
                let licence_number = agency.as_ref().and_then(|agency| agency.licence_number.clone());
                let licence = licence_number
                    .and_then(|number| self.licences.iter().find(|licence| licence.licence_number == number).cloned());
                AgencyFacts { agency_id, agency, licence }
            })
            .collect();
        Subject { line: Some(line), supplier, agencies, watchlist_matches: Vec::new() }
    }
}

fn fired_ids(assessment: &Assessment) -> Vec<&str> {
    assessment.fired.iter().map(|rule| rule.id.as_str()).collect()
}

#[test]
fn bundled_rules_check_clean_and_match_the_directory() {
    let from_dir = Ruleset::load_dir(&rules_dir()).unwrap_or_else(|err| panic!("{err}"));
    let bundled = Ruleset::bundled();
    assert_eq!(from_dir.digest(), bundled.digest());
    assert_eq!(bundled.digest().len(), 64);
    assert_eq!(bundled.version(), from_dir.version());
    assert!(bundled.rule_ids().count() >= 20);
}

/// Every rule's own `[[rule.test]]` cases, so that `cargo test` runs them.
#[test]
fn every_bundled_rule_case_passes() {
    let ruleset = Ruleset::bundled();
    let report = ruleset.run_tests();
    let failures: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(report.rules_never_fired.is_empty(), "{:?}", report.rules_never_fired);
    assert!(report.n_cases >= 3 * report.n_rules, "{} cases for {} rules", report.n_cases, report.n_rules);
}

#[test]
fn gold_from_madre_de_dios_with_an_unlicensed_agency_is_critical() {
    let ruleset = Ruleset::bundled();
    let assessment = ruleset.evaluate(&Demo::load().subject("DEMO-P-2025-001", "1"), Lang::En);
    assert_eq!(assessment.band, Band::Critical, "{assessment:#?}");
    let fired = fired_ids(&assessment);
    for id in [
        "product.ilab_forced_labour",
        "product.high_risk_region",
        "recruitment.agency_unlicensed",
        "recruitment.worker_fees",
    ] {
        assert!(fired.contains(&id), "{id} did not fire: {fired:?}");
    }
    let ilab = assessment.fired.iter().find(|rule| rule.id == "product.ilab_forced_labour").unwrap();
    let entry = ilab.evidence[0].list_entry.as_ref().expect("ILAB evidence names its list entry");
    assert_eq!(entry.list, "ilab_goods");
    assert!(entry.entry.starts_with("Gold, PE"), "{entry:?}");
    assert!(entry.source.contains("ILAB") && entry.source.contains("2022"), "{entry:?}");
    let agency = assessment.fired.iter().find(|rule| rule.id == "recruitment.agency_unlicensed").unwrap();
    assert_eq!(agency.evidence[0].value, "unlicensed");
    assert_eq!(agency.evidence[0].about.as_deref(), Some("agency DEMO-A-001"));
    assert!(agency.legal_basis.iter().any(|basis| basis == "OAS WP3 ¶39"));
}

#[test]
fn office_paper_from_a_supplier_with_a_clean_profile_is_low() {
    let ruleset = Ruleset::bundled();
    let assessment = ruleset.evaluate(&Demo::load().subject("DEMO-P-2025-002", "1"), Lang::En);
    assert_eq!(assessment.band, Band::Low, "{assessment:#?}");
    assert!(assessment.data_gaps.is_empty(), "{:?}", assessment.data_gaps);
    let fired = fired_ids(&assessment);
    assert!(!fired.iter().any(|id| id.starts_with("recruitment.") || id.starts_with("product.")), "{fired:?}");
}

#[test]
fn the_same_supplier_with_no_data_is_not_low_and_lists_its_gaps() {
    let ruleset = Ruleset::bundled();
    let demo = Demo::load();
    let known = demo.supplier("DEMO-S-002");
    let unknown = Supplier {
        supplier_id: known.supplier_id.clone(),
        name: known.name.clone(),
        aliases: Vec::new(),
        tax_id: known.tax_id.clone(),
        tax_id_key: known.tax_id_key.clone(),
        country: known.country.clone(),
        ..Supplier::default()
    };
    let subject = Subject {
        line: Some(demo.line("DEMO-P-2025-002", "1")),
        supplier: Some(unknown),
        agencies: Vec::new(),
        watchlist_matches: Vec::new(),
    };
    let assessment = ruleset.evaluate(&subject, Lang::En);
    assert!(assessment.band > Band::Low, "{assessment:#?}");
    let gaps: Vec<&str> = assessment.data_gaps.iter().map(|gap| gap.rule_id.as_str()).collect();
    for id in ["findings.forced_labour", "recruitment.worker_fees", "recruitment.identity_documents_retained"] {
        assert!(gaps.contains(&id), "{id} is not a data gap: {gaps:?}");
    }
    let fees = assessment.data_gaps.iter().find(|gap| gap.rule_id == "recruitment.worker_fees").unwrap();
    assert!(fees.question.contains("fee"), "{fees:?}");
    assert_eq!(fees.missing_fields, vec!["supplier.charges_worker_fees"]);
    assert!(assessment.unknown_counted > 0.0 && assessment.unknown_counted <= assessment.unknown_total);
}

#[test]
fn a_band_floor_wins_over_mitigants() {
    let ruleset = Ruleset::bundled();
    let demo = Demo::load();
    let mut subject = demo.subject("DEMO-P-2025-002", "1");
    if let Some(supplier) = subject.supplier.as_mut() {
        supplier.public_official_linked = Some(true);
    }
    let assessment = ruleset.evaluate(&subject, Lang::En);
    assert!(fired_ids(&assessment).contains(&"mitigation.credible_social_audit"));
    assert!(assessment.score_band < Band::High, "{assessment:#?}");
    assert_eq!(assessment.band, Band::High);
    let floor = assessment.band_floor.as_ref().expect("the floor decided the band");
    assert_eq!(floor.rule_id, "governance.public_official_linked");

    let mut subject = demo.subject("DEMO-P-2025-002", "1");
    subject.watchlist_matches.push(WatchlistHit {
        entity_id: "DEMO-W-009".to_owned(),
        list: Some("Demo debarment list".to_owned()),
        name: "Papelera Ejemplo del Norte S.A.".to_owned(),
        strength: MatchStrength::Strong,
        score: 0.97,
        reason: None,
        source: None,
    });
    let assessment = ruleset.evaluate(&subject, Lang::En);
    assert_eq!(assessment.band, Band::Critical, "{assessment:#?}");
    let evidence = &assessment.fired.iter().find(|rule| rule.id == "watchlist.strong_match").unwrap().evidence;
    assert_eq!(evidence[0].about.as_deref(), Some("watchlist entity DEMO-W-009"));
}

/// The texts of one rule in one language, read from its file as an officer's translator
/// wrote them (not through the loader under test).
pub(crate) fn rule_texts(file: &str, rule_id: &str, lang: &str) -> (String, String, String) {
    let text = std::fs::read_to_string(rules_dir().join(file)).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let rule = table["rule"].as_array().unwrap().iter().find(|rule| rule["id"].as_str() == Some(rule_id)).unwrap();
    let get = |key: &str| rule[key][lang].as_str().unwrap().to_owned();
    (get("title"), get("action"), get("data_gap"))
}

/// Every rule's title, action and question in one language, from the rule files.
pub(crate) fn all_rule_texts(lang: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for (file, _) in cadena::rules::BUNDLED_FILES.iter().filter(|(file, _)| !file.contains('/')) {
        let table: toml::Table = std::fs::read_to_string(rules_dir().join(file)).unwrap().parse().unwrap();
        for rule in table.get("rule").and_then(|rules| rules.as_array()).into_iter().flatten() {
            for key in ["title", "action", "data_gap"] {
                texts.push(rule[key][lang].as_str().unwrap().to_owned());
            }
        }
    }
    texts
}

#[test]
fn titles_actions_questions_and_evidence_come_in_the_language_asked_for() {
    let ruleset = Ruleset::bundled();
    let demo = Demo::load();
    let mut subject = demo.subject("DEMO-P-2025-001", "1");
    subject.watchlist_matches.push(WatchlistHit {
        entity_id: "DEMO-W-001".to_owned(),
        list: Some("Lista de prueba".to_owned()),
        name: "Minera Ficticia Oro Verde S.A.C.".to_owned(),
        strength: MatchStrength::Strong,
        score: 0.97,
        reason: None,
        source: None,
    });
    let fired =
        |assessment: &Assessment, id: &str| assessment.fired.iter().find(|rule| rule.id == id).cloned().unwrap();

    let spanish = ruleset.evaluate(&subject, Lang::Es);
    assert_eq!(spanish.lang, Lang::Es);
    let (title, action, _) = rule_texts("watchlist.toml", "watchlist.strong_match", "es");
    let strong = fired(&spanish, "watchlist.strong_match");
    assert_eq!((strong.title.as_str(), strong.action.as_str()), (title.as_str(), action.as_str()));
    assert_eq!(
        strong.evidence[0].text,
        "Coincidencia fuerte con «Minera Ficticia Oro Verde S.A.C.», lista Lista de prueba"
    );
    let agency = fired(&spanish, "recruitment.agency_unlicensed");
    assert_eq!(agency.evidence[0].text, "Estado de la licencia (agencia DEMO-A-001): sin licencia");
    assert_eq!(agency.evidence[0].value, "unlicensed", "the value machines read stays as the rules write it");
    let fees = fired(&spanish, "recruitment.worker_fees");
    assert_eq!(fees.evidence[0].text, "Los trabajadores pagan comisiones o costos de reclutamiento: sí");
    let families: Vec<&str> = spanish.families.iter().map(|family| family.title.as_str()).collect();
    assert!(families.contains(&"Riesgo país"), "{families:?}");

    let portuguese = ruleset.evaluate(&subject, Lang::Pt);
    let (title, action, _) = rule_texts("recruitment.toml", "recruitment.agency_unlicensed", "pt");
    let agency = fired(&portuguese, "recruitment.agency_unlicensed");
    assert_eq!((agency.title.as_str(), agency.action.as_str()), (title.as_str(), action.as_str()));
    assert_eq!(agency.evidence[0].text, "Situação da licença (agência DEMO-A-001): sem licença");
    assert_eq!(
        fired(&portuguese, "watchlist.strong_match").evidence[0].text,
        "Correspondência forte com «Minera Ficticia Oro Verde S.A.C.», lista Lista de prueba"
    );

    // Questions: the same supplier with nothing known about its workers.
    let mut unknown = demo.subject("DEMO-P-2025-002", "1");
    if let Some(supplier) = unknown.supplier.as_mut() {
        supplier.charges_worker_fees = None;
    }
    let (_, _, question) = rule_texts("recruitment.toml", "recruitment.worker_fees", "es");
    let gaps = ruleset.evaluate(&unknown, Lang::Es).data_gaps;
    let gap = gaps.iter().find(|gap| gap.rule_id == "recruitment.worker_fees").unwrap();
    assert_eq!(gap.question, question);
    assert!(gap.question.starts_with('¿'), "{gap:?}");

    // Every rule's texts differ between languages: none was left untranslated.
    for (a, b) in [(Lang::Es, Lang::En), (Lang::Pt, Lang::En), (Lang::Es, Lang::Pt)] {
        for (first, second) in ruleset.rules(a).iter().zip(ruleset.rules(b)) {
            assert_ne!(first.title, second.title, "{} has one title in {a} and {b}", first.id);
            assert_ne!(first.data_gap, second.data_gap, "{} has one question in {a} and {b}", first.id);
        }
    }
}

#[test]
fn the_same_inputs_give_byte_identical_json() {
    let demo = Demo::load();
    let first = Ruleset::bundled();
    let second = Ruleset::load_dir(&rules_dir()).unwrap();
    for (procurement_id, line_id) in [("DEMO-P-2025-001", "1"), ("DEMO-P-2025-002", "1"), ("DEMO-P-2025-004", "1")] {
        let subject = demo.subject(procurement_id, line_id);
        let a = serde_json::to_string(&first.evaluate(&subject, Lang::En)).unwrap();
        let b = serde_json::to_string(&second.evaluate(&subject.clone(), Lang::En)).unwrap();
        assert_eq!(a, b);
        let round_trip: Assessment = serde_json::from_str(&a).unwrap();
        assert_eq!(serde_json::to_string(&round_trip).unwrap(), a);
        assert!(a.contains(first.digest()));
    }
}

/// A copy of the bundled rules in a temporary directory, to edit.
pub(crate) fn rules_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&rules_dir(), dir.path());
    dir
}

#[test]
fn changing_any_rule_or_list_file_changes_the_digest() {
    let dir = rules_copy();
    let original = Ruleset::load_dir(dir.path()).unwrap().digest().to_owned();
    assert_eq!(original, Ruleset::bundled().digest());
    let mut n_files = 0;
    for relative in ["ruleset.toml", "product.toml", "lists/ilab_goods.toml", "lists/goods.toml"] {
        let path = dir.path().join(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n# edited\n")).unwrap();
        let edited = Ruleset::load_dir(dir.path()).unwrap_or_else(|err| panic!("{err}"));
        assert_ne!(edited.digest(), original, "editing {relative} left the digest unchanged");
        std::fs::write(&path, text).unwrap();
        n_files += 1;
    }
    assert_eq!(Ruleset::load_dir(dir.path()).unwrap().digest(), original);
    assert_eq!(n_files, 4);
}

#[test]
fn a_broken_rule_file_reports_every_problem_with_file_and_line() {
    let dir = rules_copy();
    let broken = r#"
[[rule]]
id = "broken.unknown_field"
title = "Unknown field"
family = "product"
legal_basis = ["OAS WP3 ¶34"]
weight = 10
action = "a"
data_gap = "b"
when = { field = "supplier.favourite_colour", eq = "red" }

[[rule]]
id = "broken.typo_in_key"
title = "Typo"
family = "product"
legal_basis = ["OAS WP3 ¶34"]
wieght = 10
action = "a"
data_gap = "b"
when = { field = "supplier.sector", keywords = ["mining"] }

[[rule]]
id = "broken.bad_status_and_family"
title = "Bad status"
family = "nonsense"
legal_basis = ["OAS WP3 ¶39"]
weight = 10
action = "a"
data_gap = "b"
when = { field = "agency.licence_status", eq = "revokd" }

[[rule]]
id = "broken.no_tests"
title = "No tests"
family = "product"
legal_basis = ["OAS WP3 ¶34"]
weight = 10
action = "a"
data_gap = "b"
when = { list = "ilab_goods", key = ["line.good"], flag = "forced_labor" }
"#;
    std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
    let err = Ruleset::load_dir(dir.path()).expect_err("the broken rules must not load");
    let file = format!("{}/broken.toml", dir.path().display());
    let lines: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    let text = lines.join("\n");
    for (line, needle) in [
        (10, "unknown field \"supplier.favourite_colour\""),
        (17, "wieght"),
        (22, "family \"nonsense\""),
        (30, "\"revokd\" is not one of"),
        (40, "list ilab_goods is keyed by 2"),
        (32, "rule broken.no_tests: no test case that fires"),
    ] {
        let prefix = format!("{file}:{line}: ");
        assert!(
            err.problems.iter().any(|p| p.to_string().starts_with(&prefix) && p.message.contains(needle)),
            "no problem at line {line} mentioning {needle:?} in:\n{text}"
        );
    }
}

#[test]
fn a_wrong_expectation_fails_the_rule_tests() {
    let dir = rules_copy();
    let path = dir.path().join("findings.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "facts = { \"supplier.forced_labour_finding\" = false }",
        "facts = { \"supplier.forced_labour_finding\" = true }",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let report = Ruleset::load_dir(dir.path()).unwrap().run_tests();
    assert!(!report.passed());
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let failure = report.failures[0].to_string();
    assert!(failure.contains("findings.toml:") && failure.contains("expected pass, got fire"), "{failure}");
}
