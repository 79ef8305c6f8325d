//! Loading CSV files into the store.
//!
//! A load parses and validates the file on a blocking thread, which sends chunks of
//! prepared records to the async writer; parsing and writing overlap. The writer applies
//! the whole load in one transaction, together with its rejected rows and its counts:
//! a crash mid-load applies nothing, and the load can simply be run again.
//!
//! Rows are validated one by one. A bad row is rejected with its line, field and reason
//! and the good rows are kept; only a file that cannot be read at all (no header, a
//! required column missing) fails the load.

pub mod worker;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::csv_reader::{CsvFile, CsvRow};
use crate::import::{self, Format, Located};
use crate::progress::Progress;
use crate::records::{
    Agency, ColumnMap, LicenceEntry, ProcurementLine, Record, RecordKind, Supplier, WatchlistEntry, parse_row,
};
use crate::store::datasets::{self, LoadCounts, NewLoad};
use crate::store::records::{self, PreparedRecord};
use crate::store::{Backend, DatasetVersion, Job, RejectedRow, Store};

/// The source records are loaded into when none is named.
pub const DEFAULT_SOURCE: &str = "local";

/// How many rows the parser hands to the writer at a time.
const CHUNK_SIZE: usize = 2_000;

/// A file to load.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub kind: RecordKind,
    pub source: String,
    /// The name used in messages and in the dataset's record (usually the path as given).
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The result of a load: the dataset version as recorded, and the rows it rejected.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub dataset: DatasetVersion,
    pub rejected: Vec<RejectedRow>,
}

/// Why a file could not be loaded at all; the load is recorded as failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    pub message: String,
}

/// How to read a file, beyond what it says itself.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The file's format; detected from its name and first bytes when `None`.
    pub format: Option<Format>,
    /// CSV columns sent to fields (header name, field name), as `--map 'Razón Social=name'`;
    /// check them with `records::check_column_map`.
    pub column_map: Vec<(String, String)>,
    /// Counts the rows read as they are written (`cadena ingest` shows it on a terminal).
    pub progress: Progress,
}

/// Records a new load and runs it in this process; the file's format is detected.
pub async fn load_file(store: &Store, request: LoadRequest) -> anyhow::Result<LoadReport> {
    load_file_as(store, request, &LoadOptions::default()).await
}

/// Records a new load and runs it in this process, reading the file as `options` say.
/// The load only commits to the store; the indexer of whichever process owns the index
/// hears of the new version and indexes it (see `indexer`).
pub async fn load_file_as(store: &Store, request: LoadRequest, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    let new_load = NewLoad {
        kind: request.kind,
        source: &request.source,
        file_name: &request.file_name,
        format: options.format.map(Format::as_str),
        column_map: &options.column_map,
    };
    let dataset_id = store.create_running_load(&new_load).await.context("failed to record the load")?;
    run_load_as(store, dataset_id, request, options).await
}

/// Runs a load already recorded as running and leased to this worker: parses,
/// validates and writes the file, renewing the lease while it works. A file that cannot
/// be read is recorded as a failed load and returned as [`FileError`]; so is a load the
/// database refused, with nothing of it applied.
pub async fn run_load_as(
    store: &Store,
    dataset_id: i64,
    request: LoadRequest,
    options: &LoadOptions,
) -> anyhow::Result<LoadReport> {
    let format = load_format(request.kind, options.format, &request.file_name, &request.bytes);
    let _lease = store.hold_lease(Job::Load(dataset_id));
    let rejected = match write_load(store, dataset_id, request, format, options).await {
        Ok(rejected) => rejected,
        Err(err) => {
            store.fail_load(dataset_id, &format!("{err:#}")).await.context("failed to record the failed load")?;
            return Err(err);
        }
    };
    let dataset =
        store.get_load(dataset_id).await?.with_context(|| format!("load {dataset_id} vanished after it committed"))?;
    Ok(LoadReport { dataset, rejected })
}

/// The format a file of `kind` is read as: the one given, else the one detected from its
/// name and first bytes (a CSV of published columns loaded as another kind is read as
/// cadena's own CSV).
fn load_format(kind: RecordKind, given: Option<Format>, file_name: &str, bytes: &[u8]) -> Format {
    given.unwrap_or_else(|| {
        let detected = Format::detect(file_name, bytes);
        if detected == Format::Ocds || detected.kinds().contains(&kind) { detected } else { Format::Csv }
    })
}

/// Checks what can be checked of a file before its load is queued: that a CSV file has
/// a header with the kind's required columns. The load itself reports everything else.
pub fn check_header(
    kind: RecordKind,
    format: Option<Format>,
    file_name: &str,
    bytes: &[u8],
    column_map: &[(String, String)],
) -> Result<(), FileError> {
    if load_format(kind, format, file_name, bytes) != Format::Csv {
        return Ok(());
    }
    let header = import::csv_header(file_name, bytes).map_err(|message| FileError { message })?;
    ColumnMap::with_map(kind, &header, column_map)
        .map(|_| ())
        .map_err(|missing| FileError { message: missing_columns_message(file_name, &header, kind, &missing) })
}

/// Parses the file on a blocking thread and writes what it yields in one transaction.
async fn write_load(
    store: &Store,
    dataset_id: i64,
    request: LoadRequest,
    format: Format,
    options: &LoadOptions,
) -> anyhow::Result<Vec<RejectedRow>> {
    let column_map = options.column_map.clone();
    let file_sha256 = hex::encode(Sha256::digest(&request.bytes));
    let (chunk_tx, mut chunk_rx) = mpsc::channel::<ParsedChunk>(4);
    let kind = request.kind;
    let file_name = request.file_name.clone();
    let parser = tokio::task::spawn_blocking(move || match format {
        Format::Csv => parse_file(kind, file_name, request.bytes, &column_map, chunk_tx),
        _ => parse_import(format, kind, &file_name, &request.bytes, chunk_tx),
    });

    let mut tx = match store.backend() {
        // IMMEDIATE takes SQLite's write lock now, so that reading existing hashes and
        // then writing cannot fail on a snapshot that another writer made stale.
        Backend::Sqlite => store.pool().begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => store.pool().begin().await,
    }
    .context("failed to start the load's transaction")?;
    let mut counts = LoadCounts::default();
    let mut rejected = Vec::new();
    while let Some(chunk) = chunk_rx.recv().await {
        write_chunk(&mut tx, kind, &request.source, dataset_id, &chunk.records, &mut counts)
            .await
            .context("failed to write records")?;
        let n_rows = chunk.records.len() + chunk.n_rejected_rows;
        counts.n_rows += n_rows as i64;
        counts.n_rejected += chunk.n_rejected_rows as i64;
        options.progress.inc(n_rows as u64);
        rejected.extend(chunk.rejected);
    }
    let file_info = parser.await.context("the file's parser stopped unexpectedly")??;
    datasets::insert_rejected_rows(&mut tx, dataset_id, &rejected).await.context("failed to store rejected rows")?;
    let version = datasets::complete_load(
        &mut tx,
        dataset_id,
        store.worker_id(),
        &file_sha256,
        file_info.encoding,
        file_info.delimiter,
        &counts,
    )
    .await
    .context("failed to complete the load")?;
    // The load's monitoring job commits with it, so that no completed load goes unexamined.
    crate::store::monitoring::enqueue_after_load(
        &mut tx,
        dataset_id,
        kind,
        version,
        counts.n_inserted + counts.n_updated,
    )
    .await
    .context("failed to queue the load's monitoring job")?;
    tx.commit().await.context("failed to commit the load")?;
    store.announce_version(version);
    Ok(rejected)
}

/// Classifies a chunk's records as new, changed or unchanged, and writes the first two.
async fn write_chunk(
    conn: &mut sqlx::AnyConnection,
    kind: RecordKind,
    source: &str,
    dataset_id: i64,
    chunk: &[PreparedRecord],
    counts: &mut LoadCounts,
) -> sqlx::Result<()> {
    let keys: Vec<&str> = chunk.iter().map(|record| record.key.as_str()).collect();
    let existing = records::existing_hashes(conn, kind, source, &keys).await?;
    let mut to_write = Vec::with_capacity(chunk.len());
    for record in chunk {
        match existing.get(&record.key) {
            None => {
                counts.n_inserted += 1;
                to_write.push(record);
            }
            Some(hash) if *hash != record.content_hash => {
                counts.n_updated += 1;
                to_write.push(record);
            }
            Some(_) => counts.n_unchanged += 1,
        }
    }
    records::upsert(conn, kind, source, dataset_id, &to_write).await
}

/// A batch of parsed rows on their way from the parser to the writer.
#[derive(Default)]
struct ParsedChunk {
    records: Vec<PreparedRecord>,
    /// One entry per bad field, so a row can have several.
    rejected: Vec<RejectedRow>,
    n_rejected_rows: usize,
}

/// What the parser learnt about the file as a whole.
struct FileInfo {
    encoding: &'static str,
    delimiter: &'static str,
}

fn parse_file(
    kind: RecordKind,
    file_name: String,
    bytes: Vec<u8>,
    column_map: &[(String, String)],
    chunk_tx: mpsc::Sender<ParsedChunk>,
) -> Result<FileInfo, FileError> {
    match kind {
        RecordKind::Watchlist => parse_records::<WatchlistEntry>(file_name, bytes, column_map, chunk_tx),
        RecordKind::Suppliers => parse_records::<Supplier>(file_name, bytes, column_map, chunk_tx),
        RecordKind::Agencies => parse_records::<Agency>(file_name, bytes, column_map, chunk_tx),
        RecordKind::Procurements => parse_records::<ProcurementLine>(file_name, bytes, column_map, chunk_tx),
        RecordKind::Licences => parse_records::<LicenceEntry>(file_name, bytes, column_map, chunk_tx),
    }
}

fn parse_records<R: Record>(
    file_name: String,
    bytes: Vec<u8>,
    column_map: &[(String, String)],
    chunk_tx: mpsc::Sender<ParsedChunk>,
) -> Result<FileInfo, FileError> {
    let file = CsvFile::from_bytes(file_name, bytes);
    let (header, rows) = file.rows().map_err(|err| FileError { message: err.to_string() })?;
    let columns = ColumnMap::with_map(R::KIND, &header, column_map)
        .map_err(|missing| FileError { message: missing_columns_message(&file.name, &header, R::KIND, &missing) })?;
    let file_info = FileInfo { encoding: file.encoding.name(), delimiter: file.delimiter_name() };

    // The first line each key was seen on: a repeated key is rejected, the first row kept.
    let mut first_line_of_key: HashMap<String, u64> = HashMap::new();
    let mut chunk = ParsedChunk::default();
    for row in rows {
        let parsed = row
            .map_err(|err| vec![RejectedRow { line: err.line as i64, field: "row".to_owned(), reason: err.reason }])
            .and_then(|row| prepare_row::<R>(&columns, &row, &mut first_line_of_key));
        match parsed {
            Ok(record) => chunk.records.push(record),
            Err(errors) => {
                chunk.n_rejected_rows += 1;
                chunk.rejected.extend(errors);
            }
        }
        if chunk.records.len() >= CHUNK_SIZE && chunk_tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
            // The writer has stopped; it reports why.
            return Ok(file_info);
        }
    }
    let _ = chunk_tx.blocking_send(chunk);
    Ok(file_info)
}

/// The error for a header that lacks required columns, with what was found and expected.
pub fn missing_columns_message(file_name: &str, header: &[String], kind: RecordKind, missing: &[&str]) -> String {
    format!(
        "{}:1: the header lacks the required column{} {} (found: {}; expected for {}: {})",
        file_name,
        if missing.len() > 1 { "s" } else { "" },
        missing.join(", "),
        header.join(", "),
        kind,
        kind.csv_columns().collect::<Vec<_>>().join(", "),
    )
}

/// Validates one row and prepares its record, or says everything wrong with it.
fn prepare_row<R: Record>(
    columns: &ColumnMap,
    row: &CsvRow,
    first_line_of_key: &mut HashMap<String, u64>,
) -> Result<PreparedRecord, Vec<RejectedRow>> {
    let line = row.line as i64;
    let reject = |field: &str, reason: String| vec![RejectedRow { line, field: field.to_owned(), reason }];
    let record: R = parse_row(columns, &row.cells()).map_err(|errors| {
        errors.into_iter().map(|err| RejectedRow { line, field: err.field, reason: err.reason }).collect::<Vec<_>>()
    })?;
    let prepared =
        records::prepare(&record).map_err(|err| reject("row", format!("could not prepare the record: {err}")))?;
    match first_line_of_key.entry(prepared.key.clone()) {
        Entry::Occupied(first) => Err(reject(
            &R::KIND.key_fields().join("+"),
            format!("{:?} repeats the key of line {} (the first row is kept)", prepared.key, first.get()),
        )),
        Entry::Vacant(slot) => {
            slot.insert(row.line);
            Ok(prepared)
        }
    }
}

/// Parses a file in one of the published formats (`import`) and sends its records of
/// the load's kind to the writer. The line of a rejected record is its line or its
/// position in the file, and its field the JSON path or column at fault.
fn parse_import(
    format: Format,
    kind: RecordKind,
    file_name: &str,
    bytes: &[u8],
    chunk_tx: mpsc::Sender<ParsedChunk>,
) -> Result<FileInfo, FileError> {
    let fail = |message: String| FileError { message: format!("{file_name}: {message}") };
    let wrong_kind = || {
        let kinds: Vec<&str> = format.kinds().iter().map(|kind| kind.as_str()).collect();
        fail(format!("a {format} file holds {}, not {kind}", kinds.join(" and ")))
    };
    let file_info = FileInfo { encoding: "UTF-8", delimiter: format.as_str() };
    match (format, kind) {
        (Format::Ocds, RecordKind::Suppliers | RecordKind::Procurements) => {
            let data = import::ocds::parse(bytes).map_err(|err| fail(err.0))?;
            if kind == RecordKind::Suppliers {
                let mut rejected = data.rejected;
                rejected.extend(data.rejected_suppliers);
                send_imported(data.suppliers, rejected, chunk_tx);
            } else {
                let mut rejected = data.rejected;
                rejected.extend(data.no_lines);
                send_imported(data.lines, rejected, chunk_tx);
            }
        }
        (Format::ListaSuja, RecordKind::Watchlist) => {
            let (entries, rejected) = import::lista_suja::parse(bytes).map_err(|err| fail(err.0))?;
            send_imported(entries, rejected, chunk_tx);
        }
        (Format::Ftm | Format::OpensanctionsCsv, RecordKind::Watchlist) => {
            let parsed = match format {
                Format::Ftm => import::opensanctions::parse_ftm(bytes),
                _ => import::opensanctions::parse_simple_csv(bytes),
            }
            .map_err(|err| fail(err.0))?;
            send_imported(parsed.entries, parsed.rejected, chunk_tx);
        }
        (Format::Cbp, RecordKind::Watchlist) => {
            let (entries, rejected) = import::cbp::parse(bytes).map_err(|err| fail(err.0))?;
            send_imported(entries, rejected, chunk_tx);
        }
        (Format::Ilab, _) => {
            return Err(fail(
                "the ILAB list of goods is the rules' reference list, not records: load it with \
                 `cadena ingest --format ilab FILE`"
                    .to_owned(),
            ));
        }
        _ => return Err(wrong_kind()),
    }
    Ok(file_info)
}

/// Prepares imported records and sends them to the writer in chunks, with the rejects.
/// A key seen twice keeps its first record and rejects the other, as in a CSV file.
fn send_imported<R: Record>(records: Vec<Located<R>>, rejects: Vec<RejectedRow>, chunk_tx: mpsc::Sender<ParsedChunk>) {
    let mut chunk = ParsedChunk { n_rejected_rows: rejects.len(), rejected: rejects, ..ParsedChunk::default() };
    let mut first_of_key: HashMap<String, (i64, String)> = HashMap::new();
    for located in records {
        let field = if located.path.is_empty() { "row".to_owned() } else { located.path.clone() };
        let prepared = match records::prepare(&located.record) {
            Ok(prepared) => prepared,
            Err(err) => {
                chunk.n_rejected_rows += 1;
                chunk.rejected.push(RejectedRow {
                    line: located.line,
                    field,
                    reason: format!("could not prepare the record: {err}"),
                });
                continue;
            }
        };
        match first_of_key.entry(prepared.key.clone()) {
            Entry::Occupied(first) => {
                let (line, path) = first.get();
                chunk.n_rejected_rows += 1;
                chunk.rejected.push(RejectedRow {
                    line: located.line,
                    field,
                    reason: format!("{:?} repeats the key of {line} {path} (the first is kept)", prepared.key),
                });
                continue;
            }
            Entry::Vacant(slot) => {
                slot.insert((located.line, located.path));
            }
        }
        chunk.records.push(prepared);
        if chunk.records.len() >= CHUNK_SIZE && chunk_tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
            return;
        }
    }
    let _ = chunk_tx.blocking_send(chunk);
}
