"""Wiring of the assignment service."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from assignment import handlers
from assignment.api import EvaluationController, StaffKpiController
from assignment.consumers import BINDINGS, consumers
from kpi_kit.service import Runtime, ServiceDefinition

log = logging.getLogger("kpi.assignment")

# How soon a worker whose catalogue replica is empty asks the catalog again for a snapshot, and
# the longest it waits between two asks (a catalog down for hours should not flood the parking
# queue of unrouted events with requests).
ASK_FOR_CATALOGUE_AFTER = 5.0
ASK_FOR_CATALOGUE_AT_MOST_EVERY = 300.0


async def fill_empty_replica(runtime: Runtime, every: float = ASK_FOR_CATALOGUE_AFTER) -> None:
    """Ask the catalog for a snapshot while the catalogue replica is empty.

    On a cold start the catalog's request queue may not exist yet, and a request sent before it
    does is parked unrouted; asking again until the replica fills means the first contract finds
    its catalogue, and managers can assign modules, without waiting for a lifecycle event to ask.
    """
    while True:
        try:
            if not await handlers.request_catalog_if_empty(runtime.pool, runtime.outbox):
                return
        except Exception as exc:  # the database still starting: ask on the next turn
            log.warning("could not check the catalogue replica: %r", exc)
        await asyncio.sleep(every)
        every = min(every * 2, ASK_FOR_CATALOGUE_AT_MOST_EVERY)


async def hold_kpis_on_module_terms(runtime: Runtime) -> None:
    """On start, bring up to date the KPIs held on older terms than their module's (a worker
    stopped half way through a module's holders; see handlers.bring_every_module_up_to_date)."""
    try:
        await handlers.bring_every_module_up_to_date(runtime.pool, runtime.outbox)
    except Exception as exc:  # the next change of each such module tries again
        log.warning("could not bring staff KPIs up to their modules' terms: %r", exc)


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
        worker_tasks=[fill_empty_replica, hold_kpis_on_module_terms],
        commands={"request-snapshot": request_snapshot},
        awaits_word=True,
    )
