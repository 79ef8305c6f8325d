-- Monitoring: reviewers' decisions on matches, the jobs that reverse-screen what a load
-- changed against the monitored base (the suppliers and agencies in the store), the
-- alerts those jobs raise, and the webhooks that alerts are delivered to.

-- A reviewer's decision on one match of a stored screening (or of an alert). Never
-- edited: a later decision on the same supplier and listed entity supersedes it (the
-- newest one not withdrawn is in force), and a withdrawal is a row of its own.
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    -- Where the match was reviewed: a stored screening, or an alert (closed with it).
    screening_id BIGINT REFERENCES screenings (id),
    alert_id BIGINT REFERENCES alerts (id),
    -- The supplier it concerns, and its source when it is a stored supplier.
    supplier_id TEXT NOT NULL,
    supplier_source TEXT,
    -- The listed entity: its source and id.
    source TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    -- false_positive or confirmed.
    decision TEXT NOT NULL,
    note TEXT NOT NULL,
    -- The listed record's content hash when the decision was made (NULL if the store no
    -- longer held it), and what the reviewer saw of it (JSON: name, aliases, tax id,
    -- country, reason, list), to tell later which of those fields changed.
    content_hash TEXT,
    entity TEXT NOT NULL,
    -- The decision that was in force for the same supplier and entity, if any.
    supersedes BIGINT REFERENCES decisions (id),
    key_id BIGINT REFERENCES api_keys (id),
    created_at TEXT NOT NULL
);
CREATE INDEX decisions_supplier_idx ON decisions (supplier_id, source, entity_id);

-- A decision taken back; the decision itself stays as it was.
CREATE TABLE decision_withdrawals (
    decision_id BIGINT PRIMARY KEY REFERENCES decisions (id),
    note TEXT NOT NULL,
    key_id BIGINT REFERENCES api_keys (id),
    created_at TEXT NOT NULL
);

-- The decisions in force for a screening's supplier when it was screened (JSON array of
-- ids), so that a reproduction applies the same ones.
ALTER TABLE screenings ADD COLUMN decision_ids TEXT NOT NULL DEFAULT '[]';

-- Monitoring jobs, leased like audit chunks: one per load that changed watchlist
-- entries, licence-register entries or agencies (created in the load's transaction), and
-- one per day for licence expiry. `job_key` makes each exactly one row.
CREATE TABLE monitor_jobs (
    id INTEGER PRIMARY KEY,
    -- load:ID or expiry:YYYY-MM-DD.
    job_key TEXT NOT NULL UNIQUE,
    -- watchlist_changes, licence_changes or licence_expiry.
    kind TEXT NOT NULL,
    dataset_id BIGINT REFERENCES datasets (id),
    -- The store version the index must reflect before the job runs (the load's version).
    min_version BIGINT NOT NULL,
    -- The day a licence_expiry job checks (the database's date).
    day TEXT,
    -- pending, running, done or failed.
    status TEXT NOT NULL,
    worker TEXT,
    lease_until TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    -- The index version the job screened against, how many listed entries or agencies
    -- it examined and how many alerts it raised.
    index_version BIGINT,
    n_examined BIGINT NOT NULL DEFAULT 0,
    n_alerts BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX monitor_jobs_status_idx ON monitor_jobs (status, id);

-- What monitoring last saw of each match between a monitored supplier or agency and a
-- listed entity, to tell a new match from a changed one.
CREATE TABLE monitored_matches (
    subject_kind TEXT NOT NULL,
    subject_source TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    source TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    -- The listed entity as last seen (JSON, as decisions.entity).
    entity TEXT NOT NULL,
    -- The false-positive decision whose reopening was already raised, if any.
    reopened_decision_id BIGINT REFERENCES decisions (id),
    job_id BIGINT NOT NULL REFERENCES monitor_jobs (id),
    PRIMARY KEY (subject_kind, subject_source, subject_id, source, entity_id)
);
CREATE INDEX monitored_matches_entity_idx ON monitored_matches (source, entity_id);

-- Each agency's licence status as monitoring last saw it (NULL: unknown).
CREATE TABLE licence_states (
    agency_id TEXT PRIMARY KEY,
    licence_status TEXT,
    job_id BIGINT NOT NULL REFERENCES monitor_jobs (id)
);

-- Alerts, raised by monitoring jobs; the job's done mark, its alerts and their webhook
-- deliveries commit together, so each is raised once.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES monitor_jobs (id),
    -- new_match, changed_match, reopened or licence_lost.
    kind TEXT NOT NULL,
    -- open or closed.
    status TEXT NOT NULL,
    -- The monitored supplier or agency it concerns.
    subject_kind TEXT NOT NULL,
    subject_source TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    -- The agency a licence_lost alert is about (for a supplier: the one it recruits through).
    agency_id TEXT,
    -- The listed entity (or, for licence_lost, the agency record): source and id.
    source TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    dataset_id BIGINT REFERENCES datasets (id),
    index_version BIGINT,
    -- JSON: the match with its explanation, the fields that changed, the decision, the licence.
    details TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by BIGINT REFERENCES api_keys (id),
    close_note TEXT,
    decision_id BIGINT REFERENCES decisions (id),
    UNIQUE (job_id, kind, subject_kind, subject_source, subject_id, source, entity_id)
);
CREATE INDEX alerts_status_idx ON alerts (status, id);
CREATE INDEX alerts_subject_idx ON alerts (subject_id);

-- Receivers of alerts (`cadena webhooks add`). The secret signs each body (HMAC-SHA256).
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    -- JSON array of alert kinds; empty for every kind.
    kinds TEXT NOT NULL DEFAULT '[]',
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    removed_at TEXT
);

-- One alert to one webhook: a job leased to one worker per try, retried with backoff.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    alert_id BIGINT NOT NULL REFERENCES alerts (id),
    -- pending, sending, delivered or failed (gave up; `cadena webhooks retry` requeues).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    worker TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (webhook_id, alert_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);

-- Every attempt at a delivery, whatever came of it: the delivery log.
CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    attempt BIGINT NOT NULL,
    worker TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    -- The receiver's HTTP status, or the error when there was no answer.
    http_status BIGINT,
    error TEXT,
    UNIQUE (delivery_id, attempt)
);

-- Monitoring reads what each licence-register load changed.
CREATE INDEX licences_dataset_idx ON licences (dataset_id);
