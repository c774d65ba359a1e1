"""Run a real service in-process for tests: real database, real broker, HTTP via a test client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import httpx
from litestar import Litestar
from prometheus_client import REGISTRY

from kpi_contracts import names
from kpi_kit.auth import issue_token
from kpi_kit.migrations import apply_migrations
from kpi_kit.service import ServiceDefinition, ServiceRole, create_app
from kpi_kit.settings import Settings


def bearer(settings: Settings, role: str, staff_id: uuid.UUID | None = None) -> dict[str, str]:
    """Authorization header for a token of one role."""
    token, _ = issue_token(settings.jwt_secret, sub=f"test-{role}", roles=[role], staff_id=staff_id)
    return {"Authorization": f"Bearer {token}"}


async def migrate(definition: ServiceDefinition, settings: Settings) -> None:
    """Apply a service's migrations to the test database."""
    await apply_migrations(settings.database_url, definition.name, definition.migrations)


class ServiceClient(httpx.AsyncClient):
    """An HTTP client bound in-process to a running service; `app` is the service itself."""

    def __init__(self, app: Litestar) -> None:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar is ASGI
        super().__init__(transport=transport, base_url="http://testserver")
        self.app = app


@asynccontextmanager
async def running(
    definition: ServiceDefinition, settings: Settings, role: ServiceRole = "all"
) -> AsyncIterator[ServiceClient]:
    """Start a service (lifespan included) on the test's own event loop and yield a client.

    Litestar's AsyncTestClient runs the app on another loop in a thread; the service's pool and
    consumers must share the test's loop so that tests can reach them directly.
    """
    await migrate(definition, settings)
    app = create_app(definition, settings, role)
    started, stop = asyncio.Event(), asyncio.Event()

    async def host() -> None:
        # The lifespan enters and exits in this one task, as anyio's cancel scopes require.
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(host(), name=f"{definition.name}-lifespan")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # start-up failed: raise its error here
    try:
        async with ServiceClient(app) as client:
            yield client
    finally:
        stop.set()
        await task


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll until `check` returns a truthy value; fail with its last value after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)


def consumed(service: str, event_type: str, outcome: str) -> float:
    """How many events of a type this process's consumers of a service settled with an outcome."""
    value = REGISTRY.get_sample_value(
        "kpi_events_consumed_total",
        {"service": service, "event_type": event_type, "outcome": outcome},
    )
    return value or 0.0


async def queue_holds(amqp_url: str, queue: str, message_id: str) -> bool:
    """Whether a queue holds the message with this id; every message read goes back to it."""
    return await held_message(amqp_url, queue, message_id) is not None


async def held_message(
    amqp_url: str, queue: str, message_id: str
) -> aio_pika.abc.AbstractIncomingMessage | None:
    """The message with this id that a queue holds, if any; every message read goes back to it."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        held = await channel.declare_queue(queue, passive=True)
        while (message := await held.get(no_ack=False, fail=False)) is not None:
            if message.message_id == message_id:
                return message
        return None
    finally:
        await connection.close()  # unacknowledged, what was read is requeued


async def declare_as_the_contract_names_them(amqp_url: str) -> None:
    """Declare `hr.kpi` and `hr.lifecycle.dlq` as a client reading interfaces §5 does: plainly.
    A refused declaration raises (PRECONDITION_FAILED)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.declare_exchange(
            names.KPI_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_queue(names.LIFECYCLE_DLQ, durable=True)
    finally:
        await connection.close()
