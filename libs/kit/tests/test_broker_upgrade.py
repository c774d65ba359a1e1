"""`kpi broker upgrade`: a broker holding an older version's topology (`hr.kpi` with an alternate
exchange, quorum dead-letter queues) is brought to the one clients declare plainly, without losing
a binding or a letter, and a second run changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import HeadersType

from kpi_contracts import names
from kpi_kit.broker import KPI_UNROUTED_QUEUE, OutdatedTopology, consumer_queue
from kpi_kit.broker_upgrade import holding_queue, upgrade_topology
from kpi_kit.dlq import exists
from kpi_kit.service import ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import declare_as_the_contract_names_them, queue_holds, running
from kpi_kit.testing.servers import Servers, own_vhost

pytestmark = pytest.mark.integration

REQUESTS = "upgradeprobe.requests"
REQUEST_KEY = "upgradeprobe.request"
Letter = tuple[str | None, HeadersType, bytes]


@pytest.fixture
def amqp_url(servers: Servers) -> Iterator[str]:
    """A vhost of each test's own: each builds its broker's topology from nothing."""
    with own_vhost(servers) as url:
        yield url


def a_service() -> ServiceDefinition:
    """A service consuming hr.lifecycle (its DLQ is hr.lifecycle.dlq) and a key on hr.kpi."""
    return ServiceDefinition(
        name="upgradeprobe",
        migrations=Path(__file__).parent / "no-migrations",
        bindings={
            names.ASSIGNMENT_LIFECYCLE_QUEUE: [(names.LIFECYCLE_EXCHANGE, names.CONTRACT_CREATED)],
            REQUESTS: [(names.KPI_EXCHANGE, REQUEST_KEY)],
        },
    )


def letters(count: int) -> list[Letter]:
    """Dead letters as the lifecycle consumer parks them: an id, the reason, the way in."""
    return [
        (
            f"letter-{n}",
            {
                "x-dlq-reason": f"invalid event: reason {n}",
                "x-dlq-queue": names.ASSIGNMENT_LIFECYCLE_QUEUE,
                "x-original-exchange": names.LIFECYCLE_EXCHANGE,
                "x-original-routing-key": names.CONTRACT_CREATED,
            },
            f'{{"broken": {n}}}'.encode(),
        )
        for n in range(count)
    ]


async def an_old_topology(amqp_url: str, parked: list[Letter], set_aside: list[Letter]) -> None:
    """The topology as the previous version declared it, with `parked` in the lifecycle DLQ and
    `set_aside` in its holding queue, as an interrupted upgrade leaves them."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        topic, durable = aio_pika.ExchangeType.TOPIC, True
        await channel.declare_exchange(names.LIFECYCLE_EXCHANGE, topic, durable=durable)
        await channel.declare_exchange(
            names.KPI_UNROUTED, aio_pika.ExchangeType.FANOUT, durable=True
        )
        await channel.declare_exchange(
            names.KPI_EXCHANGE,
            topic,
            durable=durable,
            arguments={"alternate-exchange": names.KPI_UNROUTED},
        )
        await channel.declare_exchange(names.DEAD_LETTER_EXCHANGE, durable=durable)
        unrouted = await channel.declare_queue(
            names.KPI_UNROUTED, durable=durable, arguments=KPI_UNROUTED_QUEUE.arguments
        )
        await unrouted.bind(names.KPI_UNROUTED)
        for queue, exchange, key in (
            (names.ASSIGNMENT_LIFECYCLE_QUEUE, names.LIFECYCLE_EXCHANGE, names.CONTRACT_CREATED),
            (REQUESTS, names.KPI_EXCHANGE, REQUEST_KEY),
        ):
            consumer = await channel.declare_queue(
                queue, durable=durable, arguments=consumer_queue(queue).arguments
            )
            await consumer.bind(exchange, routing_key=key)
            dlq = await channel.declare_queue(
                names.dead_letter_queue(queue),
                durable=durable,
                arguments={"x-queue-type": "quorum"},
            )
            await dlq.bind(names.DEAD_LETTER_EXCHANGE, routing_key=dlq.name)
        held = holding_queue(names.LIFECYCLE_DLQ)
        if set_aside:
            await channel.declare_queue(held, durable=durable)
        for queue, batch in ((names.LIFECYCLE_DLQ, parked), (held, set_aside)):
            for message_id, headers, body in batch:
                message = aio_pika.Message(
                    body,
                    message_id=message_id,
                    headers=headers,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                await channel.default_exchange.publish(message, routing_key=queue)
    finally:
        await connection.close()


async def letters_in(amqp_url: str, queue: str) -> list[Letter]:
    """What a queue holds, in order; every message read goes back to it."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        held = await channel.declare_queue(queue, passive=True)
        found: list[Letter] = []
        while (message := await held.get(no_ack=False, fail=False)) is not None:
            found.append((message.message_id, dict(message.headers), message.body))
        return found
    finally:
        await connection.close()  # unacknowledged, what was read is requeued


async def routes(amqp_url: str, exchange: str, routing_key: str, queue: str) -> bool:
    """Whether a message published to an exchange with a key arrives in a queue."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        target = await channel.get_exchange(exchange, ensure=False)
        message_id = f"routed-{exchange}-{routing_key}"
        await target.publish(aio_pika.Message(b"{}", message_id=message_id), routing_key)
    finally:
        await connection.close()
    return await queue_holds(amqp_url, queue, message_id)


async def exists_in(amqp_url: str, queue: str) -> bool:
    connection = await aio_pika.connect(amqp_url)
    try:
        return await exists(connection, queue)
    finally:
        await connection.close()


async def test_an_old_topology_is_declared_plainly_after_the_upgrade_with_its_letters(
    amqp_url: str,
) -> None:
    parked = letters(2)
    await an_old_topology(amqp_url, parked, set_aside=[])

    changes = await upgrade_topology(amqp_url, [a_service()])

    assert changes[0] == "hr.kpi: declared again, without arguments"
    await declare_as_the_contract_names_them(amqp_url)
    assert await letters_in(amqp_url, names.LIFECYCLE_DLQ) == parked
    assert not await exists_in(amqp_url, holding_queue(names.LIFECYCLE_DLQ))


async def test_the_upgrade_keeps_every_binding(amqp_url: str) -> None:
    await an_old_topology(amqp_url, letters(1), set_aside=[])

    await upgrade_topology(amqp_url, [a_service()])

    assert await routes(amqp_url, names.KPI_EXCHANGE, REQUEST_KEY, REQUESTS)
    lifecycle = names.ASSIGNMENT_LIFECYCLE_QUEUE
    assert await routes(amqp_url, names.LIFECYCLE_EXCHANGE, names.CONTRACT_CREATED, lifecycle)
    dlq = names.LIFECYCLE_DLQ
    assert await routes(amqp_url, names.DEAD_LETTER_EXCHANGE, dlq, dlq)


async def test_a_second_upgrade_changes_nothing(amqp_url: str) -> None:
    parked = letters(2)
    await an_old_topology(amqp_url, parked, set_aside=[])
    await upgrade_topology(amqp_url, [a_service()])

    assert await upgrade_topology(amqp_url, [a_service()]) == []
    await declare_as_the_contract_names_them(amqp_url)
    assert await letters_in(amqp_url, names.LIFECYCLE_DLQ) == parked


async def test_an_interrupted_upgrade_is_finished_by_the_next_with_every_letter(
    amqp_url: str,
) -> None:
    # Stopped while it set the letters aside: some are in the old DLQ, some in the holding queue.
    first, second = letters(2)
    await an_old_topology(amqp_url, [second], set_aside=[first])

    await upgrade_topology(amqp_url, [a_service()])

    await declare_as_the_contract_names_them(amqp_url)
    assert await letters_in(amqp_url, names.LIFECYCLE_DLQ) == [first, second]
    assert not await exists_in(amqp_url, holding_queue(names.LIFECYCLE_DLQ))


async def test_a_fresh_broker_is_left_empty(amqp_url: str) -> None:
    assert await upgrade_topology(amqp_url, [a_service()]) == []
    assert not await exists_in(
        amqp_url, names.LIFECYCLE_DLQ
    )  # the workers declare it as they start


async def test_a_service_started_on_the_old_topology_says_to_upgrade_it(
    amqp_url: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kpi.broker")
    await an_old_topology(amqp_url, [], set_aside=[])
    settings = Settings(service="upgradeprobe", database_url=database_url, amqp_url=amqp_url)

    with pytest.raises(ExceptionGroup) as failed:  # how the app's lifespan reports it
        async with running(a_service(), settings, "worker"):
            pass
    assert failed.group_contains(OutdatedTopology, match="kpi broker upgrade", depth=None)
    assert any("run `kpi broker upgrade`" in r.getMessage() for r in caplog.records)
