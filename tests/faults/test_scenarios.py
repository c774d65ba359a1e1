"""Thousands of lifecycle events in flight under broker, worker and database faults, repeated and
shuffled deliveries: afterwards every person holds exactly what in-order, once-only delivery
gives, nothing is lost or duplicated, and every journal tells each KPI's story exactly once.

KPI_FAULTS_PEOPLE sets how many people get a ContractCreated (default 5,000); a share of them
also change role, renew or exit (see workload.people).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from system import FaultSystem, ready_everywhere
from workload import compare, expected_for, people

from kpi_contracts.events import LifecycleEvent

pytestmark = pytest.mark.faults

PEOPLE = int(os.environ.get("KPI_FAULTS_PEOPLE", "5000"))
SEED = int(os.environ.get("KPI_FAULTS_SEED", "20260113"))
INJECT_AT = 0.25  # the share of events applied when a fault strikes

Fault = Callable[[FaultSystem], Awaitable[dict[str, Any]]]


async def run_scenario(
    system: FaultSystem,
    figures: dict[str, dict[str, Any]],
    scenario: str,
    *,
    order: str = "in order",
    faults: tuple[tuple[float, Fault], ...] = (),
    count: int = PEOPLE,
    replica_first: bool = True,
) -> dict[str, Any]:
    """Publish the workload, strike each fault when its share of events is applied, wait until
    the system settles, and compare its state with what in-order delivery gives."""
    started = time.monotonic()
    rng = random.Random(SEED)
    catalogue = await system.prepare_catalogue(rng, wait_for_replica=replica_first)
    crowd = people(count, catalogue, rng)
    in_order: list[LifecycleEvent] = sorted(
        (e for p in crowd for e in p.events), key=lambda e: e.occurred_at
    )
    deliveries = deliveries_for(in_order, order, rng)

    # Every event is confirmed by the broker (in flight) before the first fault strikes: the
    # faults are the system's, not the publisher's.
    await system.publish(deliveries)
    notes: dict[str, Any] = {}
    for share, fault in faults:
        await system.until_applied(int(len(in_order) * share))
        notes.update(await fault(system))
    await system.until_settled(len(in_order))

    expectations = {p.staff_id: expected_for(p, catalogue) for p in crowd}
    verdict = compare(
        expectations,
        await system.staff_kpis(),
        await system.status_entries(),
        await system.journal_terms(),
    )
    dead = await system.dead_letters()
    figures[scenario] = {
        "people": len(crowd),
        "events": len(in_order),
        "deliveries": len(deliveries),
        "faults": len(faults),
        "duplicate_deliveries": len(deliveries) - len(in_order),
        "order": order,
        "kpis": verdict.kpis_expected,
        "journal_entries": verdict.journal_entries_expected,
        "lost": verdict.lost + verdict.journal_lost,
        "duplicated": verdict.duplicated + verdict.journal_duplicated,
        "wrong": verdict.wrong,
        "journal_stale": verdict.journal_stale,
        "journal_corrections": verdict.journal_corrections,
        "dead_lettered": sum(dead.values()),
        "seconds": round(time.monotonic() - started, 1),
        **notes,
    }
    assert verdict.clean, f"{scenario}: {figures[scenario]}\n" + "\n".join(verdict.examples)
    assert not dead, f"{scenario}: dead letters {dead}"
    return figures[scenario]


def deliveries_for(
    in_order: list[LifecycleEvent], order: str, rng: random.Random
) -> list[LifecycleEvent]:
    """The events as the broker will deliver them."""
    if order == "shuffled":
        shuffled = list(in_order)
        rng.shuffle(shuffled)
        return shuffled
    if order == "twice":
        # Every event twice: half the chunks with the copy right behind the original (the two
        # are consumed concurrently), the other half with the copy at the very end.
        doubled: list[LifecycleEvent] = []
        late: list[LifecycleEvent] = []
        chunk = 200
        for number, start in enumerate(range(0, len(in_order), chunk)):
            part = in_order[start : start + chunk]
            doubled += part * 2 if number % 2 == 0 else part
            late += [] if number % 2 == 0 else part
        return doubled + late
    return list(in_order)


# ---------------------------------------------------------------- the faults


async def restart_the_broker(system: FaultSystem) -> dict[str, Any]:
    """Halt the RabbitMQ node, keep it down a few seconds, start it; consumers must come back."""
    struck = time.monotonic()
    await asyncio.to_thread(system.mq.restart, 3.0)

    async def consumers_back() -> bool:
        return not await system.queues_without_consumers()

    await system.until(consumers_back, 120, "every queue to have its consumers again", 1.0)
    back = time.monotonic() - struck
    await system.until(lambda: ready_everywhere(system), 60, "every process ready")
    return {"consumers_back_after_s": round(back, 1)}


async def kill_the_assignment_worker(system: FaultSystem) -> dict[str, Any]:
    """SIGKILL the assignment worker mid-stream (no shutdown code runs) and start it again."""
    worker = system.process("assignment-worker")
    worker.kill(signal.SIGKILL)
    await asyncio.sleep(1.0)
    worker.start()
    await worker.wait_ready(90)
    return {"worker_kills": worker.starts - 1}


async def restart_postgres(system: FaultSystem) -> dict[str, Any]:
    """Stop PostgreSQL mid-stream; while it is down every service says so (ready 503, routes 503
    problem+json); start it again and every service recovers by itself."""
    await asyncio.to_thread(system.pg.stop, "fast")
    try:
        down = await answers_while_database_is_down(system)
    finally:
        await asyncio.to_thread(system.pg.start)
    struck = time.monotonic()
    await system.until(lambda: ready_everywhere(system), 90, "every process ready again")
    routes = await route_statuses(system)
    assert all(status < 500 for status in routes.values()), routes
    return {"while_down": down, "recovered_after_s": round(time.monotonic() - struck, 1)}


async def route_statuses(system: FaultSystem) -> dict[str, Any]:
    staff_id = uuid.uuid4()
    checks = {
        "catalog GET kpi-modules": ("catalog-all", "/api/v1/hr/kpi-modules"),
        "assignment GET staff kpis": ("assignment-api", f"/api/v1/hr/staff/{staff_id}/kpis"),
        "journal GET staff journal": ("journal-all", f"/api/v1/hr/staff/{staff_id}/journal"),
    }
    found: dict[str, Any] = {}
    for label, (process, path) in checks.items():
        response = await system.http(process, "GET", path, role="manager")
        found[label] = response.status_code
        if response.status_code == 503:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["status"] == 503
    return found


async def answers_while_database_is_down(system: FaultSystem) -> dict[str, Any]:
    await asyncio.sleep(1.0)
    ready = {
        name: await asyncio.to_thread(process.status, "/health/ready")
        for name, process in system.processes.items()
    }
    live = {
        name: await asyncio.to_thread(process.status, "/health/live")
        for name, process in system.processes.items()
    }
    routes = await route_statuses(system)
    assert set(ready.values()) == {503}, ready
    assert set(live.values()) == {200}, live
    assert set(routes.values()) == {503}, routes
    await asyncio.sleep(3.0)
    return {"ready": 503, "routes": 503}


# ---------------------------------------------------------------- the scenarios


async def test_a_broker_restart_mid_stream_loses_and_duplicates_nothing(
    fault_system: FaultSystem, figures: dict[str, dict[str, Any]]
) -> None:
    await run_scenario(
        fault_system, figures, "broker restart", faults=((INJECT_AT, restart_the_broker),)
    )


async def test_a_killed_assignment_worker_loses_and_duplicates_nothing(
    fault_system: FaultSystem, figures: dict[str, dict[str, Any]]
) -> None:
    await run_scenario(
        fault_system,
        figures,
        "assignment worker SIGKILL",
        faults=((INJECT_AT, kill_the_assignment_worker), (0.6, kill_the_assignment_worker)),
    )


async def test_a_database_restart_mid_stream_loses_and_duplicates_nothing(
    fault_system: FaultSystem, figures: dict[str, dict[str, Any]]
) -> None:
    await run_scenario(
        fault_system, figures, "PostgreSQL restart", faults=((INJECT_AT, restart_postgres),)
    )


async def test_every_event_delivered_twice_is_applied_once(
    fault_system: FaultSystem, figures: dict[str, dict[str, Any]]
) -> None:
    await run_scenario(fault_system, figures, "every event twice", order="twice")


async def test_shuffled_events_converge_to_the_in_order_state(
    fault_system: FaultSystem, figures: dict[str, dict[str, Any]]
) -> None:
    await run_scenario(fault_system, figures, "events shuffled", order="shuffled")


@pytest.mark.catalog_last
async def test_an_assignment_worker_started_before_the_catalog_still_applies_everything(
    fault_system: FaultSystem, figures: dict[str, dict[str, Any]]
) -> None:
    # Its snapshot request on start found no catalog queue and was parked; the lifecycle gate
    # asks again while the replica stays empty, so the events wait and are then applied.
    await run_scenario(
        fault_system,
        figures,
        "catalog started last",
        count=max(PEOPLE // 10, 50),
        replica_first=False,
    )
