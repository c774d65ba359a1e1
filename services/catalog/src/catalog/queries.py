"""Every SQL statement of the catalog service."""

MODULE_COLUMNS = """
    id, name, slug, category::text AS category, role_group::text AS role_group, is_universal,
    objective, measurement_method, data_sources, automation_status, score_type, target_score,
    minimum_score, effort_weight, evaluation_frequency::text AS evaluation_frequency,
    coaching_tips, is_default_for_role, is_seed, display_order, is_archived, version,
    created_at, updated_at
"""

LIST_MODULES = f"""
SELECT {MODULE_COLUMNS}
FROM hr.kpi_modules
WHERE ($1::hr.kpi_role_group IS NULL OR role_group = $1::hr.kpi_role_group OR is_universal)
  AND ($2::hr.kpi_category IS NULL OR category = $2::hr.kpi_category)
  AND ($3::text IS NULL OR name ILIKE $3)
  AND ($4 OR NOT is_archived)
  AND ($5::text IS NULL OR name ILIKE $5 OR objective ILIKE $5)
ORDER BY display_order, name
"""

GET_MODULE = f"SELECT {MODULE_COLUMNS} FROM hr.kpi_modules WHERE id = $1"

ALL_MODULES = f"SELECT {MODULE_COLUMNS} FROM hr.kpi_modules ORDER BY display_order, name"

# FOR SHARE: a module's scale and minimum cannot change while a template's targets are checked
# against them (update_module checks the templates' targets in turn, under FOR UPDATE).
MODULE_SCALES = """
SELECT id, score_type, minimum_score FROM hr.kpi_modules WHERE id = ANY($1::uuid[])
ORDER BY id FOR SHARE
"""

TEMPLATE_TARGETS = """
SELECT DISTINCT custom_target FROM hr.template_kpis
WHERE kpi_module_id = $1 AND custom_target IS NOT NULL
"""

INSERT_MODULE = f"""
INSERT INTO hr.kpi_modules (
    name, slug, category, role_group, is_universal, objective, measurement_method, data_sources,
    automation_status, score_type, target_score, minimum_score, effort_weight,
    evaluation_frequency, coaching_tips, is_default_for_role, is_seed, display_order, is_archived)
VALUES ($1, $2, $3::hr.kpi_category, $4::hr.kpi_role_group, $5, $6, $7, $8, $9, $10, $11, $12,
        $13, $14::hr.kpi_frequency, $15, $16, $17, $18, $19)
RETURNING {MODULE_COLUMNS}
"""

LOCK_MODULE = f"SELECT {MODULE_COLUMNS} FROM hr.kpi_modules WHERE id = $1 FOR UPDATE"

# The parameters of INSERT_MODULE, then the id. $2 is the slug the row has: an edit cannot change
# it (slugs are stable), and writing it back lets both statements take one parameter list.
UPDATE_MODULE = f"""
UPDATE hr.kpi_modules SET
    name = $1, slug = $2, category = $3::hr.kpi_category, role_group = $4::hr.kpi_role_group,
    is_universal = $5, objective = $6, measurement_method = $7, data_sources = $8,
    automation_status = $9, score_type = $10, target_score = $11, minimum_score = $12,
    effort_weight = $13, evaluation_frequency = $14::hr.kpi_frequency, coaching_tips = $15,
    is_default_for_role = $16, is_seed = $17, display_order = $18, is_archived = $19,
    version = version + 1, updated_at = now()
WHERE id = $20
RETURNING {MODULE_COLUMNS}
"""

TEMPLATE_KPIS = f"""
SELECT t.id AS template_kpi_id, t.template_id, t.weight, t.is_required, t.custom_target, m.*
FROM hr.template_kpis t
CROSS JOIN LATERAL (SELECT {MODULE_COLUMNS} FROM hr.kpi_modules WHERE id = t.kpi_module_id) m
WHERE t.template_id = $1
ORDER BY t.position
"""

LOCK_TEMPLATE = "SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 0))"

DELETE_TEMPLATE_KPIS = "DELETE FROM hr.template_kpis WHERE template_id = $1"

INSERT_TEMPLATE_KPI = """
INSERT INTO hr.template_kpis (template_id, kpi_module_id, weight, is_required, custom_target,
                              position)
VALUES ($1, $2, $3, $4, $5, $6)
"""

BUMP_TEMPLATE_VERSION = """
INSERT INTO hr.template_versions (template_id, version, replaced_by) VALUES ($1, 1, $2)
ON CONFLICT (template_id) DO UPDATE
    SET version = hr.template_versions.version + 1, replaced_at = now(),
        replaced_by = EXCLUDED.replaced_by
RETURNING version
"""

ALL_TEMPLATES = """
SELECT v.template_id, v.version,
       coalesce(array_agg(t.kpi_module_id ORDER BY t.position)
                FILTER (WHERE t.kpi_module_id IS NOT NULL), '{}') AS module_ids,
       coalesce(array_agg(t.weight ORDER BY t.position)
                FILTER (WHERE t.kpi_module_id IS NOT NULL), '{}') AS weights,
       coalesce(array_agg(t.is_required ORDER BY t.position)
                FILTER (WHERE t.kpi_module_id IS NOT NULL), '{}') AS required,
       coalesce(array_agg(t.custom_target ORDER BY t.position)
                FILTER (WHERE t.kpi_module_id IS NOT NULL), '{}') AS targets
FROM hr.template_versions v LEFT JOIN hr.template_kpis t ON t.template_id = v.template_id
GROUP BY v.template_id, v.version
"""
