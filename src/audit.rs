//! Batch audits: a supplier or procurement file uploaded once, screened in the
//! background in leased chunks by every worker that shares the store (on any host),
//! taken over when a worker dies, with its report kept in the store (see `store::audits`
//! for the guarantees). Each chunk records the index version and ruleset digest it was
//! screened with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::csv_reader::CsvFile;
use crate::screening::{PreparedFile, ReportRow, count_rows};
use crate::service::ScreeningService;
use crate::store::audits::{Audit, AuditReading, AuditRow, ClaimedChunk};
use crate::store::{Job, Store};

/// Rows per chunk, the unit of work a worker claims.
pub const DEFAULT_CHUNK_SIZE: i64 = 500;

/// How often an idle worker looks for new chunks.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Checks an uploaded file, read as a screening reads it (`import::resolve`: a CSV file
/// of suppliers or procurement lines, told by its header and the column map, or an OCDS
/// file), and queues its audit with its column map (`COLUMN=FIELD` entries, as `cadena
/// screen --map` takes them). The error is a message for the uploader.
pub async fn submit(
    store: &Store,
    file_name: &str,
    bytes: Vec<u8>,
    reading: &AuditReading,
    key_id: Option<i64>,
    chunk_size: i64,
) -> anyhow::Result<Result<Audit, String>> {
    let file = CsvFile::from_bytes(file_name, bytes);
    let (name, text, entries) = (file_name.to_owned(), file.text().to_owned(), reading.column_map.clone());
    // Parsing is CPU-bound: off the async executor.
    let counted = tokio::task::spawn_blocking(move || count_rows(&name, text.into_bytes(), &entries))
        .await
        .context("the file's parser stopped unexpectedly")?;
    let n_rows = match counted {
        Ok(n_rows) => n_rows as i64,
        Err(message) => return Ok(Err(message)),
    };
    let audit = store.create_audit(file_name, file.text(), reading, n_rows, chunk_size, key_id).await?;
    Ok(Ok(audit))
}

/// Screens audit chunks as they come.
pub struct AuditWorker {
    store: Store,
    service: Arc<ScreeningService>,
    threads: usize,
    /// Parsed files of the audits this worker is on, so a file is parsed once per worker.
    files: Mutex<HashMap<i64, Arc<AuditFile>>>,
}

/// An audit's file, parsed, with its chunk size.
struct AuditFile {
    prepared: PreparedFile,
    chunk_size: i64,
}

impl AuditWorker {
    pub fn new(store: Store, service: Arc<ScreeningService>, threads: usize) -> AuditWorker {
        AuditWorker { store, service, threads: threads.max(1), files: Mutex::new(HashMap::new()) }
    }

    /// Screens chunks until none is pending; returns how many it did.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        self.store.complete_finished_audits().await?;
        let mut done = 0;
        while let Some(claimed) = self.store.claim_audit_chunk().await? {
            self.process(claimed).await?;
            done += 1;
        }
        self.forget_finished_files().await?;
        Ok(done)
    }

    /// Screens chunks as they are queued until `shutdown` turns true. Shutdown is looked
    /// at between chunks: the chunk in progress is finished, the others stay pending for
    /// the next start (or another process).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // A replica whose index has not caught up with the store once would screen its
        // chunks against a partial index (an empty one, on a new data directory).
        let mut index_status = self.service.subscribe_index_status();
        tokio::select! {
            _ = index_status.wait_for(|status| status.caught_up_once) => {}
            _ = shutdown.changed() => return,
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.store.claim_audit_chunk().await {
                Ok(Some(claimed)) => {
                    if let Err(err) = self.process(claimed).await {
                        tracing::error!(audit_id = claimed.audit_id, chunk = claimed.chunk, "batch audit: {err:#}");
                    }
                    continue;
                }
                Ok(None) => {
                    if let Err(err) = self.forget_finished_files().await {
                        tracing::error!("batch audit worker: {err:#}");
                    }
                }
                Err(err) => tracing::error!("batch audit worker: {err:#}"),
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    async fn process(&self, claimed: ClaimedChunk) -> anyhow::Result<()> {
        let _lease = self.store.hold_lease(Job::AuditChunk { audit_id: claimed.audit_id, chunk: claimed.chunk });
        let file = match self.file(claimed.audit_id).await {
            Ok(file) => file,
            Err(err) => {
                let message = format!("{err:#}");
                self.store.fail_audit(claimed.audit_id, &message).await?;
                return Err(err);
            }
        };
        let start = (claimed.chunk * file.chunk_size) as usize;
        let end = start + file.chunk_size as usize;
        let (matcher, ruleset, threads) =
            (self.service.matcher().clone(), self.service.ruleset().clone(), self.threads);
        let view = matcher.index().view();
        let screened_with = (view.version(), ruleset.digest().to_owned());
        let screened = tokio::task::spawn_blocking(move || {
            file.prepared.screen_range(&matcher, &view, &ruleset, start..end, threads)
        })
        .await
        .context("a screening thread panicked")?;
        let report = match screened {
            Ok(report) => report,
            Err(err) => {
                self.store.release_audit_chunk(claimed).await?;
                return Err(err);
            }
        };
        let rows: Vec<AuditRow> =
            report.iter().enumerate().map(|(offset, row)| audit_row(start + offset, row)).collect::<Result<_, _>>()?;
        let (version, digest) = &screened_with;
        if !self.store.finish_audit_chunk(claimed, &rows, (*version, digest)).await? {
            tracing::warn!(
                audit_id = claimed.audit_id,
                chunk = claimed.chunk,
                "the chunk's lease expired and another worker took it over; its rows are that worker's"
            );
        }
        Ok(())
    }

    async fn file(&self, audit_id: i64) -> anyhow::Result<Arc<AuditFile>> {
        if let Some(file) = self.files.lock().expect("the file cache lock").get(&audit_id) {
            return Ok(file.clone());
        }
        let audit = self.store.get_audit(audit_id).await?.context("the audit vanished")?;
        let content = self.store.audit_content(audit_id).await?.context("the audit's file vanished")?;
        let prepared =
            PreparedFile::read_mapped(&self.store, &audit.file_name, content.into_bytes(), &audit.column_map)
                .await?
                .in_language(audit.lang);
        let file = Arc::new(AuditFile { prepared, chunk_size: audit.chunk_size });
        self.files.lock().expect("the file cache lock").insert(audit_id, file.clone());
        Ok(file)
    }

    /// Drops the parsed files of audits that are no longer running.
    async fn forget_finished_files(&self) -> anyhow::Result<()> {
        let ids: Vec<i64> = self.files.lock().expect("the file cache lock").keys().copied().collect();
        for id in ids {
            let running = self.store.get_audit(id).await?.is_some_and(|audit| audit.status == "running");
            if !running {
                self.files.lock().expect("the file cache lock").remove(&id);
            }
        }
        Ok(())
    }
}

fn audit_row(row_index: usize, row: &ReportRow) -> Result<AuditRow, serde_json::Error> {
    Ok(AuditRow {
        row_index: row_index as i64,
        has_error: !row.error.is_empty(),
        band: (!row.risk_band.is_empty()).then(|| row.risk_band.clone()),
        report: serde_json::to_string(row)?,
    })
}
