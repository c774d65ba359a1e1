"""Wiring of the assignment service."""

from __future__ import annotations

from pathlib import Path

from assignment import handlers
from assignment.api import EvaluationController, StaffKpiController
from assignment.consumers import BINDINGS, consumers
from kpi_kit.service import Runtime, ServiceDefinition


async def on_worker_start(runtime: Runtime) -> None:
    """A worker that finds the catalogue replica empty asks the catalog for a snapshot."""
    await handlers.request_catalog_if_empty(runtime.pool, runtime.outbox)


async def request_snapshot(runtime: Runtime) -> str:
    """Ask the catalog to republish every module and template (to rebuild the replica)."""
    await handlers.request_catalog(runtime.pool, runtime.outbox)
    return "queued a catalog snapshot request"


def definition() -> ServiceDefinition:
    """The assignment service: staff KPIs over HTTP, driven by lifecycle and catalog events."""
    return ServiceDefinition(
        name="assignment",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[StaffKpiController, EvaluationController],
        consumers=consumers,
        bindings=BINDINGS,
        on_worker_start=on_worker_start,
        commands={"request-snapshot": request_snapshot},
    )
