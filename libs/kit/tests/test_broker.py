"""The broker every service makes, and the topology it declares."""

from __future__ import annotations

from pathlib import Path

import aio_pika
import pytest

from kpi_contracts import names
from kpi_kit.broker import make_broker
from kpi_kit.broker_upgrade import declare_topologies
from kpi_kit.service import ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import declare_as_the_contract_names_them
from kpi_kit.testing.servers import Servers, own_vhost


def test_the_broker_injects_nothing_per_message() -> None:
    # Subscribers take the message itself (kpi_kit.consuming); FastDepends would only cost CPU.
    broker = make_broker(Settings(service="probe"))
    assert broker.config.fd_config.use_fastdepends is False


def a_lifecycle_consumer() -> ServiceDefinition:
    """A service consuming hr.lifecycle as assignment does: its DLQ is hr.lifecycle.dlq."""
    return ServiceDefinition(
        name="topologyprobe",
        migrations=Path(__file__).parent / "no-migrations",
        bindings={
            names.ASSIGNMENT_LIFECYCLE_QUEUE: [(names.LIFECYCLE_EXCHANGE, names.CONTRACT_CREATED)]
        },
    )


@pytest.mark.integration
async def test_a_client_declares_the_exchange_and_dlq_as_the_contract_names_them(
    servers: Servers,
) -> None:
    with own_vhost(servers) as amqp_url:  # the run's vhost may hold another lifecycle consumer
        await declare_topologies(amqp_url, [a_lifecycle_consumer()])
        # The plain declarations below would create what is missing: first, the services made it.
        assert await declared(amqp_url) == (names.KPI_EXCHANGE, names.LIFECYCLE_DLQ)
        await declare_as_the_contract_names_them(amqp_url)


async def declared(amqp_url: str) -> tuple[str, str]:
    """The names of `hr.kpi` and `hr.lifecycle.dlq`, looked up passively (a missing one raises)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names.KPI_EXCHANGE, ensure=True)
        queue = await channel.get_queue(names.LIFECYCLE_DLQ, ensure=True)
        return exchange.name, queue.name
