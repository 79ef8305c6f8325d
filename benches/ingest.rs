//! Ingestion throughput: loads 1,000,000 generated watchlist rows into a fresh SQLite
//! store, then loads the same file again (every row unchanged). As a baseline measured
//! in the same run, it times the csv crate reading the same bytes into records, so the
//! ratio says what validation and the store cost on top of plain CSV parsing.
//!
//! Run with `cargo bench --bench ingest` (`CADENA_BENCH_ROWS=N` changes the row count).

use std::time::Instant;

use cadena::ingest::{self, LoadRequest};
use cadena::records::RecordKind;
use cadena::store::Store;

fn generate_watchlist(n_rows: usize) -> Vec<u8> {
    const COUNTRIES: [&str; 8] = ["PE", "BR", "CO", "MX", "AR", "CL", "EC", "PY"];
    const FORMS: [&str; 6] = ["S.A.C.", "Ltda", "S.A.", "S.R.L.", "E.I.R.L.", "S.A. de C.V."];
    const WORDS: [&str; 10] =
        ["Minera", "Textil", "Agrícola", "Maderera", "Servicios", "Ficticia", "Ejemplo", "Andina", "Imaginária", "Sur"];
    let mut csv = String::with_capacity(n_rows * 160);
    csv.push_str("entity_id,list,name,aliases,tax_id,country,reason,listed_on,source_url\n");
    for idx in 0..n_rows {
        let word = |k: usize| WORDS[(idx / 10usize.pow(k as u32)) % WORDS.len()];
        csv.push_str(&format!(
            "BENCH-{idx},Generated list,{} {} {} {idx} {},{} {idx}|{} {}-{idx},20{:09},{},generated row for the ingestion benchmark,20{:02}-{:02}-{:02},https://example.org/bench/{idx}\n",
            word(0), word(1), word(2), FORMS[idx % FORMS.len()],
            word(1), word(3), word(0), idx % 1_000_000_000, COUNTRIES[idx % COUNTRIES.len()],
            10 + idx % 15, 1 + idx % 12, 1 + idx % 28,
        ));
    }
    csv.into_bytes()
}

fn main() -> anyhow::Result<()> {
    let n_rows: usize = std::env::var("CADENA_BENCH_ROWS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let bytes = generate_watchlist(n_rows);
    println!("ingest benchmark: {n_rows} watchlist rows, {:.1} MB of CSV", bytes.len() as f64 / 1e6);

    let started = Instant::now();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let n_parsed = reader.records().filter(Result::is_ok).count();
    let parse_secs = started.elapsed().as_secs_f64();
    assert_eq!(n_parsed, n_rows);
    println!("baseline, csv crate parse only:   {:>8.2} s  {:>10.0} rows/s", parse_secs, n_rows as f64 / parse_secs);

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let data_dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(data_dir.path()).await?;
        store.migrate().await?;
        let mut load_secs = Vec::new();
        for label in ["first load (all inserted)", "second load (all unchanged)"] {
            let request = LoadRequest {
                kind: RecordKind::Watchlist,
                source: "bench".to_owned(),
                file_name: "bench.csv".to_owned(),
                bytes: bytes.clone(),
            };
            let started = Instant::now();
            let report = ingest::load_file(&store, request).await?;
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(
                report.dataset.n_rejected == 0,
                "rejected rows: {:?}",
                &report.rejected[..3.min(report.rejected.len())]
            );
            println!(
                "cadena ingest, {label:<28} {:>8.2} s  {:>10.0} rows/s  ({} inserted, {} unchanged)",
                secs,
                n_rows as f64 / secs,
                report.dataset.n_inserted,
                report.dataset.n_unchanged
            );
            load_secs.push(secs);
        }
        println!(
            "ratio to the parse-only baseline: first load {:.1}x, second load {:.1}x",
            load_secs[0] / parse_secs,
            load_secs[1] / parse_secs
        );
        anyhow::Ok(())
    })
}
