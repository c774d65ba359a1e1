"""Dead letters can be listed, read without loss, and replayed to where they came from."""

from __future__ import annotations

import uuid

import aio_pika
import pytest

from kpi_contracts import names
from kpi_kit import dlq
from kpi_kit.broker import declare_topology, make_broker
from kpi_kit.cli import dead_letters
from kpi_kit.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def queue_name() -> str:
    return f"probe.{uuid.uuid4().hex[:8]}"


async def park(amqp_url: str, queue_name: str, letters: int = 1) -> str:
    """A consumer queue with dead letters (m-1, m-2, ...) that came from hr.kpi / probe.key."""
    broker = make_broker(Settings(service="probe", amqp_url=amqp_url))
    await broker.connect()
    await declare_topology(broker, {queue_name: [(names.KPI_EXCHANGE, "probe.key")]})
    await broker.stop()
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    dead_letters = await channel.get_exchange(names.DEAD_LETTER_EXCHANGE)
    for n in range(1, letters + 1):
        await dead_letters.publish(
            aio_pika.Message(
                b'{"broken": true}',
                message_id=f"m-{n}",
                headers={
                    "x-dlq-reason": "invalid event: missing field",
                    "x-dlq-queue": queue_name,
                    "x-original-exchange": names.KPI_EXCHANGE,
                    "x-original-routing-key": "probe.key",
                },
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=names.dead_letter_queue(queue_name),
        )
    await connection.close()
    return names.dead_letter_queue(queue_name)


@pytest.fixture
async def parked(amqp_url: str, queue_name: str) -> str:
    """A consumer queue with one dead letter that came from hr.kpi / probe.key."""
    return await park(amqp_url, queue_name)


async def test_show_reads_a_dead_letter_and_leaves_it_in_place(amqp_url: str, parked: str) -> None:
    letters = await dlq.show(amqp_url, parked)
    assert [(d.message_id, d.reason, d.original_routing_key) for d in letters] == [
        ("m-1", "invalid event: missing field", "probe.key")
    ]
    assert (await dlq.counts(amqp_url, [parked]))[parked] == 1


async def test_replay_sends_it_back_without_the_dead_letter_headers(
    amqp_url: str, parked: str, queue_name: str
) -> None:
    assert await dlq.replay(amqp_url, parked) == 1
    assert (await dlq.counts(amqp_url, [parked]))[parked] == 0
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        message = await queue.get(no_ack=True, fail=True)
        assert message is not None
        assert message.body == b'{"broken": true}'
        assert "x-dlq-reason" not in (message.headers or {})
        assert "x-replayed-at" in (message.headers or {})
    finally:
        await connection.close()


async def test_replay_goes_to_the_queue_it_came_from_only(
    amqp_url: str, parked: str, queue_name: str
) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        # another consumer of the same events, which had its copy the first time
        other = await channel.declare_queue(f"{queue_name}.other", exclusive=True)
        await other.bind(names.KPI_EXCHANGE, "probe.key")
        assert await dlq.replay(amqp_url, parked) == 1
        source = await channel.declare_queue(queue_name, passive=True)
        assert await source.get(no_ack=True, fail=False) is not None
        assert await other.get(no_ack=True, fail=False) is None
    finally:
        await connection.close()


async def test_replay_of_a_letter_whose_queue_is_gone_goes_back_the_way_it_came(
    amqp_url: str, parked: str, queue_name: str
) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue_name)  # renamed or removed since the letter was parked
        taker = await channel.declare_queue(f"{queue_name}.new", exclusive=True)
        await taker.bind(names.KPI_EXCHANGE, "probe.key")
        assert await dlq.replay(amqp_url, parked) == 1
        message = await taker.get(no_ack=True, fail=False)
        assert message is not None and message.body == b'{"broken": true}'
        # it keeps the route it first came in by, should it be parked again
        assert (message.headers or {})["x-original-routing-key"] == "probe.key"
    finally:
        await connection.close()


async def test_a_letter_nothing_would_take_stays_parked(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dlq_name = names.dead_letter_queue(f"gone.{uuid.uuid4().hex[:8]}")
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        nowhere = await channel.declare_exchange(
            f"probe.nowhere.{uuid.uuid4().hex[:8]}", aio_pika.ExchangeType.TOPIC, auto_delete=True
        )
        await channel.declare_queue(dlq_name, durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                b"{}",
                headers={
                    "x-dlq-reason": "invalid event",
                    "x-dlq-queue": "gone.queue",  # its queue and every binding are gone
                    "x-original-exchange": nowhere.name,
                    "x-original-routing-key": "probe.key",
                },
            ),
            routing_key=dlq_name,
        )
        with pytest.raises(aio_pika.exceptions.AMQPError):
            await dlq.replay(amqp_url, dlq_name)
        assert (await dlq.counts(amqp_url, [dlq_name]))[dlq_name] == 1
        monkeypatch.setenv("KPI_AMQP_URL", amqp_url)  # the CLI says so in a line
        with pytest.raises(
            SystemExit, match=f"stays parked with the ones after it .1 in {dlq_name}"
        ):
            await dead_letters("replay", dlq_name)
        assert (await dlq.counts(amqp_url, [dlq_name]))[dlq_name] == 1
        await channel.queue_delete(dlq_name)
    finally:
        await connection.close()


async def test_the_cli_replays_every_letter_parked_unless_told_how_many(
    amqp_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KPI_AMQP_URL", amqp_url)
    monkeypatch.setattr(dlq, "REPLAY_CHUNK", 7)  # a few chunks, each acknowledged in turn
    parked = await park(amqp_url, queue_name, letters=25)  # more than `show` reads by default
    assert (
        await dead_letters("replay", parked, 5)
        == f"replayed 5 message(s) from {parked}; 20 parked there now"
    )
    assert (
        await dead_letters("replay", parked)
        == f"replayed 20 message(s) from {parked}; 0 parked there now"
    )
    assert (await dlq.counts(amqp_url, [queue_name]))[queue_name] == 25


async def test_a_missing_dlq_is_reported_not_raised(amqp_url: str) -> None:
    assert await dlq.counts(amqp_url, ["nobody.dlq"]) == {"nobody.dlq": None}


@pytest.mark.parametrize(
    ("queue", "said"),
    [
        # a consumer's own queue: its live messages must not be taken
        (names.ASSIGNMENT_LIFECYCLE_QUEUE, "is not a dead-letter queue"),
        # a mistyped name: one line, not an aiormq traceback
        ("nobody.dlq", "the broker has no queue nobody.dlq"),
    ],
)
@pytest.mark.parametrize("action", ["show", "replay"])
async def test_the_cli_refuses_what_is_not_a_dead_letter_queue(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch, action: str, queue: str, said: str
) -> None:
    monkeypatch.setenv("KPI_AMQP_URL", amqp_url)
    with pytest.raises(SystemExit, match=said):
        await dead_letters(action, queue, 20)
