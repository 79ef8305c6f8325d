-- Batch audits: an uploaded supplier or procurement file screened row by row in the
-- background, in chunks that any worker sharing the database may claim. A chunk's report
-- rows and its 'done' mark commit together, so no row is reported twice or lost.

CREATE TABLE audits (
    id INTEGER PRIMARY KEY,
    file_name TEXT NOT NULL,
    -- The uploaded file, decoded to UTF-8.
    content TEXT NOT NULL,
    -- queued, running, completed, cancelled or failed.
    status TEXT NOT NULL,
    n_rows BIGINT NOT NULL,
    n_chunks BIGINT NOT NULL,
    chunk_size BIGINT NOT NULL,
    key_id BIGINT REFERENCES api_keys (id),
    created_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT
);

-- pending, running (claimed by worker at claimed_at) or done.
CREATE TABLE audit_chunks (
    audit_id BIGINT NOT NULL REFERENCES audits (id),
    chunk BIGINT NOT NULL,
    status TEXT NOT NULL,
    worker TEXT,
    claimed_at TEXT,
    PRIMARY KEY (audit_id, chunk)
);
CREATE INDEX audit_chunks_pending ON audit_chunks (status, audit_id, chunk);

-- One report row per input row (see screening::ReportRow), as JSON.
CREATE TABLE audit_rows (
    audit_id BIGINT NOT NULL REFERENCES audits (id),
    row_index BIGINT NOT NULL,
    has_error BIGINT NOT NULL,
    band TEXT,
    report TEXT NOT NULL,
    PRIMARY KEY (audit_id, row_index)
);
