-- PostgreSQL version of migrations/sqlite/0001_initial.sql; keep the two in step.
-- cadena's initial schema: loads (dataset versions) with their rejected rows, and the
-- five record kinds. Every record table has the same bookkeeping columns:
--   source, record_key   where the record comes from and its id there (unique together,
--                        so re-ingesting a row updates it instead of adding another)
--   content_hash         hash of the record's fields, to tell changed from unchanged rows
--   first_dataset_id     the load that first inserted it
--   dataset_id           the load that last changed it
--   extra                JSON object of the file's columns the schema does not know
-- Multi-valued fields (aliases, products, agency_ids) are JSON arrays of strings.
-- Dates are ISO 8601 text (YYYY-MM-DD); timestamps RFC 3339 UTC text.

-- One row per load of a file: a job that is queued, runs, and completes or fails.
CREATE TABLE datasets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    file_name TEXT NOT NULL,
    -- Where the worker reads a queued load's file; NULL when the bytes came with the job.
    file_path TEXT,
    file_sha256 TEXT,
    encoding TEXT,
    delimiter TEXT,
    -- queued, running, completed, failed or interrupted.
    status TEXT NOT NULL,
    n_rows BIGINT NOT NULL DEFAULT 0,
    n_inserted BIGINT NOT NULL DEFAULT 0,
    n_updated BIGINT NOT NULL DEFAULT 0,
    n_unchanged BIGINT NOT NULL DEFAULT 0,
    n_rejected BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    -- The process that claimed the load, for diagnosing stuck loads.
    worker TEXT,
    queued_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX datasets_status_idx ON datasets (status, id);

-- Rows a load rejected, each with the line it starts on and what was wrong.
CREATE TABLE rejected_rows (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line BIGINT NOT NULL,
    field TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX rejected_rows_dataset_idx ON rejected_rows (dataset_id, line);

CREATE TABLE watchlist_entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    entity_id TEXT NOT NULL,
    list TEXT,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '[]',
    tax_id TEXT,
    tax_id_key TEXT,
    country TEXT,
    reason TEXT,
    listed_on TEXT,
    source_url TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, record_key)
);
CREATE INDEX watchlist_entries_tax_id_key_idx ON watchlist_entries (tax_id_key);

CREATE TABLE suppliers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    supplier_id TEXT NOT NULL,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '[]',
    tax_id TEXT,
    tax_id_key TEXT,
    country TEXT,
    region TEXT,
    region_code TEXT,
    sector TEXT,
    products TEXT NOT NULL DEFAULT '[]',
    agency_ids TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, record_key)
);
CREATE INDEX suppliers_tax_id_key_idx ON suppliers (tax_id_key);

CREATE TABLE agencies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    agency_id TEXT NOT NULL,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '[]',
    tax_id TEXT,
    tax_id_key TEXT,
    country TEXT,
    region TEXT,
    region_code TEXT,
    licence_number TEXT,
    licence_status TEXT,
    licence_expires TEXT,
    -- 1 yes, 0 no, NULL unknown (an integer on both backends, for sqlx's Any driver).
    charges_worker_fees BIGINT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, record_key)
);
CREATE INDEX agencies_tax_id_key_idx ON agencies (tax_id_key);
CREATE INDEX agencies_licence_number_idx ON agencies (licence_number);

CREATE TABLE procurement_lines (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    procurement_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    buyer TEXT,
    supplier_id TEXT,
    supplier_name TEXT,
    supplier_tax_id TEXT,
    supplier_tax_id_key TEXT,
    item_description TEXT,
    item_code TEXT,
    origin_country TEXT,
    origin_region TEXT,
    origin_region_code TEXT,
    quantity DOUBLE PRECISION,
    value DOUBLE PRECISION,
    currency TEXT,
    award_date TEXT,
    agency_ids TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, record_key)
);
CREATE INDEX procurement_lines_procurement_idx ON procurement_lines (procurement_id);
CREATE INDEX procurement_lines_supplier_id_idx ON procurement_lines (supplier_id);

CREATE TABLE licences (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    licence_number TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    tax_id TEXT,
    tax_id_key TEXT,
    country TEXT,
    status TEXT,
    issued_on TEXT,
    expires_on TEXT,
    authority TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, record_key)
);
CREATE INDEX licences_licence_number_idx ON licences (licence_number);
CREATE INDEX licences_tax_id_key_idx ON licences (tax_id_key);
