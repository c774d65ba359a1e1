-- How many times each staff KPI's record was written. Assignment's news carries it with the
-- KPI's scoring parameters, so the journal keeps the newest terms whatever order the news
-- arrives in: a record corrected after an out-of-order lifecycle event is announced with a
-- higher revision than the assignment it corrects. Rows written before count as written once.
ALTER TABLE hr.staff_kpis
    ADD COLUMN revision bigint NOT NULL DEFAULT 1 CHECK (revision >= 1);
