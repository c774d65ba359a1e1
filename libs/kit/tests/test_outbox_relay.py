"""The outbox relay on a real broker: what it publishes is persistent, JSON and named by its
event id; an event nobody routes is parked or kept, never dropped; a stopping worker publishes
what its last messages caused before it goes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from kpi_contracts import codec, events, names
from kpi_contracts.enums import JournalEntryType
from kpi_kit.cli import dead_letters
from kpi_kit.consuming import Consumer, Delivery
from kpi_kit.observability import CORRELATION_HEADER
from kpi_kit.outbox import Outbox, OutboxMessage, OutboxRelay, tables_sql, unit_of_work
from kpi_kit.service import Runtime, ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import (
    ServiceClient,
    eventually,
    held_message,
    queue_holds,
    running,
)
from kpi_kit.testing.servers import Servers, own_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def amqp_url(servers: Servers) -> Iterator[str]:
    """A vhost of this module's own: what is routed or parked here depends on which queues
    exist, and other tests of the run declare services' queues in the run's vhost."""
    with own_vhost(servers) as url:
        yield url


@pytest.fixture(scope="module")
async def relay_service(database_url: str, amqp_url: str) -> AsyncIterator[ServiceClient]:
    definition = ServiceDefinition(
        name="relayprobe",
        migrations=Path(__file__).parent / "no-migrations",
        announcements=[names.JOURNAL_ENTRY_APPENDED],
    )
    settings = Settings(service="relayprobe", database_url=database_url, amqp_url=amqp_url)
    async with running(definition, settings, "worker") as client:
        yield client


def runtime_of(client: ServiceClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime
    return runtime


async def listen(
    amqp_url: str, routing_key: str
) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(names.KPI_EXCHANGE, routing_key=routing_key)
    return connection, queue


async def next_message(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    for _ in range(200):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError("nothing arrived")


def an_entry_appended() -> events.JournalEntryAppended:
    return events.JournalEntryAppended(
        entry_id=uuid.uuid4(),
        staff_kpi_id=uuid.uuid4(),
        staff_id=uuid.uuid4(),
        entry_type=JournalEntryType.OBSERVATION,
        title="Noted on shift",
        score_before=None,
        score_after=None,
        is_pending_approval=False,
        is_visible_to_staff=True,
        created_by="relay-test",
    )


async def outbox_rows(client: ServiceClient) -> int:
    runtime = runtime_of(client)
    count: int = await runtime.pool.fetchval(f"SELECT count(*) FROM {runtime.outbox.table}")
    return count


async def outbox_empty(client: ServiceClient) -> bool:
    return await outbox_rows(client) == 0


async def test_the_relay_publishes_persistent_json_named_by_the_event_id(
    relay_service: ServiceClient, amqp_url: str
) -> None:
    connection, queue = await listen(amqp_url, names.CATALOG_SNAPSHOT_REQUESTED)
    try:
        runtime = runtime_of(relay_service)
        event = events.CatalogSnapshotRequested(requested_by="relay-probe")
        async with unit_of_work(
            runtime.pool, runtime.outbox, {CORRELATION_HEADER: "relay-corr"}
        ) as uow:
            await uow.publish([event])
        message = await next_message(queue)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert message.message_id == str(event.event_id)
        assert message.correlation_id == "relay-corr"
        assert message.headers == {CORRELATION_HEADER: "relay-corr"}
        assert message.app_id == "kpi-relayprobe"
        assert codec.decode(message.body, events.CatalogSnapshotRequested) == event
        await eventually(lambda: outbox_empty(relay_service))
    finally:
        await connection.close()


async def test_an_internal_event_nobody_routes_is_parked_not_lost(
    relay_service: ServiceClient, amqp_url: str
) -> None:
    runtime = runtime_of(relay_service)
    event = events.CatalogSnapshotRequested(requested_by=f"nobody-{uuid.uuid4().hex[:6]}")
    async with unit_of_work(runtime.pool, runtime.outbox) as uow:
        await uow.publish([event])  # no queue is bound to catalog.snapshot_requested here

    # Other services of the run park their own requests here too: look for this one.
    await eventually(lambda: queue_holds(amqp_url, names.KPI_UNROUTED, str(event.event_id)))
    await eventually(lambda: outbox_empty(relay_service))


async def test_an_announcement_nobody_subscribes_to_is_not_parked(
    relay_service: ServiceClient, amqp_url: str
) -> None:
    # The probe service announces journal.entry_appended, and nothing here consumes it.
    runtime = runtime_of(relay_service)
    announced = an_entry_appended()
    parked = events.CatalogSnapshotRequested(requested_by="relay-test")  # routed nowhere here
    async with unit_of_work(runtime.pool, runtime.outbox) as uow:
        await uow.publish([announced, parked])

    await eventually(lambda: queue_holds(amqp_url, names.KPI_UNROUTED, str(parked.event_id)))
    await eventually(lambda: outbox_empty(relay_service))  # both confirmed by the broker
    assert not await queue_holds(amqp_url, names.KPI_UNROUTED, str(announced.event_id))


async def test_a_parked_event_keeps_its_route_and_says_why(
    relay_service: ServiceClient, amqp_url: str
) -> None:
    runtime = runtime_of(relay_service)
    event = events.CatalogSnapshotRequested(requested_by="relay-test")  # routed nowhere here
    async with unit_of_work(runtime.pool, runtime.outbox, {CORRELATION_HEADER: "parked"}) as uow:
        await uow.publish([event])

    parked = await eventually(
        lambda: held_message(amqp_url, names.KPI_UNROUTED, str(event.event_id))
    )
    assert parked.routing_key == names.CATALOG_SNAPSHOT_REQUESTED
    assert parked.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert parked.correlation_id == "parked"
    assert (
        parked.headers.items()
        >= {  # and the quorum queue's own x-delivery-count
            CORRELATION_HEADER: "parked",
            "x-unrouted-reason": "NO_ROUTE",
            "x-original-exchange": names.KPI_EXCHANGE,
        }.items()
    )
    assert codec.decode(parked.body, events.CatalogSnapshotRequested) == event


async def test_parked_events_are_replayed_onto_hr_kpi_once_a_queue_takes_them(
    relay_service: ServiceClient, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_of(relay_service)
    event = events.CatalogSnapshotRequested(requested_by="replay-test")  # routed nowhere here
    async with unit_of_work(runtime.pool, runtime.outbox) as uow:
        await uow.publish([event])
    await eventually(lambda: queue_holds(amqp_url, names.KPI_UNROUTED, str(event.event_id)))

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        taker = await channel.declare_queue(exclusive=True)  # the worker that had not started
        await taker.bind(names.KPI_EXCHANGE, "#")
        monkeypatch.setenv("KPI_AMQP_URL", amqp_url)
        said = await dead_letters("replay", names.KPI_UNROUTED)
        assert said.endswith("; 0 parked there now"), said

        taken = {}
        while (message := await taker.get(no_ack=True, fail=False)) is not None:
            taken[message.message_id] = message
        replayed = taken[str(event.event_id)]
        assert replayed.routing_key == names.CATALOG_SNAPSHOT_REQUESTED
        assert "x-unrouted-reason" not in (replayed.headers or {})
        assert codec.decode(replayed.body, events.CatalogSnapshotRequested) == event
    finally:
        await connection.close()


async def test_a_lifecycle_publish_nobody_routes_stays_in_the_outbox(
    relay_service: ServiceClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Only what comes back from hr.kpi is parked: from hr.lifecycle the return raises, the relay
    # keeps the row and retries; a row is only ever deleted once the broker has confirmed it.
    caplog.set_level(logging.WARNING, logger="kpi.outbox")
    runtime = runtime_of(relay_service)
    event = events.StaffExited(staff_id=uuid.uuid4())
    async with unit_of_work(runtime.pool, runtime.outbox) as uow:
        await uow.publish([event])

    async def refused_twice() -> bool:  # the outbox was empty: these failures are this event's
        lines = [r.getMessage() for r in caplog.records]
        return sum("relay of relayprobe" in m and "NO_ROUTE" in m for m in lines) >= 2

    await eventually(refused_twice)
    held = await runtime.pool.fetchval(
        f"SELECT count(*) FROM {runtime.outbox.table} WHERE event_id = $1", event.event_id
    )
    assert held == 1
    await runtime.pool.execute(
        f"DELETE FROM {runtime.outbox.table} WHERE event_id = $1", event.event_id
    )


async def test_a_confirm_that_never_comes_fails_the_batch_and_keeps_its_rows(
    relay_service: ServiceClient,
) -> None:
    runtime = runtime_of(relay_service)
    never = asyncio.Event()

    async def publish_without_confirm(_: OutboxMessage) -> object:
        return await never.wait()  # a confirm lost in a reconnect

    relay = OutboxRelay(
        runtime.pool,
        runtime.settings.database_url,
        Outbox("stuckprobe"),
        publish_without_confirm,
        confirm_timeout=0.2,
    )
    await runtime.pool.execute(tables_sql("stuckprobe"))
    event = events.CatalogSnapshotRequested(requested_by="stuck")
    async with unit_of_work(runtime.pool, Outbox("stuckprobe")) as uow:
        await uow.publish([event])
    with pytest.raises(TimeoutError):
        await relay.relay_once()
    kept = await runtime.pool.fetchval("SELECT count(*) FROM hr.stuckprobe_outbox")
    assert kept == 1


async def test_a_wake_up_while_a_batch_is_out_starts_the_next_batch() -> None:
    async def no_listener() -> None:
        return None

    relay = OutboxRelay(None, "", Outbox("wakeprobe"), publish=None, poll_every=3600)  # type: ignore[arg-type]
    relay._listen = no_listener  # type: ignore[method-assign]
    turns = 0

    async def one_batch() -> int:
        nonlocal turns
        turns += 1
        if turns == 1:
            relay._wake.set()  # the NOTIFY of a commit made while this batch was published
        else:
            relay.stop()
        return 0

    relay.relay_once = one_batch  # type: ignore[method-assign]
    # Losing that wake-up would leave the relay waiting for its hour-long poll. (The stop came
    # while the second batch was out: a third, read after it, is the one that ends the relay.)
    await asyncio.wait_for(relay.run(), timeout=30)
    assert turns == 3


async def test_a_stopping_relay_empties_the_outbox_and_gives_up_on_a_fault() -> None:
    async def no_listener() -> None:
        return None

    def stopped_relay(batches: list[int | Exception]) -> tuple[OutboxRelay, list[int]]:
        relay = OutboxRelay(None, "", Outbox("drainprobe"), publish=None, batch=2)  # type: ignore[arg-type]
        relay._listen = no_listener  # type: ignore[method-assign]
        turns: list[int] = []

        async def one_batch() -> int:
            outcome = batches[len(turns)]
            turns.append(len(turns))
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        relay.relay_once = one_batch  # type: ignore[method-assign]
        relay.stop()
        return relay, turns

    # Full batches go on after the stop until one comes back short: the outbox is empty.
    relay, turns = stopped_relay([2, 2, 1, 0])
    await asyncio.wait_for(relay.run(), timeout=10)
    assert len(turns) == 3
    # A short batch read before the stop is no proof: the messages in hand commit while it is
    # out (a worker stopped under load left 460 events in its outbox until its next start).
    relay, turns = stopped_relay([1, 2, 1])
    relay._stopping = False
    relay_once = relay.relay_once

    async def stopped_while_out() -> int:
        if not turns:
            relay.stop()
        return await relay_once()

    relay.relay_once = stopped_while_out  # type: ignore[method-assign]
    await asyncio.wait_for(relay.run(), timeout=10)
    assert len(turns) == 3
    # A fault while stopping ends it at once: the rest waits for the next relay.
    relay, turns = stopped_relay([2, ConnectionResetError("broker gone"), 0])
    await asyncio.wait_for(relay.run(), timeout=10)
    assert len(turns) == 2


async def test_a_stopping_worker_publishes_what_its_last_messages_caused(
    database_url: str, amqp_url: str
) -> None:
    in_hand, caused = asyncio.Event(), an_entry_appended()

    def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
        async def handle(_: events.CatalogSnapshotRequested, __: Delivery) -> bool:
            in_hand.set()
            await asyncio.sleep(1.0)  # the worker is told to stop meanwhile
            async with unit_of_work(runtime.pool, runtime.outbox) as uow:
                await uow.publish([caused])
            return True

        def decode(body: bytes) -> events.CatalogSnapshotRequested:
            return codec.decode(body, events.CatalogSnapshotRequested)

        queue = "stopprobe.requests"
        return [
            Consumer(
                service="stopprobe",
                queue=queue,
                decode=decode,
                handle=handle,
                broker=runtime.broker,
            )
        ]

    definition = ServiceDefinition(
        name="stopprobe",
        migrations=Path(__file__).parent / "no-migrations",
        consumers=consumers,
        bindings={"stopprobe.requests": [(names.KPI_EXCHANGE, "stopprobe.request")]},
    )
    settings = Settings(service="stopprobe", database_url=database_url, amqp_url=amqp_url)
    connection, heard = await listen(amqp_url, names.JOURNAL_ENTRY_APPENDED)
    try:
        async with running(definition, settings, "worker") as client:
            outbox = runtime_of(client).outbox.table
            exchange = await (await connection.channel()).get_exchange(names.KPI_EXCHANGE)
            request = codec.encode(events.CatalogSnapshotRequested(requested_by="stop-probe"))
            await exchange.publish(aio_pika.Message(request), routing_key="stopprobe.request")
            await asyncio.wait_for(in_hand.wait(), timeout=10)
        # The worker has stopped: what its last message caused is out, not left in its outbox.
        db = await asyncpg.connect(database_url)
        try:
            assert await db.fetchval(f"SELECT count(*) FROM {outbox}") == 0
        finally:
            await db.close()
        heard_ids: set[str | None] = set()
        while str(caused.event_id) not in heard_ids:  # another test's entries come first
            heard_ids.add((await next_message(heard)).message_id)
    finally:
        await connection.close()
