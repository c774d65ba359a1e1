-- Active/inactive status management: KPIs are never deleted, only deactivated, and each
-- deactivation records when and why.
ALTER TABLE hr.staff_kpis
    ADD COLUMN deactivated_at      timestamptz,
    ADD COLUMN deactivation_reason text,
    ADD CONSTRAINT staff_kpis_status_known CHECK (status IN ('active', 'inactive')),
    ADD CONSTRAINT staff_kpis_inactive_records_when
        CHECK ((status = 'inactive') = (deactivated_at IS NOT NULL));

-- A person holds a module at most once at a time.
CREATE UNIQUE INDEX staff_kpis_one_active_per_module
    ON hr.staff_kpis (staff_id, kpi_module_id) WHERE status = 'active';

-- GET /hr/evaluations/due reads active KPIs by due date.
CREATE INDEX staff_kpis_due_idx ON hr.staff_kpis (next_evaluation_due) WHERE status = 'active';

-- History is permanent: the database itself refuses to delete a staff KPI.
CREATE FUNCTION hr.staff_kpis_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'staff KPIs are never deleted; set status = ''inactive'' instead'
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER staff_kpis_never_deleted
    BEFORE DELETE ON hr.staff_kpis
    FOR EACH ROW EXECUTE FUNCTION hr.staff_kpis_refuse_delete();

CREATE TRIGGER staff_kpis_never_truncated
    BEFORE TRUNCATE ON hr.staff_kpis
    FOR EACH STATEMENT EXECUTE FUNCTION hr.staff_kpis_refuse_delete();
