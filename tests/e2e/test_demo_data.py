"""`make run`'s demo data (contract_sim.demo) on a whole system of its own, through the gateway."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpi_kit.testing.harness import eventually
from kpi_kit.testing.servers import Servers, own_database_and_vhost
from tests.browser.stack import BIN, REPO, Stack

sys.path.insert(0, str(Path(__file__).parents[2] / "tools"))

from contract_sim.directory import (
    People,
    load_templates,
)  # tools/ is not installed: on the path above

pytestmark = pytest.mark.integration


@pytest.fixture
async def system(servers: Servers) -> AsyncIterator[Stack]:
    async with own_database_and_vhost(servers, "kpi_demo") as (database_url, amqp_url):
        stack = Stack(database_url, amqp_url)
        try:
            await asyncio.to_thread(stack.start)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)


def demo(stack: Stack) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "-m", "contract_sim.demo", "--api", stack.base_url, "--wait", "30"],
        env=stack.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
async def manager(system: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.base_url) as client:
        token = (await client.post("/dev/token", json={"role": "manager"})).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_demo_people_get_kpis_stories_and_approvals_to_give_once(
    system: Stack, manager: httpx.AsyncClient
):
    people = People().all()
    *told, just_started = people
    promoted = told[1]
    # Someone whose story began before the demo: hired and gone again, all KPIs inactive.
    gone = told.pop(4)
    await _hired_and_gone(manager, gone.staff_id)

    await asyncio.to_thread(demo, system)
    kpis: dict[str, list[dict[str, Any]]] = {}
    journals: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        staff = f"/api/v1/hr/staff/{person.staff_id}"
        kpis[person.name] = await get(manager, f"{staff}/kpis", status="all")
        journals[person.name] = (await get(manager, f"{staff}/journal", limit=200))["items"]

    def statuses(name: str, **where: Any) -> list[str | None]:
        held = [k for k in kpis[name] if k["status"] == "active"]
        return [k["growth_status"] for k in held if k["module"].items() >= where.items()]

    assert statuses(just_started.name) and set(statuses(just_started.name)) == {None}
    for person in told:
        # every KPI scored but the promoted person's new management ones (their team leader
        # ones, now inactive, are checked below)
        own_role: list[dict[str, Any]] = (
            [] if person is promoted else [{"role_group": person.role_group}]
        )
        for where in [*own_role, {"is_universal": True}]:
            scored = statuses(person.name, **where)
            assert scored and None not in scored, (person.name, where)
    every_status = {s for person in told for s in statuses(person.name)} - {None}
    assert every_status == {"exceeding", "meeting", "growing"}

    # the promotion: team leader KPIs inactive with their story kept, management ones fresh
    by_group = {
        group: [k for k in kpis[promoted.name] if k["module"]["role_group"] == group]
        for group in ("team_leader", "management")
    }
    assert by_group["team_leader"] and by_group["management"]
    assert {k["status"] for k in by_group["team_leader"]} == {"inactive"}
    assert all(k["current_score"] is not None for k in by_group["team_leader"])
    assert {k["growth_status"] for k in by_group["management"]} == {None}

    pending = {
        name: [e["entry_type"] for e in items if e.get("approval_status") == "pending"]
        for name, items in journals.items()
    }
    assert pending[told[0].name] == ["self_reflection"]
    assert pending[told[1].name] == ["score_adjustment"]

    # the person who had left is as they were: no contract, no story
    assert {k["status"] for k in kpis[gone.name]} == {"inactive"}
    assert {e["entry_type"] for e in journals[gone.name]} == {"status_change"}

    assert (await asyncio.to_thread(demo, system)).strip() == ""  # a second run: nothing
    for person in people:
        again = await get(manager, f"/api/v1/hr/staff/{person.staff_id}/journal", limit=200)
        assert len(again["items"]) == len(journals[person.name]), person.name


async def _hired_and_gone(manager: httpx.AsyncClient, staff_id: uuid.UUID) -> None:
    template = next(t for t in load_templates() if t.role_group == "volunteer")
    contract = {"staff_id": str(staff_id), "template_id": str(template.id)}
    for path, body in (("contracts", contract), ("exits", {"staff_id": str(staff_id)})):
        answer = await manager.post(f"/contract-sim/{path}", json=body)
        assert answer.status_code == 201, answer.text

    async def all_inactive() -> bool:
        held = await get(manager, f"/api/v1/hr/staff/{staff_id}/kpis", status="all")
        return bool(held) and {k["status"] for k in held} == {"inactive"}

    await eventually(all_inactive)
