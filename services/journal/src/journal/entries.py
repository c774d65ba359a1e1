"""A journal entry and the staff KPI row it moves: the row's scoring read into `domain` values
and written back as columns, a new entry's columns, the one statement that writes an entry with
its KPI's new scores and the events it causes, and the API view of an entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from journal import domain, queries
from journal.schemas import ApprovalStatus, JournalEntry
from kpi_contracts import events
from kpi_contracts.enums import Frequency, GrowthStatus, JournalEntryType, ScoreTrend, ScoreType
from kpi_kit.db import Connection
from kpi_kit.errors import FieldError, Unprocessable
from kpi_kit.metrics import SCORE_RECOMPUTES
from kpi_kit.outbox import Outbox, outbox_columns

Row = asyncpg.Record | dict[str, Any]


def now() -> datetime:
    """When an entry is written (UTC)."""
    return datetime.now(UTC)


def parameters_of(row: Row) -> domain.ScoringParameters:
    """How a staff KPI row is scored."""
    return domain.ScoringParameters(
        score_type=ScoreType(row["score_type"]),
        target_score=row["target_score"],
        minimum_score=row["minimum_score"],
        effort_weight=row["effort_weight"],
        evaluation_frequency=Frequency(row["evaluation_frequency"]),
    )


def scores_of(row: Row) -> domain.Scores:
    """The current scores held in a staff KPI row."""
    return domain.Scores(
        outcome_score=row["outcome_score"],
        effort_score=row["effort_score"],
        current_score=row["current_score"],
        previous_score=row["previous_score"],
        score_trend=ScoreTrend(row["score_trend"]) if row["score_trend"] else None,
        trend_percentage=row["trend_percentage"],
        growth_status=GrowthStatus(row["growth_status"]) if row["growth_status"] else None,
        last_evaluated_at=row["last_evaluated_at"],
        next_evaluation_due=row["next_evaluation_due"],
    )


def score_columns(scores: domain.Scores) -> dict[str, Any]:
    """A KPI row's score columns holding `scores`."""
    return {
        "outcome_score": scores.outcome_score,
        "effort_score": scores.effort_score,
        "current_score": scores.current_score,
        "previous_score": scores.previous_score,
        "score_trend": scores.score_trend,
        "trend_percentage": scores.trend_percentage,
        "growth_status": scores.growth_status,
        "last_evaluated_at": scores.last_evaluated_at,
        "next_evaluation_due": scores.next_evaluation_due,
    }


def parameter_columns(p: events.ScoringParameters) -> dict[str, Any]:
    """A KPI row's columns holding the scoring parameters assignment announced."""
    return {
        "staff_id": p.staff_id,
        "kpi_module_id": p.kpi_module_id,
        "module_name": p.module_name,
        "contract_id": p.contract_id,
        "source": p.source,
        "is_required": p.is_required,
        "score_type": p.score_type,
        "target_score": p.target_score,
        "minimum_score": p.minimum_score,
        "effort_weight": p.effort_weight,
        "evaluation_frequency": p.evaluation_frequency,
        "assigned_at": p.assigned_at,
        "terms_revision": p.revision,
    }


def column_arrays(
    columns: tuple[tuple[str, str], ...], rows: Sequence[dict[str, Any]]
) -> list[Any]:
    """One array per column, for `unnest`; empty for a column that is NULL in every row.

    `unnest` of several arrays pads the shorter ones with NULLs, so the empty array stands for
    the column of NULLs, and asyncpg does not encode (and check) one None per row: a batch of
    new KPIs has no scores yet, and a status_change entry no score, effort, link or author.
    """
    arrays = []
    for name, _ in columns:
        values = [row[name] for row in rows]
        arrays.append([] if all(v is None for v in values) else values)
    return arrays


def unprocessable(problems: Sequence[domain.Problem]) -> Unprocessable:
    return Unprocessable(
        problems[0].message if len(problems) == 1 else "The entry breaks several rules",
        [FieldError(p.field, p.message) for p in problems],
    )


def refuse(problems: Sequence[domain.Problem]) -> None:
    if problems:
        raise unprocessable(problems)


def entry_view(row: Row, kpi: Row | None = None) -> JournalEntry:
    """The API view of an entry row (joined with its KPI's name, or given the KPI row)."""
    values = {name: row[name] for name in _VIEW_FIELDS if name in row}
    if kpi is not None:
        values["kpi_module_id"] = kpi["kpi_module_id"]
        values["module_name"] = kpi["module_name"]
        values["approval_status"] = ApprovalStatus.PENDING if row["is_pending_approval"] else None
    return msgspec.convert(values, JournalEntry)


_VIEW_FIELDS = tuple(JournalEntry.__struct_fields__)


@dataclass(frozen=True)
class Write:
    """One entry and the state its KPI's row moves to with it."""

    kpi: dict[str, Any]
    entry: dict[str, Any]
    applied: domain.Applied


def new_entry(
    kpi: Row,
    sequence: int,
    entry_type: JournalEntryType,
    title: str,
    content: str,
    applied: domain.Applied,
    at: datetime,
    **fields: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": events.time_ordered_uuid(),
        "staff_kpi_id": kpi["staff_kpi_id"],
        "staff_id": kpi["staff_id"],
        "sequence": sequence,
        "entry_type": entry_type,
        "title": title,
        "content": content,
        "score": None,
        "score_impact": None,
        "effort_score": None,
        "score_before": applied.score_before,
        "score_after": applied.score_after,
        "effort_recognized": False,
        "effort_notes": None,
        "is_visible_to_staff": True,
        "is_pending_approval": False,
        "linked_catchup_id": None,
        "linked_incident_id": None,
        "related_entry_id": None,
        "created_by": None,
        "source_event_id": None,
        "created_at": at,
    }
    entry.update(fields)
    return entry


async def write_one(conn: Connection, outbox: Outbox, w: Write, headers: Mapping[str, str]) -> bool:
    """Write one entry, its KPI's new scores and the events they cause in one statement, if the
    KPI's row is still at the sequence it was read at; False when another writer moved it."""
    written = await conn.fetchrow(
        queries.append_one(outbox),
        *[w.entry[name] for name, _ in queries.ENTRY_COLUMNS],
        *[w.kpi[name] for name, _ in queries.SCORE_COLUMNS],
        *outbox_columns((event, headers) for event in caused_events(w)),
    )
    if written is None:
        return False
    count_recomputes([w])
    return True


def caused_events(w: Write) -> list[events.Event]:
    """The events an entry causes: its announcement, and its KPI's recompute if any."""
    caused: list[events.Event] = []
    if domain.announces_entry(w.entry["entry_type"]):
        caused.append(_appended_event(w.entry))
    if w.applied.recomputed:
        caused.append(_recomputed_event(w))
    return caused


def count_recomputes(written: Iterable[Write]) -> None:
    SCORE_RECOMPUTES.inc(sum(w.applied.recomputed for w in written))


def _appended_event(entry: dict[str, Any]) -> events.JournalEntryAppended:
    return events.JournalEntryAppended(
        occurred_at=entry["created_at"],
        entry_id=entry["id"],
        staff_kpi_id=entry["staff_kpi_id"],
        staff_id=entry["staff_id"],
        entry_type=entry["entry_type"],
        title=entry["title"],
        score_before=entry["score_before"],
        score_after=entry["score_after"],
        is_pending_approval=entry["is_pending_approval"],
        is_visible_to_staff=entry["is_visible_to_staff"],
        created_by=entry["created_by"],
        related_entry_id=entry["related_entry_id"],
    )


def _recomputed_event(w: Write) -> events.ScoreRecomputed:
    scores = w.applied.scores
    return events.ScoreRecomputed(
        occurred_at=w.entry["created_at"],
        staff_kpi_id=w.kpi["staff_kpi_id"],
        staff_id=w.kpi["staff_id"],
        sequence=w.kpi["sequence"],
        current_score=scores.current_score,
        current_outcome_score=scores.outcome_score,
        current_effort_score=scores.effort_score,
        previous_score=scores.previous_score,
        score_trend=scores.score_trend,
        trend_percentage=scores.trend_percentage,
        growth_status=scores.growth_status,
        last_evaluated_at=scores.last_evaluated_at,
        next_evaluation_due=scores.next_evaluation_due,
    )


def moved_row(kpi: Row, applied: domain.Applied, **changes: Any) -> dict[str, Any]:
    """The KPI row after one more entry: new scores, the next sequence number."""
    row = dict(kpi)  # the KPI columns, as LOCK_KPIS and _first_row give them
    row.update(score_columns(applied.scores))
    row.update(changes)
    row["sequence"] = kpi["sequence"] + 1
    return row
