"""Every SQL statement of the journal service.

Rows are written many at a time from arrays (`unnest`), one statement for any number of KPIs,
so that journaling one event costs the same few round trips whether it names one KPI or ten.
"""

from __future__ import annotations

import functools
from typing import Final

from kpi_kit.outbox import Outbox

# The columns of a staff KPI row that its entries move (besides its sequence), with the type
# each is sent as.
SCORE_COLUMNS: Final = (
    ("outcome_score", "float8"),
    ("effort_score", "float8"),
    ("current_score", "float8"),
    ("previous_score", "float8"),
    ("score_trend", "text"),
    ("trend_percentage", "float8"),
    ("growth_status", "text"),
    ("last_evaluated_at", "timestamptz"),
    ("next_evaluation_due", "timestamptz"),
)

# The columns of a staff KPI row the service writes, with the array type each is sent as.
KPI_COLUMNS: Final = (
    ("staff_kpi_id", "uuid"),
    ("staff_id", "uuid"),
    ("kpi_module_id", "uuid"),
    ("module_name", "text"),
    ("contract_id", "uuid"),
    ("source", "text"),
    ("is_required", "boolean"),
    ("score_type", "text"),
    ("target_score", "float8"),
    ("minimum_score", "float8"),
    ("effort_weight", "float8"),
    ("evaluation_frequency", "text"),
    ("terms_revision", "bigint"),
    ("status", "text"),
    ("assigned_at", "timestamptz"),
    ("status_changed_at", "timestamptz"),
    *SCORE_COLUMNS,
    ("sequence", "bigint"),
)

ENTRY_COLUMNS: Final = (
    ("id", "uuid"),
    ("staff_kpi_id", "uuid"),
    ("staff_id", "uuid"),
    ("sequence", "bigint"),
    ("entry_type", "hr.journal_entry_type"),
    ("title", "text"),
    ("content", "text"),
    ("score", "float8"),
    ("score_impact", "float8"),
    ("effort_score", "float8"),
    ("score_before", "float8"),
    ("score_after", "float8"),
    ("effort_recognized", "boolean"),
    ("effort_notes", "text"),
    ("is_visible_to_staff", "boolean"),
    ("is_pending_approval", "boolean"),
    ("linked_catchup_id", "uuid"),
    ("linked_incident_id", "uuid"),
    ("related_entry_id", "uuid"),
    ("created_by", "text"),
    ("source_event_id", "uuid"),
    ("created_at", "timestamptz"),
)

_NUMERIC = {"float8": "numeric"}

# The entry types that decide a pending entry (its related_entry_id).
_DECISIONS = "('approval_granted', 'approval_declined')"


def _unnest(columns: tuple[tuple[str, str], ...], first: int, alias: str) -> str:
    arrays = ", ".join(f"${first + i}::{kind}[]" for i, (_, kind) in enumerate(columns))
    names = ", ".join(name for name, _ in columns)
    return f"unnest({arrays}) AS {alias}({names})"


def _value(alias: str, name: str, kind: str) -> str:
    cast = _NUMERIC.get(kind)
    return f"{alias}.{name}::{cast}" if cast else f"{alias}.{name}"


_KPI_NAMES = ", ".join(name for name, _ in KPI_COLUMNS)
_KPI_VALUES = ", ".join(_value("u", name, kind) for name, kind in KPI_COLUMNS)
_ENTRY_NAMES = ", ".join(name for name, _ in ENTRY_COLUMNS)
_ENTRY_VALUES = ", ".join(_value("n", name, kind) for name, kind in ENTRY_COLUMNS)
_KPI_UPDATES = ",\n    ".join(
    f"{name} = {_value('u', name, kind)}" for name, kind in KPI_COLUMNS if name != "staff_kpi_id"
)

KPI_SELECT: Final = """
    staff_kpi_id, staff_id, kpi_module_id, module_name, contract_id, source, is_required,
    score_type, target_score, minimum_score, effort_weight, evaluation_frequency, terms_revision,
    status, assigned_at, status_changed_at, outcome_score, effort_score, current_score,
    previous_score, score_trend, trend_percentage, growth_status, last_evaluated_at,
    next_evaluation_due, sequence
"""

LOCK_KPI: Final = f"SELECT {KPI_SELECT} FROM hr.journal_kpis WHERE staff_kpi_id = $1 FOR UPDATE"

# The fast path of assignment news: staff KPIs the journal has not heard of are inserted in their
# state after their first entry, together with that entry. Those that exist already are left
# alone here (ON CONFLICT DO NOTHING: a concurrent creator is waited for) and go the locked way.
# Inserted in id order, so that two events creating the same KPIs cannot wait on each other.
CREATE_KPIS_WITH_ENTRIES: Final = f"""
WITH created AS (
    INSERT INTO hr.journal_kpis ({_KPI_NAMES})
    SELECT {_KPI_VALUES}
    FROM {_unnest(KPI_COLUMNS, len(ENTRY_COLUMNS) + 1, "u")}
    ORDER BY u.staff_kpi_id
    ON CONFLICT (staff_kpi_id) DO NOTHING
    RETURNING staff_kpi_id
)
INSERT INTO hr.kpi_journal_entries ({_ENTRY_NAMES})
SELECT {_ENTRY_VALUES}
FROM {_unnest(ENTRY_COLUMNS, 1, "n")}
WHERE n.staff_kpi_id IN (SELECT staff_kpi_id FROM created)
RETURNING id
"""

# Sorted by id, so that two transactions locking the same KPIs take them in the same order.
LOCK_KPIS: Final = f"""
SELECT {KPI_SELECT} FROM hr.journal_kpis
WHERE staff_kpi_id = ANY($1::uuid[])
ORDER BY staff_kpi_id
FOR UPDATE
"""

# Append entries and move their KPIs' rows to the state after them, in one statement. An
# entry already written for the same assignment event is skipped, and so is its KPI's update.
APPEND_ENTRIES: Final = f"""
WITH appended AS (
    INSERT INTO hr.kpi_journal_entries ({_ENTRY_NAMES})
    SELECT {_ENTRY_VALUES}
    FROM {_unnest(ENTRY_COLUMNS, 1, "n")}
    ON CONFLICT (staff_kpi_id, source_event_id) WHERE source_event_id IS NOT NULL DO NOTHING
    RETURNING *
), moved AS (
    UPDATE hr.journal_kpis k SET
    {_KPI_UPDATES},
    updated_at = now()
    FROM {_unnest(KPI_COLUMNS, len(ENTRY_COLUMNS) + 1, "u")}
    WHERE k.staff_kpi_id = u.staff_kpi_id
      AND u.staff_kpi_id IN (SELECT staff_kpi_id FROM appended)
)
SELECT * FROM appended ORDER BY staff_kpi_id, sequence
"""


@functools.cache
def append_one(outbox: Outbox) -> str:
    """Append one entry on the KPI row as it was read, in one statement (its own transaction):
    the row moves to the entry's sequence and scores, the entry is inserted (and listed as
    awaiting a decision when it is pending; a decision takes the entry it decides off that list)
    and the events it causes are queued. Should another writer have moved the row since it was
    read (its sequence is not the entry's less one), nothing is written and no row is returned.
    The caller rings the outbox's doorbell once the statement has committed.

    The entry's columns are $1.., the row's scores follow, then the outbox arrays.
    """
    scores_at = len(ENTRY_COLUMNS) + 1
    outbox_at = scores_at + len(SCORE_COLUMNS)
    entry = {name: i for i, (name, _) in enumerate(ENTRY_COLUMNS, start=1)}
    values = ", ".join(_param(i, kind) for i, (_, kind) in enumerate(ENTRY_COLUMNS, start=1))
    scores = ",\n        ".join(
        f"{name} = {_param(i, kind)}" for i, (name, kind) in enumerate(SCORE_COLUMNS, scores_at)
    )
    kpi, sequence = entry["staff_kpi_id"], entry["sequence"]
    return f"""
WITH moved AS (
    UPDATE hr.journal_kpis SET
        {scores},
        sequence = ${sequence}, updated_at = now()
    WHERE staff_kpi_id = ${kpi} AND sequence = ${sequence} - 1
    RETURNING staff_kpi_id
), appended AS (
    INSERT INTO hr.kpi_journal_entries ({_ENTRY_NAMES})
    SELECT {values} FROM moved
    RETURNING id, staff_id, created_at, is_pending_approval, entry_type, related_entry_id
), awaiting AS (
    INSERT INTO hr.journal_pending_entries (entry_id, staff_id, created_at)
    SELECT id, staff_id, created_at FROM appended WHERE is_pending_approval
), decided AS (
    DELETE FROM hr.journal_pending_entries p USING appended a
    WHERE p.entry_id = a.related_entry_id AND a.entry_type IN {_DECISIONS}
), queued AS (
    {outbox.queue_sql(outbox_at)} WHERE EXISTS (SELECT FROM moved)
)
SELECT id FROM appended
"""


def _param(i: int, kind: str) -> str:
    cast = _NUMERIC.get(kind)
    return f"${i}::{kind}::{cast}" if cast else f"${i}::{kind}"


KPI_NEWS: Final = "SELECT staff_id, status FROM hr.journal_kpis WHERE staff_kpi_id = $1"

GET_ENTRY: Final = "SELECT * FROM hr.kpi_journal_entries WHERE id = $1"

DECISION_ON: Final = f"""
SELECT id FROM hr.kpi_journal_entries
WHERE related_entry_id = $1 AND entry_type IN {_DECISIONS}
"""

_ENTRY_VIEW = f"""
SELECT e.*, k.kpi_module_id, k.module_name,
       CASE WHEN NOT e.is_pending_approval THEN NULL
            WHEN d.entry_type = 'approval_granted' THEN 'approved'
            WHEN d.entry_type = 'approval_declined' THEN 'declined'
            ELSE 'pending' END AS approval_status
FROM hr.kpi_journal_entries e
JOIN hr.journal_kpis k ON k.staff_kpi_id = e.staff_kpi_id
LEFT JOIN hr.kpi_journal_entries d
       ON e.is_pending_approval AND d.related_entry_id = e.id
      AND d.entry_type IN {_DECISIONS}
"""

# Newest first (by when it happened), keyset-paginated: the cursor is the last row's key.
PERSON_JOURNAL: Final = f"""
{_ENTRY_VIEW}
WHERE e.staff_id = $1
  AND ($2 OR e.is_visible_to_staff)
  AND (e.created_at, e.id) < ($3::timestamptz, $4::uuid)
ORDER BY e.created_at DESC, e.id DESC
LIMIT $5
"""

KPI_JOURNAL: Final = f"""
{_ENTRY_VIEW}
WHERE e.staff_kpi_id = $1
  AND ($2 OR e.is_visible_to_staff)
  AND (e.created_at, e.id) < ($3::timestamptz, $4::uuid)
ORDER BY e.created_at DESC, e.id DESC
LIMIT $5
"""

# Entries awaiting a decision, the longest waiting first, keyset-paginated: the cursor is the
# last row's key. Driven by the small table of undecided entries (its index gives the order), so
# the cost follows what is pending now, not the whole history of the journal.
# A listed entry that has a decision is skipped: a pod of the version before the list (in a
# rolling deploy) decides without taking the entry off it.
_AWAITING = f"""
{_ENTRY_VIEW}
JOIN hr.journal_pending_entries p ON p.entry_id = e.id
"""

AWAITING_APPROVAL: Final = f"""
{_AWAITING}
WHERE (p.created_at, p.entry_id) > ($1::timestamptz, $2::uuid) AND d.id IS NULL
ORDER BY p.created_at, p.entry_id
LIMIT $3
"""

PERSON_AWAITING_APPROVAL: Final = f"""
{_AWAITING}
WHERE p.staff_id = $1
  AND (p.created_at, p.entry_id) > ($2::timestamptz, $3::uuid) AND d.id IS NULL
ORDER BY p.created_at, p.entry_id
LIMIT $4
"""

# Oldest first, for replaying a KPI's journal.
KPI_HISTORY: Final = (
    "SELECT * FROM hr.kpi_journal_entries WHERE staff_kpi_id = $1 ORDER BY sequence"
)

GET_KPI: Final = f"SELECT {KPI_SELECT} FROM hr.journal_kpis WHERE staff_kpi_id = $1"
