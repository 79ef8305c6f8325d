-- The supplier's labour profile, which the risk rules read (OAS WP3 ¶34, ¶36, ¶38, ¶39).
-- Every column is NULL when not known; the rules report that as a data gap.
-- Booleans are 1 yes, 0 no (an integer on both backends, for sqlx's Any driver);
-- percentages are 0–100.
ALTER TABLE suppliers ADD COLUMN charges_worker_fees INTEGER;
ALTER TABLE suppliers ADD COLUMN retains_identity_documents INTEGER;
ALTER TABLE suppliers ADD COLUMN migrant_workers_pct REAL;
ALTER TABLE suppliers ADD COLUMN agency_workers_pct REAL;
ALTER TABLE suppliers ADD COLUMN subcontracting_depth REAL;
ALTER TABLE suppliers ADD COLUMN has_code_of_conduct INTEGER;
ALTER TABLE suppliers ADD COLUMN has_grievance_mechanism INTEGER;
ALTER TABLE suppliers ADD COLUMN public_official_linked INTEGER;
ALTER TABLE suppliers ADD COLUMN forced_labour_finding INTEGER;
ALTER TABLE suppliers ADD COLUMN credible_social_audit INTEGER;
ALTER TABLE suppliers ADD COLUMN certified_recruiter INTEGER;
