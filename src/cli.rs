//! What the command-line subcommands do; `main.rs` only parses arguments and dispatches.
//! Results go to standard output, diagnostics (logs) to standard error.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use tokio::sync::watch;

use crate::http::{self, AppState};
use crate::ingest::worker::Worker;
use crate::ingest::{self, LoadReport, LoadRequest};
use crate::records::RecordKind;
use crate::rules::{RulesError, Ruleset};
use crate::store::datasets::NewLoad;
use crate::store::{DatasetVersion, LoadStatus, Store};

/// How many rejected rows a summary prints before pointing at `cadena datasets ID`.
const REJECTED_ROWS_SHOWN: usize = 20;

/// `cadena ingest KIND FILE`: loads the file now, or queues it for a server's worker.
pub async fn ingest(store: &Store, kind: RecordKind, path: &Path, source: &str, queue: bool) -> anyhow::Result<()> {
    let file_name = path.display().to_string();
    if queue {
        let absolute = std::fs::canonicalize(path).with_context(|| format!("{file_name}: cannot read the file"))?;
        let absolute = absolute.to_string_lossy();
        let new_load = NewLoad { kind, source, file_name: &file_name, file_path: Some(&absolute) };
        let id = store.create_load(&new_load, LoadStatus::Queued).await.context("failed to queue the load")?;
        println!("queued load {id}: {kind} from {file_name}; `cadena datasets {id}` shows its progress");
        return Ok(());
    }
    store.mark_dead_loads_interrupted().await.context("failed to check for interrupted loads")?;
    let bytes = std::fs::read(path).with_context(|| format!("{file_name}: cannot read the file"))?;
    let request = LoadRequest { kind, source: source.to_owned(), file_name, bytes };
    let report = ingest::load_file(store, request).await?;
    print_load_summary(&report);
    Ok(())
}

/// Prints what a load did, with its first rejected rows.
pub fn print_load_summary(report: &LoadReport) {
    let dataset = &report.dataset;
    println!(
        "load {}: {} from {} (source {:?}, {}, {})",
        dataset.id,
        dataset.kind,
        dataset.file_name,
        dataset.source,
        dataset.encoding.as_deref().unwrap_or("?"),
        dataset.delimiter.as_deref().unwrap_or("?"),
    );
    println!(
        "  {} rows: {} inserted, {} updated, {} unchanged, {} rejected",
        dataset.n_rows, dataset.n_inserted, dataset.n_updated, dataset.n_unchanged, dataset.n_rejected
    );
    for row in report.rejected.iter().take(REJECTED_ROWS_SHOWN) {
        println!("  {}", row.message(&dataset.file_name));
    }
    if report.rejected.len() > REJECTED_ROWS_SHOWN {
        println!(
            "  … and {} more; `cadena datasets {}` lists them all",
            report.rejected.len() - REJECTED_ROWS_SHOWN,
            dataset.id
        );
    }
}

/// `cadena datasets [ID]`: lists loads, or shows one with all its rejected rows.
pub async fn datasets(store: &Store, id: Option<i64>, limit: i64, json: bool) -> anyhow::Result<()> {
    let Some(id) = id else {
        let loads = store.list_loads(limit).await.context("failed to list loads")?;
        if json {
            println!("{}", serde_json::to_string_pretty(&loads)?);
        } else {
            print_load_table(&loads);
        }
        return Ok(());
    };
    let dataset = store.get_load(id).await?.with_context(|| format!("there is no load {id}"))?;
    let rejected = store.rejected_rows(id, i64::MAX, 0).await.context("failed to read rejected rows")?;
    if json {
        let value = serde_json::json!({ "dataset": dataset, "rejected_rows": rejected });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    print_load_table(std::slice::from_ref(&dataset));
    if let Some(error) = &dataset.error {
        println!("error: {error}");
    }
    for row in &rejected {
        println!("{}", row.message(&dataset.file_name));
    }
    Ok(())
}

fn print_load_table(loads: &[DatasetVersion]) {
    if loads.is_empty() {
        println!("no loads yet; `cadena ingest KIND FILE` loads one");
        return;
    }
    println!(
        "{:>5}  {:<12}  {:<12}  {:<11}  {:>8}  {:>8}  {:>8}  {:>9}  {:>8}  {:<24}  file",
        "id", "kind", "source", "status", "rows", "inserted", "updated", "unchanged", "rejected", "finished"
    );
    for load in loads {
        println!(
            "{:>5}  {:<12}  {:<12}  {:<11}  {:>8}  {:>8}  {:>8}  {:>9}  {:>8}  {:<24}  {}",
            load.id,
            load.kind,
            load.source,
            load.status,
            load.n_rows,
            load.n_inserted,
            load.n_updated,
            load.n_unchanged,
            load.n_rejected,
            load.finished_at.as_deref().unwrap_or("-"),
            load.file_name
        );
    }
}

/// `cadena serve`: the HTTP API with the ingestion worker in the background, until
/// Ctrl-C or SIGTERM; a load in progress is finished before the process exits.
pub async fn serve(store: Store, bind: SocketAddr, demo: bool) -> anyhow::Result<()> {
    if demo {
        println!("loading the demo dataset (fictional names) …");
        for report in crate::demo::load_demo(&store).await.context("failed to load the demo dataset")? {
            print_load_summary(&report);
        }
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(store.clone()).run(shutdown_rx));
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("failed to listen on {bind}"))?;
    let address = listener.local_addr()?;
    println!("cadena is listening on http://{address}/ (Ctrl-C stops it)");
    axum::serve(listener, http::router(AppState { store: store.clone() }))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    let _ = shutdown_tx.send(true);
    worker.await.context("the ingestion worker panicked")?;
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

/// The rule set of `--rules-dir`, or the bundled one. Problems are printed one per
/// line as `file:line: message`.
fn load_rules(rules_dir: Option<&Path>) -> anyhow::Result<Ruleset> {
    let (loaded, name) = match rules_dir {
        Some(dir) => (Ruleset::load_dir(dir), dir.display().to_string()),
        None => (Ruleset::load_bundled(), "the bundled rules".to_owned()),
    };
    loaded.map_err(|RulesError { problems }| {
        for problem in &problems {
            println!("{problem}");
        }
        let plural = if problems.len() == 1 { "" } else { "s" };
        anyhow::anyhow!("{} problem{plural} in {name}", problems.len())
    })
}

/// `cadena rules check`: loads the rules and describes them, or lists every problem.
pub fn rules_check(rules_dir: Option<&Path>) -> anyhow::Result<()> {
    let ruleset = load_rules(rules_dir)?;
    println!("ruleset {} ({} rules), digest {}", ruleset.version(), ruleset.rule_ids().count(), ruleset.digest());
    for list in ruleset.lists() {
        println!("  list {}: {} entries; {}, {} edition", list.id, list.n_entries, list.source, list.edition);
    }
    println!("no problems");
    Ok(())
}

/// `cadena rules test`: runs every rule's test cases.
pub fn rules_test(rules_dir: Option<&Path>) -> anyhow::Result<()> {
    let ruleset = load_rules(rules_dir)?;
    let report = ruleset.run_tests();
    for failure in &report.failures {
        println!("{failure}");
    }
    for rule in &report.rules_never_fired {
        println!("{rule}: no test case fires this rule");
    }
    if !report.passed() {
        anyhow::bail!(
            "{} of {} test cases failed, {} rules never fired",
            report.failures.len(),
            report.n_cases,
            report.rules_never_fired.len()
        );
    }
    println!("{} rules, {} test cases: all passed", report.n_rules, report.n_cases);
    Ok(())
}
