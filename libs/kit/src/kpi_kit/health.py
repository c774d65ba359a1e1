"""Liveness, readiness and metrics routes, served by every role of every service."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from litestar import Response, Router, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kpi_kit.metrics import DEPENDENCY_UP, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

if TYPE_CHECKING:
    from kpi_kit.service import Runtime


def router(runtime: Runtime) -> Router:
    """The /health and /metrics routes of a service."""

    @get("/health/live", include_in_schema=False, sync_to_thread=False)
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @get("/health/ready", include_in_schema=False)
    async def ready() -> Response[dict[str, Any]]:
        return _answer(await readiness(runtime))

    @get("/health/serving", include_in_schema=False)
    async def serving() -> Response[dict[str, Any]]:
        # An API pod's readiness on Kubernetes (added beside the contract's /health/ready).
        return _answer(await serving_checks(runtime))

    @get("/health/consumers", include_in_schema=False)
    async def consumers() -> Response[dict[str, Any]]:
        # A worker pod's liveness: a restart is what brings consumers back (aio-pika#231). The
        # database stays out, so that a database blip does not restart every worker at once.
        return _answer(await consuming(runtime))

    @get("/metrics", include_in_schema=False)
    async def metrics() -> Response[bytes]:
        service = runtime.settings.service
        database, broker = await asyncio.gather(_database(runtime), _broker(runtime))
        DEPENDENCY_UP.labels(service, "database").set(database == "ok")
        DEPENDENCY_UP.labels(service, "broker").set(broker == "ok")
        if runtime.relay is not None:
            try:
                backlog, age = await asyncio.wait_for(runtime.relay.backlog(), 2.0)
                OUTBOX_BACKLOG.labels(runtime.settings.service).set(backlog)
                OUTBOX_OLDEST_AGE.labels(runtime.settings.service).set(age)
            except Exception:  # noqa: S110 - metrics must answer even when the database is away
                pass
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Router(path="/", route_handlers=[live, ready, serving, consumers, metrics])


# A check that failed without stopping the process from answering (200, status "degraded").
DEGRADED = "degraded: "


def _answer(checks: dict[str, str]) -> Response[dict[str, Any]]:
    if all(value == "ok" for value in checks.values()):
        status, code = "ok", HTTP_200_OK
    elif all(value == "ok" or value.startswith(DEGRADED) for value in checks.values()):
        status, code = "degraded", HTTP_200_OK
    else:
        status, code = "unavailable", HTTP_503_SERVICE_UNAVAILABLE
    return Response({"status": status, "checks": checks}, status_code=code)


async def readiness(runtime: Runtime) -> dict[str, str]:
    """Interfaces §1's readiness: the database and the broker reachable (and, for workers, every
    queue with a consumer)."""
    database, broker = await asyncio.gather(_database(runtime), consuming(runtime))
    return {"database": database} | broker


async def serving_checks(runtime: Runtime) -> dict[str, str]:
    """Whether the process can do its job now. A worker's is its readiness. An API process
    answers without the broker (its writes wait in the outbox for a worker's relay, and a
    request's wait for word of its event is bounded): a broker outage shows as degraded, so that
    it does not take every API replica out of its Service."""
    checks = await readiness(runtime)
    if runtime.consumer_queues or runtime.relay is not None:
        return checks
    return {k: v if k == "database" or v == "ok" else DEGRADED + v for k, v in checks.items()}


async def consuming(runtime: Runtime) -> dict[str, str]:
    """Check the broker and (for workers) that every queue has a consumer; not the database."""
    checks = {"broker": await _broker(runtime)}
    if runtime.consumer_queues and checks["broker"] == "ok":
        checks["consumers"] = await _consumers_attached(runtime)
    return checks


async def _database(runtime: Runtime) -> str:
    try:
        await asyncio.wait_for(runtime.pool.fetchval("SELECT 1"), 2.0)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


async def _broker(runtime: Runtime) -> str:
    try:
        return "ok" if await runtime.broker.ping(timeout=2.0) else "unavailable"
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"


async def _consumers_attached(runtime: Runtime) -> str:
    # A robust connection has been seen to come back with zero consumers (aio-pika#231).
    try:
        for queue in runtime.consumer_queues:
            declared = await runtime.broker.declare_queue(_passive(queue))
            fresh = await declared.declare()  # the declarer caches; re-declare for a live count
            if not fresh.consumer_count:
                return f"no consumer on {queue}"
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    return "ok"


def _passive(queue: str) -> Any:
    from faststream.rabbit import RabbitQueue

    return RabbitQueue(queue, declare=False)
