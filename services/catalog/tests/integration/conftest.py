"""A running catalog service (real PostgreSQL and RabbitMQ) for the integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from catalog.app import definition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, bearer, running


@pytest.fixture(scope="session")
def catalog_settings(settings_for: Callable[[str], Settings]) -> Settings:
    return settings_for("catalog")


@pytest.fixture(scope="session")
async def catalog(catalog_settings: Settings) -> AsyncIterator[ServiceClient]:
    async with running(definition(), catalog_settings) as client:
        yield client


@pytest.fixture(scope="session")
def as_role(catalog_settings: Settings) -> Callable[..., dict[str, str]]:
    def headers(role: str, staff_id: uuid.UUID | None = None) -> dict[str, str]:
        if role == "staff" and staff_id is None:
            staff_id = uuid.uuid4()
        return bearer(catalog_settings, role, staff_id)

    return headers
