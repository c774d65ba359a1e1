"""HEAD and 405 on a real `kpi serve` process (uvicorn): HEAD answers as GET without its body,
on a connection that stays usable; a 405 says which methods the resource allows (RFC 9110)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from live import ServiceProcess, migrate, service_env

from kpi_kit.auth import issue_token
from kpi_kit.settings import DEV_JWT_SECRET
from kpi_kit.testing.servers import Servers, own_database_and_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def catalog(servers: Servers) -> AsyncIterator[httpx.AsyncClient]:
    """A manager's client of one catalog API process; one connection, kept alive."""
    async with own_database_and_vhost(servers, "kpi_http_methods") as (database_url, amqp_url):
        env = service_env(database_url, amqp_url)
        served = ServiceProcess("catalog", "all", env, Path(tempfile.mkdtemp()))
        try:
            migrate(["catalog"], env)
            served.start()
            await served.wait_ready()
            token, _ = issue_token(DEV_JWT_SECRET, sub="test-manager", roles=["manager"])
            limits = httpx.Limits(max_connections=1)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(
                base_url=served.url, headers=headers, limits=limits
            ) as client:
                yield client
        finally:
            served.stop()


@pytest.mark.parametrize("path", ["/health/live", "/api/v1/hr/kpi-modules?role_group=volunteer"])
async def test_head_answers_as_get_without_the_body(catalog: httpx.AsyncClient, path: str) -> None:
    got = await catalog.get(path)
    head = await catalog.head(path)
    assert got.status_code == head.status_code == 200
    assert got.content and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    # No body bytes were left on the connection: the next answer on it is read cleanly.
    again = await catalog.get(path)
    assert again.status_code == 200 and again.content == got.content


async def test_head_keeps_the_rights_of_get(catalog: httpx.AsyncClient) -> None:
    head = await catalog.head("/api/v1/hr/kpi-modules", headers={"Authorization": ""})
    assert head.status_code == 401 and head.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/health/live", "GET, HEAD, OPTIONS"),
        ("DELETE", "/api/v1/hr/kpi-modules", "GET, HEAD, OPTIONS, POST"),
        (
            "DELETE",
            "/api/v1/hr/kpi-modules/6f1c7a3e-9b1d-4c55-8a2e-3d4b5c6d7e8f",
            "GET, HEAD, OPTIONS, PATCH",
        ),
        ("POST", "/schema/openapi.json", "GET, HEAD, OPTIONS"),
    ],
)
async def test_a_405_says_which_methods_the_resource_allows(
    catalog: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    answer = await catalog.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allowed
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 405
