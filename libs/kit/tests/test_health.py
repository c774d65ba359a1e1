"""/health/consumers, a worker pod's liveness: it fails when consumers are gone, not on the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from litestar.testing import create_test_client

from kpi_kit import health
from kpi_kit.service import Runtime


@dataclass
class _Queue:
    consumer_count: int

    async def declare(self) -> _Queue:
        return self


@dataclass
class _Broker:
    consumers: int = 1
    reachable: bool = True

    async def ping(self, timeout: float) -> bool:
        return self.reachable

    async def declare_queue(self, queue: Any) -> _Queue:
        return _Queue(self.consumers)


class _DatabaseDown:
    async def fetchval(self, query: str) -> Any:
        raise ConnectionRefusedError


@dataclass
class _Worker:
    """Stands in for a worker's Runtime: what the health routes read of it."""

    broker: _Broker
    pool: Any = field(default_factory=_DatabaseDown)
    consumer_queues: list[str] = field(default_factory=lambda: ["journal.assignments"])
    relay: Any = None
    settings: Any = field(default_factory=lambda: SimpleNamespace(service="probe"))


@dataclass
class _Database:
    async def fetchval(self, query: str) -> Any:
        return 1


def _status(worker: _Worker, path: str) -> tuple[int, dict[str, Any]]:
    with create_test_client(route_handlers=[health.router(cast(Runtime, worker))]) as client:
        answer = client.get(path)
    return answer.status_code, answer.json()


def test_consumers_fail_when_a_queue_has_lost_its_consumers() -> None:
    status, body = _status(_Worker(_Broker(consumers=0)), "/health/consumers")
    assert status == 503
    assert body["checks"]["consumers"] == "no consumer on journal.assignments"


def test_consumers_pass_while_the_database_is_down() -> None:
    worker = _Worker(_Broker(consumers=1))
    assert _status(worker, "/health/consumers")[0] == 200
    assert _status(worker, "/health/ready")[0] == 503  # readiness still counts the database


def test_consumers_fail_while_the_broker_cannot_be_reached() -> None:
    status, body = _status(_Worker(_Broker(reachable=False)), "/health/consumers")
    assert status == 503
    assert body["checks"] == {"broker": "unavailable"}


def test_liveness_stays_ok_without_consumers() -> None:
    assert _status(_Worker(_Broker(consumers=0)), "/health/live") == (200, {"status": "ok"})


def test_an_api_with_no_queues_passes() -> None:
    api = _Worker(_Broker(consumers=0), consumer_queues=[])
    assert _status(api, "/health/consumers") == (200, {"status": "ok", "checks": {"broker": "ok"}})


def test_a_worker_is_not_ready_while_the_broker_cannot_be_reached() -> None:
    worker = _Worker(_Broker(reachable=False), pool=_Database())
    status, body = _status(worker, "/health/ready")
    assert (status, body["status"], body["checks"]["broker"]) == (503, "unavailable", "unavailable")


def test_an_api_keeps_serving_while_the_broker_cannot_be_reached() -> None:
    # Its writes wait in the outbox: pulling every API replica out of its Service would refuse
    # reads and writes that work. /health/ready stays as interfaces §1 defines it.
    api = _Worker(_Broker(reachable=False), pool=_Database(), consumer_queues=[])
    assert _status(api, "/health/ready")[0] == 503
    status, body = _status(api, "/health/serving")
    assert status == 200
    assert body == {
        "status": "degraded",
        "checks": {"database": "ok", "broker": "degraded: unavailable"},
    }
    healthy = _Worker(_Broker(), pool=_Database(), consumer_queues=[])
    assert _status(healthy, "/health/serving") == (
        200,
        {"status": "ok", "checks": {"database": "ok", "broker": "ok"}},
    )


def test_a_worker_serves_only_when_it_is_ready() -> None:
    worker = _Worker(_Broker(reachable=False), pool=_Database())
    assert _status(worker, "/health/serving")[0] == 503


def test_an_api_does_not_serve_while_the_database_is_down() -> None:
    api = _Worker(_Broker(reachable=False), consumer_queues=[])
    status, body = _status(api, "/health/serving")
    assert (status, body["checks"]["database"]) == (503, "unavailable: ConnectionRefusedError")


def _scraped(worker: _Worker) -> str:
    with create_test_client(route_handlers=[health.router(cast(Runtime, worker))]) as client:
        return client.get("/metrics").text


def test_a_scrape_says_whether_the_database_and_the_broker_were_reached() -> None:
    away = _scraped(_Worker(_Broker(reachable=False)))
    assert 'kpi_dependency_up{dependency="database",service="probe"} 0.0' in away
    assert 'kpi_dependency_up{dependency="broker",service="probe"} 0.0' in away
    back = _scraped(_Worker(_Broker(), pool=_Database()))
    assert 'kpi_dependency_up{dependency="database",service="probe"} 1.0' in back
    assert 'kpi_dependency_up{dependency="broker",service="probe"} 1.0' in back
