"""Pytest fixtures shared by every service's tests (loaded with `-p kpi_kit.testing.plugin`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from kpi_kit.settings import Settings
from kpi_kit.testing.servers import (
    Servers,
    create_database,
    drop_database,
    find_servers,
    own_vhost,
    unique_name,
)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """The PostgreSQL and RabbitMQ servers of this test run."""
    found = find_servers()
    yield found
    found.close()


@pytest.fixture(scope="session")
async def database_url(servers: Servers) -> AsyncIterator[str]:
    """A database of this test run's own, dropped at the end."""
    name = unique_name()
    url = await create_database(servers.postgres_url, name)
    yield url
    await drop_database(servers.postgres_url, name)


@pytest.fixture(scope="session")
def amqp_url(servers: Servers) -> Iterator[str]:
    """A RabbitMQ vhost of this test run's own, deleted at the end."""
    with own_vhost(servers) as url:
        yield url


@pytest.fixture(scope="session")
def settings_for(database_url: str, amqp_url: str) -> Callable[[str], Settings]:
    """Settings of a service pointed at this run's database and vhost."""

    def make(service: str) -> Settings:
        return Settings(
            service=service,
            database_url=database_url,
            amqp_url=amqp_url,
            prefetch=32,
            db_pool_max=5,
        )

    return make
