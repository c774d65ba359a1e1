"""Every SQL statement of the assignment service."""

from assignment.domain import LIFECYCLE_EVENTS

# Every change to one person's KPIs holds this advisory lock (two-key form: its own lock space).
_PERSON_LOCK_SPACE = 1634954096


def _person_key(staff_id: str) -> str:
    return f"hashtext({staff_id}::uuid::text)"


# Every transaction that writes records from the replica's terms holds this lock shared, taken in
# a statement before the one that reads them (a statement reads from the moment it began, even
# after waiting for a lock). Before a module's holders are looked for, AWAIT_TERMS_READERS takes
# it alone for an instant: every record written from terms older than the module's is then
# committed and found, and every later writer reads the new terms.
TERMS_LOCK_SPACE = 1634954097
_TERMS_LOCK = f"{TERMS_LOCK_SPACE}, 0"

SHARE_TERMS = f"SELECT pg_advisory_xact_lock_shared({_TERMS_LOCK})"

# Run outside a transaction: the lock is released as soon as it is granted.
AWAIT_TERMS_READERS = f"SELECT pg_advisory_xact_lock({_TERMS_LOCK})"


# ---------------------------------------------------------------- the catalogue replica

UPSERT_MODULE = """
INSERT INTO hr.assignment_modules AS m (
    id, name, slug, category, role_group, is_universal, objective, measurement_method,
    data_sources, automation_status, score_type, target_score, minimum_score, effort_weight,
    evaluation_frequency, coaching_tips, is_default_for_role, is_seed, display_order, is_archived,
    version, terms_version)
VALUES ($1, $2, $3, $4::hr.kpi_category, $5::hr.kpi_role_group, $6, $7, $8, $9, $10, $11, $12,
        $13, $14, $15::hr.kpi_frequency, $16, $17, $18, $19, $20, $21, $21)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, slug = EXCLUDED.slug, category = EXCLUDED.category,
    role_group = EXCLUDED.role_group, is_universal = EXCLUDED.is_universal,
    objective = EXCLUDED.objective, measurement_method = EXCLUDED.measurement_method,
    data_sources = EXCLUDED.data_sources, automation_status = EXCLUDED.automation_status,
    score_type = EXCLUDED.score_type, target_score = EXCLUDED.target_score,
    minimum_score = EXCLUDED.minimum_score, effort_weight = EXCLUDED.effort_weight,
    evaluation_frequency = EXCLUDED.evaluation_frequency, coaching_tips = EXCLUDED.coaching_tips,
    is_default_for_role = EXCLUDED.is_default_for_role, is_seed = EXCLUDED.is_seed,
    display_order = EXCLUDED.display_order, is_archived = EXCLUDED.is_archived,
    version = EXCLUDED.version, replicated_at = now(),
    terms_version = CASE
        WHEN (m.name, m.score_type, m.target_score, m.minimum_score, m.effort_weight,
              m.evaluation_frequency)
             IS DISTINCT FROM
             (EXCLUDED.name, EXCLUDED.score_type, EXCLUDED.target_score, EXCLUDED.minimum_score,
              EXCLUDED.effort_weight, EXCLUDED.evaluation_frequency)
        THEN EXCLUDED.version
        ELSE m.terms_version
    END
WHERE m.version < EXCLUDED.version
RETURNING terms_version = version AS new_terms
"""

# Takes the template's row lock, so two replaces of one template apply one after the other.
ADVANCE_TEMPLATE = """
INSERT INTO hr.assignment_templates AS t (template_id, version) VALUES ($1, $2)
ON CONFLICT (template_id) DO UPDATE SET version = EXCLUDED.version, replicated_at = now()
WHERE t.version < EXCLUDED.version
RETURNING true
"""

CLEAR_TEMPLATE_KPIS = "DELETE FROM hr.assignment_template_kpis WHERE template_id = $1"

INSERT_TEMPLATE_KPIS = """
INSERT INTO hr.assignment_template_kpis (template_id, kpi_module_id, weight, is_required,
                                         custom_target, position)
SELECT $1, r.kpi_module_id, r.weight, r.is_required, r.custom_target, r.position
FROM unnest($2::uuid[], $3::float8[], $4::bool[], $5::float8[], $6::int[])
     AS r(kpi_module_id, weight, is_required, custom_target, position)
"""

REPLICA_HAS_MODULES = "SELECT EXISTS (SELECT 1 FROM hr.assignment_modules)"

# Whether the replica holds modules and nothing was written to it for a while: a snapshot being
# applied writes continuously, and replays of versions it already has write nothing.
REPLICA_SETTLED = """
SELECT EXISTS (SELECT 1 FROM hr.assignment_modules)
   AND clock_timestamp() - greatest(
           (SELECT max(replicated_at) FROM hr.assignment_modules),
           (SELECT max(replicated_at) FROM hr.assignment_templates)
       ) > make_interval(secs => $1)
"""

# Changes whenever the replica does: a module or template is only ever added, or replaced by a
# higher version (a template's KPIs with it), so the counts and version sums never repeat.
REPLICA_STAMP = """
SELECT (SELECT count(*) || '.' || coalesce(sum(version), 0) FROM hr.assignment_modules)
       || '/' || (SELECT count(*) || '.' || coalesce(sum(version), 0) FROM hr.assignment_templates)
"""

# What the rules and the scoring parameters need of a module.
_MODULE_FACTS = """
    id, role_group::text AS role_group, is_universal, is_default_for_role, display_order,
    is_archived, name, score_type, target_score, minimum_score, effort_weight,
    evaluation_frequency::text AS evaluation_frequency, terms_version
"""


# A template's KPIs in the columns the lifecycle steps read (`module_id` may be unknown).
_TEMPLATE_KPIS = """
    SELECT template_id, kpi_module_id AS module_id, is_required AS template_required,
           custom_target::float8 AS template_target, position AS template_position
    FROM hr.assignment_template_kpis
"""

# The modules a lifecycle step may touch, each with its place in the template when it has one:
# those of the role groups involved, the universal ones, the template's and the ones named in the
# event. A template KPI whose module the replica does not know comes back with `known` false.
_MODULES_FOR_STEP = f"""
    template AS ({_TEMPLATE_KPIS} WHERE template_id = $5),
    modules AS (
        SELECT {_MODULE_FACTS}
        FROM hr.assignment_modules
        WHERE role_group = ANY($3::hr.kpi_role_group[]) OR role_group IS NULL
           OR id = ANY($4::uuid[])
           OR id IN (SELECT module_id FROM template)
    ),
    catalog AS (
        SELECT coalesce(m.id, t.module_id) AS module_id, m.id IS NOT NULL AS known, m.*,
               t.template_id, t.template_position, t.template_required, t.template_target
        FROM modules m FULL JOIN template t ON t.module_id = m.id
    )
"""

# The start of applying a lifecycle event, in one round trip: take the person's lock, write the
# inbox row (hr.assignment_inbox is the kit's inbox table of this service) and read the modules
# the event may touch. `first_delivery` is false for a redelivery; it is on every row, and there
# is always at least one row. The person's records must be read by a later statement, whose
# snapshot is taken once the lock is held. The caller holds SHARE_TERMS already.
BEGIN_LIFECYCLE_EVENT = f"""
WITH locked AS (SELECT pg_advisory_xact_lock({_PERSON_LOCK_SPACE}, {_person_key("$1")})),
     inbox AS (
         INSERT INTO hr.assignment_inbox (consumer, event_id)
         SELECT $6, $2 FROM locked
         ON CONFLICT DO NOTHING
         RETURNING true
     ),
     delivery AS (SELECT EXISTS (SELECT 1 FROM inbox) AS first_delivery),
{_MODULES_FOR_STEP}
SELECT d.first_delivery, c.*
FROM delivery d LEFT JOIN catalog c ON d.first_delivery
"""

# The people $1 locked in the order of the lock key, so that two takers never wait in a cycle.
LOCK_PEOPLE = f"""
    SELECT count(pg_advisory_xact_lock({_PERSON_LOCK_SPACE}, k.key)) AS people
    FROM (SELECT DISTINCT {_person_key("s")} AS key FROM unnest($1::uuid[]) AS s ORDER BY key) k
"""

# The start of applying a batch of lifecycle events ($1 their people, $2 their ids), in one round
# trip: take every person's lock in the order of the lock key (two batches applied at once never
# wait on each other in a cycle), then write the inbox rows. Returns the events delivered for the
# first time, each with the replica's stamp (REPLICA_STAMP). As with one event, the people's
# records and steps are read by a later statement, and the caller holds SHARE_TERMS already.
BEGIN_LIFECYCLE_BATCH = f"""
WITH locked AS MATERIALIZED ({LOCK_PEOPLE}),
inbox AS (
    INSERT INTO hr.assignment_inbox (consumer, event_id)
    SELECT $3, e FROM locked, unnest($2::uuid[]) AS e
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT event_id, ({REPLICA_STAMP}) AS replica FROM inbox
"""

# Every module of the replica.
REPLICA_MODULES = f"SELECT {_MODULE_FACTS} FROM hr.assignment_modules"

# The KPIs of the templates $1.
TEMPLATE_KPIS = f"{_TEMPLATE_KPIS} WHERE template_id = ANY($1::uuid[])"

MODULES_BY_ID = f"SELECT {_MODULE_FACTS} FROM hr.assignment_modules WHERE id = ANY($1::uuid[])"

# ---------------------------------------------------------------- a person's steps and KPIs

# The person's lock, after the terms lock (SHARE_TERMS) for the module terms read later: a
# writer never waits for the terms lock while it holds a person's (AWAIT_TERMS_READERS waits in
# line with it, and so would every later taker of the terms lock).
LOCK_PERSON = f"""
WITH terms AS MATERIALIZED ({SHARE_TERMS})
SELECT pg_advisory_xact_lock({_PERSON_LOCK_SPACE}, {_person_key("$1")}) FROM terms
"""

_HELD_COLUMNS = """
    id, kpi_module_id, contract_id, status, source, is_required, custom_target, target_score,
    minimum_score, effort_weight, assigned_at, next_evaluation_due, last_evaluated_at,
    deactivated_at, deactivation_reason, revision, module_terms_version
"""
# Per module, the active record first, else the latest.
_HELD_ORDER = "kpi_module_id, status = 'active' DESC, assigned_at DESC, created_at DESC"

# The record per module a person holds: the active one, else the latest.
PERSON_RECORDS = f"""
SELECT DISTINCT ON (kpi_module_id) {_HELD_COLUMNS}
FROM hr.staff_kpis
WHERE staff_id = $1
ORDER BY {_HELD_ORDER}
"""

# Where a person's story stands (domain.StorySoFar): when their newest lifecycle event occurred,
# and the latest time any of their steps is dated.
_EVENT_CAUSES = ", ".join(sorted(f"'{cause.value}'" for cause in LIFECYCLE_EVENTS))
_STORY_SO_FAR = f"""
max(occurred_at) FILTER (WHERE cause IN ({_EVENT_CAUSES})) AS newest_event,
max(occurred_at) AS latest
"""

# What PERSON_RECORDS and RECORD_STEP read, for many people at once: each person's records and
# where their story stands (`newest_event` and `latest` on each of their rows; one empty row for
# a person with no records).
PEOPLE_RECORDS = f"""
WITH people AS (SELECT DISTINCT unnest($1::uuid[]) AS staff_id),
     story AS (
         SELECT staff_id, {_STORY_SO_FAR}
         FROM hr.assignment_steps
         WHERE staff_id = ANY($1::uuid[])
         GROUP BY staff_id
     ),
     held AS (
         SELECT DISTINCT ON (staff_id, kpi_module_id) staff_id, {_HELD_COLUMNS}
         FROM hr.staff_kpis
         WHERE staff_id = ANY($1::uuid[])
         ORDER BY staff_id, {_HELD_ORDER}
     )
SELECT p.staff_id AS person, s.newest_event, s.latest, h.*
FROM people p LEFT JOIN story s USING (staff_id) LEFT JOIN held h USING (staff_id)
"""

# Records a step and reads, in the same round trip, the person's records and where their story
# stood before it (`newest_event` and `latest` are on every row; a person with no records gets
# one empty row).
RECORD_STEP = f"""
WITH story AS (SELECT {_STORY_SO_FAR} FROM hr.assignment_steps WHERE staff_id = $1),
     recorded AS (
         INSERT INTO hr.assignment_steps (step_id, staff_id, occurred_at, cause, step)
         VALUES ($2, $1, $3, $4, $5::jsonb)
     )
SELECT s.newest_event, s.latest, k.*
FROM story s LEFT JOIN LATERAL ({PERSON_RECORDS}) k ON true
"""

# Up to $3 people holding module $1 actively on terms older than its terms version $2.
PEOPLE_BEHIND_MODULE = """
SELECT staff_id FROM hr.staff_kpis
WHERE kpi_module_id = $1 AND status = 'active' AND module_terms_version < $2
ORDER BY staff_id
LIMIT $3
"""

# The active records of module $1 behind its terms version $2 held by the people $3 (read once
# their locks are held), each with its staff_id.
RECORDS_BEHIND_MODULE = f"""
SELECT staff_id, {_HELD_COLUMNS}
FROM hr.staff_kpis
WHERE kpi_module_id = $1 AND status = 'active' AND module_terms_version < $2
  AND staff_id = ANY($3::uuid[])
"""

# Records moved to their module's terms ($1 ids; $2-$6 their terms, revision and terms version).
# Their due day is left alone: the journal moves it (to a new frequency) and tells it back.
MOVE_TO_MODULE_TERMS = """
UPDATE hr.staff_kpis k SET
    target_score = r.target_score, minimum_score = r.minimum_score,
    effort_weight = r.effort_weight, revision = r.revision,
    module_terms_version = r.module_terms_version, updated_at = now()
FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::float8[], $5::int8[], $6::int8[])
     AS r(id, target_score, minimum_score, effort_weight, revision, module_terms_version)
WHERE k.id = r.id
"""

# The modules some active staff KPI holds on terms older than the module's.
MODULES_AHEAD_OF_HOLDERS = """
SELECT m.id FROM hr.assignment_modules m
WHERE EXISTS (SELECT 1 FROM hr.staff_kpis k
              WHERE k.kpi_module_id = m.id AND k.status = 'active'
                AND k.module_terms_version < m.terms_version)
"""

PERSON_STEPS = "SELECT step::text FROM hr.assignment_steps WHERE staff_id = $1 ORDER BY seq"

# A record's columns as written, each with the type of its array parameter.
_RECORD_TYPES = {
    "staff_id": "uuid",
    "id": "uuid",
    "kpi_module_id": "uuid",
    "contract_id": "uuid",
    "status": "text",
    "source": "text",
    "is_required": "bool",
    "custom_target": "float8",
    "target_score": "float8",
    "minimum_score": "float8",
    "effort_weight": "float8",
    "assigned_at": "timestamptz",
    "next_evaluation_due": "timestamptz",
    "deactivated_at": "timestamptz",
    "deactivation_reason": "text",
    "revision": "int8",
    "module_terms_version": "int8",
}
_RECORD_COLUMNS = ", ".join(_RECORD_TYPES)


def _record_arrays(first: int) -> str:
    """unnest() of the records' column arrays, parameters $first onwards."""
    arrays = ", ".join(f"${first + i}::{kind}[]" for i, kind in enumerate(_RECORD_TYPES.values()))
    return f"unnest({arrays}) AS r({_RECORD_COLUMNS})"


# Records steps of several people ($1-$5, column arrays; none when they are already recorded),
# inserts new records ($6-$22) and rewrites existing ones ($23-$39), each row with its staff_id.
WRITE_RECORDS = f"""
WITH recorded AS (
    INSERT INTO hr.assignment_steps (step_id, staff_id, occurred_at, cause, step)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::jsonb[])
), inserted AS (
    INSERT INTO hr.staff_kpis ({_RECORD_COLUMNS})
    SELECT * FROM {_record_arrays(6)}
), rewritten AS (
    UPDATE hr.staff_kpis k SET
        contract_id = r.contract_id, status = r.status, source = r.source,
        is_required = r.is_required, custom_target = r.custom_target,
        target_score = r.target_score, minimum_score = r.minimum_score,
        effort_weight = r.effort_weight, assigned_at = r.assigned_at,
        -- Once scored, the due day is the journal's (last evaluation + frequency), unless this
        -- reactivates the KPI: decided on the row as it is now, since a score may have landed
        -- after the records were read (scores come without the person's lock).
        next_evaluation_due = CASE
            WHEN k.last_evaluated_at IS NOT NULL
                 AND NOT (k.status = 'inactive' AND r.status = 'active')
            THEN k.next_evaluation_due
            ELSE r.next_evaluation_due
        END,
        deactivated_at = r.deactivated_at,
        deactivation_reason = r.deactivation_reason, revision = r.revision,
        module_terms_version = r.module_terms_version, updated_at = now()
    FROM {_record_arrays(6 + len(_RECORD_TYPES))}
    WHERE k.id = r.id AND k.staff_id = r.staff_id
)
SELECT 1
"""

# ---------------------------------------------------------------- scores from the journal

APPLY_SCORE = """
UPDATE hr.staff_kpis SET
    current_score = $3, current_effort_score = $4, previous_score = $5, score_trend = $6,
    trend_percentage = $7, growth_status = $8, last_evaluated_at = $9,
    next_evaluation_due = coalesce($10, next_evaluation_due), score_sequence = $2,
    updated_at = now()
WHERE id = $1 AND score_sequence < $2
RETURNING true
"""

# APPLY_SCORE for a batch of recomputes (column arrays in APPLY_SCORE's order): of several for
# one staff KPI the highest sequence wins (the first of equal ones, as one by one). The rows are
# locked in id order first, so two batches applied at once never deadlock. Returns the staff KPI
# and sequence of each recompute applied.
APPLY_SCORES = """
WITH r AS (
    SELECT DISTINCT ON (id) *
    FROM unnest($1::uuid[], $2::bigint[], $3::numeric[], $4::numeric[], $5::numeric[],
                $6::text[], $7::numeric[], $8::text[], $9::timestamptz[], $10::timestamptz[])
         WITH ORDINALITY
         AS r(id, sequence, current_score, current_effort_score, previous_score, score_trend,
              trend_percentage, growth_status, last_evaluated_at, next_evaluation_due, arrival)
    ORDER BY id, sequence DESC, arrival
), locked AS MATERIALIZED (
    SELECT k.id FROM hr.staff_kpis k WHERE k.id IN (SELECT id FROM r) ORDER BY k.id FOR UPDATE
)
UPDATE hr.staff_kpis k SET
    current_score = r.current_score, current_effort_score = r.current_effort_score,
    previous_score = r.previous_score, score_trend = r.score_trend,
    trend_percentage = r.trend_percentage, growth_status = r.growth_status,
    last_evaluated_at = r.last_evaluated_at,
    next_evaluation_due = coalesce(r.next_evaluation_due, k.next_evaluation_due),
    score_sequence = r.sequence, updated_at = now()
FROM r
WHERE k.id = r.id AND k.id IN (SELECT id FROM locked) AND k.score_sequence < r.sequence
RETURNING k.id, r.sequence
"""

# ---------------------------------------------------------------- reads for the API

# The staff KPI columns of a view, then its module's id and version: the module part (long texts,
# the same for every KPI of the module) comes from views.ModuleViews, read by MODULE_VIEWS.
_VIEW = """
SELECT k.id, k.staff_id, k.contract_id, k.kpi_module_id, k.status, k.source, k.is_required,
       k.target_score, k.minimum_score, k.effort_weight, k.current_score,
       k.current_effort_score, k.previous_score, k.score_trend, k.trend_percentage,
       k.growth_status, k.last_evaluated_at, k.next_evaluation_due, k.assigned_at,
       k.deactivated_at, k.deactivation_reason, m.version AS module_version
FROM hr.staff_kpis k JOIN hr.assignment_modules m ON m.id = k.kpi_module_id
"""

# $2: a status, or 'all'.
STAFF_KPIS = f"""{_VIEW}
WHERE k.staff_id = $1 AND ($2::text = 'all' OR k.status = $2::text)
ORDER BY k.status, m.display_order, m.name, k.assigned_at
"""

STAFF_KPI = f"{_VIEW} WHERE k.staff_id = $1 AND k.id = $2"

# A page of the KPIs due before $1, continuing after the key ($3, $4). The plain `>=` lets the
# partial due index find the start; the row comparison steps past the rows already shown.
EVALUATIONS_DUE = f"""{_VIEW}
WHERE k.status = 'active' AND k.next_evaluation_due < $1
  AND k.next_evaluation_due >= $3 AND (k.next_evaluation_due, k.id) > ($3, $4)
ORDER BY k.next_evaluation_due, k.id
LIMIT $2
"""

# The module part of staff KPI views (schemas.StaffKpiModule's fields), with each module's version.
MODULE_VIEWS = """
SELECT id, version, name, slug, category::text AS category, role_group::text AS role_group,
       is_universal, evaluation_frequency::text AS evaluation_frequency, score_type, objective,
       measurement_method, data_sources, automation_status, coaching_tips, display_order
FROM hr.assignment_modules
WHERE id = ANY($1::uuid[])
"""
