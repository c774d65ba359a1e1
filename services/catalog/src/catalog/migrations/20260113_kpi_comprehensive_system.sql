-- Catalog's part of the KPI system: enum types, the KPI module library and template KPIs.
CREATE SCHEMA IF NOT EXISTS hr;

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

CREATE TABLE hr.kpi_modules (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text NOT NULL CHECK (length(trim(name)) > 0),
    slug                 text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    category             hr.kpi_category NOT NULL,
    -- NULL exactly for the universal KPIs, which apply to every role group.
    role_group           hr.kpi_role_group,
    is_universal         boolean NOT NULL DEFAULT false,
    objective            text NOT NULL,
    measurement_method   text NOT NULL,
    data_sources         text[] NOT NULL DEFAULT '{}',
    automation_status    text NOT NULL DEFAULT 'manual'
                         CHECK (automation_status IN ('manual', 'assisted', 'automated')),
    score_type           text NOT NULL DEFAULT 'percentage'
                         CHECK (score_type IN ('percentage', 'rating')),
    target_score         numeric NOT NULL,
    minimum_score        numeric NOT NULL,
    effort_weight        numeric NOT NULL CHECK (effort_weight BETWEEN 0.15 AND 0.30),
    evaluation_frequency hr.kpi_frequency NOT NULL DEFAULT 'monthly',
    coaching_tips        text[] NOT NULL DEFAULT '{}',
    is_default_for_role  boolean NOT NULL DEFAULT false,
    is_seed              boolean NOT NULL DEFAULT false,
    display_order        integer NOT NULL DEFAULT 0,
    is_archived          boolean NOT NULL DEFAULT false,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT kpi_modules_minimum_within_target CHECK (minimum_score <= target_score),
    CONSTRAINT kpi_modules_universal_has_no_role CHECK (is_universal = (role_group IS NULL)),
    CONSTRAINT kpi_modules_scores_on_scale CHECK (
        (score_type = 'percentage' AND minimum_score >= 0 AND target_score <= 100)
        OR (score_type = 'rating' AND minimum_score >= 1 AND target_score <= 5))
);

CREATE INDEX kpi_modules_role_group_idx ON hr.kpi_modules (role_group, display_order);
CREATE INDEX kpi_modules_display_order_idx ON hr.kpi_modules (display_order, name);

CREATE TABLE hr.template_kpis (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The contract template lives in the contract system: a reference, not a local FK.
    template_id   uuid NOT NULL,
    kpi_module_id uuid NOT NULL REFERENCES hr.kpi_modules (id),
    weight        numeric NOT NULL CHECK (weight > 0),
    is_required   boolean NOT NULL DEFAULT false,
    custom_target numeric,
    position      integer NOT NULL DEFAULT 0,
    CONSTRAINT template_kpis_module_once UNIQUE (template_id, kpi_module_id)
);

-- One row per template: the version grows with every replace so replicas apply newest only.
CREATE TABLE hr.template_versions (
    template_id uuid PRIMARY KEY,
    version     integer NOT NULL,
    replaced_at timestamptz NOT NULL DEFAULT now(),
    replaced_by text
);
