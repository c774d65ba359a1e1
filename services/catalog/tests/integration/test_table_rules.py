"""Rules hr.kpi_modules keeps itself, so that a row written by hand still travels in events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from kpi_contracts.enums import AutomationLevel
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient

pytestmark = pytest.mark.integration

LEVELS = [
    "manual",
    "semi_automated",
    "Partly, from rosters",
    "x" * 50,
    "x" * 51,
    "",
    " manual",
    "manual ",
    "manual\n",
    "semi\tautomated",
    "\u00a0manual",
    "manual\u202f",
    "semi\x85automated",
]


@pytest.fixture
async def conn_in_a_rolled_back_transaction(
    catalog: ServiceClient, catalog_settings: Settings
) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(catalog_settings.database_url)
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield conn
    finally:
        await transaction.rollback()
        await conn.close()


def events_carry(level: str) -> bool:
    try:
        msgspec.convert(level, AutomationLevel)
    except msgspec.ValidationError:
        return False
    return True


async def table_takes(conn: asyncpg.Connection, level: str) -> bool:
    try:
        async with conn.transaction():  # a savepoint: a refused level leaves the rest usable
            await conn.execute(
                "UPDATE hr.kpi_modules SET automation_status = $1"
                " WHERE id = (SELECT id FROM hr.kpi_modules ORDER BY slug LIMIT 1)",
                level,
            )
    except asyncpg.CheckViolationError:
        return False
    return True


async def test_the_table_takes_exactly_the_automation_levels_events_carry(
    conn_in_a_rolled_back_transaction: asyncpg.Connection,
) -> None:
    conn = conn_in_a_rolled_back_transaction
    taken = {level: await table_takes(conn, level) for level in LEVELS}
    assert taken == {level: events_carry(level) for level in LEVELS}
    assert taken["semi_automated"] and not taken["manual "]
