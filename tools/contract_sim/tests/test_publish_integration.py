"""The simulator's events reach RabbitMQ as interfaces §5 says: exchange, key, body, properties."""

from __future__ import annotations

import uuid
from pathlib import Path

import aio_pika
import httpx
import msgspec
import pytest

from contract_sim.app import create_app
from kpi_contracts import codec, names
from kpi_contracts.events import ContractCreated, StaffExited
from kpi_kit.auth import issue_token
from kpi_kit.settings import Settings

pytestmark = pytest.mark.integration

SUPPORT_WORKER_TEMPLATE = "4bd422f1-d364-5c23-bb98-bcba5ac7b650"


async def test_contract_and_exit_are_published_persistent_with_message_id(
    amqp_url: str, tmp_path: Path
) -> None:
    settings = Settings.from_env("contract_sim", {"KPI_AMQP_URL": amqp_url})
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        names.LIFECYCLE_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")

    token, _ = issue_token(settings.jwt_secret, sub="it", roles=["manager"])
    staff_id = str(uuid.uuid4())
    app = create_app(settings, state_file=tmp_path / "people.json")
    try:
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
                headers = {"Authorization": f"Bearer {token}"}
                created = await client.post(
                    "/contract-sim/contracts",
                    json={"staff_id": staff_id, "template_id": SUPPORT_WORKER_TEMPLATE},
                    headers=headers,
                )
                exited = await client.post(
                    "/contract-sim/exits", json={"staff_id": staff_id}, headers=headers
                )
        assert created.status_code == exited.status_code == 201

        received = []
        for _ in range(2):
            message = await queue.get(timeout=5, fail=True)
            received.append(message)
            await message.ack()
    finally:
        await connection.close()

    first, second = received
    assert first.routing_key == names.CONTRACT_CREATED
    assert second.routing_key == names.STAFF_EXITED
    for message in received:
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    wire = msgspec.json.decode(first.body)
    assert (wire["event_type"], wire["staff_id"], wire["template_id"]) == (
        "ContractCreated",
        staff_id,
        SUPPORT_WORKER_TEMPLATE,
    )
    assert {"event_id", "occurred_at", "contract_id", "role_group"} <= wire.keys()
    event = codec.decode_lifecycle(first.body)
    assert isinstance(event, ContractCreated)
    assert first.message_id == str(event.event_id) == created.json()["event_id"]
    exit_event = codec.decode_lifecycle(second.body)
    assert isinstance(exit_event, StaffExited)
    assert second.message_id == str(exit_event.event_id) == exited.json()["event_id"]
