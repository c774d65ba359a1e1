"""Journal use cases: append an entry, decide on a pending one, read journals, and journal the
lifecycle news that assignment publishes. Each write is one transaction: the entries, the
staff KPI's new scores and the events they cause commit together or not at all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from journal import domain, queries
from journal.schemas import (
    ApprovalStatus,
    Decision,
    JournalEntry,
    JournalEntryCreate,
    JournalPage,
)
from kpi_contracts import events
from kpi_contracts.enums import (
    Frequency,
    GrowthStatus,
    JournalEntryType,
    KpiSource,
    KpiStatus,
    ScoreTrend,
    ScoreType,
)
from kpi_kit import cursors
from kpi_kit.consuming import Delivery, first_copies
from kpi_kit.db import Connection, Pool
from kpi_kit.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from kpi_kit.metrics import SCORE_RECOMPUTES
from kpi_kit.outbox import Outbox, UnitOfWork, event_headers, outbox_columns, unit_of_work

# The inbox name under which assignment events are recorded as applied.
ASSIGNMENTS_CONSUMER = "journal.assignments"

Row = asyncpg.Record | dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- rows and rules


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


def _score_columns(scores: domain.Scores) -> dict[str, Any]:
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


def _parameter_columns(p: events.ScoringParameters) -> dict[str, Any]:
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
    }


def _arrays(columns: tuple[tuple[str, str], ...], rows: Sequence[dict[str, Any]]) -> list[Any]:
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


def _unprocessable(problems: Sequence[domain.Problem]) -> Unprocessable:
    return Unprocessable(
        problems[0].message if len(problems) == 1 else "The entry breaks several rules",
        [FieldError(p.field, p.message) for p in problems],
    )


def _refuse(problems: Sequence[domain.Problem]) -> None:
    if problems:
        raise _unprocessable(problems)


def entry_view(row: Row, kpi: Row | None = None) -> JournalEntry:
    """The API view of an entry row (joined with its KPI's name, or given the KPI row)."""
    values = {name: row[name] for name in _VIEW_FIELDS if name in row}
    if kpi is not None:
        values["kpi_module_id"] = kpi["kpi_module_id"]
        values["module_name"] = kpi["module_name"]
        values["approval_status"] = ApprovalStatus.PENDING if row["is_pending_approval"] else None
    return msgspec.convert(values, JournalEntry)


_VIEW_FIELDS = tuple(JournalEntry.__struct_fields__)


# ---------------------------------------------------------------- writing entries


@dataclass(frozen=True)
class _Write:
    """One entry and the state its KPI's row moves to with it."""

    kpi: dict[str, Any]
    entry: dict[str, Any]
    applied: domain.Applied


def _entry(
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


async def _write_one(
    conn: Connection, outbox: Outbox, w: _Write, headers: Mapping[str, str]
) -> bool:
    """Write one entry, its KPI's new scores and the events they cause in one statement, if the
    KPI's row is still at the sequence it was read at; False when another writer moved it."""
    written = await conn.fetchrow(
        queries.append_one(outbox),
        *[w.entry[name] for name, _ in queries.ENTRY_COLUMNS],
        *[w.kpi[name] for name, _ in queries.SCORE_COLUMNS],
        *outbox_columns((event, headers) for event in _caused(w)),
    )
    if written is None:
        return False
    _count_recomputes([w])
    return True


def _caused(w: _Write) -> list[events.Event]:
    """The events an entry causes: its announcement, and its KPI's recompute if any."""
    caused: list[events.Event] = []
    if domain.announces_entry(w.entry["entry_type"]):
        caused.append(_appended_event(w.entry))
    if w.applied.recomputed:
        caused.append(_recomputed_event(w))
    return caused


def _count_recomputes(written: Iterable[_Write]) -> None:
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


def _recomputed_event(w: _Write) -> events.ScoreRecomputed:
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


def _moved(kpi: Row, applied: domain.Applied, **changes: Any) -> dict[str, Any]:
    """The KPI row after one more entry: new scores, the next sequence number."""
    row = dict(kpi)  # the KPI columns, as LOCK_KPIS and _first_row give them
    row.update(_score_columns(applied.scores))
    row.update(changes)
    row["sequence"] = kpi["sequence"] + 1
    return row


class UnknownKpi(NotFound):
    """A KPI the journal has not heard of (yet, perhaps: news of a new one is on its way)."""


class KpiInactive(Conflict):
    """A KPI that is inactive as the journal last heard (news of its reactivation may be coming)."""

    def __init__(self, detail: str, staff_kpi_id: uuid.UUID) -> None:
        super().__init__(detail)
        self.staff_kpi_id = staff_kpi_id


async def _kpi_row(
    conn: Connection, staff_id: uuid.UUID | None, staff_kpi_id: uuid.UUID, *, lock: bool
) -> asyncpg.Record:
    """A staff KPI's row (locked for the transaction, if asked), of that person if one is named."""
    kpi = await conn.fetchrow(queries.LOCK_KPI if lock else queries.GET_KPI, staff_kpi_id)
    if kpi is None:
        raise UnknownKpi(f"No KPI {staff_kpi_id} for staff member {staff_id}")
    if staff_id is not None and kpi["staff_id"] != staff_id:
        raise NotFound(f"No KPI {staff_kpi_id} for staff member {staff_id}")
    return kpi


async def _active_kpi(
    conn: Connection, staff_id: uuid.UUID | None, staff_kpi_id: uuid.UUID, *, lock: bool
) -> asyncpg.Record:
    """A staff KPI's row that takes entries (locked for the transaction, if asked)."""
    kpi = await _kpi_row(conn, staff_id, staff_kpi_id, lock=lock)
    if kpi["status"] != KpiStatus.ACTIVE:
        raise KpiInactive(
            f"The KPI {kpi['module_name']!r} is inactive: its journal can be read, not added to",
            staff_kpi_id,
        )
    return kpi


def _applied_or_refuse(
    kpi: Row, change: domain.ScoreChange, *, pending: bool, at: datetime
) -> domain.Applied:
    try:
        return domain.append(scores_of(kpi), parameters_of(kpi), change, pending=pending, at=at)
    except domain.ScoringRefused as refused:
        raise _unprocessable([refused.problem]) from refused


# Appends read a KPI's row unlocked and write only if nobody moved it meanwhile: two round trips,
# no transaction to open. After this many tries the row is locked, so a busy KPI starves nobody.
UNLOCKED_TRIES = 3


async def append_entry(
    pool: Pool,
    outbox: Outbox,
    staff_id: uuid.UUID,
    staff_kpi_id: uuid.UUID,
    data: JournalEntryCreate,
    *,
    actor: str,
    staff_only: bool,
) -> JournalEntry:
    """Append an entry to a staff KPI's journal and recompute its scores on the row it moves.

    Staff may add only self_reflection entries, always pending approval and visible to them.
    """
    if staff_only and not domain.staff_may_append(data.entry_type):
        raise Forbidden("Staff may add self_reflection entries only")
    request = _AppendRequest(staff_id, staff_kpi_id, data, actor, staff_only, event_headers())
    try:
        return await _append(pool, outbox, request)
    except UnknownKpi:
        if await _news_of_a_new_kpi(pool, staff_kpi_id) is None:
            raise
    except KpiInactive:
        if await _news_arrives(pool, staff_kpi_id, _is_active) is None:
            raise
    return await _append(pool, outbox, request)


async def _append(pool: Pool, outbox: Outbox, request: _AppendRequest) -> JournalEntry:
    """Append unlocked while other writers let it, then under the KPI row's lock."""
    for _ in range(UNLOCKED_TRIES):
        async with pool.acquire() as conn:
            appended = await _try_append(conn, outbox, request, lock=False)
        if appended is not None:
            break
    else:
        async with pool.acquire() as conn, conn.transaction():
            appended = await _try_append(conn, outbox, request, lock=True)
        if appended is None:
            raise RuntimeError("a locked KPI row moved under its lock")
    outbox.doorbell.ring()  # committed: the events it caused may leave
    return appended


@dataclass(frozen=True)
class _AppendRequest:
    """An entry to append, and who asks."""

    staff_id: uuid.UUID
    staff_kpi_id: uuid.UUID
    data: JournalEntryCreate
    actor: str
    staff_only: bool
    headers: Mapping[str, str]


async def _try_append(
    conn: Connection, outbox: Outbox, request: _AppendRequest, *, lock: bool
) -> JournalEntry | None:
    """Read the KPI, check the entry, write it; None when another writer moved the KPI first."""
    data = request.data
    pending = True if request.staff_only else data.is_pending_approval
    visible = True if request.staff_only else data.is_visible_to_staff
    kpi = await _active_kpi(conn, request.staff_id, request.staff_kpi_id, lock=lock)
    _refuse(
        domain.entry_problems(
            data.entry_type,
            ScoreType(kpi["score_type"]),
            score=data.score,
            score_impact=data.score_impact,
            effort_score=data.effort_score,
        )
    )
    change = domain.change_of(data.entry_type, data.score, data.score_impact, data.effort_score)
    at = _now()
    applied = _applied_or_refuse(kpi, change, pending=pending, at=at)
    moved = _moved(kpi, applied)
    entry = _entry(
        kpi,
        moved["sequence"],
        data.entry_type,
        data.title,
        data.content,
        applied,
        at,
        score=data.score,
        score_impact=data.score_impact,
        effort_score=data.effort_score,
        effort_recognized=domain.effort_recognized(data.entry_type, data.effort_recognized),
        effort_notes=data.effort_notes,
        is_visible_to_staff=visible,
        is_pending_approval=pending,
        linked_catchup_id=data.linked_catchup_id,
        linked_incident_id=data.linked_incident_id,
        created_by=request.actor,
    )
    if not await _write_one(conn, outbox, _Write(moved, entry, applied), request.headers):
        return None
    return entry_view(entry, kpi)


async def decide(
    pool: Pool,
    outbox: Outbox,
    entry_id: uuid.UUID,
    decision: Decision,
    notes: str | None,
    *,
    actor: str,
) -> JournalEntry:
    """Approve or decline a pending entry by appending the decision; approval applies it now."""
    request = _DecisionRequest(entry_id, decision, notes, actor)
    try:
        return await _decide(pool, outbox, request)
    except KpiInactive as inactive:
        if await _news_arrives(pool, inactive.staff_kpi_id, _is_active) is None:
            raise
    return await _decide(pool, outbox, request)


@dataclass(frozen=True)
class _DecisionRequest:
    """A decision on a pending entry, and who takes it."""

    entry_id: uuid.UUID
    decision: Decision
    notes: str | None
    actor: str


async def _decide(pool: Pool, outbox: Outbox, request: _DecisionRequest) -> JournalEntry:
    entry_id, decision, notes, actor = (
        request.entry_id,
        request.decision,
        request.notes,
        request.actor,
    )
    async with unit_of_work(pool, outbox) as uow:
        pending = await uow.conn.fetchrow(queries.GET_ENTRY, entry_id)
        if pending is None:
            raise NotFound(f"No journal entry {entry_id}")
        kpi = await _kpi_row(uow.conn, None, pending["staff_kpi_id"], lock=True)
        if not pending["is_pending_approval"]:
            raise Conflict("This entry was not created pending approval: nothing to decide")
        if await uow.conn.fetchval(queries.DECISION_ON, entry_id) is not None:
            raise Conflict("This entry has been decided already")
        at = _now()
        approve = decision is Decision.APPROVE
        change = (
            domain.change_of(
                JournalEntryType(pending["entry_type"]),
                pending["score"],
                pending["score_impact"],
                pending["effort_score"],
            )
            if approve
            else domain.NO_CHANGE
        )
        if not domain.takes_decision(kpi["status"] == KpiStatus.ACTIVE, change):
            raise KpiInactive(
                f"The KPI {kpi['module_name']!r} is inactive: approving this entry would move its "
                "scores. Reactivate the KPI first, or decline the entry",
                kpi["staff_kpi_id"],
            )
        applied = _applied_or_refuse(kpi, change, pending=False, at=at)
        moved = _moved(kpi, applied)
        entry = _entry(
            kpi,
            moved["sequence"],
            JournalEntryType.APPROVAL_GRANTED if approve else JournalEntryType.APPROVAL_DECLINED,
            f"{'Approved' if approve else 'Declined'}: {pending['title']}",
            notes or "",
            applied,
            at,
            is_visible_to_staff=pending["is_visible_to_staff"],
            related_entry_id=entry_id,
            created_by=actor,
        )
        try:
            written = await _write_one(uow.conn, outbox, _Write(moved, entry, applied), uow.headers)
        except asyncpg.UniqueViolationError as exc:  # the index backs the row lock up
            raise Conflict("This entry has been decided already") from exc
        if not written:
            raise RuntimeError("a locked KPI row moved under its lock")
        uow.queued()
    return entry_view(entry, kpi)


# ---------------------------------------------------------------- reading journals


async def person_journal(
    pool: Pool, staff_id: uuid.UUID, *, cursor: str | None, limit: int, include_hidden: bool
) -> JournalPage:
    """A person's journal across all their KPIs, newest first."""
    created_at, entry_id = cursors.read_cursor(cursor, cursors.HIGHEST)
    # A person the journal has not heard of has an empty journal, as they have no KPIs in
    # assignment: a client polling for their first entries gets pages, not errors.
    rows = await pool.fetch(
        queries.PERSON_JOURNAL, staff_id, include_hidden, created_at, entry_id, limit + 1
    )
    return _page(rows, limit)


async def kpi_journal(
    pool: Pool,
    staff_id: uuid.UUID,
    staff_kpi_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    include_hidden: bool,
) -> JournalPage:
    """One staff KPI's journal, newest first."""
    created_at, entry_id = cursors.read_cursor(cursor, cursors.HIGHEST)
    news = await pool.fetchrow(queries.KPI_NEWS, staff_kpi_id)
    if news is None:
        news = await _news_of_a_new_kpi(pool, staff_kpi_id)
    if news is None or news["staff_id"] != staff_id:
        raise NotFound(f"No KPI {staff_kpi_id} for staff member {staff_id}")
    rows = await pool.fetch(
        queries.KPI_JOURNAL, staff_kpi_id, include_hidden, created_at, entry_id, limit + 1
    )
    return _page(rows, limit)


async def awaiting_approval(
    pool: Pool, *, staff_id: uuid.UUID | None, cursor: str | None, limit: int
) -> JournalPage:
    """The entries still awaiting a decision, across everyone or of one person, the longest
    waiting first (hidden-from-staff ones and those of inactive KPIs too: they wait as well)."""
    created_at, entry_id = cursors.read_cursor(cursor, cursors.LOWEST)
    if staff_id is None:
        rows = await pool.fetch(queries.AWAITING_APPROVAL, created_at, entry_id, limit + 1)
    else:
        rows = await pool.fetch(
            queries.PERSON_AWAITING_APPROVAL, staff_id, created_at, entry_id, limit + 1
        )
    return _page(rows, limit)


# The journal hears of a KPI, and of its status, from assignment's events some milliseconds
# after assignment answered the request that made the change (seconds in a burst). A request that
# meets the journal's last news of a KPI (unknown, or inactive) waits this long for newer news,
# so that a client writing at once after assignment's answer is not sent to retry by hand.
NEWS_WAIT_SECONDS = 2.0
# Only a KPI whose id was made this recently may be news on its way: assignment's ids are
# version 7, which carry the millisecond they were made in. Any other unknown id is a 404 at once.
NEW_KPI_SECONDS = 60.0
# Requests waiting at once, per process; beyond it a request is answered at once, so that made-up
# ids cannot hold the service's time.
MOST_WAITING = 64


@dataclass
class _Waiting:
    count: int = 0


_waiting = _Waiting()


def _heard_of(news: asyncpg.Record | None) -> bool:
    return news is not None


def _is_active(news: asyncpg.Record | None) -> bool:
    return news is not None and news["status"] == KpiStatus.ACTIVE


async def _news_of_a_new_kpi(pool: Pool, staff_kpi_id: uuid.UUID) -> asyncpg.Record | None:
    """The news of a KPI the journal has not heard of, if it arrives within the wait."""
    made = events.minted_at(staff_kpi_id)
    if made is None or not -5 <= (_now() - made).total_seconds() <= NEW_KPI_SECONDS:
        return None  # a wrong id, most likely
    return await _news_arrives(pool, staff_kpi_id, _heard_of)


async def _news_arrives(
    pool: Pool, staff_kpi_id: uuid.UUID, arrived: Callable[[asyncpg.Record | None], bool]
) -> asyncpg.Record | None:
    """The journal's news of a KPI once it satisfies `arrived`, or None if not within the wait."""
    if _waiting.count >= MOST_WAITING:
        return None
    _waiting.count += 1
    try:
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + NEWS_WAIT_SECONDS, 0.01
        while loop.time() < deadline:
            await asyncio.sleep(pause)
            news = await pool.fetchrow(queries.KPI_NEWS, staff_kpi_id)
            if arrived(news):
                return news
            pause = min(pause * 2, 0.2)
        return None
    finally:
        _waiting.count -= 1


def _page(rows: Sequence[asyncpg.Record], limit: int) -> JournalPage:
    """A page of `limit` entries; one more row fetched tells whether another page follows."""
    items = [entry_view(row) for row in rows[:limit]]
    more = len(rows) > limit and bool(items)
    return JournalPage(
        items=items,
        next_cursor=cursors.cursor_after(items[-1].created_at, items[-1].id) if more else None,
    )


# ---------------------------------------------------------------- lifecycle news from assignment


@dataclass(frozen=True)
class _News:
    """One staff KPI's news in an assignment event."""

    parameters: events.ScoringParameters
    status: KpiStatus
    reported_at: datetime
    step: domain.Lifecycle
    reason: str | None
    cause: str
    actor: str | None  # who asked, when a person did: the entry's created_by


@dataclass(frozen=True)
class _Told:
    """What one assignment event tells: its news, one per staff KPI, and the headers (its own
    delivery's correlation id) that the events it causes carry."""

    event_id: uuid.UUID
    news: Sequence[_News]
    headers: Mapping[str, str]


Announcement = tuple[events.Event, Mapping[str, str]]


class NewsTwiceOver(Exception):
    """Some of one KPI's news in a batch had been journaled already and some had not: the
    entries after the skipped one would stand on a state that never was. Raised to roll the
    batch back, so the kit applies its events one by one."""


def news_of(event: events.AssignmentEvent) -> list[_News]:
    """An assignment event's news, one per staff KPI: should it name a KPI twice, its last word."""
    if isinstance(event, events.KpisAssigned):
        news = [
            _News(
                p,
                KpiStatus.ACTIVE,
                p.assigned_at,
                domain.Lifecycle.ASSIGNED,
                None,
                event.cause,
                event.actor,
            )
            for p in event.kpis
        ]
    else:
        news = [
            _News(
                c.parameters,
                c.status,
                c.changed_at,
                domain.lifecycle_of(c.status, assigned=False),
                c.reason,
                event.cause,
                event.actor,
            )
            for c in event.changes
        ]
    return list({n.parameters.staff_kpi_id: n for n in news}.values())


async def record_assignment(pool: Pool, outbox: Outbox, event: events.KpisAssigned) -> bool:
    """Journal newly assigned KPIs: one status_change entry each, once per event."""
    return await _record(pool, outbox, event)


async def record_status_change(pool: Pool, outbox: Outbox, event: events.KpiStatusChanged) -> bool:
    """Journal deactivated and reactivated KPIs: one status_change entry each, once per event."""
    return await _record(pool, outbox, event)


async def _record(pool: Pool, outbox: Outbox, event: events.AssignmentEvent) -> bool:
    async with unit_of_work(pool, outbox) as uow:
        if not await uow.first_delivery(ASSIGNMENTS_CONSUMER, event.event_id):
            return False
        told = _Told(event.event_id, news_of(event), uow.headers)
        await uow.publish_each(await _journal(uow, [told]))
    return True


async def record_batch(
    pool: Pool, outbox: Outbox, items: Sequence[tuple[events.AssignmentEvent, Delivery]]
) -> list[bool]:
    """Journal a batch of assignment events in one transaction, as if one by one in this order.

    Returns, per event, whether it was news: False when the inbox had it already, or for the
    second copy of an event delivered twice in the batch.
    """
    ids = [event.event_id for event, _ in items]
    async with unit_of_work(pool, outbox) as uow:
        # Sorted, so that two batches holding the same redelivered events wait in one order.
        first = await uow.first_deliveries(ASSIGNMENTS_CONSUMER, sorted(set(ids)))
        applied = first_copies(ids, first)
        told = [
            _Told(event.event_id, news_of(event), delivery.headers)
            for (event, delivery), new in zip(items, applied, strict=True)
            if new
        ]
        await uow.publish_each(await _journal(uow, told))
    return applied


async def _journal(uow: UnitOfWork, told: Sequence[_Told]) -> list[Announcement]:
    """Journal the news of events: one status_change entry per staff KPI and event.

    The KPIs the journal has not heard of are created with their entries in one statement; the
    others are locked and read in one (in id order, as every writer does, so that two batches in
    flight cannot deadlock) and moved on in one more. A KPI with news from several events gets
    them in the order given, each entry on the state the one before left.
    """
    chains = _chains(told)
    if not chains:
        return []
    fresh = {kpi: _chain_writes(_first_row(chain[0][1]), chain) for kpi, chain in chains.items()}
    created = await uow.conn.fetch(queries.CREATE_KPIS_WITH_ENTRIES, *_write_arrays(fresh))
    written = {row["id"] for row in created}
    announced = _announcements(fresh, written)
    rest = sorted(kpi for kpi, writes in fresh.items() if writes[0][1].entry["id"] not in written)
    if not rest:
        return announced
    known = await uow.conn.fetch(queries.LOCK_KPIS, rest)
    moved = {row["staff_kpi_id"]: _chain_writes(row, chains[row["staff_kpi_id"]]) for row in known}
    appended = await uow.conn.fetch(queries.APPEND_ENTRIES, *_write_arrays(moved))
    written = {row["id"] for row in appended}
    if any(len({w.entry["id"] in written for _, w in writes}) > 1 for writes in moved.values()):
        raise NewsTwiceOver("a KPI's news in this batch was partly journaled already")
    return announced + _announcements(moved, written)


_Chain = list[tuple[_Told, _News]]
_ChainWrites = list[tuple[_Told, _Write]]


def _chains(told: Sequence[_Told]) -> dict[uuid.UUID, _Chain]:
    """Each staff KPI's news, in the order of the events that tell it."""
    chains: dict[uuid.UUID, _Chain] = {}
    for t in told:
        for news in t.news:
            chains.setdefault(news.parameters.staff_kpi_id, []).append((t, news))
    return chains


def _chain_writes(kpi: Row, chain: _Chain) -> _ChainWrites:
    """The entries of one KPI's news, each written on the row the one before left."""
    writes: _ChainWrites = []
    for t, news in chain:
        write = _status_write(kpi, news, t.event_id)
        writes.append((t, write))
        kpi = write.kpi
    return writes


def _write_arrays(chains: Mapping[uuid.UUID, _ChainWrites]) -> list[Any]:
    """The arguments of a statement writing every entry and each KPI's row after its last."""
    entries = [w.entry for writes in chains.values() for _, w in writes]
    kpis = [writes[-1][1].kpi for writes in chains.values()]
    return _arrays(queries.ENTRY_COLUMNS, entries) + _arrays(queries.KPI_COLUMNS, kpis)


def _announcements(
    chains: Mapping[uuid.UUID, _ChainWrites], written: set[uuid.UUID]
) -> list[Announcement]:
    """The events of the entries written, each with the headers of the event that caused it."""
    done = [(t, w) for writes in chains.values() for t, w in writes if w.entry["id"] in written]
    _count_recomputes(w for _, w in done)
    return [(event, t.headers) for t, w in done for event in _caused(w)]


def _first_row(news: _News) -> dict[str, Any]:
    """The row of a staff KPI the journal hears of for the first time, before any entry."""
    p = news.parameters
    frequency = Frequency(p.evaluation_frequency)
    scores = domain.Scores(next_evaluation_due=domain.first_due(p.assigned_at, frequency))
    return {
        "staff_kpi_id": p.staff_kpi_id,
        **_parameter_columns(p),
        "status": news.status,
        "status_changed_at": news.reported_at,
        **_score_columns(scores),
        "sequence": 0,
    }


def _status_write(kpi: Row, news: _News, event_id: uuid.UUID) -> _Write:
    """The status_change entry for one KPI, and its row with the news applied if it is news.

    The entry is dated when the change happened, so the person's story reads in order.
    """
    changes: dict[str, Any] = {}
    if domain.is_newer(news.reported_at, kpi["status_changed_at"]):
        changes = {
            **_parameter_columns(news.parameters),
            "status": news.status,
            "status_changed_at": news.reported_at,
        }
    parameters = parameters_of(changes or kpi)
    scores = scores_of(kpi)
    if changes and news.step is domain.Lifecycle.REACTIVATED:
        scores = domain.reactivated(scores, news.reported_at, parameters.evaluation_frequency)
    applied = domain.with_parameters(scores, parameters)
    moved = _moved(kpi, applied, **changes)
    title, content = domain.status_change_text(
        news.step,
        news.parameters.module_name,
        source=KpiSource(news.parameters.source),
        reason=news.reason,
        cause=news.cause,
    )
    entry = _entry(
        kpi,
        moved["sequence"],
        JournalEntryType.STATUS_CHANGE,
        title,
        content,
        applied,
        news.reported_at,
        source_event_id=event_id,
        created_by=news.actor,
    )
    return _Write(moved, entry, applied)


# ---------------------------------------------------------------- replay


async def replayed_scores(
    pool: Pool, staff_kpi_id: uuid.UUID
) -> tuple[domain.Scores, domain.Scores]:
    """A KPI's stored scores and the scores its journal replays to, for checking one another."""
    async with pool.acquire() as conn:
        kpi = await conn.fetchrow(queries.GET_KPI, staff_kpi_id)
        if kpi is None:
            raise NotFound(f"No KPI {staff_kpi_id}")
        history = await conn.fetch(queries.KPI_HISTORY, staff_kpi_id)
    recorded = [
        domain.RecordedEntry(
            id=row["id"],
            entry_type=JournalEntryType(row["entry_type"]),
            change=domain.change_of(
                JournalEntryType(row["entry_type"]),
                row["score"],
                row["score_impact"],
                row["effort_score"],
            ),
            is_pending_approval=row["is_pending_approval"],
            created_at=row["created_at"],
            score_before=row["score_before"],
            score_after=row["score_after"],
            related_entry_id=row["related_entry_id"],
        )
        for row in history
    ]
    replayed = domain.replay(parameters_of(kpi), recorded, kpi["assigned_at"])
    return scores_of(kpi), replayed
