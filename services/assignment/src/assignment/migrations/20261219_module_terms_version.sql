-- A module's terms (what the journal scores a staff KPI by: name, scale, target, minimum, effort
-- weight, frequency) reach the people who hold it when the catalogue changes them. The replica
-- remembers the version at which a module's terms last changed, and each staff KPI the version
-- whose terms it holds; an active KPI behind its module is brought up to date and announced
-- (records.bring_holders_up_to_date). An edit of anything else (tips, order, archiving) moves no
-- KPI.
ALTER TABLE hr.assignment_modules ADD COLUMN terms_version integer NOT NULL DEFAULT 0;
UPDATE hr.assignment_modules SET terms_version = version;

ALTER TABLE hr.staff_kpis ADD COLUMN module_terms_version bigint NOT NULL DEFAULT 0;
-- Rows already holding their module's terms are up to date; the others (held since an edit made
-- before this migration) are brought up to date when the worker starts.
UPDATE hr.staff_kpis k SET module_terms_version = m.terms_version
FROM hr.assignment_modules m
WHERE m.id = k.kpi_module_id
  AND k.minimum_score = m.minimum_score AND k.effort_weight = m.effort_weight
  AND k.target_score = coalesce(k.custom_target, m.target_score);

CREATE INDEX staff_kpis_behind_module_idx ON hr.staff_kpis (kpi_module_id, module_terms_version)
    WHERE status = 'active';
