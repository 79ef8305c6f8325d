//! The monitoring worker: claims monitoring jobs from the store, one at a time and in
//! order, runs them against this process's index, and writes their alerts. Any number of
//! workers (replicas, `cadena ingest`) share the jobs; a job is claimed only by a worker
//! whose index reflects its load, and is taken over when its worker's lease runs out.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::NaiveDate;
use tokio::sync::watch;

use super::{JobKind, licences, reverse};
use crate::indexer::IndexStatus;
use crate::matching::Matcher;
use crate::store::monitoring::{JobOutcome, MonitorJob};
use crate::store::{Job, Store};

/// How often an idle worker looks for jobs when nothing woke it.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What a round of monitoring did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub n_jobs: usize,
    pub n_alerts: usize,
}

/// Runs monitoring jobs with this process's matcher (and so its index).
pub struct Monitor {
    store: Store,
    matcher: Arc<Matcher>,
    threads: usize,
}

impl Monitor {
    pub fn new(store: Store, matcher: Arc<Matcher>, threads: usize) -> Monitor {
        Monitor { store, matcher, threads: threads.max(1) }
    }

    /// Runs jobs until none is left that this worker may run (every job done, or the
    /// next one waiting for an index newer than this one, or another worker's). Makes
    /// sure today's expiry check exists first.
    pub async fn run_until_idle(&self) -> anyhow::Result<Round> {
        self.store.ensure_expiry_job().await.context("failed to queue today's licence-expiry check")?;
        let n_failed = self.store.end_abandoned_monitor_jobs().await?;
        if n_failed > 0 {
            tracing::warn!("failed {n_failed} monitoring job(s) whose worker stopped too many times");
        }
        let mut round = Round::default();
        loop {
            let view = self.matcher.index().view();
            let Some(job) = self.store.claim_monitor_job(view.version()).await.context("failed to claim a job")? else {
                return Ok(round);
            };
            let _lease = self.store.hold_lease(Job::Monitor(job.id));
            match self.run_job(&job).await {
                Ok(outcome) => {
                    let n_alerts = outcome.alerts.len();
                    if self.store.finish_monitor_job(job.id, &outcome).await? {
                        tracing::info!(
                            job_id = job.id,
                            kind = job.kind.as_str(),
                            dataset_id = job.dataset_id,
                            n_examined = outcome.n_examined,
                            n_alerts,
                            index_version = outcome.index_version,
                            "monitoring job done"
                        );
                        round.n_jobs += 1;
                        round.n_alerts += n_alerts;
                    } else {
                        tracing::warn!(
                            job_id = job.id,
                            "the monitoring job's lease expired and another worker took it over"
                        );
                    }
                }
                Err(err) => {
                    tracing::error!(job_id = job.id, "monitoring job failed: {err:#}");
                    self.store.release_monitor_job(job.id, &format!("{err:#}")).await?;
                    return Err(err);
                }
            }
        }
    }

    async fn run_job(&self, job: &MonitorJob) -> anyhow::Result<JobOutcome> {
        match job.kind {
            JobKind::WatchlistChanges => {
                let view = self.matcher.index().view();
                anyhow::ensure!(
                    view.version() >= job.min_version,
                    "the index reflects store version {} but the job needs {}",
                    view.version(),
                    job.min_version
                );
                let dataset_id = job.dataset_id.context("a watchlist job names no load")?;
                reverse::run(&self.store, &self.matcher, &view, dataset_id, self.threads).await
            }
            JobKind::LicenceChanges => {
                let dataset_id = job.dataset_id.context("a licence job names no load")?;
                licences::after_load(&self.store, dataset_id, self.today().await?).await
            }
            JobKind::LicenceExpiry => {
                let day = job.day.as_deref().context("an expiry job names no day")?;
                let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").with_context(|| format!("bad day {day:?}"))?;
                licences::expiry(&self.store, day).await
            }
        }
    }

    async fn today(&self) -> anyhow::Result<NaiveDate> {
        let today = self.store.database_today().await?;
        NaiveDate::parse_from_str(&today, "%Y-%m-%d").with_context(|| format!("the database's date {today:?}"))
    }

    /// Runs jobs as they come until `shutdown` turns true: whenever the index takes in a
    /// new version, and every [`POLL_INTERVAL`]. It starts once the index has caught up
    /// with the store, like the audit worker.
    pub async fn run(self, mut index_status: watch::Receiver<IndexStatus>, mut shutdown: watch::Receiver<bool>) {
        tokio::select! {
            _ = index_status.wait_for(|status| status.caught_up_once) => {}
            _ = shutdown.changed() => return,
        }
        while !*shutdown.borrow() {
            if let Err(err) = self.run_until_idle().await {
                tracing::error!("monitoring: {err:#}");
            }
            tokio::select! {
                changed = index_status.changed() => {
                    if changed.is_err() {
                        // The indexer has stopped: only the poll is left.
                        tokio::time::sleep(POLL_INTERVAL).await;
                    }
                }
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
