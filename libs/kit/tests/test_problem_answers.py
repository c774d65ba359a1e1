"""Errors reach clients as problem+json, and the OpenAPI document says which ones they may get."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar import get
from litestar.params import FromPath

from kpi_kit.service import ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, running

pytestmark = pytest.mark.integration


# What the database raises, by the name of the route that raises it.
RAISED: dict[str, Exception] = {
    "refused-value": asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte 0x00"),
    "database-away": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    "unique-rule": asyncpg.exceptions.UniqueViolationError("duplicate key value"),
    "check-rule": asyncpg.exceptions.CheckViolationError("new row violates check constraint"),
}


@get("/api/v1/{name:str}", sync_to_thread=False)
def raising(name: FromPath[str]) -> None:
    raise RAISED[name]


@pytest.fixture(scope="module")
async def service(database_url: str, amqp_url: str) -> AsyncIterator[ServiceClient]:
    definition = ServiceDefinition(
        name="probe",
        migrations=Path(__file__).parent / "no-migrations",
        route_handlers=[raising],
    )
    settings = Settings(service="probe", database_url=database_url, amqp_url=amqp_url)
    async with running(definition, settings, "api") as client:
        yield client


async def test_a_value_the_database_refuses_is_a_400_not_a_500(service: ServiceClient) -> None:
    response = await service.get("/api/v1/refused-value")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 400


@pytest.mark.parametrize(
    ("path", "status"), [("/api/v1/unique-rule", 409), ("/api/v1/check-rule", 422)]
)
async def test_a_rule_of_the_stored_records_that_a_request_breaks_is_a_4xx(
    service: ServiceClient, path: str, status: int
) -> None:
    # The use cases check these first; this is the answer when a race slips past them.
    response = await service.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_database_that_is_away_is_a_503_with_retry_after(service: ServiceClient) -> None:
    response = await service.get("/api/v1/database-away")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"]


async def test_the_openapi_document_states_the_problem_answers(service: ServiceClient) -> None:
    document = (await service.get("/schema/openapi.json")).json()
    responses = document["paths"]["/api/v1/{name}"]["get"]["responses"]
    for status in ("400", "401", "403", "404", "409", "422", "503"):
        content = responses[status]["content"]
        assert list(content) == ["application/problem+json"], status
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


async def test_a_method_the_route_does_not_have_is_a_405_problem_naming_the_allowed_ones(
    service: ServiceClient,
) -> None:
    response = await service.delete("/api/v1/refused-value")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 405
    assert "GET" in response.headers["allow"]
