"""Journal use cases a person asks for: append an entry, decide on a pending one, read journals.
Each write is one transaction: the entry, the staff KPI's new scores and the events they cause
commit together or not at all. Assignment's news is journaled by `news`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from journal import domain, entries, queries
from journal.entries import Row
from journal.schemas import Decision, JournalEntry, JournalEntryCreate, JournalPage
from kpi_contracts import events
from kpi_contracts.enums import JournalEntryType, KpiStatus, ScoreType
from kpi_kit import cursors
from kpi_kit.db import Connection, Pool
from kpi_kit.errors import Conflict, Forbidden, NotFound
from kpi_kit.outbox import Outbox, event_headers, unit_of_work


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
        return domain.append(
            entries.scores_of(kpi), entries.parameters_of(kpi), change, pending=pending, at=at
        )
    except domain.ScoringRefused as refused:
        raise entries.unprocessable([refused.problem]) from refused


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
    entries.refuse(
        domain.entry_problems(
            data.entry_type,
            ScoreType(kpi["score_type"]),
            score=data.score,
            score_impact=data.score_impact,
            effort_score=data.effort_score,
        )
    )
    change = domain.change_of(data.entry_type, data.score, data.score_impact, data.effort_score)
    at = entries.now()
    applied = _applied_or_refuse(kpi, change, pending=pending, at=at)
    moved = entries.moved_row(kpi, applied)
    entry = entries.new_entry(
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
    if not await entries.write_one(
        conn, outbox, entries.Write(moved, entry, applied), request.headers
    ):
        return None
    return entries.entry_view(entry, kpi)


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
    async with unit_of_work(pool, outbox) as uow:
        pending, kpi = await _undecided_and_its_kpi(uow.conn, request.entry_id)
        write = _decision(kpi, pending, request, entries.now())
        try:
            written = await entries.write_one(uow.conn, outbox, write, uow.headers)
        except asyncpg.UniqueViolationError as exc:  # the index backs the row lock up
            raise Conflict("This entry has been decided already") from exc
        if not written:
            raise RuntimeError("a locked KPI row moved under its lock")
        uow.queued()
    return entries.entry_view(write.entry, kpi)


async def _undecided_and_its_kpi(conn: Connection, entry_id: uuid.UUID) -> tuple[Row, Row]:
    """A pending entry that has no decision yet, and its KPI's row, locked for the decision."""
    pending = await conn.fetchrow(queries.GET_ENTRY, entry_id)
    if pending is None:
        raise NotFound(f"No journal entry {entry_id}")
    kpi = await _kpi_row(conn, None, pending["staff_kpi_id"], lock=True)
    if not pending["is_pending_approval"]:
        raise Conflict("This entry was not created pending approval: nothing to decide")
    if await conn.fetchval(queries.DECISION_ON, entry_id) is not None:
        raise Conflict("This entry has been decided already")
    return pending, kpi


def _decision(kpi: Row, pending: Row, request: _DecisionRequest, at: datetime) -> entries.Write:
    """The decision's entry and the KPI's row after it: an approval applies the pending entry's
    change now (refused on an inactive KPI when it would move the scores), a decline nothing."""
    approve = request.decision is Decision.APPROVE
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
    moved = entries.moved_row(kpi, applied)
    entry = entries.new_entry(
        kpi,
        moved["sequence"],
        JournalEntryType.APPROVAL_GRANTED if approve else JournalEntryType.APPROVAL_DECLINED,
        f"{'Approved' if approve else 'Declined'}: {pending['title']}",
        request.notes or "",
        applied,
        at,
        is_visible_to_staff=pending["is_visible_to_staff"],
        related_entry_id=request.entry_id,
        created_by=request.actor,
    )
    return entries.Write(moved, entry, applied)


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
    if made is None or not -5 <= (entries.now() - made).total_seconds() <= NEW_KPI_SECONDS:
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
    items = [entries.entry_view(row) for row in rows[:limit]]
    more = len(rows) > limit and bool(items)
    return JournalPage(
        items=items,
        next_cursor=cursors.cursor_after(items[-1].created_at, items[-1].id) if more else None,
    )


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
    replayed = domain.replay(entries.parameters_of(kpi), recorded, kpi["assigned_at"])
    return entries.scores_of(kpi), replayed
