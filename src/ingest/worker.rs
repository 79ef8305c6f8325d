//! The ingestion worker: runs queued loads, one at a time, in the background of
//! `cadena serve`. Several workers (processes, or replicas on one PostgreSQL database)
//! can share the queue; each load is claimed by exactly one of them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::{LoadReport, LoadRequest, run_load};
use crate::matching::index::EntityIndex;
use crate::store::{DatasetVersion, Store};

/// How often an idle worker looks for loads queued by other processes.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    index: Option<Arc<EntityIndex>>,
}

impl Worker {
    pub fn new(store: Store) -> Worker {
        Worker { store, index: None }
    }

    /// Keeps `index` up to date with every load this worker runs.
    pub fn with_index(mut self, index: Arc<EntityIndex>) -> Worker {
        self.index = Some(index);
        self
    }

    /// Runs queued loads until none is left, and returns what each one did. A load
    /// whose file cannot be read is recorded as failed and the worker goes on.
    pub async fn run_until_idle(&self) -> anyhow::Result<Vec<Result<LoadReport, String>>> {
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
        let Some(path) = dataset.file_path.clone() else {
            let message = "the queued load names no file to read";
            self.store.fail_load(dataset.id, message).await?;
            anyhow::bail!(message);
        };
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(err) => {
                let message = format!("{path}: could not read the file: {err}");
                self.store.fail_load(dataset.id, &message).await?;
                anyhow::bail!(message);
            }
        };
        let request = LoadRequest { kind: dataset.kind, source: dataset.source, file_name: dataset.file_name, bytes };
        let report = run_load(&self.store, dataset.id, request).await?;
        tracing::info!(
            dataset_id = report.dataset.id,
            kind = %report.dataset.kind,
            n_inserted = report.dataset.n_inserted,
            n_updated = report.dataset.n_updated,
            n_unchanged = report.dataset.n_unchanged,
            n_rejected = report.dataset.n_rejected,
            "load completed"
        );
        if let Some(index) = &self.index {
            // The load is committed; an index update that fails is logged, not the load failed.
            match index.update_from_load(&self.store, report.dataset.kind, report.dataset.id).await {
                Ok(n_indexed) => tracing::info!(dataset_id = report.dataset.id, n_indexed, "index updated"),
                Err(err) => tracing::error!(
                    dataset_id = report.dataset.id,
                    "the search index was not updated ({err:#}); run `cadena reindex`"
                ),
            }
        }
        Ok(report)
    }

    /// Runs queued loads as they arrive until `shutdown` turns true. A load in progress
    /// when shutdown is asked for is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        match self.store.mark_dead_loads_interrupted().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("marked {n} load(s) of dead processes as interrupted"),
            Err(err) => tracing::error!("failed to check for interrupted loads: {err:#}"),
        }
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
