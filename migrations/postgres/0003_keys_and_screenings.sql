-- PostgreSQL version of migrations/sqlite/0003_keys_and_screenings.sql; keep the two in step.
-- API keys and the audit trail of screenings (the screening service).

-- One row per API key. Only the key's SHA-256 is kept; the key itself is shown once,
-- when created. A revoked key stays, so that the screenings it made still name it.
CREATE TABLE api_keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    -- officer, inspector, auditor or admin.
    role TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Every screening made through the service: what was asked, what was answered, by
-- which key, and against which dataset version and ruleset digest.
CREATE TABLE screenings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- supplier or procurement.
    kind TEXT NOT NULL,
    input TEXT NOT NULL,
    result TEXT NOT NULL,
    key_id BIGINT REFERENCES api_keys (id),
    created_at TEXT NOT NULL,
    dataset_version BIGINT NOT NULL,
    ruleset_digest TEXT NOT NULL
);
