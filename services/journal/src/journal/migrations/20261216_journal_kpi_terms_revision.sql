-- The revision of the scoring parameters (terms) a staff KPI's row holds, as assignment counts
-- its record's writes: news with a higher revision replaces the terms, older news does not.
-- 0 for rows written from news sent before assignment counted revisions.
ALTER TABLE hr.journal_kpis
    ADD COLUMN terms_revision bigint NOT NULL DEFAULT 0 CHECK (terms_revision >= 0);
