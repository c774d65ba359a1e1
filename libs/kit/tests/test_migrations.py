"""The migration runner applies each file once, in order, even when services start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from kpi_kit.migrations import MigrationChanged, apply_migrations

pytestmark = pytest.mark.integration


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    (tmp_path / "20260101_first.sql").write_text(
        "CREATE TABLE hr.runner_probe_{name} (id int PRIMARY KEY);"
    )
    (tmp_path / "20260102_second.sql").write_text("INSERT INTO hr.runner_probe_{name} VALUES (1);")
    return tmp_path


def _named(directory: Path, name: str) -> Path:
    for path in directory.glob("*.sql"):
        path.write_text(path.read_text().replace("{name}", name))
    return directory


async def test_applying_twice_changes_nothing(database_url: str, migrations: Path) -> None:
    directory = _named(migrations, "twice")
    first = await apply_migrations(database_url, "probe_twice", directory)
    second = await apply_migrations(database_url, "probe_twice", directory)
    assert first == [
        "00000000_kit_outbox_inbox.sql",
        "00000001_kit_outbox_inline_bodies.sql",
        "00000002_kit_inbox_age_index.sql",
        "20260101_first.sql",
        "20260102_second.sql",
    ]
    assert second == []


async def test_an_outbox_keeps_event_bodies_of_up_to_a_page_in_its_row(
    database_url: str, migrations: Path
) -> None:
    await apply_migrations(database_url, "probe_inline", _named(migrations, "inline"))
    conn = await asyncpg.connect(database_url)
    try:
        body = bytes(range(256)) * 24  # 6 kB that pglz would compress, TOAST would move out
        await conn.execute(
            "INSERT INTO hr.probe_inline_outbox (event_id, exchange, routing_key, body) "
            "VALUES (gen_random_uuid(), 'x', 'y', $1)",
            body,
        )
        stored = await conn.fetchval("SELECT pg_column_size(body) FROM hr.probe_inline_outbox")
        toasted = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid "
            "WHERE c.relname = 'probe_inline_outbox' AND pg_relation_size(t.oid) > 0"
        )
    finally:
        await conn.close()
    assert stored >= len(body)  # not compressed
    assert toasted == 0  # not moved out of line


async def test_concurrent_runners_apply_each_file_once(database_url: str, migrations: Path) -> None:
    directory = _named(migrations, "race")
    results = await asyncio.gather(
        *(apply_migrations(database_url, "probe_race", directory) for _ in range(4))
    )
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(set(applied))
    assert len(applied) == 5  # the kit's three files and the directory's two, once each
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM hr.runner_probe_race") == 1
    finally:
        await conn.close()


async def test_an_edited_applied_file_is_refused(database_url: str, migrations: Path) -> None:
    directory = _named(migrations, "edited")
    await apply_migrations(database_url, "probe_edited", directory)
    (directory / "20260102_second.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationChanged):
        await apply_migrations(database_url, "probe_edited", directory)


async def test_a_repeatable_file_runs_on_every_run_unrecorded(
    database_url: str, migrations: Path
) -> None:
    # Sorted by name it comes first; it must still run after the versioned files it builds on.
    (migrations / "00_grants.repeatable.sql").write_text(
        "INSERT INTO hr.runner_probe_{name} SELECT coalesce(max(id), 0) + 1 "
        "FROM hr.runner_probe_{name};"
    )
    directory = _named(migrations, "repeat")
    first = await apply_migrations(database_url, "probe_repeat", directory)
    second = await apply_migrations(database_url, "probe_repeat", directory)
    assert "00_grants.repeatable.sql" not in first
    assert second == []
    conn = await asyncpg.connect(database_url)
    try:
        # 1 from 20260102_second.sql, then one more per run
        assert await conn.fetchval("SELECT count(*) FROM hr.runner_probe_repeat") == 3
    finally:
        await conn.close()


async def test_a_migrations_warning_reaches_the_log(
    database_url: str, migrations: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (migrations / "grants.repeatable.sql").write_text(
        "DO $$ BEGIN RAISE WARNING 'role probe_app does not exist'; END $$;"
        "DO $$ BEGIN RAISE NOTICE 'relation exists, skipping'; END $$;"
    )
    with caplog.at_level("INFO", logger="kpi_kit.migrations"):
        await apply_migrations(database_url, "probe_warn", _named(migrations, "warn"))
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == ["migration: role probe_app does not exist"]
