"""Assignment events journaled a batch at a time, in one transaction, as one by one would.

Each test gets two journal databases in the same starting state (the second is a copy of the
first), with no relay running, so that what the handlers write, the outbox included, stays to be
compared: one database takes the events one by one, the other as one batch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import pytest

from journal import handlers, news
from journal.app import DB_ROLE, definition
from journal.schemas import JournalEntryCreate
from kpi_contracts import events
from kpi_contracts.enums import JournalEntryType, KpiStatus
from kpi_kit.consuming import Delivery
from kpi_kit.db import create_pool, database_name, with_database
from kpi_kit.migrations import apply_migrations
from kpi_kit.observability import correlation_id_var
from kpi_kit.outbox import Outbox
from kpi_kit.settings import Settings
from kpi_kit.testing.servers import Servers, create_database, drop_database, unique_name

pytestmark = pytest.mark.integration

OUTBOX = Outbox("journal")
Item = tuple[events.AssignmentEvent, Delivery]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------- two journals, one start


class Journal:
    """A journal database the handlers write to, read back whole."""

    def __init__(self, url: str, pool: Any) -> None:
        self.url = url
        self.pool = pool

    async def one_by_one(self, items: Sequence[Item]) -> list[bool]:
        """Apply events as the per-event consumer does, each under its delivery's correlation."""
        applied = []
        for event, delivery in items:
            token = correlation_id_var.set(delivery.correlation_id)
            try:
                applied.append(await record(self.pool, event))
            finally:
                correlation_id_var.reset(token)
        return applied

    async def batch(self, items: Sequence[Item]) -> list[bool]:
        """Apply events as one batch."""
        return await news.record_batch(self.pool, OUTBOX, items)

    async def state(self) -> dict[str, Any]:
        """Every KPI row, entry and queued event, without generated ids and timestamps."""
        conn = await asyncpg.connect(self.url)
        try:
            kpis = await conn.fetch("SELECT * FROM hr.journal_kpis ORDER BY staff_kpi_id")
            entries = await conn.fetch(
                "SELECT * FROM hr.kpi_journal_entries ORDER BY staff_kpi_id, sequence"
            )
            queued = await conn.fetch("SELECT routing_key, body, headers FROM hr.journal_outbox")
            inbox = await conn.fetch("SELECT event_id FROM hr.journal_inbox ORDER BY event_id")
        finally:
            await conn.close()
        return {
            "kpis": [_without(row, "updated_at") for row in kpis],
            "entries": [_without(row, "id") for row in entries],
            "queued": sorted(_queued(row) for row in queued),
            "inbox": [row["event_id"] for row in inbox],
        }


def _without(row: asyncpg.Record, *generated: str) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in generated}


def _queued(row: asyncpg.Record) -> tuple[str, str, str]:
    body = json.loads(row["body"])
    body.pop("event_id")
    headers = json.loads(row["headers"])
    return row["routing_key"], json.dumps(body, sort_keys=True), json.dumps(headers)


async def record(pool: Any, event: events.AssignmentEvent) -> bool:
    """The per-event handler, as the consumer calls it."""
    return await news.record(pool, OUTBOX, event)


@dataclass
class Twins:
    """Two journals in the same state."""

    one_by_one: Journal
    batched: Journal


async def _journal_database(servers: Servers, template: str | None = None) -> str:
    name = unique_name("kpi_test_batch")
    if template is None:
        url = await create_database(servers.postgres_url, name)
        await apply_migrations(url, "journal", definition().migrations)
        return url
    conn = await asyncpg.connect(servers.postgres_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return with_database(servers.postgres_url, name)


async def _pool(url: str) -> Any:
    return await create_pool(Settings(service="journal", database_url=url), role=DB_ROLE)


@pytest.fixture
async def seeded(servers: Servers) -> AsyncIterator[Any]:
    """Make twin journals after seeding the first with `seed(pool)`."""
    made: list[tuple[str, Any]] = []

    async def twins(seed: Any) -> Twins:
        first = await _journal_database(servers)
        pool = await _pool(first)
        await seed(pool)
        await pool.close()
        await _clear_outbox(first)
        second = await _journal_database(servers, template=database_name(first))
        journals = []
        for url in (first, second):
            pool = await _pool(url)
            made.append((url, pool))
            journals.append(Journal(url, pool))
        return Twins(*journals)

    yield twins
    for url, pool in made:
        await pool.close()
        await drop_database(servers.postgres_url, database_name(url))


async def _clear_outbox(url: str) -> None:
    """What the seed announced is not what the tests compare."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM hr.journal_outbox")
    finally:
        await conn.close()


# ---------------------------------------------------------------- events


@pytest.fixture
def a_kpi(assignment: Any) -> Callable[..., events.ScoringParameters]:
    """A staff KPI's scoring parameters as assignment makes them, assigned at T0."""

    def make(staff_id: uuid.UUID, **overrides: Any) -> events.ScoringParameters:
        kpi: events.ScoringParameters = assignment.kpi(staff_id, **{"assigned_at": T0} | overrides)
        return kpi

    return make


def revised(kpi: events.ScoringParameters, **changes: Any) -> events.ScoringParameters:
    """The same KPI with some parameters changed."""
    return msgspec.structs.replace(kpi, **changes)


def assigned(*kpis: events.ScoringParameters) -> events.KpisAssigned:
    """KpisAssigned for one person."""
    return events.KpisAssigned(staff_id=kpis[0].staff_id, cause="contract_created", kpis=list(kpis))


def changed(
    kpi: events.ScoringParameters, status: KpiStatus, at: datetime, reason: str = "Role changed"
) -> events.KpiStatusChanged:
    """KpiStatusChanged for one KPI."""
    change = events.KpiStatusChange(
        staff_kpi_id=kpi.staff_kpi_id, status=status, reason=reason, changed_at=at, parameters=kpi
    )
    return events.KpiStatusChanged(staff_id=kpi.staff_id, cause="manual", changes=[change])


def delivered(*evts: events.AssignmentEvent) -> list[Item]:
    """Deliveries of events, each with a correlation id of its own."""
    return [
        (e, Delivery(message_id=str(e.event_id), correlation_id=f"corr-{i}", redelivered=False))
        for i, e in enumerate(evts)
    ]


async def score(pool: Any, kpi: events.ScoringParameters, entry_type: str, **numbers: Any) -> None:
    """Append a scoring entry as a manager would."""
    data = JournalEntryCreate(
        entry_type=JournalEntryType(entry_type), title="Scored", content="", **numbers
    )
    await handlers.append_entry(
        pool, OUTBOX, kpi.staff_id, kpi.staff_kpi_id, data, actor="manager", staff_only=False
    )


# ---------------------------------------------------------------- the tests


async def test_a_batch_journals_exactly_what_one_by_one_journals(seeded: Any, a_kpi: Any):
    scored = a_kpi(uuid.uuid4())
    other = a_kpi(scored.staff_id, module_name="Teamwork")
    seed_event = assigned(scored, other)

    async def seed(pool: Any) -> None:
        await record(pool, seed_event)
        await score(pool, scored, "score_update", score=80.0)
        await score(pool, scored, "effort_recognition", effort_score=100.0)

    twins = await seeded(seed)
    newcomer = uuid.uuid4()
    fresh, named_twice = a_kpi(newcomer), a_kpi(newcomer)
    never_assigned = a_kpi(uuid.uuid4())
    heavier = changed(revised(scored, effort_weight=0.3), KpiStatus.ACTIVE, T0 + timedelta(days=3))
    items = delivered(
        assigned(fresh, named_twice, revised(named_twice, module_name="Named twice")),
        changed(fresh, KpiStatus.INACTIVE, T0 + timedelta(days=1)),
        heavier,
        changed(scored, KpiStatus.INACTIVE, T0 + timedelta(days=2), "late, older news"),
        heavier,
        seed_event,
        changed(other, KpiStatus.INACTIVE, T0 + timedelta(days=4)),
        changed(never_assigned, KpiStatus.INACTIVE, T0 + timedelta(days=5)),
    )

    expected = [True, True, True, True, False, False, True, True]
    assert await twins.one_by_one.one_by_one(items) == expected
    assert await twins.batched.batch(items) == expected
    batched = await twins.batched.state()
    assert batched == await twins.one_by_one.state()

    titles = [(e["staff_kpi_id"], e["sequence"], e["title"]) for e in batched["entries"]]
    assert (fresh.staff_kpi_id, 2, "KPI deactivated: Attendance & Reliability") in titles
    assert (named_twice.staff_kpi_id, 1, "KPI assigned: Named twice") in titles
    assert (scored.staff_kpi_id, 5, "KPI deactivated: Attendance & Reliability") in titles
    [rescored] = batched["queued"]
    assert rescored[0] == "journal.score_recomputed"
    assert json.loads(rescored[1])["current_score"] == 86.0
    assert json.loads(rescored[2]) == {"x-correlation-id": "corr-2"}  # heavier's own delivery
    by_id = {k["staff_kpi_id"]: k for k in batched["kpis"]}
    assert by_id[scored.staff_kpi_id]["status"] == "active"  # the late older news did not win
    assert by_id[scored.staff_kpi_id]["effort_weight"] == Decimal("0.3")


async def test_a_redelivery_inside_a_batch_is_journaled_once(seeded: Any, a_kpi: Any):
    async def nothing(_: Any) -> None:
        return None

    twins = await seeded(nothing)
    kpis = [a_kpi(uuid.uuid4()) for _ in range(3)]
    event = assigned(*kpis)
    items = delivered(event, event, event)

    assert await twins.batched.batch(items) == [True, False, False]
    state = await twins.batched.state()
    assert [e["staff_kpi_id"] for e in state["entries"]] == sorted(k.staff_kpi_id for k in kpis)
    assert state["inbox"] == [event.event_id]
    assert await twins.batched.batch(items) == [False, False, False]
    assert await twins.batched.state() == state


async def test_two_events_for_one_kpi_in_a_batch_are_journaled_in_turn(seeded: Any, a_kpi: Any):
    known = a_kpi(uuid.uuid4())

    async def seed(pool: Any) -> None:
        await record(pool, assigned(known))

    twins = await seeded(seed)
    new = a_kpi(uuid.uuid4())
    items = delivered(
        assigned(new),
        changed(new, KpiStatus.INACTIVE, T0 + timedelta(days=1), "Contract ended"),
        changed(known, KpiStatus.INACTIVE, T0 + timedelta(days=1), "Moved"),
        changed(known, KpiStatus.ACTIVE, T0 + timedelta(days=2), "Back"),
    )

    assert await twins.batched.batch(items) == [True] * 4
    state = await twins.batched.state()
    assert state == await _applied_one_by_one(twins, items)
    journal = [
        (e["staff_kpi_id"], e["sequence"], e["title"].split(":")[0]) for e in state["entries"]
    ]
    assert sorted(journal) == sorted(
        [
            (new.staff_kpi_id, 1, "KPI assigned"),
            (new.staff_kpi_id, 2, "KPI deactivated"),
            (known.staff_kpi_id, 1, "KPI assigned"),
            (known.staff_kpi_id, 2, "KPI deactivated"),
            (known.staff_kpi_id, 3, "KPI reactivated"),
        ]
    )
    by_id = {k["staff_kpi_id"]: k for k in state["kpis"]}
    assert (by_id[new.staff_kpi_id]["status"], by_id[new.staff_kpi_id]["sequence"]) == (
        "inactive",
        2,
    )
    assert (by_id[known.staff_kpi_id]["status"], by_id[known.staff_kpi_id]["sequence"]) == (
        "active",
        3,
    )


async def _applied_one_by_one(twins: Twins, items: Sequence[Item]) -> dict[str, Any]:
    await twins.one_by_one.one_by_one(items)
    return await twins.one_by_one.state()


async def test_news_of_a_kpi_partly_journaled_already_leaves_the_batch_to_one_by_one(
    seeded: Any, a_kpi: Any
):
    kpi = a_kpi(uuid.uuid4())
    first = assigned(kpi)

    async def seed(pool: Any) -> None:
        await record(pool, first)
        # The inbox row is lost, the entry stays: the entries' own guard must hold.
        async with pool.acquire() as conn:
            await conn.execute("RESET ROLE")
            await conn.execute("DELETE FROM hr.journal_inbox")

    twins = await seeded(seed)
    items = delivered(first, changed(kpi, KpiStatus.INACTIVE, T0 + timedelta(days=1)))
    before = await twins.batched.state()

    with pytest.raises(news.NewsTwiceOver):
        await twins.batched.batch(items)
    assert await twins.batched.state() == before  # rolled back whole
    assert await twins.batched.one_by_one(items) == [True, True]
    state = await twins.batched.state()
    assert [e["sequence"] for e in state["entries"]] == [1, 2]
