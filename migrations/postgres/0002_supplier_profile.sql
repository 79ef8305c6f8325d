-- PostgreSQL version of migrations/sqlite/0002_supplier_profile.sql; keep the two in step.
-- The supplier's labour profile, which the risk rules read (OAS WP3 ¶34, ¶36, ¶38, ¶39).
-- Every column is NULL when not known; the rules report that as a data gap.
-- Booleans are 1 yes, 0 no (an integer on both backends, for sqlx's Any driver);
-- percentages are 0–100.
ALTER TABLE suppliers ADD COLUMN charges_worker_fees BIGINT;
ALTER TABLE suppliers ADD COLUMN retains_identity_documents BIGINT;
ALTER TABLE suppliers ADD COLUMN migrant_workers_pct DOUBLE PRECISION;
ALTER TABLE suppliers ADD COLUMN agency_workers_pct DOUBLE PRECISION;
ALTER TABLE suppliers ADD COLUMN subcontracting_depth DOUBLE PRECISION;
ALTER TABLE suppliers ADD COLUMN has_code_of_conduct BIGINT;
ALTER TABLE suppliers ADD COLUMN has_grievance_mechanism BIGINT;
ALTER TABLE suppliers ADD COLUMN public_official_linked BIGINT;
ALTER TABLE suppliers ADD COLUMN forced_labour_finding BIGINT;
ALTER TABLE suppliers ADD COLUMN credible_social_audit BIGINT;
ALTER TABLE suppliers ADD COLUMN certified_recruiter BIGINT;
