-- API keys hashed with Argon2id instead of plain SHA-256.
--
-- `key_lookup` finds a key's row without revealing it: for keys made since this
-- migration it is `v2:` and the first 16 hex digits of the key (a public id), and the
-- secret is checked against `key_hash`, an Argon2id PHC string. Older keys keep the
-- SHA-256 of the whole key here, with no `key_hash`, until their first use upgrades them.
ALTER TABLE api_keys RENAME COLUMN key_sha256 TO key_lookup;
ALTER TABLE api_keys ADD COLUMN key_hash TEXT;
