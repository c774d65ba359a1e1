"""A worker forgets the events it applied once they are past the retention: the inbox answers
redeliveries, which come within minutes, and would otherwise grow by a row per event for ever."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import msgspec
import pytest

from kpi_kit.db import create_pool
from kpi_kit.outbox import Outbox, prune_inbox
from kpi_kit.service import ServiceDefinition, keep_the_inbox_pruned
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import eventually, migrate, running

pytestmark = pytest.mark.integration

DEFINITION = ServiceDefinition(
    name="pruneprobe", migrations=Path(__file__).parent / "no-migrations"
)


async def processed(conn: asyncpg.Connection, days_ago: int, count: int) -> set[uuid.UUID]:
    """Record `count` events in the inbox as applied `days_ago` days ago."""
    ids = {uuid.uuid4() for _ in range(count)}
    await conn.execute(
        "INSERT INTO hr.pruneprobe_inbox (consumer, event_id, processed_at) "
        "SELECT 'probe', unnest($1::uuid[]), now() - make_interval(days => $2)",
        list(ids),
        days_ago,
    )
    return ids


async def kept(conn: asyncpg.Connection) -> set[uuid.UUID]:
    return {r["event_id"] for r in await conn.fetch("SELECT event_id FROM hr.pruneprobe_inbox")}


@pytest.fixture
async def settings(database_url: str, amqp_url: str) -> Settings:
    settings = Settings(service="pruneprobe", database_url=database_url, amqp_url=amqp_url)
    await migrate(DEFINITION, settings)
    return settings


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE hr.pruneprobe_inbox")
    yield conn
    await conn.close()


async def test_rows_past_the_retention_go_in_batches_and_the_rest_stay(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await processed(db, days_ago=45, count=5)
    recent = await processed(db, days_ago=29, count=3) | await processed(db, 0, count=2)
    pool = await create_pool(settings)
    try:
        # Batches of two: five old rows take three rounds, the last one short.
        assert await prune_inbox(pool, Outbox("pruneprobe"), timedelta(days=30), batch=2) == 5
        assert await prune_inbox(pool, Outbox("pruneprobe"), timedelta(days=30), batch=2) == 0
    finally:
        await pool.close()
    assert await kept(db) == recent


async def test_a_worker_prunes_at_start_unless_told_to_keep_for_ever(
    settings: Settings, db: asyncpg.Connection
) -> None:
    old = await processed(db, days_ago=8, count=3)
    forever = msgspec.structs.replace(settings, inbox_retention_days=0)
    async with running(DEFINITION, forever, "worker") as client:
        # Its pruning task ends at once and leaves every row (0 days would be "all of them").
        await asyncio.wait_for(keep_the_inbox_pruned(client.app.state.runtime), timeout=5)
    assert await kept(db) == old

    week = msgspec.structs.replace(settings, inbox_retention_days=7)
    async with running(DEFINITION, week, "worker"):
        await eventually(lambda: nothing_kept(db), timeout=10)


async def nothing_kept(db: asyncpg.Connection) -> bool:
    return not await kept(db)
