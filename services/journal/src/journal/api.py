"""Journal HTTP routes (interfaces §3): decode, check the role, call a handler, shape the view."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from journal import handlers
from journal.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ApprovalCreate,
    JournalEntry,
    JournalEntryCreate,
    JournalPage,
)
from kpi_contracts import names
from kpi_contracts.enums import Role
from kpi_kit.auth import Caller, Principal, allow
from kpi_kit.service import Runtime, Services
from kpi_kit.views import without_scoring

READERS = (Role.MANAGER, Role.STAFF)
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="entries per page")]
Cursor = Annotated[
    str | None,
    QueryParameter(max_length=200, description="the next_cursor of the previous page, unchanged"),
]

StaffFilter = Annotated[
    uuid.UUID | None, QueryParameter(description="only this staff member's entries")
]


def for_staff(entry: JournalEntry) -> JournalEntry:
    """What a staff-only caller sees of an entry: no number of the scoring at all, and no
    sequence (its gaps would show how many entries are kept from them)."""
    hidden = without_scoring(entry)
    return msgspec.structs.replace(
        hidden, score=msgspec.UNSET, effort_score=msgspec.UNSET, sequence=msgspec.UNSET
    )


def shown_to(principal: Principal, page: JournalPage) -> JournalPage:
    """A page as the caller may see it."""
    if not principal.is_staff_only:
        return page
    return JournalPage(items=[for_staff(e) for e in page.items], next_cursor=page.next_cursor)


class StaffJournalController(Controller):
    """A person's Living Journal: read it whole or per KPI, append to a KPI's."""

    path = "/api/v1/hr/staff/{staff_id:uuid}"
    tags = ["journal"]

    @get("/journal", opt=allow(*READERS, own_person=True))
    async def person_journal(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> JournalPage:
        """A person's journal across their KPIs, newest first (staff: their own visible entries)."""
        page = await handlers.person_journal(
            runtime.pool,
            staff_id,
            cursor=cursor,
            limit=limit,
            include_hidden=not principal.is_staff_only,
        )
        return shown_to(principal, page)

    @get("/kpis/{kpi_id:uuid}/journal", opt=allow(*READERS, own_person=True))
    async def kpi_journal(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        kpi_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> JournalPage:
        """One staff KPI's journal, newest first."""
        page = await handlers.kpi_journal(
            runtime.pool,
            staff_id,
            kpi_id,
            cursor=cursor,
            limit=limit,
            include_hidden=not principal.is_staff_only,
        )
        return shown_to(principal, page)

    @post("/kpis/{kpi_id:uuid}/journal", opt=allow(*READERS, own_person=True))
    async def append_entry(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        kpi_id: FromPath[uuid.UUID],
        data: JSONBody[JournalEntryCreate],
    ) -> JournalEntry:
        """Append an entry; the answer carries the composite before and after it."""
        async with _scores_shown(runtime):
            entry = await handlers.append_entry(
                runtime.pool,
                runtime.outbox,
                staff_id,
                kpi_id,
                data,
                actor=principal.sub,
                staff_only=principal.is_staff_only,
            )
        return for_staff(entry) if principal.is_staff_only else entry


class ApprovalController(Controller):
    """Entries created pending approval: what still awaits a decision, and the decisions."""

    path = "/api/v1/hr/journal"
    tags = ["journal"]

    @get("/pending", opt=allow(Role.MANAGER))
    async def awaiting_approval(
        self,
        runtime: Services,
        staff_id: StaffFilter = None,
        limit: Limit = DEFAULT_PAGE,
        cursor: Cursor = None,
    ) -> JournalPage:
        """Entries awaiting a decision, the longest waiting first (`?staff_id=`: one person's)."""
        return await handlers.awaiting_approval(
            runtime.pool, staff_id=staff_id, cursor=cursor, limit=limit
        )

    @post("/{entry_id:uuid}/approval", opt=allow(Role.MANAGER))
    async def decide(
        self,
        principal: Caller,
        runtime: Services,
        entry_id: FromPath[uuid.UUID],
        data: JSONBody[ApprovalCreate],
    ) -> JournalEntry:
        """Approve (apply it now) or decline a pending entry: appends the decision as an entry."""
        async with _scores_shown(runtime):
            return await handlers.decide(
                runtime.pool,
                runtime.outbox,
                entry_id,
                data.decision,
                data.notes,
                actor=principal.sub,
            )


def _scores_shown(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """An entry that moves a score answers once assignment's API shows the new one (or in 1 s)."""
    return runtime.confirmations.awaited(names.SCORE_RECOMPUTED)
