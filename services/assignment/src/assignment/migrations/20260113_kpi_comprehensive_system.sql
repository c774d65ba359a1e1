-- Assignment's part of the KPI system: hr.staff_kpis (each person's KPIs), the service's own
-- replica of the catalogue (fed by catalog events; never the catalog's tables, which may live in
-- another database) and each person's lifecycle record (for out-of-order convergence).
CREATE SCHEMA IF NOT EXISTS hr;

-- The enum types are shared with the catalog when both use one database: create them only once.
DO $$ BEGIN
    CREATE TYPE hr.kpi_category AS ENUM ('culture', 'productivity', 'communication', 'safety',
        'care_quality', 'financial', 'leadership', 'compliance', 'operational');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

DO $$ BEGIN
    CREATE TYPE hr.kpi_role_group AS ENUM ('support_worker', 'senior_support_worker',
        'team_leader', 'registered_nurse', 'enrolled_nurse', 'allied_health',
        'support_coordinator', 'rostering', 'administration', 'finance', 'human_resources',
        'quality_compliance', 'management', 'executive', 'volunteer');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

DO $$ BEGIN
    CREATE TYPE hr.kpi_frequency AS ENUM ('weekly', 'fortnightly', 'monthly', 'quarterly',
        'annually');
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- ------------------------------------------------------------------ the catalogue replica

-- Copy of the catalog's KPI modules; a row is replaced only by a newer version.
CREATE TABLE hr.assignment_modules (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL,
    slug                 text NOT NULL,
    category             hr.kpi_category NOT NULL,
    role_group           hr.kpi_role_group,
    is_universal         boolean NOT NULL,
    objective            text NOT NULL,
    measurement_method   text NOT NULL,
    data_sources         text[] NOT NULL,
    automation_status    text NOT NULL,
    score_type           text NOT NULL,
    target_score         numeric NOT NULL,
    minimum_score        numeric NOT NULL,
    effort_weight        numeric NOT NULL,
    evaluation_frequency hr.kpi_frequency NOT NULL,
    coaching_tips        text[] NOT NULL,
    is_default_for_role  boolean NOT NULL,
    is_seed              boolean NOT NULL,
    display_order        integer NOT NULL,
    is_archived          boolean NOT NULL,
    version              integer NOT NULL,
    replicated_at        timestamptz NOT NULL DEFAULT now()
);

-- The defaults of a role group (and the universal ones) are read on every ContractCreated.
CREATE INDEX assignment_modules_defaults_idx ON hr.assignment_modules (role_group, display_order)
    WHERE is_default_for_role AND NOT is_archived;

-- Copy of each template's KPI set, by version; a template's rows are replaced only by a newer one.
CREATE TABLE hr.assignment_templates (
    template_id   uuid PRIMARY KEY,
    version       integer NOT NULL,
    replicated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hr.assignment_template_kpis (
    template_id   uuid NOT NULL REFERENCES hr.assignment_templates (template_id),
    kpi_module_id uuid NOT NULL,
    weight        numeric NOT NULL,
    is_required   boolean NOT NULL,
    custom_target numeric,
    position      integer NOT NULL,
    PRIMARY KEY (template_id, kpi_module_id)
);

-- ------------------------------------------------------------------ staff KPIs

-- Individual KPI assignments: the live, per-person performance records. KPIs attach to the
-- person (staff_id); the contract that triggered an assignment is kept for the record only.
CREATE TABLE hr.staff_kpis (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_id             uuid NOT NULL,
    contract_id          uuid,
    kpi_module_id        uuid NOT NULL REFERENCES hr.assignment_modules (id),
    status               text NOT NULL DEFAULT 'active',
    source               text NOT NULL CHECK (source IN ('template', 'manual')),
    is_required          boolean NOT NULL DEFAULT false,
    -- The template's (or manual assignment's) custom target, when one was given.
    custom_target        numeric,
    -- Scoring parameters fixed when the KPI was (re)assigned: what the journal scores against.
    target_score         numeric NOT NULL,
    minimum_score        numeric NOT NULL,
    effort_weight        numeric NOT NULL,
    current_score        numeric,
    current_effort_score numeric,
    previous_score       numeric,
    score_trend          text CHECK (score_trend IN ('up', 'down', 'steady')),
    trend_percentage     numeric,
    growth_status        text CHECK (growth_status IN ('exceeding', 'meeting', 'growing')),
    last_evaluated_at    timestamptz,
    next_evaluation_due  timestamptz,
    assigned_at          timestamptz NOT NULL DEFAULT now(),
    -- The journal's ScoreRecomputed sequence last applied: older ones are ignored.
    score_sequence       bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX staff_kpis_staff_idx ON hr.staff_kpis (staff_id, kpi_module_id);

-- ------------------------------------------------------------------ each person's lifecycle record

-- Every step that changed a person's KPIs (lifecycle events and manual actions), resolved
-- against the catalogue when it arrived. Replaying a person's steps in occurred_at order gives
-- the state that in-order delivery gives, whatever order the events arrived in.
CREATE TABLE hr.assignment_steps (
    seq         bigserial PRIMARY KEY,
    step_id     uuid NOT NULL UNIQUE,
    staff_id    uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    cause       text NOT NULL,
    step        jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX assignment_steps_person_idx ON hr.assignment_steps (staff_id, occurred_at, seq);
