"""Run a real service in-process for tests: real database, real broker, HTTP via a test client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

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


@asynccontextmanager
async def running(
    definition: ServiceDefinition, settings: Settings, role: ServiceRole = "all"
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """Start a service (lifespan included) and yield an HTTP client bound to it."""
    await migrate(definition, settings)
    app = create_app(definition, settings, role)
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        yield client


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
