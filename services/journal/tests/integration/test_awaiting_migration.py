"""The migration that lists the entries awaiting a decision fills the list from the journal."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from journal.app import definition
from kpi_kit.migrations import apply_migrations
from kpi_kit.testing.servers import Servers, create_database, drop_database, unique_name

pytestmark = pytest.mark.integration

AWAITING_MIGRATION = "20261215_journal_pending_entries.sql"


@pytest.fixture
async def database(servers: Servers) -> AsyncIterator[str]:
    name = unique_name("kpi_test_awaiting")
    yield await create_database(servers.postgres_url, name)
    await drop_database(servers.postgres_url, name)


async def a_journal_before_the_list(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    """One KPI's journal as it stood before: an entry still pending, one decided, a plain one."""
    kpi, staff = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO hr.journal_kpis (staff_kpi_id, staff_id, kpi_module_id, module_name, source,"
        " score_type, target_score, minimum_score, effort_weight, evaluation_frequency, status,"
        " assigned_at, status_changed_at, sequence)"
        " VALUES ($1, $2, $3, 'Attendance & Reliability', 'template', 'percentage', 90, 70, 0.2,"
        " 'monthly', 'active', now(), now(), 4)",
        kpi,
        staff,
        uuid.uuid4(),
    )
    ids = {name: uuid.uuid4() for name in ("waiting", "decided", "plain", "decision")}
    rows = [
        (ids["waiting"], 1, "self_reflection", True, None),
        (ids["decided"], 2, "score_update", True, None),
        (ids["plain"], 3, "observation", False, None),
        (ids["decision"], 4, "approval_declined", False, ids["decided"]),
    ]
    for entry_id, sequence, entry_type, pending, related in rows:
        await conn.execute(
            "INSERT INTO hr.kpi_journal_entries (id, staff_kpi_id, staff_id, sequence, entry_type,"
            " title, is_pending_approval, related_entry_id)"
            " VALUES ($1, $2, $3, $4, $5, 'An entry', $6, $7)",
            entry_id,
            kpi,
            staff,
            sequence,
            entry_type,
            pending,
            related,
        )
    return ids


async def test_the_migration_lists_the_entries_still_awaiting_a_decision(
    database: str, tmp_path: Path
):
    migrations = definition().migrations
    before = sorted(p for p in migrations.glob("2*.sql") if p.name < AWAITING_MIGRATION)
    for path in before:
        shutil.copy(path, tmp_path / path.name)
    await apply_migrations(database, "journal", tmp_path)
    conn = await asyncpg.connect(database)
    try:
        ids = await a_journal_before_the_list(conn)
        await apply_migrations(database, "journal", migrations)
        listed = await conn.fetch("SELECT entry_id FROM hr.journal_pending_entries")
    finally:
        await conn.close()
    assert [row["entry_id"] for row in listed] == [ids["waiting"]]
