-- The store's version, and jobs leased instead of tied to a process.
--
-- `store_state` is one row: the store's identity (so an index built from another
-- database is recognised and rebuilt) and its version, a counter that every completed
-- load increments inside its own transaction. Loads therefore become visible in version
-- order, and an index that reflects version N reflects every load up to N.
CREATE TABLE store_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO store_state (id, store_id, version)
VALUES (1, lower(hex(randomblob(16))), (SELECT COUNT(*) FROM datasets WHERE status = 'completed'));

-- The store version a completed load made (NULL until it completes).
ALTER TABLE datasets ADD COLUMN version BIGINT;
UPDATE datasets SET version = (
    SELECT COUNT(*) FROM datasets AS earlier WHERE earlier.status = 'completed' AND earlier.id <= datasets.id
) WHERE status = 'completed';
CREATE UNIQUE INDEX datasets_version_idx ON datasets (version);

-- How a queued load reads its file: format name and CSV column map (JSON pairs).
ALTER TABLE datasets ADD COLUMN format TEXT;
ALTER TABLE datasets ADD COLUMN column_map TEXT;
-- A running load belongs to `worker` until `lease_until` (the database's clock); the
-- worker renews it while it works. An expired lease lets any worker take the job over.
ALTER TABLE datasets ADD COLUMN lease_until TEXT;
-- How many times a worker has started the load (a load that keeps killing its worker
-- is failed after a few attempts).
ALTER TABLE datasets ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;

-- The file of a queued load or an upload, kept in the store so that any host can run it.
CREATE TABLE load_files (
    dataset_id BIGINT PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
    content BLOB NOT NULL
);

-- Audit chunks are leased the same way, and record what they were screened against.
ALTER TABLE audit_chunks ADD COLUMN lease_until TEXT;
ALTER TABLE audit_chunks ADD COLUMN dataset_version BIGINT;
ALTER TABLE audit_chunks ADD COLUMN ruleset_digest TEXT;

-- The indexer reads what each load changed.
CREATE INDEX watchlist_entries_dataset_idx ON watchlist_entries (dataset_id);
CREATE INDEX suppliers_dataset_idx ON suppliers (dataset_id);
CREATE INDEX agencies_dataset_idx ON agencies (dataset_id);

-- How many store versions the index a screening used was behind the store (0 when it
-- had caught up); the screening's dataset_version is the index's version.
ALTER TABLE screenings ADD COLUMN index_lag BIGINT NOT NULL DEFAULT 0;
