"""The service pool: a connection comes back as it was made, whatever its last user did."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from kpi_kit.db import create_pool
from kpi_kit.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_transaction_left_open_is_rolled_back_on_release(
    settings_for: Callable[[str], Settings],
) -> None:
    pool = await create_pool(settings_for("catalog"))
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS pool_probe (n int)")
            tx = conn.transaction()
            await tx.start()
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
            backend = await conn.fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == backend
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
    finally:
        await pool.close()


async def test_transaction_scoped_locks_and_settings_do_not_outlive_their_transaction(
    settings_for: Callable[[str], Settings],
) -> None:
    pool = await create_pool(settings_for("catalog"))
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(4242)")
            await conn.execute("SET LOCAL statement_timeout = '1234ms'")
        async with pool.acquire() as conn:
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
            )
            assert held == 0
            assert await conn.fetchval("SHOW statement_timeout") != "1234ms"
    finally:
        await pool.close()


async def test_the_role_set_at_connect_stays_across_uses(
    settings_for: Callable[[str], Settings],
) -> None:
    pool = await create_pool(settings_for("catalog"), role="pg_read_all_data")
    try:
        try:
            async with pool.acquire():
                pass
        except asyncpg.InsufficientPrivilegeError:
            pytest.skip("the test login may not SET ROLE pg_read_all_data")
        for _ in range(3):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT current_user") == "pg_read_all_data"
    finally:
        await pool.close()
