"""Every installed service running in-process on a database and vhost of this suite's own."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from kpi_kit.auth import issue_token
from kpi_kit.cli import available_services, definition_of
from kpi_kit.settings import DEV_JWT_SECRET, Settings
from kpi_kit.testing.harness import ServiceClient, running
from kpi_kit.testing.servers import Servers, own_database_and_vhost


@dataclass
class System:
    """The running services, their database and vhost."""

    clients: dict[str, ServiceClient]
    database_url: str
    amqp_url: str

    def has(self, service: str) -> bool:
        return service in self.clients


@pytest.fixture(scope="session")
async def system(servers: Servers) -> AsyncIterator[System]:
    async with (
        own_database_and_vhost(servers, "kpi_security") as (database_url, amqp_url),
        AsyncExitStack() as stack,
    ):
        clients: dict[str, ServiceClient] = {}
        for service in available_services():  # catalog first: the others replicate it
            settings = Settings(
                service=service,
                database_url=database_url,
                amqp_url=amqp_url,
                prefetch=16,
                db_pool_max=5,
            )
            clients[service] = await stack.enter_async_context(
                running(definition_of(service), settings)
            )
        yield System(clients, database_url, amqp_url)


def token(
    role: str | list[str],
    staff_id: uuid.UUID | None = None,
    *,
    secret: str = DEV_JWT_SECRET,
    lifetime: timedelta = timedelta(hours=1),
) -> str:
    """A token signed the way the system signs them."""
    roles = [role] if isinstance(role, str) else role
    signed, _ = issue_token(
        secret, sub=f"security-{'-'.join(roles)}", roles=roles, staff_id=staff_id, lifetime=lifetime
    )
    return signed


def bearer(role: str | list[str], staff_id: uuid.UUID | None = None) -> dict[str, str]:
    """Authorization header of a valid token."""
    return {"Authorization": f"Bearer {token(role, staff_id)}"}


def unsigned_token(claims: dict[str, Any], alg: str = "none") -> str:
    """A JWT with the given header algorithm and no signature at all."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}."
