"""The Living Journal is append-only, and PostgreSQL itself enforces it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from journal.app import DB_ROLE, definition
from kpi_kit.broker import make_broker
from kpi_kit.db import create_pool
from kpi_kit.migrations import apply_migrations
from kpi_kit.outbox import Outbox, prune_inbox
from kpi_kit.service import Runtime, runtime_started
from kpi_kit.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def an_entry(assigned: Any, db: asyncpg.Connection) -> uuid.UUID:
    [kpi] = await assigned()
    entry_id: uuid.UUID = await db.fetchval(
        "SELECT id FROM hr.kpi_journal_entries WHERE staff_kpi_id = $1", kpi.staff_kpi_id
    )
    return entry_id


@pytest.fixture
async def as_service(database_url: str, journal: Any) -> AsyncIterator[asyncpg.Connection]:
    """A connection that has assumed the service's role, as the service's pool does."""
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"SET ROLE {DB_ROLE}")
    yield conn
    await conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE hr.kpi_journal_entries SET score_after = 100 WHERE id = $1",
        "DELETE FROM hr.kpi_journal_entries WHERE id = $1",
    ],
)
async def test_the_trigger_refuses_to_rewrite_history_even_for_a_superuser(
    db: asyncpg.Connection, an_entry: uuid.UUID, statement: str
):
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute(statement, an_entry)


@pytest.mark.parametrize(
    "statement",
    ["TRUNCATE hr.kpi_journal_entries", "TRUNCATE hr.journal_kpis CASCADE"],
)
async def test_the_trigger_refuses_truncate_even_by_cascade(
    db: asyncpg.Connection, an_entry: uuid.UUID, statement: str
):
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE hr.kpi_journal_entries SET title = 'rewritten' WHERE id = $1",
        "DELETE FROM hr.kpi_journal_entries WHERE id = $1",
    ],
)
async def test_the_service_role_has_no_right_to_change_or_remove_entries(
    as_service: asyncpg.Connection, an_entry: uuid.UUID, statement: str
):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_service.execute(statement, an_entry)


async def test_the_service_role_may_read_entries(
    as_service: asyncpg.Connection, an_entry: uuid.UUID
):
    found = await as_service.fetchval(
        "SELECT count(*) FROM hr.kpi_journal_entries WHERE id = $1", an_entry
    )
    assert found == 1


async def test_the_running_service_works_as_its_role(journal: Any):
    pool = journal.app.state.runtime.pool
    assert await pool.fetchval("SELECT current_user") == DB_ROLE


async def _current_user(settings: Settings) -> str:
    runtime = Runtime(settings, Outbox("journal"), make_broker(settings))
    async with runtime_started(definition(), runtime, runs_worker=False):
        user: str = await runtime.pool.fetchval("SELECT current_user")
    return user


async def test_the_role_can_be_turned_off_for_a_login_that_may_not_set_role(
    journal_settings: Settings, journal: Any
):
    settings = msgspec.structs.replace(journal_settings, db_role="")
    assert await _current_user(settings) == "postgres"


async def test_migrating_again_changes_nothing(journal_settings: Settings, journal: Any):
    applied = await apply_migrations(
        journal_settings.database_url, "journal", definition().migrations
    )
    assert applied == []


async def test_migrating_again_gives_the_role_grants_it_lacks(
    journal_settings: Settings, journal: Any, db: asyncpg.Connection
):
    # As when the role was created (by the cluster or a DBA) after the first migration.
    await db.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA hr FROM {DB_ROLE}")
    await apply_migrations(journal_settings.database_url, "journal", definition().migrations)
    may_append = await db.fetchval(
        "SELECT has_table_privilege($1, 'hr.kpi_journal_entries', 'INSERT')", DB_ROLE
    )
    assert may_append


async def test_the_role_may_forget_old_inbox_rows(
    journal_settings: Settings, journal: Any, db: asyncpg.Connection
):
    # Workers prune the inbox as the service's role; the entries stay beyond its reach (above).
    event_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO hr.journal_inbox (consumer, event_id, processed_at) "
        "VALUES ('journal.probe', $1, now() - interval '400 days')",
        event_id,
    )
    pool = await create_pool(journal_settings, DB_ROLE)
    try:
        assert await prune_inbox(pool, Outbox("journal"), timedelta(days=365)) >= 1
    finally:
        await pool.close()
    assert not await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM hr.journal_inbox WHERE event_id = $1)", event_id
    )
