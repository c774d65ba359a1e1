"""Hostile lifecycle event bodies on a real broker: each lands in the DLQ with a reason, the
consumer keeps consuming, and a valid event sent after them is applied exactly once.

The consumer here is the kit's, with the contract's lifecycle decoder (what the assignment
service's lifecycle consumer is built from) and a handler that records what it is given.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from kpi_contracts import codec, events, names
from kpi_kit import dlq
from kpi_kit.consuming import Consumer, Delivery
from kpi_kit.service import Runtime, ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, consumed, eventually, running

pytestmark = pytest.mark.integration

QUEUE = "hostile.lifecycle"
ROUTING_KEY = "hostile.contract.created"
MEGABYTE = 1024 * 1024


class Recorder:
    """Applies lifecycle events by remembering their ids (once each, as an inbox would)."""

    def __init__(self) -> None:
        self.applied: list[uuid.UUID] = []

    async def handle(self, event: events.LifecycleEvent, _: Delivery) -> bool:
        if event.event_id in self.applied:
            return False
        self.applied.append(event.event_id)
        return True


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
async def consumer_service(
    recorder: Recorder, database_url: str, amqp_url: str
) -> AsyncIterator[ServiceClient]:
    def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
        return [
            Consumer(
                service="hostile",
                queue=QUEUE,
                decode=codec.decode_lifecycle,
                handle=recorder.handle,
                broker=runtime.broker,
            )
        ]

    definition = ServiceDefinition(
        name="hostile",
        migrations=Path(__file__).parent / "no-migrations",
        consumers=consumers,
        bindings={QUEUE: [(names.LIFECYCLE_EXCHANGE, ROUTING_KEY)]},
    )
    settings = Settings(service="hostile", database_url=database_url, amqp_url=amqp_url)
    async with running(definition, settings, "worker") as client:
        yield client


def a_contract_created(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "ContractCreated",
        "occurred_at": datetime.now(UTC).isoformat(),
        "staff_id": str(uuid.uuid4()),
        "contract_id": str(uuid.uuid4()),
        "template_id": str(uuid.uuid4()),
        "role_group": "support_worker",
    }
    body.update(overrides)
    return body


def as_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


HOSTILE: dict[str, bytes] = {
    "empty body": b"",
    "not json": b"\x00\x01garbage",
    "json null": b"null",
    "json array": b"[1, 2, 3]",
    "json string": b'"ContractCreated"',
    "unknown event_type": as_json(a_contract_created(event_type="ContractDeleted")),
    "no event_type": as_json({k: v for k, v in a_contract_created().items() if k != "event_type"}),
    "staff_id a number": as_json(a_contract_created(staff_id=12345)),
    "staff_id not a uuid": as_json(a_contract_created(staff_id="'; DROP TABLE hr.staff_kpis; --")),
    "role_group unknown": as_json(a_contract_created(role_group="overlord")),
    "occurred_at a date only": as_json(a_contract_created(occurred_at="2026-01-01")),
    "occurred_at a number": as_json(a_contract_created(occurred_at=1767258000)),
    "occurred_at not a time": as_json(a_contract_created(occurred_at="yesterday")),
    "kpi_selection wrong shape": as_json(a_contract_created(kpi_selection=["all"])),
    "missing staff_id": as_json({k: v for k, v in a_contract_created().items() if k != "staff_id"}),
    "missing event_id": as_json({k: v for k, v in a_contract_created().items() if k != "event_id"}),
    "missing occurred_at": as_json(
        {k: v for k, v in a_contract_created().items() if k != "occurred_at"}
    ),
    "invalid utf-8": b'{"event_type": "StaffExited", "event_id": "\xff\xfe", "staff_id": "\xc3\x28"}',
    "nesting bomb": b"[" * 100_000 + b"]" * 100_000,
    "1 MB of garbage": b"\xfe" * MEGABYTE,
    "1 MB valid-looking event": as_json(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "StaffExited",
            "occurred_at": datetime.now(UTC).isoformat(),
            "staff_id": str(uuid.uuid4()),
            "reason": "x" * MEGABYTE,
        }
    ),
}


async def send(
    amqp_url: str, body: bytes, *, bare: bool = False, headers: dict[str, Any] | None = None
) -> None:
    """Publish a raw body; `bare` leaves out every property (no content type, id or headers)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.LIFECYCLE_EXCHANGE)
        if bare:
            message = aio_pika.Message(body)
        else:
            message = aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(uuid.uuid4()),
                headers=headers or {},
            )
        await exchange.publish(message, routing_key=ROUTING_KEY, mandatory=True)
    finally:
        await connection.close()


async def consumers_on(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.consumer_count or 0
    finally:
        await connection.close()


async def test_hostile_bodies_are_dead_lettered_and_the_consumer_carries_on(
    consumer_service: ServiceClient, recorder: Recorder, amqp_url: str
) -> None:
    for body in HOSTILE.values():
        await send(amqp_url, body)
    valid = a_contract_created()
    await send(amqp_url, as_json(valid))

    await eventually(lambda: _true(uuid.UUID(valid["event_id"]) in recorder.applied), timeout=30)
    dead_letter_queue = names.dead_letter_queue(QUEUE)

    async def all_parked() -> bool:
        counts = await dlq.counts(amqp_url, [dead_letter_queue])
        return counts[dead_letter_queue] == len(HOSTILE)

    await eventually(all_parked, timeout=30)
    letters = await dlq.show(amqp_url, dead_letter_queue, limit=len(HOSTILE) + 5)
    assert len(letters) == len(HOSTILE)
    assert all(letter.reason.startswith("invalid event") for letter in letters), [
        letter.reason[:120] for letter in letters
    ]
    assert recorder.applied == [uuid.UUID(valid["event_id"])]
    assert await consumers_on(amqp_url, QUEUE) == 1
    ready = await consumer_service.get("/health/ready")
    assert ready.status_code == 200, ready.text


async def test_a_valid_event_without_any_properties_is_applied_once(
    consumer_service: ServiceClient, recorder: Recorder, amqp_url: str
) -> None:
    # No message_id, content type or headers: the body's event_id is the dedupe key.
    body = a_contract_created()
    duplicates = consumed("hostile", "ContractCreated", "duplicate")
    await send(amqp_url, as_json(body), bare=True)
    await send(amqp_url, as_json(body), bare=True)
    event_id = uuid.UUID(body["event_id"])
    await eventually(lambda: _true(event_id in recorder.applied), timeout=30)
    # The second copy reached the handler, which knew its event_id (the recorder keeps no more).
    await eventually(
        lambda: _true(consumed("hostile", "ContractCreated", "duplicate") == duplicates + 1),
        timeout=30,
    )


async def test_odd_headers_do_not_stop_a_consumer(
    consumer_service: ServiceClient, recorder: Recorder, amqp_url: str
) -> None:
    body = a_contract_created()
    headers: dict[str, Any] = {
        "x-correlation-id": 12345,
        "x-death": "not a list",
        "x-dlq-reason": "forged",
        "huge": "h" * 60_000,
    }
    await send(amqp_url, as_json(body), headers=headers)
    event_id = uuid.UUID(body["event_id"])
    await eventually(lambda: _true(event_id in recorder.applied), timeout=30)
    assert await consumers_on(amqp_url, QUEUE) == 1


async def _true(value: bool) -> bool:
    return value
