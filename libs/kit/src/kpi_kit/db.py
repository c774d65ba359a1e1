"""The asyncpg pool every service uses."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kpi_kit.settings import Settings

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Connection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)
Record: TypeAlias = asyncpg.Record


class ConnectionSetupFailed(Exception):
    """A new connection could not be set up (the role it assumes, for one): the deployment's
    fault, which work waits out rather than being given up on."""


_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # TimeoutError and every refused, reset or unreachable socket
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.PostgresConnectionError,
    ConnectionSetupFailed,
)
# SQLSTATE classes and codes of a server that cannot take the work now: connection (08), login
# (28: a rotated password), database (3D), too many connections (53300), shutting down or
# starting (57P01-57P03). Not a query's own limits (53200, 53400: the same work hits them again)
# nor a read-only server (25006: the pool would keep the connection that landed there).
_TRANSIENT_SQLSTATES = ("08", "28", "3D", "53300", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """Whether the same work may succeed once the database is back (so wait, don't give up)."""
    if isinstance(exc, asyncpg.exceptions.InterfaceError):
        # "connection is closed", "pool is closing": the connection went away. Any other interface
        # error (the wrong number of arguments) is a bug that waiting will not mend.
        return "clos" in str(exc)
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, _TRANSIENT_TYPES) or sqlstate.startswith(_TRANSIENT_SQLSTATES)


class FairPool(asyncpg.Pool):
    """asyncpg's pool, handing connections out in the order they were asked for.

    asyncpg's own pool waits on an asyncio.Queue, whose `get` lets a task that arrives while a
    released connection is on its way to the first waiter take it; the waiter then queues again at
    the back (MagicStack/asyncpg#1247). With 50 requests on 10 connections a few requests lost
    that race over and over: their wait for a connection reached 400 ms while the median was 0,
    and that was the API's p99. Here every acquire first takes a turn from a FIFO semaphore of the
    pool's size (asyncio's Semaphore serves its waiters in order), and a turn is given back only
    when its connection is back in the pool, so the one who waited longest gets the next one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(kwargs["max_size"])
        self._turn_holders: set[int] = set()  # ids of the connections handed out with a turn

    async def _acquire(self, timeout: float | None) -> PoolConnectionProxy[Record]:
        if timeout is None:
            await self._turns.acquire()
        else:
            async with asyncio.timeout(timeout):
                await self._turns.acquire()
        try:
            connection: PoolConnectionProxy[Record] = await super()._acquire(timeout)  # type: ignore[misc]
        except BaseException:
            self._turns.release()
            raise
        self._turn_holders.add(id(connection))
        return connection

    async def release(
        self, connection: PoolConnectionProxy[Record], *, timeout: float | None = None
    ) -> None:
        """Give the connection back, then its turn (asyncpg ignores a second release)."""
        holds_turn = id(connection) in self._turn_holders
        try:
            await super().release(connection, timeout=timeout)
        finally:
            if holds_turn:
                self._turn_holders.discard(id(connection))
                self._turns.release()


async def create_pool(settings: Settings, role: str | None = None) -> Pool:
    """Open the service's pool; connections are created lazily so start-up never blocks.

    With a `role`, every connection assumes it (`SET ROLE`) so the service holds only that
    role's privileges, even when it logs in as the tables' owner.
    """

    async def init(conn: Connection) -> None:
        try:
            await init_connection(conn)
            if role:
                await conn.execute(f"SET ROLE {quote_ident(role)}")
        except asyncpg.PostgresError as exc:
            raise ConnectionSetupFailed(f"a new connection could not be set up: {exc}") from exc

    pool: Pool = await FairPool(
        settings.database_url,
        min_size=0,
        max_size=settings.db_pool_max,
        max_queries=50_000,
        max_inactive_connection_lifetime=300,
        command_timeout=30,
        server_settings={"application_name": f"kpi-{settings.service}"},
        init=init,
        reset=keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
    )
    return pool


async def keep_session(conn: Connection) -> None:
    """Hand a connection back to the pool without asyncpg's reset query: one round trip less
    on every use (a sixth of the CPU of a read).

    asyncpg still rolls back a transaction left open and drops listeners before calling this.
    The reset query would also release session advisory locks, close cursors, UNLISTEN and RESET
    ALL, and the services leave none of those on a pooled connection: their locks are
    transaction-scoped (pg_advisory_xact_lock), their settings SET LOCAL, the outbox relay and the
    migration runner LISTEN and lock on connections of their own, and the role set at connect is
    meant to stay.
    """


async def init_connection(conn: Connection) -> None:
    """Scores are small decimals: read `numeric` as float so JSON carries numbers, not strings."""
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=float, schema="pg_catalog", format="text"
    )


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def database_name(url: str) -> str:
    """The database a URL points at."""
    return urlsplit(url).path.lstrip("/") or "postgres"


async def ensure_database(url: str) -> bool:
    """Create the database a URL names when it does not exist; True if it was created."""
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.exceptions.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()
