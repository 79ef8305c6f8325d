//! What the command-line subcommands do; `main.rs` only parses arguments and dispatches.
//! Results go to standard output, diagnostics (logs) to standard error.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::sync::watch;

use crate::audit::AuditWorker;
use crate::http::{self, AppState};
use crate::import::{Format, Purpose};
use crate::indexer::{CatchUp, Indexer};
use crate::ingest::worker::Worker;
use crate::ingest::{self, LoadReport, LoadRequest};
use crate::matching::index::INDEXED_KINDS;
use crate::matching::{Matcher, SearchQuery, Thresholds};
use crate::monitoring::webhooks::{Deliverer, RetryPolicy};
use crate::monitoring::{AlertKind, AlertStatus, JobKind, Monitor};
use crate::progress::Progress;
use crate::records::RecordKind;
use crate::rules::{RulesError, Ruleset};
use crate::screening::{self, PreparedFile};
use crate::service::ScreeningService;
use crate::store::datasets::NewLoad;
use crate::store::keys::Role;
use crate::store::{DatasetVersion, Store};

/// How many rejected rows a summary prints before pointing at `cadena datasets ID`.
const REJECTED_ROWS_SHOWN: usize = 20;

/// The file `cadena ingest` loads and how to read it.
pub struct IngestFile<'a> {
    pub path: &'a Path,
    /// What it holds; a published format says so itself.
    pub kind: Option<RecordKind>,
    /// Its format; detected from its name and first bytes when `None`.
    pub format: Option<Format>,
    /// `--map COLUMN=FIELD` entries, for a CSV file.
    pub column_map: &'a [String],
}

/// `cadena ingest [KIND] FILE`: loads the file now, or queues it for a server's worker.
/// A published format yields its own kinds (an OCDS file: suppliers, then procurement
/// lines), each a load of its own.
pub async fn ingest(
    store: &Store,
    index_dir: &Path,
    file: IngestFile<'_>,
    source: &str,
    queue: bool,
) -> anyhow::Result<()> {
    let IngestFile { path, kind, format, column_map } = file;
    let file_name = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("{file_name}: cannot read the file"))?;
    let (format, kinds) = crate::import::resolve(&file_name, &bytes, kind, format, Purpose::Load, column_map)
        .map_err(|err| anyhow::anyhow!(err))?;
    let column_map = match (kinds.as_slice(), column_map.is_empty()) {
        (_, true) => Vec::new(),
        ([kind], false) if format == Format::Csv => {
            crate::records::check_column_map(*kind, column_map).map_err(|err| anyhow::anyhow!(err))?
        }
        _ => anyhow::bail!("--map applies to CSV files of one record kind, not to {format} files"),
    };
    let format_name = (format != Format::detect(&file_name, &bytes)).then_some(format.as_str());
    if queue {
        // The file goes into the store with the job, so a worker on any host can run it.
        for kind in kinds {
            if format == Format::Csv {
                ingest::check_header(kind, Some(format), &file_name, &bytes, &column_map)
                    .map_err(|err| anyhow::anyhow!(err.message))?;
            }
            let new_load =
                NewLoad { kind, source, file_name: &file_name, format: format_name, column_map: &column_map };
            let load = store.queue_load(&new_load, &bytes).await.context("failed to queue the load")?;
            println!(
                "queued load {}: {kind} from {file_name}; `cadena datasets {}` shows its progress",
                load.id, load.id
            );
        }
        return Ok(());
    }
    store.end_abandoned_loads().await.context("failed to check for interrupted loads")?;
    let mut indexed_kinds = false;
    let mut monitored_kinds = false;
    for kind in kinds {
        let request =
            LoadRequest { kind, source: source.to_owned(), file_name: file_name.clone(), bytes: bytes.clone() };
        let progress = Progress::counting(format!("loading {kind} from {}", short_name(path)), "rows");
        let options = ingest::LoadOptions { format: Some(format), column_map: column_map.clone(), progress };
        let loaded = options.progress.run(ingest::load_file_as(store, request, &options)).await?;
        print_load_summary(&loaded);
        indexed_kinds |= INDEXED_KINDS.contains(&kind);
        monitored_kinds |= JobKind::after_load(kind).is_some();
    }
    if indexed_kinds || monitored_kinds {
        // The loads are committed whatever happens here: the index follows the store, and
        // whichever process writes it (this one, or a running `cadena serve`) catches up.
        let caught_up = async {
            let indexer = Indexer::open(store, index_dir)?;
            let progress = Progress::counting("indexing", "entities");
            let done = progress.run(indexer.catch_up_showing(&progress)).await?;
            anyhow::Ok((done, indexer))
        };
        let indexer = match caught_up.await {
            Ok((done, indexer)) => {
                if done.writer && indexed_kinds {
                    println!(
                        "index: {} changed records indexed; it reflects store version {} ({} entities in all)",
                        done.n_indexed,
                        done.to,
                        indexer.index().len()
                    );
                } else if !done.writer {
                    println!(
                        "index: another cadena process on this data directory writes the index; it catches up by itself"
                    );
                }
                Some(indexer)
            }
            Err(err) => {
                eprintln!(
                    "cadena: warning: the load is saved but the search index was not updated ({err:#}); \
                     it catches up the next time cadena opens it, or run `cadena reindex`"
                );
                None
            }
        };
        if let Some(indexer) = indexer.filter(|_| monitored_kinds) {
            monitor_now(store, &indexer).await;
        }
    }
    Ok(())
}

/// Runs the monitoring jobs the loads left (any worker could; doing it here shows the
/// alerts at once). A job this index cannot run yet is left to the worker of a server.
async fn monitor_now(store: &Store, indexer: &Indexer) {
    let matcher = Arc::new(Matcher::new(indexer.index().clone(), Thresholds::default()));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    match Monitor::new(store.clone(), matcher, threads).run_until_idle().await {
        Ok(round) if round.n_jobs > 0 => println!(
            "monitoring: {} job(s) run, {} alert(s) raised; `cadena alerts` lists the open ones",
            round.n_jobs, round.n_alerts
        ),
        Ok(_) => {}
        Err(err) => eprintln!(
            "cadena: warning: the load is saved but its monitoring did not finish here ({err:#}); \
             a running `cadena serve` takes it over"
        ),
    }
}

/// Whether a file is the ILAB list of goods, by its name and first bytes.
pub fn is_ilab_file(path: &Path) -> bool {
    let mut head = vec![0; 4096];
    let n = std::fs::File::open(path).and_then(|mut file| std::io::Read::read(&mut file, &mut head)).unwrap_or(0);
    Format::detect(&path.display().to_string(), &head[..n]) == Format::Ilab
}

/// `cadena ingest --format ilab FILE`: reads an edition of the ILAB list of goods (DOL's
/// XML or the flat CSV), checks that the rules load with it, and writes it to
/// `DATA_DIR/rules/lists/ilab_goods.toml`, which the rules then use instead of the
/// bundled list (the ruleset digest changes with it).
pub fn ingest_ilab(data_dir: &Path, path: &Path, edition: Option<&str>) -> anyhow::Result<()> {
    use crate::import::ilab;
    let file_name = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("{file_name}: cannot read the file"))?;
    let base_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).trim_start().to_owned();
    let mut list = if head.starts_with('<') || head.starts_with("\u{feff}<") {
        ilab::parse_xml(&bytes, &base_name)
    } else {
        ilab::parse_flat_csv(&bytes)
    }
    .map_err(|err| anyhow::anyhow!("{file_name}: {err}"))?;
    if let Some(edition) = edition {
        list.edition = edition.to_owned();
    }
    let bundled = Ruleset::bundled();
    let written = ilab::to_rules_list(&list, &bundled.good_names(), &base_name);
    let target = imported_ilab_path(data_dir);
    let root = data_dir.join("rules").display().to_string();
    let replacements = [("lists/ilab_goods.toml".to_owned(), written.toml.clone())];
    let ruleset = Ruleset::load_bundled_with(&root, &replacements).map_err(|err| {
        anyhow::anyhow!("{file_name}: the rules do not load with this list, so it was not saved:\n{err}")
    })?;
    std::fs::create_dir_all(target.parent().unwrap_or(data_dir))
        .with_context(|| format!("failed to create {}", target.display()))?;
    let partial = target.with_extension("toml.partial");
    std::fs::write(&partial, &written.toml).with_context(|| format!("failed to write {}", partial.display()))?;
    std::fs::rename(&partial, &target).with_context(|| format!("failed to write {}", target.display()))?;
    println!(
        "ILAB list of goods, {} edition, from {file_name}: {} good–country rows read, {} rejected",
        list.edition,
        list.entries.len(),
        list.rejected.len()
    );
    for reject in list.rejected.iter().take(REJECTED_ROWS_SHOWN) {
        println!("  {}", reject.message(&file_name));
    }
    if !written.unmapped_goods.is_empty() {
        println!(
            "  {} goods are not in the goods mapping (lists/goods.toml) and were left out: {}",
            written.unmapped_goods.len(),
            written.unmapped_goods.join(", ")
        );
    }
    println!(
        "wrote {} entries to {}; the rules now use it (ruleset {}, digest {})",
        written.n_entries,
        target.display(),
        ruleset.version(),
        &ruleset.digest()[..12]
    );
    Ok(())
}

/// `cadena reindex`: rebuilds the entity index from the store, in place.
pub async fn reindex(store: &Store, index_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let indexer = Indexer::open(store, index_dir)?;
    let progress = Progress::counting("rebuilding the index", "entities");
    let done = progress.run(indexer.rebuild(&progress)).await?;
    println!(
        "indexed {} entities in {:.1} s into {}; the index reflects store version {}",
        done.n_indexed,
        started.elapsed().as_secs_f64(),
        index_dir.display(),
        done.to
    );
    Ok(())
}

/// `cadena check-index`: compares the index with the store and, with `repair`, mends it.
pub async fn check_index(store: &Store, index_dir: &Path, repair: bool) -> anyhow::Result<()> {
    let indexer = Indexer::open(store, index_dir)?;
    let drift = indexer.check().await?;
    println!(
        "index: {} documents at store version {}; store: {} indexable records at version {}; \
         {} missing, {} stale, {} extra",
        drift.indexed,
        drift.index_version,
        drift.stored,
        drift.store_version,
        drift.missing.len(),
        drift.stale.len(),
        drift.extra.len()
    );
    for entity in drift.missing.iter().take(10) {
        println!("  missing: {} {} {}", entity.kind, entity.source, entity.entity_id);
    }
    for entity in drift.stale.iter().take(10) {
        println!("  stale:   {} {} {}", entity.kind, entity.source, entity.entity_id);
    }
    for key in drift.extra.iter().take(10) {
        println!("  extra:   {}", key.replace('\u{1f}', " "));
    }
    if drift.is_clean() {
        if drift.index_version < drift.store_version {
            println!(
                "the index agrees with the store, but is stamped with version {} of {}; it catches up by itself",
                drift.index_version, drift.store_version
            );
        } else {
            println!("the index agrees with the store");
        }
        return Ok(());
    }
    if !repair {
        anyhow::bail!("the index disagrees with the store; run `cadena check-index --repair`");
    }
    indexer.repair(drift).await?;
    let after = indexer.check().await?;
    anyhow::ensure!(after.is_clean(), "the index still disagrees after the repair; run `cadena reindex`");
    println!("repaired: the index agrees with the store");
    Ok(())
}

/// Opens the index and brings it up to the store's version (or, when another process
/// writes it, to that process's newest commit), saying so when it has to build it.
async fn open_caught_up(store: &Store, index_dir: &Path) -> anyhow::Result<(Matcher, CatchUp)> {
    let indexer = Indexer::open(store, index_dir)?;
    let mut progress = Progress::counting("indexing", "entities");
    if indexer.is_writer() && indexer.index().view().stamp().is_none() && indexer.index().is_empty() {
        let mut stored = 0;
        for kind in INDEXED_KINDS {
            stored += store.count_records(kind).await?;
        }
        if stored > 0 {
            eprintln!("the index is empty; building it from the store ({stored} records) …");
            progress = Progress::bar("building the index", stored as u64, "entities");
        }
    }
    let done = progress.run(indexer.catch_up_showing(&progress)).await?;
    let store_version = store.store_version().await?;
    if done.to < store_version {
        eprintln!(
            "cadena: warning: the index reflects store version {} but the store is at {store_version} \
             (another process writes the index and has not caught up yet)",
            done.to
        );
    }
    Ok((Matcher::new(indexer.index().clone(), Thresholds::default()), done))
}

/// A file's name without its folders, for a progress line that fits on one row.
fn short_name(path: &Path) -> String {
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// Where `cadena screen` writes its report, and how.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub path: &'a Path,
    pub format: screening::ReportFormat,
    /// The language of the report's texts.
    pub lang: crate::lang::Lang,
}

/// `cadena screen FILE --out REPORT`: screens every supplier or procurement line of a
/// file against the watchlists and the risk rules.
pub async fn screen(
    store: &Store,
    data_dir: &Path,
    index_dir: &Path,
    rules_dir: Option<&Path>,
    input: &Path,
    column_map: &[String],
    report: Report<'_>,
) -> anyhow::Result<()> {
    let output = report.path;
    let ruleset = load_rules(rules_dir, data_dir)?;
    let (matcher, _) = open_caught_up(store, index_dir).await?;
    let file_name = input.display().to_string();
    let bytes = std::fs::read(input).with_context(|| format!("{file_name}: cannot read the file"))?;
    let started = Instant::now();
    let prepared = PreparedFile::read_mapped(store, &file_name, bytes, column_map).await?.in_language(report.lang);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let view = matcher.index().view();
    let progress = Progress::bar(format!("screening {}", short_name(input)), prepared.len() as u64, "rows");
    let rows = tokio::task::block_in_place(|| {
        progress.run_blocking(|| prepared.screen(&matcher, &view, &ruleset, threads, &progress))
    })?;
    let out =
        std::fs::File::create(output).with_context(|| format!("{}: cannot create the report", output.display()))?;
    screening::write_report(&rows, report.format, std::io::BufWriter::new(out))?;
    let summary = screening::summarize(&rows);
    println!(
        "screened {} rows in {:.1} s against {} indexed entities at store version {}, ruleset {} (digest {})",
        summary.rows,
        started.elapsed().as_secs_f64(),
        view.len(),
        view.version(),
        ruleset.version(),
        &ruleset.digest()[..12],
    );
    println!(
        "watchlist matches: {} strong, {} possible, {} none; {} unreadable rows",
        summary.strong, summary.possible, summary.none, summary.errors
    );
    if summary.dismissed > 0 || summary.reopened > 0 {
        println!(
            "reviewers' decisions: {} rows with a match dismissed as a false positive, {} with one reopened \
             (columns dismissed_matches and reopened_matches)",
            summary.dismissed, summary.reopened
        );
    }
    let bands: Vec<String> = summary.bands.iter().map(|(band, count)| format!("{count} {band}")).collect();
    println!("risk bands: {}", bands.join(", "));
    println!("report written to {}", output.display());
    Ok(())
}

/// `cadena search TEXT`: finds agencies (or other entities) by name, tax id or licence number.
pub async fn search(store: &Store, index_dir: &Path, query: &SearchQuery, json: bool) -> anyhow::Result<()> {
    let (matcher, _) = open_caught_up(store, index_dir).await?;
    let found = matcher.search(query)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    if found.is_empty() {
        println!("nothing found for {:?}", query.text);
        return Ok(());
    }
    let rows = found.iter().map(|found| {
        let entity = &found.entity;
        vec![
            screening::score_text(found.score, 2),
            entity.entity_id.clone(),
            entity.names.first().cloned().unwrap_or_default(),
            entity.country.clone().unwrap_or_else(|| "-".to_owned()),
            entity.region.clone().unwrap_or_else(|| "-".to_owned()),
            entity.licence_number.clone().unwrap_or_else(|| "-".to_owned()),
            entity.licence_status.clone().unwrap_or_else(|| "-".to_owned()),
        ]
    });
    print_table(&["score", "id", "name", "country", "region", "licence", "status"], &["score"], rows);
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
    let header =
        ["id", "kind", "source", "status", "rows", "inserted", "updated", "unchanged", "rejected", "finished", "file"];
    let rows = loads.iter().map(|load| {
        vec![
            load.id.to_string(),
            load.kind.to_string(),
            load.source.clone(),
            load.status.to_string(),
            load.n_rows.to_string(),
            load.n_inserted.to_string(),
            load.n_updated.to_string(),
            load.n_unchanged.to_string(),
            load.n_rejected.to_string(),
            load.finished_at.clone().unwrap_or_else(|| "-".to_owned()),
            load.file_name.clone(),
        ]
    });
    print_table(&header, &["id", "rows", "inserted", "updated", "unchanged", "rejected"], rows);
}

/// The widest a cell of a CLI table is shown (in terminal columns); a longer one ends in
/// an ellipsis. The last column, which nothing follows, is shown whole.
const MAX_CELL_WIDTH: u16 = 48;

/// Prints a table with each column as wide as its widest cell, counted in terminal
/// columns (comfy-table), so that `Ferretería Ñandú` or `有限公司` keep the columns
/// aligned; cells wider than [`MAX_CELL_WIDTH`] are cut with an ellipsis, and the columns
/// named in `right_aligned` (numbers) are aligned right.
fn print_table(header: &[&str], right_aligned: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    for line in table_lines(header, right_aligned, rows) {
        println!("{line}");
    }
}

/// The lines [`print_table`] prints, without trailing spaces.
fn table_lines(header: &[&str], right_aligned: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<String> {
    use comfy_table::{CellAlignment, ColumnConstraint, Row, Table, Width};
    let mut table = Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.set_header(header.to_vec());
    for cells in rows {
        let mut row = Row::from(cells);
        // One line per row: a cell too wide for its column is cut, not wrapped.
        row.max_height(1);
        table.add_row(row);
    }
    let last = header.len().saturating_sub(1);
    for (idx, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if idx == last { 0 } else { 2 }));
        if idx != last {
            column.set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(MAX_CELL_WIDTH + 2)));
        }
        if right_aligned.contains(&header[idx]) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.lines().map(|line| line.trim_end().to_owned()).collect()
}

/// How `cadena serve` serves.
#[derive(Debug, Clone)]
pub struct ServeOptions<'a> {
    pub bind: SocketAddr,
    /// Load the demo dataset and print an admin key.
    pub demo: bool,
    pub rules_dir: Option<&'a Path>,
    /// Requests per second per key (bursts of twice that).
    pub rate_limit: f64,
    /// The screening cache's size, in MiB.
    pub cache_mib: u64,
}

/// The file under the data directory that keeps the demo's admin key, so that
/// `serve --demo` run again reuses it instead of adding a key each time.
pub const DEMO_KEY_FILE: &str = "demo-key.txt";

/// The demo's admin key: the one kept in [`DEMO_KEY_FILE`] while the store still knows
/// it (not revoked), else a new one, written there (readable by its owner only).
async fn demo_key(store: &Store, data_dir: &Path) -> anyhow::Result<(crate::store::keys::ApiKey, String)> {
    let path = data_dir.join(DEMO_KEY_FILE);
    if let Ok(kept) = std::fs::read_to_string(&path) {
        let secret = kept.trim().to_owned();
        if let Some(key) = store.authenticate(&secret).await?
            && key.role == Role::Admin
        {
            return Ok((key, secret));
        }
    }
    let (key, secret) = store.create_key("demo", Role::Admin).await?;
    std::fs::create_dir_all(data_dir).with_context(|| format!("failed to create {}", data_dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("failed to write {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok((key, secret))
}

/// `cadena serve`: the HTTP API with the ingestion worker in the background, until
/// Ctrl-C or SIGTERM; a load in progress is finished before the process exits.
pub async fn serve(store: Store, data_dir: &Path, index_dir: &Path, options: ServeOptions<'_>) -> anyhow::Result<()> {
    let ServeOptions { bind, demo, rules_dir, rate_limit, cache_mib } = options;
    if !rate_limit.is_finite() || rate_limit <= 0.0 {
        anyhow::bail!("--rate-limit must be a positive number of requests per second, not {rate_limit}");
    }
    let ruleset = Arc::new(load_rules(rules_dir, data_dir)?);
    if demo {
        println!("loading the demo dataset (fictional names) …");
        for report in crate::demo::load_demo(&store).await.context("failed to load the demo dataset")? {
            print_load_summary(&report);
        }
    }
    // The indexer follows the store in the background; `/readyz` answers 503 until it has
    // caught up once, and every screening names the index version it used.
    let indexer = Indexer::open(&store, index_dir)?;
    if !indexer.is_writer() {
        tracing::warn!(
            "another cadena process writes the index in {}; this one follows its commits",
            index_dir.display()
        );
    }
    let matcher = Arc::new(Matcher::new(indexer.index().clone(), Thresholds::default()));
    let screening = Arc::new(
        ScreeningService::new(store.clone(), matcher, ruleset, indexer.status())
            .with_cache_bytes(cache_mib.saturating_mul(1024 * 1024)),
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let indexer_task = tokio::spawn(indexer.run(shutdown_rx.clone()));
    let worker = tokio::spawn(Worker::new(store.clone()).run(shutdown_rx.clone()));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let audit_worker =
        tokio::spawn(AuditWorker::new(store.clone(), screening.clone(), threads).run(shutdown_rx.clone()));
    let monitor = Monitor::new(store.clone(), screening.matcher().clone(), threads);
    let monitor = tokio::spawn(monitor.run(screening.subscribe_index_status(), shutdown_rx.clone()));
    let deliverer = tokio::spawn(Deliverer::new(store.clone(), RetryPolicy::default())?.run(shutdown_rx));
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("failed to listen on {bind}"))?;
    let address = listener.local_addr()?;
    println!("cadena is listening on http://{address}/ (Ctrl-C stops it)");
    if demo {
        let (key, secret) = demo_key(&store, data_dir).await?;
        println!("demo API key {} (role {}), for `Authorization: Bearer <key>`:", key.id, key.role);
        println!("{secret}");
    }
    axum::serve(
        listener,
        http::router(AppState::with_rate_limit(store.clone(), screening, rate_limit, 2.0 * rate_limit)),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the HTTP server failed")?;
    let _ = shutdown_tx.send(true);
    worker.await.context("the ingestion worker panicked")?;
    audit_worker.await.context("the batch audit worker panicked")?;
    monitor.await.context("the monitoring worker panicked")?;
    deliverer.await.context("the webhook deliverer panicked")?;
    indexer_task.await.context("the indexer panicked")?;
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

/// Where `cadena ingest --format ilab` keeps the ILAB list it loaded, under the data directory.
pub fn imported_ilab_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("rules").join("lists").join("ilab_goods.toml")
}

/// The rule set of `--rules-dir`, or the bundled one with the ILAB list the operator
/// loaded into the data directory, if any. Problems are printed one per line as
/// `file:line: message`.
pub fn load_rules(rules_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<Ruleset> {
    let imported = imported_ilab_path(data_dir);
    let (loaded, name) = match rules_dir {
        Some(dir) => (Ruleset::load_dir(dir), dir.display().to_string()),
        None if imported.exists() => {
            let text = std::fs::read_to_string(&imported)
                .with_context(|| format!("{}: cannot read the imported ILAB list", imported.display()))?;
            let root = data_dir.join("rules").display().to_string();
            let replacements = [("lists/ilab_goods.toml".to_owned(), text)];
            (Ruleset::load_bundled_with(&root, &replacements), format!("the bundled rules with {}", imported.display()))
        }
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
pub fn rules_check(rules_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let ruleset = load_rules(rules_dir, data_dir)?;
    println!("ruleset {} ({} rules), digest {}", ruleset.version(), ruleset.rule_ids().count(), ruleset.digest());
    for list in ruleset.lists() {
        println!("  list {}: {} entries; {}, {} edition", list.id, list.n_entries, list.source, list.edition);
    }
    println!("no problems");
    Ok(())
}

/// `cadena rules test`: runs every rule's test cases.
pub fn rules_test(rules_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let ruleset = load_rules(rules_dir, data_dir)?;
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

/// `cadena keys create --role ROLE`: creates a key and prints it, alone on the last line.
pub async fn keys_create(store: &Store, role: Role, name: &str) -> anyhow::Result<()> {
    let (key, secret) = store.create_key(name, role).await?;
    println!("created API key {} ({:?}, role {}); it is shown once, here:", key.id, key.name, key.role);
    println!("{secret}");
    Ok(())
}

/// `cadena keys list`: the keys, without their secrets.
pub async fn keys_list(store: &Store) -> anyhow::Result<()> {
    let keys = store.list_keys().await?;
    if keys.is_empty() {
        println!("no API keys yet; `cadena keys create --role officer` makes one");
        return Ok(());
    }
    let rows = keys.iter().map(|key| {
        vec![
            key.id.to_string(),
            key.role.to_string(),
            key.name.clone(),
            key.created_at.clone(),
            key.revoked_at.clone().unwrap_or_else(|| "-".to_owned()),
        ]
    });
    print_table(&["id", "role", "name", "created", "revoked"], &["id"], rows);
    Ok(())
}

/// `cadena keys revoke ID`.
pub async fn keys_revoke(store: &Store, id: i64) -> anyhow::Result<()> {
    if !store.revoke_key(id).await? {
        anyhow::bail!("there is no live API key {id} (`cadena keys list` shows them)");
    }
    println!("revoked API key {id}");
    Ok(())
}

/// `cadena alerts`: monitoring's alerts, newest first.
pub async fn alerts(
    store: &Store,
    status: Option<AlertStatus>,
    kind: Option<AlertKind>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    let filter = crate::store::monitoring::AlertFilter { status, kind, limit, ..Default::default() };
    let alerts = store.list_alerts(&filter).await.context("failed to list alerts")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "alerts": alerts }))?);
        return Ok(());
    }
    let n_unfinished = store.count_unfinished_monitor_jobs().await?;
    if alerts.is_empty() {
        println!("no {}alerts", status.map(|status| format!("{} ", status.as_str())).unwrap_or_default());
    } else {
        let mut rows = Vec::new();
        for alert in &alerts {
            let what = match (&alert.details.licence, &alert.details.found) {
                (Some(licence), _) => format!(
                    "licence {} {}{}",
                    licence.licence_number.as_deref().unwrap_or("-"),
                    licence.licence_status,
                    licence.previous_status.as_deref().map(|before| format!(" (was {before})")).unwrap_or_default()
                ),
                (None, Some(found)) => {
                    let changed: Vec<&str> = alert.details.changed_fields.iter().map(|field| field.as_str()).collect();
                    let changed =
                        if changed.is_empty() { String::new() } else { format!("; changed: {}", changed.join(", ")) };
                    format!(
                        "{} {} \"{}\"{changed}",
                        found.strength.as_str(),
                        screening::score_text(found.score, 3),
                        found.explanation.matched_name
                    )
                }
                (None, None) => String::new(),
            };
            rows.push(vec![
                alert.id.to_string(),
                alert.kind.as_str().to_owned(),
                alert.status.as_str().to_owned(),
                alert.created_at.clone(),
                format!("{} {} {}", alert.subject_kind.as_str(), alert.subject_id, alert.subject_name),
                format!("{}/{}", alert.source, alert.entity_id),
                what,
            ]);
        }
        let header = ["id", "kind", "status", "created", "concerns", "listed / agency", "what"];
        print_table(&header, &["id"], rows);
    }
    if n_unfinished > 0 {
        println!("{n_unfinished} monitoring job(s) still to run; a running `cadena serve` runs them");
    }
    Ok(())
}

/// `cadena webhooks add URL [--kind K]…`: prints the webhook and its secret, alone on the last line.
pub async fn webhooks_add(store: &Store, url: &str, kinds: &[AlertKind]) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|err| anyhow::anyhow!("{url:?} is not a URL: {err}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some(),
        "{url:?}: a webhook URL must be http:// or https:// with a host"
    );
    let (webhook, secret) = store.add_webhook(parsed.as_str(), kinds).await?;
    let kinds: Vec<&str> = webhook.kinds.iter().map(|kind| kind.as_str()).collect();
    println!(
        "added webhook {} for {} alerts to {}; each body is signed with this secret (HMAC-SHA256 in the \
         X-Cadena-Signature header), shown once, here:",
        webhook.id,
        if kinds.is_empty() { "all".to_owned() } else { kinds.join(", ") },
        webhook.url
    );
    println!("{secret}");
    Ok(())
}

/// `cadena webhooks list`.
pub async fn webhooks_list(store: &Store) -> anyhow::Result<()> {
    let webhooks = store.list_webhooks(false).await?;
    if webhooks.is_empty() {
        println!("no webhooks; `cadena webhooks add URL` adds one");
        return Ok(());
    }
    let rows = webhooks.iter().map(|webhook| {
        let kinds: Vec<&str> = webhook.kinds.iter().map(|kind| kind.as_str()).collect();
        let kinds = if kinds.is_empty() { "all".to_owned() } else { kinds.join(", ") };
        vec![webhook.id.to_string(), webhook.created_at.clone(), kinds, webhook.url.clone()]
    });
    print_table(&["id", "created", "kinds", "url"], &["id"], rows);
    Ok(())
}

/// `cadena webhooks remove ID`.
pub async fn webhooks_remove(store: &Store, id: i64) -> anyhow::Result<()> {
    anyhow::ensure!(store.remove_webhook(id).await?, "there is no webhook {id} (`cadena webhooks list` shows them)");
    println!("removed webhook {id}; it gets no more deliveries, and its log stays");
    Ok(())
}

/// `cadena webhooks deliveries`: the delivery log.
pub async fn webhooks_deliveries(store: &Store, webhook: Option<i64>, limit: i64, json: bool) -> anyhow::Result<()> {
    let deliveries = store.list_deliveries(webhook, None, limit).await?;
    let mut logged = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let attempts = store.delivery_attempts(delivery.id).await?;
        logged.push((delivery, attempts));
    }
    if json {
        let value: Vec<serde_json::Value> = logged
            .iter()
            .map(|(delivery, attempts)| serde_json::json!({ "delivery": delivery, "attempts": attempts }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if logged.is_empty() {
        println!("no deliveries yet");
        return Ok(());
    }
    for (delivery, attempts) in logged {
        println!(
            "delivery {}: alert {} to webhook {}, {} after {} tr{}{}",
            delivery.id,
            delivery.alert_id,
            delivery.webhook_id,
            delivery.status.as_str(),
            delivery.attempts,
            if delivery.attempts == 1 { "y" } else { "ies" },
            match delivery.status {
                crate::store::webhooks::DeliveryStatus::Pending => format!(", next at {}", delivery.next_attempt_at),
                _ => String::new(),
            }
        );
        for attempt in attempts {
            println!(
                "  try {} at {}: {}",
                attempt.attempt,
                attempt.started_at,
                match (&attempt.http_status, &attempt.error) {
                    (Some(status), None) => format!("HTTP {status}"),
                    (_, Some(error)) => error.clone(),
                    (None, None) => "no outcome".to_owned(),
                }
            );
        }
    }
    Ok(())
}

/// `cadena webhooks retry`: queues given-up deliveries again.
pub async fn webhooks_retry(store: &Store, webhook: Option<i64>) -> anyhow::Result<()> {
    let n_queued = store.retry_failed_deliveries(webhook).await?;
    println!("{n_queued} given-up deliveries queued again; a running `cadena serve` tries them now");
    Ok(())
}
