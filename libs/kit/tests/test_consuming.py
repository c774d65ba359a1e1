"""The consumer discipline on a real broker: bad bodies and poison messages are dead-lettered
with a reason, transient faults are retried, and the next message is still applied."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from kpi_contracts import codec, events, names
from kpi_kit import dlq
from kpi_kit.consuming import Consumer, Delivery, Rejected
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


async def publish(amqp_url: str, body: bytes, content_type: str | None = None) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.KPI_EXCHANGE)
        message = aio_pika.Message(
            body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type=content_type
        )
        await exchange.publish(message, routing_key="probe.request")
    finally:
        await connection.close()


def a_request(script: str) -> bytes:
    return codec.encode(events.CatalogSnapshotRequested(requested_by=script))


async def dead_letter_reasons(amqp_url: str) -> list[str]:
    return [d.reason for d in await dlq.show(amqp_url, names.dead_letter_queue(QUEUE), 100)]


async def test_an_undecodable_body_is_dead_lettered_and_the_next_is_applied(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    await publish(amqp_url, b"\xff\xfe not json")
    await publish(amqp_url, b'{"event_type": "CatalogSnapshotRequested"}')
    await publish(amqp_url, a_request("after-garbage"))
    await eventually(lambda: _true("after-garbage" in probe.applied))
    reasons = await dead_letter_reasons(amqp_url)
    assert sum(r.startswith("invalid event") for r in reasons) == 2
    assert any("requested_by" in r for r in reasons)


async def test_a_json_labelled_body_that_is_not_json_is_dead_lettered_at_once(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    # FastStream parses application/json bodies itself unless told not to; a failure there
    # would happen outside the consumer and loop until the broker's delivery limit.
    await publish(amqp_url, b"", content_type="application/json")
    await publish(amqp_url, b"\xfe\xff{", content_type="application/json")
    await publish(amqp_url, a_request("after-bad-json"), content_type="application/json")
    await eventually(lambda: _true("after-bad-json" in probe.applied))
    reasons = await dead_letter_reasons(amqp_url)
    assert sum(r.startswith("invalid event: JSON") or "truncated" in r for r in reasons) >= 2


async def test_an_oversized_body_is_dead_lettered_unread(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    await publish(amqp_url, a_request("huge-" + "x" * 300_000))
    await publish(amqp_url, a_request("after-huge"))
    await eventually(lambda: _true("after-huge" in probe.applied))
    assert not any(s.startswith("huge-") for s in probe.calls)
    assert any("over the limit" in r for r in await dead_letter_reasons(amqp_url))


async def test_a_poison_message_is_dead_lettered_after_bounded_attempts(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    await publish(amqp_url, a_request("poison-1"))
    await publish(amqp_url, a_request("after-poison"))
    await eventually(lambda: _true("after-poison" in probe.applied))

    async def poison_parked() -> bool:
        return any(r.startswith("failed 3 times") for r in await dead_letter_reasons(amqp_url))

    await eventually(poison_parked)
    assert probe.calls["poison-1"] == 3


async def test_a_rejected_event_is_dead_lettered_at_once(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    await publish(amqp_url, a_request("rejected-1"))
    await publish(amqp_url, a_request("after-rejected"))
    await eventually(lambda: _true("after-rejected" in probe.applied))
    assert probe.calls["rejected-1"] == 1
    assert "rejected: unknown module" in await dead_letter_reasons(amqp_url)


async def test_a_transient_fault_is_retried_until_it_passes(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    script = f"flaky-{uuid.uuid4().hex[:6]}"
    await publish(amqp_url, a_request(script))
    await eventually(lambda: _true(script in probe.applied))
    assert probe.calls[script] == 3
    assert not any(script in r for r in await dead_letter_reasons(amqp_url))


async def test_an_unroutable_publish_raises(service: ServiceClient) -> None:
    broker = service.app.state.runtime.broker
    with pytest.raises(Exception, match="NO_ROUTE"):
        await broker.publish(b"{}", exchange=names.LIFECYCLE_EXCHANGE, routing_key="nobody.home")


async def test_a_body_labelled_json_that_is_not_json_is_dead_lettered_with_the_reason(
    service: ServiceClient, probe: Probe, amqp_url: str
) -> None:
    json = "application/json"
    await publish(amqp_url, b'{"event_type": "CatalogSnapshotRequested",', content_type=json)
    await publish(amqp_url, a_request("after-bad-json"), content_type=json)
    await eventually(lambda: _true("after-bad-json" in probe.applied))
    reasons = await dead_letter_reasons(amqp_url)
    assert any(r.startswith("invalid event: JSON is malformed") for r in reasons)


async def _true(value: bool) -> bool:
    return value
