//! The indexer: the one writer of a process's search index, which follows the store.
//!
//! The store is the system of record and the index is derived from it. Each index commit
//! is stamped with the store version it reflects ([`IndexStamp`]); the indexer catches
//! up whenever the store has completed loads beyond that version, reading in one
//! consistent snapshot the records those loads changed ([`Store::snapshot`]), so an index
//! stamped N holds exactly the store at version N. It is woken at once by loads this
//! process commits, by `LISTEN/NOTIFY` on PostgreSQL for loads of other processes, and
//! by a poll every [`POLL_INTERVAL`] (SQLite, or a missed notification). An index from
//! another store, of another layout or ahead of the store is rebuilt in place (one
//! commit, so searches see the old index until the new one is whole).
//!
//! tantivy's writer lock holds across processes, so of several processes on one data
//! directory only one writes; the others follow the commits it makes ([`Indexer`] in
//! follower mode) and take the writer over when that process stops. Nothing else in
//! cadena writes the index: loads only commit to the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::watch;

use crate::matching::index::{EntityIndex, INDEX_FORMAT, IndexDrift, IndexStamp, Indexable, IndexedEntity};
use crate::progress::Progress;
use crate::records::{Agency, Supplier, WatchlistEntry};
use crate::store::Store;
use crate::store::versions::Snapshot;

/// How often the indexer looks at the store's version when nothing woke it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Records read from the store per page while indexing.
const PAGE_SIZE: i64 = 20_000;

/// Where the index stands against the store, as last seen by the indexer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IndexStatus {
    /// The store version the index reflects.
    pub index_version: i64,
    /// The newest store version the indexer has seen.
    pub store_version: i64,
    /// Whether the index has caught up with the store at least once since the process started.
    pub caught_up_once: bool,
}

impl IndexStatus {
    /// How many store versions the index is behind (0 when caught up).
    pub fn lag(&self) -> i64 {
        (self.store_version - self.index_version).max(0)
    }
}

/// What one round of catching up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// The version the index reflected before, and reflects now.
    pub from: i64,
    pub to: i64,
    /// Records (re)indexed.
    pub n_indexed: u64,
    /// Whether the whole index was rebuilt (another store, another layout, or a new index).
    pub rebuilt: bool,
    /// Whether this process writes the index; when not, it followed another's commits.
    pub writer: bool,
}

/// The one writer of an index, following the store (see the module documentation).
#[derive(Clone)]
pub struct Indexer {
    store: Store,
    index: EntityIndex,
    /// tantivy's writer, when this process holds the index's lock; `None` while another
    /// process does. Locked only inside blocking tasks, never across an `.await`.
    writer: Arc<Mutex<Option<tantivy::IndexWriter>>>,
    /// Whether `writer` holds a writer, readable without waiting for a commit to finish.
    holds_writer: Arc<AtomicBool>,
    /// Held through a whole round, so that two rounds never interleave their writes.
    round: Arc<tokio::sync::Mutex<()>>,
    status: Arc<watch::Sender<IndexStatus>>,
}

impl Indexer {
    /// An indexer of `index` that follows `store`. It takes the index's writer lock if
    /// no other process holds it; otherwise it follows that process's commits until it
    /// can.
    pub fn new(store: Store, index: EntityIndex) -> anyhow::Result<Indexer> {
        let writer = index.try_writer()?;
        let status = IndexStatus { index_version: index.view().version(), ..IndexStatus::default() };
        Ok(Indexer {
            store,
            index,
            holds_writer: Arc::new(AtomicBool::new(writer.is_some())),
            writer: Arc::new(Mutex::new(writer)),
            round: Arc::new(tokio::sync::Mutex::new(())),
            status: Arc::new(watch::channel(status).0),
        })
    }

    /// [`Indexer::new`] on the index in `dir`, created empty if there is none.
    pub fn open(store: &Store, dir: &std::path::Path) -> anyhow::Result<Indexer> {
        Indexer::new(store.clone(), EntityIndex::open_or_create(dir)?)
    }

    pub fn index(&self) -> &EntityIndex {
        &self.index
    }

    /// Where the index stands, updated after every round.
    pub fn status(&self) -> watch::Receiver<IndexStatus> {
        self.status.subscribe()
    }

    /// Whether this process holds the index's writer.
    pub fn is_writer(&self) -> bool {
        self.holds_writer.load(Ordering::Acquire)
    }

    /// Brings the index up to the store's current version: indexes what the loads since
    /// the index's version changed (or rebuilds it), commits stamped with that version.
    /// When another process writes the index, reloads its newest commit instead.
    pub async fn catch_up(&self) -> anyhow::Result<CatchUp> {
        self.round(false, &Progress::hidden()).await
    }

    /// Catches up as [`Self::catch_up`] does, counting the entities it indexes.
    pub async fn catch_up_showing(&self, progress: &Progress) -> anyhow::Result<CatchUp> {
        self.round(false, progress).await
    }

    /// Rebuilds the whole index from the store, in place (`cadena reindex`): searches see
    /// the old index until the rebuilt one commits. `progress` counts the entities indexed.
    pub async fn rebuild(&self, progress: &Progress) -> anyhow::Result<CatchUp> {
        anyhow::ensure!(
            self.is_writer() || self.take_writer_if_free()?,
            "the index is being written by another cadena process on this data directory (a running \
             `cadena serve`?); it follows the store by itself, or stop that process to rebuild it"
        );
        self.round(true, progress).await
    }

    async fn round(&self, rebuild: bool, progress: &Progress) -> anyhow::Result<CatchUp> {
        let _round = self.round.lock().await;
        if !self.is_writer() {
            self.take_writer_if_free()?;
        }
        let from = self.index.view().version();
        if !self.is_writer() {
            let view = self.index.reload()?;
            let store_version = self.store.store_version().await?;
            self.publish(view.version(), store_version);
            return Ok(CatchUp { from, to: view.version(), n_indexed: 0, rebuilt: false, writer: false });
        }
        let mut snapshot = self.store.snapshot().await.context("failed to read the store's version")?;
        let stamp = IndexStamp { store_id: snapshot.store_id.clone(), version: snapshot.version, format: INDEX_FORMAT };
        let current = self.index.view().stamp().cloned();
        let changed_since = match &current {
            Some(current)
                if !rebuild
                    && current.store_id == stamp.store_id
                    && current.format == INDEX_FORMAT
                    && current.version <= stamp.version =>
            {
                Some(current.version)
            }
            _ => None,
        };
        if changed_since == Some(stamp.version) {
            snapshot.close().await?;
            self.publish(stamp.version, stamp.version);
            return Ok(CatchUp { from, to: from, n_indexed: 0, rebuilt: false, writer: true });
        }
        let rebuilt = changed_since.is_none();
        // An explicit rebuild (`cadena reindex`) also merges the index into one segment;
        // otherwise the writer's merge policy merges in the background.
        let applied = self.apply(&mut snapshot, changed_since, &stamp, rebuild, progress).await;
        snapshot.close().await?;
        let n_indexed = match applied {
            Ok(n_indexed) => n_indexed,
            Err(err) => {
                // Nothing uncommitted may reach the next round's commit.
                self.with_writer(|writer, _| Ok(writer.rollback()?)).await?;
                return Err(err);
            }
        };
        self.publish(stamp.version, stamp.version);
        tracing::info!(from, to = stamp.version, n_indexed, rebuilt, "the index caught up with the store");
        Ok(CatchUp { from, to: stamp.version, n_indexed, rebuilt, writer: true })
    }

    /// Writes what the snapshot holds beyond `changed_since` (everything when `None`,
    /// replacing the index's contents) and commits it stamped; then, with `merge`,
    /// merges the index into one segment.
    async fn apply(
        &self,
        snapshot: &mut Snapshot,
        changed_since: Option<i64>,
        stamp: &IndexStamp,
        merge: bool,
        progress: &Progress,
    ) -> anyhow::Result<u64> {
        if changed_since.is_none() {
            self.with_writer(|writer, _| {
                writer.delete_all_documents()?;
                Ok(())
            })
            .await?;
        }
        let mut n_indexed = 0;
        n_indexed += self.index_kind::<WatchlistEntry>(snapshot, changed_since, progress).await?;
        n_indexed += self.index_kind::<Supplier>(snapshot, changed_since, progress).await?;
        n_indexed += self.index_kind::<Agency>(snapshot, changed_since, progress).await?;
        let stamp = stamp.clone();
        if merge {
            progress.set_message("merging the index into one segment");
        }
        self.with_writer(move |writer, index| {
            index.commit(writer, &stamp)?;
            if merge {
                index.merge_segments(writer)?;
                index.reload()?;
            }
            Ok(())
        })
        .await?;
        Ok(n_indexed)
    }

    /// Compares every indexed document with what the store says it should be.
    pub async fn check(&self) -> anyhow::Result<IndexDrift> {
        let view = self.index.reload()?;
        let mut indexed: HashMap<String, IndexedEntity> =
            self.index.all_entities(&view)?.into_iter().map(|entity| (entity.key(), entity)).collect();
        let mut drift = IndexDrift { indexed: indexed.len() as u64, ..IndexDrift::default() };
        let mut snapshot = self.store.snapshot().await?;
        drift.store_version = snapshot.version;
        drift.index_version = view.version();
        compare_kind::<WatchlistEntry>(&mut snapshot, &mut indexed, &mut drift).await?;
        compare_kind::<Supplier>(&mut snapshot, &mut indexed, &mut drift).await?;
        compare_kind::<Agency>(&mut snapshot, &mut indexed, &mut drift).await?;
        snapshot.close().await?;
        drift.extra = indexed.into_keys().collect();
        drift.extra.sort();
        Ok(drift)
    }

    /// Mends what [`Indexer::check`] found: indexes the missing and stale records afresh
    /// and deletes the documents of records the store no longer has.
    pub async fn repair(&self, drift: IndexDrift) -> anyhow::Result<()> {
        let _round = self.round.lock().await;
        anyhow::ensure!(
            self.is_writer() || self.take_writer_if_free()?,
            "the index is being written by another cadena process on this data directory"
        );
        self.with_writer(move |writer, index| {
            for key in &drift.extra {
                writer.delete_term(index.key_term(key));
            }
            for entity in drift.missing.iter().chain(&drift.stale) {
                writer.delete_term(index.key_term(&entity.key()));
                writer.add_document(index.document(entity))?;
            }
            let stamp = index.view().stamp().cloned().context("the index has no stamp; run `cadena reindex`")?;
            index.commit(writer, &stamp)
        })
        .await
    }

    /// Follows the store until `shutdown` turns true: a round when this process commits
    /// a load, when PostgreSQL announces one, and every [`POLL_INTERVAL`] otherwise.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut committed = self.store.subscribe_versions();
        let mut listener = None;
        while !*shutdown.borrow() {
            if listener.is_none() {
                listener = match self.store.version_listener().await {
                    Ok(listener) => listener,
                    Err(err) => {
                        tracing::warn!("cannot listen for store versions ({err:#}); polling instead");
                        None
                    }
                };
            }
            if let Err(err) = self.catch_up().await {
                tracing::error!("the index could not catch up with the store: {err:#}");
            }
            let notified = async {
                match listener.as_mut() {
                    Some(listener) => listener.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = committed.changed() => {}
                result = notified => {
                    if let Err(err) = result {
                        tracing::warn!("lost the store-version notifications ({err:#}); reconnecting");
                        listener = None;
                    }
                }
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Takes the index's writer lock if no other process holds it; returns whether this
    /// process now holds it.
    fn take_writer_if_free(&self) -> anyhow::Result<bool> {
        let mut writer = self.writer.lock().expect("the index writer lock");
        if writer.is_none() {
            *writer = self.index.try_writer()?;
        }
        self.holds_writer.store(writer.is_some(), Ordering::Release);
        Ok(writer.is_some())
    }

    fn publish(&self, index_version: i64, store_version: i64) {
        self.status.send_modify(|status| {
            status.index_version = index_version;
            status.store_version = store_version.max(index_version);
            status.caught_up_once |= index_version >= store_version;
        });
    }

    /// Indexes one kind's records: all of them, or those changed since a version.
    async fn index_kind<R: Indexable>(
        &self,
        snapshot: &mut Snapshot,
        changed_since: Option<i64>,
        progress: &Progress,
    ) -> anyhow::Result<u64> {
        // The next page is read from the store while the current one is indexed, and
        // each page's documents are built on every core: the store, the building and
        // tantivy's own indexing threads overlap.
        let mut count = 0;
        let mut page = snapshot.page_records::<R>(changed_since, None, PAGE_SIZE).await?;
        while let Some(last) = page.last() {
            let after = Some((last.source.clone(), last.key.clone()));
            let entities_in_page = page.len() as u64;
            count += entities_in_page;
            let entities: Vec<IndexedEntity> =
                page.iter().map(|stored| stored.record.to_entity(&stored.source)).collect();
            let replace = changed_since.is_some();
            let indexing = self.with_writer(move |writer, index| {
                let documents: Vec<tantivy::TantivyDocument> =
                    entities.par_iter().map(|entity| index.document(entity)).collect();
                for (entity, document) in entities.iter().zip(documents) {
                    if replace {
                        writer.delete_term(index.key_term(&entity.key()));
                    }
                    writer.add_document(document)?;
                }
                Ok(())
            });
            let next_page = snapshot.page_records::<R>(changed_since, after.as_ref(), PAGE_SIZE);
            let (indexed, next_page) = tokio::join!(indexing, next_page);
            indexed?;
            progress.inc(entities_in_page);
            page = next_page?;
        }
        Ok(count)
    }

    /// Runs `work` with the writer on a blocking thread (indexing is CPU-bound).
    async fn with_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut tantivy::IndexWriter, &EntityIndex) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let writer = self.writer.clone();
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = writer.lock().expect("the index writer lock");
            let writer = writer.as_mut().context("this process does not hold the index writer")?;
            work(writer, &index)
        })
        .await
        .context("an indexing thread panicked")?
    }
}

/// Checks one kind's stored records against the index, removing each from `indexed` as
/// it is seen, so that what is left there is indexed but no longer stored.
async fn compare_kind<R: Indexable>(
    snapshot: &mut Snapshot,
    indexed: &mut HashMap<String, IndexedEntity>,
    drift: &mut IndexDrift,
) -> anyhow::Result<()> {
    let mut after: Option<(String, String)> = None;
    loop {
        let page = snapshot.page_records::<R>(None, after.as_ref(), PAGE_SIZE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.source.clone(), last.key.clone()));
        for stored in &page {
            let expected = stored.record.to_entity(&stored.source);
            drift.stored += 1;
            match indexed.remove(&expected.key()) {
                None => drift.missing.push(expected),
                Some(found) if found != expected => drift.stale.push(expected),
                Some(_) => {}
            }
        }
    }
    Ok(())
}
