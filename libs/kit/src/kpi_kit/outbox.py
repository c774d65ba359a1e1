"""Transactional outbox and inbox: events leave and arrive exactly as the database says.

A handler writes its events to the service's outbox table in the same transaction as the change;
the relay publishes them with publisher confirms and deletes them once confirmed. A crash between
publish and delete republishes: consumers dedupe on `event_id` through their inbox table.

Once such a transaction has committed, the outbox's doorbell wakes the relay: directly when it
runs in the same process, else by a NOTIFY sent after the commit. Never by a NOTIFY inside the
transaction: PostgreSQL serializes the commits of notifying transactions on one global lock,
which cost a third of the commit rate of a busy journal (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg

from kpi_contracts import codec, names
from kpi_contracts.events import Event
from kpi_kit import tracing
from kpi_kit.confirmations import confirmation_headers
from kpi_kit.db import Connection, Pool
from kpi_kit.observability import current_correlation_headers

log = logging.getLogger("kpi.outbox")


def tables_sql(service: str) -> str:
    """DDL of a service's outbox and inbox tables (applied by the migration runner)."""
    return f"""
CREATE SCHEMA IF NOT EXISTS hr;
CREATE TABLE IF NOT EXISTS hr.{service}_outbox (
    id          bigserial   PRIMARY KEY,
    event_id    uuid        NOT NULL,
    exchange    text        NOT NULL,
    routing_key text        NOT NULL,
    body        bytea       NOT NULL,
    headers     jsonb       NOT NULL DEFAULT '{{}}',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS hr.{service}_inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""


def inbox_age_index_sql(service: str) -> str:
    """DDL of the index the inbox's pruning finds old rows by. BRIN: rows arrive in the order of
    their `processed_at`, so a few pages of summary cover the table and inserts pay nothing."""
    return (
        f"CREATE INDEX IF NOT EXISTS {service}_inbox_processed_at_brin "
        f"ON hr.{service}_inbox USING brin (processed_at);\n"
    )


async def prune_inbox(
    pool: Pool, outbox: Outbox, older_than: timedelta, batch: int = 10_000
) -> int:
    """Forget inbox rows processed longer ago than `older_than`, a batch per transaction (short
    locks, small WAL bursts); returns how many. Replicas pruning at once skip each other's rows.

    An inbox row only answers "was this event applied already?" for a redelivery, which comes
    within minutes (a relay republishing after a crash); kept for ever, they grow by one per event.
    """
    table, pruned = outbox.inbox_table, 0
    while True:
        status = await pool.execute(
            f"DELETE FROM {table} WHERE (consumer, event_id) IN ("
            f" SELECT consumer, event_id FROM {table} WHERE processed_at < now() - $1::interval"
            f" LIMIT $2 FOR UPDATE SKIP LOCKED)",
            older_than,
            batch,
        )
        deleted = int(status.split()[-1])  # "DELETE n"
        pruned += deleted
        if deleted < batch:
            return pruned


def inline_bodies_sql(service: str) -> str:
    """DDL that keeps an outbox's event bodies in the row, uncompressed, up to a page.

    By default PostgreSQL compresses the values of a row over 2 kB, and moves them to the TOAST
    table while it is still over, and one event per contract (a person's assigned KPIs) is 3-5 kB:
    each was compressed on insert, stored out of line, read back by the relay and deleted from
    both; 5 % of the database's CPU in a lifecycle burst. An outbox row lives for milliseconds,
    so the space compression saves is worth nothing.
    """
    return f"ALTER TABLE hr.{service}_outbox SET (toast_tuple_target = 8160);\n"


class Doorbell:
    """Wakes the outbox relay once events have been committed to the outbox.

    With the relay in this process it sets the relay's wake-up; without (an API-only process,
    whose events a worker relays) it sends a NOTIFY on the pool, at most one at a time: rings
    that come while one is out are answered by one more. Unattached (a command, a test of a
    handler) it does nothing: the relay's poll finds the rows within a second.
    """

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._wake_relay: Callable[[], None] | None = None
        self._pool: Pool | None = None
        self._notifying: asyncio.Task[None] | None = None
        self._rung_again = False

    def attach(self, pool: Pool, wake_relay: Callable[[], None] | None) -> None:
        """Ring through the relay of this process, or else through NOTIFY on `pool`."""
        self._pool, self._wake_relay = pool, wake_relay

    async def detach(self) -> None:
        """Stop ringing; waits for a NOTIFY on its way (the pool is about to close)."""
        self._pool = self._wake_relay = None
        if self._notifying is not None:
            with suppress(Exception):
                await self._notifying

    def ring(self) -> None:
        """Call after the commit of a transaction that queued events."""
        if self._wake_relay is not None:
            self._wake_relay()
        elif self._pool is not None:
            if self._notifying is None or self._notifying.done():
                self._notifying = asyncio.create_task(self._notify(self._pool))
            else:
                self._rung_again = True

    async def _notify(self, pool: Pool) -> None:
        again = True
        while again:
            self._rung_again = False
            try:
                await pool.execute("SELECT pg_notify($1, '')", self._channel)
            except Exception as exc:  # never fatal: the relay's poll finds the rows all the same
                log.warning("outbox NOTIFY on %s failed: %r", self._channel, exc)
                return
            again = self._rung_again


@dataclass(frozen=True)
class Outbox:
    """Names of one service's outbox table and its wake-up channel, and its doorbell."""

    service: str
    doorbell: Doorbell = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "doorbell", Doorbell(self.channel))

    @property
    def table(self) -> str:
        """The outbox table."""
        return f"hr.{self.service}_outbox"

    @property
    def inbox_table(self) -> str:
        """The inbox table."""
        return f"hr.{self.service}_inbox"

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel that wakes the relay."""
        return f"kpi_outbox_{self.service}"

    def queue_sql(self, first: int) -> str:
        """An INSERT of outbox rows from the arrays `$first`..`$first + 4` that `outbox_columns`
        makes, ending with its FROM clause (a WHERE may follow): for a statement of a service's
        own that writes a change and queues the events it causes in one round trip."""
        arrays = ", ".join(f"${first + i}::{kind}[]" for i, (_, kind) in enumerate(_COLUMNS))
        columns = ", ".join(name for name, _ in _COLUMNS)
        return f"INSERT INTO {self.table} ({columns}) SELECT * FROM unnest({arrays})"


# The columns of an outbox row a service writes, with the array type each is sent as.
_COLUMNS = (
    ("event_id", "uuid"),
    ("exchange", "text"),
    ("routing_key", "text"),
    ("body", "bytea"),
    ("headers", "jsonb"),
)


def outbox_columns(pairs: Iterable[tuple[Event, Mapping[str, str]]]) -> list[list[Any]]:
    """Events, each with the headers it carries, as the outbox's column arrays (in order, so
    that the rows' ids keep it)."""
    rows = [_row(e, h) for e, h in pairs]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in _COLUMNS]


def _row(event: Event, headers: Mapping[str, str]) -> tuple[Any, ...]:
    """An event's outbox row, its headers asking for word if a request waits for it
    (`confirmations.awaited`)."""
    key = names.routing_key(event)
    asked = confirmation_headers(key)
    carried = {**headers, **asked} if asked else headers
    return (
        event.event_id,
        names.exchange(event),
        key,
        codec.encode(event),
        codec.encode_json(carried).decode(),
    )


def event_headers() -> dict[str, str]:
    """The headers of the events caused now: the correlation id and trace context at hand."""
    return current_correlation_headers() | tracing.trace_headers()


@dataclass
class UnitOfWork:
    """One transaction: the change, the events it causes and the event that caused it."""

    conn: Connection
    outbox: Outbox
    headers: dict[str, str] = field(default_factory=dict)
    _queued: bool = False

    async def publish(
        self, events: Iterable[Event], headers: Mapping[str, str] | None = None
    ) -> None:
        """Queue events in the outbox; they leave only if the transaction commits."""
        carried = self.headers if headers is None else headers
        await self.publish_each((event, carried) for event in events)

    async def publish_each(self, pairs: Iterable[tuple[Event, Mapping[str, str]]]) -> None:
        """Queue events each with its own headers (a batch of deliveries keeps their correlation
        ids apart), in one round trip."""
        columns = outbox_columns(pairs)
        if not columns[0]:
            return
        await self.conn.execute(self.outbox.queue_sql(1), *columns)
        self.queued()

    def queued(self) -> None:
        """Note events queued by a statement of the service's own (`Outbox.queue_sql`): the
        relay is woken when the transaction commits."""
        self._queued = True

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record an inbound event; False when it was already processed (a redelivery)."""
        inserted = await self.conn.fetchval(
            f"INSERT INTO {self.outbox.inbox_table} (consumer, event_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING true",
            consumer,
            event_id,
        )
        return bool(inserted)

    async def first_deliveries(
        self, consumer: str, event_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Record inbound events in one statement; returns those not processed before."""
        rows = await self.conn.fetch(
            f"INSERT INTO {self.outbox.inbox_table} (consumer, event_id) "
            "SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id",
            consumer,
            list(event_ids),
        )
        return {row["event_id"] for row in rows}


@asynccontextmanager
async def unit_of_work(
    pool: Pool, outbox: Outbox, headers: dict[str, str] | None = None
) -> AsyncIterator[UnitOfWork]:
    """Open a transaction for one use case; it commits when the block ends without error."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            uow = UnitOfWork(conn, outbox, headers or event_headers())
            yield uow
        if uow._queued:
            outbox.doorbell.ring()


@dataclass(frozen=True)
class OutboxMessage:
    """One row of the outbox, ready to publish."""

    id: int
    event_id: uuid.UUID
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]


Publish = Callable[[OutboxMessage], Coroutine[Any, Any, object]]


class OutboxRelay:
    """Publishes a service's outbox in order, in batches, woken by the doorbell (in this process
    or by NOTIFY from another) or every second."""

    def __init__(
        self,
        pool: Pool,
        dsn: str,
        outbox: Outbox,
        publish: Publish,
        batch: int = 500,
        confirm_timeout: float = 30.0,
        poll_every: float = 1.0,
    ) -> None:
        self._pool = pool
        self._poll_every = poll_every  # a backstop: the doorbell wakes the relay at once
        # A confirm lost in a broker reconnect would hold the batch (and its row locks) for ever;
        # past this the batch counts as failed and is published again (consumers dedupe).
        self._confirm_timeout = confirm_timeout
        self._dsn = dsn
        self._outbox = outbox
        self._publish = publish
        self._batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    async def relay_once(self) -> int:
        """Publish one batch and delete it once every message is confirmed; returns its size."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, event_id, exchange, routing_key, body, headers "
                f"FROM {self._outbox.table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            messages = [
                OutboxMessage(
                    r["id"],
                    r["event_id"],
                    r["exchange"],
                    r["routing_key"],
                    r["body"],
                    codec.decode_json(r["headers"]),
                )
                for r in rows
            ]
            # A task group: when one publish fails, the rest are cancelled before the rollback
            # frees the rows, so the retry does not publish them while they are still going out.
            async with asyncio.timeout(self._confirm_timeout), asyncio.TaskGroup() as publishing:
                for m in messages:
                    publishing.create_task(self._publish(m))
            await conn.execute(
                f"DELETE FROM {self._outbox.table} WHERE id = ANY($1::bigint[])",
                [m.id for m in messages],
            )
        self.published += len(messages)
        return len(messages)

    async def backlog(self) -> tuple[int, float]:
        """How many events wait in the outbox, and the age in seconds of the oldest."""
        row = await self._pool.fetchrow(
            f"SELECT count(*) AS n, EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)) AS age "
            f"FROM {self._outbox.table}"
        )
        assert row is not None
        return int(row["n"]), float(row["age"] or 0.0)

    async def run(self) -> None:
        """Relay until stopped, then until the outbox is empty; back off on broker or database
        faults and never give up, except when stopping: what is left then waits for the next
        relay (delayed, not lost)."""
        listener = asyncio.create_task(self._listen())
        delay = 0.1
        try:
            while True:
                try:
                    # Cleared before the batch is read, not after: a ring that comes while a
                    # batch is out must wake the next turn, not wait for the poll.
                    self._wake.clear()
                    # A batch read before the stop misses what the last messages in hand commit
                    # after it: only one read since the stop can tell that the outbox is empty.
                    read_after_stop = self._stopping
                    sent = await self.relay_once()
                    delay = 0.1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database down: wait and retry
                    log.warning(
                        "outbox relay of %s failed, %s: %r",
                        self._outbox.service,
                        "stopping" if self._stopping else f"retrying in {delay:.1f}s",
                        exc,
                    )
                    if self._stopping:
                        return
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if sent < self._batch:
                    if read_after_stop:  # that batch took the last of the outbox
                        return
                    if not self._stopping:
                        await self._wait_for_work()
        finally:
            listener.cancel()

    async def _wait_for_work(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_every)

    async def _listen(self) -> None:
        """Hold a LISTEN connection that wakes the relay; reconnect when it drops."""
        while not self._stopping:
            try:
                conn = await asyncpg.connect(self._dsn)
                try:
                    closed = asyncio.Event()
                    conn.add_termination_listener(lambda _, done=closed: done.set())
                    await conn.add_listener(self._outbox.channel, lambda *_: self._wake.set())
                    await closed.wait()
                finally:
                    await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll covers for it meanwhile; say why, and listen again
                log.warning("outbox wake-up listener of %s: %r", self._outbox.service, exc)
                await asyncio.sleep(1.0)

    def wake(self) -> None:
        """Start the next batch now (events have been committed to the outbox)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the relay loop to publish what the outbox holds now and end."""
        self._stopping = True
        self._wake.set()
