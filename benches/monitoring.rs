//! Monitoring: how long a watchlist load takes to become alerts against a large base.
//!
//! `cargo bench --bench monitoring` — a SQLite store with 100,000 monitored suppliers
//! (`CADENA_BENCH_SUPPLIERS`) and a watchlist of 20,000 entries, 2,000 of them like a
//! supplier. Then, each timed from the start of the load to the last alert committed
//! (load, index catch-up, monitoring job):
//!
//! - a reload that changes 10,000 entries (`CADENA_BENCH_CHANGED`): half of them existing
//!   entries with a new alias (a tenth of those matched a supplier already: `changed_match`),
//!   half new entries (a fifth like a supplier: `new_match`); target ≤ 60 s;
//! - the same file again, which changes nothing; target ≤ 5 s.
//!
//! As a baseline in the same run, it screens a sample of the suppliers forward (each
//! against the whole list, as re-screening the base after a load would) and extrapolates
//! to the whole base.

use std::sync::Arc;
use std::time::Instant;

use cadena::indexer::Indexer;
use cadena::ingest::{LoadRequest, load_file};
use cadena::matching::{Matcher, ScreeningQuery, Thresholds};
use cadena::monitoring::{AlertKind, Monitor};
use cadena::records::RecordKind;
use cadena::store::Store;
use cadena::store::monitoring::AlertFilter;

/// Syllables for invented words: names that are distinct but look like names.
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "tu", "ve", "san", "tor", "qui", "pe", "lan", "dro", "mar", "nel", "sol", "ter", "vi",
    "za", "bra", "co", "du", "fen", "gal", "hu", "jo", "mon", "nu", "pra", "ris", "ta",
];
const SECTORS: &[&str] = &[
    "Maderera",
    "Textil",
    "Minera",
    "Agrícola",
    "Pesquera",
    "Constructora",
    "Transportes",
    "Confecciones",
    "Inversiones",
    "Comercial",
    "Servicios",
    "Industrias",
];
const FORMS: &[&str] = &["S.A.", "S.A.C.", "S.R.L.", "E.I.R.L.", "LTDA", "S.A. de C.V.", "S.A.S."];

struct Names {
    state: u64,
}

impl Names {
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

    fn word(&mut self) -> String {
        let n = 2 + self.next() % 2;
        let word: String = (0..n).map(|_| self.pick(SYLLABLES)).collect();
        let mut chars = word.chars();
        chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
    }

    /// A company name: a sector word, two invented words, a legal form.
    fn company(&mut self) -> String {
        format!("{} {} {} {}", self.pick(SECTORS), self.word(), self.word(), self.pick(FORMS))
    }
}

/// The part of a company name before its legal form, to list it under another form.
fn without_form(name: &str) -> &str {
    FORMS.iter().find_map(|form| name.strip_suffix(form)).unwrap_or(name).trim_end()
}

fn main() -> anyhow::Result<()> {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default);
    let n_suppliers = env("CADENA_BENCH_SUPPLIERS", 100_000);
    let n_changed = env("CADENA_BENCH_CHANGED", 10_000);
    let n_listed = 2 * n_changed;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut names = Names { state: 0x9e37_79b9_7f4a_7c15 };

    let suppliers: Vec<String> = (0..n_suppliers).map(|_| names.company()).collect();
    let mut supplier_csv = String::from("supplier_id,name,country\n");
    for (idx, name) in suppliers.iter().enumerate() {
        supplier_csv.push_str(&format!("S-{idx},{name},PE\n"));
    }
    // The base list: every tenth entry is a supplier under another legal form.
    let listed: Vec<String> = (0..n_listed)
        .map(|idx| {
            if idx % 10 == 0 {
                format!("{} S.A.", without_form(&suppliers[(idx * 7) % n_suppliers]))
            } else {
                names.company()
            }
        })
        .collect();
    let entry =
        |idx: usize, name: &str, aliases: &str| format!("W-{idx},Lista de prueba,{name},{aliases},PE,generated\n");
    let header = "entity_id,list,name,aliases,country,reason\n";
    let mut base = String::from(header);
    for (idx, name) in listed.iter().enumerate() {
        base.push_str(&entry(idx, name, ""));
    }
    // The reload: the first half of the changes are new aliases on existing entries (one in
    // ten of them on an entry like a supplier), the second half new entries (one in five
    // like a supplier not matched before).
    let n_aliased = n_changed / 2;
    let n_new = n_changed - n_aliased;
    let mut changed = String::from(header);
    for (idx, name) in listed.iter().enumerate() {
        let alias = if idx < n_aliased { names.company() } else { String::new() };
        changed.push_str(&entry(idx, name, &alias));
    }
    for idx in 0..n_new {
        let name = if idx % 5 == 0 {
            format!("{} S.R.L.", without_form(&suppliers[(idx * 13 + 3) % n_suppliers]))
        } else {
            names.company()
        };
        changed.push_str(&entry(n_listed + idx, &name, ""));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(dir.path()).await?;
        store.migrate().await?;
        let indexer = Indexer::open(&store, &dir.path().join("index"))?;
        let matcher = Arc::new(Matcher::new(indexer.index().clone(), Thresholds::default()));
        let monitor = Monitor::new(store.clone(), matcher.clone(), threads);
        let load = |kind: RecordKind, name: &str, csv: &str| {
            let request =
                LoadRequest { kind, source: "bench".to_owned(), file_name: name.to_owned(), bytes: csv.as_bytes().to_vec() };
            load_file(&store, request)
        };
        println!("monitoring benchmark: {n_suppliers} suppliers, {n_listed} listed entries, {threads} threads");

        let started = Instant::now();
        load(RecordKind::Suppliers, "suppliers.csv", &supplier_csv).await?;
        indexer.catch_up().await?;
        monitor.run_until_idle().await?;
        println!("set-up: {n_suppliers} suppliers loaded and indexed in {:.1} s", started.elapsed().as_secs_f64());

        // Each step: load, index, monitor; the alerts it raised by kind.
        let step = |name: &'static str, csv: String| {
            let (store, indexer, monitor) = (&store, &indexer, &monitor);
            async move {
                let before = count_by_kind(store).await?;
                let started = Instant::now();
                let report = load(RecordKind::Watchlist, name, &csv).await?;
                let loaded = started.elapsed().as_secs_f64();
                indexer.catch_up().await?;
                let indexed = started.elapsed().as_secs_f64();
                let round = monitor.run_until_idle().await?;
                let total = started.elapsed().as_secs_f64();
                let after = count_by_kind(store).await?;
                let raised: Vec<String> = AlertKind::ALL
                    .iter()
                    .zip(before.iter().zip(&after))
                    .map(|(kind, (before, after))| format!("{} {kind}", after - before))
                    .collect();
                println!(
                    "{name}: {} rows, {} inserted, {} updated, {} unchanged; load {loaded:.1} s, index {:.1} s, \
                     monitoring {:.1} s ({} job): {total:.1} s in all; alerts: {}",
                    report.dataset.n_rows,
                    report.dataset.n_inserted,
                    report.dataset.n_updated,
                    report.dataset.n_unchanged,
                    indexed - loaded,
                    total - indexed,
                    round.n_jobs,
                    raised.join(", ")
                );
                anyhow::Ok(total)
            }
        };
        step("base list (first load)", base).await?;
        let changed_secs = step("reload changing entries", changed.clone()).await?;
        let unchanged_secs = step("the same file again", changed).await?;

        // Baseline: screening the base forward, each supplier against the whole list.
        let sample: Vec<ScreeningQuery> = suppliers
            .iter()
            .step_by((n_suppliers / 10_000).max(1))
            .map(|name| ScreeningQuery { name: name.clone(), country: Some("PE".to_owned()), ..ScreeningQuery::default() })
            .collect();
        let view = matcher.index().view();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let (sample, matcher, view) = (&sample, &matcher, &view);
                scope.spawn(move || {
                    for query in sample.iter().skip(thread).step_by(threads) {
                        matcher.screen_in(view, query).expect("a screening");
                    }
                });
            }
        });
        let per_second = sample.len() as f64 / started.elapsed().as_secs_f64();
        println!(
            "baseline, forward screening of {} suppliers on {threads} threads: {per_second:.0} suppliers/s, \
             so {:.1} s for the whole base of {n_suppliers}",
            sample.len(),
            n_suppliers as f64 / per_second
        );
        println!(
            "targets: changing reload {changed_secs:.1} s (≤ 60 s: {}), unchanged reload {unchanged_secs:.1} s (≤ 5 s: {})",
            if changed_secs <= 60.0 { "met" } else { "MISSED" },
            if unchanged_secs <= 5.0 { "met" } else { "MISSED" }
        );
        anyhow::Ok(())
    })
}

/// How many alerts of each kind there are, in [`AlertKind::ALL`] order.
async fn count_by_kind(store: &Store) -> anyhow::Result<Vec<usize>> {
    let mut counts = Vec::new();
    for kind in AlertKind::ALL {
        let filter = AlertFilter { kind: Some(kind), limit: i64::MAX, ..AlertFilter::default() };
        counts.push(store.list_alerts(&filter).await?.len());
    }
    Ok(counts)
}
