"""Wiring of the catalog service."""

from __future__ import annotations

from pathlib import Path

from catalog import handlers
from catalog.api import KpiModuleController, TemplateKpiController
from kpi_kit.service import Runtime, ServiceDefinition


async def snapshot(runtime: Runtime) -> str:
    """Republish the whole catalogue (modules, then templates) through the outbox."""
    modules, templates = await handlers.publish_snapshot(runtime.pool, runtime.outbox)
    return f"queued {modules} module(s) and {templates} template(s) for publishing"


def definition() -> ServiceDefinition:
    """The catalog service: library and templates over HTTP, events out through the outbox."""
    return ServiceDefinition(
        name="catalog",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[KpiModuleController, TemplateKpiController],
        serves_dev_token=True,
        commands={"snapshot": snapshot},
    )
