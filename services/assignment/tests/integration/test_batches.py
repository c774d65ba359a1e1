"""Lifecycle events and scores applied in batches leave what applying them one by one leaves.

The handlers are driven directly, on the running service's pool, with an outbox of their own that
no relay empties, so that what they announce can be read back with its headers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from assignment import handlers, queries, records
from assignment.handlers import CatalogBehind, CatalogueCache, ReplicaGate
from assignment.schemas import StaffKpiCreate
from assignment.views import ModuleViews
from kpi_contracts import events
from kpi_contracts.enums import GrowthStatus, RoleGroup, ScoreTrend
from kpi_kit.consuming import Delivery
from kpi_kit.db import Pool
from kpi_kit.outbox import Outbox, tables_sql
from kpi_kit.testing.harness import eventually

pytestmark = pytest.mark.integration

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# The columns of hr.staff_kpis a person's history decides (ids and write times left out).
DECIDED = """
    kpi_module_id, contract_id, status, source, is_required, custom_target, target_score,
    minimum_score, effort_weight, assigned_at, next_evaluation_due, deactivated_at,
    deactivation_reason
"""

LifecycleItem = tuple[events.LifecycleEvent, Delivery]
# A person's story: the events applied before the batch, and the events of the batch.
Story = Callable[[uuid.UUID], tuple[list[events.LifecycleEvent], list[events.LifecycleEvent]]]


@pytest.fixture(scope="session")
async def outbox(db: asyncpg.Pool) -> Outbox:
    box = Outbox("assignment_batch_test")
    await db.execute(tables_sql(box.service))
    return box


@pytest.fixture
def pool(assignment: Any) -> Pool:
    runtime_pool: Pool = assignment.app.state.runtime.pool
    return runtime_pool


GATE = ReplicaGate(quiet=0)


def delivered(event: events.LifecycleEvent) -> LifecycleItem:
    return event, Delivery(message_id=None, correlation_id=f"c-{uuid.uuid4()}", redelivered=False)


async def one_by_one(pool: Pool, outbox: Outbox, items: list[LifecycleItem]) -> list[bool]:
    return [
        await handlers.apply_lifecycle_event(pool, outbox, GATE, event, delivery)
        for event, delivery in items
    ]


async def records_of(db: asyncpg.Pool, staff_id: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        f"SELECT {DECIDED} FROM hr.staff_kpis WHERE staff_id = $1 ORDER BY kpi_module_id",
        staff_id,
    )
    return [tuple(row) for row in rows]


async def announced(db: asyncpg.Pool, outbox: Outbox) -> dict[str, list[dict[str, Any]]]:
    """Every event the handlers queued, per person in order, each with its headers."""
    rows = await db.fetch(f"SELECT body, headers FROM {outbox.table} ORDER BY id")
    said: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        body = json.loads(row["body"])
        said.setdefault(body["staff_id"], []).append(body | {"headers": json.loads(row["headers"])})
    return said


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_ids(v) for k, v in value.items() if k not in ("staff_kpi_id", "staff_id")
        }
    return value


def told(bodies: list[dict[str, Any]], story: list[LifecycleItem]) -> list[Any]:
    """What was announced of a person, comparable with another person told the same story:
    ids left out, lists sorted, the cause as its place in the story. Checks that each event
    carries the correlation id of the delivery that caused it."""
    place = {event.event_id: i for i, (event, _) in enumerate(story)}
    out = []
    for body in bodies:
        cause = place[uuid.UUID(body["cause_event_id"])]
        assert body["headers"] == story[cause][1].headers
        kept = {
            k: v
            for k, v in body.items()
            if k not in ("event_id", "occurred_at", "staff_id", "cause_event_id", "headers")
        }
        for listed in ("kpis", "changes"):
            if listed in kept:
                kept[listed] = sorted(map(_without_ids, kept[listed]), key=json.dumps)
        out.append((cause, kept))
    return out


def retold(staff_id: uuid.UUID, story: list[events.LifecycleEvent]) -> list[Any]:
    """A story told of another person, each event with an id of its own."""
    return [msgspec.structs.replace(e, staff_id=staff_id, event_id=uuid.uuid4()) for e in story]


@pytest.fixture
async def stories(catalogue: Any, templates: Any) -> dict[str, Story]:
    """Histories whose last events come in one batch: in order alone, twice for one person,
    late, an exit, a role change, a rehire."""
    optional = catalogue.optional("support_worker", "percentage")
    template = await templates.create(
        [
            {"kpi_module_id": optional[0], "weight": 2, "is_required": True, "custom_target": 77.5},
            {"kpi_module_id": optional[1], "weight": 1},
        ]
    )
    leader_template = await templates.create(
        [{"kpi_module_id": catalogue.optional("team_leader")[0], "weight": 1}]
    )
    own_defaults = [
        m for m in catalogue.defaults("support_worker") if m not in catalogue.universal()
    ]
    selection = events.KpiSelection(
        excluded_module_ids=[uuid.UUID(own_defaults[0])],
        added_module_ids=[uuid.UUID(catalogue.optional("registered_nurse")[0])],
    )
    contracts = [uuid.uuid4() for _ in range(3)]

    def hired(staff: uuid.UUID, at: datetime, contract: int = 0, **more: Any) -> Any:
        fields = {"template_id": template, "role_group": RoleGroup.SUPPORT_WORKER} | more
        return events.ContractCreated(
            staff_id=staff, contract_id=contracts[contract], occurred_at=at, **fields
        )

    def moved(staff: uuid.UUID, at: datetime) -> events.RoleChanged:
        return events.RoleChanged(
            staff_id=staff,
            from_role_group=RoleGroup.SUPPORT_WORKER,
            to_role_group=RoleGroup.TEAM_LEADER,
            template_id=leader_template,
            occurred_at=at,
        )

    def exited(staff: uuid.UUID, at: datetime) -> events.StaffExited:
        return events.StaffExited(staff_id=staff, occurred_at=at, reason="moved away")

    return {
        "hired": lambda s: ([], [hired(s, T0, kpi_selection=selection)]),
        "hired and moved at once": lambda s: ([], [hired(s, T0), moved(s, T0 + DAY)]),
        "a late contract": lambda s: (
            [hired(s, T0 + 5 * DAY, 1, role_group=RoleGroup.TEAM_LEADER)],
            [hired(s, T0, kpi_selection=selection)],
        ),
        "exited": lambda s: ([hired(s, T0)], [exited(s, T0 + 3 * DAY)]),
        "moved": lambda s: ([hired(s, T0)], [moved(s, T0 + DAY)]),
        "rehired": lambda s: (
            [hired(s, T0), exited(s, T0 + DAY)],
            [hired(s, T0 + 2 * DAY, 2, template_id=leader_template)],
        ),
    }


async def test_a_batch_leaves_the_records_and_announcements_of_one_by_one(
    pool, outbox, db, stories
):
    people = {name: (uuid.uuid4(), uuid.uuid4()) for name in stories}  # (batched, one by one)
    told_of: dict[uuid.UUID, list[LifecycleItem]] = {}
    batch: list[LifecycleItem] = []
    by_hand: list[LifecycleItem] = []
    for name, story in stories.items():
        batched, alone = people[name]
        before, then = story(batched)
        told_of[batched] = [delivered(e) for e in (*before, *then)]
        told_of[alone] = [delivered(e) for e in retold(alone, [*before, *then])]
        for staff in (batched, alone):
            assert await one_by_one(pool, outbox, told_of[staff][: len(before)]) == [True] * len(
                before
            )
        batch += told_of[batched][len(before) :]
        by_hand += told_of[alone][len(before) :]
    # The same message twice in the batch, and one applied before the batch.
    batch.insert(1, batch[0])
    by_hand.insert(1, by_hand[0])
    batch.append(told_of[people["exited"][0]][0])
    by_hand.append(told_of[people["exited"][1]][0])

    applied = await handlers.apply_lifecycle_batch(pool, outbox, GATE, CatalogueCache(), batch)
    expected = await one_by_one(pool, outbox, by_hand)

    assert applied == expected == [True, False, *[True] * (len(batch) - 3), False]
    said = await announced(db, outbox)
    for name, (batched, alone) in people.items():
        assert await records_of(db, batched) == await records_of(db, alone), name
        assert await records_of(db, batched), name
        assert told(said[str(batched)], told_of[batched]) == told(
            said[str(alone)], told_of[alone]
        ), name


async def waiting_for_a_lock(holder: asyncpg.Connection, backends: int) -> bool:
    """Whether that many other backends of the database now wait for an advisory lock."""
    waiting = await holder.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND pid <> pg_backend_pid()"
    )
    return bool(waiting == backends)


async def test_two_batches_at_once_on_the_same_people_never_deadlock(pool, outbox, db):
    people = [uuid.uuid4() for _ in range(20)]
    hired = [delivered(a_contract(staff)) for staff in people]
    exits = [
        delivered(events.StaffExited(staff_id=staff, occurred_at=datetime.now(UTC) + DAY))
        for staff in reversed(people)
    ]
    cache = CatalogueCache()
    # Someone holds a few of the people's locks, so that both batches stop midway through theirs.
    async with db.acquire() as holder, holder.transaction():
        for staff in people[::4]:
            await holder.execute(queries.LOCK_PERSON, staff)
        both = asyncio.gather(
            handlers.apply_lifecycle_batch(pool, outbox, GATE, cache, hired),
            handlers.apply_lifecycle_batch(pool, outbox, GATE, cache, exits),
        )
        await eventually(lambda: waiting_for_a_lock(holder, 2))

    assert list(await both) == [[True] * len(people)] * 2
    statuses = await db.fetch(
        "SELECT DISTINCT status FROM hr.staff_kpis WHERE staff_id = ANY($1::uuid[])", people
    )
    assert [row["status"] for row in statuses] == ["inactive"]


async def waiting_for_the_terms_lock(watcher: asyncpg.Connection) -> bool:
    """Whether someone waits for the terms lock (queries.AWAIT_TERMS_READERS) in this database."""
    return bool(
        await watcher.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE d.datname = current_database() AND l.locktype = 'advisory'"
            " AND NOT l.granted AND l.classid = $1 AND l.objid = 0 AND l.objsubid = 2",
            queries.TERMS_LOCK_SPACE,
        )
    )


@pytest.mark.parametrize("path", ["batch", "one event", "a manager's assignment"])
async def test_a_module_edited_while_its_old_terms_are_being_written_still_reaches_its_people(
    pool, outbox, db, modules, monkeypatch, path
):
    module_id = await modules.create(target_score=90)
    staff = uuid.uuid4()
    hired = a_contract(staff, events.KpiSelection(added_module_ids=[uuid.UUID(module_id)]))
    # The event stops after it has read the replica (target 90), before it writes the record.
    has_read, may_write = asyncio.Event(), asyncio.Event()
    applying: Coroutine[Any, Any, object]

    async def once_told(staff_id: uuid.UUID) -> None:
        if staff_id == staff:
            has_read.set()
            await may_write.wait()

    if path == "batch":
        settle_batch = handlers._settle_batch

        async def settle_batch_later(uow: Any, catalogue: Any, items: Any) -> None:
            for event, _ in items:
                await once_told(event.staff_id)
            await settle_batch(uow, catalogue, items)

        monkeypatch.setattr(handlers, "_settle_batch", settle_batch_later)
        applying = handlers.apply_lifecycle_batch(
            pool, outbox, GATE, CatalogueCache(), [delivered(hired)]
        )
    else:
        settle = records.settle

        async def settle_later(uow: Any, step: Any, *rest: Any) -> Any:
            await once_told(step.staff_id)
            return await settle(uow, step, *rest)

        monkeypatch.setattr(records, "settle", settle_later)
        if path == "one event":
            applying = handlers.apply_lifecycle_event(pool, outbox, GATE, *delivered(hired))
        else:  # the manager's transaction reads the terms after LOCK_PERSON
            chosen = StaffKpiCreate(kpi_module_id=uuid.UUID(module_id))
            applying = handlers.assign_manually(
                pool, outbox, ModuleViews(), staff, chosen, actor="manager"
            )
    applied = asyncio.create_task(applying)
    await has_read.wait()

    try:
        await modules.edit(module_id, target_score=85)
        # The service looks for the module's holders only once the event has committed.
        async with db.acquire() as watcher:
            await eventually(lambda: waiting_for_the_terms_lock(watcher))
    finally:
        may_write.set()
    assert await applied not in ([False], False)  # applied (a redelivery would be False)

    async def held_on_the_new_terms() -> bool:
        target = await db.fetchval(
            "SELECT target_score FROM hr.staff_kpis"
            " WHERE staff_id = $1 AND kpi_module_id = $2 AND status = 'active'",
            staff,
            uuid.UUID(module_id),
        )
        return bool(target == 85)

    await eventually(held_on_the_new_terms)


async def test_a_batch_naming_an_unknown_module_raises_and_writes_nothing(pool, outbox, db):
    fine, unknown = uuid.uuid4(), uuid.uuid4()
    batch = [
        delivered(a_contract(fine)),
        delivered(a_contract(unknown, events.KpiSelection(added_module_ids=[uuid.uuid4()]))),
    ]

    with pytest.raises(CatalogBehind):
        await handlers.apply_lifecycle_batch(pool, outbox, GATE, CatalogueCache(), batch)

    assert not await db.fetchval(
        "SELECT count(*) FROM hr.assignment_inbox WHERE event_id = ANY($1::uuid[])",
        [event.event_id for event, _ in batch],
    )
    assert not await records_of(db, fine)


def a_contract(
    staff: uuid.UUID,
    selection: events.KpiSelection | None = None,
    template_id: uuid.UUID | None = None,
) -> events.ContractCreated:
    return events.ContractCreated(
        staff_id=staff,
        contract_id=uuid.uuid4(),
        template_id=template_id or uuid.uuid4(),
        role_group=RoleGroup.SUPPORT_WORKER,
        kpi_selection=selection,
    )


async def test_a_batch_reads_a_template_replaced_since_the_last_batch(
    pool, outbox, db, catalogue, templates
):
    first, second = catalogue.optional("support_worker")[:2]
    template = await templates.create([{"kpi_module_id": first, "weight": 1}])
    cache = CatalogueCache()
    before, after = uuid.uuid4(), uuid.uuid4()
    batch = [delivered(a_contract(before, template_id=template))]
    assert await handlers.apply_lifecycle_batch(pool, outbox, GATE, cache, batch) == [True]

    await templates.replace(template, [{"kpi_module_id": second, "weight": 1}])
    batch = [delivered(a_contract(after, template_id=template))]
    assert await handlers.apply_lifecycle_batch(pool, outbox, GATE, cache, batch) == [True]

    held = {
        staff: {str(row[0]) for row in await records_of(db, staff)} for staff in (before, after)
    }
    assert first in held[before] and second not in held[before]
    assert second in held[after] and first not in held[after]


# ---------------------------------------------------------------- scores


def a_score(kpi: uuid.UUID, staff: uuid.UUID, sequence: int, score: float) -> Any:
    return (
        events.ScoreRecomputed(
            staff_kpi_id=kpi,
            staff_id=staff,
            sequence=sequence,
            current_score=score,
            current_outcome_score=score,
            current_effort_score=score / 2,
            previous_score=1.5,
            score_trend=ScoreTrend.UP,
            trend_percentage=12.5,
            growth_status=GrowthStatus.MEETING,
            last_evaluated_at=T0 + sequence * DAY,
            next_evaluation_due=T0 + (sequence + 30) * DAY,
        ),
        Delivery(message_id=None, correlation_id="c", redelivered=False),
    )


async def test_a_batch_of_scores_keeps_the_highest_sequence_of_each_kpi(pool, outbox, db):
    staff = uuid.uuid4()
    assert await one_by_one(pool, outbox, [delivered(a_contract(staff))]) == [True]
    first, second, third = (
        row["id"]
        for row in await db.fetch(
            "SELECT id FROM hr.staff_kpis WHERE staff_id = $1 ORDER BY id LIMIT 3", staff
        )
    )
    assert await handlers.apply_scores(pool, [a_score(third, staff, 5, 4.0)]) == [True]

    applied = await handlers.apply_scores(
        pool,
        [
            a_score(first, staff, 2, 4.5),
            a_score(first, staff, 1, 3.5),
            a_score(second, staff, 1, 2.0),
            a_score(second, staff, 3, 5.0),
            a_score(second, staff, 3, 1.0),
            a_score(third, staff, 4, 1.0),
        ],
    )

    assert applied == [True, False, False, True, False, False]
    scored = await db.fetch(
        "SELECT id, score_sequence, current_score::float8, current_effort_score::float8,"
        " score_trend, growth_status, last_evaluated_at, next_evaluation_due"
        " FROM hr.staff_kpis WHERE id = ANY($1::uuid[])",
        [first, second, third],
    )
    assert {row["id"]: tuple(row)[1:] for row in scored} == {
        first: (2, 4.5, 2.25, "up", "meeting", T0 + 2 * DAY, T0 + 32 * DAY),
        second: (3, 5.0, 2.5, "up", "meeting", T0 + 3 * DAY, T0 + 33 * DAY),
        third: (5, 4.0, 2.0, "up", "meeting", T0 + 5 * DAY, T0 + 35 * DAY),
    }
