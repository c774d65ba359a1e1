"""The migration runner: plain SQL files applied in name order, once, under an advisory lock.

A file named `*.repeatable.sql` is applied again on every run, after the others, and is not
recorded: it holds statements that must converge on what the server has now (grants to a role a
DBA may create after the first migration), so it must be idempotent.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from kpi_kit.outbox import inbox_age_index_sql, inline_bodies_sql, tables_sql

log = logging.getLogger(__name__)

# One lock for every service: two services migrating one database at once queue up behind it.
MIGRATION_LOCK_KEY = 0x6B70695F6D6967  # "kpi_mig"
REPEATABLE_SUFFIX = ".repeatable.sql"

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS hr;
CREATE TABLE IF NOT EXISTS hr.schema_migrations (
    service    text        NOT NULL,
    filename   text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, filename)
);
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file of a service."""

    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text, to notice an applied file that was edited."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationChanged(RuntimeError):
    """An already-applied migration file was edited: write a new file instead."""


def load_migrations(directory: Path, *, repeatable: bool = False) -> list[Migration]:
    """The `.sql` files of a directory in name order: the versioned ones, or the repeatable."""
    return [
        Migration(path.name, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.sql"))
        if path.name.endswith(REPEATABLE_SUFFIX) == repeatable
    ]


async def apply_migrations(dsn: str, service: str, directory: Path) -> list[str]:
    """Apply the service's pending migrations; returns the names applied (idempotent)."""
    conn = await asyncpg.connect(dsn)
    conn.add_log_listener(_pass_on_warnings)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            kit = [
                Migration("00000000_kit_outbox_inbox.sql", tables_sql(service)),
                Migration("00000001_kit_outbox_inline_bodies.sql", inline_bodies_sql(service)),
                Migration("00000002_kit_inbox_age_index.sql", inbox_age_index_sql(service)),
            ]
            done = await _apply_locked(conn, service, [*kit, *load_migrations(directory)])
            await _apply_repeatable(conn, service, load_migrations(directory, repeatable=True))
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_locked(
    conn: asyncpg.Connection, service: str, migrations: list[Migration]
) -> list[str]:
    await conn.execute(_BOOTSTRAP)
    rows = await conn.fetch(
        "SELECT filename, checksum FROM hr.schema_migrations WHERE service = $1", service
    )
    applied = {row["filename"]: row["checksum"] for row in rows}
    done: list[str] = []
    for migration in migrations:
        if migration.filename in applied:
            if applied[migration.filename] != migration.checksum:
                raise MigrationChanged(
                    f"{service}/{migration.filename} was edited after it was applied"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO hr.schema_migrations (service, filename, checksum) "
                "VALUES ($1, $2, $3)",
                service,
                migration.filename,
                migration.checksum,
            )
        log.info("applied migration %s/%s", service, migration.filename)
        done.append(migration.filename)
    return done


def _pass_on_warnings(_: object, message: asyncpg.PostgresLogMessage) -> None:
    # asyncpg drops what the server says unless it is listened for; a migration's WARNING (a role
    # missing for the journal's grants) must reach whoever runs `kpi migrate`. NOTICEs ("already
    # exists, skipping") are noise.
    if message.sqlstate.startswith("01"):  # class 01: warning (RAISE WARNING is 01000)
        log.warning("migration: %s", message.message)


async def _apply_repeatable(
    conn: asyncpg.Connection, service: str, migrations: list[Migration]
) -> None:
    for migration in migrations:
        async with conn.transaction():
            await conn.execute(migration.sql)
        log.debug("re-applied %s/%s", service, migration.filename)
