"""The consumer discipline on a real broker: bad bodies and poison messages are dead-lettered
with a reason, transient faults are retried, and the next message is still applied."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aio_pika
import pytest

from kpi_contracts import codec, events, names
from kpi_kit import dlq
from kpi_kit.consuming import Consumer, Delivery, Rejected, arrived_by
from kpi_kit.service import Runtime, ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, eventually, running

pytestmark = pytest.mark.integration

QUEUE = "probe.requests"


class Probe:
    """A handler whose behaviour each test scripts by the request's `requested_by`."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.calls: dict[str, int] = {}

    async def handle(self, request: events.CatalogSnapshotRequested, _: Delivery) -> bool:
        script = request.requested_by
        self.calls[script] = self.calls.get(script, 0) + 1
        if script.startswith("poison"):
            raise ValueError("this request can never be applied")
        if script.startswith("rejected"):
            raise Rejected("unknown module")
        if script.startswith("flaky") and self.calls[script] < 3:
            raise ConnectionRefusedError("database restarting")
        self.applied.append(script)
        return True


@pytest.fixture(scope="module")
def probe() -> Probe:
    return Probe()


@pytest.fixture(scope="module")
async def service(probe: Probe, database_url: str, amqp_url: str) -> AsyncIterator[ServiceClient]:
    def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
        return [
            Consumer(
                service="probe",
                queue=QUEUE,
                decode=lambda body: codec.decode(body, events.CatalogSnapshotRequested),
                handle=probe.handle,
                broker=runtime.broker,
            )
        ]

    definition = ServiceDefinition(
        name="probe",
        migrations=Path(__file__).parent / "no-migrations",
        consumers=consumers,
        bindings={QUEUE: [(names.KPI_EXCHANGE, "probe.request")]},
    )
    settings = Settings(service="probe", database_url=database_url, amqp_url=amqp_url)
    async with running(definition, settings) as client:
        yield client


async def publish(
    amqp_url: str, body: bytes, content_type: str | None = None, correlation_id: str | None = None
) -> str:
    """Publish one message under a fresh message id, and return that id."""
    message_id = str(uuid.uuid4())
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.KPI_EXCHANGE)
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type=content_type,
            message_id=message_id,
            correlation_id=correlation_id,
        )
        await exchange.publish(message, routing_key="probe.request")
    finally:
        await connection.close()
    return message_id


def a_script(kind: str) -> str:
    """A script name no other test uses: the probe and the DLQ are shared by the module."""
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def a_request(script: str) -> bytes:
    return codec.encode(events.CatalogSnapshotRequested(requested_by=script))


async def dead_letters(amqp_url: str) -> dict[str | None, str]:
    """The reason of every parked message, by message id."""
    parked = await dlq.show(amqp_url, names.dead_letter_queue(QUEUE), 1_000)
    return {letter.message_id: letter.reason for letter in parked}


async def dead_letter_reason(amqp_url: str, message_id: str) -> str:
    """The reason the consumer parked this message with, once it has."""

    async def reason() -> str | None:
        return (await dead_letters(amqp_url)).get(message_id)

    found: str = await eventually(reason)
    return found


async def test_an_undecodable_body_is_dead_lettered_and_the_next_is_applied(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    after = a_script("after-garbage")
    not_json = await publish(amqp_url, b"\xff\xfe not json")
    incomplete = await publish(amqp_url, b'{"event_type": "CatalogSnapshotRequested"}')
    await publish(amqp_url, a_request(after))
    await eventually(lambda: _true(after in probe.applied))
    assert (await dead_letter_reason(amqp_url, not_json)).startswith("invalid event")
    reason = await dead_letter_reason(amqp_url, incomplete)
    assert reason.startswith("invalid event") and "requested_by" in reason


async def test_a_dead_letter_keeps_the_correlation_id_it_came_with(
    service: ServiceClient, amqp_url: str
) -> None:
    # The contract system may set only the AMQP property; a replay must log the same id.
    message_id = await publish(amqp_url, b"not json", correlation_id="contract-system-42")
    await dead_letter_reason(amqp_url, message_id)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        parked = await channel.declare_queue(names.dead_letter_queue(QUEUE), passive=True)
        correlation_ids = {}
        while (letter := await parked.get(no_ack=False, fail=False)) is not None:
            correlation_ids[letter.message_id] = letter.correlation_id
    finally:
        await connection.close()  # every letter taken goes back
    assert correlation_ids[message_id] == "contract-system-42"


async def test_a_json_labelled_body_that_is_not_json_is_dead_lettered_at_once(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    # FastStream parses application/json bodies itself unless told not to; a failure there
    # would happen outside the consumer and loop until the broker's delivery limit.
    json = "application/json"
    after = a_script("after-bad-json")
    empty = await publish(amqp_url, b"", content_type=json)
    not_utf8 = await publish(amqp_url, b"\xfe\xff{", content_type=json)
    await publish(amqp_url, a_request(after), content_type=json)
    await eventually(lambda: _true(after in probe.applied))
    assert await dead_letter_reason(amqp_url, empty) == "invalid event: Input data was truncated"
    assert (await dead_letter_reason(amqp_url, not_utf8)).startswith(
        "invalid event: JSON is malformed"
    )


async def test_an_oversized_body_is_dead_lettered_unread(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    huge, after = a_script("huge"), a_script("after-huge")
    oversized = await publish(amqp_url, a_request(huge + "x" * 300_000))
    await publish(amqp_url, a_request(after))
    await eventually(lambda: _true(after in probe.applied))
    assert "over the limit" in await dead_letter_reason(amqp_url, oversized)
    assert not any(s.startswith(huge) for s in probe.calls)


async def test_a_poison_message_is_dead_lettered_after_bounded_attempts(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    poison, after = a_script("poison"), a_script("after-poison")
    message_id = await publish(amqp_url, a_request(poison))
    await publish(amqp_url, a_request(after))
    await eventually(lambda: _true(after in probe.applied))
    assert (await dead_letter_reason(amqp_url, message_id)).startswith("failed 3 times")
    assert probe.calls[poison] == 3


async def test_a_rejected_event_is_dead_lettered_at_once(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    rejected, after = a_script("rejected"), a_script("after-rejected")
    message_id = await publish(amqp_url, a_request(rejected))
    await publish(amqp_url, a_request(after))
    await eventually(lambda: _true(after in probe.applied))
    assert await dead_letter_reason(amqp_url, message_id) == "rejected: unknown module"
    assert probe.calls[rejected] == 1


async def test_a_transient_fault_is_retried_until_it_passes(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    script = a_script("flaky")
    message_id = await publish(amqp_url, a_request(script))
    await eventually(lambda: _true(script in probe.applied))
    assert probe.calls[script] == 3
    assert message_id not in await dead_letters(amqp_url)


async def test_an_unroutable_publish_raises(service: ServiceClient) -> None:
    broker = service.app.state.runtime.broker
    with pytest.raises(Exception, match="NO_ROUTE"):
        await broker.publish(b"{}", exchange=names.LIFECYCLE_EXCHANGE, routing_key="nobody.home")


async def test_a_body_labelled_json_that_is_not_json_is_dead_lettered_with_the_reason(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    json = "application/json"
    after = a_script("after-cut-json")
    cut = await publish(amqp_url, b'{"event_type": "CatalogSnapshotRequested",', content_type=json)
    await publish(amqp_url, a_request(after), content_type=json)
    await eventually(lambda: _true(after in probe.applied))
    assert await dead_letter_reason(amqp_url, cut) == "invalid event: Input data was truncated"


async def _true(value: bool) -> bool:
    return value


async def test_a_replayed_letter_parked_again_keeps_the_route_it_first_came_in_by(
    service: ServiceClient, amqp_url: str
) -> None:
    # A replay puts a letter straight on its queue (default exchange), its first route on it.
    message_id = str(uuid.uuid4())
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                b"\xff not json",
                message_id=message_id,
                headers={
                    "x-original-exchange": names.KPI_EXCHANGE,
                    "x-original-routing-key": "probe.request",
                },
            ),
            routing_key=QUEUE,
        )
    finally:
        await connection.close()
    await dead_letter_reason(amqp_url, message_id)
    [letter] = [
        letter
        for letter in await dlq.show(amqp_url, names.dead_letter_queue(QUEUE), 1_000)
        if letter.message_id == message_id
    ]
    assert (letter.original_exchange, letter.original_routing_key) == (
        names.KPI_EXCHANGE,
        "probe.request",
    )


def test_the_route_a_message_came_by_is_its_own_or_the_one_its_replay_kept() -> None:
    def raw(exchange: str, routing_key: str, headers: dict[str, Any] | None = None) -> Any:
        return SimpleNamespace(exchange=exchange, routing_key=routing_key, headers=headers)

    assert arrived_by(raw(names.LIFECYCLE_EXCHANGE, names.STAFF_EXITED)) == names.STAFF_EXITED
    replayed = raw("", "assignment.lifecycle", {"x-original-routing-key": names.CONTRACT_CREATED})
    assert arrived_by(replayed) == names.CONTRACT_CREATED
    # Moved straight to the queue with no route on it (a broker upgrade): unknown, not wrong.
    assert arrived_by(raw("", "assignment.lifecycle")) is None
