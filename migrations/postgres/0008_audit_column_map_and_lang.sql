-- PostgreSQL version of migrations/sqlite/0008_audit_column_map_and_lang.sql; keep the two in step.
-- A batch audit's column map: the `COLUMN=FIELD` entries its upload gave (as `cadena
-- screen --map` takes them), as a JSON array of strings; NULL for none. Every worker
-- that screens a chunk of the audit reads its file with them.
ALTER TABLE audits ADD COLUMN column_map TEXT;
-- The language of its report's texts (es, pt, en); NULL for English.
ALTER TABLE audits ADD COLUMN lang TEXT;
