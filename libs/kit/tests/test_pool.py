"""The service pool: a connection comes back as it was made, whatever its last user did, and
goes to whoever has waited longest for one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import msgspec
import pytest

from kpi_kit.db import ConnectionSetupFailed, create_pool, is_transient
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


async def _settle() -> None:
    """Let every task that can run get as far as it can (here: to waiting for a connection)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.parametrize("double_releases_before", [0, 3])
async def test_a_released_connection_goes_to_the_longest_waiting_not_to_a_newcomer(
    settings_for: Callable[[str], Settings], double_releases_before: int
) -> None:
    pool = await create_pool(msgspec.structs.replace(settings_for("catalog"), db_pool_max=1))
    served: list[str] = []

    async def use(name: str) -> None:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            served.append(name)

    try:
        for _ in range(double_releases_before):
            # asyncpg ignores a second release; it must not leave a spare place in the line
            conn = await pool.acquire()
            await pool.release(conn)
            await pool.release(conn)
        held = await pool.acquire()
        waiting = asyncio.create_task(use("waiting"))
        await _settle()
        # The connection comes back while newcomers keep arriving, one per turn of the event
        # loop (as requests do under load). asyncpg's own pool let a newcomer that arrived while
        # the connection was on its way to the waiting task take it, and the waiting task queued
        # again behind the other newcomers.
        arrivals = [asyncio.create_task(pool.release(held))]
        for n in range(5):
            arrivals.append(asyncio.create_task(use(f"newcomer {n}")))
            await asyncio.sleep(0)
        await asyncio.gather(waiting, *arrivals)
        assert served == ["waiting"] + [f"newcomer {n}" for n in range(5)]
    finally:
        await pool.close()


async def test_an_acquire_that_times_out_waiting_for_its_turn_gives_no_place_away(
    settings_for: Callable[[str], Settings],
) -> None:
    pool = await create_pool(msgspec.structs.replace(settings_for("catalog"), db_pool_max=1))
    try:
        async with pool.acquire():
            with pytest.raises(TimeoutError):
                await pool.acquire(timeout=0.1)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT 1") == 1
            with pytest.raises(TimeoutError):
                await pool.acquire(timeout=0.1)
    finally:
        await pool.close()


async def test_a_connection_that_cannot_assume_its_role_is_a_fault_to_wait_out(
    settings_for: Callable[[str], Settings],
) -> None:
    # A role not yet created or granted is the deployment's fault: work waits (a consumer keeps
    # its message) instead of being given up on as a bad message.
    pool = await create_pool(settings_for("catalog"), role="kpi_no_such_role")
    try:
        with pytest.raises(ConnectionSetupFailed) as refused:
            await pool.fetchval("SELECT 1")
        assert is_transient(refused.value)
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("fault", "transient"),
    [
        (asyncpg.exceptions.InterfaceError("connection is closed"), True),
        (asyncpg.exceptions.InterfaceError("pool is closing"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError(), True),
        (asyncpg.exceptions.InvalidPasswordError("password authentication failed"), True),
        (asyncpg.exceptions.InvalidCatalogNameError('database "kpi" does not exist'), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), True),
        (asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"), False),
        (asyncpg.exceptions.OutOfMemoryError("out of shared memory"), False),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), True),
        # bugs and bad data: retried a few times, then dead-lettered or answered 4xx
        (asyncpg.exceptions.InterfaceError("the server expects 2 arguments, 1 was passed"), False),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.UndefinedColumnError("column does not exist"), False),
        (ValueError("bad"), False),
    ],
)
def test_what_is_waited_out_and_what_is_not(fault: BaseException, transient: bool) -> None:
    assert is_transient(fault) is transient
