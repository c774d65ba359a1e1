"""The outbox's doorbell: the relay learns of committed events at once, from the commit itself in
its own process or by a NOTIFY after the commit from another, and a transaction that queues
events never notifies (PostgreSQL serializes the commits of notifying transactions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import asyncpg
import pytest

from kpi_contracts import events
from kpi_kit.db import Pool, create_pool
from kpi_kit.outbox import Doorbell, Outbox, OutboxMessage, OutboxRelay, tables_sql, unit_of_work
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import eventually

# ---------------------------------------------------------------- the doorbell alone


class SlowPool:
    """Stands in for a pool whose statements wait until released, recording each."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, ...]] = []
        self.release = asyncio.Event()

    async def execute(self, *args: Any) -> str:
        self.statements.append(args)
        await self.release.wait()
        return "SELECT 1"


def slow_pool() -> tuple[SlowPool, Pool]:
    fake = SlowPool()
    return fake, cast(Pool, fake)


async def test_a_doorbell_in_the_relays_process_wakes_it_directly() -> None:
    rung: list[bool] = []
    fake, pool = slow_pool()
    bell = Doorbell("kpi_outbox_probe")
    bell.attach(pool, lambda: rung.append(True))
    bell.ring()
    bell.ring()
    assert rung == [True, True]
    assert fake.statements == []  # no NOTIFY: nobody else needs waking


async def test_rings_while_a_notify_is_out_are_answered_by_one_more() -> None:
    fake, pool = slow_pool()
    bell = Doorbell("kpi_outbox_probe")
    bell.attach(pool, None)
    bell.ring()
    await asyncio.sleep(0)
    for _ in range(5):
        bell.ring()
    fake.release.set()
    await bell.detach()
    assert fake.statements == [("SELECT pg_notify($1, '')", "kpi_outbox_probe")] * 2


async def test_a_detached_doorbell_rings_nobody() -> None:
    rung: list[bool] = []
    fake, pool = slow_pool()
    bell = Doorbell("kpi_outbox_probe")
    bell.attach(pool, lambda: rung.append(True))
    await bell.detach()  # the service is stopping: its relay and pool are going
    bell.ring()  # a command or a late commit: the relay's poll finds the rows
    assert rung == []
    assert fake.statements == []


# ---------------------------------------------------------------- on the real database


@pytest.fixture
async def probe(settings_for: Callable[[str], Settings]) -> AsyncIterator[tuple[Pool, Outbox]]:
    """A pool and an outbox of a service of this test's own."""
    service = f"bell{uuid.uuid4().hex[:10]}"
    pool = await create_pool(settings_for(service))
    await pool.execute(tables_sql(service))
    try:
        yield pool, Outbox(service)
    finally:
        await pool.execute(f"DROP TABLE hr.{service}_outbox, hr.{service}_inbox")
        await pool.close()


class Relayed:
    """A relay that only ever polls once an hour, and what it has published."""

    def __init__(self, pool: Pool, dsn: str, outbox: Outbox) -> None:
        self.messages: list[OutboxMessage] = []
        self.relay = OutboxRelay(pool, dsn, outbox, self._publish, poll_every=3600.0)

    async def _publish(self, message: OutboxMessage) -> None:
        self.messages.append(message)

    async def published(self, event_id: uuid.UUID) -> bool:
        return any(m.event_id == event_id for m in self.messages)


async def listening(pool: Pool, channel: str) -> bool:
    """Whether a session has run LISTEN on `channel` (asyncpg quotes the name)."""
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query = $1)", f'LISTEN "{channel}"'
        )
    )


@pytest.fixture
async def relayed(probe: tuple[Pool, Outbox], database_url: str) -> AsyncIterator[Relayed]:
    pool, outbox = probe
    relayed = Relayed(pool, database_url, outbox)
    task = asyncio.create_task(relayed.relay.run())
    await eventually(lambda: listening(pool, outbox.channel))  # else a NOTIFY would be missed
    yield relayed
    relayed.relay.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def an_event() -> events.CatalogSnapshotRequested:
    return events.CatalogSnapshotRequested(requested_by="doorbell-probe")


@pytest.mark.integration
async def test_a_commit_wakes_the_relay_of_its_own_process(
    probe: tuple[Pool, Outbox], relayed: Relayed
) -> None:
    pool, outbox = probe
    outbox.doorbell.attach(pool, relayed.relay.wake)
    event = an_event()
    async with unit_of_work(pool, outbox) as uow:
        await uow.publish([event])
    await eventually(lambda: relayed.published(event.event_id))  # long before the hourly poll


@pytest.mark.integration
async def test_a_commit_in_an_api_only_process_wakes_a_relay_elsewhere(
    probe: tuple[Pool, Outbox], relayed: Relayed
) -> None:
    pool, outbox = probe
    api_only = Outbox(outbox.service)  # another process's outbox: its doorbell has no relay
    api_only.doorbell.attach(pool, None)
    event = an_event()
    async with unit_of_work(pool, api_only) as uow:
        await uow.publish([event])
    await eventually(lambda: relayed.published(event.event_id))
    await api_only.doorbell.detach()


@pytest.mark.integration
async def test_a_rolled_back_unit_of_work_rings_nobody(probe: tuple[Pool, Outbox]) -> None:
    pool, outbox = probe
    rung: list[bool] = []
    outbox.doorbell.attach(pool, lambda: rung.append(True))

    async def failing_use_case() -> None:
        async with unit_of_work(pool, outbox) as uow:
            await uow.publish([an_event()])
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert rung == []
    assert await pool.fetchval(f"SELECT count(*) FROM {outbox.table}") == 0


@pytest.mark.integration
async def test_the_transaction_that_queues_events_sends_no_notify(
    probe: tuple[Pool, Outbox], database_url: str
) -> None:
    pool, outbox = probe
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(outbox.channel, lambda *args: heard.put_nowait(args[3]))
        async with unit_of_work(pool, outbox) as uow:  # its doorbell is not attached
            await uow.publish([an_event()])
        # Notifications arrive in commit order: once this one is heard, an earlier one would
        # have been heard before it.
        await pool.execute("SELECT pg_notify($1, 'after the commit')", outbox.channel)
        assert await asyncio.wait_for(heard.get(), timeout=10) == "after the commit"
    finally:
        await listener.close()
