//! Screening quality and speed with a large watchlist (issue 3's targets).
//!
//! `cargo bench --bench matching` — builds a SQLite store with 1,000,000 generated
//! distractor entities beside the PATSTAT listed names and the CBP entities, rebuilds the
//! index from the store, then reports:
//!
//! - quality: PATSTAT recall / false-positive rate at the default *possible* threshold and
//!   at a 1 % false-positive rate (set-up of `../shared/data/README.md`), accuracy on the
//!   nomenklatura organisation pairs, and whether every CBP alias finds its own entity first;
//! - speed: index build time, single-query latency (p50 / p99, one thread), batch screening
//!   throughput on all cores, a 100,000-row batch audit through the HTTP API
//!   (`CADENA_BENCH_AUDIT_ROWS`), and the process's peak resident memory.
//!
//! `CADENA_BENCH_ENTITIES` sets the number of distractors (default 1,000,000).
//! `CADENA_BENCH_VOCAB=dense` makes every distractor of common words only (20 places, 20
//! sectors, 20 surnames and legal forms, as `../shared/tools/perf_1m.sh dense` does: a
//! register like Peru's or Mexico's, where no word of "Servicios Generales Andinos" is
//! rare); the default, `mixed`, invents most words.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use cadena::audit::AuditWorker;
use cadena::http::{AppState, router};
use cadena::service::ScreeningService;
use cadena::store::keys::Role;
use http_body_util::BodyExt;
use tower::ServiceExt;

use cadena::indexer::Indexer;
use cadena::ingest::{LoadRequest, load_file};
use cadena::matching::evaluation;
use cadena::matching::{DEFAULT_POSSIBLE_THRESHOLD, Matcher, ScreeningQuery, Thresholds};
use cadena::progress::Progress;
use cadena::records::RecordKind;
use cadena::rules::Ruleset;
use cadena::screening::PreparedFile;
use cadena::store::Store;

fn main() -> anyhow::Result<()> {
    let data = evaluation::shared_data_dir();
    let patstat_path = data.join("matching/patstat_org_clusters_dev.csv");
    if !patstat_path.exists() {
        println!("skipped: {} is absent (the shared data sits beside the checkout)", patstat_path.display());
        return Ok(());
    }
    let n_distractors: usize =
        std::env::var("CADENA_BENCH_ENTITIES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // CADENA_BENCH_DIR keeps the store and index between runs (for profiling queries).
    let kept_dir = std::env::var_os("CADENA_BENCH_DIR").map(std::path::PathBuf::from);
    let temp_dir = tempfile::tempdir()?;
    let dir_path = kept_dir.clone().unwrap_or_else(|| temp_dir.path().to_owned());
    let patstat = evaluation::patstat(&patstat_path)?;
    let cbp = evaluation::cbp_entities(&data.join("watchlists/cbp_wro_names_aliases.csv"))?;

    // The watchlist file: listed PATSTAT names, CBP entities, then the distractors.
    let mut csv = String::from("entity_id,list,name,aliases,country\n");
    for listed in &patstat.listed {
        csv.push_str(&format!("{},patstat,{},,\n", listed.id, quote(&listed.name)));
    }
    for entity in &cbp {
        csv.push_str(&format!("{},cbp,{},{},\n", entity.id, quote(&entity.name), quote(&entity.aliases.join("|"))));
    }
    let vocabulary = std::env::var("CADENA_BENCH_VOCAB").unwrap_or_else(|_| "mixed".to_owned());
    let dense = match vocabulary.as_str() {
        "mixed" => false,
        "dense" => true,
        other => anyhow::bail!("CADENA_BENCH_VOCAB is mixed or dense, not {other:?}"),
    };
    println!("distractor vocabulary: {vocabulary}");
    let mut names = NameGenerator::new(42, dense);
    let mut distractors = Vec::with_capacity(n_distractors);
    for i in 0..n_distractors {
        let name = names.company();
        csv.push_str(&format!("D{i:07},synthetic,{},,{}\n", quote(&name), names.country()));
        distractors.push(name);
    }

    std::fs::create_dir_all(&dir_path)?;
    let store = runtime.block_on(Store::open_sqlite(dir_path.as_path()))?;
    runtime.block_on(store.migrate())?;
    let index_dir = dir_path.join("index");
    let reuse = kept_dir.is_some() && index_dir.exists();
    let started = Instant::now();
    let request = LoadRequest {
        kind: RecordKind::Watchlist,
        source: "bench".to_owned(),
        file_name: "watchlist.csv".to_owned(),
        bytes: csv.into_bytes(),
    };
    let report = if reuse { None } else { Some(runtime.block_on(load_file(&store, request))?) };
    if let Some(report) = report {
        println!(
            "loaded {} watchlist entities into SQLite in {:.1} s ({} rejected)",
            report.dataset.n_inserted,
            started.elapsed().as_secs_f64(),
            report.dataset.n_rejected
        );
        let started = Instant::now();
        let indexed = runtime.block_on(Indexer::open(&store, &index_dir)?.rebuild(&Progress::hidden()))?.n_indexed;
        let build_seconds = started.elapsed().as_secs_f64();
        println!("index build from the store: {indexed} entities in {build_seconds:.1} s (target at most 180 s)");
    }
    let indexer = Indexer::open(&store, &index_dir)?;
    runtime.block_on(indexer.catch_up())?;
    let matcher = Arc::new(Matcher::new(indexer.index().clone(), Thresholds::default()));
    let indexed = matcher.index().len();

    // Quality.
    let hits = evaluation::top_hits(&matcher, &patstat)?;
    let at_default = evaluation::rates(&patstat, &hits, DEFAULT_POSSIBLE_THRESHOLD);
    println!("PATSTAT at the default possible threshold, {indexed} entities indexed: {at_default}");
    println!(
        "  target: recall at least 0.970 with false-positive rate at most 0.010 (rapidfuzz token_sort_ratio: 0.943 at 0.010)"
    );
    println!(
        "PATSTAT at the lowest threshold (at or above the default) with a false-positive rate of at most 1 %: {}",
        evaluation::rates_at_false_positive_rate(&patstat, &hits, 0.01)
    );

    for (query, hit) in patstat.queries.iter().zip(&hits) {
        let hit = hit.as_ref().filter(|hit| hit.score >= DEFAULT_POSSIBLE_THRESHOLD);
        match (&query.expected, hit) {
            (None, Some(hit)) => println!("  false positive: {:?} -> {} ({:.3})", query.name, hit.id, hit.score),
            (Some(expected), hit) if hit.is_none_or(|hit| hit.id != *expected) => {
                println!("  missed: {:?} (expected {expected}, got {:?})", query.name, hit.map(|hit| &hit.id))
            }
            _ => {}
        }
    }

    let pairs = evaluation::nomenklatura_organisations(&data.join("matching/name_pairs_nomenklatura.csv"))?;
    let correct = evaluation::pairs_right(&pairs, DEFAULT_POSSIBLE_THRESHOLD);
    println!(
        "nomenklatura organisation pairs at the default threshold: {correct}/{} correct = {:.3} (target at least 0.85)",
        pairs.len(),
        correct as f64 / pairs.len() as f64
    );
    let mut aliases = 0;
    let mut first = 0;
    for entity in &cbp {
        for alias in &entity.aliases {
            aliases += 1;
            let found = matcher.screen(&ScreeningQuery { name: alias.clone(), ..ScreeningQuery::default() })?;
            if found.first().is_some_and(|best| best.entity.entity_id == entity.id) {
                first += 1;
            } else {
                println!("  CBP alias {alias:?} did not find {} first", entity.id);
            }
        }
    }
    println!("CBP aliases that find their own entity first: {first}/{aliases}");

    // Speed: single queries on one thread, a mix of listed-name variants and distractor typos.
    let mut queries: Vec<String> = patstat.queries.iter().map(|query| query.name.clone()).collect();
    for i in 0..4000 {
        queries.push(names.typo(&distractors[(i * 7919) % distractors.len()]));
    }
    let mut latencies = Vec::with_capacity(queries.len());
    for query in &queries {
        let started = Instant::now();
        let _ = matcher.screen(&ScreeningQuery { name: query.clone(), ..ScreeningQuery::default() })?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "single screening query, one thread, {} queries: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (targets 2 ms / 10 ms)",
        latencies.len(),
        percentile(0.5),
        percentile(0.99),
        latencies.last().copied().unwrap_or_default()
    );

    // Speed: batch screening of a supplier file (matching and the risk rules) on all cores,
    // against one thread as the baseline.
    let mut suppliers = String::from("supplier_id,name,country\n");
    for i in 0..20_000 {
        let name =
            if i % 2 == 0 { names.typo(&distractors[(i * 104_729) % distractors.len()]) } else { names.company() };
        suppliers.push_str(&format!("S{i:06},{},{}\n", quote(&name), names.country()));
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let ruleset = Ruleset::bundled();
    let mut per_second = Vec::new();
    for n_threads in [1, threads] {
        let started = Instant::now();
        let prepared = runtime.block_on(PreparedFile::read(&store, "suppliers.csv", suppliers.clone().into_bytes()))?;
        let rows = prepared.screen(&matcher, &matcher.index().view(), &ruleset, n_threads, &Progress::hidden())?;
        let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
        println!("batch screening, {n_threads} thread(s): {} rows at {rate:.0} rows/s", rows.len());
        per_second.push(rate);
    }
    println!(
        "batch screening on {threads} cores: {:.0} rows/s, {:.2}x one thread (target at least 2,000 rows/s)",
        per_second[1],
        per_second[1] / per_second[0]
    );
    // A batch audit of 100,000 supplier rows through the HTTP API: upload, the audit
    // worker on all cores, the report download.
    let n_audit_rows: usize =
        std::env::var("CADENA_BENCH_AUDIT_ROWS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut audit_file = String::from("supplier_id,name,country\n");
    for i in 0..n_audit_rows {
        let name =
            if i % 2 == 0 { names.typo(&distractors[(i * 15_485_863) % distractors.len()]) } else { names.company() };
        audit_file.push_str(&format!("A{i:06},{},{}\n", quote(&name), names.country()));
    }
    let service = Arc::new(ScreeningService::new(store.clone(), matcher.clone(), Arc::new(ruleset), indexer.status()));
    let app = router(AppState::new(store.clone(), service.clone()));
    let (_, key) = runtime.block_on(store.create_key("bench", Role::Auditor))?;
    let started = Instant::now();
    let upload = Request::post("/v1/audits?name=audit.csv")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(audit_file))?;
    let response = runtime.block_on(app.clone().oneshot(upload))?;
    let body = runtime.block_on(response.into_body().collect())?.to_bytes();
    let audit: serde_json::Value = serde_json::from_slice(&body)?;
    let audit_id = audit["id"].as_i64().ok_or_else(|| anyhow::anyhow!("the upload failed: {audit}"))?;
    let worker = AuditWorker::new(store.clone(), service, threads);
    runtime.block_on(worker.run_until_idle())?;
    let download = Request::get(format!("/v1/audits/{audit_id}/report"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())?;
    let response = runtime.block_on(app.oneshot(download))?;
    let report = runtime.block_on(response.into_body().collect())?.to_bytes();
    let report_rows = csv::Reader::from_reader(report.as_ref()).records().count();
    println!(
        "batch audit through the API: {n_audit_rows} supplier rows uploaded, screened and downloaded in {:.1} s, {report_rows} report rows (target at most 60 s for 100,000)",
        started.elapsed().as_secs_f64()
    );
    println!("peak resident memory of this process: {} (target at most 2 GiB)", peak_rss());
    runtime.block_on(store.close());
    Ok(())
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|line| line.starts_with("VmHWM:")).map(|line| line[6..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Deterministic generator of plausible company names in Spanish, Portuguese, English,
/// Dutch and German: invented words, surnames, sector words, places and legal forms.
struct NameGenerator {
    state: u64,
    /// Common words only (see `CADENA_BENCH_VOCAB`).
    dense: bool,
}

const SYLLABLES: &[&str] = &[
    "ka", "to", "ri", "men", "sa", "lo", "ver", "an", "mar", "tex", "co", "pro", "gen", "tri", "nor", "vi", "la", "no",
    "ba", "ra", "pe", "do", "ti", "mon", "sol", "lu", "cor", "fin", "ag", "ro", "ma", "ne", "qui", "za", "be", "ol",
    "al", "ex", "in", "ter", "tec", "san", "val", "ar", "bel", "cas", "dor", "el", "fer", "gal", "hor", "is", "jo",
    "ki", "lin", "mi", "nov", "or", "pa", "ren", "sel", "tor", "um", "ven", "wal", "xi", "yo", "zen",
];
const SURNAMES: &[&str] = &[
    "Garcia",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Gonzalez",
    "Perez",
    "Sanchez",
    "Ramirez",
    "Torres",
    "Flores",
    "Rivera",
    "Gomez",
    "Diaz",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Lima",
    "Pereira",
    "Costa",
    "Ferreira",
    "Almeida",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Van Dijk",
    "De Jong",
    "Jansen",
    "De Vries",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "Bos",
    "Wang",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Huang",
    "Zhao",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Quispe",
    "Mamani",
    "Huaman",
    "Condori",
    "Chavez",
    "Vargas",
];
const SECTOR_WORDS: &[&str] = &[
    "Electronics",
    "Chemicals",
    "Pharma",
    "Textiles",
    "Mining",
    "Agro",
    "Foods",
    "Logistics",
    "Construction",
    "Minera",
    "Agricola",
    "Textil",
    "Transportes",
    "Maderas",
    "Metales",
    "Plasticos",
    "Farmaceutica",
    "Alimentos",
    "Energia",
    "Petroleo",
    "Motors",
    "Steel",
    "Paper",
    "Papelera",
    "Madeireira",
    "Mineracao",
    "Confeccoes",
    "Calcados",
    "Frigorifico",
    "Carvoaria",
    "Semiconductor",
    "Storage",
    "Photo",
    "Film",
    "Rubber",
    "Tire",
    "Machines",
    "Medical",
    "Hygiene",
    "Nutrition",
    "Assets",
    "Gold",
    "Oro",
    "Cafe",
    "Cacao",
    "Azucar",
    "Algodon",
];
const GENERIC: &[&str] = &[
    "Servicios",
    "Comercial",
    "Group",
    "Holding",
    "International",
    "Industrial",
    "Trading",
    "Company",
    "Inversiones",
    "Global",
    "Solutions",
    "Technologies",
    "Servicos",
    "Grupo",
    "Corporacion",
    "Europe",
];
const PLACES: &[&str] = &[
    "Andina",
    "del Sur",
    "del Norte",
    "Lima",
    "Cusco",
    "Bogota",
    "Asuncion",
    "Sao Paulo",
    "Minas",
    "Nederland",
    "Holland",
    "Europe",
    "America",
    "Pacifico",
    "Amazonia",
    "Delft",
    "Eindhoven",
    "Rotterdam",
    "Shanghai",
];
const LEGAL_FORMS: &[&str] = &[
    "S.A.",
    "S.A.C.",
    "S.R.L.",
    "E.I.R.L.",
    "S.A.S.",
    "S.A. de C.V.",
    "LTDA",
    "Ltda.",
    "EIRELI",
    "Cía. Ltda.",
    "Inc.",
    "LLC",
    "GmbH",
    "N.V.",
    "B.V.",
    "Ltd.",
    "Co., Ltd.",
    "AG",
    "",
];
const COUNTRIES: &[&str] = &["PE", "CO", "BR", "MX", "PY", "EC", "CL", "AR", "NL", "DE", "US", "CN", ""];

impl NameGenerator {
    fn new(seed: u64, dense: bool) -> NameGenerator {
        NameGenerator { state: seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1), dense }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn invented_word(&mut self) -> String {
        let syllables = 2 + self.next() % 2;
        let word: String = (0..syllables).map(|_| self.pick(SYLLABLES)).collect();
        let mut chars = word.chars();
        chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
    }

    fn company(&mut self) -> String {
        if self.dense {
            return self.dense_company();
        }
        let words: Vec<String> = match self.next() % 5 {
            0 => vec![self.invented_word(), self.invented_word(), self.pick(GENERIC).to_owned()],
            1 => vec![self.pick(SURNAMES).to_owned(), "y".to_owned(), self.pick(SURNAMES).to_owned()],
            2 => vec![self.pick(SECTOR_WORDS).to_owned(), self.invented_word(), self.pick(PLACES).to_owned()],
            3 => vec![self.invented_word(), self.pick(SECTOR_WORDS).to_owned()],
            _ => {
                vec![self.pick(GENERIC).to_owned(), self.pick(SURNAMES).to_owned(), self.pick(SECTOR_WORDS).to_owned()]
            }
        };
        let legal = self.pick(LEGAL_FORMS);
        let mut name = words.join(" ");
        if !legal.is_empty() {
            name.push(' ');
            name.push_str(legal);
        }
        name
    }

    /// A name of common words only: place and sector, or surname, sector and place, then
    /// half the time a surname, then a legal form.
    fn dense_company(&mut self) -> String {
        let mut words: Vec<&str> = if self.next().is_multiple_of(2) {
            vec![self.pick(evaluation::DENSE_PLACES), self.pick(evaluation::DENSE_SECTORS)]
        } else {
            vec![
                self.pick(evaluation::DENSE_SURNAMES),
                self.pick(evaluation::DENSE_SECTORS),
                self.pick(evaluation::DENSE_PLACES),
            ]
        };
        if self.next().is_multiple_of(2) {
            words.push(self.pick(evaluation::DENSE_SURNAMES));
        }
        words.push(self.pick(LEGAL_FORMS));
        words.join(" ").trim().to_owned()
    }

    fn country(&mut self) -> &'static str {
        self.pick(COUNTRIES)
    }

    /// The name with one letter changed, dropped or doubled, in upper case half the time.
    fn typo(&mut self, name: &str) -> String {
        let mut chars: Vec<char> = name.chars().collect();
        let at = (self.next() % chars.len().max(1) as u64) as usize;
        match self.next() % 3 {
            0 if chars.len() > 4 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            _ => chars[at] = 'x',
        }
        let typed: String = chars.into_iter().collect();
        if self.next().is_multiple_of(2) { typed.to_uppercase() } else { typed }
    }
}
