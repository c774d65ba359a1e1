"""The contract system's side: the typed publisher and `kpi-publish` drive the service."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from kpi_contracts import cli
from kpi_contracts.enums import RoleGroup
from kpi_contracts.events import StaffExited
from kpi_contracts.publisher import LifecyclePublisher

pytestmark = pytest.mark.integration


async def test_kpi_publish_contract_created_assigns_the_kpis(
    amqp_url, contract_system, people, catalogue, capsys
):
    staff = uuid.uuid4()
    argv = [
        "--amqp-url",
        amqp_url,
        "contract-created",
        "--staff-id",
        str(staff),
        "--template-id",
        str(uuid.uuid4()),
        "--role-group",
        "allied_health",
    ]

    assert await asyncio.to_thread(cli.main, argv) == 0

    published = json.loads(capsys.readouterr().out)
    await people.processed(published["event_id"])
    kpis = await people.kpis(staff)
    assert {k["kpi_module_id"] for k in kpis} == catalogue.defaults(RoleGroup.ALLIED_HEALTH)
    assert {k["contract_id"] for k in kpis} == {published["contract_id"]}


async def test_the_typed_publisher_announces_an_exit(amqp_url, contract_system, people):
    staff = uuid.uuid4()
    hired = contract_system.a_contract_created(staff)
    await contract_system.send(hired)
    await people.processed(hired["event_id"])
    leaving = StaffExited(staff_id=staff, reason="end of contract")

    async with LifecyclePublisher(amqp_url) as publisher:
        await publisher.publish(leaving)
    await people.processed(str(leaving.event_id))

    assert await people.kpis(staff) == []
    assert {k["deactivation_reason"] for k in await people.kpis(staff, every=True)} == {
        "Staff exited: end of contract"
    }
