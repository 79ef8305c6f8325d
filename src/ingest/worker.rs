//! The ingestion worker: runs queued loads, one at a time, in the background of
//! `cadena serve`. Any number of workers (processes, or replicas on one PostgreSQL
//! database, on any host) share the queue: each load is leased to one of them
//! (`store::leases`), and a load whose worker died is taken over once its lease expires.
//! A load only commits to the store; the indexer hears of the new version.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::{LoadOptions, LoadReport, LoadRequest, run_load_as};
use crate::import::Format;
use crate::progress::Progress;
use crate::store::{DatasetVersion, Store};

/// How often an idle worker looks for loads queued by other processes.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
}

impl Worker {
    pub fn new(store: Store) -> Worker {
        Worker { store }
    }

    /// Runs queued loads until none is left, and returns what each one did. A load
    /// whose file cannot be read is recorded as failed and the worker goes on.
    pub async fn run_until_idle(&self) -> anyhow::Result<Vec<Result<LoadReport, String>>> {
        let n_ended = self.store.end_abandoned_loads().await.context("failed to check for abandoned loads")?;
        if n_ended > 0 {
            tracing::warn!("ended {n_ended} load(s) whose worker stopped and that cannot be run again");
        }
        let mut reports = Vec::new();
        while let Some(dataset) = self.store.claim_queued_load().await.context("failed to claim a queued load")? {
            let dataset_id = dataset.id;
            match self.run_claimed(dataset).await {
                Ok(report) => reports.push(Ok(report)),
                Err(err) => {
                    tracing::warn!(dataset_id, "load failed: {err:#}");
                    reports.push(Err(format!("{err:#}")));
                }
            }
        }
        Ok(reports)
    }

    async fn run_claimed(&self, dataset: DatasetVersion) -> anyhow::Result<LoadReport> {
        let bytes = match self.store.load_file(dataset.id).await? {
            Some(bytes) => bytes,
            // Loads queued before files were kept in the store name a path on the host that queued them.
            None => match &dataset.file_path {
                Some(path) => match tokio::fs::read(path).await {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        let message = format!("{path}: could not read the file: {err}");
                        self.store.fail_load(dataset.id, &message).await?;
                        anyhow::bail!(message);
                    }
                },
                None => {
                    let message = "the queued load has no file in the store";
                    self.store.fail_load(dataset.id, message).await?;
                    anyhow::bail!(message);
                }
            },
        };
        let options = LoadOptions {
            format: dataset.format.as_deref().and_then(Format::parse),
            column_map: dataset.column_map,
            progress: Progress::hidden(),
        };
        let request = LoadRequest { kind: dataset.kind, source: dataset.source, file_name: dataset.file_name, bytes };
        let report = run_load_as(&self.store, dataset.id, request, &options).await?;
        tracing::info!(
            dataset_id = report.dataset.id,
            kind = %report.dataset.kind,
            version = report.dataset.version,
            n_inserted = report.dataset.n_inserted,
            n_updated = report.dataset.n_updated,
            n_unchanged = report.dataset.n_unchanged,
            n_rejected = report.dataset.n_rejected,
            "load completed"
        );
        Ok(report)
    }

    /// Runs queued loads as they arrive until `shutdown` turns true. A load in progress
    /// when shutdown is asked for is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(err) = self.run_until_idle().await {
                tracing::error!("ingestion worker: {err:#}");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
