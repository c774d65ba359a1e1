"""Wiring of the catalog service."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from catalog import handlers
from catalog.api import KpiModuleController, TemplateKpiController
from kpi_contracts import codec, events, names
from kpi_kit.consuming import Consumer, Delivery
from kpi_kit.service import Runtime, ServiceDefinition


async def snapshot(runtime: Runtime) -> str:
    """Republish the whole catalogue (modules, then templates) through the outbox."""
    modules, templates = await handlers.publish_snapshot(runtime.pool, runtime.outbox)
    return f"queued {modules} module(s) and {templates} template(s) for publishing"


def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
    """The catalog answers snapshot requests from replicas that start empty."""

    async def on_request(request: events.CatalogSnapshotRequested, _: Delivery) -> bool:
        return await handlers.answer_snapshot_request(runtime.pool, runtime.outbox, request)

    return [
        Consumer(
            service="catalog",
            queue=names.CATALOG_REQUESTS_QUEUE,
            decode=lambda body: codec.decode(body, events.CatalogSnapshotRequested),
            handle=on_request,
            broker=runtime.broker,
        )
    ]


def definition() -> ServiceDefinition:
    """The catalog service: library and templates over HTTP, events out through the outbox."""
    return ServiceDefinition(
        name="catalog",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[KpiModuleController, TemplateKpiController],
        consumers=consumers,
        bindings={
            names.CATALOG_REQUESTS_QUEUE: [(names.KPI_EXCHANGE, names.CATALOG_SNAPSHOT_REQUESTED)]
        },
        serves_dev_token=True,
        awaits_word=True,
        commands={"snapshot": snapshot},
    )
