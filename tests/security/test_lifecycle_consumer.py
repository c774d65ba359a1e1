"""The assignment service's own lifecycle consumer against hostile bodies and tricky ids: every
hostile body lands in hr.lifecycle.dlq with a reason, the consumer carries on, and dedupe is on
the body's event_id, never on the AMQP message_id."""

from __future__ import annotations

import uuid
from typing import Any

import aio_pika
import asyncpg
import pytest

from kpi_contracts import codec, events, names
from kpi_contracts.enums import RoleGroup
from kpi_kit import dlq
from kpi_kit.testing.harness import consumed, eventually

from .conftest import System, bearer
from .test_hostile_events import HOSTILE

pytestmark = pytest.mark.integration


async def send(system: System, body: bytes, routing_key: str, message_id: str | None) -> None:
    connection = await aio_pika.connect(system.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.LIFECYCLE_EXCHANGE)
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
        )
        await exchange.publish(message, routing_key=routing_key, mandatory=True)
    finally:
        await connection.close()


def a_contract(staff_id: uuid.UUID | None = None, **overrides: Any) -> events.ContractCreated:
    fields: dict[str, Any] = {
        "staff_id": staff_id or uuid.uuid4(),
        "contract_id": uuid.uuid4(),
        "template_id": uuid.uuid4(),
        "role_group": RoleGroup.ALLIED_HEALTH,
    }
    fields.update(overrides)
    return events.ContractCreated(**fields)


async def kpis_of(system: System, staff_id: uuid.UUID) -> list[dict[str, Any]]:
    response = await system.clients["assignment"].get(
        f"/api/v1/hr/staff/{staff_id}/kpis", params={"status": "all"}, headers=bearer("manager")
    )
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()
    return found


async def applied(system: System, event_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(system.database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM hr.assignment_inbox WHERE consumer = $1 AND event_id = $2",
            names.ASSIGNMENT_LIFECYCLE_QUEUE,
            event_id,
        )
        return count
    finally:
        await conn.close()


@pytest.fixture
def assignment_installed(system: System) -> None:
    if not system.has("assignment"):
        pytest.skip("assignment is not installed in this checkout")


@pytest.mark.usefixtures("assignment_installed")
async def test_hostile_bodies_land_in_the_lifecycle_dlq_and_the_consumer_carries_on(
    system: System,
) -> None:
    before = (await dlq.counts(system.amqp_url, [names.LIFECYCLE_DLQ]))[names.LIFECYCLE_DLQ] or 0
    keys = (names.CONTRACT_CREATED, names.ROLE_CHANGED, names.STAFF_EXITED)
    for index, body in enumerate(HOSTILE.values()):
        await send(system, body, keys[index % 3], str(uuid.uuid4()))
    valid = a_contract()
    await send(system, codec.encode(valid), names.CONTRACT_CREATED, str(valid.event_id))

    async def hired() -> bool:
        return bool(await kpis_of(system, valid.staff_id))

    await eventually(hired, timeout=30)

    async def all_parked() -> bool:
        found = await dlq.counts(system.amqp_url, [names.LIFECYCLE_DLQ])
        return found[names.LIFECYCLE_DLQ] == before + len(HOSTILE)

    await eventually(all_parked, timeout=30)
    letters = await dlq.show(system.amqp_url, names.LIFECYCLE_DLQ, limit=before + len(HOSTILE))
    assert all(letter.reason.startswith("invalid event") for letter in letters[before:])
    ready = await system.clients["assignment"].get("/health/ready")
    assert ready.status_code == 200, ready.text


@pytest.mark.usefixtures("assignment_installed")
async def test_one_event_under_two_message_ids_is_applied_once(system: System) -> None:
    event = a_contract()
    duplicates = consumed("assignment", "ContractCreated", "duplicate")
    await send(system, codec.encode(event), names.CONTRACT_CREATED, "first-id")
    await send(system, codec.encode(event), names.CONTRACT_CREATED, "second-id")
    await send(system, codec.encode(event), names.CONTRACT_CREATED, None)

    async def two_copies_skipped() -> bool:
        return consumed("assignment", "ContractCreated", "duplicate") >= duplicates + 2

    # A second application would fail on the step already recorded and be retried, never counted
    # as a duplicate; the first one applied is what hired the person.
    await eventually(two_copies_skipped, timeout=30)
    kpis = await kpis_of(system, event.staff_id)
    modules = [k["kpi_module_id"] for k in kpis]
    assert modules and len(modules) == len(set(modules))


@pytest.mark.usefixtures("assignment_installed")
async def test_two_events_under_one_message_id_are_both_applied(system: System) -> None:
    person = uuid.uuid4()
    hired = a_contract(person, role_group=RoleGroup.ROSTERING)
    exited = events.StaffExited(staff_id=person, reason="Moved away")
    await send(system, codec.encode(hired), names.CONTRACT_CREATED, "same-id")
    await eventually(lambda: _applied_once(system, hired.event_id), timeout=30)
    await send(system, codec.encode(exited), names.STAFF_EXITED, "same-id")
    await eventually(lambda: _applied_once(system, exited.event_id), timeout=30)
    kpis = await kpis_of(system, person)
    assert kpis and all(k["status"] == "inactive" for k in kpis)


async def _applied_once(system: System, event_id: uuid.UUID) -> bool:
    return await applied(system, event_id) == 1
