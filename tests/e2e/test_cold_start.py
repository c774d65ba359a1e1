"""A cold start in any order: assignment up before the catalog still gets its catalogue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from assignment.app import definition as assignment_definition
from catalog.app import definition as catalog_definition
from kpi_contracts.enums import RoleGroup
from kpi_contracts.events import ContractCreated
from kpi_contracts.publisher import LifecyclePublisher
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import bearer, eventually, running
from kpi_kit.testing.servers import Servers, own_database_and_vhost

pytestmark = pytest.mark.integration


@pytest.fixture
async def empty_system(servers: Servers) -> AsyncIterator[tuple[str, str]]:
    """A database and vhost of their own, with no catalog queue declared yet."""
    async with own_database_and_vhost(servers) as urls:
        yield urls


async def test_assignment_started_before_the_catalog_still_assigns(
    empty_system: tuple[str, str],
) -> None:
    database_url, amqp_url = empty_system

    def settings(service: str) -> Settings:
        return Settings(service=service, database_url=database_url, amqp_url=amqp_url)

    staff = uuid.uuid4()
    async with running(assignment_definition(), settings("assignment")) as assignment:
        # Its snapshot request went nowhere: the catalog's queue does not exist yet.
        async with LifecyclePublisher(amqp_url) as publisher:
            await publisher.publish(
                ContractCreated(
                    staff_id=staff,
                    contract_id=uuid.uuid4(),
                    template_id=uuid.uuid4(),
                    role_group=RoleGroup.VOLUNTEER,
                )
            )
        async with running(catalog_definition(), settings("catalog")):
            headers = bearer(settings("assignment"), "manager")

            async def assigned() -> int:
                response = await assignment.get(f"/api/v1/hr/staff/{staff}/kpis", headers=headers)
                return len(response.json())

            assert await eventually(assigned, timeout=60) >= 10


async def test_assignment_started_before_the_catalog_fills_its_replica_unasked(
    empty_system: tuple[str, str],
) -> None:
    """No lifecycle event comes to make it ask again: it asks on its own until it is answered."""
    database_url, amqp_url = empty_system

    def settings(service: str) -> Settings:
        return Settings(service=service, database_url=database_url, amqp_url=amqp_url)

    async with running(assignment_definition(), settings("assignment")) as assignment:
        pool = assignment.app.state.runtime.pool
        async with running(catalog_definition(), settings("catalog")):

            async def replica_filled() -> bool:
                return bool(await pool.fetchval("SELECT count(*) > 50 FROM hr.assignment_modules"))

            assert await eventually(replica_filled, timeout=60)
