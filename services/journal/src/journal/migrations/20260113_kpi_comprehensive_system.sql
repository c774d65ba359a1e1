-- Journal's part of the KPI system: the Living Journal (append-only, enforced here), the
-- service's copy of each staff KPI's scoring parameters with its current scores, and the
-- database role the service runs as.
CREATE SCHEMA IF NOT EXISTS hr;

-- Services may share one database: create shared names only when they are missing.
DO $$ BEGIN
    CREATE TYPE hr.journal_entry_type AS ENUM ('observation', 'coaching_session',
        'catch_up_note', 'incident_link', 'score_update', 'score_adjustment',
        'effort_recognition', 'self_reflection', 'peer_feedback', 'goal_setting', 'milestone',
        'training_completed', 'status_change', 'approval_requested', 'approval_granted',
        'approval_declined');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- One row per staff KPI the journal has heard of (from assignment events): how it is scored,
-- whether it is active, and its current scores. Appending an entry locks this row, so the
-- entries of one KPI form a chain and recomputing costs the same however long the history.
CREATE TABLE hr.journal_kpis (
    staff_kpi_id         uuid PRIMARY KEY,
    staff_id             uuid NOT NULL,
    kpi_module_id        uuid NOT NULL,
    module_name          text NOT NULL,
    contract_id          uuid,
    source               text NOT NULL CHECK (source IN ('template', 'manual')),
    is_required          boolean NOT NULL DEFAULT false,
    score_type           text NOT NULL CHECK (score_type IN ('percentage', 'rating')),
    target_score         numeric NOT NULL,
    minimum_score        numeric NOT NULL,
    effort_weight        numeric NOT NULL CHECK (effort_weight BETWEEN 0 AND 1),
    evaluation_frequency text NOT NULL
                         CHECK (evaluation_frequency IN ('weekly', 'fortnightly', 'monthly',
                                                         'quarterly', 'annually')),
    status               text NOT NULL CHECK (status IN ('active', 'inactive')),
    assigned_at          timestamptz NOT NULL,
    -- When the status (and parameters) last changed at the source: older news is not applied.
    status_changed_at    timestamptz NOT NULL,
    outcome_score        numeric,
    effort_score         numeric,
    current_score        numeric,
    previous_score       numeric,
    score_trend          text CHECK (score_trend IN ('up', 'down', 'steady')),
    trend_percentage     numeric,
    growth_status        text CHECK (growth_status IN ('exceeding', 'meeting', 'growing')),
    last_evaluated_at    timestamptz,
    next_evaluation_due  timestamptz,
    -- The sequence number of this KPI's latest entry (0 before the first).
    sequence             bigint NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX journal_kpis_staff_idx ON hr.journal_kpis (staff_id);

CREATE TABLE hr.kpi_journal_entries (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_kpi_id        uuid NOT NULL REFERENCES hr.journal_kpis (staff_kpi_id),
    staff_id            uuid NOT NULL,
    -- 1, 2, 3... per staff KPI, in the order the entries were applied to its scores.
    sequence            bigint NOT NULL CHECK (sequence > 0),
    entry_type          hr.journal_entry_type NOT NULL,
    title               text NOT NULL CHECK (length(trim(title)) > 0),
    content             text NOT NULL DEFAULT '',
    -- What the entry asked of the scores: a new outcome score (score_update), a delta
    -- (score_adjustment), a new effort score (effort_recognition).
    score               numeric,
    score_impact        numeric,
    effort_score        numeric,
    -- The composite before and after the entry (equal when it changed nothing).
    score_before        numeric,
    score_after         numeric,
    effort_recognized   boolean NOT NULL DEFAULT false,
    effort_notes        text,
    is_visible_to_staff boolean NOT NULL DEFAULT true,
    is_pending_approval boolean NOT NULL DEFAULT false,
    linked_catchup_id   uuid,
    linked_incident_id  uuid,
    related_entry_id    uuid REFERENCES hr.kpi_journal_entries (id),
    -- The token's subject (§2: a string); NULL for entries the service writes from events.
    created_by          text,
    -- The assignment event a status_change entry records: the guard against writing it twice.
    source_event_id     uuid,
    -- When it happened: the time of writing, or for a status_change the time assignment
    -- reports, so that a person's story reads in order even when events arrive out of order.
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT kpi_journal_entries_sequence_once UNIQUE (staff_kpi_id, sequence),
    CONSTRAINT kpi_journal_entries_decision_refers
        CHECK (entry_type NOT IN ('approval_granted', 'approval_declined')
               OR related_entry_id IS NOT NULL)
);

-- Newest-first pages of a person's and of a KPI's journal (keyset on created_at, id).
CREATE INDEX kpi_journal_entries_staff_idx
    ON hr.kpi_journal_entries (staff_id, created_at DESC, id DESC);
CREATE INDEX kpi_journal_entries_kpi_idx
    ON hr.kpi_journal_entries (staff_kpi_id, created_at DESC, id DESC);
-- One decision per pending entry, whatever the races.
CREATE UNIQUE INDEX kpi_journal_entries_one_decision
    ON hr.kpi_journal_entries (related_entry_id)
    WHERE entry_type IN ('approval_granted', 'approval_declined');
-- One status_change entry per staff KPI per assignment event, whatever the redeliveries.
CREATE UNIQUE INDEX kpi_journal_entries_event_once
    ON hr.kpi_journal_entries (staff_kpi_id, source_event_id)
    WHERE source_event_id IS NOT NULL;

-- Append-only: history is corrected by a new entry, never by rewriting an old one.
CREATE OR REPLACE FUNCTION hr.kpi_journal_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hr.kpi_journal_entries is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Append a new entry (an adjustment, or an approval decision) instead.';
END $$;

CREATE TRIGGER kpi_journal_entries_no_update_or_delete
    BEFORE UPDATE OR DELETE ON hr.kpi_journal_entries
    FOR EACH ROW EXECUTE FUNCTION hr.kpi_journal_entries_append_only();
CREATE TRIGGER kpi_journal_entries_no_truncate
    BEFORE TRUNCATE ON hr.kpi_journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION hr.kpi_journal_entries_append_only();

-- The role the service's connections assume (SET ROLE; see services/journal/README.md): it may
-- read and append entries, never change or remove them. Roles belong to the whole server, so
-- another database of the same server may have created it already; a migrating login without
-- CREATEROLE leaves it to the DBA.
DO $$ BEGIN
    CREATE ROLE kpi_journal_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot create role kpi_journal_app here: create it as described in the '
                     'journal README, or set JOURNAL_DB_ROLE to an existing role (or to empty)';
END $$;

DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kpi_journal_app') THEN
        GRANT USAGE ON SCHEMA hr TO kpi_journal_app;
        GRANT SELECT, INSERT ON hr.kpi_journal_entries TO kpi_journal_app;
        GRANT SELECT, INSERT, UPDATE ON hr.journal_kpis TO kpi_journal_app;
        -- The relay locks the rows it publishes (FOR UPDATE), which needs UPDATE.
        GRANT SELECT, INSERT, UPDATE, DELETE ON hr.journal_outbox TO kpi_journal_app;
        GRANT USAGE ON SEQUENCE hr.journal_outbox_id_seq TO kpi_journal_app;
        GRANT SELECT, INSERT ON hr.journal_inbox TO kpi_journal_app;
    END IF;
END $$;

-- A login that is not a superuser must be a member of the role to SET ROLE to it.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kpi_journal_app')
       AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT kpi_journal_app TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot grant kpi_journal_app to %: ask the DBA (see the journal README)',
        current_user;
END $$;
