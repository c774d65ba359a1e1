"""A replica that starts empty asks for a snapshot; the catalog answers once per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from kpi_contracts import codec, events, names
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, consumed, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def catalog_events(
    catalog: ServiceClient, catalog_settings: Settings
) -> AsyncIterator[tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue]]:
    connection = await aio_pika.connect(catalog_settings.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(names.KPI_EXCHANGE, routing_key="catalog.*")
    yield channel, queue
    await connection.close()


def duplicates_seen() -> float:
    return consumed("catalog", "CatalogSnapshotRequested", "duplicate")


async def drain(queue: aio_pika.abc.AbstractQueue) -> int:
    """Take every waiting message; count the module upserts among them."""
    upserts = 0
    while (incoming := await queue.get(no_ack=True, fail=False)) is not None:
        upserts += incoming.routing_key == names.MODULE_UPSERTED
    return upserts


async def test_a_snapshot_request_republishes_the_catalogue_once(
    catalog: ServiceClient,
    catalog_events: tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue],
) -> None:
    channel, queue = catalog_events
    modules = len(
        (
            await catalog.get(
                "/api/v1/hr/kpi-modules?include_archived=true", headers=_admin(catalog)
            )
        ).json()
    )
    request = events.CatalogSnapshotRequested(requested_by="test")
    message = aio_pika.Message(
        codec.encode(request), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
    )
    exchange = await channel.get_exchange(names.KPI_EXCHANGE)
    before = duplicates_seen()

    await exchange.publish(message, routing_key=names.CATALOG_SNAPSHOT_REQUESTED)
    received = 0

    async def all_arrived() -> bool:
        nonlocal received
        received += await drain(queue)
        return received >= modules

    await eventually(all_arrived, timeout=20)
    # The same request again (a redelivery) is recognised and republishes nothing.
    await exchange.publish(message, routing_key=names.CATALOG_SNAPSHOT_REQUESTED)
    await eventually(lambda: _async(duplicates_seen() > before))
    await eventually(lambda: outbox_empty(catalog))  # anything it queued is on the broker now
    received += await drain(queue)
    assert received == modules


async def outbox_empty(catalog: ServiceClient) -> bool:
    pool = catalog.app.state.runtime.pool
    return int(await pool.fetchval("SELECT count(*) FROM hr.catalog_outbox")) == 0


def _admin(catalog: ServiceClient) -> dict[str, str]:
    from kpi_kit.testing.harness import bearer

    settings: Settings = catalog.app.state.settings
    return bearer(settings, "hr_admin")


async def _async(value: bool) -> bool:
    await asyncio.sleep(0)
    return value
